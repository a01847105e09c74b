//! What an application fills in during a callback: the offer ([`iotp_offer`]) and the outcome
//! of a delivery ([`iotp_delivery_result`]), both lent for the callback only.

use std::ffi::c_char;

use iotp::msg::codes::{CompletionCode, PayDirection, TransactionType};
use iotp::txn::config::Address;
use iotp::txn::{DeliveryOffer, DeliveryResult, Offer, PaymentOffer};

use crate::handle::{Handle, borrow_mut, guard, opt_str_arg, str_arg};
use crate::result::{Failure, iotp_result};

/// The offer being described in an offer callback. Lent by the library for the duration of
/// the callback only; never freed by the application. Starts as a BaselinePurchase, brand
/// independent, valid for an hour, with nothing else set.
pub struct iotp_offer {
    pub(crate) offer: Offer,
}

impl std::fmt::Debug for iotp_offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.offer.fmt(f)
    }
}

impl Handle for iotp_offer {
    const KIND: &'static str = "iotp_offer";
}

impl iotp_offer {
    pub(crate) fn new() -> iotp_offer {
        iotp_offer {
            offer: Offer {
                trans_type: TransactionType::BaselinePurchase.to_string(),
                brand_dependent: false,
                authenticate_first: false,
                short_desc: String::new(),
                order_identifier: String::new(),
                order_desc: String::new(),
                applicable_law: String::new(),
                consumer_org_id: String::new(),
                consumer_name: String::new(),
                deliver_to: None,
                payments: Vec::new(),
                delivery: None,
                valid_for_secs: 3600,
                related_trans_id: None,
            },
        }
    }
}

/// Runs a setter on the offer behind `offer`.
fn with_offer(
    offer: *mut iotp_offer,
    set: impl FnOnce(&mut Offer) -> Result<(), Failure>,
) -> iotp_result {
    guard(|| set(&mut borrow_mut(offer, "offer")?.offer))
}

pub(crate) fn invalid(detail: String) -> Failure {
    Failure::new(iotp_result::InvalidParameter, detail)
}

/// Sets the transaction type: `BaselinePurchase` (the default), `BaselineRefund`,
/// `BaselineDeposit`, `BaselineWithdrawal`, `BaselineValueExchange` or
/// `BaselineAuthentication`.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_trans_type(
    offer: *mut iotp_offer,
    trans_type: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let text = str_arg(trans_type, "trans_type")?;
        let known = [
            TransactionType::BaselinePurchase,
            TransactionType::BaselineRefund,
            TransactionType::BaselineDeposit,
            TransactionType::BaselineWithdrawal,
            TransactionType::BaselineValueExchange,
            TransactionType::BaselineAuthentication,
        ];
        if !known.contains(&TransactionType::from_wire(text)) {
            return Err(invalid(format!(
                "{text:?} is not a transaction an offer starts"
            )));
        }
        o.trans_type = text.to_owned();
        Ok(())
    })
}

/// Sets the order: its identifier (`Order/@OrderIdentifier`, unique per order) and its
/// description (`Order/@ShortDesc`), which is also the offer's short description
/// (`ProtocolOptions/@ShortDesc`) unless `iotp_offer_set_short_desc` sets another.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_order(
    offer: *mut iotp_offer,
    identifier: *const c_char,
    description: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let identifier = str_arg(identifier, "identifier")?;
        let description = str_arg(description, "description")?;
        if identifier.is_empty() {
            return Err(invalid("identifier is empty".into()));
        }
        o.order_identifier = identifier.to_owned();
        o.order_desc = description.to_owned();
        if o.short_desc.is_empty() {
            o.short_desc = description.to_owned();
        }
        Ok(())
    })
}

/// Sets the offer's short description (`ProtocolOptions/@ShortDesc`).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_short_desc(
    offer: *mut iotp_offer,
    short_desc: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.short_desc = str_arg(short_desc, "short_desc")?.to_owned();
        Ok(())
    })
}

/// Sets the law that applies to the order (`Order/@ApplicableLaw`).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_applicable_law(
    offer: *mut iotp_offer,
    applicable_law: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.applicable_law = str_arg(applicable_law, "applicable_law")?.to_owned();
        Ok(())
    })
}

/// Sets the Consumer as the Merchant knows it: its `OrgId` (`Consumer:...`) and display name.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_consumer(
    offer: *mut iotp_offer,
    org_id: *const c_char,
    name: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.consumer_org_id = str_arg(org_id, "org_id")?.to_owned();
        o.consumer_name = str_arg(name, "name")?.to_owned();
        Ok(())
    })
}

/// Brand dependent (TPO, then TPO Selection, then Offer Response) or brand independent (the
/// default: TPO and Offer Response together), §9.1.2.
///
/// Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_brand_dependent(
    offer: *mut iotp_offer,
    brand_dependent: bool,
) -> iotp_result {
    with_offer(offer, |o| {
        o.brand_dependent = brand_dependent;
        Ok(())
    })
}

