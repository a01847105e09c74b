//! The host side of the services a plugin reaches the world through: the [`HostServices`]
//! trait, and the `extern "C"` trampolines that turn an implementation into the C
//! `IotpHostServices` table.
//!
//! Every host service takes a context pointer first, which points at a [`ServicesContext`]:
//! - for a call into the plugin (`call`, `send`, `serve`), one built on the caller's stack
//!   around the [`HostServices`] passed for that call, valid during the call;
//! - the host context (`IotpHostServices.ctx`), leaked with the table, around the services the
//!   plugin was started with, valid for the rest of the process.
//!
//! Every trampoline checks its pointers, runs under `catch_unwind` (a panic becomes
//! `IOTP_PLUGIN_ERR_PANIC`: nothing unwinds into C), and writes its output only on success.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use iotp_plugin_api::{
    ErrorStatus, IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_NOT_FOUND, IOTP_PLUGIN_OK, IotpBuffer,
    IotpHostServices, IotpStatus, LogLevel,
};

/// What a plugin may ask of the host: durable key-value with insert-if-absent, RFC 3867
/// CallBack, log, clock, random bytes. Bytes and strings only, so that any host (the engine's
/// bridge host, a test double, the conformance kit) can provide it.
///
/// Errors are ABI statuses ([`ErrorStatus`]): they cross to the plugin as numbers. A panic in
/// an implementation is caught and reaches the plugin as `IOTP_PLUGIN_ERR_PANIC`.
pub trait HostServices {
    /// The value of `key`, `None` when it has none.
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ErrorStatus>;
    /// Writes (or replaces) the value of `key`; durable when this returns.
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ErrorStatus>;
    /// Writes the value of `key` only if it has none, atomically; `Ok(false)` when it had one.
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ErrorStatus>;
    /// Removes the value of `key` (fine when it has none).
    fn kv_delete(&self, key: &str) -> Result<(), ErrorStatus>;
    /// RFC 3867 CallBack: the request document (IotpPaymentApiRequest holding a CallBack) in,
    /// the response document (IotpPaymentApiResponse holding a CallBackResponse) out.
    fn callback(&self, document: &[u8]) -> Result<Vec<u8>, ErrorStatus>;
    /// Writes a log line.
    fn log(&self, level: LogLevel, message: &str);
    /// Milliseconds since 1970-01-01T00:00:00Z, as the host's clock says.
    fn now_unix_millis(&self) -> i64;
    /// Fills `out` with cryptographically secure random bytes.
    fn random(&self, out: &mut [u8]);
}

/// What a transport's server hands each message it receives to: runs the engine, returns the
/// reply to send back. Called from the transport's threads, concurrently.
pub trait ServeHandler: Send + Sync {
    /// The reply to `message` (empty: a reply without a body).
    fn handle(&self, message: &[u8]) -> Result<Vec<u8>, ErrorStatus>;
}

impl<F> ServeHandler for F
where
    F: Fn(&[u8]) -> Result<Vec<u8>, ErrorStatus> + Send + Sync,
{
    fn handle(&self, message: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        self(message)
    }
}

/// What a context pointer handed to a plugin points at.
pub(crate) struct ServicesContext<'a> {
    services: &'a dyn HostServices,
}

impl<'a> ServicesContext<'a> {
    /// The context of one call into the plugin.
    pub(crate) fn new(services: &'a dyn HostServices) -> Self {
        ServicesContext { services }
    }

    /// The pointer the plugin gets. Valid while `self` is.
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        std::ptr::from_ref(self).cast_mut().cast()
    }
}

/// Builds the `IotpHostServices` table for a plugin started with `services`, and leaks it with
/// its host context: the plugin may use both for the rest of the process.
pub(crate) fn leak_host_table(
    services: Arc<dyn HostServices + Send + Sync>,
) -> &'static IotpHostServices {
    let services: &'static (dyn HostServices + Send + Sync) = &**Box::leak(Box::new(services));
    let context: &'static ServicesContext<'static> =
        Box::leak(Box::new(ServicesContext { services }));
    Box::leak(Box::new(IotpHostServices {
        struct_size: size_of::<IotpHostServices>() as u32,
        abi_version: IOTP_PLUGIN_ABI_VERSION,
        ctx: context.as_ptr(),
        kv_get: Some(kv_get),
        kv_put: Some(kv_put),
        kv_insert_if_absent: Some(kv_insert_if_absent),
        kv_delete: Some(kv_delete),
        callback: Some(callback),
        log: Some(log),
        now_unix_millis: Some(now_unix_millis),
        random: Some(random),
        free_buffer: Some(free_buffer),
    }))
}

