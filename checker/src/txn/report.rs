//! The verdict, the placement and the witnesses of a transactional check,
//! as the checker's `details` JSON and its [`Anomaly`] list.

use super::cycles::{Cycle, GaveUp, Search};
use super::graph::{kind_name, Graph};
use super::lattice::{self, Placement};
use super::parse::{Mop, Seen, Txn, Txns};
use super::{Found, Inference, TxnOptions};
use crate::checker::Anomaly;
use crate::history::Status;
use crate::verdict::Verdict;
use serde_json::{json, Value};

/// The result of a transactional check.
#[derive(Debug, Clone)]
pub struct TxnResult {
    pub verdict: Verdict,
    /// The anomaly classes found, sorted.
    pub anomaly_types: Vec<String>,
    pub placement: Placement,
    pub gave_up: Vec<GaveUp>,
    /// The checker's details (see the module documentation of
    /// `checkers::txn`).
    pub details: Value,
    pub anomalies: Vec<Anomaly>,
}

pub(super) struct Parts<'a> {
    pub opts: &'a TxnOptions,
    pub txns: &'a Txns,
    pub graph: &'a Graph,
    pub explainer: &'a dyn Inference,
    pub found: Vec<Found>,
    pub notes: Vec<String>,
    pub incomplete: Option<String>,
    pub search: Search,
    pub edges_inferred: usize,
    pub seconds: f64,
}

/// A txn's micro-ops as text: `[append 7 3] [r 7 [1 2 3]]`.
pub fn show_txn(t: &Txns, txn: &Txn) -> String {
    let parts: Vec<String> = txn
        .mops
        .iter()
        .map(|m| match m {
            Mop::Append(k, v) => format!("[append {} {}]", t.names.show(*k), t.names.show(*v)),
            Mop::Write(k, v) => format!("[w {} {}]", t.names.show(*k), t.names.show(*v)),
            Mop::Read(k, s) => {
                let seen = match s {
                    Seen::Unknown => "?".to_string(),
                    l @ Seen::List(..) => t.names.show_list(t.list(l)),
                    Seen::Reg(None) => "nil".to_string(),
                    Seen::Reg(Some(v)) => t.names.show(*v).to_string(),
                };
                format!("[r {} {}]", t.names.show(*k), seen)
            }
        })
        .collect();
    parts.join(" ")
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Fail => "fail",
        Status::Info => "info",
    }
}

fn txn_json(t: &Txns, i: u32) -> Value {
    let txn = &t.txns[i as usize];
    json!({
        "index": txn.index,
        "complete_index": txn.complete_index,
        "process": txn.process,
        "status": status(txn.status),
        "value": show_txn(t, txn),
    })
}

fn cycle_json(p: &Parts, c: &Cycle) -> (Value, String, Vec<u64>) {
    let t = p.txns;
    let n = c.steps.len();
    let mut steps = Vec::with_capacity(n);
    let mut words = Vec::with_capacity(n);
    for (i, s) in c.steps.iter().enumerate() {
        let to = c.steps[(i + 1) % n].from;
        let why = p.explainer.explain(t, s.from, to, s.kind);
        words.push(format!(
            "T{} < T{} ({}): {why}",
            t.txns[s.from as usize].index,
            t.txns[to as usize].index,
            kind_name(s.kind)
        ));
        steps.push(json!({
            "from": t.txns[s.from as usize].index,
            "to": t.txns[to as usize].index,
            "kind": kind_name(s.kind),
            "why": why,
        }));
    }
    let first = t.txns[c.steps[0].from as usize].index;
    let explanation = format!(
        "{}; so T{first} would have to precede itself: a {} cycle",
        words.join("; "),
        c.class
    );
    let ids: Vec<u64> = c
        .steps
        .iter()
        .map(|s| t.txns[s.from as usize].index)
        .collect();
    let v = json!({
        "type": c.class,
        "txns": c.steps.iter().map(|s| txn_json(t, s.from)).collect::<Vec<_>>(),
        "cycle": steps,
        "component_size": c.component,
        "explanation": explanation,
    });
    (v, explanation, ids)
}

