//! Handles, arguments and the panic boundary: the only places where this crate dereferences a
//! pointer that C handed it.
//!
//! **Handles.** A handle is a `Box` turned into a raw pointer ([`into_c`]) and registered, by
//! address, with the name of its type. Every use looks the address up first ([`borrow`],
//! [`borrow_mut`]); `*_free` ([`free`]) unregisters it before dropping it. So a second free, a
//! pointer the library never made, or a handle of another type is refused with
//! `IOTP_RESULT_INVALID_HANDLE` or `IOTP_RESULT_WRONG_HANDLE_KIND` and nothing is read through
//! it. (What cannot be caught: a freed handle whose address a new handle of the same type has
//! taken since, and a handle freed by one thread while another uses it; the header forbids
//! both.) Handles lent to a callback ([`lend`]) are registered only while the callback runs.
//!
//! **Panics.** Every export runs its body in [`guard`] (or [`guard_or`] for accessors that
//! return a value), which catches a panic, records the detail and returns
//! `IOTP_RESULT_PANIC`.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::result::{Failure, iotp_result, set_detail};

/// A Rust type that C sees as an opaque handle.
pub trait Handle: 'static {
    /// The C name of the type (`iotp_report`), for registration and error details.
    const KIND: &'static str;
}

/// Live handles: address to type name.
static LIVE: Mutex<BTreeMap<usize, &'static str>> = Mutex::new(BTreeMap::new());

fn live() -> MutexGuard<'static, BTreeMap<usize, &'static str>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hands `value` to C as a new handle.
pub fn into_c<T: Handle>(value: T) -> *mut T {
    let ptr = Box::into_raw(Box::new(value));
    live().insert(ptr as usize, T::KIND);
    ptr
}

/// Checks that `ptr` is a live handle of type `T`; `name` is the parameter, for the detail.
fn check<T: Handle>(ptr: *const T, name: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    verdict::<T>(live().get(&(ptr as usize)).copied(), name)
}

/// Whether a handle registered as `found` (or not registered) may be used as a `T`.
fn verdict<T: Handle>(found: Option<&'static str>, name: &str) -> Result<(), Failure> {
    match found {
        Some(kind) if kind == T::KIND => Ok(()),
        Some(kind) => Err(Failure::new(
            iotp_result::WrongHandleKind,
            format!("{name} is an {kind}, not an {}", T::KIND),
        )),
        None => Err(Failure::new(
            iotp_result::InvalidHandle,
            format!("{name} is not a live {} (freed already?)", T::KIND),
        )),
    }
}

/// The object behind a handle, shared.
pub fn borrow<'a, T: Handle>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    check(ptr, name)?;
    // SAFETY: `ptr` is registered, so it came from `Box::into_raw` in `into_c` or `lend` and
    // has not been freed (both unregister before they drop). The header forbids freeing a
    // handle while another thread uses it, so it outlives this call.
    Ok(unsafe { &*ptr })
}

/// The object behind a handle, exclusive. For handles the header says are used by one thread
/// at a time (node configurations, the handles lent to a callback).
pub fn borrow_mut<'a, T: Handle>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    check(ptr, name)?;
    // SAFETY: as in `borrow`; exclusive because the header allows one thread at a time on
    // this type, and no reference to it is kept across calls.
    Ok(unsafe { &mut *ptr })
}

/// Releases a handle: NULL is accepted and does nothing; anything but a live `T` is refused.
pub fn free<T: Handle>(ptr: *mut T, name: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        return Ok(());
    }
    {
        // Checked and removed under one lock: two threads freeing one handle cannot both
        // drop it.
        let mut live = live();
        verdict::<T>(live.get(&(ptr as usize)).copied(), name)?;
        live.remove(&(ptr as usize));
    }
    // SAFETY: the handle was registered (so it came from `Box::into_raw`) and is now
    // unregistered by this call alone, so it is dropped exactly once.
    drop(unsafe { Box::from_raw(ptr) });
    Ok(())
}

/// Lends `value` to C as a handle for the duration of `f` (a callback), then takes it back:
/// after `f` returns the handle is no longer live.
pub fn lend<T: Handle, R>(value: T, f: impl FnOnce(*mut T) -> R) -> (T, R) {
    let ptr = into_c(value);
    let result = f(ptr);
    live().remove(&(ptr as usize));
    // SAFETY: `ptr` came from `into_c` just above; it has no `*_free` (lent types have none),
    // and it is unregistered now, so this is the only owner.
    let value = unsafe { Box::from_raw(ptr) };
    (*value, result)
}

/// The failure for a NULL `name`.
pub fn null(name: &str) -> Failure {
    Failure::new(iotp_result::NullParameter, format!("{name} is NULL"))
}

/// A NUL-terminated UTF-8 string argument.
pub fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    opt_str_arg(ptr, name)?.ok_or_else(|| null(name))
}

/// A string argument that may be NULL.
pub fn opt_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: the header requires strings to be NUL-terminated and valid for the call.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map(Some).map_err(|_| {
        Failure::new(
            iotp_result::InvalidParameter,
            format!("{name} is not UTF-8"),
        )
    })
}

/// A byte-string argument: `len` bytes at `ptr` (NULL only with a length of 0).
pub fn bytes_arg<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(name)) };
    }
    if len > isize::MAX as usize {
        return Err(Failure::new(
            iotp_result::InvalidParameter,
            format!("{name}: length {len} is too large"),
        ));
    }
    // SAFETY: the header requires `len` readable bytes at a non-NULL `ptr`, valid for the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks an output pointer before any work, so that a NULL is refused before anything
/// happens.
pub fn out_arg<T>(ptr: *mut T, name: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        Err(null(name))
    } else {
        Ok(())
    }
}

/// Writes an output (checked with [`out_arg`] first); the last step of a successful call.
pub fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: `ptr` was checked non-NULL by `out_arg`, and the header requires an output
    // pointer to point to writable memory of its type. `write` does not read or drop what was
    // there (the caller's memory may be uninitialised).
    unsafe { ptr.write(value) }
}

/// `text` as a C string; a NUL inside (which no XML text holds) is dropped.
pub fn c_string(text: impl Into<Vec<u8>>) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).unwrap_or_default()
    })
}

/// The pointer of an optional C string (NULL for none).
pub fn opt_ptr(text: &Option<CString>) -> *const c_char {
    text.as_ref().map_or(std::ptr::null(), |t| t.as_ptr())
}

/// Runs an export's body: a failure is recorded for `iotp_error_detail` and returned, a panic
/// is caught and returned as `IOTP_RESULT_PANIC`.
pub fn guard(body: impl FnOnce() -> Result<(), Failure>) -> iotp_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => iotp_result::Ok,
        Ok(Err(failure)) => {
            set_detail(&failure);
            failure.result
        }
        Err(panic) => {
            let failure = Failure::new(iotp_result::Panic, panic_text(panic.as_ref()));
            set_detail(&failure);
            failure.result
        }
    }
}

/// Runs an accessor's body: on a failure or a panic (recorded as by [`guard`]) it returns
/// `fallback`.
pub fn guard_or<T>(fallback: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    let mut value = None;
    let result = guard(|| {
        value = Some(body()?);
        Ok(())
    });
    match (result, value) {
        (iotp_result::Ok, Some(value)) => value,
        _ => fallback,
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
