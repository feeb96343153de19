//! Node runtime shared by every bundled system: wall clock, HTTP, storage.

pub mod api;
pub mod clock;
pub mod http;
pub mod node;
pub mod raft;
pub mod wal;
