//! The Merchant (§2.1): makes offers (TPO, Offer Response), answers TPO Selections, and
//! authenticates Consumers (§9.1.1) as the Authenticator.
//!
//! The per-transaction flows are in [`super::flows`]; this module holds what every flow shares.

use std::sync::Arc;

use crate::msg::IotpMessage;
use crate::msg::TradingBlock;
use crate::msg::codes::*;
use crate::msg::model::*;
use crate::payapi::{self, AmountInfo};

use super::build::{self, Ids};
use super::config::{OrgConfig, RoleEndpoint};
use super::host::Host;
use super::state::{Phase, SavedStatus, Txn};
use super::*;

impl Engine {
    /// Starts a transaction as the Merchant: builds the first message (TPO; TPO and Offer
    /// Response; or TPO and Authentication Request) from the offer. The message goes to the
    /// Consumer as the answer to its start-up request (RFC 2935 §3): [`Destination::Reply`].
    ///
    /// Log lines the payment bridge writes meanwhile come out as [`Event::Log`].
    pub fn start_offer(&mut self, offer: Offer, now: i64) -> Result<Outcome, EngineError> {
        let mut out = self.start_offer_unlogged(offer, now);
        if let Ok(o) = &mut out {
            host::drain_bridge_log(&mut o.events);
        }
        out
    }

    /// [`Engine::start_offer`], the bridges' log lines left where they are.
    fn start_offer_unlogged(&mut self, offer: Offer, now: i64) -> Result<Outcome, EngineError> {
        if !self.plays(&TradingRole::Merchant) {
            return Err(EngineError::Invalid(
                "this node does not play the Merchant role".into(),
            ));
        }
        let flow = flows::flow(&offer.transaction_type())
            .filter(|f| f.merchant_starts)
            .ok_or_else(|| {
                EngineError::Invalid(format!("a Merchant cannot start a {}", offer.trans_type))
            })?;
        flow.check_offer(&offer).map_err(EngineError::Invalid)?;
        let trans_id = self.new_trans_id(now);
        let mut t = Txn::new(&trans_id, &TradingRole::Merchant, &offer.trans_type, "M");
        t.st.success_net_locn = self.config.success_net_locn.clone();
        let mut draft = self.draft(&mut t);
        let stamp = format_timestamp(now);
        let mut msg = build::message(
            &mut draft.ids,
            build::Header {
                trans_id: None,
                new_trans: Some((&trans_id, offer.transaction_type(), &stamp)),
                resp_iotp_msg: None,
                sender_trading_role_ref: None,
                lang: &self.config.lang,
                software_id: &self.config.software_id,
                now,
            },
        );
        if let Some(related) = &offer.related_trans_id {
            msg.trans_ref.related_to.push(RelatedTo {
                id: draft.ids.next(),
                lang: self.config.lang.clone(),
                relationship_type: RelationshipType::IotpTransaction,
                relation: "refund for".into(),
                reln_key_words: None,
                packaged_content: PackagedContent::text(related.clone()),
                ..Default::default()
            });
        }
        let auth = offer.authenticate_first || !flow.has_offer;
        if auth {
            let tpo = self.auth_tpo(&mut draft.ids, &offer);
            let areq = self.auth_request_block(&mut draft.ids, now)?;
            draft.blocks.push(TradingBlock::TradingProtocolOptions(tpo));
            draft.blocks.push(TradingBlock::AuthenticationRequest(areq));
            t.st.phase = Phase::AuthRequested;
        } else {
            let tpo = self.build_tpo(&mut draft.ids, &offer, now)?;
            if offer.brand_dependent {
                t.st.phase = Phase::AwaitSelection;
                draft.blocks.push(TradingBlock::TradingProtocolOptions(tpo));
            } else {
                let resp = self.build_offer_response(&mut draft.ids, &tpo, &offer, &[], now)?;
                t.st.last_status = Some(SavedStatus::of(&resp.status));
                t.st.phase = Phase::OfferDone;
                // The Merchant's part is done: payment expected (RFC 3867 §2.5).
                t.end(EndKind::Completed, ProcessState::CompletedOk, None);
                draft.blocks.push(TradingBlock::TradingProtocolOptions(tpo));
                draft.blocks.push(TradingBlock::OfferResponse(resp));
            }
        }
        t.st.offer = Some(offer);
        t.st.deadline = Some(now + i64::from(self.config.timing.idle_timeout_secs) * 1000);
        let Draft { mut ids, blocks } = draft;
        msg.blocks = blocks;
        let msg = self.assign_block_ids(msg, &mut ids);
        let msg = self.with_sender_ref(msg, &TradingRole::Merchant);
        let xml: Arc<str> = msg.to_xml().into();
        let mut out = Outcome::default();
        out.messages.push(Outgoing {
            to: Destination::Reply,
            message_id: msg.message_id().to_owned(),
            iotp_trans_id: trans_id.clone(),
            xml: Arc::from(xml.as_bytes()),
        });
        t.log(true, msg, xml);
        if t.st.phase == Phase::OfferDone {
            // The Merchant's part is done: payment expected (RFC 3867 §2.5).
            t.st.deadline = None;
        }
        self.commit_local(t)?;
        Ok(out)
    }

