//! list-append: every key holds a list; `[append k v]` adds `v` at its end
//! and `[r k [..]]` returns the whole list. A read is a prefix of every
//! later state, so the longest read of a key gives that key's version order,
//! and each read names exactly which appends it saw and which it did not.
//!
//! Assumed (as Elle does): the values appended to one key are unique. A
//! repeated append is reported in `notes` and that value is left out of the
//! inference.

use super::graph::{RW, WR, WW};
use super::parse::{Id, Mop, Seen, Txns};
use super::{Found, Inference, Inferred};
use crate::history::Status;
use rustc_hash::{FxHashMap, FxHashSet};

const UNSEEN: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: u32,
    mop: u32,
    /// The writer's last append to this key.
    last: bool,
    /// Appended more than once (by anyone): not used for inference.
    dup: bool,
    /// The writer failed (kept here: the version-order loops would
    /// otherwise look each writer's txn up at random).
    failed: bool,
    /// The writer is pending at a prefix's cut (it may yet fail): it takes
    /// part in no edge, no dirty update, no G1b.
    pending: bool,
    /// Position in the key's version order (`UNSEEN` when no read shows it).
    at: u32,
}

/// What list-append inferred, kept to explain the edges afterwards.
pub struct ListAppend {
    writers: FxHashMap<(Id, Id), Writer>,
    /// Each key's longest read: (txn, mop).
    longest: FxHashMap<Id, (u32, u32)>,
    /// Per key, the first position of its version order with no writer,
    /// and the first written by a failed txn (`UNSEEN`: none).
    bad: FxHashMap<Id, (u32, u32)>,
    /// Per key, the committed txns with an append to it that no read shows
    /// (sorted, each once). Reads are prefixes of later states, so such an
    /// append comes after every element any read shows (as Elle infers):
    /// after the writer of the key's last known element (ww), and after
    /// every read that saw the whole known order (rw).
    unseen: FxHashMap<Id, Vec<u32>>,
    /// Per key whose version order has elements that take part in no edge
    /// (appended by a failed, pending or duplicate writer, or by nobody):
    /// for each position, the first position at or after it whose writer
    /// does (`UNSEEN`: none). The order is observed either way, so edges
    /// bridge such elements: a failed append between two committed ones
    /// does not hide that the first came before the second.
    next_ok: FxHashMap<Id, Vec<u32>>,
}

/// Does this writer's element take part in edges?
fn usable(w: &Writer) -> bool {
    !w.dup && !w.failed && !w.pending
}

fn list(t: &Txns, txn: u32, mop: u32) -> &[Id] {
    match &t.txns[txn as usize].mops[mop as usize] {
        Mop::Read(_, s) => t.list(s),
        _ => &[],
    }
}

/// Is mop `j` of `mops` a read before any append to its key (and the first
/// read of it)? Those are the reads that show the state before the txn.
pub(super) fn external(mops: &[Mop], j: usize) -> bool {
    let k = mops[j].key();
    !mops[..j].iter().any(|m| m.key() == k)
}

impl ListAppend {
    fn version<'a>(&self, t: &'a Txns, k: Id) -> &'a [Id] {
        self.longest
            .get(&k)
            .map_or(&[][..], |&(txn, mop)| list(t, txn, mop))
    }

    fn writer(&self, k: Id, v: Id) -> Option<&Writer> {
        self.writers.get(&(k, v))
    }

    /// The first element at or after position `from` of key `k`'s version
    /// order whose writer takes part in edges: its position and writer.
    fn next_usable(&self, t: &Txns, k: Id, from: usize) -> Option<(usize, &Writer)> {
        let order = self.version(t, k);
        let at = match self.next_ok.get(&k) {
            Some(next) => *next.get(from)? as usize,
            None => from,
        };
        let w = self.writer(k, *order.get(at)?)?;
        Some((at, w))
    }

    /// How the element at `at` of key `k`'s order follows the one before
    /// `from`: right after it, or after elements `from..at` that take part
    /// in no edge (named).
    fn between(&self, t: &Txns, k: Id, from: usize, at: usize) -> String {
        if at == from {
            return "right after it".into();
        }
        let skipped = &self.version(t, k)[from..at];
        format!(
            "after it, with only {} in between (appended by txns that failed, are unfinished or are unknown, or appended twice)",
            t.names.show_list(skipped)
        )
    }

    /// Txn `b`'s appends (key, value) that no read shows.
    fn unseen_appends<'a>(&'a self, t: &'a Txns, b: u32) -> impl Iterator<Item = (Id, Id)> + 'a {
        t.txns[b as usize]
            .mops
            .iter()
            .filter_map(move |m| match *m {
                Mop::Append(k, v)
                    if self
                        .writer(k, v)
                        .is_some_and(|w| w.txn == b && w.at == UNSEEN) =>
                {
                    Some((k, v))
                }
                _ => None,
            })
    }
}

