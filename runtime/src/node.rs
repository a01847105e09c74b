//! [`Node`]: one or more trading roles running on the engine, with a durable store, plugins,
//! a transport, sender threads and a retransmission timer.
//!
//! ```text
//!  transport plugin ──message──▶ Node::handle ──▶ Engine::receive ──▶ Store::commit (durable)
//!  (server threads)  ◀──reply───┘                      │
//!                                                      ├─ requests to net locations ──▶ sender
//!                                                      │   threads ──send──▶ transport plugin,
//!                                                      │   their replies back into the engine
//!                                                      └─ events ──▶ log, waiters (pay, inquire)
//!  timer thread: Engine::wake at Engine::next_wake (retransmissions, time-outs)
//! ```
//!
//! The engine is sans-I/O and single-threaded: the node runs it behind one lock. Nothing
//! leaves the node before the engine has committed the state that produced it (the engine's
//! rule); the node adds none of its own state.
//!
//! **Startup requests** (RFC 2935 §4.1). The HTTP transport hands the node an
//! `IotpStartupRequest` document for a request to one of its startup paths; the node's
//! [`OfferSource`] (by default the `[merchant.offers]` of the configuration, by the path's last
//! segment) gives the offer, and the Merchant's first message is the answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iotp::msg::codes::{InquiryType, PayDirection, PingStatusCode, TradingRole};
use iotp::msg::model::Status;
use iotp::payapi::PaymentBridge;
use iotp::store::{MemoryStore, Store, StoredMessage, TransactionKey};
use iotp::txn::{
    ConsumerApp, DefaultApp, DeliveryApp, Destination, Engine, EngineError, Event, MerchantApp,
    Offer, OfferSummary, Outcome, Outgoing, PaymentOption, Received, TransactionOutcome, shard_of,
};
use iotp_plugin_host::{
    ErrorStatus, HostServices, LoadError, LoadedPlugin, LogLevel, OutsideCalls, PluginError,
    PluginKind, PluginLibrary, SchemePlugin,
};

use crate::config::{ConfigError, NodeConfig};
use crate::log::Log;
use crate::store::sqlite::SqliteStore;

/// The namespace of the startup document the HTTP transport hands the node.
pub const STARTUP_NAMESPACE: &str = "urn:iotp-rs:http-startup";

/// How many ended transactions (and answered messages) a node with `memory_store` keeps.
const MEMORY_STORE_RETAINS: usize = 100;

/// The longest the timer thread sleeps before looking at the engine's next wake-up again.
const TIMER_TICK: Duration = Duration::from_millis(250);

/// How often the timer thread wakes the engine whatever it says, so that transactions due in
/// the store but not loaded (a node just restarted) are retransmitted and timed out.
const STORE_SWEEP: Duration = Duration::from_secs(1);

/// Milliseconds since 1970-01-01T00:00:00Z by the system clock.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why a node could not start, or a request of it failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is unusable (the message names the setting).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A plugin could not be loaded (the message names the setting and the file).
    #[error("{setting}: {source}")]
    Plugin {
        /// `plugins.scheme` or `plugins.transport`.
        setting: &'static str,
        /// What the plugin host says.
        source: LoadError,
    },
    /// A plugin call failed.
    #[error("{0}")]
    Call(#[from] PluginError),
    /// The data directory or the store could not be opened.
    #[error("{setting}: {message}")]
    Storage {
        /// `node.data_dir`.
        setting: &'static str,
        /// Why.
        message: String,
    },
    /// The engine refused the request.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The node has no transport (`plugins.transport`), and the request needs one.
    #[error("plugins.transport: this node has no transport, and {0} needs one")]
    NoTransport(&'static str),
    /// The peer's answer cannot start a transaction here.
    #[error("{0}")]
    Refused(String),
    /// No answer within the time given.
    #[error("no outcome within {0:?}")]
    TimedOut(Duration),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// The answer to a Baseline Ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingAnswer {
    /// The ping's own transaction.
    pub iotp_trans_id: String,
    /// Ok, Busy or Down.
    pub code: PingStatusCode,
    /// The responders' `OrgId`s.
    pub responders: Vec<String>,
}

/// Where a Merchant's offers come from: a startup request's target (`/pay/books?x=1`) in, the
/// offer out (`None`: no such offer, answered 404).
pub trait OfferSource: Send + Sync {
    /// The offer for a startup request.
    fn offer(&self, target: &str) -> Option<Offer>;
}

/// One message crossing the node's transport, shown to a [`Tap`].
#[derive(Debug, Clone, Copy)]
pub struct Traffic<'a> {
    /// True for a message this node sent, false for one it received.
    pub sent: bool,
    /// The peer's net location, for the requests this node sends and their replies (and a
    /// Consumer's startup request); `None` for the messages a server receives and answers.
    pub net_locn: Option<&'a str>,
    /// The message.
    pub xml: &'a [u8],
}

