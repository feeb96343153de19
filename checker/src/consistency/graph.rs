//! The graph checks of one key: causal, PRAM and the four session
//! guarantees, over the write–read (rf) and program (po) orders of a
//! differentiated register history. See the parent module for the
//! definitions; this file holds the algorithms.
//!
//! Every view check asks whether the writes of the key plus the reads of one
//! process `q` can be put in one legal order that respects a set of edges. A
//! register order is legal iff each read comes after the write it read and
//! before the next write, so a write and the reads of `q` that read it form a
//! *block* that stays contiguous; the reads of the initial value form a block
//! that comes before every write. Contracting each block to one node, a legal
//! order exists iff the contracted graph (plus `init -> every write`) is
//! acyclic, and a cycle is the witness. The contracted graph has one node per
//! write plus `init`, so a check costs O(writes + edges) per reading process.

use super::{Act, KOp, Key, Model, Witness};
use crate::history::Operation;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

pub(crate) const INIT: u32 = u32::MAX;
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NKind {
    R,
    W,
}

/// The nodes of one key: the read and write parts of its operations (a cas
/// is a read node followed by a write node of the same process).
pub(crate) struct Graph<'a> {
    pub key: &'a Key,
    pub ops: &'a [Operation],
    pub kind: Vec<NKind>,
    /// Index into `key.ops`.
    pub kop: Vec<u32>,
    pub proc_: Vec<u32>,
    /// Position among its process's nodes.
    pub pos: Vec<u32>,
    /// For a read: the node of the write it read, or `INIT`.
    pub rf: Vec<u32>,
    /// For a write: its rank among the writes.
    pub wrank: Vec<u32>,
    /// Write nodes in history order.
    pub wnodes: Vec<u32>,
    /// Nodes of each process in program order.
    pub pnodes: Vec<Vec<u32>>,
    /// The next write node of the same process after this node.
    pub next_w: Vec<u32>,
    /// Readers of each write (by rank), as a CSR.
    pub rd_start: Vec<u32>,
    pub rd: Vec<u32>,
}

/// Why the graph checks cannot run, or a read that proves every model false.
pub(crate) enum Build<'a> {
    Ok(Box<Graph<'a>>),
    /// Values are not unique per key (or nil is written): reads do not name
    /// their writes.
    NotDifferentiated(String),
    /// A read of a value no (non-failed) write wrote.
    Garbage(Witness),
}

fn read_val(a: Act) -> Option<u32> {
    match a {
        Act::Read(v) | Act::Cas(v, _) => Some(v),
        Act::Write(_) => None,
    }
}

fn write_val(a: Act) -> Option<u32> {
    match a {
        Act::Write(v) | Act::Cas(_, v) => Some(v),
        Act::Read(_) => None,
    }
}

