//! The run page: header, timeline, performance, counterexample, stats, files.

use crate::markup::{op_link, str_of, value_text, verdict_badge};
use crate::run::Run;
use crate::{counterexample, svg};
use checker::results::RunResults;
use checker::stats::{self, Quantiles, Tally};
use checker::{Process, Status};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write;

pub use crate::markup::{esc, human_size, script_json, shell_quote, url_path_segment};

pub const STYLE: &str = include_str!("../assets/style.css");
const TIMELINE_JS: &str = include_str!("../assets/timeline.js");

/// The command that reruns the test: `argv` with `--seed` set to the run's
/// seed (added when absent).
pub fn rerun_command(run: &Run) -> Option<String> {
    let argv: Vec<String> = run.test["argv"]
        .as_array()?
        .iter()
        .map(value_text)
        .collect();
    let seed = str_of(&run.test["seed"]).or_else(|| str_of(run.spec("seed")));
    let mut out: Vec<String> = Vec::new();
    let mut has_seed = false;
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--seed" {
            has_seed = true;
            out.push(a.clone());
            if let Some(v) = argv.get(i + 1) {
                out.push(seed.clone().unwrap_or_else(|| v.clone()));
            }
            i += 2;
            continue;
        }
        if let Some(v) = a.strip_prefix("--seed=") {
            has_seed = true;
            out.push(format!(
                "--seed={}",
                seed.clone().unwrap_or_else(|| v.into())
            ));
        } else {
            out.push(a.clone());
        }
        i += 1;
    }
    if !has_seed {
        if let Some(s) = seed {
            out.push("--seed".into());
            out.push(s);
        }
    }
    Some(
        out.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The consistency models, strongest first, as `results.json` names them.
const MODELS: [(&str, &str); 8] = [
    ("linearizable", "linearizable"),
    ("sequential", "sequential"),
    ("causal", "causal"),
    ("pram", "PRAM"),
    ("monotonic-reads", "monotonic reads"),
    ("monotonic-writes", "monotonic writes"),
    ("read-your-writes", "read your writes"),
    ("writes-follow-reads", "writes follow reads"),
];

/// The consistency hierarchy as a row of ✓/✗/?, the measures, the summary,
/// and each failing model's witness with links into the timeline.
fn consistency(run: &Run, out: &mut String) {
    let Some(r) = &run.results else { return };
    let c = &r.consistency;
    if c.consistency.is_none() {
        return;
    }
    out.push_str(
        r#"<section id="consistency"><h2>Consistency</h2><table class="data"><thead><tr>"#,
    );
    for (_, label) in MODELS {
        let _ = write!(out, "<th>{}</th>", esc(label));
    }
    out.push_str("</tr></thead><tbody><tr>");
    for (key, _) in MODELS {
        let (sym, class) = match c.verdict(key) {
            Some(checker::Verdict::Valid) => ("✓", "valid"),
            Some(checker::Verdict::Invalid) => ("✗", "invalid"),
            _ => ("?", "unknown"),
        };
        let why = c
            .reasons
            .as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<td class="verdict-cell {class}" title="{}">{sym}</td>"#,
            crate::markup::attr(&why)
        );
    }
    out.push_str("</tr></tbody></table>");
    if let Some(s) = &c.summary {
        let _ = write!(out, "<p><b>{}</b></p>", esc(s));
    }
    if let Some(m) = &c.measures {
        let conv = match m.converged {
            Some(true) => "yes",
            Some(false) => "no",
            None => "–",
        };
        let _ = write!(
            out,
            "<p>stale reads <b>{}</b> (worst {} ms) · lost writes <b>{}</b> · final reads converged <b>{}</b></p>",
            m.stale_reads,
            esc(&m
                .max_staleness_ms
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "–".into())),
            m.lost_writes,
            conv
        );
    }
    if let Some(ws) = &c.witnesses {
        out.push_str("<dl class=\"witnesses\">");
        for (key, label) in MODELS {
            let Some(w) = ws.get(key) else { continue };
            let _ = write!(
                out,
                "<dt>not {}{}</dt><dd>{}",
                esc(label),
                w.key
                    .as_ref()
                    .map(|k| format!(" (key {})", esc(k)))
                    .unwrap_or_default(),
                esc(&w.explanation)
            );
            if !w.ops.is_empty() {
                out.push_str("<br>");
                for o in &w.ops {
                    let text = format!("{} {} {}", o.process, o.f, o.value);
                    let _ = write!(out, "{} ", op_link(Some(o.index), &text));
                }
            }
            out.push_str("</dd>");
        }
        out.push_str("</dl>");
    }
    out.push_str("</section>");
}