pub fn infer(t: &Txns) -> (ListAppend, Inferred) {
    let mut out = Inferred::default();
    let mut writers: FxHashMap<(Id, Id), Writer> = FxHashMap::default();
    let appends = t
        .txns
        .iter()
        .flat_map(|x| &x.mops)
        .filter(|m| matches!(m, Mop::Append(..)))
        .count();
    writers.reserve(appends);
    let mut dups = 0usize;
    let mut seen_keys: Vec<Id> = Vec::new();
    for (i, txn) in t.txns.iter().enumerate() {
        seen_keys.clear();
        for (j, m) in txn.mops.iter().enumerate().rev() {
            let Mop::Append(k, v) = *m else { continue };
            let last = !seen_keys.contains(&k);
            if last {
                seen_keys.push(k);
            }
            let w = Writer {
                txn: i as u32,
                mop: j as u32,
                last,
                dup: false,
                failed: txn.status == Status::Fail,
                pending: txn.pending,
                at: UNSEEN,
            };
            match writers.entry((k, v)) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    if !e.get().dup {
                        dups += 1;
                        if out.notes.len() < 5 {
                            out.notes.push(format!(
                                "value {} was appended to key {} more than once (T{} and T{}); list-append assumes unique appends, so it is left out of the inference",
                                t.names.show(v),
                                t.names.show(k),
                                t.txns[e.get().txn as usize].index,
                                txn.index
                            ));
                        }
                    }
                    e.get_mut().dup = true;
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(w);
                }
            }
        }
    }
    if dups > 5 {
        out.notes
            .push(format!("{dups} appended values were not unique in all"));
    }
    // The longest read of each key, among ok txns.
    let mut longest: FxHashMap<Id, (u32, u32)> = FxHashMap::default();
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.status != Status::Ok {
            continue;
        }
        for (j, m) in txn.mops.iter().enumerate() {
            if let Mop::Read(k, s @ Seen::List(..)) = m {
                let l = t.list(s);
                let e = longest.entry(*k).or_insert((i as u32, j as u32));
                if l.len() > list(t, e.0, e.1).len() {
                    *e = (i as u32, j as u32);
                }
            }
        }
    }
    // Version orders: positions, duplicates, ww edges, dirty updates.
    let mut bad: FxHashMap<Id, (u32, u32)> = FxHashMap::default();
    let mut next_ok: FxHashMap<Id, Vec<u32>> = FxHashMap::default();
    for (&k, &(ti, mi)) in &longest {
        let l = list(t, ti, mi);
        let (mut garbage_at, mut failed_at) = (UNSEEN, UNSEEN);
        let mut prev: Option<Writer> = None;
        // The last element before this one whose writer takes part in edges.
        let mut prev_ok: Option<Writer> = None;
        let mut unusable: Vec<u32> = Vec::new();
        let mut dirty_from: Option<Writer> = None;
        let mut dup_shown = false;
        for (p, &v) in l.iter().enumerate() {
            let Some(w) = writers.get_mut(&(k, v)) else {
                garbage_at = garbage_at.min(p as u32);
                prev = None;
                unusable.push(p as u32);
                continue;
            };
            if w.failed {
                failed_at = failed_at.min(p as u32);
            }
            if w.at != UNSEEN {
                if !dup_shown {
                    dup_shown = true;
                    out.found.push(Found::new(
                        "duplicate-elements",
                        vec![ti],
                        format!(
                            "T{} read key {} = {}, in which {} appears more than once",
                            t.txns[ti as usize].index,
                            t.names.show(k),
                            t.names.show_list(l),
                            t.names.show(v)
                        ),
                    ));
                }
                unusable.push(p as u32);
                continue;
            }
            w.at = p as u32;
            let w = *w;
            let failed = w.failed;
            if failed {
                dirty_from.get_or_insert(w);
            } else if w.pending {
                // May yet fail: the next committed append decides.
            } else if let Some(f) = dirty_from.take() {
                out.found.push(Found::new(
                    "dirty-update",
                    vec![f.txn, w.txn],
                    format!(
                        "T{} failed, yet its append of {} to key {} is in key {}'s order, and committed T{} appended {} after it",
                        t.txns[f.txn as usize].index,
                        t.names.show(l[f.at as usize]),
                        t.names.show(k),
                        t.names.show(k),
                        t.txns[w.txn as usize].index,
                        t.names.show(v)
                    ),
                ));
            }
            if let Some(pw) = prev.filter(|pw| pw.txn == w.txn && pw.mop > w.mop) {
                let txn = &t.txns[w.txn as usize];
                out.found.push(Found::new(
                    "incompatible-order",
                    vec![w.txn, ti],
                    format!(
                        "T{} appended {} and then {} to key {}, but T{} read key {} = {}, with them the other way round",
                        txn.index,
                        t.names.show(v),
                        t.names.show(l[pw.at as usize]),
                        t.names.show(k),
                        t.txns[ti as usize].index,
                        t.names.show(k),
                        t.names.show_list(l)
                    ),
                ));
            }
            if usable(&w) {
                if let Some(pw) = prev_ok.filter(|pw| pw.txn != w.txn) {
                    out.edges.add(pw.txn, w.txn, WW);
                }
                prev_ok = Some(w);
            } else {
                unusable.push(p as u32);
            }
            prev = Some(w);
        }
        if (garbage_at, failed_at) != (UNSEEN, UNSEEN) {
            bad.insert(k, (garbage_at, failed_at));
        }
        if !unusable.is_empty() {
            let mut next = vec![UNSEEN; l.len() + 1];
            let mut u = unusable.iter().rev().peekable();
            for p in (0..l.len()).rev() {
                next[p] = if u.next_if(|&&x| x as usize == p).is_some() {
                    next[p + 1]
                } else {
                    p as u32
                };
            }
            next_ok.insert(k, next);
        }
    }
    // Committed appends no read shows: after the key's last known element.
    let mut unseen: FxHashMap<Id, Vec<u32>> = FxHashMap::default();
    for (&(k, _), w) in &writers {
        if w.at == UNSEEN && !w.dup && !w.failed && t.txns[w.txn as usize].status == Status::Ok {
            unseen.entry(k).or_default().push(w.txn);
        }
    }
    for (&k, ts) in unseen.iter_mut() {
        ts.sort_unstable();
        ts.dedup();
        let order = longest
            .get(&k)
            .map_or(&[][..], |&(txn, mop)| list(t, txn, mop));
        // The writer of the last element that takes part in edges.
        let Some(w) = order
            .iter()
            .rev()
            .filter_map(|v| writers.get(&(k, *v)))
            .find(|w| usable(w))
        else {
            continue;
        };
        for &x in ts.iter() {
            if x != w.txn {
                out.edges.add(w.txn, x, WW);
            }
        }
    }
    let la = ListAppend {
        writers,
        longest,
        bad,
        unseen,
        next_ok,
    };
    // Reads: in parallel parts of the txns, merged in txn order (as one
    // pass in order would have found them).
    let reads = |range: std::ops::Range<usize>| {
        let mut out = Inferred::default();
        let mut lost = Lost::default();
        let mut set: FxHashSet<Id> = FxHashSet::default();
        for i in range {
            reads_of(t, &la, i, &mut set, &mut lost, &mut out);
        }
        (out, lost)
    };
    let n = t.txns.len();
    let parts: Vec<(Inferred, Lost)> = if n >= 2 * READS_PART {
        use rayon::prelude::*;
        (0..n.div_ceil(READS_PART))
            .into_par_iter()
            .map(|p| reads(p * READS_PART..((p + 1) * READS_PART).min(n)))
            .collect()
    } else {
        vec![reads(0..n)]
    };
    let mut lost = Lost::default();
    for (part, l) in parts {
        out.found.extend(part.found);
        out.edges.append(part.edges);
        for (at, ts) in l {
            lost.entry(at).or_default().extend(ts);
        }
    }
    let mut lost: Vec<((Id, u32), Vec<u32>)> = lost.into_iter().collect();
    lost.sort_unstable_by_key(|(at, _)| *at);
    for ((k, n), ts) in lost {
        if ts.len() < 2 {
            continue;
        }
        let order = la.version(t, k);
        let names: Vec<String> = ts
            .iter()
            .map(|&x| format!("T{}", t.txns[x as usize].index))
            .collect();
        out.found.push(Found::new(
            "lost-update",
            ts.clone(),
            format!(
                "{} all read key {} = {} and then appended to it: each missed the others' update",
                names.join(", "),
                t.names.show(k),
                t.names.show_list(&order[..(n as usize).min(order.len())])
            ),
        ));
    }
    (la, out)
}

