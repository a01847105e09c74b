//! Validation beyond the DTD: the rules of §3.4 (IDs), §3.5 (element references), §7 (components)
//! and §8/§9 (blocks and their combinations) that a DTD cannot express.
//!
//! Each rule reports the most specific §7.21.2 code. "Should" rules of the RFC are warnings;
//! "must" rules and anything that stops processing are hard errors.

use std::borrow::Cow;

use super::codes::*;
use super::error::{ValidationError, cat};
use super::message::{IotpMessage, TradingBlock};
use super::model::*;
use crate::xml::{is_name_char, same_name};

/// The first eight bytes of an ID as a big-endian number (zero-padded): IDs whose keys differ
/// are ordered as their keys are, so that most comparisons of IDs are one comparison of numbers.
pub(crate) fn id_key(id: &str) -> u64 {
    let b = id.as_bytes();
    let word = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    match b.len() {
        8.. => b.first_chunk::<8>().map_or(0, |w| u64::from_be_bytes(*w)),
        // Two overlapping words, the second moved to where its bytes belong.
        n @ 4..=7 => u64::from(word(0)) << 32 | u64::from(word(n - 4)) << (8 * (8 - n)),
        n => b
            .iter()
            .zip(0..n)
            .fold(0, |key, (&c, i)| key | u64::from(c) << (56 - 8 * i)),
    }
}

/// `a.cmp(b)` for IDs with the keys `ka` and `kb` ([`id_key`]).
pub(crate) fn cmp_ids(ka: u64, a: &str, kb: u64, b: &str) -> std::cmp::Ordering {
    ka.cmp(&kb).then_with(|| {
        // Equal keys: IDs of at most eight bytes agree on their bytes, and the longer has only
        // NULs after the shorter, so the shorter comes first.
        if a.len() <= 8 && b.len() <= 8 {
            a.len().cmp(&b.len())
        } else {
            a.cmp(b)
        }
    })
}

/// The IDs of one document: ID value, element type, byte offset; sorted by ID. Each with its
/// [`id_key`].
#[derive(Debug, Default)]
pub(crate) struct IdIndex<'x> {
    entries: Vec<(u64, Cow<'x, str>, Cow<'x, str>, usize)>,
    /// The keys of `entries` on their own, searched first; and whether any ID is there twice.
    keys: Vec<u64>,
    twice: bool,
}

impl<'x> IdIndex<'x> {
    pub fn new(mut entries: Vec<(Cow<'x, str>, Cow<'x, str>, usize)>) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Self::from_sorted(
            entries
                .into_iter()
                .map(|(id, tag, offset)| (id_key(&id), id, tag, offset)),
        )
    }

    /// An index over entries (with their [`id_key`]) already sorted as [`new`](Self::new)
    /// sorts them (by ID; equal IDs in document order).
    pub fn from_sorted(
        entries: impl Iterator<Item = (u64, Cow<'x, str>, Cow<'x, str>, usize)>,
    ) -> Self {
        let entries: Vec<_> = entries.collect();
        debug_assert!(entries.is_sorted_by(|a, b| a.1 <= b.1));
        let keys = entries.iter().map(|e| e.0).collect();
        let twice = entries
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1);
        IdIndex {
            entries,
            keys,
            twice,
        }
    }

    /// The element type carrying `id`, if any.
    pub fn tag(&self, id: &str) -> Option<&str> {
        self.find(id).map(|e| e.2.as_ref())
    }

    pub fn offset(&self, id: &str) -> Option<usize> {
        self.find(id).map(|e| e.3)
    }

    fn find(&self, id: &str) -> Option<&(u64, Cow<'x, str>, Cow<'x, str>, usize)> {
        let key = id_key(id);
        if self.twice {
            // Which of equal IDs a binary search over the entries lands on is what earlier
            // versions reported: kept.
            return self
                .entries
                .binary_search_by(|e| cmp_ids(e.0, &e.1, key, id))
                .ok()
                .map(|i| &self.entries[i]);
        }
        // IDs unique: the entry with the key and the ID, if any, found among the keys.
        let first = self.keys.partition_point(|&k| k < key);
        self.keys[first..]
            .iter()
            .take_while(|&&k| k == key)
            .zip(&self.entries[first..])
            .map(|(_, e)| e)
            .find(|e| e.1.len() == id.len() && (id.len() <= 8 || e.1 == id))
    }

    pub fn ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| (e.1.as_ref(), e.2.as_ref()))
    }
}

/// Where an element sits, for building ErrorLocations.
#[derive(Clone, Copy)]
struct At<'m> {
    tag: &'static str,
    blk: Option<&'m str>,
    comp: Option<&'m str>,
    el: Option<&'m str>,
}

impl<'m> At<'m> {
    fn block(tag: &'static str, id: &'m str) -> Self {
        At {
            tag,
            blk: Some(id),
            comp: None,
            el: None,
        }
    }
    fn comp(self, tag: &'static str, id: &'m str) -> Self {
        At {
            tag,
            comp: Some(id),
            el: None,
            ..self
        }
    }
    fn part(self, tag: &'static str, id: Option<&'m str>) -> Self {
        At {
            tag,
            el: id,
            ..self
        }
    }
    fn location(&self, att: Option<&str>) -> ErrorLocation {
        ErrorLocation {
            element_type: self.tag.to_owned(),
            iotp_msg_ref: None,
            blk_ref: self.blk.map(str::to_owned),
            comp_ref: self.comp.map(str::to_owned),
            element_ref: self.el.map(str::to_owned),
            att_name: att.map(str::to_owned),
        }
    }
}

/// How a reference that does not resolve inside the message is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Must resolve inside this message.
    Message,
    /// May point to another message of the transaction (checked by `validate_transaction`),
    /// unless this is the first message of the transaction.
    Transaction,
}

struct V<'m, 'x> {
    msg: &'m IotpMessage,
    ids: &'x IdIndex<'x>,
    out: &'x mut Vec<ValidationError>,
    /// The first message of a transaction (no RespIotpMsg, not an inquiry): nothing earlier
    /// exists, so every reference must resolve inside it.
    first: bool,
}

