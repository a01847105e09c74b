//! The Payment Handler's part: checks the `SCCD-Card` of a Payment Request, authorises it
//! against the [processor](crate::processor), runs the optional step-up round, and answers
//! with `SCCD-Auth`.
//!
//! Checks, in order (a failed check is an error of the request, `EncapProtErr`, or a decline,
//! a Failed payment with its completion code):
//!
//! 1. the Payment Request carries a readable `SCCD-Card` (else `EncapProtErr`);
//! 2. its Transaction's amount, currency and type are the selected CurrencyAmount and the
//!    Brand List's direction (else `EncapProtErr`);
//! 3. it has every field the Merchant's `SCCD-Accept` asks for (else `EncapProtErr`);
//! 4. the BrandId is one SCCD takes (else BrandNotSupp), the card's Type and number are of
//!    that brand (else InstBrandInvalid), the number passes the Luhn check (else
//!    BadInstrument), the card has not expired (else InstNotValid);
//! 5. the processor's decision.
//!
//! The record (`handler/pay/<PayId>`) keeps the truncated number, the card's token, the
//! amounts and the processor's answer, never the number or the verification value; a request
//! for a PayId with a record is answered from it.

use iotp::msg::codes::{CompletionCode, ProcessState};
use iotp::payapi::*;
use serde::{Deserialize, Serialize};

use crate::card::{CardType, Expiry, Money, digest, hex, token};
use crate::ecml::{self, Accept, Action, Auth, CardMessage, Challenge, ChallengeResp, TxnType};
use crate::processor::{AuthRequest, Decline, Processor, ProcessorTxn, TxnState, reference_of};
use crate::wallet::challenge_answer;
use crate::{PROTOCOL_ID, encap, log, status_of};

/// The Payment Handler's record of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerRecord {
    /// `ProcessState` (wire spelling).
    pub state: String,
    /// The decline, when Failed by a decline.
    pub decline: Option<Decline>,
    /// `CompletionCode` when Failed otherwise (a cancel).
    pub code: Option<String>,
    /// The BrandId.
    pub brand_id: String,
    /// The ECML card type.
    pub card_type: String,
    /// `XXXXXXXXXXXX1111`.
    pub truncated: String,
    /// The card's expiry.
    pub expiry: (u16, u8),
    /// The card's token.
    pub token: String,
    /// The amount as the Payment Request said it.
    pub amount: String,
    /// The currency.
    pub currency: String,
    /// Debit or credit.
    pub kind: TxnType,
    /// The authorisation a refund was booked against.
    pub refund_of: Option<String>,
    /// The processor's reference.
    pub reference: String,
    /// The approval code.
    pub approval: Option<String>,
    /// The step-up waiting for its answer.
    pub challenge: Option<PendingChallenge>,
}

/// A step-up challenge sent, waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChallenge {
    /// The nonce sent.
    pub nonce: String,
    /// SHA-256 of the expected answer (hex).
    pub answer_digest: String,
    /// The authorisations a credit may be booked against.
    pub refund_of: Vec<String>,
}

fn key(pay_id: &str) -> String {
    format!("handler/pay/{pay_id}")
}

fn damaged() -> ApiError {
    ApiError::new(
        ApiErrorCode::Iotp(iotp::ErrorCode::UnknownError),
        iotp::Severity::HardError,
        "the Payment Handler's SCCD payment record is damaged",
    )
}

