//! Commits per second of the SQLite store, one after the other (every commit synced), as
//! the engine makes them: one transaction record grown by one message, plus the answered
//! replay entry of the message that caused it.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iotp::store::{ReplayEntry, Store, StoredMessage, TransactionKey, TransactionRecord};
use iotp_runtime::SqliteStore;

fn commits(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path().join("bench.db")).expect("opens");
    let xml: Arc<str> = Arc::from(format!("<IotpMessage>{}</IotpMessage>", "x".repeat(2_000)));
    let mut n: u64 = 0;
    let mut group = c.benchmark_group("sqlite_store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("commit (synced)", |b| {
        b.iter(|| {
            n += 1;
            // A transaction of four messages: each commit adds the next one.
            let t = n / 4;
            let len = (n % 4 + 1) as usize;
            let record = TransactionRecord {
                key: TransactionKey {
                    iotp_trans_id: format!("{t}@shop.example"),
                    role: "PaymentHandler".into(),
                },
                state: format!("{{\"phase\":{len}}}"),
                messages: (0..len)
                    .map(|i| StoredMessage {
                        sent: i % 2 == 1,
                        message_id: format!("M{i}"),
                        xml: xml.clone(),
                    })
                    .collect(),
                wake_at: Some(1_000),
                finished: len == 4,
            };
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&n.to_le_bytes());
            let replay = [(
                digest,
                ReplayEntry::Answered {
                    response: Some(xml.as_bytes().to_vec()),
                },
            )];
            store.commit(&[&record], &replay).expect("commit");
        })
    });
    group.finish();
}

criterion_group!(benches, commits);
criterion_main!(benches);
