//! The bounded reader: input preparation (size, encoding, characters), a cursor over quick-xml
//! events that expands only the XML built-in references, and attribute-value normalisation.
//!
//! No DTD is processed: a DOCTYPE without an internal subset (as in §3.2.1) is tolerated, an
//! internal subset that declares entities is refused, and any reference other than the five
//! built-ins and character references is an error. So an entity bomb or an external entity can
//! never expand.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};

use super::{ASCII_NAME, Limits, is_name, same_name};

/// Why a document could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// The document is larger than [`Limits::max_message_bytes`].
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The bytes are not in a supported encoding (UTF-8 or UTF-16).
    #[error("encoding error: {0}")]
    Encoding(String),
    /// The document is not well-formed XML.
    #[error("not well-formed XML at byte {offset}: {reason}")]
    NotWellFormed {
        /// Byte offset in the (UTF-8) document.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The DOCTYPE declares entities; they are never expanded.
    #[error("DOCTYPE internal subset declares entities, which are refused")]
    EntityDeclaration {
        /// Byte offset of the DOCTYPE.
        offset: usize,
    },
    /// Elements nest deeper than [`Limits::max_depth`].
    #[error("elements nest deeper than {limit}")]
    TooDeep {
        /// Byte offset of the element.
        offset: usize,
        /// The limit in force.
        limit: usize,
    },
    /// An element has more attributes than [`Limits::max_attributes`].
    #[error("element has more than {limit} attributes")]
    TooManyAttributes {
        /// Byte offset of the element.
        offset: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A text node or attribute value is longer than [`Limits::max_text_bytes`].
    #[error("text longer than {limit} bytes")]
    TextTooLong {
        /// Byte offset of the text.
        offset: usize,
        /// The limit in force.
        limit: usize,
    },
}

impl SyntaxError {
    /// Byte offset in the UTF-8 document, when known.
    pub fn offset(&self) -> Option<usize> {
        match self {
            SyntaxError::TooLarge { .. } | SyntaxError::Encoding(_) => None,
            SyntaxError::NotWellFormed { offset, .. }
            | SyntaxError::EntityDeclaration { offset }
            | SyntaxError::TooDeep { offset, .. }
            | SyntaxError::TooManyAttributes { offset, .. }
            | SyntaxError::TextTooLong { offset, .. } => Some(*offset),
        }
    }

    fn at(offset: usize, reason: impl Into<String>) -> Self {
        SyntaxError::NotWellFormed {
            offset,
            reason: reason.into(),
        }
    }
}

/// Whether `forbidden` holds for any byte of `bytes`. The chunks are arrays of 64 bytes, so
/// that the check of each is unrolled into vector instructions without bounds or length checks
/// (with slices of unknown length it took about 1.3 instructions per byte); the rest is checked
/// as one more chunk, padded with spaces.
fn has_forbidden(bytes: &[u8], forbidden: impl Fn(u8) -> bool) -> bool {
    let any = |c: &[u8; 64]| c.iter().fold(0u8, |acc, &b| acc | u8::from(forbidden(b))) != 0;
    let (chunks, rest) = bytes.as_chunks::<64>();
    let mut last = [b' '; 64];
    last[..rest.len()].copy_from_slice(rest);
    chunks.iter().any(any) || any(&last)
}

/// Two necessary conditions for the exact checks of [`prepare`], in one pass: whether a byte
/// below 0x20 other than a line feed occurs (a character XML forbids is one; so are a tab and a
/// carriage return), and the largest byte (U+FFFE and U+FFFF start with 0xEF). A usual document
/// (line feeds only, ASCII) thus skips both exact checks. Per lane, the minimum of
/// `(b ^ 0x0A) - 1` (wrapping) is below 0x1F exactly when such a byte occurred: the line feed
/// becomes 0xFF, the other bytes below 0x20 become 0 to 0x1E, the rest 0x1F or more. About 0.35
/// instructions per byte.
fn byte_range(bytes: &[u8]) -> (bool, u8) {
    // Lane-wise over arrays of 64 bytes: four vector registers each, neither blends nor copies.
    #[inline(always)]
    fn step(lo: &mut [u8; 64], hi: &mut [u8; 64], chunk: &[u8; 64]) {
        for j in 0..64 {
            let b = chunk[j];
            hi[j] = hi[j].max(b);
            lo[j] = lo[j].min((b ^ b'\n').wrapping_sub(1));
        }
    }
    let (chunks, rest) = bytes.as_chunks::<64>();
    let mut lo = [0xFF; 64];
    let mut hi = [0; 64];
    for chunk in chunks {
        step(&mut lo, &mut hi, chunk);
    }
    let mut last = [b' '; 64];
    last[..rest.len()].copy_from_slice(rest);
    step(&mut lo, &mut hi, &last);
    (
        lo.iter().fold(0xFF, |acc, &b| acc.min(b)) < 0x1F,
        hi.iter().fold(0, |acc, &b| acc.max(b)),
    )
}

/// Checks the size, detects UTF-16 (by BOM or by the first characters) and transcodes it,
/// validates UTF-8 and refuses characters XML 1.0 forbids.
pub(crate) fn prepare<'a>(input: &'a [u8], limits: &Limits) -> Result<Cow<'a, str>, SyntaxError> {
    if input.len() > limits.max_message_bytes {
        return Err(SyntaxError::TooLarge {
            size: input.len(),
            limit: limits.max_message_bytes,
        });
    }
    let text: Cow<'a, str> = match input {
        [0xFF, 0xFE, rest @ ..] => Cow::Owned(utf16(rest, u16::from_le_bytes)?),
        [0xFE, 0xFF, rest @ ..] => Cow::Owned(utf16(rest, u16::from_be_bytes)?),
        [b'<', 0, b'?', 0, ..] => Cow::Owned(utf16(input, u16::from_le_bytes)?),
        [0, b'<', 0, b'?', ..] => Cow::Owned(utf16(input, u16::from_be_bytes)?),
        _ => {
            let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
            Cow::Borrowed(std::str::from_utf8(body).map_err(|e| {
                SyntaxError::Encoding(format!(
                    "not UTF-8 or UTF-16 (invalid byte at {})",
                    e.valid_up_to()
                ))
            })?)
        }
    };
    let bytes = text.as_bytes();
    // Branch-free per chunk so that the scans vectorise; the exact checks run only when the
    // byte range allows a problem (a tab, a carriage return or a non-ASCII byte), and the
    // position is looked up only when something is wrong.
    let (controls, hi) = byte_range(bytes);
    if controls && has_forbidden(bytes, forbidden) {
        check_controls(bytes)?;
    }
    if hi >= 0xEF && memchr::memchr(0xEF, bytes).is_some() {
        check_noncharacters(bytes)?;
    }
    Ok(text)
}

/// The control characters XML 1.0 forbids (all below 0x20 but tab, line feed and carriage
/// return).
fn forbidden(b: u8) -> bool {
    b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r'
}

/// The exact check for [`forbidden`] characters, with the first one's position.
fn check_controls(bytes: &[u8]) -> Result<(), SyntaxError> {
    match bytes.iter().position(|&b| forbidden(b)) {
        Some(pos) => Err(SyntaxError::at(
            pos,
            format!("character U+{:04X} is not allowed in XML", bytes[pos]),
        )),
        None => Ok(()),
    }
}

