//! `iotp inspect`: a document as a readable tree, with its element references (§3.5) resolved.
//!
//! The tree is the core's ([`iotp::msg::inspect::render_tree`], on the generic tree of
//! [`iotp::xml::parse_tree`]), so that it shows whatever is there, valid or not; validation
//! only adds a note at the top.

use std::io::{self, Write};

use iotp::Report;

use crate::InspectArgs;
use crate::input;
use crate::output::{self, Outcome};

/// Runs the command: exit 0 for a valid document, 1 for an invalid one (the tree is still
/// shown when the document is well-formed), 2 when it cannot be read.
pub(crate) fn run(args: &InspectArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let limits = args.limits.limits();
    let mut buf = Vec::new();
    let tree = match input::read_limited(&args.file, &limits, &mut buf) {
        Ok(None) => iotp::xml::parse_tree(&buf, &limits),
        Ok(Some(too_large)) => {
            output::problems_to_stderr(&args.file, &[too_large]);
            return Ok(Outcome::Invalid);
        }
        Err(e) => {
            output::complain_file(&args.file, &e);
            return Ok(Outcome::Failure);
        }
    };
    let root = match tree {
        Ok(root) => root,
        Err(_) => {
            // Not well-formed: the full report says where and why.
            let report = Report::read_fragment(&buf, &limits);
            if !output::problems_to_stderr(&args.file, &report.errors) {
                output::complain(format_args!("{}: not well-formed", args.file.display()));
            }
            return Ok(Outcome::Invalid);
        }
    };
    let report = if root.name == "IotpMessage" {
        Report::read(&buf, &limits)
    } else {
        Report::read_fragment(&buf, &limits)
    };
    write_notes(&report, out)?;
    out.write_all(iotp::msg::inspect::render_tree(&root).as_bytes())?;
    Ok(if report.is_valid() {
        Outcome::Valid
    } else {
        Outcome::Invalid
    })
}

/// The problems validation found, before the tree.
fn write_notes(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let count = report.errors.len();
    if count == 0 {
        return Ok(());
    }
    let plural = if count == 1 { "" } else { "s" };
    if report.is_valid() {
        writeln!(out, "note: valid, with {count} warning{plural}:")?;
    } else {
        writeln!(out, "note: NOT VALID, {count} problem{plural}:")?;
    }
    for problem in &report.errors {
        writeln!(out, "  {}", output::problem_line(problem))?;
    }
    writeln!(out)
}
