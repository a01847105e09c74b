//! XML syntax: limits, the bounded reader, the canonical writer and DOMHASH (RFC 2803).
//!
//! Nothing here knows IOTP's elements: `msg` builds the typed model on top.

pub mod domhash;
mod node;
pub(crate) mod reader;
pub(crate) mod writer;

pub use node::{XmlElement, XmlNode};
pub use reader::SyntaxError;

/// Bounds applied to every document before and while it is read.
///
/// Every byte string from the network, a plugin or a file goes through these limits, so no input
/// can make the reader allocate without bound or recurse without bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document in bytes (RFC 2801 `MsgTooLarge` above it). Default 4 MiB.
    pub max_message_bytes: usize,
    /// Deepest element nesting accepted. Default 64.
    pub max_depth: usize,
    /// Most attributes on one element. Default 64.
    pub max_attributes: usize,
    /// Longest single text node or attribute value in bytes. Default 4 MiB.
    pub max_text_bytes: usize,
    /// Most problems reported for one document before reading stops. Default 256.
    pub max_errors: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_attributes: 64,
            max_text_bytes: 4 * 1024 * 1024,
            max_errors: 256,
        }
    }
}

/// XML 1.0 `NameStartChar` (including `:`).
pub fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 `NameChar`.
pub fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Name characters by byte: 1 = NameChar, 2 = NameStartChar too; 0 for every byte of a
/// non-ASCII character (those take the `char` path).
pub(crate) const ASCII_NAME: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() || b == b'_' || b == b':' {
            3
        } else if b.is_ascii_digit() || b == b'-' || b == b'.' {
            1
        } else {
            0
        };
        c += 1;
    }
    t
};

/// Equality of two short strings (element and attribute names) without calling `memcmp`: the
/// lengths, then at most three bytes or two overlapping 4- or 8-byte words.
#[inline]
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word4 = |s: &[u8], at: usize| {
        s.get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(u32::from_ne_bytes)
    };
    let word8 = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_ne_bytes)
    };
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

/// An XML `Name` (the syntax of ID and IDREF values).
pub fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    // One pass for the usual all-ASCII name; anything else is decided below.
    if let [first, rest @ ..] = b
        && ASCII_NAME[*first as usize] & 2 != 0
        && rest.iter().all(|&c| ASCII_NAME[c as usize] != 0)
    {
        return true;
    }
    if b.is_ascii() {
        return false;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if is_name_start_char(c)) && chars.all(is_name_char)
}

/// An XML `Nmtoken`.
pub fn is_nmtoken(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.is_empty() && b.iter().all(|&c| ASCII_NAME[c as usize] != 0) {
        return true;
    }
    if b.is_ascii() {
        return false;
    }
    !s.is_empty() && s.chars().all(is_name_char)
}

/// Reads a whole document as a generic element tree (the root element), under the same limits
/// and rules as the IOTP reader: for tools that show a document rather than interpret it.
pub fn parse_tree(input: &[u8], limits: &Limits) -> Result<XmlElement, SyntaxError> {
    let src = reader::prepare(input, limits)?;
    let mut ctx = crate::msg::element::Ctx::new(&src, limits);
    let root = loop {
        match ctx.cur.next_item()? {
            reader::Item::Start(tag) => break tag,
            reader::Item::Eof => {
                return Err(SyntaxError::NotWellFormed {
                    offset: 0,
                    reason: "no root element".into(),
                });
            }
            _ => continue,
        }
    };
    let element = ctx.generic_element(root);
    match ctx.fatal.take() {
        Some(e) => Err(e),
        None => match ctx.cur.next_item()? {
            reader::Item::Eof => Ok(element),
            _ => Err(SyntaxError::NotWellFormed {
                offset: ctx.cur.offset,
                reason: "content after the root element".into(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_name_is_equality() {
        let base = "ABCDEFGHIJKLMNOPQRSTU";
        let mut names: Vec<String> = (0..=base.len()).map(|n| base[..n].to_owned()).collect();
        for n in 1..=base.len() {
            for at in [0, n / 2, n - 1] {
                let mut v = base[..n].to_owned().into_bytes();
                v[at] = b'x';
                names.push(String::from_utf8(v).unwrap_or_default());
            }
        }
        names.push("é".into());
        names.push("e\u{301}".into());
        for a in &names {
            for b in &names {
                assert_eq!(super::same_name(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