pub(crate) fn build<'a>(key: &'a Key, ops: &'a [Operation]) -> Build<'a> {
    let kops = &key.ops;
    // The write of each value.
    // A key whose writes do not tell its values apart is not judged by the
    // graph, but a read of a value no write wrote at all is still a garbage
    // read (invalid under every model): that is looked for first.
    let mut writer: FxHashMap<u32, u32> = FxHashMap::default();
    let mut not_differentiated: Option<String> = None;
    for (i, k) in kops.iter().enumerate() {
        if let Some(v) = write_val(k.act) {
            if v == crate::model::NIL {
                not_differentiated.get_or_insert_with(|| {
                    let init = key.vals.show(crate::model::NIL);
                    format!(
                        "{} writes {init}, the initial value, so a read of {init} does not say which write it saw",
                        super::describe(ops, k, &key.vals)
                    )
                });
                continue;
            }
            if let Some(&j) = writer.get(&v) {
                not_differentiated.get_or_insert_with(|| {
                    format!(
                        "the value {} is written twice ({} and {}), so a read of it does not say which write it saw",
                        key.vals.show(v),
                        super::describe(ops, &kops[j as usize], &key.vals),
                        super::describe(ops, k, &key.vals)
                    )
                });
                continue;
            }
            writer.insert(v, i as u32);
        }
    }
    // Which ops are included: every ok op; an info write or cas only when a
    // read observed its value (then it happened; otherwise leaving it out is
    // always at least as permissive, since nothing can depend on it).
    let mut included: Vec<bool> = kops.iter().map(|k| k.ok).collect();
    let mut work: Vec<u32> = (0..kops.len() as u32)
        .filter(|&i| included[i as usize])
        .collect();
    let mut garbage: Option<u32> = None;
    while let Some(i) = work.pop() {
        let k = &kops[i as usize];
        if let Some(v) = read_val(k.act) {
            if v == crate::model::NIL {
                continue;
            }
            match writer.get(&v) {
                Some(&j) => {
                    if !included[j as usize] {
                        included[j as usize] = true;
                        work.push(j);
                    }
                }
                None => {
                    if garbage.is_none_or(|g| i < g) {
                        garbage = Some(i);
                    }
                }
            }
        }
    }
    if let Some(g) = garbage {
        let k = &kops[g as usize];
        let v = read_val(k.act).unwrap_or(0);
        let failed = ops.iter().any(|o| {
            o.status == crate::history::Status::Fail
                && o.key.as_ref().map(crate::model::key_text) == key.key
                && (o.input == *key.vals.value(v)
                    || o.input.as_array().and_then(|a| a.get(1)) == Some(key.vals.value(v)))
        });
        return Build::Garbage(Witness::new(
            key,
            ops,
            &[k],
            format!(
                "{} returned {}, a value that {}; a read of a never-written value violates every model",
                super::describe(ops, k, &key.vals),
                key.vals.show(v),
                if failed {
                    "only a failed write wrote"
                } else {
                    "no write of this key wrote"
                }
            ),
        ));
    }
    if let Some(why) = not_differentiated {
        return Build::NotDifferentiated(why);
    }
    let mut g = Graph {
        key,
        ops,
        kind: Vec::new(),
        kop: Vec::new(),
        proc_: Vec::new(),
        pos: Vec::new(),
        rf: Vec::new(),
        wrank: Vec::new(),
        wnodes: Vec::new(),
        pnodes: vec![Vec::new(); key.nprocs],
        next_w: Vec::new(),
        rd_start: Vec::new(),
        rd: Vec::new(),
    };
    let mut wnode_of: Vec<u32> = vec![NONE; kops.len()];
    let push = |g: &mut Graph, kind: NKind, i: usize, p: u32| -> u32 {
        let n = g.kind.len() as u32;
        g.kind.push(kind);
        g.kop.push(i as u32);
        g.proc_.push(p);
        g.pos.push(g.pnodes[p as usize].len() as u32);
        g.pnodes[p as usize].push(n);
        g.rf.push(NONE);
        g.wrank.push(NONE);
        g.next_w.push(NONE);
        n
    };
    for (i, k) in kops.iter().enumerate() {
        if !included[i] {
            continue;
        }
        if read_val(k.act).is_some() {
            push(&mut g, NKind::R, i, k.proc_);
        }
        if write_val(k.act).is_some() {
            let n = push(&mut g, NKind::W, i, k.proc_);
            g.wrank[n as usize] = g.wnodes.len() as u32;
            g.wnodes.push(n);
            wnode_of[i] = n;
        }
    }
    // rf
    let mut counts = vec![0u32; g.wnodes.len() + 1];
    for n in 0..g.kind.len() {
        if g.kind[n] == NKind::R {
            let v = read_val(kops[g.kop[n] as usize].act).unwrap_or(0);
            g.rf[n] = if v == crate::model::NIL {
                INIT
            } else {
                wnode_of[writer[&v] as usize]
            };
            if g.rf[n] != INIT {
                counts[g.wrank[g.rf[n] as usize] as usize + 1] += 1;
            }
        }
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    g.rd = vec![0; *counts.last().unwrap_or(&0) as usize];
    let mut fill = counts.clone();
    for n in 0..g.kind.len() {
        if g.kind[n] == NKind::R && g.rf[n] != INIT {
            let r = g.wrank[g.rf[n] as usize] as usize;
            g.rd[fill[r] as usize] = n as u32;
            fill[r] += 1;
        }
    }
    g.rd_start = counts;
    // next write of the same process
    for p in 0..g.pnodes.len() {
        let mut nw = NONE;
        for &n in g.pnodes[p].iter().rev() {
            g.next_w[n as usize] = nw;
            if g.kind[n as usize] == NKind::W {
                nw = n;
            }
        }
    }
    Build::Ok(Box::new(g))
}

/// Why one node must precede another in a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EKind {
    /// Program order of one process (`a` before `b`).
    Po,
    /// `b` read from `a`.
    Rf,
    /// `a` is the initial value (a read of nil), `b` a write.
    Init,
    /// `a` was read by `via`, which precedes `b` in its process's order.
    ReadThenWrite,
}

