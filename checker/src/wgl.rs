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
//! succeeds as soon as every completed op is linearized. One placement of
//! theirs is never tried: right before a blind op ([`Model::blind`], a
//! register write). Whatever an indeterminate op did there, the blind op
//! erased before anything could see it, so a linearization placing it there
//! stays one with the op left out; and leaving it out is always allowed.
//! Applied to every such pair in turn, this turns any linearization into one
//! where each indeterminate op placed is followed by a non-blind op (or none
//! is left after it, which the search needs not try either: it stops when
//! every completed op is placed). The search state carries one bit, "the
//! last op placed was indeterminate and changed the state", which is part
//! of the memoized configuration. Histories full of indeterminate writes
//! whose values *are* read (so they cannot simply be dropped) are where
//! this matters: they stop being placeable at every point of their
//! unbounded window.
//!
//! One partition is searched by one worker: a shared-memo parallel search
//! was tried and removed, since on two cores its locking cost more than the
//! second worker gained (0.4x to 0.9x of one worker on the Porcupine
//! corpus). Partitions are searched in parallel instead.

use crate::model::Model;
use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// Approximate bytes the memo table and state store may use: this
    /// search's alone, or, with `used`, all the searches sharing it.
    pub max_bytes: usize,
    /// Set by another partition that found a violation: stop early.
    pub cancel: Option<&'a AtomicBool>,
    /// The bytes in use by every search that shares `max_bytes` (each adds
    /// its own and takes it back when it ends), so that one hard partition
    /// may use what the finished ones no longer hold.
    pub used: Option<&'a AtomicUsize>,
    /// Steps the search may take; past them the outcome is unknown with
    /// the reason [`STEP_CAP`].
    pub max_steps: u64,
}

/// The reason of an unknown outcome whose step budget ran out.
pub const STEP_CAP: &str = "step budget exhausted";

/// Takes a search's reported bytes back out of the shared count when the
/// search ends, however it ends.
struct Reported<'a> {
    used: Option<&'a AtomicUsize>,
    bytes: usize,
}

impl Reported<'_> {
    /// Reports `bytes` in use now; returns the shared total (this search's
    /// alone without a shared count).
    fn update(&mut self, bytes: usize) -> usize {
        let Some(u) = self.used else {
            return bytes;
        };
        if bytes >= self.bytes {
            u.fetch_add(bytes - self.bytes, Ordering::Relaxed);
        } else {
            u.fetch_sub(self.bytes - bytes, Ordering::Relaxed);
        }
        self.bytes = bytes;
        u.load(Ordering::Relaxed)
    }
}

