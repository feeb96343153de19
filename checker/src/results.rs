//! `results.json`: one typed schema for what a checked run concluded. The
//! harness writes it ([`RunResults::assemble`]); the report, the store
//! index and campaigns read it ([`RunResults::read`]). `docs/results-json.md`
//! documents every field.
//!
//! Where each checker's details go (the layout older readers expect):
//! - `workload`: the run's main checker, the first one that is not
//!   informational (the first one when all are);
//! - the top level: the first `consistency` checker's object, flattened in
//!   (`consistency`, `measures`, `witnesses`, `reasons`, `summary`, or
//!   `consistency-error` when it could not run);
//! - `checkers.<name>.details`: every other checker's (e.g. `fifo-queue`).
//!
//! `checkers` lists every checker with its `verdict`, `informational` and
//! `seconds`. Files written before it existed load with it empty (every
//! field added since has a default), and [`RunResults::verdicts`] then
//! falls back to `workload`.

use crate::checker::{merged_verdict, Judged};
use crate::consistency::{Measures, Witness};
use crate::history::History;
use crate::stats::OpStats;
use crate::verdict::Verdict;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// The merged verdict of the checkers that are not informational.
    #[serde(default = "unknown", deserialize_with = "lenient_verdict")]
    pub verdict: Verdict,
    /// The verdict in Jepsen's spelling: `true`, `false` or `"unknown"`.
    #[serde(default)]
    pub valid: Valid,
    /// When the earliest anomaly the checkers reported became observable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_anomaly: Option<FirstAnomaly>,
    #[serde(default)]
    pub run_dir: String,
    /// `true` when the run was cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<bool>,
    /// Why the history does not stand for a whole run (empty, cut off
    /// before its end marker, interrupted, no final reads): a history that
    /// is incomplete is never `valid`, at best `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    #[serde(default)]
    pub stats: OpStats,
    /// The main checker's details.
    #[serde(default)]
    pub workload: CheckerDetails,
    /// The consistency checker's object, flattened into the top level.
    #[serde(flatten)]
    pub consistency: ConsistencySection,
    /// Every checker by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checkers: BTreeMap<String, CheckerEntry>,
    /// Seconds the checks took.
    #[serde(default)]
    pub check_seconds: f64,
    /// Problems reading the history (e.g. a torn last line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// An invalid run's counterexample shrunk to a few ops
    /// (`crate::shrink`), written beside the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<ShrunkSummary>,
    /// Every invalid part of the run (each invalid key of a per-key
    /// checker, each anomaly kind of the others) and whether it was
    /// shrunk within the run's shrink budget; `shrunk` is the first of
    /// those shrunk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shrinks: Vec<ShrinkOutcome>,
    /// What the online check found while the run went on (the harness's
    /// `online.json`: keys checked, the first anomaly and when).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<Value>,
}

/// `results.json`'s `shrunk`: the small sub-history that is still invalid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShrunkSummary {
    /// The file, relative to the run directory (faultline JSONL; its
    /// `index` fields point into `history.jsonl`).
    pub file: String,
    pub ops_before: usize,
    pub ops_after: usize,
    pub checks: usize,
    pub seconds: f64,
    /// Removing any single op makes it valid (false: the time budget cut
    /// the search short).
    pub one_minimal: bool,
    /// The checker whose anomaly it keeps, the anomaly's kind, and the
    /// anomaly on the shrunk history in words.
    pub checker: String,
    #[serde(default)]
    pub part: String,
    pub what: String,
    /// The key the history was cut to (a per-key checker's anomaly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One invalid part of a run (`results.json`'s `shrinks`): shrunk, or why
