//! `iotp._iotp`: the native part of the `iotp` Python package. It talks to the `iotp` core and
//! the `iotp-runtime` crates directly (not through the C ABI).
//!
//! - [`message`]: `validate`, `parse`, `Message`, `Element`, `ValidationError`;
//! - [`node`]: `Node` (a node of the runtime: `handle`, `startup`, `pay`, `inquire`, `ping`),
//!   `Outcome`, `Receipt`, callbacks into Python, schemes written in Python;
//! - [`errors`]: the exception hierarchy, and the one place Rust errors become Python ones.
//!
//! The GIL is released around everything that does I/O or runs the engine (stores, plugins,
//! the network).

mod errors;
mod message;
mod node;

use pyo3::prelude::*;

/// mimalloc for the extension's own (Rust) allocations; Python's allocator is untouched. A read
/// allocates a few hundred small strings, and glibc's allocator is a quarter of its time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The native module.
#[pymodule]
fn _iotp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    message::register(m)?;
    node::register(m)?;
    Ok(())
}
