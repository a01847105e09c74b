//! What an inquiry (§9.2.1, Baseline Inquiry: [`iotp_status`]) and a ping (§9.2.2, Baseline
//! Ping: [`iotp_ping`]) answer, as `iotp_node_inquire` and `iotp_node_ping` return them.

use std::ffi::{CString, c_char};

use iotp::msg::model::Status;
use iotp_runtime::node::PingAnswer;

use crate::handle::{Handle, borrow, c_string, free, guard, guard_or, opt_ptr};
use crate::result::iotp_result;

/// The Status a role reported about a transaction (§7.16): which part of it (`Offer`,
/// `Payment`, `Delivery`), its ProcessState and CompletionCode.
///
/// Made by `iotp_node_inquire`, released by `iotp_status_free`. Immutable: may be read from
/// several threads at once.
#[derive(Debug)]
pub struct iotp_status {
    status_type: CString,
    process_state: CString,
    completion_code: Option<CString>,
    process_reference: Option<CString>,
    status_desc: Option<CString>,
}

impl Handle for iotp_status {
    const KIND: &'static str = "iotp_status";
}

impl iotp_status {
    pub(crate) fn from_status(s: &Status) -> iotp_status {
        iotp_status {
            status_type: c_string(s.status_type.as_str()),
            process_state: c_string(s.process_state.as_str()),
            completion_code: s.completion_code.as_ref().map(|c| c_string(c.as_str())),
            process_reference: s.process_reference.as_deref().map(c_string),
            status_desc: s.status_desc.as_deref().map(c_string),
        }
    }
}

/// A ping's answer: the responder's status (`Ok`, `Busy`, `Down`) and the organisations that
/// answered.
///
/// Made by `iotp_node_ping`, released by `iotp_ping_free`. Immutable: may be read from several
/// threads at once.
#[derive(Debug)]
pub struct iotp_ping {
    trans_id: CString,
    code: CString,
    responders: Vec<CString>,
}

impl Handle for iotp_ping {
    const KIND: &'static str = "iotp_ping";
}

impl iotp_ping {
    pub(crate) fn from_answer(a: &PingAnswer) -> iotp_ping {
        iotp_ping {
            trans_id: c_string(a.iotp_trans_id.as_str()),
            code: c_string(a.code.as_str()),
            responders: a.responders.iter().map(|r| c_string(r.as_str())).collect(),
        }
    }
}

/// Releases a status. NULL does nothing; a pointer that is not a live status is refused.
///
/// Thread safety: no other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_status_free(status: *mut iotp_status) -> iotp_result {
    guard(|| free(status, "status"))
}

/// Which part of the transaction the status is about: `Offer`, `Payment` or `Delivery`
/// (StatusType); NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_status_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_status_type(status: *const iotp_status) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(borrow(status, "status")?.status_type.as_ptr())
    })
}

/// The ProcessState (`NotYetStarted`, `InProgress`, `CompletedOk`, `Failed`,
/// `ProcessError`); NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_status_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_status_process_state(status: *const iotp_status) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(borrow(status, "status")?.process_state.as_ptr())
    })
}

/// The CompletionCode (§7.16.4), or NULL when none.
///
/// Ownership: borrowed, valid until `iotp_status_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_status_completion_code(status: *const iotp_status) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&borrow(status, "status")?.completion_code))
    })
}

/// The role's own reference for its part (ProcessReference: the Payment Handler's payment
/// id, say), or NULL when none.
///
/// Ownership: borrowed, valid until `iotp_status_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_status_process_reference(status: *const iotp_status) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&borrow(status, "status")?.process_reference))
    })
}

/// The role's description of the state (StatusDesc), or NULL when none.
///
/// Ownership: borrowed, valid until `iotp_status_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_status_desc(status: *const iotp_status) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&borrow(status, "status")?.status_desc))
    })
}

/// Releases a ping's answer. NULL does nothing; a pointer that is not a live answer is
/// refused.
///
/// Thread safety: no other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_ping_free(ping: *mut iotp_ping) -> iotp_result {
    guard(|| free(ping, "ping"))
}

/// The ping's own transaction (`IotpTransId`); NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_ping_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_ping_trans_id(ping: *const iotp_ping) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(borrow(ping, "ping")?.trans_id.as_ptr())
    })
}

/// The responder's status: `Ok`, `Busy` or `Down` (PingStatusCode); NULL for a NULL or dead
/// handle.
///
/// Ownership: borrowed, valid until `iotp_ping_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_ping_status(ping: *const iotp_ping) -> *const c_char {
    guard_or(std::ptr::null(), || Ok(borrow(ping, "ping")?.code.as_ptr()))
}

/// The number of organisations that answered; 0 for a NULL or dead handle.
///
/// Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_ping_responder_count(ping: *const iotp_ping) -> usize {
    guard_or(0, || Ok(borrow(ping, "ping")?.responders.len()))
}

/// The `OrgId` of responder `index` (0-based); NULL when out of range or for a NULL or dead
/// handle.
///
/// Ownership: borrowed, valid until `iotp_ping_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_ping_responder(ping: *const iotp_ping, index: usize) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(borrow(ping, "ping")?
            .responders
            .get(index)
            .map_or(std::ptr::null(), |r| r.as_ptr()))
    })
}
