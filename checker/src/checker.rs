//! The [`Checker`] trait: something that judges a whole history, plus
//! [`Safe`] (a panic or an exhausted budget becomes `unknown`, never a
//! crash) and [`Compose`] (several checkers in parallel, verdicts merged).
//!
//! The concrete checkers and the registry that builds them from names are
//! in [`crate::checkers`].

use crate::history::History;
use crate::txn::raw::Prepared;
use crate::verdict::Verdict;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// What a check may spend. Checkers honour it cooperatively: a search that
/// runs out returns `unknown` with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Wall-clock time from the start of the check.
    pub timeout: Option<Duration>,
    /// Approximate bytes the check may use.
    pub max_bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            timeout: None,
            max_bytes: 4 << 30,
        }
    }
}

/// One anomaly a checker found: the ops that show it, by history index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Which part of the checker's result shows it (e.g. `lost` for
    /// total-queue, `mutual_exclusion` for lock, a model key for
    /// consistency); empty when the result has one kind of anomaly.
    pub part: String,
    /// What it shows, for people, in one line.
    pub what: String,
    /// History `index`es of the invocations of the ops that show it.
    pub ops: Vec<u64>,
}

/// What a checker says about a history.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub verdict: Verdict,
    /// The checker's report, as it appears in `results.json` (an object
    /// with at least `checker` and `verdict`).
    pub details: Value,
    /// The anomalies it found; empty when it found none (or it never
    /// names ops).
    pub anomalies: Vec<Anomaly>,
}

impl CheckResult {
    /// An `unknown` result that says why (`error`), for a checker that
    /// could not run: bad input, a panic.
    pub fn unknown(checker: &str, error: impl Into<String>) -> CheckResult {
        CheckResult {
            verdict: Verdict::Unknown,
            details: json!({"checker": checker, "verdict": "unknown", "error": error.into()}),
            anomalies: Vec::new(),
        }
    }

    /// Why the verdict is unknown, when the details say (`reason` or
    /// `error`).
    pub fn reason(&self) -> Option<&str> {
        self.details
            .get("reason")
            .and_then(Value::as_str)
            .or_else(|| self.details.get("error").and_then(Value::as_str))
    }
}

/// A checker of whole histories.
///
/// Implementations must not panic on any input (a [`Safe`] wrapper turns
/// a panic into `unknown` anyway) and should honour the [`Budget`].
pub trait Checker: Send + Sync {
    /// The name the registry knows it by, and its key in `results.json`
    /// (e.g. `linearizability`, `total-queue`).
    fn name(&self) -> &str;

    /// An informational checker reports a verdict that never changes the
    /// run's: [`Compose`] leaves it out of the merge. Its anomalies are
    /// still reported.
    fn informational(&self) -> bool {
        false
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult;

    /// Checks a history read for the isolation checkers
    /// ([`crate::formats::read_txn`]). Only they read its compact txn
    /// values; any other checker checks the history when it has none, and
    /// is `unknown`, saying why, when it has some (it would not see them).
    fn check_prepared(&self, p: &Prepared, budget: &Budget) -> CheckResult {
        if !p.compact() {
            return self.check(&p.history, budget);
        }
        CheckResult::unknown(
            self.name(),
            "this checker cannot read a history whose txn values were read in compact form for the isolation checkers",
        )
    }
}

impl<C: Checker + ?Sized> Checker for Box<C> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn informational(&self) -> bool {
        (**self).informational()
    }
    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        (**self).check(history, budget)
    }
    fn check_prepared(&self, p: &Prepared, budget: &Budget) -> CheckResult {
        (**self).check_prepared(p, budget)
    }
}

/// Frees `x` on a thread of its own, so that freeing a big history (many
/// small allocations) is not on the way to the answer; a process that exits
/// first gives the memory back all the same. Without a thread, `x` is freed
/// here.
pub fn drop_later<T: Send + 'static>(x: T) {
    // (A failed spawn drops the closure, and `x` with it.)
    let _ = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(x));
}

/// Runs `f`, turning a panic into `Err` with the panic's message.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(no message)".to_string())
    })
}

/// Runs a checker so that nothing it does crashes the caller: a panic
/// becomes `unknown` with the panic's message, and an `unknown` result
/// returned after the time budget ran out says so when the checker gave no
/// reason. (A definite verdict found late is still right, so it stands.)
pub fn check_safe(c: &(impl Checker + ?Sized), history: &History, budget: &Budget) -> CheckResult {
    guarded(c, budget, || c.check(history, budget))
}

