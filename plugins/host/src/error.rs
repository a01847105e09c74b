//! What can go wrong loading a plugin ([`LoadError`]) and calling it ([`PluginError`]).

use std::path::PathBuf;

use iotp_plugin_api::{ErrorStatus, PluginKind};

/// Why a plugin could not be loaded or started: one variant per failure, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be loaded as a shared library (missing, unreadable, not a library,
    /// wrong architecture, unresolved dependencies).
    #[error("{}: cannot load as a shared library: {message}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message (`dlerror`).
        message: String,
    },
    /// A shared library, but not an IOTP plugin.
    #[error(
        "{}: not an IOTP plugin: it exports no `iotp_plugin_descriptor` symbol",
        path.display()
    )]
    NoDescriptor {
        /// The file.
        path: PathBuf,
    },
    /// The descriptor is for another ABI version: nothing else of it is read.
    #[error(
        "{}: the plugin's descriptor is for ABI version {plugin}, {} than this host's ABI \
         version {host}: rebuild the plugin against include/iotp_plugin.h of ABI version {host}",
        path.display(), older_or_newer(*plugin, *host)
    )]
    DescriptorAbi {
        /// The file.
        path: PathBuf,
        /// The plugin's ABI version.
        plugin: u32,
        /// This host's ABI version.
        host: u32,
    },
    /// The descriptor's `struct_size` does not cover the fields of this ABI version.
    #[error(
        "{}: the plugin's descriptor is {size} bytes, smaller than the {expected} bytes of \
         IotpPluginDescriptor",
        path.display()
    )]
    DescriptorTooSmall {
        /// The file.
        path: PathBuf,
        /// The descriptor's `struct_size`.
        size: u32,
        /// What this host needs.
        expected: usize,
    },
    /// The descriptor names a kind this ABI does not know.
    #[error(
        "{}: the plugin's kind {kind} is neither a payment scheme (1) nor a transport (2)",
        path.display()
    )]
    UnknownKind {
        /// The file.
        path: PathBuf,
        /// The descriptor's kind.
        kind: u32,
    },
    /// The plugin is of another kind than the one asked for.
    #[error("{}: the plugin is a {found} plugin, not a {expected} plugin", path.display())]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// The kind asked for.
        expected: PluginKind,
        /// The descriptor's kind.
        found: PluginKind,
    },
    /// The descriptor's name or version is NULL or not UTF-8.
    #[error("{}: the plugin's descriptor is invalid: {reason}", path.display())]
    DescriptorInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The library has a descriptor but no entry point.
    #[error(
        "{}: the plugin exports no `iotp_plugin_entry` function: it cannot be started",
        path.display()
    )]
    NoEntry {
        /// The file.
        path: PathBuf,
    },
    /// The entry point returned NULL.
    #[error("{}: plugin {name} refused to start (its entry point returned NULL)", path.display())]
    EntryRefused {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
    },
    /// The table returned is for another ABI version.
    #[error(
        "{}: plugin {name} returned a table for ABI version {plugin}, {} than this host's ABI \
         version {host}",
        path.display(), older_or_newer(*plugin, *host)
    )]
    TableAbi {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The table's ABI version.
        plugin: u32,
        /// This host's ABI version.
        host: u32,
    },
    /// The table's `struct_size` does not cover the fields of this ABI version.
    #[error(
        "{}: plugin {name} returned a table of {size} bytes, smaller than the {expected} \
         bytes of IotpPluginTable",
        path.display()
    )]
    TableTooSmall {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The table's `struct_size`.
        size: u32,
        /// What this host needs.
        expected: usize,
    },
    /// The table's kind differs from the descriptor's.
    #[error(
        "{}: plugin {name} returned a table of kind {table}, but its descriptor says {descriptor}",
        path.display()
    )]
    TableKind {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The descriptor's kind.
        descriptor: PluginKind,
        /// The table's kind.
        table: u32,
    },
    /// A function the plugin's kind needs is NULL in its table.
    #[error(
        "{}: plugin {name} returned a table without `{function}`, which a {kind} plugin needs",
        path.display()
    )]
    MissingFunction {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The kind.
        kind: PluginKind,
        /// The missing function (`free_buffer`, `call`, `send or serve`).
        function: &'static str,
    },
    /// A payment scheme whose descriptor holds no claims document: the host cannot tell which
    /// brands, protocols and calls it handles.
    #[error(
        "{}: payment scheme plugin {name} publishes no claims (its descriptor's `claims` is \
         NULL): the host cannot tell which brands and protocols it handles",
        path.display()
    )]
    NoClaims {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
    },
    /// A payment scheme whose claims document cannot be read.
    #[error("{}: payment scheme plugin {name} publishes unreadable claims: {message}", path.display())]
    BadClaims {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// What is wrong with the document.
        message: String,
    },
}

fn older_or_newer(plugin: u32, host: u32) -> &'static str {
    if plugin < host { "older" } else { "newer" }
}

/// Why a call into a started plugin failed. The plugin stays usable: the error is for this
/// call.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin returned a status other than `IOTP_PLUGIN_OK`.
    #[error("plugin {plugin}: `{function}` failed: {status}")]
    Status {
        /// The plugin's name.
        plugin: String,
        /// The function called.
        function: &'static str,
        /// What it returned.
        status: ErrorStatus,
    },
    /// The plugin reported success with an unusable output buffer (NULL with a length, or a
    /// length no allocation can have).
    #[error(
        "plugin {plugin}: `{function}` returned an invalid buffer ({len} bytes at NULL or more than isize::MAX)"
    )]
    BadBuffer {
        /// The plugin's name.
        plugin: String,
        /// The function called.
        function: &'static str,
        /// The length it gave.
        len: usize,
    },
    /// The plugin's kind has no such function (`call` on a transport, `send` on a scheme, or
    /// a transport that only serves).
    #[error("plugin {plugin} ({kind}) has no `{function}`")]
    NotProvided {
        /// The plugin's name.
        plugin: String,
        /// Its kind.
        kind: PluginKind,
        /// The function asked for.
        function: &'static str,
    },
}
