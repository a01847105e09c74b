//! DOMHASH digests (RFC 2803), computed in one streaming pass without building a DOM.
//!
//! Every node hashes its own byte string, which starts with its DOM node type as a 4-byte
//! big-endian integer; all strings are UTF-16BE without a BOM:
//!
//! - Text (3): `00000003‖text`. Adjacent text and CDATA sections are merged, an empty text is
//!   dropped, whitespace-only text counts.
//! - Processing instruction (7): `00000007‖target‖0000‖data`.
//! - Attribute (2): `00000002‖expandedName‖0000‖value`; namespace declarations (`xmlns`,
//!   `xmlns:*`) have no digest and are left out.
//! - Element (1): `00000001‖expandedName‖0000‖u32(#attrs)‖attribute digests sorted by expanded
//!   name‖u32(#children)‖child digests`; comments are left out.
//! - Document (9): `00000009‖u32(#children)‖child digests` (processing instructions and the root
//!   element; comments and the document type declaration are left out).
//!
//! The expanded name of a qualified name (an explicit prefix, or for elements a default namespace
//! in scope) is `namespaceURI:localPart`, otherwise the plain name. Unprefixed attributes are in
//! no namespace.
//!
//! What is hashed is what a conforming non-validating XML parser reports, checked against the
//! Python `minidom` (expat) reference (`domhash_ref.py`): line ends are normalised to LF,
//! attribute values are normalised (literal tab, CR, LF become spaces; character references are
//! kept as written), the five predefined entities and character references are expanded, and
//! attribute types declared in an internal DTD subset normalise tokenised values as expat does.
//! DTD attribute defaults are never applied. Any entity declaration (or parameter entity
//! reference) in an internal subset is refused instead of expanded, and so is a reference to any
//! entity other than the five predefined ones.
//!
//! Two points where the reference implementation and the RFC text can be read differently,
//! both decided for the reference implementation (the test oracle):
//!
//! - a comment between two pieces of text separates them into two Text nodes
//!   ([`COMMENT_SPLITS_TEXT`]);
//! - attributes are sorted in UTF-16 code-unit order, which differs from code-point order only
//!   for expanded names with characters above U+FFFF ([`SORT_BY_CODE_POINT`]).
//!
//! The parse is bounded by [`Limits`]: the size is checked before anything else, then nesting
//! depth, attributes per element and the length of every text, attribute value and processing
//! instruction. There is no recursion, and no input makes it panic.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use ring::digest::{self, Context};

use super::Limits;

/// Namespace name bound to the `xml` prefix.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// Namespace name of namespace declarations; no prefix may be bound to it.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Whether a comment between two pieces of character data ends the first Text node (as
/// `domhash_ref.py` does) instead of being transparent (a reading of RFC 2803 section 2.1).
const COMMENT_SPLITS_TEXT: bool = true;
/// Whether attributes are sorted by Unicode code point (RFC 2803 section 2.3.4) instead of by
/// UTF-16 code unit (`domhash_ref.py`, Java `String.compareTo`).
const SORT_BY_CODE_POINT: bool = false;

const NODE_ELEMENT: [u8; 4] = 1u32.to_be_bytes();
const NODE_ATTRIBUTE: [u8; 4] = 2u32.to_be_bytes();
const NODE_TEXT: [u8; 4] = 3u32.to_be_bytes();
const NODE_PI: [u8; 4] = 7u32.to_be_bytes();
const NODE_DOCUMENT: [u8; 4] = 9u32.to_be_bytes();
const SEPARATOR: [u8; 2] = [0, 0];

/// Digest algorithms DOMHASH is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-1 (20-byte digests), the algorithm IOTP (RFC 2801) signatures use.
    Sha1,
    /// SHA-256 (32-byte digests).
    Sha256,
}

impl HashAlgorithm {
    fn ring(self) -> &'static digest::Algorithm {
        match self {
            HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlgorithm::Sha256 => &digest::SHA256,
        }
    }

    /// Length in bytes of one digest.
    pub fn output_len(self) -> usize {
        self.ring().output_len()
    }
}

