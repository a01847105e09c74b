//! Requests, responses and shared types of the Payment API (RFC 3867 §3, §4).

use crate::msg::codes::{
    CompletionCode, CurrCodeType, ErrorCode, PayDirection, ProcessState, Severity,
};
use crate::msg::model::{Algorithm, ErrorLocation, PackagedContent};

// ---------------------------------------------------------------------------------------------
// Shared types

/// `ContStatus` of every Start, Resume and Continue response (RFC 3867 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContStatus {
    /// More Payment Exchange rounds follow.
    Continue,
    /// The bridge has finished; it sends no more scheme data.
    End,
}

/// `ProcessType` of ContinueProcess and ChangeProcessState.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessType {
    /// A payment (the default).
    #[default]
    Payment,
    /// A payment status inquiry.
    Inquiry,
}

/// The payment state of the Payment API (RFC 3867 §2.5): ProcessState plus `Suspended`, which
/// goes on the wire as `InProgress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// An IOTP process state.
    Iotp(ProcessState),
    /// Interrupted; may be resumed.
    Suspended,
}

impl PaymentState {
    /// The state as an IOTP `ProcessState`.
    pub fn to_wire(&self) -> ProcessState {
        match self {
            PaymentState::Iotp(s) => s.clone(),
            PaymentState::Suspended => ProcessState::InProgress,
        }
    }

    /// CompletedOk, Failed and ProcessError are final (RFC 3867 §2.5).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            PaymentState::Iotp(
                ProcessState::CompletedOk | ProcessState::Failed | ProcessState::ProcessError
            )
        )
    }
}

/// The amount attributes shared by many calls: `PayDirection`, `CurrCodeType`, `CurrCode`,
/// `Amount`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AmountInfo {
    /// Debit (Consumer pays) or Credit (Consumer is paid).
    pub pay_direction: PayDirection,
    /// Usually `ISO4217-A`.
    pub curr_code_type: CurrCodeType,
    /// E.g. `USD`.
    pub curr_code: String,
    /// A decimal amount in major units, e.g. `12.50`.
    pub amount: String,
}

/// `WalletID` and `Passphrase`, carried by most calls. The core keeps the pass phrase in memory
/// only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct WalletAccess {
    /// `WalletID`.
    pub wallet_id: Option<String>,
    /// `Passphrase`.
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for WalletAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletAccess")
            .field("wallet_id", &self.wallet_id)
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The PackagedContent a call takes from the IOTP components around a payment
/// (RFC 3867 §3: `BrandPackagedContent`, `ProtocolBrand`, `ProtocolAmountPackagedContent`,
/// `PayProtocolPackagedContent`, `OrderPackagedContent`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfferContent {
    /// From the selected `Brand`.
    pub brand: Vec<PackagedContent>,
    /// The selected `ProtocolBrand` (ProtocolBrandId and its content), if any.
    pub protocol_brand: Option<ProtocolBrandInfo>,
    /// From the selected `ProtocolAmount`.
    pub protocol_amount: Vec<PackagedContent>,
    /// From the selected `PayProtocol`.
    pub pay_protocol: Vec<PackagedContent>,
    /// From the `Order`.
    pub order: Vec<PackagedContent>,
}

/// A `ProtocolBrand` as the API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtocolBrandInfo {
    /// `ProtocolBrandId`.
    pub protocol_brand_id: String,
    /// Its PackagedContent.
    pub content: Vec<PackagedContent>,
}

/// The three kinds of Brand Selection content (`BrandSelBrandInfo`,
/// `BrandSelProtocolAmountInfo`, `BrandSelCurrencyAmountInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrandSelectionContent {
    /// `BrandSelBrandInfoPackagedContent`.
    pub brand_info: Vec<PackagedContent>,
    /// `BrandSelProtocolAmountInfoPackagedContent`.
    pub protocol_amount_info: Vec<PackagedContent>,
    /// `BrandSelCurrencyAmountInfoPackagedContent`.
    pub currency_amount_info: Vec<PackagedContent>,
}

impl BrandSelectionContent {
    /// True when no kind has content.
    pub fn is_empty(&self) -> bool {
        self.brand_info.is_empty()
            && self.protocol_amount_info.is_empty()
            && self.currency_amount_info.is_empty()
    }
}

