//! The node's log: one line per record, `TIME LEVEL NODE: message`, appended to
//! `<data_dir>/node.log`; warnings and errors also go to standard error.
//!
//! Nothing the engine or the plugins pass here holds card data or secrets (DESIGN.md: the
//! engine's events never carry them, and plugins are told not to log them).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use iotp_plugin_host::LogLevel;

/// The node's log. Thread-safe; a failed write is dropped (logging never stops a payment).
#[derive(Debug)]
pub struct Log {
    node: String,
    file: Option<Mutex<File>>,
    level: LogLevel,
    stderr: bool,
}

impl Log {
    /// Appends to `path` (created if missing), keeping records at `level` and above.
    pub fn to_file(node: &str, path: &Path, level: LogLevel) -> std::io::Result<Log> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Log {
            node: node.to_owned(),
            file: Some(Mutex::new(file)),
            level,
            stderr: true,
        })
    }

    /// Standard error only, at `level` and above.
    pub fn to_stderr(node: &str, level: LogLevel) -> Log {
        Log {
            node: node.to_owned(),
            file: None,
            level,
            stderr: true,
        }
    }

    /// Writes a record.
    pub fn write(&self, level: LogLevel, message: &str) {
        if level > self.level {
            return;
        }
        let now = crate::node::now_millis();
        let line = format!(
            "{} {:<5} {}: {}\n",
            iotp::txn::format_timestamp(now),
            level_name(level),
            self.node,
            message.trim_end()
        );
        if let Some(file) = &self.file {
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = file.write_all(line.as_bytes());
        }
        if self.stderr && level <= LogLevel::Warn {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "ERROR",
        LogLevel::Warn => "WARN",
        LogLevel::Info => "INFO",
        LogLevel::Debug => "DEBUG",
    }
}
