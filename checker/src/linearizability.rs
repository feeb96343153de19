//! The linearizability checker: prepares a history for a model, splits it
//! into independent partitions (P-compositionality), searches them in
//! parallel on the rayon pool, largest first, and stops every search as soon
//! as one partition is found not linearizable.

use crate::history::{InputError, Operation, Process, Status};
use crate::model::{key_text, Model, Seeded, ValTable};
use crate::models::*;
use crate::verdict::Verdict;
use crate::wgl::{self, Limits, Outcome, SearchOp};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The models `--model` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Register,
    CasRegister,
    Kv,
    MultiRegister,
    Mutex,
    Set,
    FifoQueue,
    UnorderedQueue,
}

impl ModelKind {
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::MultiRegister,
        ModelKind::Mutex,
        ModelKind::Set,
        ModelKind::FifoQueue,
        ModelKind::UnorderedQueue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Mutex => "mutex",
            ModelKind::Set => "set",
            ModelKind::FifoQueue => "fifo-queue",
            ModelKind::UnorderedQueue => "unordered-queue",
        }
    }

    pub fn parse(s: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Guesses the model from the operation names in a history.
    pub fn infer(ops: &[Operation]) -> ModelKind {
        let has = |names: &[&str]| {
            ops.iter()
                .any(|o| names.contains(&o.f.strip_prefix(':').unwrap_or(&o.f)))
        };
        if has(&["txn", "transaction"]) {
            ModelKind::MultiRegister
        } else if has(&["acquire", "release", "lock", "unlock"]) {
            ModelKind::Mutex
        } else if has(&["enqueue", "dequeue"]) {
            ModelKind::FifoQueue
        } else if has(&["add"]) {
            ModelKind::Set
        } else if has(&["append", "get", "put"]) {
            ModelKind::Kv
        } else if has(&["cas"]) {
            ModelKind::CasRegister
        } else {
            ModelKind::Register
        }
    }
}

/// How to check.
#[derive(Debug, Clone)]
pub struct LinOptions {
    pub model: ModelKind,
    /// Split the history by each op's `key` (P-compositionality). For `kv`,
    /// `false` checks the whole map as one state.
    pub partition: bool,
    /// A failed cas means "the value was not `old`" (Porcupine's etcd model)
    /// rather than "did not happen" (Jepsen).
    pub fail_cas_observes: bool,
    /// Wall-clock budget for the whole check.
    pub timeout: Option<Duration>,
    /// Approximate memory budget for the whole check, in bytes.
    pub max_bytes: usize,
    /// Search every partition and report each that is not linearizable
    /// (`--all-anomalies`), instead of stopping at the first: the verdict
    /// is the same, the check takes longer.
    pub all_anomalies: bool,
    /// The initial state (`--init`): `null` is the model's own (nil, empty);
    /// see [`Model::initial`] for what each model accepts.
    pub init: Value,
}

impl Default for LinOptions {
    fn default() -> Self {
        LinOptions {
            model: ModelKind::Register,
            partition: true,
            fail_cas_observes: false,
            timeout: None,
            max_bytes: 4 << 30,
            all_anomalies: false,
            init: Value::Null,
        }
    }
}

/// An operation as shown in a counterexample.
#[derive(Debug, Clone, Serialize)]
pub struct OpView {
    pub id: usize,
    pub process: Process,
    pub f: String,
    pub input: Value,
    pub output: Value,
    pub status: Status,
    /// What the model saw: e.g. `read 3`, `cas 1 -> 2`.
    pub description: String,
    pub invoke_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
    pub invoke_line: usize,
    pub complete_line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// One step of the longest linearization found.
#[derive(Debug, Clone, Serialize)]
pub struct LinStep {
    pub op: OpView,
    pub state_after: String,
}

/// A candidate for the next step after the longest linearization.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub op: OpView,
    /// Whether the model accepts it in that state.
    pub legal: bool,
    /// Why it cannot come next.
    pub reason: String,
}

