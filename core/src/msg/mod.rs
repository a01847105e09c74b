//! The IOTP message model (§3, §7, §8, §13), its decoding and encoding, and validation with the
//! RFC's error codes (§7.21.2).

pub mod codes;
pub(crate) mod element;
mod error;
mod fragment;
pub mod inspect;
mod message;
pub mod model;
mod transaction;
pub mod validate;

pub use element::{ElementKind, WireElement};
pub use error::ValidationError;
pub use message::{IOTP_NAMESPACE, IotpMessage, Report, TradingBlock};
pub use validate::validate_transaction;
