//! A payment scheme plugin as the engine sees it: a [`PaymentBridge`].
//!
//! ```text
//! engine ──typed call──▶ SchemePlugin ──IotpPaymentApiRequest──▶ plugin `call`
//!                          │  ◀──IotpPaymentApiResponse──┘
//!                          └─ the plugin's host services during the call (key-value store,
//!                             CallBack, clock, random, log) go to the engine's BridgeHost
//! ```
//!
//! [`SchemePlugin::load`] opens the library, requires a payment scheme, reads its claims
//! (the `IotpPluginClaims` document of its descriptor: brands, protocols, calls...) and
//! starts it. Each [`PaymentBridge`] method writes the typed request as its RFC 3867 document,
//! calls the plugin with host services routed to the [`BridgeHost`] the engine passed for that
//! call, and reads the response document.
//!
//! **Failures are the payment's, not the process's.** A plugin that returns an error status
//! (a Rust plugin that panicked returns `IOTP_PLUGIN_ERR_PANIC`), an unusable buffer, or a
//! response document that cannot be read, gives an `ApiError` `UnknownError` with HardError
//! whose description names the plugin, the call and what went wrong. An `ErrorResponse` the
//! plugin writes is its answer and is returned as it is.

// `ApiError` mirrors RFC 3867's ErrorResponse field for field (as in `iotp::payapi`); it is
// returned rarely, so its size in `Err` does not matter.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iotp::msg::codes::{ErrorCode, Severity};
use iotp::payapi::claims::PluginClaims;
use iotp::payapi::documents::{
    ApiRequest, ApiResponse, decode_request, decode_response, encode_request, encode_response,
};
use iotp::payapi::*;
use iotp::xml::Limits;
use iotp_plugin_api::{ErrorStatus, PluginKind};

use crate::error::{LoadError, PluginError};
use crate::library::{Descriptor, PluginLibrary};
use crate::plugin::LoadedPlugin;
use crate::services::HostServices;

/// A started payment scheme plugin: a [`PaymentBridge`] whose calls cross the C ABI as RFC
/// 3867 documents. Thread-safe (calls are serialised by the host when the plugin's table is
/// not flagged thread-safe). The library is never unloaded.
#[derive(Debug)]
pub struct SchemePlugin {
    path: PathBuf,
    plugin: LoadedPlugin,
    claims: PluginClaims,
    info: BridgeInfo,
    limits: Limits,
}

/// Reads the claims of a payment scheme's descriptor (`iotp plugin inspect` uses it without
/// starting the plugin). A payment scheme must publish them: the host cannot use a scheme
/// whose brands and protocols it does not know.
pub fn read_claims(path: &Path, descriptor: &Descriptor) -> Result<PluginClaims, LoadError> {
    let Some(document) = &descriptor.claims else {
        return Err(LoadError::NoClaims {
            path: path.to_path_buf(),
            name: descriptor.name.clone(),
        });
    };
    PluginClaims::from_xml(document.as_bytes(), &Limits::default()).map_err(|e| {
        LoadError::BadClaims {
            path: path.to_path_buf(),
            name: descriptor.name.clone(),
            message: e.desc,
        }
    })
}

impl SchemePlugin {
    /// Loads and starts the payment scheme plugin at `path`. Outside its calls (its entry
    /// point, threads of its own) the plugin gets [`OutsideCalls`] services.
    pub fn load(path: impl AsRef<Path>) -> Result<SchemePlugin, LoadError> {
        SchemePlugin::load_with(path, Arc::new(OutsideCalls::default()))
    }

    /// Loads and starts the payment scheme plugin at `path`, with `services` as the plugin's
    /// services outside its calls (the host context). Checks, in order, before the plugin
    /// runs: the library and descriptor ([`PluginLibrary::open`]), the kind (a payment
    /// scheme), the claims ([`read_claims`]); then starts it ([`PluginLibrary::start`]).
    pub fn load_with(
        path: impl AsRef<Path>,
        services: Arc<dyn HostServices + Send + Sync>,
    ) -> Result<SchemePlugin, LoadError> {
        let library = PluginLibrary::open(path)?;
        library.expect_kind(PluginKind::PaymentScheme)?;
        let claims = read_claims(library.path(), library.descriptor())?;
        let plugin = library.start(services)?;
        Ok(SchemePlugin {
            path: library.path().to_path_buf(),
            plugin,
            info: claims.bridge_info(),
            claims,
            limits: Limits::default(),
        })
    }

    /// What the plugin claims.
    pub fn claims(&self) -> &PluginClaims {
        &self.claims
    }

