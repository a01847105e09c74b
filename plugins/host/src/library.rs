//! Opening a plugin library: the descriptor and entry point are checked before any plugin
//! function runs; starting it: the entry point's table is checked before any of its functions
//! runs.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iotp_plugin_api::{
    IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_DESCRIPTOR_SYMBOL, IOTP_PLUGIN_ENTRY_SYMBOL,
    IOTP_PLUGIN_FLAG_THREAD_SAFE, IotpHostServices, IotpPluginDescriptor, IotpPluginEntryFn,
    IotpPluginTable, PluginKind,
};
use libloading::Library;

use crate::error::LoadError;
use crate::plugin::LoadedPlugin;
use crate::services::{HostServices, leak_host_table};

/// What a plugin's descriptor says, read without running the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Payment scheme or transport.
    pub kind: PluginKind,
    /// The ABI version it was built for (this host's, once the descriptor is accepted).
    pub abi_version: u32,
    /// The claims document of a payment scheme (`IotpPluginClaims`), if it publishes one.
    pub claims: Option<String>,
}

/// A plugin library, loaded (for good) and with its descriptor and entry point checked. Its
/// code has not run: [`PluginLibrary::start`] runs it.
#[derive(Debug)]
pub struct PluginLibrary {
    path: PathBuf,
    descriptor: Descriptor,
    entry: unsafe extern "C" fn(u32, *const IotpHostServices) -> *const IotpPluginTable,
}

/// Reads a plugin's descriptor without calling any function of it (`iotp plugin inspect`):
/// [`PluginLibrary::open`], keeping only the descriptor.
pub fn inspect(path: impl AsRef<Path>) -> Result<Descriptor, LoadError> {
    PluginLibrary::open(path).map(|library| library.descriptor)
}

impl PluginLibrary {
    /// Loads the library at `path` and checks it is a plugin of this ABI: its descriptor (ABI
    /// version, size, kind, name, version) and its entry point's presence. No function of the
    /// plugin is called; the loader runs the library's initialisers, as for any library.
    ///
    /// A bare file name (`libplugin.so`) is a file of the current directory, as for any
    /// other file: it is not searched for in the loader's library paths.
    ///
    /// The library is never unloaded, whatever the outcome.
    pub fn open(path: impl AsRef<Path>) -> Result<PluginLibrary, LoadError> {
        let path = path.as_ref().to_path_buf();
        let mut file = path.clone();
        if file.parent() == Some(Path::new("")) {
            file = Path::new(".").join(file);
        }
        // SAFETY: loading a library runs its initialisers; a plugin's must be sound (the
        // ABI's contract; the host cannot check code). The handle is leaked: never unloaded.
        let library: &'static Library = match unsafe { Library::new(&file) } {
            Ok(library) => Box::leak(Box::new(library)),
            Err(e) => {
                return Err(LoadError::Open {
                    message: loader_message(&e, &file),
                    path,
                });
            }
        };

        // SAFETY: the symbol, when present, is a data symbol; only its address is taken.
        let descriptor =
            unsafe { library.get::<*const IotpPluginDescriptor>(IOTP_PLUGIN_DESCRIPTOR_SYMBOL) }
                .ok()
                .map(|symbol| *symbol)
                .filter(|pointer| !pointer.is_null());
        let Some(descriptor) = descriptor else {
            return Err(LoadError::NoDescriptor { path });
        };
        // SAFETY: an exported descriptor is a static IotpPluginDescriptor of some ABI version,
        // which always starts with struct_size and abi_version; nothing further is read before
        // both are checked.
        let descriptor = unsafe { read_descriptor(descriptor, &path) }?;

