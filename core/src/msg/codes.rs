//! The RFC's code lists as open enums (§12).
//!
//! Each list holds the RFC's values plus `Other(String)`, so a user code (`x-…`, §12.2) or a
//! value this implementation does not know survives a round trip unchanged. Where the RFC spells a
//! value two ways, both are accepted and the first is written (DESIGN.md §7).
//!
//! Some lists are closed by the DTD (an enumerated attribute type such as `ProcessState`): a value
//! outside them is a DTD violation (`AttValIllegal`). The others are open NMTOKENs managed by IANA
//! (§12.1): an unknown value that is not a user code is `AttValNotRecog`.

use std::fmt;

/// True when `value` is a user-defined code: `("x-" | "X-") NameChar+` (§12.2).
pub fn is_user_code(value: &str) -> bool {
    let rest = value
        .strip_prefix("x-")
        .or_else(|| value.strip_prefix("X-"));
    matches!(rest, Some(r) if !r.is_empty() && r.chars().all(crate::xml::is_name_char))
}

macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $closed:ident enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $wire, "`")] $variant, )+
            /// A value outside the RFC's list (a user code or an unknown value), kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every value the RFC defines, in the RFC's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Whether the DTD closes this list (values outside it are not valid XML).
            pub const DTD_CLOSED: bool = code_list!(@closed $closed);

            /// The value as written on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(s) => s,
                }
            }

            /// Reads a wire value; unknown values become `Other`.
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $($wire $(| $alias)* => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }

            /// True for one of the RFC's values (not `Other`).
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl Default for $name {
            /// The empty `Other` value, which stands for an absent required value.
            fn default() -> Self {
                $name::Other(String::new())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name::from_wire(value)
            }
        }

        impl crate::msg::element::CodeList for $name {
            const DTD_CLOSED: bool = $name::DTD_CLOSED;
            fn from_wire(value: &str) -> Self {
                $name::from_wire(value)
            }
            fn as_str(&self) -> &str {
                $name::as_str(self)
            }
            fn is_known(&self) -> bool {
                $name::is_known(self)
            }
        }
    };
    (@closed closed) => { true };
    (@closed open) => { false };
}

code_list! {
    /// `Status/@StatusType` (§7.16): the kind of document exchange a Status reports on.
    open enum StatusType {
        Offer = "Offer",
        Payment = "Payment",
        Delivery = "Delivery",
        Authentication = "Authentication",
        /// The exchange could not be identified. The IANA table (§12) says `Unidentified`, §7.16
        /// says `Undefined`; both are read.
        Unidentified = "Unidentified" | "Undefined",
    }
}

code_list! {
    /// `Status/@ProcessState` (§7.16).
    closed enum ProcessState {
        NotYetStarted = "NotYetStarted",
        InProgress = "InProgress",
        CompletedOk = "CompletedOk",
        Failed = "Failed",
        /// Only in an Inquiry Response: a technical error in the inquired request.
        ProcessError = "ProcessError",
    }
}

code_list! {
    /// `Status/@CompletionCode` (§7.16.1–7.16.6).
    open enum CompletionCode {
        AuthError = "AuthError",
        ConsCancelled = "ConsCancelled",
        MerchCancelled = "MerchCancelled",
        Unspecified = "Unspecified",
        TimedOutRcvr = "TimedOutRcvr",
        TimedOutNoRcvr = "TimedOutNoRcvr",
        BrandNotSupp = "BrandNotSupp",
        CurrNotSupp = "CurrNotSupp",
        /// `PaymtCancelled` (§7.16.2); `PaymCancelled` is read too.
        PaymtCancelled = "PaymtCancelled" | "PaymCancelled",
        InsuffFunds = "InsuffFunds",
        InstBrandInvalid = "InstBrandInvalid",
        InstNotValid = "InstNotValid",
        BadInstrument = "BadInstrument",
        BackOrdered = "BackOrdered",
        PermNotAvail = "PermNotAvail",
        TempNotAvail = "TempNotAvail",
        ShipPending = "ShipPending",
        Shipped = "Shipped",
        ShippedNoConf = "ShippedNoConf",
        /// `DelivCancelled` (§7.16.3); `DelivCanceled` (§9.1.4) is read too.
        DelivCancelled = "DelivCancelled" | "DelivCanceled",
        Confirmed = "Confirmed",
        AutEeCancel = "AutEeCancel",
        AutOrCancel = "AutOrCancel",
        NoAuthReq = "NoAuthReq",
        AuthFailed = "AuthFailed",
        TradRolesIncon = "TradRolesIncon",
        InMsgHardError = "InMsgHardError",
        UnAuthReq = "UnAuthReq",
    }
}

