//! The Payment Handler (§2.1, §9.1.3): checks a Payment Request (§6.3), drives the payment
//! bridge through Payment Exchanges, and answers with the Payment Response (and the Delivery
//! Response when it also delivers, §9.1.5).

use std::sync::Arc;

use crate::msg::IotpMessage;
use crate::msg::TradingBlock;
use crate::msg::codes::*;
use crate::msg::model::*;
use crate::payapi::{self, ApiErrorCode, ContStatus, PaymentState, SchemeStep};

use super::build;
use super::consumer::{amount_of, offer_content, resolve};
use super::host::Host;
use super::merchant::selection_content;
use super::state::{Choice, PayContext, Phase, SavedStatus, Txn};
use super::*;

impl Engine {
    pub(crate) fn payment_handler_receive(
        &mut self,
        t: &mut Txn,
        known: bool,
        msg: &Arc<IotpMessage>,
        now: i64,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        for b in &msg.blocks {
            match b {
                TradingBlock::PaymentRequest(pr) => {
                    return self.on_payment_request(t, known, msg, pr, now, out);
                }
                TradingBlock::PaymentExchange(px) => {
                    if !known || t.st.phase != Phase::Exchanging {
                        // §4.5.2.4: unknown transaction, or no Payment Exchange sent before.
                        return Err(Fault::hard(
                            ErrorCode::ElUnexpected,
                            "PayExchBlk",
                            "no Payment Exchange of this Payment Handler awaits an answer",
                        )
                        .block(&px.id));
                    }
                    if let Some(code) = t.st.cancel_requested.take() {
                        let mut d = self.draft(t);
                        let el = t.st.payment.as_ref().map(|p| p.payment_ref.clone());
                        let code = CompletionCode::from_wire(&code);
                        let c = self.cancel_block(
                            &mut d.ids,
                            StatusType::Payment,
                            el.as_deref(),
                            code.clone(),
                        );
                        d.blocks.push(c);
                        self.abandon_payment(t, ProcessState::Failed, Some(code.clone()), now);
                        t.end(EndKind::Cancelled, ProcessState::Failed, Some(code));
                        out.events.push(Event::Finished(self.outcome_of(t, None)));
                        return Ok(Step::Reply(d));
                    }
                    let p = t.st.payment.clone().ok_or_else(|| {
                        Fault::hard(
                            ErrorCode::ElUnexpected,
                            "PayExchBlk",
                            "no payment in progress",
                        )
                        .block(&px.id)
                    })?;
                    let bridge = self.bridge_by_id(&p.bridge).ok_or_else(|| {
                        Fault::hard(
                            ErrorCode::UnknownError,
                            "PayExchBlk",
                            "the payment bridge is gone",
                        )
                    })?;
                    let input: Vec<PackagedContent> = px
                        .pay_scheme_data
                        .iter()
                        .flat_map(|s| s.packaged_contents.iter().cloned())
                        .collect();
                    let host = Host::new(&*self.store, &p.bridge, now);
                    let step = bridge.continue_process(
                        &host,
                        &payapi::ContinueProcess {
                            pay_id: p.pay_id.clone(),
                            process_type: payapi::ProcessType::Payment,
                            wallet: Default::default(),
                            pay_scheme: input,
                            from_hard_error: false,
                        },
                    );
                    let psd_id = px
                        .pay_scheme_data
                        .first()
                        .map(|s| s.id.clone())
                        .unwrap_or_default();
                    return self.payment_step(t, step, &px.id, &psd_id, now, out);
                }
                _ => {}
            }
        }
        let first = msg.blocks.first();
        Err(Fault::hard(
            ErrorCode::ElUnexpected,
            first.map(|b| b.tag()).unwrap_or("IotpMessage"),
            "a Payment Handler does not accept this block",
        )
        .block(first.map(|b| b.id()).unwrap_or("")))
    }

