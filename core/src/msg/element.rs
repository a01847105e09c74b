//! The machinery every element shares: the decoding context (errors, locations, IDs and IDREFs),
//! attribute and child handling, and the `element!` macro that declares an element once — its
//! Rust type, wire tag, attributes in DTD order with their DTD types, and content model — and
//! derives its decoder and encoder from that single declaration.

use std::borrow::Cow;

use crate::xml::reader::{Cursor, Item, SyntaxError, Tag};
use crate::xml::writer::XmlWriter;
use crate::xml::{XmlElement, XmlNode, is_name, is_nmtoken, same_name};

use super::codes::ErrorCode;
use super::error::{ValidationError, cat};
use super::model::ErrorLocation;
use super::validate::{cmp_ids, id_key};

/// What an element is in the RFC's structure, which decides how errors locate it
/// (`ErrorLocation/@BlkRef`, `@CompRef` or `@ElementRef`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementKind {
    /// The message itself.
    Message,
    /// A block (§3.3, §8): TransRefBlk, IotpSignatures, ErrorBlk and the trading blocks.
    Block,
    /// A component (§7) or the TransRefBlk's components.
    Component,
    /// Any other element (a child of a component).
    Part,
}

/// An element of the IOTP DTD: its wire tag and its place in the structure.
pub trait WireElement {
    /// The element type name on the wire (`TpoBlk`, `Org`, ...).
    const TAG: &'static str;
    /// Block, component or part.
    const KIND: ElementKind;
}

/// Decoding and encoding, derived by `element!`.
pub(crate) trait Codec: WireElement + Default {
    fn decode<'a>(ctx: &mut Ctx<'a>, tag: Tag<'a>) -> Self;
    fn encode(&self, w: &mut XmlWriter);
}

/// A code list (see `codes`), as an attribute value.
pub(crate) trait CodeList: Sized {
    const DTD_CLOSED: bool;
    fn from_wire(value: &str) -> Self;
    fn as_str(&self) -> &str;
    fn is_known(&self) -> bool;
}

/// An attribute value type.
pub(crate) trait AttrValue: Sized + Default {
    fn from_attr(value: Cow<'_, str>) -> Self;
    fn to_attr(&self) -> Cow<'_, str>;
    /// False when the DTD's enumeration does not allow the value.
    fn dtd_ok(&self) -> bool {
        true
    }
}

impl AttrValue for String {
    fn from_attr(value: Cow<'_, str>) -> Self {
        value.into_owned()
    }
    fn to_attr(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl AttrValue for Vec<String> {
    fn from_attr(value: Cow<'_, str>) -> Self {
        value.split_ascii_whitespace().map(str::to_owned).collect()
    }
    fn to_attr(&self) -> Cow<'_, str> {
        Cow::Owned(self.join(" "))
    }
}

impl<T: CodeList + Default> AttrValue for T {
    fn from_attr(value: Cow<'_, str>) -> Self {
        T::from_wire(&value)
    }
    fn to_attr(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
    fn dtd_ok(&self) -> bool {
        !T::DTD_CLOSED || self.is_known()
    }
}

impl AttrValue for super::codes::ContentType {
    fn from_attr(value: Cow<'_, str>) -> Self {
        Self::from_wire(&value)
    }
    fn to_attr(&self) -> Cow<'_, str> {
        self.as_str()
    }
}

/// The DTD type of an attribute.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dtd {
    Cdata,
    Id,
    /// IDREF to an element of the given type.
    Idref(&'static str),
    /// IDREFS to elements of the given type.
    Idrefs(&'static str),
    Nmtoken,
    Nmtokens,
    /// An enumerated type (a closed code list).
    Enum,
}

/// Whether an attribute is required, optional, defaulted or fixed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Presence {
    Required,
    Implied,
    Default(&'static str),
    Fixed(&'static str),
}

#[derive(Debug)]
pub(crate) struct AttrSpec {
    pub name: &'static str,
    pub dtd: Dtd,
    pub presence: Presence,
}

/// A field holding an attribute: `T` (required, defaulted or fixed) or `Option<T>` (implied).
pub(crate) trait AttrField: Sized {
    fn take<'a>(
        ctx: &mut Ctx<'a>,
        raw: Option<Cow<'a, str>>,
        spec: &AttrSpec,
        here: &Here<'a>,
    ) -> Self;
    fn write(&self, w: &mut XmlWriter, spec: &AttrSpec);
}

impl<T: AttrValue> AttrField for T {
    #[inline(always)]
    fn take<'a>(
        ctx: &mut Ctx<'a>,
        raw: Option<Cow<'a, str>>,
        spec: &AttrSpec,
        here: &Here<'a>,
    ) -> Self {
        match raw {
            Some(value) => ctx.attribute_value(value, spec, here),
            None => match spec.presence {
                Presence::Default(d) | Presence::Fixed(d) => T::from_attr(Cow::Borrowed(d)),
                Presence::Required | Presence::Implied => {
                    ctx.missing_attribute(spec.name, here);
                    T::default()
                }
            },
        }
    }
    fn write(&self, w: &mut XmlWriter, spec: &AttrSpec) {
        let value = self.to_attr();
        if let Presence::Default(d) = spec.presence
            && value == d
        {
            return;
        }
        w.attr(spec.name, &value);
    }
}

impl<T: AttrValue> AttrField for Option<T> {
    #[inline(always)]
    fn take<'a>(
        ctx: &mut Ctx<'a>,
        raw: Option<Cow<'a, str>>,
        spec: &AttrSpec,
        here: &Here<'a>,
    ) -> Self {
        raw.map(|value| ctx.attribute_value(value, spec, here))
    }
    fn write(&self, w: &mut XmlWriter, spec: &AttrSpec) {
        if let Some(v) = self {
            w.attr(spec.name, &v.to_attr());
        }
    }
}

/// A field holding children of one type: `T` (exactly one), `Option<T>` or `Vec<T>`.
pub(crate) trait ChildField<T> {
    fn put(&mut self, item: T);
    fn each(&self, f: &mut dyn FnMut(&T));
}

impl<T> ChildField<T> for T {
    fn put(&mut self, item: T) {
        *self = item;
    }
    fn each(&self, f: &mut dyn FnMut(&T)) {
        f(self)
    }
}

impl<T> ChildField<T> for Option<T> {
    fn put(&mut self, item: T) {
        *self = Some(item);
    }
    fn each(&self, f: &mut dyn FnMut(&T)) {
        if let Some(v) = self {
            f(v)
        }
    }
}

impl<T> ChildField<T> for Vec<T> {
    fn put(&mut self, item: T) {
        if self.capacity() == 0 {
            // The first child: allocated directly with the capacity the first `push` would
            // give (four; eight for bytes, one for large elements), which skips `grow_one`'s
            // general path.
            *self = Vec::with_capacity(match size_of::<T>() {
                1 => 8,
                ..=1024 => 4,
                _ => 1,
            });
        }
        self.push(item);
    }
    fn each(&self, f: &mut dyn FnMut(&T)) {
        self.iter().for_each(f)
    }
}

/// The element being decoded, for error locations.
#[derive(Debug, Clone)]
pub(crate) struct Here<'a> {
    pub tag: &'a str,
    pub kind: ElementKind,
    pub id: Option<Cow<'a, str>>,
    pub offset: usize,
}

