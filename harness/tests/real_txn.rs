//! The bundled transactional store `faultline-txn` (`systems/defs/txn.toml`)
//! under `faultline test --workload list-append`, for real: three nodes on
//! loopback, three shards each, kills and pauses; every history judged by
//! the isolation checker against the level's claim.

mod common;

use common::{assert_no_node_left, bin_dir, faultline, history, run_dir, show};
use serde_json::Value;

fn run(
    level: &str,
    nemesis: &str,
    seconds: &str,
) -> (std::process::Output, std::path::PathBuf, tempfile::TempDir) {
    let bins = bin_dir();
    let store = tempfile::tempdir().unwrap();
    let out = faultline(&[
        "test",
        "--system",
        "txn",
        "--level",
        level,
        "--workload",
        "list-append",
        "--nodes",
        "3",
        "--concurrency",
        "8",
        "--time-limit",
        seconds,
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "4",
        "--seed",
        "2",
        "--store",
        store.path().to_str().unwrap(),
        "--bin-dir",
        bins.to_str().unwrap(),
    ]);
    let dir = run_dir(store.path());
    (out, dir, store)
}

/// Serializable under kills and pauses: every transaction checked, the
/// claim (strict serializability) holds, ok transactions read lists, and no
/// node outlives the run.
#[test]
fn serializable_under_kills_and_pauses_is_strict_serializable() {
    let (out, dir, _store) = run("serializable", "kill,pause", "12");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let h = history(&dir);
    let ok_reads = h
        .iter()
        .filter(|e| e["type"] == "ok" && e["f"] == "txn")
        .flat_map(|e| e["value"].as_array().cloned().unwrap_or_default())
        .filter(|m| m[0] == "r" && m[2].is_array())
        .count();
    assert!(ok_reads > 50, "only {ok_reads} reads saw a list");
    // Transactions carry no key; the final reads ran.
    assert!(h
        .iter()
        .filter(|e| e["f"] == "txn")
        .all(|e| e.get("key").is_none()));
    let r: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["workload"]["checker"], "list-append");
    assert_eq!(r["workload"]["require"], "strict-serializable");
    assert!(
        r["workload"]["txns"]["ok"].as_u64().unwrap() > 50,
        "{}",
        r["workload"]["txns"]
    );
    assert!(r.get("incomplete").is_none(), "{}", r["incomplete"]);
    assert_no_node_left(&dir);
}

/// Snapshot isolation allows write skew, and the checker is told so: the
/// run is judged against snapshot-isolation, never worse than that.
#[test]
fn snapshot_is_judged_against_snapshot_isolation() {
    let (out, dir, _store) = run("snapshot", "pause", "10");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["workload"]["require"], "snapshot-isolation");
    let not: Vec<&str> = r["workload"]["not"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!not.contains(&"snapshot-isolation"), "{not:?}");
    assert_no_node_left(&dir);
}
