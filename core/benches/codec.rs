//! Reading (parse + full validation) and writing the performance samples of
//! `shared/spec/perf-samples` (6 KB and 60 KB TPO + Offer Response messages, a ping), and the
//! DOMHASH digest of the 6 KB sample.
//!
//! Run: `cargo bench -p iotp --bench codec`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../shared/spec/perf-samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn codec(c: &mut Criterion) {
    let limits = iotp::Limits::default();
    let mut group = c.benchmark_group("read");
    for name in ["tpo_offer_6k.xml", "tpo_offer_60k.xml", "ping.xml"] {
        let bytes = sample(name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| iotp::Report::read(black_box(&bytes), &limits))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("write");
    for name in ["tpo_offer_6k.xml", "tpo_offer_60k.xml", "ping.xml"] {
        let bytes = sample(name);
        let message = iotp::Report::read(&bytes, &limits)
            .message
            .expect("sample reads");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| black_box(&message).to_xml()));
    }
    group.finish();

    let mut group = c.benchmark_group("domhash");
    let bytes = sample("tpo_offer_6k.xml");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    for (label, alg) in [
        ("sha1", iotp::xml::domhash::HashAlgorithm::Sha1),
        ("sha256", iotp::xml::domhash::HashAlgorithm::Sha256),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| iotp::xml::domhash::digest_document(black_box(&bytes), alg, &limits))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = codec
}
criterion_main!(benches);
