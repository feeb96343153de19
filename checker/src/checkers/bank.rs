//! The `bank` checker: Jepsen's bank test (`jepsen.tests.bank`).
//!
//! # The history
//!
//! Clients `transfer` amounts between accounts and `read` every balance at
//! once. A transfer's value is a map `{from, to, amount}`; a read's
//! completion value is a map from account to balance (`{0 10, 1 90}` in
//! EDN, `{"0": 10, "1": 90}` in JSONL; an account is named by its text, so
//! the number `0` and the map key `"0"` are the same account). A balance is
//! an integer or `nil`.
//!
//! # What it checks
//!
//! Only the `ok` reads (a transfer moves money and never changes the total,
//! so every snapshot a read sees must hold the whole amount). Each read gets
//! at most one error, the first that applies, in Jepsen's order:
//!
//! 1. `unexpected-key`: it shows an account that is not one of the
//!    accounts (only when the accounts are given);
//! 2. `nil-balance`: some balance is `nil`;
//! 3. `wrong-total`: the balances do not add up to the total amount;
//! 4. `negative-value`: some balance is negative (unless negative balances
//!    are allowed).
//!
//! Any error makes the history invalid.
//!
//! # Options ([`BankOptions`])
//!
//! - `accounts`: the account names (Jepsen's `:accounts`); without them no
//!   read is checked for unexpected accounts.
//! - `total_amount`: the money in the bank (Jepsen's `:total-amount`).
//!   Without it, the total most ok reads agree on (the earliest such on a
//!   tie) is taken as the total, and the details say it was inferred.
//! - `negative_balances`: balances may go negative (Jepsen's
//!   `:negative-balances?`); registry name `bank:negative-balances`.
//!
//! # Where it departs from Jepsen
//!
//! A history with no `ok` read is `unknown` (Jepsen calls it valid: nothing
//! was checked). Ops other than `read` and `transfer` are counted in
//! `ignored`; a transfer whose value is not a `{from, to, amount}` map, or a
//! read whose value is not a map of integer-or-nil balances, is an input
//! error naming its line and field.
//!
//! # Details
//!
//! `checker`, `verdict`, `summary`, `read-count`, `error-count`,
//! `total-amount`, `total-inferred`, `accounts`, `negative-balances`,
//! `transfers` (counts by outcome), `errors` (by kind: `count`, `first`,
//! `worst`, `last`; `lowest` and `highest` for `wrong-total`),
//! `first-error`, `bad-reads` (the first [`MAX_LISTED`], in history order),
//! `ignored`. Each bad read is `{type, index, invoke-index, process, line,
//! value}` plus `unexpected` / `nils` / `total` / `negative`.
//! Anomalies: one per bad read (the first [`MAX_LISTED`]), part = its kind.

use super::jepsen::{done_index, f_of, ignored_by_f, input_unknown, op_error, shown};
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::history::{History, InputError, Operation, Status};
use crate::verdict::Verdict;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// How many bad reads the details list and the anomalies name.
pub const MAX_LISTED: usize = 100;

/// The bank checker's options (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankOptions {
    pub accounts: Option<Vec<String>>,
    pub total_amount: Option<i64>,
    pub negative_balances: bool,
}

/// Jepsen's bank checker (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Bank {
    pub opts: BankOptions,
}

/// One ok read: its op and its balances by account (`None` = nil).
#[derive(Debug)]
struct Read<'a> {
    op: &'a Operation,
    balances: Vec<(String, Option<i64>)>,
}

/// The error kinds, in the order Jepsen tries them.
const KINDS: [&str; 4] = [
    "unexpected-key",
    "nil-balance",
    "wrong-total",
    "negative-value",
];

/// A bad read: its kind, how bad (bigger is worse), and its report.
struct BadRead {
    kind: &'static str,
    badness: f64,
    total: Option<i128>,
    report: Value,
    invoke_index: u64,
    what: String,
}

