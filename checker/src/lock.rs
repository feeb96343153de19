//! Lock checks: mutual exclusion over leases, fencing of a guarded
//! resource, and linearizability with the `mutex` model where no lease can
//! have expired.
//!
//! # History shape
//! Event `time` is required (nanoseconds, one monotonic clock for the whole
//! history). The event's optional `key` names the lock (for `acquire` and
//! `release`) or the resource (for `write` and `read`).
//! - `acquire`: invoke value `{"ttl_ms": N}` (the lease length the client
//!   asked for; `null` or absent = no lease, held until released). `ok`
//!   value `{"token": T}`, optionally with `"valid_ms": V`: the validity
//!   the client computed for itself at completion (Redlock: ttl − elapsed −
//!   drift). `fail` = not granted; `info` = unknown (the client does not
//!   believe it holds the lock, so it opens no interval).
//! - `release`: invoke value `{"token": T}`; any outcome.
//! - `write`: invoke value `{"value": V, "token": T}`; `ok` = the resource
//!   accepted it; `fail` = rejected (fenced, definite); `info` = unknown.
//! - `read`: `ok` value = the resource's value (`null` when never written).
//!
//! # Checks
//! - **mutual exclusion**: each `ok` acquire opens a hold interval for its
//!   process, from the acquire's *completion* to the first of: the same
//!   process's next `release` *invocation* on that lock, and the lease end
//!   as the client measured it (`complete + valid_ms` when given, else
//!   `invoke + ttl_ms`: the lease clock starts no later than the request was
//!   sent). No two intervals of different processes on one lock may
//!   overlap. Witness: the two acquires (and the releases that closed them).
//! - **fencing**: for two accepted (`ok`) writes A and B on one resource
//!   where A completed before B was invoked, `token(A) <= token(B)`; and the
//!   resource's writes and reads are linearizable with the `register`
//!   model. Witness: the pair of writes, or the linearizability
//!   counterexample.
//! - **mutex linearizability**: the acquires and releases of each lock on
//!   which no lease can have run out (every `ok` acquire either has no ttl
//!   or was followed by its release invocation before the lease end)
//!   checked against the `mutex` model. Locks where a lease may have expired
//!   are listed in `skipped_locks` and not checked (a lease expiry is a
//!   release the history does not show).

use crate::history::{Operation, Process, Status};
use crate::linearizability::{self, LinOptions, LinResult, ModelKind};
use crate::model::key_text;
use crate::verdict::Verdict;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// An op named in a witness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpRef {
    pub process: Process,
    pub f: String,
    pub status: Status,
    pub value: Value,
    pub output: Value,
    pub invoke_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
}

impl OpRef {
    fn of(op: &Operation) -> OpRef {
        OpRef {
            process: op.process.clone(),
            f: op.f.clone(),
            status: op.status,
            value: op.input.clone(),
            output: op.output.clone(),
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
        }
    }
}

/// One process's hold of a lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    pub acquire: OpRef,
    /// The release that ended it, if it ended by release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<OpRef>,
    /// Nanoseconds.
    pub start: i64,
    /// Nanoseconds; `null` = never ended in the history.
    pub end: Option<i64>,
    /// How it ended: `release`, `lease` or `open`.
    pub ended_by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Value>,
}

/// Result of the mutual-exclusion check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MutualExclusion {
    pub verdict: Verdict,
    pub holds: usize,
    /// Overlapping pairs found.
    pub violations: usize,
    /// The first overlapping pair (by start time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Overlap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    pub first: Hold,
    pub second: Hold,
}

/// Result of the fencing check.
#[derive(Debug, Clone, Serialize)]
pub struct Fencing {
    pub verdict: Verdict,
    pub accepted_writes: usize,
    pub rejected_writes: usize,
    /// Pairs of accepted writes whose tokens go backwards in real time.
    pub order_violations: usize,
    /// The first such pair: `[earlier, later]`, earlier carrying the higher
    /// token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<[OpRef; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<LinResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Result of the mutex linearizability check.
#[derive(Debug, Clone, Serialize)]
pub struct MutexLin {
    pub verdict: Verdict,
    pub checked_locks: usize,
    pub skipped_locks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<LinResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Everything [`check`] found.
#[derive(Debug, Clone, Serialize)]
pub struct LockResult {
    pub verdict: Verdict,
    pub mutual_exclusion: MutualExclusion,
    pub fencing: Fencing,
    pub mutex: MutexLin,
}

/// Options for [`check`].
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// Budget for each linearizability search.
    pub timeout: Option<Duration>,
    /// Prefix mode (the online check): `ops` are the closed prefix of a
    /// history still being written, ops open at the cut left without a
    /// completion (unknown). Mutual exclusion and fencing only grow with
    /// the history (an overlap or an order violation among ops of the
    /// prefix stays one: a hold open at the cut ends no earlier than the
    /// cut in the whole history; a pending acquire only adds holds), so
    /// they run as usual. The mutex linearizability check is off: which
    /// locks it checks depends on every acquire of the lock, including
    /// ones not yet seen (a later lease that may expire takes the lock out
    /// of the check), so a prefix cannot settle it.
    pub prefix: bool,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            timeout: Some(Duration::from_secs(30)),
            prefix: false,
        }
    }
}

