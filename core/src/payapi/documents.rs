//! The document form of the Payment API (RFC 3867 §3–§5): every call as an
//! `IotpPaymentApiRequest` and its answer as an `IotpPaymentApiResponse`. This is the wire
//! format of the plugin ABI: a plugin receives a request document and returns a response
//! document.
//!
//! Element and attribute names are those of RFC 3867 §4. The writer uses the spellings of
//! `related-specs.md` §1.7 (`CheckPaymentPossibility`, `WalletID`, RFC 2801's completion codes
//! such as `PaymtCancelled`); the reader also accepts the RFC's misspellings
//! (`CheckPaymentPossiblity`, `WalletId`, `PaymCancelled`, `AttValInvalid`), extra whitespace,
//! unknown attributes and unknown child elements, and children in any order.
//!
//! PackagedContent travels renamed by where it comes from (RFC 3867 Table 4, `related-specs.md`
//! §1.5): `BrandPackagedContent`, `ProtocolBrand` (`ProtocolBrandId` and `PackagedContent`
//! children), `ProtocolAmountPackagedContent`, `PayProtocolPackagedContent`,
//! `OrderPackagedContent`, the three `BrandSel…PackagedContent`, `TradingRoleDataPackagedContent`,
//! `PaySchemePackagedContent`, `AuthReq`/`AuthResPackagedContent` and `MerchantData`; each carries
//! the `Name`, `Content` and `Transform` attributes of RFC 2801 §3.7.
//!
//! **Secrets.** The pass phrase travels as the `Passphrase` attribute, as the RFC has it. So a
//! host must never log request or response documents (log the call name and the error code
//! instead) and must keep them in memory only; `ApiRequest`'s `Debug` output redacts the pass
//! phrase ([`WalletAccess`]'s `Debug`).
//!
//! **Extensions** (where the typed API holds more than RFC 3867's DTD; a reader of the plain RFC
//! ignores them):
//! - `ContinueProcess/@ErrorSeverity="HardError"`: the scheme data came in an Error Block with a
//!   HardError ([`ContinueProcess::from_hard_error`]); the RFC requires the bridge to answer `End`
//!   then but gives it no way to know.
//! - `PercentComplete` on `CheckAuthResponseResponse` and `InquirePaymentStatusResponse`,
//!   `PayDirection` on `CurrencyAmount`, and every part of [`OfferContent`] on the calls that
//!   carry one (the DTD lists a subset per call).
//! - `CallBackResponse` (whose ATTLIST the RFC leaves empty) has `CompletionCode` (a cancel
//!   request) and `Shutdown="True"`; both come with an `ErrorResponse` `BusError`, the RFC's way to
//!   ask for them.
//!
//! The root elements carry `xmlns` only: `xml:lang` and `ContentSoftwareID` of the root are not
//! written (the typed API has no place for them; a CallBack's `ContentSoftwareID` is on the
//! `CallBack` element) and are ignored on reading.
//!
//! Every document is read under the caller's [`Limits`] by the same bounded reader as
//! [`crate::xml::parse_tree`] (bounded size, depth and text, no DTD and no entities, the same
//! errors), but into a flat list of nodes borrowed from the document rather than a tree of
//! owned strings, which the typed decoders read; documents are written straight from the typed
//! values. Nothing here panics on any input.

use std::borrow::Cow;

use crate::msg::codes::{
    AlgorithmType, CompletionCode, ContentType, CurrCodeType, ErrorCode, PayDirection,
    ProcessState, Severity, Transform,
};
use crate::msg::model::{Algorithm, AlgorithmParameter, ErrorLocation, PackagedContent};
use crate::xml::reader::{Cursor, Item, Tag, prepare};
use crate::xml::writer::{DECLARATION, XmlWriter, escape_attribute, escape_text};
use crate::xml::{Limits, SyntaxError, XmlElement, XmlNode, same_name};

use super::*;

/// The namespace of the Payment API documents (RFC 3867 §3).
pub const NAMESPACE: &str = "http://www.iotp.org/2000/08/PaymentAPI";

const REQUEST_ROOT: &str = "IotpPaymentApiRequest";
const RESPONSE_ROOT: &str = "IotpPaymentApiResponse";

// ---------------------------------------------------------------------------------------------
// Reading: the document's elements, borrowed from it, with typed accessors that report RFC 3867
// errors

/// A document read into one flat list of nodes in document order, names and values borrowed
/// from the document (only expanded references and normalised values are owned). Each element
/// knows where its subtree ends, so that its children are found by skipping. This is all the
/// structure the typed decoders need: no generic tree of owned strings is built.
#[derive(Debug)]
struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    /// The attributes of every element, in document order; each element holds its range.
    attributes: Vec<(&'a str, Cow<'a, str>)>,
}

#[derive(Debug)]
enum Node<'a> {
    Element {
        name: &'a str,
        attributes: std::ops::Range<usize>,
        /// The index after the element's last descendant.
        end: usize,
    },
    /// Character data (a text, a CDATA section or an expanded reference: adjacent ones are not
    /// merged).
    Text(Cow<'a, str>),
}

impl<'a> Tree<'a> {
    /// Reads a whole document under the reader's limits and rules, as `parse_tree` does (the
    /// same errors, the first one met), into a [`Tree`]: with the fast tokenizer, and again
    /// with quick-xml when that gives up ([`Cursor::new_fast`]).
    fn read(src: &'a str, limits: &Limits) -> Result<Tree<'a>, SyntaxError> {
        // A node per ~64 bytes and an attribute per ~40 in the samples: rarely grown.
        let mut tree = Tree {
            nodes: Vec::with_capacity(src.len() / 64 + 4),
            attributes: Vec::with_capacity(src.len() / 32 + 4),
        };
        let mut cur = Cursor::new_fast(src, limits);
        match tree.fill(&mut cur) {
            Err(_) if cur.bailed() => {
                tree.nodes.clear();
                tree.attributes.clear();
                tree.fill(&mut Cursor::new(src, limits))?;
            }
            read => read?,
        }
        Ok(tree)
    }

    /// Reads the document's items from `cur` into the tree.
    fn fill(&mut self, cur: &mut Cursor<'a>) -> Result<(), SyntaxError> {
        let tree = self;
        // Room for the usual tag's attributes and depth.
        let mut scratch = Vec::with_capacity(16);
        let mut open = Vec::with_capacity(8);
        loop {
            match cur.next_item()? {
                Item::Start(tag) => {
                    tree.start(cur, &tag, &mut scratch, &mut open)?;
                    break;
                }
                Item::Eof => {
                    return Err(SyntaxError::NotWellFormed {
                        offset: 0,
                        reason: "no root element".into(),
                    });
                }
                _ => continue,
            }
        }
        while let Some(&parent) = open.last() {
            match cur.next_item()? {
                Item::Start(tag) => tree.start(cur, &tag, &mut scratch, &mut open)?,
                Item::Text(text) => tree.nodes.push(Node::Text(text)),
                Item::End | Item::Eof => {
                    open.pop();
                    let len = tree.nodes.len();
                    if let Some(Node::Element { end, .. }) = tree.nodes.get_mut(parent) {
                        *end = len;
                    }
                }
            }
        }
        match cur.next_item()? {
            Item::Eof => Ok(()),
            _ => Err(SyntaxError::NotWellFormed {
                offset: cur.offset,
                reason: "content after the root element".into(),
            }),
        }
    }

    fn start(
        &mut self,
        cur: &mut Cursor<'a>,
        tag: &Tag<'a>,
        scratch: &mut Vec<(&'a str, Cow<'a, str>)>,
        open: &mut Vec<usize>,
    ) -> Result<(), SyntaxError> {
        cur.attributes(tag, scratch)?;
        let first = self.attributes.len();
        self.attributes.append(scratch);
        let index = self.nodes.len();
        self.nodes.push(Node::Element {
            name: tag.name,
            attributes: first..self.attributes.len(),
            end: index + 1,
        });
        if !tag.empty {
            open.push(index);
        }
        Ok(())
    }
}

/// An element being read; errors name it in their ErrorLocation.
#[derive(Clone, Copy)]
struct Rd<'a> {
    tree: &'a Tree<'a>,
    index: usize,
}

impl<'a> Rd<'a> {
    fn root(tree: &'a Tree<'a>) -> Self {
        Rd { tree, index: 0 }
    }

    fn parts(&self) -> (&'a str, &'a [(&'a str, Cow<'a, str>)], usize) {
        match &self.tree.nodes[self.index] {
            Node::Element {
                name,
                attributes,
                end,
            } => (
                name,
                self.tree
                    .attributes
                    .get(attributes.clone())
                    .unwrap_or_default(),
                *end,
            ),
            Node::Text(_) => ("", &[], self.index + 1),
        }
    }

    /// The element type name.
    fn name(&self) -> &'a str {
        self.parts().0
    }

    fn attribute(&self, name: &str) -> Option<&'a str> {
        self.parts()
            .1
            .iter()
            .find(|(n, _)| same_name(n, name))
            .map(|(_, v)| v.as_ref())
    }

    /// An attribute, accepting the RFC's other spelling where it has two.
    fn raw(&self, name: &str) -> Option<&'a str> {
        self.attribute(name).or_else(|| match name {
            "WalletID" => self.attribute("WalletId"),
            _ => None,
        })
    }

    /// The child nodes: elements as `Ok`, text as `Err`.
    fn nodes(&self) -> impl Iterator<Item = Result<Rd<'a>, &'a str>> + 'a {
        let tree = self.tree;
        let end = self.parts().2;
        let mut next = self.index + 1;
        std::iter::from_fn(move || {
            let node = tree.nodes.get(next).filter(|_| next < end)?;
            let here = next;
            Some(match node {
                Node::Element { end, .. } => {
                    next = *end;
                    Ok(Rd { tree, index: here })
                }
                Node::Text(text) => {
                    next += 1;
                    Err(text.as_ref())
                }
            })
        })
    }

    /// The child elements.
    fn elements(&self) -> impl Iterator<Item = Rd<'a>> + 'a {
        self.nodes().filter_map(Result::ok)
    }

    fn children<'b>(&self, names: &'b [&'b str]) -> impl Iterator<Item = Rd<'a>> + 'b
    where
        'a: 'b,
    {
        self.elements()
            .filter(move |c| names.iter().any(|n| same_name(n, c.name())))
    }

    /// The concatenated text of the direct text children (borrowed when there is one piece).
    fn text(&self) -> Cow<'a, str> {
        let mut pieces = self.nodes().filter_map(Result::err);
        let Some(first) = pieces.next() else {
            return Cow::Borrowed("");
        };
        let Some(second) = pieces.next() else {
            return Cow::Borrowed(first);
        };
        let mut text = String::with_capacity(first.len() + second.len() + 64);
        text.push_str(first);
        text.push_str(second);
        pieces.for_each(|p| text.push_str(p));
        Cow::Owned(text)
    }

    /// The element as a generic element (adjacent text merged, as `parse_tree` has it).
    fn owned(&self) -> XmlElement {
        let (name, attributes, _) = self.parts();
        let mut children: Vec<XmlNode> = Vec::new();
        for node in self.nodes() {
            match node {
                Ok(e) => children.push(XmlNode::Element(e.owned())),
                Err(t) => match children.last_mut() {
                    Some(XmlNode::Text(prev)) => prev.push_str(t),
                    _ => children.push(XmlNode::Text(t.to_owned())),
                },
            }
        }
        XmlElement {
            name: name.to_owned(),
            attributes: attributes
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_ref().to_owned()))
                .collect(),
            children,
        }
    }

    fn error(&self, code: ErrorCode, att: Option<&str>, desc: String) -> ApiError {
        self.located(ApiErrorCode::Iotp(code), att, desc)
    }

    /// A HardError whose ErrorLocation names this element (and `att`).
    fn located(&self, code: ApiErrorCode, att: Option<&str>, desc: String) -> ApiError {
        let mut e = ApiError::new(code, Severity::HardError, desc);
        e.locations.push(ErrorLocation {
            element_type: self.name().to_owned(),
            att_name: att.map(str::to_owned),
            ..Default::default()
        });
        e
    }

    fn missing(&self, att: &str) -> ApiError {
        let desc = format!("{} has no {att} attribute", self.name());
        self.error(ErrorCode::AttMissing, Some(att), desc)
    }

    fn illegal(&self, att: &str, value: &str) -> ApiError {
        let shown: String = value.chars().take(64).collect();
        let desc = format!("{}/@{att}: \"{shown}\" is not a legal value", self.name());
        self.error(ErrorCode::AttValIllegal, Some(att), desc)
    }
}

// ---------------------------------------------------------------------------------------------
// Attribute values

/// A value that goes into one attribute.
trait Value: Sized {
    fn text(&self) -> Cow<'_, str>;
    /// `None` for an illegal value.
    fn parse(value: &str) -> Option<Self>;
    /// The value when the attribute is absent (a DTD default); `None` when it is required.
    fn absent() -> Option<Self> {
        None
    }
}

/// A field held in one attribute: a [`Value`] (required or defaulted) or an optional one.
trait Att: Sized {
    fn enc(&self) -> Option<Cow<'_, str>>;
    fn dec(r: &Rd<'_>, name: &str) -> ApiResult<Self>;
}

impl<T: Value> Att for T {
    fn enc(&self) -> Option<Cow<'_, str>> {
        Some(self.text())
    }
    fn dec(r: &Rd<'_>, name: &str) -> ApiResult<Self> {
        match r.raw(name) {
            Some(v) => T::parse(v).ok_or_else(|| r.illegal(name, v)),
            None => T::absent().ok_or_else(|| r.missing(name)),
        }
    }
}

