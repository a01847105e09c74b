//! Baseline Transaction Status Inquiry (§9.2.1) and Baseline Ping (§9.2.2), for every role.
//!
//! ```text
//! Inquiry:  Role1 --[InquiryReqBlk]--> Role2 --[InquiryRespBlk]--> Role1   (MsgIds I…, Q…)
//! Ping:     Role1 --[PingReqBlk]-----> Role2 --[PingRespBlk]-----> Role1   (own IotpTransId)
//! ```
//!
//! An inquiry has the IotpTransId of the transaction it asks about and message IDs that are
//! new each time (`I<role><n>` / `Q<role><n>`), so that it gets fresh status; it changes nothing
//! in the transaction. A ping starts no transaction.

use std::sync::Arc;

use crate::msg::IotpMessage;
use crate::msg::TradingBlock;
use crate::msg::codes::*;
use crate::msg::model::*;
use crate::payapi;
use crate::store::StoreError;

use super::build::{self, Ids};
use super::host::Host;
use super::state::{EndKind, Txn};
use super::*;

/// The digit that keeps the inquiry message IDs of different roles apart.
fn role_digit(role: &TradingRole) -> u8 {
    match role {
        TradingRole::Consumer => 1,
        TradingRole::Merchant => 2,
        TradingRole::PaymentHandler => 3,
        TradingRole::DeliveryHandler => 4,
        _ => 5,
    }
}

