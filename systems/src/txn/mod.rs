//! `faultline-txn`: a sharded transactional key-value store. See
//! `systems/README.md` ("faultline-txn") for the API and the design.
//!
//! Every node hosts one replica of each of `--shards` Raft groups (shared
//! runtime, [`crate::runtime::raft`]; data in `data_dir/shard-N/`, peer
//! routes under `/internal/shard-N/raft`). Key `k` lives on shard
//! `k % shards`; each shard is a multi-version store with locks and
//! transaction outcomes ([`shard`]); shard 0 also holds the timestamp
//! oracle. Any node coordinates a transaction (`POST /txn`), talking to
//! each shard's leader (itself, or over `/internal/txn/N`).
//!
//! Levels (the weaknesses come from the protocol, nothing is simulated):
//! - `serializable`: optimistic concurrency over MVCC with two-phase
//!   commit. Reads at a start timestamp; prepare write-locks written keys
//!   and read-locks read keys, refusing when a version newer than the
//!   start exists or another transaction's lock is in the way; the commit
//!   timestamp orders transactions (strict serializability: both
//!   timestamps come from one Raft counter).
//! - `snapshot`: the same without read locks or read validation: snapshot
//!   reads, first committer wins on written keys; write skew is allowed.
//! - `read-committed`: each read sees the latest committed version at that
//!   moment; a transaction's first write to a key takes its write lock at
//!   once (waiting a little for another holder, as a lock-based database
//!   does) and holds it to the end, so what it reads of its own writes is
//!   what it installs; the writes are committed atomically with the same
//!   two-phase commit (no version check). Reads take no locks: read skew
//!   and lost updates are real.
//! - `none`: the micro-ops are grouped by shard, each group applied as one
//!   Raft entry against the latest state, shard after shard; no atomic
//!   commit across shards.

pub mod shard;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::runtime::api::{error_response, ApiError};
use crate::runtime::clock;
use crate::runtime::http::{self, HttpClient, Request, Response};
use crate::runtime::node::{self, json_body, NodeConfig, Spec, NO_FORWARD};
use crate::runtime::raft::RaftCore;
use shard::{apply_op, Key, Lock, ShardCmd, ShardMachine, WOp, WriteKind};

pub const LEVELS: &[&str] = &["serializable", "snapshot", "read-committed", "none"];

pub const USAGE: &str = "\
usage: faultline-txn --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data-dir DIR [--level LEVEL] [options]

levels: serializable (default), snapshot, read-committed, none

options:
  --shards N                  number of shards (Raft groups), the same on every node (default 3)
  --fsync always|never        fsync before acknowledging (default always)
  --heartbeat-ms N            raft heartbeat (default 100)
  --election-timeout-ms N     raft election timeout minimum (default 1000)
  --request-timeout-ms N      how long a shard request waits (default 2000); locks older
                              than half of it may be resolved by other transactions
  --snapshot-logs N           snapshot and compact each shard's log every N entries, 0 never (default 10000)
  --clock-offset-ms N         test aid: add N ms to every wall-clock read (default 0)
  --debug-endpoints           test aid: enable POST /debug/clock
  --log-level LEVEL           error, warn, info, debug, trace (default info)
";

pub const SPEC: Spec = Spec {
    prog: "faultline-txn",
    levels: LEVELS,
    extra_flags: &["--shards"],
    usage: USAGE,
};

/// Test aid (`POST /debug/txn`, only with `--debug-endpoints`): the
/// coordinator stops as if it crashed at this point of a commit, leaving
/// its locks for other transactions to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// Every shard prepared (locked), no commit sent.
    AfterPrepare,
    /// Committed on the primary shard only.
    AfterPrimaryCommit,
}

/// One shard's share of a commit: (keys written with their writes, keys
/// only read).
type Part = (Vec<(Key, Vec<WOp>)>, Vec<Key>);

/// A micro-op as the client sends it: `[f, key, value]`.
pub type MicroOp = (String, Key, Value);

/// A transactional node: one replica of every shard, and a coordinator.
pub struct TxnNode {
    cfg: Arc<NodeConfig>,
    shards: Vec<RaftCore<ShardMachine>>,
    client: Arc<HttpClient>,
    /// A lock older than this (by the reader's wall clock against the
    /// coordinator's at prepare) may be resolved by another transaction.
    lock_ttl: Duration,
    /// When this node first met each other transaction's lock.
    seen_locks: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    seq: AtomicU64,
}

