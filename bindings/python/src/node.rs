//! `Node`: a node of the runtime with Python callbacks (offers, the Consumer's choice) and,
//! optionally, a payment scheme written in Python; `Outcome` and `Receipt`.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use iotp::msg::codes::{InquiryType, PayDirection, TradingRole};
use iotp::payapi::documents::DocumentBridge;
use iotp::payapi::{BridgeHost, BridgeInfo, PaymentBridge};
use iotp::store::Store;
use iotp::txn::{ConsumerApp, Offer, OfferSummary, PaymentOption, TransactionOutcome};
use iotp_plugin_host::{HostServices, LogLevel};
use iotp_runtime::{BridgeFactory, NodeApps, NodeConfig, OfferSource};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::{Failure, raise};

/// A node: one or more trading roles with their store, plugins and threads.
///
/// `Node(config)` takes the TOML text of a node configuration, `Node.from_file(path)` a file.
/// Keyword arguments: `offers(target) -> dict | None` gives the Merchant's offer for a startup
/// request's target (a dict of `iotp::txn::Offer`'s fields; default: `[merchant.offers]`);
/// `choose(options) -> int | None` is the Consumer's choice among payment options (dicts;
/// `None` cancels); `scheme` is a `PaymentBridge` instance used instead of `plugins.scheme`.
#[pyclass(module = "iotp", frozen)]
pub(crate) struct Node {
    node: iotp_runtime::Node,
}

/// The Merchant's offers from a Python callable.
struct PyOffers(Py<PyAny>);

impl OfferSource for PyOffers {
    fn offer(&self, target: &str) -> Option<Offer> {
        Python::attach(|py| {
            let result = (|| -> PyResult<Option<Offer>> {
                let value = self.0.call1(py, (target,))?;
                if value.is_none(py) {
                    return Ok(None);
                }
                let json: String = py
                    .import("json")?
                    .call_method1("dumps", (value,))?
                    .extract()?;
                serde_json::from_str(&json).map(Some).map_err(|e| {
                    pyo3::exceptions::PyValueError::new_err(format!(
                        "the offer for {target} is not an Offer: {e}"
                    ))
                })
            })();
            result.unwrap_or_else(|e| {
                e.write_unraisable(py, None);
                None
            })
        })
    }
}

/// The Consumer's choice from a Python callable.
struct PyChoose(Py<PyAny>);

impl ConsumerApp for PyChoose {
    fn choose(
        &self,
        offer: &OfferSummary,
        direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        Python::attach(|py| {
            let result = (|| -> PyResult<Option<usize>> {
                let list: Vec<Bound<'_, PyDict>> = options
                    .iter()
                    .map(|o| {
                        let d = PyDict::new(py);
                        d.set_item("brand_id", &o.brand_id)?;
                        d.set_item("protocol_id", &o.protocol_id)?;
                        d.set_item("amount", &o.amount)?;
                        d.set_item("currency", &o.currency)?;
                        d.set_item("instrument_id", &o.instrument_id)?;
                        d.set_item("instrument_name", &o.instrument_name)?;
                        d.set_item("direction", direction.as_str())?;
                        d.set_item("iotp_trans_id", &offer.iotp_trans_id)?;
                        Ok(d)
                    })
                    .collect::<PyResult<_>>()?;
                let choice: Option<usize> = self.0.call1(py, (list,))?.extract(py)?;
                Ok(choice.filter(|&i| i < options.len()))
            })();
            result.unwrap_or_else(|e| {
                e.write_unraisable(py, None);
                None
            })
        })
    }
}

/// The host services a scheme written in Python gets with each call: the node's store's
/// key-value space under the scheme's software id (its payment records), the clock, random
/// bytes and the node's log. (RFC 3867 CallBack is not offered to Python schemes.)
#[pyclass(module = "iotp", frozen)]
pub(crate) struct Host {
    store: Arc<dyn Store>,
    namespace: String,
    /// The node's services outside the scheme's calls (its log, above all).
    outside: Arc<dyn HostServices + Send + Sync>,
}

