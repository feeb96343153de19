//! Hand-written SVG plots: latency scatter, latency quantiles, throughput and
//! clock offsets, each with the fault windows shaded. (Hand-written because
//! the plots are simple and this keeps the page small and dependency-free.)

use crate::faults::{ClockPoint, FaultWindow};
use crate::markup::esc;
use crate::run::Run;
use checker::stats::{self, Quantiles};
use checker::Status;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
];

pub fn f_colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A plot area with axes.
struct Plot {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    log: bool,
    out: String,
}

impl Plot {
    fn new(w: f64, h: f64, x1: f64, y0: f64, y1: f64, log: bool) -> Plot {
        let mut p = Plot {
            w,
            h,
            left: 58.0,
            right: 12.0,
            top: 10.0,
            bottom: 34.0,
            x0: 0.0,
            x1: x1.max(1e-9),
            y0,
            y1: if y1 > y0 { y1 } else { y0 + 1.0 },
            log,
            out: String::new(),
        };
        let _ = write!(
            p.out,
            r#"<svg class="plot" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" role="img">"#
        );
        p
    }

    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x0) / (self.x1 - self.x0) * (self.w - self.left - self.right)
    }

    fn py(&self, y: f64) -> f64 {
        let (y, y0, y1) = if self.log {
            (y.max(self.y0).log10(), self.y0.log10(), self.y1.log10())
        } else {
            (y, self.y0, self.y1)
        };
        let f = ((y - y0) / (y1 - y0)).clamp(0.0, 1.0);
        self.h - self.bottom - f * (self.h - self.top - self.bottom)
    }

    fn bands(&mut self, faults: &[FaultWindow], end_s: f64) {
        for w in faults {
            let a = self.px(w.start as f64 / 1e9);
            let b = self.px(w.end.map(|e| e as f64 / 1e9).unwrap_or(end_s).min(self.x1));
            let _ = write!(
                self.out,
                r#"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.18"><title>{} {}</title></rect>"#,
                self.top,
                (b - a).max(1.0),
                self.h - self.top - self.bottom,
                w.class.colour(),
                esc(&w.f),
                esc(&w.target)
            );
        }
    }

    fn axes(&mut self, ylabel: &str) {
        let (l, r, t, b) = (
            self.left,
            self.w - self.right,
            self.top,
            self.h - self.bottom,
        );
        // y ticks
        let ticks: Vec<f64> = if self.log {
            let mut v = Vec::new();
            let mut d = 10f64.powf(self.y0.log10().floor());
            while d <= self.y1 * 1.0001 {
                if d >= self.y0 * 0.9999 {
                    v.push(d);
                }
                d *= 10.0;
            }
            v
        } else {
            nice_ticks(self.y0, self.y1, 5)
        };
        for y in ticks {
            let yy = self.py(y);
            let _ = write!(
                self.out,
                r##"<line x1="{l}" x2="{r}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
                l - 4.0,
                yy + 3.5,
                fmt_num(y)
            );
        }
        for x in nice_ticks(self.x0, self.x1, 10) {
            let xx = self.px(x);
            let _ = write!(
                self.out,
                r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{b}" y2="{:.1}" stroke="#999"/><text x="{xx:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"##,
                b + 4.0,
                b + 15.0,
                fmt_num(x)
            );
        }
        let _ = write!(
            self.out,
            r##"<rect x="{l}" y="{t}" width="{:.1}" height="{:.1}" fill="none" stroke="#999"/><text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">time (s)</text><text transform="translate(12,{:.1}) rotate(-90)" class="axis" text-anchor="middle">{}</text>"##,
            r - l,
            b - t,
            (l + r) / 2.0,
            self.h - 4.0,
            (t + b) / 2.0,
            esc(ylabel)
        );
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

pub fn fmt_num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 100.0 || (x.fract() == 0.0 && x.abs() >= 1.0) {
        format!("{:.0}", x)
    } else if x.abs() >= 1.0 {
        format!("{:.1}", x)
    } else if x.abs() >= 0.01 {
        format!("{:.2}", x)
    } else {
        format!("{:.0e}", x)
    }
}

fn nice_ticks(a: f64, b: f64, n: usize) -> Vec<f64> {
    let span = (b - a).max(1e-12);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = Vec::new();
    let mut x = (a / step).ceil() * step;
    while x <= b + step * 1e-9 {
        v.push(x);
        x += step;
    }
    v
}