/// A status answer: ChangeProcessState, CheckAuthResponse and the status part of
/// InquireProcessState.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// The state.
    pub process_state: PaymentState,
    /// 0–99 while open, 100 when done.
    pub percent_complete: Option<u8>,
    /// Required when Failed.
    pub completion_code: Option<CompletionCode>,
    /// A description for the user.
    pub status_desc: Option<String>,
}

impl StatusInfo {
    /// A status with only a state.
    pub fn new(process_state: ProcessState) -> Self {
        StatusInfo {
            process_state: PaymentState::Iotp(process_state),
            percent_complete: None,
            completion_code: None,
            status_desc: None,
        }
    }

    /// A Failed status with its completion code.
    pub fn failed(code: CompletionCode, desc: impl Into<String>) -> Self {
        StatusInfo {
            process_state: PaymentState::Iotp(ProcessState::Failed),
            percent_complete: Some(100),
            completion_code: Some(code),
            status_desc: Some(desc.into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors (RFC 3867 §3 ErrorResponse, §4.2 error codes)

/// The error codes of the Payment API: RFC 2801's codes plus those only used between core and
/// bridge (RFC 3867 §4.2), which the core rewrites before anything reaches the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorCode {
    /// One of RFC 2801's error codes (§7.21.2).
    Iotp(ErrorCode),
    /// API only: an element is not valid (→ `XmlNotValid`).
    ElNotValid,
    /// API only: an attribute is not valid (→ `XmlNotValid`).
    AttNotValid,
    /// API only: a syntax error in the request (→ `XmlNotValid`).
    SyntaxError,
    /// API only: the bridge refuses the request (→ `UnknownError`).
    ReqRefused,
    /// API only: the call is not supported (→ `UnknownError`).
    ReqNotSupp,
    /// API only: a business error; never sent, the core asks `InquireProcessState`.
    BusError,
}

impl ApiErrorCode {
    /// The spelling of RFC 3867.
    pub fn as_str(&self) -> &str {
        match self {
            ApiErrorCode::Iotp(c) => c.as_str(),
            ApiErrorCode::ElNotValid => "ElNotValid",
            ApiErrorCode::AttNotValid => "AttNotValid",
            ApiErrorCode::SyntaxError => "SyntaxError",
            ApiErrorCode::ReqRefused => "ReqRefused",
            ApiErrorCode::ReqNotSupp => "ReqNotSupp",
            ApiErrorCode::BusError => "BusError",
        }
    }

    /// Reads either spelling.
    pub fn from_wire(value: &str) -> Self {
        match value {
            "ElNotValid" => ApiErrorCode::ElNotValid,
            "AttNotValid" | "AttValInvalid" => ApiErrorCode::AttNotValid,
            "SyntaxError" => ApiErrorCode::SyntaxError,
            "ReqRefused" => ApiErrorCode::ReqRefused,
            "ReqNotSupp" => ApiErrorCode::ReqNotSupp,
            "BusError" => ApiErrorCode::BusError,
            other => ApiErrorCode::Iotp(ErrorCode::from_wire(other)),
        }
    }

    /// The RFC 2801 code that goes on the wire (RFC 3867 §4.2). `points_at_packaged_content`
    /// tells whether the error location names a PackagedContent (ElContIllegal is kept then,
    /// otherwise it becomes ElNotSupp).
    pub fn to_wire(&self, points_at_packaged_content: bool) -> ErrorCode {
        match self {
            ApiErrorCode::Iotp(ErrorCode::ElContIllegal) if !points_at_packaged_content => {
                ErrorCode::ElNotSupp
            }
            ApiErrorCode::Iotp(c) => c.clone(),
            ApiErrorCode::ElNotValid | ApiErrorCode::AttNotValid | ApiErrorCode::SyntaxError => {
                ErrorCode::XmlNotValid
            }
            ApiErrorCode::ReqRefused | ApiErrorCode::ReqNotSupp | ApiErrorCode::BusError => {
                ErrorCode::UnknownError
            }
        }
    }
}

/// `ErrorResponse` (RFC 3867 §3): a technical failure of a call, or `BusError` for a business
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `ErrorCode`.
    pub code: ApiErrorCode,
    /// `ErrorDesc`.
    pub desc: String,
    /// `Severity`.
    pub severity: Severity,
    /// `MinRetrySecs`, with TransientError.
    pub min_retry_secs: Option<u32>,
    /// `SwVendorErrorRef`.
    pub sw_vendor_error_ref: Option<String>,
    /// Where the problem is; the bridge leaves the message, block and component references
    /// blank, the core fills them in.
    pub locations: Vec<ErrorLocation>,
    /// A scheme error message for the peer (`PaySchemePackagedContent`), sent in the Error Block.
    pub pay_scheme: Vec<PackagedContent>,
}

impl ApiError {
    /// An error with a code, severity and description.
    pub fn new(code: ApiErrorCode, severity: Severity, desc: impl Into<String>) -> Self {
        ApiError {
            code,
            desc: desc.into(),
            severity,
            min_retry_secs: None,
            sw_vendor_error_ref: None,
            locations: Vec::new(),
            pay_scheme: Vec::new(),
        }
    }

    /// `ReqNotSupp` for a call the bridge does not implement.
    pub fn not_supported(call: &str) -> Self {
        ApiError::new(
            ApiErrorCode::ReqNotSupp,
            Severity::HardError,
            format!("{call} is not supported by this payment bridge"),
        )
    }

    /// `BusError`: a business failure; the core asks InquireProcessState for the details.
    pub fn business(desc: impl Into<String>) -> Self {
        ApiError::new(ApiErrorCode::BusError, Severity::HardError, desc)
    }

    /// `AttValIllegal` on an attribute of the request (e.g. `PayId`, `BrandId`, `Amount`).
    pub fn illegal_value(attribute: &str, desc: impl Into<String>) -> Self {
        let mut e = ApiError::new(
            ApiErrorCode::Iotp(ErrorCode::AttValIllegal),
            Severity::HardError,
            desc,
        );
        e.locations.push(ErrorLocation {
            element_type: "IotpPaymentApiRequest".into(),
            att_name: Some(attribute.into()),
            ..Default::default()
        });
        e
    }

    /// A TransientError asking the caller to retry after `secs`.
    pub fn transient(code: ErrorCode, secs: u32, desc: impl Into<String>) -> Self {
        let mut e = ApiError::new(ApiErrorCode::Iotp(code), Severity::TransientError, desc);
        e.min_retry_secs = Some(secs);
        e
    }

    /// The attribute the first location names, if any.
    pub fn attribute(&self) -> Option<&str> {
        self.locations.first().and_then(|l| l.att_name.as_deref())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_str(),
            self.severity,
            self.desc
        )
    }
}

impl std::error::Error for ApiError {}

/// The result of every Payment API call.
pub type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------
// Bridge description

/// What a bridge declares about itself (the registry key is (BrandId, ProtocolId)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeInfo {
    /// `ContentSoftwareID`: manufacturer, product, version.
    pub software_id: String,
    /// The payment protocols (`ProtocolId`, e.g. `SCCD1.0`).
    pub protocols: Vec<String>,
    /// The brands (`BrandId`, e.g. `VISA`).
    pub brands: Vec<String>,
    /// The authentication algorithms (`AuthNames`).
    pub auth_algorithms: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Merchant calls

/// `FindAcceptedPaymentBrand` (Merchant): the brands the bridge accepts for an amount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindAcceptedPaymentBrand {
    /// The amount.
    pub amount: AmountInfo,
    /// `MerchantPayId`.
    pub merchant_pay_id: String,
    /// `MerchantOrgId`.
    pub merchant_org_id: Option<String>,
    /// `WalletID`.
    pub wallet_id: Option<String>,
    /// `MerchantData`: bridge configuration held by the core.
    pub merchant_data: Vec<PackagedContent>,
}

