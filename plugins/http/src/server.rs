//! The server side: listeners, connections (plain or TLS), and the answer to each request
//! (RFC 2935 §2, §4.1, §4.2, §5).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
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
use tokio::sync::{mpsc, oneshot};
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
                match ConnectionThread::claim() {
                    Some(slot) => on_own_thread(stream, peer, tls, site, slot),
                    None => {
                        tokio::spawn(serve_accepted(stream, peer, tls, site, Handling::Blocking));
                    }
                }
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

/// The most connections served on threads of their own at once (each such thread calls the
/// handler itself: no hand-off per request); the others are served on the shared runtime,
/// their handlers on its blocking threads.
pub const MAX_CONNECTION_THREADS: usize = 128;

/// How many connections have a thread of their own now.
static CONNECTION_THREADS: AtomicUsize = AtomicUsize::new(0);

/// A claim on one of the [`MAX_CONNECTION_THREADS`], given back when dropped.
struct ConnectionThread(());

impl ConnectionThread {
    fn claim() -> Option<ConnectionThread> {
        CONNECTION_THREADS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CONNECTION_THREADS).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionThread(()))
    }
}

impl Drop for ConnectionThread {
    fn drop(&mut self) {
        CONNECTION_THREADS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How a connection's requests reach the handler.
#[derive(Clone)]
enum Handling {
    /// On the shared runtime's blocking threads.
    Blocking,
    /// Sent to the connection's own thread, which calls the handler outside its runtime (the
    /// handler may call `send`, which drives a runtime of its own).
    OwnThread(mpsc::UnboundedSender<Job>),
}

/// A message for the handler on a connection's own thread, and where its result goes.
struct Job {
    message: Bytes,
    reply: oneshot::Sender<HandlerResult>,
}

/// What the handler gave.
type HandlerResult = Result<Vec<u8>, TransportError>;

/// Serves an accepted connection on a thread of its own, with a current-thread runtime: the
/// thread drives the connection (the TLS handshake, hyper) and, between, calls the handler
/// for each request, outside the runtime. The connection is dropped (logged at Warn) if no
/// thread can be started.
fn on_own_thread(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    site: Arc<Site>,
    slot: ConnectionThread,
) {
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(e) => {
            site.log(
                LogLevel::Debug,
                &format!("connection from {peer}: cannot take it over: {e}"),
            );
            return;
        }
    };
    let thread_site = site.clone();
    let started = std::thread::Builder::new()
        .name("iotp-http-conn".into())
        .spawn(move || {
            let _slot = slot;
            connection_thread(stream, peer, tls, &thread_site);
        });
    if let Err(e) = started {
        site.log(
            LogLevel::Warn,
            &format!("connection from {peer} dropped: cannot start a thread for it: {e}"),
        );
    }
}

/// The body of a connection's own thread: serves it until it ends.
fn connection_thread(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    site: &Arc<Site>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            site.log(
                LogLevel::Warn,
                &format!("connection from {peer} dropped: cannot start its runtime: {e}"),
            );
            return;
        }
    };
    let stream = {
        let _context = runtime.enter();
        match tokio::net::TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                site.log(
                    LogLevel::Debug,
                    &format!("connection from {peer}: cannot take it over: {e}"),
                );
                return;
            }
        }
    };
    let (jobs, mut next) = mpsc::unbounded_channel();
    // The connection is this thread's one future (not a task): a request's job comes out of
    // the same poll that read it, and the handler's result goes back in the poll that writes
    // the answer; no wake-up crosses the runtime's boundary.
    let mut connection = std::pin::pin!(serve_accepted(
        stream,
        peer,
        tls,
        site.clone(),
        Handling::OwnThread(jobs),
    ));
    let mut answer: Option<(oneshot::Sender<HandlerResult>, HandlerResult)> = None;
    // Ends when the connection does. HTTP/1.1 serves one request at a time: at most one job
    // waits.
    loop {
        let job = runtime.block_on(std::future::poll_fn(|cx| {
            if let Some((reply, result)) = answer.take() {
                // (A connection that broke meanwhile has no use for it.)
                let _ = reply.send(result);
            }
            if connection.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            next.poll_recv(cx)
        }));
        let Some(Job { message, reply }) = job else {
            break;
        };
        let handler = site.handler;
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(&message)))
            .unwrap_or_else(|_| Err(TransportError::Internal("the handler panicked".into())));
        answer = Some((reply, result));
    }
}

/// Serves an accepted connection: the TLS handshake (within `read_timeout`) if the listener
/// has TLS, then HTTP.
async fn serve_accepted(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    site: Arc<Site>,
    handling: Handling,
) {
    match tls {
        None => serve_connection(stream, peer, site, handling).await,
        Some(acceptor) => {
            match tokio::time::timeout(site.read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, peer, site, handling).await,
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
}

/// HTTP/1.1 with keep-alive on one connection, until the client closes it or is idle (or
/// slow with its headers) for `read_timeout`.
async fn serve_connection<I>(io: I, peer: SocketAddr, site: Arc<Site>, handling: Handling)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_site = site.clone();
    let service = service_fn(move |request| {
        let site = service_site.clone();
        let handling = handling.clone();
        async move { Ok::<_, Infallible>(respond(request, peer, site, handling).await) }
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
async fn respond(
    request: Request<Incoming>,
    peer: SocketAddr,
    site: Arc<Site>,
    handling: Handling,
) -> Answer {
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
            Ok(message) => handle(&site, &handling, message).await,
            Err(response) => response,
        },
        Method::GET if startup => match startup_document("GET", &target, None) {
            Ok(document) => handle(&site, &handling, Bytes::from(document)).await,
            Err(_) => error(StatusCode::BAD_REQUEST, "unusable request target"),
        },
        Method::POST if startup => match read_body(request, &site).await {
            Ok(body) => match startup_document("POST", &target, Some(&body)) {
                Ok(document) => handle(&site, &handling, Bytes::from(document)).await,
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
    let mut body = std::pin::pin!(Limited::new(request.into_body(), limit).collect());
    // A body that came with the headers needs no timer (setting one wakes the runtime's
    // driver: a system call).
    let read = match std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll(cx))).await {
        Poll::Ready(read) => Ok(read),
        Poll::Pending => tokio::time::timeout(site.read_timeout, body).await,
    };
    match read {
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

/// Hands a message to the host's handler (never on a runtime's worker: it runs the engine
/// and writes to a database) and answers with its reply.
async fn handle(site: &Site, handling: &Handling, message: Bytes) -> Answer {
    let result = match handling {
        Handling::Blocking => {
            let handler = site.handler;
            tokio::task::spawn_blocking(move || handler.handle(&message))
                .await
                .unwrap_or_else(|e| {
                    Err(TransportError::Internal(format!(
                        "the handler's thread failed: {e}"
                    )))
                })
        }
        Handling::OwnThread(jobs) => {
            let (reply, result) = oneshot::channel();
            match jobs.send(Job { message, reply }) {
                Ok(()) => result.await.unwrap_or_else(|_| {
                    Err(TransportError::Internal(
                        "the connection's thread failed".into(),
                    ))
                }),
                Err(_) => Err(TransportError::Internal(
                    "the connection's thread is gone".into(),
                )),
            }
        }
    };
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
