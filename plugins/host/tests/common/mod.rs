//! Shared by the host's tests: C test plugins built on demand, and host services that record
//! what plugins ask of them.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use iotp_plugin_host::testing::{compile_c_plugin, testdata_dir};
use iotp_plugin_host::{ErrorStatus, HostServices, LogLevel};

/// Builds `plugins/testdata/<source>.c` with `defines` into a library named `name` of its
/// own (a loaded library is never unloaded, so every variant gets its own file).
pub fn build(source: &str, name: &str, defines: &[&str]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("iotp-plugin-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join(format!("lib{name}.so"));
    compile_c_plugin(
        &testdata_dir().join(format!("{source}.c")),
        defines,
        &output,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    output
}

/// The clock of [`Recorder`].
pub const NOW: i64 = 1_700_000_000_123;

/// The CallBack response of [`Recorder`].
pub const CALLBACK_RESPONSE: &str =
    "<IotpPaymentApiResponse><CallBackResponse/></IotpPaymentApiResponse>";

/// Host services that keep a key-value map in memory and record logs and CallBacks; a fixed
/// clock; random bytes all 0xA5; `kv_put` of the key "panic" panics.
#[derive(Debug, Default)]
pub struct Recorder {
    pub kv: Mutex<BTreeMap<String, Vec<u8>>>,
    pub logs: Mutex<Vec<(LogLevel, String)>>,
    pub callbacks: Mutex<Vec<Vec<u8>>>,
}

impl Recorder {
    pub fn shared() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.kv.lock().unwrap().get(key).cloned()
    }
}

impl HostServices for Recorder {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ErrorStatus> {
        Ok(self.value(key))
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ErrorStatus> {
        assert_ne!(key, "panic", "a host service panics");
        self.kv
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn kv_insert_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, ErrorStatus> {
        let mut kv = self.kv.lock().unwrap();
        if kv.contains_key(key) {
            return Ok(false);
        }
        kv.insert(key.to_owned(), value.to_vec());
        Ok(true)
    }

    fn kv_delete(&self, key: &str) -> Result<(), ErrorStatus> {
        self.kv.lock().unwrap().remove(key);
        Ok(())
    }

    fn callback(&self, document: &[u8]) -> Result<Vec<u8>, ErrorStatus> {
        self.callbacks.lock().unwrap().push(document.to_vec());
        Ok(CALLBACK_RESPONSE.as_bytes().to_vec())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logs.lock().unwrap().push((level, message.to_owned()));
    }

    fn now_unix_millis(&self) -> i64 {
        NOW
    }

    fn random(&self, out: &mut [u8]) {
        out.fill(0xA5);
    }
}
