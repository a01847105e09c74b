//! Nodes: a configuration ([`iotp_node_config`]) with the application's callbacks, and the
//! running node ([`iotp_node`]).

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use iotp::msg::codes::{InquiryType, TradingRole};
use iotp_runtime::{Node, NodeConfig};

use crate::handle::{
    Handle, borrow, borrow_mut, bytes_arg, free, guard, into_c, opt_str_arg, out_arg, str_arg,
    write_out,
};
use crate::message::iotp_bytes;
use crate::result::{Failure, handle_failure, iotp_result};

use crate::answers::{iotp_ping, iotp_status};
use crate::callbacks::{
    Callbacks, Gate, Userdata, iotp_approve_callback, iotp_choose_callback, iotp_delivery_callback,
    iotp_log_callback, iotp_offer_callback,
};
use crate::lent::invalid;
use crate::transaction::iotp_transaction;

/// A node's configuration (the TOML of `iotp serve --config`: organisation, roles, data
/// directory, plugins, transport, offers) and the application's callbacks.
///
/// Made by `iotp_node_config_from_file` or `iotp_node_config_from_toml`, released by
/// `iotp_node_config_free`. One thread at a time.
pub struct iotp_node_config {
    config: NodeConfig,
    callbacks: Callbacks,
}

impl std::fmt::Debug for iotp_node_config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("iotp_node_config")
            .field("name", &self.config.node.name)
            .finish_non_exhaustive()
    }
}

impl Handle for iotp_node_config {
    const KIND: &'static str = "iotp_node_config";
}

fn new_config(config: NodeConfig, config_out: *mut *mut iotp_node_config) {
    write_out(
        config_out,
        into_c(iotp_node_config {
            config,
            callbacks: Callbacks::default(),
        }),
    );
}

/// Reads a node configuration file (TOML); relative paths in it (`node.data_dir`,
/// `plugins.dir`) are relative to the file's directory. Fails with IOTP_RESULT_CONFIG, the
/// detail naming the file and the setting at fault.
///
/// Ownership: `path` is only read during the call; on success `*config_out` is a new
/// configuration, released with `iotp_node_config_free`. Thread safety: callable from any
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_from_file(
    path: *const c_char,
    config_out: *mut *mut iotp_node_config,
) -> iotp_result {
    guard(|| {
        out_arg(config_out, "config_out")?;
        let config = NodeConfig::from_file(str_arg(path, "path")?)?;
        new_config(config, config_out);
        Ok(())
    })
}

/// Reads a node configuration from TOML text. Relative paths stay relative to the process's
/// working directory. Fails with IOTP_RESULT_CONFIG, the detail naming the setting at fault.
///
/// Ownership: `toml` is only read during the call; on success `*config_out` is a new
/// configuration, released with `iotp_node_config_free`. Thread safety: callable from any
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_from_toml(
    toml: *const c_char,
    config_out: *mut *mut iotp_node_config,
) -> iotp_result {
    guard(|| {
        out_arg(config_out, "config_out")?;
        let config = NodeConfig::from_toml(str_arg(toml, "toml")?)?;
        new_config(config, config_out);
        Ok(())
    })
}

/// Releases a configuration. Nodes opened with it are not affected. NULL does nothing; a
/// pointer that is not a live configuration is refused.
///
/// Thread safety: no other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_free(config: *mut iotp_node_config) -> iotp_result {
    guard(|| free(config, "config"))
}

/// Changes the configuration through `change`, keeping it only when it still passes the
/// configuration's checks (read back from its TOML, so that the checks are the runtime's).
fn change_config(
    config: *mut iotp_node_config,
    change: impl FnOnce(&mut NodeConfig) -> Result<(), Failure>,
) -> iotp_result {
    guard(|| {
        let handle = borrow_mut(config, "config")?;
        let mut changed = handle.config.clone();
        change(&mut changed)?;
        let checked = NodeConfig::from_toml(&changed.to_toml()?)?;
        handle.config = checked;
        Ok(())
    })
}

/// Sets the plugins (`[plugins]`): the directory they are found in, the payment scheme
/// (`NAME` loads `libiotp_scheme_NAME.so`) and the transport (`libiotp_transport_NAME.so`).
/// A NULL argument leaves that setting as it is. Plugins are loaded by `iotp_node_open` (and
/// never unloaded).
///
/// Ownership: strings are copied. Thread safety: one thread at a time per configuration.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_set_plugins(
    config: *mut iotp_node_config,
    dir: *const c_char,
    scheme: *const c_char,
    transport: *const c_char,
) -> iotp_result {
    change_config(config, |c| {
        if let Some(dir) = opt_str_arg(dir, "dir")? {
            c.plugins.dir = Some(dir.into());
        }
        if let Some(scheme) = opt_str_arg(scheme, "scheme")? {
            c.plugins.scheme = Some(scheme.to_owned());
        }
        if let Some(transport) = opt_str_arg(transport, "transport")? {
            c.plugins.transport = Some(transport.to_owned());
        }
        Ok(())
    })
}