/// The exact check for U+FFFE and U+FFFF, with the first one's position.
fn check_noncharacters(bytes: &[u8]) -> Result<(), SyntaxError> {
    for bad in [&b"\xEF\xBF\xBE"[..], &b"\xEF\xBF\xBF"[..]] {
        if let Some(pos) = memchr::memmem::find(bytes, bad) {
            return Err(SyntaxError::at(
                pos,
                "character U+FFFE/U+FFFF is not allowed in XML",
            ));
        }
    }
    Ok(())
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, SyntaxError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(SyntaxError::Encoding(
            "UTF-16 input has an odd length".into(),
        ));
    }
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|e| SyntaxError::Encoding(format!("invalid UTF-16: {e}")))
}

/// Normalises an attribute value as XML 1.0 §3.3.3 requires for CDATA attributes: literal
/// whitespace characters become spaces, references are expanded (built-ins and character
/// references only).
pub(crate) fn normalize_attribute(raw: &str, offset: usize) -> Result<Cow<'_, str>, SyntaxError> {
    // Branch-free per chunk so that the scan vectorises.
    let special = |b: u8| matches!(b, b'&' | b'<' | b'\t' | b'\n' | b'\r');
    if !raw
        .as_bytes()
        .chunks(16)
        .any(|c| c.iter().fold(false, |acc, &b| acc | special(b)))
    {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '<', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        match rest.as_bytes()[i] {
            b'<' => return Err(SyntaxError::at(offset, "'<' in an attribute value")),
            b'&' => {
                let end = rest[i..]
                    .find(';')
                    .ok_or_else(|| SyntaxError::at(offset, "'&' not starting a reference"))?;
                out.push(resolve_reference(&rest[i + 1..i + end], offset)?);
                rest = &rest[i + end + 1..];
                continue;
            }
            b'\r' if rest.as_bytes().get(i + 1) == Some(&b'\n') => {
                out.push(' ');
                rest = &rest[i + 2..];
                continue;
            }
            _ => out.push(' '),
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The character a reference (`lt`, `#38`, `#x26`, ...) stands for.
fn resolve_reference(name: &str, offset: usize) -> Result<char, SyntaxError> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x") {
                u32::from_str_radix(hex, 16).ok()
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse::<u32>().ok()
            } else {
                return Err(SyntaxError::at(
                    offset,
                    if is_name(name) {
                        format!("undefined entity '&{name};' (only the XML built-ins are allowed)")
                    } else {
                        "'&' not starting a reference".to_owned()
                    },
                ));
            };
            code.and_then(char::from_u32)
                .filter(|&c| is_xml_char(c))
                .ok_or_else(|| {
                    SyntaxError::at(offset, format!("invalid character reference '&{name};'"))
                })?
        }
    };
    Ok(c)
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Re-borrows a slice quick-xml handed out as a sub-slice of `src`, with `src`'s lifetime.
fn reslice<'a>(src: &'a str, part: &str) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(src.as_ptr() as usize)?;
    src.get(start..start.checked_add(part.len())?)
}

/// A start tag (or empty-element tag) as the cursor reports it.
#[derive(Debug)]
pub(crate) struct Tag<'a> {
    /// Qualified name as written.
    pub name: &'a str,
    /// True for `<x/>`: no children and no end tag follow.
    pub empty: bool,
    /// Byte offset of the `<`.
    pub offset: usize,
    raw: BytesStart<'a>,
}

/// One unit of content.
#[derive(Debug)]
pub(crate) enum Item<'a> {
    /// A child element starts.
    Start(Tag<'a>),
    /// Character data: text, a CDATA section, or an expanded reference.
    Text(Cow<'a, str>),
    /// The current element ends.
    End,
    /// The document ends (after the root element).
    Eof,
}

/// A cursor over the document's content items, enforcing the limits and XML's rules that
/// quick-xml leaves to its caller.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    reader: quick_xml::Reader<&'a [u8]>,
    src: &'a str,
    limits: Limits,
    depth: usize,
    root_seen: bool,
    /// Byte offset where the last item began.
    pub offset: usize,
    /// Set for the fast tokenizer (see [`Cursor::new_fast`]).
    fast: Option<Fast<'a>>,
}

