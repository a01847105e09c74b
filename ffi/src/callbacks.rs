//! The application's callbacks: their C types, and the runtime's application traits
//! ([`OfferSource`], [`DeliveryApp`], [`ConsumerApp`]) and [`LogSink`] implemented by calling
//! them with the `userdata` the application gave, behind a [`Gate`] that `iotp_node_free`
//! closes.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use iotp::msg::codes::{CompletionCode, PayDirection};
use iotp::txn::{
    ConsumerApp, DefaultApp, DeliveryApp, DeliveryRequest, DeliveryResult, Offer, OfferSummary,
    PaymentOption,
};
use iotp_plugin_host::LogLevel;
use iotp_runtime::{LogSink, NodeApps, OfferSource};

use crate::handle::{c_string, lend, opt_ptr};

use crate::lent::{iotp_delivery_result, iotp_offer};

/// The `userdata` pointer an application gives with a callback, handed back to it unchanged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Userdata(pub(crate) *mut c_void);

// SAFETY: the library never dereferences `userdata`; it only passes it back to the
// application's callbacks, which the header says may be called from any thread (the
// application makes whatever `userdata` points to safe for that).
unsafe impl Send for Userdata {}
// SAFETY: as for `Send`: the pointer is only copied and handed back.
unsafe impl Sync for Userdata {}

impl Userdata {
    /// The pointer (a method, so that closures capture the whole `Userdata`).
    fn get(self) -> *mut c_void {
        self.0
    }
}

/// A log level.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iotp_log_level {
    /// Something failed.
    Error = 1,
    /// Unexpected but handled.
    Warn = 2,
    /// Progress: a node started, a transaction ended.
    Info = 3,
    /// Details.
    Debug = 4,
}

impl From<LogLevel> for iotp_log_level {
    fn from(level: LogLevel) -> iotp_log_level {
        match level {
            LogLevel::Error => iotp_log_level::Error,
            LogLevel::Warn => iotp_log_level::Warn,
            LogLevel::Info => iotp_log_level::Info,
            LogLevel::Debug => iotp_log_level::Debug,
        }
    }
}

/// Receives every record of a node's log (at Info and above; the same records go to
/// `<data_dir>/node.log`). `message` is the record without time, level or node name, valid
/// only during the call.
///
/// Called on the thread that logs (the node's sender, timer and transport threads, or a thread
/// calling a node function), possibly on several at once. It must be quick and must not call
/// functions of the same node.
pub type iotp_log_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, level: iotp_log_level, message: *const c_char),
>;

/// The Merchant's offer callback: a startup request arrived for `target` (the path and query
/// of the pay URL, `/pay/books?qty=2`); describe the offer with the `iotp_offer_*` setters on
/// `offer` and return true, or return false when there is no such offer (the transport answers
/// 404).
///
/// `target` and `offer` are valid only during the call: `offer` is lent, never freed by the
/// callback. Called on the transport's threads, possibly on several at once; must not call
/// functions of the same node.
pub type iotp_offer_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        target: *const c_char,
        offer: *mut iotp_offer,
    ) -> bool,
>;

/// What a Delivery Handler is asked to deliver. Every string is valid only during the
/// callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_delivery_request {
    /// The transaction (`IotpTransId`).
    pub iotp_trans_id: *const c_char,
    /// `Order/@OrderIdentifier`.
    pub order_identifier: *const c_char,
    /// `Order/@ShortDesc`.
    pub order_desc: *const c_char,
    /// `DeliveryData/@DelivMethod`: `Post`, `Web`, `Email`, ...
    pub method: *const c_char,
    /// The DelivTo organisation's `OrgId`.
    pub deliv_to: *const c_char,
}

/// The Delivery Handler's fulfilment callback: perform (or schedule) the delivery described by
/// `request`, and say how it went with `iotp_delivery_result_set` on `result` (left alone, the
/// delivery is reported Shipped, with `DLV-<order>` as the delivery id).
///
/// `request` and `result` are valid only during the call (`result` is lent, never freed by
/// the callback). Called with the node's engine locked, on the thread that handles the
/// message: must not call functions of the same node.
pub type iotp_delivery_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        request: *const iotp_delivery_request,
        result: *mut iotp_delivery_result,
    ),
