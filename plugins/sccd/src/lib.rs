//! SCCD, Secure Channel Credit/Debit (`ProtocolId="SCCD1.0"`), as an IOTP payment scheme plugin:
//! `libiotp_scheme_sccd.so`.
//!
//! No SCCD supplement was ever published; this crate's `README.md` is this project's: card data
//! as ECML v2 XML (RFC 4112) in PackagedContent ([`ecml`]), a card-processor simulator with
//! documented test cards ([`processor`]), and card data protection ([`card`]). One
//! [`SccdScheme`] plays the three parts:
//!
//! - **Merchant** ([`merchant`]): brands VISA, MasterCard and Amex, protocol `SCCD1.0` with an
//!   `SCCD-Accept` per card type;
//! - **Consumer** ([`consumer`], [`wallet`]): the test cards and the cards registered with
//!   `ManagePaymentSoftware`; `SCCD-Card` in the Payment Request; the answer to a step-up;
//!   the receipt checks;
//! - **Payment Handler** ([`handler`]): the checks, the processor, `SCCD-Challenge`,
//!   `SCCD-Auth` with the card truncated, `PayReceiptNameRefs="SCCD-Auth"`, refunds (Credit)
//!   against an earlier authorisation, status inquiries.
//!
//! Card numbers never leave the Consumer's wallet and the Payment Request: the Payment
//! Handler keeps a token and the last four digits, logs go through [`card::redact`], error
//! descriptions never quote card data.
//!
//! `claims.xml`, next to this crate's manifest, is the descriptor's claims document; a test
//! keeps it equal to [`SccdScheme::claims`].

// `ApiError` mirrors RFC 3867's ErrorResponse field for field, as in `iotp::payapi`; it is
// returned rarely, so its size in `Err` does not matter.
#![allow(clippy::result_large_err)]

use iotp::msg::codes::{
    CompletionCode, ErrorCode, PayDirection, ProcessState, Severity, TradingRole,
};
use iotp::msg::model::ErrorLocation;
use iotp::payapi::claims::{PluginClaims, TestInstrument};
use iotp::payapi::*;

pub mod card;
pub mod consumer;
pub mod ecml;
pub mod handler;
pub mod merchant;
pub mod processor;
pub mod wallet;

use handler::HandlerRecord;
use processor::{Behaviour, Processor, TEST_CARDS};
use wallet::ConsumerRecord;

/// The `ProtocolId` (RFC 2801 §11.2.4 example).
pub const PROTOCOL_ID: &str = "SCCD1.0";
/// The `ContentSoftwareID`.
pub const SOFTWARE_ID: &str = "iotp-rs SCCD scheme 1.0";

/// The RFC 3867 calls SCCD implements (the others answer `ReqNotSupp`).
pub const IMPLEMENTED: &[&str] = &[
    "FindAcceptedPaymentBrand",
    "FindAcceptedPaymentProtocol",
    "GetPaymentInitializationData",
    "FindPaymentInstrument",
    "CheckPaymentPossibility",
    "StartPaymentConsumer",
    "StartPaymentInquiry",
    "StartPaymentPaymentHandler",
    "InquirePaymentStatus",
    "ContinueProcess",
    "ChangeProcessState",
    "InquireProcessState",
    "CheckPaymentReceipt",
    "ExpandPaymentReceipt",
    "RemovePaymentLog",
    "ManagePaymentSoftware",
];

/// The SCCD payment scheme: Merchant, Consumer and Payment Handler, with the processor
/// simulator of the Payment Handler.
#[derive(Debug, Default)]
pub struct SccdScheme {
    processor: Processor,
}

impl SccdScheme {
    /// A scheme.
    pub fn new() -> SccdScheme {
        SccdScheme::default()
    }

