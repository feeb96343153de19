//! Node runtime shared by every bundled system: wall clock, HTTP, storage.

pub mod clock;
pub mod http;
pub mod wal;