thread_local! {
    /// The log lines a Python scheme writes during its call running on this thread (`None`:
    /// no call here); handed to the call's `BridgeHost` when the call returns.
    static CALL_LOG: RefCell<Option<Vec<(LogLevel, String)>>> = const { RefCell::new(None) };
}

/// Collects the Python scheme's log lines on this thread from [`CallLog::start`] to
/// [`CallLog::finish`], then gives the thread's previous collection (none, or an outer call's)
/// its place again; on a panic too.
struct CallLog {
    /// The collection to restore; `None` once restored.
    outer: Option<Option<Vec<(LogLevel, String)>>>,
}

impl CallLog {
    fn start() -> CallLog {
        CallLog {
            outer: Some(CALL_LOG.with(|log| log.replace(Some(Vec::new())))),
        }
    }

    /// The lines written since [`CallLog::start`].
    fn finish(mut self) -> Vec<(LogLevel, String)> {
        self.restore()
    }

    fn restore(&mut self) -> Vec<(LogLevel, String)> {
        match self.outer.take() {
            Some(outer) => CALL_LOG.with(|log| log.replace(outer)).unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        self.restore();
    }
}

impl Host {
    fn store_error(py: Python<'_>, e: iotp::store::StoreError) -> PyErr {
        raise(py, Failure::Transport(e.to_string()))
    }
}

#[pymethods]
impl Host {
    /// The value of `key`, or None.
    fn kv_get<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let value = py
            .detach(|| self.store.kv_get(&self.namespace, key))
            .map_err(|e| Host::store_error(py, e))?;
        Ok(value.map(|v| PyBytes::new(py, &v)))
    }

    /// Writes `key`; durable when it returns.
    fn kv_put(&self, py: Python<'_>, key: &str, value: &[u8]) -> PyResult<()> {
        py.detach(|| self.store.kv_put(&self.namespace, key, value))
            .map_err(|e| Host::store_error(py, e))
    }

    /// Writes `key` only if it has no value, atomically; False when it had one.
    fn kv_insert_if_absent(&self, py: Python<'_>, key: &str, value: &[u8]) -> PyResult<bool> {
        py.detach(|| self.store.kv_insert_if_absent(&self.namespace, key, value))
            .map_err(|e| Host::store_error(py, e))
    }

    /// Removes `key`.
    fn kv_delete(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        py.detach(|| self.store.kv_delete(&self.namespace, key))
            .map_err(|e| Host::store_error(py, e))
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_millis(&self) -> i64 {
        iotp_runtime::node::now_millis()
    }

    /// `n` cryptographically secure random bytes.
    fn random<'py>(&self, py: Python<'py>, n: usize) -> Bound<'py, PyBytes> {
        let mut out = vec![0u8; n.min(1 << 20)];
        self.outside.random(&mut out);
        PyBytes::new(py, &out)
    }

    /// Writes a line to the node's log (`level`: "error", "warn", "info" or "debug"; never card
    /// numbers nor secrets). During a call, as a scheme plugin's lines: to the engine with the
    /// call; otherwise (the scheme's own threads) straight to the node's log.
    fn log(&self, level: &str, message: &str) {
        let level = match level {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "debug" => LogLevel::Debug,
            _ => LogLevel::Info,
        };
        let in_call = CALL_LOG.with(|log| match log.borrow_mut().as_mut() {
            Some(lines) => {
                lines.push((level, message.to_owned()));
                true
            }
            None => false,
        });
        if !in_call {
            self.outside.log(level, message);
        }
    }
}

