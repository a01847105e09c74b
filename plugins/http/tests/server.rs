//! The server side, seen from raw HTTP connections: messages, startup requests, the handler's
//! failures, bad input, slow and vanishing clients, bad configurations.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use common::{
    Node, RawResponse, connect, handler, raw, read_response, read_to_close, request, status,
};
use iotp_plugin_host::{ErrorStatus, LogLevel};

type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

/// A node serving one plain listener on port 0 with `config` (extra members).
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
    assert_eq!(addrs.len(), 1);
    (node, addrs[0], seen)
}

fn assert_no_cache(response: &RawResponse) {
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
}

fn assert_iotp(response: &RawResponse, body: &[u8]) {
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/iotp"));
    assert_no_cache(response);
    assert_eq!(response.body, body);
}

#[test]
fn iotp_posts_reach_the_handler() {
    let (node, addr, seen) = server("");
    assert!(
        node.services
            .count(LogLevel::Info, &format!("listening on http://{addr}"))
            == 1,
        "{:?}",
        node.services.logs()
    );
    let response = raw(
        addr,
        &request("POST", "/any/path", Some("application/iotp"), b"<m1/>"),
    );
    assert_iotp(&response, b"reply:<m1/>");
    let response = raw(
        addr,
        &request(
            "POST",
            "/",
            Some("Application/X-IOTP; charset=utf-8"),
            b"<m2/>",
        ),
    );
    assert_iotp(&response, b"reply:<m2/>");
    let response = raw(
        addr,
        &request("POST", "/", Some("application/iotp"), b"empty"),
    );
    assert_iotp(&response, b"");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [b"<m1/>".to_vec(), b"<m2/>".to_vec(), b"empty".to_vec()]
    );

    // Two requests on one keep-alive connection.
    let mut stream = connect(addr);
    for message in [&b"<k1/>"[..], b"<k2/>"] {
        stream
            .write_all(&request("POST", "/", Some("application/iotp"), message))
            .unwrap();
        let response = read_response(&mut stream).unwrap();
        assert_iotp(&response, &[&b"reply:"[..], message].concat());
    }
}

#[test]
fn startup_requests_become_startup_documents() {
    let (_node, addr, seen) = server(r#""startup_paths": ["/pay", "/shop/"]"#);
    let response = raw(
        addr,
        b"GET /pay/\"a\"/purchase?order=17&note=x HTTP/1.1\r\nHost: test\r\n\r\n",
    );
    let document = "<IotpStartupRequest xmlns=\"urn:iotp-rs:http-startup\" Method=\"GET\" \
                    Target=\"/pay/&quot;a&quot;/purchase?order=17&amp;note=x\"/>";
    assert_iotp(&response, format!("reply:{document}").as_bytes());

    let response = raw(
        addr,
        &request(
            "POST",
            "/shop?order=1",
            Some("application/x-www-form-urlencoded"),
            b"a=1&b=<2>&c=\"3\"",
        ),
    );
    let form = "<IotpStartupRequest xmlns=\"urn:iotp-rs:http-startup\" Method=\"POST\" \
                Target=\"/shop?order=1\">a=1&amp;b=&lt;2&gt;&amp;c=\"3\"</IotpStartupRequest>";
    assert_iotp(&response, format!("reply:{form}").as_bytes());

    // A POST without a content type is a startup request too; /payx is not under /pay.
    let response = raw(addr, &request("POST", "/pay", None, b""));
    assert_eq!(response.status, 200);
    let response = raw(addr, b"GET /payx HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(response.status, 405);
    // A startup body that is not UTF-8.
    let response = raw(
        addr,
        &request(
            "POST",
            "/pay",
            Some("application/octet-stream"),
            b"\xff\xfe",
        ),
    );
    assert_eq!(response.status, 415);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [
            document.as_bytes().to_vec(),
            form.as_bytes().to_vec(),
            b"<IotpStartupRequest xmlns=\"urn:iotp-rs:http-startup\" Method=\"POST\" \
              Target=\"/pay\"/>"
                .to_vec(),
        ]
    );
}

#[test]
fn handler_failures_become_http_statuses() {
    let (_node, addr, _seen) = server("");
    for (message, expected) in [(&b"refuse"[..], 404), (b"bad", 400), (b"fail", 503)] {
        let response = raw(
            addr,
            &request("POST", "/", Some("application/iotp"), message),
        );
        assert_eq!(response.status, expected, "{response:?}");
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("text/plain")
        );
        assert_no_cache(&response);
        let body = String::from_utf8(response.body.clone()).unwrap();
        assert_eq!(body.lines().count(), 1, "{body}");
        assert_eq!(
            response.header("retry-after"),
            (expected == 503).then_some("1")
        );
    }
}

