//! The C ABI of IOTP plugins: payment schemes and transports loaded as shared libraries.
//!
//! This crate is the ABI and nothing else: `#[repr(C)]` tables, numeric constants and the two
//! symbol names. It depends on no other crate, so `include/iotp_plugin.h` (generated from this
//! file by cbindgen, committed, checked for drift by `tests/header.rs`) is all a plugin written
//! in C needs. DESIGN.md §4 says why the ABI is this small: the payment-scheme call carries
//! RFC 3867 Payment API documents, so versions live in the documents, not in the ABI.
//!
//! # A plugin
//!
//! A plugin is a shared library exporting two symbols:
//!
//! - `iotp_plugin_descriptor` ([`IOTP_PLUGIN_DESCRIPTOR_SYMBOL`]), a static
//!   [`IotpPluginDescriptor`]: ABI version, kind, name and version. The host reads it before it
//!   runs any function of the plugin, so a plugin built for another ABI is never called.
//! - `iotp_plugin_entry` ([`IOTP_PLUGIN_ENTRY_SYMBOL`]), an [`IotpPluginEntryFn`]: the host
//!   passes its ABI version and its services ([`IotpHostServices`]); the plugin returns its
//!   [`IotpPluginTable`], or NULL to refuse.
//!
//! # Rules
//!
//! - Every table starts with `struct_size` and `abi_version`. Fields are only ever appended;
//!   whoever reads a table first checks that `struct_size` covers every field it uses.
//!   [`IOTP_PLUGIN_ABI_VERSION`] changes only on an incompatible change, and then both sides
//!   refuse each other.
//! - Whoever allocates frees. A buffer a plugin returns (the output of `call` or `send`) goes
//!   back to the plugin's `free_buffer`; a buffer the host returns (the output of `kv_get`,
//!   `callback`, a serve handler) goes back to the host's `free_buffer`. Every buffer returned
//!   with [`IOTP_PLUGIN_OK`] is handed back exactly once, unchanged, even an empty one. An output
//!   is written only on success: after any other status there is nothing to free.
//! - Status codes ([`IotpStatus`]) are stable numbers, never reused.
//! - The host never unloads a library, and a started plugin lives until the process exits: its
//!   table, and the host services table with its `ctx`, stay valid for the rest of the process.
//! - A plugin table is thread-safe when its `flags` hold [`IOTP_PLUGIN_FLAG_THREAD_SAFE`];
//!   otherwise the host calls it from one thread at a time (not always the same thread).
//! - Nothing unwinds across the ABI. A C plugin that crashes takes the process with it; a Rust
//!   plugin must catch its panics and return [`IOTP_PLUGIN_ERR_PANIC`] (the SDK's export macros
//!   do), and the host's services do the same.
//!
//! # The current call
//!
//! Every host service takes a context pointer first. Two contexts exist:
//! - the **call context**, the `call_ctx` the host passes to `call`, `send` and `serve`. It
//!   routes the services to that call (the key-value space, CallBack and log of the payment
//!   being processed). It is valid only while that call runs, and only on the thread that runs
//!   it: a plugin that does work on threads of its own does it before it returns, or uses the
//!   host context.
//! - the **host context**, `IotpHostServices.ctx`, valid at any time on any thread for the rest
//!   of the process: for the entry point, for a transport's server threads, and for anything a
//!   plugin does outside a call. It routes to the services the plugin was started with.
//!
//! The host's `free_buffer` accepts either context.

// The one unsafe item is the `Sync` promise of the descriptor (a plugin's descriptor is a
// `static`, so Rust plugins need it); it has its own SAFETY comment. The crate otherwise only
// declares types.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{CStr, c_char, c_void};

/// The version of this ABI. It changes only on an incompatible change; appended fields are
/// detected through `struct_size` instead.
pub const IOTP_PLUGIN_ABI_VERSION: u32 = 1;

