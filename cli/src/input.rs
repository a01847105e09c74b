//! Reading documents from files under the message size limit.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use iotp::msg::model::ErrorLocation;
use iotp::{ErrorCode, Limits, Report, ValidationError};

/// How a document is read: [`Report::read`] or [`Report::read_fragment`].
pub(crate) type Reader = fn(&[u8], &Limits) -> Report;

/// Reads `path` into `buf` (reused between files) and hands the bytes to `read`.
///
/// A file larger than [`Limits::max_message_bytes`] is refused by its metadata without being
/// read, and a file that grows past the limit while it is read (or a pipe) is cut off at the
/// limit: either way the report holds a single `MsgTooLarge` problem. The core checks the size
/// too; this check is what keeps a huge file from being loaded at all.
pub(crate) fn read_report(
    path: &Path,
    limits: &Limits,
    buf: &mut Vec<u8>,
    read: Reader,
) -> io::Result<Report> {
    match read_limited(path, limits, buf)? {
        Some(too_large) => Ok(Report {
            errors: vec![too_large],
            ..Report::default()
        }),
        None => Ok(read(buf, limits)),
    }
}

/// Fills `buf` with the file's bytes, or returns the `MsgTooLarge` problem.
pub(crate) fn read_limited(
    path: &Path,
    limits: &Limits,
    buf: &mut Vec<u8>,
) -> io::Result<Option<ValidationError>> {
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        ));
    }
    let limit = u64::try_from(limits.max_message_bytes).unwrap_or(u64::MAX);
    if metadata.is_file() && metadata.len() > limit {
        return Ok(Some(too_large(Some(metadata.len()), limit)));
    }
    buf.clear();
    if metadata.is_file() {
        // Within the limit, so the conversion cannot fail on any platform that got here.
        buf.reserve(usize::try_from(metadata.len()).unwrap_or(0));
    }
    file.take(limit.saturating_add(1)).read_to_end(buf)?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > limit {
        buf.clear();
        return Ok(Some(too_large(None, limit)));
    }
    Ok(None)
}

/// The problem reported for a document over the limit, worded like the core's.
fn too_large(size: Option<u64>, limit: u64) -> ValidationError {
    let location = ErrorLocation {
        element_type: "IotpMessage".to_owned(),
        ..ErrorLocation::default()
    };
    let message = match size {
        Some(size) => format!("message of {size} bytes exceeds the limit of {limit} bytes"),
        None => format!("message exceeds the limit of {limit} bytes"),
    };
    ValidationError::hard(ErrorCode::MsgTooLarge, location, message)
}
