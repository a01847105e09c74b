//! The Consumer (§2.1, §4.6): chooses how to pay, sends the Payment and Delivery Requests,
//! answers Payment Exchanges and Authentication Requests, and cancels.

use std::sync::Arc;

use crate::msg::IotpMessage;
use crate::msg::TradingBlock;
use crate::msg::codes::*;
use crate::msg::model::*;
use crate::payapi::{self, AmountInfo, ContStatus, OfferContent, PaymentState};

use super::host::Host;
use super::state::{Choice, PayContext, Phase, SavedStatus, Txn, exchange_of};
use super::*;

fn net_locn(insecure: &Option<String>, secure: &Option<String>) -> Option<String> {
    secure.clone().or_else(|| insecure.clone())
}

fn unexpected(tag: &str, id: &str, why: &str) -> Fault {
    Fault::hard(ErrorCode::ElUnexpected, tag, why.to_owned()).block(id)
}

impl Engine {
    pub(crate) fn consumer_receive(
        &mut self,
        t: &mut Txn,
        known: bool,
        msg: &Arc<IotpMessage>,
        now: i64,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        let mut tpo = None;
        let mut offer_resp = None;
        let mut auth_req = None;
        let mut auth_status = None;
        let mut pay_exch = None;
        let mut pay_resp = None;
        let mut deliv_resp = None;
        for b in &msg.blocks {
            match b {
                TradingBlock::TradingProtocolOptions(x) => tpo = Some(x),
                TradingBlock::OfferResponse(x) => offer_resp = Some(x),
                TradingBlock::AuthenticationRequest(x) => auth_req = Some(x),
                TradingBlock::AuthenticationStatus(x) => auth_status = Some(x),
                TradingBlock::PaymentExchange(x) => pay_exch = Some(x),
                TradingBlock::PaymentResponse(x) => pay_resp = Some(x),
                TradingBlock::DeliveryResponse(x) => deliv_resp = Some(x),
                other => {
                    return Err(unexpected(
                        other.tag(),
                        other.id(),
                        "a Consumer does not accept this block",
                    ));
                }
            }
        }
        // Block-sequence checks (§4.6.2.1).
        if let Some(tp) = tpo {
            let why = if auth_req.is_some() && offer_resp.is_some() {
                Some("a TPO may not come with both an Authentication Request and an Offer Response")
            } else if auth_req.is_some() && auth_status.is_some() {
                Some(
                    "a TPO may not come with both an Authentication Request and an Authentication Status",
                )
            } else if auth_req.is_some() && known {
                Some("an Authentication Request must start a new transaction")
            } else if auth_status.is_some() && !known {
                Some("an Authentication Status for an unknown transaction")
            } else if auth_status.is_some() && t.st.phase != Phase::AwaitAuthStatus {
                Some("no Authentication Response was sent before this Authentication Status")
            } else if auth_status.is_none() && known {
                Some("a TPO for a transaction already known")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(unexpected("TpoBlk", &tp.id, why));
            }
        }
        if !known {
            if tpo.is_none() {
                let b = msg.blocks.first();
                return Err(unexpected(
                    b.map(|b| b.tag()).unwrap_or("IotpMessage"),
                    b.map(|b| b.id()).unwrap_or(""),
                    "unknown transaction",
                ));
            }
            t.st.trans_type = msg.trans_ref.transaction_id.iotp_trans_type.to_string();
            t.st.prefix = "C".into();
        }
        if let Some(tp) = tpo {
            if t.st.success_net_locn.is_none() {
                t.st.success_net_locn = Some(tp.protocol_options.success_net_locn.clone());
            }
            let merchant = net_locn(
                &tp.protocol_options.sender_net_locn,
                &tp.protocol_options.secure_sender_net_locn,
            );
            if merchant.is_some() && t.st.peer.is_none() {
                t.st.peer = merchant;
            }
        }
        if let Some(areq) = auth_req {
            let tp = tpo.ok_or_else(|| {
                unexpected(
                    "AuthReqBlk",
                    &areq.id,
                    "an Authentication Request comes with a TPO",
                )
            })?;
            return self.consumer_authenticate(t, tp, areq, now);
        }
        if let Some(st) = auth_status {
            if st.status.process_state != ProcessState::CompletedOk {
                let code = st.status.completion_code.clone();
                t.end(EndKind::Failed, ProcessState::Failed, code);
                out.events.push(Event::Finished(self.outcome_of(t, None)));
                return Ok(Step::Quiet);
            }
            if tpo.is_none_or(|tp| tp.brand_lists.is_empty()) {
                t.st.phase = Phase::Done;
                t.end(EndKind::Completed, ProcessState::CompletedOk, None);
                let next = t.st.success_net_locn.clone();
                out.events.push(Event::Finished(self.outcome_of(t, next)));
                return Ok(Step::Quiet);
            }
        }
        if let Some(tp) = tpo {
            let mut choices = Vec::new();
            for list in &tp.brand_lists {
                match self.choose(t, tp, list, offer_resp, msg, now)? {
                    Some(c) => choices.push(c),
                    None => {
                        let el = tp.id.clone();
                        return self.consumer_cancel_now(
                            t,
                            StatusType::Offer,
                            Some(&el),
                            CompletionCode::ConsCancelled,
                            out,
                        );
                    }
                }
            }
            t.st.choices = choices;
            if offer_resp.is_none() {
                // Brand dependent: send the selection, await the Offer Response.
                let mut d = self.draft(t);
                let mut selections = Vec::new();
                for i in 0..t.st.choices.len() {
                    let bs = self.brand_selection(t, tp, i, &mut d.ids, now)?;
                    t.st.choices[i].selection_id = Some(bs.id.clone());
                    selections.push(bs);
                }
                d.blocks.push(TradingBlock::TpoSelection(TpoSelectionBlock {
                    id: String::new(),
                    brand_selections: selections,
                    ..Default::default()
                }));
                t.st.phase = Phase::AwaitOffer;
                let to = t.st.peer.clone().ok_or_else(|| {
                    Fault::hard(
                        ErrorCode::AttMissing,
                        "ProtocolOptions",
                        "the TPO names no SenderNetLocn for the TPO Selection",
                    )
                    .att("SenderNetLocn")
                })?;
                return Ok(Step::Request {
                    to,
                    draft: d,
                    payment: false,
                });
            }
        }
        if let Some(or) = offer_resp {
            if tpo.is_none() && t.st.phase != Phase::AwaitOffer {
                return Err(unexpected(
                    "OfferRespBlk",
                    &or.id,
                    "no TPO Selection was sent before this Offer Response",
                ));
            }
            if or.status.process_state != ProcessState::CompletedOk {
                t.end(
                    EndKind::Failed,
                    ProcessState::Failed,
                    or.status.completion_code.clone(),
                );
                out.events.push(Event::Finished(self.outcome_of(t, None)));
                return Ok(Step::Quiet);
            }
            let summary = self.offer_summary(t, msg);
            if !self.consumer_app.approve(&summary) {
                let order = or.order.as_ref().map(|o| o.id.clone());
                return self.consumer_cancel_now(
                    t,
                    StatusType::Offer,
                    order.as_deref(),
                    CompletionCode::ConsCancelled,
                    out,
                );
            }
            return self.pay_next(t, Some(msg), now, out);
        }
        if let Some(px) = pay_exch {
            if t.st.phase != Phase::AwaitPayment {
                return Err(unexpected(
                    "PayExchBlk",
                    &px.id,
                    "no Payment Request or Payment Exchange was sent before this Payment Exchange",
                ));
            }
            return self.consumer_exchange(t, px, now);
        }
        if let Some(pr) = pay_resp {
            if t.st.phase != Phase::AwaitPayment {
                return Err(unexpected(
                    "PayRespBlk",
                    &pr.id,
                    "no Payment Request or Payment Exchange was sent before this Payment Response",
                ));
            }
            return self.consumer_payment_response(t, msg, pr, deliv_resp, now, out);
        }
        if let Some(dr) = deliv_resp {
            if t.st.phase != Phase::AwaitDelivery {
                return Err(unexpected(
                    "DeliveryRespBlk",
                    &dr.id,
                    "no Delivery Request was sent before this Delivery Response",
                ));
            }
            return Ok(self.consumer_delivered(t, dr, out));
        }
        Err(Fault::hard(
            ErrorCode::ElMissing,
            "IotpMessage",
            "the message has no block a Consumer acts on",
        ))
    }

