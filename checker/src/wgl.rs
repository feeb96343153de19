//! The Wing–Gong–Lowe linearizability search over one partition (one
//! independent sub-history), with memoization of (linearized set, state).
//!
//! Layout, chosen so that the inner loop allocates nothing:
//! - the history is a doubly linked list of call/return entries held in
//!   flat `u32` arrays (lifting an op unlinks its two entries; backtracking
//!   relinks them);
//! - the set of linearized ops is a bitset whose hash is kept incrementally
//!   (Zobrist hashing: one xor per op linearized or undone);
//! - model states are interned into `u32` ids and every (state, op)
//!   transition is computed once and remembered, so expensive states (long
//!   strings, maps) are hashed once rather than at every step;
//! - the memo table stores each visited bitset once, in one arena.
//!
//! Operations whose outcome is unknown (`info`) have no return entry: they
//! may be linearized anywhere after their call, or never, so the search
//! succeeds as soon as every completed op is linearized.

use crate::model::Model;
use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One operation of a partition, ready for the search.
#[derive(Debug, Clone)]
pub struct SearchOp<O> {
    pub op: O,
    /// Position of the call in the history (any increasing clock).
    pub call: u64,
    /// Position of the return, or `None` for an op whose outcome is unknown.
    pub ret: Option<u64>,
}

/// Budgets for one search.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub deadline: Option<Instant>,
    /// Approximate bytes the memo table and state store may use.
    pub max_bytes: usize,
    /// Set by another partition that found a violation: stop early.
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for Limits<'_> {
    fn default() -> Self {
        Limits {
            deadline: None,
            max_bytes: usize::MAX,
            cancel: None,
        }
    }
}

/// Where the search got stuck at its deepest point.
#[derive(Debug, Clone)]
pub struct Stuck<S> {
    /// The longest linearization found (indices into the input ops), in order.
    pub prefix: Vec<u32>,
    /// The model state after `prefix`.
    pub state: S,
    /// The op whose return was reached before it could be linearized.
    pub stuck: u32,
    /// Ops that could have come next (pending at that point), `stuck` among
    /// them.
    pub candidates: Vec<u32>,
}

#[derive(Debug, Clone)]
pub enum Outcome<S> {
    Linearizable {
        /// One linearization of the completed ops (indices into the input).
        order: Vec<u32>,
    },
    NotLinearizable(Stuck<S>),
    Unknown {
        reason: String,
    },
}

/// Counters from one search.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub steps: u64,
    pub memo_entries: u64,
    pub states: u64,
    pub backtracks: u64,
}

const HEAD: u32 = 0;

/// Slots of the dense transition table (4 bytes each).
const DENSE_SLOTS: usize = 1 << 20;

struct Memo {
    table: HashTable<(u64, u32, u32)>,
    arena: Vec<u64>,
    words: usize,
}

impl Memo {
    fn new(words: usize) -> Memo {
        Memo {
            table: HashTable::new(),
            arena: Vec::new(),
            words,
        }
    }

    /// Inserts (bits, state); false if it was already there.
    fn insert(&mut self, hash: u64, state: u32, bits: &[u64]) -> bool {
        let words = self.words;
        let arena = &self.arena;
        let found = self
            .table
            .find(hash, |&(h, s, off)| {
                h == hash
                    && s == state
                    && &arena[off as usize * words..(off as usize + 1) * words] == bits
            })
            .is_some();
        if found {
            return false;
        }
        let off = (self.arena.len() / words.max(1)) as u32;
        self.arena.extend_from_slice(bits);
        self.table.insert_unique(hash, (hash, state, off), |e| e.0);
        true
    }

