//! Messages: `validate`, `parse`, `Message` (the typed model's identity and its canonical
//! form), `Element` (a navigable tree of the message), `ValidationError`.
//!
//! `validate` and `parse` read without the GIL whatever the size: giving it up and taking it back
//! costs about 30 ns, a 6 KB read about 20 µs, and a document at the 4 MiB limit milliseconds.

use std::sync::{Arc, OnceLock};

use iotp::xml::{XmlElement, XmlNode};
use iotp::{ErrorCode, IotpMessage, Limits, Report, Severity};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::errors::{Failure, raise};

/// One problem found in a document: the RFC 2801 §7.21.2 code, its severity, where it is.
///
/// It holds the core's problem as it is, moved out of the report: making one costs a Python
/// object and no copies, and the Python strings are made when an attribute is read (the code and
/// severity, from small fixed lists, are made once per interpreter). A document with many
/// problems is mostly rejected without anyone reading them.
#[pyclass(module = "iotp", frozen)]
pub(crate) struct ValidationError(iotp::ValidationError);

#[pymethods]
impl ValidationError {
    /// The error code (`AttMissing`, `ElUnexpected`, ...).
    #[getter]
    fn code<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        let code = &self.0.code;
        match ErrorCode::ALL.iter().position(|c| c == code) {
            Some(i) => KNOWN_CODES
                .get_or_init(py, || {
                    ErrorCode::ALL
                        .iter()
                        .map(|c| PyString::intern(py, c.as_str()).unbind())
                        .collect()
                })
                .get(i)
                .map_or_else(|| PyString::new(py, code.as_str()), |s| s.bind(py).clone()),
            None => PyString::new(py, code.as_str()),
        }
    }

    /// `HardError`, `TransientError` or `Warning`.
    #[getter]
    fn severity<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match self.0.severity {
            Severity::HardError => intern!(py, "HardError").clone(),
            Severity::TransientError => intern!(py, "TransientError").clone(),
            Severity::Warning => intern!(py, "Warning").clone(),
            Severity::Other(ref s) => PyString::new(py, s),
        }
    }

    /// The element type where it is.
    #[getter]
    fn element(&self) -> &str {
        &self.0.location.element_type
    }

    /// The attribute, when the problem is an attribute's.
    #[getter]
    fn attribute(&self) -> Option<&str> {
        self.0.location.att_name.as_deref()
    }

    /// The 1-based line, when known.
    #[getter]
    fn line(&self) -> Option<u32> {
        self.0.line
    }

    /// A description for people.
    #[getter]
    fn message(&self) -> &str {
        &self.0.message
    }

    /// True unless the severity is `Warning` (a message with warnings only is valid).
    #[getter]
    fn is_error(&self) -> bool {
        self.0.is_error()
    }

    fn __repr__(&self) -> String {
        let e = &self.0;
        let attribute = e
            .location
            .att_name
            .as_ref()
            .map_or_else(|| "None".to_owned(), |a| format!("{a:?}"));
        let line = e.line.map_or_else(|| "None".to_owned(), |l| l.to_string());
        format!(
            "ValidationError(code={:?}, severity={:?}, element={:?}, attribute={attribute}, \
             line={line}, message={:?})",
            e.code.as_str(),
            e.severity.as_str(),
            e.location.element_type,
            e.message
        )
    }
}

/// The codes of §7.21.2 as Python strings, in the order of `ErrorCode::ALL`.
static KNOWN_CODES: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

/// The report's problems as `ValidationError`s, in order (moved, not copied).
fn problems(py: Python<'_>, errors: Vec<iotp::ValidationError>) -> PyResult<Vec<Py<PyAny>>> {
    errors
        .into_iter()
        .map(|e| Ok(Py::new(py, ValidationError(e))?.into_any()))
        .collect()
}

/// Every problem of a document (empty: valid, without warnings). The verdicts and codes are
/// `iotp validate`'s: the document is valid when no problem is an error (`is_error`).
#[pyfunction]
fn validate(py: Python<'_>, data: &[u8]) -> PyResult<Vec<Py<PyAny>>> {
    let report = py.detach(|| Report::read(data, &Limits::default()));
    problems(py, report.errors)
}

/// Reads and validates a message; raises `ParseError` (with `.errors`) unless it is valid.
#[pyfunction]
fn parse(py: Python<'_>, data: &[u8]) -> PyResult<Message> {
    let report = py.detach(|| Report::read(data, &Limits::default()));
    if report.is_valid()
        && let Some(message) = report.message
    {
        return Ok(Message {
            message: Arc::new(message),
            tree: OnceLock::new(),
        });
    }
    // "<code> <element>: <description>" of the first error.
    let first = match report.errors.iter().find(|e| e.is_error()) {
        Some(e) => {
            let (code, element) = (e.code.as_str(), e.location.element_type.as_str());
            let mut first = String::with_capacity(code.len() + element.len() + e.message.len() + 3);
            for part in [code, " ", element, ": ", &e.message] {
                first.push_str(part);
            }
            first
        }
        None => "not an IOTP message".to_owned(),
    };
    let errors = problems(py, report.errors)?;
    Err(raise(py, Failure::Parse(first, errors)))
}