/// The state of the fast tokenizer.
#[derive(Debug, Default)]
struct Fast<'a> {
    /// Where the next item begins.
    pos: usize,
    /// The names of the open elements, for the end tags.
    open: Vec<&'a str>,
    /// The `name="value"` pairs of the last start tag, found while looking for its end (names
    /// unchecked, values plain), and that tag's offset: see [`Cursor::attributes_into`].
    spans: Vec<(&'a str, &'a str)>,
    spans_of: Option<usize>,
    /// Set when the document has something the tokenizer leaves to quick-xml.
    bailed: bool,
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a str, limits: &Limits) -> Self {
        let mut reader = quick_xml::Reader::from_str(src);
        let config = reader.config_mut();
        config.check_comments = true;
        config.check_end_names = true;
        config.trim_text(false);
        Cursor {
            reader,
            src,
            limits: limits.clone(),
            depth: 0,
            root_seen: false,
            offset: 0,
            fast: None,
        }
    }

    /// A cursor with a tokenizer of its own for the usual shape of a document (an XML
    /// declaration, elements, `name="value"` attributes, text with the built-in and character
    /// references), which gives exactly the items quick-xml's events give. At anything else
    /// (comments, other references, CDATA, a DOCTYPE, any error or limit) it stops with an error
    /// and [`bailed`](Self::bailed) is
    /// set: the caller then reads the document again with [`new`](Self::new).
    pub fn new_fast(src: &'a str, limits: &Limits) -> Self {
        Cursor {
            fast: Some(Fast {
                open: Vec::with_capacity(16),
                spans: Vec::with_capacity(16),
                ..Fast::default()
            }),
            ..Cursor::new(src, limits)
        }
    }

    /// True when the fast tokenizer gave up on the document (its error means nothing).
    pub fn bailed(&self) -> bool {
        self.fast.as_ref().is_some_and(|f| f.bailed)
    }

    /// The next content item; comments and processing instructions are skipped, the prolog is
    /// checked.
    pub fn next_item(&mut self) -> Result<Item<'a>, SyntaxError> {
        self.next(false)
    }

    /// [`next_item`](Self::next_item), but character data that is only whitespace is skipped
    /// (for element content, where it means nothing). The errors are those `next_item` gives.
    pub fn next_non_space(&mut self) -> Result<Item<'a>, SyntaxError> {
        self.next(true)
    }

    fn next(&mut self, skip_space: bool) -> Result<Item<'a>, SyntaxError> {
        if let Some(fast) = &mut self.fast {
            let src = self.src;
            let limits = &self.limits;
            return fast_next(
                fast,
                src,
                limits,
                &mut self.depth,
                &mut self.root_seen,
                &mut self.offset,
                skip_space,
            )
            .ok_or_else(|| {
                fast.bailed = true;
                SyntaxError::at(fast.pos, "left to the checked reader")
            });
        }
        loop {
            match self.next_checked()? {
                Item::Text(t) if skip_space && t.bytes().all(|b| b.is_ascii_whitespace()) => {}
                item => return Ok(item),
            }
        }
    }

    /// The next item read with quick-xml.
    fn next_checked(&mut self) -> Result<Item<'a>, SyntaxError> {
        loop {
            let start = self.reader.buffer_position() as usize;
            self.offset = start;
            let event = self.reader.read_event().map_err(|e| {
                SyntaxError::at(self.reader.error_position() as usize, e.to_string())
            })?;
            match event {
                Event::Start(raw) | Event::Empty(raw) if self.depth == 0 && self.root_seen => {
                    let _ = raw;
                    return Err(SyntaxError::at(start, "content after the root element"));
                }
                Event::Start(raw) => {
                    self.depth += 1;
                    if self.depth > self.limits.max_depth {
                        return Err(SyntaxError::TooDeep {
                            offset: start,
                            limit: self.limits.max_depth,
                        });
                    }
                    self.root_seen = true;
                    return self.tag(raw, false, start).map(Item::Start);
                }
                Event::Empty(raw) => {
                    if self.depth + 1 > self.limits.max_depth {
                        return Err(SyntaxError::TooDeep {
                            offset: start,
                            limit: self.limits.max_depth,
                        });
                    }
                    self.root_seen = true;
                    return self.tag(raw, true, start).map(Item::Start);
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(Item::End);
                }
                Event::Text(text) => {
                    let raw = reslice(self.src, &text).unwrap_or_default();
                    if self.depth == 0 {
                        if raw.bytes().all(|b| b.is_ascii_whitespace()) {
                            continue;
                        }
                        return Err(SyntaxError::at(start, "text outside the root element"));
                    }
                    self.check_len(raw.len(), start)?;
                    return Ok(Item::Text(normalize_newlines(raw)));
                }
                Event::CData(data) => {
                    if self.depth == 0 {
                        return Err(SyntaxError::at(start, "CDATA outside the root element"));
                    }
                    let raw = reslice(self.src, &data).unwrap_or_default();
                    self.check_len(raw.len(), start)?;
                    return Ok(Item::Text(normalize_newlines(raw)));
                }
                Event::GeneralRef(r) => {
                    if self.depth == 0 {
                        return Err(SyntaxError::at(start, "reference outside the root element"));
                    }
                    let name = reslice(self.src, &r).unwrap_or_default();
                    // The five built-ins need no allocation.
                    let text = match name {
                        "lt" => Cow::Borrowed("<"),
                        "gt" => Cow::Borrowed(">"),
                        "amp" => Cow::Borrowed("&"),
                        "apos" => Cow::Borrowed("'"),
                        "quot" => Cow::Borrowed("\""),
                        _ => Cow::Owned(resolve_reference(name, start)?.to_string()),
                    };
                    return Ok(Item::Text(text));
                }
                Event::Comment(_) => continue,
                Event::PI(pi) => {
                    let target = pi.target();
                    if target.eq_ignore_ascii_case("xml") {
                        return Err(SyntaxError::at(
                            start,
                            "the XML declaration must be lower-case `<?xml` and come first",
                        ));
                    }
                    continue;
                }
                Event::Decl(_) => {
                    if start != 0 {
                        return Err(SyntaxError::at(start, "XML declaration not at the start"));
                    }
                    continue;
                }
                Event::DocType(doctype) => {
                    if self.root_seen {
                        return Err(SyntaxError::at(start, "DOCTYPE after the root element"));
                    }
                    let body = reslice(self.src, &doctype).unwrap_or_default();
                    if let Some(subset) = body.find('[').map(|i| &body[i..])
                        && subset.contains("<!ENTITY")
                    {
                        return Err(SyntaxError::EntityDeclaration { offset: start });
                    }
                    continue;
                }
                Event::Eof => {
                    if self.depth > 0 {
                        return Err(SyntaxError::at(start, "document ends inside an element"));
                    }
                    if !self.root_seen {
                        return Err(SyntaxError::at(start, "no root element"));
                    }
                    return Ok(Item::Eof);
                }
            }
        }
    }

    fn check_len(&self, len: usize, offset: usize) -> Result<(), SyntaxError> {
        if len > self.limits.max_text_bytes {
            return Err(SyntaxError::TextTooLong {
                offset,
                limit: self.limits.max_text_bytes,
            });
        }
        Ok(())
    }

    fn tag(&self, raw: BytesStart<'a>, empty: bool, offset: usize) -> Result<Tag<'a>, SyntaxError> {
        let name = reslice(self.src, raw.name().as_ref()).unwrap_or_default();
        if !is_name(name) {
            return Err(SyntaxError::at(
                offset,
                format!("invalid element name '{name}'"),
            ));
        }
        Ok(Tag {
            name,
            empty,
            offset,
            raw,
        })
    }

    /// The tag's attributes, in document order, values normalised; duplicates, malformed
    /// attributes and too many attributes are errors.
    pub fn attributes(
        &mut self,
        tag: &Tag<'a>,
        out: &mut Vec<(&'a str, Cow<'a, str>)>,
    ) -> Result<(), SyntaxError> {
        if self.attributes_spanned(tag, out) || self.attributes_fast(tag, out) {
            return Ok(());
        }
        self.attributes_checked(tag, out)
    }

    /// [`attributes`](Self::attributes) from the `name="value"` pairs the fast tokenizer found
    /// while looking for the tag's end (values plain): only the names (ASCII XML Names, as
    /// [`scan_attributes`] takes them), duplicates and limits are left to check. False when
    /// there are no such pairs for `tag` or at anything else, for the next path to read.
    fn attributes_spanned(&self, tag: &Tag<'a>, out: &mut Vec<(&'a str, Cow<'a, str>)>) -> bool {
        out.clear();
        let Some(fast) = self
            .fast
            .as_ref()
            .filter(|f| f.spans_of == Some(tag.offset))
        else {
            return false;
        };
        if fast.spans.len() > self.limits.max_attributes {
            return false;
        }
        for &(name, value) in &fast.spans {
            let ascii_name = name.as_bytes().split_first().is_some_and(|(first, rest)| {
                ASCII_NAME[usize::from(*first)] & 2 != 0
                    && rest.iter().all(|&c| ASCII_NAME[usize::from(c)] != 0)
            });
            if !ascii_name
                || value.len() > self.limits.max_text_bytes
                || out.iter().any(|(n, _)| same_name(n, name))
            {
                return false;
            }
            out.push((name, Cow::Borrowed(value)));
        }
        true
    }

    /// The attributes of `tag` straight into slots by name, for the usual tag: every attribute
    /// one of `names`, written `name="value"` (either quote, whitespace before each), with a
    /// value that needs no normalisation. `names[k]` fills `slots[k]`; the value of `ID` also
    /// goes to `id`. False for anything else (with the slots and `id` in any state), for
    /// [`attributes`](Self::attributes) to read: what this accepts, that reads the same way.
    pub fn attributes_into(
        &self,
        tag: &Tag<'a>,
        names: &[&str],
        slots: &mut [Option<Cow<'a, str>>],
        id: &mut Option<Cow<'a, str>>,
    ) -> bool {
        if let Some(fast) = &self.fast
            && fast.spans_of == Some(tag.offset)
        {
            // The pairs the tokenizer found: only the names are left to check.
            if fast.spans.len() > self.limits.max_attributes {
                return false;
            }
            let mut next = 0;
            for &(name, value) in &fast.spans {
                let k = match names.get(next) {
                    Some(n) if same_name(n, name) => next,
                    _ => match names.iter().position(|n| same_name(n, name)) {
                        Some(k) => k,
                        None => return false,
                    },
                };
                if value.len() > self.limits.max_text_bytes || slots[k].is_some() {
                    return false;
                }
                if same_name(name, "ID") {
                    *id = Some(Cow::Borrowed(value));
                }
                slots[k] = Some(Cow::Borrowed(value));
                next = k + 1;
            }
            return true;
        }
        let Some(s) = reslice(self.src, tag.raw.attributes_raw()) else {
            return false;
        };
        let b = s.as_bytes();
        let (mut i, mut next, mut count) = (0, 0, 0);
        loop {
            while i < b.len() && matches!(b[i], b' ' | b'\r' | b'\n' | b'\t') {
                i += 1;
            }
            if i == b.len() {
                return true;
            }
            // The name: up to the `=`, and one of `names` (so an ASCII XML Name, as
            // `scan_attributes` requires). Attributes usually come in the DTD's order: the name
            // after the last one found is tried first.
            let Some(eq) = find_byte(&b[i..], b'=').map(|n| i + n) else {
                return false;
            };
            let name = &s[i..eq];
            let k = match names.get(next) {
                Some(n) if same_name(n, name) => next,
                _ => match names.iter().position(|n| same_name(n, name)) {
                    Some(k) => k,
                    None => return false,
                },
            };
            let quote = match b.get(eq + 1) {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => return false,
            };
            let start = eq + 2;
            let Some((len, true)) = scan_value(&b[start..], quote) else {
                return false;
            };
            count += 1;
            if count > self.limits.max_attributes
                || len > self.limits.max_text_bytes
                || slots[k].is_some()
            {
                return false;
            }
            let value = &s[start..start + len];
            if same_name(name, "ID") {
                *id = Some(Cow::Borrowed(value));
            }
            slots[k] = Some(Cow::Borrowed(value));
            next = k + 1;
            i = start + len + 1;
        }
    }

    /// The common case of [`attributes`](Self::attributes) without quick-xml's attribute
    /// iterator: `name="value"` pairs (either quote) that are all well-formed, distinct and
    /// within the limits. It follows quick-xml's own splitting of the tag, and gives up (false)
    /// at the first thing that would be an error or that it does not handle (whitespace around
    /// `=`, say), so that the checked path then produces exactly the same result or error.
    fn attributes_fast(&self, tag: &Tag<'a>, out: &mut Vec<(&'a str, Cow<'a, str>)>) -> bool {
        out.clear();
        let Some(s) = reslice(self.src, tag.raw.attributes_raw()) else {
            return false;
        };
        scan_attributes(s, 0, tag.offset, &self.limits, out) == Some(s.len())
    }

    fn attributes_checked(
        &self,
        tag: &Tag<'a>,
        out: &mut Vec<(&'a str, Cow<'a, str>)>,
    ) -> Result<(), SyntaxError> {
        out.clear();
        for attr in tag.raw.attributes() {
            let attr = attr.map_err(|e| SyntaxError::at(tag.offset, e.to_string()))?;
            if out.len() == self.limits.max_attributes {
                return Err(SyntaxError::TooManyAttributes {
                    offset: tag.offset,
                    limit: self.limits.max_attributes,
                });
            }
            let name = reslice(self.src, attr.key.as_ref()).unwrap_or_default();
            if !is_name(name) {
                return Err(SyntaxError::at(
                    tag.offset,
                    format!("invalid attribute name '{name}'"),
                ));
            }
            let raw = reslice(self.src, &attr.value).unwrap_or_default();
            self.check_len(raw.len(), tag.offset)?;
            out.push((name, normalize_attribute(raw, tag.offset)?));
        }
        Ok(())
    }

    /// Skips the rest of the current element (after its start tag was read).
    pub fn skip_element(&mut self, tag: &Tag<'a>) -> Result<(), SyntaxError> {
        if tag.empty {
            return Ok(());
        }
        let target = self.depth - 1;
        while self.depth > target {
            if let Item::Eof = self.next_non_space()? {
                break;
            }
        }
        Ok(())
    }
}

/// Reads `name="value"` pairs (either quote, whitespace before each) of `s` from `i` into
/// `out`, up to the end of `s` or a `>` or `/` where a name would start; returns where it
/// stopped. None at the first thing that would be an error or that it does not handle
/// (whitespace around `=`, a name that is not ASCII, a duplicate, a limit, a reference that does
/// not resolve), for the checked path to deal with.
fn scan_attributes<'a>(
    s: &'a str,
    mut i: usize,
    offset: usize,
    limits: &Limits,
    out: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> Option<usize> {
    let b = s.as_bytes();
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\r' | b'\n' | b'\t') {
            i += 1;
        }
        if i == b.len() || b[i] == b'>' || b[i] == b'/' {
            return Some(i);
        }
        // An ASCII XML Name directly followed by `=`: the same key as quick-xml's, which ends
        // at `=` or whitespace, neither of which is a name character, and already checked as a
        // Name.
        let key_start = i;
        if ASCII_NAME[b[i] as usize] & 2 == 0 {
            return None;
        }
        i += 1;
        i += b[i..]
            .iter()
            .position(|&c| ASCII_NAME[c as usize] == 0)
            .unwrap_or(b.len() - i);
        if i == b.len() || b[i] != b'=' {
            return None;
        }
        let name = &s[key_start..i];
        let quote = match b.get(i + 1) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return None,
        };
        let value_start = i + 2;
        let (len, plain) = scan_value(&b[value_start..], quote)?;
        let raw = &s[value_start..value_start + len];
        i = value_start + len + 1;
        if out.len() == limits.max_attributes
            || out.iter().any(|(n, _)| same_name(n, name))
            || raw.len() > limits.max_text_bytes
        {
            return None;
        }
        if plain {
            out.push((name, Cow::Borrowed(raw)));
            continue;
        }
        out.push((name, normalize_attribute(raw, offset).ok()?));
    }
}

