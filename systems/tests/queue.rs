//! Integration tests: real `faultline-queue` processes on loopback.
//!
//! raft: idempotent enqueue, dequeue/ack, redelivery after the visibility
//! timeout, leader kill and whole-cluster SIGKILL restart with nothing
//! lost. at-most-once: the same API, persistence, and its weakness: a
//! message whose dequeue reply is lost is gone for good (while raft
//! redelivers it). primary-async: persistence, and its weakness: on
//! failover an acknowledged enqueue is lost and an acknowledged delivery is
//! delivered again.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use common::{http, Cluster};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_faultline-queue");
const FAST: &[&str] = &[
    "--election-timeout-ms",
    "800",
    "--heartbeat-ms",
    "100",
    "--fsync",
    "never",
    "--visibility-ms",
    "400",
];

fn enqueue(c: &Cluster, i: usize, id: &str, value: i64) -> Value {
    let (s, v) = http(
        &c.addr(i),
        "POST",
        "/queue/q/enqueue",
        Some(json!({"id": id, "value": value})),
    )
    .unwrap();
    assert_eq!(s, 200, "{v}");
    v
}

fn dequeue(c: &Cluster, i: usize) -> Value {
    let (s, v) = http(&c.addr(i), "POST", "/queue/q/dequeue", Some(json!({}))).unwrap();
    assert_eq!(s, 200, "{v}");
    v["message"].clone()
}

fn ack(c: &Cluster, i: usize, id: &str) -> (u16, Value) {
    http(
        &c.addr(i),
        "POST",
        "/queue/q/ack",
        Some(json!({ "id": id })),
    )
    .unwrap()
}

/// Dequeues and acks until empty; returns the ids delivered.
fn drain(c: &Cluster, i: usize) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let m = dequeue(c, i);
        if m.is_null() {
            return out;
        }
        let id = m["id"].as_str().unwrap().to_string();
        assert_eq!(ack(c, i, &id).0, 200);
        out.push(id);
    }
}

/// Sends a dequeue and hangs up without reading the answer: the reply is
/// lost, the operation happened.
fn dequeue_reply_lost(c: &Cluster, i: usize) {
    let mut s = std::net::TcpStream::connect(c.addr(i)).unwrap();
    let body = "{}";
    write!(
        s,
        "POST /queue/q/dequeue HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
}

#[test]
fn raft_delivers_at_least_once_and_survives_sigkill() {
    let mut c = Cluster::start_bin(BIN, "raft", 3, FAST);
    for k in 0..6 {
        assert_eq!(
            enqueue(&c, k % 3, &format!("m{k}"), k as i64)["enqueued"],
            true
        );
    }
    assert_eq!(
        enqueue(&c, 1, "m0", 0)["enqueued"],
        false,
        "idempotent by id"
    );
    let m = dequeue(&c, 0);
    assert_eq!(
        (m["id"].clone(), m["value"].clone(), m["deliveries"].clone()),
        (json!("m0"), json!(0), json!(1))
    );
    assert_eq!(ack(&c, 1, "m0").0, 200);
    // m1 is dequeued but never acknowledged ...
    assert_eq!(dequeue(&c, 2)["id"], "m1");
    assert_eq!(dequeue(&c, 2)["id"], "m2");
    assert_eq!(ack(&c, 2, "m2").0, 200);
    let (s, e) = ack(&c, 0, "nope");
    assert_eq!(
        (s, e["error"].clone(), e["definite"].clone()),
        (404, json!("unknown-message"), json!(true))
    );
    // ... and comes back after the visibility timeout.
    std::thread::sleep(Duration::from_millis(500));
    let m = dequeue(&c, 0);
    assert_eq!(
        (m["id"].clone(), m["deliveries"].clone()),
        (json!("m1"), json!(2))
    );
    assert_eq!(ack(&c, 0, "m1").0, 200);

    let leader = c.leader(&[0, 1, 2]);
    c.kill(leader);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    c.leader(&others);
    assert_eq!(enqueue(&c, others[0], "m6", 6)["enqueued"], true);
    for i in others {
        c.kill(i);
    }
    for i in 0..3 {
        c.restart(i);
    }
    c.leader(&[0, 1, 2]);
    let rest: BTreeSet<String> = drain(&c, 1).into_iter().collect();
    let want: BTreeSet<String> = ["m3", "m4", "m5", "m6"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(rest, want);
    let (s, st) = http(&c.addr(0), "GET", "/queue/q", None).unwrap();
    assert_eq!(
        (s, st["visible"].clone(), st["in_flight"].clone()),
        (200, json!(0), json!(0))
    );
}

#[test]
fn raft_redelivers_a_message_whose_dequeue_reply_was_lost() {
    let c = Cluster::start_bin(BIN, "raft", 1, FAST);
    enqueue(&c, 0, "a", 1);
    dequeue_reply_lost(&c, 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(drain(&c, 0), vec!["a".to_string()]);
}

#[test]
fn at_most_once_persists_and_loses_a_message_whose_dequeue_reply_was_lost() {
    let mut c = Cluster::start_bin(BIN, "at-most-once", 3, FAST);
    enqueue(&c, 0, "a", 1);
    enqueue(&c, 1, "b", 2);
    enqueue(&c, 2, "c", 3);
    assert_eq!(dequeue(&c, 0)["id"], "a");
    for i in 0..3 {
        c.restart(i);
    }
    c.leader(&[0, 1, 2]);
    // The dequeue of b happens, its reply never arrives: b is gone.
    dequeue_reply_lost(&c, 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(drain(&c, 2), vec!["c".to_string()], "b was lost");
}

#[test]
fn primary_async_loses_and_duplicates_acknowledged_messages_on_failover() {
    let mut c = Cluster::start_bin_with_proxies(
        BIN,
        "primary-async",
        3,
        &[
            "--heartbeat-ms",
            "50",
            "--failover-ms",
            "400",
            "--request-timeout-ms",
            "500",
            "--fsync",
            "never",
        ],
    );
    assert_eq!(c.leader(&[0, 1, 2]), 0);
    enqueue(&c, 1, "a", 1); // forwarded to the primary
    enqueue(&c, 0, "b", 2);
    enqueue(&c, 0, "x", 9);
    assert_eq!(dequeue(&c, 2)["id"], "a");
    assert_eq!(ack(&c, 2, "a").0, 200);
    // Persistence: the primary restarts on its data dir.
    c.restart(0);
    assert_eq!(c.leader(&[0, 1, 2]), 0);
    assert_eq!(dequeue(&c, 0)["id"], "b");
    assert_eq!(ack(&c, 0, "b").0, 200);
    std::thread::sleep(Duration::from_millis(300)); // let the backups catch up

    c.isolate(0);
    // The isolated primary still acknowledges: x is delivered and acked,
    // y is enqueued. Neither reaches the backups.
    assert_eq!(dequeue(&c, 0)["id"], "x");
    assert_eq!(ack(&c, 0, "x").0, 200);
    assert_eq!(enqueue(&c, 0, "y", 10)["enqueued"], true);
    let p = c.leader(&[1, 2]);
    assert_ne!(p, 0);
    // The new primary delivers x again (duplicate) and has never seen y.
    assert_eq!(drain(&c, p), vec!["x".to_string()], "x duplicated, y lost");
    // The old primary comes back, follows the new one and is overwritten.
    c.kill(0);
    c.heal();
    c.restart(0);
    Cluster::eventually(10, "old primary to follow", || {
        (c.status(0)["role"] == "backup").then_some(())
    });
    assert!(drain(&c, 0).is_empty(), "y is lost for good");
}