impl<T: Value> Att for Option<T> {
    fn enc(&self) -> Option<Cow<'_, str>> {
        self.as_ref().map(Value::text)
    }
    fn dec(r: &Rd<'_>, name: &str) -> ApiResult<Self> {
        r.raw(name)
            .map(|v| T::parse(v).ok_or_else(|| r.illegal(name, v)))
            .transpose()
    }
}

impl Value for String {
    fn text(&self) -> Cow<'_, str> {
        self.as_str().into()
    }
    fn parse(value: &str) -> Option<Self> {
        Some(value.to_owned())
    }
}

/// Code lists: `open` ones take any value, `closed` ones (DTD enumerations) only their own.
macro_rules! code_values {
    ($($ty:ident $kind:ident $(= $absent:expr)?;)+) => {$(
        impl Value for $ty {
            fn text(&self) -> Cow<'_, str> {
                self.as_str().into()
            }
            fn parse(value: &str) -> Option<Self> {
                let v = $ty::from_wire(value);
                code_values!(@$kind v)
            }
            $(fn absent() -> Option<Self> {
                Some($absent)
            })?
        }
    )+};
    (@open $v:ident) => { Some($v) };
    (@closed $v:ident) => { $v.is_known().then_some($v) };
}

code_values! {
    PayDirection closed;
    CurrCodeType open = CurrCodeType::Iso4217A;
    CompletionCode open;
    Severity closed;
    AlgorithmType closed;
    Transform closed = Transform::None;
}

impl Value for ContentType {
    fn text(&self) -> Cow<'_, str> {
        self.as_str()
    }
    fn parse(value: &str) -> Option<Self> {
        Some(ContentType::from_wire(value))
    }
    fn absent() -> Option<Self> {
        Some(ContentType::Pcdata)
    }
}

impl Value for ApiErrorCode {
    fn text(&self) -> Cow<'_, str> {
        self.as_str().into()
    }
    fn parse(value: &str) -> Option<Self> {
        Some(ApiErrorCode::from_wire(value))
    }
}

impl Value for ContStatus {
    fn text(&self) -> Cow<'_, str> {
        match self {
            ContStatus::Continue => "Continue",
            ContStatus::End => "End",
        }
        .into()
    }
    fn parse(value: &str) -> Option<Self> {
        match value {
            "Continue" => Some(ContStatus::Continue),
            "End" => Some(ContStatus::End),
            _ => None,
        }
    }
}

impl Value for ProcessType {
    fn text(&self) -> Cow<'_, str> {
        match self {
            ProcessType::Payment => "Payment",
            ProcessType::Inquiry => "Inquiry",
        }
        .into()
    }
    fn parse(value: &str) -> Option<Self> {
        match value {
            "Payment" => Some(ProcessType::Payment),
            "Inquiry" => Some(ProcessType::Inquiry),
            _ => None,
        }
    }
    fn absent() -> Option<Self> {
        Some(ProcessType::Payment)
    }
}

/// The API's `ProcessState` enumeration includes `Suspended`.
impl Value for PaymentState {
    fn text(&self) -> Cow<'_, str> {
        match self {
            PaymentState::Iotp(s) => s.as_str().into(),
            PaymentState::Suspended => "Suspended".into(),
        }
    }
    fn parse(value: &str) -> Option<Self> {
        if value == "Suspended" {
            return Some(PaymentState::Suspended);
        }
        let s = ProcessState::from_wire(value);
        s.is_known().then_some(PaymentState::Iotp(s))
    }
}

/// `PercentComplete`: 0 to 100.
impl Value for u8 {
    fn text(&self) -> Cow<'_, str> {
        self.to_string().into()
    }
    fn parse(value: &str) -> Option<Self> {
        value.trim().parse().ok().filter(|p| *p <= 100)
    }
}

