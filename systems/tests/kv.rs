//! Integration tests: real `faultline-kv` processes on loopback.
//!
//! Per level: a 3-node cluster serves writes and reads over HTTP, and a
//! SIGKILLed node restarts on its data dir and serves again. For raft: the
//! leader is killed, a new one is elected and every acknowledged write is
//! still readable. Then one demonstration per weak level that its weakness
//! is real.

mod common;

use common::{http, http_h, Cluster};
use serde_json::{json, Value};

const RAFT_FAST: &[&str] = &[
    "--election-timeout-ms",
    "800",
    "--heartbeat-ms",
    "100",
    "--fsync",
    "never",
];

fn ok_value(r: Result<(u16, Value), String>) -> Value {
    match r {
        Ok((200, v)) => v["value"].clone(),
        other => panic!("expected 200, got {other:?}"),
    }
}

#[test]
fn bad_flags_exit_nonzero_naming_the_flag() {
    let out = std::process::Command::new(common::BIN)
        .args([
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:1",
            "--peers",
            "",
            "--data-dir",
            "/tmp/x",
        ])
        .args(["--level", "eventual"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--level"), "{err}");
}

#[test]
fn raft_survives_leader_kill_and_keeps_acknowledged_writes() {
    let mut c = Cluster::start("raft", 3, RAFT_FAST);
    let leader = c.leader(&[0, 1, 2]);
    let mut acked = Vec::new();
    for k in 0..15 {
        // Through every node: followers forward to the leader.
        let v = ok_value(c.write(k % 3, &format!("k{k}"), k as i64));
        assert_eq!(v, json!(k));
        acked.push((format!("k{k}"), k as i64));
    }
    assert_eq!(ok_value(c.cas(1, "k1", 1, 100)), json!(100));
    acked[1].1 = 100;
    let (status, err) = c.cas(2, "k1", 1, 5).unwrap();
    assert_eq!(status, 409);
    assert_eq!(err["error"], "cas-mismatch");
    assert_eq!(err["definite"], true);
    assert_eq!(err["current"], 100);

    let st = c.status(leader);
    assert_eq!(st["role"], "leader");
    assert_eq!(st["level"], "raft");
    let old_term = st["term"].as_u64().unwrap();

    c.kill(leader);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = c.leader(&others);
    assert_ne!(new_leader, leader);
    assert!(c.status(new_leader)["term"].as_u64().unwrap() > old_term);
    for (k, v) in &acked {
        for i in &others {
            assert_eq!(ok_value(c.read(*i, k)), json!(v), "{k} at {}", c.ids[*i]);
        }
    }
    assert_eq!(ok_value(c.write(others[0], "after", 7)), json!(7));

    // The old leader restarts on its data dir and serves again.
    c.restart(leader);
    Cluster::eventually(10, "old leader to rejoin", || {
        (c.status(leader)["leader"].as_str()? == c.ids[new_leader]).then_some(())
    });
    assert_eq!(ok_value(c.read(leader, "after")), json!(7));
    assert_eq!(ok_value(c.read(leader, "k1")), json!(100));
    assert_eq!(ok_value(c.write(leader, "k0", 42)), json!(42));

    // Without forwarding a follower answers not-leader with a hint.
    let follower = (0..3).find(|i| *i != new_leader).unwrap();
    let (status, err) = http_h(
        &c.addr(follower),
        "PUT",
        "/kv/k0",
        Some(json!({"value": 1})),
        &[("X-Faultline-No-Forward", "1")],
    )
    .unwrap();
    assert_eq!(status, 421);
    assert_eq!(err["error"], "not-leader");
    assert_eq!(err["definite"], true);
    assert_eq!(err["leader"], json!(c.ids[new_leader]));
    assert_eq!(ok_value(c.read(follower, "k0")), json!(42));
}

/// Write, read, SIGKILL a node, restart it on its data dir, it serves again.
fn kill_restart_serves(level: &str, extra: &[&str]) {
    let mut c = Cluster::start(level, 3, extra);
    for v in 1..=5 {
        assert_eq!(ok_value(c.write(0, "x", v)), json!(v));
    }
    assert_eq!(ok_value(c.cas(0, "x", 5, 6)), json!(6));
    if level != "raft-local" {
        // (raft-local reads n1's own state, which may lag.)
        assert_eq!(ok_value(c.read(0, "x")), json!(6));
    }
    // Every node converges on the value.
    for i in 0..3 {
        Cluster::eventually(10, "replication", || {
            (c.read(i, "x").ok()?.1["value"] == json!(6)).then_some(())
        });
    }
    let st = c.status(1);
    assert_eq!(st["level"], level);

    // A node restarts with its own data.
    c.kill(2);
    // If n3 led, the first attempts may fail (indefinitely) until failover.
    Cluster::eventually(10, "write y with n3 down", || {
        matches!(c.write(0, "y", 9), Ok((200, _))).then_some(())
    });
    c.restart(2);
    Cluster::eventually(10, "restarted node to serve x", || {
        (c.read(2, "x").ok()?.1["value"] == json!(6)).then_some(())
    });
    Cluster::eventually(10, "restarted node to catch up on y", || {
        (c.read(2, "y").ok()?.1["value"] == json!(9)).then_some(())
    });
    assert_eq!(ok_value(c.write(2, "z", 3)), json!(3));
    Cluster::eventually(10, "z visible at n1", || {
        (c.read(0, "z").ok()?.1["value"] == json!(3)).then_some(())
    });

    // The first node too (for primary-async: the primary, restarted before
    // any failover, still holds its data).
    c.kill(0);
    c.restart(0);
    Cluster::eventually(10, "n1 to serve its data", || {
        (c.read(0, "x").ok()?.1["value"] == json!(6)).then_some(())
    });
}

#[test]
fn raft_lease_kill_restart() {
    kill_restart_serves("raft-lease", RAFT_FAST);
}

#[test]
fn raft_local_kill_restart() {
    kill_restart_serves("raft-local", RAFT_FAST);
}

#[test]
fn raft_kill_restart() {
    kill_restart_serves("raft", RAFT_FAST);
}

#[test]
fn primary_async_kill_restart() {
    kill_restart_serves(
        "primary-async",
        &["--heartbeat-ms", "50", "--failover-ms", "5000"],
    );
}

#[test]
fn quorum_kill_restart() {
    kill_restart_serves(
        "quorum",
        &["--heartbeat-ms", "50", "--request-timeout-ms", "1000"],
    );
}

#[test]
fn gossip_kill_restart() {
    kill_restart_serves("gossip", &["--gossip-ms", "50"]);
}

// ---------------------------------------------------------- log compaction

/// RAFT_FAST with a snapshot (and log compaction) every 20 entries.
const RAFT_COMPACT: &[&str] = &[
    "--election-timeout-ms",
    "800",
    "--heartbeat-ms",
    "100",
    "--fsync",
    "never",
    "--snapshot-logs",
    "20",
];

fn u(v: &Value, f: &str) -> u64 {
    v[f].as_u64().unwrap_or(0)
}

/// Entries in a node's raft log file.
fn log_entries_on_disk(c: &Cluster, i: usize) -> usize {
    let text = std::fs::read_to_string(c.dir.join(&c.ids[i]).join("raft-log.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("Append").map(|a| a["e"].as_array().unwrap().len()))
        .sum()
}

#[test]
fn raft_compacts_its_log_and_restarts_from_the_snapshot() {
    let mut c = Cluster::start("raft", 3, RAFT_COMPACT);
    let mut want = std::collections::BTreeMap::new();
    for n in 0..150i64 {
        let k = format!("k{}", n % 13);
        assert_eq!(ok_value(c.write(n as usize % 3, &k, n)), json!(n));
        want.insert(k, n);
    }
    assert_eq!(ok_value(c.cas(0, "k0", 143, -1)), json!(-1));
    want.insert("k0".into(), -1);
    // Every node snapshots and purges its log, in memory and on disk.
    for i in 0..3 {
        Cluster::eventually(10, "a snapshot and a purged log", || {
            let st = c.status(i);
            (u(&st, "snapshot_index") >= 100 && u(&st, "purged_index") >= 80).then_some(())
        });
        assert!(c.dir.join(&c.ids[i]).join("raft-snapshot.json").exists());
        let on_disk = log_entries_on_disk(&c, i);
        assert!(
            on_disk < 100,
            "{} keeps {on_disk} log entries on disk",
            c.ids[i]
        );
    }
    // SIGKILL all three; they come back from snapshot + remaining log.
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.restart(i);
    }
    c.leader(&[0, 1, 2]);
    for (k, v) in &want {
        for i in 0..3 {
            assert_eq!(ok_value(c.read(i, k)), json!(v), "{k} at {}", c.ids[i]);
        }
    }
    // And keep going.
    assert_eq!(ok_value(c.write(1, "after", 7)), json!(7));
    assert_eq!(ok_value(c.read(2, "after")), json!(7));
}

#[test]
fn raft_lagging_follower_catches_up_by_snapshot() {
    // raft-local: a follower answers reads from its own state.
    let mut c = Cluster::start("raft-local", 3, RAFT_COMPACT);
    let leader = c.leader(&[0, 1, 2]);
    let f = (0..3).find(|i| *i != leader).unwrap();
    let behind = u(&c.status(f), "last_log_index");
    c.kill(f);
    // Big values first, so the snapshot (over 1 MiB) is sent in chunks.
    let big: Vec<String> = (0..12).map(|i| format!("{i}").repeat(100_000)).collect();
    for (i, v) in big.iter().enumerate() {
        let r = http(
            &c.addr(leader),
            "PUT",
            &format!("/kv/big{i}"),
            Some(json!({ "value": v })),
        );
        assert_eq!(r.map(|r| r.0), Ok(200));
    }
    let mut want = std::collections::BTreeMap::new();
    for n in 0..200i64 {
        let k = format!("k{}", n % 17);
        assert_eq!(ok_value(c.write(leader, &k, n)), json!(n));
        want.insert(k, n);
    }
    // The leader no longer has the entries the follower lacks.
    let purged = Cluster::eventually(10, "the leader to purge", || {
        let p = u(&c.status(leader), "purged_index");
        (p > behind + 100).then_some(p)
    });
    let snap_len = std::fs::metadata(c.dir.join(&c.ids[leader]).join("raft-snapshot.json"))
        .unwrap()
        .len();
    assert!(
        snap_len > 1 << 20,
        "snapshot of {snap_len} bytes fits one chunk"
    );
    c.restart(f);
    let target = u(&c.status(leader), "applied");
    Cluster::eventually(20, "the follower to catch up", || {
        (u(&c.status(f), "applied") >= target).then_some(())
    });
    let st = c.status(f);
    assert!(u(&st, "snapshot_index") >= purged, "{st}");
    let log = std::fs::read_to_string(c.dir.join(format!("{}.log", c.ids[f]))).unwrap();
    assert!(
        log.contains("installed snapshot"),
        "the follower was not sent a snapshot:\n{}",
        c.log_tail(f)
    );
    for (k, v) in &want {
        assert_eq!(ok_value(c.read(f, k)), json!(v), "{k} at the follower");
    }
    for (i, v) in big.iter().enumerate() {
        let got = ok_value(c.read(f, &format!("big{i}")));
        assert!(got.as_str() == Some(v.as_str()), "big{i} at the follower");
    }
    // Its snapshot is on disk: it restarts without the leader's help.
    c.kill(leader);
    c.restart(f);
    for (k, v) in &want {
        assert_eq!(ok_value(c.read(f, k)), json!(v), "{k} after restart");
    }
}

// ------------------------------------------------------------------ weakness

/// primary-async: the primary is cut off from its backups and keeps
/// acknowledging writes (split brain); a backup takes over, and when the
/// old primary rejoins its acknowledged writes are gone.
#[test]
fn primary_async_loses_acknowledged_writes() {
    let mut c = Cluster::start_with_proxies(
        "primary-async",
        3,
        &[
            "--heartbeat-ms",
            "50",
            "--failover-ms",
            "400",
            "--request-timeout-ms",
            "500",
        ],
    );
    assert_eq!(c.leader(&[0, 1, 2]), 0);
    ok_value(c.write(0, "x", 1));
    for i in [1, 2] {
        Cluster::eventually(5, "backups to replicate x=1", || {
            (c.status(i)["keys"] == json!(1)).then_some(())
        });
    }
    c.isolate(0);
    // Acknowledged by the primary alone.
    assert_eq!(ok_value(c.write(0, "x", 2)), json!(2));
    let new_primary = c.leader(&[1, 2]);
    // Split brain: both believe they are primary.
    assert_eq!(c.status(0)["role"], "primary");
    assert_eq!(c.status(new_primary)["role"], "primary");
    assert_eq!(
        ok_value(c.read(new_primary, "x")),
        json!(1),
        "x=2 never arrived"
    );
    // The old primary crashes, comes back, and follows the new one.
    c.kill(0);
    c.heal();
    c.restart(0);
    Cluster::eventually(10, "old primary to follow", || {
        (c.status(0)["role"] == "backup").then_some(())
    });
    Cluster::eventually(10, "old primary to be overwritten", || {
        (c.read(0, "x").ok()?.1["value"] == json!(1)).then_some(())
    });
}

/// quorum: with a node's clock behind, a later acknowledged write loses to
/// an earlier one (last writer wins by timestamp).
#[test]
fn quorum_loses_updates_under_clock_skew() {
    let c = Cluster::start("quorum", 3, &["--debug-endpoints"]);
    http(
        &c.addr(0),
        "POST",
        "/debug/clock",
        Some(json!({"offset_ms": -60_000})),
    )
    .unwrap();
    assert_eq!(ok_value(c.write(1, "x", 1)), json!(1));
    assert_eq!(
        ok_value(c.write(0, "x", 2)),
        json!(2),
        "acknowledged by W replicas"
    );
    for i in 0..3 {
        assert_eq!(
            ok_value(c.read(i, "x")),
            json!(1),
            "x=2 lost at {}",
            c.ids[i]
        );
    }
    // Compare-and-set is read-then-write: it "succeeds" and still loses.
    assert_eq!(ok_value(c.cas(0, "x", 1, 3)), json!(3));
    assert_eq!(ok_value(c.read(2, "x")), json!(1));
}

/// gossip: reads are stale until anti-entropy runs, and a write stamped by
/// a clock that is behind is acknowledged and lost.
#[test]
fn gossip_is_stale_and_loses_writes_under_clock_skew() {
    let c = Cluster::start("gossip", 3, &["--debug-endpoints", "--gossip-ms", "1500"]);
    assert_eq!(ok_value(c.write(1, "x", 1)), json!(1));
    assert_eq!(
        ok_value(c.read(2, "x")),
        Value::Null,
        "stale read right after the write"
    );
    for i in 0..3 {
        Cluster::eventually(10, "convergence", || {
            (c.read(i, "x").ok()?.1["value"] == json!(1)).then_some(())
        });
    }
    http(
        &c.addr(0),
        "POST",
        "/debug/clock",
        Some(json!({"offset_ms": -60_000})),
    )
    .unwrap();
    assert_eq!(ok_value(c.write(0, "x", 2)), json!(2));
    assert_eq!(ok_value(c.read(0, "x")), json!(1), "x=2 lost");
}

/// raft-local: a partitioned follower keeps answering reads from its own,
/// stale state.
#[test]
fn raft_local_serves_stale_reads_from_a_partitioned_follower() {
    let c = Cluster::start_with_proxies("raft-local", 3, RAFT_FAST);
    let leader = c.leader(&[0, 1, 2]);
    ok_value(c.write(leader, "x", 1));
    let f = (leader + 1) % 3;
    Cluster::eventually(5, "follower to apply x=1", || {
        (c.read(f, "x").ok()?.1["value"] == json!(1)).then_some(())
    });
    c.isolate(f);
    assert_eq!(ok_value(c.write(leader, "x", 2)), json!(2));
    assert_eq!(ok_value(c.read(f, "x")), json!(1), "stale read");
    c.heal();
    Cluster::eventually(10, "follower to catch up", || {
        (c.read(f, "x").ok()?.1["value"] == json!(2)).then_some(())
    });
}

/// raft-lease: a leader whose wall clock is set back keeps a lease it has
/// lost and serves stale reads while cut off from the new majority.
#[test]
fn raft_lease_serves_stale_reads_when_the_leader_clock_moves() {
    let c = Cluster::start_with_proxies(
        "raft-lease",
        3,
        &[
            "--election-timeout-ms",
            "300",
            "--heartbeat-ms",
            "50",
            "--lease-ms",
            "150",
            "--fsync",
            "never",
            "--debug-endpoints",
        ],
    );
    let leader = c.leader(&[0, 1, 2]);
    ok_value(c.write(leader, "x", 1));
    assert_eq!(ok_value(c.read(leader, "x")), json!(1));
    http(
        &c.addr(leader),
        "POST",
        "/debug/clock",
        Some(json!({"offset_ms": -60_000})),
    )
    .unwrap();
    c.isolate(leader);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = Cluster::eventually(10, "a new leader", || {
        let l = c.status(others[0])["leader"].as_str()?.to_string();
        let i = c.ids.iter().position(|id| *id == l)?;
        (i != leader).then_some(i)
    });
    assert_eq!(ok_value(c.write(new_leader, "x", 2)), json!(2));
    let (status, v) = http(&c.addr(leader), "GET", "/kv/x", None).unwrap();
    assert_eq!(
        (status, v["value"].clone()),
        (200, json!(1)),
        "stale read from the old leader"
    );
    c.heal();
}

#[test]
fn a_bad_kv_flag_exits_2_naming_the_flag() {
    let out = std::process::Command::new(common::BIN)
        .args(["--id", "n1", "--listen", "127.0.0.1:1", "--peers", ""])
        .args(["--data-dir", "/tmp/x", "--level", "raft-lease"])
        .args(["--lease-ms", "1000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("faultline-kv: --lease-ms: must be below --election-timeout-ms"),
        "{err}"
    );
}