/// An edge of a view, with the original nodes that justify it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LEdge {
    pub from: u32,
    pub to: u32,
    pub a: u32,
    pub via: u32,
    pub b: u32,
    pub kind: EKind,
}

/// Kahn's algorithm then, if some nodes remain, the shortest cycle through
/// one of them (edge indices in order).
pub(crate) fn find_cycle(n: usize, edges: &[LEdge]) -> Option<Vec<usize>> {
    let mut indeg = vec![0u32; n];
    let mut start = vec![0u32; n + 1];
    for e in edges {
        indeg[e.to as usize] += 1;
        start[e.from as usize + 1] += 1;
    }
    for i in 1..=n {
        start[i] += start[i - 1];
    }
    let mut adj = vec![0u32; edges.len()];
    let mut fill = start.clone();
    for (i, e) in edges.iter().enumerate() {
        adj[fill[e.from as usize] as usize] = i as u32;
        fill[e.from as usize] += 1;
    }
    let mut queue: Vec<u32> = (0..n as u32).filter(|&v| indeg[v as usize] == 0).collect();
    let mut done = 0;
    while let Some(v) = queue.pop() {
        done += 1;
        for &ei in &adj[start[v as usize] as usize..start[v as usize + 1] as usize] {
            let t = edges[ei as usize].to as usize;
            indeg[t] -= 1;
            if indeg[t] == 0 {
                queue.push(t as u32);
            }
        }
    }
    if done == n {
        return None;
    }
    // Walk backwards over remaining nodes until one repeats: it is on a cycle.
    let remaining: Vec<bool> = indeg.iter().map(|&d| d > 0).collect();
    let mut preds: Vec<u32> = vec![NONE; n];
    for (i, e) in edges.iter().enumerate() {
        if remaining[e.from as usize] && remaining[e.to as usize] && preds[e.to as usize] == NONE {
            preds[e.to as usize] = i as u32;
        }
    }
    let mut seen = vec![false; n];
    let mut v = remaining.iter().position(|&r| r)?;
    while !seen[v] {
        seen[v] = true;
        v = edges[preds[v] as usize].from as usize;
    }
    // Shortest cycle through v (BFS over remaining nodes).
    let mut via: Vec<u32> = vec![NONE; n];
    let mut q = VecDeque::new();
    q.push_back(v as u32);
    let mut closing = None;
    'bfs: while let Some(u) = q.pop_front() {
        for &ei in &adj[start[u as usize] as usize..start[u as usize + 1] as usize] {
            let t = edges[ei as usize].to as usize;
            if !remaining[t] {
                continue;
            }
            if t == v {
                closing = Some(ei);
                break 'bfs;
            }
            if via[t] == NONE {
                via[t] = ei;
                q.push_back(t as u32);
            }
        }
    }
    let mut path = vec![closing? as usize];
    let mut u = edges[closing? as usize].from as usize;
    while u != v {
        let ei = via[u] as usize;
        path.push(ei);
        u = edges[ei].from as usize;
    }
    path.reverse();
    Some(path)
}

