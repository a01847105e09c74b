//! Baseline Purchase (§9.1.8).
//!
//! ```text
//! Consumer                    Merchant              Payment Handler        Delivery Handler
//!    | [Authentication exchange, optional, §9.1.1]      |                        |
//!    |<-- TPO (brand dependent) -----|                  |                        |
//!    |--- TPO Selection ------------>|                  |                        |
//!    |<-- Offer Response ------------|                  |                        |
//!    |   (or TPO & Offer Response together: brand independent)                   |
//!    |--- Payment Request ------------------------------>|                        |
//!    |<-- Payment Exchange ------------------------------| (0..n rounds)          |
//!    |--- Payment Exchange ------------------------------>|                       |
//!    |<-- Payment Response -------------------------------| (& Delivery Response if DelivAndPayResp)
//!    |--- Delivery Request ------------------------------------------------------>|
//!    |<-- Delivery Response ------------------------------------------------------|
//! ```
//!
//! - **Consumer**: chooses brand, protocol, amount and instrument per Brand List; pays;
//!   requests the delivery if the Offer Response has one with `DelivAndPayResp="False"`.
//! - **Merchant**: one Brand List (Debit), Order, one Payment, optional Delivery.
//! - **Payment Handler**: checks the Offer status, the selection and that it is the PayProtocol's
//!   `ActionOrgRef`; runs the scheme; with `DelivAndPayResp="True"` also delivers.
//! - **Delivery Handler**: checks the Offer and Payment statuses; delivers.

use super::Flow;
use crate::msg::codes::PayDirection;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselinePurchase",
    merchant_starts: true,
    has_offer: true,
    payments: &[PayDirection::Debit],
    delivery_allowed: true,
};