impl<'m> V<'m, '_> {
    fn hard(&mut self, code: ErrorCode, at: At<'_>, att: Option<&str>, message: String) {
        self.out
            .push(ValidationError::hard(code, at.location(att), message));
    }

    fn warn(&mut self, code: ErrorCode, at: At<'_>, att: Option<&str>, message: String) {
        self.out
            .push(ValidationError::warning(code, at.location(att), message));
    }

    fn hard_value(&mut self, code: ErrorCode, at: At<'_>, att: &str, value: &str, message: String) {
        self.out
            .push(ValidationError::hard(code, at.location(Some(att)), message).with_value(value));
    }

    fn missing_att(&mut self, at: At<'_>, att: &str, why: &str) {
        self.missing_att_because(at, att, &[why]);
    }

    /// [`missing_att`](Self::missing_att) with the reason in pieces, so that the message is
    /// allocated once.
    fn missing_att_because(&mut self, at: At<'_>, att: &str, why: &[&str]) {
        let head = [at.tag, " requires attribute ", att, ": "];
        let mut message =
            String::with_capacity(head.iter().chain(why).map(|p| p.len()).sum::<usize>());
        for part in head.iter().chain(why) {
            message.push_str(part);
        }
        self.out.push(
            ValidationError::hard(ErrorCode::AttMissing, at.location(Some(att)), message)
                .with_value(att),
        );
    }

    fn missing_el(&mut self, at: At<'_>, element: &str, why: &str) {
        let mut location = at.location(None);
        location.element_type = element.to_owned();
        self.out.push(
            ValidationError::hard(
                ErrorCode::ElMissing,
                location,
                cat(&[at.tag, " needs a ", element, ": ", why]),
            )
            .with_value(element),
        );
    }

    /// Checks that a code is one of the RFC's or a user code (§12.2).
    fn code<T: std::fmt::Display>(&mut self, at: At<'_>, att: &str, known: bool, value: &T) {
        if known {
            return;
        }
        let text = value.to_string();
        if !is_user_code(&text) {
            self.hard_value(
                ErrorCode::AttValNotRecog,
                at,
                att,
                &text,
                format!(
                    "{}/@{att} = '{text}' is neither an RFC value nor a user code (x-…)",
                    at.tag
                ),
            );
        }
    }

    /// Resolves an element reference against the message's IDs (§3.5).
    fn reference(
        &mut self,
        at: At<'_>,
        att: &str,
        value: &str,
        targets: &[&str],
        scope: Scope,
    ) -> bool {
        match self.ids.tag(value) {
            Some(tag) if targets.is_empty() || targets.contains(&tag) => true,
            Some(tag) => {
                let tag = tag.to_owned();
                self.hard_value(
                    ErrorCode::ElInconsistent,
                    at,
                    att,
                    value,
                    format!(
                        "{}/@{att} '{value}' names a {tag}, not a {}",
                        at.tag,
                        targets.join(" or ")
                    ),
                );
                false
            }
            None if scope == Scope::Message || self.first => {
                self.hard_value(
                    ErrorCode::AttValIllegal,
                    at,
                    att,
                    value,
                    format!(
                        "{}/@{att} '{value}' does not name any element of the message",
                        at.tag
                    ),
                );
                false
            }
            None => false,
        }
    }

    fn lang(&mut self, at: At<'_>, value: &str) {
        if !is_language_tag(value) {
            self.hard_value(
                ErrorCode::AttValIllegal,
                at,
                "xml:lang",
                value,
                format!("{}/@xml:lang '{value}' is not a language tag", at.tag),
            );
        }
    }

    fn opt_lang(&mut self, at: At<'_>, value: &Option<String>) {
        if let Some(v) = value {
            self.lang(at, v);
        }
    }

    fn timestamp(&mut self, at: At<'_>, att: &str, value: &str) -> Option<i64> {
        let t = parse_timestamp(value);
        if t.is_none() {
            self.hard_value(
                ErrorCode::AttValIllegal,
                at,
                att,
                value,
                format!(
                    "{}/@{att} '{value}' is not a UTC date and time (e.g. 1999-05-20T12:20:00Z)",
                    at.tag
                ),
            );
        }
        t
    }

    fn window(&mut self, at: At<'_>, from: &str, to: &str) {
        let (a, b) = (
            self.timestamp(at, "OkFrom", from),
            self.timestamp(at, "OkTo", to),
        );
        if let (Some(a), Some(b)) = (a, b)
            && b < a
        {
            self.hard_value(
                ErrorCode::ValueTooSmall,
                at,
                "OkTo",
                to,
                format!("{}/@OkTo {to} is earlier than OkFrom {from}", at.tag),
            );
        }
    }

    fn net_locations(&mut self, at: At<'_>, pair: [(&str, &Option<String>); 2]) {
        if pair.iter().all(|(_, v)| v.is_none()) {
            self.missing_att_because(
                at,
                pair[0].0,
                &[
                    "one of ",
                    pair[0].0,
                    " and ",
                    pair[1].0,
                    " must be present (§3.9)",
                ],
            );
        }
    }

    fn packaged(&mut self, at: At<'_>, contents: &[PackagedContent]) {
        for pc in contents {
            if !pc.content.is_known() && !is_user_code(&pc.content.as_str()) {
                let v = pc.content.to_string();
                let a = at.part("PackagedContent", None);
                self.hard_value(
                    ErrorCode::AttValNotRecog,
                    a,
                    "Content",
                    &v,
                    format!("PackagedContent/@Content '{v}' is not PCDATA, MIME, MIME:type/subtype, XML or a user code"),
                );
            }
        }
    }

    fn status(&mut self, s: &Status, at: At<'m>, block: &str) {
        let at = at.comp("Status", &s.id);
        self.lang(at, &s.lang);
        self.code(at, "StatusType", s.status_type.is_known(), &s.status_type);
        let in_inquiry = block == "InquiryRespBlk";
        let in_cancel = block == "CancelBlk";
        match &s.el_ref {
            None if s.status_type != StatusType::Unidentified => self.missing_att(
                at,
                "ElRef",
                "required unless StatusType is Undefined (§7.16)",
            ),
            Some(r) => {
                let target: &[&str] = match s.status_type {
                    // Before the Offer Response there is no Order: a Cancel Block or an
                    // Inquiry Response about a brand-dependent offer refers to the TPO
                    // (settled here; §9.1.2 asks for the Cancel, §7.16 for the ElRef).
                    StatusType::Offer if in_cancel || in_inquiry => &["Order", "TpoBlk"],
                    StatusType::Offer => &["Order"],
                    StatusType::Payment => &["Payment"],
                    StatusType::Delivery => &["Delivery"],
                    // An Authentication Request Block may hold no AuthReq (§8.4: "just return
                    // the Orgs"); a Cancel or Inquiry Response then refers to the block.
                    StatusType::Authentication if in_cancel || in_inquiry => {
                        &["AuthReq", "AuthReqBlk"]
                    }
                    StatusType::Authentication => &["AuthReq"],
                    _ => &[],
                };
                self.reference(at, "ElRef", r, target, Scope::Transaction);
            }
            None => {}
        }
        if s.process_state == ProcessState::ProcessError && !in_inquiry {
            self.hard_value(
                ErrorCode::AttValIllegal,
                at,
                "ProcessState",
                "ProcessError",
                "ProcessState ProcessError is only used in an Inquiry Response (§7.16)".into(),
            );
        }
        let Some(code) = &s.completion_code else {
            if s.process_state == ProcessState::Failed {
                self.missing_att(
                    at,
                    "CompletionCode",
                    "required when ProcessState is Failed (§7.16)",
                );
            }
            return;
        };
        use CompletionCode as C;
        if !code.is_known() {
            self.code(at, "CompletionCode", false, code);
            return;
        }
        let allowed: &[CompletionCode] = match s.status_type {
            StatusType::Offer => &[
                C::AuthError,
                C::ConsCancelled,
                C::MerchCancelled,
                C::Unspecified,
                C::TimedOutRcvr,
                C::TimedOutNoRcvr,
            ],
            StatusType::Payment => &[
                C::BrandNotSupp,
                C::CurrNotSupp,
                C::ConsCancelled,
                C::PaymtCancelled,
                C::AuthError,
                C::InsuffFunds,
                C::InstBrandInvalid,
                C::InstNotValid,
                C::BadInstrument,
                C::Unspecified,
                C::TimedOutRcvr,
                C::TimedOutNoRcvr,
            ],
            StatusType::Delivery => &[
                C::BackOrdered,
                C::PermNotAvail,
                C::TempNotAvail,
                C::ShipPending,
                C::Shipped,
                C::ShippedNoConf,
                C::ConsCancelled,
                C::DelivCancelled,
                C::Confirmed,
                C::Unspecified,
                C::TimedOutRcvr,
                C::TimedOutNoRcvr,
            ],
            StatusType::Authentication => &[
                C::AutEeCancel,
                C::AutOrCancel,
                C::NoAuthReq,
                C::AuthFailed,
                C::TradRolesIncon,
                C::Unspecified,
                C::TimedOutRcvr,
                C::TimedOutNoRcvr,
            ],
            StatusType::Unidentified => &[C::InMsgHardError],
            StatusType::Other(_) => return,
        };
        if !allowed.contains(code) && *code != C::UnAuthReq {
            self.hard_value(
                ErrorCode::ElInconsistent,
                at,
                "CompletionCode",
                code.as_str(),
                format!(
                    "CompletionCode {code} is not a {} completion code (§7.16)",
                    s.status_type
                ),
            );
            return;
        }
        let cancel_or_inquiry_only = matches!(
            code,
            C::ConsCancelled | C::MerchCancelled | C::PaymtCancelled | C::DelivCancelled
        );
        let inquiry_only = matches!(code, C::TimedOutRcvr | C::TimedOutNoRcvr | C::UnAuthReq);
        if (cancel_or_inquiry_only && !in_cancel && !in_inquiry) || (inquiry_only && !in_inquiry) {
            let where_ = if inquiry_only {
                "an Inquiry Response"
            } else {
                "a Cancel block or an Inquiry Response"
            };
            self.hard_value(
                ErrorCode::ElInconsistent,
                at,
                "CompletionCode",
                code.as_str(),
                format!("CompletionCode {code} is only valid in {where_} (§7.16)"),
            );
        }
        let delivery_ok = matches!(
            code,
            C::BackOrdered
                | C::TempNotAvail
                | C::ShipPending
                | C::Shipped
                | C::ShippedNoConf
                | C::Confirmed
        );
        if delivery_ok && s.process_state != ProcessState::CompletedOk {
            self.hard_value(
                ErrorCode::ElInconsistent,
                at,
                "CompletionCode",
                code.as_str(),
                format!(
                    "CompletionCode {code} is only used with ProcessState CompletedOk (§7.16.3)"
                ),
            );
        }
        if matches!(code, C::PermNotAvail) && s.process_state != ProcessState::Failed {
            self.hard_value(
                ErrorCode::ElInconsistent,
                at,
                "CompletionCode",
                code.as_str(),
                "CompletionCode PermNotAvail is only used with ProcessState Failed (§7.16.3)"
                    .into(),
            );
        }
    }

    fn response_status(&mut self, s: &Status, at: At<'m>, block: &str, expected: StatusType) {
        self.status(s, at, block);
        let sat = at.comp("Status", &s.id);
        if matches!(
            s.process_state,
            ProcessState::NotYetStarted | ProcessState::InProgress
        ) {
            self.hard_value(
                ErrorCode::AttValIllegal,
                sat,
                "ProcessState",
                s.process_state.as_str(),
                format!(
                    "a {block} reports a finished process: ProcessState {} is not allowed (§8)",
                    s.process_state
                ),
            );
        }
        if s.status_type.is_known()
            && s.status_type != expected
            && s.status_type != StatusType::Unidentified
        {
            self.hard_value(
                ErrorCode::ElInconsistent,
                sat,
                "StatusType",
                s.status_type.as_str(),
                format!(
                    "the Status of a {block} has StatusType {expected}, not {}",
                    s.status_type
                ),
            );
        }
    }

    fn organisation(&mut self, org: &'m Organisation, at: At<'m>) {
        let at = at.comp("Org", &org.id);
        self.lang(at, &org.lang);
        let consumer_like = org
            .trading_roles
            .iter()
            .all(|r| matches!(r.trading_role, TradingRole::Consumer | TradingRole::DelivTo));
        if !org_id_ok(&org.org_id) {
            self.hard_value(
                ErrorCode::AttValIllegal,
                at,
                "OrgId",
                &org.org_id,
                format!(
                    "OrgId '{}' is neither a domain name nor Consumer:<id>/<domain> (§7.6)",
                    org.org_id
                ),
            );
        } else if !consumer_like && starts_with_ignore_case(&org.org_id, "consumer:") {
            self.hard_value(
                ErrorCode::AttValIllegal,
                at,
                "OrgId",
                &org.org_id,
                "the OrgId of a non-consumer Organisation must not start with Consumer: (§7.6)"
                    .into(),
            );
        }
        let consumer = org
            .trading_roles
            .iter()
            .any(|r| r.trading_role == TradingRole::Consumer);
        if consumer && !starts_with_ignore_case(&org.org_id, "consumer:") {
            self.out.push(
                ValidationError::warning(
                    ErrorCode::AttValIllegal,
                    at.location(Some("OrgId")),
                    "a Consumer's OrgId should be Consumer:<id>/<domain of the allocating role> (§7.6)",
                )
                .with_value(org.org_id.clone()),
            );
        }
        if !consumer_like && org.legal_name.is_none() {
            self.missing_att(
                at,
                "LegalName",
                "required for every role except Consumer and DelivTo (§7.6)",
            );
        }
        for role in &org.trading_roles {
            let rat = at.part("TradingRole", Some(&role.id));
            self.code(
                rat,
                "TradingRole",
                role.trading_role.is_known(),
                &role.trading_role,
            );
            let server = matches!(
                role.trading_role,
                TradingRole::Merchant | TradingRole::PaymentHandler | TradingRole::DeliveryHandler
            );
            let client = matches!(
                role.trading_role,
                TradingRole::Consumer | TradingRole::DelivTo
            );
            for (name, value) in [
                ("CancelNetLocn", &role.cancel_net_locn),
                ("ErrorNetLocn", &role.error_net_locn),
            ] {
                if server && value.is_none() {
                    self.missing_att_because(
                        rat,
                        name,
                        &[
                            "required for the ",
                            role.trading_role.as_str(),
                            " role (§7.6.2)",
                        ],
                    );
                }
                if client && value.is_some() {
                    self.hard(
                        ErrorCode::AttUnexpected,
                        rat,
                        Some(name),
                        format!(
                            "{name} must not be present for the {} role (§7.6.2)",
                            role.trading_role
                        ),
                    );
                }
            }
            if role.trading_role == TradingRole::Consumer && role.error_log_net_locn.is_some() {
                self.hard(
                    ErrorCode::AttUnexpected,
                    rat,
                    Some("ErrorLogNetLocn"),
                    "ErrorLogNetLocn must not be present for the Consumer role (§7.6.2)".into(),
                );
            }
        }
        if let Some(ci) = &org.contact_info {
            let cat = at.part("ContactInfo", None);
            self.opt_lang(cat, &ci.lang);
            if ci.tel.is_none() && ci.fax.is_none() && ci.email.is_none() && ci.net_locn.is_none() {
                self.warn(
                    ErrorCode::ElContIllegal,
                    cat,
                    None,
                    "ContactInfo should hold at least one of Tel, Fax, Email, NetLocn (§7.6.3)"
                        .into(),
                );
            }
        }
        if let Some(pn) = &org.person_name {
            let pat = at.part("PersonName", None);
            self.opt_lang(pat, &pn.lang);
            if pn.given_name.is_none() && pn.family_name.is_none() {
                self.warn(
                    ErrorCode::AttMissing,
                    pat,
                    Some("FamilyName"),
                    "PersonName should hold GivenName or FamilyName (§7.6.4)".into(),
                );
            }
        }
        if let Some(pa) = &org.postal_address {
            self.opt_lang(at.part("PostalAddress", None), &pa.lang);
        }
        if !consumer_like
            && !org
                .postal_address
                .as_ref()
                .is_some_and(|p| p.legal_location.is_true())
        {
            self.warn(
                ErrorCode::ElMissing,
                at,
                None,
                "a non-consumer Organisation should have a PostalAddress with LegalLocation=\"True\" (§7.6.5)".into(),
            );
        }
    }

    fn has_role(&self, orgs: &[&Organisation], id: &str, role: TradingRole) -> Option<bool> {
        orgs.iter()
            .find(|o| same_name(&o.id, id))
            .map(|o| o.trading_roles.iter().any(|r| r.trading_role == role))
    }

    fn brand_list(&mut self, bl: &'m BrandList, at: At<'m>, orgs: &[&'m Organisation]) {
        let at = at.comp("BrandList", &bl.id);
        self.lang(at, &bl.lang);
        let inside = |id: &str| {
            bl.brands.iter().any(|b| same_name(&b.id, id))
                || bl.protocol_amounts.iter().any(|p| same_name(&p.id, id))
                || bl.currency_amounts.iter().any(|c| same_name(&c.id, id))
                || bl.pay_protocols.iter().any(|p| same_name(&p.id, id))
        };
        for brand in &bl.brands {
            let bat = at.part("Brand", Some(&brand.id));
            self.opt_lang(bat, &brand.lang);
            for r in &brand.protocol_amount_refs {
                if self.ids.tag(r).is_some() && !inside(r) {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        bat,
                        "ProtocolAmountRefs",
                        r,
                        format!(
                            "ProtocolAmount '{r}' is not in BrandList {} (§6.3.1.1)",
                            bl.id
                        ),
                    );
                }
            }
            let mut seen: Vec<&str> = Vec::new();
            for pb in &brand.protocol_brands {
                let pat = bat.part("ProtocolBrand", None);
                if !bl
                    .pay_protocols
                    .iter()
                    .any(|p| p.protocol_id == pb.protocol_id)
                {
                    self.hard_value(ErrorCode::ElInconsistent, pat, "ProtocolId", &pb.protocol_id, format!("ProtocolBrand/@ProtocolId '{}' matches no PayProtocol of the BrandList (§7.7.2)", pb.protocol_id));
                }
                if seen.contains(&pb.protocol_id.as_str()) {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        pat,
                        "ProtocolId",
                        &pb.protocol_id,
                        format!(
                            "ProtocolId '{}' appears twice in Brand {} (§7.7.2)",
                            pb.protocol_id, brand.id
                        ),
                    );
                }
                seen.push(&pb.protocol_id);
                self.packaged(pat, &pb.packaged_contents);
            }
            self.packaged(bat, &brand.packaged_contents);
        }
        for pa in &bl.protocol_amounts {
            let pat = at.part("ProtocolAmount", Some(&pa.id));
            for r in std::iter::once(&pa.pay_protocol_ref).chain(&pa.currency_amount_refs) {
                if self.ids.tag(r).is_some() && !inside(r) {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        pat,
                        "PayProtocolRef",
                        r,
                        format!("'{r}' is not in BrandList {} (§6.3.1.1)", bl.id),
                    );
                }
            }
            self.packaged(pat, &pa.packaged_contents);
        }
        for ca in &bl.currency_amounts {
            let cat = at.part("CurrencyAmount", Some(&ca.id));
            if !is_amount(&ca.amount) {
                self.hard_value(
                    ErrorCode::AttValIllegal,
                    cat,
                    "Amount",
                    &ca.amount,
                    format!(
                        "Amount '{}' is not a non-negative decimal number (§7.7.4)",
                        ca.amount
                    ),
                );
            }
            self.code(
                cat,
                "CurrCodeType",
                ca.curr_code_type.is_known(),
                &ca.curr_code_type,
            );
            if ca.curr_code_type == CurrCodeType::Iso4217A
                && !(ca.curr_code.len() == 3
                    && ca.curr_code.bytes().all(|b| b.is_ascii_uppercase()))
            {
                self.hard_value(
                    ErrorCode::AttValIllegal,
                    cat,
                    "CurrCode",
                    &ca.curr_code,
                    format!(
                        "CurrCode '{}' is not an ISO 4217 alphabetic code",
                        ca.curr_code
                    ),
                );
            }
        }
        for pp in &bl.pay_protocols {
            let pat = at.part("PayProtocol", Some(&pp.id));
            self.opt_lang(pat, &pp.lang);
            self.net_locations(
                pat,
                [
                    ("PayReqNetLocn", &pp.pay_req_net_locn),
                    ("SecPayReqNetLocn", &pp.sec_pay_req_net_locn),
                ],
            );
            let scope = if orgs.is_empty() {
                Scope::Transaction
            } else {
                Scope::Message
            };
            if self.reference(pat, "ActionOrgRef", &pp.action_org_ref, &["Org"], scope)
                && self.has_role(orgs, &pp.action_org_ref, TradingRole::PaymentHandler)
                    == Some(false)
            {
                self.hard_value(ErrorCode::ElInconsistent, pat, "ActionOrgRef", &pp.action_org_ref, format!("ActionOrgRef '{}' names an Organisation without the PaymentHandler role (§7.7.5)", pp.action_org_ref));
            }
            self.packaged(pat, &pp.packaged_contents);
        }
    }

    fn brand_selection(&mut self, bs: &BrandSelection, at: At<'m>, lists: &[&BrandList]) {
        let at = at.comp("BrandSelection", &bs.id);
        if !self.reference(
            at,
            "BrandListRef",
            &bs.brand_list_ref,
            &["BrandList"],
            Scope::Transaction,
        ) {
            return;
        }
        if let Some(list) = lists.iter().find(|l| l.id == bs.brand_list_ref) {
            check_selection(self, bs, list, at);
        }
        for info in bs
            .brand_info
            .iter()
            .map(|i| &i.packaged_contents)
            .chain(bs.protocol_amount_info.iter().map(|i| &i.packaged_contents))
            .chain(bs.currency_amount_info.iter().map(|i| &i.packaged_contents))
        {
            self.packaged(at, info);
        }
    }

    fn payment(&mut self, p: &Payment, at: At<'m>) {
        let at = at.comp("Payment", &p.id);
        self.window(at, &p.ok_from, &p.ok_to);
        self.reference(
            at,
            "BrandListRef",
            &p.brand_list_ref,
            &["BrandList"],
            Scope::Transaction,
        );
        for r in p.start_after_refs.iter().flatten() {
            self.reference(at, "StartAfterRefs", r, &["Payment"], Scope::Transaction);
            if *r == p.id {
                self.hard_value(
                    ErrorCode::ElInconsistent,
                    at,
                    "StartAfterRefs",
                    r,
                    "a Payment cannot start after itself".into(),
                );
            }
        }
    }

    fn scheme_data(&mut self, psd: &PaymentSchemeData, at: At<'m>, block: &str) {
        let at = at.comp("PaySchemeData", &psd.id);
        let inquiry = matches!(block, "InquiryReqBlk" | "InquiryRespBlk");
        match &psd.payment_ref {
            Some(r) => {
                self.reference(at, "PaymentRef", r, &["Payment"], Scope::Transaction);
            }
            None if !inquiry && block != "ErrorBlk" => self.missing_att(
                at,
                "PaymentRef",
                "required except in an Inquiry transaction (§7.10)",
            ),
            None => {}
        }
        // A Consumer whose Payment Request got no answer inquires without knowing the
        // Payment Handler's id (§9.2.1), so an Inquiry Request may lack it too.
        if psd.payment_handler_pay_id.is_none()
            && !matches!(block, "PayReqBlk" | "ErrorBlk" | "InquiryReqBlk")
        {
            self.missing_att(
                at,
                "PaymentHandlerPayId",
                "required on every PaySchemeData except the one in a Payment Request (§7.10)",
            );
        }
        self.packaged(at, &psd.packaged_contents);
    }

    fn delivery(&mut self, d: &'m Delivery, at: At<'m>, orgs: &[&'m Organisation]) {
        let at = at.comp("Delivery", &d.id);
        self.lang(at, &d.lang);
        let exch = d.deliv_exch.is_true();
        if exch && d.delivery_data.is_none() {
            self.missing_el(at, "DeliveryData", "DelivExch is True (§7.13)");
        }
        if d.deliv_and_pay_resp.is_true() && !exch {
            self.warn(
                ErrorCode::ElInconsistent,
                at,
                Some("DelivAndPayResp"),
                "DelivAndPayResp should not be True when DelivExch is False (§7.13)".into(),
            );
        }
        let scope = if orgs.is_empty() {
            Scope::Transaction
        } else {
            Scope::Message
        };
        if let Some(r) = &d.action_org_ref
            && self.reference(at, "ActionOrgRef", r, &["Org"], scope)
            && self.has_role(orgs, r, TradingRole::DeliveryHandler) == Some(false)
        {
            self.hard_value(ErrorCode::ElInconsistent, at, "ActionOrgRef", r, format!("ActionOrgRef '{r}' names an Organisation without the DeliveryHandler role (§7.13)"));
        }
        if let Some(dd) = &d.delivery_data {
            let dat = at.part("DeliveryData", None);
            self.opt_lang(dat, &dd.lang);
            self.window(dat, &dd.ok_from, &dd.ok_to);
            self.code(
                dat,
                "DelivMethod",
                dd.deliv_method.is_known(),
                &dd.deliv_method,
            );
            self.net_locations(
                dat,
                [
                    ("DelivReqNetLocn", &dd.deliv_req_net_locn),
                    ("SecDelivReqNetLocn", &dd.sec_deliv_req_net_locn),
                ],
            );
            if self.reference(dat, "DelivToRef", &dd.deliv_to_ref, &["Org"], scope)
                && let Some(org) = orgs.iter().find(|o| o.id == dd.deliv_to_ref)
            {
                if !org
                    .trading_roles
                    .iter()
                    .any(|r| r.trading_role == TradingRole::DelivTo)
                {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        dat,
                        "DelivToRef",
                        &dd.deliv_to_ref,
                        "DelivToRef names an Organisation without the DelivTo role (§7.13.1)"
                            .into(),
                    );
                }
                let unfit = match dd.deliv_method {
                    DelivMethod::Post => org.postal_address.is_none().then_some("a PostalAddress"),
                    DelivMethod::Email => org
                        .contact_info
                        .as_ref()
                        .is_none_or(|c| c.email.is_none())
                        .then_some("a ContactInfo with an Email"),
                    _ => None,
                };
                if let Some(what) = unfit {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        dat,
                        "DelivToRef",
                        &dd.deliv_to_ref,
                        format!(
                            "delivery by {} needs {what} in the DelivTo Organisation (§7.13.1)",
                            dd.deliv_method
                        ),
                    );
                }
            }
            self.packaged(dat, &dd.packaged_contents);
        }
        self.packaged(at, &d.packaged_contents);
    }

    fn order(&mut self, o: &Order, at: At<'m>) {
        let at = at.comp("Order", &o.id);
        self.lang(at, &o.lang);
        self.window(at, &o.ok_from, &o.ok_to);
        self.packaged(at, &o.packaged_contents);
    }

    fn trading_role_data(&mut self, trd: &TradingRoleData, at: At<'m>) {
        let at = at.comp("TradingRoleData", &trd.id);
        self.reference(
            at,
            "OriginatorElRef",
            &trd.originator_el_ref,
            &["Org"],
            Scope::Transaction,
        );
        for r in &trd.destination_el_refs {
            self.reference(at, "DestinationElRefs", r, &["Org"], Scope::Transaction);
        }
        self.packaged(at, &trd.packaged_contents);
    }

    fn error_block(&mut self, eb: &'m ErrorBlock) {
        let at = At::block("ErrorBlk", &eb.id);
        for ec in &eb.error_components {
            let cat = at.comp("ErrorComp", &ec.id);
            self.lang(cat, &ec.lang);
            self.code(cat, "ErrorCode", ec.error_code.is_known(), &ec.error_code);
            let transient = ec.severity == Severity::TransientError;
            match &ec.min_retry_secs {
                Some(v) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) => self
                    .hard_value(
                        ErrorCode::AttValIllegal,
                        cat,
                        "MinRetrySecs",
                        v,
                        format!("MinRetrySecs '{v}' is not a whole number of seconds (§7.21)"),
                    ),
                Some(_) if !transient => self.warn(
                    ErrorCode::AttUnexpected,
                    cat,
                    Some("MinRetrySecs"),
                    "MinRetrySecs should only be present with Severity TransientError (§7.21)"
                        .into(),
                ),
                None if transient => self.warn(
                    ErrorCode::AttMissing,
                    cat,
                    Some("MinRetrySecs"),
                    "MinRetrySecs should be present with Severity TransientError (§7.21)".into(),
                ),
                _ => {}
            }
            if transient && ec.error_locations.len() > 1 {
                self.hard(
                    ErrorCode::ElUnexpected,
                    cat.part("ErrorLocation", None),
                    None,
                    "a TransientError has exactly one ErrorLocation (§7.21.1)".into(),
                );
            }
            if matches!(
                ec.error_code,
                ErrorCode::MsgBeingProc | ErrorCode::SystemBusy
            ) && !transient
            {
                self.hard_value(
                    ErrorCode::ElInconsistent,
                    cat,
                    "Severity",
                    ec.severity.as_str(),
                    format!(
                        "{} is only used with Severity TransientError (§7.21.2)",
                        ec.error_code
                    ),
                );
            }
            self.packaged(cat, &ec.packaged_contents);
        }
        for psd in &eb.pay_scheme_data {
            self.scheme_data(psd, at, "ErrorBlk");
        }
    }

    fn signatures(&mut self, sb: &SignatureBlock) {
        let at = At {
            tag: "IotpSignatures",
            blk: sb.id.as_deref(),
            comp: None,
            el: None,
        };
        for sig in &sb.signatures {
            let sat = match &sig.id {
                Some(id) => at.comp("Signature", id),
                None => {
                    let a = At {
                        tag: "Signature",
                        ..at
                    };
                    self.missing_att(a, "ID", "required for a Signature (§7.19.1)");
                    a
                }
            };
            for v in &sig.values {
                if v.id.is_none() {
                    self.missing_att(
                        sat.part("Value", None),
                        "ID",
                        "required for a signature Value (§7.19.1)",
                    );
                }
            }
            let m = &sig.manifest;
            let mat = sat.part("Manifest", None);
            if m.originator_info.originator_ref.is_none() {
                self.missing_att(
                    mat.part("OriginatorInfo", None),
                    "OriginatorRef",
                    "the signer's Organisation (§7.19.1)",
                );
            }
            let types: Vec<&SignatureAttribute> = m
                .attributes
                .iter()
                .filter(|a| is_signature_type_name(&a.attribute_type))
                .collect();
            match types.as_slice() {
                [] => self.missing_el(
                    mat,
                    "Attribute",
                    "exactly one Attribute gives the IOTP signature type (§7.19.1)",
                ),
                [one] => {
                    let aat = mat.part("Attribute", None);
                    if one.critical != Critical::True {
                        self.hard_value(
                            ErrorCode::AttValIllegal,
                            aat,
                            "critical",
                            one.critical.as_str(),
                            "the IOTP signature type Attribute is critical=\"true\" (§7.19.1)"
                                .into(),
                        );
                    }
                    let value = any_text(&one.content);
                    let st = SignatureType::from_wire(value.trim());
                    let role = match st {
                        SignatureType::OfferResponse => Some(TradingRole::Merchant),
                        SignatureType::PaymentResponse => Some(TradingRole::PaymentHandler),
                        SignatureType::DeliveryResponse => Some(TradingRole::DeliveryHandler),
                        _ => None,
                    };
                    if let (Some(role), Some(signer)) =
                        (role, m.originator_info.originator_ref.as_deref())
                        && let Some(org) =
                            self.orgs_of_message().into_iter().find(|o| o.id == signer)
                        && !org.trading_roles.iter().any(|r| r.trading_role == role)
                    {
                        self.hard(ErrorCode::ElInconsistent, aat, None, format!("a {st} signature is made by a {role}, and Organisation {signer} is not one (§7.19)"));
                    }
                    if !st.is_known() && !is_user_code(value.trim()) {
                        self.hard_value(
                            ErrorCode::AttValNotRecog,
                            aat,
                            "type",
                            value.trim(),
                            format!("'{}' is not an IOTP signature type (§7.19)", value.trim()),
                        );
                    }
                }
                _ => self.hard(
                    ErrorCode::ElUnexpected,
                    mat.part("Attribute", None),
                    None,
                    "only one Attribute may give the IOTP signature type (§7.19.1)".into(),
                ),
            }
            for ri in &m.recipient_infos {
                for r in ri.recipient_refs.iter().flatten() {
                    self.reference(
                        mat.part("RecipientInfo", None),
                        "RecipientRefs",
                        r,
                        &["Org"],
                        Scope::Transaction,
                    );
                }
            }
            if let Some(r) = &m.originator_info.originator_ref {
                self.reference(
                    mat.part("OriginatorInfo", None),
                    "OriginatorRef",
                    r,
                    &["Org"],
                    Scope::Transaction,
                );
            }
        }
        for cert in &sb.certificates {
            let cat = match &cert.id {
                Some(id) => at.comp("Certificate", id),
                None => {
                    let a = At {
                        tag: "Certificate",
                        ..at
                    };
                    self.missing_att(a, "ID", "required for a Certificate (§7.20.1)");
                    a
                }
            };
            match (&cert.value, &cert.locator) {
                (None, None) => {
                    self.missing_el(cat, "Value", "a Certificate holds a Value or a Locator")
                }
                (Some(_), Some(_)) => self.hard(
                    ErrorCode::ElUnexpected,
                    cat.part("Locator", None),
                    None,
                    "a Certificate holds a Value or a Locator, not both".into(),
                ),
                _ => {}
            }
        }
    }
}