/// Sets the data directory (`node.data_dir`: the SQLite store `iotp.db` and `node.log`;
/// created if missing).
///
/// Ownership: strings are copied. Thread safety: one thread at a time per configuration.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_set_data_dir(
    config: *mut iotp_node_config,
    dir: *const c_char,
) -> iotp_result {
    change_config(config, |c| {
        c.node.data_dir = str_arg(dir, "dir")?.into();
        Ok(())
    })
}

/// Sets the Merchant's offer callback, called for every startup request instead of the
/// `[merchant.offers]` of the configuration; NULL restores those. `userdata` is passed back
/// to every call.
///
/// Ownership: `userdata` stays the application's; it must stay valid until every node opened
/// with this configuration is freed (`iotp_node_free` waits for the callbacks running). Thread safety: one thread at a time per configuration; the
/// callback itself is called from the node's threads (see `iotp_offer_callback`).
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_set_offer_callback(
    config: *mut iotp_node_config,
    callback: iotp_offer_callback,
    userdata: *mut c_void,
) -> iotp_result {
    guard(|| {
        let config = borrow_mut(config, "config")?;
        config.callbacks.offer = callback.map(|callback| (callback, Userdata(userdata)));
        Ok(())
    })
}

/// Sets the Delivery Handler's fulfilment callback; NULL restores the default (everything is
/// reported Shipped). `userdata` is passed back to every call.
///
/// Ownership and thread safety: as `iotp_node_config_set_offer_callback`.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_set_delivery_callback(
    config: *mut iotp_node_config,
    callback: iotp_delivery_callback,
    userdata: *mut c_void,
) -> iotp_result {
    guard(|| {
        let config = borrow_mut(config, "config")?;
        config.callbacks.delivery = callback.map(|callback| (callback, Userdata(userdata)));
        Ok(())
    })
}

/// Sets the Consumer's callbacks: `choose` picks how to pay, `approve` approves an offer.
/// Both NULL restore the default (the `[consumer]` choices of the configuration, every offer
/// approved); with only one of them set, the other does the default (the first option;
/// approve). `userdata` is passed back to every call.
///
/// Ownership and thread safety: as `iotp_node_config_set_offer_callback`.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_set_consumer_callbacks(
    config: *mut iotp_node_config,
    choose: iotp_choose_callback,
    approve: iotp_approve_callback,
    userdata: *mut c_void,
) -> iotp_result {
    guard(|| {
        let config = borrow_mut(config, "config")?;
        config.callbacks.consumer = (choose.is_some() || approve.is_some()).then_some((
            choose,
            approve,
            Userdata(userdata),
        ));
        Ok(())
    })
}

