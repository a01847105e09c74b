//! The Consumer's part: instruments from the [wallet](crate::wallet), the `SCCD-Card` of the
//! Payment Request, the answer to a step-up challenge, and the checks of the `SCCD-Auth`
//! receipt.

use iotp::msg::codes::{CompletionCode, PayDirection, ProcessState};
use iotp::payapi::*;

use crate::card::{CardType, Money};
use crate::ecml::{self, Action, Auth, CardMessage, Challenge, Transaction, TxnType};
use crate::processor::Decline;
use crate::wallet::{self, ConsumerRecord, WalletCard};
use crate::{PROTOCOL_ID, encap, status_of};

/// The wallet cards the Consumer may pay a brand with: its type, and the type the Merchant's
/// `SCCD-Accept` names when it names one.
fn cards_for(
    host: &dyn BridgeHost,
    brand_id: &str,
    protocol_id: &str,
    offer: &OfferContent,
) -> ApiResult<Vec<WalletCard>> {
    let Some(brand) = CardType::from_brand_id(brand_id) else {
        return Ok(Vec::new());
    };
    if protocol_id != PROTOCOL_ID {
        return Ok(Vec::new());
    }
    let accepted: Vec<Option<CardType>> = offer
        .pay_protocol
        .iter()
        .filter(|p| p.name.as_deref() == Some(ecml::ACCEPT))
        .map(|p| {
            ecml::Accept::read(p)
                .ok()
                .and_then(|a| CardType::from_ecml(&a.card_type))
        })
        .collect();
    Ok(wallet::cards(host)?
        .into_iter()
        .filter(|c| c.card_type() == Some(brand))
        .filter(|c| accepted.is_empty() || accepted.contains(&c.card_type()))
        .collect())
}

/// `FindPaymentInstrument`.
pub fn find_instruments(
    host: &dyn BridgeHost,
    r: &FindPaymentInstrument,
) -> ApiResult<FindPaymentInstrumentResponse> {
    Ok(FindPaymentInstrumentResponse {
        instruments: cards_for(host, &r.brand_id, &r.protocol_id, &r.offer)?
            .into_iter()
            .map(|c| PayInstrument {
                id: c.id().to_owned(),
                lang: Some("en".into()),
                pay_inst_name: c.display_name(),
            })
            .collect(),
    })
}

/// The card a payment uses: the instrument named, else the brand's first card.
fn chosen(
    host: &dyn BridgeHost,
    instrument: Option<&str>,
    brand_id: &str,
    protocol_id: &str,
    offer: &OfferContent,
) -> ApiResult<WalletCard> {
    let cards = cards_for(host, brand_id, protocol_id, offer)?;
    let card = match instrument {
        Some(id) => cards.into_iter().find(|c| c.id() == id).ok_or_else(|| {
            ApiError::illegal_value(
                "PaymentInstrumentId",
                format!(
                    "the SCCD wallet has no {brand_id} card {id} that the Merchant takes with {protocol_id}"
                ),
            )
        })?,
        None => cards.into_iter().next().ok_or_else(|| {
            ApiError::illegal_value(
                "BrandId",
                format!("the SCCD wallet has no {brand_id} card for {protocol_id}"),
            )
        })?,
    };
    if card.card.expiry.is_expired(host.now_unix_millis()) {
        return Err(ApiError::illegal_value(
            "PaymentInstrumentId",
            format!("the card {} has expired", card.display_name()),
        ));
    }
    Ok(card)
}

/// `CheckPaymentPossibility`: the card exists, is of the brand and has not expired. SCCD adds
/// nothing to the Brand Selection.
pub fn check_possibility(
    host: &dyn BridgeHost,
    r: &CheckPaymentPossibility,
) -> ApiResult<CheckPaymentPossibilityResponse> {
    chosen(
        host,
        r.payment_instrument_id.as_deref(),
        &r.brand_id,
        &r.protocol_id,
        &r.offer,
    )?;
    Ok(CheckPaymentPossibilityResponse::default())
}