    fn offer_summary(&self, t: &Txn, msg: &IotpMessage) -> OfferSummary {
        let tpo = msg
            .blocks
            .iter()
            .find_map(|b| match b {
                TradingBlock::TradingProtocolOptions(x) => Some(x),
                _ => None,
            })
            .or_else(|| t.tpo());
        let order = msg
            .blocks
            .iter()
            .find_map(|b| match b {
                TradingBlock::OfferResponse(o) => o.order.as_ref(),
                _ => None,
            })
            .or_else(|| t.offer_response().and_then(|o| o.order.as_ref()));
        OfferSummary {
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            trans_type: TransactionType::from_wire(&t.st.trans_type),
            short_desc: tpo
                .map(|t| t.protocol_options.short_desc.clone())
                .unwrap_or_default(),
            merchant: tpo
                .and_then(|t| {
                    t.organisations.iter().find(|o| {
                        o.trading_roles
                            .iter()
                            .any(|r| r.trading_role == TradingRole::Merchant)
                    })
                })
                .map(|o| o.org_id.clone())
                .unwrap_or_default(),
            order_desc: order.map(|o| o.short_desc.clone()),
        }
    }

    /// Offers the application every (brand, protocol, amount, instrument) of a Brand List
    /// that a bridge of this node can pay, and records its choice (§9.1.2, RFC 3867 §2.2).
    fn choose(
        &mut self,
        t: &Txn,
        tpo: &TradingProtocolOptionsBlock,
        list: &BrandList,
        _offer_resp: Option<&OfferResponseBlock>,
        msg: &IotpMessage,
        now: i64,
    ) -> Result<Option<Choice>, Fault> {
        let mut options = Vec::new();
        // Per option, what its Choice refers to (made only for the option chosen).
        let mut refs: Vec<(&Brand, &ProtocolAmount, &CurrencyAmount, usize)> = Vec::new();
        let mut bridges = Vec::new();
        for brand in &list.brands {
            for pa_ref in &brand.protocol_amount_refs {
                let Some(pa) = list.protocol_amounts.iter().find(|p| &p.id == pa_ref) else {
                    continue;
                };
                let Some(pp) = list
                    .pay_protocols
                    .iter()
                    .find(|p| p.id == pa.pay_protocol_ref)
                else {
                    continue;
                };
                let Some(bridge) = self.bridge_for_protocol(&pp.protocol_id) else {
                    continue;
                };
                let info = bridge.info();
                let host = Host::new(&*self.store, &info.software_id, now);
                let bridge_index = bridges.len();
                for ca_ref in &pa.currency_amount_refs {
                    let Some(ca) = list.currency_amounts.iter().find(|c| &c.id == ca_ref) else {
                        continue;
                    };
                    let instruments = bridge
                        .find_payment_instrument(
                            &host,
                            &payapi::FindPaymentInstrument {
                                brand_id: brand.brand_id.clone(),
                                protocol_id: pp.protocol_id.clone(),
                                amount: AmountInfo {
                                    pay_direction: list.pay_direction.clone(),
                                    curr_code_type: ca.curr_code_type.clone(),
                                    curr_code: ca.curr_code.clone(),
                                    amount: ca.amount.clone(),
                                },
                                consumer_pay_id: String::new(),
                                wallet_id: None,
                                offer: offer_content(brand, pa, pp, None),
                            },
                        )
                        .map(|r| r.instruments)
                        .unwrap_or_default();
                    let mut push = |id: Option<String>, name: Option<String>| {
                        options.push(PaymentOption {
                            brand_id: brand.brand_id.clone(),
                            protocol_id: pp.protocol_id.clone(),
                            amount: ca.amount.clone(),
                            currency: ca.curr_code.clone(),
                            instrument_id: id,
                            instrument_name: name,
                        });
                        refs.push((brand, pa, ca, bridge_index));
                    };
                    if instruments.is_empty() {
                        push(None, None);
                    }
                    for i in instruments {
                        push(Some(i.id), Some(i.pay_inst_name));
                    }
                }
                bridges.push(info.software_id);
            }
        }
        let _ = tpo;
        let summary = self.offer_summary(t, msg);
        Ok(self
            .consumer_app
            .choose(&summary, &list.pay_direction, &options)
            .and_then(|i| {
                let (brand, pa, ca, bridge) = refs.get(i)?;
                Some(Choice {
                    brand_list_ref: list.id.clone(),
                    brand_ref: brand.id.clone(),
                    protocol_amount_ref: pa.id.clone(),
                    currency_amount_ref: ca.id.clone(),
                    bridge: bridges[*bridge].clone(),
                    instrument_id: options[i].instrument_id.clone(),
                    selection_id: None,
                })
            }))
    }