/// The name of the descriptor symbol every plugin exports (an `IotpPluginDescriptor`).
pub const IOTP_PLUGIN_DESCRIPTOR_SYMBOL: &str = "iotp_plugin_descriptor";

/// The name of the entry point every plugin exports (an `IotpPluginEntryFn`).
pub const IOTP_PLUGIN_ENTRY_SYMBOL: &str = "iotp_plugin_entry";

/// Plugin kind: a payment scheme (RFC 3867 Payment Bridge). Its table has `call`.
pub const IOTP_PLUGIN_KIND_PAYMENT_SCHEME: u32 = 1;

/// Plugin kind: a transport supplement (such as RFC 2935 HTTP). Its table has `send` and/or
/// `serve`.
pub const IOTP_PLUGIN_KIND_TRANSPORT: u32 = 2;

/// `IotpPluginTable.flags`: the table's functions may be called from several threads at once.
pub const IOTP_PLUGIN_FLAG_THREAD_SAFE: u32 = 1;

/// A status code. The numbers are stable: a code is never renumbered nor reused.
pub type IotpStatus = u32;

/// Success. Outputs were written; returned buffers must be freed.
pub const IOTP_PLUGIN_OK: IotpStatus = 0;
/// `kv_get` only: the key has no value. Not a failure; nothing was written.
pub const IOTP_PLUGIN_NOT_FOUND: IotpStatus = 1;
/// An argument is invalid: a NULL pointer with a non-zero length, a NULL output pointer, a key
/// that is not UTF-8, an unknown log level, a call context used outside its call.
pub const IOTP_PLUGIN_ERR_BAD_ARGUMENT: IotpStatus = 2;
/// The callee declines to do this (policy, or a service unavailable in this context).
pub const IOTP_PLUGIN_ERR_REFUSED: IotpStatus = 3;
/// The callee does not provide this function, or not for this kind of plugin.
pub const IOTP_PLUGIN_ERR_UNSUPPORTED: IotpStatus = 4;
/// The callee failed (a storage error, memory exhausted, a broken invariant).
pub const IOTP_PLUGIN_ERR_INTERNAL: IotpStatus = 5;
/// The callee panicked; the panic was caught at the ABI boundary.
pub const IOTP_PLUGIN_ERR_PANIC: IotpStatus = 6;
/// A document could not be read: not the RFC 3867 document expected (`call` request, CallBack).
/// A well-formed request the plugin cannot satisfy gets a response document with an error in
/// it, not this status.
pub const IOTP_PLUGIN_ERR_BAD_DOCUMENT: IotpStatus = 7;
/// Communication failed (transports: the peer could not be reached, the connection broke).
/// A retry may succeed.
pub const IOTP_PLUGIN_ERR_IO: IotpStatus = 8;

/// `log` levels.
pub const IOTP_LOG_ERROR: u32 = 1;
/// Unexpected but handled.
pub const IOTP_LOG_WARN: u32 = 2;
/// Progress.
pub const IOTP_LOG_INFO: u32 = 3;
/// Details.
pub const IOTP_LOG_DEBUG: u32 = 4;

/// Bytes handed from the side that allocated them to the other side.
///
/// `ptr` and `len` are the bytes (`ptr` may be NULL when `len` is 0). `cap` belongs to the
/// allocating side (a Rust `Vec`'s capacity; a C plugin may keep anything there): the receiver
/// never reads it and hands the buffer back unchanged to the allocator's `free_buffer`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IotpBuffer {
    /// The first byte.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
    /// For the allocating side only.
    pub cap: usize,
}

impl IotpBuffer {
    /// No bytes: what an output holds before the callee writes it.
    pub const fn empty() -> IotpBuffer {
        IotpBuffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }
}

