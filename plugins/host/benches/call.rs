//! One Payment API call through the C plugin ABI, documents included: a ContinueProcess round
//! trip with 6 KB of PaySchemeData each way (DESIGN.md §8, issue 4: at most 10 µs).
//!
//! The plugin is the SDK's `echo_bridge` example (built here with cargo, release profile),
//! which answers ContinueProcess with the scheme data it was given. One round trip is:
//! the host writes the IotpPaymentApiRequest document from the typed request
//! (`SchemePlugin::continue_process`), crosses the C ABI, the plugin reads the document into
//! the typed request, runs the bridge, writes the IotpPaymentApiResponse document with 6 KB of
//! scheme data, crosses back (the host copies the buffer and hands it back to the plugin's
//! `free_buffer`), and the host reads the response into the typed answer.
//!
//! - `continue_process/text-6KB`: the scheme data as text (`Transform="NONE"`, escaped XML
//!   text: `<`, `&` and quotes occur);
//! - `continue_process/base64-6KB`: as binary (`Transform="BASE64"`);
//! - `abi_only/6KB`: the same 6 KB documents through `call`, prebuilt: without writing or
//!   reading documents on the host's side (the plugin still reads and writes them);
//! - `abi_only/c-echo-6KB`: the C boundary alone: a C plugin (`plugins/testdata/handshake.c`)
//!   whose `call` copies the 6 KB request into its answer; no document is read or written.
//! - `parts/*`: the four document steps of a round trip (the host writes the request, the
//!   plugin reads it, writes the response, the host reads it) in process, without the plugin,
//!   and `parse_tree` alone: where the time goes.
//! - `mock/find_payment_instrument`: a small call as a purchase makes them, through the mock
//!   scheme's plugin (`libiotp_scheme_mock.so`): the Consumer's FindPaymentInstrument with a
//!   Brand List's small PackagedContent, answered with the mock wallet's instruments. Its cost is
//!   the documents' fixed cost more than their size.
//!
//! Run: `taskset -c 1 cargo bench -p iotp-plugin-host --bench call`.

// `ApiError` mirrors RFC 3867's ErrorResponse (as in `iotp::payapi`); its size in `Err` is
// what the calls measured return.
#![allow(clippy::result_large_err)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use iotp::msg::codes::Transform;
use iotp::msg::model::PackagedContent;
use iotp::payapi::documents::{ApiRequest, encode_request};
use iotp::payapi::{
    ApiError, BridgeHost, CallBack, CallBackReply, ContinueProcess, LogLevel, PaymentBridge,
};
use iotp_plugin_host::testing::{RustPlugin, build_rust_plugin, compile_c_plugin, testdata_dir};
use iotp_plugin_host::{ErrorStatus, HostServices, PluginLibrary, SchemePlugin};

/// Bytes of scheme data each way.
const SIZE: usize = 6 * 1024;

/// A bridge host that the echo bridge never needs.
struct NoHost;

