//! `iotp demo --in-process`: every demo scenario of the engine (each baseline transaction and
//! each purchase variant) on an in-memory network, with the mock payment scheme.
//!
//! Prints a table, or with `--json` one object per scenario and line; `--transcript DIR` also
//! writes every message as `DIR/NN-<transaction>-<variant>/NNN-<sender>-to-<receiver>.xml`.
//! Exit 0 when every scenario ends CompletedOk, 1 otherwise, 2 when the transcript cannot be
//! written (or without `--in-process`: the networked demo does not exist yet).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use iotp::msg::codes::ProcessState;
use iotp::txn::harness::{self, Scenario, ScenarioResult};
use serde::Serialize;

use crate::DemoArgs;
use crate::output::{self, Outcome};

/// What one scenario gave: its result, or the engine's refusal to run it.
type Run = Result<ScenarioResult, iotp::txn::EngineError>;

/// Runs the command.
pub(crate) fn run(args: &DemoArgs, out: &mut impl Write) -> io::Result<Outcome> {
    if !args.in_process {
        output::complain(format_args!(
            "demo: only the in-process demo exists for now: use `iotp demo --in-process`"
        ));
        return Ok(Outcome::Failure);
    }
    let scenarios = harness::scenarios();
    let runs: Vec<(Scenario, Run)> = scenarios
        .into_iter()
        .map(|s| {
            let run = harness::run_scenario(&s);
            (s, run)
        })
        .collect();

    let mut outcome = Outcome::Valid;
    for (scenario, run) in &runs {
        match run {
            Ok(result) if result.outcome == ProcessState::CompletedOk => {}
            Ok(_) => outcome = outcome.and(Outcome::Invalid),
            Err(e) => {
                output::complain(format_args!(
                    "demo: {} / {}: the engine refused: {e}",
                    scenario.transaction, scenario.variant
                ));
                outcome = outcome.and(Outcome::Invalid);
            }
        }
    }

    if let Some(dir) = &args.transcript
        && let Err((path, e)) = write_transcripts(dir, &runs)
    {
        output::complain(format_args!("{}: cannot write: {e}", path.display()));
        outcome = outcome.and(Outcome::Failure);
    }

    if args.json {
        for (scenario, run) in &runs {
            print_json(scenario, run, out)?;
        }
    } else {
        print_table(&runs, out)?;
    }
    Ok(outcome)
}

/// One line of `--json` output; keys in this order.
#[derive(Debug, Serialize)]
struct ScenarioJson<'a> {
    transaction: &'a str,
    variant: &'a str,
    /// The Consumer's final ProcessState, or `EngineError` when the engine refused to run it.
    outcome: &'a str,
    messages: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_code: Option<&'a str>,
    /// Only when the engine refused to run the scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn print_json(scenario: &Scenario, run: &Run, out: &mut impl Write) -> io::Result<()> {
    let line = match run {
        Ok(r) => ScenarioJson {
            transaction: scenario.transaction.as_str(),
            variant: scenario.variant,
            outcome: r.outcome.as_str(),
            messages: r.messages,
            completion_code: r.completion_code.as_ref().map(|c| c.as_str()),
            error: None,
        },
        Err(e) => ScenarioJson {
            transaction: scenario.transaction.as_str(),
            variant: scenario.variant,
            outcome: "EngineError",
            messages: 0,
            completion_code: None,
            error: Some(e.to_string()),
        },
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, output::SpacedJson);
    line.serialize(&mut ser)?;
    out.write_all(b"\n")
}

fn print_table(runs: &[(Scenario, Run)], out: &mut impl Write) -> io::Result<()> {
    let rows: Vec<[String; 4]> = runs
        .iter()
        .map(|(s, run)| {
            let (outcome, messages) = match run {
                Ok(r) => {
                    let outcome = match &r.completion_code {
                        Some(code) => format!("{} ({code})", r.outcome),
                        None => r.outcome.to_string(),
                    };
                    (outcome, r.messages.to_string())
                }
                Err(_) => ("EngineError".to_owned(), "-".to_owned()),
            };
            [
                s.transaction.to_string(),
                s.variant.to_owned(),
                outcome,
                messages,
            ]
        })
        .collect();
    let header = ["transaction", "variant", "outcome", "messages"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: [&str; 4]| -> io::Result<()> {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        )
    };
    line(out, header)?;
    line(
        out,
        widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str),
    )?;
    for row in &rows {
        line(out, row.each_ref().map(String::as_str))?;
    }
    let completed = runs
        .iter()
        .filter(|(_, r)| matches!(r, Ok(r) if r.outcome == ProcessState::CompletedOk))
        .count();
    writeln!(
        out,
        "\n{completed} of {} scenarios completed ok",
        runs.len()
    )
}

/// Writes every scenario's messages under `dir`; on failure, the path that could not be
/// written.
fn write_transcripts(dir: &Path, runs: &[(Scenario, Run)]) -> Result<(), (PathBuf, io::Error)> {
    for (index, (scenario, run)) in runs.iter().enumerate() {
        let Ok(result) = run else { continue };
        let scenario_dir = dir.join(scenario_dir_name(index + 1, scenario));
        fs::create_dir_all(&scenario_dir).map_err(|e| (scenario_dir.clone(), e))?;
        for (n, envelope) in result.transcript.iter().enumerate() {
            let name = format!("{:03}-{}-to-{}.xml", n + 1, envelope.from, envelope.to);
            let path = scenario_dir.join(name);
            fs::write(&path, &envelope.xml).map_err(|e| (path, e))?;
        }
    }
    Ok(())
}

/// `NN-<transaction>-<variant slug>`, NN counting scenarios from 01.
fn scenario_dir_name(number: usize, scenario: &Scenario) -> String {
    format!(
        "{number:02}-{}-{}",
        scenario.transaction,
        slug(scenario.variant)
    )
}

/// Lowercase; every run of other characters than ASCII letters and digits becomes one `-`;
/// none at either end.
fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs() {
        assert_eq!(
            slug("brand-independent, payment with delivery (DelivAndPayResp)"),
            "brand-independent-payment-with-delivery-delivandpayresp"
        );
        assert_eq!(slug("  --a__B  c--"), "a-b-c");
        assert_eq!(slug("é"), "");
    }
}