    /// Points MsgId/@SenderTradingRoleRef at this node's TradingRole element for `role` in the
    /// message itself (the first message of a transaction).
    fn with_sender_ref(&self, mut msg: IotpMessage, role: &TradingRole) -> IotpMessage {
        let org_id = &self.config.org.org_id;
        let r = msg
            .blocks
            .iter()
            .filter_map(|b| match b {
                TradingBlock::TradingProtocolOptions(t) => Some(&t.organisations),
                _ => None,
            })
            .flatten()
            .filter(|o| o.org_id.eq_ignore_ascii_case(org_id))
            .flat_map(|o| o.trading_roles.iter())
            .find(|r| &r.trading_role == role)
            .map(|r| r.id.clone());
        if r.is_some() {
            msg.trans_ref.message_id.sender_trading_role_ref = r;
        }
        msg
    }

    fn merchant_endpoint(&self) -> Option<&RoleEndpoint> {
        self.config.org.endpoint(&TradingRole::Merchant)
    }

    fn protocol_options(&self, ids: &mut Ids, offer: &Offer) -> ProtocolOptions {
        let (insecure, secure) = self
            .merchant_endpoint()
            .map(RoleEndpoint::net_locn_pair)
            .unwrap_or((None, None));
        let success = self
            .config
            .success_net_locn
            .clone()
            .or_else(|| secure.clone())
            .or_else(|| insecure.clone())
            .unwrap_or_default();
        ProtocolOptions {
            id: ids.next(),
            lang: self.config.lang.clone(),
            short_desc: offer.short_desc.clone(),
            sender_net_locn: insecure,
            secure_sender_net_locn: secure,
            success_net_locn: success,
        }
    }

    /// The TPO of an Authentication Request: ProtocolOptions and the Authenticator's Org.
    fn auth_tpo(&self, ids: &mut Ids, offer: &Offer) -> TradingProtocolOptionsBlock {
        TradingProtocolOptionsBlock {
            id: ids.next(),
            protocol_options: self.protocol_options(ids, offer),
            brand_lists: Vec::new(),
            organisations: vec![self.config.org.to_component(ids, &self.config.lang)],
            ..Default::default()
        }
    }

    fn auth_request_block(
        &mut self,
        ids: &mut Ids,
        now: i64,
    ) -> Result<AuthenticationRequestBlock, EngineError> {
        let authentication_id = self.new_pay_id('A');
        let bridge = self
            .bridge_where(|i| !i.auth_algorithms.is_empty())
            .ok_or_else(|| EngineError::from(host::no_bridge("authentication")))?;
        let info = bridge.info();
        let host = Host::new(&*self.store, &info.software_id, now);
        let alg_id = ids.next();
        let challenge = bridge.inquire_auth_challenge(
            &host,
            &payapi::InquireAuthChallenge {
                authentication_id: authentication_id.clone(),
                wallet: Default::default(),
                algorithms: info
                    .auth_algorithms
                    .iter()
                    .map(|a| Algorithm {
                        id: alg_id.clone(),
                        name: a.clone(),
                        ..Algorithm::default()
                    })
                    .collect(),
            },
        )?;
        let mut algorithm = challenge.algorithm;
        algorithm.id = alg_id;
        Ok(AuthenticationRequestBlock {
            id: ids.next(),
            auth_requests: vec![AuthenticationRequest {
                id: ids.next(),
                authentication_id,
                content_software_id: Some(info.software_id),
                algorithm,
                packaged_contents: challenge.auth_req,
                ..Default::default()
            }],
            trading_role_info_request: Some(TradingRoleInfoRequest {
                id: ids.next(),
                trading_role_list: vec!["Consumer".into()],
            }),
            ..Default::default()
        })
    }