    fn on_payment_request(
        &mut self,
        t: &mut Txn,
        known: bool,
        msg: &IotpMessage,
        pr: &PaymentRequestBlock,
        now: i64,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        let hard =
            |code: ErrorCode, el: &str, why: String| Fault::hard(code, el, why).block(&pr.id);
        // Block-sequence checks (§4.5.2.4).
        if known {
            if t.st.phase == Phase::Exchanging {
                return Err(hard(
                    ErrorCode::ElUnexpected,
                    "PayReqBlk",
                    "a payment is still in progress in this transaction".into(),
                ));
            }
            let same_payment =
                t.st.payment
                    .as_ref()
                    .is_some_and(|p| p.payment_ref == pr.payment.id);
            if let Some(e) = &t.st.ended {
                // Another payment of the transaction (a value exchange's second) is new.
                let recoverable = !same_payment
                    || e.kind == EndKind::Failed
                        && e.completion_code
                            .as_deref()
                            .map(CompletionCode::from_wire)
                            .is_some_and(|c| flows::recoverable_payment_code(&c));
                if !recoverable {
                    return Err(hard(
                        ErrorCode::ElUnexpected,
                        "PayReqBlk",
                        "an earlier payment of this transaction ended and cannot be retried".into(),
                    ));
                }
                t.st.ended = None;
            }
        }
        let ttype = msg.trans_ref.transaction_id.iotp_trans_type.clone();
        let flow = flows::flow(&ttype)
            .filter(|f| !f.payments.is_empty())
            .ok_or_else(|| {
                Fault::hard(
                    ErrorCode::AttValIllegal,
                    "TransId",
                    format!("{ttype} is not a payment transaction"),
                )
                .att("IotpTransType")
            })?;
        t.st.trans_type = ttype.to_string();
        self.adopt_prefix(t, &pr.organisations, &TradingRole::PaymentHandler);
        // §6.3: pay only if the earlier steps succeeded.
        check_completed(&pr.statuses, &pr.id, "payment")?;
        if !pr
            .statuses
            .iter()
            .any(|s| s.status_type == StatusType::Offer)
        {
            return Err(hard(
                ErrorCode::ElMissing,
                "Status",
                "the Payment Request carries no Offer status (§8.7)".into(),
            )
            .with_value("Status"));
        }
        for r in pr.payment.start_after_refs.iter().flatten() {
            if !pr.statuses.iter().any(|s| {
                s.status_type == StatusType::Payment && s.el_ref.as_deref() == Some(r.as_str())
            }) {
                return Err(hard(ErrorCode::ElInconsistent, "Payment", format!("payment {r} must complete before this one (StartAfterRefs) and its status is missing")).comp(&pr.payment.id).att("StartAfterRefs"));
            }
        }
        let list = &pr.brand_list;
        let bs = &pr.brand_selection;
        if bs.brand_list_ref != list.id || pr.payment.brand_list_ref != list.id {
            return Err(hard(
                ErrorCode::ElInconsistent,
                "BrandSelection",
                "the Brand Selection, Payment and Brand List do not match".into(),
            )
            .comp(&bs.id)
            .att("BrandListRef"));
        }
        let position = flow.payment_index(&pr.payment);
        if let Some(dir) = flow.payments.get(position)
            && &list.pay_direction != dir
        {
            return Err(hard(
                ErrorCode::AttValIllegal,
                "BrandList",
                format!("a {ttype} payment is {dir}, not {}", list.pay_direction),
            )
            .comp(&list.id)
            .att("PayDirection"));
        }
        let choice = Choice {
            brand_list_ref: list.id.clone(),
            brand_ref: bs.brand_ref.clone(),
            protocol_amount_ref: bs.protocol_amount_ref.clone(),
            currency_amount_ref: bs.currency_amount_ref.clone(),
            bridge: String::new(),
            instrument_id: None,
            selection_id: Some(bs.id.clone()),
        };
        let (brand, pa, pp, ca) =
            resolve(list, &choice).map_err(|f| f.block(&pr.id).comp(&bs.id))?;
        // §6.3.1.1: the selection is consistent within its Brand List …
        if !brand.protocol_amount_refs.contains(&pa.id) || !pa.currency_amount_refs.contains(&ca.id)
        {
            return Err(hard(
                ErrorCode::ElInconsistent,
                "BrandSelection",
                "the selected Brand, ProtocolAmount and CurrencyAmount do not belong together"
                    .into(),
            )
            .comp(&bs.id));
        }
        // … and names this Payment Handler, whose Org plays that role (§6.3.1.1 step 5).
        let is_me = self.is_own_org(
            &pr.organisations,
            &pp.action_org_ref,
            &TradingRole::PaymentHandler,
        );
        if !is_me {
            return Err(hard(
                ErrorCode::ElInconsistent,
                "PayProtocol",
                "the selected PayProtocol does not name this Payment Handler's Organisation".into(),
            )
            .comp(&list.id)
            .att("ActionOrgRef"));
        }
        // §6.3.3: exactly one Merchant.
        let merchants = pr
            .organisations
            .iter()
            .flat_map(|o| o.trading_roles.iter())
            .filter(|r| r.trading_role == TradingRole::Merchant)
            .count();
        if merchants != 1 {
            return Err(hard(
                ErrorCode::ElInconsistent,
                "Org",
                format!(
                    "the Payment Request names {merchants} Merchants; exactly one is needed (§6.3.3)"
                ),
            ));
        }
        let lang = self.config.lang.clone();
        let Some(bridge) = self.bridge_for_protocol(&pp.protocol_id) else {
            // A business failure: this Payment Handler does not take the brand (§7.16.2).
            let mut d = self.draft(t);
            let status = build::status(
                &mut d.ids,
                &lang,
                StatusType::Payment,
                Some(&pr.payment.id),
                ProcessState::Failed,
                Some(CompletionCode::BrandNotSupp),
                None,
                Some("no payment bridge for this protocol"),
            );
            t.st.last_status = Some(SavedStatus::of(&status));
            d.blocks
                .push(TradingBlock::PaymentResponse(PaymentResponseBlock {
                    id: String::new(),
                    status,
                    ..PaymentResponseBlock::default()
                }));
            t.end(
                EndKind::Failed,
                ProcessState::Failed,
                Some(CompletionCode::BrandNotSupp),
            );
            out.events.push(Event::Finished(self.outcome_of(t, None)));
            return Ok(Step::Reply(d));
        };
        let info = bridge.info();
        let merchant_org = pr
            .organisations
            .iter()
            .find(|o| {
                o.trading_roles
                    .iter()
                    .any(|r| r.trading_role == TradingRole::Merchant)
            })
            .map(|o| o.org_id.clone())
            .unwrap_or_default();
        let psd = pr.pay_scheme_data.as_ref();
        // The PayId is derived from what identifies the payment (transaction, Payment
        // component, the Consumer's PayId), never drawn at random: a Payment Request processed
        // again after a crash between the scheme's durable authorisation and the engine's
        // commit reaches the scheme with the same PayId, and the scheme answers from its
        // record instead of authorising twice. The same payment retried after a recoverable
        // failure keeps its PayId for the same reason.
        let pay_id = payment_handler_pay_id(
            &t.key.iotp_trans_id,
            &pr.payment.id,
            psd.and_then(|s| s.consumer_payment_id.as_deref()),
        );
        // Trading Role Data addressed to this Payment Handler's Org (the PayProtocol's).
        let my_refs = [pp.action_org_ref.as_str()];
        let trd: Vec<PackagedContent> = pr
            .trading_role_data
            .iter()
            .filter(|d| {
                d.destination_el_refs
                    .iter()
                    .any(|r| my_refs.contains(&r.as_str()))
            })
            .flat_map(|d| d.packaged_contents.iter().cloned())
            .collect();
        t.st.payment = Some(PayContext {
            bridge: info.software_id.clone(),
            pay_id: pay_id.clone(),
            payment_ref: pr.payment.id.clone(),
            peer_pay_id: psd.and_then(|s| s.consumer_payment_id.clone()),
        });
        let host = Host::new(&*self.store, &info.software_id, now);
        let step = bridge.start_payment_payment_handler(
            &host,
            &payapi::StartPaymentPaymentHandler {
                brand_id: brand.brand_id.clone(),
                consumer_pay_id: psd.and_then(|s| s.consumer_payment_id.clone()),
                amount: amount_of(list, ca),
                protocol_id: pp.protocol_id.clone(),
                ok_from: pr.payment.ok_from.clone(),
                ok_to: pr.payment.ok_to.clone(),
                payment_handler_pay_id: pay_id,
                merchant_org_id: merchant_org,
                wallet: Default::default(),
                offer: offer_content(brand, pa, pp, None),
                brand_selection: selection_content(bs),
                trading_role_data: trd,
                pay_scheme: psd.map(|s| s.packaged_contents.clone()).unwrap_or_default(),
            },
        );
        let psd_id = psd.map(|s| s.id.clone()).unwrap_or_default();
        self.payment_step(t, step, &pr.id, &psd_id, now, out)
    }

