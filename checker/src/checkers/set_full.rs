//! The `set-full` checker: Jepsen's `set-full` (`jepsen.checker/set-full`).
//!
//! # The history
//!
//! `add` ops add one element (their value); `read` ops return every element
//! present (their `ok` completion's value: a set or a vector).
//!
//! # What it checks
//!
//! Each element's timeline, from its add's invocation on. Only reads that
//! complete after the add was invoked say anything about it.
//!
//! - It is **known** once its add completes `ok` or a read that shows it
//!   completes, whichever comes first.
//! - It is **stable** when some read shows it and every read that shows it
//!   not was invoked before the last read that shows it was.
//! - It is **lost** when it is known, and the last read that misses it was
//!   invoked after it was known and after the last read that shows it.
//!   (A read that misses it while concurrent with its add may have happened
//!   before the add, so it does not make it lost.)
//! - Otherwise it was **never read**.
//! - A stable element is **stale** when a read invoked after it was known
//!   still missed it; its *stable latency* is the time from when it was
//!   known to just after that read began.
//!
//! The history is invalid when an element is lost, when a read shows an
//! element more than once (`duplicated`), or, with `linearizable`
//! (Jepsen's `:linearizable?`), when an element is stale. Otherwise it is
//! `unknown` when no element is stable (nothing was added, or no read came
//! late enough to say), else valid.
//!
//! Histories of Jepsen `independent` tuples (`[key value]`, read into keyed
//! ops) are checked key by key: a read of key `k` speaks of the elements
//! added to `k`.
//!
//! # Where it departs from Jepsen
//!
//! - A read that shows an element no add ever tried to add (or whose adds
//!   all failed) is reported in `unexpected` and makes the history invalid
//!   (Jepsen's set-full ignores such elements; its `set` checker calls them
//!   unexpected). An element whose add failed is still followed like any
//!   other (as in Jepsen) besides being unexpected when read.
//! - Stale is decided by order, exactly as defined above, not by Jepsen's
//!   whole-millisecond latency (which calls a sub-millisecond stale read
//!   fresh); latencies are reported in milliseconds with fractions, `null`
//!   when the history has no times.
//! - An element added twice is tracked from its first add.
//! - An add without an element, or a read whose value is not a collection,
//!   is an input error naming its line and field; ops other than `add` and
//!   `read` are counted in `ignored`.
//!
//! # Prefix mode
//!
//! Online, the history is a prefix of one still being written (ops open at
//! the cut have no completion), and only what no later event can undo is
//! judged:
//!
//! - `duplicated`: a read that shows an element twice does so in the whole.
//! - with `linearizable`, an element a read invoked after it was known
//!   missed (called `stale` here): in the whole history that read is still
//!   there and still after the element was known, so the element ends
//!   either stable and stale, or lost; invalid either way.
//! - `lost` is off: a later read may show the element again (then it is
//!   stable, and only stale). `unexpected` is off too: an add of the
//!   element still open at the cut may yet succeed.
//!
//! # Details
//!
//! `checker`, `verdict`, `summary`, `linearizable`, `attempt-count`,
//! `read-count`, `stable-count`, `lost-count`, `lost`, `never-read-count`,
//! `never-read`, `stale-count`, `stale`, `worst-stale` (the 8 stale elements
//! with the longest stable latency: `element`, `key`, `stable-latency`,
//! `known-index`, `last-absent-index`), `stable-latencies` and
//! `lost-latencies` (quantiles 0, 0.5, 0.95, 0.99, 1 in ms),
//! `duplicated-count`, `duplicated` (element -> most copies in one read),
//! `unexpected-count`, `unexpected`, `ignored`. In a keyed history the
//! elements in these lists are `[key, element]`. Anomalies: each lost,
//! duplicated and unexpected element, and each stale one with
//! `linearizable` (the first [`MAX_LISTED`] of each).

use super::jepsen::{
    deadline, f_of, ignored_by_f, input_unknown, key_text, op_error, out_of_time, quantiles, shown,
};
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::history::{History, InputError, Operation, Status};
use crate::verdict::Verdict;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// How many anomalies of each kind are named.
pub const MAX_LISTED: usize = 100;

