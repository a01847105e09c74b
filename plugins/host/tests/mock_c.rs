//! The mock scheme written in C (`plugins/mock-c/mock.c`, built here with the system C
//! compiler) against `include/iotp_plugin.h`: every call compared, document for document, with
//! the Rust `MockScheme` answering the same request documents (`documents::dispatch`); broken
//! documents; its claims; and the demo purchases with it as every engine's payment bridge.

// Tests may unwrap: a failure is a panic with the reason either way. `ApiError` mirrors RFC
// 3867's ErrorResponse field for field; the payapi's results carry it as it is.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use iotp::msg::codes::{
    CompletionCode, ContentType, CurrCodeType, PayDirection, ProcessState, Transform,
};
use iotp::msg::model::{Algorithm, PackagedContent};
use iotp::payapi::claims::PluginClaims;
use iotp::payapi::documents::{
    ApiRequest, ApiResponse, decode_request, decode_response, dispatch, encode_request,
    encode_response,
};
use iotp::payapi::mock::{DECLINE_CODES, MockScheme};
use iotp::payapi::*;
use iotp::store::MemoryStore;
use iotp::txn::harness::{self, DemoNodes, Network, PickInstrument, world};
use iotp::txn::{Engine, EngineConfig, OrgConfig, Timing};
use iotp::xml::{Limits, parse_tree};
use iotp_plugin_host::testing::compile_c_plugin;
use iotp_plugin_host::{
    ErrorStatus, HostServices, LoadedPlugin, PluginKind, PluginLibrary, SchemePlugin,
};

/// The C plugin's `ContentSoftwareID`.
const C_SOFTWARE_ID: &str = "iotp-rs C mock scheme 1.0";

/// The host's clock in these tests.
const NOW: i64 = 1_795_046_400_123;

/// `plugins/mock-c/mock.c`, compiled once for the test binary.
fn library_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mock-c/mock.c");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("iotp-mock-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let output = dir.join("libiotp_scheme_mock_c.so");
        compile_c_plugin(&source, &[], &output).unwrap_or_else(|e| panic!("{e}"));
        output
    })
}

/// The C plugin, started (each test starts it again: a library serves every start).
fn start() -> (LoadedPlugin, Arc<TestHost>) {
    let library = PluginLibrary::open(library_path()).unwrap();
    let outside = Arc::new(TestHost::new(CallBackReply::Continue));
    (library.start(outside.clone()).unwrap(), outside)
}

// ---------------------------------------------------------------------------------------------
// A host for both: the C plugin's services and the Rust mock's bridge host

/// In-memory key-value space, a fixed clock, deterministic random bytes (the same sequence
/// for both mocks, so that their challenges agree), a fixed CallBack answer; CallBacks and
/// log lines recorded.
struct TestHost {
    kv: Mutex<BTreeMap<String, Vec<u8>>>,
    random: Mutex<u64>,
    reply: CallBackReply,
    callbacks: Mutex<Vec<CallBack>>,
    logs: Mutex<Vec<String>>,
}

impl TestHost {
    fn new(reply: CallBackReply) -> Self {
        TestHost {
            kv: Mutex::default(),
            random: Mutex::new(0x1234_5678_9abc_def0),
            reply,
            callbacks: Mutex::default(),
            logs: Mutex::default(),
        }
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.kv.lock().unwrap().get(key).cloned()
    }

    fn put(&self, key: &str, value: &[u8]) {
        self.kv.lock().unwrap().insert(key.into(), value.to_vec());
    }

    fn insert(&self, key: &str, value: &[u8]) -> bool {
        let mut kv = self.kv.lock().unwrap();
        if kv.contains_key(key) {
            return false;
        }
        kv.insert(key.into(), value.to_vec());
        true
    }

    fn fill(&self, out: &mut [u8]) {
        let mut state = self.random.lock().unwrap();
        for b in out {
            *state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            *b = (*state >> 56) as u8;
        }
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl HostServices for TestHost {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        Ok(self.get(key))
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ErrorStatus> {
        self.put(key, value);
        Ok(())
    }
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ErrorStatus> {
        Ok(self.insert(key, value))
    }
    fn kv_delete(&self, key: &str) -> Result<(), ErrorStatus> {
        self.kv.lock().unwrap().remove(key);
        Ok(())
    }
    /// As the host's scheme adapter does: the request must hold a CallBack.
    fn callback(&self, document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        let Ok(ApiRequest::CallBack(call)) = decode_request(document, &Limits::default()) else {
            return Err(ErrorStatus::BadDocument);
        };
        self.callbacks.lock().unwrap().push(call);
        Ok(encode_response(&Ok(ApiResponse::CallBack(self.reply.clone()))).into_bytes())
    }
    fn log(&self, _level: iotp_plugin_host::LogLevel, message: &str) {
        self.logs.lock().unwrap().push(message.to_owned());
    }
    fn now_unix_millis(&self) -> i64 {
        NOW
    }
    fn random(&self, out: &mut [u8]) {
        self.fill(out);
    }
}

impl BridgeHost for TestHost {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self.get(key))
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        self.put(key, value);
        Ok(())
    }
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
        Ok(self.insert(key, value))
    }
    fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
        self.kv.lock().unwrap().remove(key);
        Ok(())
    }
    fn callback(&self, call: &CallBack) -> CallBackReply {
        self.callbacks.lock().unwrap().push(call.clone());
        self.reply.clone()
    }
    fn now_unix_millis(&self) -> i64 {
        NOW
    }
    fn random(&self, out: &mut [u8]) {
        self.fill(out);
    }
    fn log(&self, _level: LogLevel, message: &str) {
        self.logs.lock().unwrap().push(message.to_owned());
    }
}

// ---------------------------------------------------------------------------------------------
// The two mocks side by side

/// The C plugin and the Rust mock, each with its own host.
struct Pair {
    plugin: LoadedPlugin,
    c: TestHost,
    mock: MockScheme,
    rust: TestHost,
}

impl Pair {
    fn new(reply: CallBackReply) -> Self {
        Pair {
            plugin: start().0,
            c: TestHost::new(reply.clone()),
            mock: MockScheme::new(None),
            rust: TestHost::new(reply),
        }
    }

