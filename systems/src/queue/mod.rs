//! `faultline-queue`: a replicated work queue with idempotent enqueue,
//! acknowledgements and a visibility timeout. See `systems/README.md`.
//!
//! Levels (both on the shared Raft integration in [`crate::runtime::raft`]):
//! - `raft`: at-least-once. A dequeue hides the message for the visibility
//!   timeout (measured on the leader's monotonic term clock, see
//!   [`Stamp`], so no wall-clock fault moves it; a message in flight under
//!   an earlier leader stays hidden for a whole timeout of the new one's);
//!   an ack deletes it; an unacknowledged message is delivered again once
//!   the timeout has run out.
//! - `at-most-once`: a dequeue deletes the message at once; there is no
//!   redelivery, so a message whose dequeue answer is lost is gone.
//!
//! And on the shared primary–backup path ([`crate::runtime::primary`]):
//! - `primary-async`: at-least-once semantics on the primary, which
//!   acknowledges after its local write and ships each queue's new state to
//!   the backups asynchronously; a backup promotes itself when the primary
//!   is silent. Acknowledged enqueues and acks are lost on failover.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::runtime::api::{error_response, ApiError};
use crate::runtime::clock::Stamp;
use crate::runtime::http::{self, Request, Response};
use crate::runtime::node::{self, forward_raw, json_body, NodeConfig, Spec, NO_FORWARD};
use crate::runtime::primary::{PrimaryNode, PrimaryParams};
use crate::runtime::raft::{answer, Machine, RaftCore};

pub const LEVELS: &[&str] = &["raft", "at-most-once", "primary-async"];

pub const USAGE: &str = "\
usage: faultline-queue --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data-dir DIR --level LEVEL [options]

levels: raft, at-most-once, primary-async

options:
  --fsync always|never        fsync before acknowledging (default always)
  --heartbeat-ms N            raft heartbeat (default 100)
  --election-timeout-ms N     raft election timeout minimum (default 1000)
  --request-timeout-ms N      how long a write waits for replication (default 2000)
  --failover-ms N             primary-async: promote after primary silent this long (default 1000)
  --visibility-ms N           default visibility timeout of a dequeued message (default 5000)
  --snapshot-logs N           raft levels: snapshot and compact the log every N entries, 0 never (default 10000)
  --clock-offset-ms N         test aid: add N ms to every wall-clock read (default 0)
  --debug-endpoints           test aid: enable POST /debug/clock
  --log-level LEVEL           error, warn, info, debug, trace (default info)
";

