//! The `queue` and `lock` workloads: their HTTP clients (definite errors →
//! `fail`, anything that may have taken effect → `info`), their seeded op
//! loops, the queue's final drain and the Redlock client algorithm. Ops are
//! recorded in the shapes `checker::queue` and `checker::lock` document.

use super::client::Outcome;
use super::store::Who;
use super::supervisor::NodeInfo;
use super::Shared;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use systems::runtime::http::{ClientError, HttpClient};

/// Which queue the `queue` workload's ops go to: the queues are short-lived
/// (`per_queue` ops each, then the next one), so that each queue's history
/// is short enough for the fifo-queue linearizability pass; the final drain
/// empties every queue used. The history key of an op is its queue number.
pub struct QueueRotation {
    ops: AtomicU64,
    per_queue: u64,
}

impl QueueRotation {
    pub fn new(per_queue: usize) -> QueueRotation {
        QueueRotation {
            ops: AtomicU64::new(0),
            per_queue: per_queue.max(1) as u64,
        }
    }

    /// The queue the next op goes to.
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
/// The lock and the fenced resource (history key 0 for both: `checker::lock`
/// tells them apart by `f`).
const LOCK_KEY: u64 = 0;
/// Visibility timeout asked for on every dequeue (ms).
pub const VISIBILITY_MS: u64 = 2000;
/// Lease asked for on every acquire (ms).
const TTL_MS: u64 = 1000;

/// One exchange, classified.
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: Outcome,
    /// The 200 body, or the error body (`Null` when none).
    pub body: Value,
    pub error: Option<Value>,
    /// The node was not serving (connection refused, 503, 421).
    pub refused: bool,
}

/// Maps an HTTP result to an outcome: 200 → ok; an error body with
/// `definite: true` → fail; a connect error (nothing sent) → fail; any other
/// error → info, except on reads (`read`), where every failure is definite.
pub fn classify(res: Result<(u16, Vec<u8>), ClientError>, read: bool) -> Answer {
    match res {
        Ok((200, b)) => Answer {
            outcome: Outcome::Ok,
            body: serde_json::from_slice(&b).unwrap_or(Value::Null),
            error: None,
            refused: false,
        },
        Ok((status, b)) => {
            let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
            let code = v
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("http-{status}"));
            let definite = read || v.get("definite").and_then(Value::as_bool).unwrap_or(false);
            Answer {
                outcome: if definite {
                    Outcome::Fail
                } else {
                    Outcome::Info
                },
                body: v,
                error: Some(json!(code)),
                refused: matches!(status, 503 | 421),
            }
        }
        Err(e) => {
            let (code, not_sent) = match &e {
                ClientError::Connect { msg, .. } => (format!("connect: {msg}"), true),
                ClientError::Io { msg, .. } => (format!("io: {msg}"), false),
                ClientError::Timeout { .. } => ("client-timeout".to_string(), false),
            };
            Answer {
                outcome: if read || not_sent {
                    Outcome::Fail
                } else {
                    Outcome::Info
                },
                body: Value::Null,
                error: Some(json!(code)),
                refused: not_sent,
            }
        }
    }
}

/// A connection to one node.
#[derive(Clone)]
pub struct Conn {
    http: Arc<HttpClient>,
    pub node: String,
    addr: String,
}

