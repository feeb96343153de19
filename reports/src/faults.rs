//! Fault windows, and clock offsets from clock faults.
//!
//! A run of `faultline test` writes a typed record per fault to
//! `faults.jsonl` (kind, targets, start and end in ns since the run
//! started; a line when the fault starts and another when it ends, the last
//! line of each `id` winning); [`run_windows`] draws the bands from those
//! records when the run has them ([`record_windows`]). Older runs and
//! foreign histories have none: then the bands are guessed by pairing the
//! nemesis ops of the history ([`windows`]).
//!
//! Pairing: each fault start is paired with the stop that ends it: `pause` → `resume`,
//! `kill`/`crash`/`stop` → `start`/`restart`/`recover`, `partition`/
//! `start-partition` → `heal`/`stop-partition`/`repair`, `bump`/`strobe`/
//! `clock-*` → `reset`, and generally `start-X` → `stop-X`. A fault whose name
//! we do not know gets a generic colour and ends at the next stop-like op. A
//! window runs from the start op's invocation to the stop op's completion; one
//! never stopped stays open to the end of the history.

use crate::markup::value_text;
use checker::{Event, EventType};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::Path;

/// What kind of fault, for colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    Pause,
    Kill,
    Partition,
    Clock,
    Other,
}

impl FaultClass {
    pub fn of(f: &str) -> FaultClass {
        let f = f.to_ascii_lowercase();
        let f = f.strip_prefix("start-").unwrap_or(&f);
        if f.contains("pause") || f == "stop-signal" || f == "sigstop" {
            FaultClass::Pause
        } else if f.contains("kill") || f.contains("crash") || f == "stop" {
            FaultClass::Kill
        } else if f.contains("partition") || f.contains("grudge") || f.contains("isolate") {
            FaultClass::Partition
        } else if f.contains("clock") || f == "bump" || f == "strobe" || f.contains("skew") {
            FaultClass::Clock
        } else {
            FaultClass::Other
        }
    }

    /// Fill colour (solid; plots add transparency).
    pub fn colour(self) -> &'static str {
        match self {
            FaultClass::Pause => "#f2b84b",
            FaultClass::Kill => "#e36464",
            FaultClass::Partition => "#5b8fd9",
            FaultClass::Clock => "#a46ad6",
            FaultClass::Other => "#8a8a8a",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultClass::Pause => "pause",
            FaultClass::Kill => "kill",
            FaultClass::Partition => "partition",
            FaultClass::Clock => "clock",
            FaultClass::Other => "other",
        }
    }
}

/// One shaded band: a fault from its start to its stop.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    /// The start op's `f`.
    pub f: String,
    pub class: FaultClass,
    /// ns since the run started.
    pub start: i64,
    /// `None`: never stopped (open to the end of the history).
    pub end: Option<i64>,
    /// The stop op's `f`.
    pub stop_f: Option<String>,
    /// History index of the start op's invocation.
    pub index: u64,
    /// What it targeted (the start op's value, as text).
    pub target: String,
}

/// Is `f` a stop-like op (one that ends faults)?
pub fn is_stop(f: &str) -> bool {
    let f = f.to_ascii_lowercase();
    matches!(
        f.as_str(),
        "resume"
            | "unpause"
            | "start"
            | "restart"
            | "recover"
            | "heal"
            | "repair"
            | "reset"
            | "cont"
    ) || f.starts_with("stop-")
        || f.starts_with("heal")
        || f.starts_with("reset")
        || f.starts_with("end-")
        || f.ends_with("-reset")
        || f.ends_with("-heal")
}

/// Does stop op `stop` end a fault started by `start`? `None`: no specific
/// rule knows either name (the generic pairing applies).
fn ends(stop: &str, start: &str) -> Option<bool> {
    let stop = stop.to_ascii_lowercase();
    let start = start.to_ascii_lowercase();
    if let Some(x) = stop.strip_prefix("stop-") {
        if start == format!("start-{x}") {
            return Some(true);
        }
    }
    let class = FaultClass::of(&start);
    let stop_class = match stop.as_str() {
        "resume" | "unpause" | "cont" => FaultClass::Pause,
        "start" | "restart" | "recover" => FaultClass::Kill,
        "heal" | "repair" | "stop-partition" => FaultClass::Partition,
        s if s.starts_with("heal") || s.ends_with("-heal") => FaultClass::Partition,
        s if s.starts_with("reset") || s.ends_with("-reset") || s == "stop-clock" => {
            FaultClass::Clock
        }
        _ => {
            return if class == FaultClass::Other {
                None
            } else {
                Some(false)
            }
        }
    };
    if class == FaultClass::Other {
        return None;
    }
    Some(class == stop_class)
}