    /// The organisation playing `role`: this node's own, or a partner's; the one reached at
    /// `net_locn` when given.
    fn org_playing(&self, role: &TradingRole, net_locn: Option<&str>) -> Option<&OrgConfig> {
        let all = || std::iter::once(&self.config.org).chain(self.config.partners.iter());
        net_locn
            .and_then(|l| {
                all().find(|o| {
                    o.endpoint(role)
                        .is_some_and(|e| e.net_locn.as_deref() == Some(l))
                })
            })
            .or_else(|| all().find(|o| o.plays(role)))
    }

    /// Builds the full TPO: ProtocolOptions, one Brand List per payment from the bridges, the
    /// Orgs of Merchant, Consumer, Payment Handlers and Delivery Handler (§8.1).
    fn build_tpo(
        &mut self,
        ids: &mut Ids,
        offer: &Offer,
        now: i64,
    ) -> Result<TradingProtocolOptionsBlock, EngineError> {
        let lang = self.config.lang.clone();
        let protocol_options = self.protocol_options(ids, offer);
        let mut orgs = vec![self.config.org.to_component(ids, &lang)];
        let mut consumer_roles = vec![RoleEndpoint {
            role: "Consumer".into(),
            msg_id_prefix: "C".into(),
            net_locn: None,
            cancel_net_locn: None,
            error_net_locn: None,
            error_log_net_locn: None,
        }];
        if offer.delivery.is_some() {
            let mut r = consumer_roles[0].clone();
            r.role = "DelivTo".into();
            consumer_roles.push(r);
        }
        let mut consumer = OrgConfig {
            org_id: offer.consumer_org_id.clone(),
            legal_name: None,
            short_desc: offer.consumer_name.clone(),
            roles: consumer_roles,
            legal_address: offer.deliver_to.clone(),
        }
        .to_component(ids, &lang);
        if let Some(a) = &mut consumer.postal_address {
            // A delivery address, not a legal location.
            a.legal_location = Flag::False;
        }
        orgs.push(consumer);
        let mut brand_lists = Vec::new();
        for p in &offer.payments {
            let list = self.brand_list(ids, p, offer, &mut orgs, now)?;
            brand_lists.push(list);
        }
        if offer.delivery.is_some() {
            let dh = self
                .org_playing(&TradingRole::DeliveryHandler, None)
                .cloned()
                .ok_or_else(|| EngineError::Invalid("no Delivery Handler is configured".into()))?;
            if !orgs
                .iter()
                .any(|o| o.org_id.eq_ignore_ascii_case(&dh.org_id))
            {
                orgs.push(dh.to_component(ids, &lang));
            }
        }
        Ok(TradingProtocolOptionsBlock {
            id: ids.next(),
            protocol_options,
            brand_lists,
            organisations: orgs,
            ..Default::default()
        })
    }

