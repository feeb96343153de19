//! `faultline-lock`: a lock service with leases and fencing tokens, plus a
//! fenced resource on the same nodes. See `systems/README.md` for the API.
//!
//! Levels:
//! - `raft`: the lock table is a Raft state machine (the shared integration
//!   in [`crate::runtime::raft`]); the leader stamps every acquire with its
//!   term clock (monotonic, see [`Stamp`]), so lease expiry is decided by
//!   the leader and no wall-clock fault moves it; a lease granted under an
//!   earlier leader runs a whole TTL of the new leader's clock. A grant's
//!   token is its log index.
//! - `single`: one node (the lowest id) holds the table in memory, persisted
//!   to its data dir, and grants set-if-absent with a time-to-live measured
//!   by its own wall clock; other nodes forward to it. No replication.
//! - `redlock`: every node is an independent `single`; the client runs the
//!   Redlock algorithm across them (documented in the README).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::runtime::api::{error_response, ApiError};
use crate::runtime::clock::{self, Stamp};
use crate::runtime::http::{self, Request, Response};
use crate::runtime::node::{self, forward_raw, json_body, NodeConfig, Spec, NO_FORWARD};
use crate::runtime::raft::{answer, Machine, RaftCore};
use crate::runtime::wal;

pub const LEVELS: &[&str] = &["raft", "single", "redlock"];

pub const USAGE: &str = "\
usage: faultline-lock --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data-dir DIR --level LEVEL [options]

levels: raft, single, redlock

options:
  --fsync always|never        fsync before acknowledging (default always)
  --heartbeat-ms N            raft heartbeat (default 100)
  --election-timeout-ms N     raft election timeout minimum (default 1000)
  --request-timeout-ms N      how long a write waits for replication (default 2000)
  --snapshot-logs N           raft levels: snapshot and compact the log every N entries, 0 never (default 10000)
  --clock-offset-ms N         test aid: add N ms to every wall-clock read (default 0)
  --debug-endpoints           test aid: enable POST /debug/clock
  --log-level LEVEL           error, warn, info, debug, trace (default info)
";

pub const SPEC: Spec = Spec {
    prog: "faultline-lock",
    levels: LEVELS,
    extra_flags: &[],
    usage: USAGE,
};

/// Longest lease a client may ask for.
pub const MAX_TTL_MS: u64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Held {
    token: u64,
    granted: Stamp,
    ttl_ms: u64,
}

impl Held {
    /// Milliseconds the lease still has at `now` (0 = expired).
    fn left_ms(&self, now: &Stamp) -> u64 {
        self.ttl_ms.saturating_sub(self.granted.elapsed_to(now))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Resource {
    value: Value,
    token: u64,
}

/// The lock table and fenced resources: pure, shared by every level.
/// Answers are HTTP-shaped: `Ok(body)` for 200, `Err` otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockTable {
    locks: BTreeMap<String, Held>,
    resources: BTreeMap<String, Resource>,
    /// The highest token ever granted.
    pub last_token: u64,
}

fn conflict(code: &str, msg: String, current: Value) -> ApiError {
    let mut e = ApiError::new(409, code, true, msg);
    e.current = Some(current);
    e
}

impl LockTable {
    /// Set-if-absent with a time-to-live: grants `token` unless an unexpired
    /// lease exists at `now`.
    pub fn acquire(
        &mut self,
        lock: &str,
        ttl_ms: u64,
        now: Stamp,
        token: u64,
    ) -> Result<Value, ApiError> {
        if let Some(h) = self.locks.get(lock) {
            let left = h.left_ms(&now);
            if left > 0 {
                return Err(conflict(
                    "locked",
                    format!("{lock} is held (token {}) for {left} ms more", h.token),
                    json!(h.token),
                ));
            }
        }
        self.locks.insert(
            lock.to_string(),
            Held {
                token,
                granted: now,
                ttl_ms,
            },
        );
        self.last_token = self.last_token.max(token);
        Ok(json!({"lock": lock, "token": token, "ttl_ms": ttl_ms}))
    }