    /// Turns the bridge's answer into a Payment Exchange or the Payment Response.
    fn payment_step(
        &mut self,
        t: &mut Txn,
        step: Result<SchemeStep, payapi::ApiError>,
        blk: &str,
        psd: &str,
        now: i64,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        let p =
            t.st.payment
                .clone()
                .ok_or_else(|| Fault::hard(ErrorCode::UnknownError, "PayReqBlk", "no payment"))?;
        let step = match step {
            Ok(s) => s,
            Err(e) if e.code == ApiErrorCode::BusError => SchemeStep::end(Vec::new()),
            Err(e) => {
                let mut f = api_fault(&e, "PaySchemeData");
                f.location.blk_ref.get_or_insert_with(|| blk.to_owned());
                if !psd.is_empty() {
                    f.location.comp_ref.get_or_insert_with(|| psd.to_owned());
                }
                return Err(f);
            }
        };
        let mut d = self.draft(t);
        if step.cont_status == ContStatus::Continue {
            d.blocks
                .push(TradingBlock::PaymentExchange(PaymentExchangeBlock {
                    id: String::new(),
                    pay_scheme_data: vec![PaymentSchemeData {
                        id: d.ids.next(),
                        payment_ref: Some(p.payment_ref.clone()),
                        consumer_payment_id: p.peer_pay_id.clone(),
                        payment_handler_pay_id: Some(p.pay_id.clone()),
                        content_software_id: Some(p.bridge.clone()),
                        packaged_contents: step.pay_scheme,
                        ..Default::default()
                    }],
                    ..Default::default()
                }));
            t.st.phase = Phase::Exchanging;
            t.st.deadline = Some(now + i64::from(self.config.timing.idle_timeout_secs) * 1000);
            return Ok(Step::Reply(d));
        }
        // End: InquireProcessState, then the Payment Response; no scheme data after it.
        let bridge = self.bridge_by_id(&p.bridge).ok_or_else(|| {
            Fault::hard(
                ErrorCode::UnknownError,
                "PayReqBlk",
                "the payment bridge is gone",
            )
        })?;
        let host = Host::new(&*self.store, &p.bridge, now);
        let state = bridge
            .inquire_process_state(
                &host,
                &payapi::InquireProcessState {
                    pay_id: p.pay_id.clone(),
                    wallet: Default::default(),
                },
            )
            .map_err(|e| api_fault(&e, "PaySchemeData").block(blk))?;
        let mut process_state = state.status.process_state.to_wire();
        let mut code = state.status.completion_code.clone();
        if !matches!(
            process_state,
            ProcessState::CompletedOk | ProcessState::Failed
        ) {
            // The bridge ended without a final state: a business failure we cannot name.
            process_state = ProcessState::Failed;
            code = Some(code.unwrap_or(CompletionCode::Unspecified));
        }
        if process_state == ProcessState::Failed && code.is_none() {
            code = Some(CompletionCode::Unspecified);
        }
        let ok = process_state == ProcessState::CompletedOk;
        let lang = self.config.lang.clone();
        let status = build::status(
            &mut d.ids,
            &lang,
            StatusType::Payment,
            Some(&p.payment_ref),
            process_state.clone(),
            code.clone(),
            Some(&p.pay_id),
            state.status.status_desc.as_deref(),
        );
        let pay_receipt = ok.then(|| PaymentReceipt {
            id: d.ids.next(),
            payment_ref: p.payment_ref.clone(),
            pay_receipt_name_refs: (!state.pay_receipt_name_refs.is_empty())
                .then(|| state.pay_receipt_name_refs.clone()),
            content_software_id: Some(p.bridge.clone()),
            packaged_contents: state.receipt.clone(),
            ..Default::default()
        });
        let pay_scheme_data = (!step.pay_scheme.is_empty()).then(|| PaymentSchemeData {
            id: d.ids.next(),
            payment_ref: Some(p.payment_ref.clone()),
            consumer_payment_id: p.peer_pay_id.clone(),
            payment_handler_pay_id: Some(p.pay_id.clone()),
            content_software_id: Some(p.bridge.clone()),
            packaged_contents: step.pay_scheme,
            ..Default::default()
        });
        t.st.last_status = Some(SavedStatus::of(&status));
        d.blocks
            .push(TradingBlock::PaymentResponse(PaymentResponseBlock {
                id: String::new(),
                status,
                pay_receipt,
                pay_scheme_data,
                payment_note: None,
                trading_role_data: Vec::new(),
                ..Default::default()
            }));
        let _ = bridge.change_process_state(
            &host,
            &payapi::ChangeProcessState {
                pay_id: p.pay_id.clone(),
                process_state: PaymentState::Iotp(process_state.clone()),
                completion_code: code.clone(),
                process_type: payapi::ProcessType::Payment,
                wallet: Default::default(),
            },
        );
        // Payment with delivery (§9.1.5): this node is also the Merchant and Delivery Handler.
        if ok && let Some(dr) = self.delivery_with_payment(t, &mut d.ids, now) {
            d.blocks.push(TradingBlock::DeliveryResponse(dr));
        }
        t.st.phase = Phase::Done;
        t.end(
            if ok {
                EndKind::Completed
            } else {
                EndKind::Failed
            },
            process_state,
            code,
        );
        out.events.push(Event::Finished(self.outcome_of(t, None)));
        Ok(Step::Reply(d))
    }