/// A valid IOTP message.
#[pyclass(module = "iotp", frozen)]
pub(crate) struct Message {
    message: Arc<IotpMessage>,
    tree: OnceLock<Arc<XmlElement>>,
}

impl Message {
    fn tree(&self) -> PyResult<Arc<XmlElement>> {
        if let Some(tree) = self.tree.get() {
            return Ok(tree.clone());
        }
        let xml = self.message.to_xml();
        let tree = iotp::xml::parse_tree(xml.as_bytes(), &Limits::default())
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(self.tree.get_or_init(|| Arc::new(tree)).clone())
    }
}

#[pymethods]
impl Message {
    /// `TransId/@IotpTransId`.
    #[getter]
    fn iotp_trans_id(&self) -> &str {
        self.message.iotp_trans_id()
    }

    /// `TransId/@IotpTransType` (`BaselinePurchase`, ...).
    #[getter]
    fn trans_type(&self) -> String {
        self.message
            .trans_ref
            .transaction_id
            .iotp_trans_type
            .to_string()
    }

    /// `MsgId/@ID`.
    #[getter]
    fn message_id(&self) -> &str {
        self.message.message_id()
    }

    /// The wire tags of its trading blocks, in order (`TpoBlk`, `OfferRespBlk`, ...).
    #[getter]
    fn block_tags(&self) -> Vec<&'static str> {
        self.message.blocks.iter().map(|b| b.tag()).collect()
    }

    /// The whole message as a tree (`IotpMessage` at the root).
    #[getter]
    fn root(&self) -> PyResult<Element> {
        Ok(Element { node: self.tree()? })
    }

    /// The trading blocks as trees, in order.
    #[getter]
    fn blocks(&self) -> PyResult<Vec<Element>> {
        let tags = self.block_tags();
        let tree = self.tree()?;
        Ok(children(&tree)
            .filter(|c| tags.contains(&c.name.as_str()))
            .map(|c| Element {
                node: Arc::new(c.clone()),
            })
            .collect())
    }

    /// The canonical form (the bytes `iotp fmt` writes).
    fn to_xml<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.message.to_xml().as_bytes())
    }

    fn __repr__(&self) -> String {
        format!(
            "Message(iotp_trans_id={:?}, message_id={:?}, blocks={:?})",
            self.message.iotp_trans_id(),
            self.message.message_id(),
            self.block_tags()
        )
    }
}

fn children(node: &XmlElement) -> impl Iterator<Item = &XmlElement> {
    node.children.iter().filter_map(|c| match c {
        XmlNode::Element(e) => Some(e),
        XmlNode::Text(_) => None,
    })
}

/// An element of a message: tag, attributes, children, text.
#[pyclass(module = "iotp", frozen)]
#[derive(Clone)]
pub(crate) struct Element {
    node: Arc<XmlElement>,
}

#[pymethods]
impl Element {
    /// The element type (`Brand`, `PackagedContent`, ...).
    #[getter]
    fn tag(&self) -> &str {
        &self.node.name
    }

    /// Its attributes (namespace declarations included).
    #[getter]
    fn attributes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.node.attributes {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// An attribute's value, or `default`.
    #[pyo3(signature = (name, default=None))]
    fn get(&self, name: &str, default: Option<String>) -> Option<String> {
        self.node.attribute(name).map(str::to_owned).or(default)
    }

    /// The `ID` attribute, if any.
    #[getter]
    fn id(&self) -> Option<&str> {
        self.node.attribute("ID")
    }

    /// The text directly inside it.
    #[getter]
    fn text(&self) -> String {
        self.node.text()
    }

    /// Its child elements, in order.
    #[getter]
    fn children(&self) -> Vec<Element> {
        children(&self.node)
            .map(|c| Element {
                node: Arc::new(c.clone()),
            })
            .collect()
    }

    /// The first descendant (depth first) with this tag, or None.
    fn find(&self, tag: &str) -> Option<Element> {
        fn walk<'a>(node: &'a XmlElement, tag: &str) -> Option<&'a XmlElement> {
            children(node).find_map(|c| if c.name == tag { Some(c) } else { walk(c, tag) })
        }
        walk(&self.node, tag).map(|e| Element {
            node: Arc::new(e.clone()),
        })
    }

    /// Every descendant with this tag, in document order.
    fn findall<'py>(&self, py: Python<'py>, tag: &str) -> PyResult<Bound<'py, PyList>> {
        fn walk<'a>(node: &'a XmlElement, tag: &str, out: &mut Vec<&'a XmlElement>) {
            for c in children(node) {
                if c.name == tag {
                    out.push(c);
                }
                walk(c, tag, out);
            }
        }
        let mut found = Vec::new();
        walk(&self.node, tag, &mut found);
        PyList::new(
            py,
            found.into_iter().map(|e| Element {
                node: Arc::new(e.clone()),
            }),
        )
    }

    fn __len__(&self) -> usize {
        children(&self.node).count()
    }

    fn __repr__(&self) -> String {
        match self.node.attribute("ID") {
            Some(id) => format!("<Element {} ID={id:?}>", self.node.name),
            None => format!("<Element {}>", self.node.name),
        }
    }
}

/// Adds the functions and classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(parse, m)?)?;
    m.add_class::<Message>()?;
    m.add_class::<Element>()?;
    m.add_class::<ValidationError>()?;
    Ok(())
}
