//! `iotp demo`: every demo scenario (each baseline transaction and each purchase variant).
//!
//! - By default, over real HTTP between processes ([`crate::network`]): Merchant, Payment
//!   Handler, Delivery Handler and an all-in-one shop as `iotp serve` children on loopback
//!   ports with SQLite stores, this process as the Consumer, once per payment scheme plugin.
//! - With `--in-process`, between in-memory engines with the mock scheme.
//!
//! Prints a table, or with `--json` one object per scenario and line; `--transcript DIR` also
//! writes every message as `DIR/NN-<transaction>-<variant>/NNN-<sender>-to-<receiver>.xml`.
//! Exit 0 when every scenario ends CompletedOk, 1 otherwise, 2 when the demo cannot run (the
//! plugins are missing, a server does not start, the transcript cannot be written).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iotp::msg::codes::{CompletionCode, ProcessState};
use iotp::txn::harness::{self, Scenario};
use iotp_runtime::demo::slug;
use serde::Serialize;

use crate::DemoArgs;
use crate::output::{self, Outcome};

/// Messages in order: (file name without its number, e.g. `consumer-to-merchant`; document).
pub(crate) type Transcript = Vec<(String, Arc<[u8]>)>;

/// What one scenario gave, in either demo.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The scheme plugin (networked demo only).
    pub(crate) scheme: Option<String>,
    /// The scenario.
    pub(crate) scenario: Scenario,
    /// Its result, or why it could not run.
    pub(crate) result: Result<RunResult, String>,
    /// Why the scenario was not run (the scheme cannot do it: an authentication with a scheme
    /// that claims no authentication algorithm); not a failure.
    pub(crate) skipped: Option<String>,
}

/// A scenario's result.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    /// The Consumer's final ProcessState (inquiry: the state reported; ping: CompletedOk when
    /// the answer is Ok).
    pub(crate) outcome: ProcessState,
    /// The completion code, if any.
    pub(crate) completion_code: Option<CompletionCode>,
    /// The messages, in order.
    pub(crate) transcript: Transcript,
}

/// Runs the command.
pub(crate) fn run(args: &DemoArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let runs = if args.in_process {
        if !args.scheme.is_empty() || args.data_dir.is_some() {
            output::complain(format_args!(
                "demo: --scheme and --data-dir are for the networked demo, not --in-process"
            ));
            return Ok(Outcome::Failure);
        }
        in_process()
    } else {
        match crate::network::run(args) {
            Ok(runs) => runs,
            Err(e) => {
                output::complain(format_args!("demo: {e}"));
                return Ok(Outcome::Failure);
            }
        }
    };
    report(&runs, args.json, args.transcript.as_deref(), out)
}

/// The in-process demo: every scenario on a fresh in-memory network.
fn in_process() -> Vec<Run> {
    harness::scenarios()
        .into_iter()
        .map(|s| {
            let result = harness::run_scenario(&s)
                .map(|r| RunResult {
                    outcome: r.outcome,
                    completion_code: r.completion_code,
                    transcript: r
                        .transcript
                        .iter()
                        .map(|e| (format!("{}-to-{}", e.from, e.to), e.xml.clone()))
                        .collect(),
                })
                .map_err(|e| format!("the engine refused: {e}"));
            Run {
                scheme: None,
                scenario: s,
                result,
                skipped: None,
            }
        })
        .collect()
}

/// Prints the runs (table or JSON lines), writes the transcript, and gives the exit outcome.
pub(crate) fn report(
    runs: &[Run],
    json: bool,
    transcript: Option<&Path>,
    out: &mut impl Write,
) -> io::Result<Outcome> {
    let mut outcome = Outcome::Valid;
    for run in runs {
        match &run.result {
            _ if run.skipped.is_some() => {}
            Ok(result) if result.outcome == ProcessState::CompletedOk => {}
            Ok(_) => outcome = outcome.and(Outcome::Invalid),
            Err(e) => {
                output::complain(format_args!(
                    "demo: {} / {}: {e}",
                    run.scenario.transaction, run.scenario.variant
                ));
                outcome = outcome.and(Outcome::Invalid);
            }
        }
    }
    if let Some(dir) = transcript
        && let Err((path, e)) = write_transcripts(dir, runs)
    {
        output::complain(format_args!("{}: cannot write: {e}", path.display()));
        outcome = outcome.and(Outcome::Failure);
    }
    if json {
        for run in runs {
            print_json(run, out)?;
        }
    } else {
        print_table(runs, out)?;
    }
    Ok(outcome)
}