    fn bytes(&self) -> usize {
        self.arena.capacity() * 8 + self.table.capacity() * 24
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Checks whether `ops` is linearizable with respect to `model`.
pub fn search<M: Model>(
    model: &M,
    ops: &[SearchOp<M::Op>],
    limits: Limits<'_>,
) -> (Outcome<M::State>, Stats) {
    let n = ops.len();
    let mut stats = Stats::default();
    if n == 0 {
        return (Outcome::Linearizable { order: Vec::new() }, stats);
    }
    assert!(
        n < (u32::MAX / 2 - 2) as usize,
        "too many operations in one partition"
    );

    // Entries: 1..=2n, sorted by time; calls before returns at equal times
    // (concurrent); unknown returns at the very end. TAIL = 2n + 1.
    let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
    let mut required_total = 0u32;
    for (i, o) in ops.iter().enumerate() {
        events.push((o.call, 0, i as u32));
        if let Some(r) = o.ret {
            events.push((r, 1, i as u32));
            required_total += 1;
        }
    }
    events.sort_unstable();
    let len = events.len();
    let tail = (len + 1) as u32;
    let mut next = vec![0u32; len + 2];
    let mut prev = vec![0u32; len + 2];
    // entry -> op index << 1 | is_return
    let mut entry = vec![0u32; len + 2];
    let mut ret_entry = vec![u32::MAX; n];
    for (k, &(_, kind, op)) in events.iter().enumerate() {
        let e = (k + 1) as u32;
        entry[e as usize] = op << 1 | kind as u32;
        if kind == 1 {
            ret_entry[op as usize] = e;
        }
    }
    for e in 0..=len as u32 {
        next[e as usize] = e + 1;
        prev[e as usize + 1] = e;
    }
    let required: Vec<bool> = ops.iter().map(|o| o.ret.is_some()).collect();
    let read_only: Vec<bool> = ops.iter().map(|o| model.read_only(&o.op)).collect();
    let zobrist: Vec<u64> = (0..n as u64).map(|i| splitmix(i ^ 0x5EED)).collect();

    // Interned states and remembered transitions.
    let mut states: Vec<M::State> = vec![model.init()];
    // (hash, id) of each interned state: the state itself is hashed once.
    let hasher = FxBuildHasher;
    let mut state_ids: HashTable<(u64, u32)> = HashTable::new();
    state_ids.insert_unique(hasher.hash_one(&states[0]), (hasher.hash_one(&states[0]), 0), |e| e.0);
    // Transitions of the first states live in a dense table (one row of
    // `n` slots per state); states beyond the table's budget use a map.
    const UNSEEN: u32 = u32::MAX - 1;
    const ILLEGAL: u32 = u32::MAX;
    let dense_limit = (DENSE_SLOTS / n).max(1);
    let mut dense: Vec<u32> = vec![UNSEEN; n];
    let mut transitions: FxHashMap<u64, u32> = Default::default();
    let state_size = std::mem::size_of::<M::State>() * 2 + 16;

    let words = n.div_ceil(64);
    let mut bits = vec![0u64; words];
    let mut zob: u64 = 0;
    let mut memo = Memo::new(words);
    // (call entry, state before, forced): a frame is forced when its op is
    // read-only; see the note at the backtracking step.
    let mut stack: Vec<(u32, u32, bool)> = Vec::with_capacity(n);
    let mut state: u32 = 0;
    let mut remaining = required_total;
    let mut best: Option<Stuck<u32>> = None;
    let mut cur = next[HEAD as usize];
    let mut tick: u32 = 0;

    let unlink = |next: &mut [u32], prev: &mut [u32], e: u32| {
        let (p, x) = (prev[e as usize], next[e as usize]);
        next[p as usize] = x;
        prev[x as usize] = p;
    };
    let relink = |next: &mut [u32], prev: &mut [u32], e: u32| {
        let (p, x) = (prev[e as usize], next[e as usize]);
        next[p as usize] = e;
        prev[x as usize] = e;
    };

    loop {
        if remaining == 0 {
            let order = stack
                .iter()
                .map(|&(e, _, _)| entry[e as usize] >> 1)
                .collect();
            stats.memo_entries = memo.table.len() as u64;
            stats.states = states.len() as u64;
            return (Outcome::Linearizable { order }, stats);
        }
        tick = tick.wrapping_add(1);
        if tick & 0x3FFF == 0 {
            if let Some(c) = limits.cancel {
                if c.load(Ordering::Relaxed) {
                    return (
                        Outcome::Unknown {
                            reason: "cancelled: another partition is not linearizable".into(),
                        },
                        stats,
                    );
                }
            }
            if let Some(d) = limits.deadline {
                if Instant::now() >= d {
                    return (
                        Outcome::Unknown {
                            reason: format!(
                                "time budget exhausted after {} steps over {} operations",
                                stats.steps, n
                            ),
                        },
                        stats,
                    );
                }
            }
            let bytes = memo.bytes()
                + states.len() * state_size
                + transitions.capacity() * 16
                + dense.capacity() * 4;
            if bytes > limits.max_bytes {
                return (
                    Outcome::Unknown {
                        reason: format!(
                            "memory budget of {} MiB exhausted after {} steps ({} memoized configurations) over {} operations",
                            limits.max_bytes >> 20,
                            stats.steps,
                            memo.table.len(),
                            n
                        ),
                    },
                    stats,
                );
            }
        }
        debug_assert!(cur != tail, "reached the tail with required ops left");
        let en = entry[cur as usize];
        let op = en >> 1;
        if en & 1 == 0 {
            // A call entry: try to linearize `op` now.
            stats.steps += 1;
            let slot = if (state as usize) < dense_limit {
                dense[state as usize * n + op as usize]
            } else {
                transitions
                    .get(&((state as u64) << 32 | op as u64))
                    .copied()
                    .unwrap_or(UNSEEN)
            };
            let ns = if slot != UNSEEN {
                slot
            } else {
                let s = match model.step(&states[state as usize], &ops[op as usize].op) {
                    None => ILLEGAL,
                    Some(t) => {
                        let h = hasher.hash_one(&t);
                        match state_ids.find(h, |&(eh, id)| eh == h && states[id as usize] == t) {
                            Some(&(_, id)) => id,
                            None => {
                                let id = states.len() as u32;
                                state_ids.insert_unique(h, (h, id), |e| e.0);
                                states.push(t);
                                if (id as usize) < dense_limit {
                                    dense.resize((id as usize + 1) * n, UNSEEN);
                                }
                                id
                            }
                        }
                    }
                };
                if (state as usize) < dense_limit {
                    dense[state as usize * n + op as usize] = s;
                } else {
                    transitions.insert((state as u64) << 32 | op as u64, s);
                }
                s
            };
            if ns != ILLEGAL {
                let w = op as usize / 64;
                let b = 1u64 << (op % 64);
                bits[w] |= b;
                zob ^= zobrist[op as usize];
                let h = zob ^ splitmix(ns as u64);
                if memo.insert(h, ns, &bits) {
                    stack.push((cur, state, read_only[op as usize]));
                    state = ns;
                    unlink(&mut next, &mut prev, cur);
                    if required[op as usize] {
                        unlink(&mut next, &mut prev, ret_entry[op as usize]);
                        remaining -= 1;
                    }
                    cur = next[HEAD as usize];
                    continue;
                }
                bits[w] &= !b;
                zob ^= zobrist[op as usize];
            }
            cur = next[cur as usize];
        } else {
            // A return entry: `op` had to be linearized before this point.
            if best.as_ref().is_none_or(|b| stack.len() > b.prefix.len()) {
                let mut candidates = Vec::new();
                let mut e = next[HEAD as usize];
                while e != cur {
                    if entry[e as usize] & 1 == 0 {
                        candidates.push(entry[e as usize] >> 1);
                    }
                    e = next[e as usize];
                }
                best = Some(Stuck {
                    prefix: stack
                        .iter()
                        .map(|&(e, _, _)| entry[e as usize] >> 1)
                        .collect(),
                    state,
                    stuck: op,
                    candidates,
                });
            }
            // Backtrack. A read-only op that was legal where it was placed
            // could have been placed there in any linearization that extends
            // the prefix below it: moving it earlier (still after its call and
            // after every op that precedes it in real time) changes no other
            // op's state. So once its subtree failed, the alternatives at its
            // level fail too: keep popping.
            let e = loop {
                let Some((e, s, forced)) = stack.pop() else {
                    stats.memo_entries = memo.table.len() as u64;
                    stats.states = states.len() as u64;
                    let b = best.expect("stuck at least once");
                    let st = states[b.state as usize].clone();
                    return (
                        Outcome::NotLinearizable(Stuck {
                            prefix: b.prefix,
                            state: st,
                            stuck: b.stuck,
                            candidates: b.candidates,
                        }),
                        stats,
                    );
                };
                stats.backtracks += 1;
                let lop = entry[e as usize] >> 1;
                if required[lop as usize] {
                    relink(&mut next, &mut prev, ret_entry[lop as usize]);
                    remaining += 1;
                }
                relink(&mut next, &mut prev, e);
                bits[lop as usize / 64] &= !(1u64 << (lop % 64));
                zob ^= zobrist[lop as usize];
                state = s;
                if !forced {
                    break e;
                }
            };
            cur = next[e as usize];
        }
    }
}
