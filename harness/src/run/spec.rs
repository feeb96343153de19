//! `faultline test` flags, resolved into a validated [`TestSpec`] before
//! anything starts.

use super::workload;
use crate::system::SystemDef;
use ::nemesis::{FaultKind, PartitionShape, Targeting};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

pub const FAULTS: [&str; 7] = [
    "partition",
    "packet",
    "kill",
    "pause",
    "clock",
    "partition-clock",
    "burst",
];
/// The default `--nemesis`: the plain faults and the composites that aim
/// several of them at the same nodes at once.
pub const DEFAULT_NEMESIS: &str = "partition,kill,pause,clock,partition-clock,burst";

/// Whether the fault named `f` moves wall clocks.
fn moves_clocks(f: &str) -> bool {
    FaultKind::parse(f).is_some_and(FaultKind::needs_clock)
}

/// The clock-moving faults of `nemesis`, comma-separated.
fn clock_faults(nemesis: &[&str]) -> String {
    nemesis
        .iter()
        .copied()
        .filter(|f| moves_clocks(f))
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// A bundled system under test (see `faultline systems`).
    #[arg(long, default_value = "kv", conflicts_with = "system_file")]
    pub system: String,
    /// A system described by a TOML system file (how to start a node, its
    /// levels, probes, protocol and workloads; see
    /// docs/adding-a-system.md) instead of a bundled one.
    #[arg(long, value_name = "FILE")]
    pub system_file: Option<PathBuf>,
    /// The system's level (default: the one its definition names).
    #[arg(long)]
    pub level: Option<String>,
    /// The workload (see `faultline systems`); default: the system's first.
    #[arg(long)]
    pub workload: Option<String>,
    /// How many nodes (default 5, or the count the system file fixes:
    /// PostgreSQL is one server).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Client workers: a number, or `Kn` for K times the node count.
    #[arg(long, default_value = "2n")]
    pub concurrency: String,
    /// Total client ops per second (with jitter); `0` or `unbounded` for as
    /// fast as the workers go.
    #[arg(long, default_value = "200")]
    pub rate: String,
    /// Seconds of the main phase (clients and faults).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub time_limit: f64,
    /// Faults, comma-separated: partition, packet, kill, pause, clock,
    /// and the composites partition-clock (time jumps forward everywhere,
    /// the leaders are cut off and their clocks step back) and burst (short
    /// partitions back to back); or `none`. See docs/faults.md.
    #[arg(long, default_value = DEFAULT_NEMESIS)]
    pub nemesis: String,
    /// Partition shapes the `partition` fault draws among, comma-separated:
    /// halves, one, majorities-ring, bridge, minority-third, one-way,
    /// primary, random-halves; or `all`.
    #[arg(long, default_value = "all")]
    pub partition: String,
    /// Which nodes kill, pause and clock faults hit, drawn among these,
    /// comma-separated: one, minority, majority, all, primaries (every
    /// node that says it leads when the fault starts); or `any`.
    #[arg(long, default_value = "any")]
    pub targets: String,
    /// Keep the nodes' data dirs after the check: always, invalid (only
    /// when the run is not valid) or never. Logs and pids are always kept.
    #[arg(long, default_value = "always", value_parser = ["always", "invalid", "never"])]
    pub keep_data: String,
    /// Seconds of each fault package's cycle: quiet for about half of it,
    /// faulty for about half (packages cycle independently and overlap).
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub nemesis_interval: f64,
    /// Seed of the op and fault schedules (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Registers in use at once (default: half the concurrency).
    #[arg(long)]
    pub keys: Option<usize>,
    /// Ops on one register (or, for `queue`, on one queue) before it is
    /// retired for a fresh one.
    #[arg(long, default_value_t = 100)]
    pub ops_per_key: usize,
    /// End the run at the first anomaly the online check finds (a key not
    /// linearizable, or a queue or lock anomaly on the history so far):
    /// heal, stop, check, report, exit 1 (workloads judged by
    /// linearizability, total-queue or lock).
    #[arg(long)]
    pub fail_fast: bool,
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Leave the nodes running after the test (they then outlive the
    /// harness; their pids are printed).
    #[arg(long)]
    pub leave_running: bool,
    /// Where the system binaries are (default: the directory of this
    /// executable).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Client timeout per op, seconds.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub op_timeout: f64,
    /// Seconds to wait for nodes to become ready.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub ready_timeout: f64,
    /// Seconds to let the cluster settle after the final heal.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub quiesce: f64,
    /// Node fsync policy: `never` survives process kills (the faults here),
    /// `always` also power cuts.
    #[arg(long, default_value = "never", value_parser = ["always", "never"])]
    pub fsync: String,
    /// Extra argument for every node (repeatable), e.g.
    /// `--node-arg=--election-timeout-ms=500`.
    #[arg(long = "node-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// The network the nodes are on: `proxy` (loopback, a TCP proxy per
    /// link; no root) or `netns` (a network namespace per node on a
    /// private bridge, partitions as nftables rules; needs root). Default:
    /// what the system file says (`network`), else proxy.
    #[arg(long, value_parser = ["proxy", "netns"])]
    pub network: Option<String>,
    /// In network namespaces, what a partitioned link does to packets:
    /// `drop` (default: silence, as a real partition; TCP stalls until the
    /// system's timeouts notice) or `reject` (a TCP reset: fails fast, more
    /// like a crashed peer).
    #[arg(long, default_value = "drop", value_parser = ["drop", "reject"])]
    pub partition_cut: String,
    /// Time budget for the checker, seconds (past it: unknown).
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub check_timeout: f64,
}

/// A validated test.
#[derive(Debug, Clone, Serialize)]
pub struct TestSpec {
    pub name: String,
    pub system: String,
    /// The system's definition (`system` is its name).
    #[serde(skip)]
    pub def: Arc<SystemDef>,
    /// Where the definition came from (`bundled:kv.toml` or a path).
    pub system_source: String,
    pub level: String,
    pub workload: String,
    pub nodes: usize,
    pub concurrency: usize,
    /// ops/s; `None` = unbounded.
    pub rate: Option<f64>,
    pub time_limit: f64,
    pub nemesis: Vec<&'static str>,
    /// Whether clocks are moved (false where the default's clock faults
    /// cannot apply: `partition-clock` then only cuts off the leaders).
    pub clock_steps: bool,
    /// Partition shapes to draw among (by name).
    pub partition: Vec<String>,
    /// Targetings of kill, pause and clock faults to draw among.
    pub targets: Vec<Targeting>,
    /// always | invalid | never.
    pub keep_data: String,
    pub nemesis_interval: f64,
    pub seed: u64,
    pub keys: usize,
    pub ops_per_key: usize,
    pub fail_fast: bool,
    pub store: PathBuf,
    pub leave_running: bool,
    pub bin_dir: PathBuf,
    /// Whether `--bin-dir` was given (else a missing bundled binary falls
    /// back to the system's builtin, e.g. `faultline kv-node`).
    pub bin_dir_given: bool,
    pub op_timeout: f64,
    pub ready_timeout: f64,
    pub quiesce: f64,
    pub fsync: String,
    pub node_args: Vec<String>,
    pub check_timeout: f64,
    pub network: crate::system::Network,
    /// `drop` or `reject` (network namespaces only).
    pub partition_cut: String,
    /// What the defaults left out on this machine, said at the start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl TestSpec {
    /// Whether the nodes run under libfaketime (some fault moves clocks).
    pub fn moves_clocks(&self) -> bool {
        self.clock_steps && self.fault_kinds().iter().any(|k| k.needs_clock())
    }

    pub fn fault_kinds(&self) -> Vec<FaultKind> {
        self.nemesis
            .iter()
            .filter_map(|n| FaultKind::parse(n))
            .collect()
    }

    pub fn partition_shapes(&self) -> Vec<PartitionShape> {
        self.partition
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

/// The longest any duration flag may be: 30 days (a time limit, timeout or
/// interval beyond it is a typo, and a duration beyond ~584 years cannot
/// even be represented).
pub const MAX_SECONDS: f64 = 30.0 * 86_400.0;

/// A duration flag: a finite number of seconds in `(0, MAX_SECONDS]`.
fn positive(name: &str, v: f64) -> Result<f64> {
    if !(v.is_finite() && v > 0.0) {
        bail!(
            "{name}: must be a positive number of seconds, got {}",
            short(v)
        );
    }
    if v > MAX_SECONDS {
        bail!(
            "{name}: at most {MAX_SECONDS} seconds (30 days), got {}",
            short(v)
        );
    }
    Ok(v)
}

/// A number as a user would write it: `1e300`, not 301 digits.
fn short(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

impl TestArgs {
    pub fn resolve(&self) -> Result<TestSpec> {
        let def = match &self.system_file {
            Some(f) => SystemDef::load(f)?,
            None => crate::system::find_bundled(&self.system)?,
        };
        let level = self
            .level
            .clone()
            .unwrap_or_else(|| def.default_level.clone());
        if def.level(&level).is_none() {
            bail!(
                "--level: unknown level {level:?} for system {} (known: {})",
                def.name,
                def.level_names().join(", ")
            );
        }
        let workload = self
            .workload
            .clone()
            .unwrap_or_else(|| def.workloads[0].clone());
        if workload::find(&workload).is_none() {
            bail!(
                "--workload: unknown workload {:?} (known: {})",
                workload,
                workload::names().join(", ")
            );
        }
        if !def.workloads.contains(&workload) {
            bail!(
                "--workload: {workload} does not run on system {} (it runs: {})",
                def.name,
                def.workloads.join(", ")
            );
        }
        let nodes = match (self.nodes, def.nodes) {
            (None, fixed) => fixed.unwrap_or(5),
            (Some(n), Some(fixed)) if n != fixed => bail!(
                "--nodes: {} runs exactly {fixed} node{} (`nodes = {fixed}` in {}), got {n}; leave --nodes out",
                def.name,
                if fixed == 1 { "" } else { "s" },
                def.source
            ),
            (Some(n), _) => n,
        };
        if nodes == 0 || nodes > 64 {
            bail!("--nodes: must be 1..=64, got {nodes}");
        }
        let c = self.concurrency.trim();
        let concurrency = if let Some(k) = c.strip_suffix('n') {
            let k: usize = if k.is_empty() {
                1
            } else {
                k.parse().with_context(|| {
                    format!("--concurrency: expected a number or Kn (e.g. 2n), got {c:?}")
                })?
            };
            k * nodes
        } else {
            c.parse().with_context(|| {
                format!("--concurrency: expected a number or Kn (e.g. 2n), got {c:?}")
            })?
        };
        if concurrency == 0 || concurrency > 4096 {
            bail!("--concurrency: must be 1..=4096 workers, got {concurrency}");
        }
        let rate = match self.rate.trim() {
            "unbounded" | "0" | "inf" => None,
            r => {
                let v: f64 = r.parse().with_context(|| {
                    format!("--rate: expected ops per second or `unbounded`, got {r:?}")
                })?;
                if !(v.is_finite() && v > 0.0) {
                    bail!("--rate: expected a positive number or `unbounded`, got {r:?}");
                }
                if v > 1e7 {
                    bail!("--rate: at most 10000000 ops/s (or `unbounded`), got {r:?}");
                }
                Some(v)
            }
        };
        let mut nemesis = Vec::new();
        for f in self
            .nemesis
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match FAULTS.iter().find(|k| **k == f) {
                Some(k) => {
                    if !nemesis.contains(k) {
                        nemesis.push(*k)
                    }
                }
                None if f == "none" => {}
                None => bail!(
                    "--nemesis: unknown fault {f:?} (known: {}, or none)",
                    FAULTS.join(", ")
                ),
            }
        }
        let mut partition: Vec<String> = Vec::new();
        let all_shapes = matches!(self.partition.trim(), "all" | "");
        let wanted: Vec<String> = if all_shapes {
            PartitionShape::ALL.iter().map(|s| s.to_string()).collect()
        } else {
            self.partition
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let shape_names: Vec<String> = PartitionShape::ALL.iter().map(|s| s.to_string()).collect();
        for w in wanted {
            let shape: PartitionShape = w.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--partition: unknown shape {w:?} (known: {}, or all)",
                    shape_names.join(", ")
                )
            })?;
            if shape.min_nodes() > nodes {
                if all_shapes {
                    continue;
                }
                bail!(
                    "--partition: {shape} needs at least {} nodes, --nodes is {}",
                    shape.min_nodes(),
                    nodes
                );
            }
            if !partition.contains(&w) {
                partition.push(w);
            }
        }
        let mut notes = Vec::new();
        // Where the default's clock faults cannot apply, `clock` goes and
        // `partition-clock` keeps its partition (the leaders cut off with a
        // minority for an interval: the fail-over half of it) without its
        // clock steps.
        let mut clock_steps = true;
        fn skip_clocks(
            nemesis: &mut Vec<&'static str>,
            clock_steps: &mut bool,
            notes: &mut Vec<String>,
            why: String,
        ) {
            nemesis.retain(|f| *f != "clock");
            *clock_steps = false;
            let kept = if nemesis.contains(&"partition-clock") {
                "; partition-clock still cuts off the leaders, without moving clocks"
            } else {
                ""
            };
            notes.push(format!("{why}{kept}"));
        }
        // `clock` named explicitly is refused where clocks cannot move;
        // otherwise (the default, or partition-clock) they are skipped.
        let explicit_clock = self.nemesis != DEFAULT_NEMESIS && nemesis.contains(&"clock");
        if !explicit_clock
            && nemesis.iter().any(|f| moves_clocks(f))
            && ::nemesis::find_libfaketime().is_none()
        {
            // A fresh machine: the default still runs, without clock faults.
            skip_clocks(
                &mut nemesis,
                &mut clock_steps,
                &mut notes,
                "clock faults skipped: libfaketime is not installed (run scripts/install-deps.sh; with an explicit --nemesis clock this is an error)"
                    .to_string(),
            );
        }
        let bin_dir = match &self.bin_dir {
            Some(d) => d.clone(),
            None => std::env::current_exe()
                .context("finding the running executable (pass --bin-dir)")?
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default(),
        };
        // The system file says clock faults cannot apply (libfaketime
        // breaks redis-server at start; the JVM reads the wall clock so
        // often that ZooKeeper's cluster never forms under it). The default
        // goes on without them; an explicit `--nemesis clock` is refused.
        if clock_steps && nemesis.iter().any(|f| moves_clocks(f)) {
            if let Some(why) = &def.clock_unsupported {
                if explicit_clock {
                    bail!(
                        "--nemesis {}: clock faults do not apply to {}: {why}",
                        clock_faults(&nemesis),
                        def.name
                    );
                }
                skip_clocks(
                    &mut nemesis,
                    &mut clock_steps,
                    &mut notes,
                    format!("clock faults do not apply to {}: {why}", def.name),
                );
            }
        }
        if clock_steps && nemesis.iter().any(|f| moves_clocks(f)) {
            // A static binary (etcd is one) ignores LD_PRELOAD: its clock
            // cannot be moved. The default nemesis says so and goes on; an
            // explicit `--nemesis clock` is refused when the cluster starts.
            if let Some(bin) = def.find_binary(&bin_dir) {
                if let Ok(kind) = ::nemesis::clock::preload_support(&bin) {
                    if kind != ::nemesis::clock::PreloadSupport::Dynamic && !explicit_clock {
                        skip_clocks(
                            &mut nemesis,
                            &mut clock_steps,
                            &mut notes,
                            format!(
                                "clock faults do not apply to {}: {} is a {kind:?} binary, so libfaketime cannot move its clock",
                                def.name,
                                bin.display()
                            ),
                        );
                    }
                }
            }
        }
        let network = match self.network.as_deref() {
            None => def.network,
            Some("netns") => crate::system::Network::Netns,
            Some(_) => crate::system::Network::Proxy,
        };
        if network == crate::system::Network::Netns {
            if self.leave_running {
                bail!("--leave-running: not with network namespaces (they go when the harness does, and the nodes would lose their network)");
            }
            if let Some(missing) = ::nemesis::netns::preflight() {
                bail!(
                    "{} runs its nodes in network namespaces, which need {missing}",
                    def.name
                );
            }
        }
        if nodes < 2 {
            if self.nemesis == DEFAULT_NEMESIS {
                // One node has no links to cut: the default just skips it.
                nemesis.retain(|f| !FaultKind::parse(f).is_some_and(FaultKind::needs_mesh));
            }
            for f in ["partition", "packet", "partition-clock", "burst"] {
                if nemesis.contains(&f) {
                    bail!(
                        "--nemesis: {f} needs at least 2 nodes, --nodes is {}",
                        nodes
                    );
                }
            }
        }
        let targets: Vec<Targeting> = if matches!(self.targets.trim(), "any" | "") {
            Targeting::ALL.to_vec()
        } else {
            let mut t = Vec::new();
            for w in self
                .targets
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
            {
                let x = Targeting::ALL
                    .into_iter()
                    .find(|x| x.name() == w)
                    .ok_or_else(|| {
                        let known: Vec<&str> = Targeting::ALL.iter().map(|x| x.name()).collect();
                        anyhow::anyhow!(
                            "--targets: unknown targeting {w:?} (known: {}, or any)",
                            known.join(", ")
                        )
                    })?;
                if !t.contains(&x) {
                    t.push(x);
                }
            }
            t
        };
        let keys = self.keys.unwrap_or(concurrency.div_ceil(2)).max(1);
        if self.keys == Some(0) {
            bail!("--keys: must be at least 1");
        }
        if self.ops_per_key == 0 {
            bail!("--ops-per-key: must be at least 1");
        }
        let seed = self.seed.unwrap_or_else(|| {
            use rand::Rng;
            rand::rng().random_range(0..1u64 << 53)
        });
        Ok(TestSpec {
            name: format!("{}-{}-{}", def.name, level, workload),
            system: def.name.clone(),
            system_source: def.source.clone(),
            def: Arc::new(def),
            level,
            workload,
            nodes,
            concurrency,
            rate,
            time_limit: positive("--time-limit", self.time_limit)?,
            nemesis,
            clock_steps,
            partition,
            targets,
            keep_data: self.keep_data.clone(),
            nemesis_interval: positive("--nemesis-interval", self.nemesis_interval)?,
            seed,
            keys,
            ops_per_key: self.ops_per_key,
            fail_fast: self.fail_fast,
            store: self.store.clone(),
            leave_running: self.leave_running,
            bin_dir,
            bin_dir_given: self.bin_dir.is_some(),
            op_timeout: positive("--op-timeout", self.op_timeout)?,
            ready_timeout: positive("--ready-timeout", self.ready_timeout)?,
            quiesce: if self.quiesce >= 0.0 && self.quiesce <= MAX_SECONDS {
                self.quiesce
            } else {
                bail!(
                    "--quiesce: must be 0 to {MAX_SECONDS} seconds, got {}",
                    short(self.quiesce)
                )
            },
            fsync: self.fsync.clone(),
            node_args: self.node_args.clone(),
            check_timeout: positive("--check-timeout", self.check_timeout)?,
            network,
            partition_cut: self.partition_cut.clone(),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        t: TestArgs,
    }

    fn zookeeper(extra: &[&str]) -> Result<TestSpec> {
        let mut argv = vec!["t", "--system", "zookeeper"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).t.resolve()
    }

    /// `clock_unsupported` in a system file: the default nemesis drops clock with a
    /// note, an explicit `--nemesis clock` is refused with the reason.
    #[test]
    fn a_system_file_can_rule_out_clock_faults() {
        if let Some(missing) = ::nemesis::netns::preflight() {
            eprintln!("skipped: zookeeper runs in network namespaces, which need {missing}");
            return;
        }
        let spec = zookeeper(&[]).unwrap();
        assert!(!spec.nemesis.contains(&"clock"), "{:?}", spec.nemesis);
        // partition-clock stays, without its clock steps.
        assert!(
            spec.nemesis.contains(&"partition-clock"),
            "{:?}",
            spec.nemesis
        );
        assert!(!spec.clock_steps && !spec.moves_clocks());
        assert!(spec.nemesis.contains(&"partition"));
        assert!(spec.nemesis.contains(&"burst"), "{:?}", spec.nemesis);
        if ::nemesis::find_libfaketime().is_some() {
            assert!(
                spec.notes
                    .iter()
                    .any(|n| n.contains("clock faults do not apply to zookeeper")),
                "{:?}",
                spec.notes
            );
        }
        let err = zookeeper(&["--nemesis", "partition,clock"]).unwrap_err();
        assert!(
            format!("{err:#}").contains("clock faults do not apply to zookeeper"),
            "{err:#}"
        );
        // partition-clock named alone is kept, without its clock steps.
        let spec = zookeeper(&["--nemesis", "burst,partition-clock"]).unwrap();
        assert_eq!(spec.nemesis, ["burst", "partition-clock"]);
        assert!(!spec.moves_clocks());
        assert!(
            spec.notes
                .iter()
                .any(|n| n.contains("without moving clocks")),
            "{:?}",
            spec.notes
        );
    }

    /// Out-of-range durations and rates are refused before anything
    /// starts, naming the flag (`--time-limit 1e300` used to panic after the
    /// nodes had started).
    #[test]
    fn absurd_durations_and_rates_are_refused_naming_the_flag() {
        let resolve = |extra: &[&str]| {
            let mut argv = vec!["t", "--system", "kv"];
            argv.extend_from_slice(extra);
            Cli::parse_from(argv).t.resolve()
        };
        for (flag, v) in [
            ("--time-limit", "1e300"),
            ("--time-limit", "inf"),
            ("--ready-timeout", "1e300"),
            ("--op-timeout", "1e20"),
            ("--nemesis-interval", "NaN"),
            ("--check-timeout", "3e9"),
            ("--quiesce", "1e300"),
            ("--rate", "1e300"),
            ("--rate", "0.0"),
        ] {
            let e = resolve(&[flag, v]).expect_err(&format!("{flag} {v} accepted"));
            assert!(format!("{e:#}").starts_with(flag), "{flag} {v}: {e:#}");
        }
        assert!(resolve(&["--time-limit", "2592000", "--rate", "0.0001"]).is_ok());
    }
}