/// Parses `--shards`: 1..=64.
pub fn parse_shards(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!(
            "--shards: expected a number of shards in 1..=64, got {v:?}"
        )),
    }
}

fn shard_count(cfg: &NodeConfig) -> anyhow::Result<usize> {
    match cfg.extra.get("--shards") {
        None => Ok(3),
        Some(v) => parse_shards(v).map_err(anyhow::Error::msg),
    }
}

pub async fn start(cfg: Arc<NodeConfig>, client: Arc<HttpClient>) -> anyhow::Result<Arc<TxnNode>> {
    use anyhow::Context;
    let n = shard_count(&cfg)?;
    let mut shards = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = cfg.raft_params(&format!("faultline-txn-shard-{i}"));
        p.data_dir = cfg.data_dir.join(format!("shard-{i}"));
        std::fs::create_dir_all(&p.data_dir)
            .with_context(|| format!("--data-dir: cannot create {}", p.data_dir.display()))?;
        p.route_prefix = format!("/internal/shard-{i}/raft");
        let fresh = !p.data_dir.join("raft-log.jsonl").exists();
        shards.push((fresh, RaftCore::start(p, client.clone()).await?));
    }
    // On a cluster's first start, spread shard leadership over the nodes
    // (shard i to the node ranked i mod n, by sorted id): each node
    // campaigns at once for its shards instead of waiting out an election
    // timeout, so one node does not end up leading every group.
    let ids = cfg.all_ids();
    let rank = ids.iter().position(|i| *i == cfg.id).unwrap_or(0);
    for (i, (fresh, core)) in shards.iter().enumerate() {
        if *fresh && i % ids.len() == rank {
            if let Err(e) = core.raft.trigger().elect().await {
                tracing::warn!("shard {i}: campaign at start: {e}");
            }
        }
    }
    let shards: Vec<RaftCore<ShardMachine>> = shards.into_iter().map(|(_, c)| c).collect();
    Ok(Arc::new(TxnNode {
        lock_ttl: (cfg.request_timeout / 2).max(Duration::from_millis(100)),
        cfg,
        shards,
        client,
        seen_locks: Default::default(),
        seq: AtomicU64::new(0),
    }))
}

/// Runs futures concurrently (on this task) and returns their outputs in
/// order.
async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futs: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// A machine answer (`{"status", "body"}`) as a result.
fn machine_result(r: Value) -> Result<Value, ApiError> {
    let status = r["status"].as_u64().unwrap_or(500) as u16;
    if status == 200 {
        Ok(r["body"].clone())
    } else {
        Err(ApiError::from_response(
            status,
            &serde_json::to_vec(&r["body"]).unwrap_or_default(),
        ))
    }
}

fn definite(mut e: ApiError) -> ApiError {
    e.definite = true;
    e
}

fn conflict(code: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(409, code, true, msg)
}

impl TxnNode {
    fn shard_of(&self, k: Key) -> usize {
        (k % self.shards.len() as u64) as usize
    }

    fn is_level(&self, l: &str) -> bool {
        self.cfg.level == l
    }

    /// Runs a command on this node's replica of shard `s`, which must lead:
    /// a read after a ReadIndex round, anything else as a Raft entry.
    async fn exec_local(&self, s: usize, cmd: &ShardCmd) -> Result<Value, ApiError> {
        let core = &self.shards[s];
        if matches!(cmd, ShardCmd::Read { .. }) {
            core.confirm_leadership().await?;
            return Ok(core.sm.read(|m| m.shard.read(cmd)));
        }
        let v = serde_json::to_value(cmd).map_err(|e| ApiError::invalid(e.to_string()))?;
        let (_, r) = core.write(v).await?;
        machine_result(r)
    }

