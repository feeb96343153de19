//! faultline's checker: history formats, models, a parallel linearizability
//! checker and consistency checks. A pure library: it knows nothing of the
//! harness that records histories.

pub mod formats;
pub mod history;

pub use history::{Event, EventType, History, InputError, Operation, Process, Status};