/// Sees every message the node sends or receives (transcripts, debugging). Called on the
/// thread that moves the message; must be quick.
pub type Tap = Arc<dyn Fn(&Traffic<'_>) + Send + Sync>;

/// The applications a node runs with; `None` takes the default ([`DefaultApp`] for merchant
/// and delivery decisions, the `[consumer]` choices, the `[merchant.offers]` catalogue).
#[derive(Default, Clone)]
pub struct NodeApps {
    /// Where offers come from.
    pub offers: Option<Arc<dyn OfferSource>>,
    /// The Merchant's decisions.
    pub merchant: Option<Arc<dyn MerchantApp>>,
    /// The Consumer's decisions.
    pub consumer: Option<Arc<dyn ConsumerApp>>,
    /// The Delivery Handler's fulfilment.
    pub delivery: Option<Arc<dyn DeliveryApp>>,
    /// Sees every message sent and received.
    pub tap: Option<Tap>,
    /// Sees every record of the node's log (besides `<data_dir>/node.log`).
    pub log: Option<crate::log::LogSink>,
    /// The payment scheme, made by the embedding application instead of loaded from
    /// `plugins.scheme` (a scheme written in Python, say): called once with the node's store,
    /// whose key-value space the scheme may keep its payment records in, and the host services
    /// a scheme plugin gets outside its calls (the node's log, the clock, random bytes).
    pub bridge: Option<BridgeFactory>,
}

/// Makes a node's payment scheme ([`NodeApps::bridge`]) from its store and the services of a
/// scheme outside its calls. During a call, the scheme's log lines go to the call's
/// `BridgeHost`, as a plugin's do (the engine reports them as `Event::Log`); outside its calls,
/// to these services, which write them to the node's log at their level.
pub type BridgeFactory = Arc<
    dyn Fn(&Arc<dyn Store>, &Arc<dyn HostServices + Send + Sync>) -> Arc<dyn PaymentBridge>
        + Send
        + Sync,
>;

impl std::fmt::Debug for NodeApps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeApps").finish_non_exhaustive()
    }
}

