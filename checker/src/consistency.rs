//! Single-object consistency checks: where a register (or kv) history sits on
//! the hierarchy of jepsen.io/consistency, as Elle's `consistency_model.clj`
//! encodes it:
//!
//! ```text
//! linearizable → sequential → causal → writes-follow-reads
//!                                    → PRAM → monotonic-reads
//!                                           → monotonic-writes
//!                                           → read-your-writes
//! ```
//!
//! (Elle, following Bailis et al., places writes-follow-reads under causal
//! beside PRAM, not under PRAM; so does this module.) Each model is checked
//! per key, and a history satisfies a model when every key does.
//!
//! # Operations
//! `read`/`r`/`get`/`final-read` (ok: the value read), `write`/`w`/`put`,
//! `cas [from to]` (ok: an atomic read of `from` and write of `to`). Failed
//! ops did not happen and are dropped (a failed cas too, as in Jepsen);
//! indeterminate (`info`) reads constrain nothing and are dropped; an `info`
//! write or cas may or may not have happened. The initial value is `nil`
//! unless [`ConsistencyOptions::init`] says otherwise.
//! Other operations (`append`, ...) are an input error.
//!
//! # Definitions
//! Written values are unique per key, so each read names the write it read
//! (its *rf* source; `nil` names the initial value). A read of a value that
//! no write (or only a failed write) wrote is a **garbage read**: it violates
//! every model. `po` is the program order of one process (Jepsen's process;
//! a process that crashed mid-op continues under a new id, so a process is a
//! session). For the graph checks a cas is a read node followed by a write
//! node of the same process (its atomicity matters only to the sequential
//! and linearizable checks), and an `info` write or cas counts only when a
//! read observed its value (then it happened; leaving an unobserved one out
//! is always at least as permissive).
//!
//! - **linearizable**: the WGL search of [`crate::linearizability`] with the
//!   cas-register model and Jepsen's semantics.
//! - **sequential**: some total order of the ops that keeps each process's
//!   program order (real time does not count) is legal for the cas-register;
//!   `ok` ops must appear, `info` ops may. A budgeted depth-first search (see
//!   `sequential.rs`); `unknown` past the budget.
//! - The remaining models are *view* conditions. The view of process `q` is
//!   every write of the key plus `q`'s reads; a view is consistent with a set
//!   of edges when some legal register order of the view respects them (each
//!   read after the write it read with no write in between; reads of nil
//!   before every write). For a differentiated single-object history this is
//!   decidable in linear time: contract each write with the reads of `q` that
//!   read it (and the nil reads into one `init` node before every write); a
//!   legal order exists iff the contracted graph is acyclic.
//!   - **causal** (causal memory, Ahamad et al.; CM in Bouajjani, Enea,
//!     Guerraoui, Hamza, POPL 2017): causality `co = (po ∪ rf)+` is acyclic
//!     (their CyclicCO), and for every `q` the view respects `co` restricted
//!     to it. The view cycles are their WriteCOInitRead, WriteCORead,
//!     WriteHBInitRead and CyclicHB patterns; ThinAirRead is the garbage read.
//!   - **PRAM** (Lipton & Sandberg): every view respects the order in which
//!     each process issued its writes and `q`'s own program order.
//!   - **monotonic-reads**: every view respects `q`'s order among its reads:
//!     once `q` has read a write and moved on, it never reads it again, and it
//!     reads nil only before reading anything else.
//!   - **read-your-writes**: every view respects `q`'s program order except
//!     between two reads: `q`'s writes in order, each before `q`'s later ops,
//!     and each of `q`'s reads before `q`'s later writes. (So "wrote 1, wrote
//!     2, read 1" and "read 1, wrote 2, read 1" both fail.)
//!   - **monotonic-writes**: no process reads a write `w2` and later reads a
//!     write `w1` that `w2`'s process issued before `w2` (it observed one
//!     session's writes out of order).
//!   - **writes-follow-reads**: no process reads a write `w2` and later reads
//!     `w1`, where `w2`'s process read `w1` before issuing `w2`.
//!
//!   Every edge of a read-your-writes or monotonic-reads view is an edge of
//!   the PRAM view, every PRAM edge is a causal edge, and both session
//!   patterns close a cycle in the PRAM (monotonic-writes) or causal
//!   (writes-follow-reads) view, so the implications of the hierarchy hold by
//!   construction; a legal sequential order restricted to a view respects
//!   causality, so sequential implies causal.
//!   Values written twice in a key (or a write of nil) make reads ambiguous:
//!   the view checks answer `unknown` for that key.
//!
//! # Measures
//! - **stale-reads**: ok reads (not cas) of a value `v` such that some ok
//!   write `w'` of the key, invoked after `v`'s write completed (or any ok
//!   write, when `v` is nil), completed before the read was invoked: the read
//!   returned a value that had definitely been overwritten. Reads of a value
//!   whose write is indeterminate, or of a value written more than once in
//!   the key (which write they saw is ambiguous), are never counted stale.
//!   **max-staleness-ms**: the largest gap between the completion of the
//!   first such overwrite and the stale read's invocation.
//! - **The final phase** starts at the final heal: the last event of process
//!   `nemesis` whose `f` starts with `heal` or `stop`, or is `resume`,
//!   `start`, `restart`, `reset-clock` or `clock-reset`. Without one it starts
//!   at a nemesis `final-reads` marker. Ops whose `f` is `final-read` are in
//!   the final phase wherever they are.
//! - **lost-writes**: per key with reads in the final phase, the last
//!   acknowledged write (cas included) is lost when no final-phase read shows
//!   it and every final-phase read shows nil or a write that completed before
//!   it was invoked (no later-acknowledged write overwrote it, and what the
//!   key holds is definitely older). At most one per key.
//! - **converged**: the final reads are the `final-read` ops if the history
//!   has any, else the reads in the final phase; per key, the last final read
//!   of every node must return the same value. `null` when there are none.

