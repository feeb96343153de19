//! Bundled systems under test and their shared node runtime.
//!
//! `faultline-kv` (see `systems/README.md`) is a replicated key-value store
//! with six consistency levels. The node runtime (config parsing, wall clock,
//! HTTP server and client, write-ahead storage) lives in [`runtime`] and is
//! shared by every level; the levels themselves live in [`kv`].

pub mod kv;
pub mod runtime;