    /// What SCCD claims (its plugin publishes this document): the test cards are the test
    /// instruments.
    pub fn claims() -> PluginClaims {
        let test_instruments = TEST_CARDS
            .iter()
            .map(|c| {
                let (state, code, rounds, transient) = match c.behaviour {
                    Behaviour::Approve => (ProcessState::CompletedOk, None, 0, false),
                    Behaviour::Challenge => (ProcessState::CompletedOk, None, 1, false),
                    Behaviour::Decline(d) => (ProcessState::Failed, Some(d.code()), 0, false),
                    Behaviour::Timeout => (ProcessState::Failed, None, 0, true),
                };
                TestInstrument {
                    id: c.id.into(),
                    process_state: state,
                    completion_code: code,
                    exchange_rounds: rounds,
                    transient,
                }
            })
            .collect();
        PluginClaims {
            software_id: SOFTWARE_ID.into(),
            roles: vec![
                TradingRole::Consumer,
                TradingRole::Merchant,
                TradingRole::PaymentHandler,
            ],
            protocols: vec![PROTOCOL_ID.into()],
            brands: card::CardType::ALL
                .iter()
                .map(|t| t.brand_id().to_owned())
                .collect(),
            directions: vec![PayDirection::Debit, PayDirection::Credit],
            auth_algorithms: Vec::new(),
            calls: IMPLEMENTED.iter().map(|c| (*c).to_owned()).collect(),
            test_instruments,
        }
    }
}

/// `EncapProtErr` on the scheme data (RFC 2801 §7.21.2), its description redacted.
pub(crate) fn encap(desc: &str) -> ApiError {
    let mut e = ApiError::new(
        ApiErrorCode::Iotp(ErrorCode::EncapProtErr),
        Severity::HardError,
        card::redact(desc),
    );
    e.locations.push(ErrorLocation {
        element_type: "PaySchemeData".into(),
        ..Default::default()
    });
    e
}

/// Logs through the host, redacted.
pub(crate) fn log(host: &dyn BridgeHost, level: LogLevel, message: &str) {
    host.log(level, &card::redact(message));
}

/// A status with 100 % when final.
pub(crate) fn status_of(
    state: ProcessState,
    code: Option<CompletionCode>,
    desc: Option<String>,
) -> StatusInfo {
    let fin = PaymentState::Iotp(state.clone()).is_final();
    StatusInfo {
        process_state: PaymentState::Iotp(state),
        percent_complete: Some(if fin { 100 } else { 50 }),
        completion_code: code,
        status_desc: desc,
    }
}

/// A payment of this node, by the PayId the core gives: the Payment Handler's or the
/// Consumer's.
enum Payment {
    Handler(HandlerRecord),
    Consumer(ConsumerRecord),
}

