//! [`SqliteStore`]: the engine's [`Store`] in one SQLite file (rusqlite, SQLite bundled).
//!
//! # Money-safety
//!
//! The engine sends a response only after [`Store::commit`] has returned `Ok` for the state
//! that produced it. This store keeps that promise with `journal_mode=WAL` and a sync of the
//! write-ahead log of its own: a durable write ([`Store::commit`], `kv_*`) returns `Ok` only
//! after `fdatasync` of the log has completed *after* the write's SQLite transaction committed,
//! so what it wrote survives a crash of the process *and* a loss of power.
//!
//! SQLite itself runs with `synchronous=NORMAL` (it syncs the log before each checkpoint, never
//! at a commit), and the store syncs the log outside the writer connection's lock: the next
//! group of writes is written while the previous one is being synced, and one sync covers
//! every group committed before it began. (SQLite's `synchronous=FULL` syncs inside `COMMIT`,
//! with the connection held.) Until its sync completes, nothing a group wrote is shown to
//! anyone: a lookup that read a record or key-value entry of a group not yet synced waits for
//! that sync before it returns (the store keeps the keys of unsynced groups), and a saved
//! response is hidden by its message's "in progress" mark, which is dropped only once the
//! response is durable. If a sync fails, the store fails every write and lookup from then on
//! (the file's state is then unknown): nothing written since the last good sync is
//! acknowledged. [`SqliteStore::open`] checks that the settings took effect and refuses the
//! file otherwise. The log is synced through a handle of its own on `<file>-wal`, opened once
//! SQLite has created the log; SQLite removes the log only when the last connection closes,
//! and the store holds its connections for its life.
//!
//! [`Store::commit`] writes every record and replay entry it is given in one
//! `BEGIN IMMEDIATE` transaction: all of it is written, or (on any error) none of it.
//! The single-row operations are each one SQLite transaction. `kv_*` writes are durable when
//! they return (a scheme may log an intent before calling out). The replay cache's "in
//! progress" marks (`replay_begin`, `replay_forget`) are kept in memory, beside the durable
//! "answered" entries: nothing is acknowledged on a mark, a mark cannot outlive the process
//! that processes its message (one node owns its file), and a message whose processing a crash
//! interrupted must be processed afresh when it is sent again, not told `MsgBeingProc`. (Files
//! written by earlier versions may hold "in progress" rows; opening the file removes them.)
//!
//! One node owns its file: opening it takes an exclusive advisory lock on `<file>.lock` for
//! the life of the store, and a second store on the same file (in this process or another) is
//! refused with an error. One connection serves the node: lookups share it with the group
//! commits, and wait only while a group is being written, never while one is being synced
//! (the sync runs outside the connection's lock); its page cache stays valid from one
//! transaction to the next. The key-value entries written last ([`KV_RECENT_ENTRIES`]) are
//! also kept in memory, written through by the group commit: a scheme reading back what it
//! just wrote (its payment's record, at every call of a payment) does not go to the file. A
//! second connection, on a thread of its own, checkpoints the log
//! into the file ([`CHECKPOINT_GROUPS`]) while the first goes on: SQLite's own checkpoints
//! would run inside a commit, holding the connection for milliseconds. It copies the last
//! frames with the first connection held for a moment, so that the copy reaches the log's end
//! and the next write starts the log again from its beginning: the log stays as large as one
//! round of groups, and is rewritten in place.
//!
//! # Schema
//!
//! The schema version is `PRAGMA user_version`; the file is marked as an IOTP store with
//! `PRAGMA application_id` (`0x494F5450`, "IOTP"). [`MIGRATIONS`] holds the ordered steps;
//! opening a file applies the missing ones in one transaction. A file whose version is newer
//! than this build knows, that belongs to another application, or that holds tables but no
//! IOTP schema, is refused with a [`StoreError`] and left untouched.
//!
//! Version 1:
//!
//! ```sql
//! transactions (iotp_trans_id TEXT, role TEXT, state TEXT, wake_at INTEGER NULL,
//!               finished INTEGER, PRIMARY KEY (iotp_trans_id, role))
//!     + index on wake_at (partial: rows that want waking)
//! messages     (iotp_trans_id, role, seq INTEGER, sent INTEGER, message_id TEXT, xml TEXT,
//!               PRIMARY KEY (iotp_trans_id, role, seq), FOREIGN KEY -> transactions)
//! replay       (digest BLOB PRIMARY KEY (32 bytes), kind 'in_progress'|'answered',
//!               since INTEGER NULL, response BLOB NULL)
//! kv           (namespace TEXT, key TEXT, value BLOB, PRIMARY KEY (namespace, key))
//! ```
//!
//! Version 2: `transactions`, `messages` and `replay` as above, but rowid tables (their rows
//! are large; in a WITHOUT ROWID table every lookup compared, and so read, whole rows).
//!
//! Version 3 (fewer pages written per commit: a fifth fewer at a Payment Handler):
//!
//! ```sql
//! transactions (id INTEGER PRIMARY KEY, iotp_trans_id TEXT, role TEXT, state TEXT,
//!               wake_at INTEGER NULL, finished INTEGER, UNIQUE (iotp_trans_id, role))
//!     + index on wake_at (partial: rows that want waking)
//! messages     (id INTEGER PRIMARY KEY = transaction id * 2^20 + seq, sent INTEGER,
//!               message_id TEXT, xml TEXT)
//! replay       (digest BLOB PRIMARY KEY (32 bytes), response BLOB NULL,
//!               message INTEGER NULL -> messages.id) WITHOUT ROWID
//! kv           as in version 1
//!     + a trigger: deleting a transaction deletes its messages and the replay entries that
//!       name them
//! ```
//!
//! A record's messages are stored by position (`seq` from 0, at most 2^20 of them), keyed by
//! their transaction's row, so they need no index of their own. A commit writes only the
//! messages that differ from what is stored (in practice: the new ones at the end) and
//! removes any beyond the committed list, so [`Store::load`] returns exactly the list last
//! committed while an ordinary commit costs one row per new message. A saved response that
//! is one of the messages its commit sends (the usual case) names that message instead of
//! holding a second copy of it.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use iotp::store::{
    MessageDigest, ReplayEntry, Store, StoreError, StoreResult, StoredMessage, TransactionKey,
    TransactionRecord,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// `PRAGMA application_id` of an IOTP store: "IOTP" in ASCII.
pub const APPLICATION_ID: i64 = 0x494F_5450;

/// How long a statement waits for another connection's lock on the file before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The shortest time between two syncs of the log: a durable write that comes sooner after the
/// last sync waits for the rest of it, so that the writes of that time share one sync.
pub const SYNC_INTERVAL: Duration = Duration::from_micros(400);

/// How many prepared statements a store's connection keeps.
const STATEMENT_CACHE: usize = 32;

/// The page cache of a store's connection, in KiB (8 MiB).
pub const CACHE_KIB: i64 = 8 * 1024;