/// The txns that read (key, length) and then appended to the key.
type Lost = FxHashMap<(Id, u32), Vec<u32>>;

/// Parts of the reads pass (txns) run in parallel.
const READS_PART: usize = 8192;

/// The reads of txn `i`: element-wise checks, internal consistency, the
/// prefix check against the version order, wr and rw edges, and the reads
/// a lost update may follow.
fn reads_of(
    t: &Txns,
    la: &ListAppend,
    i: usize,
    set: &mut FxHashSet<Id>,
    lost: &mut Lost,
    out: &mut Inferred,
) {
    let txn = &t.txns[i];
    if txn.status != Status::Ok {
        return;
    }
    let ti = i as u32;
    for (j, m) in txn.mops.iter().enumerate() {
        let Mop::Read(k, s @ Seen::List(..)) = m else {
            continue;
        };
        let (k, l) = (*k, t.list(s));
        read_elements(t, la, ti, j, k, l, set, out);
        internal(t, ti, j, k, l, out);
        let order = la.version(t, k);
        let prefix = l.len() <= order.len() && order[..l.len()] == l[..];
        if !prefix {
            let (lt, lm) = la.longest[&k];
            out.found.push(Found::new(
                "incompatible-order",
                vec![ti, lt],
                format!(
                    "T{} read key {} = {} and T{} read it as {}: neither is a prefix of the other",
                    txn.index,
                    t.names.show(k),
                    t.names.show_list(l),
                    t.txns[lt as usize].index,
                    t.names.show_list(list(t, lt, lm))
                ),
            ));
            continue;
        }
        if !external(&txn.mops, j) {
            continue;
        }
        // wr: from the writer of the last element seen.
        if let Some(&last) = l.last() {
            if let Some(w) = la.writer(k, last) {
                let wt = &t.txns[w.txn as usize];
                if w.txn != ti && !w.dup && !w.failed && !w.pending {
                    out.edges.add(w.txn, ti, WR);
                    if !w.last {
                        out.found.push(Found::new(
                                "G1b",
                                vec![ti, w.txn],
                                format!(
                                    "T{} read key {} = {}, which ends at {}, an intermediate append of T{} (it appended more to key {} afterwards)",
                                    txn.index,
                                    t.names.show(k),
                                    t.names.show_list(l),
                                    t.names.show(last),
                                    wt.index,
                                    t.names.show(k)
                                ),
                            ));
                    }
                }
            }
        }
        // rw: to the writer of the next element that takes part in edges;
        // a read with none after it, to every committed append no read
        // shows.
        if let Some((_, w)) = la.next_usable(t, k, l.len()) {
            if w.txn != ti {
                out.edges.add(ti, w.txn, RW);
            }
        } else if let Some(ts) = la.unseen.get(&k) {
            for &x in ts {
                if x != ti {
                    out.edges.add(ti, x, RW);
                }
            }
        }
        // Lost update: a read of this state followed by an append.
        if txn.mops[j + 1..]
            .iter()
            .any(|m| matches!(m, Mop::Append(x, _) if *x == k))
        {
            lost.entry((k, l.len() as u32)).or_default().push(ti);
        }
    }
}

