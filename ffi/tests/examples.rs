//! The C examples (`examples/c/`), built with their Makefile against `include/iotp.h` and the
//! library, and run under valgrind (no errors, no definite leaks beyond the plugin system's
//! deliberate ones, listed in `ffi/valgrind.supp`); then the C section of the README:
//! `ffi/install.sh` into a fresh prefix, the minimal example built with `pkg-config`, and the
//! examples built and run against the installed library.
//!
//! valgrind comes from `scripts/setup.sh`; `IOTP_TEST_NO_VALGRIND=1` runs the examples
//! without it.

// Tests may unwrap: a failure is a panic with the reason either way.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use iotp_plugin_host::testing::{HTTP_TRANSPORT, MOCK_SCHEME, RustPlugin, build_rust_plugin};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory of libiotp.so, libiotp.a and the plugins, built once.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let library = build_rust_plugin(RustPlugin::Package {
            package: "iotp-ffi",
            lib_name: "iotp",
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let dir = library.parent().unwrap().to_path_buf();
        for plugin in [MOCK_SCHEME, HTTP_TRANSPORT] {
            let built = build_rust_plugin(plugin).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(built.parent().unwrap(), dir);
        }
        assert!(dir.join("libiotp.a").is_file());
        dir
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

fn make(dir: &Path, args: &[&str], vars: &[(&str, String)]) -> Output {
    let mut command = Command::new("make");
    command
        .arg("-C")
        .arg(root().join("examples/c"))
        .arg(format!("O={}", dir.display()))
        .args(args);
    for (name, value) in vars {
        command.arg(format!("{name}={value}"));
    }
    run(&mut command)
}

/// What the merchant example prints when the purchase works.
fn assert_purchase(stdout: &str) {
    for expected in [
        "merchant: ORDER-1: 3 paperback books for 37.50 USD",
        "merchant: shipping ORDER-1 (3 paperback books) by Post",
        "consumer: BaselinePurchase ",
        ": CompletedOk Shipped",
        "consumer:   MockReceipt: paid;amount=37.50;currency=USD",
        "merchant: as Merchant: OfferDone, CompletedOk",
        "merchant: as DeliveryHandler: Done, CompletedOk",
        "payment handler: as PaymentHandler: Done, CompletedOk",
        "consumer: inquiry: Payment CompletedOk, payment ",
        "/iotp/merchant: Ok from shop.example",
        "merchant: no offer for /pay/cars",
        "merchant: purchase completed",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
}

#[test]
fn examples_run_under_valgrind() {
    let lib = lib_dir();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iotp-ffi-examples");
    let _ = fs::remove_dir_all(&out);
    let vars = [("LIBDIR", lib.display().to_string())];
    make(&out, &["all", "static"], &vars);

    let valgrind = std::env::var_os("IOTP_TEST_NO_VALGRIND").is_none_or(|v| v != "1");
    let mut run_vars = vars.to_vec();
    if valgrind {
        let found = Command::new("valgrind").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "valgrind must be installed (scripts/setup.sh), or set IOTP_TEST_NO_VALGRIND=1"
        );
        run_vars.push((
            "VALGRIND",
            format!(
                "valgrind -q --error-exitcode=1 --leak-check=full \
                 --errors-for-leak-kinds=definite --show-leak-kinds=definite \
                 --num-callers=40 --suppressions={}",
                root().join("ffi/valgrind.supp").display()
            ),
        ));
    }
    let output = make(&out, &["run"], &run_vars);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(stdout.contains("libiotp 0.1.0: invalid"), "{stdout}");
    assert!(
        stdout.contains("purchase-04-payment-request.xml: valid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<IotpMessage xmlns=\"iotp:ietf.org/iotp-v1.0\">"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ↳ "),
        "the tree resolves references: {stdout}"
    );
    assert_purchase(&stdout);
    assert!(
        stderr.contains("[merchant log] INFO started: shop.example"),
        "{stderr}"
    );
    // With -q, valgrind prints only what it finds: errors and definite leaks.
    for found in [
        "Invalid read",
        "Invalid write",
        "uninitialised",
        "definitely lost",
    ] {
        assert!(!stderr.contains(found), "valgrind: {found}:\n{stderr}");
    }

    // The static library links and runs too.
    let valid = root().join("tests/data/valid/purchase-01-tpo.xml");
    let output = run(Command::new(out.join("validate-static")).arg(&valid));
    assert!(text(&output.stdout).contains(": valid"));
}

/// The C section of the README (ffi/README.md): its example is `examples/c/minimal.c`.
#[test]
fn the_readme_example_is_minimal_c() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let minimal = fs::read_to_string(root().join("examples/c/minimal.c")).unwrap();
    let section = readme.find("\n## C\n").expect("the README's C section");
    let start = section + readme[section..].find("```c\n").unwrap() + "```c\n".len();
    let end = start + readme[start..].find("```").unwrap();
    assert_eq!(
        &readme[start..end],
        minimal,
        "the README's C example must equal examples/c/minimal.c"
    );
}

