//! Fault windows from the nemesis ops, and clock offsets from clock faults.
//!
//! Each fault start is paired with the stop that ends it: `pause` → `resume`,
//! `kill`/`crash`/`stop` → `start`/`restart`/`recover`, `partition`/
//! `start-partition` → `heal`/`stop-partition`/`repair`, `bump`/`strobe`/
//! `clock-*` → `reset`, and generally `start-X` → `stop-X`. A fault whose name
//! we do not know gets a generic colour and ends at the next stop-like op. A
//! window runs from the start op's invocation to the stop op's completion; one
//! never stopped stays open to the end of the history.

use crate::markup::value_text;
use checker::{Event, EventType};
use serde_json::Value;

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