pub(super) fn build(p: Parts) -> TxnResult {
    let t = p.txns;
    let opts = p.opts;
    let mut types: Vec<String> = Vec::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut witnesses: serde_json::Map<String, Value> = serde_json::Map::new();
    let mut anomalies: Vec<Anomaly> = Vec::new();
    let bump = |counts: &mut Vec<(String, usize)>, class: &str, by: usize| -> usize {
        match counts.iter_mut().find(|(c, _)| c == class) {
            Some((_, n)) => {
                *n += by;
                *n
            }
            None => {
                counts.push((class.to_string(), by));
                by
            }
        }
    };
    for c in &p.search.cycles {
        let (v, words, ids) = cycle_json(&p, c);
        witnesses
            .entry(c.class.clone())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(v);
        anomalies.push(Anomaly {
            part: c.class.clone(),
            what: crate::checkers::clip(&format!("{}: {words}", c.class), 600),
            ops: ids,
        });
    }
    for f in &p.found {
        let n = bump(&mut counts, f.class, 1);
        if n > opts.max_witnesses {
            continue;
        }
        let ids: Vec<u64> = f.txns.iter().map(|&i| t.txns[i as usize].index).collect();
        witnesses
            .entry(f.class.to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!({
                "type": f.class,
                "txns": f.txns.iter().map(|&i| txn_json(t, i)).collect::<Vec<_>>(),
                "explanation": f.why,
            }));
        anomalies.push(Anomaly {
            part: f.class.to_string(),
            what: crate::checkers::clip(&format!("{}: {}", f.class, f.why), 400),
            ops: ids,
        });
    }
    for (class, n) in &p.search.counts {
        bump(&mut counts, class, *n);
    }
    for (c, _) in &counts {
        types.push(c.clone());
    }
    types.sort();
    let placement = lattice::place(types.iter().map(String::as_str));
    let prohibited = lattice::prohibited_by(opts.require);
    let ruled_out =
        placement.not.contains(&opts.require) || placement.also_not.contains(&opts.require);
    let undecided: Vec<&GaveUp> = p
        .search
        .gave_up
        .iter()
        .filter(|g| prohibited.contains(&g.class))
        .collect();
    let verdict = if ruled_out {
        Verdict::Invalid
    } else if !undecided.is_empty() || p.incomplete.is_some() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let ok = t.txns.iter().filter(|x| x.status == Status::Ok).count();
    let info = t.txns.iter().filter(|x| x.status == Status::Info).count();
    let fail = t.txns.len() - ok - info;
    let counts_json: serde_json::Map<String, Value> =
        counts.iter().map(|(c, n)| (c.clone(), json!(n))).collect();
    // Which anomalies found rule out each of the weakest models ruled out.
    let why_not: serde_json::Map<String, Value> = placement
        .not
        .iter()
        .map(|m| {
            let banned = lattice::prohibited_by(m);
            let by: Vec<&String> = types.iter().filter(|a| banned.contains(a)).collect();
            (m.to_string(), json!(by))
        })
        .collect();
    let summary = summary(&p, verdict, &types, &counts, &placement, &undecided);
    let mut details = json!({
        "checker": opts.kind.name(),
        "verdict": verdict.as_str(),
        "model": opts.kind.name(),
        "require": opts.require,
        "assumptions": opts.assume.names(),
        "summary": summary,
        "anomaly_types": types,
        "anomaly_counts": counts_json,
        "anomalies": witnesses,
        "not": placement.not,
        "why_not": why_not,
        "also_not": placement.also_not,
        "strongest_kept": placement.strongest_kept,
        "lattice": "Elle's consistency-model graph (Adya; Cerone et al.; Bailis et al.)",
        "txns": {"total": t.txns.len(), "ok": ok, "info": info, "fail": fail, "not_txn": t.skipped},
        "graph": {"nodes": p.graph.nodes(), "edges": p.graph.edges(), "edges_inferred": p.edges_inferred},
        "search": {
            "components": p.search.components,
            "largest_component": p.search.largest_component,
            "steps": p.search.steps,
            "max_steps": opts.max_steps,
            "gave_up": p.search.gave_up,
        },
        "notes": p.notes,
        "warnings": t.warnings,
        "seconds": p.seconds,
    });
    if let (Verdict::Unknown, Some(why)) = (verdict, &p.incomplete) {
        details["reason"] = json!(why);
    } else if verdict == Verdict::Unknown {
        let classes: Vec<&str> = undecided.iter().map(|g| g.class.as_str()).collect();
        details["reason"] = json!(format!(
            "the cycle search ran out of {} before it could rule {} in or out (classes not searched: {})",
            undecided[0].out_of,
            opts.require,
            classes.join(", ")
        ));
    }
    TxnResult {
        verdict,
        anomaly_types: types,
        placement,
        gave_up: p.search.gave_up.clone(),
        details,
        anomalies,
    }
}

fn summary(
    p: &Parts,
    verdict: Verdict,
    types: &[String],
    counts: &[(String, usize)],
    placement: &Placement,
    undecided: &[&GaveUp],
) -> String {
    let n = p.txns.txns.len();
    let mut head = format!("{} txns", n);
    if let Some(g) = p.search.gave_up.first() {
        let classes: Vec<&str> = p.search.gave_up.iter().map(|g| g.class.as_str()).collect();
        head.push_str(&format!(
            " (cycle searches gave up, out of {}, in a component of {} txns: {})",
            g.out_of,
            g.component_size,
            crate::checkers::clip(&classes.join(", "), 120)
        ));
    }
    if types.is_empty() {
        let tail = if undecided.is_empty() {
            String::new()
        } else {
            " (some cycle searches gave up)".to_string()
        };
        return format!(
            "{head}: no anomalies; consistent with {}{tail}",
            placement.strongest_kept.join(", ")
        );
    }
    let found: Vec<String> = types
        .iter()
        .map(|c| {
            let k = counts.iter().find(|(x, _)| x == c).map_or(0, |(_, k)| *k);
            format!("{c} ×{k}")
        })
        .collect();
    let kept = if placement.strongest_kept.is_empty() {
        "none".to_string()
    } else {
        placement.strongest_kept.join(", ")
    };
    format!(
        "{head}: {}; not {} (the weakest models ruled out){}; strongest models kept: {kept}; so {} for {} (required)",
        found.join(", "),
        placement.not.join(", "),
        if placement.also_not.is_empty() {
            String::new()
        } else {
            format!(", also not {}", placement.also_not.join(", "))
        },
        verdict.as_str(),
        p.opts.require
    )
}

/// The result when the graph would not fit the memory budget.
pub(super) fn over_memory(opts: &TxnOptions, t: &Txns, need: usize, max: usize) -> TxnResult {
    let reason = format!(
        "the dependency graph of {} txns needs about {} MiB, over the memory budget of {} MiB",
        t.txns.len(),
        need >> 20,
        max >> 20
    );
    TxnResult {
        verdict: Verdict::Unknown,
        anomaly_types: Vec::new(),
        placement: Placement::default(),
        gave_up: Vec::new(),
        details: json!({
            "checker": opts.kind.name(), "verdict": "unknown", "require": opts.require,
            "reason": reason, "anomaly_types": [],
        }),
        anomalies: Vec::new(),
    }
}
