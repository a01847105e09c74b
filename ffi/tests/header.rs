//! `include/iotp.h` is generated from this crate by the pinned cbindgen and committed: these
//! tests fail when the committed header drifts from the source, check that it compiles as
//! strict C99, C11 and C++ (also together with `iotp_plugin.h`), that its version macros are
//! the crate's, and that every `iotp_result` has a stable, unique number and a message.
//! `IOTP_BLESS=1 cargo test -p iotp-ffi --test header` rewrites it.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn include_dir() -> PathBuf {
    crate_dir().join("../include")
}

fn header_path() -> PathBuf {
    include_dir().join("iotp.h")
}

/// The header as the pinned cbindgen generates it from `src/` and `cbindgen.toml`.
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
        "{} differs from what cbindgen generates from ffi/src; run \
         `IOTP_BLESS=1 cargo test -p iotp-ffi --test header` and commit the header",
        path.display()
    );
}

/// Every `iotp_result` with its number, as released. A new result takes a new number in its
/// block and a new line here; a line is never changed or removed (a withdrawn result moves to
/// `WITHDRAWN`, its number taken for good).
const RESULTS: &[(&str, u32)] = &[
    ("IOTP_RESULT_OK", 0),
    ("IOTP_RESULT_NULL_PARAMETER", 100),
    ("IOTP_RESULT_INVALID_PARAMETER", 101),
    ("IOTP_RESULT_INVALID_HANDLE", 102),
    ("IOTP_RESULT_WRONG_HANDLE_KIND", 103),
    ("IOTP_RESULT_INDEX_OUT_OF_RANGE", 104),
    ("IOTP_RESULT_NOT_WELL_FORMED", 200),
    ("IOTP_RESULT_INVALID_MESSAGE", 201),
    ("IOTP_RESULT_NOT_A_MESSAGE", 202),
    ("IOTP_RESULT_BAD_DOCUMENT", 203),
    ("IOTP_RESULT_CONFIG", 300),
    ("IOTP_RESULT_PLUGIN", 301),
    ("IOTP_RESULT_STORAGE", 302),
    ("IOTP_RESULT_NO_TRANSPORT", 400),
    ("IOTP_RESULT_REFUSED", 401),
    ("IOTP_RESULT_TIMED_OUT", 402),
    ("IOTP_RESULT_SHUTTING_DOWN", 403),
    ("IOTP_RESULT_NOT_FOUND", 404),
    ("IOTP_RESULT_ENGINE", 405),
    ("IOTP_RESULT_PLUGIN_CALL", 406),
    ("IOTP_RESULT_UNAVAILABLE", 407),
    ("IOTP_RESULT_PANIC", 900),
];

/// Numbers of results withdrawn: never given to another result.
const WITHDRAWN: &[u32] = &[];

/// The `NAME = NUMBER` lines of a C enum in the committed header.
fn enum_values(header: &str, name: &str) -> Vec<(String, u32)> {
    let start = header.find(&format!("enum {name}\n")).unwrap();
    let body = &header[start..];
    let body = &body[body.find('{').unwrap()..body.find("};").unwrap()];
    body.lines()
        .filter_map(|l| l.trim().strip_suffix(','))
        .filter_map(|l| l.split_once(" = "))
        .map(|(n, v)| (n.to_owned(), v.parse().unwrap()))
        .collect()
}

#[test]
fn result_numbers_are_stable_and_unique() {
    let header = fs::read_to_string(header_path()).unwrap();
    let found = enum_values(&header, "iotp_result");
    let pinned: Vec<(String, u32)> = RESULTS.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect();
    assert_eq!(
        found, pinned,
        "iotp_result changed: numbers are never changed or reused; add new results to RESULTS"
    );
    let mut numbers: Vec<u32> = RESULTS.iter().map(|(_, v)| *v).collect();
    numbers.extend(WITHDRAWN);
    let count = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), count, "a number is used twice");
}

#[test]
fn version_macros_are_the_crates() {
    let header = fs::read_to_string(header_path()).unwrap();
    for (part, value) in [
        ("MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define IOTP_VERSION_{part} {value}\n");
        assert!(header.contains(&line), "the header lacks {line:?}");
    }
}

/// Uses every type and a few functions of the header, with the plugin header beside it.
const C_USER: &str = r#"
#include "iotp.h"
#include "iotp_plugin.h"
#include "iotp.h"

static bool offer(void *userdata, const char *target, iotp_offer *o) {
    (void)userdata; (void)target;
    return iotp_offer_set_order(o, "ORDER-1", "A book") == IOTP_RESULT_OK;
}

static void deliver(void *userdata, const iotp_delivery_request *r, iotp_delivery_result *out) {
    (void)userdata;
    iotp_delivery_result_set(out, true, "Shipped", r->order_identifier, NULL);
}

static bool choose(void *userdata, const iotp_offer_summary *o, const char *direction,
                   const iotp_payment_option *options, size_t count, size_t *choice_out) {
    (void)userdata; (void)o; (void)direction; (void)options;
    *choice_out = 0;
    return count > 0;
}

static void logged(void *userdata, iotp_log_level level, const char *message) {
    (void)userdata; (void)message;
    (void)(level == IOTP_LOG_LEVEL_INFO);
}

int use(iotp_node_config *config, const iotp_transaction *t) {
    iotp_offer_callback o = offer;
    iotp_delivery_callback d = deliver;
    iotp_choose_callback c = choose;
    iotp_approve_callback a = NULL;
    iotp_log_callback l = logged;
    iotp_node_config_set_offer_callback(config, o, NULL);
    iotp_node_config_set_delivery_callback(config, d, NULL);
    iotp_node_config_set_consumer_callbacks(config, c, a, NULL);
    iotp_node_config_set_log_callback(config, l, NULL);
    iotp_problem problem;
    iotp_receipt receipt;
    iotp_receipt_part part;
    (void)problem; (void)receipt; (void)part;
    iotp_end end = iotp_transaction_end(t);
    iotp_result r = IOTP_RESULT_OK;
    return (int)end + (int)r + IOTP_VERSION_MAJOR + IOTP_PLUGIN_ABI_VERSION;
}
"#;

fn compile(compiler: &str, args: &[&str], name: &str, source: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iotp-ffi-header");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, source).unwrap();
    let output = Command::new(compiler)
        .args(args)
        .args([
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(include_dir())
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{compiler} must be installed to test the header: {e}"));
    assert!(
        output.status.success(),
        "{compiler} {args:?} rejects the header:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn header_compiles_as_strict_c_and_cpp() {
    for std in ["-std=c99", "-std=c11"] {
        compile("gcc", &[std], "user.c", C_USER);
    }
    compile(
        "g++",
        &["-std=c++11", "-x", "c++"],
        "user.cpp",
        &C_USER.replace("NULL", "nullptr"),
    );
}
