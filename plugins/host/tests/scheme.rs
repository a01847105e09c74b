//! Payment scheme plugins as the engine's bridges: the mock scheme plugin (`plugins/mock`,
//! built with cargo) plays every role of the demo purchases through the C ABI; plugins that
//! fail (error statuses, a Rust panic, broken or wrong documents) give an error for that
//! call, and the host goes on.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use iotp::msg::codes::{CompletionCode, ErrorCode, ProcessState, Severity, TransactionType};
use iotp::msg::model::PackagedContent;
use iotp::payapi::mock::{DECLINE_CODES, MockScheme};
use iotp::payapi::*;
use iotp::store::MemoryStore;
use iotp::txn::harness::{self, DemoNodes, Network, PickInstrument, Scenario, world};
use iotp::txn::{Engine, EngineConfig, OrgConfig, Timing};
use iotp_plugin_host::testing::{MOCK_SCHEME, RustPlugin, build_rust_plugin};
use iotp_plugin_host::{LoadError, PluginKind, SchemePlugin};

use common::build;

/// The mock scheme plugin, built and loaded once for the whole test binary.
fn mock_plugin() -> Arc<SchemePlugin> {
    static PLUGIN: OnceLock<Arc<SchemePlugin>> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            let path = build_rust_plugin(MOCK_SCHEME).unwrap_or_else(|e| panic!("{e}"));
            Arc::new(SchemePlugin::load(path).unwrap_or_else(|e| panic!("{e}")))
        })
        .clone()
}

/// The SDK's echo bridge example: ContinueProcess answered with its scheme data; PayId
/// `panic` panics, `callback` and `kv` use the host services.
fn echo_plugin() -> Arc<SchemePlugin> {
    static PLUGIN: OnceLock<Arc<SchemePlugin>> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            let path = build_rust_plugin(RustPlugin::Example {
                package: "iotp-plugin-sdk",
                example: "echo_bridge",
            })
            .unwrap_or_else(|e| panic!("{e}"));
            Arc::new(SchemePlugin::load(path).unwrap_or_else(|e| panic!("{e}")))
        })
        .clone()
}

/// `plugins/testdata/answers.c` built with `defines`, as `lib<name>.so`.
fn answers(name: &str, defines: &[&str]) -> PathBuf {
    build("answers", name, defines)
}

/// The demo network of `txn::harness::demo_network`, with `bridge` as every node's payment
/// bridge instead of an in-process `MockScheme`.
fn plugin_network(instrument: &str, bridge: Arc<dyn PaymentBridge>) -> (Network, DemoNodes) {
    let mut net = Network::new();
    let mk = |org: OrgConfig, partners: Vec<OrgConfig>| {
        let mut cfg = EngineConfig::new(org);
        cfg.partners = partners;
        cfg.timing = Timing::default();
        cfg.success_net_locn = Some("https://shop.example/thanks".into());
        Engine::new(cfg, Arc::new(MemoryStore::new())).with_bridge(bridge.clone())
    };
    let consumer = mk(world::consumer(), vec![])
        .with_consumer_app(Arc::new(PickInstrument(instrument.into())));
    let nodes = DemoNodes {
        consumer: net.add("consumer", &[], consumer),
        merchant: net.add(
            "merchant",
            &["https://shop.example/"],
            mk(world::shop(), vec![world::bank(), world::carrier()]),
        ),
        payment_handler: net.add(
            "paymenthandler",
            &["https://pay.example/"],
            mk(world::bank(), vec![]),
        ),
        delivery_handler: net.add(
            "deliveryhandler",
            &["https://ship.example/"],
            mk(world::carrier(), vec![]),
        ),
        allinone: net.add(
            "allinone",
            &["https://allinone.example/"],
            mk(world::allinone(), vec![]),
        ),
    };
    (net, nodes)
}