/// (checker name, verdict, informational) for each checker in
/// results.json (see `RunResults::verdicts`); a file from before
/// `checkers` whose workload object lists `models` gets theirs too.
pub fn checker_verdicts(results: &RunResults) -> Vec<(String, String, bool)> {
    let mut v: Vec<(String, String, bool)> = results
        .verdicts()
        .into_iter()
        .map(|(n, vd, info)| (n, vd.as_str().to_string(), info))
        .collect();
    if results.checkers.is_empty() {
        if let Some(models) = results.workload.get("models").as_array() {
            for m in models {
                if let (Some(n), Some(vd)) = (str_of(&m["model"]), str_of(&m["verdict"])) {
                    v.push((n, vd, false));
                }
            }
        }
    }
    v
}

fn fmt_duration(s: f64) -> String {
    if s >= 3600.0 {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else if s >= 60.0 {
        format!("{}m {:02.0}s", (s / 60.0) as u64, s % 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn header(run: &Run, out: &mut String) {
    let name = run.name();
    let verdict = run
        .results
        .as_ref()
        .map(|r| r.verdict.as_str().to_string())
        .unwrap_or_else(|| "not checked".into());
    let _ = write!(
        out,
        r#"<header><h1>{} {}</h1><dl class="facts">"#,
        esc(&name),
        verdict_badge(&verdict)
    );
    let mut fact = |k: &str, v: String| {
        let _ = write!(out, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), v);
    };
    let spec = |f: &str| str_of(run.spec(f)).unwrap_or_else(|| "—".into());
    fact("system", esc(&spec("system")));
    fact("level", esc(&spec("level")));
    fact("workload", esc(&spec("workload")));
    let nodes = run.node_ids();
    fact(
        "nodes",
        format!(
            "{} <span class=\"muted\">({})</span>",
            nodes.len(),
            esc(&nodes.join(", "))
        ),
    );
    fact(
        "seed",
        format!(
            "<span id=\"seed\">{}</span>",
            esc(&str_of(&run.test["seed"]).unwrap_or_else(|| spec("seed")))
        ),
    );
    fact(
        "started",
        esc(&str_of(&run.test["start"]).unwrap_or_else(|| "—".into())),
    );
    fact("duration", esc(&fmt_duration(run.seconds())));
    let t = Tally::of(&run.ops);
    fact(
        "ops",
        format!(
            "{} <span class=\"muted\">({} ok, {} fail, {} info)</span>",
            run.ops.len(),
            t.ok,
            t.fail,
            t.info
        ),
    );
    let nem = spec_list(run.spec("nemesis"));
    fact("nemesis", esc(if nem.is_empty() { "none" } else { &nem }));
    out.push_str("</dl>");
    if let Some(r) = &run.results {
        out.push_str(r#"<div class="checkers">"#);
        for (n, v, informational) in checker_verdicts(r) {
            if informational {
                let _ = write!(
                    out,
                    r#"<span title="informational: never changes the verdict">{} <span class="muted">(informational)</span> {}</span>"#,
                    esc(&n),
                    verdict_badge(&v)
                );
            } else {
                let _ = write!(out, "<span>{} {}</span>", esc(&n), verdict_badge(&v));
            }
        }
        if r.interrupted == Some(true) {
            out.push_str(r#"<span class="verdict unknown">interrupted</span>"#);
        }
        out.push_str("</div>");
        if let Some(why) = &r.incomplete {
            let _ = write!(
                out,
                r#"<p class="incomplete"><span class="verdict unknown">incomplete</span> {}</p>"#,
                esc(why)
            );
        }
        first_anomaly(r, out);
    }
    if let Some(cmd) = rerun_command(run) {
        let _ = write!(
            out,
            r#"<div class="cmd"><span class="muted">rerun:</span> <code id="rerun">{}</code> <button type="button" onclick="navigator.clipboard&&navigator.clipboard.writeText(document.getElementById('rerun').textContent)">copy</button></div>"#,
            esc(&cmd)
        );
    }
    if let Some(e) = &run.history_error {
        let _ = write!(out, r#"<p class="warn">History problem: {}</p>"#, esc(e));
    }
    for w in &run.warnings {
        let _ = write!(out, r#"<p class="warn">{}</p>"#, esc(w));
    }
    out.push_str(
        r##"<nav><a href="#timeline">timeline</a><a href="#consistency">consistency</a><a href="#perf">performance</a><a href="#counterexample">counterexample</a><a href="#stats">stats</a><a href="#files">files</a></nav></header>"##,
    );
}

/// The `first_anomaly` line of the verdict area, linked to the op in the
/// timeline.
fn first_anomaly(results: &RunResults, out: &mut String) {
    let Some(a) = &results.first_anomaly else {
        return;
    };
    let _ = write!(
        out,
        r#"<p class="first-anomaly">first anomaly <b>{:.2} s</b> into the run ({}): {} <span class="muted" title="the earliest anomaly the checkers reported: an upper bound on when the first one happened">({})</span></p>"#,
        a.seconds,
        op_link(Some(a.index), &format!("history index {}", a.index)),
        esc(&a.what),
        esc(&a.source)
    );
}

fn spec_list(v: &Value) -> String {
    match v {
        Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        v => value_text(v),
    }
}

fn short(v: &Value, max: usize) -> String {
    let mut s = value_text(v);
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The timeline's data, columnar and compact: times in µs, strings interned.
pub fn timeline_data(run: &Run) -> Value {
    // Lanes: nemesis first, then client processes in numeric order.
    let mut procs: Vec<u64> = run
        .ops
        .iter()
        .filter_map(|o| match o.process {
            Process::Client(p) => Some(p),
            _ => None,
        })
        .collect();
    procs.sort_unstable();
    procs.dedup();
    let mut named: Vec<String> = run.nemesis.iter().map(|e| e.process.to_string()).collect();
    named.sort();
    named.dedup();
    let mut lanes: Vec<String> = named.clone();
    lanes.extend(procs.iter().map(|p| p.to_string()));
    let lane_of: HashMap<String, usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i))
        .collect();

    let mut strings: Vec<String> = Vec::new();
    let mut string_ix: HashMap<String, usize> = HashMap::new();
    let mut intern = |s: String| -> i64 {
        if let Some(i) = string_ix.get(&s) {
            return *i as i64;
        }
        string_ix.insert(s.clone(), strings.len());
        strings.push(s);
        (strings.len() - 1) as i64
    };
    let us = |t: Option<i64>| t.map(|t| t / 1000).unwrap_or(-1);
    let n = run.ops.len() + run.nemesis.len() / 2 + 1;
    let (mut lane, mut s, mut e, mut st, mut f, mut node, mut key) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut vin, mut vout, mut err, mut ix) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    // Nemesis ops: invocation paired with its completion; a completion with
    // no invocation stands alone.
    let mut used = vec![false; run.nemesis.len()];
    for i in 0..run.nemesis.len() {
        if used[i] {
            continue;
        }
        let ev = &run.nemesis[i];
        let done = if ev.kind == checker::EventType::Invoke {
            run.nemesis[i + 1..]
                .iter()
                .enumerate()
                .find(|(j, c)| {
                    !used[i + 1 + j]
                        && c.kind != checker::EventType::Invoke
                        && c.f == ev.f
                        && c.process == ev.process
                })
                .map(|(j, c)| {
                    used[i + 1 + j] = true;
                    c
                })
        } else {
            None
        };
        lane.push(lane_of[&ev.process.to_string()] as i64);
        s.push(us(ev.time));
        e.push(done.map(|d| us(d.time)).unwrap_or_else(|| us(ev.time)));
        st.push(3);
        f.push(intern(ev.f.clone()));
        node.push(-1);
        key.push(-1);
        vin.push(intern(short(&ev.value, 300)));
        vout.push(done.map(|d| intern(short(&d.value, 300))).unwrap_or(-1));
        err.push(-1);
        ix.push(ev.index as i64);
    }
    for op in &run.ops {
        lane.push(lane_of[&op.process.to_string()] as i64);
        s.push(us(op.invoke_time));
        e.push(if op.status == Status::Info {
            -1
        } else {
            us(op.complete_time)
        });
        st.push(match op.status {
            Status::Ok => 0,
            Status::Fail => 1,
            Status::Info => 2,
        });
        f.push(intern(op.f.clone()));
        node.push(op.node.clone().map(&mut intern).unwrap_or(-1));
        key.push(op.key.as_ref().map(|k| intern(short(k, 100))).unwrap_or(-1));
        vin.push(intern(short(&op.input, 300)));
        vout.push(if op.complete_index.is_some() {
            intern(short(&op.output, 300))
        } else {
            -1
        });
        err.push(
            op.error
                .as_ref()
                .map(|x| intern(short(x, 300)))
                .unwrap_or(-1),
        );
        ix.push(op.invoke_index as i64);
    }
    let faults: Vec<Value> = run
        .faults
        .iter()
        .map(|w| {
            json!([
                w.start / 1000,
                w.end.map(|e| e / 1000).unwrap_or(-1),
                w.f,
                w.class.colour(),
                w.target,
                w.stop_f
            ])
        })
        .collect();
    json!({
        "end": run.end_time / 1000,
        "lanes": lanes,
        "strings": strings,
        "lane": lane, "s": s, "e": e, "st": st, "f": f, "node": node, "key": key,
        "in": vin, "out": vout, "err": err, "ix": ix,
        "faults": faults,
    })
}

fn timeline(run: &Run, out: &mut String) {
    out.push_str(
        r#"<section id="timeline"><h2>Timeline</h2>
<div class="tl-controls"><button type="button" id="tl-fit">fit</button><button type="button" id="tl-in">zoom in</button><button type="button" id="tl-out">zoom out</button>
<span class="muted">wheel: zoom at the cursor · drag or shift+wheel: pan · double-click: fit · hover an op for details</span> <span id="tl-range" class="muted"></span></div>
<div id="tl-wrap"><canvas id="tl"></canvas></div><div id="tl-tip" hidden></div>"#,
    );
    let mut items = String::new();
    for (c, l) in [
        ("#6cc76c", "ok"),
        ("#f08080", "fail"),
        ("#f5c542", "info (open to the end)"),
        ("#b58ad8", "nemesis op"),
    ] {
        let _ = write!(items, r#"<span><i style="background:{c}"></i>{l}</span>"#);
    }
    let mut seen: Vec<String> = Vec::new();
    for w in &run.faults {
        if !seen.contains(&w.f) {
            seen.push(w.f.clone());
            let _ = write!(
                items,
                r#"<span><i style="background:{}55"></i>{} window</span>"#,
                w.class.colour(),
                esc(&w.f)
            );
        }
    }
    let _ = write!(out, r#"<div class="legend">{items}</div>"#);
    let _ = write!(
        out,
        r#"<script type="application/json" id="tl-data">{}</script></section>"#,
        script_json(&timeline_data(run))
    );
}

fn perf(run: &Run, out: &mut String) {
    out.push_str(r#"<section id="perf"><h2>Performance</h2><h3>Latency over time</h3>"#);
    out.push_str(&svg::latency_scatter(run));
    out.push_str("<h3>Latency quantiles per op type</h3>");
    out.push_str(&svg::latency_quantiles(run));
    out.push_str("<h3>Throughput</h3>");
    out.push_str(&svg::throughput(run));
    let clock = svg::clock_plot(run);
    if !clock.is_empty() {
        out.push_str("<h3>Clock offsets</h3>");
        out.push_str(&clock);
    }
    if !run.faults.is_empty() {
        out.push_str(r#"<h3>Faults</h3><table class="data"><thead><tr><th>fault</th><th>target</th><th>from (s)</th><th>to (s)</th><th>ended by</th></tr></thead><tbody>"#);
        for w in &run.faults {
            let _ = write!(
                out,
                r##"<tr><td><i class="sw" style="background:{}"></i><a href="#op-{}">{}</a></td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>"##,
                w.class.colour(),
                w.index,
                esc(&w.f),
                esc(&w.target),
                w.start as f64 / 1e9,
                w.end
                    .map(|e| format!("{:.2}", e as f64 / 1e9))
                    .unwrap_or_else(|| "end".into()),
                esc(w.stop_f.as_deref().unwrap_or("—"))
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

fn stats(run: &Run, out: &mut String) {
    out.push_str(r#"<section id="stats"><h2>Stats per op type</h2><table class="data num"><thead><tr><th>f</th><th>ops</th><th>ok</th><th>fail</th><th>info</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr></thead><tbody>"#);
    let mut rows: Vec<(String, Tally, Vec<f64>)> = svg::f_names(run)
        .into_iter()
        .map(|f| (f, Tally::default(), Vec::new()))
        .collect();
    rows.push(("all".into(), Tally::default(), Vec::new()));
    let last = rows.len() - 1;
    for op in &run.ops {
        let i = rows.iter().position(|r| r.0 == op.f).unwrap_or(last);
        let lat = stats::latency_ms(op);
        for j in [i, last] {
            rows[j].1.add(op.status);
            if let Some(l) = lat {
                rows[j].2.push(l);
            }
        }
    }
    for (f, t, mut lats) in rows {
        stats::sort(&mut lats);
        let qs: Vec<String> = match Quantiles::of_sorted(&lats) {
            Some(q) => q.as_array().iter().map(|x| format!("{x:.2}")).collect(),
            None => vec!["—".into(); 4],
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f),
            t.total(),
            t.ok,
            t.fail,
            t.info,
            qs[0],
            qs[1],
            qs[2],
            qs[3]
        );
    }
    out.push_str("</tbody></table>");
    if let Some(r) = &run.results {
        if let Some(a) = r.stats.availability {
            let _ = write!(
                out,
                r#"<p class="muted">Answered: {:.1}% of {} completed client ops (ok, or failed with an answer rather than an outage).</p>"#,
                a * 100.0,
                r.stats.ok + r.stats.fail + r.stats.info
            );
        }
        let w = &r.workload;
        if let Some(st) = w.get("stats").as_object() {
            let parts: Vec<String> = st
                .iter()
                .map(|(k, v)| format!("{} {}", esc(k), esc(&value_text(v))))
                .collect();
            let _ = write!(
                out,
                r#"<p class="muted">Checker: {} ops checked in {} partitions; search: {}; check took {} s.</p>"#,
                esc(&value_text(w.get("checked_ops"))),
                esc(&value_text(w.get("partitions"))),
                parts.join(", "),
                esc(&format!("{}", r.check_seconds))
            );
        }
    }
    out.push_str("</section>");
}

fn files(run: &Run, out: &mut String) {
    out.push_str(r#"<section id="files"><h2>Files</h2><ul class="files">"#);
    for f in ["history.jsonl", "results.json", "test.json", "harness.log"] {
        let p = run.dir.join(f);
        if let Ok(m) = std::fs::metadata(&p) {
            let _ = write!(
                out,
                r#"<li><a href="{}">{}</a> <span class="muted">{}</span></li>"#,
                esc(f),
                esc(f),
                human_size(m.len())
            );
        }
    }
    for n in run.node_ids() {
        let dir = run.dir.join("nodes").join(&n);
        let mut entries: Vec<(String, u64)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        m.is_file()
                            .then(|| (e.file_name().to_string_lossy().into_owned(), m.len()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        if entries.is_empty() {
            continue;
        }
        let _ = write!(out, "<li>{}: ", esc(&n));
        for (f, len) in entries {
            let href = format!("nodes/{}/{}", url_path_segment(&n), url_path_segment(&f));
            let _ = write!(
                out,
                r#"<a href="{}">{}</a> <span class="muted">{}</span> "#,
                esc(&href),
                esc(&f),
                human_size(len)
            );
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
}

/// The whole page.
pub fn page(run: &Run) -> String {
    let mut out = String::with_capacity(64 * 1024 + run.ops.len() * 64);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} — faultline</title><style>{}</style></head><body>",
        esc(&run.name()),
        STYLE
    );
    header(run, &mut out);
    out.push_str("<main>");
    timeline(run, &mut out);
    consistency(run, &mut out);
    counterexample::shrunk(run, &mut out);
    counterexample::section(run, &mut out);
    perf(run, &mut out);
    stats(run, &mut out);
    files(run, &mut out);
    out.push_str("</main><script>");
    out.push_str(TIMELINE_JS);
    out.push_str("</script></body></html>\n");
    out
}
