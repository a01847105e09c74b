//! Baseline Authentication (§9.1.6): the Authentication Document Exchange (§9.1.1) alone. The
//! Merchant is the Authenticator, the Consumer the Authenticatee.
//!
//! ```text
//! Consumer (authenticatee)                 Merchant (authenticator)
//!    |<-- TPO & Authentication Request ----------|   (new transaction)
//!    |--- Authentication Response -------------->|   (or Cancel: AutEeCancel, NoAuthReq, TradRolesIncon)
//!    |<-- Authentication Status -----------------|   (CompletedOk, or Failed: AuthFailed → may retry)
//! ```
//!
//! Before a payment transaction the same exchange runs first (`Offer::authenticate_first`),
//! and the Authentication Status travels with the TPO (and Offer Response) (§9.1.13).

use super::Flow;

/// The flow.
pub static FLOW: Flow = Flow {
    trans_type: "BaselineAuthentication",
    merchant_starts: true,
    has_offer: false,
    payments: &[],
    delivery_allowed: false,
};
