//! Consistency checks on a 100,000-op, 100-key synthetic history.
//!
//! `cargo bench -p checker --bench consistency`. The history is linearizable,
//! so the sequential search is decided by implication; `graph` runs the
//! causal, PRAM and session checks alone (no linearizability search), `all`
//! runs everything the CLI runs, and `stale` is a history with stale reads
//! (not linearizable) whose graph checks still run in full.

use checker::consistency::{self, ConsistencyOptions, FinalPoint};
use checker::synth::{self, SynthSpec};
use checker::History;
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

fn history(spec: &SynthSpec) -> History {
    let mut events = Vec::new();
    synth::generate(spec, |e| {
        events.push(e);
        Ok(())
    })
    .expect("generates");
    History {
        source: "bench".into(),
        events,
        warnings: vec![],
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    let spec = SynthSpec {
        ops: 100_000,
        keys: 100,
        processes: 10,
        seed: 7,
        info_rate: 0.01,
        inject_violation: false,
    };
    let h = history(&spec);
    let ops = h.operations().expect("pairs");
    let mut g = c.benchmark_group("consistency-100k-ops-100-keys");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let graph_only = ConsistencyOptions {
        linearizable: false,
        sequential: false,
        ..Default::default()
    };
    g.bench_function("graph", |b| {
        b.iter(|| {
            consistency::check(&ops, &graph_only, "bench", FinalPoint::default()).expect("checks")
        })
    });
    let all = ConsistencyOptions::default();
    g.bench_function("all", |b| {
        b.iter(|| consistency::check(&ops, &all, "bench", FinalPoint::default()).expect("checks"))
    });
    // Stale reads: shift every read's value to the value its key held two
    // writes earlier, so the graph checks see many anomalies.
    let mut stale = ops.clone();
    let mut hist: std::collections::HashMap<Option<String>, Vec<serde_json::Value>> =
        Default::default();
    for o in stale.iter_mut() {
        let k = o.key.as_ref().map(|k| k.to_string());
        let e = hist.entry(k).or_default();
        match o.f.as_str() {
            "write" if o.status == checker::Status::Ok => e.push(o.input.clone()),
            "read" if o.status == checker::Status::Ok && e.len() > 2 => {
                o.output = e[e.len() - 3].clone();
            }
            _ => {}
        }
    }
    g.bench_function("graph-stale", |b| {
        b.iter(|| {
            consistency::check(&stale, &graph_only, "bench", FinalPoint::default()).expect("checks")
        })
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