/// `MinRetrySecs`.
impl Value for u32 {
    fn text(&self) -> Cow<'_, str> {
        self.to_string().into()
    }
    fn parse(value: &str) -> Option<Self> {
        value.trim().parse().ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Elements: one declarative table per type

/// A type that is the attributes and children of one element (or part of them, flattened).
///
/// Writing goes straight into the document's text, compact (nothing added between elements):
/// first every attribute (`atts`, after `<name`), then the content (`kids`). The tables below
/// list attributes before children, so both keep the tables' order.
trait Doc {
    fn atts(&self, w: &mut String);
    fn kids(&self, w: &mut String);
    fn get(r: &Rd<'_>) -> ApiResult<Self>
    where
        Self: Sized;
}

/// Writes `<name`: attributes follow.
fn open(w: &mut String, name: &str) {
    w.push('<');
    w.push_str(name);
}

/// Writes one attribute of the open start tag.
fn attribute(w: &mut String, name: &str, value: &str) {
    w.push(' ');
    w.push_str(name);
    w.push_str("=\"");
    escape_attribute(w, value);
    w.push('"');
}

/// Ends the start tag, writes the content `kids` writes and the end tag; an element without
/// content is written `<name .../>`.
fn close(w: &mut String, name: &str, kids: impl FnOnce(&mut String)) {
    let mark = w.len();
    w.push('>');
    kids(w);
    if w.len() == mark + 1 {
        w.truncate(mark);
        w.push_str("/>");
    } else {
        w.push_str("</");
        w.push_str(name);
        w.push('>');
    }
}

fn put_doc(w: &mut String, name: &str, v: &dyn Doc) {
    open(w, name);
    v.atts(w);
    close(w, name, |w| v.kids(w));
}

/// The field kinds of the tables below. Each has `atts(&value, out, name)` (writes its
/// attributes, if it is one), `kids(&value, out, name)` (writes its child elements, if it is
/// some) and `get(reader, name)`.
mod kind {
    use super::*;

    /// For the kinds that have no attributes or no children.
    pub(in super::super) fn none<T: ?Sized>(_: &T, _: &mut String, _: &'static str) {}

    /// One attribute (see [`Att`]).
    pub(super) mod att {
        use super::*;
        pub(in super::super) fn atts<T: Att>(v: &T, w: &mut String, n: &'static str) {
            if let Some(s) = v.enc() {
                attribute(w, n, &s);
            }
        }
        pub(in super::super) use super::none as kids;
        pub(in super::super) fn get<T: Att>(r: &Rd<'_>, n: &'static str) -> ApiResult<T> {
            T::dec(r, n)
        }
    }

    /// A struct whose attributes and children are flattened into this element.
    pub(super) mod flat {
        use super::*;
        pub(in super::super) fn atts<T: Doc>(v: &T, w: &mut String, _: &'static str) {
            v.atts(w);
        }
        pub(in super::super) fn kids<T: Doc>(v: &T, w: &mut String, _: &'static str) {
            v.kids(w);
        }
        pub(in super::super) fn get<T: Doc>(r: &Rd<'_>, _: &'static str) -> ApiResult<T> {
            T::get(r)
        }
    }

    /// PackagedContent children under a (renamed) tag.
    pub(super) mod pcs {
        pub(in super::super) use super::none as atts;
        use super::*;
        pub(in super::super) fn kids(v: &[PackagedContent], w: &mut String, n: &'static str) {
            for pc in v {
                put_pc(w, n, pc);
            }
        }
        pub(in super::super) fn get(
            r: &Rd<'_>,
            n: &'static str,
        ) -> ApiResult<Vec<PackagedContent>> {
            get_pcs(r, &[n])
        }
    }

    /// Child elements of one type.
    pub(super) mod list {
        pub(in super::super) use super::none as atts;
        use super::*;
        pub(in super::super) fn kids<T: Doc>(v: &[T], w: &mut String, n: &'static str) {
            for x in v {
                put_doc(w, n, x);
            }
        }
        pub(in super::super) fn get<T: Doc>(r: &Rd<'_>, n: &'static str) -> ApiResult<Vec<T>> {
            r.children(&[n]).map(|c| T::get(&c)).collect()
        }
    }

    /// Exactly one child element.
    pub(super) mod one {
        pub(in super::super) use super::none as atts;
        use super::*;
        pub(in super::super) fn kids<T: Doc>(v: &T, w: &mut String, n: &'static str) {
            put_doc(w, n, v);
        }
        pub(in super::super) fn get<T: Doc>(r: &Rd<'_>, n: &'static str) -> ApiResult<T> {
            match r.children(&[n]).next() {
                Some(c) => T::get(&c),
                None => Err(r.error(
                    ErrorCode::ElMissing,
                    None,
                    format!("{} has no {n} element", r.name()),
                )),
            }
        }
    }

    /// A required NMTOKENS attribute (present even when the list is empty).
    pub(super) mod tokens {
        use super::*;
        pub(in super::super) fn atts(v: &[String], w: &mut String, n: &'static str) {
            attribute(w, n, &v.join(" "));
        }
        pub(in super::super) use super::none as kids;
        pub(in super::super) fn get(r: &Rd<'_>, n: &'static str) -> ApiResult<Vec<String>> {
            let v = r.raw(n).ok_or_else(|| r.missing(n))?;
            split_tokens(r, n, v)
        }
    }

    /// An implied NMTOKENS attribute (absent when the list is empty).
    pub(super) mod tokens_opt {
        use super::*;
        pub(in super::super) fn atts(v: &[String], w: &mut String, n: &'static str) {
            if !v.is_empty() {
                attribute(w, n, &v.join(" "));
            }
        }
        pub(in super::super) use super::none as kids;
        pub(in super::super) fn get(r: &Rd<'_>, n: &'static str) -> ApiResult<Vec<String>> {
            r.raw(n).map_or(Ok(Vec::new()), |v| split_tokens(r, n, v))
        }
    }

    /// `Action (New|Update|Delete) #IMPLIED`.
    pub(super) mod action {
        pub(in super::super) use super::att::atts;
        pub(in super::super) use super::none as kids;
        use super::*;
        pub(in super::super) fn get(r: &Rd<'_>, n: &'static str) -> ApiResult<Option<String>> {
            match r.raw(n) {
                None => Ok(None),
                Some(v @ ("New" | "Update" | "Delete")) => Ok(Some(v.to_owned())),
                Some(v) => Err(r.illegal(n, v)),
            }
        }
    }

    /// [`ContinueProcess::from_hard_error`] as the extension `ErrorSeverity="HardError"`.
    pub(super) mod hard_error {
        use super::*;
        pub(in super::super) fn atts(v: &bool, w: &mut String, n: &'static str) {
            if *v {
                attribute(w, n, "HardError");
            }
        }
        pub(in super::super) use super::none as kids;
        pub(in super::super) fn get(r: &Rd<'_>, n: &'static str) -> ApiResult<bool> {
            Ok(<Option<Severity> as Att>::dec(r, n)? == Some(Severity::HardError))
        }
    }

    /// `PaymentId*` children, each with a `PayId`.
    pub(super) mod ids {
        pub(in super::super) use super::none as atts;
        use super::*;
        pub(in super::super) fn kids(v: &[String], w: &mut String, n: &'static str) {
            for id in v {
                open(w, n);
                att::atts(id, w, "PayId");
                close(w, n, |_| {});
            }
        }
        pub(in super::super) fn get(r: &Rd<'_>, _: &'static str) -> ApiResult<Vec<String>> {
            r.children(&["PaymentId"])
                .map(|c| att::get(&c, "PayId"))
                .collect()
        }
    }

    /// `CurrencyAmount+` of a ProtocolItem: `CurrCodeType`, `CurrCode`, `Amount` (implied in
    /// the DTD: absent ones read as empty) and the extension `PayDirection` (absent: Debit).
    pub(super) mod camts {
        pub(in super::super) use super::list::{atts, kids};
        use super::*;
        pub(in super::super) fn get(r: &Rd<'_>, _: &'static str) -> ApiResult<Vec<AmountInfo>> {
            r.children(&["CurrencyAmount"])
                .map(|c| {
                    Ok(AmountInfo {
                        pay_direction: <Option<PayDirection> as Att>::dec(&c, "PayDirection")?
                            .unwrap_or(PayDirection::Debit),
                        curr_code_type: att::get(&c, "CurrCodeType")?,
                        curr_code: c.raw("CurrCode").unwrap_or_default().to_owned(),
                        amount: c.raw("Amount").unwrap_or_default().to_owned(),
                    })
                })
                .collect()
        }
    }

    /// The implied amount attributes of ExpandPaymentReceiptResponse: present when any of
    /// `PayDirection`, `CurrCode`, `Amount` is (absent parts as in [`camts`]).
    pub(super) mod opt_amount {
        use super::*;
        pub(in super::super) fn atts(v: &Option<AmountInfo>, w: &mut String, _: &'static str) {
            if let Some(a) = v {
                a.atts(w);
            }
        }
        pub(in super::super) use super::none as kids;
        pub(in super::super) fn get(r: &Rd<'_>, _: &'static str) -> ApiResult<Option<AmountInfo>> {
            if ["PayDirection", "CurrCode", "Amount"]
                .iter()
                .all(|n| r.raw(n).is_none())
            {
                return Ok(None);
            }
            Ok(Some(AmountInfo {
                pay_direction: <Option<PayDirection> as Att>::dec(r, "PayDirection")?
                    .unwrap_or(PayDirection::Debit),
                curr_code_type: att::get(r, "CurrCodeType")?,
                curr_code: r.raw("CurrCode").unwrap_or_default().to_owned(),
                amount: r.raw("Amount").unwrap_or_default().to_owned(),
            }))
        }
    }

    /// [`OfferContent`] in the usual order: Brand, ProtocolBrand, ProtocolAmount, PayProtocol,
    /// Order.
    pub(super) mod offer {
        pub(in super::super) use super::none as atts;
        use super::*;
        pub(in super::super) fn kids(v: &OfferContent, w: &mut String, _: &'static str) {
            put_offer(v, w, [0, 1, 2, 3, 4]);
        }
        pub(in super::super) fn get(r: &Rd<'_>, _: &'static str) -> ApiResult<OfferContent> {
            get_offer(r)
        }
    }

    /// [`OfferContent`] with ProtocolBrand first (GetPaymentInitializationData).
    pub(super) mod offer_pb {
        pub(in super::super) use super::none as atts;
        use super::*;
        pub(in super::super) fn kids(v: &OfferContent, w: &mut String, _: &'static str) {
            put_offer(v, w, [1, 0, 2, 3, 4]);
        }
        pub(in super::super) use super::offer::get;
    }

    /// [`OfferContent`] with PayProtocol before ProtocolAmount (FindPaymentInstrument).
    pub(super) mod offer_pp {
        pub(in super::super) use super::none as atts;
        use super::*;
        pub(in super::super) fn kids(v: &OfferContent, w: &mut String, _: &'static str) {
            put_offer(v, w, [0, 1, 3, 2, 4]);
        }
        pub(in super::super) use super::offer::get;
    }
}

fn split_tokens(r: &Rd<'_>, n: &str, v: &str) -> ApiResult<Vec<String>> {
    v.split_ascii_whitespace()
        .map(|t| {
            if crate::xml::is_nmtoken(t) {
                Ok(t.to_owned())
            } else {
                Err(r.illegal(n, t))
            }
        })
        .collect()
}

/// Writes PackagedContent data as text: as it is when it is UTF-8 (checked with the fast
/// validator), replaced lossily otherwise (then it should have been BASE64).
fn put_utf8_text(w: &mut String, data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(s) => escape_text(w, s),
        Err(_) => escape_text(w, &String::from_utf8_lossy(data)),
    }
}

fn put_pc(w: &mut String, name: &str, pc: &PackagedContent) {
    open(w, name);
    kind::att::atts(&pc.name, w, "Name");
    if pc.content != ContentType::Pcdata {
        kind::att::atts(&pc.content, w, "Content");
    }
    if pc.transform != Transform::None {
        kind::att::atts(&pc.transform, w, "Transform");
    }
    close(w, name, |w| match pc.transform {
        // Base64 needs no escapes: straight into the document.
        Transform::Base64 => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode_string(&pc.data, w);
        }
        _ => put_utf8_text(w, &pc.data),
    });
}

fn get_pc(r: &Rd<'_>) -> ApiResult<PackagedContent> {
    let transform: Transform = kind::att::get(r, "Transform")?;
    if r.elements().next().is_some() {
        let desc = format!("{} holds elements; PackagedContent is text", r.name());
        return Err(r.error(ErrorCode::ElContIllegal, None, desc));
    }
    let text = r.text();
    let data = if transform == Transform::Base64 {
        // Text without whitespace (as written here) is decoded at once; the tolerant decoder
        // (which gives the same result and the same error) only when that fails.
        use base64::Engine as _;
        let strict = base64::engine::general_purpose::STANDARD.decode(text.as_bytes());
        strict
            .or_else(|_| crate::msg::model::decode_base64(&text, &mut Vec::new()))
            .map_err(|e| {
                let desc = format!("{} with Transform=\"BASE64\" is not base64: {e}", r.name());
                r.error(ErrorCode::ElContIllegal, None, desc)
            })?
    } else {
        text.into_owned().into_bytes()
    };
    Ok(PackagedContent {
        name: kind::att::get(r, "Name")?,
        content: kind::att::get(r, "Content")?,
        transform,
        data,
    })
}

fn get_pcs(r: &Rd<'_>, names: &[&str]) -> ApiResult<Vec<PackagedContent>> {
    r.children(names).map(|c| get_pc(&c)).collect()
}

fn put_offer(v: &OfferContent, w: &mut String, order: [u8; 5]) {
    for part in order {
        match part {
            0 => kind::pcs::kids(&v.brand, w, "BrandPackagedContent"),
            1 => {
                if let Some(pb) = &v.protocol_brand {
                    open(w, "ProtocolBrand");
                    kind::att::atts(&pb.protocol_brand_id, w, "ProtocolBrandId");
                    close(w, "ProtocolBrand", |w| {
                        kind::pcs::kids(&pb.content, w, "PackagedContent");
                    });
                }
            }
            2 => kind::pcs::kids(&v.protocol_amount, w, "ProtocolAmountPackagedContent"),
            3 => kind::pcs::kids(&v.pay_protocol, w, "PayProtocolPackagedContent"),
            _ => kind::pcs::kids(&v.order, w, "OrderPackagedContent"),
        }
    }
}

fn get_offer(r: &Rd<'_>) -> ApiResult<OfferContent> {
    let protocol_brand = match r.children(&["ProtocolBrand"]).next() {
        None => None,
        Some(c) => Some(ProtocolBrandInfo {
            protocol_brand_id: kind::att::get(&c, "ProtocolBrandId")?,
            content: get_pcs(&c, &["PackagedContent", "ProtocolBrandPackagedContent"])?,
        }),
    };
    Ok(OfferContent {
        brand: get_pcs(r, &["BrandPackagedContent"])?,
        protocol_brand,
        protocol_amount: get_pcs(r, &["ProtocolAmountPackagedContent"])?,
        pay_protocol: get_pcs(r, &["PayProtocolPackagedContent"])?,
        order: get_pcs(r, &["OrderPackagedContent"])?,
    })
}

/// Declares how a type maps to an element: `field: kind "Name"` per field, attributes and
/// children in DTD order (the kinds are in [`kind`]).
macro_rules! docs {
    ($($ty:ident { $($field:ident : $kind:ident $($name:literal)?),* $(,)? })+) => {$(
        impl Doc for $ty {
            fn atts(&self, w: &mut String) {
                $( kind::$kind::atts(&self.$field, w, docs!(@name $($name)?)); )*
            }
            fn kids(&self, w: &mut String) {
                $( kind::$kind::kids(&self.$field, w, docs!(@name $($name)?)); )*
            }
            fn get(r: &Rd<'_>) -> ApiResult<Self> {
                Ok($ty { $( $field: kind::$kind::get(r, docs!(@name $($name)?))?, )* })
            }
        }
    )+};
    (@name) => { "" };
    (@name $name:literal) => { $name };
}

docs! {
    AmountInfo {
        pay_direction: att "PayDirection",
        curr_code_type: att "CurrCodeType",
        curr_code: att "CurrCode",
        amount: att "Amount",
    }
    WalletAccess { wallet_id: att "WalletID", passphrase: att "Passphrase" }
    BrandSelectionContent {
        brand_info: pcs "BrandSelBrandInfoPackagedContent",
        protocol_amount_info: pcs "BrandSelProtocolAmountInfoPackagedContent",
        currency_amount_info: pcs "BrandSelCurrencyAmountInfoPackagedContent",
    }
    StatusInfo {
        process_state: att "ProcessState",
        percent_complete: att "PercentComplete",
        completion_code: att "CompletionCode",
        status_desc: att "StatusDesc",
    }
    SchemeStep { cont_status: att "ContStatus", pay_scheme: pcs "PaySchemePackagedContent" }
    ErrorLocation {
        element_type: att "ElementType",
        iotp_msg_ref: att "IotpMsgRef",
        blk_ref: att "BlkRef",
        comp_ref: att "CompRef",
        element_ref: att "ElementRef",
        att_name: att "AttName",
    }
    ApiError {
        code: att "ErrorCode",
        desc: att "ErrorDesc",
        severity: att "Severity",
        min_retry_secs: att "MinRetrySecs",
        sw_vendor_error_ref: att "SwVendorErrorRef",
        locations: list "ErrorLocation",
        pay_scheme: pcs "PaySchemePackagedContent",
    }

    // Requests (RFC 3867 §4, §5)
    FindAcceptedPaymentBrand {
        amount: flat,
        merchant_pay_id: att "MerchantPayId",
        merchant_org_id: att "MerchantOrgId",
        wallet_id: att "WalletID",
        merchant_data: pcs "MerchantData",
    }
    FindAcceptedPaymentProtocol {
        brand_id: att "BrandId",
        amount: flat,
        merchant_pay_id: att "MerchantPayId",
        merchant_org_id: att "MerchantOrgId",
        wallet_id: att "WalletID",
        brand_content: pcs "BrandPackagedContent",
        merchant_data: pcs "MerchantData",
    }
    GetPaymentInitializationData {
        brand_id: att "BrandId",
        merchant_pay_id: att "MerchantPayId",
        amount: flat,
        protocol_id: att "ProtocolId",
        ok_from: att "OkFrom",
        ok_to: att "OkTo",
        receiver_org_id: att "ReceiverOrgId",
        merchant_org_id: att "MerchantOrgId",
        wallet: flat,
        offer: offer_pb,
        brand_selection: flat,
        merchant_data: pcs "MerchantData",
    }
    InquireAuthChallenge {
        authentication_id: att "AuthenticationId",
        wallet: flat,
        algorithms: list "Algorithm",
    }
    Authenticate {
        authentication_id: att "AuthenticationId",
        wallet: flat,
        algorithm: one "Algorithm",
        auth_req: pcs "AuthReqPackagedContent",
    }
    CheckAuthResponse {
        authentication_id: att "AuthenticationId",
        wallet: flat,
        algorithm: one "Algorithm",
        auth_req: pcs "AuthReqPackagedContent",
        auth_res: pcs "AuthResPackagedContent",
    }
    FindPaymentInstrument {
        brand_id: att "BrandId",
        protocol_id: att "ProtocolId",
        amount: flat,
        consumer_pay_id: att "ConsumerPayId",
        wallet_id: att "WalletID",
        offer: offer_pp,
    }
    CheckPaymentPossibility {
        brand_id: att "BrandId",
        payment_instrument_id: att "PaymentInstrumentId",
        amount: flat,
        protocol_id: att "ProtocolId",
        consumer_pay_id: att "ConsumerPayId",
        wallet: flat,
        offer: offer,
    }
    StartPaymentConsumer {
        brand_id: att "BrandId",
        payment_instrument_id: att "PaymentInstrumentId",
        amount: flat,
        protocol_id: att "ProtocolId",
        protocol_brand_id: att "ProtocolBrandId",
        ok_from: att "OkFrom",
        ok_to: att "OkTo",
        consumer_pay_id: att "ConsumerPayId",
        wallet: flat,
        offer: offer,
    }
    StartPaymentPaymentHandler {
        brand_id: att "BrandId",
        consumer_pay_id: att "ConsumerPayId",
        amount: flat,
        protocol_id: att "ProtocolId",
        ok_from: att "OkFrom",
        ok_to: att "OkTo",
        payment_handler_pay_id: att "PaymentHandlerPayId",
        merchant_org_id: att "MerchantOrgId",
        wallet: flat,
        offer: offer,
        brand_selection: flat,
        trading_role_data: pcs "TradingRoleDataPackagedContent",
        pay_scheme: pcs "PaySchemePackagedContent",
    }
    ResumePaymentConsumer { consumer_pay_id: att "ConsumerPayId", wallet: flat }
    ResumePaymentPaymentHandler {
        payment_handler_pay_id: att "PaymentHandlerPayId",
        wallet: flat,
        pay_scheme: pcs "PaySchemePackagedContent",
    }
    ContinueProcess {
        pay_id: att "PayId",
        process_type: att "ProcessType",
        wallet: flat,
        from_hard_error: hard_error "ErrorSeverity",
        pay_scheme: pcs "PaySchemePackagedContent",
    }
    ChangeProcessState {
        pay_id: att "PayId",
        process_state: att "ProcessState",
        completion_code: att "CompletionCode",
        process_type: att "ProcessType",
        wallet: flat,
    }
    RemovePaymentLog { pay_id: att "PayId", wallet: flat }
    PaymentInstrumentInquiry {
        brand_id: att "BrandId",
        payment_instrument_id: att "PaymentInstrumentId",
        protocol_id: att "ProtocolId",
        property_types: tokens "PropertyTypeList",
        lang: att "xml:lang",
        wallet: flat,
        offer: offer,
    }
    InquirePendingPayment { wallet: flat }
    CheckPaymentReceipt { pay_id: att "PayId", wallet: flat, receipt: pcs "PackagedContent" }
    ExpandPaymentReceipt { pay_id: att "PayId", wallet: flat, receipt: pcs "PackagedContent" }
    InquireProcessState { pay_id: att "PayId", wallet: flat }
    StartPaymentInquiry { consumer_pay_id: att "ConsumerPayId", wallet: flat }
    InquirePaymentStatus {
        payment_handler_pay_id: att "PaymentHandlerPayId",
        wallet: flat,
        pay_scheme: pcs "PaySchemePackagedContent",
    }
    ManagePaymentSoftware {
        brand_id: att "BrandId",
        protocol_id: att "ProtocolId",
        action: action "Action",
        wallet: flat,
        offer: offer,
    }
    CallBack {
        content_software_id: att "ContentSoftwareID",
        pay_id: att "PayId",
        process_state: att "ProcessState",
        percent_complete: att "PercentComplete",
        completion_code: att "CompletionCode",
        status_desc: att "StatusDesc",
    }

    // Responses
    FindAcceptedPaymentBrandResponse { brands: list "BrandItem" }
    BrandItem {
        brand_id: att "BrandId",
        lang: att "xml:lang",
        brand_name: att "BrandName",
        brand_logo_net_locn: att "BrandLogoNetLocn",
        brand_narrative: att "BrandNarrative",
        content: pcs "BrandPackagedContent",
    }
    FindAcceptedPaymentProtocolResponse {
        protocols: list "ProtocolItem",
        brands: list "BrandItem",
    }
    ProtocolItem {
        protocol_id: att "ProtocolId",
        protocol_brand_id: att "ProtocolBrandId",
        protocol_name: att "ProtocolName",
        pay_req_net_locn: att "PayReqNetLocn",
        sec_pay_req_net_locn: att "SecPayReqNetLocn",
        protocol_amount_content: pcs "ProtocolAmountPackagedContent",
        pay_protocol_content: pcs "PayProtocolPackagedContent",
        currency_amounts: camts "CurrencyAmount",
    }
    GetPaymentInitializationDataResponse {
        ok_from: att "OkFrom",
        ok_to: att "OkTo",
        order: pcs "OrderPackagedContent",
        trading_role_data: pcs "TradingRoleDataPackagedContent",
    }
    InquireAuthChallengeResponse {
        auth_req: pcs "AuthReqPackagedContent",
        algorithm: one "Algorithm",
    }
    AuthenticateResponse { auth_res: pcs "AuthResPackagedContent" }
    FindPaymentInstrumentResponse { instruments: list "PayInstrument" }
    PayInstrument { id: att "Id", lang: att "xml:lang", pay_inst_name: att "PayInstName" }
    CheckPaymentPossibilityResponse { brand_selection: flat }
    StartPaymentInquiryResponse { pay_scheme: pcs "PaySchemePackagedContent" }
    PaymentInstrumentInquiryResponse {
        unavailable: tokens_opt "UnavailablePropertyList",
        properties: list "PaymentInstrumentProperty",
    }
    InstrumentProperty {
        property_type: att "PropertyType",
        property_value: att "PropertyValue",
        property_desc: att "PropertyDesc",
    }
    InquirePaymentStatusResponse {
        payment_handler_pay_id: att "PaymentHandlerPayId",
        status: flat,
        pay_scheme: pcs "PaySchemePackagedContent",
    }
    InquireProcessStateResponse {
        status: flat,
        pay_receipt_name_refs: tokens_opt "PayReceiptNameRefs",
        receipt: pcs "PackagedContent",
    }
    ExpandPaymentReceiptResponse {
        brand_id: att "BrandId",
        payment_instrument_id: att "PaymentInstrumentId",
        amount: opt_amount,
        time_stamp: att "TimeStamp",
        protocol_id: att "ProtocolId",
        protocol_brand_id: att "ProtocolBrandId",
        protocol_trans_id: att "ProtocolTransId",
        consumer_desc: att "ConsumerDesc",
        payment_handler_desc: att "PaymentHandlerDesc",
        style_sheet_net_locn: att "StyleSheetNetLocn",
        properties: list "PaymentProperty",
    }
    InquirePendingPaymentResponse { pay_ids: ids "PaymentId" }
    ManagePaymentSoftwareResponse {
        action: action "Action",
        wallet: flat,
        auth_names: tokens "AuthNames",
    }
}

impl Doc for () {
    fn atts(&self, _: &mut String) {}
    fn kids(&self, _: &mut String) {}
    fn get(_: &Rd<'_>) -> ApiResult<Self> {
        Ok(())
    }
}

/// Writes a generic element compact, as it is held (the canonical writer's form of an element
/// inside content, without the line end it puts after a whole element).
fn put_element(w: &mut String, e: &XmlElement) {
    let mut x = XmlWriter::default();
    x.element(e);
    w.push_str(x.out.strip_suffix('\n').unwrap_or(&x.out));
}

fn put_generic(w: &mut String, nodes: &[XmlNode]) {
    for node in nodes {
        match node {
            XmlNode::Text(text) => escape_text(w, text),
            XmlNode::Element(e) => put_element(w, e),
        }
    }
}

/// RFC 2802's Algorithm: `ID`, `type`, `name`, `Parameter` children (content kept as read),
/// then its extension elements.
impl Doc for Algorithm {
    fn atts(&self, w: &mut String) {
        kind::att::atts(&self.id, w, "ID");
        kind::att::atts(&self.algorithm_type, w, "type");
        kind::att::atts(&self.name, w, "name");
    }
    fn kids(&self, w: &mut String) {
        for p in &self.parameters {
            open(w, "Parameter");
            kind::att::atts(&p.parameter_type, w, "type");
            close(w, "Parameter", |w| put_generic(w, &p.content));
        }
        for x in &self.extensions {
            put_element(w, x);
        }
    }
    fn get(r: &Rd<'_>) -> ApiResult<Self> {
        let mut parameters = Vec::new();
        let mut extensions = Vec::new();
        for c in r.elements() {
            if c.name() == "Parameter" {
                let XmlElement { children, .. } = c.owned();
                parameters.push(AlgorithmParameter {
                    parameter_type: kind::att::get(&c, "type")?,
                    content: children,
                });
            } else {
                extensions.push(c.owned());
            }
        }
        Ok(Algorithm {
            id: kind::att::get(r, "ID")?,
            algorithm_type: kind::att::get(r, "type")?,
            name: kind::att::get(r, "name")?,
            parameters,
            extensions,
        })
    }
}

/// `CallBackResponse`: empty to go on; `CompletionCode` to ask for a cancel; `Shutdown="True"`
/// for a fast shutdown (see the module documentation).
impl Doc for CallBackReply {
    fn atts(&self, w: &mut String) {
        match self {
            CallBackReply::Continue => {}
            CallBackReply::Cancel(code) => kind::att::atts(code, w, "CompletionCode"),
            CallBackReply::Shutdown => attribute(w, "Shutdown", "True"),
        }
    }
    fn kids(&self, _: &mut String) {}
    fn get(r: &Rd<'_>) -> ApiResult<Self> {
        match r.raw("Shutdown") {
            Some("True") => return Ok(CallBackReply::Shutdown),
            Some("False") | None => {}
            Some(v) => return Err(r.illegal("Shutdown", v)),
        }
        let code: Option<CompletionCode> = kind::att::get(r, "CompletionCode")?;
        Ok(code.map_or(CallBackReply::Continue, CallBackReply::Cancel))
    }
}

// ---------------------------------------------------------------------------------------------
// The calls

macro_rules! api_calls {
    ($($method:ident: $call:ident -> $resp:ty;)+) => {
        /// One Payment API request: a call of the core to a bridge, or a `CallBack` of a
        /// bridge to the core.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ApiRequest {
            $(
                #[doc = concat!("`", stringify!($call), "`.")]
                $call($call),
            )+
            /// `CallBack` (bridge → core).
            CallBack(CallBack),
        }

        /// The successful answer to an [`ApiRequest`], one variant per call.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ApiResponse {
            $(
                #[doc = concat!("`", stringify!($call), "Response`.")]
                $call($resp),
            )+
            /// `CallBackResponse`.
            CallBack(CallBackReply),
        }

        impl ApiRequest {
            /// The RFC 3867 element name of the call (as in [`BRIDGE_CALLS`], plus
            /// `CallBack`).
            pub fn call_name(&self) -> &'static str {
                match self {
                    $(ApiRequest::$call(_) => stringify!($call),)+
                    ApiRequest::CallBack(_) => "CallBack",
                }
            }

            fn body(&self) -> &dyn Doc {
                match self {
                    $(ApiRequest::$call(r) => r,)+
                    ApiRequest::CallBack(r) => r,
                }
            }

            /// Reads the call element of canonical name `call`.
            fn read(call: &str, r: &Rd<'_>) -> Option<ApiResult<Self>> {
                Some(match call {
                    $(stringify!($call) => <$call as Doc>::get(r).map(ApiRequest::$call),)+
                    "CallBack" => <CallBack as Doc>::get(r).map(ApiRequest::CallBack),
                    _ => return None,
                })
            }
        }

        impl ApiResponse {
            /// The RFC 3867 element name of the call this answers.
            pub fn call_name(&self) -> &'static str {
                match self {
                    $(ApiResponse::$call(_) => stringify!($call),)+
                    ApiResponse::CallBack(_) => "CallBack",
                }
            }

            fn body(&self) -> &dyn Doc {
                match self {
                    $(ApiResponse::$call(r) => r,)+
                    ApiResponse::CallBack(r) => r,
                }
            }

            fn read(call: &str, r: &Rd<'_>) -> Option<ApiResult<Self>> {
                Some(match call {
                    $(stringify!($call) => <$resp as Doc>::get(r).map(ApiResponse::$call),)+
                    "CallBack" => <CallBackReply as Doc>::get(r).map(ApiResponse::CallBack),
                    _ => return None,
                })
            }
        }

        /// Performs `request` on `bridge`: the plugin side of the document ABI, after
        /// [`decode_request`]. A `CallBack` goes from bridge to core and is `ReqNotSupp` here.
        pub fn dispatch(
            bridge: &dyn PaymentBridge,
            host: &dyn BridgeHost,
            request: &ApiRequest,
        ) -> ApiResult<ApiResponse> {
            match request {
                $(ApiRequest::$call(r) => bridge.$method(host, r).map(ApiResponse::$call),)+
                ApiRequest::CallBack(_) => Err(ApiError::not_supported("CallBack")),
            }
        }

        /// The core side of the document ABI: each call is encoded, handed to `call` with the
        /// call's `host`, and its answer decoded.
        impl<F> PaymentBridge for DocumentBridge<F>
        where
            F: Fn(&dyn BridgeHost, &[u8]) -> Result<Vec<u8>, String> + Send + Sync,
        {
            fn info(&self) -> BridgeInfo {
                self.info.clone()
            }

            $(
                fn $method(&self, host: &dyn BridgeHost, request: &$call) -> ApiResult<$resp> {
                    match self.exchange(host, stringify!($call), request)? {
                        ApiResponse::$call(r) => Ok(r),
                        other => Err(self.error(
                            stringify!($call),
                            format_args!("answered {} instead", other.call_name()),
                        )),
                    }
                }
            )+
        }
    };
}

