//! The one Raft integration (openraft 0.9) every Raft-replicated system
//! shares: a JSON-lines log store in the data dir, an HTTP network, and a
//! generic state machine driven by a [`Machine`]. Commands and results are
//! JSON; each system defines its own [`Machine`] (kv map, queue, lock table).
//!
//! The log (entries, vote, committed index) is a write-ahead log
//! (`raft-log.jsonl`). Every `--snapshot-logs` applied entries the state
//! machine is snapshotted to `raft-snapshot.json` (temporary file, fsync per
//! the node's policy, rename) and openraft then purges the log prefix the
//! snapshot covers (keeping a tenth of the interval for followers a little
//! behind): in memory, and on disk by rewriting the log file atomically. A
//! restart restores the snapshot and replays the remaining log; a follower
//! that needs purged entries is sent the snapshot (InstallSnapshot), which
//! it makes durable before the log it covers is dropped.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
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

use super::api::{error_response, ApiError};
use super::clock::{self, Stamp};
use super::http::{HttpClient, Request, Response};
use super::wal::{Fsync, Wal};

openraft::declare_raft_types!(
    /// openraft types shared by every Raft-replicated system: commands and
    /// results are JSON, interpreted by a [`Machine`].
    pub TypeConfig: D = Value, R = Value
);

pub type NodeId = u64;
type RaftEntry = Entry<TypeConfig>;

fn io_err(e: std::io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

// ---------------------------------------------------------------- log store

#[derive(Serialize, Deserialize)]
enum LogRec {
    Append { e: Vec<RaftEntry> },
    Truncate { from: u64 },
    Purge { upto: LogId<NodeId> },
    Vote { v: Vote<NodeId> },
    Committed { c: Option<LogId<NodeId>> },
}

/// Entries per `Append` record when the file is rewritten.
const REWRITE_CHUNK: usize = 1000;

struct LogData {
    log: BTreeMap<u64, RaftEntry>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
    wal: Wal,
}

impl LogData {
    /// Drops the entries up to `upto` (a snapshot holds them) in memory
    /// and on disk: the file is rewritten, atomically, with only the vote,
    /// the committed index, the purge mark and the remaining entries.
    fn purge(&mut self, upto: LogId<NodeId>) -> std::io::Result<()> {
        self.log = self.log.split_off(&(upto.index + 1));
        self.purged = Some(upto);
        let mut recs = Vec::with_capacity(3 + self.log.len() / REWRITE_CHUNK + 1);
        if let Some(v) = self.vote {
            recs.push(LogRec::Vote { v });
        }
        recs.push(LogRec::Committed { c: self.committed });
        recs.push(LogRec::Purge { upto });
        let mut rest = self.log.values();
        loop {
            let e: Vec<RaftEntry> = rest.by_ref().take(REWRITE_CHUNK).cloned().collect();
            if e.is_empty() {
                break;
            }
            recs.push(LogRec::Append { e });
        }
        self.wal.rewrite(recs.iter())
    }
}

/// Raft log storage in a write-ahead log file. Purging the prefix a
/// snapshot covers rewrites the file without it (see [`LogData::purge`]).
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
            "raft log {}: {} entries, purged up to {:?}, vote {:?}, committed {:?}",
            path.display(),
            d.log.len(),
            d.purged,
            d.vote,
            d.committed
        );
        Ok(LogStore {
            d: Arc::new(Mutex::new(d)),
        })
    }

    /// Appends entries durably (per the fsync policy), then keeps them.
    fn append_entries(&self, entries: Vec<RaftEntry>) -> std::io::Result<()> {
        let mut d = self.d.lock().unwrap();
        let rec = LogRec::Append { e: entries };
        d.wal.append([&rec])?;
        let LogRec::Append { e } = rec else {
            unreachable!()
        };
        for ent in e {
            d.log.insert(ent.log_id.index, ent);
        }
        Ok(())
    }

    /// (first index held, last index held, entries held, purged up to).
    pub fn bounds(&self) -> (Option<u64>, Option<u64>, usize, Option<u64>) {
        let d = self.d.lock().unwrap();
        (
            d.log.keys().next().copied(),
            d.log.keys().next_back().copied(),
            d.log.len(),
            d.purged.map(|l| l.index),
        )
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<RaftEntry>, StorageError<NodeId>> {
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
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let res = self.append_entries(entries.into_iter().collect());
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
        self.d.lock().unwrap().purge(log_id).map_err(io_err)
    }
}

