//! For tests: builds a C plugin from `plugins/testdata/` (or any C file) with the system C
//! compiler, against `include/iotp_plugin.h` of this source tree.
//!
//! Used by this crate's tests and the CLI's; the conformance kit and the C mock scheme will
//! use it too. Each build should go to a path of its own: a loaded library is never unloaded,
//! and the loader hands back the library already loaded from a path.

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
