//! The kit on the mock scheme (it must pass) and on deliberately broken bridges (each must fail
//! the scenario that checks what is broken, with a message that says what).

use std::collections::HashMap;
use std::sync::Mutex;

use iotp::msg::model::PackagedContent;
use iotp::payapi::*;

use super::kit::lock;
use super::*;

fn verdict<'r>(report: &'r Report, id: &str) -> &'r ScenarioResult {
    report
        .scenario(id)
        .unwrap_or_else(|| panic!("no scenario {id} in\n{}", report.to_text()))
}

/// Asserts that scenario `id` failed with a message containing `needle`.
fn fails(report: &Report, id: &str, needle: &str) {
    let s = verdict(report, id);
    assert_eq!(
        s.verdict,
        Verdict::Fail,
        "{id} should fail:\n{}",
        report.to_text()
    );
    assert!(
        s.message.contains(needle),
        "{id}: the message does not say \"{needle}\": {}",
        s.message
    );
}

fn passes(report: &Report, id: &str) {
    let s = verdict(report, id);
    assert_eq!(s.verdict, Verdict::Pass, "{id}: {}", s.message);
}

#[test]
fn the_mock_scheme_passes_every_scenario() {
    let report = run(&Subject::mock(), &Options::default());
    for s in &report.scenarios {
        assert_eq!(s.verdict, Verdict::Pass, "{}: {}", s.id, s.message);
    }
    assert!(report.passed());
    // One scenario per claimed decline code, each direction, and the rest.
    assert_eq!(
        report
            .scenarios
            .iter()
            .filter(|s| s.id.starts_with("decline-"))
            .count(),
        mock::DECLINE_CODES.len()
    );
    assert!(report.scenario("approve-credit").is_some());
}

// ---------------------------------------------------------------------------------------------
// Broken bridges: the mock with one fault each

/// What is wrong with a [`Broken`] mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// ExpandPaymentReceipt answers ReqNotSupp (while claimed).
    RefusesExpand,
    /// A `decline-InsuffFunds` payment declines with Unspecified.
    WrongDeclineCode,
    /// The Consumer's bridge answers Continue, with scheme data, after the Payment Response.
    DataAfterEnd,
    /// Keeps its payments in memory, not in the host's key-value store: a reload forgets them.
    Forgetful,
    /// Panics on scheme data it cannot read.
    PanicsOnGarbage,
    /// Its final scheme data repeats the name of a receipt part: the Payment Response is not
    /// valid (§7.10).
    DuplicateName,
}

/// The mock scheme with a fault.
struct Broken {
    inner: MockScheme,
    fault: Fault,
    memory: MemHost,
}

impl Broken {
    fn subject(fault: Fault) -> Subject {
        Subject::new(
            format!("mock with {fault:?}"),
            MockScheme::claims(),
            move || {
                Ok(Arc::new(Broken {
                    inner: MockScheme::new(None),
                    fault,
                    memory: MemHost::default(),
                }) as Arc<dyn PaymentBridge>)
            },
        )
    }

    fn host<'a>(&'a self, host: &'a dyn BridgeHost) -> &'a dyn BridgeHost {
        if self.fault == Fault::Forgetful {
            &self.memory
        } else {
            host
        }
    }
}

/// A host whose key-value space is the bridge's own memory.
#[derive(Default)]
struct MemHost {
    kv: Mutex<HashMap<String, Vec<u8>>>,
}

impl BridgeHost for MemHost {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(lock(&self.kv).get(key).cloned())
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        lock(&self.kv).insert(key.into(), value.into());
        Ok(())
    }
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
        let mut kv = lock(&self.kv);
        if kv.contains_key(key) {
            return Ok(false);
        }
        kv.insert(key.into(), value.into());
        Ok(true)
    }
    fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
        lock(&self.kv).remove(key);
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

macro_rules! delegate {
    ($($method:ident($req:ty) -> $resp:ty;)+) => {
        $(fn $method(&self, host: &dyn BridgeHost, request: &$req) -> ApiResult<$resp> {
            self.inner.$method(self.host(host), request)
        })+
    };
}

impl PaymentBridge for Broken {
    fn info(&self) -> BridgeInfo {
        self.inner.info()
    }

