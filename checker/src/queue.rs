//! Queue checks: Jepsen's `total-queue`, plus a helper that runs the
//! `fifo-queue` linearizability model on short per-queue histories.
//!
//! # History shape
//! Client ops (the event's optional `key` names the queue; values are unique
//! per queue, any JSON scalar):
//! - `enqueue`: invoke value = the element. `ok` = acknowledged; `fail` =
//!   certainly not enqueued; `info` = maybe enqueued.
//! - `dequeue`: `ok` value = the element delivered, or `null` when the queue
//!   was empty. `fail`/`info` dequeues deliver nothing the client saw.
//! - `drain` (optional): `ok` value = an array of elements delivered.
//! - anything else (`ack`, ...) is ignored.
//!
//! # total-queue
//! - **lost**: an acknowledged (`ok`) enqueue whose element was never
//!   delivered. Always an anomaly.
//! - **duplicated**: an element delivered more than once. Allowed only when
//!   the declared [`Delivery`] guarantee is at-least-once.
//! - **unexpected**: an element delivered that was never enqueued, or whose
//!   enqueue definitely failed. Always an anomaly.
//! - **recovered**: an `info` enqueue whose element was delivered (not an
//!   anomaly; reported for completeness, as in Jepsen).
//!
//! Every anomaly carries up to [`MAX_EXAMPLES`] examples naming the history
//! `index` of the ops involved.

use crate::history::{Operation, Status};
use crate::linearizability::{self, LinOptions, LinResult, ModelKind};
use crate::model::key_text;
use crate::verdict::Verdict;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Examples kept per anomaly.
pub const MAX_EXAMPLES: usize = 8;

/// The delivery guarantee a system declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    AtLeastOnce,
    AtMostOnce,
    ExactlyOnce,
}

impl Delivery {
    pub fn name(self) -> &'static str {
        match self {
            Delivery::AtLeastOnce => "at-least-once",
            Delivery::AtMostOnce => "at-most-once",
            Delivery::ExactlyOnce => "exactly-once",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        [
            Delivery::AtLeastOnce,
            Delivery::AtMostOnce,
            Delivery::ExactlyOnce,
        ]
        .into_iter()
        .find(|d| d.name() == s)
    }

    /// Whether delivering an element more than once is allowed.
    pub fn allows_duplicates(self) -> bool {
        self == Delivery::AtLeastOnce
    }
}

/// One example of an anomaly: the element, its queue, and the history
/// indices of the ops involved (the enqueue first when there is one, then
/// the deliveries).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueExample {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    pub value: Value,
    /// How many times it was delivered.
    pub delivered: usize,
    /// History `index` of the ops involved (invocation indices).
    pub ops: Vec<u64>,
}

/// One kind of anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub count: usize,
    /// Whether it makes the history invalid.
    pub invalid: bool,
    pub examples: Vec<QueueExample>,
}

impl Anomaly {
    fn new(invalid: bool) -> Anomaly {
        Anomaly {
            count: 0,
            invalid,
            examples: Vec::new(),
        }
    }

    fn add(&mut self, ex: QueueExample) {
        self.count += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(ex);
        }
    }
}

/// The result of [`check_total`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TotalQueueResult {
    pub verdict: Verdict,
    pub delivery: Delivery,
    /// Enqueues invoked.
    pub attempted: usize,
    /// Enqueues acknowledged (`ok`).
    pub acknowledged: usize,
    /// Deliveries seen (dequeue and drain elements), counting duplicates.
    pub deliveries: usize,
    /// Distinct elements delivered.
    pub delivered: usize,
    pub lost: Anomaly,
    pub duplicated: Anomaly,
    pub unexpected: Anomaly,
    pub recovered: Anomaly,
    /// One line for people.
    pub summary: String,
}

#[derive(Default)]
struct Elem {
    enqueue: Option<(Status, u64)>,
    deliveries: Vec<u64>,
}

fn queue_name(op: &Operation) -> Option<String> {
    op.key.as_ref().map(key_text)
}