/// Installs into a fresh prefix as the README says, builds the minimal example with
/// pkg-config, and builds and runs the examples against the installed library.
#[test]
fn installed_library_builds_with_pkg_config_and_runs_a_purchase() {
    let lib = lib_dir();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iotp-ffi-install");
    let _ = fs::remove_dir_all(&dir);
    let prefix = dir.join("prefix");
    let (target, profile) = (lib.parent().unwrap(), lib.file_name().unwrap());
    run(Command::new(root().join("ffi/install.sh"))
        .arg(&prefix)
        .env("PROFILE", profile)
        .env("CARGO_TARGET_DIR", target));
    // The file under its version, its SONAME and the development name as symlinks.
    let soname = env!("IOTP_SONAME");
    let real = format!("libiotp.so.{}", env!("CARGO_PKG_VERSION"));
    assert!(prefix.join("lib").join(&real).is_file());
    for (link, to) in [(soname, real.as_str()), ("libiotp.so", soname)] {
        let path = prefix.join("lib").join(link);
        assert_eq!(fs::read_link(&path).unwrap(), Path::new(to), "{link}");
    }
    let dynamic = run(Command::new("readelf")
        .arg("-d")
        .arg(lib.join("libiotp.so")));
    assert!(
        text(&dynamic.stdout).contains(&format!("Library soname: [{soname}]")),
        "{}",
        text(&dynamic.stdout)
    );
    let pc = fs::read_to_string(prefix.join("lib/pkgconfig/iotp.pc")).unwrap();
    assert!(
        pc.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{pc}"
    );

    let pkg_config = |args: &[&str]| {
        let output = run(Command::new("pkg-config")
            .args(args)
            .arg("iotp")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
        text(&output.stdout).trim().to_owned()
    };
    let cflags = pkg_config(&["--cflags"]);
    let libs = pkg_config(&["--libs"]);
    let plugin_dir = pkg_config(&["--variable=plugindir"]);
    assert_eq!(Path::new(&plugin_dir), prefix.join("lib/iotp"));

    // The README's build line.
    let minimal = dir.join("minimal");
    run(Command::new("sh").arg("-c").arg(format!(
        "cc -std=c99 -Wall -Wextra -pedantic -Werror -o {} {} {cflags} {libs}",
        minimal.display(),
        root().join("examples/c/minimal.c").display()
    )));
    let output = run(Command::new(&minimal).env("LD_LIBRARY_PATH", prefix.join("lib")));
    assert!(text(&output.stdout).starts_with("libiotp 0.1.0: invalid"));

    // The README's purchase: the examples against the installed library and plugins.
    let bin = dir.join("bin");
    make(
        &bin,
        &["all"],
        &[
            ("IOTP_CFLAGS", cflags),
            ("IOTP_LIBS", libs),
            ("PLUGIN_DIR", plugin_dir.clone()),
        ],
    );
    let data = dir.join("data");
    fs::create_dir_all(&data).unwrap();
    let output = run(Command::new(bin.join("merchant"))
        .arg(&plugin_dir)
        .arg(&data)
        .env("LD_LIBRARY_PATH", prefix.join("lib")));
    assert_purchase(&text(&output.stdout));
}
