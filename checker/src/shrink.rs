//! Shrinking a failing history to a few operations that still fail.
//!
//! [`shrink`] takes a history a predicate calls bad (for the CLI: "the
//! checkers still find it invalid, with the same kind of anomaly") and
//! removes operations while it stays bad, by delta debugging (Zeller and
//! Hildebrandt's ddmin) over ever finer units:
//!
//! 1. the nemesis and other named-process events, all at once;
//! 2. whole keys (independent sub-histories), when events carry keys;
//! 3. whole processes;
//! 4. single operations, until removing any one of them makes the
//!    history good: the result is 1-minimal.
//!
//! An operation is its invocation and its completion together; the kept
//! events keep their order, their `index`, `time` and source line, so the
//! real-time order of what is left is the original's and every index in
//! the result points into the original history. An `info` operation (or
//! one never completed) is a unit like any other: kept (still open) or
//! dropped.
//!
//! With a deadline the search stops early and returns the smallest bad
//! history found so far, saying it is not proven 1-minimal.

use crate::history::{History, InputError, Process};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What [`shrink`] found.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest bad history found: a sub-sequence of the input's
    /// events.
    pub history: History,
    /// Client operations before and after.
    pub ops_before: usize,
    pub ops_after: usize,
    /// Predicate evaluations.
    pub checks: usize,
    pub seconds: f64,
    /// Removing any single operation makes the history good (checked);
    /// false when the deadline cut the search short.
    pub one_minimal: bool,
}

/// The units being removed: each a set of event positions.
type Unit = Vec<usize>;

struct Search<'a, F: FnMut(&History) -> bool> {
    base: &'a History,
    /// Every unit; the sets below are positions in it.
    units: Vec<Unit>,
    bad: F,
    checks: usize,
    deadline: Option<Instant>,
    out_of_time: bool,
}

impl<F: FnMut(&History) -> bool> Search<'_, F> {
    fn history_of(&self, units: &[usize]) -> History {
        let mut pos: Vec<usize> = units
            .iter()
            .flat_map(|&u| self.units[u].iter().copied())
            .collect();
        pos.sort_unstable();
        pos.dedup();
        History {
            source: self.base.source.clone(),
            events: pos.iter().map(|&p| self.base.events[p].clone()).collect(),
            warnings: Vec::new(),
            init: self.base.init.clone(),
        }
    }

    fn expired(&mut self) -> bool {
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                self.out_of_time = true;
            }
        }
        self.out_of_time
    }

    /// Is the history made of `fixed` and `units` bad?
    fn test(&mut self, fixed: &[usize], units: &[usize]) -> bool {
        let all: Vec<usize> = fixed.iter().chain(units.iter()).copied().collect();
        let h = self.history_of(&all);
        self.checks += 1;
        (self.bad)(&h)
    }

    /// ddmin over `groups` (each a set of units), with `fixed` always
    /// kept: returns the groups kept, and whether it ran to the end (then
    /// removing any single group makes the history good).
    fn ddmin(&mut self, fixed: &[usize], groups: Vec<Vec<usize>>) -> (Vec<Vec<usize>>, bool) {
        let mut cur = groups;
        let mut n = 2usize;
        let flat = |gs: &[Vec<usize>]| -> Vec<usize> { gs.iter().flatten().copied().collect() };
        while cur.len() >= 2 {
            let chunks = split(cur.len(), n);
            let mut reduced = false;
            // A subset alone.
            for r in &chunks {
                if self.expired() {
                    return (cur, false);
                }
                let sub: Vec<Vec<usize>> = cur[r.clone()].to_vec();
                if sub.len() < cur.len() && self.test(fixed, &flat(&sub)) {
                    cur = sub;
                    n = 2;
                    reduced = true;
                    break;
                }
            }
            if reduced {
                continue;
            }
            // A complement.
            if n > 2 {
                for r in &chunks {
                    if self.expired() {
                        return (cur, false);
                    }
                    let comp: Vec<Vec<usize>> = cur
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !r.contains(i))
                        .map(|(_, g)| g.clone())
                        .collect();
                    if self.test(fixed, &flat(&comp)) {
                        cur = comp;
                        n = (n - 1).max(2);
                        reduced = true;
                        break;
                    }
                }
            }
            if reduced {
                continue;
            }
            if n >= cur.len() {
                return (cur, true);
            }
            n = (2 * n).min(cur.len());
        }
        // One group left (or none): minimal at this grain.
        let done = !self.out_of_time;
        (cur, done)
    }
}

