//! Gives libiotp.so its SONAME, so that a program linked against it records the ABI it was
//! built for, and the loader refuses an incompatible library: `libiotp.so.MAJOR` from 1.0 on,
//! and `libiotp.so.0.MINOR` before (where, as in Cargo's semver, each minor release may break
//! the ABI). `ffi/install.sh` installs the file under that name with the usual symlinks.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let soname = if major == "0" {
        format!("libiotp.so.0.{minor}")
    } else {
        format!("libiotp.so.{major}")
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rustc-env=IOTP_SONAME={soname}");
    println!("cargo:rerun-if-changed=build.rs");
}