/// Why a history is not linearizable, in terms a person can follow.
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    /// The key of the partition that failed (`null` when unpartitioned).
    pub partition: Option<String>,
    /// Operations in that partition.
    pub partition_ops: usize,
    /// The op that could not be linearized: its return was reached while
    /// every order of the pending ops led to a dead end.
    pub op: OpView,
    /// The longest linearizable prefix found.
    pub linearized: Vec<LinStep>,
    /// The model state after `linearized`.
    pub state: String,
    pub candidates: Vec<Candidate>,
    /// One paragraph for people.
    pub explanation: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SearchStats {
    pub steps: u64,
    pub backtracks: u64,
    pub memo_entries: u64,
    pub states: u64,
}

/// The result of a linearizability check.
#[derive(Debug, Clone, Serialize)]
pub struct LinResult {
    pub verdict: Verdict,
    pub model: &'static str,
    /// Client operations in the history.
    pub ops: usize,
    /// Operations the model had to place (fails and unknown reads dropped).
    pub checked_ops: usize,
    pub partitions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// With `all_anomalies`: the counterexamples of the other partitions
    /// that are not linearizable, in the order of their stuck ops.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_counterexamples: Vec<Counterexample>,
    pub stats: SearchStats,
}

/// Checks `ops` (from [`crate::History::operations`]) for linearizability.
/// `source` names the history in errors.
pub fn check(ops: &[Operation], opts: &LinOptions, source: &str) -> Result<LinResult, InputError> {
    match opts.model {
        ModelKind::Register => run(&RegisterModel::default(), ops, opts, source),
        ModelKind::CasRegister => run(
            &RegisterModel {
                cas: true,
                fail_cas_observes: opts.fail_cas_observes,
            },
            ops,
            opts,
            source,
        ),
        ModelKind::Kv if opts.partition => run(&KvModel, ops, opts, source),
        ModelKind::Kv => run(&KvMapModel, ops, opts, source),
        ModelKind::MultiRegister => run(&MultiRegisterModel, ops, opts, source),
        ModelKind::Mutex => run(&MutexModel, ops, opts, source),
        ModelKind::Set => run(&SetModel, ops, opts, source),
        ModelKind::FifoQueue => run(&FifoQueueModel, ops, opts, source),
        ModelKind::UnorderedQueue => run(&UnorderedQueueModel, ops, opts, source),
    }
}

/// Client operations grouped by partition key, in history order.
fn partitions(ops: &[Operation], by_key: bool) -> Vec<(Option<String>, Vec<usize>)> {
    let mut index: rustc_hash::FxHashMap<String, usize> = Default::default();
    let mut parts: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if !op.process.is_client() {
            continue;
        }
        let key = if by_key {
            op.key.as_ref().map(key_text)
        } else {
            None
        };
        let name = key.clone().unwrap_or_else(|| "\u{0}none".to_string());
        let slot = *index.entry(name).or_insert_with(|| {
            parts.push((key, Vec::new()));
            parts.len() - 1
        });
        parts[slot].1.push(i);
    }
    parts
}

/// Steps each key may take in the first round (see [`run`]): a few
/// milliseconds.
const FIRST_ROUND_STEPS: u64 = 100_000;

enum PartResult {
    /// Not decided within the first round's step budget.
    Undecided,
    Valid(wgl::Stats, usize),
    Invalid(Box<Counterexample>, wgl::Stats, usize),
    Unknown(String, wgl::Stats, usize),
    Bad(InputError),
}

