//! `include/iotp_plugin.h` is generated from this crate by the pinned cbindgen and committed:
//! these tests fail when the committed header drifts from the source, and check that it
//! compiles as strict C99. `IOTP_BLESS=1 cargo test -p iotp-plugin-api --test header` rewrites it.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("../../include/iotp_plugin.h")
}

/// The header as the pinned cbindgen generates it from `src/lib.rs` and `cbindgen.toml`.
fn generate() -> Vec<u8> {
    let config = cbindgen::Config::from_file(crate_dir().join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir().join("src/lib.rs"))
        .generate()
        .unwrap();
    let mut out = Vec::new();
    bindings.write(&mut out);
    out
}

#[test]
fn committed_header_matches_the_source() {
    let generated = generate();
    let path = header_path();
    if std::env::var_os("IOTP_BLESS").is_some_and(|v| v == "1") {
        fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from what cbindgen generates from plugins/api/src/lib.rs; run \
         `IOTP_BLESS=1 cargo test -p iotp-plugin-api --test header` and commit the header",
        path.display()
    );
}

/// A C translation unit that includes the header and defines both plugin symbols with the
/// declared types: it must compile with `gcc -std=c99 -Wall -Wextra -pedantic -Werror`.
const PLUGIN_SKELETON: &str = r#"
#include "iotp_plugin.h"

const IotpPluginDescriptor iotp_plugin_descriptor = {
    sizeof(IotpPluginDescriptor), IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_KIND_PAYMENT_SCHEME,
    "skeleton", "0.0.1", NULL,
};

static void free_buffer(void *ctx, IotpBuffer buffer) {
    (void)ctx;
    free(buffer.ptr);
}

static IotpPluginTable table;

const IotpPluginTable *iotp_plugin_entry(uint32_t host_abi_version, const IotpHostServices *host) {
    IotpPluginEntryFn self_check = iotp_plugin_entry;
    (void)self_check;
    if (host_abi_version != IOTP_PLUGIN_ABI_VERSION || host == NULL
        || host->struct_size < sizeof(IotpHostServices)) {
        return NULL;
    }
    table.struct_size = sizeof(IotpPluginTable);
    table.abi_version = IOTP_PLUGIN_ABI_VERSION;
    table.kind = IOTP_PLUGIN_KIND_PAYMENT_SCHEME;
    table.flags = IOTP_PLUGIN_FLAG_THREAD_SAFE;
    table.free_buffer = free_buffer;
    return &table;
}
"#;

/// Included twice from C++, the header declares the plugin symbols with C linkage.
const CPP_USER: &str = r#"
#include "iotp_plugin.h"
#include "iotp_plugin.h"

static_assert(IOTP_PLUGIN_ABI_VERSION == 1, "ABI version");

int main() {
    IotpPluginEntryFn entry = iotp_plugin_entry;
    return entry == nullptr && iotp_plugin_descriptor.struct_size == 0;
}
"#;

#[test]
fn header_compiles_as_strict_c99() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iotp-plugin-api-header");
    fs::create_dir_all(&dir).unwrap();
    let source = dir.join("skeleton.c");
    fs::write(&source, PLUGIN_SKELETON).unwrap();
    let include = header_path().parent().unwrap().to_path_buf();
    for std in ["-std=c99", "-std=c11"] {
        let output = Command::new("gcc")
            .args([std, "-Wall", "-Wextra", "-pedantic", "-Werror", "-c", "-o"])
            .arg(dir.join("skeleton.o"))
            .arg("-I")
            .arg(&include)
            .arg(&source)
            .output()
            .expect("gcc must be installed to test the header");
        assert!(
            output.status.success(),
            "gcc {std} rejects the header:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn header_compiles_as_cpp() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iotp-plugin-api-header");
    fs::create_dir_all(&dir).unwrap();
    let source = dir.join("user.cpp");
    fs::write(&source, CPP_USER).unwrap();
    let output = Command::new("g++")
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-fsyntax-only",
        ])
        .arg("-I")
        .arg(header_path().parent().unwrap())
        .arg(&source)
        .output()
        .expect("g++ must be installed to test the header");
    assert!(
        output.status.success(),
        "g++ rejects the header:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
