//! Checking a stored run: the named checkers over `history.jsonl`, op
//! statistics, `results.json` and the HTML report. Shared by `faultline
//! test` (after the run) and `faultline analyze <run-dir>` (from disk).
//!
//! Nothing here knows workloads: the caller names the checkers (see
//! [`super::judges`]), the checker crate runs them
//! (`checker::checkers::compose`), and `checker::results::RunResults`
//! assembles `results.json` from what they say.

mod table;

pub use table::print_table;

use anyhow::{Context, Result};
use checker::checker::Budget;
use checker::checkers::{self, Options};
use checker::formats::{self, Format};
use checker::results::RunResults;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Approximate memory all the checks of one run may use together (each
/// checker gets an equal share).
pub const CHECK_MEMORY: usize = 6 << 30;

/// Checks `run_dir/history.jsonl` with the checkers `names` (registry
/// names, e.g. `linearizability:cas-register`), each within `timeout`;
/// writes `results.json` and `index.html` and returns the results.
pub fn check_run<S: AsRef<str>>(
    run_dir: &Path,
    names: &[S],
    timeout: Duration,
    interrupted: Option<bool>,
) -> Result<RunResults> {
    let start = Instant::now();
    let compose = checkers::compose(names, &Options::default()).context("choosing the checkers")?;
    let path = run_dir.join("history.jsonl");
    let (history, _) =
        formats::read_file(&path, Some(Format::Jsonl)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let budget = Budget {
        timeout: Some(timeout),
        max_bytes: CHECK_MEMORY,
    };
    let judged = compose.check_each(&history, &budget);
    let results = RunResults::assemble(
        judged,
        &history,
        &run_dir.display().to_string(),
        interrupted,
        start.elapsed().as_secs_f64(),
    );
    super::store::write_json(&run_dir.join("results.json"), &results)?;
    // The HTML report; a failure to write it is logged and changes nothing
    // about the verdict.
    if let Err(e) = reports::render_run(run_dir) {
        tracing::warn!("report not written: {e}");
    }
    Ok(results)
}

/// `faultline analyze <run-dir>`: re-checks a stored run with the checkers
/// of its workload and level (from `test.json`); returns the exit code.
pub fn analyze(run_dir: &Path) -> Result<i32> {
    let test_json = run_dir.join("test.json");
    let test: Value = std::fs::read(&test_json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .with_context(|| {
            format!(
                "{}: cannot read the test description (is this a run directory?)",
                test_json.display()
            )
        })?;
    // The checkers the run named (its workload's); a run recorded before
    // test.json named them is judged by its workload and level.
    let named: Option<Vec<String>> = test["checkers"].as_array().map(|a| {
        a.iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect()
    });
    let checkers = named.unwrap_or_else(|| {
        let workload = test["spec"]["workload"].as_str().unwrap_or("register");
        let level = test["spec"]["level"].as_str().unwrap_or_default();
        super::judges::checkers_for(workload, level)
    });
    let timeout = test["spec"]["check_timeout"].as_f64().unwrap_or(300.0);
    // A run that ended early says so in its results; keep that.
    let interrupted = RunResults::read(&run_dir.join("results.json"))
        .ok()
        .and_then(|r| r.interrupted);
    let r = check_run(
        run_dir,
        &checkers,
        Duration::from_secs_f64(timeout),
        interrupted,
    )?;
    let mut out = std::io::stdout().lock();
    print_table(&r, &mut out);
    Ok(r.verdict.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::Verdict;
    use serde_json::json;

    fn write_history(dir: &Path, lines: &[Value]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join("history.jsonl"), text).unwrap();
    }

    #[test]
    fn check_run_writes_first_anomaly_for_a_stale_read() {
        let d = tempfile::tempdir().unwrap();
        let s = 1_000_000_000i64;
        let ev = |i: u64, t: i64, p: u64, ty: &str, f: &str, v: Value| json!({"index": i, "time": t, "process": p, "type": ty, "f": f, "value": v, "key": 1});
        write_history(
            d.path(),
            &[
                ev(0, s, 0, "invoke", "write", json!(1)),
                ev(1, s + 10, 0, "ok", "write", json!(1)),
                ev(2, 2 * s, 0, "invoke", "write", json!(2)),
                ev(3, 2 * s + 10, 0, "ok", "write", json!(2)),
                ev(4, 4 * s, 1, "invoke", "read", Value::Null),
                ev(5, 4 * s + 10, 1, "ok", "read", json!(1)),
            ],
        );
        let names = super::super::judges::checkers_for("register", "raft");
        let r = check_run(d.path(), &names, Duration::from_secs(10), None).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let a = r.first_anomaly.clone().expect("a first anomaly");
        assert_eq!((a.index, a.seconds), (4, 3.0), "{a:?}");
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("results.json")).unwrap()).unwrap();
        assert_eq!(on_disk["first_anomaly"]["index"], 4);
        assert_eq!(on_disk["workload"]["checker"], "linearizability");
        assert_eq!(on_disk["consistency"]["linearizable"], "invalid");
        assert_eq!(on_disk["checkers"]["consistency"]["informational"], true);
        let mut out = Vec::new();
        print_table(&r, &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("first anomaly  3.0 s into the run (history index 4): "),
            "{out}"
        );
        assert!(out.contains("✗ linearizable"), "{out}");
        assert!(out.ends_with("verdict    INVALID\n"), "{out}");
    }

    #[test]
    fn a_queue_run_prints_its_checkers_and_keeps_the_fifo_pass_informational() {
        let d = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        // Out of FIFO order, but every element delivered once.
        for (i, (f, inv, ok)) in [
            ("enqueue", json!(1), json!(1)),
            ("enqueue", json!(2), json!(2)),
            ("dequeue", Value::Null, json!(2)),
            ("dequeue", Value::Null, json!(1)),
        ]
        .into_iter()
        .enumerate()
        {
            let i = i as u64;
            lines.push(
                json!({"index": 2 * i, "time": 2 * i, "process": 0, "type": "invoke",
                              "f": f, "value": inv, "key": "q"}),
            );
            lines.push(
                json!({"index": 2 * i + 1, "time": 2 * i + 1, "process": 0, "type": "ok",
                              "f": f, "value": ok, "key": "q"}),
            );
        }
        write_history(d.path(), &lines);
        let names = super::super::judges::checkers_for("queue", "raft");
        let r = check_run(d.path(), &names, Duration::from_secs(10), Some(true)).unwrap();
        assert_eq!(r.verdict, Verdict::Valid);
        assert_eq!(r.first_anomaly, None);
        assert_eq!(r.details("fifo-queue").unwrap()["verdict"], "invalid");
        let mut out = Vec::new();
        print_table(&r, &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("checker    total-queue (at-least-once)"),
            "{out}"
        );
        assert!(
            out.contains("fifo       invalid (informational, not part of the verdict)"),
            "{out}"
        );
        assert!(out.contains("interrupted"), "{out}");
        // Unknown checker names fail before anything is read.
        let e = check_run(d.path(), &["bank-robbery"], Duration::from_secs(1), None).unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown checker `bank-robbery`"),
            "{e:#}"
        );
    }
}
