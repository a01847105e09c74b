//! Nodes: a configuration ([`iotp_node_config`]) with the application's callbacks, the running
//! node ([`iotp_node`]), and what it reports about a transaction ([`iotp_transaction`]).
//!
//! The callbacks are the runtime's application traits ([`OfferSource`], [`DeliveryApp`],
//! [`ConsumerApp`]) and its [`LogSink`], each implemented here by calling a C function pointer
//! with the `userdata` the application gave.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use iotp::msg::codes::{CompletionCode, PayDirection, TradingRole, TransactionType};
use iotp::txn::config::Address;
use iotp::txn::{
    ConsumerApp, DefaultApp, DeliveryApp, DeliveryOffer, DeliveryRequest, DeliveryResult, EndKind,
    Offer, OfferSummary, PaymentOffer, PaymentOption, TransactionOutcome,
};
use iotp_plugin_host::LogLevel;
use iotp_runtime::{LogSink, Node, NodeApps, NodeConfig, OfferSource};

use crate::handle::{
    Handle, borrow, borrow_mut, bytes_arg, c_string, free, guard, guard_or, into_c, lend, opt_ptr,
    opt_str_arg, out_arg, str_arg, write_out,
};
use crate::message::iotp_bytes;
use crate::result::{Failure, handle_failure, iotp_result};

// ---------------------------------------------------------------------------------------------
// Callbacks

/// The `userdata` pointer an application gives with a callback, handed back to it unchanged.
#[derive(Debug, Clone, Copy)]
struct Userdata(*mut c_void);

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
struct Callbacks {
    offer: Option<(OfferFn, Userdata)>,
    delivery: Option<(DeliveryFn, Userdata)>,
    consumer: Option<(Option<ChooseFn>, Option<ApproveFn>, Userdata)>,
    log: Option<(LogFn, Userdata)>,
}

impl Callbacks {
    /// The runtime's applications for one node.
    fn apps(&self, gate: &Arc<Gate>) -> NodeApps {
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

// ---------------------------------------------------------------------------------------------
// Offers (lent to the offer callback)

/// The offer being described in an offer callback. Lent by the library for the duration of
/// the callback only; never freed by the application. Starts as a BaselinePurchase, brand
/// independent, valid for an hour, with nothing else set.
pub struct iotp_offer {
    offer: Offer,
}

impl std::fmt::Debug for iotp_offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.offer.fmt(f)
    }
}

impl Handle for iotp_offer {
    const KIND: &'static str = "iotp_offer";
}

impl iotp_offer {
    fn new() -> iotp_offer {
        iotp_offer {
            offer: Offer {
                trans_type: TransactionType::BaselinePurchase.to_string(),
                brand_dependent: false,
                authenticate_first: false,
                short_desc: String::new(),
                order_identifier: String::new(),
                order_desc: String::new(),
                applicable_law: String::new(),
                consumer_org_id: String::new(),
                consumer_name: String::new(),
                deliver_to: None,
                payments: Vec::new(),
                delivery: None,
                valid_for_secs: 3600,
                related_trans_id: None,
            },
        }
    }
}

/// Runs a setter on the offer behind `offer`.
fn with_offer(
    offer: *mut iotp_offer,
    set: impl FnOnce(&mut Offer) -> Result<(), Failure>,
) -> iotp_result {
    guard(|| set(&mut borrow_mut(offer, "offer")?.offer))
}

fn invalid(detail: String) -> Failure {
    Failure::new(iotp_result::InvalidParameter, detail)
}

/// Sets the transaction type: `BaselinePurchase` (the default), `BaselineRefund`,
/// `BaselineDeposit`, `BaselineWithdrawal`, `BaselineValueExchange` or
/// `BaselineAuthentication`.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_trans_type(
    offer: *mut iotp_offer,
    trans_type: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let text = str_arg(trans_type, "trans_type")?;
        let known = [
            TransactionType::BaselinePurchase,
            TransactionType::BaselineRefund,
            TransactionType::BaselineDeposit,
            TransactionType::BaselineWithdrawal,
            TransactionType::BaselineValueExchange,
            TransactionType::BaselineAuthentication,
        ];
        if !known.contains(&TransactionType::from_wire(text)) {
            return Err(invalid(format!(
                "{text:?} is not a transaction an offer starts"
            )));
        }
        o.trans_type = text.to_owned();
        Ok(())
    })
}

