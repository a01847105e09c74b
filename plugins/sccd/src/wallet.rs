//! The Consumer's wallet: the simulator's test cards, always there, and the cards registered
//! with RFC 3867 `ManagePaymentSoftware` (kept in the Consumer's own key-value space), plus
//! the Consumer's record of each payment and of the authorisations it may refund.
//!
//! | Key | Value |
//! |---|---|
//! | `consumer/cards` | the ids of the registered cards (JSON) |
//! | `consumer/card/<id>` | a registered card: its ECML (`<Ecom><Payment><Card id=…>`, `BillTo`) |
//! | `consumer/pay/<ConsumerPayId>` | the payment ([`ConsumerRecord`], JSON; the card by its id) |
//! | `consumer/history/<id>` | the card's approved debits and what was refunded of each (JSON) |

use iotp::msg::codes::ErrorCode;
use iotp::msg::model::PackagedContent;
use iotp::payapi::{
    ApiError, ApiErrorCode, ApiResult, BridgeHost, ManagePaymentSoftware,
    ManagePaymentSoftwareResponse,
};
use serde::{Deserialize, Serialize};

use crate::card::{CardType, Expiry, Money, Pan};
use crate::ecml::{self, BillTo, Card, ChallengeResp, TxnType};
use crate::processor::TEST_CARDS;

/// The PackagedContent that names a card to delete.
pub const CARD_ID: &str = "SCCD-CardId";

/// A card of the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletCard {
    /// The card (its `id` is the PaymentInstrumentId).
    pub card: Card,
    /// The billing address.
    pub bill_to: BillTo,
    /// Said after the card in the instrument's name.
    pub note: Option<&'static str>,
}

impl WalletCard {
    /// The PaymentInstrumentId.
    pub fn id(&self) -> &str {
        self.card.id.as_deref().unwrap_or("")
    }

    /// The type, when SCCD takes it.
    pub fn card_type(&self) -> Option<CardType> {
        self.card.known_type()
    }

    /// `PayInstName`: brand and last four digits (never the number).
    pub fn display_name(&self) -> String {
        let brand = match self.card_type() {
            Some(t) => t.brand_name(),
            None => self.card.card_type.as_str(),
        };
        match self.note {
            Some(n) => format!(
                "{brand} {} (SCCD test card: {n})",
                self.card.number.truncated()
            ),
            None => format!("{brand} {}", self.card.number.truncated()),
        }
    }

    /// The answer to a step-up challenge: what the simulated issuer expects from this card's
    /// holder.
    pub fn answer(&self, nonce: &str) -> ChallengeResp {
        ChallengeResp {
            nonce: nonce.to_owned(),
            answer: challenge_answer(&self.card.number, nonce),
        }
    }
}

/// The simulator's one-time answer to a challenge: HMAC-SHA-256 keyed with the card number
/// over the nonce, 16 hex digits. (A real issuer asks for a code sent to the cardholder.)
pub fn challenge_answer(pan: &Pan, nonce: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pan.digits().as_bytes());
    let tag = ring::hmac::sign(&key, format!("SCCD-Challenge {nonce}").as_bytes());
    crate::card::hex(&tag.as_ref()[..8])
}

/// The test cards, as wallet cards.
pub fn test_cards() -> Vec<WalletCard> {
    TEST_CARDS
        .iter()
        .filter_map(|c| {
            Some(WalletCard {
                card: Card {
                    id: Some(c.id.into()),
                    name: Some("Jane Consumer".into()),
                    card_type: c.card_type.ecml().into(),
                    number: Pan::parse(c.number).ok()?,
                    verification: Some(c.verification.into()),
                    expiry: Expiry {
                        year: 2039,
                        month: 12,
                    },
                },
                bill_to: BillTo {
                    first: Some("Jane".into()),
                    last: Some("Consumer".into()),
                    street: Some("1 Main Street".into()),
                    city: Some("Springfield".into()),
                    state_prov: None,
                    postal_code: Some("12345".into()),
                    country_code: Some("US".into()),
                },
                note: Some(c.description),
            })
        })
        .collect()
}

fn card_key(id: &str) -> String {
    format!("consumer/card/{id}")
}

const CARDS: &str = "consumer/cards";

fn damaged(what: &str) -> ApiError {
    ApiError::new(
        ApiErrorCode::Iotp(ErrorCode::UnknownError),
        iotp::Severity::HardError,
        format!("the SCCD wallet's {what} is damaged"),
    )
}

fn registered_ids(host: &dyn BridgeHost) -> ApiResult<Vec<String>> {
    match host.kv_get(CARDS)? {
        None => Ok(Vec::new()),
        Some(b) => serde_json::from_slice(&b).map_err(|_| damaged("card list")),
    }
}

