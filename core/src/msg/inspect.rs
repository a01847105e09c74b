//! A document as a readable tree, one line per element, with its element references (§3.5)
//! resolved: what `iotp inspect` prints and the C ABI's `iotp_inspect` returns.
//!
//! Works on the generic tree ([`crate::xml::parse_tree`]) so that it shows whatever is there,
//! valid or not.

use std::collections::HashMap;
use std::fmt::{self, Write};

use crate::xml::{XmlElement, XmlNode};

/// Longest value, label or text excerpt shown, in characters.
const EXCERPT_CHARS: usize = 60;

/// The tree of `root`, one line per element, each ending in a line feed: the element's name
/// indented by depth, its `ID` and other attributes, its text (a BASE64 PackagedContent by its
/// decoded length), then, for each reference attribute, a line `↳ Attr ID → Element "label"`.
pub fn render_tree(root: &XmlElement) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_tree(root, &mut out);
    out
}

/// Writes the tree of `root`, one line per element (see [`render_tree`]).
pub fn write_tree(root: &XmlElement, out: &mut impl Write) -> fmt::Result {
    let mut targets = HashMap::new();
    index(root, None, &mut targets);
    write_element(root, 0, &targets, out)
}

/// What a reference resolves to: the element's tag and a telling label.
#[derive(Debug)]
struct Target<'a> {
    tag: &'a str,
    label: Option<String>,
}

/// Maps every `ID` in the document to its element (the first, if an ID is repeated).
fn index<'a>(
    element: &'a XmlElement,
    parent: Option<&'a XmlElement>,
    targets: &mut HashMap<&'a str, Target<'a>>,
) {
    if let Some(id) = element.attribute("ID") {
        targets.entry(id).or_insert_with(|| Target {
            tag: &element.name,
            label: label(element, parent),
        });
    }
    for child in &element.children {
        if let XmlNode::Element(child) = child {
            index(child, Some(element), targets);
        }
    }
}

/// A telling description of an element, from the attributes that name it.
fn label(element: &XmlElement, parent: Option<&XmlElement>) -> Option<String> {
    let attr = |name| element.attribute(name).filter(|v| !v.trim().is_empty());
    if let Some(amount) = attr("Amount") {
        return Some(match attr("CurrCode") {
            Some(currency) => format!("{amount} {currency}"),
            None => amount.to_owned(),
        });
    }
    if let Some(name) = attr("LegalName") {
        return Some(match attr("OrgId") {
            Some(org) => format!("{name} ({org})"),
            None => name.to_owned(),
        });
    }
    if let Some(role) = attr("TradingRole") {
        let org = parent.and_then(|p| p.attribute("LegalName").or(p.attribute("OrgId")));
        return Some(match org {
            Some(org) => format!("{role} of {org}"),
            None => role.to_owned(),
        });
    }
    if let (Some(state), Some(kind)) = (attr("ProcessState"), attr("StatusType")) {
        return Some(format!("{kind} {state}"));
    }
    const TELLING: &[&str] = &[
        "BrandName",
        "ProtocolName",
        "ShortDesc",
        "OrderIdentifier",
        "Name",
        "DelivMethod",
        "ErrorCode",
        "IotpTransId",
        "SoftwareId",
        "BrandId",
        "ProtocolId",
        "OrgId",
        "InquiryType",
        "Type",
    ];
    TELLING
        .iter()
        .find_map(|name| attr(name))
        .map(str::to_owned)
}

/// IOTP's element references (§3.5): attributes naming IDs of other elements.
fn is_reference(attribute: &str) -> bool {
    match attribute {
        "RespIotpMsg" => true,
        // A vendor's own reference (CDATA) and receipt part names: not IDs.
        "SwVendorErrorRef" | "PayReceiptNameRefs" => false,
        _ => {
            !attribute.contains(':') && (attribute.ends_with("Ref") || attribute.ends_with("Refs"))
        }
    }
}

