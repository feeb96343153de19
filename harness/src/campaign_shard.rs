//! Sharding and merging of campaigns: `plan.json` (the whole plan, every
//! (row, seed) unit with its shard), `--shard I/N`, and
//! `faultline campaign merge DIR...`. See docs/campaigns.md.

use super::{
    columns, load_outcome, report, safe, test_args, write_outputs, CampaignSummary, MergeArgs,
    MergedShard, Planned, RowBuilder, RunRef, ShardInfo,
};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// `--shard I/N`.
pub(super) fn parse_shard(s: &str) -> std::result::Result<ShardInfo, String> {
    let bad = || format!("`{s}`: expected I/N with 1 ≤ I ≤ N, e.g. 3/8");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let i: usize = i.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok(ShardInfo { index: i, count: n })
}

/// `plan.json`: the whole plan of a campaign (every row, every (row, seed)
/// unit with its exact `faultline test` arguments and shard) and which
/// shard this directory ran. `merge` joins only shards whose
/// `fingerprint` (a hash of name, rows and units, not of the shard) and
/// shard count agree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PlanFile {
    pub(super) format: u32,
    pub(super) name: String,
    /// The campaign file as given, and its content.
    pub(super) file: String,
    pub(super) file_content: String,
    pub(super) fingerprint: String,
    pub(super) shard: ShardInfo,
    /// Arguments every run got that are local to the machine and do not
    /// change what is tested (`--bin-dir`, `--keep-data`); not part of
    /// the fingerprint.
    #[serde(default)]
    pub(super) local_args: Vec<String>,
    pub(super) rows: Vec<Planned>,
    pub(super) units: Vec<Unit>,
}

/// One (row, seed) of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Unit {
    /// Its place in plan order (rows in file order, seeds in order).
    pub(super) unit: usize,
    pub(super) row: String,
    pub(super) seed: u64,
    /// The shard (1-based) that runs it: `unit mod N + 1`.
    pub(super) shard: usize,
    /// `faultline test` arguments; `--store` is relative to the campaign
    /// directory.
    pub(super) args: Vec<String>,
}

/// The store directory of one run, relative to the campaign directory.
pub(super) fn unit_store(row_id: &str, seed: u64) -> PathBuf {
    Path::new("runs")
        .join(safe(row_id))
        .join(format!("seed-{seed}"))
}

/// The plan's units in plan order, each given to its shard of `count`.
fn units(rows: &[Planned], count: usize) -> Vec<Unit> {
    let mut out = Vec::new();
    for r in rows {
        for &seed in &r.seeds {
            let k = out.len();
            out.push(Unit {
                unit: k,
                row: r.id.clone(),
                seed,
                shard: k % count.max(1) + 1,
                args: test_args(r, seed, &unit_store(&r.id, seed), None, &[])
                    .into_iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
            });
        }
    }
    out
}

/// 64-bit FNV-1a, in hex: a stable fingerprint (not a defence against
/// forgery; it tells plans apart).
fn fnv64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl PlanFile {
    pub(super) fn new(
        name: &str,
        file: &Path,
        content: String,
        rows: &[Planned],
        shard: ShardInfo,
    ) -> PlanFile {
        let units = units(rows, shard.count);
        let ident: Vec<(&str, u64, &[String])> = units
            .iter()
            .map(|u| (u.row.as_str(), u.seed, u.args.as_slice()))
            .collect();
        let canon = serde_json::to_string(&(name, rows, ident)).unwrap_or_default();
        PlanFile {
            format: 1,
            name: name.to_string(),
            file: file.display().to_string(),
            file_content: content,
            fingerprint: fnv64(canon.as_bytes()),
            shard,
            local_args: Vec::new(),
            rows: rows.to_vec(),
            units,
        }
    }
}

/// One shard directory given to `merge`.
pub(super) struct ShardDir {
    pub(super) dir: PathBuf,
    pub(super) plan: PlanFile,
    pub(super) summary: CampaignSummary,
}

pub(super) fn read_shard_dir(dir: &Path) -> Result<ShardDir> {
    let read = |f: &str| -> Result<Vec<u8>> {
        std::fs::read(dir.join(f)).with_context(|| {
            format!(
                "{}: cannot read {f} (is it a campaign directory written by `faultline campaign`?)",
                dir.display()
            )
        })
    };
    let plan: PlanFile = serde_json::from_slice(&read("plan.json")?)
        .with_context(|| format!("{}: plan.json", dir.join("plan.json").display()))?;
    let summary: CampaignSummary = serde_json::from_slice(&read("summary.json")?)
        .with_context(|| format!("{}: summary.json", dir.join("summary.json").display()))?;
    Ok(ShardDir {
        dir: dir.to_path_buf(),
        plan,
        summary,
    })
}

