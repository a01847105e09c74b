//! [`Host`]: the host's services (key-value store, CallBack, clock, random, log) as a
//! [`BridgeHost`], over the C host services table and the context of the current call.

use std::ffi::c_void;
use std::marker::PhantomData;

use iotp::payapi::documents::{ApiRequest, ApiResponse, decode_response, encode_request};
use iotp::payapi::{ApiError, BridgeHost, CallBack, CallBackReply, LogLevel};
use iotp::{ErrorCode, Limits};
use iotp_plugin_api::{
    ErrorStatus, IOTP_LOG_DEBUG, IOTP_LOG_ERROR, IOTP_LOG_INFO, IOTP_LOG_WARN,
    IOTP_PLUGIN_NOT_FOUND, IOTP_PLUGIN_OK, IotpBuffer, IotpHostServices,
};

use crate::abi::take_host_buffer;

/// The host's services during one call into the plugin (or, from a transport's server
/// threads, outside calls: [`crate::ServeHandler::host`]).
///
/// It implements [`BridgeHost`], so a payment bridge gets it as its `host` argument:
/// - the key-value space is the one the host gives this payment (for the engine: the node's
///   durable store); a host failure is a TransientError `SystemBusy` (retry in 5 s), as the
///   engine's own store errors are;
/// - CallBack goes to the core as an RFC 3867 CallBack document; the core's answer comes
///   back (a host that cannot answer means Continue);
/// - the clock is the host's (the engine's, which tests control), random bytes the host's.
///
/// A host that breaks its contract there (no clock, no random bytes) makes the call panic, so
/// the call fails with `IOTP_PLUGIN_ERR_PANIC` rather than go on with a wrong time or
/// predictable bytes.
///
/// Valid during its call, on the thread of that call: it is neither `Send` nor `Sync`.
pub struct Host<'call> {
    services: &'static IotpHostServices,
    ctx: *mut c_void,
    _call: PhantomData<&'call ()>,
}

impl std::fmt::Debug for Host<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("ctx", &self.ctx).finish()
    }
}

impl Host<'_> {
    /// The services of a call context (or of the host context).
    ///
    /// # Safety
    /// `ctx` is the `call_ctx` of the call running on this thread, valid while the result is
    /// used, or the host context of `services`.
    pub(crate) unsafe fn new(services: &'static IotpHostServices, ctx: *mut c_void) -> Self {
        Host {
            services,
            ctx,
            _call: PhantomData,
        }
    }

    fn kv_get_status(&self, key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        let kv_get = self.services.kv_get.ok_or(ErrorStatus::Unsupported)?;
        let mut out = IotpBuffer::empty();
        // SAFETY: a live context (Host's contract), the key readable during the call, `out`
        // writable.
        let status = unsafe { kv_get(self.ctx, key.as_ptr(), key.len(), &mut out) };
        match status {
            IOTP_PLUGIN_OK => {
                // SAFETY: the buffer the host just returned with OK.
                unsafe { take_host_buffer(self.services, self.ctx, out) }.map(Some)
            }
            IOTP_PLUGIN_NOT_FOUND => Ok(None),
            other => Err(failure(other)),
        }
    }

    fn kv_put_status(&self, key: &str, value: &[u8]) -> Result<(), ErrorStatus> {
        let kv_put = self.services.kv_put.ok_or(ErrorStatus::Unsupported)?;
        // SAFETY: a live context, key and value readable during the call.
        let status = unsafe {
            kv_put(
                self.ctx,
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
            )
        };
        ok(status)
    }

    fn kv_insert_status(&self, key: &str, value: &[u8]) -> Result<bool, ErrorStatus> {
        let insert = self
            .services
            .kv_insert_if_absent
            .ok_or(ErrorStatus::Unsupported)?;
        let mut inserted = false;
        // SAFETY: a live context, key and value readable, `inserted` writable.
        let status = unsafe {
            insert(
                self.ctx,
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
                &mut inserted,
            )
        };
        ok(status).map(|()| inserted)
    }

    fn kv_delete_status(&self, key: &str) -> Result<(), ErrorStatus> {
        let kv_delete = self.services.kv_delete.ok_or(ErrorStatus::Unsupported)?;
        // SAFETY: a live context, the key readable.
        ok(unsafe { kv_delete(self.ctx, key.as_ptr(), key.len()) })
    }

    fn callback_status(&self, document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        let callback = self.services.callback.ok_or(ErrorStatus::Unsupported)?;
        let mut out = IotpBuffer::empty();
        // SAFETY: a live context, the document readable, `out` writable.
        ok(unsafe { callback(self.ctx, document.as_ptr(), document.len(), &mut out) })?;
        // SAFETY: the buffer the host just returned with OK.
        unsafe { take_host_buffer(self.services, self.ctx, out) }
    }
}

