//! Sequential consistency of one key: a depth-first search over each
//! process's next-operation pointer, with memoization of (pointers, register
//! value). Only program order constrains; real time does not.
//!
//! `ok` ops must be placed; an `info` op (a process's last) may be placed or
//! left out. A legal read is placed greedily and its alternatives are not
//! explored: a read changes no state, so if any completion exists from here,
//! one exists with the read placed now. As in the linearizability search
//! (`wgl`), an `info` op is never placed right before a blind write: the
//! write would erase it before anything saw it, so the order with it left
//! out is as good; the configuration carries that one bit.
//!
//! A value dies when the register leaves it and no op that could write it
//! again is left to place: a placement that would kill a value some `ok`
//! op still to be placed needs (an `ok` read of it, an `ok` cas from it)
//! is refused, because no completion can follow it. This is what keeps
//! the search small on histories of unique writes: every read of the
//! current value must be placed before the value is overwritten.

use super::{Act, Key, Witness};
use crate::history::Operation;
use crate::model::{Model, NIL};
use crate::models::{CasOutcome, RegisterModel, RegisterOp};
use hashbrown::HashTable;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub(crate) enum SeqOutcome {
    Valid,
    Invalid(Witness),
    Unknown(String),
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn z(p: usize, pos: u32) -> u64 {
    splitmix(((p as u64) << 32) | pos as u64)
}

struct Step {
    op: RegisterOp,
    required: bool,
    kop: u32,
    /// The value (slot) this op needs the register to hold, when it must
    /// be placed (an `ok` read or cas).
    needs: Option<u32>,
    /// The value (slot) it may write (a write, a cas's new value).
    writes: Option<u32>,
}

/// Per value (slot): `ok` ops still to place that need it, and ops still
/// to place that may write it.
struct Lives {
    need: Vec<u32>,
    writers: Vec<u32>,
}

impl Lives {
    fn place(&mut self, s: &Step) {
        if let Some(n) = s.needs {
            self.need[n as usize] -= 1;
        }
        if let Some(w) = s.writes {
            self.writers[w as usize] -= 1;
        }
    }

    fn unplace(&mut self, s: &Step) {
        if let Some(n) = s.needs {
            self.need[n as usize] += 1;
        }
        if let Some(w) = s.writes {
            self.writers[w as usize] += 1;
        }
    }

    /// Some op still to place needs `slot`, and nothing left can write it.
    fn dead_if_left(&self, slot: u32) -> bool {
        self.need[slot as usize] > 0 && self.writers[slot as usize] == 0
    }
}

/// Budgets for one key's search.
pub(crate) struct SeqLimits<'a> {
    pub deadline: Option<Instant>,
    pub max_steps: u64,
    pub max_bytes: usize,
    pub cancel: Option<&'a AtomicBool>,
}

