//! `mock`: a deterministic test payment scheme, for tests, the in-process demo and benchmarks.
//!
//! One [`MockScheme`] plays all three parts: Merchant (brand and protocol), Consumer (wallet)
//! and Payment Handler (authorisation). Its payment state lives in the host's key-value space,
//! so a retransmitted or resumed payment is never authorised twice.
//!
//! | Protocol | `x-iotp-mock` |
//! |---|---|
//! | Brand | `x-mockcard` ("Mock Card") |
//! | Payment Request scheme data | `MockPayment`: `instrument=…;amount=…;currency=…;direction=…` |
//! | extra round | PH → `MockChallenge` `challenge=N`, Consumer → `MockChallengeResp` `answer=N+1` |
//! | Payment Response scheme data | `MockAuth` (approved) or `MockDecline`; receipt = `MockAuth` |
//!
//! The Consumer's instruments decide what the Payment Handler does:
//!
//! | Instrument id | Outcome |
//! |---|---|
//! | `approve` | CompletedOk |
//! | `decline-<Code>` | Failed with that completion code: every payment code of §7.16.2 ([`DECLINE_CODES`]) |
//! | `extra-round` | one more Payment Exchange round, then CompletedOk |
//! | `timeout` | the "processor" never answers: TransientError every time |
//!
//! Works for Debit and Credit (refunds, withdrawals) alike. Authentication: algorithm
//! `x-iotp-mock-challenge`, the answer to challenge `N` is `N+1`.

use crate::msg::codes::{CompletionCode, ErrorCode, ProcessState, Severity};
use crate::msg::model::{Algorithm, PackagedContent};

use super::*;

/// The mock's `ProtocolId`.
pub const PROTOCOL_ID: &str = "x-iotp-mock";
/// The mock's `BrandId`.
pub const BRAND_ID: &str = "x-mockcard";
/// The mock's authentication algorithm name.
pub const AUTH_ALGORITHM: &str = "x-iotp-mock-challenge";
/// The completion codes a `decline-…` instrument produces (§7.16.2, payment).
pub const DECLINE_CODES: &[CompletionCode] = &[
    CompletionCode::BrandNotSupp,
    CompletionCode::CurrNotSupp,
    CompletionCode::AuthError,
    CompletionCode::InsuffFunds,
    CompletionCode::InstBrandInvalid,
    CompletionCode::InstNotValid,
    CompletionCode::BadInstrument,
    CompletionCode::Unspecified,
];

/// The mock payment scheme. `pay_req_net_locn` is where the Merchant tells Consumers to send
/// Payment Requests (the Payment Handler's address).
#[derive(Debug, Clone)]
pub struct MockScheme {
    /// The Payment Handler's `PayReqNetLocn` offered by a Merchant using this scheme.
    pub pay_req_net_locn: Option<String>,
}

impl MockScheme {
    /// A mock whose Payment Handler is reached at `pay_req_net_locn`.
    pub fn new(pay_req_net_locn: Option<&str>) -> Self {
        MockScheme {
            pay_req_net_locn: pay_req_net_locn.map(str::to_owned),
        }
    }

    /// Every instrument of the mock wallet (built once).
    pub fn instruments() -> Vec<PayInstrument> {
        static INSTRUMENTS: std::sync::OnceLock<Vec<PayInstrument>> = std::sync::OnceLock::new();
        INSTRUMENTS.get_or_init(Self::build_instruments).clone()
    }

    fn build_instruments() -> Vec<PayInstrument> {
        let mut v = vec![
            instrument("approve", "Mock card: approves"),
            instrument("extra-round", "Mock card: one more exchange round"),
            instrument("timeout", "Mock card: the processor never answers"),
        ];
        for c in DECLINE_CODES {
            v.push(instrument(
                &["decline-", c.as_str()].concat(),
                &["Mock card: declines with ", c.as_str()].concat(),
            ));
        }
        v
    }

