//! The `queue` workload: unique values enqueued, dequeued and acked
//! concurrently on short-lived queues (`--ops-per-key` ops each, so each
//! queue's history is short enough for the fifo-queue linearizability
//! pass); after the final heal every queue used is drained on every node.
//! Judged by Jepsen's total-queue check with the level's delivery
//! guarantee, plus an informational fifo-queue pass. The history key of an
//! op is its queue number.
//!
//! Options a system file may set (per level): `delivery` (`at-least-once`,
//! the default, or `at-most-once`) and `redelivery` (default true: a
//! message taken and not acked comes back after its visibility timeout, so
//! the drain first waits that out).

use super::faultline_http::{Answer, Conn};
use super::{
    BoxFuture, Client, Completion, Driver, Generator, Next, Op, Outcome, Setup, Worker, Workload,
    WorkloadKind,
};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Visibility timeout asked for on every dequeue (ms).
pub const VISIBILITY_MS: u64 = 2000;
/// How long the final drain may take (clock bumps move visibility
/// deadlines by up to 5 minutes).
const DRAIN_SECS: u64 = 330;

pub struct Queue;

impl WorkloadKind for Queue {
    fn name(&self) -> &'static str {
        "queue"
    }

    fn describe(&self) -> &'static str {
        "unique values enqueued, dequeued and acked on short-lived queues (--ops-per-key ops each), every queue drained on every node after the final heal; total-queue (lost, duplicated, unexpected, recovered) with the level's delivery guarantee, and a fifo-queue pass"
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["faultline-http"]
    }

    fn options(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "delivery",
                "at-least-once (default) or at-most-once: what total-queue holds the system to",
            ),
            (
                "redelivery",
                "true (default): unacked messages come back after the visibility timeout, so the drain waits it out",
            ),
        ]
    }

    fn build(&self, setup: &Setup) -> Result<Arc<dyn Workload>> {
        let delivery = setup.option_str("delivery", "at-least-once")?.to_string();
        if !matches!(delivery.as_str(), "at-least-once" | "at-most-once") {
            bail!("workload option delivery: expected at-least-once or at-most-once, got {delivery:?}");
        }
        let spec = setup.spec;
        Ok(Arc::new(QueueRun {
            delivery,
            redelivery: setup.option_bool("redelivery", true)?,
            nodes: setup.nodes.iter().map(Conn::new).collect(),
            values: Arc::new(AtomicI64::new(1)),
            rotation: Arc::new(Rotation::new(spec.ops_per_key)),
            seed: spec.seed,
            timeout: Duration::from_secs_f64(spec.op_timeout),
        }))
    }
}

/// Which queue the next op goes to: `per_queue` ops each, then the next.
pub struct Rotation {
    ops: AtomicU64,
    per_queue: u64,
}

impl Rotation {
    pub fn new(per_queue: usize) -> Rotation {
        Rotation {
            ops: AtomicU64::new(0),
            per_queue: per_queue.max(1) as u64,
        }
    }

    fn next(&self) -> u64 {
        self.ops.fetch_add(1, Ordering::Relaxed) / self.per_queue
    }

    /// How many queues have been used (0..used).
    pub fn used(&self) -> u64 {
        self.ops
            .load(Ordering::Relaxed)
            .div_ceil(self.per_queue)
            .max(1)
    }
}

struct QueueRun {
    delivery: String,
    redelivery: bool,
    nodes: Vec<Conn>,
    values: Arc<AtomicI64>,
    rotation: Arc<Rotation>,
    seed: u64,
    timeout: Duration,
}

fn enqueue(q: u64, v: i64) -> Op {
    Op {
        f: "enqueue",
        key: Some(q),
        value: json!(v),
    }
}

fn dequeue(q: u64) -> Op {
    Op {
        f: "dequeue",
        key: Some(q),
        value: Value::Null,
    }
}