    /// Releases the lease granted with `token` (also after it expired, as
    /// long as nobody else was granted the lock since).
    pub fn release(&mut self, lock: &str, token: u64) -> Result<Value, ApiError> {
        match self.locks.get(lock) {
            Some(h) if h.token == token => {
                self.locks.remove(lock);
                Ok(json!({"lock": lock, "released": true}))
            }
            h => Err(conflict(
                "not-holder",
                format!("token {token} does not hold {lock}"),
                h.map(|h| json!(h.token)).unwrap_or(Value::Null),
            )),
        }
    }

    /// A fenced write: rejected when a higher token has been seen.
    pub fn write(&mut self, resource: &str, value: Value, token: u64) -> Result<Value, ApiError> {
        let r = self.resources.entry(resource.to_string()).or_default();
        if token < r.token {
            return Err(conflict(
                "fenced",
                format!("token {token} is below {} already seen", r.token),
                json!(r.token),
            ));
        }
        r.token = token;
        r.value = value.clone();
        Ok(json!({"resource": resource, "value": value, "token": token}))
    }

    pub fn read(&self, resource: &str) -> Value {
        let r = self.resources.get(resource).cloned().unwrap_or_default();
        json!({"resource": resource, "value": r.value, "token": r.token})
    }

    /// The lock's current lease as seen at `now`.
    pub fn peek(&self, lock: &str, now: &Stamp) -> Value {
        let held = self.locks.get(lock).map(|h| (h, h.left_ms(now)));
        match held.filter(|(_, left)| *left > 0) {
            Some((h, left)) => json!({"lock": lock, "token": h.token, "expires_in_ms": left}),
            None => json!({"lock": lock, "token": null, "expires_in_ms": null}),
        }
    }

    pub fn held(&self, now: &Stamp) -> usize {
        self.locks.values().filter(|h| h.left_ms(now) > 0).count()
    }
}

/// A request, parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum LockCmd {
    Acquire {
        lock: String,
        ttl_ms: u64,
        /// When the request was served: the leader's term clock (raft) or
        /// the node's wall clock (others); filled in by the serving node.
        #[serde(default)]
        now: Stamp,
    },
    Release {
        lock: String,
        token: u64,
    },
    Write {
        resource: String,
        value: Value,
        token: u64,
    },
    Read {
        resource: String,
    },
    Peek {
        lock: String,
    },
}

impl LockCmd {
    fn is_read(&self) -> bool {
        matches!(self, LockCmd::Read { .. } | LockCmd::Peek { .. })
    }
}

fn u64_field(b: &Value, f: &str) -> Result<u64, ApiError> {
    b.get(f)
        .and_then(Value::as_u64)
        .ok_or_else(|| ApiError::invalid(format!("body must have \"{f}\": a non-negative integer")))
}

/// Parses a client request; `Ok(None)` when the path is not ours.
pub fn parse(req: &Request) -> Result<Option<LockCmd>, ApiError> {
    let m = req.method.as_str();
    if let Some(r) = node::split_named(&req.path, "/lock") {
        let (lock, rest) = r?;
        let b = json_body(req)?;
        return Ok(Some(match (m, rest.as_str()) {
            ("POST", "acquire") => {
                let ttl_ms = u64_field(&b, "ttl_ms")?;
                if ttl_ms == 0 || ttl_ms > MAX_TTL_MS {
                    return Err(ApiError::invalid(format!(
                        "ttl_ms must be in 1..={MAX_TTL_MS}"
                    )));
                }
                LockCmd::Acquire {
                    lock,
                    ttl_ms,
                    now: Stamp::default(),
                }
            }
            ("POST", "release") => LockCmd::Release {
                lock,
                token: u64_field(&b, "token")?,
            },
            ("GET", "") => LockCmd::Peek { lock },
            _ => return Err(method_not_allowed(req)),
        }));
    }
    if let Some(r) = node::split_named(&req.path, "/resource") {
        let (resource, rest) = r?;
        if !rest.is_empty() {
            return Ok(None);
        }
        return Ok(Some(match m {
            "GET" => LockCmd::Read { resource },
            "PUT" | "POST" => {
                let b = json_body(req)?;
                let value = b.get("value").cloned().unwrap_or(Value::Null);
                if !(value.is_i64() || value.is_u64() || value.is_string()) {
                    return Err(ApiError::invalid(
                        "body must be {\"value\": INTEGER or STRING, \"token\": N}",
                    ));
                }
                LockCmd::Write {
                    resource,
                    value,
                    token: u64_field(&b, "token")?,
                }
            }
            _ => return Err(method_not_allowed(req)),
        }));
    }
    Ok(None)
}

