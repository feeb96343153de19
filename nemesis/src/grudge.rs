//! Grudge maths: which node drops whose traffic.
//!
//! A [`Grudge`] maps a node to the set of nodes whose traffic it drops
//! (Jepsen's vocabulary). `grudge["n1"] = {"n2"}` means packets *from* `n2`
//! *to* `n1` are dropped; `n1`'s traffic to `n2` is untouched unless `n2`
//! also holds a grudge against `n1`. [`Grudge::dropped_links`] turns a grudge
//! into directed `(from, to)` links for a [`crate::NetworkControl`] backend.
//!
//! All shape constructors are pure; the random ones take an explicit RNG so a
//! run is reproducible from its seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::NodeId;

/// Errors building a grudge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrudgeError {
    /// The shape needs more nodes than were given.
    #[error("partition shape `{shape}` needs at least {need} nodes, got {got}")]
    TooFewNodes {
        shape: &'static str,
        need: usize,
        got: usize,
    },
    /// A node named by the caller is not in the node list.
    #[error("node `{node}` is not one of the cluster's nodes {nodes:?}")]
    UnknownNode { node: NodeId, nodes: Vec<NodeId> },
    /// The same node appears twice in the node list or in two components.
    #[error("node `{0}` appears more than once")]
    DuplicateNode(NodeId),
    /// `primary` was asked for without a known leader.
    #[error("partition shape `primary` needs the current leader, and none is known")]
    NoLeader,
    /// Unknown shape name in [`PartitionShape::from_str`].
    #[error("unknown partition shape `{0}` (expected one of: halves, random-halves, one, majorities-ring, bridge, minority-third, one-way, primary)")]
    UnknownShape(String),
}

/// Node → set of nodes whose traffic it drops. Serializes as a JSON object
/// `{"n1":["n2","n3"], ...}` (the value of a nemesis `partition` op).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grudge(BTreeMap<NodeId, BTreeSet<NodeId>>);

impl Grudge {
    /// The empty grudge: nobody drops anything (a healed network).
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that `node` drops traffic coming from `from`.
    pub fn add(&mut self, node: impl Into<NodeId>, from: impl Into<NodeId>) {
        let (node, from) = (node.into(), from.into());
        if node != from {
            self.0.entry(node).or_default().insert(from);
        }
    }

    /// True if nobody drops anything.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeSet::is_empty)
    }

    /// The nodes whose traffic `node` drops (empty if none).
    pub fn dropped_by(&self, node: &str) -> BTreeSet<NodeId> {
        self.0.get(node).cloned().unwrap_or_default()
    }

    /// True if traffic from `from` to `to` is dropped.
    pub fn drops(&self, from: &str, to: &str) -> bool {
        self.0.get(to).is_some_and(|s| s.contains(from))
    }

    /// The nodes among `nodes` whose traffic reaches `node` (including itself).
    pub fn visible(&self, node: &str, nodes: &[NodeId]) -> BTreeSet<NodeId> {
        nodes
            .iter()
            .filter(|n| !self.drops(n, node))
            .cloned()
            .collect()
    }

    /// Every dropped directed link as `(from, to)`: traffic from `from` to
    /// `to` is dropped. Sorted, no duplicates.
    pub fn dropped_links(&self) -> Vec<(NodeId, NodeId)> {
        let mut v: Vec<_> = self
            .0
            .iter()
            .flat_map(|(to, froms)| froms.iter().map(move |f| (f.clone(), to.clone())))
            .collect();
        v.sort();
        v
    }

    /// Every node named in the grudge (as dropper or dropped).
    pub fn nodes(&self) -> BTreeSet<NodeId> {
        let mut s: BTreeSet<NodeId> = self.0.keys().cloned().collect();
        for v in self.0.values() {
            s.extend(v.iter().cloned());
        }
        s
    }

    /// The underlying map.
    pub fn as_map(&self) -> &BTreeMap<NodeId, BTreeSet<NodeId>> {
        &self.0
    }
}

impl fmt::Display for Grudge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

fn check_distinct(nodes: &[NodeId]) -> Result<(), GrudgeError> {
    let mut seen = BTreeSet::new();
    for n in nodes {
        if !seen.insert(n) {
            return Err(GrudgeError::DuplicateNode(n.clone()));
        }
    }
    Ok(())
}

