//! The world the kit builds around the subject: a Consumer, a Merchant and a Payment Handler,
//! each a real [`iotp::txn::Engine`] with its own store, on the in-memory [`Network`] of the harness.
//!
//! The subject's bridge plays every role it claims; the Merchant is played by
//! [`ClaimsMerchant`] (brands and protocols taken from the claims) when the subject does not
//! claim it. Every bridge is wrapped in a [`Spy`] that records each call and its answer, so
//! that the scenarios can hold the subject to RFC 3867 at the bridge level (paid once, End is
//! final) as well as at the wire level (the transcript).

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};

use iotp::msg::codes::{
    CompletionCode, PayDirection, ProcessState, Severity, TradingRole, TransactionType,
};
use iotp::msg::model::PackagedContent;
use iotp::payapi::claims::PluginClaims;
use iotp::payapi::*;
use iotp::store::{MemoryStore, Store};
use iotp::txn::app::{ConsumerApp, Offer, OfferSummary, PaymentOffer, PaymentOption};
use iotp::txn::config::Address;
use iotp::txn::harness::{Envelope, Fate, Network, world};
use iotp::txn::{EngineConfig, Event, Timing, TransactionOutcome};
use iotp::{IotpMessage, Limits, Report, TradingBlock};

use super::Subject;

/// Locks a mutex, also after a panic elsewhere (a panicking subject must not hide the report).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The spy

/// How a call was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A successful answer that is not a scheme step.
    Ok,
    /// A Start, Resume or Continue answer.
    Step {
        /// `ContStatus="End"`.
        end: bool,
        /// Its `PaySchemePackagedContent`.
        data: Vec<PackagedContent>,
    },
    /// An `ErrorResponse`.
    Err {
        /// `ErrorCode`.
        code: ApiErrorCode,
        /// `Severity`.
        severity: Severity,
        /// `ErrorDesc`.
        desc: String,
    },
}

/// One call the engine made to a bridge.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    /// The node: `consumer`, `merchant` or `paymenthandler`.
    pub node: &'static str,
    /// The RFC 3867 element name of the call.
    pub call: &'static str,
    /// The caller's payment id the request names (empty for calls without one).
    pub pay_id: String,
    /// The answer.
    pub answer: Answer,
    /// `ProcessType="Inquiry"` on a ContinueProcess or ChangeProcessState.
    pub inquiry: bool,
    /// The receipt parts of a CheckPaymentReceipt.
    pub receipt: Vec<PackagedContent>,
}

/// The calls of a kit network, in order.
pub(crate) type CallLog = Arc<Mutex<Vec<CallRecord>>>;

/// What the spy reads from a request.
trait Request {
    fn pay_id(&self) -> &str {
        ""
    }
    fn inquiry(&self) -> bool {
        false
    }
    fn receipt(&self) -> &[PackagedContent] {
        &[]
    }
}

macro_rules! requests {
    ($($t:ty $(=> $field:ident)?;)+) => {
        $(impl Request for $t {
            $(fn pay_id(&self) -> &str {
                &self.$field
            })?
        })+
    };
}

requests! {
    FindAcceptedPaymentBrand;
    FindAcceptedPaymentProtocol;
    GetPaymentInitializationData;
    InquireAuthChallenge;
    Authenticate;
    CheckAuthResponse;
    FindPaymentInstrument;
    CheckPaymentPossibility => consumer_pay_id;
    StartPaymentConsumer => consumer_pay_id;
    ResumePaymentConsumer => consumer_pay_id;
    StartPaymentInquiry => consumer_pay_id;
    PaymentInstrumentInquiry;
    StartPaymentPaymentHandler => payment_handler_pay_id;
    ResumePaymentPaymentHandler => payment_handler_pay_id;
    InquirePaymentStatus => payment_handler_pay_id;
    InquireProcessState => pay_id;
    ExpandPaymentReceipt => pay_id;
    RemovePaymentLog => pay_id;
    InquirePendingPayment;
    ManagePaymentSoftware;
}

impl Request for ContinueProcess {
    fn pay_id(&self) -> &str {
        &self.pay_id
    }
    fn inquiry(&self) -> bool {
        self.process_type == ProcessType::Inquiry
    }
}

impl Request for ChangeProcessState {
    fn pay_id(&self) -> &str {
        &self.pay_id
    }
    fn inquiry(&self) -> bool {
        self.process_type == ProcessType::Inquiry
    }
}