fn registered(host: &dyn BridgeHost, id: &str) -> ApiResult<Option<WalletCard>> {
    let Some(bytes) = host.kv_get(&card_key(id))? else {
        return Ok(None);
    };
    let pc = PackagedContent {
        name: Some(ecml::CARD.into()),
        ..PackagedContent::text(String::from_utf8_lossy(&bytes))
    };
    let (card, bill_to) = ecml::read_wallet_card(&pc).map_err(|_| damaged("card"))?;
    Ok(Some(WalletCard {
        card,
        bill_to,
        note: None,
    }))
}

/// Every card: the test cards, then the registered ones.
pub fn cards(host: &dyn BridgeHost) -> ApiResult<Vec<WalletCard>> {
    let mut v = test_cards();
    for id in registered_ids(host)? {
        if let Some(c) = registered(host, &id)? {
            v.push(c);
        }
    }
    Ok(v)
}

/// The card with this id.
pub fn card(host: &dyn BridgeHost, id: &str) -> ApiResult<Option<WalletCard>> {
    if let Some(c) = test_cards().into_iter().find(|c| c.id() == id) {
        return Ok(Some(c));
    }
    registered(host, id)
}

/// `ManagePaymentSoftware`: `Action="New"` or `"Update"` with a PayProtocolPackagedContent
/// `SCCD-Card` holding `<Ecom><Payment><Card id="ID" …><ExpDate …/></Card></Payment><BillTo>…`
/// registers a card; `Action="Delete"` with a PackagedContent `SCCD-CardId` holding the id
/// removes one. The test cards cannot be changed.
pub fn manage(
    host: &dyn BridgeHost,
    request: &ManagePaymentSoftware,
) -> ApiResult<ManagePaymentSoftwareResponse> {
    let action = request.action.as_deref().ok_or_else(|| {
        ApiError::illegal_value(
            "Action",
            "the SCCD wallet is managed with Action New, Update or Delete",
        )
    })?;
    let pcs = || {
        request
            .offer
            .pay_protocol
            .iter()
            .chain(&request.offer.brand)
    };
    let reserved = |id: &str| TEST_CARDS.iter().any(|c| c.id == id);
    match action {
        "New" | "Update" => {
            let pc = pcs()
                .find(|p| p.name.as_deref() == Some(ecml::CARD))
                .ok_or_else(|| {
                    ApiError::illegal_value(
                        "Action",
                        "a card is registered with a PayProtocolPackagedContent named SCCD-Card",
                    )
                })?;
            let (card, bill_to) =
                ecml::read_wallet_card(pc).map_err(|e| crate::encap(&format!("SCCD-Card: {e}")))?;
            let id = card
                .id
                .clone()
                .ok_or_else(|| crate::encap("SCCD-Card: a wallet card needs Card/@id"))?;
            if reserved(&id) {
                return Err(ApiError::illegal_value(
                    "Action",
                    format!("{id} is a test card of the simulator and cannot be changed"),
                ));
            }
            let Some(t) = card.known_type() else {
                return Err(crate::encap(
                    "SCCD-Card: the card type is not VISA, MAST or AMER",
                ));
            };
            if card.number.network() != Some(t) || !card.number.luhn_ok() {
                return Err(crate::encap(
                    "SCCD-Card: the card number is not a valid number of its type",
                ));
            }
            let mut ids = registered_ids(host)?;
            let exists = ids.contains(&id);
            if action == "New" && exists {
                return Err(ApiError::illegal_value(
                    "Action",
                    format!("the wallet already has a card {id}; use Update"),
                ));
            }
            if action == "Update" && !exists {
                return Err(ApiError::illegal_value(
                    "Action",
                    format!("the wallet has no card {id}; use New"),
                ));
            }
            let doc = ecml::wallet_card(&card, &bill_to);
            host.kv_put(&card_key(&id), &doc.data)?;
            if !exists {
                ids.push(id);
                host.kv_put(
                    CARDS,
                    &serde_json::to_vec(&ids).map_err(|_| damaged("card list"))?,
                )?;
            }
        }
        "Delete" => {
            let id = pcs()
                .find(|p| p.name.as_deref() == Some(CARD_ID))
                .and_then(PackagedContent::as_text)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::illegal_value(
                        "Action",
                        "a card is deleted with a PackagedContent named SCCD-CardId holding its id",
                    )
                })?
                .to_owned();
            if reserved(&id) {
                return Err(ApiError::illegal_value(
                    "Action",
                    format!("{id} is a test card of the simulator and cannot be deleted"),
                ));
            }
            let mut ids = registered_ids(host)?;
            if !ids.contains(&id) {
                return Err(ApiError::illegal_value(
                    "Action",
                    format!("the wallet has no card {id}"),
                ));
            }
            ids.retain(|i| *i != id);
            host.kv_delete(&card_key(&id))?;
            host.kv_put(
                CARDS,
                &serde_json::to_vec(&ids).map_err(|_| damaged("card list"))?,
            )?;
        }
        other => {
            return Err(ApiError::illegal_value(
                "Action",
                format!("Action {other} is not New, Update or Delete"),
            ));
        }
    }
    Ok(ManagePaymentSoftwareResponse {
        action: Some(action.to_owned()),
        wallet: Default::default(),
        auth_names: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Payments

/// The Consumer's record of a payment. The card is named by its wallet id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRecord {
    /// `ProcessState` (wire spelling).
    pub state: String,
    /// `CompletionCode`, when Failed.
    pub code: Option<String>,
    /// The wallet card's id.
    pub instrument: String,
    /// The BrandId.
    pub brand_id: String,
    /// The card's last four digits.
    pub last4: String,
    /// The amount, as the Payment Request said it.
    pub amount: String,
    /// The currency.
    pub currency: String,
    /// Debit or credit.
    pub kind: TxnType,
    /// The authorisations a credit named (references).
    pub refund_candidates: Vec<String>,
    /// The authorisation a credit was booked against, once answered.
    pub refunded: Option<String>,
    /// The processor's reference, once answered.
    pub reference: Option<String>,
    /// The approval code, once approved.
    pub approval: Option<String>,
}

fn pay_key(pay_id: &str) -> String {
    format!("consumer/pay/{pay_id}")
}

impl ConsumerRecord {
    /// The record of a payment, if any.
    pub fn load(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<Option<ConsumerRecord>> {
        match host.kv_get(&pay_key(pay_id))? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|_| damaged("payment record")),
        }
    }

    /// Writes the record.
    pub fn save(&self, host: &dyn BridgeHost, pay_id: &str) -> ApiResult<()> {
        let b = serde_json::to_vec(self).map_err(|_| damaged("payment record"))?;
        host.kv_put(&pay_key(pay_id), &b)
    }

    /// Forgets the record.
    pub fn remove(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<()> {
        host.kv_delete(&pay_key(pay_id))
    }
}

/// An approved debit of a card, which refunds may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Paid {
    reference: String,
    currency: String,
    amount: Money,
    /// (ConsumerPayId of the refund, amount).
    refunds: Vec<(String, Money)>,
}

