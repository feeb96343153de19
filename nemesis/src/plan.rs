//! The seeded fault plan (pure): which fault packages run ([`FaultKind`]),
//! how many nodes a fault hits ([`Targeting`]), and [`fault_plan`], every
//! step of a run's faults with every random choice already drawn from the
//! seed. The [`crate::interpreter`] applies the steps to a cluster.

use crate::grudge::{Grudge, PartitionShape};
use crate::proxy::LinkRule;
use crate::schedule::{standard_package, FaultPackage, Phase, ScheduleConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A fault package (`--nemesis` names; serde uses the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Network partitions through the proxy mesh (a grudge per fault).
    Partition,
    /// Delay, loss or a bandwidth limit on some links through the proxies.
    Packet,
    /// SIGKILL, later restarted on the same data dir.
    Kill,
    /// SIGSTOP, later SIGCONT.
    Pause,
    /// Wall-clock bumps and strobes through libfaketime.
    Clock,
    /// Composite: time jumps forward on every node, then the nodes that
    /// lead are cut off from the rest and their clocks step back, so the
    /// two sides of the cut disagree about the time in the direction that
    /// lets both believe they still hold a time-bound grant (a lease, a
    /// lock's TTL). Healed and reset at its end.
    #[serde(rename = "partition-clock")]
    PartitionClock,
    /// Composite: a burst of short partitions of random shapes, each cut
    /// for a fraction of a second to a second and a half, healed in
    /// between: elections and fail-overs back to back.
    Burst,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Partition,
        FaultKind::Packet,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::PartitionClock,
        FaultKind::Burst,
    ];
    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == s)
    }
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Packet => "packet",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
            FaultKind::PartitionClock => "partition-clock",
            FaultKind::Burst => "burst",
        }
    }
    /// The history `f` of the fault's end.
    pub fn undo_name(self) -> &'static str {
        match self {
            FaultKind::Partition => "heal",
            FaultKind::Packet => "heal-packet",
            FaultKind::Kill => "start",
            FaultKind::Pause => "resume",
            FaultKind::Clock => "reset-clock",
            FaultKind::PartitionClock | FaultKind::Burst => "heal",
        }
    }
    /// Whether the fault needs the network between the nodes (the proxy
    /// mesh or network namespaces).
    pub fn needs_mesh(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::Packet | FaultKind::PartitionClock | FaultKind::Burst
        )
    }
    /// Whether the fault moves wall clocks (libfaketime in every node).
    pub fn needs_clock(self) -> bool {
        matches!(self, FaultKind::Clock | FaultKind::PartitionClock)
    }
    /// A composite package: several mechanisms aimed at the same nodes in
    /// one fault window. While one is in effect, the plain packages whose
    /// mechanisms it uses wait (see [`fault_plan`]).
    pub fn is_composite(self) -> bool {
        matches!(self, FaultKind::PartitionClock | FaultKind::Burst)
    }
}

/// How many nodes a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Targeting {
    One,
    Minority,
    Majority,
    All,
    /// Every node that says it leads (Jepsen's `:primaries`), looked up
    /// when the fault starts; the planned single node when none does.
    Primaries,
}

impl Targeting {
    pub const ALL: [Targeting; 5] = [
        Targeting::One,
        Targeting::Minority,
        Targeting::Majority,
        Targeting::All,
        Targeting::Primaries,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Targeting::One => "one",
            Targeting::Minority => "minority",
            Targeting::Majority => "majority",
            Targeting::All => "all",
            Targeting::Primaries => "primaries",
        }
    }
    pub fn count(self, nodes: usize) -> usize {
        match self {
            Targeting::One | Targeting::Primaries => 1,
            Targeting::Minority => ((nodes - 1) / 2).max(1),
            Targeting::Majority => nodes / 2 + 1,
            Targeting::All => nodes,
        }
        .min(nodes)
    }
}