/// A brand as the API carries it (`BrandItem`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrandItem {
    /// `BrandId`.
    pub brand_id: String,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// `BrandName`.
    pub brand_name: String,
    /// `BrandLogoNetLocn`.
    pub brand_logo_net_locn: String,
    /// `BrandNarrative`.
    pub brand_narrative: Option<String>,
    /// `BrandPackagedContent`.
    pub content: Vec<PackagedContent>,
}

/// Response to [`FindAcceptedPaymentBrand`]; empty when no brand is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindAcceptedPaymentBrandResponse {
    /// The accepted brands.
    pub brands: Vec<BrandItem>,
}

/// `FindAcceptedPaymentProtocol` (Merchant): the protocols for a brand (or all brands).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindAcceptedPaymentProtocol {
    /// `BrandId`; absent for all brands.
    pub brand_id: Option<String>,
    /// The amount.
    pub amount: AmountInfo,
    /// `MerchantPayId`.
    pub merchant_pay_id: String,
    /// `MerchantOrgId`.
    pub merchant_org_id: Option<String>,
    /// `WalletID`.
    pub wallet_id: Option<String>,
    /// `BrandPackagedContent`.
    pub brand_content: Vec<PackagedContent>,
    /// `MerchantData`.
    pub merchant_data: Vec<PackagedContent>,
}

