//! What a node reports about a transaction ([`iotp_transaction`]): how it stands or ended,
//! and the Consumer's receipts.

use std::ffi::{CString, c_char};

use iotp::msg::codes::TradingRole;
use iotp::txn::{EndKind, TransactionOutcome};

use crate::handle::{Handle, borrow, c_string, free, guard, guard_or, opt_ptr, out_arg, write_out};
use crate::result::{Failure, iotp_result};

/// How a transaction ended at a node.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iotp_end {
    /// Not ended yet.
    Running = 0,
    /// The role's part completed (CompletedOk).
    Completed = 1,
    /// A business failure (Failed, with a completion code): a declined payment.
    Failed = 2,
    /// Cancelled by either side.
    Cancelled = 3,
    /// A HardError was sent or received.
    HardError = 4,
    /// No answer within the retransmission limits.
    TimedOut = 5,
}

impl From<EndKind> for iotp_end {
    fn from(kind: EndKind) -> iotp_end {
        match kind {
            EndKind::Completed => iotp_end::Completed,
            EndKind::Failed => iotp_end::Failed,
            EndKind::Cancelled => iotp_end::Cancelled,
            EndKind::HardError => iotp_end::HardError,
            EndKind::TimedOut => iotp_end::TimedOut,
        }
    }
}

/// A transaction at a node: how it stands or ended, and the payment receipts the Consumer
/// received.
///
/// Made by `iotp_node_pay` or `iotp_node_transaction`, released by `iotp_transaction_free`.
/// Immutable (a snapshot): may be read from several threads at once.
#[derive(Debug)]
pub struct iotp_transaction {
    id: CString,
    trans_type: Option<CString>,
    role: CString,
    phase: CString,
    end: iotp_end,
    process_state: Option<CString>,
    completion_code: Option<CString>,
    next_net_locn: Option<CString>,
    receipts: Vec<ReceiptText>,
}

impl Handle for iotp_transaction {
    const KIND: &'static str = "iotp_transaction";
}

#[derive(Debug)]
struct ReceiptText {
    payment_ref: CString,
    process_reference: Option<CString>,
    parts: Vec<(Option<CString>, CString)>,
}

impl iotp_transaction {
    pub(crate) fn from_outcome(o: &TransactionOutcome) -> iotp_transaction {
        iotp_transaction {
            id: c_string(o.iotp_trans_id.as_str()),
            trans_type: Some(c_string(o.trans_type.as_str())),
            role: c_string(o.role.as_str()),
            phase: c_string(format!("{:?}", iotp::txn::Phase::Done)),
            end: o.kind.into(),
            process_state: Some(c_string(o.process_state.as_str())),
            completion_code: o.completion_code.as_ref().map(|c| c_string(c.as_str())),
            next_net_locn: o.next_net_locn.as_deref().map(c_string),
            receipts: o
                .receipts
                .iter()
                .map(|r| ReceiptText {
                    payment_ref: c_string(r.payment_ref.as_str()),
                    process_reference: r.process_reference.as_deref().map(c_string),
                    parts: r
                        .parts
                        .iter()
                        .map(|(name, text)| {
                            (name.as_deref().map(c_string), c_string(text.as_str()))
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    pub(crate) fn from_state(
        id: &str,
        role: &TradingRole,
        (phase, ended): (iotp::txn::Phase, Option<iotp::txn::EndState>),
    ) -> iotp_transaction {
        let (end, process_state, completion_code) = match ended {
            Some((kind, state, code)) => (
                kind.into(),
                Some(c_string(state.as_str())),
                code.map(|c| c_string(c.as_str())),
            ),
            None => (iotp_end::Running, None, None),
        };
        iotp_transaction {
            id: c_string(id),
            trans_type: None,
            role: c_string(role.as_str()),
            phase: c_string(format!("{phase:?}")),
            end,
            process_state,
            completion_code,
            next_net_locn: None,
            receipts: Vec::new(),
        }
    }
}

/// One payment receipt (RFC 2801 §7.10: what the Payment Handler's scheme says was paid).
/// Strings are borrowed from the transaction.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_receipt {
    /// The Payment component it belongs to (its ID).
    pub payment_ref: *const c_char,
    /// The Payment Handler's id for the payment (`Status/@ProcessReference`), or NULL.
    pub process_reference: *const c_char,
    /// The number of parts (`iotp_transaction_receipt_part`).
    pub part_count: usize,
}

/// One part of a receipt (its PackagedContent). Strings are borrowed from the transaction.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_receipt_part {
    /// The part's name (`PackagedContent/@Name`), or NULL.
    pub name: *const c_char,
    /// The part's text.
    pub text: *const c_char,
}

fn transaction<'a>(t: *const iotp_transaction) -> Result<&'a iotp_transaction, Failure> {
    borrow(t, "transaction")
}

/// Releases a transaction and every string borrowed from it. NULL does nothing; a pointer
/// that is not a live transaction is refused.
///
/// Thread safety: no other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_free(transaction: *mut iotp_transaction) -> iotp_result {
    guard(|| free(transaction, "transaction"))
}

/// The transaction's `IotpTransId`; NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_id(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(self::transaction(transaction)?.id.as_ptr())
    })
}