/// not (the time budget ran out before it, or shrinking failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShrinkOutcome {
    pub checker: String,
    #[serde(default)]
    pub part: String,
    /// The key of a per-key checker's anomaly (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<ShrunkSummary>,
    /// Why it was not shrunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Default for RunResults {
    /// Nothing checked: verdict `unknown`.
    fn default() -> Self {
        RunResults {
            verdict: Verdict::Unknown,
            valid: Valid::default(),
            first_anomaly: None,
            run_dir: String::new(),
            interrupted: None,
            incomplete: None,
            stats: OpStats::default(),
            workload: CheckerDetails::default(),
            consistency: ConsistencySection::default(),
            checkers: BTreeMap::new(),
            check_seconds: 0.0,
            warnings: Vec::new(),
            shrunk: None,
            shrinks: Vec::new(),
            online: None,
        }
    }
}

fn unknown() -> Verdict {
    Verdict::Unknown
}

/// A verdict from its JSON spelling: `"valid"`/`true`, `"invalid"`/`false`,
/// `"unknown"`.
pub fn verdict_of(v: &Value) -> Option<Verdict> {
    match v {
        Value::Bool(true) => Some(Verdict::Valid),
        Value::Bool(false) => Some(Verdict::Invalid),
        Value::String(s) => match s.as_str() {
            "valid" | "true" => Some(Verdict::Valid),
            "invalid" | "false" => Some(Verdict::Invalid),
            "unknown" => Some(Verdict::Unknown),
            _ => None,
        },
        _ => None,
    }
}

/// Anything that is not a verdict reads as `unknown` (a file must not
/// become unreadable over one odd field).
fn lenient_verdict<'de, D: Deserializer<'de>>(d: D) -> Result<Verdict, D::Error> {
    Ok(verdict_of(&Value::deserialize(d)?).unwrap_or(Verdict::Unknown))
}

fn lenient_opt_verdict<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Verdict>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok((!v.is_null()).then(|| verdict_of(&v).unwrap_or(Verdict::Unknown)))
}

/// A string, or any other value as its JSON text.
fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        v => Some(v.to_string()),
    })
}

/// `valid` as Jepsen spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Valid {
    Known(bool),
    Other(String),
}

impl Default for Valid {
    fn default() -> Self {
        Valid::Other("unknown".into())
    }
}

impl From<Verdict> for Valid {
    fn from(v: Verdict) -> Valid {
        match v {
            Verdict::Valid => Valid::Known(true),
            Verdict::Invalid => Valid::Known(false),
            Verdict::Unknown => Valid::default(),
        }
    }
}

/// `first_anomaly`: when the earliest anomaly the checkers reported became
/// observable.
///
/// Each [`crate::checker::Anomaly`] names the history indices of its ops.
/// Its moment is the invocation time of its latest op (the greatest
/// index): only then was everything that shows it in the history.
/// `first_anomaly` is the anomaly with the earliest moment (ties: the
/// smaller index, then the order the checkers were given in). Anomalies
/// whose latest op has no time are skipped.
///
/// It is an upper bound on when the first anomaly happened, not the time
/// itself: the checkers report a few witnesses each, not every anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstAnomaly {
    /// Seconds from the history's first event to the latest op's
    /// invocation (millisecond precision).
    pub seconds: f64,
    /// History index of that invocation (the timeline's `#op-<index>`).
    pub index: u64,
    /// What the anomaly shows, for people.
    #[serde(default)]
    pub what: String,
    /// Which checker reported it: its name, then `.part` when the anomaly
    /// is one part of its result (`total-queue.lost`,
    /// `consistency.monotonic-reads`).
    #[serde(default)]
    pub source: String,
}