/// A protocol as the API carries it (`ProtocolItem`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtocolItem {
    /// `ProtocolId`.
    pub protocol_id: String,
    /// `ProtocolBrandId`.
    pub protocol_brand_id: Option<String>,
    /// `ProtocolName`.
    pub protocol_name: String,
    /// `PayReqNetLocn`.
    pub pay_req_net_locn: Option<String>,
    /// `SecPayReqNetLocn`.
    pub sec_pay_req_net_locn: Option<String>,
    /// `ProtocolAmountPackagedContent`.
    pub protocol_amount_content: Vec<PackagedContent>,
    /// `PayProtocolPackagedContent`.
    pub pay_protocol_content: Vec<PackagedContent>,
    /// The amounts payable with this protocol (refined amounts); at least one.
    pub currency_amounts: Vec<AmountInfo>,
}

/// Response to [`FindAcceptedPaymentProtocol`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindAcceptedPaymentProtocolResponse {
    /// At least one protocol.
    pub protocols: Vec<ProtocolItem>,
    /// Brands, when the request named none.
    pub brands: Vec<BrandItem>,
}

/// `GetPaymentInitializationData` (Merchant): the Order and TradingRoleData for a payment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetPaymentInitializationData {
    /// `BrandId`.
    pub brand_id: String,
    /// `MerchantPayId`.
    pub merchant_pay_id: String,
    /// The amount.
    pub amount: AmountInfo,
    /// `ProtocolId`.
    pub protocol_id: String,
    /// `OkFrom`.
    pub ok_from: String,
    /// `OkTo`.
    pub ok_to: String,
    /// `ReceiverOrgId`: the Payment Handler.
    pub receiver_org_id: Option<String>,
    /// `MerchantOrgId`.
    pub merchant_org_id: Option<String>,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// Brand, ProtocolBrand, ProtocolAmount, PayProtocol and Order content.
    pub offer: OfferContent,
    /// The Brand Selection content (brand-dependent offers).
    pub brand_selection: BrandSelectionContent,
    /// `MerchantData`.
    pub merchant_data: Vec<PackagedContent>,
}

/// Response to [`GetPaymentInitializationData`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetPaymentInitializationDataResponse {
    /// `OkFrom`, if the bridge narrows it.
    pub ok_from: Option<String>,
    /// `OkTo`, if the bridge narrows it.
    pub ok_to: Option<String>,
    /// `OrderPackagedContent` (defaults to the input).
    pub order: Vec<PackagedContent>,
    /// `TradingRoleDataPackagedContent` for the Payment Handler, Names prefixed `Payment:`.
    pub trading_role_data: Vec<PackagedContent>,
}

/// `InquireAuthChallenge` (Merchant, authenticator): one challenge per call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InquireAuthChallenge {
    /// `AuthenticationId`.
    pub authentication_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// Proposed algorithms.
    pub algorithms: Vec<Algorithm>,
}

/// Response to [`InquireAuthChallenge`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InquireAuthChallengeResponse {
    /// `AuthReqPackagedContent`.
    pub auth_req: Vec<PackagedContent>,
    /// The chosen algorithm.
    pub algorithm: Algorithm,
}

/// `Authenticate` (Consumer, authenticatee).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authenticate {
    /// `AuthenticationId`.
    pub authentication_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// The algorithm of the chosen AuthReq.
    pub algorithm: Algorithm,
    /// `AuthReqPackagedContent`.
    pub auth_req: Vec<PackagedContent>,
}