impl<'m> V<'m, '_> {
    /// Every Organisation component of the message.
    fn orgs_of_message(&self) -> Vec<&'m Organisation> {
        let mut orgs = Vec::new();
        for b in &self.msg.blocks {
            match b {
                TradingBlock::TradingProtocolOptions(t) => orgs.extend(&t.organisations),
                TradingBlock::PaymentRequest(p) => orgs.extend(&p.organisations),
                TradingBlock::DeliveryRequest(d) => orgs.extend(&d.organisations),
                TradingBlock::AuthenticationResponse(a) => orgs.extend(&a.organisations),
                TradingBlock::PingRequest(p) => orgs.extend(&p.organisations),
                TradingBlock::PingResponse(p) => orgs.extend(&p.organisations),
                _ => {}
            }
        }
        orgs
    }
}

fn check_selection(v: &mut V<'_, '_>, bs: &BrandSelection, list: &BrandList, at: At<'_>) {
    let Some(brand) = list.brands.iter().find(|b| b.id == bs.brand_ref) else {
        v.hard_value(
            ErrorCode::ElInconsistent,
            at,
            "BrandRef",
            &bs.brand_ref,
            format!(
                "BrandRef '{}' is not a Brand of BrandList {} (§7.8)",
                bs.brand_ref, list.id
            ),
        );
        return;
    };
    let Some(pa) = list
        .protocol_amounts
        .iter()
        .find(|p| p.id == bs.protocol_amount_ref)
    else {
        v.hard_value(
            ErrorCode::ElInconsistent,
            at,
            "ProtocolAmountRef",
            &bs.protocol_amount_ref,
            format!(
                "ProtocolAmountRef '{}' is not a ProtocolAmount of BrandList {} (§7.8)",
                bs.protocol_amount_ref, list.id
            ),
        );
        return;
    };
    if !brand.protocol_amount_refs.contains(&pa.id) {
        v.hard_value(
            ErrorCode::ElInconsistent,
            at,
            "ProtocolAmountRef",
            &pa.id,
            format!(
                "ProtocolAmount '{}' is not offered for Brand {} (§7.8)",
                pa.id, brand.id
            ),
        );
    }
    if !list
        .currency_amounts
        .iter()
        .any(|c| c.id == bs.currency_amount_ref)
        || !pa.currency_amount_refs.contains(&bs.currency_amount_ref)
    {
        v.hard_value(
            ErrorCode::ElInconsistent,
            at,
            "CurrencyAmountRef",
            &bs.currency_amount_ref,
            format!(
                "CurrencyAmount '{}' is not offered for ProtocolAmount {} (§7.8)",
                bs.currency_amount_ref, pa.id
            ),
        );
    }
}