fn need(shape: &'static str, nodes: &[NodeId], need: usize) -> Result<(), GrudgeError> {
    check_distinct(nodes)?;
    if nodes.len() < need {
        return Err(GrudgeError::TooFewNodes {
            shape,
            need,
            got: nodes.len(),
        });
    }
    Ok(())
}

/// Size of a strict majority of `n` nodes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Every component drops traffic from every node of every other component.
/// Nodes within a component see each other. Nodes not in any component are
/// unaffected.
pub fn complete(components: &[Vec<NodeId>]) -> Result<Grudge, GrudgeError> {
    let all: Vec<NodeId> = components.iter().flatten().cloned().collect();
    check_distinct(&all)?;
    let mut g = Grudge::new();
    for (i, comp) in components.iter().enumerate() {
        for (j, other) in components.iter().enumerate() {
            if i == j {
                continue;
            }
            for n in comp {
                for o in other {
                    g.add(n.clone(), o.clone());
                }
            }
        }
    }
    Ok(g)
}

/// Deterministic halves in the given order: the first `n/2` nodes (the
/// minority, or an equal half when `n` is even) against the rest (the
/// majority). Needs ≥ 2 nodes.
pub fn halves(nodes: &[NodeId]) -> Result<Grudge, GrudgeError> {
    need("halves", nodes, 2)?;
    let (minority, majority) = nodes.split_at(nodes.len() / 2);
    complete(&[minority.to_vec(), majority.to_vec()])
}

/// [`halves`] after a seeded shuffle.
pub fn random_halves<R: Rng + ?Sized>(
    nodes: &[NodeId],
    rng: &mut R,
) -> Result<Grudge, GrudgeError> {
    need("random-halves", nodes, 2)?;
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    halves(&v)
}

/// Isolate `node` from every other node (both directions).
pub fn isolate_one(nodes: &[NodeId], node: &str) -> Result<Grudge, GrudgeError> {
    need("one", nodes, 2)?;
    if !nodes.iter().any(|n| n == node) {
        return Err(GrudgeError::UnknownNode {
            node: node.to_string(),
            nodes: nodes.to_vec(),
        });
    }
    let rest: Vec<NodeId> = nodes.iter().filter(|n| *n != node).cloned().collect();
    complete(&[vec![node.to_string()], rest])
}

/// Isolate one node chosen by `rng`.
pub fn random_one<R: Rng + ?Sized>(nodes: &[NodeId], rng: &mut R) -> Result<Grudge, GrudgeError> {
    need("one", nodes, 2)?;
    let i = rng.random_range(0..nodes.len());
    isolate_one(nodes, &nodes[i])
}

/// Jepsen's "majorities ring" (`majorities-ring-perfect`): shuffle the nodes
/// onto a ring; each node sees the window of `majority(n)` consecutive ring
/// nodes centred on itself and drops everyone else. Every node sees a
/// majority, and no two nodes see the same majority. Needs ≥ 3 nodes.
pub fn majorities_ring<R: Rng + ?Sized>(
    nodes: &[NodeId],
    rng: &mut R,
) -> Result<Grudge, GrudgeError> {
    need("majorities-ring", nodes, 3)?;
    let mut ring = nodes.to_vec();
    ring.shuffle(rng);
    let n = ring.len();
    let m = majority(n);
    let mut g = Grudge::new();
    for start in 0..n {
        let window: BTreeSet<&NodeId> = (0..m).map(|k| &ring[(start + k) % n]).collect();
        let me = &ring[(start + m / 2) % n];
        for other in &ring {
            if !window.contains(other) {
                g.add(me.clone(), other.clone());
            }
        }
    }
    Ok(g)
}

/// Two halves joined by a single bridge node that sees both sides (Jepsen's
/// `bridge`): after a shuffle, the first `n/2` nodes and the last
/// `n - n/2 - 1` nodes cannot talk to each other; the node between them talks
/// to everyone. Needs ≥ 3 nodes.
pub fn bridge<R: Rng + ?Sized>(nodes: &[NodeId], rng: &mut R) -> Result<Grudge, GrudgeError> {
    need("bridge", nodes, 3)?;
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    let (bottom, top) = v.split_at(v.len() / 2);
    let top = &top[1..];
    complete(&[bottom.to_vec(), top.to_vec()])
}

