//! Validation of the messages of one transaction together (`iotp validate --transaction`):
//! element references (§3.5) resolve across messages, an ID denotes the same content in every
//! message that carries it (§3.4), all messages share one IotpTransId, and each TPO Selection
//! selects once from every Brand List of the TPO (§8.2).

use std::borrow::Cow;

use super::codes::ErrorCode;
use super::error::ValidationError;
use super::message::{IotpMessage, TradingBlock};
use super::model::ErrorLocation;
use super::validate::{IdIndex, Shared, validate_message, validate_with};
use crate::xml::{Limits, XmlElement, XmlNode, parse_tree};

/// Every element with an `ID`, as (ID, tag, canonical text of the element).
fn identified(msg: &IotpMessage) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let limits = Limits {
        max_message_bytes: usize::MAX,
        ..Limits::default()
    };
    if let Ok(root) = parse_tree(msg.to_xml().as_bytes(), &limits) {
        walk(&root, &mut out);
    }
    out
}

fn walk(e: &XmlElement, out: &mut Vec<(String, String, String)>) {
    // ErrorComp/@ID is an NMTOKEN, not an ID (§7.21).
    if let Some(id) = e.attribute("ID").filter(|_| e.name != "ErrorComp") {
        out.push((id.to_owned(), e.name.clone(), format!("{e:?}")));
    }
    for c in &e.children {
        if let XmlNode::Element(child) = c {
            walk(child, out);
        }
    }
}

pub(crate) fn validate(messages: &[&IotpMessage]) -> Vec<Vec<ValidationError>> {
    let per_message: Vec<Vec<(String, String, String)>> =
        messages.iter().map(|m| identified(m)).collect();
    let mut all: Vec<(Cow<'_, str>, Cow<'_, str>, usize)> = Vec::new();
    for (i, ids) in per_message.iter().enumerate() {
        all.extend(
            ids.iter()
                .map(|(id, tag, _)| (Cow::Borrowed(id.as_str()), Cow::Borrowed(tag.as_str()), i)),
        );
    }
    let union = IdIndex::new(all);
    let mut shared = Shared::default();
    for m in messages {
        for b in &m.blocks {
            match b {
                TradingBlock::TradingProtocolOptions(t) => {
                    shared.lists.extend(&t.brand_lists);
                    shared.orgs.extend(&t.organisations);
                }
                TradingBlock::PaymentRequest(p) => shared.orgs.extend(&p.organisations),
                TradingBlock::DeliveryRequest(d) => shared.orgs.extend(&d.organisations),
                _ => {}
            }
        }
    }
    let first_trans_id = messages
        .first()
        .map(|m| m.iotp_trans_id().to_owned())
        .unwrap_or_default();
    let msg_ids: Vec<&str> = messages.iter().map(|m| m.message_id()).collect();
    let mut result = Vec::with_capacity(messages.len());
    for (i, msg) in messages.iter().enumerate() {
        let mut out = Vec::new();
        // What the message shows on its own is reported by its own validation; keep only what
        // the transaction adds.
        let own_ids = IdIndex::new(
            per_message[i]
                .iter()
                .map(|(id, tag, _)| (Cow::Borrowed(id.as_str()), Cow::Borrowed(tag.as_str()), 0))
                .collect(),
        );
        let mut alone = Vec::new();
        validate_message(msg, &own_ids, &mut alone);
        let mut together = Vec::new();
        validate_with(msg, &union, Some(&shared), &mut together);
        out.extend(together.into_iter().filter(|e| !alone.contains(e)));

        let tr = &msg.trans_ref;
        let tid_at = |att: &str| ErrorLocation {
            element_type: "TransId".into(),
            iotp_msg_ref: Some(tr.message_id.id.clone()),
            blk_ref: Some(tr.id.clone()),
            comp_ref: Some(tr.transaction_id.id.clone()),
            att_name: Some(att.into()),
            ..ErrorLocation::default()
        };
        if msg.iotp_trans_id() != first_trans_id {
            out.push(
                ValidationError::hard(
                    ErrorCode::ElInconsistent,
                    tid_at("IotpTransId"),
                    format!(
                        "IotpTransId '{}' differs from '{first_trans_id}' of the first message",
                        msg.iotp_trans_id()
                    ),
                )
                .with_value(msg.iotp_trans_id()),
            );
        }
        if let Some(r) = &tr.message_id.resp_iotp_msg
            && !msg_ids.iter().enumerate().any(|(j, id)| j != i && id == r)
        {
            out.push(
                ValidationError::hard(
                    ErrorCode::AttValIllegal,
                    ErrorLocation {
                        element_type: "MsgId".into(),
                        comp_ref: Some(tr.message_id.id.clone()),
                        att_name: Some("RespIotpMsg".into()),
                        ..tid_at("")
                    },
                    format!("RespIotpMsg '{r}' names no other message of the transaction"),
                )
                .with_value(r.clone()),
            );
        }
        // The same ID must denote the same content in every message (§3.4).
        for (id, tag, text) in &per_message[i] {
            for (j, other) in per_message.iter().enumerate().take(i) {
                if let Some((_, otag, otext)) = other.iter().find(|(oid, _, _)| oid == id) {
                    if otag != tag || otext != text {
                        out.push(
                            ValidationError::hard(
                                ErrorCode::ElInconsistent,
                                ErrorLocation { element_type: tag.clone(), iotp_msg_ref: Some(tr.message_id.id.clone()), element_ref: Some(id.clone()), att_name: Some("ID".into()), ..ErrorLocation::default() },
                                format!("ID '{id}' denotes different content here than in message {} (§3.4)", msg_ids[j]),
                            )
                            .with_value(id.clone()),
                        );
                    }
                    break;
                }
            }
        }
        // One BrandSelection per BrandList of the TPO (§8.2).
        for b in &msg.blocks {
            let TradingBlock::TpoSelection(sel) = b else {
                continue;
            };
            for list in &shared.lists {
                let n = sel
                    .brand_selections
                    .iter()
                    .filter(|s| s.brand_list_ref == list.id)
                    .count();
                if n != 1 {
                    let location = ErrorLocation {
                        element_type: "BrandSelection".into(),
                        iotp_msg_ref: Some(tr.message_id.id.clone()),
                        blk_ref: Some(sel.id.clone()),
                        ..ErrorLocation::default()
                    };
                    let (code, what) = if n == 0 {
                        (ErrorCode::ElMissing, "no")
                    } else {
                        (ErrorCode::ElUnexpected, "more than one")
                    };
                    out.push(ValidationError::hard(code, location, format!("the TPO Selection has {what} BrandSelection for BrandList {} (§8.2)", list.id)).with_value("BrandSelection"));
                }
            }
        }
        for e in &mut out {
            if e.location.iotp_msg_ref.is_none() {
                e.location.iotp_msg_ref = Some(tr.message_id.id.clone());
            }
        }
        result.push(out);
    }
    result
}