/// An ID seen in the document.
#[derive(Debug, Clone)]
pub(crate) struct IdEntry<'a> {
    /// The ID's [`id_key`](super::validate::id_key), for cheap comparisons.
    pub key: u64,
    pub id: Cow<'a, str>,
    pub tag: &'a str,
    pub offset: usize,
}

/// An IDREF waiting for the end of the document to be resolved.
#[derive(Debug)]
struct PendingRef<'a> {
    value: Cow<'a, str>,
    target: &'static str,
    attr: &'static str,
    here: Here<'a>,
    blk: Option<Cow<'a, str>>,
    comp: Option<Cow<'a, str>>,
}

/// The decoding context: the cursor, the problems found, the enclosing block and component (for
/// error locations), and the IDs and IDREFs of the document.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub cur: Cursor<'a>,
    pub errors: Vec<ValidationError>,
    /// Set when the document turned out not to be well-formed (or hit a limit): decoding stops.
    pub fatal: Option<SyntaxError>,
    pub ids: Vec<IdEntry<'a>>,
    refs: Vec<PendingRef<'a>>,
    blk: Option<Cow<'a, str>>,
    comp: Option<Cow<'a, str>>,
    attrs: Vec<(&'a str, Cow<'a, str>)>,
    /// Scratch space for decoding base64 that contains whitespace.
    pub scratch: Vec<u8>,
    max_errors: usize,
}

impl<'a> Ctx<'a> {
    pub fn new(src: &'a str, limits: &crate::xml::Limits) -> Self {
        Self::with_cursor(src, Cursor::new(src, limits), limits)
    }

    /// A context reading with the fast tokenizer ([`Cursor::new_fast`]): when
    /// `cur.bailed()` at the end, the document must be read again with [`new`](Self::new).
    pub fn new_fast(src: &'a str, limits: &crate::xml::Limits) -> Self {
        Self::with_cursor(src, Cursor::new_fast(src, limits), limits)
    }

    fn with_cursor(src: &'a str, cur: Cursor<'a>, limits: &crate::xml::Limits) -> Self {
        // Sized from the document (an ID per ~200 bytes and a reference per ~400 in the
        // performance samples), so that the vectors rarely grow while decoding.
        let ids = src.len() / 200 + 4;
        Ctx {
            cur,
            // Enough for the usual report: the problems are large, growing is copying.
            errors: Vec::with_capacity(16),
            fatal: None,
            ids: Vec::with_capacity(ids),
            refs: Vec::with_capacity(ids / 2),
            blk: None,
            comp: None,
            // Used only when `Cursor::attributes_into` leaves a tag to `Cursor::attributes`.
            attrs: Vec::new(),
            scratch: Vec::new(),
            max_errors: limits.max_errors,
        }
    }

    /// The location of `here` (and the attribute, if any) as an ErrorLocation.
    pub fn location(&self, here: &Here<'a>, att: Option<&str>) -> ErrorLocation {
        Self::location_in(self.blk.as_deref(), self.comp.as_deref(), here, att)
    }

    /// The location of `here` inside the given block and component.
    fn location_in(
        blk: Option<&str>,
        comp: Option<&str>,
        here: &Here<'a>,
        att: Option<&str>,
    ) -> ErrorLocation {
        let own = here.id.as_deref().map(str::to_owned);
        let (blk, comp, el) = match here.kind {
            ElementKind::Block => (own, None, None),
            ElementKind::Component => (blk.map(str::to_owned), own, None),
            ElementKind::Message => (None, None, None),
            ElementKind::Part => (blk.map(str::to_owned), comp.map(str::to_owned), own),
        };
        ErrorLocation {
            element_type: here.tag.to_owned(),
            iotp_msg_ref: None,
            blk_ref: blk,
            comp_ref: comp,
            element_ref: el,
            att_name: att.map(str::to_owned),
        }
    }

    /// Records a problem (once the error budget is spent, decoding stops).
    pub fn push(&mut self, error: ValidationError) {
        if self.errors.len() >= self.max_errors {
            if self.fatal.is_none() {
                self.fatal = Some(SyntaxError::NotWellFormed {
                    offset: error.offset.unwrap_or(0),
                    reason: format!("more than {} problems; reading stopped", self.max_errors),
                });
            }
            return;
        }
        self.errors.push(error);
    }