/// The schema, one step per version: step `i` takes the file from version `i` to `i + 1`.
/// Steps are only ever appended; a released step is never edited.
pub const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE transactions (
        iotp_trans_id TEXT NOT NULL,
        role          TEXT NOT NULL,
        state         TEXT NOT NULL,
        wake_at       INTEGER,
        finished      INTEGER NOT NULL CHECK (finished IN (0, 1)),
        PRIMARY KEY (iotp_trans_id, role)
    ) WITHOUT ROWID;
    CREATE INDEX transactions_wake_at ON transactions (wake_at) WHERE wake_at IS NOT NULL;
    CREATE TABLE messages (
        iotp_trans_id TEXT NOT NULL,
        role          TEXT NOT NULL,
        seq           INTEGER NOT NULL CHECK (seq >= 0),
        sent          INTEGER NOT NULL CHECK (sent IN (0, 1)),
        message_id    TEXT NOT NULL,
        xml           TEXT NOT NULL,
        PRIMARY KEY (iotp_trans_id, role, seq),
        FOREIGN KEY (iotp_trans_id, role) REFERENCES transactions (iotp_trans_id, role)
            ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE replay (
        digest   BLOB PRIMARY KEY CHECK (length(digest) = 32),
        kind     TEXT NOT NULL CHECK (kind IN ('in_progress', 'answered')),
        since    INTEGER,
        response BLOB,
        CHECK ((kind = 'in_progress' AND since IS NOT NULL AND response IS NULL)
            OR (kind = 'answered' AND since IS NULL))
    ) WITHOUT ROWID;
    CREATE TABLE kv (
        namespace TEXT NOT NULL,
        key       TEXT NOT NULL,
        value     BLOB NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;",
    // Version 2: the tables whose rows are large (a transaction's state, messages, saved
    // responses) become rowid tables. In a WITHOUT ROWID table the whole row is the b-tree's
    // key, so a lookup read the overflow pages of every row it compared on its way.
    "CREATE TABLE transactions_v2 (
        iotp_trans_id TEXT NOT NULL,
        role          TEXT NOT NULL,
        state         TEXT NOT NULL,
        wake_at       INTEGER,
        finished      INTEGER NOT NULL CHECK (finished IN (0, 1)),
        PRIMARY KEY (iotp_trans_id, role)
    );
    INSERT INTO transactions_v2 (iotp_trans_id, role, state, wake_at, finished)
        SELECT iotp_trans_id, role, state, wake_at, finished FROM transactions;
    CREATE TABLE messages_v2 (
        iotp_trans_id TEXT NOT NULL,
        role          TEXT NOT NULL,
        seq           INTEGER NOT NULL CHECK (seq >= 0),
        sent          INTEGER NOT NULL CHECK (sent IN (0, 1)),
        message_id    TEXT NOT NULL,
        xml           TEXT NOT NULL,
        PRIMARY KEY (iotp_trans_id, role, seq),
        FOREIGN KEY (iotp_trans_id, role) REFERENCES transactions_v2 (iotp_trans_id, role)
            ON DELETE CASCADE
    );
    INSERT INTO messages_v2 (iotp_trans_id, role, seq, sent, message_id, xml)
        SELECT iotp_trans_id, role, seq, sent, message_id, xml FROM messages;
    DROP TABLE messages;
    DROP TABLE transactions;
    ALTER TABLE transactions_v2 RENAME TO transactions;
    ALTER TABLE messages_v2 RENAME TO messages;
    CREATE INDEX transactions_wake_at ON transactions (wake_at) WHERE wake_at IS NOT NULL;
    CREATE TABLE replay_v2 (
        digest   BLOB PRIMARY KEY CHECK (length(digest) = 32),
        kind     TEXT NOT NULL CHECK (kind IN ('in_progress', 'answered')),
        since    INTEGER,
        response BLOB,
        CHECK ((kind = 'in_progress' AND since IS NOT NULL AND response IS NULL)
            OR (kind = 'answered' AND since IS NULL))
    );
    INSERT INTO replay_v2 (digest, kind, since, response)
        SELECT digest, kind, since, response FROM replay;
    DROP TABLE replay;
    ALTER TABLE replay_v2 RENAME TO replay;",
    // Version 3: a transaction's messages are keyed by its row (`id * 2^20 + seq`), so a commit
    // adds no index entries for them; a saved response that is one of the sent messages of its
    // commit names that message rather than holding a second copy, which leaves the replay
    // cache's rows small: one WITHOUT ROWID b-tree again, keyed by digest. Its "in progress"
    // rows (no longer written since marks live in memory) are dropped. A transaction with
    // 2^20 messages or more cannot be keyed this way: the step then fails, changing nothing.
    "CREATE TEMP TABLE v3_seq_check (seq INTEGER CHECK (seq < 1048576));
    INSERT INTO v3_seq_check SELECT seq FROM messages;
    DROP TABLE v3_seq_check;
    CREATE TABLE transactions_v3 (
        id            INTEGER PRIMARY KEY,
        iotp_trans_id TEXT NOT NULL,
        role          TEXT NOT NULL,
        state         TEXT NOT NULL,
        wake_at       INTEGER,
        finished      INTEGER NOT NULL CHECK (finished IN (0, 1)),
        UNIQUE (iotp_trans_id, role)
    );
    INSERT INTO transactions_v3 (iotp_trans_id, role, state, wake_at, finished)
        SELECT iotp_trans_id, role, state, wake_at, finished FROM transactions;
    CREATE TABLE messages_v3 (
        id         INTEGER PRIMARY KEY,
        sent       INTEGER NOT NULL CHECK (sent IN (0, 1)),
        message_id TEXT NOT NULL,
        xml        TEXT NOT NULL
    );
    INSERT INTO messages_v3 (id, sent, message_id, xml)
        SELECT t.id * 1048576 + m.seq, m.sent, m.message_id, m.xml
        FROM messages m JOIN transactions_v3 t
            ON t.iotp_trans_id = m.iotp_trans_id AND t.role = m.role;
    DROP TABLE messages;
    DROP TABLE transactions;
    ALTER TABLE transactions_v3 RENAME TO transactions;
    ALTER TABLE messages_v3 RENAME TO messages;
    CREATE INDEX transactions_wake_at ON transactions (wake_at) WHERE wake_at IS NOT NULL;
    CREATE TABLE replay_v3 (
        digest   BLOB PRIMARY KEY CHECK (length(digest) = 32),
        response BLOB,
        message  INTEGER,
        CHECK (response IS NULL OR message IS NULL)
    ) WITHOUT ROWID;
    INSERT INTO replay_v3 (digest, response)
        SELECT digest, response FROM replay WHERE kind = 'answered';
    DROP TABLE replay;
    ALTER TABLE replay_v3 RENAME TO replay;
    CREATE TRIGGER transactions_delete AFTER DELETE ON transactions BEGIN
        DELETE FROM messages
            WHERE id >= OLD.id * 1048576 AND id < (OLD.id + 1) * 1048576;
        DELETE FROM replay
            WHERE message >= OLD.id * 1048576 AND message < (OLD.id + 1) * 1048576;
    END;",
];

/// How many messages a transaction may hold: its messages' keys are `id * 2^20 + seq`
/// (schema version 3).
const MESSAGES_PER_TRANSACTION: i64 = 1 << 20;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The engine's [`Store`] in an SQLite file. See the [module documentation](self) for the
/// durability promise and the schema.
///
/// One connection behind a mutex, for group commits and lookups. One store owns the file (an
/// advisory lock on `<file>.lock`). The marks' lock is taken last, after the connection's,
/// never before it.
pub struct SqliteStore {
    /// Shared with the checkpointer, which holds it while it finishes a checkpoint.
    conn: Arc<Mutex<Connection>>,
    /// Writes waiting for the next group commit (see [`SqliteStore::write`]).
    queue: Mutex<Vec<Arc<Write>>>,
    /// The write-ahead log, synced by the store (see the module documentation); `None` for an
    /// in-memory database, which has nothing to sync.
    wal: Option<std::fs::File>,
    /// Which groups are committed and which are synced; taken after the connection's lock,
    /// never before it, and never with the marks' lock.
    durability: Mutex<Durability>,
    /// Signalled when a sync ends.
    changed: Condvar,
    /// The replay cache's "in progress" marks (digest → when processing began). A commit
    /// drops the marks of the answers it made durable only once they are durable, under the
    /// writer; `replay_begin` checks the marks and then the durable entries under this lock,
    /// so a message is never processed twice at once nor after its answer was saved.
    marks: Mutex<HashMap<MessageDigest, i64>>,
    /// The key-value entries written last (see [`KvRecent`]).
    kv_recent: Mutex<KvRecent>,
    path: Option<PathBuf>,
    /// Checkpoints the log on a thread of its own (files only).
    checkpointer: Option<Checkpointer>,
    /// Held for the life of the store: the advisory lock on `<file>.lock`.
    _owner: Option<std::fs::File>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn sql(context: &str, e: rusqlite::Error) -> StoreError {
    StoreError(format!("sqlite: {context}: {e}"))
}

impl SqliteStore {
    /// Opens (creating it if absent) the store in the file at `path`, switches it to WAL, brings
    /// its schema up to [`SCHEMA_VERSION`] and starts its checkpointer.
    ///
    /// Fails, leaving the file as it was, when it is not an SQLite database, belongs to
    /// another application, or has a schema newer than this build knows.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        let path = path.as_ref();
        let owner = take_ownership(path)?;
        let conn =
            Connection::open(path).map_err(|e| sql(&format!("opening {}", path.display()), e))?;
        let mut store = Self::setup(conn, Some(path.to_path_buf()))?;
        store.wal = Some(open_wal(path)?);
        store.checkpointer = Some(Checkpointer::start(path, store.conn.clone())?);
        store._owner = Some(owner);
        Ok(store)
    }