/// Sets the order: its identifier (`Order/@OrderIdentifier`, unique per order) and its
/// description (`Order/@ShortDesc`), which is also the offer's short description
/// (`ProtocolOptions/@ShortDesc`) unless `iotp_offer_set_short_desc` sets another.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_order(
    offer: *mut iotp_offer,
    identifier: *const c_char,
    description: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let identifier = str_arg(identifier, "identifier")?;
        let description = str_arg(description, "description")?;
        if identifier.is_empty() {
            return Err(invalid("identifier is empty".into()));
        }
        o.order_identifier = identifier.to_owned();
        o.order_desc = description.to_owned();
        if o.short_desc.is_empty() {
            o.short_desc = description.to_owned();
        }
        Ok(())
    })
}

/// Sets the offer's short description (`ProtocolOptions/@ShortDesc`).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_short_desc(
    offer: *mut iotp_offer,
    short_desc: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.short_desc = str_arg(short_desc, "short_desc")?.to_owned();
        Ok(())
    })
}

/// Sets the law that applies to the order (`Order/@ApplicableLaw`).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_applicable_law(
    offer: *mut iotp_offer,
    applicable_law: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.applicable_law = str_arg(applicable_law, "applicable_law")?.to_owned();
        Ok(())
    })
}

/// Sets the Consumer as the Merchant knows it: its `OrgId` (`Consumer:...`) and display name.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_consumer(
    offer: *mut iotp_offer,
    org_id: *const c_char,
    name: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.consumer_org_id = str_arg(org_id, "org_id")?.to_owned();
        o.consumer_name = str_arg(name, "name")?.to_owned();
        Ok(())
    })
}

/// Brand dependent (TPO, then TPO Selection, then Offer Response) or brand independent (the
/// default: TPO and Offer Response together), §9.1.2.
///
/// Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_brand_dependent(
    offer: *mut iotp_offer,
    brand_dependent: bool,
) -> iotp_result {
    with_offer(offer, |o| {
        o.brand_dependent = brand_dependent;
        Ok(())
    })
}

/// Runs an Authentication Document Exchange first (§9.1.13) when true (default false).
///
/// Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_authenticate_first(
    offer: *mut iotp_offer,
    authenticate_first: bool,
) -> iotp_result {
    with_offer(offer, |o| {
        o.authenticate_first = authenticate_first;
        Ok(())
    })
}

/// How long the offer is good for, in seconds (default 3600; must be positive).
///
/// Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_valid_for(offer: *mut iotp_offer, seconds: i64) -> iotp_result {
    with_offer(offer, |o| {
        if seconds <= 0 {
            return Err(invalid(format!("{seconds} seconds is not positive")));
        }
        o.valid_for_secs = seconds;
        Ok(())
    })
}

/// Adds a payment: `direction` `Debit` (the Consumer pays) or `Credit` (the Consumer is
/// paid), an ISO 4217 `currency`, a decimal `amount` in major units (`39.90`), and the Brand
/// List's `short_desc`. One payment, or two for a value exchange (in order).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_add_payment(
    offer: *mut iotp_offer,
    direction: *const c_char,
    currency: *const c_char,
    amount: *const c_char,
    short_desc: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let direction = str_arg(direction, "direction")?;
        if matches!(PayDirection::from_wire(direction), PayDirection::Other(_)) {
            return Err(invalid(format!(
                "direction {direction:?} is not Debit or Credit"
            )));
        }
        o.payments.push(PaymentOffer {
            direction: direction.to_owned(),
            currency: str_arg(currency, "currency")?.to_owned(),
            amount: str_arg(amount, "amount")?.to_owned(),
            short_desc: str_arg(short_desc, "short_desc")?.to_owned(),
        });
        Ok(())
    })
}

