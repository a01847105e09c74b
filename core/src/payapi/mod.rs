//! The IOTP Payment API (RFC 3867): the contract between the IOTP core and a payment scheme.
//!
//! RFC 3867 splits each role's software into the *IOTP Application Core* (this crate's engine),
//! the *IOTP Payment Bridge* (a payment scheme: [`PaymentBridge`]) and the existing payment
//! software behind the bridge. The bridge is passive: one request, one response; it reaches the
//! core only through the services of a [`BridgeHost`] (CallBack, key-value store, clock, random,
//! log).
//!
//! Every call of RFC 3867 §3 has a typed request and response here, named after the XML
//! element of the RFC (`FindAcceptedPaymentBrand` → [`FindAcceptedPaymentBrand`] and
//! [`FindAcceptedPaymentBrandResponse`]). Every trait method defaults to `ReqNotSupp`, the RFC's
//! "skeleton" rule for calls a bridge does not implement.
//!
//! What stays with the core (RFC 3867 §2, `related-specs.md` §1.6), and is done by
//! [`crate::txn`]: rewriting the API-only error codes before anything goes on the wire
//! ([`ApiErrorCode::to_wire`]), answering `BusError` with `InquireProcessState`, moving
//! PackagedContent in and out of IOTP components, rebuilding receipts from
//! `PayReceiptNameRefs`, and sending no scheme data after `End`.

// `ApiError` mirrors RFC 3867's ErrorResponse field for field; it is returned rarely, so its
// size in `Err` does not matter.
#![allow(clippy::result_large_err)]

mod bridge;
pub mod claims;
pub mod documents;
pub mod mock;
mod types;

pub use bridge::*;
pub use types::*;