impl Engine {
    /// Answers an Inquiry Request with the status of the transaction at the role asked.
    pub(crate) fn inquiry_response(
        &mut self,
        msg: &IotpMessage,
        q: &InquiryRequestBlock,
        now: i64,
    ) -> Result<Option<(IotpMessage, TransactionKey)>, StoreError> {
        if msg.trans_ref.transaction_id.iotp_trans_type == TransactionType::BaselinePing {
            // Inquiries about Ping transactions are ignored (§4.5.2.4).
            return Ok(None);
        }
        let trans_id = msg.iotp_trans_id().to_owned();
        let wanted = match q.inquiry_type.inquiry_type {
            InquiryType::Payment => TradingRole::PaymentHandler,
            InquiryType::Delivery => TradingRole::DeliveryHandler,
            _ => TradingRole::Merchant,
        };
        let mut roles = vec![wanted];
        roles.extend(self.config.org.roles.iter().map(RoleEndpoint::trading_role));
        let mut found = None;
        for r in roles {
            if let Some(t) = self.load(&key(&trans_id, &r))? {
                found = Some(t);
                break;
            }
        }
        let Some(mut t) = found else {
            return Ok(Some((
                self.inquiry_unknown(msg, q, now),
                key(&trans_id, &TradingRole::Other(String::new())),
            )));
        };
        t.st.aux_seq += 1;
        let mut ids = Ids::new(format!("Q{}{}", role_digit(&t.role()), t.st.aux_seq));
        let mut reply = self.header(&t, &mut ids, Some(msg.message_id()), now);
        reply.trans_ref.message_id.sender_trading_role_ref = self.sender_role_ref(&t);
        let lang = self.config.lang.clone();
        let status_type = match q.inquiry_type.inquiry_type {
            InquiryType::Payment => StatusType::Payment,
            InquiryType::Delivery => StatusType::Delivery,
            _ => StatusType::Offer,
        };
        // A cancelled transaction is reported on the exchange its completion code belongs to.
        let cancelled_code =
            t.st.ended
                .as_ref()
                .filter(|e| e.kind == EndKind::Cancelled)
                .and_then(|e| e.completion_code.as_deref())
                .map(CompletionCode::from_wire);
        let (status_type, asked_el) = match cancelled_code.as_ref().and_then(exchange_of_code) {
            Some(ex) if ex != status_type => (ex, None),
            _ => (status_type, q.inquiry_type.el_ref.clone()),
        };
        // What the Status refers to: the element asked about, else this role's own; without
        // one the exchange cannot be identified (StatusType Undefined, no ElRef).
        let el = asked_el.or_else(|| match status_type {
            StatusType::Authentication => t.blocks().find_map(|b| match b {
                TradingBlock::AuthenticationRequest(a) => Some(
                    a.auth_requests
                        .first()
                        .map(|q| q.id.clone())
                        .unwrap_or_else(|| a.id.clone()),
                ),
                _ => None,
            }),
            StatusType::Offer => t.offer_el_ref(),
            StatusType::Payment => t.st.payment.as_ref().map(|p| p.payment_ref.clone()),
            StatusType::Delivery => t
                .offer_response()
                .and_then(|o| o.delivery.as_ref().map(|d| d.id.clone())),
            _ => None,
        });
        let status_type = if el.is_some() {
            status_type
        } else {
            StatusType::Unidentified
        };
        let (state, code, reference, desc) = match (&t.st.ended, &t.st.last_status) {
            (Some(e), _) if e.kind == EndKind::HardError => (
                ProcessState::ProcessError,
                None,
                None,
                Some("a technical error ended the transaction"),
            ),
            (Some(e), _) if matches!(e.kind, EndKind::Cancelled | EndKind::TimedOut) => (
                ProcessState::Failed,
                e.completion_code.as_deref().map(CompletionCode::from_wire),
                None,
                None,
            ),
            (_, Some(s)) => (
                ProcessState::from_wire(&s.process_state),
                s.completion_code.as_deref().map(CompletionCode::from_wire),
                s.process_reference.clone(),
                None,
            ),
            (_, None) => (ProcessState::InProgress, None, None, None),
        };
        let status = match &t.st.last_status {
            // The last Status sent to the Consumer, as it was (§9.2.1).
            Some(s)
                if state != ProcessState::ProcessError
                    && t.st.ended.as_ref().is_none_or(|e| {
                        !matches!(e.kind, EndKind::Cancelled | EndKind::TimedOut)
                    }) =>
            {
                build::status(
                    &mut ids,
                    &lang,
                    StatusType::from_wire(&s.status_type),
                    s.el_ref.as_deref(),
                    state,
                    code,
                    reference.as_deref(),
                    None,
                )
            }
            _ => build::status(
                &mut ids,
                &lang,
                status_type,
                el.as_deref(),
                state,
                code,
                reference.as_deref(),
                desc,
            ),
        };
        let mut psd = None;
        if status.status_type == StatusType::Payment
            && t.role() == TradingRole::PaymentHandler
            && let Some(p) = &t.st.payment
            && let Some(bridge) = self.bridge_by_id(&p.bridge)
        {
            let host = Host::new(&*self.store, &p.bridge, now);
            if let Ok(r) = bridge.inquire_payment_status(
                &host,
                &payapi::InquirePaymentStatus {
                    payment_handler_pay_id: p.pay_id.clone(),
                    wallet: Default::default(),
                    pay_scheme: q
                        .pay_scheme_data
                        .iter()
                        .flat_map(|s| s.packaged_contents.iter().cloned())
                        .collect(),
                },
            ) {
                psd = (!r.pay_scheme.is_empty()).then(|| PaymentSchemeData {
                    id: ids.next(),
                    payment_ref: Some(p.payment_ref.clone()),
                    consumer_payment_id: p.peer_pay_id.clone(),
                    payment_handler_pay_id: Some(p.pay_id.clone()),
                    content_software_id: Some(p.bridge.clone()),
                    packaged_contents: r.pay_scheme,
                    ..Default::default()
                });
            }
        }
        reply
            .blocks
            .push(TradingBlock::InquiryResponse(InquiryResponseBlock {
                id: ids.next(),
                last_received_iotp_msg_ref: Some(
                    t.st.last_received.clone().unwrap_or_else(|| "Null".into()),
                ),
                last_sent_iotp_msg_ref: Some(
                    t.st.last_sent.clone().unwrap_or_else(|| "Null".into()),
                ),
                status,
                pay_scheme_data: psd,
                ..Default::default()
            }));
        let k = t.key.clone();
        self.live.insert(k.clone(), t);
        Ok(Some((reply, k)))
    }