/// Why a DOMHASH could not be computed.
///
/// Positions are byte offsets into the UTF-8 form of the document (after a byte order mark has
/// been removed or UTF-16/ISO-8859-1 input transcoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomHashError {
    /// The document is larger than [`Limits::max_message_bytes`].
    #[error("document of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Elements are nested deeper than [`Limits::max_depth`].
    #[error("element at byte {position} nested deeper than the limit of {limit}")]
    TooDeep {
        /// Start of the element.
        position: usize,
        /// The limit.
        limit: usize,
    },
    /// An element has more than [`Limits::max_attributes`] attributes.
    #[error("element at byte {position} has more than {limit} attributes")]
    TooManyAttributes {
        /// Start of the element.
        position: usize,
        /// The limit.
        limit: usize,
    },
    /// A text, attribute value or processing instruction is longer than
    /// [`Limits::max_text_bytes`].
    #[error("text, attribute value or processing instruction at byte {position} exceeds {limit} bytes")]
    TextTooLong {
        /// Where the offending content was being read.
        position: usize,
        /// The limit.
        limit: usize,
    },
    /// The document is in, or declares, an encoding other than UTF-8, UTF-16, ISO-8859-1 or
    /// US-ASCII, or its bytes do not match its encoding.
    #[error("unsupported or inconsistent character encoding: {0}")]
    Encoding(String),
    /// The internal DTD subset declares an entity or references a parameter entity.
    #[error("DOCTYPE at byte {position} declares or references entities; refused")]
    EntityDeclaration {
        /// Start of the document type declaration.
        position: usize,
    },
    /// The internal DTD subset uses a feature DOMHASH does not support here (a default value
    /// for a namespace declaration attribute).
    #[error("DOCTYPE at byte {position}: {reason}")]
    UnsupportedDtd {
        /// Start of the document type declaration.
        position: usize,
        /// What was refused.
        reason: &'static str,
    },
    /// A reference to an entity other than `lt`, `gt`, `amp`, `quot` and `apos`.
    #[error("reference to undeclared entity `&{name};` at byte {position}")]
    UndeclaredEntity {
        /// The entity name.
        name: String,
        /// Where the reference was found.
        position: usize,
    },
    /// A violation of Namespaces in XML: an unbound prefix, a reserved prefix or namespace
    /// name, an undeclared prefix, or two attributes with the same expanded name.
    #[error("namespace error at byte {position}: {message}")]
    Namespace {
        /// Where the error was found.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// The input is not well-formed XML.
    #[error("XML not well-formed at byte {position}: {message}")]
    NotWellFormed {
        /// Where the error was found.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// The input has no root element.
    #[error("document has no root element")]
    NoRoot,
}

/// DOMHASH of the whole document (the Document node).
pub fn digest_document(
    xml: &[u8],
    alg: HashAlgorithm,
    limits: &Limits,
) -> Result<Vec<u8>, DomHashError> {
    run(xml, alg, limits, Want::Document)?.ok_or(DomHashError::NoRoot)
}

/// DOMHASH of the root element.
pub fn digest_root_element(
    xml: &[u8],
    alg: HashAlgorithm,
    limits: &Limits,
) -> Result<Vec<u8>, DomHashError> {
    run(xml, alg, limits, Want::Root)?.ok_or(DomHashError::NoRoot)
}

/// Digest of the first element whose `ID` attribute equals `id` (IOTP element references), None if absent.
///
/// The `ID` attribute is the unprefixed one, compared after attribute-value normalisation. The
/// whole document is still read, so a document that is not well-formed is an error even when
/// the element was found before the fault.
pub fn digest_element_by_id(
    xml: &[u8],
    id: &str,
    alg: HashAlgorithm,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, DomHashError> {
    run(xml, alg, limits, Want::Id(id))
}

/// Which digest [`run`] returns.
#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    Document,
    Root,
    Id(&'a str),
}

fn run(
    xml: &[u8],
    alg: HashAlgorithm,
    limits: &Limits,
    want: Want<'_>,
) -> Result<Option<Vec<u8>>, DomHashError> {
    if xml.len() > limits.max_message_bytes {
        return Err(DomHashError::TooLarge {
            size: xml.len(),
            limit: limits.max_message_bytes,
        });
    }
    let text = decode_input(xml)?;
    check_chars(&text)?;
    let mut hasher = Hasher::new(alg.ring(), limits, want);
    hasher.parse(&text)?;
    Ok(hasher.found)
}

// ------------------------------------------------------------------------------------------------
// Input decoding

/// Turns the input into UTF-8 text: strips a UTF-8 byte order mark, transcodes UTF-16 (with a
/// byte order mark, or detected from `<?` without one) and ISO-8859-1, and checks that the
/// encoding declaration agrees.
fn decode_input(xml: &[u8]) -> Result<Cow<'_, str>, DomHashError> {
    let enc_err = |m: &str| DomHashError::Encoding(m.to_owned());
    let utf16 = |bytes: &[u8], big_endian: bool| -> Result<Cow<'_, str>, DomHashError> {
        let text = decode_utf16(bytes, big_endian)?;
        match declared_encoding(text.as_bytes())?.map(|e| e.to_ascii_lowercase()) {
            None => Ok(Cow::Owned(text)),
            Some(e) if matches!(e.as_str(), "utf-16" | "utf-16le" | "utf-16be") => {
                Ok(Cow::Owned(text))
            }
            Some(e) => Err(DomHashError::Encoding(format!(
                "UTF-16 input declares encoding `{e}`"
            ))),
        }
    };
    match xml {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
        [0x3C, 0x00, 0x3F, 0x00, ..] => utf16(xml, false),
        [0x00, 0x3C, 0x00, 0x3F, ..] => utf16(xml, true),
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            match declared_encoding(rest)?.map(|e| e.to_ascii_lowercase()) {
                None => {}
                Some(e) if e == "utf-8" => {}
                Some(e) => {
                    return Err(DomHashError::Encoding(format!(
                        "UTF-8 byte order mark but encoding `{e}` declared"
                    )));
                }
            }
            std::str::from_utf8(rest)
                .map(Cow::Borrowed)
                .map_err(|_| enc_err("invalid UTF-8"))
        }
        _ => {
            let declared = declared_encoding(xml)?.map(|e| e.to_ascii_lowercase());
            match declared.as_deref() {
                None | Some("utf-8") => std::str::from_utf8(xml)
                    .map(Cow::Borrowed)
                    .map_err(|_| enc_err("invalid UTF-8")),
                Some("us-ascii") => {
                    if xml.is_ascii() {
                        std::str::from_utf8(xml)
                            .map(Cow::Borrowed)
                            .map_err(|_| enc_err("invalid US-ASCII"))
                    } else {
                        Err(enc_err("non-ASCII byte in a US-ASCII document"))
                    }
                }
                Some("iso-8859-1") => Ok(if xml.is_ascii() {
                    std::str::from_utf8(xml)
                        .map(Cow::Borrowed)
                        .map_err(|_| enc_err("invalid ISO-8859-1"))?
                } else {
                    Cow::Owned(xml.iter().map(|&b| char::from(b)).collect())
                }),
                Some(e) => Err(DomHashError::Encoding(format!(
                    "encoding `{e}` is not supported (UTF-8, UTF-16, ISO-8859-1, US-ASCII are)"
                ))),
            }
        }
    }
}

