//! Write IOTP plugins in Rust: implement the typed trait, export it with one macro.
//!
//! A payment scheme implements [`iotp::payapi::PaymentBridge`] (RFC 3867's calls as typed
//! requests and responses); a transport implements [`Transport`]. The export macros generate
//! the two symbols of the plugin ABI (`iotp-plugin-api`, `include/iotp_plugin.h`): the static
//! descriptor the host reads before running anything, and the entry point. The author never
//! sees the C ABI, the buffers or the RFC 3867 documents:
//!
//! - [`export_payment_bridge!`]: each `call` reads the IotpPaymentApiRequest document into the
//!   typed request, runs the bridge method with a [`Host`] whose services (key-value store,
//!   CallBack, clock, random, log) go to the host's services of that call, and writes the
//!   answer, or the error, as the IotpPaymentApiResponse document. A request that cannot be
//!   read gets an `ErrorResponse` document saying why.
//! - [`export_transport!`]: `send` and `serve` with bytes.
//!
//! Every exported function runs under `catch_unwind`: a panic becomes the status
//! `IOTP_PLUGIN_ERR_PANIC` for that call (the host makes it an error of that payment), never
//! an unwind into the host. A bridge is built once, on the first start, and shared by every
//! call, from any thread (the table is flagged thread-safe: `PaymentBridge` is `Send + Sync`).
//!
//! # A payment scheme plugin
//!
//! `Cargo.toml`: `crate-type = ["cdylib"]`, dependencies `iotp` and `iotp-plugin-sdk`. Then:
//!
//! ```
//! use iotp::payapi::{
//!     ApiResult, BridgeHost, BridgeInfo, ContinueProcess, LogLevel, PaymentBridge, SchemeStep,
//! };
//!
//! pub struct Echo;
//!
//! impl PaymentBridge for Echo {
//!     fn info(&self) -> BridgeInfo {
//!         BridgeInfo {
//!             software_id: "Example echo 1.0".into(),
//!             protocols: vec!["x-echo".into()],
//!             brands: vec!["x-echocard".into()],
//!             auth_algorithms: Vec::new(),
//!         }
//!     }
//!
//!     // Every call not implemented answers ReqNotSupp.
//!     fn continue_process(
//!         &self,
//!         host: &dyn BridgeHost,
//!         request: &ContinueProcess,
//!     ) -> ApiResult<SchemeStep> {
//!         host.log(LogLevel::Debug, "one more round");
//!         Ok(SchemeStep::end(request.pay_scheme.clone()))
//!     }
//! }
//!
//! iotp_plugin_sdk::export_payment_bridge!(
//!     Echo,
//!     Echo,
//!     claims = c"<IotpPluginClaims xmlns='urn:iotp-rs:plugin-claims:1' \
//!                SoftwareId='Example echo 1.0'><Role Name='PaymentHandler'/>\
//!                <Protocol Id='x-echo'/><Brand Id='x-echocard'/>\
//!                <Call Name='ContinueProcess'/></IotpPluginClaims>",
//! );
//! # fn main() {}
//! ```
//!
//! The claims document (`iotp::payapi::claims`) tells the host, `iotp plugin inspect` and the
//! conformance kit what the plugin does; it is a static string in the descriptor, so it is
//! known before the plugin runs. A longer one can live in a file next to the source:
//! `claims = iotp_plugin_sdk::cstr!(include_str!("../claims.xml"))`; a test should then
//! check the file against the bridge's `PluginClaims` (see `plugins/mock`).
//!
//! The descriptor's name and version are the crate's (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`)
//! unless given: `export_payment_bridge!(Echo, Echo, claims = C, name = c"echo", version =
//! c"1.0")`.

// DESIGN.md §2: the export macros of this crate are one of the three places `unsafe` lives.
// They are the C boundary: raw pointers in, buffers out, function pointers of the host's
// services called. Every unsafe block carries its own SAFETY comment.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod abi;
mod host;
mod scheme;
mod transport;

pub use host::Host;
pub use iotp;
pub use transport::{ServeHandler, Transport, TransportError};

/// What the export macros expand to call. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use std::sync::OnceLock;

    pub use iotp_plugin_api::{
        IOTP_PLUGIN_KIND_PAYMENT_SCHEME, IOTP_PLUGIN_KIND_TRANSPORT, IotpHostServices,
        IotpPluginDescriptor, IotpPluginTable,
    };

    pub use crate::scheme::{entry as scheme_entry, respond};
    pub use crate::transport::entry as transport_entry;

    /// `text` (which ends with its nul, from `concat!`) as a C string; a compile-time error
    /// when it holds another nul.
    pub const fn cstr(text: &'static str) -> &'static std::ffi::CStr {
        match std::ffi::CStr::from_bytes_with_nul(text.as_bytes()) {
            Ok(text) => text,
            Err(_) => panic!("a plugin's name, version or claims must not contain a nul byte"),
        }
    }
}

/// A `&'static CStr` from string literals or macros that expand to one (`env!`,
/// `include_str!`), checked at compile time: `cstr!(include_str!("../claims.xml"))`.
#[macro_export]
macro_rules! cstr {
    ($($text:tt)+) => {
        $crate::__private::cstr(::core::concat!($($text)+, "\0"))
    };
}