/// One line of `--json` output; keys in this order.
#[derive(Debug, Serialize)]
struct ScenarioJson<'a> {
    /// The payment scheme plugin (networked demo only).
    #[serde(skip_serializing_if = "Option::is_none")]
    scheme: Option<&'a str>,
    transaction: &'a str,
    variant: &'a str,
    /// The Consumer's final ProcessState, or `EngineError` when the engine refused to run it.
    outcome: &'a str,
    messages: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_code: Option<&'a str>,
    /// Only when the scenario could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Only when the scenario was skipped (outcome `Skipped`): why.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn print_json(run: &Run, out: &mut impl Write) -> io::Result<()> {
    let scenario = &run.scenario;
    let line = match &run.result {
        _ if run.skipped.is_some() => ScenarioJson {
            scheme: run.scheme.as_deref(),
            transaction: scenario.transaction.as_str(),
            variant: scenario.variant,
            outcome: "Skipped",
            messages: 0,
            completion_code: None,
            error: None,
            reason: run.skipped.as_deref(),
        },
        Ok(r) => ScenarioJson {
            scheme: run.scheme.as_deref(),
            transaction: scenario.transaction.as_str(),
            variant: scenario.variant,
            outcome: r.outcome.as_str(),
            messages: r.transcript.len(),
            completion_code: r.completion_code.as_ref().map(|c| c.as_str()),
            error: None,
            reason: None,
        },
        Err(e) => ScenarioJson {
            scheme: run.scheme.as_deref(),
            transaction: scenario.transaction.as_str(),
            variant: scenario.variant,
            outcome: "Error",
            messages: 0,
            completion_code: None,
            error: Some(e.clone()),
            reason: None,
        },
    };
    output::json_line(out, &line)
}

fn print_table(runs: &[Run], out: &mut impl Write) -> io::Result<()> {
    let rows: Vec<[String; 4]> = runs
        .iter()
        .map(|run| {
            let (outcome, messages) = match &run.result {
                _ if run.skipped.is_some() => ("Skipped".to_owned(), "-".to_owned()),
                Ok(r) => {
                    let outcome = match &r.completion_code {
                        Some(code) => format!("{} ({code})", r.outcome),
                        None => r.outcome.to_string(),
                    };
                    (outcome, r.transcript.len().to_string())
                }
                Err(_) => ("Error".to_owned(), "-".to_owned()),
            };
            let transaction = match &run.scheme {
                Some(scheme) => format!("{scheme}: {}", run.scenario.transaction),
                None => run.scenario.transaction.to_string(),
            };
            [
                transaction,
                run.scenario.variant.to_owned(),
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
        .filter(|run| {
            run.skipped.is_none()
                && matches!(&run.result, Ok(r) if r.outcome == ProcessState::CompletedOk)
        })
        .count();
    let skipped: Vec<&Run> = runs.iter().filter(|r| r.skipped.is_some()).collect();
    writeln!(
        out,
        "\n{completed} of {} scenarios completed ok",
        runs.len() - skipped.len()
    )?;
    for run in skipped {
        writeln!(
            out,
            "skipped: {}{} / {}: {}",
            run.scheme
                .as_deref()
                .map(|s| format!("{s}: "))
                .unwrap_or_default(),
            run.scenario.transaction,
            run.scenario.variant,
            run.skipped.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Writes every scenario's messages under `dir`; on failure, the path that could not be
/// written.
fn write_transcripts(dir: &Path, runs: &[Run]) -> Result<(), (PathBuf, io::Error)> {
    for (index, run) in runs.iter().enumerate() {
        let Ok(result) = &run.result else { continue };
        let scenario_dir = dir.join(scenario_dir_name(index + 1, run));
        fs::create_dir_all(&scenario_dir).map_err(|e| (scenario_dir.clone(), e))?;
        for (n, (name, xml)) in result.transcript.iter().enumerate() {
            let path = scenario_dir.join(format!("{:03}-{name}.xml", n + 1));
            fs::write(&path, xml).map_err(|e| (path, e))?;
        }
    }
    Ok(())
}

/// `NN-[<scheme>-]<transaction>-<variant slug>`, NN counting scenarios from 01.
fn scenario_dir_name(number: usize, run: &Run) -> String {
    let scheme = run
        .scheme
        .as_deref()
        .map(|s| format!("{s}-"))
        .unwrap_or_default();
    format!(
        "{number:02}-{scheme}{}-{}",
        run.scenario.transaction,
        slug(run.scenario.variant)
    )
}