fn decode_utf16(bytes: &[u8], big_endian: bool) -> Result<String, DomHashError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(DomHashError::Encoding(
            "odd number of bytes in UTF-16 input".to_owned(),
        ));
    }
    let units = bytes.chunks_exact(2).map(|pair| match pair {
        [a, b] if big_endian => u16::from_be_bytes([*a, *b]),
        [a, b] => u16::from_le_bytes([*a, *b]),
        _ => 0,
    });
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| DomHashError::Encoding("unpaired surrogate in UTF-16 input".to_owned()))
}

/// The `encoding` of an XML declaration at the very start of `bytes`, if there is one.
fn declared_encoding(bytes: &[u8]) -> Result<Option<&str>, DomHashError> {
    let Some(after) = bytes.strip_prefix(b"<?xml") else {
        return Ok(None);
    };
    if !after.first().is_some_and(|b| is_ws(*b)) {
        return Ok(None); // a processing instruction such as `<?xml-stylesheet`, or an error later
    }
    let Some(end) = memchr::memmem::find(after, b"?>") else {
        return Err(not_well_formed(0, "unterminated XML declaration"));
    };
    let inner = after
        .get(..end)
        .and_then(|s| std::str::from_utf8(s).ok())
        .ok_or_else(|| not_well_formed(0, "XML declaration is not ASCII"))?;
    parse_xml_decl(inner).map_err(|m| not_well_formed(0, m))
}

/// Parses the pseudo-attributes of an XML declaration (`inner` is what lies between `<?xml`
/// and `?>`) and returns the declared encoding.
fn parse_xml_decl(inner: &str) -> Result<Option<&str>, &'static str> {
    let mut c = Cursor::new(inner);
    let mut stage = 0u8; // 0: expect version, 1: encoding or standalone, 2: standalone, 3: end
    let mut encoding = None;
    loop {
        let ws = c.skip_ws();
        if c.at_end() {
            break;
        }
        if !ws {
            return Err("missing whitespace in XML declaration");
        }
        let name = c.take_while(|b| b.is_ascii_lowercase());
        c.skip_ws();
        if !c.eat("=") {
            return Err("malformed XML declaration");
        }
        c.skip_ws();
        let value = c.quoted().ok_or("malformed XML declaration")?;
        match (stage, name) {
            (0, "version") => {
                let ok = !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
                if !ok {
                    return Err("malformed version in XML declaration");
                }
                stage = 1;
            }
            (1, "encoding") => {
                let mut bytes = value.bytes();
                let ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
                    && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
                if !ok {
                    return Err("malformed encoding name in XML declaration");
                }
                encoding = Some(value);
                stage = 2;
            }
            (1 | 2, "standalone") => {
                if value != "yes" && value != "no" {
                    return Err("standalone must be `yes` or `no`");
                }
                stage = 3;
            }
            _ => return Err("malformed XML declaration"),
        }
    }
    if stage == 0 {
        return Err("XML declaration without version");
    }
    Ok(encoding)
}

/// Refuses characters XML 1.0 does not allow anywhere (controls other than tab, LF and CR,
/// U+FFFE and U+FFFF; surrogates cannot occur in a `str`).
fn check_chars(text: &str) -> Result<(), DomHashError> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let bad = if b < 0x20 {
            !matches!(b, b'\t' | b'\n' | b'\r')
        } else {
            b == 0xEF
                && bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
        };
        if bad {
            return Err(not_well_formed(i, "character not allowed in XML"));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// The streaming hasher

/// An open element: its digest context already holds the name and the attributes.
struct Frame {
    ctx: Context,
    /// Where this element's child digests start in [`Hasher::digests`].
    child_start: usize,
    children: usize,
    /// Length of [`Hasher::ns`] before this element's declarations.
    ns_len: usize,
    /// Whether this is the element [`digest_element_by_id`] looks for.
    target: bool,
}

/// One attribute of the start tag being processed.
struct AttrRec<'t> {
    qname: &'t str,
    value: Cow<'t, str>,
    expanded: Cow<'t, str>,
}