/// The earliest anomaly of judged results (see [`FirstAnomaly`]).
pub fn first_anomaly(judged: &[Judged], history: &History) -> Option<FirstAnomaly> {
    let times: HashMap<u64, i64> = history
        .events
        .iter()
        .filter_map(|e| e.time.map(|t| (e.index, t)))
        .collect();
    let t0 = history.events.first().and_then(|e| e.time).unwrap_or(0);
    let mut best: Option<(i64, u64, String, String)> = None;
    for j in judged {
        for a in &j.result.anomalies {
            let Some(latest) = a.ops.iter().copied().max() else {
                continue;
            };
            let Some(&t) = times.get(&latest) else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(bt, bi, _, _)| (t, latest) < (*bt, *bi))
            {
                let source = if a.part.is_empty() {
                    j.name.clone()
                } else {
                    format!("{}.{}", j.name, a.part)
                };
                best = Some((t, latest, a.what.clone(), source));
            }
        }
    }
    best.map(|(t, index, what, source)| FirstAnomaly {
        seconds: ((t - t0).max(0) as f64 / 1e6).round() / 1e3,
        index,
        what,
        source,
    })
}

/// A checker's details as `results.json` keeps them: the fields every
/// checker has, typed, and the rest as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckerDetails {
    /// The checker's name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub checker: Option<String>,
    /// The model, for linearizability.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub model: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_verdict"
    )]
    pub verdict: Option<Verdict>,
    /// One line for people.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub summary: Option<String>,
    /// Why the verdict is unknown.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub reason: Option<String>,
    /// Why the checker could not run (bad input, a panic).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub error: Option<String>,
    /// Everything else, checker-specific (documented per checker in
    /// [`crate::checkers`]).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl CheckerDetails {
    /// Reads a checker's details object (anything else goes to `rest` as
    /// `details`).
    pub fn from_value(v: Value) -> CheckerDetails {
        match v {
            Value::Object(m) => {
                serde_json::from_value(Value::Object(m.clone())).unwrap_or(CheckerDetails {
                    rest: m,
                    ..Default::default()
                })
            }
            Value::Null => CheckerDetails::default(),
            other => {
                let mut rest = Map::new();
                rest.insert("details".into(), other);
                CheckerDetails {
                    rest,
                    ..Default::default()
                }
            }
        }
    }

    /// A checker-specific field.
    pub fn get(&self, field: &str) -> &Value {
        self.rest.get(field).unwrap_or(&Value::Null)
    }

    /// Why the verdict is unknown: `reason`, else `error`.
    pub fn why(&self) -> Option<&str> {
        self.reason.as_deref().or(self.error.as_deref())
    }

    /// The whole object as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The consistency checker's object, flattened into `results.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsistencySection {
    /// Model key (`linearizable`, `pram`, ...) -> verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<BTreeMap<String, Verdict>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<Measures>,
    /// Model key -> the witness that refutes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<BTreeMap<String, Witness>>,
    /// Model key -> why it is unknown, or that it was implied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why the consistency checks could not run.
    #[serde(
        rename = "consistency-error",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<String>,
}

impl ConsistencySection {
    /// From the consistency checker's details; a checker that could not
    /// run (its `error` or `reason`, no `consistency`) gives `error`.
    pub fn from_details(v: &Value) -> ConsistencySection {
        let mut s: ConsistencySection = serde_json::from_value(v.clone()).unwrap_or_default();
        if s.consistency.is_none() && s.error.is_none() {
            let why = v
                .get("error")
                .or_else(|| v.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or("the consistency checker gave no result");
            s.error = Some(why.to_string());
        }
        s
    }

    /// Whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        *self == ConsistencySection::default()
    }

    /// A model's verdict (`None` when the model is not listed).
    pub fn verdict(&self, model_key: &str) -> Option<Verdict> {
        self.consistency.as_ref()?.get(model_key).copied()
    }
}

/// One checker of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckerEntry {
    #[serde(default = "unknown", deserialize_with = "lenient_verdict")]
    pub verdict: Verdict,
    /// Its verdict does not count towards the run's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub informational: bool,
    #[serde(default)]
    pub seconds: f64,
    /// Its details, when they are not in `workload` or the top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Why `results.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: line {}, column {}: {source}", path.display(), source.line(), source.column())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Whether a checker name is the consistency checker's (`consistency`,