impl Drop for Reported<'_> {
    fn drop(&mut self) {
        if let Some(u) = self.used {
            u.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

impl Default for Limits<'_> {
    fn default() -> Self {
        Limits {
            deadline: None,
            max_bytes: usize::MAX,
            cancel: None,
            used: None,
            max_steps: u64::MAX,
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
const DENSE_SLOTS: usize = 1 << 16;

const UNSEEN: u32 = u32::MAX - 1;
const ILLEGAL: u32 = u32::MAX;
/// Marks, in a memo key, a configuration whose last op was indeterminate.
const UNSURE_BIT: u32 = 1 << 30;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------
// Memo tables

/// The set of linearized ops as a bitset, kept with its *window*: the words
/// below `lead` are all ones and the words from `hi` on are all zeros. Ops
/// are numbered in call order and a linearization moves forward through the
/// history, so the window spans only the ops in flight, and the memo stores
/// the window rather than the whole set: memory per configuration follows
/// the history's concurrency, not its length.
struct LinSet {
    words: Vec<u64>,
    lead: usize,
    hi: usize,
}

impl LinSet {
    fn new(n: usize) -> LinSet {
        LinSet {
            words: vec![0; n.div_ceil(64)],
            lead: 0,
            hi: 0,
        }
    }

    fn set(&mut self, op: u32) {
        let w = op as usize / 64;
        self.words[w] |= 1u64 << (op % 64);
        if w >= self.hi {
            self.hi = w + 1;
        }
        while self.lead < self.hi && self.words[self.lead] == u64::MAX {
            self.lead += 1;
        }
    }

    fn clear(&mut self, op: u32) {
        let w = op as usize / 64;
        self.words[w] &= !(1u64 << (op % 64));
        if w < self.lead {
            self.lead = w;
        }
        while self.hi > self.lead && self.words[self.hi - 1] == 0 {
            self.hi -= 1;
        }
    }

    fn window(&self) -> (u32, &[u64]) {
        (self.lead as u32, &self.words[self.lead..self.hi])
    }
}

/// A memo entry: hash, state, the window's first word, and where its words
/// are in the arena.
#[derive(Clone, Copy)]
struct MemoEntry {
    hash: u64,
    state: u32,
    lead: u32,
    off: u32,
    len: u32,
}

/// Where visited configurations (linearized set, state) are remembered.
struct Memo {
    table: HashTable<MemoEntry>,
    arena: Vec<u64>,
}

impl Memo {
    fn new() -> Memo {
        Memo {
            table: HashTable::new(),
            arena: Vec::new(),
        }
    }

    /// Inserts (set, state); false if it was already there.
    fn insert(&mut self, hash: u64, state: u32, set: &LinSet) -> bool {
        let (lead, win) = set.window();
        let arena = &self.arena;
        let found = self
            .table
            .find(hash, |e| {
                e.hash == hash
                    && e.state == state
                    && e.lead == lead
                    && e.len as usize == win.len()
                    && &arena[e.off as usize..e.off as usize + win.len()] == win
            })
            .is_some();
        if found {
            return false;
        }
        let entry = MemoEntry {
            hash,
            state,
            lead,
            off: self.arena.len() as u32,
            len: win.len() as u32,
        };
        if self.arena.len() + win.len() > u32::MAX as usize {
            // Past 32 GiB of windows; the memory budget stops the search
            // long before this.
            return true;
        }
        self.arena.extend_from_slice(win);
        self.table.insert_unique(hash, entry, |e| e.hash);
        true
    }

    fn entries(&self) -> usize {
        self.table.len()
    }

    fn bytes(&self) -> usize {
        self.arena.capacity() * 8 + self.table.capacity() * (std::mem::size_of::<MemoEntry>() + 1)
    }
}

// ---------------------------------------------------------------------------
// State interners

/// Gives each distinct model state a small id.
struct States<S> {
    states: Vec<S>,
    /// (hash, id): each state is hashed once, when it is first seen.
    ids: HashTable<(u64, u32)>,
}

impl<S: std::hash::Hash + Eq> States<S> {
    fn new(init: S) -> States<S> {
        let mut st = States {
            states: Vec::new(),
            ids: HashTable::new(),
        };
        st.intern(init);
        st
    }

    fn intern(&mut self, s: S) -> u32 {
        let h = FxBuildHasher.hash_one(&s);
        let states = &self.states;
        if let Some(&(_, id)) = self
            .ids
            .find(h, |&(eh, id)| eh == h && states[id as usize] == s)
        {
            return id;
        }
        let id = self.states.len() as u32;
        self.ids.insert_unique(h, (h, id), |e| e.0);
        self.states.push(s);
        id
    }

    fn get(&mut self, id: u32) -> &S {
        &self.states[id as usize]
    }

    fn len(&self) -> usize {
        self.states.len()
    }
}

// ---------------------------------------------------------------------------
// The entry list

/// The history as a list of call and return entries, shared read-only by
/// the workers (each copies `next`/`prev` to unlink its own).
struct Layout {
    n: usize,
    /// entry -> op index << 1 | is_return; entries 1..=len, 0 = head,
    /// len + 1 = tail.
    entry: Vec<u32>,
    ret_entry: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    required: Vec<bool>,
    required_total: u32,
    read_only: Vec<bool>,
    /// The op is blind (see [`Model::blind`]).
    blind: Vec<bool>,
    /// The op is indeterminate and not read-only: the op placed after it
    /// must not be blind.
    unsure: Vec<bool>,
    zobrist: Vec<u64>,
}

impl Layout {
    fn new<M: Model>(model: &M, ops: &[SearchOp<M::Op>]) -> Layout {
        let n = ops.len();
        assert!(
            n < (u32::MAX / 2 - 2) as usize,
            "too many operations in one partition"
        );
        // Sorted by time; calls before returns at equal times (concurrent);
        // unknown returns are absent (the op may be left out).
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
        let mut next = vec![0u32; len + 2];
        let mut prev = vec![0u32; len + 2];
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
        Layout {
            n,
            entry,
            ret_entry,
            next,
            prev,
            required: ops.iter().map(|o| o.ret.is_some()).collect(),
            required_total,
            read_only: ops.iter().map(|o| model.read_only(&o.op)).collect(),
            blind: ops.iter().map(|o| model.blind(&o.op)).collect(),
            unsure: ops
                .iter()
                .map(|o| o.ret.is_none() && !model.read_only(&o.op))
                .collect(),
            zobrist: (0..n as u64).map(|i| splitmix(i ^ 0x5EED)).collect(),
        }
    }
}

/// How one worker's depth-first search ended.
enum End {
    /// A linearization (op indices in order).
    Found(Vec<u32>),
    /// No configuration left to explore.
    Exhausted,
    /// A budget ran out, or another partition failed.
    Budget(String),
}

struct WorkerResult {
    end: End,
    best: Option<Stuck<u32>>,
    stats: Stats,
}

/// The WGL loop.
fn dfs<M: Model>(
    model: &M,
    ops: &[SearchOp<M::Op>],
    lay: &Layout,
    states: &mut States<M::State>,
    memo: &mut Memo,
    limits: &Limits<'_>,
) -> WorkerResult {
    let n = lay.n;
    let entry = &lay.entry;
    let mut next = lay.next.clone();
    let mut prev = lay.prev.clone();
    let mut stats = Stats::default();
    // Transitions of the first states live in a dense table (one row of
    // `n` slots per state); states beyond the table's budget use a map.
    let dense_limit = (DENSE_SLOTS / n.max(1)).max(1);
    let mut dense: Vec<u32> = vec![UNSEEN; n];
    let mut transitions: FxHashMap<u64, u32> = Default::default();
    let state_size = std::mem::size_of::<M::State>() * 2 + 16;
    // What the states hold beyond their own size (a string, a map).
    let mut state_heap = 0usize;
    let mut reported = Reported {
        used: limits.used,
        bytes: 0,
    };

    let mut bits = LinSet::new(n);
    let mut zob: u64 = 0;
    // (call entry, state before, forced, unsure before): a frame is forced
    // when its op is read-only; see the note at the backtracking step.
    let mut stack: Vec<(u32, u32, bool, bool)> = Vec::with_capacity(n);
    let mut state: u32 = 0;
    // The last op placed was indeterminate: the next may not be blind.
    let mut unsure = false;
    let mut remaining = lay.required_total;
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
    let finish = |end: End,
                  best: Option<Stuck<u32>>,
                  mut stats: Stats,
                  states: &mut dyn FnMut() -> usize| {
        stats.states = states() as u64;
        WorkerResult { end, best, stats }
    };

    loop {
        if remaining == 0 {
            let order = stack
                .iter()
                .map(|&(e, _, _, _)| entry[e as usize] >> 1)
                .collect();
            stats.memo_entries = memo.entries() as u64;
            return finish(End::Found(order), best, stats, &mut || states.len());
        }
        tick = tick.wrapping_add(1);
        if tick & 0x3FFF == 0 {
            if limits.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return finish(
                    End::Budget("cancelled: another partition is not linearizable".into()),
                    best,
                    stats,
                    &mut || states.len(),
                );
            }
            if stats.steps >= limits.max_steps {
                return finish(End::Budget(STEP_CAP.into()), best, stats, &mut || {
                    states.len()
                });
            }
            if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                let why = format!(
                    "time budget exhausted after {} steps over {} operations",
                    stats.steps, n
                );
                return finish(End::Budget(why), best, stats, &mut || states.len());
            }
            let bytes = memo.bytes()
                + states.len() * state_size
                + state_heap
                + transitions.capacity() * 16
                + dense.capacity() * 4
                + stack.capacity() * 16
                + (next.capacity() + prev.capacity()) * 4;
            if reported.update(bytes) > limits.max_bytes {
                let why = format!(
                    "memory budget of {} MiB exhausted after {} steps ({} memoized configurations) over {} operations",
                    limits.max_bytes >> 20,
                    stats.steps,
                    memo.entries(),
                    n
                );
                return finish(End::Budget(why), best, stats, &mut || states.len());
            }
        }
        let en = entry[cur as usize];
        let op = en >> 1;
        if en & 1 == 0 && unsure && lay.blind[op as usize] {
            // Never right after an indeterminate op (see the module note).
            cur = next[cur as usize];
        } else if en & 1 == 0 {
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
                let s = match model.step(states.get(state), &ops[op as usize].op) {
                    None => ILLEGAL,
                    Some(t) => {
                        let (known, heap) = (states.len(), model.state_heap_bytes(&t));
                        let id = states.intern(t);
                        if states.len() > known {
                            state_heap += heap;
                        }
                        id
                    }
                };
                if s != ILLEGAL && (s as usize) < dense_limit && dense.len() < (s as usize + 1) * n
                {
                    dense.resize((s as usize + 1) * n, UNSEEN);
                }
                if (state as usize) < dense_limit {
                    dense[state as usize * n + op as usize] = s;
                } else if M::MEMO_TRANSITIONS {
                    transitions.insert((state as u64) << 32 | op as u64, s);
                }
                s
            };
            if ns != ILLEGAL {
                bits.set(op);
                zob ^= lay.zobrist[op as usize];
                let now_unsure = lay.unsure[op as usize];
                // The configuration is (set, state, unsure): the flag rides
                // in the state's top bit (state ids stay far below it).
                let key = ns | if now_unsure { UNSURE_BIT } else { 0 };
                let h = zob ^ splitmix(key as u64);
                if memo.insert(h, key, &bits) {
                    stack.push((cur, state, lay.read_only[op as usize], unsure));
                    state = ns;
                    unsure = now_unsure;
                    unlink(&mut next, &mut prev, cur);
                    if lay.required[op as usize] {
                        unlink(&mut next, &mut prev, lay.ret_entry[op as usize]);
                        remaining -= 1;
                    }
                    cur = next[HEAD as usize];
                    continue;
                }
                bits.clear(op);
                zob ^= lay.zobrist[op as usize];
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
                        .map(|&(e, _, _, _)| entry[e as usize] >> 1)
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
                let Some((e, s, forced, was_unsure)) = stack.pop() else {
                    stats.memo_entries = memo.entries() as u64;
                    return finish(End::Exhausted, best, stats, &mut || states.len());
                };
                stats.backtracks += 1;
                let lop = entry[e as usize] >> 1;
                if lay.required[lop as usize] {
                    relink(&mut next, &mut prev, lay.ret_entry[lop as usize]);
                    remaining += 1;
                }
                relink(&mut next, &mut prev, e);
                bits.clear(lop);
                zob ^= lay.zobrist[lop as usize];
                state = s;
                unsure = was_unsure;
                if !forced {
                    break e;
                }
            };
            cur = next[e as usize];
        }
    }
}

fn outcome<S: Clone>(end: End, best: Option<Stuck<u32>>, state: impl Fn(u32) -> S) -> Outcome<S> {
    match end {
        End::Found(order) => Outcome::Linearizable { order },
        End::Budget(reason) => Outcome::Unknown { reason },
        End::Exhausted => {
            let b = best.expect("a search that ran out of configurations was stuck at least once");
            Outcome::NotLinearizable(Stuck {
                prefix: b.prefix,
                state: state(b.state),
                stuck: b.stuck,
                candidates: b.candidates,
            })
        }
    }
}

/// Checks whether `ops` is linearizable with respect to `model`, on the
/// calling thread.
pub fn search<M: Model>(
    model: &M,
    ops: &[SearchOp<M::Op>],
    limits: Limits<'_>,
) -> (Outcome<M::State>, Stats) {
    if ops.is_empty() {
        return (
            Outcome::Linearizable { order: Vec::new() },
            Stats::default(),
        );
    }
    let lay = Layout::new(model, ops);
    let mut states = States::new(model.init());
    let mut memo = Memo::new();
    let r = dfs(model, ops, &lay, &mut states, &mut memo, &limits);
    (
        outcome(r.end, r.best, |id| states.states[id as usize].clone()),
        r.stats,
    )
}
