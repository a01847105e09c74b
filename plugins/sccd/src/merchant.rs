//! The Merchant's part: the brands SCCD takes and, for each, the protocol `SCCD1.0` with its
//! `SCCD-Accept` (the card type and the fields the Payment Handler needs).
//!
//! No net location is offered: a shared library cannot know where its node's Payment Handler
//! is, so the engine takes the `PayReqNetLocn` from the Merchant's configuration of that
//! Payment Handler; SCCD needs that location to be `https:` (it becomes a
//! `SecPayReqNetLocn`), see the README.

use iotp::payapi::*;

use crate::PROTOCOL_ID;
use crate::card::{CardType, Money};
use crate::ecml::Accept;

/// True when SCCD can take this amount: an ISO 4217 code and a decimal amount.
fn payable(amount: &AmountInfo) -> bool {
    amount.curr_code.len() == 3
        && amount.curr_code.bytes().all(|b| b.is_ascii_uppercase())
        && Money::parse(&amount.amount).is_some()
}

fn brand_item(t: CardType) -> BrandItem {
    BrandItem {
        brand_id: t.brand_id().into(),
        lang: Some("en".into()),
        brand_name: t.brand_name().into(),
        brand_logo_net_locn: format!(
            "https://sccd.invalid/logos/{}.png",
            t.brand_id().to_ascii_lowercase()
        ),
        brand_narrative: None,
        content: Vec::new(),
    }
}

/// `FindAcceptedPaymentBrand`: Visa, Mastercard and American Express, when the amount is
/// payable.
pub fn find_brands(r: &FindAcceptedPaymentBrand) -> FindAcceptedPaymentBrandResponse {
    FindAcceptedPaymentBrandResponse {
        brands: if payable(&r.amount) {
            CardType::ALL.into_iter().map(brand_item).collect()
        } else {
            Vec::new()
        },
    }
}

/// `FindAcceptedPaymentProtocol`: `SCCD1.0` for the brand (or for all of them), with the
/// `SCCD-Accept` of each card type.
pub fn find_protocols(r: &FindAcceptedPaymentProtocol) -> FindAcceptedPaymentProtocolResponse {
    let types: Vec<CardType> = match &r.brand_id {
        Some(b) => CardType::from_brand_id(b).into_iter().collect(),
        None => CardType::ALL.to_vec(),
    };
    if types.is_empty() || !payable(&r.amount) {
        return FindAcceptedPaymentProtocolResponse::default();
    }
    FindAcceptedPaymentProtocolResponse {
        protocols: vec![ProtocolItem {
            protocol_id: PROTOCOL_ID.into(),
            protocol_brand_id: None,
            protocol_name: "Secure Channel Credit/Debit".into(),
            pay_req_net_locn: None,
            sec_pay_req_net_locn: None,
            protocol_amount_content: Vec::new(),
            pay_protocol_content: types
                .iter()
                .map(|t| Accept::standard(*t).packaged())
                .collect(),
            currency_amounts: vec![r.amount.clone()],
        }],
        brands: if r.brand_id.is_none() {
            types.into_iter().map(brand_item).collect()
        } else {
            Vec::new()
        },
    }
}

/// `GetPaymentInitializationData`: the Order as it is; SCCD sends the Payment Handler nothing
/// of its own (the amount it checks is the selected CurrencyAmount).
pub fn initialization_data(
    r: &GetPaymentInitializationData,
) -> ApiResult<GetPaymentInitializationDataResponse> {
    if r.protocol_id != PROTOCOL_ID {
        return Err(ApiError::illegal_value(
            "ProtocolId",
            format!("this bridge speaks {PROTOCOL_ID}, not {}", r.protocol_id),
        ));
    }
    if CardType::from_brand_id(&r.brand_id).is_none() {
        return Err(ApiError::illegal_value(
            "BrandId",
            format!("SCCD does not take the brand {}", r.brand_id),
        ));
    }
    Ok(GetPaymentInitializationDataResponse {
        ok_from: None,
        ok_to: None,
        order: r.offer.order.clone(),
        trading_role_data: Vec::new(),
    })
}
