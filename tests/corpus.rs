//! The golden corpus (tests/data), the RFC's own examples, and hostile input.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use iotp::{IotpMessage, Limits, Report};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec")
}

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> Report {
    Report::read(&std::fs::read(path).unwrap(), &Limits::default())
}

fn describe(report: &Report) -> String {
    report.errors.iter().map(|e| format!("\n  {e}")).collect()
}

/// Every valid message reads without any problem (not even a warning), round-trips to an equal
/// model, and its canonical form is a fixed point.
#[test]
fn valid_corpus_reads_and_round_trips() {
    let files = xml_files(&data().join("valid"));
    assert!(files.len() >= 40, "the valid corpus is missing");
    for path in files {
        let report = read(&path);
        assert!(
            report.errors.is_empty(),
            "{}:{}",
            path.display(),
            describe(&report)
        );
        let message = report.message.unwrap();
        let written = message.to_xml();
        assert!(written.starts_with("<?xml version=\"1.0\""));
        let again = IotpMessage::from_xml(written.as_bytes()).unwrap();
        assert_eq!(
            again,
            message,
            "{}: round trip changed the model",
            path.display()
        );
        assert_eq!(
            again.to_xml(),
            written,
            "{}: writing is not a fixed point",
            path.display()
        );
    }
}

/// Every message the writer emits is valid against the RFC's (errata-corrected) DTD.
#[test]
fn written_messages_are_dtd_valid() {
    let xmllint = Command::new("xmllint").arg("--version").output();
    assert!(
        xmllint.is_ok(),
        "xmllint is missing: run scripts/setup.sh (installs libxml2-utils)"
    );
    let not_dtd_valid =
        std::fs::read_to_string(data().join("valid/NOT-DTD-VALID.txt")).unwrap_or_default();
    let out = std::env::temp_dir().join(format!("iotp-dtd-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let mut written = Vec::new();
    let sources = xml_files(&data().join("valid"))
        .into_iter()
        .chain(xml_files(&spec().join("perf-samples")));
    for path in sources {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if not_dtd_valid
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str()))
        {
            continue;
        }
        let report = read(&path);
        let Some(message) = report.message else {
            continue;
        };
        let target = out.join(&name);
        std::fs::write(&target, message.to_xml()).unwrap();
        written.push(target);
    }
    assert!(written.len() >= 40);
    let result = Command::new("xmllint")
        .arg("--noout")
        .arg("--dtdvalid")
        .arg(spec().join("rfc-examples/iotp-v1.0-corrected.dtd"))
        .args(&written)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        result.status.success(),
        "xmllint rejected written messages:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The messages of each transaction validate together (references across messages resolve, IDs
/// denote the same content everywhere). Inquiries are checked with the purchase they ask about.
#[test]
fn transactions_validate_together() {
    let tsv = std::fs::read_to_string(data().join("valid/TRANSACTIONS.tsv")).unwrap();
    let groups: Vec<(String, Vec<String>)> = tsv
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, f)| {
            (
                t.to_owned(),
                f.split_whitespace().map(str::to_owned).collect(),
            )
        })
        .collect();
    assert!(groups.len() >= 10);
    let purchase = groups
        .iter()
        .find(|(t, _)| t == "purchase")
        .unwrap()
        .1
        .clone();
    for (name, files) in &groups {
        let files: Vec<String> = if name.starts_with("inquiry") {
            purchase.iter().chain(files).cloned().collect()
        } else {
            files.clone()
        };
        let messages: Vec<IotpMessage> = files
            .iter()
            .map(|f| read(&data().join("valid").join(f)).message.unwrap())
            .collect();
        let refs: Vec<&IotpMessage> = messages.iter().collect();
        let problems = iotp::msg::validate_transaction(&refs);
        for (file, found) in files.iter().zip(problems) {
            assert!(found.is_empty(), "{name}/{file}: {found:#?}");
        }
    }
}

/// A transaction whose messages disagree is caught: a Brand Selection naming a Brand of
/// another Brand List, and a changed component under a reused ID.
#[test]
fn transaction_level_defects_are_found() {
    let valid = data().join("valid");
    let tpo = read(&valid.join("purchase-01-tpo.xml")).message.unwrap();
    let mut selection = read(&valid.join("purchase-02-tpo-selection.xml"))
        .message
        .unwrap();
    if let iotp::TradingBlock::TpoSelection(sel) = &mut selection.blocks[0] {
        sel.brand_selections[0].brand_ref = sel.brand_selections[0].brand_list_ref.clone();
    }
    let problems = iotp::msg::validate_transaction(&[&tpo, &selection]);
    assert!(
        problems[1]
            .iter()
            .any(|e| e.code == iotp::ErrorCode::ElInconsistent),
        "{problems:#?}"
    );

    let mut changed = tpo.clone();
    changed.trans_ref.message_id.id = "M9".into();
    changed.trans_ref.message_id.software_id = "changed/1.0".into();
    let problems = iotp::msg::validate_transaction(&[&tpo, &selection, &changed]);
    assert!(
        problems[2]
            .iter()
            .any(|e| e.code == iotp::ErrorCode::ElInconsistent)
    );
}