/// Sets the delivery (purchases only): the method (`Post`, `Web`, `Email`), whether the
/// Payment Handler answers with the Delivery Response too (§9.1.5: Merchant, Payment Handler
/// and Delivery Handler are then one organisation), and what is delivered.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_delivery(
    offer: *mut iotp_offer,
    method: *const c_char,
    deliv_and_pay_resp: bool,
    description: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.delivery = Some(DeliveryOffer {
            method: str_arg(method, "method")?.to_owned(),
            deliv_and_pay_resp,
            description: str_arg(description, "description")?.to_owned(),
        });
        Ok(())
    })
}

/// Sets where the goods go (the DelivTo postal address, needed for delivery by Post). Every
/// part may be NULL.
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_deliver_to(
    offer: *mut iotp_offer,
    address_line1: *const c_char,
    city_or_town: *const c_char,
    state_or_region: *const c_char,
    postal_code: *const c_char,
    country: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        let part = |p, name| opt_str_arg(p, name).map(|s| s.map(str::to_owned));
        o.deliver_to = Some(Address {
            address_line1: part(address_line1, "address_line1")?,
            city_or_town: part(city_or_town, "city_or_town")?,
            state_or_region: part(state_or_region, "state_or_region")?,
            postal_code: part(postal_code, "postal_code")?,
            country: part(country, "country")?,
        });
        Ok(())
    })
}