    /// The C plugin's answer to a document.
    fn c_document(&self, document: &[u8]) -> String {
        String::from_utf8(self.plugin.call(&self.c, document).unwrap()).unwrap()
    }

    /// The Rust mock's answer to a document, as a document plugin built on it answers.
    fn rust_document(&self, document: &[u8]) -> String {
        let answer = decode_request(document, &Limits::default())
            .and_then(|request| dispatch(&self.mock, &self.rust, &request));
        encode_response(&answer)
    }

    /// Both answers to a document: the same bytes.
    fn same(&self, document: &[u8]) -> String {
        let c = self.c_document(document);
        let rust = self.rust_document(document);
        assert_eq!(c, rust, "{}", String::from_utf8_lossy(document));
        c
    }

    /// One call through both mocks: the same answer document, read.
    fn call(&self, request: ApiRequest) -> ApiResult<ApiResponse> {
        let name = request.call_name();
        let answer = self.same(encode_request(&request).as_bytes());
        decode_response(answer.as_bytes(), name, &Limits::default())
    }
}

/// Unwraps the answer to a call of the expected kind.
macro_rules! answer {
    ($result:expr, $variant:ident) => {
        match $result {
            Ok(ApiResponse::$variant(r)) => r,
            other => panic!("{other:?}"),
        }
    };
}

fn amount(direction: PayDirection) -> AmountInfo {
    AmountInfo {
        pay_direction: direction,
        curr_code_type: CurrCodeType::Iso4217A,
        curr_code: "USD".into(),
        amount: "10.00".into(),
    }
}

fn named(name: &str, text: &str) -> PackagedContent {
    PackagedContent {
        name: Some(name.into()),
        ..PackagedContent::text(text)
    }
}

fn text_of<'a>(pcs: &'a [PackagedContent], name: &str) -> Option<&'a str> {
    pcs.iter()
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(PackagedContent::as_text)
}

fn status_of(pair: &Pair, pay_id: &str) -> ApiResult<ApiResponse> {
    pair.call(ApiRequest::InquireProcessState(InquireProcessState {
        pay_id: pay_id.into(),
        ..Default::default()
    }))
}

fn cont(pay_id: &str, pay_scheme: Vec<PackagedContent>) -> ApiRequest {
    ApiRequest::ContinueProcess(ContinueProcess {
        pay_id: pay_id.into(),
        pay_scheme,
        ..Default::default()
    })
}

/// What a payment ended with at the Payment Handler.
#[derive(Debug, PartialEq)]
enum Ended {
    /// The Payment Handler's answer was an error (a time-out).
    Error(ApiError),
    /// Its final state and completion code.
    Status(PaymentState, Option<CompletionCode>),
}

/// A whole payment through both mocks: the Consumer starts it, the Payment Handler
/// authorises it, exchange rounds until End, the final data back to the Consumer, then
/// both sides' states, the payment status, the receipt checked and expanded, and the log
/// removed. `answer` rewrites the Consumer's answers to challenges.
fn pay(
    pair: &Pair,
    instrument: &str,
    direction: PayDirection,
    answer: &dyn Fn(Vec<PackagedContent>) -> Vec<PackagedContent>,
) -> Ended {
    let step = answer!(
        pair.call(ApiRequest::StartPaymentConsumer(StartPaymentConsumer {
            brand_id: iotp::payapi::mock::BRAND_ID.into(),
            payment_instrument_id: Some(instrument.into()),
            amount: amount(direction.clone()),
            protocol_id: iotp::payapi::mock::PROTOCOL_ID.into(),
            ok_from: "2026-11-19T00:00:00Z".into(),
            ok_to: "2026-11-20T00:00:00Z".into(),
            consumer_pay_id: "C-1".into(),
            ..Default::default()
        })),
        StartPaymentConsumer
    );
    assert_eq!(step.cont_status, ContStatus::Continue);
    let request = StartPaymentPaymentHandler {
        brand_id: iotp::payapi::mock::BRAND_ID.into(),
        consumer_pay_id: Some("C-1".into()),
        amount: amount(direction),
        protocol_id: iotp::payapi::mock::PROTOCOL_ID.into(),
        payment_handler_pay_id: "P-1".into(),
        merchant_org_id: "shop.example".into(),
        pay_scheme: step.pay_scheme,
        ..Default::default()
    };
    let mut step = match pair.call(ApiRequest::StartPaymentPaymentHandler(request.clone())) {
        Ok(ApiResponse::StartPaymentPaymentHandler(step)) => step,
        Err(e) => return Ended::Error(e),
        other => panic!("{other:?}"),
    };
    // A retransmitted Payment Request is answered from the record, as it was the first time.
    let again = pair.call(ApiRequest::StartPaymentPaymentHandler(request));
    assert_eq!(answer!(again, StartPaymentPaymentHandler), step);
    while step.cont_status == ContStatus::Continue {
        let reply = answer!(pair.call(cont("C-1", step.pay_scheme)), ContinueProcess);
        assert_eq!(reply.cont_status, ContStatus::Continue);
        step = answer!(
            pair.call(cont("P-1", answer(reply.pay_scheme))),
            ContinueProcess
        );
    }
    let last = step.pay_scheme.clone();
    let done = answer!(pair.call(cont("C-1", step.pay_scheme)), ContinueProcess);
    assert_eq!(done, SchemeStep::end(Vec::new()));
    // No more scheme data after End, and an Inquiry or an Error Block's scheme data ends too.
    let again = answer!(pair.call(cont("P-1", Vec::new())), ContinueProcess);
    assert_eq!(again.cont_status, ContStatus::End);
    for (process_type, from_hard_error) in
        [(ProcessType::Inquiry, false), (ProcessType::Payment, true)]
    {
        let request = ApiRequest::ContinueProcess(ContinueProcess {
            pay_id: "C-1".into(),
            process_type,
            from_hard_error,
            ..Default::default()
        });
        assert_eq!(
            answer!(pair.call(request), ContinueProcess),
            SchemeStep::end(Vec::new())
        );
    }

    let consumer = answer!(status_of(pair, "C-1"), InquireProcessState);
    let handler = answer!(status_of(pair, "P-1"), InquireProcessState);
    assert_eq!(consumer.status.process_state, handler.status.process_state);
    assert_eq!(
        consumer.status.completion_code,
        handler.status.completion_code
    );
    let inquiry = answer!(
        pair.call(ApiRequest::InquirePaymentStatus(InquirePaymentStatus {
            payment_handler_pay_id: "P-1".into(),
            ..Default::default()
        })),
        InquirePaymentStatus
    );
    assert_eq!(inquiry.status, handler.status);

    // The receipt: the Payment Handler's final data, and its receipt content.
    let mut receipt = last;
    receipt.extend(handler.receipt.clone());
    let checked = pair.call(ApiRequest::CheckPaymentReceipt(CheckPaymentReceipt {
        pay_id: "C-1".into(),
        receipt: receipt.clone(),
        ..Default::default()
    }));
    let expanded = pair.call(ApiRequest::ExpandPaymentReceipt(ExpandPaymentReceipt {
        pay_id: "C-1".into(),
        receipt,
        ..Default::default()
    }));
    let paid = handler.status.process_state == PaymentState::Iotp(ProcessState::CompletedOk);
    assert_eq!(checked.is_ok(), paid, "{checked:?}");
    assert_eq!(expanded.is_ok(), paid, "{expanded:?}");
    if paid {
        assert_eq!(handler.pay_receipt_name_refs, ["MockAuth"]);
        let expanded = answer!(expanded, ExpandPaymentReceipt);
        assert_eq!(expanded.protocol_trans_id.as_deref(), Some("P-1"));
    } else {
        assert_eq!(checked.unwrap_err().code, ApiErrorCode::BusError);
    }

    // A final state does not change; then the logs go.
    let changed = answer!(
        pair.call(ApiRequest::ChangeProcessState(ChangeProcessState {
            pay_id: "P-1".into(),
            process_state: PaymentState::Iotp(ProcessState::Failed),
            completion_code: Some(CompletionCode::PaymtCancelled),
            process_type: ProcessType::Payment,
            wallet: WalletAccess::default(),
        })),
        ChangeProcessState
    );
    assert_eq!(changed, handler.status);
    for id in ["P-1", "C-1"] {
        let removed = pair.call(ApiRequest::RemovePaymentLog(RemovePaymentLog {
            pay_id: id.into(),
            ..Default::default()
        }));
        assert_eq!(removed, Ok(ApiResponse::RemovePaymentLog(())));
        let gone = status_of(pair, id).unwrap_err();
        assert_eq!(gone.attribute(), Some("PayId"));
    }
    assert!(pair.c.kv.lock().unwrap().is_empty());
    Ended::Status(handler.status.process_state, handler.status.completion_code)
}