impl BridgeHost for NoHost {
    fn kv_get(&self, _: &str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(None)
    }
    fn kv_put(&self, _: &str, _: &[u8]) -> Result<(), ApiError> {
        Ok(())
    }
    fn kv_insert_if_absent(&self, _: &str, _: &[u8]) -> Result<bool, ApiError> {
        Ok(true)
    }
    fn kv_delete(&self, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn callback(&self, _: &CallBack) -> CallBackReply {
        CallBackReply::Continue
    }
    fn now_unix_millis(&self) -> i64 {
        0
    }
    fn random(&self, out: &mut [u8]) {
        out.fill(0);
    }
    fn log(&self, _: LogLevel, _: &str) {}
}

/// Host services for the C echo plugin, which only logs from its entry point.
struct NoServices;

impl HostServices for NoServices {
    fn kv_get(&self, _: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        Ok(None)
    }
    fn kv_put(&self, _: &str, _: &[u8]) -> Result<(), ErrorStatus> {
        Ok(())
    }
    fn kv_insert_if_absent(&self, _: &str, _: &[u8]) -> Result<bool, ErrorStatus> {
        Ok(true)
    }
    fn kv_delete(&self, _: &str) -> Result<(), ErrorStatus> {
        Ok(())
    }
    fn callback(&self, _: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        Err(ErrorStatus::Refused)
    }
    fn log(&self, _: iotp_plugin_host::LogLevel, _: &str) {}
    fn now_unix_millis(&self) -> i64 {
        0
    }
    fn random(&self, out: &mut [u8]) {
        out.fill(0);
    }
}

/// 6 KB of scheme-like text: attribute-value pairs, with a markup character now and then.
fn text_data() -> Vec<u8> {
    let mut text = String::with_capacity(SIZE + 64);
    let mut i = 0u32;
    while text.len() < SIZE {
        text.push_str(&format!(
            "field{i}=value-{:08x};",
            i.wrapping_mul(2_654_435_761)
        ));
        if i.is_multiple_of(16) {
            text.push_str(" <a & \"b\"> ");
        }
        i += 1;
    }
    text.truncate(SIZE);
    text.into_bytes()
}

fn binary_data() -> Vec<u8> {
    (0..SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn request(data: Vec<u8>, transform: Transform) -> ContinueProcess {
    ContinueProcess {
        pay_id: "P1".into(),
        pay_scheme: vec![PackagedContent {
            name: Some("MockChallengeResp".into()),
            transform,
            data,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn call(c: &mut Criterion) {
    let path = build_rust_plugin(RustPlugin::Example {
        package: "iotp-plugin-sdk",
        example: "echo_bridge",
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let plugin = SchemePlugin::load(path).unwrap_or_else(|e| panic!("{e}"));
    let host = NoHost;

    let mut group = c.benchmark_group("continue_process");
    group.throughput(Throughput::Elements(1));
    for (name, request) in [
        ("text-6KB", request(text_data(), Transform::None)),
        ("base64-6KB", request(binary_data(), Transform::Base64)),
    ] {
        // The answer is the request's data: checked once, outside the timing.
        let step = plugin.continue_process(&host, &request).expect("an answer");
        assert_eq!(step.pay_scheme, request.pay_scheme);
        group.bench_function(name, |b| {
            b.iter(|| plugin.continue_process(&host, black_box(&request)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("abi_only");
    group.throughput(Throughput::Elements(1));
    let document = encode_request(&ApiRequest::ContinueProcess(request(
        text_data(),
        Transform::None,
    )));
    let answer = plugin
        .call_document(&host, document.as_bytes())
        .expect("an answer");
    assert!(answer.len() > SIZE);
    group.bench_function("6KB", |b| {
        b.iter(|| plugin.call_document(&host, black_box(document.as_bytes())))
    });

    let echo = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("iotp-bench-call-{}.so", std::process::id()));
    compile_c_plugin(&testdata_dir().join("handshake.c"), &[], &echo)
        .unwrap_or_else(|e| panic!("{e}"));
    let services = Arc::new(NoServices);
    let echo = PluginLibrary::open(&echo)
        .and_then(|library| library.start(services.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        echo.call(&NoServices, document.as_bytes()).ok().as_deref(),
        Some(document.as_bytes())
    );
    group.bench_function("c-echo-6KB", |b| {
        b.iter(|| echo.call(&NoServices, black_box(document.as_bytes())))
    });
    group.finish();
}

/// The four document steps of a round trip, in process (no plugin): where the time goes.
fn parts(c: &mut Criterion) {
    use iotp::Limits;
    use iotp::payapi::SchemeStep;
    use iotp::payapi::documents::{ApiResponse, decode_request, decode_response, encode_response};
    let limits = Limits::default();
    let mut group = c.benchmark_group("parts");
    for (name, request) in [
        ("text-6KB", request(text_data(), Transform::None)),
        ("base64-6KB", request(binary_data(), Transform::Base64)),
    ] {
        let typed = ApiRequest::ContinueProcess(request.clone());
        let document = encode_request(&typed);
        let answer = Ok(ApiResponse::ContinueProcess(SchemeStep::end(
            request.pay_scheme.clone(),
        )));
        let response = encode_response(&answer);
        group.bench_function(format!("encode_request/{name}"), |b| {
            b.iter(|| encode_request(&ApiRequest::ContinueProcess(black_box(&request).clone())))
        });
        group.bench_function(format!("decode_request/{name}"), |b| {
            b.iter(|| decode_request(black_box(document.as_bytes()), &limits))
        });
        group.bench_function(format!("encode_response/{name}"), |b| {
            b.iter(|| encode_response(black_box(&answer)))
        });
        group.bench_function(format!("decode_response/{name}"), |b| {
            b.iter(|| decode_response(black_box(response.as_bytes()), "ContinueProcess", &limits))
        });
        group.bench_function(format!("parse_tree/{name}"), |b| {
            b.iter(|| iotp::xml::parse_tree(black_box(response.as_bytes()), &limits))
        });
    }
    group.finish();
}

/// A small call of a purchase, through the mock scheme's plugin.
fn mock(c: &mut Criterion) {
    use iotp::msg::codes::PayDirection;
    use iotp::payapi::mock::{BRAND_ID, PROTOCOL_ID};
    use iotp::payapi::{AmountInfo, FindPaymentInstrument, OfferContent};
    let path = build_rust_plugin(RustPlugin::Package {
        package: "iotp-plugin-mock",
        lib_name: "iotp_scheme_mock",
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let plugin = SchemePlugin::load(path).unwrap_or_else(|e| panic!("{e}"));
    let request = FindPaymentInstrument {
        brand_id: BRAND_ID.into(),
        protocol_id: PROTOCOL_ID.into(),
        amount: AmountInfo {
            pay_direction: PayDirection::Debit,
            curr_code: "USD".into(),
            amount: "10.00".into(),
            ..Default::default()
        },
        offer: OfferContent {
            brand: vec![PackagedContent::text("mock card, accepted here")],
            pay_protocol: vec![PackagedContent::text("x-iotp-mock 1.0")],
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = plugin
        .find_payment_instrument(&NoHost, &request)
        .expect("an answer");
    assert!(!answer.instruments.is_empty());
    let mut group = c.benchmark_group("mock");
    group.throughput(Throughput::Elements(1));
    group.bench_function("find_payment_instrument", |b| {
        b.iter(|| plugin.find_payment_instrument(&NoHost, black_box(&request)))
    });
    group.finish();
}

criterion_group!(benches, call, parts, mock);
criterion_main!(benches);
