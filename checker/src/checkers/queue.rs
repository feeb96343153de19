//! The `total-queue` and `fifo-queue` checkers.

use super::{text, with_checker};
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::history::{History, Operation};
use crate::queue::{self, Delivery, FifoOptions, FifoResult, TotalQueueResult};
use serde_json::{json, Map, Value};
use std::time::Instant;

/// Jepsen's total-queue with a delivery guarantee (see [`crate::queue`]).
///
/// Details: the [`TotalQueueResult`] (`delivery`, `attempted`,
/// `acknowledged`, `deliveries`, `delivered`, `lost`, `duplicated`,
/// `unexpected`, `recovered`, `summary`) with `checker`. Anomalies: each
/// example of `lost`, `duplicated` and `unexpected` when that kind makes the
/// history invalid (duplicates under at-least-once and `recovered`
/// elements are not anomalies); an example's ops are its enqueue, then its
/// deliveries.
#[derive(Debug, Clone)]
pub struct TotalQueue {
    pub delivery: Delivery,
    /// Prefix mode (the online check): see [`queue::check_total_prefix`].
    pub prefix: bool,
}

impl TotalQueue {
    pub fn run(&self, ops: &[Operation]) -> TotalQueueResult {
        if self.prefix {
            queue::check_total_prefix(ops, self.delivery)
        } else {
            queue::check_total(ops, self.delivery)
        }
    }

    pub fn judge(r: &TotalQueueResult) -> CheckResult {
        let mut anomalies = Vec::new();
        for (part, a) in [
            ("lost", &r.lost),
            ("duplicated", &r.duplicated),
            ("unexpected", &r.unexpected),
        ] {
            if !a.invalid || a.count == 0 {
                continue;
            }
            for ex in &a.examples {
                let queue = ex
                    .queue
                    .as_ref()
                    .map(|q| format!(" on queue {q}"))
                    .unwrap_or_default();
                let times = if part == "duplicated" {
                    format!(", delivered {} times", ex.delivered)
                } else {
                    String::new()
                };
                anomalies.push(Anomaly {
                    part: part.to_string(),
                    what: format!("{part}: element {}{queue}{times}", text(&ex.value)),
                    ops: ex.ops.clone(),
                });
            }
        }
        CheckResult {
            verdict: r.verdict,
            details: with_checker(serde_json::to_value(r).unwrap_or_default(), "total-queue"),
            anomalies,
        }
    }
}

impl Checker for TotalQueue {
    fn name(&self) -> &str {
        "total-queue"
    }

    fn check(&self, history: &History, _budget: &Budget) -> CheckResult {
        match history.operations() {
            Ok(ops) => Self::judge(&self.run(&ops)),
            Err(e) => CheckResult::unknown("total-queue", e.to_string()),
        }
    }
}

/// Each queue's `enqueue`/`dequeue` ops (`drain` and `ack` dropped)
/// checked for linearizability against the `fifo-queue` model, on queues of
/// at most `opts.max_ops_per_queue` ops, within the smaller of its own
/// budget (`opts`) and the check's.
///
/// **Informational**: its verdict never changes the run's, and it reports
/// no anomalies. The bundled queues do not promise FIFO order (the raft
/// queue is at-least-once and redelivers unacknowledged messages, the
/// others lose messages on failover), so a FIFO violation there is expected,
/// not a bug. To hold a history to FIFO order, use
/// `linearizability:fifo-queue`.
///
/// Details: `checker`, `informational` (true), `verdict`,
/// `checked_queues`, `skipped_queues` (over the cap: they make the verdict
/// `unknown`), `max_ops_per_queue`, `checked_ops`, `reason` (why unknown),
/// `counterexample` and `explanation` (when invalid), `seconds`.
#[derive(Debug, Clone)]
pub struct FifoQueue {
    pub opts: FifoOptions,
}

impl FifoQueue {
    pub fn run(&self, ops: &[Operation], budget: &Budget) -> FifoResult {
        let opts = FifoOptions {
            max_ops_per_queue: self.opts.max_ops_per_queue,
            timeout: match (self.opts.timeout, budget.timeout) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            max_bytes: self.opts.max_bytes.min(budget.max_bytes),
        };
        queue::check_fifo(ops, &opts)
    }

    /// The details object of a result that took `seconds`.
    pub fn details(&self, r: &FifoResult, seconds: f64) -> Value {
        let mut m = Map::new();
        m.insert("checker".into(), json!("fifo-queue"));
        m.insert("informational".into(), json!(true));
        m.insert("verdict".into(), json!(r.verdict.as_str()));
        m.insert("checked_queues".into(), json!(r.queues));
        m.insert("skipped_queues".into(), json!(r.skipped));
        m.insert(
            "max_ops_per_queue".into(),
            json!(self.opts.max_ops_per_queue),
        );
        let lin = r.linearizability.as_ref();
        m.insert(
            "checked_ops".into(),
            json!(lin.map(|l| l.checked_ops).unwrap_or(0)),
        );
        if let Some(reason) = lin.and_then(|l| l.reason.clone()).or(r.reason.clone()) {
            m.insert("reason".into(), json!(reason));
        }
        if let Some(ce) = lin.and_then(|l| l.counterexample.as_ref()) {
            m.insert("explanation".into(), json!(ce.explanation));
            m.insert(
                "counterexample".into(),
                serde_json::to_value(ce).unwrap_or(Value::Null),
            );
        }
        m.insert("seconds".into(), json!((seconds * 1e3).round() / 1e3));
        Value::Object(m)
    }
}

impl Checker for FifoQueue {
    fn name(&self) -> &str {
        "fifo-queue"
    }

    fn informational(&self) -> bool {
        true
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        let start = Instant::now();
        let ops = match history.operations() {
            Ok(ops) => ops,
            Err(e) => return CheckResult::unknown("fifo-queue", e.to_string()),
        };
        let r = self.run(&ops, budget);
        CheckResult {
            verdict: r.verdict,
            details: self.details(&r, start.elapsed().as_secs_f64()),
            anomalies: Vec::new(),
        }
    }
}
