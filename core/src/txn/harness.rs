//! An in-memory network of engines, for tests, the in-process demo and benchmarks.
//!
//! Each node is an [`Engine`] reached at one or more URL prefixes. A message sent to a net
//! location goes to the node whose prefix matches (the longest), and that node's reply goes
//! back to the sender, as HTTP would carry them (RFC 2935): the Consumer is always the client.
//! A [`Fate`] hook lets tests lose, duplicate or corrupt messages on the way.

use std::sync::Arc;

use crate::msg::TradingBlock;
use crate::msg::codes::*;
use crate::payapi::PaymentBridge;
use crate::payapi::mock::MockScheme;
use crate::store::MemoryStore;

use super::*;

/// What happens to a message on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Delivered once.
    Deliver,
    /// Lost.
    Drop,
    /// Delivered twice.
    Duplicate,
    /// Delivered with bytes changed in the middle.
    Corrupt,
}

/// One message as it crossed the network.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Position in the transcript, from 1.
    pub seq: usize,
    /// The sending role (`consumer`, `merchant`, `paymenthandler`, `deliveryhandler`,
    /// `custcare`).
    pub from: String,
    /// The receiving role.
    pub to: String,
    /// The transaction.
    pub iotp_trans_id: String,
    /// The bytes.
    pub xml: Arc<[u8]>,
    /// Whether it arrived.
    pub fate: Fate,
}

/// Decides the [`Fate`] of each message.
type FateFn = Box<dyn FnMut(&Envelope) -> Fate>;

struct Node {
    name: String,
    prefixes: Vec<String>,
    engine: Engine,
}

/// A network of nodes.
pub struct Network {
    nodes: Vec<Node>,
    /// The network's clock (Unix milliseconds).
    pub now: i64,
    /// Every message sent, in order.
    pub transcript: Vec<Envelope>,
    /// Every event, with the name of the node it happened at.
    pub events: Vec<(String, Event)>,
    fate: Option<FateFn>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("nodes", &self.nodes.len())
            .field("now", &self.now)
            .finish()
    }
}

/// The demo's clock start: 2026-11-19T00:00:00Z.
pub const DEMO_EPOCH: i64 = 1_795_046_400_000;

impl Network {
    /// An empty network.
    pub fn new() -> Self {
        Network {
            nodes: Vec::new(),
            now: DEMO_EPOCH,
            transcript: Vec::new(),
            events: Vec::new(),
            fate: None,
        }
    }

    /// Adds a node reached at `prefixes`; returns its index.
    pub fn add(&mut self, name: &str, prefixes: &[&str], engine: Engine) -> usize {
        self.nodes.push(Node {
            name: name.into(),
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            engine,
        });
        self.nodes.len() - 1
    }

    /// The engine of a node.
    pub fn engine(&mut self, node: usize) -> &mut Engine {
        &mut self.nodes[node].engine
    }

    /// Sets what happens to each message (default: every message is delivered).
    pub fn set_fate(&mut self, f: impl FnMut(&Envelope) -> Fate + 'static) {
        self.fate = Some(Box::new(f));
    }

    /// Delivers every message again.
    pub fn clear_fate(&mut self) {
        self.fate = None;
    }