    /// A store in a private in-memory database, **not durable**: for tests only.
    pub fn open_in_memory() -> StoreResult<SqliteStore> {
        let conn = Connection::open_in_memory().map_err(|e| sql("opening in memory", e))?;
        Self::setup(conn, None)
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open file (always [`SCHEMA_VERSION`] once opened).
    pub fn schema_version(&self) -> StoreResult<i64> {
        self.conn()?
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| sql("reading user_version", e))
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> StoreResult<SqliteStore> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql("setting busy_timeout", e))?;
        // Every statement the store runs stays prepared (about 20, the transaction control
        // statements included; rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Refuse a foreign or newer file before changing anything in it (journal mode
        // included); `migrate` checks again under the write lock.
        check_identity(&conn)?;
        if path.is_some() {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(|e| sql("setting journal_mode=WAL", e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError(format!(
                    "sqlite: journal_mode is {mode}, not wal: refusing a store that cannot \
                     promise durability"
                )));
            }
        }
        // Money-safety: the store syncs the log after every group (see the module
        // documentation); SQLite syncs it before each checkpoint.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| sql("setting synchronous=NORMAL", e))?;
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .map_err(|e| sql("reading synchronous", e))?;
        if sync != 1 {
            return Err(StoreError(format!(
                "sqlite: synchronous is {sync}, not NORMAL (1): refusing a store whose syncs \
                 it does not know"
            )));
        }
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| sql("setting foreign_keys=ON", e))?;
        if path.is_some() {
            // The checkpointer's work (see the module documentation).
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(|e| sql("setting wal_autocheckpoint=0", e))?;
        }
        // The replay cache and the key-value space are keyed by digests and ids spread over
        // the whole file: a larger page cache than SQLite's 2 MiB reads fewer of their pages
        // again. (Not much larger: at the end of some transactions SQLite scans the whole
        // cache's hash table.)
        conn.pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(|e| sql("setting cache_size", e))?;
        // (Version 3 drops the "in progress" rows of earlier versions: nothing processes those
        // messages any more, and their senders' retransmissions must be processed afresh.)
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            queue: Mutex::new(Vec::new()),
            wal: None,
            durability: Mutex::new(Durability::default()),
            changed: Condvar::new(),
            marks: Mutex::new(HashMap::new()),
            kv_recent: Mutex::new(KvRecent::default()),
            path,
            checkpointer: None,
            _owner: None,
        })
    }

    /// The writer connection.
    fn conn(&self) -> StoreResult<MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError("sqlite: connection lock poisoned".into()))
    }

    /// Runs a durable write as part of a group commit, and returns when the group is durable.
    ///
    /// The write joins the queue, then the caller waits for the connection. Whoever holds the
    /// connection with its own write still queued takes the whole queue and writes it in one
    /// SQLite transaction, each write in a savepoint of its own (a write that fails is rolled
    /// back alone and gets its error; the others go on), and hands every write its result and
    /// its group's number before it lets the connection go. Then each caller whose write
    /// succeeded waits until its group is synced (syncing the log itself when no sync is under
    /// way). So writes that arrive while a group is being written or synced share the next
    /// sync, and a write's result is known, durable or failed, before its caller returns:
    /// nothing is acknowledged that is not durable.
    fn write(&self, op: WriteOp) -> StoreResult<bool> {
        let write = Arc::new(Write {
            op,
            result: Mutex::new(None),
        });
        self.queue()?.push(write.clone());
        let conn = self.conn()?;
        let (result, group) = match write.take() {
            // Written in a group another caller committed.
            Some(done) => done,
            None => {
                // Still queued (only a holder of the connection takes the queue, and it hands
                // out every result before it lets go): this caller writes the group.
                let writes = std::mem::take(&mut *self.queue()?);
                let (results, group) = self.write_group(&conn, &writes);
                for (w, r) in writes.iter().zip(results) {
                    w.set((r, group));
                }
                write.take().unwrap_or_else(|| {
                    (
                        Err(StoreError("sqlite: a write was lost from its group".into())),
                        group,
                    )
                })
            }
        };
        drop(conn);
        let changed = result?;
        self.await_durable(group)?;
        if let WriteOp::Commit { replay, .. } = &write.op {
            // Durable now: the answered entries replace their marks.
            let mut marks = self.marks()?;
            for (digest, entry) in replay {
                match entry {
                    ReplayEntry::InProgress { since } => marks.insert(*digest, *since),
                    ReplayEntry::Answered { .. } => marks.remove(digest),
                };
            }
        }
        Ok(changed)
    }

    /// Returns once group `group` is synced, syncing the log if no sync is under way; fails
    /// when a sync failed.
    fn await_durable(&self, group: u64) -> StoreResult<()> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        let mut d = self.durability()?;
        loop {
            if let Some(e) = &d.failed {
                return Err(e.clone());
            }
            if d.synced >= group {
                return Ok(());
            }
            if d.syncing {
                d = self
                    .changed
                    .wait(d)
                    .map_err(|_| StoreError("sqlite: durability lock poisoned".into()))?;
                continue;
            }
            // Every group up to `target` has written its frames to the log (its COMMIT has
            // returned), so one sync that begins now makes all of them durable.
            d.syncing = true;
            // Syncs at most once per SYNC_INTERVAL: a group that arrives sooner after the last
            // sync waits out the rest of it, and the groups written meanwhile share its sync
            // (a sync costs far more CPU than a wait, in the block layer and, on a VM, in the
            // device's notifications).
            let wait = d.last_sync.map_or(Duration::ZERO, |t| {
                SYNC_INTERVAL.saturating_sub(t.elapsed())
            });
            if !wait.is_zero() {
                drop(d);
                std::thread::sleep(wait);
                d = self.durability()?;
            }
            let target = d.committed;
            drop(d);
            let synced = wal.sync_data();
            d = self.durability()?;
            d.syncing = false;
            d.last_sync = Some(std::time::Instant::now());
            match synced {
                Ok(()) => {
                    d.synced = d.synced.max(target);
                    let done = d.synced;
                    d.pending.retain(|_, g| *g > done);
                    if let Some(c) = &self.checkpointer {
                        c.groups_synced(done);
                    }
                }
                Err(e) => {
                    d.failed = Some(StoreError(format!(
                        "sqlite: syncing the write-ahead log failed ({e}); nothing written \
                         since the last sync is acknowledged, and this store does no more \
                         work: restart the node"
                    )));
                }
            }
            self.changed.notify_all();
        }
    }

    /// Returns once whatever a lookup read under `key` is durable: at once unless a group not
    /// yet synced wrote that key (see the module documentation).
    fn settle(&self, key: PendingKey<'_>) -> StoreResult<()> {
        let group = {
            let d = self.durability()?;
            if let Some(e) = &d.failed {
                return Err(e.clone());
            }
            match d.pending.get(&d.hash(key)) {
                Some(&g) => g,
                None => return Ok(()),
            }
        };
        self.await_durable(group)
    }

    fn durability(&self) -> StoreResult<MutexGuard<'_, Durability>> {
        self.durability
            .lock()
            .map_err(|_| StoreError("sqlite: durability lock poisoned".into()))
    }

    /// The writes waiting for the next group commit.
    fn queue(&self) -> StoreResult<MutexGuard<'_, Vec<Arc<Write>>>> {
        self.queue
            .lock()
            .map_err(|_| StoreError("sqlite: write queue lock poisoned".into()))
    }

    /// Writes a group in one transaction; one result per write, in order, and the group's
    /// number (what [`await_durable`](Self::await_durable) waits for).
    fn write_group(
        &self,
        conn: &Connection,
        group: &[Arc<Write>],
    ) -> (Vec<StoreResult<bool>>, u64) {
        let fail_all = |e: StoreError| -> Vec<StoreResult<bool>> {
            group.iter().map(|_| Err(e.clone())).collect()
        };
        let tx = match Open::begin(conn, "BEGIN IMMEDIATE") {
            Ok(tx) => tx,
            Err(e) => return (fail_all(sql("beginning a commit", e)), 0),
        };
        let mut results = Vec::with_capacity(group.len());
        for w in group {
            let result = if group.len() == 1 {
                w.op.apply(conn)
            } else {
                match run(conn, "SAVEPOINT w") {
                    Ok(()) => {
                        let r = w.op.apply(conn);
                        let ended = if r.is_ok() {
                            run(conn, "RELEASE w")
                        } else {
                            run(conn, "ROLLBACK TO w").and_then(|()| run(conn, "RELEASE w"))
                        };
                        match ended {
                            Ok(()) => r,
                            Err(e) => Err(sql("ending a savepoint", e)),
                        }
                    }
                    Err(e) => Err(sql("beginning a savepoint", e)),
                }
            };
            results.push(result);
        }
        if group.len() == 1 && results[0].is_err() {
            // Written without a savepoint: dropping the transaction undoes the part written.
            return (results, 0);
        }
        // The keys this group writes are known as unsynced before any lookup can see them.
        let number = match self.durability() {
            Ok(mut d) => {
                let number = d.committed + 1;
                for (w, r) in group.iter().zip(&results) {
                    if r.is_ok() {
                        w.op.keys(|key| {
                            let h = d.hash(key);
                            d.pending.insert(h, number);
                        });
                    }
                }
                number
            }
            Err(e) => return (fail_all(e), 0),
        };
        let committed = tx.commit();
        // Numbered even when COMMIT failed, so that a lookup waiting for it ends.
        if let Ok(mut d) = self.durability() {
            d.committed = number;
        }
        if let Err(e) = committed {
            // Dropping the transaction rolled everything back: nothing is written.
            return (fail_all(sql("committing", e)), number);
        }
        // Still under the connection's lock: the entries match the file when it is released.
        if let Ok(mut recent) = self.kv_recent.lock() {
            for (w, r) in group.iter().zip(&results) {
                if let Ok(changed) = r {
                    recent.wrote(&w.op, *changed);
                }
            }
        }
        (results, number)
    }

    /// The "in progress" marks; take [`conn`](Self::conn) first.
    fn marks(&self) -> StoreResult<MutexGuard<'_, HashMap<MessageDigest, i64>>> {
        self.marks
            .lock()
            .map_err(|_| StoreError("sqlite: replay marks lock poisoned".into()))
    }
}

/// Takes the advisory lock that makes a store the one owner of its file.
fn take_ownership(path: &Path) -> StoreResult<std::fs::File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError(format!("sqlite: opening {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError(format!(
            "sqlite: {} is in use by another node (its lock {} is held)",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError(format!(
            "sqlite: locking {}: {e}",
            lock_path.display()
        ))),
    }
}

