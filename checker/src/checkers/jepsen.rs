//! What Jepsen's other everyday checkers share: their options, the part of
//! the registry that builds them, and small helpers for reading op values.
//!
//! The checkers themselves are in [`super::bank`], [`super::counter`],
//! [`super::set_full`] and [`super::long_fork`]; `docs/jepsen-checkers.md`
//! describes their semantics.

use super::bank::{Bank, BankOptions};
use super::counter::Counter;
use super::long_fork::LongFork;
use super::set_full::SetFull;
use super::{Error, Options};
use crate::checker::{CheckResult, Checker};
use crate::history::{InputError, Operation};
use serde_json::Value;

/// The registry names of Jepsen's other checkers.
pub const JEPSEN_NAMES: [&str; 4] = ["bank", "counter", "set-full", "long-fork"];

/// The long-fork group size Jepsen's workload uses by default.
pub const DEFAULT_GROUP_SIZE: usize = 2;

/// Settings of Jepsen's other checkers; a parameter in the name
/// (`set-full:linearizable`, `long-fork:3`, `bank:negative-balances`)
/// overrides the matching one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JepsenOptions {
    /// bank: the accounts, the total amount, whether balances may go
    /// negative.
    pub bank: BankOptions,
    /// set-full: a read that misses an element known to be added is an
    /// error (Jepsen's `:linearizable?`).
    pub set_full_linearizable: bool,
    /// long-fork: how many keys each read reads (`None`: 2, Jepsen's
    /// default).
    pub long_fork_group_size: Option<usize>,
}

/// Builds `base` (one of [`JEPSEN_NAMES`]) with its parameter; `None`
/// when `base` is not one of them.
pub fn by_name(
    base: &str,
    param: Option<&str>,
    opts: &Options,
) -> Option<Result<Box<dyn Checker>, Error>> {
    let o = &opts.jepsen;
    let bad = |what: &'static str, expected: &str| Error::BadParameter {
        name: base.to_string(),
        param: param.unwrap_or_default().to_string(),
        what,
        expected: expected.to_string(),
    };
    let built: Result<Box<dyn Checker>, Error> = match base {
        "bank" => match param {
            None => Ok(Box::new(Bank {
                opts: o.bank.clone(),
            })),
            Some("negative-balances") => Ok(Box::new(Bank {
                opts: BankOptions {
                    negative_balances: true,
                    ..o.bank.clone()
                },
            })),
            Some(_) => Err(bad("bank option", "negative-balances")),
        },
        "counter" => match param {
            None => Ok(Box::new(Counter)),
            Some(p) => Err(Error::NoParameter {
                name: base.to_string(),
                param: p.to_string(),
            }),
        },
        "set-full" => match param {
            None => Ok(Box::new(SetFull {
                linearizable: o.set_full_linearizable,
                prefix: opts.prefix,
            })),
            Some("linearizable") => Ok(Box::new(SetFull {
                linearizable: true,
                prefix: opts.prefix,
            })),
            Some(_) => Err(bad("set-full option", "linearizable")),
        },
        "long-fork" => {
            let n = match param {
                None => Ok(o.long_fork_group_size.unwrap_or(DEFAULT_GROUP_SIZE)),
                Some(p) => p
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad("group size", "a whole number of keys, at least 1")),
            };
            n.map(|group_size| Box::new(LongFork { group_size }) as Box<dyn Checker>)
        }
        _ => return None,
    };
    Some(built)
}

/// A key or account as text: a string as it is, a number in its decimal
/// form, anything else as compact JSON. EDN maps with integer keys
/// (`{0 10, 1 20}`) are read with their keys as text (`{"0": 10, "1": 20}`),
/// so an account named by the number `0` in a transfer and by the map key
/// `"0"` in a read is the same account.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        v => v.to_string(),
    }
}

/// An op's `f` without a leading `:`.
pub(crate) fn f_of(op: &Operation) -> &str {
    op.f.trim_start_matches(':')
}

/// A problem with one op's value: the completion's line when `completion`
/// (and it has one), else the invocation's.
pub(crate) fn op_error(
    source: &str,
    op: &Operation,
    completion: bool,
    field: &str,
    message: impl Into<String>,
) -> InputError {
    let line = if completion && op.complete_line != 0 {
        op.complete_line
    } else {
        op.invoke_line
    };
    InputError::new(source, line, Some(field), message)
}

/// The `unknown` result of a checker that met input it cannot read: the
/// error as text in `error`, and as `input-error` (`file`, `line`, `field`,
/// `message`) so that a caller can report it as the input error it is.
pub(crate) fn input_unknown(checker: &str, e: InputError) -> CheckResult {
    let mut r = CheckResult::unknown(checker, e.to_string());
    if let Value::Object(m) = &mut r.details {
        m.insert(
            "input-error".into(),
            serde_json::to_value(&e).unwrap_or_default(),
        );
    }
    r
}

/// The `unknown` result of a checker whose time budget ran out, saying
/// how far it got.
pub(crate) fn out_of_time(checker: &str, seconds: f64, progress: String) -> CheckResult {
    CheckResult {
        verdict: crate::verdict::Verdict::Unknown,
        details: serde_json::json!({
            "checker": checker,
            "verdict": "unknown",
            "reason": format!("the time budget of {seconds:.1} s ran out after {progress}"),
        }),
        anomalies: Vec::new(),
    }
}

/// When a check that starts now must stop.
pub(crate) fn deadline(budget: &crate::checker::Budget) -> Option<std::time::Instant> {
    budget
        .timeout
        .and_then(|t| std::time::Instant::now().checked_add(t))
}

/// A value described for an error message, clipped.
pub(crate) fn shown(v: &Value) -> String {
    super::clip(&v.to_string(), 80)
}

/// The history index of an op's completion, else of its invocation.
pub(crate) fn done_index(op: &Operation) -> u64 {
    op.complete_index.unwrap_or(op.invoke_index)
}

/// Counts of the client ops a checker did not look at, by `f`, for its
/// details (nothing is dropped silently).
pub(crate) fn ignored_by_f<'a>(ops: impl Iterator<Item = &'a Operation>) -> Value {
    let mut m = std::collections::BTreeMap::<String, u64>::new();
    for op in ops {
        *m.entry(f_of(op).to_string()).or_default() += 1;
    }
    serde_json::to_value(m).unwrap_or_default()
}

/// Quantiles of `xs` as Jepsen's set-full reports latencies: at 0, 0.5, 0.95,
/// 0.99 and 1 (the element at `floor(n * q)`, capped at the last), or
/// `null` when there are none.
pub(crate) fn quantiles(xs: &[f64]) -> Value {
    if xs.is_empty() {
        return Value::Null;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let mut m = serde_json::Map::new();
    for (name, q) in [
        ("0", 0.0),
        ("0.5", 0.5),
        ("0.95", 0.95),
        ("0.99", 0.99),
        ("1", 1.0),
    ] {
        let i = ((n as f64 * q).floor() as usize).min(n - 1);
        m.insert(name.into(), serde_json::json!(s[i]));
    }
    Value::Object(m)
}
