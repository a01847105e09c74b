//! `iotp conformance PLUGIN [--json | --junit FILE] [--only ID...]`: certifies a payment scheme
//! plugin with the conformance kit (`iotp_tests::conformance`).
//!
//! The plugin is loaded with the host's [`SchemePlugin`] (its claims read from its descriptor);
//! the kit loads it again for each scenario and to simulate a reload after a crash (the host
//! never unloads a library, and a library serves every start). Raw documents for the garbage
//! scenario go through the same loaded plugin.
//!
//! Prints the table (or with `--json` one JSON object); `--junit FILE` also writes JUnit XML.
//! Exit 0 when every required scenario passes, 1 when one fails, 2 when the plugin cannot be
//! loaded (or for a usage error: an `--only` that names no scenario, a JUnit file that cannot
//! be written).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use iotp::payapi::PaymentBridge;
use iotp_plugin_host::SchemePlugin;
use iotp_tests::conformance::{self, Options, Subject};

use crate::output::{self, Outcome};

/// Arguments of `iotp conformance`.
#[derive(Debug, Args)]
pub(crate) struct ConformanceArgs {
    /// One JSON object: {"subject", "software_id", "passed", "totals", "scenarios": [{"id",
    /// "title", "rfc", "required", "verdict", "message", "millis"}]}.
    #[arg(long, conflicts_with = "junit")]
    json: bool,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run only these scenarios: ids, or families such as `decline` (every `decline-…`);
    /// separated by spaces or commas. Give it after PLUGIN: it takes the values that follow.
    #[arg(long, value_name = "ID", num_args = 1.., value_delimiter = ',')]
    only: Vec<String>,
    /// The payment scheme plugin (a file name alone is a file of the current directory).
    #[arg(value_name = "PLUGIN")]
    plugin: PathBuf,
}

/// Runs the command.
pub(crate) fn run(args: &ConformanceArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let plugin = match SchemePlugin::load(&args.plugin) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            output::complain(format_args!("conformance: {e}"));
            return Ok(Outcome::Failure);
        }
    };
    let claims = plugin.claims().clone();
    let unknown: Vec<&str> = args
        .only
        .iter()
        .filter(|o| !conformance::selects_any(&claims, o))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        output::complain(format_args!(
            "conformance: no scenario {} (scenarios: {})",
            unknown.join(", "),
            conformance::scenario_ids(&claims).join(", ")
        ));
        return Ok(Outcome::Failure);
    }
    let path = args.plugin.clone();
    let raw = plugin.clone();
    let subject = Subject::new(args.plugin.display().to_string(), claims, move || {
        SchemePlugin::load(&path)
            .map(|p| Arc::new(p) as Arc<dyn PaymentBridge>)
            .map_err(|e| e.to_string())
    })
    .with_raw(move |host, doc| raw.call_document(host, doc).map_err(|e| e.to_string()));
    let report = conformance::run(
        &subject,
        &Options {
            only: args.only.clone(),
        },
    );
    let mut outcome = if report.passed() {
        Outcome::Valid
    } else {
        Outcome::Invalid
    };
    if let Some(file) = &args.junit
        && let Err(e) = std::fs::write(file, report.to_junit())
    {
        output::complain(format_args!("{}: cannot write: {e}", file.display()));
        outcome = outcome.and(Outcome::Failure);
    }
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        out.write_all(report.to_text().as_bytes())?;
    }
    Ok(outcome)
}