/// The trading-block combinations of the messages of §9 (ErrorBlk and IotpSignatures aside).
const COMBINATIONS: &[&[&str]] = &[
    &["TpoBlk"],
    &["TpoBlk", "OfferRespBlk"],
    &["TpoBlk", "AuthReqBlk"],
    &["TpoBlk", "AuthStatusBlk"],
    &["TpoBlk", "AuthStatusBlk", "OfferRespBlk"],
    &["AuthRespBlk"],
    &["AuthStatusBlk"],
    &["TpoSelectionBlk"],
    &["OfferRespBlk"],
    &["PayReqBlk"],
    &["PayExchBlk"],
    &["PayRespBlk"],
    &["PayRespBlk", "DeliveryRespBlk"],
    &["DeliveryReqBlk"],
    &["DeliveryRespBlk"],
    &["InquiryReqBlk"],
    &["InquiryRespBlk"],
    &["PingReqBlk"],
    &["PingRespBlk"],
    &["CancelBlk"],
];

/// Checks one message on its own (after the DTD-level checks of decoding).
pub(crate) fn validate_message(
    msg: &IotpMessage,
    ids: &IdIndex<'_>,
    out: &mut Vec<ValidationError>,
) {
    validate_with(msg, ids, None, out)
}

/// What the other messages of a transaction contribute to checking one of them.
#[derive(Debug, Default)]
pub(crate) struct Shared<'m> {
    pub lists: Vec<&'m BrandList>,
    pub orgs: Vec<&'m Organisation>,
}

