//! A started plugin: calls into its table.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use iotp_plugin_api::{ErrorStatus, IotpBuffer, IotpPluginTable, IotpStatus};

use crate::error::PluginError;
use crate::library::Descriptor;
use crate::services::{HostServices, ServeHandler, ServicesContext, serve_handler};

/// A started plugin: its checked table. Calls are serialised unless the table says it is
/// thread-safe.
#[derive(Debug)]
pub struct LoadedPlugin {
    descriptor: Descriptor,
    table: IotpPluginTable,
    /// `None` for a thread-safe table; otherwise held during each call.
    serial: Option<Mutex<()>>,
}

// SAFETY: the table's pointers stay valid for the rest of the process (the ABI's contract:
// libraries are never unloaded, tables never freed). Its functions are called concurrently
// only when the plugin declared IOTP_PLUGIN_FLAG_THREAD_SAFE; otherwise `serial` lets one
// thread at a time in.
unsafe impl Send for LoadedPlugin {}
// SAFETY: as for Send.
unsafe impl Sync for LoadedPlugin {}

impl LoadedPlugin {
    pub(crate) fn new(descriptor: Descriptor, table: IotpPluginTable, thread_safe: bool) -> Self {
        LoadedPlugin {
            descriptor,
            table,
            serial: (!thread_safe).then(|| Mutex::new(())),
        }
    }

    /// What its descriptor says.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Whether the plugin may be called from several threads at once (otherwise the host
    /// serialises its calls).
    pub fn is_thread_safe(&self) -> bool {
        self.serial.is_none()
    }

    /// Payment schemes: one RFC 3867 call. `request` is an IotpPaymentApiRequest document; the
    /// result is the IotpPaymentApiResponse document. `services` serve the plugin's host
    /// service calls during this call (its call context).
    pub fn call(
        &self,
        services: &dyn HostServices,
        request: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        let call = self.table.call.ok_or_else(|| self.not_provided("call"))?;
        let context = ServicesContext::new(services);
        let mut out = IotpBuffer::empty();
        let status = {
            let _serial = self.serialise();
            // SAFETY: a function of a checked table with its own context; the request is
            // readable for the call; `out` is writable; the call context lives until after
            // the call returns.
            unsafe {
                call(
                    self.table.plugin_ctx,
                    context.as_ptr(),
                    request.as_ptr(),
                    request.len(),
                    &mut out,
                )
            }
        };
        self.take_output("call", status, out)
    }

    /// Transports, client side: sends `message` to `net_location`, returns the reply's bytes.
    pub fn send(
        &self,
        services: &dyn HostServices,
        net_location: &str,
        message: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        let send = self.table.send.ok_or_else(|| self.not_provided("send"))?;
        let context = ServicesContext::new(services);
        let mut out = IotpBuffer::empty();
        let status = {
            let _serial = self.serialise();
            // SAFETY: as in `call`.
            unsafe {
                send(
                    self.table.plugin_ctx,
                    context.as_ptr(),
                    net_location.as_ptr(),
                    net_location.len(),
                    message.as_ptr(),
                    message.len(),
                    &mut out,
                )
            }
        };
        self.take_output("send", status, out)
    }

    /// Transports, server side: starts serving as `config` says; from then on the transport
    /// hands each message it receives to `handler`, from its own threads. `services` serve
    /// the plugin's host service calls during `serve` itself; its server threads use the
    /// services the plugin was started with. The handler is kept for the rest of the process.
    pub fn serve(
        &self,
        services: &dyn HostServices,
        config: &[u8],
        handler: Arc<dyn ServeHandler>,
    ) -> Result<(), PluginError> {
        let serve = self.table.serve.ok_or_else(|| self.not_provided("serve"))?;
        let context = ServicesContext::new(services);
        // Leaked: the transport may call the handler until the process exits.
        let handler: &'static Arc<dyn ServeHandler> = Box::leak(Box::new(handler));
        let status = {
            let _serial = self.serialise();
            // SAFETY: as in `call`; the handler context is the leaked handler, which
            // `serve_handler` expects and which is never freed.
            unsafe {
                serve(
                    self.table.plugin_ctx,
                    context.as_ptr(),
                    config.as_ptr(),
                    config.len(),
                    Some(serve_handler),
                    std::ptr::from_ref(handler).cast_mut().cast(),
                )
            }
        };
        self.check("serve", status)
    }

    fn serialise(&self) -> Option<MutexGuard<'_, ()>> {
        // A poisoned lock only means another call panicked on the host side; the plugin's
        // state is the plugin's business.
        self.serial
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn not_provided(&self, function: &'static str) -> PluginError {
        PluginError::NotProvided {
            plugin: self.descriptor.name.clone(),
            kind: self.descriptor.kind,
            function,
        }
    }

    fn check(&self, function: &'static str, status: IotpStatus) -> Result<(), PluginError> {
        match ErrorStatus::from_code(status) {
            None => Ok(()),
            Some(status) => Err(PluginError::Status {
                plugin: self.descriptor.name.clone(),
                function,
                status,
            }),
        }
    }

    /// The bytes of a plugin-allocated output, copied; the buffer goes back to the plugin.
    fn take_output(
        &self,
        function: &'static str,
        status: IotpStatus,
        out: IotpBuffer,
    ) -> Result<Vec<u8>, PluginError> {
        // Outputs are written only on success: after an error there is nothing to free.
        self.check(function, status)?;
        let bytes = if out.len == 0 {
            Ok(Vec::new())
        } else if out.ptr.is_null() || out.len > isize::MAX as usize {
            Err(PluginError::BadBuffer {
                plugin: self.descriptor.name.clone(),
                function,
                len: out.len,
            })
        } else {
            // SAFETY: the plugin returned OK with `len` readable bytes at `ptr`, which stay
            // valid until the buffer is freed below.
            Ok(unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec())
        };
        if let Some(free_buffer) = self.table.free_buffer {
            // SAFETY: the buffer the plugin returned, unchanged, handed back once.
            unsafe { free_buffer(self.table.plugin_ctx, out) };
        }
        bytes
    }
}