/// The ack that follows a dequeue that delivered a message with an id.
fn ack_after(last: Option<(&Op, &Completion)>) -> Option<Op> {
    let (op, c) = last?;
    if op.f != "dequeue" || c.outcome != Outcome::Ok {
        return None;
    }
    let id = c.answer.get("id").and_then(Value::as_str)?;
    Some(Op {
        f: "ack",
        key: op.key,
        value: json!({ "id": id }),
    })
}

/// A worker's cycles: an enqueue of a unique value, or a dequeue (and the
/// ack of what it delivered), half each.
struct QueueGen {
    rng: ChaCha8Rng,
    values: Arc<AtomicI64>,
    rotation: Arc<Rotation>,
    paced: bool,
}

impl Generator for QueueGen {
    fn next(&mut self, last: Option<(&Op, &Completion)>) -> Next {
        if let Some(ack) = ack_after(last) {
            return Next::Op(ack);
        }
        if !self.paced {
            self.paced = true;
            return Next::Pace;
        }
        self.paced = false;
        let q = self.rotation.next();
        Next::Op(if self.rng.random_bool(0.5) {
            enqueue(q, self.values.fetch_add(1, Ordering::Relaxed))
        } else {
            dequeue(q)
        })
    }
}

impl QueueRun {
    /// Drains queues `0..queues` through `w`: on each, dequeue (and ack)
    /// until the node answers `message: null`, retrying errors, until
    /// `deadline`.
    async fn drain(&self, driver: &Driver, w: &mut Worker, queues: u64, deadline: Instant) {
        for q in 0..queues {
            let mut errors = 0u32;
            while Instant::now() < deadline && !driver.interrupted.load(Ordering::Relaxed) {
                let op = dequeue(q);
                let c = driver.run_op(w, &op).await;
                if let Some(ack) = ack_after(Some((&op, &c))) {
                    driver.run_op(w, &ack).await;
                }
                match c.outcome {
                    Outcome::Ok if c.answer.is_null() => break,
                    Outcome::Ok => errors = 0,
                    _ => {
                        errors += 1;
                        if errors > 20 {
                            tracing::warn!(node = %w.client.home(), "drain gave up after 20 errors");
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(100 * u64::from(errors.min(10))))
                            .await;
                    }
                }
            }
        }
    }

    /// Messages in flight over `queues`, asked of the first node that
    /// answers (outside the history).
    async fn in_flight(&self, queues: u64) -> Option<u64> {
        for c in &self.nodes {
            let mut sum = Some(0u64);
            for q in 0..queues {
                let r = c
                    .get_json(&format!("/queue/q{q}"), Duration::from_secs(2))
                    .await;
                sum = match (sum, r.and_then(|v| v["in_flight"].as_u64())) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                if sum.is_none() {
                    break;
                }
            }
            if sum.is_some() {
                return sum;
            }
        }
        None
    }
}

