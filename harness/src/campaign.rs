//! `faultline campaign FILE.toml`: a matrix of tests (systems × levels ×
//! nemeses × seeds), run one after another as `faultline test` child
//! processes, compared on one page, with expectations per cell.
//!
//! The file:
//!
//! ```toml
//! name = "levels"
//! [defaults]                      # any cell field; cells override it
//! system = "kv"
//! nodes = 5
//! time_limit = 60
//! seeds = 3                       # 3 -> seeds 1, 2, 3; or a list [7, 9]
//! nemesis = "partition,kill,pause,clock"   # or a list: one row per entry
//! args = ["--rate", "200"]        # passed to `faultline test` as they are
//!
//! [[cell]]
//! level = "raft"                  # or levels = ["raft", "raft-lease"]
//! expect = "valid"                # valid | invalid | any
//!
//! [[cell]]
//! level = "raft-local"
//! nemesis = "partition"
//! expect = { invalid = ["stale-read"] }  # each anomaly seen in some seed
//! # also: expect = { holds = "sequential" } (no seed fails it)
//! #       expect = { fails = "linearizable" } (some seed fails it)
//! #       expect = { invalid_any = ["G-single", "lost-update"] } (one of
//! #       them seen in some seed)
//! ```
//!
//! `expect = "valid"` holds when every seed is valid; `"invalid"` when at
//! least one seed is invalid (the weakness was caught). Anomaly names:
//! `stale-read(s)`, `lost-write(s)`, `divergence` (final reads disagree), or
//! any model column (`linearizable`, `sequential`, `causal`, `pram`,
//! `monotonic-reads`, `monotonic-writes`, `read-your-writes`,
//! `writes-follow-reads`). A run that ends in a harness error breaks its
//! row's expectation.
//!
//! Transactional rows (a list-append or rw-register workload, judged by
//! the isolation checker) fill isolation columns instead: each model of
//! the lattice (`checker::txn::lattice`; `holds`/`fails` take any of its
//! names, e.g. `snapshot-isolation`, `SI`, `serializable`) fails in a seed
//! that rules it out, and each anomaly class (`G0`, `G1a`, `G1c`,
//! `G-single`, `G2-item`, `lost-update`, ...) in a seed that shows it. The
//! row shows the strongest models no seed ruled out, and each anomaly cell
//! links to the first run that showed it, at its witnesses.
//!
//! Each row also shows `first anomaly s (min/median)`: the smallest and the
//! median `first_anomaly.seconds` (results.json) over its invalid seeds,
//! and `caught`: how many seeds were invalid, the catch rate and its 95%
//! Wilson score interval.
//!
//! Detection expectations (composable with the keys above):
//! `expect = { catch_rate = 0.95 }` holds when at least that fraction of
//! the seeds is invalid; `median_first_anomaly_s = 15` when the median
//! first anomaly over the invalid seeds is at most 15 s (an invalid seed
//! without one counts as the time limit).
//!
//! Sharding: `--shard I/N` runs the units (row, seed) of the plan whose
//! index k (plan order) has `k mod N + 1 == I`, into
//! `<timestamp>-shard-I-of-N/`, and judges nothing; every campaign
//! directory holds `plan.json` (the whole plan, [`PlanFile`]).
//! `faultline campaign merge DIR...` checks the shards belong together,
//! links their runs into one directory and rebuilds the rows from the runs
//! with the same [`RowBuilder`] a live campaign uses. docs/campaigns.md
//! has the details.

use anyhow::{bail, Context, Result};
use checker::results::RunResults;
use checker::stats::{self, OpStats};
use checker::Verdict;
use reports::campaign::{CampaignSummary, MergedShard, Row, RunRef, ShardInfo};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

/// plan.json, `--shard`, `merge`.
#[path = "campaign_shard.rs"]
mod shard;
use shard::{merge, parse_shard, PlanFile, Unit};
#[cfg(test)]
use shard::{merge_into, read_shard_dir, unit_store};

const CAMPAIGN_HELP: &str = "\
Run a campaign:      faultline campaign FILE [--shard I/N] [options]
Merge its shards:    faultline campaign merge DIR... [--out DIR]

`--shard I/N` runs a deterministic slice of the plan's (row, seed) units
(unit k, in plan order, goes to shard (k mod N)+1) into
STORE/campaigns/<name>/<timestamp>-shard-I-of-N/, beside a plan.json of the
whole plan; a shard judges no expectation. `merge` joins shard directories
(of one plan, each shard at most once), rebuilds every row from its runs,
judges the complete rows and marks the others not judged. Exit codes: 0
every expectation holds, 1 one broke, 2 incomplete (interrupted, or a shard
missing from a merge), 255 error. See docs/campaigns.md.";

