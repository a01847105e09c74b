//! The node's log: one line per record, `TIME LEVEL NODE: message`, appended to
//! `<data_dir>/node.log`; warnings and errors also go to standard error. An embedding
//! application may also see every record through a [`LogSink`] (`NodeApps::log`; the C ABI's
//! log callback).
//!
//! Nothing the engine or the plugins pass here holds card data or secrets (DESIGN.md: the
//! engine's events never carry them, and plugins are told not to log them).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use iotp_plugin_host::LogLevel;

/// Sees every record the node logs (at the log's level and above), with the message alone (no
/// time, level or node name). Called on the thread that logs; must be quick, and must not
/// call back into the node. (The plugin host's sink type: one type for both.)
pub use iotp_plugin_host::LogSink;

/// The node's log. Thread-safe; a failed write is dropped (logging never stops a payment).
pub struct Log {
    node: String,
    file: Option<Mutex<File>>,
    level: LogLevel,
    stderr: bool,
    sink: Option<LogSink>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("node", &self.node)
            .field("file", &self.file)
            .field("level", &self.level)
            .field("stderr", &self.stderr)
            .field("sink", &self.sink.is_some())
            .finish()
    }
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
            sink: None,
        })
    }

    /// Standard error only, at `level` and above.
    pub fn to_stderr(node: &str, level: LogLevel) -> Log {
        Log {
            node: node.to_owned(),
            file: None,
            level,
            stderr: true,
            sink: None,
        }
    }

    /// The same log, each record also handed to `sink` (none: unchanged).
    pub fn with_sink(mut self, sink: Option<LogSink>) -> Log {
        self.sink = sink;
        self
    }

    /// Writes a record.
    pub fn write(&self, level: LogLevel, message: &str) {
        if level > self.level {
            return;
        }
        if let Some(sink) = &self.sink {
            sink(level, message.trim_end());
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_sink_sees_the_records_at_the_log_level() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink: LogSink = {
            let seen = seen.clone();
            Arc::new(move |level, message: &str| {
                seen.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((level, message.to_owned()));
            })
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::to_file("n", &dir.path().join("node.log"), LogLevel::Info)
            .expect("open")
            .with_sink(Some(sink));
        log.write(LogLevel::Info, "started\n");
        log.write(LogLevel::Debug, "not kept");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, vec![(LogLevel::Info, "started".to_owned())]);
        let file = std::fs::read_to_string(dir.path().join("node.log")).expect("read");
        assert!(file.contains("INFO  n: started"), "{file}");
    }
}
