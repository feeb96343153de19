//! The `raft`, `raft-lease` and `raft-local` levels, on openraft 0.9.
//!
//! Writes and compare-and-sets go through the leader's log. Reads:
//! - `raft`: the leader confirms leadership with a quorum round (ReadIndex,
//!   `Raft::ensure_linearizable`) and reads once it has applied that index;
//! - `raft-lease`: the leader reads locally while a lease measured with the
//!   wall clock is valid (renewed by quorum rounds); a moved clock breaks it;
//! - `raft-local`: every node reads its own applied state.
//!
//! The log (entries, vote, committed index) is a JSON-lines write-ahead log
//! in the data dir; the state machine is rebuilt from it on restart (logs are
//! never purged: snapshots are off).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use openraft::error::{
    CheckIsLeaderError, ClientWriteError, InstallSnapshotError, NetworkError, RPCError, RaftError,
    RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, LogState, OptionalSend, Raft, RaftLogReader,
    RaftNetwork, RaftNetworkFactory, RaftSnapshotBuilder, ServerState, Snapshot, SnapshotMeta,
    SnapshotPolicy, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::config::{Config, Level};
use super::{forward, ApiError, ClientOp, KvNode, OpResult};
use crate::runtime::clock;
use crate::runtime::http::{BoxFuture, HttpClient, Request, Response};
use crate::runtime::wal::{Fsync, Wal};

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

openraft::declare_raft_types!(
    /// openraft types of the kv store.
    pub TypeConfig: D = Cmd, R = CmdResult
);

type NodeId = u64;
type KvEntry = Entry<TypeConfig>;