mod graph;
mod measures;
mod sequential;

pub use measures::{final_point, FinalPoint, Measures};

use crate::history::{History, InputError, Operation, Process, Status};
use crate::linearizability::{LinOptions, ModelKind};
use crate::model::{fname, key_text, ValTable};
use crate::verdict::Verdict;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The models, strongest first along each chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    Linearizable,
    Sequential,
    Causal,
    Pram,
    MonotonicReads,
    MonotonicWrites,
    ReadYourWrites,
    WritesFollowReads,
}

impl Model {
    /// Every model, in the order the report lists them.
    pub const ALL: [Model; 8] = [
        Model::Linearizable,
        Model::Sequential,
        Model::Causal,
        Model::Pram,
        Model::MonotonicReads,
        Model::MonotonicWrites,
        Model::ReadYourWrites,
        Model::WritesFollowReads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Model::Linearizable => "linearizable",
            Model::Sequential => "sequential",
            Model::Causal => "causal",
            Model::Pram => "PRAM",
            Model::MonotonicReads => "monotonic-reads",
            Model::MonotonicWrites => "monotonic-writes",
            Model::ReadYourWrites => "read-your-writes",
            Model::WritesFollowReads => "writes-follow-reads",
        }
    }

    /// The JSON key (lowercase).
    pub fn key(self) -> &'static str {
        match self {
            Model::Pram => "pram",
            m => m.name(),
        }
    }

    /// The models this one directly implies.
    pub fn weaker(self) -> &'static [Model] {
        match self {
            Model::Linearizable => &[Model::Sequential],
            Model::Sequential => &[Model::Causal],
            Model::Causal => &[Model::Pram, Model::WritesFollowReads],
            Model::Pram => &[
                Model::MonotonicReads,
                Model::MonotonicWrites,
                Model::ReadYourWrites,
            ],
            _ => &[],
        }
    }

    /// True when `self` implies `other` (or is it).
    pub fn implies(self, other: Model) -> bool {
        self == other || self.weaker().iter().any(|w| w.implies(other))
    }
}

