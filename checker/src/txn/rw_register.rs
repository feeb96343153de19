//! rw-register: every key holds one value; `[w k v]` sets it and `[r k v]`
//! returns it (`nil`: never written). A read names the one write it saw
//! (writes to a key are assumed unique, as in Elle), which gives wr edges;
//! the version order of a key is not visible in general, so ww and rw edges
//! come only from what is certain or assumed, each stated:
//!
//! - always: the initial state (`nil`) precedes every written version, so
//!   a txn that read `nil` has an rw edge to every txn that wrote that key;
//! - `wfr-keys` (writes follow reads): a txn that read version `a` of a key
//!   and then wrote `b` to it installed `b` after `a`;
//! - `sequential-keys`: each process sees each key's versions in order (the
//!   versions a process reads or writes on a key never go back);
//! - `linearizable-keys`: a txn that began after another completed sees
//!   (or installs) each shared key's version no older than the other's.
//!
//! From each ordered pair of versions `a < b` of a key: ww from `a`'s writer
//! to `b`'s, rw from every txn that read `a` to `b`'s writer.

use super::graph::{RW, WR, WW};
use super::list_append::external;
use super::parse::{Id, Mop, Seen, Txns};
use super::{Assumptions, Found, Inference, Inferred};
use crate::history::Status;
use rustc_hash::FxHashMap;

#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: u32,
    mop: u32,
    last: bool,
    dup: bool,
    /// The writer is pending at a prefix's cut (no edge, no G1b).
    pending: bool,
}

/// Why two versions are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Initial,
    WritesFollowReads,
    Sequential,
    Linearizable,
}

/// Where an edge came from: key, the earlier and later version, why.
type Source = (Id, Option<Id>, Id, Why);

pub struct RwRegister {
    sources: FxHashMap<(u32, u32, u8), Source>,
}

/// A writer that takes part in no edge: failed, or pending at a prefix's
/// cut (it may yet fail).
fn bad(t: &Txns, txn: u32) -> bool {
    let x = &t.txns[txn as usize];
    x.status == Status::Fail || x.pending
}