/// Each invalid message yields its expected code, element and attribute (EXPECTED.tsv).
#[test]
fn invalid_corpus_yields_expected_codes() {
    let dir = data().join("invalid");
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut checked = 0;
    let mut codes = std::collections::BTreeSet::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, code, element, att) = (cols[0], cols[1], cols[2], cols[3]);
        let report = read(&dir.join(file));
        let found = report.errors.iter().any(|e| {
            e.code.as_str() == code
                && e.location.element_type == element
                && e.location.att_name.as_deref().unwrap_or("") == att
        });
        assert!(
            found,
            "{file}: expected {code} {element}/@{att}, got:{}",
            describe(&report)
        );
        codes.insert(code.to_owned());
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} invalid files");
    assert!(codes.len() >= 12, "codes covered: {codes:?}");
}

/// The RFC's own examples and the problems their defects produce (catalogued in
/// data/README.md). They are fragments, so they are read as `iotp validate --fragment` does.
#[test]
fn rfc_examples_catalogue() {
    let catalogue = std::fs::read_to_string(data().join("rfc-examples.tsv")).unwrap();
    for line in catalogue
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols[1]);
        let bytes = std::fs::read(spec().join("rfc-examples").join(file)).unwrap();
        let report = Report::read_fragment(&bytes, &Limits::default());
        let mut got: Vec<String> = report
            .errors
            .iter()
            .map(|e| {
                let att = e
                    .location
                    .att_name
                    .as_deref()
                    .map(|a| format!("/@{a}"))
                    .unwrap_or_default();
                format!("{}:{}{att}", e.code, e.location.element_type)
            })
            .collect();
        got.dedup();
        let want: Vec<String> = if expected == "-" {
            Vec::new()
        } else {
            expected.split(',').map(|s| s.trim().to_owned()).collect()
        };
        assert_eq!(got, want, "{file}");
    }
}

/// Hostile input: too large, entity bombs, external entities, deep nesting, random bytes.
#[test]
fn hostile_input_is_refused_cleanly() {
    let limits = Limits::default();
    let mut huge = b"<IotpMessage>".to_vec();
    huge.resize(32 * 1024 * 1024, b' ');
    let started = std::time::Instant::now();
    let report = Report::read(&huge, &limits);
    assert_eq!(report.errors[0].code, iotp::ErrorCode::MsgTooLarge);
    assert!(started.elapsed().as_secs() < 5);

    let bomb = br#"<?xml version="1.0"?><!DOCTYPE IotpMessage [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><IotpMessage>&c;</IotpMessage>"#;
    assert_eq!(
        Report::read(bomb, &limits).errors[0].code,
        iotp::ErrorCode::XmlNotValid
    );
    let external = br#"<!DOCTYPE IotpMessage [<!ENTITY x SYSTEM "file:///etc/passwd">]><IotpMessage>&x;</IotpMessage>"#;
    assert_eq!(
        Report::read(external, &limits).errors[0].code,
        iotp::ErrorCode::XmlNotValid
    );
    let deep = "<IotpMessage>".to_owned() + &"<TransRefBlk>".repeat(100_000);
    assert_eq!(
        Report::read(deep.as_bytes(), &limits).errors[0].code,
        iotp::ErrorCode::ElTooLarge
    );

    // A broken message still yields its TransRefBlk (§4.5.2.1).
    let valid = std::fs::read(data().join("valid/purchase-01-tpo.xml")).unwrap();
    let broken = &valid[..valid.len() - 20];
    let report = Report::read(broken, &limits);
    assert_eq!(report.errors[0].code, iotp::ErrorCode::XmlNotWellFrmd);
    assert!(report.trans_ref.is_some(), "TransRefBlk not salvaged");

    // Deterministic mutations of a valid message never panic.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut m = valid.clone();
        for k in 0..4 {
            let i = ((seed >> (k * 16)) as usize) % m.len();
            m[i] = (seed >> (k * 8)) as u8;
        }
        let cut = (seed as usize) % m.len();
        let _ = Report::read(&m, &limits);
        let _ = Report::read(&m[..cut], &limits);
        let _ = Report::read_fragment(&m[cut..], &limits);
    }
}