/// `len` items in `n` contiguous, nearly equal ranges.
fn split(len: usize, n: usize) -> Vec<std::ops::Range<usize>> {
    let n = n.min(len).max(1);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let end = start + (len - start) / (n - i);
        out.push(start..end);
        start = end;
    }
    out
}

/// Shrinks `history`, which `bad` must call bad, to a 1-minimal bad
/// sub-history (unless `deadline` comes first). `hint`: history indices
/// of operations that show the failure (a checker's anomaly), tried alone
/// first; may be empty.
pub fn shrink(
    history: &History,
    bad: impl FnMut(&History) -> bool,
    hint: &[u64],
    deadline: Option<Duration>,
) -> Result<Shrunk, InputError> {
    shrink_from(history, bad, hint, deadline, false)
}

/// [`shrink`]; with `known_bad`, the caller has just checked that the
/// whole history is bad, and it is not checked again (for a large history
/// that check costs as much as the run's own).
fn shrink_from(
    history: &History,
    bad: impl FnMut(&History) -> bool,
    hint: &[u64],
    deadline: Option<Duration>,
    known_bad: bool,
) -> Result<Shrunk, InputError> {
    let start = Instant::now();
    let ops = history.operations()?;
    let ops_before = ops.len();
    // The units: each client op (invoke and completion), and all named
    // events as one.
    let mut units: Vec<Unit> = ops
        .iter()
        .map(|o| {
            let mut u = vec![o.call];
            u.extend(o.ret);
            u
        })
        .collect();
    // An info op's completion (`ret` is None for it) still belongs to it.
    let mut owned = vec![false; history.events.len()];
    for &p in units.iter().flatten() {
        owned[p] = true;
    }
    let unit_of_call: BTreeMap<usize, usize> =
        units.iter().enumerate().map(|(i, u)| (u[0], i)).collect();
    let mut open_of: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, ev) in history.events.iter().enumerate() {
        if let Process::Client(p) = ev.process {
            if ev.kind == crate::history::EventType::Invoke {
                open_of.insert(p, i);
            } else if !owned[i] {
                if let Some(u) = open_of.get(&p).and_then(|c| unit_of_call.get(c)) {
                    units[*u].push(i);
                    owned[i] = true;
                }
            }
        }
    }
    let named: Unit = history
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.process, Process::Named(_)))
        .map(|(i, _)| i)
        .collect();
    let n_ops = units.len();
    let named_id = units.len();
    units.push(named.clone());
    let first_event = |u: &Unit| &history.events[u[0]];
    let unit_keys: Vec<String> = units
        .iter()
        .map(|u| {
            u.first()
                .and_then(|&p| history.events[p].key.as_ref())
                .map(|k| k.to_string())
                .unwrap_or_default()
        })
        .collect();
    let unit_procs: Vec<String> = units
        .iter()
        .map(|u| {
            u.first()
                .map(|_| first_event(u).process.to_string())
                .unwrap_or_default()
        })
        .collect();
    let unit_index: Vec<Option<u64>> = units
        .iter()
        .map(|u| u.first().map(|&p| history.events[p].index))
        .collect();
    let mut s = Search {
        base: history,
        units,
        bad,
        checks: 0,
        deadline: deadline.map(|d| start + d),
        out_of_time: false,
    };
    let op_ids: Vec<usize> = (0..n_ops).collect();
    if !known_bad && !s.test(&[named_id], &op_ids) {
        return Err(InputError::new(
            &history.source,
            0,
            None,
            "the history is not invalid under the checkers given: nothing to shrink",
        ));
    }
    // 1. Named events: all or nothing.
    let mut fixed: Vec<usize> = Vec::new();
    if !named.is_empty() && !s.test(&[], &op_ids) {
        fixed.push(named_id);
    }
    let mut keep = op_ids;
    // The hint alone.
    if !hint.is_empty() {
        let hinted: Vec<usize> = keep
            .iter()
            .copied()
            .filter(|&u| unit_index[u].is_some_and(|i| hint.contains(&i)))
            .collect();
        if !hinted.is_empty() && hinted.len() < keep.len() && s.test(&fixed, &hinted) {
            keep = hinted;
        }
    }
    // 2. Keys; 3. processes: groups of units.
    let group_by = |keep: &[usize], label: &[String]| -> Vec<Vec<usize>> {
        let mut m: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &u in keep {
            m.entry(label[u].as_str()).or_default().push(u);
        }
        m.into_values().collect()
    };
    for labels in [&unit_keys, &unit_procs] {
        let groups = group_by(&keep, labels);
        if groups.len() > 1 {
            let (g, _) = s.ddmin(&fixed, groups);
            keep = g.into_iter().flatten().collect();
        }
    }
    // 4. Single ops.
    let singles: Vec<Vec<usize>> = keep.iter().map(|&u| vec![u]).collect();
    let (g, done) = s.ddmin(&fixed, singles);
    keep = g.into_iter().flatten().collect();
    let mut all = fixed.clone();
    all.extend(keep.iter().copied());
    let out = s.history_of(&all);
    Ok(Shrunk {
        history: out,
        ops_before,
        ops_after: keep.len(),
        checks: s.checks,
        seconds: start.elapsed().as_secs_f64(),
        one_minimal: done && !s.out_of_time,
    })
}