struct Hasher<'w> {
    alg: &'static digest::Algorithm,
    limits: &'w Limits,
    want: Want<'w>,
    /// The requested digest, once known.
    found: Option<Vec<u8>>,
    id_claimed: bool,
    frames: Vec<Frame>,
    /// Digests of the children of every open node, innermost last.
    digests: Vec<u8>,
    /// Children of the Document node (processing instructions and the root element).
    doc_children: usize,
    /// Character data not yet hashed (adjacent text, references and CDATA merged).
    text: String,
    /// Namespace bindings in scope: (prefix, namespace name); prefix "" is the default.
    ns: Vec<(String, String)>,
    /// Scratch buffer for UTF-16BE encoding.
    utf16: Vec<u8>,
    /// Attribute types from the internal DTD subset: element -> attribute -> tokenised.
    dtd: HashMap<String, HashMap<String, bool>>,
    root_done: bool,
}

impl<'w> Hasher<'w> {
    fn new(alg: &'static digest::Algorithm, limits: &'w Limits, want: Want<'w>) -> Self {
        Hasher {
            alg,
            limits,
            want,
            found: None,
            id_claimed: false,
            frames: Vec::new(),
            digests: Vec::new(),
            doc_children: 0,
            text: String::new(),
            ns: Vec::new(),
            utf16: Vec::new(),
            dtd: HashMap::new(),
            root_done: false,
        }
    }

    fn parse(&mut self, input: &str) -> Result<(), DomHashError> {
        let mut reader = Reader::from_str(input);
        {
            let config = reader.config_mut();
            config.check_comments = true;
            config.check_end_names = true;
            config.allow_unmatched_ends = false;
            config.allow_dangling_amp = false;
            config.expand_empty_elements = false;
            config.trim_text(false);
        }
        let mut attrs: Vec<AttrRec<'_>> = Vec::new();
        let mut first = true;
        let mut doctype_seen = false;
        loop {
            let start = to_usize(reader.buffer_position());
            let event = reader.read_event().map_err(|e| DomHashError::NotWellFormed {
                position: to_usize(reader.error_position()),
                message: e.to_string(),
            })?;
            let end = to_usize(reader.buffer_position());
            let at_top = self.frames.is_empty();
            let was_first = first;
            first = false;
            match event {
                Event::Start(_) | Event::Empty(_) => {
                    let empty = matches!(event, Event::Empty(_));
                    let tag = input
                        .get(start..end)
                        .ok_or_else(|| not_well_formed(start, "malformed start tag"))?;
                    self.start_element(tag, start, empty, &mut attrs)?;
                    if empty {
                        self.end_element(start)?;
                    }
                }
                Event::End(_) => self.end_element(start)?,
                Event::Text(t) => {
                    let raw: &str = &t;
                    if at_top {
                        if !raw.bytes().all(is_ws) {
                            return Err(not_well_formed(
                                start,
                                "character data outside the root element",
                            ));
                        }
                    } else {
                        if memchr::memmem::find(raw.as_bytes(), b"]]>").is_some() {
                            return Err(not_well_formed(start, "`]]>` in character data"));
                        }
                        push_eol_normalized(&mut self.text, raw);
                        self.check_text_len(start)?;
                    }
                }
                Event::GeneralRef(r) => {
                    if at_top {
                        return Err(not_well_formed(start, "reference outside the root element"));
                    }
                    push_reference(&mut self.text, &r, start)?;
                    self.check_text_len(start)?;
                }
                Event::CData(c) => {
                    if at_top {
                        return Err(not_well_formed(start, "CDATA outside the root element"));
                    }
                    push_eol_normalized(&mut self.text, &c);
                    self.check_text_len(start)?;
                }
                Event::Comment(_) => {
                    if COMMENT_SPLITS_TEXT {
                        self.flush_text();
                    }
                }
                Event::PI(pi) => self.processing_instruction(&pi, start)?,
                Event::Decl(_) => {
                    if !was_first || start != 0 {
                        return Err(not_well_formed(
                            start,
                            "XML declaration not at the start of the document",
                        ));
                    }
                    let inner = input
                        .get(start..end)
                        .and_then(|s| s.strip_prefix("<?xml"))
                        .and_then(|s| s.strip_suffix("?>"))
                        .ok_or_else(|| not_well_formed(start, "malformed XML declaration"))?;
                    parse_xml_decl(inner).map_err(|m| not_well_formed(start, m))?;
                }
                Event::DocType(_) => {
                    if doctype_seen || !at_top || self.root_done {
                        return Err(not_well_formed(start, "misplaced document type declaration"));
                    }
                    doctype_seen = true;
                    let content = input
                        .get(start..end)
                        .and_then(|s| s.strip_prefix("<!DOCTYPE"))
                        .and_then(|s| s.strip_suffix('>'))
                        .ok_or_else(|| not_well_formed(start, "malformed document type declaration"))?;
                    self.doctype(content, start)?;
                }
                Event::Eof => {
                    if !self.frames.is_empty() {
                        return Err(not_well_formed(end, "unclosed element at end of input"));
                    }
                    if !self.root_done {
                        return Err(DomHashError::NoRoot);
                    }
                    break;
                }
            }
        }
        if let Want::Document = self.want {
            let mut ctx = Context::new(self.alg);
            ctx.update(&NODE_DOCUMENT);
            ctx.update(&be32(self.doc_children, input.len())?);
            ctx.update(&self.digests);
            self.found = Some(ctx.finish().as_ref().to_vec());
        }
        Ok(())
    }

