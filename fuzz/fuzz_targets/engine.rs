//! Arbitrary message sequences into the transaction engines of the demo network (Consumer,
//! Merchant, Payment Handler, Delivery Handler and an all-in-one shop, mock scheme, in-memory
//! stores): no input, in any order and at any time, may make an engine panic, and every message
//! an engine sends must be a valid IOTP message.
//!
//! The input is a small program. Its first byte picks the Consumer's mock instrument; then each
//! step is an opcode byte followed by its operands:
//!
//! | opcode % 8 | step |
//! |---|---|
//! | 0 | a Merchant starts a demo offer (scenario byte): its messages join the pool |
//! | 1 | deliver pool message (index byte, 0 = the newest) to a node (byte) |
//! | 2 | deliver pool message (index byte) to a node (byte), bytes overwritten at an offset (u16) by a run of the input (length byte) |
//! | 3 | deliver raw bytes (u16 length, then the bytes) to a node (byte) |
//! | 4 | advance the clock (byte: a power of two of milliseconds) and wake every node |
//! | 5 | deliver the newest undelivered message where it is addressed (a reply to its requester, a request to the node of its net location), as the network would |
//! | 6 | cancel a pool message's transaction (index byte) at a node (byte) |
//! | 7 | inquiry (Offer/Payment/Delivery) about a pool message's transaction, or a ping |
//!
//! The pool starts with every message of every demo scenario (from a separate run, so with
//! other transaction IDs: new transactions for the engines here) and grows with every message
//! the engines send, so the fuzzer can follow a transaction into its deep states with steps 0
//! and 5, and then interleave duplicates, stale messages, corrupted ones and time-outs.
//!
//! `cargo fuzz run engine` (nightly; `scripts/setup.sh --fuzz` installs cargo-fuzz). Set
//! `IOTP_FUZZ_PANICS_ONLY=1` to look for panics only, `IOTP_FUZZ_TRACE=1` to see what an input
//! does.
#![no_main]

use std::sync::{Arc, OnceLock};

use iotp::msg::codes::InquiryType;
use iotp::payapi::mock::MockScheme;
use iotp::txn::harness::{self, DEMO_EPOCH, DemoNodes, Scenario};
use iotp::txn::{Destination, Engine, Outcome, Timing};
use iotp::{Limits, Report};
use libfuzzer_sys::fuzz_target;

/// Steps run per input at most (each one may process several messages).
const MAX_STEPS: usize = 48;
/// Messages kept in the pool at most.
const MAX_POOL: usize = 512;

/// A message known to the driver.
struct Pooled {
    xml: Arc<[u8]>,
    iotp_trans_id: String,
    /// The node that sent it, if it was sent here.
    from: Option<usize>,
    /// Where the network would take it, if it was sent here and is still undelivered.
    to: Option<usize>,
}

/// The messages of every demo scenario, computed once.
fn transcripts() -> &'static [(Arc<[u8]>, String)] {
    static TRANSCRIPTS: OnceLock<Vec<(Arc<[u8]>, String)>> = OnceLock::new();
    TRANSCRIPTS.get_or_init(|| {
        harness::scenarios()
            .iter()
            .filter_map(|s| harness::run_scenario(s).ok())
            .flat_map(|r| r.transcript)
            .map(|e| (e.xml, e.iotp_trans_id))
            .collect()
    })
}

/// With `IOTP_FUZZ_TRACE` set, every step and delivered message goes to standard error (to
/// replay a crash: `IOTP_FUZZ_TRACE=1 target/…/engine CRASH-FILE`).
fn trace(what: std::fmt::Arguments<'_>) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("IOTP_FUZZ_TRACE").is_some()) {
        eprintln!("{what}");
    }
}

/// With `IOTP_FUZZ_PANICS_ONLY` set, invalid outgoing messages are not reported: only panics
/// are (to look for other defects while known invalid-message bugs are open).
fn panics_only() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("IOTP_FUZZ_PANICS_ONLY").is_some())
}

/// The input, read front to back; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

struct Driver {
    net: harness::Network,
    nodes: DemoNodes,
    /// Node indexes, in the order a node byte picks them.
    all: [usize; 5],
    pool: Vec<Pooled>,
    now: i64,
}

impl Driver {
    fn node(&self, byte: u8) -> usize {
        self.all[usize::from(byte) % self.all.len()]
    }

    fn engine(&mut self, node: usize) -> &mut Engine {
        self.net.engine(node)
    }

    /// The node serving a net location, as the demo network routes.
    fn route(&self, url: &str) -> Option<usize> {
        let n = &self.nodes;
        [
            ("https://shop.example/", n.merchant),
            ("https://pay.example/", n.payment_handler),
            ("https://ship.example/", n.delivery_handler),
            ("https://allinone.example/", n.allinone),
        ]
        .into_iter()
        .find(|(prefix, _)| url.starts_with(prefix))
        .map(|(_, node)| node)
    }

