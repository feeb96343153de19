//! Checking a stored run: the workload's checker over `history.jsonl` plus
//! op statistics; `results.json` and the verdict table. Shared by `faultline
//! test` (after the run) and `faultline analyze <run-dir>` (from disk).

use anyhow::{Context, Result};
use checker::consistency::{ConsistencyOptions, Model};
use checker::formats::{self, Format};
use checker::history::{EventType, Process};
use checker::linearizability::{LinOptions, LinResult, ModelKind};
use checker::Verdict;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// ok / fail / info counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tally {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Client ops (completed or not).
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub by_f: BTreeMap<String, Tally>,
    /// Nemesis ops by `f` (kill, start, pause, resume).
    pub nemesis: BTreeMap<String, u64>,
    /// Seconds from the first to the last event.
    pub seconds: f64,
    /// Client ops per second over the run.
    pub ops_per_sec: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub verdict: Verdict,
    pub valid: Value,
    pub run_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<bool>,
    pub stats: Stats,
    /// The workload's checker.
    pub workload: Value,
    /// Where the history sits on the single-object consistency hierarchy
    /// (register workload): `consistency`, `measures`, `witnesses`,
    /// `reasons`, `summary` (the checker's object, flattened in), or
    /// `consistency-error`.
    #[serde(flatten)]
    pub consistency: serde_json::Map<String, Value>,
    pub check_seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The model that checks a workload's history.
pub fn model_for(workload: &str) -> ModelKind {
    match workload {
        "queue" => ModelKind::FifoQueue,
        "lock" => ModelKind::Mutex,
        _ => ModelKind::CasRegister,
    }
}