#[test]
fn the_mock_plugin_publishes_the_mocks_claims() {
    let plugin = mock_plugin();
    assert_eq!(plugin.claims(), &MockScheme::claims());
    assert_eq!(plugin.info(), MockScheme::new(None).info());
    let descriptor = plugin.descriptor();
    assert_eq!(descriptor.name, "iotp-plugin-mock");
    assert_eq!(descriptor.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(descriptor.kind, PluginKind::PaymentScheme);
    assert!(plugin.path().ends_with("libiotp_scheme_mock.so"));
}

/// Every demo scenario, every role's bridge the plugin: the same outcome, and the same number
/// of messages, as with the in-process mock.
#[test]
fn every_demo_scenario_completes_through_the_plugin() {
    for scenario in harness::scenarios() {
        let (mut net, nodes) = plugin_network(scenario.instrument, mock_plugin());
        let through_plugin = harness::run_scenario_on(&mut net, nodes, &scenario, 1).unwrap();
        assert_eq!(
            through_plugin.outcome,
            ProcessState::CompletedOk,
            "{} {}: {:?}",
            scenario.transaction,
            scenario.variant,
            through_plugin.completion_code
        );
        let in_process = harness::run_scenario(&scenario).unwrap();
        assert_eq!(
            (through_plugin.outcome, through_plugin.messages),
            (in_process.outcome, in_process.messages),
            "{} {}",
            scenario.transaction,
            scenario.variant
        );
    }
}

#[test]
fn each_decline_fails_the_purchase_with_its_completion_code() {
    for code in DECLINE_CODES {
        let instrument = format!("decline-{code}");
        let scenario = Scenario {
            transaction: TransactionType::BaselinePurchase,
            variant: "brand-dependent, payment then delivery",
            instrument: "approve",
        };
        let (mut net, nodes) = plugin_network(&instrument, mock_plugin());
        let result = harness::run_scenario_on(&mut net, nodes, &scenario, 1).unwrap();
        assert_eq!(result.outcome, ProcessState::Failed, "{instrument}");
        assert_eq!(result.completion_code.as_ref(), Some(code), "{instrument}");
    }
}

/// Several purchases on one network, from several threads: the plugin is shared by every
/// engine, and its table is thread-safe.
#[test]
fn the_plugin_serves_networks_on_several_threads() {
    let scenario = harness::scenarios().remove(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let (mut net, nodes) = plugin_network("approve", mock_plugin());
                for order in 1..=3 {
                    let result = harness::run_scenario_on(&mut net, nodes, &scenario, order);
                    assert_eq!(result.unwrap().outcome, ProcessState::CompletedOk);
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Host services during a call, and failures

/// A bridge host with an in-memory key-value space, a fixed clock, and a CallBack answer.
struct TestHost {
    kv: RefCell<BTreeMap<String, Vec<u8>>>,
    logs: RefCell<Vec<(LogLevel, String)>>,
    callbacks: RefCell<Vec<CallBack>>,
    reply: CallBackReply,
}

impl TestHost {
    fn new(reply: CallBackReply) -> Self {
        TestHost {
            kv: RefCell::default(),
            logs: RefCell::default(),
            callbacks: RefCell::default(),
            reply,
        }
    }
}

impl BridgeHost for TestHost {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        self.kv.borrow_mut().insert(key.into(), value.to_vec());
        Ok(())
    }
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
        let mut kv = self.kv.borrow_mut();
        if kv.contains_key(key) {
            return Ok(false);
        }
        kv.insert(key.into(), value.to_vec());
        Ok(true)
    }
    fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    fn callback(&self, call: &CallBack) -> CallBackReply {
        self.callbacks.borrow_mut().push(call.clone());
        self.reply.clone()
    }
    fn now_unix_millis(&self) -> i64 {
        1_795_046_400_000
    }
    fn random(&self, out: &mut [u8]) {
        out.fill(0x5a);
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.into()));
    }
}

fn continue_process(pay_id: &str, data: Vec<PackagedContent>) -> ContinueProcess {
    ContinueProcess {
        pay_id: pay_id.into(),
        pay_scheme: data,
        ..Default::default()
    }
}