    /// Whether `id` is one of [`instruments`](Self::instruments)' ids, without building them.
    fn has_instrument(id: &str) -> bool {
        match id.strip_prefix("decline-") {
            Some(code) => DECLINE_CODES.iter().any(|c| c.as_str() == code),
            None => matches!(id, "approve" | "extra-round" | "timeout"),
        }
    }
}

impl MockScheme {
    /// What the mock claims (its plugin publishes this document).
    pub fn claims() -> claims::PluginClaims {
        let instrument = |id: &str,
                          state: ProcessState,
                          code: Option<CompletionCode>,
                          rounds: u32,
                          transient: bool| {
            claims::TestInstrument {
                id: id.into(),
                process_state: state,
                completion_code: code,
                exchange_rounds: rounds,
                transient,
            }
        };
        let mut test_instruments = vec![
            instrument("approve", ProcessState::CompletedOk, None, 0, false),
            instrument("extra-round", ProcessState::CompletedOk, None, 1, false),
            instrument("timeout", ProcessState::Failed, None, 0, true),
        ];
        for c in DECLINE_CODES {
            test_instruments.push(instrument(
                &format!("decline-{c}"),
                ProcessState::Failed,
                Some(c.clone()),
                0,
                false,
            ));
        }
        claims::PluginClaims {
            software_id: SOFTWARE_ID.into(),
            roles: vec![
                crate::msg::codes::TradingRole::Consumer,
                crate::msg::codes::TradingRole::Merchant,
                crate::msg::codes::TradingRole::PaymentHandler,
            ],
            protocols: vec![PROTOCOL_ID.into()],
            brands: vec![BRAND_ID.into()],
            directions: vec![
                crate::msg::codes::PayDirection::Debit,
                crate::msg::codes::PayDirection::Credit,
            ],
            auth_algorithms: vec![AUTH_ALGORITHM.into()],
            calls: IMPLEMENTED.iter().map(|c| (*c).to_owned()).collect(),
            test_instruments,
        }
    }
}

/// The mock's `ContentSoftwareID`.
pub const SOFTWARE_ID: &str = "iotp-rs mock scheme 1.0";

/// The RFC 3867 calls the mock implements (the others answer `ReqNotSupp`).
pub const IMPLEMENTED: &[&str] = &[
    "FindAcceptedPaymentBrand",
    "FindAcceptedPaymentProtocol",
    "GetPaymentInitializationData",
    "InquireAuthChallenge",
    "Authenticate",
    "CheckAuthResponse",
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
];

fn instrument(id: &str, name: &str) -> PayInstrument {
    PayInstrument {
        id: id.into(),
        lang: Some("en".into()),
        pay_inst_name: name.into(),
    }
}

fn named(name: &str, text: String) -> PackagedContent {
    PackagedContent {
        name: Some(name.into()),
        ..PackagedContent::text(text)
    }
}

/// `key=value;key=value` fields.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn content<'a>(pcs: &'a [PackagedContent], name: &str) -> Option<&'a str> {
    pcs.iter()
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(PackagedContent::as_text)
}

fn encap_error(desc: &str) -> ApiError {
    let mut e = ApiError::new(
        ApiErrorCode::Iotp(ErrorCode::EncapProtErr),
        Severity::HardError,
        desc,
    );
    e.locations.push(crate::msg::model::ErrorLocation {
        element_type: "PaySchemeData".into(),
        ..Default::default()
    });
    e
}

