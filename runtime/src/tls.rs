//! A local certificate authority for demos and tests of secure net locations (`https:`): a
//! CA certificate that clients trust (the HTTP transport's `client.trust`), and server
//! certificates it issues for loopback names. Never for production: the CA key sits in a file
//! beside its certificate.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA made on the spot, writing its files in a directory.
pub struct LocalCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    cert_path: PathBuf,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A server certificate and its key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PKCS#8 PEM, readable by the owner only).
    pub key: PathBuf,
}

/// Why the CA could not make or write a certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn write(path: PathBuf, contents: &str, private: bool) -> Result<PathBuf, TlsError> {
    let result = (|| {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        options.open(&path)?.write_all(contents.as_bytes())
    })();
    result.map_err(|source| TlsError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

impl LocalCa {
    /// Makes a CA (ECDSA P-256) named `name` and writes `ca.pem` (its certificate) and
    /// `ca.key` into `dir`, which must exist.
    pub fn create(dir: &Path, name: &str) -> Result<LocalCa, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        let cert_path = write(dir.join("ca.pem"), &cert.pem(), false)?;
        write(dir.join("ca.key"), &key.serialize_pem(), true)?;
        Ok(LocalCa {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, key),
            cert_path,
        })
    }

    /// The CA certificate's file: what clients trust.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses) and writes
    /// `<file>.pem` and `<file>.key` into the CA's directory.
    pub fn issue(&self, file: &str, names: &[&str]) -> Result<ServerCert, TlsError> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ServerCert {
            cert: write(self.dir.join(format!("{file}.pem")), &cert.pem(), false)?,
            key: write(
                self.dir.join(format!("{file}.key")),
                &key.serialize_pem(),
                true,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_and_a_server_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = LocalCa::create(dir.path(), "iotp demo CA").expect("ca");
        let server = ca
            .issue("server", &["localhost", "127.0.0.1"])
            .expect("issue");
        let ca_pem = std::fs::read_to_string(ca.cert_path()).expect("ca.pem");
        assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(&server.key).expect("key");
        assert!(key.contains("PRIVATE KEY"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&server.key)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
        }
    }
}