    /// A Brand Selection for the i-th choice, with the content CheckPaymentPossibility gives.
    fn brand_selection(
        &mut self,
        t: &Txn,
        tpo: &TradingProtocolOptionsBlock,
        i: usize,
        ids: &mut build::Ids,
        now: i64,
    ) -> Result<BrandSelection, Fault> {
        let c = t.st.choices[i].clone();
        let list = tpo
            .brand_lists
            .iter()
            .find(|l| l.id == c.brand_list_ref)
            .or_else(|| t.brand_list(&c.brand_list_ref))
            .ok_or_else(|| {
                Fault::hard(
                    ErrorCode::ElMissing,
                    "BrandList",
                    "the chosen Brand List is gone",
                )
            })?;
        let (brand, pa, pp, ca) = resolve(list, &c)?;
        let bridge = self.bridge_by_id(&c.bridge).ok_or_else(|| {
            Fault::hard(
                ErrorCode::UnknownError,
                "BrandList",
                "the payment bridge is gone",
            )
        })?;
        let pay_id = self.new_pay_id('C');
        let host = Host::new(&*self.store, &c.bridge, now);
        let content = bridge
            .check_payment_possibility(
                &host,
                &payapi::CheckPaymentPossibility {
                    brand_id: brand.brand_id.clone(),
                    payment_instrument_id: c.instrument_id.clone(),
                    amount: amount_of(list, ca),
                    protocol_id: pp.protocol_id.clone(),
                    consumer_pay_id: pay_id,
                    wallet: Default::default(),
                    offer: offer_content(brand, pa, pp, None),
                },
            )
            .map_err(|e| api_fault(&e, "BrandSelection"))?
            .brand_selection;
        let part = |ids: &mut build::Ids, pcs: Vec<PackagedContent>| {
            (!pcs.is_empty()).then(|| (ids.next(), pcs))
        };
        let bi = part(ids, content.brand_info);
        let pai = part(ids, content.protocol_amount_info);
        let cai = part(ids, content.currency_amount_info);
        Ok(BrandSelection {
            id: ids.next(),
            brand_list_ref: list.id.clone(),
            brand_ref: brand.id.clone(),
            protocol_amount_ref: pa.id.clone(),
            currency_amount_ref: ca.id.clone(),
            brand_info: bi.map(|(id, packaged_contents)| BrandSelectionBrandInfo {
                id,
                content_software_id: None,
                packaged_contents,
                ..Default::default()
            }),
            protocol_amount_info: pai.map(|(id, packaged_contents)| {
                BrandSelectionProtocolAmountInfo {
                    id,
                    content_software_id: None,
                    packaged_contents,
                    ..Default::default()
                }
            }),
            currency_amount_info: cai.map(|(id, packaged_contents)| {
                BrandSelectionCurrencyAmountInfo {
                    id,
                    content_software_id: None,
                    packaged_contents,
                    ..Default::default()
                }
            }),
            ..Default::default()
        })
    }