/// Hands a host-allocated `Vec` to the plugin; [`free_buffer`] takes it back.
pub(crate) fn host_buffer(bytes: Vec<u8>) -> IotpBuffer {
    let mut bytes = ManuallyDrop::new(bytes);
    IotpBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

/// Runs a trampoline's body: its error, or `IOTP_PLUGIN_ERR_PANIC` when it panicked.
fn guard(body: impl FnOnce() -> Result<IotpStatus, ErrorStatus>) -> IotpStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => error.code(),
        Err(_) => ErrorStatus::Panic.code(),
    }
}

/// The services behind a context pointer.
///
/// # Safety
/// `ctx` is NULL or a pointer from [`ServicesContext::as_ptr`] whose context is still alive
/// (the ABI's contract: a call context is used during its call only).
unsafe fn services<'a>(ctx: *mut c_void) -> Result<&'a dyn HostServices, ErrorStatus> {
    let context = ctx.cast_const().cast::<ServicesContext<'a>>();
    // SAFETY: non-NULL, it points at a live ServicesContext (the function's contract).
    unsafe { context.as_ref() }
        .map(|context| context.services)
        .ok_or(ErrorStatus::BadArgument)
}

/// The bytes at `ptr`, `len` long: NULL is allowed for an empty slice only.
///
/// # Safety
/// Unless NULL, `ptr` points at `len` readable bytes that stay unchanged during the call.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], ErrorStatus> {
    if len == 0 {
        Ok(&[])
    } else if ptr.is_null() || len > isize::MAX as usize {
        Err(ErrorStatus::BadArgument)
    } else {
        // SAFETY: non-NULL, `len` readable bytes (the function's contract), len ≤ isize::MAX.
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// A key: UTF-8 bytes.
///
/// # Safety
/// As [`bytes`].
unsafe fn key<'a>(ptr: *const u8, len: usize) -> Result<&'a str, ErrorStatus> {
    // SAFETY: the same contract as ours.
    let bytes = unsafe { bytes(ptr, len) }?;
    std::str::from_utf8(bytes).map_err(|_| ErrorStatus::BadArgument)
}

/// `IotpHostServices.kv_get`.
///
/// # Safety
/// The ABI's contract: a live context, `key_len` readable bytes at `key`, `out` writable.
unsafe extern "C" fn kv_get(
    ctx: *mut c_void,
    key_ptr: *const u8,
    key_len: usize,
    out: *mut IotpBuffer,
) -> IotpStatus {
    guard(|| {
        // SAFETY: the trampoline's contract.
        let (services, key) = unsafe { (services(ctx)?, key(key_ptr, key_len)?) };
        if out.is_null() {
            return Err(ErrorStatus::BadArgument);
        }
        match services.kv_get(key)? {
            None => Ok(IOTP_PLUGIN_NOT_FOUND),
            Some(value) => {
                // SAFETY: `out` is non-NULL and writable (the trampoline's contract).
                unsafe { out.write(host_buffer(value)) };
                Ok(IOTP_PLUGIN_OK)
            }
        }
    })
}

/// `IotpHostServices.kv_put`.
///
/// # Safety
/// The ABI's contract: a live context, readable key and value.
unsafe extern "C" fn kv_put(
    ctx: *mut c_void,
    key_ptr: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> IotpStatus {
    guard(|| {
        // SAFETY: the trampoline's contract.
        let (services, key, value) = unsafe {
            (
                services(ctx)?,
                key(key_ptr, key_len)?,
                bytes(value, value_len)?,
            )
        };
        services.kv_put(key, value)?;
        Ok(IOTP_PLUGIN_OK)
    })
}

/// `IotpHostServices.kv_insert_if_absent`.
///
/// # Safety
/// The ABI's contract: a live context, readable key and value, `inserted` writable.
unsafe extern "C" fn kv_insert_if_absent(
    ctx: *mut c_void,
    key_ptr: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    inserted: *mut bool,
) -> IotpStatus {
    guard(|| {
        // SAFETY: the trampoline's contract.
        let (services, key, value) = unsafe {
            (
                services(ctx)?,
                key(key_ptr, key_len)?,
                bytes(value, value_len)?,
            )
        };
        if inserted.is_null() {
            return Err(ErrorStatus::BadArgument);
        }
        let was_inserted = services.kv_insert_if_absent(key, value)?;
        // SAFETY: `inserted` is non-NULL and writable (the trampoline's contract).
        unsafe { inserted.write(was_inserted) };
        Ok(IOTP_PLUGIN_OK)
    })
}

/// `IotpHostServices.kv_delete`.
///
/// # Safety
/// The ABI's contract: a live context, a readable key.
unsafe extern "C" fn kv_delete(ctx: *mut c_void, key_ptr: *const u8, key_len: usize) -> IotpStatus {
    guard(|| {
        // SAFETY: the trampoline's contract.
        let (services, key) = unsafe { (services(ctx)?, key(key_ptr, key_len)?) };
        services.kv_delete(key)?;
        Ok(IOTP_PLUGIN_OK)
    })
}

/// `IotpHostServices.callback`.
///
/// # Safety
/// The ABI's contract: a live context, a readable document, `out` writable.
unsafe extern "C" fn callback(
    ctx: *mut c_void,
    document: *const u8,
    document_len: usize,
    out: *mut IotpBuffer,
) -> IotpStatus {
    guard(|| {
        // SAFETY: the trampoline's contract.
        let (services, document) = unsafe { (services(ctx)?, bytes(document, document_len)?) };
        if out.is_null() {
            return Err(ErrorStatus::BadArgument);
        }
        let response = services.callback(document)?;
        // SAFETY: `out` is non-NULL and writable (the trampoline's contract).
        unsafe { out.write(host_buffer(response)) };
        Ok(IOTP_PLUGIN_OK)
    })
}

/// `IotpHostServices.log`. A message that is not UTF-8 is logged with replacement characters.
///
/// # Safety
/// The ABI's contract: a live context, a readable message.
unsafe extern "C" fn log(
    ctx: *mut c_void,
    level: u32,
    message: *const u8,
    message_len: usize,
) -> IotpStatus {
    guard(|| {
        // SAFETY: the trampoline's contract.
        let (services, message) = unsafe { (services(ctx)?, bytes(message, message_len)?) };
        let level = LogLevel::from_code(level).ok_or(ErrorStatus::BadArgument)?;
        services.log(level, &String::from_utf8_lossy(message));
        Ok(IOTP_PLUGIN_OK)
    })
}

/// `IotpHostServices.now_unix_millis`: `i64::MIN` for a NULL context or a panic.
///
/// # Safety
/// The ABI's contract: a live context.
unsafe extern "C" fn now_unix_millis(ctx: *mut c_void) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the trampoline's contract.
        unsafe { services(ctx) }.map(|services| services.now_unix_millis())
    }))
    .ok()
    .and_then(Result::ok)
    .unwrap_or(i64::MIN)
}

