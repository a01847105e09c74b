//! The exception hierarchy, and the one place where Rust errors become Python exceptions.
//!
//! ```text
//! IotpError(Exception)            the root
//! ├── ParseError(IotpError, ValueError)     broken or invalid input; `.errors`: the problems
//! ├── ConfigError(IotpError, ValueError)    a node configuration that cannot be used
//! ├── RefusedError(IotpError)               the peer or the engine refused (no such offer, ...)
//! ├── TransportError(IotpError, OSError)    a plugin or the network failed
//! └── TimeoutError(IotpError, TimeoutError) no outcome in time
//! ```

use iotp_plugin_host::ErrorStatus;
use iotp_runtime::NodeError;
use pyo3::exceptions::{PyException, PyOSError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The classes, made once per interpreter.
struct Classes {
    root: Py<PyType>,
    parse: Py<PyType>,
    config: Py<PyType>,
    refused: Py<PyType>,
    transport: Py<PyType>,
    timeout: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// `type(name, bases, {"__doc__": doc, "__module__": "iotp"})`.
fn make(
    py: Python<'_>,
    name: &str,
    bases: &[Bound<'_, PyType>],
    doc: &str,
) -> PyResult<Py<PyType>> {
    let dict = PyDict::new(py);
    dict.set_item("__doc__", doc)?;
    dict.set_item("__module__", "iotp")?;
    let bases = PyTuple::new(py, bases)?;
    let class = py
        .get_type::<PyType>()
        .call1((name, bases, dict))?
        .cast_into::<PyType>()?;
    Ok(class.unbind())
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let root = make(
            py,
            "IotpError",
            &[py.get_type::<PyException>()],
            "The root of every error the iotp package raises.",
        )?;
        let r = root.bind(py).clone();
        Ok(Classes {
            parse: make(
                py,
                "ParseError",
                &[r.clone(), py.get_type::<PyValueError>()],
                "Broken or invalid IOTP input; `errors` lists the problems (ValidationError).",
            )?,
            config: make(
                py,
                "ConfigError",
                &[r.clone(), py.get_type::<PyValueError>()],
                "A node configuration that cannot be used; the message names the setting.",
            )?,
            refused: make(
                py,
                "RefusedError",
                std::slice::from_ref(&r),
                "Refused: no such offer, a request the RFC does not allow now, an answer that \
                 starts nothing.",
            )?,
            transport: make(
                py,
                "TransportError",
                &[r.clone(), py.get_type::<PyOSError>()],
                "A plugin, the store or the network failed.",
            )?,
            timeout: make(
                py,
                "TimeoutError",
                &[r, py.get_type::<PyTimeoutError>()],
                "No outcome within the time given.",
            )?,
            root,
        })
    })
}

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let c = classes(py)?;
    m.add("IotpError", c.root.bind(py))?;
    m.add("ParseError", c.parse.bind(py))?;
    m.add("ConfigError", c.config.bind(py))?;
    m.add("RefusedError", c.refused.bind(py))?;
    m.add("TransportError", c.transport.bind(py))?;
    m.add("TimeoutError", c.timeout.bind(py))?;
    Ok(())
}

/// What went wrong, in the terms of the exception hierarchy.
pub(crate) enum Failure {
    /// Broken input, with its problems (Python `ValidationError`s).
    Parse(String, Vec<Py<PyAny>>),
    /// A configuration.
    Config(String),
    /// A refusal.
    Refused(String),
    /// A plugin, store or network failure.
    Transport(String),
    /// No outcome in time.
    Timeout(String),
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        let message = e.to_string();
        match e {
            NodeError::Config(_) | NodeError::Plugin { .. } | NodeError::NoTransport(_) => {
                Failure::Config(message)
            }
            NodeError::Storage { .. } | NodeError::Call(_) | NodeError::ShuttingDown => {
                Failure::Transport(message)
            }
            NodeError::Engine(_) | NodeError::Refused(_) => Failure::Refused(message),
            NodeError::TimedOut(_) => Failure::Timeout(message),
        }
    }
}

impl From<ErrorStatus> for Failure {
    fn from(status: ErrorStatus) -> Self {
        let message = format!("the node answered {status}");
        match status {
            ErrorStatus::Refused => Failure::Refused(message),
            ErrorStatus::BadDocument | ErrorStatus::BadArgument => {
                Failure::Parse(message, Vec::new())
            }
            _ => Failure::Transport(message),
        }
    }
}

/// The one place a failure becomes a Python exception.
pub(crate) fn raise(py: Python<'_>, failure: impl Into<Failure>) -> PyErr {
    let c = match classes(py) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let (class, message, errors) = match failure.into() {
        Failure::Parse(m, errors) => (&c.parse, m, Some(errors)),
        Failure::Config(m) => (&c.config, m, None),
        Failure::Refused(m) => (&c.refused, m, None),
        Failure::Transport(m) => (&c.transport, m, None),
        Failure::Timeout(m) => (&c.timeout, m, None),
    };
    match class.bind(py).call1((message,)) {
        Ok(instance) => {
            if let Some(errors) = errors
                && let Err(e) = instance.setattr("errors", errors)
            {
                return e;
            }
            PyErr::from_value(instance)
        }
        Err(e) => e,
    }
}
