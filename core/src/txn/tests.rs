//! Engine tests: every scenario end to end, faults, cancellation, inquiries and pings.

use super::harness::*;
use super::*;
use crate::msg::Report;

fn check_transcript(r: &ScenarioResult) {
    for e in &r.transcript {
        let report = Report::read(&e.xml, &Limits::default());
        let errs: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            errs.is_empty(),
            "{} / {}: message {} {}->{} has problems:\n{}\n{}",
            r.scenario.transaction,
            r.scenario.variant,
            e.seq,
            e.from,
            e.to,
            errs.join("\n"),
            String::from_utf8_lossy(&e.xml)
        );
    }
}

#[test]
fn every_scenario_completes() {
    for s in scenarios() {
        let r = run_scenario(&s).expect("scenario runs");
        check_transcript(&r);
        if r.outcome != ProcessState::CompletedOk {
            for e in &r.transcript {
                eprintln!(
                    "--- {} {} -> {}\n{}",
                    e.seq,
                    e.from,
                    e.to,
                    String::from_utf8_lossy(&e.xml)
                );
            }
        }
        assert_eq!(
            r.outcome,
            ProcessState::CompletedOk,
            "{} / {}: {:?} after {} messages",
            s.transaction,
            s.variant,
            r.completion_code,
            r.messages
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A demo network whose every delivered, uncorrupted message must be valid (checked when the
/// test ends).
struct Checked(Network);

impl std::ops::Deref for Checked {
    type Target = Network;
    fn deref(&self) -> &Network {
        &self.0
    }
}

impl std::ops::DerefMut for Checked {
    fn deref_mut(&mut self) -> &mut Network {
        &mut self.0
    }
}

impl Drop for Checked {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for e in self.0.transcript.iter().filter(|e| e.fate != Fate::Corrupt) {
            let report = Report::read(&e.xml, &Limits::default());
            assert!(
                report.errors.is_empty(),
                "message {} {} -> {} is not valid: {:?}\n{}",
                e.seq,
                e.from,
                e.to,
                report.errors,
                String::from_utf8_lossy(&e.xml)
            );
        }
    }
}

fn network(instrument: &str) -> (Checked, DemoNodes) {
    let (net, n) = demo_network(instrument, Timing::default());
    (Checked(net), n)
}

/// Starts a transaction of the demo at the Merchant and runs it as far as the network lets it.
fn start(net: &mut Network, n: DemoNodes, t: TransactionType, variant: &str) -> String {
    let merchant = if variant.contains("DelivAndPayResp") {
        n.allinone
    } else {
        n.merchant
    };
    let offer = demo_offer(&t, variant, 7);
    let now = net.now;
    let out = net
        .engine(merchant)
        .start_offer(offer, now)
        .expect("offer starts");
    let trans = out.messages[0].iotp_trans_id.clone();
    net.start(merchant, n.consumer, out);
    trans
}

fn consumer_end(net: &Network, n: DemoNodes, trans: &str) -> Option<TransactionOutcome> {
    net.finished(n.consumer)
        .into_iter()
        .find(|o| o.iotp_trans_id == trans)
}

fn blocks_sent(net: &Network, trans: &str) -> Vec<String> {
    net.messages_of(trans)
        .iter()
        .map(|e| {
            let m = crate::msg::IotpMessage::from_xml(&e.xml).ok();
            let mut tags: Vec<&str> = m
                .iter()
                .flat_map(|m| m.blocks.iter().map(|b| b.tag()))
                .collect();
            if m.as_ref().is_some_and(|m| m.error.is_some()) {
                tags.insert(0, "ErrorBlk");
            }
            format!("{}>{}:{}", e.from, e.to, tags.join("+"))
        })
        .collect()
}

fn error_codes(xml: &[u8]) -> Vec<(ErrorCode, Severity)> {
    crate::msg::IotpMessage::from_xml(xml)
        .ok()
        .and_then(|m| m.error)
        .map(|e| {
            e.error_components
                .into_iter()
                .map(|c| (c.error_code, c.severity))
                .collect()
        })
        .unwrap_or_default()
}

fn purchase_dependent() -> (TransactionType, &'static str) {
    (
        TransactionType::BaselinePurchase,
        "brand-dependent, payment then delivery",
    )
}

// ---------------------------------------------------------------------------------------------
// Transactions across messages

#[test]
fn transcripts_are_consistent_across_messages() {
    for s in scenarios() {
        let (mut net, n) = network(s.instrument);
        run_scenario_on(&mut net, n, &s, 1).expect("runs");
        let msgs: Vec<crate::msg::IotpMessage> = net
            .transcript
            .iter()
            .filter_map(|e| crate::msg::IotpMessage::from_xml(&e.xml).ok())
            .collect();
        assert_eq!(msgs.len(), net.transcript.len());
        // Group by transaction; inquiries are checked with the transaction they ask about.
        let mut ids: Vec<&str> = msgs.iter().map(|m| m.iotp_trans_id()).collect();
        ids.dedup();
        for id in ids {
            let group: Vec<&crate::msg::IotpMessage> =
                msgs.iter().filter(|m| m.iotp_trans_id() == id).collect();
            for (m, errs) in group.iter().zip(crate::msg::validate_transaction(&group)) {
                assert!(
                    errs.is_empty(),
                    "{} / {}: {}: {:?}",
                    s.transaction,
                    s.variant,
                    m.message_id(),
                    errs
                );
            }
        }
    }
}

#[test]
fn purchase_message_sequences_follow_the_rfc() {
    let cases: &[(&str, &[&str])] = &[
        (
            "brand-dependent, payment then delivery",
            &[
                "merchant>consumer:TpoBlk",
                "consumer>merchant:TpoSelectionBlk",
                "merchant>consumer:OfferRespBlk",
                "consumer>paymenthandler:PayReqBlk",
                "paymenthandler>consumer:PayRespBlk",
                "consumer>deliveryhandler:DeliveryReqBlk",
                "deliveryhandler>consumer:DeliveryRespBlk",
            ],
        ),
        (
            "brand-independent, payment only",
            &[
                "merchant>consumer:TpoBlk+OfferRespBlk",
                "consumer>paymenthandler:PayReqBlk",
                "paymenthandler>consumer:PayRespBlk",
            ],
        ),
        (
            "brand-independent, payment with delivery (DelivAndPayResp)",
            &[
                "merchant>consumer:TpoBlk+OfferRespBlk",
                "consumer>paymenthandler:PayReqBlk",
                "paymenthandler>consumer:PayRespBlk+DeliveryRespBlk",
            ],
        ),
        (
            "authentication first, brand-independent, payment then delivery",
            &[
                "merchant>consumer:TpoBlk+AuthReqBlk",
                "consumer>merchant:AuthRespBlk",
                "merchant>consumer:AuthStatusBlk+TpoBlk+OfferRespBlk",
                "consumer>paymenthandler:PayReqBlk",
                "paymenthandler>consumer:PayRespBlk",
                "consumer>deliveryhandler:DeliveryReqBlk",
                "deliveryhandler>consumer:DeliveryRespBlk",
            ],
        ),
    ];
    for (variant, expected) in cases {
        let (mut net, n) = network("approve");
        let trans = start(&mut net, n, TransactionType::BaselinePurchase, variant);
        assert_eq!(blocks_sent(&net, &trans), *expected, "{variant}");
        assert_eq!(
            consumer_end(&net, n, &trans).map(|o| o.process_state),
            Some(ProcessState::CompletedOk)
        );
    }
    let (mut net, n) = network("extra-round");
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    assert_eq!(
        blocks_sent(&net, &trans),
        [
            "merchant>consumer:TpoBlk+OfferRespBlk",
            "consumer>paymenthandler:PayReqBlk",
            "paymenthandler>consumer:PayExchBlk",
            "consumer>paymenthandler:PayExchBlk",
            "paymenthandler>consumer:PayRespBlk",
        ]
    );
}

#[test]
fn the_consumer_gets_its_receipt_and_goes_to_the_success_location() {
    let (mut net, n) = network("approve");
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let end = consumer_end(&net, n, &trans).expect("ended");
    assert_eq!(end.kind, EndKind::Completed);
    assert_eq!(
        end.next_net_locn.as_deref(),
        Some("https://shop.example/thanks")
    );
    assert_eq!(end.receipts.len(), 1);
    assert!(
        end.receipts[0]
            .parts
            .iter()
            .any(|(n, t)| n.as_deref() == Some("MockAuth") && t.starts_with("approved"))
    );
    // Every role ended its part.
    for node in [n.merchant, n.payment_handler] {
        let _ = node;
    }
    assert_eq!(net.finished(n.payment_handler).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Every completion code of the mock scheme

#[test]
fn every_decline_is_a_failed_status_not_an_error() {
    for code in crate::payapi::mock::DECLINE_CODES {
        let (mut net, n) = network(&format!("decline-{code}"));
        let trans = start(
            &mut net,
            n,
            TransactionType::BaselinePurchase,
            "brand-independent, payment only",
        );
        let end = consumer_end(&net, n, &trans).expect("ended");
        assert_eq!(end.kind, EndKind::Failed, "{code}");
        assert_eq!(end.process_state, ProcessState::Failed);
        assert_eq!(end.completion_code.as_ref(), Some(code));
        let last = net
            .messages_of(&trans)
            .last()
            .map(|e| e.xml.clone())
            .expect("messages");
        assert!(
            error_codes(&last).is_empty(),
            "a decline is a Status, not an ErrorComp"
        );
        let m = crate::msg::IotpMessage::from_xml(&last).expect("valid");
        let status = m.blocks.iter().find_map(|b| match b {
            crate::msg::TradingBlock::PaymentResponse(p) => Some(p.status.clone()),
            _ => None,
        });
        assert_eq!(status.and_then(|s| s.completion_code).as_ref(), Some(code));
    }
}

#[test]
fn credit_payments_work_for_refunds_and_withdrawals_with_declines() {
    for t in [
        TransactionType::BaselineRefund,
        TransactionType::BaselineWithdrawal,
    ] {
        let (mut net, n) = network("decline-InsuffFunds");
        let trans = start(&mut net, n, t.clone(), "brand-independent");
        let end = consumer_end(&net, n, &trans).expect("ended");
        assert_eq!(
            end.completion_code,
            Some(CompletionCode::InsuffFunds),
            "{t}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Faults on the wire: duplicated, lost, reordered, corrupted messages

/// A fate that applies `f` to the k-th message (1-based) matching a block tag and its
/// sender, and delivers everything else.
fn fate_for(
    tag: &'static str,
    from: &'static str,
    nth: usize,
    fate: Fate,
) -> impl FnMut(&Envelope) -> Fate {
    let mut seen = 0;
    move |e: &Envelope| {
        if e.from == from && has_block(&e.xml, tag) {
            seen += 1;
            if seen == nth {
                return fate;
            }
        }
        Fate::Deliver
    }
}

fn authorisations(net: &mut Network, n: DemoNodes) -> usize {
    // The mock keeps one record per authorised payment in the Payment Handler's store.
    let _ = (net, n);
    0
}

#[test]
fn a_duplicated_request_gets_the_saved_response_byte_for_byte() {
    let (mut net, n) = network("approve");
    net.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Duplicate));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let replies: Vec<&Envelope> = net
        .messages_of(&trans)
        .into_iter()
        .filter(|e| e.from == "paymenthandler")
        .collect();
    assert_eq!(replies.len(), 2, "both copies are answered");
    assert_eq!(replies[0].xml, replies[1].xml, "the same bytes");
    assert_eq!(net.finished(n.payment_handler).len(), 1, "paid once");
    assert_eq!(net.finished(n.consumer).len(), 1);
    assert_eq!(
        consumer_end(&net, n, &trans).map(|o| o.process_state),
        Some(ProcessState::CompletedOk)
    );
    let _ = authorisations(&mut net, n);
}

#[test]
fn a_lost_request_is_sent_again_after_the_time_out() {
    let (mut net, n) = network("approve");
    net.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Drop));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    assert!(consumer_end(&net, n, &trans).is_none(), "waiting");
    let wake = net
        .engine(n.consumer)
        .next_wake()
        .expect("the consumer wants to be woken");
    assert_eq!(wake - net.now, 30_000);
    net.advance(30_000);
    assert_eq!(
        consumer_end(&net, n, &trans).map(|o| o.process_state),
        Some(ProcessState::CompletedOk)
    );
    let sent: Vec<_> = net
        .messages_of(&trans)
        .into_iter()
        .filter(|e| has_block(&e.xml, "PayReqBlk"))
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].xml, sent[1].xml,
        "a retransmission is the same message"
    );
}

#[test]
fn a_lost_response_is_replayed_and_the_payment_is_not_made_twice() {
    let (mut net, n) = network("approve");
    net.set_fate(fate_for("PayRespBlk", "paymenthandler", 1, Fate::Drop));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-dependent, payment then delivery",
    );
    assert!(consumer_end(&net, n, &trans).is_none());
    assert_eq!(
        net.finished(n.payment_handler).len(),
        1,
        "the payment was made"
    );
    net.advance(30_000);
    assert_eq!(
        consumer_end(&net, n, &trans).map(|o| o.process_state),
        Some(ProcessState::CompletedOk)
    );
    assert_eq!(
        net.finished(n.payment_handler).len(),
        1,
        "and not made again"
    );
    let responses: Vec<_> = net
        .messages_of(&trans)
        .into_iter()
        .filter(|e| has_block(&e.xml, "PayRespBlk"))
        .collect();
    assert_eq!(responses[0].xml, responses[1].xml);
}

#[test]
fn without_answers_the_consumer_times_out() {
    // Before any payment: not recoverable.
    let (mut net, n) = network("approve");
    net.set_fate(|e: &Envelope| {
        if e.from == "consumer" {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let trans = start(&mut net, n, purchase_dependent().0, purchase_dependent().1);
    for _ in 0..4 {
        net.advance(30_000);
    }
    let end = consumer_end(&net, n, &trans).expect("timed out");
    assert_eq!(
        (end.kind, end.completion_code),
        (EndKind::TimedOut, Some(CompletionCode::TimedOutNoRcvr))
    );
    let selections = net
        .messages_of(&trans)
        .into_iter()
        .filter(|e| has_block(&e.xml, "TpoSelectionBlk"))
        .count();
    assert_eq!(selections, 4, "sent max_transmissions times");
    // After a Payment Request: the payment may have been made, recoverable.
    let (mut net, n) = network("approve");
    net.set_fate(|e: &Envelope| {
        if e.to == "paymenthandler" {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    for _ in 0..4 {
        net.advance(30_000);
    }
    let end = consumer_end(&net, n, &trans).expect("timed out");
    assert_eq!(end.completion_code, Some(CompletionCode::TimedOutRcvr));
    assert_eq!(
        net.engine(n.consumer).next_wake(),
        None,
        "nothing left to do"
    );
}

#[test]
fn a_processor_that_never_answers_gives_transient_errors_then_a_time_out() {
    let (mut net, n) = network("timeout");
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let last = net
        .messages_of(&trans)
        .last()
        .map(|e| e.xml.clone())
        .expect("reply");
    assert_eq!(
        error_codes(&last),
        [(ErrorCode::UnknownError, Severity::TransientError)]
    );
    // MinRetrySecs (1 s) brings the retry forward.
    assert_eq!(
        net.engine(n.consumer).next_wake().map(|w| w - net.now),
        Some(1_000)
    );
    for _ in 0..5 {
        net.advance(1_000);
    }
    let end = consumer_end(&net, n, &trans).expect("gave up");
    assert_eq!(end.completion_code, Some(CompletionCode::TimedOutRcvr));
    assert!(
        net.finished(n.payment_handler).is_empty(),
        "the Payment Handler's state did not change"
    );
}

#[test]
fn a_corrupted_message_is_a_hard_error_and_ends_the_transaction() {
    let (mut net, n) = network("approve");
    net.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Corrupt));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let reply = net
        .messages_of(&trans)
        .last()
        .map(|e| e.xml.clone())
        .expect("reply");
    let codes = error_codes(&reply);
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].1, Severity::HardError);
    assert_eq!(codes[0].0, ErrorCode::XmlNotWellFrmd);
    let end = consumer_end(&net, n, &trans).expect("ended");
    assert_eq!(end.kind, EndKind::HardError);
    assert_eq!(end.process_state, ProcessState::ProcessError);
    // Nothing more is sent in this transaction, even when time passes.
    let count = net.messages_of(&trans).len();
    net.advance(60_000);
    assert_eq!(net.messages_of(&trans).len(), count);
}

#[test]
fn an_unidentifiable_message_is_answered_in_a_new_transaction() {
    let (mut net, n) = network("approve");
    let now = net.now;
    let out = net
        .engine(n.payment_handler)
        .receive(b"<IotpMessage xmlns='iotp:ietf.org/iotp-v1.0'><oops", now);
    let reply = out.reply().expect("answered");
    assert_eq!(
        error_codes(&reply.xml),
        [(ErrorCode::XmlNotWellFrmd, Severity::HardError)]
    );
    let out = net.engine(n.payment_handler).receive(
        b"<?xml version='1.0'?><IotpMessage xmlns='iotp:ietf.org/iotp-v1.0'/>",
        now,
    );
    let reply = out.reply().expect("answered");
    assert!(
        error_codes(&reply.xml)
            .iter()
            .all(|(_, s)| *s == Severity::HardError)
    );
    let m = crate::msg::IotpMessage::from_xml(&reply.xml).expect("a valid message");
    assert!(
        m.iotp_trans_id().ends_with("@pay.example"),
        "a new transaction of the responder"
    );
}

#[test]
fn a_message_still_being_processed_gets_msg_being_proc() {
    let (mut net, n, _, req) = lost_payment_request();
    // Another worker of the Payment Handler has begun processing the same message.
    let digest = super::sha256(
        crate::msg::IotpMessage::from_xml(&req)
            .expect("valid")
            .to_xml()
            .as_bytes(),
    );
    let now = net.now;
    let store = net.engine(n.payment_handler).store().clone();
    assert!(matches!(store.replay_begin(&digest, now), Ok(None)));
    let out = net.engine(n.payment_handler).receive(&req, now);
    assert_eq!(
        error_codes(&out.reply().expect("answered").xml),
        [(ErrorCode::MsgBeingProc, Severity::TransientError)]
    );
    // Once the marker is stale (the worker died), the message is processed.
    let out = net.engine(n.payment_handler).receive(&req, now + 600_000);
    assert!(has_block(&out.reply().expect("answered").xml, "PayRespBlk"));
}

#[test]
fn an_overloaded_server_answers_system_busy() {
    let mut cfg = EngineConfig::new(world::bank());
    cfg.max_open_transactions = 0;
    let mut ph = Engine::new(cfg, Arc::new(crate::store::MemoryStore::new()))
        .with_bridge(Arc::new(crate::payapi::mock::MockScheme::new(None)));
    let (net, _, _, req) = lost_payment_request();
    let out = ph.receive(&req, net.now);
    assert_eq!(
        error_codes(&out.reply().expect("answered").xml),
        [(ErrorCode::SystemBusy, Severity::TransientError)]
    );
    // A transient answer is not saved: the same message is processed afresh later.
    assert!(
        ph.store()
            .replay_get(&super::sha256(
                crate::msg::IotpMessage::from_xml(&req)
                    .expect("valid")
                    .to_xml()
                    .as_bytes()
            ))
            .expect("store")
            .is_none()
    );
}

#[test]
fn out_of_sequence_and_misdirected_messages_get_the_rfc_errors() {
    let (mut net, n) = network("approve");
    let trans = start(&mut net, n, purchase_dependent().0, purchase_dependent().1);
    let msgs: Vec<Arc<[u8]>> = net
        .messages_of(&trans)
        .iter()
        .map(|e| e.xml.clone())
        .collect();
    let now = net.now;
    // A Payment Request replayed after completion: the saved response (idempotency).
    let out = net.engine(n.payment_handler).receive(&msgs[3], now);
    assert_eq!(out.reply().map(|r| r.xml.clone()), Some(msgs[4].clone()));
    // A TPO Selection sent to the Payment Handler: it knows no Merchant part of it.
    let out = net.engine(n.payment_handler).receive(&msgs[1], now);
    assert_eq!(
        error_codes(&out.reply().expect("answered").xml),
        [(ErrorCode::ElUnexpected, Severity::HardError)]
    );
    // A Delivery Request for a transaction the Delivery Handler already knows, with a new
    // message ID: a HardError (§4.5.2.4).
    let mut again = crate::msg::IotpMessage::from_xml(&msgs[5]).expect("valid");
    again.trans_ref.message_id.id = "C9".into();
    again.trans_ref.id = "C9.1".into();
    let out = net
        .engine(n.delivery_handler)
        .receive(again.to_xml().as_bytes(), now);
    assert_eq!(
        error_codes(&out.reply().expect("answered").xml),
        [(ErrorCode::ElUnexpected, Severity::HardError)]
    );
    // A Payment Exchange for a transaction the Payment Handler does not know.
    let (mut other, m) = network("extra-round");
    let t2 = start(
        &mut other,
        m,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let exch = other
        .messages_of(&t2)
        .into_iter()
        .find(|e| e.from == "consumer" && has_block(&e.xml, "PayExchBlk"))
        .map(|e| e.xml.clone())
        .expect("sent");
    let out = net.engine(n.payment_handler).receive(&exch, now);
    assert_eq!(
        error_codes(&out.reply().expect("answered").xml),
        [(ErrorCode::ElUnexpected, Severity::HardError)]
    );
    // A consumer that gets a TPO for a transaction it already has.
    let out = net.engine(n.consumer).receive(&msgs[0], now);
    assert!(
        out.messages.is_empty(),
        "a duplicate is not answered by the Consumer"
    );
}

#[test]
fn error_and_cancel_blocks_are_never_answered_with_errors() {
    let (mut net, n) = network("decline-InsuffFunds");
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let now = net.now;
    // A Cancel for a transaction the Delivery Handler does not know: no answer.
    let tpo = net.messages_of(&trans)[0].xml.clone();
    let mut cancel = crate::msg::IotpMessage::from_xml(&tpo).expect("valid");
    cancel.trans_ref.message_id.id = "C7".into();
    cancel.trans_ref.id = "C7.1".into();
    cancel.trans_ref.message_id.sender_trading_role_ref = None;
    cancel.blocks = vec![crate::msg::TradingBlock::Cancel(
        crate::msg::model::CancelBlock {
            id: "C7.2".into(),
            status: crate::msg::model::Status {
                id: "C7.3".into(),
                lang: "en".into(),
                status_type: StatusType::Offer,
                el_ref: None,
                process_state: ProcessState::Failed,
                completion_code: Some(CompletionCode::ConsCancelled),
                ..Default::default()
            },
            ..Default::default()
        },
    )];
    let out = net
        .engine(n.delivery_handler)
        .receive(cancel.to_xml().as_bytes(), now);
    assert!(out.messages.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Cancellation (§3.10, §4.5.3)

#[test]
fn the_consumer_may_cancel_at_every_point_before_the_end() {
    // (what is lost so that the consumer waits, the exchange cancelled, where the Cancel goes)
    let cases: &[(&str, &str, StatusType, &str)] = &[
        ("TpoSelectionBlk", "consumer", StatusType::Offer, "merchant"),
        (
            "PayReqBlk",
            "consumer",
            StatusType::Payment,
            "paymenthandler",
        ),
        (
            "DeliveryReqBlk",
            "consumer",
            StatusType::Delivery,
            "deliveryhandler",
        ),
    ];
    for (tag, from, exchange, to) in cases {
        let (mut net, n) = network("approve");
        net.set_fate(fate_for(tag, from, 1, Fate::Drop));
        let trans = start(&mut net, n, purchase_dependent().0, purchase_dependent().1);
        net.clear_fate();
        let now = net.now;
        let out = net.engine(n.consumer).cancel(&trans, now).expect("allowed");
        net.run(n.consumer, out);
        let last = net
            .messages_of(&trans)
            .last()
            .map(|e| (*e).clone())
            .expect("sent");
        assert_eq!(last.to, *to, "{tag}");
        let m = crate::msg::IotpMessage::from_xml(&last.xml).expect("valid");
        let Some(crate::msg::TradingBlock::Cancel(c)) = m.blocks.first() else {
            panic!("a Cancel Block")
        };
        assert_eq!(&c.status.status_type, exchange);
        assert_eq!(
            c.status.completion_code,
            Some(CompletionCode::ConsCancelled)
        );
        let end = consumer_end(&net, n, &trans).expect("ended");
        assert_eq!(end.kind, EndKind::Cancelled);
        assert!(
            end.next_net_locn.is_some_and(|l| l.ends_with("/cancelled")),
            "goes to the CancelNetLocn"
        );
        // The transaction is dead at the consumer: a late answer is ignored.
        assert_eq!(net.engine(n.consumer).next_wake(), None);
    }
}

#[test]
fn cancelling_is_refused_where_the_rfc_does_not_allow_it() {
    let (mut net, n) = network("approve");
    let trans = start(&mut net, n, purchase_dependent().0, purchase_dependent().1);
    let now = net.now;
    // A completed transaction.
    assert!(matches!(
        net.engine(n.consumer).cancel(&trans, now),
        Err(EngineError::NotAllowed(_))
    ));
    // A server role outside a request/response window.
    assert!(matches!(
        net.engine(n.merchant).cancel(&trans, now),
        Err(EngineError::NotAllowed(_))
    ));
    assert!(matches!(
        net.engine(n.delivery_handler).cancel(&trans, now),
        Err(EngineError::NotAllowed(_))
    ));
    // Unknown.
    assert!(matches!(
        net.engine(n.consumer).cancel("nope@example", now),
        Err(EngineError::UnknownTransaction(_))
    ));
    // A Merchant waiting for a TPO Selection has not received a request block.
    let (mut net, n) = network("approve");
    net.set_fate(fate_for("TpoSelectionBlk", "consumer", 1, Fate::Drop));
    let trans = start(&mut net, n, purchase_dependent().0, purchase_dependent().1);
    let now = net.now;
    assert!(matches!(
        net.engine(n.merchant).cancel(&trans, now),
        Err(EngineError::NotAllowed(_))
    ));
}

#[test]
fn the_payment_handler_may_cancel_during_payment_exchanges() {
    let (mut net, n) = network("extra-round");
    // The Consumer's Payment Exchange is lost, so the Payment Handler is mid-exchange.
    net.set_fate(fate_for("PayExchBlk", "consumer", 1, Fate::Drop));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    net.clear_fate();
    let now = net.now;
    let out = net
        .engine(n.payment_handler)
        .cancel(&trans, now)
        .expect("allowed while exchanging");
    net.run(n.payment_handler, out);
    // The Consumer's retransmitted exchange is answered with the Cancel Block.
    net.advance(30_000);
    let end = consumer_end(&net, n, &trans).expect("ended");
    assert_eq!(end.kind, EndKind::Cancelled);
    assert_eq!(end.completion_code, Some(CompletionCode::PaymtCancelled));
}

#[test]
fn applications_may_refuse_offers_and_selections() {
    struct Refuse;
    impl ConsumerApp for Refuse {
        fn approve(&self, _offer: &OfferSummary) -> bool {
            false
        }
    }
    struct NoSale;
    impl MerchantApp for NoSale {
        fn accept_selection(
            &self,
            _offer: &Offer,
            _brands: &[String],
        ) -> Result<(), CompletionCode> {
            Err(CompletionCode::MerchCancelled)
        }
    }
    let (mut net, n) = network("approve");
    let engine = std::mem::replace(
        net.engine(n.consumer),
        Engine::new(
            EngineConfig::new(world::consumer()),
            Arc::new(crate::store::MemoryStore::new()),
        ),
    );
    *net.engine(n.consumer) = engine.with_consumer_app(Arc::new(Refuse));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    assert_eq!(
        blocks_sent(&net, &trans).last().map(String::as_str),
        Some("consumer>merchant:CancelBlk")
    );
    assert_eq!(
        consumer_end(&net, n, &trans).and_then(|o| o.completion_code),
        Some(CompletionCode::ConsCancelled)
    );

    let (mut net, n) = network("approve");
    let engine = std::mem::replace(
        net.engine(n.merchant),
        Engine::new(
            EngineConfig::new(world::shop()),
            Arc::new(crate::store::MemoryStore::new()),
        ),
    );
    *net.engine(n.merchant) = engine.with_merchant_app(Arc::new(NoSale));
    let trans = start(&mut net, n, purchase_dependent().0, purchase_dependent().1);
    assert_eq!(
        blocks_sent(&net, &trans).last().map(String::as_str),
        Some("merchant>consumer:CancelBlk")
    );
    assert_eq!(
        consumer_end(&net, n, &trans).and_then(|o| o.completion_code),
        Some(CompletionCode::MerchCancelled)
    );
}

// ---------------------------------------------------------------------------------------------
// Inquiries and pings in every state of a purchase

#[test]
fn inquiries_and_pings_in_every_state_of_a_purchase() {
    // Stop the purchase after each step by losing the next message, then inquire and ping.
    let stops: &[(&str, &str, InquiryType)] = &[
        ("TpoSelectionBlk", "consumer", InquiryType::Offer),
        ("PayReqBlk", "consumer", InquiryType::Offer),
        ("PayRespBlk", "paymenthandler", InquiryType::Payment),
        ("DeliveryRespBlk", "deliveryhandler", InquiryType::Delivery),
    ];
    for (tag, from, inquiry) in stops {
        let (mut net, n) = network("approve");
        net.set_fate(fate_for(tag, from, 1, Fate::Drop));
        let trans = start(&mut net, n, purchase_dependent().0, purchase_dependent().1);
        net.clear_fate();
        let before = net.engine(n.consumer).next_wake();
        let now = net.now;
        let out = net
            .engine(n.consumer)
            .start_inquiry(&trans, inquiry.clone(), now)
            .expect("inquiry");
        net.run(n.consumer, out);
        let answered = net.events.iter().rev().find_map(|(_, e)| match e {
            Event::InquiryAnswered {
                iotp_trans_id,
                status,
            } if iotp_trans_id == &trans => Some(status.clone()),
            _ => None,
        });
        let status = answered.unwrap_or_else(|| {
            panic!(
                "{tag}: no inquiry response; {:?}",
                blocks_sent(&net, &trans)
            )
        });
        assert_ne!(status.process_state, ProcessState::ProcessError, "{tag}");
        assert_eq!(
            net.engine(n.consumer).next_wake(),
            before,
            "an inquiry changes nothing"
        );
        for url in [
            "https://shop.example/iotp/merchant",
            "https://pay.example/iotp/paymenthandler",
            "https://ship.example/iotp/deliveryhandler",
        ] {
            let now = net.now;
            let out = net.engine(n.consumer).start_ping(url, now);
            net.run(n.consumer, out);
            let ok = net.events.iter().rev().find_map(|(_, e)| match e {
                Event::PingAnswered { code, .. } => Some(code.clone()),
                _ => None,
            });
            assert_eq!(ok, Some(PingStatusCode::Ok), "{tag} {url}");
        }
        // The purchase still completes.
        net.advance(30_000);
        assert_eq!(
            consumer_end(&net, n, &trans).map(|o| o.process_state),
            Some(ProcessState::CompletedOk),
            "{tag}"
        );
    }
    // Every message of those exchanges is valid.
}

#[test]
fn an_inquiry_about_an_unknown_transaction_is_a_hard_error_and_about_a_failure_reports_it() {
    let (mut net, n) = network("decline-BadInstrument");
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let now = net.now;
    let out = net
        .engine(n.consumer)
        .start_inquiry(&trans, InquiryType::Payment, now)
        .expect("inquiry");
    net.run(n.consumer, out);
    let status = net.events.iter().rev().find_map(|(_, e)| match e {
        Event::InquiryAnswered { status, .. } => Some(status.clone()),
        _ => None,
    });
    let status = status.expect("answered");
    assert_eq!(status.process_state, ProcessState::Failed);
    assert_eq!(status.completion_code, Some(CompletionCode::BadInstrument));
    // The Delivery Handler never heard of it.
    let inquiry = net
        .transcript
        .iter()
        .rev()
        .find(|e| has_block(&e.xml, "InquiryReqBlk"))
        .map(|e| e.xml.clone())
        .expect("sent");
    let out = net.engine(n.delivery_handler).receive(&inquiry, now);
    assert_eq!(
        error_codes(&out.reply().expect("answered").xml),
        [(ErrorCode::AttValIllegal, Severity::HardError)]
    );
}

#[test]
fn state_survives_a_restart_of_the_node() {
    // The Payment Handler's engine is rebuilt from its store between two exchange rounds.
    let (mut net, n) = network("extra-round");
    net.set_fate(fate_for("PayExchBlk", "consumer", 1, Fate::Drop));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    net.clear_fate();
    let store = net.engine(n.payment_handler).store().clone();
    let mut cfg = EngineConfig::new(world::bank());
    cfg.timing = Timing::default();
    *net.engine(n.payment_handler) =
        Engine::new(cfg, store).with_bridge(Arc::new(crate::payapi::mock::MockScheme::new(None)));
    net.advance(30_000);
    assert_eq!(
        consumer_end(&net, n, &trans).map(|o| o.process_state),
        Some(ProcessState::CompletedOk)
    );
}

#[test]
fn the_payment_handler_keeps_no_payment_data_of_the_consumer() {
    // The Consumer's scheme data (a card number with SCCD) reaches the Payment Handler's
    // scheme; the Payment Handler's record of the messages keeps it without its data.
    let (mut net, n) = network("extra-round");
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    assert_eq!(
        consumer_end(&net, n, &trans).map(|o| o.process_state),
        Some(ProcessState::CompletedOk)
    );
    let record = |net: &mut Network, node: usize, role: &str| {
        net.engine(node)
            .store()
            .load(&crate::store::TransactionKey {
                iotp_trans_id: trans.clone(),
                role: role.into(),
            })
            .expect("store")
            .expect("record")
    };
    let ph = record(&mut net, n.payment_handler, "PaymentHandler");
    let received: Vec<&str> = ph
        .messages
        .iter()
        .filter(|m| !m.sent)
        .map(|m| &*m.xml)
        .collect();
    assert!(received.iter().any(|x| x.contains("PayReqBlk")));
    assert!(received.iter().any(|x| x.contains("PayExchBlk")));
    for x in &received {
        assert!(!x.contains("instrument=extra-round;amount"), "{x}");
        assert!(!x.contains("answer="), "{x}");
        assert!(IotpMessage::from_xml(x.as_bytes()).is_ok(), "{x}");
    }
    // What it sent, and what the Consumer keeps, are whole.
    assert!(
        ph.messages
            .iter()
            .any(|m| m.sent && m.xml.contains("challenge="))
    );
    let consumer = record(&mut net, n.consumer, "Consumer");
    assert!(
        consumer
            .messages
            .iter()
            .any(|m| m.xml.contains("instrument=extra-round;amount"))
    );
}

/// Taking the payment data out of a message's text gives what writing the message again
/// without it gives, or gives way to that.
#[test]
fn payment_data_is_blanked_in_the_text_as_in_the_message() {
    let (mut net, n) = network("extra-round");
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let consumer = net
        .engine(n.consumer)
        .store()
        .load(&crate::store::TransactionKey {
            iotp_trans_id: trans,
            role: "Consumer".into(),
        })
        .expect("store")
        .expect("record");
    let logged = |msg: IotpMessage| state::Logged {
        sent: false,
        xml: msg.to_xml().into(),
        msg: Arc::new(msg),
    };
    let mut carrying = 0;
    for m in &consumer.messages {
        let msg = IotpMessage::from_xml(m.xml.as_bytes()).expect("stored message");
        let carries = m.xml.contains("PayReqBlk") || m.xml.contains("PayExchBlk");
        let l = logged(msg.clone());
        match state::blank_in_text(&l) {
            Some(text) => assert_eq!(*text, *state::blanked_message(&l)),
            None => assert!(!carries, "{}", m.xml),
        }
        if !carries {
            continue;
        }
        carrying += 1;
        // Names and data with markup characters, empty data, data as text.
        let mut odd = msg.clone();
        for b in &mut odd.blocks {
            let data = match b {
                TradingBlock::PaymentRequest(p) => p.pay_scheme_data.iter_mut().collect(),
                TradingBlock::PaymentExchange(x) => x.pay_scheme_data.iter_mut().collect(),
                _ => Vec::new(),
            };
            for psd in data {
                let first = psd.packaged_contents[0].clone();
                psd.packaged_contents.push(PackagedContent {
                    name: Some("a>b\"c'd</PackagedContent>".into()),
                    transform: Transform::None,
                    data: b"x<y>&z</PaySchemeData>".to_vec(),
                    ..first.clone()
                });
                psd.packaged_contents.push(PackagedContent {
                    data: Vec::new(),
                    ..first
                });
            }
        }
        let l = logged(odd.clone());
        let text = state::blank_in_text(&l).expect("blanked in the text");
        assert_eq!(*text, *state::blanked_message(&l));
        assert!(!text.contains("x&lt;y"), "{text}");
        // A logged text that is not the message's: left to writing the message again.
        let mut other = odd.clone();
        for b in &mut other.blocks {
            if let TradingBlock::PaymentRequest(p) = b {
                p.pay_scheme_data = None;
            }
            if let TradingBlock::PaymentExchange(x) = b {
                x.pay_scheme_data.truncate(1);
                x.pay_scheme_data[0].packaged_contents.pop();
            }
        }
        let l = state::Logged {
            sent: false,
            msg: Arc::new(other),
            xml: odd.to_xml().into(),
        };
        assert_eq!(state::blank_in_text(&l), None);
    }
    assert!(carrying >= 2, "a Payment Request and a Payment Exchange");
}

#[test]
fn a_payment_request_for_another_payment_handler_is_refused() {
    let (mut net, n, trans, req) = lost_payment_request();
    let mut other = world::bank();
    other.org_id = "other-bank.example".into();
    let mut ph = Engine::new(
        EngineConfig::new(other),
        Arc::new(crate::store::MemoryStore::new()),
    )
    .with_bridge(Arc::new(crate::payapi::mock::MockScheme::new(None)));
    let out = ph.receive(&req, net.now);
    assert_eq!(
        error_codes(&out.reply().expect("answered").xml),
        [(ErrorCode::ElInconsistent, Severity::HardError)]
    );
    // The Consumer's inquiries follow the §9.2.1 guidelines.
    let now = net.now;
    assert!(matches!(
        net.engine(n.consumer)
            .start_inquiry(&trans, InquiryType::Delivery, now),
        Err(EngineError::NotAllowed(_))
    ));
}

#[test]
fn authentication_may_precede_every_payment_transaction() {
    for t in [
        TransactionType::BaselinePurchase,
        TransactionType::BaselineRefund,
        TransactionType::BaselineDeposit,
        TransactionType::BaselineWithdrawal,
        TransactionType::BaselineValueExchange,
    ] {
        for variant in [
            "authentication first, brand-dependent",
            "authentication first, brand-independent",
        ] {
            let (mut net, n) = network("approve");
            let trans = start(&mut net, n, t.clone(), variant);
            let seq = blocks_sent(&net, &trans);
            assert_eq!(
                seq[0], "merchant>consumer:TpoBlk+AuthReqBlk",
                "{t} {variant}"
            );
            assert_eq!(seq[1], "consumer>merchant:AuthRespBlk");
            assert!(
                seq[2].starts_with("merchant>consumer:AuthStatusBlk+TpoBlk"),
                "{t} {variant}: {seq:?}"
            );
            assert_eq!(
                consumer_end(&net, n, &trans).map(|o| o.process_state),
                Some(ProcessState::CompletedOk),
                "{t} {variant}: {seq:?}"
            );
        }
    }
}

/// A store whose commits fail: nothing may leave the node that is not durable.
/// A store whose commits fail (a full disk, a process killed before its commit), around a
/// memory store whose key-value space (the payment schemes' records) works.
#[derive(Debug, Default)]
struct BrokenStore(Arc<crate::store::MemoryStore>);

impl crate::store::Store for BrokenStore {
    fn load(
        &self,
        key: &crate::store::TransactionKey,
    ) -> crate::store::StoreResult<Option<crate::store::TransactionRecord>> {
        self.0.load(key)
    }
    fn due(&self, now: i64) -> crate::store::StoreResult<Vec<crate::store::TransactionKey>> {
        self.0.due(now)
    }
    fn replay_get(
        &self,
        d: &crate::store::MessageDigest,
    ) -> crate::store::StoreResult<Option<crate::store::ReplayEntry>> {
        self.0.replay_get(d)
    }
    fn replay_begin(
        &self,
        d: &crate::store::MessageDigest,
        now: i64,
    ) -> crate::store::StoreResult<Option<crate::store::ReplayEntry>> {
        self.0.replay_begin(d, now)
    }
    fn replay_forget(&self, d: &crate::store::MessageDigest) -> crate::store::StoreResult<()> {
        self.0.replay_forget(d)
    }
    fn commit(
        &self,
        _: &[&crate::store::TransactionRecord],
        _: &[(crate::store::MessageDigest, crate::store::ReplayEntry)],
    ) -> crate::store::StoreResult<()> {
        Err(crate::store::StoreError("disk full".into()))
    }
    fn kv_get(&self, ns: &str, k: &str) -> crate::store::StoreResult<Option<Vec<u8>>> {
        self.0.kv_get(ns, k)
    }
    fn kv_put(&self, ns: &str, k: &str, v: &[u8]) -> crate::store::StoreResult<()> {
        self.0.kv_put(ns, k, v)
    }
    fn kv_insert_if_absent(&self, ns: &str, k: &str, v: &[u8]) -> crate::store::StoreResult<bool> {
        self.0.kv_insert_if_absent(ns, k, v)
    }
    fn kv_delete(&self, ns: &str, k: &str) -> crate::store::StoreResult<()> {
        self.0.kv_delete(ns, k)
    }
}

#[test]
fn nothing_leaves_a_node_whose_store_cannot_commit() {
    let (net, _, _, req) = lost_payment_request();
    let mut ph = Engine::new(
        EngineConfig::new(world::bank()),
        Arc::new(BrokenStore::default()),
    )
    .with_bridge(Arc::new(crate::payapi::mock::MockScheme::new(None)));
    let out = ph.receive(&req, net.now);
    // No Payment Response: a TransientError asking to try again.
    assert_eq!(out.messages.len(), 1);
    assert_eq!(
        error_codes(&out.messages[0].xml),
        [(ErrorCode::SystemBusy, Severity::TransientError)]
    );
    assert!(out.finished().next().is_none(), "no outcome reported");
    assert_eq!(
        ph.open_transactions(),
        0,
        "nothing kept that is not durable"
    );
    // Local requests fail with the store's error.
    let mut merchant = Engine::new(
        {
            let mut c = EngineConfig::new(world::shop());
            c.partners = vec![world::bank()];
            c
        },
        Arc::new(BrokenStore::default()),
    )
    .with_bridge(Arc::new(crate::payapi::mock::MockScheme::new(None)));
    let offer = demo_offer(
        &TransactionType::BaselinePurchase,
        "brand-independent, payment only",
        1,
    );
    assert!(matches!(
        merchant.start_offer(offer, net.now),
        Err(EngineError::Store(_))
    ));
}

#[test]
fn a_payment_request_processed_again_after_a_lost_commit_is_not_authorised_twice() {
    // The Payment Handler authorises (the scheme's record is durable in its key-value space),
    // then its commit fails (as if the process were killed before it): nothing is sent. The
    // Consumer retransmits; the Payment Handler, restarted on the same store, processes the
    // request afresh with the same PayId, and the scheme answers from its record.
    let (net, _, trans, req) = lost_payment_request();
    let message = IotpMessage::from_xml(&req).expect("readable");
    let request = message
        .blocks
        .iter()
        .find_map(|b| match b {
            TradingBlock::PaymentRequest(p) => Some(p),
            _ => None,
        })
        .expect("a Payment Request Block");
    let payment_id = request.payment.id.clone();
    let consumer_pay_id = request
        .pay_scheme_data
        .as_ref()
        .and_then(|s| s.consumer_payment_id.clone());
    let pay_id = super::payment_handler::payment_handler_pay_id(
        &trans,
        &payment_id,
        consumer_pay_id.as_deref(),
    );
    let record = format!("handler/{pay_id}");

    let kv = Arc::new(crate::store::MemoryStore::new());
    let mock = || Arc::new(crate::payapi::mock::MockScheme::new(None));
    let mut crashed = Engine::new(
        EngineConfig::new(world::bank()),
        Arc::new(BrokenStore(kv.clone())),
    )
    .with_bridge(mock());
    let out = crashed.receive(&req, net.now);
    assert_eq!(
        error_codes(&out.messages[0].xml),
        [(ErrorCode::SystemBusy, Severity::TransientError)]
    );
    let authorised = kv
        .kv_get(crate::payapi::mock::SOFTWARE_ID, &record)
        .expect("kv")
        .expect("the scheme authorised before the commit failed");

    let mut restarted =
        Engine::new(EngineConfig::new(world::bank()), kv.clone()).with_bridge(mock());
    let out = restarted.receive(&req, net.now + 1_000);
    let reply = out.reply().expect("a Payment Response");
    assert!(has_block(&reply.xml, "PayRespBlk"));
    assert!(
        std::str::from_utf8(&reply.xml)
            .expect("utf-8")
            .contains(&pay_id),
        "the same PayId"
    );
    assert_eq!(
        kv.kv_get(crate::payapi::mock::SOFTWARE_ID, &record)
            .expect("kv")
            .as_deref(),
        Some(authorised.as_slice()),
        "answered from the record, not authorised again"
    );
}

#[test]
fn warnings_beside_trading_blocks_are_reported_and_the_blocks_processed() {
    // Organisations without the PostalAddress §7.6.5 recommends: the Consumer validates the
    // Merchant's TPO with warnings and sends them in an Error Block beside its Payment
    // Request (§7.21); the Payment Handler reports them and pays.
    let strip = |mut o: OrgConfig| {
        o.legal_address = None;
        o
    };
    let mut net = Network::new();
    let mk = |org: OrgConfig, partners: Vec<OrgConfig>| {
        let mut cfg = EngineConfig::new(org);
        cfg.partners = partners;
        Engine::new(cfg, Arc::new(crate::store::MemoryStore::new()))
            .with_bridge(Arc::new(crate::payapi::mock::MockScheme::new(None)))
    };
    let consumer = net.add(
        "consumer",
        &[],
        mk(world::consumer(), vec![]).with_consumer_app(Arc::new(PickInstrument("approve".into()))),
    );
    let merchant = net.add(
        "merchant",
        &["https://shop.example/"],
        mk(strip(world::shop()), vec![strip(world::bank())]),
    );
    let ph = net.add(
        "paymenthandler",
        &["https://pay.example/"],
        mk(strip(world::bank()), vec![]),
    );
    let offer = demo_offer(
        &TransactionType::BaselinePurchase,
        "brand-independent, payment only",
        1,
    );
    let now = net.now;
    let out = net.engine(merchant).start_offer(offer, now).expect("offer");
    net.start(merchant, consumer, out);
    let done = net.finished(consumer);
    assert_eq!(done.len(), 1, "{:?}", net.events);
    assert_eq!(done[0].process_state, ProcessState::CompletedOk);
    let request = net
        .transcript
        .iter()
        .find(|e| has_block(&e.xml, "PayReqBlk"))
        .expect("a Payment Request");
    assert!(
        std::str::from_utf8(&request.xml)
            .expect("utf-8")
            .contains("Severity=\"Warning\""),
        "the warnings travel with the Payment Request"
    );
    assert!(net.events.iter().any(|(node, e)| node == "paymenthandler"
        && matches!(
            e,
            Event::ErrorReceived {
                severity: Severity::Warning,
                ..
            }
        )));
    assert_eq!(net.finished(ph)[0].process_state, ProcessState::CompletedOk);
}

#[test]
fn the_bridges_log_lines_come_out_as_log_events() {
    let (mut net, n) = network("approve");
    start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    assert!(
        net.events.iter().any(|(node, e)| node == "paymenthandler"
            && matches!(e, Event::Log(line) if line.contains("mock payment") && line.contains("[iotp-rs mock scheme 1.0]"))),
        "{:?}",
        net.events
    );
}

#[test]
fn looking_at_a_transaction_leaves_its_retransmissions_alone() {
    // The Payment Request is lost; the Consumer's application asks where the transaction
    // stands; the retransmission still goes out and the payment completes.
    let (mut net, n) = network("approve");
    net.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Drop));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let state = net
        .engine(n.consumer)
        .transaction_state(&trans, &TradingRole::Consumer)
        .expect("state");
    assert!(matches!(state, Some((_, None))), "open: {state:?}");
    assert!(
        net.engine(n.consumer).next_wake().is_some(),
        "still scheduled"
    );
    net.advance(31_000);
    let done = net.finished(n.consumer);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].process_state, ProcessState::CompletedOk);
}

/// A payment-only purchase whose Payment Request the network lost: the network, its nodes, the
/// transaction and the request's bytes (for a Payment Handler of the test's own).
fn lost_payment_request() -> (Checked, DemoNodes, String, Arc<[u8]>) {
    let (mut net, n) = network("approve");
    net.set_fate(fate_for("PayReqBlk", "consumer", 1, Fate::Drop));
    let trans = start(
        &mut net,
        n,
        TransactionType::BaselinePurchase,
        "brand-independent, payment only",
    );
    let req = net
        .messages_of(&trans)
        .into_iter()
        .find(|e| has_block(&e.xml, "PayReqBlk"))
        .map(|e| e.xml.clone())
        .expect("sent");
    (net, n, trans, req)
}

#[test]
fn shards_own_the_transactions_they_start_and_refuse_others() {
    // FNV-1a: the same mapping in every process.
    assert_eq!(shard_of("", 7), (0xcbf2_9ce4_8422_2325_u64 % 7) as usize);
    assert_eq!(
        shard_of("a", 1000),
        (0xaf63_dc4c_8601_ec8c_u64 % 1000) as usize
    );
    assert_eq!(shard_of("anything", 1), 0);

    let store = Arc::new(crate::store::MemoryStore::new());
    let mut cfg = EngineConfig::new(world::shop());
    cfg.partners = vec![world::bank(), world::carrier()];
    let bridge: Arc<dyn PaymentBridge> = Arc::new(crate::payapi::mock::MockScheme::new(None));
    let mut shards = Engine::new(cfg, store.clone())
        .with_bridge(bridge)
        .into_shards(4);
    assert_eq!(shards.len(), 4);
    let t = TransactionType::BaselinePurchase;
    let mut started = Vec::new();
    for (i, engine) in shards.iter_mut().enumerate() {
        for n in 0..5 {
            let out = engine
                .start_offer(demo_offer(&t, "brand-independent, payment only", n), 1_000)
                .expect("offer starts");
            let m = &out.messages[0];
            assert_eq!(shard_of(&m.iotp_trans_id, 4), i, "{}", m.iotp_trans_id);
            assert!(engine.owns(&m.iotp_trans_id));
            started.push((i, m.clone()));
        }
    }
    let ids: std::collections::BTreeSet<_> =
        started.iter().map(|(_, m)| &m.iotp_trans_id).collect();
    assert_eq!(ids.len(), started.len(), "every IotpTransId differs");

    // A message of a transaction another shard owns is refused, and nothing changes.
    let (owner, m) = &started[0];
    let other = (owner + 1) % 4;
    let state = |e: &mut Engine| {
        e.transaction_state(&m.iotp_trans_id, &TradingRole::Merchant)
            .expect("state")
            .map(|(phase, end)| (phase, end.map(|e| e.0)))
    };
    let before = state(&mut shards[*owner]);
    assert!(before.is_some());
    let commits = store.commits();
    let out = shards[other].receive(&m.xml, 2_000);
    assert_eq!(
        error_codes(&out.messages[0].xml),
        vec![(ErrorCode::SystemBusy, Severity::TransientError)]
    );
    assert_eq!(store.commits(), commits, "nothing committed");
    assert_eq!(state(&mut shards[*owner]), before);
}

#[test]
fn a_request_awaiting_its_response_is_kept_once_and_sent_again_as_it_was() {
    // The Payment Request is lost: the Consumer's record keeps it once, among its messages
    // (its state names it), and a transaction rebuilt from the record resends those bytes.
    let (mut net, n, trans, req) = lost_payment_request();
    let key = crate::store::TransactionKey {
        iotp_trans_id: trans.clone(),
        role: TradingRole::Consumer.to_string(),
    };
    let record = net
        .engine(n.consumer)
        .store()
        .load(&key)
        .expect("load")
        .expect("stored");
    assert!(!record.state.contains("PayReqBlk"), "{}", record.state);
    let txn = state::Txn::from_record(&record).expect("rebuilt");
    let pending = txn.st.pending.clone().expect("awaiting the response");
    let logged = txn.sent(&pending.message_id).expect("logged");
    assert_eq!(logged.xml.as_bytes(), &req[..]);
    let due = net.engine(n.consumer).wake(pending.next_at).messages;
    assert_eq!(
        due.iter().map(|m| &m.xml[..]).collect::<Vec<_>>(),
        [&req[..]],
        "sent again as it was"
    );

    // A state written when the request was copied into it reads as before.
    let mut older = record.clone();
    let mut state: serde_json::Value = serde_json::from_str(&older.state).expect("json");
    state["pending"]["xml"] = String::from_utf8_lossy(&req).into_owned().into();
    older.state = state.to_string();
    let txn = state::Txn::from_record(&older).expect("older state");
    assert_eq!(txn.st.pending, Some(pending));

    // A record that lost the request is damaged.
    let mut damaged = record;
    damaged
        .messages
        .retain(|m| !m.sent || m.xml.as_bytes() != &req[..]);
    assert!(state::Txn::from_record(&damaged).is_none());
}
