//! The HTTP transport of IOTP (RFC 2935) as an IOTP transport plugin,
//! `libiotp_transport_http.so`: hyper on tokio, TLS with rustls (ring).
//!
//! One tokio multi-thread runtime (1 worker thread) inside the plugin, created on the first
//! `serve` with listeners, accepts connections; each connection is then served on a thread of
//! its own, which calls the handler itself (up to [`server::MAX_CONNECTION_THREADS`]; more are
//! served on the shared runtime, handlers on its blocking threads). `send` runs on its caller's
//! thread, which drives a current-thread tokio runtime of its own ([`client::Drivers`]): no
//! other thread takes part in an exchange. The host calls `send` and `serve` from ordinary
//! threads, which block until the call is done.
//!
//! # Server side: `serve(config)`
//!
//! `config` is a JSON document ([`config::Config`]; unknown fields are refused):
//!
//! ```json
//! {
//!   "listeners": [ {"addr": "127.0.0.1:8080"},
//!                  {"addr": "127.0.0.1:8443", "tls": {"cert": "/path/server.pem", "key": "/path/server.key"}} ],
//!   "startup_paths": ["/pay"],
//!   "max_body_bytes": 4194304,
//!   "read_timeout_ms": 10000,
//!   "client": {"trust": ["/path/ca.pem"], "timeout_ms": 30000, "connect_timeout_ms": 5000},
//!   "bound_file": "/path/bound.txt"
//! }
//! ```
//!
//! `serve` binds every listener and returns once all are listening; they serve for the rest
//! of the process. A bad document, an address in use, an unreadable certificate or key fail
//! the call with `IOTP_PLUGIN_ERR_BAD_ARGUMENT`, the message (logged at Warn) naming the
//! setting: `listeners[1].tls.cert: cannot read /x: No such file or directory (os error 2)`.
//! With `"listeners": []` it only applies `client` (a consumer-only node's trust anchors).
//! Each call adds listeners; a call with `client` replaces the client settings. Each
//! listener is logged at Info, `listening on http://127.0.0.1:PORT` (or `https://`), and
//! `bound_file` receives the bound `host:port`s.
//!
//! Each request (HTTP/1.1, keep-alive):
//! - `POST` with `Content-Type: application/iotp` or `application/x-iotp` (any case,
//!   parameters allowed), any path: the body is an IOTP message for the host's handler; the
//!   answer is `200`, `Content-Type: application/iotp`, the handler's reply (maybe empty).
//! - IOTP Startup Request (§4.1): a `GET`, or a `POST` of another content type, to a path of
//!   `startup_paths` or under it: the handler gets the startup document
//!   `<IotpStartupRequest xmlns="urn:iotp-rs:http-startup" Method="GET" Target="/pay?order=17"/>`
//!   (a `POST`'s UTF-8 body as its escaped text content; another body: `415`), and the answer
//!   is as for a message.
//! - Every answer carries `Cache-Control: no-store` and `Pragma: no-cache`.
//! - The handler's failures: `IOTP_PLUGIN_ERR_REFUSED` → `404`; `BAD_DOCUMENT` or
//!   `BAD_ARGUMENT` → `400`; anything else → `503` with `Retry-After: 1`.
//! - A `POST` of another content type elsewhere → `415`; other methods → `405` with `Allow`;
//!   a body over `max_body_bytes` → `413`; headers or body not in within `read_timeout_ms` →
//!   the connection is closed (headers) or `408` (body). Error bodies are one `text/plain`
//!   line.
//!
//! # Client side: `send(net_location, message)`
//!
//! A non-empty message is `POST`ed (`Content-Type: application/iotp`) to the net location
//! (an `http:` or `https:` URL); the answer's body is the reply. An empty message is the
//! startup request: a `GET` of the net location (the shop's pay URL), whose answer is the
//! first IOTP message. `https:` servers are verified against `client.trust` (hostnames too).
//! Connections are pooled and kept alive. Failures: unreachable, broken, timed out, 5xx →
//! `IOTP_PLUGIN_ERR_IO`; 4xx → `IOTP_PLUGIN_ERR_REFUSED`; a 2xx body that is not IOTP or
//! larger than 4 MiB → `IOTP_PLUGIN_ERR_IO`; a URL that is not `http:`/`https:`, or `https:`
//! without trust anchors → `IOTP_PLUGIN_ERR_BAD_ARGUMENT`.
//!
//! See `README.md` beside this crate for the whole description.

pub mod client;
pub mod config;
pub mod rules;
pub mod server;

use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use iotp::payapi::{BridgeHost, LogLevel};
use iotp_plugin_sdk::{Host, ServeHandler, Transport, TransportError};
use tokio::runtime::Runtime;

use crate::client::{Drivers, HttpClient};
use crate::config::{ClientSettings, Config};
use crate::server::Site;

/// The number of worker threads of the plugin's runtime.
pub const WORKER_THREADS: usize = 1;

/// The HTTP transport: sends and serves.
#[derive(Debug, Default)]
pub struct Http {
    /// The runtime, created on first use (or why it could not be).
    runtime: OnceLock<Result<Runtime, String>>,
    /// The client settings, as the last `client` settings say; loaded on first use.
    client: RwLock<Option<Arc<HttpClient>>>,
    /// The client's drivers: `send` runs on its caller's thread.
    drivers: Drivers,
}