/// Response to [`Authenticate`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthenticateResponse {
    /// `AuthResPackagedContent`.
    pub auth_res: Vec<PackagedContent>,
}

/// `CheckAuthResponse` (authenticator).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckAuthResponse {
    /// `AuthenticationId`.
    pub authentication_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// `AuthReqPackagedContent`.
    pub auth_req: Vec<PackagedContent>,
    /// `AuthResPackagedContent`.
    pub auth_res: Vec<PackagedContent>,
}

// ---------------------------------------------------------------------------------------------
// Consumer calls

/// `FindPaymentInstrument` (Consumer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindPaymentInstrument {
    /// `BrandId`.
    pub brand_id: String,
    /// `ProtocolId`.
    pub protocol_id: String,
    /// The amount.
    pub amount: AmountInfo,
    /// `ConsumerPayId`.
    pub consumer_pay_id: String,
    /// `WalletID`.
    pub wallet_id: Option<String>,
    /// Brand, ProtocolBrand, PayProtocol and ProtocolAmount content.
    pub offer: OfferContent,
}

/// A payment instrument (`PayInstrument`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayInstrument {
    /// `Id`.
    pub id: String,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// `PayInstName`.
    pub pay_inst_name: String,
}

/// Response to [`FindPaymentInstrument`]; empty means no distinction between instruments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindPaymentInstrumentResponse {
    /// The instruments.
    pub instruments: Vec<PayInstrument>,
}

/// `CheckPaymentPossibility` (Consumer): ties the bridge to the payment; returns the Brand
/// Selection content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckPaymentPossibility {
    /// `BrandId`.
    pub brand_id: String,
    /// `PaymentInstrumentId`.
    pub payment_instrument_id: Option<String>,
    /// The amount.
    pub amount: AmountInfo,
    /// `ProtocolId`.
    pub protocol_id: String,
    /// `ConsumerPayId`.
    pub consumer_pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// Brand, ProtocolBrand, ProtocolAmount and PayProtocol content.
    pub offer: OfferContent,
}

/// Response to [`CheckPaymentPossibility`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckPaymentPossibilityResponse {
    /// Content for the Brand Selection.
    pub brand_selection: BrandSelectionContent,
}

/// `StartPaymentConsumer` (Consumer): the scheme data of the Payment Request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartPaymentConsumer {
    /// `BrandId`.
    pub brand_id: String,
    /// `PaymentInstrumentId`.
    pub payment_instrument_id: Option<String>,
    /// The amount.
    pub amount: AmountInfo,
    /// `ProtocolId`.
    pub protocol_id: String,
    /// `ProtocolBrandId`.
    pub protocol_brand_id: Option<String>,
    /// `OkFrom`.
    pub ok_from: String,
    /// `OkTo`.
    pub ok_to: String,
    /// `ConsumerPayId`.
    pub consumer_pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// Brand, ProtocolBrand, ProtocolAmount, PayProtocol and Order content.
    pub offer: OfferContent,
}

/// The answer of Start, Resume and Continue calls: `ContStatus` and `PaySchemePackagedContent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeStep {
    /// Continue or End.
    pub cont_status: ContStatus,
    /// `PaySchemePackagedContent` for the next IOTP message.
    pub pay_scheme: Vec<PackagedContent>,
}

impl SchemeStep {
    /// Continue with this scheme data.
    pub fn more(pay_scheme: Vec<PackagedContent>) -> Self {
        SchemeStep {
            cont_status: ContStatus::Continue,
            pay_scheme,
        }
    }

    /// End, with final scheme data (possibly none).
    pub fn end(pay_scheme: Vec<PackagedContent>) -> Self {
        SchemeStep {
            cont_status: ContStatus::End,
            pay_scheme,
        }
    }
}

/// `ResumePaymentConsumer` (Consumer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumePaymentConsumer {
    /// `ConsumerPayId`.
    pub consumer_pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
}

/// `StartPaymentInquiry` (Consumer): scheme data for an Inquiry Request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartPaymentInquiry {
    /// `ConsumerPayId`.
    pub consumer_pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
}

/// Response to [`StartPaymentInquiry`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartPaymentInquiryResponse {
    /// `PaySchemePackagedContent` for the Inquiry Request Block.
    pub pay_scheme: Vec<PackagedContent>,
}

