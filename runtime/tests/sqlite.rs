//! The SQLite store: the shared store contract (run on the in-memory store too), durability
//! across reopening, atomicity of a failed commit, schema migrations, and the engine running
//! every demo scenario with each node on its own SQLite file, including a restart of the
//! Payment Handler in the middle of a payment.

use std::path::Path;
use std::sync::{Arc, Weak};

use iotp::msg::codes::{ProcessState, TradingRole, TransactionType};
use iotp::payapi::PaymentBridge;
use iotp::payapi::mock::MockScheme;
use iotp::store::{
    MemoryStore, ReplayEntry, Store, StoredMessage, TransactionKey, TransactionRecord,
    check_store_contract,
};
use iotp::txn::harness::{
    self, DemoNodes, Envelope, Fate, Network, PickInstrument, demo_offer, has_block, world,
};
use iotp::txn::{Engine, EngineConfig, Event, OrgConfig, Timing};
use iotp_runtime::{SCHEMA_VERSION, SqliteStore};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

// -------------------------------------------------------------------------------------------
// The same store test suite on both stores

#[test]
fn the_store_contract_holds_on_the_memory_store() {
    check_store_contract(&MemoryStore::new());
}

#[test]
fn the_store_contract_holds_on_the_sqlite_store() {
    let dir = tmp();
    let store = SqliteStore::open(dir.path().join("contract.db")).expect("opens");
    check_store_contract(&store);
    // And again on the reopened file, which now holds the first run's data.
    drop(store);
    let store = SqliteStore::open(dir.path().join("contract.db")).expect("reopens");
    let key = TransactionKey {
        iotp_trans_id: "contract@example.com".into(),
        role: "Merchant".into(),
    };
    assert!(store.load(&key).expect("load").is_some());
}

// -------------------------------------------------------------------------------------------
// Durability and atomicity

fn record(id: &str, role: &str, n: usize) -> TransactionRecord {
    TransactionRecord {
        key: TransactionKey {
            iotp_trans_id: id.into(),
            role: role.into(),
        },
        state: format!("{{\"id\":\"{id}\",\"n\":{n}}}"),
        messages: (0..n)
            .map(|i| StoredMessage {
                sent: i % 2 == 1,
                message_id: format!("M{i}"),
                xml: Arc::from(format!("<IotpMessage n=\"{i}\">é &amp; ü</IotpMessage>")),
            })
            .collect(),
        wake_at: n.is_multiple_of(2).then_some(1_000 + n as i64),
        finished: n > 3,
    }
}

#[test]
fn everything_committed_is_there_after_reopening_the_file() {
    let dir = tmp();
    let path = dir.path().join("node.db");
    let records: Vec<TransactionRecord> = (0..6)
        .map(|n| record(&format!("t{n}@shop.example"), "PaymentHandler", n))
        .collect();
    let replay = vec![
        ([1u8; 32], ReplayEntry::InProgress { since: 42 }),
        (
            [2u8; 32],
            ReplayEntry::Answered {
                response: Some(b"<IotpMessage/>".to_vec()),
            },
        ),
        ([3u8; 32], ReplayEntry::Answered { response: None }),
    ];
    {
        let store = SqliteStore::open(&path).expect("opens");
        let refs: Vec<&TransactionRecord> = records.iter().collect();
        store.commit(&refs[..3], &replay[..1]).expect("commit 1");
        store.commit(&refs[3..], &replay[1..]).expect("commit 2");
        assert_eq!(store.replay_begin(&[9u8; 32], 77).expect("begin"), None);
        store.kv_put("ecash", "coin-1", b"spent").expect("put");
        assert!(
            store
                .kv_insert_if_absent("ecash", "coin-2", b"\0\xff")
                .expect("insert")
        );
        store.kv_put("ecash", "gone", b"x").expect("put");
        store.kv_delete("ecash", "gone").expect("delete");
    }
    let store = SqliteStore::open(&path).expect("reopens");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    for r in &records {
        assert_eq!(store.load(&r.key).expect("load").as_ref(), Some(r));
    }
    // Answers stay; "in progress" marks of the previous process are gone (nothing processes
    // those messages any more: a retransmission is processed afresh).
    for (d, e) in &replay {
        let expected = match e {
            ReplayEntry::InProgress { .. } => None,
            answered => Some(answered),
        };
        assert_eq!(store.replay_get(d).expect("get").as_ref(), expected);
    }
    assert_eq!(store.replay_get(&[9u8; 32]).expect("get"), None);
    assert_eq!(
        store.kv_get("ecash", "coin-1").expect("get"),
        Some(b"spent".to_vec())
    );
    assert_eq!(
        store.kv_get("ecash", "coin-2").expect("get"),
        Some(b"\0\xff".to_vec())
    );
    assert_eq!(store.kv_get("ecash", "gone").expect("get"), None);
    let due: Vec<String> = store
        .due(1_003)
        .expect("due")
        .into_iter()
        .map(|k| k.iotp_trans_id)
        .collect();
    assert_eq!(due, ["t0@shop.example", "t2@shop.example"]);
}