/// For a refund: the `IotpTransId` of the purchase refunded (a RelatedTo component, §3.3.3).
///
/// Ownership: strings are copied. Thread safety: only inside the offer callback, on its thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_offer_set_related_transaction(
    offer: *mut iotp_offer,
    iotp_trans_id: *const c_char,
) -> iotp_result {
    with_offer(offer, |o| {
        o.related_trans_id = Some(str_arg(iotp_trans_id, "iotp_trans_id")?.to_owned());
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Delivery results (lent to the delivery callback)

/// The outcome of a delivery, set in a delivery callback. Lent by the library for the duration
/// of the callback only; never freed by the application.
#[derive(Debug)]
pub struct iotp_delivery_result {
    result: DeliveryResult,
}

impl Handle for iotp_delivery_result {
    const KIND: &'static str = "iotp_delivery_result";
}

/// Says how the delivery went: `ok` (CompletedOk) or not (Failed), the completion code
/// (§7.16.3: `Shipped`, `ShipPending`, `PermNotAvail`, `Unspecified`, ...), the Delivery
/// Handler's id for it (a tracking number) and the Delivery Note for the Consumer. A NULL
/// string keeps the default's.
///
/// Ownership: strings are copied. Thread safety: only inside the delivery callback, on its
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_delivery_result_set(
    result: *mut iotp_delivery_result,
    ok: bool,
    completion_code: *const c_char,
    deliv_handler_deliv_id: *const c_char,
    note: *const c_char,
) -> iotp_result {
    guard(|| {
        let result = &mut borrow_mut(result, "result")?.result;
        let code = opt_str_arg(completion_code, "completion_code")?;
        let id = opt_str_arg(deliv_handler_deliv_id, "deliv_handler_deliv_id")?;
        let note = opt_str_arg(note, "note")?;
        result.ok = ok;
        if let Some(code) = code {
            result.completion_code = CompletionCode::from_wire(code);
        }
        if let Some(id) = id {
            result.deliv_handler_deliv_id = id.to_owned();
        }
        if let Some(note) = note {
            result.note = note.to_owned();
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Node configurations

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

// ---------------------------------------------------------------------------------------------
// Transactions

/// How a transaction ended at a node.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iotp_end {
    /// Not ended yet.
    Running = 0,
    /// The role's part completed (CompletedOk).
    Completed = 1,
    /// A business failure (Failed, with a completion code): a declined payment.
    Failed = 2,
    /// Cancelled by either side.
    Cancelled = 3,
    /// A HardError was sent or received.
    HardError = 4,
    /// No answer within the retransmission limits.
    TimedOut = 5,
}

impl From<EndKind> for iotp_end {
    fn from(kind: EndKind) -> iotp_end {
        match kind {
            EndKind::Completed => iotp_end::Completed,
            EndKind::Failed => iotp_end::Failed,
            EndKind::Cancelled => iotp_end::Cancelled,
            EndKind::HardError => iotp_end::HardError,
            EndKind::TimedOut => iotp_end::TimedOut,
        }
    }
}

/// A transaction at a node: how it stands or ended, and the payment receipts the Consumer
/// received.
///
/// Made by `iotp_node_pay` or `iotp_node_transaction`, released by `iotp_transaction_free`.
/// Immutable (a snapshot): may be read from several threads at once.
#[derive(Debug)]
pub struct iotp_transaction {
    id: CString,
    trans_type: Option<CString>,
    role: CString,
    phase: CString,
    end: iotp_end,
    process_state: Option<CString>,
    completion_code: Option<CString>,
    next_net_locn: Option<CString>,
    receipts: Vec<ReceiptText>,
}

impl Handle for iotp_transaction {
    const KIND: &'static str = "iotp_transaction";
}

#[derive(Debug)]
struct ReceiptText {
    payment_ref: CString,
    process_reference: Option<CString>,
    parts: Vec<(Option<CString>, CString)>,
}

impl iotp_transaction {
    fn from_outcome(o: &TransactionOutcome) -> iotp_transaction {
        iotp_transaction {
            id: c_string(o.iotp_trans_id.as_str()),
            trans_type: Some(c_string(o.trans_type.as_str())),
            role: c_string(o.role.as_str()),
            phase: c_string(format!("{:?}", iotp::txn::Phase::Done)),
            end: o.kind.into(),
            process_state: Some(c_string(o.process_state.as_str())),
            completion_code: o.completion_code.as_ref().map(|c| c_string(c.as_str())),
            next_net_locn: o.next_net_locn.as_deref().map(c_string),
            receipts: o
                .receipts
                .iter()
                .map(|r| ReceiptText {
                    payment_ref: c_string(r.payment_ref.as_str()),
                    process_reference: r.process_reference.as_deref().map(c_string),
                    parts: r
                        .parts
                        .iter()
                        .map(|(name, text)| {
                            (name.as_deref().map(c_string), c_string(text.as_str()))
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn from_state(
        id: &str,
        role: &TradingRole,
        (phase, ended): (iotp::txn::Phase, Option<iotp::txn::EndState>),
    ) -> iotp_transaction {
        let (end, process_state, completion_code) = match ended {
            Some((kind, state, code)) => (
                kind.into(),
                Some(c_string(state.as_str())),
                code.map(|c| c_string(c.as_str())),
            ),
            None => (iotp_end::Running, None, None),
        };
        iotp_transaction {
            id: c_string(id),
            trans_type: None,
            role: c_string(role.as_str()),
            phase: c_string(format!("{phase:?}")),
            end,
            process_state,
            completion_code,
            next_net_locn: None,
            receipts: Vec::new(),
        }
    }
}

/// One payment receipt (RFC 2801 §7.10: what the Payment Handler's scheme says was paid).
/// Strings are borrowed from the transaction.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_receipt {
    /// The Payment component it belongs to (its ID).
    pub payment_ref: *const c_char,
    /// The Payment Handler's id for the payment (`Status/@ProcessReference`), or NULL.
    pub process_reference: *const c_char,
    /// The number of parts (`iotp_transaction_receipt_part`).
    pub part_count: usize,
}

/// One part of a receipt (its PackagedContent). Strings are borrowed from the transaction.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iotp_receipt_part {
    /// The part's name (`PackagedContent/@Name`), or NULL.
    pub name: *const c_char,
    /// The part's text.
    pub text: *const c_char,
}

fn transaction<'a>(t: *const iotp_transaction) -> Result<&'a iotp_transaction, Failure> {
    borrow(t, "transaction")
}

/// Releases a transaction and every string borrowed from it. NULL does nothing; a pointer
/// that is not a live transaction is refused.
///
/// Thread safety: no other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_free(transaction: *mut iotp_transaction) -> iotp_result {
    guard(|| free(transaction, "transaction"))
}

/// The transaction's `IotpTransId`; NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_id(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(self::transaction(transaction)?.id.as_ptr())
    })
}

/// The transaction type (`BaselinePurchase`, ...), or NULL when not known (from
/// `iotp_node_transaction`).
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_type(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.trans_type))
    })
}

/// The role this node plays in it (`Consumer`, `Merchant`, ...); NULL for a NULL or dead
/// handle.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_role(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(self::transaction(transaction)?.role.as_ptr())
    })
}

