//! The `lock` checker.

use super::linearizability::anomaly as lin_anomaly;
use super::{text, with_checker};
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::history::{History, Operation};
use crate::lock::{self, LockOptions, LockResult};
use crate::verdict::Verdict;
use serde_json::{json, Value};

/// Mutual exclusion over leases, fencing of the guarded resource, and mutex
/// linearizability where no lease can have run out (see [`crate::lock`]).
///
/// Details: the [`LockResult`] (`verdict`, `mutual_exclusion`, `fencing`,
/// `mutex`) with `checker` and a one-line `summary`. Anomalies: the
/// overlapping holds (part `mutual_exclusion`; its ops are the two
/// acquires: the overlap shows once the second acquire returns while the
/// first hold is open, the releases only close the holds), the fencing pair
/// or the resource's linearizability counterexample (`fencing`), the mutex
/// counterexample (`mutex`).
#[derive(Debug, Clone, Default)]
pub struct Lock {
    /// Prefix mode (the online check): see [`LockOptions::prefix`].
    pub prefix: bool,
}

impl Lock {
    pub fn run(&self, ops: &[Operation], budget: &Budget) -> LockResult {
        lock::check(
            ops,
            &LockOptions {
                timeout: budget.timeout,
                prefix: self.prefix,
            },
        )
    }

    pub fn judge(r: &LockResult) -> CheckResult {
        let me = &r.mutual_exclusion;
        let f = &r.fencing;
        let x = &r.mutex;
        let mut details = with_checker(serde_json::to_value(r).unwrap_or_default(), "lock");
        if let Value::Object(m) = &mut details {
            m.insert(
                "summary".into(),
                json!(format!(
                    "{}: mutual exclusion {} ({} holds, {} overlapping pairs); fencing {} ({} accepted, {} rejected writes, {} order violations); mutex {} ({} locks checked, {} skipped)",
                    r.verdict.as_str(),
                    me.verdict.as_str(),
                    me.holds,
                    me.violations,
                    f.verdict.as_str(),
                    f.accepted_writes,
                    f.rejected_writes,
                    f.order_violations,
                    x.verdict.as_str(),
                    x.checked_locks,
                    x.skipped_locks.len()
                )),
            );
        }
        let mut anomalies = Vec::new();
        if me.verdict == Verdict::Invalid {
            if let Some(o) = &me.witness {
                let lock = o
                    .lock
                    .as_ref()
                    .map(|l| format!(" on lock {l}"))
                    .unwrap_or_default();
                anomalies.push(Anomaly {
                    part: "mutual_exclusion".into(),
                    what: format!(
                        "mutual exclusion: processes {} and {} held the lock at once{lock}",
                        o.first.acquire.process, o.second.acquire.process
                    ),
                    ops: vec![o.first.acquire.invoke_index, o.second.acquire.invoke_index],
                });
            }
        }
        if f.verdict == Verdict::Invalid {
            if let Some([a, b]) = &f.witness {
                let tok = |v: &Value| text(&v["token"]);
                anomalies.push(Anomaly {
                    part: "fencing".into(),
                    what: format!(
                        "fencing: write with token {} accepted after one with token {}",
                        tok(&b.value),
                        tok(&a.value)
                    ),
                    ops: vec![a.invoke_index, b.invoke_index],
                });
            }
            if let Some(l) = &f.linearizability {
                anomalies.extend(lin_anomaly(l, "fencing register", "resource", "fencing"));
            }
        }
        if let Some(l) = &x.linearizability {
            anomalies.extend(lin_anomaly(l, "mutex", "lock", "mutex"));
        }
        CheckResult {
            verdict: r.verdict,
            details,
            anomalies,
        }
    }
}

impl Checker for Lock {
    fn name(&self) -> &str {
        "lock"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        match history.operations() {
            Ok(ops) => Self::judge(&self.run(&ops, budget)),
            Err(e) => CheckResult::unknown("lock", e.to_string()),
        }
    }
}
