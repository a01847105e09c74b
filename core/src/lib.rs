//! `iotp`: the Internet Open Trading Protocol v1.0 (RFC 2801) without I/O.
//!
//! - [`xml`]: the syntax layer: a bounded reader on quick-xml, the canonical writer and
//!   DOMHASH digests (RFC 2803).
//! - [`msg`]: the typed model of every IOTP element, its decoding, encoding and validation with
//!   the RFC's error codes.
//! - [`txn`]: the transaction engine: every role and baseline transaction, §4.5/§4.6 processing.
//! - [`payapi`]: the Payment API of RFC 3867 and the [`payapi::PaymentBridge`] trait.
//! - [`store`]: the [`store::Store`] trait the engine writes through, and an in-memory store.
#![forbid(unsafe_code)]

pub mod msg;
pub mod payapi;
pub mod store;
pub mod txn;
pub mod xml;

pub use msg::codes::{ErrorCode, Severity};
pub use msg::{IotpMessage, Report, TradingBlock, ValidationError};
pub use xml::Limits;
