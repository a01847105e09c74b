//! Messages: reading and validating ([`iotp_report`]), the canonical form, inspection, and the
//! byte buffers the library returns ([`iotp_bytes`]).

use std::ffi::{CString, c_char};

use iotp::{Limits, Report};

use crate::handle::{
    Handle, borrow, bytes_arg, c_string, free, guard, guard_or, into_c, opt_ptr, out_arg, write_out,
};
use crate::result::{Failure, iotp_result};

/// A document read and validated: the message (when it is one) and every problem found.
///
/// Made by `iotp_report_read` or `iotp_report_read_fragment`, released by `iotp_report_free`.
/// Immutable: may be read from several threads at once.
pub struct iotp_report {
    report: Report,
    problems: Vec<ProblemText>,
    trans_id: Option<CString>,
}

impl std::fmt::Debug for iotp_report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("iotp_report")
            .field("problems", &self.problems.len())
            .finish_non_exhaustive()
    }
}

impl Handle for iotp_report {
    const KIND: &'static str = "iotp_report";
}

/// The strings of one problem, kept for the life of the report.
#[derive(Debug)]
struct ProblemText {
    code: CString,
    severity: CString,
    element: CString,
    attribute: Option<CString>,
    line: u32,
    message: CString,
}

/// One problem found in a document (an RFC 2801 §7.21.2 error code with its severity and
/// location). Every string is borrowed from the report.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_problem {
    /// The error code, as written in an ErrorComp (`AttMissing`, `ElUnexpected`, ...).
    pub code: *const c_char,
    /// `Warning`, `TransientError` or `HardError`. A document with only warnings is valid.
    pub severity: *const c_char,
    /// The element type where the problem is (`ErrorLocation/@ElementType`).
    pub element: *const c_char,
    /// The attribute at fault, or NULL when the problem is not an attribute's.
    pub attribute: *const c_char,
    /// The 1-based line in the document, or 0 when unknown.
    pub line: u32,
    /// A description for people.
    pub message: *const c_char,
}

/// Bytes the library returns: a reply, a canonical message, an inspection tree.
///
/// Released by `iotp_bytes_free`. Immutable: may be read from several threads at once.
#[derive(Debug)]
pub struct iotp_bytes {
    /// The bytes followed by one NUL (not counted in the length), so that text can be used as
    /// a C string.
    bytes: Vec<u8>,
}

impl Handle for iotp_bytes {
    const KIND: &'static str = "iotp_bytes";
}

impl iotp_bytes {
    /// Bytes for C.
    pub(crate) fn new(mut bytes: Vec<u8>) -> iotp_bytes {
        bytes.push(0);
        iotp_bytes { bytes }
    }

    fn content(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - 1]
    }
}

fn read(
    document: *const u8,
    len: usize,
    report_out: *mut *mut iotp_report,
    reader: fn(&[u8], &Limits) -> Report,
) -> iotp_result {
    guard(|| {
        out_arg(report_out, "report_out")?;
        let input = bytes_arg(document, len, "document")?;
        let report = reader(input, &Limits::default());
        let problems = report
            .errors
            .iter()
            .map(|e| ProblemText {
                code: c_string(e.code.as_str()),
                severity: c_string(e.severity.as_str()),
                element: c_string(e.location.element_type.as_str()),
                attribute: e.location.att_name.as_deref().map(c_string),
                line: e.line.unwrap_or(0),
                message: c_string(e.message.as_str()),
            })
            .collect();
        let trans_id = report
            .trans_ref
            .as_ref()
            .map(|t| c_string(t.transaction_id.iotp_trans_id.as_str()));
        write_out(
            report_out,
            into_c(iotp_report {
                report,
                problems,
                trans_id,
            }),
        );
        Ok(())
    })
}

/// Reads `len` bytes of `document` as an IOTP message (root `IotpMessage`) and validates it
/// on its own: XML syntax, the DTD, and the rules of RFC 2801 the DTD cannot state (IDs,
/// references, components, blocks). Limits are the library's defaults (4 MiB, depth 64).
///
/// An invalid document is not a failure: the report says what is wrong
/// (`iotp_report_is_valid`, `iotp_report_problem`). Fails only on misuse (NULL `document`
/// with a non-zero `len`, NULL `report_out`).
///
/// Ownership: `document` is only read during the call. On success `*report_out` is a new
/// report, released with `iotp_report_free`. Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_read(
    document: *const u8,
    len: usize,
    report_out: *mut *mut iotp_report,
) -> iotp_result {
    read(document, len, report_out, Report::read)
}

/// Like `iotp_report_read`, but the root may be any IOTP element (a fragment such as a
/// `BrandList`), checked against that element's declaration, like `xmllint --dtdvalid`.
///
/// Ownership and thread safety: as `iotp_report_read`.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_read_fragment(
    document: *const u8,
    len: usize,
    report_out: *mut *mut iotp_report,
) -> iotp_result {
    read(document, len, report_out, Report::read_fragment)
}