api_calls! {
    find_accepted_payment_brand: FindAcceptedPaymentBrand -> FindAcceptedPaymentBrandResponse;
    find_accepted_payment_protocol: FindAcceptedPaymentProtocol
        -> FindAcceptedPaymentProtocolResponse;
    get_payment_initialization_data: GetPaymentInitializationData
        -> GetPaymentInitializationDataResponse;
    inquire_auth_challenge: InquireAuthChallenge -> InquireAuthChallengeResponse;
    authenticate: Authenticate -> AuthenticateResponse;
    check_auth_response: CheckAuthResponse -> StatusInfo;
    find_payment_instrument: FindPaymentInstrument -> FindPaymentInstrumentResponse;
    check_payment_possibility: CheckPaymentPossibility -> CheckPaymentPossibilityResponse;
    start_payment_consumer: StartPaymentConsumer -> SchemeStep;
    resume_payment_consumer: ResumePaymentConsumer -> SchemeStep;
    start_payment_inquiry: StartPaymentInquiry -> StartPaymentInquiryResponse;
    payment_instrument_inquiry: PaymentInstrumentInquiry -> PaymentInstrumentInquiryResponse;
    start_payment_payment_handler: StartPaymentPaymentHandler -> SchemeStep;
    resume_payment_payment_handler: ResumePaymentPaymentHandler -> SchemeStep;
    inquire_payment_status: InquirePaymentStatus -> InquirePaymentStatusResponse;
    continue_process: ContinueProcess -> SchemeStep;
    change_process_state: ChangeProcessState -> StatusInfo;
    inquire_process_state: InquireProcessState -> InquireProcessStateResponse;
    check_payment_receipt: CheckPaymentReceipt -> ();
    expand_payment_receipt: ExpandPaymentReceipt -> ExpandPaymentReceiptResponse;
    remove_payment_log: RemovePaymentLog -> ();
    inquire_pending_payment: InquirePendingPayment -> InquirePendingPaymentResponse;
    manage_payment_software: ManagePaymentSoftware -> ManagePaymentSoftwareResponse;
}

/// The canonical name of a call element (the RFC's misspelling accepted).
fn canonical_call(name: &str) -> Option<&'static str> {
    if name == "CheckPaymentPossiblity" {
        return Some("CheckPaymentPossibility");
    }
    BRIDGE_CALLS
        .iter()
        .copied()
        .chain(std::iter::once("CallBack"))
        .find(|c| *c == name)
}

// ---------------------------------------------------------------------------------------------
// Documents

fn hard(code: ApiErrorCode, desc: String) -> ApiError {
    ApiError::new(code, Severity::HardError, desc)
}

fn mismatch(expected: &str, got: &str) -> ApiError {
    hard(
        ApiErrorCode::Iotp(ErrorCode::UnknownError),
        format!("the payment bridge answered {got} to a {expected} request"),
    )
}

/// Writes a document: the declaration, the root element in [`NAMESPACE`] and what `body`
/// writes in it.
fn write_document(root: &str, body: impl FnOnce(&mut String)) -> String {
    let mut w = String::with_capacity(512);
    w.push_str(DECLARATION);
    open(&mut w, root);
    attribute(&mut w, "xmlns", NAMESPACE);
    close(&mut w, root, body);
    w.push('\n');
    w
}

