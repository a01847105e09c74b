//! The client side: `send` as an HTTP exchange (RFC 2935 §4.1 startup `GET`, §4.2 `POST`).
//!
//! An exchange runs on the thread that calls `send`: each [`Driver`] is a current-thread
//! tokio runtime with its own keep-alive connections, which the calling thread drives with
//! `block_on` (write the request, wait in `epoll` for the answer, read it). No other thread
//! takes part, so an exchange costs no thread hand-off. Drivers are lent to callers from a
//! free list ([`Drivers`]): there are as many as sends have ever been in flight at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use iotp_plugin_sdk::TransportError;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;

use crate::config::{self, ClientSettings};
use crate::rules::{IOTP_MIME, first_line, is_iotp_content_type};

/// The largest response body `send` reads: 4 MiB.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How long an idle pooled connection is kept: under the servers' default
/// `read_timeout_ms` (10 s), after which they close idle connections.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// The most idle connections a driver keeps to one server (it uses one at a time).
const MAX_IDLE_PER_SERVER: usize = 2;

/// The client settings as loaded (trust anchors read, TLS configured), shared by the
/// drivers.
pub struct HttpClient {
    /// `None`: no trust anchors, `https:` is refused.
    tls: Option<TlsConnector>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("trusted", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// What one exchange gave.
#[derive(Debug)]
pub struct Exchange {
    /// `GET` or `POST`.
    pub method: Method,
    /// The answer's status.
    pub status: StatusCode,
    /// The answer's body.
    pub body: Bytes,
    /// Whether the answer's `Content-Type` is IOTP.
    pub iotp: bool,
}

impl HttpClient {
    /// Loads the settings: the trust anchors' files are read here.
    pub fn new(settings: &ClientSettings) -> Result<HttpClient, TransportError> {
        let roots = config::load_trust(&settings.trust)?;
        let tls = if roots.is_empty() {
            None
        } else {
            let config = rustls::ClientConfig::builder_with_provider(config::crypto_provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TransportError::Internal(format!("TLS client: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(TlsConnector::from(Arc::new(config)))
        };
        Ok(HttpClient {
            tls,
            timeout: Duration::from_millis(settings.timeout_ms),
            connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
        })
    }

    /// Checks a net location: an `http:` or `https:` URL with a host (and trust anchors for
    /// `https:`).
    pub fn target(&self, net_location: &str) -> Result<Uri, TransportError> {
        let not_usable = |why: &str| {
            TransportError::BadArgument(format!(
                "net location {net_location:?} is not usable: {why}"
            ))
        };
        let uri: Uri = net_location
            .parse()
            .map_err(|e| not_usable(&format!("{e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if self.tls.is_some() => {}
            Some("https") => {
                return Err(TransportError::BadArgument(format!(
                    "{net_location}: no trust anchors configured (client.trust)"
                )));
            }
            _ => return Err(not_usable("not an http: or https: URL")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(not_usable("no host"));
        }
        Ok(uri)
    }
}

/// A server a connection goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Server {
    https: bool,
    /// As in the URL (an IPv6 address in brackets).
    host: String,
    port: u16,
}

impl Server {
    fn of(uri: &Uri) -> Server {
        let https = uri.scheme_str() == Some("https");
        Server {
            https,
            host: uri.host().unwrap_or_default().to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        }
    }

    /// The host without an IPv6 address's brackets.
    fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// An idle keep-alive connection.
struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// A current-thread runtime and its connections, driven by the thread that borrowed it.
pub struct Driver {
    runtime: Runtime,
    /// The settings its connections were made with.
    client: Arc<HttpClient>,
    idle: HashMap<Server, Vec<Idle>>,
}

/// The drivers not in use.
#[derive(Default)]
pub struct Drivers {
    free: Mutex<Vec<Driver>>,
}

impl std::fmt::Debug for Drivers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drivers").finish_non_exhaustive()
    }
}

impl Drivers {
    /// One exchange with `uri` on the calling thread, with a free driver (or a new one).
    pub fn exchange(
        &self,
        client: &Arc<HttpClient>,
        uri: &Uri,
        message: &[u8],
    ) -> Result<Exchange, TransportError> {
        let free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut driver = match free {
            Some(driver) => driver,
            None => Driver::new(client)?,
        };
        if !Arc::ptr_eq(&driver.client, client) {
            // New settings (a `serve` call's `client`): new connections.
            driver.idle.clear();
            driver.client = client.clone();
        }
        let Driver {
            runtime,
            client,
            idle,
        } = &mut driver;
        let result = runtime.block_on(exchange(client, idle, uri, message));
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(driver);
        result
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("client", &self.client)
            .field("servers", &self.idle.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Driver {
    fn new(client: &Arc<HttpClient>) -> Result<Driver, TransportError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                TransportError::Internal(format!("cannot start the async runtime: {e}"))
            })?;
        Ok(Driver {
            runtime,
            client: client.clone(),
            idle: HashMap::new(),
        })
    }
}

/// One exchange: a `POST` of `message` (`Content-Type: application/iotp`), or for an empty
/// message the startup `GET`. Bounded by `client.timeout_ms` as a whole, and the answer's
/// body by [`MAX_RESPONSE_BYTES`]. Transport failures are `Io` errors.
async fn exchange(
    client: &HttpClient,
    idle: &mut HashMap<Server, Vec<Idle>>,
    uri: &Uri,
    message: &[u8],
) -> Result<Exchange, TransportError> {
    let method = if message.is_empty() {
        Method::GET
    } else {
        Method::POST
    };
    let server = Server::of(uri);
    let request = request(&method, uri, message)?;
    let exchange = async {
        let fail = |what: &str, e: &(dyn std::error::Error + 'static)| {
            TransportError::Io(format!("{method} {uri}: {what}{}", chain(e)))
        };
        let reused = checkout(idle, &server).await;
        let (sender, response) = match reused {
            Some(mut sender) => match sender.try_send_request(request).await {
                Ok(response) => (sender, response),
                // The connection closed before the request went out (the server ended it
                // while it was idle): once more on a new connection.
                Err(mut e) => match e.take_message() {
                    Some(request) => {
                        let mut sender = connect(client, &server, &method, uri).await?;
                        let response = sender
                            .send_request(request)
                            .await
                            .map_err(|e| fail("", &e))?;
                        (sender, response)
                    }
                    // It went out, but the connection failed before any answer came back:
                    // the server closed it while the request was on its way. Once more on a
                    // new connection, as HTTP clients do with a kept connection. Safe for
                    // IOTP: a startup request is a GET, and a receiver answers a message it
                    // has seen before with its saved answer, never processing it twice
                    // (RFC 2801 §4.5.2.2).
                    None => {
                        let request = self::request(&method, uri, message)?;
                        let mut sender = connect(client, &server, &method, uri).await?;
                        let response = sender
                            .send_request(request)
                            .await
                            .map_err(|e| fail("", &e))?;
                        (sender, response)
                    }
                },
            },
            None => {
                let mut sender = connect(client, &server, &method, uri).await?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| fail("", &e))?;
                (sender, response)
            }
        };
        let status = response.status();
        let iotp = response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| is_iotp_content_type(v.as_bytes()));
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    TransportError::Io(format!(
                        "{method} {uri}: {status}: the answer's body is larger than \
                         {MAX_RESPONSE_BYTES} bytes"
                    ))
                } else {
                    fail(&format!("{status}: the answer broke off: "), &*e)
                }
            })?
            .to_bytes();
        // The whole answer is in: the connection may carry the next request (once its task
        // has seen the answer's end; `checkout` waits for that).
        if !sender.is_closed() {
            let connections = idle.entry(server).or_default();
            if connections.len() < MAX_IDLE_PER_SERVER {
                connections.push(Idle {
                    sender,
                    since: Instant::now(),
                });
            }
        }
        Ok(Exchange {
            method: method.clone(),
            status,
            body,
            iotp,
        })
    };
    match tokio::time::timeout(client.timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::Io(format!(
            "{method} {uri}: no complete answer within {} ms (client.timeout_ms)",
            client.timeout.as_millis()
        ))),
    }
}

