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
use std::collections::{BTreeMap, HashMap};
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
    /// When the earliest anomaly the checkers reported became observable;
    /// omitted when they reported none. See [`FirstAnomaly`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_anomaly: Option<FirstAnomaly>,
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
    let times: HashMap<u64, i64> = history
        .events
        .iter()
        .filter_map(|e| e.time.map(|t| (e.index, t)))
        .collect();
    let t0 = history.events.first().and_then(|e| e.time).unwrap_or(0);
    let first_anomaly = first_anomaly(&workload_v, &consistency, |i| times.get(&i).copied(), t0);
    let results = Results {
        verdict,
        first_anomaly,
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

/// `checker::queue::check_total` with the level's delivery guarantee, plus
/// the informational fifo-queue pass as `fifo_linearizable` (see
/// [`fifo_json`]; it never changes the verdict).
fn queue_json(ops: &[checker::Operation], level: &str) -> (Verdict, Value) {
    let r = checker::queue::check_total(ops, delivery_of(level));
    let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("checker".into(), json!("total-queue"));
        let fifo = fifo_json(ops, FIFO_MAX_OPS_PER_QUEUE, FIFO_TIMEOUT);
        if let Some(s) = m.get("summary").and_then(Value::as_str) {
            let s = format!(
                "{s}; fifo-queue linearizability (informational): {}",
                fifo["verdict"].as_str().unwrap_or("unknown")
            );
            m.insert("summary".into(), json!(s));
        }
        m.insert("fifo_linearizable".into(), fifo);
    }
    (r.verdict, v)
}

/// Queues with more enqueue/dequeue ops than this are not searched by the
/// fifo-queue pass.
pub const FIFO_MAX_OPS_PER_QUEUE: usize = 300;
/// Wall-clock budget of the whole fifo-queue pass.
pub const FIFO_TIMEOUT: Duration = Duration::from_secs(3);

/// The `fifo_linearizable` entry of the queue workload: each queue's
/// enqueue/dequeue ops (`drain` and `ack` dropped) checked for
/// linearizability against the `fifo-queue` model with
/// `checker::queue::check_fifo`, on queues of at most `max_ops` ops, within
/// `timeout`.
///
/// **Informational**: its verdict never changes the run's. The queues under
/// test are not FIFO queues: the raft queue is at-least-once, redelivers
/// unacknowledged messages and skips in-flight ones, so a dequeue can
/// overtake an older element; at-most-once and primary-async queues lose
/// messages on failover. A FIFO violation there is expected, not a bug. The
/// run's verdict is total-queue's (lost, duplicated, unexpected elements).
///
/// Fields: `checker`, `informational` (true), `verdict`, `checked_queues`,
/// `skipped_queues` (over `max_ops_per_queue`; they make the verdict
/// `unknown`), `max_ops_per_queue`, `checked_ops`, `reason` (why unknown),
/// `counterexample` and `explanation` (when invalid), `seconds`.
fn fifo_json(ops: &[checker::Operation], max_ops: usize, timeout: Duration) -> Value {
    let start = Instant::now();
    let opts = checker::queue::FifoOptions {
        max_ops_per_queue: max_ops,
        timeout: Some(timeout),
        // An informational pass: it never needs much.
        max_bytes: 256 << 20,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        checker::queue::check_fifo(ops, &opts)
    }));
    let mut m = serde_json::Map::new();
    m.insert("checker".into(), json!("fifo-queue linearizability"));
    m.insert("informational".into(), json!(true));
    match outcome {
        Ok(r) => {
            m.insert("verdict".into(), json!(r.verdict.as_str()));
            m.insert("checked_queues".into(), json!(r.queues));
            m.insert("skipped_queues".into(), json!(r.skipped));
            m.insert("max_ops_per_queue".into(), json!(max_ops));
            let lin = r.linearizability.as_ref();
            m.insert(
                "checked_ops".into(),
                json!(lin.map(|l| l.checked_ops).unwrap_or(0)),
            );
            let reason = lin.and_then(|l| l.reason.clone()).or(r.reason.clone());
            if let Some(reason) = reason {
                m.insert("reason".into(), json!(reason));
            }
            if let Some(ce) = lin.and_then(|l| l.counterexample.as_ref()) {
                m.insert("explanation".into(), json!(ce.explanation));
                m.insert(
                    "counterexample".into(),
                    serde_json::to_value(ce).unwrap_or(Value::Null),
                );
            }
        }
        Err(p) => {
            m.insert("verdict".into(), json!("unknown"));
            m.insert(
                "reason".into(),
                json!(format!("the checker panicked: {}", panic_message(p))),
            );
        }
    }
    m.insert(
        "seconds".into(),
        json!((start.elapsed().as_secs_f64() * 1e3).round() / 1e3),
    );
    Value::Object(m)
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