fn method_not_allowed(req: &Request) -> ApiError {
    ApiError::new(
        405,
        "invalid",
        true,
        format!("{} not allowed on {}", req.method, req.path),
    )
}

/// Runs a command on a table; `token` is the token a grant would get.
fn run_cmd(t: &mut LockTable, cmd: &LockCmd, token: u64, now: Stamp) -> Result<Value, ApiError> {
    match cmd {
        LockCmd::Acquire { lock, ttl_ms, .. } => t.acquire(lock, *ttl_ms, now, token),
        LockCmd::Release { lock, token } => t.release(lock, *token),
        LockCmd::Write {
            resource,
            value,
            token,
        } => t.write(resource, value.clone(), *token),
        LockCmd::Read { .. } | LockCmd::Peek { .. } => read_cmd(t, cmd, &now),
    }
}

/// Runs a read-only command.
fn read_cmd(t: &LockTable, cmd: &LockCmd, now: &Stamp) -> Result<Value, ApiError> {
    match cmd {
        LockCmd::Read { resource } => Ok(t.read(resource)),
        LockCmd::Peek { lock } => Ok(t.peek(lock, now)),
        _ => Err(ApiError::invalid("not a read")),
    }
}

// ------------------------------------------------------------------- raft

/// The raft level's state machine: token = the acquire's log index.
#[derive(Default)]
pub struct LockMachine {
    pub table: LockTable,
}

impl Machine for LockMachine {
    fn apply(&mut self, index: u64, term: u64, cmd: &Value) -> Value {
        match serde_json::from_value::<LockCmd>(cmd.clone()) {
            Ok(c) => {
                let now = match &c {
                    LockCmd::Acquire { now, .. } => now.for_entry(term),
                    _ => Stamp::default(),
                };
                answer(run_cmd(&mut self.table, &c, index, now))
            }
            Err(e) => answer(Err(ApiError::invalid(format!("bad command: {e}")))),
        }
    }

    fn snapshot(&self) -> Value {
        serde_json::to_value(&self.table).unwrap_or_default()
    }

    fn restore(&mut self, v: Value) -> Result<(), String> {
        self.table = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(())
    }
}

// ------------------------------------------------------------ single/redlock

/// A node-local table persisted as one JSON file (`locks.json`, written
/// atomically before each answer).
pub struct LocalTable {
    t: Mutex<LockTable>,
    path: PathBuf,
}

impl LocalTable {
    pub fn open(dir: &std::path::Path) -> std::io::Result<LocalTable> {
        let path = dir.join("locks.json");
        let t = wal::read_json::<LockTable>(&path)?.unwrap_or_default();
        Ok(LocalTable {
            t: Mutex::new(t),
            path,
        })
    }

    /// Runs `cmd` with this node's wall clock; a grant's token is
    /// `max(last token + 1, wall-clock µs)`.
    pub fn run(&self, cmd: &LockCmd) -> Result<Value, ApiError> {
        let mut t = self.t.lock().unwrap();
        let now = Stamp::wall();
        let token = (t.last_token + 1).max(clock::wall_micros());
        let before = t.clone();
        let r = run_cmd(&mut t, cmd, token, now);
        if r.is_ok() && !cmd.is_read() {
            if let Err(e) = wal::write_json_atomic(&self.path, &*t) {
                *t = before;
                return Err(ApiError::unavailable(format!("storage: {e}")));
            }
        }
        r
    }

