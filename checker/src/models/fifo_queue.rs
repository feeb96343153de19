//! The `fifo-queue` model, and the queue ops it shares with
//! [`super::UnorderedQueueModel`].

use super::{show_list, unknown_f};
use crate::history::{Operation, Status};
use crate::model::{fname, happened, Model, OpError, ValTable};
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOp {
    Enqueue(u32),
    /// A dequeue that returned this element.
    Dequeue(u32),
    /// A dequeue that found the queue empty.
    DequeueEmpty,
    /// A dequeue whose outcome is unknown.
    DequeueUnknown,
}

pub(super) fn queue_prepare(
    op: &Operation,
    vals: &mut ValTable,
    unordered: bool,
) -> Result<Option<QueueOp>, OpError> {
    match fname(op) {
        "enqueue" | "push" | "offer" => {
            Ok(happened(op).then(|| QueueOp::Enqueue(vals.intern(&op.input))))
        }
        "dequeue" | "pop" | "poll" => Ok(match op.status {
            Status::Fail => None,
            // An unordered queue's unknown dequeue may have removed any
            // element; since leftovers are allowed, that is the same as never
            // happening.
            Status::Info if unordered => None,
            Status::Info => Some(QueueOp::DequeueUnknown),
            Status::Ok if op.output.is_null() => Some(QueueOp::DequeueEmpty),
            Status::Ok => Some(QueueOp::Dequeue(vals.intern(&op.output))),
        }),
        _ => Err(unknown_f(op, "enqueue or dequeue")),
    }
}

/// Which queue ops the search may leave out: an indeterminate enqueue of
/// an element that no dequeue returned. Had it happened, the element would
/// have sat in the queue (FIFO: ahead of every later element, none of which
/// could then come out past it) until the end; taking it out only lets more
/// dequeues find the queue empty, and an indeterminate dequeue that took it
/// may be left out as well. So the verdict is the same without it.
pub(super) fn queue_removable(ops: &[(&QueueOp, bool)]) -> Vec<bool> {
    let returned: rustc_hash::FxHashSet<u32> = ops
        .iter()
        .filter_map(|(o, _)| match o {
            QueueOp::Dequeue(x) => Some(*x),
            _ => None,
        })
        .collect();
    ops.iter()
        .map(|(o, completed)| {
            !completed && matches!(o, QueueOp::Enqueue(x) if !returned.contains(x))
        })
        .collect()
}

pub(super) fn describe_queue_op(op: &QueueOp, vals: &ValTable) -> String {
    match op {
        QueueOp::Enqueue(x) => format!("enqueue {}", vals.show(*x)),
        QueueOp::Dequeue(x) => format!("dequeue -> {}", vals.show(*x)),
        QueueOp::DequeueEmpty => "dequeue -> empty".to_string(),
        QueueOp::DequeueUnknown => "dequeue -> unknown".to_string(),
    }
}

/// A FIFO queue.
#[derive(Debug, Clone, Default)]
pub struct FifoQueueModel;

impl Model for FifoQueueModel {
    type State = VecDeque<u32>;
    type Op = QueueOp;
    fn name(&self) -> &'static str {
        "fifo-queue"
    }
    fn init(&self) -> VecDeque<u32> {
        VecDeque::new()
    }
    fn state_heap_bytes(&self, s: &VecDeque<u32>) -> usize {
        s.capacity() * 4
    }
    fn step(&self, s: &VecDeque<u32>, op: &QueueOp) -> Option<VecDeque<u32>> {
        match *op {
            QueueOp::Enqueue(x) => {
                let mut t = s.clone();
                t.push_back(x);
                Some(t)
            }
            QueueOp::Dequeue(x) => {
                (s.front() == Some(&x)).then(|| s.iter().skip(1).copied().collect())
            }
            QueueOp::DequeueEmpty => s.is_empty().then(VecDeque::new),
            QueueOp::DequeueUnknown => Some(s.iter().skip(1).copied().collect()),
        }
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<QueueOp>, OpError> {
        queue_prepare(op, vals, false)
    }
    fn removable(&self, ops: &[(&QueueOp, bool)]) -> Vec<bool> {
        queue_removable(ops)
    }
    fn read_only(&self, op: &QueueOp) -> bool {
        matches!(op, QueueOp::DequeueEmpty)
    }
    fn describe_state(&self, s: &VecDeque<u32>, vals: &ValTable) -> String {
        let v: Vec<u32> = s.iter().copied().collect();
        show_list(&v, vals)
    }
    fn describe_op(&self, op: &QueueOp, vals: &ValTable) -> String {
        describe_queue_op(op, vals)
    }
    fn explain(&self, s: &VecDeque<u32>, op: &QueueOp, vals: &ValTable) -> String {
        match (op, s.front()) {
            (QueueOp::Dequeue(x), Some(h)) => format!(
                "dequeue returned {} but the head of the queue is {}",
                vals.show(*x),
                vals.show(*h)
            ),
            (QueueOp::Dequeue(x), None) => {
                format!("dequeue returned {} but the queue is empty", vals.show(*x))
            }
            _ => format!("dequeue found the queue empty but it holds {}", s.len()),
        }
    }
}
