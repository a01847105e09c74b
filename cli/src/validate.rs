//! `iotp validate`: each file alone, and with `--transaction` the files together as the messages
//! of one transaction.

use std::io::{self, Write};
use std::path::Path;

use iotp::{Report, ValidationError};
use serde::Serialize;

use crate::ValidateArgs;
use crate::input::{self, Reader};
use crate::output::{self, Outcome};

/// Runs the command; the outcome of the worst file.
pub(crate) fn run(args: &ValidateArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let limits = args.limits.limits();
    let read: Reader = if args.fragment {
        Report::read_fragment
    } else {
        Report::read
    };
    let mut buf = Vec::new();
    let mut outcome = Outcome::Valid;
    if !args.transaction {
        // One file at a time: memory stays that of the largest file.
        for path in &args.files {
            let result = input::read_report(path, &limits, &mut buf, read);
            outcome = outcome.and(print(path, &result, args.json, out)?);
        }
        return Ok(outcome);
    }
    let mut results: Vec<io::Result<Report>> = args
        .files
        .iter()
        .map(|path| input::read_report(path, &limits, &mut buf, read))
        .collect();
    add_transaction_problems(&mut results);
    for (path, result) in args.files.iter().zip(&results) {
        outcome = outcome.and(print(path, result, args.json, out)?);
    }
    Ok(outcome)
}

/// Checks the messages that could be read together and adds what it finds to their reports.
fn add_transaction_problems(results: &mut [io::Result<Report>]) {
    let found = {
        let messages: Vec<_> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(|r| r.message.as_ref()))
            .collect();
        iotp::msg::validate_transaction(&messages)
    };
    let reports = results
        .iter_mut()
        .filter_map(|r| r.as_mut().ok())
        .filter(|r| r.message.is_some());
    for (report, problems) in reports.zip(found) {
        report.errors.extend(problems);
    }
}

/// Prints one file's result and returns its outcome.
fn print(
    path: &Path,
    result: &io::Result<Report>,
    json: bool,
    out: &mut impl Write,
) -> io::Result<Outcome> {
    let file = path.to_string_lossy();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            output::complain_file(path, e);
            if json {
                let line = FileJson {
                    file: &file,
                    valid: false,
                    errors: Vec::new(),
                    io_error: Some(e.to_string()),
                };
                serde_json::to_writer(&mut *out, &line)?;
                out.write_all(b"\n")?;
            }
            return Ok(Outcome::Failure);
        }
    };
    let valid = report.is_valid();
    if json {
        let line = FileJson {
            file: &file,
            valid,
            errors: report.errors.iter().map(ErrorJson::from).collect(),
            io_error: None,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    } else {
        let verdict = if valid { "valid" } else { "invalid" };
        writeln!(out, "{}: {verdict}", path.display())?;
        for problem in &report.errors {
            writeln!(out, "  {}", output::problem_line(problem))?;
        }
    }
    Ok(if valid {
        Outcome::Valid
    } else {
        Outcome::Invalid
    })
}

/// One line of `--json` output.
#[derive(Debug, Serialize)]
struct FileJson<'a> {
    file: &'a str,
    valid: bool,
    errors: Vec<ErrorJson<'a>>,
    /// Only for a file that could not be read (exit 2); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    io_error: Option<String>,
}

/// One problem in `--json` output.
#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    code: &'a str,
    severity: &'a str,
    element: &'a str,
    attribute: Option<&'a str>,
    line: Option<u32>,
    message: &'a str,
}

impl<'a> From<&'a ValidationError> for ErrorJson<'a> {
    fn from(e: &'a ValidationError) -> Self {
        ErrorJson {
            code: e.code.as_str(),
            severity: e.severity.as_str(),
            element: &e.location.element_type,
            attribute: e.location.att_name.as_deref(),
            line: e.line,
            message: &e.message,
        }
    }
}