fn unchanged(pcs: Vec<PackagedContent>) -> Vec<PackagedContent> {
    pcs
}

fn failed(code: CompletionCode) -> Ended {
    Ended::Status(PaymentState::Iotp(ProcessState::Failed), Some(code))
}

// ---------------------------------------------------------------------------------------------
// Payments

#[test]
fn approve_pays_both_ways_as_the_rust_mock_does() {
    for direction in [PayDirection::Debit, PayDirection::Credit] {
        let pair = Pair::new(CallBackReply::Continue);
        assert_eq!(
            pay(&pair, "approve", direction.clone(), &unchanged),
            Ended::Status(PaymentState::Iotp(ProcessState::CompletedOk), None)
        );
        // The CallBack while authorising, as the Rust mock sends it but for the software id.
        let c_calls = pair.c.callbacks.lock().unwrap().clone();
        let mut rust_calls = pair.rust.callbacks.lock().unwrap().clone();
        assert_eq!(c_calls.len(), 1, "a retransmission calls back no more");
        rust_calls[0].content_software_id = Some(C_SOFTWARE_ID.into());
        assert_eq!(c_calls, rust_calls);
        // Every host service was used: log and clock too.
        assert!(
            pair.c
                .logs()
                .contains(&format!("mock payment P-1: CompletedOk (at {NOW} ms)")),
            "{:?}",
            pair.c.logs()
        );
    }
}

#[test]
fn each_decline_code_fails_the_payment_with_it() {
    for code in DECLINE_CODES {
        let pair = Pair::new(CallBackReply::Continue);
        let instrument = format!("decline-{code}");
        assert_eq!(
            pay(&pair, &instrument, PayDirection::Debit, &unchanged),
            failed(code.clone()),
            "{instrument}"
        );
    }
    // The RFC's other spelling reads as the first; an instrument the mock does not know is a
    // bad instrument.
    let pair = Pair::new(CallBackReply::Continue);
    assert_eq!(
        pay(
            &pair,
            "decline-PaymCancelled",
            PayDirection::Debit,
            &unchanged
        ),
        failed(CompletionCode::PaymtCancelled)
    );
    let pair = Pair::new(CallBackReply::Continue);
    assert_eq!(
        pay(&pair, "gold-card", PayDirection::Debit, &unchanged),
        failed(CompletionCode::BadInstrument)
    );
}