    pub fn status(&self) -> (usize, u64) {
        let t = self.t.lock().unwrap();
        (t.held(&Stamp::wall()), t.last_token)
    }
}

// ------------------------------------------------------------------- node

pub enum LockNode {
    Raft(RaftCore<LockMachine>),
    Local(LocalTable),
}

pub async fn start(
    cfg: Arc<NodeConfig>,
    client: Arc<http::HttpClient>,
) -> anyhow::Result<Arc<LockNode>> {
    use anyhow::Context;
    Ok(Arc::new(match cfg.level.as_str() {
        "raft" => LockNode::Raft(RaftCore::start(cfg.raft_params("faultline-lock"), client).await?),
        _ => LockNode::Local(LocalTable::open(&cfg.data_dir).with_context(|| {
            format!(
                "--data-dir: opening locks.json in {}",
                cfg.data_dir.display()
            )
        })?),
    }))
}

/// `single`: the node that serves (the lowest id).
fn single_server(cfg: &NodeConfig) -> String {
    cfg.all_ids()[0].clone()
}

fn status(cfg: &NodeConfig, node: &LockNode) -> Value {
    match node {
        LockNode::Raft(core) => core.status(&cfg.level),
        LockNode::Local(t) => {
            let (held, last) = t.status();
            let (role, leader) = if cfg.level == "single" {
                let s = single_server(cfg);
                (if s == cfg.id { "primary" } else { "standby" }, json!(s))
            } else {
                ("independent", Value::Null)
            };
            json!({"id": cfg.id, "level": cfg.level, "role": role, "term": 0,
                   "leader": leader, "held": held, "last_token": last})
        }
    }
}

async fn serve_cmd(cfg: &NodeConfig, node: &LockNode, req: &Request, mut cmd: LockCmd) -> Response {
    let read = cmd.is_read();
    let no_forward = req.header(NO_FORWARD).is_some();
    let fix = |e: ApiError| if read { e.for_read() } else { e };
    match node {
        LockNode::Local(t) => {
            if cfg.level == "single" {
                let s = single_server(cfg);
                if s != cfg.id {
                    return match cfg.peers.get(&s) {
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
                        _ => error_response(&ApiError::not_leader(Some(s))),
                    };
                }
            }
            match t.run(&cmd) {
                Ok(b) => Response::json(200, &b),
                Err(e) => error_response(&fix(e)),
            }
        }
        LockNode::Raft(core) => {
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
            if read {
                if let Err(e) = core.confirm_leadership().await {
                    return error_response(&e.for_read());
                }
                let now = core.leader_stamp(&view).unwrap_or_default();
                let r = core.sm.read(|m| read_cmd(&m.table, &cmd, &now));
                return match r {
                    Ok(b) => Response::json(200, &b),
                    Err(e) => error_response(&e.for_read()),
                };
            }
            if let LockCmd::Acquire { now, .. } = &mut cmd {
                // Not a leader any more: the stamp says no time has passed,
                // and the write fails to commit anyway.
                *now = core.leader_stamp(&view).unwrap_or_default();
            }
            core.write_answered(&cmd).await
        }
    }
}

