//! The `serve` configuration document (JSON), its defaults, and its checks.
//!
//! Every failure is a [`TransportError::BadArgument`] whose message starts with the setting it
//! is about (`listeners[1].tls.cert: cannot read /x: …`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iotp_plugin_sdk::TransportError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// The default of [`Config::max_body_bytes`]: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// The default of [`Config::read_timeout_ms`]: 10 s.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 10_000;
/// The default of [`ClientSettings::timeout_ms`]: 30 s.
pub const DEFAULT_CLIENT_TIMEOUT_MS: u64 = 30_000;
/// The default of [`ClientSettings::connect_timeout_ms`]: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;

/// The document `serve` takes.
///
/// ```json
/// {
///   "listeners": [ {"addr": "127.0.0.1:8080"},
///                  {"addr": "127.0.0.1:8443", "tls": {"cert": "/path/server.pem", "key": "/path/server.key"}} ],
///   "startup_paths": ["/pay"],
///   "max_body_bytes": 4194304,
///   "read_timeout_ms": 10000,
///   "client": {"trust": ["/path/ca.pem"], "timeout_ms": 30000, "connect_timeout_ms": 5000},
///   "bound_file": "/path/bound.txt",
///   "base_dir": "/etc/iotp"
/// }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The addresses to listen on, each plain HTTP or HTTPS. Default: none (`serve` then only
    /// applies [`Config::client`]: how a consumer-only node sets its trust anchors).
    #[serde(default)]
    pub listeners: Vec<ListenerConfig>,
    /// Paths whose `GET` (or non-IOTP `POST`) is an IOTP Startup Request (RFC 2935 §4.1): the
    /// path itself and every path under it (`/pay` matches `/pay`, `/pay/x`, `/pay?order=1`,
    /// not `/payx`). Each starts with `/`. Default: none.
    #[serde(default)]
    pub startup_paths: Vec<String>,
    /// The largest request body accepted, in bytes (larger: `413`). Default 4194304 (4 MiB).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// How long a client may take to send a request's headers, then its body, in milliseconds
    /// (also how long an idle keep-alive connection is kept, and the TLS handshake's limit).
    /// Default 10000.
    #[serde(default = "default_read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// The client side's settings (`send`). Absent: the current settings stay (at first: no
    /// trust anchors, the default timeouts).
    #[serde(default)]
    pub client: Option<ClientSettings>,
    /// A file to write, once every listener of this call is bound, with each listener's
    /// bound `host:port` (in the order of `listeners`), one per line: how a caller that asked
    /// for port 0 learns the port. Written to a temporary file then renamed. Default: none.
    #[serde(default)]
    pub bound_file: Option<PathBuf>,
    /// The directory relative file names of this document (certificates, keys, trust anchors,
    /// `bound_file`) are relative to. Default: the process's working directory. (The IOTP
    /// runtime sets it to the directory of the node's configuration file.)
    #[serde(default)]
    pub base_dir: Option<PathBuf>,
}

/// One listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `host:port` to listen on (`127.0.0.1:0`: a port the system picks). Required.
    pub addr: String,
    /// TLS (HTTPS) for this listener. Default: none (plain HTTP).
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

/// A listener's certificate and key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file with the certificate chain, the server's certificate first. Required.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1). Required.
    pub key: PathBuf,
}

/// The client side's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// PEM files of the CA certificates `https:` servers are verified against. Default: none
    /// (then `https:` net locations fail).
    #[serde(default)]
    pub trust: Vec<PathBuf>,
    /// The longest a whole exchange may take (connect, send, the full answer), in
    /// milliseconds. Default 30000.
    #[serde(default = "default_client_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest a TCP connect may take, in milliseconds. Default 5000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}
fn default_read_timeout_ms() -> u64 {
    DEFAULT_READ_TIMEOUT_MS
}
fn default_client_timeout_ms() -> u64 {
    DEFAULT_CLIENT_TIMEOUT_MS
}
fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}

fn bad(setting: &str, message: impl std::fmt::Display) -> TransportError {
    TransportError::BadArgument(format!("{setting}: {message}"))
}

impl Config {
    /// Reads and checks the document (not the files it names: see [`load_server_tls`] and
    /// [`load_trust`]).
    pub fn parse(document: &[u8]) -> Result<Config, TransportError> {
        let config: Config = serde_json::from_slice(document).map_err(|e| bad("config", e))?;
        for (i, path) in config.startup_paths.iter().enumerate() {
            if !path.starts_with('/') {
                return Err(bad(
                    &format!("startup_paths[{i}]"),
                    format!("{path:?} does not start with /"),
                ));
            }
        }
        if config.max_body_bytes == 0 {
            return Err(bad("max_body_bytes", "must be more than 0"));
        }
        if config.read_timeout_ms == 0 {
            return Err(bad("read_timeout_ms", "must be more than 0"));
        }
        if let Some(client) = &config.client {
            if client.timeout_ms == 0 {
                return Err(bad("client.timeout_ms", "must be more than 0"));
            }
            if client.connect_timeout_ms == 0 {
                return Err(bad("client.connect_timeout_ms", "must be more than 0"));
            }
        }
        for (i, listener) in config.listeners.iter().enumerate() {
            if listener.addr.is_empty() {
                return Err(bad(&format!("listeners[{i}].addr"), "is empty"));
            }
        }
        let mut config = config;
        config.resolve_paths();
        Ok(config)
    }

