//! The runtime over real HTTP between processes: `iotp serve`, `iotp pay`, the networked
//! `iotp demo`, a misconfigured node, and crash safety (a Payment Handler killed with SIGKILL
//! in the middle of payments and restarted on its database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use iotp::msg::codes::{InquiryType, ProcessState, TradingRole};
use iotp::txn::{EndKind, Timing};
use iotp_plugin_host::testing::{HTTP_TRANSPORT, MOCK_SCHEME, build_rust_plugin};
use iotp_runtime::demo::{self, DemoServer, DemoWorld};
use iotp_runtime::{Node, NodeApps};
use serde_json::Value;

/// The plugin directory: the mock scheme and the HTTP transport, built once, next to the
/// `iotp` executable (where it looks by default).
fn plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let scheme = build_rust_plugin(MOCK_SCHEME).unwrap_or_else(|e| panic!("{e}"));
        let transport = build_rust_plugin(HTTP_TRANSPORT).unwrap_or_else(|e| panic!("{e}"));
        let dir = scheme.parent().unwrap().to_path_buf();
        assert_eq!(transport.parent().unwrap(), dir);
        assert_eq!(
            Path::new(env!("CARGO_BIN_EXE_iotp")).parent().unwrap(),
            dir,
            "the plugins are next to iotp"
        );
        dir
    })
}

/// The plugins, and the SCCD scheme beside them.
fn sccd_plugin() {
    static BUILT: OnceLock<()> = OnceLock::new();
    plugins();
    BUILT.get_or_init(|| {
        build_rust_plugin(iotp_plugin_host::testing::RustPlugin::Package {
            package: "iotp-plugin-sccd",
            lib_name: "iotp_scheme_sccd",
        })
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e}"));
    });
}