/// Exports a payment scheme: `export_payment_bridge!(TYPE, CONSTRUCTOR, claims = CLAIMS)`,
/// optionally followed by `name = NAME, version = VERSION` (each a `&'static CStr`; by default
/// the crate's name and version).
///
/// `TYPE` implements [`iotp::payapi::PaymentBridge`]; `CONSTRUCTOR` is an expression of that
/// type, evaluated once, on the first start (a panic there makes the plugin refuse to start).
/// `CLAIMS` is the `IotpPluginClaims` document, a `&'static CStr` (a `c"…"` literal, or
/// [`cstr!`]). Use the macro once per library, at module level: it defines the symbols
/// `iotp_plugin_descriptor` and `iotp_plugin_entry`.
#[macro_export]
macro_rules! export_payment_bridge {
    ($bridge:ty, $make:expr, claims = $claims:expr $(,)?) => {
        $crate::export_payment_bridge!(
            $bridge,
            $make,
            claims = $claims,
            name = $crate::cstr!(::core::env!("CARGO_PKG_NAME")),
            version = $crate::cstr!(::core::env!("CARGO_PKG_VERSION")),
        );
    };
    (
        $bridge:ty,
        $make:expr,
        claims = $claims:expr,
        name = $name:expr,
        version = $version:expr $(,)?
    ) => {
        /// The plugin's descriptor (IOTP plugin ABI), read by the host before it runs any
        /// code of the plugin.
        #[allow(unsafe_code, non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static iotp_plugin_descriptor: $crate::__private::IotpPluginDescriptor =
            $crate::__private::IotpPluginDescriptor::new(
                $crate::__private::IOTP_PLUGIN_KIND_PAYMENT_SCHEME,
                $name,
                $version,
            )
            .with_claims($claims);

        /// The plugin's entry point (IOTP plugin ABI).
        ///
        /// # Safety
        ///
        /// Called by the host as the ABI says: `host` is NULL or a host services table valid
        /// for the rest of the process.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn iotp_plugin_entry(
            host_abi_version: u32,
            host: *const $crate::__private::IotpHostServices,
        ) -> *const $crate::__private::IotpPluginTable {
            static BRIDGE: $crate::__private::OnceLock<$bridge> =
                $crate::__private::OnceLock::new();
            // SAFETY: this function's own contract, which `scheme_entry` shares.
            unsafe {
                $crate::__private::scheme_entry::<$bridge>(host_abi_version, host, &BRIDGE, || {
                    $make
                })
            }
        }
    };
}

/// Exports a transport: `export_transport!(TYPE, CONSTRUCTOR)`, optionally followed by
/// `name = NAME, version = VERSION` (each a `&'static CStr`; by default the crate's name and
/// version).
///
/// `TYPE` implements [`Transport`]; `CONSTRUCTOR` is an expression of that type, evaluated
/// once, on the first start. Use the macro once per library, at module level.
///
/// ```
/// use iotp_plugin_sdk::{Host, Transport, TransportError};
///
/// /// Answers every message with the message itself.
/// pub struct Mirror;
///
/// impl Transport for Mirror {
///     fn send(
///         &self,
///         _host: &Host<'_>,
///         net_location: &str,
///         message: &[u8],
///     ) -> Result<Vec<u8>, TransportError> {
///         if !net_location.starts_with("mirror:") {
///             return Err(TransportError::BadArgument(format!("not a mirror: {net_location}")));
///         }
///         Ok(message.to_vec())
///     }
/// }
///
/// iotp_plugin_sdk::export_transport!(Mirror, Mirror);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_transport {
    ($transport:ty, $make:expr $(,)?) => {
        $crate::export_transport!(
            $transport,
            $make,
            name = $crate::cstr!(::core::env!("CARGO_PKG_NAME")),
            version = $crate::cstr!(::core::env!("CARGO_PKG_VERSION")),
        );
    };
    ($transport:ty, $make:expr, name = $name:expr, version = $version:expr $(,)?) => {
        /// The plugin's descriptor (IOTP plugin ABI), read by the host before it runs any
        /// code of the plugin.
        #[allow(unsafe_code, non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static iotp_plugin_descriptor: $crate::__private::IotpPluginDescriptor =
            $crate::__private::IotpPluginDescriptor::new(
                $crate::__private::IOTP_PLUGIN_KIND_TRANSPORT,
                $name,
                $version,
            );

        /// The plugin's entry point (IOTP plugin ABI).
        ///
        /// # Safety
        ///
        /// Called by the host as the ABI says: `host` is NULL or a host services table valid
        /// for the rest of the process.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn iotp_plugin_entry(
            host_abi_version: u32,
            host: *const $crate::__private::IotpHostServices,
        ) -> *const $crate::__private::IotpPluginTable {
            static TRANSPORT: $crate::__private::OnceLock<$transport> =
                $crate::__private::OnceLock::new();
            // SAFETY: this function's own contract, which `transport_entry` shares.
            unsafe {
                $crate::__private::transport_entry::<$transport>(
                    host_abi_version,
                    host,
                    &TRANSPORT,
                    || $make,
                )
            }
        }
    };
}