    /// Sends the Payment Request of the next payment whose predecessors are paid (§9.1.3;
    /// `StartAfterRefs` orders a value exchange's two payments).
    fn pay_next(
        &mut self,
        t: &mut Txn,
        _msg: Option<&IotpMessage>,
        now: i64,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        // The Offer Response is read from its message, which is shared, not copied.
        let or_message = t
            .msgs
            .iter()
            .rev()
            .find(|l| {
                l.msg
                    .blocks
                    .iter()
                    .any(|b| matches!(b, TradingBlock::OfferResponse(_)))
            })
            .map(|l| l.msg.clone());
        let or = or_message.as_deref().and_then(|m| {
            m.blocks.iter().find_map(|b| match b {
                TradingBlock::OfferResponse(o) => Some(o),
                _ => None,
            })
        });
        let or = or.ok_or_else(|| {
            Fault::hard(
                ErrorCode::ElMissing,
                "OfferRespBlk",
                "no Offer Response in the transaction",
            )
        })?;
        let next = or.payments.iter().find(|p| {
            !t.st.payments_done.contains(&p.id)
                && p.start_after_refs
                    .iter()
                    .flatten()
                    .all(|r| t.st.payments_done.contains(r))
        });
        let Some(payment) = next.cloned() else {
            return Ok(self.consumer_after_payments(t, or, now, out));
        };
        let ci =
            t.st.choices
                .iter()
                .position(|c| c.brand_list_ref == payment.brand_list_ref)
                .ok_or_else(|| {
                    Fault::hard(
                        ErrorCode::ElInconsistent,
                        "Payment",
                        "the Payment's Brand List is not in the TPO",
                    )
                    .comp(&payment.id)
                    .att("BrandListRef")
                })?;
        let c = t.st.choices[ci].clone();
        let list = t.brand_list(&c.brand_list_ref).cloned().ok_or_else(|| {
            Fault::hard(
                ErrorCode::ElMissing,
                "BrandList",
                "the chosen Brand List is gone",
            )
        })?;
        let (brand, pa, pp, ca) = resolve(&list, &c)?;
        let (brand, pa, pp, ca) = (brand.clone(), pa.clone(), pp.clone(), ca.clone());
        let to = net_locn(&pp.pay_req_net_locn, &pp.sec_pay_req_net_locn).ok_or_else(|| {
            Fault::hard(
                ErrorCode::AttMissing,
                "PayProtocol",
                "the PayProtocol names no PayReqNetLocn",
            )
            .att("PayReqNetLocn")
        })?;
        let mut d = self.draft(t);
        let selection = match c.selection_id.as_deref().and_then(|id| {
            t.blocks().find_map(|b| match b {
                TradingBlock::TpoSelection(s) => {
                    s.brand_selections.iter().find(|x| x.id == id).cloned()
                }
                _ => None,
            })
        }) {
            Some(s) => s,
            None => {
                let tpo = t
                    .tpo()
                    .ok_or_else(|| Fault::hard(ErrorCode::ElMissing, "TpoBlk", "no TPO"))?;
                self.brand_selection(t, tpo, ci, &mut d.ids, now)?
            }
        };
        let bridge = self.bridge_by_id(&c.bridge).ok_or_else(|| {
            Fault::hard(
                ErrorCode::UnknownError,
                "PayProtocol",
                "the payment bridge is gone",
            )
        })?;
        let pay_id = self.new_pay_id('C');
        let host = Host::new(&*self.store, &c.bridge, now);
        let step = bridge
            .start_payment_consumer(
                &host,
                &payapi::StartPaymentConsumer {
                    brand_id: brand.brand_id.clone(),
                    payment_instrument_id: c.instrument_id.clone(),
                    amount: amount_of(&list, &ca),
                    protocol_id: pp.protocol_id.clone(),
                    protocol_brand_id: None,
                    ok_from: payment.ok_from.clone(),
                    ok_to: payment.ok_to.clone(),
                    consumer_pay_id: pay_id.clone(),
                    wallet: Default::default(),
                    offer: OfferContent {
                        order: or
                            .order
                            .as_ref()
                            .map(|o| o.packaged_contents.clone())
                            .unwrap_or_default(),
                        ..offer_content(&brand, &pa, &pp, None)
                    },
                },
            )
            .map_err(|e| api_fault(&e, "PaySchemeData"))?;
        let mut statuses = vec![or.status.clone()];
        for r in payment.start_after_refs.iter().flatten() {
            if let Some(s) = t.payment_response_status(r) {
                statuses.push(s.clone());
            }
        }
        // Orgs (§8.7): Merchant, Consumer, this Payment Handler, the previous and next steps.
        let previous = payment.start_after_refs.iter().flatten().map(|r| {
            or.payments
                .iter()
                .find(|p| &p.id == r)
                .and_then(|p| t.chosen_pay_protocol(&p.brand_list_ref))
                .and_then(|pp| t.org_by_id(&pp.action_org_ref))
        });
        let next = or
            .delivery
            .as_ref()
            .and_then(|d| d.action_org_ref.as_deref())
            .and_then(|id| t.org_by_id(id));
        let orgs = distinct_orgs(
            [
                t.org_with_role(&TradingRole::Merchant),
                t.org_with_role(&TradingRole::Consumer),
                t.org_by_id(&pp.action_org_ref),
            ]
            .into_iter()
            .chain(previous)
            .chain([next]),
        );
        let trd: Vec<TradingRoleData> = or
            .trading_role_data
            .iter()
            .filter(|x| x.destination_el_refs.contains(&pp.action_org_ref))
            .cloned()
            .collect();
        let psd = (!step.pay_scheme.is_empty()).then(|| PaymentSchemeData {
            id: d.ids.next(),
            payment_ref: Some(payment.id.clone()),
            consumer_payment_id: Some(pay_id.clone()),
            payment_handler_pay_id: None,
            content_software_id: Some(c.bridge.clone()),
            packaged_contents: step.pay_scheme,
            ..Default::default()
        });
        let payment_ref = payment.id.clone();
        d.blocks
            .push(TradingBlock::PaymentRequest(PaymentRequestBlock {
                id: String::new(),
                statuses,
                brand_list: list,
                brand_selection: selection,
                payment,
                pay_scheme_data: psd,
                organisations: orgs,
                trading_role_data: trd,
                ..Default::default()
            }));
        t.st.payment = Some(PayContext {
            bridge: c.bridge.clone(),
            pay_id,
            payment_ref,
            peer_pay_id: None,
        });
        t.st.phase = Phase::AwaitPayment;
        Ok(Step::Request {
            to,
            draft: d,
            payment: true,
        })
    }

