//! The `counter` checker: Jepsen's counter (`jepsen.checker/counter`).
//!
//! # The history
//!
//! A counter starts at 0. `add` ops carry the amount (an integer) in their
//! value; `read` ops return the counter's value (an integer) in their `ok`
//! completion.
//!
//! # What it checks
//!
//! Each `ok` read must return a value within the bounds the adds allow:
//!
//! - **lower**: the sum of the `ok` adds that completed before the read was
//!   invoked (they certainly took effect before it);
//! - **upper**: the sum of the adds invoked before the read completed, `ok`
//!   or `info` (they may have taken effect before it); failed adds never
//!   count.
//!
//! A read outside `[lower, upper]` is an error and makes the history
//! invalid. Jepsen assumes adds are non-negative; a negative add is read
//! the natural way: one that may or may not precede the read can lower the
//! lower bound by its amount and never raises the upper one (with
//! non-negative adds the bounds are exactly Jepsen's).
//!
//! Histories of Jepsen `independent` tuples (`[key value]`, read into keyed
//! ops) are checked key by key, each key its own counter.
//!
//! # Where it departs from Jepsen
//!
//! A history with no `ok` read is `unknown` (Jepsen calls it valid: nothing
//! was checked). An add whose amount, or an ok read whose value, is not an
//! integer is an input error naming its line and field; ops other than
//! `add` and `read` are counted in `ignored`.
//!
//! # Details
//!
//! `checker`, `verdict`, `summary`, `read-count`, `add-count` (by outcome),
//! `error-count`, `errors` (the first [`MAX_LISTED`] bad reads in history
//! order: `index`, `invoke-index`, `process`, `line`, `key` when keyed,
//! `value`, `lower`, `upper`), `max-absolute-error` (the bad read furthest
//! outside its bounds, with `distance`), `keys` (how many counters),
//! `ignored`. Anomalies: one per bad read (the first [`MAX_LISTED`]).

use super::jepsen::{done_index, f_of, ignored_by_f, input_unknown, key_text, op_error, shown};
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::history::{History, InputError, Operation, Status};
use crate::verdict::Verdict;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// How many bad reads the details list and the anomalies name.
pub const MAX_LISTED: usize = 100;

/// Jepsen's counter checker (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter;

/// One counter's adds, sorted for bound queries.
#[derive(Default)]
struct Adds {
    /// (completion position, amount) of ok adds, by position.
    certain: Vec<(usize, i128)>,
    /// (invocation position, amount) of ok and info adds, by position.
    possible: Vec<(usize, i128)>,
}

/// Prefix sums of the negative and positive parts of `xs`' amounts.
fn prefix(xs: &[(usize, i128)]) -> (Vec<i128>, Vec<i128>, Vec<i128>) {
    let mut all = vec![0];
    let mut neg = vec![0];
    let mut pos = vec![0];
    for &(_, v) in xs {
        all.push(all.last().copied().unwrap_or(0) + v);
        neg.push(neg.last().copied().unwrap_or(0) + v.min(0));
        pos.push(pos.last().copied().unwrap_or(0) + v.max(0));
    }
    (all, neg, pos)
}

/// A bad read.
struct Bad<'a> {
    op: &'a Operation,
    key: Option<String>,
    value: i128,
    lower: i128,
    upper: i128,
}

impl Bad<'_> {
    fn distance(&self) -> i128 {
        (self.lower - self.value).max(self.value - self.upper)
    }
}

/// A number as JSON: an integer when it fits, else its digits.
fn num(x: i128) -> Value {
    i64::try_from(x).map_or_else(|_| json!(x.to_string()), |v| json!(v))
}

