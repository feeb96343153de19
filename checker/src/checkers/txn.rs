//! The isolation checkers `list-append[:MODEL]` and `rw-register[:MODEL]`
//! ([`crate::txn`]): Elle-style dependency inference, cycle search and
//! placement in the lattice of isolation models.
//!
//! `MODEL` is the isolation model the history must satisfy (default
//! `strict-serializable`, Elle's default for list-append, which is what a
//! demanding user expects from a database that claims serializability and
//! real-time order; ask for `serializable` to leave real time out). After
//! the model, `+ASSUMPTION` adds an rw-register assumption:
//! `rw-register:serializable+wfr-keys+sequential-keys`.
//!
//! Details: `anomaly_types`, `anomaly_counts`, `anomalies` (witnesses by
//! class: the txns by history index, each edge of a cycle in words),
//! `not` (the weakest models ruled out), `why_not`, `also_not`, `strongest_kept`,
//! `search` (components, steps, `gave_up`), `txns`, `graph`, `notes`.

use crate::checker::{Budget, CheckResult, Checker};
use crate::history::History;
use crate::txn::raw::Prepared;
use crate::txn::{self, Assumptions, Kind, TxnOptions};

/// An isolation checker.
#[derive(Debug, Clone)]
pub struct Isolation {
    pub name: &'static str,
    pub opts: TxnOptions,
}

impl Isolation {
    /// Builds `list-append` / `rw-register` from the parameter of its name
    /// (`MODEL[+ASSUMPTION...]`); the error is the part that is not known.
    pub fn from_param(kind: Kind, param: Option<&str>) -> Result<Isolation, String> {
        let mut opts = TxnOptions::new(kind);
        if let Some(p) = param {
            let mut parts = p.split('+');
            let model = parts.next().unwrap_or_default();
            if !model.is_empty() {
                opts.require = txn::lattice::canonical(model).ok_or_else(|| model.to_string())?;
            }
            let mut a = Assumptions::default();
            for x in parts {
                if kind != Kind::RwRegister || !a.set(x) {
                    return Err(x.to_string());
                }
            }
            opts.assume = a;
        }
        Ok(Isolation {
            name: kind.name(),
            opts,
        })
    }
}

impl Checker for Isolation {
    fn name(&self) -> &str {
        self.name
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        self.result(txn::check(history, &self.opts, budget))
    }

    fn check_prepared(&self, p: &Prepared, budget: &Budget) -> CheckResult {
        self.result(txn::check_prepared(p, &self.opts, budget))
    }
}

impl Isolation {
    fn result(&self, r: Result<txn::TxnResult, crate::history::InputError>) -> CheckResult {
        match r {
            Ok(r) => CheckResult {
                verdict: r.verdict,
                details: r.details,
                anomalies: r.anomalies,
            },
            Err(e) => {
                let mut r = CheckResult::unknown(self.name, e.to_string());
                r.details["input_error"] = serde_json::to_value(&e).unwrap_or_default();
                r
            }
        }
    }
}
