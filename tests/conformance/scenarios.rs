//! The scenarios. Each returns what it found: `Ok` with a short account when the subject
//! passed, [`Stop::Fail`] with what went wrong, or [`Stop::Skip`] when its claims do not imply
//! the scenario.

use std::collections::BTreeSet;

use iotp::msg::codes::{
    CompletionCode, InquiryType, PayDirection, ProcessState, Severity, StatusType, TradingRole,
    TransactionType,
};
use iotp::msg::model::{PackagedContent, Status};
use iotp::payapi::claims::TestInstrument;
use iotp::payapi::documents::{ApiRequest, NAMESPACE, encode_request};
use iotp::payapi::*;
use iotp::txn::harness::Fate;
use iotp::txn::{EndKind, Event};
use iotp::xml::{XmlNode, parse_tree};
use iotp::{Limits, TradingBlock};

use super::calls::{amount_in, exercise, garbage_documents};
use super::kit::*;
use super::{DECLINE_CODES, Kind, Subject, decline_instruments, show};

/// Why a scenario did not pass.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The subject is at fault.
    Fail(String),
    /// The claims do not imply the scenario.
    Skip(String),
}

impl From<String> for Stop {
    fn from(s: String) -> Self {
        Stop::Fail(s)
    }
}

impl From<&str> for Stop {
    fn from(s: &str) -> Self {
        Stop::Fail(s.into())
    }
}

type Res = Result<String, Stop>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(Stop::Fail(format!($($arg)+)));
        }
    };
}

fn skip<T>(why: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Skip(why.into()))
}

/// Runs one scenario.
pub(crate) fn run(s: &Subject, kind: &Kind) -> Res {
    match kind {
        Kind::Claims => claims(s),
        Kind::Discovery => discovery(s),
        Kind::Instruments => instruments(s),
        Kind::Approve(d) => approve(s, d),
        Kind::BrandDependent => brand_dependent(s),
        Kind::Decline(code) => decline(s, code),
        Kind::ExchangeRounds => exchange_rounds(s),
        Kind::Transient => transient(s),
        Kind::DuplicateRequest => duplicate_request(s),
        Kind::LostRequest => lost_request(s),
        Kind::LostResponse => lost_response(s),
        Kind::DuplicateResponse => duplicate_response(s),
        Kind::CrashResume => crash_resume(s),
        Kind::InquiryMidPayment => inquiry_mid_payment(s),
        Kind::InquiryAfterPayment => inquiry_after_payment(s),
        Kind::Cancel => cancel(s),
        Kind::ReceiptCheck => receipt_check(s),
        Kind::ReceiptExpand => receipt_expand(s),
        Kind::Authentication => authentication(s),
        Kind::MalformedSchemeData => malformed_scheme_data(s),
        Kind::GarbageDocuments => garbage(s),
        Kind::NoSchemeDataAfterEnd => no_scheme_data_after_end(s),
        Kind::ClaimedCalls => claimed_calls(s),
        Kind::UnclaimedCalls => unclaimed_calls(s),
    }
}

// ---------------------------------------------------------------------------------------------
// Preconditions and shared steps

/// The calls RFC 3867 requires of each role (`+` in §1.2, Table 1), and
/// FindAcceptedPaymentProtocol, which the core needs to build Brand Lists.
const REQUIRED_CALLS: &[(TradingRole, &[&str])] = &[
    (
        TradingRole::Merchant,
        &[
            "FindAcceptedPaymentBrand",
            "FindAcceptedPaymentProtocol",
            "GetPaymentInitializationData",
        ],
    ),
    (
        TradingRole::Consumer,
        &[
            "FindPaymentInstrument",
            "CheckPaymentPossibility",
            "StartPaymentConsumer",
            "ContinueProcess",
            "ChangeProcessState",
            "InquireProcessState",
            "CheckPaymentReceipt",
        ],
    ),
    (
        TradingRole::PaymentHandler,
        &[
            "StartPaymentPaymentHandler",
            "ContinueProcess",
            "ChangeProcessState",
            "InquireProcessState",
        ],
    ),
];

/// The kit pays only with the subject's own Consumer and Payment Handler parts.
fn payable(s: &Subject) -> Result<(), Stop> {
    for role in [TradingRole::Consumer, TradingRole::PaymentHandler] {
        if !s.plays(&role) {
            return skip(format!(
                "the claims name no {role} role: a payment needs the scheme's Consumer and Payment Handler parts"
            ));
        }
    }
    if s.claims.brands.is_empty() || s.claims.protocols.is_empty() {
        return skip("the claims name no brand or no protocol");
    }
    Ok(())
}

/// The direction of single-payment scenarios: Debit when claimed.
fn direction(s: &Subject) -> PayDirection {
    if s.claims.directions.contains(&PayDirection::Debit) || s.claims.directions.is_empty() {
        PayDirection::Debit
    } else {
        PayDirection::Credit
    }
}

/// An approving test instrument: without exchange rounds if there is one.
fn approving(s: &Subject) -> Result<&TestInstrument, Stop> {
    let ok = |t: &&TestInstrument| !t.transient && t.process_state == ProcessState::CompletedOk;
    match s
        .claims
        .test_instruments
        .iter()
        .filter(ok)
        .min_by_key(|t| t.exchange_rounds)
    {
        Some(t) => Ok(t),
        None => skip("no approving test instrument is claimed (ProcessState CompletedOk)"),
    }
}

/// A test instrument with exchange rounds, if any.
fn multi_round(s: &Subject) -> Option<&TestInstrument> {
    s.claims
        .test_instruments
        .iter()
        .find(|t| !t.transient && t.exchange_rounds >= 1)
}