/// `PaymentInstrumentInquiry` (Consumer): properties of an instrument such as its balance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentInstrumentInquiry {
    /// `BrandId`.
    pub brand_id: String,
    /// `PaymentInstrumentId`.
    pub payment_instrument_id: Option<String>,
    /// `ProtocolId`.
    pub protocol_id: String,
    /// `PropertyTypeList`: e.g. `Balance`, `Expiration`, or empty for all.
    pub property_types: Vec<String>,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// Brand, ProtocolBrand, ProtocolAmount and PayProtocol content.
    pub offer: OfferContent,
}

/// One `PaymentInstrumentProperty`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstrumentProperty {
    /// `PropertyType`.
    pub property_type: String,
    /// `PropertyValue`.
    pub property_value: String,
    /// `PropertyDesc`.
    pub property_desc: Option<String>,
}

/// Response to [`PaymentInstrumentInquiry`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentInstrumentInquiryResponse {
    /// The properties.
    pub properties: Vec<InstrumentProperty>,
    /// `UnavailablePropertyList`.
    pub unavailable: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Payment Handler calls

/// `StartPaymentPaymentHandler` (Payment Handler): the first answer to a Payment Request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartPaymentPaymentHandler {
    /// `BrandId`.
    pub brand_id: String,
    /// `ConsumerPayId`.
    pub consumer_pay_id: Option<String>,
    /// The amount.
    pub amount: AmountInfo,
    /// `ProtocolId`.
    pub protocol_id: String,
    /// `OkFrom`.
    pub ok_from: String,
    /// `OkTo`.
    pub ok_to: String,
    /// `PaymentHandlerPayId`.
    pub payment_handler_pay_id: String,
    /// `MerchantOrgId`.
    pub merchant_org_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// Brand, ProtocolBrand, ProtocolAmount and PayProtocol content.
    pub offer: OfferContent,
    /// The Brand Selection content.
    pub brand_selection: BrandSelectionContent,
    /// `TradingRoleDataPackagedContent` addressed to the Payment Handler.
    pub trading_role_data: Vec<PackagedContent>,
    /// `PaySchemePackagedContent` of the Payment Request.
    pub pay_scheme: Vec<PackagedContent>,
}

/// `ResumePaymentPaymentHandler` (Payment Handler).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumePaymentPaymentHandler {
    /// `PaymentHandlerPayId`.
    pub payment_handler_pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// `PaySchemePackagedContent`.
    pub pay_scheme: Vec<PackagedContent>,
}

/// `InquirePaymentStatus` (Payment Handler): answers a payment Inquiry Request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InquirePaymentStatus {
    /// `PaymentHandlerPayId`.
    pub payment_handler_pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// `PaySchemePackagedContent` of the Inquiry Request.
    pub pay_scheme: Vec<PackagedContent>,
}

/// Response to [`InquirePaymentStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquirePaymentStatusResponse {
    /// `PaymentHandlerPayId`.
    pub payment_handler_pay_id: Option<String>,
    /// The status.
    pub status: StatusInfo,
    /// `PaySchemePackagedContent` for the Inquiry Response.
    pub pay_scheme: Vec<PackagedContent>,
}

// ---------------------------------------------------------------------------------------------
// Shared calls

/// `ContinueProcess` (Consumer, Payment Handler): the next Payment Exchange round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContinueProcess {
    /// `PayId`: the caller's own payment ID.
    pub pay_id: String,
    /// Payment or Inquiry.
    pub process_type: ProcessType,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// `PaySchemePackagedContent` from a Payment Exchange, Payment Response or Error Block.
    pub pay_scheme: Vec<PackagedContent>,
    /// Set when the content came in an Error Block with a HardError: the bridge must answer
    /// End.
    pub from_hard_error: bool,
}

/// `ChangeProcessState` (all roles): reports an end (ok, fail, cancel, suspend) and reconciles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeProcessState {
    /// `PayId`.
    pub pay_id: String,
    /// The requested state.
    pub process_state: PaymentState,
    /// `CompletionCode`.
    pub completion_code: Option<CompletionCode>,
    /// Payment or Inquiry.
    pub process_type: ProcessType,
    /// Wallet access.
    pub wallet: WalletAccess,
}