/// The fast tokenizer's next item (see [`Cursor::new_fast`]), None where it gives up.
fn fast_next<'a>(
    fast: &mut Fast<'a>,
    src: &'a str,
    limits: &Limits,
    depth: &mut usize,
    root_seen: &mut bool,
    offset: &mut usize,
    skip_space: bool,
) -> Option<Item<'a>> {
    let b = src.as_bytes();
    loop {
        let p = fast.pos;
        *offset = p;
        if p == b.len() {
            return (*depth == 0 && *root_seen).then_some(Item::Eof);
        }
        if b[p] != b'<' {
            // Whitespace up to the next markup (the usual text between elements), when the
            // caller skips it: passed over without a search for the end of the text.
            if skip_space {
                let end = b[p..]
                    .iter()
                    .position(|&c| !matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
                    .map_or(b.len(), |i| p + i);
                if b.get(end) == Some(&b'<') && (*depth == 0 || end - p <= limits.max_text_bytes) {
                    fast.pos = end;
                    continue;
                }
            }
            if b[p] == b'&' {
                // A reference: quick-xml's GeneralRef event, expanded.
                if *depth == 0 {
                    return None;
                }
                let (text, len) = fast_reference(&b[p..])?;
                fast.pos = p + len;
                if skip_space && text.bytes().all(|c| c.is_ascii_whitespace()) {
                    continue;
                }
                return Some(Item::Text(text));
            }
            // Character data up to the next markup or reference.
            let end = memchr::memchr2(b'<', b'&', &b[p..]).map_or(b.len(), |i| p + i);
            fast.pos = end;
            let text = &src[p..end];
            if *depth == 0 {
                if text.bytes().all(|c| c.is_ascii_whitespace()) {
                    continue;
                }
                return None;
            }
            if text.len() > limits.max_text_bytes {
                return None;
            }
            if skip_space && text.bytes().all(|c| c.is_ascii_whitespace()) {
                continue;
            }
            return Some(Item::Text(normalize_newlines(text)));
        }
        match b.get(p + 1) {
            Some(b'/') => {
                // `</name>` closing the open element, nothing else.
                let name = fast.open.pop()?;
                let end = p + 2 + name.len();
                if !src.get(p + 2..end).is_some_and(|n| same_name(n, name))
                    || b.get(end) != Some(&b'>')
                {
                    return None;
                }
                fast.pos = end + 1;
                *depth -= 1;
                return Some(Item::End);
            }
            // The XML declaration, first in the document: quick-xml's Decl event, whose
            // content it does not check.
            Some(b'?')
                if p == 0
                    && b.len() > 5
                    && b.starts_with(b"<?xml")
                    && matches!(b[5], b' ' | b'\r' | b'\n' | b'\t') =>
            {
                // After the first `?>` from the third byte on (a `>` after a `?`: one memchr
                // where a memmem search costs hundreds of instructions to set up).
                fast.pos = memchr::memchr_iter(b'>', &b[3..]).find(|&i| b[i + 2] == b'?')? + 4;
                continue;
            }
            Some(_) => {}
            None => return None,
        }
        // A start tag: an ASCII name, then attributes up to `>` or `/>`.
        if *depth == 0 && *root_seen || *depth + 1 > limits.max_depth {
            return None;
        }
        if ASCII_NAME[b[p + 1] as usize] & 2 == 0 {
            return None;
        }
        let name_end = b[p + 1..]
            .iter()
            .position(|&c| ASCII_NAME[c as usize] == 0)
            .map(|i| p + 1 + i)?;
        if !matches!(b[name_end], b' ' | b'\r' | b'\n' | b'\t' | b'>' | b'/') {
            return None;
        }
        let name = &src[p + 1..name_end];
        // The end of the tag as quick-xml finds it: the first `>` outside quotes. With the name
        // ending at whitespace, `/` or `>`, quick-xml's name (up to the first whitespace or `/`)
        // is the same. The attributes are read when the element's decoder asks for them.
        fast.spans.clear();
        fast.spans_of = None;
        let (close, empty) = if b[name_end] == b'/' {
            if b.get(name_end + 1) != Some(&b'>') {
                return None;
            }
            (name_end + 1, true)
        } else {
            match scan_spans(src, name_end, &mut fast.spans).map(|i| (i, b.get(i))) {
                Some((i, Some(b'>'))) => {
                    fast.spans_of = Some(p);
                    (i, false)
                }
                Some((i, Some(b'/'))) if b.get(i + 1) == Some(&b'>') => {
                    fast.spans_of = Some(p);
                    (i + 1, true)
                }
                _ => {
                    let close = tag_end(&b[name_end..]).map(|i| name_end + i)?;
                    (close, b[close - 1] == b'/')
                }
            }
        };
        let content = &src[p + 1..if empty { close - 1 } else { close }];
        fast.pos = close + 1;
        *root_seen = true;
        if !empty {
            *depth += 1;
            fast.open.push(name);
        }
        return Some(Item::Start(Tag {
            name,
            empty,
            offset: p,
            raw: BytesStart::from_content(content, name.len()),
        }));
    }
}