>;

/// What the Consumer sees of an offer. Every string is valid only during the callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_offer_summary {
    /// The transaction (`IotpTransId`).
    pub iotp_trans_id: *const c_char,
    /// `BaselinePurchase`, `BaselineRefund`, ...
    pub trans_type: *const c_char,
    /// `ProtocolOptions/@ShortDesc`.
    pub short_desc: *const c_char,
    /// The Merchant's `OrgId`.
    pub merchant: *const c_char,
    /// `Order/@ShortDesc`, or NULL when the Offer Response is not known yet.
    pub order_desc: *const c_char,
}

/// One way the Consumer can pay: a brand, a protocol, an amount and an instrument. Every
/// string is valid only during the callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_payment_option {
    /// `Brand/@BrandId`.
    pub brand_id: *const c_char,
    /// `PayProtocol/@ProtocolId`.
    pub protocol_id: *const c_char,
    /// The amount, a decimal in major units (`39.90`).
    pub amount: *const c_char,
    /// ISO 4217 currency code.
    pub currency: *const c_char,
    /// A payment instrument the scheme offers, or NULL when it makes no distinction.
    pub instrument_id: *const c_char,
    /// The instrument's name for display, or NULL.
    pub instrument_name: *const c_char,
}

/// The Consumer's choice callback: pick one of `option_count` `options` for paying
/// (`direction` `Debit`) or being paid (`Credit`) and write its index to `*choice_out`, or
/// return false to cancel the transaction (`ConsCancelled`). An index out of range cancels
/// too.
///
/// Everything passed is valid only during the call. Called with the node's engine locked:
/// must not call functions of the same node.
pub type iotp_choose_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        offer: *const iotp_offer_summary,
        direction: *const c_char,
        options: *const iotp_payment_option,
        option_count: usize,
        choice_out: *mut usize,
    ) -> bool,
>;

/// The Consumer's approval callback (§9.1.2 step 5): return true to pay for the offer, false
/// to cancel (`ConsCancelled`). Same rules as `iotp_choose_callback`.
pub type iotp_approve_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, offer: *const iotp_offer_summary) -> bool>;

/// Lets a node's callbacks into C until the node is freed. `iotp_node_free` closes it after
/// stopping the node and waits for the callbacks running: from then on none is called, though
/// the node's transport outlives it (plugins are never unloaded) and may still log, and a
/// message that raced the stop may still reach the engine. A closed gate answers for the
/// application: no offer, no delivery, no choice, no log line.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Closed, and how many callbacks are running.
    state: Mutex<(bool, usize)>,
    idle: Condvar,
}

/// A callback running (see [`Gate::enter`]).
pub(crate) struct Pass<'a>(&'a Gate);

impl Gate {
    fn lock(&self) -> MutexGuard<'_, (bool, usize)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets one callback in, unless the gate is closed.
    pub(crate) fn enter(&self) -> Option<Pass<'_>> {
        let mut state = self.lock();
        if state.0 {
            return None;
        }
        state.1 += 1;
        Some(Pass(self))
    }

    /// Closes the gate and waits for the callbacks running to return.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.0 = true;
        while state.1 > 0 {
            state = self
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.1 -= 1;
        if state.1 == 0 {
            self.0.idle.notify_all();
        }
    }
}

type OfferFn = unsafe extern "C" fn(*mut c_void, *const c_char, *mut iotp_offer) -> bool;
type DeliveryFn =
    unsafe extern "C" fn(*mut c_void, *const iotp_delivery_request, *mut iotp_delivery_result);
type ChooseFn = unsafe extern "C" fn(
    *mut c_void,
    *const iotp_offer_summary,
    *const c_char,
    *const iotp_payment_option,
    usize,
    *mut usize,
) -> bool;
type ApproveFn = unsafe extern "C" fn(*mut c_void, *const iotp_offer_summary) -> bool;
type LogFn = unsafe extern "C" fn(*mut c_void, iotp_log_level, *const c_char);

