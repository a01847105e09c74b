//! The card-processor simulator: what the Payment Handler's bridge authorises against.
//!
//! Deterministic: the outcome depends on the card number only (the test cards of
//! [`TEST_CARDS`]; every other card that passes the Payment Handler's checks is approved), and
//! references and approval codes are derived from the Payment Handler's PayId. Its books live
//! in the Payment Handler's key-value space (`processor/…`), keyed by that PayId, so the same
//! PayId authorises once: asked again (a retransmitted, resumed or re-processed Payment
//! Request), the processor answers with what it decided the first time.
//!
//! The books hold a token and the last four digits of a card, never its number or
//! verification value.
//!
//! | Key | Value |
//! |---|---|
//! | `processor/txn/<PayId>` | the authorisation or refund ([`ProcessorTxn`], JSON) |
//! | `processor/ref/<Reference>` | the PayId of an approved debit (refunds name it) |

use std::sync::{Mutex, PoisonError};

use iotp::msg::codes::{CompletionCode, ErrorCode, Severity};
use iotp::payapi::{ApiError, ApiErrorCode, ApiResult, BridgeHost};
use serde::{Deserialize, Serialize};

use crate::card::{CardType, Money, Pan, digest, hex};
use crate::ecml::TxnType;

/// The acquirer the simulator names in `Id/@Acquire`.
pub const ACQUIRER: &str = "SCCD-SIM";

/// What a test card makes the processor do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Approves.
    Approve,
    /// Asks for step-up authentication (one Payment Exchange round), then approves.
    Challenge,
    /// Declines.
    Decline(Decline),
    /// Never answers: the Payment Handler answers TransientError every time.
    Timeout,
}

/// A documented test card of the simulator.
#[derive(Debug, Clone, Copy)]
pub struct TestCard {
    /// Its instrument id in the Consumer's wallet (and the conformance kit's test instrument).
    pub id: &'static str,
    /// The card type.
    pub card_type: CardType,
    /// The card number.
    pub number: &'static str,
    /// The verification value the processor expects.
    pub verification: &'static str,
    /// What the processor does.
    pub behaviour: Behaviour,
    /// For people.
    pub description: &'static str,
}

/// The test cards (expiry 12/2039, cardholder Jane Consumer, postal code 12345, US).
pub const TEST_CARDS: &[TestCard] = &[
    TestCard {
        id: "approve",
        card_type: CardType::Visa,
        number: "4111111111111111",
        verification: "123",
        behaviour: Behaviour::Approve,
        description: "approves",
    },
    TestCard {
        id: "approve-mastercard",
        card_type: CardType::MasterCard,
        number: "5555555555554444",
        verification: "123",
        behaviour: Behaviour::Approve,
        description: "approves",
    },
    TestCard {
        id: "approve-amex",
        card_type: CardType::Amex,
        number: "378282246310005",
        verification: "1234",
        behaviour: Behaviour::Approve,
        description: "approves",
    },
    TestCard {
        id: "extra-round",
        card_type: CardType::Visa,
        number: "4000000000003220",
        verification: "123",
        behaviour: Behaviour::Challenge,
        description: "asks for step-up authentication (SCCD-Challenge), then approves",
    },
    TestCard {
        id: "decline-InsuffFunds",
        card_type: CardType::Visa,
        number: "4000000000009995",
        verification: "123",
        behaviour: Behaviour::Decline(Decline::InsufficientFunds),
        description: "declines: insufficient funds",
    },
    TestCard {
        id: "decline-BadInstrument",
        card_type: CardType::Visa,
        number: "4000000000009979",
        verification: "123",
        behaviour: Behaviour::Decline(Decline::Stolen),
        description: "declines: card reported stolen",
    },
    TestCard {
        id: "decline-InstNotValid",
        card_type: CardType::Visa,
        number: "4000000000000069",
        verification: "123",
        behaviour: Behaviour::Decline(Decline::IssuerExpired),
        description: "declines: the issuer says the card has expired",
    },
    TestCard {
        id: "decline-AuthError",
        card_type: CardType::Visa,
        number: "4000000000000127",
        verification: "123",
        behaviour: Behaviour::Decline(Decline::VerificationMismatch),
        description: "declines: wrong verification value",
    },
    TestCard {
        id: "decline-Unspecified",
        card_type: CardType::Visa,
        number: "4000000000000002",
        verification: "123",
        behaviour: Behaviour::Decline(Decline::DoNotHonour),
        description: "declines: do not honour",
    },
    TestCard {
        id: "timeout",
        card_type: CardType::Visa,
        number: "4000000000000119",
        verification: "123",
        behaviour: Behaviour::Timeout,
        description: "the processor does not answer in time",
    },
];