    fn check_text_len(&self, position: usize) -> Result<(), DomHashError> {
        if self.text.len() > self.limits.max_text_bytes {
            return Err(DomHashError::TextTooLong {
                position,
                limit: self.limits.max_text_bytes,
            });
        }
        Ok(())
    }

    /// Adds a finished child digest to the innermost open node.
    fn push_child(&mut self, d: &[u8]) {
        self.digests.extend_from_slice(d);
        match self.frames.last_mut() {
            Some(f) => f.children += 1,
            None => self.doc_children += 1,
        }
    }

    /// Hashes the pending character data as one Text node, unless it is empty.
    fn flush_text(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let mut ctx = Context::new(self.alg);
        ctx.update(&NODE_TEXT);
        put_utf16(&mut ctx, &self.text, &mut self.utf16);
        self.text.clear();
        let d = ctx.finish();
        self.push_child(d.as_ref());
    }

    fn processing_instruction(&mut self, content: &str, position: usize) -> Result<(), DomHashError> {
        let split = content.bytes().position(is_ws).unwrap_or(content.len());
        let (target, data) = content.split_at_checked(split).unwrap_or((content, ""));
        if !is_ncname(target) {
            return Err(not_well_formed(position, "invalid processing instruction target"));
        }
        if target.eq_ignore_ascii_case("xml") {
            return Err(not_well_formed(position, "reserved processing instruction target"));
        }
        let data = data.trim_start_matches(['\t', '\n', '\r', ' ']);
        if data.len() > self.limits.max_text_bytes {
            return Err(DomHashError::TextTooLong {
                position,
                limit: self.limits.max_text_bytes,
            });
        }
        self.flush_text();
        let mut ctx = Context::new(self.alg);
        ctx.update(&NODE_PI);
        put_utf16(&mut ctx, target, &mut self.utf16);
        ctx.update(&SEPARATOR);
        if data.contains('\r') {
            let mut normalized = String::with_capacity(data.len());
            push_eol_normalized(&mut normalized, data);
            put_utf16(&mut ctx, &normalized, &mut self.utf16);
        } else {
            put_utf16(&mut ctx, data, &mut self.utf16);
        }
        let d = ctx.finish();
        self.push_child(d.as_ref());
        Ok(())
    }

