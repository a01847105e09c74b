//! Runs the built `iotp` binary against the shared sample messages and small broken documents.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The RFC 2801 reference material shared beside the repository.
fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec")
}

/// The valid sample messages, sorted.
fn samples() -> Vec<PathBuf> {
    let dir = spec_dir().join("perf-samples");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected the perf samples in {}",
        dir.display()
    );
    files
}

fn sample(name: &str) -> PathBuf {
    spec_dir().join("perf-samples").join(name)
}

fn iotp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iotp"))
        .args(args)
        .output()
        .unwrap()
}

fn iotp_paths(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iotp"))
        .args(args)
        .args(paths)
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
        let dir = std::env::temp_dir().join(format!("iotp-cli-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn ping() -> String {
    fs::read_to_string(sample("ping.xml")).unwrap()
}

/// The ping sample without the required `TransId/@IotpTransId` (line 4).
fn ping_without_trans_id() -> String {
    let text = ping();
    let start = text.find(" IotpTransId=\"").unwrap();
    let end = start + 1 + text[start + 1..].find("\" ").unwrap() + 1;
    let broken = format!("{}{}", &text[..start], &text[end..]);
    assert!(!broken.contains("IotpTransId"));
    broken
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Whether the core finds each sample valid, from `validate --json`.
fn sample_verdicts() -> Vec<(PathBuf, bool)> {
    let files = samples();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = iotp_paths(&["validate", "--json"], &paths);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), files.len(), "{}", stdout(&output));
    let verdicts: Vec<(PathBuf, bool)> = files
        .into_iter()
        .zip(&lines)
        .map(|(file, line)| {
            assert_eq!(line["file"], file.display().to_string());
            (file, line["valid"].as_bool().unwrap())
        })
        .collect();
    let all_valid = verdicts.iter().all(|(_, valid)| *valid);
    assert_eq!(output.status.code(), Some(if all_valid { 0 } else { 1 }));
    verdicts
}

#[test]
fn every_sample_gets_a_verdict() {
    let verdicts = sample_verdicts();
    let files: Vec<&Path> = verdicts.iter().map(|(f, _)| f.as_path()).collect();
    let output = iotp_paths(&["validate"], &files);
    let text = stdout(&output);
    for (file, valid) in &verdicts {
        let verdict = if *valid { "valid" } else { "invalid" };
        let expected = format!("{}: {verdict}", file.display());
        assert!(text.lines().any(|l| l == expected), "{expected} in\n{text}");
    }
    // Every other line is an indented problem.
    assert!(
        text.lines()
            .all(|l| l.starts_with("  ") || l.ends_with(": valid") || l.ends_with(": invalid")),
        "{text}"
    );
}

#[test]
fn valid_with_warnings_exits_0() {
    let output = iotp_paths(&["validate"], &[&sample("ping.xml")]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{}: valid", sample("ping.xml").display()).as_str())
    );
    for problem in lines {
        assert!(
            problem.starts_with("  ") && problem.contains(" Warning "),
            "{problem}"
        );
    }
}

#[test]
fn invalid_message_exits_1_with_its_problem() {
    let dir = TempDir::new("invalid");
    let broken = dir.write("broken.xml", ping_without_trans_id());
    let output = iotp_paths(&["validate"], &[&sample("ping.xml"), &broken]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{}: valid", sample("ping.xml").display()).as_str())
    );
    // Then its warnings, if any; then the broken file.
    let mut lines = lines.skip_while(|l| l.starts_with("  "));
    assert_eq!(
        lines.next(),
        Some(format!("{}: invalid", broken.display()).as_str())
    );
    let problem = lines.next().unwrap();
    assert_eq!(
        problem,
        "  line 4: HardError AttMissing TransId/@IotpTransId: TransId requires attribute IotpTransId"
    );
}

#[test]
fn not_well_formed_exits_1() {
    let dir = TempDir::new("malformed");
    let broken = dir.write("cut.xml", &ping()[..200]);
    let output = iotp_paths(&["validate", "--json"], &[&broken]);
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["valid"], false);
    assert_eq!(lines[0]["errors"][0]["code"], "XmlNotWellFrmd");
}

