//! The canonical writer: attributes in DTD order, one element per line indented by one space per
//! level, text content written inline, `"` as the quote, only the necessary escapes.
//!
//! The output of a parsed document re-parses to an equal model, and writing is a fixed point.

use super::{XmlElement, XmlNode};

/// The XML declaration every written document starts with (RFC 2801 §3.2.1, lower-case).
pub(crate) const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// An in-memory XML writer.
#[derive(Debug, Default)]
pub(crate) struct XmlWriter {
    pub out: String,
    depth: usize,
}

impl XmlWriter {
    pub fn with_capacity(capacity: usize) -> Self {
        XmlWriter {
            out: String::with_capacity(capacity),
            depth: 0,
        }
    }

    /// Starts a start tag on a new line: `<name`.
    pub fn open(&mut self, name: &str) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        for _ in 0..self.depth {
            self.out.push(' ');
        }
        self.out.push('<');
        self.out.push_str(name);
    }

    /// Writes one attribute of the open start tag.
    pub fn attr(&mut self, name: &str, value: &str) {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_attribute(&mut self.out, value);
        self.out.push('"');
    }

    /// Ends the start tag of an element without content: `/>`.
    pub fn close_empty(&mut self) {
        self.out.push_str("/>\n");
    }

    /// Ends the start tag of an element with element content: `>`; children follow indented.
    pub fn close_open(&mut self) {
        self.out.push_str(">\n");
        self.depth += 1;
    }

    /// Writes the end tag of an element opened with [`close_open`](Self::close_open).
    pub fn end(&mut self, name: &str) {
        self.depth -= 1;
        for _ in 0..self.depth {
            self.out.push(' ');
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// Ends the start tag and writes character content and the end tag on the same line.
    pub fn text_content(&mut self, name: &str, text: &str) {
        self.out.push('>');
        escape_text(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// Ends the start tag and writes generic content exactly as held (no added whitespace).
    pub fn generic_content(&mut self, name: &str, nodes: &[XmlNode]) {
        if nodes.is_empty() {
            self.close_empty();
            return;
        }
        self.out.push('>');
        for node in nodes {
            write_node(&mut self.out, node);
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// Writes a generic element on its own line (an extension element).
    pub fn element(&mut self, element: &XmlElement) {
        self.open(&element.name);
        for (name, value) in &element.attributes {
            self.attr(name, value);
        }
        self.generic_content(&element.name, &element.children);
    }
}

fn write_node(out: &mut String, node: &XmlNode) {
    match node {
        XmlNode::Text(text) => escape_text(out, text),
        XmlNode::Element(e) => {
            out.push('<');
            out.push_str(&e.name);
            for (name, value) in &e.attributes {
                out.push(' ');
                out.push_str(name);
                out.push_str("=\"");
                escape_attribute(out, value);
                out.push('"');
            }
            if e.children.is_empty() {
                out.push_str("/>");
            } else {
                out.push('>');
                for child in &e.children {
                    write_node(out, child);
                }
                out.push_str("</");
                out.push_str(&e.name);
                out.push('>');
            }
        }
    }
}

/// Escapes an attribute value so that it reads back unchanged after XML normalisation.
pub(crate) fn escape_attribute(out: &mut String, value: &str) {
    escape(
        out,
        value,
        &specials(b"&<\"\t\n\r"),
        |x| equal(x, b'&') | equal(x, b'<') | equal(x, b'"') | below(x, 0x20),
        [
            &|b: &[u8]| memchr::memchr3(b'&', b'<', b'"', b),
            &|b: &[u8]| memchr::memchr3(b'\t', b'\n', b'\r', b),
        ],
        |b| match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'"' => "&quot;",
            b'\t' => "&#9;",
            b'\n' => "&#10;",
            _ => "&#13;",
        },
    );
}

/// Escapes character data so that it reads back unchanged.
pub(crate) fn escape_text(out: &mut String, text: &str) {
    escape(
        out,
        text,
        &specials(b"&<>\r"),
        |x| equal(x, b'&') | equal(x, b'<') | equal(x, b'>') | equal(x, b'\r'),
        [
            &|b: &[u8]| memchr::memchr3(b'&', b'<', b'>', b),
            &|b: &[u8]| memchr::memchr(b'\r', b),
        ],
        |b| match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&#13;",
        },
    );
}

/// A search for some of the special bytes (SIMD, through memchr).
type Finder<'f> = &'f dyn Fn(&[u8]) -> Option<usize>;

/// Which bytes are special: a table for [`escape`]'s byte-by-byte scan.
const fn specials(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// Values shorter than this are scanned eight bytes at a time, then byte by byte, against the
/// table: most attribute values (identifiers, codes, amounts) are a few bytes long, shorter than
/// what a vector search costs to set up. Longer ones (text, encoded content) go to the finders.
const SHORT: usize = 64;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The bytes of `x` below `n` (at most 0x80) flagged by their high bit, with perhaps some
/// bytes after a flagged one (a borrow): no such byte is ever missed.
const fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGH
}

/// The bytes of `x` equal to `c` flagged as [`below`] flags them.
const fn equal(x: u64, c: u8) -> u64 {
    below(x ^ (ONES * c as u64), 1)
}

/// Copies `value` to `out`, replacing the ASCII bytes that are `special` (the bytes the finders
/// locate, and among the bytes `candidates` flags in eight bytes read as a little-endian
/// number). Each finder's next match is remembered until it is passed, so the work stays linear
/// whatever the input. Slicing there is safe for UTF-8: every special is ASCII, and no byte of
/// a multi-byte character is.
#[inline]
fn escape(
    out: &mut String,
    value: &str,
    special: &[bool; 256],
    candidates: fn(u64) -> u64,
    finders: [Finder<'_>; 2],
    replace: fn(u8) -> &'static str,
) {
    out.reserve(value.len());
    let bytes = value.as_bytes();
    if bytes.len() < SHORT {
        let mut start = 0;
        let mut at_special = |at: usize, b: u8| {
            if special[usize::from(b)] {
                out.push_str(&value[start..at]);
                out.push_str(replace(b));
                start = at + 1;
            }
        };
        let mut chunks = bytes.chunks_exact(8);
        let mut i = 0;
        for chunk in &mut chunks {
            let mut flags = candidates(u64::from_le_bytes(
                <[u8; 8]>::try_from(chunk).unwrap_or_default(),
            ));
            while flags != 0 {
                let k = (flags.trailing_zeros() / 8) as usize;
                at_special(i + k, chunk[k]);
                flags &= flags - 1;
            }
            i += 8;
        }
        for (k, &b) in chunks.remainder().iter().enumerate() {
            at_special(i + k, b);
        }
        out.push_str(&value[start..]);
        return;
    }
    let search = |k: usize, from: usize| finders[k](&bytes[from..]).map(|i| from + i);
    let mut next = [search(0, 0), search(1, 0)];
    let mut start = 0;
    loop {
        let at = match next {
            [Some(a), Some(b)] => a.min(b),
            [Some(a), None] => a,
            [None, Some(b)] => b,
            [None, None] => break,
        };
        out.push_str(&value[start..at]);
        out.push_str(replace(bytes[at]));
        start = at + 1;
        for (k, n) in next.iter_mut().enumerate() {
            if *n == Some(at) {
                *n = search(k, start);
            }
        }
    }
    out.push_str(&value[start..]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        escape_attribute(&mut s, "a&b<c\"d\te\nf");
        assert_eq!(s, "a&amp;b&lt;c&quot;d&#9;e&#10;f");
        let mut t = String::new();
        escape_text(&mut t, "x<y>&z\r");
        assert_eq!(t, "x&lt;y&gt;&amp;z&#13;");
        // Mixed specials, runs of them, multi-byte characters around them.
        let mut s = String::new();
        escape_attribute(&mut s, "€&&\r\r'>€\t");
        assert_eq!(s, "€&amp;&amp;&#13;&#13;'>€&#9;");
        let mut t = String::new();
        escape_text(&mut t, "plain € text\n\t\"");
        assert_eq!(t, "plain € text\n\t\"");
    }

    /// The escapes, one character at a time.
    fn plainly(value: &str, attribute: bool) -> String {
        value
            .chars()
            .map(|c| match (c, attribute) {
                ('&', _) => "&amp;".to_owned(),
                ('<', _) => "&lt;".to_owned(),
                ('\r', _) => "&#13;".to_owned(),
                ('"', true) => "&quot;".to_owned(),
                ('\t', true) => "&#9;".to_owned(),
                ('\n', true) => "&#10;".to_owned(),
                ('>', false) => "&gt;".to_owned(),
                (c, _) => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn short_and_long_values_escape_alike() {
        // Every length around SHORT, every special at every place, among multi-byte characters.
        let pieces = [
            "a", "€", "&", "<", ">", "\"", "'", "\t", "\n", "\r", "xyz", "\u{1}", "\u{7f}",
        ];
        let mut seed = 7u64;
        for len in 0..SHORT + 20 {
            for _ in 0..20 {
                let mut value = String::new();
                while value.len() < len {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    value.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
                }
                let (mut a, mut t) = (String::new(), String::new());
                escape_attribute(&mut a, &value);
                escape_text(&mut t, &value);
                assert_eq!(a, plainly(&value, true), "{value:?}");
                assert_eq!(t, plainly(&value, false), "{value:?}");
            }
        }
    }
}