fn run<M: Model>(
    model: &M,
    ops: &[Operation],
    opts: &LinOptions,
    source: &str,
) -> Result<LinResult, InputError> {
    let start = Instant::now();
    let deadline = opts.timeout.map(|t| start + t);
    // Multi-register transactions span keys; the unpartitioned kv model
    // holds every key.
    let by_key = opts.partition && !matches!(opts.model, ModelKind::MultiRegister);
    let mut parts = partitions(ops, by_key);
    parts.sort_by_key(|p| std::cmp::Reverse(p.1.len()));
    let cancel = AtomicBool::new(false);
    let nparts = parts.len().max(1);
    // One budget for all the partitions, shared as they run.
    let used = std::sync::atomic::AtomicUsize::new(0);
    let search_part = |key: &Option<String>, idxs: &Vec<usize>, max_steps: u64| {
        if cancel.load(Ordering::Relaxed) {
            return PartResult::Unknown("cancelled".into(), wgl::Stats::default(), 0);
        }
        let mut vals = ValTable::new();
        let seeded = match model.initial(&opts.init, key.as_deref(), &mut vals) {
            Ok(init) => Seeded { inner: model, init },
            Err(e) => {
                return PartResult::Bad(InputError::new(
                    source,
                    0,
                    Some(e.field),
                    format!("model {}: {}", model.name(), e.message),
                ))
            }
        };
        let mut sops: Vec<SearchOp<M::Op>> = Vec::with_capacity(idxs.len());
        let mut origin: Vec<usize> = Vec::with_capacity(idxs.len());
        for &i in idxs {
            let op = &ops[i];
            match model.prepare(op, &mut vals) {
                Ok(Some(m)) => {
                    sops.push(SearchOp {
                        op: m,
                        call: op.call as u64,
                        ret: op.ret.map(|r| r as u64),
                    });
                    origin.push(i);
                }
                Ok(None) => {}
                Err(e) => {
                    let line =
                        if op.complete_line > 0 && e.field == "value" && op.status == Status::Ok {
                            op.complete_line
                        } else {
                            op.invoke_line
                        };
                    return PartResult::Bad(InputError::new(
                        source,
                        line,
                        Some(e.field),
                        format!("model {}: {}", model.name(), e.message),
                    ));
                }
            }
        }
        // Ops the model says cannot matter are left out of the search.
        let keep: Vec<(&M::Op, bool)> = sops.iter().map(|o| (&o.op, o.ret.is_some())).collect();
        let removable = model.removable(&keep);
        if removable.iter().any(|&r| r) {
            let mut i = 0;
            sops.retain(|_| {
                i += 1;
                !removable[i - 1]
            });
            let mut j = 0;
            origin.retain(|_| {
                j += 1;
                !removable[j - 1]
            });
        }
        let checked = sops.len();
        let limits = Limits {
            deadline,
            max_bytes: opts.max_bytes,
            cancel: Some(&cancel),
            used: Some(&used),
            max_steps,
        };
        let (outcome, stats) = match decide_impossible(&seeded, &sops, limits) {
            Some(decided) => decided,
            None => wgl::search(&seeded, &sops, limits),
        };
        match outcome {
            Outcome::Linearizable { .. } => PartResult::Valid(stats, checked),
            Outcome::Unknown { reason } if reason == wgl::STEP_CAP => PartResult::Undecided,
            Outcome::Unknown { reason } => PartResult::Unknown(reason, stats, checked),
            Outcome::NotLinearizable(stuck) => {
                if !opts.all_anomalies {
                    cancel.store(true, Ordering::Relaxed);
                }
                let cx = counterexample(&seeded, ops, &sops, &origin, &vals, key.clone(), stuck);
                PartResult::Invalid(Box::new(cx), stats, checked)
            }
        }
    };
    // Two rounds, so that one hard key cannot hide an easy violation in
    // another (the check stops at the first key found not linearizable):
    // first every key with a small step budget, then the keys still
    // undecided with no step budget. A key searched twice costs at most
    // FIRST_ROUND_STEPS more.
    let mut results: Vec<PartResult> = parts
        .par_iter()
        .map(|(key, idxs)| {
            let cap = if parts.len() > 1 {
                FIRST_ROUND_STEPS
            } else {
                u64::MAX
            };
            search_part(key, idxs, cap)
        })
        .collect();
    let undecided: Vec<usize> = (0..results.len())
        .filter(|&i| matches!(results[i], PartResult::Undecided))
        .collect();
    let second: Vec<PartResult> = undecided
        .par_iter()
        .map(|&i| search_part(&parts[i].0, &parts[i].1, u64::MAX))
        .collect();
    for (i, r) in undecided.into_iter().zip(second) {
        results[i] = r;
    }

    let mut stats = SearchStats::default();
    let mut checked_ops = 0;
    let mut verdict = Verdict::Valid;
    let mut reason: Option<String> = None;
    let mut cxs: Vec<Counterexample> = Vec::new();
    let mut bad: Option<InputError> = None;
    for r in results {
        let (s, c) = match r {
            PartResult::Undecided => unreachable!("the second round decides every key"),
            PartResult::Bad(e) => {
                if bad.as_ref().is_none_or(|b| e.line < b.line) {
                    bad = Some(e);
                }
                continue;
            }
            PartResult::Valid(s, c) => (s, c),
            PartResult::Unknown(why, s, c) => {
                if verdict == Verdict::Valid {
                    verdict = Verdict::Unknown;
                }
                if reason.is_none() || reason.as_deref() == Some("cancelled") {
                    reason = Some(why);
                }
                (s, c)
            }
            PartResult::Invalid(x, s, c) => {
                verdict = Verdict::Invalid;
                cxs.push(*x);
                (s, c)
            }
        };
        stats.steps += s.steps;
        stats.backtracks += s.backtracks;
        stats.memo_entries += s.memo_entries;
        stats.states += s.states;
        checked_ops += c;
    }
    if let Some(e) = bad {
        return Err(e);
    }
    if verdict == Verdict::Invalid {
        reason = None;
    }
    // Deterministic order among several failing partitions (more than one
    // when all were searched, or when two failed at once): the one whose
    // stuck op comes first leads.
    cxs.sort_by_key(|x| x.op.invoke_index);
    let mut cxs = cxs.into_iter();
    let cx = cxs.next();
    let more_counterexamples = if opts.all_anomalies {
        cxs.collect()
    } else {
        Vec::new()
    };
    Ok(LinResult {
        verdict,
        model: model.name(),
        ops: ops.iter().filter(|o| o.process.is_client()).count(),
        checked_ops,
        partitions: if parts.is_empty() { 0 } else { nparts },
        reason,
        counterexample: cx,
        more_counterexamples,
        stats,
    })
}