/// Makes every later write of a record with this transaction id fail inside SQLite.
fn poison(path: &Path, iotp_trans_id: &str) {
    let c = rusqlite::Connection::open(path).expect("open");
    c.execute_batch(&format!(
        "CREATE TRIGGER poison BEFORE INSERT ON transactions
         WHEN NEW.iotp_trans_id = '{iotp_trans_id}'
         BEGIN SELECT RAISE(ABORT, 'poisoned record'); END;"
    ))
    .expect("trigger");
}

#[test]
fn a_commit_that_fails_midway_leaves_nothing_of_itself() {
    let dir = tmp();
    let path = dir.path().join("node.db");
    let before = record("before@shop.example", "Merchant", 2);
    {
        let store = SqliteStore::open(&path).expect("opens");
        store.commit(&[&before], &[]).expect("commit");
    }
    // (The store holds its file's lock while open: the trigger goes in between.)
    poison(&path, "poison@shop.example");
    let store = SqliteStore::open(&path).expect("reopens");

    let mut changed = before.clone();
    changed.state = "{\"changed\":true}".into();
    changed.messages.push(StoredMessage {
        sent: true,
        message_id: "M9".into(),
        xml: Arc::from("<IotpMessage/>"),
    });
    let fresh = record("fresh@shop.example", "Merchant", 3);
    let bad = record("poison@shop.example", "Merchant", 1);
    let answered = ReplayEntry::Answered {
        response: Some(b"<r/>".to_vec()),
    };
    let err = store
        .commit(&[&changed, &fresh, &bad], &[([5u8; 32], answered.clone())])
        .expect_err("the third record fails");
    assert!(err.0.contains("poisoned record"), "SQLite's message: {err}");

    let check = |store: &SqliteStore| {
        assert_eq!(
            store.load(&before.key).expect("load").as_ref(),
            Some(&before)
        );
        assert_eq!(store.load(&fresh.key).expect("load"), None);
        assert_eq!(store.load(&bad.key).expect("load"), None);
        assert_eq!(store.replay_get(&[5u8; 32]).expect("get"), None);
    };
    check(&store);
    // The connection is usable afterwards, and the file holds the same after reopening.
    store
        .commit(&[&fresh], &[([5u8; 32], answered.clone())])
        .expect("a good commit");
    assert_eq!(store.load(&fresh.key).expect("load").as_ref(), Some(&fresh));
    drop(store);
    let store = SqliteStore::open(&path).expect("reopens");
    assert_eq!(
        store.load(&before.key).expect("load").as_ref(),
        Some(&before)
    );
    assert_eq!(store.load(&bad.key).expect("load"), None);
    assert_eq!(store.replay_get(&[5u8; 32]).expect("get"), Some(answered));
}

// -------------------------------------------------------------------------------------------
// Migrations

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
        .expect("user_version")
}