/// When the earliest anomaly the checkers reported became observable:
/// `results.json`'s `first_anomaly`.
///
/// Every witness or counterexample the checkers produce names history ops
/// by their invocation `index`:
/// - `workload.counterexample` (linearizability): the op that cannot be
///   linearized, the longest linearization found and the candidates;
/// - `witnesses.<model>.ops[]` of each consistency model that is invalid;
/// - the queue checker's `lost`, `duplicated` and `unexpected` examples
///   (only when that anomaly is `invalid`; at-least-once duplicates and
///   `recovered` elements are not anomalies);
/// - the lock checker's mutual-exclusion overlap (the two acquires: the
///   overlap shows once the second acquire returns while the first hold is
///   still open; the releases only close the holds), the fencing pair, and
///   the fencing/mutex linearizability counterexamples.
///
/// A witness's moment is the invocation time of its latest op (the one
/// with the greatest invocation index); `first_anomaly` is the earliest
/// such moment over all witnesses (ties: the smaller index, then the order
/// above). Counts without ops (e.g. `measures`) are ignored, and so is the
/// informational `workload.fifo_linearizable` pass. Witnesses whose op has
/// no time in the history are skipped.
///
/// It is the earliest anomaly *the checkers reported*, which is an upper
/// bound on when the first anomaly happened, not the time itself: the
/// linearizability search stops at one failing key, each consistency model
/// and lock check gives one witness, and the queue checker keeps a few
/// examples per anomaly. One exception: a `lost` element's only op is its
/// enqueue, so its moment is when it was enqueued; the loss happened later
/// and only shows in the final reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstAnomaly {
    /// Seconds from the history's first event to the latest op's
    /// invocation (millisecond precision).
    pub seconds: f64,
    /// History index of that invocation (the timeline's `#op-<index>`).
    pub index: u64,
    /// What the witness shows, for people.
    pub what: String,
    /// Where the witness is in `results.json`: `workload` (the workload's
    /// counterexample), `workload.<part>` (a queue anomaly or lock check),
    /// or `consistency:<model>`.
    pub source: String,
}

/// A witness reduced to what [`first_anomaly`] needs.
#[derive(Debug, Clone)]
struct AnomalyWitness {
    source: String,
    what: String,
    /// Invocation indices of its ops.
    ops: Vec<u64>,
}

/// An op reference as the checkers write it: a bare index, or an object
/// with `index` (consistency witnesses) or `invoke_index` (lock ops,
/// linearizability op views).
fn op_index(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.get("index").and_then(Value::as_u64))
        .or_else(|| v.get("invoke_index").and_then(Value::as_u64))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "nil".into(),
        v => v.to_string(),
    }
}

/// `s` cut to at most `max` bytes at a word boundary, with `…` when cut
/// (the whole explanation stays in the witness).
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &s[..cut];
    let head = head.rfind(' ').map_or(head, |i| &head[..i]);
    format!("{}…", head.trim_end_matches([',', ';', ':']))
}

