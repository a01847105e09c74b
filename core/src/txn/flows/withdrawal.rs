//! Baseline Withdrawal (§9.1.10): [Authentication] → Offer → Payment. Value (e.g. e-cash) is
//! issued to the Consumer (PayDirection `Credit`).
//!
//! ```text
//! Consumer              Merchant (issuer)        Payment Handler
//!    |<-- TPO [& Offer Response] --|                     |
//!    |--- TPO Selection ---------->|  (brand dependent)  |
//!    |<-- Offer Response ----------|                     |
//!    |--- Payment Request (Credit) --------------------->|
//!    |<-- [Payment Exchange rounds] / Payment Response --|
//! ```

use super::Flow;
use crate::msg::codes::PayDirection;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselineWithdrawal",
    merchant_starts: true,
    has_offer: true,
    payments: &[PayDirection::Credit],
    delivery_allowed: false,
};