impl HandlerRecord {
    /// The record of a payment, if any.
    pub fn load(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<Option<HandlerRecord>> {
        match host.kv_get(&key(pay_id))? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|_| damaged()),
        }
    }

    fn bytes(&self) -> ApiResult<Vec<u8>> {
        serde_json::to_vec(self).map_err(|_| damaged())
    }

    fn save(&self, host: &dyn BridgeHost, pay_id: &str) -> ApiResult<()> {
        host.kv_put(&key(pay_id), &self.bytes()?)
    }

    /// Forgets the record (the processor's books stay).
    pub fn remove(host: &dyn BridgeHost, pay_id: &str) -> ApiResult<()> {
        host.kv_delete(&key(pay_id))
    }

    /// The process state.
    pub fn process_state(&self) -> ProcessState {
        ProcessState::from_wire(&self.state)
    }

    /// The completion code.
    pub fn completion_code(&self) -> Option<CompletionCode> {
        self.decline
            .map(Decline::code)
            .or_else(|| self.code.as_deref().map(CompletionCode::from_wire))
    }

    /// The status.
    pub fn status(&self) -> StatusInfo {
        status_of(
            self.process_state(),
            self.completion_code(),
            self.decline.map(|d| d.text().to_owned()),
        )
    }

    fn is_final(&self) -> bool {
        PaymentState::Iotp(self.process_state()).is_final()
    }

    fn apply(&mut self, t: &ProcessorTxn) {
        self.approval = t.approval.clone();
        self.refund_of = t.refund_of.clone();
        self.challenge = None;
        match t.state {
            TxnState::Approved => {
                self.state = ProcessState::CompletedOk.to_string();
            }
            TxnState::Declined(d) => {
                self.state = ProcessState::Failed.to_string();
                self.decline = Some(d);
            }
            TxnState::PendingChallenge => {
                self.state = ProcessState::InProgress.to_string();
            }
            TxnState::Voided => {
                self.state = ProcessState::Failed.to_string();
                self.code
                    .get_or_insert_with(|| CompletionCode::PaymtCancelled.to_string());
            }
        }
    }

    /// The `SCCD-Auth` of a final record (named `name`).
    pub fn auth(&self, name: &str) -> Option<iotp::msg::model::PackagedContent> {
        let (action, reason) = match (self.process_state(), self.decline) {
            (ProcessState::CompletedOk, _) => (Action::Approve, "00"),
            (ProcessState::Failed, Some(d)) => (Action::Decline, d.reason()),
            (ProcessState::Failed, None) => (Action::Decline, "17"),
            _ => return None,
        };
        let auth = Auth {
            card_type: self.card_type.clone(),
            truncated: self.truncated.clone(),
            expiry: Expiry {
                year: self.expiry.0,
                month: self.expiry.1,
            },
            transaction: ecml::Transaction {
                amount: self.amount.clone(),
                currency: self.currency.clone(),
                kind: self.kind,
                references: self.refund_of.clone().into_iter().collect(),
            },
            reference: self.reference.clone(),
            acquire: crate::processor::ACQUIRER.into(),
            approval: self.approval.clone().filter(|_| action == Action::Approve),
            action,
            reason: reason.into(),
        };
        Some(auth.packaged(name))
    }

    /// The answer to a Payment Request or Exchange in this record's state.
    fn step(&self) -> SchemeStep {
        match &self.challenge {
            Some(c) if !self.is_final() => SchemeStep::more(vec![
                Challenge {
                    nonce: c.nonce.clone(),
                    method: ecml::CHALLENGE_METHOD.into(),
                    card: self.truncated.clone(),
                }
                .packaged(),
            ]),
            _ => SchemeStep::end(self.auth(ecml::AUTH).into_iter().collect()),
        }
    }
}

/// The key of the card tokens, made once per Payment Handler.
fn token_key(host: &dyn BridgeHost) -> ApiResult<Vec<u8>> {
    const KEY: &str = "handler/token-key";
    if let Some(k) = host.kv_get(KEY)? {
        return Ok(k);
    }
    let mut k = vec![0u8; 32];
    host.random(&mut k);
    host.kv_insert_if_absent(KEY, &k)?;
    host.kv_get(KEY)?.ok_or_else(damaged)
}

/// The SCCD-Accept the Merchant offered for this card type, if it offered any.
fn accept_for(
    pcs: &[iotp::msg::model::PackagedContent],
    card_type: CardType,
) -> ApiResult<Option<Accept>> {
    let mut offered = false;
    for pc in pcs
        .iter()
        .filter(|p| p.name.as_deref() == Some(ecml::ACCEPT))
    {
        offered = true;
        let a = Accept::read(pc).map_err(|e| encap(&format!("SCCD-Accept: {e}")))?;
        if CardType::from_ecml(&a.card_type) == Some(card_type) {
            return Ok(Some(a));
        }
    }
    Ok((!offered).then(|| Accept::standard(card_type)))
}