// ------------------------------------------------------------ state machine

/// A deterministic application state machine replicated by Raft. Commands
/// and results are JSON; `apply` must depend only on its arguments and the
/// state (anything time-dependent travels inside the command).
pub trait Machine: Default + Send + Sync + 'static {
    /// Applies the command committed at log `index` in `term` (the term of
    /// the leader that appended the entry).
    fn apply(&mut self, index: u64, term: u64, cmd: &Value) -> Value;
    /// The whole state, for snapshots.
    fn snapshot(&self) -> Value;
    /// Replaces the state with a snapshot.
    fn restore(&mut self, v: Value) -> Result<(), String>;
}

/// The snapshot file in a node's data dir: two lines, a header
/// (`{"format":1,"meta":SnapshotMeta}`) and the machine's state as
/// [`Machine::snapshot`] gives it. The file's bytes are also what a leader
/// sends a lagging follower (InstallSnapshot).
pub const SNAPSHOT_FILE: &str = "raft-snapshot.json";

#[derive(Serialize, Deserialize)]
struct SnapshotHeader {
    format: u32,
    meta: SnapshotMeta<NodeId, BasicNode>,
}

fn sm_err(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageError::from(StorageIOError::write_state_machine(AnyError::error(
        e.to_string(),
    )))
}

/// Encodes a snapshot: header line, then the state.
fn encode_snapshot(meta: &SnapshotMeta<NodeId, BasicNode>, state: &[u8]) -> Vec<u8> {
    let header = SnapshotHeader {
        format: 1,
        meta: meta.clone(),
    };
    let mut out = serde_json::to_vec(&header).expect("a snapshot header serializes");
    out.push(b'\n');
    out.extend_from_slice(state);
    out
}

/// Splits snapshot bytes into the header's meta and the state's bytes.
fn decode_snapshot(bytes: &[u8]) -> Result<(SnapshotMeta<NodeId, BasicNode>, &[u8]), String> {
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("snapshot: no header line")?;
    let h: SnapshotHeader =
        serde_json::from_slice(&bytes[..nl]).map_err(|e| format!("snapshot header: {e}"))?;
    if h.format != 1 {
        return Err(format!("snapshot: unknown format {}", h.format));
    }
    Ok((h.meta, &bytes[nl + 1..]))
}