    /// Checks what a node produced and adds its messages to the pool. `requester` is the node
    /// whose message was being answered, if any.
    fn absorb(&mut self, node: usize, requester: Option<usize>, outcome: Outcome) {
        for m in outcome.messages {
            let report = Report::read(&m.xml, &Limits::default());
            assert!(
                report.is_valid() || panics_only(),
                "node {node} sent an invalid message: {:?}\n{}",
                report.errors,
                String::from_utf8_lossy(&m.xml)
            );
            let to = match &m.to {
                Destination::Reply => requester,
                Destination::NetLocn(url) => self.route(url),
            };
            if self.pool.len() < MAX_POOL {
                self.pool.push(Pooled {
                    xml: m.xml,
                    iotp_trans_id: m.iotp_trans_id,
                    from: Some(node),
                    to,
                });
            }
        }
    }

    fn deliver(&mut self, bytes: &[u8], from: Option<usize>, to: usize) {
        let now = self.now;
        trace(format_args!(
            "deliver {} bytes from {from:?} to node {to} at {now}:\n{}",
            bytes.len(),
            String::from_utf8_lossy(bytes)
        ));
        let outcome = self.engine(to).receive(bytes, now);
        self.absorb(to, from, outcome);
    }

    /// A pool message, counting back from the newest (0).
    fn pooled(&self, byte: u8) -> Option<usize> {
        let len = self.pool.len();
        (len > 0).then(|| len - 1 - usize::from(byte) % len)
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let now = self.now;
        let op = input.byte() % 8;
        trace(format_args!("step {op}"));
        match op {
            0 => {
                let scenarios = harness::scenarios();
                let s: &Scenario = &scenarios[usize::from(input.byte()) % scenarios.len()];
                let merchant = if s.variant.contains("DelivAndPayResp") {
                    self.nodes.allinone
                } else {
                    self.nodes.merchant
                };
                let offer = harness::demo_offer(&s.transaction, s.variant, u64::from(input.byte()));
                // The Consumer asked for the offer: the first message is the answer to it.
                if let Ok(outcome) = self.engine(merchant).start_offer(offer, now) {
                    let consumer = self.nodes.consumer;
                    self.absorb(merchant, Some(consumer), outcome);
                }
            }
            op @ (1 | 2) => {
                let mutate = op == 2;
                let (Some(k), to) = (self.pooled(input.byte()), self.node(input.byte())) else {
                    return;
                };
                let mut bytes = self.pool[k].xml.to_vec();
                let from = self.pool[k].from;
                if mutate && !bytes.is_empty() {
                    let at = usize::from(input.u16()) % bytes.len();
                    let n = usize::from(input.byte() % 32);
                    let patch = input.bytes(n);
                    let end = (at + patch.len()).min(bytes.len());
                    bytes[at..end].copy_from_slice(&patch[..end - at]);
                }
                self.deliver(&bytes, from, to);
            }
            3 => {
                let to = self.node(input.byte());
                let n = usize::from(input.u16() % 4096);
                let bytes = input.bytes(n).to_vec();
                self.deliver(&bytes, None, to);
            }
            4 => {
                self.now += 1i64 << (input.byte() % 32);
                let now = self.now;
                for node in self.all {
                    let outcome = self.engine(node).wake(now);
                    self.absorb(node, None, outcome);
                }
            }
            5 => {
                let Some(k) = self.pool.iter().rposition(|p| p.to.is_some()) else {
                    return;
                };
                let (from, to) = (self.pool[k].from, self.pool[k].to.take());
                if let Some(to) = to {
                    let bytes = self.pool[k].xml.clone();
                    self.deliver(&bytes, from, to);
                }
            }
            6 => {
                let (Some(k), node) = (self.pooled(input.byte()), self.node(input.byte())) else {
                    return;
                };
                let trans = self.pool[k].iotp_trans_id.clone();
                if let Ok(outcome) = self.engine(node).cancel(&trans, now) {
                    self.absorb(node, None, outcome);
                }
            }
            _ => {
                let which = input.byte();
                let k = self.pooled(input.byte());
                let consumer = self.nodes.consumer;
                let outcome = match (which % 4, k) {
                    (0, _) | (_, None) => {
                        let url = [
                            "https://pay.example/iotp/paymenthandler",
                            "https://shop.example/iotp/merchant",
                            "https://ship.example/iotp/deliveryhandler",
                        ][usize::from(which / 4) % 3];
                        Some(self.engine(consumer).start_ping(url, now))
                    }
                    (kind, Some(k)) => {
                        let inquiry = match kind {
                            1 => InquiryType::Offer,
                            2 => InquiryType::Payment,
                            _ => InquiryType::Delivery,
                        };
                        let trans = self.pool[k].iotp_trans_id.clone();
                        self.engine(consumer)
                            .start_inquiry(&trans, inquiry, now)
                            .ok()
                    }
                };
                if let Some(outcome) = outcome {
                    self.absorb(consumer, None, outcome);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let instruments = MockScheme::instruments();
    let instrument = &instruments[usize::from(input.byte()) % instruments.len()];
    let (net, nodes) = harness::demo_network(&instrument.id, Timing::default());
    let mut driver = Driver {
        net,
        nodes,
        all: [
            nodes.consumer,
            nodes.merchant,
            nodes.payment_handler,
            nodes.delivery_handler,
            nodes.allinone,
        ],
        pool: transcripts()
            .iter()
            .map(|(xml, trans)| Pooled {
                xml: xml.clone(),
                iotp_trans_id: trans.clone(),
                from: None,
                to: None,
            })
            .collect(),
        now: DEMO_EPOCH,
    };
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        driver.step(&mut input);
    }
});