/// What one planned nemesis op does, with every random choice already made
/// (so the plan is a pure function of the seed).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Kill or pause `nodes` (indexes into the node list; for `primaries`,
    /// the fallback when no node says it leads).
    Process {
        targeting: Targeting,
        nodes: Vec<usize>,
    },
    /// End a kill or pause on those of `nodes` where it is still in effect.
    Undo {
        nodes: Vec<usize>,
    },
    /// Cut the network by `grudge`; for `primary` the grudge depends on
    /// which node leads at that moment, so it is `None` and `fallback` (a
    /// random node isolated) is used when no leader is known.
    Partition {
        shape: PartitionShape,
        grudge: Option<Grudge>,
        fallback: Grudge,
    },
    Heal,
    /// Packet faults on `links`.
    Packet {
        mode: &'static str,
        targeting: &'static str,
        links: Vec<(String, String, LinkRule)>,
    },
    HealPacket,
    /// Move each node's wall clock by its delta (ms). With `primaries`,
    /// `deltas` holds one entry, whose delta goes to every node that says
    /// it leads when the fault starts (its node is the fallback).
    Bump {
        deltas: BTreeMap<String, i64>,
        primaries: bool,
    },
    /// Flip `node`'s clock between +`delta_ms` and its offset every
    /// `period_ms` for `duration` (with `primaries`, the leader's clock
    /// instead, `node` being the fallback).
    Strobe {
        node: String,
        primaries: bool,
        delta_ms: i64,
        period_ms: u64,
        duration: Duration,
    },
    ResetClock,
    /// Composite (`partition-clock`): every node's wall clock moves by
    /// `delta_ms` (forward).
    SkewAll {
        delta_ms: i64,
    },
    /// Composite: the nodes that say they lead now (else `fallback`) are
    /// marked and cut off, with the first other nodes of `companions` up to
    /// a minority of the cluster, from the rest, both ways (the cut-off
    /// side keeps clients that reach the old leader through its peers).
    IsolatePrimaries {
        fallback: usize,
        companions: Vec<usize>,
    },
    /// Composite: the marked nodes' wall clocks move by `delta_ms` more.
    BumpMarked {
        delta_ms: i64,
    },
}

/// One step of the fault plan: at `at` after the run starts, `action`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFault {
    pub at: Duration,
    pub kind: FaultKind,
    pub phase: Phase,
    pub action: Action,
}

/// A random subset of `nodes` indexes of `count` elements, sorted.
fn pick(rng: &mut ChaCha8Rng, nodes: usize, count: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..nodes).collect();
    // Partial Fisher-Yates: the first `count` entries are the targets.
    for i in 0..count.min(nodes) {
        let j = rng.random_range(i..nodes);
        all.swap(i, j);
    }
    let mut out = all[..count.min(nodes)].to_vec();
    out.sort_unstable();
    out
}

/// Log-uniform in `lo..hi`.
fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo * (hi / lo).powf(rng.random_range(0.0..1.0))
}

fn start_action(
    kind: FaultKind,
    rng: &mut ChaCha8Rng,
    ids: &[String],
    shapes: &[PartitionShape],
    targets: &[Targeting],
    interval: Duration,
) -> Action {
    let targets = if targets.is_empty() {
        &Targeting::ALL[..]
    } else {
        targets
    };
    let n = ids.len();
    match kind {
        FaultKind::Kill | FaultKind::Pause => {
            let targeting = targets[rng.random_range(0..targets.len())];
            let nodes = pick(rng, n, targeting.count(n));
            Action::Process { targeting, nodes }
        }
        FaultKind::Partition => {
            let usable: Vec<PartitionShape> = shapes
                .iter()
                .copied()
                .filter(|s| s.min_nodes() <= n)
                .collect();
            let shape = if usable.is_empty() {
                PartitionShape::One
            } else {
                usable[rng.random_range(0..usable.len())]
            };
            let fallback = crate::grudge::random_one(ids, rng).unwrap_or_default();
            let grudge = if shape == PartitionShape::Primary {
                None
            } else {
                Some(
                    shape
                        .build(ids, None, rng)
                        .unwrap_or_else(|_| fallback.clone()),
                )
            };
            Action::Partition {
                shape,
                grudge,
                fallback,
            }
        }
        FaultKind::Packet => {
            let (mode, rule) = match rng.random_range(0..3) {
                0 => {
                    let ms = log_uniform(rng, 10.0, 500.0) as u64;
                    let jitter_ms = rng.random_range(0..=ms / 2);
                    ("delay", LinkRule::Delay { ms, jitter_ms })
                }
                1 => {
                    let p = (rng.random_range(0.05..0.5f64) * 100.0).round() / 100.0;
                    ("loss", LinkRule::Loss { p })
                }
                _ => {
                    let bytes_per_sec = log_uniform(rng, 2_000.0, 100_000.0) as u64;
                    ("slow", LinkRule::Slow { bytes_per_sec })
                }
            };
            let all: Vec<(usize, usize)> = (0..n)
                .flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b)))
                .collect();
            let (targeting, chosen): (&'static str, Vec<(usize, usize)>) =
                match rng.random_range(0..3) {
                    0 => {
                        let x = rng.random_range(0..n.max(1));
                        (
                            "one",
                            all.iter()
                                .copied()
                                .filter(|&(a, b)| a == x || b == x)
                                .collect(),
                        )
                    }
                    1 => ("all", all.clone()),
                    _ => {
                        let mut c: Vec<(usize, usize)> = all
                            .iter()
                            .copied()
                            .filter(|_| rng.random_bool(0.5))
                            .collect();
                        if c.is_empty() && !all.is_empty() {
                            c.push(all[rng.random_range(0..all.len())]);
                        }
                        ("random", c)
                    }
                };
            Action::Packet {
                mode,
                targeting,
                links: chosen
                    .into_iter()
                    .map(|(a, b)| (ids[a].clone(), ids[b].clone(), rule))
                    .collect(),
            }
        }
        FaultKind::Clock => {
            if rng.random_range(0..3) < 2 {
                // Bump: from milliseconds to minutes, either way.
                let targeting = targets[rng.random_range(0..targets.len())];
                let mut deltas = BTreeMap::new();
                for i in pick(rng, n, targeting.count(n)) {
                    let ms = log_uniform(rng, 10.0, 300_000.0) as i64;
                    let sign = if rng.random_bool(0.5) { 1 } else { -1 };
                    deltas.insert(ids[i].clone(), sign * ms);
                }
                Action::Bump {
                    deltas,
                    primaries: targeting == Targeting::Primaries,
                }
            } else {
                let node = ids[rng.random_range(0..n)].clone();
                // One clock: the leader's when primaries are among the
                // targets (half the time unless they are the only one).
                let primaries = targets.contains(&Targeting::Primaries)
                    && (targets.len() == 1 || rng.random_bool(0.5));
                let delta_ms = log_uniform(rng, 100.0, 60_000.0) as i64
                    * if rng.random_bool(0.5) { 1 } else { -1 };
                let period_ms = rng.random_range(10..=200);
                let duration = (interval / 2).mul_f64(rng.random_range(0.5..1.0));
                Action::Strobe {
                    node,
                    primaries,
                    delta_ms,
                    period_ms,
                    duration,
                }
            }
        }
        FaultKind::PartitionClock | FaultKind::Burst => {
            unreachable!("composite packages are planned by composite_steps")
        }
    }
}

