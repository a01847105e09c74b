//! The transaction engine: every trading role and baseline transaction of RFC 2801, without
//! I/O.
//!
//! [`Engine::receive`] takes the bytes of a message and the time, and returns an [`Outcome`]: the
//! messages to send ([`Outgoing`], each with its [`Destination`]) and what happened
//! ([`Event`]). The host application moves the bytes (HTTP per RFC 2935, or the in-memory
//! transport of [`harness`]) and wakes the engine at [`Engine::next_wake`] for
//! retransmissions and time-outs ([`Engine::wake`]).
//!
//! Input is processed in the order of §4.5 (server roles) and §4.6 (the Consumer):
//!
//! 1. well-formedness, and the transaction's identity (`XmlNotWellFrmd`, `AttMissing`
//!    IotpTransId), answered in a new transaction;
//! 2. duplicates: a message seen before gets its saved response again, byte for byte; one still
//!    in progress gets TransientError `MsgBeingProc`;
//! 3. capacity (`SystemBusy`); transactions ended by a HardError or a Cancel are ignored;
//! 4. message-level checks (validity, TransRefBlk), block-level and block-sequence checks;
//! 5. Error and Cancel Blocks stop the transaction and are never answered with an error;
//! 6. processing by the role's state machine, then the state is committed to the [`Store`]
//!    together with the response, and only then is the response returned.
//!
//! Roles live in [`consumer`], [`merchant`], [`payment_handler`] and [`delivery_handler`];
//! each transaction's flow, with the RFC's diagram, in [`flows`].

pub mod app;
mod build;
pub mod config;
mod consumer;
mod delivery_handler;
pub mod flows;
pub mod harness;
mod host;
mod inquiry;
mod merchant;
mod payment_handler;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::msg::codes::*;
use crate::msg::model::*;
use crate::msg::{IotpMessage, Report, TradingBlock, ValidationError};
use crate::payapi::{ApiError, ApiErrorCode, PaymentBridge};
use crate::store::{MessageDigest, ReplayEntry, Store, StoreError, TransactionKey};
use crate::xml::Limits;

pub use app::{
    ConsumerApp, DefaultApp, DeliveryApp, DeliveryOffer, DeliveryRequest, DeliveryResult,
    MerchantApp, Offer, OfferSummary, PaymentOffer, PaymentOption,
};
pub use build::{format_timestamp, parse_timestamp_millis};
pub use config::{EngineConfig, OrgConfig, RoleEndpoint, Timing};
pub use state::{EndKind, Phase};

use build::Ids;
use state::Txn;

/// Where an outgoing message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Back to the sender of the message being processed (the HTTP response, RFC 2935).
    Reply,
    /// A net location named in the transaction (`PayReqNetLocn`, `ErrorLogNetLocn`, …): a new
    /// request.
    NetLocn(String),
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where to.
    pub to: Destination,
    /// `MsgId/@ID`.
    pub message_id: String,
    /// The transaction.
    pub iotp_trans_id: String,
    /// The document (canonical XML, UTF-8).
    pub xml: Arc<[u8]>,
}

/// The result of a transaction at this node, when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionOutcome {
    /// The transaction.
    pub iotp_trans_id: String,
    /// Its type.
    pub trans_type: TransactionType,
    /// The role this node played.
    pub role: TradingRole,
    /// How it ended.
    pub kind: EndKind,
    /// The final process state.
    pub process_state: ProcessState,
    /// The completion code, if any.
    pub completion_code: Option<CompletionCode>,
    /// Consumer: where to go now (`SuccessNetLocn`, `CancelNetLocn`, `ErrorNetLocn`).
    pub next_net_locn: Option<String>,
    /// Consumer: the payment receipts received (PaymentHandlerPayId, receipt text parts).
    pub receipts: Vec<Receipt>,
}

/// A payment receipt as the Consumer received and checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The Payment component.
    pub payment_ref: String,
    /// `Status/@ProcessReference`: the Payment Handler's payment id.
    pub process_reference: Option<String>,
    /// The receipt's PackagedContent (name, text).
    pub parts: Vec<(Option<String>, String)>,
}

/// Something that happened, for the host application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A transaction ended at this node.
    Finished(TransactionOutcome),
    /// The peer reported a technical error (an Error Block).
    ErrorReceived {
        /// The transaction.
        iotp_trans_id: String,
        /// `ErrorCode`.
        code: ErrorCode,
        /// `Severity`.
        severity: Severity,
        /// `ErrorDesc`.
        desc: String,
    },
    /// An Inquiry Response arrived.
    InquiryAnswered {
        /// The transaction.
        iotp_trans_id: String,
        /// The status reported.
        status: Status,
    },
    /// A Ping Response arrived.
    PingAnswered {
        /// The ping's transaction.
        iotp_trans_id: String,
        /// Ok, Busy or Down.
        code: PingStatusCode,
        /// The responder's `OrgId`s.
        responders: Vec<String>,
    },
    /// Something the operator should know about (never card data).
    Log(String),
}

/// How a transaction ended: kind, final process state, completion code.
pub type EndState = (EndKind, ProcessState, Option<CompletionCode>);

/// What one call of the engine produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Messages to send, in order.
    pub messages: Vec<Outgoing>,
    /// What happened.
    pub events: Vec<Event>,
}

impl Outcome {
    /// The message to send back to the sender, if any.
    pub fn reply(&self) -> Option<&Outgoing> {
        self.messages.iter().find(|m| m.to == Destination::Reply)
    }

    /// The transaction outcomes among the events.
    pub fn finished(&self) -> impl Iterator<Item = &TransactionOutcome> {
        self.events.iter().filter_map(|e| match e {
            Event::Finished(o) => Some(o),
            _ => None,
        })
    }
}

/// A request the engine refuses (the protocol's own failures are messages and events, not
/// errors).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The transaction is not known at this node.
    #[error("unknown transaction {0}")]
    UnknownTransaction(String),
    /// The RFC does not allow this now (e.g. cancelling a completed transaction or a Ping).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The request is inconsistent with the configuration or the offer.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A payment bridge failed.
    #[error("payment bridge: {0}")]
    Bridge(Box<ApiError>),
    /// The store failed; nothing was sent.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ApiError> for EngineError {
    fn from(e: ApiError) -> Self {
        EngineError::Bridge(Box::new(e))
    }
}

/// A technical error found while processing, to be reported in an Error Block (boxed: it
/// travels in `Err` through every handler).
#[derive(Debug, Clone)]
pub(crate) struct Fault(Box<FaultInner>);

impl std::ops::Deref for Fault {
    type Target = FaultInner;
    fn deref(&self) -> &FaultInner {
        &self.0
    }
}

impl std::ops::DerefMut for Fault {
    fn deref_mut(&mut self) -> &mut FaultInner {
        &mut self.0
    }
}

/// The content of a [`Fault`].
#[derive(Debug, Clone)]
pub(crate) struct FaultInner {
    pub code: ErrorCode,
    pub severity: Severity,
    pub desc: String,
    pub location: ErrorLocation,
    pub min_retry_secs: Option<u32>,
    pub value: Option<String>,
    pub pay_scheme: Vec<PackagedContent>,
}

impl Fault {
    pub(crate) fn hard(code: ErrorCode, element: &str, desc: impl Into<String>) -> Self {
        Fault(Box::new(FaultInner {
            code,
            severity: Severity::HardError,
            desc: desc.into(),
            location: ErrorLocation {
                element_type: element.into(),
                ..ErrorLocation::default()
            },
            min_retry_secs: None,
            value: None,
            pay_scheme: Vec::new(),
        }))
    }

    pub(crate) fn transient(
        code: ErrorCode,
        element: &str,
        secs: u32,
        desc: impl Into<String>,
    ) -> Self {
        let mut f = Fault::hard(code, element, desc);
        f.severity = Severity::TransientError;
        f.min_retry_secs = Some(secs);
        f
    }

    pub(crate) fn block(mut self, id: &str) -> Self {
        self.location.blk_ref = Some(id.into());
        self
    }

    pub(crate) fn comp(mut self, id: &str) -> Self {
        self.location.comp_ref = Some(id.into());
        self
    }

    pub(crate) fn with_value(mut self, value: &str) -> Self {
        self.value = Some(value.into());
        self
    }

    pub(crate) fn att(mut self, name: &str) -> Self {
        self.location.att_name = Some(name.into());
        self
    }

