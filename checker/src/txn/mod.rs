//! Transactional isolation, after Elle (Kingsbury and Alvaro, "Elle:
//! Inferring Isolation Anomalies from Experimental Observations"): infer
//! the dependencies between transactions from what their reads saw, add
//! process and real-time order, find the cycles, name their anomaly classes,
//! and place the history in the lattice of isolation models.
//!
//! - [`parse`]: Jepsen `:txn` operations into micro-ops, with errors naming
//!   file, line and field;
//! - [`list_append`] and [`rw_register`]: the two data models' inference
//!   (ww, wr, rw edges) and the anomalies that need no cycle;
//! - [`graph`]: the CSR graph, Tarjan, bounded breadth-first cycle search;
//! - [`cycles`]: the search by class (G0, G1c, G-single, G-nonadjacent,
//!   G2-item and their -process / -realtime variants);
//! - [`lattice`]: the models, their order, and what each proscribes;
//! - [`report`]: the verdict, the placement and the witnesses in words.

pub mod cycles;
pub mod graph;
pub mod lattice;
pub mod list_append;
pub mod parse;
pub mod raw;
pub mod report;
pub mod rw_register;
pub mod synth;

pub use parse::Kind;
pub use report::TxnResult;

use crate::checker::Budget;
use crate::history::{History, InputError, Status};
use graph::{EdgeList, Graph, PROCESS, REALTIME};
use parse::Txns;
use std::time::Instant;

/// The assumptions rw-register may make, each off unless asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Assumptions {
    /// Within a txn, a write to a key follows the txn's read of it.
    pub wfr_keys: bool,
    /// Each process observes each key's versions in order.
    pub sequential_keys: bool,
    /// Each key is linearizable: a txn that begins after another completed
    /// sees (or installs) that key's version no older than it did.
    pub linearizable_keys: bool,
}

