//! `faultline shrink HISTORY`: the smallest sub-history that the same
//! checkers still find invalid, with the same kind of anomaly (see
//! `checker::shrink`). Takes `faultline check`'s model and checker flags.

use crate::check::CheckArgs;
use anyhow::{bail, Context, Result};
use checker::checker::{merged_verdict, Budget, Judged};
use checker::checkers;
use checker::formats::{self, Format};
use checker::linearizability::ModelKind;
use checker::{History, Verdict};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ShrinkArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    /// Write the shrunk history here (faultline JSONL; the file must not
    /// exist). Default: print it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Stop searching after this many seconds and keep the smallest
    /// invalid history found (then it is not proven 1-minimal).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub time_limit: f64,
    /// Keep any invalid history, not only one with the same kind of
    /// anomaly as the original's first.
    #[arg(long)]
    pub any_anomaly: bool,
}

/// The (checker, part) of the anomaly the shrink keeps.
type Target = Option<(String, String)>;

fn shows(judged: &[Judged], target: &Target) -> bool {
    if merged_verdict(judged) != Verdict::Invalid {
        return false;
    }
    match target {
        None => true,
        Some((c, part)) => judged
            .iter()
            .filter(|j| &j.name == c)
            .any(|j| j.result.anomalies.iter().any(|a| &a.part == part)),
    }
}

pub fn run(args: &ShrinkArgs) -> i32 {
    match shrink(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            255
        }
    }
}

fn shrink(args: &ShrinkArgs) -> Result<i32> {
    let a = &args.check;
    if a.files.len() != 1 {
        bail!("shrink takes one history file, got {}", a.files.len());
    }
    if let Some(e) = a.flag_error() {
        bail!("{e}");
    }
    if !(args.time_limit.is_finite() && args.time_limit >= 0.0) {
        bail!("--time-limit: expected seconds, got {}", args.time_limit);
    }
    let path = &a.files[0];
    let format = a.format.as_deref().and_then(Format::parse_name);
    let (mut history, fmt) = formats::read_file(path, format)?;
    if !a.no_partition {
        // Jepsen `independent` tuples become keys, so whole keys can go.
        history.split_independent();
    }
    let mut names = a.checker_names();
    let mut options = a.options(Some(fmt));
    if names.is_empty() {
        names = vec!["linearizability".to_string()];
        // The model is fixed before ops are removed: a guess from what is
        // left could change it.
        if options.model.is_none() {
            options.model = Some(ModelKind::infer(&history.operations()?));
        }
    }
    if a.init.is_none() {
        if let Some(init) = &history.init {
            options.init = init.clone();
        }
    }
    let compose = checkers::compose(&names, &options).context("--checker")?;
    let budget = Budget {
        timeout: a.timeout.map(Duration::from_secs_f64),
        ..Budget::default()
    };
    let first = compose.check_each(&history, &budget);
    if merged_verdict(&first) != Verdict::Invalid {
        println!(
            "{}: {} under {}: nothing to shrink",
            path.display(),
            merged_verdict(&first).as_str(),
            names.join(", ")
        );
        return Ok(match merged_verdict(&first) {
            Verdict::Valid => 0,
            _ => 2,
        });
    }
    let anomaly = first.iter().find_map(|j| {
        j.result
            .anomalies
            .first()
            .map(|x| (j.name.clone(), x.clone()))
    });
    let target: Target = match (&anomaly, args.any_anomaly) {
        (Some((c, x)), false) => Some((c.clone(), x.part.clone())),
        _ => None,
    };
    let hint: Vec<u64> = anomaly
        .as_ref()
        .map(|(_, x)| x.ops.clone())
        .unwrap_or_default();
    // Register-like checks: a read keeps the write it saw, so the shrink
    // cannot trade a stale read for a value from nowhere.
    let registers = names
        .iter()
        .any(|n| n.starts_with("linearizability") || n.starts_with("consistency"));
    let rule = checker::shrink::reads_keep_their_writers(&history);
    let shrunk = checker::shrink::shrink(
        &history,
        |h: &History| (!registers || rule(h)) && shows(&compose.check_each(h, &budget), &target),
        &hint,
        Some(Duration::from_secs_f64(args.time_limit)),
    )?;
    // Proof: the result is checked once more, from scratch.
    let proof = compose.check_each(&shrunk.history, &budget);
    if !shows(&proof, &target) {
        bail!("internal error: the shrunk history is not invalid on a fresh check");
    }
    let what = proof
        .iter()
        .find_map(|j| {
            j.result
                .anomalies
                .first()
                .map(|x| format!("{}: {}", j.name, x.what))
        })
        .unwrap_or_else(|| "invalid".into());
    match &args.out {
        Some(p) => {
            let mut w = formats::jsonl::JsonlWriter::create(p)
                .with_context(|| format!("creating {}", p.display()))?;
            for ev in &shrunk.history.events {
                w.write(ev)?;
            }
            w.flush()?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            let mut w = formats::jsonl::JsonlWriter::unflushed(&mut out);
            for ev in &shrunk.history.events {
                w.write(ev)?;
            }
            w.flush()?;
        }
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{}: {} ops -> {} ops in {:.2} s ({} checks){}",
        path.display(),
        shrunk.ops_before,
        shrunk.ops_after,
        shrunk.seconds,
        shrunk.checks,
        if shrunk.one_minimal {
            "; 1-minimal: removing any one op makes it valid"
        } else {
            "; the time limit cut the search short: not proven 1-minimal"
        }
    )?;
    if let Some((c, part)) = &target {
        writeln!(err, "kept: the anomaly {c} {part}")?;
    }
    writeln!(err, "re-checked: {what}")?;
    if let Some(p) = &args.out {
        writeln!(err, "written to {}", p.display())?;
    }
    Ok(1)
}