/// Checks `run_dir/history.jsonl` for `workload`.
pub fn check_run(
    run_dir: &Path,
    workload: &str,
    timeout: Duration,
    interrupted: Option<bool>,
) -> Result<Results> {
    let start = Instant::now();
    let path = run_dir.join("history.jsonl");
    let (history, _) =
        formats::read_file(&path, Some(Format::Jsonl)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut by_f: BTreeMap<String, Tally> = BTreeMap::new();
    let mut nemesis: BTreeMap<String, u64> = BTreeMap::new();
    let (mut ops, mut ok, mut fail, mut info) = (0, 0, 0, 0);
    for ev in &history.events {
        match (&ev.process, ev.kind) {
            (Process::Named(_), EventType::Invoke) => {
                *nemesis.entry(ev.f.clone()).or_default() += 1
            }
            (Process::Named(_), _) => {}
            (Process::Client(_), EventType::Invoke) => ops += 1,
            (Process::Client(_), k) => {
                let t = by_f.entry(ev.f.clone()).or_default();
                match k {
                    EventType::Ok => {
                        t.ok += 1;
                        ok += 1
                    }
                    EventType::Fail => {
                        t.fail += 1;
                        fail += 1
                    }
                    _ => {
                        t.info += 1;
                        info += 1
                    }
                }
            }
        }
    }
    let seconds = match (history.events.first(), history.events.last()) {
        (Some(a), Some(b)) => (b.time.unwrap_or(0) - a.time.unwrap_or(0)) as f64 / 1e9,
        _ => 0.0,
    };
    let stats = Stats {
        ops,
        ok,
        fail,
        info,
        by_f,
        nemesis,
        seconds,
        ops_per_sec: if seconds > 0.0 {
            ops as f64 / seconds
        } else {
            0.0
        },
    };
    let model = model_for(workload);
    let checker_name = match workload {
        "queue" => "total-queue",
        "lock" => "lock",
        _ => "linearizability",
    };
    let level = std::fs::read(run_dir.join("test.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["spec"]["level"].as_str().map(str::to_string))
        .unwrap_or_default();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ops = history.operations().map_err(|e| e.to_string())?;
        if workload == "queue" {
            return Ok(queue_json(&ops, &level));
        }
        if workload == "lock" {
            return Ok(lock_json(&ops, timeout));
        }
        let opts = LinOptions {
            model,
            partition: true,
            fail_cas_observes: false,
            timeout: Some(timeout),
            max_bytes: 4 << 30,
            ..Default::default()
        };
        checker::check_linearizability(&ops, &opts, &path.display().to_string())
            .map(|r| (r.verdict, lin_json(&r)))
            .map_err(|e| e.to_string())
    }));
    let (verdict, workload_v) = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => (
            Verdict::Unknown,
            json!({"checker": checker_name, "model": model.name(), "verdict": "unknown", "error": e}),
        ),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (
                Verdict::Unknown,
                json!({"checker": checker_name, "model": model.name(), "verdict": "unknown", "error": format!("the checker panicked: {msg}")}),
            )
        }
    };
    let consistency = if workload == "register" {
        let lin_secs = start.elapsed();
        let left = timeout.saturating_sub(lin_secs);
        consistency_json(&history, left, verdict, lin_secs)
    } else {
        serde_json::Map::new()
    };
    let results = Results {
        verdict,
        valid: match verdict {
            Verdict::Valid => json!(true),
            Verdict::Invalid => json!(false),
            Verdict::Unknown => json!("unknown"),
        },
        run_dir: run_dir.display().to_string(),
        interrupted,
        stats,
        workload: workload_v,
        consistency,
        check_seconds: start.elapsed().as_secs_f64(),
        warnings: history.warnings.clone(),
    };
    super::store::write_json(&run_dir.join("results.json"), &results)?;
    // The HTML report; a failure to write it is logged and changes nothing
    // about the verdict.
    if let Err(e) = reports::render_run(run_dir) {
        tracing::warn!("report not written: {e}");
    }
    Ok(results)
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The consistency checks' object for `results.json` (a checker error or
/// panic becomes `consistency-error`, never a failed run).
///
/// The consistency checks include the same linearizability search as the
/// workload's checker. When that search was quick it is simply run again
/// (so the object is exactly the checker's); when it was slow its verdict
/// `lin` is reused instead of paying twice: a valid one implies every
/// weaker model, an invalid or unknown one is copied in.
fn consistency_json(
    history: &checker::History,
    budget: Duration,
    lin: Verdict,
    lin_took: Duration,
) -> serde_json::Map<String, Value> {
    let budget = budget.max(Duration::from_secs(5));
    let reuse = lin_took > Duration::from_secs(5);
    let opts = ConsistencyOptions {
        timeout: Some(budget),
        sequential_timeout: Some(budget.min(Duration::from_secs(30))),
        linearizable: !reuse,
        sequential: !(reuse && lin == Verdict::Valid),
        ..Default::default()
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        checker::consistency::check_history(history, &opts).map_err(|e| e.to_string())
    }));
    let mut m = serde_json::Map::new();
    match outcome {
        Ok(Ok(mut r)) => {
            if reuse {
                let from = "from the workload's linearizability check";
                let all_ok = r.models.iter().all(|x| x.verdict != Verdict::Invalid);
                for x in r.models.iter_mut() {
                    if x.model == Model::Linearizable {
                        x.verdict = lin;
                        x.reason = Some(from.into());
                    } else if lin == Verdict::Valid && all_ok {
                        x.verdict = Verdict::Valid;
                        x.witness = None;
                        x.reason = Some("implied: linearizable".into());
                    }
                }
                if lin == Verdict::Valid && all_ok {
                    r.summary = "linearizable (every model holds)".into();
                } else {
                    r.summary = format!("{}; linearizable: {} ({from})", r.summary, lin.as_str());
                }
            }
            if let Ok(Value::Object(o)) = serde_json::to_value(&r) {
                m = o;
            }
        }
        Ok(Err(e)) => {
            m.insert("consistency-error".into(), json!(e));
        }
        Err(p) => {
            m.insert(
                "consistency-error".into(),
                json!(format!(
                    "the consistency checker panicked: {}",
                    panic_message(p)
                )),
            );
        }
    }
    m
}