/// The text of the reference at the start of `b` (`&` first) and its length, for the usual
/// references: the five built-ins and character references to XML characters, written
/// `&#N;` or `&#xH;` with at most eight digits. None for anything else (left to quick-xml).
fn fast_reference(b: &[u8]) -> Option<(Cow<'static, str>, usize)> {
    let semi = b.iter().take(12).position(|&c| c == b';')?;
    let text = match &b[1..semi] {
        b"lt" => "<",
        b"gt" => ">",
        b"amp" => "&",
        b"apos" => "'",
        b"quot" => "\"",
        [b'#', b'x', hex @ ..] if !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit) => {
            return char_reference(hex, 16).map(|c| (c, semi + 1));
        }
        [b'#', dec @ ..] if !dec.is_empty() && dec.iter().all(u8::is_ascii_digit) => {
            return char_reference(dec, 10).map(|c| (c, semi + 1));
        }
        _ => return None,
    };
    Some((Cow::Borrowed(text), semi + 1))
}

/// The character of a character reference's digits, when it is an XML character.
fn char_reference(digits: &[u8], radix: u32) -> Option<Cow<'static, str>> {
    let code = digits.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(radix)?
            .checked_add(char::from(d).to_digit(radix)?)
    })?;
    let c = char::from_u32(code).filter(|&c| is_xml_char(c))?;
    Some(Cow::Owned(c.to_string()))
}

/// Where quick-xml ends a start tag: the first `>` outside quotes.
pub(crate) fn tag_end(b: &[u8]) -> Option<usize> {
    let mut quote = None;
    for i in memchr::memchr3_iter(b'>', b'\'', b'"', b) {
        match (quote, b[i]) {
            (None, b'>') => return Some(i),
            (None, q) => quote = Some(q),
            (Some(q), c) if q == c => quote = None,
            _ => {}
        }
    }
    None
}

/// Finds the end of a start tag's attributes from `i` the way [`scan_attributes`] does, for the
/// usual tag: `name="value"` pairs (either quote, whitespace before each) with plain values,
/// up to a `>` or `/` where a name would start (where it returns). The pairs go to `out`, their
/// names unchecked (anything up to the `=` but the bytes [`tag_lane`] looks for). None at
/// anything else.
fn scan_spans<'a>(s: &'a str, mut i: usize, out: &mut Vec<(&'a str, &'a str)>) -> Option<usize> {
    let b = s.as_bytes();
    let mut bytes = TagBytes::at(b, i);
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\r' | b'\n' | b'\t') {
            i += 1;
        }
        let &first = b.get(i)?;
        if first == b'>' || first == b'/' {
            return Some(i);
        }
        let eq = bytes.next(i)?;
        let quote = match b.get(eq + 1) {
            Some(&q @ (b'"' | b'\'')) if b[eq] == b'=' => q,
            _ => return None,
        };
        let start = eq + 2;
        let Some((end, true)) = value_end(&mut bytes, start, quote) else {
            return None;
        };
        out.push((&s[i..eq], &s[start..end]));
        i = end + 1;
    }
}

/// Where the first byte of `b` that `lane` maps to zero is. `lane` is applied to arrays of 16
/// bytes lane by lane, which compiles to a few vector instructions per chunk (about 1.5
/// instructions per byte where the eight-byte SWAR masks took about 2.5); the rest is checked as
/// one more chunk, padded with spaces (which no caller looks for).
#[inline(always)]
fn find_first(b: &[u8], lane: impl Fn(u8) -> u8) -> Option<usize> {
    let (chunks, rest) = b.as_chunks::<16>();
    for (n, chunk) in chunks.iter().enumerate() {
        if let Some(k) = first_zero(chunk, &lane) {
            return Some(n * 16 + k);
        }
    }
    let mut last = [b' '; 16];
    last[..rest.len()].copy_from_slice(rest);
    first_zero(&last, &lane)
        .filter(|&k| k < rest.len())
        .map(|k| chunks.len() * 16 + k)
}

/// The first lane of `chunk` that `lane` maps to zero.
#[inline(always)]
fn first_zero(chunk: &[u8; 16], lane: &impl Fn(u8) -> u8) -> Option<usize> {
    let flags = zero_flags(chunk, lane);
    (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize)
}

