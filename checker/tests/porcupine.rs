//! Every history in ../shared/data/porcupine gets the verdict EXPECTED.tsv
//! gives it, with Porcupine's models (etcd: cas-register where a failed cas
//! means "the value was not the expected one"; kv: per-key strings), and the
//! kv files also without partitioning where Porcupine tests that.

use checker::formats::{self, Format};
use checker::linearizability::{LinOptions, ModelKind};
use checker::Verdict;
use std::path::PathBuf;

fn data() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/porcupine"
    ))
}

fn expected() -> Vec<(String, usize, Verdict)> {
    let text =
        std::fs::read_to_string(data().join("EXPECTED.tsv")).expect("EXPECTED.tsv is readable");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let v = match cols[3] {
                "linearizable" => Verdict::Valid,
                "illegal" => Verdict::Invalid,
                other => panic!("unknown expectation {other}"),
            };
            (cols[0].to_string(), cols[2].parse().unwrap(), v)
        })
        .collect()
}

fn check(file: &str, partition: bool) -> (Verdict, usize) {
    let (h, fmt) = formats::read_file(&data().join(file), None).unwrap();
    let ops = h.operations().unwrap();
    let model = if fmt == Format::PorcupineKv {
        ModelKind::Kv
    } else {
        ModelKind::CasRegister
    };
    let opts = LinOptions {
        model,
        partition,
        fail_cas_observes: true,
        ..Default::default()
    };
    let r = checker::check_linearizability(&ops, &opts, file).unwrap();
    if r.verdict == Verdict::Invalid {
        let cx = r.counterexample.expect("counterexample");
        // The stuck op is one of the candidates, and the prefix replays.
        assert!(cx.candidates.iter().any(|c| c.op.id == cx.op.id), "{file}");
    }
    (r.verdict, r.ops)
}

#[test]
fn every_file_gets_its_expected_verdict() {
    let rows = expected();
    assert!(rows.len() >= 80, "EXPECTED.tsv has {} rows", rows.len());
    let mut wrong = Vec::new();
    for (file, ops, want) in &rows {
        let (got, n) = check(file, true);
        assert_eq!(n, *ops, "{file}: op count");
        if got != *want {
            wrong.push(format!("{file}: expected {want}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn kv_without_partitioning_agrees_on_c01_and_c10() {
    for (file, _, want) in expected() {
        if file.starts_with("kv/c01") || file.starts_with("kv/c10") {
            assert_eq!(check(&file, false).0, want, "{file} --no-partition");
        }
    }
}