/// The hierarchy row of the verdict table: ✓ valid, ✗ invalid, ? unknown
/// per model, then the measures.
pub fn consistency_row(r: &Results) -> Option<(String, String)> {
    let c = r.consistency.get("consistency")?.as_object()?;
    let models: Vec<String> = Model::ALL
        .iter()
        .map(|m| {
            let mark = match c.get(m.key()).and_then(Value::as_str) {
                Some("valid") => "✓",
                Some("invalid") => "✗",
                _ => "?",
            };
            format!("{mark} {}", m.name())
        })
        .collect();
    let me = r
        .consistency
        .get("measures")
        .cloned()
        .unwrap_or(Value::Null);
    let stale = me["stale-reads"].as_u64().unwrap_or(0);
    let mut measures = format!("stale reads {stale}");
    if stale > 0 {
        if let Some(ms) = me["max-staleness-ms"].as_f64() {
            measures.push_str(&format!(" (max {ms:.0} ms)"));
        }
    }
    measures.push_str(&format!(
        ", lost writes {}, converged {}",
        me["lost-writes"].as_u64().unwrap_or(0),
        match me["converged"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "?",
        }
    ));
    Some((models.join("  "), measures))
}

/// The delivery guarantee a queue level declares.
pub fn delivery_of(level: &str) -> checker::queue::Delivery {
    match level {
        "at-most-once" => checker::queue::Delivery::AtMostOnce,
        _ => checker::queue::Delivery::AtLeastOnce,
    }
}

/// `checker::queue::check_total` with the level's delivery guarantee.
fn queue_json(ops: &[checker::Operation], level: &str) -> (Verdict, Value) {
    let r = checker::queue::check_total(ops, delivery_of(level));
    let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("checker".into(), json!("total-queue"));
    }
    (r.verdict, v)
}

/// `checker::lock::check`: mutual exclusion, fencing, mutex linearizability.
fn lock_json(ops: &[checker::Operation], timeout: Duration) -> (Verdict, Value) {
    let r = checker::lock::check(
        ops,
        &checker::lock::LockOptions {
            timeout: Some(timeout),
        },
    );
    let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("checker".into(), json!("lock"));
        let me = &r.mutual_exclusion;
        let f = &r.fencing;
        let x = &r.mutex;
        m.insert(
            "summary".into(),
            json!(format!(
                "{}: mutual exclusion {} ({} holds, {} overlapping pairs); fencing {} ({} accepted, {} rejected writes, {} order violations); mutex {} ({} locks checked, {} skipped)",
                r.verdict.as_str(),
                me.verdict.as_str(),
                me.holds,
                me.violations,
                f.verdict.as_str(),
                f.accepted_writes,
                f.rejected_writes,
                f.order_violations,
                x.verdict.as_str(),
                x.checked_locks,
                x.skipped_locks.len()
            )),
        );
    }
    (r.verdict, v)
}

fn lin_json(r: &LinResult) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("checker".into(), json!("linearizability"));
    }
    v
}