pub const SPEC: Spec = Spec {
    prog: "faultline-queue",
    levels: LEVELS,
    extra_flags: &["--visibility-ms"],
    usage: USAGE,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Msg {
    id: String,
    value: Value,
    /// When the message was last delivered (`None`: never) and for how
    /// long it is then hidden (in flight).
    #[serde(default)]
    delivered_at: Option<Stamp>,
    #[serde(default)]
    visibility_ms: u64,
    deliveries: u64,
}

impl Msg {
    /// Whether the message may be delivered at `now`.
    fn visible(&self, now: &Stamp) -> bool {
        self.delivered_at
            .is_none_or(|d| d.elapsed_to(now) >= self.visibility_ms)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Queue {
    next_seq: u64,
    /// Live messages by enqueue order.
    msgs: BTreeMap<u64, Msg>,
    /// Live message id → seq.
    ids: BTreeMap<String, u64>,
    /// Ids acknowledged (or deleted by an at-most-once dequeue): enqueueing
    /// them again is a no-op.
    done: BTreeSet<String>,
}

/// Every queue of a node: a pure, deterministic state machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queues {
    queues: BTreeMap<String, Queue>,
}

/// A client request, parsed (time fields are filled in by the leader).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum QueueCmd {
    Enqueue {
        queue: String,
        id: String,
        value: Value,
    },
    Dequeue {
        queue: String,
        #[serde(default)]
        visibility_ms: Option<u64>,
        /// When the serving node took the request: the leader's term clock
        /// (Raft levels) or the primary's wall clock (`primary-async`).
        #[serde(default)]
        now: Stamp,
        /// at-most-once: delete at once.
        #[serde(default)]
        delete: bool,
    },
    Ack {
        queue: String,
        id: String,
    },
    Stats {
        queue: String,
    },
}

impl Queues {
    pub fn run(&mut self, cmd: &QueueCmd) -> Result<Value, ApiError> {
        match cmd {
            QueueCmd::Enqueue { queue, id, value } => {
                let q = self.queues.entry(queue.clone()).or_default();
                if q.ids.contains_key(id) || q.done.contains(id) {
                    return Ok(json!({"queue": queue, "id": id, "enqueued": false}));
                }
                let seq = q.next_seq;
                q.next_seq += 1;
                q.ids.insert(id.clone(), seq);
                q.msgs.insert(
                    seq,
                    Msg {
                        id: id.clone(),
                        value: value.clone(),
                        delivered_at: None,
                        visibility_ms: 0,
                        deliveries: 0,
                    },
                );
                Ok(json!({"queue": queue, "id": id, "enqueued": true}))
            }
            QueueCmd::Dequeue {
                queue,
                visibility_ms,
                now,
                delete,
            } => {
                let Some(q) = self.queues.get_mut(queue) else {
                    return Ok(json!({"queue": queue, "message": null}));
                };
                let Some((&seq, _)) = q.msgs.iter().find(|(_, m)| m.visible(now)) else {
                    return Ok(json!({"queue": queue, "message": null}));
                };
                let m = q.msgs.get_mut(&seq).unwrap();
                m.deliveries += 1;
                m.delivered_at = Some(*now);
                m.visibility_ms = visibility_ms.unwrap_or(0);
                let out = json!({"queue": queue, "message":
                    {"id": m.id, "value": m.value, "deliveries": m.deliveries}});
                if *delete {
                    let m = q.msgs.remove(&seq).unwrap();
                    q.ids.remove(&m.id);
                    q.done.insert(m.id);
                }
                Ok(out)
            }
            QueueCmd::Ack { queue, id } => {
                let q = self.queues.entry(queue.clone()).or_default();
                if let Some(seq) = q.ids.remove(id) {
                    q.msgs.remove(&seq);
                    q.done.insert(id.clone());
                    return Ok(json!({"queue": queue, "id": id, "acked": true}));
                }
                if q.done.contains(id) {
                    return Ok(json!({"queue": queue, "id": id, "acked": true}));
                }
                Err(ApiError::new(
                    404,
                    "unknown-message",
                    true,
                    format!("no message {id:?} in queue {queue:?}"),
                ))
            }
            QueueCmd::Stats { queue } => Ok(self.stats(queue, &Stamp::wall())),
        }
    }

    /// The store key holding one queue's state on primary-async.
    fn store_key(queue: &str) -> String {
        format!("queue/{queue}")
    }

    /// A state holding only `queue`, as stored under its key (`null` = new).
    fn from_stored(queue: &str, v: &Value) -> Queues {
        let q: Queue = serde_json::from_value(v.clone()).unwrap_or_default();
        Queues {
            queues: [(queue.to_string(), q)].into_iter().collect(),
        }
    }

    fn stored(&self, queue: &str) -> Value {
        serde_json::to_value(self.queues.get(queue).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    fn stats(&self, queue: &str, now: &Stamp) -> Value {
        let q = self.queues.get(queue);
        let count = |f: &dyn Fn(&Msg) -> bool| {
            q.map(|q| q.msgs.values().filter(|m| f(m)).count())
                .unwrap_or(0)
        };
        json!({"queue": queue,
               "visible": count(&|m| m.visible(now)),
               "in_flight": count(&|m| !m.visible(now)),
               "done": q.map(|q| q.done.len()).unwrap_or(0)})
    }
}

/// The Raft state machine.
#[derive(Default)]
pub struct QueueMachine {
    pub queues: Queues,
}

impl Machine for QueueMachine {
    fn apply(&mut self, _index: u64, term: u64, cmd: &Value) -> Value {
        match serde_json::from_value::<QueueCmd>(cmd.clone()) {
            Ok(mut c) => {
                if let QueueCmd::Dequeue { now, .. } = &mut c {
                    *now = now.for_entry(term);
                }
                answer(self.queues.run(&c))
            }
            Err(e) => answer(Err(ApiError::invalid(format!("bad command: {e}")))),
        }
    }

    fn snapshot(&self) -> Value {
        serde_json::to_value(&self.queues).unwrap_or_default()
    }

    fn restore(&mut self, v: Value) -> Result<(), String> {
        self.queues = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn str_field(b: &Value, f: &str) -> Result<String, ApiError> {
    b.get(f)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::invalid(format!("body must have \"{f}\": a non-empty string")))
}

/// Parses a client request; `Ok(None)` when the path is not ours.
pub fn parse(req: &Request) -> Result<Option<QueueCmd>, ApiError> {
    let Some(r) = node::split_named(&req.path, "/queue") else {
        return Ok(None);
    };
    let (queue, rest) = r?;
    let b = json_body(req)?;
    Ok(Some(match (req.method.as_str(), rest.as_str()) {
        ("POST", "enqueue") => {
            let value = b.get("value").cloned().unwrap_or(Value::Null);
            if !(value.is_i64() || value.is_u64() || value.is_string()) {
                return Err(ApiError::invalid(
                    "body must be {\"id\": STRING, \"value\": INTEGER or STRING}",
                ));
            }
            QueueCmd::Enqueue {
                queue,
                id: str_field(&b, "id")?,
                value,
            }
        }
        ("POST", "dequeue") => QueueCmd::Dequeue {
            queue,
            visibility_ms: match b.get("visibility_ms") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::invalid("visibility_ms must be a positive integer")
                })?),
            },
            now: Stamp::default(),
            delete: false,
        },
        ("POST", "ack") => QueueCmd::Ack {
            queue,
            id: str_field(&b, "id")?,
        },
        ("GET", "") => QueueCmd::Stats { queue },
        _ => {
            return Err(ApiError::new(
                405,
                "invalid",
                true,
                format!("{} not allowed on {}", req.method, req.path),
            ))
        }
    }))
}

