//! The `long-fork` checker: Jepsen's long-fork test
//! (`jepsen.tests.long-fork`), for the anomaly parallel snapshot isolation
//! allows and snapshot isolation forbids: two transactions that see two
//! independent writes in opposite orders.
//!
//! # The history
//!
//! Every op's value is a transaction, a list of micro-ops `[f k v]`:
//!
//! - a **write** transaction is exactly one write `[:w k v]`, and each key is
//!   written at most once in the whole history (an insert);
//! - a **read** transaction reads a whole group of keys, `[[:r k1 v1] [:r k2
//!   v2] ...]`, `v` being `nil` for a key not written yet. Jepsen's groups
//!   are `group-size` consecutive integers, but any set of keys will do: the
//!   reads are grouped by the set of keys they read.
//!
//! # What it checks
//!
//! Since each key is written once and reads see `nil` until then, two reads
//! of the same group are ordered when one sees every write the other sees.
//! Two `ok` reads of the same group are a **fork** when each sees a write
//! the other does not: no single order of the writes explains both.
//!
//! - Any fork makes the history invalid.
//! - A key written twice makes it `unknown` (the reasoning needs inserts),
//!   as in Jepsen, as does a read of a group of the wrong size (every group
//!   must have `group-size` keys) or two reads that see different non-nil
//!   values for one key (Jepsen calls both an illegal history).
//! - `early-read-count` counts reads that saw no write (too early to tell
//!   anything), `late-read-count` those that saw every key written.
//!
//! # Options
//!
//! `group_size` (registry name `long-fork:N`, Jepsen's `n`; default 2).
//!
//! # Where it departs from Jepsen
//!
//! A history with no `ok` read is `unknown` (Jepsen calls it valid). The
//! forks list each distinct pair of read states once (with the first read
//! that saw each), where Jepsen lists every pair of ops. An op whose value is
//! not a list of `[f k v]` micro-ops with `f` `r` or `w` is an input error
//! naming its line and field; transactions that are neither a single write
//! nor all reads are counted in `ignored-txns`.
//!
//! # Details
//!
//! `checker`, `verdict`, `summary`, `group-size`, `reads-count`,
//! `early-read-count`, `late-read-count`, `write-count`, `groups`,
//! `fork-count`, `forks` (the first [`MAX_LISTED`]: each a pair of reads
//! `{index, invoke-index, process, line, value}` with `value` a map of key
//! to the value read), `error` (why unknown), `ignored-txns`. Anomalies:
//! one per fork listed, naming both reads.

use super::jepsen::{deadline, done_index, input_unknown, key_text, op_error, out_of_time, shown};
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::history::{History, InputError, Operation, Status};
use crate::verdict::Verdict;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// How many forks the details list and the anomalies name.
pub const MAX_LISTED: usize = 100;

/// Jepsen's long-fork checker (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct LongFork {
    /// How many keys every read reads.
    pub group_size: usize,
}

/// A micro-op: read or write, key (as text), value.
type Mop<'a> = (bool, String, &'a Value);

/// A transaction's micro-ops, or an input error naming the op and field.
fn mops<'a>(
    source: &str,
    op: &Operation,
    v: &'a Value,
    completion: bool,
) -> Result<Vec<Mop<'a>>, InputError> {
    let bad = |what: String| op_error(source, op, completion, "value", what);
    let Value::Array(items) = v else {
        return Err(bad(format!(
            "a long-fork op's value must be a transaction, a list of [f k v] micro-ops, found {}",
            shown(v)
        )));
    };
    items
        .iter()
        .map(|m| match m.as_array().map(Vec::as_slice) {
            Some([Value::String(f), k, v]) => {
                let read = match f.trim_start_matches(':') {
                    "r" | "read" => true,
                    "w" | "write" => false,
                    other => {
                        return Err(bad(format!(
                            "micro-op {} has f `{other}`; long-fork transactions hold only reads [:r k v] and writes [:w k v]",
                            shown(m)
                        )))
                    }
                };
                Ok((read, key_text(k), v))
            }
            _ => Err(bad(format!(
                "micro-op {} is not a [f k v] triple",
                shown(m)
            ))),
        })
        .collect()
}