    /// Runs a command on shard `s`'s leader, wherever it is. Retries while
    /// nothing can have happened (no leader, not the leader, connection
    /// refused) until the request timeout. An indefinite error means the
    /// command may have been applied.
    async fn call_shard(&self, s: usize, cmd: &ShardCmd) -> Result<Value, ApiError> {
        let deadline = tokio::time::Instant::now() + self.cfg.request_timeout;
        let body = serde_json::to_vec(cmd).map_err(|e| ApiError::invalid(e.to_string()))?;
        loop {
            let core = &self.shards[s];
            let view = core.wait_view().await;
            let res = if view.is_leader {
                self.exec_local(s, cmd).await
            } else if let Some(addr) = view.leader.as_ref().and_then(|l| core.peer_addr(l)) {
                match self
                    .client
                    .request(
                        addr,
                        "POST",
                        &format!("/internal/txn/{s}"),
                        &[(NO_FORWARD, "1")],
                        &body,
                        self.cfg.forward_timeout(),
                    )
                    .await
                {
                    Ok((200, b)) => serde_json::from_slice(&b).map_err(|e| {
                        ApiError::indefinite("shard-failed", format!("shard {s}: bad answer: {e}"))
                    }),
                    Ok((st, b)) => Err(ApiError::from_response(st, &b)),
                    Err(e) if e.not_sent() => Err(ApiError::unavailable(format!("shard {s}: {e}"))),
                    Err(e) => {
                        self.client.forget(addr);
                        Err(ApiError::indefinite(
                            "shard-failed",
                            format!("shard {s}: {e}"),
                        ))
                    }
                }
            } else {
                Err(ApiError::unavailable(format!("shard {s}: no leader")))
            };
            match res {
                Err(e)
                    if e.definite
                        && (e.status == 421 || e.status == 503)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                r => return r,
            }
        }
    }

    /// A timestamp from the oracle (shard 0).
    async fn timestamp(&self) -> Result<u64, ApiError> {
        let r = self.call_shard(0, &ShardCmd::Ts).await?;
        r["ts"]
            .as_u64()
            .ok_or_else(|| ApiError::indefinite("raft-error", "oracle gave no timestamp"))
    }

    /// Resolves the lock `lock` found on shard `s`: asks the transaction's
    /// primary for its outcome (which records `aborted` unless it
    /// committed), then rolls the lock forward or back.
    async fn resolve(&self, s: usize, lock: &Lock) -> Result<(), ApiError> {
        let p = lock.primary as usize;
        if p >= self.shards.len() {
            return Err(ApiError::invalid("lock names an unknown primary shard"));
        }
        let txn = lock.txn.clone();
        let r = self
            .call_shard(p, &ShardCmd::Resolve { txn: txn.clone() })
            .await?;
        tracing::info!("resolved stale lock of {txn} on shard {s} via shard {p}: {r}");
        if p == s {
            return Ok(());
        }
        let cmd = match r["committed"].as_u64() {
            Some(ts) => ShardCmd::Commit {
                txn,
                ts,
                primary: false,
            },
            None => ShardCmd::Rollback { txn },
        };
        self.call_shard(s, &cmd).await.map(|_| ())
    }

    /// Whether `lock` may be resolved: older than the TTL by this node's
    /// wall clock against the coordinator's, or first met by this node at
    /// least a TTL ago (monotonic clock), so that a coordinator whose wall
    /// clock ran ahead cannot keep its locks alive after dying.
    fn stale(&self, lock: &Lock) -> bool {
        let ttl = self.lock_ttl;
        if clock::wall_millis().saturating_sub(lock.at_ms) >= ttl.as_millis() as u64 {
            return true;
        }
        let now = std::time::Instant::now();
        let mut seen = self.seen_locks.lock().unwrap();
        if seen.len() > 10_000 {
            seen.retain(|_, t| now.duration_since(*t) < ttl * 10);
        }
        now.duration_since(*seen.entry(lock.txn.clone()).or_insert(now)) >= ttl
    }