#[test]
fn bad_input_gets_4xx_and_the_server_goes_on() {
    let (_node, addr, seen) = server(r#""startup_paths": ["/pay"], "max_body_bytes": 1024"#);

    let response = raw(addr, &request("POST", "/", Some("text/xml"), b"<m/>"));
    assert_eq!(response.status, 415);
    assert_no_cache(&response);

    let response = raw(
        addr,
        &request("PUT", "/", Some("application/iotp"), b"<m/>"),
    );
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    let response = raw(addr, b"DELETE /pay HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, POST"));

    // Too large by Content-Length: answered before any byte of the body is sent.
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/iotp\r\n\
              Content-Length: 5000\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream).unwrap();
    assert_eq!(response.status, 413);

    // Too large while streaming: a chunked body that grows past the limit, never finished.
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/iotp\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
    let chunk = [b'x'; 600];
    for _ in 0..2 {
        stream.write_all(b"258\r\n").unwrap();
        stream.write_all(&chunk).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    let response = read_response(&mut stream).unwrap();
    assert_eq!(response.status, 413);

    // Exactly the limit is fine.
    let body = vec![b'y'; 1024];
    let response = raw(addr, &request("POST", "/", Some("application/iotp"), &body));
    assert_eq!(response.status, 200);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn slow_clients_time_out_and_the_server_goes_on() {
    let (node, addr, seen) = server(r#""read_timeout_ms": 300"#);

    // Half the headers, then nothing: the server closes the connection (or answers 408).
    let mut stream = connect(addr);
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Ty")
        .unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // All the headers, part of the body: 408.
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/iotp\r\n\
              Content-Length: 10\r\n\r\nabc",
        )
        .unwrap();
    let response = read_response(&mut stream).unwrap();
    assert_eq!(response.status, 408);

    // A client that drops mid-body.
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/iotp\r\n\
              Content-Length: 1000\r\n\r\n0123456789",
        )
        .unwrap();
    drop(stream);

    // The server still serves.
    let response = raw(
        addr,
        &request("POST", "/", Some("application/iotp"), b"<m/>"),
    );
    assert_eq!(response.status, 200);
    assert_eq!(seen.lock().unwrap().as_slice(), [b"<m/>".to_vec()]);
    assert!(node.services.count(LogLevel::Debug, "accepted connection") >= 4);

    // A kept-alive connection left idle after an exchange is closed (its thread ends).
    let mut stream = connect(addr);
    stream
        .write_all(&request("POST", "/", Some("application/iotp"), b"<i/>"))
        .unwrap();
    assert_eq!(read_response(&mut stream).unwrap().status, 200);
    assert!(read_to_close(&mut stream).is_empty());
}

