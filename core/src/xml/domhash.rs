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
//! attribute values are normalised (literal tab, CR and LF become spaces, while `&#10;` stays a
//! line feed), the five predefined entities and character references are expanded, and attribute
//! types declared in an internal DTD subset normalise tokenised values as expat does.
//! DTD attribute defaults are never applied. Any entity declaration (or parameter entity
//! reference) in an internal subset is refused instead of expanded, and so is a reference to any
//! entity other than the five predefined ones.
//!
//! Two points where the reference implementation and the RFC text can be read differently,
//! both decided for the reference implementation (the test oracle):
//!
//! - a comment between two pieces of text separates them into two Text nodes
//!   (`COMMENT_SPLITS_TEXT` below);
//! - attributes are sorted in UTF-16 code-unit order, which differs from code-point order only
//!   for expanded names with characters above U+FFFF (`SORT_BY_CODE_POINT` below).
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
    #[error(
        "text, attribute value or processing instruction at byte {position} exceeds {limit} bytes"
    )]
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

/// DOMHASH of the whole document (the Document node): its processing instructions and root
/// element. The XML declaration, the document type declaration and comments do not count.
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

/// Digest of the first element whose `ID` attribute equals `id` (IOTP element references),
/// None if absent.
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
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
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

/// An open element. Its byte string is built in [`Hasher::stack`] from `start`: type, name,
/// attribute count and digests, a child count to fill in at the end tag, then child digests.
struct Frame {
    start: usize,
    /// Where the child count goes in [`Hasher::stack`].
    count_pos: usize,
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
    /// The digests of the Document node's children so far, followed by the byte strings of all
    /// open elements, outermost first (each ending with its children's digests so far).
    stack: Vec<u8>,
    /// Children of the Document node (processing instructions and the root element).
    doc_children: usize,
    /// Character data not yet hashed (adjacent text, references and CDATA merged).
    text: String,
    /// Namespace bindings in scope: (prefix, namespace name); prefix "" is the default.
    ns: Vec<(String, String)>,
    /// Scratch buffer for the byte string of a leaf node.
    scratch: Vec<u8>,
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
            stack: Vec::new(),
            doc_children: 0,
            text: String::new(),
            ns: Vec::new(),
            scratch: Vec::new(),
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
            let event = reader
                .read_event()
                .map_err(|e| DomHashError::NotWellFormed {
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
                        return Err(not_well_formed(
                            start,
                            "misplaced document type declaration",
                        ));
                    }
                    doctype_seen = true;
                    let content = input
                        .get(start..end)
                        .and_then(|s| s.strip_prefix("<!DOCTYPE"))
                        .and_then(|s| s.strip_suffix('>'))
                        .ok_or_else(|| {
                            not_well_formed(start, "malformed document type declaration")
                        })?;
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
            ctx.update(&self.stack);
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
        self.stack.extend_from_slice(d);
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
        self.scratch.clear();
        self.scratch.extend_from_slice(&NODE_TEXT);
        push_utf16(&mut self.scratch, &self.text);
        self.text.clear();
        let d = digest::digest(self.alg, &self.scratch);
        self.push_child(d.as_ref());
    }

