//! `iotp inspect`: a document as a readable tree, with its element references (§3.5) resolved.
//!
//! Works on the generic tree ([`iotp::xml::parse_tree`]) so that it shows whatever is there,
//! valid or not; validation only adds a note at the top.

use std::collections::HashMap;
use std::io::{self, Write};

use iotp::Report;
use iotp::xml::{XmlElement, XmlNode};

use crate::InspectArgs;
use crate::input;
use crate::output::{self, Outcome};

/// Longest value, label or text excerpt shown, in characters.
const EXCERPT_CHARS: usize = 60;

/// Runs the command: exit 0 for a valid document, 1 for an invalid one (the tree is still
/// shown when the document is well-formed), 2 when it cannot be read.
pub(crate) fn run(args: &InspectArgs, out: &mut impl Write) -> io::Result<Outcome> {
    let limits = args.limits.limits();
    let mut buf = Vec::new();
    let tree = match input::read_limited(&args.file, &limits, &mut buf) {
        Ok(None) => iotp::xml::parse_tree(&buf, &limits),
        Ok(Some(too_large)) => {
            output::problems_to_stderr(&args.file, &[too_large]);
            return Ok(Outcome::Invalid);
        }
        Err(e) => {
            output::complain_file(&args.file, &e);
            return Ok(Outcome::Failure);
        }
    };
    let root = match tree {
        Ok(root) => root,
        Err(_) => {
            // Not well-formed: the full report says where and why.
            let report = Report::read_fragment(&buf, &limits);
            if !output::problems_to_stderr(&args.file, &report.errors) {
                output::complain(format_args!("{}: not well-formed", args.file.display()));
            }
            return Ok(Outcome::Invalid);
        }
    };
    let report = if root.name == "IotpMessage" {
        Report::read(&buf, &limits)
    } else {
        Report::read_fragment(&buf, &limits)
    };
    write_notes(&report, out)?;
    write_tree(&root, out)?;
    Ok(if report.is_valid() {
        Outcome::Valid
    } else {
        Outcome::Invalid
    })
}

/// The problems validation found, before the tree.
fn write_notes(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let count = report.errors.len();
    if count == 0 {
        return Ok(());
    }
    let plural = if count == 1 { "" } else { "s" };
    if report.is_valid() {
        writeln!(out, "note: valid, with {count} warning{plural}:")?;
    } else {
        writeln!(out, "note: NOT VALID, {count} problem{plural}:")?;
    }
    for problem in &report.errors {
        writeln!(out, "  {}", output::problem_line(problem))?;
    }
    writeln!(out)
}

/// Writes the tree of `root`, one line per element.
pub(crate) fn write_tree(root: &XmlElement, out: &mut impl Write) -> io::Result<()> {
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
) -> io::Result<()> {
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