/// How many groups are synced between two checkpoints of the log into the file. (The log then
/// holds about this many groups' pages, some 15 per purchase at a Payment Handler.)
pub const CHECKPOINT_GROUPS: u64 = 256;

/// The store's checkpointer: a thread with a connection of its own that copies the log into
/// the file every [`CHECKPOINT_GROUPS`] synced groups. It stops when the store is dropped.
///
/// Each round is two passive checkpoints. The first copies the log while the store's
/// connection goes on writing. The second copies the frames written meanwhile (tens of pages;
/// the time is mostly its two syncs, 2–7 ms here) with the store's connection held, so that it reaches the log's end: only a log
/// copied to its end is started again from its beginning by the next write. Without it a node
/// that never stops writing would never restart its log, which would grow without bound (by
/// some 50 KB per purchase at a Payment Handler), and every sync would be a sync of a growing
/// file, which costs more than a sync of blocks rewritten in place.
struct Checkpointer {
    shared: Arc<(Mutex<CheckpointState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    /// The last group synced.
    synced: u64,
    /// The group whose sync wakes the checkpointer.
    next: u64,
    stop: bool,
}

impl Checkpointer {
    fn start(path: &Path, store: Arc<Mutex<Connection>>) -> StoreResult<Checkpointer> {
        let conn = Connection::open(path)
            .map_err(|e| sql(&format!("opening {} to checkpoint", path.display()), e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql("setting busy_timeout", e))?;
        // SQLite syncs the log before it copies it, and the file after.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| sql("setting synchronous=NORMAL", e))?;
        let shared = Arc::new((Mutex::new(CheckpointState::default()), Condvar::new()));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("iotp-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &store, &theirs))
            .map_err(|e| StoreError(format!("sqlite: starting the checkpointer: {e}")))?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Groups up to `group` are synced.
    fn groups_synced(&self, group: u64) {
        let (state, wake) = &*self.shared;
        if let Ok(mut s) = state.lock() {
            s.synced = group;
            if group >= s.next {
                wake.notify_one();
            }
        }
    }
}

fn checkpoint_loop(
    conn: &Connection,
    store: &Mutex<Connection>,
    shared: &(Mutex<CheckpointState>, Condvar),
) {
    let (state, wake) = shared;
    let mut done = 0u64;
    loop {
        {
            let Ok(mut s) = state.lock() else { return };
            s.next = done + CHECKPOINT_GROUPS;
            while !s.stop && s.synced < s.next {
                s = match wake.wait(s) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
            if s.stop {
                return;
            }
            done = s.synced;
        }
        // A failed checkpoint loses nothing (the log keeps every frame): the next one retries.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        // The tail, with no writer (see the type's documentation).
        let Ok(_writer) = store.lock() else { return };
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (state, wake) = &*self.shared;
        if let Ok(mut s) = state.lock() {
            s.stop = true;
        }
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Opens the store's handle on the write-ahead log `<file>-wal`, which SQLite created when the
/// file was opened in WAL mode (the setup wrote to it).
fn open_wal(path: &Path) -> StoreResult<std::fs::File> {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    let wal_path = PathBuf::from(name);
    std::fs::File::open(&wal_path)
        .map_err(|e| StoreError(format!("sqlite: opening {}: {e}", wal_path.display())))
}

/// Reads `(user_version, application_id, number of schema objects)`.
fn identity(conn: &Connection) -> StoreResult<(i64, i64, i64)> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| sql("reading user_version", e))?;
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| sql("reading application_id", e))?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| sql("reading the schema", e))?;
    Ok((version, app, objects))
}

/// Refuses a file this build must not write to.
fn check_identity(conn: &Connection) -> StoreResult<i64> {
    let (version, app, objects) = identity(conn)?;
    if app != 0 && app != APPLICATION_ID {
        return Err(StoreError(format!(
            "sqlite: not an IOTP store (application_id {app:#x}, expected {APPLICATION_ID:#x})"
        )));
    }
    if app == 0 && (version != 0 || objects != 0) {
        return Err(StoreError(format!(
            "sqlite: not an IOTP store (schema version {version} and {objects} schema objects, \
             but no IOTP application_id)"
        )));
    }
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError(format!(
            "sqlite: the store's schema version is {version}, newer than this build knows \
             ({SCHEMA_VERSION}): refusing to open it (use a newer iotp-runtime)"
        )));
    }
    Ok(version)
}

/// Applies the missing [`MIGRATIONS`] in one transaction.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql("beginning the migration", e))?;
    let version = check_identity(&tx)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let done = usize::try_from(version).unwrap_or(usize::MAX);
    for (i, step) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(step)
            .map_err(|e| sql(&format!("migrating to schema version {}", i + 1), e))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(|e| sql("writing user_version", e))?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(|e| sql("writing application_id", e))?;
    tx.commit().map_err(|e| sql("committing the migration", e))
}

/// Runs a statement without result rows (`BEGIN`, `COMMIT`, `SAVEPOINT`, ...) prepared once
/// per connection: rusqlite's transaction helpers parse their SQL again at every call, which
/// cost about 1.5 % of a Payment Handler's instructions.
fn run(conn: &Connection, statement: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(statement)?.execute([]).map(|_| ())
}

/// An open SQLite transaction, rolled back unless [`Open::commit`] succeeds.
struct Open<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> Open<'c> {
    /// Begins one with `begin` (`BEGIN` or `BEGIN IMMEDIATE`).
    fn begin(conn: &'c Connection, begin: &str) -> rusqlite::Result<Open<'c>> {
        run(conn, begin)?;
        Ok(Open { conn, open: true })
    }

    /// Commits it; when that fails, it is rolled back (on drop).
    fn commit(mut self) -> rusqlite::Result<()> {
        run(self.conn, "COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            // Nothing to report to: the error that ended the transaction is.
            let _ = run(self.conn, "ROLLBACK");
        }
    }
}

/// A replay row: the response it holds, the message it names, that message's XML.
type ReplayRow = (Option<Vec<u8>>, Option<i64>, Option<String>);

