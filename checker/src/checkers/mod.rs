//! The checkers faultline knows by name, and the registry that builds them.
//!
//! | name | what | parameter |
//! |---|---|---|
//! | `linearizability[:MODEL]` | WGL linearizability search per key ([`Linearizability`]) | a model: `register`, `cas-register`, `kv`, `multi-register`, `mutex`, `set`, `fifo-queue`, `unordered-queue` (default: [`Options::model`], else guessed from the op names) |
//! | `consistency[:MODEL]` | the single-object consistency hierarchy and its measures ([`Consistency`]) | a consistency model the history must satisfy (`linearizable`, `sequential`, `causal`, `pram`, `monotonic-reads`, ...). Without one it is informational: it places the history and never changes the verdict |
//! | `total-queue[:DELIVERY]` | Jepsen's total-queue: lost, duplicated, unexpected elements ([`TotalQueue`]) | `at-least-once`, `at-most-once`, `exactly-once` (default: [`Options::delivery`]) |
//! | `fifo-queue` | each queue's enqueues and dequeues against the `fifo-queue` model, on short queues only; informational ([`FifoQueue`]) | none |
//! | `lock` | mutual exclusion over leases, fencing, mutex linearizability ([`Lock`]) | none |
//! | `bank` | Jepsen's bank: wrong totals, negative balances, unexpected accounts, nil balances ([`Bank`]) | `negative-balances` (accounts and total amount: [`Options::jepsen`]) |
//! | `counter` | Jepsen's counter: each read within the bounds the adds allow ([`Counter`]) | none |
//! | `set-full[:linearizable]` | Jepsen's set-full: lost, stale, never-read, duplicated elements ([`SetFull`]) | `linearizable`: stale reads are errors |
//! | `long-fork[:N]` | Jepsen's long-fork: reads of a group of keys that see inserts in opposite orders ([`LongFork`]) | the group size (default 2) |
//! | `list-append[:MODEL]`, `rw-register[:MODEL]` | transactional isolation, Elle-style ([`Isolation`]) | the isolation model the history must satisfy (default `strict-serializable`), then `+ASSUMPTION`s for rw-register (`wfr-keys`, `sequential-keys`, `linearizable-keys`) |
//!
//! A checker that needs paired operations and gets a history that does not
//! pair (a completion without an invocation, ...) answers `unknown` with the
//! input error in its details' `error`.

mod consistency;
mod linearizability;
mod lock;
mod queue;
// isolation (txn)
mod txn;
pub use txn::Isolation;
// end isolation (txn)

pub use consistency::Consistency;
pub use linearizability::Linearizability;
pub use lock::Lock;
pub use queue::{FifoQueue, TotalQueue};

use crate::checker::{Checker, Compose};
use crate::consistency::Model;
use crate::linearizability::ModelKind;
use crate::queue::{Delivery, FifoOptions};
use serde_json::Value;
use std::time::Duration;

/// The registry's names, without parameters.
pub const NAMES: [&str; 7] = [
    "linearizability",
    "consistency",
    "total-queue",
    "fifo-queue",
    "lock",
    // isolation (txn)
    "list-append",
    "rw-register",
    // end isolation (txn)
];