impl Request for CheckPaymentReceipt {
    fn pay_id(&self) -> &str {
        &self.pay_id
    }
    fn receipt(&self) -> &[PackagedContent] {
        &self.receipt
    }
}

/// What the spy reads from an answer.
trait Response {
    fn answer(&self) -> Answer {
        Answer::Ok
    }
}

macro_rules! responses {
    ($($t:ty;)+) => {
        $(impl Response for $t {})+
    };
}

responses! {
    FindAcceptedPaymentBrandResponse;
    FindAcceptedPaymentProtocolResponse;
    GetPaymentInitializationDataResponse;
    InquireAuthChallengeResponse;
    AuthenticateResponse;
    StatusInfo;
    FindPaymentInstrumentResponse;
    CheckPaymentPossibilityResponse;
    StartPaymentInquiryResponse;
    PaymentInstrumentInquiryResponse;
    InquirePaymentStatusResponse;
    InquireProcessStateResponse;
    ();
    ExpandPaymentReceiptResponse;
    InquirePendingPaymentResponse;
    ManagePaymentSoftwareResponse;
}

impl Response for SchemeStep {
    fn answer(&self) -> Answer {
        Answer::Step {
            end: self.cont_status == ContStatus::End,
            data: self.pay_scheme.clone(),
        }
    }
}

/// A bridge that records every call made to the bridge it wraps.
pub(crate) struct Spy {
    inner: Arc<dyn PaymentBridge>,
    node: &'static str,
    log: CallLog,
}

impl Spy {
    pub(crate) fn wrap(
        inner: Arc<dyn PaymentBridge>,
        node: &'static str,
        log: &CallLog,
    ) -> Arc<dyn PaymentBridge> {
        Arc::new(Spy {
            inner,
            node,
            log: log.clone(),
        })
    }

    fn record<Q: Request, R: Response>(
        &self,
        call: &'static str,
        request: &Q,
        result: &ApiResult<R>,
    ) {
        let answer = match result {
            Ok(r) => r.answer(),
            Err(e) => Answer::Err {
                code: e.code.clone(),
                severity: e.severity.clone(),
                desc: e.desc.clone(),
            },
        };
        lock(&self.log).push(CallRecord {
            node: self.node,
            call,
            pay_id: request.pay_id().to_owned(),
            answer,
            inquiry: request.inquiry(),
            receipt: request.receipt().to_vec(),
        });
    }
}

macro_rules! spied {
    ($($method:ident($req:ty) -> $resp:ty = $wire:literal;)+) => {
        impl PaymentBridge for Spy {
            fn info(&self) -> BridgeInfo {
                self.inner.info()
            }
            $(
                fn $method(&self, host: &dyn BridgeHost, request: &$req) -> ApiResult<$resp> {
                    let result = self.inner.$method(host, request);
                    self.record($wire, request, &result);
                    result
                }
            )+
        }
    };
}