/// Where the role stands: `Done` once its part is over, otherwise what it waits for
/// (`AwaitPayment`, `OfferDone`, ...); NULL for a NULL or dead handle.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_phase(transaction: *const iotp_transaction) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(self::transaction(transaction)?.phase.as_ptr())
    })
}

/// How the transaction ended (IOTP_END_RUNNING while it runs, and for a NULL or dead
/// handle).
///
/// Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_end(transaction: *const iotp_transaction) -> iotp_end {
    guard_or(
        iotp_end::Running,
        || Ok(self::transaction(transaction)?.end),
    )
}

/// The final ProcessState (`CompletedOk`, `Failed`, `ProcessError`), or NULL while it runs.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_process_state(
    transaction: *const iotp_transaction,
) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.process_state))
    })
}

/// The CompletionCode (§7.16.4: `InsuffFunds`, `ConsCancelled`, ...), or NULL when none.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_completion_code(
    transaction: *const iotp_transaction,
) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.completion_code))
    })
}

/// For the Consumer: where to go now (the Merchant's SuccessNetLocn, CancelNetLocn or
/// ErrorNetLocn), or NULL.
///
/// Ownership: borrowed, valid until `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_next_net_locn(
    transaction: *const iotp_transaction,
) -> *const c_char {
    guard_or(std::ptr::null(), || {
        Ok(opt_ptr(&self::transaction(transaction)?.next_net_locn))
    })
}

/// The number of payment receipts (the Consumer's, from `iotp_node_pay`); 0 otherwise and for
/// a NULL or dead handle.
///
/// Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_receipt_count(transaction: *const iotp_transaction) -> usize {
    guard_or(0, || Ok(self::transaction(transaction)?.receipts.len()))
}

fn receipt_at(t: &iotp_transaction, index: usize) -> Result<&ReceiptText, Failure> {
    t.receipts.get(index).ok_or_else(|| {
        Failure::new(
            iotp_result::IndexOutOfRange,
            format!("receipt {index} of {}", t.receipts.len()),
        )
    })
}

/// Writes receipt `index` (0-based) to `*receipt_out`.
///
/// Ownership: its strings are borrowed from the transaction, valid until
/// `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_receipt(
    transaction: *const iotp_transaction,
    index: usize,
    receipt_out: *mut iotp_receipt,
) -> iotp_result {
    guard(|| {
        let t = self::transaction(transaction)?;
        out_arg(receipt_out, "receipt_out")?;
        let r = receipt_at(t, index)?;
        write_out(
            receipt_out,
            iotp_receipt {
                payment_ref: r.payment_ref.as_ptr(),
                process_reference: opt_ptr(&r.process_reference),
                part_count: r.parts.len(),
            },
        );
        Ok(())
    })
}

/// Writes part `part` of receipt `receipt` to `*part_out`.
///
/// Ownership: its strings are borrowed from the transaction, valid until
/// `iotp_transaction_free`. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn iotp_transaction_receipt_part(
    transaction: *const iotp_transaction,
    receipt: usize,
    part: usize,
    part_out: *mut iotp_receipt_part,
) -> iotp_result {
    guard(|| {
        let t = self::transaction(transaction)?;
        out_arg(part_out, "part_out")?;
        let r = receipt_at(t, receipt)?;
        let (name, text) = r.parts.get(part).ok_or_else(|| {
            Failure::new(
                iotp_result::IndexOutOfRange,
                format!("part {part} of {} of receipt {receipt}", r.parts.len()),
            )
        })?;
        write_out(
            part_out,
            iotp_receipt_part {
                name: opt_ptr(name),
                text: text.as_ptr(),
            },
        );
        Ok(())
    })
}
