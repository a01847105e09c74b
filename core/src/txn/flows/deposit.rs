//! Baseline Deposit (§9.1.7): [Authentication] → Offer → Payment. A financial institution takes
//! the Merchant role; the Consumer pays value in (PayDirection `Debit`).
//!
//! ```text
//! Consumer              Merchant (bank)          Payment Handler
//!    |<-- TPO [& Offer Response] --|                     |
//!    |--- TPO Selection ---------->|  (brand dependent)  |
//!    |<-- Offer Response ----------|                     |
//!    |--- Payment Request (Debit) ---------------------->|
//!    |<-- [Payment Exchange rounds] / Payment Response --|
//! ```

use super::Flow;
use crate::msg::codes::PayDirection;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselineDeposit",
    merchant_starts: true,
    has_offer: true,
    payments: &[PayDirection::Debit],
    delivery_allowed: false,
};
