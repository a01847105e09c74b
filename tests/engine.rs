//! The transaction engine end to end (in process): every message it writes, in every demo
//! scenario and in fault runs (declines, cancellations, errors, inquiries, pings), is valid
//! against the RFC's (errata-corrected) DTD, checked with xmllint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use iotp::msg::codes::{InquiryType, ProcessState, TransactionType};
use iotp::txn::harness::{self, DemoNodes, Fate, Network};
use iotp::txn::{EngineError, Timing};

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec")
}

fn start(net: &mut Network, n: DemoNodes, t: TransactionType, variant: &str) -> String {
    let offer = harness::demo_offer(&t, variant, 1);
    let now = net.now;
    let out = net.engine(n.merchant).start_offer(offer, now).unwrap();
    let trans = out.messages[0].iotp_trans_id.clone();
    net.start(n.merchant, n.consumer, out);
    trans
}

/// A message with a file name for it.
type Named = (String, Arc<[u8]>);

/// Every message of the demo scenarios and of fault runs.
fn messages() -> Result<Vec<Named>, EngineError> {
    let mut all = Vec::new();
    let mut keep = |label: &str, net: &Network| {
        for e in net.transcript.iter().filter(|e| e.fate != Fate::Corrupt) {
            all.push((
                format!("{label}-{:03}-{}-to-{}", e.seq, e.from, e.to),
                e.xml.clone(),
            ));
        }
    };
    for (i, s) in harness::scenarios().iter().enumerate() {
        let (mut net, n) = harness::demo_network(s.instrument, Timing::default());
        let r = harness::run_scenario_on(&mut net, n, s, 1)?;
        assert_eq!(
            r.outcome,
            ProcessState::CompletedOk,
            "{} / {}",
            s.transaction,
            s.variant
        );
        keep(&format!("scenario{i:02}"), &net);
    }
    // Declines, the time-out instrument, and cancellations at each step.
    for (i, instrument) in [
        "decline-InsuffFunds",
        "decline-BadInstrument",
        "timeout",
        "extra-round",
    ]
    .iter()
    .enumerate()
    {
        let (mut net, n) = harness::demo_network(instrument, Timing::default());
        start(
            &mut net,
            n,
            TransactionType::BaselinePurchase,
            "brand-dependent, payment then delivery",
        );
        for _ in 0..5 {
            net.advance(30_000);
        }
        keep(&format!("instrument{i}"), &net);
    }
    for (i, tag) in ["TpoSelectionBlk", "PayReqBlk", "DeliveryReqBlk"]
        .iter()
        .enumerate()
    {
        let (mut net, n) = harness::demo_network("approve", Timing::default());
        let tag = *tag;
        net.set_fate(move |e| {
            if e.from == "consumer" && harness::has_block(&e.xml, tag) {
                Fate::Drop
            } else {
                Fate::Deliver
            }
        });
        let trans = start(
            &mut net,
            n,
            TransactionType::BaselinePurchase,
            "brand-dependent, payment then delivery",
        );
        net.clear_fate();
        let now = net.now;
        for inquiry in [
            InquiryType::Offer,
            InquiryType::Payment,
            InquiryType::Delivery,
        ] {
            if let Ok(out) = net.engine(n.consumer).start_inquiry(&trans, inquiry, now) {
                net.run(n.consumer, out);
            }
        }
        let out = match net.engine(n.consumer).cancel(&trans, now) {
            Ok(o) => o,
            Err(e) => {
                for e in &net.transcript {
                    eprintln!(
                        "--- {} {}->{}\n{}",
                        e.seq,
                        e.from,
                        e.to,
                        String::from_utf8_lossy(&e.xml)
                    );
                }
                return Err(e);
            }
        };
        net.run(n.consumer, out);
        keep(&format!("cancel{i}"), &net);
    }
    // A corrupted Payment Request: the Error Block answering it.
    let (mut net, n) = harness::demo_network("approve", Timing::default());
    net.set_fate(|e| {
        if harness::has_block(&e.xml, "PayReqBlk") {
            Fate::Corrupt
        } else {
            Fate::Deliver
        }
    });
    start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    keep("corrupt", &net);
    Ok(all)
}

#[test]
fn every_message_the_engine_writes_is_dtd_valid() {
    assert!(
        Command::new("xmllint").arg("--version").output().is_ok(),
        "xmllint is missing: run scripts/setup.sh (installs libxml2-utils)"
    );
    let msgs = messages().unwrap();
    assert!(msgs.len() > 80, "{} messages", msgs.len());
    let out = std::env::temp_dir().join(format!("iotp-engine-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let mut files = Vec::new();
    for (name, xml) in &msgs {
        let path = out.join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        files.push(path);
    }
    let result = Command::new("xmllint")
        .arg("--noout")
        .arg("--dtdvalid")
        .arg(spec().join("rfc-examples/iotp-v1.0-corrected.dtd"))
        .args(&files)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        result.status.success(),
        "xmllint rejected engine messages:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The README shows the engine example as it is in `core/examples/engine.rs`.
#[test]
fn readme_shows_the_engine_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("core/examples/engine.rs")).unwrap();
    assert!(
        readme.contains(&format!("```rust\n{example}```")),
        "README.md's engine example differs from core/examples/engine.rs"
    );
}

/// The README shows the mock plugin's export as it is in `plugins/mock/src/lib.rs`.
#[test]
fn readme_shows_the_plugin_export() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lib = std::fs::read_to_string(root.join("plugins/mock/src/lib.rs")).unwrap();
    let code: String = lib
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        readme.contains(&format!("```rust\n{}\n```", code.trim())),
        "README.md's plugin example differs from plugins/mock/src/lib.rs"
    );
}
