//! The client side (`send`) against the plugin's own server and against small fake servers:
//! POST and startup GET, failures, keep-alive, concurrency.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use common::{Node, handler, status};
use iotp_plugin_host::{ErrorStatus, LogLevel, PluginError};

type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

fn server(config: &str) -> (Node, SocketAddr, Seen) {
    let node = Node::start();
    let seen = Seen::default();
    let separator = if config.is_empty() { "" } else { ", " };
    let addrs = node
        .serve(
            &format!(r#""listeners": [{{"addr": "127.0.0.1:0"}}]{separator}{config}"#),
            handler(seen.clone()),
        )
        .unwrap();
    (node, addrs[0], seen)
}

/// A one-shot fake server: answers each connection's first request with `response`.
fn fake(response: impl Into<Vec<u8>>) -> SocketAddr {
    let response = response.into();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = common::read_request_head(&mut stream);
            let _ = stream.write_all(&response);
        }
    });
    addr
}

fn failure(result: Result<Vec<u8>, PluginError>) -> ErrorStatus {
    status(&result.unwrap_err())
}

#[test]
fn send_posts_messages_and_gets_startups() {
    let (_server, addr, seen) = server(r#""startup_paths": ["/pay"]"#);
    let client = Node::start();
    let reply = client.send(&format!("http://{addr}/ph"), b"<m/>").unwrap();
    assert_eq!(reply, b"reply:<m/>");
    assert_eq!(
        client.send(&format!("http://{addr}/"), b"empty").unwrap(),
        b""
    );
    // An empty message is the startup GET.
    let reply = client
        .send(&format!("http://{addr}/pay/purchase?order=17"), b"")
        .unwrap();
    let document = "<IotpStartupRequest xmlns=\"urn:iotp-rs:http-startup\" Method=\"GET\" \
                    Target=\"/pay/purchase?order=17\"/>";
    assert_eq!(reply, format!("reply:{document}").as_bytes());
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [
            b"<m/>".to_vec(),
            b"empty".to_vec(),
            document.as_bytes().to_vec()
        ]
    );
    // Each exchange is logged at Debug through the call's services, bodies never.
    let logs = client.services.logs();
    assert!(
        logs.iter().any(|(level, line)| *level == LogLevel::Debug
            && line.starts_with(&format!("POST http://{addr}/ph: 200 OK"))),
        "{logs:?}"
    );
    assert!(logs.iter().all(|(_, line)| !line.contains("<m/>")));
}