/// One op of a witness. (Read back from `results.json`, a field a
/// hand-written or older file lacks takes its default: status `info`,
/// process `?`, line 0.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WitnessOp {
    /// The history index of the invocation.
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
    #[serde(default = "unknown_process")]
    pub process: Process,
    #[serde(default)]
    pub f: String,
    /// What it read (reads) or wrote (writes, cas).
    #[serde(default)]
    pub value: Value,
    #[serde(default = "info_status")]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default)]
    pub line: usize,
}

fn unknown_process() -> Process {
    Process::Named("?".into())
}

fn info_status() -> Status {
    Status::Info
}

impl WitnessOp {
    pub fn of(op: &Operation) -> WitnessOp {
        let read = matches!(fname(op), "read" | "r" | "get" | "final-read");
        WitnessOp {
            index: op.invoke_index,
            complete_index: op.complete_index,
            process: op.process.clone(),
            f: op.f.clone(),
            value: if read || op.input.is_null() {
                op.output.clone()
            } else {
                op.input.clone()
            },
            status: op.status,
            node: op.node.clone(),
            line: op.invoke_line,
        }
    }
}

/// Why a model fails: the few ops that prove it and one sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Witness {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub ops: Vec<WitnessOp>,
    #[serde(default)]
    pub explanation: String,
}

impl Witness {
    fn new(key: &Key, ops: &[Operation], kops: &[&KOp], explanation: String) -> Witness {
        let mut v: Vec<WitnessOp> = kops.iter().map(|k| WitnessOp::of(&ops[k.op])).collect();
        v.sort_by_key(|o| o.index);
        v.dedup_by_key(|o| o.index);
        Witness {
            key: key.key.clone(),
            ops: v,
            explanation: match &key.key {
                Some(k) => format!("In key {k}: {explanation}"),
                None => explanation,
            },
        }
    }
}

/// Budgets and switches.
#[derive(Debug, Clone)]
pub struct ConsistencyOptions {
    /// Wall-clock budget of the linearizability search.
    pub timeout: Option<Duration>,
    /// Wall-clock budget of the sequential search (all keys together).
    pub sequential_timeout: Option<Duration>,
    /// Steps per key for the sequential search.
    pub sequential_max_steps: u64,
    /// Approximate memory budget of each search, in bytes.
    pub max_bytes: usize,
    /// Fill in verdicts the hierarchy implies (a stronger model that holds
    /// makes weaker ones hold; a weaker one that fails makes stronger ones
    /// fail), and skip the sequential search when they decide it. `false`
    /// runs every check on its own (for cross-checking).
    pub imply: bool,
    /// Run the linearizability search (otherwise `unknown`).
    pub linearizable: bool,
    /// Run the sequential search when needed (otherwise `unknown`).
    pub sequential: bool,
    /// The initial value of every register (`--init`): `null` (nil), a
    /// value for every key, or a map from key to value (a key it does not
    /// name starts nil).
    pub init: Value,
}

impl Default for ConsistencyOptions {
    fn default() -> Self {
        ConsistencyOptions {
            timeout: None,
            sequential_timeout: Some(Duration::from_secs(30)),
            sequential_max_steps: 50_000_000,
            max_bytes: 2 << 30,
            imply: true,
            linearizable: true,
            sequential: true,
            init: Value::Null,
        }
    }
}

/// The answer for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResult {
    pub model: Model,
    pub verdict: Verdict,
    pub witness: Option<Witness>,
    /// Why the verdict is unknown, or that it was implied.
    pub reason: Option<String>,
}

/// Where a history sits on the hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsistencyResult {
    /// In [`Model::ALL`] order.
    pub models: Vec<ModelResult>,
    pub measures: Measures,
    pub summary: String,
    /// Client operations in the history.
    pub ops: usize,
    pub keys: usize,
}