/// The static descriptor a plugin exports as `iotp_plugin_descriptor`. The host reads it
/// without calling any function of the plugin.
#[repr(C)]
#[derive(Debug)]
pub struct IotpPluginDescriptor {
    /// `sizeof(IotpPluginDescriptor)` as the plugin was built.
    pub struct_size: u32,
    /// `IOTP_PLUGIN_ABI_VERSION` as the plugin was built.
    pub abi_version: u32,
    /// `IOTP_PLUGIN_KIND_PAYMENT_SCHEME` or `IOTP_PLUGIN_KIND_TRANSPORT`.
    pub kind: u32,
    /// The plugin's name: a static, nul-terminated UTF-8 string.
    pub name: *const c_char,
    /// The plugin's version: a static, nul-terminated UTF-8 string.
    pub version: *const c_char,
    /// What a payment scheme claims (an `IotpPluginClaims` XML document: roles, protocols,
    /// brands, directions, calls, test instruments), static and nul-terminated, or NULL.
    /// Appended to ABI version 1: the host reads it only when `struct_size` covers it.
    pub claims: *const c_char,
}

// SAFETY: a descriptor is immutable data whose pointers name static, immutable strings (that is
// its contract, and `new` only takes `&'static CStr`), so sharing it between threads is sound.
// Rust plugins need this to export it as a `static`.
unsafe impl Sync for IotpPluginDescriptor {}

impl IotpPluginDescriptor {
    /// The descriptor of a plugin of `kind` built against this ABI.
    pub const fn new(kind: u32, name: &'static CStr, version: &'static CStr) -> Self {
        IotpPluginDescriptor {
            struct_size: size_of::<IotpPluginDescriptor>() as u32,
            abi_version: IOTP_PLUGIN_ABI_VERSION,
            kind,
            name: name.as_ptr(),
            version: version.as_ptr(),
            claims: std::ptr::null(),
        }
    }

    /// The same descriptor with a claims document.
    pub const fn with_claims(mut self, claims: &'static CStr) -> Self {
        self.claims = claims.as_ptr();
        self
    }
}

/// Frees a buffer the table's owner allocated (`ctx`: the host's context, or the plugin's).
pub type IotpFreeBufferFn = Option<unsafe extern "C" fn(ctx: *mut c_void, buffer: IotpBuffer)>;

/// The host's services, passed to the entry point. Valid for the rest of the process.
///
/// Every function takes a context first: the `call_ctx` of the call being served, or `ctx`
/// below outside any call. Keys are UTF-8 byte strings (not nul-terminated); values and
/// documents are bytes. Outputs are written only when the status is `IOTP_PLUGIN_OK`.
#[repr(C)]
#[derive(Debug)]
pub struct IotpHostServices {
    /// `sizeof(IotpHostServices)` as the host was built.
    pub struct_size: u32,
    /// `IOTP_PLUGIN_ABI_VERSION` as the host was built.
    pub abi_version: u32,
    /// The host context: valid on any thread, at any time, outside calls too.
    pub ctx: *mut c_void,
    /// Reads the value of `key` into `out` (host-allocated: free it with `free_buffer`).
    /// `IOTP_PLUGIN_NOT_FOUND` when the key has none.
    pub kv_get: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            key: *const u8,
            key_len: usize,
            out: *mut IotpBuffer,
        ) -> IotpStatus,
    >,
    /// Writes (or replaces) the value of `key`; durable once it returns `IOTP_PLUGIN_OK`.
    pub kv_put: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            key: *const u8,
            key_len: usize,
            value: *const u8,
            value_len: usize,
        ) -> IotpStatus,
    >,
    /// Writes the value of `key` only if it has none, atomically; `*inserted` tells which.
    /// (E-cash double-spend detection relies on it.)
    pub kv_insert_if_absent: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            key: *const u8,
            key_len: usize,
            value: *const u8,
            value_len: usize,
            inserted: *mut bool,
        ) -> IotpStatus,
    >,
    /// Removes the value of `key` (`IOTP_PLUGIN_OK` when it had none, too).
    pub kv_delete: Option<
        unsafe extern "C" fn(ctx: *mut c_void, key: *const u8, key_len: usize) -> IotpStatus,
    >,
    /// RFC 3867 CallBack: an IotpPaymentApiRequest document holding a CallBack in, the
    /// IotpPaymentApiResponse document holding the CallBackResponse out (host-allocated).
    pub callback: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            document: *const u8,
            document_len: usize,
            out: *mut IotpBuffer,
        ) -> IotpStatus,
    >,
    /// Writes a log line (UTF-8; never card numbers nor secrets) at an `IOTP_LOG_*` level.
    pub log: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            level: u32,
            message: *const u8,
            message_len: usize,
        ) -> IotpStatus,
    >,
    /// Milliseconds since 1970-01-01T00:00:00Z as the host sees them (the engine's clock, which
    /// tests control). `INT64_MIN` only if the host failed.
    pub now_unix_millis: Option<unsafe extern "C" fn(ctx: *mut c_void) -> i64>,
    /// Fills `len` bytes at `out` with cryptographically secure random bytes.
    pub random:
        Option<unsafe extern "C" fn(ctx: *mut c_void, out: *mut u8, len: usize) -> IotpStatus>,
    /// Frees a buffer the host allocated (from `kv_get`, `callback`, a serve handler). Either
    /// context will do.
    pub free_buffer: IotpFreeBufferFn,
}

