//! The server side: listeners, connections (plain or TLS), and the answer to each request
//! (RFC 2935 §2, §4.1, §4.2, §5).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, PRAGMA,
    RETRY_AFTER,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use iotp::payapi::{BridgeHost, LogLevel};
use iotp_plugin_api::ErrorStatus;
use iotp_plugin_sdk::{ServeHandler, TransportError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::client::chain;
use crate::rules::{IOTP_MIME, StartupBodyError, is_iotp_content_type, is_under, startup_document};

/// What the listeners of one `serve` call share.
pub struct Site {
    /// The host's handler.
    pub handler: ServeHandler,
    /// `startup_paths`.
    pub startup_paths: Vec<String>,
    /// `max_body_bytes`.
    pub max_body_bytes: u64,
    /// `read_timeout_ms`.
    pub read_timeout: Duration,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("startup_paths", &self.startup_paths)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl Site {
    fn log(&self, level: LogLevel, message: &str) {
        self.handler.host().log(level, message);
    }

    fn is_startup_path(&self, path: &str) -> bool {
        self.startup_paths.iter().any(|p| is_under(path, p))
    }
}

/// Accepts connections on `listener` for the rest of the process. A failed accept (or TLS
/// handshake) is logged at Debug and the loop goes on.
pub async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, site: Arc<Site>) {
    let local = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                site.log(
                    LogLevel::Debug,
                    &format!("accepted connection from {peer} on {local}"),
                );
                let _ = stream.set_nodelay(true);
                let site = site.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, peer, site).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(site.read_timeout, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => serve_connection(stream, peer, site).await,
                                Ok(Err(e)) => site.log(
                                    LogLevel::Debug,
                                    &format!("TLS handshake with {peer} failed: {e}"),
                                ),
                                Err(_) => site.log(
                                    LogLevel::Debug,
                                    &format!("TLS handshake with {peer} timed out"),
                                ),
                            }
                        }
                    }
                });
            }
            Err(e) => {
                site.log(
                    LogLevel::Debug,
                    &format!("accepting a connection on {local} failed: {e}"),
                );
                // Out of file descriptors, say: give the system a moment.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// HTTP/1.1 with keep-alive on one connection, until the client closes it or is idle (or
/// slow with its headers) for `read_timeout`.
async fn serve_connection<I>(io: I, peer: SocketAddr, site: Arc<Site>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_site = site.clone();
    let service = service_fn(move |request| {
        let site = service_site.clone();
        async move { Ok::<_, Infallible>(respond(request, peer, site).await) }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(site.read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(e) = result {
        site.log(
            LogLevel::Debug,
            &format!("connection from {peer}: {}", chain(&e)),
        );
    }
}

type Answer = Response<Full<Bytes>>;

/// Every answer: no caching (RFC 2935 §4.1).
fn answer(status: StatusCode, content_type: &'static str, body: Bytes) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An error answer: a `text/plain` one-line reason.
fn error(status: StatusCode, reason: &str) -> Answer {
    answer(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(format!("{reason}\n")),
    )
}

/// An error answer after which the connection closes (the request's body was not read).
fn error_and_close(status: StatusCode, reason: &str) -> Answer {
    let mut response = error(status, reason);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn method_not_allowed(allow: &'static str) -> Answer {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed here (allowed: {allow})"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// The answer to one request.
async fn respond(request: Request<Incoming>, peer: SocketAddr, site: Arc<Site>) -> Answer {
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let iotp = request
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| is_iotp_content_type(v.as_bytes()));
    let startup = site.is_startup_path(request.uri().path());
    let response = match method {
        Method::POST if iotp => match read_body(request, &site).await {
            Ok(message) => handle(&site, message.to_vec()).await,
            Err(response) => response,
        },
        Method::GET if startup => match startup_document("GET", &target, None) {
            Ok(document) => handle(&site, document).await,
            Err(_) => error(StatusCode::BAD_REQUEST, "unusable request target"),
        },
        Method::POST if startup => match read_body(request, &site).await {
            Ok(body) => match startup_document("POST", &target, Some(&body)) {
                Ok(document) => handle(&site, document).await,
                Err(StartupBodyError::NotUtf8) => error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "a startup request's body must be UTF-8 text",
                ),
                Err(StartupBodyError::NotXmlText) => error(
                    StatusCode::BAD_REQUEST,
                    "a startup request's body has characters XML cannot carry",
                ),
            },
            Err(response) => response,
        },
        Method::POST => error_and_close(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("IOTP messages are sent as {IOTP_MIME}"),
        ),
        _ if startup => method_not_allowed("GET, POST"),
        _ => method_not_allowed("POST"),
    };
    site.log(
        LogLevel::Debug,
        &format!(
            "{method} {target} from {peer}: {} ({} bytes)",
            response.status(),
            hyper::body::Body::size_hint(response.body())
                .exact()
                .unwrap_or(0)
        ),
    );
    response
}

/// The request's body, at most `max_body_bytes` (413 otherwise, without reading the rest),
/// within `read_timeout` (408 otherwise).
async fn read_body(request: Request<Incoming>, site: &Site) -> Result<Bytes, Answer> {
    let too_large = || {
        error_and_close(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the body is larger than {} bytes (max_body_bytes)",
                site.max_body_bytes
            ),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > site.max_body_bytes) {
        return Err(too_large());
    }
    let limit = usize::try_from(site.max_body_bytes).unwrap_or(usize::MAX);
    let body = Limited::new(request.into_body(), limit).collect();
    match tokio::time::timeout(site.read_timeout, body).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => {
            site.log(
                LogLevel::Debug,
                &format!("reading a request body failed: {}", chain(&*e)),
            );
            Err(error_and_close(
                StatusCode::BAD_REQUEST,
                "the request body broke off",
            ))
        }
        Err(_) => Err(error_and_close(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time (read_timeout_ms)",
        )),
    }
}

/// Hands a message to the host's handler (on a blocking thread: it runs the engine and
/// writes to a database) and answers with its reply.
async fn handle(site: &Site, message: Vec<u8>) -> Answer {
    let handler = site.handler;
    let result = tokio::task::spawn_blocking(move || handler.handle(&message))
        .await
        .unwrap_or_else(|e| {
            Err(TransportError::Internal(format!(
                "the handler's thread failed: {e}"
            )))
        });
    match result {
        Ok(reply) => answer(StatusCode::OK, IOTP_MIME, Bytes::from(reply)),
        Err(e) => match &e {
            TransportError::Handler(ErrorStatus::Refused) => {
                site.log(LogLevel::Debug, &format!("the handler refused: {e}"));
                error(
                    StatusCode::NOT_FOUND,
                    "refused: unknown offer or transaction",
                )
            }
            TransportError::Handler(ErrorStatus::BadDocument | ErrorStatus::BadArgument) => {
                site.log(
                    LogLevel::Debug,
                    &format!("the handler could not read a message: {e}"),
                );
                error(
                    StatusCode::BAD_REQUEST,
                    "not an IOTP message this node reads",
                )
            }
            _ => {
                site.log(LogLevel::Warn, &format!("the handler failed: {e}"));
                let mut response = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the node cannot handle the message now; retry",
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        },
    }
}