/// What [`shrink_judged`] found: the shrunk history and the anomaly it
/// keeps.
#[derive(Debug, Clone)]
pub struct Shrinkage {
    pub shrunk: Shrunk,
    /// The checker whose anomaly is kept (registry name).
    pub checker: String,
    /// The anomaly's part (kind); empty when the checker names none.
    pub part: String,
    /// The anomaly on a fresh check of the shrunk history, in words.
    pub what: String,
}

/// Shrinks a history the checkers judged invalid (`judged`, as
/// [`crate::checker::Compose::check_each`] gives them): the first checker
/// that is not informational and found it invalid is run alone on every
/// candidate, which must stay invalid with an anomaly of the same part
/// (kind) as its first (any anomaly with `any_anomaly`); register checks
/// also keep each read's write ([`reads_keep_their_writers`]). The result
/// is checked once more from scratch. `Ok(None)`: nothing to shrink (no
/// checker found the history invalid).
pub fn shrink_judged(
    history: &History,
    judged: &[crate::checker::Judged],
    opts: &crate::checkers::Options,
    budget: &crate::checker::Budget,
    any_anomaly: bool,
    deadline: Option<Duration>,
) -> Result<Option<Shrinkage>, String> {
    use crate::checker::check_safe;
    use crate::verdict::Verdict;
    let Some(j) = judged
        .iter()
        .find(|j| !j.informational && j.result.verdict == Verdict::Invalid)
    else {
        return Ok(None);
    };
    // A repeated checker's name is made unique with `#2`; the registry
    // knows the name before it.
    let name = j.name.split('#').next().unwrap_or(&j.name).to_string();
    let c = crate::checkers::by_name(&name, opts).map_err(|e| e.to_string())?;
    let first = j.result.anomalies.first();
    let part = match (first, any_anomaly) {
        (Some(a), false) => Some(a.part.clone()),
        _ => None,
    };
    let hint: Vec<u64> = first.map(|a| a.ops.clone()).unwrap_or_default();
    let registers = name.starts_with("linearizability") || name.starts_with("consistency");
    let rule = reads_keep_their_writers(history);
    // No single check of a candidate outlives the shrink's deadline.
    let budget = &crate::checker::Budget {
        timeout: match (budget.timeout, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        max_bytes: budget.max_bytes,
    };
    let shows = |h: &History| -> Option<String> {
        let r = check_safe(&c, h, budget);
        if r.verdict != Verdict::Invalid {
            return None;
        }
        match &part {
            None => Some(
                r.anomalies
                    .first()
                    .map(|a| a.what.clone())
                    .unwrap_or_default(),
            ),
            Some(p) => r
                .anomalies
                .iter()
                .find(|a| &a.part == p)
                .map(|a| a.what.clone()),
        }
    };
    // The checkers just found the whole history invalid (`judged`).
    let shrunk = shrink_from(
        history,
        |h| (!registers || rule(h)) && shows(h).is_some(),
        &hint,
        deadline,
        true,
    )
    .map_err(|e| e.to_string())?;
    let what = shows(&shrunk.history)
        .ok_or("internal error: the shrunk history is not invalid on a fresh check")?;
    Ok(Some(Shrinkage {
        shrunk,
        checker: name,
        part: part.unwrap_or_default(),
        what,
    }))
}

/// One invalid part of a run to shrink: a checker's anomaly kind and,
/// for a per-key checker, the key it was found on.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Index into the `judged` list.
    pub checker: usize,
    /// The anomaly's part (kind); `None`: the checker named no anomaly.
    pub part: Option<String>,
    /// The key (as JSON text) of a per-key checker's anomaly: the
    /// history is cut to that key's ops before shrinking.
    pub key: Option<String>,
    /// The anomaly's ops (invocation indexes), the shrink's hint.
    pub hint: Vec<u64>,
}

