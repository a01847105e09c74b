//! Loads IOTP plugins (shared libraries speaking the ABI of `iotp-plugin-api`) and calls them.
//!
//! ```text
//! PluginLibrary::open(path)      dlopen, then read the static descriptor and look the entry up:
//!                                no plugin code runs (beyond the loader's own initialisers)
//!     .descriptor()              name, version, kind, ABI version (`iotp plugin inspect`)
//!     .start(host services)      call the entry point, check the table it returns
//! LoadedPlugin
//!     .call(services, request)   payment schemes: one RFC 3867 request document, its response
//!     .send(...) / .serve(...)   transports
//! SchemePlugin::load(path)       a payment scheme, claims read and checked, started: an
//!                                `iotp::payapi::PaymentBridge` for the engine
//! ```
//!
//! Every check of the handshake happens before the code it protects runs: the descriptor's
//! ABI version and size before the entry point is called, the table's before any of its
//! functions is. Each failure is its own [`LoadError`] variant with a message naming the file.
//!
//! **Never unloaded.** A library, once opened, stays mapped until the process exits (its
//! handle is leaked on purpose): plugins may keep threads, thread-locals or `atexit` handlers,
//! and unloading under them crashes. The host services table given to a plugin is leaked with
//! it, since the plugin may use it for the rest of the process.
//!
//! **Failures.** A non-OK status from a plugin becomes a [`PluginError`] for that call; the
//! host goes on. What cannot be caught is a C plugin that crashes (a segfault, an abort): it
//! takes the process down. A Rust panic cannot unwind across an `extern "C"` function either
//! (the process would abort), so Rust plugins exported by the SDK catch their panics and
//! return `IOTP_PLUGIN_ERR_PANIC`; the host's own services ([`HostServices`] trampolines) do
//! the same in the other direction.
//!
//! **The current call.** Host services reach "the current call" through a context pointer:
//! each call into the plugin gets a `call_ctx` pointing at the [`HostServices`] passed for that
//! call, valid during the call on the calling thread; outside calls the plugin uses the host
//! context, bound to the services given to [`PluginLibrary::start`].

// This crate is one of the three places DESIGN.md §2 allows `unsafe`: it loads libraries and
// calls through C function pointers. Every unsafe block carries its own SAFETY comment.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod error;
mod library;
mod plugin;
mod scheme;
mod services;
pub mod testing;

pub use error::{LoadError, PluginError};
pub use iotp_plugin_api::{ErrorStatus, IOTP_PLUGIN_ABI_VERSION, LogLevel, PluginKind};
pub use library::{Descriptor, PluginLibrary, inspect};
pub use plugin::LoadedPlugin;
pub use scheme::{LogSink, OutsideCalls, SchemePlugin, read_claims};
pub use services::{HostServices, ServeHandler};