/// Runs Jepsen's total-queue check over client operations.
pub fn check_total(ops: &[Operation], delivery: Delivery) -> TotalQueueResult {
    total(ops, delivery, false)
}

/// [`check_total`] on the closed prefix of a history still being written
/// (the online check; ops open at the cut have no completion). Only
/// `duplicated` can make it invalid: an element delivered twice in the
/// prefix is delivered twice in the whole. `lost` is off (the element may
/// be delivered later, by a dequeue or the final drain), and so is
/// `unexpected` (the element's enqueue may come later, and an enqueue
/// keeps its strongest outcome, so a failed enqueue in the prefix may be
/// followed by an acknowledged one of the same element); both are still
/// counted in the result.
pub fn check_total_prefix(ops: &[Operation], delivery: Delivery) -> TotalQueueResult {
    total(ops, delivery, true)
}

fn total(ops: &[Operation], delivery: Delivery, prefix: bool) -> TotalQueueResult {
    // (queue, element text) -> element; BTreeMap for a stable report order.
    let mut elems: BTreeMap<(Option<String>, String), (Value, Elem)> = BTreeMap::new();
    let mut attempted = 0;
    let mut acknowledged = 0;
    let mut deliveries = 0;
    type Elems = BTreeMap<(Option<String>, String), (Value, Elem)>;
    fn slot<'a>(elems: &'a mut Elems, q: Option<String>, v: &Value) -> &'a mut Elem {
        &mut elems
            .entry((q, v.to_string()))
            .or_insert_with(|| (v.clone(), Elem::default()))
            .1
    }
    for op in ops.iter().filter(|o| o.process.is_client()) {
        let f = op.f.strip_prefix(':').unwrap_or(&op.f);
        match f {
            "enqueue" => {
                attempted += 1;
                if op.status == Status::Ok {
                    acknowledged += 1;
                }
                let e = slot(&mut elems, queue_name(op), &op.input);
                // A value enqueued twice keeps its strongest outcome.
                let rank = |s: Status| match s {
                    Status::Ok => 2,
                    Status::Info => 1,
                    Status::Fail => 0,
                };
                if e.enqueue.is_none_or(|(s, _)| rank(op.status) > rank(s)) {
                    e.enqueue = Some((op.status, op.invoke_index));
                }
            }
            "dequeue" if op.status == Status::Ok && !op.output.is_null() => {
                deliveries += 1;
                slot(&mut elems, queue_name(op), &op.output)
                    .deliveries
                    .push(op.invoke_index);
            }
            "drain" if op.status == Status::Ok => {
                for v in op.output.as_array().into_iter().flatten() {
                    deliveries += 1;
                    slot(&mut elems, queue_name(op), v)
                        .deliveries
                        .push(op.invoke_index);
                }
            }
            _ => {}
        }
    }
    let mut lost = Anomaly::new(!prefix);
    let mut duplicated = Anomaly::new(!delivery.allows_duplicates());
    let mut unexpected = Anomaly::new(!prefix);
    let mut recovered = Anomaly::new(false);
    let mut delivered = 0;
    for ((queue, _), (value, e)) in &elems {
        let n = e.deliveries.len();
        if n > 0 {
            delivered += 1;
        }
        let ex = || {
            let mut ops: Vec<u64> = e.enqueue.map(|(_, i)| i).into_iter().collect();
            ops.extend(&e.deliveries);
            QueueExample {
                queue: queue.clone(),
                value: value.clone(),
                delivered: n,
                ops,
            }
        };
        match e.enqueue {
            Some((Status::Ok, _)) if n == 0 => lost.add(ex()),
            Some((Status::Info, _)) if n > 0 => recovered.add(ex()),
            None | Some((Status::Fail, _)) if n > 0 => unexpected.add(ex()),
            _ => {}
        }
        if n > 1 {
            duplicated.add(ex());
        }
    }
    let bad = [&lost, &duplicated, &unexpected]
        .iter()
        .any(|a| a.invalid && a.count > 0);
    let verdict = if bad {
        Verdict::Invalid
    } else {
        Verdict::Valid
    };
    let summary = format!(
        "{}: {acknowledged}/{attempted} enqueues acknowledged, {delivered} distinct elements delivered ({deliveries} deliveries); lost {}, duplicated {}{}, unexpected {}, recovered {}",
        verdict.as_str(),
        lost.count,
        duplicated.count,
        if duplicated.count > 0 && !duplicated.invalid {
            format!(" (allowed by {})", delivery.name())
        } else {
            String::new()
        },
        unexpected.count,
        recovered.count
    );
    TotalQueueResult {
        verdict,
        delivery,
        attempted,
        acknowledged,
        deliveries,
        delivered,
        lost,
        duplicated,
        unexpected,
        recovered,
        summary,
    }
}