/// Writes `bytes` to `dir/name` crash-safely: a temporary file, fsync (when
/// the policy says so), rename over the old file, fsync of the directory.
/// A reader sees the old file or the new one, never a mix.
fn write_file_atomic(dir: &Path, name: &str, bytes: &[u8], fsync: Fsync) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    if fsync == Fsync::Always {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, &path)?;
    if fsync == Fsync::Always {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

struct SmData<M> {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    m: M,
    snapshots_built: u64,
}

/// Where snapshots live, and the meta of the one on disk. Held while a
/// snapshot file is written, so two never race.
struct SnapFiles {
    /// `None`: snapshots are kept in memory only (tests).
    dir: Option<PathBuf>,
    fsync: Fsync,
    meta: Option<SnapshotMeta<NodeId, BasicNode>>,
    /// Snapshot bytes when there is no dir.
    mem: Option<Vec<u8>>,
}

impl SnapFiles {
    /// Makes `bytes` (whose meta is `meta`) the current snapshot, unless a
    /// newer one is already current (a snapshot never goes backwards: the
    /// log may already be purged up to the newer one).
    fn store(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        bytes: &[u8],
    ) -> std::io::Result<bool> {
        if let Some(cur) = &self.meta {
            if cur.last_log_id > meta.last_log_id {
                return Ok(false);
            }
        }
        match &self.dir {
            Some(dir) => write_file_atomic(dir, SNAPSHOT_FILE, bytes, self.fsync)?,
            None => self.mem = Some(bytes.to_vec()),
        }
        self.meta = Some(meta.clone());
        Ok(true)
    }

    fn load(&self) -> std::io::Result<Option<Vec<u8>>> {
        if self.meta.is_none() {
            return Ok(None);
        }
        match &self.dir {
            Some(dir) => std::fs::read(dir.join(SNAPSHOT_FILE)).map(Some),
            None => Ok(self.mem.clone()),
        }
    }
}

/// The application state machine: in memory, restored on start from the
/// snapshot file (if any), then brought up to date by replaying the log.
pub struct StateMachine<M> {
    d: Arc<RwLock<SmData<M>>>,
    snap: Arc<Mutex<SnapFiles>>,
}

impl<M> Clone for StateMachine<M> {
    fn clone(&self) -> Self {
        StateMachine {
            d: self.d.clone(),
            snap: self.snap.clone(),
        }
    }
}

impl<M: Machine> Default for StateMachine<M> {
    /// A fresh machine keeping snapshots in memory only.
    fn default() -> Self {
        StateMachine {
            d: Arc::new(RwLock::new(SmData {
                last_applied: None,
                membership: StoredMembership::default(),
                m: M::default(),
                snapshots_built: 0,
            })),
            snap: Arc::new(Mutex::new(SnapFiles {
                dir: None,
                fsync: Fsync::Never,
                meta: None,
                mem: None,
            })),
        }
    }
}

impl<M: Machine> StateMachine<M> {
    /// A machine whose snapshots live in `dir`, restored from the snapshot
    /// there when there is one.
    pub fn open(dir: &Path, fsync: Fsync) -> std::io::Result<StateMachine<M>> {
        let sm = StateMachine::<M>::default();
        {
            let mut f = sm.snap.lock().unwrap();
            f.dir = Some(dir.to_path_buf());
            f.fsync = fsync;
        }
        let path = dir.join(SNAPSHOT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bad = |e: String| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                };
                let (meta, state) = decode_snapshot(&bytes).map_err(bad)?;
                let v: Value = serde_json::from_slice(state).map_err(|e| bad(e.to_string()))?;
                {
                    let mut d = sm.d.write().unwrap();
                    d.m.restore(v).map_err(bad)?;
                    d.last_applied = meta.last_log_id;
                    d.membership = meta.last_membership.clone();
                }
                tracing::info!(
                    "restored snapshot {} up to {:?}",
                    meta.snapshot_id,
                    meta.last_log_id
                );
                sm.snap.lock().unwrap().meta = Some(meta);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(sm)
    }

    /// Reads the applied state.
    pub fn read<T>(&self, f: impl FnOnce(&M) -> T) -> T {
        f(&self.d.read().unwrap().m)
    }

    pub fn applied_index(&self) -> u64 {
        self.d
            .read()
            .unwrap()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0)
    }

    /// The last index the current snapshot covers (0: none).
    pub fn snapshot_index(&self) -> u64 {
        self.snap
            .lock()
            .unwrap()
            .meta
            .as_ref()
            .and_then(|m| m.last_log_id)
            .map(|l| l.index)
            .unwrap_or(0)
    }
}