    /// An inquiry about a transaction this node does not know: a HardError (§4.5.2.4).
    fn inquiry_unknown(
        &mut self,
        msg: &IotpMessage,
        q: &InquiryRequestBlock,
        now: i64,
    ) -> IotpMessage {
        let n = self.fresh_number();
        let mut ids = Ids::new(format!("Q5{n}"));
        let mut reply = build::message(
            &mut ids,
            build::Header {
                trans_id: Some(&msg.trans_ref.transaction_id),
                new_trans: None,
                resp_iotp_msg: Some(msg.message_id()),
                sender_trading_role_ref: None,
                lang: &self.config.lang,
                software_id: &self.config.software_id,
                now,
            },
        );
        let fault = Fault::hard(
            ErrorCode::AttValIllegal,
            "TransId",
            "this node does not know the transaction inquired about",
        )
        .block(&q.id)
        .att("IotpTransId");
        let mut fault = fault;
        fault.location.iotp_msg_ref = Some(msg.message_id().to_owned());
        reply.error = Some(self.error_block(&mut ids, &fault));
        reply
    }

    pub(crate) fn on_inquiry_response(
        &mut self,
        _key: &TransactionKey,
        msg: &IotpMessage,
        r: &InquiryResponseBlock,
        out: &mut Outcome,
    ) -> Result<(), StoreError> {
        out.events.push(Event::InquiryAnswered {
            iotp_trans_id: msg.iotp_trans_id().to_owned(),
            status: r.status.clone(),
        });
        Ok(())
    }

    /// Asks another role about a transaction (§9.2.1): the Merchant (Offer), the Payment
    /// Handler (Payment) or the Delivery Handler (Delivery). The Inquiry Response comes back
    /// as [`Event::InquiryAnswered`].
    ///
    /// Log lines the payment bridge writes meanwhile come out as [`Event::Log`].
    pub fn start_inquiry(
        &mut self,
        iotp_trans_id: &str,
        inquiry: InquiryType,
        now: i64,
    ) -> Result<Outcome, EngineError> {
        let mut out = self.start_inquiry_unlogged(iotp_trans_id, inquiry, now);
        if let Ok(o) = &mut out {
            host::drain_bridge_log(&mut o.events);
        }
        out
    }