/// Pairs nemesis ops into fault windows. `events` are the named-process
/// events in history order; `end` is the last time of the history.
pub fn windows(events: &[Event], end: i64) -> Vec<FaultWindow> {
    let mut out: Vec<FaultWindow> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        // Each op is its invocation (or a lone completion with no invocation).
        let lone = ev.kind != EventType::Invoke
            && !events[..i]
                .iter()
                .rev()
                .take(4)
                .any(|p| p.kind == EventType::Invoke && p.f == ev.f && p.process == ev.process);
        if ev.kind != EventType::Invoke && !lone {
            continue;
        }
        let t0 = ev.time.unwrap_or(0);
        // The completion's time, if one follows.
        let t1 = if lone {
            t0
        } else {
            events[i + 1..]
                .iter()
                .find(|c| c.kind != EventType::Invoke && c.f == ev.f && c.process == ev.process)
                .and_then(|c| c.time)
                .unwrap_or(t0)
        };
        if is_stop(&ev.f) {
            let specific: Vec<usize> = open
                .iter()
                .copied()
                .filter(|&w| ends(&ev.f, &out[w].f) == Some(true))
                .collect();
            let closing = if specific.is_empty() {
                open.iter()
                    .copied()
                    .filter(|&w| ends(&ev.f, &out[w].f).is_none())
                    .collect()
            } else {
                specific
            };
            for w in &closing {
                out[*w].end = Some(t1.max(out[*w].start));
                out[*w].stop_f = Some(ev.f.clone());
            }
            open.retain(|w| !closing.contains(w));
        } else {
            let mut target = value_text(&ev.value);
            if target.len() > 200 {
                target.truncate(200);
                target.push('…');
            }
            open.push(out.len());
            out.push(FaultWindow {
                f: ev.f.clone(),
                class: FaultClass::of(&ev.f),
                start: t0,
                end: None,
                stop_f: None,
                index: ev.index,
                target,
            });
        }
    }
    let _ = end;
    out
}

/// The fault windows of the run in `dir`: from its `faults.jsonl` when it
/// has one, else paired from `events` (its named-process events, in
/// history order; `end` is the last time of the history). Also a warning
/// per line of `faults.jsonl` that is not a record.
pub fn run_windows(dir: &Path, events: &[Event], end: i64) -> (Vec<FaultWindow>, Vec<String>) {
    let path = dir.join("faults.jsonl");
    match std::fs::read(&path) {
        Ok(bytes) => record_windows(&String::from_utf8_lossy(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (windows(events, end), Vec::new()),
        Err(e) => (
            windows(events, end),
            vec![format!(
                "{}: {e}; fault bands paired from the history",
                path.display()
            )],
        ),
    }
}

/// One line of `faults.jsonl`, as far as the report needs it (the nemesis
/// crate's `FaultRecord`; `f` and the details are flat beside these).
#[derive(Debug, Deserialize)]
struct RecordLine {
    id: u64,
    kind: String,
    #[serde(default)]
    f: Option<String>,
    #[serde(default)]
    targets: Vec<String>,
    start: i64,
    #[serde(default)]
    end: Option<i64>,
    #[serde(default)]
    start_index: Option<u64>,
    #[serde(default)]
    ended_by: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(flatten)]
    details: Map<String, Value>,
}

impl RecordLine {
    /// What it hit, as text: the grudge of a partition, the deltas of a
    /// clock bump, the mode and nodes of packet faults, else the nodes.
    fn target(&self) -> String {
        let d = &self.details;
        let mut t = if let Some(g) = d.get("grudge") {
            value_text(g)
        } else if let Some(x) = d.get("deltas") {
            value_text(x)
        } else if let Some(Value::String(mode)) = d.get("mode") {
            format!("{mode} {}", value_text(&json!(self.targets)))
        } else if let (Some(delta), [node]) = (d.get("delta_ms"), self.targets.as_slice()) {
            format!("{node} ±{delta} ms")
        } else {
            value_text(&json!(self.targets))
        };
        if let Some(e) = &self.error {
            t.push_str(&format!(" (error: {e})"));
        }
        if t.chars().count() > 200 {
            t = t.chars().take(200).collect();
            t.push('…');
        }
        t
    }
}

/// Fault windows from the text of a `faults.jsonl`: one per record (the
/// last line of each `id`), by start time; and a warning per line that is
/// not a record (e.g. a torn last line of a crashed run).
pub fn record_windows(text: &str) -> (Vec<FaultWindow>, Vec<String>) {
    let mut by_id: std::collections::BTreeMap<u64, RecordLine> = Default::default();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RecordLine>(line) {
            Ok(r) => {
                by_id.insert(r.id, r);
            }
            Err(e) => warnings.push(format!("faults.jsonl:{}: not a fault record: {e}", i + 1)),
        }
    }
    let mut out: Vec<(i64, u64, FaultWindow)> = by_id
        .into_values()
        .map(|r| {
            let f = r.f.clone().unwrap_or_else(|| r.kind.clone());
            let w = FaultWindow {
                class: FaultClass::of(&f),
                target: r.target(),
                f,
                start: r.start,
                end: r.end.map(|e| e.max(r.start)),
                stop_f: r.ended_by.clone(),
                index: r.start_index.unwrap_or(0),
            };
            (r.start, r.id, w)
        })
        .collect();
    out.sort_by_key(|(start, id, _)| (*start, *id));
    (out.into_iter().map(|(_, _, w)| w).collect(), warnings)
}