impl<M: Machine> RaftSnapshotBuilder<TypeConfig> for StateMachine<M> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // Copy the state under the lock, serialize and write without it.
        let (state, meta) = {
            let mut d = self.d.write().unwrap();
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
            (d.m.snapshot(), meta)
        };
        let state = serde_json::to_vec(&state).map_err(|e| {
            StorageError::from(StorageIOError::read_state_machine(AnyError::new(&e)))
        })?;
        let bytes = encode_snapshot(&meta, &state);
        drop(state);
        let stored = self
            .snap
            .lock()
            .unwrap()
            .store(&meta, &bytes)
            .map_err(|e| {
                StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
            })?;
        tracing::info!(
            "built snapshot {} up to {:?} ({} bytes){}",
            meta.snapshot_id,
            meta.last_log_id,
            bytes.len(),
            if stored {
                ""
            } else {
                "; a newer one is current"
            }
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl<M: Machine> RaftStateMachine<TypeConfig> for StateMachine<M> {
    type SnapshotBuilder = StateMachine<M>;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let d = self.d.read().unwrap();
        Ok((d.last_applied, d.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Value>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut d = self.d.write().unwrap();
        let mut out = Vec::new();
        for ent in entries {
            d.last_applied = Some(ent.log_id);
            match ent.payload {
                EntryPayload::Blank => out.push(Value::Null),
                EntryPayload::Normal(cmd) => {
                    let r = d.m.apply(ent.log_id.index, ent.log_id.leader_id.term, &cmd);
                    out.push(r)
                }
                EntryPayload::Membership(m) => {
                    d.membership = StoredMembership::new(Some(ent.log_id), m);
                    out.push(Value::Null);
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

    /// A snapshot from the leader (this node lagged behind its compacted
    /// log): checked, made durable, then it replaces the state. openraft
    /// purges the log it covers afterwards.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let (_, state) = decode_snapshot(&bytes).map_err(sm_err)?;
        let v: Value = serde_json::from_slice(state).map_err(sm_err)?;
        let mut m = M::default();
        m.restore(v).map_err(sm_err)?;
        // The header is re-encoded with the meta openraft gives.
        let local = encode_snapshot(meta, state);
        drop(bytes);
        let mut files = self.snap.lock().unwrap();
        files.store(meta, &local).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
        })?;
        let mut d = self.d.write().unwrap();
        d.m = m;
        d.last_applied = meta.last_log_id;
        d.membership = meta.last_membership.clone();
        tracing::info!(
            "installed snapshot {} up to {:?} from the leader",
            meta.snapshot_id,
            meta.last_log_id
        );
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let files = self.snap.lock().unwrap();
        let Some(bytes) = files
            .load()
            .map_err(|e| StorageError::from(StorageIOError::read_snapshot(None, &e)))?
        else {
            return Ok(None);
        };
        let (meta, _) = decode_snapshot(&bytes).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(None, AnyError::error(e)))
        })?;
        drop(files);
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

// ------------------------------------------------------------------ network

/// Dials peers at the addresses this node was given (maybe proxies).
pub struct NetFactory {
    addrs: BTreeMap<NodeId, String>,
    client: Arc<HttpClient>,
    backoff: Duration,
    /// Path prefix of the peers' Raft routes ([`RaftParams::route_prefix`]).
    prefix: String,
}

pub struct Net {
    target: NodeId,
    addr: String,
    client: Arc<HttpClient>,
    backoff: Duration,
    prefix: String,
}

impl RaftNetworkFactory<TypeConfig> for NetFactory {
    type Network = Net;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Net {
        Net {
            target,
            addr: self.addrs.get(&target).cloned().unwrap_or_default(),
            client: self.client.clone(),
            backoff: self.backoff,
            prefix: self.prefix.clone(),
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
        self.call(&format!("{}/append", self.prefix), &rpc, option.hard_ttl())
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
        self.call(
            &format!("{}/snapshot", self.prefix),
            &rpc,
            option.hard_ttl(),
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(&format!("{}/vote", self.prefix), &rpc, option.hard_ttl())
            .await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.backoff))
    }
}

// --------------------------------------------------------------------- core

/// What a Raft node needs to know, whatever system it serves.
#[derive(Debug, Clone)]
pub struct RaftParams {
    /// openraft cluster name (e.g. `faultline-kv`).
    pub cluster_name: String,
    pub id: String,
    /// Peer id → address this node dials.
    pub peers: BTreeMap<String, String>,
    pub data_dir: PathBuf,
    pub fsync: Fsync,
    pub heartbeat: Duration,
    pub election_timeout: Duration,
    /// How long a write waits to commit before answering `504 timeout`.
    pub request_timeout: Duration,
    /// Snapshot and compact the log every this many entries (0: never).
    pub snapshot_logs: u64,
    /// Path prefix of the peer routes (`{prefix}/append`, `/vote`,
    /// `/snapshot`): [`DEFAULT_ROUTE_PREFIX`] unless one process hosts
    /// several Raft groups (txn's shards), each on its own prefix.
    pub route_prefix: String,
}

/// The peer route prefix of a node's only Raft group.
pub const DEFAULT_ROUTE_PREFIX: &str = "/internal/raft";

impl RaftParams {
    /// Every node id, sorted (Raft node numbers are positions + 1).
    pub fn all_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.peers.keys().cloned().collect();
        v.push(self.id.clone());
        v.sort();
        v
    }
}

/// A machine's answer to a client command, as the entry's result: the HTTP
/// status and body to send back (see [`RaftCore::write_answered`]).
pub fn answer(r: Result<Value, ApiError>) -> Value {
    match r {
        Ok(body) => json!({"status": 200, "body": body}),
        Err(e) => json!({"status": e.status, "body": e.to_json()}),
    }
}

/// A running Raft member with its state machine.
pub struct RaftCore<M: Machine> {
    pub p: RaftParams,
    pub raft: Raft<TypeConfig>,
    pub sm: StateMachine<M>,
    pub client: Arc<HttpClient>,
    names: BTreeMap<NodeId, String>,
    /// The term clock: `(term, when this process first saw itself leader of
    /// it)`.
    term_clock: std::sync::Mutex<Option<(u64, std::time::Instant)>>,
}

/// Who leads, as this node sees it.
#[derive(Debug, Clone)]
pub struct LeaderView {
    pub is_leader: bool,
    pub leader: Option<String>,
    pub term: u64,
}

impl<M: Machine> RaftCore<M> {
    /// Opens the log in the data dir, starts Raft and, on a first start,
    /// initializes the cluster with every node as a voter.
    pub async fn start(p: RaftParams, client: Arc<HttpClient>) -> anyhow::Result<RaftCore<M>> {
        use anyhow::Context;
        let names: BTreeMap<NodeId, String> = p
            .all_ids()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (i as NodeId + 1, n))
            .collect();
        let my_id = *names.iter().find(|(_, n)| **n == p.id).unwrap().0;
        let et = p.election_timeout.as_millis() as u64;
        let rc = openraft::Config {
            cluster_name: p.cluster_name.clone(),
            heartbeat_interval: p.heartbeat.as_millis() as u64,
            election_timeout_min: et,
            election_timeout_max: et * 2,
            snapshot_policy: if p.snapshot_logs == 0 {
                SnapshotPolicy::Never
            } else {
                SnapshotPolicy::LogsSinceLast(p.snapshot_logs)
            },
            // Keep a little of the snapshotted log, so a follower slightly
            // behind gets entries rather than the whole snapshot.
            max_in_snapshot_log_to_keep: p.snapshot_logs / 10,
            // Sending a snapshot chunk (JSON over HTTP) takes longer than
            // openraft's default 200 ms on a loaded machine.
            install_snapshot_timeout: (p.election_timeout * 2)
                .max(Duration::from_secs(2))
                .as_millis() as u64,
            snapshot_max_chunk_size: 1 << 20,
            max_payload_entries: 1000,
            ..Default::default()
        }
        .validate()
        .context("raft configuration")?;
        let log = LogStore::open(&p.data_dir.join("raft-log.jsonl"), p.fsync)
            .with_context(|| format!("--data-dir: opening raft log in {}", p.data_dir.display()))?;
        let sm = StateMachine::<M>::open(&p.data_dir, p.fsync).with_context(|| {
            format!(
                "--data-dir: opening the raft snapshot in {}",
                p.data_dir.display()
            )
        })?;
        let addrs = names
            .iter()
            .filter_map(|(id, n)| p.peers.get(n).map(|a| (*id, a.clone())))
            .collect();
        let net = NetFactory {
            addrs,
            client: client.clone(),
            backoff: p.heartbeat,
            prefix: p.route_prefix.clone(),
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
        Ok(RaftCore {
            p,
            raft,
            sm,
            client,
            names,
            term_clock: std::sync::Mutex::new(None),
        })
    }

    pub fn name(&self, id: Option<NodeId>) -> Option<String> {
        id.and_then(|i| self.names.get(&i).cloned())
    }

    /// The current leadership view, without waiting.
    pub fn view(&self) -> LeaderView {
        let m = self.raft.metrics();
        let m = m.borrow();
        LeaderView {
            is_leader: m.state == ServerState::Leader,
            leader: self.name(m.current_leader),
            term: m.current_term,
        }
    }

    /// Now on this leader's term clock (see [`Stamp`]): monotonic
    /// milliseconds since this process first saw itself leader of
    /// `view.term`. Starting the clock late only makes leases longer.
    /// `None` when `view` is not a leader's.
    pub fn leader_stamp(&self, view: &LeaderView) -> Option<Stamp> {
        if !view.is_leader {
            return None;
        }
        let mut tc = self.term_clock.lock().unwrap();
        let start = match *tc {
            Some((term, start)) if term == view.term => start,
            _ => {
                let start = std::time::Instant::now();
                *tc = Some((view.term, start));
                start
            }
        };
        Some(Stamp {
            term: view.term,
            clock: clock::process_nonce(),
            ms: start.elapsed().as_millis() as u64,
        })
    }

    /// The leadership view; with no leader known (an election under way)
    /// waits up to the request timeout for one.
    pub async fn wait_view(&self) -> LeaderView {
        let deadline = tokio::time::Instant::now() + self.p.request_timeout;
        loop {
            let v = self.view();
            if v.leader.is_some() || tokio::time::Instant::now() >= deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The address of the leader, when it is a peer this node knows.
    pub fn peer_addr(&self, name: &str) -> Option<&String> {
        self.p.peers.get(name)
    }

    /// A ReadIndex round: confirms leadership with a quorum and waits until
    /// the state machine has applied that index. Errors are definite.
    pub async fn confirm_leadership(&self) -> Result<(), ApiError> {
        match tokio::time::timeout(self.p.request_timeout, self.raft.ensure_linearizable()).await {
            Err(_) => Err(ApiError::timeout("leadership check timed out").for_read()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(ApiError::not_leader(self.name(f.leader_id)))
            }
            Ok(Err(e)) => Err(ApiError::unavailable(format!("leadership check: {e}"))),
        }
    }

    /// Proposes a command and waits for its result (errors after the
    /// proposal are indefinite). Returns the log index and the result.
    pub async fn write(&self, cmd: Value) -> Result<(u64, Value), ApiError> {
        match tokio::time::timeout(self.p.request_timeout, self.raft.client_write(cmd)).await {
            Err(_) => Err(ApiError::timeout(
                "timed out waiting for the entry to commit",
            )),
            Ok(Ok(resp)) => Ok((resp.log_id.index, resp.data)),
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

    /// Proposes a client command whose machine answers with [`answer`],
    /// and sends that answer back (or the write's error).
    pub async fn write_answered(&self, cmd: &impl Serialize) -> Response {
        let v = match serde_json::to_value(cmd) {
            Ok(v) => v,
            Err(e) => return error_response(&ApiError::invalid(e.to_string())),
        };
        match self.write(v).await {
            Ok((_, r)) => Response::json(r["status"].as_u64().unwrap_or(500) as u16, &r["body"]),
            Err(e) => error_response(&e),
        }
    }

    /// The Raft part of `GET /status`.
    pub fn status(&self, level: &str) -> Value {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        json!({
            "id": self.p.id,
            "level": level,
            "role": role,
            "term": m.current_term,
            "leader": self.name(m.current_leader),
            "applied": self.sm.applied_index(),
            "last_log_index": m.last_log_index.unwrap_or(0),
            "snapshot_index": self.sm.snapshot_index(),
            "purged_index": m.purged.map(|l| l.index).unwrap_or(0),
        })
    }

    /// Serves Raft peer traffic (`{route_prefix}/...`, by default
    /// `/internal/raft/...`).
    pub async fn internal(&self, req: Request) -> Response {
        let raft = self.raft.clone();
        let sub = req
            .path
            .strip_prefix(self.p.route_prefix.as_str())
            .unwrap_or("");
        match sub {
            "/append" => rpc(
                &req.body,
                |r: AppendEntriesRequest<TypeConfig>| async move { raft.append_entries(r).await },
            )
            .await,
            "/vote" => {
                rpc(&req.body, |r: VoteRequest<NodeId>| async move {
                    raft.vote(r).await
                })
                .await
            }
            "/snapshot" => {
                rpc(
                    &req.body,
                    |r: InstallSnapshotRequest<TypeConfig>| async move {
                        raft.install_snapshot(r).await
                    },
                )
                .await
            }
            _ => Response::json(404, &json!({"error": format!("no route {}", req.path)})),
        }
    }
}

async fn rpc<Req, Resp, Fut>(body: &[u8], f: impl FnOnce(Req) -> Fut) -> Response
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

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    /// A small machine whose state depends on every command and its order.
    #[derive(Default, Debug, PartialEq)]
    struct Sum {
        kv: BTreeMap<String, i64>,
        trace: u64,
    }

    impl Machine for Sum {
        fn apply(&mut self, index: u64, _term: u64, cmd: &Value) -> Value {
            let k = cmd["k"].as_str().unwrap_or("").to_string();
            let v = cmd["v"].as_i64().unwrap_or(0);
            *self.kv.entry(k).or_default() += v;
            self.trace = self.trace.wrapping_mul(31).wrapping_add(index ^ v as u64);
            json!(self.trace)
        }
        fn snapshot(&self) -> Value {
            json!({"kv": self.kv, "trace": self.trace})
        }
        fn restore(&mut self, v: Value) -> Result<(), String> {
            self.kv = serde_json::from_value(v["kv"].clone()).map_err(|e| e.to_string())?;
            self.trace = v["trace"].as_u64().ok_or("no trace")?;
            Ok(())
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("faultline-raft-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entry(index: u64) -> RaftEntry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1 + index / 40, 1), index),
            payload: EntryPayload::Normal(
                json!({"k": format!("k{}", index % 7), "v": index * 3 + 1}),
            ),
        }
    }

    fn entries(r: std::ops::RangeInclusive<u64>) -> Vec<RaftEntry> {
        r.map(entry).collect()
    }

    /// Applies `1..=n` to a fresh in-memory machine: the reference state.
    async fn reference(n: u64) -> Sum {
        let mut sm = StateMachine::<Sum>::default();
        sm.apply(entries(1..=n)).await.unwrap();
        let d = sm.d.read().unwrap();
        Sum {
            kv: d.m.kv.clone(),
            trace: d.m.trace,
        }
    }

    fn state(sm: &StateMachine<Sum>) -> (Option<u64>, BTreeMap<String, i64>, u64) {
        let d = sm.d.read().unwrap();
        (d.last_applied.map(|l| l.index), d.m.kv.clone(), d.m.trace)
    }

    /// Log lines in a WAL file that carry entries, and how many entries.
    fn entries_on_disk(path: &Path) -> usize {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("Append").map(|a| a["e"].as_array().unwrap().len()))
            .sum()
    }

    #[tokio::test]
    async fn compacted_log_plus_snapshot_restores_the_same_state() {
        let dir = tmpdir("compact");
        let log_path = dir.join("raft-log.jsonl");
        {
            let log = LogStore::open(&log_path, Fsync::Always).unwrap();
            let mut sm = StateMachine::<Sum>::open(&dir, Fsync::Always).unwrap();
            log.append_entries(entries(1..=60)).unwrap();
            sm.apply(entries(1..=60)).await.unwrap();
            let snap = sm.build_snapshot().await.unwrap();
            assert_eq!(snap.meta.last_log_id.unwrap().index, 60);
            // What openraft does after a snapshot: purge the prefix.
            let mut log2 = log.clone();
            log2.purge(LogId::new(CommittedLeaderId::new(2, 1), 60))
                .await
                .unwrap();
            log.append_entries(entries(61..=100)).unwrap();
            sm.apply(entries(61..=100)).await.unwrap();
            assert_eq!(log.bounds(), (Some(61), Some(100), 40, Some(60)));
        }
        // The prefix is gone from the file too, not only from memory.
        assert_eq!(entries_on_disk(&log_path), 40);
        assert!(dir.join(SNAPSHOT_FILE).exists());
        assert!(!dir.join(format!("{SNAPSHOT_FILE}.tmp")).exists());

        // Restart: snapshot, then the remaining log replayed.
        let mut log = LogStore::open(&log_path, Fsync::Always).unwrap();
        let mut sm = StateMachine::<Sum>::open(&dir, Fsync::Always).unwrap();
        assert_eq!(state(&sm).0, Some(60));
        assert_eq!(sm.snapshot_index(), 60);
        let st = log.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id.map(|l| l.index), Some(60));
        assert_eq!(st.last_log_id.map(|l| l.index), Some(100));
        let rest = log.try_get_log_entries(61..101).await.unwrap();
        assert_eq!(rest.len(), 40);
        assert!(log.try_get_log_entries(1..61).await.unwrap().is_empty());
        sm.apply(rest).await.unwrap();
        let want = reference(100).await;
        assert_eq!(state(&sm), (Some(100), want.kv, want.trace));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_installed_snapshot_is_durable_and_equal_to_the_leaders_state() {
        let dir_a = tmpdir("leader");
        let dir_b = tmpdir("follower");
        let mut leader = StateMachine::<Sum>::open(&dir_a, Fsync::Never).unwrap();
        leader.apply(entries(1..=80)).await.unwrap();
        leader.build_snapshot().await.unwrap();
        let snap = leader.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(snap.meta.last_log_id.unwrap().index, 80);

        // A follower with an older state of its own receives it.
        let mut follower = StateMachine::<Sum>::open(&dir_b, Fsync::Never).unwrap();
        follower.apply(entries(1..=5)).await.unwrap();
        let mut rx = follower.begin_receiving_snapshot().await.unwrap();
        rx.get_mut().extend_from_slice(snap.snapshot.get_ref());
        follower.install_snapshot(&snap.meta, rx).await.unwrap();
        let want = reference(80).await;
        assert_eq!(state(&follower), (Some(80), want.kv.clone(), want.trace));

        // It survives a restart of the follower.
        let again = StateMachine::<Sum>::open(&dir_b, Fsync::Never).unwrap();
        assert_eq!(state(&again), (Some(80), want.kv, want.trace));
        assert_eq!(again.snapshot_index(), 80);

        // Garbage is refused and leaves the state alone.
        let mut rx = follower.begin_receiving_snapshot().await.unwrap();
        rx.get_mut().extend_from_slice(b"{\"format\":1}\nnot json");
        assert!(follower.install_snapshot(&snap.meta, rx).await.is_err());
        assert_eq!(state(&follower).0, Some(80));
        let _ = std::fs::remove_dir_all(&dir_a);
        let _ = std::fs::remove_dir_all(&dir_b);
    }

    #[tokio::test]
    async fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tmpdir("older");
        let mut sm = StateMachine::<Sum>::open(&dir, Fsync::Never).unwrap();
        sm.apply(entries(1..=10)).await.unwrap();
        let old = sm.build_snapshot().await.unwrap();
        sm.apply(entries(11..=20)).await.unwrap();
        sm.build_snapshot().await.unwrap();
        let mut f = sm.snap.lock().unwrap();
        let bytes = encode_snapshot(&old.meta, b"{}");
        assert!(!f.store(&old.meta, &bytes).unwrap());
        drop(f);
        let again = StateMachine::<Sum>::open(&dir, Fsync::Never).unwrap();
        assert_eq!(again.snapshot_index(), 20);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