/// Hands a Python scheme's log lines of a call to the call's host, as the plugin host does a
/// plugin's.
fn log_to(host: &dyn BridgeHost, lines: Vec<(LogLevel, String)>) {
    for (level, message) in lines {
        let level = match level {
            LogLevel::Error => iotp::payapi::LogLevel::Error,
            LogLevel::Warn => iotp::payapi::LogLevel::Warn,
            LogLevel::Info => iotp::payapi::LogLevel::Info,
            LogLevel::Debug => iotp::payapi::LogLevel::Debug,
        };
        host.log(level, &message);
    }
}

/// A scheme written in Python, as the engine's bridge: each call is an RFC 3867 request
/// document handed to the object's `call(host, request) -> response` method.
fn python_bridge(py: Python<'_>, scheme: Py<PyAny>) -> PyResult<BridgeFactory> {
    let strings = |name: &str| -> PyResult<Vec<String>> {
        scheme
            .bind(py)
            .getattr(name)
            .and_then(|v| v.extract())
            .or_else(|_| Ok(Vec::new()))
    };
    let info = BridgeInfo {
        software_id: scheme.bind(py).getattr("software_id")?.extract()?,
        protocols: strings("protocols")?,
        brands: strings("brands")?,
        auth_algorithms: strings("auth_algorithms")?,
    };
    let scheme = Arc::new(scheme);
    Ok(Arc::new(
        move |store: &Arc<dyn Store>, outside: &Arc<dyn HostServices + Send + Sync>| {
            let host = Python::attach(|py| {
                Py::new(
                    py,
                    Host {
                        store: store.clone(),
                        namespace: info.software_id.clone(),
                        outside: outside.clone(),
                    },
                )
            });
            let scheme = scheme.clone();
            let call = move |bridge_host: &dyn BridgeHost,
                             request: &[u8]|
                  -> Result<Vec<u8>, String> {
                let host = host.as_ref().map_err(|e| e.to_string())?;
                let log = CallLog::start();
                let answer = Python::attach(|py| {
                    let answer = scheme
                        .call_method1(py, "call", (host.clone_ref(py), PyBytes::new(py, request)))
                        .map_err(|e| e.to_string())?;
                    answer.extract::<Vec<u8>>(py).map_err(|e| e.to_string())
                });
                log_to(bridge_host, log.finish());
                answer
            };
            let name = format!("Python payment scheme {}", info.software_id);
            Arc::new(DocumentBridge::new(name, info.clone(), call)) as Arc<dyn PaymentBridge>
        },
    ))
}

fn apps(
    py: Python<'_>,
    offers: Option<Py<PyAny>>,
    choose: Option<Py<PyAny>>,
    scheme: Option<Py<PyAny>>,
) -> PyResult<NodeApps> {
    Ok(NodeApps {
        offers: offers.map(|f| Arc::new(PyOffers(f)) as Arc<dyn OfferSource>),
        consumer: choose.map(|f| Arc::new(PyChoose(f)) as Arc<dyn ConsumerApp>),
        bridge: scheme.map(|s| python_bridge(py, s)).transpose()?,
        ..NodeApps::default()
    })
}

fn open(py: Python<'_>, config: NodeConfig, apps: NodeApps) -> PyResult<Node> {
    let node = py
        .detach(|| iotp_runtime::Node::open(config, apps))
        .map_err(|e| raise(py, e))?;
    Ok(Node { node })
}

fn wait(timeout: Option<f64>) -> Option<Duration> {
    timeout.map(|t| Duration::from_secs_f64(t.max(0.0)))
}

#[pymethods]
impl Node {
    #[new]
    #[pyo3(signature = (config, *, offers=None, choose=None, scheme=None))]
    fn new(
        py: Python<'_>,
        config: &str,
        offers: Option<Py<PyAny>>,
        choose: Option<Py<PyAny>>,
        scheme: Option<Py<PyAny>>,
    ) -> PyResult<Node> {
        let config =
            NodeConfig::from_toml(config).map_err(|e| raise(py, Failure::Config(e.to_string())))?;
        let apps = apps(py, offers, choose, scheme)?;
        open(py, config, apps)
    }