/// Every distinct invalid part of a judged history, in the order the
/// checkers reported them: each key of a per-key checker
/// (linearizability, consistency) found invalid, and each anomaly kind
/// of a whole-history checker. Informational checkers are left out.
pub fn targets(history: &History, judged: &[crate::checker::Judged]) -> Vec<Target> {
    use crate::verdict::Verdict;
    let key_of: BTreeMap<u64, String> = history
        .events
        .iter()
        .filter(|e| e.kind == crate::history::EventType::Invoke)
        .filter_map(|e| Some((e.index, e.key.as_ref()?.to_string())))
        .collect();
    let mut out: Vec<Target> = Vec::new();
    for (i, j) in judged.iter().enumerate() {
        if j.informational || j.result.verdict != Verdict::Invalid {
            continue;
        }
        let name = j.name.split('#').next().unwrap_or(&j.name);
        let keyed = name.starts_with("linearizability") || name.starts_with("consistency");
        if j.result.anomalies.is_empty() {
            out.push(Target {
                checker: i,
                part: None,
                key: None,
                hint: Vec::new(),
            });
        }
        for a in &j.result.anomalies {
            let key = if keyed {
                a.ops.first().and_then(|ix| key_of.get(ix)).cloned()
            } else {
                None
            };
            let t = Target {
                checker: i,
                part: Some(a.part.clone()),
                key,
                hint: a.ops.clone(),
            };
            if !out
                .iter()
                .any(|o| o.checker == t.checker && o.part == t.part && o.key == t.key)
            {
                out.push(t);
            }
        }
    }
    out
}

/// The events of `history` on `key` (JSON text), with every event that
/// names no key (nemesis, harness markers).
pub fn restrict_to_key(history: &History, key: &str) -> History {
    let mut h = history.clone();
    h.events.retain(|e| {
        e.key
            .as_ref()
            .is_none_or(|k| serde_json::to_string(k).ok().as_deref() == Some(key))
            || !matches!(e.process, Process::Client(_))
    });
    h
}