    fn brand_list(
        &mut self,
        ids: &mut Ids,
        p: &PaymentOffer,
        offer: &Offer,
        orgs: &mut Vec<Organisation>,
        now: i64,
    ) -> Result<BrandList, EngineError> {
        let lang = self.config.lang.clone();
        let amount = AmountInfo {
            pay_direction: p.pay_direction(),
            curr_code_type: CurrCodeType::Iso4217A,
            curr_code: p.currency.clone(),
            amount: p.amount.clone(),
        };
        let mut list = BrandList {
            id: ids.next(),
            lang: lang.clone(),
            short_desc: p.short_desc.clone(),
            pay_direction: p.pay_direction(),
            ..BrandList::default()
        };
        let merchant_pay_id = self.new_pay_id('M');
        for bridge in self.bridges.clone() {
            let info = bridge.info();
            let host = Host::new(&*self.store, &info.software_id, now);
            let brands = bridge.find_accepted_payment_brand(
                &host,
                &payapi::FindAcceptedPaymentBrand {
                    amount: amount.clone(),
                    merchant_pay_id: merchant_pay_id.clone(),
                    merchant_org_id: Some(self.config.org.org_id.clone()),
                    wallet_id: None,
                    merchant_data: Vec::new(),
                },
            );
            let brands = match brands {
                Ok(b) => b.brands,
                Err(e) if e.code == payapi::ApiErrorCode::ReqNotSupp => continue,
                Err(e) => return Err(e.into()),
            };
            for brand in brands {
                let protocols = bridge.find_accepted_payment_protocol(
                    &host,
                    &payapi::FindAcceptedPaymentProtocol {
                        brand_id: Some(brand.brand_id.clone()),
                        amount: amount.clone(),
                        merchant_pay_id: merchant_pay_id.clone(),
                        merchant_org_id: Some(self.config.org.org_id.clone()),
                        wallet_id: None,
                        brand_content: brand.content.clone(),
                        merchant_data: Vec::new(),
                    },
                )?;
                let mut pa_refs = Vec::new();
                for proto in protocols.protocols {
                    let locn = proto
                        .sec_pay_req_net_locn
                        .as_deref()
                        .or(proto.pay_req_net_locn.as_deref());
                    let ph = self
                        .org_playing(&TradingRole::PaymentHandler, locn)
                        .cloned()
                        .ok_or_else(|| {
                            EngineError::Invalid("no Payment Handler is configured".into())
                        })?;
                    let ph_id = match orgs
                        .iter()
                        .find(|o| o.org_id.eq_ignore_ascii_case(&ph.org_id))
                    {
                        Some(o) => o.id.clone(),
                        None => {
                            let c = ph.to_component(ids, &lang);
                            let id = c.id.clone();
                            orgs.push(c);
                            id
                        }
                    };
                    let (insecure, secure) = match (
                        proto.pay_req_net_locn.clone(),
                        proto.sec_pay_req_net_locn.clone(),
                    ) {
                        (None, None) => ph
                            .endpoint(&TradingRole::PaymentHandler)
                            .map(RoleEndpoint::net_locn_pair)
                            .unwrap_or((None, None)),
                        pair => pair,
                    };
                    let pp_id = ids.next();
                    list.pay_protocols.push(PaymentProtocol {
                        id: pp_id.clone(),
                        lang: Some(lang.clone()),
                        protocol_id: proto.protocol_id.clone(),
                        protocol_name: proto.protocol_name.clone(),
                        action_org_ref: ph_id,
                        pay_req_net_locn: insecure,
                        sec_pay_req_net_locn: secure,
                        content_software_id: Some(info.software_id.clone()),
                        packaged_contents: proto.pay_protocol_content.clone(),
                        ..Default::default()
                    });
                    let mut ca_refs = Vec::new();
                    for ca in &proto.currency_amounts {
                        let id = ids.next();
                        list.currency_amounts.push(CurrencyAmount {
                            id: id.clone(),
                            amount: ca.amount.clone(),
                            curr_code_type: ca.curr_code_type.clone(),
                            curr_code: ca.curr_code.clone(),
                        });
                        ca_refs.push(id);
                    }
                    let pa_id = ids.next();
                    list.protocol_amounts.push(ProtocolAmount {
                        id: pa_id.clone(),
                        pay_protocol_ref: pp_id,
                        currency_amount_refs: ca_refs,
                        content_software_id: None,
                        packaged_contents: proto.protocol_amount_content.clone(),
                        ..Default::default()
                    });
                    pa_refs.push(pa_id);
                }
                if pa_refs.is_empty() {
                    continue;
                }
                list.brands.push(Brand {
                    id: ids.next(),
                    lang: brand.lang.clone(),
                    brand_id: brand.brand_id.clone(),
                    brand_name: brand.brand_name.clone(),
                    brand_logo_net_locn: brand.brand_logo_net_locn.clone(),
                    brand_narrative: brand.brand_narrative.clone(),
                    protocol_amount_refs: pa_refs,
                    content_software_id: None,
                    protocol_brands: Vec::new(),
                    packaged_contents: brand.content.clone(),
                    ..Default::default()
                });
            }
        }
        if list.brands.is_empty() {
            return Err(EngineError::Invalid(format!(
                "no payment bridge accepts {} {} ({})",
                p.amount, p.currency, p.direction
            )));
        }
        let _ = offer;
        Ok(list)
    }

