//! The isolation section of a transactional run's page (a list-append or
//! rw-register history judged by `checker::txn`): where the history stands
//! in the lattice, then each anomaly class with its witnesses: the
//! explanation in words, the transactions (linked into the timeline), and
//! for a cycle a small drawing of the transactions and the dependencies
//! that close it.

use crate::markup::{esc, op_link, str_of, value_text};
use serde_json::Value;
use std::fmt::Write;

/// Witnesses shown per anomaly class (the rest are counted).
const PER_CLASS: usize = 3;
/// Transactions drawn in one cycle (a longer cycle is drawn in part and
/// says so; its explanation still lists every step).
const MAX_DRAWN: usize = 16;

/// The usual models, as the CLI's `isolation:` line shows them.
const STRIP: [(&str, &str); 8] = checker::txn::lattice::SUMMARY;

/// Is `details` an isolation checker's?
pub fn is_isolation(details: &Value) -> bool {
    matches!(
        details["checker"].as_str(),
        Some("list-append" | "rw-register")
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The section, from the checker's details.
pub fn section(d: &Value, out: &mut String) {
    out.push_str(r#"<section id="counterexample"><h2>Isolation</h2>"#);
    if let Some(s) = str_of(&d["summary"]) {
        let _ = write!(out, r#"<p class="explain">{}</p>"#, esc(&s));
    }
    let ruled_out: Vec<String> = strings(&d["not"])
        .into_iter()
        .chain(strings(&d["also_not"]))
        .collect();
    let require = str_of(&d["require"]).unwrap_or_default();
    out.push_str(r#"<table class="data"><thead><tr>"#);
    for (short, m) in STRIP {
        let _ = write!(out, r#"<th title="{}">{}</th>"#, esc(m), esc(short));
    }
    out.push_str("</tr></thead><tbody><tr>");
    for (_, m) in STRIP {
        let bad = ruled_out.iter().any(|x| x == m);
        let mark = if bad { "✗" } else { "✓" };
        let class = if bad { "invalid" } else { "valid" };
        let req = if m == require { " (required)" } else { "" };
        let _ = write!(out, r#"<td class="{class}">{mark}{req}</td>"#);
    }
    out.push_str("</tr></tbody></table>");
    let kept = strings(&d["strongest_kept"]);
    let _ = write!(
        out,
        r#"<p class="muted">Strongest models kept: {}. Weakest ruled out: {}. Lattice: {}.</p>"#,
        esc(&if kept.is_empty() {
            "none".into()
        } else {
            kept.join(", ")
        }),
        esc(&{
            let n = strings(&d["not"]);
            if n.is_empty() {
                "none".into()
            } else {
                n.join(", ")
            }
        }),
        esc(&str_of(&d["lattice"]).unwrap_or_default())
    );
    if let Some(g) = d["search"]["gave_up"].as_array().filter(|g| !g.is_empty()) {
        let _ = write!(
            out,
            r#"<p class="explain">The cycle search gave up on {} component(s) (budget): a cycle exists there, its class is not known.</p>"#,
            g.len()
        );
    }
    let Some(classes) = d["anomalies"].as_object().filter(|m| !m.is_empty()) else {
        out.push_str(
            r#"<p class="muted">No anomaly: nothing rules out the models above.</p></section>"#,
        );
        return;
    };
    let counts = &d["anomaly_counts"];
    for (class, list) in classes {
        let list = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let total = counts[class].as_u64().unwrap_or(list.len() as u64);
        let _ = write!(
            out,
            r#"<h3 id="anomaly-{}">{} <span class="muted">×{}</span></h3>"#,
            esc(class),
            esc(class),
            total
        );
        for w in list.iter().take(PER_CLASS) {
            witness(w, out);
        }
        if total as usize > PER_CLASS.min(list.len()) {
            let _ = write!(
                out,
                r#"<p class="muted">{} more not shown (<code>faultline check -v --json</code> on the history lists every witness).</p>"#,
                total as usize - PER_CLASS.min(list.len())
            );
        }
    }
    out.push_str("</section>");
}

fn witness(w: &Value, out: &mut String) {
    if let Some(e) = str_of(&w["explanation"]) {
        let _ = write!(out, r#"<p class="explain">{}</p>"#, esc(&e));
    }
    if let Some(steps) = w["cycle"].as_array().filter(|s| !s.is_empty()) {
        out.push_str(&cycle_svg(steps));
    }
    let txns = w["txns"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if txns.is_empty() {
        return;
    }
    out.push_str(r#"<table class="data"><thead><tr><th>txn</th><th>process</th><th>status</th><th>micro-ops</th></tr></thead><tbody>"#);
    for t in txns {
        let i = t["index"].as_u64();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            op_link(i, &format!("T{}", value_text(&t["index"]))),
            esc(&value_text(&t["process"])),
            esc(&str_of(&t["status"]).unwrap_or_default()),
            esc(&str_of(&t["value"]).unwrap_or_default())
        );
    }
    out.push_str("</tbody></table>");
}

/// The colour of a dependency kind.
fn kind_colour(kind: &str) -> &'static str {
    match kind {
        "ww" => "#1565c0",
        "wr" => "#2e7d32",
        "rw" => "#c62828",
        "process" => "#6a1b9a",
        "realtime" => "#ef6c00",
        _ => "#555",
    }
}

/// A cycle drawn as a ring: each transaction a node, each step an arrow
/// from one to the next, coloured and labelled by its kind (ww, wr, rw,
/// process, realtime), with the step's explanation as its tooltip.
pub fn cycle_svg(steps: &[Value]) -> String {
    let n = steps.len().min(MAX_DRAWN);
    let r = (26.0 * n as f64).max(70.0);
    let node_r = 24.0;
    let pad = 50.0;
    let size = 2.0 * (r + pad);
    let c = size / 2.0;
    let pos = |i: usize| {
        let a = -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / n as f64;
        (c + r * a.cos(), c + r * a.sin())
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="cycle" width="{size:.0}" height="{size:.0}" viewBox="0 0 {size:.0} {size:.0}" role="img" aria-label="dependency cycle"><defs>"##
    );
    for k in ["ww", "wr", "rw", "process", "realtime", "other"] {
        let _ = write!(
            s,
            r##"<marker id="arrow-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{}"/></marker>"##,
            kind_colour(k)
        );
    }
    s.push_str("</defs>");
    for (i, st) in steps.iter().take(n).enumerate() {
        let last = i + 1 == n;
        if last && n < steps.len() {
            break; // the ring is cut: the drawing says so below
        }
        let (x1, y1) = pos(i);
        let (x2, y2) = pos((i + 1) % n);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // Bulge to the left of the direction of travel: two opposite steps
        // between the same pair are drawn apart.
        let bulge = if n == 2 { 40.0 } else { 18.0 };
        let (mx, my) = ((x1 + x2) / 2.0 - uy * bulge, (y1 + y2) / 2.0 + ux * bulge);
        let (sx, sy) = (x1 + ux * node_r, y1 + uy * node_r);
        let (ex, ey) = (x2 - ux * node_r, y2 - uy * node_r);
        let kind = str_of(&st["kind"]).unwrap_or_else(|| "other".into());
        let k = match kind.as_str() {
            "ww" | "wr" | "rw" | "process" | "realtime" => kind.as_str(),
            _ => "other",
        };
        let col = kind_colour(k);
        let why = str_of(&st["why"]).unwrap_or_default();
        let _ = write!(
            s,
            r##"<g><title>{}</title><path d="M{sx:.1},{sy:.1} Q{mx:.1},{my:.1} {ex:.1},{ey:.1}" fill="none" stroke="{col}" stroke-width="2" marker-end="url(#arrow-{k})"/><text x="{:.1}" y="{:.1}" font-size="11" fill="{col}" text-anchor="middle">{}</text></g>"##,
            esc(&why),
            mx - uy * 8.0,
            my + ux * 8.0 + 4.0,
            esc(&kind)
        );
    }
    for (i, st) in steps.iter().take(n).enumerate() {
        let (x, y) = pos(i);
        let idx = value_text(&st["from"]);
        let _ = write!(
            s,
            r##"<a href="#op-{idx}"><circle cx="{x:.1}" cy="{y:.1}" r="{node_r}" fill="#fff" stroke="#333" stroke-width="1.5"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">T{}</text></a>"##,
            y + 4.0,
            esc(&idx)
        );
    }
    if n < steps.len() {
        let _ = write!(
            s,
            r##"<text x="4" y="{:.0}" font-size="11" fill="#555">first {n} of {} transactions drawn</text>"##,
            size - 6.0,
            steps.len()
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details() -> Value {
        json!({
            "checker": "list-append",
            "summary": "3 txns: G2-item ×1",
            "require": "serializable",
            "not": ["repeatable-read"],
            "also_not": ["serializable", "strict-serializable"],
            "strongest_kept": ["snapshot-isolation"],
            "anomaly_counts": {"G2-item": 1},
            "anomalies": {"G2-item": [{
                "type": "G2-item",
                "explanation": "T1 < T2 (rw): ...; so T1 would have to precede itself",
                "cycle": [
                    {"from": 1, "to": 2, "kind": "rw", "why": "T1 read key 3 = [1], which did not include T2's append of 2"},
                    {"from": 2, "to": 1, "kind": "rw", "why": "T2 read <x> & y"}
                ],
                "txns": [
                    {"index": 1, "process": 0, "status": "ok", "value": "[r 3 [1]] [append 4 5]"},
                    {"index": 2, "process": 1, "status": "ok", "value": "[r 4 nil] [append 3 2]"}
                ]
            }]}
        })
    }

    #[test]
    fn the_section_places_the_history_and_draws_each_cycle() {
        let d = details();
        assert!(is_isolation(&d));
        assert!(!is_isolation(&json!({"checker": "linearizability"})));
        let mut out = String::new();
        section(&d, &mut out);
        // The strip: RR and SER ruled out, SI kept, the requirement marked.
        assert!(out.contains(r#"<td class="invalid">✗</td>"#), "{out}");
        assert!(out.contains("✗ (required)"), "{out}");
        assert!(out.contains("Strongest models kept: snapshot-isolation"));
        assert!(out.contains(r#"id="anomaly-G2-item""#));
        // The drawing: two nodes linked to their ops, two rw arrows with
        // their explanations (escaped) as tooltips.
        assert_eq!(out.matches("<circle").count(), 2);
        assert_eq!(out.matches(r#"marker-end="url(#arrow-rw)""#).count(), 2);
        assert!(out.contains(r##"href="#op-2""##));
        assert!(out.contains("T2 read &lt;x&gt; &amp; y"), "{out}");
        assert!(out.contains("<code>[r 4 nil] [append 3 2]</code>"));
    }

    #[test]
    fn a_clean_history_says_so_and_a_long_cycle_is_cut() {
        let mut d = details();
        d["anomalies"] = json!({});
        d["not"] = json!([]);
        d["also_not"] = json!([]);
        let mut out = String::new();
        section(&d, &mut out);
        assert!(out.contains("No anomaly"));
        assert!(!out.contains("✗"));
        let steps: Vec<Value> = (0..40)
            .map(|i| json!({"from": i, "to": (i + 1) % 40, "kind": "ww", "why": ""}))
            .collect();
        let svg = cycle_svg(&steps);
        assert_eq!(svg.matches("<circle").count(), MAX_DRAWN);
        assert!(svg.contains("first 16 of 40 transactions drawn"));
    }
}
