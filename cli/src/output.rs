//! Outcomes, exit codes and the messages written to standard error.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use iotp::ValidationError;

/// What a command found, worst last: combining keeps the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// Every document valid (warnings allowed), or every demo scenario completed: exit 0.
    Valid,
    /// A document is invalid, or a demo scenario did not complete: exit 1.
    Invalid,
    /// A usage or I/O error: exit 2.
    Failure,
}

impl Outcome {
    /// The worse of two outcomes.
    pub(crate) fn and(self, other: Outcome) -> Outcome {
        self.max(other)
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        match outcome {
            Outcome::Valid => ExitCode::SUCCESS,
            Outcome::Invalid => ExitCode::from(1),
            Outcome::Failure => ExitCode::from(2),
        }
    }
}

/// Writes `iotp: MESSAGE` on standard error. A failing standard error is ignored: there is
/// nowhere left to report it.
pub(crate) fn complain(message: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "iotp: {message}");
}

/// Reports a file that could not be read.
pub(crate) fn complain_file(path: &Path, error: &io::Error) {
    complain(format_args!("{}: cannot read: {error}", path.display()));
}

/// One problem on one line: `line N: Severity Code Element/@Attr: message` (`line N: ` only
/// when the line is known, `/@Attr` only for an attribute).
pub(crate) fn problem_line(problem: &ValidationError) -> String {
    let mut line = String::with_capacity(80 + problem.message.len());
    if let Some(number) = problem.line {
        let _ = write!(line, "line {number}: ");
    }
    let _ = write!(
        line,
        "{} {} {}",
        problem.severity, problem.code, problem.location.element_type
    );
    if let Some(attribute) = &problem.location.att_name {
        let _ = write!(line, "/@{attribute}");
    }
    line.push_str(": ");
    // One problem, one line, whatever the description holds.
    line.extend(
        problem
            .message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c }),
    );
    line
}

/// Writes every problem on standard error as `FILE: problem`; true when there was any.
pub(crate) fn problems_to_stderr(path: &Path, problems: &[ValidationError]) -> bool {
    let mut err = io::stderr().lock();
    for problem in problems {
        let _ = writeln!(err, "{}: {}", path.display(), problem_line(problem));
    }
    !problems.is_empty()
}

/// Writes `value` as one line of [`SpacedJson`].
pub(crate) fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, SpacedJson);
    value.serialize(&mut ser)?;
    out.write_all(b"\n")
}

/// JSON on one line with a space after each `,` and `:`, as the documented examples show
/// (`{"transaction": "BaselinePing", "messages": 2}`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpacedJson;

impl serde_json::ser::Formatter for SpacedJson {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}