    fn route(&self, url: &str) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.prefixes.iter().map(move |p| (i, p)))
            .filter(|(_, p)| url.starts_with(p.as_str()))
            .max_by_key(|(_, p)| p.len())
            .map(|(i, _)| i)
    }

    /// Feeds the outcome of a local call at `node` (start, cancel, wake, inquiry, ping) into
    /// the network and runs until quiet.
    pub fn run(&mut self, node: usize, outcome: Outcome) {
        self.absorb(node, None, outcome);
    }

    /// Delivers `outcome.reply()` of a start-up (the Merchant's first message) to `consumer`,
    /// as the answer to its start-up request, then runs until quiet.
    pub fn start(&mut self, merchant: usize, consumer: usize, outcome: Outcome) {
        let mut rest = outcome;
        let replies: Vec<Outgoing> = rest
            .messages
            .iter()
            .filter(|m| m.to == Destination::Reply)
            .cloned()
            .collect();
        rest.messages.retain(|m| m.to != Destination::Reply);
        self.absorb(merchant, None, rest);
        for m in replies {
            self.carry(merchant, consumer, m.xml.clone(), &m.iotp_trans_id);
        }
    }

    /// Advances the clock and wakes every node (retransmissions, time-outs).
    pub fn advance(&mut self, millis: i64) {
        self.now += millis;
        for i in 0..self.nodes.len() {
            let now = self.now;
            let out = self.nodes[i].engine.wake(now);
            self.absorb(i, None, out);
        }
    }

    /// Sends a message's bytes from one node to another and handles what comes back.
    fn carry(&mut self, from: usize, to: usize, xml: Arc<[u8]>, trans: &str) {
        let from_name = role_name(&self.nodes[from].name, &xml, true);
        let to_name = receiver_name(&self.nodes[to].name, &xml);
        let mut env = Envelope {
            seq: self.transcript.len() + 1,
            from: from_name,
            to: to_name,
            iotp_trans_id: trans.to_owned(),
            xml: xml.clone(),
            fate: Fate::Deliver,
        };
        let fate = self.fate.as_mut().map(|f| f(&env)).unwrap_or(Fate::Deliver);
        env.fate = fate;
        self.transcript.push(env);
        let copies: Vec<Arc<[u8]>> = match fate {
            Fate::Drop => Vec::new(),
            Fate::Deliver => vec![xml],
            Fate::Duplicate => vec![xml.clone(), xml],
            Fate::Corrupt => {
                let mut v = xml.to_vec();
                let mid = v.len() / 2;
                for b in v.iter_mut().skip(mid).take(8) {
                    *b = b'<';
                }
                vec![Arc::from(v.as_slice())]
            }
        };
        for bytes in copies {
            let now = self.now;
            let out = self.nodes[to].engine.receive(&bytes, now);
            self.absorb(to, Some(from), out);
        }
    }

    /// Handles a node's outcome: replies go to `reply_to`, requests to their net location.
    fn absorb(&mut self, node: usize, reply_to: Option<usize>, outcome: Outcome) {
        let name = self.nodes[node].name.clone();
        for e in outcome.events {
            self.events.push((name.clone(), e));
        }
        for m in outcome.messages {
            match &m.to {
                Destination::Reply => {
                    if let Some(back) = reply_to {
                        self.carry(node, back, m.xml.clone(), &m.iotp_trans_id);
                    }
                }
                Destination::NetLocn(url) => {
                    if let Some(target) = self.route(url) {
                        self.carry(node, target, m.xml.clone(), &m.iotp_trans_id);
                    }
                }
            }
        }
    }

    /// The transaction outcomes reported by a node, in order.
    pub fn finished(&self, node: usize) -> Vec<TransactionOutcome> {
        let name = &self.nodes[node].name;
        self.events
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, e)| match e {
                Event::Finished(o) => Some(o.clone()),
                _ => None,
            })
            .collect()
    }

    /// The messages of one transaction that arrived.
    pub fn messages_of(&self, iotp_trans_id: &str) -> Vec<&Envelope> {
        self.transcript
            .iter()
            .filter(|e| e.iotp_trans_id == iotp_trans_id)
            .collect()
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

/// The role that sent a message: the node's name, or for a node playing several roles, the
/// role its first block belongs to.
fn role_name(node: &str, xml: &[u8], _sending: bool) -> String {
    if node != "allinone" {
        return node.into();
    }
    let text = String::from_utf8_lossy(xml);
    if text.contains("<PayRespBlk") || text.contains("<PayExchBlk") {
        "paymenthandler".into()
    } else if text.contains("<DeliveryRespBlk") {
        "deliveryhandler".into()
    } else {
        "merchant".into()
    }
}

fn receiver_name(node: &str, xml: &[u8]) -> String {
    if node != "allinone" {
        return node.into();
    }
    let text = String::from_utf8_lossy(xml);
    if text.contains("<PayReqBlk") || text.contains("<PayExchBlk") {
        "paymenthandler".into()
    } else if text.contains("<DeliveryReqBlk") {
        "deliveryhandler".into()
    } else {
        "merchant".into()
    }
}

// ---------------------------------------------------------------------------------------------
// The demo world

/// The Consumer's application in the demo: picks the mock instrument by id.
#[derive(Debug, Clone)]
pub struct PickInstrument(pub String);

impl ConsumerApp for PickInstrument {
    fn choose(
        &self,
        _offer: &OfferSummary,
        _direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        options
            .iter()
            .position(|o| o.instrument_id.as_deref() == Some(self.0.as_str()))
            .or((!options.is_empty()).then_some(0))
    }
}

fn endpoint(role: &str, prefix: &str, base: &str) -> RoleEndpoint {
    RoleEndpoint {
        role: role.into(),
        msg_id_prefix: prefix.into(),
        net_locn: Some(format!("{base}/{}", role.to_ascii_lowercase())),
        cancel_net_locn: Some(format!("{base}/cancelled")),
        error_net_locn: Some(format!("{base}/error")),
        error_log_net_locn: None,
    }
}

fn org(org_id: &str, name: &str, roles: Vec<RoleEndpoint>) -> OrgConfig {
    OrgConfig {
        org_id: org_id.into(),
        legal_name: Some(format!("{name} Ltd.")),
        short_desc: name.into(),
        roles,
        legal_address: Some(config::Address {
            address_line1: Some("1 Example Street".into()),
            city_or_town: Some("London".into()),
            postal_code: Some("EC1A 1AA".into()),
            country: Some("GB".into()),
            ..Default::default()
        }),
    }
}

/// The organisations of the demo world.
pub mod world {
    use super::*;

    /// The shop (Merchant).
    pub fn shop() -> OrgConfig {
        let mut custcare = endpoint("CustCare", "M", "https://shop.example/iotp");
        custcare.net_locn = None;
        org(
            "shop.example",
            "Example Shop",
            vec![
                endpoint("Merchant", "M", "https://shop.example/iotp"),
                custcare,
            ],
        )
    }
    /// The Payment Handler.
    pub fn bank() -> OrgConfig {
        org(
            "pay.example",
            "Example Payments",
            vec![endpoint("PaymentHandler", "P", "https://pay.example/iotp")],
        )
    }
    /// The Delivery Handler.
    pub fn carrier() -> OrgConfig {
        org(
            "ship.example",
            "Example Parcels",
            vec![endpoint(
                "DeliveryHandler",
                "D",
                "https://ship.example/iotp",
            )],
        )
    }
    /// Merchant, Payment Handler and Delivery Handler in one organisation (§9.1.5).
    pub fn allinone() -> OrgConfig {
        let base = "https://allinone.example/iotp";
        org(
            "allinone.example",
            "All-in-one Store",
            vec![
                endpoint("Merchant", "M", base),
                endpoint("PaymentHandler", "P", base),
                endpoint("DeliveryHandler", "D", base),
            ],
        )
    }
    /// The Consumer.
    pub fn consumer() -> OrgConfig {
        OrgConfig::consumer("Consumer:jane/shop.example", "Jane Consumer")
    }
}

/// Node indexes of the demo network.
#[derive(Debug, Clone, Copy)]
pub struct DemoNodes {
    /// The Consumer.
    pub consumer: usize,
    /// The Merchant.
    pub merchant: usize,
    /// The Payment Handler.
    pub payment_handler: usize,
    /// The Delivery Handler.
    pub delivery_handler: usize,
    /// Merchant, Payment Handler and Delivery Handler in one node.
    pub allinone: usize,
}

fn pay_locn(o: &OrgConfig) -> Option<String> {
    o.endpoint(&TradingRole::PaymentHandler)
        .and_then(|e| e.net_locn.clone())
}

/// Builds the demo network: Consumer, Merchant, Payment Handler, Delivery Handler, and an
/// all-in-one shop, every node with the mock scheme and an in-memory store. The Consumer
/// pays with `instrument` (see [`crate::payapi::mock`]).
pub fn demo_network(instrument: &str, timing: Timing) -> (Network, DemoNodes) {
    let mut net = Network::new();
    let mk = |org: OrgConfig, partners: Vec<OrgConfig>, ph: Option<String>| {
        let mut cfg = EngineConfig::new(org);
        cfg.partners = partners;
        cfg.timing = timing.clone();
        cfg.success_net_locn = Some("https://shop.example/thanks".into());
        let bridge: Arc<dyn PaymentBridge> = Arc::new(MockScheme::new(ph.as_deref()));
        Engine::new(cfg, Arc::new(MemoryStore::new())).with_bridge(bridge)
    };
    let consumer = mk(world::consumer(), vec![], None)
        .with_consumer_app(Arc::new(PickInstrument(instrument.into())));
    let consumer = net.add("consumer", &[], consumer);
    let merchant = net.add(
        "merchant",
        &["https://shop.example/"],
        mk(
            world::shop(),
            vec![world::bank(), world::carrier()],
            pay_locn(&world::bank()),
        ),
    );
    let payment_handler = net.add(
        "paymenthandler",
        &["https://pay.example/"],
        mk(world::bank(), vec![], None),
    );
    let delivery_handler = net.add(
        "deliveryhandler",
        &["https://ship.example/"],
        mk(world::carrier(), vec![], None),
    );
    let allinone = net.add(
        "allinone",
        &["https://allinone.example/"],
        mk(world::allinone(), vec![], pay_locn(&world::allinone())),
    );
    (
        net,
        DemoNodes {
            consumer,
            merchant,
            payment_handler,
            delivery_handler,
            allinone,
        },
    )
}

/// One demo run: a transaction type and a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// `IotpTransType`.
    pub transaction: TransactionType,
    /// What varies (offer form, exchanges).
    pub variant: &'static str,
    /// The mock instrument the Consumer pays with.
    pub instrument: &'static str,
}