/// The bridge node of a grudge built by [`bridge`]: the node that drops
/// nothing and is dropped by nobody. Helper for reports and tests.
pub fn bridge_node(g: &Grudge, nodes: &[NodeId]) -> Option<NodeId> {
    nodes
        .iter()
        .find(|n| g.dropped_by(n).is_empty() && !nodes.iter().any(|o| g.drops(n, o)))
        .cloned()
}

/// Size of the minority cut off by [`minority_third`]: the largest integer
/// strictly less than `n/3`, but at least 1 (so 3 → 1, 4 → 1, 5 → 1,
/// 7 → 2, 10 → 3).
pub fn minority_third_size(n: usize) -> usize {
    (n.saturating_sub(1) / 3).max(1)
}

/// Cut off a random minority of [`minority_third_size`] nodes (fewer than a
/// third, useful for BFT systems) from the rest. Needs ≥ 3 nodes.
pub fn minority_third<R: Rng + ?Sized>(
    nodes: &[NodeId],
    rng: &mut R,
) -> Result<Grudge, GrudgeError> {
    need("minority-third", nodes, 3)?;
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    let (small, rest) = v.split_at(minority_third_size(v.len()));
    complete(&[small.to_vec(), rest.to_vec()])
}

/// A one-way partition: `a`'s traffic to `b` is dropped; `b`'s traffic to
/// `a` passes.
pub fn one_way(a: &str, b: &str) -> Grudge {
    let mut g = Grudge::new();
    g.add(b, a);
    g
}

/// One-way partition between two distinct nodes chosen by `rng`.
pub fn random_one_way<R: Rng + ?Sized>(
    nodes: &[NodeId],
    rng: &mut R,
) -> Result<Grudge, GrudgeError> {
    need("one-way", nodes, 2)?;
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    Ok(one_way(&v[0], &v[1]))
}

/// Isolate the current leader/primary (the harness finds it, e.g. through
/// a node's `/status`).
pub fn primary(nodes: &[NodeId], leader: &str) -> Result<Grudge, GrudgeError> {
    isolate_one(nodes, leader)
}

/// The partition shapes by name, as `--partition halves,one,...` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionShape {
    /// Deterministic halves in node order (minority first).
    Halves,
    RandomHalves,
    /// Isolate one random node.
    One,
    MajoritiesRing,
    Bridge,
    MinorityThird,
    /// One-way partition between two random nodes.
    OneWay,
    /// Isolate the current leader.
    Primary,
}

impl PartitionShape {
    /// All shapes, in a stable order.
    pub const ALL: [PartitionShape; 8] = [
        PartitionShape::Halves,
        PartitionShape::RandomHalves,
        PartitionShape::One,
        PartitionShape::MajoritiesRing,
        PartitionShape::Bridge,
        PartitionShape::MinorityThird,
        PartitionShape::OneWay,
        PartitionShape::Primary,
    ];

    /// The CLI name (`random-halves`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PartitionShape::Halves => "halves",
            PartitionShape::RandomHalves => "random-halves",
            PartitionShape::One => "one",
            PartitionShape::MajoritiesRing => "majorities-ring",
            PartitionShape::Bridge => "bridge",
            PartitionShape::MinorityThird => "minority-third",
            PartitionShape::OneWay => "one-way",
            PartitionShape::Primary => "primary",
        }
    }

    /// Smallest cluster the shape is defined for.
    pub fn min_nodes(self) -> usize {
        match self {
            PartitionShape::MajoritiesRing
            | PartitionShape::Bridge
            | PartitionShape::MinorityThird => 3,
            _ => 2,
        }
    }

    /// Build the grudge. `leader` is needed only by [`PartitionShape::Primary`].
    pub fn build<R: Rng + ?Sized>(
        self,
        nodes: &[NodeId],
        leader: Option<&str>,
        rng: &mut R,
    ) -> Result<Grudge, GrudgeError> {
        match self {
            PartitionShape::Halves => halves(nodes),
            PartitionShape::RandomHalves => random_halves(nodes, rng),
            PartitionShape::One => random_one(nodes, rng),
            PartitionShape::MajoritiesRing => majorities_ring(nodes, rng),
            PartitionShape::Bridge => bridge(nodes, rng),
            PartitionShape::MinorityThird => minority_third(nodes, rng),
            PartitionShape::OneWay => random_one_way(nodes, rng),
            PartitionShape::Primary => primary(nodes, leader.ok_or(GrudgeError::NoLeader)?),
        }
    }
}