/// The request: origin-form target, `Host`, `Accept`, and for a `POST` its `Content-Type`.
fn request(
    method: &Method,
    uri: &Uri,
    message: &[u8],
) -> Result<Request<Full<Bytes>>, TransportError> {
    let bad = |e: &dyn std::fmt::Display| TransportError::BadArgument(format!("{uri}: {e}"));
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    // The authority without any user information (RFC 9110 §7.2).
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = HeaderValue::from_str(host).map_err(|e| bad(&e))?;
    let mut request = Request::builder()
        .method(method.clone())
        .uri(target)
        .header(HOST, host)
        .header(ACCEPT, HeaderValue::from_static(IOTP_MIME));
    if !message.is_empty() {
        request = request.header(CONTENT_TYPE, HeaderValue::from_static(IOTP_MIME));
    }
    request
        .body(Full::new(Bytes::copy_from_slice(message)))
        .map_err(|e| bad(&e))
}

/// An idle connection to `server` that is ready for a request, if there is one; idle
/// connections past [`POOL_IDLE_TIMEOUT`], to any server, are dropped.
async fn checkout(
    idle: &mut HashMap<Server, Vec<Idle>>,
    server: &Server,
) -> Option<SendRequest<Full<Bytes>>> {
    let now = Instant::now();
    idle.retain(|_, connections| {
        connections
            .retain(|c| now.duration_since(c.since) < POOL_IDLE_TIMEOUT && !c.sender.is_closed());
        !connections.is_empty()
    });
    let connections = idle.get_mut(server)?;
    while let Some(Idle { mut sender, .. }) = connections.pop() {
        if sender.ready().await.is_ok() {
            return Some(sender);
        }
    }
    None
}