/// Results of the graph checks on one key: a witness per violated model.
#[derive(Default)]
pub(crate) struct KeyViolations {
    pub found: Vec<(Model, Witness)>,
}

impl KeyViolations {
    fn has(&self, m: Model) -> bool {
        self.found.iter().any(|(x, _)| *x == m)
    }
}

struct Ctx<'g, 'a> {
    g: &'g Graph<'a>,
    nw: usize,
    /// Base edges of the PRAM view (init -> writes, each process's writes in
    /// order) and the causal extras, as CSR over contracted ids.
    base_start: Vec<u32>,
    base_adj: Vec<u32>,
    base_indeg: Vec<u32>,
    causal_start: Vec<u32>,
    causal_adj: Vec<u32>,
    causal_indeg: Vec<u32>,
}

fn csr(n: usize, edges: &[(u32, u32)]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; n + 1];
    let mut indeg = vec![0u32; n];
    for &(a, b) in edges {
        start[a as usize + 1] += 1;
        indeg[b as usize] += 1;
    }
    for i in 1..=n {
        start[i] += start[i - 1];
    }
    let mut adj = vec![0u32; edges.len()];
    let mut fill = start.clone();
    for &(a, b) in edges {
        adj[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
    }
    (start, adj, indeg)
}

impl<'g, 'a> Ctx<'g, 'a> {
    /// The contracted id of a node in the view of `q`.
    fn rep(&self, n: u32, q: u32) -> u32 {
        let g = self.g;
        match g.kind[n as usize] {
            NKind::W => g.wrank[n as usize],
            NKind::R if g.proc_[n as usize] == q => {
                let w = g.rf[n as usize];
                if w == INIT {
                    self.nw as u32
                } else {
                    g.wrank[w as usize]
                }
            }
            NKind::R => NONE,
        }
    }

    fn base_edges(&self, causal: bool, out: &mut Vec<LEdge>) {
        let g = self.g;
        let init = self.nw as u32;
        for (r, &w) in g.wnodes.iter().enumerate() {
            out.push(LEdge {
                from: init,
                to: r as u32,
                a: INIT,
                via: NONE,
                b: w,
                kind: EKind::Init,
            });
            let nx = g.next_w[w as usize];
            if nx != NONE {
                out.push(LEdge {
                    from: r as u32,
                    to: g.wrank[nx as usize],
                    a: w,
                    via: NONE,
                    b: nx,
                    kind: EKind::Po,
                });
            }
        }
        if causal {
            for n in 0..g.kind.len() {
                if g.kind[n] == NKind::R && g.rf[n] != INIT && g.next_w[n] != NONE {
                    let w = g.rf[n];
                    let nx = g.next_w[n];
                    out.push(LEdge {
                        from: g.wrank[w as usize],
                        to: g.wrank[nx as usize],
                        a: w,
                        via: n as u32,
                        b: nx,
                        kind: EKind::ReadThenWrite,
                    });
                }
            }
        }
    }

    /// Edges of `q`'s program order in its view. `ryw` keeps only the pairs
    /// that start at a write or end at a write.
    fn q_edges(&self, q: u32, ryw: bool, out: &mut Vec<LEdge>) {
        let g = self.g;
        let nodes = &g.pnodes[q as usize];
        let mut push = |a: u32, b: u32| {
            let (ra, rb) = (self.rep(a, q), self.rep(b, q));
            // Inside one block only a read followed by its own write is a
            // contradiction (a one-node cycle); the rest is the block's order.
            if ra == rb && g.kind[b as usize] == NKind::R {
                return;
            }
            out.push(LEdge {
                from: ra,
                to: rb,
                a,
                via: NONE,
                b,
                kind: EKind::Po,
            });
        };
        for (i, &a) in nodes.iter().enumerate() {
            if !ryw {
                if let Some(&b) = nodes.get(i + 1) {
                    push(a, b);
                }
            } else if g.kind[a as usize] == NKind::R {
                if g.next_w[a as usize] != NONE {
                    push(a, g.next_w[a as usize]);
                }
            } else {
                // Without read-to-read edges nothing chains through the
                // reads: a write precedes each later read up to, and
                // including, the next write.
                for &b in &nodes[i + 1..] {
                    push(a, b);
                    if g.kind[b as usize] == NKind::W {
                        break;
                    }
                }
            }
        }
    }

