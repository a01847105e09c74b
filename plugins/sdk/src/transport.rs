//! Transports: the [`Transport`] trait and the transport side of
//! [`crate::export_transport!`] (the entry point's work, the table's `send` and `serve`).

use std::ffi::c_void;
use std::sync::OnceLock;

use iotp::payapi::{BridgeHost, LogLevel};
use iotp_plugin_api::{
    ErrorStatus, IOTP_PLUGIN_ABI_VERSION, IOTP_PLUGIN_KIND_TRANSPORT, IOTP_PLUGIN_OK, IotpBuffer,
    IotpHostServices, IotpPluginTable, IotpServeHandlerFn, IotpStatus,
};

use crate::abi::{bytes, free_buffer, guard, host_services, plugin_buffer, take_host_buffer};
use crate::host::Host;

/// A transport supplement (such as RFC 2935 HTTP): carries IOTP messages, as bytes.
///
/// A transport sends ([`Transport::send`], the client side), serves
/// ([`Transport::serve`], the server side), or both; [`Transport::SENDS`] and
/// [`Transport::SERVES`] say which (the other function is absent from the plugin's table).
/// It must be thread-safe: the host may call it from several threads at once.
pub trait Transport: Send + Sync + 'static {
    /// Whether the transport implements [`Transport::send`].
    const SENDS: bool = true;
    /// Whether the transport implements [`Transport::serve`].
    const SERVES: bool = false;

    /// Client side: sends `message` to `net_location` and returns the reply's bytes (empty
    /// when the peer sent none).
    fn send(
        &self,
        host: &Host<'_>,
        net_location: &str,
        message: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let _ = (host, net_location, message);
        Err(TransportError::Unsupported)
    }

    /// Server side: starts serving as `config` says (its format is the transport's own) and
    /// returns once it is ready, or has failed. From then on it hands each message received to
    /// `handler`, from threads of its own, and sends back the reply. `host` serves this call
    /// only; server threads use [`ServeHandler::host`].
    fn serve(
        &self,
        host: &Host<'_>,
        config: &[u8],
        handler: ServeHandler,
    ) -> Result<(), TransportError> {
        let _ = (host, config, handler);
        Err(TransportError::Unsupported)
    }
}

/// Why a transport call failed. The message is written to the host's log (at Warn); the host
/// gets the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The peer could not be reached, or the connection broke; a retry may succeed
    /// (`IOTP_PLUGIN_ERR_IO`).
    Io(String),
    /// A net location or a configuration the transport cannot use
    /// (`IOTP_PLUGIN_ERR_BAD_ARGUMENT`).
    BadArgument(String),
    /// The transport declines (policy) (`IOTP_PLUGIN_ERR_REFUSED`).
    Refused(String),
    /// The transport does not do this (`IOTP_PLUGIN_ERR_UNSUPPORTED`).
    Unsupported,
    /// Anything else (`IOTP_PLUGIN_ERR_INTERNAL`).
    Internal(String),
    /// The host's serve handler failed with this status ([`ServeHandler::handle`] only): a
    /// server maps it to its protocol's answer (the HTTP transport: `Refused` → 404, ...).
    Handler(ErrorStatus),
}

impl TransportError {
    fn status(&self) -> ErrorStatus {
        match self {
            TransportError::Io(_) => ErrorStatus::Io,
            TransportError::BadArgument(_) => ErrorStatus::BadArgument,
            TransportError::Refused(_) => ErrorStatus::Refused,
            TransportError::Unsupported => ErrorStatus::Unsupported,
            TransportError::Internal(_) => ErrorStatus::Internal,
            TransportError::Handler(status) => *status,
        }
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Io(m) => write!(f, "communication failed: {m}"),
            TransportError::BadArgument(m) => write!(f, "bad argument: {m}"),
            TransportError::Refused(m) => write!(f, "refused: {m}"),
            TransportError::Unsupported => f.write_str("not supported by this transport"),
            TransportError::Internal(m) => write!(f, "internal error: {m}"),
            TransportError::Handler(status) => write!(f, "the host's handler failed: {status}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// The host's handler a server hands each message it receives to: it runs the engine and
/// returns the reply to send back. Copy it to any thread; it stays valid for the rest of the
/// process and may be called concurrently.
#[derive(Clone, Copy)]
pub struct ServeHandler {
    handler: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut IotpBuffer) -> IotpStatus,
    handler_ctx: *mut c_void,
    host: &'static IotpHostServices,
}

// SAFETY: the ABI makes the handler and its context valid on any thread, concurrently, for the
// rest of the process; the host services table (with its host context) likewise.
unsafe impl Send for ServeHandler {}
// SAFETY: as for Send.
unsafe impl Sync for ServeHandler {}

impl std::fmt::Debug for ServeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeHandler")
            .field("handler_ctx", &self.handler_ctx)
            .finish()
    }
}

impl ServeHandler {
    /// Hands `message` to the host; the reply to send back (empty: a reply without a body).
    pub fn handle(&self, message: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut out = IotpBuffer::empty();
        // SAFETY: the handler and context the host gave `serve`, valid on any thread; the
        // message readable, `out` writable.
        let status =
            unsafe { (self.handler)(self.handler_ctx, message.as_ptr(), message.len(), &mut out) };
        if status != IOTP_PLUGIN_OK {
            let status = ErrorStatus::from_code(status).unwrap_or(ErrorStatus::Unknown(status));
            return Err(TransportError::Handler(status));
        }
        // SAFETY: the buffer the host just returned with OK; its free_buffer takes the host
        // context.
        unsafe { take_host_buffer(self.host, self.host.ctx, out) }
            .map_err(|status| TransportError::Internal(format!("the host's reply: {status}")))
    }

