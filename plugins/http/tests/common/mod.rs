//! Shared by the tests: the real plugin built with cargo and loaded through the host, host
//! services that record the log, servers started on port 0, raw HTTP over `TcpStream`.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use iotp_plugin_host::testing::{HTTP_TRANSPORT, build_rust_plugin};
use iotp_plugin_host::{
    ErrorStatus, HostServices, LoadedPlugin, LogLevel, PluginError, PluginKind, PluginLibrary,
};

/// The library, built and opened once per test binary.
pub fn library() -> &'static PluginLibrary {
    static LIBRARY: OnceLock<PluginLibrary> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let path = build_rust_plugin(HTTP_TRANSPORT).unwrap_or_else(|e| panic!("{e}"));
        let library = PluginLibrary::open(path).unwrap();
        assert_eq!(library.descriptor().kind, PluginKind::Transport);
        assert_eq!(library.descriptor().name, "iotp-transport-http");
        library
    })
}

/// Host services keeping the log in memory (the other services are not used by the
/// transport).
#[derive(Debug, Default)]
pub struct Recorder {
    pub logs: Mutex<Vec<(LogLevel, String)>>,
}

impl Recorder {
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.lock().unwrap().clone()
    }

    /// How many lines at `level` contain `text`.
    pub fn count(&self, level: LogLevel, text: &str) -> usize {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, m)| *l == level && m.contains(text))
            .count()
    }
}

impl HostServices for Recorder {
    fn kv_get(&self, _key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn kv_put(&self, _key: &str, _value: &[u8]) -> Result<(), ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn kv_insert_if_absent(&self, _key: &str, _value: &[u8]) -> Result<bool, ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn kv_delete(&self, _key: &str) -> Result<(), ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn callback(&self, _document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        Err(ErrorStatus::Unsupported)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.lock().unwrap().push((level, message.to_owned()));
    }
    fn now_unix_millis(&self) -> i64 {
        1_700_000_000_000
    }
    fn random(&self, out: &mut [u8]) {
        out.fill(7);
    }
}

/// A started plugin and the services it was started with (also used for its calls).
pub struct Node {
    pub plugin: LoadedPlugin,
    pub services: Arc<Recorder>,
}

impl Node {
    pub fn start() -> Node {
        let services = Arc::new(Recorder::default());
        let plugin = library().start(services.clone()).unwrap();
        Node { plugin, services }
    }

    /// `serve` with `config` (a JSON object's members, without braces, maybe empty) plus a
    /// `bound_file`; the bound `host:port`s.
    pub fn serve(
        &self,
        config: &str,
        handler: impl Fn(&[u8]) -> Result<Vec<u8>, ErrorStatus> + Send + Sync + 'static,
    ) -> Result<Vec<SocketAddr>, PluginError> {
        let dir = tempfile::tempdir().unwrap();
        let bound = dir.path().join("bound");
        let separator = if config.trim().is_empty() { "" } else { ", " };
        let document = format!(
            "{{{config}{separator}\"bound_file\": {}}}",
            serde_json::to_string(&bound).unwrap()
        );
        self.plugin
            .serve(&*self.services, document.as_bytes(), Arc::new(handler))?;
        Ok(read_bound(&bound))
    }

    /// `send` through this node.
    pub fn send(&self, net_location: &str, message: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.plugin.send(&*self.services, net_location, message)
    }
}

pub fn read_bound(path: &Path) -> Vec<SocketAddr> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect()
}

/// The status of a failed call.
pub fn status(error: &PluginError) -> ErrorStatus {
    match error {
        PluginError::Status { status, .. } => *status,
        other => panic!("not a status: {other:?}"),
    }
}

/// The test handler: records messages; `refuse` → REFUSED, `bad` → BAD_DOCUMENT, `fail` →
/// INTERNAL, `empty` → an empty reply; otherwise `reply:` and the message.
pub fn handler(
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
) -> impl Fn(&[u8]) -> Result<Vec<u8>, ErrorStatus> + Send + Sync + 'static {
    move |message: &[u8]| {
        seen.lock().unwrap().push(message.to_vec());
        match message {
            b"refuse" => Err(ErrorStatus::Refused),
            b"bad" => Err(ErrorStatus::BadDocument),
            b"fail" => Err(ErrorStatus::Internal),
            b"empty" => Ok(Vec::new()),
            _ => {
                let mut reply = b"reply:".to_vec();
                reply.extend_from_slice(message);
                Ok(reply)
            }
        }
    }
}

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A connection with a generous read timeout (a safety net against a hung test, never an
/// assertion).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
}

/// Reads one response (with a Content-Length body) off `stream`; `None` when the server
/// closed the connection before a response.
pub fn read_response(stream: &mut TcpStream) -> Option<RawResponse> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("reading a response: {e}"),
        }
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).unwrap();
        assert_ne!(n, 0, "the body broke off");
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// Sends `request` (raw bytes) on a new connection and reads the response.
pub fn raw(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = connect(addr);
    stream.write_all(request).unwrap();
    read_response(&mut stream).expect("the server closed the connection without a response")
}

/// A request with a body.
pub fn request(method: &str, target: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request
}

/// Reads until the server closes the connection (or the safety timeout): whatever it sent.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("the server neither answered nor closed: {e}"),
        }
    }
}

/// Reads a request's head and its Content-Length body (for fake servers); the head.
pub fn read_request_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, value)| value.trim().parse().unwrap_or(0));
    let mut body = buffer.len() - head_end - 4;
    while body < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body += n;
    }
    Ok(head)
}