#[test]
fn extra_round_asks_a_challenge_and_checks_the_answer() {
    let pair = Pair::new(CallBackReply::Continue);
    assert_eq!(
        pay(&pair, "extra-round", PayDirection::Debit, &unchanged),
        Ended::Status(PaymentState::Iotp(ProcessState::CompletedOk), None)
    );
    let wrong = |_: Vec<PackagedContent>| vec![named("MockChallengeResp", "answer=1")];
    let pair = Pair::new(CallBackReply::Continue);
    assert_eq!(
        pay(&pair, "extra-round", PayDirection::Debit, &wrong),
        failed(CompletionCode::AuthError)
    );
    // No answer at all is the peer's protocol error.
    let pair = Pair::new(CallBackReply::Continue);
    let nothing = |_: Vec<PackagedContent>| vec![named("Other", "x")];
    let step = answer!(
        pair.call(ApiRequest::StartPaymentConsumer(StartPaymentConsumer {
            payment_instrument_id: Some("extra-round".into()),
            amount: amount(PayDirection::Debit),
            consumer_pay_id: "C-1".into(),
            ..Default::default()
        })),
        StartPaymentConsumer
    );
    let challenge = answer!(
        pair.call(ApiRequest::StartPaymentPaymentHandler(
            StartPaymentPaymentHandler {
                amount: amount(PayDirection::Debit),
                payment_handler_pay_id: "P-1".into(),
                pay_scheme: step.pay_scheme,
                ..Default::default()
            }
        )),
        StartPaymentPaymentHandler
    );
    assert!(text_of(&challenge.pay_scheme, "MockChallenge").is_some());
    let e = pair.call(cont("P-1", nothing(Vec::new()))).unwrap_err();
    assert_eq!(
        e.code,
        ApiErrorCode::Iotp(iotp::msg::codes::ErrorCode::EncapProtErr)
    );
    // Mid-payment, the state is InProgress at 50%; a change request takes effect.
    let mid = answer!(status_of(&pair, "P-1"), InquireProcessState);
    assert_eq!(mid.status.percent_complete, Some(50));
    let suspended = answer!(
        pair.call(ApiRequest::ChangeProcessState(ChangeProcessState {
            pay_id: "P-1".into(),
            process_state: PaymentState::Suspended,
            completion_code: None,
            process_type: ProcessType::Payment,
            wallet: WalletAccess::default(),
        })),
        ChangeProcessState
    );
    assert_eq!(
        suspended.process_state,
        PaymentState::Iotp(ProcessState::InProgress)
    );
    let cancelled = answer!(
        pair.call(ApiRequest::ChangeProcessState(ChangeProcessState {
            pay_id: "C-1".into(),
            process_state: PaymentState::Iotp(ProcessState::Failed),
            completion_code: Some(CompletionCode::from_wire("PaymCancelled")),
            process_type: ProcessType::Payment,
            wallet: WalletAccess::default(),
        })),
        ChangeProcessState
    );
    assert_eq!(
        cancelled.completion_code,
        Some(CompletionCode::PaymtCancelled)
    );
}

#[test]
fn timeout_is_a_transient_error_every_time() {
    let pair = Pair::new(CallBackReply::Continue);
    let Ended::Error(e) = pay(&pair, "timeout", PayDirection::Debit, &unchanged) else {
        panic!("the timeout instrument answered");
    };
    assert_eq!(e.severity, iotp::Severity::TransientError);
    assert_eq!(e.min_retry_secs, Some(1));
    // Nothing was authorised, nobody was called back; a retry times out again.
    assert_eq!(pair.c.get("handler/P-1"), None);
    assert!(pair.c.callbacks.lock().unwrap().is_empty());
}

#[test]
fn a_cancel_answered_to_the_callback_declines_the_payment() {
    let reply = CallBackReply::Cancel(CompletionCode::ConsCancelled);
    let pair = Pair::new(reply);
    assert_eq!(
        pay(&pair, "approve", PayDirection::Debit, &unchanged),
        failed(CompletionCode::ConsCancelled)
    );
    // A shutdown request is no cancel.
    let pair = Pair::new(CallBackReply::Shutdown);
    assert_eq!(
        pay(&pair, "approve", PayDirection::Debit, &unchanged),
        Ended::Status(PaymentState::Iotp(ProcessState::CompletedOk), None)
    );
}

#[test]
fn a_payment_handler_record_is_never_authorised_twice() {
    let pair = Pair::new(CallBackReply::Continue);
    // A payment someone else started (the insert-if-absent key taken) is being processed.
    pair.c.put("handler/P-1", b"not a record");
    pair.rust.put("handler/P-1", b"not a record");
    let step = answer!(
        pair.call(ApiRequest::StartPaymentConsumer(StartPaymentConsumer {
            payment_instrument_id: Some("approve".into()),
            amount: amount(PayDirection::Debit),
            consumer_pay_id: "C-1".into(),
            ..Default::default()
        })),
        StartPaymentConsumer
    );
    let e = pair
        .call(ApiRequest::StartPaymentPaymentHandler(
            StartPaymentPaymentHandler {
                amount: amount(PayDirection::Debit),
                payment_handler_pay_id: "P-1".into(),
                pay_scheme: step.pay_scheme,
                ..Default::default()
            },
        ))
        .unwrap_err();
    assert_eq!(
        e.code,
        ApiErrorCode::Iotp(iotp::msg::codes::ErrorCode::MsgBeingProc)
    );
    assert_eq!(pair.c.get("handler/P-1").unwrap(), b"not a record");
    // A damaged record is reported as such.
    let e = status_of(&pair, "P-1").unwrap_err();
    assert_eq!(e.desc, "the mock's payment record is damaged");
    // The records are the Rust mock's, byte for byte: each mock reads the other's.
    for instrument in ["approve", "extra-round", "decline-AuthError"] {
        let pair = Pair::new(CallBackReply::Continue);
        let step = answer!(
            pair.call(ApiRequest::StartPaymentConsumer(StartPaymentConsumer {
                payment_instrument_id: Some(instrument.into()),
                amount: amount(PayDirection::Credit),
                consumer_pay_id: "C-1".into(),
                ..Default::default()
            })),
            StartPaymentConsumer
        );
        let _ = pair.call(ApiRequest::StartPaymentPaymentHandler(
            StartPaymentPaymentHandler {
                amount: amount(PayDirection::Credit),
                payment_handler_pay_id: "P-1".into(),
                pay_scheme: step.pay_scheme,
                ..Default::default()
            },
        ));
        let records = pair.c.kv.lock().unwrap().clone();
        assert_eq!(records.len(), 2);
        assert_eq!(records, *pair.rust.kv.lock().unwrap());
    }
}