/// What a scenario produced.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The scenario.
    pub scenario: Scenario,
    /// The final ProcessState at the Consumer (for an inquiry, the state reported; for a
    /// ping, CompletedOk when the answer is Ok).
    pub outcome: ProcessState,
    /// The completion code, if any.
    pub completion_code: Option<CompletionCode>,
    /// Messages exchanged.
    pub messages: usize,
    /// The transcript.
    pub transcript: Vec<Envelope>,
}

/// Every scenario of the demo: each baseline transaction, and each purchase variant.
pub fn scenarios() -> Vec<Scenario> {
    let s = |t: TransactionType, variant: &'static str| Scenario {
        transaction: t,
        variant,
        instrument: "approve",
    };
    vec![
        s(
            TransactionType::BaselinePurchase,
            "brand-dependent, payment then delivery",
        ),
        s(
            TransactionType::BaselinePurchase,
            "brand-independent, payment only",
        ),
        s(
            TransactionType::BaselinePurchase,
            "brand-independent, payment with delivery (DelivAndPayResp)",
        ),
        Scenario {
            transaction: TransactionType::BaselinePurchase,
            variant: "brand-dependent, payment with an extra exchange round",
            instrument: "extra-round",
        },
        s(
            TransactionType::BaselinePurchase,
            "authentication first, brand-independent, payment then delivery",
        ),
        s(
            TransactionType::BaselineRefund,
            "brand-independent, credit payment",
        ),
        s(
            TransactionType::BaselineDeposit,
            "brand-dependent, debit payment",
        ),
        s(
            TransactionType::BaselineWithdrawal,
            "brand-dependent, credit payment",
        ),
        s(
            TransactionType::BaselineValueExchange,
            "two payments ordered by StartAfterRefs",
        ),
        s(
            TransactionType::BaselineAuthentication,
            "authentication only",
        ),
        s(
            TransactionType::BaselineInquiry,
            "payment status inquiry after a purchase",
        ),
        s(
            TransactionType::BaselinePing,
            "anonymous ping of the Payment Handler",
        ),
    ]
}