    /// What its descriptor says.
    pub fn descriptor(&self) -> &Descriptor {
        self.plugin.descriptor()
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One raw call: `request` (any bytes: the conformance kit sends broken documents too) to
    /// the plugin, with its host services routed to `host`; the bytes it answers.
    pub fn call_document(
        &self,
        host: &dyn BridgeHost,
        request: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        let services = CallServices {
            host,
            limits: &self.limits,
        };
        self.plugin.call(&services, request)
    }

    /// One typed call: its document to the plugin, the answer read back.
    fn exchange(&self, host: &dyn BridgeHost, request: ApiRequest) -> ApiResult<ApiResponse> {
        let call = request.call_name();
        let document = encode_request(&request);
        let answer = self
            .call_document(host, document.as_bytes())
            .map_err(|e| self.failed(call, &e))?;
        decode_response(&answer, call, &self.limits).map_err(|e| self.unreadable(call, e, &answer))
    }

    fn error(&self, call: &str, what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            ApiErrorCode::Iotp(ErrorCode::UnknownError),
            Severity::HardError,
            format!(
                "payment scheme plugin {} ({}): {call}: {what}",
                self.plugin.descriptor().name,
                self.path.display()
            ),
        )
    }

    /// The call itself failed.
    fn failed(&self, call: &str, error: &PluginError) -> ApiError {
        match error {
            PluginError::Status { status, .. } => self.error(call, format_args!("{status}")),
            PluginError::BadBuffer { len, .. } => self.error(
                call,
                format_args!("returned an invalid buffer ({len} bytes at NULL or too many)"),
            ),
            other => self.error(call, other),
        }
    }

    /// The answer could not be read: a document that is not one, not a response, or not a
    /// valid one (`decode_response` says SyntaxError or MsgTooLarge, codes of the core's own
    /// input that would mislead the peer), or one that answers another call or nothing
    /// (UnknownError, then named after the plugin too). An error the plugin answered with is
    /// its answer, kept as it is.
    fn unreadable(&self, call: &str, error: ApiError, answer: &[u8]) -> ApiError {
        let plugins_own = || answer.windows(13).any(|w| w == b"ErrorResponse");
        match error.code {
            ApiErrorCode::SyntaxError | ApiErrorCode::Iotp(ErrorCode::MsgTooLarge) => {
                self.error(call, format_args!("unreadable answer: {}", error.desc))
            }
            ApiErrorCode::Iotp(ErrorCode::UnknownError) if !plugins_own() => {
                self.error(call, format_args!("unusable answer: {}", error.desc))
            }
            _ => error,
        }
    }

    fn mismatch(&self, call: &str, answered: &str) -> ApiError {
        self.error(call, format_args!("answered {answered} instead"))
    }
}

macro_rules! scheme_calls {
    ($($method:ident: $call:ident -> $resp:ty;)+) => {
        /// Every call goes to the plugin, claimed or not: an unclaimed call is the plugin's to
        /// answer (`ReqNotSupp`).
        impl PaymentBridge for SchemePlugin {
            fn info(&self) -> BridgeInfo {
                self.info.clone()
            }

            $(
                fn $method(&self, host: &dyn BridgeHost, request: &$call) -> ApiResult<$resp> {
                    match self.exchange(host, ApiRequest::$call(request.clone()))? {
                        ApiResponse::$call(response) => Ok(response),
                        other => Err(self.mismatch(stringify!($call), other.call_name())),
                    }
                }
            )+
        }
    };
}

scheme_calls! {
    find_accepted_payment_brand: FindAcceptedPaymentBrand -> FindAcceptedPaymentBrandResponse;
    find_accepted_payment_protocol: FindAcceptedPaymentProtocol
        -> FindAcceptedPaymentProtocolResponse;
    get_payment_initialization_data: GetPaymentInitializationData
        -> GetPaymentInitializationDataResponse;
    inquire_auth_challenge: InquireAuthChallenge -> InquireAuthChallengeResponse;
    authenticate: Authenticate -> AuthenticateResponse;
    check_auth_response: CheckAuthResponse -> StatusInfo;
    find_payment_instrument: FindPaymentInstrument -> FindPaymentInstrumentResponse;
    check_payment_possibility: CheckPaymentPossibility -> CheckPaymentPossibilityResponse;
    start_payment_consumer: StartPaymentConsumer -> SchemeStep;
    resume_payment_consumer: ResumePaymentConsumer -> SchemeStep;
    start_payment_inquiry: StartPaymentInquiry -> StartPaymentInquiryResponse;
    payment_instrument_inquiry: PaymentInstrumentInquiry -> PaymentInstrumentInquiryResponse;
    start_payment_payment_handler: StartPaymentPaymentHandler -> SchemeStep;
    resume_payment_payment_handler: ResumePaymentPaymentHandler -> SchemeStep;
    inquire_payment_status: InquirePaymentStatus -> InquirePaymentStatusResponse;
    continue_process: ContinueProcess -> SchemeStep;
    change_process_state: ChangeProcessState -> StatusInfo;
    inquire_process_state: InquireProcessState -> InquireProcessStateResponse;
    check_payment_receipt: CheckPaymentReceipt -> ();
    expand_payment_receipt: ExpandPaymentReceipt -> ExpandPaymentReceiptResponse;
    remove_payment_log: RemovePaymentLog -> ();
    inquire_pending_payment: InquirePendingPayment -> InquirePendingPaymentResponse;
    manage_payment_software: ManagePaymentSoftware -> ManagePaymentSoftwareResponse;
}