impl Bank {
    /// Reads the history's reads and transfers; an input error names the
    /// op's line and field.
    fn parse<'a>(
        source: &str,
        ops: &'a [Operation],
    ) -> Result<(Vec<Read<'a>>, Value, Value), InputError> {
        let mut reads = Vec::new();
        let mut transfers = BTreeMap::<&str, u64>::new();
        let mut ignored = Vec::new();
        for op in ops {
            if let (Some(k), "read" | "transfer") = (&op.key, f_of(op)) {
                // The reader took a two-element value for an independent
                // [key value] tuple; bank histories have no keys.
                let (v, completion) = match f_of(op) {
                    "read" => (&op.output, true),
                    _ => (&op.input, false),
                };
                return Err(op_error(
                    source,
                    op,
                    completion,
                    "value",
                    format!(
                        "a bank {} value must be a map, found the pair {} (read as an independent [key value] tuple; bank histories have no keys)",
                        f_of(op),
                        shown(&serde_json::json!([k, v]))
                    ),
                ));
            }
            match f_of(op) {
                "read" => {
                    if op.status != Status::Ok {
                        continue;
                    }
                    let Value::Object(m) = &op.output else {
                        return Err(op_error(
                            source,
                            op,
                            true,
                            "value",
                            format!(
                                "a bank read's value must be a map from account to balance, found {}",
                                shown(&op.output)
                            ),
                        ));
                    };
                    let mut balances = Vec::with_capacity(m.len());
                    for (acct, bal) in m {
                        let b = match bal {
                            Value::Null => None,
                            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
                            other => {
                                return Err(op_error(
                                    source,
                                    op,
                                    true,
                                    "value",
                                    format!(
                                        "the balance of account {acct} must be an integer or nil, found {}",
                                        shown(other)
                                    ),
                                ))
                            }
                        };
                        balances.push((acct.clone(), b));
                    }
                    reads.push(Read { op, balances });
                }
                "transfer" => {
                    let v = &op.input;
                    let field_ok =
                        |k: &str| matches!(v.get(k), Some(Value::Number(_) | Value::String(_)));
                    let amount_ok = v.get("amount").is_some_and(Value::is_number);
                    if !v.is_object() || !field_ok("from") || !field_ok("to") || !amount_ok {
                        return Err(op_error(
                            source,
                            op,
                            false,
                            "value",
                            format!(
                                "a transfer's value must be a map {{from, to, amount}} with a numeric amount, found {}",
                                shown(v)
                            ),
                        ));
                    }
                    let outcome = match op.status {
                        Status::Ok => "ok",
                        Status::Fail => "fail",
                        Status::Info => "info",
                    };
                    *transfers.entry(outcome).or_default() += 1;
                }
                _ => ignored.push(op),
            }
        }
        Ok((
            reads,
            serde_json::to_value(transfers).unwrap_or_default(),
            ignored_by_f(ignored.into_iter()),
        ))
    }

    /// Checks paired operations; `source` names the file in input errors.
    pub fn run(&self, source: &str, ops: &[Operation]) -> Result<CheckResult, InputError> {
        let (reads, transfers, ignored) = Self::parse(source, ops)?;
        let o = &self.opts;
        let sum = |r: &Read| -> Option<i128> {
            r.balances
                .iter()
                .map(|(_, b)| b.map(i128::from))
                .sum::<Option<i128>>()
        };
        // The total: given, or the one most complete reads agree on.
        let (total, inferred) = match o.total_amount {
            Some(t) => (Some(i128::from(t)), false),
            None => {
                let mut count = BTreeMap::<i128, (usize, usize)>::new();
                for (i, r) in reads.iter().enumerate() {
                    if let Some(s) = sum(r) {
                        let e = count.entry(s).or_insert((0, i));
                        e.0 += 1;
                    }
                }
                let best = count
                    .into_iter()
                    .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
                    .map(|(s, _)| s);
                (best, true)
            }
        };
        let accounts: Option<BTreeSet<&str>> = o
            .accounts
            .as_ref()
            .map(|a| a.iter().map(String::as_str).collect());

        let mut bad: Vec<BadRead> = Vec::new();
        for r in &reads {
            if let Some(b) = Self::check_read(r, accounts.as_ref(), total, o.negative_balances) {
                bad.push(b);
            }
        }

        let mut errors = Map::new();
        for kind in KINDS {
            let of_kind: Vec<&BadRead> = bad.iter().filter(|b| b.kind == kind).collect();
            let (Some(first), Some(last)) = (of_kind.first(), of_kind.last()) else {
                continue;
            };
            let worst = of_kind
                .iter()
                .copied()
                .reduce(|a, b| if b.badness > a.badness { b } else { a })
                .unwrap_or(first);
            let mut e = Map::new();
            e.insert("count".into(), json!(of_kind.len()));
            e.insert("first".into(), first.report.clone());
            e.insert("worst".into(), worst.report.clone());
            e.insert("last".into(), last.report.clone());
            if kind == "wrong-total" {
                let lowest = of_kind.iter().min_by_key(|b| b.total).unwrap_or(first);
                let highest = of_kind.iter().max_by_key(|b| b.total).unwrap_or(first);
                e.insert("lowest".into(), lowest.report.clone());
                e.insert("highest".into(), highest.report.clone());
            }
            errors.insert(kind.into(), Value::Object(e));
        }

        let verdict = if !bad.is_empty() {
            Verdict::Invalid
        } else if reads.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let total_text = match (total, inferred) {
            (Some(t), false) => format!("total {t} (given)"),
            (Some(t), true) => format!("total {t} (inferred: the total most reads show)"),
            (None, _) => "no total".to_string(),
        };
        let summary = if reads.is_empty() {
            "unknown: no ok read, nothing to check".to_string()
        } else if bad.is_empty() {
            format!(
                "valid: {} ok reads, all consistent; {total_text}",
                reads.len()
            )
        } else {
            let kinds: Vec<String> = KINDS
                .iter()
                .filter_map(|k| errors.get(*k).map(|e| format!("{} {k}", e["count"])))
                .collect();
            format!(
                "invalid: {} of {} ok reads bad ({}); {total_text}",
                bad.len(),
                reads.len(),
                kinds.join(", ")
            )
        };
        let mut d = Map::new();
        d.insert("checker".into(), json!("bank"));
        d.insert("verdict".into(), json!(verdict.as_str()));
        d.insert("summary".into(), json!(summary));
        if reads.is_empty() {
            d.insert(
                "reason".into(),
                json!("no ok read: there is nothing to check"),
            );
        }
        d.insert("read-count".into(), json!(reads.len()));
        d.insert("error-count".into(), json!(bad.len()));
        d.insert("total-amount".into(), json!(total.map(|t| t.to_string())));
        if let Some(t) = total.and_then(|t| i64::try_from(t).ok()) {
            d.insert("total-amount".into(), json!(t));
        }
        d.insert("total-inferred".into(), json!(inferred));
        d.insert("accounts".into(), json!(o.accounts));
        d.insert("negative-balances".into(), json!(o.negative_balances));
        d.insert("transfers".into(), transfers);
        d.insert("errors".into(), Value::Object(errors));
        d.insert(
            "first-error".into(),
            bad.first().map(|b| b.report.clone()).unwrap_or(Value::Null),
        );
        d.insert(
            "bad-reads".into(),
            Value::Array(
                bad.iter()
                    .take(MAX_LISTED)
                    .map(|b| b.report.clone())
                    .collect(),
            ),
        );
        d.insert("ignored".into(), ignored);
        let anomalies = bad
            .iter()
            .take(MAX_LISTED)
            .map(|b| Anomaly {
                part: b.kind.to_string(),
                what: b.what.clone(),
                ops: vec![b.invoke_index],
            })
            .collect();
        Ok(CheckResult {
            verdict,
            details: Value::Object(d),
            anomalies,
        })
    }

    /// The first error of one read, in Jepsen's order.
    fn check_read(
        r: &Read,
        accounts: Option<&BTreeSet<&str>>,
        total: Option<i128>,
        negative_ok: bool,
    ) -> Option<BadRead> {
        let op = r.op;
        let mut report = Map::new();
        let at = format!("read at index {}", done_index(op));
        let (kind, badness, read_total, what) = if let Some(unexpected) = accounts
            .map(|a| {
                r.balances
                    .iter()
                    .filter(|(k, _)| !a.contains(k.as_str()))
                    .map(|(k, _)| k.clone())
                    .collect::<Vec<_>>()
            })
            .filter(|u| !u.is_empty())
        {
            let what = format!(
                "unexpected-key: {at} shows accounts that do not exist: {}",
                unexpected.join(", ")
            );
            let n = unexpected.len() as f64;
            report.insert("unexpected".into(), json!(unexpected));
            ("unexpected-key", n, None, what)
        } else if r.balances.iter().any(|(_, b)| b.is_none()) {
            let nils: Map<String, Value> = r
                .balances
                .iter()
                .filter(|(_, b)| b.is_none())
                .map(|(k, _)| (k.clone(), Value::Null))
                .collect();
            let names: Vec<&str> = nils.keys().map(String::as_str).collect();
            let what = format!(
                "nil-balance: {at} shows no balance for {}",
                names.join(", ")
            );
            let n = nils.len() as f64;
            report.insert("nils".into(), Value::Object(nils));
            ("nil-balance", n, None, what)
        } else if let Some((t, expected)) = total
            .map(|expected| {
                let t: i128 = r
                    .balances
                    .iter()
                    .filter_map(|(_, b)| *b)
                    .map(i128::from)
                    .sum();
                (t, expected)
            })
            .filter(|(t, e)| t != e)
        {
            let diff = (t - expected).abs() as f64;
            let badness = if expected == 0 {
                diff
            } else {
                diff / (expected as f64).abs()
            };
            report.insert("total".into(), json!(t.to_string()));
            if let Ok(t) = i64::try_from(t) {
                report.insert("total".into(), json!(t));
            }
            let what = format!("wrong-total: {at} adds up to {t}, not {expected}");
            ("wrong-total", badness, Some(t), what)
        } else if !negative_ok && r.balances.iter().any(|(_, b)| b.is_some_and(|x| x < 0)) {
            let neg: Vec<i64> = r
                .balances
                .iter()
                .filter_map(|(_, b)| *b)
                .filter(|&x| x < 0)
                .collect();
            let accts: Vec<String> = r
                .balances
                .iter()
                .filter(|(_, b)| b.is_some_and(|x| x < 0))
                .map(|(k, b)| format!("{k} = {}", b.unwrap_or_default()))
                .collect();
            let badness = -(neg.iter().map(|&x| x as f64).sum::<f64>());
            report.insert("negative".into(), json!(neg));
            let what = format!("negative-value: {at} shows {}", accts.join(", "));
            ("negative-value", badness, None, what)
        } else {
            return None;
        };
        let mut full = Map::new();
        full.insert("type".into(), json!(kind));
        full.insert("index".into(), json!(done_index(op)));
        full.insert("invoke-index".into(), json!(op.invoke_index));
        full.insert("process".into(), json!(op.process));
        full.insert("line".into(), json!(op.complete_line));
        full.insert("value".into(), op.output.clone());
        full.extend(report);
        Some(BadRead {
            kind,
            badness,
            total: read_total,
            report: Value::Object(full),
            invoke_index: op.invoke_index,
            what,
        })
    }
}

impl Checker for Bank {
    fn name(&self) -> &str {
        "bank"
    }

    fn check(&self, history: &History, _budget: &Budget) -> CheckResult {
        match history
            .operations()
            .and_then(|ops| self.run(&history.source, &ops))
        {
            Ok(r) => r,
            Err(e) => input_unknown("bank", e),
        }
    }
}