/// Element-wise checks of one read: garbage, aborted (G1a) and future reads,
/// and duplicates in reads that are not the key's longest.
#[allow(clippy::too_many_arguments)]
fn read_elements(
    t: &Txns,
    la: &ListAppend,
    ti: u32,
    j: usize,
    k: Id,
    l: &[Id],
    set: &mut FxHashSet<Id>,
    out: &mut Inferred,
) {
    let txn = &t.txns[ti as usize];
    let head = || {
        format!(
            "T{} read key {} = {}",
            txn.index,
            t.names.show(k),
            t.names.show_list(l)
        )
    };
    let (mut garbage, mut aborted, mut future) = (false, false, false);
    let order = la.version(t, k);
    if l.len() <= order.len() && order[..l.len()] == *l {
        // A prefix of the version order: what is wrong with it is known
        // per position already.
        let n = l.len() as u32;
        let (g, f) = la.bad.get(&k).copied().unwrap_or((UNSEEN, UNSEEN));
        if g < n {
            out.found.push(Found::new(
                "garbage-read",
                vec![ti],
                format!(
                    "{}, but no txn appended {} to key {}",
                    head(),
                    t.names.show(l[g as usize]),
                    t.names.show(k)
                ),
            ));
        }
        if f < n {
            let v = l[f as usize];
            let w = la.writer(k, v).map_or(ti, |w| w.txn);
            out.found.push(Found::new(
                "G1a",
                vec![ti, w],
                format!(
                    "{}, which includes {}, appended by T{}, which failed (aborted read)",
                    head(),
                    t.names.show(v),
                    t.txns[w as usize].index
                ),
            ));
        }
        for (m, mop) in txn.mops.iter().enumerate().skip(j + 1) {
            let Mop::Append(x, v) = *mop else { continue };
            if x != k {
                continue;
            }
            if la.writer(k, v).is_some_and(|w| w.txn == ti && w.at < n) {
                out.found.push(Found::new(
                    "future-read",
                    vec![ti],
                    format!(
                        "{}, which includes {}, which the same txn appends only later (micro-op {m})",
                        head(),
                        t.names.show(v)
                    ),
                ));
                break;
            }
        }
        return;
    }
    for &v in l {
        match la.writer(k, v) {
            None if !garbage => {
                garbage = true;
                out.found.push(Found::new(
                    "garbage-read",
                    vec![ti],
                    format!(
                        "{}, but no txn appended {} to key {}",
                        head(),
                        t.names.show(v),
                        t.names.show(k)
                    ),
                ));
            }
            Some(w) if !aborted && w.failed => {
                aborted = true;
                out.found.push(Found::new(
                    "G1a",
                    vec![ti, w.txn],
                    format!(
                        "{}, which includes {}, appended by T{}, which failed (aborted read)",
                        head(),
                        t.names.show(v),
                        t.txns[w.txn as usize].index
                    ),
                ));
            }
            Some(w) if !future && w.txn == ti && w.mop as usize > j => {
                future = true;
                out.found.push(Found::new(
                    "future-read",
                    vec![ti],
                    format!(
                        "{}, which includes {}, which the same txn appends only later (micro-op {})",
                        head(),
                        t.names.show(v),
                        w.mop
                    ),
                ));
            }
            _ => {}
        }
    }
    // Not a prefix of the version order: duplicates are looked for here
    // (the longest read's were looked for with the order).
    if l.len() > 1 {
        set.clear();
        if let Some(&v) = l.iter().find(|&&v| !set.insert(v)) {
            out.found.push(Found::new(
                "duplicate-elements",
                vec![ti],
                format!(
                    "{}, in which {} appears more than once",
                    head(),
                    t.names.show(v)
                ),
            ));
        }
    }
}

