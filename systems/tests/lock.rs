//! Integration tests: real `faultline-lock` processes on loopback.
//!
//! raft: grants, conflicts, fencing, leader kill and whole-cluster SIGKILL
//! restart with the lock table intact. single: one serving node, others
//! forward, the table persists. Weaknesses: single and redlock grant a lock
//! to a second holder while the first one's lease is still valid when the
//! server's wall clock jumps forward (the fenced resource still rejects the
//! stale holder's write).

mod common;

use common::{http, http_h, Cluster};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_faultline-lock");
const FAST: &[&str] = &[
    "--election-timeout-ms",
    "800",
    "--heartbeat-ms",
    "100",
    "--fsync",
    "never",
    "--debug-endpoints",
];

fn acquire(c: &Cluster, i: usize, lock: &str, ttl_ms: u64) -> (u16, Value) {
    http(
        &c.addr(i),
        "POST",
        &format!("/lock/{lock}/acquire"),
        Some(json!({ "ttl_ms": ttl_ms })),
    )
    .unwrap()
}

fn release(c: &Cluster, i: usize, lock: &str, token: u64) -> (u16, Value) {
    http(
        &c.addr(i),
        "POST",
        &format!("/lock/{lock}/release"),
        Some(json!({ "token": token })),
    )
    .unwrap()
}

fn write(c: &Cluster, i: usize, res: &str, value: i64, token: u64) -> (u16, Value) {
    http(
        &c.addr(i),
        "PUT",
        &format!("/resource/{res}"),
        Some(json!({ "value": value, "token": token })),
    )
    .unwrap()
}

fn read(c: &Cluster, i: usize, res: &str) -> Value {
    let (s, v) = http(&c.addr(i), "GET", &format!("/resource/{res}"), None).unwrap();
    assert_eq!(s, 200, "{v}");
    v
}

fn token(r: (u16, Value)) -> u64 {
    assert_eq!(r.0, 200, "expected a grant: {}", r.1);
    r.1["token"].as_u64().unwrap()
}

fn jump_clock(c: &Cluster, i: usize, offset_ms: i64) {
    let (s, _) = http(
        &c.addr(i),
        "POST",
        "/debug/clock",
        Some(json!({ "offset_ms": offset_ms })),
    )
    .unwrap();
    assert_eq!(s, 200);
}