fn fname(op: &Operation) -> &str {
    op.f.strip_prefix(':').unwrap_or(&op.f)
}

fn key_of(op: &Operation) -> Option<String> {
    op.key.as_ref().map(key_text)
}

fn num(v: &Value, field: &str) -> Option<i64> {
    v.get(field).and_then(Value::as_i64)
}

/// Runs all three checks.
pub fn check(ops: &[Operation], opts: &LockOptions) -> LockResult {
    let mutual_exclusion = check_mutual_exclusion(ops);
    let fencing = check_fencing(ops, opts);
    let mutex = if opts.prefix {
        MutexLin {
            verdict: Verdict::Valid,
            checked_locks: 0,
            skipped_locks: vec![],
            linearizability: None,
            reason: Some("prefix mode: only the whole history settles which locks to check".into()),
        }
    } else {
        check_mutex(ops, opts)
    };
    let verdict = mutual_exclusion
        .verdict
        .merge(fencing.verdict)
        .merge(mutex.verdict);
    LockResult {
        verdict,
        mutual_exclusion,
        fencing,
        mutex,
    }
}

/// Hold intervals per lock, plus whether a lease may have expired on it.
type HoldsByLock = BTreeMap<Option<String>, (Vec<Hold>, bool)>;

fn holds(ops: &[Operation]) -> Result<HoldsByLock, String> {
    let mut out: HoldsByLock = BTreeMap::new();
    for (i, a) in ops.iter().enumerate() {
        if !a.process.is_client() || fname(a) != "acquire" || a.status != Status::Ok {
            continue;
        }
        let (Some(t0), Some(t1)) = (a.invoke_time, a.complete_time) else {
            return Err(format!(
                "acquire at index {} has no time: mutual exclusion needs event times",
                a.invoke_index
            ));
        };
        let lock = key_of(a);
        let ttl_ns = num(&a.input, "ttl_ms")
            .or_else(|| num(&a.output, "ttl_ms"))
            .map(|ms| ms.saturating_mul(1_000_000));
        let lease_end = match num(&a.output, "valid_ms") {
            Some(v) => Some(t1.saturating_add(v.saturating_mul(1_000_000))),
            None => ttl_ns.map(|ttl| t0.saturating_add(ttl)),
        };
        let release = ops[i + 1..].iter().find(|r| {
            r.process == a.process && key_of(r) == lock && matches!(fname(r), "release" | "acquire")
        });
        let release = release.filter(|r| fname(r) == "release");
        let rel_t = release.and_then(|r| r.invoke_time);
        let (end, ended_by) = match (rel_t, lease_end) {
            (Some(r), Some(l)) if l < r => (Some(l), "lease"),
            (Some(r), _) => (Some(r), "release"),
            (None, Some(l)) => (Some(l), "lease"),
            (None, None) => (None, "open"),
        };
        let expired = ended_by == "lease";
        let e = out.entry(lock).or_default();
        e.1 |= expired;
        e.0.push(Hold {
            acquire: OpRef::of(a),
            release: release.filter(|_| ended_by == "release").map(OpRef::of),
            start: t1,
            end,
            ended_by,
            token: a.output.get("token").cloned(),
        });
    }
    Ok(out)
}

/// The mutual-exclusion check alone.
pub fn check_mutual_exclusion(ops: &[Operation]) -> MutualExclusion {
    let all = match holds(ops) {
        Ok(h) => h,
        Err(reason) => {
            return MutualExclusion {
                verdict: Verdict::Unknown,
                holds: 0,
                violations: 0,
                witness: None,
                reason: Some(reason),
            }
        }
    };
    let mut n = 0;
    let mut violations = 0;
    let mut witness: Option<Overlap> = None;
    for (lock, (mut hs, _)) in all {
        n += hs.len();
        // Empty intervals (the lease ran out before the grant came back)
        // never held anything.
        hs.retain(|h| h.end.is_none_or(|e| e > h.start));
        hs.sort_by_key(|h| h.start);
        // Sweep: the holds still open at each start.
        let mut open: Vec<usize> = Vec::new();
        for j in 0..hs.len() {
            let s = hs[j].start;
            open.retain(|&k| hs[k].end.is_none_or(|e| e > s));
            for &k in &open {
                if hs[k].acquire.process != hs[j].acquire.process {
                    violations += 1;
                    if witness.is_none() {
                        witness = Some(Overlap {
                            lock: lock.clone(),
                            first: hs[k].clone(),
                            second: hs[j].clone(),
                        });
                    }
                }
            }
            open.push(j);
        }
    }
    MutualExclusion {
        verdict: if violations > 0 {
            Verdict::Invalid
        } else {
            Verdict::Valid
        },
        holds: n,
        violations,
        witness,
        reason: None,
    }
}