code_list! {
    /// `ErrorComp/@ErrorCode` (§7.21.2).
    open enum ErrorCode {
        Reserved = "Reserved",
        XmlNotWellFrmd = "XmlNotWellFrmd",
        XmlNotValid = "XmlNotValid",
        ElUnexpected = "ElUnexpected",
        ElNotSupp = "ElNotSupp",
        ElMissing = "ElMissing",
        ElContIllegal = "ElContIllegal",
        EncapProtErr = "EncapProtErr",
        AttUnexpected = "AttUnexpected",
        AttNotSupp = "AttNotSupp",
        AttMissing = "AttMissing",
        AttValIllegal = "AttValIllegal",
        AttValNotRecog = "AttValNotRecog",
        MsgTooLarge = "MsgTooLarge",
        ElTooLarge = "ElTooLarge",
        ValueTooSmall = "ValueTooSmall",
        ValueTooLarge = "ValueTooLarge",
        ElInconsistent = "ElInconsistent",
        TransportError = "TransportError",
        MsgBeingProc = "MsgBeingProc",
        SystemBusy = "SystemBusy",
        UnknownError = "UnknownError",
    }
}

code_list! {
    /// `ErrorComp/@Severity` (§7.21).
    closed enum Severity {
        Warning = "Warning",
        TransientError = "TransientError",
        HardError = "HardError",
    }
}

code_list! {
    /// `TradingRole/@TradingRole` (§7.6.2).
    open enum TradingRole {
        Consumer = "Consumer",
        Merchant = "Merchant",
        PaymentHandler = "PaymentHandler",
        DeliveryHandler = "DeliveryHandler",
        DelivTo = "DelivTo",
        CustCare = "CustCare",
    }
}

code_list! {
    /// `TransId/@IotpTransType` (§3.3.1, §12): the baseline transactions.
    open enum TransactionType {
        BaselineAuthentication = "BaselineAuthentication",
        BaselineDeposit = "BaselineDeposit",
        BaselinePurchase = "BaselinePurchase",
        BaselineRefund = "BaselineRefund",
        BaselineWithdrawal = "BaselineWithdrawal",
        BaselineValueExchange = "BaselineValueExchange",
        BaselineInquiry = "BaselineInquiry",
        BaselinePing = "BaselinePing",
    }
}

code_list! {
    /// `BrandList/@PayDirection` (§7.7).
    closed enum PayDirection {
        /// The sender of the Payment Request pays.
        Debit = "Debit",
        /// The sender of the Payment Request receives money.
        Credit = "Credit",
    }
}

code_list! {
    /// `DeliveryData/@DelivMethod` (§7.13.1).
    open enum DelivMethod {
        Post = "Post",
        Web = "Web",
        Email = "Email",
    }
}

code_list! {
    /// `InquiryType/@Type` (§7.18).
    open enum InquiryType {
        Offer = "Offer",
        Payment = "Payment",
        Delivery = "Delivery",
    }
}

code_list! {
    /// `PingRespBlk/@PingStatusCode` (§8.15).
    closed enum PingStatusCode {
        Ok = "Ok",
        Busy = "Busy",
        Down = "Down",
    }
}

code_list! {
    /// `PingRespBlk/@SigVerifyStatusCode` (§8.15).
    closed enum SigVerifyStatusCode {
        Ok = "Ok",
        NotSupported = "NotSupported",
        Fail = "Fail",
    }
}