    /// Makes the relative file names absolute against [`Config::base_dir`].
    fn resolve_paths(&mut self) {
        let Some(base) = self.base_dir.clone() else {
            return;
        };
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for listener in &mut self.listeners {
            if let Some(tls) = &mut listener.tls {
                resolve(&mut tls.cert);
                resolve(&mut tls.key);
            }
        }
        if let Some(client) = &mut self.client {
            client.trust.iter_mut().for_each(resolve);
        }
        if let Some(bound) = &mut self.bound_file {
            resolve(bound);
        }
    }

    /// [`Config::read_timeout_ms`].
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }
}

fn read_file(setting: &str, path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|e| bad(setting, format!("cannot read {}: {e}", path.display())))
}

/// The TLS server configuration of listener `index`: its certificate chain and key, ALPN
/// `http/1.1`, ring as the crypto provider.
pub fn load_server_tls(
    index: usize,
    files: &TlsFiles,
) -> Result<Arc<rustls::ServerConfig>, TransportError> {
    let cert_setting = format!("listeners[{index}].tls.cert");
    let key_setting = format!("listeners[{index}].tls.key");
    let pem = read_file(&cert_setting, &files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            bad(
                &cert_setting,
                format!("bad PEM in {}: {e}", files.cert.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(bad(
            &cert_setting,
            format!("no certificate in {}", files.cert.display()),
        ));
    }
    let pem = read_file(&key_setting, &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        bad(
            &key_setting,
            format!("no usable private key in {}: {e}", files.key.display()),
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&format!("listeners[{index}].tls"), e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(&format!("listeners[{index}].tls"), e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The CA certificates of `client.trust`, as a root store.
pub fn load_trust(trust: &[PathBuf]) -> Result<rustls::RootCertStore, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    for (i, path) in trust.iter().enumerate() {
        let setting = format!("client.trust[{i}]");
        let pem = read_file(&setting, path)?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&setting, format!("bad PEM in {}: {e}", path.display())))?;
        if certificates.is_empty() {
            return Err(bad(
                &setting,
                format!("no certificate in {}", path.display()),
            ));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                bad(
                    &setting,
                    format!("unusable CA certificate in {}: {e}", path.display()),
                )
            })?;
        }
    }
    Ok(roots)
}

/// ring: the one crypto provider of this project.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn defaults() {
        let config = Config::parse(b"{}").unwrap();
        assert!(config.listeners.is_empty());
        assert!(config.startup_paths.is_empty());
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(config.read_timeout_ms, DEFAULT_READ_TIMEOUT_MS);
        assert!(config.client.is_none());
        assert!(config.bound_file.is_none());
        assert!(config.base_dir.is_none());
        let config = Config::parse(br#"{"client": {}}"#).unwrap();
        let client = config.client.unwrap();
        assert!(client.trust.is_empty());
        assert_eq!(client.timeout_ms, DEFAULT_CLIENT_TIMEOUT_MS);
        assert_eq!(client.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
    }

    #[test]
    fn relative_file_names_follow_base_dir() {
        let config = Config::parse(
            br#"{"base_dir": "/etc/iotp",
                 "listeners": [{"addr": "127.0.0.1:0", "tls": {"cert": "s.pem", "key": "/k/s.key"}}],
                 "client": {"trust": ["ca.pem"]}, "bound_file": "bound.txt"}"#,
        )
        .unwrap();
        let tls = config.listeners[0].tls.as_ref().unwrap();
        assert_eq!(tls.cert, Path::new("/etc/iotp/s.pem"));
        assert_eq!(tls.key, Path::new("/k/s.key"));
        assert_eq!(
            config.client.unwrap().trust,
            [Path::new("/etc/iotp/ca.pem")]
        );
        assert_eq!(config.bound_file.unwrap(), Path::new("/etc/iotp/bound.txt"));
    }

    #[test]
    fn failures_name_the_setting() {
        for (document, start) in [
            (
                &br#"{"listners": []}"#[..],
                "config: unknown field `listners`",
            ),
            (
                br#"{"listeners": [{"addr": "a", "tsl": 1}]}"#,
                "config: unknown field `tsl`",
            ),
            (br#"{"startup_paths": ["pay"]}"#, "startup_paths[0]: "),
            (br#"{"read_timeout_ms": 0}"#, "read_timeout_ms: "),
            (br#"{"client": {"timeout_ms": 0}}"#, "client.timeout_ms: "),
            (b"not json", "config: "),
        ] {
            let error = Config::parse(document).unwrap_err();
            let TransportError::BadArgument(message) = error else {
                panic!("{error:?}")
            };
            assert!(message.starts_with(start), "{message}");
        }
    }

    #[test]
    fn unreadable_files_are_named() {
        let files = TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let error = load_server_tls(1, &files).unwrap_err();
        assert!(
            matches!(&error, TransportError::BadArgument(m)
                if m.starts_with("listeners[1].tls.cert: cannot read /nonexistent/cert.pem: ")),
            "{error:?}"
        );
        let error = load_trust(&["/nonexistent/ca.pem".into()]).unwrap_err();
        assert!(
            matches!(&error, TransportError::BadArgument(m)
                if m.starts_with("client.trust[0]: cannot read /nonexistent/ca.pem: ")),
            "{error:?}"
        );
    }
}