/// When the model names an op that no reachable state accepts
/// ([`Model::impossible`]), the partition is not linearizable in any order:
/// deciding it needs no exhaustive search. The witness is a linearization
/// of the ops invoked before that op returned (those still running then
/// count as indeterminate), found by the ordinary search, after which the op
/// cannot come. If those ops have no linearization either, theirs is the
/// earlier violation and is reported instead.
fn decide_impossible<M: Model>(
    model: &M,
    sops: &[SearchOp<M::Op>],
    limits: Limits<'_>,
) -> Option<(Outcome<M::State>, wgl::Stats)> {
    let keep: Vec<(&M::Op, bool)> = sops.iter().map(|o| (&o.op, o.ret.is_some())).collect();
    let i = model.impossible(&model.init(), &keep)?;
    let ret_i = sops[i].ret?;
    let mut index: Vec<u32> = Vec::new();
    let mut sub: Vec<SearchOp<M::Op>> = Vec::new();
    for (j, o) in sops.iter().enumerate() {
        if j != i && o.call < ret_i {
            index.push(j as u32);
            sub.push(SearchOp {
                op: o.op.clone(),
                call: o.call,
                ret: o.ret.filter(|&r| r < ret_i),
            });
        }
    }
    let (outcome, stats) = wgl::search(model, &sub, limits);
    let outcome = match outcome {
        Outcome::Linearizable { order } => {
            let mut state = model.init();
            for &k in &order {
                state = model
                    .step(&state, &sub[k as usize].op)
                    .unwrap_or_else(|| state.clone());
            }
            // The op and those still pending when it returned, unplaced.
            let mut placed = vec![false; sub.len()];
            for &k in &order {
                placed[k as usize] = true;
            }
            let mut candidates = vec![i as u32];
            candidates.extend(
                (0..sub.len())
                    .filter(|&k| !placed[k] && sub[k].ret.is_none())
                    .map(|k| index[k]),
            );
            Outcome::NotLinearizable(wgl::Stuck {
                prefix: order.iter().map(|&k| index[k as usize]).collect(),
                state,
                stuck: i as u32,
                candidates,
            })
        }
        Outcome::NotLinearizable(s) => Outcome::NotLinearizable(wgl::Stuck {
            prefix: s.prefix.iter().map(|&k| index[k as usize]).collect(),
            state: s.state,
            stuck: index[s.stuck as usize],
            candidates: s.candidates.iter().map(|&k| index[k as usize]).collect(),
        }),
        unknown => unknown,
    };
    Some((outcome, stats))
}

