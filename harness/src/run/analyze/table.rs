//! The short verdict table `faultline test` and `faultline analyze` print.

use checker::consistency::Model;
use checker::results::RunResults;
use checker::Verdict;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// The hierarchy row of the verdict table: ✓ valid, ✗ invalid, ? unknown
/// per model, then the measures.
fn consistency_row(r: &RunResults) -> Option<(String, String)> {
    let c = &r.consistency;
    c.consistency.as_ref()?;
    let models: Vec<String> = Model::ALL
        .iter()
        .map(|m| {
            let mark = match c.verdict(m.key()) {
                Some(Verdict::Valid) => "✓",
                Some(Verdict::Invalid) => "✗",
                _ => "?",
            };
            format!("{mark} {}", m.name())
        })
        .collect();
    let me = c.measures.clone().unwrap_or_default();
    let mut measures = format!("stale reads {}", me.stale_reads);
    if me.stale_reads > 0 {
        if let Some(ms) = me.max_staleness_ms {
            measures.push_str(&format!(" (max {ms:.0} ms)"));
        }
    }
    measures.push_str(&format!(
        ", lost writes {}, converged {}",
        me.lost_writes,
        match me.converged {
            Some(true) => "yes",
            Some(false) => "no",
            None => "?",
        }
    ));
    Some((models.join("  "), measures))
}

/// The lines of the main checker (`results.json`'s `workload`).
fn main_checker(r: &RunResults, out: &mut impl Write) {
    let w = &r.workload;
    let summary = w.summary.as_deref().unwrap_or("?");
    match w.checker.as_deref() {
        Some("total-queue") => {
            let _ = writeln!(
                out,
                "checker    total-queue ({}), {:.2} s",
                w.get("delivery").as_str().unwrap_or("?"),
                r.check_seconds
            );
            let _ = writeln!(out, "summary    {summary}");
        }
        Some("lock") => {
            let _ = writeln!(out, "checker    lock, {:.2} s", r.check_seconds);
            let _ = writeln!(out, "summary    {summary}");
            if let Some(o) = w.get("mutual_exclusion")["witness"].as_object() {
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
                if let Some(reason) = w.get(part)["reason"].as_str() {
                    let _ = writeln!(out, "{part}: {reason}");
                }
            }
        }
        Some("linearizability") => {
            let _ = writeln!(
                out,
                "checker    linearizability {}: {} keys, {} ops placed, {:.2} s",
                w.model.as_deref().unwrap_or("?"),
                w.get("partitions"),
                w.get("checked_ops"),
                r.check_seconds
            );
        }
        other => {
            let _ = writeln!(
                out,
                "checker    {}: {}, {:.2} s",
                other.unwrap_or("?"),
                w.verdict.unwrap_or(Verdict::Unknown),
                r.check_seconds
            );
            if let Some(s) = &w.summary {
                let _ = writeln!(out, "summary    {s}");
            }
        }
    }
    if let Some(reason) = w.why() {
        let _ = writeln!(out, "unknown    {reason}");
    }
}

/// The informational fifo-queue pass's line.
fn fifo_line(f: &Value) -> String {
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
    line
}

/// The short verdict table on stdout.
pub fn print_table(r: &RunResults, out: &mut impl Write) {
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
    let mut ops = format!(
        "ops        {} client ops in {:.1} s ({:.0} ops/s)",
        s.ops, s.seconds, s.ops_per_sec
    );
    if let Some(a) = s.availability {
        ops.push_str(&format!(", {:.1}% answered", a * 100.0));
    }
    let _ = writeln!(out, "{ops}");
    main_checker(r, out);
    let main = r.workload.checker.clone().unwrap_or_default();
    for (name, e) in &r.checkers {
        if *name == main || name.starts_with("consistency") {
            continue;
        }
        if name == "fifo-queue" {
            if let Some(f) = r.details(name) {
                let _ = writeln!(out, "{}", fifo_line(&f));
            }
            continue;
        }
        let mut line = format!(
            "checker    {name}: {}{}, {:.2} s",
            e.verdict,
            if e.informational {
                " (informational)"
            } else {
                ""
            },
            e.seconds
        );
        if let Some(why) = e
            .details
            .as_ref()
            .and_then(|d| d["reason"].as_str().or(d["error"].as_str()))
        {
            line.push_str(&format!("; {why}"));
        }
        let _ = writeln!(out, "{line}");
    }
    // A file from before `checkers` keeps the fifo pass inside `workload`.
    if r.checkers.is_empty() {
        if let Some(f) = r.details("fifo-queue") {
            let _ = writeln!(out, "{}", fifo_line(&f));
        }
    }
    if let Some((models, measures)) = consistency_row(r) {
        let _ = writeln!(out, "consistency {models}");
        let _ = writeln!(out, "measures   {measures}");
        if let Some(s) = &r.consistency.summary {
            let _ = writeln!(out, "summary    {s}");
        }
    } else if let Some(e) = &r.consistency.error {
        let _ = writeln!(out, "consistency unknown: {e}");
    }
    if let Some(x) = r.workload.get("counterexample")["explanation"].as_str() {
        let _ = writeln!(out, "\n{x}\n");
    }
    if let Some(a) = &r.first_anomaly {
        let _ = writeln!(
            out,
            "first anomaly  {:.1} s into the run (history index {}): {} [{}]",
            a.seconds, a.index, a.what, a.source
        );
    }
    if let Some(o) = &r.online {
        let keys = o["keys_checked"].as_u64().unwrap_or(0);
        let prefix_checks: u64 = o["prefix"]["checkers"]
            .as_object()
            .map(|m| m.values().filter_map(|c| c["checks"].as_u64()).sum())
            .unwrap_or(0);
        let done = match (o.get("keys_checked").is_some(), prefix_checks) {
            (true, 0) => format!("{keys} keys checked as they went quiet"),
            (true, n) => format!("{keys} keys checked as they went quiet, {n} prefix checks"),
            (false, n) => format!("{n} prefix checks"),
        };
        match o.get("first") {
            Some(f) => {
                // Where: the key (per-key pass), else the checker and kind.
                let at = match f["key"].as_str() {
                    Some(k) if !k.is_empty() => format!("on key {k}"),
                    _ => format!(
                        "by {} ({})",
                        f["checker"].as_str().unwrap_or("?"),
                        f["kind"].as_str().unwrap_or("?")
                    ),
                };
                let _ = writeln!(
                    out,
                    "online     found it {:.1} s into the run, {at} ({done}): {}",
                    f["seconds"].as_f64().unwrap_or(0.0),
                    f["what"].as_str().unwrap_or("")
                );
            }
            None => {
                let _ = writeln!(out, "online     {done}, none invalid");
            }
        }
    }
    match (&r.incomplete, r.interrupted) {
        (Some(why), _) => {
            let _ = writeln!(out, "incomplete {why}");
        }
        (None, Some(true)) => {
            let _ = writeln!(out, "interrupted: the history stops early");
        }
        _ => {}
    }
    let _ = writeln!(out, "run        {}", r.run_dir);
    let page = Path::new(&r.run_dir).join("index.html");
    if page.exists() {
        let _ = writeln!(out, "report     {}", page.display());
    }
    let _ = writeln!(out, "verdict    {}", r.verdict.as_str().to_uppercase());
}