    delegate! {
        find_accepted_payment_brand(FindAcceptedPaymentBrand) -> FindAcceptedPaymentBrandResponse;
        find_accepted_payment_protocol(FindAcceptedPaymentProtocol)
            -> FindAcceptedPaymentProtocolResponse;
        get_payment_initialization_data(GetPaymentInitializationData)
            -> GetPaymentInitializationDataResponse;
        inquire_auth_challenge(InquireAuthChallenge) -> InquireAuthChallengeResponse;
        authenticate(Authenticate) -> AuthenticateResponse;
        check_auth_response(CheckAuthResponse) -> StatusInfo;
        find_payment_instrument(FindPaymentInstrument) -> FindPaymentInstrumentResponse;
        check_payment_possibility(CheckPaymentPossibility) -> CheckPaymentPossibilityResponse;
        start_payment_consumer(StartPaymentConsumer) -> SchemeStep;
        resume_payment_consumer(ResumePaymentConsumer) -> SchemeStep;
        start_payment_inquiry(StartPaymentInquiry) -> StartPaymentInquiryResponse;
        payment_instrument_inquiry(PaymentInstrumentInquiry) -> PaymentInstrumentInquiryResponse;
        resume_payment_payment_handler(ResumePaymentPaymentHandler) -> SchemeStep;
        inquire_payment_status(InquirePaymentStatus) -> InquirePaymentStatusResponse;
        change_process_state(ChangeProcessState) -> StatusInfo;
        inquire_process_state(InquireProcessState) -> InquireProcessStateResponse;
        check_payment_receipt(CheckPaymentReceipt) -> ();
        remove_payment_log(RemovePaymentLog) -> ();
        inquire_pending_payment(InquirePendingPayment) -> InquirePendingPaymentResponse;
        manage_payment_software(ManagePaymentSoftware) -> ManagePaymentSoftwareResponse;
    }

    fn start_payment_payment_handler(
        &self,
        host: &dyn BridgeHost,
        request: &StartPaymentPaymentHandler,
    ) -> ApiResult<SchemeStep> {
        let mut request = request.clone();
        let payment = request
            .pay_scheme
            .iter()
            .find(|p| p.name.as_deref() == Some("MockPayment"))
            .and_then(PackagedContent::as_text)
            .map(str::to_owned);
        match self.fault {
            Fault::WrongDeclineCode => {
                for p in &mut request.pay_scheme {
                    if let Some(t) = p.as_text() {
                        let t = t.replace("decline-InsuffFunds", "decline-Unspecified");
                        p.data = t.into_bytes();
                    }
                }
            }
            Fault::PanicsOnGarbage => {
                assert!(
                    payment.is_some_and(|t| t.starts_with("instrument=")),
                    "the broken mock cannot read this scheme data"
                );
            }
            _ => {}
        }
        let mut step = self
            .inner
            .start_payment_payment_handler(self.host(host), &request)?;
        if self.fault == Fault::DuplicateName && step.cont_status == ContStatus::End {
            step.pay_scheme.push(PackagedContent {
                name: Some("MockReceipt".into()),
                ..PackagedContent::text("a second part of this name")
            });
        }
        Ok(step)
    }

    fn continue_process(
        &self,
        host: &dyn BridgeHost,
        request: &ContinueProcess,
    ) -> ApiResult<SchemeStep> {
        let host = self.host(host);
        let consumer = host
            .kv_get(&format!("consumer/{}", request.pay_id))?
            .is_some();
        let step = self.inner.continue_process(host, request)?;
        if self.fault == Fault::DataAfterEnd && consumer && step.cont_status == ContStatus::End {
            return Ok(SchemeStep::more(vec![PackagedContent::text(
                "one more thing",
            )]));
        }
        Ok(step)
    }

    fn expand_payment_receipt(
        &self,
        host: &dyn BridgeHost,
        request: &ExpandPaymentReceipt,
    ) -> ApiResult<ExpandPaymentReceiptResponse> {
        if self.fault == Fault::RefusesExpand {
            return Err(ApiError::not_supported("ExpandPaymentReceipt"));
        }
        self.inner.expand_payment_receipt(self.host(host), request)
    }
}

#[test]
fn a_claimed_call_that_answers_req_not_supp_fails_claim_and_behaviour() {
    let report = run(&Broken::subject(Fault::RefusesExpand), &Options::default());
    fails(
        &report,
        "claimed-calls",
        "ExpandPaymentReceipt is claimed but answered ReqNotSupp",
    );
    fails(&report, "receipt-expand", "ReqNotSupp");
    passes(&report, "unclaimed-calls");
    passes(&report, "approve-debit");
    assert!(!report.passed(), "claimed-calls is required");
}

