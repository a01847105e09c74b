//! `iotp conformance`: the kit on real plugins (the Rust mock `libiotp_scheme_mock.so`, the C
//! mock, a broken plugin), its outputs and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use iotp_plugin_host::testing::{MOCK_SCHEME, build_rust_plugin, compile_c_plugin, testdata_dir};
use serde_json::Value;

fn iotp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iotp"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("iotp-conformance-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `libiotp_scheme_mock.so`, built once for this test binary.
fn rust_mock() -> &'static str {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build_rust_plugin(MOCK_SCHEME).unwrap_or_else(|e| panic!("{e}")))
        .to_str()
        .unwrap()
}

/// `text` as a C string literal, for a `-D` define.
fn c_string(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

fn c_plugin(dir: &TempDir, source: &Path, name: &str, defines: &[&str]) -> PathBuf {
    let output = dir.0.join(format!("lib{name}.so"));
    compile_c_plugin(source, defines, &output).unwrap_or_else(|e| panic!("{e}"));
    output
}

/// Every scenario of the kit on the mock's claims.
fn every_id() -> Vec<String> {
    iotp_tests::conformance::scenario_ids(&iotp::payapi::mock::MockScheme::claims())
}

#[test]
fn the_rust_mock_plugin_passes() {
    let output = iotp(&["conformance", rust_mock()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    let n = every_id().len();
    assert!(
        text.contains(&format!(
            "{n} scenarios: {n} passed, 0 failed (0 required), 0 skipped: PASS"
        )),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("ID ") && l.contains("RFC"))
    );
    for id in every_id() {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{id} ")) && l.contains(" pass ")),
            "{id}: {text}"
        );
    }
}

#[test]
fn the_c_mock_plugin_passes() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/mock-c/mock.c");
    let dir = TempDir::new("c-mock");
    let plugin = c_plugin(&dir, &source, "iotp_scheme_mock_c", &[]);
    let output = iotp(&["conformance", "--json", plugin.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["passed"], true);
    for s in report["scenarios"].as_array().unwrap() {
        assert_eq!(s["verdict"], "pass", "{s}");
    }
}

#[test]
fn json_is_one_object_with_every_scenario() {
    let output = iotp(&["conformance", "--json", rust_mock()]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    let report: Value = serde_json::from_str(text.trim()).unwrap();
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["passed", "scenarios", "software_id", "subject", "totals"]
    );
    assert_eq!(report["subject"], rust_mock());
    assert_eq!(report["software_id"], "iotp-rs mock scheme 1.0");
    let scenarios = report["scenarios"].as_array().unwrap();
    let ids: Vec<&str> = scenarios
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, every_id());
    for s in scenarios {
        let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "id", "message", "millis", "required", "rfc", "title", "verdict"
            ]
        );
        assert!(s["rfc"].as_str().unwrap().starts_with("RFC "), "{s}");
    }
}

#[test]
fn only_runs_the_named_scenarios_and_junit_is_written() {
    let dir = TempDir::new("junit");
    let junit = dir.0.join("report.xml");
    let output = iotp(&[
        "conformance",
        "--junit",
        junit.to_str().unwrap(),
        rust_mock(),
        "--only",
        "decline",
        "approve-debit",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    let rows: Vec<&str> = text
        .lines()
        .skip(2)
        .take_while(|l| !l.contains(" scenarios: "))
        .filter(|l| !l.starts_with(' '))
        .collect();
    assert_eq!(rows.len(), 9, "{text}");
    assert!(rows[0].starts_with("approve-debit "), "{text}");
    assert!(
        rows[1..].iter().all(|r| r.starts_with("decline-")),
        "{text}"
    );

    let xml = fs::read(&junit).unwrap();
    let tree = iotp::xml::parse_tree(&xml, &iotp::Limits::default()).unwrap();
    assert_eq!(tree.name, "testsuites");
    assert_eq!(tree.attribute("tests"), Some("9"));
    assert_eq!(tree.attribute("failures"), Some("0"));

    // A comma list works too.
    let output = iotp(&[
        "conformance",
        "--json",
        rust_mock(),
        "--only",
        "claims,cancel",
    ]);
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["totals"]["total"], 2);
}

#[test]
fn a_plugin_that_answers_everything_with_req_not_supp_fails_with_exit_1() {
    let claims = "<IotpPluginClaims xmlns=\"urn:iotp-rs:plugin-claims:1\" SoftwareId=\"answers 1.0\">\
        <Role Name=\"Consumer\"/><Role Name=\"PaymentHandler\"/>\
        <Protocol Id=\"x-answers\"/><Brand Id=\"x-answers\"/><Direction Name=\"Debit\"/>\
        <Call Name=\"FindPaymentInstrument\"/>\
        <TestInstrument Id=\"ok\" ProcessState=\"CompletedOk\"/></IotpPluginClaims>";
    let answer = "<IotpPaymentApiResponse xmlns=\"http://www.iotp.org/2000/08/PaymentAPI\">\
        <ErrorResponse ErrorCode=\"ReqNotSupp\" ErrorDesc=\"nothing works\" Severity=\"HardError\">\
        <ErrorLocation ElementType=\"IotpPaymentApiRequest\"/></ErrorResponse></IotpPaymentApiResponse>";
    let dir = TempDir::new("answers");
    let claims_define = format!("CLAIMS={}", c_string(claims));
    let answer_define = format!("ANSWER={}", c_string(answer));
    let plugin = c_plugin(
        &dir,
        &testdata_dir().join("answers.c"),
        "answers",
        &[&claims_define, &answer_define],
    );
    let junit = dir.0.join("report.xml");
    let output = iotp(&[
        "conformance",
        plugin.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{}", stderr(&output));
    assert!(text.contains(": FAIL"), "{text}");
    let row = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row {id}: {text}"))
            .to_owned()
    };
    assert!(row("claims").contains(" fail "), "{text}");
    assert!(
        row("claims").contains("a Consumer must implement CheckPaymentPossibility"),
        "{text}"
    );
    assert!(row("claimed-calls").contains(" fail "), "{text}");
    assert!(row("approve-debit").contains(" fail "), "{text}");
    // The Merchant is the kit's, so discovery is not this plugin's to pass.
    assert!(row("discovery").contains(" skip "), "{text}");
    let xml = fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure type=\"required\""), "{xml}");
}

#[test]
fn a_plugin_that_cannot_be_loaded_exits_2() {
    let output = iotp(&["conformance", "/nonexistent/libnothing.so"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("conformance:"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());

    let dir = TempDir::new("transport");
    let transport = c_plugin(&dir, &testdata_dir().join("transport.c"), "transport", &[]);
    let output = iotp(&["conformance", transport.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(!stderr(&output).is_empty());
}

#[test]
fn an_unknown_scenario_is_a_usage_error() {
    let output = iotp(&["conformance", rust_mock(), "--only", "approve", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("no scenario nope"), "{err}");
    assert!(err.contains("decline-InsuffFunds"), "{err}");
    let output = iotp(&["conformance", "--json", "--junit", "x.xml", rust_mock()]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "--json and --junit exclude each other"
    );
}
