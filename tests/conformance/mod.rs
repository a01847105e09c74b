//! The conformance kit for payment scheme plugins (RFC 3867 Payment Bridges).
//!
//! A [`Subject`] is a scheme as the kit sees it: what it claims (the `IotpPluginClaims`
//! document, [`PluginClaims`]), a factory that loads its bridge (called again to simulate a
//! reload after a crash) and, optionally, a way to send it raw Payment API documents. [`run`]
//! builds a Consumer, a Merchant and a Payment Handler with the real engine around it — the
//! subject's bridge in every role it claims, the other roles played by the kit — and runs the
//! scenarios its claims imply: discovery, approve, decline with each claimed completion code,
//! multi-round exchanges, time-outs, lost and duplicated messages, crash and resume, inquiries,
//! cancellation, receipts, malformed scheme data and garbage documents, End is final, and
//! claim ⇔ behaviour both ways. Every message of every scenario must be valid.
//!
//! The kit pays only with the subject's own Consumer and Payment Handler parts (a scheme's
//! parts must come from the same scheme). When the subject does not claim the Merchant role,
//! the kit's Merchant offers every claimed brand with every claimed protocol and adds no
//! Merchant data: a scheme whose Payment Handler needs its Merchant's data must claim the
//! Merchant role too.
//!
//! A scenario the claims do not imply is skipped, with the reason (a scheme that plays no
//! Consumer cannot be paid with). [`Report::passed`] is true when no required scenario failed.
//! A scenario that panics (an in-process bridge) fails with the panic's message.
//!
//! ```
//! use iotp_tests::conformance::{self, Options, Subject};
//!
//! let report = conformance::run(&Subject::mock(), &Options::default());
//! assert!(report.passed(), "{}", report.to_text());
//! ```

mod calls;
mod kit;
mod report;
mod scenarios;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use iotp::msg::codes::{CompletionCode, PayDirection, ProcessState, TradingRole};
use iotp::payapi::claims::{PluginClaims, TestInstrument};
use iotp::payapi::documents::{decode_request, dispatch, encode_response};
use iotp::payapi::mock::MockScheme;
use iotp::payapi::{ApiError, BridgeHost, PaymentBridge};
use serde::Serialize;

pub use report::Report;

/// Loads the subject's bridge (again, after a simulated crash).
pub type Factory = dyn Fn() -> Result<Arc<dyn PaymentBridge>, String> + Send + Sync;

/// Sends one raw request document to the subject, its host services going to the given host,
/// and returns its response document; `Err` when the subject failed to answer at all (the
/// plugin host reports a failed call).
pub type RawCall = dyn Fn(&dyn BridgeHost, &[u8]) -> Result<Vec<u8>, String> + Send + Sync;

/// What the kit tests.
pub struct Subject {
    /// What it is, for the report (a plugin's path, or a name).
    pub name: String,
    /// What it claims.
    pub claims: PluginClaims,
    /// Loads its bridge.
    pub factory: Box<Factory>,
    /// Its raw document interface, when it has one (a plugin does).
    pub raw: Option<Box<RawCall>>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("name", &self.name)
            .field("claims", &self.claims)
            .field("raw", &self.raw.is_some())
            .finish_non_exhaustive()
    }
}

impl Subject {
    /// A subject from its claims and a factory, without raw document access.
    pub fn new(
        name: impl Into<String>,
        claims: PluginClaims,
        factory: impl Fn() -> Result<Arc<dyn PaymentBridge>, String> + Send + Sync + 'static,
    ) -> Self {
        Subject {
            name: name.into(),
            claims,
            factory: Box::new(factory),
            raw: None,
        }
    }