/// The state of a payment as the mock keeps it in the host's key-value space.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    state: ProcessState,
    code: Option<CompletionCode>,
    instrument: String,
    amount: String,
    currency: String,
    direction: String,
    challenge: Option<u64>,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let challenge = self.challenge.map(|c| c.to_string());
        [
            "state=",
            self.state.as_str(),
            ";code=",
            self.code.as_ref().map(|c| c.as_str()).unwrap_or(""),
            ";instrument=",
            &self.instrument,
            ";amount=",
            &self.amount,
            ";currency=",
            &self.currency,
            ";direction=",
            &self.direction,
            ";challenge=",
            challenge.as_deref().unwrap_or(""),
        ]
        .concat()
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Record> {
        const KEYS: [&str; 7] = [
            "state",
            "code",
            "instrument",
            "amount",
            "currency",
            "direction",
            "challenge",
        ];
        let text = std::str::from_utf8(bytes).ok()?;
        // One pass over the fields: the first of each key counts, as with `field`.
        let mut values: [Option<&str>; 7] = [None; 7];
        for (key, value) in text.split(';').filter_map(|kv| kv.split_once('=')) {
            if let Some(k) = KEYS.iter().position(|n| *n == key) {
                values[k].get_or_insert(value);
            }
        }
        let [
            state,
            code,
            instrument,
            amount,
            currency,
            direction,
            challenge,
        ] = values;
        Some(Record {
            state: ProcessState::from_wire(state?),
            code: code
                .filter(|c| !c.is_empty())
                .map(CompletionCode::from_wire),
            instrument: instrument?.into(),
            amount: amount?.into(),
            currency: currency?.into(),
            direction: direction?.into(),
            challenge: challenge.and_then(|c| c.parse().ok()),
        })
    }

    fn load(host: &dyn BridgeHost, key: &str) -> ApiResult<Record> {
        let bytes = host
            .kv_get(key)?
            .ok_or_else(|| ApiError::illegal_value("PayId", "no such payment"))?;
        Record::decode(&bytes).ok_or_else(Record::damaged)
    }

    fn damaged() -> ApiError {
        ApiError::new(
            ApiErrorCode::Iotp(ErrorCode::UnknownError),
            Severity::HardError,
            "the mock's payment record is damaged",
        )
    }

    fn status(&self) -> StatusInfo {
        StatusInfo {
            process_state: PaymentState::Iotp(self.state.clone()),
            percent_complete: Some(if self.is_final() { 100 } else { 50 }),
            completion_code: self.code.clone(),
            status_desc: None,
        }
    }

    fn is_final(&self) -> bool {
        PaymentState::Iotp(self.state.clone()).is_final()
    }

    /// The Payment Handler's final scheme data.
    fn final_data(&self, pay_id: &str) -> Vec<PackagedContent> {
        match self.state {
            ProcessState::CompletedOk => vec![named(
                "MockAuth",
                format!(
                    "approved;direction={};amount={};currency={};ref={pay_id}",
                    self.direction, self.amount, self.currency
                ),
            )],
            _ => vec![named(
                "MockDecline",
                format!(
                    "declined;code={}",
                    self.code
                        .as_ref()
                        .map(|c| c.as_str())
                        .unwrap_or("Unspecified")
                ),
            )],
        }
    }
}

/// Key of a Consumer payment, and of a Payment Handler payment.
fn consumer_key(pay_id: &str) -> String {
    ["consumer/", pay_id].concat()
}

fn handler_key(pay_id: &str) -> String {
    ["handler/", pay_id].concat()
}

