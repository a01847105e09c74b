//! The Python bindings (`bindings/python`), as part of `cargo test --workspace`: builds the
//! extension into the repository's venv (`.venv`, made by `scripts/setup.sh`) with `maturin
//! develop`, then runs their pytest suite (verdict parity with this `iotp`, a purchase through
//! WSGI apps, the ASGI app, exceptions), `mypy.stubtest` on the stubs and `mypy --strict` on the
//! package and its tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iotp_plugin_host::testing::{
    HTTP_TRANSPORT, MOCK_SCHEME, build_rust_plugin, without_package_env,
};

/// Held while maturin builds: both tests build the extension into this workspace's target
/// directory, and two maturin runs at once replace each other's copy of the library
/// (`<target>/maturin/lib_iotp.so`) under their feet.
static MATURIN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn maturin_lock() -> std::sync::MutexGuard<'static, ()> {
    MATURIN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(what: &str, mut command: Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_python_bindings_pass_their_suite_and_their_stubs_check() {
    let repo = repo().canonicalize().unwrap();
    let venv = repo.join(".venv");
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it makes the venv with maturin, pytest and mypy)",
        python.display()
    );
    let scheme = build_rust_plugin(MOCK_SCHEME).unwrap_or_else(|e| panic!("{e}"));
    build_rust_plugin(HTTP_TRANSPORT).unwrap_or_else(|e| panic!("{e}"));
    let plugin_dir = scheme.parent().unwrap();
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut develop = Command::new(venv.join("bin/maturin"));
    without_package_env(&mut develop);
    develop
        .args(["develop", "--quiet", "-m"])
        .arg(repo.join("bindings/python/Cargo.toml"))
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", &path);
    {
        let _building = maturin_lock();
        run("maturin develop", develop);
    }

    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repo.join("bindings/python/tests"))
        .env("IOTP_REPO", &repo)
        .env("IOTP_BIN", env!("CARGO_BIN_EXE_iotp"))
        .env("IOTP_PLUGIN_DIR", plugin_dir)
        .current_dir(&repo);
    let out = run("pytest", pytest);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" passed") && !summary.contains("skipped"),
        "{summary}"
    );

    let mut stubtest = Command::new(&python);
    stubtest
        .args(["-m", "mypy.stubtest", "iotp"])
        .current_dir(&repo);
    run("mypy.stubtest", stubtest);

    let mut mypy = Command::new(&python);
    mypy.args(["-m", "mypy", "--strict", "--no-incremental"])
        .arg(repo.join("bindings/python/python/iotp"))
        // The tests too; `tests` has no `__init__.py`, so mypy takes it as a top-level
        // directory and their `from conftest import ...` resolves as under pytest.
        .arg(repo.join("bindings/python/tests"))
        .current_dir(&repo);
    run("mypy --strict", mypy);
}

/// The README's install line: `pip install ./bindings/python` into a fresh venv (only Python and
/// Rust present; pip fetches maturin for the build) gives a working `iotp` package. Built with
/// the dev profile (`MATURIN_PEP517_ARGS`) to reuse this workspace's debug build; the README's
/// release wheel differs only in optimisation.
#[test]
fn pip_installs_the_package_into_a_fresh_venv() {
    let repo = repo().canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let mut make = Command::new("python3");
    make.args(["-m", "venv"]).arg(&venv);
    run("python3 -m venv", make);

    let mut pip = Command::new(venv.join("bin/pip"));
    without_package_env(&mut pip);
    pip.args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(repo.join("bindings/python"))
        .env("MATURIN_PEP517_ARGS", "--profile dev")
        .env_remove("VIRTUAL_ENV")
        .current_dir(dir.path());
    {
        let _building = maturin_lock();
        run("pip install ./bindings/python", pip);
    }

    let valid = repo.join("tests/data/valid/purchase-04-payment-request.xml");
    let invalid = repo.join("tests/data/invalid/attmissing-org-orgid.xml");
    let script = format!(
        "import pathlib, iotp\n\
         assert pathlib.Path(iotp.__file__).is_relative_to({venv:?}), iotp.__file__\n\
         assert iotp.validate(pathlib.Path({invalid:?}).read_bytes())[0].code == 'AttMissing'\n\
         message = iotp.parse(pathlib.Path({valid:?}).read_bytes())\n\
         assert iotp.parse(message.to_xml()).to_xml() == message.to_xml()\n\
         print(iotp.__version__)\n",
        venv = venv.display().to_string(),
        invalid = invalid.display().to_string(),
        valid = valid.display().to_string(),
    );
    let mut python = Command::new(venv.join("bin/python"));
    python.arg("-c").arg(script).current_dir(dir.path());
    let out = run("the installed package", python);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );
}