    /// Adds raw document access.
    pub fn with_raw(
        mut self,
        raw: impl Fn(&dyn BridgeHost, &[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> Self {
        self.raw = Some(Box::new(raw));
        self
    }

    /// Raw document access to an in-process bridge: each document is decoded, dispatched to a
    /// fresh bridge from `factory` and the answer encoded, as the plugin SDK does.
    pub fn with_documents_in_process(
        self,
        factory: impl Fn() -> Arc<dyn PaymentBridge> + Send + Sync + 'static,
    ) -> Self {
        self.with_raw(move |host, doc| {
            let bridge = factory();
            let answer = match decode_request(doc, &iotp::Limits::default()) {
                Ok(request) => dispatch(&*bridge, host, &request),
                Err(e) => Err(e),
            };
            Ok(encode_response(&answer).into_bytes())
        })
    }

    /// The mock scheme of the core, in process: what the kit is checked against.
    pub fn mock() -> Self {
        Subject::new("MockScheme (in process)", MockScheme::claims(), || {
            Ok(Arc::new(MockScheme::new(None)) as Arc<dyn PaymentBridge>)
        })
        .with_documents_in_process(|| Arc::new(MockScheme::new(None)))
    }

    /// A bridge from the factory.
    pub(crate) fn load(&self) -> Result<Arc<dyn PaymentBridge>, String> {
        (self.factory)().map_err(|e| format!("the subject could not be loaded: {e}"))
    }

    pub(crate) fn plays(&self, role: &TradingRole) -> bool {
        self.claims.roles.contains(role)
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Run only these scenarios: an id, or the first part of ids before a `-`
    /// (`decline` runs every `decline-…`). Empty: all.
    pub only: Vec<String>,
}

impl Options {
    fn selects(&self, id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| selects(o, id))
    }
}

fn selects(pattern: &str, id: &str) -> bool {
    id == pattern
        || id
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The result of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The subject behaved as the RFCs and its claims say.
    Pass,
    /// It did not.
    Fail,
    /// The claims do not imply this scenario.
    Skip,
}

impl Verdict {
    /// `pass`, `fail` or `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
        }
    }
}

/// One scenario's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Stable id (`approve-debit`, `decline-InsuffFunds`, …).
    pub id: String,
    /// What it checks.
    pub title: String,
    /// The RFC sections it holds the subject to.
    pub rfc: String,
    /// A failure of a required scenario fails the report.
    pub required: bool,
    /// Pass, fail or skip.
    pub verdict: Verdict,
    /// What was found: why it failed, why it was skipped, or what passed.
    pub message: String,
    /// Time taken, in milliseconds.
    pub millis: u64,
}

/// What a scenario does, with its parameters.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Claims,
    Discovery,
    Instruments,
    Approve(PayDirection),
    BrandDependent,
    Decline(CompletionCode),
    ExchangeRounds,
    Transient,
    DuplicateRequest,
    LostRequest,
    LostResponse,
    DuplicateResponse,
    CrashResume,
    InquiryMidPayment,
    InquiryAfterPayment,
    Cancel,
    ReceiptCheck,
    ReceiptExpand,
    Authentication,
    MalformedSchemeData,
    GarbageDocuments,
    NoSchemeDataAfterEnd,
    ClaimedCalls,
    UnclaimedCalls,
}

/// A scenario to run.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub id: String,
    pub title: &'static str,
    pub rfc: &'static str,
    pub required: bool,
    pub kind: Kind,
}

/// The payment completion codes a decline may carry in a Payment Response's Status
/// (RFC 2801 §7.16.2; the cancel and time-out codes belong to Cancel Blocks and inquiries).
pub(crate) const DECLINE_CODES: &[CompletionCode] = &[
    CompletionCode::BrandNotSupp,
    CompletionCode::CurrNotSupp,
    CompletionCode::AuthError,
    CompletionCode::InsuffFunds,
    CompletionCode::InstBrandInvalid,
    CompletionCode::InstNotValid,
    CompletionCode::BadInstrument,
    CompletionCode::Unspecified,
];

/// The declining test instruments, one per completion code, in the claims' order.
pub(crate) fn decline_instruments(claims: &PluginClaims) -> Vec<&TestInstrument> {
    let mut v: Vec<&TestInstrument> = Vec::new();
    for t in claims.test_instruments.iter().filter(|t| {
        !t.transient && t.process_state == ProcessState::Failed && t.completion_code.is_some()
    }) {
        if !v.iter().any(|u| u.completion_code == t.completion_code) {
            v.push(t);
        }
    }
    v
}

