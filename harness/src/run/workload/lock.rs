//! The `lock` workload: acquire with a TTL; when granted, hold (sometimes
//! past the TTL, like a paused client), write a unique value to the fenced
//! resource with the token, release. A tenth of the cycles read the
//! resource instead. Judged for mutual exclusion, fencing and mutex
//! linearizability (`checker::lock`). The lock and the resource are history
//! key 0 (the checker tells them apart by `f`).
//!
//! Option a system file may set (per level): `redlock = true` makes the
//! client run the Redlock algorithm over every node (each an independent
//! lock service), with the resource on the lowest node id.

use super::faultline_http::{Answer, Conn};
use super::{
    join_all, BoxFuture, Client, Completion, Driver, Generator, Next, Op, Outcome, Setup, Worker,
    Workload, WorkloadKind,
};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOCK_KEY: u64 = 0;
/// Lease asked for on every acquire (ms).
const TTL_MS: u64 = 1000;

pub struct Lock;

impl WorkloadKind for Lock {
    fn name(&self) -> &'static str {
        "lock"
    }

    fn describe(&self) -> &'static str {
        "acquire with a TTL, sometimes hold past it, write the fenced resource with the token, release; mutual exclusion, fencing, mutex linearizability"
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["faultline-http"]
    }

    fn options(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "redlock",
            "false (default); true: the client runs Redlock over every node, the resource lives on the lowest node id",
        )]
    }

    fn build(&self, setup: &Setup) -> Result<Arc<dyn Workload>> {
        let mut all: Vec<Conn> = setup.nodes.iter().map(Conn::new).collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(Arc::new(LockRun {
            redlock: setup.option_bool("redlock", false)?,
            homes: setup.nodes.iter().map(Conn::new).collect(),
            all,
            values: Arc::new(AtomicI64::new(1)),
            seed: setup.spec.seed,
            timeout: Duration::from_secs_f64(setup.spec.op_timeout),
        }))
    }
}

struct LockRun {
    redlock: bool,
    /// Nodes in cluster order (worker w's home is w mod n).
    homes: Vec<Conn>,
    /// Nodes sorted by id (Redlock talks to all of them).
    all: Vec<Conn>,
    values: Arc<AtomicI64>,
    seed: u64,
    timeout: Duration,
}