    fn consumer_exchange(
        &mut self,
        t: &mut Txn,
        px: &PaymentExchangeBlock,
        now: i64,
    ) -> Result<Step, Fault> {
        let p =
            t.st.payment
                .clone()
                .ok_or_else(|| unexpected("PayExchBlk", &px.id, "no payment in progress"))?;
        let bridge = self.bridge_by_id(&p.bridge).ok_or_else(|| {
            Fault::hard(
                ErrorCode::UnknownError,
                "PayExchBlk",
                "the payment bridge is gone",
            )
        })?;
        let host = Host::new(&*self.store, &p.bridge, now);
        let input: Vec<PackagedContent> = px
            .pay_scheme_data
            .iter()
            .flat_map(|s| s.packaged_contents.iter().cloned())
            .collect();
        let ph_pay_id = px
            .pay_scheme_data
            .iter()
            .find_map(|s| s.payment_handler_pay_id.clone());
        let step = bridge
            .continue_process(
                &host,
                &payapi::ContinueProcess {
                    pay_id: p.pay_id.clone(),
                    process_type: payapi::ProcessType::Payment,
                    wallet: Default::default(),
                    pay_scheme: input,
                    from_hard_error: false,
                },
            )
            .map_err(|e| api_fault(&e, "PaySchemeData").block(&px.id))?;
        if step.cont_status == ContStatus::End && step.pay_scheme.is_empty() {
            return Err(Fault::hard(
                ErrorCode::EncapProtErr,
                "PaySchemeData",
                "the payment scheme ended the exchange without an answer",
            )
            .block(&px.id));
        }
        if let Some(pp) = &mut t.st.payment {
            pp.peer_pay_id = ph_pay_id.clone().or(pp.peer_pay_id.take());
        }
        let to = t.st.peer.clone().ok_or_else(|| {
            Fault::hard(
                ErrorCode::UnknownError,
                "PayExchBlk",
                "the Payment Handler's location is unknown",
            )
        })?;
        let mut d = self.draft(t);
        let psd = PaymentSchemeData {
            id: d.ids.next(),
            payment_ref: Some(p.payment_ref.clone()),
            consumer_payment_id: Some(p.pay_id.clone()),
            payment_handler_pay_id: ph_pay_id,
            content_software_id: Some(p.bridge.clone()),
            packaged_contents: step.pay_scheme,
            ..Default::default()
        };
        d.blocks
            .push(TradingBlock::PaymentExchange(PaymentExchangeBlock {
                id: String::new(),
                pay_scheme_data: vec![psd],
                ..Default::default()
            }));
        Ok(Step::Request {
            to,
            draft: d,
            payment: true,
        })
    }

    fn consumer_payment_response(
        &mut self,
        t: &mut Txn,
        msg: &IotpMessage,
        pr: &PaymentResponseBlock,
        deliv_resp: Option<&DeliveryResponseBlock>,
        now: i64,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        let p =
            t.st.payment
                .clone()
                .ok_or_else(|| unexpected("PayRespBlk", &pr.id, "no payment in progress"))?;
        let bridge = self.bridge_by_id(&p.bridge).ok_or_else(|| {
            Fault::hard(
                ErrorCode::UnknownError,
                "PayRespBlk",
                "the payment bridge is gone",
            )
        })?;
        let host = Host::new(&*self.store, &p.bridge, now);
        let ok = pr.status.process_state == ProcessState::CompletedOk;
        // The last scheme data goes to the bridge (RFC 3867 §2.3.2).
        if let Some(psd) = &pr.pay_scheme_data {
            bridge
                .continue_process(
                    &host,
                    &payapi::ContinueProcess {
                        pay_id: p.pay_id.clone(),
                        process_type: payapi::ProcessType::Payment,
                        wallet: Default::default(),
                        pay_scheme: psd.packaged_contents.clone(),
                        from_hard_error: false,
                    },
                )
                .map_err(|e| api_fault(&e, "PaySchemeData").block(&pr.id).comp(&psd.id))?;
        }
        if !ok {
            let code = pr.status.completion_code.clone();
            let _ = bridge.change_process_state(
                &host,
                &payapi::ChangeProcessState {
                    pay_id: p.pay_id.clone(),
                    process_state: PaymentState::Iotp(ProcessState::Failed),
                    completion_code: code.clone(),
                    process_type: payapi::ProcessType::Payment,
                    wallet: Default::default(),
                },
            );
            t.st.last_status = Some(SavedStatus::of(&pr.status));
            t.end(EndKind::Failed, ProcessState::Failed, code);
            out.events.push(Event::Finished(self.outcome_of(t, None)));
            return Ok(Step::Quiet);
        }
        let receipt = pr.pay_receipt.as_ref().ok_or_else(|| {
            Fault::hard(
                ErrorCode::ElMissing,
                "PayReceipt",
                "a CompletedOk Payment Response needs a PayReceipt (§8.9)",
            )
            .block(&pr.id)
            .with_value("PayReceipt")
        })?;
        // Rebuild the receipt from PayReceiptNameRefs (RFC 3867 §2.4).
        let names = receipt.pay_receipt_name_refs.clone().unwrap_or_default();
        let mut parts: Vec<PackagedContent> = Vec::new();
        let psds = std::iter::once(pr.pay_scheme_data.as_ref())
            .flatten()
            .chain(
                t.blocks()
                    .filter_map(|b| match b {
                        TradingBlock::PaymentExchange(x) => Some(x.pay_scheme_data.iter()),
                        _ => None,
                    })
                    .flatten(),
            );
        for psd in psds {
            for pc in &psd.packaged_contents {
                if pc.name.as_ref().is_some_and(|n| names.contains(n)) && !parts.contains(pc) {
                    parts.push(pc.clone());
                }
            }
        }
        let _ = msg;
        parts.extend(receipt.packaged_contents.iter().cloned());
        bridge
            .check_payment_receipt(
                &host,
                &payapi::CheckPaymentReceipt {
                    pay_id: p.pay_id.clone(),
                    wallet: Default::default(),
                    receipt: parts,
                },
            )
            .map_err(|e| api_fault(&e, "PayReceipt").block(&pr.id).comp(&receipt.id))?;
        let _ = bridge.inquire_process_state(
            &host,
            &payapi::InquireProcessState {
                pay_id: p.pay_id.clone(),
                wallet: Default::default(),
            },
        );
        let _ = bridge.change_process_state(
            &host,
            &payapi::ChangeProcessState {
                pay_id: p.pay_id.clone(),
                process_state: PaymentState::Iotp(ProcessState::CompletedOk),
                completion_code: None,
                process_type: payapi::ProcessType::Payment,
                wallet: Default::default(),
            },
        );
        t.st.payments_done.push(p.payment_ref.clone());
        t.st.last_status = Some(SavedStatus::of(&pr.status));
        if let Some(pc) = &mut t.st.payment {
            // Kept for inquiries: the Payment Handler's id of this payment.
            pc.peer_pay_id = pr
                .status
                .process_reference
                .clone()
                .or(pc.peer_pay_id.take());
        }
        if let Some(dr) = deliv_resp {
            return Ok(self.consumer_delivered(t, dr, out));
        }
        self.pay_next(t, None, now, out)
    }

