//! The [`BridgeHost`] the engine gives payment bridges: their key-value space in the
//! [`Store`], CallBack, clock, random bytes and log.

use std::cell::RefCell;

use crate::msg::codes::{ErrorCode, Severity};
use crate::payapi::{ApiError, ApiErrorCode, BridgeHost, CallBack, CallBackReply, LogLevel};
use crate::store::Store;

/// One bridge's view of the node for one call.
pub(crate) struct Host<'a> {
    store: &'a dyn Store,
    namespace: &'a str,
    now: i64,
    /// Log lines written by the bridge during the call.
    pub(crate) log: RefCell<Vec<String>>,
    /// The answer to CallBacks (a pending cancel asks the bridge to stop).
    pub(crate) reply: CallBackReply,
}

impl<'a> Host<'a> {
    pub(crate) fn new(store: &'a dyn Store, namespace: &'a str, now: i64) -> Self {
        Host {
            store,
            namespace,
            now,
            log: RefCell::new(Vec::new()),
            reply: CallBackReply::Continue,
        }
    }
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::transient(ErrorCode::SystemBusy, 5, e.to_string())
}

impl BridgeHost for Host<'_> {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        self.store.kv_get(self.namespace, key).map_err(store_error)
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        self.store
            .kv_put(self.namespace, key, value)
            .map_err(store_error)
    }

    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
        self.store
            .kv_insert_if_absent(self.namespace, key, value)
            .map_err(store_error)
    }

    fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
        self.store
            .kv_delete(self.namespace, key)
            .map_err(store_error)
    }

    fn callback(&self, _call: &CallBack) -> CallBackReply {
        self.reply.clone()
    }

    fn now_unix_millis(&self) -> i64 {
        self.now
    }

    fn random(&self, out: &mut [u8]) {
        random_bytes(out);
    }

    fn log(&self, level: LogLevel, message: &str) {
        let line = format!("{level:?} [{}] {message}", self.namespace);
        self.log.borrow_mut().push(line.clone());
        BRIDGE_LOG.with(|log| log.borrow_mut().push(line));
    }
}

thread_local! {
    /// The log lines bridges wrote during the engine call running on this thread; the engine's
    /// entry points hand them to the host application as [`Event::Log`](super::Event::Log).
    static BRIDGE_LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Moves the bridges' log lines of this thread's engine call into `events`.
pub(crate) fn drain_bridge_log(events: &mut Vec<super::Event>) {
    BRIDGE_LOG.with(|log| {
        events.extend(log.borrow_mut().drain(..).map(super::Event::Log));
    });
}

/// Random bytes from the system (ring's SystemRandom); zeros if the system has none, which
/// only weakens the uniqueness salt of identifiers.
pub(crate) fn random_bytes(out: &mut [u8]) {
    use ring::rand::SecureRandom as _;
    if ring::rand::SystemRandom::new().fill(out).is_err() {
        out.fill(0);
    }
}

/// An ApiError for a bridge that is not there.
pub(crate) fn no_bridge(what: &str) -> ApiError {
    ApiError::new(
        ApiErrorCode::Iotp(ErrorCode::UnknownError),
        Severity::HardError,
        format!("no payment bridge for {what}"),
    )
}