impl Conn {
    pub fn new(info: &NodeInfo) -> Conn {
        Conn {
            http: HttpClient::new(),
            node: info.id.clone(),
            addr: info.addr.clone(),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn call(&self, method: &str, path: &str, body: &Value, timeout: Duration) -> Answer {
        let read = method == "GET";
        let bytes = if read {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap_or_default()
        };
        let res = self
            .http
            .request(&self.addr, method, path, &[], &bytes, timeout)
            .await;
        if res.is_err() {
            // The pooled connection may be dead (node killed): start afresh.
            self.http.forget(&self.addr);
        }
        classify(res, read)
    }
}

/// A worker of either workload: its process id (bumped after an `info`, as
/// the old process may still be acting), its home node and its rng.
pub struct Worker {
    pub process: u64,
    concurrency: u64,
    pub conn: Conn,
    /// Every node, sorted by id (Redlock talks to all of them).
    all: Vec<Conn>,
    rng: ChaCha8Rng,
    /// Mean gap between this worker's op cycles; `None` = unbounded.
    mean_gap: Option<Duration>,
    timeout: Duration,
    /// Redlock: the nodes (indexes into `all`) that granted the held lock,
    /// with their tokens.
    grants: Vec<(usize, u64)>,
}

impl Worker {
    pub fn new(
        w: usize,
        concurrency: usize,
        infos: &[NodeInfo],
        seed: u64,
        rate: Option<f64>,
        timeout: Duration,
    ) -> Worker {
        let mut all: Vec<Conn> = infos.iter().map(Conn::new).collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        Worker {
            process: w as u64,
            concurrency: concurrency as u64,
            conn: Conn::new(&infos[w % infos.len()]),
            all,
            rng: ChaCha8Rng::seed_from_u64(
                seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            mean_gap: rate
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(concurrency as f64 / r)),
            timeout,
            grants: Vec::new(),
        }
    }

    /// Records an op's invocation and completion around `f`'s result.
    fn invoke(&self, shared: &Shared, f: &str, key: u64, value: &Value, node: &str) {
        shared.recorder.record(
            Who::Client(self.process),
            "invoke",
            f,
            Some(key),
            value,
            Some(node),
            None,
        );
    }

    fn complete(
        &mut self,
        shared: &Shared,
        f: &str,
        key: u64,
        a: &Answer,
        value: &Value,
        node: &str,
    ) {
        shared.recorder.record(
            Who::Client(self.process),
            a.outcome.as_str(),
            f,
            Some(key),
            value,
            Some(node),
            a.error.as_ref(),
        );
        if a.outcome == Outcome::Info {
            self.process += self.concurrency;
        }
    }

    /// Sleeps until the next cycle; false when the run is over.
    async fn pace(&mut self, shared: &Shared, deadline: Instant) -> bool {
        let gap = match self.mean_gap {
            Some(g) => g.mul_f64(self.rng.random_range(0.5..1.5)),
            None => Duration::ZERO,
        };
        self.sleep(shared, gap).await && Instant::now() < deadline
    }

    /// Sleeps `d` unless the run is stopped; false when stopped.
    async fn sleep(&self, shared: &Shared, d: Duration) -> bool {
        let mut stop = shared.stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => !shared.interrupted.load(Ordering::Relaxed),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    // -----------------------------------------------------------------
    // queue

    async fn enqueue(&mut self, shared: &Shared, q: u64, v: i64) -> Answer {
        let node = self.conn.node.clone();
        let value = json!(v);
        self.invoke(shared, "enqueue", q, &value, &node);
        let a = self
            .conn
            .call(
                "POST",
                &format!("/queue/q{q}/enqueue"),
                &json!({"id": format!("m{v}"), "value": v}),
                self.timeout,
            )
            .await;
        self.complete(shared, "enqueue", q, &a, &value, &node);
        a
    }

    /// A dequeue, then an ack of what it delivered. Returns the dequeue's
    /// answer and whether a message was delivered.
    async fn dequeue_and_ack(&mut self, shared: &Shared, q: u64) -> (Answer, bool) {
        let node = self.conn.node.clone();
        self.invoke(shared, "dequeue", q, &Value::Null, &node);
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
        let out = if a.outcome == Outcome::Ok {
            msg.get("value").cloned().unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        self.complete(shared, "dequeue", q, &a, &out, &node);
        let Some(id) = msg.get("id").and_then(Value::as_str).map(str::to_string) else {
            return (a, false);
        };
        let v = json!({"id": id});
        self.invoke(shared, "ack", q, &v, &node);
        let b = self
            .conn
            .call("POST", &format!("/queue/q{q}/ack"), &v, self.timeout)
            .await;
        self.complete(shared, "ack", q, &b, &v, &node);
        (a, true)
    }

    /// The main phase of the `queue` workload: enqueues of unique values and
    /// dequeues (each delivery acked), half each, on the current queue of
    /// `queues`.
    pub(super) async fn queue_main(
        mut self,
        shared: Arc<Shared>,
        values: Arc<AtomicI64>,
        queues: Arc<QueueRotation>,
    ) -> Worker {
        let deadline = shared.dispatch.lock().unwrap().deadline;
        while self.pace(&shared, deadline).await {
            let q = queues.next();
            let refused = if self.rng.random_bool(0.5) {
                let v = values.fetch_add(1, Ordering::Relaxed);
                self.enqueue(&shared, q, v).await.refused
            } else {
                self.dequeue_and_ack(&shared, q).await.0.refused
            };
            if refused && !self.sleep(&shared, Duration::from_millis(100)).await {
                break;
            }
        }
        self
    }

    /// Drains queues `0..queues` through this worker's node: on each,
    /// dequeue (and ack) until the node answers `message: null`, retrying
    /// errors, until `deadline`.
    pub(super) async fn drain(
        mut self,
        shared: Arc<Shared>,
        deadline: Instant,
        queues: u64,
    ) -> Worker {
        for q in 0..queues {
            let mut errors = 0u32;
            while Instant::now() < deadline && !shared.interrupted.load(Ordering::Relaxed) {
                let (a, delivered) = self.dequeue_and_ack(&shared, q).await;
                match a.outcome {
                    Outcome::Ok if !delivered => break,
                    Outcome::Ok => errors = 0,
                    _ => {
                        errors += 1;
                        if errors > 20 {
                            tracing::warn!(node = %self.conn.node, "drain gave up after 20 errors");
                            return self;
                        }
                        tokio::time::sleep(Duration::from_millis(100 * u64::from(errors.min(10))))
                            .await;
                    }
                }
            }
        }
        self
    }

    // -----------------------------------------------------------------
    // lock

    /// The main phase of the `lock` workload: acquire with a TTL; when
    /// granted, hold (sometimes past the TTL, like a paused client), write
    /// a unique value to the fenced resource with the token, release. A
    /// tenth of the cycles read the resource instead.
    pub(super) async fn lock_main(
        mut self,
        shared: Arc<Shared>,
        values: Arc<AtomicI64>,
        redlock: bool,
    ) -> Worker {
        let deadline = shared.dispatch.lock().unwrap().deadline;
        while self.pace(&shared, deadline).await {
            if self.rng.random_bool(0.1) {
                self.read_resource(&shared, redlock).await;
                continue;
            }
            let (a, token) = if redlock {
                self.redlock_acquire(&shared).await
            } else {
                self.acquire(&shared).await
            };
            let Some(token) = token else {
                if a.refused && !self.sleep(&shared, Duration::from_millis(100)).await {
                    break;
                }
                continue;
            };
            let hold = if self.rng.random_bool(0.15) {
                Duration::from_millis(TTL_MS + self.rng.random_range(100..600))
            } else {
                Duration::from_millis(self.rng.random_range(0..TTL_MS / 4))
            };
            // Held locks are released even when the run stops meanwhile.
            let _ = self.sleep(&shared, hold).await;
            let v = values.fetch_add(1, Ordering::Relaxed);
            let w = self.write_resource(&shared, v, token, redlock).await;
            if w.outcome == Outcome::Info {
                // A new process: the lease runs out by itself.
                continue;
            }
            if redlock {
                self.redlock_release(&shared, token).await;
            } else {
                self.release(&shared, token).await;
            }
        }
        self
    }

    async fn acquire(&mut self, shared: &Shared) -> (Answer, Option<u64>) {
        let node = self.conn.node.clone();
        self.invoke(
            shared,
            "acquire",
            LOCK_KEY,
            &json!({"ttl_ms": TTL_MS}),
            &node,
        );
        let a = self
            .conn
            .call(
                "POST",
                &format!("/lock/l{LOCK_KEY}/acquire"),
                &json!({"ttl_ms": TTL_MS}),
                self.timeout,
            )
            .await;
        let token = a.body.get("token").and_then(Value::as_u64);
        let (a, token) = match (a.outcome, token) {
            (Outcome::Ok, Some(t)) => (a, Some(t)),
            (Outcome::Ok, None) => (
                Answer {
                    outcome: Outcome::Info,
                    error: Some(json!(format!("bad answer: {}", a.body))),
                    ..a
                },
                None,
            ),
            _ => (a, None),
        };
        let out = match token {
            Some(t) => json!({"token": t}),
            None => json!({"ttl_ms": TTL_MS}),
        };
        self.complete(shared, "acquire", LOCK_KEY, &a, &out, &node);
        (a, token)
    }

    async fn release(&mut self, shared: &Shared, token: u64) {
        let node = self.conn.node.clone();
        let v = json!({"token": token});
        self.invoke(shared, "release", LOCK_KEY, &v, &node);
        let a = self
            .conn
            .call(
                "POST",
                &format!("/lock/l{LOCK_KEY}/release"),
                &v,
                self.timeout,
            )
            .await;
        self.complete(shared, "release", LOCK_KEY, &a, &v, &node);
    }

    /// The node holding the fenced resource: any node (it forwards), or the
    /// lowest id under Redlock.
    fn resource_conn(&self, redlock: bool) -> Conn {
        if redlock {
            self.all[0].clone()
        } else {
            self.conn.clone()
        }
    }

    async fn write_resource(
        &mut self,
        shared: &Shared,
        v: i64,
        token: u64,
        redlock: bool,
    ) -> Answer {
        let c = self.resource_conn(redlock);
        let value = json!({"value": v, "token": token});
        self.invoke(shared, "write", LOCK_KEY, &value, &c.node);
        let a = c
            .call(
                "PUT",
                &format!("/resource/r{LOCK_KEY}"),
                &value,
                self.timeout,
            )
            .await;
        self.complete(shared, "write", LOCK_KEY, &a, &value, &c.node);
        a
    }

    async fn read_resource(&mut self, shared: &Shared, redlock: bool) {
        let c = self.resource_conn(redlock);
        self.invoke(shared, "read", LOCK_KEY, &Value::Null, &c.node);
        let a = c
            .call(
                "GET",
                &format!("/resource/r{LOCK_KEY}"),
                &Value::Null,
                self.timeout,
            )
            .await;
        let a = match (a.outcome, a.body.get("value")) {
            (Outcome::Ok, None) => Answer {
                outcome: Outcome::Fail,
                error: Some(json!(format!("bad answer: {}", a.body))),
                ..a
            },
            _ => a,
        };
        let out = if a.outcome == Outcome::Ok {
            a.body["value"].clone()
        } else {
            Value::Null
        };
        self.complete(shared, "read", LOCK_KEY, &a, &out, &c.node);
    }

    /// Redlock step 1–3: acquire on every node in parallel with a short
    /// per-node timeout; granted when a majority granted and the validity
    /// `ttl − elapsed − drift` is positive; otherwise release what was
    /// granted and record `fail` (`info` if any answer was indefinite).
    async fn redlock_acquire(&mut self, shared: &Shared) -> (Answer, Option<u64>) {
        let node = self.conn.node.clone();
        let input = json!({"ttl_ms": TTL_MS});
        self.invoke(shared, "acquire", LOCK_KEY, &input, &node);
        let per_node = Duration::from_millis((TTL_MS / 10).clamp(1, 50));
        let t0 = Instant::now();
        let path = format!("/lock/l{LOCK_KEY}/acquire");
        let answers = futures_join(self.all.iter().map(|c| {
            let c = c.clone();
            let path = path.clone();
            let input = input.clone();
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
        let indefinite = answers.iter().any(|a| a.outcome == Outcome::Info);
        let per: Vec<Value> = answers
            .iter()
            .zip(&self.all)
            .map(|(a, c)| {
                json!({"node": c.node, "outcome": a.outcome.as_str(), "token": a.body.get("token"), "error": a.error})
            })
            .collect();
        if granted.len() >= majority && validity > 0 {
            let token = granted.iter().map(|(_, t)| *t).max().unwrap_or(0);
            self.grants = granted;
            let a = Answer {
                outcome: Outcome::Ok,
                body: json!({"nodes": per}),
                error: None,
                refused: false,
            };
            self.complete(
                shared,
                "acquire",
                LOCK_KEY,
                &a,
                &json!({"token": token, "valid_ms": validity}),
                &node,
            );
            return (a, Some(token));
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
        let a = Answer {
            outcome: if indefinite {
                Outcome::Info
            } else {
                Outcome::Fail
            },
            body: json!({"nodes": per}),
            error: Some(json!(format!(
                "redlock: {} of {} granted (need {majority}), validity {validity} ms",
                granted.len(),
                self.all.len()
            ))),
            refused: answers.iter().all(|a| a.refused),
        };
        self.complete(shared, "acquire", LOCK_KEY, &a, &input, &node);
        (a, None)
    }

    /// Redlock step 4: release on every node that granted, with its token;
    /// ok when any answered 200.
    async fn redlock_release(&mut self, shared: &Shared, token: u64) {
        let node = self.conn.node.clone();
        let v = json!({"token": token});
        self.invoke(shared, "release", LOCK_KEY, &v, &node);
        let grants = std::mem::take(&mut self.grants);
        let path = format!("/lock/l{LOCK_KEY}/release");
        let timeout = self.timeout;
        let answers = futures_join(grants.iter().map(|(i, t)| {
            let c = self.all[*i].clone();
            let path = path.clone();
            let body = json!({"token": t});
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
        let a = Answer {
            outcome,
            body: Value::Null,
            error: answers.iter().find_map(|a| a.error.clone()),
            refused: false,
        };
        self.complete(shared, "release", LOCK_KEY, &a, &v, &node);
    }
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F, I>(futs: I) -> Vec<F::Output>
where
    I: IntoIterator<Item = F>,
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a request task panicked"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn definite_errors_fail_and_indefinite_ones_are_info() {
        let ok = classify(Ok((200, body(json!({"token": 3})))), false);
        assert_eq!(ok.outcome, Outcome::Ok);
        assert_eq!(ok.body["token"], 3);
        let locked = classify(
            Ok((409, body(json!({"error": "locked", "definite": true})))),
            false,
        );
        assert_eq!(locked.outcome, Outcome::Fail);
        let timeout = classify(
            Ok((504, body(json!({"error": "timeout", "definite": false})))),
            false,
        );
        assert_eq!(timeout.outcome, Outcome::Info);
        assert_eq!(
            classify(Ok((500, b"x".to_vec())), false).outcome,
            Outcome::Info
        );
        assert_eq!(
            classify(Ok((500, b"x".to_vec())), true).outcome,
            Outcome::Fail
        );
        let t = || Err(ClientError::Timeout { addr: "a".into() });
        assert_eq!(classify(t(), false).outcome, Outcome::Info);
        assert_eq!(classify(t(), true).outcome, Outcome::Fail);
        let refused = classify(
            Err(ClientError::Connect {
                addr: "a".into(),
                msg: "refused".into(),
            }),
            false,
        );
        assert_eq!((refused.outcome, refused.refused), (Outcome::Fail, true));
        let not_leader = classify(
            Ok((421, body(json!({"error": "not-leader", "definite": true})))),
            false,
        );
        assert!(not_leader.refused);
    }
}