/// The plugin's host services during one call: the engine's [`BridgeHost`] for that call.
struct CallServices<'a> {
    host: &'a dyn BridgeHost,
    limits: &'a Limits,
}

impl CallServices<'_> {
    /// A failure of the bridge host, for the plugin (which sees a status only): logged.
    fn refused(&self, what: &str, error: &ApiError) -> ErrorStatus {
        self.host.log(
            LogLevel::Warn,
            &format!("plugin's key-value {what} failed: {error}"),
        );
        ErrorStatus::Internal
    }
}

impl HostServices for CallServices<'_> {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        self.host.kv_get(key).map_err(|e| self.refused("read", &e))
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ErrorStatus> {
        self.host
            .kv_put(key, value)
            .map_err(|e| self.refused("write", &e))
    }

    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ErrorStatus> {
        self.host
            .kv_insert_if_absent(key, value)
            .map_err(|e| self.refused("insert", &e))
    }

    fn kv_delete(&self, key: &str) -> Result<(), ErrorStatus> {
        self.host
            .kv_delete(key)
            .map_err(|e| self.refused("delete", &e))
    }

    /// The document must be a request holding a CallBack (`IOTP_PLUGIN_ERR_BAD_DOCUMENT`
    /// otherwise); the answer is the CallBackResponse document.
    fn callback(&self, document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        let Ok(ApiRequest::CallBack(call)) = decode_request(document, self.limits) else {
            return Err(ErrorStatus::BadDocument);
        };
        let reply = self.host.callback(&call);
        Ok(encode_response(&Ok(ApiResponse::CallBack(reply))).into_bytes())
    }

    fn log(&self, level: iotp_plugin_api::LogLevel, message: &str) {
        let level = match level {
            iotp_plugin_api::LogLevel::Error => LogLevel::Error,
            iotp_plugin_api::LogLevel::Warn => LogLevel::Warn,
            iotp_plugin_api::LogLevel::Info => LogLevel::Info,
            iotp_plugin_api::LogLevel::Debug => LogLevel::Debug,
        };
        self.host.log(level, message);
    }

    fn now_unix_millis(&self) -> i64 {
        self.host.now_unix_millis()
    }

    fn random(&self, out: &mut [u8]) {
        self.host.random(out);
    }
}

/// Where [`OutsideCalls`] writes log lines.
pub type LogSink = Arc<dyn Fn(iotp_plugin_api::LogLevel, &str) + Send + Sync>;

/// The services of a plugin outside its calls (the host context: its entry point, threads of
/// its own; a transport's servers). A payment's key-value space and CallBack belong to its
/// calls, so those are refused (`IOTP_PLUGIN_ERR_REFUSED`); log lines go to the sink given
/// ([`OutsideCalls::with_log`]), by default warnings and errors to standard error and other
/// lines nowhere; the clock is the system's, random bytes the system's.
#[derive(Clone, Default)]
pub struct OutsideCalls {
    log: Option<LogSink>,
}

impl std::fmt::Debug for OutsideCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutsideCalls")
            .field("log", &self.log.as_ref().map(|_| "sink"))
            .finish()
    }
}

impl OutsideCalls {
    /// Services whose log lines go to `sink`.
    pub fn with_log(sink: LogSink) -> Self {
        OutsideCalls { log: Some(sink) }
    }
}

impl HostServices for OutsideCalls {
    fn kv_get(&self, _key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        Err(ErrorStatus::Refused)
    }

    fn kv_put(&self, _key: &str, _value: &[u8]) -> Result<(), ErrorStatus> {
        Err(ErrorStatus::Refused)
    }

    fn kv_insert_if_absent(&self, _key: &str, _value: &[u8]) -> Result<bool, ErrorStatus> {
        Err(ErrorStatus::Refused)
    }

    fn kv_delete(&self, _key: &str) -> Result<(), ErrorStatus> {
        Err(ErrorStatus::Refused)
    }

    fn callback(&self, _document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        Err(ErrorStatus::Refused)
    }

    fn log(&self, level: iotp_plugin_api::LogLevel, message: &str) {
        if let Some(sink) = &self.log {
            sink(level, message);
        } else if level <= iotp_plugin_api::LogLevel::Warn {
            eprintln!("iotp plugin ({level:?}): {message}");
        }
    }

    fn now_unix_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::MIN, |d| {
                i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
            })
    }

    /// Panics (the plugin gets `IOTP_PLUGIN_ERR_PANIC`) when the system has no random bytes.
    fn random(&self, out: &mut [u8]) {
        use ring::rand::SecureRandom as _;
        if ring::rand::SystemRandom::new().fill(out).is_err() {
            panic!("the system gave no random bytes");
        }
    }
}