spied! {
    find_accepted_payment_brand(FindAcceptedPaymentBrand) -> FindAcceptedPaymentBrandResponse
        = "FindAcceptedPaymentBrand";
    find_accepted_payment_protocol(FindAcceptedPaymentProtocol)
        -> FindAcceptedPaymentProtocolResponse = "FindAcceptedPaymentProtocol";
    get_payment_initialization_data(GetPaymentInitializationData)
        -> GetPaymentInitializationDataResponse = "GetPaymentInitializationData";
    inquire_auth_challenge(InquireAuthChallenge) -> InquireAuthChallengeResponse
        = "InquireAuthChallenge";
    authenticate(Authenticate) -> AuthenticateResponse = "Authenticate";
    check_auth_response(CheckAuthResponse) -> StatusInfo = "CheckAuthResponse";
    find_payment_instrument(FindPaymentInstrument) -> FindPaymentInstrumentResponse
        = "FindPaymentInstrument";
    check_payment_possibility(CheckPaymentPossibility) -> CheckPaymentPossibilityResponse
        = "CheckPaymentPossibility";
    start_payment_consumer(StartPaymentConsumer) -> SchemeStep = "StartPaymentConsumer";
    resume_payment_consumer(ResumePaymentConsumer) -> SchemeStep = "ResumePaymentConsumer";
    start_payment_inquiry(StartPaymentInquiry) -> StartPaymentInquiryResponse
        = "StartPaymentInquiry";
    payment_instrument_inquiry(PaymentInstrumentInquiry) -> PaymentInstrumentInquiryResponse
        = "PaymentInstrumentInquiry";
    start_payment_payment_handler(StartPaymentPaymentHandler) -> SchemeStep
        = "StartPaymentPaymentHandler";
    resume_payment_payment_handler(ResumePaymentPaymentHandler) -> SchemeStep
        = "ResumePaymentPaymentHandler";
    inquire_payment_status(InquirePaymentStatus) -> InquirePaymentStatusResponse
        = "InquirePaymentStatus";
    continue_process(ContinueProcess) -> SchemeStep = "ContinueProcess";
    change_process_state(ChangeProcessState) -> StatusInfo = "ChangeProcessState";
    inquire_process_state(InquireProcessState) -> InquireProcessStateResponse
        = "InquireProcessState";
    check_payment_receipt(CheckPaymentReceipt) -> () = "CheckPaymentReceipt";
    expand_payment_receipt(ExpandPaymentReceipt) -> ExpandPaymentReceiptResponse
        = "ExpandPaymentReceipt";
    remove_payment_log(RemovePaymentLog) -> () = "RemovePaymentLog";
    inquire_pending_payment(InquirePendingPayment) -> InquirePendingPaymentResponse
        = "InquirePendingPayment";
    manage_payment_software(ManagePaymentSoftware) -> ManagePaymentSoftwareResponse
        = "ManagePaymentSoftware";
}

// ---------------------------------------------------------------------------------------------
// The kit's own parts: a Merchant from the claims, the Consumer's choices, a host for direct
// calls

/// The Merchant's bridge when the subject does not play the Merchant: it accepts every claimed
/// brand with every claimed protocol, and adds nothing to the order.
#[derive(Debug)]
pub(crate) struct ClaimsMerchant {
    claims: PluginClaims,
}

impl ClaimsMerchant {
    pub(crate) fn new(claims: &PluginClaims) -> Self {
        ClaimsMerchant {
            claims: claims.clone(),
        }
    }
}

impl PaymentBridge for ClaimsMerchant {
    fn info(&self) -> BridgeInfo {
        BridgeInfo {
            auth_algorithms: Vec::new(),
            ..self.claims.bridge_info()
        }
    }

    fn find_accepted_payment_brand(
        &self,
        _host: &dyn BridgeHost,
        _request: &FindAcceptedPaymentBrand,
    ) -> ApiResult<FindAcceptedPaymentBrandResponse> {
        Ok(FindAcceptedPaymentBrandResponse {
            brands: self
                .claims
                .brands
                .iter()
                .map(|b| BrandItem {
                    brand_id: b.clone(),
                    lang: Some("en".into()),
                    brand_name: b.clone(),
                    brand_logo_net_locn: "https://conformance.invalid/logo.png".into(),
                    brand_narrative: None,
                    content: Vec::new(),
                })
                .collect(),
        })
    }

    fn find_accepted_payment_protocol(
        &self,
        _host: &dyn BridgeHost,
        request: &FindAcceptedPaymentProtocol,
    ) -> ApiResult<FindAcceptedPaymentProtocolResponse> {
        Ok(FindAcceptedPaymentProtocolResponse {
            protocols: self
                .claims
                .protocols
                .iter()
                .map(|p| ProtocolItem {
                    protocol_id: p.clone(),
                    protocol_brand_id: None,
                    protocol_name: p.clone(),
                    pay_req_net_locn: None,
                    sec_pay_req_net_locn: None,
                    protocol_amount_content: Vec::new(),
                    pay_protocol_content: Vec::new(),
                    currency_amounts: vec![request.amount.clone()],
                })
                .collect(),
            brands: Vec::new(),
        })
    }

    fn get_payment_initialization_data(
        &self,
        _host: &dyn BridgeHost,
        request: &GetPaymentInitializationData,
    ) -> ApiResult<GetPaymentInitializationDataResponse> {
        Ok(GetPaymentInitializationDataResponse {
            ok_from: None,
            ok_to: None,
            order: request.offer.order.clone(),
            trading_role_data: Vec::new(),
        })
    }
}