/// One byte per lane of `chunk`, 0xFF where `lane` is zero, 0 elsewhere. Whole bytes and `lane`
/// a function, not a closure, for the loop to become one vector compare (with 0 or 1 flags or a
/// closure it stayed byte by byte).
#[inline(always)]
fn zero_flags(chunk: &[u8; 16], lane: &impl Fn(u8) -> u8) -> u128 {
    let mut flags = [0u8; 16];
    for j in 0..16 {
        flags[j] = if lane(chunk[j]) == 0 { 0xFF } else { 0 };
    }
    u128::from_le_bytes(flags)
}

/// The positions of the bytes [`tag_lane`] finds in a tag, in order, from a bit mask of one
/// 16-byte chunk at a time: a short attribute's `=`, quotes and value end all come from one
/// chunk, and each is a shift and a count of trailing zeros away.
struct TagBytes<'b> {
    b: &'b [u8],
    /// Where the chunk of `bits` starts.
    base: usize,
    /// Bit `j` set when [`tag_lane`] finds byte `base + j` (the chunk padded with spaces past
    /// the end of `b`).
    bits: u32,
}

impl<'b> TagBytes<'b> {
    #[inline(always)]
    fn at(b: &'b [u8], base: usize) -> Self {
        let flags = match b.get(base..).and_then(<[u8]>::first_chunk::<16>) {
            Some(chunk) => zero_flags(chunk, &tag_lane),
            None => {
                let rest = b.get(base..).unwrap_or_default();
                let mut last = [b' '; 16];
                last[..rest.len()].copy_from_slice(rest);
                zero_flags(&last, &tag_lane)
            }
        };
        // The top bit of each flag byte gathered into one byte per half: the multiplier moves
        // bit 7 of byte k to bit 56 + k, without carries (each product bit has one source).
        const GATHER: u64 = 0x0002_0408_1020_4081;
        let gather = |half: u64| ((half & 0x8080_8080_8080_8080).wrapping_mul(GATHER) >> 56) as u32;
        let bits = gather(flags as u64) | gather((flags >> 64) as u64) << 8;
        TagBytes { b, base, bits }
    }

    /// The first position at or after `from` whose byte [`tag_lane`] finds.
    #[inline(always)]
    fn next(&mut self, mut from: usize) -> Option<usize> {
        loop {
            // Before the chunk (which the callers never ask for) wraps to a new chunk as well.
            let skip = from.wrapping_sub(self.base);
            if skip < 16 {
                let rest = self.bits >> skip;
                if rest != 0 {
                    return Some(from + rest.trailing_zeros() as usize);
                }
                from = self.base + 16;
            }
            if from >= self.b.len() {
                return None;
            }
            *self = TagBytes::at(self.b, from);
        }
    }
}

/// Zero exactly for the bytes that end a name or a plain value in a start tag, lane by lane for
/// [`find_first`] and [`TagBytes`]: `=`, `>`, either quote, `&`, `<` and the bytes below 0x20.
/// One set for both, so that its constants are set up once per tag. `<`, `=` and `>` are
/// 0x3C to 0x3E, `&` and `'` 0x26 and 0x27: each run is one wrapping subtraction (to 0 for its
/// first byte) and one saturating subtraction (to 0 for the rest of the run); below 0x20 the
/// saturating subtraction of 0x1F is 0.
#[inline(always)]
fn tag_lane(x: u8) -> u8 {
    (x.wrapping_sub(b'<').saturating_sub(2))
        .min(x.wrapping_sub(b'&').saturating_sub(1))
        .min(x ^ b'"')
        .min(x.saturating_sub(0x1F))
}

/// Where `c` first occurs in `b` (for the short distances of a tag, where a call to `memchr`
/// costs more than the search).
fn find_byte(b: &[u8], c: u8) -> Option<usize> {
    find_first(b, |x| x ^ c)
}

/// The length of an attribute value up to its closing `quote`, and whether it is plain: free
/// of the bytes [`normalize_attribute`] acts on (`&`, `<`, and below 0x20 tab, CR and LF), so
/// that it is its own normal form. None when the quote does not close.
fn scan_value(b: &[u8], quote: u8) -> Option<(usize, bool)> {
    value_end(&mut TagBytes::at(b, 0), 0, quote)
}

/// [`scan_value`] for the value from `start` of the tag `bytes` reads: where it ends (not its
/// length).
#[inline(always)]
fn value_end(bytes: &mut TagBytes<'_>, start: usize, quote: u8) -> Option<(usize, bool)> {
    // Most values are plain, and the first byte [`tag_lane`] finds is their closing quote; `=`,
    // `>` and the other quote are plain value characters, looked past.
    let b = bytes.b;
    let mut k = start;
    loop {
        k = bytes.next(k)?;
        match b[k] {
            c if c == quote => return Some((k, true)),
            b'=' | b'>' | b'"' | b'\'' => k += 1,
            _ => return memchr::memchr(quote, &b[k..]).map(|n| (k + n, false)),
        }
    }
}

