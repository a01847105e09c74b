//! The SDK's example plugins (`examples/`), built with cargo and loaded by the host as any
//! plugin is: what the export macros generate, seen through the C ABI.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use iotp_plugin_host::testing::{RustPlugin, build_rust_plugin};
use iotp_plugin_host::{
    ErrorStatus, HostServices, LogLevel, PluginError, PluginKind, PluginLibrary,
};

fn example(name: &str) -> PluginLibrary {
    let path = build_rust_plugin(RustPlugin::Example {
        package: "iotp-plugin-sdk",
        example: name,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    PluginLibrary::open(path).unwrap()
}

/// Host services keeping a key-value map and the log in memory.
#[derive(Debug, Default)]
struct Services {
    kv: Mutex<BTreeMap<String, Vec<u8>>>,
    logs: Mutex<Vec<(LogLevel, String)>>,
}

impl Services {
    fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.lock().unwrap().clone()
    }
}

impl HostServices for Services {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        Ok(self.kv.lock().unwrap().get(key).cloned())
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ErrorStatus> {
        self.kv.lock().unwrap().insert(key.into(), value.to_vec());
        Ok(())
    }
    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ErrorStatus> {
        let mut kv = self.kv.lock().unwrap();
        Ok(kv.insert(key.into(), value.to_vec()).is_none())
    }
    fn kv_delete(&self, key: &str) -> Result<(), ErrorStatus> {
        self.kv.lock().unwrap().remove(key);
        Ok(())
    }
    fn callback(&self, _document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        Err(ErrorStatus::Refused)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.lock().unwrap().push((level, message.into()));
    }
    fn now_unix_millis(&self) -> i64 {
        7
    }
    fn random(&self, out: &mut [u8]) {
        out.fill(1);
    }
}

const CONTINUE: &str = "<IotpPaymentApiRequest xmlns='http://www.iotp.org/2000/08/PaymentAPI'>\
    <ContinueProcess PayId='PAYID'><PaySchemePackagedContent Name='d' Content='PCDATA' \
    Transform='NONE'>some data</PaySchemePackagedContent></ContinueProcess>\
    </IotpPaymentApiRequest>";

#[test]
fn an_exported_payment_bridge_answers_documents() {
    let library = example("echo_bridge");
    let descriptor = library.descriptor();
    assert_eq!(descriptor.name, "echo-bridge");
    assert_eq!(descriptor.version, "1.0.0");
    assert_eq!(descriptor.kind, PluginKind::PaymentScheme);
    assert!(
        descriptor
            .claims
            .as_deref()
            .unwrap()
            .contains("<Call Name='ContinueProcess'/>")
    );
    let plugin = library.start(Arc::new(Services::default())).unwrap();
    assert!(plugin.is_thread_safe());

    let call = Services::default();
    let answer = plugin
        .call(&call, CONTINUE.replace("PAYID", "p1").as_bytes())
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.contains("<ContinueProcessResponse"), "{answer}");
    assert!(
        answer.contains(">some data</PaySchemePackagedContent>"),
        "{answer}"
    );

    // A request that cannot be read is answered, with an ErrorResponse saying why.
    for (request, code) in [
        (&b"\x00garbage"[..], "ErrorCode=\"SyntaxError\""),
        (b"<IotpPaymentApiRequest/>", "ErrorCode=\"SyntaxError\""),
        (
            b"<IotpPaymentApiRequest><Teleport/></IotpPaymentApiRequest>",
            "ErrorCode=\"ReqNotSupp\"",
        ),
        (
            b"<IotpPaymentApiRequest><ContinueProcess/></IotpPaymentApiRequest>",
            "ErrorCode=\"AttMissing\"",
        ),
    ] {
        let answer = String::from_utf8(plugin.call(&call, request).unwrap()).unwrap();
        assert!(answer.contains("<ErrorResponse"), "{answer}");
        assert!(answer.contains(code), "{answer}");
    }

    // A panic is a status, and a line in the call's log; the plugin goes on.
    let error = plugin
        .call(&call, CONTINUE.replace("PAYID", "panic").as_bytes())
        .unwrap_err();
    assert!(
        matches!(
            error,
            PluginError::Status {
                status: ErrorStatus::Panic,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        call.logs(),
        [(
            LogLevel::Error,
            "the payment bridge panicked: the echo bridge was asked to panic".to_owned()
        )]
    );
    assert!(
        plugin
            .call(&call, CONTINUE.replace("PAYID", "p2").as_bytes())
            .is_ok()
    );
}

#[test]
fn an_exported_transport_sends_and_serves() {
    let library = example("loopback_transport");
    let descriptor = library.descriptor();
    assert_eq!(
        (descriptor.name.as_str(), descriptor.version.as_str()),
        ("loopback", "0.1.0")
    );
    assert_eq!(descriptor.kind, PluginKind::Transport);
    assert_eq!(descriptor.claims, None);
    let started = Arc::new(Services::default());
    let plugin = library.start(started.clone()).unwrap();

    let call = Services::default();
    let reply = plugin.send(&call, "loop:a", b"<IotpMessage/>").unwrap();
    assert_eq!(reply, b"loop:a <IotpMessage/>");
    assert_eq!(
        call.logs(),
        [(LogLevel::Debug, "send to loop:a".to_owned())]
    );

    for (net_location, message, status, logged) in [
        (
            "https://pay.example/",
            &b"m"[..],
            ErrorStatus::BadArgument,
            "send: bad argument: https://pay.example/ is not a loop: net location",
        ),
        (
            "loop:b",
            b"down",
            ErrorStatus::Io,
            "send: communication failed: the loop is down",
        ),
    ] {
        let call = Services::default();
        let error = plugin.send(&call, net_location, message).unwrap_err();
        assert!(
            matches!(error, PluginError::Status { status: s, .. } if s == status),
            "{error:?}"
        );
        assert_eq!(call.logs(), [(LogLevel::Warn, logged.to_owned())]);
    }

    // The server thread hands the config to the handler and logs the reply through the host
    // context: the services the plugin was started with.
    let handled = Arc::new(Mutex::new(Vec::new()));
    let seen = handled.clone();
    let handler = move |message: &[u8]| {
        seen.lock().unwrap().push(message.to_vec());
        Ok(b"<reply/>".to_vec())
    };
    plugin
        .serve(&Services::default(), b"<hello/>", Arc::new(handler))
        .unwrap();
    assert_eq!(handled.lock().unwrap().as_slice(), [b"<hello/>".to_vec()]);
    assert_eq!(
        started.logs(),
        [(LogLevel::Info, "served: <reply/>".to_owned())]
    );
}
