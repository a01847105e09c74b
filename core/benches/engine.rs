//! Complete in-process purchases per second: Consumer, Merchant, Payment Handler and Delivery
//! Handler engines on the in-memory network of `txn::harness`, with the mock payment scheme,
//! the in-memory store and no signatures. Every message is written, read and fully validated by
//! its receiver, and every state change is committed to the store with its response.
//!
//! - `purchase/payment-only`: brand-independent, payment only: TPO + Offer Response, Payment
//!   Request, Payment Response (3 messages).
//! - `purchase/payment-then-delivery`: brand-dependent, payment then delivery: TPO, TPO
//!   Selection, Offer Response, Payment Request and Response, Delivery Request and Response
//!   (7 messages).
//!
//! Each purchase is a new transaction with its own order number on one demo network. The
//! network's transcript and event log are emptied before each purchase (outside the timing).
//! The in-memory stores keep every finished transaction and its messages (tens of KB per
//! purchase, never evicted) and the run slows down as they grow, so the network is rebuilt,
//! outside the timing, every [`PURCHASES_PER_NETWORK`] purchases: the figure is the steady
//! state of a node whose store holds up to that many transactions.
//!
//! Run: `cargo bench -p iotp --bench engine` (criterion reports purchases/s as elem/s).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use iotp::msg::codes::ProcessState;
use iotp::txn::Timing;
use iotp::txn::harness::{self, DemoNodes, Network, Scenario};

/// Purchases run on one network before it is replaced by a fresh one.
const PURCHASES_PER_NETWORK: u64 = 1_000;

fn scenario(variant: &str) -> Scenario {
    harness::scenarios()
        .into_iter()
        .find(|s| s.variant == variant)
        .unwrap_or_else(|| panic!("no demo scenario {variant:?}"))
}

/// One demo network and the purchases run on it.
struct Shop {
    scenario: Scenario,
    net: Network,
    nodes: DemoNodes,
    /// Purchases run on `net`.
    run_here: u64,
    /// Purchases run in all (the next order number).
    orders: u64,
    /// Purchases that did not end CompletedOk.
    failures: u64,
}

impl Shop {
    fn new(scenario: Scenario) -> Shop {
        let (net, nodes) = harness::demo_network(scenario.instrument, Timing::default());
        Shop {
            scenario,
            net,
            nodes,
            run_here: 0,
            orders: 0,
            failures: 0,
        }
    }

    /// Gets ready for the next purchase (untimed work).
    fn prepare(&mut self) {
        if self.run_here == PURCHASES_PER_NETWORK {
            let (net, nodes) = harness::demo_network(self.scenario.instrument, Timing::default());
            // The old network (and its stores) is dropped here, outside the timing.
            self.net = net;
            self.nodes = nodes;
            self.run_here = 0;
        }
        self.net.transcript.clear();
        self.net.events.clear();
    }

    /// One complete purchase (the timed work).
    fn purchase(&mut self) -> harness::ScenarioResult {
        self.run_here += 1;
        self.orders += 1;
        let result =
            harness::run_scenario_on(&mut self.net, self.nodes, &self.scenario, self.orders)
                .expect("the purchase runs");
        self.failures += u64::from(result.outcome != ProcessState::CompletedOk);
        result
    }
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("purchase");
    group.throughput(Throughput::Elements(1));
    for (name, variant) in [
        ("payment-only", "brand-independent, payment only"),
        (
            "payment-then-delivery",
            "brand-dependent, payment then delivery",
        ),
    ] {
        let mut shop = Shop::new(scenario(variant));
        // The measured work must be a complete, successful purchase.
        shop.prepare();
        let first = shop.purchase();
        assert_eq!(first.outcome, ProcessState::CompletedOk, "{variant}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    shop.prepare();
                    let start = Instant::now();
                    let result = shop.purchase();
                    timed += start.elapsed();
                    black_box(result);
                }
                timed
            })
        });
        assert_eq!(
            shop.failures, 0,
            "{variant}: {} of {} purchases did not complete",
            shop.failures, shop.orders
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = engine
}
criterion_main!(benches);
