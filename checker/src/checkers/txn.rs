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
//!
//! # Prefix mode (the online check)
//!
//! With [`crate::checkers::Options::prefix`] the history is a closed prefix
//! of one still being written: every event up to a cut. A txn invoked and
//! not completed at the cut is *pending*: it may yet complete `ok`, `fail`
//! or `info`. Its micro-ops are those of its invocation (writes known, reads
//! unknown), as for `info`, and it takes part in **no edge** (no ww, wr or
//! rw edge, no process or real-time edge, no rw-register version pair) and
//! in no dirty update or G1b. Every anomaly found on such a prefix is then
//! one of the whole history (same class, or, where noted, one the lattice
//! places at least as low), because:
//!
//! - *Completions are final.* An `ok` txn's reads, a `fail` and an `info`
//!   completion never change as the history grows; only pending txns do,
//!   and they are left out of everything that depends on how they end.
//! - *Version orders only grow.* list-append: a key's order is its longest
//!   ok read; a longer read later either extends it (every position, hence
//!   every ww edge, every rw "next element" and every wr "last element",
//!   stays) or is not an extension, and then the whole history has an
//!   `incompatible-order` (which implies G1a). rw-register: version pairs
//!   come from the initial state (nil readers, ok only, to every non-failed
//!   non-pending writer), from ok txns' own read-then-write (wfr-keys), from
//!   each process's sequence of non-failed txns (sequential-keys: a pending
//!   txn is its process's last in the prefix, so consecutive pairs of the
//!   prefix are consecutive in the whole) and from real time
//!   (linearizable-keys, as below): each set only grows.
//! - *Edges found in a prefix are edges of the whole.* wr, ww and rw edges
//!   come from ok reads and non-failed, non-pending writers, which keep
//!   their status; process order is per process in invocation order, and a
//!   pending txn is its process's last; real-time edges are added at each
//!   invocation from the completions before it, which are the same events
//!   in the whole (a pending txn's completion comes after the cut). So a
//!   cycle of the prefix is a cycle of the whole, of the same class
//!   (G0, G1c, G-single, G-nonadjacent, G2-item and their -process and
//!   -realtime forms: the class depends only on the cycle's edge kinds).
//! - *G1a* needs a `fail` completion, which is final. *G1b* (an intermediate
//!   write read) depends on the writer's own micro-ops, known at its
//!   invocation; a pending writer is left out (should it fail, the read is
//!   G1a instead). *dirty-update* needs a failed append followed by a
//!   committed one in the order: pending appends are skipped.
//! - *internal*, *future-read* and *duplicate-elements* are about one ok
//!   txn's own micro-ops and reads: final. A *lost-update* is two ok txns
//!   that read the same version and wrote the key: still so in the whole.
//! - *garbage-read*: an ok read saw a value no txn in the prefix wrote. A
//!   database cannot return a value no client has yet sent it, so the
//!   writer was invoked before the read completed, inside the prefix: a
//!   value with no writer in the prefix has none in the whole.
//!
//! Nothing the checker reports needs the end of the history to settle, so
//! no anomaly is switched off (unlike the queue's `lost`); what prefix mode
//! changes is only what a pending txn may contribute. The one assumption is
//! the checkers' own: written values are unique per key (a value written
//! again after the cut would be left out of the whole's inference; the
//! bundled workloads never repeat one, and `notes` says so when a history
//! does). The run's verdict still comes from the offline check of the
//! whole history.

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