/// Shrinks one [`Target`] of a judged history (see [`targets`]): its
/// checker is run alone on every candidate, which must stay invalid with
/// an anomaly of the target's part; a per-key target's history is first
/// cut to its key. The result is checked once more from scratch.
pub fn shrink_target(
    history: &History,
    judged: &[crate::checker::Judged],
    target: &Target,
    opts: &crate::checkers::Options,
    budget: &crate::checker::Budget,
    deadline: Option<Duration>,
) -> Result<Shrinkage, String> {
    use crate::checker::check_safe;
    use crate::verdict::Verdict;
    let j = judged.get(target.checker).ok_or("no such checker")?;
    let name = j.name.split('#').next().unwrap_or(&j.name).to_string();
    let c = crate::checkers::by_name(&name, opts).map_err(|e| e.to_string())?;
    // "Started from" counts the whole history's ops, also when the search
    // itself runs on one key's cut.
    let whole_ops = history.operations().map_err(|e| e.to_string())?.len();
    let cut;
    let history = match &target.key {
        Some(k) => {
            cut = restrict_to_key(history, k);
            &cut
        }
        None => history,
    };
    let registers = name.starts_with("linearizability") || name.starts_with("consistency");
    let rule = reads_keep_their_writers(history);
    let budget = &crate::checker::Budget {
        timeout: match (budget.timeout, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        max_bytes: budget.max_bytes,
    };
    let part = &target.part;
    let shows = |h: &History| -> Option<String> {
        let r = check_safe(&c, h, budget);
        if r.verdict != Verdict::Invalid {
            return None;
        }
        match part {
            None => Some(
                r.anomalies
                    .first()
                    .map(|a| a.what.clone())
                    .unwrap_or_default(),
            ),
            Some(p) => r
                .anomalies
                .iter()
                .find(|a| &a.part == p)
                .map(|a| a.what.clone()),
        }
    };
    // The cut to one key keeps that key's anomaly (keys are independent);
    // checked here rather than assumed.
    if target.key.is_some() && shows(history).is_none() {
        return Err(format!(
            "the history cut to key {} is not invalid for {name}",
            target.key.as_deref().unwrap_or("")
        ));
    }
    let mut shrunk = shrink_from(
        history,
        |h| (!registers || rule(h)) && shows(h).is_some(),
        &target.hint,
        deadline,
        true,
    )
    .map_err(|e| e.to_string())?;
    shrunk.ops_before = whole_ops;
    let what = shows(&shrunk.history)
        .ok_or("internal error: the shrunk history is not invalid on a fresh check")?;
    Ok(Shrinkage {
        shrunk,
        checker: name,
        part: part.clone().unwrap_or_default(),
        what,
    })
}

/// The register rule for shrinking: a kept op must not be left observing
/// a value no kept op wrote (that would trade the failure found for a
/// different, trivial one: a value from nowhere). Returns a check of a
/// sub-history. Writers are ops that did not fail: a write of `v`, a cas
/// `[old, v]`, an append of a string. An `ok` read (`f` read, get or r)
/// of a scalar `v` keeps some writer of `v` to its key, and an `ok` cas
/// `[v, new]` some writer of `v`; a read of a string keeps every append
/// to its key whose string it contains (Porcupine's kv appends). Values
/// no op of `original` wrote are left alone: reading one is the failure
/// itself.
pub fn reads_keep_their_writers(original: &History) -> impl Fn(&History) -> bool {
    use crate::history::{Operation, Status};
    use serde_json::Value;
    fn bare(f: &str) -> &str {
        f.trim_start_matches(':')
    }
    fn is_read(f: &str) -> bool {
        matches!(bare(f), "read" | "get" | "r")
    }
    fn key_of(o: &Operation) -> String {
        o.key.as_ref().map(|k| k.to_string()).unwrap_or_default()
    }
    /// (key, value written) of a writer that did not fail.
    fn wrote(o: &Operation) -> Option<(String, String)> {
        if o.status == Status::Fail || is_read(&o.f) {
            return None;
        }
        let v = match (&o.input, bare(&o.f)) {
            (Value::Array(a), "cas") if a.len() == 2 => &a[1],
            (Value::Null, _) => return None,
            (v, _) => v,
        };
        Some((key_of(o), v.to_string()))
    }
    /// The strings written to each key (writes, puts, appends, cas).
    fn strings(ops: &[Operation]) -> std::collections::HashMap<String, Vec<String>> {
        let mut m: std::collections::HashMap<String, Vec<String>> = Default::default();
        for o in ops {
            if let Some((k, v)) = wrote(o) {
                if let Ok(Value::String(s)) = serde_json::from_str::<Value>(&v) {
                    m.entry(k).or_default().push(s);
                }
            }
        }
        m
    }
    /// How many ops (that did not fail) wrote each (key, value).
    fn count(ops: &[Operation]) -> std::collections::HashMap<(String, String), usize> {
        let mut m: std::collections::HashMap<(String, String), usize> = Default::default();
        for w in ops.iter().filter_map(wrote) {
            *m.entry(w).or_default() += 1;
        }
        m
    }
    let ops = original.operations().unwrap_or_default();
    let writes = count(&ops);
    let all_strings = strings(&ops);
    move |h: &History| {
        let Ok(ops) = h.operations() else {
            return false;
        };
        let kept = count(&ops);
        let kept_strings = strings(&ops);
        ops.iter().filter(|o| o.status == Status::Ok).all(|o| {
            let key = key_of(o);
            let observed = match (bare(&o.f), &o.input, &o.output) {
                ("cas", Value::Array(a), _) if a.len() == 2 => &a[0],
                (f, _, out) if is_read(f) => out,
                _ => return true,
            };
            match observed {
                Value::String(s) if all_strings.contains_key(&key) => {
                    // Every string the read shows (a put, the appends) is
                    // still written.
                    let have = kept_strings.get(&key);
                    all_strings[&key]
                        .iter()
                        .filter(|a| !a.is_empty() && s.contains(a.as_str()))
                        .all(|a| have.is_some_and(|h| h.contains(a)))
                }
                Value::Null | Value::Array(_) | Value::Object(_) => true,
                v => {
                    // Writers other than the op itself (a cas [2, 2]
                    // does not write the 2 it expects).
                    let kv = (key.clone(), v.to_string());
                    let me = usize::from(wrote(o).as_ref() == Some(&kv));
                    let others = |m: &std::collections::HashMap<(String, String), usize>| {
                        m.get(&kv).copied().unwrap_or(0).saturating_sub(me)
                    };
                    others(&writes) == 0 || others(&kept) > 0
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType};
    use serde_json::{json, Value};

    fn ev(i: u64, p: u64, kind: EventType, f: &str, v: Value) -> Event {
        let mut e = Event::new(p, kind, f, v);
        e.index = i;
        e
    }

    /// A register history: n writes of distinct values by two processes,
    /// then a read of a value nobody wrote (at `bad_at`) among them.
    fn history(n: u64) -> History {
        let mut events = Vec::new();
        let mut i = 0;
        for k in 0..n {
            let p = k % 3;
            let (f, v, out) = if k == n / 2 {
                ("read", Value::Null, json!(999))
            } else {
                ("write", json!(k), json!(k))
            };
            events.push(ev(i, p, EventType::Invoke, f, v));
            i += 1;
            events.push(ev(i, p, EventType::Ok, f, out));
            i += 1;
        }
        History {
            source: "t".into(),
            events,
            ..Default::default()
        }
    }

    /// Bad: some ok read saw 999.
    fn reads_999(h: &History) -> bool {
        h.events
            .iter()
            .any(|e| e.kind == EventType::Ok && e.f == "read" && e.value == json!(999))
    }

    /// Three cas-register keys, 20 writes each; keys `a` and `b` each
    /// have a read of 999 (never written), key `c` is linearizable.
    fn keyed(bad: &[&str]) -> History {
        let mut events = Vec::new();
        let mut i = 0;
        for n in 0..20u64 {
            for k in ["a", "b", "c"] {
                let p = n % 2
                    + if k == "a" {
                        0
                    } else if k == "b" {
                        2
                    } else {
                        4
                    };
                let (f, v, out) = if n == 10 && bad.contains(&k) {
                    ("read", Value::Null, json!(999))
                } else {
                    ("write", json!(n), json!(n))
                };
                for (kind, val) in [(EventType::Invoke, v), (EventType::Ok, out)] {
                    let mut e = ev(i, p, kind, f, val);
                    e.key = Some(json!(k));
                    events.push(e);
                    i += 1;
                }
            }
        }
        History {
            source: "t".into(),
            events,
            ..Default::default()
        }
    }

    #[test]
    fn every_invalid_key_is_a_target_and_each_shrinks_within_its_key() {
        let opts = crate::checkers::Options {
            all_anomalies: true,
            ..Default::default()
        };
        let compose = crate::checkers::compose(&["linearizability:cas-register"], &opts).unwrap();
        let budget = crate::checker::Budget::default();
        let h = keyed(&["a", "b"]);
        let judged = compose.check_each(&h, &budget);
        let ts = targets(&h, &judged);
        let mut keys: Vec<Option<String>> = ts.iter().map(|t| t.key.clone()).collect();
        keys.sort();
        assert_eq!(keys, [Some("\"a\"".to_string()), Some("\"b\"".to_string())]);
        for t in &ts {
            let s = shrink_target(&h, &judged, t, &Default::default(), &budget, None).unwrap();
            assert_eq!(s.shrunk.ops_after, 1, "{:?}", s.shrunk.history.events);
            // it started from the whole history, not only the key's cut
            assert_eq!(s.shrunk.ops_before, h.operations().unwrap().len());
            let key = t.key.as_deref().unwrap();
            assert!(s.shrunk.history.events.iter().all(|e| e
                .key
                .as_ref()
                .map(|k| k.to_string())
                .as_deref()
                == Some(key)));
            assert_eq!(s.shrunk.history.events[1].value, json!(999));
        }
        // A valid history has no target; one bad key has one.
        let good = keyed(&[]);
        assert!(targets(&good, &compose.check_each(&good, &budget)).is_empty());
        let one = keyed(&["b"]);
        let ts = targets(&one, &compose.check_each(&one, &budget));
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].key.as_deref(), Some("\"b\""));
        // The cut to a key keeps that key's client events only.
        let cut = restrict_to_key(&one, "\"c\"");
        assert_eq!(cut.events.len(), 40);
    }

    #[test]
    fn shrinks_to_the_one_op_that_matters_and_keeps_indices() {
        let h = history(200);
        let s = shrink(&h, reads_999, &[], None).unwrap();
        assert_eq!((s.ops_before, s.ops_after), (200, 1));
        assert!(s.one_minimal);
        assert_eq!(s.history.events.len(), 2);
        assert_eq!(s.history.events[0].index, 200);
        assert!(s.checks < 60, "{} checks", s.checks);
    }

    #[test]
    fn a_failure_needing_two_ops_keeps_both_and_their_order() {
        // Bad: a write of 10 completes before a write of 150 is invoked
        // (a real-time order the shrink must keep, not invent).
        let h = history(200);
        let bad = |h: &History| {
            let done10 = h
                .events
                .iter()
                .position(|e| e.kind == EventType::Ok && e.value == json!(10));
            let call150 = h
                .events
                .iter()
                .position(|e| e.kind == EventType::Invoke && e.value == json!(150));
            matches!((done10, call150), (Some(a), Some(b)) if a < b)
        };
        let s = shrink(&h, bad, &[], None).unwrap();
        assert_eq!(s.ops_after, 2);
        assert!(s.one_minimal);
        let vals: Vec<&Value> = s.history.events.iter().map(|e| &e.value).collect();
        assert_eq!(vals, [&json!(10), &json!(10), &json!(150), &json!(150)]);
    }

    #[test]
    fn a_good_history_is_refused_and_a_deadline_returns_what_it_has() {
        let h = history(20);
        let e = shrink(&h, |_| false, &[], None).unwrap_err();
        assert!(e.message.contains("not invalid"), "{e}");
        let s = shrink(&history(400), reads_999, &[], Some(Duration::ZERO)).unwrap();
        assert!(!s.one_minimal);
        assert!(reads_999(&s.history));
    }

    #[test]
    fn an_info_op_is_one_unit_with_its_completion() {
        let mut h = history(10);
        // Make op 3 (events 6, 7) info.
        h.events[7].kind = EventType::Info;
        let s = shrink(&h, reads_999, &[], None).unwrap();
        assert_eq!(s.ops_after, 1);
        // And when the failure needs the info op, both its events stay.
        let needs_info =
            |h: &History| reads_999(h) && h.events.iter().any(|e| e.kind == EventType::Info);
        let s = shrink(&h, needs_info, &[], None).unwrap();
        assert_eq!(s.ops_after, 2);
        assert_eq!(s.history.events.len(), 4);
        assert!(s.history.operations().is_ok());
    }

    #[test]
    fn reads_keep_the_write_they_saw() {
        // write 1, write 2, then a read of 1 after write 2 completed: a
        // stale read. Without the rule the shrink could keep the read
        // alone (a value from nowhere); with it, write 1 stays.
        let evs = vec![
            ev(0, 0, EventType::Invoke, "write", json!(1)),
            ev(1, 0, EventType::Ok, "write", json!(1)),
            ev(2, 1, EventType::Invoke, "write", json!(2)),
            ev(3, 1, EventType::Ok, "write", json!(2)),
            ev(4, 2, EventType::Invoke, "read", Value::Null),
            ev(5, 2, EventType::Ok, "read", json!(1)),
        ];
        let h = History {
            source: "t".into(),
            events: evs,
            ..Default::default()
        };
        let rule = reads_keep_their_writers(&h);
        assert!(rule(&h));
        let read_only = History {
            events: h.events[4..].to_vec(),
            ..h.clone()
        };
        assert!(!rule(&read_only));
        // "Bad" = a read of 1 exists (stands in for a checker): the rule
        // keeps the write of 1, and drops the write of 2 only if the
        // predicate allows.
        let bad = |x: &History| {
            rule(x)
                && x.events
                    .iter()
                    .any(|e| e.kind == EventType::Ok && e.f == "read")
        };
        let s = shrink(&h, bad, &[], None).unwrap();
        assert_eq!(s.ops_after, 2);
        assert_eq!(s.history.events[0].value, json!(1));
    }

    #[test]
    fn split_covers_every_item_once() {
        for len in 1..30 {
            for n in 1..35 {
                let r = split(len, n);
                let total: usize = r.iter().map(|x| x.len()).sum();
                assert_eq!(total, len);
                assert!(r.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }
}