fn texts(step: &SchemeStep) -> Vec<String> {
    step.pay_scheme
        .iter()
        .map(|p| String::from_utf8_lossy(&p.data).into_owned())
        .collect()
}

#[test]
fn a_plugins_host_services_are_the_calls_bridge_host() {
    let plugin = echo_plugin();
    let host = TestHost::new(CallBackReply::Cancel(CompletionCode::ConsCancelled));

    let data = vec![
        PackagedContent::text("round <1> & \"more\""),
        PackagedContent {
            name: Some("bin".into()),
            transform: iotp::msg::codes::Transform::Base64,
            data: vec![0, 1, 2, 255],
            ..Default::default()
        },
    ];
    let step = plugin
        .continue_process(&host, &continue_process("p1", data.clone()))
        .unwrap();
    assert_eq!(step, SchemeStep::end(data));

    let step = plugin
        .continue_process(&host, &continue_process("callback", vec![]))
        .unwrap();
    assert_eq!(texts(&step), ["cancel ConsCancelled"]);
    let callbacks = host.callbacks.borrow();
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0].pay_id, "callback");
    assert_eq!(callbacks[0].percent_complete, Some(50));

    for (count, first) in [(1, true), (2, false)] {
        let step = plugin
            .continue_process(&host, &continue_process("kv", vec![]))
            .unwrap();
        assert_eq!(
            texts(&step),
            [format!(
                "calls={count};first={first};now=1795046400000;random=[90, 90]"
            )]
        );
    }
    assert_eq!(host.kv.borrow().get("calls").unwrap(), b"2");
    assert_eq!(
        host.logs.borrow().as_slice(),
        [
            (LogLevel::Info, "kv".to_owned()),
            (LogLevel::Info, "kv".to_owned())
        ]
    );
    // Another host, another key-value space.
    let other = TestHost::new(CallBackReply::Continue);
    let step = plugin
        .continue_process(&other, &continue_process("kv", vec![]))
        .unwrap();
    assert!(texts(&step)[0].starts_with("calls=1;first=true;"));
}

/// The error of a failed call: UnknownError, HardError, naming the plugin and the call.
fn assert_failure(error: &ApiError, plugin: &str, says: &str) {
    assert_eq!(
        error.code,
        ApiErrorCode::Iotp(ErrorCode::UnknownError),
        "{error}"
    );
    assert_eq!(error.severity, Severity::HardError, "{error}");
    assert!(
        error
            .desc
            .starts_with(&format!("payment scheme plugin {plugin} (")),
        "{error}"
    );
    assert!(error.desc.contains("): ContinueProcess: "), "{error}");
    assert!(error.desc.contains(says), "{error}");
}

#[test]
fn a_rust_plugin_that_panics_fails_that_call_only() {
    let plugin = echo_plugin();
    let host = TestHost::new(CallBackReply::Continue);
    for _ in 0..3 {
        let error = plugin
            .continue_process(&host, &continue_process("panic", vec![]))
            .unwrap_err();
        assert_failure(&error, "echo-bridge", "panicked (status 6)");
        let step = plugin
            .continue_process(
                &host,
                &continue_process("p2", vec![PackagedContent::text("still here")]),
            )
            .unwrap();
        assert_eq!(texts(&step), ["still here"]);
    }
}