/// A composite package's fault windows: its own cycle, faulty for about a
/// whole `interval` (long enough for a typical fail-over, which takes
/// several election timeouts, to happen inside the window) and quiet for
/// about half of one (±10% each), starting at a random phase within the
/// first half interval so that it does not fall in step with the plain
/// packages (which all start about half an interval in).
fn composite_windows(
    rng: &mut ChaCha8Rng,
    interval: Duration,
    time_limit: Duration,
) -> Vec<(Duration, Duration)> {
    let secs = interval.as_secs_f64();
    let mut out = Vec::new();
    let mut t = Duration::from_secs_f64(secs / 2.0 * rng.random_range(0.1..1.0));
    while t < time_limit {
        let end = t + Duration::from_secs_f64(secs * rng.random_range(0.9..1.1));
        out.push((t, end));
        t = end + Duration::from_secs_f64(secs / 2.0 * rng.random_range(0.9..1.1));
    }
    out
}

/// `[start, end)` minus every window of `blocked` (each widened by
/// `margin` on both sides): the pieces at least `min` long.
fn free_pieces(
    start: Duration,
    end: Duration,
    blocked: &[(Duration, Duration)],
    margin: Duration,
    min: Duration,
) -> Vec<(Duration, Duration)> {
    let mut pieces = vec![(start, end)];
    for &(bs, be) in blocked {
        let (bs, be) = (bs.saturating_sub(margin), be + margin);
        pieces = pieces
            .into_iter()
            .flat_map(|(a, b)| {
                if be <= a || bs >= b {
                    vec![(a, b)]
                } else {
                    [(a, bs), (be, b)]
                        .into_iter()
                        .filter(|(x, y)| x < y)
                        .collect()
                }
            })
            .collect();
    }
    pieces.retain(|(a, b)| *b >= *a + min);
    pieces
}

