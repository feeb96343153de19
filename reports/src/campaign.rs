//! The campaign comparison page: one row per (system, level, nemesis), one
//! column per consistency model and anomaly, each cell counting the seeds
//! that failed and linking to the worst run's report; plus availability and
//! latency under faults. Also the same table as Markdown and JUnit XML.

use crate::markup::esc;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A whole campaign's results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CampaignSummary {
    pub name: String,
    /// When the campaign started (UTC, `YYYYMMDDTHHMMSSZ`).
    pub started: String,
    pub wall_seconds: f64,
    /// The column names, in order (models, then anomalies).
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    /// Every expectation held.
    pub ok: bool,
    /// The campaign was stopped (a signal) before every run: rows not run,
    /// or only partly, are not judged (`expect_message` says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Some row is not judged because some of its seeds did not run (an
    /// interrupted campaign, a shard, or a merge that lacks a shard).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// Set when this is one shard of a sharded campaign
    /// (`faultline campaign FILE --shard I/N`): its rows hold only the
    /// shard's seeds and no expectation is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Set by `faultline campaign merge`: the shard directories merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedShard>,
}

/// Shard `index` of `count` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: usize,
    pub count: usize,
}

/// One shard a merged campaign was built from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MergedShard {
    /// The shard's campaign directory, as given to `merge`.
    pub dir: String,
    pub shard: ShardInfo,
    pub started: String,
    pub wall_seconds: f64,
    /// Runs the shard holds.
    pub runs: usize,
}

impl CampaignSummary {
    /// The verdict line: broken, interrupted, shard (not judged),
    /// incomplete, or every expectation holds.
    pub fn status(&self) -> (&'static str, String) {
        if !self.ok {
            return ("invalid", "expectation broken".into());
        }
        if let Some(sh) = self.shard.filter(|s| s.count > 1) {
            return (
                "unknown",
                format!(
                    "shard {} of {}: expectations are judged after `faultline campaign merge`",
                    sh.index, sh.count
                ),
            );
        }
        if self.interrupted {
            return ("unknown", "interrupted: not every run ran".into());
        }
        if self.incomplete {
            return ("unknown", "incomplete: some rows are not judged".into());
        }
        ("valid", "every expectation holds".into())
    }
}

/// The 95% Wilson score interval of `k` successes in `n` trials, as
/// `(low, high)` fractions; `None` when `n` is 0. Unlike the normal
/// approximation it stays inside [0, 1] and is not degenerate at 0/n or
/// n/n, which is where detection rates live.
pub fn wilson(k: usize, n: usize) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    // The 97.5% quantile of the standard normal distribution.
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At 0/n and n/n the bound is exactly 0 or 1 (the float is not).
    let low = if k == 0.0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let high = if k == n {
        1.0
    } else {
        (center + half).min(1.0)
    };
    Some((low, high))
}

/// One (system, level, nemesis) over its seeds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub system: String,
    pub level: String,
    pub nemesis: String,
    pub runs: Vec<RunRef>,
    /// Column name -> cell.
    pub cells: BTreeMap<String, Cell>,
    /// Fraction of client ops the system answered (`ok`, or a definite
    /// answer such as a cas mismatch or a held lock), over all seeds.
    pub availability: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Seconds into the run of the first anomaly the checkers reported
    /// (`first_anomaly.seconds` in results.json), over the invalid seeds
    /// that have one: the smallest and the median. `None` when no invalid
    /// seed has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_anomaly_min_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_anomaly_median_s: Option<f64>,
    /// Seeds whose run was `invalid` (the weakness was caught), out of
    /// `seeds_run`; `catch_rate` is their ratio and `catch_ci_low` /
    /// `catch_ci_high` its 95% Wilson score interval (`None` with no run).
    /// Summaries written before these fields load with them unset; call
    /// [`Row::set_catch`] to fill them from `runs`.
    #[serde(default)]
    pub caught: usize,
    #[serde(default)]
    pub seeds_run: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_ci_high: Option<f64>,
    /// How many seeds the plan gives the row (more than `seeds_run` when
    /// the row is incomplete: a shard, a missing shard, an interruption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds_planned: Option<usize>,
    /// Transactional rows: the strongest isolation models that no seed
    /// ruled out (`checker::txn::lattice::place` of every anomaly class
    /// found over the seeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strongest_kept: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// `None` when the row has no expectation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_message: Option<String>,
}