/// `consistency#2`, `consistency:sequential`).
fn is_consistency(name: &str) -> bool {
    name.split(['#', ':']).next() == Some("consistency")
}

impl RunResults {
    /// `results.json` for judged results over `history`.
    pub fn assemble(
        judged: Vec<Judged>,
        history: &History,
        run_dir: &str,
        interrupted: Option<bool>,
        check_seconds: f64,
    ) -> RunResults {
        let verdict = merged_verdict(&judged);
        let first_anomaly = first_anomaly(&judged, history);
        let main = judged
            .iter()
            .position(|j| !j.informational)
            .or((!judged.is_empty()).then_some(0));
        let cons = judged.iter().position(|j| is_consistency(&j.name));
        let mut out = RunResults {
            verdict,
            valid: verdict.into(),
            first_anomaly,
            run_dir: run_dir.to_string(),
            interrupted,
            stats: OpStats::of(history),
            check_seconds,
            warnings: history.warnings.clone(),
            ..Default::default()
        };
        for (i, j) in judged.into_iter().enumerate() {
            let mut entry = CheckerEntry {
                verdict: j.result.verdict,
                informational: j.informational,
                seconds: (j.seconds * 1e3).round() / 1e3,
                details: None,
            };
            if Some(i) == main {
                out.workload = CheckerDetails::from_value(j.result.details);
            } else if Some(i) == cons {
                out.consistency = ConsistencySection::from_details(&j.result.details);
            } else {
                entry.details = Some(j.result.details);
            }
            out.checkers.insert(j.name, entry);
        }
        out
    }

    /// Marks the results incomplete for `why`: a `valid` verdict becomes
    /// `unknown` (an anomaly found in part of a run is still an anomaly).
    pub fn mark_incomplete(&mut self, why: String) {
        if self.verdict == Verdict::Valid {
            self.verdict = Verdict::Unknown;
            self.valid = self.verdict.into();
        }
        self.incomplete = Some(why);
    }

    /// Parses `results.json` text.
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<RunResults> {
        serde_json::from_slice(bytes)
    }