/// Every scenario the kit has for these claims, in the order they run.
pub(crate) fn plan(claims: &PluginClaims) -> Vec<Planned> {
    let p =
        |id: &str, title: &'static str, rfc: &'static str, required: bool, kind: Kind| Planned {
            id: id.into(),
            title,
            rfc,
            required,
            kind,
        };
    let mut v = vec![
        p(
            "claims",
            "the claims are complete and consistent with the bridge",
            "RFC 3867 §1.2 (Table 1: calls per role); claims document",
            true,
            Kind::Claims,
        ),
        p(
            "discovery",
            "FindAcceptedPaymentBrand/Protocol give the claimed brands and protocols",
            "RFC 3867 §2.2, §4.1.1, §4.1.2",
            true,
            Kind::Discovery,
        ),
        p(
            "instruments",
            "FindPaymentInstrument lists the test instruments",
            "RFC 3867 §2.3, §4.2.1",
            true,
            Kind::Instruments,
        ),
        p(
            "approve-debit",
            "a Debit payment (purchase) with an approving instrument completes",
            "RFC 2801 §9.1.8, §9.1.3; RFC 3867 §2.4",
            true,
            Kind::Approve(PayDirection::Debit),
        ),
        p(
            "approve-credit",
            "a Credit payment (refund) with an approving instrument completes",
            "RFC 2801 §9.1.9, §9.1.3; RFC 3867 §2.4",
            true,
            Kind::Approve(PayDirection::Credit),
        ),
        p(
            "brand-dependent",
            "a brand-dependent offer (TPO Selection first) is paid",
            "RFC 2801 §9.1.2.1; RFC 3867 §2.3, §4.2.2",
            true,
            Kind::BrandDependent,
        ),
    ];
    let declines = decline_instruments(claims);
    if declines.is_empty() {
        v.push(p(
            "decline",
            "a decline is a Failed Status with its completion code",
            "RFC 2801 §7.16.2, §8.9; RFC 3867 §2.6.1",
            true,
            Kind::Decline(CompletionCode::Unspecified),
        ));
    }
    for t in declines {
        let code = t
            .completion_code
            .clone()
            .unwrap_or(CompletionCode::Unspecified);
        v.push(p(
            &format!("decline-{code}"),
            "a decline is a Failed Status with its completion code, not an Error",
            "RFC 2801 §7.16.2, §8.9; RFC 3867 §2.6.1",
            true,
            Kind::Decline(code),
        ));
    }
    v.extend([
        p(
            "exchange-rounds",
            "Payment Exchange rounds as the instrument claims, then the Payment Response",
            "RFC 2801 §8.8, §9.1.3.3; RFC 3867 §2.4, §4.3.5",
            true,
            Kind::ExchangeRounds,
        ),
        p(
            "transient",
            "a processor time-out: TransientError, retries, then TimedOutRcvr",
            "RFC 2801 §4.3.3.3, §7.21.1.2, §4.6.4, §7.16.2",
            true,
            Kind::Transient,
        ),
        p(
            "duplicate-payment-request",
            "a duplicated Payment Request is paid once and answered with the same bytes",
            "RFC 2801 §4.4, §4.5.2.2",
            true,
            Kind::DuplicateRequest,
        ),
        p(
            "lost-payment-request",
            "a lost Payment Request is sent again and paid once",
            "RFC 2801 §4.6.4, §4.5.2.2",
            true,
            Kind::LostRequest,
        ),
        p(
            "lost-payment-response",
            "a lost Payment Response is replayed byte for byte; the payment is not made twice",
            "RFC 2801 §4.5.2.2, §4.6.4",
            true,
            Kind::LostResponse,
        ),
        p(
            "duplicate-payment-response",
            "a duplicated Payment Response ends the Consumer's payment once",
            "RFC 2801 §4.4, §4.6.2",
            true,
            Kind::DuplicateResponse,
        ),
        p(
            "crash-resume",
            "every node restarts from its store with the plugin reloaded; the payment completes",
            "RFC 2801 §4.4, §4.5.2.2; RFC 3867 §2.6.2, §4.3.1 (states kept for resumption)",
            true,
            Kind::CrashResume,
        ),
        p(
            "inquiry-mid-payment",
            "a payment status inquiry while the payment is open, which then completes",
            "RFC 2801 §9.2.1; RFC 3867 §2.5, §4.5.4, §4.5.5",
            true,
            Kind::InquiryMidPayment,
        ),
        p(
            "inquiry-after-payment",
            "a payment status inquiry after the end reports how it ended",
            "RFC 2801 §9.2.1, §7.16.6; RFC 3867 §2.5",
            true,
            Kind::InquiryAfterPayment,
        ),
        p(
            "cancel",
            "the Consumer cancels during the payment exchange; nothing is paid",
            "RFC 2801 §3.10, §4.6.3, §8.18; RFC 3867 §2.6.1, §4.3.6",
            true,
            Kind::Cancel,
        ),
        p(
            "receipt-check",
            "CheckPaymentReceipt accepts the real receipt and refuses a forged one",
            "RFC 3867 §2.4 (8), §4.5.1",
            true,
            Kind::ReceiptCheck,
        ),
        p(
            "receipt-expand",
            "ExpandPaymentReceipt reads the receipt of a payment",
            "RFC 3867 §4.5.2",
            false,
            Kind::ReceiptExpand,
        ),
        p(
            "authentication",
            "an authentication with the claimed algorithm completes",
            "RFC 2801 §9.1.1, §9.1.6; RFC 3867 §2.1, §4.1.4–§4.1.6",
            false,
            Kind::Authentication,
        ),
        p(
            "malformed-scheme-data",
            "garbage PaySchemeData in a Payment Request: an Error Block, and the node survives",
            "RFC 2801 §4.3.3, §7.21.2 (EncapProtErr); RFC 3867 §3.1",
            true,
            Kind::MalformedSchemeData,
        ),
        p(
            "garbage-documents",
            "garbage request documents get an ErrorResponse document, not a crash",
            "RFC 3867 §3, §3.1 (ErrorResponse)",
            true,
            Kind::GarbageDocuments,
        ),
        p(
            "no-scheme-data-after-end",
            "no scheme data after ContStatus End",
            "RFC 3867 §2.4 (7, 8), §4.3.5",
            true,
            Kind::NoSchemeDataAfterEnd,
        ),
        p(
            "claimed-calls",
            "every claimed call works (no ReqNotSupp)",
            "RFC 3867 §1.2 (Table 1), §4; claims document",
            true,
            Kind::ClaimedCalls,
        ),
        p(
            "unclaimed-calls",
            "every call not claimed answers ReqNotSupp",
            "RFC 3867 §1.2 (skeletons), §3.1 (ReqNotSupp)",
            true,
            Kind::UnclaimedCalls,
        ),
    ]);
    v
}