/// Checks one message; with `shared`, references resolve across the transaction and any that
/// does not is an error.
pub(crate) fn validate_with<'m>(
    msg: &'m IotpMessage,
    ids: &IdIndex<'_>,
    shared: Option<&Shared<'m>>,
    out: &mut Vec<ValidationError>,
) {
    let has = |tag: &str| msg.blocks.iter().any(|b| same_name(b.tag(), tag));
    let first = shared.is_some()
        || (msg.trans_ref.message_id.resp_iotp_msg.is_none() && !has("InquiryReqBlk"));
    let mut v = V {
        msg,
        ids,
        out,
        first,
    };
    v.trans_ref();
    v.combination();
    if let Some(sb) = &msg.signatures {
        v.signatures(sb);
    }
    if let Some(eb) = &msg.error {
        v.error_block(eb);
    }
    let mut lists: Vec<&BrandList> = Vec::new();
    let mut orgs: Vec<&Organisation> = Vec::new();
    for b in &msg.blocks {
        match b {
            TradingBlock::TradingProtocolOptions(t) => {
                lists.extend(&t.brand_lists);
                orgs.extend(&t.organisations);
            }
            TradingBlock::PaymentRequest(p) => {
                lists.push(&p.brand_list);
                orgs.extend(&p.organisations);
            }
            TradingBlock::DeliveryRequest(d) => orgs.extend(&d.organisations),
            TradingBlock::AuthenticationResponse(a) => orgs.extend(&a.organisations),
            TradingBlock::PingRequest(p) => orgs.extend(&p.organisations),
            TradingBlock::PingResponse(p) => orgs.extend(&p.organisations),
            _ => {}
        }
    }
    if let Some(shared) = shared {
        lists.extend(shared.lists.iter().copied());
        orgs.extend(shared.orgs.iter().copied());
    }
    for b in &msg.blocks {
        v.block(b, &lists, &orgs);
    }
}