fn read_replay(conn: &Connection, digest: &MessageDigest) -> StoreResult<Option<ReplayEntry>> {
    let row: Option<ReplayRow> = conn
        .prepare_cached(
            // (Not a LEFT JOIN: SQLite prepared that again at every new digest.)
            "SELECT response, message, (SELECT xml FROM messages WHERE id = message)
             FROM replay WHERE digest = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![&digest[..]], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(|e| sql("reading the replay cache", e))?;
    match row {
        None => Ok(None),
        Some((response, None, _)) => Ok(Some(ReplayEntry::Answered { response })),
        Some((None, Some(_), Some(xml))) => Ok(Some(ReplayEntry::Answered {
            response: Some(xml.into_bytes()),
        })),
        Some((Some(_), Some(message), _)) => Err(StoreError(format!(
            "sqlite: a saved response both holds its bytes and names message {message}"
        ))),
        Some((None, Some(message), None)) => Err(StoreError(format!(
            "sqlite: a saved response names message {message}, which is not stored"
        ))),
    }
}

/// The key of a transaction's message `i` (schema version 3).
fn message_key(transaction: i64, i: usize) -> StoreResult<i64> {
    i64::try_from(i)
        .ok()
        .filter(|&i| i < MESSAGES_PER_TRANSACTION)
        .and_then(|i| {
            transaction
                .checked_mul(MESSAGES_PER_TRANSACTION)?
                .checked_add(i)
        })
        .ok_or_else(|| {
            StoreError(format!(
                "sqlite: a transaction holds at most {MESSAGES_PER_TRANSACTION} messages"
            ))
        })
}

impl Store for SqliteStore {
    fn load(&self, key: &TransactionKey) -> StoreResult<Option<TransactionRecord>> {
        let conn = self.conn()?;
        // One read transaction: the record and its messages as of the same commit.
        let tx = Open::begin(&conn, "BEGIN").map_err(|e| sql("beginning a read", e))?;
        let head: Option<(i64, String, Option<i64>, bool)> = conn
            .prepare_cached(
                "SELECT id, state, wake_at, finished FROM transactions
                 WHERE iotp_trans_id = ?1 AND role = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![key.iotp_trans_id, key.role], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .map_err(|e| sql("reading a transaction", e))?;
        let Some((id, state, wake_at, finished)) = head else {
            return Ok(None);
        };
        let mut messages = Vec::new();
        {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, sent, message_id, xml FROM messages
                     WHERE id >= ?1 AND id < ?2 ORDER BY id",
                )
                .map_err(|e| sql("reading messages", e))?;
            let first = message_key(id, 0)?;
            let rows = stmt
                .query_map(
                    params![first, first.saturating_add(MESSAGES_PER_TRANSACTION)],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, bool>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    },
                )
                .map_err(|e| sql("reading messages", e))?;
            for row in rows {
                let (n, sent, message_id, xml) = row.map_err(|e| sql("reading messages", e))?;
                if n != message_key(id, messages.len())? {
                    return Err(StoreError(format!(
                        "sqlite: messages of {}/{} are not contiguous (found message {} at {})",
                        key.iotp_trans_id,
                        key.role,
                        n - first,
                        messages.len()
                    )));
                }
                messages.push(StoredMessage {
                    sent,
                    message_id,
                    xml: Arc::from(xml),
                });
            }
        }
        tx.commit().map_err(|e| sql("ending a read", e))?;
        drop(conn);
        self.settle(PendingKey::Record(&key.iotp_trans_id, &key.role))?;
        Ok(Some(TransactionRecord {
            key: key.clone(),
            state,
            messages,
            wake_at,
            finished,
        }))
    }

    fn due(&self, now: i64) -> StoreResult<Vec<TransactionKey>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT iotp_trans_id, role FROM transactions
                 WHERE wake_at IS NOT NULL AND wake_at <= ?1
                 ORDER BY iotp_trans_id, role",
            )
            .map_err(|e| sql("reading due transactions", e))?;
        let rows = stmt
            .query_map(params![now], |r| {
                Ok(TransactionKey {
                    iotp_trans_id: r.get(0)?,
                    role: r.get(1)?,
                })
            })
            .map_err(|e| sql("reading due transactions", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| sql("reading due transactions", e))
    }

    fn replay_get(&self, digest: &MessageDigest) -> StoreResult<Option<ReplayEntry>> {
        let conn = self.conn()?;
        if let Some(&since) = self.marks()?.get(digest) {
            return Ok(Some(ReplayEntry::InProgress { since }));
        }
        read_replay(&conn, digest)
    }

    /// The mark is kept in memory (see the module documentation); the durable entries are
    /// read under the marks' lock, so that a message is marked only when it is not known: a
    /// commit drops a mark only after its answer is durable (and visible to a read that
    /// begins after that).
    fn replay_begin(&self, digest: &MessageDigest, now: i64) -> StoreResult<Option<ReplayEntry>> {
        let conn = self.conn()?;
        let mut marks = self.marks()?;
        if let Some(&since) = marks.get(digest) {
            return Ok(Some(ReplayEntry::InProgress { since }));
        }
        if let Some(known) = read_replay(&conn, digest)? {
            return Ok(Some(known));
        }
        marks.insert(*digest, now);
        Ok(None)
    }

    fn replay_forget(&self, digest: &MessageDigest) -> StoreResult<()> {
        let conn = self.conn()?;
        self.marks()?.remove(digest);
        conn.prepare_cached("DELETE FROM replay WHERE digest = ?1")
            .and_then(|mut s| s.execute(params![&digest[..]]))
            .map_err(|e| sql("forgetting a message", e))?;
        Ok(())
    }

    fn commit(
        &self,
        records: &[&TransactionRecord],
        replay: &[(MessageDigest, ReplayEntry)],
    ) -> StoreResult<()> {
        self.write(WriteOp::Commit {
            records: records.iter().map(|r| (*r).clone()).collect(),
            replay: replay.to_vec(),
        })
        .map(|_| ())
    }

    fn kv_get(&self, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let recent = self
            .kv_recent
            .lock()
            .map_err(|_| StoreError("sqlite: key-value entries lock poisoned".into()))?
            .get(namespace, key);
        if let Some(value) = recent {
            self.settle(PendingKey::Kv(namespace, key))?;
            return Ok(Some(value));
        }
        let value = self
            .conn()?
            .prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")
            .and_then(|mut s| {
                s.query_row(params![namespace, key], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| sql("reading a key-value entry", e))?;
        self.settle(PendingKey::Kv(namespace, key))?;
        Ok(value)
    }

    fn kv_put(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<()> {
        self.write(WriteOp::KvPut {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            value: value.to_vec(),
            only_if_absent: false,
        })
        .map(|_| ())
    }

    fn kv_insert_if_absent(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<bool> {
        self.write(WriteOp::KvPut {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            value: value.to_vec(),
            only_if_absent: true,
        })
    }

    fn kv_delete(&self, namespace: &str, key: &str) -> StoreResult<()> {
        self.write(WriteOp::KvDelete {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
        })
        .map(|_| ())
    }
}

/// A durable write waiting for its group commit, and its result and group once written.
struct Write {
    op: WriteOp,
    result: Mutex<Option<(StoreResult<bool>, u64)>>,
}

impl Write {
    fn take(&self) -> Option<(StoreResult<bool>, u64)> {
        self.result
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn set(&self, result: (StoreResult<bool>, u64)) {
        *self
            .result
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
    }
}

/// The durable writes of the [`Store`] trait, owned so that another thread can write them.
enum WriteOp {
    /// [`Store::commit`].
    Commit {
        records: Vec<TransactionRecord>,
        replay: Vec<(MessageDigest, ReplayEntry)>,
    },
    /// [`Store::kv_put`], or [`Store::kv_insert_if_absent`] when `only_if_absent`.
    KvPut {
        namespace: String,
        key: String,
        value: Vec<u8>,
        only_if_absent: bool,
    },
    /// [`Store::kv_delete`].
    KvDelete { namespace: String, key: String },
}

/// How many of the key-value entries written last a store keeps in memory (see the module
/// documentation).
pub const KV_RECENT_ENTRIES: usize = 1024;

/// The key-value entries written last, by namespace, so that a scheme reading back what it
/// wrote a moment ago (its payment's record, at each call of a payment) does not go to the
/// file. Written through: only the group commit changes it, under the connection's lock and
/// after its `COMMIT` succeeded, so an entry here is what the file holds. A lookup that finds
/// an entry still waits for the sync of the group that wrote it, as one that reads the file
/// does. Emptied when it reaches [`KV_RECENT_ENTRIES`].
#[derive(Debug, Default)]
struct KvRecent {
    entries: HashMap<String, HashMap<String, Vec<u8>>>,
    len: usize,
}

impl KvRecent {
    fn get(&self, namespace: &str, key: &str) -> Option<Vec<u8>> {
        self.entries.get(namespace)?.get(key).cloned()
    }

    /// `op` was committed; `changed` is its result.
    fn wrote(&mut self, op: &WriteOp, changed: bool) {
        match op {
            WriteOp::KvPut {
                namespace,
                key,
                value,
                only_if_absent,
            } => {
                // An insert that found the key changed nothing.
                if *only_if_absent && !changed {
                    return;
                }
                if self.len >= KV_RECENT_ENTRIES {
                    self.entries.clear();
                    self.len = 0;
                }
                let previous = self
                    .entries
                    .entry(namespace.clone())
                    .or_default()
                    .insert(key.clone(), value.clone());
                if previous.is_none() {
                    self.len += 1;
                }
            }
            WriteOp::KvDelete { namespace, key } => {
                if let Some(ns) = self.entries.get_mut(namespace)
                    && ns.remove(key).is_some()
                {
                    self.len -= 1;
                }
            }
            WriteOp::Commit { .. } => {}
        }
    }
}

/// Which groups are committed and which are synced (see [`SqliteStore::await_durable`]).
#[derive(Debug, Default)]
struct Durability {
    /// The number of the last group whose `COMMIT` ran (groups are numbered from 1).
    committed: u64,
    /// Every group up to this one is durable.
    synced: u64,
    /// A sync is under way.
    syncing: bool,
    /// When the last sync ended.
    last_sync: Option<std::time::Instant>,
    /// A sync failed: the store does no more work.
    failed: Option<StoreError>,
    /// The keys written by groups not yet synced (a hash of each: a collision only makes a
    /// lookup wait for a sync it did not need), with the last group that wrote each.
    pending: HashMap<u64, u64>,
    hasher: std::collections::hash_map::RandomState,
}

impl Durability {
    fn hash(&self, key: PendingKey<'_>) -> u64 {
        self.hasher.hash_one(key)
    }
}

/// What a lookup reads and a group may have written.
#[derive(Clone, Copy, Hash)]
enum PendingKey<'a> {
    Record(&'a str, &'a str),
    Kv(&'a str, &'a str),
}

impl WriteOp {
    /// Calls `f` with every key the write writes.
    fn keys(&self, mut f: impl FnMut(PendingKey<'_>)) {
        match self {
            WriteOp::Commit { records, .. } => {
                for r in records {
                    f(PendingKey::Record(&r.key.iotp_trans_id, &r.key.role));
                }
            }
            WriteOp::KvPut { namespace, key, .. } | WriteOp::KvDelete { namespace, key } => {
                f(PendingKey::Kv(namespace, key));
            }
        }
    }

    /// Writes inside the group's transaction; `true` when a row was inserted or changed.
    fn apply(&self, tx: &Connection) -> StoreResult<bool> {
        match self {
            WriteOp::Commit { records, replay } => {
                write_commit(tx, records, replay)?;
                Ok(true)
            }
            WriteOp::KvPut {
                namespace,
                key,
                value,
                only_if_absent,
            } => {
                let statement = if *only_if_absent {
                    "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (namespace, key) DO NOTHING"
                } else {
                    "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value"
                };
                let changed = tx
                    .prepare_cached(statement)
                    .and_then(|mut s| s.execute(params![namespace, key, value]))
                    .map_err(|e| sql("writing a key-value entry", e))?;
                Ok(changed == 1)
            }
            WriteOp::KvDelete { namespace, key } => {
                let changed = tx
                    .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")
                    .and_then(|mut s| s.execute(params![namespace, key]))
                    .map_err(|e| sql("deleting a key-value entry", e))?;
                Ok(changed == 1)
            }
        }
    }
}

/// The rows of one [`Store::commit`].
fn write_commit(
    tx: &Connection,
    records: &[TransactionRecord],
    replay: &[(MessageDigest, ReplayEntry)],
) -> StoreResult<()> {
    // Looked up, then updated or inserted: an upsert with `RETURNING id` cost about 10k
    // instructions more.
    let mut find_record = tx
        .prepare_cached("SELECT id FROM transactions WHERE iotp_trans_id = ?1 AND role = ?2")
        .map_err(|e| sql("commit", e))?;
    let mut update_record = tx
        .prepare_cached(
            "UPDATE transactions SET state = ?2, wake_at = ?3, finished = ?4 WHERE id = ?1",
        )
        .map_err(|e| sql("commit", e))?;
    let mut insert_record = tx
        .prepare_cached(
            "INSERT INTO transactions (iotp_trans_id, role, state, wake_at, finished)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|e| sql("commit", e))?;
    // Rewrites a stored message only when it differs from the committed one.
    let mut put_message = tx
        .prepare_cached(
            "INSERT INTO messages (id, sent, message_id, xml)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET
                    sent = excluded.sent,
                    message_id = excluded.message_id,
                    xml = excluded.xml
                 WHERE sent IS NOT excluded.sent
                    OR message_id IS NOT excluded.message_id
                    OR xml IS NOT excluded.xml",
        )
        .map_err(|e| sql("commit", e))?;
    let mut cut_messages = tx
        .prepare_cached("DELETE FROM messages WHERE id >= ?1 AND id < ?2")
        .map_err(|e| sql("commit", e))?;
    let mut put_replay = tx
        .prepare_cached(
            "INSERT INTO replay (digest, response, message)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (digest) DO UPDATE SET
                    response = excluded.response,
                    message = excluded.message",
        )
        .map_err(|e| sql("commit", e))?;
    // The key of each sent message, for saved responses that are one of them.
    let mut sent: Vec<(i64, &str)> = Vec::new();
    for r in records {
        let k = &r.key;
        let found: Option<i64> = find_record
            .query_row(params![k.iotp_trans_id, k.role], |row| row.get(0))
            .optional()
            .map_err(|e| sql("saving a transaction", e))?;
        let id = match found {
            Some(id) => {
                update_record
                    .execute(params![id, r.state, r.wake_at, r.finished])
                    .map_err(|e| sql("saving a transaction", e))?;
                id
            }
            None => {
                insert_record
                    .execute(params![
                        k.iotp_trans_id,
                        k.role,
                        r.state,
                        r.wake_at,
                        r.finished
                    ])
                    .map_err(|e| sql("saving a transaction", e))?;
                tx.last_insert_rowid()
            }
        };
        for (i, m) in r.messages.iter().enumerate() {
            let key = message_key(id, i)?;
            put_message
                .execute(params![key, m.sent, m.message_id, &*m.xml])
                .map_err(|e| sql("saving a message", e))?;
            if m.sent {
                sent.push((key, &m.xml));
            }
        }
        cut_messages
            .execute(params![
                message_key(id, r.messages.len())?,
                message_key(id, 0)?.saturating_add(MESSAGES_PER_TRANSACTION)
            ])
            .map_err(|e| sql("saving messages", e))?;
    }
    for (digest, entry) in replay {
        if let ReplayEntry::Answered { response } = entry {
            let message = response.as_deref().and_then(|bytes| {
                sent.iter()
                    .rev()
                    .find(|(_, xml)| xml.as_bytes() == bytes)
                    .map(|&(key, _)| key)
            });
            let inline = if message.is_some() {
                None
            } else {
                response.as_deref()
            };
            put_replay
                .execute(params![&digest[..], inline, message])
                .map_err(|e| sql("saving a replay entry", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> TransactionKey {
        TransactionKey {
            iotp_trans_id: id.into(),
            role: "PaymentHandler".into(),
        }
    }

    fn msg(id: &str, xml: &str) -> StoredMessage {
        StoredMessage {
            sent: id.starts_with('P'),
            message_id: id.into(),
            xml: Arc::from(xml),
        }
    }

    fn record(id: &str, messages: Vec<StoredMessage>) -> TransactionRecord {
        TransactionRecord {
            key: key(id),
            state: "{}".into(),
            messages,
            wake_at: None,
            finished: false,
        }
    }

    #[test]
    fn the_contract_holds_in_memory() {
        let store = SqliteStore::open_in_memory().expect("opens");
        iotp::store::check_store_contract(&store);
    }

    #[test]
    fn concurrent_writes_are_grouped_and_each_gets_its_own_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = Arc::new(SqliteStore::open(&path).expect("opens"));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut won = 0;
                    for i in 0..40 {
                        // Every thread races for the same keys: exactly one insert wins each.
                        if store
                            .kv_insert_if_absent("race", &format!("k{i}"), &[t])
                            .expect("insert")
                        {
                            won += 1;
                        }
                        let id = format!("T{t}-{i}");
                        let r = record(&id, vec![msg("M1", "<a/>"), msg("P1", "<b/>")]);
                        let mut digest = [0u8; 32];
                        digest[..2].copy_from_slice(&[t, i]);
                        store
                            .commit(
                                &[&r],
                                &[(
                                    digest,
                                    ReplayEntry::Answered {
                                        response: Some(id.into_bytes()),
                                    },
                                )],
                            )
                            .expect("commit");
                    }
                    won
                })
            })
            .collect();
        let won: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(won, 40, "one winner per key");
        drop(store);

        // Everything acknowledged is in the file.
        let store = SqliteStore::open(&path).expect("reopens");
        for t in 0..8u8 {
            for i in 0..40u8 {
                let id = format!("T{t}-{i}");
                let r = store.load(&key(&id)).expect("load").expect("committed");
                assert_eq!(r.messages.len(), 2);
                let mut digest = [0u8; 32];
                digest[..2].copy_from_slice(&[t, i]);
                assert_eq!(
                    store.replay_get(&digest).expect("replay"),
                    Some(ReplayEntry::Answered {
                        response: Some(id.into_bytes())
                    })
                );
            }
        }
        for i in 0..40 {
            assert!(
                store
                    .kv_get("race", &format!("k{i}"))
                    .expect("kv")
                    .is_some()
            );
        }
    }

    #[test]
    fn one_store_owns_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).expect("opens");
        let err = SqliteStore::open(&path).expect_err("a second store is refused");
        assert!(err.0.contains("in use by another node"), "{err}");
        drop(store);
        SqliteStore::open(&path).expect("free again once the first is gone");
    }

    #[test]
    fn lookups_see_every_commit_that_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("s.db")).expect("opens");
        for i in 0..20 {
            let id = format!("T{i}");
            let r = record(&id, vec![msg("M1", "<a/>")]);
            let digest = [i; 32];
            assert_eq!(store.replay_begin(&digest, 1).expect("begin"), None);
            let answered = ReplayEntry::Answered {
                response: Some(vec![i]),
            };
            store
                .commit(&[&r], &[(digest, answered.clone())])
                .expect("commit");
            assert_eq!(store.load(&key(&id)).expect("load"), Some(r));
            assert_eq!(
                store.replay_get(&digest).expect("get"),
                Some(answered.clone())
            );
            assert_eq!(
                store.replay_begin(&digest, 2).expect("begin"),
                Some(answered)
            );
            store.kv_put("ns", &id, &[i]).expect("put");
            assert_eq!(store.kv_get("ns", &id).expect("get"), Some(vec![i]));
        }
    }

    /// A store file as a build of schema `version` left it, holding `rows`.
    fn file_at_version(path: &Path, version: usize, rows: &str) {
        let c = Connection::open(path).expect("open");
        for step in &MIGRATIONS[..version] {
            c.execute_batch(step).expect("an old step");
        }
        c.pragma_update(None, "user_version", i64::try_from(version).expect("small"))
            .expect("version");
        c.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("id");
        c.execute_batch(rows).expect("rows");
    }

    #[test]
    fn a_version_1_file_migrates_with_its_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v1.db");
        file_at_version(
            &path,
            1,
            "INSERT INTO transactions VALUES ('T1', 'PaymentHandler', '{}', 5, 0);
             INSERT INTO messages VALUES ('T1', 'PaymentHandler', 0, 0, 'C1', '<a/>');
             INSERT INTO messages VALUES ('T1', 'PaymentHandler', 1, 1, 'P1', '<b/>');
             INSERT INTO replay VALUES (zeroblob(32), 'answered', NULL, x'3c622f3e');
             INSERT INTO kv VALUES ('mock', 'k', x'01');",
        );
        let store = SqliteStore::open(&path).expect("migrates");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        let mut expected = record("T1", vec![msg("C1", "<a/>"), msg("P1", "<b/>")]);
        expected.wake_at = Some(5);
        assert_eq!(store.load(&key("T1")).expect("load"), Some(expected));
        assert_eq!(store.due(5).expect("due"), vec![key("T1")]);
        assert_eq!(
            store.replay_get(&[0; 32]).expect("replay"),
            Some(ReplayEntry::Answered {
                response: Some(b"<b/>".to_vec())
            })
        );
        assert_eq!(store.kv_get("mock", "k").expect("kv"), Some(vec![1]));
        let conn = store.conn().expect("conn");
        for (table, without_rowid) in [
            ("transactions", false),
            ("messages", false),
            ("replay", true),
        ] {
            let sql: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("schema");
            assert_eq!(
                sql.contains("WITHOUT ROWID"),
                without_rowid,
                "{table}: {sql}"
            );
        }
        // Messages still belong to their transaction.
        conn.execute("DELETE FROM transactions WHERE iotp_trans_id = 'T1'", [])
            .expect("delete");
        let left: i64 = conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 0, "deleting a transaction deletes its messages");
    }

    #[test]
    fn a_version_2_file_migrates_with_its_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v2.db");
        file_at_version(
            &path,
            2,
            "INSERT INTO transactions VALUES ('T1', 'Consumer', '{}', NULL, 1);
             INSERT INTO transactions VALUES ('T2', 'Consumer', '{\"a\":1}', 9, 0);
             INSERT INTO messages VALUES ('T2', 'Consumer', 0, 1, 'C1', '<c/>');
             INSERT INTO messages VALUES ('T2', 'Consumer', 1, 0, 'M1', '<m/>');
             INSERT INTO messages VALUES ('T1', 'Consumer', 0, 0, 'M1', '<n/>');
             INSERT INTO replay VALUES (zeroblob(32), 'answered', NULL, x'3c632f3e');
             INSERT INTO replay VALUES (randomblob(32), 'in_progress', 4, NULL);",
        );
        let store = SqliteStore::open(&path).expect("migrates");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        let mut t2 = record("T2", vec![msg("C1", "<c/>"), msg("M1", "<m/>")]);
        t2.key.role = "Consumer".into();
        t2.messages[0].sent = true;
        t2.state = "{\"a\":1}".into();
        t2.wake_at = Some(9);
        let mut t2_key = key("T2");
        t2_key.role = "Consumer".into();
        assert_eq!(store.load(&t2_key).expect("load"), Some(t2));
        let mut t1_key = key("T1");
        t1_key.role = "Consumer".into();
        let t1 = store.load(&t1_key).expect("load").expect("T1");
        assert_eq!((t1.messages.len(), t1.finished), (1, true));
        assert_eq!(store.due(9).expect("due"), vec![t2_key]);
        assert_eq!(
            store.replay_get(&[0; 32]).expect("replay"),
            Some(ReplayEntry::Answered {
                response: Some(b"<c/>".to_vec())
            })
        );
        let rows: i64 = store
            .conn()
            .expect("conn")
            .query_row("SELECT count(*) FROM replay", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 1, "the in-progress row is dropped");
    }

    #[test]
    fn a_saved_response_that_was_sent_is_kept_once() {
        let store = SqliteStore::open_in_memory().expect("opens");
        // P1 is sent (see `msg`).
        let rec = record(
            "T1",
            vec![msg("C1", "<request/>"), msg("P1", "<response/>")],
        );
        let (answered, other) = ([1u8; 32], [2u8; 32]);
        let reply = |bytes: &[u8]| ReplayEntry::Answered {
            response: Some(bytes.to_vec()),
        };
        store
            .commit(
                &[&rec],
                &[
                    (answered, reply(b"<response/>")),
                    (other, reply(b"<error/>")),
                ],
            )
            .expect("commit");
        assert_eq!(
            store.replay_get(&answered).expect("get"),
            Some(reply(b"<response/>"))
        );
        assert_eq!(
            store.replay_get(&other).expect("get"),
            Some(reply(b"<error/>"))
        );
        let conn = store.conn().expect("conn");
        let stored: Vec<(Option<Vec<u8>>, Option<i64>)> = conn
            .prepare("SELECT response, message FROM replay ORDER BY digest")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()
            })
            .expect("rows");
        assert!(
            matches!(stored.as_slice(), [(None, Some(_)), (Some(e), None)] if e == b"<error/>"),
            "{stored:?}"
        );
        // A transaction deleted takes its messages and the responses naming them along.
        conn.execute("DELETE FROM transactions", [])
            .expect("delete");
        drop(conn);
        assert_eq!(store.replay_get(&answered).expect("get"), None);
        assert_eq!(
            store.replay_get(&other).expect("get"),
            Some(reply(b"<error/>"))
        );
    }

    #[test]
    fn recent_key_value_entries_are_what_the_file_holds() {
        let store = SqliteStore::open_in_memory().expect("opens");
        let in_file = |k: &str| -> Option<Vec<u8>> {
            store
                .conn()
                .expect("conn")
                .query_row(
                    "SELECT value FROM kv WHERE namespace = 'ns' AND key = ?1",
                    [k],
                    |r| r.get(0),
                )
                .optional()
                .expect("select")
        };
        let check = |k: &str| assert_eq!(store.kv_get("ns", k).expect("kv"), in_file(k), "{k}");
        store.kv_put("ns", "a", b"1").expect("put");
        store.kv_put("ns", "a", b"2").expect("put");
        check("a");
        assert!(!store.kv_insert_if_absent("ns", "a", b"3").expect("insert"));
        check("a");
        assert!(store.kv_insert_if_absent("ns", "b", b"4").expect("insert"));
        check("b");
        store.kv_delete("ns", "b").expect("delete");
        check("b");
        assert_eq!(store.kv_get("ns", "b").expect("kv"), None);
        // Past the bound: older entries come from the file again.
        for i in 0..KV_RECENT_ENTRIES + 10 {
            store
                .kv_put("ns", &format!("k{i}"), &i.to_be_bytes())
                .expect("put");
        }
        assert!(store.kv_recent.lock().expect("recent").len <= KV_RECENT_ENTRIES);
        for k in ["a", "k0", "k5", &format!("k{}", KV_RECENT_ENTRIES + 9)] {
            check(k);
            assert!(store.kv_get("ns", k).expect("kv").is_some(), "{k}");
        }
    }

    #[test]
    fn a_failed_write_in_a_group_fails_alone() {
        let store = SqliteStore::open_in_memory().expect("opens");
        let conn = store.conn().expect("conn");
        // A trigger makes one namespace unwritable, as a full disk or a constraint would.
        conn.execute_batch(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON kv WHEN NEW.namespace = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .expect("trigger");
        let ops = [("good", "a"), ("bad", "b"), ("good", "c")];
        let group: Vec<_> = ops
            .iter()
            .map(|(ns, k)| {
                Arc::new(Write {
                    op: WriteOp::KvPut {
                        namespace: (*ns).into(),
                        key: (*k).into(),
                        value: vec![1],
                        only_if_absent: true,
                    },
                    result: Mutex::new(None),
                })
            })
            .collect();
        drop(conn);
        let (results, _) = store.write_group(&store.conn().expect("conn"), &group);
        assert!(matches!(results[0], Ok(true)));
        assert!(
            matches!(&results[1], Err(e) if e.0.contains("refused")),
            "{:?}",
            results[1]
        );
        assert!(matches!(results[2], Ok(true)));
        assert!(store.kv_get("good", "a").expect("kv").is_some());
        assert!(store.kv_get("bad", "b").expect("kv").is_none());
        assert!(store.kv_get("good", "c").expect("kv").is_some());
        // Alone in its group, a failed write leaves nothing behind either.
        assert!(store.kv_put("bad", "d", b"x").is_err());
        assert!(store.kv_get("bad", "d").expect("kv").is_none());
        // ... and ends its transaction: the next write begins its own.
        store
            .kv_put("good", "e", b"y")
            .expect("written after a failure");
        assert_eq!(store.kv_get("good", "e").expect("kv"), Some(b"y".to_vec()));
    }

    #[test]
    fn a_file_runs_wal_with_synchronous_normal_and_foreign_keys_and_syncs_its_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("s.db")).expect("opens");
        let conn = store.conn().expect("lock");
        let q = |p: &str| -> String {
            conn.pragma_query_value(None, p, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .expect("pragma")
        };
        assert_eq!(q("journal_mode"), "Text(\"wal\")");
        assert_eq!(q("wal_autocheckpoint"), "Integer(0)");
        assert_eq!(q("synchronous"), "Integer(1)");
        assert_eq!(q("foreign_keys"), "Integer(1)");
        assert_eq!(q("application_id"), format!("Integer({APPLICATION_ID})"));
        assert_eq!(q("user_version"), format!("Integer({SCHEMA_VERSION})"));
        drop(conn);
        assert!(store.wal.is_some(), "the store syncs the log itself");
        store.kv_put("ns", "k", b"v").expect("put");
        let d = store.durability().expect("durability");
        assert!(d.committed >= 1 && d.synced == d.committed, "{d:?}");
        assert!(d.pending.is_empty(), "{d:?}");
    }

    #[test]
    fn the_checkpointer_copies_the_log_into_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).expect("opens");
        let size = || std::fs::metadata(&path).expect("file").len();
        let before = size();
        let value = vec![7u8; 1024];
        for i in 0..CHECKPOINT_GROUPS + 1 {
            store.kv_put("ns", &format!("k{i}"), &value).expect("put");
        }
        // The writes are in the log; the checkpointer, woken by the 256th synced group, copies
        // them into the file while the store goes on.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while size() < before + 200 * 1024 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(size() >= before + 200 * 1024, "{before} -> {}", size());
        assert_eq!(store.kv_get("ns", "k0").expect("kv"), Some(value));
    }

    #[test]
    fn the_log_starts_again_while_writes_go_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = Arc::new(SqliteStore::open(&path).expect("opens"));
        let wal = dir.path().join("s.db-wal");
        let synced = || store.durability().expect("durability").synced;
        // Two writers that never pause, so that every checkpoint runs beside writes.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    let value = vec![7u8; 1024];
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        store
                            .kv_put("ns", &format!("{w}-{i}"), &value)
                            .expect("put");
                        i += 1;
                    }
                })
            })
            .collect();
        // The log's largest size in the first 3 rounds, then in rounds 9 to 12.
        let (mut early, mut late) = (0u64, 0u64);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while synced() < 12 * CHECKPOINT_GROUPS && std::time::Instant::now() < deadline {
            let size = std::fs::metadata(&wal).expect("log").len();
            if synced() < 3 * CHECKPOINT_GROUPS {
                early = early.max(size);
            } else if synced() >= 8 * CHECKPOINT_GROUPS {
                late = late.max(size);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        assert!(synced() >= 12 * CHECKPOINT_GROUPS, "{} groups", synced());
        // A log that never starts again holds all 12 rounds by the end: 4 times the first 3.
        assert!(
            late <= 2 * early,
            "the log grew from {early} to {late} bytes"
        );
    }

    #[test]
    fn a_lookup_never_returns_what_is_not_yet_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SqliteStore::open(dir.path().join("s.db")).expect("opens"));
        store.kv_put("ns", "other", b"1").expect("put");
        // Pretend a sync is under way, so that the next group stays committed but unsynced.
        store.durability().expect("durability").syncing = true;
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                let r = record("T1", vec![msg("C1", "<a/>")]);
                store.commit(&[&r], &[]).expect("commit");
                store.kv_put("ns", "k", b"2").expect("put");
            })
        };
        while store.durability().expect("durability").committed < 2 {
            std::thread::yield_now();
        }
        // The record is committed, not synced: a lookup of it waits; one of a key no unsynced
        // group wrote does not.
        assert_eq!(
            store.kv_get("ns", "other").expect("kv"),
            Some(b"1".to_vec())
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = {
            let store = store.clone();
            std::thread::spawn(move || {
                let r = store.load(&key("T1")).expect("load");
                tx.send(r.is_some()).expect("send");
            })
        };
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(200)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout),
            "the lookup waited for the sync"
        );
        assert!(
            !writer.is_finished(),
            "the commit is not acknowledged before its sync"
        );
        // The sync "ends" without syncing: the next waiter syncs for real.
        {
            let mut d = store.durability().expect("durability");
            d.syncing = false;
            store.changed.notify_all();
        }
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(true));
        reader.join().expect("reader");
        writer.join().expect("writer");
        assert_eq!(store.kv_get("ns", "k").expect("kv"), Some(b"2".to_vec()));
        let d = store.durability().expect("durability");
        assert_eq!(d.synced, d.committed);
        assert!(d.pending.is_empty());
    }

    #[test]
    fn after_a_failed_sync_the_store_does_no_more_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("s.db")).expect("opens");
        store.kv_put("ns", "k", b"1").expect("put");
        store.durability().expect("durability").failed = Some(StoreError("sync failed".into()));
        let e = store
            .kv_put("ns", "k2", b"2")
            .expect_err("no acknowledgement");
        assert!(e.0.contains("sync failed"), "{e}");
        let r = record("T1", vec![msg("C1", "<a/>")]);
        assert!(store.commit(&[&r], &[]).is_err());
        assert!(store.kv_get("ns", "k").is_err());
    }

    #[test]
    fn load_returns_exactly_the_message_list_last_committed() {
        let store = SqliteStore::open_in_memory().expect("opens");
        let mut r = record("t1", vec![msg("C1", "<a/>"), msg("P1", "<b/>")]);
        store.commit(&[&r], &[]).expect("commit");
        r.messages.push(msg("C2", "<c/>"));
        store.commit(&[&r], &[]).expect("append");
        assert_eq!(store.load(&r.key).expect("load"), Some(r.clone()));
        // A changed message in the middle and a shorter list are kept as committed too.
        r.messages = vec![msg("C1", "<a/>"), msg("P9", "<changed/>")];
        store.commit(&[&r], &[]).expect("replace");
        assert_eq!(store.load(&r.key).expect("load"), Some(r.clone()));
        r.messages.clear();
        store.commit(&[&r], &[]).expect("empty");
        assert_eq!(store.load(&r.key).expect("load"), Some(r));
    }

    #[test]
    fn replay_entries_round_trip_in_every_form() {
        let store = SqliteStore::open_in_memory().expect("opens");
        let entries = [
            ([1u8; 32], ReplayEntry::InProgress { since: -5 }),
            ([2u8; 32], ReplayEntry::Answered { response: None }),
            (
                [3u8; 32],
                ReplayEntry::Answered {
                    response: Some(Vec::new()),
                },
            ),
            (
                [4u8; 32],
                ReplayEntry::Answered {
                    response: Some(vec![0, 255, 10]),
                },
            ),
        ];
        store.commit(&[], &entries).expect("commit");
        for (d, e) in &entries {
            assert_eq!(store.replay_get(d).expect("get").as_ref(), Some(e));
        }
        // An answer replaces the in-progress marker.
        let answered = ReplayEntry::Answered {
            response: Some(b"<r/>".to_vec()),
        };
        store
            .commit(&[], &[([1u8; 32], answered.clone())])
            .expect("commit");
        assert_eq!(store.replay_get(&[1u8; 32]).expect("get"), Some(answered));
    }

    #[test]
    fn in_progress_marks_live_in_memory_and_end_with_the_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let (marked, answered) = ([7u8; 32], [8u8; 32]);
        {
            let store = SqliteStore::open(&path).expect("opens");
            assert_eq!(store.replay_begin(&marked, 10).expect("begin"), None);
            assert_eq!(store.replay_begin(&answered, 11).expect("begin"), None);
            // Known now: a second begin changes nothing and reports the mark.
            let mark = Some(ReplayEntry::InProgress { since: 10 });
            assert_eq!(store.replay_begin(&marked, 20).expect("begin"), mark);
            assert_eq!(store.replay_get(&marked).expect("get"), mark);
            let response = ReplayEntry::Answered {
                response: Some(b"<reply/>".to_vec()),
            };
            store
                .commit(&[], &[(answered, response.clone())])
                .expect("commit");
            assert_eq!(
                store.replay_begin(&answered, 30).expect("begin"),
                Some(response)
            );
            // No mark is written to the file: it holds the answered entry alone.
            let rows: i64 = store
                .conn()
                .expect("lock")
                .query_row("SELECT count(*) FROM replay", [], |r| r.get(0))
                .expect("count");
            assert_eq!(rows, 1);
            store.replay_forget(&marked).expect("forget");
            assert_eq!(store.replay_get(&marked).expect("get"), None);
            assert_eq!(store.replay_begin(&marked, 40).expect("begin"), None);
        }
        // A crash (or a stop) ends the marks; the answered entry is durable.
        let store = SqliteStore::open(&path).expect("reopens");
        assert_eq!(store.replay_get(&marked).expect("get"), None);
        assert!(matches!(
            store.replay_get(&answered).expect("get"),
            Some(ReplayEntry::Answered { .. })
        ));
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_panic() {
        let store = SqliteStore::open_in_memory().expect("opens");
        store
            .conn()
            .expect("lock")
            .execute_batch(
                "INSERT INTO replay (digest, message) VALUES (zeroblob(32), 12345);
                 INSERT INTO transactions VALUES (1, 't', 'PaymentHandler', '{}', NULL, 0);
                 INSERT INTO messages VALUES (1048579, 1, 'M', '<x/>');",
            )
            .expect("damage");
        let err = store.replay_get(&[0u8; 32]).expect_err("refused");
        assert!(err.0.contains("not stored"), "{err}");
        let err = store.load(&key("t")).expect_err("refused");
        assert!(err.0.contains("not contiguous"), "{err}");
    }

    #[test]
    fn a_foreign_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("other.db");
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch("CREATE TABLE t (x); PRAGMA application_id = 42;")
                .expect("make");
        }
        let err = SqliteStore::open(&path).expect_err("refused");
        assert!(err.0.contains("not an IOTP store"), "{err}");
        let c = Connection::open(&path).expect("open");
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "delete", "journal mode untouched");

        let plain = dir.path().join("plain.db");
        Connection::open(&plain)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x);"))
            .expect("make");
        let err = SqliteStore::open(&plain).expect_err("refused");
        assert!(err.0.contains("not an IOTP store"), "{err}");

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).expect("write");
        assert!(SqliteStore::open(&junk).is_err());
    }
}