    /// [`Engine::start_inquiry`], the bridges' log lines left where they are.
    fn start_inquiry_unlogged(
        &mut self,
        iotp_trans_id: &str,
        inquiry: InquiryType,
        now: i64,
    ) -> Result<Outcome, EngineError> {
        let roles: Vec<TradingRole> = self
            .config
            .org
            .roles
            .iter()
            .map(RoleEndpoint::trading_role)
            .collect();
        let mut found = None;
        for r in &roles {
            if let Some(t) = self.load(&key(iotp_trans_id, r))? {
                found = Some(t);
                break;
            }
        }
        let mut t = found.ok_or_else(|| EngineError::UnknownTransaction(iotp_trans_id.into()))?;
        let result = self.build_inquiry(&mut t, inquiry, now);
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                if !t.is_ended() {
                    self.live.insert(t.key.clone(), t);
                }
                return Err(e);
            }
        };
        self.commit_local(t)?;
        Ok(outcome)
    }

    fn build_inquiry(
        &mut self,
        t: &mut Txn,
        inquiry: InquiryType,
        now: i64,
    ) -> Result<Outcome, EngineError> {
        let or = t.offer_response().cloned();
        // §9.2.1 guidelines: ask the Merchant after the offer, the Payment Handler after a
        // Payment Request, the Delivery Handler after a Delivery Request.
        let asked = |tag: &str| {
            t.msgs
                .iter()
                .any(|l| l.sent && l.msg.blocks.iter().any(|b| b.tag() == tag))
        };
        let allowed = match inquiry {
            InquiryType::Payment => asked("PayReqBlk"),
            InquiryType::Delivery => asked("DeliveryReqBlk"),
            _ => t.tpo().is_some(),
        };
        if !allowed {
            return Err(EngineError::NotAllowed(format!(
                "no {inquiry} request was sent in this transaction (§9.2.1)"
            )));
        }
        let (to, el_ref, reference) = match inquiry {
            InquiryType::Payment => {
                let p = or.as_ref().and_then(|o| {
                    o.payments.iter().rev().find(|p| {
                        t.st.payments_done.contains(&p.id)
                            || t.st.payment.as_ref().is_some_and(|c| c.payment_ref == p.id)
                    })
                });
                let payment_ref = p.map(|p| p.id.clone());
                let to = p
                    .and_then(|p| t.chosen_pay_protocol(&p.brand_list_ref))
                    .and_then(|pp| {
                        pp.sec_pay_req_net_locn
                            .clone()
                            .or_else(|| pp.pay_req_net_locn.clone())
                    })
                    .or_else(|| t.st.peer.clone());
                let reference = payment_ref
                    .as_deref()
                    .and_then(|r| t.payment_response_status(r))
                    .and_then(|s| s.process_reference.clone());
                (to, payment_ref, reference)
            }
            InquiryType::Delivery => {
                let d = or.as_ref().and_then(|o| o.delivery.as_ref());
                let to = d.and_then(|d| d.delivery_data.as_ref()).and_then(|d| {
                    d.sec_deliv_req_net_locn
                        .clone()
                        .or_else(|| d.deliv_req_net_locn.clone())
                });
                (to, d.map(|d| d.id.clone()), None)
            }
            _ => {
                let to = t.tpo().and_then(|tp| {
                    tp.protocol_options
                        .secure_sender_net_locn
                        .clone()
                        .or_else(|| tp.protocol_options.sender_net_locn.clone())
                });
                (
                    to,
                    or.as_ref()
                        .and_then(|o| o.order.as_ref().map(|o| o.id.clone())),
                    or.as_ref()
                        .and_then(|o| o.order.as_ref().map(|o| o.order_identifier.clone())),
                )
            }
        };
        let to = to.ok_or_else(|| {
            EngineError::NotAllowed(format!(
                "no {inquiry} exchange to inquire about in this transaction"
            ))
        })?;
        t.st.aux_seq += 1;
        let mut ids = Ids::new(format!("I{}{}", role_digit(&t.role()), t.st.aux_seq));
        let mut msg = self.header(t, &mut ids, None, now);
        let mut psd = None;
        if inquiry == InquiryType::Payment {
            if let Some(c) = t.st.choices.first()
                && let Some(bridge) = self.bridge_by_id(&c.bridge)
            {
                let host = Host::new(&*self.store, &c.bridge, now);
                let pay_id =
                    t.st.payment
                        .as_ref()
                        .map(|p| p.pay_id.clone())
                        .unwrap_or_default();
                let ph_pay_id =
                    t.st.payment
                        .as_ref()
                        .and_then(|p| p.peer_pay_id.clone())
                        .or_else(|| reference.clone());
                if let Ok(r) = bridge.start_payment_inquiry(
                    &host,
                    &payapi::StartPaymentInquiry {
                        consumer_pay_id: pay_id.clone(),
                        wallet: Default::default(),
                    },
                ) {
                    psd = Some(PaymentSchemeData {
                        id: ids.next(),
                        payment_ref: el_ref.clone(),
                        consumer_payment_id: Some(pay_id.clone()).filter(|p| !p.is_empty()),
                        payment_handler_pay_id: ph_pay_id.clone(),
                        packaged_contents: if r.pay_scheme.is_empty() {
                            vec![PackagedContent::text("status")]
                        } else {
                            r.pay_scheme
                        },
                        ..PaymentSchemeData::default()
                    });
                }
            }
            if psd.is_none() {
                psd = Some(PaymentSchemeData {
                    id: ids.next(),
                    payment_ref: el_ref.clone(),
                    payment_handler_pay_id: reference.clone(),
                    packaged_contents: vec![PackagedContent::text("status")],
                    ..PaymentSchemeData::default()
                });
            }
        }
        msg.blocks
            .push(TradingBlock::InquiryRequest(InquiryRequestBlock {
                id: ids.next(),
                inquiry_type: InquiryTypeComponent {
                    id: ids.next(),
                    inquiry_type: inquiry,
                    el_ref,
                    process_reference: reference,
                },
                pay_scheme_data: psd,
                ..Default::default()
            }));
        let xml = msg.to_xml().into_bytes();
        let mut out = Outcome::default();
        out.messages.push(Outgoing {
            to: Destination::NetLocn(to),
            message_id: msg.message_id().to_owned(),
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            xml: Arc::from(xml.as_slice()),
        });
        Ok(out)
    }

    /// Answers a Ping Request (§9.2.2): this node's Org plus copies of the request's Orgs.
    pub(crate) fn ping_response(
        &mut self,
        msg: &IotpMessage,
        p: &PingRequestBlock,
        now: i64,
    ) -> IotpMessage {
        let mut ids = Ids::new("Q1".into());
        let mut reply = build::message(
            &mut ids,
            build::Header {
                trans_id: Some(&msg.trans_ref.transaction_id),
                new_trans: None,
                resp_iotp_msg: Some(msg.message_id()),
                sender_trading_role_ref: None,
                lang: &self.config.lang,
                software_id: &self.config.software_id,
                now,
            },
        );
        let mut orgs = vec![self.config.org.to_component(&mut ids, &self.config.lang)];
        reply.trans_ref.message_id.sender_trading_role_ref =
            orgs[0].trading_roles.first().map(|r| r.id.clone());
        orgs.extend(p.organisations.iter().cloned());
        let busy = self.open_transactions() >= self.config.max_open_transactions;
        reply
            .blocks
            .push(TradingBlock::PingResponse(PingResponseBlock {
                id: ids.next(),
                ping_status_code: if busy {
                    PingStatusCode::Busy
                } else {
                    PingStatusCode::Ok
                },
                sig_verify_status_code: msg
                    .signatures
                    .as_ref()
                    .map(|_| SigVerifyStatusCode::NotSupported),
                lang: None,
                ping_status_desc: None,
                organisations: orgs,
                ..Default::default()
            }));
        reply
    }

    /// Pings the IOTP server at `net_locn` (§9.2.2): an anonymous Ping Request in a new
    /// transaction. The answer comes back as [`Event::PingAnswered`].
    ///
    /// Log lines the payment bridge writes meanwhile come out as [`Event::Log`].
    pub fn start_ping(&mut self, net_locn: &str, now: i64) -> Outcome {
        let mut out = self.start_ping_unlogged(net_locn, now);
        host::drain_bridge_log(&mut out.events);
        out
    }

    /// [`Engine::start_ping`], the bridges' log lines left where they are.
    fn start_ping_unlogged(&mut self, net_locn: &str, now: i64) -> Outcome {
        let trans_id = self.new_trans_id(now);
        let mut ids = Ids::new("I1".into());
        let stamp = format_timestamp(now);
        let mut msg = build::message(
            &mut ids,
            build::Header {
                trans_id: None,
                new_trans: Some((&trans_id, TransactionType::BaselinePing, &stamp)),
                resp_iotp_msg: None,
                sender_trading_role_ref: None,
                lang: &self.config.lang,
                software_id: &self.config.software_id,
                now,
            },
        );
        msg.blocks.push(TradingBlock::PingRequest(PingRequestBlock {
            id: ids.next(),
            organisations: Vec::new(),
            ..Default::default()
        }));
        let xml = msg.to_xml().into_bytes();
        Outcome {
            messages: vec![Outgoing {
                to: Destination::NetLocn(net_locn.into()),
                message_id: msg.message_id().to_owned(),
                iotp_trans_id: trans_id,
                xml: Arc::from(xml.as_slice()),
            }],
            events: Vec::new(),
        }
    }
}

/// The exchange a completion code belongs to, when only one (§7.16).
fn exchange_of_code(code: &CompletionCode) -> Option<StatusType> {
    use CompletionCode as C;
    match code {
        C::AutEeCancel | C::AutOrCancel | C::NoAuthReq | C::AuthFailed | C::TradRolesIncon => {
            Some(StatusType::Authentication)
        }
        C::PaymtCancelled
        | C::BrandNotSupp
        | C::CurrNotSupp
        | C::InsuffFunds
        | C::InstBrandInvalid
        | C::InstNotValid
        | C::BadInstrument => Some(StatusType::Payment),
        C::DelivCancelled | C::PermNotAvail => Some(StatusType::Delivery),
        C::MerchCancelled => Some(StatusType::Offer),
        _ => None,
    }
}