/// A transport's server hands each message it receives to the host through this function,
/// which runs the engine and writes the reply to send back in `out` (host-allocated: free it
/// with the host's `free_buffer`; an empty reply is a reply with no body). It may be called
/// from any thread, concurrently, for the rest of the process.
pub type IotpServeHandlerFn = Option<
    unsafe extern "C" fn(
        handler_ctx: *mut c_void,
        message: *const u8,
        message_len: usize,
        out: *mut IotpBuffer,
    ) -> IotpStatus,
>;

/// The plugin's table, returned by the entry point. The plugin keeps it valid for the rest of
/// the process. A function a kind does not use is NULL.
#[repr(C)]
#[derive(Debug)]
pub struct IotpPluginTable {
    /// `sizeof(IotpPluginTable)` as the plugin was built.
    pub struct_size: u32,
    /// `IOTP_PLUGIN_ABI_VERSION` as the plugin was built.
    pub abi_version: u32,
    /// The same kind as the descriptor's.
    pub kind: u32,
    /// `IOTP_PLUGIN_FLAG_*` bits.
    pub flags: u32,
    /// The plugin's own context, passed back to each of its functions.
    pub plugin_ctx: *mut c_void,
    /// Payment schemes: one RFC 3867 call. `request` is an IotpPaymentApiRequest document; the
    /// IotpPaymentApiResponse document goes to `out` (plugin-allocated: the host frees it with
    /// `free_buffer`). `call_ctx` is for the host services, during this call, on this thread.
    /// A non-OK status is a failure of the ABI call itself; a payment that fails is an OK
    /// status with the error in the response document.
    pub call: Option<
        unsafe extern "C" fn(
            plugin_ctx: *mut c_void,
            call_ctx: *mut c_void,
            request: *const u8,
            request_len: usize,
            out: *mut IotpBuffer,
        ) -> IotpStatus,
    >,
    /// Frees a buffer the plugin allocated (from `call` or `send`).
    pub free_buffer: IotpFreeBufferFn,
    /// Transports, client side: sends `message` (an IOTP message) to `net_location` (a net
    /// location of an IOTP message, UTF-8) and writes the reply's bytes to `out`
    /// (plugin-allocated; empty when the peer sent none). NULL when the transport only serves.
    pub send: Option<
        unsafe extern "C" fn(
            plugin_ctx: *mut c_void,
            call_ctx: *mut c_void,
            net_location: *const u8,
            net_location_len: usize,
            message: *const u8,
            message_len: usize,
            out: *mut IotpBuffer,
        ) -> IotpStatus,
    >,
    /// Transports, server side: starts serving as the `config` document says (its format is
    /// the transport's own), returns once it is ready or has failed, and from then on hands
    /// every message received to `handler` with `handler_ctx`, from threads of its own, using
    /// the host context (not `call_ctx`) for the host services. NULL when the transport only
    /// sends.
    pub serve: Option<
        unsafe extern "C" fn(
            plugin_ctx: *mut c_void,
            call_ctx: *mut c_void,
            config: *const u8,
            config_len: usize,
            handler: IotpServeHandlerFn,
            handler_ctx: *mut c_void,
        ) -> IotpStatus,
    >,
}

