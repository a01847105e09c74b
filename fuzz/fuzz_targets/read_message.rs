//! Arbitrary bytes into the message reader: it must never panic, whatever the input, and a
//! valid message must survive a round trip through the canonical writer.
//!
//! `cargo fuzz run read_message` (nightly; `scripts/setup.sh --fuzz` installs cargo-fuzz).
#![no_main]

use iotp::{Limits, Report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = Report::read_fragment(data, &limits);

    let report = Report::read(data, &limits);
    let Some(message) = &report.message else {
        return;
    };
    // Writing must never panic, whatever the model holds.
    let xml = message.to_xml();
    let reread = Report::read(xml.as_bytes(), &limits);
    if !report.is_valid() {
        // An invalid message's model is only the best reading of what was there (missing
        // values, dropped elements): writing it need not give the same reading back.
        return;
    }
    assert!(
        reread.is_valid(),
        "the canonical form of a valid message is invalid: {:?}\n{xml}",
        reread.errors
    );
    assert_eq!(
        reread.message.as_ref(),
        Some(message),
        "the canonical form reads back as a different message:\n{xml}"
    );
});