fn ok(status: u32) -> Result<(), ErrorStatus> {
    match status {
        IOTP_PLUGIN_OK => Ok(()),
        other => Err(failure(other)),
    }
}

fn failure(status: u32) -> ErrorStatus {
    ErrorStatus::from_code(status).unwrap_or(ErrorStatus::Unknown(status))
}

/// A failure of the host's key-value space, as the engine reports its store's.
fn kv_error(what: &str, status: ErrorStatus) -> ApiError {
    ApiError::transient(
        ErrorCode::SystemBusy,
        5,
        format!("the host's key-value store failed to {what}: {status}"),
    )
}

impl BridgeHost for Host<'_> {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        self.kv_get_status(key).map_err(|s| kv_error("read", s))
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        self.kv_put_status(key, value)
            .map_err(|s| kv_error("write", s))
    }

    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
        self.kv_insert_status(key, value)
            .map_err(|s| kv_error("insert", s))
    }

    fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
        self.kv_delete_status(key)
            .map_err(|s| kv_error("delete", s))
    }

    fn callback(&self, call: &CallBack) -> CallBackReply {
        let request = encode_request(&ApiRequest::CallBack(call.clone()));
        let answer = self
            .callback_status(request.as_bytes())
            .map_err(|status| status.to_string())
            .and_then(|doc| {
                decode_response(&doc, "CallBack", &Limits::default()).map_err(|e| e.to_string())
            });
        match answer {
            Ok(ApiResponse::CallBack(reply)) => reply,
            Ok(other) => {
                let message = format!("CallBack answered with {}", other.call_name());
                self.log(LogLevel::Warn, &message);
                CallBackReply::Continue
            }
            Err(e) => {
                self.log(LogLevel::Warn, &format!("CallBack failed: {e}"));
                CallBackReply::Continue
            }
        }
    }

    fn now_unix_millis(&self) -> i64 {
        let now = self.services.now_unix_millis.map_or(i64::MIN, |now| {
            // SAFETY: a live context.
            unsafe { now(self.ctx) }
        });
        assert_ne!(now, i64::MIN, "the host's clock failed");
        now
    }

    fn random(&self, out: &mut [u8]) {
        let status = self
            .services
            .random
            .map_or(ErrorStatus::Unsupported.code(), |random| {
                // SAFETY: a live context, `out.len()` writable bytes.
                unsafe { random(self.ctx, out.as_mut_ptr(), out.len()) }
            });
        if let Err(e) = ok(status) {
            panic!("the host gave no random bytes: {e}");
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        let Some(log) = self.services.log else {
            return;
        };
        let level = match level {
            LogLevel::Error => IOTP_LOG_ERROR,
            LogLevel::Warn => IOTP_LOG_WARN,
            LogLevel::Info => IOTP_LOG_INFO,
            LogLevel::Debug => IOTP_LOG_DEBUG,
        };
        // SAFETY: a live context, the message readable. A failed log has nowhere to go.
        let _ = unsafe { log(self.ctx, level, message.as_ptr(), message.len()) };
    }
}
