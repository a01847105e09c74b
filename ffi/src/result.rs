//! [`iotp_result`]: what every function returns, its text ([`iotp_result_message`]) and the
//! detail of the last failure on a thread ([`iotp_error_detail`]).

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};

use iotp_plugin_host::ErrorStatus;
use iotp_runtime::NodeError;

/// The result of a function. Numbers come in blocks by kind and are stable: a number is never
/// renumbered, and the number of a result that is withdrawn is never given to another.
///
/// - 0: success;
/// - 100–199: the caller's mistakes (arguments, handles);
/// - 200–299: documents;
/// - 300–399: configuring and opening a node;
/// - 400–499: what a node was asked to do;
/// - 900–999: failures inside the library.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum iotp_result {
    /// Success; the outputs were written.
    Ok = 0,
    /// A pointer that must not be NULL was NULL.
    NullParameter = 100,
    /// An argument has a value the function cannot use (a string that is not UTF-8, an unknown
    /// role, a length too large).
    InvalidParameter = 101,
    /// The handle is not a live object of this library: freed already, or never made by it.
    InvalidHandle = 102,
    /// The handle is a live object of another type than the function takes.
    WrongHandleKind = 103,
    /// An index is not below the count it indexes.
    IndexOutOfRange = 104,
    /// The document is not well-formed XML (or exceeds the limits).
    NotWellFormed = 200,
    /// The document is an IOTP message with errors (the report lists them).
    InvalidMessage = 201,
    /// The document is not an IOTP message (another root element, or not XML).
    NotAMessage = 202,
    /// A document handed to a node (a startup request) cannot be read.
    BadDocument = 203,
    /// The node configuration cannot be used; the detail names the setting.
    Config = 300,
    /// A plugin could not be loaded; the detail names the setting and the file.
    Plugin = 301,
    /// The data directory or the store could not be opened or written.
    Storage = 302,
    /// The node has no transport, and the request needs one.
    NoTransport = 400,
    /// The peer's answer cannot start or continue the transaction (the detail says why).
    Refused = 401,
    /// No outcome within the time given.
    TimedOut = 402,
    /// The node is shutting down.
    ShuttingDown = 403,
    /// No such thing: no offer for a startup request's target, no such transaction.
    NotFound = 404,
    /// The engine refused the request (an unknown transaction, a store failure).
    Engine = 405,
    /// A plugin call failed (a transport could not reach its peer, a scheme failed).
    PluginCall = 406,
    /// The node cannot take the message now (shutting down, or the offer could not start).
    Unavailable = 407,
    /// The library panicked; the panic was caught. A bug: please report it.
    Panic = 900,
}

impl iotp_result {
    /// Every result, in number order.
    pub const ALL: &'static [iotp_result] = &[
        iotp_result::Ok,
        iotp_result::NullParameter,
        iotp_result::InvalidParameter,
        iotp_result::InvalidHandle,
        iotp_result::WrongHandleKind,
        iotp_result::IndexOutOfRange,
        iotp_result::NotWellFormed,
        iotp_result::InvalidMessage,
        iotp_result::NotAMessage,
        iotp_result::BadDocument,
        iotp_result::Config,
        iotp_result::Plugin,
        iotp_result::Storage,
        iotp_result::NoTransport,
        iotp_result::Refused,
        iotp_result::TimedOut,
        iotp_result::ShuttingDown,
        iotp_result::NotFound,
        iotp_result::Engine,
        iotp_result::PluginCall,
        iotp_result::Unavailable,
        iotp_result::Panic,
    ];

    /// The result with this number.
    pub fn from_number(number: u32) -> Option<iotp_result> {
        iotp_result::ALL
            .iter()
            .copied()
            .find(|r| *r as u32 == number)
    }

    /// What the result means, in a sentence without a final full stop.
    pub fn message(self) -> &'static CStr {
        match self {
            iotp_result::Ok => c"success",
            iotp_result::NullParameter => c"a required pointer was NULL",
            iotp_result::InvalidParameter => c"an argument has a value that cannot be used",
            iotp_result::InvalidHandle => {
                c"not a live handle of this library (freed already, or never made by it)"
            }
            iotp_result::WrongHandleKind => c"a handle of another type than the function takes",
            iotp_result::IndexOutOfRange => c"index out of range",
            iotp_result::NotWellFormed => c"the document is not well-formed XML",
            iotp_result::InvalidMessage => c"the IOTP message is not valid",
            iotp_result::NotAMessage => c"the document is not an IOTP message",
            iotp_result::BadDocument => c"the document handed to the node cannot be read",
            iotp_result::Config => c"the node configuration cannot be used",
            iotp_result::Plugin => c"a plugin could not be loaded",
            iotp_result::Storage => c"the node's data directory or store failed",
            iotp_result::NoTransport => c"the node has no transport, and the request needs one",
            iotp_result::Refused => c"the peer's answer cannot continue the transaction",
            iotp_result::TimedOut => c"no outcome within the time given",
            iotp_result::ShuttingDown => c"the node is shutting down",
            iotp_result::NotFound => c"not found",
            iotp_result::Engine => c"the engine refused the request",
            iotp_result::PluginCall => c"a plugin call failed",
            iotp_result::Unavailable => c"the node cannot take the message now",
            iotp_result::Panic => c"the library panicked (a bug)",
        }
    }
}