    /// Builds the Offer Response (§8.3): Status, Order, the Payments, the Delivery and the
    /// Trading Role Data for the Payment Handlers.
    fn build_offer_response(
        &mut self,
        ids: &mut Ids,
        tpo: &TradingProtocolOptionsBlock,
        offer: &Offer,
        selections: &[BrandSelection],
        now: i64,
    ) -> Result<OfferResponseBlock, EngineError> {
        let lang = self.config.lang.clone();
        let ok_from = format_timestamp(now);
        let ok_to = format_timestamp(now + offer.valid_for_secs * 1000);
        let org_ref = |org_id: &str| {
            tpo.organisations
                .iter()
                .find(|o| o.org_id.eq_ignore_ascii_case(org_id))
                .map(|o| o.id.clone())
        };
        let merchant_ref = org_ref(&self.config.org.org_id).unwrap_or_default();
        let order = Order {
            id: ids.next(),
            lang: lang.clone(),
            order_identifier: offer.order_identifier.clone(),
            short_desc: offer.order_desc.clone(),
            ok_from: ok_from.clone(),
            ok_to: ok_to.clone(),
            applicable_law: offer.applicable_law.clone(),
            content_software_id: None,
            packaged_contents: vec![PackagedContent {
                name: Some("Main".into()),
                ..PackagedContent::text(offer.order_desc.clone())
            }],
            ..Default::default()
        };
        let mut payments: Vec<Payment> = Vec::new();
        let mut trading_role_data = Vec::new();
        for (i, list) in tpo.brand_lists.iter().enumerate() {
            let payment = Payment {
                id: ids.next(),
                ok_from: ok_from.clone(),
                ok_to: ok_to.clone(),
                brand_list_ref: list.id.clone(),
                signed_pay_receipt: Flag::False,
                start_after_refs: payments
                    .last()
                    .map(|p: &Payment| vec![p.id.clone()])
                    .filter(|_| i > 0),
            };
            // GetPaymentInitializationData with the selected brand (brand dependent) or the
            // first one (brand independent).
            let sel = selections.iter().find(|s| s.brand_list_ref == list.id);
            let brand = sel
                .and_then(|s| list.brands.iter().find(|b| b.id == s.brand_ref))
                .or_else(|| list.brands.first());
            let pa = sel
                .and_then(|s| {
                    list.protocol_amounts
                        .iter()
                        .find(|p| p.id == s.protocol_amount_ref)
                })
                .or_else(|| {
                    brand
                        .and_then(|b| b.protocol_amount_refs.first())
                        .and_then(|r| list.protocol_amounts.iter().find(|p| &p.id == r))
                });
            let pp = pa.and_then(|pa| {
                list.pay_protocols
                    .iter()
                    .find(|p| p.id == pa.pay_protocol_ref)
            });
            if let (Some(brand), Some(pp)) = (brand, pp)
                && let Some(bridge) = self.bridge_for_protocol(&pp.protocol_id)
            {
                let info = bridge.info();
                let merchant_pay_id = self.new_pay_id('M');
                let host = Host::new(&*self.store, &info.software_id, now);
                let p_offer = offer.payments.get(i);
                let amount = AmountInfo {
                    pay_direction: list.pay_direction.clone(),
                    curr_code_type: CurrCodeType::Iso4217A,
                    curr_code: p_offer.map(|p| p.currency.clone()).unwrap_or_default(),
                    amount: p_offer.map(|p| p.amount.clone()).unwrap_or_default(),
                };
                let init = bridge.get_payment_initialization_data(
                    &host,
                    &payapi::GetPaymentInitializationData {
                        brand_id: brand.brand_id.clone(),
                        merchant_pay_id,
                        amount,
                        protocol_id: pp.protocol_id.clone(),
                        ok_from: ok_from.clone(),
                        ok_to: ok_to.clone(),
                        receiver_org_id: tpo
                            .organisations
                            .iter()
                            .find(|o| o.id == pp.action_org_ref)
                            .map(|o| o.org_id.clone()),
                        merchant_org_id: Some(self.config.org.org_id.clone()),
                        wallet: Default::default(),
                        offer: payapi::OfferContent {
                            brand: brand.packaged_contents.clone(),
                            protocol_brand: None,
                            protocol_amount: pa
                                .map(|p| p.packaged_contents.clone())
                                .unwrap_or_default(),
                            pay_protocol: pp.packaged_contents.clone(),
                            order: order.packaged_contents.clone(),
                        },
                        brand_selection: sel.map(selection_content).unwrap_or_default(),
                        merchant_data: Vec::new(),
                    },
                );
                match init {
                    Ok(init) if !init.trading_role_data.is_empty() => {
                        trading_role_data.push(TradingRoleData {
                            id: ids.next(),
                            originator_el_ref: merchant_ref.clone(),
                            destination_el_refs: vec![pp.action_org_ref.clone()],
                            packaged_contents: init.trading_role_data,
                            ..Default::default()
                        });
                    }
                    Ok(_) => {}
                    Err(e) if e.code == payapi::ApiErrorCode::ReqNotSupp => {}
                    Err(e) => return Err(e.into()),
                }
            }
            payments.push(payment);
        }
        let delivery = match &offer.delivery {
            None => None,
            Some(d) => {
                let dh = self
                    .org_playing(&TradingRole::DeliveryHandler, None)
                    .cloned()
                    .ok_or_else(|| {
                        EngineError::Invalid("no Delivery Handler is configured".into())
                    })?;
                let (insecure, secure) = dh
                    .endpoint(&TradingRole::DeliveryHandler)
                    .map(RoleEndpoint::net_locn_pair)
                    .unwrap_or((None, None));
                let deliv_to = org_ref(&offer.consumer_org_id).unwrap_or_default();
                Some(Delivery {
                    id: ids.next(),
                    lang: lang.clone(),
                    deliv_exch: Flag::True,
                    deliv_and_pay_resp: if d.deliv_and_pay_resp {
                        Flag::True
                    } else {
                        Flag::False
                    },
                    action_org_ref: org_ref(&dh.org_id),
                    delivery_data: Some(DeliveryData {
                        lang: Some(lang.clone()),
                        ok_from: ok_from.clone(),
                        ok_to: ok_to.clone(),
                        deliv_method: d.deliv_method(),
                        deliv_to_ref: deliv_to,
                        deliv_req_net_locn: insecure,
                        sec_deliv_req_net_locn: secure,
                        content_software_id: None,
                        packaged_contents: Vec::new(),
                        ..Default::default()
                    }),
                    packaged_contents: vec![PackagedContent::text(d.description.clone())],
                    ..Default::default()
                })
            }
        };
        let status = build::status(
            ids,
            &lang,
            StatusType::Offer,
            Some(&order.id),
            ProcessState::CompletedOk,
            None,
            Some(&offer.order_identifier),
            None,
        );
        Ok(OfferResponseBlock {
            id: ids.next(),
            status,
            order: Some(order),
            payments,
            delivery,
            trading_role_data,
            ..Default::default()
        })
    }