/// A linearizability result's counterexample (only when it is invalid):
/// the failing op, the linearized prefix and the candidates.
fn lin_witness(r: &Value, label: &str, key_word: &str, source: &str) -> Option<AnomalyWitness> {
    let ce = r.get("counterexample").filter(|c| c.is_object())?;
    if r["verdict"].as_str() != Some("invalid") {
        return None;
    }
    let mut ops: Vec<u64> = op_index(&ce["op"]).into_iter().collect();
    for part in ["linearized", "candidates"] {
        for s in ce[part].as_array().into_iter().flatten() {
            ops.extend(op_index(&s["op"]));
        }
    }
    let op = &ce["op"];
    let desc = op["description"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} {}", text(&op["f"]), text(&op["input"])));
    let key = match &ce["partition"] {
        Value::Null => String::new(),
        k => format!(" on {key_word} {}", text(k)),
    };
    Some(AnomalyWitness {
        source: source.into(),
        what: format!("{label}: {desc}{key}"),
        ops,
    })
}

/// Every witness in the workload object and the consistency object.
fn anomaly_witnesses(
    workload: &Value,
    consistency: &serde_json::Map<String, Value>,
) -> Vec<AnomalyWitness> {
    let mut out = Vec::new();
    // The workload's own linearizability counterexample.
    out.extend(lin_witness(workload, "linearizable", "key", "workload"));
    // Queue anomalies: examples of the invalid kinds.
    for part in ["lost", "duplicated", "unexpected"] {
        let a = &workload[part];
        if a["invalid"].as_bool() != Some(true) || a["count"].as_u64().unwrap_or(0) == 0 {
            continue;
        }
        for ex in a["examples"].as_array().into_iter().flatten() {
            let ops: Vec<u64> = ex["ops"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(op_index)
                .collect();
            let queue = ex["queue"]
                .as_str()
                .map(|q| format!(" on queue {q}"))
                .unwrap_or_default();
            let times = match ex["delivered"].as_u64() {
                Some(n) if part == "duplicated" => format!(", delivered {n} times"),
                _ => String::new(),
            };
            out.push(AnomalyWitness {
                source: format!("workload.{part}"),
                what: format!("{part}: element {}{queue}{times}", text(&ex["value"])),
                ops,
            });
        }
    }
    // Lock checks.
    let me = &workload["mutual_exclusion"];
    if me["verdict"].as_str() == Some("invalid") {
        if let Some(o) = me["witness"].as_object() {
            let (a, b) = (&o["first"], &o["second"]);
            let ops: Vec<u64> = [&a["acquire"], &b["acquire"]]
                .into_iter()
                .filter_map(op_index)
                .collect();
            let lock = o
                .get("lock")
                .and_then(Value::as_str)
                .map(|l| format!(" on lock {l}"))
                .unwrap_or_default();
            out.push(AnomalyWitness {
                source: "workload.mutual_exclusion".into(),
                what: format!(
                    "mutual exclusion: processes {} and {} held the lock at once{lock}",
                    text(&a["acquire"]["process"]),
                    text(&b["acquire"]["process"])
                ),
                ops,
            });
        }
    }
    let fe = &workload["fencing"];
    if fe["verdict"].as_str() == Some("invalid") {
        if let Some(pair) = fe["witness"].as_array() {
            let tok = |w: &Value| text(&w["value"]["token"]);
            out.push(AnomalyWitness {
                source: "workload.fencing".into(),
                what: format!(
                    "fencing: write with token {} accepted after one with token {}",
                    pair.get(1).map(tok).unwrap_or_default(),
                    pair.first().map(tok).unwrap_or_default()
                ),
                ops: pair.iter().filter_map(op_index).collect(),
            });
        }
        out.extend(lin_witness(
            &fe["linearizability"],
            "fencing register",
            "resource",
            "workload.fencing",
        ));
    }
    out.extend(lin_witness(
        &workload["mutex"]["linearizability"],
        "mutex",
        "lock",
        "workload.mutex",
    ));
    // Consistency models: the witness of each invalid model.
    let verdicts = consistency.get("consistency").cloned().unwrap_or_default();
    if let Some(ws) = consistency.get("witnesses").and_then(Value::as_object) {
        for m in Model::ALL {
            let Some(w) = ws.get(m.key()) else { continue };
            if verdicts[m.key()].as_str() != Some("invalid") {
                continue;
            }
            out.push(AnomalyWitness {
                source: format!("consistency:{}", m.key()),
                what: format!("{}: {}", m.key(), clip(&text(&w["explanation"]), 160)),
                ops: w["ops"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(op_index)
                    .collect(),
            });
        }
    }
    out
}

/// `first_anomaly` from the workload and consistency objects of
/// `results.json`: see [`FirstAnomaly`]. `time_of` maps a history index to
/// its event's `time` (ns); `t0` is the first event's time.
pub fn first_anomaly(
    workload: &Value,
    consistency: &serde_json::Map<String, Value>,
    time_of: impl Fn(u64) -> Option<i64>,
    t0: i64,
) -> Option<FirstAnomaly> {
    let mut best: Option<(i64, u64, AnomalyWitness)> = None;
    for w in anomaly_witnesses(workload, consistency) {
        let Some(latest) = w.ops.iter().copied().max() else {
            continue;
        };
        let Some(t) = time_of(latest) else { continue };
        if best
            .as_ref()
            .is_none_or(|(bt, bi, _)| (t, latest) < (*bt, *bi))
        {
            best = Some((t, latest, w));
        }
    }
    best.map(|(t, index, w)| FirstAnomaly {
        seconds: ((t - t0).max(0) as f64 / 1e6).round() / 1e3,
        index,
        what: w.what,
        source: w.source,
    })
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
            let f = &w["fifo_linearizable"];
            if f.is_object() {
                let skipped = f["skipped_queues"].as_array().map_or(0, Vec::len);
                let mut line = format!(
                    "fifo       {} (informational, not part of the verdict): {} queue(s) searched, {} over {} ops skipped, {:.2} s",
                    f["verdict"].as_str().unwrap_or("?"),
                    f["checked_queues"].as_u64().unwrap_or(0),
                    skipped,
                    f["max_ops_per_queue"],
                    f["seconds"].as_f64().unwrap_or(0.0)
                );
                if let Some(x) = f["reason"].as_str() {
                    line.push_str(&format!("; {x}"));
                }
                let _ = writeln!(out, "{line}");
            }
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
    if let Some(a) = &r.first_anomaly {
        let _ = writeln!(
            out,
            "first anomaly  {:.1} s into the run (history index {}): {} [{}]",
            a.seconds, a.index, a.what, a.source
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    /// Index `i` happens at `i` × 100 ms, after a start at 1 s.
    fn t(i: u64) -> Option<i64> {
        Some(1_000_000_000 + i as i64 * 100_000_000)
    }
    const T0: i64 = 1_000_000_000;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn nothing_anomalous_gives_no_first_anomaly() {
        // A valid register run: no counterexample, every model valid (a
        // stray witness of a valid model does not count), measures are
        // counts only.
        let workload = json!({"checker": "linearizability", "verdict": "valid"});
        let cons = obj(json!({
            "consistency": {"linearizable": "valid", "sequential": "valid"},
            "measures": {"stale-reads": 3, "lost-writes": 1, "converged": true},
            "witnesses": {"sequential": {"ops": [{"index": 4}], "explanation": "x"}},
        }));
        assert_eq!(first_anomaly(&workload, &cons, t, T0), None);
        // An at-least-once queue: duplicates are allowed, recovered is not
        // an anomaly; neither has a first anomaly even with examples.
        let queue = json!({
            "checker": "total-queue", "verdict": "valid",
            "lost": {"count": 0, "invalid": true, "examples": []},
            "duplicated": {"count": 1, "invalid": false,
                "examples": [{"value": 3, "delivered": 2, "ops": [1, 5, 9]}]},
            "unexpected": {"count": 0, "invalid": true, "examples": []},
            "recovered": {"count": 1, "invalid": false,
                "examples": [{"value": 4, "delivered": 1, "ops": [2, 6]}]},
            "fifo_linearizable": {"verdict": "invalid", "counterexample":
                {"op": {"invoke_index": 1, "description": "dequeue 3"}}},
        });
        assert_eq!(first_anomaly(&queue, &Map::new(), t, T0), None);
        // An invalid verdict whose witness has no times is skipped too.
        let ce = json!({"verdict": "invalid", "counterexample": {"op": {"invoke_index": 7}}});
        assert_eq!(first_anomaly(&ce, &Map::new(), |_| None, T0), None);
    }

    #[test]
    fn the_earliest_witness_wins_even_when_listed_last() {
        // The workload's counterexample: latest op is candidate 50 (5 s).
        let workload = json!({
            "checker": "linearizability", "verdict": "invalid",
            "counterexample": {
                "partition": "1",
                "op": {"invoke_index": 40, "description": "cas 51 -> 55"},
                "linearized": [{"op": {"invoke_index": 30}}, {"op": {"invoke_index": 12}}],
                "candidates": [{"op": {"invoke_index": 50}}],
            }
        });
        let only = first_anomaly(&workload, &Map::new(), t, T0).unwrap();
        assert_eq!(only.index, 50);
        assert_eq!(only.seconds, 5.0);
        assert_eq!(only.what, "linearizable: cas 51 -> 55 on key 1");
        assert_eq!(only.source, "workload");
        // Consistency witnesses: monotonic reads (latest op 27, listed
        // first in its ops) is earlier than linearizable (45) and the
        // workload's (50); a model that is not invalid does not count.
        let cons = obj(json!({
            "consistency": {"linearizable": "invalid", "monotonic-reads": "invalid",
                            "causal": "unknown"},
            "witnesses": {
                "linearizable": {"ops": [{"index": 45}, {"index": 3}], "explanation": "late"},
                "causal": {"ops": [{"index": 1}], "explanation": "not invalid"},
                "monotonic-reads": {"ops": [{"index": 27}, {"index": 8}],
                                    "explanation": "In key 2: read 5 then 4"},
            }
        }));
        let a = first_anomaly(&workload, &cons, t, T0).unwrap();
        assert_eq!(
            a,
            FirstAnomaly {
                seconds: 2.7,
                index: 27,
                what: "monotonic-reads: In key 2: read 5 then 4".into(),
                source: "consistency:monotonic-reads".into(),
            }
        );
    }

    #[test]
    fn queue_and_lock_witnesses() {
        // Bare indices; the second lost example and the duplicate are
        // earlier than the first lost example.
        let queue = json!({
            "checker": "total-queue", "verdict": "invalid",
            "lost": {"count": 2, "invalid": true, "examples": [
                {"queue": "q1", "value": 7, "delivered": 0, "ops": [90]},
                {"queue": "q2", "value": 8, "delivered": 0, "ops": [33]}]},
            "duplicated": {"count": 1, "invalid": true, "examples": [
                {"queue": "q1", "value": 2, "delivered": 2, "ops": [5, 61, 34]}]},
            "unexpected": {"count": 0, "invalid": true, "examples": []},
        });
        let a = first_anomaly(&queue, &Map::new(), t, T0).unwrap();
        assert_eq!((a.index, a.seconds), (33, 3.3));
        assert_eq!(a.source, "workload.lost");
        assert_eq!(a.what, "lost: element 8 on queue q2");
        // The overlap's moment: the second acquire (index 6), not the
        // releases (12, 40) nor the later fencing pair (18).
        let lock = json!({
            "checker": "lock", "verdict": "invalid",
            "mutual_exclusion": {"verdict": "invalid", "witness": {
                "lock": "l",
                "first": {"acquire": {"invoke_index": 2, "process": 0},
                          "release": {"invoke_index": 12, "process": 0}},
                "second": {"acquire": {"invoke_index": 6, "process": 1},
                           "release": {"invoke_index": 40, "process": 1}}}},
            "fencing": {"verdict": "invalid", "witness": [
                {"invoke_index": 14, "value": {"token": 5}},
                {"invoke_index": 18, "value": {"token": 3}}]},
            "mutex": {"verdict": "valid"},
        });
        let a = first_anomaly(&lock, &Map::new(), t, T0).unwrap();
        assert_eq!((a.index, a.seconds), (6, 0.6));
        assert_eq!(a.source, "workload.mutual_exclusion");
        assert!(a.what.contains("processes 0 and 1"), "{}", a.what);
    }

    #[test]
    fn lock_checker_output_gives_the_second_acquire() {
        // Two processes hold lock `l` at once (no leases): the real lock
        // checker's witnesses (overlap, mutex counterexample) name the
        // second acquire (index 2, at 3 s) as the moment.
        let s = 1_000_000_000i64;
        let ev = |i: u64, p: u64, ty: &str, f: &str, v: Value| {
            json!({"index": i, "time": (i as i64 + 1) * s, "process": p, "type": ty,
                   "f": f, "value": v, "key": "l"})
        };
        let ops = ops_of(&[
            ev(0, 0, "invoke", "acquire", json!({"ttl_ms": null})),
            ev(1, 0, "ok", "acquire", json!({"token": 1})),
            ev(2, 1, "invoke", "acquire", json!({"ttl_ms": null})),
            ev(3, 1, "ok", "acquire", json!({"token": 2})),
            ev(4, 0, "invoke", "release", json!({"token": 1})),
            ev(5, 0, "ok", "release", json!({"token": 1})),
            ev(6, 1, "invoke", "release", json!({"token": 2})),
            ev(7, 1, "ok", "release", json!({"token": 2})),
        ]);
        let (v, w) = lock_json(&ops, Duration::from_secs(5));
        assert_eq!(v, Verdict::Invalid, "{w}");
        assert_eq!(w["mutual_exclusion"]["verdict"], "invalid", "{w}");
        let a = first_anomaly(&w, &Map::new(), |i| Some((i as i64 + 1) * s), s).unwrap();
        assert_eq!((a.index, a.seconds), (2, 2.0), "{a:?}");
        assert_eq!(a.source, "workload.mutual_exclusion", "{a:?}");
    }

    #[test]
    fn long_explanations_are_clipped_at_a_word() {
        assert_eq!(clip("short", 160), "short");
        let long = "In key 1: in the view of process 2, no order of the writes";
        assert_eq!(clip(long, 20), "In key 1: in the…");
        assert_eq!(clip("ééééé", 5), "éé…");
    }

    fn ops_of(lines: &[Value]) -> Vec<checker::Operation> {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        formats::parse(text.as_bytes(), "test", Some(Format::Jsonl))
            .unwrap()
            .operations()
            .unwrap()
    }

    /// Sequential queue ops on queue `q`: (f, invoke value, ok value).
    fn queue_history(q: &str, steps: &[(&str, Value, Value)]) -> Vec<checker::Operation> {
        let mut lines = Vec::new();
        for (i, (f, inv, ok)) in steps.iter().enumerate() {
            let i = i as u64;
            lines.push(
                json!({"index": 2 * i, "time": 2 * i, "process": 0, "type": "invoke",
                              "f": f, "value": inv, "key": q}),
            );
            lines.push(
                json!({"index": 2 * i + 1, "time": 2 * i + 1, "process": 0, "type": "ok",
                              "f": f, "value": ok, "key": q}),
            );
        }
        ops_of(&lines)
    }

    #[test]
    fn fifo_pass_rejects_out_of_order_and_accepts_in_order() {
        let budget = Duration::from_secs(5);
        let good = queue_history(
            "q",
            &[
                ("enqueue", json!(1), json!(1)),
                ("enqueue", json!(2), json!(2)),
                ("dequeue", Value::Null, json!(1)),
                ("dequeue", Value::Null, json!(2)),
                ("dequeue", Value::Null, Value::Null),
            ],
        );
        let f = fifo_json(&good, 300, budget);
        assert_eq!(f["verdict"], "valid", "{f}");
        assert_eq!(f["checked_queues"], 1);
        assert_eq!(f["informational"], true);
        let bad = queue_history(
            "q",
            &[
                ("enqueue", json!(1), json!(1)),
                ("enqueue", json!(2), json!(2)),
                ("dequeue", Value::Null, json!(2)),
                ("dequeue", Value::Null, json!(1)),
            ],
        );
        let f = fifo_json(&bad, 300, budget);
        assert_eq!(f["verdict"], "invalid", "{f}");
        assert!(f["counterexample"].is_object(), "{f}");
        assert!(f["explanation"].is_string(), "{f}");
        // Over the cap: not searched, so unknown, and named.
        let f = fifo_json(&bad, 3, budget);
        assert_eq!(f["verdict"], "unknown", "{f}");
        assert_eq!(f["skipped_queues"], json!(["q"]));
        assert_eq!(f["checked_queues"], 0);
        // Informational: total-queue finds nothing wrong with the bad one
        // (every element delivered once), so the verdict stays valid, and
        // the summary says what the FIFO pass found.
        let (v, w) = queue_json(&bad, "raft");
        assert_eq!(v, Verdict::Valid);
        assert_eq!(w["verdict"], "valid");
        assert_eq!(w["fifo_linearizable"]["verdict"], "invalid");
        assert!(
            w["summary"]
                .as_str()
                .unwrap()
                .ends_with("fifo-queue linearizability (informational): invalid"),
            "{w}"
        );
        // Not an anomaly of the run either.
        assert_eq!(first_anomaly(&w, &Map::new(), |i| Some(i as i64), 0), None);
    }

    #[test]
    fn check_run_writes_first_anomaly_for_a_stale_read() {
        let d = tempfile::tempdir().unwrap();
        let s = 1_000_000_000i64;
        let ev = |i: u64, t: i64, p: u64, ty: &str, f: &str, v: Value| json!({"index": i, "time": t, "process": p, "type": ty, "f": f, "value": v, "key": 1});
        let lines = [
            ev(0, s, 0, "invoke", "write", json!(1)),
            ev(1, s + 10, 0, "ok", "write", json!(1)),
            ev(2, 2 * s, 0, "invoke", "write", json!(2)),
            ev(3, 2 * s + 10, 0, "ok", "write", json!(2)),
            ev(4, 4 * s, 1, "invoke", "read", Value::Null),
            ev(5, 4 * s + 10, 1, "ok", "read", json!(1)),
        ];
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(d.path().join("history.jsonl"), text).unwrap();
        std::fs::write(
            d.path().join("test.json"),
            json!({"spec": {"workload": "register"}}).to_string(),
        )
        .unwrap();
        let r = check_run(d.path(), "register", Duration::from_secs(10), None).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let a = r.first_anomaly.clone().expect("a first anomaly");
        assert_eq!((a.index, a.seconds), (4, 3.0), "{a:?}");
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("results.json")).unwrap()).unwrap();
        assert_eq!(on_disk["first_anomaly"]["index"], 4);
        let mut out = Vec::new();
        print_table(&r, &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("first anomaly  3.0 s into the run (history index 4): "),
            "{out}"
        );
    }
}