/// `StartPaymentConsumer`: the `SCCD-Card`. A credit names the latest debit of the card it may
/// refund (`Id/@Reference`), when the wallet has one.
pub fn start(host: &dyn BridgeHost, r: &StartPaymentConsumer) -> ApiResult<SchemeStep> {
    if r.consumer_pay_id.is_empty() {
        return Err(ApiError::illegal_value(
            "ConsumerPayId",
            "the PayId is empty",
        ));
    }
    let card = chosen(
        host,
        r.payment_instrument_id.as_deref(),
        &r.brand_id,
        &r.protocol_id,
        &r.offer,
    )?;
    let amount = Money::parse(&r.amount.amount).ok_or_else(|| {
        ApiError::illegal_value("Amount", format!("{} is not an amount", r.amount.amount))
    })?;
    let kind = TxnType::of(&r.amount.pay_direction);
    let refund_of = match kind {
        TxnType::Credit => wallet::refundable(host, card.id(), &r.amount.curr_code, amount)?,
        TxnType::Debit => Vec::new(),
    };
    let message = CardMessage {
        card: ecml::Card {
            id: None,
            ..card.card.clone()
        },
        bill_to: card.bill_to.clone(),
        transaction: Transaction {
            amount: r.amount.amount.clone(),
            currency: r.amount.curr_code.clone(),
            kind,
            references: refund_of.clone(),
        },
    };
    ConsumerRecord {
        state: ProcessState::InProgress.to_string(),
        code: None,
        instrument: card.id().to_owned(),
        brand_id: r.brand_id.clone(),
        last4: card.card.number.last4().to_owned(),
        amount: r.amount.amount.clone(),
        currency: r.amount.curr_code.clone(),
        kind,
        refund_candidates: refund_of,
        refunded: None,
        reference: None,
        approval: None,
    }
    .save(host, &r.consumer_pay_id)?;
    Ok(SchemeStep::more(vec![message.packaged()]))
}

/// `ContinueProcess` at the Consumer: answers a challenge, or takes the `SCCD-Auth`.
pub fn continue_payment(
    host: &dyn BridgeHost,
    r: &ContinueProcess,
    mut record: ConsumerRecord,
) -> ApiResult<SchemeStep> {
    if r.from_hard_error || r.process_type == ProcessType::Inquiry {
        return Ok(SchemeStep::end(Vec::new()));
    }
    if let Some(pc) = ecml::find(&r.pay_scheme, ecml::CHALLENGE) {
        let challenge = Challenge::read(pc).map_err(|e| encap(&format!("SCCD-Challenge: {e}")))?;
        if challenge.method != ecml::CHALLENGE_METHOD {
            return Err(encap(&format!(
                "SCCD-Challenge: the wallet cannot answer the method {}",
                challenge.method
            )));
        }
        let card = wallet::card(host, &record.instrument)?.ok_or_else(|| {
            ApiError::illegal_value("PayId", "the payment's card is no longer in the wallet")
        })?;
        if !challenge.card.ends_with(card.card.number.last4()) {
            return Err(encap(
                "SCCD-Challenge names another card than the payment's",
            ));
        }
        return Ok(SchemeStep::more(vec![
            card.answer(&challenge.nonce).packaged(),
        ]));
    }
    let pc = ecml::find(&r.pay_scheme, ecml::AUTH)
        .ok_or_else(|| encap("expected SCCD-Challenge or SCCD-Auth"))?;
    let auth = Auth::read(pc).map_err(|e| encap(&format!("SCCD-Auth: {e}")))?;
    if let Some(why) = mismatch(&auth, &record) {
        return Err(encap(&format!("SCCD-Auth: {why}")));
    }
    if !PaymentState::Iotp(ProcessState::from_wire(&record.state)).is_final() {
        record.reference = Some(auth.reference.clone());
        record.refunded = auth.transaction.references.first().cloned();
        match auth.action {
            Action::Approve => {
                record.state = ProcessState::CompletedOk.to_string();
                record.approval = auth.approval.clone();
                wallet::book(host, &r.pay_id, &record)?;
            }
            Action::Decline => {
                record.state = ProcessState::Failed.to_string();
                record.code = Some(
                    Decline::from_reason(&auth.reason)
                        .map_or(CompletionCode::Unspecified, Decline::code)
                        .to_string(),
                );
            }
        }
        record.save(host, &r.pay_id)?;
    }
    Ok(SchemeStep::end(Vec::new()))
}

/// Why an `SCCD-Auth` is not about the Consumer's payment, if it is not.
fn mismatch(auth: &Auth, record: &ConsumerRecord) -> Option<String> {
    if Money::parse(&auth.transaction.amount) != Money::parse(&record.amount)
        || auth.transaction.currency != record.currency
    {
        return Some(format!(
            "the amount is {} {}, the payment's {} {}",
            auth.transaction.amount, auth.transaction.currency, record.amount, record.currency
        ));
    }
    if auth.transaction.kind != record.kind {
        return Some(format!(
            "it is a {}, the payment a {}",
            auth.transaction.kind.as_str(),
            record.kind.as_str()
        ));
    }
    if auth.last4() != record.last4 {
        return Some("it names another card than the payment's".into());
    }
    if let Some(r) = &record.reference
        && *r != auth.reference
    {
        return Some("its reference differs from the payment's".into());
    }
    if auth
        .transaction
        .references
        .iter()
        .any(|r| !record.refund_candidates.contains(r))
    {
        return Some("it books the credit against an authorisation the wallet did not name".into());
    }
    None
}