/// The steps of one composite window `[start, end)` (`end` at or past the
/// time limit: the final heal ends it).
#[allow(clippy::too_many_arguments)]
fn composite_steps(
    kind: FaultKind,
    rng: &mut ChaCha8Rng,
    ids: &[String],
    shapes: &[PartitionShape],
    interval: Duration,
    (start, end): (Duration, Duration),
    time_limit: Duration,
    out: &mut Vec<PlannedFault>,
) {
    let step = |at: Duration, phase: Phase, action: Action| PlannedFault {
        at,
        kind,
        phase,
        action,
    };
    let len = end.min(time_limit).saturating_sub(start);
    match kind {
        FaultKind::PartitionClock => {
            // Forward everywhere, then (a tenth to a fifth of the window
            // later, so that timers renewing a grant run under the moved
            // clock) cut off whoever leads, then step their clocks back
            // past where they started.
            let delta = log_uniform(rng, 2_000.0, 30_000.0) as i64;
            let cut = start + len.mul_f64(rng.random_range(0.1..0.2));
            let back = cut + len.mul_f64(rng.random_range(0.04..0.1));
            let fallback = rng.random_range(0..ids.len());
            // Every node, in a random order.
            let mut companions: Vec<usize> = (0..ids.len()).collect();
            for i in (1..companions.len()).rev() {
                companions.swap(i, rng.random_range(0..=i));
            }
            out.push(step(
                start,
                Phase::Start,
                Action::SkewAll { delta_ms: delta },
            ));
            out.push(step(
                cut,
                Phase::Start,
                Action::IsolatePrimaries {
                    fallback,
                    companions,
                },
            ));
            out.push(step(
                back,
                Phase::Start,
                Action::BumpMarked {
                    delta_ms: -2 * delta,
                },
            ));
            if end < time_limit {
                out.push(step(end, Phase::Stop, Action::Heal));
                out.push(step(end, Phase::Stop, Action::ResetClock));
            }
        }
        FaultKind::Burst => {
            let mut t = start;
            let stop = end.min(time_limit);
            while t < stop {
                let cut = Duration::from_millis(rng.random_range(300..=1500));
                let gap = Duration::from_millis(rng.random_range(200..=1000));
                let action = start_action(FaultKind::Partition, rng, ids, shapes, &[], interval);
                out.push(step(t, Phase::Start, action));
                let heal = t + cut;
                if heal >= time_limit {
                    break;
                }
                out.push(step(heal.min(stop), Phase::Stop, Action::Heal));
                t = heal + gap;
                if t + Duration::from_millis(300) > stop {
                    break;
                }
            }
        }
        _ => unreachable!("only composite packages have composite steps"),
    }
}