/// `InquireProcessState` (all roles): the state and receipt parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InquireProcessState {
    /// `PayId`.
    pub pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
}

/// Response to [`InquireProcessState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquireProcessStateResponse {
    /// The status.
    pub status: StatusInfo,
    /// `PayReceiptNameRefs`: names of the PackagedContent that make up the receipt.
    pub pay_receipt_name_refs: Vec<String>,
    /// `PackagedContent` that goes into the PayReceipt (Payment Handler), or extra receipt
    /// parts (Consumer).
    pub receipt: Vec<PackagedContent>,
}

/// `CheckPaymentReceipt` (Consumer; Payment Handler may): checks the receipt parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckPaymentReceipt {
    /// `PayId`.
    pub pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// The PackagedContent named by `PayReceiptNameRefs`, plus the PayReceipt's own.
    pub receipt: Vec<PackagedContent>,
}

/// `ExpandPaymentReceipt`: the receipt in readable form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpandPaymentReceipt {
    /// `PayId`.
    pub pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// The receipt content.
    pub receipt: Vec<PackagedContent>,
}

/// Response to [`ExpandPaymentReceipt`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpandPaymentReceiptResponse {
    /// `BrandId`.
    pub brand_id: Option<String>,
    /// `PaymentInstrumentId` (never a full card number).
    pub payment_instrument_id: Option<String>,
    /// The amount.
    pub amount: Option<AmountInfo>,
    /// `TimeStamp`.
    pub time_stamp: Option<String>,
    /// `ProtocolId`.
    pub protocol_id: Option<String>,
    /// `ProtocolBrandId`.
    pub protocol_brand_id: Option<String>,
    /// `ProtocolTransId`.
    pub protocol_trans_id: Option<String>,
    /// `ConsumerDesc`.
    pub consumer_desc: Option<String>,
    /// `PaymentHandlerDesc`.
    pub payment_handler_desc: Option<String>,
    /// `StyleSheetNetLocn`.
    pub style_sheet_net_locn: Option<String>,
    /// `PaymentProperty*`.
    pub properties: Vec<InstrumentProperty>,
}

/// `RemovePaymentLog`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemovePaymentLog {
    /// `PayId`.
    pub pay_id: String,
    /// Wallet access.
    pub wallet: WalletAccess,
}

/// `InquirePendingPayment` (Consumer, Payment Handler): payments left open, e.g. by a crash.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InquirePendingPayment {
    /// Wallet access (not needed when nothing is pending).
    pub wallet: WalletAccess,
}

/// Response to [`InquirePendingPayment`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InquirePendingPaymentResponse {
    /// The `PayId`s of pending payments.
    pub pay_ids: Vec<String>,
}

/// `ManagePaymentSoftware`: wallet administration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManagePaymentSoftware {
    /// `BrandId`.
    pub brand_id: Option<String>,
    /// `ProtocolId`.
    pub protocol_id: Option<String>,
    /// `Action`: `New`, `Update` or `Delete`; absent for interactive administration.
    pub action: Option<String>,
    /// Wallet access.
    pub wallet: WalletAccess,
    /// Brand, ProtocolAmount and PayProtocol content.
    pub offer: OfferContent,
}

/// Response to [`ManagePaymentSoftware`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManagePaymentSoftwareResponse {
    /// `Action`.
    pub action: Option<String>,
    /// Wallet access of a new wallet.
    pub wallet: WalletAccess,
    /// `AuthNames`: the authentication algorithms supported.
    pub auth_names: Vec<String>,
}

/// `CallBack` (bridge → core): progress of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallBack {
    /// `ContentSoftwareID`.
    pub content_software_id: Option<String>,
    /// `PayId`.
    pub pay_id: String,
    /// `ProcessState`.
    pub process_state: Option<PaymentState>,
    /// `PercentComplete`.
    pub percent_complete: Option<u8>,
    /// `CompletionCode`.
    pub completion_code: Option<CompletionCode>,
    /// `StatusDesc`.
    pub status_desc: Option<String>,
}

/// The core's answer to a [`CallBack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallBackReply {
    /// Go on.
    Continue,
    /// The user cancelled: the bridge should stop (`BusError` + `ConsCancelled` in RFC 3867).
    Cancel(CompletionCode),
    /// The node is shutting down: finish quickly.
    Shutdown,
}