/// One seeded run of a row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRef {
    pub seed: u64,
    /// valid | invalid | unknown | error
    pub verdict: String,
    /// The run directory, relative to the campaign directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    pub exit: i32,
    pub seconds: f64,
    /// `first_anomaly.seconds` from the run's results.json, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_anomaly_s: Option<f64>,
}

impl Row {
    /// Sets `first_anomaly_min_s` and `first_anomaly_median_s` from the
    /// invalid runs' `first_anomaly_s` (the median of an even count is the
    /// mean of the middle two).
    ///
    /// In a transactional row every run counts: anomalies its level allows
    /// (write skew under snapshot isolation) leave it valid, and when they
    /// first showed is the point.
    pub fn set_first_anomaly(&mut self) {
        let txn = self.strongest_kept.is_some();
        let mut xs: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| txn || r.verdict == "invalid")
            .filter_map(|r| r.first_anomaly_s)
            .collect();
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        self.first_anomaly_min_s = xs.first().copied();
        self.first_anomaly_median_s = match n {
            0 => None,
            _ if n % 2 == 1 => Some(xs[n / 2]),
            _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
        };
    }

    /// Sets `caught`, `seeds_run`, `catch_rate` and its 95% Wilson
    /// interval from `runs`.
    pub fn set_catch(&mut self) {
        self.seeds_run = self.runs.len();
        self.caught = self.runs.iter().filter(|r| r.verdict == "invalid").count();
        self.catch_rate = (self.seeds_run > 0).then(|| self.caught as f64 / self.seeds_run as f64);
        let ci = wilson(self.caught, self.seeds_run);
        self.catch_ci_low = ci.map(|c| c.0);
        self.catch_ci_high = ci.map(|c| c.1);
    }

    /// `17/20 85% (64–95%)`: caught over run, the rate and its 95% CI; `–`
    /// with no run.
    pub fn catch_text(&self) -> String {
        match (self.catch_rate, self.catch_ci_low, self.catch_ci_high) {
            (Some(r), Some(lo), Some(hi)) => format!(
                "{}/{} {} ({}–{}%)",
                self.caught,
                self.seeds_run,
                pct(r),
                pct_num(lo),
                pct_num(hi)
            ),
            _ => "–".into(),
        }
    }

    /// `min / median` seconds of the first anomaly, or `–`.
    pub fn first_anomaly_text(&self) -> String {
        match (self.first_anomaly_min_s, self.first_anomaly_median_s) {
            (Some(a), Some(m)) => format!("{a:.1} / {m:.1}"),
            _ => "–".into(),
        }
    }
}

/// `0.85` -> `85%` (whole percents: with tens of seeds the interval is
/// far wider than a decimal).
fn pct(x: f64) -> String {
    format!("{}%", pct_num(x))
}

fn pct_num(x: f64) -> String {
    format!("{:.0}", x * 100.0)
}

/// The header of the catch-rate column.
pub const CATCH_COLUMN: &str = "caught (95% CI)";

/// The header of the first-anomaly column.
pub const FIRST_ANOMALY_COLUMN: &str = "first anomaly s (min/median)";

/// How many seeds failed a column.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cell {
    pub failed: usize,
    pub unknown: usize,
    pub total: usize,
    /// Report of the worst run (the first failing one), relative to the
    /// campaign directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst: Option<String>,
}