    /// The Payment API's error, with its code rewritten for the wire (RFC 3867 §4.2).
    pub(crate) fn from_api(e: &ApiError, element: &str) -> Self {
        let location = e
            .locations
            .first()
            .cloned()
            .unwrap_or_else(|| ErrorLocation {
                element_type: element.into(),
                ..ErrorLocation::default()
            });
        let pc = location.element_type == "PackagedContent";
        let mut location = location;
        if location.element_type.is_empty() || location.element_type == "IotpPaymentApiRequest" {
            location.element_type = element.into();
        }
        Fault(Box::new(FaultInner {
            code: e.code.to_wire(pc),
            severity: e.severity.clone(),
            desc: e.desc.clone(),
            location,
            min_retry_secs: e
                .min_retry_secs
                .or((e.severity == Severity::TransientError).then_some(5)),
            value: None,
            pay_scheme: e.pay_scheme.clone(),
        }))
    }

    fn from_validation(e: &ValidationError) -> Self {
        Fault(Box::new(FaultInner {
            code: e.code.clone(),
            severity: e.severity.clone(),
            desc: e.message.clone(),
            location: e.location.clone(),
            min_retry_secs: None,
            value: e.value.clone(),
            pay_scheme: Vec::new(),
        }))
    }
}

/// An outgoing message being built: its IDs and its trading blocks.
pub(crate) struct Draft {
    pub ids: Ids,
    pub blocks: Vec<TradingBlock>,
}

/// What a role's handler decided.
pub(crate) enum Step {
    /// Reply with this message (and commit).
    Reply(Draft),
    /// Send this message as a new request to a net location (the Consumer's next request).
    Request {
        to: String,
        draft: Draft,
        payment: bool,
    },
    /// Nothing to send.
    Quiet,
}

/// The IOTP engine of one node, playing the roles of its organisation.
pub struct Engine {
    config: EngineConfig,
    store: Arc<dyn Store>,
    bridges: Vec<Arc<dyn PaymentBridge>>,
    /// `info()` of each bridge, read once.
    bridge_infos: Vec<crate::payapi::BridgeInfo>,
    merchant_app: Arc<dyn MerchantApp>,
    consumer_app: Arc<dyn ConsumerApp>,
    delivery_app: Arc<dyn DeliveryApp>,
    limits: Limits,
    /// Open transactions (ended ones are dropped after commit and reloaded on demand).
    live: HashMap<TransactionKey, Txn>,
    /// Numbers for IDs, shared by the shards of one node.
    counter: Arc<AtomicU64>,
    /// The transactions this engine owns (see [`Engine::into_shards`]).
    shard: Shard,
}

/// Which transactions an engine owns: those whose IotpTransId [`shard_of`] maps to `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shard {
    index: usize,
    count: usize,
}

/// The shard (of `count`) that owns the transaction `iotp_trans_id`: every message of a
/// transaction, at every role a node plays in it, goes to the same engine. FNV-1a, so that the
/// mapping is the same in every process and run.
pub fn shard_of(iotp_trans_id: &str, count: usize) -> usize {
    let hash = iotp_trans_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    // The remainder is below `count`, so it fits.
    usize::try_from(hash % count.max(1) as u64).unwrap_or(0)
}

/// A message read, fully validated and hashed for the replay cache: the part of receiving that
/// needs no engine state, so a node does it before it picks (and locks) the engine that owns
/// the message's transaction.
#[derive(Debug)]
pub struct Received {
    report: Report,
    /// The TransRefBlk, when one with an IotpTransId was found (§4.5).
    trans_ref: Option<TransactionReferenceBlock>,
    canonical: Option<Arc<str>>,
    digest: MessageDigest,
}

impl Received {
    /// Reads and validates `input` within `limits` ([`Engine::limits`]).
    pub fn read(input: &[u8], limits: &Limits) -> Received {
        let report = Report::read(input, limits);
        let trans_ref = report
            .message
            .as_ref()
            .map(|m| m.trans_ref.clone())
            .or_else(|| report.trans_ref.clone())
            .filter(|t| !t.transaction_id.iotp_trans_id.is_empty());
        let canonical: Option<Arc<str>> = trans_ref
            .as_ref()
            .and(report.message.as_ref())
            .map(|m| Arc::from(m.to_xml()));
        let digest = match &canonical {
            Some(xml) => sha256(xml.as_bytes()),
            None => sha256(input),
        };
        Received {
            report,
            trans_ref,
            canonical,
            digest,
        }
    }

    /// The message's IotpTransId, when it could be found.
    pub fn iotp_trans_id(&self) -> Option<&str> {
        self.trans_ref
            .as_ref()
            .map(|t| t.transaction_id.iotp_trans_id.as_str())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("org", &self.config.org.org_id)
            .field("open_transactions", &self.live.len())
            .finish()
    }
}

/// How long a message may stay "in progress" in the replay cache before it is taken as
/// abandoned (the node stopped while processing it) and processed again.
const STALE_IN_PROGRESS_MILLIS: i64 = 120_000;

impl Engine {
    /// An engine with the default applications ([`DefaultApp`]).
    pub fn new(config: EngineConfig, store: Arc<dyn Store>) -> Self {
        let limits = Limits {
            max_message_bytes: config.max_message_bytes,
            ..Limits::default()
        };
        Engine {
            config,
            store,
            bridges: Vec::new(),
            bridge_infos: Vec::new(),
            merchant_app: Arc::new(DefaultApp),
            consumer_app: Arc::new(DefaultApp),
            delivery_app: Arc::new(DefaultApp),
            limits,
            live: HashMap::new(),
            counter: Arc::new(AtomicU64::new(0)),
            shard: Shard { index: 0, count: 1 },
        }
    }

    /// Splits the engine into `count` engines (at least one) that share its configuration,
    /// store, bridges and applications, each owning the transactions [`shard_of`] maps to it,
    /// so that a node can run transactions on several threads at once. A message must go to
    /// the engine that owns its transaction; a new transaction's IotpTransId is drawn so that
    /// the engine that creates it owns it.
    pub fn into_shards(self, count: usize) -> Vec<Engine> {
        let count = count.max(1);
        (0..count)
            .map(|index| Engine {
                config: self.config.clone(),
                store: self.store.clone(),
                bridges: self.bridges.clone(),
                bridge_infos: self.bridge_infos.clone(),
                merchant_app: self.merchant_app.clone(),
                consumer_app: self.consumer_app.clone(),
                delivery_app: self.delivery_app.clone(),
                limits: self.limits.clone(),
                live: HashMap::new(),
                counter: self.counter.clone(),
                shard: Shard { index, count },
            })
            .collect()
    }

    /// The limits the engine reads messages with (for [`Received::read`]).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether this engine owns the transaction (always, for an engine that is not a shard).
    pub fn owns(&self, iotp_trans_id: &str) -> bool {
        shard_of(iotp_trans_id, self.shard.count) == self.shard.index
    }

    /// Adds a payment bridge (scheme).
    pub fn with_bridge(mut self, bridge: Arc<dyn PaymentBridge>) -> Self {
        self.bridge_infos.push(bridge.info());
        self.bridges.push(bridge);
        self
    }

    /// Sets the Merchant's application.
    pub fn with_merchant_app(mut self, app: Arc<dyn MerchantApp>) -> Self {
        self.merchant_app = app;
        self
    }

    /// Sets the Consumer's application.
    pub fn with_consumer_app(mut self, app: Arc<dyn ConsumerApp>) -> Self {
        self.consumer_app = app;
        self
    }