impl ConsistencyResult {
    pub fn get(&self, m: Model) -> &ModelResult {
        self.models
            .iter()
            .find(|r| r.model == m)
            .expect("every model has a result")
    }

    pub fn verdict(&self, m: Model) -> Verdict {
        self.get(m).verdict
    }
}

/// A map from each model's key to `pick(result)`, for the models where
/// `pick` gives something.
struct PerModel<'a, T: ?Sized + 'a, F>(&'a [ModelResult], F)
where
    F: Fn(&'a ModelResult) -> Option<&'a T>;

impl<'a, T, F> Serialize for PerModel<'a, T, F>
where
    T: Serialize + ?Sized + 'a,
    F: Fn(&'a ModelResult) -> Option<&'a T>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for r in self.0 {
            if let Some(v) = (self.1)(r) {
                m.serialize_entry(r.model.key(), v)?;
            }
        }
        m.end()
    }
}

impl Serialize for ConsistencyResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry(
            "consistency",
            &PerModel(&self.models, |r| Some(r.verdict.as_str())),
        )?;
        m.serialize_entry("measures", &self.measures)?;
        m.serialize_entry("witnesses", &PerModel(&self.models, |r| r.witness.as_ref()))?;
        m.serialize_entry("reasons", &PerModel(&self.models, |r| r.reason.as_deref()))?;
        m.serialize_entry("summary", &self.summary)?;
        m.end()
    }
}

// ---------------------------------------------------------------------------
// preparation

/// What an op does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    Read(u32),
    Write(u32),
    Cas(u32, u32),
}

/// An op that matters to the checks (ok reads; ok or info writes and cas).
#[derive(Debug, Clone)]
pub(crate) struct KOp {
    /// Index into the ops slice.
    pub op: usize,
    pub act: Act,
    /// `ok` (else `info`).
    pub ok: bool,
    /// Dense process id within the key.
    pub proc_: u32,
}

/// The ops of one key.
pub(crate) struct Key {
    pub key: Option<String>,
    pub ops: Vec<KOp>,
    pub nprocs: usize,
    pub procs: Vec<Process>,
    pub vals: ValTable,
}

impl Key {
    fn proc_name(&self, _ops: &[Operation], q: u32) -> String {
        self.procs[q as usize].to_string()
    }
}

/// "process 3's read of 2 (index 7)".
pub(crate) fn describe(ops: &[Operation], k: &KOp, vals: &ValTable) -> String {
    let o = &ops[k.op];
    let what = match k.act {
        Act::Read(v) => format!("read of {}", vals.show(v)),
        Act::Write(v) => format!("write of {}", vals.show(v)),
        Act::Cas(a, b) => format!("cas {} -> {}", vals.show(a), vals.show(b)),
    };
    format!(
        "process {}'s {}{} (index {})",
        o.process,
        what,
        if k.ok { "" } else { " (indeterminate)" },
        o.invoke_index
    )
}