/// A failed call: the result and what to tell in [`iotp_error_detail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The result returned.
    pub result: iotp_result,
    /// The detail.
    pub detail: String,
}

impl Failure {
    /// A failure with its detail.
    pub fn new(result: iotp_result, detail: impl Into<String>) -> Failure {
        Failure {
            result,
            detail: detail.into(),
        }
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Failure {
        let result = match &e {
            NodeError::Config(_) => iotp_result::Config,
            NodeError::Plugin { .. } => iotp_result::Plugin,
            NodeError::Call(_) => iotp_result::PluginCall,
            NodeError::Storage { .. } => iotp_result::Storage,
            NodeError::Engine(_) => iotp_result::Engine,
            NodeError::NoTransport(_) => iotp_result::NoTransport,
            NodeError::Refused(_) => iotp_result::Refused,
            NodeError::TimedOut(_) => iotp_result::TimedOut,
            NodeError::ShuttingDown => iotp_result::ShuttingDown,
        };
        Failure::new(result, e.to_string())
    }
}

impl From<iotp_runtime::ConfigError> for Failure {
    fn from(e: iotp_runtime::ConfigError) -> Failure {
        Failure::new(iotp_result::Config, e.to_string())
    }
}

/// What [`iotp_runtime::Node::handle`] refuses with.
pub fn handle_failure(status: ErrorStatus) -> Failure {
    let (result, detail) = match status {
        ErrorStatus::Refused => (iotp_result::NotFound, "no offer for the startup request"),
        ErrorStatus::BadDocument => (iotp_result::BadDocument, "unreadable startup request"),
        _ => (
            iotp_result::Unavailable,
            "the node is shutting down, or could not start the offer (see its log)",
        ),
    };
    Failure::new(result, detail)
}

thread_local! {
    /// The detail of the last failure on this thread.
    static DETAIL: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records the detail of a failure for [`iotp_error_detail`].
pub(crate) fn set_detail(failure: &Failure) {
    let text = format!(
        "{}: {}",
        failure.result.message().to_string_lossy(),
        failure.detail
    );
    let detail = crate::handle::c_string(text);
    DETAIL.with(|d| *d.borrow_mut() = Some(detail));
}

/// The text of a result number: what it means, in a sentence. An unknown number gets
/// "unknown result".
///
/// Ownership: a static string; never free it. Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_result_message(result: u32) -> *const c_char {
    iotp_result::from_number(result)
        .map_or(c"unknown result", iotp_result::message)
        .as_ptr()
}

/// The detail of the last call on the calling thread that did not return IOTP_RESULT_OK: the
/// result's message and what went wrong (for a configuration, the setting at fault). NULL
/// when no call on this thread has failed yet.
///
/// Ownership: borrowed from the library; valid until the next failing call on the same thread
/// (or the thread's end). Never free it. Thread safety: each thread has its own detail.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_error_detail() -> *const c_char {
    DETAIL.with(|d| d.borrow().as_ref().map_or(std::ptr::null(), |d| d.as_ptr()))
}
