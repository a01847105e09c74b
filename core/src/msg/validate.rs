//! Validation beyond the DTD: the rules of §3.4, §3.5, §7 and §8 that a DTD cannot express.

use super::error::ValidationError;
use super::message::IotpMessage;

/// Checks one message on its own.
pub(crate) fn validate_message(_msg: &IotpMessage, _out: &mut Vec<ValidationError>) {}
