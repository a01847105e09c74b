//! Requests the kit makes directly: a reasonable request for every call of RFC 3867 (claim ⇔
//! behaviour), and the garbage documents a plugin must survive.

use iotp::msg::codes::{CurrCodeType, PayDirection, ProcessState};
use iotp::msg::model::{Algorithm, PackagedContent};
use iotp::payapi::claims::PluginClaims;
use iotp::payapi::documents::NAMESPACE;
use iotp::payapi::*;

use super::kit::{AMOUNT, CURRENCY};

/// The kit's amount in the claimed direction (Debit when both or none are claimed).
pub(crate) fn amount(claims: &PluginClaims) -> AmountInfo {
    amount_in(
        claims
            .directions
            .first()
            .cloned()
            .unwrap_or(PayDirection::Debit),
    )
}

/// The kit's amount in a direction.
pub(crate) fn amount_in(direction: PayDirection) -> AmountInfo {
    AmountInfo {
        pay_direction: direction,
        curr_code_type: CurrCodeType::Iso4217A,
        curr_code: CURRENCY.into(),
        amount: AMOUNT.into(),
    }
}

fn first(v: &[String]) -> String {
    v.first().cloned().unwrap_or_default()
}

/// Makes `call` on the bridge with a reasonable request built from the claims; `None` for a
/// name that is no call. The answer matters only as `ReqNotSupp` or not.
pub(crate) fn exercise(
    bridge: &dyn PaymentBridge,
    host: &dyn BridgeHost,
    call: &str,
    claims: &PluginClaims,
) -> Option<ApiResult<()>> {
    let brand = first(&claims.brands);
    let protocol = first(&claims.protocols);
    let instrument = claims.test_instruments.first().map(|t| t.id.clone());
    let amount = amount(claims);
    let scheme = vec![PackagedContent::text("conformance")];
    let algorithm = Algorithm {
        id: "A1".into(),
        name: first(&claims.auth_algorithms),
        ..Algorithm::default()
    };
    let ok_from = "2026-11-19T00:00:00Z".to_owned();
    let ok_to = "2026-11-20T00:00:00Z".to_owned();
    let r = match call {
        "FindAcceptedPaymentBrand" => bridge
            .find_accepted_payment_brand(
                host,
                &FindAcceptedPaymentBrand {
                    amount,
                    merchant_pay_id: "KitM1".into(),
                    merchant_org_id: Some("shop.example".into()),
                    ..Default::default()
                },
            )
            .map(drop),
        "FindAcceptedPaymentProtocol" => bridge
            .find_accepted_payment_protocol(
                host,
                &FindAcceptedPaymentProtocol {
                    brand_id: Some(brand),
                    amount,
                    merchant_pay_id: "KitM1".into(),
                    merchant_org_id: Some("shop.example".into()),
                    ..Default::default()
                },
            )
            .map(drop),
        "GetPaymentInitializationData" => bridge
            .get_payment_initialization_data(
                host,
                &GetPaymentInitializationData {
                    brand_id: brand,
                    merchant_pay_id: "KitM1".into(),
                    amount,
                    protocol_id: protocol,
                    ok_from,
                    ok_to,
                    receiver_org_id: Some("pay.example".into()),
                    merchant_org_id: Some("shop.example".into()),
                    ..Default::default()
                },
            )
            .map(drop),
        "InquireAuthChallenge" => bridge
            .inquire_auth_challenge(
                host,
                &InquireAuthChallenge {
                    authentication_id: "KitA1".into(),
                    algorithms: vec![algorithm],
                    ..Default::default()
                },
            )
            .map(drop),
        "Authenticate" => bridge
            .authenticate(
                host,
                &Authenticate {
                    authentication_id: "KitA1".into(),
                    algorithm,
                    auth_req: scheme,
                    ..Default::default()
                },
            )
            .map(drop),
        "CheckAuthResponse" => bridge
            .check_auth_response(
                host,
                &CheckAuthResponse {
                    authentication_id: "KitA1".into(),
                    algorithm,
                    auth_req: scheme.clone(),
                    auth_res: scheme,
                    ..Default::default()
                },
            )
            .map(drop),
        "FindPaymentInstrument" => bridge
            .find_payment_instrument(
                host,
                &FindPaymentInstrument {
                    brand_id: brand,
                    protocol_id: protocol,
                    amount,
                    consumer_pay_id: "KitC1".into(),
                    ..Default::default()
                },
            )
            .map(drop),
        "CheckPaymentPossibility" => bridge
            .check_payment_possibility(
                host,
                &CheckPaymentPossibility {
                    brand_id: brand,
                    payment_instrument_id: instrument,
                    amount,
                    protocol_id: protocol,
                    consumer_pay_id: "KitC1".into(),
                    ..Default::default()
                },
            )
            .map(drop),
        "StartPaymentConsumer" => bridge
            .start_payment_consumer(
                host,
                &StartPaymentConsumer {
                    brand_id: brand,
                    payment_instrument_id: instrument,
                    amount,
                    protocol_id: protocol,
                    ok_from,
                    ok_to,
                    consumer_pay_id: "KitC1".into(),
                    ..Default::default()
                },
            )
            .map(drop),
        "ResumePaymentConsumer" => bridge
            .resume_payment_consumer(
                host,
                &ResumePaymentConsumer {
                    consumer_pay_id: "KitC1".into(),
                    ..Default::default()
                },
            )
            .map(drop),
        "StartPaymentInquiry" => bridge
            .start_payment_inquiry(
                host,
                &StartPaymentInquiry {
                    consumer_pay_id: "KitC1".into(),
                    ..Default::default()
                },
            )
            .map(drop),
        "PaymentInstrumentInquiry" => bridge
            .payment_instrument_inquiry(
                host,
                &PaymentInstrumentInquiry {
                    brand_id: brand,
                    payment_instrument_id: instrument,
                    protocol_id: protocol,
                    property_types: Vec::new(),
                    lang: Some("en".into()),
                    ..Default::default()
                },
            )
            .map(drop),
        "StartPaymentPaymentHandler" => bridge
            .start_payment_payment_handler(
                host,
                &StartPaymentPaymentHandler {
                    brand_id: brand,
                    consumer_pay_id: Some("KitC1".into()),
                    amount,
                    protocol_id: protocol,
                    ok_from,
                    ok_to,
                    payment_handler_pay_id: "KitP1".into(),
                    merchant_org_id: "shop.example".into(),
                    pay_scheme: scheme,
                    ..Default::default()
                },
            )
            .map(drop),
        "ResumePaymentPaymentHandler" => bridge
            .resume_payment_payment_handler(
                host,
                &ResumePaymentPaymentHandler {
                    payment_handler_pay_id: "KitP1".into(),
                    pay_scheme: scheme,
                    ..Default::default()
                },
            )
            .map(drop),
        "InquirePaymentStatus" => bridge
            .inquire_payment_status(
                host,
                &InquirePaymentStatus {
                    payment_handler_pay_id: "KitP1".into(),
                    pay_scheme: scheme,
                    ..Default::default()
                },
            )
            .map(drop),
        "ContinueProcess" => bridge
            .continue_process(
                host,
                &ContinueProcess {
                    pay_id: "KitP1".into(),
                    pay_scheme: scheme,
                    ..Default::default()
                },
            )
            .map(drop),
        "ChangeProcessState" => bridge
            .change_process_state(
                host,
                &ChangeProcessState {
                    pay_id: "KitP1".into(),
                    process_state: PaymentState::Iotp(ProcessState::Failed),
                    completion_code: Some(iotp::msg::codes::CompletionCode::ConsCancelled),
                    process_type: ProcessType::Payment,
                    wallet: WalletAccess::default(),
                },
            )
            .map(drop),
        "InquireProcessState" => bridge
            .inquire_process_state(
                host,
                &InquireProcessState {
                    pay_id: "KitP1".into(),
                    ..Default::default()
                },
            )
            .map(drop),
        "CheckPaymentReceipt" => bridge.check_payment_receipt(
            host,
            &CheckPaymentReceipt {
                pay_id: "KitC1".into(),
                receipt: scheme,
                ..Default::default()
            },
        ),
        "ExpandPaymentReceipt" => bridge
            .expand_payment_receipt(
                host,
                &ExpandPaymentReceipt {
                    pay_id: "KitC1".into(),
                    receipt: scheme,
                    ..Default::default()
                },
            )
            .map(drop),
        "RemovePaymentLog" => bridge.remove_payment_log(
            host,
            &RemovePaymentLog {
                pay_id: "KitP1".into(),
                ..Default::default()
            },
        ),
        "InquirePendingPayment" => bridge
            .inquire_pending_payment(host, &InquirePendingPayment::default())
            .map(drop),
        "ManagePaymentSoftware" => bridge
            .manage_payment_software(
                host,
                &ManagePaymentSoftware {
                    brand_id: Some(brand),
                    protocol_id: Some(protocol),
                    action: None,
                    ..Default::default()
                },
            )
            .map(drop),
        _ => return None,
    };
    Some(r)
}

