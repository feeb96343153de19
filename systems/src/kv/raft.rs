//! The `raft`, `raft-lease` and `raft-local` levels, on the shared Raft
//! integration in [`crate::runtime::raft`].
//!
//! Writes and compare-and-sets go through the leader's log. Reads:
//! - `raft`: the leader confirms leadership with a quorum round (ReadIndex,
//!   `Raft::ensure_linearizable`) and reads once it has applied that index;
//! - `raft-lease`: the leader reads locally while a lease measured with the
//!   wall clock is valid (renewed by quorum rounds); a moved clock breaks it;
//! - `raft-local`: every node reads its own applied state.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::config::{Config, Level};
use super::{forward, ApiError, ClientOp, KvNode, OpResult};
use crate::runtime::clock;
use crate::runtime::http::{BoxFuture, HttpClient, Request, Response};
use crate::runtime::raft::{Machine, RaftCore};

/// A replicated command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Cmd {
    Write { key: String, value: Value },
    Cas { key: String, from: Value, to: Value },
}

/// The result of applying a command: `ok` false is a cas mismatch;
/// `current` is the key's value afterwards.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CmdResult {
    pub ok: bool,
    pub current: Value,
}

/// The key-value state machine.
#[derive(Default)]
pub struct KvMachine {
    data: BTreeMap<String, Value>,
}

impl KvMachine {
    pub fn read(&self, key: &str) -> Value {
        self.data.get(key).cloned().unwrap_or(Value::Null)
    }
}

fn apply_cmd(data: &mut BTreeMap<String, Value>, cmd: &Cmd) -> CmdResult {
    match cmd {
        Cmd::Write { key, value } => {
            data.insert(key.clone(), value.clone());
            CmdResult {
                ok: true,
                current: value.clone(),
            }
        }
        Cmd::Cas { key, from, to } => {
            let cur = data.get(key).cloned().unwrap_or(Value::Null);
            if &cur == from {
                data.insert(key.clone(), to.clone());
                CmdResult {
                    ok: true,
                    current: to.clone(),
                }
            } else {
                CmdResult {
                    ok: false,
                    current: cur,
                }
            }
        }
    }
}

impl Machine for KvMachine {
    fn apply(&mut self, _index: u64, _term: u64, cmd: &Value) -> Value {
        let r = match serde_json::from_value::<Cmd>(cmd.clone()) {
            Ok(c) => apply_cmd(&mut self.data, &c),
            Err(e) => {
                tracing::error!("undecodable kv command {cmd}: {e}");
                CmdResult::default()
            }
        };
        serde_json::to_value(r).unwrap_or_default()
    }

    fn snapshot(&self) -> Value {
        serde_json::to_value(&self.data).unwrap_or_default()
    }

    fn restore(&mut self, v: Value) -> Result<(), String> {
        self.data = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// A raft-family node.
pub struct RaftNode {
    cfg: Arc<Config>,
    core: RaftCore<KvMachine>,
    /// raft-lease: wall-clock millisecond until which reads are local.
    lease_until_ms: AtomicU64,
    /// raft-lease: the term the lease was granted in.
    lease_term: AtomicU64,
}

impl RaftNode {
    pub async fn start(cfg: Arc<Config>, client: Arc<HttpClient>) -> anyhow::Result<Arc<RaftNode>> {
        let core = RaftCore::start(cfg.raft_params("faultline-kv"), client).await?;
        let node = Arc::new(RaftNode {
            cfg: cfg.clone(),
            core,
            lease_until_ms: AtomicU64::new(0),
            lease_term: AtomicU64::new(0),
        });
        if cfg.level == Level::RaftLease {
            let n = node.clone();
            tokio::spawn(async move { n.renew_lease_forever().await });
        }
        Ok(node)
    }

    /// raft-lease: keeps the lease fresh on the leader.
    async fn renew_lease_forever(self: Arc<Self>) {
        let every = self.cfg.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            if self.core.view().is_leader {
                let _ = self.confirm_leadership().await;
            }
        }
    }

    /// A ReadIndex round; on success the lease (raft-lease) is extended from
    /// the wall-clock time the round started.
    async fn confirm_leadership(&self) -> Result<(), ApiError> {
        let start_ms = clock::wall_millis();
        let term = self.core.view().term;
        self.core.confirm_leadership().await?;
        if self.cfg.level == Level::RaftLease {
            let until = start_ms + self.cfg.lease.as_millis() as u64;
            if self.lease_term.swap(term, Ordering::SeqCst) != term {
                self.lease_until_ms.store(until, Ordering::SeqCst);
            } else {
                self.lease_until_ms.fetch_max(until, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    fn lease_valid(&self, term: u64) -> bool {
        self.lease_term.load(Ordering::SeqCst) == term
            && clock::wall_millis() < self.lease_until_ms.load(Ordering::SeqCst)
    }

    fn read(&self, key: &str) -> Value {
        self.core.sm.read(|m| m.read(key))
    }

    async fn do_op(&self, op: ClientOp, no_forward: bool) -> OpResult {
        if let (ClientOp::Read { key }, Level::RaftLocal) = (&op, self.cfg.level) {
            return Ok(self.read(key));
        }
        let view = self.core.wait_view().await;
        if !view.is_leader {
            let addr = view.leader.as_ref().and_then(|n| self.core.peer_addr(n));
            return match addr {
                Some(addr) if !no_forward => {
                    forward(&self.core.client, addr, &op, self.cfg.forward_timeout()).await
                }
                _ => Err(ApiError::not_leader(view.leader)),
            };
        }
        let cmd = match op {
            ClientOp::Read { key } => {
                if self.cfg.level == Level::RaftLease && self.lease_valid(view.term) {
                    return Ok(self.read(&key));
                }
                self.confirm_leadership().await?;
                return Ok(self.read(&key));
            }
            ClientOp::Write { key, value } => Cmd::Write { key, value },
            ClientOp::Cas { key, from, to } => Cmd::Cas { key, from, to },
        };
        let cmd = serde_json::to_value(cmd).map_err(|e| ApiError::invalid(e.to_string()))?;
        let (_, r) = self.core.write(cmd).await?;
        let r: CmdResult = serde_json::from_value(r)
            .map_err(|e| ApiError::indefinite("raft-error", format!("bad result: {e}")))?;
        if r.ok {
            Ok(r.current)
        } else {
            Err(ApiError::cas_mismatch(r.current))
        }
    }
}

impl KvNode for RaftNode {
    fn op(self: Arc<Self>, op: ClientOp, no_forward: bool) -> BoxFuture<OpResult> {
        Box::pin(async move {
            let read = op.is_read();
            self.do_op(op, no_forward)
                .await
                .map_err(|e| if read { e.for_read() } else { e })
        })
    }

    fn status(&self) -> Value {
        let mut v = self.core.status(self.cfg.level.name());
        if self.cfg.level == Level::RaftLease {
            let now = clock::wall_millis();
            let until = self.lease_until_ms.load(Ordering::SeqCst);
            v["lease_ms_left"] = json!(until.saturating_sub(now));
        }
        v
    }

    fn internal(self: Arc<Self>, req: Request) -> BoxFuture<Response> {
        Box::pin(async move { self.core.internal(req).await })
    }
}