fn iotp(args: &[&str]) -> Output {
    plugins();
    Command::new(env!("CARGO_BIN_EXE_iotp"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec")
}

/// An `iotp serve` child, killed on drop.
struct Server {
    child: Child,
    config: PathBuf,
    port: u16,
}

impl Server {
    fn start(world: &DemoWorld, server: DemoServer) -> Server {
        let config = world.write_server_config(server).unwrap();
        Server::start_config(&config, world.port(server))
    }

    fn start_config(config: &Path, port: u16) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_iotp"))
            .args(["serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            config: config.to_path_buf(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "{} exited before listening",
                config.display()
            );
            assert!(
                Instant::now() < deadline,
                "{} does not listen",
                config.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// SIGKILL: no clean-up of any kind.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and a clean exit.
    fn stop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{} stopped with {status}",
            self.config.display()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One raw HTTP/1.1 exchange; the status code and the body.
fn http(port: u16, request: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = text(&response[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, response[head_end + 4..].to_vec())
}

#[test]
fn demo_runs_every_scenario_over_http_between_processes() {
    let data = tempfile::tempdir().unwrap();
    let transcript = tempfile::tempdir().unwrap();
    let out = iotp(&[
        "demo",
        "--json",
        "--scheme",
        "mock",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--transcript",
        transcript.path().to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), iotp::txn::harness::scenarios().len());
    for line in &lines {
        assert_eq!(line["scheme"], "mock", "{line}");
        assert_eq!(line["outcome"], "CompletedOk", "{line}");
        assert!(line["messages"].as_u64().unwrap() >= 2, "{line}");
    }
    // Progress on standard error.
    assert!(text(&out.stderr).contains("[12/12] mock: BaselinePing"));
    // Each role's database and log under DIR/<role>/.
    for role in [
        "merchant",
        "payment-handler",
        "delivery-handler",
        "allinone",
        "consumer",
    ] {
        assert!(data.path().join(role).join("iotp.db").is_file(), "{role}");
        assert!(data.path().join(role).join("node.log").is_file(), "{role}");
    }
    // Every message of the transcript is valid against the RFC's DTD.
    let files: Vec<PathBuf> = std::fs::read_dir(transcript.path())
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    assert!(files.len() > 30, "{} messages", files.len());
    let result = Command::new("xmllint")
        .arg("--noout")
        .arg("--dtdvalid")
        .arg(spec().join("rfc-examples/iotp-v1.0-corrected.dtd"))
        .args(&files)
        .output()
        .expect("xmllint (scripts/setup.sh installs it)");
    assert!(result.status.success(), "{}", text(&result.stderr));
}

#[test]
fn serve_refuses_a_misconfigured_node_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let world = DemoWorld::new(dir.path(), plugins(), "nosuch", false).unwrap();
    let config = world
        .write_server_config(DemoServer::PaymentHandler)
        .unwrap();
    let out = iotp(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("plugins.scheme"), "{err}");
    assert!(err.contains("libiotp_scheme_nosuch"), "{err}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[node]\nname = \"x\"\ndata_dir = \"x\"\nsurprise = 1\n",
    )
    .unwrap();
    let out = iotp(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("surprise"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pay_runs_a_purchase_over_https_and_servers_answer_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let world = DemoWorld::new(dir.path(), plugins(), "mock", true).unwrap();
    let mut ph = Server::start(&world, DemoServer::PaymentHandler);
    let mut merchant = Server::start(&world, DemoServer::Merchant);
    let ca = dir.path().join("tls/ca.pem");
    let url = world.startup_url(&demo::inquiry_purchase());
    assert!(world.payment_handler_url().starts_with("https://"));

    let out = iotp(&["pay", &url, "--json", "--trust", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["outcome"], "CompletedOk", "{answer}");
    assert_eq!(answer["trans_type"], "BaselinePurchase");
    assert!(
        !answer["receipts"].as_array().unwrap().is_empty(),
        "{answer}"
    );

    // Without the CA, the https Payment Handler cannot be trusted: the payment never starts.
    let out = iotp(&["pay", &url, "--json", "--timeout", "5"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // An unknown offer is a 404; a broken message gets an IOTP Error answer; the server goes on.
    let port = merchant.port;
    let (status, _) = http(
        port,
        "GET /pay/nothing-like-this HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 404);
    let garbage = "<IotpMessage>not really";
    let (status, body) = http(
        port,
        &format!(
            "POST /iotp/merchant HTTP/1.1\r\nHost: x\r\nContent-Type: application/iotp\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{garbage}",
            garbage.len()
        ),
    );
    assert_eq!(status, 200);
    let reply = text(&body);
    assert!(reply.contains("XmlNotWellFrmd"), "{reply}");
    let out = iotp(&["pay", &url, "--trust", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("CompletedOk"));

    merchant.stop();
    ph.stop();
}

#[test]
fn a_payment_handler_killed_mid_payment_completes_every_payment_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut world = DemoWorld::new(dir.path(), plugins(), "mock", false).unwrap();
    world.timing = Timing {
        retransmit_after_secs: 1,
        max_transmissions: 60,
        ..Timing::default()
    };
    let mut ph = Server::start(&world, DemoServer::PaymentHandler);
    let mut merchant = Server::start(&world, DemoServer::Merchant);
    let consumer =
        Arc::new(Node::open(world.consumer_config(8, false), NodeApps::default()).unwrap());
    let url = world.startup_url(&demo::inquiry_purchase());

    const THREADS: usize = 8;
    const EACH: usize = 6;
    let completed = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let consumer = consumer.clone();
            let url = url.clone();
            let completed = completed.clone();
            let outcomes = outcomes.clone();
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    let o = consumer.pay(&url, Some(Duration::from_secs(90)));
                    completed.fetch_add(1, Ordering::SeqCst);
                    outcomes.lock().unwrap().push(o);
                }
            })
        })
        .collect();
    // Kill the Payment Handler while payments are under way, leave it down for a moment (the
    // Consumers go on starting purchases at the Merchant), restart it on the same database.
    let deadline = Instant::now() + Duration::from_secs(60);
    while completed.load(Ordering::SeqCst) < THREADS {
        assert!(Instant::now() < deadline, "no payment completes");
        std::thread::sleep(Duration::from_millis(5));
    }
    ph.kill();
    std::thread::sleep(Duration::from_millis(700));
    let config = ph.config.clone();
    let mut ph = Server::start_config(&config, world.port(DemoServer::PaymentHandler));
    for w in workers {
        w.join().unwrap();
    }

    let outcomes: Vec<_> = std::mem::take(&mut *outcomes.lock().unwrap());
    assert_eq!(outcomes.len(), THREADS * EACH);
    let mut payments = Vec::new();
    let logs = || {
        [
            "consumer",
            DemoServer::PaymentHandler.name(),
            DemoServer::Merchant.name(),
        ]
        .iter()
        .map(|n| {
            let log =
                std::fs::read_to_string(world.node_dir(n).join("node.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            format!(
                "== {n}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
    };
    for o in outcomes {
        let o = o.unwrap_or_else(|e| panic!("every payment reaches an outcome: {e}\n{}", logs()));
        assert_eq!(o.process_state, ProcessState::CompletedOk, "{o:?}");
        assert_eq!(o.kind, EndKind::Completed);
        let pay_id = o.receipts[0].process_reference.clone().expect("a PayId");
        payments.push((o.iotp_trans_id, pay_id));
    }
    // The kill interrupted payments: the Consumer had to retransmit.
    let consumer_log =
        std::fs::read_to_string(world.node_dir("consumer").join("node.log")).unwrap();
    assert!(
        consumer_log.contains("the engine will retransmit"),
        "no payment was interrupted"
    );
    // An inquiry answers consistently for every transaction.
    for (trans, _) in &payments {
        let status = consumer
            .inquire(trans, InquiryType::Payment, Some(Duration::from_secs(30)))
            .unwrap();
        assert_eq!(status.process_state, ProcessState::CompletedOk, "{trans}");
    }
    consumer.shutdown();
    merchant.stop();
    ph.stop();

    // Exactly once: one authorisation record per payment at the Payment Handler, under the
    // PayId each receipt names, and each transaction completed there.
    let db = world
        .node_dir(DemoServer::PaymentHandler.name())
        .join("iotp.db");
    let sql = rusqlite::Connection::open(&db).unwrap();
    let records: i64 = sql
        .query_row(
            "SELECT count(*) FROM kv WHERE key LIKE 'handler/%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        records as usize,
        payments.len(),
        "one authorisation per payment"
    );
    for (trans, pay_id) in &payments {
        let exists: i64 = sql
            .query_row(
                "SELECT count(*) FROM kv WHERE key = ?1",
                [format!("handler/{pay_id}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(exists, 1, "{trans}: {pay_id}");
        let finished: bool = sql
            .query_row(
                "SELECT finished FROM transactions WHERE iotp_trans_id = ?1 AND role = ?2",
                [trans.as_str(), TradingRole::PaymentHandler.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert!(finished, "{trans}");
    }
}

/// The README's TOML block after `marker`.
fn readme_toml(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let at = readme.find(marker).expect("the marker is in the README");
    let start = readme[at..].find("```toml\n").expect("a toml block") + at + "```toml\n".len();
    let end = readme[start..].find("```").unwrap() + start;
    readme[start..end].to_owned()
}

#[test]
fn the_readme_node_configuration_starts_a_node() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    let ca = iotp_runtime::tls::LocalCa::create(&dir.path().join("tls"), "test CA").unwrap();
    ca.issue("server", &["127.0.0.1"]).unwrap();
    let port = demo::free_port().unwrap();
    let text = readme_toml("A Payment\nHandler over https").replace("8443", &port.to_string());
    let path = dir.path().join("node.toml");
    std::fs::write(&path, text).unwrap();
    let mut config = iotp_runtime::NodeConfig::from_file(&path).unwrap();
    config.plugins.dir = Some(plugins().to_path_buf());
    let node = Node::open(config, NodeApps::default()).unwrap();
    assert!(dir.path().join("var/payment-handler/iotp.db").is_file());
    TcpStream::connect(("127.0.0.1", port)).expect("listening");
    node.shutdown();
}

#[test]
fn the_readme_wallet_reads() {
    sccd_plugin();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    iotp_runtime::tls::LocalCa::create(&dir.path().join("tls"), "test CA").unwrap();
    let wallet = dir.path().join("wallet.toml");
    std::fs::write(&wallet, readme_toml("The wallet:")).unwrap();
    let port = demo::free_port().unwrap();
    let out = iotp(&[
        "pay",
        &format!("http://127.0.0.1:{port}/pay/books"),
        "--wallet",
        wallet.to_str().unwrap(),
        "--timeout",
        "2",
    ]);
    // Nothing listens there: the wallet was read, the node started, its card was registered
    // with the scheme, and the startup request failed.
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("pay: http://127.0.0.1:"), "{err}");
    assert!(dir.path().join("jane/node.log").is_file(), "{err}");
}

#[test]
fn demo_with_the_sccd_scheme_skips_what_it_cannot_do() {
    sccd_plugin();
    let out = iotp(&["demo", "--json", "--scheme", "sccd"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let skipped: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "Skipped").collect();
    assert_eq!(
        skipped.len(),
        2,
        "the two authentication scenarios: {stdout}"
    );
    assert!(skipped.iter().all(|l| {
        l["reason"]
            .as_str()
            .unwrap()
            .contains("no authentication algorithm")
    }));
    for line in lines.iter().filter(|l| l["outcome"] != "Skipped") {
        assert_eq!(line["outcome"], "CompletedOk", "{line}");
        assert_eq!(line["scheme"], "sccd");
    }
}

#[test]
fn pay_registers_the_wallet_cards_and_pays_with_one_over_sccd() {
    sccd_plugin();
    let dir = tempfile::tempdir().unwrap();
    let world = DemoWorld::new(dir.path(), plugins(), "sccd", true).unwrap();
    let mut ph = Server::start(&world, DemoServer::PaymentHandler);
    let mut merchant = Server::start(&world, DemoServer::Merchant);
    const NUMBER: &str = "4242424242424242";
    let wallet = dir.path().join("jane.toml");
    std::fs::write(
        &wallet,
        format!(
            "scheme = \"sccd\"\ninstrument = \"my-visa\"\ntrust = [\"tls/ca.pem\"]\n\n\
             [[cards]]\nid = \"my-visa\"\nname = \"Jane Consumer\"\ntype = \"VISA\"\n\
             number = \"{NUMBER}\"\nverification = \"321\"\nexp_month = 3\nexp_year = 2031\n\
             postal_code = \"54321\"\ncountry = \"US\"\n"
        ),
    )
    .unwrap();
    let url = world.startup_url(&demo::inquiry_purchase());
    let out = iotp(&["pay", &url, "--json", "--wallet", wallet.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["outcome"], "CompletedOk", "{answer}");
    let receipt = answer["receipts"].to_string();
    assert!(
        receipt.contains("4242"),
        "the receipt names the card's last digits: {receipt}"
    );
    assert!(!receipt.contains(NUMBER), "{receipt}");
    merchant.stop();
    ph.stop();
    // The card number is in the Consumer's wallet and store, nowhere at the servers.
    for server in [DemoServer::Merchant, DemoServer::PaymentHandler] {
        for entry in std::fs::read_dir(world.node_dir(server.name())).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(NUMBER.len()).any(|w| w == NUMBER.as_bytes()),
                "{} holds the card number",
                path.display()
            );
        }
    }
}

#[test]
fn bench_http_completes_purchases_and_reports_them() {
    // The plugins' directory given relative to the current one (the nodes' configurations,
    // elsewhere, must still find it).
    plugins();
    let exe = Path::new(env!("CARGO_BIN_EXE_iotp"));
    let plugin_dir = exe.parent().unwrap();
    let output = Command::new(exe)
        .current_dir(plugin_dir.parent().unwrap())
        .args([
            "bench",
            "http",
            "--seconds",
            "1",
            "--concurrency",
            "2",
            "--json",
        ])
        .arg("--plugin-dir")
        .arg(plugin_dir.file_name().unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let figures: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(figures["concurrency"], 2);
    assert_eq!(figures["failures"], 0);
    let purchases = figures["purchases"].as_u64().unwrap();
    assert!(purchases > 0, "{figures}");
    let per_second = figures["purchases_per_second"].as_f64().unwrap();
    let seconds = figures["seconds"].as_f64().unwrap();
    assert!(
        (per_second * seconds - purchases as f64).abs() < 1.0,
        "{figures}"
    );
    assert!(figures["p50_ms"].as_f64().unwrap() <= figures["p99_ms"].as_f64().unwrap());
    assert!(figures["p99_ms"].as_f64().unwrap() <= figures["max_ms"].as_f64().unwrap());
    // Each process did work for the purchases (this is Linux: /proc is there).
    let cpu = &figures["cpu_ms_per_purchase"];
    for process in ["payment_handler", "merchant", "consumers"] {
        assert!(cpu[process].as_f64().unwrap() > 0.0, "{process}: {figures}");
    }
    let output = iotp(&["bench", "http", "--seconds", "0"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}