    /// Fast acyclicity test of the PRAM (or causal) view of `q`.
    fn view_ok(&self, q: u32, causal: bool, qe: &mut Vec<LEdge>, scratch: &mut Scratch) -> bool {
        qe.clear();
        self.q_edges(q, false, qe);
        let (start, adj, indeg0) = if causal {
            (&self.causal_start, &self.causal_adj, &self.causal_indeg)
        } else {
            (&self.base_start, &self.base_adj, &self.base_indeg)
        };
        let n = self.nw + 1;
        let indeg = &mut scratch.indeg;
        indeg.clear();
        indeg.extend_from_slice(indeg0);
        // q's edges as linked lists
        let head = &mut scratch.head;
        if head.len() < n {
            head.resize(n, NONE);
        }
        let next = &mut scratch.next;
        next.clear();
        for (i, e) in qe.iter().enumerate() {
            indeg[e.to as usize] += 1;
            next.push(head[e.from as usize]);
            head[e.from as usize] = i as u32;
        }
        let stack = &mut scratch.stack;
        stack.clear();
        stack.extend((0..n as u32).filter(|&v| indeg[v as usize] == 0));
        let mut done = 0;
        while let Some(v) = stack.pop() {
            done += 1;
            for &t in &adj[start[v as usize] as usize..start[v as usize + 1] as usize] {
                indeg[t as usize] -= 1;
                if indeg[t as usize] == 0 {
                    stack.push(t);
                }
            }
            let mut e = head[v as usize];
            while e != NONE {
                let t = qe[e as usize].to as usize;
                indeg[t] -= 1;
                if indeg[t] == 0 {
                    stack.push(t as u32);
                }
                e = next[e as usize];
            }
        }
        for e in qe.iter() {
            head[e.from as usize] = NONE;
        }
        done == n
    }
}

#[derive(Default)]
struct Scratch {
    indeg: Vec<u32>,
    head: Vec<u32>,
    next: Vec<u32>,
    stack: Vec<u32>,
}

