//! `iotp`: the Internet Open Trading Protocol v1.0 (RFC 2801) without I/O.
//!
//! - [`xml`]: the syntax layer: a bounded reader on quick-xml, the canonical writer and
//!   DOMHASH digests (RFC 2803).
//! - [`msg`]: the typed model of every IOTP element, its decoding, encoding and validation with
//!   the RFC's error codes.
#![forbid(unsafe_code)]

pub mod msg;
pub mod xml;

pub use msg::codes::{ErrorCode, Severity};
pub use msg::{IotpMessage, Report, TradingBlock, ValidationError};
pub use xml::Limits;