/// Line-end normalisation of XML 1.0 §2.11: CR LF and lone CR become LF.
fn normalize_newlines(raw: &str) -> Cow<'_, str> {
    // Most text is the short whitespace between elements: looked at directly.
    let has_cr = if raw.len() <= 16 {
        raw.bytes().any(|b| b == b'\r')
    } else {
        memchr::memchr(b'\r', raw.as_bytes()).is_some()
    };
    if !has_cr {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn items(src: &str) -> Result<Vec<String>, SyntaxError> {
        let mut c = Cursor::new(src, &Limits::default());
        let mut out = Vec::new();
        loop {
            match c.next_item()? {
                Item::Start(t) => out.push(format!("<{}", t.name)),
                Item::Text(t) => out.push(format!("'{t}'")),
                Item::End => out.push(">".into()),
                Item::Eof => return Ok(out),
            }
        }
    }

    #[test]
    fn expands_only_builtins() {
        assert_eq!(
            items("<a>x&amp;&#65;&#x42;</a>").unwrap(),
            ["<a", "'x'", "'&'", "'A'", "'B'", ">"]
        );
        assert!(items("<a>&foo;</a>").is_err());
        assert!(items("<a>&#0;</a>").is_err());
    }

    #[test]
    fn refuses_entity_declarations() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert!(matches!(
            items(bomb),
            Err(SyntaxError::EntityDeclaration { .. })
        ));
        let ext = r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert!(matches!(
            items(ext),
            Err(SyntaxError::EntityDeclaration { .. })
        ));
        assert!(items("<!DOCTYPE IotpMessage ><IotpMessage/>").is_ok());
    }

    #[test]
    fn prolog_and_structure_errors() {
        assert!(items("<?XML Version='1.0'?><a/>").is_err());
        assert!(items("<a/><b/>").is_err());
        assert!(items("<a>").is_err());
        assert!(items("<a></b>").is_err());
        assert!(items("text<a/>").is_err());
        assert!(items("").is_err());
    }

    /// Items, attributes and errors as text, the way `next_item` and `attributes` give them.
    fn trace(mut c: Cursor<'_>, skip_space: bool) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let mut attrs = Vec::new();
        loop {
            let offset = c.offset;
            let item = if skip_space {
                c.next_non_space()
            } else {
                c.next_item()
            };
            match item {
                Ok(Item::Start(t)) => {
                    let a = c.attributes(&t, &mut attrs).map(|()| attrs.clone());
                    out.push(format!(
                        "<{} {} {} {:?} {a:?}",
                        t.name, t.empty, t.offset, t.raw
                    ));
                }
                Ok(Item::Text(t)) => out.push(format!("'{t}' {}", c.offset)),
                Ok(Item::End) => out.push(format!("> {}", c.offset)),
                Ok(Item::Eof) => return (out, c.bailed()),
                Err(e) => {
                    out.push(format!("{e:?} after {offset}"));
                    return (out, c.bailed());
                }
            }
        }
    }

    /// Mutations of `doc`: a byte deleted, or one of XML's markup characters inserted or
    /// substituted, at positions spread over the document.
    pub(crate) fn mutations(doc: &str, step: usize) -> Vec<String> {
        let marks = [
            "<", ">", "\"", "'", "/", "&", " ", "=", "\r", "x", "?", "!", "-", "é",
        ];
        let mut out = Vec::new();
        let positions = (0..doc.len())
            .step_by(step.max(1))
            .filter(|&i| doc.is_char_boundary(i));
        for (k, i) in positions.enumerate() {
            let mark = marks[k % marks.len()];
            let next = doc[i..].chars().next().map_or(0, char::len_utf8);
            out.push(format!("{}{}", &doc[..i], &doc[i + next..]));
            out.push(format!("{}{mark}{}", &doc[..i], &doc[i..]));
            out.push(format!("{}{mark}{}", &doc[..i], &doc[i + next..]));
            out.push(doc[..i].to_owned());
        }
        out
    }

    #[test]
    fn the_fast_tokenizer_gives_quick_xml_s_items_or_gives_up() {
        let small = [
            "<a/>",
            "<?xml version=\"1.0\"?>\n<a x='1' y=\"2\"><b/>t&amp;u<c z=\"&lt;\"></c>\r\n</a>\n",
            "<a x = '1'><!-- c --><b xml:lang=\"en\"/></a >",
            "<a x=\"1\" x=\"2\"/>",
            "<a x=\"1\"y=\"2\" z='>'>text</a>",
            "<a><![CDATA[x]]></a>",
            "<!DOCTYPE a><a/>",
            "<a/ ><b/>",
            "<é/>",
            "<a>\n <b> </b>\r\n\t<c> x </c>  y <d/>\n</a>\n ",
            "<a> &lt;&gt;&amp;&apos;&quot; <b>&#9;&#32;&#x20; &#x1F600;&#65;x</b>&#10;</a>",
        ];
        let samples = ["tpo_offer_6k.xml", "ping.xml"].map(|name| {
            let path = format!(
                "{}/../../shared/spec/perf-samples/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::read_to_string(&path).unwrap_or_default()
        });
        let mut docs: Vec<String> = small.iter().map(|d| d.to_string()).collect();
        for d in small
            .iter()
            .copied()
            .chain(samples.iter().map(String::as_str))
        {
            docs.extend(mutations(d, if d.len() > 1000 { 7 } else { 1 }));
        }
        docs.extend(samples);
        // References the tokenizer leaves to quick-xml, one in each document.
        for r in [
            "&#0;",
            "&#xD800;",
            "&#x110000;",
            "&#99999999999;",
            "&#;",
            "&#x;",
            "&#12a;",
            "&ltx;",
            "&nbsp;",
            "& lt;",
            "&lt",
            "&#X41;",
        ] {
            docs.push(format!("<a>x{r}<b>&#65;</b></a>"));
        }
        let limits = Limits {
            max_attributes: 5,
            max_depth: 4,
            ..Limits::default()
        };
        let mut fast_read = 0;
        for doc in &docs {
            for (limits, skip_space) in [
                (&Limits::default(), false),
                (&limits, false),
                (&Limits::default(), true),
                (&limits, true),
            ] {
                let (fast, bailed) = trace(Cursor::new_fast(doc, limits), skip_space);
                if bailed {
                    continue;
                }
                fast_read += 1;
                let (slow, _) = trace(Cursor::new(doc, limits), skip_space);
                assert_eq!(fast, slow, "{doc:?}");
            }
        }
        assert!(
            fast_read > docs.len() * 2,
            "{fast_read} of {}",
            docs.len() * 4
        );
        // References are read, not given up on.
        for skip_space in [false, true] {
            let (items, bailed) = trace(Cursor::new_fast(small[10], &limits), skip_space);
            assert!(!bailed, "{items:?}");
        }
    }

    /// Whenever `attributes_into` reads a tag, it reads what `attributes` reads.
    #[test]
    fn attributes_into_reads_as_attributes_does() {
        let samples = ["tpo_offer_6k.xml", "ping.xml"].map(|name| {
            let path = format!(
                "{}/../../shared/spec/perf-samples/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::read_to_string(&path).unwrap_or_default()
        });
        let mut docs: Vec<String> = vec![
            "<a ID='x' b=\"1\"  c='2'\n/>".into(),
            "<a b=\"1\"b=\"2\"/>".into(),
            "<a b=\"1\"c=\"&amp;\"/>".into(),
            "<a b=\"1\" c =\"2\"/>".into(),
            "<a b=\"1\" ID=\"\" c=\"2\" xmlns=\"u\"></a>".into(),
            "<a b=\"\tx\"/>".into(),
            "<a b='\"' c=\"'\"/>".into(),
        ];
        for s in &samples {
            docs.extend(mutations(s, 3));
        }
        docs.extend(samples);
        let mut names: Vec<&str> = vec!["ID", "b", "c"];
        let few = Limits {
            max_attributes: 2,
            max_text_bytes: 20,
            ..Limits::default()
        };
        let mut read = 0;
        for doc in &docs {
            for (limits, fast) in [
                (&Limits::default(), true),
                (&few, true),
                (&Limits::default(), false),
                (&few, false),
            ] {
                let mut c = if fast {
                    Cursor::new_fast(doc, limits)
                } else {
                    Cursor::new(doc, limits)
                };
                let mut attrs = Vec::new();
                while let Ok(item) = c.next_item() {
                    let Item::Start(t) = item else {
                        if let Item::Eof = item {
                            break;
                        }
                        continue;
                    };
                    let all = c.attributes(&t, &mut attrs);
                    if all.is_ok() {
                        for (n, _) in &attrs {
                            if !names.contains(n) {
                                names.push(n);
                            }
                        }
                    }
                    let reversed: Vec<&str> = names.iter().rev().copied().collect();
                    for names in [&names, &reversed] {
                        let mut slots = vec![None; names.len()];
                        let mut id = None;
                        if !c.attributes_into(&t, names, &mut slots, &mut id) {
                            continue;
                        }
                        read += 1;
                        assert!(all.is_ok(), "{doc:?}");
                        assert_eq!(slots.iter().flatten().count(), attrs.len(), "{doc:?}");
                        for (n, v) in &attrs {
                            let k = names.iter().position(|m| m == n).unwrap();
                            assert_eq!(slots[k].as_ref(), Some(v), "{doc:?}");
                        }
                        let expected = attrs.iter().find(|(n, _)| *n == "ID").map(|(_, v)| v);
                        assert_eq!(id.as_ref(), expected, "{doc:?}");
                    }
                }
            }
        }
        assert!(read > docs.len() * 10, "{read}");
    }

    #[test]
    fn skipped_space_keeps_the_text_limit() {
        let limits = Limits {
            max_text_bytes: 4,
            ..Limits::default()
        };
        for (doc, too_long) in [("<a>    <b/></a>", false), ("<a>     <b/></a>", true)] {
            let mut results = Vec::new();
            for mut c in [Cursor::new_fast(doc, &limits), Cursor::new(doc, &limits)] {
                let mut items = Vec::new();
                let end = loop {
                    match c.next_non_space() {
                        Ok(Item::Eof) => break Ok(()),
                        Ok(Item::Start(t)) => items.push(t.name.to_owned()),
                        Ok(_) => items.push(String::new()),
                        Err(e) => break Err(e),
                    }
                };
                results.push((items, end, c.bailed()));
            }
            let (fast, slow) = (&results[0], &results[1]);
            if !fast.2 {
                assert_eq!((&fast.0, &fast.1), (&slow.0, &slow.1), "{doc}");
            }
            assert_eq!(slow.1.is_err(), too_long, "{doc}");
        }
    }

    #[test]
    fn value_scan() {
        let plain = |v: &str| scan_value(format!("{v}\"x").as_bytes(), b'"');
        assert_eq!(plain(""), Some((0, true)));
        assert_eq!(plain("abc"), Some((3, true)));
        assert_eq!(plain("it's a longer value, é and all"), Some((31, true)));
        for special in ["&amp;", "<", "\t", "\n", "\r"] {
            for at in [0, 3, 8, 12, 15, 16, 17, 20, 31, 32, 33, 47, 60] {
                let v = format!("{}{special}{}", "a".repeat(at), "b".repeat(9));
                assert_eq!(plain(&v), Some((v.len(), false)), "{v:?}");
                let v = format!("{}{special}", "a".repeat(at));
                assert_eq!(plain(&v), Some((v.len(), false)), "{v:?}");
            }
        }
        for len in 0..70 {
            let v = "v".repeat(len);
            assert_eq!(plain(&v), Some((len, true)), "{v:?}");
            assert_eq!(scan_value(v.as_bytes(), b'"'), None, "{v:?}");
        }
        assert_eq!(scan_value(b"0123456789'\"", b'\''), Some((10, true)));
        assert_eq!(scan_value(b"01234567\"89", b'\''), None);
        assert_eq!(scan_value(b"", b'"'), None);
    }

    #[test]
    fn the_lane_searches_find_the_first_byte_wherever_it_is() {
        // Every byte value at every position of every length around the 16-byte chunks, after
        // filler that matches nothing: the searches agree with a byte-by-byte search.
        let naive = |b: &[u8], hit: &dyn Fn(u8) -> bool| b.iter().position(|&c| hit(c));
        let special = |c: u8| matches!(c, b'=' | b'>' | b'"' | b'\'' | b'&' | b'<') || c < 0x20;
        for len in 0..50 {
            for at in 0..=len {
                for byte in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    if at < len {
                        b[at] = byte;
                    }
                    // A second candidate later on: only the first counts.
                    if at + 3 < len {
                        b[at + 3] = b'=';
                    }
                    assert_eq!(find_first(&b, tag_lane), naive(&b, &special), "{b:?}");
                    // Every position, from every start, through the chunks of `TagBytes`.
                    let all: Vec<usize> = (0..len).filter(|&k| special(b[k])).collect();
                    for from in [0, at.saturating_sub(1), at, at + 1] {
                        let mut bytes = TagBytes::at(&b, from);
                        let mut found = Vec::new();
                        let mut k = from;
                        while let Some(n) = bytes.next(k) {
                            found.push(n);
                            k = n + 1;
                        }
                        let expected: Vec<usize> =
                            all.iter().copied().filter(|&n| n >= from).collect();
                        assert_eq!(found, expected, "{b:?} from {from}");
                    }
                    assert_eq!(find_byte(&b, byte), naive(&b, &|c| c == byte), "{b:?}");
                }
            }
        }
    }

    #[test]
    fn attribute_normalisation() {
        assert_eq!(normalize_attribute("a\tb\r\nc&#10;", 0).unwrap(), "a b c\n");
        assert!(normalize_attribute("s&h", 0).is_err());
        assert!(normalize_attribute("a<b", 0).is_err());
    }

    #[test]
    fn depth_limit() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(items(&deep), Err(SyntaxError::TooDeep { .. })));
    }

    #[test]
    fn forbidden_characters_found_anywhere() {
        // Every position of a chunk of 64 and of the rest after the chunks.
        let clean = "<a b=\"c\">\td\r\n</a>".repeat(20);
        assert!(prepare(clean.as_bytes(), &Limits::default()).is_ok());
        for at in 0..clean.len() {
            let mut bad = clean.clone().into_bytes();
            bad[at] = 0x01;
            let err = prepare(&bad, &Limits::default()).err();
            assert_eq!(err.and_then(|e| e.offset()), Some(at), "at {at}");
        }
    }

    /// The checks of `prepare` before `byte_range` guarded them.
    fn prepare_reference(input: &[u8]) -> Result<&str, SyntaxError> {
        let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let text = std::str::from_utf8(body).map_err(|e| {
            SyntaxError::Encoding(format!(
                "not UTF-8 or UTF-16 (invalid byte at {})",
                e.valid_up_to()
            ))
        })?;
        check_controls(text.as_bytes())?;
        check_noncharacters(text.as_bytes())?;
        Ok(text)
    }

    #[test]
    fn prepare_agrees_with_the_exact_checks_at_every_position() {
        let limits = Limits::default();
        let same = |input: &[u8]| {
            let got = prepare(input, &limits).map(|t| t.into_owned());
            let want = prepare_reference(input).map(str::to_owned);
            assert_eq!(
                format!("{got:?}"),
                format!("{want:?}"),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        };
        let base: Vec<u8> = b"<a b=\"c\">\n text \xC3\xA9\n</a>\n"
            .iter()
            .copied()
            .cycle()
            .take(200)
            .collect();
        let ascii: Vec<u8> = b"<a b=\"c\">\n text\n</a>\n"
            .iter()
            .copied()
            .cycle()
            .take(200)
            .collect();
        for doc in [&base, &ascii] {
            for len in [0, 1, 63, 64, 65, 127, 128, 129, 200] {
                let doc = &doc[..len];
                same(doc);
                for pos in 0..len {
                    for b in 0..=255u8 {
                        let mut replaced = doc.to_vec();
                        replaced[pos] = b;
                        same(&replaced);
                    }
                    for seq in [
                        &b"\xEF\xBF\xBE"[..],
                        b"\xEF\xBF\xBF",
                        b"\xEF\xBB\xBF",
                        b"\xC3",
                        b"\xE2\x82",
                        b"\xF0\x9F\x98\x80",
                        b"\x01\t\r",
                    ] {
                        let mut inserted = doc.to_vec();
                        inserted.splice(pos..pos, seq.iter().copied());
                        same(&inserted);
                    }
                }
            }
        }
    }

    #[test]
    fn prepare_encodings() {
        let limits = Limits::default();
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>é</a>".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(prepare(&utf16, &limits).unwrap(), "<a>é</a>");
        assert!(prepare(b"<a>\x01</a>", &limits).is_err());
        assert!(prepare(b"<a>\xFF</a>", &limits).is_err());
        let small = Limits {
            max_message_bytes: 4,
            ..Limits::default()
        };
        assert!(matches!(
            prepare(b"<a></a>", &small),
            Err(SyntaxError::TooLarge { .. })
        ));
    }
}
