//! The scheme through its RFC 3867 calls, each role with its own key-value space as on three
//! nodes: payments with every test card, the step-up round, idempotency, refunds, the Payment
//! Handler's checks, malformed data, the wallet, and what each role keeps and logs.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use iotp::msg::codes::{CompletionCode, ErrorCode, PayDirection, ProcessState, Severity};
use iotp::msg::model::PackagedContent;
use iotp::payapi::*;

use crate::card::CardType;
use crate::ecml::{self, Action, Auth, CardMessage, Challenge, ChallengeResp, TxnType};
use crate::processor::{Behaviour, Decline, TEST_CARDS};
use crate::{SccdScheme, merchant};

/// A host of one node: its key-value space, its log, a clock and a counter for random bytes.
#[derive(Default)]
pub(crate) struct Host {
    pub kv: RefCell<BTreeMap<String, Vec<u8>>>,
    pub logs: RefCell<Vec<String>>,
    pub now: Cell<i64>,
    pub counter: Cell<u8>,
    pub cancel: Cell<bool>,
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
        if self.cancel.get() {
            CallBackReply::Cancel(CompletionCode::ConsCancelled)
        } else {
            CallBackReply::Continue
        }
    }
    fn now_unix_millis(&self) -> i64 {
        self.now.get()
    }
    fn random(&self, out: &mut [u8]) {
        for b in out {
            self.counter.set(self.counter.get().wrapping_add(1));
            *b = self.counter.get();
        }
    }
    fn log(&self, _level: LogLevel, message: &str) {
        self.logs.borrow_mut().push(message.to_owned());
    }
}

impl Host {
    /// Every value and log line, as text.
    fn everything(&self) -> String {
        let mut all: Vec<String> = self
            .kv
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
            .collect();
        all.extend(self.logs.borrow().iter().cloned());
        all.join("\n")
    }
}

/// 2026-11-22T00:00:00Z.
const NOW: i64 = 1_795_305_600_000;

/// The Consumer, the Merchant and the Payment Handler, each on its own node.
struct World {
    scheme: SccdScheme,
    consumer: Host,
    merchant: Host,
    ph: Host,
}

impl World {
    fn new() -> World {
        let w = World {
            scheme: SccdScheme::new(),
            consumer: Host::default(),
            merchant: Host::default(),
            ph: Host::default(),
        };
        for h in [&w.consumer, &w.merchant, &w.ph] {
            h.now.set(NOW);
        }
        w
    }
}

pub(crate) fn amount(a: &str, direction: PayDirection) -> AmountInfo {
    AmountInfo {
        pay_direction: direction,
        curr_code_type: iotp::msg::codes::CurrCodeType::Iso4217A,
        curr_code: "USD".into(),
        amount: a.into(),
    }
}

fn brand_of(instrument: &str) -> &'static str {
    TEST_CARDS
        .iter()
        .find(|c| c.id == instrument)
        .map_or("VISA", |c| c.card_type.brand_id())
}

