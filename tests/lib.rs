//! Cross-crate tests of the IOTP engine live beside this file (`corpus.rs`); the golden XML is
//! in `data/` (see `data/README.md`).

pub mod conformance;