    /// After the last payment: the Delivery Request, or the end.
    fn consumer_after_payments(
        &mut self,
        t: &mut Txn,
        or: &OfferResponseBlock,
        _now: i64,
        out: &mut Outcome,
    ) -> Step {
        let delivery = or
            .delivery
            .as_ref()
            .filter(|d| d.deliv_and_pay_resp == Flag::False && d.delivery_data.is_some());
        let Some(delivery) = delivery else {
            t.st.phase = Phase::Done;
            t.end(EndKind::Completed, ProcessState::CompletedOk, None);
            let next = t.st.success_net_locn.clone();
            let mut outcome = self.outcome_of(t, next);
            outcome.receipts = receipts(t);
            out.events.push(Event::Finished(outcome));
            return Step::Quiet;
        };
        let data = delivery.delivery_data.as_ref();
        let Some(to) =
            data.and_then(|d| net_locn(&d.deliv_req_net_locn, &d.sec_deliv_req_net_locn))
        else {
            // A delivery without a net location is the Merchant's own business (§7.13.1).
            t.st.phase = Phase::Done;
            t.end(EndKind::Completed, ProcessState::CompletedOk, None);
            let next = t.st.success_net_locn.clone();
            let mut outcome = self.outcome_of(t, next);
            outcome.receipts = receipts(t);
            out.events.push(Event::Finished(outcome));
            return Step::Quiet;
        };
        let mut statuses = vec![or.status.clone()];
        for p in &or.payments {
            if let Some(s) = t.payment_response_status(&p.id) {
                statuses.push(s.clone());
            }
        }
        let orgs = distinct_orgs([
            t.org_with_role(&TradingRole::Merchant),
            t.org_with_role(&TradingRole::Consumer),
            data.and_then(|d| t.org_by_id(&d.deliv_to_ref)),
            delivery
                .action_org_ref
                .as_deref()
                .and_then(|id| t.org_by_id(id)),
            t.org_with_role(&TradingRole::PaymentHandler),
        ]);
        let dh = delivery.action_org_ref.clone().unwrap_or_default();
        let trd = or
            .trading_role_data
            .iter()
            .filter(|x| x.destination_el_refs.contains(&dh))
            .cloned()
            .collect();
        let mut d = self.draft(t);
        d.blocks
            .push(TradingBlock::DeliveryRequest(DeliveryRequestBlock {
                id: String::new(),
                statuses,
                order: or.order.clone().unwrap_or_default(),
                organisations: orgs,
                delivery: delivery.clone(),
                consumer_delivery_data: None,
                trading_role_data: trd,
                ..Default::default()
            }));
        t.st.phase = Phase::AwaitDelivery;
        Step::Request {
            to,
            draft: d,
            payment: false,
        }
    }

    fn consumer_delivered(
        &mut self,
        t: &mut Txn,
        dr: &DeliveryResponseBlock,
        out: &mut Outcome,
    ) -> Step {
        let ok = dr.status.process_state == ProcessState::CompletedOk;
        t.st.last_status = Some(SavedStatus::of(&dr.status));
        t.st.phase = Phase::Done;
        t.end(
            if ok {
                EndKind::Completed
            } else {
                EndKind::Failed
            },
            dr.status.process_state.clone(),
            dr.status.completion_code.clone(),
        );
        let next = if ok {
            t.st.success_net_locn.clone()
        } else {
            None
        };
        let mut outcome = self.outcome_of(t, next);
        outcome.receipts = receipts(t);
        out.events.push(Event::Finished(outcome));
        Step::Quiet
    }

