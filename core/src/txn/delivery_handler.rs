//! The Delivery Handler (§2.1, §9.1.4): checks a Delivery Request (§6.3) and answers with the
//! Delivery Response.

use std::sync::Arc;

use crate::msg::IotpMessage;
use crate::msg::TradingBlock;
use crate::msg::codes::*;
use crate::msg::model::*;

use super::build::{self, Ids};
use super::state::{Phase, SavedStatus, Txn};
use super::*;

impl Engine {
    pub(crate) fn delivery_handler_receive(
        &mut self,
        t: &mut Txn,
        known: bool,
        msg: &Arc<IotpMessage>,
        _now: i64,
        out: &mut Outcome,
    ) -> Result<Step, Fault> {
        let Some(dr) = msg.blocks.iter().find_map(|b| match b {
            TradingBlock::DeliveryRequest(d) => Some(d),
            _ => None,
        }) else {
            let first = msg.blocks.first();
            return Err(Fault::hard(
                ErrorCode::ElUnexpected,
                first.map(|b| b.tag()).unwrap_or("IotpMessage"),
                "a Delivery Handler does not accept this block",
            )
            .block(first.map(|b| b.id()).unwrap_or("")));
        };
        let hard =
            |code: ErrorCode, el: &str, why: String| Fault::hard(code, el, why).block(&dr.id);
        if known {
            // §4.5.2.4: a Delivery Request must be the first this role hears of it.
            return Err(hard(
                ErrorCode::ElUnexpected,
                "DeliveryReqBlk",
                "this Delivery Handler already knows the transaction".into(),
            ));
        }
        t.st.trans_type = msg.trans_ref.transaction_id.iotp_trans_type.to_string();
        self.adopt_prefix(t, &dr.organisations, &TradingRole::DeliveryHandler);
        // §6.3: deliver only when the offer and the payments completed.
        check_completed(&dr.statuses, &dr.id, "delivery")?;
        for needed in [StatusType::Offer, StatusType::Payment] {
            if !dr.statuses.iter().any(|s| s.status_type == needed) {
                return Err(hard(
                    ErrorCode::ElMissing,
                    "Status",
                    format!("the Delivery Request carries no {needed} status (§8.10)"),
                )
                .with_value("Status"));
            }
        }
        if let Some(action) = &dr.delivery.action_org_ref {
            // §6.3.1.2: the Delivery names this Delivery Handler, whose Org plays that role.
            let is_me = self.is_own_org(&dr.organisations, action, &TradingRole::DeliveryHandler);
            if !is_me {
                return Err(hard(
                    ErrorCode::ElInconsistent,
                    "Delivery",
                    "the Delivery names another Delivery Handler".into(),
                )
                .comp(&dr.delivery.id)
                .att("ActionOrgRef"));
            }
        }
        let data = dr.delivery.delivery_data.as_ref();
        let request = DeliveryRequest {
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            order_identifier: dr.order.order_identifier.clone(),
            order_desc: dr.order.short_desc.clone(),
            method: data
                .map(|d| d.deliv_method.clone())
                .unwrap_or(DelivMethod::Web),
            deliv_to: data
                .and_then(|d| dr.organisations.iter().find(|o| o.id == d.deliv_to_ref))
                .map(|o| o.org_id.clone())
                .unwrap_or_default(),
        };
        let mut d = self.draft(t);
        let resp = self.delivery_response(&mut d.ids, &dr.delivery.id, &request);
        let ok = resp.status.process_state == ProcessState::CompletedOk;
        t.st.last_status = Some(SavedStatus::of(&resp.status));
        let code = resp.status.completion_code.clone();
        d.blocks.push(TradingBlock::DeliveryResponse(resp));
        t.st.phase = Phase::Done;
        t.end(
            if ok {
                EndKind::Completed
            } else {
                EndKind::Failed
            },
            if ok {
                ProcessState::CompletedOk
            } else {
                ProcessState::Failed
            },
            code,
        );
        out.events.push(Event::Finished(self.outcome_of(t, None)));
        Ok(Step::Reply(d))
    }

    /// The Delivery Response for a delivery, from the application's result.
    pub(crate) fn delivery_response(
        &self,
        ids: &mut Ids,
        delivery_id: &str,
        request: &DeliveryRequest,
    ) -> DeliveryResponseBlock {
        let result = self.delivery_app.deliver(request);
        let lang = self.config.lang.clone();
        let state = if result.ok {
            ProcessState::CompletedOk
        } else {
            ProcessState::Failed
        };
        let status = build::status(
            ids,
            &lang,
            StatusType::Delivery,
            Some(delivery_id),
            state,
            Some(result.completion_code.clone()),
            Some(&result.deliv_handler_deliv_id),
            None,
        );
        DeliveryResponseBlock {
            id: String::new(),
            status,
            delivery_note: DeliveryNote {
                id: ids.next(),
                lang,
                deliv_handler_deliv_id: Some(result.deliv_handler_deliv_id.clone()),
                content_software_id: None,
                packaged_contents: vec![PackagedContent::text(result.note)],
                ..Default::default()
            },
            ..Default::default()
        }
    }
}