code_list! {
    /// `RelatedTo/@RelationshipType` (§3.3.3).
    open enum RelationshipType {
        IotpTransaction = "IotpTransaction",
        Reference = "Reference",
    }
}

code_list! {
    /// `CurrencyAmount/@CurrCodeType` (§7.7.4).
    open enum CurrCodeType {
        /// ISO 4217 alphabetic currency codes (the default).
        Iso4217A = "ISO4217-A",
        /// IANA-registered IOTP pseudo-currencies.
        Iotp = "IOTP",
    }
}

code_list! {
    /// `PackagedContent/@Transform` (§3.7).
    closed enum Transform {
        None = "NONE",
        Base64 = "BASE64",
    }
}

code_list! {
    /// `Algorithm/@type` (RFC 2802).
    closed enum AlgorithmType {
        Digest = "digest",
        Signature = "signature",
    }
}

code_list! {
    /// `Value/@encoding` (RFC 2802).
    closed enum ValueEncoding {
        Base64 = "base64",
        None = "none",
    }
}

code_list! {
    /// The content of the signature `Attribute` naming the IOTP signature type (§7.19).
    open enum SignatureType {
        OfferResponse = "OfferResponse",
        PaymentResponse = "PaymentResponse",
        DeliveryResponse = "DeliveryResponse",
        AuthenticationRequest = "AuthenticationRequest",
        AuthenticationResponse = "AuthenticationResponse",
        PingRequest = "PingRequest",
        PingResponse = "PingResponse",
    }
}

code_list! {
    /// The DTD's `(True | False)` flags.
    closed enum Flag {
        True = "True",
        False = "False",
    }
}

code_list! {
    /// The signature `Attribute/@critical` flag: `(true | false)`.
    closed enum Critical {
        True = "true",
        False = "false",
    }
}

impl Flag {
    /// The flag as a bool; an invalid value reads as false.
    pub fn is_true(&self) -> bool {
        matches!(self, Flag::True)
    }
}

impl From<bool> for Flag {
    fn from(value: bool) -> Self {
        if value { Flag::True } else { Flag::False }
    }
}

impl ErrorCode {
    /// The display text of the code: the first sentence of its description in §7.21.2.
    pub fn display_text(&self) -> &'static str {
        match self {
            ErrorCode::Reserved => "Reserved.",
            ErrorCode::XmlNotWellFrmd => "XML not well formed.",
            ErrorCode::XmlNotValid => "XML not valid.",
            ErrorCode::ElUnexpected => "Unexpected element.",
            ErrorCode::ElNotSupp => "Element not supported.",
            ErrorCode::ElMissing => "Element missing.",
            ErrorCode::ElContIllegal => "Element content illegal.",
            ErrorCode::EncapProtErr => "Encapsulated protocol error.",
            ErrorCode::AttUnexpected => "Unexpected attribute.",
            ErrorCode::AttNotSupp => "Attribute not supported.",
            ErrorCode::AttMissing => "Attribute missing.",
            ErrorCode::AttValIllegal => "Attribute value illegal.",
            ErrorCode::AttValNotRecog => "Attribute value not recognised.",
            ErrorCode::MsgTooLarge => "Message too large.",
            ErrorCode::ElTooLarge => "Element too large.",
            ErrorCode::ValueTooSmall => "Value too small or early.",
            ErrorCode::ValueTooLarge => "Value too large or in the future.",
            ErrorCode::ElInconsistent => "Element content inconsistent.",
            ErrorCode::TransportError => "Transport Error.",
            ErrorCode::MsgBeingProc => "Message being processed.",
            ErrorCode::SystemBusy => "System busy.",
            ErrorCode::UnknownError => "Unknown Error.",
            ErrorCode::Other(_) => "Error.",
        }
    }
}

impl Severity {
    /// Ordering for "act on the highest severity present" (§7.21.1.2).
    pub fn rank(&self) -> u8 {
        match self {
            Severity::Warning => 1,
            Severity::TransientError => 2,
            Severity::HardError => 3,
            Severity::Other(_) => 0,
        }
    }
}

