//! The built-in models.
//!
//! Semantics follow Jepsen: an `ok` op took effect with the output it
//! returned; a `fail` op did not take effect and is dropped (except a failed
//! cas when [`RegisterModel::fail_cas_observes`] is set, as in Porcupine's
//! etcd model); an `info` op may take effect at any point after its
//! invocation, or never, and its output is unknown, so an indeterminate read
//! constrains nothing and is dropped.

mod fifo_queue;
mod kv;
mod multi_register;
mod mutex;
mod register;
mod set;
mod unordered_queue;

pub use fifo_queue::{FifoQueueModel, QueueOp};
pub use kv::{KvMapModel, KvModel, KvOp, Text};
pub use multi_register::{Micro, MultiRegisterModel};
pub use mutex::{MutexModel, MutexOp};
pub use register::{CasOutcome, RegisterModel, RegisterOp};
pub use set::{SetModel, SetOp};
pub use unordered_queue::UnorderedQueueModel;

use crate::history::Operation;
use crate::model::{OpError, ValTable};

fn show_list(ids: &[u32], vals: &ValTable) -> String {
    let items: Vec<String> = ids.iter().map(|&i| vals.show(i)).collect();
    format!("[{}]", items.join(" "))
}

fn unknown_f(op: &Operation, expected: &str) -> OpError {
    OpError::new(
        "f",
        format!(
            "`{}` is not an operation of this model (expected {expected})",
            op.f
        ),
    )
}
