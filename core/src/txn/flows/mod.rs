//! The baseline transactions (§9.1.6–§9.2.2), one module each, opening with the RFC's flow
//! and saying what each role does in it. The role state machines ([`super::consumer`],
//! [`super::merchant`], [`super::payment_handler`], [`super::delivery_handler`]) consult the
//! [`Flow`] of the transaction for what is allowed: which payments in which direction, whether
//! a delivery may follow, whether the Merchant starts it.
//!
//! Document exchanges combine as §9.1.12 says (decided by the Consumer from what it receives):
//!
//! ```text
//! first message has AuthReqBlk ─► Authentication exchange, then look at its last message:
//!     TPO + OfferResp ─► brand independent offer      TPO only ─► brand dependent offer
//!     neither          ─► authentication only (BaselineAuthentication, or a failed one)
//! no AuthReqBlk:   OfferResp in the first message ─► brand independent, else brand dependent
//! after the Offer Response:
//!     Delivery, DelivAndPayResp=True  ─► Payment-and-Delivery exchange      (Purchase only)
//!     Delivery, DelivAndPayResp=False ─► Payment, then Delivery             (Purchase only)
//!     no Delivery, 1 Payment          ─► one Payment exchange   (Purchase, Refund, Deposit, Withdrawal)
//!     no Delivery, 2 Payments         ─► two, ordered by StartAfterRefs     (Value Exchange only)
//! ```

use crate::msg::codes::{CompletionCode, PayDirection, TransactionType};
use crate::msg::model::Payment;

use super::app::Offer;

pub mod authentication;
pub mod deposit;
pub mod inquiry;
pub mod ping;
pub mod purchase;
pub mod refund;
pub mod value_exchange;
pub mod withdrawal;

/// What a baseline transaction allows.
#[derive(Debug)]
pub struct Flow {
    /// `IotpTransType`.
    pub trans_type: &'static str,
    /// The Merchant starts it with a TPO (everything but Inquiry and Ping).
    pub merchant_starts: bool,
    /// It has an Offer exchange (everything but Authentication, Inquiry and Ping).
    pub has_offer: bool,
    /// Its payments in order, with their direction as seen from the Consumer.
    pub payments: &'static [PayDirection],
    /// A Delivery may follow the payment.
    pub delivery_allowed: bool,
}

impl Flow {
    /// Checks an offer against the flow.
    pub fn check_offer(&self, offer: &Offer) -> Result<(), String> {
        if offer.payments.len() != self.payments.len() {
            return Err(format!(
                "a {} has {} payment(s), the offer has {}",
                self.trans_type,
                self.payments.len(),
                offer.payments.len()
            ));
        }
        for (p, d) in offer.payments.iter().zip(self.payments) {
            if &p.pay_direction() != d {
                return Err(format!(
                    "a {} payment is {d}, not {}",
                    self.trans_type, p.direction
                ));
            }
            if p.amount.is_empty() || p.currency.is_empty() {
                return Err("every payment needs an amount and a currency".into());
            }
        }
        if offer.delivery.is_some() && !self.delivery_allowed {
            return Err(format!("a {} has no delivery (§9.1.12)", self.trans_type));
        }
        Ok(())
    }

    /// The position of a payment in the flow: the second of a value exchange starts after
    /// the first.
    pub fn payment_index(&self, payment: &Payment) -> usize {
        usize::from(
            payment
                .start_after_refs
                .as_ref()
                .is_some_and(|r| !r.is_empty()),
        )
    }
}

/// The flow of a transaction type, if it is a baseline transaction.
pub fn flow(trans_type: &TransactionType) -> Option<&'static Flow> {
    [
        &purchase::FLOW,
        &refund::FLOW,
        &deposit::FLOW,
        &withdrawal::FLOW,
        &value_exchange::FLOW,
        &authentication::FLOW,
        &inquiry::FLOW,
        &ping::FLOW,
    ]
    .into_iter()
    .find(|f| f.trans_type == trans_type.as_str())
}

/// Payment completion codes after which the Consumer may try again with another brand or
/// instrument (§7.16.2).
pub fn recoverable_payment_code(code: &CompletionCode) -> bool {
    matches!(
        code,
        CompletionCode::BrandNotSupp
            | CompletionCode::CurrNotSupp
            | CompletionCode::InsuffFunds
            | CompletionCode::InstBrandInvalid
            | CompletionCode::InstNotValid
            | CompletionCode::BadInstrument
            | CompletionCode::Unspecified
            | CompletionCode::AuthError
    )
}