/// The Consumer's application: pays with one test instrument, and remembers what it was
/// offered (to explain a missing instrument).
#[derive(Debug, Default)]
pub(crate) struct KitConsumer {
    instrument: Mutex<String>,
    offered: Mutex<Vec<String>>,
}

impl KitConsumer {
    /// The options of the last Brand List, as `brand/protocol/instrument`.
    pub(crate) fn offered(&self) -> Vec<String> {
        lock(&self.offered).clone()
    }
}

impl ConsumerApp for KitConsumer {
    fn choose(
        &self,
        _offer: &OfferSummary,
        _direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        let want = lock(&self.instrument).clone();
        *lock(&self.offered) = options
            .iter()
            .map(|o| {
                format!(
                    "{}/{}/{}",
                    o.brand_id,
                    o.protocol_id,
                    o.instrument_id.as_deref().unwrap_or("(none)")
                )
            })
            .collect();
        options
            .iter()
            .position(|o| o.instrument_id.as_deref() == Some(want.as_str()))
    }
}

/// The host of the kit's direct calls: a bridge's key-value space in a node's store (the same
/// namespace the engine gives it), a fixed clock, deterministic random bytes.
pub(crate) struct StoreHost {
    store: Arc<dyn Store>,
    namespace: String,
    seed: Cell<u64>,
}

impl StoreHost {
    pub(crate) fn new(store: Arc<dyn Store>, namespace: &str) -> Self {
        StoreHost {
            store,
            namespace: namespace.into(),
            seed: Cell::new(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// A host with an empty store of its own.
    pub(crate) fn fresh(namespace: &str) -> Self {
        StoreHost::new(Arc::new(MemoryStore::new()), namespace)
    }
}

fn store_error(e: iotp::store::StoreError) -> ApiError {
    ApiError::transient(iotp::ErrorCode::SystemBusy, 1, e.to_string())
}

impl BridgeHost for StoreHost {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        self.store.kv_get(&self.namespace, key).map_err(store_error)
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        self.store
            .kv_put(&self.namespace, key, value)
            .map_err(store_error)
    }
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
        self.store
            .kv_insert_if_absent(&self.namespace, key, value)
            .map_err(store_error)
    }
    fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
        self.store
            .kv_delete(&self.namespace, key)
            .map_err(store_error)
    }
    fn callback(&self, _call: &CallBack) -> CallBackReply {
        CallBackReply::Continue
    }
    fn now_unix_millis(&self) -> i64 {
        iotp::txn::harness::DEMO_EPOCH
    }
    fn random(&self, out: &mut [u8]) {
        for b in out {
            *b = next_random(&self.seed) as u8;
        }
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
}

/// xorshift64*: deterministic bytes for hosts and garbage.
pub(crate) fn next_random(seed: &Cell<u64>) -> u64 {
    let mut x = seed.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    seed.set(x);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32
}

// ---------------------------------------------------------------------------------------------
// The network

/// The three nodes, in the order of [`Kit::stores`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Consumer,
    Merchant,
    PaymentHandler,
}

impl Node {
    const ALL: [Node; 3] = [Node::Consumer, Node::Merchant, Node::PaymentHandler];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Node::Consumer => "consumer",
            Node::Merchant => "merchant",
            Node::PaymentHandler => "paymenthandler",
        }
    }
}

/// The amount of every payment of the kit.
pub(crate) const AMOUNT: &str = "10.00";
/// Its currency.
pub(crate) const CURRENCY: &str = "USD";

/// A Consumer, a Merchant and a Payment Handler around the subject.
pub(crate) struct Kit<'s> {
    pub subject: &'s Subject,
    pub net: Network,
    nodes: [usize; 3],
    pub stores: [Arc<MemoryStore>; 3],
    pub log: CallLog,
    pub app: Arc<KitConsumer>,
    /// The subject's bridge the nodes use now (for the kit's direct calls).
    pub bridge: Arc<dyn PaymentBridge>,
    /// `info()` of the subject's bridge: its software id is its key-value namespace.
    pub info: BridgeInfo,
    /// Messages delivered outside the network (checked with the transcript).
    pub extra: Vec<(String, Arc<[u8]>)>,
    orders: u64,
}