#[test]
fn the_payment_handler_checks_the_scheme_data_against_the_request() {
    let pair = Pair::new(CallBackReply::Continue);
    for pay_scheme in [
        vec![],
        vec![named("MockPayment", "amount=10.00;currency=USD")],
        vec![named(
            "MockPayment",
            "instrument=approve;amount=99.00;currency=USD",
        )],
        vec![PackagedContent {
            name: Some("MockPayment".into()),
            content: ContentType::Mime,
            transform: Transform::Base64,
            data: b"instrument=approve;amount=10.00;currency=USD".to_vec(),
        }],
        vec![PackagedContent {
            name: Some("MockPayment".into()),
            content: ContentType::Pcdata,
            transform: Transform::Base64,
            data: b"\xff\xfe".to_vec(),
        }],
    ] {
        let _ = pair.call(ApiRequest::StartPaymentPaymentHandler(
            StartPaymentPaymentHandler {
                amount: amount(PayDirection::Debit),
                payment_handler_pay_id: "P-1".into(),
                pay_scheme,
                ..Default::default()
            },
        ));
        pair.c.kv.lock().unwrap().clear();
        pair.rust.kv.lock().unwrap().clear();
    }
}

// ---------------------------------------------------------------------------------------------
// The Merchant's and the Consumer's other calls, authentication

#[test]
fn merchant_and_consumer_calls_answer_as_the_rust_mock_does() {
    let pair = Pair::new(CallBackReply::Continue);
    for curr_code in ["USD", "usd", "EURO", ""] {
        let brands = answer!(
            pair.call(ApiRequest::FindAcceptedPaymentBrand(
                FindAcceptedPaymentBrand {
                    amount: AmountInfo {
                        curr_code: curr_code.into(),
                        ..amount(PayDirection::Debit)
                    },
                    merchant_pay_id: "M-1".into(),
                    ..Default::default()
                }
            )),
            FindAcceptedPaymentBrand
        );
        assert_eq!(brands.brands.len(), usize::from(curr_code == "USD"));
    }
    let protocols = answer!(
        pair.call(ApiRequest::FindAcceptedPaymentProtocol(
            FindAcceptedPaymentProtocol {
                brand_id: Some(iotp::payapi::mock::BRAND_ID.into()),
                amount: AmountInfo {
                    curr_code_type: CurrCodeType::Iotp,
                    ..amount(PayDirection::Credit)
                },
                merchant_pay_id: "M-1".into(),
                ..Default::default()
            }
        )),
        FindAcceptedPaymentProtocol
    );
    assert_eq!(protocols.protocols[0].protocol_id, "x-iotp-mock");
    // The Order content goes back as it came, whatever it holds.
    let order = vec![
        named("Order", "two <books> & \"more\"\r\n\ttabs ]]>"),
        PackagedContent {
            name: Some("Binary".into()),
            content: ContentType::MimeType("application/octet-stream".into()),
            transform: Transform::Base64,
            data: (0..=255).collect(),
        },
        PackagedContent::text(""),
        PackagedContent {
            content: ContentType::Xml,
            ..PackagedContent::text("<a/>")
        },
    ];
    let init = answer!(
        pair.call(ApiRequest::GetPaymentInitializationData(
            GetPaymentInitializationData {
                brand_id: "x-mockcard".into(),
                merchant_pay_id: "M-1".into(),
                amount: amount(PayDirection::Debit),
                protocol_id: "x-iotp-mock".into(),
                offer: OfferContent {
                    order: order.clone(),
                    ..Default::default()
                },
                ..Default::default()
            }
        )),
        GetPaymentInitializationData
    );
    assert_eq!(init.order, order);
    let instruments = answer!(
        pair.call(ApiRequest::FindPaymentInstrument(FindPaymentInstrument {
            amount: amount(PayDirection::Debit),
            ..Default::default()
        })),
        FindPaymentInstrument
    );
    assert_eq!(instruments.instruments, MockScheme::instruments());
    for id in [
        None,
        Some("approve"),
        Some("decline-InsuffFunds"),
        Some("platinum"),
    ] {
        let _ = pair.call(ApiRequest::CheckPaymentPossibility(
            CheckPaymentPossibility {
                payment_instrument_id: id.map(str::to_owned),
                amount: amount(PayDirection::Debit),
                ..Default::default()
            },
        ));
    }
    let inquiry = answer!(
        pair.call(ApiRequest::StartPaymentInquiry(StartPaymentInquiry {
            consumer_pay_id: "C-&<1>".into(),
            ..Default::default()
        })),
        StartPaymentInquiry
    );
    assert_eq!(
        text_of(&inquiry.pay_scheme, "MockInquiry"),
        Some("consumer-pay-id=C-&<1>")
    );
    // Unknown payments.
    for request in [
        cont("nobody", Vec::new()),
        ApiRequest::InquirePaymentStatus(InquirePaymentStatus {
            payment_handler_pay_id: "nobody".into(),
            ..Default::default()
        }),
        ApiRequest::RemovePaymentLog(RemovePaymentLog {
            pay_id: "nobody".into(),
            ..Default::default()
        }),
    ] {
        assert!(pair.call(request).is_err());
    }
}