/// The blocks of each message of a transaction, for messages: `from>to:Blk+Blk`, with the
/// codes of Error Blocks.
fn flow(kit: &Kit<'_>, trans: &str) -> String {
    kit.messages(trans)
        .iter()
        .map(|e| {
            let mut tags: Vec<String> = Vec::new();
            if let Some(m) = read(&e.xml) {
                if let Some(err) = &m.error {
                    for c in &err.error_components {
                        tags.push(format!("ErrorBlk({} {})", c.severity, c.error_code));
                    }
                }
                tags.extend(m.blocks.iter().map(|b| b.tag().to_owned()));
            } else {
                tags.push("(unreadable)".into());
            }
            let fate = match e.fate {
                Fate::Deliver => "",
                Fate::Drop => " [lost]",
                Fate::Duplicate => " [duplicated]",
                Fate::Corrupt => " [corrupted]",
            };
            format!("{}>{}:{}{fate}", e.from, e.to, tags.join("+"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that the Consumer's part ended as the test instrument claims; explains otherwise.
fn expect_end(kit: &Kit<'_>, trans: &str, t: &TestInstrument) -> Result<(), Stop> {
    let end = kit.consumer_end(trans);
    let (state, code) = expected(t);
    let ok = end
        .as_ref()
        .is_some_and(|o| o.process_state == state && o.completion_code == code);
    if ok {
        return Ok(());
    }
    let mut why = format!(
        "paying with test instrument {}: the Consumer's part {}, expected {state}{}",
        t.id,
        describe(end.as_ref()),
        code.map(|c| format!(" {c}")).unwrap_or_default()
    );
    if end
        .as_ref()
        .is_some_and(|o| o.completion_code == Some(CompletionCode::ConsCancelled))
    {
        why.push_str(&format!(
            "\nthe Consumer was not offered that instrument; offered: {:?}",
            kit.app.offered()
        ));
    }
    why.push_str(&format!("\nmessages: {}", flow(kit, trans)));
    for e in kit.errors_received(trans) {
        why.push_str(&format!("\n{e}"));
    }
    if let Err(invalid) = kit.check_messages() {
        why.push('\n');
        why.push_str(&invalid);
    }
    Err(Stop::Fail(why))
}

/// Pays with a test instrument and checks the end.
fn pay_ok(
    kit: &mut Kit<'_>,
    t: &TestInstrument,
    direction: &PayDirection,
    brand_dependent: bool,
) -> Result<String, Stop> {
    let trans = kit.pay(&t.id, direction, brand_dependent)?;
    expect_end(kit, &trans, t)?;
    Ok(trans)
}

/// The Payment Handler authorised the payment once: one end there, one StartPaymentPaymentHandler.
fn paid_once(kit: &Kit<'_>, trans: &str) -> Result<(), Stop> {
    let ends = kit.ends(Node::PaymentHandler, trans);
    ensure!(
        ends.len() == 1,
        "the Payment Handler's part ended {} times: {:?}",
        ends.len(),
        ends.iter().map(|e| describe(Some(e))).collect::<Vec<_>>()
    );
    let starts = kit.calls(Node::PaymentHandler, "StartPaymentPaymentHandler");
    ensure!(
        starts.len() == 1,
        "StartPaymentPaymentHandler was called {} times: the payment may have been made twice",
        starts.len()
    );
    Ok(())
}

/// The bytes of the messages from `from` holding `tag`.
fn sent(kit: &Kit<'_>, trans: &str, from: &str, tag: &str) -> Vec<std::sync::Arc<[u8]>> {
    kit.messages(trans)
        .iter()
        .filter(|e| e.from == from && has_block(&e.xml, tag))
        .map(|e| e.xml.clone())
        .collect()
}

/// The Consumer's payment id of the first payment.
fn consumer_pay_id(kit: &Kit<'_>) -> Result<String, Stop> {
    kit.calls(Node::Consumer, "StartPaymentConsumer")
        .first()
        .map(|c| c.pay_id.clone())
        .ok_or_else(|| Stop::Fail("the Consumer's bridge never started a payment".into()))
}

/// The status an Inquiry Response reported for a transaction.
fn inquire(kit: &mut Kit<'_>, trans: &str) -> Result<Status, Stop> {
    let now = kit.net.now;
    let consumer = kit.node(Node::Consumer);
    let out = kit
        .net
        .engine(consumer)
        .start_inquiry(trans, InquiryType::Payment, now)
        .map_err(|e| format!("the Consumer could not inquire: {e}"))?;
    kit.net.run(consumer, out);
    kit.net
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            Event::InquiryAnswered {
                iotp_trans_id,
                status,
            } if iotp_trans_id == trans => Some(status.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            Stop::Fail(format!(
                "no Inquiry Response; messages: {}",
                flow(kit, trans)
            ))
        })
}

fn show_status(s: &Status) -> String {
    format!(
        "{} {}{}",
        s.status_type,
        s.process_state,
        s.completion_code
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default()
    )
}

// ---------------------------------------------------------------------------------------------
// Claims, discovery, instruments

fn claims(s: &Subject) -> Res {
    let c = &s.claims;
    let mut problems: Vec<String> = Vec::new();
    if c.software_id.trim().is_empty() {
        problems.push("SoftwareId is empty".into());
    }
    if c.roles.is_empty() {
        problems.push("no Role is claimed".into());
    }
    for r in &c.roles {
        if !matches!(
            r,
            TradingRole::Consumer | TradingRole::Merchant | TradingRole::PaymentHandler
        ) {
            problems.push(format!("{r} is no role of a payment bridge"));
        }
    }
    if c.protocols.is_empty() {
        problems.push("no Protocol is claimed".into());
    }
    if c.brands.is_empty() {
        problems.push("no Brand is claimed".into());
    }
    if c.directions.is_empty() {
        problems.push("no Direction is claimed".into());
    }
    let mut seen = BTreeSet::new();
    for call in &c.calls {
        if !BRIDGE_CALLS.contains(&call.as_str()) {
            problems.push(format!("{call} is no RFC 3867 call"));
        }
        if !seen.insert(call.as_str()) {
            problems.push(format!("{call} is claimed twice"));
        }
    }
    for (role, calls) in REQUIRED_CALLS {
        if !s.plays(role) {
            continue;
        }
        for call in *calls {
            if !c.claims_call(call) {
                let why = if *call == "FindAcceptedPaymentProtocol" {
                    " (Table 1 says should; the core needs it to build Brand Lists)"
                } else {
                    ""
                };
                problems.push(format!(
                    "a {role} must implement {call}, which is not claimed{why}"
                ));
            }
        }
    }
    if !c.auth_algorithms.is_empty()
        && s.plays(&TradingRole::Consumer)
        && !c.claims_call("Authenticate")
    {
        problems.push(
            "an authentication algorithm is claimed but the Consumer's Authenticate is not".into(),
        );
    }
    let mut ids = BTreeSet::new();
    for t in &c.test_instruments {
        if t.id.is_empty() {
            problems.push("a test instrument has an empty Id".into());
        }
        if !ids.insert(t.id.as_str()) {
            problems.push(format!("test instrument {} is claimed twice", t.id));
        }
        if !t.transient
            && t.process_state == ProcessState::Failed
            && let Some(code) = &t.completion_code
            && !DECLINE_CODES.contains(code)
        {
            problems.push(format!(
                "test instrument {} declines with {code}, which cannot be the Status of a Payment Response (RFC 2801 §7.16.2)",
                t.id
            ));
        }
    }
    let pays = s.plays(&TradingRole::Consumer) && s.plays(&TradingRole::PaymentHandler);
    if pays
        && !c
            .test_instruments
            .iter()
            .any(|t| !t.transient && t.process_state == ProcessState::CompletedOk)
    {
        problems.push(
            "no approving test instrument (ProcessState CompletedOk): the payment scenarios cannot run"
                .into(),
        );
    }
    match s.load() {
        Err(e) => problems.push(e),
        Ok(b) => {
            let info = b.info();
            if info.software_id != c.software_id {
                problems.push(format!(
                    "the bridge's software id is \"{}\", the claims say \"{}\"",
                    info.software_id, c.software_id
                ));
            }
            let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
            if set(&info.protocols) != set(&c.protocols) {
                problems.push(format!(
                    "the bridge's protocols are {:?}, the claims say {:?}",
                    info.protocols, c.protocols
                ));
            }
            if set(&info.brands) != set(&c.brands) {
                problems.push(format!(
                    "the bridge's brands are {:?}, the claims say {:?}",
                    info.brands, c.brands
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Stop::Fail(problems.join("\n")));
    }
    Ok(format!(
        "roles {:?}; {} brand(s), {} protocol(s), {} direction(s), {} call(s), {} test instrument(s)",
        c.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        c.brands.len(),
        c.protocols.len(),
        c.directions.len(),
        c.calls.len(),
        c.test_instruments.len()
    ))
}

fn directions(s: &Subject) -> Vec<PayDirection> {
    if s.claims.directions.is_empty() {
        vec![PayDirection::Debit]
    } else {
        s.claims.directions.clone()
    }
}

fn discovery(s: &Subject) -> Res {
    if !s.plays(&TradingRole::Merchant) && !s.claims.claims_call("FindAcceptedPaymentBrand") {
        return skip("the claims name no Merchant role");
    }
    let b = s.load()?;
    let host = StoreHost::fresh(&b.info().software_id);
    let claimed_brands: BTreeSet<&str> = s.claims.brands.iter().map(String::as_str).collect();
    let claimed_protocols: BTreeSet<&str> = s.claims.protocols.iter().map(String::as_str).collect();
    let mut problems = Vec::new();
    for d in directions(s) {
        let brands = b
            .find_accepted_payment_brand(
                &host,
                &FindAcceptedPaymentBrand {
                    amount: amount_in(d.clone()),
                    merchant_pay_id: "KitM1".into(),
                    merchant_org_id: Some("shop.example".into()),
                    ..Default::default()
                },
            )
            .map_err(|e| format!("FindAcceptedPaymentBrand ({d}): {}", show(&e)))?
            .brands;
        for item in &brands {
            if item.brand_name.is_empty() || item.brand_logo_net_locn.is_empty() {
                problems.push(format!(
                    "{d}: brand {} has no BrandName or no BrandLogoNetLocn (both required)",
                    item.brand_id
                ));
            }
        }
        let found: BTreeSet<&str> = brands.iter().map(|b| b.brand_id.as_str()).collect();
        if found != claimed_brands {
            problems.push(format!(
                "{d}: FindAcceptedPaymentBrand gives {found:?}, the claims say {claimed_brands:?}"
            ));
        }
        if !s.claims.claims_call("FindAcceptedPaymentProtocol") {
            continue;
        }
        let mut protocols = BTreeSet::new();
        for brand in &brands {
            let r = b
                .find_accepted_payment_protocol(
                    &host,
                    &FindAcceptedPaymentProtocol {
                        brand_id: Some(brand.brand_id.clone()),
                        amount: amount_in(d.clone()),
                        merchant_pay_id: "KitM1".into(),
                        merchant_org_id: Some("shop.example".into()),
                        brand_content: brand.content.clone(),
                        ..Default::default()
                    },
                )
                .map_err(|e| {
                    format!(
                        "FindAcceptedPaymentProtocol ({d}, {}): {}",
                        brand.brand_id,
                        show(&e)
                    )
                })?;
            if r.protocols.is_empty() {
                problems.push(format!(
                    "{d}: FindAcceptedPaymentProtocol gives no protocol for brand {} (one or more required)",
                    brand.brand_id
                ));
            }
            for p in &r.protocols {
                if p.protocol_name.is_empty() {
                    problems.push(format!(
                        "{d}: protocol {} has no ProtocolName",
                        p.protocol_id
                    ));
                }
                if p.currency_amounts.is_empty() {
                    problems.push(format!(
                        "{d}: protocol {} has no CurrencyAmount (one or more required)",
                        p.protocol_id
                    ));
                }
                protocols.insert(p.protocol_id.clone());
            }
        }
        let found: BTreeSet<&str> = protocols.iter().map(String::as_str).collect();
        if found != claimed_protocols {
            problems.push(format!(
                "{d}: FindAcceptedPaymentProtocol gives {found:?}, the claims say {claimed_protocols:?}"
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(format!(
        "brands {claimed_brands:?} and protocols {claimed_protocols:?} for {:?}",
        directions(s).iter().map(|d| d.as_str()).collect::<Vec<_>>()
    ))
}

fn instruments(s: &Subject) -> Res {
    if !s.plays(&TradingRole::Consumer) {
        return skip("the claims name no Consumer role");
    }
    let b = s.load()?;
    let host = StoreHost::fresh(&b.info().software_id);
    let mut listed = BTreeSet::new();
    let mut problems = Vec::new();
    let mut combinations = 0;
    for d in directions(s) {
        for brand in &s.claims.brands {
            for protocol in &s.claims.protocols {
                combinations += 1;
                let r = b
                    .find_payment_instrument(
                        &host,
                        &FindPaymentInstrument {
                            brand_id: brand.clone(),
                            protocol_id: protocol.clone(),
                            amount: amount_in(d.clone()),
                            consumer_pay_id: "KitC1".into(),
                            ..Default::default()
                        },
                    )
                    .map_err(|e| {
                        format!(
                            "FindPaymentInstrument ({d}, {brand}, {protocol}): {}",
                            show(&e)
                        )
                    })?;
                for i in r.instruments {
                    if i.id.is_empty() || i.pay_inst_name.is_empty() {
                        problems.push(format!(
                            "{d}, {brand}, {protocol}: an instrument has no Id or no PayInstName"
                        ));
                    }
                    listed.insert(i.id);
                }
            }
        }
    }
    let missing: Vec<&str> = s
        .claims
        .test_instruments
        .iter()
        .map(|t| t.id.as_str())
        .filter(|id| !listed.contains(*id))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "test instruments {missing:?} are not listed by FindPaymentInstrument (listed: {listed:?})"
        ));
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(format!(
        "{} test instrument(s) listed; {} instrument(s) over {combinations} brand/protocol/direction combination(s)",
        s.claims.test_instruments.len(),
        listed.len()
    ))
}

// ---------------------------------------------------------------------------------------------
// Payments

fn approve(s: &Subject, d: &PayDirection) -> Res {
    payable(s)?;
    if !s.claims.directions.contains(d) {
        return skip(format!("the {d} direction is not claimed"));
    }
    let t = approving(s)?;
    let mut kit = Kit::new(s)?;
    let trans = pay_ok(&mut kit, t, d, false)?;
    paid_once(&kit, &trans)?;
    let ph = kit.ends(Node::PaymentHandler, &trans);
    ensure!(
        ph.iter()
            .all(|e| e.process_state == ProcessState::CompletedOk),
        "the Payment Handler's part {}",
        describe(ph.first())
    );
    let receipts = kit
        .consumer_end(&trans)
        .map(|o| o.receipts.len())
        .unwrap_or(0);
    ensure!(
        receipts == 1,
        "the Consumer kept {receipts} receipts, not 1"
    );
    kit.check_messages()?;
    Ok(format!("{d} payment with {}: {}", t.id, flow(&kit, &trans)))
}

fn brand_dependent(s: &Subject) -> Res {
    payable(s)?;
    let t = approving(s)?;
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let trans = pay_ok(&mut kit, t, &d, true)?;
    ensure!(
        !sent(&kit, &trans, "consumer", "TpoSelectionBlk").is_empty(),
        "no TPO Selection was sent: {}",
        flow(&kit, &trans)
    );
    ensure!(
        !kit.calls(Node::Consumer, "CheckPaymentPossibility")
            .is_empty(),
        "the Consumer's bridge was not asked CheckPaymentPossibility"
    );
    kit.check_messages()?;
    Ok(flow(&kit, &trans))
}

fn decline(s: &Subject, code: &CompletionCode) -> Res {
    payable(s)?;
    let claims = &s.claims;
    let Some(t) = decline_instruments(claims)
        .into_iter()
        .find(|t| t.completion_code.as_ref() == Some(code))
    else {
        return skip("no test instrument declines (ProcessState Failed with a CompletionCode)");
    };
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let trans = pay_ok(&mut kit, t, &d, false)?;
    let end = kit.consumer_end(&trans);
    ensure!(
        end.as_ref().is_some_and(|o| o.kind == EndKind::Failed),
        "the Consumer's part {}, not a business failure",
        describe(end.as_ref())
    );
    let last = sent(&kit, &trans, "paymenthandler", "PayRespBlk");
    let Some(last) = last.last() else {
        return Err(Stop::Fail(format!(
            "no Payment Response: {}",
            flow(&kit, &trans)
        )));
    };
    ensure!(
        error_codes(last).is_empty(),
        "the decline came with an Error Block {:?}: a decline is a Status, not an ErrorComp",
        error_codes(last)
    );
    let status = payment_status(last);
    ensure!(
        status
            .as_ref()
            .is_some_and(|st| st.process_state == ProcessState::Failed
                && st.completion_code.as_ref() == Some(code)),
        "the Payment Response's Status is {}, expected Payment Failed {code}",
        status.as_ref().map(show_status).unwrap_or_default()
    );
    let ph = kit.ends(Node::PaymentHandler, &trans);
    ensure!(
        ph.len() == 1 && ph[0].completion_code.as_ref() == Some(code),
        "the Payment Handler's part {}",
        describe(ph.first())
    );
    kit.check_messages()?;
    Ok(format!("{} declined with {code}", t.id))
}

fn exchange_rounds(s: &Subject) -> Res {
    payable(s)?;
    let Some(t) = multi_round(s) else {
        return skip("no test instrument claims ExchangeRounds of 1 or more");
    };
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let trans = pay_ok(&mut kit, t, &d, false)?;
    let from_ph = sent(&kit, &trans, "paymenthandler", "PayExchBlk").len();
    let from_consumer = sent(&kit, &trans, "consumer", "PayExchBlk").len();
    let rounds = t.exchange_rounds as usize;
    ensure!(
        from_ph == rounds && from_consumer == rounds,
        "{} claims {rounds} round(s); the Payment Handler sent {from_ph} Payment Exchange(s), the Consumer {from_consumer}: {}",
        t.id,
        flow(&kit, &trans)
    );
    kit.check_messages()?;
    Ok(format!(
        "{} round(s) with {}: {}",
        rounds,
        t.id,
        flow(&kit, &trans)
    ))
}

fn transient(s: &Subject) -> Res {
    payable(s)?;
    let Some(t) = s.claims.test_instruments.iter().find(|t| t.transient) else {
        return skip("no transient test instrument is claimed");
    };
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let trans = kit.pay(&t.id, &d, false)?;
    let first = kit
        .messages(&trans)
        .into_iter()
        .find(|e| e.from == "paymenthandler")
        .map(|e| e.xml.clone());
    let codes = first.as_deref().map(error_codes).unwrap_or_default();
    ensure!(
        codes
            .iter()
            .any(|(_, sev)| *sev == Severity::TransientError),
        "the Payment Handler's first answer is not a TransientError: {}",
        flow(&kit, &trans)
    );
    kit.settle(&trans, 30);
    let end = kit.consumer_end(&trans);
    ensure!(
        end.as_ref().is_some_and(|o| o.kind == EndKind::TimedOut
            && o.process_state == ProcessState::Failed
            && o.completion_code == Some(CompletionCode::TimedOutRcvr)),
        "after the retries the Consumer's part {}, expected a time-out Failed TimedOutRcvr",
        describe(end.as_ref())
    );
    let ph = kit.ends(Node::PaymentHandler, &trans);
    ensure!(
        ph.iter()
            .all(|e| e.process_state != ProcessState::CompletedOk),
        "the Payment Handler completed a payment that timed out"
    );
    let requests = sent(&kit, &trans, "consumer", "PayReqBlk").len();
    kit.check_messages()?;
    Ok(format!(
        "{} Payment Request(s) answered with TransientError, then TimedOutRcvr",
        requests
    ))
}

fn duplicate_request(s: &Subject) -> Res {
    payable(s)?;
    let t = approving(s)?;
    let mut kit = Kit::new(s)?;
    kit.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Duplicate));
    let trans = pay_ok(&mut kit, t, &direction(s), false)?;
    let answers: Vec<_> = kit
        .messages(&trans)
        .into_iter()
        .filter(|e| {
            e.from == "paymenthandler"
                && (has_block(&e.xml, "PayRespBlk") || has_block(&e.xml, "PayExchBlk"))
        })
        .map(|e| e.xml.clone())
        .collect();
    ensure!(
        answers.len() >= 2 && answers[0] == answers[1],
        "the two copies of the Payment Request were not answered with the same bytes: {}",
        flow(&kit, &trans)
    );
    paid_once(&kit, &trans)?;
    ensure!(
        kit.ends(Node::Consumer, &trans).len() == 1,
        "the Consumer's part ended more than once"
    );
    kit.check_messages()?;
    Ok(format!(
        "both copies answered alike; paid once: {}",
        flow(&kit, &trans)
    ))
}

fn lost_request(s: &Subject) -> Res {
    payable(s)?;
    let t = approving(s)?;
    let mut kit = Kit::new(s)?;
    kit.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Drop));
    let trans = kit.pay(&t.id, &direction(s), false)?;
    ensure!(
        kit.consumer_end(&trans).is_none(),
        "the Consumer's part ended without a Payment Response: {}",
        describe(kit.consumer_end(&trans).as_ref())
    );
    kit.settle(&trans, 3);
    expect_end(&kit, &trans, t)?;
    let requests = sent(&kit, &trans, "consumer", "PayReqBlk");
    ensure!(
        requests.len() == 2 && requests[0] == requests[1],
        "expected the Payment Request twice, the same bytes: {}",
        flow(&kit, &trans)
    );
    paid_once(&kit, &trans)?;
    kit.check_messages()?;
    Ok(flow(&kit, &trans))
}

fn lost_response(s: &Subject) -> Res {
    payable(s)?;
    let t = approving(s)?;
    let mut kit = Kit::new(s)?;
    kit.set_fate(fate_for("PayRespBlk", "paymenthandler", 1, Fate::Drop));
    let trans = kit.pay(&t.id, &direction(s), false)?;
    ensure!(
        kit.consumer_end(&trans).is_none(),
        "the Consumer's part ended without the Payment Response: {}",
        describe(kit.consumer_end(&trans).as_ref())
    );
    ensure!(
        kit.ends(Node::PaymentHandler, &trans).len() == 1,
        "the Payment Handler did not end its part before the response was lost"
    );
    kit.settle(&trans, 3);
    expect_end(&kit, &trans, t)?;
    let responses = sent(&kit, &trans, "paymenthandler", "PayRespBlk");
    ensure!(
        responses.len() >= 2 && responses.iter().all(|r| *r == responses[0]),
        "the Payment Response was not replayed byte for byte: {}",
        flow(&kit, &trans)
    );
    paid_once(&kit, &trans)?;
    kit.check_messages()?;
    Ok(flow(&kit, &trans))
}

fn duplicate_response(s: &Subject) -> Res {
    payable(s)?;
    let t = approving(s)?;
    let mut kit = Kit::new(s)?;
    kit.set_fate(fate_for("PayRespBlk", "paymenthandler", 1, Fate::Duplicate));
    let trans = pay_ok(&mut kit, t, &direction(s), false)?;
    let ends = kit.ends(Node::Consumer, &trans);
    ensure!(
        ends.len() == 1,
        "the Consumer's part ended {} times",
        ends.len()
    );
    let checks = kit.calls(Node::Consumer, "CheckPaymentReceipt").len();
    ensure!(
        checks <= 1,
        "the Consumer's bridge checked the receipt {checks} times"
    );
    let msgs = kit.messages(&trans);
    let after = msgs
        .iter()
        .skip_while(|e| !has_block(&e.xml, "PayRespBlk"))
        .filter(|e| e.from == "consumer")
        .count();
    ensure!(
        after == 0,
        "the Consumer sent {after} message(s) after the Payment Response: {}",
        flow(&kit, &trans)
    );
    kit.check_messages()?;
    Ok(flow(&kit, &trans))
}

fn crash_resume(s: &Subject) -> Res {
    payable(s)?;
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let (t, how) = match multi_round(s) {
        Some(t) => {
            kit.set_fate(fate_for("PayExchBlk", "consumer", 1, Fate::Drop));
            (
                t,
                "mid-exchange, after the Consumer's Payment Exchange was lost",
            )
        }
        None => {
            kit.set_fate(fate_for("PayRespBlk", "paymenthandler", 1, Fate::Drop));
            (
                approving(s)?,
                "after the Payment Response was lost (no instrument claims exchange rounds)",
            )
        }
    };
    let trans = kit.pay(&t.id, &d, false)?;
    kit.net.clear_fate();
    ensure!(
        kit.consumer_end(&trans).is_none(),
        "the Consumer's part ended before the crash: {}",
        describe(kit.consumer_end(&trans).as_ref())
    );
    kit.restart()?;
    kit.settle(&trans, 4);
    expect_end(&kit, &trans, t)?;
    paid_once(&kit, &trans)?;
    kit.check_messages()?;
    Ok(format!("restarted {how}: {}", flow(&kit, &trans)))
}

fn inquiry_mid_payment(s: &Subject) -> Res {
    payable(s)?;
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let (t, expected_state) = match multi_round(s) {
        Some(t) => {
            kit.set_fate(fate_for("PayExchBlk", "consumer", 1, Fate::Drop));
            (t, ProcessState::InProgress)
        }
        None => {
            kit.set_fate(fate_for("PayRespBlk", "paymenthandler", 1, Fate::Drop));
            let t = approving(s)?;
            (t, expected(t).0)
        }
    };
    let trans = kit.pay(&t.id, &d, false)?;
    kit.net.clear_fate();
    let status = inquire(&mut kit, &trans)?;
    ensure!(
        status.status_type == StatusType::Payment && status.process_state == expected_state,
        "the Inquiry Response reports {}, expected Payment {expected_state}",
        show_status(&status)
    );
    kit.settle(&trans, 4);
    expect_end(&kit, &trans, t)?;
    paid_once(&kit, &trans)?;
    kit.check_messages()?;
    Ok(format!(
        "mid-payment: {}; then {}",
        show_status(&status),
        describe(kit.consumer_end(&trans).as_ref())
    ))
}

fn inquiry_after_payment(s: &Subject) -> Res {
    payable(s)?;
    let d = direction(s);
    let mut found = Vec::new();
    let mut cases = vec![approving(s)?];
    cases.extend(decline_instruments(&s.claims).into_iter().take(1));
    for t in cases {
        let mut kit = Kit::new(s)?;
        let trans = pay_ok(&mut kit, t, &d, false)?;
        let status = inquire(&mut kit, &trans)?;
        let (state, code) = expected(t);
        ensure!(
            status.process_state == state && status.completion_code == code,
            "after paying with {}, the Inquiry Response reports {}",
            t.id,
            show_status(&status)
        );
        kit.check_messages()?;
        found.push(format!("{}: {}", t.id, show_status(&status)));
    }
    Ok(found.join("; "))
}

fn cancel(s: &Subject) -> Res {
    payable(s)?;
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let (t, exchanging) = match multi_round(s) {
        Some(t) => {
            kit.set_fate(fate_for("PayExchBlk", "consumer", 1, Fate::Drop));
            (t, true)
        }
        None => {
            kit.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Drop));
            (approving(s)?, false)
        }
    };
    let trans = kit.pay(&t.id, &d, false)?;
    kit.net.clear_fate();
    let now = kit.net.now;
    let consumer = kit.node(Node::Consumer);
    let out = kit
        .net
        .engine(consumer)
        .cancel(&trans, now)
        .map_err(|e| format!("the Consumer could not cancel: {e}; {}", flow(&kit, &trans)))?;
    kit.net.run(consumer, out);
    let end = kit.consumer_end(&trans);
    ensure!(
        end.as_ref().is_some_and(|o| o.kind == EndKind::Cancelled
            && o.completion_code == Some(CompletionCode::ConsCancelled)),
        "the Consumer's part {} after cancelling",
        describe(end.as_ref())
    );
    let cancels = sent(&kit, &trans, "consumer", "CancelBlk");
    let status = cancels.last().and_then(|x| read(x)).and_then(|m| {
        m.blocks.into_iter().find_map(|b| match b {
            TradingBlock::Cancel(c) => Some(c.status),
            _ => None,
        })
    });
    ensure!(
        status
            .as_ref()
            .is_some_and(|st| st.status_type == StatusType::Payment
                && st.completion_code == Some(CompletionCode::ConsCancelled)),
        "no Cancel Block with a Payment ConsCancelled Status went to the Payment Handler: {}",
        flow(&kit, &trans)
    );
    let before = kit.messages(&trans).len();
    kit.net.advance(60_000);
    kit.net.advance(60_000);
    ensure!(
        kit.messages(&trans).len() == before,
        "messages were sent after the cancel: {}",
        flow(&kit, &trans)
    );
    let ph = kit.ends(Node::PaymentHandler, &trans);
    ensure!(
        ph.iter()
            .all(|e| e.process_state != ProcessState::CompletedOk),
        "the Payment Handler completed a cancelled payment"
    );
    if exchanging && s.claims.claims_call("InquireProcessState") {
        let pay_id = kit
            .calls(Node::PaymentHandler, "StartPaymentPaymentHandler")
            .first()
            .map(|c| c.pay_id.clone())
            .unwrap_or_default();
        let host = kit.host(Node::PaymentHandler);
        let state = kit
            .bridge
            .inquire_process_state(
                &host,
                &InquireProcessState {
                    pay_id: pay_id.clone(),
                    ..Default::default()
                },
            )
            .map_err(|e| {
                format!(
                    "InquireProcessState({pay_id}) at the Payment Handler: {}",
                    show(&e)
                )
            })?;
        ensure!(
            state.status.process_state != PaymentState::Iotp(ProcessState::CompletedOk),
            "the Payment Handler's bridge reports the cancelled payment {pay_id} CompletedOk"
        );
    }
    kit.check_messages()?;
    Ok(format!(
        "cancelled {}: {}",
        if exchanging {
            "during the Payment Exchange"
        } else {
            "while the Payment Request was unanswered (no instrument claims exchange rounds)"
        },
        flow(&kit, &trans)
    ))
}

/// The receipt parts the Consumer's bridge was given to check, and its payment id.
fn receipt_of(kit: &Kit<'_>) -> Result<(String, Vec<PackagedContent>), Stop> {
    let checks = kit.calls(Node::Consumer, "CheckPaymentReceipt");
    let Some(check) = checks.first() else {
        return Err(Stop::Fail(
            "the Consumer's bridge was never asked CheckPaymentReceipt".into(),
        ));
    };
    Ok((check.pay_id.clone(), check.receipt.clone()))
}

fn receipt_check(s: &Subject) -> Res {
    if !s.claims.claims_call("CheckPaymentReceipt") {
        return skip("CheckPaymentReceipt is not claimed");
    }
    payable(s)?;
    let t = approving(s)?;
    let mut kit = Kit::new(s)?;
    pay_ok(&mut kit, t, &direction(s), false)?;
    let checks = kit.calls(Node::Consumer, "CheckPaymentReceipt");
    ensure!(
        checks.len() == 1 && checks[0].answer == Answer::Ok,
        "the real receipt was not accepted once: {:?}",
        checks.iter().map(|c| &c.answer).collect::<Vec<_>>()
    );
    let (pay_id, receipt) = receipt_of(&kit)?;
    if receipt.iter().all(|p| p.data.is_empty()) {
        return Ok("the real receipt is accepted; it has no content to forge".into());
    }
    let seed = std::cell::Cell::new(0xfeed_beef_u64);
    let forged: Vec<PackagedContent> = receipt
        .iter()
        .map(|p| PackagedContent {
            data: (0..p.data.len().max(8))
                .map(|_| b'a' + (next_random(&seed) % 26) as u8)
                .collect(),
            ..p.clone()
        })
        .collect();
    let host = kit.host(Node::Consumer);
    let r = kit.bridge.check_payment_receipt(
        &host,
        &CheckPaymentReceipt {
            pay_id,
            receipt: forged,
            ..Default::default()
        },
    );
    match r {
        Ok(()) => Err(Stop::Fail(
            "a forged receipt (the data of every part replaced) was accepted".into(),
        )),
        Err(e) if e.code == ApiErrorCode::ReqNotSupp => Err(Stop::Fail(format!(
            "CheckPaymentReceipt answered ReqNotSupp for a forged receipt: {}",
            show(&e)
        ))),
        Err(e) => Ok(format!(
            "the real receipt ({} part(s)) accepted; a forged one refused with {}",
            receipt.len(),
            e.code.as_str()
        )),
    }
}

fn receipt_expand(s: &Subject) -> Res {
    if !s.claims.claims_call("ExpandPaymentReceipt") {
        return skip("ExpandPaymentReceipt is not claimed");
    }
    payable(s)?;
    let t = approving(s)?;
    let mut kit = Kit::new(s)?;
    pay_ok(&mut kit, t, &direction(s), false)?;
    let (pay_id, receipt) = receipt_of(&kit)?;
    let host = kit.host(Node::Consumer);
    let r = kit
        .bridge
        .expand_payment_receipt(
            &host,
            &ExpandPaymentReceipt {
                pay_id: pay_id.clone(),
                receipt,
                ..Default::default()
            },
        )
        .map_err(|e| format!("ExpandPaymentReceipt({pay_id}): {}", show(&e)))?;
    let mut problems = Vec::new();
    if let Some(b) = &r.brand_id
        && !s.claims.brands.contains(b)
    {
        problems.push(format!("BrandId {b} is not claimed"));
    }
    if let Some(p) = &r.protocol_id
        && !s.claims.protocols.contains(p)
    {
        problems.push(format!("ProtocolId {p} is not claimed"));
    }
    if let Some(a) = &r.amount
        && a.curr_code != CURRENCY
    {
        problems.push(format!(
            "CurrCode {} is not the payment's {CURRENCY}",
            a.curr_code
        ));
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(format!(
        "BrandId {:?}, ProtocolId {:?}, ProtocolTransId {:?}",
        r.brand_id, r.protocol_id, r.protocol_trans_id
    ))
}

fn authentication(s: &Subject) -> Res {
    if s.claims.auth_algorithms.is_empty() {
        return skip("no authentication algorithm is claimed");
    }
    if !s.plays(&TradingRole::Merchant) || !s.plays(&TradingRole::Consumer) {
        return skip(
            "an authentication needs the scheme's Merchant (authenticator) and Consumer parts",
        );
    }
    let mut kit = Kit::new(s)?;
    let trans = kit.start("", TransactionType::BaselineAuthentication, false, None)?;
    let end = kit.consumer_end(&trans);
    ensure!(
        end.as_ref()
            .is_some_and(|o| o.process_state == ProcessState::CompletedOk),
        "the authentication {}: {}",
        describe(end.as_ref()),
        flow(&kit, &trans)
    );
    kit.check_messages()?;
    Ok(flow(&kit, &trans))
}

// ---------------------------------------------------------------------------------------------
// Garbage

/// Turns a Payment Request's scheme data into garbage.
type Garble = fn(&[PackagedContent], &std::cell::Cell<u64>) -> Vec<PackagedContent>;

fn malformed_scheme_data(s: &Subject) -> Res {
    payable(s)?;
    let t = approving(s)?;
    let d = direction(s);
    let mut kit = Kit::new(s)?;
    let seed = std::cell::Cell::new(0x0bad_5eed_u64);
    let variants: [(&str, Garble); 3] = [
        ("the scheme's parts with random bytes", |pcs, seed| {
            pcs.iter()
                .map(|p| PackagedContent {
                    content: iotp::msg::codes::ContentType::MimeType(
                        "application/octet-stream".into(),
                    ),
                    transform: iotp::msg::codes::Transform::Base64,
                    data: (0..64).map(|_| next_random(seed) as u8).collect(),
                    ..p.clone()
                })
                .collect()
        }),
        ("the scheme's parts with text garbage", |pcs, _| {
            pcs.iter()
                .map(|p| PackagedContent {
                    transform: iotp::msg::codes::Transform::None,
                    data: b"=;=;<garbage> & \"not scheme data\" ;;==".to_vec(),
                    ..p.clone()
                })
                .collect()
        }),
        ("one unknown part", |_, seed| {
            vec![PackagedContent {
                name: Some("ConformanceGarbage".into()),
                ..PackagedContent::base64(
                    (0..4096)
                        .map(|_| next_random(seed) as u8)
                        .collect::<Vec<u8>>(),
                )
            }]
        }),
    ];
    let mut found = Vec::new();
    for (what, make) in variants {
        kit.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Drop));
        let trans = kit.pay(&t.id, &d, false)?;
        kit.net.clear_fate();
        let Some(request) = sent(&kit, &trans, "consumer", "PayReqBlk").first().cloned() else {
            return Err(Stop::Fail(format!(
                "no Payment Request was sent: {}",
                flow(&kit, &trans)
            )));
        };
        let mut m = read(&request).ok_or("the Payment Request is not valid")?;
        let mut replaced = false;
        for b in &mut m.blocks {
            if let TradingBlock::PaymentRequest(p) = b
                && let Some(psd) = &mut p.pay_scheme_data
            {
                psd.packaged_contents = make(&psd.packaged_contents, &seed);
                replaced = true;
            }
        }
        if !replaced {
            return skip("the scheme puts no PaySchemeData in its Payment Request");
        }
        let garbage: std::sync::Arc<[u8]> = m.to_xml().into_bytes().into();
        let now = kit.net.now;
        let ph = kit.node(Node::PaymentHandler);
        let out = kit.net.engine(ph).receive(&garbage, now);
        kit.extra
            .push((format!("Payment Request with {what}"), garbage));
        let Some(reply) = out.reply().map(|r| r.xml.clone()) else {
            return Err(Stop::Fail(format!(
                "a Payment Request with {what} was not answered"
            )));
        };
        kit.extra.push((
            format!("answer to the Payment Request with {what}"),
            reply.clone(),
        ));
        let codes = error_codes(&reply);
        let completed =
            payment_status(&reply).is_some_and(|st| st.process_state == ProcessState::CompletedOk);
        ensure!(
            !completed && codes.iter().any(|(_, sev)| *sev != Severity::Warning),
            "a Payment Request with {what} was answered without an Error Block{}",
            if completed { " (and paid!)" } else { "" }
        );
        found.push(format!(
            "{what}: {}",
            codes
                .iter()
                .map(|(c, sev)| format!("{sev} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The node survives: a good payment after the garbage.
    let trans = pay_ok(&mut kit, t, &d, false).map_err(|e| match e {
        Stop::Fail(m) => Stop::Fail(format!("after the garbage, a good payment failed: {m}")),
        other => other,
    })?;
    let _ = trans;
    kit.check_messages()?;
    Ok(format!(
        "{}; a good payment then completed",
        found.join("; ")
    ))
}

/// Checks that a document is an `IotpPaymentApiResponse` holding an `ErrorResponse` and no
/// answer.
fn error_document(doc: &[u8]) -> Result<String, String> {
    let root = parse_tree(doc, &Limits::default())
        .map_err(|e| format!("the answer is not an XML document: {e}"))?;
    if root.name != "IotpPaymentApiResponse" {
        return Err(format!(
            "the answer's root is {}, not IotpPaymentApiResponse",
            root.name
        ));
    }
    if root.attribute("xmlns").is_some_and(|n| n != NAMESPACE) {
        return Err("the answer is in the wrong namespace".into());
    }
    let children: Vec<_> = root
        .children
        .iter()
        .filter_map(|c| match c {
            XmlNode::Element(e) => Some(e),
            XmlNode::Text(_) => None,
        })
        .collect();
    let Some(error) = children.iter().find(|e| e.name == "ErrorResponse") else {
        return Err(format!(
            "the answer holds {:?}, not an ErrorResponse",
            children.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()
        ));
    };
    if let Some(other) = children.iter().find(|e| e.name != "ErrorResponse") {
        return Err(format!(
            "the ErrorResponse comes with an answer, {}",
            other.name
        ));
    }
    let code = error.attribute("ErrorCode").unwrap_or("");
    let severity = error.attribute("Severity").unwrap_or("");
    if code.is_empty() {
        return Err("the ErrorResponse has no ErrorCode".into());
    }
    if !matches!(severity, "Warning" | "TransientError" | "HardError") {
        return Err(format!("the ErrorResponse's Severity is \"{severity}\""));
    }
    Ok(code.to_owned())
}

fn garbage(s: &Subject) -> Res {
    let Some(raw) = &s.raw else {
        return skip("the subject has no raw document interface (a plugin has one)");
    };
    let host = StoreHost::fresh(&s.claims.software_id);
    let mut problems = Vec::new();
    let mut codes = BTreeSet::new();
    for (what, doc) in garbage_documents() {
        match raw(&host, &doc) {
            Err(e) => problems.push(format!("{what}: no answer: {e}")),
            Ok(answer) => match error_document(&answer) {
                Ok(code) => {
                    codes.insert(code);
                }
                Err(p) => problems.push(format!("{what}: {p}")),
            },
        }
    }
    // Still alive: a good request gets a good answer document.
    let doc = encode_request(&ApiRequest::InquirePendingPayment(
        InquirePendingPayment::default(),
    ));
    match raw(&host, doc.as_bytes()) {
        Err(e) => problems.push(format!(
            "after the garbage, a good request got no answer: {e}"
        )),
        Ok(answer) => {
            match iotp::payapi::documents::decode_response(
                &answer,
                "InquirePendingPayment",
                &Limits::default(),
            ) {
                Ok(_) => {}
                Err(e) if matches!(e.code, ApiErrorCode::ReqNotSupp) => {}
                Err(e) if error_document(&answer).is_ok() => {
                    let _ = e;
                }
                Err(e) => problems.push(format!(
                    "after the garbage, a good request got a broken answer: {}",
                    show(&e)
                )),
            }
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(format!(
        "{} garbage documents answered with ErrorResponse {:?}; a good request then answered",
        garbage_documents().len(),
        codes
    ))
}

// ---------------------------------------------------------------------------------------------
// End is final

/// Violations of "no scheme data after End" in a payment's bridge calls and transcript.
fn after_end(kit: &Kit<'_>, trans: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // The wire: after the Payment Handler's Payment Response, no Payment Exchange from it.
    let msgs = kit.messages(trans);
    if let Some(first) = msgs
        .iter()
        .position(|e| e.from == "paymenthandler" && has_block(&e.xml, "PayRespBlk"))
    {
        for e in &msgs[first + 1..] {
            if e.from == "paymenthandler" && has_block(&e.xml, "PayExchBlk") {
                problems.push(format!(
                    "message {}: the Payment Handler sent a Payment Exchange after its Payment Response",
                    e.seq
                ));
            }
        }
    }
    // The bridges: once a payment's bridge answered End, its later steps end too, without new
    // scheme data (a replay of the same answer is allowed).
    for node in [Node::Consumer, Node::PaymentHandler] {
        let pay_ids: BTreeSet<String> = lock(&kit.log)
            .iter()
            .filter(|c| c.node == node.name() && !c.pay_id.is_empty())
            .map(|c| c.pay_id.clone())
            .collect();
        for pay_id in pay_ids {
            let mut ended: Option<Vec<PackagedContent>> = None;
            for c in kit.steps(node, &pay_id) {
                let Answer::Step { end, data } = &c.answer else {
                    continue;
                };
                if let Some(last) = &ended
                    && (!end || (!data.is_empty() && data != last))
                {
                    problems.push(format!(
                        "the {} bridge answered {} {} for payment {pay_id} after it had answered End",
                        node.name(),
                        c.call,
                        if *end { "End with new scheme data" } else { "Continue" }
                    ));
                }
                if *end && ended.is_none() {
                    ended = Some(data.clone());
                }
            }
        }
    }
    // The Consumer's last step, on the Payment Response's scheme data, must end: nothing can
    // carry scheme data after the Payment Response.
    let response_data = sent(kit, trans, "paymenthandler", "PayRespBlk")
        .first()
        .and_then(|x| read(x))
        .and_then(|m| {
            m.blocks.into_iter().find_map(|b| match b {
                TradingBlock::PaymentResponse(p) => p.pay_scheme_data,
                _ => None,
            })
        })
        .is_some();
    if response_data && let Ok(pay_id) = consumer_pay_id(kit) {
        match kit.steps(Node::Consumer, &pay_id).last().map(|c| c.answer.clone()) {
            Some(Answer::Step { end: true, data }) if data.is_empty() => {}
            Some(Answer::Step { end, data }) => problems.push(format!(
                "the Consumer's bridge answered the Payment Response's scheme data with {}{}: nothing can carry it after the Payment Response",
                if end { "End" } else { "Continue" },
                if data.is_empty() {
                    String::new()
                } else {
                    format!(" and {} part(s) of scheme data", data.len())
                }
            )),
            Some(Answer::Err { code, desc, .. }) => problems.push(format!(
                "the Consumer's bridge failed on the Payment Response's scheme data: {} {desc}",
                code.as_str()
            )),
            _ => {}
        }
    }
    problems
}

fn no_scheme_data_after_end(s: &Subject) -> Res {
    payable(s)?;
    let d = direction(s);
    let mut cases = vec![approving(s)?];
    cases.extend(multi_round(s));
    cases.extend(decline_instruments(&s.claims).into_iter().take(1));
    let mut problems = Vec::new();
    for t in &cases {
        let mut kit = Kit::new(s)?;
        let trans = pay_ok(&mut kit, t, &d, false)?;
        for p in after_end(&kit, &trans) {
            problems.push(format!("{}: {p}", t.id));
        }
        kit.check_messages()?;
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(format!(
        "End was final in payments with {:?}",
        cases.iter().map(|t| t.id.as_str()).collect::<Vec<_>>()
    ))
}

// ---------------------------------------------------------------------------------------------
// Claim ⇔ behaviour

fn claimed_calls(s: &Subject) -> Res {
    let b = s.load()?;
    let host = StoreHost::fresh(&b.info().software_id);
    let mut problems = Vec::new();
    let mut n = 0;
    for call in BRIDGE_CALLS.iter().filter(|c| s.claims.claims_call(c)) {
        n += 1;
        match exercise(&*b, &host, call, &s.claims) {
            Some(Err(e)) if e.code == ApiErrorCode::ReqNotSupp => problems.push(format!(
                "{call} is claimed but answered ReqNotSupp: {}",
                e.desc
            )),
            _ => {}
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(format!("{n} claimed call(s) answered"))
}

fn unclaimed_calls(s: &Subject) -> Res {
    let b = s.load()?;
    let host = StoreHost::fresh(&b.info().software_id);
    let mut problems = Vec::new();
    let mut n = 0;
    for call in BRIDGE_CALLS.iter().filter(|c| !s.claims.claims_call(c)) {
        n += 1;
        match exercise(&*b, &host, call, &s.claims) {
            Some(Err(e)) if e.code == ApiErrorCode::ReqNotSupp => {}
            Some(Err(e)) => problems.push(format!(
                "{call} is not claimed but answered {} instead of ReqNotSupp",
                show(&e)
            )),
            Some(Ok(())) => problems.push(format!("{call} is not claimed but answered")),
            None => {}
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    if n == 0 {
        return Ok("every call is claimed".into());
    }
    Ok(format!("{n} unclaimed call(s) answered ReqNotSupp"))
}
