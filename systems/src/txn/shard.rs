//! One shard of `faultline-txn`: a deterministic multi-version store
//! replicated by its own Raft group (see [`crate::runtime::raft`]).
//!
//! Per key: the committed versions `(commit_ts, value)` in ascending
//! order, and the locks of transactions being committed (one write lock,
//! or any number of read locks). Per transaction whose *primary* is this
//! shard: its outcome, `committed(ts)` or `aborted`, written once and never
//! changed (the commit point of a transaction is the `Commit` on its
//! primary, which is refused once a lock resolver recorded `aborted`).
//! Shard 0 also holds the timestamp oracle, a counter advanced by one Raft
//! entry per timestamp (strictly increasing across leader changes).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::runtime::api::ApiError;
use crate::runtime::raft::{answer, Machine};

pub type Key = u64;

/// Committed versions kept per key; a snapshot read older than every kept
/// version of a key that dropped some answers `snapshot-too-old`.
pub const KEEP_VERSIONS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteKind {
    Append,
    W,
}

/// One buffered write of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WOp {
    pub f: WriteKind,
    pub v: u64,
}

/// Applies a write to a value: `append` adds to the list (absent or a
/// non-list value counts as the empty list), `w` replaces the value.
pub fn apply_op(v: &mut Value, op: &WOp) {
    match op.f {
        WriteKind::W => *v = json!(op.v),
        WriteKind::Append => match v {
            Value::Array(a) => a.push(json!(op.v)),
            _ => *v = json!([op.v]),
        },
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub ts: u64,
    pub value: Value,
}

/// A transaction's lock on a key, placed by its prepare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub txn: String,
    /// Write lock (with the writes to apply at commit) or read lock.
    pub write: bool,
    /// The shard holding the transaction's outcome.
    pub primary: u32,
    pub start_ts: u64,
    /// The coordinator's wall clock (ms) at prepare: a lock older than the
    /// TTL by a reader's clock may be resolved (see the module docs).
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<WOp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// Ascending by `ts`.
    pub versions: Vec<Version>,
    /// Older versions were discarded.
    #[serde(default)]
    pub dropped: bool,
    #[serde(default)]
    pub locks: Vec<Lock>,
}

impl KeyState {
    fn latest_ts(&self) -> u64 {
        self.versions.last().map(|v| v.ts).unwrap_or(0)
    }

    fn latest(&self) -> Value {
        self.versions
            .last()
            .map(|v| v.value.clone())
            .unwrap_or(Value::Null)
    }

    fn push_version(&mut self, ts: u64, value: Value) {
        let at = self.versions.partition_point(|v| v.ts <= ts);
        self.versions.insert(at, Version { ts, value });
        if self.versions.len() > KEEP_VERSIONS {
            let extra = self.versions.len() - KEEP_VERSIONS;
            self.versions.drain(..extra);
            self.dropped = true;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Committed(u64),
    Aborted,
}

/// The state of one shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// The timestamp oracle (used on shard 0 only).
    #[serde(default)]
    pub oracle: u64,
    pub keys: BTreeMap<Key, KeyState>,
    /// Outcomes of transactions whose primary is this shard.
    pub outcomes: BTreeMap<String, Outcome>,
    /// Transaction → keys it holds locks on here.
    pub locked: BTreeMap<String, BTreeSet<Key>>,
}

/// A command to one shard. `Read` is served after a ReadIndex round on the
/// leader; every other command is a Raft entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum ShardCmd {
    /// Next timestamp from the oracle: `{"ts": N}`.
    Ts,
    /// The value of `key`: at `at` (the newest version with `ts <= at`,
    /// or `{"locked": LOCK}` when another transaction that started before
    /// `at` holds a write lock on it), or the latest committed (`at` null,
    /// locks ignored). `{"value": V}`, or `{"too_old": true}`.
    Read { key: Key, at: Option<u64> },
    /// Locks `writes` (write locks) and `reads` (read locks) for `txn`, all
    /// or nothing: `{"ok": true}`, or `{"ok": false, "reason": R, "lock":
    /// LOCK|null}` when another transaction's lock is in the way or (with
    /// `check`) a version newer than `start_ts` exists.
    Prepare {
        txn: String,
        primary: u32,
        is_primary: bool,
        start_ts: u64,
        at_ms: u64,
        writes: Vec<(Key, Vec<WOp>)>,
        reads: Vec<Key>,
        check: bool,
    },
    /// Applies `txn`'s writes here at `ts` and releases its locks. On the
    /// primary (`primary: true`) this is the commit point: it records
    /// `committed(ts)`, or answers `{"ok": false}` when `txn` was aborted.
    Commit { txn: String, ts: u64, primary: bool },
    /// Releases `txn`'s locks here without applying anything.
    Rollback { txn: String },
    /// On the primary: `{"committed": TS}` if `txn` committed, else records
    /// `aborted` (forever), releases its locks here, `{"aborted": true}`.
    Resolve { txn: String },
    /// Level `none`: applies micro-ops in order against the latest state,
    /// with no locks: `{"values": [...]}` (reads' values, null for writes).
    Apply { ops: Vec<(String, Key, Value)> },
}