    /// Drops the problems beyond the budget, for those added to `errors` without [`push`].
    ///
    /// [`push`]: Self::push
    pub fn cap_errors(&mut self) {
        self.errors.truncate(self.max_errors);
    }

    pub fn error(&mut self, code: ErrorCode, here: &Here<'a>, att: Option<&str>, message: String) {
        let e =
            ValidationError::hard(code, self.location(here, att), message).at(Some(here.offset));
        self.push(e);
    }

    fn missing_attribute(&mut self, name: &str, here: &Here<'a>) {
        let e = ValidationError::hard(
            ErrorCode::AttMissing,
            self.location(here, Some(name)),
            cat(&[here.tag, " requires attribute ", name]),
        )
        .with_value(name)
        .at(Some(here.offset));
        self.push(e);
    }

    fn bad_value(
        &mut self,
        code: ErrorCode,
        spec: &AttrSpec,
        here: &Here<'a>,
        value: &str,
        why: &str,
    ) {
        let e = ValidationError::hard(
            code,
            self.location(here, Some(spec.name)),
            cat(&[here.tag, "/@", spec.name, " = '", value, "': ", why]),
        )
        .with_value(value)
        .at(Some(here.offset));
        self.push(e);
    }

    /// Checks an attribute value against its DTD type, registers IDs and IDREFs, and converts it.
    ///
    /// Inlined into each element's decoder, where `spec` is a constant: for the usual CDATA or
    /// enumerated attribute only the conversion is left; the rest is out of line.
    #[inline(always)]
    fn attribute_value<T: AttrValue>(
        &mut self,
        value: Cow<'a, str>,
        spec: &AttrSpec,
        here: &Here<'a>,
    ) -> T {
        if !matches!(spec.dtd, Dtd::Cdata | Dtd::Enum) {
            self.tokens(&value, spec, here);
        }
        if let Presence::Fixed(fixed) = spec.presence
            && value != fixed
        {
            self.not_fixed(spec, here, &value, fixed);
        }
        let parsed = T::from_attr(value);
        if !parsed.dtd_ok() {
            self.bad_value(
                ErrorCode::AttValIllegal,
                spec,
                here,
                &parsed.to_attr(),
                "not one of the values the DTD allows",
            );
        }
        parsed
    }

    #[cold]
    fn not_fixed(&mut self, spec: &AttrSpec, here: &Here<'a>, value: &str, fixed: &str) {
        self.bad_value(
            ErrorCode::AttValIllegal,
            spec,
            here,
            value,
            &format!("the value is fixed to '{fixed}'"),
        );
    }

    /// The checks of the token types (ID, IDREF(S), NMTOKEN(S)), which also register IDs and
    /// IDREFs: the usual valid single tokens here (inlined), everything else out of line.
    // The `Cow` itself, not `&str`: IDs and IDREFs keep it, borrowed from the document when the
    // value was.
    #[allow(clippy::ptr_arg)]
    #[inline(always)]
    fn tokens(&mut self, value: &Cow<'a, str>, spec: &AttrSpec, here: &Here<'a>) {
        match spec.dtd {
            Dtd::Cdata | Dtd::Enum => {}
            Dtd::Id if is_name(value) => self.ids.push(IdEntry {
                key: id_key(value),
                id: value.clone(),
                tag: here.tag,
                offset: here.offset,
            }),
            Dtd::Nmtoken if is_nmtoken(value) => {}
            // A single ASCII Name (so one token, with no whitespace to trim).
            Dtd::Idref(target) | Dtd::Idrefs(target) if value.is_ascii() && is_name(value) => {
                self.refer(value.clone(), target, spec.name, here);
            }
            _ => self.other_tokens(value, spec, here),
        }
    }

    /// What [`tokens`](Self::tokens) leaves: invalid IDs and NMTOKENs, NMTOKENS, and IDREF(S)
    /// values other than a single ASCII Name.
    #[allow(clippy::ptr_arg)]
    #[inline(never)]
    fn other_tokens(&mut self, value: &Cow<'a, str>, spec: &AttrSpec, here: &Here<'a>) {
        match spec.dtd {
            Dtd::Cdata | Dtd::Enum => {}
            Dtd::Id => {
                self.bad_value(
                    ErrorCode::AttValIllegal,
                    spec,
                    here,
                    value,
                    "not a valid XML ID",
                );
            }
            Dtd::Nmtoken => {
                self.bad_value(
                    ErrorCode::AttValIllegal,
                    spec,
                    here,
                    value,
                    "not a valid NMTOKEN",
                );
            }
            Dtd::Nmtokens => {
                if value.split_ascii_whitespace().next().is_none()
                    || !value.split_ascii_whitespace().all(is_nmtoken)
                {
                    self.bad_value(
                        ErrorCode::AttValIllegal,
                        spec,
                        here,
                        value,
                        "not a valid NMTOKENS list",
                    );
                }
            }
            Dtd::Idref(target) | Dtd::Idrefs(target) => {
                let single = matches!(spec.dtd, Dtd::Idref(_));
                let mut tokens = value.split_ascii_whitespace();
                let count = value.split_ascii_whitespace().count();
                if count == 0 || (single && (count != 1 || value.trim() != value.as_ref())) {
                    let why = if single {
                        "not a single IDREF"
                    } else {
                        "not a valid IDREFS list"
                    };
                    self.bad_value(ErrorCode::AttValIllegal, spec, here, value, why);
                } else {
                    for token in tokens.by_ref() {
                        if !is_name(token) {
                            self.bad_value(
                                ErrorCode::AttValIllegal,
                                spec,
                                here,
                                token,
                                "not a valid IDREF",
                            );
                            continue;
                        }
                        let token = match value {
                            Cow::Borrowed(v) => {
                                let v: &'a str = v;
                                let start = token.as_ptr() as usize - v.as_ptr() as usize;
                                Cow::Borrowed(&v[start..start + token.len()])
                            }
                            Cow::Owned(_) => Cow::Owned(token.to_owned()),
                        };
                        self.refer(token, target, spec.name, here);
                    }
                }
            }
        }
    }