impl Counter {
    /// Checks paired operations; `source` names the file in input errors.
    pub fn run(&self, source: &str, ops: &[Operation]) -> Result<CheckResult, InputError> {
        let int = |op: &Operation, v: &Value, completion: bool, what: &str| {
            v.as_i64().map(i128::from).ok_or_else(|| {
                op_error(
                    source,
                    op,
                    completion,
                    "value",
                    format!("{what} must be an integer, found {}", shown(v)),
                )
            })
        };
        let key_of = |op: &Operation| op.key.as_ref().map(key_text);
        let mut adds = BTreeMap::<Option<String>, Adds>::new();
        // (op, its counter, the value read)
        let mut reads: Vec<(&Operation, Option<String>, i128)> = Vec::new();
        let mut add_count = BTreeMap::<&str, u64>::new();
        let mut ignored = Vec::new();
        for op in ops {
            match f_of(op) {
                "add" => {
                    let outcome = match op.status {
                        Status::Ok => "ok",
                        Status::Fail => "fail",
                        Status::Info => "info",
                    };
                    *add_count.entry(outcome).or_default() += 1;
                    if op.status == Status::Fail {
                        continue;
                    }
                    // The amount is the invocation's; a completion may
                    // carry it when the invocation does not.
                    let (v, completion) = if op.input.is_null() {
                        (&op.output, true)
                    } else {
                        (&op.input, false)
                    };
                    let amount = int(op, v, completion, "an add's amount")?;
                    let a = adds.entry(key_of(op)).or_default();
                    a.possible.push((op.call, amount));
                    if let (Status::Ok, Some(ret)) = (op.status, op.ret) {
                        a.certain.push((ret, amount));
                    }
                }
                "read" => {
                    if op.status == Status::Ok {
                        let v = int(op, &op.output, true, "a counter read's value")?;
                        reads.push((op, key_of(op), v));
                    }
                }
                _ => ignored.push(op),
            }
        }
        let empty = Adds::default();
        let mut sums = BTreeMap::new();
        for (k, a) in adds.iter_mut() {
            a.certain.sort_unstable();
            a.possible.sort_unstable();
            sums.insert(k.clone(), (prefix(&a.certain), prefix(&a.possible)));
        }
        let no_sums = (prefix(&[]), prefix(&[]));
        let mut bad: Vec<Bad> = Vec::new();
        for &(op, ref key, value) in &reads {
            let a = adds.get(key).unwrap_or(&empty);
            let ((c_all, c_neg, c_pos), (_, p_neg, p_pos)) = sums.get(key).unwrap_or(&no_sums);
            // Certainly before: ok adds completed before the read began.
            let c = a.certain.partition_point(|&(ret, _)| ret < op.call);
            // Possibly before: adds invoked before the read completed.
            let end = op.ret.unwrap_or(usize::MAX);
            let p = a.possible.partition_point(|&(call, _)| call < end);
            // The possible ones that are not certain move the bounds by
            // their negative (lower) and positive (upper) parts.
            let lower = c_all[c] + (p_neg[p] - c_neg[c]);
            let upper = c_all[c] + (p_pos[p] - c_pos[c]);
            if value < lower || value > upper {
                bad.push(Bad {
                    op,
                    key: key.clone(),
                    value,
                    lower,
                    upper,
                });
            }
        }
        let report = |b: &Bad| {
            let mut m = Map::new();
            m.insert("index".into(), json!(done_index(b.op)));
            m.insert("invoke-index".into(), json!(b.op.invoke_index));
            m.insert("process".into(), json!(b.op.process));
            m.insert("line".into(), json!(b.op.complete_line));
            if let Some(k) = &b.key {
                m.insert("key".into(), json!(k));
            }
            m.insert("value".into(), num(b.value));
            m.insert("lower".into(), num(b.lower));
            m.insert("upper".into(), num(b.upper));
            Value::Object(m)
        };
        let verdict = if !bad.is_empty() {
            Verdict::Invalid
        } else if reads.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let keys = reads
            .iter()
            .map(|r| &r.1)
            .chain(adds.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let summary = match verdict {
            Verdict::Unknown => "unknown: no ok read, nothing to check".to_string(),
            Verdict::Valid => format!("valid: {} ok reads, each within its bounds", reads.len()),
            Verdict::Invalid => {
                let w = bad.iter().max_by_key(|b| b.distance());
                format!(
                    "invalid: {} of {} ok reads out of bounds{}",
                    bad.len(),
                    reads.len(),
                    w.map(|b| format!(
                        "; worst: read at index {} returned {}, allowed [{}, {}]",
                        done_index(b.op),
                        b.value,
                        b.lower,
                        b.upper
                    ))
                    .unwrap_or_default()
                )
            }
        };
        let mut d = Map::new();
        d.insert("checker".into(), json!("counter"));
        d.insert("verdict".into(), json!(verdict.as_str()));
        d.insert("summary".into(), json!(summary));
        if reads.is_empty() {
            d.insert(
                "reason".into(),
                json!("no ok read: there is nothing to check"),
            );
        }
        d.insert("read-count".into(), json!(reads.len()));
        d.insert("add-count".into(), json!(add_count));
        d.insert("error-count".into(), json!(bad.len()));
        d.insert(
            "errors".into(),
            Value::Array(bad.iter().take(MAX_LISTED).map(report).collect()),
        );
        d.insert(
            "max-absolute-error".into(),
            bad.iter()
                .max_by_key(|b| b.distance())
                .map(|b| {
                    let mut r = report(b);
                    if let Value::Object(m) = &mut r {
                        m.insert("distance".into(), num(b.distance()));
                    }
                    r
                })
                .unwrap_or(Value::Null),
        );
        d.insert("keys".into(), json!(keys));
        d.insert("ignored".into(), ignored_by_f(ignored.into_iter()));
        let anomalies = bad
            .iter()
            .take(MAX_LISTED)
            .map(|b| Anomaly {
                part: "errors".into(),
                what: format!(
                    "read at index {}{} returned {}, but the adds allow [{}, {}]",
                    done_index(b.op),
                    b.key
                        .as_ref()
                        .map(|k| format!(" of key {k}"))
                        .unwrap_or_default(),
                    b.value,
                    b.lower,
                    b.upper
                ),
                ops: vec![b.op.invoke_index],
            })
            .collect();
        Ok(CheckResult {
            verdict,
            details: Value::Object(d),
            anomalies,
        })
    }
}

impl Checker for Counter {
    fn name(&self) -> &str {
        "counter"
    }

    fn check(&self, history: &History, _budget: &Budget) -> CheckResult {
        match history
            .operations()
            .and_then(|ops| self.run(&history.source, &ops))
        {
            Ok(r) => r,
            Err(e) => input_unknown("counter", e),
        }
    }
}
