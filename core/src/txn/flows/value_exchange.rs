//! Baseline Value Exchange (§9.1.11): [Authentication] → Offer → Payment → Payment. The Offer
//! Response has two Payments; the second names the first in `StartAfterRefs`.
//!
//! ```text
//! Consumer              Merchant        Payment Handler 1       Payment Handler 2
//!    |<-- TPO [& Offer Response] --|            |                       |
//!    |--- Payment Request 1 (Debit) ----------->|                       |
//!    |<-- Payment Response 1 -------------------|                       |
//!    |--- Payment Request 2 (Credit; Offer + Payment 1 statuses) ------>|
//!    |<-- Payment Response 2 -------------------------------------------|
//! ```
//!
//! - **Consumer**: pays the first, then requests the second with both statuses.
//! - **Payment Handler 2**: pays only when the first payment's status shows CompletedOk.

use super::Flow;
use crate::msg::codes::PayDirection;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselineValueExchange",
    merchant_starts: true,
    has_offer: true,
    payments: &[PayDirection::Debit, PayDirection::Credit],
    delivery_allowed: false,
};