/// The key of the payment `pay_id` (the Payment Handler's or the Consumer's), and its record.
fn key_of(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<(String, Record)> {
    let (key, bytes) = stored(host, pay_id)?;
    let record = Record::decode(&bytes).ok_or_else(Record::damaged)?;
    Ok((key, record))
}

/// The key of the payment `pay_id` and its stored bytes, read once.
fn stored(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<(String, Vec<u8>)> {
    for key_of in [handler_key, consumer_key] {
        let key = key_of(pay_id);
        if let Some(bytes) = host.kv_get(&key)? {
            return Ok((key, bytes));
        }
    }
    Err(ApiError::illegal_value(
        "PayId",
        format!("no payment {pay_id}"),
    ))
}

impl PaymentBridge for MockScheme {
    fn info(&self) -> BridgeInfo {
        BridgeInfo {
            software_id: SOFTWARE_ID.into(),
            protocols: vec![PROTOCOL_ID.into()],
            brands: vec![BRAND_ID.into()],
            auth_algorithms: vec![AUTH_ALGORITHM.into()],
        }
    }

    fn find_accepted_payment_brand(
        &self,
        _host: &dyn BridgeHost,
        request: &FindAcceptedPaymentBrand,
    ) -> ApiResult<FindAcceptedPaymentBrandResponse> {
        let ok = request.amount.curr_code.len() == 3
            && request
                .amount
                .curr_code
                .bytes()
                .all(|b| b.is_ascii_uppercase());
        Ok(FindAcceptedPaymentBrandResponse {
            brands: ok
                .then(|| BrandItem {
                    brand_id: BRAND_ID.into(),
                    lang: Some("en".into()),
                    brand_name: "Mock Card".into(),
                    brand_logo_net_locn: "https://mock.invalid/logo.png".into(),
                    brand_narrative: None,
                    content: Vec::new(),
                })
                .into_iter()
                .collect(),
        })
    }

    fn find_accepted_payment_protocol(
        &self,
        _host: &dyn BridgeHost,
        request: &FindAcceptedPaymentProtocol,
    ) -> ApiResult<FindAcceptedPaymentProtocolResponse> {
        let (insecure, secure) = match &self.pay_req_net_locn {
            Some(l) if l.starts_with("https:") => (None, Some(l.clone())),
            other => (other.clone(), None),
        };
        Ok(FindAcceptedPaymentProtocolResponse {
            protocols: vec![ProtocolItem {
                protocol_id: PROTOCOL_ID.into(),
                protocol_brand_id: None,
                protocol_name: "IOTP mock payment protocol".into(),
                pay_req_net_locn: insecure,
                sec_pay_req_net_locn: secure,
                protocol_amount_content: Vec::new(),
                pay_protocol_content: vec![named("MockAccept", "version=1".into())],
                currency_amounts: vec![request.amount.clone()],
            }],
            brands: Vec::new(),
        })
    }

    fn get_payment_initialization_data(
        &self,
        _host: &dyn BridgeHost,
        request: &GetPaymentInitializationData,
    ) -> ApiResult<GetPaymentInitializationDataResponse> {
        Ok(GetPaymentInitializationDataResponse {
            ok_from: None,
            ok_to: None,
            order: request.offer.order.clone(),
            trading_role_data: vec![named(
                "Payment:MockOrder",
                format!(
                    "merchant-pay-id={};amount={};currency={}",
                    request.merchant_pay_id, request.amount.amount, request.amount.curr_code
                ),
            )],
        })
    }

    fn inquire_auth_challenge(
        &self,
        host: &dyn BridgeHost,
        request: &InquireAuthChallenge,
    ) -> ApiResult<InquireAuthChallengeResponse> {
        let mut r = [0u8; 4];
        host.random(&mut r);
        let challenge = u32::from_be_bytes(r) % 1_000_000;
        Ok(InquireAuthChallengeResponse {
            auth_req: vec![named("MockAuthChallenge", format!("challenge={challenge}"))],
            algorithm: Algorithm {
                name: AUTH_ALGORITHM.into(),
                id: request
                    .algorithms
                    .first()
                    .map(|a| a.id.clone())
                    .unwrap_or_default(),
                ..Algorithm::default()
            },
        })
    }

    fn authenticate(
        &self,
        _host: &dyn BridgeHost,
        request: &Authenticate,
    ) -> ApiResult<AuthenticateResponse> {
        let challenge: u64 = content(&request.auth_req, "MockAuthChallenge")
            .and_then(|t| field(t, "challenge"))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| encap_error("no MockAuthChallenge in the authentication request"))?;
        Ok(AuthenticateResponse {
            auth_res: vec![named("MockAuthAnswer", format!("answer={}", challenge + 1))],
        })
    }

    fn check_auth_response(
        &self,
        _host: &dyn BridgeHost,
        request: &CheckAuthResponse,
    ) -> ApiResult<StatusInfo> {
        let challenge = content(&request.auth_req, "MockAuthChallenge")
            .and_then(|t| field(t, "challenge"))
            .and_then(|c| c.parse::<u64>().ok());
        let answer = content(&request.auth_res, "MockAuthAnswer")
            .and_then(|t| field(t, "answer"))
            .and_then(|c| c.parse::<u64>().ok());
        Ok(match (challenge, answer) {
            (Some(c), Some(a)) if a == c + 1 => StatusInfo::new(ProcessState::CompletedOk),
            _ => StatusInfo::failed(CompletionCode::AuthFailed, "wrong answer to the challenge"),
        })
    }

    fn find_payment_instrument(
        &self,
        _host: &dyn BridgeHost,
        _request: &FindPaymentInstrument,
    ) -> ApiResult<FindPaymentInstrumentResponse> {
        Ok(FindPaymentInstrumentResponse {
            instruments: MockScheme::instruments(),
        })
    }

    fn check_payment_possibility(
        &self,
        _host: &dyn BridgeHost,
        request: &CheckPaymentPossibility,
    ) -> ApiResult<CheckPaymentPossibilityResponse> {
        let id = request
            .payment_instrument_id
            .as_deref()
            .unwrap_or("approve");
        if !MockScheme::has_instrument(id) {
            return Err(ApiError::illegal_value(
                "PaymentInstrumentId",
                format!("no mock instrument {id}"),
            ));
        }
        Ok(CheckPaymentPossibilityResponse {
            brand_selection: BrandSelectionContent {
                brand_info: vec![named("MockSelection", format!("instrument={id}"))],
                ..Default::default()
            },
        })
    }

    fn start_payment_consumer(
        &self,
        host: &dyn BridgeHost,
        request: &StartPaymentConsumer,
    ) -> ApiResult<SchemeStep> {
        let instrument = request
            .payment_instrument_id
            .clone()
            .unwrap_or_else(|| "approve".into());
        let record = Record {
            state: ProcessState::InProgress,
            code: None,
            instrument: instrument.clone(),
            amount: request.amount.amount.clone(),
            currency: request.amount.curr_code.clone(),
            direction: request.amount.pay_direction.to_string(),
            challenge: None,
        };
        host.kv_put(&consumer_key(&request.consumer_pay_id), &record.encode())?;
        Ok(SchemeStep::more(vec![named(
            "MockPayment",
            format!(
                "instrument={instrument};amount={};currency={};direction={}",
                record.amount, record.currency, record.direction
            ),
        )]))
    }

    fn start_payment_inquiry(
        &self,
        _host: &dyn BridgeHost,
        request: &StartPaymentInquiry,
    ) -> ApiResult<StartPaymentInquiryResponse> {
        Ok(StartPaymentInquiryResponse {
            pay_scheme: vec![named(
                "MockInquiry",
                format!("consumer-pay-id={}", request.consumer_pay_id),
            )],
        })
    }

    fn start_payment_payment_handler(
        &self,
        host: &dyn BridgeHost,
        request: &StartPaymentPaymentHandler,
    ) -> ApiResult<SchemeStep> {
        let key = handler_key(&request.payment_handler_pay_id);
        // A payment already started (a retransmitted or resumed Payment Request) is answered
        // from its record: it is never authorised twice.
        if let Some(bytes) = host.kv_get(&key)?
            && let Some(r) = Record::decode(&bytes)
        {
            return Ok(match r.challenge {
                Some(c) if !r.is_final() => {
                    SchemeStep::more(vec![named("MockChallenge", format!("challenge={c}"))])
                }
                _ => SchemeStep::end(r.final_data(&request.payment_handler_pay_id)),
            });
        }
        let text = content(&request.pay_scheme, "MockPayment")
            .ok_or_else(|| encap_error("the Payment Request has no MockPayment scheme data"))?;
        let instrument = field(text, "instrument")
            .ok_or_else(|| encap_error("MockPayment names no instrument"))?;
        if field(text, "amount") != Some(request.amount.amount.as_str())
            || field(text, "currency") != Some(request.amount.curr_code.as_str())
        {
            return Err(encap_error(
                "MockPayment's amount or currency differs from the selected CurrencyAmount",
            ));
        }
        if instrument == "timeout" {
            return Err(ApiError::transient(
                ErrorCode::UnknownError,
                1,
                "the mock card processor did not answer in time",
            ));
        }
        let reply = host.callback(&CallBack {
            content_software_id: Some(self.info().software_id),
            pay_id: request.payment_handler_pay_id.clone(),
            process_state: Some(PaymentState::Iotp(ProcessState::InProgress)),
            percent_complete: Some(50),
            completion_code: None,
            status_desc: Some("authorising".into()),
        });
        let mut record = Record {
            state: ProcessState::CompletedOk,
            code: None,
            instrument: instrument.into(),
            amount: request.amount.amount.clone(),
            currency: request.amount.curr_code.clone(),
            direction: request.amount.pay_direction.to_string(),
            challenge: None,
        };
        let decline = |r: &mut Record, code: CompletionCode| {
            r.state = ProcessState::Failed;
            r.code = Some(code);
        };
        if let CallBackReply::Cancel(code) = reply {
            decline(&mut record, code);
        } else if instrument == "extra-round" {
            let mut b = [0u8; 4];
            host.random(&mut b);
            record.state = ProcessState::InProgress;
            record.challenge = Some(u64::from(u32::from_be_bytes(b) % 1_000_000));
        } else if let Some(code) = instrument.strip_prefix("decline-") {
            decline(&mut record, CompletionCode::from_wire(code));
        } else if instrument != "approve" {
            decline(&mut record, CompletionCode::BadInstrument);
        }
        if !host.kv_insert_if_absent(&key, &record.encode())? {
            return Err(ApiError::transient(
                ErrorCode::MsgBeingProc,
                1,
                "this payment is being started by another request",
            ));
        }
        host.log(
            LogLevel::Info,
            &format!(
                "mock payment {}: {}",
                request.payment_handler_pay_id, record.state
            ),
        );
        Ok(match record.challenge {
            Some(c) => SchemeStep::more(vec![named("MockChallenge", format!("challenge={c}"))]),
            None => SchemeStep::end(record.final_data(&request.payment_handler_pay_id)),
        })
    }

    fn inquire_payment_status(
        &self,
        host: &dyn BridgeHost,
        request: &InquirePaymentStatus,
    ) -> ApiResult<InquirePaymentStatusResponse> {
        let record = Record::load(host, &handler_key(&request.payment_handler_pay_id))?;
        Ok(InquirePaymentStatusResponse {
            payment_handler_pay_id: Some(request.payment_handler_pay_id.clone()),
            status: record.status(),
            pay_scheme: vec![named("MockStatus", format!("state={}", record.state))],
        })
    }

    fn continue_process(
        &self,
        host: &dyn BridgeHost,
        request: &ContinueProcess,
    ) -> ApiResult<SchemeStep> {
        if request.process_type == ProcessType::Inquiry || request.from_hard_error {
            return Ok(SchemeStep::end(Vec::new()));
        }
        let (key, mut record) = key_of(host, &request.pay_id)?;
        if key.starts_with("consumer/") {
            // The Consumer's side: answer a challenge, or take the final data.
            if let Some(c) = content(&request.pay_scheme, "MockChallenge")
                .and_then(|t| field(t, "challenge"))
                .and_then(|c| c.parse::<u64>().ok())
            {
                return Ok(SchemeStep::more(vec![named(
                    "MockChallengeResp",
                    format!("answer={}", c + 1),
                )]));
            }
            if content(&request.pay_scheme, "MockAuth").is_some() {
                record.state = ProcessState::CompletedOk;
            } else if let Some(t) = content(&request.pay_scheme, "MockDecline") {
                record.state = ProcessState::Failed;
                record.code = field(t, "code").map(CompletionCode::from_wire);
            }
            host.kv_put(&key, &record.encode())?;
            return Ok(SchemeStep::end(Vec::new()));
        }
        // The Payment Handler's side: check the answer to the challenge.
        if record.is_final() {
            return Ok(SchemeStep::end(record.final_data(&request.pay_id)));
        }
        let answer = content(&request.pay_scheme, "MockChallengeResp")
            .and_then(|t| field(t, "answer"))
            .and_then(|a| a.parse::<u64>().ok())
            .ok_or_else(|| encap_error("expected MockChallengeResp"))?;
        if Some(answer) == record.challenge.map(|c| c + 1) {
            record.state = ProcessState::CompletedOk;
        } else {
            record.state = ProcessState::Failed;
            record.code = Some(CompletionCode::AuthError);
        }
        record.challenge = None;
        host.kv_put(&key, &record.encode())?;
        Ok(SchemeStep::end(record.final_data(&request.pay_id)))
    }

    fn change_process_state(
        &self,
        host: &dyn BridgeHost,
        request: &ChangeProcessState,
    ) -> ApiResult<StatusInfo> {
        let (key, mut record) = key_of(host, &request.pay_id)?;
        // A change request on a final state returns the old state, with no error.
        if !record.is_final() {
            record.state = request.process_state.to_wire();
            record.code = request.completion_code.clone();
            host.kv_put(&key, &record.encode())?;
        }
        Ok(record.status())
    }

    fn inquire_process_state(
        &self,
        host: &dyn BridgeHost,
        request: &InquireProcessState,
    ) -> ApiResult<InquireProcessStateResponse> {
        let (key, record) = key_of(host, &request.pay_id)?;
        let ok = record.state == ProcessState::CompletedOk && key.starts_with("handler/");
        Ok(InquireProcessStateResponse {
            status: record.status(),
            pay_receipt_name_refs: if ok {
                vec!["MockAuth".into()]
            } else {
                Vec::new()
            },
            receipt: if ok {
                vec![named(
                    "MockReceipt",
                    format!(
                        "paid;amount={};currency={};ref={}",
                        record.amount, record.currency, request.pay_id
                    ),
                )]
            } else {
                Vec::new()
            },
        })
    }

    fn check_payment_receipt(
        &self,
        _host: &dyn BridgeHost,
        request: &CheckPaymentReceipt,
    ) -> ApiResult<()> {
        match content(&request.receipt, "MockAuth") {
            Some(t) if t.starts_with("approved;") => Ok(()),
            _ => Err(ApiError::business("the receipt has no MockAuth approval")),
        }
    }

    fn expand_payment_receipt(
        &self,
        _host: &dyn BridgeHost,
        request: &ExpandPaymentReceipt,
    ) -> ApiResult<ExpandPaymentReceiptResponse> {
        let t = content(&request.receipt, "MockAuth")
            .ok_or_else(|| ApiError::business("the receipt has no MockAuth approval"))?;
        Ok(ExpandPaymentReceiptResponse {
            brand_id: Some(BRAND_ID.into()),
            protocol_id: Some(PROTOCOL_ID.into()),
            protocol_trans_id: field(t, "ref").map(str::to_owned),
            ..Default::default()
        })
    }

    fn remove_payment_log(
        &self,
        host: &dyn BridgeHost,
        request: &RemovePaymentLog,
    ) -> ApiResult<()> {
        let (key, _) = stored(host, &request.pay_id)?;
        host.kv_delete(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::codes::PayDirection;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Host {
        kv: RefCell<HashMap<String, Vec<u8>>>,
    }

    impl BridgeHost for Host {
        fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
            Ok(self.kv.borrow().get(key).cloned())
        }
        fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
            self.kv.borrow_mut().insert(key.into(), value.into());
            Ok(())
        }
        fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
            let mut kv = self.kv.borrow_mut();
            if kv.contains_key(key) {
                return Ok(false);
            }
            kv.insert(key.into(), value.into());
            Ok(true)
        }
        fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
            self.kv.borrow_mut().remove(key);
            Ok(())
        }
        fn callback(&self, _call: &CallBack) -> CallBackReply {
            CallBackReply::Continue
        }
        fn now_unix_millis(&self) -> i64 {
            0
        }
        fn random(&self, out: &mut [u8]) {
            out.fill(7);
        }
        fn log(&self, _level: LogLevel, _message: &str) {}
    }

    fn amount() -> AmountInfo {
        AmountInfo {
            pay_direction: PayDirection::Debit,
            curr_code: "USD".into(),
            amount: "10.00".into(),
            ..Default::default()
        }
    }

    fn pay(host: &Host, instrument: &str) -> SchemeStep {
        let m = MockScheme::new(None);
        let step = m
            .start_payment_consumer(
                host,
                &StartPaymentConsumer {
                    payment_instrument_id: Some(instrument.into()),
                    amount: amount(),
                    consumer_pay_id: "C-1".into(),
                    ..Default::default()
                },
            )
            .expect("consumer start");
        let req = StartPaymentPaymentHandler {
            amount: amount(),
            payment_handler_pay_id: "P-1".into(),
            pay_scheme: step.pay_scheme,
            ..Default::default()
        };
        match m.start_payment_payment_handler(host, &req) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn approve_declines_and_idempotency() {
        let host = Host::default();
        let step = pay(&host, "approve");
        assert_eq!(step.cont_status, ContStatus::End);
        assert_eq!(
            content(&step.pay_scheme, "MockAuth").map(|t| t.starts_with("approved")),
            Some(true)
        );
        // The same payment again is answered from the record.
        let again = pay(&host, "approve");
        assert_eq!(again, step);
        for code in DECLINE_CODES {
            let host = Host::default();
            pay(&host, &format!("decline-{code}"));
            let m = MockScheme::new(None);
            let st = m
                .inquire_process_state(
                    &host,
                    &InquireProcessState {
                        pay_id: "P-1".into(),
                        ..Default::default()
                    },
                )
                .expect("state");
            assert_eq!(st.status.completion_code.as_ref(), Some(code));
            assert_eq!(
                st.status.process_state,
                PaymentState::Iotp(ProcessState::Failed)
            );
        }
    }

    #[test]
    fn extra_round_and_timeout() {
        let host = Host::default();
        let m = MockScheme::new(None);
        let step = pay(&host, "extra-round");
        assert_eq!(step.cont_status, ContStatus::Continue);
        let answer = m
            .continue_process(
                &host,
                &ContinueProcess {
                    pay_id: "C-1".into(),
                    pay_scheme: step.pay_scheme,
                    ..Default::default()
                },
            )
            .expect("consumer answers");
        let done = m
            .continue_process(
                &host,
                &ContinueProcess {
                    pay_id: "P-1".into(),
                    pay_scheme: answer.pay_scheme,
                    ..Default::default()
                },
            )
            .expect("handler checks");
        assert_eq!(done.cont_status, ContStatus::End);
        assert!(content(&done.pay_scheme, "MockAuth").is_some());

        let host = Host::default();
        let step = m
            .start_payment_consumer(
                &host,
                &StartPaymentConsumer {
                    payment_instrument_id: Some("timeout".into()),
                    amount: amount(),
                    consumer_pay_id: "C-1".into(),
                    ..Default::default()
                },
            )
            .expect("start");
        let err = m
            .start_payment_payment_handler(
                &host,
                &StartPaymentPaymentHandler {
                    amount: amount(),
                    payment_handler_pay_id: "P-1".into(),
                    pay_scheme: step.pay_scheme,
                    ..Default::default()
                },
            )
            .expect_err("times out");
        assert_eq!(err.severity, Severity::TransientError);
    }

    #[test]
    fn unsupported_calls_say_req_not_supp() {
        let host = Host::default();
        let m = MockScheme::new(None);
        let e = m
            .manage_payment_software(&host, &ManagePaymentSoftware::default())
            .expect_err("not supported");
        assert_eq!(e.code, ApiErrorCode::ReqNotSupp);
        assert_eq!(e.code.to_wire(false), ErrorCode::UnknownError);
    }
}