/// Internal consistency: a read after the txn's own reads and appends of the
/// same key must show them.
fn internal(t: &Txns, ti: u32, j: usize, k: Id, l: &[Id], out: &mut Inferred) {
    let mops = &t.txns[ti as usize].mops;
    let mut appended: Vec<Id> = Vec::new();
    let mut base: Option<&[Id]> = None;
    for m in mops[..j].iter().rev() {
        match m {
            Mop::Append(x, v) if *x == k => appended.push(*v),
            Mop::Read(x, r @ Seen::List(..)) if *x == k => {
                base = Some(t.list(r));
                break;
            }
            _ => {}
        }
    }
    if base.is_none() && appended.is_empty() {
        return;
    }
    appended.reverse();
    let ok = match base {
        Some(b) => {
            l.len() == b.len() + appended.len()
                && l[..b.len()] == *b
                && l[b.len()..] == appended[..]
        }
        None => l.ends_with(&appended),
    };
    if !ok {
        let expected = match base {
            Some(b) => {
                let mut e = b.to_vec();
                e.extend_from_slice(&appended);
                t.names.show_list(&e)
            }
            None => format!("a list ending in {}", t.names.show_list(&appended)),
        };
        out.found.push(Found::new(
            "internal",
            vec![ti],
            format!(
                "T{} read key {} = {} at micro-op {j}, but its own earlier micro-ops imply {}",
                t.txns[ti as usize].index,
                t.names.show(k),
                t.names.show_list(l),
                expected
            ),
        ));
    }
}