/// [`check_safe`] of a history read for the isolation checkers.
pub fn check_safe_prepared(
    c: &(impl Checker + ?Sized),
    p: &Prepared,
    budget: &Budget,
) -> CheckResult {
    guarded(c, budget, || c.check_prepared(p, budget))
}

fn guarded(
    c: &(impl Checker + ?Sized),
    budget: &Budget,
    check: impl FnOnce() -> CheckResult,
) -> CheckResult {
    let start = Instant::now();
    let mut r = match catch_panic(check) {
        Ok(r) => r,
        Err(msg) => {
            return CheckResult::unknown(c.name(), format!("the checker panicked: {msg}"));
        }
    };
    if r.verdict == Verdict::Unknown && r.reason().is_none() {
        let why = match budget.timeout {
            Some(t) if start.elapsed() >= t => {
                format!("the time budget of {:.1} s ran out", t.as_secs_f64())
            }
            _ => "the checker gave no reason".to_string(),
        };
        if let Value::Object(m) = &mut r.details {
            m.insert("reason".into(), json!(why));
        } else {
            r.details = json!({"checker": c.name(), "verdict": "unknown", "reason": why});
        }
    }
    r
}

/// A checker run through [`check_safe`].
#[derive(Debug, Clone)]
pub struct Safe<C>(pub C);

impl<C: Checker> Checker for Safe<C> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn informational(&self) -> bool {
        self.0.informational()
    }
    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        check_safe(&self.0, history, budget)
    }
    fn check_prepared(&self, p: &Prepared, budget: &Budget) -> CheckResult {
        check_safe_prepared(&self.0, p, budget)
    }
}

/// One checker's result inside a [`Compose`].
#[derive(Debug, Clone)]
pub struct Judged {
    /// The checker's name (made unique within the composition: a repeated
    /// name gets `#2`, `#3`, ...).
    pub name: String,
    pub informational: bool,
    /// Wall-clock seconds the check took.
    pub seconds: f64,
    pub result: CheckResult,
}

/// Several checkers run in parallel (on the rayon pool), each through
/// [`check_safe`].
///
/// As a [`Checker`], its verdict merges those of the checkers that are not
/// informational (invalid > unknown > valid; valid when there are none;
/// all of them when every one is informational),
/// its details are an object keyed by checker name, and its anomalies are
/// theirs with `part` prefixed by the checker's name (`total-queue.lost`).
/// Each checker gets the whole time budget and an equal share of the
/// memory budget.
pub struct Compose {
    checkers: Vec<Box<dyn Checker>>,
}

impl Compose {
    pub fn new(checkers: Vec<Box<dyn Checker>>) -> Compose {
        Compose { checkers }
    }

    pub fn checkers(&self) -> &[Box<dyn Checker>] {
        &self.checkers
    }

    /// Each checker's result, in the order they were given.
    pub fn check_each(&self, history: &History, budget: &Budget) -> Vec<Judged> {
        self.each(budget, |c, share| check_safe(c, history, share))
    }

    /// [`Compose::check_each`] of a history read for the isolation checkers.
    pub fn check_each_prepared(&self, p: &Prepared, budget: &Budget) -> Vec<Judged> {
        self.each(budget, |c, share| check_safe_prepared(c, p, share))
    }

    fn each(
        &self,
        budget: &Budget,
        check: impl Fn(&dyn Checker, &Budget) -> CheckResult + Sync,
    ) -> Vec<Judged> {
        let share = Budget {
            timeout: budget.timeout,
            max_bytes: budget.max_bytes / self.checkers.len().max(1),
        };
        let results: Vec<(f64, CheckResult)> = self
            .checkers
            .par_iter()
            .map(|c| {
                let start = Instant::now();
                let r = check(c.as_ref(), &share);
                (start.elapsed().as_secs_f64(), r)
            })
            .collect();
        let mut names: Vec<String> = Vec::new();
        self.checkers
            .iter()
            .zip(results)
            .map(|(c, (seconds, result))| {
                let base = c.name().to_string();
                let mut name = base.clone();
                let mut n = 1;
                while names.contains(&name) {
                    n += 1;
                    name = format!("{base}#{n}");
                }
                names.push(name.clone());
                Judged {
                    name,
                    informational: c.informational(),
                    seconds,
                    result,
                }
            })
            .collect()
    }
}

/// The merged verdict of judged results: the checkers that are not
/// informational. When every checker is informational (a user who asks for
/// `fifo-queue` alone wants its answer), it merges them all instead.
pub fn merged_verdict(judged: &[Judged]) -> Verdict {
    let all_informational = judged.iter().all(|j| j.informational);
    crate::verdict::merge_all(
        judged
            .iter()
            .filter(|j| all_informational || !j.informational)
            .map(|j| j.result.verdict),
    )
}

