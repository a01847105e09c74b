//! The [`PaymentBridge`] trait (the IOTP Payment Bridge of RFC 3867) and the services the core
//! gives a bridge ([`BridgeHost`]).

use super::types::*;

/// The services a payment bridge reaches the world through (DESIGN.md §4): a durable key-value
/// space private to the bridge (with an atomic insert-if-absent for double-spend and
/// double-authorisation checks), CallBack to the core, the clock, random bytes and a log.
pub trait BridgeHost {
    /// Reads a value of the bridge's key-value space.
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError>;
    /// Writes (or replaces) a value; durable when this returns.
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError>;
    /// Writes a value only if the key is absent; `Ok(false)` when it was present. Atomic.
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError>;
    /// Removes a value.
    fn kv_delete(&self, key: &str) -> Result<(), ApiError>;
    /// Reports progress to the core (RFC 3867 CallBack); the answer may ask to cancel.
    fn callback(&self, call: &CallBack) -> CallBackReply;
    /// Seconds since 1970-01-01 UTC, as the core sees them (the engine's clock).
    fn now_unix_millis(&self) -> i64;
    /// Fills `out` with random bytes.
    fn random(&self, out: &mut [u8]);
    /// Writes a log line. Never pass card numbers or secrets.
    fn log(&self, level: LogLevel, message: &str);
}

/// Log levels of [`BridgeHost::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Failures.
    Error,
    /// Unexpected but handled.
    Warn,
    /// Progress.
    Info,
    /// Details.
    Debug,
}

macro_rules! bridge_calls {
    ($(
        $(#[$meta:meta])*
        fn $method:ident($req:ty) -> $resp:ty = $wire:literal;
    )+) => {
        /// A payment scheme as the core sees it: RFC 3867's calls as typed requests and responses.
        ///
        /// Every method defaults to `ReqNotSupp` (RFC 3867: an unsupported call still exists as a
        /// skeleton). A business failure (a declined card) is not an error of the call: the
        /// payment ends with a Failed state that InquireProcessState reports; `BusError` tells
        /// the core to ask. Bridges must be thread-safe: the core may call them from several
        /// threads, for different payments.
        pub trait PaymentBridge: Send + Sync {
            /// What the bridge handles: software id, protocols, brands, authentication
            /// algorithms.
            fn info(&self) -> BridgeInfo;

            $(
                $(#[$meta])*
                #[doc = concat!("\n\nRFC 3867 `", $wire, "`.")]
                fn $method(&self, host: &dyn BridgeHost, request: &$req) -> ApiResult<$resp> {
                    let _ = (host, request);
                    Err(ApiError::not_supported($wire))
                }
            )+
        }

        /// The RFC 3867 element name of each call, in the trait's order.
        pub const BRIDGE_CALLS: &[&str] = &[$($wire),+];
    };
}

bridge_calls! {
    /// Merchant: the brands accepted for an amount.
    fn find_accepted_payment_brand(FindAcceptedPaymentBrand) -> FindAcceptedPaymentBrandResponse
        = "FindAcceptedPaymentBrand";
    /// Merchant: the protocols for a brand.
    fn find_accepted_payment_protocol(FindAcceptedPaymentProtocol)
        -> FindAcceptedPaymentProtocolResponse = "FindAcceptedPaymentProtocol";
    /// Merchant: Order and TradingRoleData content for a payment.
    fn get_payment_initialization_data(GetPaymentInitializationData)
        -> GetPaymentInitializationDataResponse = "GetPaymentInitializationData";
    /// Authenticator: one challenge.
    fn inquire_auth_challenge(InquireAuthChallenge) -> InquireAuthChallengeResponse
        = "InquireAuthChallenge";
    /// Authenticatee: answers a challenge.
    fn authenticate(Authenticate) -> AuthenticateResponse = "Authenticate";
    /// Authenticator: checks an answer.
    fn check_auth_response(CheckAuthResponse) -> StatusInfo = "CheckAuthResponse";
    /// Consumer: the instruments for a brand and protocol.
    fn find_payment_instrument(FindPaymentInstrument) -> FindPaymentInstrumentResponse
        = "FindPaymentInstrument";
    /// Consumer: whether the payment can be made; the Brand Selection content.
    fn check_payment_possibility(CheckPaymentPossibility) -> CheckPaymentPossibilityResponse
        = "CheckPaymentPossibility";
    /// Consumer: starts a payment; the Payment Request's scheme data.
    fn start_payment_consumer(StartPaymentConsumer) -> SchemeStep = "StartPaymentConsumer";
    /// Consumer: resumes a payment.
    fn resume_payment_consumer(ResumePaymentConsumer) -> SchemeStep = "ResumePaymentConsumer";
    /// Consumer: scheme data for a payment Inquiry Request.
    fn start_payment_inquiry(StartPaymentInquiry) -> StartPaymentInquiryResponse
        = "StartPaymentInquiry";
    /// Consumer: properties of an instrument.
    fn payment_instrument_inquiry(PaymentInstrumentInquiry) -> PaymentInstrumentInquiryResponse
        = "PaymentInstrumentInquiry";
    /// Payment Handler: starts a payment from a Payment Request.
    fn start_payment_payment_handler(StartPaymentPaymentHandler) -> SchemeStep
        = "StartPaymentPaymentHandler";
    /// Payment Handler: resumes a payment.
    fn resume_payment_payment_handler(ResumePaymentPaymentHandler) -> SchemeStep
        = "ResumePaymentPaymentHandler";
    /// Payment Handler: answers a payment Inquiry Request.
    fn inquire_payment_status(InquirePaymentStatus) -> InquirePaymentStatusResponse
        = "InquirePaymentStatus";
    /// Consumer, Payment Handler: the next Payment Exchange round.
    fn continue_process(ContinueProcess) -> SchemeStep = "ContinueProcess";
    /// All: reports an end and reconciles the state.
    fn change_process_state(ChangeProcessState) -> StatusInfo = "ChangeProcessState";
    /// All: the state, and the receipt parts.
    fn inquire_process_state(InquireProcessState) -> InquireProcessStateResponse
        = "InquireProcessState";
    /// Consumer: checks a receipt.
    fn check_payment_receipt(CheckPaymentReceipt) -> () = "CheckPaymentReceipt";
    /// Consumer: a receipt in readable form.
    fn expand_payment_receipt(ExpandPaymentReceipt) -> ExpandPaymentReceiptResponse
        = "ExpandPaymentReceipt";
    /// All: forgets a payment's log.
    fn remove_payment_log(RemovePaymentLog) -> () = "RemovePaymentLog";
    /// Consumer, Payment Handler: payments left open.
    fn inquire_pending_payment(InquirePendingPayment) -> InquirePendingPaymentResponse
        = "InquirePendingPayment";
    /// Wallet administration.
    fn manage_payment_software(ManagePaymentSoftware) -> ManagePaymentSoftwareResponse
        = "ManagePaymentSoftware";
}