impl<'s> Kit<'s> {
    /// A network with a fresh bridge from the subject's factory.
    pub(crate) fn new(subject: &'s Subject) -> Result<Self, String> {
        let bridge = subject.load()?;
        let info = bridge.info();
        let mut kit = Kit {
            subject,
            net: Network::new(),
            nodes: [0; 3],
            stores: [
                Arc::new(MemoryStore::new()),
                Arc::new(MemoryStore::new()),
                Arc::new(MemoryStore::new()),
            ],
            log: Arc::default(),
            app: Arc::default(),
            bridge: bridge.clone(),
            info,
            extra: Vec::new(),
            orders: 0,
        };
        for node in Node::ALL {
            let engine = kit.engine(node, &bridge);
            // Every net location the subject may name for its Payment Handler that is not the
            // Merchant's reaches the Payment Handler (the empty prefix is the shortest).
            let prefixes: &[&str] = match node {
                Node::Consumer => &[],
                Node::Merchant => &["https://shop.example/"],
                Node::PaymentHandler => &["https://pay.example/", ""],
            };
            kit.nodes[node as usize] = kit.net.add(node.name(), prefixes, engine);
        }
        Ok(kit)
    }

    fn engine(&self, node: Node, subject: &Arc<dyn PaymentBridge>) -> iotp::txn::Engine {
        let claims = &self.subject.claims;
        let (org, partners) = match node {
            Node::Consumer => (world::consumer(), vec![]),
            Node::Merchant => (world::shop(), vec![world::bank()]),
            Node::PaymentHandler => (world::bank(), vec![]),
        };
        let mut cfg = EngineConfig::new(org);
        cfg.partners = partners;
        cfg.timing = Timing::default();
        cfg.success_net_locn = Some("https://shop.example/thanks".into());
        let bridge: Arc<dyn PaymentBridge> = match node {
            Node::Merchant if !claims.roles.contains(&TradingRole::Merchant) => {
                Arc::new(ClaimsMerchant::new(claims))
            }
            _ => subject.clone(),
        };
        let store: Arc<dyn Store> = self.stores[node as usize].clone();
        let engine = iotp::txn::Engine::new(cfg, store).with_bridge(Spy::wrap(
            bridge,
            node.name(),
            &self.log,
        ));
        match node {
            Node::Consumer => engine.with_consumer_app(self.app.clone()),
            _ => engine,
        }
    }

    /// The node index in the network.
    pub(crate) fn node(&self, node: Node) -> usize {
        self.nodes[node as usize]
    }

    /// Stops every node and starts it again from its store, with a bridge loaded afresh from
    /// the subject's factory (a crash of the process, and the plugin reloaded).
    pub(crate) fn restart(&mut self) -> Result<(), String> {
        let bridge = self.subject.load()?;
        for node in Node::ALL {
            let engine = self.engine(node, &bridge);
            let i = self.node(node);
            *self.net.engine(i) = engine;
        }
        self.bridge = bridge;
        Ok(())
    }

    /// A host for calling the subject directly with a node's key-value space.
    pub(crate) fn host(&self, node: Node) -> StoreHost {
        StoreHost::new(self.stores[node as usize].clone(), &self.info.software_id)
    }

    /// Starts a payment of `direction` with a test instrument; runs until the network is quiet.
    /// Returns the transaction id.
    pub(crate) fn pay(
        &mut self,
        instrument: &str,
        direction: &PayDirection,
        brand_dependent: bool,
    ) -> Result<String, String> {
        let trans_type = match (direction, brand_dependent) {
            (PayDirection::Credit, false) => TransactionType::BaselineRefund,
            (PayDirection::Credit, true) => TransactionType::BaselineWithdrawal,
            _ => TransactionType::BaselinePurchase,
        };
        self.start(instrument, trans_type, brand_dependent, Some(direction))
    }