/// How many stale elements `worst-stale` shows (as Jepsen).
const WORST_STALE: usize = 8;

/// Jepsen's set-full checker (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct SetFull {
    /// Stale elements make the history invalid.
    pub linearizable: bool,
    /// Prefix mode (the online check; see the module documentation).
    pub prefix: bool,
}

/// A point in the history: an event position with its index and time.
#[derive(Debug, Clone, Copy)]
struct At {
    pos: usize,
    index: u64,
    time: Option<i64>,
}

/// One element's timeline.
struct Element<'a> {
    key: Option<String>,
    value: &'a Value,
    /// The add that created it.
    add: &'a Operation,
    /// Completion of its ok add or of the first read that showed it.
    known: Option<At>,
    /// Invocation of the last read that showed it / missed it.
    last_present: Option<At>,
    last_absent: Option<At>,
}

enum Outcome {
    Stable,
    Lost,
    NeverRead,
}

impl Element<'_> {
    fn outcome(&self) -> Outcome {
        let before = |a: Option<At>, b: Option<At>| match (a, b) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => a.pos < b.pos,
            _ => false,
        };
        if self.last_present.is_some() && before(self.last_absent, self.last_present) {
            Outcome::Stable
        } else if self.known.is_some()
            && self.last_absent.is_some()
            && before(self.last_present, self.last_absent)
            && before(self.known, self.last_absent)
        {
            Outcome::Lost
        } else {
            Outcome::NeverRead
        }
    }

    /// Stable and missed by a read invoked after it was known.
    fn stale(&self) -> bool {
        matches!(self.outcome(), Outcome::Stable) && self.missed_after_known()
    }

    /// Missed by a read invoked after it was known.
    fn missed_after_known(&self) -> bool {
        matches!((self.known, self.last_absent), (Some(k), Some(a)) if k.pos < a.pos)
    }

    /// Milliseconds from when it was known to just after `to` (or 0 when
    /// there is no `to`), at least 0; `None` without times.
    fn latency(&self, to: Option<At>) -> Option<f64> {
        let known = self.known?.time?;
        let Some(to) = to else { return Some(0.0) };
        let t = to.time?;
        Some(((t + 1 - known).max(0)) as f64 / 1e6)
    }

    /// The element as reported: its value, or `[key, value]` when keyed.
    fn shown(&self) -> Value {
        match &self.key {
            Some(k) => json!([k, self.value]),
            None => self.value.clone(),
        }
    }
}

/// An element's identity: an integer as it is, anything else by its JSON
/// text (so `1` and `1.0` are different elements).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Elem {
    Int(i64),
    Text(String),
}

impl Elem {
    fn of(v: &Value) -> Elem {
        match v.as_i64() {
            Some(i) => Elem::Int(i),
            None => Elem::Text(v.to_string()),
        }
    }
}

