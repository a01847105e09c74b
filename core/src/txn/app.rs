//! What IOTP leaves to the business, supplied by the embedding application (DESIGN.md §3):
//! the Merchant's offer, the Delivery Handler's fulfilment, the Consumer's choices.

use serde::{Deserialize, Serialize};

use crate::msg::codes::{CompletionCode, DelivMethod, PayDirection, TransactionType};

/// The Merchant's offer: what one transaction sells, buys, refunds or exchanges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// `IotpTransType`: BaselinePurchase, BaselineRefund, BaselineDeposit, BaselineWithdrawal,
    /// BaselineValueExchange or BaselineAuthentication.
    pub trans_type: String,
    /// Brand dependent (TPO, then TPO Selection, then Offer Response) or brand independent
    /// (TPO and Offer Response together), §9.1.2.
    pub brand_dependent: bool,
    /// Run an Authentication Document Exchange first (§9.1.13); implied for
    /// BaselineAuthentication.
    pub authenticate_first: bool,
    /// `ProtocolOptions/@ShortDesc`.
    pub short_desc: String,
    /// `Order/@OrderIdentifier`.
    pub order_identifier: String,
    /// The order's description (`Order/@ShortDesc` and its PackagedContent).
    pub order_desc: String,
    /// `Order/@ApplicableLaw`.
    pub applicable_law: String,
    /// The Consumer's organisation as the Merchant knows it (`OrgId` `Consumer:…`).
    pub consumer_org_id: String,
    /// The Consumer's display name.
    pub consumer_name: String,
    /// Where the goods go (the DelivTo PostalAddress; needed for delivery by Post, §7.13.1).
    #[serde(default)]
    pub deliver_to: Option<super::config::Address>,
    /// One payment, or two for a value exchange (the second starts after the first).
    pub payments: Vec<PaymentOffer>,
    /// The delivery, if any (purchases only).
    pub delivery: Option<DeliveryOffer>,
    /// How long the offer is good for.
    pub valid_for_secs: i64,
    /// For refunds: the IotpTransId of the purchase refunded, linked by a RelatedTo
    /// component (§3.3.3).
    #[serde(default)]
    pub related_trans_id: Option<String>,
}

impl Offer {
    /// The transaction type as a code.
    pub fn transaction_type(&self) -> TransactionType {
        TransactionType::from_wire(&self.trans_type)
    }
}

/// One payment of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentOffer {
    /// Debit (the Consumer pays) or Credit (the Consumer is paid).
    pub direction: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Decimal amount in major units.
    pub amount: String,
    /// `BrandList/@ShortDesc`.
    pub short_desc: String,
}

impl PaymentOffer {
    /// The direction as a code.
    pub fn pay_direction(&self) -> PayDirection {
        PayDirection::from_wire(&self.direction)
    }
}

/// The delivery of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryOffer {
    /// `DelivMethod`: Post, Web, Email.
    pub method: String,
    /// True when the Payment Handler answers with the Delivery Response too (§9.1.5); the
    /// Merchant, Payment Handler and Delivery Handler are then one organisation.
    pub deliv_and_pay_resp: bool,
    /// What is delivered, for the Delivery Handler.
    pub description: String,
}

impl DeliveryOffer {
    /// The method as a code.
    pub fn deliv_method(&self) -> DelivMethod {
        DelivMethod::from_wire(&self.method)
    }
}

/// The Merchant's decisions during a transaction.
pub trait MerchantApp: Send + Sync {
    /// A brand-dependent offer's TPO Selection arrived: accept it (the Offer Response follows),
    /// or refuse with a completion code (a Cancel Block with `MerchCancelled` or `Unspecified`).
    fn accept_selection(&self, offer: &Offer, brand_ids: &[String]) -> Result<(), CompletionCode> {
        let _ = (offer, brand_ids);
        Ok(())
    }
}

/// What a Delivery Handler is asked to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRequest {
    /// The transaction.
    pub iotp_trans_id: String,
    /// `Order/@OrderIdentifier`.
    pub order_identifier: String,
    /// `Order/@ShortDesc`.
    pub order_desc: String,
    /// `DeliveryData/@DelivMethod`.
    pub method: DelivMethod,
    /// The DelivTo organisation's `OrgId`.
    pub deliv_to: String,
}

/// The outcome of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    /// CompletedOk (with Shipped, ShipPending, … ) or Failed (PermNotAvail, Unspecified).
    pub ok: bool,
    /// The completion code (§7.16.3).
    pub completion_code: CompletionCode,
    /// `DelivHandlerDelivId`, e.g. a tracking number.
    pub deliv_handler_deliv_id: String,
    /// The Delivery Note for the Consumer.
    pub note: String,
}

/// The Delivery Handler's fulfilment.
pub trait DeliveryApp: Send + Sync {
    /// Performs (or schedules) the delivery.
    fn deliver(&self, request: &DeliveryRequest) -> DeliveryResult {
        DeliveryResult {
            ok: true,
            completion_code: CompletionCode::Shipped,
            deliv_handler_deliv_id: format!("DLV-{}", request.order_identifier),
            note: format!("{} is on its way.", request.order_desc),
        }
    }
}

/// One way the Consumer can pay one Brand List: a brand, a protocol, an amount and an
/// instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOption {
    /// `Brand/@BrandId`.
    pub brand_id: String,
    /// `PayProtocol/@ProtocolId`.
    pub protocol_id: String,
    /// Amount and currency.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// A payment instrument the bridge offers (`Id`), or `None` when it makes no distinction.
    pub instrument_id: Option<String>,
    /// Its name for display.
    pub instrument_name: Option<String>,
}

/// What the Consumer sees of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferSummary {
    /// The transaction.
    pub iotp_trans_id: String,
    /// Its type.
    pub trans_type: TransactionType,
    /// `ProtocolOptions/@ShortDesc`.
    pub short_desc: String,
    /// The merchant's `OrgId`.
    pub merchant: String,
    /// `Order/@ShortDesc` when the Offer Response is known.
    pub order_desc: Option<String>,
}

/// The Consumer's decisions.
pub trait ConsumerApp: Send + Sync {
    /// Picks one of the options for a Brand List (index into `options`), or `None` to cancel
    /// (`ConsCancelled`). The default takes the first.
    fn choose(
        &self,
        offer: &OfferSummary,
        direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        let _ = (offer, direction);
        (!options.is_empty()).then_some(0)
    }

    /// Approves the offer before paying (§9.1.2 step 5); `false` cancels with `ConsCancelled`.
    fn approve(&self, offer: &OfferSummary) -> bool {
        let _ = offer;
        true
    }

    /// Agrees to authenticate to the organisation that asks (§9.1.1); `false` cancels with
    /// `AutEeCancel`.
    fn consent_to_authenticate(&self, authenticator: &str) -> bool {
        let _ = authenticator;
        true
    }
}

/// The default applications: accept every selection, deliver everything (`Shipped`), choose
/// the first option and approve every offer.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultApp;

impl MerchantApp for DefaultApp {}
impl DeliveryApp for DefaultApp {}
impl ConsumerApp for DefaultApp {}