    /// Starts a transaction of the given type (one payment of `direction`, or none).
    pub(crate) fn start(
        &mut self,
        instrument: &str,
        trans_type: TransactionType,
        brand_dependent: bool,
        direction: Option<&PayDirection>,
    ) -> Result<String, String> {
        *lock(&self.app.instrument) = instrument.to_owned();
        self.orders += 1;
        let offer = Offer {
            trans_type: trans_type.to_string(),
            brand_dependent,
            authenticate_first: trans_type == TransactionType::BaselineAuthentication,
            short_desc: "IOTP conformance kit".into(),
            order_identifier: format!("KIT-{}", self.orders),
            order_desc: "A conformance test order".into(),
            applicable_law: "The laws of England and Wales".into(),
            consumer_org_id: world::consumer().org_id,
            consumer_name: "Jane Consumer".into(),
            deliver_to: Some(Address {
                address_line1: Some("12 Meadow Lane".into()),
                city_or_town: Some("Springfield".into()),
                postal_code: Some("62704".into()),
                country: Some("US".into()),
                ..Default::default()
            }),
            payments: direction
                .map(|d| PaymentOffer {
                    direction: d.to_string(),
                    currency: CURRENCY.into(),
                    amount: AMOUNT.into(),
                    short_desc: format!("{d} payment"),
                })
                .into_iter()
                .collect(),
            delivery: None,
            valid_for_secs: 86_400,
            related_trans_id: (trans_type == TransactionType::BaselineRefund)
                .then(|| "1795046400000.1.00000000@shop.example".into()),
        };
        let now = self.net.now;
        let merchant = self.node(Node::Merchant);
        let out = self
            .net
            .engine(merchant)
            .start_offer(offer, now)
            .map_err(|e| format!("the Merchant could not make the offer: {e}"))?;
        let trans = out
            .messages
            .first()
            .map(|m| m.iotp_trans_id.clone())
            .ok_or("the Merchant's offer sent no message")?;
        let consumer = self.node(Node::Consumer);
        self.net.start(merchant, consumer, out);
        Ok(trans)
    }

    /// How the Consumer's part of a transaction ended, if it has.
    pub(crate) fn consumer_end(&self, trans: &str) -> Option<TransactionOutcome> {
        self.ends(Node::Consumer, trans).into_iter().next()
    }

    /// Every end a node reported for a transaction.
    pub(crate) fn ends(&self, node: Node, trans: &str) -> Vec<TransactionOutcome> {
        self.net
            .finished(self.node(node))
            .into_iter()
            .filter(|o| o.iotp_trans_id == trans)
            .collect()
    }

    /// Lets time pass (retransmissions, retries, time-outs) until the Consumer's part ends, at
    /// most `rounds` wake-ups.
    pub(crate) fn settle(&mut self, trans: &str, rounds: usize) {
        for _ in 0..rounds {
            if self.consumer_end(trans).is_some() {
                return;
            }
            let now = self.net.now;
            let wake = Node::ALL
                .iter()
                .filter_map(|n| {
                    let i = self.node(*n);
                    self.net.engine(i).next_wake()
                })
                .min()
                .map_or(30_000, |w| (w - now).clamp(1_000, 30_000));
            self.net.advance(wake);
        }
    }

    /// Sets what happens to each message.
    pub(crate) fn set_fate(&mut self, f: impl FnMut(&Envelope) -> Fate + 'static) {
        self.net.set_fate(f);
    }

    /// The messages of a transaction, in order.
    pub(crate) fn messages(&self, trans: &str) -> Vec<&Envelope> {
        self.net.messages_of(trans)
    }

    /// The calls made to a node's bridge.
    pub(crate) fn calls(&self, node: Node, call: &str) -> Vec<CallRecord> {
        lock(&self.log)
            .iter()
            .filter(|c| c.node == node.name() && c.call == call)
            .cloned()
            .collect()
    }

    /// The scheme data a node's bridge gave for a payment id, all steps.
    pub(crate) fn steps(&self, node: Node, pay_id: &str) -> Vec<CallRecord> {
        lock(&self.log)
            .iter()
            .filter(|c| c.node == node.name() && c.pay_id == pay_id && !c.inquiry)
            .filter(|c| matches!(c.answer, Answer::Step { .. }) || step_call(c.call))
            .cloned()
            .collect()
    }

    /// The events of the network that are errors received by a node.
    pub(crate) fn errors_received(&self, trans: &str) -> Vec<String> {
        self.net
            .events
            .iter()
            .filter_map(|(n, e)| match e {
                Event::ErrorReceived {
                    iotp_trans_id,
                    code,
                    severity,
                    desc,
                } if iotp_trans_id == trans => {
                    Some(format!("{n} received {severity} {code}: {desc}"))
                }
                _ => None,
            })
            .collect()
    }