    pub(crate) fn merchant_receive(
        &mut self,
        t: &mut Txn,
        known: bool,
        msg: &Arc<IotpMessage>,
        now: i64,
        _out: &mut Outcome,
    ) -> Result<Step, Fault> {
        let first = msg.blocks.first().map(|b| b.tag()).unwrap_or("IotpMessage");
        if !known {
            // §4.5.2.4: a TPO Selection or Authentication Response for an unknown transaction.
            return Err(Fault::hard(
                ErrorCode::ElUnexpected,
                first,
                "this Merchant does not know the transaction",
            )
            .block(msg.blocks.first().map(|b| b.id()).unwrap_or("")));
        }
        for b in &msg.blocks {
            match b {
                TradingBlock::TpoSelection(sel) => return self.on_tpo_selection(t, sel, now),
                TradingBlock::AuthenticationResponse(ar) => {
                    return self.on_auth_response(t, ar, now);
                }
                _ => {}
            }
        }
        Err(Fault::hard(
            ErrorCode::ElUnexpected,
            first,
            "a Merchant does not accept this block",
        )
        .block(msg.blocks.first().map(|b| b.id()).unwrap_or("")))
    }

    fn on_tpo_selection(
        &mut self,
        t: &mut Txn,
        sel: &TpoSelectionBlock,
        now: i64,
    ) -> Result<Step, Fault> {
        let unexpected = |why: &str| {
            Fault::hard(ErrorCode::ElUnexpected, "TpoSelectionBlk", why.to_owned()).block(&sel.id)
        };
        if t.st.phase != Phase::AwaitSelection {
            // §4.5.2.4: no TPO-only message was sent, or a selection was already received.
            return Err(unexpected(
                "no TPO is waiting for a selection in this transaction",
            ));
        }
        let tpo = t
            .tpo()
            .cloned()
            .ok_or_else(|| unexpected("no TPO in this transaction"))?;
        for bs in &sel.brand_selections {
            if !tpo.brand_lists.iter().any(|l| l.id == bs.brand_list_ref) {
                return Err(Fault::hard(
                    ErrorCode::ElInconsistent,
                    "BrandSelection",
                    "the Brand Selection refers to no Brand List of the TPO",
                )
                .block(&sel.id)
                .comp(&bs.id)
                .att("BrandListRef"));
            }
        }
        if sel.brand_selections.len() != tpo.brand_lists.len() {
            return Err(Fault::hard(
                ErrorCode::ElInconsistent,
                "TpoSelectionBlk",
                "one Brand Selection per Brand List is required (§8.2)",
            )
            .block(&sel.id));
        }
        let offer =
            t.st.offer
                .clone()
                .ok_or_else(|| unexpected("the offer is not known"))?;
        let brand_ids: Vec<String> = sel
            .brand_selections
            .iter()
            .filter_map(|bs| {
                tpo.brand_lists
                    .iter()
                    .flat_map(|l| l.brands.iter())
                    .find(|b| b.id == bs.brand_ref)
                    .map(|b| b.brand_id.clone())
            })
            .collect();
        let mut d = self.draft(t);
        if let Err(code) = self.merchant_app.accept_selection(&offer, &brand_ids) {
            let cancel =
                self.cancel_block(&mut d.ids, StatusType::Offer, Some(&tpo.id), code.clone());
            d.blocks.push(cancel);
            t.end(EndKind::Cancelled, ProcessState::Failed, Some(code));
            return Ok(Step::Reply(d));
        }
        let resp = self
            .build_offer_response(&mut d.ids, &tpo, &offer, &sel.brand_selections, now)
            .map_err(|e| {
                Fault::hard(ErrorCode::UnknownError, "TpoSelectionBlk", e.to_string())
                    .block(&sel.id)
            })?;
        t.st.last_status = Some(SavedStatus::of(&resp.status));
        t.st.phase = Phase::OfferDone;
        // The Merchant's part is done: payment expected (RFC 3867 §2.5).
        t.end(EndKind::Completed, ProcessState::CompletedOk, None);
        t.st.deadline = None;
        d.blocks.push(TradingBlock::OfferResponse(resp));
        Ok(Step::Reply(d))
    }

