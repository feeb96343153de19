//! Node runtime shared by every bundled system: wall clock, HTTP, storage,
//! node flags and routes, and the two replication schemes (Raft; async
//! primary–backup on the versioned store).

pub mod api;
pub mod clock;
pub mod http;
pub mod node;
pub mod primary;
pub mod raft;
pub mod store;
pub mod wal;