    /// Checks every message of the network: each must be valid alone (§3–§8) and with the
    /// other messages of its transaction. Those the kit delivered by hand (forged on purpose)
    /// are checked alone.
    pub(crate) fn check_messages(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut read = Vec::new();
        let all = self
            .net
            .transcript
            .iter()
            .filter(|e| e.fate != Fate::Corrupt)
            .map(|e| {
                (
                    format!("message {} {}→{}", e.seq, e.from, e.to),
                    e.xml.clone(),
                    true,
                )
            })
            .chain(
                self.extra
                    .iter()
                    .map(|(l, x)| (l.clone(), x.clone(), false)),
            );
        for (label, xml, in_transaction) in all {
            let report = Report::read(&xml, &Limits::default());
            let errors: Vec<String> = report
                .errors
                .iter()
                .filter(|e| e.is_error())
                .map(|e| e.to_string())
                .collect();
            if !errors.is_empty() {
                problems.push(format!("{label} is not valid: {}", errors.join("; ")));
            } else if let Some(m) = report.message
                && in_transaction
            {
                read.push((label, m));
            }
        }
        let mut ids: Vec<String> = read
            .iter()
            .map(|(_, m)| m.iotp_trans_id().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            let group: Vec<&(String, IotpMessage)> = read
                .iter()
                .filter(|(_, m)| m.iotp_trans_id() == id)
                .collect();
            let msgs: Vec<&IotpMessage> = group.iter().map(|(_, m)| m).collect();
            for ((label, _), errs) in group.iter().zip(iotp::msg::validate_transaction(&msgs)) {
                let errs: Vec<String> = errs
                    .iter()
                    .filter(|e| e.is_error())
                    .map(|e| e.to_string())
                    .collect();
                if !errs.is_empty() {
                    problems.push(format!(
                        "{label} is inconsistent with its transaction: {}",
                        errs.join("; ")
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// Calls whose answer is a scheme step.
fn step_call(call: &str) -> bool {
    matches!(
        call,
        "StartPaymentConsumer"
            | "StartPaymentPaymentHandler"
            | "ResumePaymentConsumer"
            | "ResumePaymentPaymentHandler"
            | "ContinueProcess"
    )
}

/// True when a transcript message holds a block of this tag.
pub(crate) fn has_block(xml: &[u8], tag: &str) -> bool {
    iotp::txn::harness::has_block(xml, tag)
}

/// The message read, if valid.
pub(crate) fn read(xml: &[u8]) -> Option<IotpMessage> {
    IotpMessage::from_xml(xml).ok()
}

/// The error components of a message: (code, severity).
pub(crate) fn error_codes(xml: &[u8]) -> Vec<(iotp::ErrorCode, Severity)> {
    read(xml)
        .and_then(|m| m.error)
        .map(|e| {
            e.error_components
                .into_iter()
                .map(|c| (c.error_code, c.severity))
                .collect()
        })
        .unwrap_or_default()
}

/// The Status of the Payment Response in a message.
pub(crate) fn payment_status(xml: &[u8]) -> Option<iotp::msg::model::Status> {
    read(xml)?.blocks.into_iter().find_map(|b| match b {
        TradingBlock::PaymentResponse(p) => Some(p.status),
        _ => None,
    })
}

/// A fate that applies `fate` to the `nth` (1-based) message from `from` holding a block of
/// `tag`, and delivers everything else.
pub(crate) fn fate_for(
    tag: &'static str,
    from: &'static str,
    nth: usize,
    fate: Fate,
) -> impl FnMut(&Envelope) -> Fate + 'static {
    let mut seen = 0;
    move |e: &Envelope| {
        if e.from == from && has_block(&e.xml, tag) {
            seen += 1;
            if seen == nth {
                return fate;
            }
        }
        Fate::Deliver
    }
}

/// A short account of an end, for messages.
pub(crate) fn describe(end: Option<&TransactionOutcome>) -> String {
    match end {
        None => "has not ended".into(),
        Some(o) => format!(
            "ended {:?} {}{}",
            o.kind,
            o.process_state,
            o.completion_code
                .as_ref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        ),
    }
}

/// The expected end state of a test instrument: (ProcessState, CompletionCode).
pub(crate) fn expected(
    t: &iotp::payapi::claims::TestInstrument,
) -> (ProcessState, Option<CompletionCode>) {
    match t.process_state {
        ProcessState::CompletedOk => (ProcessState::CompletedOk, None),
        _ => (ProcessState::Failed, t.completion_code.clone()),
    }
}