/// The test card with this number.
pub fn test_card(number: &Pan) -> Option<&'static TestCard> {
    TEST_CARDS.iter().find(|c| c.number == number.digits())
}

/// Why a payment was declined: by the processor, or by the Payment Handler's own checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decline {
    /// Processor: insufficient funds.
    InsufficientFunds,
    /// Processor: the card was reported stolen.
    Stolen,
    /// Processor: the issuer says the card has expired.
    IssuerExpired,
    /// Processor: the verification value is wrong.
    VerificationMismatch,
    /// Processor: do not honour.
    DoNotHonour,
    /// Payment Handler: the number fails the Luhn check.
    InvalidNumber,
    /// Payment Handler: the expiry date has passed.
    Expired,
    /// Payment Handler: the card's type or number is not of the selected brand.
    BrandMismatch,
    /// Payment Handler: the brand is not one SCCD takes.
    BrandNotSupported,
    /// Issuer: the step-up authentication failed.
    ChallengeFailed,
    /// Processor: a refund names no approved authorisation.
    NoSuchAuthorisation,
    /// Processor: a refund goes to another card than the authorisation's.
    OtherCard,
    /// Processor: a refund is in another currency than the authorisation's.
    OtherCurrency,
    /// Processor: a refund exceeds what is left of the authorisation.
    ExceedsAuthorisation,
}

impl Decline {
    /// Every decline.
    pub const ALL: [Decline; 14] = [
        Decline::InsufficientFunds,
        Decline::Stolen,
        Decline::IssuerExpired,
        Decline::VerificationMismatch,
        Decline::DoNotHonour,
        Decline::InvalidNumber,
        Decline::Expired,
        Decline::BrandMismatch,
        Decline::BrandNotSupported,
        Decline::ChallengeFailed,
        Decline::NoSuchAuthorisation,
        Decline::OtherCard,
        Decline::OtherCurrency,
        Decline::ExceedsAuthorisation,
    ];

    /// The IOTP completion code (RFC 2801 §7.16.2).
    pub fn code(self) -> CompletionCode {
        match self {
            Decline::InsufficientFunds => CompletionCode::InsuffFunds,
            Decline::Stolen | Decline::InvalidNumber | Decline::OtherCard => {
                CompletionCode::BadInstrument
            }
            Decline::IssuerExpired | Decline::Expired => CompletionCode::InstNotValid,
            Decline::VerificationMismatch | Decline::ChallengeFailed => CompletionCode::AuthError,
            Decline::BrandMismatch => CompletionCode::InstBrandInvalid,
            Decline::BrandNotSupported => CompletionCode::BrandNotSupp,
            Decline::OtherCurrency => CompletionCode::CurrNotSupp,
            Decline::DoNotHonour | Decline::NoSuchAuthorisation | Decline::ExceedsAuthorisation => {
                CompletionCode::Unspecified
            }
        }
    }