impl<'m> V<'m, '_> {
    fn trans_ref(&mut self) {
        let tr = &self.msg.trans_ref;
        let at = At::block("TransRefBlk", &tr.id);
        let tid = &tr.transaction_id;
        let tat = at.comp("TransId", &tid.id);
        if !is_msg_id_like(&tid.iotp_trans_id) {
            self.hard_value(ErrorCode::AttValIllegal, tat, "IotpTransId", &tid.iotp_trans_id, format!("IotpTransId '{}' is not in the form of an RFC 822 Message-Id (local@domain, §3.3.1)", tid.iotp_trans_id));
        }
        self.code(
            tat,
            "IotpTransType",
            tid.iotp_trans_type.is_known(),
            &tid.iotp_trans_type,
        );
        if tid.trans_time_stamp != "NA" {
            self.timestamp(tat, "TransTimeStamp", &tid.trans_time_stamp);
        }
        let mid = &tr.message_id;
        let mat = at.comp("MsgId", &mid.id);
        self.lang(mat, &mid.lang);
        if let Some(t) = &mid.time_stamp {
            self.timestamp(mat, "TimeStamp", t);
        }
        if mid.software_id.trim().is_empty() {
            self.hard_value(
                ErrorCode::AttValIllegal,
                mat,
                "SoftwareId",
                &mid.software_id,
                "SoftwareId names the manufacturer, product, version and build (§3.3.2)".into(),
            );
        }
        if let Some(r) = &mid.resp_iotp_msg
            && message_id_prefix(r).is_none()
        {
            self.hard_value(
                ErrorCode::AttValIllegal,
                mat,
                "RespIotpMsg",
                r,
                format!("RespIotpMsg '{r}' is not a message ID (§3.4.1)"),
            );
        }
        for rel in &tr.related_to {
            let rat = at.comp("RelatedTo", &rel.id);
            self.lang(rat, &rel.lang);
            self.code(
                rat,
                "RelationshipType",
                rel.relationship_type.is_known(),
                &rel.relationship_type,
            );
            self.packaged(rat, std::slice::from_ref(&rel.packaged_content));
        }
        if let Some(r) = &mid.sender_trading_role_ref {
            self.reference(
                mat,
                "SenderTradingRoleRef",
                r,
                &["Org", "TradingRole"],
                Scope::Transaction,
            );
        }
        // IDs (§3.4): the message ID is prefix + digits; every other ID is a message ID, a dot
        // and digits.
        let prefix = message_id_prefix(&mid.id);
        if prefix.is_none() {
            self.hard_value(
                ErrorCode::AttValIllegal,
                mat,
                "ID",
                &mid.id,
                format!(
                    "message ID '{}' is not a prefix followed by digits (§3.4.1)",
                    mid.id
                ),
            );
        }
        // Most IDs share their message ID: its check is remembered.
        let mut last_msg: Option<(&str, bool)> = None;
        let mut bad: Vec<(String, String)> = Vec::new();
        for (id, tag) in self.ids.ids() {
            if tag == "MsgId" {
                continue;
            }
            let ok = match block_id_message(id) {
                None => false,
                Some(msg) => match last_msg {
                    Some((m, ok)) if same_name(m, msg) => ok,
                    _ => {
                        let ok = message_id_prefix(msg).is_some();
                        last_msg = Some((msg, ok));
                        ok
                    }
                },
            };
            if !ok {
                bad.push((id.to_owned(), tag.to_owned()));
            }
        }
        for (id, tag) in bad {
            let mut location = ErrorLocation {
                element_type: tag.clone(),
                element_ref: Some(id.clone()),
                att_name: Some("ID".into()),
                ..Default::default()
            };
            location.blk_ref = None;
            self.out.push(
                ValidationError::hard(
                    ErrorCode::AttValIllegal,
                    location,
                    format!("{tag} ID '{id}' is not <message ID>.<digits> (§3.4.2)"),
                )
                .with_value(id),
            );
        }
        // Message ID prefixes (§3.4.1).
        let has = |tag: &str| self.msg.blocks.iter().any(|b| same_name(b.tag(), tag));
        let expected = if has("InquiryReqBlk") || has("PingReqBlk") {
            Some(("I", "a message with an Inquiry or Ping Request"))
        } else if has("InquiryRespBlk") || has("PingRespBlk") {
            Some(("Q", "a message with an Inquiry or Ping Response"))
        } else if has("TpoSelectionBlk") || has("PayReqBlk") || has("DeliveryReqBlk") {
            Some(("C", "a Consumer's message"))
        } else if has("OfferRespBlk") || (has("TpoBlk") && !has("AuthReqBlk")) {
            Some(("M", "a Merchant's message"))
        } else {
            None
        };
        if let (Some(p), Some((want, what))) = (prefix, expected)
            && p != want
        {
            self.hard_value(
                ErrorCode::AttValIllegal,
                mat,
                "ID",
                &mid.id,
                format!("{what} has message ID prefix {want}, not '{p}' (§3.4.1)"),
            );
        }
        // The transaction type and the blocks (§9.2).
        let ping_blocks = has("PingReqBlk") || has("PingRespBlk");
        let is_ping = tid.iotp_trans_type == TransactionType::BaselinePing;
        if ping_blocks != is_ping && !self.msg.blocks.is_empty() && !has("CancelBlk") {
            self.hard_value(
                ErrorCode::ElInconsistent,
                tat,
                "IotpTransType",
                tid.iotp_trans_type.as_str(),
                "Ping blocks travel in BaselinePing transactions, and only they (§9.2.2)".into(),
            );
        }
    }

    fn combination(&mut self) {
        let mut present: Vec<&'static str> = Vec::new();
        for b in &self.msg.blocks {
            let tag = b.tag();
            let candidate: Vec<&str> = present.iter().copied().chain([tag]).collect();
            let fits = !present.contains(&tag)
                && COMBINATIONS
                    .iter()
                    .any(|c| candidate.iter().all(|t| c.contains(t)));
            if fits {
                present.push(tag);
            } else {
                let with = present.join(", ");
                self.hard(
                    ErrorCode::ElUnexpected,
                    At::block(tag, b.id()),
                    None,
                    format!("no IOTP message carries a {tag} together with {with} (§9)"),
                );
            }
        }
        if present.is_empty() {
            if self.msg.error.is_none() {
                self.missing_el(
                    At {
                        tag: "IotpMessage",
                        blk: None,
                        comp: None,
                        el: None,
                    },
                    "TpoBlk",
                    "a message carries at least one trading block or an Error block (§3.2)",
                );
            }
            return;
        }
        if !COMBINATIONS
            .iter()
            .any(|c| c.len() == present.len() && present.iter().all(|t| c.contains(t)))
        {
            let best = COMBINATIONS
                .iter()
                .filter(|c| present.iter().all(|t| c.contains(t)))
                .min_by_key(|c| c.len());
            if let Some(missing) = best.and_then(|c| c.iter().find(|t| !present.contains(t))) {
                self.missing_el(
                    At {
                        tag: "IotpMessage",
                        blk: None,
                        comp: None,
                        el: None,
                    },
                    missing,
                    &format!(
                        "a message with {} also carries a {missing} (§9)",
                        present.join(", ")
                    ),
                );
            }
        }
        if present.contains(&"CancelBlk") && self.msg.error.is_some() {
            self.hard(
                ErrorCode::ElUnexpected,
                At {
                    tag: "ErrorBlk",
                    blk: self.msg.error.as_ref().map(|e| e.id.as_str()),
                    comp: None,
                    el: None,
                },
                None,
                "a cancel message contains just a Cancel block (§3.10)".into(),
            );
        }
    }

    fn block(&mut self, b: &'m TradingBlock, lists: &[&'m BrandList], orgs: &[&'m Organisation]) {
        let tag = b.tag();
        let at = At::block(tag, b.id());
        match b {
            TradingBlock::TradingProtocolOptions(t) => {
                let po = &t.protocol_options;
                let pat = at.comp("ProtocolOptions", &po.id);
                self.lang(pat, &po.lang);
                self.net_locations(
                    pat,
                    [
                        ("SenderNetLocn", &po.sender_net_locn),
                        ("SecureSenderNetLocn", &po.secure_sender_net_locn),
                    ],
                );
                let tpo_orgs: Vec<&Organisation> = t.organisations.iter().collect();
                for bl in &t.brand_lists {
                    self.brand_list(bl, at, &tpo_orgs);
                }
                for o in &t.organisations {
                    self.organisation(o, at);
                }
            }
            TradingBlock::TpoSelection(t) => {
                for bs in &t.brand_selections {
                    self.brand_selection(bs, at, lists);
                }
            }
            TradingBlock::OfferResponse(o) => {
                self.response_status(&o.status, at, tag, StatusType::Offer);
                let failed = o.status.process_state == ProcessState::Failed;
                match &o.order {
                    Some(order) => self.order(order, at),
                    None if !failed => {
                        self.missing_el(at, "Order", "required unless the offer failed (§8.3)")
                    }
                    None => {}
                }
                if !failed && o.payments.is_empty() {
                    self.missing_el(at, "Payment", "an offer has one or two payments (§9.1.12)");
                }
                if o.payments.len() > 2 {
                    self.hard(
                        ErrorCode::ElUnexpected,
                        at.comp("Payment", &o.payments[2].id),
                        None,
                        "an offer has at most two payments (§9.1.12)".into(),
                    );
                }
                for p in &o.payments {
                    self.payment(p, at);
                }
                if let Some(d) = &o.delivery {
                    self.delivery(d, at, orgs);
                }
                for trd in &o.trading_role_data {
                    self.trading_role_data(trd, at);
                }
            }
            TradingBlock::AuthenticationRequest(a) => {
                if a.auth_requests.is_empty() && a.trading_role_info_request.is_none() {
                    self.missing_el(
                        at,
                        "AuthReq",
                        "an Authentication Request block holds at least one component (§8.4)",
                    );
                }
                for ar in &a.auth_requests {
                    self.packaged(at.comp("AuthReq", &ar.id), &ar.packaged_contents);
                }
                if let Some(tri) = &a.trading_role_info_request {
                    let tat = at.comp("TradingRoleInfoReq", &tri.id);
                    for r in &tri.trading_role_list {
                        let role = TradingRole::from_wire(r);
                        self.code(tat, "TradingRoleList", role.is_known(), &role);
                    }
                }
            }
            TradingBlock::AuthenticationResponse(a) => {
                if let Some(ar) = &a.auth_response {
                    let aat = at.comp("AuthResp", &ar.id);
                    self.reference(
                        aat,
                        "SelectedAlgorithmRef",
                        &ar.selected_algorithm_ref,
                        &["Algorithm"],
                        Scope::Transaction,
                    );
                    self.packaged(aat, &ar.packaged_contents);
                }
                for o in &a.organisations {
                    self.organisation(o, at);
                }
            }
            TradingBlock::AuthenticationStatus(a) => {
                self.status(&a.status, at, tag);
                if a.status.status_type != StatusType::Authentication {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        at.comp("Status", &a.status.id),
                        "StatusType",
                        a.status.status_type.as_str(),
                        "an Authentication Status block reports StatusType Authentication (§8.6)"
                            .into(),
                    );
                }
            }
            TradingBlock::PaymentRequest(p) => {
                for s in &p.statuses {
                    self.status(s, at, tag);
                }
                let own_orgs: Vec<&Organisation> = p.organisations.iter().collect();
                self.brand_list(&p.brand_list, at, &own_orgs);
                self.brand_selection(&p.brand_selection, at, &[&p.brand_list]);
                if p.brand_selection.brand_list_ref != p.brand_list.id {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        at.comp("BrandSelection", &p.brand_selection.id),
                        "BrandListRef",
                        &p.brand_selection.brand_list_ref,
                        "the BrandSelection of a Payment Request selects from its BrandList (§8.7)"
                            .into(),
                    );
                }
                self.payment(&p.payment, at);
                if p.payment.brand_list_ref != p.brand_list.id {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        at.comp("Payment", &p.payment.id),
                        "BrandListRef",
                        &p.payment.brand_list_ref,
                        "the Payment of a Payment Request refers to its BrandList (§6.3.1.1)"
                            .into(),
                    );
                }
                if let Some(psd) = &p.pay_scheme_data {
                    self.scheme_data(psd, at, tag);
                }
                for o in &p.organisations {
                    self.organisation(o, at);
                }
                for trd in &p.trading_role_data {
                    self.trading_role_data(trd, at);
                }
            }
            TradingBlock::PaymentExchange(p) => {
                for psd in &p.pay_scheme_data {
                    self.scheme_data(psd, at, tag);
                }
            }
            TradingBlock::PaymentResponse(p) => {
                self.response_status(&p.status, at, tag, StatusType::Payment);
                if p.status.process_state == ProcessState::CompletedOk && p.pay_receipt.is_none() {
                    self.missing_el(
                        at,
                        "PayReceipt",
                        "required when the payment CompletedOk (§8.9)",
                    );
                }
                if let Some(r) = &p.pay_receipt {
                    let rat = at.comp("PayReceipt", &r.id);
                    self.reference(
                        rat,
                        "PaymentRef",
                        &r.payment_ref,
                        &["Payment"],
                        Scope::Transaction,
                    );
                    if r.pay_receipt_name_refs.is_none() && r.packaged_contents.is_empty() {
                        self.missing_el(
                            rat,
                            "PackagedContent",
                            "a PayReceipt has PayReceiptNameRefs or PackagedContent (§7.11)",
                        );
                    }
                    self.packaged(rat, &r.packaged_contents);
                }
                if let Some(psd) = &p.pay_scheme_data {
                    self.scheme_data(psd, at, tag);
                }
                if let Some(n) = &p.payment_note {
                    self.packaged(at.comp("PaymentNote", &n.id), &n.packaged_contents);
                }
                for trd in &p.trading_role_data {
                    self.trading_role_data(trd, at);
                }
                self.receipt_names(p);
            }
            TradingBlock::DeliveryRequest(d) => {
                for s in &d.statuses {
                    self.status(s, at, tag);
                }
                self.order(&d.order, at);
                let own_orgs: Vec<&Organisation> = d.organisations.iter().collect();
                for o in &d.organisations {
                    self.organisation(o, at);
                }
                self.delivery(&d.delivery, at, &own_orgs);
                for trd in &d.trading_role_data {
                    self.trading_role_data(trd, at);
                }
            }
            TradingBlock::DeliveryResponse(d) => {
                self.response_status(&d.status, at, tag, StatusType::Delivery);
                let n = &d.delivery_note;
                let nat = at.comp("DeliveryNote", &n.id);
                self.lang(nat, &n.lang);
                self.packaged(nat, &n.packaged_contents);
            }
            TradingBlock::InquiryRequest(i) => {
                let it = &i.inquiry_type;
                let iat = at.comp("InquiryType", &it.id);
                self.code(iat, "Type", it.inquiry_type.is_known(), &it.inquiry_type);
                if let Some(r) = &it.el_ref {
                    let target: &[&str] = match it.inquiry_type {
                        InquiryType::Offer => &["TpoBlk"],
                        InquiryType::Payment => &["Payment"],
                        InquiryType::Delivery => &["Delivery"],
                        InquiryType::Other(_) => &[],
                    };
                    self.reference(iat, "ElRef", r, target, Scope::Transaction);
                }
                if it.inquiry_type == InquiryType::Payment && i.pay_scheme_data.is_none() {
                    self.missing_el(
                        at,
                        "PaySchemeData",
                        "an inquiry about a payment carries the scheme's inquiry data (§8.12)",
                    );
                }
                if let Some(psd) = &i.pay_scheme_data {
                    self.scheme_data(psd, at, tag);
                }
            }
            TradingBlock::InquiryResponse(i) => {
                self.status(&i.status, at, tag);
                for (name, r) in [
                    ("LastReceivedIotpMsgRef", &i.last_received_iotp_msg_ref),
                    ("LastSentIotpMsgRef", &i.last_sent_iotp_msg_ref),
                ] {
                    if let Some(r) = r
                        && r != "Null"
                        && message_id_prefix(r).is_none()
                    {
                        self.hard_value(
                            ErrorCode::AttValIllegal,
                            at,
                            name,
                            r,
                            format!("{name} '{r}' is neither a message ID nor Null (§8.13)"),
                        );
                    }
                }
                if i.status.status_type == StatusType::Payment && i.pay_scheme_data.is_none() {
                    self.warn(ErrorCode::ElMissing, at, None, "an Inquiry Response about a payment should carry the scheme's PaySchemeData (§8.13)".into());
                }
                if let Some(psd) = &i.pay_scheme_data {
                    self.scheme_data(psd, at, tag);
                }
            }
            TradingBlock::PingRequest(p) => {
                for o in &p.organisations {
                    self.organisation(o, at);
                }
                if !p.organisations.is_empty() && self.msg.signatures.is_none() {
                    let mut location = at.location(None);
                    location.element_type = "IotpSignatures".into();
                    self.out.push(ValidationError::warning(ErrorCode::ElMissing, location, "a Ping Request with Organisations asks for signature verification and should be signed (§8.14, §9.2.2)"));
                }
            }
            TradingBlock::PingResponse(p) => {
                for o in &p.organisations {
                    self.organisation(o, at);
                }
                match (&p.lang, &p.ping_status_desc) {
                    (None, Some(_)) => {
                        self.missing_att(at, "xml:lang", "required with PingStatusDesc (§8.15)")
                    }
                    (Some(_), None) => self.hard(
                        ErrorCode::AttUnexpected,
                        at,
                        Some("xml:lang"),
                        "xml:lang is only present with PingStatusDesc (§8.15)".into(),
                    ),
                    (Some(l), Some(_)) => self.lang(at, l),
                    (None, None) => {}
                }
            }
            TradingBlock::Cancel(c) => {
                self.status(&c.status, at, tag);
                if c.status.process_state != ProcessState::Failed {
                    self.hard_value(
                        ErrorCode::AttValIllegal,
                        at.comp("Status", &c.status.id),
                        "ProcessState",
                        c.status.process_state.as_str(),
                        "a Cancel block reports ProcessState Failed (§3.10, §9)".into(),
                    );
                }
            }
        }
    }

    /// PayReceiptNameRefs name PackagedContent in this message's PaySchemeData or receipt (when
    /// the scheme data is here), and Names are unique within a payment (§7.10, §7.11).
    fn receipt_names(&mut self, p: &PaymentResponseBlock) {
        let Some(r) = &p.pay_receipt else { return };
        let mut names: Vec<&str> = r
            .packaged_contents
            .iter()
            .filter_map(|c| c.name.as_deref())
            .collect();
        if let Some(psd) = &p.pay_scheme_data {
            for n in psd
                .packaged_contents
                .iter()
                .filter_map(|c| c.name.as_deref())
            {
                if names.contains(&n) {
                    self.hard_value(
                        ErrorCode::ElInconsistent,
                        At::block("PayRespBlk", &p.id).comp("PaySchemeData", &psd.id),
                        "Name",
                        n,
                        format!("PackagedContent Name '{n}' is used twice in one payment (§7.10)"),
                    );
                }
                names.push(n);
            }
        }
        for name_ref in r.pay_receipt_name_refs.iter().flatten() {
            if p.pay_scheme_data.is_some() && !names.contains(&name_ref.as_str()) {
                self.warn(ErrorCode::ElInconsistent, At::block("PayRespBlk", &p.id).comp("PayReceipt", &r.id), Some("PayReceiptNameRefs"), format!("PayReceiptNameRefs names '{name_ref}', which is not a PackagedContent of this payment in the message"));
            }
        }
    }
}