fn refused(reason: &str, lock: Option<&Lock>) -> Value {
    let lock = lock.map(|l| Lock {
        ops: vec![],
        ..l.clone()
    });
    json!({"ok": false, "reason": reason, "lock": lock})
}

impl Shard {
    /// Serves a [`ShardCmd::Read`] (other commands answer null).
    pub fn read(&self, cmd: &ShardCmd) -> Value {
        let ShardCmd::Read { key, at } = cmd else {
            return Value::Null;
        };
        let Some(ks) = self.keys.get(key) else {
            return json!({"value": null});
        };
        let Some(at) = at else {
            return json!({"value": ks.latest()});
        };
        if let Some(l) = ks.locks.iter().find(|l| l.write && l.start_ts < *at) {
            return json!({"locked": Lock { ops: vec![], ..l.clone() }});
        }
        match ks.versions.iter().rev().find(|v| v.ts <= *at) {
            Some(v) => json!({"value": v.value}),
            None if ks.dropped => json!({"too_old": true}),
            None => json!({"value": null}),
        }
    }

    /// Releases `txn`'s locks here; with `commit`, applies its writes at
    /// that timestamp first.
    fn finish(&mut self, txn: &str, commit: Option<u64>) {
        for k in self.locked.remove(txn).unwrap_or_default() {
            let Some(ks) = self.keys.get_mut(&k) else {
                continue;
            };
            let Some(pos) = ks.locks.iter().position(|l| l.txn == txn) else {
                continue;
            };
            let lock = ks.locks.remove(pos);
            if let (Some(ts), true) = (commit, lock.write) {
                let mut v = ks.latest();
                for op in &lock.ops {
                    apply_op(&mut v, op);
                }
                ks.push_version(ts, v);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &mut self,
        txn: &str,
        primary: u32,
        is_primary: bool,
        start_ts: u64,
        at_ms: u64,
        writes: &[(Key, Vec<WOp>)],
        reads: &[Key],
        check: bool,
    ) -> Value {
        if is_primary {
            match self.outcomes.get(txn) {
                Some(Outcome::Aborted) => return refused("aborted", None),
                Some(Outcome::Committed(_)) => return json!({"ok": true}),
                None => {}
            }
        }
        let empty = KeyState::default();
        let written: BTreeSet<Key> = writes.iter().map(|(k, _)| *k).collect();
        for (k, _) in writes {
            let ks = self.keys.get(k).unwrap_or(&empty);
            if let Some(l) = ks.locks.iter().find(|l| l.txn != txn) {
                return refused("locked", Some(l));
            }
            if check && ks.latest_ts() > start_ts {
                return refused("write-conflict", None);
            }
        }
        for k in reads.iter().filter(|k| !written.contains(k)) {
            let ks = self.keys.get(k).unwrap_or(&empty);
            if let Some(l) = ks.locks.iter().find(|l| l.txn != txn && l.write) {
                return refused("locked", Some(l));
            }
            if check && ks.latest_ts() > start_ts {
                return refused("read-conflict", None);
            }
        }
        let lock = |write: bool, ops: Vec<WOp>| Lock {
            txn: txn.to_string(),
            write,
            primary,
            start_ts,
            at_ms,
            ops,
        };
        let held = self.locked.entry(txn.to_string()).or_default();
        for (k, ops) in writes {
            let ks = self.keys.entry(*k).or_default();
            ks.locks.retain(|l| l.txn != txn);
            ks.locks.push(lock(true, ops.clone()));
            held.insert(*k);
        }
        for k in reads.iter().filter(|k| !written.contains(k)) {
            let ks = self.keys.entry(*k).or_default();
            if !ks.locks.iter().any(|l| l.txn == txn) {
                ks.locks.push(lock(false, vec![]));
            }
            held.insert(*k);
        }
        json!({"ok": true})
    }

    /// Applies one replicated command.
    pub fn run(&mut self, cmd: &ShardCmd) -> Result<Value, ApiError> {
        Ok(match cmd {
            ShardCmd::Ts => {
                self.oracle += 1;
                json!({"ts": self.oracle})
            }
            ShardCmd::Read { .. } => self.read(cmd),
            ShardCmd::Prepare {
                txn,
                primary,
                is_primary,
                start_ts,
                at_ms,
                writes,
                reads,
                check,
            } => self.prepare(
                txn,
                *primary,
                *is_primary,
                *start_ts,
                *at_ms,
                writes,
                reads,
                *check,
            ),
            ShardCmd::Commit { txn, ts, primary } => {
                if *primary {
                    match self.outcomes.get(txn) {
                        Some(Outcome::Aborted) => {
                            return Ok(json!({"ok": false, "reason": "aborted"}))
                        }
                        Some(Outcome::Committed(_)) => return Ok(json!({"ok": true})),
                        None => {
                            self.outcomes.insert(txn.clone(), Outcome::Committed(*ts));
                        }
                    }
                }
                self.finish(txn, Some(*ts));
                json!({"ok": true})
            }
            ShardCmd::Rollback { txn } => {
                self.finish(txn, None);
                json!({"ok": true})
            }
            ShardCmd::Resolve { txn } => match self.outcomes.get(txn) {
                Some(Outcome::Committed(ts)) => json!({"committed": ts}),
                _ => {
                    self.outcomes.insert(txn.clone(), Outcome::Aborted);
                    self.finish(txn, None);
                    json!({"aborted": true})
                }
            },
            ShardCmd::Apply { ops } => {
                let mut values = Vec::with_capacity(ops.len());
                for (f, k, v) in ops {
                    let ks = self.keys.entry(*k).or_default();
                    let op = match f.as_str() {
                        "r" => {
                            values.push(ks.latest());
                            continue;
                        }
                        "append" => WriteKind::Append,
                        "w" => WriteKind::W,
                        _ => return Err(ApiError::invalid(format!("unknown micro-op {f:?}"))),
                    };
                    let v = v
                        .as_u64()
                        .ok_or_else(|| ApiError::invalid("a write's value must be a u64"))?;
                    let mut value = ks.latest();
                    apply_op(&mut value, &WOp { f: op, v });
                    let ts = ks.latest_ts() + 1;
                    ks.push_version(ts, value);
                    values.push(Value::Null);
                }
                json!({ "values": values })
            }
        })
    }
}

/// The Raft state machine of a shard.
#[derive(Default)]
pub struct ShardMachine {
    pub shard: Shard,
}

impl Machine for ShardMachine {
    fn apply(&mut self, _index: u64, _term: u64, cmd: &Value) -> Value {
        match serde_json::from_value::<ShardCmd>(cmd.clone()) {
            Ok(c) => answer(self.shard.run(&c)),
            Err(e) => answer(Err(ApiError::invalid(format!("bad command: {e}")))),
        }
    }

    fn snapshot(&self) -> Value {
        serde_json::to_value(&self.shard).unwrap_or_default()
    }

    fn restore(&mut self, v: Value) -> Result<(), String> {
        self.shard = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(v: u64) -> WOp {
        WOp {
            f: WriteKind::Append,
            v,
        }
    }

    fn prep(txn: &str, start: u64, writes: Vec<(Key, Vec<WOp>)>, reads: Vec<Key>) -> ShardCmd {
        ShardCmd::Prepare {
            txn: txn.into(),
            primary: 0,
            is_primary: true,
            start_ts: start,
            at_ms: 0,
            writes,
            reads,
            check: true,
        }
    }

    fn read(s: &Shard, key: Key, at: Option<u64>) -> Value {
        s.read(&ShardCmd::Read { key, at })
    }

    fn commit(txn: &str, ts: u64) -> ShardCmd {
        ShardCmd::Commit {
            txn: txn.into(),
            ts,
            primary: true,
        }
    }

    #[test]
    fn mvcc_reads_locks_and_first_committer_wins() {
        let mut s = Shard::default();
        assert_eq!(
            s.run(&prep("a", 1, vec![(7, vec![app(1)])], vec![]))
                .unwrap()["ok"],
            true
        );
        // A reader that started after a's start waits for its lock; an
        // older one ignores it; read-committed ignores it too.
        assert!(read(&s, 7, Some(5)).get("locked").is_some());
        assert_eq!(read(&s, 7, Some(1)), json!({"value": null}));
        assert_eq!(read(&s, 7, None), json!({"value": null}));
        // b conflicts with a's lock.
        let r = s
            .run(&prep("b", 2, vec![(7, vec![app(2)])], vec![]))
            .unwrap();
        assert_eq!(
            (r["ok"].clone(), r["lock"]["txn"].clone()),
            (json!(false), json!("a"))
        );
        assert_eq!(s.run(&commit("a", 3)).unwrap()["ok"], true);
        assert_eq!(read(&s, 7, Some(2)), json!({"value": null}));
        assert_eq!(read(&s, 7, Some(3)), json!({"value": [1]}));
        // b started at 2, before a's commit at 3: first committer wins.
        let r = s
            .run(&prep("b", 2, vec![(7, vec![app(2)])], vec![]))
            .unwrap();
        assert_eq!(r["reason"], "write-conflict");
        // A read lock refuses a writer and is refused by a newer version.
        assert_eq!(
            s.run(&prep("c", 4, vec![(8, vec![app(3)])], vec![7]))
                .unwrap()["ok"],
            true
        );
        let r = s
            .run(&prep("d", 4, vec![(7, vec![app(4)])], vec![]))
            .unwrap();
        assert_eq!(r["lock"]["txn"], "c");
        let r = s
            .run(&prep("e", 2, vec![(9, vec![app(4)])], vec![7]))
            .unwrap();
        assert_eq!(r["reason"], "read-conflict");
    }

    #[test]
    fn resolve_aborts_for_good_and_commit_is_refused_after_it() {
        let mut s = Shard::default();
        s.run(&prep("a", 1, vec![(1, vec![app(1)])], vec![]))
            .unwrap();
        assert_eq!(
            s.run(&ShardCmd::Resolve { txn: "a".into() }).unwrap(),
            json!({"aborted": true})
        );
        assert!(s.keys[&1].locks.is_empty());
        assert_eq!(s.run(&commit("a", 5)).unwrap()["ok"], false);
        assert_eq!(read(&s, 1, None), json!({"value": null}));
        assert_eq!(
            s.run(&prep("a", 1, vec![(1, vec![app(1)])], vec![]))
                .unwrap()["reason"],
            "aborted"
        );
        // A committed transaction stays committed.
        s.run(&prep("b", 6, vec![(1, vec![app(2)])], vec![]))
            .unwrap();
        s.run(&commit("b", 7)).unwrap();
        assert_eq!(
            s.run(&ShardCmd::Resolve { txn: "b".into() }).unwrap(),
            json!({"committed": 7})
        );
        assert_eq!(s.run(&commit("b", 7)).unwrap()["ok"], true);
        assert_eq!(read(&s, 1, None), json!({"value": [2]}));
    }

    #[test]
    fn apply_reads_its_own_writes_and_machine_round_trips() {
        let mut m = ShardMachine::default();
        let cmd = ShardCmd::Apply {
            ops: vec![
                ("append".into(), 3, json!(1)),
                ("r".into(), 3, Value::Null),
                ("w".into(), 4, json!(9)),
                ("r".into(), 4, Value::Null),
            ],
        };
        let r = m.apply(1, 1, &serde_json::to_value(&cmd).unwrap());
        assert_eq!(r["body"]["values"], json!([null, [1], null, 9]));
        let mut m2 = ShardMachine::default();
        m2.restore(m.snapshot()).unwrap();
        assert_eq!(m2.shard, m.shard);
    }

    #[test]
    fn old_versions_are_dropped_and_reads_below_them_refused() {
        let mut s = Shard::default();
        for i in 0..(KEEP_VERSIONS as u64 + 5) {
            let t = format!("t{i}");
            s.run(&prep(&t, 10 * i + 1, vec![(1, vec![app(i)])], vec![]))
                .unwrap();
            s.run(&commit(&t, 10 * i + 2)).unwrap();
        }
        assert_eq!(s.keys[&1].versions.len(), KEEP_VERSIONS);
        assert_eq!(read(&s, 1, Some(3)), json!({"too_old": true}));
    }
}