    fn processing_instruction(
        &mut self,
        content: &str,
        position: usize,
    ) -> Result<(), DomHashError> {
        let split = content.bytes().position(is_ws).unwrap_or(content.len());
        let (target, data) = content.split_at_checked(split).unwrap_or((content, ""));
        if !is_ncname(target) {
            return Err(not_well_formed(
                position,
                "invalid processing instruction target",
            ));
        }
        if target.eq_ignore_ascii_case("xml") {
            return Err(not_well_formed(
                position,
                "reserved processing instruction target",
            ));
        }
        let data = data.trim_start_matches(['\t', '\n', '\r', ' ']);
        if data.len() > self.limits.max_text_bytes {
            return Err(DomHashError::TextTooLong {
                position,
                limit: self.limits.max_text_bytes,
            });
        }
        self.flush_text();
        self.scratch.clear();
        self.scratch.extend_from_slice(&NODE_PI);
        push_utf16(&mut self.scratch, target);
        self.scratch.extend_from_slice(&SEPARATOR);
        if data.contains('\r') {
            let mut normalized = String::with_capacity(data.len());
            push_eol_normalized(&mut normalized, data);
            push_utf16(&mut self.scratch, &normalized);
        } else {
            push_utf16(&mut self.scratch, data);
        }
        let d = digest::digest(self.alg, &self.scratch);
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
                return Err(not_well_formed(
                    position,
                    "missing whitespace between attributes",
                ));
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
            if tokenized
                .and_then(|t| t.get(name))
                .copied()
                .unwrap_or(false)
            {
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
        attrs.sort_unstable_by(|a, b| a.qname.cmp(b.qname));
        if attrs
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.qname == b.qname))
        {
            return Err(not_well_formed(position, "duplicate attribute"));
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
                    return Err(ns_err(
                        "the prefix `xml` must not be bound to another namespace",
                    ));
                }
                continue;
            }
            if uri == XML_NS || uri == XMLNS_NS {
                return Err(ns_err("a reserved namespace name must not be bound"));
            }
            if !prefix.is_empty() && uri.is_empty() {
                return Err(ns_err("a prefix must not be undeclared"));
            }
            if uri.contains(' ') {
                // Not a URI reference; expat (the reference's parser) refuses it too.
                return Err(ns_err("a namespace name must not contain a space"));
            }
            self.ns.push((prefix.to_owned(), uri.to_owned()));
        }

        // Attributes by expanded name (namespace declarations have none).
        attrs.retain(|a| a.qname != "xmlns" && !a.qname.starts_with("xmlns:"));
        for a in attrs.iter_mut() {
            if let Some((prefix, local)) = a.qname.split_once(':') {
                let uri = lookup(&self.ns, prefix).ok_or_else(|| unbound(prefix, position))?;
                a.expanded = Cow::Owned(format!("{uri}:{local}"));
            }
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
            Want::Id(id) if !self.id_claimed => {
                attrs.iter().any(|a| a.qname == "ID" && a.value == id)
            }
            _ => false,
        };
        self.id_claimed |= target;

        // The element's byte string up to its child count, built on the stack.
        let start = self.stack.len();
        self.stack.extend_from_slice(&NODE_ELEMENT);
        let (uri, local) = match qname.split_once(':') {
            Some((prefix, local)) => (
                lookup(&self.ns, prefix).ok_or_else(|| unbound(prefix, position))?,
                local,
            ),
            None => (lookup(&self.ns, "").unwrap_or(""), qname),
        };
        if !uri.is_empty() {
            push_utf16(&mut self.stack, uri);
            push_utf16(&mut self.stack, ":");
        }
        push_utf16(&mut self.stack, local);
        self.stack.extend_from_slice(&SEPARATOR);
        self.stack.extend_from_slice(&be32(attrs.len(), position)?);
        for a in attrs.iter() {
            self.scratch.clear();
            self.scratch.extend_from_slice(&NODE_ATTRIBUTE);
            push_utf16(&mut self.scratch, &a.expanded);
            self.scratch.extend_from_slice(&SEPARATOR);
            push_utf16(&mut self.scratch, &a.value);
            let d = digest::digest(self.alg, &self.scratch);
            self.stack.extend_from_slice(d.as_ref());
        }
        attrs.clear();
        let count_pos = self.stack.len();
        self.stack.extend_from_slice(&[0; 4]);
        self.frames.push(Frame {
            start,
            count_pos,
            children: 0,
            ns_len,
            target,
        });
        Ok(())
    }

    fn end_element(&mut self, position: usize) -> Result<(), DomHashError> {
        self.flush_text();
        let Some(frame) = self.frames.pop() else {
            return Err(not_well_formed(position, "end tag without start tag"));
        };
        let count = be32(frame.children, position)?;
        if let Some(slot) = self.stack.get_mut(frame.count_pos..frame.count_pos + 4) {
            slot.copy_from_slice(&count);
        }
        let d = digest::digest(self.alg, self.stack.get(frame.start..).unwrap_or_default());
        self.stack.truncate(frame.start);
        self.ns.truncate(frame.ns_len);
        if frame.target || (self.frames.is_empty() && matches!(self.want, Want::Root)) {
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
        c.name()
            .filter(|n| is_qname(n))
            .ok_or_else(|| nwf("invalid document type name"))?;
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
            } else if [
                "IDREFS", "IDREF", "ID", "ENTITIES", "ENTITY", "NMTOKENS", "NMTOKEN",
            ]
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

/// Appends `s` as UTF-16BE.
fn push_utf16(buf: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        let start = buf.len();
        buf.resize(start + 2 * s.len(), 0);
        if let Some(tail) = buf.get_mut(start..) {
            for (pair, b) in tail.chunks_exact_mut(2).zip(s.bytes()) {
                if let [_, low] = pair {
                    *low = b;
                }
            }
        }
    } else {
        buf.reserve(2 * s.len());
        for u in s.encode_utf16() {
            buf.extend_from_slice(&u.to_be_bytes());
        }
    }
}

/// The namespace bound to `prefix` ("" for the default namespace) in scope.
fn lookup<'n>(ns: &'n [(String, String)], prefix: &str) -> Option<&'n str> {
    if prefix == "xml" {
        return Some(XML_NS);
    }
    ns.iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.as_str())
}

