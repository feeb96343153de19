//! Measures: stale reads, lost writes, convergence. Definitions are in the
//! parent module's documentation.

use super::{Act, Key};
use crate::history::{EventType, History, Operation, Process};
use crate::model::NIL;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// What the measures report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Measures {
    #[serde(rename = "stale-reads")]
    pub stale_reads: usize,
    /// The largest staleness among stale reads, in milliseconds (0 when there
    /// are none; `null` when stale reads exist but the history has no times).
    #[serde(rename = "max-staleness-ms")]
    pub max_staleness_ms: Option<f64>,
    #[serde(rename = "lost-writes")]
    pub lost_writes: usize,
    /// Whether the final reads agree per key across nodes; `null` without
    /// final reads.
    pub converged: Option<bool>,
}

/// Where the final phase starts: the position (among the history's events)
/// of the final heal, or of the `final-reads` marker when no heal exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinalPoint {
    pub heal: Option<usize>,
    pub marker: Option<usize>,
}

impl FinalPoint {
    /// Events at or before this position precede the final phase.
    pub fn cutoff(&self) -> Option<usize> {
        self.heal.or(self.marker)
    }
}

fn is_heal(f: &str) -> bool {
    f.starts_with("heal")
        || f.starts_with("stop")
        || matches!(
            f,
            "resume" | "start" | "restart" | "reset-clock" | "clock-reset"
        )
}

/// Finds the final heal and the final-reads marker among the nemesis events.
pub fn final_point(h: &History) -> FinalPoint {
    let mut fp = FinalPoint::default();
    for (i, e) in h.events.iter().enumerate() {
        let Process::Named(name) = &e.process else {
            continue;
        };
        if !name.eq_ignore_ascii_case("nemesis") {
            continue;
        }
        let f = e.f.strip_prefix(':').unwrap_or(&e.f);
        if is_heal(f) {
            fp.heal = Some(i);
        } else if f == "final-reads" || f == "final-read" {
            fp.marker = Some(i);
        }
    }
    let _ = EventType::Info;
    fp
}

fn is_final_read_f(op: &Operation) -> bool {
    let f = op.f.strip_prefix(':').unwrap_or(&op.f);
    f == "final-read" || f == "final-reads"
}

pub(crate) fn measure(keys: &[Key], ops: &[Operation], fp: FinalPoint) -> Measures {
    let mut m = Measures::default();
    let any_final_f = ops.iter().any(is_final_read_f);
    let cutoff = fp.cutoff();
    let mut max_ms: Option<f64> = None;
    let mut untimed = false;
    let mut any_final = false;
    let mut converged = true;
    for key in keys {
        // ok writes of this key, by call position
        let mut writes: Vec<(usize, usize, Option<i64>)> = Vec::new();
        let mut wret: FxHashMap<u32, Option<(usize, usize)>> = FxHashMap::default();
        // Values written more than once: a read of one does not say which
        // write it saw, so it is never counted stale.
        let mut ambiguous: rustc_hash::FxHashSet<u32> = Default::default();
        for k in &key.ops {
            let o = &ops[k.op];
            let v = match k.act {
                Act::Write(v) | Act::Cas(_, v) => v,
                Act::Read(_) => continue,
            };
            if wret.contains_key(&v) || v == NIL {
                ambiguous.insert(v);
            }
            match (k.ok, o.ret) {
                (true, Some(r)) => {
                    writes.push((o.call, r, o.complete_time));
                    wret.insert(v, Some((o.call, r)));
                }
                _ => {
                    wret.insert(v, None);
                }
            }
        }
        writes.sort_unstable_by_key(|w| w.0);
        // suffix minimum of completion over writes sorted by call
        let mut suf: Vec<(usize, Option<i64>)> = vec![(usize::MAX, None); writes.len() + 1];
        for i in (0..writes.len()).rev() {
            suf[i] = if writes[i].1 < suf[i + 1].0 {
                (writes[i].1, writes[i].2)
            } else {
                suf[i + 1]
            };
        }
        let mut post_heal: Vec<&super::KOp> = Vec::new();
        for k in &key.ops {
            let Act::Read(v) = k.act else { continue };
            let o = &ops[k.op];
            let final_read = is_final_read_f(o) || cutoff.is_some_and(|c| o.call > c);
            if final_read {
                post_heal.push(k);
            }
            if ambiguous.contains(&v) {
                continue;
            }
            let first = if v == NIL {
                0
            } else {
                match wret.get(&v) {
                    Some(Some((_, r))) => writes.partition_point(|w| w.0 <= *r),
                    _ => continue,
                }
            };
            let (minret, ctime) = suf[first];
            if minret < o.call {
                m.stale_reads += 1;
                match (o.invoke_time, ctime) {
                    (Some(a), Some(b)) => {
                        let ms = (a - b) as f64 / 1e6;
                        max_ms = Some(max_ms.map_or(ms, |x: f64| x.max(ms)));
                    }
                    _ => untimed = true,
                }
            }
        }
        // lost writes: the last acknowledged write, when every read of the
        // final phase shows a state definitely older than it.
        if !post_heal.is_empty() {
            let last = key
                .ops
                .iter()
                .filter(|k| k.ok && !matches!(k.act, Act::Read(_)))
                .filter_map(|k| ops[k.op].ret.map(|r| (r, k)))
                .max_by_key(|x| x.0);
            if let Some((_, w)) = last {
                let wv = match w.act {
                    Act::Write(v) | Act::Cas(_, v) => v,
                    Act::Read(_) => NIL,
                };
                let wcall = ops[w.op].call;
                let older = post_heal.iter().all(|r| {
                    let Act::Read(v) = r.act else { return false };
                    v != wv
                        && (v == NIL
                            || matches!(wret.get(&v), Some(Some((_, ret))) if *ret < wcall))
                });
                if older {
                    m.lost_writes += 1;
                }
            }
        }
        // convergence: the last final read per node agrees
        let finals: Vec<&super::KOp> = if any_final_f {
            post_heal
                .iter()
                .copied()
                .filter(|k| is_final_read_f(&ops[k.op]))
                .collect()
        } else {
            post_heal.clone()
        };
        if !finals.is_empty() {
            any_final = true;
            let mut last: FxHashMap<Option<&str>, (usize, u32)> = FxHashMap::default();
            for k in finals {
                let o = &ops[k.op];
                let Act::Read(v) = k.act else { continue };
                let e = last.entry(o.node.as_deref()).or_insert((o.call, v));
                if o.call >= e.0 {
                    *e = (o.call, v);
                }
            }
            let mut vals = last.values().map(|x| x.1);
            if let Some(first) = vals.next() {
                if vals.any(|v| v != first) {
                    converged = false;
                }
            }
        }
    }
    m.max_staleness_ms = if m.stale_reads == 0 {
        Some(0.0)
    } else if untimed && max_ms.is_none() {
        None
    } else {
        max_ms
    };
    m.converged = any_final.then_some(converged);
    m
}