    /// The host's services outside calls (the host context): for a server thread.
    pub fn host(&self) -> Host<'static> {
        // SAFETY: the host context is valid on any thread for the rest of the process.
        unsafe { Host::new(self.host, self.host.ctx) }
    }
}

/// What one start of the plugin keeps (its table's `plugin_ctx`).
struct Start<T: 'static> {
    host: &'static IotpHostServices,
    transport: &'static T,
}

/// The entry point of a transport: checks the host, builds the transport (once), and returns
/// a table for this start with `send` and `serve` as the transport declares. NULL (a refusal)
/// for a host of another ABI version or a table too small, or when `make` panics.
///
/// # Safety
/// `host` is NULL or a host services table valid for the rest of the process.
pub unsafe fn entry<T: Transport>(
    host_abi_version: u32,
    host: *const IotpHostServices,
    transport: &'static OnceLock<T>,
    make: fn() -> T,
) -> *const IotpPluginTable {
    // A panic in `make` leaves the OnceLock empty: nothing half-built is seen afterwards.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the function's contract.
        let host = unsafe { host_services(host_abi_version, host) }?;
        let transport = transport.get_or_init(make);
        let start: &'static Start<T> = Box::leak(Box::new(Start { host, transport }));
        let table: &'static IotpPluginTable = Box::leak(Box::new(IotpPluginTable {
            struct_size: size_of::<IotpPluginTable>() as u32,
            abi_version: IOTP_PLUGIN_ABI_VERSION,
            kind: IOTP_PLUGIN_KIND_TRANSPORT,
            flags: iotp_plugin_api::IOTP_PLUGIN_FLAG_THREAD_SAFE,
            plugin_ctx: std::ptr::from_ref(start).cast_mut().cast(),
            call: None,
            free_buffer: Some(free_buffer),
            send: T::SENDS.then_some(send::<T> as _),
            serve: T::SERVES.then_some(serve::<T> as _),
        }));
        Some(std::ptr::from_ref(table))
    }))
    .ok()
    .flatten()
    .unwrap_or(std::ptr::null())
}

/// Logs a failed call at Warn through its host and returns its status.
fn failed(host: &Host<'_>, function: &str, error: &TransportError) -> ErrorStatus {
    host.log(LogLevel::Warn, &format!("{function}: {error}"));
    error.status()
}

/// `IotpPluginTable.send`.
///
/// # Safety
/// The ABI's contract: `plugin_ctx` from this start's table, `call_ctx` live during the call,
/// readable net location and message, `out` writable.
unsafe extern "C" fn send<T: Transport>(
    plugin_ctx: *mut c_void,
    call_ctx: *mut c_void,
    net_location: *const u8,
    net_location_len: usize,
    message: *const u8,
    message_len: usize,
    out: *mut IotpBuffer,
) -> IotpStatus {
    guard(|| {
        // SAFETY: NULL or this start's leaked `Start<T>`, never freed.
        let start = unsafe { plugin_ctx.cast_const().cast::<Start<T>>().as_ref() }
            .ok_or(ErrorStatus::BadArgument)?;
        // SAFETY: the function's contract.
        let (net_location, message) = unsafe {
            (
                bytes(net_location, net_location_len)?,
                bytes(message, message_len)?,
            )
        };
        let net_location =
            std::str::from_utf8(net_location).map_err(|_| ErrorStatus::BadArgument)?;
        if out.is_null() {
            return Err(ErrorStatus::BadArgument);
        }
        // SAFETY: this call's context, used during the call on this thread.
        let host = unsafe { Host::new(start.host, call_ctx) };
        let reply = start
            .transport
            .send(&host, net_location, message)
            .map_err(|e| failed(&host, "send", &e))?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { out.write(plugin_buffer(reply)) };
        Ok(IOTP_PLUGIN_OK)
    })
}

/// `IotpPluginTable.serve`.
///
/// # Safety
/// The ABI's contract: `plugin_ctx` from this start's table, `call_ctx` live during the call,
/// readable config; `handler` with `handler_ctx` callable from any thread for the rest of the
/// process.
unsafe extern "C" fn serve<T: Transport>(
    plugin_ctx: *mut c_void,
    call_ctx: *mut c_void,
    config: *const u8,
    config_len: usize,
    handler: IotpServeHandlerFn,
    handler_ctx: *mut c_void,
) -> IotpStatus {
    guard(|| {
        // SAFETY: NULL or this start's leaked `Start<T>`, never freed.
        let start = unsafe { plugin_ctx.cast_const().cast::<Start<T>>().as_ref() }
            .ok_or(ErrorStatus::BadArgument)?;
        // SAFETY: the function's contract.
        let config = unsafe { bytes(config, config_len) }?;
        let handler = ServeHandler {
            handler: handler.ok_or(ErrorStatus::BadArgument)?,
            handler_ctx,
            host: start.host,
        };
        // SAFETY: this call's context, used during the call on this thread.
        let host = unsafe { Host::new(start.host, call_ctx) };
        start
            .transport
            .serve(&host, config, handler)
            .map_err(|e| failed(&host, "serve", &e))?;
        Ok(IOTP_PLUGIN_OK)
    })
}
