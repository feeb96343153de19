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
/// writes `results.json` (atomically) and `index.html`, and returns the
/// results with the error of the report, if it could not be written. The
/// history's run markers decide whether it is complete (see
/// [`completeness`]); an incomplete history is never `valid`.
pub fn check_run<S: AsRef<str>>(
    run_dir: &Path,
    names: &[S],
    timeout: Duration,
) -> Result<(RunResults, Option<String>)> {
    let start = Instant::now();
    // Every key is searched to its verdict (not only up to the first key
    // found not linearizable, as `faultline check` does by default): a
    // run's report lists every invalid key, and `first_anomaly` is the
    // earliest of them, not whichever key the parallel search finished
    // first (that made a run whose keys went wrong at 6 s report 32 s).
    let opts = Options {
        all_anomalies: true,
        ..Options::default()
    };
    let compose = checkers::compose(names, &opts).context("choosing the checkers")?;
    let path = run_dir.join("history.jsonl");
    let (history, _) =
        formats::read_file(&path, Some(Format::Jsonl)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let budget = Budget {
        timeout: Some(timeout),
        max_bytes: CHECK_MEMORY,
    };
    let judged = compose.check_each(&history, &budget);
    let (shrunk, shrinks) = shrink_counterexamples(run_dir, &history, &judged, &budget);
    let (interrupted, incomplete) = completeness(&history);
    let mut results = RunResults::assemble(
        judged,
        &history,
        &run_dir.display().to_string(),
        interrupted,
        start.elapsed().as_secs_f64(),
    );
    results.shrunk = shrunk;
    results.shrinks = shrinks;
    // The online check's findings, written by the run before its check.
    results.online = std::fs::read(run_dir.join("online.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(why) = incomplete {
        results.mark_incomplete(why);
    }
    super::store::write_json(&run_dir.join("results.json"), &results)?;
    let report = reports::render_run(run_dir)
        .err()
        .map(|e| format!("the report: {e}"));
    Ok((results, report))
}

/// How long a run's counterexamples are shrunk for, all of them together.
const SHRINK_SECONDS: u64 = 10;

/// Every invalid part of a run (each invalid key of a per-key checker,
/// each anomaly kind of the others: `checker::shrink::targets`) shrunk in
/// turn within one shared budget of [`SHRINK_SECONDS`]; the first shrunk
/// is written to `shrunk.jsonl` (what the report shows first), the others
/// to `shrunk-<n>.jsonl`. Returns the first shrunk and every part's
/// outcome (shrunk, or why not: the budget ran out, or shrinking failed).
fn shrink_counterexamples(
    run_dir: &Path,
    history: &checker::History,
    judged: &[checker::checker::Judged],
    budget: &Budget,
) -> (
    Option<checker::results::ShrunkSummary>,
    Vec<checker::results::ShrinkOutcome>,
) {
    use checker::results::ShrinkOutcome;
    let total = Duration::from_secs(SHRINK_SECONDS);
    let start = Instant::now();
    let targets = checker::shrink::targets(history, judged);
    let mut outcomes = Vec::new();
    let mut first = None;
    for t in &targets {
        let name = judged[t.checker].name.clone();
        let mut outcome = ShrinkOutcome {
            checker: name.split('#').next().unwrap_or(&name).to_string(),
            part: t.part.clone().unwrap_or_default(),
            key: t.key.clone(),
            shrunk: None,
            skipped: None,
        };
        let left = total.saturating_sub(start.elapsed());
        if left < Duration::from_millis(100) {
            outcome.skipped = Some(format!("the {SHRINK_SECONDS} s shrink budget ran out"));
            outcomes.push(outcome);
            continue;
        }
        let file = if first.is_none() {
            "shrunk.jsonl".to_string()
        } else {
            format!("shrunk-{}.jsonl", outcomes.len())
        };
        match shrink_one(run_dir, history, judged, t, budget, left, &file) {
            Ok(s) => {
                if first.is_none() {
                    first = Some(s.clone());
                }
                outcome.shrunk = Some(s);
            }
            Err(e) => {
                tracing::warn!("shrinking {}: {e}", outcome.checker);
                outcome.skipped = Some(e);
            }
        }
        outcomes.push(outcome);
    }
    (first, outcomes)
}

/// One target shrunk (`checker::shrink::shrink_target`) and written to
/// `file` in the run directory.
fn shrink_one(
    run_dir: &Path,
    history: &checker::History,
    judged: &[checker::checker::Judged],
    target: &checker::shrink::Target,
    budget: &Budget,
    left: Duration,
    file: &str,
) -> Result<checker::results::ShrunkSummary, String> {
    let found = checker::shrink::shrink_target(
        history,
        judged,
        target,
        &Options::default(),
        budget,
        Some(left),
    )?;
    let mut text = Vec::new();
    {
        let mut w = checker::formats::jsonl::JsonlWriter::unflushed(&mut text);
        for ev in &found.shrunk.history.events {
            w.write(ev).map_err(|e| e.to_string())?;
        }
    }
    super::store::write_atomic(&run_dir.join(file), &text)
        .map_err(|e| format!("writing {file}: {e}"))?;
    let s = &found.shrunk;
    Ok(checker::results::ShrunkSummary {
        file: file.into(),
        ops_before: s.ops_before,
        ops_after: s.ops_after,
        checks: s.checks,
        seconds: (s.seconds * 1e3).round() / 1e3,
        one_minimal: s.one_minimal,
        checker: found.checker,
        part: found.part,
        what: found.what,
        key: target.key.clone(),
    })
}

/// Whether a run's history is whole, from the markers the run driver
/// writes (process `harness`: `phase` main / final-heal / final-reads, then
/// `end` with `interrupted`): `(interrupted, why it is incomplete)`.
/// Incomplete: an empty history; no `end` marker (the harness crashed, was
/// SIGKILLed or its disk filled; or the run predates the markers); an
/// interrupted run; a run whose final heal or final reads are missing; no
/// client op at all.
pub fn completeness(h: &checker::History) -> (Option<bool>, Option<String>) {
    use checker::Process;
    if h.events.is_empty() {
        return (
            None,
            Some("the history is empty: the run recorded nothing".into()),
        );
    }
    let markers: Vec<&checker::Event> = h
        .events
        .iter()
        .filter(|e| matches!(&e.process, Process::Named(p) if p == super::store::HARNESS))
        .collect();
    let phases: Vec<&str> = markers
        .iter()
        .filter(|e| e.f == "phase")
        .filter_map(|e| e.value.as_str())
        .collect();
    let secs = |e: &checker::Event| e.time.unwrap_or(0) as f64 / 1e9;
    let last = h.events.last().map(secs).unwrap_or(0.0);
    let Some(end) = markers.iter().rev().find(|e| e.f == "end") else {
        let torn = if h.warnings.iter().any(|w| w.contains("torn")) {
            ", and its last line is torn"
        } else {
            ""
        };
        return (
            None,
            Some(format!(
                "the run did not finish: the history has no end marker{torn} (last phase {}, last event {last:.1} s into the run); the harness crashed, was killed or could not write, or the history was recorded before faultline wrote markers",
                phases.last().copied().unwrap_or("unknown")
            )),
        );
    };
    if end.value["interrupted"].as_bool() == Some(true) {
        if let Some(ff) = markers.iter().find(|e| e.f == "fail-fast") {
            return (
                Some(true),
                Some(format!(
                    "the run was ended early by --fail-fast {:.1} s into the run: {}",
                    secs(ff),
                    ff.value
                        .as_str()
                        .unwrap_or("the online check found a key not linearizable")
                )),
            );
        }
        let at = match end.value["phase"].as_str() {
            Some("start") => "while the cluster was starting, before any op".to_string(),
            _ => format!(
                "{:.1} s into the run, in phase {}",
                secs(end),
                phases.last().copied().unwrap_or("main")
            ),
        };
        return (
            Some(true),
            Some(format!(
                "the run was interrupted {at}: the history stops early"
            )),
        );
    }
    for phase in ["final-heal", "final-reads"] {
        if !phases.contains(&phase) {
            return (
                Some(false),
                Some(format!("the run ended without its {phase} phase")),
            );
        }
    }
    if !h.events.iter().any(|e| e.process.is_client()) {
        return (Some(false), Some("no client op was recorded".into()));
    }
    (Some(false), None)
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
    let timeout = Duration::from_secs_f64(timeout.clamp(0.001, super::spec::MAX_SECONDS));
    let (r, report) = check_run(run_dir, &checkers, timeout)?;
    let mut out = std::io::stdout().lock();
    print_table(&r, &mut out);
    Ok(exit_code(&r, report.as_deref()))
}

/// The exit code of a checked run: the verdict's (0 valid, 1 invalid, 2
/// unknown), or 255 when the report could not be written (said on stderr:
/// the verdict above still stands, but a reader of the run dir would find
/// no page).
pub fn exit_code(r: &RunResults, report_error: Option<&str>) -> i32 {
    match report_error {
        Some(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            255
        }
        None => r.verdict.exit_code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::Verdict;
    use serde_json::json;

    /// A run marker as the run driver writes it.
    fn marker(index: u64, f: &str, value: Value) -> Value {
        json!({"index": index, "time": index * 1_000_000, "process": "harness", "type": "info", "f": f, "value": value})
    }

    fn history_of(lines: &[Value]) -> checker::History {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        formats::parse(text.as_bytes(), "h.jsonl", Some(Format::Jsonl)).unwrap()
    }

    /// Every way a history can fall short of a whole run is named, and only
    /// a history with its final heal, final reads and end marker is whole.
    #[test]
    fn completeness_names_what_is_missing() {
        let op = |i: u64, ty: &str| json!({"index": i, "time": i, "process": 0, "type": ty, "f": "read", "value": null, "key": 1});
        let main = [
            marker(0, "phase", json!("main")),
            op(1, "invoke"),
            op(2, "ok"),
        ];
        let with = |extra: &[Value]| {
            let mut v = main.to_vec();
            v.extend_from_slice(extra);
            completeness(&history_of(&v))
        };
        let whole = with(&[
            marker(3, "phase", json!("final-heal")),
            marker(4, "phase", json!("final-reads")),
            marker(5, "end", json!({"interrupted": false})),
        ]);
        assert_eq!(whole, (Some(false), None));
        type Case = ((Option<bool>, Option<String>), &'static str);
        let cases: Vec<Case> = vec![
            (completeness(&history_of(&[])), "the history is empty"),
            (with(&[]), "no end marker (last phase main"),
            (
                with(&[marker(3, "phase", json!("final-heal"))]),
                "no end marker (last phase final-heal",
            ),
            (
                with(&[
                    marker(3, "phase", json!("final-heal")),
                    marker(4, "end", json!({"interrupted": true})),
                ]),
                "interrupted 0.0 s into the run, in phase final-heal",
            ),
            (
                with(&[
                    marker(3, "phase", json!("final-heal")),
                    marker(4, "end", json!({"interrupted": false})),
                ]),
                "without its final-reads phase",
            ),
            (
                completeness(&history_of(&[marker(
                    0,
                    "end",
                    json!({"interrupted": true, "phase": "start"}),
                )])),
                "while the cluster was starting",
            ),
            (
                completeness(&history_of(&[
                    marker(0, "phase", json!("main")),
                    marker(1, "phase", json!("final-heal")),
                    marker(2, "phase", json!("final-reads")),
                    marker(3, "end", json!({"interrupted": false})),
                ])),
                "no client op",
            ),
        ];
        for ((_, why), want) in cases {
            let why = why.unwrap_or_default();
            assert!(why.contains(want), "want {want:?} in {why:?}");
        }
    }

    /// `analyze` of an empty history, one cut in half and one cut inside a
    /// line: `unknown` (exit 2), never `valid`; `results.json` says why.
    #[test]
    fn analyze_never_calls_a_cut_history_valid() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("test.json"),
            json!({"checkers": super::super::judges::checkers_for("register", "raft")}).to_string(),
        )
        .unwrap();
        let mut lines = vec![marker(0, "phase", json!("main"))];
        for i in 0..20u64 {
            let t = 1 + 2 * i;
            lines.push(json!({"index": t, "time": t, "process": 0, "type": "invoke", "f": "write", "value": i, "key": 1}));
            lines.push(json!({"index": t + 1, "time": t + 1, "process": 0, "type": "ok", "f": "write", "value": i, "key": 1}));
        }
        let full: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let half = &full[..full.len() / 2];
        let cut_mid_line = half.rfind('\n').map(|i| &half[..i + 10]).unwrap();
        for (what, text) in [("empty", ""), ("cut in half", half), ("torn", cut_mid_line)] {
            std::fs::write(d.path().join("history.jsonl"), text).unwrap();
            let code = analyze(d.path()).unwrap();
            assert_eq!(code, 2, "{what}");
            let r = RunResults::read(&d.path().join("results.json")).unwrap();
            assert_eq!(r.verdict, Verdict::Unknown, "{what}");
            assert!(r.incomplete.is_some(), "{what}");
        }
        // No temp file is left beside results.json or index.html.
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    fn write_history(dir: &Path, lines: &[Value]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join("history.jsonl"), text).unwrap();
    }

    /// Many keys go wrong late and one early: the run's check searches every
    /// key (not only up to the first invalid one), so the early one is the
    /// first anomaly and every invalid key is reported.
    #[test]
    fn a_runs_first_anomaly_is_the_earliest_of_every_invalid_key() {
        let d = tempfile::tempdir().unwrap();
        let s = 1_000_000_000i64;
        let mut lines = Vec::new();
        let mut i = 0u64;
        let mut op = |lines: &mut Vec<Value>, t: i64, p: u64, f: &str, v: Value, key: u64| {
            let invoke_value = if f == "read" { Value::Null } else { v.clone() };
            lines.push(json!({"index": i, "time": t, "process": p, "type": "invoke", "f": f, "value": invoke_value, "key": key}));
            lines.push(json!({"index": i + 1, "time": t + 10, "process": p, "type": "ok", "f": f, "value": v, "key": key}));
            i += 2;
        };
        // Keys 1..=40: a stale read at 20 s + key; key 41: one at 3 s.
        for key in (1..=41u64).rev() {
            let t = if key == 41 { 1 } else { 18 + key as i64 };
            // Two processes of each key's own (a process has one op open).
            op(&mut lines, t * s, 2 * key, "write", json!(1), key);
            op(&mut lines, (t + 1) * s, 2 * key, "write", json!(2), key);
            op(&mut lines, (t + 2) * s, 2 * key + 1, "read", json!(1), key);
        }
        lines.sort_by_key(|l| l["time"].as_i64().unwrap());
        for (n, l) in lines.iter_mut().enumerate() {
            l["index"] = json!(n);
        }
        write_history(d.path(), &lines);
        let names = super::super::judges::checkers_for("register", "raft");
        let (r, _) = check_run(d.path(), &names, Duration::from_secs(20)).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.to_json_pretty());
        let a = r.first_anomaly.clone().expect("a first anomaly");
        assert_eq!(a.seconds, 2.0, "{a:?}");
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("results.json")).unwrap()).unwrap();
        let lin = &on_disk["workload"];
        assert!(lin["counterexample"].is_object(), "{lin:#}");
        let more = lin["more_counterexamples"].as_array().map(Vec::len);
        assert_eq!(more, Some(40), "every invalid key is reported");
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
                json!({"index": 6, "time": 5 * s, "process": 2, "type": "invoke", "f": "write", "value": 7, "key": 2}),
                json!({"index": 7, "time": 5 * s + 10, "process": 2, "type": "ok", "f": "write", "value": 7, "key": 2}),
            ],
        );
        let names = super::super::judges::checkers_for("register", "raft");
        let (r, report) = check_run(d.path(), &names, Duration::from_secs(10)).unwrap();
        assert_eq!(report, None);
        // No run markers: incomplete, but an anomaly stays an anomaly.
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(
            r.incomplete.as_deref().unwrap().contains("no end marker"),
            "{:?}",
            r.incomplete
        );
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
        // The counterexample is shrunk: the other key's write goes, the
        // stale read keeps both writes (the one it saw, the one it missed).
        let sh = r.shrunk.as_ref().expect("a shrunk counterexample");
        assert_eq!((sh.ops_before, sh.ops_after, sh.one_minimal), (4, 3, true));
        let text = std::fs::read_to_string(d.path().join("shrunk.jsonl")).unwrap();
        let idx: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["index"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(idx, [0, 1, 2, 3, 4, 5]);
        let page = std::fs::read_to_string(d.path().join("index.html")).unwrap();
        assert!(page.contains("Shrunk counterexample"));
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
        let mut complete = lines.clone();
        for (i, (f, v)) in [
            ("phase", json!("final-heal")),
            ("phase", json!("final-reads")),
            ("end", json!({"interrupted": false})),
        ]
        .into_iter()
        .enumerate()
        {
            complete.push(marker(100 + i as u64, f, v));
        }
        write_history(d.path(), &complete);
        let names = super::super::judges::checkers_for("queue", "raft");
        let (r, _) = check_run(d.path(), &names, Duration::from_secs(10)).unwrap();
        assert_eq!(r.verdict, Verdict::Valid);
        assert_eq!(r.incomplete, None);
        // The same run, interrupted: unknown, and the table says why.
        lines.push(marker(100, "phase", json!("final-heal")));
        lines.push(marker(101, "end", json!({"interrupted": true})));
        write_history(d.path(), &lines);
        let (r, _) = check_run(d.path(), &names, Duration::from_secs(10)).unwrap();
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.interrupted, Some(true));
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
        assert!(out.contains("incomplete the run was interrupted"), "{out}");
        // Unknown checker names fail before anything is read.
        let e = check_run(d.path(), &["bank-robbery"], Duration::from_secs(1)).unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown checker `bank-robbery`"),
            "{e:#}"
        );
    }
}