/// `CheckPaymentReceipt`: the receipt is an approval of this payment.
pub fn check_receipt(host: &dyn BridgeHost, r: &CheckPaymentReceipt) -> ApiResult<()> {
    let pc = ecml::find(&r.receipt, ecml::AUTH)
        .ok_or_else(|| ApiError::business("the receipt has no SCCD-Auth"))?;
    let auth =
        Auth::read(pc).map_err(|e| ApiError::business(format!("the receipt's SCCD-Auth: {e}")))?;
    if auth.action != Action::Approve {
        return Err(ApiError::business(
            "the receipt's SCCD-Auth is not an approval",
        ));
    }
    if let Some(record) = ConsumerRecord::load(host, &r.pay_id)?
        && let Some(why) = mismatch(&auth, &record)
    {
        return Err(ApiError::business(format!(
            "the receipt's SCCD-Auth: {why}"
        )));
    }
    Ok(())
}

/// `ExpandPaymentReceipt`: the receipt in readable form.
pub fn expand_receipt(
    host: &dyn BridgeHost,
    r: &ExpandPaymentReceipt,
) -> ApiResult<ExpandPaymentReceiptResponse> {
    let pc = ecml::find(&r.receipt, ecml::AUTH)
        .ok_or_else(|| ApiError::business("the receipt has no SCCD-Auth"))?;
    let auth =
        Auth::read(pc).map_err(|e| ApiError::business(format!("the receipt's SCCD-Auth: {e}")))?;
    let record = ConsumerRecord::load(host, &r.pay_id)?;
    let property = |t: &str, v: &str, d: &str| InstrumentProperty {
        property_type: t.into(),
        property_value: v.into(),
        property_desc: Some(d.into()),
    };
    let mut properties = vec![
        property("Card", &auth.truncated, "the card, truncated"),
        property("Action", auth.action.as_str(), "what the processor did"),
        property("Reason", &auth.reason, "the processor's response code"),
        property("Acquirer", &auth.acquire, "the acquirer"),
    ];
    if let Some(a) = &auth.approval {
        properties.push(property("Approval", a, "the approval code"));
    }
    if let Some(o) = auth.transaction.references.first() {
        properties.push(property("RefundOf", o, "the authorisation refunded"));
    }
    Ok(ExpandPaymentReceiptResponse {
        brand_id: CardType::from_ecml(&auth.card_type)
            .map(|t| t.brand_id().to_owned())
            .or_else(|| record.as_ref().map(|r| r.brand_id.clone())),
        payment_instrument_id: record.as_ref().map(|r| r.instrument.clone()),
        amount: Some(AmountInfo {
            pay_direction: match auth.transaction.kind {
                TxnType::Debit => PayDirection::Debit,
                TxnType::Credit => PayDirection::Credit,
            },
            curr_code_type: iotp::msg::codes::CurrCodeType::Iso4217A,
            curr_code: auth.transaction.currency.clone(),
            amount: auth.transaction.amount.clone(),
        }),
        time_stamp: None,
        protocol_id: Some(PROTOCOL_ID.into()),
        protocol_brand_id: None,
        protocol_trans_id: Some(auth.reference.clone()),
        consumer_desc: None,
        payment_handler_desc: Some(format!(
            "{} {} {} {}, {}",
            auth.transaction.kind.as_str(),
            auth.transaction.amount,
            auth.transaction.currency,
            auth.truncated,
            match &auth.approval {
                Some(a) => format!("approved ({a})"),
                None => format!("declined ({})", auth.reason),
            }
        )),
        style_sheet_net_locn: None,
        properties,
    })
}

/// `InquireProcessState` and `ChangeProcessState` at the Consumer.
pub fn status(record: &ConsumerRecord) -> StatusInfo {
    status_of(
        ProcessState::from_wire(&record.state),
        record.code.as_deref().map(CompletionCode::from_wire),
        None,
    )
}

/// `ChangeProcessState` at the Consumer: a final state stays.
pub fn change(
    host: &dyn BridgeHost,
    r: &ChangeProcessState,
    mut record: ConsumerRecord,
) -> ApiResult<StatusInfo> {
    if !PaymentState::Iotp(ProcessState::from_wire(&record.state)).is_final() {
        record.state = r.process_state.to_wire().to_string();
        record.code = r.completion_code.as_ref().map(ToString::to_string);
        record.save(host, &r.pay_id)?;
    }
    Ok(status(&record))
}