    /// The response code in `Code/@Reason` (ISO 8583 style; `00` is an approval).
    pub fn reason(self) -> &'static str {
        match self {
            Decline::InsufficientFunds => "51",
            Decline::Stolen => "43",
            Decline::IssuerExpired => "54",
            Decline::VerificationMismatch => "N7",
            Decline::DoNotHonour => "05",
            Decline::InvalidNumber => "14",
            Decline::Expired => "33",
            Decline::BrandMismatch => "57",
            Decline::BrandNotSupported => "58",
            Decline::ChallengeFailed => "63",
            Decline::NoSuchAuthorisation => "12",
            Decline::OtherCard => "15",
            Decline::OtherCurrency => "91",
            Decline::ExceedsAuthorisation => "13",
        }
    }

    /// The decline of a response code.
    pub fn from_reason(reason: &str) -> Option<Decline> {
        Decline::ALL.into_iter().find(|d| d.reason() == reason)
    }

    /// A description for the Consumer (`StatusDesc`).
    pub fn text(self) -> &'static str {
        match self {
            Decline::InsufficientFunds => "declined: insufficient funds",
            Decline::Stolen => "declined: the card was reported stolen",
            Decline::IssuerExpired => "declined: the issuer says the card has expired",
            Decline::VerificationMismatch => "declined: wrong card verification value",
            Decline::DoNotHonour => "declined by the issuer",
            Decline::InvalidNumber => "declined: the card number is not valid (Luhn check)",
            Decline::Expired => "declined: the card has expired",
            Decline::BrandMismatch => "declined: the card is not of the selected brand",
            Decline::BrandNotSupported => "declined: the brand is not taken with SCCD",
            Decline::ChallengeFailed => "declined: the cardholder's authentication failed",
            Decline::NoSuchAuthorisation => "declined: the refunded authorisation is unknown",
            Decline::OtherCard => "declined: a refund goes to the card that paid",
            Decline::OtherCurrency => "declined: a refund is in the currency of the payment",
            Decline::ExceedsAuthorisation => "declined: the refund exceeds what was paid",
        }
    }
}

/// The state of a processor transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    /// Authorised (or refunded).
    Approved,
    /// Declined.
    Declined(Decline),
    /// Waiting for the cardholder's step-up authentication.
    PendingChallenge,
    /// Abandoned while waiting (the payment was cancelled).
    Voided,
}

/// An authorisation or a refund in the processor's books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorTxn {
    /// The Payment Handler's PayId.
    pub pay_id: String,
    /// Debit (authorisation) or credit (refund).
    pub kind: TxnType,
    /// The card's token.
    pub token: String,
    /// The card's last four digits.
    pub last4: String,
    /// The amount.
    pub amount: Money,
    /// The currency.
    pub currency: String,
    /// The state.
    pub state: TxnState,
    /// The processor's reference of this transaction.
    pub reference: String,
    /// The approval code, once approved.
    pub approval: Option<String>,
    /// The authorisation a refund was booked against.
    pub refund_of: Option<String>,
    /// An approved debit's refunds: (PayId of the refund, amount).
    pub refunds: Vec<(String, Money)>,
}

impl ProcessorTxn {
    /// The response code (`00` approved).
    pub fn reason(&self) -> &'static str {
        match self.state {
            TxnState::Declined(d) => d.reason(),
            TxnState::Approved | TxnState::PendingChallenge | TxnState::Voided => "00",
        }
    }
}

/// What the Payment Handler asks the processor.
#[derive(Debug)]
pub struct AuthRequest<'a> {
    /// The Payment Handler's PayId: the idempotency key.
    pub pay_id: &'a str,
    /// The card (in memory only).
    pub pan: &'a Pan,
    /// The verification value, if given.
    pub verification: Option<&'a str>,
    /// The card's token.
    pub token: &'a str,
    /// The amount.
    pub amount: Money,
    /// The currency.
    pub currency: &'a str,
    /// Debit or credit.
    pub kind: TxnType,
    /// The authorisations a credit may be booked against (references, most recent first).
    pub refund_of: &'a [String],
}