/// `PackagedContent/@Content` (§3.7): how the content is to be interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ContentType {
    /// `PCDATA`: the content is used as it is (the default).
    #[default]
    Pcdata,
    /// `MIME`: a complete MIME entity, headers included.
    Mime,
    /// `MIME:type/subtype`: a MIME body of this media type.
    MimeType(String),
    /// `XML`: an XML document.
    Xml,
    /// Any other value (a user code or an unknown value), kept verbatim.
    Other(String),
}

impl ContentType {
    /// The value as written on the wire.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ContentType::Pcdata => "PCDATA".into(),
            ContentType::Mime => "MIME".into(),
            ContentType::MimeType(t) => format!("MIME:{t}").into(),
            ContentType::Xml => "XML".into(),
            ContentType::Other(s) => s.as_str().into(),
        }
    }

    /// Reads a wire value.
    pub fn from_wire(value: &str) -> Self {
        match value {
            "PCDATA" => ContentType::Pcdata,
            "MIME" => ContentType::Mime,
            "XML" => ContentType::Xml,
            v => match v.strip_prefix("MIME:") {
                Some(t) => ContentType::MimeType(t.to_owned()),
                None => ContentType::Other(v.to_owned()),
            },
        }
    }

    /// True for one of the RFC's forms with a well-formed media type.
    pub fn is_known(&self) -> bool {
        match self {
            ContentType::MimeType(t) => {
                let mut parts = t.splitn(2, '/');
                let token = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
                };
                matches!((parts.next(), parts.next()), (Some(a), Some(b)) if token(a) && token(b))
            }
            ContentType::Other(_) => false,
            _ => true,
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_and_aliases_round_trip() {
        assert_eq!(StatusType::from_wire("Undefined"), StatusType::Unidentified);
        assert_eq!(StatusType::Unidentified.as_str(), "Unidentified");
        assert_eq!(
            CompletionCode::from_wire("PaymCancelled"),
            CompletionCode::PaymtCancelled
        );
        let x = TradingRole::from_wire("x-broker.example.com");
        assert_eq!(x.as_str(), "x-broker.example.com");
        assert!(!x.is_known());
        assert!(is_user_code("x-broker.example.com"));
        assert!(is_user_code("X-a"));
        assert!(!is_user_code("x-"));
        assert!(!is_user_code("broker"));
        assert_eq!(ErrorCode::ALL.len(), 22);
        const { assert!(ProcessState::DTD_CLOSED) };
        const { assert!(!StatusType::DTD_CLOSED) };
    }

    #[test]
    fn every_value_reads_back_and_near_misses_are_other() {
        macro_rules! check {
            ($t:ident) => {
                for v in $t::ALL {
                    let wire = v.as_str();
                    assert_eq!(&$t::from_wire(wire), v);
                    for near in [
                        format!("{wire}x"),
                        wire[1..].to_owned(),
                        wire.to_lowercase(),
                        wire.to_uppercase(),
                    ] {
                        if near != wire && !$t::ALL.iter().any(|w| w.as_str() == near) {
                            let read = $t::from_wire(&near);
                            assert!(!read.is_known() || read.as_str() != near, "{near}");
                        }
                    }
                }
            };
        }
        check!(StatusType);
        check!(ProcessState);
        check!(CompletionCode);
        check!(ErrorCode);
        check!(Severity);
        check!(TradingRole);
        check!(TransactionType);
        check!(PayDirection);
        check!(DelivMethod);
        check!(InquiryType);
        check!(PingStatusCode);
        check!(SigVerifyStatusCode);
        check!(RelationshipType);
        check!(CurrCodeType);
        check!(Transform);
        check!(AlgorithmType);
        check!(ValueEncoding);
        check!(SignatureType);
        check!(Flag);
        check!(Critical);
    }

    #[test]
    fn content_type_forms() {
        assert_eq!(
            ContentType::from_wire("MIME:text/plain"),
            ContentType::MimeType("text/plain".into())
        );
        assert!(ContentType::from_wire("MIME:text/plain").is_known());
        assert!(!ContentType::from_wire("MIME:text").is_known());
        assert_eq!(ContentType::from_wire("XML").as_str(), "XML");
    }
}