/// `faultline campaign`: run a campaign file (or one shard of it), or
/// merge shard directories.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = CAMPAIGN_HELP
)]
pub struct CampaignCmd {
    #[command(subcommand)]
    pub command: Option<CampaignSub>,
    #[command(flatten)]
    pub run: CampaignArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum CampaignSub {
    /// Merge the directories of a sharded campaign's shards into one
    /// campaign directory (runs, summary, page, JUnit) and judge its
    /// expectations.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' campaign directories (each holds plan.json,
    /// summary.json and runs/).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged campaign goes (a new or empty directory); default
    /// `STORE/campaigns/<name>/<timestamp>-merged/`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The store for the default output directory.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CampaignArgs {
    /// The campaign file (TOML).
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    /// Run only shard I of N of the plan's (row, seed) units (1 ≤ I ≤ N);
    /// merge the shards with `faultline campaign merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<ShardInfo>,
    /// Override every cell's time limit, in seconds.
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<f64>,
    /// Override every cell's seed count (seeds 1..=N).
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// Run only rows whose id (`system/level/nemesis`) contains this text;
    /// several alternatives separated by `|`.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Where runs are stored; the campaign goes to
    /// `STORE/campaigns/<name>/<timestamp>/` (a shard to
    /// `<timestamp>-shard-I-of-N/`).
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Directory of the system binaries (passed to `faultline test`).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Passed to every `faultline test`: keep the nodes' data dirs always,
    /// only for runs that are not valid (`invalid`), or never.
    #[arg(long, value_parser = ["always", "invalid", "never"])]
    pub keep_data: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

/// A cell's `expect`: a word (`valid`, `invalid`, `any`) or a table of
/// conditions that must all hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawExpect")]
enum Expect {
    Word(String),
    Table(ExpectTable),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectTable {
    /// Each anomaly is seen in some seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    invalid: Option<Vec<String>>,
    /// No seed fails this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holds: Option<String>,
    /// Some seed fails this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fails: Option<String>,
    /// At least one of these anomalies is seen in some seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    invalid_any: Option<Vec<String>>,
    /// At least this fraction of the seeds is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    catch_rate: Option<f64>,
    /// The median first anomaly (seconds) over the invalid seeds is at
    /// most this; an invalid seed without one counts as the time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    median_first_anomaly_s: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawExpect {
    Word(String),
    Table(serde_json::Map<String, serde_json::Value>),
}

impl TryFrom<RawExpect> for Expect {
    type Error = String;
    fn try_from(raw: RawExpect) -> std::result::Result<Expect, String> {
        match raw {
            RawExpect::Word(w) => match w.as_str() {
                "valid" | "invalid" | "any" => Ok(Expect::Word(w)),
                _ => Err(format!(
                    "expect = \"{w}\": expected \"valid\", \"invalid\", \"any\" or a table"
                )),
            },
            RawExpect::Table(m) => {
                let t: ExpectTable = serde_json::from_value(serde_json::Value::Object(m))
                    .map_err(|e| format!("expect: {e}"))?;
                if let Some(r) = t.catch_rate {
                    if !(0.0..=1.0).contains(&r) {
                        return Err(format!(
                            "expect.catch_rate = {r}: expected a fraction between 0 and 1 (0.95 for 95%)"
                        ));
                    }
                }
                if let Some(m) = t.median_first_anomaly_s {
                    if !m.is_finite() || m < 0.0 {
                        return Err(format!(
                            "expect.median_first_anomaly_s = {m}: expected seconds, 0 or more"
                        ));
                    }
                }
                Ok(Expect::Table(t))
            }
        }
    }
}

/// `0.95` -> `95`, `0.975` -> `97.5`.
fn percent(x: f64) -> String {
    let p = (x * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Expect::Word(w) => w.clone(),
            Expect::Table(ExpectTable {
                invalid,
                holds,
                fails,
                invalid_any,
                catch_rate,
                median_first_anomaly_s,
            }) => {
                let mut parts = Vec::new();
                if let Some(i) = invalid {
                    parts.push(format!("invalid: {}", i.join(", ")));
                }
                if let Some(i) = invalid_any {
                    parts.push(format!("invalid: one of {}", i.join(", ")));
                }
                if let Some(h) = holds {
                    parts.push(format!("holds: {h}"));
                }
                if let Some(f) = fails {
                    parts.push(format!("fails: {f}"));
                }
                if let Some(r) = catch_rate {
                    parts.push(format!("catch rate ≥ {}%", percent(*r)));
                }
                if let Some(m) = median_first_anomaly_s {
                    parts.push(format!("median first anomaly ≤ {m} s"));
                }
                parts.join("; ")
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellSpec {
    system: Option<String>,
    /// A system file (relative to the campaign file), instead of `system`.
    system_file: Option<String>,
    level: Option<String>,
    levels: Option<Vec<String>>,
    nemesis: Option<OneOrMany>,
    workload: Option<String>,
    nodes: Option<u32>,
    time_limit: Option<f64>,
    seeds: Option<Seeds>,
    args: Option<Vec<String>>,
    expect: Option<Expect>,
}

impl CellSpec {
    /// `self` with unset fields taken from `d`.
    fn over(&self, d: &CellSpec) -> CellSpec {
        CellSpec {
            system: self.system.clone().or(d.system.clone()),
            system_file: self.system_file.clone().or(d.system_file.clone()),
            level: self.level.clone().or(d.level.clone()),
            levels: self.levels.clone().or(d.levels.clone()),
            nemesis: self.nemesis.clone().or(d.nemesis.clone()),
            workload: self.workload.clone().or(d.workload.clone()),
            nodes: self.nodes.or(d.nodes),
            time_limit: self.time_limit.or(d.time_limit),
            seeds: self.seeds.clone().or(d.seeds.clone()),
            args: match (&d.args, &self.args) {
                (Some(a), Some(b)) => Some(a.iter().chain(b).cloned().collect()),
                (a, b) => b.clone().or(a.clone()),
            },
            expect: self.expect.clone().or(d.expect.clone()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignFile {
    name: Option<String>,
    #[serde(default)]
    defaults: CellSpec,
    #[serde(rename = "cell", default)]
    cells: Vec<CellSpec>,
}

/// One row of the matrix, ready to run (as plan.json stores it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Planned {
    id: String,
    system: String,
    /// The system file the runs use (`--system-file`), when not bundled.
    system_file: Option<PathBuf>,
    level: String,
    nemesis: String,
    workload: Option<String>,
    nodes: Option<u32>,
    time_limit: Option<f64>,
    seeds: Vec<u64>,
    args: Vec<String>,
    expect: Option<Expect>,
}

const MODELS: [&str; 8] = [
    "linearizable",
    "sequential",
    "causal",
    "pram",
    "monotonic-reads",
    "monotonic-writes",
    "read-your-writes",
    "writes-follow-reads",
];
const ANOMALIES: [&str; 3] = ["stale-reads", "lost-writes", "convergence"];

fn plan(path: &Path, args: &CampaignArgs) -> Result<(String, Vec<Planned>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: CampaignFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let name = file.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "campaign".into())
    });
    if file.cells.is_empty() {
        bail!("{}: no [[cell]] entries", path.display());
    }
    let mut rows = Vec::new();
    for (i, c) in file.cells.iter().enumerate() {
        let c = c.over(&file.defaults);
        let levels = match (&c.level, &c.levels) {
            (Some(l), _) => vec![l.clone()],
            (None, Some(ls)) if !ls.is_empty() => ls.clone(),
            _ => bail!(
                "{}: cell {} has no `level` or `levels`",
                path.display(),
                i + 1
            ),
        };
        let nemeses = c
            .nemesis
            .as_ref()
            .map(OneOrMany::list)
            .unwrap_or_else(|| vec!["kill,pause".into()]);
        let seeds: Vec<u64> = match (args.seeds, &c.seeds) {
            (Some(n), _) => (1..=n).collect(),
            (None, Some(Seeds::Count(n))) => (1..=*n).collect(),
            (None, Some(Seeds::List(l))) => l.clone(),
            (None, None) => vec![1],
        };
        if seeds.is_empty() {
            bail!("{}: cell {} has no seeds", path.display(), i + 1);
        }
        let (system, system_file) = match (&c.system_file, &c.system) {
            (Some(f), _) => {
                let base = path.parent().unwrap_or(Path::new("."));
                let f = base.join(f);
                let def = crate::system::SystemDef::load(&f)
                    .with_context(|| format!("{}: cell {}", path.display(), i + 1))?;
                (def.name, Some(f))
            }
            (None, s) => (s.clone().unwrap_or_else(|| "kv".into()), None),
        };
        for level in &levels {
            for nem in &nemeses {
                // A cell naming its workload says so in the id; two cells
                // that still share an id (other `args`) are numbered, so
                // their runs never share a directory.
                let base = match &c.workload {
                    Some(w) => format!("{system}/{level}/{nem}/{w}"),
                    None => format!("{system}/{level}/{nem}"),
                };
                let taken = |id: &str| rows.iter().any(|r: &Planned| r.id == id);
                let mut id = base.clone();
                let mut n = 2;
                while taken(&id) {
                    id = format!("{base}#{n}");
                    n += 1;
                }
                rows.push(Planned {
                    id,
                    system: system.clone(),
                    system_file: system_file.clone(),
                    level: level.clone(),
                    nemesis: nem.clone(),
                    workload: c.workload.clone(),
                    nodes: c.nodes,
                    time_limit: args.time_limit.or(c.time_limit),
                    seeds: seeds.clone(),
                    args: c.args.clone().unwrap_or_default(),
                    expect: c.expect.clone(),
                });
            }
        }
    }
    if let Some(f) = &args.filter {
        let alts: Vec<&str> = f
            .split('|')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        rows.retain(|r| alts.iter().any(|a| r.id.contains(a)));
        if rows.is_empty() {
            bail!("--filter {f}: no row matches");
        }
    }
    Ok((name, rows))
}

/// What one finished run said.
struct Outcome {
    run: RunRef,
    results: Option<RunResults>,
    run_dir: Option<PathBuf>,
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The `faultline test` arguments of one run of `row`.
fn test_args(
    row: &Planned,
    seed: u64,
    store: &Path,
    bin_dir: Option<&Path>,
    extra: &[String],
) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = Vec::new();
    let mut push = |x: &str| a.push(x.into());
    match &row.system_file {
        Some(f) => {
            push("--system-file");
            push(&f.to_string_lossy());
        }
        None => {
            push("--system");
            push(&row.system);
        }
    }
    for x in ["--level", &row.level] {
        push(x);
    }
    for x in ["--nemesis", &row.nemesis, "--seed", &seed.to_string()] {
        push(x);
    }
    if let Some(w) = &row.workload {
        push("--workload");
        push(w);
    }
    if let Some(n) = row.nodes {
        push("--nodes");
        push(&n.to_string());
    }
    if let Some(t) = row.time_limit {
        push("--time-limit");
        push(&t.to_string());
    }
    a.push("--store".into());
    a.push(store.into());
    if let Some(b) = bin_dir {
        a.push("--bin-dir".into());
        a.push(b.into());
    }
    a.extend(row.args.iter().map(Into::into));
    a.extend(extra.iter().map(Into::into));
    a
}

fn run_one(
    row: &Planned,
    seed: u64,
    dir: &Path,
    bin_dir: Option<&Path>,
    extra: &[String],
) -> Result<Outcome> {
    let store = dir
        .join("runs")
        .join(safe(&row.id))
        .join(format!("seed-{seed}"));
    std::fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?;
    let exe = std::env::current_exe().context("locating the faultline binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("test")
        .args(test_args(row, seed, &store, bin_dir, extra));
    let log = std::fs::File::create(store.join("faultline-test.log"))?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // The run gets signals only through the campaign (its own process
    // group: a Ctrl-C at the terminal reaches the campaign, which forwards
    // one SIGINT), and dies with the campaign whatever kills it.
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the campaign exited"));
                }
                Ok(())
            });
        }
    }
    let start = Instant::now();
    let mut child = cmd.spawn().context("starting faultline test")?;
    interrupt::CHILD.store(child.id() as i32, Ordering::SeqCst);
    if interrupt::count() > 0 {
        // A signal came between two runs' checks: this one stops at once.
        // SAFETY: a plain kill(2) of the child we just started.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    }
    let status = child.wait().context("waiting for faultline test");
    interrupt::CHILD.store(0, Ordering::SeqCst);
    let status = status?;
    let exit = status.code().unwrap_or(255);
    let run_dir = std::fs::canonicalize(store.join("latest")).ok();
    let rel = run_dir.as_ref().and_then(|d| {
        d.strip_prefix(std::fs::canonicalize(dir).ok()?)
            .ok()
            .map(|p| p.display().to_string())
    });
    let run = RunRef {
        seed,
        dir: rel,
        exit,
        seconds: start.elapsed().as_secs_f64(),
        ..Default::default()
    };
    Ok(load_outcome(run, run_dir))
}

/// A run's verdict from the exit code of its `faultline test`.
fn verdict_of_exit(exit: i32) -> &'static str {
    match exit {
        0 => "valid",
        1 => "invalid",
        2 => "unknown",
        _ => "error",
    }
}

/// What a finished run said, from its exit code and its directory's
/// results.json (the verdict, and `first_anomaly_s`). Used by a live
/// campaign after each run and by `merge` for each shard's runs.
fn load_outcome(mut run: RunRef, run_dir: Option<PathBuf>) -> Outcome {
    let results = run_dir.as_ref().and_then(|d| {
        RunResults::read(&d.join("results.json"))
            .map_err(|e| tracing::warn!("{e}"))
            .ok()
    });
    run.verdict = verdict_of_exit(run.exit).to_string();
    run.first_anomaly_s = results
        .as_ref()
        .and_then(|r| r.first_anomaly.as_ref())
        .map(|a| a.seconds);
    Outcome {
        run,
        results,
        run_dir,
    }
}

/// SIGINT and SIGTERM during a campaign: the first is forwarded to the
/// running `faultline test` (which heals, stops and checks what it has),
/// and no further run starts; the summary, page and JUnit are written for
/// what ran. A second signal SIGKILLs the run (its nodes die with it) and
/// exits 130.
mod interrupt {
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

    pub static CHILD: AtomicI32 = AtomicI32::new(0);
    static SIGNALS: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn on_signal(_: libc::c_int) {
        // Only async-signal-safe calls here: atomics, kill, _exit.
        let n = SIGNALS.fetch_add(1, Ordering::SeqCst);
        let child = CHILD.load(Ordering::SeqCst);
        unsafe {
            if n == 0 {
                if child > 0 {
                    libc::kill(child, libc::SIGINT);
                }
            } else {
                if child > 0 {
                    libc::kill(child, libc::SIGKILL);
                }
                libc::_exit(130);
            }
        }
    }

    /// Installs the handlers (with SA_RESTART: the wait for a run goes on).
    pub fn install() {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction with a handler that only touches
            // atomics and async-signal-safe calls.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    }

    /// How many signals came.
    pub fn count() -> usize {
        SIGNALS.load(Ordering::SeqCst)
    }
}

/// `failed` / `unknown` / `ok` / `none` for one column of one run.
fn column_state(col: &str, r: Option<&RunResults>) -> &'static str {
    let Some(r) = r else { return "unknown" };
    let state = |v: Option<Verdict>| match v {
        Some(Verdict::Valid) => "ok",
        Some(Verdict::Invalid) => "failed",
        Some(Verdict::Unknown) => "unknown",
        None => "none",
    };
    let meas = r.consistency.measures.as_ref();
    let count = |n: Option<usize>| match n {
        Some(0) => "ok",
        Some(_) => "failed",
        None => "none",
    };
    match col {
        "linearizable" => match state(r.consistency.verdict(col)) {
            "none" => state(Some(r.verdict)),
            s => s,
        },
        "stale-reads" => count(meas.map(|m| m.stale_reads)),
        "lost-writes" => count(meas.map(|m| m.lost_writes)),
        "convergence" => match meas.and_then(|m| m.converged) {
            Some(true) => "ok",
            Some(false) => "failed",
            None => "none",
        },
        m => state(r.consistency.verdict(m)),
    }
}

/// The column an expectation's name refers to: a register model or
/// anomaly, an isolation model (any name of `checker::txn::lattice`, e.g.
/// `snapshot-isolation` or `SI`), or a transactional anomaly class
/// (`G2-item`, `G-single`, `lost-update`, ...).
fn anomaly_column(name: &str) -> Option<String> {
    match name {
        "stale-read" | "stale-reads" => Some("stale-reads".into()),
        "lost-write" | "lost-writes" => Some("lost-writes".into()),
        "divergence" | "not-converged" | "convergence" => Some("convergence".into()),
        m => MODELS
            .iter()
            .find(|x| **x == m)
            .map(|x| x.to_string())
            .or_else(|| checker::txn::lattice::canonical(m).map(String::from))
            .or_else(|| txn_anomaly_names().into_iter().find(|a| a == m)),
    }
}

/// The isolation models a transactional row shows as columns (every model
/// of the lattice is kept in the row's cells, for expectations).
const TXN_MODELS: [&str; 5] = [
    "read-committed",
    "monotonic-atomic-view",
    "snapshot-isolation",
    "serializable",
    "strict-serializable",
];

/// Every anomaly class the isolation checker can name: what some model of
/// the lattice proscribes, and the anomalies that need no cycle.
fn txn_anomaly_names() -> Vec<String> {
    let mut v: Vec<String> = checker::txn::lattice::MODELS
        .iter()
        .flat_map(|m| checker::txn::lattice::prohibited_by(m))
        .chain(
            [
                "G1a",
                "G1b",
                "internal",
                "dirty-update",
                "duplicate-elements",
                "incompatible-order",
                "lost-update",
                "future-read",
                "garbage-read",
                "cyclic-versions",
            ]
            .map(String::from),
        )
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What a transactional run's isolation checker (list-append or
/// rw-register) said: the anomaly classes found, the models they rule
/// out, and whether it decided (a search that gave up leaves models it
/// did not rule out undecided).
#[derive(Debug, Clone, PartialEq)]
struct TxnView {
    anomalies: Vec<String>,
    ruled_out: Vec<String>,
    decided: bool,
}

fn txn_view(r: &RunResults) -> Option<TxnView> {
    // The main checker's details are in `workload`; others in `checkers`.
    let is_txn = |d: &serde_json::Value| {
        matches!(d["checker"].as_str(), Some("list-append" | "rw-register"))
    };
    let main = r.workload.to_value();
    let d = if is_txn(&main) {
        main
    } else {
        r.checkers
            .values()
            .find_map(|c| c.details.as_ref().filter(|d| is_txn(d)))?
            .clone()
    };
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut ruled_out = strings(&d["not"]);
    ruled_out.extend(strings(&d["also_not"]));
    Some(TxnView {
        anomalies: strings(&d["anomaly_types"]),
        ruled_out,
        decided: d["verdict"].as_str() != Some("unknown")
            && d["search"]["gave_up"]
                .as_array()
                .is_none_or(|a| a.is_empty()),
    })
}

/// Checks a row's expectation; `Err` names what broke. `time_limit` is
/// the runs' main phase in seconds: an invalid seed without a first
/// anomaly counts as that late.
fn check_expect(e: &Expect, row: &Row, time_limit: f64) -> std::result::Result<(), String> {
    let errors: Vec<&RunRef> = row.runs.iter().filter(|r| r.verdict == "error").collect();
    if !errors.is_empty() {
        let seeds: Vec<String> = errors.iter().map(|r| r.seed.to_string()).collect();
        return Err(format!("harness error in seed(s) {}", seeds.join(", ")));
    }
    let seeds_with = |v: &str| -> Vec<String> {
        row.runs
            .iter()
            .filter(|r| r.verdict == v)
            .map(|r| r.seed.to_string())
            .collect()
    };
    let cell = |c: &str| row.cells.get(c).cloned().unwrap_or_default();
    match e {
        Expect::Word(w) => match w.as_str() {
            "any" => Ok(()),
            "valid" => {
                let bad: Vec<String> = row
                    .runs
                    .iter()
                    .filter(|r| r.verdict != "valid")
                    .map(|r| format!("seed {} {}", r.seed, r.verdict))
                    .collect();
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(format!("expected valid, got {}", bad.join(", ")))
                }
            }
            "invalid" => {
                if seeds_with("invalid").is_empty() {
                    Err(format!(
                        "expected invalid in some seed, but none of {} was",
                        row.runs.len()
                    ))
                } else {
                    Ok(())
                }
            }
            other => Err(format!(
                "unknown expectation `{other}` (valid, invalid, any)"
            )),
        },
        Expect::Table(ExpectTable {
            invalid,
            holds,
            fails,
            invalid_any,
            catch_rate,
            median_first_anomaly_s,
        }) => {
            let mut problems = Vec::new();
            let n = row.runs.len();
            let caught: Vec<&RunRef> = row.runs.iter().filter(|r| r.verdict == "invalid").collect();
            if let Some(min) = catch_rate {
                let k = caught.len();
                // A tolerance for the float: 19/20 meets 0.95.
                if n == 0 || (k as f64) < min * n as f64 - 1e-9 {
                    let (lo, hi) = reports::campaign::wilson(k, n).unwrap_or((0.0, 1.0));
                    let rate = if n == 0 { 0.0 } else { k as f64 / n as f64 };
                    problems.push(format!(
                        "caught {k}/{n} ({:.0}%, 95% CI {:.0}–{:.0}%), expected at least {}%",
                        rate * 100.0,
                        lo * 100.0,
                        hi * 100.0,
                        percent(*min)
                    ));
                }
            }
            if let Some(max) = median_first_anomaly_s {
                let late = caught
                    .iter()
                    .filter(|r| r.first_anomaly_s.is_none())
                    .count();
                let mut xs: Vec<f64> = caught
                    .iter()
                    .map(|r| r.first_anomaly_s.unwrap_or(time_limit))
                    .collect();
                xs.sort_by(f64::total_cmp);
                let median = match xs.len() {
                    0 => None,
                    m if m % 2 == 1 => Some(xs[m / 2]),
                    m => Some((xs[m / 2 - 1] + xs[m / 2]) / 2.0),
                };
                let without = if late > 0 {
                    format!(
                        ", {late} without a first anomaly counted as the {time_limit} s time limit"
                    )
                } else {
                    String::new()
                };
                match median {
                    None => problems.push(format!(
                        "no invalid seed, so no first anomaly (expected a median of at most {max} s)"
                    )),
                    Some(m) if m > *max => problems.push(format!(
                        "median first anomaly {m:.1} s over {} invalid seeds{without}, expected at most {max} s",
                        xs.len()
                    )),
                    Some(_) => {}
                }
            }
            for a in invalid.iter().flatten() {
                match anomaly_column(a) {
                    None => problems.push(format!("unknown anomaly `{a}`")),
                    Some(c) if cell(&c).failed == 0 => {
                        problems.push(format!("{a} not seen in any seed"))
                    }
                    Some(_) => {}
                }
            }
            if let Some(any) = invalid_any.as_ref().filter(|a| !a.is_empty()) {
                let mut seen = false;
                for a in any {
                    match anomaly_column(a) {
                        None => problems.push(format!("unknown anomaly `{a}`")),
                        Some(c) => seen |= cell(&c).failed > 0,
                    }
                }
                if !seen {
                    problems.push(format!("none of {} seen in any seed", any.join(", ")));
                }
            }
            if let Some(h) = holds {
                match anomaly_column(h) {
                    None => problems.push(format!("unknown model `{h}`")),
                    Some(c) => {
                        let x = cell(&c);
                        if x.failed > 0 {
                            problems.push(format!("{h} fails in {}/{} seeds", x.failed, x.total));
                        } else if x.unknown > 0 || x.total == 0 {
                            problems.push(format!(
                                "{h} not established in {} seeds",
                                x.total - x.failed
                            ));
                        }
                    }
                }
            }
            if let Some(f) = fails {
                match anomaly_column(f) {
                    None => problems.push(format!("unknown model `{f}`")),
                    Some(c) if cell(&c).failed == 0 => problems.push(format!("{f} never fails")),
                    Some(_) => {}
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        }
    }
}

/// A run's op statistics and the sorted latencies (ms) of its `ok` client
/// ops, from its history (`checker::stats`: what counts as answered is
/// documented there and in `docs/results-json.md`). `None` when the
/// history cannot be read.
fn history_figures(run_dir: &Path) -> Option<(OpStats, Vec<f64>)> {
    let path = run_dir.join("history.jsonl");
    match checker::formats::read_file(&path, Some(checker::formats::Format::Jsonl)) {
        Ok((h, _)) => Some(OpStats::with_latencies(&h)),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

/// Counts one transactional run into the row's cells: every isolation
/// model (failed when the run rules it out) and every anomaly class
/// (failed when found); `dir` is the run's directory: the first failing
/// seed of a cell links to its report, at the anomaly's witnesses.
fn txn_cells(row: &mut Row, tv: &TxnView, dir: Option<&str>) {
    let models = checker::txn::lattice::MODELS;
    let mut count = |name: &str, failed: bool, undecided: bool| {
        let c = row.cells.entry(name.to_string()).or_default();
        c.total += 1;
        if failed {
            c.failed += 1;
            if c.worst.is_none() {
                let anchor = if models.contains(&name) {
                    "counterexample".to_string()
                } else {
                    format!("anomaly-{name}")
                };
                c.worst = dir.map(|d| format!("{d}/index.html#{anchor}"));
            }
        } else if undecided {
            c.unknown += 1;
        }
    };
    for m in checker::txn::lattice::MODELS {
        count(m, tv.ruled_out.iter().any(|x| x == m), !tv.decided);
    }
    let mut names = txn_anomaly_names();
    names.extend(tv.anomalies.iter().cloned());
    names.sort();
    names.dedup();
    for a in &names {
        count(a, tv.anomalies.contains(a), !tv.decided);
    }
}

/// The page's columns: the register models and anomalies when some row
/// has them (or no row is transactional), then the isolation models and
/// the anomaly classes some row found, when some row is transactional.
fn columns(rows: &[Row]) -> Vec<String> {
    let has = |c: &str| {
        rows.iter()
            .any(|r| r.cells.get(c).is_some_and(|x| x.total > 0))
    };
    let txn = rows.iter().any(|r| r.strongest_kept.is_some());
    let mut cols: Vec<String> = Vec::new();
    if !txn || MODELS.iter().chain(ANOMALIES.iter()).any(|c| has(c)) {
        cols.extend(MODELS.iter().chain(ANOMALIES.iter()).map(|s| s.to_string()));
    }
    if txn {
        cols.extend(TXN_MODELS.iter().map(|s| s.to_string()));
        let found = |c: &str| {
            rows.iter()
                .any(|r| r.cells.get(c).is_some_and(|x| x.failed > 0))
        };
        // The classes found, in their plain forms (the -process and
        // -realtime variants stay in the cells, for expectations).
        let variant = |a: &str| a.ends_with("-process") || a.ends_with("-realtime");
        cols.extend(
            txn_anomaly_names()
                .into_iter()
                .filter(|a| !variant(a) && found(a)),
        );
    }
    cols
}

/// A row being built from its runs: the one place a run is folded into a
/// row, for a live campaign and for `merge` alike.
struct RowBuilder {
    row: Row,
    /// Latencies (ms) of the ok ops over the seeds.
    lat: Vec<f64>,
    ops: u64,
    ok: u64,
    /// The anomaly classes the isolation checker found over the seeds
    /// (`None`: no transactional run).
    txn_found: Option<Vec<String>>,
}

impl RowBuilder {
    fn new(p: &Planned) -> RowBuilder {
        RowBuilder {
            row: Row {
                id: p.id.clone(),
                system: p.system.clone(),
                level: p.level.clone(),
                nemesis: p.nemesis.clone(),
                expect: p.expect.as_ref().map(Expect::describe),
                seeds_planned: Some(p.seeds.len()),
                ..Default::default()
            },
            lat: Vec::new(),
            ops: 0,
            ok: 0,
            txn_found: None,
        }
    }

    /// Counts one run into the row: its columns (register models and
    /// anomalies, or isolation models and classes), its history's
    /// availability and latencies, and the run itself.
    fn add(&mut self, o: Outcome) {
        let row = &mut self.row;
        let tv = o.results.as_ref().and_then(txn_view);
        // A transactional run fills the isolation columns instead.
        let register_cols = if tv.is_none() { &MODELS[..] } else { &[] };
        let anomaly_cols = if tv.is_none() { &ANOMALIES[..] } else { &[] };
        for col in register_cols.iter().chain(anomaly_cols.iter()) {
            let c = row.cells.entry(col.to_string()).or_default();
            match column_state(col, o.results.as_ref()) {
                "failed" => {
                    c.failed += 1;
                    c.total += 1;
                    if c.worst.is_none() {
                        c.worst = o.run.dir.as_ref().map(|d| format!("{d}/index.html"));
                    }
                }
                "unknown" => {
                    c.unknown += 1;
                    c.total += 1;
                }
                "ok" => c.total += 1,
                _ => {}
            }
        }
        if let Some(tv) = tv {
            txn_cells(row, &tv, o.run.dir.as_deref());
            self.txn_found
                .get_or_insert_with(Vec::new)
                .extend(tv.anomalies);
        }
        if let Some((st, l)) = o.run_dir.as_deref().and_then(history_figures) {
            self.ops += st.ok + st.fail + st.info;
            self.ok += st.answered;
            self.lat.extend(l);
        }
        row.runs.push(o.run);
    }

    /// The finished row. `not_judged` says why the expectation is not
    /// judged (a shard, an interruption, a missing shard); otherwise it is
    /// judged when every planned seed ran.
    fn finish(mut self, p: &Planned, not_judged: Option<String>) -> Row {
        let row = &mut self.row;
        stats::sort(&mut self.lat);
        row.availability = (self.ops > 0).then(|| self.ok as f64 / self.ops as f64);
        row.p50_ms = stats::quantile(&self.lat, 0.5);
        row.p99_ms = stats::quantile(&self.lat, 0.99);
        if let Some(found) = &self.txn_found {
            // Where the row stands: the strongest models no seed ruled out.
            let pl = checker::txn::lattice::place(found.iter().map(String::as_str));
            row.strongest_kept = Some(pl.strongest_kept.iter().map(|m| m.to_string()).collect());
        }
        row.set_first_anomaly();
        row.set_catch();
        let ran = row.runs.len();
        match not_judged {
            Some(m) => row.expect_message = Some(m),
            None if ran < p.seeds.len() => {
                row.expect_message = Some(format!("not judged: {ran} of {} seeds", p.seeds.len()))
            }
            None => {
                if let Some(e) = &p.expect {
                    match check_expect(e, row, time_limit_of(p)) {
                        Ok(()) => row.expect_ok = Some(true),
                        Err(m) => {
                            row.expect_ok = Some(false);
                            row.expect_message = Some(m);
                        }
                    }
                }
            }
        }
        self.row
    }
}

/// The main phase of a row's runs, in seconds: its `--time-limit` (in
/// `args` or the cell's `time_limit`), else `faultline test`'s default.
fn time_limit_of(p: &Planned) -> f64 {
    let from_args = p
        .args
        .windows(2)
        .rev()
        .find(|w| w[0] == "--time-limit")
        .and_then(|w| w[1].parse().ok());
    from_args.or(p.time_limit).unwrap_or(60.0)
}

/// Writes summary.json, summary.md, junit.xml and index.html.
fn write_outputs(dir: &Path, summary: &CampaignSummary) -> Result<()> {
    use crate::run::store::write_atomic;
    write_atomic(
        &dir.join("summary.json"),
        &serde_json::to_vec_pretty(summary)?,
    )?;
    write_atomic(
        &dir.join("summary.md"),
        reports::campaign::markdown(summary).as_bytes(),
    )?;
    write_atomic(
        &dir.join("junit.xml"),
        reports::campaign::junit(summary).as_bytes(),
    )?;
    write_atomic(
        &dir.join("index.html"),
        reports::campaign::render(summary).as_bytes(),
    )?;
    Ok(())
}

/// The exit code of a finished campaign (or shard, or merge): 1 when an
/// expectation broke, 2 when it was interrupted or some row is not judged
/// for want of runs (a shard of several is never judged: 0 when it ran
/// all its units), else 0.
fn exit_code(s: &CampaignSummary) -> i32 {
    let shard = s.shard.is_some_and(|sh| sh.count > 1);
    if !s.ok {
        1
    } else if s.interrupted || (s.incomplete && !shard) {
        2
    } else {
        0
    }
}

/// Prints the table, the page's path and the verdict; returns the exit
/// code.
fn report(s: &CampaignSummary, dir: &Path, done: usize, total: usize) -> i32 {
    println!("{}", reports::campaign::markdown(s));
    println!("campaign page: {}", dir.join("index.html").display());
    let broken: Vec<&Row> = s
        .rows
        .iter()
        .filter(|r| r.expect_ok == Some(false))
        .collect();
    for r in &broken {
        println!(
            "EXPECTATION BROKEN: {} (expected {}): {}",
            r.id,
            r.expect.as_deref().unwrap_or(""),
            r.expect_message.as_deref().unwrap_or("")
        );
    }
    let code = exit_code(s);
    if broken.is_empty() {
        if s.interrupted {
            println!(
                "interrupted after {done} of {total} runs ({:.0} s): the rows not run to the end are not judged",
                s.wall_seconds
            );
        } else if let Some(sh) = s.shard.filter(|sh| sh.count > 1) {
            println!(
                "shard {} of {}: {done} runs ({:.0} s); expectations are judged by `faultline campaign merge`",
                sh.index, sh.count, s.wall_seconds
            );
        } else if s.incomplete {
            let missing: Vec<&str> = s
                .rows
                .iter()
                .filter(|r| r.expect_ok.is_none() && r.expect_message.is_some())
                .map(|r| r.id.as_str())
                .collect();
            println!("incomplete: not judged: {}", missing.join(", "));
        } else {
            println!("every expectation holds ({:.0} s)", s.wall_seconds);
        }
    }
    code
}

/// Runs `faultline campaign`: a campaign file (or one shard of it), or a
/// merge of shard directories. Returns the exit code (0 every expectation
/// holds, 1 one broke, 2 incomplete).
pub fn run(cmd: &CampaignCmd) -> Result<i32> {
    match &cmd.command {
        Some(CampaignSub::Merge(m)) => merge(m),
        None => run_campaign(&cmd.run),
    }
}

fn run_campaign(args: &CampaignArgs) -> Result<i32> {
    let Some(file) = args.file.as_deref() else {
        bail!("campaign: give a campaign FILE, or `merge DIR...`");
    };
    let (name, rows) = plan(file, args)?;
    let content =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let shard = args.shard.unwrap_or(ShardInfo { index: 1, count: 1 });
    let mut extra: Vec<String> = Vec::new();
    if let Some(k) = &args.keep_data {
        extra.extend(["--keep-data".into(), k.clone()]);
    }
    let mut pf = PlanFile::new(&name, file, content, &rows, shard);
    pf.local_args = extra.clone();
    if let Some(b) = &args.bin_dir {
        pf.local_args
            .extend(["--bin-dir".into(), b.display().to_string()]);
    }
    let started = crate::run::store::timestamp(SystemTime::now());
    let leaf = if shard.count > 1 {
        format!("{started}-shard-{}-of-{}", shard.index, shard.count)
    } else {
        started.clone()
    };
    let dir = args.store.join("campaigns").join(safe(&name)).join(leaf);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::run::store::write_json(&dir.join("plan.json"), &pf)?;
    let mine: Vec<&Unit> = pf.units.iter().filter(|u| u.shard == shard.index).collect();
    let total = mine.len();
    let shard_text = if shard.count > 1 {
        format!(
            " (shard {} of {}: {total} of {} units)",
            shard.index,
            shard.count,
            pf.units.len()
        )
    } else {
        String::new()
    };
    eprintln!(
        "campaign {name}: {} rows, {total} runs{shard_text} -> {}",
        rows.len(),
        dir.display()
    );
    interrupt::install();
    let t0 = Instant::now();
    let mut done = 0usize;
    let mut builders: Vec<Option<RowBuilder>> = rows.iter().map(|_| None).collect();
    for u in &mine {
        if interrupt::count() > 0 {
            break;
        }
        let Some(ri) = rows.iter().position(|r| r.id == u.row) else {
            continue;
        };
        let p = &rows[ri];
        let eta = if done > 0 {
            let per = t0.elapsed().as_secs_f64() / done as f64;
            format!(", ETA {:.0} s", per * (total - done) as f64)
        } else {
            String::new()
        };
        eprintln!("[{}/{total}] {} seed {}{eta}", done + 1, p.id, u.seed);
        let o = run_one(p, u.seed, &dir, args.bin_dir.as_deref(), &extra)?;
        done += 1;
        eprintln!("        {} in {:.1} s", o.run.verdict, o.run.seconds);
        builders[ri]
            .get_or_insert_with(|| RowBuilder::new(p))
            .add(o);
    }
    let interrupted = interrupt::count() > 0;
    let mut out_rows = Vec::new();
    for (ri, p) in rows.iter().enumerate() {
        let here = mine.iter().filter(|u| u.row == p.id).count();
        if here == 0 {
            continue;
        }
        let b = builders[ri].take().unwrap_or_else(|| RowBuilder::new(p));
        let ran = b.row.runs.len();
        let not_judged = if shard.count > 1 {
            Some(format!(
                "not judged: shard {} of {} ran {ran} of the row's {} seeds",
                shard.index,
                shard.count,
                p.seeds.len()
            ))
        } else if ran < p.seeds.len() {
            Some(format!(
                "not judged: {ran} of {} seeds ran before the campaign was interrupted",
                p.seeds.len()
            ))
        } else {
            None
        };
        out_rows.push(b.finish(p, not_judged));
    }
    let summary = CampaignSummary {
        name: name.clone(),
        started,
        wall_seconds: t0.elapsed().as_secs_f64(),
        columns: columns(&out_rows),
        ok: out_rows.iter().all(|r| r.expect_ok != Some(false)),
        interrupted,
        incomplete: out_rows
            .iter()
            .any(|r| r.runs.len() < r.seeds_planned.unwrap_or(0)),
        shard: Some(shard),
        merged_from: Vec::new(),
        rows: out_rows,
    };
    write_outputs(&dir, &summary)?;
    Ok(report(&summary, &dir, done, total))
}

#[cfg(test)]
#[path = "campaign_tests.rs"]
mod tests;