/// `StartPaymentPaymentHandler`.
pub fn start(
    processor: &Processor,
    host: &dyn BridgeHost,
    r: &StartPaymentPaymentHandler,
) -> ApiResult<SchemeStep> {
    let pay_id = r.payment_handler_pay_id.as_str();
    if pay_id.is_empty() {
        return Err(ApiError::illegal_value(
            "PaymentHandlerPayId",
            "the PayId is empty",
        ));
    }
    // A payment started before (a retransmitted, resumed or re-processed Payment Request) is
    // answered from its record: never authorised twice.
    if let Some(record) = HandlerRecord::load(host, pay_id)? {
        return Ok(record.step());
    }
    if r.protocol_id != PROTOCOL_ID {
        return Err(ApiError::illegal_value(
            "ProtocolId",
            format!("this bridge speaks {PROTOCOL_ID}, not {}", r.protocol_id),
        ));
    }
    let pc = ecml::find(&r.pay_scheme, ecml::CARD)
        .ok_or_else(|| encap("the Payment Request has no SCCD-Card"))?;
    let m = CardMessage::read(pc).map_err(|e| encap(&format!("SCCD-Card: {e}")))?;
    // The card's transaction is the selected CurrencyAmount, in the Brand List's direction.
    let same_amount = Money::parse(&m.transaction.amount).is_some()
        && Money::parse(&m.transaction.amount) == Money::parse(&r.amount.amount);
    if !same_amount || m.transaction.currency != r.amount.curr_code {
        return Err(encap(
            "SCCD-Card: the Transaction's Amount or Currency differs from the selected CurrencyAmount",
        ));
    }
    if m.transaction.kind != TxnType::of(&r.amount.pay_direction) {
        return Err(encap(&format!(
            "SCCD-Card: the Transaction's Type is {}, the payment is {}",
            m.transaction.kind.as_str(),
            r.amount.pay_direction
        )));
    }
    if !m.transaction.references.is_empty() && m.transaction.kind == TxnType::Debit {
        return Err(encap(
            "SCCD-Card: a debit names no authorisation (Id/@Reference is for refunds)",
        ));
    }
    let brand = CardType::from_brand_id(&r.brand_id);
    if let Some(b) = brand
        && let Some(accept) = accept_for(&r.offer.pay_protocol, b)?
    {
        let missing = accept.missing(&m);
        if !missing.is_empty() {
            return Err(encap(&format!(
                "SCCD-Card lacks {}, which the Merchant's SCCD-Accept asks for",
                missing.join(", ")
            )));
        }
    }
    let now = host.now_unix_millis();
    let local = match brand {
        None => Some(Decline::BrandNotSupported),
        Some(b) if m.card.known_type() != Some(b) || m.card.number.network() != Some(b) => {
            Some(Decline::BrandMismatch)
        }
        Some(_) if !m.card.number.luhn_ok() => Some(Decline::InvalidNumber),
        Some(_) if m.card.expiry.is_expired(now) => Some(Decline::Expired),
        Some(b)
            if m.card
                .verification
                .as_ref()
                .is_some_and(|v| v.len() != b.verification_digits()) =>
        {
            Some(Decline::VerificationMismatch)
        }
        Some(_) => None,
    };
    let card_token = token(&token_key(host)?, &m.card.number);
    let mut record = HandlerRecord {
        state: ProcessState::InProgress.to_string(),
        decline: None,
        code: None,
        brand_id: r.brand_id.clone(),
        card_type: m.card.card_type.to_ascii_uppercase(),
        truncated: m.card.number.truncated(),
        expiry: (m.card.expiry.year, m.card.expiry.month),
        token: card_token.clone(),
        amount: m.transaction.amount.clone(),
        currency: m.transaction.currency.clone(),
        kind: m.transaction.kind,
        refund_of: None,
        reference: reference_of(pay_id),
        approval: None,
        challenge: None,
    };
    if let Some(d) = local {
        record.state = ProcessState::Failed.to_string();
        record.decline = Some(d);
    } else {
        let reply = host.callback(&CallBack {
            content_software_id: Some(crate::SOFTWARE_ID.into()),
            pay_id: pay_id.to_owned(),
            process_state: Some(PaymentState::Iotp(ProcessState::InProgress)),
            percent_complete: Some(50),
            completion_code: None,
            status_desc: Some("authorising with the card processor".into()),
        });
        if let CallBackReply::Cancel(code) = reply {
            record.state = ProcessState::Failed.to_string();
            record.code = Some(code.to_string());
        } else {
            let t = processor.authorise(
                host,
                &AuthRequest {
                    pay_id,
                    pan: &m.card.number,
                    verification: m.card.verification.as_deref(),
                    token: &card_token,
                    amount: Money::parse(&m.transaction.amount).unwrap_or(Money(0)),
                    currency: &m.transaction.currency,
                    kind: m.transaction.kind,
                    refund_of: &m.transaction.references,
                },
            )?;
            record.apply(&t);
            if t.state == TxnState::PendingChallenge {
                let mut n = [0u8; 16];
                host.random(&mut n);
                let nonce = hex(&n);
                let expected = challenge_answer(&m.card.number, &nonce);
                record.challenge = Some(PendingChallenge {
                    nonce,
                    answer_digest: hex(&digest(&[expected.as_bytes()])),
                    refund_of: m.transaction.references.clone(),
                });
            }
        }
    }
    if !host.kv_insert_if_absent(&key(pay_id), &record.bytes()?)? {
        // Another request for this payment wrote first: its record answers.
        let first = HandlerRecord::load(host, pay_id)?.ok_or_else(damaged)?;
        return Ok(first.step());
    }
    log(
        host,
        LogLevel::Info,
        &format!(
            "SCCD payment {pay_id}: {} {} {} with {} {}: {}{}",
            record.kind.as_str(),
            record.amount,
            record.currency,
            record.card_type,
            record.truncated,
            record.state,
            record
                .decline
                .map(|d| format!(" ({})", d.text()))
                .unwrap_or_default()
        ),
    );
    Ok(record.step())
}

