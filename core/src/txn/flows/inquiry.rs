//! Baseline Transaction Status Inquiry (§9.2.1), in any role; see [`crate::txn`]'s inquiry
//! handling.
//!
//! ```text
//! Role 1                                   Role 2
//!    |--- Inquiry Request (I…) --------------->|   same IotpTransId as the transaction
//!    |<-- Inquiry Response (Q…) ---------------|   last Status sent to the Consumer, or ProcessError
//! ```
//!
//! - **Consumer** asks the Merchant after a TPO Selection, the Payment Handler after a Payment
//!   Request, the Delivery Handler after a Delivery Request.
//! - **Server roles** answer from the transaction's state; an unknown transaction is a
//!   HardError; an inquiry about a Ping is ignored.

use super::Flow;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselineInquiry",
    merchant_starts: false,
    has_offer: false,
    payments: &[],
    delivery_allowed: false,
};
