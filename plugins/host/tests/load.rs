//! Every way the ABI handshake can fail gives its own `LoadError`, before the code it protects
//! runs; a plugin that passes it works.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Recorder, build};
use iotp_plugin_host::{LoadError, LoadedPlugin, PluginError, PluginKind, PluginLibrary, inspect};

fn open_err(path: &Path) -> LoadError {
    PluginLibrary::open(path).unwrap_err()
}

/// Opens and starts a handshake variant; the error, and whether its entry point ran.
fn start_err(name: &str, defines: &[&str]) -> (LoadError, bool) {
    let path = build("handshake", name, defines);
    let library = PluginLibrary::open(&path).unwrap();
    let services = Recorder::shared();
    let error = library.start(services.clone()).unwrap_err();
    let entered = services.logs() == ["handshake: entry"];
    (error, entered)
}

#[test]
fn a_text_file_is_not_a_library() {
    let dir = std::env::temp_dir().join(format!("iotp-plugin-host-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plugin.so");
    std::fs::write(&path, "not a shared library\n").unwrap();
    let error = open_err(&path);
    assert!(
        matches!(&error, LoadError::Open { path: p, .. } if p == &path),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.starts_with(&format!(
        "{}: cannot load as a shared library: ",
        path.display()
    )));
    // The loader's own words follow.
    assert!(
        message.len() > path.display().to_string().len() + 40,
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_cannot_be_loaded() {
    let error = open_err(Path::new("/nonexistent/libnothing.so"));
    assert!(matches!(error, LoadError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("No such file"), "{error}");
}

#[test]
fn a_library_without_descriptor_is_not_a_plugin() {
    let error = open_err(&build("handshake", "no_descriptor", &["NO_DESCRIPTOR"]));
    assert!(matches!(error, LoadError::NoDescriptor { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("exports no `iotp_plugin_descriptor`")
    );
}

#[test]
fn a_plugin_without_entry_point_is_refused_at_open() {
    let error = open_err(&build("handshake", "no_entry", &["NO_ENTRY"]));
    assert!(matches!(error, LoadError::NoEntry { .. }), "{error:?}");
    assert!(error.to_string().contains("exports no `iotp_plugin_entry`"));
}

#[test]
fn descriptor_of_an_older_or_newer_abi_is_refused_with_both_numbers() {
    let older = open_err(&build(
        "handshake",
        "descriptor_abi_0",
        &["DESCRIPTOR_ABI=0"],
    ));
    assert!(
        matches!(
            older,
            LoadError::DescriptorAbi {
                plugin: 0,
                host: 1,
                ..
            }
        ),
        "{older:?}"
    );
    assert!(
        older
            .to_string()
            .contains("descriptor is for ABI version 0, older than this host's ABI version 1"),
        "{older}"
    );
    let newer = open_err(&build(
        "handshake",
        "descriptor_abi_2",
        &["DESCRIPTOR_ABI=2"],
    ));
    assert!(
        matches!(
            newer,
            LoadError::DescriptorAbi {
                plugin: 2,
                host: 1,
                ..
            }
        ),
        "{newer:?}"
    );
    assert!(
        newer.to_string().contains("ABI version 2, newer than"),
        "{newer}"
    );
}

#[test]
fn a_descriptor_too_small_is_refused() {
    let error = open_err(&build(
        "handshake",
        "descriptor_small",
        &["DESCRIPTOR_SIZE=12"],
    ));
    assert!(
        matches!(
            error,
            LoadError::DescriptorTooSmall {
                size: 12,
                expected: 32,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn an_unknown_kind_is_refused() {
    let error = open_err(&build(
        "handshake",
        "descriptor_kind_7",
        &["DESCRIPTOR_KIND=7"],
    ));
    assert!(
        matches!(error, LoadError::UnknownKind { kind: 7, .. }),
        "{error:?}"
    );
}

#[test]
fn a_descriptor_without_name_is_invalid() {
    let error = open_err(&build("handshake", "descriptor_null_name", &["NULL_NAME"]));
    assert!(
        matches!(error, LoadError::DescriptorInvalid { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("its name is NULL"), "{error}");
}

#[test]
fn an_entry_point_returning_null_refuses() {
    let (error, entered) = start_err("refuse", &["REFUSE"]);
    assert!(matches!(&error, LoadError::EntryRefused { name, .. } if name == "handshake"));
    assert!(error.to_string().contains("refused to start"), "{error}");
    assert!(entered);
}

#[test]
fn a_table_of_an_older_or_newer_abi_is_refused() {
    let (older, _) = start_err("table_abi_0", &["TABLE_ABI=0"]);
    assert!(
        matches!(
            older,
            LoadError::TableAbi {
                plugin: 0,
                host: 1,
                ..
            }
        ),
        "{older:?}"
    );
    assert!(
        older
            .to_string()
            .contains("table for ABI version 0, older than"),
        "{older}"
    );
    let (newer, _) = start_err("table_abi_3", &["TABLE_ABI=3"]);
    assert!(
        matches!(
            newer,
            LoadError::TableAbi {
                plugin: 3,
                host: 1,
                ..
            }
        ),
        "{newer:?}"
    );
    assert!(
        newer
            .to_string()
            .contains("newer than this host's ABI version 1"),
        "{newer}"
    );
}

#[test]
fn a_table_shorter_than_this_abi_is_refused() {
    let (error, _) = start_err(
        "table_short",
        &["TABLE_SIZE=offsetof(IotpPluginTable,send)"],
    );
    assert!(
        matches!(
            error,
            LoadError::TableTooSmall {
                size: 40,
                expected: 56,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("table of 40 bytes, smaller than the 56 bytes")
    );
}

#[test]
fn a_table_of_another_kind_is_refused() {
    let (error, _) = start_err("table_kind", &["TABLE_KIND=IOTP_PLUGIN_KIND_TRANSPORT"]);
    assert!(
        matches!(
            error,
            LoadError::TableKind {
                descriptor: PluginKind::PaymentScheme,
                table: 2,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_payment_scheme_without_call_is_refused() {
    let (error, _) = start_err("no_call", &["NO_CALL"]);
    assert!(
        matches!(
            error,
            LoadError::MissingFunction {
                function: "call",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_minimal_plugin_loads_and_echoes() {
    let path = build("handshake", "minimal", &["NAME=\"minimal\""]);
    let descriptor = inspect(&path).unwrap();
    assert_eq!(descriptor.name, "minimal");
    assert_eq!(descriptor.version, "1.0.0");
    assert_eq!(descriptor.kind, PluginKind::PaymentScheme);
    assert_eq!(descriptor.abi_version, 1);

    let library = PluginLibrary::open(&path).unwrap();
    assert_eq!(library.path(), path);
    library.expect_kind(PluginKind::PaymentScheme).unwrap();
    let wrong = library.expect_kind(PluginKind::Transport).unwrap_err();
    assert!(
        wrong
            .to_string()
            .ends_with("the plugin is a payment-scheme plugin, not a transport plugin"),
        "{wrong}"
    );

    let services = Recorder::shared();
    let plugin: LoadedPlugin = library.start(services.clone()).unwrap();
    assert_eq!(services.logs(), ["handshake: entry"]);
    assert!(!plugin.is_thread_safe());
    let call_services = Recorder::default();
    assert_eq!(
        plugin.call(&call_services, b"<request/>").unwrap(),
        b"<request/>"
    );
    assert_eq!(plugin.call(&call_services, b"").unwrap(), b"");
    let error = plugin.send(&call_services, "http://x", b"m").unwrap_err();
    assert!(
        matches!(
            error,
            PluginError::NotProvided {
                function: "send",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "plugin minimal (payment-scheme) has no `send`"
    );
}
