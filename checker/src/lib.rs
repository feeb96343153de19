//! faultline's checker: history formats, models, a parallel linearizability
//! checker and consistency checks. A pure library: it knows nothing of the
//! harness that records histories.

pub mod formats;
pub mod history;

pub use history::{Event, EventType, History, InputError, Operation, Process, Status};
pub mod linearizability;
pub mod model;
pub mod models;
pub mod verdict;
pub mod wgl;

pub use linearizability::{check as check_linearizability, LinOptions, LinResult, ModelKind};
pub use verdict::Verdict;
pub mod consistency;
pub mod lock;
pub mod oracle;
pub mod queue;
pub mod synth;
