//! Real runs of `faultline test --system queue` and `--system lock` on
//! loopback (3 raft nodes, about 12 s each, kills and pauses), which must
//! come out valid; and the flag checks for the new systems.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs a short raft test of `system` and returns (stdout, run dir, results).
fn short_raft_run(system: &str, rate: &str, store: &Path) -> (String, PathBuf, Value) {
    let bins = bin_dir();
    let started = Instant::now();
    let out = faultline(&[
        "test",
        "--system",
        system,
        "--level",
        "raft",
        "--nodes",
        "3",
        "--time-limit",
        "9",
        "--nemesis",
        "kill,pause",
        "--nemesis-interval",
        "4",
        "--rate",
        rate,
        "--seed",
        "5",
        "--quiesce",
        "0.5",
        "--store",
        store.to_str().unwrap(),
        "--bin-dir",
        bins.to_str().unwrap(),
    ]);
    eprintln!("{system} run took {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("VALID"), "{stdout}");
    let run = std::fs::canonicalize(store.join("latest")).unwrap();
    let results: Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "valid", "{results:#}");
    (stdout, run, results)
}

#[test]
fn raft_queue_under_kills_and_pauses_is_valid_and_drained() {
    let store = tempfile::tempdir().unwrap();
    let (stdout, run, results) = short_raft_run("queue", "100", store.path());
    let w = &results["workload"];
    assert_eq!(w["checker"], "total-queue", "{w:#}");
    assert_eq!(w["delivery"], "at-least-once", "{w:#}");
    // Kills and pauses of every node may leave little time with a leader.
    assert!(w["acknowledged"].as_u64().unwrap() >= 5, "{stdout}");
    assert_eq!(w["lost"]["count"], 0);
    assert!(stdout.contains("total-queue"), "{stdout}");
    let h = history(&run);
    for f in ["kill", "pause"] {
        assert!(
            h.iter().any(|e| e["process"] == "nemesis" && e["f"] == f),
            "no nemesis {f}\n{stdout}"
        );
    }
    // Every node was drained: its last dequeue found the queue empty.
    for n in ["n1", "n2", "n3"] {
        let last = h
            .iter()
            .rfind(|e| e["node"] == n && e["f"] == "dequeue" && e["type"] != "invoke")
            .unwrap_or_else(|| panic!("no dequeue on {n}"));
        assert!(
            last["type"] == "ok" && last["value"].is_null(),
            "{n} not drained: {last}"
        );
    }
    assert!(h.iter().any(|e| e["f"] == "ack" && e["type"] == "ok"));
}

#[test]
fn raft_lock_under_kills_and_pauses_is_valid() {
    let store = tempfile::tempdir().unwrap();
    let (stdout, run, results) = short_raft_run("lock", "40", store.path());
    let w = &results["workload"];
    assert_eq!(w["checker"], "lock", "{w:#}");
    assert_eq!(w["mutual_exclusion"]["verdict"], "valid", "{w:#}");
    assert_eq!(w["fencing"]["verdict"], "valid", "{w:#}");
    assert!(
        w["mutual_exclusion"]["holds"].as_u64().unwrap() >= 1,
        "{stdout}"
    );
    let h = history(&run);
    let acquired = h
        .iter()
        .filter(|e| e["f"] == "acquire" && e["type"] == "ok")
        .count();
    assert!(acquired >= 1, "no ok acquire\n{stdout}");
    // Kills and pauses of a 3-node cluster in 9 s can leave a holder no time
    // to write; with a few holds, at least one fenced write must land.
    if acquired >= 4 {
        assert!(
            h.iter().any(|e| e["f"] == "write" && e["type"] == "ok"),
            "{acquired} holds but no ok write\n{stdout}"
        );
    }
    assert!(h
        .iter()
        .filter(|e| e["f"] == "acquire" && e["type"] == "ok")
        .all(|e| e["value"]["token"].is_u64()));
}

#[test]
fn queue_and_lock_flags_are_checked_and_listed() {
    for (args, flag) in [
        (
            vec!["--system", "lock", "--workload", "register"],
            "--workload",
        ),
        (
            vec!["--system", "queue", "--workload", "lock"],
            "--workload",
        ),
        (vec!["--system", "queue", "--level", "single"], "--level"),
        (
            vec!["--system", "lock", "--level", "at-most-once"],
            "--level",
        ),
        (vec!["--system", "kv", "--workload", "queue"], "--workload"),
        (vec!["--system", "no-such-system"], "--system"),
    ] {
        let mut all = vec!["test"];
        all.extend(args);
        all.extend(["--store", "/nonexistent/x"]);
        let out = faultline(&all);
        assert_eq!(out.status.code(), Some(255), "{all:?}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{all:?}: {}",
            show(&out)
        );
    }
    let out = faultline(&["systems"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for w in [
        "faultline-queue",
        "faultline-lock",
        "at-most-once",
        "primary-async",
        "single",
        "redlock",
        "queue",
        "lock",
        "register",
    ] {
        assert!(text.contains(w), "{w}: {text}");
    }
}