fn prepare(ops: &[Operation], source: &str, init: &Value) -> Result<Vec<Key>, InputError> {
    let mut index: FxHashMap<Option<String>, usize> = FxHashMap::default();
    let mut keys: Vec<Key> = Vec::new();
    let mut pidx: Vec<FxHashMap<Process, u32>> = Vec::new();
    // Per key: its initial value when not nil, and the id `null` takes
    // then. The checks take the initial value to be `NIL`, so a non-nil one
    // is renamed to it (and `null` to a fresh id): a renaming of values,
    // which changes no verdict.
    let mut inits: Vec<Option<(Value, u32)>> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if !op.process.is_client() {
            continue;
        }
        let kt = op.key.as_ref().map(key_text);
        let slot = *index.entry(kt.clone()).or_insert_with(|| {
            let mut vals = ValTable::new();
            let iv = crate::model::init_for_key(init, kt.as_deref());
            inits.push((!iv.is_null()).then(|| (iv.clone(), vals.rename_initial(iv))));
            keys.push(Key {
                key: kt,
                ops: Vec::new(),
                nprocs: 0,
                procs: Vec::new(),
                vals,
            });
            pidx.push(FxHashMap::default());
            keys.len() - 1
        });
        let key = &mut keys[slot];
        let renamed = &inits[slot];
        let intern = |vals: &mut ValTable, v: &Value| -> u32 {
            match renamed {
                Some((iv, _)) if v == iv => crate::model::NIL,
                Some((_, nil)) if v.is_null() => *nil,
                _ => vals.intern(v),
            }
        };
        let bad =
            |field: &str, msg: String| InputError::new(source, op.invoke_line, Some(field), msg);
        let act = match fname(op) {
            "read" | "r" | "get" | "final-read" | "final-reads" => {
                if op.status != Status::Ok {
                    continue;
                }
                Act::Read(intern(&mut key.vals, &op.output))
            }
            "write" | "w" | "put" => {
                if op.status == Status::Fail {
                    continue;
                }
                let v = if op.input.is_null() {
                    &op.output
                } else {
                    &op.input
                };
                Act::Write(intern(&mut key.vals, v))
            }
            "cas" => {
                if op.status == Status::Fail {
                    continue;
                }
                let v = if op.input.is_array() {
                    &op.input
                } else {
                    &op.output
                };
                match v.as_array().map(Vec::as_slice) {
                    Some([a, b]) => Act::Cas(intern(&mut key.vals, a), intern(&mut key.vals, b)),
                    _ => {
                        return Err(bad(
                            "value",
                            format!(
                                "consistency checks: a cas value must be [old new], got {}",
                                crate::model::show_value(v)
                            ),
                        ))
                    }
                }
            }
            other => {
                return Err(bad(
                    "f",
                    format!(
                        "consistency checks cover registers (read, write, cas); `{other}` is not one of their operations"
                    ),
                ))
            }
        };
        let procs = &mut pidx[slot];
        let np = procs.len() as u32;
        let p = *procs.entry(op.process.clone()).or_insert(np);
        if p == np {
            key.procs.push(op.process.clone());
        }
        key.nprocs = key.procs.len();
        key.ops.push(KOp {
            op: i,
            act,
            ok: op.status == Status::Ok,
            proc_: p,
        });
    }
    Ok(keys)
}

// ---------------------------------------------------------------------------
// the checks

/// Checks a history: pairs its operations and finds the final phase from its
/// nemesis events.
pub fn check_history(
    history: &History,
    opts: &ConsistencyOptions,
) -> Result<ConsistencyResult, InputError> {
    let ops = history.operations()?;
    check(&ops, opts, &history.source, final_point(history))
}

