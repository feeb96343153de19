//! Bundled systems under test and their shared node runtime.
//!
//! `faultline-kv` (see `systems/README.md`) is a replicated key-value store
//! with six consistency levels ([`kv`]); `faultline-queue` ([`queue`]) a
//! work queue with acks and redelivery; `faultline-lock` ([`lock`]) a lock
//! service with leases and fencing tokens; `faultline-txn` ([`txn`]) a
//! sharded transactional store (multi-Raft, two-phase commit, MVCC) with
//! four isolation levels. The node runtime (flag parsing,
//! wall clock, HTTP server and client, write-ahead storage, the shared Raft
//! integration) lives in [`runtime`], as do the async primary–backup
//! replication ([`runtime::primary`]) and the versioned store under it
//! ([`runtime::store`]), shared by kv and queue.

pub mod kv;
pub mod lock;
pub mod queue;
pub mod runtime;
pub mod txn;