/// Settings the registry gives the checkers it builds; a parameter in the
/// name (`total-queue:at-most-once`) overrides the matching one here.
#[derive(Debug, Clone)]
pub struct Options {
    /// linearizability: the model (`None`: guessed from the op names).
    pub model: Option<ModelKind>,
    /// linearizability: split the history by key.
    pub partition: bool,
    /// linearizability: a failed cas means "the value was not `old`"
    /// (Porcupine's etcd model) rather than "did not happen".
    pub fail_cas_observes: bool,
    /// linearizability and consistency: the initial state (`null`: the
    /// model's own).
    pub init: Value,
    /// linearizability: search every partition, report each failing one.
    pub all_anomalies: bool,
    /// total-queue: the delivery guarantee the system declares.
    pub delivery: Delivery,
    /// fifo-queue: its own caps (it is a cheap informational pass).
    pub fifo: FifoOptions,
    /// consistency: the most the sequential search may take.
    pub sequential_timeout: Duration,
    /// jepsen's other checkers: bank, set-full, long-fork options.
    pub jepsen: JepsenOptions,
    /// Prefix mode, for the online check: the history is the closed prefix
    /// of one still being written (ops open at the cut have no completion:
    /// unknown), and the claims only the whole history can settle are off.
    /// Honoured by `total-queue` (lost and unexpected off), `lock` (mutex
    /// linearizability off), `set-full` (lost and unexpected off; stale
    /// judged with `linearizable`) and the isolation checkers
    /// `list-append` and `rw-register` (txns open at the cut take part in
    /// no edge); see each.
    /// Other checkers ignore it.
    pub prefix: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            model: None,
            partition: true,
            fail_cas_observes: false,
            init: Value::Null,
            all_anomalies: false,
            delivery: Delivery::AtLeastOnce,
            fifo: FifoOptions {
                max_ops_per_queue: 300,
                timeout: Some(Duration::from_secs(3)),
                max_bytes: 256 << 20,
            },
            sequential_timeout: Duration::from_secs(30),
            jepsen: JepsenOptions::default(),
            prefix: false,
        }
    }
}

/// A checker name the registry cannot build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unknown checker `{name}` (known: {}, {})", NAMES.join(", "), JEPSEN_NAMES.join(", "))]
    Unknown { name: String },
    #[error("checker `{name}`: `{param}` is not a {what} (expected one of: {expected})")]
    BadParameter {
        name: String,
        param: String,
        what: &'static str,
        expected: String,
    },
    #[error("checker `{name}` takes no parameter (got `{param}`)")]
    NoParameter { name: String, param: String },
    #[error("no checker named (give at least one)")]
    Empty,
}

/// Builds the checker `name` (`NAME` or `NAME:PARAM`, see the module
/// documentation).
pub fn by_name(name: &str, opts: &Options) -> Result<Box<dyn Checker>, Error> {
    let name = name.trim();
    let (base, param) = match name.split_once(':') {
        Some((b, p)) => (b, Some(p)),
        None => (name, None),
    };
    let bad = |what: &'static str, expected: Vec<&str>| Error::BadParameter {
        name: base.to_string(),
        param: param.unwrap_or_default().to_string(),
        what,
        expected: expected.join(", "),
    };
    // jepsen's other checkers
    if let Some(c) = jepsen::by_name(base, param, opts) {
        return c;
    }
    let none = || match param {
        Some(p) => Err(Error::NoParameter {
            name: base.to_string(),
            param: p.to_string(),
        }),
        None => Ok(()),
    };
    Ok(match base {
        "linearizability" => {
            let model = match param {
                None => opts.model,
                Some(p) => Some(ModelKind::parse(p).ok_or_else(|| {
                    bad("model", ModelKind::ALL.iter().map(|m| m.name()).collect())
                })?),
            };
            Box::new(Linearizability {
                model,
                partition: opts.partition,
                fail_cas_observes: opts.fail_cas_observes,
                init: opts.init.clone(),
                all_anomalies: opts.all_anomalies,
            })
        }
        "consistency" => {
            let require = match param {
                None => None,
                Some(p) => Some(
                    Model::ALL
                        .into_iter()
                        .find(|m| m.key() == p || m.name() == p)
                        .ok_or_else(|| {
                            bad(
                                "consistency model",
                                Model::ALL.iter().map(|m| m.key()).collect(),
                            )
                        })?,
                ),
            };
            Box::new(Consistency {
                require,
                sequential_timeout: opts.sequential_timeout,
                init: opts.init.clone(),
            })
        }
        "total-queue" => {
            let delivery = match param {
                None => opts.delivery,
                Some(p) => Delivery::parse(p).ok_or_else(|| {
                    bad(
                        "delivery guarantee",
                        vec!["at-least-once", "at-most-once", "exactly-once"],
                    )
                })?,
            };
            Box::new(TotalQueue {
                delivery,
                prefix: opts.prefix,
            })
        }
        "fifo-queue" => {
            none()?;
            Box::new(FifoQueue {
                opts: opts.fifo.clone(),
            })
        }
        "lock" => {
            none()?;
            Box::new(Lock {
                prefix: opts.prefix,
            })
        }
        // isolation (txn)
        "list-append" | "rw-register" => {
            let kind = if base == "list-append" {
                crate::txn::Kind::ListAppend
            } else {
                crate::txn::Kind::RwRegister
            };
            let mut iso = Isolation::from_param(kind, param).map_err(|p| Error::BadParameter {
                name: base.to_string(),
                param: p,
                what: "isolation model or assumption",
                expected: crate::txn::lattice::MODELS
                    .iter()
                    .copied()
                    .chain(crate::txn::Assumptions::NAMES.iter().map(|a| &a[..]))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            iso.opts.prefix = opts.prefix;
            Box::new(iso)
        }
        // end isolation (txn)
        _ => {
            return Err(Error::Unknown {
                name: name.to_string(),
            })
        }
    })
}

/// The checkers `names` (see [`by_name`]) as one [`Compose`].
pub fn compose<S: AsRef<str>>(names: &[S], opts: &Options) -> Result<Compose, Error> {
    if names.is_empty() {
        return Err(Error::Empty);
    }
    let checkers = names
        .iter()
        .map(|n| by_name(n.as_ref(), opts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Compose::new(checkers))
}

// jepsen's other checkers: bank, counter, set-full, long-fork (one file
// each), their options and their part of the registry (`jepsen::by_name`).
pub mod bank;
pub mod counter;
pub mod jepsen;
pub mod long_fork;
pub mod set_full;
pub use bank::{Bank, BankOptions};
pub use counter::Counter;
pub use jepsen::{JepsenOptions, JEPSEN_NAMES};
pub use long_fork::LongFork;
pub use set_full::SetFull;
// end of jepsen's other checkers

/// `details` (an object; anything else is wrapped in one) with its
/// `checker` field set to `name`.
fn with_checker(details: Value, name: &str) -> Value {
    match details {
        Value::Object(mut m) => {
            m.insert("checker".into(), Value::from(name));
            Value::Object(m)
        }
        other => serde_json::json!({"checker": name, "result": other}),
    }
}

/// A value as compact text (strings without quotes, `nil` for null).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "nil".into(),
        v => v.to_string(),
    }
}