#[test]
fn an_implemented_call_that_is_not_claimed_fails_unclaimed_calls() {
    let mut claims = MockScheme::claims();
    claims.calls.retain(|c| c != "RemovePaymentLog");
    let subject = Subject::new("mock claiming less", claims, || {
        Ok(Arc::new(MockScheme::new(None)) as Arc<dyn PaymentBridge>)
    });
    let report = run(&subject, &Options::default());
    fails(
        &report,
        "unclaimed-calls",
        "RemovePaymentLog is not claimed but answered",
    );
    passes(&report, "claimed-calls");
    assert!(!report.passed());
}

#[test]
fn a_decline_with_the_wrong_completion_code_fails_that_decline_only() {
    let report = run(
        &Broken::subject(Fault::WrongDeclineCode),
        &Options {
            only: vec!["decline".into()],
        },
    );
    fails(&report, "decline-InsuffFunds", "Failed Unspecified");
    for s in report
        .scenarios
        .iter()
        .filter(|s| s.id != "decline-InsuffFunds")
    {
        assert_eq!(s.verdict, Verdict::Pass, "{}: {}", s.id, s.message);
    }
    assert!(
        report
            .scenarios
            .iter()
            .all(|s| s.id.starts_with("decline-"))
    );
}

#[test]
fn scheme_data_after_end_fails_no_scheme_data_after_end() {
    let report = run(
        &Broken::subject(Fault::DataAfterEnd),
        &Options {
            only: vec!["no-scheme-data-after-end".into(), "approve-debit".into()],
        },
    );
    fails(
        &report,
        "no-scheme-data-after-end",
        "the Consumer's bridge answered the Payment Response's scheme data with Continue",
    );
    passes(&report, "approve-debit");
}

#[test]
fn a_bridge_that_keeps_its_state_in_memory_fails_crash_resume() {
    let report = run(
        &Broken::subject(Fault::Forgetful),
        &Options {
            only: vec!["crash-resume".into(), "approve-debit".into()],
        },
    );
    fails(
        &report,
        "crash-resume",
        "paying with test instrument extra-round",
    );
    passes(&report, "approve-debit");
}

#[test]
fn a_bridge_that_panics_on_garbage_fails_malformed_scheme_data() {
    let report = run(
        &Broken::subject(Fault::PanicsOnGarbage),
        &Options {
            only: vec!["malformed-scheme-data".into(), "approve".into()],
        },
    );
    fails(
        &report,
        "malformed-scheme-data",
        "panicked: the broken mock cannot read this scheme data",
    );
    passes(&report, "approve-debit");
    passes(&report, "approve-credit");
}

#[test]
fn an_invalid_message_fails_the_scenario_that_sent_it() {
    let report = run(
        &Broken::subject(Fault::DuplicateName),
        &Options {
            only: vec!["approve-debit".into()],
        },
    );
    fails(&report, "approve-debit", "is not valid");
    fails(&report, "approve-debit", "is used twice in one payment");
}

#[test]
fn garbage_documents_need_error_documents() {
    let echo = Subject::mock().with_raw(|_, doc| Ok(doc.to_vec()));
    let report = run(
        &echo,
        &Options {
            only: vec!["garbage-documents".into()],
        },
    );
    fails(
        &report,
        "garbage-documents",
        "an empty document: the answer is not an XML document",
    );
    let crashing = Subject::mock().with_raw(|_, _| Err("the plugin crashed".into()));
    let report = run(
        &crashing,
        &Options {
            only: vec!["garbage-documents".into()],
        },
    );
    fails(
        &report,
        "garbage-documents",
        "no answer: the plugin crashed",
    );
    let without = Subject::new("no raw access", MockScheme::claims(), || {
        Ok(Arc::new(MockScheme::new(None)) as Arc<dyn PaymentBridge>)
    });
    let report = run(
        &without,
        &Options {
            only: vec!["garbage-documents".into()],
        },
    );
    assert_eq!(verdict(&report, "garbage-documents").verdict, Verdict::Skip);
}