fn history_key(instrument: &str) -> String {
    format!("consumer/history/{instrument}")
}

fn history(host: &dyn BridgeHost, instrument: &str) -> ApiResult<Vec<Paid>> {
    match host.kv_get(&history_key(instrument))? {
        None => Ok(Vec::new()),
        Some(b) => serde_json::from_slice(&b).map_err(|_| damaged("payment history")),
    }
}

fn save_history(host: &dyn BridgeHost, instrument: &str, h: &[Paid]) -> ApiResult<()> {
    let b = serde_json::to_vec(h).map_err(|_| damaged("payment history"))?;
    host.kv_put(&history_key(instrument), &b)
}

/// The authorisations a refund of `amount` to this card names: the card's approved debits in
/// that currency with enough left, most recent first, at most [`ecml::MAX_REFERENCES`]. The
/// Consumer cannot know which Payment Handler made each: the processor books the credit
/// against the first in its books.
pub fn refundable(
    host: &dyn BridgeHost,
    instrument: &str,
    currency: &str,
    amount: Money,
) -> ApiResult<Vec<String>> {
    Ok(history(host, instrument)?
        .into_iter()
        .rev()
        .filter(|p| {
            let refunded: i64 = p.refunds.iter().map(|(_, m)| m.0).sum();
            p.currency == currency && p.amount.0 - refunded >= amount.0
        })
        .take(ecml::MAX_REFERENCES)
        .map(|p| p.reference)
        .collect())
}

/// Books an approved payment in the card's history (once per payment).
pub fn book(host: &dyn BridgeHost, pay_id: &str, r: &ConsumerRecord) -> ApiResult<()> {
    let Some(reference) = &r.reference else {
        return Ok(());
    };
    let Some(amount) = Money::parse(&r.amount) else {
        return Ok(());
    };
    let mut h = history(host, &r.instrument)?;
    match (r.kind, &r.refunded) {
        (TxnType::Debit, _) => {
            if h.iter().any(|p| &p.reference == reference) {
                return Ok(());
            }
            h.push(Paid {
                reference: reference.clone(),
                currency: r.currency.clone(),
                amount,
                refunds: Vec::new(),
            });
        }
        (TxnType::Credit, Some(original)) => {
            let Some(p) = h.iter_mut().find(|p| &p.reference == original) else {
                return Ok(());
            };
            if p.refunds.iter().any(|(id, _)| id == pay_id) {
                return Ok(());
            }
            p.refunds.push((pay_id.to_owned(), amount));
        }
        (TxnType::Credit, None) => return Ok(()),
    }
    save_history(host, &r.instrument, &h)
}