fn io_err(e: std::io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

// ---------------------------------------------------------------- log store

#[derive(Serialize, Deserialize)]
enum LogRec {
    Append { e: Vec<KvEntry> },
    Truncate { from: u64 },
    Purge { upto: LogId<NodeId> },
    Vote { v: Vote<NodeId> },
    Committed { c: Option<LogId<NodeId>> },
}

struct LogData {
    log: BTreeMap<u64, KvEntry>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
    wal: Wal,
}

/// Raft log storage in a write-ahead log file.
#[derive(Clone)]
pub struct LogStore {
    d: Arc<Mutex<LogData>>,
}

impl LogStore {
    pub fn open(path: &Path, fsync: Fsync) -> std::io::Result<LogStore> {
        let (wal, recs) = Wal::open::<LogRec>(path, fsync)?;
        let mut d = LogData {
            log: BTreeMap::new(),
            vote: None,
            committed: None,
            purged: None,
            wal,
        };
        for r in recs {
            match r {
                LogRec::Append { e } => {
                    for ent in e {
                        d.log.insert(ent.log_id.index, ent);
                    }
                }
                LogRec::Truncate { from } => {
                    d.log.split_off(&from);
                }
                LogRec::Purge { upto } => {
                    d.log = d.log.split_off(&(upto.index + 1));
                    d.purged = Some(upto);
                }
                LogRec::Vote { v } => d.vote = Some(v),
                LogRec::Committed { c } => d.committed = c,
            }
        }
        tracing::info!(
            "raft log {}: {} entries, vote {:?}, committed {:?}",
            path.display(),
            d.log.len(),
            d.vote,
            d.committed
        );
        Ok(LogStore {
            d: Arc::new(Mutex::new(d)),
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<KvEntry>, StorageError<NodeId>> {
        let d = self.d.lock().unwrap();
        Ok(d.log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let d = self.d.lock().unwrap();
        let last = d.log.last_key_value().map(|(_, e)| e.log_id).or(d.purged);
        Ok(LogState {
            last_purged_log_id: d.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut d = self.d.lock().unwrap();
        d.wal.append([&LogRec::Vote { v: *vote }]).map_err(io_err)?;
        d.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.d.lock().unwrap().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let mut d = self.d.lock().unwrap();
        // No fsync needed: a lost committed index is only recomputed later.
        d.wal
            .append_lazy(&LogRec::Committed { c: committed })
            .map_err(io_err)?;
        d.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.d.lock().unwrap().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = KvEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<KvEntry> = entries.into_iter().collect();
        let res = {
            let mut d = self.d.lock().unwrap();
            let rec = LogRec::Append { e: entries };
            let res = d.wal.append([&rec]);
            if res.is_ok() {
                let LogRec::Append { e } = rec else {
                    unreachable!()
                };
                for ent in e {
                    d.log.insert(ent.log_id.index, ent);
                }
            }
            res
        };
        let ret = res
            .as_ref()
            .map(|_| ())
            .map_err(|e| io_err(std::io::Error::new(e.kind(), e.to_string())));
        callback.log_io_completed(res);
        ret
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut d = self.d.lock().unwrap();
        d.wal
            .append([&LogRec::Truncate { from: log_id.index }])
            .map_err(io_err)?;
        d.log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut d = self.d.lock().unwrap();
        d.wal
            .append([&LogRec::Purge { upto: log_id }])
            .map_err(io_err)?;
        d.log = d.log.split_off(&(log_id.index + 1));
        d.purged = Some(log_id);
        Ok(())
    }
}

// ------------------------------------------------------------ state machine

#[derive(Default)]
struct SmData {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    data: BTreeMap<String, Value>,
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
    snapshots_built: u64,
}

/// The key-value state machine (in memory, rebuilt from the log).
#[derive(Clone, Default)]
pub struct StateMachine {
    d: Arc<RwLock<SmData>>,
}

impl StateMachine {
    pub fn read(&self, key: &str) -> Value {
        self.d
            .read()
            .unwrap()
            .data
            .get(key)
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn applied_index(&self) -> u64 {
        self.d
            .read()
            .unwrap()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0)
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

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let mut d = self.d.write().unwrap();
        let bytes = serde_json::to_vec(&d.data).map_err(|e| {
            StorageError::from(StorageIOError::read_state_machine(AnyError::new(&e)))
        })?;
        d.snapshots_built += 1;
        let meta = SnapshotMeta {
            last_log_id: d.last_applied,
            last_membership: d.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                d.last_applied.map(|l| l.index).unwrap_or(0),
                d.snapshots_built
            ),
        };
        d.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let d = self.d.read().unwrap();
        Ok((d.last_applied, d.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CmdResult>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = KvEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut d = self.d.write().unwrap();
        let mut out = Vec::new();
        for ent in entries {
            d.last_applied = Some(ent.log_id);
            match ent.payload {
                EntryPayload::Blank => out.push(CmdResult {
                    ok: true,
                    current: Value::Null,
                }),
                EntryPayload::Normal(cmd) => out.push(apply_cmd(&mut d.data, &cmd)),
                EntryPayload::Membership(m) => {
                    d.membership = StoredMembership::new(Some(ent.log_id), m);
                    out.push(CmdResult {
                        ok: true,
                        current: Value::Null,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let data: BTreeMap<String, Value> = serde_json::from_slice(&bytes).map_err(|e| {
            StorageError::from(StorageIOError::write_state_machine(AnyError::new(&e)))
        })?;
        let mut d = self.d.write().unwrap();
        d.data = data;
        d.last_applied = meta.last_log_id;
        d.membership = meta.last_membership.clone();
        d.snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let d = self.d.read().unwrap();
        Ok(d.snapshot.as_ref().map(|(meta, bytes)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(bytes.clone())),
        }))
    }
}

// ------------------------------------------------------------------ network

/// Dials peers at the addresses this node was given (maybe proxies).
pub struct NetFactory {
    addrs: BTreeMap<NodeId, String>,
    client: Arc<HttpClient>,
    backoff: Duration,
}

pub struct Net {
    target: NodeId,
    addr: String,
    client: Arc<HttpClient>,
    backoff: Duration,
}

impl RaftNetworkFactory<TypeConfig> for NetFactory {
    type Network = Net;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Net {
        Net {
            target,
            addr: self.addrs.get(&target).cloned().unwrap_or_default(),
            client: self.client.clone(),
            backoff: self.backoff,
        }
    }
}

impl Net {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        match self
            .client
            .request_idempotent(&self.addr, "POST", path, &body, ttl)
            .await
        {
            Err(e) if e.not_sent() => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
            Ok((200, b)) => {
                let r: Result<Resp, RaftError<NodeId, E>> = serde_json::from_slice(&b)
                    .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok((s, b)) => {
                let msg = format!("status {s}: {}", String::from_utf8_lossy(&b));
                Err(RPCError::Network(NetworkError::new(
                    &std::io::Error::other(msg),
                )))
            }
        }
    }
}

impl RaftNetwork<TypeConfig> for Net {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("/internal/raft/append", &rpc, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("/internal/raft/snapshot", &rpc, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("/internal/raft/vote", &rpc, option.hard_ttl())
            .await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.backoff))
    }
}

// --------------------------------------------------------------------- node

/// A raft-family node.
pub struct RaftNode {
    cfg: Arc<Config>,
    raft: Raft<TypeConfig>,
    sm: StateMachine,
    client: Arc<HttpClient>,
    names: BTreeMap<NodeId, String>,
    /// raft-lease: wall-clock millisecond until which reads are local.
    lease_until_ms: AtomicU64,
    /// raft-lease: the term the lease was granted in.
    lease_term: AtomicU64,
}

impl RaftNode {
    pub async fn start(cfg: Arc<Config>, client: Arc<HttpClient>) -> anyhow::Result<Arc<RaftNode>> {
        use anyhow::Context;
        let names: BTreeMap<NodeId, String> = cfg
            .all_ids()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (i as NodeId + 1, n))
            .collect();
        let my_id = *names.iter().find(|(_, n)| **n == cfg.id).unwrap().0;
        let et = cfg.election_timeout.as_millis() as u64;
        let rc = openraft::Config {
            cluster_name: "faultline-kv".into(),
            heartbeat_interval: cfg.heartbeat.as_millis() as u64,
            election_timeout_min: et,
            election_timeout_max: et * 2,
            snapshot_policy: SnapshotPolicy::Never,
            max_payload_entries: 1000,
            ..Default::default()
        }
        .validate()
        .context("raft configuration")?;
        let log =
            LogStore::open(&cfg.data_dir.join("raft-log.jsonl"), cfg.fsync).with_context(|| {
                format!("--data-dir: opening raft log in {}", cfg.data_dir.display())
            })?;
        let sm = StateMachine::default();
        let addrs = names
            .iter()
            .filter_map(|(id, n)| cfg.peers.get(n).map(|a| (*id, a.clone())))
            .collect();
        let net = NetFactory {
            addrs,
            client: client.clone(),
            backoff: cfg.heartbeat,
        };
        let raft = Raft::new(my_id, Arc::new(rc), net, log, sm.clone())
            .await
            .context("starting raft")?;
        if !raft.is_initialized().await.context("raft state")? {
            let members: BTreeMap<NodeId, BasicNode> = names
                .iter()
                .map(|(id, n)| (*id, BasicNode::new(n)))
                .collect();
            match raft.initialize(members).await {
                Ok(()) => tracing::info!("initialized raft cluster {:?}", names),
                Err(e) => tracing::info!("raft initialize: {e}"),
            }
        }
        let node = Arc::new(RaftNode {
            cfg: cfg.clone(),
            raft,
            sm,
            client,
            names,
            lease_until_ms: AtomicU64::new(0),
            lease_term: AtomicU64::new(0),
        });
        if cfg.level == Level::RaftLease {
            let n = node.clone();
            tokio::spawn(async move { n.renew_lease_forever().await });
        }
        Ok(node)
    }

    fn name(&self, id: Option<NodeId>) -> Option<String> {
        id.and_then(|i| self.names.get(&i).cloned())
    }

    /// raft-lease: keeps the lease fresh on the leader.
    async fn renew_lease_forever(self: Arc<Self>) {
        let every = self.cfg.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            if self.raft.metrics().borrow().state == ServerState::Leader {
                let _ = self.confirm_leadership().await;
            }
        }
    }

    /// A ReadIndex round; on success the lease (raft-lease) is extended from
    /// the wall-clock time the round started.
    async fn confirm_leadership(&self) -> Result<(), ApiError> {
        let start_ms = clock::wall_millis();
        let term = self.raft.metrics().borrow().current_term;
        match tokio::time::timeout(self.cfg.request_timeout, self.raft.ensure_linearizable()).await
        {
            Err(_) => Err(ApiError::timeout("leadership check timed out").for_read()),
            Ok(Ok(_)) => {
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
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(ApiError::not_leader(self.name(f.leader_id)))
            }
            Ok(Err(e)) => Err(ApiError::unavailable(format!("leadership check: {e}"))),
        }
    }

    fn lease_valid(&self, term: u64) -> bool {
        self.lease_term.load(Ordering::SeqCst) == term
            && clock::wall_millis() < self.lease_until_ms.load(Ordering::SeqCst)
    }

    async fn do_op(&self, op: ClientOp, no_forward: bool) -> OpResult {
        if let (ClientOp::Read { key }, Level::RaftLocal) = (&op, self.cfg.level) {
            return Ok(self.sm.read(key));
        }
        // With no leader known (election under way), wait a little for one.
        let patience = self.cfg.request_timeout;
        let deadline = tokio::time::Instant::now() + patience;
        let (is_leader, leader, term) = loop {
            let (is_leader, leader, term) = {
                let m = self.raft.metrics();
                let m = m.borrow();
                (
                    m.state == ServerState::Leader,
                    m.current_leader,
                    m.current_term,
                )
            };
            if leader.is_some() || tokio::time::Instant::now() >= deadline {
                break (is_leader, leader, term);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        if !is_leader {
            let leader_name = self.name(leader);
            let addr = leader_name.as_ref().and_then(|n| self.cfg.peers.get(n));
            return match addr {
                Some(addr) if !no_forward => {
                    forward(&self.client, addr, &op, self.cfg.forward_timeout()).await
                }
                _ => Err(ApiError::not_leader(leader_name)),
            };
        }
        let (key, cmd) = match op {
            ClientOp::Read { key } => {
                if self.cfg.level == Level::RaftLease && self.lease_valid(term) {
                    return Ok(self.sm.read(&key));
                }
                self.confirm_leadership().await?;
                return Ok(self.sm.read(&key));
            }
            ClientOp::Write { key, value } => (key.clone(), Cmd::Write { key, value }),
            ClientOp::Cas { key, from, to } => (key.clone(), Cmd::Cas { key, from, to }),
        };
        let _ = key;
        match tokio::time::timeout(self.cfg.request_timeout, self.raft.client_write(cmd)).await {
            Err(_) => Err(ApiError::timeout(
                "timed out waiting for the entry to commit",
            )),
            Ok(Ok(resp)) => {
                if resp.data.ok {
                    Ok(resp.data.current)
                } else {
                    Err(ApiError::cas_mismatch(resp.data.current))
                }
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                // Leadership was lost around the proposal: the entry may
                // still commit under the next leader.
                let mut e = ApiError::indefinite("leader-lost", "leadership lost during the write");
                e.leader = self.name(f.leader_id);
                Err(e)
            }
            Ok(Err(e)) => Err(ApiError::indefinite("raft-error", e.to_string())),
        }
    }

    async fn rpc<Req, Resp, Fut>(&self, body: &[u8], f: impl FnOnce(Req) -> Fut) -> Response
    where
        Req: DeserializeOwned,
        Resp: Serialize,
        Fut: std::future::Future<Output = Resp>,
    {
        match serde_json::from_slice::<Req>(body) {
            Ok(req) => {
                let resp = f(req).await;
                Response {
                    status: 200,
                    body: serde_json::to_vec(&resp).unwrap_or_default(),
                }
            }
            Err(e) => Response::json(400, &json!({"error": format!("bad rpc body: {e}")})),
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
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        let mut v = json!({
            "id": self.cfg.id,
            "level": self.cfg.level.name(),
            "role": role,
            "term": m.current_term,
            "leader": self.name(m.current_leader),
            "applied": self.sm.applied_index(),
            "last_log_index": m.last_log_index.unwrap_or(0),
        });
        if self.cfg.level == Level::RaftLease {
            let now = clock::wall_millis();
            let until = self.lease_until_ms.load(Ordering::SeqCst);
            v["lease_ms_left"] = json!(until.saturating_sub(now));
        }
        v
    }

    fn internal(self: Arc<Self>, req: Request) -> BoxFuture<Response> {
        Box::pin(async move {
            let raft = self.raft.clone();
            match req.path.as_str() {
                "/internal/raft/append" => {
                    self.rpc(
                        &req.body,
                        |r: AppendEntriesRequest<TypeConfig>| async move {
                            raft.append_entries(r).await
                        },
                    )
                    .await
                }
                "/internal/raft/vote" => {
                    self.rpc(&req.body, |r: VoteRequest<NodeId>| async move {
                        raft.vote(r).await
                    })
                    .await
                }
                "/internal/raft/snapshot" => {
                    self.rpc(
                        &req.body,
                        |r: InstallSnapshotRequest<TypeConfig>| async move {
                            raft.install_snapshot(r).await
                        },
                    )
                    .await
                }
                p => Response::json(404, &json!({"error": format!("no route {p}")})),
            }
        })
    }
}
