//! The `unordered-queue` model: a queue that may deliver its elements in
//! any order.

use super::fifo_queue::{describe_queue_op, queue_prepare, queue_removable, QueueOp};
use super::show_list;
use crate::history::Operation;
use crate::model::{Model, OpError, ValTable};
use std::sync::Arc;

/// A queue that may deliver its elements in any order (a multiset).
#[derive(Debug, Clone, Default)]
pub struct UnorderedQueueModel;

impl Model for UnorderedQueueModel {
    /// Sorted elements (with repeats).
    type State = Arc<[u32]>;
    type Op = QueueOp;
    fn name(&self) -> &'static str {
        "unordered-queue"
    }
    fn init(&self) -> Arc<[u32]> {
        Arc::from(Vec::new())
    }
    fn state_heap_bytes(&self, s: &Arc<[u32]>) -> usize {
        s.len() * 4 + 16
    }
    fn step(&self, s: &Arc<[u32]>, op: &QueueOp) -> Option<Arc<[u32]>> {
        match *op {
            QueueOp::Enqueue(x) => {
                let mut v = s.to_vec();
                let i = v.partition_point(|&y| y <= x);
                v.insert(i, x);
                Some(v.into())
            }
            QueueOp::Dequeue(x) => {
                let i = s.binary_search(&x).ok()?;
                let mut v = s.to_vec();
                v.remove(i);
                Some(v.into())
            }
            QueueOp::DequeueEmpty => s.is_empty().then(|| s.clone()),
            QueueOp::DequeueUnknown => Some(s.clone()),
        }
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<QueueOp>, OpError> {
        queue_prepare(op, vals, true)
    }
    fn removable(&self, ops: &[(&QueueOp, bool)]) -> Vec<bool> {
        queue_removable(ops)
    }
    fn describe_state(&self, s: &Arc<[u32]>, vals: &ValTable) -> String {
        show_list(s, vals)
    }
    fn describe_op(&self, op: &QueueOp, vals: &ValTable) -> String {
        describe_queue_op(op, vals)
    }
}