    /// Registers an IDREF to resolve at the end of the document.
    #[inline(always)]
    fn refer(
        &mut self,
        value: Cow<'a, str>,
        target: &'static str,
        attr: &'static str,
        here: &Here<'a>,
    ) {
        self.refs.push(PendingRef {
            value,
            target,
            attr,
            here: here.clone(),
            blk: self.blk.clone(),
            comp: self.comp.clone(),
        });
    }

    /// Reads the attributes of `tag` into slots by name (`names[i]` fills `slots[i]`); unknown
    /// attributes are reported, namespace declarations ignored. Returns the element's `ID`.
    pub fn read_attributes(
        &mut self,
        tag: &Tag<'a>,
        kind: ElementKind,
        names: &[&str],
        slots: &mut [Option<Cow<'a, str>>],
    ) -> Here<'a> {
        let mut here = Here {
            tag: tag.name,
            kind,
            id: None,
            offset: tag.offset,
        };
        if self.cur.attributes_into(tag, names, slots, &mut here.id) {
            return here;
        }
        slots.fill(None);
        here.id = None;
        let mut attrs = std::mem::take(&mut self.attrs);
        if let Err(e) = self.cur.attributes(tag, &mut attrs) {
            self.fatal = Some(e);
            self.attrs = attrs;
            return here;
        }
        // Attributes are usually written in the DTD's order: the name after the last one found
        // is tried first.
        let mut next = 0;
        for (name, value) in attrs.drain(..) {
            if *name == *"ID" {
                here.id = Some(value.clone());
            }
            let index = match names.get(next) {
                Some(n) if same_name(n, name) => Some(next),
                _ => names.iter().position(|n| same_name(n, name)),
            };
            match index {
                Some(i) => {
                    next = i + 1;
                    slots[i] = Some(value);
                }
                None if name == "xmlns" || name.starts_with("xmlns:") => {}
                None => {
                    let e = ValidationError::hard(
                        ErrorCode::AttUnexpected,
                        self.location(&here, Some(name)),
                        cat(&[tag.name, " has no attribute ", name]),
                    )
                    .with_value(value.into_owned())
                    .at(Some(tag.offset));
                    self.push(e);
                }
            }
        }
        self.attrs = attrs;
        here
    }

