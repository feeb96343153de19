//! The isolation checker on synthetic 100,000-txn histories.
//!
//! `cargo bench -p checker --bench txn`. `list-append` and `rw-register`
//! check a strict-serializable history (the common case: no cycle, so the
//! time is parsing micro-ops, inference, graph building and Tarjan);
//! `list-append-stale` has one stale read injected, so the cycle search
//! runs too. Throughput is reported in txns per second. `jsonl-100k`
//! times the JSONL reader alone, and the reader then the check, on the
//! list-append history as bytes in memory.

use checker::checker::Budget;
use checker::formats::{self, Format, JsonlWriter};
use checker::txn::synth::{history, TxnSynthSpec};
use checker::txn::{self, Kind, TxnOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

fn benches(c: &mut Criterion) {
    let n = 100_000;
    let mut g = c.benchmark_group("txn-100k");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for (name, kind, stale) in [
        ("list-append", Kind::ListAppend, false),
        ("list-append-stale", Kind::ListAppend, true),
        ("rw-register", Kind::RwRegister, false),
    ] {
        let h = history(&TxnSynthSpec {
            kind,
            txns: n,
            keys: 10,
            processes: 10,
            inject_stale_read: stale,
            ..Default::default()
        });
        let opts = TxnOptions::new(kind);
        g.bench_function(name, |b| {
            b.iter(|| txn::check(&h, &opts, &Budget::default()).expect("checks"))
        });
    }
    g.finish();
    // The reader alone, and the reader then the check, on the same history
    // as JSONL bytes in memory (what `faultline check` does, less the file
    // read and the process).
    let h = history(&TxnSynthSpec {
        kind: Kind::ListAppend,
        txns: n,
        keys: 10,
        processes: 10,
        ..Default::default()
    });
    let mut w = JsonlWriter::unflushed(Vec::new());
    for e in &h.events {
        w.write(e).expect("writes");
    }
    let bytes = w.into_inner();
    let mut g = c.benchmark_group("jsonl-100k");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("read", |b| {
        b.iter(|| formats::parse(&bytes, "h.jsonl", Some(Format::Jsonl)).expect("reads"))
    });
    let opts = TxnOptions::new(Kind::ListAppend);
    g.bench_function("read+check list-append", |b| {
        b.iter(|| {
            let h = formats::parse(&bytes, "h.jsonl", Some(Format::Jsonl)).expect("reads");
            txn::check(&h, &opts, &Budget::default()).expect("checks")
        })
    });
    g.finish();
}

criterion_group!(txn_benches, benches);
criterion_main!(txn_benches);
