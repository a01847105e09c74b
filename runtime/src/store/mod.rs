//! Durable implementations of the engine's [`iotp::store::Store`].
//!
//! Today: [`sqlite::SqliteStore`]. The PostgreSQL store (several nodes sharing one database)
//! is to come, and will pass the same contract, [`iotp::store::check_store_contract`].

pub mod sqlite;
