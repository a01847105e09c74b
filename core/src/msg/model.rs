//! The typed model of every element of RFC 2801 §13 (with the RFC 2802 signature elements), one
//! Rust type per element, named for the concept, with the wire tag beside it.
//!
//! Attributes appear in DTD order; the writer emits them in that order. Required attributes are
//! plain fields, `#IMPLIED` ones are `Option`s, defaulted ones hold the default when absent.

use super::codes::*;
use super::element::element;
use crate::xml::XmlNode;

// ---------------------------------------------------------------------------------------------
// Transaction Reference Block (§3.3)

element! {
    /// The Transaction Reference Block (§3.3): identifies the transaction and the message.
    TransactionReferenceBlock = "TransRefBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        transaction_id: one TransactionId,
        message_id: one MessageId,
        related_to: many RelatedTo,
    }
}

element! {
    /// The Transaction Id component (§3.3.1): the same in every message of a transaction.
    TransactionId = "TransId", Component {
        id: String = "ID" [ID, required],
        version: String = "Version" [NMTOKEN, fixed = "1.0"],
        /// Globally unique, in the form of an RFC 822 Message-Id.
        iotp_trans_id: String = "IotpTransId" [CDATA, required],
        iotp_trans_type: TransactionType = "IotpTransType" [CDATA, required],
        /// Start time of the transaction in UTC, or `NA`.
        trans_time_stamp: String = "TransTimeStamp" [CDATA, required],
    }
    empty
}

element! {
    /// The Message Id component (§3.3.2).
    MessageId = "MsgId", Component {
        /// The message ID (§3.4.1): prefix plus digits.
        id: String = "ID" [ID, required],
        /// The ID of the message this one responds to.
        resp_iotp_msg: Option<String> = "RespIotpMsg" [NMTOKEN, implied],
        lang: String = "xml:lang" [NMTOKEN, required],
        lang_pref_list: Option<Vec<String>> = "LangPrefList" [NMTOKENS, implied],
        char_set_pref_list: Option<Vec<String>> = "CharSetPrefList" [NMTOKENS, implied],
        sender_trading_role_ref: Option<String> = "SenderTradingRoleRef" [NMTOKEN, implied],
        software_id: String = "SoftwareId" [CDATA, required],
        time_stamp: Option<String> = "TimeStamp" [CDATA, implied],
    }
    empty
}

element! {
    /// The Related To component (§3.3.3): links this transaction to another or to a document.
    RelatedTo = "RelatedTo", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        relationship_type: RelationshipType = "RelationshipType" [NMTOKEN, required],
        relation: String = "Relation" [CDATA, required],
        reln_key_words: Option<Vec<String>> = "RelnKeyWords" [NMTOKENS, implied],
    }
    elements {
        packaged_content: one PackagedContent,
    }
}

// ---------------------------------------------------------------------------------------------
// Trading components (§7)

element! {
    /// The Protocol Options component (§7.1).
    ProtocolOptions = "ProtocolOptions", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        short_desc: String = "ShortDesc" [CDATA, required],
        sender_net_locn: Option<String> = "SenderNetLocn" [CDATA, implied],
        secure_sender_net_locn: Option<String> = "SecureSenderNetLocn" [CDATA, implied],
        success_net_locn: String = "SuccessNetLocn" [CDATA, required],
    }
    empty
}

