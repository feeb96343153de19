//! `faultline shrink HISTORY`: the smallest sub-history that the same
//! checkers still find invalid, with the same kind of anomaly (see
//! `checker::shrink`). Takes `faultline check`'s model and checker flags.

use crate::check::CheckArgs;
use anyhow::{bail, Context, Result};
use checker::checker::{merged_verdict, Budget};
use checker::checkers;
use checker::formats::{self, Format};
use checker::linearizability::ModelKind;
use checker::Verdict;
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
    let found = checker::shrink::shrink_judged(
        &history,
        &first,
        &options,
        &budget,
        args.any_anomaly,
        Some(Duration::from_secs_f64(args.time_limit)),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(found) = found else {
        bail!("only informational checkers found the history invalid: nothing to shrink");
    };
    let shrunk = &found.shrunk;
    // The file must not exist (as the run's history files).
    let out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = formats::jsonl::JsonlWriter::unflushed(out);
    for ev in &shrunk.history.events {
        w.write(ev)?;
    }
    w.flush()?;
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
    writeln!(
        err,
        "re-checked with {}: still invalid: {}",
        found.checker, found.what
    )?;
    if let Some(p) = &args.out {
        writeln!(err, "written to {}", p.display())?;
    }
    Ok(1)
}
