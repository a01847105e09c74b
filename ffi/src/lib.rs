//! `libiotp`: the C ABI of the IOTP v1.0 (RFC 2801) engine, for C commerce stacks that embed it
//! (DESIGN.md §6). The header is `include/iotp.h`, generated from this crate by the pinned
//! cbindgen and checked for drift by `tests/header.rs`.
//!
//! This crate only translates: every function calls the core (`iotp`: reading, validating,
//! writing and inspecting messages) or the runtime (`iotp_runtime`: nodes with their store,
//! plugins and transport) and turns the answer into C. The model is rustls-ffi:
//!
//! - every C object is an opaque handle tied to one Rust type, made by one function and
//!   released by its `*_free` (module `handle`); live handles are registered, so a second free or a
//!   handle of the wrong type is refused with an error instead of corrupting memory;
//! - outputs go through `*_out` parameters, written only on success;
//! - one numeric [`iotp_result`] enum whose numbers are never reused, named by
//!   `iotp_result_message`;
//! - every export catches panics and checks its pointers for NULL (`handle::guard`).
//!
//! Modules: `message` (reports, canonical form, inspection, byte buffers), `node` (node
//! configurations and nodes), `callbacks` (the application's callbacks), `lent` (what a
//! callback fills in), `transaction` (a transaction's state and receipts), `result` (results
//! and error details), `handle` (handles, arguments, the panic boundary).

// The one crate of the workspace (with the plugin host) where `unsafe` is allowed: C hands us
// raw pointers. Every unsafe block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
// C names, as the header shows them (rustls-ffi does the same).
#![allow(non_camel_case_types)]

mod answers;
mod callbacks;
mod handle;
mod lent;
mod message;
mod node;
mod result;
mod transaction;

#[cfg(test)]
mod tests;

use std::ffi::c_char;

pub use answers::{iotp_ping, iotp_status};
pub use callbacks::{
    iotp_delivery_request, iotp_log_level, iotp_offer_summary, iotp_payment_option,
};
pub use lent::{iotp_delivery_result, iotp_offer};
pub use message::{iotp_bytes, iotp_problem, iotp_report};
pub use node::{iotp_node, iotp_node_config};
pub use result::iotp_result;
pub use transaction::{iotp_end, iotp_receipt, iotp_receipt_part, iotp_transaction};

/// The major version of this library (the `version` of its Cargo.toml).
pub const IOTP_VERSION_MAJOR: u32 = 0;
/// The minor version of this library.
pub const IOTP_VERSION_MINOR: u32 = 1;
/// The patch version of this library.
pub const IOTP_VERSION_PATCH: u32 = 0;

/// The version as `MAJOR.MINOR.PATCH`, NUL-terminated.
const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(version) => version,
    Err(_) => c"unknown",
};

/// The library's version, `MAJOR.MINOR.PATCH` (the same numbers as `IOTP_VERSION_MAJOR`,
/// `IOTP_VERSION_MINOR` and `IOTP_VERSION_PATCH` when the header matches the library).
///
/// Ownership: a static string; never free it. Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_version() -> *const c_char {
    VERSION.as_ptr()
}