/// One ok read: its op and what it saw, by key (JSON text; `None` = nil).
struct Read<'a> {
    op: &'a Operation,
    seen: BTreeMap<String, Option<String>>,
}

impl Read<'_> {
    fn report(&self) -> Value {
        let value: Map<String, Value> = self
            .seen
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_ref()
                    .map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
                    .unwrap_or(Value::Null);
                (k.clone(), v)
            })
            .collect();
        json!({
            "index": done_index(self.op),
            "invoke-index": self.op.invoke_index,
            "process": self.op.process,
            "line": self.op.complete_line,
            "value": value,
        })
    }
}

/// How two reads of one group compare.
enum Order {
    /// `a` sees every write `b` sees (or the reverse), or they agree.
    Ordered,
    /// Each sees a write the other does not: the keys each alone sees.
    Fork(Vec<String>, Vec<String>),
    /// They see different non-nil values for this key.
    Conflict(String),
}

fn compare(a: &Read, b: &Read) -> Order {
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    for (k, va) in &a.seen {
        let vb = b.seen.get(k).and_then(Option::as_ref);
        match (va, vb) {
            (Some(x), Some(y)) if x != y => return Order::Conflict(k.clone()),
            (Some(_), None) => only_a.push(k.clone()),
            (None, Some(_)) => only_b.push(k.clone()),
            _ => {}
        }
    }
    if !only_a.is_empty() && !only_b.is_empty() {
        Order::Fork(only_a, only_b)
    } else {
        Order::Ordered
    }
}

impl LongFork {
    /// Checks paired operations; `source` names the file in input errors.
    pub fn run(&self, source: &str, ops: &[Operation]) -> Result<CheckResult, InputError> {
        self.run_within(source, ops, None)
    }

