//! Baseline Ping (§9.2.2), in any role.
//!
//! ```text
//! Role 1                                   Role 2
//!    |--- Ping Request (I1, new IotpTransId) -->|
//!    |<-- Ping Response (Q1: Ok/Busy, Orgs) ----|
//! ```
//!
//! Every IOTP-aware application answers a Ping. It starts no transaction, affects none, and
//! cannot be cancelled.

use super::Flow;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselinePing",
    merchant_starts: false,
    has_offer: false,
    payments: &[],
    delivery_allowed: false,
};
