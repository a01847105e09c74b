//! The payment-scheme side of [`crate::export_payment_bridge!`]: the entry point's work and the
//! table's `call`.

// `ApiError` mirrors RFC 3867's ErrorResponse field for field (as in `iotp::payapi`); it is
// returned rarely, so its size in `Err` does not matter.
#![allow(clippy::result_large_err)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use iotp::Limits;
use iotp::payapi::documents::{decode_request, dispatch, encode_response};
use iotp::payapi::{BridgeHost, LogLevel, PaymentBridge};
use iotp_plugin_api::{
    ErrorStatus, IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_FLAG_THREAD_SAFE,
    IOTP_PLUGIN_KIND_PAYMENT_SCHEME, IOTP_PLUGIN_OK, IotpBuffer, IotpHostServices, IotpPluginTable,
    IotpStatus,
};

use crate::abi::{bytes, free_buffer, guard, host_services, panic_message, plugin_buffer};
use crate::host::Host;

/// What one start of the plugin keeps (its table's `plugin_ctx`): the host's services table
/// of that start and the bridge, shared by every start.
struct Start<B: 'static> {
    host: &'static IotpHostServices,
    bridge: &'static B,
}

/// The entry point of a payment scheme: checks the host, builds the bridge (once: later
/// starts share it), and returns a table for this start, flagged thread-safe. NULL (a
/// refusal) for a host of another ABI version or a table too small, or when `make` panics.
///
/// Each start gets a table of its own (leaked: the ABI keeps tables valid for the rest of the
/// process), because each start has its own host services.
///
/// # Safety
/// `host` is NULL or a host services table valid for the rest of the process.
pub unsafe fn entry<B: PaymentBridge + 'static>(
    host_abi_version: u32,
    host: *const IotpHostServices,
    bridge: &'static OnceLock<B>,
    make: fn() -> B,
) -> *const IotpPluginTable {
    // A panic in `make` leaves the OnceLock empty: nothing half-built is seen afterwards.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the function's contract.
        let host = unsafe { host_services(host_abi_version, host) }?;
        let bridge = bridge.get_or_init(make);
        let start: &'static Start<B> = Box::leak(Box::new(Start { host, bridge }));
        let table: &'static IotpPluginTable = Box::leak(Box::new(IotpPluginTable {
            struct_size: size_of::<IotpPluginTable>() as u32,
            abi_version: IOTP_PLUGIN_ABI_VERSION,
            kind: IOTP_PLUGIN_KIND_PAYMENT_SCHEME,
            flags: IOTP_PLUGIN_FLAG_THREAD_SAFE,
            plugin_ctx: std::ptr::from_ref(start).cast_mut().cast(),
            call: Some(call::<B>),
            free_buffer: Some(free_buffer),
            send: None,
            serve: None,
        }));
        Some(std::ptr::from_ref(table))
    }))
    .ok()
    .flatten()
    .unwrap_or(std::ptr::null())
}

/// `IotpPluginTable.call`: one RFC 3867 request document in, its response document out. A
/// panic of the bridge is written to the host's log (at Error) and fails the call with
/// `IOTP_PLUGIN_ERR_PANIC`.
///
/// # Safety
/// The ABI's contract: `plugin_ctx` from this start's table, `call_ctx` live during the call on
/// this thread, `request_len` readable bytes at `request`, `out` writable.
unsafe extern "C" fn call<B: PaymentBridge + 'static>(
    plugin_ctx: *mut c_void,
    call_ctx: *mut c_void,
    request: *const u8,
    request_len: usize,
    out: *mut IotpBuffer,
) -> IotpStatus {
    guard(|| {
        // SAFETY: NULL or this start's leaked `Start<B>` (the table's plugin_ctx), never freed.
        let start = unsafe { plugin_ctx.cast_const().cast::<Start<B>>().as_ref() }
            .ok_or(ErrorStatus::BadArgument)?;
        // SAFETY: the function's contract.
        let request = unsafe { bytes(request, request_len) }?;
        if out.is_null() {
            return Err(ErrorStatus::BadArgument);
        }
        // SAFETY: `call_ctx` is this call's context, used only during the call, on this thread.
        let host = unsafe { Host::new(start.host, call_ctx) };
        let response = catch_unwind(AssertUnwindSafe(|| respond(start.bridge, &host, request)))
            .map_err(|panic| {
                let message = format!("the payment bridge panicked: {}", panic_message(&*panic));
                host.log(LogLevel::Error, &message);
                ErrorStatus::Panic
            })?;
        // SAFETY: `out` is non-NULL and writable (the function's contract).
        unsafe { out.write(plugin_buffer(response.into_bytes())) };
        Ok(IOTP_PLUGIN_OK)
    })
}