#[test]
fn authentication_challenges_and_checks() {
    let pair = Pair::new(CallBackReply::Continue);
    let algorithm = Algorithm {
        id: "A1".into(),
        name: "x-iotp-mock-challenge".into(),
        ..Algorithm::default()
    };
    let challenge = answer!(
        pair.call(ApiRequest::InquireAuthChallenge(InquireAuthChallenge {
            authentication_id: "AU-1".into(),
            algorithms: vec![algorithm.clone()],
            ..Default::default()
        })),
        InquireAuthChallenge
    );
    assert_eq!(challenge.algorithm.id, "A1");
    let none = answer!(
        pair.call(ApiRequest::InquireAuthChallenge(InquireAuthChallenge {
            authentication_id: "AU-2".into(),
            ..Default::default()
        })),
        InquireAuthChallenge
    );
    assert_eq!(none.algorithm.id, "");
    let answered = answer!(
        pair.call(ApiRequest::Authenticate(Authenticate {
            authentication_id: "AU-1".into(),
            algorithm: algorithm.clone(),
            auth_req: challenge.auth_req.clone(),
            ..Default::default()
        })),
        Authenticate
    );
    let check = |auth_res: Vec<PackagedContent>| {
        answer!(
            pair.call(ApiRequest::CheckAuthResponse(CheckAuthResponse {
                authentication_id: "AU-1".into(),
                algorithm: algorithm.clone(),
                auth_req: challenge.auth_req.clone(),
                auth_res,
                ..Default::default()
            })),
            CheckAuthResponse
        )
    };
    assert_eq!(
        check(answered.auth_res).process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );
    let wrong = check(vec![named("MockAuthAnswer", "answer=0")]);
    assert_eq!(wrong.completion_code, Some(CompletionCode::AuthFailed));
    let e = pair
        .call(ApiRequest::Authenticate(Authenticate {
            authentication_id: "AU-1".into(),
            algorithm,
            auth_req: vec![named("MockAuthChallenge", "challenge=soon")],
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(e.locations[0].element_type, "PaySchemeData");
    // The answer to challenge N is N+1, `+N` read as Rust reads it.
    let plus = pair.same(
        br#"<IotpPaymentApiRequest><Authenticate AuthenticationId="A"><Algorithm ID="a" name="n"/><AuthReqPackagedContent Name="MockAuthChallenge">challenge=+41</AuthReqPackagedContent></Authenticate></IotpPaymentApiRequest>"#,
    );
    assert!(plus.contains(">answer=42<"), "{plus}");
}

// ---------------------------------------------------------------------------------------------
// Calls it does not implement, documents it cannot read

#[test]
fn unimplemented_calls_answer_req_not_supp() {
    let pair = Pair::new(CallBackReply::Continue);
    let claims = PluginClaims::from_xml(
        pair.plugin.descriptor().claims.as_ref().unwrap().as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let unclaimed: Vec<ApiRequest> = vec![
        ApiRequest::ResumePaymentConsumer(ResumePaymentConsumer::default()),
        ApiRequest::PaymentInstrumentInquiry(PaymentInstrumentInquiry::default()),
        ApiRequest::ResumePaymentPaymentHandler(ResumePaymentPaymentHandler::default()),
        ApiRequest::InquirePendingPayment(InquirePendingPayment::default()),
        ApiRequest::ManagePaymentSoftware(ManagePaymentSoftware::default()),
        ApiRequest::CallBack(CallBack {
            content_software_id: None,
            pay_id: "P-1".into(),
            process_state: None,
            percent_complete: None,
            completion_code: None,
            status_desc: None,
        }),
    ];
    assert_eq!(
        unclaimed.len() + claims.calls.len(),
        iotp::payapi::BRIDGE_CALLS.len() + 1
    );
    for request in unclaimed {
        assert!(!claims.claims_call(request.call_name()));
        let e = pair.call(request).unwrap_err();
        assert_eq!(e.code, ApiErrorCode::ReqNotSupp);
    }
    let e = pair.same(b"<IotpPaymentApiRequest><Frobnicate Level=\"11\"/></IotpPaymentApiRequest>");
    assert!(e.contains("ErrorCode=\"ReqNotSupp\""), "{e}");
}

/// Documents that are not well-formed, not requests, or not valid ones.
#[test]
fn broken_documents_get_the_error_the_rust_reader_gives() {
    let pair = Pair::new(CallBackReply::Continue);
    let wrap = |call: &str| format!("<IotpPaymentApiRequest>{call}</IotpPaymentApiRequest>");
    // Answered the same, byte for byte: the reader's checks, and well-formed oddities.
    for document in [
        "<IotpPaymentApiResponse/>".to_owned(),
        "<IotpPaymentApiRequest xmlns=\"urn:other\"><InquireProcessState PayId=\"P\"/></IotpPaymentApiRequest>".to_owned(),
        wrap(""),
        wrap("<InquireProcessState PayId=\"P\"/><InquireProcessState PayId=\"Q\"/>"),
        wrap("<InquireProcessState Payid=\"P\"/>"),
        wrap("<StartPaymentPaymentHandler BrandId=\"B\"/>"),
        wrap("<StartPaymentPaymentHandler BrandId=\"B\" PayDirection=\"Sideways\"/>"),
        wrap("<ContinueProcess PayId=\"P\" ProcessType=\"Sideways\"/>"),
        wrap("<ContinueProcess PayId=\"P\" ErrorSeverity=\"Fatal\"/>"),
        wrap("<ChangeProcessState PayId=\"P\"/>"),
        wrap("<ChangeProcessState PayId=\"P\" ProcessState=\"Paused\"/>"),
        wrap("<Authenticate AuthenticationId=\"A\"/>"),
        wrap("<Authenticate AuthenticationId=\"A\"><Algorithm ID=\"a\"/></Authenticate>"),
        wrap("<Authenticate AuthenticationId=\"A\"><Algorithm ID=\"a\" name=\"n\" type=\"guess\"/></Authenticate>"),
        wrap("<InquireAuthChallenge AuthenticationId=\"A\"><Algorithm ID=\"a\" name=\"n\"><Parameter/></Algorithm></InquireAuthChallenge>"),
        wrap("<CheckPaymentReceipt PayId=\"P\"><PackagedContent>a<b/></PackagedContent></CheckPaymentReceipt>"),
        wrap("<CheckPaymentReceipt PayId=\"P\"><PackagedContent Transform=\"ROT13\">x</PackagedContent></CheckPaymentReceipt>"),
        wrap(&format!("<CheckPaymentReceipt PayId=\"P\"><PackagedContent Transform=\"{}\">x</PackagedContent></CheckPaymentReceipt>", "é".repeat(100))),
        wrap("<StartPaymentPaymentHandler BrandId=\"B\" PayDirection=\"Debit\" CurrCode=\"USD\" Amount=\"1\" ProtocolId=\"p\" OkFrom=\"a\" OkTo=\"b\" PaymentHandlerPayId=\"P\" MerchantOrgId=\"m\"><ProtocolBrand/></StartPaymentPaymentHandler>"),
        // Well-formed oddities: comments, CDATA, references, quotes, the RFC's misspellings.
        "\u{feff}<?xml version='1.0'?><!DOCTYPE IotpPaymentApiRequest><!-- a comment --><IotpPaymentApiRequest xmlns='http://www.iotp.org/2000/08/PaymentAPI'><CheckPaymentPossiblity BrandId='B' PayDirection = 'Debit' CurrCode='USD' Amount='1' ProtocolId='p' ConsumerPayId='C' PaymentInstrumentId='decline-&#x49;nsuffFunds' WalletId='W'/></IotpPaymentApiRequest> <?pi?>".to_owned(),
        wrap("<StartPaymentInquiry ConsumerPayId=\"a&#9;b&#10;c&#13;d\te&lt;&gt;&amp;&apos;&quot;\r\nf\"/>"),
        wrap("<CheckPaymentReceipt PayId=\"P\"><PackagedContent Name=\"MockAuth\"><!-- c --><![CDATA[approved;<x>]]>&#13;\r\n<?pi?>tail</PackagedContent></CheckPaymentReceipt>"),
        wrap("<ExpandPaymentReceipt PayId=\"P\"><PackagedContent Name=\"MockAuth\" Transform=\"BASE64\">\n YXBwcm92ZWQ7cmVmPVgt\n MQ==\n</PackagedContent></ExpandPaymentReceipt>"),
    ] {
        pair.same(document.as_bytes());
    }
    // Not base64: the same error, but for the base64 decoder's own words.
    let document = wrap(
        "<CheckPaymentReceipt PayId=\"P\"><PackagedContent Transform=\"BASE64\">YQ=</PackagedContent></CheckPaymentReceipt>",
    );
    for bad in ["YQ=", "YR==", "Y===", "!!!!", "YQ==YQ=="] {
        let document = document.replace("YQ=", bad);
        let c = c_error(&pair, document.as_bytes());
        let rust = decode_request(document.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!((c.code, c.locations), (rust.code, rust.locations), "{bad}");
    }

    // Not well-formed, not UTF-8, too deep, too large: SyntaxError (MsgTooLarge), as Rust says.
    let deep = wrap(&format!(
        "<InquireProcessState PayId=\"P\">{}{}</InquireProcessState>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    ));
    let large = wrap(&format!(
        "<CheckPaymentReceipt PayId=\"P\"><PackagedContent>{}</PackagedContent></CheckPaymentReceipt>",
        "x".repeat(4 * 1024 * 1024)
    ));
    let many = wrap(&format!(
        "<InquireProcessState PayId=\"P\" {}/>",
        (0..65)
            .map(|i| format!("a{i}=\"\""))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    for document in [
        &b""[..],
        b"garbage",
        b"<",
        b"<IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest></IotpPaymentApiResponse>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='P'/></IotpPaymentApiRequest>trailing",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='<'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='P' PayId='Q'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='&bogus;'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='&#0;'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='&#x110000;'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='&#65'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId=P/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='\xff'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='\x00'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><InquireProcessState PayId='\xef\xbf\xbf'/></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><!-- a -- b --></IotpPaymentApiRequest>",
        b"<IotpPaymentApiRequest><![CDATA[x</IotpPaymentApiRequest>",
        b"<!DOCTYPE x [<!ENTITY e 'v'>]><IotpPaymentApiRequest/>",
        b"<IotpPaymentApiRequest/><!DOCTYPE x>",
        b"<?xml version='1.0'?><?xml version='1.0'?><IotpPaymentApiRequest/>",
        b"<1IotpPaymentApiRequest/>",
        deep.as_bytes(),
        many.as_bytes(),
        large.as_bytes(),
    ] {
        let c = c_error(&pair, document);
        let rust = decode_request(document, &Limits::default()).unwrap_err();
        assert_eq!(c.code, rust.code, "{}", String::from_utf8_lossy(document));
        assert!(
            matches!(
                c.code,
                ApiErrorCode::SyntaxError
                    | ApiErrorCode::Iotp(iotp::msg::codes::ErrorCode::MsgTooLarge)
            ),
            "{c:?}"
        );
    }
}

/// The C plugin's answer to a document it must refuse: an ErrorResponse.
fn c_error(pair: &Pair, document: &[u8]) -> ApiError {
    let answer = pair.c_document(document);
    let root = parse_tree(answer.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(root.name, "IotpPaymentApiResponse");
    decode_response(answer.as_bytes(), "InquireProcessState", &Limits::default()).unwrap_err()
}

/// Real requests cut short and with bytes replaced: the plugin always answers with a response
/// document, and says SyntaxError wherever the Rust reader does.
#[test]
fn truncated_and_mangled_documents_are_answered_never_crash() {
    let pair = Pair::new(CallBackReply::Continue);
    let request = encode_request(&ApiRequest::StartPaymentPaymentHandler(
        StartPaymentPaymentHandler {
            brand_id: "x-mockcard".into(),
            amount: amount(PayDirection::Debit),
            protocol_id: "x-iotp-mock".into(),
            payment_handler_pay_id: "P-&<1>".into(),
            merchant_org_id: "shop.example".into(),
            offer: OfferContent {
                protocol_brand: Some(ProtocolBrandInfo {
                    protocol_brand_id: "pb".into(),
                    content: vec![named("PB", "x")],
                }),
                order: vec![PackagedContent {
                    transform: Transform::Base64,
                    ..named("Order", "binary \u{0} order")
                }],
                ..Default::default()
            },
            pay_scheme: vec![named(
                "MockPayment",
                "instrument=decline-InsuffFunds;amount=10.00;currency=USD",
            )],
            ..Default::default()
        },
    ));
    let bytes = request.as_bytes();
    let check = |document: &[u8]| {
        let answer = pair.c_document(document);
        let root = parse_tree(answer.as_bytes(), &Limits::default())
            .unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!(root.name, "IotpPaymentApiResponse");
        let rust = decode_request(document, &Limits::default());
        if let Err(e) = &rust
            && e.code == ApiErrorCode::SyntaxError
        {
            assert!(
                answer.contains("ErrorCode=\"SyntaxError\""),
                "{}\n{answer}",
                String::from_utf8_lossy(document)
            );
        }
        pair.c.kv.lock().unwrap().clear();
    };
    for cut in 0..bytes.len() {
        check(&bytes[..cut]);
    }
    let mut mangled = bytes.to_vec();
    for i in 0..mangled.len() {
        let old = mangled[i];
        for b in [b'<', b'>', b'"', b'&', b'/', b'=', b' ', 0, 0xc3, 0xff] {
            mangled[i] = b;
            check(&mangled);
        }
        mangled[i] = old;
    }
}

// ---------------------------------------------------------------------------------------------
// The plugin as such

#[test]
fn it_claims_what_the_rust_mock_claims_under_its_own_name() {
    let (plugin, outside) = start();
    let descriptor = plugin.descriptor();
    assert_eq!(descriptor.kind, PluginKind::PaymentScheme);
    assert_eq!(descriptor.name, "mock-c");
    let claims = PluginClaims::from_xml(
        descriptor.claims.as_ref().unwrap().as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        claims,
        PluginClaims {
            software_id: C_SOFTWARE_ID.into(),
            ..MockScheme::claims()
        }
    );
    // The same document, but for the name.
    assert_eq!(
        descriptor.claims.as_deref().unwrap(),
        MockScheme::claims()
            .to_xml()
            .replace("iotp-rs mock scheme 1.0", C_SOFTWARE_ID)
    );
    // Its entry point logged through the host context; its calls may run on several threads.
    assert_eq!(
        outside.logs(),
        [format!("mock-c: started ({C_SOFTWARE_ID})")]
    );
    assert!(plugin.is_thread_safe());
}

/// Payments on several threads at once, each with its own host (its own key-value space).
#[test]
fn payments_run_on_several_threads_at_once() {
    let (plugin, _) = start();
    std::thread::scope(|s| {
        for thread in 0..4 {
            let plugin = &plugin;
            s.spawn(move || {
                for round in 0..25 {
                    let host = TestHost::new(CallBackReply::Continue);
                    let instrument = ["approve", "extra-round", "decline-InstNotValid"][round % 3];
                    let step = call(
                        plugin,
                        &host,
                        ApiRequest::StartPaymentConsumer(StartPaymentConsumer {
                            payment_instrument_id: Some(instrument.into()),
                            amount: amount(PayDirection::Debit),
                            consumer_pay_id: format!("C-{thread}-{round}"),
                            ..Default::default()
                        }),
                    );
                    let ApiResponse::StartPaymentConsumer(step) = step else {
                        panic!("{step:?}");
                    };
                    let answer = call(
                        plugin,
                        &host,
                        ApiRequest::StartPaymentPaymentHandler(StartPaymentPaymentHandler {
                            amount: amount(PayDirection::Debit),
                            payment_handler_pay_id: format!("P-{thread}-{round}"),
                            pay_scheme: step.pay_scheme,
                            ..Default::default()
                        }),
                    );
                    assert!(matches!(answer, ApiResponse::StartPaymentPaymentHandler(_)));
                    assert_eq!(host.kv.lock().unwrap().len(), 2);
                }
            });
        }
    });
}

fn call(plugin: &LoadedPlugin, host: &TestHost, request: ApiRequest) -> ApiResponse {
    let name = request.call_name();
    let answer = plugin
        .call(host, encode_request(&request).as_bytes())
        .unwrap();
    decode_response(&answer, name, &Limits::default()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The engine with the C plugin as every node's payment bridge

/// The demo network of `txn::harness::demo_network`, every node's payment bridge the C plugin
/// (started once per node) instead of an in-process `MockScheme`.
fn c_network(instrument: &str) -> (Network, DemoNodes) {
    let mut net = Network::new();
    let mk = |org: OrgConfig, partners: Vec<OrgConfig>| {
        let mut cfg = EngineConfig::new(org);
        cfg.partners = partners;
        cfg.timing = Timing::default();
        cfg.success_net_locn = Some("https://shop.example/thanks".into());
        let plugin = SchemePlugin::load(library_path()).unwrap_or_else(|e| panic!("{e}"));
        Engine::new(cfg, Arc::new(MemoryStore::new())).with_bridge(Arc::new(plugin))
    };
    let consumer = mk(world::consumer(), vec![])
        .with_consumer_app(Arc::new(PickInstrument(instrument.into())));
    let nodes = DemoNodes {
        consumer: net.add("consumer", &[], consumer),
        merchant: net.add(
            "merchant",
            &["https://shop.example/"],
            mk(world::shop(), vec![world::bank(), world::carrier()]),
        ),
        payment_handler: net.add(
            "paymenthandler",
            &["https://pay.example/"],
            mk(world::bank(), vec![]),
        ),
        delivery_handler: net.add(
            "deliveryhandler",
            &["https://ship.example/"],
            mk(world::carrier(), vec![]),
        ),
        allinone: net.add(
            "allinone",
            &["https://allinone.example/"],
            mk(world::allinone(), vec![]),
        ),
    };
    (net, nodes)
}

/// Every demo scenario completes, with as many messages as with the in-process mock.
#[test]
fn every_demo_scenario_completes_with_the_c_plugin_as_every_bridge() {
    for scenario in harness::scenarios() {
        let (mut net, nodes) = c_network(scenario.instrument);
        let with_c = harness::run_scenario_on(&mut net, nodes, &scenario, 1).unwrap();
        assert_eq!(
            with_c.outcome,
            ProcessState::CompletedOk,
            "{} {}: {:?}",
            scenario.transaction,
            scenario.variant,
            with_c.completion_code
        );
        let in_process = harness::run_scenario(&scenario).unwrap();
        assert_eq!(
            with_c.messages, in_process.messages,
            "{} {}",
            scenario.transaction, scenario.variant
        );
    }
}

#[test]
fn each_decline_fails_the_purchase_through_the_engine() {
    let purchase = harness::scenarios().remove(0);
    for code in DECLINE_CODES {
        let instrument = format!("decline-{code}");
        let (mut net, nodes) = c_network(&instrument);
        let result = harness::run_scenario_on(&mut net, nodes, &purchase, 1).unwrap();
        assert_eq!(result.outcome, ProcessState::Failed, "{instrument}");
        assert_eq!(result.completion_code.as_ref(), Some(code), "{instrument}");
    }
}
