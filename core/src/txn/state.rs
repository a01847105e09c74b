//! A transaction as the engine holds it: its durable state and its messages.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::msg::IotpMessage;
use crate::msg::TradingBlock;
use crate::msg::codes::{CompletionCode, ProcessState, StatusType, TradingRole};
use crate::msg::model::*;
use crate::store::{StoredMessage, TransactionKey, TransactionRecord};

use super::app::Offer;

/// Where a transaction is, for the role holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Phase {
    /// Just created.
    #[default]
    New,
    /// Merchant: the Authentication Request is out; awaiting the Authentication Response.
    AuthRequested,
    /// Merchant: a brand-dependent TPO is out; awaiting the TPO Selection.
    AwaitSelection,
    /// Merchant: the Offer Response is out; payment expected.
    OfferDone,
    /// Consumer: the Authentication Response is out; awaiting the Authentication Status.
    AwaitAuthStatus,
    /// Consumer: the TPO Selection is out; awaiting the Offer Response.
    AwaitOffer,
    /// Consumer: a Payment Request or Payment Exchange is out.
    AwaitPayment,
    /// Consumer: the Delivery Request is out.
    AwaitDelivery,
    /// Payment Handler: a Payment Exchange is out; awaiting the Consumer's next one.
    Exchanging,
    /// The role's part is over.
    Done,
}

/// How a transaction ended at this role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndKind {
    /// The role's part completed (CompletedOk).
    Completed,
    /// A business failure (Failed with a completion code).
    Failed,
    /// Cancelled by either side (a Cancel Block).
    Cancelled,
    /// A HardError was sent or received.
    HardError,
    /// No answer within the retransmission limits, or the Consumer never came back.
    TimedOut,
}

/// The end of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// How.
    pub kind: EndKind,
    /// The final process state.
    pub process_state: String,
    /// The completion code, if any.
    pub completion_code: Option<String>,
}

/// A request awaiting its response, retransmitted until it comes (§4.5.4). The request itself
/// is the transaction's sent message with `message_id` ([`Txn::sent`]): its XML is kept once,
/// in the record's messages. (States written before it was kept there carry an `xml` field,
/// which is ignored: the same bytes are in the messages.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub to: String,
    pub message_id: String,
    pub transmissions: u32,
    pub next_at: i64,
    /// True when the request carried a payment: a time-out is then recoverable
    /// (`TimedOutRcvr`), since the payment may have been made.
    pub payment: bool,
}

/// A Status as last sent to (or received from) the Consumer, for Inquiry Responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedStatus {
    pub status_type: String,
    pub el_ref: Option<String>,
    pub process_state: String,
    pub completion_code: Option<String>,
    pub process_reference: Option<String>,
}

impl SavedStatus {
    pub(crate) fn of(s: &Status) -> Self {
        SavedStatus {
            status_type: s.status_type.to_string(),
            el_ref: s.el_ref.clone(),
            process_state: s.process_state.to_string(),
            completion_code: s.completion_code.as_ref().map(ToString::to_string),
            process_reference: s.process_reference.clone(),
        }
    }
}

/// The payment this role is working on with a bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayContext {
    /// The bridge's software id.
    pub bridge: String,
    /// This role's PayId (ConsumerPayId or PaymentHandlerPayId).
    pub pay_id: String,
    /// The Payment component's ID.
    pub payment_ref: String,
    /// The peer's PayId, when known.
    pub peer_pay_id: Option<String>,
}

/// The Consumer's choice for one Brand List.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub brand_list_ref: String,
    pub brand_ref: String,
    pub protocol_amount_ref: String,
    pub currency_amount_ref: String,
    pub bridge: String,
    pub instrument_id: Option<String>,
    /// The Brand Selection sent in a TPO Selection (brand dependent), by ID.
    pub selection_id: Option<String>,
}

/// The engine's durable state of one transaction at one role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnState {
    pub trans_type: String,
    /// This role's `IotpMsgIdPrefix`.
    pub prefix: String,
    /// The last message number used with `prefix`.
    pub seq: u32,
    /// The last number used for Inquiry and Ping messages (`I`/`Q` prefixes).
    pub aux_seq: u32,
    pub phase: Phase,
    pub ended: Option<Ended>,
    pub pending: Option<Pending>,
    /// A server role's idle deadline.
    pub deadline: Option<i64>,
    pub last_status: Option<SavedStatus>,
    /// Last message received from / sent to the Consumer (for Inquiry Responses).
    pub last_received: Option<String>,
    pub last_sent: Option<String>,
    /// Merchant: the offer.
    pub offer: Option<Offer>,
    pub payment: Option<PayContext>,
    /// Consumer: the Payment components paid, in order.
    pub payments_done: Vec<String>,
    pub choices: Vec<Choice>,
    /// Payment Handler: a local cancel waiting for the Consumer's next message.
    pub cancel_requested: Option<String>,
    /// An Error or Cancel Block was received (never answer another with an error).
    pub error_received: bool,
    /// Authentication succeeded (Merchant as authenticator).
    pub authenticated: bool,
    /// The Merchant's `SuccessNetLocn`, the place the Consumer goes after a success.
    pub success_net_locn: Option<String>,
    /// Consumer: the net location of the last request sent (where the current exchange
    /// continues, and where technical errors about the peer's messages go).
    pub peer: Option<String>,
}