#[test]
fn claims_that_disagree_with_the_bridge_fail() {
    let mut claims = MockScheme::claims();
    claims.brands = vec!["x-othercard".into()];
    claims
        .test_instruments
        .push(claims.test_instruments[0].clone());
    claims.calls.retain(|c| c != "CheckPaymentReceipt");
    let subject = Subject::new("mock with wrong claims", claims, || {
        Ok(Arc::new(MockScheme::new(None)) as Arc<dyn PaymentBridge>)
    });
    let report = run(
        &subject,
        &Options {
            only: vec!["claims".into(), "discovery".into()],
        },
    );
    fails(&report, "claims", "the bridge's brands are");
    fails(
        &report,
        "claims",
        "test instrument approve is claimed twice",
    );
    fails(
        &report,
        "claims",
        "a Consumer must implement CheckPaymentReceipt",
    );
    fails(&report, "discovery", "FindAcceptedPaymentBrand gives");
}

#[test]
fn scenarios_the_claims_do_not_imply_are_skipped_with_the_reason() {
    let mut claims = MockScheme::claims();
    claims.roles = vec![iotp::msg::codes::TradingRole::Merchant];
    claims.directions = vec![iotp::msg::codes::PayDirection::Debit];
    let subject = Subject::new("merchant only", claims, || {
        Ok(Arc::new(MockScheme::new(None)) as Arc<dyn PaymentBridge>)
    });
    let report = run(&subject, &Options::default());
    passes(&report, "claims");
    passes(&report, "discovery");
    for id in ["approve-debit", "cancel", "crash-resume", "instruments"] {
        let s = verdict(&report, id);
        assert_eq!(s.verdict, Verdict::Skip, "{id}: {}", s.message);
        assert!(s.message.contains("Consumer"), "{id}: {}", s.message);
    }
    let credit = verdict(&report, "approve-credit");
    assert_eq!(credit.verdict, Verdict::Skip);
    assert!(report.passed(), "{}", report.to_text());
}

#[test]
fn a_subject_that_cannot_be_loaded_fails_without_panicking() {
    let subject = Subject::new("nothing", MockScheme::claims(), || {
        Err("no such library".into())
    });
    let report = run(&subject, &Options::default());
    fails(&report, "approve-debit", "no such library");
    fails(&report, "claims", "no such library");
    assert!(!report.passed());
}

// ---------------------------------------------------------------------------------------------
// Selection and rendering

#[test]
fn only_selects_ids_and_id_families() {
    let claims = MockScheme::claims();
    assert!(selects_any(&claims, "decline"));
    assert!(selects_any(&claims, "decline-InsuffFunds"));
    assert!(selects_any(&claims, "approve"));
    assert!(!selects_any(&claims, "approv"));
    assert!(!selects_any(&claims, "nonsense"));
    let report = run(
        &Subject::mock(),
        &Options {
            only: vec!["approve".into(), "claims".into()],
        },
    );
    let ids: Vec<&str> = report.scenarios.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["claims", "approve-debit", "approve-credit"]);
}

#[test]
fn reports_render_as_text_json_and_junit() {
    let report = run(
        &Broken::subject(Fault::RefusesExpand),
        &Options {
            only: vec![
                "claimed-calls".into(),
                "claims".into(),
                "receipt-expand".into(),
            ],
        },
    );
    let text = report.to_text();
    assert!(text.contains("ID"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("claimed-calls") && l.contains("fail"))
    );
    assert!(
        text.contains("3 scenarios: 1 passed, 2 failed (1 required), 0 skipped: FAIL"),
        "{text}"
    );

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    assert_eq!(json["passed"], false);
    assert_eq!(json["totals"]["failed"], 2);
    let scenarios = json["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 3);
    assert_eq!(scenarios[0]["id"], "claims");
    assert_eq!(scenarios[0]["verdict"], "pass");
    assert_eq!(scenarios[1]["id"], "receipt-expand");
    assert_eq!(scenarios[1]["required"], false);
    assert_eq!(scenarios[2]["required"], true);
    assert!(
        scenarios[2]["rfc"]
            .as_str()
            .is_some_and(|r| r.contains("RFC 3867"))
    );

    let junit = report.to_junit();
    let tree = iotp::xml::parse_tree(junit.as_bytes(), &iotp::Limits::default()).expect("XML");
    assert_eq!(tree.name, "testsuites");
    assert_eq!(tree.attribute("tests"), Some("3"));
    assert_eq!(tree.attribute("failures"), Some("2"));
    assert_eq!(junit.matches("<testcase ").count(), 3);
    assert_eq!(junit.matches("<failure type=\"required\"").count(), 1);
    assert_eq!(junit.matches("<failure type=\"optional\"").count(), 1);
}