fn payment(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<Payment> {
    if let Some(r) = HandlerRecord::load(host, pay_id)? {
        return Ok(Payment::Handler(r));
    }
    if let Some(r) = ConsumerRecord::load(host, pay_id)? {
        return Ok(Payment::Consumer(r));
    }
    Err(ApiError::illegal_value(
        "PayId",
        format!("no SCCD payment {pay_id}"),
    ))
}

impl PaymentBridge for SccdScheme {
    fn info(&self) -> BridgeInfo {
        SccdScheme::claims().bridge_info()
    }

    fn find_accepted_payment_brand(
        &self,
        _host: &dyn BridgeHost,
        request: &FindAcceptedPaymentBrand,
    ) -> ApiResult<FindAcceptedPaymentBrandResponse> {
        Ok(merchant::find_brands(request))
    }

    fn find_accepted_payment_protocol(
        &self,
        _host: &dyn BridgeHost,
        request: &FindAcceptedPaymentProtocol,
    ) -> ApiResult<FindAcceptedPaymentProtocolResponse> {
        Ok(merchant::find_protocols(request))
    }

    fn get_payment_initialization_data(
        &self,
        _host: &dyn BridgeHost,
        request: &GetPaymentInitializationData,
    ) -> ApiResult<GetPaymentInitializationDataResponse> {
        merchant::initialization_data(request)
    }

    fn find_payment_instrument(
        &self,
        host: &dyn BridgeHost,
        request: &FindPaymentInstrument,
    ) -> ApiResult<FindPaymentInstrumentResponse> {
        consumer::find_instruments(host, request)
    }

    fn check_payment_possibility(
        &self,
        host: &dyn BridgeHost,
        request: &CheckPaymentPossibility,
    ) -> ApiResult<CheckPaymentPossibilityResponse> {
        consumer::check_possibility(host, request)
    }

    fn start_payment_consumer(
        &self,
        host: &dyn BridgeHost,
        request: &StartPaymentConsumer,
    ) -> ApiResult<SchemeStep> {
        consumer::start(host, request)
    }

    fn start_payment_inquiry(
        &self,
        _host: &dyn BridgeHost,
        _request: &StartPaymentInquiry,
    ) -> ApiResult<StartPaymentInquiryResponse> {
        Ok(StartPaymentInquiryResponse {
            pay_scheme: vec![ecml::inquiry()],
        })
    }

    fn start_payment_payment_handler(
        &self,
        host: &dyn BridgeHost,
        request: &StartPaymentPaymentHandler,
    ) -> ApiResult<SchemeStep> {
        handler::start(&self.processor, host, request)
    }

    fn inquire_payment_status(
        &self,
        host: &dyn BridgeHost,
        request: &InquirePaymentStatus,
    ) -> ApiResult<InquirePaymentStatusResponse> {
        handler::inquire(host, request)
    }

    fn continue_process(
        &self,
        host: &dyn BridgeHost,
        request: &ContinueProcess,
    ) -> ApiResult<SchemeStep> {
        if request.process_type == ProcessType::Inquiry {
            return Ok(SchemeStep::end(Vec::new()));
        }
        match payment(host, &request.pay_id)? {
            Payment::Handler(r) => handler::continue_payment(&self.processor, host, request, r),
            Payment::Consumer(r) => consumer::continue_payment(host, request, r),
        }
    }

    fn change_process_state(
        &self,
        host: &dyn BridgeHost,
        request: &ChangeProcessState,
    ) -> ApiResult<StatusInfo> {
        if request.process_type == ProcessType::Inquiry {
            return Ok(StatusInfo::new(request.process_state.to_wire()));
        }
        match payment(host, &request.pay_id)? {
            Payment::Handler(r) => handler::change(&self.processor, host, request, r),
            Payment::Consumer(r) => consumer::change(host, request, r),
        }
    }

    fn inquire_process_state(
        &self,
        host: &dyn BridgeHost,
        request: &InquireProcessState,
    ) -> ApiResult<InquireProcessStateResponse> {
        Ok(match payment(host, &request.pay_id)? {
            Payment::Handler(r) => {
                let ok = r.process_state() == ProcessState::CompletedOk;
                InquireProcessStateResponse {
                    status: r.status(),
                    pay_receipt_name_refs: if ok {
                        vec![ecml::AUTH.into()]
                    } else {
                        Vec::new()
                    },
                    receipt: Vec::new(),
                }
            }
            Payment::Consumer(r) => InquireProcessStateResponse {
                status: consumer::status(&r),
                pay_receipt_name_refs: Vec::new(),
                receipt: Vec::new(),
            },
        })
    }

    fn check_payment_receipt(
        &self,
        host: &dyn BridgeHost,
        request: &CheckPaymentReceipt,
    ) -> ApiResult<()> {
        consumer::check_receipt(host, request)
    }

    fn expand_payment_receipt(
        &self,
        host: &dyn BridgeHost,
        request: &ExpandPaymentReceipt,
    ) -> ApiResult<ExpandPaymentReceiptResponse> {
        consumer::expand_receipt(host, request)
    }

    fn remove_payment_log(
        &self,
        host: &dyn BridgeHost,
        request: &RemovePaymentLog,
    ) -> ApiResult<()> {
        match payment(host, &request.pay_id)? {
            Payment::Handler(_) => HandlerRecord::remove(host, &request.pay_id),
            Payment::Consumer(_) => ConsumerRecord::remove(host, &request.pay_id),
        }
    }

    fn manage_payment_software(
        &self,
        host: &dyn BridgeHost,
        request: &ManagePaymentSoftware,
    ) -> ApiResult<ManagePaymentSoftwareResponse> {
        wallet::manage(host, request)
    }
}

iotp_plugin_sdk::export_payment_bridge!(
    SccdScheme,
    SccdScheme::new(),
    claims = iotp_plugin_sdk::cstr!(include_str!("../claims.xml")),
);

#[cfg(test)]
mod tests;