/// Infers at most `max_edges` edges (the memory budget's share); past
/// that, the inference is marked incomplete (so a history can no longer be
/// found valid) rather than growing without bound: initial-state and
/// assumed orders can give quadratically many rw edges.
pub fn infer(t: &Txns, assume: &Assumptions, max_edges: usize) -> (RwRegister, Inferred) {
    let mut out = Inferred::default();
    let mut writers: FxHashMap<(Id, Id), Writer> = FxHashMap::default();
    let mut by_key: FxHashMap<Id, Vec<u32>> = FxHashMap::default();
    let mut seen_keys: Vec<Id> = Vec::new();
    let mut dups = 0usize;
    for (i, txn) in t.txns.iter().enumerate() {
        seen_keys.clear();
        for (j, m) in txn.mops.iter().enumerate().rev() {
            let Mop::Write(k, v) = *m else { continue };
            let last = !seen_keys.contains(&k);
            if last {
                seen_keys.push(k);
                if txn.status != Status::Fail && !txn.pending {
                    by_key.entry(k).or_default().push(i as u32);
                }
            }
            let w = Writer {
                txn: i as u32,
                mop: j as u32,
                last,
                dup: false,
                pending: txn.pending,
            };
            match writers.entry((k, v)) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    if !e.get().dup {
                        dups += 1;
                        if out.notes.len() < 5 {
                            out.notes.push(format!(
                                "value {} was written to key {} more than once (T{} and T{}); rw-register assumes unique writes, so reads of it are left out of the inference",
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
            .push(format!("{dups} written values were not unique in all"));
    }
    let mut sources: FxHashMap<(u32, u32, u8), Source> = FxHashMap::default();
    let mut edge = |out: &mut Inferred, a: u32, b: u32, k: u8, src: Source| {
        if a == b {
            return;
        }
        if out.edges.len() >= max_edges {
            out.incomplete.get_or_insert_with(|| {
                format!("rw-register inferred more than {max_edges} edges (the memory budget's share); the rest were left out")
            });
            return;
        }
        out.edges.add(a, b, k);
        // Sources are kept for the edges a witness may need to explain;
        // one per edge, bounded like the edges.
        sources.entry((a, b, k)).or_insert(src);
    };
    // Readers of each version (ok txns, external reads).
    let mut readers: FxHashMap<(Id, Option<Id>), Vec<u32>> = FxHashMap::default();
    let mut lost: FxHashMap<(Id, Option<Id>), Vec<u32>> = FxHashMap::default();
    // Ordered pairs of versions of a key.
    let mut pairs: Vec<(Id, Option<Id>, Id, Why)> = Vec::new();
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.status != Status::Ok {
            continue;
        }
        let ti = i as u32;
        for (j, m) in txn.mops.iter().enumerate() {
            let Mop::Read(k, Seen::Reg(v)) = m else {
                continue;
            };
            let (k, v) = (*k, *v);
            check_read(t, &writers, ti, j, k, v, &mut out);
            if !external(&txn.mops, j) {
                continue;
            }
            readers.entry((k, v)).or_default().push(ti);
            let later_write = txn.mops[j + 1..].iter().find_map(|m| match m {
                Mop::Write(x, w) if *x == k => Some(*w),
                _ => None,
            });
            if let Some(w) = later_write {
                lost.entry((k, v)).or_default().push(ti);
                if assume.wfr_keys && v.is_some() {
                    pairs.push((k, v, w, Why::WritesFollowReads));
                }
            }
            let Some(v) = v else { continue };
            if let Some(w) = writers.get(&(k, v)) {
                if w.txn != ti && !w.dup && !bad(t, w.txn) {
                    edge(&mut out, w.txn, ti, WR, (k, Some(v), v, Why::Initial));
                }
            }
        }
    }
    // The initial state precedes every write: nil readers -> every writer.
    for (&(k, v), rs) in &readers {
        if v.is_some() {
            continue;
        }
        for &w in by_key.get(&k).map_or(&[][..], Vec::as_slice) {
            let wv = t.txns[w as usize]
                .mops
                .iter()
                .rev()
                .find_map(|m| match m {
                    Mop::Write(x, y) if *x == k => Some(*y),
                    _ => None,
                })
                .unwrap_or(0);
            for &r in rs {
                edge(&mut out, r, w, RW, (k, None, wv, Why::Initial));
            }
        }
    }
    if assume.sequential_keys {
        // Per process and key, the versions it saw or wrote, in order.
        let mut last: FxHashMap<(String, Id), Id> = FxHashMap::default();
        for txn in &t.txns {
            if txn.status == Status::Fail || txn.pending {
                continue;
            }
            for (j, m) in txn.mops.iter().enumerate() {
                let (k, v) = match m {
                    Mop::Write(k, v) => (*k, *v),
                    Mop::Read(k, Seen::Reg(Some(v))) if external(&txn.mops, j) => (*k, *v),
                    _ => continue,
                };
                let p = (txn.process.to_string(), k);
                if let Some(prev) = last.insert(p, v) {
                    if prev != v {
                        pairs.push((k, Some(prev), v, Why::Sequential));
                    }
                }
            }
        }
    }
    if assume.linearizable_keys {
        linearizable_pairs(t, &mut pairs);
    }
    for &(k, a, b, why) in &pairs {
        let Some(wb) = writers.get(&(k, b)).filter(|w| !w.dup) else {
            continue;
        };
        if bad(t, wb.txn) {
            continue;
        }
        if let Some(a) = a {
            if let Some(wa) = writers.get(&(k, a)).filter(|w| !w.dup) {
                if !bad(t, wa.txn) {
                    edge(&mut out, wa.txn, wb.txn, WW, (k, Some(a), b, why));
                }
            }
        }
        for &r in readers.get(&(k, a)).map_or(&[][..], Vec::as_slice) {
            edge(&mut out, r, wb.txn, RW, (k, a, b, why));
        }
    }
    for ((k, v), ts) in lost {
        if ts.len() < 2 {
            continue;
        }
        let names: Vec<String> = ts
            .iter()
            .map(|&x| format!("T{}", t.txns[x as usize].index))
            .collect();
        out.found.push(Found::new(
            "lost-update",
            ts.clone(),
            format!(
                "{} all read key {} = {} and then wrote it: each missed the others' update",
                names.join(", "),
                t.names.show(k),
                v.map_or("nil".into(), |v| t.names.show(v))
            ),
        ));
    }
    (RwRegister { sources }, out)
}

/// The version of each key a txn leaves: its last write, else its external
/// read (`None` when it read nil or did not touch the key).
fn versions(txn: &super::parse::Txn) -> Vec<(Id, Option<Id>)> {
    let mut out: Vec<(Id, Option<Id>)> = Vec::new();
    for (j, m) in txn.mops.iter().enumerate() {
        match m {
            Mop::Write(k, v) => match out.iter_mut().find(|(x, _)| x == k) {
                Some(e) => e.1 = Some(*v),
                None => out.push((*k, Some(*v))),
            },
            Mop::Read(k, Seen::Reg(v)) if external(&txn.mops, j) => out.push((*k, *v)),
            _ => {}
        }
    }
    out
}

/// linearizable-keys: when an ok txn completed before another began, the
/// later one's version of each shared key is no older. Real-time order per
/// key, transitively reduced as in [`super::order_edges`].
fn linearizable_pairs(t: &Txns, pairs: &mut Vec<(Id, Option<Id>, Id, Why)>) {
    let mut events: Vec<(usize, u32, bool)> = Vec::new();
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.status == Status::Fail || txn.pending {
            continue;
        }
        events.push((txn.call, i as u32, false));
        if let (Status::Ok, Some(r)) = (txn.status, txn.ret) {
            events.push((r, i as u32, true));
        }
    }
    events.sort_unstable();
    // Per key: completed txns not yet superseded, with their versions.
    let mut frontier: FxHashMap<Id, Vec<(u32, Option<Id>)>> = FxHashMap::default();
    let mut preds: FxHashMap<u32, Vec<(Id, u32)>> = FxHashMap::default();
    for (_, i, done) in events {
        let txn = &t.txns[i as usize];
        let vs = versions(txn);
        if !done {
            let mut mine: Vec<(Id, u32)> = Vec::new();
            for &(k, v) in &vs {
                for &(f, fv) in frontier.get(&k).map_or(&[][..], Vec::as_slice) {
                    mine.push((k, f));
                    if let (Some(b), true) = (v, fv != v) {
                        pairs.push((k, fv, b, Why::Linearizable));
                    }
                }
            }
            if !mine.is_empty() {
                preds.insert(i, mine);
            }
        } else {
            let before = preds.remove(&i).unwrap_or_default();
            for &(k, v) in &vs {
                let f = frontier.entry(k).or_default();
                f.retain(|(x, _)| !before.contains(&(k, *x)));
                f.push((i, v));
            }
        }
    }
}

/// One read's own checks: garbage, aborted, intermediate, future and
/// internal reads.
fn check_read(
    t: &Txns,
    writers: &FxHashMap<(Id, Id), Writer>,
    ti: u32,
    j: usize,
    k: Id,
    v: Option<Id>,
    out: &mut Inferred,
) {
    let txn = &t.txns[ti as usize];
    let shown = v.map_or("nil".into(), |v| t.names.show(v));
    let head = format!("T{} read key {} = {}", txn.index, t.names.show(k), shown);
    // Internal: the latest own write or read of the key before this one.
    let before = txn.mops[..j].iter().rev().find_map(|m| match m {
        Mop::Write(x, w) if *x == k => Some(Some(*w)),
        Mop::Read(x, Seen::Reg(r)) if *x == k => Some(*r),
        _ => None,
    });
    if let Some(expected) = before {
        if expected != v {
            out.found.push(Found::new(
                "internal",
                vec![ti],
                format!(
                    "{head} at micro-op {j}, but its own earlier micro-ops imply {}",
                    expected.map_or("nil".into(), |e| t.names.show(e))
                ),
            ));
        }
        return;
    }
    let Some(v) = v else { return };
    match writers.get(&(k, v)) {
        None => out.found.push(Found::new(
            "garbage-read",
            vec![ti],
            format!(
                "{head}, but no txn wrote {shown} to key {}",
                t.names.show(k)
            ),
        )),
        Some(w) if t.txns[w.txn as usize].status == Status::Fail => out.found.push(Found::new(
            "G1a",
            vec![ti, w.txn],
            format!(
                "{head}, written by T{}, which failed (aborted read)",
                t.txns[w.txn as usize].index
            ),
        )),
        Some(w) if w.txn == ti && w.mop as usize > j => out.found.push(Found::new(
            "future-read",
            vec![ti],
            format!(
                "{head}, which the same txn writes only later (micro-op {})",
                w.mop
            ),
        )),
        Some(w) if w.txn != ti && !w.last && !w.dup && !w.pending => out.found.push(Found::new(
            "G1b",
            vec![ti, w.txn],
            format!(
                "{head}, an intermediate write of T{} (it wrote key {} again afterwards)",
                t.txns[w.txn as usize].index,
                t.names.show(k)
            ),
        )),
        _ => {}
    }
}

impl Inference for RwRegister {
    fn explain(&self, t: &Txns, a: u32, b: u32, kind: u8) -> String {
        let (ta, tb) = (&t.txns[a as usize], &t.txns[b as usize]);
        let Some(&(k, from, to, why)) = self.sources.get(&(a, b, kind)) else {
            return super::explain_order(t, a, b, kind);
        };
        let n = |x: Id| t.names.show(x).to_string();
        let from_s = from.map_or("nil".to_string(), n);
        let because = match why {
            Why::Initial => "the initial state (nil) precedes every write".to_string(),
            Why::WritesFollowReads => format!(
                "a txn read {from_s} from key {} and then wrote {} (assumption wfr-keys)",
                n(k),
                n(to)
            ),
            Why::Sequential => format!(
                "one process saw key {} go from {from_s} to {} (assumption sequential-keys)",
                n(k),
                n(to)
            ),
            Why::Linearizable => format!(
                "a txn that saw key {} = {} began after one that saw {from_s} had completed (assumption linearizable-keys)",
                n(k),
                n(to)
            ),
        };
        match kind {
            WR => format!(
                "T{} read key {} = {}, which T{} wrote",
                tb.index,
                n(k),
                n(to),
                ta.index
            ),
            WW => format!(
                "T{} wrote {from_s} to key {}, and T{} wrote {} after it ({because})",
                ta.index,
                n(k),
                tb.index,
                n(to)
            ),
            _ => format!(
                "T{} read key {} = {from_s}, which did not include T{}'s write of {} ({because})",
                ta.index,
                n(k),
                tb.index,
                n(to)
            ),
        }
    }
}