/// Checks the messages of one transaction together (after each was checked on its own): one
/// IotpTransId, IDs that denote the same content wherever they recur, and element references
/// (NMTOKEN) that resolve across the messages. Returns the problems of each message, in order.
pub fn validate_transaction(messages: &[&IotpMessage]) -> Vec<Vec<ValidationError>> {
    super::transaction::validate(messages)
}

fn is_signature_type_name(name: &str) -> bool {
    let compact: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    compact.eq_ignore_ascii_case("IOTPSignatureType")
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The prefix of a message ID (`Prefix Digit+`, §3.4.1), if `id` is one.
pub(crate) fn message_id_prefix(id: &str) -> Option<&str> {
    let digits = trailing_digits(id);
    let prefix = &id[..id.len() - digits];
    (digits > 0
        && !prefix.is_empty()
        && !prefix.bytes().any(|b| b == b'.')
        && crate::xml::is_name(prefix))
    .then_some(prefix)
}

/// How many ASCII digits `s` ends with.
fn trailing_digits(s: &str) -> usize {
    s.bytes().rev().take_while(u8::is_ascii_digit).count()
}

/// A block or component ID: `IotpMsgId "." Digit+` (§3.4.2).
#[cfg(test)]
fn is_block_id(id: &str) -> bool {
    block_id_message(id).is_some_and(|msg| message_id_prefix(msg).is_some())
}

/// The part of `id` before a dot and the digits it ends with, if it ends so: the message ID
/// of a block or component ID (`IotpMsgId "." Digit+`, §3.4.2).
fn block_id_message(id: &str) -> Option<&str> {
    // The digits after the last dot are the digits the ID ends with, when a dot precedes them.
    let digits = trailing_digits(id);
    (digits > 0 && id.len() > digits && id.as_bytes()[id.len() - digits - 1] == b'.')
        .then(|| &id[..id.len() - digits - 1])
}

/// RFC 822 msg-id content: `local@domain` without spaces or angle brackets.
fn is_msg_id_like(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && s.chars().all(|c| {
                    c.is_ascii_graphic()
                        && !matches!(
                            c,
                            '<' | '>' | '"' | '(' | ')' | ',' | ';' | ':' | '\\' | '[' | ']'
                        )
                })
        }
        None => false,
    }
}