/// The fault plan: each package in `kinds` runs its own cycle (quiet for
/// about half of `interval`, faulty for about half, with ±10% jitter) laid
/// out by [`crate::schedule::generate`], and at `time_limit` every
/// package's end is issued once more as the final heal. Every random choice
/// (targets, shapes, offsets, link rules) is drawn here from the seed, one
/// stream per package, so the plan is reproducible and adding a package
/// moves no other. Only `primary` partitions and `primaries` targets are
/// resolved at run time (they hit whichever nodes lead then). `targets`
/// (empty = every targeting) are what kill, pause and clock faults draw
/// among.
pub fn fault_plan(
    seed: u64,
    ids: &[String],
    kinds: &[FaultKind],
    shapes: &[PartitionShape],
    targets: &[Targeting],
    interval: Duration,
    time_limit: Duration,
) -> Vec<PlannedFault> {
    if kinds.is_empty() || ids.is_empty() || interval.is_zero() {
        return Vec::new();
    }
    let plain: Vec<FaultKind> = kinds
        .iter()
        .copied()
        .filter(|k| !k.is_composite())
        .collect();
    let packages: Vec<FaultPackage> = plain
        .iter()
        .map(|k| standard_package(k.name()).expect("every fault kind is a standard package"))
        .collect();
    let config = ScheduleConfig {
        interval: interval / 2,
        jitter: interval / 10,
        // A stream of its own, so that changing the op mix does not move faults.
        seed: seed ^ 0x6e65_6d65_7369_7321,
        time_limit,
    };
    let mut rngs: HashMap<FaultKind, ChaCha8Rng> = kinds
        .iter()
        .map(|&k| {
            let salt = FaultKind::ALL.iter().position(|&x| x == k).unwrap_or(0) as u64 + 1;
            (
                k,
                ChaCha8Rng::seed_from_u64(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            )
        })
        .collect();
    let mut last: HashMap<FaultKind, Vec<usize>> = HashMap::new();
    let mut out = Vec::new();
    for op in crate::schedule::generate(&packages, &config) {
        let Some(kind) = FaultKind::parse(&op.package) else {
            continue;
        };
        let rng = rngs.get_mut(&kind).expect("a stream per package");
        let action = match op.phase {
            Phase::Start => {
                let a = start_action(kind, rng, ids, shapes, targets, interval);
                if let Action::Process { nodes, .. } = &a {
                    last.insert(kind, nodes.clone());
                }
                a
            }
            Phase::Stop | Phase::FinalHeal => match kind {
                FaultKind::Kill | FaultKind::Pause => Action::Undo {
                    nodes: if op.phase == Phase::FinalHeal {
                        (0..ids.len()).collect()
                    } else {
                        last.get(&kind).cloned().unwrap_or_default()
                    },
                },
                FaultKind::Partition => Action::Heal,
                FaultKind::Packet => Action::HealPacket,
                FaultKind::Clock => Action::ResetClock,
                FaultKind::PartitionClock | FaultKind::Burst => {
                    unreachable!("composite packages are planned below")
                }
            },
        };
        out.push(PlannedFault {
            at: op.at,
            kind,
            phase: op.phase,
            action,
        });
    }
    // Composite packages, in a fixed order (partition-clock first: the
    // burst waits for it), each window clear of the earlier composites'.
    let margin = Duration::from_millis(100);
    let mut net_blocked: Vec<(Duration, Duration)> = Vec::new();
    let mut clock_blocked: Vec<(Duration, Duration)> = Vec::new();
    let mut process_blocked: Vec<(Duration, Duration)> = Vec::new();
    for kind in FaultKind::ALL
        .into_iter()
        .filter(|k| k.is_composite() && kinds.contains(k))
    {
        let rng = rngs.get_mut(&kind).expect("a stream per package");
        let min = Duration::from_millis(1000).min(interval / 4);
        let windows: Vec<(Duration, Duration)> = composite_windows(rng, interval, time_limit)
            .into_iter()
            .flat_map(|(s, e)| free_pieces(s, e, &net_blocked, margin, min))
            .collect();
        for &w in &windows {
            composite_steps(kind, rng, ids, shapes, interval, w, time_limit, &mut out);
        }
        out.push(PlannedFault {
            at: time_limit,
            kind,
            phase: Phase::FinalHeal,
            action: Action::Heal,
        });
        let windows: Vec<(Duration, Duration)> = windows
            .into_iter()
            .map(|(s, e)| (s, e.min(time_limit)))
            .collect();
        net_blocked.extend(&windows);
        if kind.needs_clock() {
            clock_blocked.extend(&windows);
        }
        if kind == FaultKind::PartitionClock {
            // Its nodes must stay up: a kill or pause in the middle would
            // undo what it set up (a killed leader comes back a follower).
            process_blocked.extend(&windows);
        }
    }
    // The plain packages wait while a composite uses their mechanism (or,
    // for kills and pauses, while partition-clock needs its nodes running):
    // each of their windows keeps only the pieces outside the composites'.
    for (kind, blocked) in [
        (FaultKind::Partition, &net_blocked),
        (FaultKind::Clock, &clock_blocked),
        (FaultKind::Kill, &process_blocked),
        (FaultKind::Pause, &process_blocked),
    ] {
        if blocked.is_empty() || !kinds.contains(&kind) {
            continue;
        }
        let mine: Vec<PlannedFault> = out.iter().filter(|f| f.kind == kind).cloned().collect();
        out.retain(|f| f.kind != kind);
        let mut i = 0;
        while i < mine.len() {
            let f = &mine[i];
            if f.phase == Phase::FinalHeal {
                out.push(f.clone());
                i += 1;
                continue;
            }
            // A start and the op that ends it (a stop or the final heal).
            let end = mine.get(i + 1).expect("every start has an end");
            for (a, b) in free_pieces(f.at, end.at, blocked, margin, Duration::from_millis(300)) {
                out.push(PlannedFault { at: a, ..f.clone() });
                if b < end.at || end.phase == Phase::Stop {
                    out.push(PlannedFault {
                        at: b,
                        phase: Phase::Stop,
                        ..end.clone()
                    });
                }
            }
            i += if end.phase == Phase::FinalHeal { 1 } else { 2 };
        }
    }
    // Ends before starts at the same instant; otherwise the order of making.
    out.sort_by_key(|f| (f.at, f.phase == Phase::Start));
    out
}

/// A plan for a network that cannot delay packets (network namespaces on a
/// kernel without netem): every `delay` packet fault becomes a `loss` or a
/// `slow` fault on the same links, drawn from a stream of `seed`'s own, so
/// the plan stays a function of the seed and no step is refused at run time.
pub fn without_delay(plan: &mut [PlannedFault], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6465_6c61_7966_7265);
    for f in plan.iter_mut() {
        if let Action::Packet { mode, links, .. } = &mut f.action {
            if *mode != "delay" {
                continue;
            }
            let (m, rule) = if rng.random_bool(0.5) {
                let p = (rng.random_range(0.05..0.5f64) * 100.0).round() / 100.0;
                ("loss", LinkRule::Loss { p })
            } else {
                let bytes_per_sec = log_uniform(&mut rng, 2_000.0, 100_000.0) as u64;
                ("slow", LinkRule::Slow { bytes_per_sec })
            };
            *mode = m;
            for l in links.iter_mut() {
                l.2 = rule;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn plan(seed: u64, kinds: &[FaultKind]) -> Vec<PlannedFault> {
        fault_plan(
            seed,
            &ids(5),
            kinds,
            &PartitionShape::ALL,
            &[],
            Duration::from_secs(10),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn the_fault_schedule_is_reproducible_from_the_seed() {
        // The plain packages (the composites have tests of their own).
        let kinds = &FaultKind::ALL[..5];
        assert_eq!(plan(7, kinds), plan(7, kinds));
        assert_ne!(plan(7, kinds), plan(8, kinds));
        let sched = plan(7, kinds);
        assert!(sched.windows(2).all(|w| w[0].at <= w[1].at), "sorted");
        // Per package: starts and ends alternate, an end undoes its start,
        // and every package ends with a final heal at the time limit.
        for &k in kinds {
            let mine: Vec<&PlannedFault> = sched.iter().filter(|e| e.kind == k).collect();
            assert!(mine.len() >= 20, "{k:?}: {}", mine.len());
            let last = mine.last().unwrap();
            assert_eq!(
                (last.phase, last.at),
                (Phase::FinalHeal, Duration::from_secs(300))
            );
            for pair in mine[..mine.len() - 1].chunks(2) {
                assert_eq!(pair[0].phase, Phase::Start);
                if let Some(end) = pair.get(1) {
                    assert_eq!(end.phase, Phase::Stop);
                    assert!(end.at > pair[0].at);
                    if let (Action::Process { nodes, .. }, Action::Undo { nodes: undo }) =
                        (&pair[0].action, &end.action)
                    {
                        assert_eq!(nodes, undo);
                    }
                }
            }
        }
        for t in Targeting::ALL {
            let e = sched
                .iter()
                .find(|e| matches!(e.action, Action::Process { targeting, .. } if targeting == t))
                .expect("every targeting");
            let Action::Process { nodes, .. } = &e.action else {
                unreachable!()
            };
            assert_eq!(nodes.len(), t.count(5));
        }
        // Every partition shape is drawn; every shape but primary is fixed
        // by the plan.
        for shape in PartitionShape::ALL {
            let e = sched
                .iter()
                .find(|e| matches!(&e.action, Action::Partition { shape: s, .. } if *s == shape))
                .unwrap_or_else(|| panic!("no {shape} partition"));
            if let Action::Partition { grudge, .. } = &e.action {
                assert_eq!(grudge.is_none(), shape == PartitionShape::Primary);
            }
        }
        for want in ["bump", "strobe", "delay", "loss", "slow"] {
            assert!(
                sched.iter().any(|e| match &e.action {
                    Action::Bump { .. } => want == "bump",
                    Action::Strobe { .. } => want == "strobe",
                    Action::Packet { mode, .. } => *mode == want,
                    _ => false,
                }),
                "no {want} in the plan"
            );
        }
        // Without delay: the same steps at the same times, no delay left.
        let mut nd = plan(3, &[FaultKind::Packet]);
        without_delay(&mut nd, 3);
        let with = plan(3, &[FaultKind::Packet]);
        assert_eq!(nd.len(), with.len());
        assert!(with
            .iter()
            .any(|e| matches!(&e.action, Action::Packet { mode, .. } if *mode == "delay")));
        for (a, b) in nd.iter().zip(&with) {
            assert_eq!(a.at, b.at);
            if let Action::Packet { mode, links, .. } = &a.action {
                assert_ne!(*mode, "delay");
                assert!(links.iter().all(|l| !matches!(l.2, LinkRule::Delay { .. })));
            }
        }
        // Adding a package moves no other package's faults.
        let kp: Vec<PlannedFault> = plan(7, &[FaultKind::Kill, FaultKind::Pause]);
        let kpc: Vec<PlannedFault> =
            plan(7, &[FaultKind::Kill, FaultKind::Pause, FaultKind::Clock])
                .into_iter()
                .filter(|e| e.kind != FaultKind::Clock)
                .collect();
        assert_eq!(kp, kpc);
        // Only the chosen shapes are drawn.
        let only = fault_plan(
            3,
            &ids(3),
            &[FaultKind::Partition],
            &[PartitionShape::OneWay, PartitionShape::Halves],
            &[],
            Duration::from_secs(4),
            Duration::from_secs(200),
        );
        assert!(only.iter().all(|e| match &e.action {
            Action::Partition { shape, .. } =>
                matches!(shape, PartitionShape::OneWay | PartitionShape::Halves),
            a => *a == Action::Heal,
        }));
        // Only the chosen targets are drawn: with primaries alone, every
        // kill, pause, bump and strobe is resolved to the leaders at run time.
        let leaders = fault_plan(
            5,
            &ids(5),
            &[FaultKind::Pause, FaultKind::Clock],
            &[],
            &[Targeting::Primaries],
            Duration::from_secs(4),
            Duration::from_secs(200),
        );
        let starts: Vec<&Action> = leaders
            .iter()
            .filter(|e| e.phase == Phase::Start)
            .map(|e| &e.action)
            .collect();
        assert!(starts.len() > 20);
        assert!(starts.iter().all(|a| match a {
            Action::Process { targeting, nodes } =>
                *targeting == Targeting::Primaries && nodes.len() == 1,
            Action::Bump { deltas, primaries } => *primaries && deltas.len() == 1,
            Action::Strobe { primaries, .. } => *primaries,
            _ => false,
        }));
        let mixed = fault_plan(
            5,
            &ids(5),
            &[FaultKind::Kill],
            &[],
            &[Targeting::One, Targeting::Majority],
            Duration::from_secs(4),
            Duration::from_secs(200),
        );
        assert!(mixed.iter().all(|e| match &e.action {
            Action::Process { targeting, .. } =>
                matches!(targeting, Targeting::One | Targeting::Majority),
            _ => true,
        }));
    }
}

#[cfg(test)]
mod composite_tests {
    use super::*;

    /// Five nodes, the default 10 s interval, `limit` seconds.
    fn plan(seed: u64, kinds: &[FaultKind], limit: u64) -> Vec<PlannedFault> {
        let ids: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        fault_plan(
            seed,
            &ids,
            kinds,
            &PartitionShape::ALL,
            &[],
            Duration::from_secs(10),
            Duration::from_secs(limit),
        )
    }

    /// The `[start, end)` windows of `kind`'s faults (a start to the next
    /// end of that kind; the time limit when the final heal ends it).
    fn windows(p: &[PlannedFault], kind: FaultKind) -> Vec<(Duration, Duration)> {
        let mut out = Vec::new();
        let mut open: Option<Duration> = None;
        for f in p.iter().filter(|f| f.kind == kind) {
            match f.phase {
                Phase::Start => {
                    open.get_or_insert(f.at);
                }
                Phase::Stop | Phase::FinalHeal => {
                    if let Some(s) = open.take() {
                        out.push((s, f.at));
                    }
                }
            }
        }
        assert!(open.is_none(), "{kind:?} left open");
        out
    }

    fn overlaps(a: &[(Duration, Duration)], b: &[(Duration, Duration)]) -> bool {
        a.iter()
            .any(|&(s, e)| b.iter().any(|&(bs, be)| s < be && bs < e))
    }

    #[test]
    fn partition_clock_windows_skew_cut_and_step_back_in_order() {
        let all = [
            FaultKind::Partition,
            FaultKind::Kill,
            FaultKind::Pause,
            FaultKind::Clock,
            FaultKind::PartitionClock,
            FaultKind::Burst,
        ];
        let mut first_starts = Vec::new();
        for seed in 0..40 {
            let p = plan(seed, &all, 30);
            assert_eq!(p, plan(seed, &all, 30), "reproducible");
            assert!(p.windows(2).all(|w| w[0].at <= w[1].at), "sorted");
            let pc: Vec<&PlannedFault> = p
                .iter()
                .filter(|f| f.kind == FaultKind::PartitionClock)
                .collect();
            // skew, cut, step back, then (before the limit) heal and reset.
            let mut i = 0;
            let mut count = 0;
            while i < pc.len() && pc[i].phase != Phase::FinalHeal {
                let Action::SkewAll { delta_ms } = pc[i].action else {
                    panic!("{:?}", pc[i])
                };
                assert!(matches!(pc[i + 1].action, Action::IsolatePrimaries { .. }));
                assert_eq!(
                    pc[i + 2].action,
                    Action::BumpMarked {
                        delta_ms: -2 * delta_ms
                    }
                );
                assert!(pc[i].at < pc[i + 1].at && pc[i + 1].at < pc[i + 2].at);
                count += 1;
                if count == 1 {
                    first_starts.push(pc[i].at);
                }
                i += 3;
                if pc[i].phase == Phase::Stop {
                    assert_eq!(pc[i].action, Action::Heal);
                    assert_eq!(pc[i + 1].action, Action::ResetClock);
                    assert!(pc[i].at > pc[i - 1].at);
                    i += 2;
                }
            }
            assert!((2..=3).contains(&count), "seed {seed}: {count} windows");
            assert_eq!(pc.last().unwrap().phase, Phase::FinalHeal);
            // While a composite holds the network or the clocks, the plain
            // packages using them wait; the burst waits for partition-clock.
            let pcw = windows_of(&p, FaultKind::PartitionClock);
            let bw = windows(&p, FaultKind::Burst);
            assert!(
                !overlaps(&windows(&p, FaultKind::Partition), &pcw),
                "seed {seed}"
            );
            assert!(
                !overlaps(&windows(&p, FaultKind::Partition), &bw),
                "seed {seed}"
            );
            assert!(
                !overlaps(&windows(&p, FaultKind::Clock), &pcw),
                "seed {seed}"
            );
            assert!(!overlaps(&bw, &pcw), "seed {seed}");
            // Every burst cut is short.
            for (s, e) in bw {
                assert!(e - s <= Duration::from_millis(1500), "{s:?}..{e:?}");
            }
            // Kills and pauses wait for partition-clock (which needs its
            // nodes running), not for the burst.
            for k in [FaultKind::Kill, FaultKind::Pause] {
                let w = windows(&p, k);
                assert!(!overlaps(&w, &pcw), "seed {seed}");
                for piece in &w {
                    assert!(
                        windows(&plan(seed, &all[..4], 30), k)
                            .iter()
                            .any(|o| o.0 <= piece.0 && piece.1 <= o.1),
                        "seed {seed}: {k:?} {piece:?} is no piece of a plain window"
                    );
                }
            }
        }
        // The composite's phase is random: its first window does not start
        // with the plain packages' (about half an interval in).
        first_starts.sort();
        assert!(first_starts[0] < Duration::from_secs(2), "{first_starts:?}");
        assert!(
            *first_starts.last().unwrap() > Duration::from_secs(4),
            "{first_starts:?}"
        );
    }

    /// partition-clock's windows: its first step to its heal.
    fn windows_of(p: &[PlannedFault], kind: FaultKind) -> Vec<(Duration, Duration)> {
        let mut out = Vec::new();
        let mut open = None;
        for f in p.iter().filter(|f| f.kind == kind) {
            match (&f.action, f.phase) {
                (Action::SkewAll { .. }, _) => open = Some(f.at),
                (Action::Heal, _) => {
                    if let Some(s) = open.take() {
                        out.push((s, f.at));
                    }
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn plain_windows_are_clipped_not_lost() {
        // With the composites, the plain partition and clock packages still
        // fault, in the time the composites leave them.
        let (mut part, mut clock) = (0, 0);
        for seed in 0..20 {
            let p = plan(
                seed,
                &[
                    FaultKind::Partition,
                    FaultKind::Clock,
                    FaultKind::PartitionClock,
                ],
                120,
            );
            part += windows(&p, FaultKind::Partition).len();
            clock += windows(&p, FaultKind::Clock).len();
            // Starts and ends still alternate per plain package.
            for k in [FaultKind::Partition, FaultKind::Clock] {
                let phases: Vec<Phase> = p
                    .iter()
                    .filter(|f| f.kind == k && f.phase != Phase::FinalHeal)
                    .map(|f| f.phase)
                    .collect();
                for w in phases.windows(2) {
                    assert_ne!(w[0], w[1], "{k:?} seed {seed}");
                }
                assert_eq!(phases.first(), Some(&Phase::Start));
            }
        }
        assert!(part > 20 * 3 && clock > 20 * 3, "{part} {clock}");
    }

    #[test]
    fn free_pieces_cuts_out_the_blocked_windows() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(
            free_pieces(s(0), s(10), &[(s(2), s(3)), (s(5), s(6))], ms(0), ms(1)),
            vec![(s(0), s(2)), (s(3), s(5)), (s(6), s(10))]
        );
        assert_eq!(
            free_pieces(s(2), s(4), &[(s(0), s(10))], ms(0), ms(1)),
            Vec::<(Duration, Duration)>::new()
        );
        // The margin widens a blocked window; pieces under `min` go.
        assert_eq!(
            free_pieces(s(0), s(10), &[(s(2), s(3))], ms(500), s(2)),
            vec![(ms(3500), s(10))]
        );
    }
}