    /// A node from its configuration file (relative paths in it follow the file).
    #[staticmethod]
    #[pyo3(signature = (path, *, offers=None, choose=None, scheme=None))]
    fn from_file(
        py: Python<'_>,
        path: std::path::PathBuf,
        offers: Option<Py<PyAny>>,
        choose: Option<Py<PyAny>>,
        scheme: Option<Py<PyAny>>,
    ) -> PyResult<Node> {
        let config =
            NodeConfig::from_file(&path).map_err(|e| raise(py, Failure::Config(e.to_string())))?;
        let apps = apps(py, offers, choose, scheme)?;
        open(py, config, apps)
    }

    /// The node's name.
    #[getter]
    fn name(&self) -> &str {
        self.node.name()
    }

    /// Handles one IOTP message received by a server role; the reply to send back (empty:
    /// none). Raises RefusedError, ParseError or TransportError as the node answers.
    fn handle<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let reply = py
            .detach(|| self.node.handle(body))
            .map_err(|s| raise(py, s))?;
        Ok(PyBytes::new(py, &reply))
    }

    /// Answers an IOTP Startup Request (RFC 2935 §4.1) for `target` (`/pay/books`): the
    /// offer's first message. RefusedError when there is no such offer.
    fn startup<'py>(&self, py: Python<'py>, target: &str) -> PyResult<Bound<'py, PyBytes>> {
        let reply = py
            .detach(|| self.node.startup(target))
            .map_err(|s| raise(py, s))?;
        Ok(PyBytes::new(py, &reply))
    }

    /// Pays as the Consumer: the startup request to `url`, then the whole transaction.
    #[pyo3(signature = (url, timeout=None))]
    fn pay(&self, py: Python<'_>, url: &str, timeout: Option<f64>) -> PyResult<Outcome> {
        let outcome = py
            .detach(|| self.node.pay(url, wait(timeout)))
            .map_err(|e| raise(py, e))?;
        Ok(Outcome::from(&outcome))
    }

    /// Asks about a transaction (Baseline Inquiry; `kind`: "Offer", "Payment" or
    /// "Delivery"): (ProcessState, CompletionCode or None) as reported.
    #[pyo3(signature = (iotp_trans_id, kind="Payment", timeout=None))]
    fn inquire(
        &self,
        py: Python<'_>,
        iotp_trans_id: &str,
        kind: &str,
        timeout: Option<f64>,
    ) -> PyResult<(String, Option<String>)> {
        let kind = InquiryType::from_wire(kind);
        let status = py
            .detach(|| self.node.inquire(iotp_trans_id, kind, wait(timeout)))
            .map_err(|e| raise(py, e))?;
        Ok((
            status.process_state.to_string(),
            status.completion_code.map(|c| c.to_string()),
        ))
    }

    /// Pings a net location (Baseline Ping): (status code, the responders' OrgIds).
    #[pyo3(signature = (url, timeout=None))]
    fn ping(
        &self,
        py: Python<'_>,
        url: &str,
        timeout: Option<f64>,
    ) -> PyResult<(String, Vec<String>)> {
        let answer = py
            .detach(|| self.node.ping(url, wait(timeout)))
            .map_err(|e| raise(py, e))?;
        Ok((answer.code.to_string(), answer.responders))
    }

    /// Where a transaction stands at this node, as its store has it: None when unknown, else
    /// a dict {"phase", "end", "process_state", "completion_code"} (the last three None while
    /// it is open).
    #[pyo3(signature = (iotp_trans_id, role="Consumer"))]
    fn transaction_state<'py>(
        &self,
        py: Python<'py>,
        iotp_trans_id: &str,
        role: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let role = TradingRole::from_wire(role);
        let state = py
            .detach(|| self.node.transaction_state(iotp_trans_id, &role))
            .map_err(|e| raise(py, e))?;
        let Some((phase, end)) = state else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("phase", format!("{phase:?}"))?;
        d.set_item("end", end.as_ref().map(|(kind, _, _)| format!("{kind:?}")))?;
        d.set_item("process_state", end.as_ref().map(|(_, s, _)| s.to_string()))?;
        d.set_item(
            "completion_code",
            end.as_ref()
                .and_then(|(_, _, c)| c.as_ref().map(ToString::to_string)),
        )?;
        Ok(Some(d))
    }

    /// The messages of a transaction as this node stores them: (sent, document) pairs.
    #[pyo3(signature = (iotp_trans_id, role="Consumer"))]
    fn messages<'py>(
        &self,
        py: Python<'py>,
        iotp_trans_id: &str,
        role: &str,
    ) -> PyResult<Vec<(bool, Bound<'py, PyBytes>)>> {
        let role = TradingRole::from_wire(role);
        let messages = py
            .detach(|| self.node.messages(iotp_trans_id, &role))
            .map_err(|e| raise(py, e))?;
        Ok(messages
            .iter()
            .map(|m| (m.sent, PyBytes::new(py, m.xml.as_bytes())))
            .collect())
    }

    /// Stops the node's threads (idempotent). Also on garbage collection.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.node.shutdown());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<Py<PyAny>>,
        _value: Option<Py<PyAny>>,
        _traceback: Option<Py<PyAny>>,
    ) {
        self.close(py);
    }
}

