//! The dependency graph over transactions: a compact CSR graph whose edges
//! carry a bit set of kinds (ww, wr, rw, process, realtime), an iterative
//! Tarjan for strongly connected components, and breadth-first searches
//! for the shortest cycle of a given shape inside one component.
//!
//! Written by hand rather than with petgraph: the graph has one edge list
//! per node with a kind mask per edge, searches run on subgraphs chosen by
//! mask without copying, and the visited sets are reused stamp arrays, so a
//! search allocates nothing per start edge. That is what keeps a 100k-txn
//! history in a few hundred milliseconds and its memory linear.

use std::time::Instant;

pub const WW: u8 = 1;
pub const WR: u8 = 2;
pub const RW: u8 = 4;
pub const PROCESS: u8 = 8;
pub const REALTIME: u8 = 16;
pub const DATA: u8 = WW | WR | RW;

/// The name of one kind bit.
pub fn kind_name(k: u8) -> &'static str {
    match k {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "?",
    }
}

/// Edges collected before the graph is built: (from << 32 | to, kind).
/// Lists appended to one another are kept as they are (no copy): the graph
/// reads them all.
#[derive(Debug, Default)]
pub struct EdgeList {
    edges: Vec<(u64, u8)>,
    /// Lists appended earlier, before `edges`.
    more: Vec<Vec<(u64, u8)>>,
}

impl EdgeList {
    pub fn add(&mut self, from: u32, to: u32, kind: u8) {
        if from != to {
            self.edges.push(((from as u64) << 32 | to as u64, kind));
        }
    }
    pub fn len(&self) -> usize {
        self.more.iter().map(Vec::len).sum::<usize>() + self.edges.len()
    }
    /// Adds all of `other`'s edges.
    pub fn append(&mut self, other: EdgeList) {
        let edges = std::mem::take(&mut self.edges);
        self.more.extend(
            std::iter::once(edges)
                .chain(other.more)
                .chain(std::iter::once(other.edges))
                .filter(|e| !e.is_empty()),
        );
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every edge, in the order added.
    fn iter(&self) -> impl Iterator<Item = &(u64, u8)> + '_ {
        self.more.iter().flatten().chain(&self.edges)
    }
}

/// A directed graph in compressed sparse rows; parallel edges merged into
/// one with the union of their kinds.
#[derive(Debug)]
pub struct Graph {
    start: Vec<u32>,
    to: Vec<u32>,
    kinds: Vec<u8>,
}

impl Graph {
    pub fn build(n: usize, list: EdgeList) -> Graph {
        // Counting sort by source, then each node's few edges by target.
        let mut count = vec![0u32; n + 1];
        for &(key, _) in list.iter() {
            count[(key >> 32) as usize + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut slots: Vec<(u32, u8)> = vec![(0, 0); list.len()];
        for &(key, k) in list.iter() {
            let from = (key >> 32) as usize;
            slots[fill[from] as usize] = (key as u32, k);
            fill[from] += 1;
        }
        drop(list);
        let mut start = vec![0u32; n + 1];
        let mut to = Vec::with_capacity(slots.len());
        let mut kinds: Vec<u8> = Vec::with_capacity(slots.len());
        for v in 0..n {
            let row = &mut slots[count[v] as usize..count[v + 1] as usize];
            row.sort_unstable_by_key(|e| e.0);
            let mut last = u32::MAX;
            for &(w, k) in row.iter() {
                if w == last {
                    *kinds.last_mut().expect("an edge") |= k;
                } else {
                    last = w;
                    to.push(w);
                    kinds.push(k);
                }
            }
            start[v + 1] = to.len() as u32;
        }
        Graph { start, to, kinds }
    }

    pub fn nodes(&self) -> usize {
        self.start.len() - 1
    }

    pub fn edges(&self) -> usize {
        self.to.len()
    }

    /// The edges out of `v`: (target, kinds).
    pub fn out(&self, v: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let (a, b) = (self.start[v as usize], self.start[v as usize + 1]);
        (a..b).map(move |i| (self.to[i as usize], self.kinds[i as usize]))
    }

    /// The kinds of the edge `a -> b` (0 when there is none).
    pub fn kinds(&self, a: u32, b: u32) -> u8 {
        let (s, e) = (
            self.start[a as usize] as usize,
            self.start[a as usize + 1] as usize,
        );
        match self.to[s..e].binary_search(&b) {
            Ok(i) => self.kinds[s + i],
            Err(_) => 0,
        }
    }
}

/// Strongly connected components of the subgraph of edges with a kind in
/// `mask`, over the nodes `keep` accepts. Returns each node's component
/// number (`u32::MAX` for nodes left out) and the number of components.
/// Components are numbered in reverse topological order: when component X
/// reaches component Y != X, Y's number is smaller.
pub fn tarjan(g: &Graph, mask: u8, keep: &dyn Fn(u32) -> bool) -> (Vec<u32>, u32) {
    const NONE: u32 = u32::MAX;
    let n = g.nodes();
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut comp = vec![NONE; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    // (node, position in its edge list)
    let mut call: Vec<(u32, u32)> = Vec::new();
    let mut next = 0u32;
    let mut comps = 0u32;
    for root in 0..n as u32 {
        if index[root as usize] != NONE || !keep(root) {
            continue;
        }
        call.push((root, g.start[root as usize]));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            let end = g.start[v as usize + 1];
            let mut descended = false;
            while *pos < end {
                let i = *pos as usize;
                *pos += 1;
                if g.kinds[i] & mask == 0 {
                    continue;
                }
                let w = g.to[i];
                if !keep(w) {
                    continue;
                }
                if index[w as usize] == NONE {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, g.start[w as usize]));
                    descended = true;
                    break;
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            }
            if descended {
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent as usize] = low[parent as usize].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                loop {
                    let w = stack.pop().expect("tarjan stack");
                    on_stack[w as usize] = false;
                    comp[w as usize] = comps;
                    if w == v {
                        break;
                    }
                }
                comps += 1;
            }
        }
    }
    (comp, comps)
}

