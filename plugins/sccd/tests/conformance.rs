//! `iotp conformance target/debug/libiotp_scheme_sccd.so`: the conformance kit on the built
//! plugin, loaded by the plugin host as `iotp conformance` loads it (cli/src/conformance.rs):
//! every scenario its claims imply passes, none is skipped that the test cards should run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use iotp::payapi::PaymentBridge;
use iotp_plugin_host::SchemePlugin;
use iotp_plugin_host::testing::{RustPlugin, build_rust_plugin};
use iotp_tests::conformance::{self, Options, Subject, Verdict};

/// `libiotp_scheme_sccd.so`, built into this test's target directory.
const SCCD_SCHEME: RustPlugin<'static> = RustPlugin::Package {
    package: "iotp-plugin-sccd",
    lib_name: "iotp_scheme_sccd",
};

#[test]
fn the_sccd_plugin_passes_the_conformance_kit() {
    let path = build_rust_plugin(SCCD_SCHEME).unwrap_or_else(|e| panic!("{e}"));
    let plugin = Arc::new(SchemePlugin::load(&path).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(plugin.claims(), &iotp_scheme_sccd::SccdScheme::claims());
    let load_path = path.clone();
    let raw = plugin.clone();
    let subject = Subject::new(
        path.display().to_string(),
        plugin.claims().clone(),
        move || {
            SchemePlugin::load(&load_path)
                .map(|p| Arc::new(p) as Arc<dyn PaymentBridge>)
                .map_err(|e| e.to_string())
        },
    )
    .with_raw(move |host, doc| raw.call_document(host, doc).map_err(|e| e.to_string()));
    let report = conformance::run(&subject, &Options::default());
    let text = report.to_text();
    assert!(report.passed(), "{text}");
    let skipped: Vec<&str> = report
        .scenarios
        .iter()
        .filter(|s| s.verdict == Verdict::Skip)
        .map(|s| s.id.as_str())
        .collect();
    // SCCD claims no authentication algorithm; every other scenario runs.
    assert_eq!(skipped, ["authentication"], "{text}");
    for id in [
        "approve-debit",
        "approve-credit",
        "exchange-rounds",
        "transient",
        "decline-InsuffFunds",
        "decline-BadInstrument",
        "decline-InstNotValid",
        "decline-AuthError",
        "decline-Unspecified",
        "crash-resume",
        "garbage-documents",
        "malformed-scheme-data",
    ] {
        assert!(
            report
                .scenarios
                .iter()
                .any(|s| s.id == id && s.verdict == Verdict::Pass),
            "{id} did not pass:\n{text}"
        );
    }
}
