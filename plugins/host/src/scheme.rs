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
//! starts it. Its [`PaymentBridge`] is the core's [`DocumentBridge`]: each method writes the
//! typed request as its RFC 3867 document, calls the plugin with host services routed to the
//! [`BridgeHost`] the engine passed for that call, and reads the response document.
//!
//! **Failures are the payment's, not the process's.** A plugin that returns an error status
//! (a Rust plugin that panicked returns `IOTP_PLUGIN_ERR_PANIC`), an unusable buffer, or a
//! response document that cannot be read, gives an `ApiError` `UnknownError` with HardError
//! whose description names the plugin (`payment scheme plugin NAME (PATH)`), the call and what
//! went wrong. An `ErrorResponse` the plugin writes is its answer and is returned as it is
//! ([`DocumentBridge`] says exactly how).

// `ApiError` mirrors RFC 3867's ErrorResponse field for field (as in `iotp::payapi`); it is
// returned rarely, so its size in `Err` does not matter.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iotp::payapi::claims::PluginClaims;
use iotp::payapi::documents::{
    ApiRequest, ApiResponse, DocumentBridge, decode_request, encode_response,
};
use iotp::payapi::*;
use iotp::xml::Limits;
use iotp_plugin_api::{ErrorStatus, PluginKind};

use crate::error::{LoadError, PluginError};
use crate::library::{Descriptor, PluginLibrary};
use crate::plugin::LoadedPlugin;
use crate::services::HostServices;

/// How the [`DocumentBridge`] of a plugin reaches it: one call of its table.
type PluginCall = Box<dyn Fn(&dyn BridgeHost, &[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// A started payment scheme plugin: a [`PaymentBridge`] whose calls cross the C ABI as RFC
/// 3867 documents (a [`DocumentBridge`] named after the plugin and its file). Thread-safe
/// (calls are serialised by the host when the plugin's table is not flagged thread-safe). The
/// library is never unloaded.
#[derive(Debug)]
pub struct SchemePlugin {
    path: PathBuf,
    plugin: Arc<LoadedPlugin>,
    claims: PluginClaims,
    bridge: DocumentBridge<PluginCall>,
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
        let plugin = Arc::new(library.start(services)?);
        let path = library.path().to_path_buf();
        let name = format!(
            "payment scheme plugin {} ({})",
            plugin.descriptor().name,
            path.display()
        );
        let call: PluginCall = {
            let plugin = plugin.clone();
            Box::new(move |host: &dyn BridgeHost, request: &[u8]| {
                call_plugin(&plugin, host, request).map_err(|e| failure(&e))
            })
        };
        Ok(SchemePlugin {
            bridge: DocumentBridge::new(name, claims.bridge_info(), call),
            path,
            plugin,
            claims,
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
        call_plugin(&self.plugin, host, request)
    }
}

/// One call of the plugin's table, its host services routed to `host`.
fn call_plugin(
    plugin: &LoadedPlugin,
    host: &dyn BridgeHost,
    request: &[u8],
) -> Result<Vec<u8>, PluginError> {
    plugin.call(&CallServices { host }, request)
}

/// What went wrong with a call, as the bridge's error says it (after the plugin's name and the
/// call's).
fn failure(error: &PluginError) -> String {
    match error {
        PluginError::Status { status, .. } => status.to_string(),
        PluginError::BadBuffer { len, .. } => {
            format!("returned an invalid buffer ({len} bytes at NULL or too many)")
        }
        other => other.to_string(),
    }
}

macro_rules! scheme_calls {
    ($($method:ident: $call:ident -> $resp:ty;)+) => {
        /// Every call goes to the plugin, claimed or not: an unclaimed call is the plugin's to
        /// answer (`ReqNotSupp`).
        impl PaymentBridge for SchemePlugin {
            fn info(&self) -> BridgeInfo {
                self.bridge.info()
            }

            $(
                fn $method(&self, host: &dyn BridgeHost, request: &$call) -> ApiResult<$resp> {
                    self.bridge.$method(host, request)
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
        let Ok(ApiRequest::CallBack(call)) = decode_request(document, &Limits::default()) else {
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
