//! Engine tests: every scenario end to end, faults, cancellation, inquiries and pings.

use super::harness::*;
use super::*;
use crate::msg::Report;

fn check_transcript(r: &ScenarioResult) {
    for e in &r.transcript {
        let report = Report::read(&e.xml, &Limits::default());
        let errs: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            errs.is_empty(),
            "{} / {}: message {} {}->{} has problems:\n{}\n{}",
            r.scenario.transaction,
            r.scenario.variant,
            e.seq,
            e.from,
            e.to,
            errs.join("\n"),
            String::from_utf8_lossy(&e.xml)
        );
    }
}

#[test]
fn every_scenario_completes() {
    for s in scenarios() {
        let r = run_scenario(&s).expect("scenario runs");
        check_transcript(&r);
        if r.outcome != ProcessState::CompletedOk {
            for e in &r.transcript {
                eprintln!("--- {} {} -> {}\n{}", e.seq, e.from, e.to, String::from_utf8_lossy(&e.xml));
            }
        }
        assert_eq!(r.outcome, ProcessState::CompletedOk, "{} / {}: {:?} after {} messages", s.transaction, s.variant, r.completion_code, r.messages);
    }
}