/// The processor reference of a payment: `A` and 12 hex digits derived from the PayId.
pub fn reference_of(pay_id: &str) -> String {
    format!(
        "A{}",
        &hex(&digest(&[b"sccd-reference", pay_id.as_bytes()]))[..12]
    )
}

/// The approval code of a payment: six digits derived from the PayId.
fn approval_of(pay_id: &str) -> String {
    let d = digest(&[b"sccd-approval", pay_id.as_bytes()]);
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
    format!("{n:06}")
}

fn txn_key(pay_id: &str) -> String {
    format!("processor/txn/{pay_id}")
}

fn ref_key(reference: &str) -> String {
    format!("processor/ref/{reference}")
}

fn damaged(what: &str) -> ApiError {
    ApiError::new(
        ApiErrorCode::Iotp(ErrorCode::UnknownError),
        Severity::HardError,
        format!("the card processor's record of {what} is damaged"),
    )
}

fn load(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<Option<ProcessorTxn>> {
    match host.kv_get(&txn_key(pay_id))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| damaged(pay_id)),
    }
}

fn save(host: &dyn BridgeHost, t: &ProcessorTxn) -> ApiResult<()> {
    let bytes = serde_json::to_vec(t).map_err(|_| damaged(&t.pay_id))?;
    host.kv_put(&txn_key(&t.pay_id), &bytes)
}

/// The simulator. One per Payment Handler process: its lock serialises the changes to its
/// books (the store itself offers only single-key atomicity).
#[derive(Debug, Default)]
pub struct Processor {
    books: Mutex<()>,
}

impl Processor {
    /// A processor.
    pub fn new() -> Processor {
        Processor::default()
    }

    /// The transaction of a PayId, if any.
    pub fn lookup(&self, host: &dyn BridgeHost, pay_id: &str) -> ApiResult<Option<ProcessorTxn>> {
        load(host, pay_id)
    }

    /// Authorises a debit or a refund, once per PayId: asked again, answers what it decided
    /// the first time. A time-out is a TransientError and leaves no trace.
    pub fn authorise(&self, host: &dyn BridgeHost, r: &AuthRequest<'_>) -> ApiResult<ProcessorTxn> {
        let _books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = load(host, r.pay_id)? {
            return Ok(t);
        }
        let card = test_card(r.pan);
        let mut state = match card.map_or(Behaviour::Approve, |c| c.behaviour) {
            Behaviour::Approve => TxnState::Approved,
            Behaviour::Challenge => TxnState::PendingChallenge,
            Behaviour::Decline(d) => TxnState::Declined(d),
            Behaviour::Timeout => {
                return Err(ApiError::transient(
                    ErrorCode::SystemBusy,
                    1,
                    "the card processor did not answer in time; nothing was authorised",
                ));
            }
        };
        if let (Some(card), Some(v)) = (card, r.verification)
            && v != card.verification
            && matches!(state, TxnState::Approved | TxnState::PendingChallenge)
        {
            state = TxnState::Declined(Decline::VerificationMismatch);
        }
        let mut t = ProcessorTxn {
            pay_id: r.pay_id.to_owned(),
            kind: r.kind,
            token: r.token.to_owned(),
            last4: r.pan.last4().to_owned(),
            amount: r.amount,
            currency: r.currency.to_owned(),
            state,
            reference: reference_of(r.pay_id),
            approval: None,
            refund_of: None,
            refunds: Vec::new(),
        };
        if t.state == TxnState::Approved {
            self.approve(host, &mut t, r.refund_of)?;
        }
        if !host.kv_insert_if_absent(
            &txn_key(&t.pay_id),
            &serde_json::to_vec(&t).map_err(|_| damaged(r.pay_id))?,
        )? {
            // Written meanwhile by another process sharing the store: its decision stands.
            return load(host, r.pay_id)?.ok_or_else(|| damaged(r.pay_id));
        }
        self.after_approval(host, &t)?;
        Ok(t)
    }