/// Checks paired operations. `source` names the history in errors; `fp` is
/// where its final phase starts ([`final_point`]).
pub fn check(
    ops: &[Operation],
    opts: &ConsistencyOptions,
    source: &str,
    fp: FinalPoint,
) -> Result<ConsistencyResult, InputError> {
    let keys = prepare(ops, source, &opts.init)?;
    let mut res: Vec<ModelResult> = Model::ALL
        .iter()
        .map(|&m| ModelResult {
            model: m,
            verdict: Verdict::Valid,
            witness: None,
            reason: None,
        })
        .collect();
    let idx = |m: Model| Model::ALL.iter().position(|&x| x == m).unwrap_or(0);

    // Graph checks, per key in parallel.
    enum KeyOut {
        Done(Vec<(Model, Witness)>),
        Garbage(Witness),
        Unknown(String),
    }
    let outs: Vec<KeyOut> = keys
        .par_iter()
        .map(|key| match graph::build(key, ops) {
            graph::Build::Garbage(w) => KeyOut::Garbage(w),
            graph::Build::NotDifferentiated(why) => KeyOut::Unknown(match &key.key {
                Some(k) => format!("in key {k}: {why}"),
                None => why,
            }),
            graph::Build::Ok(g) => KeyOut::Done(graph::check_key(&g).found),
        })
        .collect();
    let graph_models = [
        Model::Causal,
        Model::Pram,
        Model::MonotonicReads,
        Model::MonotonicWrites,
        Model::ReadYourWrites,
        Model::WritesFollowReads,
    ];
    let mut garbage: Option<Witness> = None;
    for out in outs {
        match out {
            KeyOut::Garbage(w) => {
                if garbage.is_none() {
                    garbage = Some(w);
                }
            }
            KeyOut::Unknown(why) => {
                for m in graph_models {
                    let r = &mut res[idx(m)];
                    if r.verdict == Verdict::Valid {
                        r.verdict = Verdict::Unknown;
                        r.reason = Some(why.clone());
                    }
                }
            }
            KeyOut::Done(found) => {
                for (m, w) in found {
                    let r = &mut res[idx(m)];
                    if r.verdict != Verdict::Invalid {
                        r.verdict = Verdict::Invalid;
                        r.witness = Some(w);
                        r.reason = None;
                    }
                }
            }
        }
    }
    if let Some(g) = &garbage {
        for m in graph_models {
            let r = &mut res[idx(m)];
            r.verdict = Verdict::Invalid;
            r.witness = Some(g.clone());
            r.reason = None;
        }
    }

    // Linearizability.
    {
        let r = &mut res[idx(Model::Linearizable)];
        if opts.linearizable {
            let norm: Vec<Operation> = ops
                .iter()
                .map(|o| {
                    let mut o = o.clone();
                    if matches!(fname(&o), "final-read" | "final-reads") {
                        o.f = "read".into();
                    }
                    o
                })
                .collect();
            let lo = LinOptions {
                model: ModelKind::CasRegister,
                partition: true,
                fail_cas_observes: false,
                timeout: opts.timeout,
                max_bytes: opts.max_bytes,
                init: opts.init.clone(),
                ..LinOptions::default()
            };
            match crate::linearizability::check(&norm, &lo, source) {
                Ok(l) => {
                    r.verdict = l.verdict;
                    r.reason = l.reason;
                    if let Some(cx) = l.counterexample {
                        let mut wops: Vec<WitnessOp> = std::iter::once(cx.op.id)
                            .chain(cx.candidates.iter().map(|c| c.op.id))
                            .chain(cx.linearized.last().map(|s| s.op.id))
                            .map(|id| WitnessOp::of(&ops[id]))
                            .collect();
                        wops.sort_by_key(|o| o.index);
                        wops.dedup_by_key(|o| o.index);
                        r.witness = Some(Witness {
                            key: cx.partition.clone(),
                            ops: wops,
                            explanation: cx.explanation,
                        });
                    }
                }
                Err(e) => {
                    r.verdict = Verdict::Unknown;
                    r.reason = Some(e.to_string());
                }
            }
        } else {
            r.verdict = Verdict::Unknown;
            r.reason = Some("not checked".into());
        }
    }

    // Sequential consistency.
    {
        let lin = res[idx(Model::Linearizable)].verdict;
        let causal = res[idx(Model::Causal)].clone();
        let r = &mut res[idx(Model::Sequential)];
        if opts.imply && lin == Verdict::Valid {
            r.verdict = Verdict::Valid;
            r.reason = Some("implied: linearizable".into());
        } else if opts.imply && causal.verdict == Verdict::Invalid {
            r.verdict = Verdict::Invalid;
            r.witness = causal.witness;
            r.reason = Some("implied: not causal".into());
        } else if !opts.sequential {
            r.verdict = Verdict::Unknown;
            r.reason = Some("not checked".into());
        } else {
            let deadline = opts.sequential_timeout.map(|t| Instant::now() + t);
            let cancel = AtomicBool::new(false);
            let limits = sequential::SeqLimits {
                deadline,
                max_steps: opts.sequential_max_steps,
                max_bytes: opts.max_bytes / rayon::current_num_threads().max(1),
                cancel: Some(&cancel),
            };
            let outs: Vec<sequential::SeqOutcome> = keys
                .par_iter()
                .map(|k| {
                    let o = sequential::search(k, ops, &limits);
                    if matches!(o, sequential::SeqOutcome::Invalid(_)) {
                        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    o
                })
                .collect();
            r.verdict = Verdict::Valid;
            for o in outs {
                match o {
                    sequential::SeqOutcome::Valid => {}
                    sequential::SeqOutcome::Invalid(w) => {
                        if r.verdict != Verdict::Invalid {
                            r.verdict = Verdict::Invalid;
                            r.witness = Some(w);
                            r.reason = None;
                        }
                    }
                    sequential::SeqOutcome::Unknown(why) => {
                        if r.verdict == Verdict::Valid {
                            r.verdict = Verdict::Unknown;
                            r.reason = Some(why);
                        } else if r.verdict == Verdict::Unknown
                            && r.reason.as_deref() == Some("cancelled")
                        {
                            r.reason = Some(why);
                        }
                    }
                }
            }
        }
    }

    if opts.imply {
        apply_implications(&mut res);
    }
    let measures = measures::measure(&keys, ops, fp);
    let summary = summarize(&res);
    Ok(ConsistencyResult {
        models: res,
        measures,
        summary,
        ops: ops.iter().filter(|o| o.process.is_client()).count(),
        keys: keys.len(),
    })
}

/// Fills in unknown verdicts that the hierarchy decides.
fn apply_implications(res: &mut [ModelResult]) {
    for i in 0..res.len() {
        for j in 0..res.len() {
            let (a, b) = (res[i].model, res[j].model);
            if i == j || !a.implies(b) {
                continue;
            }
            // a valid => b valid
            if res[i].verdict == Verdict::Valid && res[j].verdict == Verdict::Unknown {
                res[j].verdict = Verdict::Valid;
                res[j].reason = Some(format!("implied: {}", a.name()));
            }
            // b invalid => a invalid
            if res[j].verdict == Verdict::Invalid && res[i].verdict == Verdict::Unknown {
                res[i].verdict = Verdict::Invalid;
                res[i].witness = res[j].witness.clone();
                res[i].reason = Some(format!("implied: not {}", b.name()));
            }
        }
    }
}

/// "linearizable" / "causal holds; not sequential (also not linearizable)".
fn summarize(res: &[ModelResult]) -> String {
    let v = |m: Model| res.iter().find(|r| r.model == m).map(|r| r.verdict);
    let holds: Vec<Model> = Model::ALL
        .iter()
        .copied()
        .filter(|&m| v(m) == Some(Verdict::Valid))
        .filter(|&m| {
            !Model::ALL
                .iter()
                .any(|&s| s != m && s.implies(m) && v(s) == Some(Verdict::Valid))
        })
        .collect();
    let fails: Vec<Model> = Model::ALL
        .iter()
        .copied()
        .filter(|&m| v(m) == Some(Verdict::Invalid))
        .filter(|&m| {
            !Model::ALL
                .iter()
                .any(|&w| w != m && m.implies(w) && v(w) == Some(Verdict::Invalid))
        })
        .collect();
    let also: Vec<Model> = Model::ALL
        .iter()
        .copied()
        .filter(|&m| v(m) == Some(Verdict::Invalid) && !fails.contains(&m))
        .collect();
    let unknown: Vec<Model> = Model::ALL
        .iter()
        .copied()
        .filter(|&m| v(m) == Some(Verdict::Unknown))
        .collect();
    let names = |ms: &[Model]| ms.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ");
    let mut s = if holds.is_empty() {
        "no model holds".to_string()
    } else if fails.is_empty() && unknown.is_empty() {
        format!("{} (every model holds)", names(&holds))
    } else {
        format!("strongest that holds: {}", names(&holds))
    };
    if !fails.is_empty() {
        s.push_str(&format!("; not {}", names(&fails)));
        if !also.is_empty() {
            s.push_str(&format!(", also not {}", names(&also)));
        }
    }
    if !unknown.is_empty() {
        s.push_str(&format!("; unknown: {}", names(&unknown)));
    }
    s
}