/// The callbacks set on a configuration. Each node opened with it gets its own applications
/// built from them, behind its own [`Gate`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Callbacks {
    pub(crate) offer: Option<(OfferFn, Userdata)>,
    pub(crate) delivery: Option<(DeliveryFn, Userdata)>,
    pub(crate) consumer: Option<(Option<ChooseFn>, Option<ApproveFn>, Userdata)>,
    pub(crate) log: Option<(LogFn, Userdata)>,
}

impl Callbacks {
    /// The runtime's applications for one node.
    pub(crate) fn apps(&self, gate: &Arc<Gate>) -> NodeApps {
        NodeApps {
            offers: self.offer.map(|(callback, userdata)| {
                Arc::new(CallbackOffers {
                    callback,
                    userdata,
                    gate: gate.clone(),
                }) as Arc<dyn OfferSource>
            }),
            delivery: self.delivery.map(|(callback, userdata)| {
                Arc::new(CallbackDelivery {
                    callback,
                    userdata,
                    gate: gate.clone(),
                }) as Arc<dyn DeliveryApp>
            }),
            consumer: self.consumer.map(|(choose, approve, userdata)| {
                Arc::new(CallbackConsumer {
                    choose,
                    approve,
                    userdata,
                    gate: gate.clone(),
                }) as Arc<dyn ConsumerApp>
            }),
            log: self.log.map(|(callback, userdata)| {
                let gate = gate.clone();
                Arc::new(move |level: LogLevel, message: &str| {
                    let Some(_running) = gate.enter() else {
                        return;
                    };
                    let message = c_string(message);
                    // SAFETY: the application gave this function for this signature
                    // (`iotp_node_config_set_log_callback`); `message` is valid for the call;
                    // the node has not been freed (the gate is open).
                    unsafe { callback(userdata.get(), level.into(), message.as_ptr()) }
                }) as LogSink
            }),
            ..NodeApps::default()
        }
    }
}

/// The offer callback as the runtime's offer source.
struct CallbackOffers {
    callback: OfferFn,
    userdata: Userdata,
    gate: Arc<Gate>,
}

impl OfferSource for CallbackOffers {
    fn offer(&self, target: &str) -> Option<Offer> {
        let _running = self.gate.enter()?;
        let target = c_string(target);
        let (offer, made) = lend(iotp_offer::new(), |offer| {
            // SAFETY: the application gave this function for this signature
            // (`iotp_node_config_set_offer_callback`); `target` and `offer` are valid for the
            // call, `userdata` is passed back unchanged, and the node has not been freed (the
            // gate is open).
            unsafe { (self.callback)(self.userdata.get(), target.as_ptr(), offer) }
        });
        made.then_some(offer.offer)
    }
}

/// The delivery callback as the runtime's Delivery Handler application.
struct CallbackDelivery {
    callback: DeliveryFn,
    userdata: Userdata,
    gate: Arc<Gate>,
}

impl DeliveryApp for CallbackDelivery {
    fn deliver(&self, request: &DeliveryRequest) -> DeliveryResult {
        let Some(_running) = self.gate.enter() else {
            return DeliveryResult {
                ok: false,
                completion_code: CompletionCode::Unspecified,
                deliv_handler_deliv_id: String::new(),
                note: "The delivery application has stopped.".into(),
            };
        };
        let iotp_trans_id = c_string(request.iotp_trans_id.as_str());
        let order_identifier = c_string(request.order_identifier.as_str());
        let order_desc = c_string(request.order_desc.as_str());
        let method = c_string(request.method.as_str());
        let deliv_to = c_string(request.deliv_to.as_str());
        let c_request = iotp_delivery_request {
            iotp_trans_id: iotp_trans_id.as_ptr(),
            order_identifier: order_identifier.as_ptr(),
            order_desc: order_desc.as_ptr(),
            method: method.as_ptr(),
            deliv_to: deliv_to.as_ptr(),
        };
        let default = iotp_delivery_result {
            result: DefaultApp.deliver(request),
        };
        let (result, ()) = lend(default, |result| {
            // SAFETY: the application gave this function for this signature
            // (`iotp_node_config_set_delivery_callback`); the request, its strings and
            // `result` are valid for the call; the node has not been freed (the gate is open).
            unsafe { (self.callback)(self.userdata.get(), &c_request, result) }
        });
        result.result
    }
}