#[test]
fn bad_level_exits_nonzero_naming_the_flag() {
    let out = std::process::Command::new(BIN)
        .args(["--id", "n1", "--listen", "127.0.0.1:1", "--peers", ""])
        .args(["--data-dir", "/tmp/x", "--level", "zookeeper"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--level"));
}

#[test]
fn raft_grants_fences_and_keeps_its_table_across_sigkill() {
    let mut c = Cluster::start_bin(BIN, "raft", 3, FAST);
    let t1 = token(acquire(&c, 1, "l", 60_000));
    let (s, e) = acquire(&c, 2, "l", 1000);
    assert_eq!(
        (s, e["error"].clone(), e["definite"].clone()),
        (409, json!("locked"), json!(true))
    );
    assert_eq!(e["current"], json!(t1));
    assert_eq!(write(&c, 0, "r", 1, t1).0, 200);
    assert_eq!(release(&c, 0, "l", t1).0, 200);
    assert_eq!(release(&c, 0, "l", t1).1["error"], "not-holder");
    let t2 = token(acquire(&c, 2, "l", 60_000));
    assert!(t2 > t1, "tokens increase: {t1} then {t2}");
    assert_eq!(write(&c, 1, "r", 3, t2).0, 200);
    let (s, e) = write(&c, 1, "r", 2, t1);
    assert_eq!(
        (s, e["error"].clone(), e["definite"].clone()),
        (409, json!("fenced"), json!(true))
    );
    assert_eq!(e["current"], json!(t2));
    assert_eq!(read(&c, 2, "r")["value"], 3);
    let st = c.status(0);
    assert_eq!(st["level"], "raft");

    // The leader dies: a new one serves the same table.
    let leader = c.leader(&[0, 1, 2]);
    c.kill(leader);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    c.leader(&others);
    assert_eq!(acquire(&c, others[0], "l", 1000).1["current"], json!(t2));
    // Every node SIGKILLed and restarted on its data dir.
    for i in others.clone() {
        c.kill(i);
    }
    for i in 0..3 {
        c.restart(i);
    }
    c.leader(&[0, 1, 2]);
    assert_eq!(read(&c, 0, "r")["value"], 3);
    assert_eq!(acquire(&c, 1, "l", 1000).1["current"], json!(t2));
    assert_eq!(release(&c, 2, "l", t2).0, 200);
    let t3 = token(acquire(&c, 0, "l", 1000));
    assert!(t3 > t2);
}

#[test]
fn single_serves_on_the_lowest_id_and_persists() {
    let mut c = Cluster::start_bin(BIN, "single", 2, FAST);
    assert_eq!(c.status(1)["leader"], "n1");
    assert_eq!(c.status(0)["role"], "primary");
    // n2 forwards to n1; with no-forward it answers a hint.
    let t1 = token(acquire(&c, 1, "l", 60_000));
    let (s, e) = http_h(
        &c.addr(1),
        "POST",
        "/lock/l/acquire",
        Some(json!({"ttl_ms": 10})),
        &[("X-Faultline-No-Forward", "1")],
    )
    .unwrap();
    assert_eq!((s, e["leader"].clone()), (421, json!("n1")));
    assert_eq!(write(&c, 0, "r", 7, t1).0, 200);
    c.restart(0);
    assert_eq!(acquire(&c, 0, "l", 1000).1["current"], json!(t1));
    assert_eq!(read(&c, 1, "r")["value"], 7);
    assert_eq!(release(&c, 0, "l", t1).0, 200);
    assert!(token(acquire(&c, 0, "l", 1000)) > t1);
}

#[test]
fn single_gives_two_holders_when_its_clock_jumps() {
    let c = Cluster::start_bin(BIN, "single", 1, FAST);
    // Client A holds a 30 s lease.
    let ta = token(acquire(&c, 0, "l", 30_000));
    assert_eq!(acquire(&c, 0, "l", 30_000).0, 409);
    // The server's wall clock jumps 60 s ahead: A's lease is gone for the
    // server while A (measuring 30 s on its own clock) still holds it.
    jump_clock(&c, 0, 60_000);
    let tb = token(acquire(&c, 0, "l", 30_000));
    assert!(tb > ta);
    // Two holders at once; fencing still protects the resource.
    assert_eq!(write(&c, 0, "r", 2, tb).0, 200);
    assert_eq!(write(&c, 0, "r", 1, ta).1["error"], "fenced");
}

#[test]
fn redlock_needs_a_majority_and_breaks_when_clocks_jump() {
    let c = Cluster::start_bin(BIN, "redlock", 3, FAST);
    assert_eq!(c.status(0)["role"], "independent");
    // Client A acquires on every node: 3 of 3.
    let granted_a = (0..3)
        .filter(|i| acquire(&c, *i, "l", 30_000).0 == 200)
        .count();
    assert_eq!(granted_a, 3);
    // Client B gets none.
    assert_eq!(
        (0..3)
            .filter(|i| acquire(&c, *i, "l", 30_000).0 == 200)
            .count(),
        0
    );
    // Two nodes' clocks jump ahead: B now wins a majority while A's
    // validity (30 s minus a few ms) has not run out.
    jump_clock(&c, 1, 60_000);
    jump_clock(&c, 2, 60_000);
    let granted_b = (0..3)
        .filter(|i| acquire(&c, *i, "l", 30_000).0 == 200)
        .count();
    assert_eq!(granted_b, 2, "B holds a majority too: two holders");
}