/// `ContinueProcess` at the Payment Handler: the answer to the step-up challenge.
pub fn continue_payment(
    processor: &Processor,
    host: &dyn BridgeHost,
    r: &ContinueProcess,
    mut record: HandlerRecord,
) -> ApiResult<SchemeStep> {
    if record.is_final() {
        return Ok(record.step());
    }
    let Some(pending) = record.challenge.clone() else {
        return Ok(record.step());
    };
    let passed = if r.from_hard_error {
        false
    } else {
        let pc = ecml::find(&r.pay_scheme, ecml::CHALLENGE_RESP)
            .ok_or_else(|| encap("the Payment Exchange has no SCCD-ChallengeResp"))?;
        let answer =
            ChallengeResp::read(pc).map_err(|e| encap(&format!("SCCD-ChallengeResp: {e}")))?;
        if answer.nonce != pending.nonce {
            return Err(encap(
                "SCCD-ChallengeResp answers another challenge (its Nonce differs)",
            ));
        }
        hex(&digest(&[answer.answer.as_bytes()])) == pending.answer_digest
    };
    let t = processor.complete_challenge(host, &r.pay_id, passed, &pending.refund_of)?;
    record.apply(&t);
    record.save(host, &r.pay_id)?;
    log(
        host,
        LogLevel::Info,
        &format!(
            "SCCD payment {}: step-up {}; {}",
            r.pay_id,
            if passed { "passed" } else { "failed" },
            record.state
        ),
    );
    Ok(record.step())
}

/// `ChangeProcessState` at the Payment Handler: a final state stays; a payment waiting for
/// its step-up is voided at the processor.
pub fn change(
    processor: &Processor,
    host: &dyn BridgeHost,
    r: &ChangeProcessState,
    mut record: HandlerRecord,
) -> ApiResult<StatusInfo> {
    if record.is_final() {
        return Ok(record.status());
    }
    let wanted = r.process_state.to_wire();
    if wanted == ProcessState::CompletedOk {
        // Only the processor completes a payment.
        return Ok(record.status());
    }
    if matches!(wanted, ProcessState::Failed | ProcessState::ProcessError) {
        processor.void(host, &r.pay_id)?;
        if let Some(t) = processor.lookup(host, &r.pay_id)?
            && t.state != TxnState::Voided
            && t.state != TxnState::PendingChallenge
        {
            // The processor finished first: its answer stands.
            record.apply(&t);
        } else {
            record.state = wanted.to_string();
            record.challenge = None;
            record.code = Some(
                r.completion_code
                    .clone()
                    .unwrap_or(CompletionCode::Unspecified)
                    .to_string(),
            );
        }
    }
    record.save(host, &r.pay_id)?;
    Ok(record.status())
}

/// `InquirePaymentStatus`: the state and an `SCCD-Status`.
pub fn inquire(
    host: &dyn BridgeHost,
    r: &InquirePaymentStatus,
) -> ApiResult<InquirePaymentStatusResponse> {
    let record = HandlerRecord::load(host, &r.payment_handler_pay_id)?.ok_or_else(|| {
        ApiError::illegal_value(
            "PaymentHandlerPayId",
            format!("no SCCD payment {}", r.payment_handler_pay_id),
        )
    })?;
    Ok(InquirePaymentStatusResponse {
        payment_handler_pay_id: Some(r.payment_handler_pay_id.clone()),
        status: record.status(),
        pay_scheme: record.auth(ecml::STATUS).into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_for_picks_the_card_types_query() {
        let pcs = vec![
            Accept::standard(CardType::Visa).packaged(),
            Accept {
                verification: false,
                ..Accept::standard(CardType::Amex)
            }
            .packaged(),
        ];
        assert_eq!(
            accept_for(&pcs, CardType::Amex)
                .ok()
                .flatten()
                .map(|a| a.verification),
            Some(false)
        );
        assert_eq!(accept_for(&pcs, CardType::MasterCard).ok(), Some(None));
        assert_eq!(
            accept_for(&[], CardType::MasterCard).ok().flatten(),
            Some(Accept::standard(CardType::MasterCard))
        );
    }
}
