//! `faultline check`: run the linearizability checker over history files.

use checker::formats::{self, Format};
use checker::linearizability::{LinOptions, LinResult, ModelKind};
use checker::{InputError, Verdict};
use rayon::prelude::*;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// History files: faultline JSONL, Jepsen EDN, Porcupine etcd or kv logs.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The file format (default: detected from the content).
    #[arg(long, value_parser = ["jsonl", "edn", "porcupine-etcd", "porcupine-kv"])]
    pub format: Option<String>,
    /// The model (default: cas-register for Porcupine etcd logs, kv for
    /// Porcupine kv logs, otherwise guessed from the operation names).
    #[arg(long, value_parser = ["register", "cas-register", "kv", "multi-register", "mutex", "set", "fifo-queue", "unordered-queue"])]
    pub model: Option<String>,
    /// Check the whole history as one state instead of splitting it by key.
    #[arg(long)]
    pub no_partition: bool,
    /// What a failed cas means: `drop` (it did not happen; Jepsen) or
    /// `observe` (the value was not the expected one; Porcupine's etcd
    /// model). Default: observe for Porcupine etcd logs, drop otherwise.
    #[arg(long, value_parser = ["drop", "observe"])]
    pub fail_cas: Option<String>,
    /// Time budget per file, in seconds; past it the verdict is unknown.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Memory budget for the search, in MiB, shared by the files checked at
    /// once; past it the verdict is unknown.
    #[arg(long, value_name = "MIB", default_value_t = 8192)]
    pub max_memory: usize,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Print each counterexample in full under the table.
    #[arg(long, short = 'v')]
    pub explain: bool,
}

#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'static str>,
    /// valid | invalid | unknown | error
    verdict: &'static str,
    ops: usize,
    seconds: f64,
    #[serde(skip)]
    result: Option<LinResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partitions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checked_ops: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counterexample: Option<checker::linearizability::Counterexample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<checker::linearizability::SearchStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<InputError>,
    /// The error as one line of text.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

fn check_one(path: &PathBuf, args: &CheckArgs, budget: usize) -> FileReport {
    let start = Instant::now();
    let file = path.display().to_string();
    let mut rep = FileReport {
        file: file.clone(),
        format: None,
        model: None,
        verdict: "error",
        ops: 0,
        seconds: 0.0,
        result: None,
        partitions: None,
        checked_ops: None,
        reason: None,
        counterexample: None,
        stats: None,
        error: None,
        message: None,
        warnings: Vec::new(),
    };
    let format = args.format.as_deref().and_then(Format::parse_name);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (history, fmt) = formats::read_file(path, format)?;
        let ops = history.operations()?;
        let model = match args.model.as_deref().and_then(ModelKind::parse) {
            Some(m) => m,
            None => match fmt {
                Format::PorcupineEtcd => ModelKind::CasRegister,
                Format::PorcupineKv => ModelKind::Kv,
                _ => ModelKind::infer(&ops),
            },
        };
        let fail_cas_observes = match args.fail_cas.as_deref() {
            Some(v) => v == "observe",
            None => fmt == Format::PorcupineEtcd,
        };
        let opts = LinOptions {
            model,
            partition: !args.no_partition,
            fail_cas_observes,
            timeout: args.timeout.map(Duration::from_secs_f64),
            max_bytes: budget,
            ..Default::default()
        };
        let r = checker::check_linearizability(&ops, &opts, &file)?;
        Ok::<_, InputError>((fmt, history.warnings, r))
    }));
    match outcome {
        Ok(Ok((fmt, warnings, r))) => {
            rep.format = Some(fmt.name());
            rep.model = Some(r.model);
            rep.verdict = r.verdict.as_str();
            rep.ops = r.ops;
            rep.warnings = warnings;
            rep.partitions = Some(r.partitions);
            rep.checked_ops = Some(r.checked_ops);
            rep.reason = r.reason.clone();
            rep.counterexample = r.counterexample.clone();
            rep.stats = Some(r.stats);
            rep.result = Some(r);
        }
        Ok(Err(e)) => rep.error = Some(e),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            rep.error = Some(InputError::new(
                &file,
                0,
                None,
                format!("internal error: the checker panicked: {msg}"),
            ));
        }
    }
    rep.message = rep.error.as_ref().map(|e| e.to_string());
    rep.seconds = start.elapsed().as_secs_f64();
    rep
}