    /// Sets the Delivery Handler's application.
    pub fn with_delivery_app(mut self, app: Arc<dyn DeliveryApp>) -> Self {
        self.delivery_app = app;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// True when this node plays the role.
    pub fn plays(&self, role: &TradingRole) -> bool {
        self.config.org.plays(role)
    }

    /// The earliest time the engine wants [`Engine::wake`] called, if any.
    pub fn next_wake(&self) -> Option<i64> {
        self.live.values().filter_map(Txn::wake_at).min()
    }

    /// Number of open transactions.
    pub fn open_transactions(&self) -> usize {
        // Ended transactions leave the live set when they are committed.
        self.live.len()
    }

    /// Where a transaction stands at this node (role, phase, end), if known.
    pub fn transaction_state(
        &mut self,
        iotp_trans_id: &str,
        role: &TradingRole,
    ) -> Result<Option<(Phase, Option<EndState>)>, EngineError> {
        let key = key(iotp_trans_id, role);
        let view = |t: &Txn| {
            (
                t.st.phase,
                t.st.ended.as_ref().map(|e| {
                    (
                        e.kind,
                        ProcessState::from_wire(&e.process_state),
                        e.completion_code.as_deref().map(CompletionCode::from_wire),
                    )
                }),
            )
        };
        // Looked at where it is: a live transaction stays live (with its retransmissions).
        if let Some(t) = self.live.get(&key) {
            return Ok(Some(view(t)));
        }
        Ok(self
            .store
            .load(&key)?
            .and_then(|r| Txn::from_record(&r))
            .map(|t| view(&t)))
    }

    // -----------------------------------------------------------------------------------------
    // Input processing (§4.5, §4.6)

    /// Processes one received message.
    ///
    /// Log lines the payment bridge writes meanwhile come out as [`Event::Log`].
    pub fn receive(&mut self, input: &[u8], now: i64) -> Outcome {
        let received = Received::read(input, &self.limits);
        self.receive_read(received, now)
    }

    /// [`Engine::receive`] of a message already read. An engine that is one of several shards
    /// answers a message of a transaction it does not own with a TransientError and leaves
    /// the transaction alone.
    pub fn receive_read(&mut self, received: Received, now: i64) -> Outcome {
        let mut out = self.receive_unlogged(received, now);
        host::drain_bridge_log(&mut out.events);
        out
    }

    /// [`Engine::receive_read`], the bridges' log lines left where they are.
    fn receive_unlogged(&mut self, received: Received, now: i64) -> Outcome {
        let mut out = Outcome::default();
        let Received {
            report,
            trans_ref,
            canonical,
            digest,
        } = received;
        let Some(trans_ref) = trans_ref else {
            // §4.5.2.1: answer in a new transaction.
            let fault =
                match report.errors.iter().find(|e| {
                    e.code == ErrorCode::XmlNotWellFrmd || e.code == ErrorCode::MsgTooLarge
                }) {
                    Some(e) => Fault::from_validation(e),
                    None => {
                        let mut f = Fault::hard(
                            ErrorCode::AttMissing,
                            "TransId",
                            "the transaction cannot be identified",
                        );
                        f.location.att_name = Some("IotpTransId".into());
                        f.value = Some("IotpTransId".into());
                        f
                    }
                };
            self.unidentified_error(fault, now, &mut out);
            return out;
        };
        if !self.owns(&trans_ref.transaction_id.iotp_trans_id) {
            // A node routes every message to its owner; this is a bug, not the sender's fault.
            let fault = Fault::transient(
                ErrorCode::SystemBusy,
                "IotpMessage",
                self.config.timing.min_retry_secs,
                "the message reached the wrong engine of this node; send it again",
            );
            self.transient_reply(&trans_ref, fault, now, &mut out);
            return out;
        }
        match self.store.replay_begin(&digest, now) {
            Ok(None) => {}
            Ok(Some(ReplayEntry::Answered { response })) => {
                if let Some(bytes) = response {
                    out.messages.push(Outgoing {
                        to: Destination::Reply,
                        message_id: String::new(),
                        iotp_trans_id: trans_ref.transaction_id.iotp_trans_id.clone(),
                        xml: bytes.into(),
                    });
                }
                return out;
            }
            Ok(Some(ReplayEntry::InProgress { since }))
                if now - since < STALE_IN_PROGRESS_MILLIS =>
            {
                let fault = Fault::transient(
                    ErrorCode::MsgBeingProc,
                    "IotpMessage",
                    self.config.timing.min_retry_secs,
                    "the message is still being processed; send it again later",
                );
                self.transient_reply(&trans_ref, fault, now, &mut out);
                return out;
            }
            Ok(Some(ReplayEntry::InProgress { .. })) => {}
            Err(e) => {
                let fault = Fault::transient(
                    ErrorCode::SystemBusy,
                    "IotpMessage",
                    self.config.timing.min_retry_secs,
                    format!("storage unavailable: {e}"),
                );
                self.transient_reply(&trans_ref, fault, now, &mut out);
                return out;
            }
        }
        let result = self.process(report, canonical, &trans_ref, now, &mut out);
        let (reply, transient) = match &result {
            Ok(Processed {
                reply, transient, ..
            }) => (reply.clone(), *transient),
            Err(_) => (None, true),
        };
        if transient {
            let _ = self.store.replay_forget(&digest);
        }
        match result {
            Ok(p) => {
                let records: Vec<_> = p
                    .touched
                    .iter()
                    .filter_map(|k| self.live.get(k))
                    .map(Txn::to_record)
                    .collect();
                let refs: Vec<_> = records.iter().collect();
                let replay = if transient {
                    Vec::new()
                } else {
                    vec![(digest, ReplayEntry::Answered { response: reply })]
                };
                if let Err(e) = self.store.commit(&refs, &replay) {
                    // Nothing leaves the node that is not durable.
                    for k in &p.touched {
                        self.live.remove(k);
                    }
                    out.messages.clear();
                    out.events.clear();
                    let _ = self.store.replay_forget(&digest);
                    let fault = Fault::transient(
                        ErrorCode::SystemBusy,
                        "IotpMessage",
                        self.config.timing.min_retry_secs,
                        format!("storage unavailable: {e}"),
                    );
                    self.transient_reply(&trans_ref, fault, now, &mut out);
                    return out;
                }
                for k in &p.touched {
                    if self.live.get(k).is_some_and(Txn::is_ended) {
                        self.live.remove(k);
                    }
                }
            }
            Err(e) => {
                let fault = Fault::transient(
                    ErrorCode::SystemBusy,
                    "IotpMessage",
                    self.config.timing.min_retry_secs,
                    format!("storage unavailable: {e}"),
                );
                out.messages.clear();
                self.transient_reply(&trans_ref, fault, now, &mut out);
            }
        }
        out
    }

    fn process(
        &mut self,
        report: Report,
        canonical: Option<Arc<str>>,
        trans_ref: &TransactionReferenceBlock,
        now: i64,
        out: &mut Outcome,
    ) -> Result<Processed, StoreError> {
        let mut done = Processed::default();
        let trans_id = trans_ref.transaction_id.iotp_trans_id.clone();
        let hard = report.errors.iter().find(|e| e.is_error()).cloned();
        let warnings: Vec<ValidationError> = report
            .errors
            .iter()
            .filter(|e| !e.is_error())
            .cloned()
            .collect();
        let Some(msg) = report.message else {
            // Broken beyond reading, but the TransRefBlk was found.
            if let Some(e) = hard {
                let fault = Fault::from_validation(&e);
                self.fault_reply(None, trans_ref, fault, now, out, &mut done)?;
            }
            return Ok(done);
        };
        // An Error Block of warnings only, beside trading blocks, reports on the message it
        // answers (§7.21: the sender found something to warn about) and does not stop this
        // one: it is reported, and the blocks are processed.
        let warnings_only = msg.error.as_ref().filter(|eb| {
            eb.error_components
                .iter()
                .all(|c| c.severity == Severity::Warning)
                && !msg.blocks.is_empty()
        });
        if let Some(eb) = warnings_only {
            for c in &eb.error_components {
                out.events.push(Event::ErrorReceived {
                    iotp_trans_id: trans_id.clone(),
                    code: c.error_code.clone(),
                    severity: c.severity.clone(),
                    desc: c.error_desc.clone(),
                });
            }
        }
        let error_block = msg.error.as_ref().filter(|_| warnings_only.is_none());
        let is_error_or_cancel = error_block.is_some()
            || msg
                .blocks
                .iter()
                .any(|b| matches!(b, TradingBlock::Cancel(_)));

        // Which role handles it, and its transaction.
        let role = self.dispatch_role(&msg);
        let key = key(&trans_id, &role);
        let mut txn = self.load(&key)?;
        let side_exchange = msg.blocks.iter().any(|b| {
            matches!(
                b,
                TradingBlock::InquiryRequest(_)
                    | TradingBlock::InquiryResponse(_)
                    | TradingBlock::PingRequest(_)
                    | TradingBlock::PingResponse(_)
            )
        });
        if side_exchange
            && report.errors.iter().all(|e| !e.is_error())
            && let Some(t) = txn.take()
            && !t.is_ended()
        {
            self.live.insert(key.clone(), t);
        }
        if let Some(t) = &txn {
            let exempt = msg.blocks.iter().any(|b| {
                matches!(
                    b,
                    TradingBlock::InquiryRequest(_) | TradingBlock::PingRequest(_)
                )
            });
            if t.is_dead() && !exempt {
                // §4.5.2.3: ignore messages for cancelled or hard-errored transactions.
                out.events.push(Event::Log(format!(
                    "ignored message {} for ended transaction {trans_id}",
                    msg.message_id()
                )));
                return Ok(done);
            }
        } else if self.open_transactions() >= self.config.max_open_transactions
            && !msg
                .blocks
                .iter()
                .any(|b| matches!(b, TradingBlock::PingRequest(_)))
        {
            let fault = Fault::transient(
                ErrorCode::SystemBusy,
                "IotpMessage",
                self.config.timing.min_retry_secs,
                "too many open transactions; send the message again later",
            );
            self.transient_reply(trans_ref, fault, now, out);
            done.transient = true;
            return Ok(done);
        }

        if let Some(e) = hard {
            if is_error_or_cancel {
                return Ok(done);
            }
            let fault = Fault::from_validation(&e);
            if let Some(t) = txn {
                self.live.insert(key.clone(), t);
            }
            // A broken inquiry or ping is answered without touching the transaction.
            let at = (!side_exchange).then_some(&key);
            self.fault_reply(at, trans_ref, fault, now, out, &mut done)?;
            return Ok(done);
        }

        // A message for a role this node does not play.
        if !self.plays(&role) && !is_error_or_cancel && !side_exchange {
            let first = msg.blocks.first();
            let mut fault = Fault::hard(
                ErrorCode::ElUnexpected,
                first.map(|b| b.tag()).unwrap_or("IotpMessage"),
                format!("this node does not play the {role} role this message is for"),
            );
            if let Some(b) = first {
                fault = fault.block(b.id());
            }
            if let Some(t) = txn {
                self.live.insert(key.clone(), t);
            }
            self.fault_reply(None, trans_ref, fault, now, out, &mut done)?;
            return Ok(done);
        }

        // Error and Cancel Blocks (§4.5.2.4; never answered with an error).
        if let Some(eb) = error_block {
            if let Some(mut t) = txn {
                // An error answering an inquiry (a message outside the transaction's own
                // exchanges) is reported, and leaves the transaction alone.
                let answers = msg.trans_ref.message_id.resp_iotp_msg.as_deref();
                let about_inquiry = answers.is_some_and(|r| {
                    !t.msgs.iter().any(|l| l.msg.message_id() == r)
                        && t.st.aux_seq > 0
                        && r.starts_with('I')
                });
                if about_inquiry {
                    out.events.push(Event::ErrorReceived {
                        iotp_trans_id: trans_id.clone(),
                        code: eb
                            .error_components
                            .first()
                            .map(|c| c.error_code.clone())
                            .unwrap_or(ErrorCode::UnknownError),
                        severity: eb
                            .error_components
                            .first()
                            .map(|c| c.severity.clone())
                            .unwrap_or(Severity::HardError),
                        desc: eb
                            .error_components
                            .first()
                            .map(|c| c.error_desc.clone())
                            .unwrap_or_default(),
                    });
                    self.live.insert(key.clone(), t);
                    return Ok(done);
                }
                self.on_error_block(&mut t, &msg, eb, now, out);
                t.log(false, msg.clone(), canonical.clone().unwrap_or_default());
                self.live.insert(key.clone(), t);
                done.touched.push(key.clone());
            }
            return Ok(done);
        }
        if let Some(cancel) = msg.blocks.iter().find_map(|b| match b {
            TradingBlock::Cancel(c) => Some(c.clone()),
            _ => None,
        }) {
            if let Some(mut t) = txn
                && !t.st.error_received
            {
                self.on_cancel_received(&mut t, &cancel, now, out);
                t.log(false, msg.clone(), msg.to_xml().into());
                self.live.insert(key.clone(), t);
                done.touched.push(key.clone());
            }
            return Ok(done);
        }

        // Inquiries and pings have their own handling; they do not change the transaction.
        if let Some(b) = msg.blocks.first() {
            match b {
                TradingBlock::PingRequest(p) => {
                    let reply = self.ping_response(&msg, p, now);
                    done.reply = Some(self.push_reply(reply, &trans_id, out));
                    return Ok(done);
                }
                TradingBlock::InquiryRequest(q) => {
                    if let Some((reply, k)) = self.inquiry_response(&msg, q, now)? {
                        done.reply = Some(self.push_reply(reply, &trans_id, out));
                        if self.live.contains_key(&k) {
                            done.touched.push(k);
                        }
                    }
                    return Ok(done);
                }
                TradingBlock::PingResponse(p) => {
                    out.events.push(Event::PingAnswered {
                        iotp_trans_id: trans_id.clone(),
                        code: p.ping_status_code.clone(),
                        responders: p.organisations.iter().map(|o| o.org_id.clone()).collect(),
                    });
                    return Ok(done);
                }
                TradingBlock::InquiryResponse(r) => {
                    self.on_inquiry_response(&key, &msg, r, out)?;
                    return Ok(done);
                }
                _ => {}
            }
        }

        let mut t = match txn {
            Some(t) => t,
            None => Txn::new(
                &trans_id,
                &role,
                msg.trans_ref.transaction_id.iotp_trans_type.as_str(),
                "",
            ),
        };
        if t.st.prefix.is_empty() {
            t.st.prefix = self.prefix_for(&role);
        }
        let xml: Arc<str> = canonical.unwrap_or_else(|| Arc::from(msg.to_xml()));
        let known = !t.msgs.is_empty();
        let msg = Arc::new(msg);
        // The message is part of the transaction while it is processed (handlers look at it
        // with the earlier ones); a first message that fails does not create a transaction.
        t.msgs.push(state::Logged {
            sent: false,
            msg: msg.clone(),
            xml,
        });
        let pending_answered = t.st.pending.as_ref().is_some_and(|p| {
            msg.trans_ref.message_id.resp_iotp_msg.as_deref() == Some(p.message_id.as_str())
        });
        if pending_answered {
            t.st.pending = None;
        }
        let step = match role {
            TradingRole::Consumer => self.consumer_receive(&mut t, known, &msg, now, out),
            TradingRole::Merchant => self.merchant_receive(&mut t, known, &msg, now, out),
            TradingRole::PaymentHandler => {
                self.payment_handler_receive(&mut t, known, &msg, now, out)
            }
            TradingRole::DeliveryHandler => {
                self.delivery_handler_receive(&mut t, known, &msg, now, out)
            }
            _ => Err(Fault::hard(
                ErrorCode::ElNotSupp,
                msg.blocks.first().map(|b| b.tag()).unwrap_or("IotpMessage"),
                "this node plays no role that accepts this message",
            )),
        };
        if step.is_err() && !known {
            t.msgs.clear();
        } else {
            t.st.last_received = Some(msg.message_id().to_owned());
        }
        match step {
            Ok(step) => {
                let warn = (!warnings.is_empty()).then_some(warnings);
                done.reply = self.finish_step(&mut t, &msg, step, warn, now, out);
                done.touched.push(key.clone());
                self.live.insert(key, t);
            }
            Err(fault) => {
                let known_now = !t.msgs.is_empty();
                if known_now {
                    self.live.insert(key.clone(), t);
                    self.fault_reply(Some(&key), trans_ref, fault, now, out, &mut done)?;
                } else {
                    self.fault_reply(None, trans_ref, fault, now, out, &mut done)?;
                }
            }
        }
        Ok(done)
    }

    /// Which of this node's roles handles a message (by its first trading block).
    fn dispatch_role(&self, msg: &IotpMessage) -> TradingRole {
        let plays = |r: TradingRole| self.plays(&r);
        let first = msg
            .blocks
            .iter()
            .find(|b| !matches!(b, TradingBlock::Cancel(_)));
        let wanted = match first {
            Some(TradingBlock::TpoSelection(_)) | Some(TradingBlock::AuthenticationResponse(_)) => {
                TradingRole::Merchant
            }
            Some(TradingBlock::PaymentRequest(_)) => TradingRole::PaymentHandler,
            Some(TradingBlock::DeliveryRequest(_)) => TradingRole::DeliveryHandler,
            Some(TradingBlock::PaymentExchange(_)) => {
                let ph = key(msg.iotp_trans_id(), &TradingRole::PaymentHandler);
                if plays(TradingRole::PaymentHandler)
                    && (self.live.contains_key(&ph) || !plays(TradingRole::Consumer))
                {
                    TradingRole::PaymentHandler
                } else {
                    TradingRole::Consumer
                }
            }
            Some(TradingBlock::InquiryRequest(q)) => match q.inquiry_type.inquiry_type {
                InquiryType::Payment => TradingRole::PaymentHandler,
                InquiryType::Delivery => TradingRole::DeliveryHandler,
                _ => TradingRole::Merchant,
            },
            Some(TradingBlock::InquiryResponse(_)) | Some(TradingBlock::PingResponse(_)) => {
                TradingRole::Consumer
            }
            Some(TradingBlock::PingRequest(_)) => TradingRole::Merchant,
            Some(_) => TradingRole::Consumer,
            None => {
                // An Error or Cancel Block alone: the role holding the transaction.
                return self
                    .config
                    .org
                    .roles
                    .iter()
                    .map(|r| r.trading_role())
                    .find(|r| {
                        self.live.contains_key(&key(msg.iotp_trans_id(), r))
                            || self
                                .store
                                .load(&key(msg.iotp_trans_id(), r))
                                .ok()
                                .flatten()
                                .is_some()
                    })
                    .unwrap_or_else(|| self.first_role());
            }
        };
        if plays(wanted.clone()) {
            wanted
        } else if matches!(
            first,
            Some(TradingBlock::InquiryRequest(_))
                | Some(TradingBlock::PingRequest(_))
                | Some(TradingBlock::InquiryResponse(_))
                | Some(TradingBlock::PingResponse(_))
        ) {
            self.first_role()
        } else {
            wanted
        }
    }

    fn first_role(&self) -> TradingRole {
        self.config
            .org
            .roles
            .first()
            .map(RoleEndpoint::trading_role)
            .unwrap_or(TradingRole::Consumer)
    }

    /// The transaction, from the live set or the store.
    fn load(&mut self, key: &TransactionKey) -> Result<Option<Txn>, StoreError> {
        if let Some(t) = self.live.remove(key) {
            return Ok(Some(t));
        }
        Ok(self.store.load(key)?.and_then(|r| Txn::from_record(&r)))
    }

    /// Turns a handler's step into messages, logs them in the transaction, sets
    /// retransmission; returns the reply bytes.
    fn finish_step(
        &mut self,
        t: &mut Txn,
        received: &IotpMessage,
        step: Step,
        warnings: Option<Vec<ValidationError>>,
        now: i64,
        out: &mut Outcome,
    ) -> Option<Vec<u8>> {
        let (draft, to, payment) = match step {
            Step::Quiet => return None,
            Step::Reply(draft) => (draft, None, false),
            Step::Request { to, draft, payment } => (draft, Some(to), payment),
        };
        let Draft { mut ids, blocks } = draft;
        let resp = received.message_id().to_owned();
        let mut msg = self.header(t, &mut ids, Some(&resp), now);
        if let Some(ws) = warnings {
            let lang = self.config.lang.clone();
            let comps = ws
                .iter()
                .map(|w| {
                    let mut c = w.to_error_component(ids.next(), lang.clone());
                    if let Some(l) = c.error_locations.first_mut() {
                        l.iotp_msg_ref.get_or_insert_with(|| resp.clone());
                    }
                    c
                })
                .collect();
            msg.error = Some(ErrorBlock {
                id: ids.next(),
                error_components: comps,
                pay_scheme_data: Vec::new(),
                ..Default::default()
            });
        }
        msg.blocks = blocks;
        let msg = self.assign_block_ids(msg, &mut ids);
        let xml: Arc<str> = msg.to_xml().into();
        let bytes: Arc<[u8]> = Arc::from(xml.as_bytes());
        let out_msg = Outgoing {
            to: match &to {
                None => Destination::Reply,
                Some(l) => Destination::NetLocn(l.clone()),
            },
            message_id: msg.message_id().to_owned(),
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            xml: bytes.clone(),
        };
        if let Some(l) = &to {
            t.st.peer = Some(l.clone());
            t.st.pending = Some(state::Pending {
                to: l.clone(),
                message_id: msg.message_id().to_owned(),
                transmissions: 1,
                next_at: now + i64::from(self.config.timing.retransmit_after_secs) * 1000,
                payment,
            });
        }
        t.log(true, msg, xml);
        out.messages.push(out_msg);
        if to.is_none() {
            Some(bytes.to_vec())
        } else {
            None
        }
    }

    /// Block IDs are assigned by the handlers; this is the single place that guarantees a
    /// block without an ID gets one.
    fn assign_block_ids(&self, mut msg: IotpMessage, ids: &mut Ids) -> IotpMessage {
        for b in &mut msg.blocks {
            set_block_id(b, ids);
        }
        msg
    }

    /// The TransRefBlk of a message in an existing transaction.
    fn header(&self, t: &Txn, ids: &mut Ids, resp: Option<&str>, now: i64) -> IotpMessage {
        let sender_ref = self.sender_role_ref(t);
        build::message(
            ids,
            build::Header {
                trans_id: t.trans_id(),
                new_trans: None,
                resp_iotp_msg: resp,
                sender_trading_role_ref: sender_ref.as_deref(),
                lang: &self.config.lang,
                software_id: &self.config.software_id,
                now,
            },
        )
    }

    /// The ID of this role's TradingRole element in the transaction, if any.
    fn sender_role_ref(&self, t: &Txn) -> Option<String> {
        let role = t.role();
        let org_id = if role == TradingRole::Consumer {
            None
        } else {
            Some(self.config.org.org_id.as_str())
        };
        t.organisations()
            .filter(|o| org_id.is_none_or(|id| o.org_id.eq_ignore_ascii_case(id)))
            .flat_map(|o| o.trading_roles.iter())
            .find(|r| r.trading_role == role)
            .map(|r| r.id.clone())
    }

    fn push_reply(&self, msg: IotpMessage, trans_id: &str, out: &mut Outcome) -> Vec<u8> {
        let xml = msg.to_xml().into_bytes();
        out.messages.push(Outgoing {
            to: Destination::Reply,
            message_id: msg.message_id().to_owned(),
            iotp_trans_id: trans_id.to_owned(),
            xml: Arc::from(xml.as_slice()),
        });
        xml
    }

    /// Answers a technical error with an Error Block (and to the sender's `ErrorLogNetLocn`).
    /// A HardError ends the transaction.
    fn fault_reply(
        &mut self,
        key: Option<&TransactionKey>,
        trans_ref: &TransactionReferenceBlock,
        mut fault: Fault,
        now: i64,
        out: &mut Outcome,
        done: &mut Processed,
    ) -> Result<(), StoreError> {
        if fault.severity == Severity::TransientError {
            self.transient_reply(trans_ref, fault, now, out);
            done.transient = true;
            return Ok(());
        }
        let received_id = trans_ref.message_id.id.clone();
        if fault.location.iotp_msg_ref.is_none() && !received_id.is_empty() {
            fault.location.iotp_msg_ref = Some(received_id.clone());
        }
        let mut t = match key.and_then(|k| self.live.remove(k)) {
            Some(t) => t,
            None => {
                // A transaction this node does not hold: answer within it, statelessly.
                out.events.push(Event::Log(format!(
                    "{}: {} {}",
                    trans_ref.transaction_id.iotp_trans_id, fault.code, fault.desc
                )));
                done.reply = Some(self.stateless_error(trans_ref, &fault, now, out));
                return Ok(());
            }
        };
        if t.st.prefix.is_empty() {
            t.st.prefix = self.prefix_for(&t.role());
        }
        let msg_id = t.next_msg_id();
        let mut ids = Ids::new(msg_id);
        let resp = Some(received_id.as_str()).filter(|r| crate::xml::is_name(r));
        let mut msg = self.header(&t, &mut ids, resp, now);
        msg.error = Some(self.error_block(&mut ids, &fault));
        let xml: Arc<str> = msg.to_xml().into();
        let bytes: Arc<[u8]> = Arc::from(xml.as_bytes());
        // The Consumer is the client: its error reports are new requests to the peer.
        let consumer_peer = (t.role() == TradingRole::Consumer)
            .then(|| t.st.peer.clone())
            .flatten();
        out.messages.push(Outgoing {
            to: match &consumer_peer {
                Some(l) => Destination::NetLocn(l.clone()),
                None => Destination::Reply,
            },
            message_id: msg.message_id().to_owned(),
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            xml: bytes.clone(),
        });
        // §7.21: also to the sender role's ErrorLogNetLocn.
        if let Some(log) = self.error_log_locn(&t, trans_ref) {
            out.messages.push(Outgoing {
                to: Destination::NetLocn(log),
                message_id: msg.message_id().to_owned(),
                iotp_trans_id: t.key.iotp_trans_id.clone(),
                xml: bytes.clone(),
            });
        }
        t.log(true, msg, xml);
        if fault.severity == Severity::HardError {
            self.abandon_payment(&t, ProcessState::ProcessError, None, now);
            t.end(EndKind::HardError, ProcessState::ProcessError, None);
            out.events.push(Event::Finished(self.outcome_of(&t, None)));
        }
        done.reply = consumer_peer.is_none().then(|| bytes.to_vec());
        let k = t.key.clone();
        done.touched.push(k.clone());
        self.live.insert(k, t);
        Ok(())
    }

    fn error_log_locn(&self, t: &Txn, trans_ref: &TransactionReferenceBlock) -> Option<String> {
        let r = trans_ref.message_id.sender_trading_role_ref.as_deref()?;
        t.organisations()
            .flat_map(|o| o.trading_roles.iter())
            .find(|tr| tr.id == r)
            .and_then(|tr| tr.error_log_net_locn.clone())
    }

    fn error_block(&self, ids: &mut Ids, fault: &Fault) -> ErrorBlock {
        // The location names what was received; values that were themselves broken are left
        // out rather than sent back.
        let mut location = fault.location.clone();
        for r in [
            &mut location.iotp_msg_ref,
            &mut location.blk_ref,
            &mut location.comp_ref,
            &mut location.element_ref,
            &mut location.att_name,
        ] {
            if r.as_deref().is_some_and(|v| !crate::xml::is_nmtoken(v)) {
                *r = None;
            }
        }
        if !crate::xml::is_nmtoken(&location.element_type) {
            location.element_type = "IotpMessage".into();
        }
        let mut comp = build::error_component(
            ids,
            &self.config.lang,
            fault.code.clone(),
            fault.severity.clone(),
            &fault.desc,
            location,
            fault.min_retry_secs,
        );
        if let Some(v) = &fault.value {
            comp.packaged_contents
                .push(PackagedContent::text(v.clone()));
        }
        let pay_scheme_data = if fault.pay_scheme.is_empty() {
            Vec::new()
        } else {
            vec![PaymentSchemeData {
                id: ids.next(),
                packaged_contents: fault.pay_scheme.clone(),
                ..PaymentSchemeData::default()
            }]
        };
        ErrorBlock {
            id: ids.next(),
            error_components: vec![comp],
            pay_scheme_data,
            ..Default::default()
        }
    }

    /// A TransientError reply: not saved, the state unchanged (§4.5.2.3).
    fn transient_reply(
        &mut self,
        trans_ref: &TransactionReferenceBlock,
        mut fault: Fault,
        now: i64,
        out: &mut Outcome,
    ) {
        let received = trans_ref.message_id.id.clone();
        if fault.location.iotp_msg_ref.is_none() {
            fault.location.iotp_msg_ref = Some(received);
        }
        self.stateless_error(trans_ref, &fault, now, out);
    }

    /// An Error Block answering a message of a transaction this node holds no state for. The
    /// reply is built from the received TransRefBlk; if that holds values not fit to be sent
    /// back (the message was broken), the reply goes in a new transaction (§4.5.2.1).
    fn stateless_error(
        &mut self,
        trans_ref: &TransactionReferenceBlock,
        fault: &Fault,
        now: i64,
        out: &mut Outcome,
    ) -> Vec<u8> {
        let role = self.first_role();
        let prefix = self.prefix_for(&role);
        // A message number of its own, never one of the transaction's (`M1`, …).
        let mut r = [0u8; 4];
        host::random_bytes(&mut r);
        let mut ids = Ids::new(format!(
            "{prefix}{}",
            1_000_000_000 + u32::from_be_bytes(r) % 1_000_000_000
        ));
        let t = Txn {
            msgs: vec![state::Logged {
                sent: false,
                msg: Arc::new(IotpMessage {
                    trans_ref: trans_ref.clone(),
                    ..IotpMessage::default()
                }),
                xml: Arc::from(""),
            }],
            ..Txn::new(&trans_ref.transaction_id.iotp_trans_id, &role, "", &prefix)
        };
        let received = trans_ref.message_id.id.as_str();
        let resp = Some(received).filter(|r| crate::xml::is_name(r));
        let mut msg = self.header(&t, &mut ids, resp, now);
        msg.error = Some(self.error_block(&mut ids, fault));
        let xml = msg.to_xml();
        if !Report::read(xml.as_bytes(), &self.limits).is_valid() {
            return self.unidentified_error(fault.clone(), now, out);
        }
        self.push_reply(msg, &trans_ref.transaction_id.iotp_trans_id, out)
    }

    /// §4.5.2.1: an unidentifiable message is answered in a new transaction.
    fn unidentified_error(&mut self, fault: Fault, now: i64, out: &mut Outcome) -> Vec<u8> {
        let role = self.first_role();
        let prefix = self.prefix_for(&role);
        let trans_id = self.new_trans_id(now);
        let mut ids = Ids::new(format!("{prefix}1"));
        let stamp = format_timestamp(now);
        let mut msg = build::message(
            &mut ids,
            build::Header {
                trans_id: None,
                new_trans: Some((
                    &trans_id,
                    TransactionType::Other("x-iotp-rs-error".into()),
                    &stamp,
                )),
                resp_iotp_msg: None,
                sender_trading_role_ref: None,
                lang: &self.config.lang,
                software_id: &self.config.software_id,
                now,
            },
        );
        msg.trans_ref.transaction_id.iotp_trans_type = TransactionType::BaselinePing;
        msg.error = Some(self.error_block(&mut ids, &fault));
        self.push_reply(msg, &trans_id, out)
    }

    /// This node's IotpMsgIdPrefix for a role (§3.4.1).
    fn prefix_for(&self, role: &TradingRole) -> String {
        match role {
            TradingRole::Merchant => "M".into(),
            TradingRole::Consumer => "C".into(),
            r => self
                .config
                .org
                .endpoint(r)
                .map(|e| e.msg_id_prefix.clone())
                .unwrap_or_else(|| "X".into()),
        }
    }

    /// A number unique within this engine's run, for IDs.
    fn fresh_number(&mut self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A new, globally unique IotpTransId in RFC 822 Message-Id form (`local@domain`), one
    /// this engine owns (the number drawn again until it is: `count` tries on average; the
    /// random salt is drawn once, a system call being dearer than a try).
    fn new_trans_id(&mut self, now: i64) -> String {
        let domain = self
            .config
            .org
            .org_id
            .rsplit('/')
            .next()
            .unwrap_or("localhost")
            .to_owned();
        let mut salt = [0u8; 4];
        host::random_bytes(&mut salt);
        let salt = u32::from_be_bytes(salt);
        // `{now}.{n}.{salt:08x}@{domain}`, the number written again at each try.
        let mut prefix = String::with_capacity(24);
        build::push_decimal(&mut prefix, now.unsigned_abs());
        if now < 0 {
            prefix.insert(0, '-');
        }
        prefix.push('.');
        let suffix = format!(".{salt:08x}@{domain}");
        let mut id = String::with_capacity(prefix.len() + 20 + suffix.len());
        loop {
            let n = self.fresh_number();
            id.clear();
            id.push_str(&prefix);
            build::push_decimal(&mut id, n);
            id.push_str(&suffix);
            if self.owns(&id) {
                return id;
            }
        }
    }

    /// A new PayId (≤ 14 characters, unique across bridges; RFC 3867 §2).
    fn new_pay_id(&mut self, letter: char) -> String {
        let mut r = [0u8; 6];
        host::random_bytes(&mut r);
        let n = self.fresh_number() & 0xffff;
        let mut v = 0u64;
        for b in r {
            v = (v << 8) | u64::from(b);
        }
        let mut id = String::with_capacity(14);
        id.push(letter);
        build::push_hex(&mut id, n, 4);
        build::push_hex(&mut id, v & 0xf_ffff_ffff, 9);
        id
    }

    /// The transaction outcome to report.
    fn outcome_of(&self, t: &Txn, next: Option<String>) -> TransactionOutcome {
        let ended = t.st.ended.clone();
        TransactionOutcome {
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            trans_type: TransactionType::from_wire(&t.st.trans_type),
            role: t.role(),
            kind: ended.as_ref().map(|e| e.kind).unwrap_or(EndKind::Completed),
            process_state: ended
                .as_ref()
                .map(|e| ProcessState::from_wire(&e.process_state))
                .unwrap_or(ProcessState::InProgress),
            completion_code: ended
                .and_then(|e| e.completion_code)
                .map(|c| CompletionCode::from_wire(&c)),
            next_net_locn: next,
            receipts: Vec::new(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Error and Cancel Blocks received

    fn on_error_block(
        &mut self,
        t: &mut Txn,
        msg: &IotpMessage,
        eb: &ErrorBlock,
        now: i64,
        out: &mut Outcome,
    ) {
        let worst = eb
            .error_components
            .iter()
            .max_by_key(|c| severity_rank(&c.severity));
        let Some(worst) = worst else { return };
        out.events.push(Event::ErrorReceived {
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            code: worst.error_code.clone(),
            severity: worst.severity.clone(),
            desc: worst.error_desc.clone(),
        });
        match worst.severity {
            Severity::HardError => {
                t.st.error_received = true;
                self.abandon_payment(t, ProcessState::ProcessError, None, now);
                t.end(EndKind::HardError, ProcessState::ProcessError, None);
                let next = self.error_net_locn(t, msg);
                out.events.push(Event::Finished(self.outcome_of(t, next)));
            }
            Severity::TransientError => {
                // Resend the previous message after MinRetrySecs if its response has not come.
                let secs = worst
                    .min_retry_secs
                    .as_deref()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .unwrap_or(i64::from(self.config.timing.min_retry_secs));
                if let Some(p) = &mut t.st.pending {
                    p.next_at = now + secs * 1000;
                }
            }
            _ => {}
        }
    }

    fn error_net_locn(&self, t: &Txn, msg: &IotpMessage) -> Option<String> {
        let r = msg.trans_ref.message_id.sender_trading_role_ref.as_deref();
        t.organisations()
            .flat_map(|o| o.trading_roles.iter())
            .find(|tr| Some(tr.id.as_str()) == r)
            .and_then(|tr| tr.error_net_locn.clone())
    }

    fn on_cancel_received(
        &mut self,
        t: &mut Txn,
        cancel: &CancelBlock,
        now: i64,
        out: &mut Outcome,
    ) {
        t.st.error_received = true;
        let code = cancel.status.completion_code.clone();
        self.abandon_payment(t, ProcessState::Failed, code.clone(), now);
        t.end(EndKind::Cancelled, ProcessState::Failed, code);
        let next = (t.role() == TradingRole::Consumer)
            .then(|| {
                t.organisations()
                    .flat_map(|o| o.trading_roles.iter())
                    .find(|r| {
                        r.trading_role != TradingRole::Consumer && r.cancel_net_locn.is_some()
                    })
                    .and_then(|r| r.cancel_net_locn.clone())
            })
            .flatten();
        out.events.push(Event::Finished(self.outcome_of(t, next)));
    }

    /// Tells the bridge a payment ends without completing (ChangeProcessState).
    fn abandon_payment(
        &self,
        t: &Txn,
        state: ProcessState,
        code: Option<CompletionCode>,
        now: i64,
    ) {
        let Some(p) = &t.st.payment else { return };
        let Some(bridge) = self.bridge_by_id(&p.bridge) else {
            return;
        };
        let host = host::Host::new(&*self.store, &p.bridge, now);
        let _ = bridge.change_process_state(
            &host,
            &crate::payapi::ChangeProcessState {
                pay_id: p.pay_id.clone(),
                process_state: crate::payapi::PaymentState::Iotp(state),
                completion_code: code,
                process_type: crate::payapi::ProcessType::Payment,
                wallet: Default::default(),
            },
        );
    }

    fn bridge_by_id(&self, software_id: &str) -> Option<Arc<dyn PaymentBridge>> {
        self.bridge_where(|i| i.software_id == software_id)
    }

    fn bridge_for_protocol(&self, protocol_id: &str) -> Option<Arc<dyn PaymentBridge>> {
        self.bridge_where(|i| i.protocols.iter().any(|p| p == protocol_id))
    }

    fn bridge_for_auth(&self, algorithm: &str) -> Option<Arc<dyn PaymentBridge>> {
        self.bridge_where(|i| i.auth_algorithms.iter().any(|a| a == algorithm))
    }

    /// The first bridge whose `info()` satisfies `pred`.
    fn bridge_where(
        &self,
        pred: impl Fn(&crate::payapi::BridgeInfo) -> bool,
    ) -> Option<Arc<dyn PaymentBridge>> {
        self.bridge_infos
            .iter()
            .position(pred)
            .and_then(|i| self.bridges.get(i).cloned())
    }

    // -----------------------------------------------------------------------------------------
    // Wallet administration

    /// RFC 3867 `ManagePaymentSoftware` (wallet administration: registering a Consumer's card,
    /// say) with the bridge of `request.protocol_id`, else the first. The bridge keeps what it
    /// is given in its key-value space of this node's store.
    pub fn manage_payment_software(
        &mut self,
        request: &crate::payapi::ManagePaymentSoftware,
        now: i64,
    ) -> Result<crate::payapi::ManagePaymentSoftwareResponse, EngineError> {
        let index = request
            .protocol_id
            .as_ref()
            .and_then(|p| {
                self.bridge_infos
                    .iter()
                    .position(|i| i.protocols.contains(p))
            })
            .unwrap_or(0);
        let (Some(bridge), Some(info)) = (self.bridges.get(index), self.bridge_infos.get(index))
        else {
            return Err(EngineError::Invalid(
                "this node has no payment bridge".into(),
            ));
        };
        let host = host::Host::new(&*self.store, &info.software_id, now);
        // (The bridge's log lines come out with the engine's next outcome.)
        Ok(bridge.manage_payment_software(&host, request)?)
    }

    // -----------------------------------------------------------------------------------------
    // Local requests: cancel, time-outs

    /// Cancels a transaction from this node's side (§3.10, §4.5.3): the Consumer at any time
    /// before it completes; a server role only between receiving a request and sending its
    /// response (the Payment Handler during Payment Exchanges). Pings cannot be cancelled.
    ///
    /// Log lines the payment bridge writes meanwhile come out as [`Event::Log`].
    pub fn cancel(&mut self, iotp_trans_id: &str, now: i64) -> Result<Outcome, EngineError> {
        let mut out = self.cancel_unlogged(iotp_trans_id, now);
        if let Ok(o) = &mut out {
            host::drain_bridge_log(&mut o.events);
        }
        out
    }

    /// [`Engine::cancel`], the bridges' log lines left where they are.
    fn cancel_unlogged(&mut self, iotp_trans_id: &str, now: i64) -> Result<Outcome, EngineError> {
        let mut out = Outcome::default();
        let roles: Vec<TradingRole> = self
            .config
            .org
            .roles
            .iter()
            .map(RoleEndpoint::trading_role)
            .collect();
        let mut found = None;
        for r in &roles {
            if let Some(t) = self.load(&key(iotp_trans_id, r))? {
                if !t.is_ended() || found.is_none() {
                    if let Some(prev) = found.replace(t) {
                        self.live.insert(prev.key.clone(), prev);
                    }
                } else {
                    self.live.insert(t.key.clone(), t);
                }
            }
        }
        let Some(mut t) = found else {
            return Err(EngineError::UnknownTransaction(iotp_trans_id.into()));
        };
        let result = self.cancel_txn(&mut t, now, &mut out);
        let key = t.key.clone();
        if result.is_ok() {
            let record = t.to_record();
            self.store.commit(&[&record], &[])?;
        }
        if !t.is_ended() {
            self.live.insert(key, t);
        }
        result.map(|_| out)
    }

    fn cancel_txn(&mut self, t: &mut Txn, now: i64, out: &mut Outcome) -> Result<(), EngineError> {
        if t.st.trans_type == TransactionType::BaselinePing.as_str() {
            return Err(EngineError::NotAllowed(
                "a Ping cannot be cancelled (§4.5.3)".into(),
            ));
        }
        if t.is_ended() {
            return Err(EngineError::NotAllowed(
                "the transaction has ended; it cannot be cancelled (§3.10, §4.5.3)".into(),
            ));
        }
        match t.role() {
            TradingRole::Consumer => self.consumer_cancel(t, now, out),
            TradingRole::PaymentHandler if t.st.phase == Phase::Exchanging => {
                // The Consumer gets the Cancel Block in answer to its next Payment Exchange.
                t.st.cancel_requested = Some(CompletionCode::PaymtCancelled.to_string());
                Ok(())
            }
            r => Err(EngineError::NotAllowed(format!(
                "a {r} may cancel only between receiving a request block and sending its response (§3.10); phase {:?}",
                t.st.phase
            ))),
        }
    }

    /// Retransmits requests whose response is overdue and times out transactions (§4.5.4).
    ///
    /// Log lines the payment bridge writes meanwhile come out as [`Event::Log`].
    pub fn wake(&mut self, now: i64) -> Outcome {
        let mut out = self.wake_unlogged(now);
        host::drain_bridge_log(&mut out.events);
        out
    }

    /// [`Engine::wake`], the bridges' log lines left where they are.
    fn wake_unlogged(&mut self, now: i64) -> Outcome {
        let mut out = Outcome::default();
        let mut due: Vec<TransactionKey> = self
            .live
            .values()
            .filter(|t| t.wake_at().is_some_and(|w| w <= now))
            .map(|t| t.key.clone())
            .collect();
        if let Ok(more) = self.store.due(now) {
            for k in more {
                if self.owns(&k.iotp_trans_id) && !due.contains(&k) {
                    due.push(k);
                }
            }
        }
        for k in due {
            let Ok(Some(mut t)) = self.load(&k) else {
                continue;
            };
            self.wake_txn(&mut t, now, &mut out);
            let record = t.to_record();
            if self.store.commit(&[&record], &[]).is_err() {
                continue;
            }
            if !t.is_ended() {
                self.live.insert(k, t);
            }
        }
        out
    }

    fn wake_txn(&mut self, t: &mut Txn, now: i64, out: &mut Outcome) {
        if t.is_ended() {
            return;
        }
        if let Some(p) = t.st.pending.clone()
            && p.next_at <= now
        {
            // `from_record` and the senders guarantee the request is logged.
            let request = t.sent(&p.message_id).map(|l| l.xml.clone());
            if let Some(request) = request
                && p.transmissions < self.config.timing.max_transmissions
            {
                let mut p = p;
                p.transmissions += 1;
                p.next_at = now + i64::from(self.config.timing.retransmit_after_secs) * 1000;
                out.messages.push(Outgoing {
                    to: Destination::NetLocn(p.to.clone()),
                    message_id: p.message_id.clone(),
                    iotp_trans_id: t.key.iotp_trans_id.clone(),
                    xml: Arc::from(request.as_bytes()),
                });
                t.st.pending = Some(p);
            } else {
                let code = if p.payment {
                    CompletionCode::TimedOutRcvr
                } else {
                    CompletionCode::TimedOutNoRcvr
                };
                self.abandon_payment(t, ProcessState::Failed, Some(code.clone()), now);
                t.end(EndKind::TimedOut, ProcessState::Failed, Some(code));
                out.events.push(Event::Finished(self.outcome_of(t, None)));
            }
            return;
        }
        if t.st.deadline.is_some_and(|d| d <= now) {
            let code = CompletionCode::TimedOutNoRcvr;
            self.abandon_payment(t, ProcessState::Failed, Some(code.clone()), now);
            t.end(EndKind::TimedOut, ProcessState::Failed, Some(code));
            out.events.push(Event::Finished(self.outcome_of(t, None)));
        }
    }

    /// Sends a new message in a transaction from a local request (Consumer cancel, inquiry).
    fn send_local(
        &mut self,
        t: &mut Txn,
        to: String,
        draft: Draft,
        now: i64,
        out: &mut Outcome,
        retransmit: bool,
    ) {
        let Draft { mut ids, blocks } = draft;
        let resp = t
            .msgs
            .iter()
            .rev()
            .find(|l| !l.sent)
            .map(|l| l.msg.message_id().to_owned());
        let mut msg = self.header(t, &mut ids, resp.as_deref(), now);
        msg.blocks = blocks;
        let msg = self.assign_block_ids(msg, &mut ids);
        let xml: Arc<str> = msg.to_xml().into();
        out.messages.push(Outgoing {
            to: Destination::NetLocn(to.clone()),
            message_id: msg.message_id().to_owned(),
            iotp_trans_id: t.key.iotp_trans_id.clone(),
            xml: Arc::from(xml.as_bytes()),
        });
        if retransmit {
            t.st.pending = Some(state::Pending {
                to,
                message_id: msg.message_id().to_owned(),
                transmissions: 1,
                next_at: now + i64::from(self.config.timing.retransmit_after_secs) * 1000,
                payment: false,
            });
        }
        t.log(true, msg, xml);
    }

    /// Commits a transaction changed by a local request and keeps it live while open.
    fn commit_local(&mut self, t: Txn) -> Result<(), EngineError> {
        let record = t.to_record();
        self.store.commit(&[&record], &[])?;
        if !t.is_ended() {
            self.live.insert(t.key.clone(), t);
        }
        Ok(())
    }

    /// Takes this role's `IotpMsgIdPrefix` from the Orgs the Merchant wrote (§3.4.1), before
    /// the role's first message.
    fn adopt_prefix(&self, t: &mut Txn, orgs: &[Organisation], role: &TradingRole) {
        let prefix = orgs
            .iter()
            .filter(|o| o.org_id.eq_ignore_ascii_case(&self.config.org.org_id))
            .flat_map(|o| o.trading_roles.iter())
            .find(|r| &r.trading_role == role)
            .map(|r| r.iotp_msg_id_prefix.clone());
        if let Some(prefix) = prefix
            && t.st.seq == 0
        {
            t.st.prefix = prefix;
        }
    }

    /// True when the Org `id` among `orgs` is this node's organisation playing `role` (§6.3.1).
    fn is_own_org(&self, orgs: &[Organisation], id: &str, role: &TradingRole) -> bool {
        orgs.iter().find(|o| o.id == id).is_some_and(|o| {
            o.org_id.eq_ignore_ascii_case(&self.config.org.org_id)
                && o.trading_roles.iter().any(|r| &r.trading_role == role)
        })
    }

    /// Starts the next message of this role in the transaction.
    fn draft(&self, t: &mut Txn) -> Draft {
        if t.st.prefix.is_empty() {
            t.st.prefix = self.prefix_for(&t.role());
        }
        Draft {
            ids: Ids::new(t.next_msg_id()),
            blocks: Vec::new(),
        }
    }

    fn cancel_block(
        &self,
        ids: &mut Ids,
        status_type: StatusType,
        el_ref: Option<&str>,
        code: CompletionCode,
    ) -> TradingBlock {
        TradingBlock::Cancel(CancelBlock {
            id: ids.next(),
            status: build::status(
                ids,
                &self.config.lang,
                status_type,
                el_ref,
                ProcessState::Failed,
                Some(code),
                None,
                None,
            ),
            ..Default::default()
        })
    }
}

/// §6.3: a request is acted on only when the steps it depends on completed.
fn check_completed(statuses: &[Status], block: &str, what: &str) -> Result<(), Fault> {
    match statuses
        .iter()
        .find(|s| s.process_state != ProcessState::CompletedOk)
    {
        Some(s) => Err(Fault::hard(
            ErrorCode::ElInconsistent,
            "Status",
            format!(
                "the {} step this {what} depends on did not complete",
                s.status_type
            ),
        )
        .block(block)
        .comp(&s.id)
        .att("ProcessState")),
        None => Ok(()),
    }
}

/// What processing one message did.
#[derive(Debug, Default)]
struct Processed {
    reply: Option<Vec<u8>>,
    transient: bool,
    touched: Vec<TransactionKey>,
}

fn key(iotp_trans_id: &str, role: &TradingRole) -> TransactionKey {
    TransactionKey {
        iotp_trans_id: iotp_trans_id.into(),
        role: role.to_string(),
    }
}

fn severity_rank(s: &Severity) -> u8 {
    match s {
        Severity::HardError => 3,
        Severity::TransientError => 2,
        Severity::Warning => 1,
        Severity::Other(_) => 0,
    }
}

fn sha256(bytes: &[u8]) -> MessageDigest {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Gives a block without an ID one (handlers leave `id` empty for blocks they create).
fn set_block_id(b: &mut TradingBlock, ids: &mut Ids) {
    macro_rules! fill {
        ($($v:ident),+) => {
            match b {
                $(TradingBlock::$v(x) => if x.id.is_empty() { x.id = ids.next(); },)+
            }
        };
    }
    fill!(
        AuthenticationRequest,
        AuthenticationResponse,
        AuthenticationStatus,
        Cancel,
        DeliveryRequest,
        DeliveryResponse,
        InquiryRequest,
        InquiryResponse,
        OfferResponse,
        PaymentExchange,
        PaymentRequest,
        PaymentResponse,
        PingRequest,
        PingResponse,
        TradingProtocolOptions,
        TpoSelection
    );
}

/// Maps an internal failure of a bridge call to the Fault for the wire.
pub(crate) fn api_fault(e: &ApiError, element: &str) -> Fault {
    if e.code == ApiErrorCode::BusError {
        Fault::hard(ErrorCode::UnknownError, element, e.desc.clone())
    } else {
        Fault::from_api(e, element)
    }
}