/// The document path of a call, without the ABI: reads the IotpPaymentApiRequest document,
/// runs the bridge, writes the IotpPaymentApiResponse document. A request that cannot be read
/// (not XML, not a request, an unknown call, a missing or illegal attribute) gets the
/// `ErrorResponse` that says why.
pub fn respond(bridge: &dyn PaymentBridge, host: &dyn BridgeHost, request: &[u8]) -> String {
    let response = decode_request(request, &Limits::default())
        .and_then(|request| dispatch(bridge, host, &request));
    encode_response(&response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::RefCell;

    use iotp::msg::model::PackagedContent;
    use iotp::payapi::documents::{ApiRequest, ApiResponse, decode_response, encode_request};
    use iotp::payapi::*;
    use iotp::{ErrorCode, Severity};

    use super::*;

    struct Bridge;

    impl PaymentBridge for Bridge {
        fn info(&self) -> BridgeInfo {
            BridgeInfo::default()
        }

        fn continue_process(
            &self,
            host: &dyn BridgeHost,
            request: &ContinueProcess,
        ) -> ApiResult<SchemeStep> {
            host.log(LogLevel::Info, &request.pay_id);
            if request.pay_id == "fail" {
                return Err(ApiError::transient(ErrorCode::SystemBusy, 3, "busy"));
            }
            Ok(SchemeStep::end(request.pay_scheme.clone()))
        }
    }

    #[derive(Default)]
    struct Logs(RefCell<Vec<String>>);

    impl BridgeHost for Logs {
        fn kv_get(&self, _: &str) -> Result<Option<Vec<u8>>, ApiError> {
            Ok(None)
        }
        fn kv_put(&self, _: &str, _: &[u8]) -> Result<(), ApiError> {
            Ok(())
        }
        fn kv_insert_if_absent(&self, _: &str, _: &[u8]) -> Result<bool, ApiError> {
            Ok(true)
        }
        fn kv_delete(&self, _: &str) -> Result<(), ApiError> {
            Ok(())
        }
        fn callback(&self, _: &CallBack) -> CallBackReply {
            CallBackReply::Continue
        }
        fn now_unix_millis(&self) -> i64 {
            0
        }
        fn random(&self, out: &mut [u8]) {
            out.fill(0);
        }
        fn log(&self, _: LogLevel, message: &str) {
            self.0.borrow_mut().push(message.to_owned());
        }
    }

    fn continue_process(pay_id: &str) -> ApiRequest {
        ApiRequest::ContinueProcess(ContinueProcess {
            pay_id: pay_id.into(),
            pay_scheme: vec![PackagedContent::text("round 2")],
            ..Default::default()
        })
    }

    #[test]
    fn a_call_is_answered_by_the_bridge_in_documents() {
        let host = Logs::default();
        let request = encode_request(&continue_process("p1"));
        let response = respond(&Bridge, &host, request.as_bytes());
        let answer = decode_response(response.as_bytes(), "ContinueProcess", &Limits::default());
        assert_eq!(
            answer.unwrap(),
            ApiResponse::ContinueProcess(SchemeStep::end(vec![PackagedContent::text("round 2")]))
        );
        assert_eq!(host.0.borrow().as_slice(), ["p1"]);

        let request = encode_request(&continue_process("fail"));
        let response = respond(&Bridge, &host, request.as_bytes());
        let error = decode_response(response.as_bytes(), "ContinueProcess", &Limits::default())
            .unwrap_err();
        assert_eq!(error.code, ApiErrorCode::Iotp(ErrorCode::SystemBusy));
        assert_eq!(error.severity, Severity::TransientError);
        assert_eq!(error.min_retry_secs, Some(3));
    }

    #[test]
    fn an_unreadable_request_gets_an_error_response() {
        let host = Logs::default();
        for (request, code) in [
            (&b"\xff\xfe garbage"[..], ApiErrorCode::SyntaxError),
            (b"<IotpPaymentApiResponse/>", ApiErrorCode::SyntaxError),
            (
                b"<IotpPaymentApiRequest><Nonsense/></IotpPaymentApiRequest>",
                ApiErrorCode::ReqNotSupp,
            ),
            (
                // A call the bridge does not implement.
                b"<IotpPaymentApiRequest><RemovePaymentLog PayId='x'/></IotpPaymentApiRequest>",
                ApiErrorCode::ReqNotSupp,
            ),
        ] {
            let response = respond(&Bridge, &host, request);
            let error = decode_response(response.as_bytes(), "ContinueProcess", &Limits::default())
                .unwrap_err();
            assert_eq!(error.code, code, "{}", String::from_utf8_lossy(request));
        }
        assert!(host.0.borrow().is_empty());
    }
}