element! {
    /// The Authentication Request component (§7.2).
    AuthenticationRequest = "AuthReq", Component {
        id: String = "ID" [ID, required],
        authentication_id: String = "AuthenticationId" [CDATA, required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        algorithm: one Algorithm,
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// The Authentication Response component (§7.3).
    AuthenticationResponse = "AuthResp", Component {
        id: String = "ID" [ID, required],
        authentication_id: String = "AuthenticationId" [CDATA, required],
        selected_algorithm_ref: String = "SelectedAlgorithmRef" [NMTOKEN, required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// The Trading Role Information Request component (§7.4).
    TradingRoleInfoRequest = "TradingRoleInfoReq", Component {
        id: String = "ID" [ID, required],
        trading_role_list: Vec<String> = "TradingRoleList" [NMTOKENS, required],
    }
    empty
}

element! {
    /// The Order component (§7.5).
    Order = "Order", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        order_identifier: String = "OrderIdentifier" [CDATA, required],
        short_desc: String = "ShortDesc" [CDATA, required],
        ok_from: String = "OkFrom" [CDATA, required],
        ok_to: String = "OkTo" [CDATA, required],
        applicable_law: String = "ApplicableLaw" [CDATA, required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// The Organisation component (§7.6).
    Organisation = "Org", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        /// Globally unique, case-insensitive: a domain name, or `Consumer:…/domain`.
        org_id: String = "OrgId" [CDATA, required],
        legal_name: Option<String> = "LegalName" [CDATA, implied],
        short_desc: Option<String> = "ShortDesc" [CDATA, implied],
        logo_net_locn: Option<String> = "LogoNetLocn" [CDATA, implied],
    }
    elements {
        trading_roles: plus TradingRoleElement,
        contact_info: opt ContactInfo,
        person_name: opt PersonName,
        postal_address: opt PostalAddress,
    }
}

element! {
    /// The Trading Role element of an Organisation (§7.6.2).
    TradingRoleElement = "TradingRole", Part {
        id: String = "ID" [ID, required],
        trading_role: TradingRole = "TradingRole" [NMTOKEN, required],
        iotp_msg_id_prefix: String = "IotpMsgIdPrefix" [NMTOKEN, required],
        cancel_net_locn: Option<String> = "CancelNetLocn" [CDATA, implied],
        error_net_locn: Option<String> = "ErrorNetLocn" [CDATA, implied],
        error_log_net_locn: Option<String> = "ErrorLogNetLocn" [CDATA, implied],
    }
    empty
}

element! {
    /// Contact Information (§7.6.3).
    ContactInfo = "ContactInfo", Part {
        lang: Option<String> = "xml:lang" [NMTOKEN, implied],
        tel: Option<String> = "Tel" [CDATA, implied],
        fax: Option<String> = "Fax" [CDATA, implied],
        email: Option<String> = "Email" [CDATA, implied],
        net_locn: Option<String> = "NetLocn" [CDATA, implied],
    }
    empty
}

element! {
    /// Person Name (§7.6.4).
    PersonName = "PersonName", Part {
        lang: Option<String> = "xml:lang" [NMTOKEN, implied],
        title: Option<String> = "Title" [CDATA, implied],
        given_name: Option<String> = "GivenName" [CDATA, implied],
        initials: Option<String> = "Initials" [CDATA, implied],
        family_name: Option<String> = "FamilyName" [CDATA, implied],
    }
    empty
}

element! {
    /// Postal Address (§7.6.5).
    PostalAddress = "PostalAddress", Part {
        lang: Option<String> = "xml:lang" [NMTOKEN, implied],
        address_line1: Option<String> = "AddressLine1" [CDATA, implied],
        address_line2: Option<String> = "AddressLine2" [CDATA, implied],
        city_or_town: Option<String> = "CityOrTown" [CDATA, implied],
        state_or_region: Option<String> = "StateOrRegion" [CDATA, implied],
        postal_code: Option<String> = "PostalCode" [CDATA, implied],
        country: Option<String> = "Country" [CDATA, implied],
        legal_location: Flag = "LegalLocation" [ENUM, default = "False"],
    }
    empty
}

element! {
    /// The Brand List component (§7.7): brands, protocols and amounts the Consumer chooses from.
    BrandList = "BrandList", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        short_desc: String = "ShortDesc" [CDATA, required],
        pay_direction: PayDirection = "PayDirection" [ENUM, required],
    }
    elements {
        brands: plus Brand,
        protocol_amounts: plus ProtocolAmount,
        currency_amounts: plus CurrencyAmount,
        pay_protocols: plus PaymentProtocol,
    }
}

element! {
    /// A Brand (§7.7.1).
    Brand = "Brand", Part {
        id: String = "ID" [ID, required],
        lang: Option<String> = "xml:lang" [NMTOKEN, implied],
        brand_id: String = "BrandId" [CDATA, required],
        brand_name: String = "BrandName" [CDATA, required],
        brand_logo_net_locn: String = "BrandLogoNetLocn" [CDATA, required],
        brand_narrative: Option<String> = "BrandNarrative" [CDATA, implied],
        protocol_amount_refs: Vec<String> = "ProtocolAmountRefs" [IDREFS("ProtocolAmount"), required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        protocol_brands: many ProtocolBrand,
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// A Protocol Brand (§7.7.2): the brand's identifier in one payment protocol.
    ProtocolBrand = "ProtocolBrand", Part {
        protocol_id: String = "ProtocolId" [CDATA, required],
        protocol_brand_id: String = "ProtocolBrandId" [CDATA, required],
    }
    elements {
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// A Protocol Amount (§7.7.3): links a protocol to the amounts payable with it.
    ProtocolAmount = "ProtocolAmount", Part {
        id: String = "ID" [ID, required],
        pay_protocol_ref: String = "PayProtocolRef" [IDREF("PayProtocol"), required],
        currency_amount_refs: Vec<String> = "CurrencyAmountRefs" [IDREFS("CurrencyAmount"), required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// A Currency Amount (§7.7.4).
    CurrencyAmount = "CurrencyAmount", Part {
        id: String = "ID" [ID, required],
        /// A decimal amount in major units, e.g. `245.35`.
        amount: String = "Amount" [CDATA, required],
        curr_code_type: CurrCodeType = "CurrCodeType" [NMTOKEN, default = "ISO4217-A"],
        curr_code: String = "CurrCode" [CDATA, required],
    }
    empty
}

element! {
    /// A Pay Protocol (§7.7.5): a payment protocol and where to send the Payment Request.
    PaymentProtocol = "PayProtocol", Part {
        id: String = "ID" [ID, required],
        lang: Option<String> = "xml:lang" [NMTOKEN, implied],
        protocol_id: String = "ProtocolId" [NMTOKEN, required],
        protocol_name: String = "ProtocolName" [CDATA, required],
        /// The Payment Handler's Organisation.
        action_org_ref: String = "ActionOrgRef" [NMTOKEN, required],
        pay_req_net_locn: Option<String> = "PayReqNetLocn" [CDATA, implied],
        sec_pay_req_net_locn: Option<String> = "SecPayReqNetLocn" [CDATA, implied],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// The Brand Selection component (§7.8): the Consumer's choice from one Brand List.
    BrandSelection = "BrandSelection", Component {
        id: String = "ID" [ID, required],
        brand_list_ref: String = "BrandListRef" [NMTOKEN, required],
        brand_ref: String = "BrandRef" [NMTOKEN, required],
        protocol_amount_ref: String = "ProtocolAmountRef" [NMTOKEN, required],
        currency_amount_ref: String = "CurrencyAmountRef" [NMTOKEN, required],
    }
    elements {
        brand_info: opt BrandSelectionBrandInfo,
        protocol_amount_info: opt BrandSelectionProtocolAmountInfo,
        currency_amount_info: opt BrandSelectionCurrencyAmountInfo,
    }
}

element! {
    /// Brand-specific data of a Brand Selection (§7.8).
    BrandSelectionBrandInfo = "BrandSelBrandInfo", Part {
        id: String = "ID" [ID, required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: plus PackagedContent,
    }
}

element! {
    /// Protocol-specific data of a Brand Selection (§7.8).
    BrandSelectionProtocolAmountInfo = "BrandSelProtocolAmountInfo", Part {
        id: String = "ID" [ID, required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: plus PackagedContent,
    }
}

element! {
    /// Currency-specific data of a Brand Selection (§7.8).
    BrandSelectionCurrencyAmountInfo = "BrandSelCurrencyAmountInfo", Part {
        id: String = "ID" [ID, required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: plus PackagedContent,
    }
}

element! {
    /// The Payment component (§7.9): one payment of the transaction.
    Payment = "Payment", Component {
        id: String = "ID" [ID, required],
        ok_from: String = "OkFrom" [CDATA, required],
        ok_to: String = "OkTo" [CDATA, required],
        brand_list_ref: String = "BrandListRef" [NMTOKEN, required],
        signed_pay_receipt: Flag = "SignedPayReceipt" [ENUM, required],
        /// Payments that must complete before this one starts.
        start_after_refs: Option<Vec<String>> = "StartAfterRefs" [NMTOKENS, implied],
    }
    empty
}

element! {
    /// The Payment Scheme Data component (§7.10): the payment scheme's own messages.
    PaymentSchemeData = "PaySchemeData", Component {
        id: String = "ID" [ID, required],
        payment_ref: Option<String> = "PaymentRef" [NMTOKEN, implied],
        consumer_payment_id: Option<String> = "ConsumerPaymentId" [CDATA, implied],
        payment_handler_pay_id: Option<String> = "PaymentHandlerPayId" [CDATA, implied],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: plus PackagedContent,
    }
}

element! {
    /// The Payment Receipt component (§7.11).
    PaymentReceipt = "PayReceipt", Component {
        id: String = "ID" [ID, required],
        payment_ref: String = "PaymentRef" [NMTOKEN, required],
        /// Names of the PackagedContent elements that together make up the receipt.
        pay_receipt_name_refs: Option<Vec<String>> = "PayReceiptNameRefs" [NMTOKENS, implied],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// The Payment Note component (§7.12): non-payment information such as a balance.
    PaymentNote = "PaymentNote", Component {
        id: String = "ID" [ID, required],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: plus PackagedContent,
    }
}

element! {
    /// The Delivery component (§7.13).
    Delivery = "Delivery", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        deliv_exch: Flag = "DelivExch" [ENUM, required],
        deliv_and_pay_resp: Flag = "DelivAndPayResp" [ENUM, required],
        /// The Delivery Handler's Organisation.
        action_org_ref: Option<String> = "ActionOrgRef" [NMTOKEN, implied],
    }
    elements {
        delivery_data: opt DeliveryData,
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// Delivery Data (§7.13.1).
    DeliveryData = "DeliveryData", Part {
        lang: Option<String> = "xml:lang" [NMTOKEN, implied],
        ok_from: String = "OkFrom" [CDATA, required],
        ok_to: String = "OkTo" [CDATA, required],
        deliv_method: DelivMethod = "DelivMethod" [NMTOKEN, required],
        deliv_to_ref: String = "DelivToRef" [NMTOKEN, required],
        deliv_req_net_locn: Option<String> = "DelivReqNetLocn" [CDATA, implied],
        sec_deliv_req_net_locn: Option<String> = "SecDelivReqNetLocn" [CDATA, implied],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// The Consumer Delivery Data component (§7.14).
    ConsumerDeliveryData = "ConsumerDeliveryData", Component {
        id: String = "ID" [ID, required],
        consumer_delivery_id: String = "ConsumerDeliveryId" [CDATA, required],
    }
    empty
}

element! {
    /// The Delivery Note component (§7.15).
    DeliveryNote = "DeliveryNote", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        deliv_handler_deliv_id: Option<String> = "DelivHandlerDelivId" [CDATA, implied],
        content_software_id: Option<String> = "ContentSoftwareId" [CDATA, implied],
    }
    elements {
        packaged_contents: plus PackagedContent,
    }
}

element! {
    /// The Status component (§7.16): the business outcome of a process.
    Status = "Status", Component {
        id: String = "ID" [ID, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        status_type: StatusType = "StatusType" [NMTOKEN, required],
        el_ref: Option<String> = "ElRef" [NMTOKEN, implied],
        process_state: ProcessState = "ProcessState" [ENUM, required],
        completion_code: Option<CompletionCode> = "CompletionCode" [NMTOKEN, implied],
        process_reference: Option<String> = "ProcessReference" [CDATA, implied],
        status_desc: Option<String> = "StatusDesc" [CDATA, implied],
    }
    empty
}

element! {
    /// The Trading Role Data component (§7.17): data one role passes to another.
    TradingRoleData = "TradingRoleData", Component {
        id: String = "ID" [ID, required],
        originator_el_ref: String = "OriginatorElRef" [NMTOKEN, required],
        destination_el_refs: Vec<String> = "DestinationElRefs" [NMTOKENS, required],
    }
    elements {
        packaged_contents: plus PackagedContent,
    }
}

element! {
    /// The Inquiry Type component (§7.18).
    InquiryTypeComponent = "InquiryType", Component {
        id: String = "ID" [ID, required],
        inquiry_type: InquiryType = "Type" [NMTOKEN, required],
        el_ref: Option<String> = "ElRef" [NMTOKEN, implied],
        process_reference: Option<String> = "ProcessReference" [CDATA, implied],
    }
    empty
}

element! {
    /// The Error component (§7.21): one technical error.
    ErrorComponent = "ErrorComp", Component {
        /// Declared NMTOKEN (not ID) by the DTD.
        id: String = "ID" [NMTOKEN, required],
        lang: String = "xml:lang" [NMTOKEN, required],
        error_code: ErrorCode = "ErrorCode" [NMTOKEN, required],
        error_desc: String = "ErrorDesc" [CDATA, required],
        severity: Severity = "Severity" [ENUM, required],
        min_retry_secs: Option<String> = "MinRetrySecs" [CDATA, implied],
        sw_vendor_error_ref: Option<String> = "SwVendorErrorRef" [CDATA, implied],
    }
    elements {
        error_locations: plus ErrorLocation,
        packaged_contents: many PackagedContent,
    }
}

element! {
    /// Where an error is (§7.21.1).
    ErrorLocation = "ErrorLocation", Part {
        element_type: String = "ElementType" [NMTOKEN, required],
        iotp_msg_ref: Option<String> = "IotpMsgRef" [NMTOKEN, implied],
        blk_ref: Option<String> = "BlkRef" [NMTOKEN, implied],
        comp_ref: Option<String> = "CompRef" [NMTOKEN, implied],
        element_ref: Option<String> = "ElementRef" [NMTOKEN, implied],
        att_name: Option<String> = "AttName" [NMTOKEN, implied],
    }
    empty
}

// ---------------------------------------------------------------------------------------------
// Trading blocks (§8)

element! {
    /// The Trading Protocol Options block (§8.1).
    TradingProtocolOptionsBlock = "TpoBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        protocol_options: one ProtocolOptions,
        brand_lists: many BrandList,
        organisations: many Organisation,
    }
}

element! {
    /// The TPO Selection block (§8.2).
    TpoSelectionBlock = "TpoSelectionBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        brand_selections: plus BrandSelection,
    }
}

element! {
    /// The Offer Response block (§8.3).
    OfferResponseBlock = "OfferRespBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        status: one Status,
        order: opt Order,
        payments: many Payment,
        delivery: opt Delivery,
        trading_role_data: many TradingRoleData,
    }
}

element! {
    /// The Authentication Request block (§8.4).
    AuthenticationRequestBlock = "AuthReqBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        auth_requests: many AuthenticationRequest,
        trading_role_info_request: opt TradingRoleInfoRequest,
    }
}

element! {
    /// The Authentication Response block (§8.5).
    AuthenticationResponseBlock = "AuthRespBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        auth_response: opt AuthenticationResponse,
        organisations: many Organisation,
    }
}

element! {
    /// The Authentication Status block (§8.6).
    AuthenticationStatusBlock = "AuthStatusBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        status: one Status,
    }
}

element! {
    /// The Payment Request block (§8.7).
    PaymentRequestBlock = "PayReqBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        statuses: plus Status,
        brand_list: one BrandList,
        brand_selection: one BrandSelection,
        payment: one Payment,
        pay_scheme_data: opt PaymentSchemeData,
        organisations: many Organisation,
        trading_role_data: many TradingRoleData,
    }
}

element! {
    /// The Payment Exchange block (§8.8): one or more PaySchemeData (DESIGN.md §7).
    PaymentExchangeBlock = "PayExchBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        pay_scheme_data: plus PaymentSchemeData,
    }
}

element! {
    /// The Payment Response block (§8.9).
    PaymentResponseBlock = "PayRespBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        status: one Status,
        pay_receipt: opt PaymentReceipt,
        pay_scheme_data: opt PaymentSchemeData,
        payment_note: opt PaymentNote,
        trading_role_data: many TradingRoleData,
    }
}

element! {
    /// The Delivery Request block (§8.10).
    DeliveryRequestBlock = "DeliveryReqBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        statuses: plus Status,
        order: one Order,
        organisations: many Organisation,
        delivery: one Delivery,
        consumer_delivery_data: opt ConsumerDeliveryData,
        trading_role_data: many TradingRoleData,
    }
}

element! {
    /// The Delivery Response block (§8.11).
    DeliveryResponseBlock = "DeliveryRespBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        status: one Status,
        delivery_note: one DeliveryNote,
    }
}

element! {
    /// The Inquiry Request block (§8.12).
    InquiryRequestBlock = "InquiryReqBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        inquiry_type: one InquiryTypeComponent,
        pay_scheme_data: opt PaymentSchemeData,
    }
}

element! {
    /// The Inquiry Response block (§8.13).
    InquiryResponseBlock = "InquiryRespBlk", Block {
        id: String = "ID" [ID, required],
        /// The last message received from the Consumer, or `Null`.
        last_received_iotp_msg_ref: Option<String> = "LastReceivedIotpMsgRef" [NMTOKEN, implied],
        /// The last message sent to the Consumer, or `Null`.
        last_sent_iotp_msg_ref: Option<String> = "LastSentIotpMsgRef" [NMTOKEN, implied],
    }
    elements {
        status: one Status,
        pay_scheme_data: opt PaymentSchemeData,
    }
}

element! {
    /// The Ping Request block (§8.14).
    PingRequestBlock = "PingReqBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        organisations: many Organisation,
    }
}

element! {
    /// The Ping Response block (§8.15).
    PingResponseBlock = "PingRespBlk", Block {
        id: String = "ID" [ID, required],
        ping_status_code: PingStatusCode = "PingStatusCode" [ENUM, required],
        sig_verify_status_code: Option<SigVerifyStatusCode> = "SigVerifyStatusCode" [ENUM, implied],
        lang: Option<String> = "xml:lang" [NMTOKEN, implied],
        ping_status_desc: Option<String> = "PingStatusDesc" [CDATA, implied],
    }
    elements {
        organisations: plus Organisation,
    }
}

element! {
    /// The Error block (§8.17).
    ErrorBlock = "ErrorBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        error_components: plus ErrorComponent,
        pay_scheme_data: many PaymentSchemeData,
    }
}