/// Reads a document and checks its root element and namespace (the errors say what is wrong),
/// then gives the root to `read`.
fn with_root<T>(
    doc: &[u8],
    root: &str,
    limits: &Limits,
    read: impl FnOnce(Rd<'_>) -> ApiResult<T>,
) -> ApiResult<T> {
    let syntax = |e: SyntaxError| match e {
        SyntaxError::TooLarge { .. } => {
            hard(ApiErrorCode::Iotp(ErrorCode::MsgTooLarge), e.to_string())
        }
        e => hard(ApiErrorCode::SyntaxError, e.to_string()),
    };
    let src = prepare(doc, limits).map_err(syntax)?;
    let tree = Tree::read(&src, limits).map_err(syntax)?;
    let r = Rd::root(&tree);
    if r.name() != root {
        let desc = format!("the document is a {}, not an {root}", r.name());
        return Err(r.located(ApiErrorCode::SyntaxError, None, desc));
    }
    if let Some(ns) = r.attribute("xmlns")
        && ns != NAMESPACE
    {
        let desc = format!("{root} is in namespace \"{ns}\", not {NAMESPACE}");
        return Err(r.located(ApiErrorCode::SyntaxError, Some("xmlns"), desc));
    }
    read(r)
}

/// Writes the `IotpPaymentApiRequest` document of a request.
///
/// The pass phrase, when the request has one, is in the `Passphrase` attribute: such documents
/// must never be logged or stored.
pub fn encode_request(req: &ApiRequest) -> String {
    write_document(REQUEST_ROOT, |w| put_doc(w, req.call_name(), req.body()))
}

/// Reads an `IotpPaymentApiRequest` document (liberally: see the module documentation).
///
/// Errors: a document that is not well-formed, not a request or not in [`NAMESPACE`] (an absent
/// `xmlns` is accepted) → `SyntaxError` (`MsgTooLarge` above `limits.max_message_bytes`); an
/// unknown call → `ReqNotSupp`; a missing required attribute → `AttMissing`; an illegal value
/// → `AttValIllegal`; both with an ErrorLocation naming the element and attribute.
pub fn decode_request(doc: &[u8], limits: &Limits) -> Result<ApiRequest, ApiError> {
    with_root(doc, REQUEST_ROOT, limits, |root| {
        let mut calls = root.elements();
        let (Some(call), None) = (calls.next(), calls.next()) else {
            return Err(hard(
                ApiErrorCode::SyntaxError,
                format!("{REQUEST_ROOT} must hold exactly one call element"),
            ));
        };
        canonical_call(call.name())
            .and_then(|name| ApiRequest::read(name, &call))
            .unwrap_or_else(|| Err(ApiError::not_supported(call.name())))
    })
}

/// Writes the `IotpPaymentApiResponse` document of an answer: an `ErrorResponse` for an error,
/// the call's `…Response` element otherwise. A CallBack cancel or shutdown request is written
/// as an `ErrorResponse` `BusError` together with the `CallBackResponse`.
pub fn encode_response(resp: &Result<ApiResponse, ApiError>) -> String {
    write_document(RESPONSE_ROOT, |w| match resp {
        Err(e) => put_doc(w, "ErrorResponse", e),
        Ok(r) => {
            if let ApiResponse::CallBack(
                reply @ (CallBackReply::Cancel(_) | CallBackReply::Shutdown),
            ) = r
            {
                let what = match reply {
                    CallBackReply::Shutdown => "shutdown",
                    _ => "cancel",
                };
                let mut e = ApiError::business(format!("the core asks for a {what}"));
                e.locations.push(ErrorLocation {
                    element_type: "CallBack".into(),
                    ..Default::default()
                });
                put_doc(w, "ErrorResponse", &e);
            }
            put_doc(w, &[r.call_name(), "Response"].concat(), r.body());
        }
    })
}

/// Reads the `IotpPaymentApiResponse` answering the call `expected` (its RFC 3867 element name).
///
/// An `ErrorResponse` becomes `Err` of that error. A document that is broken, invalid, or
/// answers another call becomes `Err` with `SyntaxError` (or `UnknownError` for a wrong or
/// missing answer; `MsgTooLarge` above the limit) and HardError: the host treats it as a
/// failure of the payment.
pub fn decode_response(
    doc: &[u8],
    expected: &str,
    limits: &Limits,
) -> Result<ApiResponse, ApiError> {
    read_response(doc, expected, limits).and_then(|answer| answer)
}

/// What a response document says: `Ok` of the answer or of the bridge's own `ErrorResponse`;
/// `Err` when it cannot be read or does not answer `expected` (see [`decode_response`]).
fn read_response(
    doc: &[u8],
    expected: &str,
    limits: &Limits,
) -> Result<ApiResult<ApiResponse>, ApiError> {
    let unknown = |desc: String| hard(ApiErrorCode::Iotp(ErrorCode::UnknownError), desc);
    let call = canonical_call(expected)
        .ok_or_else(|| unknown(format!("{expected} is not a Payment API call")))?;
    let invalid = |e: ApiError, what: &str| ApiError {
        code: ApiErrorCode::SyntaxError,
        desc: format!("invalid {what} from the payment bridge: {}", e.desc),
        severity: Severity::HardError,
        ..e
    };
    with_root(doc, RESPONSE_ROOT, limits, |root| {
        let mut error = None;
        let mut answer = None;
        for r in root.elements() {
            if r.name() == "ErrorResponse" && error.is_none() {
                error = Some(ApiError::get(&r).map_err(|e| invalid(e, "ErrorResponse"))?);
                continue;
            }
            let answered = r
                .name()
                .strip_suffix("Response")
                .and_then(canonical_call)
                .filter(|_| answer.is_none());
            match answered {
                Some(name) if name == call => answer = Some(r),
                Some(name) => return Err(mismatch(call, name)),
                None => {
                    return Err(unknown(format!(
                        "unexpected {} in {RESPONSE_ROOT}",
                        r.name()
                    )));
                }
            }
        }
        if let Some(e) = error {
            // A CallBackResponse comes with a BusError when it asks for a cancel or a shutdown.
            if !(call == "CallBack" && e.code == ApiErrorCode::BusError && answer.is_some()) {
                return Ok(Err(e));
            }
        }
        match answer {
            Some(r) => ApiResponse::read(call, &r)
                .unwrap_or_else(|| Err(unknown(format!("{call} has no response"))))
                .map(Ok)
                .map_err(|e| invalid(e, &format!("{call}Response"))),
            None => match call {
                "CheckPaymentReceipt" => Ok(Ok(ApiResponse::CheckPaymentReceipt(()))),
                "RemovePaymentLog" => Ok(Ok(ApiResponse::RemovePaymentLog(()))),
                _ => Err(unknown(format!(
                    "{RESPONSE_ROOT} holds no answer to {call}"
                ))),
            },
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The core side: a bridge reached through documents

/// A [`PaymentBridge`] that speaks documents: each call is written as its request document,
/// passed to `call` (e.g. a C plugin's entry point, a child process or a socket) with the
/// [`BridgeHost`] of the call, and its answer read as with [`decode_response`] under the
/// default [`Limits`].
///
/// **Failures are the payment's.** A transport failure (`Err` of `call`), an answer that cannot
/// be read (not a response document, not a valid one: `SyntaxError` or `MsgTooLarge` from
/// [`decode_response`], codes of the core's own input that would mislead the peer) or one that
/// answers another call or nothing, gives `UnknownError` with HardError whose description is
/// `"{name}: {call}: {what went wrong}"`, naming the bridge. An `ErrorResponse` the bridge
/// writes is its answer and is returned as it is (but for `SyntaxError` and `MsgTooLarge`, which
/// are renamed as above).
///
/// A bridge reached through an ABI has its own way to the host's services (CallBack, key-value
/// store, clock, random, log) and may ignore `host`; one in the same process (a scheme written
/// in Python) may hand its calls to it, its log lines above all, which the engine reports with
/// the call (as `Event::Log`).
pub struct DocumentBridge<F> {
    name: String,
    info: BridgeInfo,
    call: F,
    limits: Limits,
}

impl<F> std::fmt::Debug for DocumentBridge<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentBridge")
            .field("name", &self.name)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<F> DocumentBridge<F>
where
    F: Fn(&dyn BridgeHost, &[u8]) -> Result<Vec<u8>, String> + Send + Sync,
{
    /// A bridge described by `info` whose documents go through `call(host, document)`; `name`
    /// says which bridge it is in its errors (`payment scheme plugin mock (/path/to/lib.so)`).
    pub fn new(name: impl Into<String>, info: BridgeInfo, call: F) -> Self {
        DocumentBridge {
            name: name.into(),
            info,
            call,
            limits: Limits::default(),
        }
    }

    /// The name its errors give.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn exchange(
        &self,
        host: &dyn BridgeHost,
        call: &'static str,
        request: &dyn Doc,
    ) -> ApiResult<ApiResponse> {
        let doc = write_document(REQUEST_ROOT, |w| put_doc(w, call, request));
        let answer = (self.call)(host, doc.as_bytes()).map_err(|m| self.error(call, m))?;
        let unreadable = |e: ApiError| match e.code {
            ApiErrorCode::SyntaxError | ApiErrorCode::Iotp(ErrorCode::MsgTooLarge) => {
                self.error(call, format_args!("unreadable answer: {}", e.desc))
            }
            _ => e,
        };
        match read_response(&answer, call, &self.limits) {
            Ok(answered) => answered.map_err(unreadable),
            Err(e) if e.code == ApiErrorCode::Iotp(ErrorCode::UnknownError) => {
                Err(self.error(call, format_args!("unusable answer: {}", e.desc)))
            }
            Err(e) => Err(unreadable(e)),
        }
    }

    /// A failure of the call, naming the bridge.
    fn error(&self, call: &str, what: impl std::fmt::Display) -> ApiError {
        hard(
            ApiErrorCode::Iotp(ErrorCode::UnknownError),
            format!("{}: {call}: {what}", self.name),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::payapi::mock::MockScheme;
    use std::collections::{BTreeSet, HashMap};
    use std::sync::Mutex;

    // -- samples: every optional field set ----------------------------------------------------

    fn pcs(tag: &str) -> Vec<PackagedContent> {
        vec![
            PackagedContent {
                name: Some(format!("{tag}-text")),
                content: ContentType::MimeType("text/plain".into()),
                transform: Transform::None,
                data: b"  a <b> & \"c\" ]]>\r\n\tend ".to_vec(),
            },
            PackagedContent {
                name: Some(format!("{tag}-bin")),
                content: ContentType::Xml,
                transform: Transform::Base64,
                data: vec![0, 1, 2, 0xff, 0xfe, b'<'],
            },
            PackagedContent::text(""),
        ]
    }

    fn amount() -> AmountInfo {
        AmountInfo {
            pay_direction: PayDirection::Credit,
            curr_code_type: CurrCodeType::Iso4217A,
            curr_code: "EUR".into(),
            amount: "12.50".into(),
        }
    }

    fn wallet() -> WalletAccess {
        WalletAccess {
            wallet_id: Some("W-1".into()),
            passphrase: Some("pass \"phrase\" & <more>".into()),
        }
    }

    fn offer() -> OfferContent {
        OfferContent {
            brand: pcs("Brand"),
            protocol_brand: Some(ProtocolBrandInfo {
                protocol_brand_id: "x-pb".into(),
                content: pcs("ProtocolBrand"),
            }),
            protocol_amount: pcs("ProtocolAmount"),
            pay_protocol: pcs("PayProtocol"),
            order: pcs("Order"),
        }
    }

    fn brand_selection() -> BrandSelectionContent {
        BrandSelectionContent {
            brand_info: pcs("BrandSelBrandInfo"),
            protocol_amount_info: pcs("BrandSelProtocolAmountInfo"),
            currency_amount_info: pcs("BrandSelCurrencyAmountInfo"),
        }
    }

    fn algorithm(id: &str) -> Algorithm {
        Algorithm {
            id: id.into(),
            algorithm_type: Some(AlgorithmType::Signature),
            name: "x-alg".into(),
            parameters: vec![
                AlgorithmParameter {
                    parameter_type: "AlgorithmRef".into(),
                    content: vec![XmlNode::Text("A2".into())],
                },
                AlgorithmParameter {
                    parameter_type: "Empty".into(),
                    content: vec![],
                },
            ],
            extensions: vec![XmlElement {
                name: "x:Ext".into(),
                attributes: vec![("xmlns:x".into(), "urn:x".into())],
                children: vec![XmlNode::Text("t".into())],
            }],
        }
    }

    fn status(state: PaymentState) -> StatusInfo {
        StatusInfo {
            process_state: state,
            percent_complete: Some(42),
            completion_code: Some(CompletionCode::PaymtCancelled),
            status_desc: Some("50% <done>\t& \"ok\"\n".into()),
        }
    }

    fn s(v: &str) -> String {
        v.into()
    }

    fn requests() -> Vec<ApiRequest> {
        use ApiRequest as R;
        vec![
            R::FindAcceptedPaymentBrand(FindAcceptedPaymentBrand {
                amount: amount(),
                merchant_pay_id: s("M-1"),
                merchant_org_id: Some(s("shop.example")),
                wallet_id: Some(s("W-1")),
                merchant_data: pcs("MerchantData"),
            }),
            R::FindAcceptedPaymentProtocol(FindAcceptedPaymentProtocol {
                brand_id: Some(s("VISA")),
                amount: amount(),
                merchant_pay_id: s("M-1"),
                merchant_org_id: Some(s("shop.example")),
                wallet_id: Some(s("W-1")),
                brand_content: pcs("Brand"),
                merchant_data: pcs("MerchantData"),
            }),
            R::GetPaymentInitializationData(GetPaymentInitializationData {
                brand_id: s("VISA"),
                merchant_pay_id: s("M-1"),
                amount: amount(),
                protocol_id: s("SET"),
                ok_from: s("2000-01-01T00:00:00Z"),
                ok_to: s("2000-01-02T00:00:00Z"),
                receiver_org_id: Some(s("ph.example")),
                merchant_org_id: Some(s("shop.example")),
                wallet: wallet(),
                offer: offer(),
                brand_selection: brand_selection(),
                merchant_data: pcs("MerchantData"),
            }),
            R::InquireAuthChallenge(InquireAuthChallenge {
                authentication_id: s("AU-1"),
                wallet: wallet(),
                algorithms: vec![algorithm("A1"), algorithm("A2")],
            }),
            R::Authenticate(Authenticate {
                authentication_id: s("AU-1"),
                wallet: wallet(),
                algorithm: algorithm("A1"),
                auth_req: pcs("AuthReq"),
            }),
            R::CheckAuthResponse(CheckAuthResponse {
                authentication_id: s("AU-1"),
                wallet: wallet(),
                algorithm: algorithm("A1"),
                auth_req: pcs("AuthReq"),
                auth_res: pcs("AuthRes"),
            }),
            R::FindPaymentInstrument(FindPaymentInstrument {
                brand_id: s("VISA"),
                protocol_id: s("SET"),
                amount: amount(),
                consumer_pay_id: s("C-1"),
                wallet_id: Some(s("W-1")),
                offer: offer(),
            }),
            R::CheckPaymentPossibility(CheckPaymentPossibility {
                brand_id: s("VISA"),
                payment_instrument_id: Some(s("card-1")),
                amount: amount(),
                protocol_id: s("SET"),
                consumer_pay_id: s("C-1"),
                wallet: wallet(),
                offer: offer(),
            }),
            R::StartPaymentConsumer(StartPaymentConsumer {
                brand_id: s("VISA"),
                payment_instrument_id: Some(s("card-1")),
                amount: amount(),
                protocol_id: s("SET"),
                protocol_brand_id: Some(s("x-pb")),
                ok_from: s("a"),
                ok_to: s("b"),
                consumer_pay_id: s("C-1"),
                wallet: wallet(),
                offer: offer(),
            }),
            R::ResumePaymentConsumer(ResumePaymentConsumer {
                consumer_pay_id: s("C-1"),
                wallet: wallet(),
            }),
            R::StartPaymentInquiry(StartPaymentInquiry {
                consumer_pay_id: s("C-1"),
                wallet: wallet(),
            }),
            R::PaymentInstrumentInquiry(PaymentInstrumentInquiry {
                brand_id: s("VISA"),
                payment_instrument_id: Some(s("card-1")),
                protocol_id: s("SET"),
                property_types: vec![s("Balance"), s("PayAmount1")],
                lang: Some(s("en")),
                wallet: wallet(),
                offer: offer(),
            }),
            R::StartPaymentPaymentHandler(StartPaymentPaymentHandler {
                brand_id: s("VISA"),
                consumer_pay_id: Some(s("C-1")),
                amount: amount(),
                protocol_id: s("SET"),
                ok_from: s("a"),
                ok_to: s("b"),
                payment_handler_pay_id: s("P-1"),
                merchant_org_id: s("shop.example"),
                wallet: wallet(),
                offer: offer(),
                brand_selection: brand_selection(),
                trading_role_data: pcs("Payment:TradingRoleData"),
                pay_scheme: pcs("PayScheme"),
            }),
            R::ResumePaymentPaymentHandler(ResumePaymentPaymentHandler {
                payment_handler_pay_id: s("P-1"),
                wallet: wallet(),
                pay_scheme: pcs("PayScheme"),
            }),
            R::InquirePaymentStatus(InquirePaymentStatus {
                payment_handler_pay_id: s("P-1"),
                wallet: wallet(),
                pay_scheme: pcs("PayScheme"),
            }),
            R::ContinueProcess(ContinueProcess {
                pay_id: s("P-1"),
                process_type: ProcessType::Inquiry,
                wallet: wallet(),
                pay_scheme: pcs("PayScheme"),
                from_hard_error: true,
            }),
            R::ChangeProcessState(ChangeProcessState {
                pay_id: s("P-1"),
                process_state: PaymentState::Suspended,
                completion_code: Some(CompletionCode::ConsCancelled),
                process_type: ProcessType::Inquiry,
                wallet: wallet(),
            }),
            R::InquireProcessState(InquireProcessState {
                pay_id: s("P-1"),
                wallet: wallet(),
            }),
            R::CheckPaymentReceipt(CheckPaymentReceipt {
                pay_id: s("C-1"),
                wallet: wallet(),
                receipt: pcs("Receipt"),
            }),
            R::ExpandPaymentReceipt(ExpandPaymentReceipt {
                pay_id: s("C-1"),
                wallet: wallet(),
                receipt: pcs("Receipt"),
            }),
            R::RemovePaymentLog(RemovePaymentLog {
                pay_id: s("C-1"),
                wallet: wallet(),
            }),
            R::InquirePendingPayment(InquirePendingPayment { wallet: wallet() }),
            R::ManagePaymentSoftware(ManagePaymentSoftware {
                brand_id: Some(s("VISA")),
                protocol_id: Some(s("SET")),
                action: Some(s("Update")),
                wallet: wallet(),
                offer: offer(),
            }),
            R::CallBack(CallBack {
                content_software_id: Some(s("Vendor Product 1.0 build 7")),
                pay_id: s("P-1"),
                process_state: Some(PaymentState::Iotp(ProcessState::InProgress)),
                percent_complete: Some(100),
                completion_code: Some(CompletionCode::Unspecified),
                status_desc: Some(s("Paying 12.30 USD to XYZ Inc")),
            }),
        ]
    }

    fn brand_item() -> BrandItem {
        BrandItem {
            brand_id: s("VISA"),
            lang: Some(s("en")),
            brand_name: s("Visa"),
            brand_logo_net_locn: s("https://x/logo.gif"),
            brand_narrative: Some(s("5% discount")),
            content: pcs("Brand"),
        }
    }

    fn property(t: &str) -> InstrumentProperty {
        InstrumentProperty {
            property_type: s(t),
            property_value: s("100.00"),
            property_desc: Some(s("what is left")),
        }
    }

    fn responses() -> Vec<ApiResponse> {
        use ApiResponse as R;
        vec![
            R::FindAcceptedPaymentBrand(FindAcceptedPaymentBrandResponse {
                brands: vec![brand_item(), brand_item()],
            }),
            R::FindAcceptedPaymentProtocol(FindAcceptedPaymentProtocolResponse {
                protocols: vec![ProtocolItem {
                    protocol_id: s("SET"),
                    protocol_brand_id: Some(s("x-pb")),
                    protocol_name: s("SET 1.0"),
                    pay_req_net_locn: Some(s("http://ph/pay")),
                    sec_pay_req_net_locn: Some(s("https://ph/pay")),
                    protocol_amount_content: pcs("ProtocolAmount"),
                    pay_protocol_content: pcs("PayProtocol"),
                    currency_amounts: vec![
                        amount(),
                        AmountInfo {
                            curr_code: s("USD"),
                            ..amount()
                        },
                    ],
                }],
                brands: vec![brand_item()],
            }),
            R::GetPaymentInitializationData(GetPaymentInitializationDataResponse {
                ok_from: Some(s("a")),
                ok_to: Some(s("b")),
                order: pcs("Order"),
                trading_role_data: pcs("Payment:SET-OD"),
            }),
            R::InquireAuthChallenge(InquireAuthChallengeResponse {
                auth_req: pcs("AuthReq"),
                algorithm: algorithm("A1"),
            }),
            R::Authenticate(AuthenticateResponse {
                auth_res: pcs("AuthRes"),
            }),
            R::CheckAuthResponse(status(PaymentState::Iotp(ProcessState::CompletedOk))),
            R::FindPaymentInstrument(FindPaymentInstrumentResponse {
                instruments: vec![PayInstrument {
                    id: s("card-1"),
                    lang: Some(s("de")),
                    pay_inst_name: s("Karte"),
                }],
            }),
            R::CheckPaymentPossibility(CheckPaymentPossibilityResponse {
                brand_selection: brand_selection(),
            }),
            R::StartPaymentConsumer(SchemeStep::more(pcs("PayScheme"))),
            R::ResumePaymentConsumer(SchemeStep::end(pcs("PayScheme"))),
            R::StartPaymentInquiry(StartPaymentInquiryResponse {
                pay_scheme: pcs("PayScheme"),
            }),
            R::PaymentInstrumentInquiry(PaymentInstrumentInquiryResponse {
                properties: vec![property("Balance"), property("x-Points")],
                unavailable: vec![s("Limit"), s("Expiration")],
            }),
            R::StartPaymentPaymentHandler(SchemeStep::end(pcs("PayScheme"))),
            R::ResumePaymentPaymentHandler(SchemeStep::more(vec![])),
            R::InquirePaymentStatus(InquirePaymentStatusResponse {
                payment_handler_pay_id: Some(s("P-1")),
                status: status(PaymentState::Iotp(ProcessState::ProcessError)),
                pay_scheme: pcs("PayScheme"),
            }),
            R::ContinueProcess(SchemeStep::more(pcs("PayScheme"))),
            R::ChangeProcessState(status(PaymentState::Iotp(ProcessState::Failed))),
            R::InquireProcessState(InquireProcessStateResponse {
                status: status(PaymentState::Suspended),
                pay_receipt_name_refs: vec![s("R1"), s("R2")],
                receipt: pcs("Receipt"),
            }),
            R::CheckPaymentReceipt(()),
            R::ExpandPaymentReceipt(ExpandPaymentReceiptResponse {
                brand_id: Some(s("VISA")),
                payment_instrument_id: Some(s("card-1")),
                amount: Some(amount()),
                time_stamp: Some(s("2000-01-01T00:00:00Z")),
                protocol_id: Some(s("SET")),
                protocol_brand_id: Some(s("x-pb")),
                protocol_trans_id: Some(s("T-9")),
                consumer_desc: Some(s("you paid")),
                payment_handler_desc: Some(s("we got")),
                style_sheet_net_locn: Some(s("https://x/s.xsl")),
                properties: vec![property("PayAmount1")],
            }),
            R::RemovePaymentLog(()),
            R::InquirePendingPayment(InquirePendingPaymentResponse {
                pay_ids: vec![s("C-1"), s("C-2")],
            }),
            R::ManagePaymentSoftware(ManagePaymentSoftwareResponse {
                action: Some(s("New")),
                wallet: wallet(),
                auth_names: vec![s("x-a"), s("x-b")],
            }),
            R::CallBack(CallBackReply::Continue),
            R::CallBack(CallBackReply::Cancel(CompletionCode::ConsCancelled)),
            R::CallBack(CallBackReply::Shutdown),
        ]
    }

    fn full_error() -> ApiError {
        ApiError {
            code: ApiErrorCode::ReqRefused,
            desc: s("refused: \"no\" <because>"),
            severity: Severity::TransientError,
            min_retry_secs: Some(30),
            sw_vendor_error_ref: Some(s("E-17")),
            locations: vec![
                ErrorLocation {
                    element_type: s("PaySchemeData"),
                    iotp_msg_ref: Some(s("M.1")),
                    blk_ref: Some(s("B.2")),
                    comp_ref: Some(s("C.3")),
                    element_ref: Some(s("E.4")),
                    att_name: Some(s("PayId")),
                },
                ErrorLocation {
                    element_type: s("Brand"),
                    ..Default::default()
                },
            ],
            pay_scheme: pcs("PayScheme"),
        }
    }

    fn limits() -> Limits {
        Limits::default()
    }

    fn all_calls() -> BTreeSet<&'static str> {
        BRIDGE_CALLS.iter().copied().chain(["CallBack"]).collect()
    }

    // -- round trips -------------------------------------------------------------------------

    #[test]
    fn every_request_round_trips() {
        let reqs = requests();
        let names: BTreeSet<_> = reqs.iter().map(ApiRequest::call_name).collect();
        assert_eq!(names, all_calls(), "one sample per call");
        assert_eq!(reqs.len(), BRIDGE_CALLS.len() + 1);
        for req in reqs {
            let doc = encode_request(&req);
            assert!(doc.contains(&format!("<{} ", req.call_name())), "{doc}");
            let back = decode_request(doc.as_bytes(), &limits())
                .unwrap_or_else(|e| panic!("{}: {e}\n{doc}", req.call_name()));
            assert_eq!(back, req, "{doc}");
            // Writing is a fixed point.
            assert_eq!(encode_request(&back), doc);
        }
    }

    #[test]
    fn every_response_round_trips() {
        let resps = responses();
        let names: BTreeSet<_> = resps.iter().map(ApiResponse::call_name).collect();
        assert_eq!(names, all_calls(), "one sample per call");
        for resp in resps {
            let call = resp.call_name();
            let doc = encode_response(&Ok(resp.clone()));
            assert!(doc.contains(&format!("<{call}Response")), "{doc}");
            let back = decode_response(doc.as_bytes(), call, &limits())
                .unwrap_or_else(|e| panic!("{call}: {e}\n{doc}"));
            assert_eq!(back, resp, "{doc}");
        }
    }

    #[test]
    fn error_responses_round_trip() {
        let mut plain = ApiError::illegal_value("Passphrase", "wrong pass phrase");
        plain.code = ApiErrorCode::Iotp(ErrorCode::AttValIllegal);
        for e in [
            full_error(),
            plain,
            ApiError::business("declined"),
            ApiError::transient(ErrorCode::SystemBusy, 5, "busy"),
        ] {
            let doc = encode_response(&Err(e.clone()));
            assert!(doc.contains("<ErrorResponse "), "{doc}");
            for call in ["ContinueProcess", "CallBack", "CheckPaymentReceipt"] {
                assert_eq!(
                    decode_response(doc.as_bytes(), call, &limits()),
                    Err(e.clone())
                );
            }
        }
        // The RFC's ErrorResponse may come with a response; the error wins.
        let doc = encode_response(&Err(full_error())).replace(
            "</IotpPaymentApiResponse>",
            "<ContinueProcessResponse ContStatus=\"End\"/></IotpPaymentApiResponse>",
        );
        assert_eq!(
            decode_response(doc.as_bytes(), "ContinueProcess", &limits()),
            Err(full_error())
        );
    }

    #[test]
    fn emits_the_rfc_spellings() {
        let doc = encode_request(&requests()[7]);
        assert!(doc.contains("<CheckPaymentPossibility "), "{doc}");
        assert!(doc.contains(&format!("xmlns=\"{NAMESPACE}\"")), "{doc}");
        assert!(doc.contains(" WalletID=\"W-1\""), "{doc}");
        assert!(doc.contains(" Passphrase=\""), "{doc}");
        assert!(
            doc.contains("<BrandPackagedContent Name=\"Brand-text\""),
            "{doc}"
        );
        assert!(
            doc.contains("<ProtocolBrand ProtocolBrandId=\"x-pb\"><PackagedContent"),
            "{doc}"
        );
        assert!(doc.contains("Transform=\"BASE64\">AAEC//48</"), "{doc}");
        let doc = encode_response(&Ok(ApiResponse::ChangeProcessState(status(
            PaymentState::Suspended,
        ))));
        assert!(doc.contains("ProcessState=\"Suspended\""), "{doc}");
        assert!(doc.contains("CompletionCode=\"PaymtCancelled\""), "{doc}");
    }

    // -- liberal reading ---------------------------------------------------------------------

    #[test]
    fn reads_the_rfc_misspellings_and_layout() {
        let doc = br#"<?xml version="1.0"?>
<IotpPaymentApiRequest xml:lang="en" ContentSoftwareID="x">
  <CheckPaymentPossiblity BrandId="VISA" PayDirection="Debit" CurrCode="USD" Amount="1"
      ProtocolId="SET" ConsumerPayId="C-1" WalletId="W-9" x-unknown="ignored">
    <PayProtocolPackagedContent Name="b">
       QUJD
    </PayProtocolPackagedContent>
    <x:Foreign xmlns:x="urn:x"/>
    <BrandPackagedContent Name="a">text</BrandPackagedContent>
  </CheckPaymentPossiblity>
</IotpPaymentApiRequest>"#;
        let ApiRequest::CheckPaymentPossibility(r) = decode_request(doc, &limits()).unwrap() else {
            panic!("wrong call")
        };
        assert_eq!(r.wallet.wallet_id.as_deref(), Some("W-9"));
        assert_eq!(
            r.amount.curr_code_type,
            CurrCodeType::Iso4217A,
            "DTD default"
        );
        assert_eq!(r.offer.brand[0].data, b"text");
        assert_eq!(r.offer.pay_protocol[0].data, b"\n       QUJD\n    ");
        let doc = String::from_utf8_lossy(doc).replace(
            "<PayProtocolPackagedContent Name=\"b\">",
            "<PayProtocolPackagedContent Name=\"b\" Transform=\"BASE64\">",
        );
        let ApiRequest::CheckPaymentPossibility(r) =
            decode_request(doc.as_bytes(), &limits()).unwrap()
        else {
            panic!("wrong call")
        };
        assert_eq!(
            r.offer.pay_protocol[0].data, b"ABC",
            "base64 with whitespace"
        );

        let doc = br#"<IotpPaymentApiRequest xmlns="http://www.iotp.org/2000/08/PaymentAPI"><ChangeProcessState PayId="C-1" ProcessState="Failed" CompletionCode="PaymCancelled"/></IotpPaymentApiRequest>"#;
        let ApiRequest::ChangeProcessState(r) = decode_request(doc, &limits()).unwrap() else {
            panic!("wrong call")
        };
        assert_eq!(r.completion_code, Some(CompletionCode::PaymtCancelled));
        assert_eq!(r.process_type, ProcessType::Payment, "DTD default");

        let doc = br#"<IotpPaymentApiResponse>
            <CheckPaymentPossiblityResponse/>
        </IotpPaymentApiResponse>"#;
        assert_eq!(
            decode_response(doc, "CheckPaymentPossibility", &limits()),
            Ok(ApiResponse::CheckPaymentPossibility(Default::default()))
        );
        assert_eq!(
            decode_response(doc, "CheckPaymentPossiblity", &limits()),
            Ok(ApiResponse::CheckPaymentPossibility(Default::default()))
        );
        let doc = br#"<IotpPaymentApiResponse><ErrorResponse ErrorCode="AttValInvalid" ErrorDesc="d" Severity="HardError"><ErrorLocation ElementType="X" AttName="Y"/></ErrorResponse></IotpPaymentApiResponse>"#;
        let e = decode_response(doc, "InquireProcessState", &limits()).unwrap_err();
        assert_eq!(e.code, ApiErrorCode::AttNotValid);
        assert_eq!(e.attribute(), Some("Y"));
        // EMPTY responses may be left out.
        let doc = br#"<IotpPaymentApiResponse/>"#;
        assert_eq!(
            decode_response(doc, "RemovePaymentLog", &limits()),
            Ok(ApiResponse::RemovePaymentLog(()))
        );
    }

    // -- garbage -----------------------------------------------------------------------------

    fn request_error(doc: &[u8]) -> ApiError {
        match decode_request(doc, &limits()) {
            Ok(r) => panic!("accepted {r:?}"),
            Err(e) => e,
        }
    }

    fn wrap(call: &str) -> String {
        format!("<IotpPaymentApiRequest xmlns=\"{NAMESPACE}\">{call}</IotpPaymentApiRequest>")
    }

    fn assert_location(e: &ApiError, code: ErrorCode, element: &str, att: Option<&str>) {
        assert_eq!(e.code, ApiErrorCode::Iotp(code), "{e}");
        assert_eq!(e.severity, Severity::HardError);
        assert_eq!(e.locations.len(), 1, "{e:?}");
        assert_eq!(e.locations[0].element_type, element);
        assert_eq!(e.locations[0].att_name.as_deref(), att);
    }

    #[test]
    fn garbage_requests_give_the_right_error() {
        for doc in [
            &b""[..],
            b"not xml at all",
            b"<IotpPaymentApiRequest>",
            b"<IotpPaymentApiRequest></Other>",
            b"\xff\xfe\x00",
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><IotpPaymentApiRequest/>",
        ] {
            assert_eq!(
                request_error(doc).code,
                ApiErrorCode::SyntaxError,
                "{doc:?}"
            );
        }
        let e = request_error(b"<IotpPaymentApiResponse/>");
        assert_eq!(e.code, ApiErrorCode::SyntaxError);
        let e = request_error(b"<IotpPaymentApiRequest xmlns=\"urn:other\"><InquirePendingPayment/></IotpPaymentApiRequest>");
        assert_eq!(e.code, ApiErrorCode::SyntaxError);
        assert_eq!(e.attribute(), Some("xmlns"));
        // No call, two calls.
        assert_eq!(
            request_error(wrap("").as_bytes()).code,
            ApiErrorCode::SyntaxError
        );
        let two = wrap("<InquirePendingPayment/><InquirePendingPayment/>");
        assert_eq!(
            request_error(two.as_bytes()).code,
            ApiErrorCode::SyntaxError
        );
        // Unknown calls, and a response element where a call belongs.
        for call in [
            "<FlyToTheMoon/>",
            "<ContinueProcessResponse ContStatus=\"End\"/>",
        ] {
            assert_eq!(
                request_error(wrap(call).as_bytes()).code,
                ApiErrorCode::ReqNotSupp
            );
        }

        let e = request_error(
            wrap(r#"<FindAcceptedPaymentBrand PayDirection="Debit" CurrCode="USD" Amount="1"/>"#)
                .as_bytes(),
        );
        assert_location(
            &e,
            ErrorCode::AttMissing,
            "FindAcceptedPaymentBrand",
            Some("MerchantPayId"),
        );
        let e = request_error(
            wrap(r#"<FindAcceptedPaymentBrand PayDirection="Sideways" CurrCode="USD" Amount="1" MerchantPayId="M"/>"#)
                .as_bytes(),
        );
        assert_location(
            &e,
            ErrorCode::AttValIllegal,
            "FindAcceptedPaymentBrand",
            Some("PayDirection"),
        );
        let e = request_error(
            wrap(r#"<ChangeProcessState PayId="P" ProcessState="Done"/>"#).as_bytes(),
        );
        assert_location(
            &e,
            ErrorCode::AttValIllegal,
            "ChangeProcessState",
            Some("ProcessState"),
        );
        let e =
            request_error(wrap(r#"<ContinueProcess PayId="P" ProcessType="Refund"/>"#).as_bytes());
        assert_location(
            &e,
            ErrorCode::AttValIllegal,
            "ContinueProcess",
            Some("ProcessType"),
        );
        for pc in ["101", "-1", "half", ""] {
            let call = format!(r#"<CallBack PayId="P" PercentComplete="{pc}"/>"#);
            let e = request_error(wrap(&call).as_bytes());
            assert_location(
                &e,
                ErrorCode::AttValIllegal,
                "CallBack",
                Some("PercentComplete"),
            );
        }
        let e = request_error(wrap(r#"<ManagePaymentSoftware Action="Explode"/>"#).as_bytes());
        assert_location(
            &e,
            ErrorCode::AttValIllegal,
            "ManagePaymentSoftware",
            Some("Action"),
        );
        let e = request_error(
            wrap(r#"<PaymentInstrumentInquiry BrandId="B" ProtocolId="P"/>"#).as_bytes(),
        );
        assert_location(
            &e,
            ErrorCode::AttMissing,
            "PaymentInstrumentInquiry",
            Some("PropertyTypeList"),
        );
        let e = request_error(wrap(r#"<Authenticate AuthenticationId="A"/>"#).as_bytes());
        assert_location(&e, ErrorCode::ElMissing, "Authenticate", None);
        let e = request_error(
            wrap(r#"<Authenticate AuthenticationId="A"><Algorithm ID="a"/></Authenticate>"#)
                .as_bytes(),
        );
        assert_location(&e, ErrorCode::AttMissing, "Algorithm", Some("name"));
        let e = request_error(
            wrap(r#"<ResumePaymentPaymentHandler PaymentHandlerPayId="P"><PaySchemePackagedContent Transform="BASE64">!!!</PaySchemePackagedContent></ResumePaymentPaymentHandler>"#)
                .as_bytes(),
        );
        assert_location(
            &e,
            ErrorCode::ElContIllegal,
            "PaySchemePackagedContent",
            None,
        );
        let e = request_error(
            wrap(r#"<ResumePaymentPaymentHandler PaymentHandlerPayId="P"><PaySchemePackagedContent Transform="ROT13">x</PaySchemePackagedContent></ResumePaymentPaymentHandler>"#)
                .as_bytes(),
        );
        assert_location(
            &e,
            ErrorCode::AttValIllegal,
            "PaySchemePackagedContent",
            Some("Transform"),
        );
        let e = request_error(
            wrap(r#"<CheckPaymentReceipt PayId="P"><PackagedContent>a<b/></PackagedContent></CheckPaymentReceipt>"#)
                .as_bytes(),
        );
        assert_location(&e, ErrorCode::ElContIllegal, "PackagedContent", None);
        let e = request_error(
            wrap(r#"<InquireProcessState PayId="P"/>"#)
                .replace("PayId", "Payid")
                .as_bytes(),
        );
        assert_location(
            &e,
            ErrorCode::AttMissing,
            "InquireProcessState",
            Some("PayId"),
        );
    }

    #[test]
    fn huge_and_deep_documents_are_refused_within_the_limits() {
        let small = Limits {
            max_message_bytes: 64 * 1024,
            max_text_bytes: 16 * 1024,
            ..Limits::default()
        };
        let ten_mb = "x".repeat(10 * 1024 * 1024);
        let doc = wrap(&format!(
            "<CheckPaymentReceipt PayId=\"P\"><PackagedContent>{ten_mb}</PackagedContent></CheckPaymentReceipt>"
        ));
        let e = decode_request(doc.as_bytes(), &small).unwrap_err();
        assert_eq!(e.code, ApiErrorCode::Iotp(ErrorCode::MsgTooLarge));
        assert_eq!(
            decode_response(doc.as_bytes(), "CheckPaymentReceipt", &small)
                .unwrap_err()
                .code,
            ApiErrorCode::Iotp(ErrorCode::MsgTooLarge)
        );
        // Under a large message limit, the text limit still holds.
        let roomy = Limits {
            max_message_bytes: 32 * 1024 * 1024,
            ..small.clone()
        };
        let e = decode_request(doc.as_bytes(), &roomy).unwrap_err();
        assert_eq!(e.code, ApiErrorCode::SyntaxError);
        let attr = wrap(&format!("<InquireProcessState PayId=\"{ten_mb}\"/>"));
        let e = decode_request(attr.as_bytes(), &roomy).unwrap_err();
        assert_eq!(e.code, ApiErrorCode::SyntaxError);

        let deep = wrap(&format!(
            "{}{}",
            "<a>".repeat(100_000),
            "</a>".repeat(100_000)
        ));
        let e = decode_request(deep.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e.code, ApiErrorCode::SyntaxError, "{e}");
        let e = decode_response(deep.as_bytes(), "InquireProcessState", &Limits::default())
            .unwrap_err();
        assert_eq!(e.code, ApiErrorCode::SyntaxError, "{e}");
    }

    /// The flat list of nodes holds what `parse_tree` reads, and fails where it fails.
    #[test]
    fn documents_read_as_parse_tree_reads_them() {
        let tricky = "<?xml version=\"1.0\"?>\n<!-- c --><IotpPaymentApiRequest a=\"x&#9;y\" b='&lt;'>\
            <CheckPaymentReceipt PayId=\"P\"><PackagedContent>a&amp;b<![CDATA[<c>]]><!-- d -->e\r\nf<?pi x?>&#x41;</PackagedContent>\
            <Empty/><x:Ext xmlns:x=\"urn:x\"><y>t</y></x:Ext></CheckPaymentReceipt></IotpPaymentApiRequest>";
        let mut docs = vec![tricky.to_owned()];
        docs.extend(requests().iter().map(encode_request));
        docs.extend(responses().into_iter().map(|r| encode_response(&Ok(r))));
        for doc in &docs {
            let tree = Tree::read(doc, &limits()).unwrap();
            assert_eq!(
                Rd::root(&tree).owned(),
                crate::xml::parse_tree(doc.as_bytes(), &limits()).unwrap()
            );
            for cut in (0..doc.len()).step_by(3) {
                let Some(part) = doc.get(..cut) else { continue };
                let expected = crate::xml::parse_tree(part.as_bytes(), &limits());
                assert_eq!(
                    Tree::read(part, &limits()).map(|t| Rd::root(&t).owned()),
                    expected
                );
            }
        }
        let tree = Tree::read(tricky, &limits()).unwrap();
        let pc = Rd::root(&tree)
            .elements()
            .next()
            .unwrap()
            .elements()
            .next()
            .unwrap();
        assert_eq!(pc.text(), "a&b<c>e\nfA");
    }

    /// Read with the fast tokenizer (and quick-xml where it gives up), every document and every
    /// mutation of it gives the nodes, or the error, of a read with quick-xml alone.
    #[test]
    fn the_fast_read_equals_the_checked_read() {
        let checked = |doc: &str| {
            let mut tree = Tree {
                nodes: Vec::new(),
                attributes: Vec::new(),
            };
            tree.fill(&mut Cursor::new(doc, &limits()))
                .map(|()| format!("{tree:?}"))
        };
        let mut docs: Vec<String> = requests().iter().map(encode_request).collect();
        docs.extend(responses().into_iter().map(|r| encode_response(&Ok(r))));
        let mut fast = 0;
        for doc in &docs {
            let mut tree = Tree {
                nodes: Vec::new(),
                attributes: Vec::new(),
            };
            if tree.fill(&mut Cursor::new_fast(doc, &limits())).is_ok() {
                fast += 1;
            }
            let mutations = crate::xml::reader::tests::mutations(doc, 5);
            for doc in std::iter::once(doc).chain(&mutations) {
                let read = Tree::read(doc, &limits()).map(|t| format!("{t:?}"));
                assert_eq!(read, checked(doc), "{doc}");
            }
        }
        assert_eq!(fast, docs.len());
    }

    #[test]
    fn truncated_and_mangled_documents_never_panic() {
        let req = encode_request(&requests()[12]);
        let resp = encode_response(&Ok(responses()[1].clone()));
        for doc in [req.as_bytes(), resp.as_bytes()] {
            for cut in (0..doc.len()).step_by(7) {
                let _ = decode_request(&doc[..cut], &limits());
                let _ = decode_response(&doc[..cut], "StartPaymentPaymentHandler", &limits());
            }
            let mut bytes = doc.to_vec();
            for i in (0..bytes.len()).step_by(13) {
                let old = bytes[i];
                for b in [b'<', b'"', b'&', b'>', 0, 0xc3] {
                    bytes[i] = b;
                    let _ = decode_request(&bytes, &limits());
                    let _ = decode_response(&bytes, "FindAcceptedPaymentProtocol", &limits());
                }
                bytes[i] = old;
            }
        }
    }

    #[test]
    fn broken_or_wrong_answers_fail_the_call() {
        let check = |doc: &[u8], expected: &str, code: ApiErrorCode| {
            let e = decode_response(doc, expected, &limits()).unwrap_err();
            assert_eq!(e.code, code, "{e}");
            assert_eq!(e.severity, Severity::HardError);
            assert!(!e.desc.is_empty());
        };
        let unknown = ApiErrorCode::Iotp(ErrorCode::UnknownError);
        check(b"", "ContinueProcess", ApiErrorCode::SyntaxError);
        check(
            b"<IotpPaymentApiResponse>",
            "ContinueProcess",
            ApiErrorCode::SyntaxError,
        );
        check(
            b"<IotpPaymentApiRequest/>",
            "ContinueProcess",
            ApiErrorCode::SyntaxError,
        );
        check(
            b"<IotpPaymentApiResponse xmlns=\"urn:x\"/>",
            "ContinueProcess",
            ApiErrorCode::SyntaxError,
        );
        let other = encode_response(&Ok(ApiResponse::StartPaymentConsumer(SchemeStep::end(
            vec![],
        ))));
        check(other.as_bytes(), "ContinueProcess", unknown.clone());
        check(
            b"<IotpPaymentApiResponse/>",
            "ContinueProcess",
            unknown.clone(),
        );
        check(
            b"<IotpPaymentApiResponse><Surprise/></IotpPaymentApiResponse>",
            "ContinueProcess",
            unknown.clone(),
        );
        check(b"<IotpPaymentApiResponse/>", "NoSuchCall", unknown);
        let maybe = br#"<IotpPaymentApiResponse><ContinueProcessResponse ContStatus="Maybe"/></IotpPaymentApiResponse>"#;
        check(maybe, "ContinueProcess", ApiErrorCode::SyntaxError);
        let e = decode_response(maybe, "ContinueProcess", &limits()).unwrap_err();
        assert_eq!(e.attribute(), Some("ContStatus"));
        let bad_error = br#"<IotpPaymentApiResponse><ErrorResponse ErrorCode="X" ErrorDesc="d" Severity="Fatal"/></IotpPaymentApiResponse>"#;
        check(bad_error, "ContinueProcess", ApiErrorCode::SyntaxError);
    }

    // -- the document bridge -----------------------------------------------------------------

    #[derive(Default)]
    struct Host {
        kv: Mutex<HashMap<String, Vec<u8>>>,
        callbacks: Mutex<Vec<CallBack>>,
    }

    impl BridgeHost for Host {
        fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
            Ok(self.kv.lock().unwrap().get(key).cloned())
        }
        fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
            self.kv.lock().unwrap().insert(key.into(), value.into());
            Ok(())
        }
        fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ApiError> {
            let mut kv = self.kv.lock().unwrap();
            if kv.contains_key(key) {
                return Ok(false);
            }
            kv.insert(key.into(), value.into());
            Ok(true)
        }
        fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
            self.kv.lock().unwrap().remove(key);
            Ok(())
        }
        fn callback(&self, call: &CallBack) -> CallBackReply {
            self.callbacks.lock().unwrap().push(call.clone());
            CallBackReply::Continue
        }
        fn now_unix_millis(&self) -> i64 {
            0
        }
        fn random(&self, out: &mut [u8]) {
            out.fill(7);
        }
        fn log(&self, _level: LogLevel, _message: &str) {}
    }

    /// A plugin as the plugin host sees it: bytes in, bytes out, its own host services.
    fn plugin(host: Host) -> impl PaymentBridge + std::fmt::Debug {
        let mock = MockScheme::new(Some("http://ph.example/pay"));
        DocumentBridge::new(
            "mock",
            mock.info(),
            move |_: &dyn BridgeHost, doc: &[u8]| {
                let answer = decode_request(doc, &Limits::default())
                    .and_then(|req| dispatch(&mock, &host, &req));
                Ok(encode_response(&answer).into_bytes())
            },
        )
    }

    fn pay_through(
        bridge: &dyn PaymentBridge,
        host: &dyn BridgeHost,
        instrument: &str,
    ) -> Vec<String> {
        let mut trace = Vec::new();
        let amount = AmountInfo {
            pay_direction: PayDirection::Debit,
            curr_code: s("USD"),
            amount: s("10.00"),
            ..Default::default()
        };
        let step = bridge.start_payment_consumer(
            host,
            &StartPaymentConsumer {
                brand_id: s(crate::payapi::mock::BRAND_ID),
                payment_instrument_id: Some(s(instrument)),
                amount: amount.clone(),
                protocol_id: s(crate::payapi::mock::PROTOCOL_ID),
                consumer_pay_id: s("C-1"),
                ..Default::default()
            },
        );
        trace.push(format!("{step:?}"));
        let mut step = step.unwrap();
        let handler = bridge.start_payment_payment_handler(
            host,
            &StartPaymentPaymentHandler {
                amount,
                payment_handler_pay_id: s("P-1"),
                pay_scheme: step.pay_scheme.clone(),
                ..Default::default()
            },
        );
        trace.push(format!("{handler:?}"));
        if let Ok(h) = handler {
            step = h;
            let mut ids = ["C-1", "P-1"].iter().cycle();
            while step.cont_status == ContStatus::Continue {
                let r = bridge.continue_process(
                    host,
                    &ContinueProcess {
                        pay_id: s(ids.next().unwrap()),
                        pay_scheme: step.pay_scheme.clone(),
                        ..Default::default()
                    },
                );
                trace.push(format!("{r:?}"));
                step = r.unwrap();
            }
        }
        for id in ["C-1", "P-1"] {
            let st = bridge.inquire_process_state(
                host,
                &InquireProcessState {
                    pay_id: s(id),
                    ..Default::default()
                },
            );
            trace.push(format!("{st:?}"));
        }
        trace.push(format!(
            "{:?}",
            bridge.manage_payment_software(host, &ManagePaymentSoftware::default())
        ));
        trace
    }

    #[test]
    fn a_document_bridge_behaves_like_the_bridge_itself() {
        for instrument in ["approve", "extra-round", "decline-InsuffFunds", "timeout"] {
            let direct_host = Host::default();
            let direct = pay_through(
                &MockScheme::new(Some("http://ph.example/pay")),
                &direct_host,
                instrument,
            );
            let unused = Host::default();
            let through = pay_through(&plugin(Host::default()), &unused, instrument);
            assert_eq!(through, direct, "{instrument}");
            assert!(
                unused.kv.lock().unwrap().is_empty(),
                "the plugin keeps its own state"
            );
            assert!(unused.callbacks.lock().unwrap().is_empty());
        }
        let p = plugin(Host::default());
        assert_eq!(p.info(), MockScheme::new(None).info());
        assert!(format!("{p:?}").contains("DocumentBridge"));
    }

    #[test]
    fn transport_failures_and_wrong_answers_are_errors() {
        let host = Host::default();
        let bridge = |answer: fn() -> Result<Vec<u8>, String>| {
            DocumentBridge::new(
                "the pipe",
                BridgeInfo::default(),
                move |_: &dyn BridgeHost, _: &[u8]| answer(),
            )
        };
        let failure = |e: &ApiError, call: &str, says: &str| {
            assert_eq!(e.code, ApiErrorCode::Iotp(ErrorCode::UnknownError), "{e}");
            assert_eq!(e.severity, Severity::HardError);
            assert!(e.desc.starts_with(&format!("the pipe: {call}: ")), "{e}");
            assert!(e.desc.contains(says), "{e}");
        };
        let down = bridge(|| Err(s("pipe closed")));
        assert_eq!(down.name(), "the pipe");
        let e = down
            .inquire_pending_payment(&host, &InquirePendingPayment::default())
            .unwrap_err();
        failure(&e, "InquirePendingPayment", "pipe closed");

        let confused =
            bridge(|| Ok(encode_response(&Ok(ApiResponse::RemovePaymentLog(()))).into_bytes()));
        let e = confused
            .inquire_process_state(&host, &InquireProcessState::default())
            .unwrap_err();
        failure(&e, "InquireProcessState", "unusable answer: ");
        assert!(e.desc.contains("RemovePaymentLog"), "{e}");

        // Codes of the core's own input would mislead the peer: an unreadable answer is the
        // bridge's failure.
        let garbage = bridge(|| Ok(b"\x00garbage".to_vec()));
        let e = garbage
            .remove_payment_log(&host, &RemovePaymentLog::default())
            .unwrap_err();
        failure(&e, "RemovePaymentLog", "unreadable answer: ");
        let huge = bridge(|| Ok(vec![b' '; Limits::default().max_message_bytes + 1]));
        let e = huge
            .remove_payment_log(&host, &RemovePaymentLog::default())
            .unwrap_err();
        failure(&e, "RemovePaymentLog", "unreadable answer: ");

        // The bridge's own ErrorResponse is its answer.
        let busy = bridge(|| {
            Ok(
                encode_response(&Err(ApiError::transient(ErrorCode::SystemBusy, 5, "busy")))
                    .into_bytes(),
            )
        });
        let e = busy
            .remove_payment_log(&host, &RemovePaymentLog::default())
            .unwrap_err();
        assert_eq!(e, ApiError::transient(ErrorCode::SystemBusy, 5, "busy"));

        // dispatch refuses CallBack: it goes from the bridge to the core.
        let mock = MockScheme::new(None);
        let cb = requests().pop().unwrap();
        assert_eq!(
            dispatch(&mock, &host, &cb).unwrap_err().code,
            ApiErrorCode::ReqNotSupp
        );
    }

    #[test]
    fn every_request_reaches_its_method() {
        // A bridge that implements nothing answers ReqNotSupp naming each call, through
        // documents too.
        #[derive(Debug)]
        struct Nothing;
        impl PaymentBridge for Nothing {
            fn info(&self) -> BridgeInfo {
                BridgeInfo::default()
            }
        }
        let host = Host::default();
        for req in requests() {
            let direct = dispatch(&Nothing, &host, &req).unwrap_err();
            assert_eq!(direct.code, ApiErrorCode::ReqNotSupp);
            assert!(direct.desc.starts_with(req.call_name()), "{direct}");
            let doc = encode_response(&Err(direct.clone()));
            assert_eq!(
                decode_response(doc.as_bytes(), req.call_name(), &limits()),
                Err(direct)
            );
        }
    }
}