    /// Reads a `results.json`.
    pub fn read(path: &Path) -> Result<RunResults, ResultsError> {
        let bytes = std::fs::read(path).map_err(|source| ResultsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_slice(&bytes).map_err(|source| ResultsError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes it as pretty JSON with a final newline.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into()) + "\n"
    }

    /// The details of checker `name`, wherever they are kept (for files
    /// from before `checkers`, the informational fifo-queue pass is found
    /// at its old place, `workload.fifo_linearizable`).
    pub fn details(&self, name: &str) -> Option<Value> {
        if let Some(d) = self.checkers.get(name).and_then(|e| e.details.clone()) {
            return Some(d);
        }
        if self.workload.checker.as_deref() == Some(name) {
            return Some(self.workload.to_value());
        }
        if name == "fifo-queue" {
            return self
                .workload
                .rest
                .get("fifo_linearizable")
                .filter(|v| v.is_object())
                .cloned();
        }
        None
    }

    /// Each checker's name, verdict and whether it is informational, main
    /// checker first. Without `checkers` (older files): the `workload`
    /// checker, and the fifo-queue pass when there is one.
    pub fn verdicts(&self) -> Vec<(String, Verdict, bool)> {
        let main = self.workload.checker.clone();
        let label = |n: &str| match (&main, &self.workload.model) {
            (Some(m), Some(model)) if m == n => format!("{n} ({model})"),
            _ => n.to_string(),
        };
        if !self.checkers.is_empty() {
            let mut v: Vec<(String, Verdict, bool)> = self
                .checkers
                .iter()
                .map(|(n, e)| (label(n), e.verdict, e.informational))
                .collect();
            // Main checker first, then the others in name order.
            if let Some(m) = &main {
                if let Some(i) = v.iter().position(|x| x.0 == label(m)) {
                    let x = v.remove(i);
                    v.insert(0, x);
                }
            }
            return v;
        }
        let mut v = Vec::new();
        if main.is_some() || self.workload.verdict.is_some() {
            let n = main.clone().unwrap_or_else(|| "workload".into());
            v.push((
                label(&n),
                self.workload.verdict.unwrap_or(Verdict::Unknown),
                false,
            ));
        }
        if let Some(f) = self.details("fifo-queue") {
            let vd = verdict_of(&f["verdict"]).unwrap_or(Verdict::Unknown);
            v.push(("fifo-queue".into(), vd, true));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{Anomaly, CheckResult};
    use serde_json::json;

    fn judged(name: &str, v: Verdict, informational: bool, anomalies: Vec<Anomaly>) -> Judged {
        Judged {
            name: name.into(),
            informational,
            seconds: 0.5,
            result: CheckResult {
                verdict: v,
                details: json!({"checker": name, "verdict": v.as_str(), "model": "m"}),
                anomalies,
            },
        }
    }

    fn anomaly(part: &str, ops: &[u64]) -> Anomaly {
        Anomaly {
            part: part.into(),
            what: format!("{part} happened"),
            ops: ops.to_vec(),
        }
    }

    /// Index `i` happens at 1 s + `i` × 100 ms.
    fn history(n: u64) -> History {
        let mut h = History::default();
        for i in 0..n {
            let mut e = crate::Event::new(0, crate::EventType::Invoke, "x", Value::Null);
            e.index = i;
            e.time = Some(1_000_000_000 + i as i64 * 100_000_000);
            h.events.push(e);
        }
        h
    }

    #[test]
    fn the_earliest_latest_op_wins_and_sources_name_the_checker() {
        let h = history(60);
        let j = vec![
            judged(
                "linearizability",
                Verdict::Invalid,
                false,
                vec![anomaly("", &[40, 12, 50])],
            ),
            judged(
                "consistency",
                Verdict::Invalid,
                true,
                vec![
                    anomaly("linearizable", &[45, 3]),
                    anomaly("monotonic-reads", &[27, 8]),
                ],
            ),
        ];
        let a = first_anomaly(&j, &h).unwrap();
        assert_eq!(
            a,
            FirstAnomaly {
                seconds: 2.7,
                index: 27,
                what: "monotonic-reads happened".into(),
                source: "consistency.monotonic-reads".into()
            }
        );
        // Without the consistency checker, the counterexample's latest op.
        let a = first_anomaly(&j[..1], &h).unwrap();
        assert_eq!(
            (a.index, a.seconds, a.source.as_str()),
            (50, 5.0, "linearizability")
        );
        // No ops, or ops without times: nothing.
        let none = vec![judged(
            "x",
            Verdict::Invalid,
            false,
            vec![anomaly("p", &[]), anomaly("q", &[99])],
        )];
        assert_eq!(first_anomaly(&none, &h), None);
    }

    #[test]
    fn assemble_places_details_and_round_trips() {
        let h = history(10);
        let cons = Judged {
            result: CheckResult {
                verdict: Verdict::Valid,
                details: json!({"checker": "consistency", "verdict": "valid",
                    "consistency": {"linearizable": "valid", "pram": "valid"},
                    "measures": {"stale-reads": 0, "max-staleness-ms": 0.0, "lost-writes": 0, "converged": true},
                    "witnesses": {}, "reasons": {"pram": "implied: linearizable"}, "summary": "linearizable"}),
                anomalies: vec![],
            },
            ..judged("consistency", Verdict::Valid, true, vec![])
        };
        let j = vec![
            judged("fifo-queue", Verdict::Invalid, true, vec![]),
            judged("total-queue", Verdict::Valid, false, vec![]),
            cons,
        ];
        let r = RunResults::assemble(j, &h, "/r", Some(false), 1.25);
        assert_eq!(r.verdict, Verdict::Valid);
        assert_eq!(r.valid, Valid::Known(true));
        assert_eq!(r.workload.checker.as_deref(), Some("total-queue"));
        assert_eq!(r.consistency.verdict("pram"), Some(Verdict::Valid));
        assert_eq!(
            r.consistency.measures.as_ref().unwrap().converged,
            Some(true)
        );
        assert_eq!(r.details("fifo-queue").unwrap()["verdict"], "invalid");
        assert!(r.checkers["total-queue"].details.is_none());
        assert_eq!(
            r.verdicts(),
            vec![
                ("total-queue (m)".to_string(), Verdict::Valid, false),
                ("consistency".to_string(), Verdict::Valid, true),
                ("fifo-queue".to_string(), Verdict::Invalid, true),
            ]
        );
        let text = r.to_json_pretty();
        let v: Value = serde_json::from_str(&text).unwrap();
        // The consistency object is at the top level, as before.
        assert_eq!(v["consistency"]["linearizable"], "valid");
        assert_eq!(v["summary"], "linearizable");
        assert_eq!(v["workload"]["checker"], "total-queue");
        assert_eq!(v["valid"], true);
        assert!(v.get("checker").is_none(), "no stray flattened fields");
        let back = RunResults::from_slice(text.as_bytes()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_consistency_checker_that_failed_gives_consistency_error() {
        let h = history(2);
        let mut c = judged("consistency", Verdict::Unknown, true, vec![]);
        c.result.details =
            json!({"checker": "consistency", "verdict": "unknown", "error": "t:3: bad"});
        let j = vec![judged("linearizability", Verdict::Valid, false, vec![]), c];
        let r = RunResults::assemble(j, &h, "", None, 0.0);
        assert_eq!(r.consistency.error.as_deref(), Some("t:3: bad"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["consistency-error"], "t:3: bad");
        assert_eq!(v["verdict"], "valid");
    }

    #[test]
    fn old_and_odd_files_still_load() {
        // A results.json from before `checkers`, with the fifo pass inside
        // `workload`.
        let old = json!({
            "verdict": "valid", "valid": true, "run_dir": "/x",
            "stats": {"ops": 4, "ok": 4, "fail": 0, "info": 0, "by_f": {}, "nemesis": {},
                      "seconds": 1.0, "ops_per_sec": 4.0},
            "workload": {"checker": "total-queue", "verdict": "valid", "delivery": "at-least-once",
                         "fifo_linearizable": {"verdict": "invalid", "checked_queues": 1}},
            "check_seconds": 0.1
        });
        let r: RunResults = serde_json::from_value(old).unwrap();
        assert_eq!(r.stats.ops, 4);
        assert_eq!(r.workload.get("delivery"), "at-least-once");
        assert!(r.checkers.is_empty() && r.consistency.is_empty());
        assert_eq!(
            r.verdicts(),
            vec![
                ("total-queue".to_string(), Verdict::Valid, false),
                ("fifo-queue".to_string(), Verdict::Invalid, true)
            ]
        );
        // Hand-written: an unknown verdict word, a witness op without a
        // status, no stats at all.
        let odd = json!({"verdict": "<b>", "workload": {"checker": 7, "verdict": "maybe"},
            "consistency": {"sequential": "invalid"},
            "witnesses": {"sequential": {"explanation": "x", "ops": [{"index": 42, "process": 3}]}}});
        let r: RunResults = serde_json::from_value(odd).unwrap();
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.workload.checker.as_deref(), Some("7"));
        assert_eq!(r.workload.verdict, Some(Verdict::Unknown));
        assert_eq!(
            r.consistency.witnesses.unwrap()["sequential"].ops[0].index,
            42
        );
        // Not JSON: the error names the place.
        let e = RunResults::from_slice(b"{\n\"verdict\": }").unwrap_err();
        assert_eq!(e.line(), 2);
    }
}
