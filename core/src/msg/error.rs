//! Problems found in a message, each carrying what an `ErrorComp` needs (§7.21).

use std::fmt;

use super::codes::{ErrorCode, Severity};
use super::model::{ErrorComponent, ErrorLocation, PackagedContent};

/// One problem found while reading or validating a message: the most specific §7.21.2 code,
/// its severity, where it is (as an `ErrorLocation`), the line, and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The §7.21.2 error code.
    pub code: ErrorCode,
    /// How serious it is.
    pub severity: Severity,
    /// Where it is: element type, message/block/component/element references, attribute.
    pub location: ErrorLocation,
    /// The 1-based line in the document, when known.
    pub line: Option<u32>,
    /// A description for people (the ErrorComp's `ErrorDesc`).
    pub message: String,
    /// The offending attribute value, or the name of what is missing; goes into the
    /// ErrorComp's PackagedContent as §7.21.1 asks.
    pub value: Option<String>,
    /// Byte offset in the document, used to compute `line`.
    pub(crate) offset: Option<usize>,
}

impl ValidationError {
    /// A hard error.
    pub fn hard(code: ErrorCode, location: ErrorLocation, message: impl Into<String>) -> Self {
        ValidationError {
            code,
            severity: Severity::HardError,
            location,
            line: None,
            message: message.into(),
            value: None,
            offset: None,
        }
    }

    /// A warning.
    pub fn warning(code: ErrorCode, location: ErrorLocation, message: impl Into<String>) -> Self {
        ValidationError {
            severity: Severity::Warning,
            ..ValidationError::hard(code, location, message)
        }
    }

    /// The same problem with the offending value (or the missing name) attached.
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    pub(crate) fn at(mut self, offset: Option<usize>) -> Self {
        self.offset = offset;
        self
    }

    /// True unless the problem is only a warning.
    pub fn is_error(&self) -> bool {
        !matches!(self.severity, Severity::Warning)
    }

    /// The Error Component reporting this problem, with the given ID and language.
    pub fn to_error_component(
        &self,
        id: impl Into<String>,
        lang: impl Into<String>,
    ) -> ErrorComponent {
        ErrorComponent {
            id: id.into(),
            lang: lang.into(),
            error_code: self.code.clone(),
            error_desc: self.message.clone(),
            severity: self.severity.clone(),
            min_retry_secs: None,
            sw_vendor_error_ref: None,
            error_locations: vec![self.location.clone()],
            packaged_contents: self
                .value
                .iter()
                .map(|v| PackagedContent::text(v.clone()))
                .collect(),
            ..ErrorComponent::default()
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(
            f,
            "{} {}: {}",
            self.severity, self.code, self.location.element_type
        )?;
        if let Some(att) = &self.location.att_name {
            write!(f, "/@{att}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ValidationError {}

/// The concatenation of `parts`, allocated once: for the messages of frequent problems, where
/// `format!` costs several times as much.
pub(crate) fn cat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}