element! {
    /// The Cancel block (§8.18).
    CancelBlock = "CancelBlk", Block {
        id: String = "ID" [ID, required],
    }
    elements {
        status: one Status,
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures (§7.19, §7.20, §8.16; RFC 2802)

element! {
    /// The Signature block (§8.16).
    SignatureBlock = "IotpSignatures", Block {
        id: Option<String> = "ID" [ID, implied],
    }
    elements {
        signatures: plus Signature,
        certificates: many Certificate,
    }
}

element! {
    /// A Signature component (§7.19, RFC 2802).
    Signature = "Signature", Component {
        /// Declared #IMPLIED, required by §7.19.1.
        id: Option<String> = "ID" [ID, implied],
    }
    elements {
        manifest: one Manifest,
        values: plus Value,
    }
}

element! {
    /// The Manifest of a Signature: what is signed, how, by whom, for whom.
    Manifest = "Manifest", Part {
        locator_href_base: Option<String> = "LocatorHRefBase" [CDATA, implied],
    }
    elements {
        algorithms: plus Algorithm,
        digests: plus Digest,
        attributes: many SignatureAttribute,
        originator_info: one OriginatorInfo,
        recipient_infos: plus RecipientInfo,
    }
}

element! {
    /// An Algorithm (RFC 2802; also in an Authentication Request).
    Algorithm = "Algorithm", Part {
        id: String = "ID" [ID, required],
        algorithm_type: Option<AlgorithmType> = "type" [ENUM, implied],
        name: String = "name" [NMTOKEN, required],
    }
    elements {
        parameters: many AlgorithmParameter,
    }
}

element! {
    /// An Algorithm's Parameter (RFC 2802), e.g. `type="AlgorithmRef"` chaining algorithms.
    AlgorithmParameter = "Parameter", Part {
        parameter_type: String = "type" [CDATA, required],
    }
    any
}

element! {
    /// A Digest of a located element (RFC 2802).
    Digest = "Digest", Part {
        digest_algorithm_ref: String = "DigestAlgorithmRef" [IDREF("Algorithm"), required],
    }
    elements {
        locator: one Locator,
        value: one Value,
    }
}

element! {
    /// A signed Attribute of a Manifest (RFC 2802), e.g. the IOTP signature type.
    SignatureAttribute = "Attribute", Part {
        attribute_type: String = "type" [NMTOKEN, required],
        critical: Critical = "critical" [ENUM, required],
    }
    any
}

element! {
    /// Originator Info (RFC 2802): who signed.
    OriginatorInfo = "OriginatorInfo", Part {
        /// Declared #IMPLIED, required by §7.19.1: the signer's Organisation.
        originator_ref: Option<String> = "OriginatorRef" [NMTOKEN, implied],
    }
    any
}

element! {
    /// Recipient Info (RFC 2802): who should verify, with which algorithm, value and certificate.
    RecipientInfo = "RecipientInfo", Part {
        signature_algorithm_ref: String = "SignatureAlgorithmRef" [IDREF("Algorithm"), required],
        signature_value_ref: Option<String> = "SignatureValueRef" [IDREF("Value"), implied],
        signature_cert_ref: Option<String> = "SignatureCertRef" [IDREF("Certificate"), implied],
        recipient_refs: Option<Vec<String>> = "RecipientRefs" [NMTOKENS, implied],
    }
    any
}

element! {
    /// A Key Identifier (RFC 2802), used inside RecipientInfo content.
    KeyIdentifier = "KeyIdentifier", Part {
        value: String = "value" [CDATA, required],
    }
    empty
}

element! {
    /// A Certificate component (§7.20): `IssuerAndSerialNumber` then a `Value` or a `Locator`.
    Certificate = "Certificate", Component {
        /// Declared #IMPLIED, required by §7.20.1.
        id: Option<String> = "ID" [ID, implied],
        certificate_type: String = "type" [NMTOKEN, required],
    }
    elements {
        issuer_and_serial_number: one IssuerAndSerialNumber,
        value: opt Value,
        locator: opt Locator,
    }
}

element! {
    /// Issuer and serial number of a certificate (RFC 2802).
    IssuerAndSerialNumber = "IssuerAndSerialNumber", Part {
        issuer: String = "issuer" [CDATA, required],
        number: String = "number" [CDATA, required],
    }
    empty
}

element! {
    /// A Locator (RFC 2802): the `href` of a digested element or a certificate.
    Locator = "Locator", Part {
        xml_link: String = "xml:link" [CDATA, fixed = "simple"],
        href: String = "href" [CDATA, required],
    }
    empty
}

/// Decodes the base64 text of a hand-written text element; whitespace in it is ignored (it is
/// removed into `scratch` first).
pub(crate) fn decode_base64(
    text: &str,
    scratch: &mut Vec<u8>,
) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    if let Some(data) = decode_base64_canonical(text.as_bytes()) {
        return Ok(data);
    }
    // Anything else (an error, or something the one-pass decoder does not handle) takes the
    // crate's way, which gives the same bytes or the error to report.
    let engine = &base64::engine::general_purpose::STANDARD;
    if !text.bytes().any(|b| b.is_ascii_whitespace()) {
        return engine.decode(text);
    }
    scratch.clear();
    scratch.reserve(text.len());
    // Whole chunks without whitespace (most of them) are copied at once.
    for chunk in text.as_bytes().chunks(32) {
        if chunk
            .iter()
            .fold(false, |acc, b| acc | b.is_ascii_whitespace())
        {
            scratch.extend(chunk.iter().filter(|b| !b.is_ascii_whitespace()));
        } else {
            scratch.extend_from_slice(chunk);
        }
    }
    engine.decode(&scratch)
}

/// Values of the standard base64 alphabet; `B64_SPACE` for ASCII whitespace (which
/// `decode_base64` ignores), `B64_OTHER` for anything else, `=` included.
const B64_SPACE: u8 = 0x40;
const B64_OTHER: u8 = 0xFF;
const B64: [u8; 256] = {
    let mut t = [B64_OTHER; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    let mut c = 0;
    while c < 256 {
        if (c as u8).is_ascii_whitespace() {
            t[c] = B64_SPACE;
        }
        c += 1;
    }
    t
};

/// `B64` as the bits a symbol contributes at each of the four places of a group; the top bit
/// marks a byte that is not a symbol.
const fn b64_places(shift: u32) -> [u32; 256] {
    let mut t = [1u32 << 31; 256];
    let mut c = 0;
    while c < 256 {
        if B64[c] < 64 {
            t[c] = (B64[c] as u32) << shift;
        }
        c += 1;
    }
    t
}
const B64_PLACES: [[u32; 256]; 4] = [b64_places(18), b64_places(12), b64_places(6), b64_places(0)];

/// One pass over canonical padded base64 with whitespace anywhere (the way PackagedContent is
/// written): the bytes the `base64` crate's STANDARD engine gives for the text without its
/// whitespace, or None when that engine would refuse it (or might: an `=` that is not in the
/// final group) so that the caller takes the crate's way for the error.
fn decode_base64_canonical(text: &[u8]) -> Option<Vec<u8>> {
    // Written into a buffer of the largest possible size (and two bytes more, for the 8-byte
    // stores of six bytes below), shortened at the end.
    let mut out = vec![0u8; text.len() / 4 * 3 + 5];
    let mut o = 0;
    let (mut acc, mut sextets) = (0u32, 0u32);
    let mut i = 0;
    while i < text.len() {
        // Groups of four symbols without whitespace (nearly all of them) are decoded at once:
        // eight symbols (a line holds 76) into six bytes with one store. At a group with
        // whitespace (a line's end) or another byte, the groups before it are kept, and that
        // byte is left to the loop below.
        while sextets == 0
            && let Some(&[a, b, c, d, e, f, g, h]) = text.get(i..i + 8)
            && let Some(dst) = out.get_mut(o..o + 8)
        {
            let hi = B64_PLACES[0][a as usize]
                | B64_PLACES[1][b as usize]
                | B64_PLACES[2][c as usize]
                | B64_PLACES[3][d as usize];
            let lo = B64_PLACES[0][e as usize]
                | B64_PLACES[1][f as usize]
                | B64_PLACES[2][g as usize]
                | B64_PLACES[3][h as usize];
            if (hi | lo) >> 31 == 0 {
                dst.copy_from_slice(&(u64::from(hi) << 40 | u64::from(lo) << 16).to_be_bytes());
                o += 6;
                i += 8;
                continue;
            }
            if hi >> 31 == 0 {
                dst.copy_from_slice(&(u64::from(hi) << 40).to_be_bytes());
                o += 3;
                i += 4;
            }
            break;
        }
        // Fewer than eight bytes left: a last group of four.
        if sextets == 0
            && let Some(&[a, b, c, d]) = text.get(i..i + 4)
            && text.len() - i < 8
            && let Some(dst) = out.get_mut(o..o + 3)
        {
            let v = B64_PLACES[0][a as usize]
                | B64_PLACES[1][b as usize]
                | B64_PLACES[2][c as usize]
                | B64_PLACES[3][d as usize];
            if v >> 31 == 0 {
                dst.copy_from_slice(&v.to_be_bytes()[1..]);
                o += 3;
                i += 4;
                continue;
            }
        }
        let Some(&symbol) = text.get(i) else {
            break;
        };
        match B64[symbol as usize] {
            B64_SPACE => {}
            B64_OTHER => break,
            v => {
                acc = acc << 6 | u32::from(v);
                sextets += 1;
                if sextets == 4 {
                    out.get_mut(o..o + 3)?
                        .copy_from_slice(&acc.to_be_bytes()[1..]);
                    o += 3;
                    (acc, sextets) = (0, 0);
                }
            }
        }
        i += 1;
    }
    // The end, or padding: only `=` and whitespace may follow, and the padding must complete the
    // final group with no bits left over (the engine's canonical padding and trailing bits).
    let mut pads = 0u32;
    for &b in &text[i..] {
        match b {
            b'=' => pads += 1,
            _ if B64[b as usize] == B64_SPACE => {}
            _ => return None,
        }
    }
    let tail: &[u8] = match (sextets, pads) {
        (0, 0) => &[],
        (2, 2) if acc & 0xF == 0 => &[(acc >> 4) as u8],
        (3, 1) if acc & 0x3 == 0 => &[(acc >> 10) as u8, (acc >> 2) as u8],
        _ => return None,
    };
    out.truncate(o);
    out.extend_from_slice(tail);
    Some(out)
}

pub(crate) fn encode_base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Packaged Content (§3.7): opaque data with a name, a content type and a transform.
///
/// Wire tag: `PackagedContent`. The model holds the decoded bytes: for `Transform="BASE64"` the
/// base64 is decoded (and re-encoded by the writer), for `NONE` the bytes are the text's UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedContent {
    /// `@Name`: distinguishes siblings, and is what `PayReceiptNameRefs` names.
    pub name: Option<String>,
    /// `@Content`: how to interpret the data.
    pub content: ContentType,
    /// `@Transform`: NONE or BASE64.
    pub transform: Transform,
    /// The decoded data.
    pub data: Vec<u8>,
}

impl Default for PackagedContent {
    /// Unnamed PCDATA content with no transform, and no data.
    fn default() -> Self {
        PackagedContent {
            name: None,
            content: ContentType::Pcdata,
            transform: Transform::None,
            data: Vec::new(),
        }
    }
}

impl PackagedContent {
    /// Plain text content (`Transform="NONE"`).
    pub fn text(text: impl Into<String>) -> Self {
        PackagedContent {
            data: text.into().into_bytes(),
            ..Default::default()
        }
    }

    /// Binary content carried as base64 (`Transform="BASE64"`).
    pub fn base64(data: impl Into<Vec<u8>>) -> Self {
        PackagedContent {
            transform: Transform::Base64,
            data: data.into(),
            ..Default::default()
        }
    }

    /// The data as text, when it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

impl super::element::WireElement for PackagedContent {
    const TAG: &'static str = "PackagedContent";
    const KIND: super::element::ElementKind = super::element::ElementKind::Part;
}

impl super::element::Codec for PackagedContent {
    fn decode<'a>(ctx: &mut super::element::Ctx<'a>, tag: crate::xml::reader::Tag<'a>) -> Self {
        use super::element::{AttrField, AttrSpec, Dtd, ElementKind, Presence};
        const NAMES: &[&str] = &["Name", "Content", "Transform"];
        const SPECS: [AttrSpec; 3] = [
            AttrSpec {
                name: "Name",
                dtd: Dtd::Cdata,
                presence: Presence::Implied,
            },
            AttrSpec {
                name: "Content",
                dtd: Dtd::Cdata,
                presence: Presence::Default("PCDATA"),
            },
            AttrSpec {
                name: "Transform",
                dtd: Dtd::Enum,
                presence: Presence::Default("NONE"),
            },
        ];
        let mut slots: [Option<std::borrow::Cow<'a, str>>; 3] = Default::default();
        let here = ctx.read_attributes(&tag, ElementKind::Part, NAMES, &mut slots);
        let [name, content, transform] = slots;
        let name: Option<String> = AttrField::take(ctx, name, &SPECS[0], &here);
        let content: ContentType = AttrField::take(ctx, content, &SPECS[1], &here);
        let transform: Transform = AttrField::take(ctx, transform, &SPECS[2], &here);
        let text = ctx.text_content(&tag, &here);
        let data = if transform == Transform::Base64 {
            match decode_base64(&text, &mut ctx.scratch) {
                Ok(d) => d,
                Err(e) => {
                    ctx.error(
                        ErrorCode::ElContIllegal,
                        &here,
                        None,
                        format!(
                            "PackagedContent with Transform=\"BASE64\" is not valid base64: {e}"
                        ),
                    );
                    text.into_owned().into_bytes()
                }
            }
        } else {
            text.into_owned().into_bytes()
        };
        PackagedContent {
            name,
            content,
            transform,
            data,
        }
    }

    fn encode(&self, w: &mut crate::xml::writer::XmlWriter) {
        w.open("PackagedContent");
        if let Some(name) = &self.name {
            w.attr("Name", name);
        }
        if self.content != ContentType::Pcdata {
            w.attr("Content", &self.content.as_str());
        }
        match self.transform {
            Transform::Base64 => {
                w.attr("Transform", "BASE64");
                w.text_content("PackagedContent", &encode_base64(&self.data));
            }
            ref other => {
                if *other != Transform::None {
                    w.attr("Transform", other.as_str());
                }
                w.text_content("PackagedContent", &String::from_utf8_lossy(&self.data));
            }
        }
    }
}

/// A Value (RFC 2802): a signature value, digest value or certificate, base64 by default.
///
/// Wire tag: `Value`. With `encoding="base64"` the model holds the decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Value {
    /// `@ID`: declared #IMPLIED, required by §7.19.1 for signature values.
    pub id: Option<String>,
    /// `@encoding`: base64 (default) or none.
    pub encoding: ValueEncoding,
    /// The decoded value.
    pub data: Vec<u8>,
}

impl super::element::WireElement for Value {
    const TAG: &'static str = "Value";
    const KIND: super::element::ElementKind = super::element::ElementKind::Part;
}

impl super::element::Codec for Value {
    fn decode<'a>(ctx: &mut super::element::Ctx<'a>, tag: crate::xml::reader::Tag<'a>) -> Self {
        use super::element::{AttrField, AttrSpec, Dtd, ElementKind, Presence};
        const NAMES: &[&str] = &["ID", "encoding"];
        const SPECS: [AttrSpec; 2] = [
            AttrSpec {
                name: "ID",
                dtd: Dtd::Id,
                presence: Presence::Implied,
            },
            AttrSpec {
                name: "encoding",
                dtd: Dtd::Enum,
                presence: Presence::Default("base64"),
            },
        ];
        let mut slots: [Option<std::borrow::Cow<'a, str>>; 2] = Default::default();
        let here = ctx.read_attributes(&tag, ElementKind::Part, NAMES, &mut slots);
        let [id, encoding] = slots;
        let id: Option<String> = AttrField::take(ctx, id, &SPECS[0], &here);
        let encoding: ValueEncoding = AttrField::take(ctx, encoding, &SPECS[1], &here);
        let text = ctx.text_content(&tag, &here);
        let data = if encoding == ValueEncoding::Base64 {
            match decode_base64(&text, &mut ctx.scratch) {
                Ok(d) => d,
                Err(e) => {
                    ctx.error(
                        ErrorCode::ElContIllegal,
                        &here,
                        None,
                        format!("Value with encoding=\"base64\" is not valid base64: {e}"),
                    );
                    text.into_owned().into_bytes()
                }
            }
        } else {
            text.into_owned().into_bytes()
        };
        Value { id, encoding, data }
    }

    fn encode(&self, w: &mut crate::xml::writer::XmlWriter) {
        w.open("Value");
        if let Some(id) = &self.id {
            w.attr("ID", id);
        }
        match self.encoding {
            ValueEncoding::Base64 => w.text_content("Value", &encode_base64(&self.data)),
            ref other => {
                w.attr("encoding", other.as_str());
                w.text_content("Value", &String::from_utf8_lossy(&self.data));
            }
        }
    }
}

/// Generic content accessor used by validation: the text of `ANY` content.
pub(crate) fn any_text(content: &[XmlNode]) -> String {
    content
        .iter()
        .filter_map(|n| match n {
            XmlNode::Text(t) => Some(t.as_str()),
            XmlNode::Element(_) => None,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The one-pass decoder agrees with the `base64` crate (on the text without whitespace)
    /// whenever it answers, and answers for canonical padded base64 with whitespace anywhere.
    #[test]
    fn base64_one_pass_agrees_with_the_crate() {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        let crate_way = |t: &[u8]| {
            let stripped: Vec<u8> = t
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            engine.decode(stripped).ok()
        };
        let mut texts: Vec<Vec<u8>> = [
            "",
            " ",
            "\n",
            "QQ==",
            "QUI=",
            "QUJD",
            "QQ",
            "QQ=",
            "QQ===",
            "Q===",
            "QR==",
            "QUJ=",
            "QQ==QQ==",
            "=",
            "====",
            "QU\nJD\r\n",
            "Q Q = =",
            "QUJD\tQUJD",
            "QUJ\n=",
            "QQ==x",
            "QUJD=",
            "Q!JD",
            "QUJD\x0cQQ==",
            "-_==",
            "QUJDQ",
            "QUJDQQ",
            "QUJDQUI",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        // Pseudo-random texts over the alphabet, padding and whitespace.
        let symbols = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n\r\t=!";
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..400 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut t = Vec::new();
            let mut s = seed;
            for _ in 0..len % 90 {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                // Mostly alphabet symbols, so that many texts are valid.
                let k = (s >> 33) as usize;
                t.push(if k.is_multiple_of(8) {
                    symbols[64 + k / 8 % (symbols.len() - 64)]
                } else {
                    symbols[k % 64]
                });
            }
            texts.push(t);
            // And every valid encoding of the bytes so far, with whitespace put in.
            let data: Vec<u8> = (0..len % 61).map(|k| (seed >> (k % 57)) as u8).collect();
            let mut encoded = engine.encode(&data).into_bytes();
            if !encoded.is_empty() {
                encoded.insert(seed as usize % encoded.len(), b'\n');
            }
            texts.push(encoded);
        }
        // Wrapped the way MIME and PEM wrap, and at odd widths (whitespace at every place in
        // a group of four or eight), with a final line break or not.
        for len in [0, 1, 2, 3, 57, 58, 59, 100, 300] {
            let data: Vec<u8> = (0..len).map(|k| (k * 7 + 3) as u8).collect();
            let encoded = engine.encode(&data);
            for width in [76, 64, 1, 2, 3, 5, 6, 7, 9, 13] {
                for eol in ["\n", "\r\n", " ", "\t\n  "] {
                    let lines: Vec<&str> = encoded
                        .as_bytes()
                        .chunks(width)
                        .map(|l| std::str::from_utf8(l).unwrap())
                        .collect();
                    let wrapped = lines.join(eol);
                    texts.push(format!("{wrapped}{eol}").into_bytes());
                    texts.push(wrapped.into_bytes());
                }
            }
        }
        let mut answered = 0;
        for t in &texts {
            let expected = crate_way(t);
            match decode_base64_canonical(t) {
                Some(data) => {
                    answered += 1;
                    assert_eq!(Some(data), expected, "{:?}", String::from_utf8_lossy(t));
                }
                None => assert!(
                    expected.is_none(),
                    "valid text refused: {:?}",
                    String::from_utf8_lossy(t)
                ),
            }
            // Whatever the path, decode_base64 gives the crate's answer.
            let mut scratch = Vec::new();
            assert_eq!(
                decode_base64(std::str::from_utf8(t).unwrap(), &mut scratch).ok(),
                expected
            );
        }
        assert!(answered > 1100, "{answered}");
    }
}