        // SAFETY: only the symbol's address is taken; it is called (by `start`) with the
        // declared type, which the descriptor's ABI version vouches for.
        let entry = unsafe { library.get::<IotpPluginEntryFn>(IOTP_PLUGIN_ENTRY_SYMBOL) }
            .ok()
            .and_then(|symbol| *symbol);
        let Some(entry) = entry else {
            return Err(LoadError::NoEntry { path });
        };
        Ok(PluginLibrary {
            path,
            descriptor,
            entry,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What its descriptor says.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Checks the plugin is of `kind`.
    pub fn expect_kind(&self, kind: PluginKind) -> Result<(), LoadError> {
        if self.descriptor.kind == kind {
            Ok(())
        } else {
            Err(LoadError::WrongKind {
                path: self.path.clone(),
                expected: kind,
                found: self.descriptor.kind,
            })
        }
    }

    /// Starts the plugin: calls its entry point with this host's ABI version and a host
    /// services table bound to `services` (the host context, used by the plugin outside
    /// calls), then checks the table it returns: not NULL, this ABI version, large enough, the
    /// descriptor's kind, the functions of that kind present.
    ///
    /// A plugin may be started more than once; each start gets its own host services. The
    /// host services table is never freed (the plugin may use it until the process exits).
    pub fn start(
        &self,
        services: Arc<dyn HostServices + Send + Sync>,
    ) -> Result<LoadedPlugin, LoadError> {
        let host = leak_host_table(services);
        // SAFETY: the entry point has the type the ABI declares (the descriptor's ABI version
        // matches this host's); `host` is valid for the rest of the process.
        let table = unsafe { (self.entry)(IOTP_PLUGIN_ABI_VERSION, host) };
        let name = || self.descriptor.name.clone();
        if table.is_null() {
            return Err(LoadError::EntryRefused {
                path: self.path.clone(),
                name: name(),
            });
        }
        // SAFETY: non-NULL, a table of some ABI version, which starts with struct_size and
        // abi_version.
        let (size, abi_version) = unsafe {
            (
                (&raw const (*table).struct_size).read(),
                (&raw const (*table).abi_version).read(),
            )
        };
        if abi_version != IOTP_PLUGIN_ABI_VERSION {
            return Err(LoadError::TableAbi {
                path: self.path.clone(),
                name: name(),
                plugin: abi_version,
                host: IOTP_PLUGIN_ABI_VERSION,
            });
        }
        if (size as usize) < size_of::<IotpPluginTable>() {
            return Err(LoadError::TableTooSmall {
                path: self.path.clone(),
                name: name(),
                size,
                expected: size_of::<IotpPluginTable>(),
            });
        }
        // SAFETY: a table of this ABI version, at least as large as this host's
        // IotpPluginTable: every field is there. It is copied: the plugin keeps it unchanged.
        let table = unsafe { table.read() };

        let kind = self.descriptor.kind;
        if table.kind != kind.code() {
            return Err(LoadError::TableKind {
                path: self.path.clone(),
                name: name(),
                descriptor: kind,
                table: table.kind,
            });
        }
        let missing = if table.free_buffer.is_none() {
            Some("free_buffer")
        } else {
            match kind {
                PluginKind::PaymentScheme if table.call.is_none() => Some("call"),
                PluginKind::Transport if table.send.is_none() && table.serve.is_none() => {
                    Some("send or serve")
                }
                _ => None,
            }
        };
        if let Some(function) = missing {
            return Err(LoadError::MissingFunction {
                path: self.path.clone(),
                name: name(),
                kind,
                function,
            });
        }
        let thread_safe = table.flags & IOTP_PLUGIN_FLAG_THREAD_SAFE != 0;
        Ok(LoadedPlugin::new(
            self.descriptor.clone(),
            table,
            thread_safe,
        ))
    }
}

/// The loader's own words (`dlerror`, the innermost error of libloading's), without the path
/// it usually starts with: the error names the path already.
fn loader_message(error: &libloading::Error, path: &Path) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let message = innermost.to_string();
    let prefix = format!("{}: ", path.display());
    match message.strip_prefix(&prefix) {
        Some(rest) => rest.to_owned(),
        None => message,
    }
}

/// Reads and checks a descriptor.
///
/// # Safety
/// `pointer` points at a plugin's exported descriptor: at least `struct_size` and
/// `abi_version`, then (if `struct_size` says so) the fields of its ABI version; its strings
/// are nul-terminated.
unsafe fn read_descriptor(
    pointer: *const IotpPluginDescriptor,
    path: &Path,
) -> Result<Descriptor, LoadError> {
    let path = || path.to_path_buf();
    // SAFETY: every descriptor starts with these two fields (the function's contract).
    let (size, abi_version) = unsafe {
        (
            (&raw const (*pointer).struct_size).read(),
            (&raw const (*pointer).abi_version).read(),
        )
    };
    if abi_version != IOTP_PLUGIN_ABI_VERSION {
        return Err(LoadError::DescriptorAbi {
            path: path(),
            plugin: abi_version,
            host: IOTP_PLUGIN_ABI_VERSION,
        });
    }
    // The fields of ABI version 1 as first published; later fields are appended and optional.
    let base = std::mem::offset_of!(IotpPluginDescriptor, claims);
    if (size as usize) < base {
        return Err(LoadError::DescriptorTooSmall {
            path: path(),
            size,
            expected: base,
        });
    }
    // SAFETY: this ABI version and at least `base` bytes, so these fields are the plugin's.
    let (kind, name, version) = unsafe {
        (
            (&raw const (*pointer).kind).read(),
            (&raw const (*pointer).name).read(),
            (&raw const (*pointer).version).read(),
        )
    };
    let claims = if (size as usize) >= size_of::<IotpPluginDescriptor>() {
        // SAFETY: `struct_size` says the plugin's descriptor has the appended field.
        unsafe { (&raw const (*pointer).claims).read() }
    } else {
        std::ptr::null()
    };
    let descriptor = (kind, name, version);
    let kind = PluginKind::from_code(descriptor.0).ok_or_else(|| LoadError::UnknownKind {
        path: path(),
        kind: descriptor.0,
    })?;
    let text = |pointer: *const std::ffi::c_char, what: &'static str| {
        if pointer.is_null() {
            return Err(what);
        }
        // SAFETY: non-NULL, a static nul-terminated string (the function's contract).
        let text = unsafe { CStr::from_ptr(pointer) };
        text.to_str().map(str::to_owned).map_err(|_| what)
    };
    let invalid = |reason| LoadError::DescriptorInvalid {
        path: path(),
        reason,
    };
    Ok(Descriptor {
        name: text(descriptor.1, "its name is NULL or not UTF-8").map_err(invalid)?,
        version: text(descriptor.2, "its version is NULL or not UTF-8").map_err(invalid)?,
        kind,
        abi_version,
        claims: if claims.is_null() {
            None
        } else {
            Some(text(claims, "its claims are not UTF-8").map_err(invalid)?)
        },
    })
}