/// Orders values for reports: numbers by value, then everything else by
/// its JSON text.
fn order(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The element an add adds: its invocation's value, else its completion's.
fn element_of(op: &Operation) -> &Value {
    if op.input.is_null() {
        &op.output
    } else {
        &op.input
    }
}

fn sorted(mut v: Vec<Value>) -> Value {
    v.sort_by(order);
    Value::Array(v)
}

impl SetFull {
    /// Checks paired operations; `source` names the file in input errors.
    pub fn run(&self, source: &str, ops: &[Operation]) -> Result<CheckResult, InputError> {
        self.run_within(source, ops, None)
    }

    /// [`SetFull::run`], giving up with `unknown` at `deadline`.
    pub fn run_within(
        &self,
        source: &str,
        ops: &[Operation],
        deadline: Option<Instant>,
    ) -> Result<CheckResult, InputError> {
        let start = Instant::now();
        // Actions in history order: (event position, op, what).
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Act {
            AddInvoke,
            AddOk,
            Read,
        }
        let mut acts: Vec<(usize, Act, &Operation)> = Vec::new();
        let mut ignored = Vec::new();
        let mut reads = 0usize;
        for op in ops {
            match f_of(op) {
                "add" => {
                    let v = if op.input.is_null() {
                        &op.output
                    } else {
                        &op.input
                    };
                    if v.is_null() {
                        return Err(op_error(
                            source,
                            op,
                            false,
                            "value",
                            "an add must carry the element it adds, found nil",
                        ));
                    }
                    acts.push((op.call, Act::AddInvoke, op));
                    if let (Status::Ok, Some(ret)) = (op.status, op.ret) {
                        acts.push((ret, Act::AddOk, op));
                    }
                }
                "read" => {
                    if let (Status::Ok, Some(ret)) = (op.status, op.ret) {
                        if !op.output.is_array() {
                            return Err(op_error(
                                source,
                                op,
                                true,
                                "value",
                                format!(
                                    "a set read's value must be a set or vector of elements, found {}",
                                    shown(&op.output)
                                ),
                            ));
                        }
                        reads += 1;
                        acts.push((ret, Act::Read, op));
                    }
                }
                _ => ignored.push(op),
            }
        }
        acts.sort_by_key(|&(pos, act, _)| (pos, act));

        let key_of = |op: &Operation| op.key.as_ref().map(key_text);
        let mut elements: Vec<Element> = Vec::new();
        // By key: each element's position in `elements`.
        let mut by_id: HashMap<Option<String>, HashMap<Elem, usize>> = HashMap::new();
        let mut by_key: HashMap<Option<String>, Vec<usize>> = HashMap::new();
        // Elements some add tried (not failed): for `unexpected`.
        let mut attempted: HashMap<Option<String>, HashMap<Elem, bool>> = HashMap::new();
        for op in ops.iter().filter(|op| f_of(op) == "add") {
            *attempted
                .entry(key_of(op))
                .or_default()
                .entry(Elem::of(element_of(op)))
                .or_default() |= op.status != Status::Fail;
        }
        let no_elems = HashMap::new();
        let no_attempts = HashMap::new();
        let mut duplicated: BTreeMap<String, (Value, usize, u64)> = BTreeMap::new();
        let mut unexpected: BTreeMap<String, (Value, u64)> = BTreeMap::new();
        // stamp[e] == read number + 1: the read being processed shows e.
        let mut stamp: Vec<usize> = Vec::new();
        let mut read_no = 0usize;

        for (pos, act, op) in acts {
            let key = key_of(op);
            match act {
                Act::AddInvoke => {
                    let v = element_of(op);
                    let ids = by_id.entry(key.clone()).or_default();
                    let id = Elem::of(v);
                    if ids.contains_key(&id) {
                        continue;
                    }
                    ids.insert(id, elements.len());
                    by_key.entry(key.clone()).or_default().push(elements.len());
                    stamp.push(0);
                    elements.push(Element {
                        key,
                        value: v,
                        add: op,
                        known: None,
                        last_present: None,
                        last_absent: None,
                    });
                }
                Act::AddOk => {
                    let ids = by_id.get(&key).unwrap_or(&no_elems);
                    if let Some(&e) = ids.get(&Elem::of(element_of(op))) {
                        let el = &mut elements[e];
                        el.known = el.known.or(Some(At {
                            pos,
                            index: op.complete_index.unwrap_or(op.invoke_index),
                            time: op.complete_time,
                        }));
                    }
                }
                Act::Read => {
                    read_no += 1;
                    if read_no.is_multiple_of(64) && deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(out_of_time(
                            "set-full",
                            start.elapsed().as_secs_f64(),
                            format!("{} of {reads} ok reads", read_no - 1),
                        ));
                    }
                    let done = At {
                        pos,
                        index: op.complete_index.unwrap_or(op.invoke_index),
                        time: op.complete_time,
                    };
                    let began = At {
                        pos: op.call,
                        index: op.invoke_index,
                        time: op.invoke_time,
                    };
                    let items = op.output.as_array().map(Vec::as_slice).unwrap_or_default();
                    let mut copies: HashMap<Elem, (usize, &Value)> = HashMap::new();
                    for item in items {
                        copies.entry(Elem::of(item)).or_insert((0, item)).0 += 1;
                    }
                    let ids = by_id.get(&key).unwrap_or(&no_elems);
                    let tried = attempted.get(&key).unwrap_or(&no_attempts);
                    for (id, (n, item)) in copies {
                        let shown_id = || match &key {
                            Some(k) => json!([k, item]),
                            None => item.clone(),
                        };
                        if n > 1 {
                            let shown_id = shown_id();
                            let d = duplicated.entry(shown_id.to_string()).or_insert((
                                shown_id.clone(),
                                n,
                                op.invoke_index,
                            ));
                            if n > d.1 {
                                *d = (shown_id.clone(), n, op.invoke_index);
                            }
                        }
                        if !tried.get(&id).copied().unwrap_or(false) {
                            // Still followed like any element when a
                            // (failed) add created it, as in Jepsen.
                            let shown_id = shown_id();
                            unexpected
                                .entry(shown_id.to_string())
                                .or_insert((shown_id, op.invoke_index));
                        }
                        if let Some(&e) = ids.get(&id) {
                            stamp[e] = read_no;
                            let el = &mut elements[e];
                            el.known = el.known.or(Some(done));
                            if el.last_present.is_none_or(|p| p.pos < began.pos) {
                                el.last_present = Some(began);
                            }
                        }
                    }
                    for &e in by_key.get(&key).map(Vec::as_slice).unwrap_or_default() {
                        if stamp[e] != read_no {
                            let el = &mut elements[e];
                            if el.last_absent.is_none_or(|a| a.pos < began.pos) {
                                el.last_absent = Some(began);
                            }
                        }
                    }
                }
            }
        }
        Ok(self.judge(&elements, reads, duplicated, unexpected, ignored))
    }

    fn judge(
        &self,
        elements: &[Element],
        reads: usize,
        duplicated: BTreeMap<String, (Value, usize, u64)>,
        unexpected: BTreeMap<String, (Value, u64)>,
        ignored: Vec<&Operation>,
    ) -> CheckResult {
        let (mut stable, mut lost, mut never) = (Vec::new(), Vec::new(), Vec::new());
        for e in elements {
            match e.outcome() {
                Outcome::Stable => stable.push(e),
                Outcome::Lost => lost.push(e),
                Outcome::NeverRead => never.push(e),
            }
        }
        let mut stale: Vec<&Element> = if self.prefix {
            // Missed after known: stale or lost in the whole (see above).
            elements.iter().filter(|e| e.missed_after_known()).collect()
        } else {
            stable.iter().copied().filter(|e| e.stale()).collect()
        };
        if self.prefix {
            // Not settled yet: counted with the elements never read.
            never.append(&mut lost);
        }
        let unexpected = if self.prefix {
            BTreeMap::new()
        } else {
            unexpected
        };
        stale.sort_by(|a, b| {
            let la = a.latency(a.last_absent).unwrap_or(0.0);
            let lb = b.latency(b.last_absent).unwrap_or(0.0);
            lb.total_cmp(&la)
                .then_with(|| a.add.invoke_index.cmp(&b.add.invoke_index))
        });
        let stable_lat: Vec<f64> = stable
            .iter()
            .filter_map(|e| e.latency(e.last_absent))
            .collect();
        let lost_lat: Vec<f64> = lost
            .iter()
            .filter_map(|e| e.latency(e.last_present))
            .collect();
        let invalid = !lost.is_empty()
            || !duplicated.is_empty()
            || !unexpected.is_empty()
            || (self.linearizable && !stale.is_empty());
        let verdict = if invalid {
            Verdict::Invalid
        } else if stable.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let list = |v: &[&Element]| sorted(v.iter().map(|e| e.shown()).collect());
        let worst: Vec<Value> = stale
            .iter()
            .take(WORST_STALE)
            .map(|e| {
                json!({
                    "element": e.value,
                    "key": e.key,
                    "stable-latency": e.latency(e.last_absent),
                    "known-index": e.known.map(|k| k.index),
                    "last-absent-index": e.last_absent.map(|a| a.index),
                })
            })
            .collect();
        let mut problems = Vec::new();
        for (n, what) in [
            (lost.len(), "lost"),
            (duplicated.len(), "duplicated"),
            (unexpected.len(), "unexpected"),
        ] {
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        }
        if self.linearizable && !stale.is_empty() {
            problems.push(format!("{} stale (linearizable)", stale.len()));
        }
        let counts = format!(
            "{} attempted, {} stable, {} lost, {} never read, {} stale",
            elements.len(),
            stable.len(),
            lost.len(),
            never.len(),
            stale.len()
        );
        let summary = match verdict {
            Verdict::Invalid => format!("invalid: {}; {counts}", problems.join(", ")),
            Verdict::Unknown => {
                format!("unknown: no element is stable (no read came late enough); {counts}")
            }
            Verdict::Valid => format!("valid: {counts}"),
        };
        let mut d = Map::new();
        d.insert("checker".into(), json!("set-full"));
        d.insert("verdict".into(), json!(verdict.as_str()));
        d.insert("summary".into(), json!(summary));
        if verdict == Verdict::Unknown {
            d.insert(
                "reason".into(),
                json!("no element is stable: nothing was added, or no read came late enough to see it"),
            );
        }
        d.insert("linearizable".into(), json!(self.linearizable));
        if self.prefix {
            d.insert("prefix".into(), json!(true));
        }
        d.insert("attempt-count".into(), json!(elements.len()));
        d.insert("read-count".into(), json!(reads));
        d.insert("stable-count".into(), json!(stable.len()));
        d.insert("lost-count".into(), json!(lost.len()));
        d.insert("lost".into(), list(&lost));
        d.insert("never-read-count".into(), json!(never.len()));
        d.insert("never-read".into(), list(&never));
        d.insert("stale-count".into(), json!(stale.len()));
        d.insert("stale".into(), list(&stale));
        d.insert("worst-stale".into(), Value::Array(worst));
        d.insert("stable-latencies".into(), quantiles(&stable_lat));
        d.insert("lost-latencies".into(), quantiles(&lost_lat));
        d.insert("duplicated-count".into(), json!(duplicated.len()));
        d.insert(
            "duplicated".into(),
            Value::Object(
                duplicated
                    .values()
                    .map(|(v, n, _)| (super::text(v), json!(n)))
                    .collect(),
            ),
        );
        d.insert("unexpected-count".into(), json!(unexpected.len()));
        d.insert(
            "unexpected".into(),
            sorted(unexpected.values().map(|(v, _)| v.clone()).collect()),
        );
        d.insert("ignored".into(), ignored_by_f(ignored.into_iter()));

        let mut anomalies = Vec::new();
        for e in lost.iter().take(MAX_LISTED) {
            let mut ops = vec![e.add.invoke_index];
            ops.extend(e.last_absent.map(|a| a.index));
            anomalies.push(Anomaly {
                part: "lost".into(),
                what: format!(
                    "lost: element {} was known at index {} but the read invoked at index {} and every later one missed it",
                    e.shown(),
                    e.known.map_or(0, |k| k.index),
                    e.last_absent.map_or(0, |a| a.index)
                ),
                ops,
            });
        }
        for (v, n, read) in duplicated.values().take(MAX_LISTED) {
            anomalies.push(Anomaly {
                part: "duplicated".into(),
                what: format!(
                    "duplicated: a read shows element {} {n} times",
                    super::text(v)
                ),
                ops: vec![*read],
            });
        }
        for (v, read) in unexpected.values().take(MAX_LISTED) {
            anomalies.push(Anomaly {
                part: "unexpected".into(),
                what: format!(
                    "unexpected: a read shows element {v}, which no add (that did not fail) added"
                ),
                ops: vec![*read],
            });
        }
        if self.linearizable {
            for e in stale.iter().take(MAX_LISTED) {
                let mut ops = vec![e.add.invoke_index];
                ops.extend(e.last_absent.map(|a| a.index));
                anomalies.push(Anomaly {
                    part: "stale".into(),
                    what: format!(
                        "stale: element {} was known at index {} but the read invoked at index {} missed it",
                        e.shown(),
                        e.known.map_or(0, |k| k.index),
                        e.last_absent.map_or(0, |a| a.index)
                    ),
                    ops,
                });
            }
        }
        CheckResult {
            verdict,
            details: Value::Object(d),
            anomalies,
        }
    }
}

impl Checker for SetFull {
    fn name(&self) -> &str {
        "set-full"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        let deadline = deadline(budget);
        match history
            .operations()
            .and_then(|ops| self.run_within(&history.source, &ops, deadline))
        {
            Ok(r) => r,
            Err(e) => input_unknown("set-full", e),
        }
    }
}