#[test]
fn failing_plugins_give_errors_for_the_payment() {
    let host = TestHost::new(CallBackReply::Continue);
    let request = continue_process("p1", vec![]);
    for (name, defines, says) in [
        (
            "panics",
            &["STATUS=IOTP_PLUGIN_ERR_PANIC"][..],
            "panicked (status 6)",
        ),
        ("internal", &["STATUS=5"][..], "internal error (status 5)"),
        ("unknown", &["STATUS=77"][..], "unknown status (status 77)"),
        (
            "badbuffer",
            &["BAD_BUFFER"][..],
            "returned an invalid buffer (5 bytes",
        ),
        (
            "garbage",
            &["ANSWER=\"<<not xml\""][..],
            "unreadable answer: ",
        ),
        ("empty", &["ANSWER=\"\""][..], "unreadable answer: "),
        (
            "request",
            &["ANSWER=\"<IotpPaymentApiRequest/>\""][..],
            "unreadable answer: the document is a IotpPaymentApiRequest",
        ),
        (
            "invalid",
            &[
                "ANSWER=\"<IotpPaymentApiResponse><ContinueProcessResponse ContStatus='Maybe'/>\
               </IotpPaymentApiResponse>\"",
            ][..],
            "unreadable answer: invalid ContinueProcessResponse",
        ),
    ] {
        let plugin = SchemePlugin::load(answers(name, defines)).unwrap();
        let error = plugin.continue_process(&host, &request).unwrap_err();
        assert_failure(&error, "answers", says);
    }

    // An answer to another call, or no answer: UnknownError too.
    let other = SchemePlugin::load(answers(
        "other",
        &["ANSWER=\"<IotpPaymentApiResponse><ChangeProcessStateResponse ProcessState='CompletedOk'/>\
           </IotpPaymentApiResponse>\""],
    ))
    .unwrap();
    let error = other.continue_process(&host, &request).unwrap_err();
    assert_failure(
        &error,
        "answers",
        "unusable answer: the payment bridge answered ChangeProcessState to a ContinueProcess \
         request",
    );
    let none =
        SchemePlugin::load(answers("none", &["ANSWER=\"<IotpPaymentApiResponse/>\""])).unwrap();
    let error = none.continue_process(&host, &request).unwrap_err();
    assert_failure(
        &error,
        "answers",
        "unusable answer: IotpPaymentApiResponse holds no answer to ContinueProcess",
    );

    // The plugin's own ErrorResponse is its answer, kept as it is.
    let declined = SchemePlugin::load(answers(
        "busy",
        &[
            "ANSWER=\"<IotpPaymentApiResponse><ErrorResponse ErrorCode='SystemBusy' \
           Severity='TransientError' MinRetrySecs='7' ErrorDesc='try later'/>\
           </IotpPaymentApiResponse>\"",
        ],
    ))
    .unwrap();
    let error = declined.continue_process(&host, &request).unwrap_err();
    assert_eq!(error.code, ApiErrorCode::Iotp(ErrorCode::SystemBusy));
    assert_eq!(error.severity, Severity::TransientError);
    assert_eq!(error.min_retry_secs, Some(7));
    assert_eq!(error.desc, "try later");

    // A plugin answering correctly, for contrast.
    let fine = SchemePlugin::load(answers("fine", &[])).unwrap();
    assert_eq!(
        fine.continue_process(&host, &request).unwrap(),
        SchemeStep::end(vec![])
    );
}

#[test]
fn a_scheme_without_usable_claims_or_of_another_kind_is_not_loaded() {
    let no_claims = answers("noclaims", &["CLAIMS=NULL"]);
    let error = SchemePlugin::load(&no_claims).unwrap_err();
    assert!(matches!(error, LoadError::NoClaims { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: payment scheme plugin answers publishes no claims (its descriptor's `claims` \
             is NULL): the host cannot tell which brands and protocols it handles",
            no_claims.display()
        )
    );

    let bad_claims = answers(
        "badclaims",
        &["CLAIMS=\"<IotpPluginClaims SoftwareId='x'><Call Name='Fly'/></IotpPluginClaims>\""],
    );
    let error = SchemePlugin::load(&bad_claims).unwrap_err();
    assert!(matches!(error, LoadError::BadClaims { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: payment scheme plugin answers publishes unreadable claims: claims: unknown \
             call Fly",
            bad_claims.display()
        )
    );

    let transport = answers("transportkind", &["KIND=IOTP_PLUGIN_KIND_TRANSPORT"]);
    let error = SchemePlugin::load(&transport).unwrap_err();
    assert!(matches!(error, LoadError::WrongKind { .. }), "{error:?}");
}