#[test]
fn a_new_file_gets_the_current_schema_version() {
    let dir = tmp();
    let path = dir.path().join("new.db");
    let store = SqliteStore::open(&path).expect("opens");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    drop(store);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    // Opening again changes nothing.
    drop(SqliteStore::open(&path).expect("reopens"));
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn a_file_from_a_newer_build_is_refused_and_left_alone() {
    let dir = tmp();
    let path = dir.path().join("future.db");
    let store = SqliteStore::open(&path).expect("opens");
    store.kv_put("b", "k", b"v").expect("put");
    drop(store);
    let future = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path)
        .and_then(|c| c.pragma_update(None, "user_version", future))
        .expect("set version");
    let err = SqliteStore::open(&path).expect_err("refused");
    assert!(
        err.0.contains(&format!("schema version is {future}"))
            && err.0.contains("newer than this build knows"),
        "a clear error: {err}"
    );
    assert_eq!(user_version(&path), future, "left alone");
    let value: Vec<u8> = rusqlite::Connection::open(&path)
        .and_then(|c| c.query_row("SELECT value FROM kv", [], |r| r.get(0)))
        .expect("data kept");
    assert_eq!(value, b"v");
}

// -------------------------------------------------------------------------------------------
// The engine on SQLite

fn pay_locn(o: &OrgConfig) -> Option<String> {
    o.endpoint(&TradingRole::PaymentHandler)
        .and_then(|e| e.net_locn.clone())
}

fn engine(org: OrgConfig, partners: Vec<OrgConfig>, ph: Option<String>, db: &Path) -> Engine {
    let mut cfg = EngineConfig::new(org);
    cfg.partners = partners;
    cfg.timing = Timing::default();
    cfg.success_net_locn = Some("https://shop.example/thanks".into());
    let bridge: Arc<dyn PaymentBridge> = Arc::new(MockScheme::new(ph.as_deref()));
    let store = SqliteStore::open(db).expect("store opens");
    Engine::new(cfg, Arc::new(store)).with_bridge(bridge)
}