fn write_element(
    element: &XmlElement,
    depth: usize,
    targets: &HashMap<&str, Target<'_>>,
    out: &mut impl Write,
) -> fmt::Result {
    let indent = "  ".repeat(depth);
    let mut line = format!("{indent}{}", element.name);
    if let Some(id) = element.attribute("ID") {
        line.push_str(" ID=");
        line.push_str(&shown(id));
    }
    for (name, value) in &element.attributes {
        let hidden = name == "ID"
            || name == "xml:lang"
            || name == "xmlns"
            || name.starts_with("xmlns:")
            || is_reference(name);
        if !hidden {
            line.push(' ');
            line.push_str(name);
            line.push('=');
            line.push_str(&shown(value));
        }
    }
    let text = element.text();
    if element.name == "PackagedContent"
        && element
            .attribute("Transform")
            .is_some_and(|t| t.eq_ignore_ascii_case("BASE64"))
    {
        line.push_str(&format!(" <{} bytes base64>", base64_len(&text)));
    } else if !text.trim().is_empty() {
        line.push(' ');
        line.push_str(&quoted(&collapse_whitespace(&text)));
    }
    writeln!(out, "{line}")?;
    for (name, value) in &element.attributes {
        if !is_reference(name) {
            continue;
        }
        for id in value.split_whitespace() {
            write!(out, "{indent}  ↳ {name} {} → ", shown(id))?;
            match targets.get(id) {
                Some(Target {
                    tag,
                    label: Some(label),
                }) => writeln!(out, "{tag} {}", quoted(label))?,
                Some(Target { tag, label: None }) => writeln!(out, "{tag}")?,
                None => writeln!(out, "(not in this message)")?,
            }
        }
    }
    for child in &element.children {
        if let XmlNode::Element(child) = child {
            write_element(child, depth + 1, targets, out)?;
        }
    }
    Ok(())
}

/// A value as shown after `Name=`: bare when it is a plain token, quoted and escaped otherwise,
/// cut to [`EXCERPT_CHARS`].
fn shown(value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().count() <= EXCERPT_CHARS
        && value
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\');
    if plain {
        value.to_owned()
    } else {
        quoted(value)
    }
}

/// A value in double quotes, escaped (so no control character reaches the terminal), cut to
/// [`EXCERPT_CHARS`] characters with `…`.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{:?}…", &value[..end]),
        None => format!("{value:?}"),
    }
}

/// Runs of whitespace (including line breaks) as one space, ends trimmed.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The number of bytes base64 `text` decodes to (whitespace ignored).
fn base64_len(text: &str) -> usize {
    let symbols = text.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let padding = text
        .bytes()
        .rev()
        .filter(|b| !b.is_ascii_whitespace())
        .take_while(|&b| b == b'=')
        .count();
    (symbols / 4 * 3 + (symbols % 4) * 3 / 4).saturating_sub(padding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lengths() {
        assert_eq!(base64_len(""), 0);
        assert_eq!(base64_len("TWFu"), 3);
        assert_eq!(base64_len("TWE="), 2);
        assert_eq!(base64_len("TQ==\n"), 1);
        assert_eq!(base64_len(" TWFu\n TWFu "), 6);
    }

    #[test]
    fn references() {
        assert!(is_reference("BrandListRef"));
        assert!(is_reference("ProtocolAmountRefs"));
        assert!(is_reference("RespIotpMsg"));
        assert!(!is_reference("SwVendorErrorRef"));
        assert!(!is_reference("PayReceiptNameRefs"));
        assert!(!is_reference("ShortDesc"));
    }

    #[test]
    fn values_are_escaped_and_cut() {
        assert_eq!(shown("M1.5"), "M1.5");
        assert_eq!(shown("two words"), "\"two words\"");
        assert_eq!(shown("esc\u{1b}[31m"), "\"esc\\u{1b}[31m\"");
        let long = "é".repeat(100);
        assert_eq!(quoted(&long), format!("\"{}\"…", "é".repeat(EXCERPT_CHARS)));
    }
}