/// The entry point, exported as `iotp_plugin_entry`: called once per start with the host's ABI
/// version and services (valid for the rest of the process). Returns the plugin's table, or
/// NULL to refuse (an ABI version it does not speak, a host table too small, a failed
/// initialisation).
pub type IotpPluginEntryFn = Option<
    unsafe extern "C" fn(
        host_abi_version: u32,
        host: *const IotpHostServices,
    ) -> *const IotpPluginTable,
>;

/// The kinds of plugin this ABI knows.
///
/// cbindgen:ignore
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// [`IOTP_PLUGIN_KIND_PAYMENT_SCHEME`].
    PaymentScheme,
    /// [`IOTP_PLUGIN_KIND_TRANSPORT`].
    Transport,
}

impl PluginKind {
    /// The kind of a code, `None` for a code this ABI does not know.
    pub const fn from_code(code: u32) -> Option<PluginKind> {
        match code {
            IOTP_PLUGIN_KIND_PAYMENT_SCHEME => Some(PluginKind::PaymentScheme),
            IOTP_PLUGIN_KIND_TRANSPORT => Some(PluginKind::Transport),
            _ => None,
        }
    }

    /// The code of the kind.
    pub const fn code(self) -> u32 {
        match self {
            PluginKind::PaymentScheme => IOTP_PLUGIN_KIND_PAYMENT_SCHEME,
            PluginKind::Transport => IOTP_PLUGIN_KIND_TRANSPORT,
        }
    }

    /// A short name: `payment-scheme`, `transport`.
    pub const fn name(self) -> &'static str {
        match self {
            PluginKind::PaymentScheme => "payment-scheme",
            PluginKind::Transport => "transport",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A status other than `IOTP_PLUGIN_OK` and `IOTP_PLUGIN_NOT_FOUND`: why a function failed.
///
/// cbindgen:ignore
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorStatus {
    /// [`IOTP_PLUGIN_ERR_BAD_ARGUMENT`].
    BadArgument,
    /// [`IOTP_PLUGIN_ERR_REFUSED`].
    Refused,
    /// [`IOTP_PLUGIN_ERR_UNSUPPORTED`].
    Unsupported,
    /// [`IOTP_PLUGIN_ERR_INTERNAL`].
    Internal,
    /// [`IOTP_PLUGIN_ERR_PANIC`].
    Panic,
    /// [`IOTP_PLUGIN_ERR_BAD_DOCUMENT`].
    BadDocument,
    /// [`IOTP_PLUGIN_ERR_IO`].
    Io,
    /// A number this ABI version does not define (or `IOTP_PLUGIN_NOT_FOUND` where it has no
    /// meaning).
    Unknown(IotpStatus),
}

impl ErrorStatus {
    /// The error of a status code; `None` for `IOTP_PLUGIN_OK`.
    pub const fn from_code(code: IotpStatus) -> Option<ErrorStatus> {
        Some(match code {
            IOTP_PLUGIN_OK => return None,
            IOTP_PLUGIN_ERR_BAD_ARGUMENT => ErrorStatus::BadArgument,
            IOTP_PLUGIN_ERR_REFUSED => ErrorStatus::Refused,
            IOTP_PLUGIN_ERR_UNSUPPORTED => ErrorStatus::Unsupported,
            IOTP_PLUGIN_ERR_INTERNAL => ErrorStatus::Internal,
            IOTP_PLUGIN_ERR_PANIC => ErrorStatus::Panic,
            IOTP_PLUGIN_ERR_BAD_DOCUMENT => ErrorStatus::BadDocument,
            IOTP_PLUGIN_ERR_IO => ErrorStatus::Io,
            other => ErrorStatus::Unknown(other),
        })
    }

    /// The status code.
    pub const fn code(self) -> IotpStatus {
        match self {
            ErrorStatus::BadArgument => IOTP_PLUGIN_ERR_BAD_ARGUMENT,
            ErrorStatus::Refused => IOTP_PLUGIN_ERR_REFUSED,
            ErrorStatus::Unsupported => IOTP_PLUGIN_ERR_UNSUPPORTED,
            ErrorStatus::Internal => IOTP_PLUGIN_ERR_INTERNAL,
            ErrorStatus::Panic => IOTP_PLUGIN_ERR_PANIC,
            ErrorStatus::BadDocument => IOTP_PLUGIN_ERR_BAD_DOCUMENT,
            ErrorStatus::Io => IOTP_PLUGIN_ERR_IO,
            ErrorStatus::Unknown(code) => code,
        }
    }

    /// What the status means, in a few words.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorStatus::BadArgument => "bad argument",
            ErrorStatus::Refused => "refused",
            ErrorStatus::Unsupported => "unsupported",
            ErrorStatus::Internal => "internal error",
            ErrorStatus::Panic => "panicked",
            ErrorStatus::BadDocument => "unreadable document",
            ErrorStatus::Io => "communication failed",
            ErrorStatus::Unknown(_) => "unknown status",
        }
    }
}

