//! Fault packages and seeded fault schedules (pure).
//!
//! A [`FaultPackage`] is data, like Jepsen's nemesis packages: a name, the op
//! that starts the fault, the op that stops it, and a label and colour for
//! plots. [`generate`] lays the packages out in time: each package runs its
//! own cycle independently — wait ≈ interval, start, wait ≈ interval, stop,
//! ... — so several packages overlap as in Jepsen's `compose`, and every
//! package's stop op is issued once more at the time limit as the final
//! heal (stop ops must therefore be idempotent). Same packages, config and
//! seed ⇒ same schedule.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One nemesis op: what the harness's nemesis should do. `f` names the
/// action (`"start-partition"`, `"bump-clock"`, `"kill"`, ...); `value`
/// carries its parameters (shape name, targets, offsets), free-form JSON
/// interpreted by the harness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultOp {
    pub f: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub value: serde_json::Value,
}

impl FaultOp {
    /// An op with no parameters.
    pub fn new(f: impl Into<String>) -> Self {
        FaultOp {
            f: f.into(),
            value: serde_json::Value::Null,
        }
    }

    /// An op with parameters.
    pub fn with_value(f: impl Into<String>, value: serde_json::Value) -> Self {
        FaultOp { f: f.into(), value }
    }
}

/// A fault package: a start op, a stop op (which must also heal when the
/// fault is not active), and how to draw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultPackage {
    /// Short unique name (`"partition"`, `"kill"`, `"pause"`, `"clock"`).
    pub name: String,
    pub start: FaultOp,
    pub stop: FaultOp,
    /// Human label for plot legends.
    pub label: String,
    /// CSS colour for fault bands in plots (e.g. `"#E9A4A0"`).
    pub color: String,
}

impl FaultPackage {
    pub fn new(
        name: impl Into<String>,
        start: FaultOp,
        stop: FaultOp,
        label: impl Into<String>,
        color: impl Into<String>,
    ) -> Self {
        FaultPackage {
            name: name.into(),
            start,
            stop,
            label: label.into(),
            color: color.into(),
        }
    }
}

/// The built-in packages' default ops, labels and colours (Jepsen's plot
/// colours). The harness may fill in values (shapes, targets) itself.
pub fn standard_package(name: &str) -> Option<FaultPackage> {
    let p = |start: &str, stop: &str, label: &str, color: &str| {
        FaultPackage::new(name, FaultOp::new(start), FaultOp::new(stop), label, color)
    };
    Some(match name {
        "partition" => p("start-partition", "stop-partition", "partition", "#E9DCA0"),
        "packet" => p("start-packet", "stop-packet", "packet faults", "#D1E8A0"),
        "kill" => p("kill", "start", "kill", "#E9A4A0"),
        "pause" => p("pause", "resume", "pause", "#C5A0E9"),
        "clock" => p("bump-clock", "reset-clock", "clock", "#A0E9DB"),
        "strobe" => p("strobe-clock", "reset-clock", "clock strobe", "#A0C8E9"),
        _ => return None,
    })
}

/// Whether an op starts a fault, stops it, or is part of the final heal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Start,
    Stop,
    /// A package's stop op issued at the time limit.
    FinalHeal,
}

/// One entry of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledOp {
    /// Offset from the start of the run.
    #[serde(with = "millis")]
    pub at: Duration,
    /// Package name.
    pub package: String,
    pub phase: Phase,
    pub op: FaultOp,
}

/// Schedule parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// Mean wait between a package's consecutive ops (`--nemesis-interval`).
    #[serde(with = "millis")]
    pub interval: Duration,
    /// Each wait is drawn uniformly from `interval ± jitter` (at least 1 ms).
    #[serde(with = "millis")]
    pub jitter: Duration,
    pub seed: u64,
    /// Final heal time; no start or stop is scheduled at or after it.
    #[serde(with = "millis")]
    pub time_limit: Duration,
}

/// Lay `packages` out in time (see the module docs). Sorted by time; ties
/// keep package order (start before stop never ties within a package).
/// Every start is followed by its package's stop before the time limit or by
/// the final heal.
pub fn generate(packages: &[FaultPackage], config: &ScheduleConfig) -> Vec<ScheduledOp> {
    let mut master = ChaCha8Rng::seed_from_u64(config.seed);
    let mut out: Vec<(Duration, usize, usize, ScheduledOp)> = Vec::new();
    let mut seq = 0usize;
    for (pi, pkg) in packages.iter().enumerate() {
        // One stream per package, so adding a package does not reshuffle the
        // others' timing.
        let mut rng = ChaCha8Rng::seed_from_u64(master.random::<u64>());
        let mut t = Duration::ZERO;
        let mut active = false;
        loop {
            t += wait(&mut rng, config);
            if t >= config.time_limit {
                break;
            }
            let (phase, op) = if active {
                (Phase::Stop, pkg.stop.clone())
            } else {
                (Phase::Start, pkg.start.clone())
            };
            active = !active;
            out.push((
                t,
                pi,
                seq,
                ScheduledOp {
                    at: t,
                    package: pkg.name.clone(),
                    phase,
                    op,
                },
            ));
            seq += 1;
        }
    }
    for (pi, pkg) in packages.iter().enumerate() {
        out.push((
            config.time_limit,
            pi,
            seq,
            ScheduledOp {
                at: config.time_limit,
                package: pkg.name.clone(),
                phase: Phase::FinalHeal,
                op: pkg.stop.clone(),
            },
        ));
        seq += 1;
    }
    out.sort_by_key(|(t, pi, s, _)| (*t, *pi, *s));
    out.into_iter().map(|(_, _, _, op)| op).collect()
}