/// A new connection to `server` (TCP, then TLS for `https:`), its task spawned on the
/// current runtime.
async fn connect(
    client: &HttpClient,
    server: &Server,
    method: &Method,
    uri: &Uri,
) -> Result<SendRequest<Full<Bytes>>, TransportError> {
    let fail = |what: String| TransportError::Io(format!("{method} {uri}: {what}"));
    let host = server.bare_host();
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, server.port))
        .await
        .map_err(|e| fail(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    let mut stream = None;
    for address in addresses {
        match tokio::time::timeout(client.connect_timeout, TcpStream::connect(address)).await {
            Ok(Ok(connected)) => {
                stream = Some(connected);
                break;
            }
            Ok(Err(e)) => last = format!("cannot connect to {address}: {e}"),
            Err(_) => {
                last = format!(
                    "cannot connect to {address} within {} ms (client.connect_timeout_ms)",
                    client.connect_timeout.as_millis()
                );
            }
        }
    }
    let stream = stream.ok_or_else(|| fail(last))?;
    let _ = stream.set_nodelay(true);
    if server.https {
        let tls = client.tls.as_ref().ok_or_else(|| {
            TransportError::BadArgument(format!(
                "{uri}: no trust anchors configured (client.trust)"
            ))
        })?;
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| fail(format!("not a server name: {e}")))?;
        let stream = tls
            .connect(name, stream)
            .await
            .map_err(|e| fail(format!("TLS handshake: {}", chain(&e))))?;
        handshake(TokioIo::new(stream), method, uri).await
    } else {
        handshake(TokioIo::new(stream), method, uri).await
    }
}

/// HTTP/1.1 on a connected stream; the connection's task runs on the current runtime (that
/// is, while a caller drives it) until the connection ends.
async fn handshake<I>(
    io: I,
    method: &Method,
    uri: &Uri,
) -> Result<SendRequest<Full<Bytes>>, TransportError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io)
        .await
        .map_err(|e| TransportError::Io(format!("{method} {uri}: {}", chain(&e))))?;
    tokio::spawn(async move {
        // Its failures are the exchange's, reported by `send_request`.
        let _ = connection.await;
    });
    Ok(sender)
}

/// The outcome of `send` from an exchange: the body of a 2xx IOTP answer (or an empty one);
/// 5xx → `Io`, 4xx (and 1xx, 3xx: redirects are not followed) → `Refused`, a non-IOTP body
/// → `Io`.
pub fn outcome(uri: &Uri, exchange: Exchange) -> Result<Vec<u8>, TransportError> {
    let Exchange {
        method,
        status,
        body,
        iotp,
    } = exchange;
    let reason = || {
        let line = first_line(&body);
        if line.is_empty() {
            format!("{method} {uri}: {status}")
        } else {
            format!("{method} {uri}: {status}: {line}")
        }
    };
    if status.is_server_error() {
        return Err(TransportError::Io(reason()));
    }
    if !status.is_success() {
        return Err(TransportError::Refused(reason()));
    }
    if !body.is_empty() && !iotp {
        return Err(TransportError::Io(format!(
            "{method} {uri}: {status}: not an IOTP response (Content-Type is not {IOTP_MIME})"
        )));
    }
    Ok(body.into())
}

/// An error and its sources, `: `-separated.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}