impl Http {
    /// A transport with no runtime yet.
    pub fn new() -> Http {
        Http::default()
    }

    fn runtime(&self) -> Result<&Runtime, TransportError> {
        self.runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(WORKER_THREADS)
                    .thread_name("iotp-http")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the async runtime: {e}"))
            })
            .as_ref()
            .map_err(|e| TransportError::Internal(e.clone()))
    }

    /// The current client settings (the default ones the first time).
    fn client(&self) -> Result<Arc<HttpClient>, TransportError> {
        if let Some(client) = read(&self.client).as_ref() {
            return Ok(client.clone());
        }
        let mut slot = self
            .client
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = Arc::new(HttpClient::new(&ClientSettings {
            timeout_ms: config::DEFAULT_CLIENT_TIMEOUT_MS,
            connect_timeout_ms: config::DEFAULT_CONNECT_TIMEOUT_MS,
            ..ClientSettings::default()
        })?);
        *slot = Some(client.clone());
        Ok(client)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One listener bound but not serving yet.
struct Bound {
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    url: String,
    host_port: String,
}

impl Transport for Http {
    const SERVES: bool = true;

    fn send(
        &self,
        host: &Host<'_>,
        net_location: &str,
        message: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let client = self.client()?;
        let uri = client.target(net_location)?;
        let exchange = self.drivers.exchange(&client, &uri, message)?;
        host.log(
            LogLevel::Debug,
            &format!(
                "{} {uri}: {} ({} bytes sent, {} received)",
                exchange.method,
                exchange.status,
                message.len(),
                exchange.body.len()
            ),
        );
        client::outcome(&uri, exchange)
    }

    fn serve(
        &self,
        host: &Host<'_>,
        config: &[u8],
        handler: ServeHandler,
    ) -> Result<(), TransportError> {
        let config = Config::parse(config)?;
        // No listeners (a consumer-only node's client settings): no runtime either.
        let runtime = if config.listeners.is_empty() {
            None
        } else {
            Some(self.runtime()?)
        };
        let _context = runtime.map(Runtime::enter);
        // Everything that can fail before anything is started: the client, the certificates,
        // the addresses, the bound file.
        let client = config
            .client
            .as_ref()
            .map(HttpClient::new)
            .transpose()?
            .map(Arc::new);
        let mut tls = Vec::with_capacity(config.listeners.len());
        for (i, listener) in config.listeners.iter().enumerate() {
            tls.push(
                listener
                    .tls
                    .as_ref()
                    .map(|files| config::load_server_tls(i, files))
                    .transpose()?,
            );
        }
        let mut bound = Vec::with_capacity(config.listeners.len());
        for (i, (listener, tls)) in config.listeners.iter().zip(tls).enumerate() {
            let socket = bind(&listener.addr)
                .map_err(|e| TransportError::BadArgument(format!("listeners[{i}].addr: {e}")))?;
            let local = socket
                .local_addr()
                .map_err(|e| TransportError::BadArgument(format!("listeners[{i}].addr: {e}")))?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            bound.push(Bound {
                listener: socket,
                tls: tls.map(tokio_rustls::TlsAcceptor::from),
                url: format!("{scheme}://{local}"),
                host_port: local.to_string(),
            });
        }
        if let Some(path) = &config.bound_file {
            let lines: String = bound.iter().map(|b| format!("{}\n", b.host_port)).collect();
            write_atomically(path, lines.as_bytes()).map_err(|e| {
                TransportError::BadArgument(format!(
                    "bound_file: cannot write {}: {e}",
                    path.display()
                ))
            })?;
        }
        if let Some(client) = client {
            *self
                .client
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(client);
        }
        let site = Arc::new(Site {
            handler,
            startup_paths: config.startup_paths.clone(),
            max_body_bytes: config.max_body_bytes,
            read_timeout: config.read_timeout(),
        });
        // (`bound` is empty without a runtime.)
        for bound in bound {
            host.log(LogLevel::Info, &format!("listening on {}", bound.url));
            if let Some(runtime) = runtime {
                runtime.spawn(server::accept_loop(bound.listener, bound.tls, site.clone()));
            }
        }
        Ok(())
    }
}

/// Binds a listening socket (backlog 1024) on the first address `addr` resolves to that
/// can be bound. Must run in the runtime's context.
fn bind(addr: &str) -> Result<tokio::net::TcpListener, String> {
    use std::net::ToSocketAddrs;
    let addresses = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?;
    let mut last = format!("{addr} resolves to no address");
    for address in addresses {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        };
        let listener = socket.and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(address)?;
            socket.listen(1024)
        });
        match listener {
            Ok(listener) => return Ok(listener),
            Err(e) => last = format!("cannot listen on {address}: {e}"),
        }
    }
    Err(last)
}

/// Writes `path` through a temporary file beside it and a rename: a reader sees the whole
/// file or none.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{}", std::process::id()));
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

iotp_plugin_sdk::export_transport!(Http, Http::new());
