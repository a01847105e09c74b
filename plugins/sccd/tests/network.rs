//! SCCD over the networked demo's world (`iotp_runtime::demo::DemoWorld`: a Merchant, a
//! Payment Handler and a Delivery Handler, an all-in-one shop, TLS for the handlers, SQLite
//! stores, the HTTP transport), every node in this process: purchases, the step-up round, a
//! refund booked against a purchase, each declining test card and an inquiry, over HTTPS.
//! Then every file of every node but the Consumer's (stores, logs, configurations) is searched
//! for the test cards' numbers: none is there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use iotp::msg::codes::{InquiryType, PayDirection, ProcessState, TransactionType};
use iotp::msg::model::PackagedContent;
use iotp::txn::harness::{self, Scenario};
use iotp::txn::{ConsumerApp, OfferSummary, PaymentOption, TransactionOutcome};
use iotp_plugin_host::testing::{HTTP_TRANSPORT, RustPlugin, build_rust_plugin};
use iotp_runtime::demo::{DemoServer, DemoWorld};
use iotp_runtime::{Node, NodeApps};
use iotp_scheme_sccd::ecml::{self, Action, Auth};
use iotp_scheme_sccd::processor::{Behaviour, TEST_CARDS};

const SCCD_SCHEME: RustPlugin<'static> = RustPlugin::Package {
    package: "iotp-plugin-sccd",
    lib_name: "iotp_scheme_sccd",
};

/// The Consumer pays with the test card it is told to.
#[derive(Default)]
struct Wallet(Mutex<String>);

impl Wallet {
    fn set(&self, id: &str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = id.to_owned();
    }
}

impl ConsumerApp for Wallet {
    fn choose(
        &self,
        _offer: &OfferSummary,
        _direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        let wanted = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        options
            .iter()
            .position(|o| o.instrument_id.as_deref() == Some(wanted.as_str()))
    }
}

fn scenario(transaction: TransactionType, variant_part: &str) -> Scenario {
    harness::scenarios()
        .into_iter()
        .find(|s| s.transaction == transaction && s.variant.contains(variant_part))
        .unwrap_or_else(|| panic!("no demo scenario {transaction} {variant_part}"))
}