/// Runs every graph check on one key.
pub(crate) fn check_key(g: &Graph<'_>) -> KeyViolations {
    let mut out = KeyViolations::default();
    // CyclicCO: po ∪ rf must be acyclic (causality is a partial order).
    {
        let mut edges = Vec::new();
        for p in &g.pnodes {
            for w in p.windows(2) {
                edges.push(LEdge {
                    from: w[0],
                    to: w[1],
                    a: w[0],
                    via: NONE,
                    b: w[1],
                    kind: EKind::Po,
                });
            }
        }
        for n in 0..g.kind.len() {
            if g.kind[n] == NKind::R && g.rf[n] != INIT {
                edges.push(LEdge {
                    from: g.rf[n],
                    to: n as u32,
                    a: g.rf[n],
                    via: NONE,
                    b: n as u32,
                    kind: EKind::Rf,
                });
            }
        }
        if let Some(cycle) = find_cycle(g.kind.len(), &edges) {
            let w = cycle_witness(
                g,
                None,
                &edges,
                &cycle,
                "causality (program order plus reads-from) is cyclic, so no causal order exists",
            );
            out.found.push((Model::Causal, w));
        }
    }
    let nw = g.wnodes.len();
    let mut ctx = Ctx {
        g,
        nw,
        base_start: Vec::new(),
        base_adj: Vec::new(),
        base_indeg: Vec::new(),
        causal_start: Vec::new(),
        causal_adj: Vec::new(),
        causal_indeg: Vec::new(),
    };
    let mut le = Vec::new();
    ctx.base_edges(false, &mut le);
    let pairs: Vec<(u32, u32)> = le.iter().map(|e| (e.from, e.to)).collect();
    (ctx.base_start, ctx.base_adj, ctx.base_indeg) = csr(nw + 1, &pairs);
    le.clear();
    ctx.base_edges(true, &mut le);
    let pairs: Vec<(u32, u32)> = le.iter().map(|e| (e.from, e.to)).collect();
    (ctx.causal_start, ctx.causal_adj, ctx.causal_indeg) = csr(nw + 1, &pairs);
    drop(pairs);

    // Per writing process: dense rank of each write among its writes is its
    // `pos`; for WFR, the first read position of each write per process.
    let mut first_read: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    for n in 0..g.kind.len() {
        if g.kind[n] == NKind::R && g.rf[n] != INIT {
            first_read.entry((g.rf[n], g.proc_[n])).or_insert(n as u32);
        }
    }
    let mut fr_by_w: Vec<Vec<(u32, u32)>> = vec![Vec::new(); nw];
    for (&(w, p), &r) in &first_read {
        fr_by_w[g.wrank[w as usize] as usize].push((p, r));
    }
    for v in fr_by_w.iter_mut() {
        v.sort_unstable();
    }

    let nprocs = g.pnodes.len();
    let mut visited = vec![0u32; nw + 1];
    // per writer process: (max pos of an observed write, that write, the read)
    let mut seen: Vec<(u32, u32, u32, u32)> = vec![(0, 0, 0, 0); nprocs];
    let mut scratch = Scratch::default();
    let mut qe = Vec::new();
    for q in 0..nprocs as u32 {
        let nodes = &g.pnodes[q as usize];
        if !nodes.iter().any(|&n| g.kind[n as usize] == NKind::R) {
            continue;
        }
        let stamp = q + 1;
        // monotonic reads: the blocks q's reads visit never repeat after
        // being left, and init comes first.
        if !out.has(Model::MonotonicReads) {
            let mut cur: Option<(u32, u32)> = None; // (block, first read in it)
            let mut nonnil_seen: Option<u32> = None;
            for &n in nodes {
                if g.kind[n as usize] != NKind::R {
                    continue;
                }
                let b = ctx.rep(n, q);
                if let Some((cb, cr)) = cur {
                    if cb == b {
                        continue;
                    }
                    let _ = cr;
                }
                if b == nw as u32 {
                    if let Some(r0) = nonnil_seen {
                        let w = Witness::new_nodes(
                            g,
                            &[r0, n],
                            format!(
                                "process {} read {} and later read the initial value {}: its reads went back in time",
                                g.key.proc_name(g.ops, q),
                                g.val_of(r0),
                                g.key.vals.show(crate::model::NIL),
                            ),
                        );
                        out.found.push((Model::MonotonicReads, w));
                        break;
                    }
                } else if visited[b as usize] == stamp {
                    // find the read that left block b and the first read of b
                    let first_b = nodes
                        .iter()
                        .copied()
                        .find(|&m| g.kind[m as usize] == NKind::R && ctx.rep(m, q) == b)
                        .unwrap_or(n);
                    let between = nodes
                        .iter()
                        .copied()
                        .filter(|&m| {
                            g.kind[m as usize] == NKind::R
                                && g.pos[m as usize] > g.pos[first_b as usize]
                                && g.pos[m as usize] < g.pos[n as usize]
                        })
                        .find(|&m| ctx.rep(m, q) != b)
                        .unwrap_or(n);
                    let w = Witness::new_nodes(
                        g,
                        &[first_b, between, n],
                        format!(
                            "process {} read {}, then {}, then {} again: no order of the writes lets its reads move only forward",
                            g.key.proc_name(g.ops, q),
                            g.val_of(first_b),
                            g.val_of(between),
                            g.val_of(n),
                        ),
                    );
                    out.found.push((Model::MonotonicReads, w));
                    break;
                }
                if b != nw as u32 && nonnil_seen.is_none() {
                    nonnil_seen = Some(n);
                }
                visited[b as usize] = stamp;
                cur = Some((b, n));
            }
        }
        // monotonic writes and writes-follow-reads
        if !out.has(Model::MonotonicWrites) || !out.has(Model::WritesFollowReads) {
            for &n in nodes {
                if g.kind[n as usize] != NKind::R || g.rf[n as usize] == INIT {
                    continue;
                }
                let w1 = g.rf[n as usize];
                let p1 = g.proc_[w1 as usize];
                let s = seen[p1 as usize];
                if !out.has(Model::MonotonicWrites) && s.3 == stamp && s.0 > g.pos[w1 as usize] {
                    let wit = Witness::new_nodes(
                        g,
                        &[w1, s.1, s.2, n],
                        format!(
                            "process {} wrote {} before {}, but process {} read {} and later read {}: it observed the writes out of their session order",
                            g.key.proc_name(g.ops, p1),
                            g.val_of(w1),
                            g.val_of(s.1),
                            g.key.proc_name(g.ops, q),
                            g.val_of(s.1),
                            g.val_of(w1),
                        ),
                    );
                    out.found.push((Model::MonotonicWrites, wit));
                }
                if !out.has(Model::WritesFollowReads) {
                    for &(p, r) in &fr_by_w[g.wrank[w1 as usize] as usize] {
                        let sp = seen[p as usize];
                        if sp.3 == stamp && sp.0 > g.pos[r as usize] {
                            let wit = Witness::new_nodes(
                                g,
                                &[w1, r, sp.1, sp.2, n],
                                format!(
                                    "process {} read {} before writing {}, but process {} read {} and later read {}: it observed the write before the read it follows",
                                    g.key.proc_name(g.ops, p),
                                    g.val_of(w1),
                                    g.val_of(sp.1),
                                    g.key.proc_name(g.ops, q),
                                    g.val_of(sp.1),
                                    g.val_of(w1),
                                ),
                            );
                            out.found.push((Model::WritesFollowReads, wit));
                            break;
                        }
                    }
                }
                let s = &mut seen[p1 as usize];
                if s.3 != stamp || g.pos[w1 as usize] > s.0 {
                    *s = (g.pos[w1 as usize], w1, n, stamp);
                }
            }
        }
        // read your writes: a small local graph
        if !out.has(Model::ReadYourWrites) && nodes.iter().any(|&n| g.kind[n as usize] == NKind::W)
        {
            let mut edges = Vec::new();
            ctx.q_edges(q, true, &mut edges);
            // local ids
            let mut ids: FxHashMap<u32, u32> = FxHashMap::default();
            let init = nw as u32;
            ids.insert(init, 0);
            for e in &edges {
                for v in [e.from, e.to] {
                    let l = ids.len() as u32;
                    ids.entry(v).or_insert(l);
                }
            }
            let mut local: Vec<LEdge> = edges
                .iter()
                .map(|e| LEdge {
                    from: ids[&e.from],
                    to: ids[&e.to],
                    ..*e
                })
                .collect();
            for (&v, &l) in &ids {
                if v != init {
                    local.push(LEdge {
                        from: 0,
                        to: l,
                        a: INIT,
                        via: NONE,
                        b: g.wnodes[v as usize],
                        kind: EKind::Init,
                    });
                }
            }
            if let Some(c) = find_cycle(ids.len(), &local) {
                let w = cycle_witness(
                    g,
                    Some(q),
                    &local,
                    &c,
                    "no order of the writes lets this process's reads follow its own earlier writes",
                );
                out.found.push((Model::ReadYourWrites, w));
            }
        }
        for (model, causal) in [(Model::Pram, false), (Model::Causal, true)] {
            if out.has(model) {
                continue;
            }
            if !ctx.view_ok(q, causal, &mut qe, &mut scratch) {
                let mut edges = Vec::new();
                ctx.base_edges(causal, &mut edges);
                ctx.q_edges(q, false, &mut edges);
                if let Some(c) = find_cycle(nw + 1, &edges) {
                    let what = if causal {
                        "no order of the writes and this process's reads respects causality (program order plus reads-from)"
                    } else {
                        "no order of the writes and this process's reads respects every process's program order"
                    };
                    let w = cycle_witness(g, Some(q), &edges, &c, what);
                    out.found.push((model, w));
                }
            }
        }
        if out.found.len() >= 6 {
            break;
        }
    }
    out
}