impl Checker for Compose {
    fn name(&self) -> &str {
        "compose"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        merged(self.check_each(history, budget))
    }

    fn check_prepared(&self, p: &Prepared, budget: &Budget) -> CheckResult {
        merged(self.check_each_prepared(p, budget))
    }
}

/// One result of a composition's results (see [`Compose`]).
fn merged(judged: Vec<Judged>) -> CheckResult {
    {
        let verdict = merged_verdict(&judged);
        let mut details = Map::new();
        let mut anomalies = Vec::new();
        for j in judged {
            for mut a in j.result.anomalies {
                a.part = if a.part.is_empty() {
                    j.name.clone()
                } else {
                    format!("{}.{}", j.name, a.part)
                };
                anomalies.push(a);
            }
            details.insert(j.name, j.result.details);
        }
        CheckResult {
            verdict,
            details: Value::Object(details),
            anomalies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checker that answers what it is told, or panics.
    struct Fixed {
        name: &'static str,
        verdict: Option<Verdict>,
        informational: bool,
    }

    impl Checker for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn informational(&self) -> bool {
            self.informational
        }
        fn check(&self, _: &History, _: &Budget) -> CheckResult {
            let Some(v) = self.verdict else {
                panic!("boom in {}", self.name)
            };
            CheckResult {
                verdict: v,
                details: json!({"checker": self.name, "verdict": v.as_str()}),
                anomalies: vec![Anomaly {
                    part: "x".into(),
                    what: "w".into(),
                    ops: vec![3],
                }],
            }
        }
    }

    fn fixed(name: &'static str, v: Option<Verdict>, informational: bool) -> Box<dyn Checker> {
        Box::new(Fixed {
            name,
            verdict: v,
            informational,
        })
    }

    #[test]
    fn a_panic_becomes_unknown_with_its_message() {
        let h = History::default();
        let r = Safe(Fixed {
            name: "p",
            verdict: None,
            informational: false,
        })
        .check(&h, &Budget::default());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.reason(), Some("the checker panicked: boom in p"));
        assert_eq!(r.details["checker"], "p");
    }

    /// Answers `unknown` without saying why.
    struct Silent;

    impl Checker for Silent {
        fn name(&self) -> &str {
            "silent"
        }
        fn check(&self, _: &History, _: &Budget) -> CheckResult {
            CheckResult {
                verdict: Verdict::Unknown,
                details: json!({"checker": "silent", "verdict": "unknown"}),
                anomalies: vec![],
            }
        }
    }

    #[test]
    fn an_unknown_past_the_budget_says_the_budget_ran_out() {
        let h = History::default();
        let spent = Budget {
            timeout: Some(Duration::ZERO),
            ..Budget::default()
        };
        let r = check_safe(&Silent, &h, &spent);
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.reason(), Some("the time budget of 0.0 s ran out"));
        let r = check_safe(&Silent, &h, &Budget::default());
        assert_eq!(r.reason(), Some("the checker gave no reason"));
    }

    #[test]
    fn compose_merges_and_keys_by_name() {
        use Verdict::*;
        let h = History::default();
        let b = Budget::default();
        let c = Compose::new(vec![
            fixed("a", Some(Valid), false),
            fixed("b", Some(Invalid), true),
            fixed("a", Some(Valid), false),
        ]);
        // The informational invalid does not count.
        let r = c.check(&h, &b);
        assert_eq!(r.verdict, Valid);
        assert_eq!(r.details["b"]["verdict"], "invalid");
        assert_eq!(r.details["a#2"]["checker"], "a");
        let parts: Vec<&str> = r.anomalies.iter().map(|a| a.part.as_str()).collect();
        assert_eq!(parts, ["a.x", "b.x", "a#2.x"]);
        // A panic is unknown, and an invalid beats it.
        let c = Compose::new(vec![
            fixed("a", Some(Valid), false),
            fixed("p", None, false),
        ]);
        assert_eq!(c.check(&h, &b).verdict, Unknown);
        let c = Compose::new(vec![
            fixed("p", None, false),
            fixed("i", Some(Invalid), false),
        ]);
        let each = c.check_each(&h, &b);
        assert_eq!(merged_verdict(&each), Invalid);
        assert_eq!(each[0].result.verdict, Unknown);
        assert_eq!(Compose::new(vec![]).check(&h, &b).verdict, Valid);
        // Informational checkers alone decide when nothing else is asked.
        let c = Compose::new(vec![
            fixed("b", Some(Invalid), true),
            fixed("c", Some(Valid), true),
        ]);
        assert_eq!(c.check(&h, &b).verdict, Invalid);
    }
}