/// `faultline campaign merge DIR... [--out DIR]`.
pub(super) fn merge(m: &MergeArgs) -> Result<i32> {
    let t0 = Instant::now();
    let shards: Vec<ShardDir> = m
        .dirs
        .iter()
        .map(|d| read_shard_dir(d))
        .collect::<Result<_>>()?;
    let out = match &m.out {
        Some(o) => o.clone(),
        None => {
            let name = &shards[0].plan.name;
            let ts = crate::run::store::timestamp(SystemTime::now());
            m.store
                .join("campaigns")
                .join(safe(name))
                .join(format!("{ts}-merged"))
        }
    };
    let (summary, runs) = merge_into(&shards, &out)?;
    eprintln!(
        "merged {} shard(s), {runs} runs, in {:.1} s -> {}",
        shards.len(),
        t0.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(report(&summary, &out, runs, runs))
}

/// Checks that `shards` are distinct shards of one plan, links their runs
/// into `out`, rebuilds every row and writes the merged summary, page and
/// JUnit. Returns the summary and the number of runs merged.
pub(super) fn merge_into(shards: &[ShardDir], out: &Path) -> Result<(CampaignSummary, usize)> {
    let Some(first) = shards.first() else {
        bail!("merge: no shard directory given");
    };
    let name_of = |s: &ShardDir| s.dir.display().to_string();
    for s in &shards[1..] {
        if s.plan.fingerprint != first.plan.fingerprint || s.plan.rows != first.plan.rows {
            bail!(
                "{} and {} are shards of different plans (campaign `{}` plan {} vs campaign `{}` plan {}): merge only the shards of one `faultline campaign FILE --shard I/N` (same file, same --seeds/--time-limit/--filter)",
                name_of(first),
                name_of(s),
                first.plan.name,
                first.plan.fingerprint,
                s.plan.name,
                s.plan.fingerprint
            );
        }
        if s.plan.shard.count != first.plan.shard.count {
            bail!(
                "{} is shard {} of {} but {} is shard {} of {}: the shards of one merge must split the plan the same number of ways",
                name_of(first),
                first.plan.shard.index,
                first.plan.shard.count,
                name_of(s),
                s.plan.shard.index,
                s.plan.shard.count
            );
        }
    }
    for (i, a) in shards.iter().enumerate() {
        if let Some(b) = shards[..i].iter().find(|b| b.plan.shard == a.plan.shard) {
            bail!(
                "{} and {} are both shard {} of {}: give each shard once",
                name_of(b),
                name_of(a),
                a.plan.shard.index,
                a.plan.shard.count
            );
        }
    }
    let plan = &first.plan;
    // (row id, seed) -> (shard, its run), checking that every run is a
    // unit of the plan that belongs to the shard that ran it, run once.
    let mut got: std::collections::HashMap<(String, u64), (usize, RunRef)> =
        std::collections::HashMap::new();
    for (si, s) in shards.iter().enumerate() {
        for r in &s.summary.rows {
            for run in &r.runs {
                let Some(u) = plan
                    .units
                    .iter()
                    .find(|u| u.row == r.id && u.seed == run.seed)
                else {
                    bail!(
                        "{}: summary.json has seed {} of row {}, which is not in the plan",
                        name_of(s),
                        run.seed,
                        r.id
                    );
                };
                if u.shard != s.plan.shard.index {
                    bail!(
                        "{}: summary.json has seed {} of row {}, which the plan gives to shard {} (this is shard {})",
                        name_of(s),
                        run.seed,
                        r.id,
                        u.shard,
                        s.plan.shard.index
                    );
                }
                if let Some((other, _)) = got.get(&(r.id.clone(), run.seed)) {
                    bail!(
                        "seed {} of row {} was run twice: in {} and in {}",
                        run.seed,
                        r.id,
                        name_of(&shards[*other]),
                        name_of(s)
                    );
                }
                got.insert((r.id.clone(), run.seed), (si, run.clone()));
            }
        }
    }
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{}: exists and is not empty; merge into a new directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for s in shards {
        let runs = s.dir.join("runs");
        if runs.exists() {
            link_tree(&runs, &out.join("runs"))?;
        }
    }
    // The merged directory is a whole campaign: shard 1 of 1 (its
    // summary's `merged_from` says which shards it came from).
    let mut merged_plan = plan.clone();
    merged_plan.shard = ShardInfo { index: 1, count: 1 };
    for u in &mut merged_plan.units {
        u.shard = 1;
    }
    crate::run::store::write_json(&out.join("plan.json"), &merged_plan)?;
    let present: Vec<usize> = shards.iter().map(|s| s.plan.shard.index).collect();
    let mut rows = Vec::new();
    let mut n_runs = 0;
    for p in &plan.rows {
        let mut b = RowBuilder::new(p);
        let mut missing = Vec::new();
        for &seed in &p.seeds {
            match got.get(&(p.id.clone(), seed)) {
                Some((_, run)) => {
                    let dir = run.dir.as_ref().map(|d| out.join(d));
                    b.add(load_outcome(run.clone(), dir));
                    n_runs += 1;
                }
                None => missing.push(seed),
            }
        }
        let not_judged = (!missing.is_empty()).then(|| {
            let mut lost_shards: Vec<usize> = plan
                .units
                .iter()
                .filter(|u| u.row == p.id && missing.contains(&u.seed))
                .map(|u| u.shard)
                .collect();
            lost_shards.sort();
            lost_shards.dedup();
            let absent: Vec<String> = lost_shards
                .iter()
                .filter(|s| !present.contains(s))
                .map(|s| s.to_string())
                .collect();
            let why = if absent.is_empty() {
                "their shards did not run them (interrupted)".to_string()
            } else {
                format!(
                    "shard(s) {} of {} not merged",
                    absent.join(", "),
                    plan.shard.count
                )
            };
            format!(
                "not judged: {} of {} seeds (missing seed(s) {}: {why})",
                p.seeds.len() - missing.len(),
                p.seeds.len(),
                missing
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        rows.push(b.finish(p, not_judged));
    }
    let mut merged_from: Vec<MergedShard> = shards
        .iter()
        .map(|s| MergedShard {
            dir: name_of(s),
            shard: s.plan.shard,
            started: s.summary.started.clone(),
            wall_seconds: s.summary.wall_seconds,
            runs: s.summary.rows.iter().map(|r| r.runs.len()).sum(),
        })
        .collect();
    merged_from.sort_by_key(|m| m.shard.index);
    let summary = CampaignSummary {
        name: plan.name.clone(),
        started: shards
            .iter()
            .map(|s| s.summary.started.clone())
            .min()
            .unwrap_or_default(),
        // The shards ran side by side: the longest one.
        wall_seconds: shards
            .iter()
            .map(|s| s.summary.wall_seconds)
            .fold(0.0, f64::max),
        columns: columns(&rows),
        ok: rows.iter().all(|r| r.expect_ok != Some(false)),
        interrupted: shards.iter().any(|s| s.summary.interrupted),
        incomplete: rows
            .iter()
            .any(|r| r.runs.len() < r.seeds_planned.unwrap_or(0)),
        shard: None,
        merged_from,
        rows,
    };
    write_outputs(out, &summary)?;
    Ok((summary, n_runs))
}

/// Recreates the tree `from` under `to`: directories made, files
/// hard-linked (copied when a link is impossible, e.g. across file
/// systems), symlinks recreated as they are (a run's `latest` is
/// relative). A file that already exists is an error: two shards wrote
/// the same run.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e.with_context(|| format!("reading {}", from.display()))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ty = e
            .file_type()
            .with_context(|| format!("reading {}", src.display()))?;
        if ty.is_dir() {
            link_tree(&src, &dst)?;
        } else if dst.symlink_metadata().is_ok() {
            bail!(
                "{} exists already (copying {}): two shards hold the same run",
                dst.display(),
                src.display()
            );
        } else if ty.is_symlink() {
            let target = std::fs::read_link(&src)
                .with_context(|| format!("reading the link {}", src.display()))?;
            std::os::unix::fs::symlink(&target, &dst)
                .with_context(|| format!("creating the link {}", dst.display()))?;
        } else if ty.is_file() && std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
        // Sockets and fifos (a node's leftovers) are not results.
    }
    Ok(())
}