/// A queue node: Raft (`raft`, `at-most-once`) or primary-backup.
pub enum QueueNode {
    Raft {
        core: Box<RaftCore<QueueMachine>>,
        visibility: Duration,
    },
    Primary {
        pa: Arc<PrimaryNode>,
        visibility: Duration,
    },
}

pub async fn start(
    cfg: Arc<NodeConfig>,
    client: Arc<http::HttpClient>,
) -> anyhow::Result<Arc<QueueNode>> {
    let visibility = cfg
        .extra_ms("--visibility-ms", 5000)
        .map_err(anyhow::Error::msg)?;
    Ok(Arc::new(if cfg.level == "primary-async" {
        QueueNode::Primary {
            pa: PrimaryNode::start(PrimaryParams::from(&*cfg), client)?,
            visibility,
        }
    } else {
        QueueNode::Raft {
            core: Box::new(RaftCore::start(cfg.raft_params("faultline-queue"), client).await?),
            visibility,
        }
    }))
}

/// Fills in what the serving node decides: the time `at`, the visibility
/// timeout, and at-most-once deletion.
fn stamp(cfg: &NodeConfig, cmd: &mut QueueCmd, visibility: Duration, at: Stamp) {
    if let QueueCmd::Dequeue {
        visibility_ms,
        now,
        delete,
        ..
    } = cmd
    {
        *now = at;
        *delete = cfg.level == "at-most-once";
        visibility_ms.get_or_insert(visibility.as_millis() as u64);
    }
}

