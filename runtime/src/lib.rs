//! The runtime of IOTP v1.0 (RFC 2801): what a node needs around the sans-I/O engine of the
//! [`iotp`] crate. It is the embedding surface that the C ABI and the Python bindings wrap.
//!
//! - [`Node`]: one or more trading roles as a running node: the engine, its durable store,
//!   the payment scheme and transport plugins (found in a directory and named in the
//!   configuration), sender threads and the retransmission timer; [`Node::handle`] for a
//!   server's incoming messages, [`Node::pay`], [`Node::inquire`], [`Node::ping`] for a
//!   Consumer.
//! - [`NodeConfig`]: the node's TOML configuration (see [`config`]).
//! - [`SqliteStore`]: the engine's [`Store`](iotp::store::Store) in one SQLite file
//!   (rusqlite, SQLite bundled), with versioned schema migrations. It is the embedded
//!   default store.
//! - [`tls::LocalCa`]: a local certificate authority for demos and tests of TLS net
//!   locations.
//!
//! # Money-safety
//!
//! A response leaves the node only after the state that produced it is durable: the engine
//! sends nothing until [`Store::commit`](iotp::store::Store::commit) has returned, and
//! [`SqliteStore`] returns from `commit` only once its write-ahead log (`journal_mode=WAL`) has
//! been synced with fdatasync after the commit, by the store itself. Each commit is
//! one SQLite transaction: the records and the replay entries of a commit are written
//! together or not at all. See [`store::sqlite`]. The node keeps no state of its own beside
//! the engine's.
//!
//! # Not here yet
//!
//! The PostgreSQL store (several nodes sharing one database) and group commit.

#![forbid(unsafe_code)]

pub mod config;
pub mod demo;
pub mod log;
pub mod node;
pub mod store;
pub mod tls;

pub use config::{ConfigError, NodeConfig};
pub use log::LogSink;
pub use node::{BridgeFactory, Node, NodeApps, NodeError, OfferSource, PingAnswer, Tap, Traffic};
pub use store::sqlite::{SCHEMA_VERSION, SqliteStore};