/// The HTTP handler.
pub fn handler(cfg: Arc<NodeConfig>, node: Arc<LockNode>) -> http::Handler {
    Arc::new(move |req: Request| {
        let (cfg, node) = (cfg.clone(), node.clone());
        Box::pin(async move {
            if req.path.starts_with("/internal/") {
                return match &*node {
                    LockNode::Raft(core) => core.internal(req).await,
                    LockNode::Local(_) => error_response(&ApiError::not_found("no peer traffic")),
                };
            }
            node::route(
                &cfg,
                &req,
                || status(&cfg, &node),
                parse,
                |cmd| serve_cmd(&cfg, &node, &req, cmd),
            )
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

    /// A wall-clock reading (what `single` and `redlock` use).
    fn w(ms: u64) -> Stamp {
        Stamp {
            term: 0,
            clock: 0,
            ms,
        }
    }

    #[test]
    fn set_if_absent_with_ttl_and_fencing() {
        let mut t = LockTable::default();
        assert_eq!(t.acquire("l", 100, w(1000), 5).unwrap()["token"], 5);
        let e = t.acquire("l", 100, w(1050), 6).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.definite),
            (409, "locked", true)
        );
        assert_eq!(e.current, Some(json!(5)));
        // Expired at 1100: granted again.
        assert_eq!(t.acquire("l", 100, w(1100), 7).unwrap()["token"], 7);
        assert_eq!(t.release("l", 5).unwrap_err().code, "not-holder");
        assert!(t.release("l", 7).is_ok());
        assert_eq!(t.peek("l", &w(0))["token"], Value::Null);
        assert!(t.write("r", json!(1), 7).is_ok());
        assert!(t.write("r", json!(2), 7).is_ok());
        let e = t.write("r", json!(3), 5).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.current.clone()),
            ("fenced", Some(json!(7)))
        );
        assert_eq!(t.read("r")["value"], 2);
        assert_eq!(t.last_token, 7);
    }

    #[test]
    fn raft_machine_tokens_are_log_indices() {
        let mut m = LockMachine::default();
        let acq = |term: u64, clock: u64, ms: u64| {
            json!({"op": "acquire", "lock": "l", "ttl_ms": 100,
                   "now": {"term": term, "clock": clock, "ms": ms}})
        };
        let r = m.apply(7, 2, &acq(2, 1, 0));
        assert_eq!(
            (r["status"].clone(), r["body"]["token"].clone()),
            (json!(200), json!(7))
        );
        assert_eq!(m.apply(8, 2, &acq(2, 1, 50))["status"], 409);
        assert_eq!(m.apply(9, 2, &acq(2, 1, 100))["body"]["token"], 9);
        // A new leader (term 3) has no idea how old the term-2 lease is:
        // it waits a whole TTL on its own clock, however far its stamps
        // (or anybody's wall clock) have moved.
        assert_eq!(m.apply(10, 3, &acq(3, 5, 99))["status"], 409);
        assert_eq!(m.apply(11, 3, &acq(3, 5, 100))["body"]["token"], 11);
        // The same holds for another process leading the same term.
        assert_eq!(m.apply(12, 3, &acq(3, 6, 60))["status"], 409);
        // A stamp taken in another term than its entry's counts as no time
        // at all: the lease stays held.
        assert_eq!(m.apply(13, 4, &acq(3, 5, 100_000))["status"], 409);
        let snap = m.snapshot();
        let mut m2 = LockMachine::default();
        m2.restore(snap).unwrap();
        assert_eq!(m2.table, m.table);
    }

    #[test]
    fn parses_requests() {
        let req = |m: &str, p: &str, b: &str| Request {
            method: m.into(),
            path: p.into(),
            query: String::new(),
            headers: vec![],
            body: b.as_bytes().to_vec(),
        };
        assert_eq!(
            parse(&req("POST", "/lock/a/acquire", r#"{"ttl_ms":5}"#)).unwrap(),
            Some(LockCmd::Acquire {
                lock: "a".into(),
                ttl_ms: 5,
                now: Stamp::default()
            })
        );
        assert_eq!(
            parse(&req("PUT", "/resource/r", r#"{"value":1,"token":3}"#)).unwrap(),
            Some(LockCmd::Write {
                resource: "r".into(),
                value: json!(1),
                token: 3
            })
        );
        assert_eq!(
            parse(&req("POST", "/lock/a/acquire", r#"{"ttl_ms":0}"#))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(parse(&req("GET", "/lock/a/x", "")).unwrap_err().status, 405);
        assert!(parse(&req("GET", "/nope", "")).unwrap().is_none());
    }
}