    /// Processes a start tag (`tag` is the whole `<...>` markup).
    fn start_element<'t>(
        &mut self,
        tag: &'t str,
        position: usize,
        empty: bool,
        attrs: &mut Vec<AttrRec<'t>>,
    ) -> Result<(), DomHashError> {
        self.flush_text();
        if self.frames.is_empty() && self.root_done {
            return Err(not_well_formed(position, "content after the root element"));
        }
        if self.frames.len() >= self.limits.max_depth {
            return Err(DomHashError::TooDeep {
                position,
                limit: self.limits.max_depth,
            });
        }
        let inner = tag
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .and_then(|t| if empty { t.strip_suffix('/') } else { Some(t) })
            .ok_or_else(|| not_well_formed(position, "malformed start tag"))?;
        let name_end = inner.bytes().position(is_ws).unwrap_or(inner.len());
        let (qname, raw_attrs) = inner.split_at_checked(name_end).unwrap_or((inner, ""));
        if !is_qname(qname) {
            return Err(not_well_formed(position, "invalid element name"));
        }

        // Attributes, with their values normalised.
        attrs.clear();
        let tokenized = self.dtd.get(qname);
        let mut c = Cursor::new(raw_attrs);
        loop {
            let ws = c.skip_ws();
            if c.at_end() {
                break;
            }
            if !ws {
                return Err(not_well_formed(position, "missing whitespace between attributes"));
            }
            if attrs.len() >= self.limits.max_attributes {
                return Err(DomHashError::TooManyAttributes {
                    position,
                    limit: self.limits.max_attributes,
                });
            }
            let name = c.take_while(|b| !is_ws(b) && b != b'=');
            if !is_qname(name) {
                return Err(not_well_formed(position, "invalid attribute name"));
            }
            c.skip_ws();
            if !c.eat("=") {
                return Err(not_well_formed(position, "attribute without value"));
            }
            c.skip_ws();
            let raw = c
                .quoted()
                .ok_or_else(|| not_well_formed(position, "attribute value not quoted"))?;
            let mut value = normalize_attr_value(raw, position)?;
            if tokenized.and_then(|t| t.get(name)).copied().unwrap_or(false) {
                value = Cow::Owned(collapse_spaces(&value));
            }
            if value.len() > self.limits.max_text_bytes {
                return Err(DomHashError::TextTooLong {
                    position,
                    limit: self.limits.max_text_bytes,
                });
            }
            attrs.push(AttrRec {
                qname: name,
                value,
                expanded: Cow::Borrowed(name),
            });
        }
        {
            let mut names: Vec<&str> = attrs.iter().map(|a| a.qname).collect();
            names.sort_unstable();
            if names.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
                return Err(not_well_formed(position, "duplicate attribute"));
            }
        }

        // Namespace declarations of this element.
        let ns_len = self.ns.len();
        for a in attrs.iter() {
            let prefix = if a.qname == "xmlns" {
                ""
            } else if let Some(p) = a.qname.strip_prefix("xmlns:") {
                p
            } else {
                continue;
            };
            let uri: &str = &a.value;
            let ns_err = |m: &str| DomHashError::Namespace {
                position,
                message: m.to_owned(),
            };
            if prefix == "xmlns" {
                return Err(ns_err("the prefix `xmlns` must not be declared"));
            }
            if prefix == "xml" {
                if uri != XML_NS {
                    return Err(ns_err("the prefix `xml` must not be bound to another namespace"));
                }
                continue;
            }
            if uri == XML_NS || uri == XMLNS_NS {
                return Err(ns_err("a reserved namespace name must not be bound"));
            }
            if !prefix.is_empty() && uri.is_empty() {
                return Err(ns_err("a prefix must not be undeclared"));
            }
            self.ns.push((prefix.to_owned(), uri.to_owned()));
        }

        // Expanded names.
        let elem_name = self.expand(qname, true, position)?;
        attrs.retain(|a| a.qname != "xmlns" && !a.qname.starts_with("xmlns:"));
        for a in attrs.iter_mut() {
            a.expanded = self.expand(a.qname, false, position)?;
        }
        attrs.sort_unstable_by(|a, b| compare_names(&a.expanded, &b.expanded));
        if attrs
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.expanded == b.expanded))
        {
            return Err(DomHashError::Namespace {
                position,
                message: "two attributes with the same expanded name".to_owned(),
            });
        }

        let target = match self.want {
            Want::Id(id) if !self.id_claimed => attrs
                .iter()
                .any(|a| a.qname == "ID" && a.value == id),
            _ => false,
        };
        self.id_claimed |= target;

        let mut ctx = Context::new(self.alg);
        ctx.update(&NODE_ELEMENT);
        put_utf16(&mut ctx, &elem_name, &mut self.utf16);
        ctx.update(&SEPARATOR);
        ctx.update(&be32(attrs.len(), position)?);
        for a in attrs.iter() {
            let mut actx = Context::new(self.alg);
            actx.update(&NODE_ATTRIBUTE);
            put_utf16(&mut actx, &a.expanded, &mut self.utf16);
            actx.update(&SEPARATOR);
            put_utf16(&mut actx, &a.value, &mut self.utf16);
            ctx.update(actx.finish().as_ref());
        }
        attrs.clear();
        self.frames.push(Frame {
            ctx,
            child_start: self.digests.len(),
            children: 0,
            ns_len,
            target,
        });
        Ok(())
    }

    /// The expanded name of an element or attribute name in the current namespace scope.
    fn expand<'t>(&self, qname: &'t str, element: bool, position: usize) -> Result<Cow<'t, str>, DomHashError> {
        match qname.split_once(':') {
            Some((prefix, local)) => match self.lookup(prefix) {
                Some(uri) => Ok(Cow::Owned(format!("{uri}:{local}"))),
                None => Err(DomHashError::Namespace {
                    position,
                    message: format!("unbound prefix `{prefix}`"),
                }),
            },
            None if element => match self.lookup("") {
                Some(uri) if !uri.is_empty() => Ok(Cow::Owned(format!("{uri}:{qname}"))),
                _ => Ok(Cow::Borrowed(qname)),
            },
            None => Ok(Cow::Borrowed(qname)),
        }
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.ns
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.as_str())
    }

    fn end_element(&mut self, position: usize) -> Result<(), DomHashError> {
        self.flush_text();
        let Some(frame) = self.frames.pop() else {
            return Err(not_well_formed(position, "end tag without start tag"));
        };
        let Frame {
            mut ctx,
            child_start,
            children,
            ns_len,
            target,
        } = frame;
        ctx.update(&be32(children, position)?);
        ctx.update(self.digests.get(child_start..).unwrap_or_default());
        self.digests.truncate(child_start);
        self.ns.truncate(ns_len);
        let d = ctx.finish();
        if target || (self.frames.is_empty() && matches!(self.want, Want::Root)) {
            self.found = Some(d.as_ref().to_vec());
        }
        if self.frames.is_empty() {
            self.root_done = true;
        }
        self.push_child(d.as_ref());
        Ok(())
    }

    /// Checks a document type declaration (`content` follows `<!DOCTYPE` up to the final `>`)
    /// and records the attribute types of its internal subset.
    fn doctype(&mut self, content: &str, position: usize) -> Result<(), DomHashError> {
        let nwf = |m: &str| not_well_formed(position, m);
        let mut c = Cursor::new(content);
        if !c.skip_ws() {
            return Err(nwf("malformed document type declaration"));
        }
        c.name().ok_or_else(|| nwf("invalid document type name"))?;
        if c.skip_ws() {
            let external_ok = if c.eat("SYSTEM") {
                c.skip_ws() && c.quoted().is_some()
            } else if c.eat("PUBLIC") {
                c.skip_ws() && c.quoted().is_some() && c.skip_ws() && c.quoted().is_some()
            } else {
                true
            };
            if !external_ok {
                return Err(nwf("malformed external identifier"));
            }
            c.skip_ws();
        }
        if c.eat("[") {
            self.internal_subset(&mut c, position)?;
            if !c.eat("]") {
                return Err(nwf("unterminated internal subset"));
            }
            c.skip_ws();
        }
        if !c.at_end() {
            return Err(nwf("malformed document type declaration"));
        }
        Ok(())
    }

    fn internal_subset(&mut self, c: &mut Cursor<'_>, position: usize) -> Result<(), DomHashError> {
        let nwf = |m: &str| not_well_formed(position, m);
        loop {
            c.skip_ws();
            if c.at_end() || c.peek() == Some(b']') {
                return Ok(());
            }
            if c.eat("<!--") {
                let body = c.until("-->").ok_or_else(|| nwf("unterminated comment"))?;
                if body.contains("--") || body.ends_with('-') {
                    return Err(nwf("`--` in a comment"));
                }
            } else if c.eat("<?") {
                c.until("?>")
                    .ok_or_else(|| nwf("unterminated processing instruction"))?;
            } else if c.eat("<!ENTITY") || c.peek() == Some(b'%') {
                return Err(DomHashError::EntityDeclaration { position });
            } else if c.eat("<!ATTLIST") {
                self.attlist(c, position)?;
            } else if c.eat("<!ELEMENT") || c.eat("<!NOTATION") {
                c.skip_markup_decl()
                    .ok_or_else(|| nwf("unterminated markup declaration"))?;
            } else {
                return Err(nwf("malformed internal subset"));
            }
        }
    }

    /// Reads one attribute-list declaration after `<!ATTLIST`.
    fn attlist(&mut self, c: &mut Cursor<'_>, position: usize) -> Result<(), DomHashError> {
        let nwf = || not_well_formed(position, "malformed attribute-list declaration");
        if !c.skip_ws() {
            return Err(nwf());
        }
        let element = c.name().ok_or_else(nwf)?;
        loop {
            let ws = c.skip_ws();
            if c.eat(">") {
                return Ok(());
            }
            if !ws {
                return Err(nwf());
            }
            let attr = c.name().ok_or_else(nwf)?;
            if !c.skip_ws() {
                return Err(nwf());
            }
            let tokenized = if c.eat("CDATA") {
                false
            } else if ["IDREFS", "IDREF", "ID", "ENTITIES", "ENTITY", "NMTOKENS", "NMTOKEN"]
                .iter()
                .any(|k| c.eat(k))
            {
                true
            } else if c.eat("NOTATION") {
                if !c.skip_ws() || !c.enumeration() {
                    return Err(nwf());
                }
                true
            } else if c.enumeration() {
                true
            } else {
                return Err(nwf());
            };
            if !c.skip_ws() {
                return Err(nwf());
            }
            let has_default = if c.eat("#REQUIRED") || c.eat("#IMPLIED") {
                false
            } else {
                if c.eat("#FIXED") && !c.skip_ws() {
                    return Err(nwf());
                }
                c.quoted().ok_or_else(nwf)?;
                true
            };
            if has_default && (attr == "xmlns" || attr.starts_with("xmlns:")) {
                return Err(DomHashError::UnsupportedDtd {
                    position,
                    reason: "default value for a namespace declaration attribute",
                });
            }
            self.dtd
                .entry(element.to_owned())
                .or_default()
                .entry(attr.to_owned())
                .or_insert(tokenized);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Helpers

fn not_well_formed(position: usize, message: &str) -> DomHashError {
    DomHashError::NotWellFormed {
        position,
        message: message.to_owned(),
    }
}

fn to_usize(pos: u64) -> usize {
    usize::try_from(pos).unwrap_or(usize::MAX)
}

fn be32(n: usize, position: usize) -> Result<[u8; 4], DomHashError> {
    u32::try_from(n)
        .map(u32::to_be_bytes)
        .map_err(|_| not_well_formed(position, "more than 2^32 - 1 nodes"))
}

/// Feeds `s` as UTF-16BE to `ctx`.
fn put_utf16(ctx: &mut Context, s: &str, buf: &mut Vec<u8>) {
    buf.clear();
    buf.reserve(s.len() * 2);
    if s.is_ascii() {
        for b in s.bytes() {
            buf.extend_from_slice(&[0, b]);
        }
    } else {
        for u in s.encode_utf16() {
            buf.extend_from_slice(&u.to_be_bytes());
        }
    }
    ctx.update(buf);
}

/// Attribute order: by UTF-16 code unit (or code point, see [`SORT_BY_CODE_POINT`]).
fn compare_names(a: &str, b: &str) -> Ordering {
    if SORT_BY_CODE_POINT || (a.is_ascii() && b.is_ascii()) {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

const fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Appends `s` with CR LF and lone CR turned into LF (XML 1.0 section 2.11).
fn push_eol_normalized(out: &mut String, s: &str) {
    if memchr::memchr(b'\r', s.as_bytes()).is_none() {
        out.push_str(s);
        return;
    }
    let mut rest = s;
    while let Some(i) = rest.find('\r') {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        out.push('\n');
        let after = &after[1..];
        rest = after.strip_prefix('\n').unwrap_or(after);
    }
    out.push_str(rest);
}

/// The character a built-in entity or character reference (`name` between `&` and `;`)
/// stands for.
fn resolve_reference(name: &str, position: usize) -> Result<char, DomHashError> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let Some(num) = name.strip_prefix('#') else {
                return Err(DomHashError::UndeclaredEntity {
                    name: name.to_owned(),
                    position,
                });
            };
            let (digits, radix) = match num.strip_prefix('x') {
                Some(hex) => (hex, 16),
                None => (num, 10),
            };
            let valid = !digits.is_empty() && digits.bytes().all(|b| (b as char).is_digit(radix));
            let c = valid
                .then(|| u32::from_str_radix(digits, radix).ok())
                .flatten()
                .and_then(char::from_u32)
                .filter(|&c| is_xml_char(c));
            c.ok_or_else(|| not_well_formed(position, "invalid character reference"))?
        }
    };
    Ok(c)
}

fn push_reference(out: &mut String, name: &str, position: usize) -> Result<(), DomHashError> {
    out.push(resolve_reference(name, position)?);
    Ok(())
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Attribute-value normalisation (XML 1.0 section 3.3.3) for CDATA attributes: references
/// expanded, literal tab, LF, CR and CR LF each become one space.
fn normalize_attr_value(raw: &str, position: usize) -> Result<Cow<'_, str>, DomHashError> {
    let special = |b: &u8| matches!(*b, b'\t' | b'\n' | b'\r' | b'&' | b'<');
    if !raw.as_bytes().iter().any(special) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.bytes().position(|b| special(&b)) {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        let mut tail = after.get(1..).unwrap_or("");
        match after.as_bytes().first() {
            Some(b'<') => return Err(not_well_formed(position, "`<` in an attribute value")),
            Some(b'&') => {
                let semi = tail
                    .find(';')
                    .ok_or_else(|| not_well_formed(position, "unterminated reference"))?;
                let (name, after_name) = tail.split_at(semi);
                out.push(resolve_reference(name, position)?);
                tail = after_name.get(1..).unwrap_or("");
            }
            Some(b'\r') => {
                out.push(' ');
                tail = tail.strip_prefix('\n').unwrap_or(tail);
            }
            _ => out.push(' '),
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Further normalisation of tokenised attribute types: leading and trailing spaces dropped,
/// runs of spaces collapsed to one.
fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s.split(' ').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A name without colons (Namespaces in XML `NCName`).
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

/// `NCName` or `NCName:NCName`.
fn is_qname(s: &str) -> bool {
    match s.split_once(':') {
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
        None => is_ncname(s),
    }
}

/// A small forward-only scanner over DTD and declaration text. Every advance stops on an
/// ASCII byte or at the end, so slices stay on character boundaries.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, i: 0 }
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or("")
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    /// Skips whitespace; true if there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
        self.i > start
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    /// Takes bytes while `f` holds for them; `f` must be false for ASCII delimiters only, or
    /// true for all bytes of a multi-byte character.
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let rest = self.rest();
        let n = rest.bytes().position(|b| !f(b)).unwrap_or(rest.len());
        match rest.get(..n) {
            Some(taken) => {
                self.i += n;
                taken
            }
            None => "",
        }
    }

    /// A quoted literal (`"..."` or `'...'`), returning its content.
    fn quoted(&mut self) -> Option<&'a str> {
        let q = self.peek().filter(|b| matches!(b, b'"' | b'\''))?;
        let rest = self.rest().get(1..)?;
        let end = rest.bytes().position(|b| b == q)?;
        let content = rest.get(..end)?;
        self.i += end + 2;
        Some(content)
    }

    /// A Name (colons allowed).
    fn name(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        if !(is_name_start_char(first) || first == ':') {
            return None;
        }
        let end = chars
            .find(|&(_, c)| !(is_name_char(c) || c == ':'))
            .map_or(rest.len(), |(i, _)| i);
        self.i += end;
        rest.get(..end)
    }

    /// Text up to `end`, consuming `end` too.
    fn until(&mut self, end: &str) -> Option<&'a str> {
        let rest = self.rest();
        let n = rest.find(end)?;
        self.i += n + end.len();
        rest.get(..n)
    }

    /// `( ... )` of an enumerated attribute type.
    fn enumeration(&mut self) -> bool {
        if !self.eat("(") {
            return false;
        }
        self.until(")").is_some_and(|body| !body.contains(['<', '>', '"', '\'']))
    }

    /// Skips to the `>` closing a markup declaration, honouring quoted literals.
    fn skip_markup_decl(&mut self) -> Option<()> {
        loop {
            match self.peek()? {
                b'>' => {
                    self.i += 1;
                    return Some(());
                }
                b'"' | b'\'' => {
                    self.quoted()?;
                }
                _ => self.i += 1,
            }
        }
    }
}