fn queue_of(cmd: &QueueCmd) -> &str {
    match cmd {
        QueueCmd::Enqueue { queue, .. }
        | QueueCmd::Dequeue { queue, .. }
        | QueueCmd::Ack { queue, .. }
        | QueueCmd::Stats { queue } => queue,
    }
}

async fn serve_cmd(
    cfg: &NodeConfig,
    node: &QueueNode,
    req: &Request,
    mut cmd: QueueCmd,
) -> Response {
    let read = matches!(cmd, QueueCmd::Stats { .. });
    let no_forward = req.header(NO_FORWARD).is_some();
    match node {
        QueueNode::Primary { pa, visibility } => {
            stamp(cfg, &mut cmd, *visibility, Stamp::wall());
            let queue = queue_of(&cmd).to_string();
            let key = Queues::store_key(&queue);
            let r = pa.on_primary(|store| {
                let mut qs = Queues::from_stored(&queue, &store.value(&key));
                if let QueueCmd::Stats { .. } = cmd {
                    return Ok((qs.stats(&queue, &Stamp::wall()), vec![]));
                }
                let body = qs.run(&cmd)?;
                Ok((body, vec![(key.clone(), qs.stored(&queue))]))
            });
            match r {
                Ok(Ok(body)) => Response::json(200, &body),
                Ok(Err(e)) => error_response(&if read { e.for_read() } else { e }),
                Err(primary) => match pa.peer_addr(&primary) {
                    Some(addr) if !no_forward => {
                        forward_raw(
                            &http::HttpClient::shared(),
                            addr,
                            req,
                            cfg.forward_timeout(),
                            read,
                        )
                        .await
                    }
                    _ => error_response(&ApiError::not_leader(Some(primary))),
                },
            }
        }
        QueueNode::Raft { core, visibility } => {
            let view = core.wait_view().await;
            if !view.is_leader {
                let addr = view.leader.as_ref().and_then(|n| core.peer_addr(n));
                return match addr {
                    Some(addr) if !no_forward => {
                        forward_raw(&core.client, addr, req, cfg.forward_timeout(), read).await
                    }
                    _ => error_response(&ApiError::not_leader(view.leader)),
                };
            }
            if let QueueCmd::Stats { queue } = &cmd {
                if let Err(e) = core.confirm_leadership().await {
                    return error_response(&e.for_read());
                }
                let now = core.leader_stamp(&view).unwrap_or_default();
                return Response::json(200, &core.sm.read(|m| m.queues.stats(queue, &now)));
            }
            // Not a leader any more: the stamp says no time has passed, and
            // the write fails to commit anyway.
            stamp(
                cfg,
                &mut cmd,
                *visibility,
                core.leader_stamp(&view).unwrap_or_default(),
            );
            core.write_answered(&cmd).await
        }
    }
}

/// The HTTP handler.
pub fn handler(cfg: Arc<NodeConfig>, node: Arc<QueueNode>) -> http::Handler {
    Arc::new(move |req: Request| {
        let (cfg, node) = (cfg.clone(), node.clone());
        Box::pin(async move {
            if req.path.starts_with("/internal/") {
                return match &*node {
                    QueueNode::Raft { core, .. } => core.internal(req).await,
                    QueueNode::Primary { pa, .. } => pa.internal_sync(&req),
                };
            }
            let status = || match &*node {
                QueueNode::Raft { core, .. } => core.status(&cfg.level),
                QueueNode::Primary { pa, .. } => pa.status_doc(),
            };
            node::route(&cfg, &req, status, parse, |cmd| {
                serve_cmd(&cfg, &node, &req, cmd)
            })
            .await
        })
    })
}