impl Workload for QueueRun {
    fn generator(&self, worker: usize) -> Box<dyn Generator> {
        Box::new(QueueGen {
            rng: ChaCha8Rng::seed_from_u64(
                self.seed ^ (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            values: self.values.clone(),
            rotation: self.rotation.clone(),
            paced: false,
        })
    }

    fn client(&self, worker: usize) -> Box<dyn Client> {
        Box::new(QueueClient {
            conn: self.nodes[worker % self.nodes.len()].clone(),
            timeout: self.timeout,
        })
    }

    /// Waits out the visibility timeout (when messages are redelivered),
    /// then drains every node in turn with the first worker bound to it;
    /// again while messages are still in flight (a dequeue whose reply was
    /// lost keeps its message until the timeout, by the node's wall clock,
    /// which a clock fault may have moved).
    fn final_phase<'a>(&'a self, driver: &'a Driver, workers: Vec<Worker>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.redelivery {
                tokio::time::sleep(Duration::from_millis(VISIBILITY_MS + 500)).await;
            }
            let queues = self.rotation.used();
            let deadline = Instant::now() + Duration::from_secs(DRAIN_SECS);
            let mut seen = std::collections::BTreeSet::new();
            let mut drainers: Vec<Worker> = workers
                .into_iter()
                .filter(|w| seen.insert(w.client.home().to_string()))
                .collect();
            loop {
                for w in &mut drainers {
                    tracing::info!(node = %w.client.home(), "draining");
                    self.drain(driver, w, queues, deadline).await;
                }
                if Instant::now() >= deadline || driver.interrupted.load(Ordering::Relaxed) {
                    tracing::warn!("drain deadline passed");
                    return;
                }
                match self.in_flight(queues).await {
                    Some(0) => return,
                    n => tracing::info!(?n, "messages still in flight; draining again"),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    }

    fn checkers(&self) -> Vec<String> {
        vec![
            format!("total-queue:{}", self.delivery),
            "fifo-queue".to_string(),
        ]
    }
}

/// One worker's client of a node's `/queue` API.
struct QueueClient {
    conn: Conn,
    timeout: Duration,
}

impl Client for QueueClient {
    fn home(&self) -> &str {
        &self.conn.node
    }

    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let q = op.key();
            let done = |a: Answer, value: Value, answer: Value| Completion {
                outcome: a.outcome,
                value,
                error: a.error,
                refused: a.refused,
                answer,
            };
            match op.f {
                "enqueue" => {
                    let v = &op.value;
                    let a = self
                        .conn
                        .call(
                            "POST",
                            &format!("/queue/q{q}/enqueue"),
                            &json!({"id": format!("m{v}"), "value": v}),
                            self.timeout,
                        )
                        .await;
                    done(a, op.value.clone(), Value::Null)
                }
                "dequeue" => {
                    let a = self
                        .conn
                        .call(
                            "POST",
                            &format!("/queue/q{q}/dequeue"),
                            &json!({"visibility_ms": VISIBILITY_MS}),
                            self.timeout,
                        )
                        .await;
                    let msg = if a.outcome == Outcome::Ok {
                        a.body.get("message").cloned().unwrap_or(Value::Null)
                    } else {
                        Value::Null
                    };
                    let value = msg.get("value").cloned().unwrap_or(Value::Null);
                    done(a, value, msg)
                }
                _ => {
                    let a = self
                        .conn
                        .call("POST", &format!("/queue/q{q}/ack"), &op.value, self.timeout)
                        .await;
                    done(a, op.value.clone(), Value::Null)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(seed: u64) -> QueueGen {
        QueueGen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            values: Arc::new(AtomicI64::new(1)),
            rotation: Arc::new(Rotation::new(4)),
            paced: false,
        }
    }

    fn ok(value: Value, answer: Value) -> Completion {
        Completion {
            outcome: Outcome::Ok,
            value,
            error: None,
            refused: false,
            answer,
        }
    }

    #[test]
    fn a_delivered_message_is_acked_next() {
        let mut g = gen(3);
        let deq = dequeue(5);
        let msg = json!({"id": "m9", "value": 9});
        assert_eq!(
            g.next(Some((&deq, &ok(json!(9), msg)))),
            Next::Op(Op {
                f: "ack",
                key: Some(5),
                value: json!({"id": "m9"})
            })
        );
        // Nothing delivered, or the dequeue failed: no ack, a new cycle.
        let mut g = gen(3);
        assert_eq!(
            g.next(Some((&deq, &ok(Value::Null, Value::Null)))),
            Next::Pace
        );
        let mut failed = ok(Value::Null, json!({"id": "m1"}));
        failed.outcome = Outcome::Info;
        let mut g = gen(3);
        assert_eq!(g.next(Some((&deq, &failed))), Next::Pace);
    }

    #[test]
    fn cycles_alternate_pace_and_op_over_rotating_queues() {
        let mut g = gen(1);
        let mut queues = Vec::new();
        let mut values = Vec::new();
        for _ in 0..12 {
            assert_eq!(g.next(None), Next::Pace);
            let Next::Op(op) = g.next(None) else {
                panic!("expected an op")
            };
            queues.push(op.key());
            if op.f == "enqueue" {
                values.push(op.value.as_i64().unwrap());
            }
        }
        assert_eq!(queues, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        let n = values.len();
        values.dedup();
        assert_eq!(values.len(), n);
        assert_eq!(g.rotation.used(), 3);
    }
}