/// Runs the command; returns the exit code.
pub fn run(args: &CheckArgs) -> i32 {
    let start = Instant::now();
    let parallel = args.files.len().min(rayon::current_num_threads()).max(1);
    let budget = (args.max_memory << 20) / parallel;
    let reports: Vec<FileReport> = args
        .files
        .par_iter()
        .map(|p| check_one(p, args, budget))
        .collect();
    let count = |v: &str| reports.iter().filter(|r| r.verdict == v).count();
    let (valid, invalid, unknown, errors) = (
        count("valid"),
        count("invalid"),
        count("unknown"),
        count("error"),
    );
    let code = if errors > 0 {
        255
    } else if invalid > 0 {
        Verdict::Invalid.exit_code()
    } else if unknown > 0 {
        Verdict::Unknown.exit_code()
    } else {
        0
    };
    let total = start.elapsed().as_secs_f64();
    for r in &reports {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        if let Some(e) = &r.error {
            eprintln!("error: {e}");
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let doc = serde_json::json!({
            "files": reports,
            "summary": {"files": reports.len(), "valid": valid, "invalid": invalid, "unknown": unknown, "errors": errors, "seconds": total, "exit": code},
        });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
        return code;
    }
    let width = reports
        .iter()
        .map(|r| r.file.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:<8}  {:>9}",
        "file", "ops", "verdict", "seconds"
    );
    for r in &reports {
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:<8}  {:>9.3}",
            r.file, r.ops, r.verdict, r.seconds
        );
    }
    let _ = writeln!(
        out,
        "{} files: {valid} valid, {invalid} invalid, {unknown} unknown, {errors} errors in {total:.3} s",
        reports.len()
    );
    for r in &reports {
        if let Some(res) = &r.result {
            if let Some(reason) = &res.reason {
                let _ = writeln!(out, "\n{}: unknown: {reason}", r.file);
            }
            if let Some(cx) = &res.counterexample {
                let _ = writeln!(out, "\n{}: {}", r.file, cx.explanation);
                if args.explain {
                    let _ = write!(out, "{}", describe_counterexample(cx));
                }
            }
        }
    }
    code
}

/// The counterexample as indented text.
pub fn describe_counterexample(cx: &checker::linearizability::Counterexample) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let shown = 20;
    let skip = cx.linearized.len().saturating_sub(shown);
    let _ = writeln!(
        s,
        "  longest linearizable prefix ({} ops):",
        cx.linearized.len()
    );
    if skip > 0 {
        let _ = writeln!(s, "    ... {skip} earlier ops");
    }
    for st in &cx.linearized[skip..] {
        let _ = writeln!(
            s,
            "    process {:<6} {:<28} -> state {}",
            st.op.process.to_string(),
            st.op.description,
            st.state_after
        );
    }
    let _ = writeln!(s, "  state: {}", cx.state);
    let _ = writeln!(
        s,
        "  could not linearize: process {} {} (index {}, line {})",
        cx.op.process,
        cx.op.description,
        cx.op.complete_index.unwrap_or(cx.op.invoke_index),
        cx.op.complete_line
    );
    let _ = writeln!(s, "  candidates for the next step:");
    for c in &cx.candidates {
        let _ = writeln!(
            s,
            "    process {:<6} {:<28} {}",
            c.op.process.to_string(),
            c.op.description,
            c.reason
        );
    }
    s
}