impl fmt::Display for PartitionShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PartitionShape {
    type Err = GrudgeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartitionShape::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| GrudgeError::UnknownShape(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<NodeId> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    /// Symmetric split into exactly these components (as sets), and nothing else.
    fn assert_components(g: &Grudge, all: &[NodeId], comps: &[BTreeSet<NodeId>]) {
        for a in all {
            for b in all {
                let ca = comps.iter().position(|c| c.contains(a));
                let cb = comps.iter().position(|c| c.contains(b));
                let expect = a != b && ca.is_some() && cb.is_some() && ca != cb;
                assert_eq!(g.drops(a, b), expect, "link {a}->{b} in {g}");
            }
        }
    }

    /// Connected components of the "sees each other both ways" relation.
    fn sides(g: &Grudge, all: &[NodeId]) -> Vec<BTreeSet<NodeId>> {
        let mut out: Vec<BTreeSet<NodeId>> = vec![];
        for n in all {
            let vis: BTreeSet<NodeId> = g.visible(n, all);
            if !out.contains(&vis) {
                out.push(vis);
            }
        }
        out
    }

    #[test]
    fn complete_grudge_is_symmetric_between_components() {
        let all = nodes(5);
        let a: Vec<NodeId> = all[..2].to_vec();
        let b: Vec<NodeId> = all[2..4].to_vec();
        let c: Vec<NodeId> = all[4..].to_vec();
        let g = complete(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let comps: Vec<BTreeSet<NodeId>> = [a, b, c]
            .into_iter()
            .map(|v| v.into_iter().collect())
            .collect();
        assert_components(&g, &all, &comps);
        assert!(complete(&[vec!["x".into()], vec!["x".into()]]).is_err());
    }

    #[test]
    fn halves_are_minority_and_majority() {
        for n in [3, 5, 7] {
            let all = nodes(n);
            let g = halves(&all).unwrap();
            let s = sides(&g, &all);
            assert_eq!(s.len(), 2, "n={n}: {g}");
            let mut sizes: Vec<usize> = s.iter().map(BTreeSet::len).collect();
            sizes.sort();
            assert_eq!(sizes, vec![n / 2, n - n / 2]);
            assert!(sizes[1] >= majority(n));
            assert_components(&g, &all, &s);
            // deterministic
            assert_eq!(g, halves(&all).unwrap());
            // minority is the first n/2 in order
            assert!(s.iter().any(|c| c.len() == n / 2 && c.contains("n1")));
        }
        assert!(matches!(
            halves(&nodes(1)),
            Err(GrudgeError::TooFewNodes { .. })
        ));
    }

    #[test]
    fn random_halves_are_seeded() {
        for n in [3, 5, 7] {
            let all = nodes(n);
            let g1 = random_halves(&all, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
            let g2 = random_halves(&all, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
            assert_eq!(g1, g2);
            let s = sides(&g1, &all);
            assert_eq!(s.len(), 2);
            assert!(s.iter().any(|c| c.len() >= majority(n)));
            assert_components(&g1, &all, &s);
        }
        // Different seeds produce different splits at least sometimes.
        let all = nodes(7);
        let distinct: BTreeSet<String> = (0..20)
            .map(|s| {
                random_halves(&all, &mut ChaCha8Rng::seed_from_u64(s))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(distinct.len() > 1);
    }

    #[test]
    fn isolate_one_and_primary() {
        for n in [3, 5, 7] {
            let all = nodes(n);
            let g = isolate_one(&all, "n2").unwrap();
            let rest: BTreeSet<NodeId> = all.iter().filter(|x| *x != "n2").cloned().collect();
            assert_components(&g, &all, &[BTreeSet::from(["n2".to_string()]), rest]);
            assert_eq!(g.visible("n2", &all), BTreeSet::from(["n2".to_string()]));
            assert_eq!(primary(&all, "n2").unwrap(), g);
            let r = random_one(&all, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
            let isolated: Vec<_> = all
                .iter()
                .filter(|x| r.visible(x, &all).len() == 1)
                .collect();
            assert_eq!(isolated.len(), 1);
        }
        assert!(matches!(
            isolate_one(&nodes(3), "n9"),
            Err(GrudgeError::UnknownNode { .. })
        ));
    }

    #[test]
    fn majorities_ring_properties() {
        for n in [3, 5, 7] {
            let all = nodes(n);
            for seed in 0..10 {
                let g = majorities_ring(&all, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
                let views: Vec<BTreeSet<NodeId>> = all.iter().map(|x| g.visible(x, &all)).collect();
                for (x, v) in all.iter().zip(&views) {
                    assert_eq!(v.len(), majority(n), "n={n} {x} sees {v:?}");
                    assert!(v.contains(x));
                }
                for i in 0..n {
                    for j in (i + 1)..n {
                        assert_ne!(views[i], views[j], "n={n}: two nodes see the same majority");
                    }
                }
                assert_eq!(
                    g,
                    majorities_ring(&all, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
                );
            }
        }
        assert!(majorities_ring(&nodes(2), &mut ChaCha8Rng::seed_from_u64(0)).is_err());
    }

    #[test]
    fn bridge_properties() {
        for n in [3, 5, 7] {
            let all = nodes(n);
            for seed in 0..10 {
                let g = bridge(&all, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
                let b = bridge_node(&g, &all).expect("a bridge node");
                assert_eq!(g.visible(&b, &all).len(), n, "bridge sees everyone");
                for x in &all {
                    assert!(
                        !g.drops(&b, x) && !g.drops(x, &b),
                        "everyone sees the bridge"
                    );
                }
                let others: Vec<NodeId> = all.iter().filter(|x| **x != b).cloned().collect();
                let s = sides(&g, &others);
                assert_eq!(s.len(), 2, "n={n}: {g}");
                let mut sizes: Vec<usize> = s.iter().map(BTreeSet::len).collect();
                sizes.sort();
                assert_eq!(sizes, vec![(n - 1) / 2, n - 1 - (n - 1) / 2]);
                assert_components(&g, &others, &s);
                // With the bridge, each side plus the bridge; the larger is a majority.
                assert!(sizes[1] + 1 >= majority(n));
            }
        }
    }

    #[test]
    fn minority_third_properties() {
        assert_eq!([3, 4, 5, 7, 10].map(minority_third_size), [1, 1, 1, 2, 3]);
        for n in [3, 5, 7] {
            let all = nodes(n);
            let g = minority_third(&all, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
            let s = sides(&g, &all);
            assert_eq!(s.len(), 2);
            let small = s.iter().map(BTreeSet::len).min().unwrap();
            assert_eq!(small, minority_third_size(n));
            assert!(small * 3 <= n);
            assert_components(&g, &all, &s);
        }
    }

    #[test]
    fn one_way_drops_one_direction() {
        let g = one_way("n1", "n2");
        assert!(g.drops("n1", "n2"));
        assert!(!g.drops("n2", "n1"));
        assert_eq!(
            g.dropped_links(),
            vec![("n1".to_string(), "n2".to_string())]
        );
        assert_eq!(g.to_string(), r#"{"n2":["n1"]}"#);
        for n in [3, 5, 7] {
            let all = nodes(n);
            let r = random_one_way(&all, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
            assert_eq!(r.dropped_links().len(), 1);
        }
    }

    #[test]
    fn shapes_parse_and_build() {
        let all = nodes(5);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for shape in PartitionShape::ALL {
            assert_eq!(shape.name().parse::<PartitionShape>().unwrap(), shape);
            let g = shape.build(&all, Some("n3"), &mut rng).unwrap();
            assert!(!g.is_empty(), "{shape} produced an empty grudge");
            assert!(g.nodes().iter().all(|x| all.contains(x)));
        }
        assert!(matches!(
            PartitionShape::Primary.build(&all, None, &mut rng),
            Err(GrudgeError::NoLeader)
        ));
        assert!("sideways".parse::<PartitionShape>().is_err());
        let json = serde_json::to_string(&PartitionShape::MajoritiesRing).unwrap();
        assert_eq!(json, "\"majorities-ring\"");
    }
}
