//! Checker benchmarks over Porcupine's histories (parse + pair + search)
//! and a synthetic many-key history.
//!
//! `cargo bench -p checker`. The data lives beside the repository in
//! `../shared/data/porcupine`; benchmarks whose files are missing are
//! skipped with a message.

use checker::formats::{self, Format};
use checker::linearizability::{LinOptions, ModelKind};
use checker::synth::{self, SynthSpec};
use checker::Verdict;
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/porcupine")
}

fn files(sub: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir().join(sub))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn check_bytes(bytes: &[u8], format: Format, opts: &LinOptions) -> Verdict {
    let h = formats::parse(bytes, "bench", Some(format)).expect("parses");
    let ops = h.operations().expect("pairs");
    checker::check_linearizability(&ops, opts, "bench")
        .expect("checks")
        .verdict
}

fn etcd_opts() -> LinOptions {
    LinOptions {
        model: ModelKind::CasRegister,
        fail_cas_observes: true,
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    let etcd: Vec<Vec<u8>> = files("jepsen", "log")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    if etcd.is_empty() {
        eprintln!(
            "porcupine data not found under {}; skipping",
            data_dir().display()
        );
        return;
    }
    let mut g = c.benchmark_group("porcupine");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let e002 = std::fs::read(data_dir().join("jepsen/etcd_002.log")).unwrap();
    g.bench_function("etcd_002", |b| {
        b.iter(|| check_bytes(&e002, Format::PorcupineEtcd, &etcd_opts()))
    });
    g.bench_function("etcd_all", |b| {
        b.iter(|| {
            etcd.iter()
                .map(|f| check_bytes(f, Format::PorcupineEtcd, &etcd_opts()))
                .fold(Verdict::Valid, Verdict::merge)
        })
    });
    let kv: Vec<Vec<u8>> = files("kv", "txt")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let kv_opts = LinOptions {
        model: ModelKind::Kv,
        ..Default::default()
    };
    g.bench_function("kv_all_partitioned", |b| {
        b.iter(|| {
            kv.iter()
                .map(|f| check_bytes(f, Format::PorcupineKv, &kv_opts))
                .fold(Verdict::Valid, Verdict::merge)
        })
    });
    let c10bad = std::fs::read(data_dir().join("kv/c10-bad.txt")).unwrap();
    let np = LinOptions {
        model: ModelKind::Kv,
        partition: false,
        ..Default::default()
    };
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("kv_c10_bad_no_partition", |b| {
        b.iter(|| check_bytes(&c10bad, Format::PorcupineKv, &np))
    });
    g.finish();

    let mut g = c.benchmark_group("synthetic");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let mut hist = Vec::new();
    synth::write_jsonl(
        &SynthSpec {
            ops: 100_000,
            keys: 100,
            processes: 10,
            ..Default::default()
        },
        &mut hist,
    )
    .unwrap();
    let reg = LinOptions {
        model: ModelKind::CasRegister,
        ..Default::default()
    };
    g.bench_function("100k_ops_100_keys", |b| {
        b.iter(|| check_bytes(&hist, Format::Jsonl, &reg))
    });
    g.finish();
}

criterion_group!(checker_benches, benches);
criterion_main!(checker_benches);