    /// The Delivery Response a Payment Handler sends with its Payment Response when the offer
    /// says `DelivAndPayResp="True"`; it needs the Merchant's offer, so the node must be the
    /// Merchant and the Delivery Handler too.
    fn delivery_with_payment(
        &mut self,
        t: &Txn,
        ids: &mut build::Ids,
        _now: i64,
    ) -> Option<DeliveryResponseBlock> {
        if !self.plays(&TradingRole::DeliveryHandler) || !self.plays(&TradingRole::Merchant) {
            return None;
        }
        let mkey = key(&t.key.iotp_trans_id, &TradingRole::Merchant);
        let merchant = self.load(&mkey).ok().flatten()?;
        let or = merchant.offer_response().cloned();
        let offer = merchant.st.offer.clone();
        self.live.insert(mkey, merchant);
        let or = or?;
        let delivery = or
            .delivery
            .as_ref()
            .filter(|d| d.deliv_and_pay_resp == Flag::True)?;
        let order = or.order.as_ref()?;
        let request = DeliveryRequest {
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            order_identifier: order.order_identifier.clone(),
            order_desc: order.short_desc.clone(),
            method: delivery
                .delivery_data
                .as_ref()
                .map(|d| d.deliv_method.clone())
                .unwrap_or(DelivMethod::Web),
            deliv_to: offer.map(|o| o.consumer_org_id).unwrap_or_default(),
        };
        Some(self.delivery_response(ids, &delivery.id, &request))
    }
}

/// The Payment Handler's PayId of a payment: `P` and 16 hex digits of the SHA-256 of the
/// IotpTransId, the Payment component's ID and the Consumer's PayId.
pub(crate) fn payment_handler_pay_id(
    iotp_trans_id: &str,
    payment_ref: &str,
    consumer_pay_id: Option<&str>,
) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        "iotp-payment-handler-pay-id",
        iotp_trans_id,
        payment_ref,
        consumer_pay_id.unwrap_or(""),
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let digest = ctx.finish();
    let mut id = String::with_capacity(17);
    id.push('P');
    for b in &digest.as_ref()[..8] {
        build::push_hex(&mut id, u64::from(*b), 2);
    }
    id
}