impl std::fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (status {})", self.description(), self.code())
    }
}

/// Log levels of the `log` service.
///
/// cbindgen:ignore
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// [`IOTP_LOG_ERROR`].
    Error,
    /// [`IOTP_LOG_WARN`].
    Warn,
    /// [`IOTP_LOG_INFO`].
    Info,
    /// [`IOTP_LOG_DEBUG`].
    Debug,
}

impl LogLevel {
    /// The level of a code, `None` for a code this ABI does not know.
    pub const fn from_code(code: u32) -> Option<LogLevel> {
        match code {
            IOTP_LOG_ERROR => Some(LogLevel::Error),
            IOTP_LOG_WARN => Some(LogLevel::Warn),
            IOTP_LOG_INFO => Some(LogLevel::Info),
            IOTP_LOG_DEBUG => Some(LogLevel::Debug),
            _ => None,
        }
    }

    /// The code of the level.
    pub const fn code(self) -> u32 {
        match self {
            LogLevel::Error => IOTP_LOG_ERROR,
            LogLevel::Warn => IOTP_LOG_WARN,
            LogLevel::Info => IOTP_LOG_INFO,
            LogLevel::Debug => IOTP_LOG_DEBUG,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_status_round_trips() {
        for code in 2..=8 {
            let status = ErrorStatus::from_code(code).expect("an error");
            assert!(!matches!(status, ErrorStatus::Unknown(_)), "{code}");
            assert_eq!(status.code(), code);
        }
        assert_eq!(ErrorStatus::from_code(IOTP_PLUGIN_OK), None);
        assert_eq!(ErrorStatus::from_code(99), Some(ErrorStatus::Unknown(99)));
    }

    #[test]
    fn kinds_and_levels_round_trip() {
        for kind in [PluginKind::PaymentScheme, PluginKind::Transport] {
            assert_eq!(PluginKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(PluginKind::from_code(0), None);
        for level in [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
        ] {
            assert_eq!(LogLevel::from_code(level.code()), Some(level));
        }
        assert_eq!(LogLevel::from_code(0), None);
    }

    /// Tables start with `struct_size` and `abi_version`, where the host reads them before it
    /// knows the rest of the layout.
    #[test]
    fn tables_open_with_size_and_version() {
        assert_eq!(std::mem::offset_of!(IotpPluginDescriptor, abi_version), 4);
        assert_eq!(std::mem::offset_of!(IotpHostServices, abi_version), 4);
        assert_eq!(std::mem::offset_of!(IotpPluginTable, abi_version), 4);
    }
}