/// A message of the transaction, parsed.
#[derive(Debug, Clone)]
pub struct Logged {
    pub sent: bool,
    pub msg: Arc<IotpMessage>,
    pub xml: Arc<str>,
}

/// A live transaction.
#[derive(Debug, Clone)]
pub struct Txn {
    pub key: TransactionKey,
    pub st: TxnState,
    pub msgs: Vec<Logged>,
}

impl Txn {
    pub(crate) fn new(
        iotp_trans_id: &str,
        role: &TradingRole,
        trans_type: &str,
        prefix: &str,
    ) -> Self {
        Txn {
            key: TransactionKey {
                iotp_trans_id: iotp_trans_id.into(),
                role: role.to_string(),
            },
            st: TxnState {
                trans_type: trans_type.into(),
                prefix: prefix.into(),
                ..TxnState::default()
            },
            msgs: Vec::new(),
        }
    }

    pub(crate) fn role(&self) -> TradingRole {
        TradingRole::from_wire(&self.key.role)
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.st.ended.is_some()
    }

    /// Ignored per §4.5.2.3: a HardError or a Cancel ended it.
    pub(crate) fn is_dead(&self) -> bool {
        matches!(
            self.st.ended.as_ref().map(|e| e.kind),
            Some(EndKind::HardError | EndKind::Cancelled)
        )
    }

    pub(crate) fn end(&mut self, kind: EndKind, state: ProcessState, code: Option<CompletionCode>) {
        if self.st.ended.is_none() {
            self.st.ended = Some(Ended {
                kind,
                process_state: state.to_string(),
                completion_code: code.map(|c| c.to_string()),
            });
        }
        self.st.pending = None;
        self.st.deadline = None;
        if kind != EndKind::Completed {
            self.st.phase = Phase::Done;
        }
    }

    /// The next message ID of this role (`M1`, `M2`, …).
    pub(crate) fn next_msg_id(&mut self) -> String {
        self.st.seq += 1;
        format!("{}{}", self.st.prefix, self.st.seq)
    }

    /// The TransId component of the transaction.
    pub(crate) fn trans_id(&self) -> Option<&TransactionId> {
        self.msgs.first().map(|l| &l.msg.trans_ref.transaction_id)
    }