/// The demo offer for a transaction type and variant.
pub fn demo_offer(transaction: &TransactionType, variant: &str, n: u64) -> Offer {
    let payment = |direction: &str, amount: &str, desc: &str| PaymentOffer {
        direction: direction.into(),
        currency: "USD".into(),
        amount: amount.into(),
        short_desc: desc.into(),
    };
    let (payments, delivery, desc) = match transaction {
        TransactionType::BaselineRefund => (
            vec![payment("Credit", "19.95", "Refund of order 1")],
            None,
            "Refund of a returned book",
        ),
        TransactionType::BaselineDeposit => (
            vec![payment("Debit", "100.00", "Deposit")],
            None,
            "Deposit to your account",
        ),
        TransactionType::BaselineWithdrawal => (
            vec![payment("Credit", "50.00", "Withdrawal")],
            None,
            "Withdrawal of e-cash",
        ),
        TransactionType::BaselineValueExchange => (
            vec![
                payment("Debit", "110.00", "Card payment"),
                payment("Credit", "100.00", "E-cash issued"),
            ],
            None,
            "Exchange of card credit for e-cash",
        ),
        TransactionType::BaselineAuthentication => (vec![], None, "Sign in"),
        _ => {
            let delivery = (!variant.contains("payment only")).then(|| DeliveryOffer {
                method: "Post".into(),
                deliv_and_pay_resp: variant.contains("DelivAndPayResp"),
                description: "Two paperback books".into(),
            });
            (
                vec![payment("Debit", "39.95", "Payment for two books")],
                delivery,
                "Two books from Example Shop",
            )
        }
    };
    Offer {
        trans_type: transaction.to_string(),
        brand_dependent: variant.contains("brand-dependent"),
        authenticate_first: variant.contains("authentication first"),
        short_desc: desc.into(),
        order_identifier: format!("ORDER-{n}"),
        order_desc: desc.into(),
        applicable_law: "The laws of England and Wales".into(),
        consumer_org_id: world::consumer().org_id,
        consumer_name: "Jane Consumer".into(),
        deliver_to: Some(config::Address {
            address_line1: Some("12 Meadow Lane".into()),
            city_or_town: Some("Springfield".into()),
            postal_code: Some("62704".into()),
            country: Some("US".into()),
            ..Default::default()
        }),
        payments,
        delivery,
        valid_for_secs: 86_400,
        related_trans_id: (transaction == &TransactionType::BaselineRefund)
            .then(|| "1795046400000.1.00000000@shop.example".into()),
    }
}