    fn consumer_authenticate(
        &mut self,
        t: &mut Txn,
        tpo: &TradingProtocolOptionsBlock,
        areq: &AuthenticationRequestBlock,
        now: i64,
    ) -> Result<Step, Fault> {
        let to = t.st.peer.clone().ok_or_else(|| {
            Fault::hard(
                ErrorCode::AttMissing,
                "ProtocolOptions",
                "the TPO names no SenderNetLocn",
            )
            .att("SenderNetLocn")
        })?;
        let authenticator = tpo
            .organisations
            .first()
            .map(|o| o.org_id.clone())
            .unwrap_or_default();
        let mut d = self.draft(t);
        let lang = self.config.lang.clone();
        // What an Authentication Status refers to: the AuthReq, or the block when it has none.
        let auth_el = areq
            .auth_requests
            .first()
            .map(|q| q.id.clone())
            .unwrap_or_else(|| areq.id.clone());
        if !self.consumer_app.consent_to_authenticate(&authenticator) {
            let el = Some(auth_el.clone());
            return Ok(self.refuse_authentication(
                t,
                d,
                to,
                el.as_deref(),
                CompletionCode::AutEeCancel,
            ));
        }
        let mut response = None;
        if !areq.auth_requests.is_empty() {
            let found = areq
                .auth_requests
                .iter()
                .find_map(|q| self.bridge_for_auth(&q.algorithm.name).map(|b| (q, b)));
            let Some((q, bridge)) = found else {
                let el = areq.auth_requests.first().map(|q| q.id.clone());
                return Ok(self.refuse_authentication(
                    t,
                    d,
                    to,
                    el.as_deref(),
                    CompletionCode::NoAuthReq,
                ));
            };
            let info = bridge.info();
            let host = Host::new(&*self.store, &info.software_id, now);
            let res = bridge
                .authenticate(
                    &host,
                    &payapi::Authenticate {
                        authentication_id: q.authentication_id.clone(),
                        wallet: Default::default(),
                        algorithm: q.algorithm.clone(),
                        auth_req: q.packaged_contents.clone(),
                    },
                )
                .map_err(|e| api_fault(&e, "AuthReq").comp(&q.id))?;
            response = Some(AuthenticationResponse {
                id: d.ids.next(),
                authentication_id: q.authentication_id.clone(),
                selected_algorithm_ref: q.algorithm.id.clone(),
                content_software_id: Some(info.software_id.clone()),
                packaged_contents: res.auth_res,
                ..Default::default()
            });
        }
        let mut orgs = Vec::new();
        if let Some(info) = &areq.trading_role_info_request {
            let mut me = self.config.org.clone();
            me.roles
                .retain(|r| info.trading_role_list.iter().any(|l| l == &r.role));
            if me.roles.is_empty() {
                return Ok(self.refuse_authentication(
                    t,
                    d,
                    to,
                    Some(&auth_el),
                    CompletionCode::TradRolesIncon,
                ));
            }
            orgs.push(me.to_component(&mut d.ids, &lang));
        }
        d.blocks.push(TradingBlock::AuthenticationResponse(
            AuthenticationResponseBlock {
                id: String::new(),
                auth_response: response,
                organisations: orgs,
                ..Default::default()
            },
        ));
        t.st.phase = Phase::AwaitAuthStatus;
        Ok(Step::Request {
            to,
            draft: d,
            payment: false,
        })
    }

    /// The authenticatee declines (§9.1.1 step 3): a Cancel Block with the reason.
    fn refuse_authentication(
        &self,
        t: &mut Txn,
        mut d: Draft,
        to: String,
        el_ref: Option<&str>,
        code: CompletionCode,
    ) -> Step {
        let c = self.cancel_block(&mut d.ids, StatusType::Authentication, el_ref, code.clone());
        d.blocks.push(c);
        t.end(EndKind::Cancelled, ProcessState::Failed, Some(code));
        Step::Request {
            to,
            draft: d,
            payment: false,
        }
    }

    /// The Consumer cancels now, in answer to what it just received.
    fn consumer_cancel_now(
        &mut self,
        t: &mut Txn,
        status_type: StatusType,
        el_ref: Option<&str>,
        code: CompletionCode,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        let to = t.st.peer.clone().ok_or_else(|| {
            Fault::hard(
                ErrorCode::AttMissing,
                "ProtocolOptions",
                "no net location to send the Cancel Block to",
            )
            .att("SenderNetLocn")
        })?;
        let mut d = self.draft(t);
        let c = self.cancel_block(&mut d.ids, status_type, el_ref, code.clone());
        d.blocks.push(c);
        self.abandon_payment(t, ProcessState::Failed, Some(code.clone()), 0);
        t.end(EndKind::Cancelled, ProcessState::Failed, Some(code));
        let next = self.cancel_locn(t, &TradingRole::Merchant);
        out.events.push(Event::Finished(self.outcome_of(t, next)));
        Ok(Step::Request {
            to,
            draft: d,
            payment: false,
        })
    }

    fn cancel_locn(&self, t: &Txn, role: &TradingRole) -> Option<String> {
        t.org_with_role(role)
            .and_then(|o| o.trading_roles.iter().find(|r| &r.trading_role == role))
            .and_then(|r| r.cancel_net_locn.clone())
    }