    /// Enters an element `E` for error locations; returns what to restore with
    /// [`leave`](Self::leave) (nothing for the parts of a component, which change neither).
    /// By `E`'s kind, a constant: inlined, it is nothing for the parts.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    pub fn enter<E: WireElement>(
        &mut self,
        here: &Here<'a>,
    ) -> Option<(Option<Cow<'a, str>>, Option<Cow<'a, str>>)> {
        match E::KIND {
            ElementKind::Block => {
                let comp = self.comp.take();
                let blk = std::mem::replace(&mut self.blk, here.id.clone());
                Some((blk, comp))
            }
            ElementKind::Component => {
                let comp = std::mem::replace(&mut self.comp, here.id.clone());
                Some((self.blk.clone(), comp))
            }
            ElementKind::Message | ElementKind::Part => None,
        }
    }

    #[allow(clippy::type_complexity)]
    #[inline(always)]
    pub fn leave(&mut self, saved: Option<(Option<Cow<'a, str>>, Option<Cow<'a, str>>)>) {
        if let Some(saved) = saved {
            (self.blk, self.comp) = saved;
        }
    }

    /// The next child element of the element `here` (None at its end). Character data other
    /// than whitespace is `ElContIllegal` in element-only content.
    pub fn next_child(&mut self, here: &Here<'a>) -> Option<Tag<'a>> {
        let mut reported = false;
        loop {
            if self.fatal.is_some() {
                return None;
            }
            match self.cur.next_non_space() {
                Ok(Item::Start(tag)) => return Some(tag),
                Ok(Item::Text(t)) => {
                    if !reported && !t.bytes().all(|b| b.is_ascii_whitespace()) {
                        reported = true;
                        self.error(
                            ErrorCode::ElContIllegal,
                            here,
                            None,
                            format!("{} allows only elements, not text", here.tag),
                        );
                    }
                }
                Ok(Item::End) | Ok(Item::Eof) => return None,
                Err(e) => {
                    self.fatal = Some(e);
                    return None;
                }
            }
        }
    }

    /// Reads character content (text, CDATA, references) up to the end of the element; child
    /// elements are `ElUnexpected`.
    pub fn text_content(&mut self, tag: &Tag<'a>, here: &Here<'a>) -> Cow<'a, str> {
        let mut text = Cow::Borrowed("");
        if tag.empty {
            return text;
        }
        loop {
            if self.fatal.is_some() {
                return text;
            }
            match self.cur.next_item() {
                // A single text item (the usual case) is kept as it is, borrowed when it can be.
                Ok(Item::Text(t)) if text.is_empty() => text = t,
                Ok(Item::Text(t)) => text.to_mut().push_str(&t),
                Ok(Item::Start(child)) => {
                    self.unexpected(&child, here);
                }
                Ok(Item::End) | Ok(Item::Eof) => return text,
                Err(e) => {
                    self.fatal = Some(e);
                    return text;
                }
            }
        }
    }

    /// Checks that an EMPTY element has no content at all. Inlined: nearly always the tag is
    /// an empty-element tag and there is nothing to read.
    #[inline(always)]
    pub fn empty_content(&mut self, tag: &Tag<'a>, here: &Here<'a>) {
        if !tag.empty {
            self.no_content(here);
        }
    }

    /// Reads the content of an EMPTY element written with an end tag: anything is reported.
    fn no_content(&mut self, here: &Here<'a>) {
        let mut reported = false;
        loop {
            if self.fatal.is_some() {
                return;
            }
            match self.cur.next_item() {
                Ok(Item::Text(_)) if !reported => {
                    reported = true;
                    self.error(
                        ErrorCode::ElContIllegal,
                        here,
                        None,
                        format!("{} is declared EMPTY but has content", here.tag),
                    );
                }
                Ok(Item::Text(_)) => {}
                Ok(Item::Start(child)) => self.unexpected(&child, here),
                Ok(Item::End) | Ok(Item::Eof) => return,
                Err(e) => {
                    self.fatal = Some(e);
                    return;
                }
            }
        }
    }

    /// Reads generic content (ANY) up to the end of the element.
    pub fn any_content(&mut self, tag: &Tag<'a>) -> Vec<XmlNode> {
        let mut nodes = Vec::new();
        if tag.empty {
            return nodes;
        }
        loop {
            if self.fatal.is_some() {
                return nodes;
            }
            match self.cur.next_item() {
                Ok(Item::Text(t)) => match nodes.last_mut() {
                    Some(XmlNode::Text(prev)) => prev.push_str(&t),
                    _ => nodes.push(XmlNode::Text(t.into_owned())),
                },
                Ok(Item::Start(child)) => {
                    let element = self.generic_element(child);
                    nodes.push(XmlNode::Element(element));
                }
                Ok(Item::End) | Ok(Item::Eof) => return nodes,
                Err(e) => {
                    self.fatal = Some(e);
                    return nodes;
                }
            }
        }
    }

    /// Reads a whole element generically.
    pub fn generic_element(&mut self, tag: Tag<'a>) -> XmlElement {
        let mut attrs = std::mem::take(&mut self.attrs);
        if let Err(e) = self.cur.attributes(&tag, &mut attrs) {
            self.fatal = Some(e);
        }
        let attributes = attrs
            .drain(..)
            .map(|(n, v)| (n.to_owned(), v.into_owned()))
            .collect();
        self.attrs = attrs;
        let children = self.any_content(&tag);
        XmlElement {
            name: tag.name.to_owned(),
            attributes,
            children,
        }
    }

    /// Handles a child the content model does not allow: an element from another namespace is
    /// kept when marked `IOTP:Critical="False"` (§3.6.1) and refused otherwise; anything else is
    /// `ElUnexpected` and skipped.
    pub fn foreign_or_unexpected(
        &mut self,
        tag: Tag<'a>,
        here: &Here<'a>,
        extensions: &mut Vec<XmlElement>,
    ) {
        if tag.name.contains(':') {
            let offset = tag.offset;
            let element = self.generic_element(tag);
            let critical = element
                .attribute("IOTP:Critical")
                .or_else(|| element.attribute("iotp:Critical"))
                .unwrap_or("True");
            let child = Here {
                tag: here.tag,
                kind: ElementKind::Part,
                id: element.attribute("ID").map(|s| Cow::Owned(s.to_owned())),
                offset,
            };
            let mut location = self.location(&child, None);
            location.element_type = element.name.clone();
            if critical == "False" {
                extensions.push(element);
            } else {
                let e = ValidationError::hard(
                    ErrorCode::ElNotSupp,
                    location,
                    format!(
                        "extension element {} in {} is not supported and not marked IOTP:Critical=\"False\"",
                        element.name, here.tag
                    ),
                )
                .at(Some(offset));
                self.push(e);
            }
        } else {
            self.unexpected(&tag, here);
        }
    }

    /// Reports an element the content model does not allow here, and skips it.
    pub fn unexpected(&mut self, tag: &Tag<'a>, parent: &Here<'a>) {
        let here = Here {
            tag: tag.name,
            kind: ElementKind::Part,
            id: None,
            offset: tag.offset,
        };
        self.error(
            ErrorCode::ElUnexpected,
            &here,
            None,
            cat(&[tag.name, " is not allowed here in ", parent.tag]),
        );
        if let Err(e) = self.cur.skip_element(tag) {
            self.fatal = Some(e);
        }
    }

    /// Reports a required child that is missing.
    pub fn missing_child(&mut self, child: &str, here: &Here<'a>) {
        let mut location = self.location(here, None);
        location.element_type = child.to_owned();
        let e = ValidationError::hard(
            ErrorCode::ElMissing,
            location,
            cat(&[here.tag, " requires a ", child, " element"]),
        )
        .with_value(child)
        .at(Some(here.offset));
        self.push(e);
    }

    /// Sequence check for content models made of particles in order (all of IOTP's, DTD §13):
    /// `pos` is the particle reached so far, `counts` the occurrences of each. Inlined (the usual
    /// child in its place is two comparisons); a child out of place is reported out of line.
    #[inline(always)]
    pub fn sequence(
        &mut self,
        tag: &Tag<'a>,
        here: &Here<'a>,
        index: usize,
        max: u32,
        pos: &mut usize,
        counts: &mut [u32],
    ) -> bool {
        match counts.get_mut(index) {
            Some(count) if index >= *pos && *count < max => {
                *pos = index;
                *count += 1;
                true
            }
            _ => {
                self.out_of_sequence(tag, here, index < *pos);
                false
            }
        }
    }

    /// Reports a child out of order or repeated beyond its particle's cardinality, and skips it.
    #[cold]
    fn out_of_sequence(&mut self, tag: &Tag<'a>, here: &Here<'a>, out_of_order: bool) {
        let why = if out_of_order {
            "out of order"
        } else {
            "repeated"
        };
        let h = Here {
            tag: tag.name,
            kind: ElementKind::Part,
            id: None,
            offset: tag.offset,
        };
        self.error(
            ErrorCode::ElUnexpected,
            &h,
            None,
            format!("{} is {why} in {}", tag.name, here.tag),
        );
        if let Err(e) = self.cur.skip_element(tag) {
            self.fatal = Some(e);
        }
    }

    /// After the document: duplicate IDs and IDREFs that do not resolve (or resolve to the wrong
    /// element type).
    pub fn resolve_ids(&mut self) {
        // Sorted in place (by ID, then position), so that the caller can build the message's
        // IdIndex from `ids` without sorting again.
        self.ids.sort_unstable_by(|a, b| {
            cmp_ids(a.key, &a.id, b.key, &b.id).then(a.offset.cmp(&b.offset))
        });
        let sorted = &self.ids;
        let mut problems = Vec::new();
        for pair in sorted.windows(2) {
            if pair[0].key == pair[1].key && pair[0].id == pair[1].id {
                let location = ErrorLocation {
                    element_type: pair[1].tag.to_owned(),
                    element_ref: Some(pair[1].id.to_string()),
                    att_name: Some("ID".to_owned()),
                    ..ErrorLocation::default()
                };
                problems.push(
                    ValidationError::hard(
                        ErrorCode::AttValIllegal,
                        location,
                        format!(
                            "ID '{}' is used twice in the message (also by a {})",
                            pair[1].id, pair[0].tag
                        ),
                    )
                    .with_value(pair[1].id.to_string())
                    .at(Some(pair[1].offset)),
                );
            }
        }
        for r in &std::mem::take(&mut self.refs) {
            let offset = r.here.offset;
            let key = id_key(&r.value);
            let found = sorted
                .binary_search_by(|e| cmp_ids(e.key, &e.id, key, &r.value))
                .ok()
                .map(|i| sorted[i].tag);
            if found == Some(r.target) {
                continue;
            }
            let location =
                Self::location_in(r.blk.as_deref(), r.comp.as_deref(), &r.here, Some(r.attr));
            match found {
                None => problems.push(
                    ValidationError::hard(
                        ErrorCode::AttValIllegal,
                        location,
                        format!(
                            "{} '{}' does not name any ID in the message",
                            r.attr, r.value
                        ),
                    )
                    .with_value(r.value.to_string())
                    .at(Some(offset)),
                ),
                Some(tag) if tag != r.target => problems.push(
                    ValidationError::hard(
                        ErrorCode::ElInconsistent,
                        location,
                        format!("{} '{}' names a {tag}, not a {}", r.attr, r.value, r.target),
                    )
                    .with_value(r.value.to_string())
                    .at(Some(offset)),
                ),
                Some(_) => {}
            }
        }
        for p in problems {
            self.push(p);
        }
    }
}