#[test]
fn send_failures() {
    let (_server, addr, _seen) = server(r#""startup_paths": ["/pay"]"#);
    let client = Node::start();
    // The handler's REFUSED is a 404: refused.
    assert_eq!(
        failure(client.send(&format!("http://{addr}/"), b"refuse")),
        ErrorStatus::Refused
    );
    assert!(
        client
            .services
            .count(LogLevel::Warn, "404 Not Found: refused")
            == 1,
        "{:?}",
        client.services.logs()
    );
    // Its INTERNAL is a 503: a retry may succeed.
    assert_eq!(
        failure(client.send(&format!("http://{addr}/"), b"fail")),
        ErrorStatus::Io
    );
    // A GET where no startup path is: 405, refused.
    assert_eq!(
        failure(client.send(&format!("http://{addr}/x"), b"")),
        ErrorStatus::Refused
    );

    // A closed port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(
        failure(client.send(&format!("http://{closed}/"), b"<m/>")),
        ErrorStatus::Io
    );

    // Not http: or https:, or no host.
    for location in [
        "ftp://example.org/x",
        "mailto:a@b",
        "/relative",
        "http:///x",
    ] {
        assert_eq!(
            failure(client.send(location, b"<m/>")),
            ErrorStatus::BadArgument,
            "{location}"
        );
    }
    // https: with no trust anchors configured in this process.
    assert_eq!(
        failure(client.send(&format!("https://{addr}/"), b"<m/>")),
        ErrorStatus::BadArgument
    );
    assert_eq!(
        client
            .services
            .count(LogLevel::Warn, "no trust anchors configured (client.trust)"),
        1
    );

    // A 2xx whose body is not IOTP; a 4xx from another server; a 5xx; an empty 200.
    let html =
        fake(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>");
    assert_eq!(
        failure(client.send(&format!("http://{html}/"), b"<m/>")),
        ErrorStatus::Io
    );
    assert_eq!(
        client
            .services
            .count(LogLevel::Warn, "not an IOTP response"),
        1
    );
    let gone = fake(
        b"HTTP/1.1 410 Gone\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nno such offer",
    );
    assert_eq!(
        failure(client.send(&format!("http://{gone}/"), b"<m/>")),
        ErrorStatus::Refused
    );
    assert_eq!(
        client
            .services
            .count(LogLevel::Warn, "410 Gone: no such offer"),
        1
    );
    let busy = fake(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        failure(client.send(&format!("http://{busy}/"), b"<m/>")),
        ErrorStatus::Io
    );
    let empty = fake(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        client.send(&format!("http://{empty}/"), b"<m/>").unwrap(),
        b""
    );
    // A body larger than 4 MiB.
    let mut response =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/iotp\r\nContent-Length: 4194305\r\n\r\n"
            .to_vec();
    response.resize(response.len() + 4_194_305, b'x');
    let huge = fake(response);
    assert_eq!(
        failure(client.send(&format!("http://{huge}/"), b"<m/>")),
        ErrorStatus::Io
    );
    assert_eq!(
        client
            .services
            .count(LogLevel::Warn, "larger than 4194304 bytes"),
        1
    );
}

#[test]
fn sequential_sends_reuse_connections() {
    let (server, addr, seen) = server("");
    let client = Node::start();
    let location = format!("http://{addr}/");
    for i in 0..200 {
        let message = format!("<m{i}/>");
        let reply = client.send(&location, message.as_bytes()).unwrap();
        assert_eq!(reply, format!("reply:{message}").as_bytes());
    }
    assert_eq!(seen.lock().unwrap().len(), 200);
    // One connection, kept alive (a few more at most, should a request race the return of
    // the previous one to the pool); certainly not one per request.
    let accepted = server
        .services
        .count(LogLevel::Debug, "accepted connection");
    assert!(accepted <= 20, "{accepted} connections for 200 sends");
}

#[test]
fn concurrent_sends_all_succeed() {
    let (server, addr, seen) = server("");
    let client = Arc::new(Node::start());
    let location = format!("http://{addr}/");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            let location = location.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let message = format!("<m t='{t}' i='{i}'/>");
                    let reply = client.send(&location, message.as_bytes()).unwrap();
                    assert_eq!(reply, format!("reply:{message}").as_bytes());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 400);
    assert!(
        server
            .services
            .count(LogLevel::Debug, "accepted connection")
            <= 40
    );
}

#[test]
fn a_kept_connection_the_server_closed_is_not_a_failure() {
    // The fake server answers one request per connection, keep-alive, then closes it: each
    // next send finds its pooled connection closed (or closing) and uses a new one.
    let server =
        fake(b"HTTP/1.1 200 OK\r\nContent-Type: application/iotp\r\nContent-Length: 4\r\n\r\n<r/>");
    let client = Node::start();
    let location = format!("http://{server}/pay");
    for _ in 0..20 {
        assert_eq!(client.send(&location, b"").unwrap(), b"<r/>");
    }
}

#[test]
fn requests_are_origin_form_with_the_host() {
    // A fake server answering each request with its head, each connection on a thread of its
    // own (the client may open a second connection while its first is still open).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                while let Ok(head) = common::read_request_head(&mut stream) {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/iotp\r\nContent-Length: {}\r\n\r\n{head}",
                        head.len()
                    );
                    if stream.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let client = Node::start();
    let head = client
        .send(&format!("http://someone@{addr}/pay/x?order=1"), b"<m/>")
        .unwrap();
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("post /pay/x?order=1 http/1.1"));
    let headers: Vec<&str> = lines.collect();
    assert!(
        headers.contains(&format!("host: {addr}").as_str()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"content-type: application/iotp"),
        "{headers:?}"
    );
    assert!(headers.contains(&"accept: application/iotp"), "{headers:?}");
    let head = client.send(&format!("http://{addr}"), b"").unwrap();
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get / http/1.1\r\n"), "{head}");
}