    /// A local cancel by the Consumer (§3.10): a Cancel Block where the next message of the
    /// current exchange would go.
    pub(crate) fn consumer_cancel(
        &mut self,
        t: &mut Txn,
        now: i64,
        out: &mut Outcome,
    ) -> Result<(), EngineError> {
        let status_type = exchange_of(t.st.phase);
        let (code, recipient) = match status_type {
            StatusType::Authentication => (CompletionCode::AutEeCancel, TradingRole::Merchant),
            StatusType::Payment => (CompletionCode::ConsCancelled, TradingRole::PaymentHandler),
            StatusType::Delivery => (CompletionCode::ConsCancelled, TradingRole::DeliveryHandler),
            _ => (CompletionCode::ConsCancelled, TradingRole::Merchant),
        };
        let el_ref = match status_type {
            StatusType::Payment => t.st.payment.as_ref().map(|p| p.payment_ref.clone()),
            StatusType::Delivery => t
                .offer_response()
                .and_then(|o| o.delivery.as_ref().map(|d| d.id.clone())),
            StatusType::Offer => t.offer_el_ref(),
            _ => t.blocks().find_map(|b| match b {
                TradingBlock::AuthenticationRequest(a) => Some(
                    a.auth_requests
                        .first()
                        .map(|q| q.id.clone())
                        .unwrap_or_else(|| a.id.clone()),
                ),
                _ => None,
            }),
        };
        let to = match status_type {
            StatusType::Payment | StatusType::Delivery => t.st.peer.clone(),
            _ => t.tpo().and_then(|tp| {
                net_locn(
                    &tp.protocol_options.sender_net_locn,
                    &tp.protocol_options.secure_sender_net_locn,
                )
            }),
        }
        .ok_or_else(|| {
            EngineError::NotAllowed("no net location to send the Cancel Block to".into())
        })?;
        let mut d = self.draft(t);
        let c = self.cancel_block(&mut d.ids, status_type, el_ref.as_deref(), code.clone());
        d.blocks.push(c);
        self.send_local(t, to, d, now, out, false);
        self.abandon_payment(t, ProcessState::Failed, Some(code.clone()), now);
        t.end(EndKind::Cancelled, ProcessState::Failed, Some(code));
        let next = self
            .cancel_locn(t, &recipient)
            .or_else(|| self.cancel_locn(t, &TradingRole::Merchant));
        out.events.push(Event::Finished(self.outcome_of(t, next)));
        Ok(())
    }
}

/// The Organisations a request carries (§8.7, §8.10): each once, in the order given.
fn distinct_orgs<'o>(
    orgs: impl IntoIterator<Item = Option<&'o Organisation>>,
) -> Vec<Organisation> {
    let mut out: Vec<Organisation> = Vec::new();
    for o in orgs.into_iter().flatten() {
        if !out.iter().any(|x| x.id == o.id) {
            out.push(o.clone());
        }
    }
    out
}

/// The receipts of the transaction's Payment Responses.
fn receipts(t: &Txn) -> Vec<Receipt> {
    let mut v: Vec<Receipt> = t
        .blocks()
        .filter_map(|b| match b {
            TradingBlock::PaymentResponse(p)
                if p.status.process_state == ProcessState::CompletedOk =>
            {
                Some(p)
            }
            _ => None,
        })
        .map(|p| Receipt {
            payment_ref: p.status.el_ref.clone().unwrap_or_default(),
            process_reference: p.status.process_reference.clone(),
            parts: p
                .pay_receipt
                .iter()
                .flat_map(|r| r.packaged_contents.iter())
                .chain(
                    p.pay_scheme_data
                        .iter()
                        .flat_map(|s| s.packaged_contents.iter()),
                )
                .map(|pc| (pc.name.clone(), pc.as_text().unwrap_or("").to_owned()))
                .collect(),
        })
        .collect();
    v.reverse();
    v
}

/// The Brand, ProtocolAmount, PayProtocol and CurrencyAmount a choice names.
pub(crate) fn resolve<'l>(
    list: &'l BrandList,
    c: &Choice,
) -> Result<
    (
        &'l Brand,
        &'l ProtocolAmount,
        &'l PaymentProtocol,
        &'l CurrencyAmount,
    ),
    Fault,
> {
    let missing = |what: &str| {
        Fault::hard(
            ErrorCode::ElInconsistent,
            "BrandSelection",
            format!("the selection names no {what} of the Brand List"),
        )
    };
    let brand = list
        .brands
        .iter()
        .find(|b| b.id == c.brand_ref)
        .ok_or_else(|| missing("Brand").att("BrandRef"))?;
    let pa = list
        .protocol_amounts
        .iter()
        .find(|p| p.id == c.protocol_amount_ref)
        .ok_or_else(|| missing("ProtocolAmount").att("ProtocolAmountRef"))?;
    let pp = list
        .pay_protocols
        .iter()
        .find(|p| p.id == pa.pay_protocol_ref)
        .ok_or_else(|| missing("PayProtocol"))?;
    let ca = list
        .currency_amounts
        .iter()
        .find(|x| x.id == c.currency_amount_ref)
        .ok_or_else(|| missing("CurrencyAmount").att("CurrencyAmountRef"))?;
    Ok((brand, pa, pp, ca))
}

pub(crate) fn amount_of(list: &BrandList, ca: &CurrencyAmount) -> AmountInfo {
    AmountInfo {
        pay_direction: list.pay_direction.clone(),
        curr_code_type: ca.curr_code_type.clone(),
        curr_code: ca.curr_code.clone(),
        amount: ca.amount.clone(),
    }
}

pub(crate) fn offer_content(
    brand: &Brand,
    pa: &ProtocolAmount,
    pp: &PaymentProtocol,
    order: Option<&Order>,
) -> OfferContent {
    OfferContent {
        brand: brand.packaged_contents.clone(),
        protocol_brand: brand
            .protocol_brands
            .iter()
            .find(|b| b.protocol_id == pp.protocol_id)
            .map(|b| payapi::ProtocolBrandInfo {
                protocol_brand_id: b.protocol_brand_id.clone(),
                content: b.packaged_contents.clone(),
            }),
        protocol_amount: pa.packaged_contents.clone(),
        pay_protocol: pp.packaged_contents.clone(),
        order: order
            .map(|o| o.packaged_contents.clone())
            .unwrap_or_default(),
    }
}
