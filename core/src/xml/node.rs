//! A generic element tree, for content the IOTP DTD leaves open: extension elements from other
//! namespaces (§3.6) and the `ANY` content of signature elements (RFC 2802).

/// An element kept as it was read: name, attributes in document order, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlElement {
    /// The qualified name as written (`prefix:local` or `local`).
    pub name: String,
    /// Attributes in document order, values after XML normalisation, namespace declarations
    /// included.
    pub attributes: Vec<(String, String)>,
    /// Child nodes in document order.
    pub children: Vec<XmlNode>,
}

/// A node of generic content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlNode {
    /// An element.
    Element(XmlElement),
    /// Character data (text and CDATA sections merged, references expanded).
    Text(String),
}

impl XmlElement {
    /// The value of an attribute, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The concatenated text of the direct text children.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                XmlNode::Text(t) => Some(t.as_str()),
                XmlNode::Element(_) => None,
            })
            .collect()
    }

    /// The element as an XML fragment (no declaration), written by the canonical writer:
    /// attributes in the order held, only the necessary escapes. [`super::parse_tree`] reads it
    /// back to an equal element. For payment schemes that carry their own XML documents in
    /// PackagedContent (SCCD's ECML).
    pub fn to_xml(&self) -> String {
        let mut w = super::writer::XmlWriter::default();
        w.element(self);
        w.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_element_written_reads_back_equal() {
        let e = XmlElement {
            name: "Ecom".into(),
            attributes: vec![("Note".into(), "a \"<b>\" & 'c'".into())],
            children: vec![
                XmlNode::Element(XmlElement {
                    name: "Card".into(),
                    attributes: vec![("Type".into(), "VISA".into())],
                    children: Vec::new(),
                }),
                XmlNode::Text("x < y & z".into()),
            ],
        };
        let xml = e.to_xml();
        assert!(!xml.starts_with("<?xml"), "{xml}");
        let back = crate::xml::parse_tree(xml.as_bytes(), &crate::Limits::default());
        assert_eq!(back.ok(), Some(e));
    }
}