/// Releases a report and every string borrowed from it. NULL does nothing; a pointer that is
/// not a live report is refused (IOTP_RESULT_INVALID_HANDLE, IOTP_RESULT_WRONG_HANDLE_KIND).
///
/// Thread safety: no other thread may be using the report.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_free(report: *mut iotp_report) -> iotp_result {
    guard(|| free(report, "report"))
}

/// True when the document is valid: no problem is an error (warnings allowed). False also for
/// a NULL or dead handle.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_is_valid(report: *const iotp_report) -> bool {
    guard_or(false, || Ok(borrow(report, "report")?.report.is_valid()))
}

/// The number of problems found (warnings included); 0 also for a NULL or dead handle.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_problem_count(report: *const iotp_report) -> usize {
    guard_or(0, || Ok(borrow(report, "report")?.problems.len()))
}

/// Writes problem `index` (0-based, in document order) to `*problem_out`.
///
/// Ownership: the strings of `*problem_out` are borrowed from the report, valid until
/// `iotp_report_free`. Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_problem(
    report: *const iotp_report,
    index: usize,
    problem_out: *mut iotp_problem,
) -> iotp_result {
    guard(|| {
        let report = borrow(report, "report")?;
        out_arg(problem_out, "problem_out")?;
        let p = report.problems.get(index).ok_or_else(|| {
            Failure::new(
                iotp_result::IndexOutOfRange,
                format!("problem {index} of {}", report.problems.len()),
            )
        })?;
        write_out(
            problem_out,
            iotp_problem {
                code: p.code.as_ptr(),
                severity: p.severity.as_ptr(),
                element: p.element.as_ptr(),
                attribute: opt_ptr(&p.attribute),
                line: p.line,
                message: p.message.as_ptr(),
            },
        );
        Ok(())
    })
}

/// The transaction the message belongs to (`TransId/@IotpTransId`), or NULL when the
/// document has no readable Transaction Reference Block (or the handle is NULL or dead).
///
/// Ownership: borrowed from the report, valid until `iotp_report_free`. Thread safety:
/// callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_transaction_id(report: *const iotp_report) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&borrow(report, "report")?.trans_id))
    })
}

/// The message in canonical form (the library's writer: DTD attribute order, one namespace
/// declaration, UTF-8), as `iotp fmt` prints it. Only for a valid message:
/// IOTP_RESULT_NOT_A_MESSAGE when the document is no IOTP message, IOTP_RESULT_INVALID_MESSAGE
/// when it has errors.
///
/// Ownership: on success `*xml_out` is new bytes, released with `iotp_bytes_free`. Thread
/// safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_report_canonical(
    report: *const iotp_report,
    xml_out: *mut *mut iotp_bytes,
) -> iotp_result {
    guard(|| {
        let report = &borrow(report, "report")?.report;
        out_arg(xml_out, "xml_out")?;
        let Some(message) = &report.message else {
            return Err(Failure::new(
                iotp_result::NotAMessage,
                "no IotpMessage could be read",
            ));
        };
        if !report.is_valid() {
            return Err(Failure::new(
                iotp_result::InvalidMessage,
                format!("{} problems", report.errors.len()),
            ));
        }
        write_out(
            xml_out,
            into_c(iotp_bytes::new(message.to_xml().into_bytes())),
        );
        Ok(())
    })
}

/// The document as a readable tree, as `iotp inspect` shows it: one line per element indented
/// by depth, with its attributes and text, and each element reference (§3.5) followed by the
/// element it names. Works on any well-formed document, valid or not;
/// IOTP_RESULT_NOT_WELL_FORMED otherwise.
///
/// Ownership: `document` is only read during the call; on success `*tree_out` is new text
/// (UTF-8), released with `iotp_bytes_free`. Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_inspect(
    document: *const u8,
    len: usize,
    tree_out: *mut *mut iotp_bytes,
) -> iotp_result {
    guard(|| {
        out_arg(tree_out, "tree_out")?;
        let input = bytes_arg(document, len, "document")?;
        let root = iotp::xml::parse_tree(input, &Limits::default())
            .map_err(|e| Failure::new(iotp_result::NotWellFormed, e.to_string()))?;
        let tree = iotp::msg::inspect::render_tree(&root);
        write_out(tree_out, into_c(iotp_bytes::new(tree.into_bytes())));
        Ok(())
    })
}

/// The bytes (followed by a NUL not counted in `iotp_bytes_len`, so text may be used as a C
/// string). NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_bytes_free`. Thread safety: callable from any
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_bytes_data(bytes: *const iotp_bytes) -> *const u8 {
    guard_or(std::ptr::null(), || {
        Ok(borrow(bytes, "bytes")?.bytes.as_ptr())
    })
}

/// The number of bytes (without the final NUL); 0 for a NULL or dead handle.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_bytes_len(bytes: *const iotp_bytes) -> usize {
    guard_or(0, || Ok(borrow(bytes, "bytes")?.content().len()))
}

/// Releases bytes. NULL does nothing; a pointer that is not live bytes is refused.
///
/// Thread safety: no other thread may be using them.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_bytes_free(bytes: *mut iotp_bytes) -> iotp_result {
    guard(|| free(bytes, "bytes"))
}