/// Declares an IOTP element: its Rust type, wire tag, kind, attributes (in DTD order, each with
/// its DTD type and presence) and content (EMPTY, ANY, or a sequence of child particles with
/// cardinality `one`, `opt`, `many` or `plus`), and derives its decoder and encoder.
macro_rules! element {
    (
        $(#[$meta:meta])*
        $name:ident = $tag:literal, $kind:ident {
            $( $(#[$ameta:meta])* $afield:ident : $aty:ty = $aname:literal [$adtd:ident $(($atarget:literal))?, $apres:ident $(= $adef:literal)?] ),* $(,)?
        }
        empty
    ) => {
        $(#[$meta])*
        #[doc = concat!("\n\nWire tag: `", $tag, "`.")]
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$ameta])* #[doc = concat!("`@", $aname, "`")] pub $afield: $aty, )*
        }
        element!(@impl $name $tag $kind { $($afield $aname [$adtd $(($atarget))?, $apres $(= $adef)?]),* } empty);
    };
    (
        $(#[$meta:meta])*
        $name:ident = $tag:literal, $kind:ident {
            $( $(#[$ameta:meta])* $afield:ident : $aty:ty = $aname:literal [$adtd:ident $(($atarget:literal))?, $apres:ident $(= $adef:literal)?] ),* $(,)?
        }
        any
    ) => {
        $(#[$meta])*
        #[doc = concat!("\n\nWire tag: `", $tag, "`.")]
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$ameta])* #[doc = concat!("`@", $aname, "`")] pub $afield: $aty, )*
            /// The element's content, kept as it was read (`ANY`).
            pub content: Vec<$crate::xml::XmlNode>,
        }
        element!(@impl $name $tag $kind { $($afield $aname [$adtd $(($atarget))?, $apres $(= $adef)?]),* } any);
    };
    (
        $(#[$meta:meta])*
        $name:ident = $tag:literal, $kind:ident {
            $( $(#[$ameta:meta])* $afield:ident : $aty:ty = $aname:literal [$adtd:ident $(($atarget:literal))?, $apres:ident $(= $adef:literal)?] ),* $(,)?
        }
        elements {
            $( $(#[$cmeta:meta])* $cfield:ident : $card:ident $cty:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[doc = concat!("\n\nWire tag: `", $tag, "`.")]
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$ameta])* #[doc = concat!("`@", $aname, "`")] pub $afield: $aty, )*
            $( $(#[$cmeta])* #[doc = concat!("`", stringify!($cty), "` children")] pub $cfield: element!(@cty $card $cty), )*
            /// Extension elements from other namespaces marked `IOTP:Critical="False"` (§3.6.1),
            /// kept so that they are copied and digested with this element.
            pub extensions: Vec<$crate::xml::XmlElement>,
        }
        element!(@impl $name $tag $kind { $($afield $aname [$adtd $(($atarget))?, $apres $(= $adef)?]),* } elements { $($cfield : $card $cty),* });
    };

    (@impl $name:ident $tag:literal $kind:ident { $($afield:ident $aname:literal [$adtd:ident $(($atarget:literal))?, $apres:ident $(= $adef:literal)?]),* } $content:ident $({ $($cfield:ident : $card:ident $cty:ident),* })?) => {
        impl $crate::msg::element::WireElement for $name {
            const TAG: &'static str = $tag;
            const KIND: $crate::msg::element::ElementKind = $crate::msg::element::ElementKind::$kind;
        }

        impl $crate::msg::element::Codec for $name {
            #[allow(unused_mut, unused_variables, unused_assignments, clippy::needless_update)]
            fn decode<'a>(
                ctx: &mut $crate::msg::element::Ctx<'a>,
                tag: $crate::xml::reader::Tag<'a>,
            ) -> Self {
                use $crate::msg::element::{AttrField, AttrSpec, Dtd, Presence};
                const NAMES: &[&str] = &[$($aname),*];
                let mut slots: [Option<std::borrow::Cow<'a, str>>; NAMES.len()] = Default::default();
                let here = ctx.read_attributes(
                    &tag,
                    $crate::msg::element::ElementKind::$kind,
                    NAMES,
                    &mut slots,
                );
                let mut slot = slots.iter_mut();
                let mut this = $name {
                    $( $afield: AttrField::take(
                        ctx,
                        slot.next().and_then(Option::take),
                        &AttrSpec {
                            name: $aname,
                            dtd: element!(@dtd $adtd $($atarget)?),
                            presence: element!(@presence $apres $($adef)?),
                        },
                        &here,
                    ), )*
                    ..Default::default()
                };
                let saved = ctx.enter::<Self>(&here);
                element!(@decode_content this ctx tag here $content $({ $($cfield : $card $cty),* })?);
                ctx.leave(saved);
                this
            }

            #[allow(unused_variables)]
            fn encode(&self, w: &mut $crate::xml::writer::XmlWriter) {
                use $crate::msg::element::{AttrField, AttrSpec, Dtd, Presence};
                w.open($tag);
                $( AttrField::write(&self.$afield, w, &AttrSpec {
                    name: $aname,
                    dtd: element!(@dtd $adtd $($atarget)?),
                    presence: element!(@presence $apres $($adef)?),
                }); )*
                element!(@encode_content self w $tag $content $({ $($cfield : $card $cty),* })?);
            }
        }
    };

    (@cty one $t:ident) => { $t };
    (@cty opt $t:ident) => { Option<$t> };
    (@cty many $t:ident) => { Vec<$t> };
    (@cty plus $t:ident) => { Vec<$t> };
    (@max one) => { 1 };
    (@max opt) => { 1 };
    (@max many) => { u32::MAX };
    (@max plus) => { u32::MAX };
    (@min one) => { 1 };
    (@min opt) => { 0 };
    (@min many) => { 0 };
    (@min plus) => { 1 };

    (@dtd CDATA) => { Dtd::Cdata };
    (@dtd ID) => { Dtd::Id };
    (@dtd NMTOKEN) => { Dtd::Nmtoken };
    (@dtd NMTOKENS) => { Dtd::Nmtokens };
    (@dtd ENUM) => { Dtd::Enum };
    (@dtd IDREF $t:literal) => { Dtd::Idref($t) };
    (@dtd IDREFS $t:literal) => { Dtd::Idrefs($t) };
    (@presence required) => { Presence::Required };
    (@presence implied) => { Presence::Implied };
    (@presence default $d:literal) => { Presence::Default($d) };
    (@presence fixed $d:literal) => { Presence::Fixed($d) };

    (@decode_content $this:ident $ctx:ident $tag:ident $here:ident empty) => {
        $ctx.empty_content(&$tag, &$here);
    };
    (@decode_content $this:ident $ctx:ident $tag:ident $here:ident any) => {
        $this.content = $ctx.any_content(&$tag);
    };
    (@decode_content $this:ident $ctx:ident $tag:ident $here:ident elements { $($cfield:ident : $card:ident $cty:ident),* }) => {{
        use $crate::msg::element::{ChildField, Codec, WireElement};
        const TAGS: &[&str] = &[$(<$cty as WireElement>::TAG),*];
        const MIN: &[u32] = &[$(element!(@min $card)),*];
        const MAX: &[u32] = &[$(element!(@max $card)),*];
        let mut counts = [0u32; TAGS.len()];
        let mut pos = 0usize;
        if !$tag.empty {
            while let Some(child) = $ctx.next_child(&$here) {
                match TAGS.iter().position(|t| $crate::xml::same_name(t, child.name)) {
                    Some(index) => {
                        if !$ctx.sequence(&child, &$here, index, MAX[index], &mut pos, &mut counts) {
                            continue;
                        }
                        let mut i = 0usize;
                        $(
                            if i == index {
                                let item = <$cty as Codec>::decode($ctx, child);
                                ChildField::<$cty>::put(&mut $this.$cfield, item);
                                continue;
                            }
                            i += 1;
                        )*
                    }
                    None => $ctx.foreign_or_unexpected(child, &$here, &mut $this.extensions),
                }
            }
        }
        if $ctx.fatal.is_none() {
            for (i, t) in TAGS.iter().enumerate() {
                if counts[i] < MIN[i] {
                    $ctx.missing_child(t, &$here);
                }
            }
        }
    }};

    (@encode_content $self:ident $w:ident $tag:literal empty) => {
        $w.close_empty();
    };
    (@encode_content $self:ident $w:ident $tag:literal any) => {
        $w.generic_content($tag, &$self.content);
    };
    (@encode_content $self:ident $w:ident $tag:literal elements { $($cfield:ident : $card:ident $cty:ident),* }) => {{
        use $crate::msg::element::ChildField;
        let mut has_children = !$self.extensions.is_empty();
        $( ChildField::<$cty>::each(&$self.$cfield, &mut |_| has_children = true); )*
        if has_children {
            $w.close_open();
            $( ChildField::<$cty>::each(&$self.$cfield, &mut |c: &$cty| c.encode($w)); )*
            for e in &$self.extensions {
                $w.element(e);
            }
            $w.end($tag);
        } else {
            $w.close_empty();
        }
    }};
}

pub(crate) use element;

#[cfg(test)]
mod tests {
    use super::ChildField;

    /// The checks of attribute values by DTD type (the inlined usual cases and the rest): bad
    /// IDs, NMTOKENs, IDREF(S) lists, fixed and enumerated values, values with references (not
    /// borrowed from the document), duplicate IDs and IDREFs to the wrong element type.
    #[test]
    fn attribute_values_are_checked_by_dtd_type() {
        let path = format!(
            "{}/../../shared/spec/perf-samples/tpo_offer_6k.xml",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut doc = std::fs::read_to_string(path).unwrap_or_default();
        for (from, to) in [
            ("Version=\"1.0\"", "Version=\"2.0\""),
            (
                "<MsgId ID=\"M1\" xml:lang=\"en\"",
                "<MsgId ID=\"M1\" xml:lang=\"e n\"",
            ),
            (
                "ProtocolAmountRefs=\"M1.9\"",
                "ProtocolAmountRefs=\" M1.9  M1.1 9x\"",
            ),
            ("ProtocolAmountRefs=\"M1.10\"", "ProtocolAmountRefs=\" \""),
            ("PayProtocolRef=\"M1.13\"", "PayProtocolRef=\" M1.13\""),
            ("PayProtocolRef=\"M1.14\"", "PayProtocolRef=\"M&#49;.14\""),
            (
                "ActionOrgRef=\"M1.18\" PayReqNetLocn=\"https://payments.example.net/iotp/set1.0/",
                "ActionOrgRef=\"M\u{e9}\" PayReqNetLocn=\"https://payments.example.net/iotp/set1.0/",
            ),
            ("<Status ID=\"M1.26\"", "<Status ID=\"-26\""),
            ("<Payment ID=\"M1.28\"", "<Payment ID=\"M1&#46;28\""),
            ("PayDirection=\"Debit\"", "PayDirection=\"Sideways\""),
            ("<TradingRole ID=\"M1.22\"", "<TradingRole ID=\"M1.21\""),
        ] {
            assert_eq!(doc.matches(from).count(), 1, "{from}");
            doc = doc.replace(from, to);
        }
        let report =
            crate::msg::message::Report::read(doc.as_bytes(), &crate::xml::Limits::default());
        let found: Vec<(Option<u32>, &str)> = report
            .errors
            .iter()
            .filter(|e| {
                e.message.contains(" = '")
                    || e.message.contains("used twice")
                    || e.message.contains("does not name any ID")
                    || e.message.contains(" names a ")
            })
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    Some(4),
                    "TransId/@Version = '2.0': the value is fixed to '1.0'"
                ),
                (Some(5), "MsgId/@xml:lang = 'e n': not a valid NMTOKEN"),
                (
                    Some(9),
                    "BrandList/@PayDirection = 'Sideways': not one of the values the DTD allows"
                ),
                (
                    Some(10),
                    "Brand/@ProtocolAmountRefs = '9x': not a valid IDREF"
                ),
                (
                    Some(10),
                    "ProtocolAmountRefs 'M1.1' names a TransRefBlk, not a ProtocolAmount"
                ),
                (
                    Some(11),
                    "Brand/@ProtocolAmountRefs = ' ': not a valid IDREFS list"
                ),
                (
                    Some(13),
                    "ProtocolAmount/@PayProtocolRef = ' M1.13': not a single IDREF"
                ),
                (
                    Some(27),
                    "ID 'M1.21' is used twice in the message (also by a TradingRole)"
                ),
                (Some(40), "Status/@ID = '-26': not a valid XML ID"),
            ]
        );
        // Located in their block and component (§7.21.1's ErrorLocation).
        let place = |start: &str| {
            report
                .errors
                .iter()
                .find(|e| e.message.starts_with(start))
                .map(|e| {
                    let l = &e.location;
                    let [b, c, el] =
                        [&l.blk_ref, &l.comp_ref, &l.element_ref].map(Option::as_deref);
                    (l.element_type.as_str(), b, c, el, l.att_name.as_deref())
                })
        };
        assert_eq!(
            place("TransId/@Version"),
            Some(("TransId", Some("M1.1"), Some("M1.2"), None, Some("Version")))
        );
        assert_eq!(
            place("ProtocolAmount/@PayProtocolRef"),
            Some((
                "ProtocolAmount",
                Some("M1.3"),
                Some("M1.5"),
                Some("M1.9"),
                Some("PayProtocolRef")
            ))
        );
        assert_eq!(
            place("ProtocolAmountRefs 'M1.1'"),
            Some((
                "Brand",
                Some("M1.3"),
                Some("M1.5"),
                Some("M1.6"),
                Some("ProtocolAmountRefs")
            ))
        );
        assert_eq!(
            place("Status/@ID"),
            Some(("Status", Some("M1.25"), Some("-26"), None, Some("ID")))
        );
    }

    /// `put` gives a vector of children the contents and the capacities that `push` would.
    #[test]
    fn vec_put_is_push() {
        fn check<T: Clone + PartialEq + std::fmt::Debug>(item: T) {
            let (mut put, mut pushed) = (Vec::new(), Vec::new());
            for _ in 0..9 {
                ChildField::put(&mut put, item.clone());
                pushed.push(item.clone());
                assert_eq!(put, pushed);
                assert_eq!(put.capacity(), pushed.capacity());
            }
        }
        check(7u8);
        check(7u32);
        check(String::from("x"));
        check([0u64; 100]);
        check([0u64; 128]);
        check([0u64; 129]);
        check([0u8; 2000]);
    }
}