impl Graph<'_> {
    fn val_of(&self, n: u32) -> String {
        if n == INIT || n == NONE {
            return self.key.vals.show(crate::model::NIL);
        }
        let k = &self.key.ops[self.kop[n as usize] as usize];
        let v = match self.kind[n as usize] {
            NKind::R => read_val(k.act),
            NKind::W => write_val(k.act),
        };
        self.key.vals.show(v.unwrap_or(0))
    }

    pub(crate) fn kop_of(&self, n: u32) -> &KOp {
        &self.key.ops[self.kop[n as usize] as usize]
    }

    fn node_desc(&self, n: u32) -> String {
        if n == INIT {
            return format!(
                "the initial value {}",
                self.key.vals.show(crate::model::NIL)
            );
        }
        let k = self.kop_of(n);
        let o = &self.ops[k.op];
        let what = match (self.kind[n as usize], k.act) {
            (NKind::R, Act::Cas(..)) => format!("cas's read of {}", self.val_of(n)),
            (NKind::W, Act::Cas(..)) => format!("cas's write of {}", self.val_of(n)),
            (NKind::R, _) => format!("read of {}", self.val_of(n)),
            (NKind::W, _) => format!("write of {}", self.val_of(n)),
        };
        format!(
            "process {}'s {} (index {})",
            o.process, what, o.invoke_index
        )
    }
}