/// Options for [`check_fifo`].
#[derive(Debug, Clone)]
pub struct FifoOptions {
    /// Queues with more enqueue/dequeue ops than this are not searched (the
    /// search is exponential in concurrency): they make the verdict
    /// `unknown`.
    pub max_ops_per_queue: usize,
    pub timeout: Option<Duration>,
    /// Approximate bytes the search may use (the linearizability checker's
    /// `max_bytes`); over it the verdict is `unknown`.
    pub max_bytes: usize,
}

impl Default for FifoOptions {
    fn default() -> Self {
        FifoOptions {
            max_ops_per_queue: 2_000,
            timeout: Some(Duration::from_secs(30)),
            max_bytes: LinOptions::default().max_bytes,
        }
    }
}

/// The result of [`check_fifo`].
#[derive(Debug, Clone, Serialize)]
pub struct FifoResult {
    pub verdict: Verdict,
    /// Queues checked.
    pub queues: usize,
    /// Queues too long to search.
    pub skipped: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<LinResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Checks each queue's enqueue/dequeue ops (other ops, e.g. `ack` and
/// `drain`, are dropped) against the `fifo-queue` model. Queues over
/// `max_ops_per_queue` ops are skipped and make the verdict `unknown`.
pub fn check_fifo(ops: &[Operation], opts: &FifoOptions) -> FifoResult {
    let mut per_queue: BTreeMap<String, usize> = BTreeMap::new();
    let keep: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.process.is_client())
        .filter(|o| matches!(o.f.strip_prefix(':').unwrap_or(&o.f), "enqueue" | "dequeue"))
        .collect();
    for o in &keep {
        *per_queue
            .entry(queue_name(o).unwrap_or_default())
            .or_default() += 1;
    }
    let skipped: Vec<String> = per_queue
        .iter()
        .filter(|(_, n)| **n > opts.max_ops_per_queue)
        .map(|(q, _)| q.clone())
        .collect();
    let selected: Vec<Operation> = keep
        .into_iter()
        .filter(|o| !skipped.contains(&queue_name(o).unwrap_or_default()))
        .cloned()
        .enumerate()
        .map(|(i, mut o)| {
            o.id = i;
            o
        })
        .collect();
    let lin_opts = LinOptions {
        model: ModelKind::FifoQueue,
        partition: true,
        timeout: opts.timeout,
        max_bytes: opts.max_bytes,
        ..LinOptions::default()
    };
    let queues = per_queue.len() - skipped.len();
    let (lin, reason) = if selected.is_empty() {
        (None, None)
    } else {
        match linearizability::check(&selected, &lin_opts, "queue history") {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let mut verdict = match (&lin, &reason) {
        (Some(r), _) => r.verdict,
        (None, Some(_)) => Verdict::Unknown,
        (None, None) => Verdict::Valid,
    };
    let reason = reason.or_else(|| {
        (!skipped.is_empty()).then(|| {
            format!(
                "{} queue(s) longer than {} ops not searched",
                skipped.len(),
                opts.max_ops_per_queue
            )
        })
    });
    if !skipped.is_empty() {
        verdict = verdict.merge(Verdict::Unknown);
    }
    FifoResult {
        verdict,
        queues,
        skipped,
        linearizability: lin,
        reason,
    }
}