/// The short verdict table on stdout.
pub fn print_table(r: &Results, out: &mut impl Write) {
    let s = &r.stats;
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<10} {:>8} {:>8} {:>8}", "op", "ok", "fail", "info");
    for (f, t) in &s.by_f {
        let _ = writeln!(out, "{f:<10} {:>8} {:>8} {:>8}", t.ok, t.fail, t.info);
    }
    let _ = writeln!(
        out,
        "{:<10} {:>8} {:>8} {:>8}",
        "total", s.ok, s.fail, s.info
    );
    let nem: Vec<String> = s.nemesis.iter().map(|(f, n)| format!("{f} {n}")).collect();
    let _ = writeln!(
        out,
        "nemesis    {}",
        if nem.is_empty() {
            "none".to_string()
        } else {
            nem.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "ops        {} client ops in {:.1} s ({:.0} ops/s)",
        s.ops, s.seconds, s.ops_per_sec
    );
    let w = &r.workload;
    match w["checker"].as_str() {
        Some("total-queue") => {
            let _ = writeln!(
                out,
                "checker    total-queue ({}), {:.2} s",
                w["delivery"].as_str().unwrap_or("?"),
                r.check_seconds
            );
            let _ = writeln!(out, "summary    {}", w["summary"].as_str().unwrap_or("?"));
        }
        Some("lock") => {
            let _ = writeln!(out, "checker    lock, {:.2} s", r.check_seconds);
            let _ = writeln!(out, "summary    {}", w["summary"].as_str().unwrap_or("?"));
            if let Some(o) = w["mutual_exclusion"]["witness"].as_object() {
                let hold = |h: &Value| {
                    format!(
                        "process {} token {} from {:.3} s to {} ({})",
                        h["acquire"]["process"],
                        h["token"],
                        h["start"].as_f64().unwrap_or(0.0) / 1e9,
                        h["end"]
                            .as_f64()
                            .map_or("open".to_string(), |e| format!("{:.3} s", e / 1e9)),
                        h["ended_by"].as_str().unwrap_or("?")
                    )
                };
                let _ = writeln!(
                    out,
                    "overlap    {}\n           {}",
                    hold(&o["first"]),
                    hold(&o["second"])
                );
            }
            for part in ["mutual_exclusion", "fencing", "mutex"] {
                if let Some(reason) = w[part]["reason"].as_str() {
                    let _ = writeln!(out, "{part}: {reason}");
                }
            }
        }
        _ => {
            let _ = writeln!(
                out,
                "checker    {} {}: {} keys, {} ops placed, {:.2} s",
                w["checker"].as_str().unwrap_or("?"),
                w["model"].as_str().unwrap_or("?"),
                w["partitions"],
                w["checked_ops"],
                r.check_seconds
            );
        }
    }
    if let Some(reason) = w["reason"].as_str().or(w["error"].as_str()) {
        let _ = writeln!(out, "unknown    {reason}");
    }
    if let Some((models, measures)) = consistency_row(r) {
        let _ = writeln!(out, "consistency {models}");
        let _ = writeln!(out, "measures   {measures}");
        if let Some(s) = r.consistency.get("summary").and_then(Value::as_str) {
            let _ = writeln!(out, "summary    {s}");
        }
    } else if let Some(e) = r
        .consistency
        .get("consistency-error")
        .and_then(Value::as_str)
    {
        let _ = writeln!(out, "consistency unknown: {e}");
    }
    if let Some(x) = w["counterexample"]["explanation"].as_str() {
        let _ = writeln!(out, "\n{x}\n");
    }
    if r.interrupted == Some(true) {
        let _ = writeln!(out, "interrupted: the history stops early");
    }
    let _ = writeln!(out, "run        {}", r.run_dir);
    let page = Path::new(&r.run_dir).join("index.html");
    if page.exists() {
        let _ = writeln!(out, "report     {}", page.display());
    }
    let _ = writeln!(out, "verdict    {}", r.verdict.as_str().to_uppercase());
}

/// `faultline analyze <run-dir>`: re-checks a stored run; returns the exit code.
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
    let workload = test["spec"]["workload"].as_str().unwrap_or("register");
    let timeout = test["spec"]["check_timeout"].as_f64().unwrap_or(300.0);
    // A run that ended early says so in its results; keep that.
    let interrupted = std::fs::read(run_dir.join("results.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["interrupted"].as_bool());
    let r = check_run(
        run_dir,
        workload,
        Duration::from_secs_f64(timeout),
        interrupted,
    )?;
    let mut out = std::io::stdout().lock();
    print_table(&r, &mut out);
    Ok(r.verdict.exit_code())
}