fn legend(items: &[(String, String)]) -> String {
    let mut s = String::from(r#"<div class="legend">"#);
    for (colour, label) in items {
        if colour.is_empty() {
            let _ = write!(s, r#"<span class="muted">{}</span>"#, esc(label));
        } else {
            let _ = write!(
                s,
                r#"<span><i style="background:{}"></i>{}</span>"#,
                esc(colour),
                esc(label)
            );
        }
    }
    s.push_str("</div>");
    s
}

fn fault_legend(faults: &[FaultWindow]) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for w in faults {
        let item = (
            format!("{}55", w.class.colour()),
            format!("{} (fault)", w.f),
        );
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Ops' f names in first-seen order.
pub fn f_names(run: &Run) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for op in &run.ops {
        if !v.contains(&op.f) {
            v.push(op.f.clone());
        }
    }
    v
}

/// An op's latency for a log-scale plot (`checker::stats::latency_ms`, at
/// least 1 µs).
fn latency_ms(op: &checker::Operation) -> Option<f64> {
    stats::latency_ms(op).map(|l| l.max(0.001))
}

/// Latency over time: a point per completed op (deduplicated per pixel so the
/// SVG stays small), colour by f, shape by outcome; info ops as ticks at the
/// top.
pub fn latency_scatter(run: &Run) -> String {
    let end_s = (run.end_time as f64 / 1e9).max(run.seconds()).max(0.001);
    let fs = f_names(run);
    let lats: Vec<f64> = run.ops.iter().filter_map(latency_ms).collect();
    if lats.is_empty() {
        return "<p class=\"muted\">No completed operations.</p>".into();
    }
    let lo = lats.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = lats.iter().cloned().fold(0.0, f64::max);
    let y0 = 10f64.powf(lo.log10().floor());
    let y1 = 10f64.powf(hi.log10().ceil()).max(y0 * 10.0);
    let mut p = Plot::new(1100.0, 300.0, end_s, y0, y1, true);
    p.bands(&run.faults, end_s);
    p.axes("latency (ms, log)");
    let mut seen = HashSet::new();
    let mut groups: BTreeMap<(usize, u8), String> = BTreeMap::new();
    for op in &run.ops {
        let fi = fs.iter().position(|f| *f == op.f).unwrap_or(0);
        let Some(t) = op.invoke_time else { continue };
        let x = p.px(t as f64 / 1e9);
        let (y, shape) = match latency_ms(op) {
            Some(l) => (p.py(l), if op.status == Status::Ok { 0u8 } else { 1 }),
            None => (p.top + 4.0, 2),
        };
        if !seen.insert((fi, shape, x.round() as i64, y.round() as i64)) {
            continue;
        }
        let g = groups.entry((fi, shape)).or_default();
        match shape {
            0 => {
                let _ = write!(g, "M{x:.1} {y:.1}h0.01");
            }
            1 => {
                let _ = write!(g, "M{:.1} {:.1}l4 4m0 -4l-4 4", x - 2.0, y - 2.0);
            }
            _ => {
                let _ = write!(g, "M{x:.1} {:.1}v8", y - 4.0);
            }
        }
    }
    for ((fi, shape), d) in &groups {
        let c = f_colour(*fi);
        let (w, cap) = match shape {
            0 => (3.2, "round"),
            1 => (1.2, "butt"),
            _ => (1.0, "butt"),
        };
        let _ = write!(
            p.out,
            r#"<path d="{d}" stroke="{c}" stroke-width="{w}" stroke-linecap="{cap}" fill="none" opacity="0.75"/>"#
        );
    }
    let mut items: Vec<(String, String)> = fs
        .iter()
        .enumerate()
        .map(|(i, f)| (f_colour(i).to_string(), f.clone()))
        .collect();
    items.push((
        String::new(),
        "● ok · ✕ fail · | info (no latency, at the top)".into(),
    ));
    items.extend(fault_legend(&run.faults));
    format!("{}{}", p.finish(), legend(&items))
}

pub const Q_COLOURS: [&str; 4] = ["#2c7fb8", "#41ab5d", "#fd8d3c", "#d7301f"];
pub const Q_NAMES: [&str; 4] = ["p50", "p90", "p99", "max"];

/// Latency quantiles over time, one small panel per f.
pub fn latency_quantiles(run: &Run) -> String {
    let end_s = (run.end_time as f64 / 1e9).max(run.seconds()).max(0.001);
    let buckets = 40usize;
    let dt = (end_s / buckets as f64).max(0.25);
    let n = (end_s / dt).ceil() as usize + 1;
    let fs = f_names(run);
    let mut all: Vec<f64> = run.ops.iter().filter_map(latency_ms).collect();
    if all.is_empty() {
        return String::new();
    }
    all.sort_by(f64::total_cmp);
    let y0 = 10f64.powf(all[0].log10().floor());
    let y1 = 10f64.powf(all[all.len() - 1].log10().ceil()).max(y0 * 10.0);
    let mut s = String::from(r#"<div class="panels">"#);
    for f in &fs {
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); n];
        for op in run.ops.iter().filter(|o| &o.f == f) {
            if let (Some(l), Some(t)) = (latency_ms(op), op.complete_time) {
                per[((t as f64 / 1e9) / dt) as usize % n].push(l);
            }
        }
        let mut p = Plot::new(540.0, 230.0, end_s, y0, y1, true);
        p.bands(&run.faults, end_s);
        p.axes("latency (ms, log)");
        let mut paths = [String::new(), String::new(), String::new(), String::new()];
        let mut gap = true;
        for (b, v) in per.iter_mut().enumerate() {
            if v.is_empty() {
                gap = true;
                continue;
            }
            stats::sort(v);
            let Some(q) = Quantiles::of_sorted(v) else {
                continue;
            };
            let q = q.as_array();
            let x = p.px(((b as f64 + 0.5) * dt).min(end_s));
            for k in 0..4 {
                let cmd = if gap { 'M' } else { 'L' };
                let _ = write!(paths[k], "{cmd}{x:.1} {:.1}", p.py(q[k]));
            }
            gap = false;
        }
        for (k, d) in paths.iter().enumerate() {
            if !d.is_empty() {
                let _ = write!(
                    p.out,
                    r#"<path d="{d}" stroke="{}" stroke-width="1.5" fill="none"/>"#,
                    Q_COLOURS[k]
                );
            }
        }
        let _ = write!(
            p.out,
            r#"<text x="66" y="24" class="ptitle">{}</text>"#,
            esc(f)
        );
        s.push_str(&p.finish());
    }
    s.push_str("</div>");
    let mut items: Vec<(String, String)> = (0..4)
        .map(|k| (Q_COLOURS[k].to_string(), Q_NAMES[k].to_string()))
        .collect();
    items.extend(fault_legend(&run.faults));
    s.push_str(&legend(&items));
    s
}

/// Completions per second by outcome.
pub fn throughput(run: &Run) -> String {
    let end_s = (run.end_time as f64 / 1e9).max(run.seconds()).max(0.001);
    let dt = if end_s <= 300.0 {
        1.0
    } else {
        (end_s / 300.0).ceil()
    };
    let counts = stats::throughput(&run.ops, end_s, dt);
    let max = counts
        .iter()
        .flat_map(|c| c.iter())
        .cloned()
        .fold(1.0, f64::max);
    let mut p = Plot::new(1100.0, 240.0, end_s, 0.0, max * 1.1, false);
    p.bands(&run.faults, end_s);
    p.axes("ops/s");
    let colours = ["#2ca02c", "#d62728", "#e6a100"];
    for k in 0..3 {
        if counts.iter().all(|c| c[k] == 0.0) {
            continue;
        }
        let mut d = String::new();
        for (b, c) in counts.iter().enumerate() {
            let cmd = if d.is_empty() { 'M' } else { 'L' };
            if b as f64 * dt > end_s {
                break;
            }
            let _ = write!(d, "{cmd}{:.1} {:.1}", p.px(b as f64 * dt), p.py(c[k]));
            let _ = write!(
                d,
                "L{:.1} {:.1}",
                p.px(((b as f64 + 1.0) * dt).min(end_s)),
                p.py(c[k])
            );
        }
        let _ = write!(
            p.out,
            r#"<path d="{d}" stroke="{}" stroke-width="1.4" fill="none"/>"#,
            colours[k]
        );
    }
    let mut items = vec![
        (colours[0].to_string(), "ok".to_string()),
        (colours[1].to_string(), "fail".to_string()),
        (colours[2].to_string(), "info".to_string()),
    ];
    items.extend(fault_legend(&run.faults));
    format!("{}{}", p.finish(), legend(&items))
}

/// Each node's clock offset over time (step lines); empty if no clock data.
pub fn clock_plot(run: &Run) -> String {
    if run.clock.is_empty() {
        return String::new();
    }
    let end_s = (run.end_time as f64 / 1e9).max(run.seconds()).max(0.001);
    let mut nodes: Vec<&str> = run.clock.iter().map(|c| c.node.as_str()).collect();
    nodes.sort_by_key(|n| crate::run::natural_key(n));
    nodes.dedup();
    let lo = run.clock.iter().map(|c| c.offset_ms).fold(0.0, f64::min);
    let hi = run.clock.iter().map(|c| c.offset_ms).fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.1).max(1.0);
    let mut p = Plot::new(1100.0, 240.0, end_s, lo - pad, hi + pad, false);
    p.bands(&run.faults, end_s);
    p.axes("clock offset (ms)");
    let mut items = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let pts: Vec<&ClockPoint> = run.clock.iter().filter(|c| c.node == *n).collect();
        let mut d = format!("M{:.1} {:.1}", p.px(0.0), p.py(0.0));
        let mut last = 0.0;
        for c in pts {
            let x = p.px(c.time as f64 / 1e9);
            let _ = write!(
                d,
                "L{x:.1} {:.1}L{x:.1} {:.1}",
                p.py(last),
                p.py(c.offset_ms)
            );
            last = c.offset_ms;
        }
        let _ = write!(d, "L{:.1} {:.1}", p.px(end_s), p.py(last));
        let _ = write!(
            p.out,
            r#"<path d="{d}" stroke="{}" stroke-width="1.6" fill="none"/>"#,
            f_colour(i)
        );
        items.push((f_colour(i).to_string(), n.to_string()));
    }
    format!("{}{}", p.finish(), legend(&items))
}