/// `s` cut to at most `max` bytes at a word boundary, with `…` when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &s[..cut];
    let head = head.rfind(' ').map_or(head, |i| &head[..i]);
    format!("{}…", head.trim_end_matches([',', ';', ':']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_builds_known_names_and_rejects_others() {
        let o = Options::default();
        for n in NAMES {
            assert_eq!(by_name(n, &o).unwrap().name(), n);
        }
        assert!(by_name("consistency", &o).unwrap().informational());
        assert!(!by_name("consistency:sequential", &o)
            .unwrap()
            .informational());
        assert!(by_name("fifo-queue", &o).unwrap().informational());
        assert!(!by_name("total-queue:exactly-once", &o)
            .unwrap()
            .informational());
        assert!(by_name(" lock ", &o).is_ok());
        let e = by_name("bank-robbery", &o).err().unwrap().to_string();
        assert!(
            e.contains("unknown checker `bank-robbery`")
                && e.contains("total-queue")
                && e.contains("long-fork"),
            "{e}"
        );
        let e = by_name("total-queue:twice", &o).err().unwrap().to_string();
        assert!(e.contains("`twice` is not a delivery guarantee"), "{e}");
        let e = by_name("linearizability:stack", &o)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cas-register"), "{e}");
        let e = by_name("lock:x", &o).err().unwrap();
        assert!(matches!(e, Error::NoParameter { .. }));
        assert!(by_name("consistency:bogus", &o).is_err());
        assert_eq!(compose::<&str>(&[], &o).err(), Some(Error::Empty));
        assert_eq!(
            compose(&["lock", "fifo-queue"], &o)
                .unwrap()
                .checkers()
                .len(),
            2
        );
    }

    #[test]
    fn long_explanations_are_clipped_at_a_word() {
        assert_eq!(clip("short", 160), "short");
        let long = "In key 1: in the view of process 2, no order of the writes";
        assert_eq!(clip(long, 20), "In key 1: in the…");
        assert_eq!(clip("ééééé", 5), "éé…");
    }
}