/// [`harness::demo_network`] with every node on its own SQLite file in `dir`.
fn sqlite_demo_network(dir: &Path, instrument: &str) -> (Network, DemoNodes) {
    let mut net = Network::new();
    let db = |name: &str| dir.join(format!("{name}.db"));
    let consumer = engine(world::consumer(), vec![], None, &db("consumer"))
        .with_consumer_app(Arc::new(PickInstrument(instrument.into())));
    let consumer = net.add("consumer", &[], consumer);
    let merchant = net.add(
        "merchant",
        &["https://shop.example/"],
        engine(
            world::shop(),
            vec![world::bank(), world::carrier()],
            pay_locn(&world::bank()),
            &db("merchant"),
        ),
    );
    let payment_handler = net.add(
        "paymenthandler",
        &["https://pay.example/"],
        engine(world::bank(), vec![], None, &db("paymenthandler")),
    );
    let delivery_handler = net.add(
        "deliveryhandler",
        &["https://ship.example/"],
        engine(world::carrier(), vec![], None, &db("deliveryhandler")),
    );
    let allinone = net.add(
        "allinone",
        &["https://allinone.example/"],
        engine(
            world::allinone(),
            vec![],
            pay_locn(&world::allinone()),
            &db("allinone"),
        ),
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

#[test]
fn every_demo_scenario_completes_with_every_node_on_sqlite() {
    let scenarios = harness::scenarios();
    assert!(!scenarios.is_empty());
    for scenario in &scenarios {
        let dir = tmp();
        let (mut net, n) = sqlite_demo_network(dir.path(), scenario.instrument);
        let result = harness::run_scenario_on(&mut net, n, scenario, 1).expect("runs");
        assert_eq!(
            result.outcome,
            ProcessState::CompletedOk,
            "{} {}",
            scenario.transaction,
            scenario.variant
        );
        // The state went through the files: the Consumer's record of a trading
        // transaction is there, finished, with every message it sent or received.
        if result.scenario.transaction == TransactionType::BaselinePing {
            continue;
        }
        drop(net);
        let trans = result
            .transcript
            .first()
            .map(|e| e.iotp_trans_id.clone())
            .expect("a transcript");
        let consumer = SqliteStore::open(dir.path().join("consumer.db")).expect("reopens");
        let key = TransactionKey {
            iotp_trans_id: trans.clone(),
            role: "Consumer".into(),
        };
        let rec = consumer
            .load(&key)
            .expect("load")
            .unwrap_or_else(|| panic!("{trans} saved at the Consumer"));
        assert!(rec.finished, "{trans} finished");
        assert!(!rec.messages.is_empty(), "{trans} has its messages");
    }
}

fn drop_first(tag: &'static str, from: &'static str) -> impl FnMut(&Envelope) -> Fate + 'static {
    let mut seen = false;
    move |e: &Envelope| {
        if !seen && e.from == from && has_block(&e.xml, tag) {
            seen = true;
            return Fate::Drop;
        }
        Fate::Deliver
    }
}

#[test]
fn a_payment_completes_after_the_payment_handler_restarts_from_its_file() {
    // As `state_survives_a_restart_of_the_node` in the core, but the Payment Handler's
    // engine and its SQLite connection are really gone, and the new engine reads the file.
    let dir = tmp();
    let (mut net, n) = sqlite_demo_network(dir.path(), "extra-round");
    // Lose the Consumer's second payment message (the extra exchange round): the payment is
    // left half done at the Payment Handler.
    net.set_fate(drop_first("PayExchBlk", "consumer"));
    let offer = demo_offer(
        &TransactionType::BaselinePurchase,
        "brand-independent, payment only",
        7,
    );
    let now = net.now;
    let out = net
        .engine(n.merchant)
        .start_offer(offer, now)
        .expect("offer starts");
    let trans = out.messages[0].iotp_trans_id.clone();
    net.start(n.merchant, n.consumer, out);
    net.clear_fate();
    let finished = |net: &Network| {
        net.finished(n.consumer)
            .into_iter()
            .find(|o| o.iotp_trans_id == trans)
    };
    assert_eq!(finished(&net), None, "interrupted mid-exchange");

    let ph_key = TransactionKey {
        iotp_trans_id: trans.clone(),
        role: "PaymentHandler".into(),
    };
    let ph_db = dir.path().join("paymenthandler.db");

    // Stop the node: replace its engine; nothing else holds its store, so the connection
    // is closed.
    let weak: Weak<dyn Store> = Arc::downgrade(net.engine(n.payment_handler).store());
    *net.engine(n.payment_handler) = Engine::new(
        EngineConfig::new(world::bank()),
        Arc::new(MemoryStore::new()),
    );
    assert!(weak.upgrade().is_none(), "the old store is closed");
    let saved = SqliteStore::open(&ph_db)
        .and_then(|s| s.load(&ph_key))
        .expect("load")
        .expect("the half-done payment is in the file");
    assert!(!saved.finished);

    // Start it again from its file.
    *net.engine(n.payment_handler) = engine(world::bank(), vec![], None, &ph_db);
    net.advance(30_000);
    let end = finished(&net).expect("the purchase ends");
    assert_eq!(end.process_state, ProcessState::CompletedOk);
    let payments = net
        .events
        .iter()
        .filter(|(node, e)| {
            node == "paymenthandler" && matches!(e, Event::Finished(o) if o.iotp_trans_id == trans)
        })
        .count();
    assert_eq!(payments, 1, "the payment ends once at the Payment Handler");
    drop(net);
    let rec = SqliteStore::open(&ph_db)
        .and_then(|s| s.load(&ph_key))
        .expect("load")
        .expect("saved");
    assert!(rec.finished, "the file records the payment as finished");
    assert!(rec.messages.len() > saved.messages.len());
}