/// `IotpHostServices.random`.
///
/// # Safety
/// The ABI's contract: a live context, `len` writable bytes at `out`.
unsafe extern "C" fn random(ctx: *mut c_void, out: *mut u8, len: usize) -> IotpStatus {
    guard(|| {
        // SAFETY: the trampoline's contract.
        let services = unsafe { services(ctx) }?;
        if len == 0 {
            return Ok(IOTP_PLUGIN_OK);
        }
        if out.is_null() || len > isize::MAX as usize {
            return Err(ErrorStatus::BadArgument);
        }
        // SAFETY: non-NULL, `len` writable bytes that nothing else uses during the call.
        let out = unsafe { std::slice::from_raw_parts_mut(out, len) };
        services.random(out);
        Ok(IOTP_PLUGIN_OK)
    })
}

/// `IotpHostServices.free_buffer`: takes back a buffer from [`host_buffer`]. A NULL buffer is
/// ignored. Needs no context.
///
/// # Safety
/// `buffer` came from [`host_buffer`] (through `kv_get`, `callback` or a serve handler),
/// unchanged, and is handed back once.
unsafe extern "C" fn free_buffer(_ctx: *mut c_void, buffer: IotpBuffer) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: the buffer is a leaked Vec's pointer, length and capacity (the function's
    // contract), given back once. Dropping a Vec<u8> cannot panic.
    drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
}

/// The serve handler the host gives a transport's `serve`; `handler_ctx` is a leaked
/// `Box<Arc<dyn ServeHandler>>`.
///
/// # Safety
/// `handler_ctx` is the pointer passed to `serve` with this function; `message_len` readable
/// bytes at `message`; `out` writable.
pub(crate) unsafe extern "C" fn serve_handler(
    handler_ctx: *mut c_void,
    message: *const u8,
    message_len: usize,
    out: *mut IotpBuffer,
) -> IotpStatus {
    guard(|| {
        let handler = handler_ctx.cast_const().cast::<Arc<dyn ServeHandler>>();
        // SAFETY: NULL or the leaked handler (never freed), shared and Sync.
        let handler = unsafe { handler.as_ref() }.ok_or(ErrorStatus::BadArgument)?;
        // SAFETY: the trampoline's contract.
        let message = unsafe { bytes(message, message_len) }?;
        if out.is_null() {
            return Err(ErrorStatus::BadArgument);
        }
        let reply = handler.handle(message)?;
        // SAFETY: `out` is non-NULL and writable (the trampoline's contract).
        unsafe { out.write(host_buffer(reply)) };
        Ok(IOTP_PLUGIN_OK)
    })
}