/// The SCCD-Auth of a receipt.
fn auth(o: &TransactionOutcome) -> Auth {
    let text = o
        .receipts
        .iter()
        .flat_map(|r| r.parts.iter())
        .find(|(name, _)| name.as_deref() == Some(ecml::AUTH))
        .map(|(_, text)| text.clone())
        .unwrap_or_else(|| panic!("no SCCD-Auth in {o:?}"));
    let pc = PackagedContent {
        name: Some(ecml::AUTH.into()),
        ..PackagedContent::text(text)
    };
    Auth::read(&pc).expect("an SCCD-Auth")
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn sccd_over_https_and_no_card_number_outside_the_consumer() {
    let scheme = build_rust_plugin(SCCD_SCHEME).unwrap_or_else(|e| panic!("{e}"));
    let transport = build_rust_plugin(HTTP_TRANSPORT).unwrap_or_else(|e| panic!("{e}"));
    let plugin_dir = scheme.parent().unwrap();
    assert_eq!(transport.parent().unwrap(), plugin_dir);
    let data = tempfile::tempdir().unwrap();
    let world = DemoWorld::new(data.path(), plugin_dir, "sccd", true).unwrap();
    let logged: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = |name: &'static str| -> iotp_runtime::log::LogSink {
        let logged = logged.clone();
        Arc::new(move |_level, line: &str| {
            logged
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("{name}: {line}"));
        })
    };
    let servers: Vec<Node> = DemoServer::ALL
        .iter()
        .map(|&s| {
            let apps = NodeApps {
                log: Some(sink(s.name())),
                ..NodeApps::default()
            };
            Node::open(world.server_config(s), apps).unwrap_or_else(|e| panic!("{s:?}: {e}"))
        })
        .collect();
    assert!(world.payment_handler_url().starts_with("https://"));
    let wallet = Arc::new(Wallet::default());
    let consumer = Node::open(
        world.consumer_config(2, false),
        NodeApps {
            consumer: Some(wallet.clone()),
            log: Some(sink("consumer")),
            ..NodeApps::default()
        },
    )
    .unwrap();
    let wait = Some(Duration::from_secs(60));
    let pay = |s: &Scenario, card: &str| {
        wallet.set(card);
        consumer
            .pay(&world.startup_url(s), wait)
            .unwrap_or_else(|e| panic!("{} {} with {card}: {e}", s.transaction, s.variant))
    };

    // Purchases: payment only, payment then delivery, with delivery (the all-in-one shop),
    // the step-up round; a deposit, a withdrawal, a value exchange.
    let only = scenario(TransactionType::BaselinePurchase, "payment only");
    let purchase = pay(&only, "approve");
    assert_eq!(
        purchase.process_state,
        ProcessState::CompletedOk,
        "{purchase:?}"
    );
    let paid = auth(&purchase);
    assert_eq!(
        (paid.action, paid.truncated.as_str()),
        (Action::Approve, "XXXXXXXXXXXX1111")
    );
    for (s, card) in [
        (
            scenario(TransactionType::BaselinePurchase, "payment then delivery"),
            "approve-mastercard",
        ),
        (
            scenario(TransactionType::BaselinePurchase, "DelivAndPayResp"),
            "approve-amex",
        ),
        (
            scenario(TransactionType::BaselinePurchase, "extra exchange round"),
            "extra-round",
        ),
        (
            scenario(TransactionType::BaselineDeposit, "debit"),
            "approve",
        ),
        (
            scenario(TransactionType::BaselineWithdrawal, "credit"),
            "approve-mastercard",
        ),
        (
            scenario(TransactionType::BaselineValueExchange, "two payments"),
            "approve-amex",
        ),
    ] {
        let o = pay(&s, card);
        assert_eq!(
            o.process_state,
            ProcessState::CompletedOk,
            "{} with {card}: {o:?}",
            s.variant
        );
        assert!(o.receipts.iter().all(|r| !r.parts.is_empty()));
    }

    // A refund, booked against an earlier authorisation of the card at this Payment Handler.
    let refund = pay(
        &scenario(TransactionType::BaselineRefund, "credit"),
        "approve",
    );
    assert_eq!(
        refund.process_state,
        ProcessState::CompletedOk,
        "{refund:?}"
    );
    let refunded = auth(&refund);
    assert_eq!(refunded.transaction.kind, ecml::TxnType::Credit);
    assert_eq!(refunded.transaction.references.len(), 1, "{refunded:?}");

    // Every declining card: a Failed payment with its completion code.
    for c in TEST_CARDS {
        let Behaviour::Decline(d) = c.behaviour else {
            continue;
        };
        let o = pay(&only, c.id);
        assert_eq!(
            (o.process_state.clone(), o.completion_code.clone()),
            (ProcessState::Failed, Some(d.code())),
            "{}: {o:?}",
            c.id
        );
    }

    // An inquiry about the first purchase.
    let status = consumer
        .inquire(&purchase.iotp_trans_id, InquiryType::Payment, wait)
        .unwrap();
    assert_eq!(status.process_state, ProcessState::CompletedOk);

    consumer.shutdown();
    for s in &servers {
        s.shutdown();
    }
    drop(servers);

    // No node but the Consumer holds a card number: not in its store, log or anything else.
    let numbers: Vec<&str> = TEST_CARDS.iter().map(|c| c.number).collect();
    let mut searched = 0;
    for s in DemoServer::ALL {
        for file in files(&world.node_dir(s.name())) {
            let bytes = std::fs::read(&file).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for n in &numbers {
                assert!(!text.contains(n), "{} holds a card number", file.display());
            }
            searched += 1;
        }
    }
    assert!(searched >= 8, "only {searched} files searched");
    let lines = logged.lock().unwrap_or_else(PoisonError::into_inner);
    for line in lines.iter().filter(|l| !l.starts_with("consumer: ")) {
        for n in &numbers {
            assert!(!line.contains(n), "a log line holds a card number: {line}");
        }
    }
    // The search finds a number where one is: in the Consumer's own store (its Payment
    // Requests).
    let consumer_files = files(&world.node_dir("consumer"));
    assert!(consumer_files.iter().any(|f| {
        String::from_utf8_lossy(&std::fs::read(f).unwrap()).contains("4111111111111111")
    }));
}