/// Starts a node and serves until killed.
pub fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    node::serve(cfg, start, handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enq(id: &str, v: i64) -> QueueCmd {
        QueueCmd::Enqueue {
            queue: "q".into(),
            id: id.into(),
            value: json!(v),
        }
    }

    fn deq(ms: u64, delete: bool) -> QueueCmd {
        QueueCmd::Dequeue {
            queue: "q".into(),
            visibility_ms: Some(100),
            now: Stamp {
                term: 0,
                clock: 0,
                ms,
            },
            delete,
        }
    }

    fn ack(id: &str) -> QueueCmd {
        QueueCmd::Ack {
            queue: "q".into(),
            id: id.into(),
        }
    }

    #[test]
    fn at_least_once_with_visibility_timeout_and_idempotent_enqueue() {
        let mut q = Queues::default();
        assert_eq!(q.run(&enq("a", 1)).unwrap()["enqueued"], true);
        assert_eq!(q.run(&enq("a", 1)).unwrap()["enqueued"], false);
        q.run(&enq("b", 2)).unwrap();
        assert_eq!(q.run(&deq(0, false)).unwrap()["message"]["id"], "a");
        assert_eq!(q.run(&deq(10, false)).unwrap()["message"]["id"], "b");
        assert_eq!(q.run(&deq(20, false)).unwrap()["message"], Value::Null);
        q.run(&ack("b")).unwrap();
        // a's visibility ran out at 100: delivered again.
        let m = q.run(&deq(100, false)).unwrap();
        assert_eq!(
            (
                m["message"]["id"].clone(),
                m["message"]["deliveries"].clone()
            ),
            (json!("a"), json!(2))
        );
        q.run(&ack("a")).unwrap();
        assert!(q.run(&ack("a")).is_ok(), "ack is idempotent");
        assert_eq!(q.run(&enq("a", 1)).unwrap()["enqueued"], false);
        assert_eq!(q.run(&deq(1000, false)).unwrap()["message"], Value::Null);
        assert_eq!(q.run(&ack("zz")).unwrap_err().status, 404);
    }

    #[test]
    fn at_most_once_deletes_on_dequeue() {
        let mut q = Queues::default();
        q.run(&enq("a", 1)).unwrap();
        assert_eq!(q.run(&deq(0, true)).unwrap()["message"]["value"], 1);
        assert_eq!(q.run(&deq(1000, true)).unwrap()["message"], Value::Null);
        assert_eq!(q.run(&enq("a", 1)).unwrap()["enqueued"], false);
    }

    #[test]
    fn visibility_runs_on_the_term_clock_and_restarts_under_a_new_leader() {
        let mut m = QueueMachine::default();
        let put = |m: &mut QueueMachine, cmd: QueueCmd, term| {
            m.apply(0, term, &serde_json::to_value(cmd).unwrap())["body"].clone()
        };
        let deq_at = |term: u64, clock: u64, ms: u64| QueueCmd::Dequeue {
            queue: "q".into(),
            visibility_ms: Some(100),
            now: Stamp { term, clock, ms },
            delete: false,
        };
        put(&mut m, enq("a", 1), 2);
        assert_eq!(put(&mut m, deq_at(2, 7, 1_000), 2)["message"]["id"], "a");
        assert_eq!(put(&mut m, deq_at(2, 7, 1_099), 2)["message"], Value::Null);
        // A new leader hides it for a whole timeout of its own clock.
        assert_eq!(put(&mut m, deq_at(3, 9, 99), 3)["message"], Value::Null);
        assert_eq!(put(&mut m, deq_at(3, 9, 100), 3)["message"]["id"], "a");
        // A stamp from an earlier term than its entry's counts as no time.
        assert_eq!(
            put(&mut m, deq_at(3, 9, 900_000), 4)["message"],
            Value::Null
        );
    }

    #[test]
    fn machine_snapshots_round_trip() {
        let mut m = QueueMachine::default();
        let cmd = serde_json::to_value(enq("a", 1)).unwrap();
        assert_eq!(m.apply(1, 1, &cmd)["status"], 200);
        let mut m2 = QueueMachine::default();
        m2.restore(m.snapshot()).unwrap();
        assert_eq!(m2.queues, m.queues);
    }
}
