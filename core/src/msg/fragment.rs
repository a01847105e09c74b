//! Fragments: a document whose root is an IOTP element other than `IotpMessage` (the RFC's own
//! examples are such fragments), checked against that element's declaration.

use super::element::{Codec, Ctx, ElementKind, Here, WireElement};
use super::model::*;
use crate::xml::reader::Tag;

macro_rules! fragment_roots {
    ($($ty:ident),+ $(,)?) => {
        /// Decodes `root` as the element it names, discarding the model (only problems matter).
        pub(crate) fn decode_fragment<'a>(ctx: &mut Ctx<'a>, root: Tag<'a>) {
            $(
                if root.name == <$ty as WireElement>::TAG {
                    let _ = <$ty as Codec>::decode(ctx, root);
                    return;
                }
            )+
            let here = Here { tag: root.name, kind: ElementKind::Message, id: None, offset: root.offset };
            ctx.error(
                super::codes::ErrorCode::XmlNotValid,
                &here,
                None,
                format!("{} is not an element of the IOTP DTD", root.name),
            );
            let _ = ctx.cur.skip_element(&root);
        }
    };
}

fragment_roots! {
    TransactionReferenceBlock, TransactionId, MessageId, RelatedTo, PackagedContent,
    ProtocolOptions, AuthenticationRequest, AuthenticationResponse, TradingRoleInfoRequest, Order,
    Organisation, TradingRoleElement, ContactInfo, PersonName, PostalAddress, BrandList, Brand,
    ProtocolBrand, ProtocolAmount, CurrencyAmount, PaymentProtocol, BrandSelection,
    BrandSelectionBrandInfo, BrandSelectionProtocolAmountInfo, BrandSelectionCurrencyAmountInfo,
    Payment, PaymentSchemeData, PaymentReceipt, PaymentNote, Delivery, DeliveryData,
    ConsumerDeliveryData, DeliveryNote, Status, TradingRoleData, InquiryTypeComponent,
    ErrorComponent, ErrorLocation, TradingProtocolOptionsBlock, TpoSelectionBlock,
    OfferResponseBlock, AuthenticationRequestBlock, AuthenticationResponseBlock,
    AuthenticationStatusBlock, PaymentRequestBlock, PaymentExchangeBlock, PaymentResponseBlock,
    DeliveryRequestBlock, DeliveryResponseBlock, InquiryRequestBlock, InquiryResponseBlock,
    PingRequestBlock, PingResponseBlock, ErrorBlock, CancelBlock, SignatureBlock, Signature,
    Manifest, Algorithm, AlgorithmParameter, Digest, SignatureAttribute, OriginatorInfo,
    RecipientInfo, KeyIdentifier, Certificate, IssuerAndSerialNumber, Value, Locator,
}