#[test]
fn bad_configurations_fail_naming_the_setting() {
    let node = Node::start();
    let nothing = |_: &[u8]| Ok(Vec::new());

    let occupied = TcpListener::bind("127.0.0.1:0").unwrap();
    let occupied = occupied.local_addr().unwrap();
    for (config, logged) in [
        (
            r#""listeners": [], "lisen": 1"#.to_owned(),
            "serve: bad argument: config: unknown field `lisen`".to_owned(),
        ),
        (
            r#""listeners": [{"addr": "127.0.0.1:0"}, {"addr": "127.0.0.1:0",
                "tls": {"cert": "/nonexistent/c.pem", "key": "/nonexistent/k.pem"}}]"#
                .to_owned(),
            "serve: bad argument: listeners[1].tls.cert: cannot read /nonexistent/c.pem: "
                .to_owned(),
        ),
        (
            format!(r#""listeners": [{{"addr": "{occupied}"}}]"#),
            format!("serve: bad argument: listeners[0].addr: cannot listen on {occupied}: "),
        ),
        (
            r#""client": {"trust": ["/nonexistent/ca.pem"]}"#.to_owned(),
            "serve: bad argument: client.trust[0]: cannot read /nonexistent/ca.pem: ".to_owned(),
        ),
    ] {
        let before = node.services.logs().len();
        let error = node.serve(&config, nothing).unwrap_err();
        assert_eq!(status(&error), ErrorStatus::BadArgument);
        let logs = node.services.logs();
        assert!(
            logs[before..]
                .iter()
                .any(|(level, line)| *level == LogLevel::Warn && line.starts_with(&logged)),
            "{logged} not in {logs:?}"
        );
    }
    // Nothing of a failed call is listening.
    assert_eq!(node.services.count(LogLevel::Info, "listening on"), 0);
}

#[test]
fn several_listeners_and_several_calls() {
    let node = Node::start();
    let seen = Seen::default();
    let first = node
        .serve(
            r#""listeners": [{"addr": "127.0.0.1:0"}, {"addr": "localhost:0"}]"#,
            handler(seen.clone()),
        )
        .unwrap();
    let second = node
        .serve(
            r#""listeners": [{"addr": "127.0.0.1:0"}]"#,
            handler(seen.clone()),
        )
        .unwrap();
    // A call with no listeners only applies the client settings.
    assert!(
        node.serve(r#""listeners": []"#, handler(seen.clone()))
            .unwrap()
            .is_empty()
    );
    assert_eq!((first.len(), second.len()), (2, 1));
    for addr in first.iter().chain(&second) {
        let response = raw(
            *addr,
            &request("POST", "/", Some("application/iotp"), b"<m/>"),
        );
        assert_eq!(response.status, 200);
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(
        node.services.count(LogLevel::Info, "listening on http://"),
        3
    );
}

#[test]
fn connections_beyond_their_own_threads_are_served_too() {
    // The first MAX_CONNECTION_THREADS connections get a thread of their own, the others
    // are served on the shared runtime: both kinds answer (other tests' connections may
    // hold some of the threads meanwhile; that only moves the boundary).
    let (_node, addr, _seen) = server("");
    let total = iotp_transport_http::server::MAX_CONNECTION_THREADS + 4;
    let mut streams: Vec<_> = (0..total).map(|_| connect(addr)).collect();
    for (i, stream) in streams.iter_mut().enumerate().rev() {
        let message = format!("<c{i}/>");
        stream
            .write_all(&request(
                "POST",
                "/",
                Some("application/iotp"),
                message.as_bytes(),
            ))
            .unwrap();
        let response = read_response(stream).unwrap();
        assert_iotp(&response, format!("reply:{message}").as_bytes());
    }
}

#[test]
fn a_handler_may_send() {
    // The handler runs on a connection's thread, outside any async runtime: it may call
    // `send` (which drives a runtime of its own on that thread).
    let (_backend, backend_addr, _seen) = server("");
    let client = Arc::new(Node::start());
    let front = Node::start();
    let location = format!("http://{backend_addr}/");
    let addrs = front
        .serve(
            r#""listeners": [{"addr": "127.0.0.1:0"}]"#,
            move |message| client.send(&location, message).map_err(|e| status(&e)),
        )
        .unwrap();
    let mut stream = connect(addrs[0]);
    for message in [&b"<f1/>"[..], b"<f2/>"] {
        stream
            .write_all(&request("POST", "/", Some("application/iotp"), message))
            .unwrap();
        let response = read_response(&mut stream).unwrap();
        assert_iotp(&response, &[&b"reply:"[..], message].concat());
    }
}
