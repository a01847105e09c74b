//! For tests: builds a C plugin from `plugins/testdata/` (or any C file) with the system C
//! compiler, against `include/iotp_plugin.h` of this source tree; builds a Rust plugin of this
//! workspace (the mock scheme, the SDK's examples) with cargo ([`build_rust_plugin`]).
//!
//! Used by this crate's tests and the CLI's; the conformance kit and the C mock scheme will
//! use it too. Each C build should go to a path of its own: a loaded library is never
//! unloaded, and the loader hands back the library already loaded from a path.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `include/` of this source tree (where `iotp_plugin.h` is).
pub fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include")
}

/// `plugins/testdata/` of this source tree: the C sources of the test plugins.
pub fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Compiles `source` into the shared library `output` with `$CC` (default `gcc`), as strict
/// C99 with warnings as errors, each of `defines` passed as `-D` (`NAME` or `NAME=VALUE`).
/// The error is the compiler's output.
pub fn compile_c_plugin(source: &Path, defines: &[&str], output: &Path) -> Result<(), String> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "gcc".to_owned());
    let result = Command::new(&compiler)
        .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"])
        .args(["-shared", "-fPIC", "-o"])
        .arg(output)
        .arg("-I")
        .arg(include_dir())
        .args(defines.iter().map(|define| format!("-D{define}")))
        .arg(source)
        .output()
        .map_err(|e| format!("cannot run {compiler}: {e}"))?;
    if result.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{compiler} failed on {}:\n{}",
            source.display(),
            String::from_utf8_lossy(&result.stderr)
        ))
    }
}

/// A plugin crate of this workspace to build with cargo: a package's library, or an example
/// of a package (built as a `cdylib`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RustPlugin<'a> {
    /// `cargo build -p PACKAGE --lib`; the library file is `lib<lib_name>.so`.
    Package {
        /// The package (`iotp-plugin-mock`).
        package: &'a str,
        /// Its library's name (`iotp_scheme_mock`).
        lib_name: &'a str,
    },
    /// `cargo build -p PACKAGE --example EXAMPLE`; the file is `examples/lib<example>.so`.
    Example {
        /// The package (`iotp-plugin-sdk`).
        package: &'a str,
        /// The example (`echo_bridge`).
        example: &'a str,
    },
}

/// The mock scheme plugin, `libiotp_scheme_mock.so`.
pub const MOCK_SCHEME: RustPlugin<'static> = RustPlugin::Package {
    package: "iotp-plugin-mock",
    lib_name: "iotp_scheme_mock",
};

/// The HTTP transport plugin (RFC 2935), `libiotp_transport_http.so`.
pub const HTTP_TRANSPORT: RustPlugin<'static> = RustPlugin::Package {
    package: "iotp-transport-http",
    lib_name: "iotp_transport_http",
};

/// Builds a Rust plugin of this workspace with the cargo that builds the caller, into the
/// caller's target directory and profile (found from the running test or benchmark
/// executable, `<target>/<profile>/deps/…`; otherwise `target/debug` of this workspace), and
/// returns the library's path. Cargo's own lock serialises concurrent builds; a build that is
/// up to date costs a fraction of a second.
pub fn build_rust_plugin(plugin: RustPlugin<'_>) -> Result<PathBuf, String> {
    let (target_dir, profile_dir) = target_of_current_exe();
    let profile = match profile_dir.as_str() {
        "debug" => "dev",
        other => other,
    };
    let mut command = Command::new(env!("CARGO"));
    without_package_env(&mut command);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--profile", profile, "--quiet"]);
    let file = |dir: PathBuf, name: &str| {
        dir.join(format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    };
    let output = match plugin {
        RustPlugin::Package { package, lib_name } => {
            command.args(["-p", package, "--lib"]);
            file(target_dir.join(&profile_dir), lib_name)
        }
        RustPlugin::Example { package, example } => {
            command.args(["-p", package, "--example", example]);
            file(target_dir.join(&profile_dir).join("examples"), example)
        }
    };
    let result = command
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "cargo failed to build {plugin:?}:\n{}",
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    if !output.is_file() {
        return Err(format!(
            "cargo built {plugin:?}, but {} is not there",
            output.display()
        ));
    }
    Ok(output)
}

/// Removes from `command`'s environment the variables cargo sets for the calling test (package
/// name, manifest directory, ...): a cargo run by `command` would otherwise see them change
/// and run build scripts that watch them (ring's) again, rebuilding everything above them.
pub fn without_package_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && (name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_")
                || matches!(
                    name,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                ))
        {
            command.env_remove(name);
        }
    }
}

/// The target directory and profile directory name of the running executable.
fn target_of_current_exe() -> (PathBuf, String) {
    let found = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        if deps.file_name()? != "deps" {
            return None;
        }
        let profile = deps.parent()?;
        Some((
            profile.parent()?.to_path_buf(),
            profile.file_name()?.to_str()?.to_owned(),
        ))
    });
    found.unwrap_or_else(|| {
        (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            "debug".to_owned(),
        )
    })
}