    /// Ends a step-up: approves when the cardholder passed, declines otherwise. Once only.
    /// `refund_of` as in [`AuthRequest`].
    pub fn complete_challenge(
        &self,
        host: &dyn BridgeHost,
        pay_id: &str,
        passed: bool,
        refund_of: &[String],
    ) -> ApiResult<ProcessorTxn> {
        let _books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        let mut t = load(host, pay_id)?.ok_or_else(|| {
            ApiError::illegal_value(
                "PayId",
                format!("the card processor knows no payment {pay_id}"),
            )
        })?;
        if t.state != TxnState::PendingChallenge {
            return Ok(t);
        }
        if passed {
            t.state = TxnState::Approved;
            self.approve(host, &mut t, refund_of)?;
        } else {
            t.state = TxnState::Declined(Decline::ChallengeFailed);
        }
        save(host, &t)?;
        self.after_approval(host, &t)?;
        Ok(t)
    }

    /// Abandons an authorisation waiting for its step-up (a cancelled payment).
    pub fn void(&self, host: &dyn BridgeHost, pay_id: &str) -> ApiResult<()> {
        let _books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut t) = load(host, pay_id)?
            && t.state == TxnState::PendingChallenge
        {
            t.state = TxnState::Voided;
            save(host, &t)?;
        }
        Ok(())
    }

    /// Approves `t` (state Approved on entry): the approval code and, for a credit, its
    /// booking against the first of `refund_of` in these books with the same card and
    /// currency and enough left (reserved in that authorisation's books by the credit's
    /// PayId, so that doing it twice counts once). None of them in these books (they are
    /// another processor's, or there are none): an unreferenced credit. Some in these books
    /// but none can take it: declined, with the first one's reason.
    fn approve(
        &self,
        host: &dyn BridgeHost,
        t: &mut ProcessorTxn,
        refund_of: &[String],
    ) -> ApiResult<()> {
        if t.kind == TxnType::Credit {
            let mut refused = None;
            for reference in refund_of {
                let Some(id) = host.kv_get(&ref_key(reference))? else {
                    continue;
                };
                let Some(mut o) = load(host, &String::from_utf8_lossy(&id))? else {
                    continue;
                };
                let refunded: i64 = o
                    .refunds
                    .iter()
                    .filter(|(id, _)| *id != t.pay_id)
                    .map(|(_, m)| m.0)
                    .sum();
                let verdict = if o.kind != TxnType::Debit || o.state != TxnState::Approved {
                    Err(Decline::NoSuchAuthorisation)
                } else if o.token != t.token {
                    Err(Decline::OtherCard)
                } else if o.currency != t.currency {
                    Err(Decline::OtherCurrency)
                } else if refunded + t.amount.0 > o.amount.0 {
                    Err(Decline::ExceedsAuthorisation)
                } else {
                    Ok(())
                };
                match verdict {
                    Err(d) => {
                        refused.get_or_insert(d);
                    }
                    Ok(()) => {
                        if !o.refunds.iter().any(|(id, _)| *id == t.pay_id) {
                            o.refunds.push((t.pay_id.clone(), t.amount));
                            save(host, &o)?;
                        }
                        t.refund_of = Some(reference.clone());
                        refused = None;
                        break;
                    }
                }
            }
            if let Some(d) = refused {
                t.state = TxnState::Declined(d);
                return Ok(());
            }
        }
        t.approval = Some(approval_of(&t.pay_id));
        Ok(())
    }

    /// An approved debit can be refunded by its reference.
    fn after_approval(&self, host: &dyn BridgeHost, t: &ProcessorTxn) -> ApiResult<()> {
        if t.state == TxnState::Approved && t.kind == TxnType::Debit {
            host.kv_put(&ref_key(&t.reference), t.pay_id.as_bytes())?;
        }
        Ok(())
    }
}