fn wait(rng: &mut ChaCha8Rng, c: &ScheduleConfig) -> Duration {
    let base = c.interval.as_millis() as i64;
    let j = c.jitter.as_millis() as i64;
    let d = if j > 0 {
        base + rng.random_range(-j..=j)
    } else {
        base
    };
    Duration::from_millis(d.max(1) as u64)
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(seed: u64) -> ScheduleConfig {
        ScheduleConfig {
            interval: Duration::from_secs(10),
            jitter: Duration::from_secs(5),
            seed,
            time_limit: Duration::from_secs(120),
        }
    }

    fn pkgs() -> Vec<FaultPackage> {
        ["partition", "kill", "clock"]
            .iter()
            .map(|n| standard_package(n).unwrap())
            .collect()
    }

    #[test]
    fn same_seed_same_schedule() {
        let a = generate(&pkgs(), &cfg(42));
        let b = generate(&pkgs(), &cfg(42));
        assert_eq!(a, b);
        assert_ne!(a, generate(&pkgs(), &cfg(43)));
        // JSON round trip (the harness may store the schedule).
        let json = serde_json::to_string(&a).unwrap();
        let back: Vec<ScheduledOp> = serde_json::from_str(&json).unwrap();
        assert_eq!(a, back);
    }

    #[test]
    fn starts_and_stops_alternate_and_end_healed() {
        for seed in 0..20 {
            let c = cfg(seed);
            let s = generate(&pkgs(), &c);
            assert!(s.windows(2).all(|w| w[0].at <= w[1].at), "sorted");
            let mut active: BTreeMap<String, bool> = BTreeMap::new();
            let mut finals = 0;
            for op in &s {
                let pkg = standard_package(&op.package).unwrap();
                let a = active.entry(op.package.clone()).or_default();
                match op.phase {
                    Phase::Start => {
                        assert!(op.at < c.time_limit);
                        assert!(!*a, "double start of {}", op.package);
                        assert_eq!(op.op, pkg.start);
                        *a = true;
                    }
                    Phase::Stop => {
                        assert!(op.at < c.time_limit);
                        assert!(*a, "stop without start of {}", op.package);
                        assert_eq!(op.op, pkg.stop);
                        *a = false;
                    }
                    Phase::FinalHeal => {
                        assert_eq!(op.at, c.time_limit);
                        assert_eq!(op.op, pkg.stop);
                        finals += 1;
                        *a = false;
                    }
                }
            }
            assert_eq!(finals, 3);
            assert!(active.values().all(|a| !a));
            // The last ops are the final heal.
            assert!(s[s.len() - 3..].iter().all(|o| o.phase == Phase::FinalHeal));
            // Roughly time_limit / interval ops per package (jitter ±50%).
            let starts = s.iter().filter(|o| o.phase == Phase::Start).count();
            assert!((9..=36).contains(&starts), "{starts} starts");
        }
    }

    #[test]
    fn waits_respect_interval_and_jitter() {
        let c = cfg(7);
        let s = generate(&pkgs()[..1], &c);
        let times: Vec<u128> = s
            .iter()
            .filter(|o| o.phase != Phase::FinalHeal)
            .map(|o| o.at.as_millis())
            .collect();
        let mut prev = 0;
        for t in times {
            let d = t - prev;
            assert!((5_000..=15_000).contains(&d), "wait {d} ms");
            prev = t;
        }
        // No jitter: exactly every interval.
        let exact = ScheduleConfig {
            jitter: Duration::ZERO,
            ..c
        };
        let s = generate(&pkgs()[..1], &exact);
        let ats: Vec<u64> = s.iter().map(|o| o.at.as_secs()).collect();
        assert_eq!(ats, (1..=12).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(s.last().unwrap().phase, Phase::FinalHeal);
        // Adding a package does not change the first one's timing.
        let one = generate(&pkgs()[..1], &c);
        let three = generate(&pkgs(), &c);
        let first: Vec<_> = three
            .iter()
            .filter(|o| o.package == "partition")
            .cloned()
            .collect();
        assert_eq!(one, first);
    }

    #[test]
    fn empty_and_short_schedules() {
        assert!(generate(&[], &cfg(1)).is_empty());
        let short = ScheduleConfig {
            time_limit: Duration::from_secs(1),
            ..cfg(1)
        };
        let s = generate(&pkgs(), &short);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|o| o.phase == Phase::FinalHeal));
        assert!(standard_package("nope").is_none());
    }
}