    /// Every trading block of the transaction, newest message first.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &TradingBlock> {
        self.msgs.iter().rev().flat_map(|l| l.msg.blocks.iter())
    }

    pub(crate) fn tpo(&self) -> Option<&TradingProtocolOptionsBlock> {
        // The TPO with Brand Lists (after an authentication there may be two TPOs).
        let mut any = None;
        for b in self.blocks() {
            if let TradingBlock::TradingProtocolOptions(t) = b {
                if !t.brand_lists.is_empty() {
                    return Some(t);
                }
                any.get_or_insert(t);
            }
        }
        any
    }

    /// What an Offer Status refers to: the Order, or the TPO before there is one.
    pub(crate) fn offer_el_ref(&self) -> Option<String> {
        self.offer_response()
            .and_then(|o| o.order.as_ref().map(|o| o.id.clone()))
            .or_else(|| self.tpo().map(|t| t.id.clone()))
    }

    pub(crate) fn offer_response(&self) -> Option<&OfferResponseBlock> {
        self.blocks().find_map(|b| match b {
            TradingBlock::OfferResponse(o) => Some(o),
            _ => None,
        })
    }

    pub(crate) fn organisations(&self) -> impl Iterator<Item = &Organisation> {
        self.blocks()
            .flat_map(|b| -> Box<dyn Iterator<Item = &Organisation> + '_> {
                match b {
                    TradingBlock::TradingProtocolOptions(t) => Box::new(t.organisations.iter()),
                    TradingBlock::PaymentRequest(p) => Box::new(p.organisations.iter()),
                    TradingBlock::DeliveryRequest(d) => Box::new(d.organisations.iter()),
                    TradingBlock::AuthenticationResponse(a) => Box::new(a.organisations.iter()),
                    _ => Box::new(std::iter::empty()),
                }
            })
    }

    pub(crate) fn org_by_id(&self, id: &str) -> Option<&Organisation> {
        self.organisations().find(|o| o.id == id)
    }

    pub(crate) fn org_with_role(&self, role: &TradingRole) -> Option<&Organisation> {
        self.organisations()
            .find(|o| o.trading_roles.iter().any(|r| &r.trading_role == role))
    }

    pub(crate) fn brand_list(&self, id: &str) -> Option<&BrandList> {
        self.blocks().find_map(|b| match b {
            TradingBlock::TradingProtocolOptions(t) => t.brand_lists.iter().find(|l| l.id == id),
            TradingBlock::PaymentRequest(p) if p.brand_list.id == id => Some(&p.brand_list),
            _ => None,
        })
    }

    /// The PayProtocol of the Consumer's choice for a Brand List.
    pub(crate) fn chosen_pay_protocol(&self, brand_list_ref: &str) -> Option<&PaymentProtocol> {
        let c = self
            .st
            .choices
            .iter()
            .find(|c| c.brand_list_ref == brand_list_ref)?;
        let list = self.brand_list(brand_list_ref)?;
        let pa = list
            .protocol_amounts
            .iter()
            .find(|p| p.id == c.protocol_amount_ref)?;
        list.pay_protocols
            .iter()
            .find(|p| p.id == pa.pay_protocol_ref)
    }

    pub(crate) fn payment_response_status(&self, payment_ref: &str) -> Option<&Status> {
        self.blocks().find_map(|b| match b {
            TradingBlock::PaymentResponse(p) if p.status.el_ref.as_deref() == Some(payment_ref) => {
                Some(&p.status)
            }
            _ => None,
        })
    }

    pub(crate) fn log(&mut self, sent: bool, msg: IotpMessage, xml: Arc<str>) {
        if sent {
            self.st.last_sent = Some(msg.message_id().to_owned());
        } else {
            self.st.last_received = Some(msg.message_id().to_owned());
        }
        self.msgs.push(Logged {
            sent,
            msg: Arc::new(msg),
            xml,
        });
    }

    pub(crate) fn wake_at(&self) -> Option<i64> {
        if self.is_ended() {
            return None;
        }
        match (
            self.st.pending.as_ref().map(|p| p.next_at),
            self.st.deadline,
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn to_record(&self) -> TransactionRecord {
        let payment_handler = self.role() == TradingRole::PaymentHandler;
        TransactionRecord {
            key: self.key.clone(),
            state: serde_json::to_string(&self.st).unwrap_or_default(),
            messages: self
                .msgs
                .iter()
                .map(|l| StoredMessage {
                    sent: l.sent,
                    message_id: l.msg.message_id().to_owned(),
                    xml: if payment_handler && !l.sent {
                        without_payment_data(l)
                    } else {
                        l.xml.clone()
                    },
                })
                .collect(),
            wake_at: self.wake_at(),
            finished: self.is_ended(),
        }
    }

    /// Rebuilds a transaction from its record; `None` when the record is damaged.
    pub(crate) fn from_record(record: &TransactionRecord) -> Option<Self> {
        let st: TxnState = serde_json::from_str(&record.state).ok()?;
        let mut msgs = Vec::with_capacity(record.messages.len());
        for m in &record.messages {
            let msg = IotpMessage::from_xml(m.xml.as_bytes()).ok()?;
            msgs.push(Logged {
                sent: m.sent,
                msg: Arc::new(msg),
                xml: m.xml.clone(),
            });
        }
        let txn = Txn {
            key: record.key.clone(),
            st,
            msgs,
        };
        // A request awaiting its response must be there to send again.
        if let Some(p) = &txn.st.pending
            && txn.sent(&p.message_id).is_none()
        {
            return None;
        }
        Some(txn)
    }

    /// The message this role sent with this `MsgId/@ID`.
    pub(crate) fn sent(&self, message_id: &str) -> Option<&Logged> {
        self.msgs
            .iter()
            .rev()
            .find(|l| l.sent && l.msg.message_id() == message_id)
    }
}

/// What a Payment Handler keeps of a message it received: the Consumer's payment data, the
/// PackagedContent of the PaySchemeData of a Payment Request or Payment Exchange (a card
/// number and its verification value with SCCD), is left out: the payment scheme has had it
/// and keeps what it needs itself (RFC 3867 §2: the bridge owns its payment state), and card
/// data must not be written anywhere else (PCI DSS). Each PackagedContent keeps its Name,
/// Content and Transform, with no data. Signatures over the message no longer verify on the
/// stored copy; they were checked when it arrived. A retransmission is answered from the
/// replay cache, which keeps responses only.
fn without_payment_data(l: &Logged) -> Arc<str> {
    let carries = l.msg.blocks.iter().any(|b| match b {
        TradingBlock::PaymentRequest(p) => p.pay_scheme_data.is_some(),
        TradingBlock::PaymentExchange(_) => true,
        _ => false,
    });
    if !carries {
        return l.xml.clone();
    }
    if let Some(xml) = blank_in_text(l) {
        return xml.into();
    }
    blanked_message(l)
}

/// [`without_payment_data`] on the logged text itself, the message's canonical form: the text of
/// every PackagedContent of the Payment Request's or Payment Exchange's PaySchemeData is taken
/// out, which is what writing the message again with empty data makes. `None` (the message is
/// then written again) unless the text holds exactly the PaySchemeData and PackagedContent
/// elements of those blocks, no other, each written as the writer writes it.
pub(super) fn blank_in_text(l: &Logged) -> Option<String> {
    let (mut schemes, mut contents) = (0, 0);
    for b in &l.msg.blocks {
        let data: &[PaymentSchemeData] = match b {
            TradingBlock::PaymentRequest(p) => p.pay_scheme_data.as_slice(),
            TradingBlock::PaymentExchange(x) => &x.pay_scheme_data,
            _ => continue,
        };
        schemes += data.len();
        contents += data
            .iter()
            .map(|d| d.packaged_contents.len())
            .sum::<usize>();
    }
    let xml = l.xml.as_bytes();
    let mut out = String::with_capacity(l.xml.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = find_start_tag(xml, from, finder(&PSD, b"PaySchemeData")) {
        schemes = schemes.checked_sub(1)?;
        let open_end = start_tag_end(xml, at)?;
        from = open_end + 1;
        if xml[open_end - 1] == b'/' {
            continue;
        }
        let close = from + finder(&PSD_END, b"</PaySchemeData>").find(&xml[from..])?;
        while let Some(pc) = find_start_tag(&xml[..close], from, finder(&PC, b"PackagedContent")) {
            contents = contents.checked_sub(1)?;
            let text = start_tag_end(xml, pc)? + 1;
            if xml[text - 2] == b'/' {
                return None;
            }
            let end = text + memchr::memchr(b'<', &xml[text..close])?;
            if !xml[end..].starts_with(b"</PackagedContent>") {
                return None;
            }
            out.push_str(l.xml.get(copied..text)?);
            copied = end;
            from = end;
        }
        from = close;
    }
    if schemes != 0 || contents != 0 {
        return None;
    }
    out.push_str(l.xml.get(copied..)?);
    Some(out)
}

type Finder = memchr::memmem::Finder<'static>;
static PSD: OnceLock<Finder> = OnceLock::new();
static PSD_END: OnceLock<Finder> = OnceLock::new();
static PC: OnceLock<Finder> = OnceLock::new();

/// A searcher for `needle`, made once (making one costs more than a search of a message).
fn finder(cell: &'static OnceLock<Finder>, needle: &'static [u8]) -> &'static Finder {
    cell.get_or_init(|| Finder::new(needle))
}

/// Where the next start tag (or empty-element tag) named as `name` finds begins in `xml`,
/// from `from`.
fn find_start_tag(xml: &[u8], mut from: usize, name: &Finder) -> Option<usize> {
    let name_len = name.needle().len();
    loop {
        let at = from + name.find(xml.get(from..)?)?;
        let after = xml.get(at + name_len).copied();
        if at > 0
            && xml[at - 1] == b'<'
            && matches!(after, Some(b' ' | b'>' | b'/' | b'\t' | b'\n' | b'\r'))
        {
            return Some(at - 1);
        }
        from = at + name_len;
    }
}

/// The index of the `>` that ends the tag beginning at `at`, past quoted attribute values.
fn start_tag_end(xml: &[u8], at: usize) -> Option<usize> {
    crate::xml::reader::tag_end(xml.get(at..)?).map(|i| at + i)
}

/// [`without_payment_data`] by writing the message again with the data left out.
pub(super) fn blanked_message(l: &Logged) -> Arc<str> {
    let blank = |psd: &mut PaymentSchemeData| {
        for pc in &mut psd.packaged_contents {
            pc.data.clear();
        }
    };
    let mut msg = (*l.msg).clone();
    for b in &mut msg.blocks {
        match b {
            TradingBlock::PaymentRequest(p) => p.pay_scheme_data.iter_mut().for_each(blank),
            TradingBlock::PaymentExchange(x) => x.pay_scheme_data.iter_mut().for_each(blank),
            _ => {}
        }
    }
    msg.to_xml().into()
}

/// The exchange a Status or Cancel is about, from the phase.
pub(crate) fn exchange_of(phase: Phase) -> StatusType {
    match phase {
        Phase::AuthRequested | Phase::AwaitAuthStatus => StatusType::Authentication,
        Phase::AwaitSelection | Phase::AwaitOffer | Phase::OfferDone | Phase::New => {
            StatusType::Offer
        }
        Phase::AwaitPayment | Phase::Exchanging => StatusType::Payment,
        Phase::AwaitDelivery => StatusType::Delivery,
        Phase::Done => StatusType::Offer,
    }
}
