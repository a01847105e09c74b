//! The runtime of IOTP v1.0 (RFC 2801): what a node needs around the sans-I/O engine of the
//! [`iotp`] crate.
//!
//! # What exists
//!
//! - [`SqliteStore`]: the engine's [`Store`](iotp::store::Store) in one SQLite file
//!   (rusqlite, SQLite bundled), with versioned schema migrations. It is the embedded
//!   default store.
//!
//! # Money-safety
//!
//! A response leaves the node only after the state that produced it is durable: the engine
//! sends nothing until [`Store::commit`](iotp::store::Store::commit) has returned, and
//! [`SqliteStore`] returns from `commit` only once SQLite has fsynced the commit to its
//! write-ahead log (`journal_mode=WAL`, `synchronous=FULL`, checked on open). Each commit is
//! one SQLite transaction: the records and the replay entries of a commit are written
//! together or not at all. See [`store::sqlite`].
//!
//! # What is to come (not here yet)
//!
//! The rest of the runtime described in DESIGN.md §6 is not written yet: the node itself (one
//! or more roles, a TOML configuration), the plugin registry, transport drivers (HTTP per
//! RFC 2935, TLS), retransmission timers, and the PostgreSQL store. Until then, a host drives
//! [`iotp::txn::Engine`] itself, with a [`SqliteStore`] as its store.

#![forbid(unsafe_code)]

pub mod store;

pub use store::sqlite::{SCHEMA_VERSION, SqliteStore};
