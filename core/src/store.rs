//! The [`Store`] the engine writes through: transaction state, the replay cache of responses
//! (§4.5.2.2), and a key-value space for payment bridges with an atomic insert-if-absent.
//!
//! Money-safety contract: the engine calls [`Store::commit`] with the new state of a transaction
//! *and* the response it is about to send, and sends nothing until `commit` has returned `Ok`.
//! A durable store must not return before both are durable, and must apply them atomically.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A failure of the store. The engine answers the message being processed with a
/// TransientError (`SystemBusy`) and changes nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Identifies a transaction record: one per (IotpTransId, trading role) held by the node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TransactionKey {
    /// `TransId/@IotpTransId`.
    pub iotp_trans_id: String,
    /// The trading role this node plays in it (wire spelling, e.g. `PaymentHandler`).
    pub role: String,
}

/// The digest of a received message (SHA-256 of its canonical form, or of its bytes when it
/// could not be read), the key of the replay cache.
pub type MessageDigest = [u8; 32];

/// What the replay cache knows of a message received before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplayEntry {
    /// Being processed since this time (Unix milliseconds): a duplicate gets `MsgBeingProc`.
    InProgress {
        /// When processing began.
        since: i64,
    },
    /// Processed; the response sent (replayed byte for byte to a duplicate), if any.
    Answered {
        /// The saved response, absent when the message needed none.
        response: Option<Vec<u8>>,
    },
}

/// The durable record of one transaction at one role: the engine's state machine, plus every
/// message sent and received in it, in canonical XML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// The key.
    pub key: TransactionKey,
    /// The engine's state, encoded by the engine (JSON). Opaque to the store.
    pub state: String,
    /// Messages of the transaction in the order sent or received.
    pub messages: Vec<StoredMessage>,
    /// When the engine wants to be woken for this transaction (Unix milliseconds).
    pub wake_at: Option<i64>,
    /// True once the transaction has ended (completed, failed, cancelled or errored).
    pub finished: bool,
}

/// A message of a transaction as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// True when this node sent it.
    pub sent: bool,
    /// `MsgId/@ID`.
    pub message_id: String,
    /// Canonical XML (shared, so that saving a transaction does not copy its messages).
    pub xml: std::sync::Arc<str>,
}

/// The engine's durable memory. Implementations must be safe to share between threads.
pub trait Store: Send + Sync {
    /// Reads a transaction record.
    fn load(&self, key: &TransactionKey) -> StoreResult<Option<TransactionRecord>>;

    /// Every record whose `wake_at` is at or before `now`.
    fn due(&self, now: i64) -> StoreResult<Vec<TransactionKey>>;

    /// Reads the replay cache.
    fn replay_get(&self, digest: &MessageDigest) -> StoreResult<Option<ReplayEntry>>;

    /// Marks a message as being processed, atomically, unless it is already known: returns the
    /// existing entry in that case and changes nothing.
    fn replay_begin(&self, digest: &MessageDigest, now: i64) -> StoreResult<Option<ReplayEntry>>;

    /// Forgets a message (after a TransientError, so that a resend is processed afresh).
    fn replay_forget(&self, digest: &MessageDigest) -> StoreResult<()>;

    /// Atomically saves transaction records and replay entries. Durable when it returns.
    fn commit(
        &self,
        records: &[&TransactionRecord],
        replay: &[(MessageDigest, ReplayEntry)],
    ) -> StoreResult<()>;