/// The transaction type (`BaselinePurchase`, ...), or NULL when not known (from
/// `iotp_node_transaction`).
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_type(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.trans_type))
    })
}

/// The role this node plays in it (`Consumer`, `Merchant`, ...); NULL for a NULL or dead
/// handle.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_role(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(self::transaction(transaction)?.role.as_ptr())
    })
}

/// Where the role stands: `Done` once its part is over, otherwise what it waits for
/// (`AwaitPayment`, `OfferDone`, ...); NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_phase(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(self::transaction(transaction)?.phase.as_ptr())
    })
}

/// How the transaction ended (IOTP_END_RUNNING while it runs, and for a NULL or dead
/// handle).
///
/// Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_end(transaction: *const iotp_transaction) -> iotp_end {
    guard_or(
        iotp_end::Running,
        || Ok(self::transaction(transaction)?.end),
    )
}

/// The final ProcessState (`CompletedOk`, `Failed`, `ProcessError`), or NULL while it runs.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_process_state(
    transaction: *const iotp_transaction,
) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.process_state))
    })
}

/// The CompletionCode (§7.16.4: `InsuffFunds`, `ConsCancelled`, ...), or NULL when none.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_completion_code(
    transaction: *const iotp_transaction,
) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.completion_code))
    })
}

/// For the Consumer: where to go now (the Merchant's SuccessNetLocn, CancelNetLocn or
/// ErrorNetLocn), or NULL.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_next_net_locn(
    transaction: *const iotp_transaction,
) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.next_net_locn))
    })
}

/// The number of payment receipts (the Consumer's, from `iotp_node_pay`); 0 otherwise and for
/// a NULL or dead handle.
///
/// Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_receipt_count(transaction: *const iotp_transaction) -> usize {
    guard_or(0, || Ok(self::transaction(transaction)?.receipts.len()))
}

fn receipt_at(t: &iotp_transaction, index: usize) -> Result<&ReceiptText, Failure> {
    t.receipts.get(index).ok_or_else(|| {
        Failure::new(
            iotp_result::IndexOutOfRange,
            format!("receipt {index} of {}", t.receipts.len()),
        )
    })
}

/// Writes receipt `index` (0-based) to `*receipt_out`.
///
/// Ownership: its strings are borrowed from the transaction, valid until
/// `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_receipt(
    transaction: *const iotp_transaction,
    index: usize,
    receipt_out: *mut iotp_receipt,
) -> iotp_result {
    guard(|| {
        let t = self::transaction(transaction)?;
        out_arg(receipt_out, "receipt_out")?;
        let r = receipt_at(t, index)?;
        write_out(
            receipt_out,
            iotp_receipt {
                payment_ref: r.payment_ref.as_ptr(),
                process_reference: opt_ptr(&r.process_reference),
                part_count: r.parts.len(),
            },
        );
        Ok(())
    })
}

/// Writes part `part` of receipt `receipt` to `*part_out`.
///
/// Ownership: its strings are borrowed from the transaction, valid until
/// `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_receipt_part(
    transaction: *const iotp_transaction,
    receipt: usize,
    part: usize,
    part_out: *mut iotp_receipt_part,
) -> iotp_result {
    guard(|| {
        let t = self::transaction(transaction)?;
        out_arg(part_out, "part_out")?;
        let r = receipt_at(t, receipt)?;
        let (name, text) = r.parts.get(part).ok_or_else(|| {
            Failure::new(
                iotp_result::IndexOutOfRange,
                format!("part {part} of {} of receipt {receipt}", r.parts.len()),
            )
        })?;
        write_out(
            part_out,
            iotp_receipt_part {
                name: opt_ptr(name),
                text: text.as_ptr(),
            },
        );
        Ok(())
    })
}