impl Inference for ListAppend {
    fn explain(&self, t: &Txns, a: u32, b: u32, kind: u8) -> String {
        let (ta, tb) = (&t.txns[a as usize], &t.txns[b as usize]);
        let name = |x: Id| t.names.show(x).to_string();
        match kind {
            WW => {
                for m in &ta.mops {
                    let Mop::Append(k, v) = *m else { continue };
                    let Some(w) = self.writer(k, v) else { continue };
                    if w.txn != a || w.at == UNSEEN {
                        continue;
                    }
                    let order = self.version(t, k);
                    let from = w.at as usize + 1;
                    if let Some((at, _)) = self.next_usable(t, k, from).filter(|(_, n)| n.txn == b)
                    {
                        return format!(
                            "T{} appended {} to key {}, and T{} appended {} {}",
                            ta.index,
                            name(v),
                            name(k),
                            tb.index,
                            name(order[at]),
                            self.between(t, k, from, at)
                        );
                    }
                }
                for (k, v) in self.unseen_appends(t, b) {
                    let order = self.version(t, k);
                    let last = order
                        .iter()
                        .rposition(|x| self.writer(k, *x).is_some_and(usable));
                    if let Some(p) = last.filter(|&p| self.writer(k, order[p]).unwrap().txn == a) {
                        return format!(
                            "T{} appended {} to key {}, the last element any read shows{}, and T{}'s append of {}, which no read shows, must come after it",
                            ta.index,
                            name(order[p]),
                            name(k),
                            if p + 1 < order.len() {
                                " but for appends of txns that failed, are unfinished or are unknown"
                            } else {
                                ""
                            },
                            tb.index,
                            name(v)
                        );
                    }
                }
                format!("T{} appended before T{} (ww)", ta.index, tb.index)
            }
            WR => {
                for (j, m) in tb.mops.iter().enumerate() {
                    let Mop::Read(k, s @ Seen::List(..)) = m else {
                        continue;
                    };
                    let l = t.list(s);
                    if !external(&tb.mops, j) {
                        continue;
                    }
                    if let Some(&last) = l.last() {
                        if self.writer(*k, last).is_some_and(|w| w.txn == a) {
                            return format!(
                                "T{} read key {} = {}, which ends with T{}'s append of {}",
                                tb.index,
                                name(*k),
                                t.names.show_list(l),
                                ta.index,
                                name(last)
                            );
                        }
                    }
                }
                format!("T{} read what T{} appended (wr)", tb.index, ta.index)
            }
            RW => {
                for (j, m) in ta.mops.iter().enumerate() {
                    let Mop::Read(k, s @ Seen::List(..)) = m else {
                        continue;
                    };
                    let l = t.list(s);
                    if !external(&ta.mops, j) {
                        continue;
                    }
                    let order = self.version(t, *k);
                    if let Some((at, _)) =
                        self.next_usable(t, *k, l.len()).filter(|(_, w)| w.txn == b)
                    {
                        let what = if at == l.len() {
                            format!("the next element of key {}", name(*k))
                        } else {
                            format!(
                                "in key {}'s order {}",
                                name(*k),
                                self.between(t, *k, l.len(), at)
                            )
                        };
                        return format!(
                            "T{} read key {} = {}, which did not include T{}'s append of {} ({what})",
                            ta.index,
                            name(*k),
                            t.names.show_list(l),
                            tb.index,
                            name(order[at]),
                        );
                    }
                }
                for (j, m) in ta.mops.iter().enumerate() {
                    let Mop::Read(k, s @ Seen::List(..)) = m else {
                        continue;
                    };
                    let l = t.list(s);
                    if !external(&ta.mops, j) || self.next_usable(t, *k, l.len()).is_some() {
                        continue;
                    }
                    for (x, v) in self.unseen_appends(t, b) {
                        if x == *k {
                            return format!(
                                "T{} read key {} = {}, which did not include T{}'s append of {} (committed, and shown by no read, so it comes after every element a read shows)",
                                ta.index,
                                name(*k),
                                t.names.show_list(l),
                                tb.index,
                                name(v)
                            );
                        }
                    }
                }
                format!("T{} did not see T{}'s append (rw)", ta.index, tb.index)
            }
            _ => super::explain_order(t, a, b, kind),
        }
    }
}

/// Checks that `external` treats a first read as external and a read after
/// an append as internal.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_reads_are_first_touches() {
        let mops = vec![
            Mop::Read(1, Seen::List(0, 0)),
            Mop::Append(2, 5),
            Mop::Read(2, Seen::List(0, 1)),
            Mop::Read(1, Seen::List(0, 0)),
        ];
        assert!(external(&mops, 0));
        assert!(!external(&mops, 2));
        assert!(!external(&mops, 3));
    }
}