    fn on_auth_response(
        &mut self,
        t: &mut Txn,
        ar: &AuthenticationResponseBlock,
        now: i64,
    ) -> Result<Step, Fault> {
        let unexpected = |why: &str| {
            Fault::hard(ErrorCode::ElUnexpected, "AuthRespBlk", why.to_owned()).block(&ar.id)
        };
        if t.st.phase != Phase::AuthRequested || t.st.authenticated {
            return Err(unexpected(
                "no Authentication Request awaits a response in this transaction",
            ));
        }
        let areq = t
            .blocks()
            .find_map(|b| match b {
                TradingBlock::AuthenticationRequest(r) => Some(r.clone()),
                _ => None,
            })
            .ok_or_else(|| unexpected("this transaction has no Authentication Request"))?;
        let resp = ar.auth_response.as_ref();
        let chosen = resp.and_then(|r| {
            areq.auth_requests
                .iter()
                .find(|q| q.authentication_id == r.authentication_id)
        });
        if resp.is_some() && chosen.is_none() {
            return Err(Fault::hard(
                ErrorCode::ElInconsistent,
                "AuthResp",
                "the Authentication Response answers no Authentication Request of this transaction",
            )
            .block(&ar.id)
            .att("AuthenticationId"));
        }
        let status_info = match (resp, chosen) {
            (Some(r), Some(q)) => {
                let bridge = self.bridge_for_auth(&q.algorithm.name).ok_or_else(|| {
                    Fault::hard(
                        ErrorCode::AttValNotRecog,
                        "Algorithm",
                        "no bridge for the authentication algorithm",
                    )
                    .att("name")
                })?;
                let info = bridge.info();
                let host = Host::new(&*self.store, &info.software_id, now);
                bridge
                    .check_auth_response(
                        &host,
                        &payapi::CheckAuthResponse {
                            authentication_id: q.authentication_id.clone(),
                            wallet: Default::default(),
                            algorithm: q.algorithm.clone(),
                            auth_req: q.packaged_contents.clone(),
                            auth_res: r.packaged_contents.clone(),
                        },
                    )
                    .map_err(|e| api_fault(&e, "AuthResp"))?
            }
            // No AuthReq: "just return the Orgs".
            _ => payapi::StatusInfo::new(ProcessState::CompletedOk),
        };
        let ok = status_info.process_state == payapi::PaymentState::Iotp(ProcessState::CompletedOk);
        let mut d = self.draft(t);
        let lang = self.config.lang.clone();
        let q_id = chosen.or(areq.auth_requests.first()).map(|q| q.id.clone());
        let auth_id = chosen.map(|q| q.authentication_id.clone());
        let status = build::status(
            &mut d.ids,
            &lang,
            StatusType::Authentication,
            q_id.as_deref(),
            if ok {
                ProcessState::CompletedOk
            } else {
                ProcessState::Failed
            },
            if ok {
                None
            } else {
                Some(
                    status_info
                        .completion_code
                        .clone()
                        .unwrap_or(CompletionCode::AuthFailed),
                )
            },
            auth_id.as_deref(),
            status_info.status_desc.as_deref(),
        );
        t.st.last_status = Some(SavedStatus::of(&status));
        d.blocks.push(TradingBlock::AuthenticationStatus(
            AuthenticationStatusBlock {
                id: String::new(),
                status,
                ..Default::default()
            },
        ));
        if !ok {
            // AuthFailed is recoverable: the Consumer may send a corrected response.
            return Ok(Step::Reply(d));
        }
        t.st.authenticated = true;
        let offer = t.st.offer.clone();
        match offer {
            Some(offer) if flows::flow(&offer.transaction_type()).is_some_and(|f| f.has_offer) => {
                let tpo = self.build_tpo(&mut d.ids, &offer, now).map_err(|e| {
                    Fault::hard(ErrorCode::UnknownError, "AuthRespBlk", e.to_string())
                })?;
                if offer.brand_dependent {
                    t.st.phase = Phase::AwaitSelection;
                    d.blocks.push(TradingBlock::TradingProtocolOptions(tpo));
                } else {
                    let resp = self
                        .build_offer_response(&mut d.ids, &tpo, &offer, &[], now)
                        .map_err(|e| {
                            Fault::hard(ErrorCode::UnknownError, "AuthRespBlk", e.to_string())
                        })?;
                    t.st.last_status = Some(SavedStatus::of(&resp.status));
                    t.st.phase = Phase::OfferDone;
                    // The Merchant's part is done: payment expected (RFC 3867 §2.5).
                    t.end(EndKind::Completed, ProcessState::CompletedOk, None);
                    t.st.deadline = None;
                    d.blocks.push(TradingBlock::TradingProtocolOptions(tpo));
                    d.blocks.push(TradingBlock::OfferResponse(resp));
                }
            }
            _ => {
                t.st.phase = Phase::Done;
                t.end(EndKind::Completed, ProcessState::CompletedOk, None);
            }
        }
        Ok(Step::Reply(d))
    }
}

/// The Brand Selection's PackagedContent as the Payment API carries it.
pub(crate) fn selection_content(s: &BrandSelection) -> payapi::BrandSelectionContent {
    payapi::BrandSelectionContent {
        brand_info: s
            .brand_info
            .as_ref()
            .map(|i| i.packaged_contents.clone())
            .unwrap_or_default(),
        protocol_amount_info: s
            .protocol_amount_info
            .as_ref()
            .map(|i| i.packaged_contents.clone())
            .unwrap_or_default(),
        currency_amount_info: s
            .currency_amount_info
            .as_ref()
            .map(|i| i.packaged_contents.clone())
            .unwrap_or_default(),
    }
}