    /// Reads a bridge's key-value entry.
    fn kv_get(&self, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Writes a bridge's key-value entry. Durable when it returns.
    fn kv_put(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<()>;

    /// Writes an entry only if absent, atomically; `false` when it was present.
    fn kv_insert_if_absent(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<bool>;

    /// Removes an entry.
    fn kv_delete(&self, namespace: &str, key: &str) -> StoreResult<()>;
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn load(&self, key: &TransactionKey) -> StoreResult<Option<TransactionRecord>> {
        (**self).load(key)
    }
    fn due(&self, now: i64) -> StoreResult<Vec<TransactionKey>> {
        (**self).due(now)
    }
    fn replay_get(&self, digest: &MessageDigest) -> StoreResult<Option<ReplayEntry>> {
        (**self).replay_get(digest)
    }
    fn replay_begin(&self, digest: &MessageDigest, now: i64) -> StoreResult<Option<ReplayEntry>> {
        (**self).replay_begin(digest, now)
    }
    fn replay_forget(&self, digest: &MessageDigest) -> StoreResult<()> {
        (**self).replay_forget(digest)
    }
    fn commit(
        &self,
        records: &[&TransactionRecord],
        replay: &[(MessageDigest, ReplayEntry)],
    ) -> StoreResult<()> {
        (**self).commit(records, replay)
    }
    fn kv_get(&self, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        (**self).kv_get(namespace, key)
    }
    fn kv_put(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<()> {
        (**self).kv_put(namespace, key, value)
    }
    fn kv_insert_if_absent(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<bool> {
        (**self).kv_insert_if_absent(namespace, key, value)
    }
    fn kv_delete(&self, namespace: &str, key: &str) -> StoreResult<()> {
        (**self).kv_delete(namespace, key)
    }
}

/// A store in memory, for tests, the in-process demo and benchmarks. Not durable.
///
/// It keeps everything unless made with [`MemoryStore::retaining`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    records: HashMap<TransactionKey, TransactionRecord>,
    replay: HashMap<MessageDigest, ReplayEntry>,
    kv: HashMap<(String, String), Vec<u8>>,
    commits: u64,
    /// How many finished records and answered replay entries to keep, if bounded.
    retain: Option<usize>,
    /// Finished records and answered replay entries, oldest first (when bounded).
    finished: std::collections::VecDeque<TransactionKey>,
    answered: std::collections::VecDeque<MessageDigest>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// An empty store that keeps only the last `finished` records of ended transactions and
    /// as many answered replay entries, forgetting the oldest: for a long-running process
    /// (a benchmark's Consumer) whose memory must not grow with every transaction. Open
    /// transactions and the key-value space are always kept.
    pub fn retaining(finished: usize) -> Self {
        MemoryStore {
            inner: Mutex::new(MemoryInner {
                retain: Some(finished),
                ..MemoryInner::default()
            }),
        }
    }

    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, MemoryInner>> {
        self.inner
            .lock()
            .map_err(|_| StoreError("memory store lock poisoned".into()))
    }

    /// How many commits were made (for tests of the durability contract).
    pub fn commits(&self) -> u64 {
        self.lock().map(|i| i.commits).unwrap_or(0)
    }

    /// Every transaction key held.
    pub fn keys(&self) -> Vec<TransactionKey> {
        let mut keys: Vec<_> = self
            .lock()
            .map(|i| i.records.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

impl MemoryInner {
    /// Keeps the bounded store within its bound.
    fn forget_the_oldest(&mut self) {
        let Some(retain) = self.retain else { return };
        while self.finished.len() > retain {
            if let Some(k) = self.finished.pop_front()
                && self.records.get(&k).is_some_and(|r| r.finished)
            {
                self.records.remove(&k);
            }
        }
        while self.answered.len() > retain {
            if let Some(d) = self.answered.pop_front() {
                self.replay.remove(&d);
            }
        }
    }
}

impl Store for MemoryStore {
    fn load(&self, key: &TransactionKey) -> StoreResult<Option<TransactionRecord>> {
        Ok(self.lock()?.records.get(key).cloned())
    }

    fn due(&self, now: i64) -> StoreResult<Vec<TransactionKey>> {
        let inner = self.lock()?;
        let mut keys: Vec<_> = inner
            .records
            .values()
            .filter(|r| r.wake_at.is_some_and(|t| t <= now))
            .map(|r| r.key.clone())
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn replay_get(&self, digest: &MessageDigest) -> StoreResult<Option<ReplayEntry>> {
        Ok(self.lock()?.replay.get(digest).cloned())
    }

    fn replay_begin(&self, digest: &MessageDigest, now: i64) -> StoreResult<Option<ReplayEntry>> {
        let mut inner = self.lock()?;
        if let Some(existing) = inner.replay.get(digest) {
            return Ok(Some(existing.clone()));
        }
        inner
            .replay
            .insert(*digest, ReplayEntry::InProgress { since: now });
        Ok(None)
    }

    fn replay_forget(&self, digest: &MessageDigest) -> StoreResult<()> {
        self.lock()?.replay.remove(digest);
        Ok(())
    }

    fn commit(
        &self,
        records: &[&TransactionRecord],
        replay: &[(MessageDigest, ReplayEntry)],
    ) -> StoreResult<()> {
        let mut inner = self.lock()?;
        let bounded = inner.retain.is_some();
        for r in records {
            let was_finished = inner.records.get(&r.key).is_some_and(|old| old.finished);
            inner.records.insert(r.key.clone(), (*r).clone());
            if bounded && r.finished && !was_finished {
                inner.finished.push_back(r.key.clone());
            }
        }
        for (d, e) in replay {
            let answered =
                |e: Option<&ReplayEntry>| matches!(e, Some(ReplayEntry::Answered { .. }));
            let before = inner.replay.insert(*d, e.clone());
            if bounded && answered(Some(e)) && !answered(before.as_ref()) {
                inner.answered.push_back(*d);
            }
        }
        inner.commits += 1;
        inner.forget_the_oldest();
        Ok(())
    }

    fn kv_get(&self, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .lock()?
            .kv
            .get(&(namespace.to_owned(), key.to_owned()))
            .cloned())
    }

    fn kv_put(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<()> {
        self.lock()?
            .kv
            .insert((namespace.to_owned(), key.to_owned()), value.to_vec());
        Ok(())
    }

    fn kv_insert_if_absent(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        let k = (namespace.to_owned(), key.to_owned());
        if inner.kv.contains_key(&k) {
            return Ok(false);
        }
        inner.kv.insert(k, value.to_vec());
        Ok(true)
    }

    fn kv_delete(&self, namespace: &str, key: &str) -> StoreResult<()> {
        self.lock()?
            .kv
            .remove(&(namespace.to_owned(), key.to_owned()));
        Ok(())
    }
}

/// The store test suite: every [`Store`] implementation must pass it (the runtime runs it on
/// SQLite and PostgreSQL too). Panics on the first failure, with a message.
pub fn check_store_contract(store: &dyn Store) {
    let key = TransactionKey {
        iotp_trans_id: "contract@example.com".into(),
        role: "Merchant".into(),
    };
    assert_eq!(
        store.load(&key).ok().flatten(),
        None,
        "empty store has no record"
    );
    let record = TransactionRecord {
        key: key.clone(),
        state: "{\"phase\":1}".into(),
        messages: vec![StoredMessage {
            sent: true,
            message_id: "M1".into(),
            xml: std::sync::Arc::from("<IotpMessage/>"),
        }],
        wake_at: Some(1_000),
        finished: false,
    };
    let digest = [7u8; 32];
    assert_eq!(
        store.replay_begin(&digest, 5).ok(),
        Some(None),
        "first begin inserts"
    );
    assert_eq!(
        store.replay_begin(&digest, 6).ok(),
        Some(Some(ReplayEntry::InProgress { since: 5 })),
        "second begin sees the first"
    );
    let answered = ReplayEntry::Answered {
        response: Some(b"<r/>".to_vec()),
    };
    assert!(
        store
            .commit(&[&record], &[(digest, answered.clone())])
            .is_ok()
    );
    assert_eq!(store.load(&key).ok().flatten(), Some(record.clone()));
    assert_eq!(store.replay_get(&digest).ok().flatten(), Some(answered));
    assert_eq!(store.due(999).ok(), Some(vec![]));
    assert_eq!(store.due(1_000).ok(), Some(vec![key.clone()]));
    assert!(store.replay_forget(&digest).is_ok());
    assert_eq!(store.replay_get(&digest).ok().flatten(), None);
    assert_eq!(store.kv_insert_if_absent("b", "k", b"1").ok(), Some(true));
    assert_eq!(store.kv_insert_if_absent("b", "k", b"2").ok(), Some(false));
    assert_eq!(store.kv_get("b", "k").ok().flatten(), Some(b"1".to_vec()));
    assert_eq!(
        store.kv_get("other", "k").ok().flatten(),
        None,
        "namespaces are apart"
    );
    assert!(store.kv_put("b", "k", b"3").is_ok());
    assert_eq!(store.kv_get("b", "k").ok().flatten(), Some(b"3".to_vec()));
    assert!(store.kv_delete("b", "k").is_ok());
    assert_eq!(store.kv_get("b", "k").ok().flatten(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_keeps_the_contract() {
        check_store_contract(&MemoryStore::new());
        check_store_contract(&MemoryStore::retaining(1_000));
    }

    #[test]
    fn a_retaining_memory_store_forgets_the_oldest_finished_and_answered() {
        let store = MemoryStore::retaining(2);
        let record = |id: &str, finished: bool| TransactionRecord {
            key: TransactionKey {
                iotp_trans_id: id.into(),
                role: "Consumer".into(),
            },
            state: "{}".into(),
            messages: Vec::new(),
            wake_at: None,
            finished,
        };
        let answered = ReplayEntry::Answered { response: None };
        // One open transaction, then four that end (one of them committed twice).
        store
            .commit(&[&record("open", false)], &[])
            .expect("commit");
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            let digest = [u8::try_from(i).expect("small"); 32];
            assert_eq!(store.replay_begin(&digest, 1).expect("begin"), None);
            store.commit(&[&record(id, false)], &[]).expect("commit");
            store
                .commit(&[&record(id, true)], &[(digest, answered.clone())])
                .expect("commit");
            store.commit(&[&record(id, true)], &[]).expect("commit");
        }
        let ids: Vec<String> = store.keys().into_iter().map(|k| k.iotp_trans_id).collect();
        assert_eq!(
            ids,
            ["c", "d", "open"],
            "the two last finished, and the open one"
        );
        assert_eq!(store.replay_get(&[0; 32]).expect("get"), None);
        assert_eq!(store.replay_get(&[1; 32]).expect("get"), None);
        assert_eq!(
            store.replay_get(&[2; 32]).expect("get"),
            Some(answered.clone())
        );
        assert_eq!(store.replay_get(&[3; 32]).expect("get"), Some(answered));
    }
}