/// A running node. Dropping it (or [`Node::shutdown`]) stops its threads; a transport keeps
/// its listeners (plugins are never unloaded) but answers 503 from then on.
#[derive(Debug)]
pub struct Node {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Inner {
    name: String,
    data_dir: PathBuf,
    /// The transaction engines ([`Engine::into_shards`]): a message goes to the one that owns
    /// its transaction ([`Inner::engine_for`]).
    engines: Vec<Mutex<Engine>>,
    /// The limits messages are read with (the engines').
    limits: iotp::Limits,
    /// The engines' store (read without waiting for an engine).
    store: Arc<dyn Store>,
    /// Which engine starts the next new transaction.
    next_engine: AtomicUsize,
    transport: Option<LoadedPlugin>,
    log: Arc<Log>,
    /// The host services of the node's plugins outside payment calls: the node's log, the
    /// system clock and random bytes (a transport has no key-value space and no CallBack).
    services: Arc<OutsideCalls>,
    offers: Arc<dyn OfferSource>,
    tap: Option<Tap>,
    /// Events of the transactions someone waits for, by IotpTransId.
    watch: Mutex<HashMap<String, Vec<Event>>>,
    watch_changed: Condvar,
    /// Set to wake the timer thread now (shutdown).
    timer: Mutex<bool>,
    timer_changed: Condvar,
    outbox: Mutex<Option<mpsc::Sender<Outgoing>>>,
    stopping: AtomicBool,
    default_wait: Duration,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// The offers of `[merchant.offers]`, by the last path segment of the startup target.
struct Catalogue {
    offers: std::collections::BTreeMap<String, Offer>,
    sequence: AtomicU64,
}

impl OfferSource for Catalogue {
    fn offer(&self, target: &str) -> Option<Offer> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        let name = path.trim_end_matches('/').rsplit('/').next()?;
        let mut offer = self.offers.get(name)?.clone();
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        offer.order_identifier = format!("{}-{n}", offer.order_identifier);
        Some(offer)
    }
}

/// The Consumer's choices from `[consumer]`: an instrument and a brand, else the first.
#[derive(Debug)]
struct ConfiguredConsumer {
    instrument: Option<String>,
    brand: Option<String>,
}

impl ConsumerApp for ConfiguredConsumer {
    fn choose(
        &self,
        _offer: &OfferSummary,
        _direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        let fits = |o: &PaymentOption| {
            self.instrument
                .as_ref()
                .is_none_or(|i| o.instrument_id.as_deref() == Some(i.as_str()))
                && self.brand.as_ref().is_none_or(|b| &o.brand_id == b)
        };
        options.iter().position(fits).or((!options.is_empty()
            && self.instrument.is_none()
            && self.brand.is_none())
        .then_some(0))
    }
}

/// The file of a plugin: `<dir>/libiotp_<kind>_<name>.so` (`kind`: `scheme` or `transport`).
pub fn plugin_path(dir: &Path, kind: &str, name: &str) -> PathBuf {
    dir.join(format!(
        "{}iotp_{kind}_{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// The default plugin directory: the running executable's.
pub fn default_plugin_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

impl Node {
    /// Starts a node from its configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Node, NodeError> {
        Node::open(NodeConfig::from_file(path)?, NodeApps::default())
    }

    /// Starts a node: opens its data directory and store, loads its plugins, starts its
    /// threads, and, when the configuration has a `[transport]` section, calls the transport's
    /// `serve` with it (listening, or for a Consumer only client settings such as trust
    /// anchors).
    pub fn open(config: NodeConfig, apps: NodeApps) -> Result<Node, NodeError> {
        let storage = |message: String| NodeError::Storage {
            setting: "node.data_dir",
            message,
        };
        let data_dir = config.node.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| storage(format!("cannot create {}: {e}", data_dir.display())))?;
        let log = Log::to_file(
            &config.node.name,
            &data_dir.join("node.log"),
            LogLevel::Info,
        )
        .map_err(|e| storage(format!("cannot open {}/node.log: {e}", data_dir.display())))?
        .with_sink(apps.log.clone());
        let log = Arc::new(log);
        let services = Arc::new(OutsideCalls::with_log({
            let log = log.clone();
            Arc::new(move |level, message: &str| log.write(level, message))
        }));

        let store: Arc<dyn Store> = if config.node.memory_store {
            // A long-running Consumer (a benchmark's) must not grow with every purchase.
            Arc::new(MemoryStore::retaining(MEMORY_STORE_RETAINS))
        } else {
            let path = data_dir.join("iotp.db");
            Arc::new(SqliteStore::open(&path).map_err(|e| storage(e.to_string()))?)
        };

        let plugin_dir = config
            .plugins
            .dir
            .clone()
            .or_else(default_plugin_dir)
            .unwrap_or_else(|| PathBuf::from("."));
        let plays = |r: TradingRole| config.engine.org.plays(&r);
        let needs_scheme = plays(TradingRole::Merchant)
            || plays(TradingRole::PaymentHandler)
            || plays(TradingRole::Consumer);
        let scheme: Option<Arc<dyn PaymentBridge>> = match &config.plugins.scheme {
            _ if apps.bridge.is_some() => {
                let services: Arc<dyn HostServices + Send + Sync> = services.clone();
                apps.bridge.as_ref().map(|make| make(&store, &services))
            }
            Some(name) => {
                let services: Arc<dyn HostServices + Send + Sync> = services.clone();
                let scheme =
                    SchemePlugin::load_with(plugin_path(&plugin_dir, "scheme", name), services)
                        .map_err(|source| NodeError::Plugin {
                            setting: "plugins.scheme",
                            source,
                        })?;
                Some(Arc::new(scheme))
            }
            None if needs_scheme => {
                return Err(ConfigError::Invalid {
                    setting: "plugins.scheme".into(),
                    message: "a node playing Merchant, PaymentHandler or Consumer needs a \
                              payment scheme (a plugin, or one the application provides)"
                        .into(),
                }
                .into());
            }
            None => None,
        };
        let transport = match &config.plugins.transport {
            Some(name) => {
                let plugin = (|| {
                    let library = PluginLibrary::open(plugin_path(&plugin_dir, "transport", name))?;
                    library.expect_kind(PluginKind::Transport)?;
                    let services: Arc<dyn HostServices + Send + Sync> = services.clone();
                    library.start(services)
                })()
                .map_err(|source| NodeError::Plugin {
                    setting: "plugins.transport",
                    source,
                })?;
                Some(plugin)
            }
            None if !config.transport.is_empty() => {
                return Err(ConfigError::Invalid {
                    setting: "plugins.transport".into(),
                    message: "[transport] is configured but no transport plugin is named".into(),
                }
                .into());
            }
            None => None,
        };

        let timing = &config.engine.timing;
        let default_wait = Duration::from_secs(
            u64::from(timing.retransmit_after_secs) * u64::from(timing.max_transmissions.max(1))
                + 10,
        );
        let mut engine = Engine::new(config.engine.clone(), store)
            .with_merchant_app(apps.merchant.unwrap_or_else(|| Arc::new(DefaultApp)))
            .with_delivery_app(apps.delivery.unwrap_or_else(|| Arc::new(DefaultApp)))
            .with_consumer_app(apps.consumer.unwrap_or_else(|| {
                Arc::new(ConfiguredConsumer {
                    instrument: config.consumer.instrument.clone(),
                    brand: config.consumer.brand.clone(),
                })
            }));
        if let Some(scheme) = scheme {
            engine = engine.with_bridge(scheme);
        }
        let offers = apps.offers.unwrap_or_else(|| {
            Arc::new(Catalogue {
                offers: config.merchant.offers.clone(),
                sequence: AtomicU64::new(
                    u64::try_from(now_millis()).unwrap_or_default() % 1_000_000_000 * 1000,
                ),
            })
        });

        let limits = engine.limits().clone();
        let store = engine.store().clone();
        let engines = engine
            .into_shards(config.node.engines)
            .into_iter()
            .map(Mutex::new)
            .collect();
        let (outbox, queue) = mpsc::channel::<Outgoing>();
        let inner = Arc::new(Inner {
            name: config.node.name.clone(),
            data_dir,
            engines,
            limits,
            store,
            next_engine: AtomicUsize::new(0),
            transport,
            log,
            services,
            offers,
            tap: apps.tap,
            watch: Mutex::new(HashMap::new()),
            watch_changed: Condvar::new(),
            timer: Mutex::new(false),
            timer_changed: Condvar::new(),
            outbox: Mutex::new(Some(outbox)),
            stopping: AtomicBool::new(false),
            default_wait,
        });

        let mut threads = Vec::new();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..config.node.senders {
            let inner = inner.clone();
            let queue = queue.clone();
            threads.push(spawn(&format!("iotp-sender-{i}"), move || {
                inner.send_loop(&queue);
            })?);
        }
        {
            let inner = inner.clone();
            threads.push(spawn("iotp-timer", move || inner.timer_loop())?);
        }
        let node = Node {
            inner,
            threads: Mutex::new(threads),
        };
        node.inner.log(
            LogLevel::Info,
            &format!(
                "started: {} playing {}",
                config.engine.org.org_id,
                config
                    .engine
                    .org
                    .roles
                    .iter()
                    .map(|r| r.role.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        if !config.transport.is_empty() {
            node.serve(&config.transport_document()?)?;
        }
        Ok(node)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Calls the transport's `serve` with `document` (the transport's own configuration); the
    /// transport hands every message it receives to [`Node::handle`].
    pub fn serve(&self, document: &[u8]) -> Result<(), NodeError> {
        let transport = self.inner.transport("serving")?;
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let handler = move |message: &[u8]| match weak.upgrade() {
            Some(inner) => inner.handle(message),
            None => Err(ErrorStatus::Refused),
        };
        transport.serve(&*self.inner.services, document, Arc::new(handler))?;
        Ok(())
    }

    /// Handles one message received by a server role (or a startup request document): runs
    /// the engine and returns the reply to send back (empty: none). Requests the engine makes
    /// to other net locations go out through the sender threads.
    ///
    /// Errors, as the transport turns them into HTTP: `Refused` (no such offer: 404),
    /// `BadDocument` (a startup document that cannot be read: 400), `Internal` (shutting
    /// down, or the engine refused to start an offer: 503).
    pub fn handle(&self, message: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        self.inner.handle(message)
    }

    /// Answers an IOTP Startup Request (RFC 2935 §4.1) for `target` (`/pay/books?x=1`) without
    /// a transport: the offer's first message. For an application that serves HTTP itself
    /// (a WSGI or C server). Errors as for [`Node::handle`].
    pub fn startup(&self, target: &str) -> Result<Vec<u8>, ErrorStatus> {
        let reply = self.inner.start_at(target)?;
        self.inner.tap(true, None, &reply);
        Ok(reply)
    }

    /// The Consumer's side of a transaction: sends the startup request to a Merchant's pay
    /// URL, then runs the transaction to its end (or until `wait`, by default the engine's
    /// whole retransmission schedule and ten seconds) and returns how it ended.
    pub fn pay(&self, url: &str, wait: Option<Duration>) -> Result<TransactionOutcome, NodeError> {
        let transport = self.inner.transport("paying")?;
        let first = transport.send(&*self.inner.services, url, b"")?;
        self.inner.tap(false, Some(url), &first);
        if first.is_empty() {
            return Err(NodeError::Refused(format!(
                "{url} answered the startup request without an IOTP message"
            )));
        }
        let outcome = self.inner.receive(&first);
        let trans = outcome
            .messages
            .first()
            .map(|m| m.iotp_trans_id.clone())
            .or_else(|| outcome.finished().next().map(|o| o.iotp_trans_id.clone()))
            .ok_or_else(|| {
                NodeError::Refused(format!(
                    "the answer of {url} starts no transaction here: {}",
                    log_lines(&outcome)
                ))
            })?;
        // A first message the engine refuses (an invalid TPO, say) opens no transaction: its
        // error goes back to the Merchant, and there is nothing to wait for.
        let opened = self
            .inner
            .engine_for(&trans)
            .transaction_state(&trans, &TradingRole::Consumer)?
            .is_some();
        if !opened && outcome.finished().next().is_none() {
            let reason = log_lines(&outcome);
            let (_, requests) = self.inner.absorb(outcome, false);
            self.inner.deliver(requests);
            return Err(NodeError::Refused(format!(
                "the answer of {url} starts no transaction here: {reason}"
            )));
        }
        let event = self.inner.run_and_wait(
            &[&trans],
            outcome,
            wait,
            |e| matches!(e, Event::Finished(o) if o.iotp_trans_id == trans),
        )?;
        match event {
            Event::Finished(o) => Ok(o),
            _ => Err(NodeError::Refused("unexpected event".into())),
        }
    }

    /// Asks the role that handled a transaction about it (§9.2.1, Baseline Inquiry) and returns
    /// the Status reported.
    pub fn inquire(
        &self,
        iotp_trans_id: &str,
        inquiry: InquiryType,
        wait: Option<Duration>,
    ) -> Result<Status, NodeError> {
        let outcome = self.inner.engine_for(iotp_trans_id).start_inquiry(
            iotp_trans_id,
            inquiry,
            now_millis(),
        )?;
        let own = outcome
            .messages
            .first()
            .map(|m| m.iotp_trans_id.clone())
            .unwrap_or_default();
        let event =
            self.inner
                .run_and_wait(&[iotp_trans_id, &own], outcome, wait, |e| match e {
                    Event::InquiryAnswered { .. } => true,
                    Event::Finished(o) => o.iotp_trans_id == own,
                    _ => false,
                })?;
        match event {
            Event::InquiryAnswered { status, .. } => Ok(status),
            Event::Finished(o) => Err(NodeError::Refused(format!(
                "the inquiry ended {:?} ({}) without an answer",
                o.kind, o.process_state
            ))),
            _ => Err(NodeError::Refused("unexpected event".into())),
        }
    }

    /// Pings a net location (§9.2.2, Baseline Ping).
    pub fn ping(&self, net_locn: &str, wait: Option<Duration>) -> Result<PingAnswer, NodeError> {
        self.inner.transport("pinging")?;
        let outcome = self.inner.next_engine().start_ping(net_locn, now_millis());
        let own = outcome
            .messages
            .first()
            .map(|m| m.iotp_trans_id.clone())
            .unwrap_or_default();
        let event = self
            .inner
            .run_and_wait(&[&own], outcome, wait, |e| match e {
                Event::PingAnswered { .. } => true,
                Event::Finished(o) => o.iotp_trans_id == own,
                _ => false,
            })?;
        match event {
            Event::PingAnswered {
                code, responders, ..
            } => Ok(PingAnswer {
                iotp_trans_id: own,
                code,
                responders,
            }),
            Event::Finished(o) => Err(NodeError::Refused(format!(
                "the ping ended {:?} without an answer",
                o.kind
            ))),
            _ => Err(NodeError::Refused("unexpected event".into())),
        }
    }

    /// RFC 3867 `ManagePaymentSoftware` with the node's payment scheme: wallet administration,
    /// such as registering a Consumer's card with SCCD.
    pub fn manage_payment_software(
        &self,
        request: &iotp::payapi::ManagePaymentSoftware,
    ) -> Result<iotp::payapi::ManagePaymentSoftwareResponse, NodeError> {
        Ok(self
            .inner
            .next_engine()
            .manage_payment_software(request, now_millis())?)
    }

    /// Cancels a transaction this node takes part in, where the RFC allows it.
    pub fn cancel(&self, iotp_trans_id: &str) -> Result<(), NodeError> {
        let outcome = self
            .inner
            .engine_for(iotp_trans_id)
            .cancel(iotp_trans_id, now_millis())?;
        let (_, requests) = self.inner.absorb(outcome, false);
        self.inner.deliver(requests);
        Ok(())
    }

    /// A transaction's phase and, once it has ended, how, as this node's store has it.
    pub fn transaction_state(
        &self,
        iotp_trans_id: &str,
        role: &TradingRole,
    ) -> Result<Option<(iotp::txn::Phase, Option<iotp::txn::EndState>)>, NodeError> {
        Ok(self
            .inner
            .engine_for(iotp_trans_id)
            .transaction_state(iotp_trans_id, role)?)
    }

    /// The messages of a transaction as this node's store has them (sent and received, in
    /// order; a Consumer's view is the whole conversation of a baseline transaction).
    pub fn messages(
        &self,
        iotp_trans_id: &str,
        role: &TradingRole,
    ) -> Result<Vec<StoredMessage>, NodeError> {
        let store = self.inner.store.clone();
        let key = TransactionKey {
            iotp_trans_id: iotp_trans_id.to_owned(),
            role: role.to_string(),
        };
        let record = store.load(&key).map_err(EngineError::from)?;
        Ok(record.map(|r| r.messages).unwrap_or_default())
    }

    /// Writes a line to the node's log.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message);
    }

    /// Stops the node: no new work is taken (the transport answers 503), the timer and sender
    /// threads finish what they are doing and end. Idempotent.
    pub fn shutdown(&self) {
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner
            .outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.inner.poke_timer();
        let threads: Vec<_> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
        // Wait for the messages being processed to be committed and answered.
        for engine in &self.inner.engines {
            drop(lock(engine));
        }
        self.inner.log(LogLevel::Info, "stopped");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, NodeError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| NodeError::Storage {
            setting: "node.senders",
            message: format!("cannot start a thread: {e}"),
        })
}

fn log_lines(outcome: &Outcome) -> String {
    let lines: Vec<&str> = outcome
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Log(l) => Some(l.as_str()),
            Event::ErrorReceived { desc, .. } => Some(desc.as_str()),
            _ => None,
        })
        .collect();
    if lines.is_empty() {
        "the engine said nothing".into()
    } else {
        lines.join("; ")
    }
}

/// Whether a document is a startup request (its root element in [`STARTUP_NAMESPACE`]).
fn is_startup(message: &[u8]) -> bool {
    let head = &message[..message.len().min(256)];
    memchr::memmem::find(head, b"IotpStartupRequest").is_some()
}

fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    /// The engine that owns the transaction.
    fn engine_for(&self, iotp_trans_id: &str) -> MutexGuard<'_, Engine> {
        lock(&self.engines[shard_of(iotp_trans_id, self.engines.len())])
    }