/// Runs an Authentication Document Exchange first (§9.1.13) when true (default false).
///
/// Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_authenticate_first(
    offer: *mut iotp_offer,
    authenticate_first: bool,
) -> iotp_result {
    with_offer(offer, |o| {
        o.authenticate_first = authenticate_first;
        Ok(())
    })
}

/// How long the offer is good for, in seconds (default 3600; must be positive).
///
/// Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_valid_for(offer: *mut iotp_offer, seconds: i64) -> iotp_result {
    with_offer(offer, |o| {
        if seconds <= 0 {
            return Err(invalid(format!("{seconds} seconds is not positive")));
        }
        o.valid_for_secs = seconds;
        Ok(())
    })
}

/// Adds a payment: `direction` `Debit` (the Consumer pays) or `Credit` (the Consumer is
/// paid), an ISO 4217 `currency`, a decimal `amount` in major units (`39.90`), and the Brand
/// List's `short_desc`. One payment, or two for a value exchange (in order).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_add_payment(
    offer: *mut iotp_offer,
    direction: *const c_char,
    currency: *const c_char,
    amount: *const c_char,
    short_desc: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let direction = str_arg(direction, "direction")?;
        if matches!(PayDirection::from_wire(direction), PayDirection::Other(_)) {
            return Err(invalid(format!(
                "direction {direction:?} is not Debit or Credit"
            )));
        }
        o.payments.push(PaymentOffer {
            direction: direction.to_owned(),
            currency: str_arg(currency, "currency")?.to_owned(),
            amount: str_arg(amount, "amount")?.to_owned(),
            short_desc: str_arg(short_desc, "short_desc")?.to_owned(),
        });
        Ok(())
    })
}

/// Sets the delivery (purchases only): the method (`Post`, `Web`, `Email`), whether the
/// Payment Handler answers with the Delivery Response too (§9.1.5: Merchant, Payment Handler
/// and Delivery Handler are then one organisation), and what is delivered.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_delivery(
    offer: *mut iotp_offer,
    method: *const c_char,
    deliv_and_pay_resp: bool,
    description: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.delivery = Some(DeliveryOffer {
            method: str_arg(method, "method")?.to_owned(),
            deliv_and_pay_resp,
            description: str_arg(description, "description")?.to_owned(),
        });
        Ok(())
    })
}

/// Sets where the goods go (the DelivTo postal address, needed for delivery by Post). Every
/// part may be NULL.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_deliver_to(
    offer: *mut iotp_offer,
    address_line1: *const c_char,
    city_or_town: *const c_char,
    state_or_region: *const c_char,
    postal_code: *const c_char,
    country: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let part = |p, name| opt_str_arg(p, name).map(|s| s.map(str::to_owned));
        o.deliver_to = Some(Address {
            address_line1: part(address_line1, "address_line1")?,
            city_or_town: part(city_or_town, "city_or_town")?,
            state_or_region: part(state_or_region, "state_or_region")?,
            postal_code: part(postal_code, "postal_code")?,
            country: part(country, "country")?,
        });
        Ok(())
    })
}

/// For a refund: the `IotpTransId` of the purchase refunded (a RelatedTo component, §3.3.3).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_related_transaction(
    offer: *mut iotp_offer,
    iotp_trans_id: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.related_trans_id = Some(str_arg(iotp_trans_id, "iotp_trans_id")?.to_owned());
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Delivery results (lent to the delivery callback)

/// The outcome of a delivery, set in a delivery callback. Lent by the library for the duration
/// of the callback only; never freed by the application.
#[derive(Debug)]
pub struct iotp_delivery_result {
    pub(crate) result: DeliveryResult,
}

impl Handle for iotp_delivery_result {
    const KIND: &'static str = "iotp_delivery_result";
}

/// Says how the delivery went: `ok` (CompletedOk) or not (Failed), the completion code
/// (§7.16.3: `Shipped`, `ShipPending`, `PermNotAvail`, `Unspecified`, ...), the Delivery
/// Handler's id for it (a tracking number) and the Delivery Note for the Consumer. A NULL
/// string keeps the default's.
///
/// Ownership: strings are copied. Thread safety: only inside the delivery callback, on its
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_delivery_result_set(
    result: *mut iotp_delivery_result,
    ok: bool,
    completion_code: *const c_char,
    deliv_handler_deliv_id: *const c_char,
    note: *const c_char,
) -> iotp_result {
    guard(|| {
        let result = &mut borrow_mut(result, "result")?.result;
        let code = opt_str_arg(completion_code, "completion_code")?;
        let id = opt_str_arg(deliv_handler_deliv_id, "deliv_handler_deliv_id")?;
        let note = opt_str_arg(note, "note")?;
        result.ok = ok;
        if let Some(code) = code {
            result.completion_code = CompletionCode::from_wire(code);
        }
        if let Some(id) = id {
            result.deliv_handler_deliv_id = id.to_owned();
        }
        if let Some(note) = note {
            result.note = note.to_owned();
        }
        Ok(())
    })
}