/// Sets a log callback, which sees every record of the node's log besides
/// `<data_dir>/node.log`; NULL removes it. `userdata` is passed back to every call.
///
/// Ownership and thread safety: as `iotp_node_config_set_offer_callback` (see
/// `iotp_log_callback`).
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_config_set_log_callback(
    config: *mut iotp_node_config,
    callback: iotp_log_callback,
    userdata: *mut c_void,
) -> iotp_result {
    guard(|| {
        let config = borrow_mut(config, "config")?;
        config.callbacks.log = callback.map(|callback| (callback, Userdata(userdata)));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// A running node: its roles, durable store, plugins, transport and threads.
///
/// Made by `iotp_node_open`, released (and stopped) by `iotp_node_free`. Thread-safe: every
/// function may be called from several threads at once (a C HTTP server calls
/// `iotp_node_handle` from each of its threads).
#[derive(Debug)]
pub struct iotp_node {
    node: Node,
    /// Closed by the free, once the node has stopped.
    gate: Arc<Gate>,
}

impl Drop for iotp_node {
    fn drop(&mut self) {
        self.node.shutdown();
        self.gate.close();
    }
}

impl Handle for iotp_node {
    const KIND: &'static str = "iotp_node";
}

// A node is shared between the application's threads.
const _: fn() = || {
    fn thread_safe<T: Send + Sync>() {}
    thread_safe::<Node>();
};

/// Opens a node: creates its data directory, opens its store, loads its plugins, starts its
/// threads and, when the configuration has a `[transport]` section, the transport's servers.
/// Failures: IOTP_RESULT_CONFIG, IOTP_RESULT_PLUGIN, IOTP_RESULT_STORAGE (the detail names
/// the setting).
///
/// Ownership: `config` is only read (it may be freed or reused afterwards; the callbacks'
/// `userdata` must stay valid until `iotp_node_free`). On success `*node_out` is a new node, released with
/// `iotp_node_free`. Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_open(
    config: *const iotp_node_config,
    node_out: *mut *mut iotp_node,
) -> iotp_result {
    guard(|| {
        let config = borrow(config, "config")?;
        out_arg(node_out, "node_out")?;
        let gate = Arc::new(Gate::default());
        let node = Node::open(config.config.clone(), config.callbacks.apps(&gate))?;
        write_out(node_out, into_c(iotp_node { node, gate }));
        Ok(())
    })
}

/// Stops a node (no new work is taken; its threads finish what they are doing; its transport
/// answers 503 from then on) and releases it. It returns once no callback of the node runs,
/// and none is called afterwards: the callbacks' `userdata` may be released then. NULL does
/// nothing; a pointer that is not a live node is refused.
///
/// Thread safety: no other thread may be using the node, and it must not be called from one
/// of the node's callbacks.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_free(node: *mut iotp_node) -> iotp_result {
    guard(|| free(node, "node"))
}

/// Handles one message received by a server role of the node, as a transport does: runs the
/// engine and writes the reply to send back (possibly empty: no reply). This is how a C HTTP
/// server hosts a role (RFC 2935: the body of a POST in, the response body out). A startup
/// request document (`<IotpStartupRequest xmlns="urn:iotp-rs:http-startup" Method="GET"
/// Target="/pay/books"/>`) starts an offer instead (the offer callback, or `[merchant.offers]`)
/// and the reply is the Merchant's first message.
///
/// Failures: IOTP_RESULT_NOT_FOUND (no offer for the startup target; HTTP 404),
/// IOTP_RESULT_BAD_DOCUMENT (an unreadable startup document; 400), IOTP_RESULT_UNAVAILABLE
/// (the node is stopping, or could not start the offer; 503). A message with IOTP errors is
/// not a failure: the reply carries the Error Block.
///
/// Ownership: `message` is only read during the call; on success `*reply_out` is new bytes,
/// released with `iotp_bytes_free`. Thread safety: callable from several threads at once.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_handle(
    node: *const iotp_node,
    message: *const u8,
    len: usize,
    reply_out: *mut *mut iotp_bytes,
) -> iotp_result {
    guard(|| {
        let node = borrow(node, "node")?;
        out_arg(reply_out, "reply_out")?;
        let message = bytes_arg(message, len, "message")?;
        let reply = node.node.handle(message).map_err(handle_failure)?;
        write_out(reply_out, into_c(iotp_bytes::new(reply)));
        Ok(())
    })
}

fn wait(timeout_ms: u32) -> Option<Duration> {
    (timeout_ms > 0).then(|| Duration::from_millis(u64::from(timeout_ms)))
}

/// Pays as the Consumer: sends the startup request to a Merchant's pay `url` through the
/// node's transport, runs the transaction to its end and writes how it ended. Waits at most
/// `timeout_ms` milliseconds (0: the engine's whole retransmission schedule and ten seconds).
///
/// A transaction that ends otherwise than CompletedOk (a declined payment, a cancellation) is
/// not a failure: `iotp_transaction_end` says how it ended. Failures: IOTP_RESULT_NO_TRANSPORT,
/// IOTP_RESULT_PLUGIN_CALL (the Merchant could not be reached), IOTP_RESULT_REFUSED (its
/// answer starts no transaction), IOTP_RESULT_TIMED_OUT, IOTP_RESULT_SHUTTING_DOWN.
///
/// Ownership: `url` is only read during the call; on success `*transaction_out` is a new
/// transaction, released with `iotp_transaction_free`. Thread safety: callable from several
/// threads at once (each call blocks its thread until the outcome).
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_pay(
    node: *const iotp_node,
    url: *const c_char,
    timeout_ms: u32,
    transaction_out: *mut *mut iotp_transaction,
) -> iotp_result {
    guard(|| {
        let node = borrow(node, "node")?;
        out_arg(transaction_out, "transaction_out")?;
        let url = str_arg(url, "url")?;
        let outcome = node.node.pay(url, wait(timeout_ms))?;
        write_out(
            transaction_out,
            into_c(iotp_transaction::from_outcome(&outcome)),
        );
        Ok(())
    })
}