pub(crate) fn search(key: &Key, ops: &[Operation], limits: &SeqLimits<'_>) -> SeqOutcome {
    let model = RegisterModel {
        cas: true,
        fail_cas_observes: false,
    };
    let mut seqs: Vec<Vec<Step>> = (0..key.nprocs).map(|_| Vec::new()).collect();
    let mut total = 0u32;
    // Values by slot (dense), the initial nil first.
    let mut slots: hashbrown::HashMap<u32, u32> = hashbrown::HashMap::new();
    let mut slot = |v: u32| {
        let n = slots.len() as u32;
        *slots.entry(v).or_insert(n)
    };
    slot(NIL);
    for (i, k) in key.ops.iter().enumerate() {
        let op = match k.act {
            Act::Read(v) => RegisterOp::Read(v),
            Act::Write(v) => RegisterOp::Write(v),
            Act::Cas(from, to) => RegisterOp::Cas {
                from,
                to,
                outcome: if k.ok {
                    CasOutcome::Applied
                } else {
                    CasOutcome::Unknown
                },
            },
        };
        let (needs, writes) = match op {
            RegisterOp::Read(v) => (Some(slot(v)), None),
            RegisterOp::Write(v) => (None, Some(slot(v))),
            RegisterOp::Cas { from, to, .. } => (Some(slot(from)), Some(slot(to))),
        };
        seqs[k.proc_ as usize].push(Step {
            op,
            required: k.ok,
            kop: i as u32,
            needs: needs.filter(|_| k.ok),
            writes,
        });
        total += k.ok as u32;
    }
    let mut lives = Lives {
        need: vec![0; slots.len()],
        writers: vec![0; slots.len()],
    };
    for s in seqs.iter().flatten() {
        lives.unplace(s);
    }
    let slot_of = |v: u32| slots.get(&v).copied();
    seqs.retain(|s| !s.is_empty());
    let np = seqs.len();
    let mut pos = vec![0u32; np];
    let mut h: u64 = (0..np).fold(0, |a, p| a ^ z(p, 0));
    let mut state: u32 = NIL;
    let mut remaining = total;
    // (process, state before, forced, unsure before, rank of the process
    // among the candidates)
    let mut stack: Vec<(u32, u32, bool, bool, u32)> = Vec::new();
    let mut order: Vec<usize> = Vec::with_capacity(np);
    // The last op placed was an info op that may have changed the state:
    // the next may not be a blind write.
    let mut unsure = false;
    const UNSURE_BIT: u32 = 1 << 30;
    let key_of = |state: u32, unsure: bool| state | if unsure { UNSURE_BIT } else { 0 };
    let mut choice = 0usize;
    let mut steps: u64 = 0;
    let mut memo: HashTable<(u64, u32, u32)> = HashTable::new();
    let mut arena: Vec<u32> = Vec::new();
    let mut best: (usize, u32, Vec<u32>) = (0, NIL, Vec::new());
    let total_ops: usize = seqs.iter().map(Vec::len).sum();

    // Inserts the current configuration; false when it was seen.
    let insert = |memo: &mut HashTable<(u64, u32, u32)>,
                  arena: &mut Vec<u32>,
                  h: u64,
                  state: u32,
                  pos: &[u32]|
     -> bool {
        let hh = h ^ splitmix(state as u64 ^ 0x5EED_5EED);
        let words = pos.len();
        let found = memo
            .find(hh, |&(eh, s, off)| {
                eh == hh
                    && s == state
                    && &arena[off as usize * words..(off as usize + 1) * words] == pos
            })
            .is_some();
        if found {
            return false;
        }
        let off = (arena.len() / words.max(1)) as u32;
        arena.extend_from_slice(pos);
        memo.insert_unique(hh, (hh, state, off), |e| e.0);
        true
    };

    loop {
        if remaining == 0 {
            return SeqOutcome::Valid;
        }
        steps += 1;
        if steps & 0xFFF == 0 {
            if limits.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return SeqOutcome::Unknown("cancelled".into());
            }
            if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                return SeqOutcome::Unknown(format!(
                    "time budget exhausted after {steps} steps over {total_ops} operations"
                ));
            }
            if arena.len() * 4 + memo.capacity() * 16 > limits.max_bytes {
                return SeqOutcome::Unknown(format!(
                    "memory budget exhausted after {steps} steps ({} memoized configurations) over {total_ops} operations",
                    memo.len()
                ));
            }
        }
        if steps > limits.max_steps {
            return SeqOutcome::Unknown(format!(
                "step budget of {} exhausted over {total_ops} operations",
                limits.max_steps
            ));
        }
        let mut moved = false;
        let mut dead = false;
        // A legal read goes first, unconditionally.
        for p in 0..np {
            let Some(s) = seqs[p].get(pos[p] as usize) else {
                continue;
            };
            if model.read_only(&s.op) && model.step(&state, &s.op).is_some() {
                h ^= z(p, pos[p]) ^ z(p, pos[p] + 1);
                pos[p] += 1;
                if insert(&mut memo, &mut arena, h, key_of(state, false), &pos) {
                    lives.place(s);
                    remaining -= s.required as u32;
                    stack.push((p as u32, state, true, unsure, 0));
                    unsure = false;
                    moved = true;
                } else {
                    pos[p] -= 1;
                    h ^= z(p, pos[p]) ^ z(p, pos[p] + 1);
                    dead = true;
                }
                break;
            }
        }
        if moved {
            choice = 0;
            continue;
        }
        if !dead {
            // Candidates in the order their ops were invoked: a history that
            // is nearly linearizable is then nearly sequenced already, and
            // the first branches tried are the likely ones. The order is a
            // function of the configuration, so a backtrack resumes it.
            order.clear();
            order.extend((0..np).filter(|&p| (pos[p] as usize) < seqs[p].len()));
            order.sort_unstable_by_key(|&p| seqs[p][pos[p] as usize].kop);
            let mut rank = choice;
            while rank < order.len() {
                let p = order[rank];
                if let Some(s) = seqs[p].get(pos[p] as usize) {
                    let allowed = !(unsure && model.blind(&s.op));
                    if let Some(ns) = model.step(&state, &s.op).filter(|_| allowed) {
                        // Leaving a value that an op still to place needs,
                        // with nothing left to write it again: no
                        // completion follows.
                        lives.place(s);
                        if ns != state && slot_of(state).is_some_and(|o| lives.dead_if_left(o)) {
                            lives.unplace(s);
                            rank += 1;
                            continue;
                        }
                        h ^= z(p, pos[p]) ^ z(p, pos[p] + 1);
                        pos[p] += 1;
                        let now_unsure = !s.required && !model.read_only(&s.op);
                        if insert(&mut memo, &mut arena, h, key_of(ns, now_unsure), &pos) {
                            remaining -= s.required as u32;
                            stack.push((p as u32, state, false, unsure, rank as u32));
                            state = ns;
                            unsure = now_unsure;
                            moved = true;
                            break;
                        }
                        lives.unplace(s);
                        pos[p] -= 1;
                        h ^= z(p, pos[p]) ^ z(p, pos[p] + 1);
                    }
                }
                rank += 1;
            }
            if moved {
                choice = 0;
                continue;
            }
        }
        // Dead end: remember the deepest, then backtrack.
        if stack.len() >= best.0 && (best.2.is_empty() || stack.len() > best.0) {
            let next: Vec<u32> = (0..np)
                .filter_map(|p| seqs[p].get(pos[p] as usize).map(|s| s.kop))
                .collect();
            best = (stack.len(), state, next);
        }
        loop {
            let Some((p, prev, forced, was_unsure, rank)) = stack.pop() else {
                let kops: Vec<&super::KOp> = best
                    .2
                    .iter()
                    .take(8)
                    .map(|&k| &key.ops[k as usize])
                    .collect();
                let pending: Vec<String> = kops
                    .iter()
                    .map(|k| super::describe(ops, k, &key.vals))
                    .collect();
                return SeqOutcome::Invalid(Witness::new(
                    key,
                    ops,
                    &kops,
                    format!(
                        "no interleaving that keeps each process's program order explains every result: the deepest attempt placed {} of {} operations, leaving the register at {}, and none of the pending operations ({}) leads to a complete order",
                        best.0,
                        total_ops,
                        key.vals.show(best.1),
                        pending.join("; ")
                    ),
                ));
            };
            let p = p as usize;
            pos[p] -= 1;
            h ^= z(p, pos[p]) ^ z(p, pos[p] + 1);
            lives.unplace(&seqs[p][pos[p] as usize]);
            remaining += seqs[p][pos[p] as usize].required as u32;
            state = prev;
            unsure = was_unsure;
            if !forced {
                choice = rank as usize + 1;
                break;
            }
        }
    }
}