fn is_language_tag(s: &str) -> bool {
    let mut parts = s.as_bytes().split(|&b| b == b'-');
    let first = parts.next().unwrap_or_default();
    (1..=8).contains(&first.len())
        && first.iter().all(u8::is_ascii_alphabetic)
        && parts.all(|p| (1..=8).contains(&p.len()) && p.iter().all(u8::is_ascii_alphanumeric))
}

fn is_amount(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A domain name: dot-separated labels of letters, digits and hyphens.
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.as_bytes().split(|&b| b == b'.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                && l[0] != b'-'
        })
}

/// `NonConsumerOrgId ::= DomainName` (optionally followed by more characters) or
/// `ConsumerOrgId ::= "Consumer:" NameChar+ "/" NonConsumerOrgId` (§7.6).
fn org_id_ok(s: &str) -> bool {
    if starts_with_ignore_case(s, "consumer:") {
        return match s["consumer:".len()..].split_once('/') {
            Some((id, domain)) => {
                !id.is_empty() && id.chars().all(is_name_char) && org_id_ok(domain)
            }
            None => false,
        };
    }
    // Byte-wise: the first byte of a non-ASCII character is not ASCII either.
    let domain_end = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        .unwrap_or(s.len());
    let whitespace = if s.is_ascii() {
        // `char::is_whitespace` for ASCII, vertical tab included.
        s.bytes()
            .any(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r'))
    } else {
        s.chars().any(char::is_whitespace)
    };
    is_domain(&s[..domain_end]) && !whitespace
}

/// Parses an ISO 8601 date and time (the RFC's `CCYY-MM-DDTHH:MM:SS.sssZ` and the usual offset
/// forms) into seconds since 1970 UTC.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // At most four digits: no overflow.
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        (!part.is_empty() && part.iter().all(u8::is_ascii_digit))
            .then(|| part.iter().fold(0, |n, &c| n * 10 + i64::from(c - b'0')))
    };
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
    );
    let mut i = 16;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = num(i + 1..i + 3)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    let days_in_month = [
        31,
        if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            29
        } else {
            28
        },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut offset = 0i64;
    match &s[i..] {
        "" => {}
        rest => {
            // `Z`, `Z+n` (the RFC's form), `+HH:MM`, `+HHMM`, `+HH`.
            let rest = rest.strip_prefix(['Z', 'z']).unwrap_or(rest);
            if !rest.is_empty() {
                let sign = match rest.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
                if digits.is_empty()
                    || digits.len() > 4
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                {
                    return None;
                }
                let (hh, mm) = if digits.len() > 2 {
                    digits.split_at(digits.len() - 2)
                } else {
                    (digits.as_str(), "0")
                };
                offset = sign * (hh.parse::<i64>().ok()? * 3600 + mm.parse::<i64>().ok()? * 60);
            }
        }
    }
    // Days from civil (H. Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn id_keys_order_as_the_ids() {
        let ids = [
            "",
            "M",
            "M1",
            "M1.1",
            "M1.10",
            "M1.2",
            "M1.19",
            "M1.1\u{0}",
            "M1.1\u{0}x",
            "abcdefgh",
            "abcdefgh1",
            "abcdefgh0",
            "abcdefg",
            "abcdefgi",
            "é",
            "éé",
            "\u{0}",
            "ab\u{0}",
        ];
        let mut all: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        // Every string of up to four of NUL, `a` and `b`, and longer ones around eight bytes.
        let mut level = vec![String::new()];
        for _ in 0..4 {
            level = level
                .iter()
                .flat_map(|s| ["\u{0}", "a", "b"].map(|c| format!("{s}{c}")))
                .collect();
            all.extend(level.iter().cloned());
        }
        for n in 5..=11 {
            for tail in ["", "\u{0}", "a", "b"] {
                all.push(format!("{}{tail}", "a".repeat(n - tail.len())));
                all.push(format!("ab{}{tail}", "\u{0}".repeat(n - 2 - tail.len())));
            }
        }
        for a in &all {
            for b in &all {
                assert_eq!(cmp_ids(id_key(a), a, id_key(b), b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    /// The index finds what a binary search over the sorted IDs finds.
    #[test]
    fn id_index_lookups() {
        let sets: [&[&str]; 3] = [
            &[
                "M1.1",
                "M1.10",
                "M1.2",
                "M1.19",
                "abcdefgh",
                "abcdefghij",
                "abcdefghik",
                "x",
            ],
            &["M1.1", "M1.2", "M1.1", "M1.3", "longer.id.1", "longer.id.1"],
            &[],
        ];
        for ids in sets {
            let entries: Vec<_> = ids
                .iter()
                .enumerate()
                .map(|(n, id)| (Cow::Borrowed(*id), Cow::Borrowed("T"), n))
                .collect();
            let mut sorted = entries.clone();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let index = IdIndex::new(entries);
            for probe in [
                "M1.1",
                "M1.10",
                "M1.2",
                "M1.3",
                "M1.19",
                "M1.",
                "M1.1\u{0}",
                "abcdefgh",
                "abcdefghij",
                "abcdefghik",
                "abcdefghi",
                "x",
                "",
                "longer.id.1",
                "longer.id.2",
            ] {
                let expected = sorted
                    .binary_search_by(|e| e.0.as_ref().cmp(probe))
                    .ok()
                    .map(|i| sorted[i].2);
                assert_eq!(index.offset(probe), expected, "{probe:?} in {ids:?}");
            }
        }
    }

    #[test]
    fn id_syntax() {
        assert_eq!(message_id_prefix("M1"), Some("M"));
        assert_eq!(message_id_prefix("Px12"), Some("Px"));
        assert_eq!(message_id_prefix("M1.2"), None);
        assert_eq!(message_id_prefix("12"), None);
        assert!(is_block_id("M1.12"));
        assert!(!is_block_id("M1"));
        assert!(!is_block_id("M.31"));
        assert!(!is_block_id("M1-3"));
        // The same answers as splitting at the last dot, and as str::split for language tags.
        let old_block_id = |id: &str| match id.rsplit_once('.') {
            Some((msg, n)) => {
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && message_id_prefix(msg).is_some()
            }
            None => false,
        };
        let old_lang = |s: &str| {
            let mut parts = s.split('-');
            let first = parts.next().unwrap_or_default();
            (1..=8).contains(&first.len())
                && first.bytes().all(|b| b.is_ascii_alphabetic())
                && parts.all(|p| {
                    (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
                })
        };
        for id in [
            "",
            ".",
            "1",
            ".5",
            "M1.",
            "M1..5",
            "M1.2.3",
            "é1.2",
            "M1.x5",
            "M12.345",
            "a.b1.2",
            "M1.2é",
            "x-1.2",
            "en",
            "en-GB",
            "en-",
            "-en",
            "x-klingon-1",
            "abcdefghi",
            "é-en",
        ] {
            assert_eq!(is_block_id(id), old_block_id(id), "{id:?}");
            assert_eq!(is_language_tag(id), old_lang(id), "{id:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert!(parse_timestamp("1999-05-20T12:20:00.123Z").is_some());
        assert!(parse_timestamp("1999-02-30T12:20:00Z").is_none());
        assert!(parse_timestamp("yesterday").is_none());
        assert!(parse_timestamp("1999-05-20T12:20").is_some());
    }

    #[test]
    fn values() {
        assert!(
            is_amount("10.95")
                && is_amount("3995")
                && !is_amount("-5")
                && !is_amount("ten")
                && !is_amount("1.")
        );
        assert!(org_id_ok("newjerseybooks.com"));
        assert!(org_id_ok("consumer:1000247ABH/newjerseybooks.com"));
        assert!(!org_id_ok("Consumer:/x.com"));
        assert!(!org_id_ok("bad org"));
        // The same answers as the char-wise definition.
        fn old_domain(s: &str) -> bool {
            !s.is_empty()
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                })
        }
        fn old_org_id(s: &str) -> bool {
            if starts_with_ignore_case(s, "consumer:") {
                return match s["consumer:".len()..].split_once('/') {
                    Some((id, domain)) => {
                        !id.is_empty() && id.chars().all(is_name_char) && old_org_id(domain)
                    }
                    None => false,
                };
            }
            let end = s
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
                .unwrap_or(s.len());
            old_domain(&s[..end]) && !s.chars().any(char::is_whitespace)
        }
        for id in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "-a.b",
            "a-.b",
            "x.com\u{b}",
            "x.com\u{a0}",
            "x.com\u{2003}",
            "x.com/é",
            "é.com",
            "x.com é",
            "Consumer:é/x.com",
            "consumer:a/b.c\t",
            "a_b.com",
            &"a".repeat(64),
            "x.com:80",
            "x.com\u{c}",
            "x.com\r",
        ] {
            assert_eq!(org_id_ok(id), old_org_id(id), "{id:?}");
            assert_eq!(is_domain(id), old_domain(id), "{id:?}");
        }
        assert!(is_msg_id_like("19990520122000.000042@merchant.example.com"));
        assert!(!is_msg_id_like("no-at-sign"));
        assert!(is_language_tag("en") && is_language_tag("us-en") && !is_language_tag("en_US"));
    }
}