/// A witness from a cycle of a view: the ops on it and one sentence.
fn cycle_witness(
    g: &Graph<'_>,
    q: Option<u32>,
    edges: &[LEdge],
    cycle: &[usize],
    what: &str,
) -> Witness {
    let mut nodes: Vec<u32> = Vec::new();
    let mut steps: Vec<String> = Vec::new();
    for &ei in cycle {
        let e = edges[ei];
        for n in [e.a, e.via, e.b] {
            if n != NONE && n != INIT {
                nodes.push(n);
                // a read in a block brings its write
                if g.kind[n as usize] == NKind::R
                    && q == Some(g.proc_[n as usize])
                    && g.rf[n as usize] != INIT
                {
                    nodes.push(g.rf[n as usize]);
                }
            }
        }
        let s = match e.kind {
            EKind::Po => format!("{} precedes {}", g.node_desc(e.a), g.node_desc(e.b)),
            EKind::Rf => format!("{} read from {}", g.node_desc(e.b), g.node_desc(e.a)),
            EKind::Init => format!(
                "the initial value (read by process {}) precedes {}",
                q.map(|q| g.key.proc_name(g.ops, q)).unwrap_or_default(),
                g.node_desc(e.b)
            ),
            EKind::ReadThenWrite => format!(
                "{} was read by {}, which precedes {}",
                g.node_desc(e.a),
                g.node_desc(e.via),
                g.node_desc(e.b)
            ),
        };
        steps.push(s);
    }
    let mut kops: Vec<&KOp> = nodes.iter().map(|&n| g.kop_of(n)).collect();
    kops.sort_by_key(|k| k.op);
    kops.dedup_by_key(|k| k.op);
    let who = q
        .map(|q| format!("in the view of process {}, ", g.key.proc_name(g.ops, q)))
        .unwrap_or_default();
    Witness::new(
        g.key,
        g.ops,
        &kops,
        format!(
            "{who}{what}: {} (each read must sit between the write it read and the next write, so this order is a cycle)",
            steps.join("; ")
        ),
    )
}

impl Witness {
    fn new_nodes(g: &Graph<'_>, nodes: &[u32], explanation: String) -> Witness {
        let mut kops: Vec<&KOp> = nodes
            .iter()
            .filter(|&&n| n != NONE && n != INIT)
            .map(|&n| g.kop_of(n))
            .collect();
        kops.sort_by_key(|k| k.op);
        kops.dedup_by_key(|k| k.op);
        Witness::new(g.key, g.ops, &kops, explanation)
    }
}
