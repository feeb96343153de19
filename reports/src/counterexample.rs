//! The counterexample section: a Porcupine-style drawing of the failing key's
//! sub-history for an invalid linearizability verdict, or the offending ops of
//! other checkers with links into the timeline.

use crate::markup::{esc, str_of, value_text};
use crate::run::Run;
use checker::linearizability::Counterexample;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;

/// How many of the last linearized steps to draw.
const TAIL: usize = 12;
/// At most this many ops in the drawing.
const MAX_OPS: usize = 40;

/// The parts of a [`Counterexample`] the page uses, read from results.json
/// (field names as `checker::linearizability::Counterexample` serializes).
struct Ce<'a> {
    v: &'a Value,
}

impl<'a> Ce<'a> {
    fn op(&self) -> &'a Value {
        &self.v["op"]
    }
    fn steps(&self) -> &'a [Value] {
        self.v["linearized"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or(&[])
    }
    fn candidates(&self) -> &'a [Value] {
        self.v["candidates"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or(&[])
    }
}

// Keep the field names above in step with the checker's type.
#[allow(dead_code)]
fn _field_names(c: &Counterexample) -> usize {
    let _ = (
        &c.partition,
        &c.op.invoke_index,
        &c.op.description,
        &c.state,
    );
    c.linearized.len() + c.candidates.len() + c.partition_ops
}

fn op_link(index: &Value, text: &str) -> String {
    crate::markup::op_link(index.as_u64(), text)
}

fn opview_label(v: &Value) -> String {
    str_of(&v["description"]).unwrap_or_else(|| value_text(&v["f"]))
}