/// The ids of every scenario for these claims (what `--only` chooses from).
pub fn scenario_ids(claims: &PluginClaims) -> Vec<String> {
    plan(claims).into_iter().map(|p| p.id).collect()
}

/// True when `pattern` (an id, or the part of ids before a `-`) selects a scenario.
pub fn selects_any(claims: &PluginClaims, pattern: &str) -> bool {
    scenario_ids(claims).iter().any(|id| selects(pattern, id))
}

/// Runs the scenarios on the subject.
pub fn run(subject: &Subject, options: &Options) -> Report {
    let mut results = Vec::new();
    for planned in plan(&subject.claims)
        .into_iter()
        .filter(|p| options.selects(&p.id))
    {
        results.push(run_one(subject, &planned));
    }
    Report {
        subject: subject.name.clone(),
        software_id: subject.claims.software_id.clone(),
        scenarios: results,
    }
}

fn run_one(subject: &Subject, planned: &Planned) -> ScenarioResult {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenarios::run(subject, &planned.kind)
    }));
    let (verdict, message) = match outcome {
        Ok(Ok(msg)) => (Verdict::Pass, msg),
        Ok(Err(scenarios::Stop::Fail(msg))) => (Verdict::Fail, msg),
        Ok(Err(scenarios::Stop::Skip(msg))) => (Verdict::Skip, msg),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "(no message)".into());
            (Verdict::Fail, format!("panicked: {what}"))
        }
    };
    ScenarioResult {
        id: planned.id.clone(),
        title: planned.title.into(),
        rfc: planned.rfc.into(),
        required: planned.required,
        verdict,
        message,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// An error's code and description, for messages.
pub(crate) fn show(e: &ApiError) -> String {
    format!("{} ({}): {}", e.code.as_str(), e.severity, e.desc)
}