/// One node's clock offset (ms) from a given time on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockPoint {
    pub time: i64,
    pub node: String,
    pub offset_ms: f64,
}

fn is_clock_op(f: &str) -> bool {
    let f = f.to_ascii_lowercase();
    f == "bump"
        || f == "strobe"
        || f.contains("clock")
        || f.starts_with("reset")
        || f.contains("skew")
}

/// Node → number pairs in a clock op's value: `{"n1": 120}`, or the same
/// under `offsets`/`deltas`/`value`. Returns (pairs, absolute?).
fn offsets_in(v: &Value) -> (Vec<(String, f64)>, bool) {
    for (field, absolute) in [("offsets", true), ("deltas", false), ("delta", false)] {
        if let Some(Value::Object(m)) = v.get(field) {
            let pairs = m
                .iter()
                .filter_map(|(k, x)| x.as_f64().map(|n| (k.clone(), n)))
                .collect();
            return (pairs, absolute);
        }
    }
    if let Value::Object(m) = v {
        let pairs: Vec<(String, f64)> = m
            .iter()
            .filter_map(|(k, x)| x.as_f64().map(|n| (k.clone(), n)))
            .collect();
        return (pairs, false);
    }
    (Vec::new(), false)
}

fn nodes_in(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Value::Object(m) => m
            .get("nodes")
            .map(nodes_in)
            .unwrap_or_else(|| m.keys().cloned().collect()),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Clock offsets over time, from clock nemesis ops carrying offsets in their
/// value (completion preferred over invocation). `bump`-style maps are deltas
/// added to the node's current offset; `offsets` maps are absolute; `reset`
/// sets the named nodes (or all known ones) back to 0. Empty when no clock
/// fault ran.
pub fn clock_offsets(events: &[Event]) -> Vec<ClockPoint> {
    let mut current: std::collections::BTreeMap<String, f64> = Default::default();
    let mut out = Vec::new();
    for ev in events {
        if !is_clock_op(&ev.f) {
            continue;
        }
        let t = ev.time.unwrap_or(0);
        let reset = ev.f.to_ascii_lowercase().contains("reset");
        if reset {
            if ev.kind == EventType::Invoke {
                continue;
            }
            let mut nodes = nodes_in(&ev.value);
            if nodes.is_empty() {
                nodes = current.keys().cloned().collect();
            }
            for n in nodes {
                current.insert(n.clone(), 0.0);
                out.push(ClockPoint {
                    time: t,
                    node: n,
                    offset_ms: 0.0,
                });
            }
            continue;
        }
        let (pairs, absolute) = offsets_in(&ev.value);
        if pairs.is_empty() {
            continue;
        }
        // Use the completion when it carries offsets; skip the invocation then.
        if ev.kind == EventType::Invoke {
            continue;
        }
        for (n, x) in pairs {
            let cur = current.entry(n.clone()).or_insert(0.0);
            *cur = if absolute { x } else { *cur + x };
            out.push(ClockPoint {
                time: t,
                node: n,
                offset_ms: *cur,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::Process;
    use serde_json::json;

    fn nem(index: u64, time: i64, kind: EventType, f: &str, value: Value) -> Event {
        let mut e = Event::new(0, kind, f, value);
        e.process = Process::Named("nemesis".into());
        e.index = index;
        e.time = Some(time);
        e
    }

    #[test]
    fn records_give_one_band_per_fault() {
        let text = [
            r#"{"id":0,"kind":"kill","targets":["n2"],"start":100,"end":null,"f":"kill","targeting":"one","start_index":7}"#,
            r#"{"id":1,"kind":"partition","targets":["n1","n2","n3"],"start":150,"end":null,"f":"partition","shape":"one","grudge":{"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]},"start_index":9}"#,
            r#"{"id":0,"kind":"kill","targets":["n2"],"start":100,"end":300,"f":"kill","targeting":"one","start_index":7,"end_index":20,"ended_by":"start"}"#,
            r#"{"id":2,"kind":"clock","targets":["n3"],"start":120,"end":180,"f":"bump","deltas":{"n3":-5000},"start_index":8,"ended_by":"reset-clock"}"#,
            r#"{"id":3,"kind":"packet","targets":["n1","n2"],"start":400,"end":500,"f":"packet","mode":"delay","targeting":"one","links":[],"error":"unknown node"}"#,
            r#"{"id":4,"kind":"pa"#,
        ]
        .join("\n");
        let (w, warnings) = record_windows(&text);
        let got: Vec<_> = w
            .iter()
            .map(|w| {
                (
                    w.f.as_str(),
                    w.class,
                    w.start,
                    w.end,
                    w.index,
                    w.stop_f.as_deref(),
                    w.target.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "kill",
                    FaultClass::Kill,
                    100,
                    Some(300),
                    7,
                    Some("start"),
                    r#"["n2"]"#
                ),
                (
                    "bump",
                    FaultClass::Clock,
                    120,
                    Some(180),
                    8,
                    Some("reset-clock"),
                    r#"{"n3":-5000}"#
                ),
                (
                    "partition",
                    FaultClass::Partition,
                    150,
                    None,
                    9,
                    None,
                    r#"{"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}"#
                ),
                (
                    "packet",
                    FaultClass::Other,
                    400,
                    Some(500),
                    0,
                    None,
                    r#"delay ["n1","n2"] (error: unknown node)"#
                ),
            ]
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("faults.jsonl:6:"), "{warnings:?}");
    }

    #[test]
    fn a_run_with_records_is_drawn_from_them_else_from_the_history() {
        use EventType::*;
        // The history pairs a kill with a start at 30; the records say the
        // kill (of a node that never came back) is still open.
        let evs = vec![
            nem(1, 10, Invoke, "kill", json!(["n1"])),
            nem(2, 11, Info, "kill", json!(["n1"])),
            nem(3, 20, Invoke, "start", json!(["n1"])),
            nem(4, 30, Info, "start", json!(["n1"])),
        ];
        let dir = tempfile::tempdir().unwrap();
        let (w, warn) = run_windows(dir.path(), &evs, 40);
        assert_eq!((w.len(), w[0].end, warn.len()), (1, Some(30), 0));
        std::fs::write(
            dir.path().join("faults.jsonl"),
            r#"{"id":0,"kind":"kill","targets":["n1"],"start":10,"end":null,"f":"kill","targeting":"one","start_index":1}"#.to_string() + "\n",
        )
        .unwrap();
        let (w, warn) = run_windows(dir.path(), &evs, 40);
        assert_eq!(
            (w.len(), w[0].start, w[0].end, warn.len()),
            (1, 10, None, 0)
        );
        // An empty file: no fault ran.
        std::fs::write(dir.path().join("faults.jsonl"), "").unwrap();
        assert!(run_windows(dir.path(), &evs, 40).0.is_empty());
    }

    #[test]
    fn pairs_starts_with_stops() {
        use EventType::*;
        let evs = vec![
            nem(1, 10, Invoke, "pause", json!(["n1"])),
            nem(2, 11, Info, "pause", json!(["n1"])),
            nem(3, 15, Invoke, "kill", json!(["n2"])),
            nem(4, 16, Info, "kill", json!(["n2"])),
            nem(5, 20, Invoke, "resume", json!(["n1"])),
            nem(6, 21, Info, "resume", json!(["n1"])),
            nem(7, 30, Invoke, "start", json!(["n2"])),
            nem(8, 32, Info, "start", json!(["n2"])),
            nem(9, 40, Invoke, "start-partition", json!({"n1": ["n2"]})),
            nem(10, 41, Info, "start-partition", json!({"n1": ["n2"]})),
            nem(11, 50, Invoke, "stop-partition", Value::Null),
            nem(12, 51, Info, "stop-partition", Value::Null),
            nem(13, 60, Invoke, "frobnicate", Value::Null),
            nem(14, 61, Info, "frobnicate", Value::Null),
            nem(15, 70, Invoke, "heal", Value::Null),
            nem(16, 71, Info, "heal", Value::Null),
            nem(17, 80, Invoke, "bump", json!({"n1": 100})),
            nem(18, 81, Info, "bump", json!({"n1": 100})),
        ];
        let w = windows(&evs, 100);
        let got: Vec<_> = w
            .iter()
            .map(|w| (w.f.as_str(), w.class, w.start, w.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("pause", FaultClass::Pause, 10, Some(21)),
                ("kill", FaultClass::Kill, 15, Some(32)),
                ("start-partition", FaultClass::Partition, 40, Some(51)),
                ("frobnicate", FaultClass::Other, 60, Some(71)),
                ("bump", FaultClass::Clock, 80, None),
            ]
        );
        let c = clock_offsets(&evs);
        assert_eq!(
            c,
            vec![ClockPoint {
                time: 81,
                node: "n1".into(),
                offset_ms: 100.0
            }]
        );
    }
}