/// One step of a cycle: the edge from `from` to the next node, and the kind
/// that step uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub from: u32,
    pub kind: u8,
}

/// Why a search stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOf {
    Steps,
    Time,
}

/// A shared allowance of search steps (edges looked at) and time.
#[derive(Debug)]
pub struct Allowance {
    pub steps_left: u64,
    pub deadline: Option<Instant>,
    pub spent: u64,
    pub out: Option<OutOf>,
}

impl Allowance {
    /// Spends `n` steps; false once the allowance is gone.
    fn spend(&mut self, n: u64) -> bool {
        if self.out.is_some() {
            return false;
        }
        let before = self.spent;
        self.spent += n;
        if self.steps_left < n {
            self.steps_left = 0;
            self.out = Some(OutOf::Steps);
            return false;
        }
        self.steps_left -= n;
        // The clock is read on the first step and every 4096 after.
        if before == 0 || before >> 12 != self.spent >> 12 {
            if let Some(d) = self.deadline {
                if Instant::now() >= d {
                    self.out = Some(OutOf::Time);
                    return false;
                }
            }
        }
        true
    }
}

/// Reusable state for breadth-first searches over (node, state) pairs, with
/// up to four states per node.
pub struct Searcher {
    stamp: Vec<u32>,
    parent: Vec<(u32, u8)>,
    generation: u32,
    queue: std::collections::VecDeque<u32>,
}

/// Preference when one edge has several allowed kinds: data before session
/// order, ww before wr, rw last (searches that need rw ask for it).
const PREFER: [u8; 5] = [WW, WR, PROCESS, REALTIME, RW];

impl Searcher {
    pub fn new(n: usize) -> Searcher {
        Searcher {
            stamp: vec![0; n * 4],
            parent: vec![(0, 0); n * 4],
            generation: 0,
            queue: Default::default(),
        }
    }

    fn fresh(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.queue.clear();
    }