pub fn section(run: &Run, out: &mut String) {
    let Some(results) = &run.results else {
        out.push_str(r#"<section id="counterexample"><h2>Counterexample</h2><p class="muted">This run has no results.json: it was not checked (run <code>faultline analyze</code> on it).</p></section>"#);
        return;
    };
    let workload = results.workload.to_value();
    let w = &workload;
    let fifo_details = results.details("fifo-queue");
    let fifo_pass = fifo_details.as_ref();
    let verdict = str_of(&w["verdict"]).unwrap_or_default();
    if crate::isolation::is_isolation(w) {
        crate::isolation::section(w, out);
        return;
    }
    if w["counterexample"].is_object() {
        out.push_str(r#"<section id="counterexample"><h2>Counterexample</h2>"#);
        linearizability(run, &w["counterexample"], out);
        out.push_str("</section>");
        return;
    }
    let witnesses = collect_witnesses(w);
    if !witnesses.is_empty() {
        // A valid run's examples (redeliveries an at-least-once queue may
        // make, recovered info ops) are allowed, not offending.
        if verdict == "valid" {
            out.push_str(r#"<section id="counterexample"><h2>Operations of note</h2><p class="muted">The run is valid: these are what the checker lists as allowed (for instance redeliveries under at-least-once, or indeterminate ops that turned out to have happened).</p>"#);
        } else {
            out.push_str(r#"<section id="counterexample"><h2>Offending operations</h2>"#);
        }
        for (title, expl, ops) in witnesses {
            let _ = write!(out, "<h3>{}</h3>", esc(&title));
            if !expl.is_empty() {
                let _ = write!(out, r#"<p class="explain">{}</p>"#, esc(&expl));
            }
            out.push_str(r#"<table class="data"><thead><tr><th>index</th><th>process</th><th>node</th><th>f</th><th>value</th><th>status</th></tr></thead><tbody>"#);
            for o in ops {
                let index = o["index"].clone();
                // Fill in what a bare index leaves out from the history.
                let o = match (o.get("f"), index.as_u64()) {
                    (None, Some(i)) => run
                        .ops
                        .iter()
                        .find(|op| op.invoke_index == i || op.complete_index == Some(i))
                        .map(|op| {
                            serde_json::json!({
                                "index": i,
                                "process": op.process.to_string(),
                                "node": op.node,
                                "f": op.f,
                                "value": if op.output.is_null() { &op.input } else { &op.output },
                                "status": format!("{:?}", op.status).to_lowercase(),
                            })
                        })
                        .unwrap_or(o),
                    _ => o,
                };
                let idx = &o["index"];
                let _ =
                    write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    op_link(idx, &value_text(idx)),
                    esc(&value_text(&o["process"])),
                    esc(&str_of(&o["node"]).unwrap_or_default()),
                    esc(&value_text(&o["f"])),
                    esc(&value_text(&o["value"])),
                    esc(&str_of(&o["status"]).or_else(|| str_of(&o["type"])).unwrap_or_default()),
                );
            }
            out.push_str("</tbody></table>");
        }
        fifo(fifo_pass, out);
        out.push_str("</section>");
        return;
    }
    out.push_str(r#"<section id="counterexample"><h2>Counterexample</h2>"#);
    match verdict.as_str() {
        "valid" => {
            out.push_str(r#"<p class="muted">None: the checker found the history valid.</p>"#)
        }
        _ => {
            let why = str_of(&w["reason"])
                .or_else(|| str_of(&w["error"]))
                .unwrap_or_else(|| "the checker gave no counterexample".into());
            let _ = write!(
                out,
                r#"<p class="explain">Verdict {}: {}</p>"#,
                esc(&verdict),
                esc(&why)
            );
        }
    }
    fifo(fifo_pass, out);
    out.push_str("</section>");
}

/// The informational fifo-queue pass: its verdict and, when invalid, the
/// op that cannot be linearized, linked into the timeline.
fn fifo(f: Option<&Value>, out: &mut String) {
    let Some(f) = f else { return };
    let Some(verdict) = str_of(&f["verdict"]) else {
        return;
    };
    let skipped = f["skipped_queues"].as_array().map_or(0, Vec::len);
    let _ = write!(
        out,
        r#"<h3>FIFO order (informational)</h3><p class="explain">fifo-queue linearizability: <b>{}</b> ({} queue(s) searched, {} over {} ops skipped). This never changes the verdict: the queues under test do not promise FIFO order (redelivery, skipped in-flight messages, failover), so a violation here is expected, not a bug.</p>"#,
        esc(&verdict),
        esc(&value_text(&f["checked_queues"])),
        skipped,
        esc(&value_text(&f["max_ops_per_queue"]))
    );
    if let Some(r) = str_of(&f["reason"]) {
        let _ = write!(out, r#"<p class="muted">{}</p>"#, esc(&r));
    }
    let ce = &f["counterexample"];
    if ce.is_object() {
        let op = &ce["op"];
        let _ = write!(
            out,
            r#"<p class="explain">The op that cannot be linearized: {}. {}</p>"#,
            op_link(&op["invoke_index"], &opview_label(op)),
            esc(&str_of(&ce["explanation"]).unwrap_or_default())
        );
    }
}

/// (title, explanation, ops) for every witness-like object under `v`: an
/// object with an `ops` array whose elements carry history `index`es.
fn collect_witnesses(v: &Value) -> Vec<(String, String, Vec<Value>)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, String, Vec<Value>)>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(ops)) = m.get("ops") {
                    // Ops given as bare history indices (the queue and lock
                    // checkers' examples) become `{"index": i}`.
                    let ops: Vec<Value> = ops
                        .iter()
                        .map(|o| match o.as_u64() {
                            Some(i) => serde_json::json!({ "index": i }),
                            None => o.clone(),
                        })
                        .collect();
                    if !ops.is_empty() && ops.iter().all(|o| o.get("index").is_some()) {
                        let title = m
                            .get("model")
                            .and_then(str_of)
                            .unwrap_or_else(|| path.to_string());
                        let expl = m
                            .get("explanation")
                            .and_then(str_of)
                            .or_else(|| m.get("value").map(|v| format!("value {}", value_text(v))))
                            .unwrap_or_default();
                        out.push((title, expl, ops));
                        return;
                    }
                }
                for (k, x) in m {
                    if k == "counterexample" {
                        continue;
                    }
                    let p = if path.is_empty() {
                        k.clone()
                    } else if k == "witness" {
                        path.to_string()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, &p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let p = str_of(&x["model"]).unwrap_or_else(|| format!("{path}[{i}]"));
                    walk(x, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Other,
    Linearized(usize),
    Candidate,
    Failing,
}

fn linearizability(run: &Run, cev: &Value, out: &mut String) {
    let ce = Ce { v: cev };
    if let Some(e) = str_of(&cev["explanation"]) {
        let _ = write!(out, r#"<p class="explain">{}</p>"#, esc(&e));
    }
    let part = str_of(&cev["partition"]);
    let steps = ce.steps();
    let tail_from = steps.len().saturating_sub(TAIL);
    // Roles by invocation index.
    let mut role: HashMap<u64, Role> = HashMap::new();
    for (i, s) in steps.iter().enumerate().skip(tail_from) {
        if let Some(ix) = s["op"]["invoke_index"].as_u64() {
            role.insert(ix, Role::Linearized(i + 1));
        }
    }
    for c in ce.candidates() {
        if let Some(ix) = c["op"]["invoke_index"].as_u64() {
            role.insert(ix, Role::Candidate);
        }
    }
    let fail_ix = ce.op()["invoke_index"].as_u64();
    if let Some(ix) = fail_ix {
        role.insert(ix, Role::Failing);
    }
    // The time window: the drawn linearized ops through the failing op.
    let key_ops: Vec<&checker::Operation> = run
        .ops
        .iter()
        .filter(|o| match (&part, &o.key) {
            (Some(p), Some(k)) => value_text(k) == *p,
            (None, _) => true,
            _ => false,
        })
        .collect();
    // Ops to draw: those with a role, plus the key's other ops concurrent
    // with the drawn linearization tail or with the failing op.
    let mut spans: Vec<(i64, i64)> = Vec::new();
    let roled: Vec<&checker::Operation> = key_ops
        .iter()
        .copied()
        .filter(|o| role.contains_key(&o.invoke_index))
        .collect();
    let lin: Vec<&&checker::Operation> = roled
        .iter()
        .filter(|o| matches!(role[&o.invoke_index], Role::Linearized(_)))
        .collect();
    if let (Some(a), Some(b)) = (
        lin.iter().filter_map(|o| o.invoke_time).min(),
        lin.iter()
            .filter_map(|o| o.complete_time.or(o.invoke_time))
            .max(),
    ) {
        spans.push((a, b));
    }
    for o in &roled {
        if !matches!(role[&o.invoke_index], Role::Linearized(_)) {
            if let Some(a) = o.invoke_time {
                spans.push((a, o.complete_time.unwrap_or(a)));
            }
        }
    }
    let overlaps = |o: &checker::Operation| {
        let a = o.invoke_time.unwrap_or(i64::MIN);
        let b = o.complete_time.unwrap_or(i64::MAX);
        spans.iter().any(|(x, y)| a <= *y && b >= *x)
    };
    let mut shown: Vec<&checker::Operation> = key_ops
        .iter()
        .copied()
        .filter(|o| role.contains_key(&o.invoke_index) || overlaps(o))
        .collect();
    if shown.len() > MAX_OPS {
        let fail_t = roled
            .iter()
            .find(|o| Some(o.invoke_index) == fail_ix)
            .and_then(|o| o.invoke_time)
            .unwrap_or(0);
        shown.sort_by_key(|o| {
            (
                !role.contains_key(&o.invoke_index),
                (o.invoke_time.unwrap_or(0) - fail_t).abs(),
            )
        });
        shown.truncate(MAX_OPS);
    }
    if !shown.is_empty() {
        let fail_done = roled
            .iter()
            .find(|o| Some(o.invoke_index) == fail_ix)
            .and_then(|o| o.complete_time);
        drawing(&shown, &role, fail_ix, fail_done, out);
    }
    // The linearization, the op that cannot follow, the state, candidates.
    let _ = write!(
        out,
        r#"<h3>Longest linearization found{}</h3><table class="data"><thead><tr><th>step</th><th>process</th><th>node</th><th>op</th><th>history line</th><th>state after</th></tr></thead><tbody>"#,
        if tail_from > 0 {
            format!(
                " (last {} of {} steps)",
                steps.len() - tail_from,
                steps.len()
            )
        } else {
            format!(" ({} steps)", steps.len())
        }
    );
    for (i, s) in steps.iter().enumerate().skip(tail_from) {
        let op = &s["op"];
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}–{}</td><td><code>{}</code></td></tr>",
            i + 1,
            esc(&value_text(&op["process"])),
            esc(&str_of(&op["node"]).unwrap_or_default()),
            op_link(&op["invoke_index"], &opview_label(op)),
            esc(&value_text(&op["invoke_line"])),
            esc(&value_text(&op["complete_line"])),
            esc(&value_text(&s["state_after"]))
        );
    }
    let op = ce.op();
    let _ = write!(
        out,
        r#"<tr class="failing"><td>✗</td><td>{}</td><td>{}</td><td>{} <b>cannot follow</b></td><td>{}–{}</td><td>state is <code>{}</code></td></tr></tbody></table>"#,
        esc(&value_text(&op["process"])),
        esc(&str_of(&op["node"]).unwrap_or_default()),
        op_link(&op["invoke_index"], &opview_label(op)),
        esc(&value_text(&op["invoke_line"])),
        esc(&value_text(&op["complete_line"])),
        esc(&value_text(&cev["state"]))
    );
    let cands = ce.candidates();
    if !cands.is_empty() {
        let _ = write!(
            out,
            r#"<h3>Candidates for the next step (model state <code>{}</code>)</h3><table class="data"><thead><tr><th>op</th><th>process</th><th>status</th><th>legal here?</th><th>why it cannot come next</th></tr></thead><tbody>"#,
            esc(&value_text(&cev["state"]))
        );
        for c in cands {
            let op = &c["op"];
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                op_link(&op["invoke_index"], &opview_label(op)),
                esc(&value_text(&op["process"])),
                esc(&value_text(&op["status"])),
                if c["legal"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                esc(&value_text(&c["reason"]))
            );
        }
        out.push_str("</tbody></table>");
    }
}

fn label(o: &checker::Operation) -> String {
    let mut s = o.f.clone();
    if !o.input.is_null() {
        s.push(' ');
        s.push_str(&value_text(&o.input));
    }
    if !o.output.is_null() && o.output != o.input {
        s.push_str(" → ");
        s.push_str(&value_text(&o.output));
    }
    s
}

fn drawing(
    ops: &[&checker::Operation],
    role: &HashMap<u64, Role>,
    fail_ix: Option<u64>,
    fail_done: Option<i64>,
    out: &mut String,
) {
    let mut procs: Vec<String> = ops.iter().map(|o| o.process.to_string()).collect();
    procs.sort_by_key(|p| crate::run::natural_key(p));
    procs.dedup();
    // x is event order (as in Porcupine), not time: every invocation and
    // completion gets its own column, and long quiet gaps are marked.
    let mut times: Vec<i64> = ops
        .iter()
        .flat_map(|o| [o.invoke_time, o.complete_time])
        .flatten()
        .collect();
    times.sort_unstable();
    times.dedup();
    let cols = times.len() + 1;
    let (left, lane_h) = (78.0f64, 34.0f64);
    let step = ((1100.0 - left - 10.0) / cols as f64).max(16.0);
    let w = left + step * cols as f64 + 10.0;
    let h = 36.0 + lane_h * procs.len() as f64 + 10.0;
    let col = |t: Option<i64>| match t {
        Some(t) => times.partition_point(|x| *x < t),
        None => cols,
    };
    let x = |c: usize| left + c as f64 * step;
    let _ = write!(
        out,
        r#"<div class="ce-wrap"><svg class="ce" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (i, p) in procs.iter().enumerate() {
        let y = 36.0 + i as f64 * lane_h;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{w}" y1="{:.1}" y2="{:.1}" stroke="#eee"/><text x="6" y="{:.1}" class="tick">process {}</text>"##,
            y + lane_h / 2.0,
            y + lane_h / 2.0,
            y + lane_h / 2.0 + 4.0,
            esc(p)
        );
    }
    // Gaps much longer than usual between consecutive events.
    let mut gaps: Vec<i64> = times.windows(2).map(|p| p[1] - p[0]).collect();
    gaps.sort_unstable();
    let typical = gaps.get(gaps.len() / 2).copied().unwrap_or(0).max(1);
    for (i, p) in times.windows(2).enumerate() {
        let gap = p[1] - p[0];
        if gap > typical * 20 && gap > 100_000_000 {
            let gx = x(i + 1) - step / 2.0 + step / 2.0;
            let _ = write!(
                out,
                r##"<line x1="{gx:.1}" x2="{gx:.1}" y1="30" y2="{:.1}" stroke="#999" stroke-dasharray="1 3"/><text x="{gx:.1}" y="24" class="tick" text-anchor="middle">… {:.1} s …</text>"##,
                h - 6.0,
                gap as f64 / 1e9
            );
        }
    }
    let _ = write!(
        out,
        r##"<text x="{left}" y="12" class="tick">{:.3} s</text><text x="{:.1}" y="12" class="tick" text-anchor="end">{:.3} s</text>"##,
        times.first().copied().unwrap_or(0) as f64 / 1e9,
        w - 10.0,
        times.last().copied().unwrap_or(0) as f64 / 1e9
    );
    if let Some(t) = fail_done {
        let xf = x(col(Some(t)) + 1) - 2.0;
        let _ = write!(
            out,
            r##"<line x1="{xf:.1}" x2="{xf:.1}" y1="30" y2="{:.1}" stroke="#c00" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" class="tick" fill="#c00" text-anchor="end">failing op returned</text>"##,
            h - 4.0,
            xf - 3.0,
            h - 2.0
        );
    }
    let mut badges: Vec<(usize, f64, f64)> = Vec::new();
    for o in ops {
        let lane = procs
            .iter()
            .position(|p| *p == o.process.to_string())
            .unwrap_or(0);
        let y = 36.0 + lane as f64 * lane_h + 6.0;
        let a = x(col(o.invoke_time)) + 1.5;
        let b = x(col(o.complete_time) + 1) - 1.5;
        let r = role.get(&o.invoke_index).copied().unwrap_or(Role::Other);
        let (fill, stroke, sw) = match r {
            Role::Failing => ("#f6b0b0", "#c00", 2.5),
            Role::Candidate => ("#fbe3a6", "#c90", 1.5),
            Role::Linearized(_) => ("#bfe5bf", "#3a3", 1.0),
            Role::Other => ("#eeeeee", "#aaa", 1.0),
        };
        let text = label(o);
        let fits = ((b - a - 6.0) / 6.2).max(0.0) as usize;
        let shown: String = if text.chars().count() <= fits {
            text.clone()
        } else if fits > 2 {
            text.chars().take(fits - 1).collect::<String>() + "…"
        } else {
            String::new()
        };
        let status = format!("{:?}", o.status).to_lowercase();
        let _ = write!(
            out,
            r##"<a href="#op-{}"><rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="22" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"{}/><text x="{:.1}" y="{:.1}" class="oplabel">{}</text><title>process {} {} ({}) node {} · history index {} · {}{}</title></a>"##,
            o.invoke_index,
            (b - a).max(2.0),
            if o.complete_time.is_none() {
                r#" stroke-dasharray="3 2""#
            } else {
                ""
            },
            a + 4.0,
            y + 15.0,
            esc(&shown),
            esc(&o.process.to_string()),
            esc(&text),
            esc(&status),
            esc(o.node.as_deref().unwrap_or("?")),
            o.invoke_index,
            match (o.invoke_time, o.complete_time) {
                (Some(a), Some(b)) => format!(
                    "{:.3}–{:.3} s ({:.2} ms)",
                    a as f64 / 1e9,
                    b as f64 / 1e9,
                    (b - a) as f64 / 1e6
                ),
                (Some(a), None) => format!("invoked {:.3} s, never completed", a as f64 / 1e9),
                _ => String::new(),
            },
            match r {
                Role::Failing => " · cannot be linearized".to_string(),
                Role::Candidate => " · candidate".to_string(),
                Role::Linearized(n) => format!(" · linearization step {n}"),
                Role::Other => String::new(),
            }
        );
        if let Role::Linearized(n) = r {
            badges.push((n, a, b.max(a + 1.0)));
        } else if Some(o.invoke_index) == fail_ix {
            badges.push((usize::MAX, a, b));
        }
        let _ = y;
    }
    // The linearization order as a path through each op's linearization point.
    badges.sort_by_key(|b| b.0);
    let mut prev = f64::MIN;
    let mut pts = Vec::new();
    for (n, a, b) in &badges {
        if *n == usize::MAX {
            continue;
        }
        let px = (prev + 8.0).max(a + 6.0).min(b - 2.0).max(*a);
        prev = px;
        let lane_y = ops
            .iter()
            .find(|o| matches!(role.get(&o.invoke_index), Some(Role::Linearized(k)) if k == n))
            .map(|o| {
                procs
                    .iter()
                    .position(|p| *p == o.process.to_string())
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        pts.push((*n, px, 36.0 + lane_y as f64 * lane_h + 6.0));
    }
    if pts.len() > 1 {
        let d: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(i, (_, px, py))| format!("{}{px:.1} {py:.1}", if i == 0 { 'M' } else { 'L' }))
            .collect();
        let _ = write!(
            out,
            r##"<path d="{}" stroke="#2a7a2a" stroke-width="1" fill="none" opacity="0.6"/>"##,
            d.join("")
        );
    }
    for (n, px, py) in pts {
        let _ = write!(
            out,
            r##"<circle cx="{px:.1}" cy="{py:.1}" r="7" fill="#2a7a2a"/><text x="{px:.1}" y="{:.1}" class="badge" text-anchor="middle">{n}</text>"##,
            py + 3.0
        );
    }
    out.push_str("</svg></div>");
    out.push_str(r#"<div class="legend"><span><i style="background:#bfe5bf"></i>linearized (numbered in order)</span><span><i style="background:#f6b0b0;border:1px solid #c00"></i>cannot be linearized</span><span><i style="background:#fbe3a6"></i>candidate next step</span><span><i style="background:#eee"></i>other ops on this key</span><span>x is event order (every invocation and completion a column), not to scale; hover a bar for times</span></div>"#);
}

/// The shrunk counterexample (`results.json`'s `shrunk`), first: the few
/// ops that are still invalid, each linked to its place in the timeline,
/// with a link to the full one below and to the file.
pub fn shrunk(run: &Run, out: &mut String) {
    let Some(s) = run.results.as_ref().and_then(|r| r.shrunk.as_ref()) else {
        return;
    };
    let path = run.dir.join(&s.file);
    let events = match checker::formats::read_file(&path, Some(checker::formats::Format::Jsonl)) {
        Ok((h, _)) => h.events,
        Err(e) => {
            let _ = write!(
                out,
                r#"<section id="shrunk"><h2>Shrunk counterexample</h2><p class="explain">results.json names {} but it cannot be read: {}</p></section>"#,
                esc(&s.file),
                esc(&e.to_string())
            );
            return;
        }
    };
    let _ = write!(
        out,
        r##"<section id="shrunk"><h2>Shrunk counterexample</h2><p class="explain">{} of the run's {} ops are enough for {} to find it invalid: {}. {} Found in {:.2} s ({} checks). <a href="{}">{}</a> · <a href="#counterexample">the full counterexample</a></p>"##,
        s.ops_after,
        s.ops_before,
        esc(&s.checker),
        esc(&s.what),
        if s.one_minimal {
            "Removing any one of them makes the history valid."
        } else {
            "The time budget ran out before it was proven 1-minimal."
        },
        s.seconds,
        s.checks,
        esc(&crate::markup::url_path_segment(&s.file)),
        esc(&s.file)
    );
    out.push_str(r#"<table class="data"><thead><tr><th>index</th><th>process</th><th>type</th><th>f</th><th>key</th><th>value</th><th>node</th></tr></thead><tbody>"#);
    for e in &events {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            crate::markup::op_link(Some(e.index), &e.index.to_string()),
            esc(&e.process.to_string()),
            esc(e.kind.as_str()),
            esc(&e.f),
            esc(&e.key.as_ref().map(value_text).unwrap_or_default()),
            esc(&value_text(&e.value)),
            esc(e.node.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table></section>");
}