/// The Merchant's offer content for a brand: its PayProtocol's SCCD-Accept.
fn offer(w: &World, brand: &str, amount: &AmountInfo) -> OfferContent {
    let p = w
        .scheme
        .find_accepted_payment_protocol(
            &w.merchant,
            &FindAcceptedPaymentProtocol {
                brand_id: Some(brand.into()),
                amount: amount.clone(),
                merchant_pay_id: "M1".into(),
                ..Default::default()
            },
        )
        .expect("protocols");
    OfferContent {
        pay_protocol: p
            .protocols
            .first()
            .map(|p| p.pay_protocol_content.clone())
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// The Consumer's Payment Request data.
fn consumer_start(
    w: &World,
    instrument: &str,
    c_pay: &str,
    a: &AmountInfo,
) -> Vec<PackagedContent> {
    let brand = brand_of(instrument);
    let step = w
        .scheme
        .start_payment_consumer(
            &w.consumer,
            &StartPaymentConsumer {
                brand_id: brand.into(),
                payment_instrument_id: Some(instrument.into()),
                amount: a.clone(),
                protocol_id: crate::PROTOCOL_ID.into(),
                consumer_pay_id: c_pay.into(),
                offer: offer(w, brand, a),
                ..Default::default()
            },
        )
        .expect("consumer start");
    assert_eq!(step.cont_status, ContStatus::Continue);
    step.pay_scheme
}

fn ph_request(
    w: &World,
    brand: &str,
    p_pay: &str,
    a: &AmountInfo,
    data: Vec<PackagedContent>,
) -> StartPaymentPaymentHandler {
    StartPaymentPaymentHandler {
        brand_id: brand.into(),
        amount: a.clone(),
        protocol_id: crate::PROTOCOL_ID.into(),
        payment_handler_pay_id: p_pay.into(),
        merchant_org_id: "shop.example".into(),
        offer: offer(w, brand, a),
        pay_scheme: data,
        ..Default::default()
    }
}

fn ph_start(
    w: &World,
    brand: &str,
    p_pay: &str,
    a: &AmountInfo,
    data: Vec<PackagedContent>,
) -> ApiResult<SchemeStep> {
    w.scheme
        .start_payment_payment_handler(&w.ph, &ph_request(w, brand, p_pay, a, data))
}

fn cont(w: &World, host: &Host, pay_id: &str, data: Vec<PackagedContent>) -> ApiResult<SchemeStep> {
    w.scheme.continue_process(
        host,
        &ContinueProcess {
            pay_id: pay_id.into(),
            pay_scheme: data,
            ..Default::default()
        },
    )
}

fn state(w: &World, host: &Host, pay_id: &str) -> InquireProcessStateResponse {
    w.scheme
        .inquire_process_state(
            host,
            &InquireProcessState {
                pay_id: pay_id.into(),
                ..Default::default()
            },
        )
        .expect("state")
}

/// A whole payment: the Payment Handler's last step and its state.
fn pay(
    w: &World,
    instrument: &str,
    n: u32,
    a: &AmountInfo,
) -> (SchemeStep, InquireProcessStateResponse) {
    let (c_pay, p_pay) = (format!("C{n}"), format!("P{n}"));
    let data = consumer_start(w, instrument, &c_pay, a);
    let mut step = ph_start(w, brand_of(instrument), &p_pay, a, data).expect("ph start");
    while step.cont_status == ContStatus::Continue {
        let answer = cont(w, &w.consumer, &c_pay, step.pay_scheme).expect("consumer answers");
        assert_eq!(answer.cont_status, ContStatus::Continue);
        step = cont(w, &w.ph, &p_pay, answer.pay_scheme).expect("ph continues");
    }
    let last = cont(w, &w.consumer, &c_pay, step.pay_scheme.clone()).expect("consumer ends");
    assert_eq!(last, SchemeStep::end(Vec::new()));
    (step, state(w, &w.ph, &p_pay))
}

fn auth_of(step: &SchemeStep) -> Auth {
    Auth::read(ecml::find(&step.pay_scheme, ecml::AUTH).expect("SCCD-Auth")).expect("readable")
}

fn debit(a: &str) -> AmountInfo {
    amount(a, PayDirection::Debit)
}

fn credit(a: &str) -> AmountInfo {
    amount(a, PayDirection::Credit)
}

fn failed_with(s: &InquireProcessStateResponse) -> Option<CompletionCode> {
    (s.status.process_state == PaymentState::Iotp(ProcessState::Failed))
        .then(|| s.status.completion_code.clone())
        .flatten()
}

/// No value, log line or message of these hosts holds any test card's number or verification
/// value.
fn assert_no_card_data(what: &str, text: &str) {
    for c in TEST_CARDS {
        assert!(
            !text.contains(c.number),
            "{what} holds the number of {}:\n{text}",
            c.id
        );
        let cvv = format!("\"{}\"", c.verification);
        assert!(
            !text.contains(&cvv),
            "{what} holds a verification value:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn an_approved_payment_gives_a_truncated_auth_and_a_receipt_that_checks() {
    let w = World::new();
    let (step, st) = pay(&w, "approve", 1, &debit("10.00"));
    assert_eq!(step.cont_status, ContStatus::End);
    let auth = auth_of(&step);
    assert_eq!(auth.action, Action::Approve);
    assert_eq!(auth.truncated, "XXXXXXXXXXXX1111");
    assert_eq!(auth.card_type, "VISA");
    assert_eq!(auth.reason, "00");
    assert!(auth.approval.as_deref().is_some_and(|a| a.len() == 6));
    assert_eq!(
        (auth.transaction.amount.as_str(), auth.transaction.kind),
        ("10.00", TxnType::Debit)
    );
    assert_eq!(
        st.status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );
    assert_eq!(st.pay_receipt_name_refs, vec![ecml::AUTH.to_owned()]);
    // The Consumer: its payment CompletedOk, the receipt checks and expands.
    assert_eq!(
        state(&w, &w.consumer, "C1").status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );
    let receipt = step.pay_scheme.clone();
    w.scheme
        .check_payment_receipt(
            &w.consumer,
            &CheckPaymentReceipt {
                pay_id: "C1".into(),
                receipt: receipt.clone(),
                ..Default::default()
            },
        )
        .expect("the receipt checks");
    let x = w
        .scheme
        .expand_payment_receipt(
            &w.consumer,
            &ExpandPaymentReceipt {
                pay_id: "C1".into(),
                receipt,
                ..Default::default()
            },
        )
        .expect("expands");
    assert_eq!(x.brand_id.as_deref(), Some("VISA"));
    assert_eq!(x.payment_instrument_id.as_deref(), Some("approve"));
    assert_eq!(x.protocol_id.as_deref(), Some(crate::PROTOCOL_ID));
    assert_eq!(
        x.protocol_trans_id.as_deref(),
        Some(auth.reference.as_str())
    );
    assert_eq!(
        x.amount.map(|a| (a.amount, a.curr_code)),
        Some(("10.00".into(), "USD".into()))
    );
    // Every brand's approving card.
    for (i, id) in ["approve-mastercard", "approve-amex"]
        .into_iter()
        .enumerate()
    {
        let (step, st) = pay(&w, id, 10 + i as u32, &debit("5.00"));
        assert_eq!(auth_of(&step).action, Action::Approve, "{id}");
        assert_eq!(
            st.status.process_state,
            PaymentState::Iotp(ProcessState::CompletedOk)
        );
    }
}

#[test]
fn every_declining_test_card_declines_with_its_code() {
    let mut seen = 0;
    for c in TEST_CARDS {
        let Behaviour::Decline(d) = c.behaviour else {
            continue;
        };
        seen += 1;
        let w = World::new();
        let (step, st) = pay(&w, c.id, 1, &debit("10.00"));
        assert_eq!(failed_with(&st), Some(d.code()), "{}", c.id);
        assert!(st.pay_receipt_name_refs.is_empty());
        let auth = auth_of(&step);
        assert_eq!(
            (auth.action, auth.reason.as_str()),
            (Action::Decline, d.reason())
        );
        assert_eq!(auth.approval, None);
        assert_eq!(
            failed_with(&state(&w, &w.consumer, "C1")),
            Some(d.code()),
            "{}",
            c.id
        );
        // A decline is no receipt.
        let e = w
            .scheme
            .check_payment_receipt(
                &w.consumer,
                &CheckPaymentReceipt {
                    pay_id: "C1".into(),
                    receipt: step.pay_scheme,
                    ..Default::default()
                },
            )
            .expect_err("not a receipt");
        assert_eq!(e.code, ApiErrorCode::BusError);
        assert_eq!(c.id, format!("decline-{}", d.code()));
    }
    assert_eq!(seen, 5);
    // Every decline has its own response code, read back to its decline.
    for d in Decline::ALL {
        assert_eq!(Decline::from_reason(d.reason()), Some(d));
        assert!(!d.text().is_empty());
    }
}

#[test]
fn the_step_up_round_approves_on_the_right_answer_and_declines_on_a_wrong_one() {
    let w = World::new();
    let (step, st) = pay(&w, "extra-round", 1, &debit("10.00"));
    assert_eq!(auth_of(&step).action, Action::Approve);
    assert_eq!(
        st.status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );

    // A wrong answer.
    let a = debit("12.00");
    let data = consumer_start(&w, "extra-round", "C2", &a);
    let step = ph_start(&w, "VISA", "P2", &a, data.clone()).expect("challenge");
    assert_eq!(step.cont_status, ContStatus::Continue);
    let challenge =
        Challenge::read(ecml::find(&step.pay_scheme, ecml::CHALLENGE).expect("challenge"))
            .expect("readable");
    assert_eq!(challenge.card, "XXXXXXXXXXXX3220");
    assert_eq!(
        state(&w, &w.ph, "P2").status.process_state,
        PaymentState::Iotp(ProcessState::InProgress)
    );
    // The same Payment Request again gets the same challenge.
    assert_eq!(ph_start(&w, "VISA", "P2", &a, data), Ok(step.clone()));
    let other_nonce = ChallengeResp {
        nonce: "00".into(),
        answer: "00".into(),
    };
    let e = cont(&w, &w.ph, "P2", vec![other_nonce.packaged()]).expect_err("another nonce");
    assert_eq!(e.code, ApiErrorCode::Iotp(ErrorCode::EncapProtErr));
    let wrong = ChallengeResp {
        nonce: challenge.nonce.clone(),
        answer: "0123456789abcdef".into(),
    };
    let end = cont(&w, &w.ph, "P2", vec![wrong.packaged()]).expect("answered");
    assert_eq!(end.cont_status, ContStatus::End);
    assert_eq!(auth_of(&end).reason, Decline::ChallengeFailed.reason());
    assert_eq!(
        failed_with(&state(&w, &w.ph, "P2")),
        Some(CompletionCode::AuthError)
    );
    // Asked again after the end: the same end.
    let right = crate::wallet::test_cards()
        .into_iter()
        .find(|c| c.id() == "extra-round")
        .expect("card")
        .answer(&challenge.nonce);
    assert_eq!(cont(&w, &w.ph, "P2", vec![right.packaged()]), Ok(end));
}

#[test]
fn the_same_pay_id_authorises_once() {
    let w = World::new();
    let a = debit("10.00");
    let data = consumer_start(&w, "approve", "C1", &a);
    let first = ph_start(&w, "VISA", "P1", &a, data.clone()).expect("first");
    let txn = || w.ph.kv.borrow().get("processor/txn/P1").cloned();
    let booked = txn();
    assert!(booked.is_some());
    // Retransmitted: the same answer, nothing new in the processor's books.
    assert_eq!(
        ph_start(&w, "VISA", "P1", &a, data.clone()),
        Ok(first.clone())
    );
    assert_eq!(txn(), booked);
    // Another card for the same PayId: still the first answer.
    let other = consumer_start(&w, "approve-mastercard", "C9", &a);
    assert_eq!(
        ph_start(&w, "MasterCard", "P1", &a, other),
        Ok(first.clone())
    );
    // A crash after the processor's authorisation, before the Payment Handler's record: the
    // processor answers with its first decision.
    w.ph.kv.borrow_mut().remove("handler/pay/P1");
    assert_eq!(ph_start(&w, "VISA", "P1", &a, data), Ok(first));
    assert_eq!(txn(), booked);
    let txns =
        w.ph.kv
            .borrow()
            .keys()
            .filter(|k| k.starts_with("processor/txn/"))
            .count();
    assert_eq!(txns, 1);
}

#[test]
fn a_processor_time_out_leaves_no_trace_and_stays_a_time_out() {
    let w = World::new();
    let a = debit("10.00");
    let data = consumer_start(&w, "timeout", "C1", &a);
    for _ in 0..2 {
        let e = ph_start(&w, "VISA", "P1", &a, data.clone()).expect_err("times out");
        assert_eq!(e.severity, Severity::TransientError);
        assert_eq!(e.min_retry_secs, Some(1));
        assert!(!w.ph.kv.borrow().keys().any(|k| k.contains("P1")));
    }
}

#[test]
fn refunds_go_against_an_earlier_authorisation_of_the_same_card() {
    let w = World::new();
    let (paid, _) = pay(&w, "approve", 1, &debit("30.00"));
    let original = auth_of(&paid).reference;
    // The wallet names the authorisation; the processor books the refund against it.
    let (step, st) = pay(&w, "approve", 2, &credit("19.95"));
    let refund = auth_of(&step);
    assert_eq!(refund.action, Action::Approve);
    assert_eq!(refund.transaction.kind, TxnType::Credit);
    assert_eq!(refund.transaction.references, vec![original.clone()]);
    assert_eq!(
        st.status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );
    // 10.05 is left: a second 19.95 names nothing (an unreferenced credit).
    let (step, _) = pay(&w, "approve", 3, &credit("19.95"));
    assert!(auth_of(&step).transaction.references.is_empty());
    // What the processor refuses, with a crafted SCCD-Card naming authorisations.
    let crafted = |instrument: &str, amount: &str, references: &[&str], n: u32| {
        let a = credit(amount);
        let data = consumer_start(&w, instrument, &format!("C{n}"), &a);
        let mut m = CardMessage::read(&data[0]).expect("card");
        m.transaction.references = references.iter().map(|r| (*r).to_owned()).collect();
        let step = ph_start(
            &w,
            brand_of(instrument),
            &format!("P{n}"),
            &a,
            vec![m.packaged()],
        )
        .expect("answered");
        (auth_of(&step), state(&w, &w.ph, &format!("P{n}")))
    };
    let (_, st) = crafted("approve", "10.06", &[&original], 4);
    assert_eq!(failed_with(&st), Some(CompletionCode::Unspecified));
    let (auth, st) = crafted("approve-mastercard", "1.00", &[&original], 5);
    assert_eq!(auth.reason, Decline::OtherCard.reason());
    assert_eq!(failed_with(&st), Some(CompletionCode::BadInstrument));
    // Authorisations of another processor (not in these books) are passed over: the first
    // in these books takes the credit; none there, it is an unreferenced credit.
    let (auth, _) = crafted("approve", "1.00", &["Aelsewhere"], 6);
    assert_eq!(auth.action, Action::Approve);
    assert!(auth.transaction.references.is_empty());
    // The rest, 10.05, is refundable: once, even when the refund is asked again.
    let (auth, st) = crafted("approve", "10.05", &["Aelsewhere", &original], 7);
    assert_eq!(auth.transaction.references, vec![original.clone()]);
    assert_eq!(auth.action, Action::Approve);
    assert_eq!(
        st.status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );
    w.ph.kv.borrow_mut().remove("handler/pay/P7");
    let (auth, _) = crafted("approve", "10.05", &[&original], 7);
    assert_eq!(auth.action, Action::Approve);
    let (auth, _) = crafted("approve", "0.01", &[&original], 8);
    assert_eq!(auth.reason, Decline::ExceedsAuthorisation.reason());
    let t = w
        .scheme
        .processor
        .lookup(&w.ph, "P1")
        .expect("books")
        .expect("txn");
    let refunded: i64 = t.refunds.iter().map(|(_, m)| m.0).sum();
    assert_eq!(crate::card::Money(refunded).to_text(), "30.00");
    // A declined authorisation is no authorisation: the credit is an unreferenced one (and
    // this card declines everything).
    let (declined, _) = pay(&w, "decline-InsuffFunds", 9, &debit("5.00"));
    let (auth, _) = crafted(
        "decline-InsuffFunds",
        "1.00",
        &[&auth_of(&declined).reference],
        10,
    );
    assert_eq!(auth.reason, Decline::InsufficientFunds.reason());
    // The Consumer refuses an SCCD-Auth booking its credit against an authorisation it did
    // not name.
    let a = credit("1.00");
    consumer_start(&w, "approve", "C11", &a);
    let mut forged = auth.clone();
    forged.transaction = crate::ecml::Transaction {
        amount: "1.00".into(),
        currency: "USD".into(),
        kind: TxnType::Credit,
        references: vec!["Aother".into()],
    };
    forged.truncated = "XXXXXXXXXXXX1111".into();
    let e = cont(&w, &w.consumer, "C11", vec![forged.packaged(ecml::AUTH)]).expect_err("forged");
    assert!(e.desc.contains("did not name"), "{e}");
}

#[test]
fn the_payment_handler_checks_amount_currency_type_brand_luhn_and_expiry() {
    let w = World::new();
    let a = debit("10.00");
    let good = || {
        let data = consumer_start(&w, "approve", "C1", &a);
        CardMessage::read(&data[0]).expect("card")
    };
    let encap = |m: CardMessage, brand: &str, amount: &AmountInfo, why: &str| {
        let e = ph_start(&w, brand, "Px", amount, vec![m.packaged()]).expect_err(why);
        assert_eq!(
            e.code,
            ApiErrorCode::Iotp(ErrorCode::EncapProtErr),
            "{why}: {e}"
        );
        assert!(e.desc.contains(why), "{why}: {e}");
        assert!(!e.desc.contains("4111111111111111"));
        assert!(!w.ph.kv.borrow().contains_key("handler/pay/Px"));
    };
    encap(
        good(),
        "VISA",
        &debit("10.01"),
        "differs from the selected CurrencyAmount",
    );
    encap(
        good(),
        "VISA",
        &AmountInfo {
            curr_code: "EUR".into(),
            ..a.clone()
        },
        "differs from the selected CurrencyAmount",
    );
    encap(good(), "VISA", &credit("10.00"), "the payment is Credit");
    let mut m = good();
    m.card.verification = None;
    encap(m, "VISA", &a, "lacks Card/@Verification");
    let mut m = good();
    m.bill_to.postal_code = None;
    encap(m, "VISA", &a, "lacks BillTo/Postal/@PostalCode");
    let mut m = good();
    m.transaction.references = vec!["A1".into()];
    encap(m, "VISA", &a, "a debit names no authorisation");
    // Amounts written differently are the same amount.
    let mut m = good();
    m.transaction.amount = "10".into();
    assert!(ph_start(&w, "VISA", "P10", &a, vec![m.packaged()]).is_ok());

    let declined = |m: CardMessage, brand: &str, n: &str| {
        ph_start(&w, brand, n, &a, vec![m.packaged()]).expect("answered");
        let st = state(&w, &w.ph, n);
        assert!(
            !w.ph.kv.borrow().contains_key(&format!("processor/txn/{n}")),
            "{n} reached the processor"
        );
        failed_with(&st)
    };
    assert_eq!(
        declined(good(), "MasterCard", "P1"),
        Some(CompletionCode::InstBrandInvalid)
    );
    let mut m = good();
    m.card.card_type = "MAST".into();
    assert_eq!(
        declined(m, "MasterCard", "P2"),
        Some(CompletionCode::InstBrandInvalid)
    );
    assert_eq!(
        declined(good(), "x-othercard", "P3"),
        Some(CompletionCode::BrandNotSupp)
    );
    let mut m = good();
    m.card.number = crate::card::Pan::parse("4111111111111112").expect("pan");
    assert_eq!(
        declined(m, "VISA", "P4"),
        Some(CompletionCode::BadInstrument)
    );
    let mut m = good();
    m.card.expiry = crate::card::Expiry {
        year: 2026,
        month: 10,
    };
    assert_eq!(
        declined(m, "VISA", "P5"),
        Some(CompletionCode::InstNotValid)
    );
    let mut m = good();
    m.card.verification = Some("1234".into());
    assert_eq!(declined(m, "VISA", "P6"), Some(CompletionCode::AuthError));
    // The card of this month is still good; the processor checks a test card's value.
    let mut m = good();
    m.card.expiry = crate::card::Expiry {
        year: 2026,
        month: 11,
    };
    m.card.verification = Some("999".into());
    ph_start(&w, "VISA", "P7", &a, vec![m.packaged()]).expect("answered");
    assert_eq!(
        failed_with(&state(&w, &w.ph, "P7")),
        Some(CompletionCode::AuthError)
    );
    assert!(w.ph.kv.borrow().contains_key("processor/txn/P7"));
    // Another card number that passes the checks is approved.
    let mut m = good();
    m.card.number = crate::card::Pan::parse("4242424242424242").expect("pan");
    ph_start(&w, "VISA", "P8", &a, vec![m.packaged()]).expect("answered");
    assert_eq!(
        state(&w, &w.ph, "P8").status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );
    // The wrong protocol is refused.
    let mut r = ph_request(&w, "VISA", "P9", &a, vec![good().packaged()]);
    r.protocol_id = "x-other".into();
    let e = w
        .scheme
        .start_payment_payment_handler(&w.ph, &r)
        .expect_err("protocol");
    assert_eq!(e.attribute(), Some("ProtocolId"));
}

/// A small deterministic generator for the mutations.
fn next(seed: &Cell<u64>) -> u64 {
    let mut x = seed.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    seed.set(x);
    x
}

#[test]
fn malformed_scheme_data_gets_clear_errors_and_never_a_panic() {
    let w = World::new();
    let a = debit("10.00");
    let good = consumer_start(&w, "approve", "C1", &a).remove(0);
    let seed = Cell::new(0x5eed_u64);
    let mut n = 0u32;
    for round in 0..600 {
        let mut data = good.data.clone();
        match round % 4 {
            0 => {
                let i = (next(&seed) as usize) % data.len();
                data[i] ^= 1 << (next(&seed) % 8);
            }
            1 => data.truncate((next(&seed) as usize) % data.len()),
            2 => {
                let i = (next(&seed) as usize) % data.len();
                let junk: Vec<u8> = (0..(next(&seed) % 16)).map(|_| next(&seed) as u8).collect();
                data.splice(i..i, junk);
            }
            _ => {
                let i = (next(&seed) as usize) % data.len();
                let j = i + (next(&seed) as usize) % (data.len() - i);
                data.drain(i..j);
            }
        }
        let pc = PackagedContent {
            data,
            ..good.clone()
        };
        n += 1;
        match ph_start(&w, "VISA", &format!("P{n}"), &a, vec![pc]) {
            Ok(_) => {}
            Err(e) => {
                assert!(
                    matches!(e.code, ApiErrorCode::Iotp(ErrorCode::EncapProtErr)),
                    "{e}"
                );
                assert!(!e.desc.is_empty());
                assert!(!e.desc.contains("4111111111111111"), "{e}");
            }
        }
    }
    for (what, pcs) in [
        ("nothing", Vec::new()),
        ("an unnamed part", vec![PackagedContent::text("<Ecom/>")]),
        (
            "random bytes",
            vec![PackagedContent {
                name: Some(ecml::CARD.into()),
                ..PackagedContent::base64(vec![0xff, 0, 0x80, 0x3c])
            }],
        ),
    ] {
        let e = ph_start(&w, "VISA", "Pz", &a, pcs).expect_err(what);
        assert_eq!(
            e.code,
            ApiErrorCode::Iotp(ErrorCode::EncapProtErr),
            "{what}"
        );
        assert_eq!(e.locations[0].element_type, "PaySchemeData");
    }
    // The Consumer and the Payment Handler on bad exchanges.
    let data = consumer_start(&w, "extra-round", "C5", &a);
    ph_start(&w, "VISA", "P5", &a, data).expect("challenge");
    for bad in [
        vec![],
        vec![PackagedContent {
            name: Some(ecml::CHALLENGE_RESP.into()),
            ..PackagedContent::text("<x")
        }],
    ] {
        let e = cont(&w, &w.ph, "P5", bad).expect_err("bad answer");
        assert_eq!(e.code, ApiErrorCode::Iotp(ErrorCode::EncapProtErr));
    }
    for bad in [
        vec![],
        vec![PackagedContent {
            name: Some(ecml::AUTH.into()),
            ..PackagedContent::text("garbage")
        }],
    ] {
        let e = cont(&w, &w.consumer, "C5", bad).expect_err("bad data");
        assert_eq!(e.code, ApiErrorCode::Iotp(ErrorCode::EncapProtErr));
    }
    let e = cont(&w, &w.consumer, "C-none", Vec::new()).expect_err("unknown");
    assert_eq!(e.attribute(), Some("PayId"));
}

#[test]
fn an_auth_for_another_payment_is_refused_by_the_consumer() {
    let w = World::new();
    let (step, _) = pay(&w, "approve", 1, &debit("10.00"));
    consumer_start(&w, "approve", "C2", &debit("11.00"));
    let e = cont(&w, &w.consumer, "C2", step.pay_scheme.clone()).expect_err("other amount");
    assert!(e.desc.contains("amount"), "{e}");
    let e = w
        .scheme
        .check_payment_receipt(
            &w.consumer,
            &CheckPaymentReceipt {
                pay_id: "C2".into(),
                receipt: step.pay_scheme,
                ..Default::default()
            },
        )
        .expect_err("other payment");
    assert_eq!(e.code, ApiErrorCode::BusError);
}

#[test]
fn a_payment_cancelled_during_the_step_up_is_voided() {
    let w = World::new();
    let a = debit("10.00");
    let data = consumer_start(&w, "extra-round", "C1", &a);
    let step = ph_start(&w, "VISA", "P1", &a, data).expect("challenge");
    let answer = cont(&w, &w.consumer, "C1", step.pay_scheme).expect("answer");
    let st = w
        .scheme
        .change_process_state(
            &w.ph,
            &ChangeProcessState {
                pay_id: "P1".into(),
                process_state: PaymentState::Iotp(ProcessState::Failed),
                completion_code: Some(CompletionCode::ConsCancelled),
                process_type: ProcessType::Payment,
                wallet: Default::default(),
            },
        )
        .expect("changed");
    assert_eq!(st.completion_code, Some(CompletionCode::ConsCancelled));
    // The late answer ends with the decline, not an approval.
    let end = cont(&w, &w.ph, "P1", answer.pay_scheme).expect("end");
    assert_eq!(auth_of(&end).action, Action::Decline);
    let t = w
        .scheme
        .processor
        .lookup(&w.ph, "P1")
        .expect("books")
        .expect("txn");
    assert_eq!(t.state, crate::processor::TxnState::Voided);
    // A final state is kept.
    let again = w
        .scheme
        .change_process_state(
            &w.ph,
            &ChangeProcessState {
                pay_id: "P1".into(),
                process_state: PaymentState::Iotp(ProcessState::CompletedOk),
                completion_code: None,
                process_type: ProcessType::Payment,
                wallet: Default::default(),
            },
        )
        .expect("kept");
    assert_eq!(
        again.process_state,
        PaymentState::Iotp(ProcessState::Failed)
    );
    // The core asking to cancel in the CallBack: nothing is authorised.
    w.ph.cancel.set(true);
    let data = consumer_start(&w, "approve", "C2", &a);
    ph_start(&w, "VISA", "P2", &a, data).expect("answered");
    assert_eq!(
        failed_with(&state(&w, &w.ph, "P2")),
        Some(CompletionCode::ConsCancelled)
    );
    assert!(
        w.scheme
            .processor
            .lookup(&w.ph, "P2")
            .expect("books")
            .is_none()
    );
}

#[test]
fn inquiries_report_the_payment_handlers_record() {
    let w = World::new();
    pay(&w, "approve", 1, &debit("10.00"));
    let r = w
        .scheme
        .inquire_payment_status(
            &w.ph,
            &InquirePaymentStatus {
                payment_handler_pay_id: "P1".into(),
                ..Default::default()
            },
        )
        .expect("status");
    assert_eq!(
        r.status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );
    let status =
        Auth::read(ecml::find(&r.pay_scheme, ecml::STATUS).expect("SCCD-Status")).expect("read");
    assert_eq!(status.action, Action::Approve);
    let e = w
        .scheme
        .inquire_payment_status(
            &w.ph,
            &InquirePaymentStatus {
                payment_handler_pay_id: "P404".into(),
                ..Default::default()
            },
        )
        .expect_err("unknown");
    assert_eq!(e.attribute(), Some("PaymentHandlerPayId"));
    let q = w
        .scheme
        .start_payment_inquiry(&w.consumer, &StartPaymentInquiry::default())
        .expect("inquiry");
    assert_eq!(q.pay_scheme[0].name.as_deref(), Some(ecml::INQUIRY));
    // The log of the payment is removed; the processor's books stay.
    w.scheme
        .remove_payment_log(
            &w.ph,
            &RemovePaymentLog {
                pay_id: "P1".into(),
                ..Default::default()
            },
        )
        .expect("removed");
    assert!(
        w.scheme
            .processor
            .lookup(&w.ph, "P1")
            .expect("books")
            .is_some()
    );
}

fn manage(
    w: &World,
    action: Option<&str>,
    pcs: Vec<PackagedContent>,
) -> ApiResult<ManagePaymentSoftwareResponse> {
    w.scheme.manage_payment_software(
        &w.consumer,
        &ManagePaymentSoftware {
            action: action.map(str::to_owned),
            offer: OfferContent {
                pay_protocol: pcs,
                ..Default::default()
            },
            ..Default::default()
        },
    )
}

fn wallet_card(id: &str, number: &str, card_type: &str) -> PackagedContent {
    PackagedContent {
        name: Some(ecml::CARD.into()),
        ..PackagedContent::text(format!(
            "<Ecom><Payment><Card id=\"{id}\" Name=\"Jane Consumer\" Type=\"{card_type}\" Number=\"{number}\" Verification=\"321\"><ExpDate Month=\"3\" Year=\"2031\"/></Card></Payment><BillTo><Postal PostalCode=\"54321\" CountryCode=\"US\"/></BillTo></Ecom>"
        ))
    }
}

#[test]
fn the_wallet_takes_cards_from_manage_payment_software() {
    let w = World::new();
    let listed = |brand: &str| {
        w.scheme
            .find_payment_instrument(
                &w.consumer,
                &FindPaymentInstrument {
                    brand_id: brand.into(),
                    protocol_id: crate::PROTOCOL_ID.into(),
                    amount: debit("1.00"),
                    ..Default::default()
                },
            )
            .expect("instruments")
            .instruments
    };
    let visa = listed("VISA");
    assert_eq!(
        visa.len(),
        TEST_CARDS
            .iter()
            .filter(|c| c.card_type == CardType::Visa)
            .count()
    );
    assert!(
        visa.iter()
            .all(|i| !i.pay_inst_name.contains("4111111111111111"))
    );
    assert!(
        visa.iter()
            .any(|i| i.pay_inst_name == "Visa XXXXXXXXXXXX1111 (SCCD test card: approves)")
    );
    assert!(listed("x-mockcard").is_empty());

    manage(
        &w,
        Some("New"),
        vec![wallet_card("my-visa", "4242424242424242", "VISA")],
    )
    .expect("new");
    assert!(
        listed("VISA")
            .iter()
            .any(|i| i.id == "my-visa" && i.pay_inst_name == "Visa XXXXXXXXXXXX4242")
    );
    let (step, st) = pay(&w, "my-visa", 1, &debit("3.00"));
    assert_eq!(auth_of(&step).truncated, "XXXXXXXXXXXX4242");
    assert_eq!(
        st.status.process_state,
        PaymentState::Iotp(ProcessState::CompletedOk)
    );

    for (action, pcs, expected) in [
        (None, vec![], "Action"),
        (Some("Explode"), vec![], "Action"),
        (Some("New"), vec![], "Action"),
        (
            Some("New"),
            vec![wallet_card("my-visa", "4242424242424242", "VISA")],
            "Action",
        ),
        (
            Some("Update"),
            vec![wallet_card("nope", "4242424242424242", "VISA")],
            "Action",
        ),
        (
            Some("New"),
            vec![wallet_card("approve", "4242424242424242", "VISA")],
            "Action",
        ),
        (
            Some("New"),
            vec![wallet_card("bad", "4242424242424241", "VISA")],
            "EncapProtErr",
        ),
        (
            Some("New"),
            vec![wallet_card("bad", "4242424242424242", "MAST")],
            "EncapProtErr",
        ),
        (
            Some("New"),
            vec![wallet_card("bad", "6011111111111117", "DISC")],
            "EncapProtErr",
        ),
        (
            Some("Delete"),
            vec![PackagedContent {
                name: Some(crate::wallet::CARD_ID.into()),
                ..PackagedContent::text("approve")
            }],
            "Action",
        ),
    ] {
        let e = manage(&w, action, pcs).expect_err(expected);
        assert!(
            e.attribute() == Some(expected) || e.code.as_str() == expected,
            "{e}"
        );
        assert!(!e.desc.contains("4242424242424"), "{e}");
    }
    manage(
        &w,
        Some("Update"),
        vec![wallet_card("my-visa", "4000056655665556", "VISA")],
    )
    .expect("update");
    assert!(
        listed("VISA")
            .iter()
            .any(|i| i.id == "my-visa" && i.pay_inst_name.ends_with("5556"))
    );
    let delete = vec![PackagedContent {
        name: Some(crate::wallet::CARD_ID.into()),
        ..PackagedContent::text("my-visa")
    }];
    manage(&w, Some("Delete"), delete.clone()).expect("delete");
    assert!(!listed("VISA").iter().any(|i| i.id == "my-visa"));
    assert!(manage(&w, Some("Delete"), delete).is_err());
    // An expired card is not possible.
    manage(
        &w,
        Some("New"),
        vec![wallet_card("old", "4242424242424242", "VISA")],
    )
    .expect("new");
    w.consumer.now.set(2_000_000_000_000);
    let e = w
        .scheme
        .check_payment_possibility(
            &w.consumer,
            &CheckPaymentPossibility {
                brand_id: "VISA".into(),
                payment_instrument_id: Some("old".into()),
                amount: debit("1.00"),
                protocol_id: crate::PROTOCOL_ID.into(),
                consumer_pay_id: "C9".into(),
                ..Default::default()
            },
        )
        .expect_err("expired");
    assert!(e.desc.contains("expired"), "{e}");
}

#[test]
fn the_merchant_offers_three_brands_with_their_accept_and_no_net_location() {
    let w = World::new();
    let brands = w
        .scheme
        .find_accepted_payment_brand(
            &w.merchant,
            &FindAcceptedPaymentBrand {
                amount: debit("10.00"),
                merchant_pay_id: "M1".into(),
                ..Default::default()
            },
        )
        .expect("brands")
        .brands;
    let ids: Vec<&str> = brands.iter().map(|b| b.brand_id.as_str()).collect();
    assert_eq!(ids, ["VISA", "MasterCard", "Amex"]);
    assert!(
        merchant::find_brands(&FindAcceptedPaymentBrand {
            amount: AmountInfo {
                curr_code: "usd".into(),
                ..debit("1")
            },
            ..Default::default()
        })
        .brands
        .is_empty()
    );
    let all = merchant::find_protocols(&FindAcceptedPaymentProtocol {
        amount: credit("10.00"),
        ..Default::default()
    });
    assert_eq!(all.brands.len(), 3);
    let p = &all.protocols[0];
    assert_eq!(
        (p.protocol_id.as_str(), p.protocol_name.as_str()),
        ("SCCD1.0", "Secure Channel Credit/Debit")
    );
    assert_eq!(
        (p.pay_req_net_locn.as_ref(), p.sec_pay_req_net_locn.as_ref()),
        (None, None)
    );
    assert_eq!(p.pay_protocol_content.len(), 3);
    assert!(
        merchant::find_protocols(&FindAcceptedPaymentProtocol {
            brand_id: Some("x-mockcard".into()),
            amount: debit("1.00"),
            ..Default::default()
        })
        .protocols
        .is_empty()
    );
    let e = w
        .scheme
        .get_payment_initialization_data(
            &w.merchant,
            &GetPaymentInitializationData {
                brand_id: "VISA".into(),
                protocol_id: "x-other".into(),
                ..Default::default()
            },
        )
        .expect_err("protocol");
    assert_eq!(e.attribute(), Some("ProtocolId"));
}

#[test]
fn card_data_stays_in_the_wallet_and_the_payment_request() {
    let w = World::new();
    let mut n = 0;
    let mut answers = String::new();
    for c in TEST_CARDS {
        n += 1;
        let a = debit("10.00");
        if c.behaviour == Behaviour::Timeout {
            let data = consumer_start(&w, c.id, &format!("C{n}"), &a);
            let e = ph_start(&w, brand_of(c.id), &format!("P{n}"), &a, data).expect_err("time-out");
            answers.push_str(&e.desc);
            continue;
        }
        let (step, st) = pay(&w, c.id, n, &a);
        for pc in &step.pay_scheme {
            answers.push_str(&String::from_utf8_lossy(&pc.data));
        }
        answers.push_str(&format!("{st:?}"));
    }
    let (step, _) = pay(&w, "approve", 100, &credit("5.00"));
    answers.push_str(&String::from_utf8_lossy(&step.pay_scheme[0].data));
    // The Payment Handler keeps tokens and last digits; its log says what happened, redacted.
    assert_no_card_data(
        "the Payment Handler's key-value space and log",
        &w.ph.everything(),
    );
    assert!(
        w.ph.logs
            .borrow()
            .iter()
            .any(|l| l.contains("XXXXXXXXXXXX1111"))
    );
    assert_no_card_data(
        "the Merchant's key-value space and log",
        &w.merchant.everything(),
    );
    assert_no_card_data("the Payment Handler's answers", &answers);
    // The Consumer's payments name their card by its wallet id.
    let consumer_payments: String = w
        .consumer
        .kv
        .borrow()
        .iter()
        .filter(|(k, _)| k.starts_with("consumer/pay/") || k.starts_with("consumer/history/"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_no_card_data("the Consumer's payment records", &consumer_payments);
    // A debug print of a card message hides the number and the verification value.
    let data = consumer_start(&w, "approve", "C999", &debit("1.00"));
    let m = CardMessage::read(&data[0]).expect("card");
    assert_no_card_data("a card message's Debug", &format!("{m:?}"));
}

#[test]
fn unclaimed_calls_answer_req_not_supp() {
    let w = World::new();
    let e = w
        .scheme
        .resume_payment_payment_handler(&w.ph, &ResumePaymentPaymentHandler::default())
        .expect_err("not supported");
    assert_eq!(e.code, ApiErrorCode::ReqNotSupp);
    let claims = SccdScheme::claims();
    assert!(!claims.claims_call("ResumePaymentPaymentHandler"));
    assert!(claims.claims_call("ManagePaymentSoftware"));
}