    /// Reads `k` at `at` (or the latest committed with `None`), waiting for
    /// (and after the TTL resolving) locks in the way. Errors are definite.
    async fn fetch(&self, k: Key, at: Option<u64>) -> Result<Value, ApiError> {
        let s = self.shard_of(k);
        let deadline = tokio::time::Instant::now() + self.cfg.request_timeout;
        let cmd = ShardCmd::Read { key: k, at };
        loop {
            let r = self.call_shard(s, &cmd).await.map_err(definite)?;
            if r.get("too_old").is_some() {
                return Err(conflict(
                    "snapshot-too-old",
                    format!("key {k}: versions at the snapshot were discarded"),
                ));
            }
            let Some(l) = r.get("locked") else {
                return Ok(r["value"].clone());
            };
            let lock: Lock = serde_json::from_value(l.clone())
                .map_err(|e| ApiError::indefinite("raft-error", e.to_string()))
                .map_err(definite)?;
            if tokio::time::Instant::now() >= deadline {
                return Err(conflict(
                    "locked",
                    format!("key {k} stayed locked by {}", lock.txn),
                ));
            }
            if self.stale(&lock) {
                if let Err(e) = self.resolve(s, &lock).await {
                    tracing::info!("resolving {} on shard {s}: {}", lock.txn, e.message);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
    }

    /// One shard's prepare: `Ok(None)` when locked, `Ok(Some(refusal))`
    /// when refused. A refusal by a stale lock resolves it and tries once
    /// more.
    async fn prepare(&self, s: usize, cmd: &ShardCmd) -> Result<Option<Value>, ApiError> {
        let mut resolved = false;
        loop {
            let v = self.call_shard(s, cmd).await?;
            if v["ok"] == true {
                return Ok(None);
            }
            let lock: Option<Lock> = serde_json::from_value(v["lock"].clone()).ok();
            if let Some(l) = lock.filter(|l| !resolved && self.stale(l)) {
                resolved = true;
                if self.resolve(s, &l).await.is_ok() {
                    continue;
                }
            }
            return Ok(Some(v));
        }
    }

    /// Best effort after a decision to abort: records `aborted` on the
    /// primary, then releases the locks on the other shards in `touched`
    /// (the primary first). Whatever fails is resolved later by others.
    async fn abort(&self, txn: &str, primary: usize, touched: &[usize]) {
        for &s in touched {
            let cmd = if s == primary {
                ShardCmd::Resolve { txn: txn.into() }
            } else {
                ShardCmd::Rollback { txn: txn.into() }
            };
            if let Err(e) = self.call_shard(s, &cmd).await {
                tracing::info!("abort of {txn} on shard {s}: {}", e.message);
            }
        }
    }

    /// Two-phase commit of the buffered writes (`order`: written keys in
    /// first-write order; `reads`: keys to read-lock). Every error before
    /// the commit request reaches the primary is definite: only that
    /// request can commit the transaction.
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        txn: &str,
        start_ts: u64,
        buf: &BTreeMap<Key, Vec<WOp>>,
        order: &[Key],
        reads: &BTreeSet<Key>,
        check: bool,
        crash: Option<Crash>,
    ) -> Result<(), ApiError> {
        let primary = self.shard_of(order[0]);
        let mut parts: BTreeMap<usize, Part> = BTreeMap::new();
        for k in order {
            parts
                .entry(self.shard_of(*k))
                .or_default()
                .0
                .push((*k, buf[k].clone()));
        }
        for k in reads.iter().filter(|k| !buf.contains_key(k)) {
            parts.entry(self.shard_of(*k)).or_default().1.push(*k);
        }
        let mut shards: Vec<usize> = vec![primary];
        shards.extend(parts.keys().copied().filter(|s| *s != primary));
        let at_ms = clock::wall_millis();
        // Prepare on every shard at once.
        let prepares = shards.iter().map(|&s| {
            let (writes, reads) = parts.remove(&s).unwrap_or_default();
            let cmd = ShardCmd::Prepare {
                txn: txn.into(),
                primary: primary as u32,
                is_primary: s == primary,
                start_ts,
                at_ms,
                writes,
                reads,
                check,
            };
            async move { (s, self.prepare(s, &cmd).await) }
        });
        let results = join_all(prepares.collect()).await;
        // Shards where a prepare may have placed locks (the primary first).
        let touched: Vec<usize> = results
            .iter()
            .filter(|(_, r)| match r {
                Ok(None) => true,
                Ok(Some(_)) => false,
                Err(e) => !e.definite,
            })
            .map(|(s, _)| *s)
            .collect();
        for (s, r) in results {
            match r {
                Ok(None) => {}
                Ok(Some(v)) => {
                    self.abort(txn, primary, &touched).await;
                    let reason = v["reason"].as_str().unwrap_or("conflict").to_string();
                    let who = v["lock"]["txn"].as_str().map(|t| format!(" (held by {t})"));
                    return Err(conflict(
                        "conflict",
                        format!("aborted: {reason} on shard {s}{}", who.unwrap_or_default()),
                    ));
                }
                Err(e) => {
                    self.abort(txn, primary, &touched).await;
                    let mut e = definite(e);
                    e.message = format!("aborted: prepare on shard {s}: {}", e.message);
                    return Err(e);
                }
            }
        }
        if crash == Some(Crash::AfterPrepare) {
            return Ok(());
        }
        let ts = match self.timestamp().await {
            Ok(ts) => ts,
            Err(e) => {
                self.abort(txn, primary, &touched).await;
                return Err(definite(e));
            }
        };
        // The commit point. Retrying is safe: the primary's outcome is
        // recorded once and a repeated commit answers the same.
        let cmd = ShardCmd::Commit {
            txn: txn.into(),
            ts,
            primary: true,
        };
        let mut maybe = false;
        let mut last = None;
        for _ in 0..2 {
            match self.call_shard(primary, &cmd).await {
                Ok(v) if v["ok"] == true => {
                    last = None;
                    break;
                }
                Ok(_) => {
                    // Aborted by a lock resolver: it can never commit now.
                    self.abort(txn, primary, &touched).await;
                    return Err(conflict(
                        "aborted",
                        "aborted: a lock resolver aborted the transaction before its commit",
                    ));
                }
                Err(e) => {
                    maybe |= !e.definite;
                    let retry = !e.definite;
                    last = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        if let Some(mut e) = last {
            if maybe {
                e.definite = false;
                e.message = format!("commit outcome unknown: {}", e.message);
            } else {
                self.abort(txn, primary, &touched).await;
                e.message = format!("aborted: commit not delivered: {}", e.message);
            }
            return Err(e);
        }
        if crash == Some(Crash::AfterPrimaryCommit) {
            return Ok(());
        }
        let commits = touched
            .iter()
            .filter(|s| **s != primary)
            .map(|&s| async move {
                let cmd = ShardCmd::Commit {
                    txn: txn.into(),
                    ts,
                    primary: false,
                };
                if let Err(e) = self.call_shard(s, &cmd).await {
                    // Committed; readers roll this shard forward after the TTL.
                    tracing::info!("commit of {txn} on shard {s}: {}", e.message);
                }
            });
        join_all(commits.collect()).await;
        Ok(())
    }

    /// Level `read-committed`: takes `txn`'s write lock on `k` (shard `s`)
    /// now, waiting up to a second for another holder to finish; the lock
    /// is held until the commit or abort.
    async fn lock_for_write(
        &self,
        txn: &str,
        primary: usize,
        s: usize,
        k: Key,
    ) -> Result<(), ApiError> {
        let cmd = ShardCmd::Prepare {
            txn: txn.into(),
            primary: primary as u32,
            is_primary: s == primary,
            start_ts: 0,
            at_ms: clock::wall_millis(),
            writes: vec![(k, vec![])],
            reads: vec![],
            check: false,
        };
        let deadline =
            tokio::time::Instant::now() + self.cfg.request_timeout.min(Duration::from_secs(1));
        loop {
            match self.prepare(s, &cmd).await {
                Ok(None) => return Ok(()),
                Ok(Some(v)) => {
                    if v["reason"] == "locked" && tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        continue;
                    }
                    let reason = v["reason"].as_str().unwrap_or("conflict").to_string();
                    let who = v["lock"]["txn"].as_str().map(|t| format!(" (held by {t})"));
                    return Err(conflict(
                        "conflict",
                        format!("aborted: {reason} on key {k}{}", who.unwrap_or_default()),
                    ));
                }
                Err(e) => {
                    let mut e = definite(e);
                    e.message = format!("aborted: locking key {k}: {}", e.message);
                    return Err(e);
                }
            }
        }
    }

    /// Runs one transaction; the answer holds each read's value.
    pub async fn run_txn(
        &self,
        ops: Vec<MicroOp>,
        crash: Option<Crash>,
    ) -> Result<Vec<MicroOp>, ApiError> {
        if self.is_level("none") {
            return self.run_none(ops).await;
        }
        let txn = format!(
            "{}-{:x}-{}",
            self.cfg.id,
            clock::process_nonce(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let snap = self.is_level("snapshot") || self.is_level("serializable");
        let start_ts = if snap {
            self.timestamp().await.map_err(definite)?
        } else {
            0
        };
        // read-committed: the shards holding this transaction's write
        // locks, the primary first; released if it aborts.
        let eager = self.is_level("read-committed");
        let mut locked: Vec<usize> = Vec::new();
        let r = self
            .execute(&txn, &ops, snap, start_ts, eager, &mut locked, crash)
            .await;
        if r.is_err() && !locked.is_empty() {
            self.abort(&txn, locked[0], &locked).await;
        }
        r
    }

    /// The body of [`TxnNode::run_txn`] (see there).
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        txn: &str,
        ops: &[MicroOp],
        snap: bool,
        start_ts: u64,
        eager: bool,
        locked: &mut Vec<usize>,
        crash: Option<Crash>,
    ) -> Result<Vec<MicroOp>, ApiError> {
        let mut out = ops.to_vec();
        let mut buf: BTreeMap<Key, Vec<WOp>> = BTreeMap::new();
        let mut order: Vec<Key> = Vec::new();
        let mut seen: BTreeMap<Key, Value> = BTreeMap::new();
        for (i, (f, k, v)) in ops.iter().enumerate() {
            let kind = match f.as_str() {
                "r" => {
                    let mut value = match seen.get(k) {
                        Some(b) if snap => b.clone(),
                        _ => {
                            let b = self.fetch(*k, snap.then_some(start_ts)).await?;
                            seen.insert(*k, b.clone());
                            b
                        }
                    };
                    for op in buf.get(k).into_iter().flatten() {
                        apply_op(&mut value, op);
                    }
                    out[i].2 = value;
                    continue;
                }
                "append" => WriteKind::Append,
                _ => WriteKind::W,
            };
            if eager && !buf.contains_key(k) {
                let s = self.shard_of(*k);
                let primary = order.first().map(|k0| self.shard_of(*k0)).unwrap_or(s);
                if !locked.contains(&s) {
                    locked.push(s);
                }
                self.lock_for_write(txn, primary, s, *k).await?;
            }
            let ops = buf.entry(*k).or_default();
            if ops.is_empty() {
                order.push(*k);
            }
            ops.push(WOp {
                f: kind,
                v: v.as_u64().unwrap_or(0),
            });
        }
        if buf.is_empty() {
            return Ok(out);
        }
        let reads: BTreeSet<Key> = if self.is_level("serializable") {
            seen.keys().copied().collect()
        } else {
            BTreeSet::new()
        };
        self.commit(txn, start_ts, &buf, &order, &reads, snap, crash)
            .await?;
        Ok(out)
    }

    /// Level `none`: each shard's micro-ops as one Raft entry, shard after
    /// shard. A failure after a part was applied is `partial`, indefinite.
    async fn run_none(&self, ops: Vec<MicroOp>) -> Result<Vec<MicroOp>, ApiError> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, (_, k, _)) in ops.iter().enumerate() {
            let s = self.shard_of(*k);
            match groups.iter_mut().find(|(g, _)| *g == s) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((s, vec![i])),
            }
        }
        let mut out = ops.clone();
        let mut applied = false;
        for (s, idx) in groups {
            let part: Vec<MicroOp> = idx.iter().map(|i| ops[*i].clone()).collect();
            match self.call_shard(s, &ShardCmd::Apply { ops: part }).await {
                Ok(v) => {
                    for (j, i) in idx.iter().enumerate() {
                        if ops[*i].0 == "r" {
                            out[*i].2 = v["values"][j].clone();
                        }
                    }
                    applied = true;
                }
                Err(e) if applied => {
                    return Err(ApiError::indefinite(
                        "partial",
                        format!(
                            "part of the transaction was applied; shard {s} failed: {}",
                            e.message
                        ),
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `GET /status`: shard 0's role, term and leader at the top (shard 0
    /// also holds the oracle), every shard's under `shards`.
    pub fn status(&self) -> Value {
        let shards: Vec<Value> = self
            .shards
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut v = c.status(&self.cfg.level);
                v["shard"] = json!(i);
                v
            })
            .collect();
        let s0 = &shards[0];
        json!({
            "id": self.cfg.id,
            "level": self.cfg.level,
            "role": s0["role"],
            "term": s0["term"],
            "leader": s0["leader"],
            "applied": s0["applied"],
            "shard_count": shards.len(),
            "shards": shards,
        })
    }

    /// Peer traffic: `/internal/shard-N/raft/...` (Raft) and
    /// `/internal/txn/N` (a shard command for this node as shard N's
    /// leader; `421 not-leader` otherwise).
    async fn internal(&self, req: Request) -> Response {
        let not_found = || error_response(&ApiError::not_found(format!("no route {}", req.path)));
        if let Some(rest) = req.path.strip_prefix("/internal/shard-") {
            let Some(s) = rest
                .split_once('/')
                .and_then(|(n, _)| n.parse::<usize>().ok())
                .filter(|s| *s < self.shards.len())
            else {
                return not_found();
            };
            return self.shards[s].internal(req).await;
        }
        let Some(s) = req
            .path
            .strip_prefix("/internal/txn/")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|s| *s < self.shards.len())
        else {
            return not_found();
        };
        let cmd: ShardCmd = match serde_json::from_slice(&req.body) {
            Ok(c) => c,
            Err(e) => return error_response(&ApiError::invalid(format!("bad shard command: {e}"))),
        };
        let view = self.shards[s].view();
        if !view.is_leader {
            return error_response(&ApiError::not_leader(view.leader));
        }
        match self.exec_local(s, &cmd).await {
            Ok(v) => Response::json(200, &v),
            Err(e) => error_response(&e),
        }
    }
}

/// Parses `POST /txn` (`Ok(None)` for other paths).
pub fn parse(req: &Request) -> Result<Option<Vec<MicroOp>>, ApiError> {
    if req.path != "/txn" {
        return Ok(None);
    }
    if req.method != "POST" {
        return Err(ApiError::new(
            405,
            "invalid",
            true,
            format!("{} not allowed on /txn", req.method),
        ));
    }
    let b = json_body(req)?;
    let bad = |i: usize, what: &str| ApiError::invalid(format!("ops[{i}]: {what}"));
    let ops = b
        .get("ops")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("body must be {\"ops\": [[F, KEY, VALUE], ...]}"))?;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let a = op
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or_else(|| bad(i, "expected [F, KEY, VALUE]"))?;
        let f = a[0]
            .as_str()
            .filter(|f| ["r", "append", "w"].contains(f))
            .ok_or_else(|| bad(i, "F must be \"r\", \"append\" or \"w\""))?;
        let k = a[1]
            .as_u64()
            .ok_or_else(|| bad(i, "KEY must be a non-negative integer"))?;
        let v = if f == "r" {
            Value::Null
        } else {
            json!(a[2]
                .as_u64()
                .ok_or_else(|| bad(i, "a write's VALUE must be a non-negative integer"))?)
        };
        out.push((f.to_string(), k, v));
    }
    Ok(Some(out))
}

/// `POST /debug/txn` with `{"ops": [...], "crash": "after-prepare" |
/// "after-primary-commit"}`: runs the transaction and abandons it at that
/// point, as a coordinator that died there would (test aid).
async fn debug_txn(node: &TxnNode, mut req: Request) -> Response {
    let crash = match json_body(&req).map(|b| b["crash"].as_str().map(String::from)) {
        Ok(Some(c)) if c == "after-prepare" => Crash::AfterPrepare,
        Ok(Some(c)) if c == "after-primary-commit" => Crash::AfterPrimaryCommit,
        _ => {
            return error_response(&ApiError::invalid(
                "body must have \"crash\": \"after-prepare\" or \"after-primary-commit\"",
            ))
        }
    };
    req.path = "/txn".into();
    let ops = match parse(&req) {
        Ok(Some(ops)) => ops,
        Ok(None) => return error_response(&ApiError::invalid("bad request")),
        Err(e) => return error_response(&e),
    };
    match node.run_txn(ops, Some(crash)).await {
        Ok(out) => Response::json(200, &json!({ "ops": out })),
        Err(e) => error_response(&e),
    }
}

/// The HTTP handler.
pub fn handler(cfg: Arc<NodeConfig>, node: Arc<TxnNode>) -> http::Handler {
    Arc::new(move |req: Request| {
        let (cfg, node) = (cfg.clone(), node.clone());
        Box::pin(async move {
            if req.path.starts_with("/internal/") {
                return node.internal(req).await;
            }
            if cfg.debug_endpoints
                && (req.method.as_str(), req.path.as_str()) == ("POST", "/debug/txn")
            {
                return debug_txn(&node, req).await;
            }
            node::route(
                &cfg,
                &req,
                || node.status(),
                parse,
                |ops| async {
                    match node.run_txn(ops, None).await {
                        Ok(out) => Response::json(200, &json!({ "ops": out })),
                        Err(e) => error_response(&e),
                    }
                },
            )
            .await
        })
    })
}

/// Starts a node and serves until killed.
pub fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    node::serve(cfg, start, handler)
}