/// A payment receipt as the Consumer received it.
#[pyclass(module = "iotp", frozen, get_all)]
#[derive(Clone)]
pub(crate) struct Receipt {
    /// The Payment component's ID.
    payment_ref: String,
    /// The Payment Handler's payment id.
    process_reference: Option<String>,
    /// (name, text) of each part.
    parts: Vec<(Option<String>, String)>,
}

/// How a transaction ended at this node.
#[pyclass(module = "iotp", frozen, get_all)]
pub(crate) struct Outcome {
    /// The transaction.
    iotp_trans_id: String,
    /// `BaselinePurchase`, ...
    trans_type: String,
    /// The role this node played.
    role: String,
    /// `Completed`, `Failed`, `Cancelled`, `HardError`, `TimedOut...`.
    end: String,
    /// The final ProcessState (`CompletedOk`, `Failed`, ...).
    process_state: String,
    /// The completion code, if any.
    completion_code: Option<String>,
    /// Where to go now (SuccessNetLocn, CancelNetLocn, ErrorNetLocn).
    next_net_locn: Option<String>,
    /// The payment receipts.
    receipts: Vec<Receipt>,
}

#[pymethods]
impl Outcome {
    fn __repr__(&self) -> String {
        format!(
            "Outcome(iotp_trans_id={:?}, trans_type={:?}, process_state={:?}, completion_code={:?})",
            self.iotp_trans_id, self.trans_type, self.process_state, self.completion_code
        )
    }
}

impl From<&TransactionOutcome> for Outcome {
    fn from(o: &TransactionOutcome) -> Self {
        Outcome {
            iotp_trans_id: o.iotp_trans_id.clone(),
            trans_type: o.trans_type.to_string(),
            role: o.role.to_string(),
            end: format!("{:?}", o.kind),
            process_state: o.process_state.to_string(),
            completion_code: o.completion_code.as_ref().map(ToString::to_string),
            next_net_locn: o.next_net_locn.clone(),
            receipts: o
                .receipts
                .iter()
                .map(|r| Receipt {
                    payment_ref: r.payment_ref.clone(),
                    process_reference: r.process_reference.clone(),
                    parts: r.parts.clone(),
                })
                .collect(),
        }
    }
}

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Node>()?;
    m.add_class::<Outcome>()?;
    m.add_class::<Receipt>()?;
    m.add_class::<Host>()?;
    Ok(())
}