impl Cell {
    fn symbol(&self) -> &'static str {
        if self.total == 0 {
            "–"
        } else if self.failed > 0 {
            "✗"
        } else if self.unknown > 0 {
            "?"
        } else {
            "✓"
        }
    }

    fn text(&self) -> String {
        match self.symbol() {
            "✗" => format!("✗ {}/{}", self.failed, self.total),
            "?" => format!("? {}/{}", self.unknown, self.total),
            s => s.to_string(),
        }
    }
}

/// A transactional row's strongest kept models (`none` when every model
/// is ruled out), or `–`.
pub fn kept_text(r: &Row) -> String {
    match &r.strongest_kept {
        None => "–".into(),
        Some(k) if k.is_empty() => "none".into(),
        Some(k) => k.join(", "),
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// The page (self-contained, no network).
pub fn render(s: &CampaignSummary) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=utf-8><title>campaign {name}</title><style>{CSS}</style></head><body>\
         <h1>campaign {name} <span class='badge {cls}'>{verdict}</span></h1>\
         <p class=meta>started {started} · {rows} rows · {runs} runs · {wall:.0} s wall{origin}</p>\
         <p class=help>Each cell counts the seeds whose run <b>failed</b> that model or showed that anomaly (✓ none, ✗ k/N failed, ? unknown); click it for the worst run's report. <i>Caught</i> counts the seeds whose run was invalid (the weakness was caught), with the catch rate and its 95% Wilson score interval. Availability is the fraction of client ops that completed ok; latencies are of ok ops, under the campaign's faults. <i>First anomaly</i> is how many seconds into the run the earliest anomaly the checkers reported became observable (min / median over the invalid seeds; an upper bound on when the first anomaly happened).</p>\
         <input id=filter placeholder='filter rows…' oninput='f(this.value)'>\
         <table id=t><thead><tr><th>system</th><th>level</th><th>nemesis</th><th>seeds</th>",
        name = esc(&s.name),
        cls = s.status().0,
        verdict = esc(&s.status().1),
        origin = esc(&origin_text(s)),
        started = esc(&s.started),
        rows = s.rows.len(),
        runs = s.rows.iter().map(|r| r.runs.len()).sum::<usize>(),
        wall = s.wall_seconds,
    );
    let txn = s.rows.iter().any(|r| r.strongest_kept.is_some());
    if txn {
        h.push_str("<th title='the strongest isolation models no seed ruled out'>strongest model kept</th>");
    }
    for c in &s.columns {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    let _ = write!(
        h,
        "<th>{}</th><th>{}</th><th>availability</th><th>p50 ms</th><th>p99 ms</th><th>expectation</th></tr></thead><tbody>",
        esc(CATCH_COLUMN),
        esc(FIRST_ANOMALY_COLUMN)
    );
    let mut last_system = String::new();
    for r in &s.rows {
        if r.system != last_system {
            let _ = write!(
                h,
                "<tr class=group><td colspan={}>{}</td></tr>",
                s.columns.len() + 10 + usize::from(txn),
                esc(&r.system)
            );
            last_system = r.system.clone();
        }
        let seeds: Vec<String> = r
            .runs
            .iter()
            .map(|run| match &run.dir {
                Some(d) => format!(
                    "<a class='{}' href='{}/index.html' title='seed {} {}'>{}</a>",
                    esc(&run.verdict),
                    esc(d),
                    run.seed,
                    esc(&run.verdict),
                    run.seed
                ),
                None => format!("<span class='{}'>{}</span>", esc(&run.verdict), run.seed),
            })
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td>",
            esc(&r.system),
            esc(&r.level),
            esc(&r.nemesis),
            seeds.join(" ")
        );
        if txn {
            let _ = write!(h, "<td>{}</td>", esc(&kept_text(r)));
        }
        for c in &s.columns {
            let cell = r.cells.get(c).cloned().unwrap_or_default();
            let cls = match cell.symbol() {
                "✗" => "invalid",
                "?" => "unknown",
                "✓" => "valid",
                _ => "none",
            };
            match &cell.worst {
                Some(w) => {
                    let _ = write!(
                        h,
                        "<td class={cls}><a href='{}'>{}</a></td>",
                        esc(w),
                        esc(&cell.text())
                    );
                }
                None => {
                    let _ = write!(h, "<td class={cls}>{}</td>", esc(&cell.text()));
                }
            }
        }
        let exp = match (&r.expect, r.expect_ok) {
            (Some(e), Some(true)) => format!("<span class=valid>✓ {}</span>", esc(e)),
            (Some(e), Some(false)) => format!(
                "<span class=invalid>✗ {}</span><br><small>{}</small>",
                esc(e),
                esc(r.expect_message.as_deref().unwrap_or(""))
            ),
            (_, None) if r.expect_message.is_some() => format!(
                "<span class=unknown>– {}</span><br><small>{}</small>",
                esc(r.expect.as_deref().unwrap_or("")),
                esc(r.expect_message.as_deref().unwrap_or(""))
            ),
            _ => "–".to_string(),
        };
        let with: Vec<String> = r
            .runs
            .iter()
            .filter(|x| x.verdict == "invalid")
            .filter_map(|x| {
                x.first_anomaly_s
                    .map(|s| format!("seed {} {s:.2} s", x.seed))
            })
            .collect();
        let _ = write!(h, "<td>{}</td>", esc(&r.catch_text()));
        let _ = write!(
            h,
            "<td title='{}'>{}</td>",
            esc(&with.join(", ")),
            esc(&r.first_anomaly_text())
        );
        let _ = write!(
            h,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.availability
                .map(|a| format!("{:.1}%", a * 100.0))
                .unwrap_or_else(|| "–".into()),
            fmt_opt(r.p50_ms, 2),
            fmt_opt(r.p99_ms, 1),
            exp
        );
    }
    h.push_str("</tbody></table><p class=meta>Files: <a href='summary.json'>summary.json</a> · <a href='summary.md'>summary.md</a> · <a href='junit.xml'>junit.xml</a></p>");
    h.push_str("<script>function f(q){q=q.toLowerCase();for(const tr of document.querySelectorAll('#t tbody tr')){if(tr.classList.contains('group'))continue;tr.style.display=tr.textContent.toLowerCase().includes(q)?'':'none';}}</script></body></html>");
    h
}