/// The consumer callbacks as the runtime's Consumer application.
struct CallbackConsumer {
    choose: Option<ChooseFn>,
    approve: Option<ApproveFn>,
    userdata: Userdata,
    gate: Arc<Gate>,
}

/// An offer summary's strings, alive while C sees them.
struct SummaryText([CString; 4], Option<CString>);

impl SummaryText {
    fn new(offer: &OfferSummary) -> SummaryText {
        SummaryText(
            [
                c_string(offer.iotp_trans_id.as_str()),
                c_string(offer.trans_type.as_str()),
                c_string(offer.short_desc.as_str()),
                c_string(offer.merchant.as_str()),
            ],
            offer.order_desc.as_deref().map(c_string),
        )
    }

    fn summary(&self) -> iotp_offer_summary {
        let [id, trans_type, short_desc, merchant] = &self.0;
        iotp_offer_summary {
            iotp_trans_id: id.as_ptr(),
            trans_type: trans_type.as_ptr(),
            short_desc: short_desc.as_ptr(),
            merchant: merchant.as_ptr(),
            order_desc: opt_ptr(&self.1),
        }
    }
}

impl ConsumerApp for CallbackConsumer {
    fn choose(
        &self,
        offer: &OfferSummary,
        direction: &PayDirection,
        options: &[PaymentOption],
    ) -> Option<usize> {
        let Some(choose) = self.choose else {
            return DefaultApp.choose(offer, direction, options);
        };
        let _running = self.gate.enter()?;
        let summary = SummaryText::new(offer);
        let direction = c_string(direction.as_str());
        let texts: Vec<[Option<CString>; 6]> = options
            .iter()
            .map(|o| {
                [
                    Some(c_string(o.brand_id.as_str())),
                    Some(c_string(o.protocol_id.as_str())),
                    Some(c_string(o.amount.as_str())),
                    Some(c_string(o.currency.as_str())),
                    o.instrument_id.as_deref().map(c_string),
                    o.instrument_name.as_deref().map(c_string),
                ]
            })
            .collect();
        let c_options: Vec<iotp_payment_option> = texts
            .iter()
            .map(
                |[brand, protocol, amount, currency, id, name]| iotp_payment_option {
                    brand_id: opt_ptr(brand),
                    protocol_id: opt_ptr(protocol),
                    amount: opt_ptr(amount),
                    currency: opt_ptr(currency),
                    instrument_id: opt_ptr(id),
                    instrument_name: opt_ptr(name),
                },
            )
            .collect();
        let mut choice = usize::MAX;
        let c_summary = summary.summary();
        // SAFETY: the application gave this function for this signature
        // (`iotp_node_config_set_consumer_callbacks`); the summary, the direction, the
        // `options.len()` options with their strings and `choice` are valid for the call; the
        // node has not been freed (the gate is open).
        let chose = unsafe {
            choose(
                self.userdata.get(),
                &c_summary,
                direction.as_ptr(),
                c_options.as_ptr(),
                c_options.len(),
                &mut choice,
            )
        };
        (chose && choice < options.len()).then_some(choice)
    }

    fn approve(&self, offer: &OfferSummary) -> bool {
        let Some(approve) = self.approve else {
            return DefaultApp.approve(offer);
        };
        let Some(_running) = self.gate.enter() else {
            return false;
        };
        let summary = SummaryText::new(offer);
        let c_summary = summary.summary();
        // SAFETY: the application gave this function for this signature
        // (`iotp_node_config_set_consumer_callbacks`); the summary and its strings are valid
        // for the call; the node has not been freed (the gate is open).
        unsafe { approve(self.userdata.get(), &c_summary) }
    }
}
