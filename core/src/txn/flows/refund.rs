//! Baseline Refund (§9.1.9): [Authentication] → Offer → Payment, the money flowing from the
//! Payment Handler to the Consumer (PayDirection `Credit`).
//!
//! ```text
//! Consumer                    Merchant              Payment Handler
//!    |<-- TPO [& Offer Response] ----|                      |
//!    |--- TPO Selection ------------>|  (brand dependent)   |
//!    |<-- Offer Response ------------|                      |
//!    |--- Payment Request (Credit) ------------------------>|
//!    |<-- [Payment Exchange rounds] / Payment Response -----|
//! ```
//!
//! - **Merchant**: one Credit Brand List; a `RelatedTo` component may name the purchase refunded.
//! - **Consumer**, **Payment Handler**: as in a purchase, with the direction Credit.

use super::Flow;
use crate::msg::codes::PayDirection;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselineRefund",
    merchant_starts: true,
    has_offer: true,
    payments: &[PayDirection::Credit],
    delivery_allowed: false,
};