    /// An engine to start a new transaction (which it will own), in turn.
    fn next_engine(&self) -> MutexGuard<'_, Engine> {
        let n = self.next_engine.fetch_add(1, Ordering::Relaxed);
        lock(&self.engines[n % self.engines.len()])
    }

    /// Reads a message (outside any engine's lock), then has the engine that owns its
    /// transaction process it.
    fn receive(&self, message: &[u8]) -> Outcome {
        let received = Received::read(message, &self.limits);
        let mut engine = match received.iotp_trans_id() {
            Some(id) => self.engine_for(id),
            None => self.next_engine(),
        };
        engine.receive_read(received, now_millis())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.log.write(level, message);
    }

    fn transport(&self, what: &'static str) -> Result<&LoadedPlugin, NodeError> {
        self.transport.as_ref().ok_or(NodeError::NoTransport(what))
    }

    fn handle(&self, message: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(ErrorStatus::Internal);
        }
        if is_startup(message) {
            let reply = self.startup(message)?;
            self.tap(true, None, &reply);
            return Ok(reply);
        }
        self.tap(false, None, message);
        let outcome = self.receive(message);
        let (reply, requests) = self.absorb(outcome, true);
        self.queue(requests);
        let reply = reply.unwrap_or_default();
        if !reply.is_empty() {
            self.tap(true, None, &reply);
        }
        Ok(reply)
    }

    fn tap(&self, sent: bool, net_locn: Option<&str>, xml: &[u8]) {
        if let Some(tap) = &self.tap {
            tap(&Traffic {
                sent,
                net_locn,
                xml,
            });
        }
    }

    fn startup(&self, document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        let root = iotp::xml::parse_tree(document, &iotp::Limits::default()).map_err(|e| {
            self.log(LogLevel::Warn, &format!("unreadable startup request: {e}"));
            ErrorStatus::BadDocument
        })?;
        if root.name != "IotpStartupRequest" || root.attribute("xmlns") != Some(STARTUP_NAMESPACE) {
            return Err(ErrorStatus::BadDocument);
        }
        self.start_at(root.attribute("Target").unwrap_or(""))
    }

    /// Starts the offer of a startup request's target; the Merchant's first message.
    fn start_at(&self, target: &str) -> Result<Vec<u8>, ErrorStatus> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(ErrorStatus::Internal);
        }
        let Some(offer) = self.offers.offer(target) else {
            self.log(LogLevel::Info, &format!("startup {target}: no such offer"));
            return Err(ErrorStatus::Refused);
        };
        let started = self.next_engine().start_offer(offer, now_millis());
        match started {
            Ok(outcome) => {
                let (reply, requests) = self.absorb(outcome, true);
                self.queue(requests);
                reply.ok_or(ErrorStatus::Internal)
            }
            Err(e) => {
                self.log(LogLevel::Error, &format!("startup {target}: {e}"));
                Err(ErrorStatus::Internal)
            }
        }
    }

    /// Hands an outcome's events to the log and the waiters; returns the reply (for a server
    /// role; a client drops replies, it has no one to answer) and the requests to send.
    fn absorb(&self, outcome: Outcome, server: bool) -> (Option<Vec<u8>>, Vec<Outgoing>) {
        let mut reply = None;
        let mut requests = Vec::new();
        for m in outcome.messages {
            match &m.to {
                Destination::Reply if server && reply.is_none() => reply = Some(m.xml.to_vec()),
                Destination::Reply => self.log(
                    LogLevel::Debug,
                    &format!("{}: a reply with no request to answer", m.message_id),
                ),
                Destination::NetLocn(_) => requests.push(m),
            }
        }
        if !outcome.events.is_empty() {
            let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
            let mut woke = false;
            for e in outcome.events {
                self.log_event(&e);
                let trans = match &e {
                    Event::Finished(o) => Some(&o.iotp_trans_id),
                    Event::ErrorReceived { iotp_trans_id, .. }
                    | Event::InquiryAnswered { iotp_trans_id, .. }
                    | Event::PingAnswered { iotp_trans_id, .. } => Some(iotp_trans_id),
                    Event::Log(_) => None,
                };
                if let Some(events) = trans.and_then(|t| watch.get_mut(t)) {
                    events.push(e);
                    woke = true;
                }
            }
            if woke {
                self.watch_changed.notify_all();
            }
        }
        (reply, requests)
    }

    /// Hands requests to the sender threads (a server answering its own request must not wait
    /// for them).
    fn queue(&self, requests: Vec<Outgoing>) {
        if requests.is_empty() {
            return;
        }
        let outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(outbox) = outbox.as_ref() {
            for m in requests {
                let _ = outbox.send(m);
            }
        }
    }

    /// Sends requests on this thread, feeding each reply to the engine and sending what that
    /// produces in turn, until nothing is left to send. A failed send is logged; the engine
    /// retransmits on its own schedule.
    fn deliver(&self, requests: Vec<Outgoing>) {
        let mut pending: std::collections::VecDeque<Outgoing> = requests.into();
        while let Some(m) = pending.pop_front() {
            let Destination::NetLocn(url) = &m.to else {
                continue;
            };
            let Some(transport) = &self.transport else {
                self.log(
                    LogLevel::Error,
                    &format!("{}: no transport to send {} with", m.iotp_trans_id, url),
                );
                continue;
            };
            self.tap(true, Some(url), &m.xml);
            match transport.send(&*self.services, url, &m.xml) {
                Ok(reply) if reply.is_empty() => {}
                Ok(reply) => {
                    self.tap(false, Some(url), &reply);
                    let outcome = self.receive(&reply);
                    pending.extend(self.absorb(outcome, false).1);
                }
                Err(e) => self.log(
                    LogLevel::Warn,
                    &format!(
                        "{} {}: sending to {url} failed ({e}); the engine will retransmit",
                        m.iotp_trans_id, m.message_id
                    ),
                ),
            }
        }
    }

    fn log_event(&self, e: &Event) {
        match e {
            Event::Finished(o) => self.log(
                LogLevel::Info,
                &format!(
                    "{} {} as {}: {:?} {}{}",
                    o.iotp_trans_id,
                    o.trans_type,
                    o.role,
                    o.kind,
                    o.process_state,
                    o.completion_code
                        .as_ref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ),
            ),
            Event::ErrorReceived {
                iotp_trans_id,
                code,
                severity,
                desc,
            } => self.log(
                LogLevel::Warn,
                &format!("{iotp_trans_id}: error received: {code} {severity}: {desc}"),
            ),
            Event::Log(line) => self.log(LogLevel::Info, line),
            Event::InquiryAnswered { .. } | Event::PingAnswered { .. } => {}
        }
    }

    /// Registers waiters for `transactions`, runs `outcome` (sending its requests on this
    /// thread), and waits for the first event that `done` accepts.
    fn run_and_wait(
        &self,
        transactions: &[&str],
        outcome: Outcome,
        wait: Option<Duration>,
        done: impl Fn(&Event) -> bool,
    ) -> Result<Event, NodeError> {
        let wait = wait.unwrap_or(self.default_wait);
        {
            let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
            for t in transactions {
                watch.entry((*t).to_owned()).or_default();
            }
        }
        // The caller's thread carries the exchange as far as it goes; retransmissions, if
        // needed, come from the timer through the sender threads.
        let (_, requests) = self.absorb(outcome, false);
        self.deliver(requests);
        let deadline = Instant::now() + wait;
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        let result = loop {
            let found = transactions
                .iter()
                .filter_map(|t| watch.get(*t))
                .flatten()
                .find(|e| done(e))
                .cloned();
            if let Some(e) = found {
                break Ok(e);
            }
            if self.stopping.load(Ordering::SeqCst) {
                break Err(NodeError::ShuttingDown);
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(NodeError::TimedOut(wait));
            }
            watch = self
                .watch_changed
                .wait_timeout(watch, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        for t in transactions {
            watch.remove(*t);
        }
        result
    }

    /// A sender thread: delivers queued requests (and what their replies lead to).
    fn send_loop(&self, queue: &Mutex<mpsc::Receiver<Outgoing>>) {
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
            let Ok(m) = next else { return };
            self.deliver(vec![m]);
        }
    }

    fn poke_timer(&self) {
        *self.timer.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.timer_changed.notify_one();
    }

    /// The timer thread: wakes the engine when it asks (retransmissions, time-outs), and at
    /// least every [`STORE_SWEEP`] for transactions that are due in the store but not loaded
    /// (after a restart: [`Engine::next_wake`] knows only the loaded ones).
    fn timer_loop(&self) {
        let mut swept = 0;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let now = now_millis();
            let sweep = now - swept >= STORE_SWEEP.as_millis() as i64;
            if sweep {
                swept = now;
            }
            let mut next: Option<i64> = None;
            let mut woke = false;
            for engine in &self.engines {
                let mut engine = lock(engine);
                let wake = engine.next_wake();
                if sweep || wake.is_some_and(|t| t <= now) {
                    let outcome = engine.wake(now);
                    drop(engine);
                    let (_, requests) = self.absorb(outcome, false);
                    self.queue(requests);
                    woke = true;
                } else {
                    next = match (next, wake) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
            if woke {
                continue;
            }
            // Transactions started meanwhile want waking no sooner than a retransmission
            // interval from now: a bounded sleep finds them without a wake-up per message.
            let sleep = next.map_or(TIMER_TICK, |t| {
                Duration::from_millis(u64::try_from(t - now).unwrap_or(0)).min(TIMER_TICK)
            });
            let mut poked = self.timer.lock().unwrap_or_else(PoisonError::into_inner);
            if !*poked {
                poked = self
                    .timer_changed
                    .wait_timeout(poked, sleep)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            *poked = false;
        }
    }
}