/// Asks the role that handled a transaction how its part stands (§9.2.1, Baseline Inquiry):
/// `inquiry` is `Offer` (the Merchant), `Payment` (the Payment Handler) or `Delivery` (the
/// Delivery Handler). The inquiry is a transaction of its own, sent through the node's
/// transport to the role's net location as the transaction's messages name it. Waits at most
/// `timeout_ms` milliseconds (0: the engine's whole retransmission schedule and ten seconds).
///
/// Failures: IOTP_RESULT_INVALID_PARAMETER (another `inquiry`), IOTP_RESULT_ENGINE (the node
/// has no such transaction to inquire about), IOTP_RESULT_NO_TRANSPORT, IOTP_RESULT_REFUSED
/// (the inquiry ended without a Status), IOTP_RESULT_TIMED_OUT, IOTP_RESULT_SHUTTING_DOWN.
///
/// Ownership: strings are only read during the call; on success `*status_out` is a new status,
/// released with `iotp_status_free`. Thread safety: callable from several threads at once.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_inquire(
    node: *const iotp_node,
    iotp_trans_id: *const c_char,
    inquiry: *const c_char,
    timeout_ms: u32,
    status_out: *mut *mut iotp_status,
) -> iotp_result {
    guard(|| {
        let node = borrow(node, "node")?;
        out_arg(status_out, "status_out")?;
        let id = str_arg(iotp_trans_id, "iotp_trans_id")?;
        let text = str_arg(inquiry, "inquiry")?;
        let inquiry = match InquiryType::from_wire(text) {
            InquiryType::Other(_) => {
                return Err(invalid(format!(
                    "inquiry {text:?} is not Offer, Payment or Delivery"
                )));
            }
            inquiry => inquiry,
        };
        let status = node.node.inquire(id, inquiry, wait(timeout_ms))?;
        write_out(status_out, into_c(iotp_status::from_status(&status)));
        Ok(())
    })
}

/// Pings a net location (§9.2.2, Baseline Ping) through the node's transport: whether the
/// IOTP server there answers, and who it is. Waits at most `timeout_ms` milliseconds (0: the
/// engine's whole retransmission schedule and ten seconds).
///
/// Failures: IOTP_RESULT_NO_TRANSPORT, IOTP_RESULT_REFUSED (no Ping Response came),
/// IOTP_RESULT_TIMED_OUT, IOTP_RESULT_SHUTTING_DOWN.
///
/// Ownership: `net_locn` is only read during the call; on success `*ping_out` is a new answer,
/// released with `iotp_ping_free`. Thread safety: callable from several threads at once.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_ping(
    node: *const iotp_node,
    net_locn: *const c_char,
    timeout_ms: u32,
    ping_out: *mut *mut iotp_ping,
) -> iotp_result {
    guard(|| {
        let node = borrow(node, "node")?;
        out_arg(ping_out, "ping_out")?;
        let net_locn = str_arg(net_locn, "net_locn")?;
        let answer = node.node.ping(net_locn, wait(timeout_ms))?;
        write_out(ping_out, into_c(iotp_ping::from_answer(&answer)));
        Ok(())
    })
}

fn role_arg(role: *const c_char) -> Result<TradingRole, Failure> {
    let text = str_arg(role, "role")?;
    match TradingRole::from_wire(text) {
        TradingRole::Other(_) | TradingRole::DelivTo => Err(invalid(format!(
            "role {text:?} is not Consumer, Merchant, PaymentHandler, DeliveryHandler or CustCare"
        ))),
        role => Ok(role),
    }
}

/// A transaction as this node's store has it, in one of its roles (`Consumer`, `Merchant`,
/// `PaymentHandler`, `DeliveryHandler`, `CustCare`): its phase and, once ended, how.
/// IOTP_RESULT_NOT_FOUND when the node has no such transaction in that role.
///
/// Ownership: strings are only read during the call; on success `*transaction_out` is a new
/// transaction, released with `iotp_transaction_free`. Thread safety: callable from several
/// threads at once.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_transaction(
    node: *const iotp_node,
    iotp_trans_id: *const c_char,
    role: *const c_char,
    transaction_out: *mut *mut iotp_transaction,
) -> iotp_result {
    guard(|| {
        let node = borrow(node, "node")?;
        out_arg(transaction_out, "transaction_out")?;
        let id = str_arg(iotp_trans_id, "iotp_trans_id")?;
        let role = role_arg(role)?;
        let state = node.node.transaction_state(id, &role)?.ok_or_else(|| {
            Failure::new(
                iotp_result::NotFound,
                format!("no transaction {id} as {role} at this node"),
            )
        })?;
        write_out(
            transaction_out,
            into_c(iotp_transaction::from_state(id, &role, state)),
        );
        Ok(())
    })
}

/// Cancels a transaction this node takes part in, where the RFC allows it (a Cancel Block to
/// the other side). Failures: IOTP_RESULT_ENGINE (no such open transaction).
///
/// Ownership: strings are only read during the call. Thread safety: callable from several
/// threads at once.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_node_cancel(
    node: *const iotp_node,
    iotp_trans_id: *const c_char,
) -> iotp_result {
    guard(|| {
        let node = borrow(node, "node")?;
        node.node.cancel(str_arg(iotp_trans_id, "iotp_trans_id")?)?;
        Ok(())
    })
}