impl Assumptions {
    pub const NAMES: [&'static str; 3] = ["wfr-keys", "sequential-keys", "linearizable-keys"];

    /// Sets the assumption `name`; false when there is none by that name.
    pub fn set(&mut self, name: &str) -> bool {
        match name {
            "wfr-keys" => self.wfr_keys = true,
            "sequential-keys" => self.sequential_keys = true,
            "linearizable-keys" => self.linearizable_keys = true,
            _ => return false,
        }
        true
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.wfr_keys {
            v.push("wfr-keys");
        }
        if self.sequential_keys {
            v.push("sequential-keys");
        }
        if self.linearizable_keys {
            v.push("linearizable-keys");
        }
        v
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct TxnOptions {
    pub kind: Kind,
    /// The isolation model the history must satisfy (a name from
    /// [`lattice::MODELS`]).
    pub require: &'static str,
    pub assume: Assumptions,
    /// Search steps (edges looked at) all cycle searches may take together.
    pub max_steps: u64,
    /// Witnesses kept per anomaly class (all are counted).
    pub max_witnesses: usize,
    /// Prefix mode (the online check): the history is a closed prefix of
    /// one still being written; a txn invoked but not completed at the cut
    /// is `pending` and takes part in no edge (see `checkers::txn` for why
    /// every anomaly found then is one of the whole history).
    pub prefix: bool,
}

impl TxnOptions {
    pub fn new(kind: Kind) -> TxnOptions {
        TxnOptions {
            kind,
            require: "strict-serializable",
            assume: Assumptions::default(),
            max_steps: 200_000_000,
            max_witnesses: 8,
            prefix: false,
        }
    }
}

/// An anomaly found without a cycle (or, from [`cycles`], with one).
#[derive(Debug, Clone)]
pub struct Found {
    pub class: &'static str,
    /// Transactions (positions in [`Txns::txns`]).
    pub txns: Vec<u32>,
    pub why: String,
}

impl Found {
    pub fn new(class: &'static str, txns: Vec<u32>, why: String) -> Found {
        Found { class, txns, why }
    }
}

/// What a data model's inference gives: the data edges, the anomalies that
/// need no cycle, notes on its assumptions.
#[derive(Debug, Default)]
pub struct Inferred {
    pub edges: EdgeList,
    pub found: Vec<Found>,
    pub notes: Vec<String>,
    /// Set when the inference stopped short (why): the history can then be
    /// found invalid but not valid.
    pub incomplete: Option<String>,
}

/// Explains an edge in words.
pub trait Inference {
    fn explain(&self, t: &Txns, a: u32, b: u32, kind: u8) -> String;
}

/// Process and real-time edges in words.
pub(crate) fn explain_order(t: &Txns, a: u32, b: u32, kind: u8) -> String {
    let (ta, tb) = (&t.txns[a as usize], &t.txns[b as usize]);
    match kind {
        PROCESS => format!(
            "T{} and then T{} ran on process {} (process order)",
            ta.index, tb.index, ta.process
        ),
        REALTIME => format!(
            "T{} completed (index {}) before T{} was invoked (real-time order)",
            ta.index,
            ta.complete_index.unwrap_or(ta.index),
            tb.index
        ),
        k => format!("T{} -> T{} ({})", ta.index, tb.index, graph::kind_name(k)),
    }
}

/// Process order (consecutive txns of a process that did not fail) and
/// real-time order (transitively reduced: each txn gets edges from the
/// completed txns not already known to precede another completed one).
fn order_edges(t: &Txns, edges: &mut EdgeList) {
    let mut last: rustc_hash::FxHashMap<&crate::history::Process, u32> = Default::default();
    let mut by_call: Vec<u32> = (0..t.txns.len() as u32).collect();
    // Usually in call order already (then the stable sort keeps it).
    if !t.txns.windows(2).all(|w| w[0].call <= w[1].call) {
        by_call.sort_by_key(|&i| t.txns[i as usize].call);
    }
    for &i in &by_call {
        let txn = &t.txns[i as usize];
        if txn.status == Status::Fail || txn.pending {
            continue;
        }
        if let Some(p) = last.insert(&txn.process, i) {
            edges.add(p, i, PROCESS);
        }
    }
    // Events: (position, txn, is completion), in order.
    let events = order_events(t);
    let mut frontier: Vec<u32> = Vec::new();
    // Each txn's predecessors at its invocation: a range in `preds`.
    let mut preds: Vec<u32> = Vec::new();
    let mut range: Vec<(u32, u32)> = vec![(0, 0); t.txns.len()];
    for (_, i, done) in events {
        if !done {
            let s = preds.len() as u32;
            for &f in &frontier {
                edges.add(f, i, REALTIME);
                preds.push(f);
            }
            range[i as usize] = (s, preds.len() as u32);
        } else {
            let (s, e) = range[i as usize];
            let before = &preds[s as usize..e as usize];
            frontier.retain(|f| !before.contains(f));
            frontier.push(i);
        }
    }
}

/// The invocations and ok completions of the txns that did not fail (nor
/// are pending at a prefix's cut), as
/// (position, txn, is completion), ordered by position (then txn, then
/// invocation first).
fn order_events(t: &Txns) -> Vec<(usize, u32, bool)> {
    let each = || {
        t.txns
            .iter()
            .enumerate()
            .filter(|(_, x)| x.status != Status::Fail && !x.pending)
            .flat_map(|(i, x)| {
                let done = match (x.status, x.ret) {
                    (Status::Ok, Some(r)) => Some((r, i as u32, true)),
                    _ => None,
                };
                std::iter::once((x.call, i as u32, false)).chain(done)
            })
    };
    // Positions are those of distinct history events, so a table by
    // position orders them in linear time; unless two share one (a
    // completion without invocation is "invoked" at 0): then a sort.
    let end = each().map(|e| e.0 + 1).max().unwrap_or(0);
    if end <= t.txns.len().saturating_mul(8) + 16 {
        const EMPTY: (u32, bool) = (u32::MAX, false);
        let mut at = vec![EMPTY; end];
        let mut shared = false;
        for (pos, i, done) in each() {
            shared |= at[pos] != EMPTY;
            at[pos] = (i, done);
        }
        if !shared {
            return at
                .into_iter()
                .enumerate()
                .filter(|(_, e)| *e != EMPTY)
                .map(|(pos, (i, done))| (pos, i, done))
                .collect();
        }
    }
    let mut events: Vec<(usize, u32, bool)> = each().collect();
    events.sort_unstable();
    events
}

/// Checks a history of transactions.
pub fn check(h: &History, opts: &TxnOptions, budget: &Budget) -> Result<TxnResult, InputError> {
    let start = Instant::now();
    let mut txns = parse::parse(h, opts.kind)?;
    mark_pending(&mut txns, opts);
    let r = check_txns(&txns, opts, budget, start);
    crate::checker::drop_later(txns);
    Ok(r)
}

/// [`check`] of a history read for the isolation checkers
/// ([`crate::formats::read_txn`]), its compact micro-ops included.
pub fn check_prepared(
    p: &raw::Prepared,
    opts: &TxnOptions,
    budget: &Budget,
) -> Result<TxnResult, InputError> {
    let start = Instant::now();
    let mut txns = parse::parse_prepared(p, opts.kind)?;
    mark_pending(&mut txns, opts);
    let r = check_txns(&txns, opts, budget, start);
    crate::checker::drop_later(txns);
    Ok(r)
}

/// Prefix mode, list-append, and a required model that allows an
/// incompatible order (read-uncommitted and its strong forms): G0 is off.
/// A G0 cycle rests on ww edges from the keys' version orders; a read after
/// the cut that contradicts one (incompatible-order) makes the whole
/// history's order another one, perhaps with no G0, and these models do not
/// rule out incompatible-order (every stronger one does, so there a prefix's
/// G0 stays sound: the whole has it or is invalid anyway).
fn prefix_drops_g0(opts: &TxnOptions) -> bool {
    opts.prefix
        && opts.kind == Kind::ListAppend
        && !lattice::prohibited_by(opts.require)
            .iter()
            .any(|a| a == "incompatible-order")
}

/// Prefix mode: the txns invoked and not completed at the cut (an `info`
/// with no completion event at all) are pending; one completed `info` is
/// as indeterminate in the whole history as in the prefix, so it is not.
fn mark_pending(txns: &mut Txns, opts: &TxnOptions) {
    if !opts.prefix {
        return;
    }
    let mut n = 0usize;
    for t in &mut txns.txns {
        if t.status == Status::Info && t.complete_index.is_none() {
            t.pending = true;
            n += 1;
        }
    }
    if n > 0 {
        txns.warnings.push(format!(
            "prefix mode: {n} txns open at the cut take part in no dependency, process or real-time edge"
        ));
    }
}

fn check_txns(txns: &Txns, opts: &TxnOptions, budget: &Budget, start: Instant) -> TxnResult {
    let n = txns.txns.len();
    // The data model's inference and the process and real-time edges are
    // independent: side by side (the graph does not depend on edge order).
    let ((explainer, inferred), order) = rayon::join(
        || -> (Box<dyn Inference + Send>, Inferred) {
            match opts.kind {
                Kind::ListAppend => {
                    let (x, i) = list_append::infer(txns);
                    (Box::new(x), i)
                }
                Kind::RwRegister => {
                    let max_edges = budget.max_bytes / 48;
                    let (x, i) = rw_register::infer(txns, &opts.assume, max_edges);
                    (Box::new(x), i)
                }
            }
        },
        || {
            let mut e = EdgeList::default();
            order_edges(txns, &mut e);
            e
        },
    );
    let Inferred {
        mut edges,
        found,
        notes,
        incomplete,
    } = inferred;
    edges.append(order);
    // The graph and the searches' arrays: about 16 bytes an edge and 64 a
    // node; over the memory budget is unknown, never an out-of-memory.
    let need = edges.len() * 16 + n * 64;
    if need > budget.max_bytes {
        return report::over_memory(opts, txns, need, budget.max_bytes);
    }
    let edge_count = edges.len();
    let g = Graph::build(n, edges);
    let mut allowance = graph::Allowance {
        steps_left: opts.max_steps,
        deadline: budget.timeout.map(|t| start + t),
        spent: 0,
        out: None,
    };
    let mut search = cycles::search(&g, &mut allowance, opts.max_witnesses);
    let mut notes = notes;
    if prefix_drops_g0(opts) {
        let g0 = |c: &str| c == "G0" || c.starts_with("G0-");
        let before = search.cycles.len();
        search.cycles.retain(|c| !g0(&c.class));
        search.counts.retain(|(c, _)| !g0(c));
        if search.cycles.len() < before {
            notes.push(format!(
                "prefix mode: G0 cycles are not reported under {}: they rest on version orders a later read may contradict, and that (incompatible-order) {} allows",
                opts.require, opts.require
            ));
        }
    }
    report::build(report::Parts {
        opts,
        txns,
        graph: &g,
        explainer: explainer.as_ref() as &dyn Inference,
        found,
        notes,
        incomplete,
        search,
        edges_inferred: edge_count,
        seconds: start.elapsed().as_secs_f64(),
    })
}