/// Documents no plugin may crash on, each with what it is. None is a valid request: each must
/// be answered with an `ErrorResponse`.
pub(crate) fn garbage_documents() -> Vec<(&'static str, Vec<u8>)> {
    let req = |body: &str| {
        format!("<?xml version=\"1.0\"?><IotpPaymentApiRequest xmlns=\"{NAMESPACE}\">{body}</IotpPaymentApiRequest>")
            .into_bytes()
    };
    let seed = std::cell::Cell::new(0x1234_5678_9abc_def1);
    let noise: Vec<u8> = (0..2048)
        .map(|_| super::kit::next_random(&seed) as u8)
        .collect();
    let mut deep = String::new();
    for _ in 0..10_000 {
        deep.push_str("<a>");
    }
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]><IotpPaymentApiRequest><FindAcceptedPaymentBrand MerchantPayId=\"&d;\"/></IotpPaymentApiRequest>";
    let mut non_utf8 = req(
        "<FindAcceptedPaymentBrand PayDirection=\"Debit\" CurrCodeType=\"ISO4217-A\" CurrCode=\"U\u{1}SD\" Amount=\"1\" MerchantPayId=\"M\"/>",
    );
    if let Some(p) = non_utf8.iter().position(|b| *b == 1) {
        non_utf8.splice(p..=p, [0xff, 0xfe]);
    }
    vec![
        ("an empty document", Vec::new()),
        ("text that is no XML", b"this is not a Payment API request".to_vec()),
        ("2 KB of random bytes", noise),
        (
            "a truncated request",
            b"<?xml version=\"1.0\"?><IotpPaymentApiRequest xmlns=\"http://www.iotp.org/2000/08/PaymentAPI\"><FindAcceptedPaymentBrand PayDirection=\"De".to_vec(),
        ),
        ("another root element", b"<?xml version=\"1.0\"?><Payment/>".to_vec()),
        ("a request with no call", req("")),
        (
            "a request with two calls",
            req("<InquirePendingPayment/><InquirePendingPayment/>"),
        ),
        ("an unknown call", req("<PayMeTwice Amount=\"1\"/>")),
        (
            "a known call without its required attributes",
            req("<StartPaymentPaymentHandler/>"),
        ),
        (
            "a known call with illegal values",
            req("<FindAcceptedPaymentBrand PayDirection=\"Sideways\" CurrCodeType=\"ISO4217-A\" CurrCode=\"USD\" Amount=\"ten\" MerchantPayId=\"M1\"/>"),
        ),
        (
            "a CallBack (the bridge's own call to the core)",
            req("<CallBack PayId=\"P1\" ProcessState=\"InProgress\"/>"),
        ),
        (
            "a response document instead of a request",
            format!("<?xml version=\"1.0\"?><IotpPaymentApiResponse xmlns=\"{NAMESPACE}\"><InquirePendingPaymentResponse/></IotpPaymentApiResponse>").into_bytes(),
        ),
        ("10,000 nested elements", req(&deep)),
        ("an entity expansion bomb", bomb.as_bytes().to_vec()),
        ("bytes that are not UTF-8", non_utf8),
        (
            "a request in another namespace",
            b"<?xml version=\"1.0\"?><IotpPaymentApiRequest xmlns=\"urn:elsewhere\"><InquirePendingPayment/></IotpPaymentApiRequest>".to_vec(),
        ),
    ]
}