    /// The shortest cycle that starts with the edge `a -> b` of kind
    /// `first`, then runs inside component `c` of `comp`, using edges with a
    /// kind in `mask`, and obeys `rule`: states are small numbers (< 4);
    /// `rule(state, kind)` gives the next state or `None` (step not
    /// allowed); the cycle ends when it is back at `a` in a state `done`
    /// accepts.
    #[allow(clippy::too_many_arguments)]
    pub fn cycle(
        &mut self,
        g: &Graph,
        comp: &[u32],
        c: u32,
        (a, b, first): (u32, u32, u8),
        mask: u8,
        start_state: u8,
        rule: &dyn Fn(u8, u8) -> Option<u8>,
        done: &dyn Fn(u8) -> bool,
        allowance: &mut Allowance,
    ) -> Option<Vec<Step>> {
        self.fresh();
        let gen = self.generation;
        let slot = |v: u32, s: u8| v as usize * 4 + s as usize;
        let root = slot(b, start_state);
        self.stamp[root] = gen;
        self.parent[root] = (u32::MAX, first);
        self.queue.push_back(root as u32);
        let mut found: Option<usize> = None;
        'bfs: while let Some(cur) = self.queue.pop_front() {
            let v = cur / 4;
            let s = (cur % 4) as u8;
            if v == a && done(s) {
                found = Some(cur as usize);
                break;
            }
            let (lo, hi) = (g.start[v as usize], g.start[v as usize + 1]);
            if !allowance.spend(u64::from(hi - lo) + 1) {
                break;
            }
            for i in lo..hi {
                let ks = g.kinds[i as usize] & mask;
                if ks == 0 {
                    continue;
                }
                let w = g.to[i as usize];
                if comp[w as usize] != c {
                    continue;
                }
                for k in PREFER {
                    if ks & k == 0 {
                        continue;
                    }
                    let Some(ns) = rule(s, k) else { continue };
                    let sl = slot(w, ns);
                    if self.stamp[sl] == gen {
                        continue;
                    }
                    self.stamp[sl] = gen;
                    self.parent[sl] = (cur, k);
                    if w == a && done(ns) {
                        found = Some(sl);
                        break 'bfs;
                    }
                    self.queue.push_back(sl as u32);
                }
            }
        }
        let end = found?;
        // Walk back from `a` to `b`, then prepend the first edge.
        let mut rev: Vec<Step> = Vec::new();
        let mut cur = end;
        loop {
            let (p, k) = self.parent[cur];
            if p == u32::MAX {
                break;
            }
            rev.push(Step {
                from: p / 4,
                kind: k,
            });
            cur = p as usize;
        }
        rev.push(Step {
            from: a,
            kind: first,
        });
        rev.reverse();
        Some(rev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(u32, u32, u8)]) -> Graph {
        let mut l = EdgeList::default();
        for &(a, b, k) in edges {
            l.add(a, b, k);
        }
        Graph::build(n, l)
    }

    #[test]
    fn tarjan_finds_components_in_reverse_topological_order() {
        // 0 <-> 1 -> 2 <-> 3, 4 alone
        let g = graph(
            5,
            &[(0, 1, WW), (1, 0, WR), (1, 2, WW), (2, 3, RW), (3, 2, WW)],
        );
        let (comp, n) = tarjan(&g, DATA, &|_| true);
        assert_eq!(n, 3);
        assert_eq!(comp[0], comp[1]);
        assert_eq!(comp[2], comp[3]);
        assert_ne!(comp[0], comp[2]);
        assert!(comp[2] < comp[0], "{comp:?}");
        // Without rw edges, 2 and 3 fall apart.
        let (comp, n) = tarjan(&g, WW | WR, &|_| true);
        assert_eq!(n, 4);
        assert_ne!(comp[2], comp[3]);
        assert_eq!(g.kinds(1, 0), WR);
        assert_eq!(g.kinds(0, 3), 0);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 200_000u32;
        let mut e: Vec<(u32, u32, u8)> = (0..n - 1).map(|i| (i, i + 1, WW)).collect();
        e.push((n - 1, 0, WR));
        let g = graph(n as usize, &e);
        let (comp, k) = tarjan(&g, DATA, &|_| true);
        assert_eq!(k, 1);
        assert!(comp.iter().all(|&c| c == 0));
    }

    #[test]
    fn the_search_finds_the_shortest_cycle_obeying_the_rule() {
        // 0 -rw-> 1 -ww-> 0, and 0 -rw-> 1 -rw-> 2 -ww-> 0
        let g = graph(3, &[(0, 1, RW), (1, 0, WW), (1, 2, RW), (2, 0, WW)]);
        let (comp, _) = tarjan(&g, DATA, &|_| true);
        let mut s = Searcher::new(3);
        let mut al = Allowance {
            steps_left: 1000,
            deadline: None,
            spent: 0,
            out: None,
        };
        let any = |_: u8, _: u8| Some(0u8);
        let c = s
            .cycle(
                &g,
                &comp,
                comp[0],
                (0, 1, RW),
                DATA,
                0,
                &any,
                &|_| true,
                &mut al,
            )
            .unwrap();
        assert_eq!(
            c,
            vec![Step { from: 0, kind: RW }, Step { from: 1, kind: WW }]
        );
        // Two rw edges required: state = rw count, capped at 2.
        let two = |s: u8, k: u8| Some(if k == RW { (s + 1).min(2) } else { s });
        let c = s
            .cycle(
                &g,
                &comp,
                comp[0],
                (0, 1, RW),
                DATA,
                1,
                &two,
                &|s| s == 2,
                &mut al,
            )
            .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.iter().filter(|s| s.kind == RW).count(), 2);
        // An allowance of nothing finds nothing and says so.
        let mut none = Allowance {
            steps_left: 0,
            deadline: None,
            spent: 0,
            out: None,
        };
        assert!(s
            .cycle(
                &g,
                &comp,
                comp[0],
                (0, 1, RW),
                DATA,
                0,
                &any,
                &|_| true,
                &mut none
            )
            .is_none());
        assert_eq!(none.out, Some(OutOf::Steps));
    }
}