/// The fencing check alone.
pub fn check_fencing(ops: &[Operation], opts: &LockOptions) -> Fencing {
    let writes: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.process.is_client() && fname(o) == "write")
        .collect();
    let accepted: Vec<&&Operation> = writes.iter().filter(|o| o.status == Status::Ok).collect();
    let rejected = writes.iter().filter(|o| o.status == Status::Fail).count();
    let mut order_violations = 0;
    let mut witness = None;
    let mut reason = None;
    // Per resource: sweep writes by invocation, keeping the highest token
    // among writes completed before it (ordered by history position).
    let mut by_res: BTreeMap<Option<String>, Vec<&Operation>> = BTreeMap::new();
    for w in &accepted {
        by_res.entry(key_of(w)).or_default().push(w);
    }
    for ws in by_res.values() {
        let mut by_end: Vec<&Operation> = ws.clone();
        by_end.sort_by_key(|o| o.ret.unwrap_or(usize::MAX));
        let mut by_start: Vec<&Operation> = ws.clone();
        by_start.sort_by_key(|o| o.call);
        let mut best: Option<&Operation> = None;
        let mut e = 0;
        for b in by_start {
            while e < by_end.len() && by_end[e].ret.is_some_and(|r| r < b.call) {
                let a = by_end[e];
                if num(&a.input, "token") > best.and_then(|x| num(&x.input, "token")) {
                    best = Some(a);
                }
                e += 1;
            }
            if let Some(a) = best {
                match (num(&a.input, "token"), num(&b.input, "token")) {
                    (Some(ta), Some(tb)) if ta > tb => {
                        order_violations += 1;
                        if witness.is_none() {
                            witness = Some([OpRef::of(a), OpRef::of(b)]);
                        }
                    }
                    (_, None) => {
                        reason.get_or_insert(format!(
                            "write at index {} has no integer token",
                            b.invoke_index
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    // The resource as a register: writes carry their value.
    let reg: Vec<Operation> = ops
        .iter()
        .filter(|o| o.process.is_client() && matches!(fname(o), "write" | "read"))
        .cloned()
        .enumerate()
        .map(|(i, mut o)| {
            o.id = i;
            if fname(&o) == "write" {
                o.input = o.input.get("value").cloned().unwrap_or(Value::Null);
                o.output = Value::Null;
            }
            o
        })
        .collect();
    let lin = if reg.is_empty() {
        None
    } else {
        let lo = LinOptions {
            model: ModelKind::Register,
            partition: true,
            timeout: opts.timeout,
            ..LinOptions::default()
        };
        match linearizability::check(&reg, &lo, "resource history") {
            Ok(r) => Some(r),
            Err(e) => {
                reason.get_or_insert(e.to_string());
                None
            }
        }
    };
    let mut verdict = if order_violations > 0 {
        Verdict::Invalid
    } else {
        Verdict::Valid
    };
    if let Some(l) = &lin {
        verdict = verdict.merge(l.verdict);
    }
    if reason.is_some() {
        verdict = verdict.merge(Verdict::Unknown);
    }
    Fencing {
        verdict,
        accepted_writes: accepted.len(),
        rejected_writes: rejected,
        order_violations,
        witness,
        linearizability: lin,
        reason,
    }
}

/// The mutex linearizability check alone.
pub fn check_mutex(ops: &[Operation], opts: &LockOptions) -> MutexLin {
    let expired: Vec<Option<String>> = match holds(ops) {
        Ok(h) => h
            .into_iter()
            .filter(|(_, (_, exp))| *exp)
            .map(|(k, _)| k)
            .collect(),
        Err(reason) => {
            return MutexLin {
                verdict: Verdict::Unknown,
                checked_locks: 0,
                skipped_locks: vec![],
                linearizability: None,
                reason: Some(reason),
            }
        }
    };
    let sel: Vec<Operation> = ops
        .iter()
        .filter(|o| o.process.is_client() && matches!(fname(o), "acquire" | "release"))
        .filter(|o| !expired.contains(&key_of(o)))
        .cloned()
        .enumerate()
        .map(|(i, mut o)| {
            o.id = i;
            o
        })
        .collect();
    let mut locks: Vec<Option<String>> = sel.iter().map(key_of).collect();
    locks.sort();
    locks.dedup();
    let skipped_locks = expired
        .iter()
        .map(|k| k.clone().unwrap_or_else(|| json!(null).to_string()))
        .collect();
    if sel.is_empty() {
        return MutexLin {
            verdict: Verdict::Valid,
            checked_locks: 0,
            skipped_locks,
            linearizability: None,
            reason: None,
        };
    }
    let lo = LinOptions {
        model: ModelKind::Mutex,
        partition: true,
        timeout: opts.timeout,
        ..LinOptions::default()
    };
    match linearizability::check(&sel, &lo, "lock history") {
        Ok(r) => MutexLin {
            verdict: r.verdict,
            checked_locks: locks.len(),
            skipped_locks,
            linearizability: Some(r),
            reason: None,
        },
        Err(e) => MutexLin {
            verdict: Verdict::Unknown,
            checked_locks: locks.len(),
            skipped_locks,
            linearizability: None,
            reason: Some(e.to_string()),
        },
    }
}
