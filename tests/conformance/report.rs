//! The kit's report: a text table, one JSON object, or JUnit XML.

use std::fmt::Write as _;

use serde::Serialize;

use super::{ScenarioResult, Verdict};

/// What the kit found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was tested.
    pub subject: String,
    /// Its claimed `ContentSoftwareID`.
    pub software_id: String,
    /// Every scenario run, in order.
    pub scenarios: Vec<ScenarioResult>,
}

/// One JSON object: the report plus its totals.
#[derive(Serialize)]
struct Json<'a> {
    subject: &'a str,
    software_id: &'a str,
    passed: bool,
    totals: Totals,
    scenarios: &'a [ScenarioResult],
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Scenarios run.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed, required or not.
    pub failed: usize,
    /// Failed and required.
    pub failed_required: usize,
    /// Skipped.
    pub skipped: usize,
}

impl Report {
    /// True when no required scenario failed (skipped scenarios are those the claims do not
    /// imply).
    pub fn passed(&self) -> bool {
        !self
            .scenarios
            .iter()
            .any(|s| s.required && s.verdict == Verdict::Fail)
    }

    /// The counts.
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            total: self.scenarios.len(),
            ..Totals::default()
        };
        for s in &self.scenarios {
            match s.verdict {
                Verdict::Pass => t.passed += 1,
                Verdict::Fail => {
                    t.failed += 1;
                    if s.required {
                        t.failed_required += 1;
                    }
                }
                Verdict::Skip => t.skipped += 1,
            }
        }
        t
    }

    /// The scenario of an id.
    pub fn scenario(&self, id: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    /// A table: id, RFC sections, required or optional, result, message (continuation lines
    /// of a long message are indented), then the totals.
    pub fn to_text(&self) -> String {
        let id_w = self
            .scenarios
            .iter()
            .map(|s| s.id.len())
            .chain([2])
            .max()
            .unwrap_or(2);
        let rfc_w = self
            .scenarios
            .iter()
            .map(|s| s.rfc.chars().count())
            .chain([3])
            .max()
            .unwrap_or(3);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "conformance of {} ({})",
            self.subject, self.software_id
        );
        let _ = writeln!(
            out,
            "{:id_w$}  {:rfc_w$}  {:8}  {:6}  MESSAGE",
            "ID", "RFC", "REQUIRED", "RESULT"
        );
        for s in &self.scenarios {
            let mut lines = s.message.lines();
            let first = lines.next().unwrap_or("");
            let rfc_pad = rfc_w.saturating_sub(s.rfc.chars().count());
            let _ = writeln!(
                out,
                "{:id_w$}  {}{}  {:8}  {:6}  {}",
                s.id,
                s.rfc,
                " ".repeat(rfc_pad),
                if s.required { "required" } else { "optional" },
                s.verdict.as_str(),
                first
            );
            for more in lines {
                let _ = writeln!(out, "{:indent$}{more}", "", indent = id_w + rfc_w + 24);
            }
        }
        let t = self.totals();
        let _ = writeln!(
            out,
            "{} scenarios: {} passed, {} failed ({} required), {} skipped: {}",
            t.total,
            t.passed,
            t.failed,
            t.failed_required,
            t.skipped,
            if self.passed() { "PASS" } else { "FAIL" }
        );
        out
    }

    /// One JSON object: `{"subject", "software_id", "passed", "totals", "scenarios": [{"id",
    /// "title", "rfc", "required", "verdict", "message", "millis"}]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Json {
            subject: &self.subject,
            software_id: &self.software_id,
            passed: self.passed(),
            totals: self.totals(),
            scenarios: &self.scenarios,
        })
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// JUnit XML: one test suite, one test case per scenario. A failed scenario is a
    /// `failure` (of `type` `required` or `optional`), a skipped one `skipped`.
    pub fn to_junit(&self) -> String {
        let t = self.totals();
        let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
        let total_ms: u64 = self.scenarios.iter().map(|s| s.millis).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"iotp conformance\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
            t.total,
            t.failed,
            t.skipped,
            secs(total_ms)
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
            escape(&format!("{} ({})", self.subject, self.software_id)),
            t.total,
            t.failed,
            t.skipped,
            secs(total_ms)
        );
        for s in &self.scenarios {
            let _ = writeln!(
                out,
                "    <testcase classname=\"iotp.conformance\" name=\"{}\" time=\"{}\">",
                escape(&s.id),
                secs(s.millis)
            );
            let _ = writeln!(
                out,
                "      <properties><property name=\"rfc\" value=\"{}\"/><property name=\"required\" value=\"{}\"/><property name=\"title\" value=\"{}\"/></properties>",
                escape(&s.rfc),
                s.required,
                escape(&s.title)
            );
            let first = s.message.lines().next().unwrap_or("");
            match s.verdict {
                Verdict::Pass => {
                    let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&s.message));
                }
                Verdict::Fail => {
                    let _ = writeln!(
                        out,
                        "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                        if s.required { "required" } else { "optional" },
                        escape(first),
                        escape(&s.message)
                    );
                }
                Verdict::Skip => {
                    let _ = writeln!(out, "      <skipped message=\"{}\"/>", escape(first));
                }
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Escapes text for XML content and attributes; characters XML 1.0 cannot carry become
/// U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