const CSS: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}\
.badge{font-size:13px;padding:2px 8px;border-radius:10px;color:#fff;vertical-align:middle}\
.badge.valid{background:#2e7d32}.badge.invalid{background:#c62828}.meta,.help{color:#555}\
table{border-collapse:collapse;margin-top:10px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:center}\
th{background:#f4f4f4;position:sticky;top:0}tr.group td{background:#eef;text-align:left;font-weight:bold}\
td.valid,span.valid,a.valid{color:#2e7d32}td.invalid,span.invalid,a.invalid{color:#c62828;font-weight:bold}\
td.unknown,a.unknown{color:#b26a00}td.invalid{background:#fdecea}a{text-decoration:none}#filter{padding:4px;width:240px}";

/// ` · shard I of N` or ` · merged from K shards`, or nothing.
fn origin_text(s: &CampaignSummary) -> String {
    match (&s.shard, s.merged_from.len()) {
        (Some(sh), _) if sh.count > 1 => format!(" · shard {} of {}", sh.index, sh.count),
        (_, 0) => String::new(),
        (_, 1) => " · merged from 1 shard".into(),
        (_, k) => format!(" · merged from {k} shards (wall time: the longest shard)"),
    }
}

/// The same table in Markdown.
pub fn markdown(s: &CampaignSummary) -> String {
    let mut m = format!(
        "# campaign {}\n\n{} · {} · {:.0} s{}\n\n| system | level | nemesis | seeds |",
        s.name,
        s.started,
        s.status().1,
        s.wall_seconds,
        origin_text(s)
    );
    let txn = s.rows.iter().any(|r| r.strongest_kept.is_some());
    if txn {
        m.push_str(" strongest model kept |");
    }
    for c in &s.columns {
        let _ = write!(m, " {c} |");
    }
    let _ = write!(
        m,
        " {CATCH_COLUMN} | {FIRST_ANOMALY_COLUMN} | availability | p50 ms | p99 ms | expectation |\n|---|---|---|---|"
    );
    for _ in s.columns.iter().chain(txn.then_some(&String::new())) {
        m.push_str("---|");
    }
    m.push_str("---|---|---|---|---|---|\n");
    for r in &s.rows {
        let _ = write!(
            m,
            "| {} | {} | {} | {} |",
            r.system,
            r.level,
            r.nemesis,
            r.runs.len()
        );
        if txn {
            let _ = write!(m, " {} |", kept_text(r));
        }
        for c in &s.columns {
            let _ = write!(
                m,
                " {} |",
                r.cells.get(c).cloned().unwrap_or_default().text()
            );
        }
        let exp = match (&r.expect, r.expect_ok) {
            (Some(e), Some(true)) => format!("✓ {e}"),
            (Some(e), Some(false)) => {
                format!("✗ {e}: {}", r.expect_message.as_deref().unwrap_or(""))
            }
            (_, None) if r.expect_message.is_some() => format!(
                "– {}: {}",
                r.expect.as_deref().unwrap_or(""),
                r.expect_message.as_deref().unwrap_or("")
            ),
            _ => "–".into(),
        };
        let _ = writeln!(
            m,
            " {} | {} | {} | {} | {} | {} |",
            r.catch_text(),
            r.first_anomaly_text(),
            r.availability
                .map(|a| format!("{:.1}%", a * 100.0))
                .unwrap_or_else(|| "–".into()),
            fmt_opt(r.p50_ms, 2),
            fmt_opt(r.p99_ms, 1),
            exp.replace('|', "\\|")
        );
    }
    m
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: one test case per row; a row whose expectation broke fails.
pub fn junit(s: &CampaignSummary) -> String {
    let failures = s.rows.iter().filter(|r| r.expect_ok == Some(false)).count();
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.1}\">\n",
        xml(&format!("faultline campaign {}", s.name)),
        s.rows.len(),
        failures,
        s.wall_seconds
    );
    for r in &s.rows {
        let secs: f64 = r.runs.iter().map(|x| x.seconds).sum();
        let _ = write!(
            x,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.1}\">",
            xml(&format!("{}.{}", r.system, r.level)),
            xml(&r.id),
            secs
        );
        match r.expect_ok {
            Some(false) => {
                let _ = write!(
                    x,
                    "<failure message=\"{}\">expected {}</failure>",
                    xml(r.expect_message.as_deref().unwrap_or("expectation broken")),
                    xml(r.expect.as_deref().unwrap_or(""))
                );
            }
            None => {
                let _ = write!(
                    x,
                    "<skipped message=\"{}\"/>",
                    xml(r.expect_message.as_deref().unwrap_or("no expectation"))
                );
            }
            Some(true) => {}
        }
        let mut out = Vec::new();
        if r.catch_rate.is_some() {
            out.push(format!("{CATCH_COLUMN}: {}", r.catch_text()));
        }
        if r.first_anomaly_min_s.is_some() {
            out.push(format!(
                "{FIRST_ANOMALY_COLUMN}: {}",
                r.first_anomaly_text()
            ));
        }
        if !out.is_empty() {
            let _ = write!(x, "<system-out>{}</system-out>", xml(&out.join("\n")));
        }
        x.push_str("</testcase>\n");
    }
    x.push_str("</testsuite>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header, separator and rows of a markdown table have the same number
    /// of cells.
    fn assert_rectangular(md: &str) {
        let pipes: Vec<usize> = md
            .lines()
            .filter(|l| l.starts_with('|'))
            .map(|l| l.matches(" |").count() + l.matches("---|").count())
            .collect();
        assert!(pipes.windows(2).all(|w| w[0] == w[1]), "{md}");
    }

    fn sample() -> CampaignSummary {
        let mut cells = BTreeMap::new();
        cells.insert(
            "linearizable".to_string(),
            Cell {
                failed: 2,
                unknown: 0,
                total: 3,
                worst: Some("runs/a/index.html".into()),
            },
        );
        CampaignSummary {
            name: "t<script>".into(),
            started: "20261123T000000Z".into(),
            wall_seconds: 10.0,
            columns: vec!["linearizable".into(), "stale-reads".into()],
            rows: vec![Row {
                id: "kv/raft-local/partition".into(),
                system: "kv".into(),
                level: "raft-local".into(),
                nemesis: "partition".into(),
                cells,
                expect: Some("valid".into()),
                expect_ok: Some(false),
                expect_message: Some("2 of 3 seeds invalid".into()),
                runs: [
                    ("invalid", Some(6.5)),
                    ("valid", None),
                    ("invalid", Some(1.5)),
                ]
                .iter()
                .enumerate()
                .map(|(i, (v, fa))| RunRef {
                    seed: i as u64 + 1,
                    verdict: v.to_string(),
                    first_anomaly_s: *fa,
                    ..Default::default()
                })
                .collect(),
                ..Default::default()
            }],
            ok: false,
            interrupted: false,
            ..Default::default()
        }
    }

    #[test]
    fn first_anomaly_min_and_median_over_invalid_seeds() {
        let mut r = sample().rows.remove(0);
        r.set_first_anomaly();
        assert_eq!(r.first_anomaly_min_s, Some(1.5));
        assert_eq!(r.first_anomaly_median_s, Some(4.0));
        // A valid seed's value (it should not have one) is not counted; an
        // odd count takes the middle one.
        r.runs[1].first_anomaly_s = Some(0.1);
        r.runs.push(RunRef {
            seed: 4,
            verdict: "invalid".into(),
            first_anomaly_s: Some(9.0),
            ..Default::default()
        });
        r.set_first_anomaly();
        assert_eq!(r.first_anomaly_min_s, Some(1.5));
        assert_eq!(r.first_anomaly_median_s, Some(6.5));
        assert_eq!(r.first_anomaly_text(), "1.5 / 6.5");
        r.runs.retain(|x| x.verdict != "invalid");
        r.set_first_anomaly();
        assert_eq!(
            (r.first_anomaly_min_s, r.first_anomaly_median_s),
            (None, None)
        );
        assert_eq!(r.first_anomaly_text(), "–");
        // Old summaries without the fields still load.
        let old = r#"{"seed":1,"verdict":"valid","exit":0,"seconds":1.0}"#;
        let x: RunRef = serde_json::from_str(old).unwrap();
        assert_eq!(x.first_anomaly_s, None);
    }

    #[test]
    fn page_markdown_and_junit_show_the_failing_cell() {
        let mut s = sample();
        s.rows[0].set_first_anomaly();
        let page = render(&s);
        assert!(page.contains("✗ 2/3"));
        assert!(page.contains("first anomaly s (min/median)") && page.contains("1.5 / 4.0"));
        assert!(page.contains("seed 1 6.50 s, seed 3 1.50 s"), "{page}");
        assert!(page.contains("runs/a/index.html"));
        assert!(!page.contains("<script>\"") && page.contains("t&lt;script&gt;"));
        let md = markdown(&s);
        assert!(md.contains("| kv | raft-local | partition |"), "{md}");
        assert!(md.contains("✗ 2/3"));
        assert!(md.contains("| first anomaly s (min/median) |"), "{md}");
        assert!(md.contains("| 1.5 / 4.0 |"), "{md}");
        assert_rectangular(&md);
        let j = junit(&s);
        assert!(
            j.contains("<system-out>first anomaly s (min/median): 1.5 / 4.0</system-out>"),
            "{j}"
        );
        assert!(j.contains("failures=\"1\""));
        assert!(j.contains("kv/raft-local/partition"));
        assert!(j.contains("<failure"));
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.0005
    }

    #[test]
    fn wilson_interval_matches_known_values() {
        let (lo, hi) = wilson(19, 20).unwrap();
        assert!(close(lo, 0.7639) && close(hi, 0.9911), "{lo} {hi}");
        let (lo, hi) = wilson(0, 50).unwrap();
        assert!(lo == 0.0 && close(hi, 0.0714), "{lo} {hi}");
        let (lo, hi) = wilson(50, 50).unwrap();
        assert!(close(lo, 0.9286) && hi == 1.0, "{lo} {hi}");
        let (lo, hi) = wilson(17, 20).unwrap();
        assert!(close(lo, 0.6396) && close(hi, 0.9476), "{lo} {hi}");
        let (lo, hi) = wilson(5, 10).unwrap();
        assert!(close(lo, 0.2366) && close(hi, 0.7634), "{lo} {hi}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn catch_rate_on_the_row_page_markdown_and_junit() {
        let mut s = sample();
        let r = &mut s.rows[0];
        r.set_catch();
        assert_eq!((r.caught, r.seeds_run), (2, 3));
        assert!(close(r.catch_rate.unwrap(), 2.0 / 3.0));
        let (lo, hi) = wilson(2, 3).unwrap();
        assert_eq!((r.catch_ci_low, r.catch_ci_high), (Some(lo), Some(hi)));
        assert_eq!(r.catch_text(), "2/3 67% (21–94%)");
        let page = render(&s);
        assert!(page.contains("<th>caught (95% CI)</th>"), "{page}");
        assert!(page.contains("<td>2/3 67% (21–94%)</td>"), "{page}");
        let md = markdown(&s);
        assert!(md.contains("| caught (95% CI) |"), "{md}");
        assert!(md.contains("| 2/3 67% (21–94%) |"), "{md}");
        assert_rectangular(&md);
        assert!(junit(&s).contains("caught (95% CI): 2/3 67% (21–94%)"));
        // JSON carries the figures; an old summary without them loads, and
        // set_catch fills them from its runs.
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["rows"][0]["caught"], 2);
        assert_eq!(v["rows"][0]["seeds_run"], 3);
        assert!(v["rows"][0]["catch_ci_low"].as_f64().is_some());
        let mut old = v.clone();
        for k in [
            "caught",
            "seeds_run",
            "catch_rate",
            "catch_ci_low",
            "catch_ci_high",
        ] {
            old["rows"][0].as_object_mut().unwrap().remove(k);
        }
        let mut back: CampaignSummary = serde_json::from_value(old).unwrap();
        assert_eq!((back.rows[0].caught, back.rows[0].catch_rate), (0, None));
        assert_eq!(back.rows[0].catch_text(), "–");
        back.rows[0].set_catch();
        assert_eq!(back.rows[0].catch_text(), "2/3 67% (21–94%)");
        assert!(back.shard.is_none() && back.merged_from.is_empty());
    }

    #[test]
    fn a_shard_page_says_which_shard_and_that_nothing_is_judged() {
        let mut s = sample();
        s.ok = true;
        s.rows[0].expect_ok = None;
        s.shard = Some(ShardInfo { index: 3, count: 8 });
        assert_eq!(s.status().0, "unknown");
        let page = render(&s);
        assert!(
            page.contains("shard 3 of 8: expectations are judged after"),
            "{page}"
        );
        assert!(markdown(&s).contains("shard 3 of 8"));
        // Shard 1 of 1 is a whole campaign.
        s.shard = Some(ShardInfo { index: 1, count: 1 });
        assert_eq!(s.status(), ("valid", "every expectation holds".to_string()));
        s.incomplete = true;
        assert_eq!(s.status().0, "unknown");
        s.merged_from = vec![MergedShard::default(), MergedShard::default()];
        assert!(render(&s).contains("merged from 2 shards"));
        s.ok = false;
        assert_eq!(s.status().0, "invalid");
    }
}