fn view<M: Model>(model: &M, op: &Operation, mop: &M::Op, vals: &ValTable) -> OpView {
    OpView {
        id: op.id,
        process: op.process.clone(),
        f: op.f.clone(),
        input: op.input.clone(),
        output: op.output.clone(),
        status: op.status,
        description: model.describe_op(mop, vals),
        invoke_index: op.invoke_index,
        complete_index: op.complete_index,
        invoke_line: op.invoke_line,
        complete_line: op.complete_line,
        node: op.node.clone(),
    }
}

fn counterexample<M: Model>(
    model: &M,
    ops: &[Operation],
    sops: &[SearchOp<M::Op>],
    origin: &[usize],
    vals: &ValTable,
    key: Option<String>,
    stuck: wgl::Stuck<M::State>,
) -> Counterexample {
    let mut state = model.init();
    let mut linearized = Vec::with_capacity(stuck.prefix.len());
    for &i in &stuck.prefix {
        let m = &sops[i as usize].op;
        state = model.step(&state, m).unwrap_or_else(|| state.clone());
        linearized.push(LinStep {
            op: view(model, &ops[origin[i as usize]], m, vals),
            state_after: model.describe_state(&state, vals),
        });
    }
    let st = &stuck.state;
    let candidates: Vec<Candidate> = stuck
        .candidates
        .iter()
        .map(|&i| {
            let m = &sops[i as usize].op;
            let legal = model.step(st, m).is_some();
            Candidate {
                op: view(model, &ops[origin[i as usize]], m, vals),
                legal,
                reason: if legal {
                    "legal here, but every continuation after it was already explored and leads to a dead end"
                        .to_string()
                } else {
                    model.explain(st, m, vals)
                },
            }
        })
        .collect();
    let stuck_op = &ops[origin[stuck.stuck as usize]];
    let sview = view(model, stuck_op, &sops[stuck.stuck as usize].op, vals);
    let explanation = format!(
        "{}process {}'s `{}` (history index {}, line {}) completed before it could be linearized: after the longest linearizable prefix ({} ops) the {} state is {}, and none of the {} operations that could come next leads to a linearization that includes it.",
        key.as_ref().map(|k| format!("In key {k}: ")).unwrap_or_default(),
        stuck_op.process,
        sview.description,
        stuck_op.complete_index.unwrap_or(stuck_op.invoke_index),
        stuck_op.complete_line,
        linearized.len(),
        model.name(),
        model.describe_state(st, vals),
        candidates.len(),
    );
    Counterexample {
        partition: key,
        partition_ops: sops.len(),
        op: sview,
        linearized,
        state: model.describe_state(st, vals),
        candidates,
        explanation,
    }
}
