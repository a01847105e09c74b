//! What the exported functions share: the panic guard, reading the host's arguments, handing
//! plugin-allocated buffers out and taking them back.

use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};

use iotp_plugin_api::{
    ErrorStatus, IOTP_PLUGIN_ABI_VERSION, IotpBuffer, IotpHostServices, IotpStatus,
};

/// Runs the body of an exported function: its status, or `IOTP_PLUGIN_ERR_PANIC` when it
/// panicked. Nothing unwinds into the host.
pub(crate) fn guard(body: impl FnOnce() -> Result<IotpStatus, ErrorStatus>) -> IotpStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => error.code(),
        Err(_) => ErrorStatus::Panic.code(),
    }
}

/// What a panic said, for the log.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// The host's services table, checked: the host's ABI version (given to the entry point and in
/// the table) is ours, and the table holds every field of ours. `None` refuses the start.
///
/// # Safety
/// `host` is NULL or points at a host services table of some ABI version, valid for the rest
/// of the process (the ABI's contract for the entry point).
pub(crate) unsafe fn host_services(
    host_abi_version: u32,
    host: *const IotpHostServices,
) -> Option<&'static IotpHostServices> {
    if host_abi_version != IOTP_PLUGIN_ABI_VERSION || host.is_null() {
        return None;
    }
    // SAFETY: non-NULL; every table of every ABI version starts with these two fields.
    let (size, abi_version) = unsafe {
        (
            (&raw const (*host).struct_size).read(),
            (&raw const (*host).abi_version).read(),
        )
    };
    if abi_version != IOTP_PLUGIN_ABI_VERSION || (size as usize) < size_of::<IotpHostServices>() {
        return None;
    }
    // SAFETY: a table of this ABI version holding every field of ours, valid (and unchanged)
    // for the rest of the process.
    Some(unsafe { &*host })
}

/// The bytes at `ptr`, `len` long: NULL is allowed for an empty slice only.
///
/// # Safety
/// Unless NULL, `ptr` points at `len` readable bytes that stay unchanged while the result is
/// used.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], ErrorStatus> {
    if len == 0 {
        Ok(&[])
    } else if ptr.is_null() || len > isize::MAX as usize {
        Err(ErrorStatus::BadArgument)
    } else {
        // SAFETY: non-NULL, `len` readable bytes (the function's contract), len ≤ isize::MAX.
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// Hands a plugin-allocated `Vec` to the host; [`free_buffer`] takes it back.
pub(crate) fn plugin_buffer(bytes: Vec<u8>) -> IotpBuffer {
    let mut bytes = ManuallyDrop::new(bytes);
    IotpBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

/// `IotpPluginTable.free_buffer`: takes back a buffer of [`plugin_buffer`]. A NULL buffer is
/// ignored.
///
/// # Safety
/// `buffer` came from [`plugin_buffer`] (the output of `call` or `send`), unchanged, and is
/// handed back once.
pub(crate) unsafe extern "C" fn free_buffer(
    _plugin_ctx: *mut std::ffi::c_void,
    buffer: IotpBuffer,
) {
    // Dropping a Vec<u8> does not panic; the guard is there because every export has one.
    guard(|| {
        if !buffer.ptr.is_null() {
            // SAFETY: a leaked Vec's pointer, length and capacity (the function's contract),
            // given back once.
            drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
        }
        Ok(iotp_plugin_api::IOTP_PLUGIN_OK)
    });
}

/// Copies a host-allocated output and hands the buffer back to the host.
///
/// # Safety
/// `buffer` is what a host service returned with `IOTP_PLUGIN_OK`, unchanged, not yet freed;
/// `ctx` is a context the host's `free_buffer` accepts.
pub(crate) unsafe fn take_host_buffer(
    services: &IotpHostServices,
    ctx: *mut std::ffi::c_void,
    buffer: IotpBuffer,
) -> Result<Vec<u8>, ErrorStatus> {
    let copied = if buffer.len == 0 {
        Ok(Vec::new())
    } else if buffer.ptr.is_null() || buffer.len > isize::MAX as usize {
        Err(ErrorStatus::BadArgument)
    } else {
        // SAFETY: the host returned OK with `len` readable bytes at `ptr`, valid until freed.
        Ok(unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec())
    };
    if let Some(free) = services.free_buffer {
        // SAFETY: the host's buffer, unchanged, handed back once, with a context it accepts.
        unsafe { free(ctx, buffer) };
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(struct_size: u32, abi_version: u32) -> IotpHostServices {
        IotpHostServices {
            struct_size,
            abi_version,
            ctx: std::ptr::null_mut(),
            kv_get: None,
            kv_put: None,
            kv_insert_if_absent: None,
            kv_delete: None,
            callback: None,
            log: None,
            now_unix_millis: None,
            random: None,
            free_buffer: None,
        }
    }

    /// The entry point refuses a host of another ABI version, and a table too small.
    #[test]
    fn the_host_table_is_checked_before_use() {
        let size = size_of::<IotpHostServices>() as u32;
        let good: &'static IotpHostServices =
            Box::leak(Box::new(table(size, IOTP_PLUGIN_ABI_VERSION)));
        let older = table(size, IOTP_PLUGIN_ABI_VERSION - 1);
        let small = table(8, IOTP_PLUGIN_ABI_VERSION);
        // SAFETY: NULL or live tables (leaked, or living until the end of the test, which
        // is enough for a check that keeps nothing when it refuses).
        unsafe {
            assert!(host_services(IOTP_PLUGIN_ABI_VERSION, good).is_some());
            assert!(host_services(IOTP_PLUGIN_ABI_VERSION + 1, good).is_none());
            assert!(host_services(IOTP_PLUGIN_ABI_VERSION, &older).is_none());
            assert!(host_services(IOTP_PLUGIN_ABI_VERSION, &small).is_none());
            assert!(host_services(IOTP_PLUGIN_ABI_VERSION, std::ptr::null()).is_none());
        }
    }

    #[test]
    fn every_panic_is_a_status() {
        assert_eq!(guard(|| panic!("boom")), ErrorStatus::Panic.code());
        assert_eq!(guard(|| Err(ErrorStatus::Io)), ErrorStatus::Io.code());
        assert_eq!(guard(|| Ok(0)), 0);
        let payload = std::panic::catch_unwind(|| panic!("with {}", "words")).unwrap_err();
        assert_eq!(panic_message(&*payload), "with words");
    }
}
