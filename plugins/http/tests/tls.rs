//! HTTPS: a server with a certificate from a test CA (rcgen), and clients trusting that CA,
//! nothing, or another CA. One test, in a binary of its own: the client's trust anchors are
//! the process's.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{Node, connect, handler, read_to_close, status};
use iotp_plugin_host::{ErrorStatus, LogLevel};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA: its certificate's PEM and an issuer for it.
fn make_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// A server certificate for `names`, signed by `issuer`, written to `dir`: (cert, key).
fn server_cert(
    dir: &Path,
    file: &str,
    names: &[&str],
    issuer: &Issuer<'_, KeyPair>,
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, issuer).unwrap();
    let cert_path = dir.join(format!("{file}.pem"));
    let key_path = dir.join(format!("{file}.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn json(path: &Path) -> String {
    serde_json::to_string(path).unwrap()
}

#[test]
fn https_with_trust_anchors() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, ca) = make_ca("IOTP test CA");
    let (other_pem, _other) = make_ca("Another CA");
    let ca_file = dir.path().join("ca.pem");
    let other_file = dir.path().join("other.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    std::fs::write(&other_file, other_pem).unwrap();
    let (cert, key) = server_cert(dir.path(), "server", &["localhost", "127.0.0.1"], &ca);
    let (elsewhere_cert, elsewhere_key) =
        server_cert(dir.path(), "elsewhere", &["pay.example"], &ca);

    let server = Node::start();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addrs = server
        .serve(
            &format!(
                r#""listeners": [
                    {{"addr": "127.0.0.1:0", "tls": {{"cert": {}, "key": {}}}}},
                    {{"addr": "127.0.0.1:0", "tls": {{"cert": {}, "key": {}}}}}
                ]"#,
                json(&cert),
                json(&key),
                json(&elsewhere_cert),
                json(&elsewhere_key)
            ),
            handler(seen.clone()),
        )
        .unwrap();
    let (addr, elsewhere) = (addrs[0], addrs[1]);
    assert_eq!(
        server
            .services
            .count(LogLevel::Info, &format!("listening on https://{addr}")),
        1
    );
    let location = format!("https://{addr}/pay");

    // No trust anchors yet: https is a bad argument.
    let client = Node::start();
    let error = client.send(&location, b"<m/>").unwrap_err();
    assert_eq!(status(&error), ErrorStatus::BadArgument);
    assert_eq!(
        client
            .services
            .count(LogLevel::Warn, "no trust anchors configured (client.trust)"),
        1
    );

    // Trusting another CA: the handshake fails.
    let trust = |file: &Path| {
        format!(
            r#""listeners": [], "client": {{"trust": [{}]}}"#,
            json(file)
        )
    };
    assert!(
        client
            .serve(&trust(&other_file), |_| Ok(Vec::new()))
            .unwrap()
            .is_empty()
    );
    let error = client.send(&location, b"<m/>").unwrap_err();
    assert_eq!(status(&error), ErrorStatus::Io);

    // Trusting the CA: it works, by IP address and by name.
    client.serve(&trust(&ca_file), |_| Ok(Vec::new())).unwrap();
    assert_eq!(client.send(&location, b"<m/>").unwrap(), b"reply:<m/>");
    let by_name = format!("https://localhost:{}/pay", addr.port());
    assert_eq!(client.send(&by_name, b"<n/>").unwrap(), b"reply:<n/>");

    // Hostnames are verified: a certificate of the trusted CA for another name fails.
    let error = client
        .send(&format!("https://{elsewhere}/pay"), b"<x/>")
        .unwrap_err();
    assert_eq!(status(&error), ErrorStatus::Io);

    // A client that is not speaking TLS: the handshake fails, the server goes on.
    let mut stream = connect(addr);
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let _ = read_to_close(&mut stream);
    assert_eq!(client.send(&location, b"<o/>").unwrap(), b"reply:<o/>");
    assert!(
        server.services.count(LogLevel::Debug, "TLS handshake with") >= 1,
        "{:?}",
        server.services.logs()
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [b"<m/>".to_vec(), b"<n/>".to_vec(), b"<o/>".to_vec()]
    );

    // A key file without a key; a key that is not the certificate's.
    for (key_file, logged) in [
        (&cert, "listeners[0].tls.key: no usable private key in "),
        (&elsewhere_key, "listeners[0].tls: "),
    ] {
        let error = server
            .serve(
                &format!(
                    r#""listeners": [{{"addr": "127.0.0.1:0", "tls": {{"cert": {}, "key": {}}}}}]"#,
                    json(&cert),
                    json(key_file)
                ),
                |_| Ok(Vec::new()),
            )
            .unwrap_err();
        assert_eq!(status(&error), ErrorStatus::BadArgument);
        assert_eq!(
            server
                .services
                .count(LogLevel::Warn, &format!("serve: bad argument: {logged}")),
            1,
            "{:?}",
            server.services.logs()
        );
    }
}