    /// [`LongFork::run`], giving up with `unknown` at `deadline`.
    pub fn run_within(
        &self,
        source: &str,
        ops: &[Operation],
        deadline: Option<Instant>,
    ) -> Result<CheckResult, InputError> {
        let start = Instant::now();
        let mut compared = 0u64;
        let n = self.group_size;
        let mut writes: HashMap<String, &Operation> = HashMap::new();
        let mut multiple: Option<(String, &Operation, &Operation)> = None;
        let mut write_count = 0usize;
        let mut reads: Vec<Read> = Vec::new();
        let mut ignored = 0usize;
        for op in ops {
            let inv = mops(source, op, &op.input, false)?;
            let done = if op.status == Status::Ok {
                Some(mops(source, op, &op.output, true)?)
            } else {
                None
            };
            if let [(false, k, _)] = inv.as_slice() {
                write_count += 1;
                if let Some(first) = writes.insert(k.clone(), op) {
                    multiple.get_or_insert((k.clone(), first, op));
                }
                continue;
            }
            match done {
                Some(txn) if !txn.is_empty() && txn.iter().all(|m| m.0) => {
                    let seen = txn
                        .iter()
                        .map(|(_, k, v)| (k.clone(), (!v.is_null()).then(|| v.to_string())))
                        .collect();
                    reads.push(Read { op, seen });
                }
                _ if !inv.is_empty() && inv.iter().all(|m| m.0) => {} // a read that did not complete ok
                _ => ignored += 1,
            }
        }
        let early = reads
            .iter()
            .filter(|r| r.seen.values().all(Option::is_none))
            .count();
        let late = reads
            .iter()
            .filter(|r| r.seen.values().all(Option::is_some))
            .count();

        // Reads by group (the keys they read), each distinct state once.
        let mut groups: BTreeMap<Vec<&String>, Vec<&Read>> = BTreeMap::new();
        for r in &reads {
            groups.entry(r.seen.keys().collect()).or_default().push(r);
        }
        let mut error: Option<String> = None;
        if let Some((k, a, b)) = &multiple {
            error = Some(format!(
                "key {k} is written twice (lines {} and {}): long-fork needs each key written at most once",
                a.invoke_line, b.invoke_line
            ));
        }
        if error.is_none() {
            if let Some((keys, rs)) = groups.iter().find(|(keys, _)| keys.len() != n) {
                let r = rs[0];
                let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
                error = Some(format!(
                    "{source}:{}: the read at index {} reads {} keys ({}), but the group size is {n}",
                    r.op.complete_line,
                    done_index(r.op),
                    keys.len(),
                    keys.join(", ")
                ));
            }
        }
        let mut forks: Vec<(&Read, &Read, Vec<String>, Vec<String>)> = Vec::new();
        let mut fork_count = 0usize;
        if error.is_none() {
            'groups: for rs in groups.values() {
                let mut distinct: Vec<&Read> = Vec::new();
                for r in rs {
                    if !distinct.iter().any(|d| d.seen == r.seen) {
                        distinct.push(r);
                    }
                }
                for (i, a) in distinct.iter().enumerate() {
                    for b in &distinct[i + 1..] {
                        compared += 1;
                        if compared.is_multiple_of(4096)
                            && deadline.is_some_and(|d| Instant::now() >= d)
                        {
                            return Ok(out_of_time(
                                "long-fork",
                                start.elapsed().as_secs_f64(),
                                format!("comparing {compared} pairs of reads"),
                            ));
                        }
                        match compare(a, b) {
                            Order::Ordered => {}
                            Order::Fork(x, y) => {
                                fork_count += 1;
                                if forks.len() < MAX_LISTED {
                                    forks.push((a, b, x, y));
                                }
                            }
                            Order::Conflict(k) => {
                                error = Some(format!(
                                    "{source}: the reads at indices {} (line {}) and {} (line {}) see different values for key {k}: long-fork needs each key written at most once",
                                    done_index(a.op),
                                    a.op.complete_line,
                                    done_index(b.op),
                                    b.op.complete_line
                                ));
                                break 'groups;
                            }
                        }
                    }
                }
            }
        }
        let verdict = if error.is_some() || (fork_count == 0 && reads.is_empty()) {
            Verdict::Unknown
        } else if fork_count > 0 {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        let counts = format!(
            "{} ok reads ({early} early, {late} late) in {} groups, {write_count} writes",
            reads.len(),
            groups.len()
        );
        let summary = match (&error, verdict) {
            (Some(e), _) => format!("unknown: {e}"),
            (None, Verdict::Unknown) => format!("unknown: no ok read, nothing to check; {counts}"),
            (None, Verdict::Invalid) => format!("invalid: {fork_count} long forks; {counts}"),
            (None, Verdict::Valid) => format!("valid: no long fork; {counts}"),
        };
        let mut d = Map::new();
        d.insert("checker".into(), json!("long-fork"));
        d.insert("verdict".into(), json!(verdict.as_str()));
        d.insert("summary".into(), json!(summary));
        if let Some(e) = &error {
            d.insert("error".into(), json!(e));
        } else if verdict == Verdict::Unknown {
            d.insert(
                "reason".into(),
                json!("no ok read: there is nothing to check"),
            );
        }
        d.insert("group-size".into(), json!(n));
        d.insert("reads-count".into(), json!(reads.len()));
        d.insert("early-read-count".into(), json!(early));
        d.insert("late-read-count".into(), json!(late));
        d.insert("write-count".into(), json!(write_count));
        d.insert("groups".into(), json!(groups.len()));
        d.insert("fork-count".into(), json!(fork_count));
        d.insert(
            "forks".into(),
            Value::Array(
                forks
                    .iter()
                    .map(|(a, b, _, _)| json!([a.report(), b.report()]))
                    .collect(),
            ),
        );
        d.insert("ignored-txns".into(), json!(ignored));
        let anomalies = forks
            .iter()
            .map(|(a, b, x, y)| Anomaly {
                part: "forks".into(),
                what: format!(
                    "long fork: the read at index {} sees the write of {} but not of {}; the read at index {} sees {} but not {}",
                    done_index(a.op),
                    x.join(", "),
                    y.join(", "),
                    done_index(b.op),
                    y.join(", "),
                    x.join(", ")
                ),
                ops: vec![a.op.invoke_index, b.op.invoke_index],
            })
            .collect();
        Ok(CheckResult {
            verdict,
            details: Value::Object(d),
            anomalies,
        })
    }
}

impl Checker for LongFork {
    fn name(&self) -> &str {
        "long-fork"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        let deadline = deadline(budget);
        match history
            .operations()
            .and_then(|ops| self.run_within(&history.source, &ops, deadline))
        {
            Ok(r) => r,
            Err(e) => input_unknown("long-fork", e),
        }
    }
}