#[cfg(test)]
mod tests {
    //! The trampolines called as a plugin would, from Rust.
    #![allow(clippy::unwrap_used)]

    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Default)]
    struct Services {
        kv: RefCell<BTreeMap<String, Vec<u8>>>,
        logs: RefCell<Vec<(LogLevel, String)>>,
    }

    impl HostServices for Services {
        fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
            Ok(self.kv.borrow().get(key).cloned())
        }
        fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ErrorStatus> {
            if key == "panic" {
                panic!("a host service panicked");
            }
            self.kv.borrow_mut().insert(key.to_owned(), value.to_vec());
            Ok(())
        }
        fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ErrorStatus> {
            let mut kv = self.kv.borrow_mut();
            if kv.contains_key(key) {
                return Ok(false);
            }
            kv.insert(key.to_owned(), value.to_vec());
            Ok(true)
        }
        fn kv_delete(&self, key: &str) -> Result<(), ErrorStatus> {
            self.kv.borrow_mut().remove(key);
            Ok(())
        }
        fn callback(&self, _document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
            Err(ErrorStatus::Refused)
        }
        fn log(&self, level: LogLevel, message: &str) {
            self.logs.borrow_mut().push((level, message.to_owned()));
        }
        fn now_unix_millis(&self) -> i64 {
            42
        }
        fn random(&self, out: &mut [u8]) {
            out.fill(7);
        }
    }

    #[test]
    fn trampolines_route_to_the_context_and_check_arguments() {
        let services = Services::default();
        let context = ServicesContext::new(&services);
        let ctx = context.as_ptr();
        // SAFETY: a live context and valid pointers throughout, as a plugin would pass them.
        unsafe {
            assert_eq!(
                kv_put(ctx, b"k".as_ptr(), 1, b"v".as_ptr(), 1),
                IOTP_PLUGIN_OK
            );
            let mut out = IotpBuffer::empty();
            assert_eq!(kv_get(ctx, b"k".as_ptr(), 1, &mut out), IOTP_PLUGIN_OK);
            assert_eq!(std::slice::from_raw_parts(out.ptr, out.len), b"v");
            free_buffer(ctx, out);
            let mut missing = IotpBuffer::empty();
            assert_eq!(
                kv_get(ctx, b"x".as_ptr(), 1, &mut missing),
                IOTP_PLUGIN_NOT_FOUND
            );
            assert!(missing.ptr.is_null(), "no output unless OK");

            let bad = ErrorStatus::BadArgument.code();
            assert_eq!(
                kv_get(std::ptr::null_mut(), b"k".as_ptr(), 1, &mut out),
                bad
            );
            assert_eq!(kv_get(ctx, std::ptr::null(), 1, &mut out), bad);
            assert_eq!(kv_get(ctx, b"k".as_ptr(), 1, std::ptr::null_mut()), bad);
            assert_eq!(kv_delete(ctx, b"\xff".as_ptr(), 1), bad);
            assert_eq!(log(ctx, 0, b"m".as_ptr(), 1), bad);
            assert_eq!(random(ctx, std::ptr::null_mut(), 3), bad);
            assert_eq!(now_unix_millis(std::ptr::null_mut()), i64::MIN);

            assert_eq!(kv_put(ctx, b"panic".as_ptr(), 5, b"".as_ptr(), 0), 6);
            let mut response = IotpBuffer::empty();
            assert_eq!(callback(ctx, b"<x/>".as_ptr(), 4, &mut response), 3);
            assert_eq!(log(ctx, 3, b"caf\xc3\xa9 \xff".as_ptr(), 7), IOTP_PLUGIN_OK);
            assert_eq!(now_unix_millis(ctx), 42);
            let mut bytes = [0u8; 4];
            assert_eq!(random(ctx, bytes.as_mut_ptr(), 4), IOTP_PLUGIN_OK);
            assert_eq!(bytes, [7; 4]);
            free_buffer(ctx, IotpBuffer::empty());
        }
        assert_eq!(
            services.logs.borrow().as_slice(),
            [(LogLevel::Info, "café \u{fffd}".to_owned())]
        );
    }
}