fn unbound(prefix: &str, position: usize) -> DomHashError {
    DomHashError::Namespace {
        position,
        message: format!("unbound prefix `{prefix}`"),
    }
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

/// `NameStartChar` without `:` (an NCName start character).
fn is_name_start_char(c: char) -> bool {
    c != ':' && super::is_name_start_char(c)
}

/// `NameChar` without `:` (an NCName character).
fn is_name_char(c: char) -> bool {
    c != ':' && super::is_name_char(c)
}

/// A name without colons (Namespaces in XML `NCName`).
fn is_ncname(s: &str) -> bool {
    if s.is_ascii() {
        let mut bytes = s.bytes();
        return bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    }
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
        self.until(")")
            .is_some_and(|body| !body.contains(['<', '>', '"', '\'']))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SHA1: HashAlgorithm = HashAlgorithm::Sha1;
    const SHA256: HashAlgorithm = HashAlgorithm::Sha256;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn elem(xml: &str, alg: HashAlgorithm) -> String {
        hex(&digest_root_element(xml.as_bytes(), alg, &Limits::default()).unwrap())
    }

    fn doc(xml: &str, alg: HashAlgorithm) -> String {
        hex(&digest_document(xml.as_bytes(), alg, &Limits::default()).unwrap())
    }

    /// /work/shared/spec/perf-samples/ping.xml, embedded so the test does not depend on it.
    const PING_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<IotpMessage xmlns="iotp:ietf.org/iotp-v1.0">
<TransRefBlk ID="I1.1">
 <TransId ID="I1.2" Version="1.0" IotpTransId="19990520121900.000007@consumer.example.org" IotpTransType="BaselinePing" TransTimeStamp="1999-05-20T12:19:00Z"/>
 <MsgId ID="I1" xml:lang="en" SoftwareId="ExampleIotpWallet/1.0"/>
</TransRefBlk>
<PingReqBlk ID="I1.3">
 <Org ID="I1.4" xml:lang="en" OrgId="consumer.example.org" LegalName="Jane Q. Consumer">
  <TradingRole ID="I1.5" TradingRole="Consumer" IotpMsgIdPrefix="C"/>
 </Org>
</PingReqBlk>
</IotpMessage>
"#;

    #[test]
    fn spec_vectors() {
        // related-specs.md section 3.
        assert_eq!(
            elem("<a/>", SHA1),
            "18b19fdf105b6522db663765b8faed13c597fd2c"
        );
        assert_eq!(
            doc("<a/>", SHA1),
            "b9c490a48d4fe6e6b232e2e23b230085499844dd"
        );
        assert_eq!(
            elem(r#"<a b="c">d</a>"#, SHA1),
            "d8472584024e40c9051907b11e3efb7f11d7290c"
        );
        assert_eq!(
            elem(
                r#"<PackagedContent Name="FirstPiece">snroasdfnas934k</PackagedContent>"#,
                SHA1
            ),
            "e7ce5e483fbf3248206ae256eaee08ad5bde2a2e"
        );
    }

    /// (name, input, root element SHA-1, document SHA-1, root element SHA-256, document
    /// SHA-256). Every expected value came from /work/shared/spec/domhash_ref.py (Python 3.11,
    /// expat 2.5.0).
    const REF_VECTORS: &[(&str, &str, &str, &str, &str, &str)] = &[
        (
            "namespaces",
            r#"<doc xmlns="urn:d" xmlns:p="urn:p"><p:x p:a="1" b="2" xml:lang="en"/><y xmlns=""><z xmlns:q="urn:p" q:a="1"/></y></doc>"#,
            "f4dc584967a8bf1f269e06042149ca86d83c0688",
            "5e91db15ef4478b437ab70f7996e414c4060e08c",
            "d3d47803acb216950589350a3dcd3ae6c6aed0c2cf17d74fdad3a4e3e9089bc0",
            "587a94d059461c63300f55bdfe8cbeda96a328a6d8fec75653118d987f43dbd4",
        ),
        (
            "attr_sorting",
            r#"<doc z="1" a="2" m="3" B="4" aa="5" _="6" xmlns:n="urn:n" n:a="7"/>"#,
            "b2d15a34132ab5ca1f04f1eae2a8b2b8e59507ed",
            "63b84675feea0f29d8eb6e59fafacb5f33ad5d43",
            "3d6672865ce34fa08d7f775b8ea288fa349de55ea88ee747a74c81a3befd93ee",
            "a8526e38da76ef596a87914fc8f9cd65d51d994ee69814650635048edafb0f0e",
        ),
        (
            "whitespace_text",
            "<doc>\n  <x> </x>\n\t<y/>\n</doc>",
            "7a5a2f7eeb309717d8be888ed7b42c40789efbfb",
            "2e0e804e738532e40f2487259ddf771b59004aa1",
            "e1aa25dfff41cde38ac342136d48c43256b2993f45c847587145db209605e5dd",
            "13955c398b452c0c493a00e53bd3b4b5931f364a843b37f4343ae9bcb853cace",
        ),
        (
            "cdata_merged",
            "<doc>ab<![CDATA[<c>&]]>d<![CDATA[]]><e/><![CDATA[f]]></doc>",
            "b9c017d98d90a6acb1cbb689b7434d13a899d6da",
            "9163347024b1ebe26620838b374d97494bff4f11",
            "6433657f30271ea773c0d1ccca60769c5fa9f915f9e6a4079e92bf05234f4510",
            "42dc910e8f08f65ea9905ab812eb818683a69a80a99ec45c68f0830de55a8346",
        ),
        (
            "cdata_equiv",
            "<doc>ab&lt;c&gt;&amp;d<e/>f</doc>",
            "b9c017d98d90a6acb1cbb689b7434d13a899d6da",
            "9163347024b1ebe26620838b374d97494bff4f11",
            "6433657f30271ea773c0d1ccca60769c5fa9f915f9e6a4079e92bf05234f4510",
            "42dc910e8f08f65ea9905ab812eb818683a69a80a99ec45c68f0830de55a8346",
        ),
        (
            "comments_pis",
            "<?top  one?><!--c0--><doc><?pi   some data  ?><!--c1-->x<?t?><!--c2--></doc><!--c3--><?post x?>",
            "f6a999c6df997ee94d861190a698982c624847ac",
            "d17345729d920b53dcc47870845aab8b7f4c110c",
            "97b5ae8cdb849f48e4588737773577b10cf30cf11190eff820f00318ec78855e",
            "531baa5c0796205d8639fb9e6e706516c11753861e63a240e718d50c4642dec9",
        ),
        (
            // The reference ends a Text node at a comment: two Text children "a" and "b".
            "comment_splits_text",
            "<doc>a<!--c-->b</doc>",
            "6b9a159ba5f8d4c4e58b13001be4a18bec239c8a",
            "1b5e7490dd822760db45518192cb8e132eb55366",
            "16458143016ee293472b67b004454d2d8f1a3d7a63ed591859b4bffe83da32e5",
            "83326625eb524b619a43556325ad1ee1c4870ebdcc4bb34ddbccf7b9e658f01b",
        ),
        (
            "char_refs",
            r#"<doc a="&#65;&#x42;&#10;&#9;&#13;&lt;&quot;&apos;">&#67;&#x1F600;&amp;&#13;&gt;</doc>"#,
            "1fb088456dc7921cff70b89c0291ba661340838a",
            "68e2e4a9209e8ad4d39688d457a1b703c0bce367",
            "b5ba72f0f41151455a452ed5e7b315db756495f3297f6338aa77eef0894e2d19",
            "a3302f0898a1e4097cdacb8fa15968b46cdc0b27067661f718d21a63e3a5ed96",
        ),
        (
            "doctype",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE doc SYSTEM \"doc.dtd\">\n<doc/>\n",
            "9002e61255ad78b39563a3295941d9602ab1b1b4",
            "0abbf358725ce540d9fa35b4c1bdda132d91c4be",
            "21d07c8120fcacce0b11dfd512a0b663b52bf0182faf06027b0d728a61c1ad36",
            "e4d5fdea091a97fe7f3a640f99ddfc2d1c9db33402735d27fa8c8d8643b34bb0",
        ),
        (
            "non_ascii",
            "<doc \u{e9}=\"\u{20ac}\u{1F600}\">\u{e9}\u{20ac}\u{1F600}</doc>",
            "ad940b72c79e0003d139d8db8c4bfbf3df631a63",
            "1f0dc956a8e9dad6b1dac594fb112b7bfc19f5b7",
            "bd6c30d1ad57c40bd9e02398bb78948e954501135c990dce1c2e6d3fa81f25a6",
            "f4280c07b98bbb49f340a38eeded66365fa64724afd4065a3e93f7de7b59366f",
        ),
        (
            "attr_normalization",
            "<doc a=\"x\ty\r\nz\nw\rv\" b=\"&#10;\"/>",
            "083e05f16a1641dc9bc7859eb119c4edc8c48069",
            "f4e63f31d2ec25712c648071e53192c741690641",
            "2d910b2b39af63dabde0aba0b0551954a1d3c51ab5d2bd27e7f4e88161ae2402",
            "ff8f577901a4d724c5c1ed7cfe0087fc6e769dcc4381c6e0c36e3ab90247dc00",
        ),
        (
            "text_line_ends",
            "<doc>x\r\ny\rz\n</doc>",
            "ec759a4d1f8a3462924eb80037ae88e2aa55647c",
            "f1671f29eca04b5514d7fea6cd86c25be2769431",
            "5344c4e8b944ee3b605f783ab3c9b2a7b9feebb1d96e60f14588baecb81fef20",
            "67b7bf37b653666c600fc161bb2bbc68b0432a46c88bd82165ee26bb41603438",
        ),
        (
            "pi_line_ends",
            "<doc><?pi a\r\nb\rc?></doc>",
            "116682704430af6442e610723650cfc9f30fca43",
            "066d22d5c63590757a5fdaa42ed5c6dab7f43773",
            "33e5ab36bdc7ab687752aa3e8535a2ddbf0c55ce694f4bd2e6ab9e97df59989b",
            "0fd4042a1fb06e1d43b24efb32d05a3601e65b3898f05ed72a6f03a8b8e3f532",
        ),
        (
            // UTF-16 code-unit order puts "urn:\u{1F600}:x" (D83D ...) before "urn:\u{F900}:x".
            "astral_sort",
            "<doc xmlns:p=\"urn:\u{1F600}\" xmlns:q=\"urn:\u{F900}\" p:x=\"1\" q:x=\"2\"/>",
            "c59c615859fba2450a440dcef1157694ad5dcafb",
            "7fc06889d0155a7569016ea0d5e39d2d44a6d537",
            "66ff7321f5ebf94f70cb87ddb41cf6ea0f19bb1364b948b8ee3c6bd8153aeafd",
            "935fc1afef2a254522cab28e081ff75cd37df1c01c01f9e2cc912f1f8ac68be4",
        ),
        (
            // NMTOKENS values are collapsed as expat does; CDATA ones are not; the #FIXED
            // default of `d` is not added.
            "attlist_tokenized",
            r#"<!DOCTYPE doc [<!ATTLIST doc b NMTOKENS #IMPLIED c CDATA #IMPLIED d ID #FIXED "x"><!-- <!ENTITY e "f"> -->]><doc b=" x  y " c=" x  y "/>"#,
            "43c07a37787d0a58ff3706b9ed71537771850404",
            "13c5e1b0e9551823c64c1a9049d8e82acd6b7e3c",
            "6e0fd99d69d5c247bc5404d45c0d493cd3af1daf76e9f13aa8c9a19d4fc1c045",
            "49c289931fe33b67f58f5580d1fc10b8045519d895be66631946bb060b048f0b",
        ),
        (
            "nested",
            r#"<doc><a ID="i1"><b ID="i2" x="1">t</b></a><c ID="i2"/></doc>"#,
            "d0d487137cdb331ca087665da039dfb4789bd81d",
            "2950352cc54afa8af5a49fd61d955c72dfd4eaa3",
            "f9eaf5db29b3503450c74ea4ab9e8e7b7fea1d7c5e1580d1157a9c8840168716",
            "e7d5a8f312d7e8a028e984d2ef60a663a4c32e45c843d980afb4c39c4aefaca0",
        ),
    ];

    #[test]
    fn reference_vectors() {
        for &(name, xml, e1, d1, e256, d256) in REF_VECTORS {
            assert_eq!(elem(xml, SHA1), e1, "{name}: element SHA-1");
            assert_eq!(doc(xml, SHA1), d1, "{name}: document SHA-1");
            assert_eq!(elem(xml, SHA256), e256, "{name}: element SHA-256");
            assert_eq!(doc(xml, SHA256), d256, "{name}: document SHA-256");
        }
    }

    #[test]
    fn ping_document() {
        // From domhash_ref.py on /work/shared/spec/perf-samples/ping.xml.
        assert_eq!(
            doc(PING_XML, SHA1),
            "3435f8df485152476ad2d55c1f0c1d310cb70ed0"
        );
        assert_eq!(
            elem(PING_XML, SHA1),
            "aa05ed5330f96fa22158b6dbde077408c0462577"
        );
        assert_eq!(
            doc(PING_XML, SHA256),
            "c9f9ee471c85da13487541fef3d4a75be53c83bbf91f60696cd017db0d22afd3"
        );
    }

    #[test]
    fn perf_samples_match_reference() {
        // From domhash_ref.py; skipped where the shared samples are not present.
        for (file, expected) in [
            (
                "tpo_offer_6k.xml",
                "3ed1c5cd7f3a7e833d2f8ee7c92d9e605f19cd2a",
            ),
            (
                "tpo_offer_60k.xml",
                "04833024cc7ebbb7caf14570489e89d8420650cd",
            ),
        ] {
            let path = format!("/work/shared/spec/perf-samples/{file}");
            let Ok(xml) = std::fs::read(&path) else {
                eprintln!("skipping {path}: not readable");
                continue;
            };
            let d = digest_document(&xml, SHA1, &Limits::default()).unwrap();
            assert_eq!(hex(&d), expected, "{file}");
        }
    }

    #[test]
    fn digest_lengths() {
        assert_eq!(SHA1.output_len(), 20);
        assert_eq!(SHA256.output_len(), 32);
        let l = Limits::default();
        assert_eq!(digest_document(b"<a/>", SHA1, &l).unwrap().len(), 20);
        assert_eq!(digest_document(b"<a/>", SHA256, &l).unwrap().len(), 32);
    }

    #[test]
    fn element_by_id() {
        let l = Limits::default();
        let xml = REF_VECTORS
            .iter()
            .find(|v| v.0 == "nested")
            .map(|v| v.1.as_bytes())
            .unwrap();
        // The nested <b ID="i2">, not the later <c ID="i2">; value from domhash_ref.py.
        let d = digest_element_by_id(xml, "i2", SHA1, &l).unwrap().unwrap();
        assert_eq!(hex(&d), "635ce1458467a4ee538c5d0728016f05983ad934");
        assert_eq!(digest_element_by_id(xml, "nope", SHA1, &l).unwrap(), None);
        // IOTP: the TransRefBlk and a nested TradingRole of ping.xml.
        let ping = PING_XML.as_bytes();
        let role = digest_element_by_id(ping, "I1.5", SHA1, &l)
            .unwrap()
            .unwrap();
        assert_eq!(
            hex(&role),
            elem(
                r#"<TradingRole xmlns="iotp:ietf.org/iotp-v1.0" ID="I1.5" TradingRole="Consumer" IotpMsgIdPrefix="C"/>"#,
                SHA1
            )
        );
        assert!(
            digest_element_by_id(ping, "I1.1", SHA1, &l)
                .unwrap()
                .is_some()
        );
        // A malformed document is an error even after the element was found.
        assert!(digest_element_by_id(b"<a><b ID='x'/>", "x", SHA1, &l).is_err());
    }

    #[test]
    fn namespace_prefix_does_not_matter() {
        let a = elem(
            r#"<root xmlns:edi="http://ecommerce.org/schema"><edi:order/></root>"#,
            SHA1,
        );
        let b = elem(
            r#"<root xmlns:ec="http://ecommerce.org/schema"><ec:order/></root>"#,
            SHA1,
        );
        let c = elem(
            r#"<root><order xmlns="http://ecommerce.org/schema"/></root>"#,
            SHA1,
        );
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn encodings() {
        let l = Limits::default();
        let utf8 =
            digest_document("<a b=\"\u{e9}\">\u{20ac}\u{1F600}</a>".as_bytes(), SHA1, &l).unwrap();
        let text: Vec<u16> = "<a b=\"\u{e9}\">\u{20ac}\u{1F600}</a>"
            .encode_utf16()
            .collect();
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for u in &text {
            le.extend_from_slice(&u.to_le_bytes());
            be.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(digest_document(&le, SHA1, &l).unwrap(), utf8);
        assert_eq!(digest_document(&be, SHA1, &l).unwrap(), utf8);
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend_from_slice("<a b=\"\u{e9}\">\u{20ac}\u{1F600}</a>".as_bytes());
        assert_eq!(digest_document(&bom8, SHA1, &l).unwrap(), utf8);

        // UTF-16 with an XML declaration and without a byte order mark.
        let decl: Vec<u8> = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(
            hex(&digest_document(&decl, SHA1, &l).unwrap()),
            "b9c490a48d4fe6e6b232e2e23b230085499844dd"
        );

        // ISO-8859-1: the byte E9 is "é".
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xE9</a>";
        assert_eq!(
            digest_document(latin1, SHA1, &l).unwrap(),
            digest_document("<a>\u{e9}</a>".as_bytes(), SHA1, &l).unwrap()
        );

        for bad in [
            &b"<a>\xE9</a>"[..],
            b"<?xml version=\"1.0\" encoding=\"bogus\"?><a/>",
            b"<?xml version=\"1.0\" encoding=\"US-ASCII\"?><a>\xC3\xA9</a>",
            b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>",
            b"\xFF\xFE<\x00a\x00/\x00>",
            b"\xFF\xFE\x00\xD8<\x00",
        ] {
            assert!(digest_document(bad, SHA1, &l).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entity_declarations_are_refused() {
        let l = Limits::default();
        for xml in [
            r#"<!DOCTYPE doc [<!ENTITY e "x">]><doc>&e;</doc>"#,
            r#"<!DOCTYPE doc [<!ENTITY e "x">]><doc/>"#,
            r#"<!DOCTYPE doc [ <!ELEMENT doc ANY> <!ENTITY % p "x"> ]><doc/>"#,
            r#"<!DOCTYPE doc [ %p; ]><doc/>"#,
            r#"<!DOCTYPE doc SYSTEM "doc.dtd" [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><doc>&lol2;</doc>"#,
        ] {
            assert!(
                matches!(
                    digest_document(xml.as_bytes(), SHA1, &l),
                    Err(DomHashError::EntityDeclaration { .. })
                ),
                "{xml}"
            );
        }
        // Entities that were never declared (expat would skip them behind an external DTD).
        assert!(matches!(
            digest_document(
                br#"<!DOCTYPE doc SYSTEM "doc.dtd"><doc>&nbsp;</doc>"#,
                SHA1,
                &l
            ),
            Err(DomHashError::UndeclaredEntity { .. })
        ));
        assert!(matches!(
            digest_document(br#"<doc a="&nbsp;"/>"#, SHA1, &l),
            Err(DomHashError::UndeclaredEntity { .. })
        ));
        // A defaulted namespace declaration would change names without appearing in the tag.
        assert!(matches!(
            digest_document(
                br#"<!DOCTYPE a [<!ATTLIST a xmlns CDATA #FIXED "u">]><a/>"#,
                SHA1,
                &l
            ),
            Err(DomHashError::UnsupportedDtd { .. })
        ));
        // Attribute defaults are not applied (domhash_ref.py agrees).
        assert_eq!(
            doc(r#"<!DOCTYPE a [<!ATTLIST a b CDATA "dflt">]><a/>"#, SHA1),
            "b9c490a48d4fe6e6b232e2e23b230085499844dd"
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        let l = Limits::default();
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b"<a>",
            b"<a><b></a>",
            b"<a></b>",
            b"</a>",
            b"<a/><b/>",
            b"text",
            b"<a/>x",
            b"<a/>&amp;",
            b"x<a/>",
            b"<a>]]></a>",
            b"<a b=\"<\"/>",
            b"<a b=c/>",
            b"<a b/>",
            b"<a b=\"1\"c=\"2\"/>",
            b"<a b=\"1\" b=\"2\"/>",
            b"<a xmlns:x=\"u\" xmlns:y=\"u\" x:b=\"1\" y:b=\"2\"/>",
            b"<a xmlns=\"u\" xmlns=\"v\"/>",
            b"<p:a/>",
            b"<a p:b=\"1\"/>",
            b"<xmlns:a/>",
            b"<a xmlns:p=\"\"/>",
            b"<a xmlns:xml=\"foo\"/>",
            b"<a xmlns:xmlns=\"u\"/>",
            b"<a xmlns:p=\"http://www.w3.org/XML/1998/namespace\"/>",
            b"<a xmlns=\"http://www.w3.org/2000/xmlns/\"/>",
            b"<a>&#0;</a>",
            b"<a>&#xD800;</a>",
            b"<a>&#xFFFE;</a>",
            b"<a>&#x110000;</a>",
            b"<a>&#X41;</a>",
            b"<a>&#;</a>",
            b"<a>&#x;</a>",
            b"<a>& b</a>",
            b"<a b=\"&#1;\"/>",
            b"<a b=\"&amp\"/>",
            b"<a>\x01</a>",
            b"<a>\xEF\xBF\xBE</a>",
            b"<a>\xFF</a>",
            b"<1a/>",
            b"<a 1b=\"x\"/>",
            b"<:a/>",
            b"<a:/>",
            b"<a:b:c xmlns:a=\"u\"/>",
            b"< a/>",
            b"<a/ >",
            b" <?xml version=\"1.0\"?><a/>",
            b"<!--c--><?xml version=\"1.0\"?><a/>",
            b"<a><?xml version=\"1.0\"?></a>",
            b"<?xml version=\"1.0\" standalone=\"maybe\"?><a/>",
            b"<?xml encoding=\"UTF-8\" version=\"1.0\"?><a/>",
            b"<?xml?><a/>",
            b"<?XML x?><a/>",
            b"<a><?a:b x?></a>",
            b"<a><? pi?></a>",
            b"<a><!-- a -- b --></a>",
            b"<a><!--x---></a>",
            b"<a><![CDATA[x</a>",
            b"<a/><!DOCTYPE a>",
            b"<!DOCTYPE a><!DOCTYPE a><a/>",
            b"<!doctype a><a/>",
            b"<!DOCTYPE a [<!BOGUS>]><a/>",
            b"<!DOCTYPE a [<!-- x ]><a/>",
            b"<!DOCTYPE a SYSTEM><a/>",
            b"<!DOCTYPE><a/>",
            b"<!DOCTYPE a>",
            b"<!--only a comment-->",
            b"<a/><![CDATA[]]>",
        ];
        for &xml in cases {
            let r = digest_document(xml, SHA1, &l);
            assert!(r.is_err(), "accepted {:?}", String::from_utf8_lossy(xml));
            assert!(digest_root_element(xml, SHA1, &l).is_err());
            assert!(digest_element_by_id(xml, "x", SHA1, &l).is_err());
        }
        assert_eq!(
            digest_document(b"<!-- c -->", SHA1, &l),
            Err(DomHashError::NoRoot)
        );
    }

    #[test]
    fn well_formed_edge_cases_are_accepted() {
        let l = Limits::default();
        for xml in [
            "<?xml version=\"1.0\"?><a/>",
            "<?xml version='1.0' encoding='utf-8' standalone='yes' ?><a/>",
            "<?xml-stylesheet href=\"x\"?><a/>",
            "<a></a >",
            "<a\tb='1'\n/>",
            "<a b = \"1\" />",
            "<a b='\"'/>",
            "<a b=\">\"/>",
            "<xml:a/>",
            "<a xmlns:xml=\"http://www.w3.org/XML/1998/namespace\"/>",
            "<a xmlns=\"u\"><b xmlns=\"\"/></a>",
            "<a xmlnsfoo=\"x\"/>",
            "<!DOCTYPE a PUBLIC \"-//X//Y\" \"a.dtd\" [ <!ELEMENT a (#PCDATA)> <?pi x?> <!NOTATION n SYSTEM \"n\"> <!ATTLIST a b (x|y) 'x' c NOTATION (n) #IMPLIED> ]>\n<a/>",
            "<a>&#0065;&#x0041;\u{85}\u{7F}</a>",
        ] {
            assert!(digest_document(xml.as_bytes(), SHA1, &l).is_ok(), "{xml}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let base = Limits::default();
        let small = Limits {
            max_message_bytes: 10,
            ..base.clone()
        };
        assert!(matches!(
            digest_document(b"<abcdefgh/>", SHA1, &small),
            Err(DomHashError::TooLarge {
                size: 11,
                limit: 10
            })
        ));
        assert!(digest_document(b"<abcdefg/>", SHA1, &small).is_ok());

        let shallow = Limits {
            max_depth: 2,
            ..base.clone()
        };
        assert!(digest_document(b"<a><b/></a>", SHA1, &shallow).is_ok());
        assert!(matches!(
            digest_document(b"<a><b><c/></b></a>", SHA1, &shallow),
            Err(DomHashError::TooDeep { limit: 2, .. })
        ));
        // Deep input fails fast rather than overflowing anything.
        let deep = "<a>".repeat(100_000);
        assert!(matches!(
            digest_document(deep.as_bytes(), SHA1, &base),
            Err(DomHashError::TooDeep { .. })
        ));

        let few = Limits {
            max_attributes: 2,
            ..base.clone()
        };
        assert!(digest_document(b"<a x='1' y='2'/>", SHA1, &few).is_ok());
        assert!(matches!(
            digest_document(b"<a x='1' y='2' z='3'/>", SHA1, &few),
            Err(DomHashError::TooManyAttributes { limit: 2, .. })
        ));

        let short = Limits {
            max_text_bytes: 4,
            ..base
        };
        assert!(digest_document(b"<a b='1234'>1234</a>", SHA1, &short).is_ok());
        for xml in [
            &b"<a>12345</a>"[..],
            b"<a>12<![CDATA[34]]>&amp;</a>",
            b"<a b='12345'/>",
            b"<a><?pi 12345?></a>",
        ] {
            assert!(
                matches!(
                    digest_document(xml, SHA1, &short),
                    Err(DomHashError::TextTooLong { limit: 4, .. })
                ),
                "{xml:?}"
            );
        }
    }

    #[test]
    fn never_panics_on_mutations() {
        let l = Limits::default();
        let seeds: Vec<&[u8]> = vec![
            PING_XML.as_bytes(),
            REF_VECTORS[0].1.as_bytes(),
            REF_VECTORS[7].1.as_bytes(),
            REF_VECTORS[14].1.as_bytes(),
        ];
        let replacements = [
            b'<', b'>', b'&', b'"', b'/', b':', b';', b'#', b'x', 0, 0xC3, 0xFF,
        ];
        for seed in seeds {
            for cut in 0..seed.len() {
                let _ = digest_document(&seed[..cut], SHA1, &l);
                let _ = digest_element_by_id(&seed[cut..], "I1.5", SHA1, &l);
            }
            for i in 0..seed.len() {
                for &r in &replacements {
                    let mut m = seed.to_vec();
                    m[i] = r;
                    let _ = digest_document(&m, SHA1, &l);
                }
            }
        }
    }
}