impl Workload for LockRun {
    fn generator(&self, worker: usize) -> Box<dyn Generator> {
        Box::new(LockGen {
            rng: ChaCha8Rng::seed_from_u64(
                self.seed ^ (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            values: self.values.clone(),
            state: State::Idle,
        })
    }

    fn client(&self, worker: usize) -> Box<dyn Client> {
        Box::new(LockClient {
            conn: self.homes[worker % self.homes.len()].clone(),
            all: self.all.clone(),
            redlock: self.redlock,
            timeout: self.timeout,
            grants: Vec::new(),
        })
    }

    fn final_phase<'a>(&'a self, _driver: &'a Driver, _workers: Vec<Worker>) -> BoxFuture<'a, ()> {
        // Held locks were released by their cycles; nothing to read.
        Box::pin(async {})
    }

    fn checkers(&self) -> Vec<String> {
        vec!["lock".to_string()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between cycles.
    Idle,
    /// Paced; the cycle's first op comes next.
    Paced,
    /// The acquire (token) is out.
    Acquiring,
    /// Holding the lock with this token.
    Holding(u64),
    /// The write with this token is out.
    Writing(u64),
}

fn op(f: &'static str, value: Value) -> Op {
    Op {
        f,
        key: Some(LOCK_KEY),
        value,
    }
}

/// A worker's lock cycles.
struct LockGen {
    rng: ChaCha8Rng,
    values: Arc<AtomicI64>,
    state: State,
}

impl Generator for LockGen {
    fn next(&mut self, last: Option<(&Op, &Completion)>) -> Next {
        match self.state {
            State::Idle => {
                self.state = State::Paced;
                Next::Pace
            }
            State::Paced => {
                if self.rng.random_bool(0.1) {
                    self.state = State::Idle;
                    return Next::Op(op("read", Value::Null));
                }
                self.state = State::Acquiring;
                Next::Op(op("acquire", json!({ "ttl_ms": TTL_MS })))
            }
            State::Acquiring => {
                let token = last
                    .filter(|(_, c)| c.outcome == Outcome::Ok)
                    .and_then(|(_, c)| c.answer.get("token").and_then(Value::as_u64));
                let Some(token) = token else {
                    self.state = State::Paced;
                    return Next::Pace;
                };
                self.state = State::Holding(token);
                let hold = if self.rng.random_bool(0.15) {
                    Duration::from_millis(TTL_MS + self.rng.random_range(100..600))
                } else {
                    Duration::from_millis(self.rng.random_range(0..TTL_MS / 4))
                };
                Next::Sleep(hold)
            }
            State::Holding(token) => {
                self.state = State::Writing(token);
                let v = self.values.fetch_add(1, Ordering::Relaxed);
                Next::Op(op("write", json!({ "value": v, "token": token })))
            }
            State::Writing(token) => {
                self.state = State::Idle;
                match last {
                    // A new process: the lease runs out by itself.
                    Some((_, c)) if c.outcome == Outcome::Info => {
                        self.state = State::Paced;
                        Next::Pace
                    }
                    _ => Next::Op(op("release", json!({ "token": token }))),
                }
            }
        }
    }
}

/// One worker's client of the lock service: its home node, and every node
/// for Redlock.
struct LockClient {
    conn: Conn,
    all: Vec<Conn>,
    redlock: bool,
    timeout: Duration,
    /// Redlock: the nodes (indexes into `all`) that granted the held lock,
    /// with their tokens.
    grants: Vec<(usize, u64)>,
}

fn completion(a: Answer, value: Value, answer: Value) -> Completion {
    Completion {
        outcome: a.outcome,
        value,
        error: a.error,
        refused: a.refused,
        answer,
    }
}

impl LockClient {
    /// The node holding the fenced resource: any node (it forwards), or the
    /// lowest id under Redlock.
    fn resource(&self) -> &Conn {
        if self.redlock {
            &self.all[0]
        } else {
            &self.conn
        }
    }

    async fn acquire(&mut self, op: &Op) -> Completion {
        let a = self
            .conn
            .call(
                "POST",
                &format!("/lock/l{LOCK_KEY}/acquire"),
                &op.value,
                self.timeout,
            )
            .await;
        let token = a.body.get("token").and_then(Value::as_u64);
        match (a.outcome, token) {
            (Outcome::Ok, Some(t)) => completion(a, json!({ "token": t }), json!({ "token": t })),
            (Outcome::Ok, None) => {
                let bad = format!("bad answer: {}", a.body);
                let mut c = completion(a, op.value.clone(), Value::Null);
                c.outcome = Outcome::Info;
                c.error = Some(json!(bad));
                c
            }
            _ => completion(a, op.value.clone(), Value::Null),
        }
    }

    /// Redlock steps 1–3: acquire on every node in parallel with a short
    /// per-node timeout; granted when a majority granted and the validity
    /// `ttl − elapsed − drift` is positive; otherwise release what was
    /// granted and complete `fail` (`info` if any answer was indefinite).
    async fn redlock_acquire(&mut self, op: &Op) -> Completion {
        let per_node = Duration::from_millis((TTL_MS / 10).clamp(1, 50));
        let t0 = Instant::now();
        let path = format!("/lock/l{LOCK_KEY}/acquire");
        let answers = join_all(self.all.iter().map(|c| {
            let (c, path, input) = (c.clone(), path.clone(), op.value.clone());
            async move { c.call("POST", &path, &input, per_node).await }
        }))
        .await;
        let elapsed = t0.elapsed().as_millis() as i64;
        let drift = (TTL_MS / 100 + 2) as i64;
        let validity = TTL_MS as i64 - elapsed - drift;
        let granted: Vec<(usize, u64)> = answers
            .iter()
            .enumerate()
            .filter(|(_, a)| a.outcome == Outcome::Ok)
            .filter_map(|(i, a)| a.body.get("token").and_then(Value::as_u64).map(|t| (i, t)))
            .collect();
        let majority = self.all.len() / 2 + 1;
        if granted.len() >= majority && validity > 0 {
            let token = granted.iter().map(|(_, t)| *t).max().unwrap_or(0);
            self.grants = granted;
            return Completion {
                outcome: Outcome::Ok,
                value: json!({"token": token, "valid_ms": validity}),
                error: None,
                refused: false,
                answer: json!({ "token": token }),
            };
        }
        // Not granted: give back what was granted.
        for (i, t) in &granted {
            let _ = self.all[*i]
                .call(
                    "POST",
                    &format!("/lock/l{LOCK_KEY}/release"),
                    &json!({"token": t}),
                    per_node,
                )
                .await;
        }
        let indefinite = answers.iter().any(|a| a.outcome == Outcome::Info);
        Completion {
            outcome: if indefinite {
                Outcome::Info
            } else {
                Outcome::Fail
            },
            value: op.value.clone(),
            error: Some(json!(format!(
                "redlock: {} of {} granted (need {majority}), validity {validity} ms",
                granted.len(),
                self.all.len()
            ))),
            refused: answers.iter().all(|a| a.refused),
            answer: Value::Null,
        }
    }

    /// Redlock step 4: release on every node that granted, with its token;
    /// ok when any answered 200.
    async fn redlock_release(&mut self, op: &Op) -> Completion {
        let grants = std::mem::take(&mut self.grants);
        let path = format!("/lock/l{LOCK_KEY}/release");
        let timeout = self.timeout;
        let answers = join_all(grants.iter().map(|(i, t)| {
            let (c, path, body) = (self.all[*i].clone(), path.clone(), json!({"token": t}));
            async move { c.call("POST", &path, &body, timeout).await }
        }))
        .await;
        let outcome = if answers.iter().any(|a| a.outcome == Outcome::Ok) {
            Outcome::Ok
        } else if answers.iter().any(|a| a.outcome == Outcome::Info) {
            Outcome::Info
        } else {
            Outcome::Fail
        };
        Completion {
            outcome,
            value: op.value.clone(),
            error: answers.iter().find_map(|a| a.error.clone()),
            refused: false,
            answer: Value::Null,
        }
    }
}

impl Client for LockClient {
    fn home(&self) -> &str {
        &self.conn.node
    }

    fn node_for(&self, op: &Op) -> String {
        match op.f {
            "write" | "read" => self.resource().node.clone(),
            _ => self.conn.node.clone(),
        }
    }

    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let path = format!("/resource/r{LOCK_KEY}");
            match (op.f, self.redlock) {
                ("acquire", false) => self.acquire(op).await,
                ("acquire", true) => self.redlock_acquire(op).await,
                ("release", true) => self.redlock_release(op).await,
                ("release", false) => {
                    let a = self
                        .conn
                        .call(
                            "POST",
                            &format!("/lock/l{LOCK_KEY}/release"),
                            &op.value,
                            self.timeout,
                        )
                        .await;
                    completion(a, op.value.clone(), Value::Null)
                }
                ("write", _) => {
                    let a = self
                        .resource()
                        .call("PUT", &path, &op.value, self.timeout)
                        .await;
                    completion(a, op.value.clone(), Value::Null)
                }
                _ => {
                    let a = self
                        .resource()
                        .call("GET", &path, &Value::Null, self.timeout)
                        .await;
                    match (a.outcome, a.body.get("value").cloned()) {
                        (Outcome::Ok, Some(v)) => completion(a, v, Value::Null),
                        (Outcome::Ok, None) => {
                            let bad = format!("bad answer: {}", a.body);
                            let mut c = completion(a, Value::Null, Value::Null);
                            c.outcome = Outcome::Fail;
                            c.error = Some(json!(bad));
                            c
                        }
                        _ => completion(a, Value::Null, Value::Null),
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(outcome: Outcome, answer: Value) -> Completion {
        Completion {
            outcome,
            value: Value::Null,
            error: None,
            refused: false,
            answer,
        }
    }

    /// Drives a generator through cycles where every acquire is granted
    /// and every op succeeds; returns the ops in order.
    fn ops_of(seed: u64, steps: usize, write_outcome: Outcome) -> Vec<Op> {
        let mut g = LockGen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            values: Arc::new(AtomicI64::new(1)),
            state: State::Idle,
        };
        let mut out = Vec::new();
        let mut last: Option<(Op, Completion)> = None;
        for _ in 0..steps {
            match g.next(last.as_ref().map(|(o, c)| (o, c))) {
                Next::Op(op) => {
                    let c = match op.f {
                        "acquire" => done(Outcome::Ok, json!({"token": 42})),
                        "write" => done(write_outcome, Value::Null),
                        _ => done(Outcome::Ok, Value::Null),
                    };
                    out.push(op.clone());
                    last = Some((op, c));
                }
                Next::Sleep(d) => assert!(d < Duration::from_millis(TTL_MS + 600)),
                Next::Pace | Next::Done => {}
            }
        }
        out
    }

    #[test]
    fn a_granted_lock_is_written_with_its_token_and_released() {
        let ops = ops_of(5, 400, Outcome::Ok);
        let fs: Vec<&str> = ops.iter().map(|o| o.f).collect();
        assert!(fs.contains(&"read"), "a tenth of cycles read");
        for (i, o) in ops.iter().enumerate() {
            if o.f == "acquire" {
                assert_eq!(ops[i + 1].f, "write", "{fs:?}");
                assert_eq!(ops[i + 1].value["token"], 42);
                assert_eq!(ops[i + 2].f, "release");
                assert_eq!(ops[i + 2].value, json!({"token": 42}));
            }
        }
    }

    #[test]
    fn an_indefinite_write_skips_the_release() {
        let ops = ops_of(5, 400, Outcome::Info);
        assert!(ops.iter().all(|o| o.f != "release"));
        assert!(ops.iter().filter(|o| o.f == "write").count() > 5);
    }

    #[test]
    fn a_refused_acquire_starts_a_new_cycle() {
        let mut g = LockGen {
            rng: ChaCha8Rng::seed_from_u64(1),
            values: Arc::new(AtomicI64::new(1)),
            state: State::Acquiring,
        };
        let acq = op("acquire", json!({"ttl_ms": TTL_MS}));
        assert_eq!(
            g.next(Some((&acq, &done(Outcome::Fail, Value::Null)))),
            Next::Pace
        );
    }
}