#[test]
fn missing_file_exits_2_and_the_others_are_still_checked() {
    let dir = TempDir::new("missing");
    let missing = dir.0.join("no-such-file.xml");
    let output = iotp_paths(&["validate"], &[&missing, &sample("ping.xml")]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("cannot read"), "{err}");
    assert!(
        stdout(&output).starts_with(&format!("{}: valid\n", sample("ping.xml").display())),
        "{}",
        stdout(&output)
    );

    // An invalid file does not hide the I/O error's exit code.
    let broken = dir.write("broken.xml", ping_without_trans_id());
    let output = iotp_paths(&["validate", "--json"], &[&broken, &missing]);
    assert_eq!(output.status.code(), Some(2));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["file"], missing.display().to_string());
    assert_eq!(lines[1]["valid"], false);
    assert!(lines[1]["io_error"].is_string());
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(iotp(&[]).status.code(), Some(2));
    assert_eq!(iotp(&["validate"]).status.code(), Some(2));
    assert_eq!(
        iotp(&["validate", "--no-such-flag", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        iotp(&["validate", "--max-size", "lots", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(iotp(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(iotp(&["--help"]).status.code(), Some(0));
}

#[test]
fn json_has_exactly_the_documented_shape() {
    let dir = TempDir::new("json");
    let broken = dir.write("broken.xml", ping_without_trans_id());
    let output = iotp_paths(&["validate", "--json"], &[&sample("ping.xml"), &broken]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 2, "{text}");
    let lines = json_lines(&output);

    let file_keys = BTreeSet::from(["file", "valid", "errors"]);
    assert_eq!(keys(&lines[0]), file_keys);
    assert_eq!(lines[0]["file"], sample("ping.xml").display().to_string());
    assert_eq!(lines[0]["valid"], true);
    // Warnings only, if anything.
    for warning in lines[0]["errors"].as_array().unwrap() {
        assert_eq!(warning["severity"], "Warning");
    }

    assert_eq!(keys(&lines[1]), file_keys);
    assert_eq!(lines[1]["file"], broken.display().to_string());
    assert_eq!(lines[1]["valid"], false);
    let errors = lines[1]["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    let error_keys = BTreeSet::from([
        "code",
        "severity",
        "element",
        "attribute",
        "line",
        "message",
    ]);
    for error in errors {
        assert_eq!(keys(error), error_keys);
        assert!(error["code"].is_string());
        assert!(error["severity"].is_string());
        assert!(error["element"].is_string());
        assert!(error["attribute"].is_string() || error["attribute"].is_null());
        assert!(error["line"].is_u64() || error["line"].is_null());
        assert!(error["message"].is_string());
    }
    let first = &errors[0];
    assert_eq!(first["code"], "AttMissing");
    assert_eq!(first["severity"], "HardError");
    assert_eq!(first["element"], "TransId");
    assert_eq!(first["attribute"], "IotpTransId");
    assert_eq!(first["line"], 4);
}

#[test]
fn json_escapes_file_names() {
    let dir = TempDir::new("names");
    let odd = dir.write("quote\"back\\slash.xml", ping());
    let output = iotp_paths(&["validate", "--json"], &[&odd]);
    assert_eq!(output.status.code(), Some(0));
    let lines = json_lines(&output);
    assert_eq!(lines[0]["file"], odd.display().to_string());
}

#[test]
fn transaction_mode_checks_each_file_and_all_together() {
    let dir = TempDir::new("transaction");
    let broken = dir.write("broken.xml", ping_without_trans_id());
    let ping = sample("ping.xml");
    let output = iotp_paths(&["validate", "--transaction", "--json"], &[&ping]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(json_lines(&output).len(), 1);

    let files = samples();
    let mut paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    paths.push(&broken);
    let missing = dir.0.join("missing.xml");
    paths.push(&missing);
    let output = iotp_paths(&["validate", "--transaction", "--json"], &paths);
    assert_eq!(output.status.code(), Some(2));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), paths.len());
    for (line, path) in lines.iter().zip(&paths) {
        assert_eq!(line["file"], path.display().to_string());
    }
    let broken_line = &lines[files.len()];
    assert_eq!(broken_line["valid"], false);
    assert_eq!(broken_line["errors"][0]["code"], "AttMissing");
}

#[test]
fn file_over_the_limit_is_refused_as_msg_too_large() {
    let dir = TempDir::new("large");
    let mut big = ping().into_bytes();
    let comment_at = big.len();
    big.resize(5 * 1024 * 1024 + 1, b' ');
    big[comment_at..comment_at + 4].copy_from_slice(b"<!--");
    let end = big.len() - 4;
    big[end..].copy_from_slice(b"-->\n");
    let large = dir.write("large.xml", &big);

    let output = iotp_paths(&["validate", "--json"], &[&large]);
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["valid"], false);
    let errors = lines[0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], "MsgTooLarge");
    assert_eq!(errors[0]["severity"], "HardError");
    assert_eq!(errors[0]["element"], "IotpMessage");
    assert_eq!(errors[0]["attribute"], Value::Null);
    assert_eq!(errors[0]["line"], Value::Null);

    // A larger limit lets it through to the reader.
    let output = iotp_paths(&["validate", "--max-size", "6000000"], &[&large]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    // A smaller one refuses the small sample.
    let output = iotp_paths(&["validate", "--max-size", "100"], &[&sample("ping.xml")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("MsgTooLarge"));

    let output = iotp_paths(&["fmt"], &[&large]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    assert!(stderr(&output).contains("MsgTooLarge"));
}

#[cfg(target_os = "linux")]
#[test]
fn a_pipe_is_cut_at_the_limit() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iotp"))
        .args(["validate", "--json", "--max-size", "100", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The command may stop reading at the limit: a broken pipe here is fine.
    let _ = stdin.write_all(ping().as_bytes());
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json_lines(&output)[0]["errors"][0]["code"], "MsgTooLarge");
}

#[test]
fn fmt_output_revalidates_and_is_a_fixed_point() {
    let dir = TempDir::new("fmt");
    let mut formatted_any = false;
    for (file, valid) in sample_verdicts() {
        let output = iotp_paths(&["fmt"], &[&file]);
        if !valid {
            assert_eq!(output.status.code(), Some(1));
            assert!(output.stdout.is_empty());
            assert!(!output.stderr.is_empty());
            continue;
        }
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let formatted = stdout(&output);
        assert!(formatted.starts_with("<?xml"), "{formatted}");
        let name = file.file_name().unwrap().to_str().unwrap();
        let again = dir.write(name, &formatted);

        let output = iotp_paths(&["validate"], &[&again]);
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

        let output = iotp_paths(&["fmt"], &[&again]);
        assert_eq!(output.status.code(), Some(0));
        assert_eq!(
            stdout(&output),
            formatted,
            "fmt is not a fixed point for {name}"
        );
        formatted_any = true;
    }
    assert!(formatted_any, "no sample is valid: nothing was formatted");
}

#[test]
fn fmt_refuses_an_invalid_message() {
    let dir = TempDir::new("fmt-invalid");
    let broken = dir.write("broken.xml", ping_without_trans_id());
    let output = iotp_paths(&["fmt"], &[&broken]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(err.contains("AttMissing"), "{err}");
    assert!(err.contains(&broken.display().to_string()), "{err}");

    let output = iotp_paths(&["fmt"], &[&dir.0.join("missing.xml")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
}

#[test]
fn inspect_resolves_references() {
    let file = sample("tpo_offer_6k.xml");
    let valid = iotp_paths(&["validate"], &[&file]).status.code();
    let output = iotp_paths(&["inspect"], &[&file]);
    // The same verdict as `validate`; the tree is shown either way.
    assert_eq!(output.status.code(), valid, "{}", stderr(&output));
    let text = stdout(&output);
    let tree = match valid {
        Some(0) => text.as_str(),
        _ => {
            assert!(text.starts_with("note: NOT VALID"), "{text}");
            &text[text.find("\nIotpMessage").unwrap() + 1..]
        }
    };
    assert!(tree.starts_with("IotpMessage\n"), "{text}");
    // Indentation follows depth.
    assert!(text.contains("\n  TpoBlk ID=M1.3\n"), "{text}");
    assert!(text.contains("\n    BrandList ID=M1.5 "), "{text}");
    for expected in [
        "↳ BrandListRef M1.5 → BrandList \"Payment brands accepted by Example Books\"",
        "↳ ActionOrgRef M1.18 → Org \"Example Acquiring Bank plc (payments.example.net)\"",
        "↳ ProtocolAmountRefs M1.9 → ProtocolAmount",
        "↳ CurrencyAmountRefs M1.12 → CurrencyAmount \"3995 USD\"",
        "↳ PayProtocolRef M1.13 → PayProtocol \"Secure Electronic Transaction\"",
        "↳ DelivToRef M1.16 → Org \"Jane Q. Consumer (consumer.example.org)\"",
        "PackagedContent Name=OrderDetails Content=MIME:application/octet-stream Transform=BASE64 <",
        " bytes base64>",
        "PackagedContent Name=Summary Content=PCDATA \"Qty 1 The XML Handbook",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains("not in this message"), "{text}");
}

#[test]
fn inspect_marks_references_outside_the_message() {
    let dir = TempDir::new("inspect-dangling");
    let text = ping().replace("<MsgId ID=\"I1\"", "<MsgId ID=\"I1\" RespIotpMsg=\"M7\"");
    let file = dir.write("resp.xml", text);
    let output = iotp_paths(&["inspect"], &[&file]);
    assert!(matches!(output.status.code(), Some(0 | 1)));
    let text = stdout(&output);
    assert!(
        text.contains("↳ RespIotpMsg M7 → (not in this message)"),
        "{text}"
    );
}

#[test]
fn inspect_notes_problems_first() {
    let dir = TempDir::new("inspect-invalid");
    let broken = dir.write("broken.xml", ping_without_trans_id());
    let output = iotp_paths(&["inspect"], &[&broken]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.starts_with("note: NOT VALID"), "{text}");
    assert!(text.contains("AttMissing TransId/@IotpTransId"), "{text}");
    assert!(text.contains("\nIotpMessage"), "{text}");

    let cut = dir.write("cut.xml", &ping()[..200]);
    let output = iotp_paths(&["inspect"], &[&cut]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("XmlNotWellFrmd"));

    let output = iotp_paths(&["inspect"], &[&dir.0.join("missing.xml")]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn many_files_in_one_run() {
    let file = sample("ping.xml");
    let paths: Vec<&Path> = std::iter::repeat_n(file.as_path(), 2000).collect();
    let output = iotp_paths(&["validate", "--json"], &paths);
    assert_eq!(output.status.code(), Some(0));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2000);
    assert!(lines.iter().all(|line| line["valid"] == true));
}

/// The demo's transaction types: every baseline transaction of RFC 2801.
const TRANSACTION_TYPES: [&str; 8] = [
    "BaselinePurchase",
    "BaselineRefund",
    "BaselineDeposit",
    "BaselineWithdrawal",
    "BaselineValueExchange",
    "BaselineAuthentication",
    "BaselineInquiry",
    "BaselinePing",
];

const ROLES: [&str; 4] = ["consumer", "merchant", "paymenthandler", "deliveryhandler"];

/// The variant as it appears in a transcript directory name.
fn slug(variant: &str) -> String {
    let words: Vec<String> = variant
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.join("-")
}

#[test]
fn demo_in_process_json_completes_every_transaction() {
    let output = iotp(&["demo", "--in-process", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 12, "{text}");
    let mut types = BTreeSet::new();
    for (raw, line) in text.lines().zip(&lines) {
        assert_eq!(line["outcome"], "CompletedOk", "{raw}");
        let transaction = line["transaction"].as_str().unwrap();
        let variant = line["variant"].as_str().unwrap();
        let messages = line["messages"].as_u64().unwrap();
        assert!(messages >= 2, "{raw}");
        types.insert(transaction);
        // Exactly the documented shape, keys in order; a completion code only when there is one.
        let expected = format!(
            r#"{{"transaction": "{transaction}", "variant": "{variant}", "outcome": "CompletedOk", "messages": {messages}"#
        );
        let rest = raw
            .strip_prefix(&expected)
            .unwrap_or_else(|| panic!("{raw}"));
        match line.get("completion_code") {
            Some(code) => assert_eq!(rest, format!(r#", "completion_code": {code}}}"#)),
            None => assert_eq!(rest, "}"),
        }
    }
    assert_eq!(types, BTreeSet::from(TRANSACTION_TYPES), "{text}");

    // The table: a header, a rule, one row per scenario, then the summary.
    let output = iotp(&["demo", "--in-process"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = stdout(&output);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("transaction "), "{table}");
    assert!(rows[0].ends_with("messages"), "{table}");
    for (row, line) in rows[2..14].iter().zip(&lines) {
        assert!(
            row.starts_with(line["transaction"].as_str().unwrap()),
            "{table}"
        );
        assert!(row.contains(line["variant"].as_str().unwrap()), "{table}");
        assert!(row.contains("CompletedOk"), "{table}");
        assert!(row.ends_with(&format!(" {}", line["messages"])), "{table}");
    }
    assert_eq!(rows.last(), Some(&"12 of 12 scenarios completed ok"));
}

#[test]
fn demo_transcript_writes_dtd_valid_messages() {
    let xmllint = Command::new("xmllint").arg("--version").output();
    assert!(
        xmllint.is_ok(),
        "xmllint is missing: run scripts/setup.sh (installs libxml2-utils)"
    );
    let dir = TempDir::new("demo-transcript");
    let out = dir.0.join("transcript");
    let output = iotp(&[
        "demo",
        "--in-process",
        "--json",
        "--transcript",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 12);

    let mut scenario_dirs: Vec<PathBuf> = fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    scenario_dirs.sort();
    assert_eq!(scenario_dirs.len(), lines.len());
    let mut written = Vec::new();
    for (index, (scenario_dir, line)) in scenario_dirs.iter().zip(&lines).enumerate() {
        let expected = format!(
            "{:02}-{}-{}",
            index + 1,
            line["transaction"].as_str().unwrap(),
            slug(line["variant"].as_str().unwrap())
        );
        assert_eq!(
            scenario_dir.file_name().unwrap().to_str().unwrap(),
            expected
        );
        let mut files: Vec<String> = fs::read_dir(scenario_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files.len() as u64, line["messages"].as_u64().unwrap());
        for (n, name) in files.iter().enumerate() {
            // NNN-<sender>-to-<receiver>.xml, numbered from 001 without gaps.
            let rest = name
                .strip_prefix(&format!("{:03}-", n + 1))
                .and_then(|rest| rest.strip_suffix(".xml"))
                .unwrap_or_else(|| panic!("{expected}/{name}"));
            let (from, to) = rest
                .split_once("-to-")
                .unwrap_or_else(|| panic!("{expected}/{name}"));
            assert!(ROLES.contains(&from), "{expected}/{name}");
            assert!(ROLES.contains(&to), "{expected}/{name}");
            assert_ne!(from, to, "{expected}/{name}");
            written.push(scenario_dir.join(name));
        }
        // The Consumer takes part in every exchange.
        assert!(
            files.iter().all(|f| f.contains("consumer")),
            "{expected}: {files:?}"
        );
    }
    assert!(written.len() >= 40, "{}", written.len());

    let result = Command::new("xmllint")
        .arg("--noout")
        .arg("--dtdvalid")
        .arg(spec_dir().join("rfc-examples/iotp-v1.0-corrected.dtd"))
        .args(&written)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "xmllint rejected demo messages:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );

    // The messages are the engine's own: our reader finds them valid too.
    let paths: Vec<&Path> = written.iter().map(PathBuf::as_path).collect();
    let output = iotp_paths(&["validate"], &paths);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn demo_usage_errors_exit_2() {
    // The networked demo's options mean nothing to the in-process one.
    let output = iotp(&["demo", "--in-process", "--scheme", "mock"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(err.contains("--scheme and --data-dir"), "{err}");

    // A plugin directory without the HTTP transport: told how to build it.
    let empty = std::env::temp_dir().join(format!("iotp-cli-empty-{}", std::process::id()));
    fs::create_dir_all(&empty).unwrap();
    let output = iotp(&["demo", "--plugin-dir", empty.to_str().unwrap()]);
    let _ = fs::remove_dir_all(&empty);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(
        err.contains("libiotp_transport_http.so is missing"),
        "{err}"
    );
    assert!(err.contains("cargo build --release --workspace"), "{err}");
}

#[test]
fn demo_transcript_that_cannot_be_written_exits_2() {
    let dir = TempDir::new("demo-unwritable");
    // A file where the directory should be.
    let file = dir.write("not-a-dir", "x");
    let output = iotp(&[
        "demo",
        "--in-process",
        "--transcript",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot write"),
        "{}",
        stderr(&output)
    );
}

/// Builds `plugins/testdata/<source>.c` with `defines` into `dir` as `lib<name>.so`.
fn c_plugin(dir: &TempDir, source: &str, name: &str, defines: &[&str]) -> PathBuf {
    use iotp_plugin_host::testing::{compile_c_plugin, testdata_dir};
    let output = dir.0.join(format!("lib{name}.so"));
    compile_c_plugin(
        &testdata_dir().join(format!("{source}.c")),
        defines,
        &output,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    output
}

/// `text` as a C string literal, for a `-D` define.
fn c_string(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

#[test]
fn plugin_inspect_shows_the_descriptor_and_claims_without_running_the_plugin() {
    use iotp::payapi::mock::MockScheme;

    let dir = TempDir::new("plugin-inspect");
    // Its entry point aborts the process: inspecting must not call it. It claims what the
    // mock scheme claims.
    let claims = format!("CLAIMS={}", c_string(&MockScheme::claims().to_xml()));
    let plugin = c_plugin(
        &dir,
        "handshake",
        "scheme",
        &["NAME=\"sccd-test\"", "ABORT_IN_ENTRY", &claims],
    );
    let path = plugin.to_str().unwrap();

    let output = iotp(&["plugin", "inspect", path]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("plugin:       {path}"));
    assert_eq!(
        lines[1..13],
        [
            "name:         sccd-test",
            "version:      1.0.0",
            "kind:         payment-scheme",
            "ABI version:  1 (this host: 1)",
            "software id:  iotp-rs mock scheme 1.0",
            "roles:        Consumer, Merchant, PaymentHandler",
            "protocols:    x-iotp-mock",
            "brands:       x-mockcard",
            "directions:   Debit, Credit",
            "auth:         x-iotp-mock-challenge",
            "calls:        FindAcceptedPaymentBrand, FindAcceptedPaymentProtocol, \
             GetPaymentInitializationData, InquireAuthChallenge, Authenticate, \
             CheckAuthResponse, FindPaymentInstrument, CheckPaymentPossibility, \
             StartPaymentConsumer, StartPaymentInquiry, StartPaymentPaymentHandler, \
             InquirePaymentStatus, ContinueProcess, ChangeProcessState, InquireProcessState, \
             CheckPaymentReceipt, ExpandPaymentReceipt, RemovePaymentLog",
            "instrument:   approve: CompletedOk",
        ]
    );
    assert_eq!(
        lines[13..16],
        [
            "instrument:   extra-round: CompletedOk after 1 exchange round",
            "instrument:   timeout: TransientError every time",
            "instrument:   decline-BrandNotSupp: Failed BrandNotSupp",
        ]
    );
    assert_eq!(lines.len(), 4 + 1 + 7 + 3 + 8, "{text}");
    assert!(output.stderr.is_empty());

    let output = iotp(&["plugin", "inspect", "--json", path]);
    assert_eq!(output.status.code(), Some(0));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(
        keys(line),
        BTreeSet::from([
            "plugin",
            "name",
            "version",
            "kind",
            "abi_version",
            "host_abi_version",
            "claims"
        ])
    );
    assert_eq!(line["plugin"], path);
    assert_eq!(line["name"], "sccd-test");
    assert_eq!(line["version"], "1.0.0");
    assert_eq!(line["kind"], "payment-scheme");
    assert_eq!(line["abi_version"], 1);
    assert_eq!(line["host_abi_version"], 1);
    let claims = &line["claims"];
    let expected = MockScheme::claims();
    assert_eq!(claims["software_id"], expected.software_id.as_str());
    assert_eq!(
        claims["roles"],
        serde_json::json!(["Consumer", "Merchant", "PaymentHandler"])
    );
    assert_eq!(claims["protocols"], serde_json::json!(["x-iotp-mock"]));
    assert_eq!(claims["brands"], serde_json::json!(["x-mockcard"]));
    assert_eq!(claims["directions"], serde_json::json!(["Debit", "Credit"]));
    assert_eq!(
        claims["auth_algorithms"],
        serde_json::json!(["x-iotp-mock-challenge"])
    );
    assert_eq!(claims["calls"], serde_json::json!(expected.calls));
    let instruments = claims["test_instruments"].as_array().unwrap();
    assert_eq!(instruments.len(), expected.test_instruments.len());
    assert_eq!(
        instruments[1],
        serde_json::json!({"id": "extra-round", "process_state": "CompletedOk",
            "completion_code": null, "exchange_rounds": 1, "transient": false})
    );
    assert_eq!(
        instruments[3],
        serde_json::json!({"id": "decline-BrandNotSupp", "process_state": "Failed",
            "completion_code": "BrandNotSupp", "exchange_rounds": 0, "transient": false})
    );

    // A transport claims nothing.
    let transport = c_plugin(&dir, "transport", "transport", &[]);
    let output = iotp(&["plugin", "inspect", "--json", transport.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let line = &json_lines(&output)[0];
    assert_eq!(line["kind"], "transport");
    assert!(line["claims"].is_null());
    let output = iotp(&["plugin", "inspect", transport.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).ends_with("\nclaims:       none (a transport claims nothing)\n"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn plugin_inspect_of_a_scheme_without_readable_claims_exits_1_without_running_it() {
    let dir = TempDir::new("plugin-inspect-claims");
    for (name, defines, says) in [
        (
            "noclaims",
            &["ABORT_IN_ENTRY"][..],
            "payment scheme plugin handshake publishes no claims (its descriptor's `claims` \
             is NULL): the host cannot tell which brands and protocols it handles",
        ),
        (
            "badclaims",
            &[
                "ABORT_IN_ENTRY",
                "CLAIMS=\"<IotpPluginClaims SoftwareId='x'><Role Name='Pirate'/></IotpPluginClaims>\"",
            ][..],
            "payment scheme plugin handshake publishes unreadable claims: claims: unknown \
             role Pirate",
        ),
        (
            "brokenclaims",
            &["ABORT_IN_ENTRY", "CLAIMS=\"<IotpPluginClaims\""][..],
            "payment scheme plugin handshake publishes unreadable claims: claims: ",
        ),
    ] {
        let plugin = c_plugin(&dir, "handshake", name, defines);
        for json in [false, true] {
            let mut args = vec!["plugin", "inspect"];
            if json {
                args.push("--json");
            }
            args.push(plugin.to_str().unwrap());
            let output = iotp(&args);
            assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
            assert!(output.stdout.is_empty());
            let err = stderr(&output);
            assert!(
                err.starts_with(&format!("iotp: {}: {says}", plugin.display())),
                "{err}"
            );
        }
    }
}

#[test]
fn plugin_inspect_of_a_mismatched_abi_exits_1_without_running_it() {
    let dir = TempDir::new("plugin-inspect-abi");
    for (abi, relation) in [("2", "newer"), ("0", "older")] {
        let plugin = c_plugin(
            &dir,
            "handshake",
            &format!("abi{abi}"),
            &[&format!("DESCRIPTOR_ABI={abi}"), "ABORT_IN_ENTRY"],
        );
        for json in [false, true] {
            let mut args = vec!["plugin", "inspect"];
            if json {
                args.push("--json");
            }
            args.push(plugin.to_str().unwrap());
            let output = iotp(&args);
            assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
            assert!(output.stdout.is_empty());
            assert_eq!(
                stderr(&output),
                format!(
                    "iotp: {}: the plugin's descriptor is for ABI version {abi}, {relation} than \
                     this host's ABI version 1: rebuild the plugin against include/iotp_plugin.h \
                     of ABI version 1\n",
                    plugin.display()
                )
            );
        }
    }
}

#[test]
fn plugin_inspect_of_an_unusable_plugin_exits_1() {
    let dir = TempDir::new("plugin-inspect-unusable");
    for (defines, says) in [
        (&["NO_ENTRY"][..], "exports no `iotp_plugin_entry` function"),
        (
            &["DESCRIPTOR_SIZE=8"][..],
            "descriptor is 8 bytes, smaller than the 32 bytes",
        ),
        (
            &["DESCRIPTOR_KIND=9"][..],
            "kind 9 is neither a payment scheme (1) nor a transport (2)",
        ),
    ] {
        let plugin = c_plugin(
            &dir,
            "handshake",
            defines[0].split('=').next().unwrap(),
            defines,
        );
        let output = iotp(&["plugin", "inspect", plugin.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{defines:?}");
        assert!(output.stdout.is_empty());
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
    }
}

#[test]
fn plugin_inspect_of_what_is_no_plugin_exits_2() {
    let dir = TempDir::new("plugin-inspect-none");
    let text = dir.write("libtext.so", "not a library\n");
    let no_descriptor = c_plugin(&dir, "handshake", "plain", &["NO_DESCRIPTOR"]);
    let missing = dir.0.join("libmissing.so");
    for (path, says) in [
        (&text, "cannot load as a shared library: "),
        (
            &no_descriptor,
            "not an IOTP plugin: it exports no `iotp_plugin_descriptor` symbol",
        ),
        (&missing, "cannot load as a shared library: "),
    ] {
        let output = iotp(&["plugin", "inspect", "--json", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{}", path.display());
        assert!(output.stdout.is_empty());
        let err = stderr(&output);
        assert!(
            err.starts_with(&format!("iotp: {}: {says}", path.display())),
            "{err}"
        );
    }
    let output = iotp(&["plugin", "inspect"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn bench_read_reports_each_file_and_refuses_a_missing_one() {
    let six_k = sample("tpo_offer_6k.xml");
    let ping = sample("ping.xml");
    let output = iotp_paths(
        &["bench", "read", "--seconds", "1", "--json"],
        &[&six_k, &ping],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2);
    for (line, path) in lines.iter().zip([&six_k, &ping]) {
        assert_eq!(
            keys(line),
            BTreeSet::from(["file", "bytes", "reads", "us_per_read", "errors"])
        );
        assert_eq!(line["file"], path.to_str().unwrap());
        assert_eq!(line["bytes"], fs::metadata(path).unwrap().len());
        assert!(line["reads"].as_u64().unwrap() >= 64);
        assert!(line["us_per_read"].as_f64().unwrap() > 0.0);
    }
    // The same problems as `iotp validate` reports for the file.
    let validated = json_lines(&iotp_paths(&["validate", "--json"], &[&six_k]));
    assert_eq!(
        lines[0]["errors"].as_u64().unwrap() as usize,
        validated[0]["errors"].as_array().unwrap().len()
    );
    let output = iotp(&["bench", "read", "--seconds", "1", "no-such-file.xml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no-such-file.xml"),
        "{}",
        stderr(&output)
    );
}