/// Runs one scenario on a fresh demo network.
pub fn run_scenario(scenario: &Scenario) -> Result<ScenarioResult, EngineError> {
    let (mut net, n) = demo_network(scenario.instrument, Timing::default());
    run_scenario_on(&mut net, n, scenario, 1)
}

/// Runs one scenario on a given demo network (the benchmark reuses one).
pub fn run_scenario_on(
    net: &mut Network,
    n: DemoNodes,
    scenario: &Scenario,
    order: u64,
) -> Result<ScenarioResult, EngineError> {
    let first = net.transcript.len();
    let merchant = if scenario.variant.contains("DelivAndPayResp") {
        n.allinone
    } else {
        n.merchant
    };
    let (outcome, code, trans) = match &scenario.transaction {
        TransactionType::BaselineInquiry => {
            let purchase = Scenario {
                transaction: TransactionType::BaselinePurchase,
                variant: "brand-independent, payment only",
                instrument: scenario.instrument,
            };
            let done = run_scenario_on(net, n, &purchase, order)?;
            let trans = done
                .transcript
                .first()
                .map(|e| e.iotp_trans_id.clone())
                .unwrap_or_default();
            let first = net.transcript.len();
            let now = net.now;
            let out = net
                .engine(n.consumer)
                .start_inquiry(&trans, InquiryType::Payment, now)?;
            net.run(n.consumer, out);
            let status = net.events.iter().rev().find_map(|(_, e)| match e {
                Event::InquiryAnswered { status, .. } => Some(status.clone()),
                _ => None,
            });
            let transcript = net.transcript[first..].to_vec();
            return Ok(ScenarioResult {
                scenario: scenario.clone(),
                outcome: status
                    .as_ref()
                    .map(|s| s.process_state.clone())
                    .unwrap_or(ProcessState::ProcessError),
                completion_code: status.and_then(|s| s.completion_code),
                messages: transcript.len(),
                transcript,
            });
        }
        TransactionType::BaselinePing => {
            let now = net.now;
            let out = net
                .engine(n.consumer)
                .start_ping("https://pay.example/iotp/paymenthandler", now);
            net.run(n.consumer, out);
            let ok = net.events.iter().rev().find_map(|(_, e)| match e {
                Event::PingAnswered { code, .. } => Some(code.clone()),
                _ => None,
            });
            let outcome = if ok == Some(PingStatusCode::Ok) {
                ProcessState::CompletedOk
            } else {
                ProcessState::Failed
            };
            (outcome, None, String::new())
        }
        t => {
            let offer = demo_offer(t, scenario.variant, order);
            let now = net.now;
            let out = net.engine(merchant).start_offer(offer, now)?;
            let trans = out
                .messages
                .first()
                .map(|m| m.iotp_trans_id.clone())
                .unwrap_or_default();
            net.start(merchant, n.consumer, out);
            let end = net
                .finished(n.consumer)
                .into_iter()
                .rev()
                .find(|o| o.iotp_trans_id == trans);
            match end {
                Some(o) => (o.process_state, o.completion_code, trans),
                None => (ProcessState::InProgress, None, trans),
            }
        }
    };
    let _ = trans;
    let transcript = net.transcript[first..].to_vec();
    Ok(ScenarioResult {
        scenario: scenario.clone(),
        outcome,
        completion_code: code,
        messages: transcript.len(),
        transcript,
    })
}

/// True when a transcript message holds a block of this tag.
pub fn has_block(xml: &[u8], tag: &str) -> bool {
    crate::msg::IotpMessage::from_xml(xml)
        .map(|m| m.blocks.iter().any(|b: &TradingBlock| b.tag() == tag))
        .unwrap_or(false)
}
