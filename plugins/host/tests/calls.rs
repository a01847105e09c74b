//! Started plugins: a C scheme that uses every host service through its call context, error
//! statuses, and a C transport's send and serve.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{CALLBACK_RESPONSE, NOW, Recorder, build};
use iotp_plugin_host::{ErrorStatus, LoadedPlugin, PluginError, PluginLibrary};

fn start(source: &str, name: &str, defines: &[&str]) -> (LoadedPlugin, Arc<Recorder>) {
    let library = PluginLibrary::open(build(source, name, defines)).unwrap();
    let services = Recorder::shared();
    (library.start(services.clone()).unwrap(), services)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn every_host_service_reaches_the_current_call() {
    let (plugin, started) = start("echo", "echo", &[]);
    // The entry point used the host context: the services the plugin was started with.
    assert_eq!(started.logs(), ["echo: started"]);
    assert_eq!(started.value("started").unwrap(), b"yes");

    let call = Recorder::default();
    let response = text(plugin.call(&call, b"<IotpPaymentApiRequest/>").unwrap());
    assert_eq!(
        response,
        format!(
            "echo:<IotpPaymentApiRequest/>|spent=1|now={NOW}|random=a5a5a5a5\
             |callback={CALLBACK_RESPONSE}|failed="
        )
    );
    // What the call did went to the call's services, not to the plugin's.
    assert_eq!(call.logs(), ["echo: call"]);
    assert_eq!(call.value("spent").unwrap(), b"1");
    assert_eq!(call.value("coin"), None);
    assert_eq!(call.value("panic"), None);
    assert_eq!(
        call.callbacks.lock().unwrap().as_slice(),
        [
            b"<IotpPaymentApiRequest><CallBack ContStatus=\"Continue\"/></IotpPaymentApiRequest>"
                .to_vec()
        ]
    );
    assert_eq!(started.logs(), ["echo: started"]);
    assert_eq!(started.value("spent"), None);

    // insert-if-absent is per key-value space: the same call services see the coin spent.
    let again = text(plugin.call(&call, b"again").unwrap());
    assert!(again.starts_with("echo:again|spent=0|"), "{again}");
    assert!(again.ends_with("|failed="), "{again}");
    let fresh = text(plugin.call(&Recorder::default(), b"x").unwrap());
    assert!(fresh.starts_with("echo:x|spent=1|"), "{fresh}");
}

#[test]
fn an_error_status_is_an_error_for_that_call() {
    let (plugin, _) = start(
        "echo",
        "echo_refused",
        &["CALL_STATUS=IOTP_PLUGIN_ERR_REFUSED"],
    );
    let error = plugin.call(&Recorder::default(), b"<x/>").unwrap_err();
    assert!(
        matches!(
            error,
            PluginError::Status {
                function: "call",
                status: ErrorStatus::Refused,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "plugin echo: `call` failed: refused (status 3)"
    );
    // The host goes on: the next call gets its own answer.
    assert!(plugin.call(&Recorder::default(), b"<x/>").is_err());

    let (plugin, _) = start("echo", "echo_unknown", &["CALL_STATUS=1000"]);
    let error = plugin.call(&Recorder::default(), b"").unwrap_err();
    assert!(
        matches!(
            error,
            PluginError::Status {
                status: ErrorStatus::Unknown(1000),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_transport_sends_and_serves() {
    let (plugin, started) = start("transport", "transport", &[]);
    assert!(plugin.is_thread_safe());
    let services = Recorder::default();
    let reply = plugin
        .send(&services, "https://ph.example/iotp", b"<IotpMessage/>")
        .unwrap();
    assert_eq!(
        text(reply),
        "reply from https://ph.example/iotp to <IotpMessage/>"
    );
    let error = plugin.send(&services, "", b"m").unwrap_err();
    assert!(
        matches!(
            error,
            PluginError::Status {
                function: "send",
                status: ErrorStatus::Io,
                ..
            }
        ),
        "{error:?}"
    );

    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    plugin
        .serve(
            &services,
            b"<IotpMessage>in</IotpMessage>",
            Arc::new(move |message: &[u8]| {
                seen.lock().unwrap().push(message.to_vec());
                Ok(b"<IotpMessage>out</IotpMessage>".to_vec())
            }),
        )
        .unwrap();
    assert_eq!(
        received.lock().unwrap().as_slice(),
        [b"<IotpMessage>in</IotpMessage>".to_vec()]
    );
    assert_eq!(
        started.logs(),
        ["transport: reply <IotpMessage>out</IotpMessage>"]
    );

    // A handler's error reaches the transport, which gives it back here.
    let error = plugin
        .serve(
            &services,
            b"",
            Arc::new(|_: &[u8]| Err(ErrorStatus::Refused)),
        )
        .unwrap_err();
    assert!(
        matches!(
            error,
            PluginError::Status {
                function: "serve",
                status: ErrorStatus::Refused,
                ..
            }
        ),
        "{error:?}"
    );

    let error = plugin.call(&services, b"<x/>").unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin transport (transport) has no `call`"
    );
}

#[test]
fn a_plugin_that_is_not_thread_safe_is_called_one_thread_at_a_time() {
    let (plugin, _) = start("echo", "echo_threads", &[]);
    assert!(!plugin.is_thread_safe());
    // echo.c keeps its list of failed checks in a global: concurrent calls would mix them.
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let plugin = &plugin;
            scope.spawn(move || {
                for round in 0..50 {
                    let request = format!("{thread}-{round}");
                    let response = text(
                        plugin
                            .call(&Recorder::default(), request.as_bytes())
                            .unwrap(),
                    );
                    assert!(
                        response.starts_with(&format!("echo:{request}|")),
                        "{response}"
                    );
                    assert!(response.ends_with("|failed="), "{response}");
                }
            });
        }
    });
}
