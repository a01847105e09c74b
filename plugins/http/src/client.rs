//! The client side: `send` as an HTTP exchange (RFC 2935 §4.1 startup `GET`, §4.2 `POST`).

use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use iotp_plugin_sdk::TransportError;

use crate::config::{self, ClientSettings};
use crate::rules::{IOTP_MIME, first_line, is_iotp_content_type};

/// The largest response body `send` reads: 4 MiB.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How long an idle pooled connection is kept: under the servers' default
/// `read_timeout_ms` (10 s), after which they close idle connections.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// One pooled client, as the `client` settings say.
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    trusted: bool,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("trusted", &self.trusted)
            .field("timeout", &self.timeout)
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
    /// Builds the client (in the runtime's context: the pool uses its timer). The trust
    /// anchors' files are read here.
    pub fn new(settings: &ClientSettings) -> Result<HttpClient, TransportError> {
        let roots = config::load_trust(&settings.trust)?;
        let trusted = !roots.is_empty();
        let tls = rustls::ClientConfig::builder_with_provider(config::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::Internal(format!("TLS client: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(HttpClient {
            client,
            trusted,
            timeout: Duration::from_millis(settings.timeout_ms),
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
            Some("https") if self.trusted => {}
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

    /// One exchange: a `POST` of `message` (`Content-Type: application/iotp`), or for an
    /// empty message the startup `GET`. Bounded by `client.timeout_ms` as a whole, and the
    /// answer's body by [`MAX_RESPONSE_BYTES`]. Transport failures are `Io` errors.
    pub async fn exchange(&self, uri: Uri, message: &[u8]) -> Result<Exchange, TransportError> {
        let method = if message.is_empty() {
            Method::GET
        } else {
            Method::POST
        };
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .header(ACCEPT, IOTP_MIME);
        if !message.is_empty() {
            request = request.header(CONTENT_TYPE, IOTP_MIME);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(message)))
            .map_err(|e| TransportError::BadArgument(format!("{uri}: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| TransportError::Io(format!("{method} {uri}: {}", chain(&e))))?;
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
                        TransportError::Io(format!(
                            "{method} {uri}: {status}: the answer broke off: {}",
                            chain(&*e)
                        ))
                    }
                })?
                .to_bytes();
            Ok(Exchange {
                method: method.clone(),
                status,
                body,
                iotp,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Io(format!(
                "{method} {uri}: no complete answer within {} ms (client.timeout_ms)",
                self.timeout.as_millis()
            ))),
        }
    }
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
