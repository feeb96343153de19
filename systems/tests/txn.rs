//! Integration tests: real `faultline-txn` clusters (3 nodes, 3 shards) on
//! loopback.
//!
//! serializable: concurrent conflicting transactions across shards commit
//! exactly once or not at all, every committed read is a prefix of the
//! final list, and two-shard appends are seen atomically; no write skew.
//! A transaction reads its own writes. SIGKILL of a node mid-workload
//! loses no acknowledged append. snapshot: write skew happens, and a
//! write-write conflict between concurrent transactions aborts one.
//! none: the API works and applies per shard.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{http, Cluster};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_faultline-txn");
const FAST: &[&str] = &[
    "--election-timeout-ms",
    "800",
    "--heartbeat-ms",
    "100",
    "--fsync",
    "never",
    "--request-timeout-ms",
    "2000",
];

/// The outcome of one transaction as a client sees it.
#[derive(Debug, Clone, PartialEq)]
enum Res {
    Ok(Vec<Value>),
    /// Certainly did not commit.
    Fail(String),
    /// May have committed.
    Info(String),
}

fn txn(c: &Cluster, node: usize, ops: Value) -> Res {
    match http(&c.addr(node), "POST", "/txn", Some(json!({ "ops": ops }))) {
        Ok((200, v)) => Res::Ok(v["ops"].as_array().unwrap().clone()),
        Ok((s, v)) if v["definite"] == true => Res::Fail(format!("{s} {v}")),
        Ok((s, v)) => Res::Info(format!("{s} {v}")),
        Err(e) => Res::Info(e),
    }
}

fn txn_addr(addr: &str, ops: Value) -> Res {
    match http(addr, "POST", "/txn", Some(json!({ "ops": ops }))) {
        Ok((200, v)) => Res::Ok(v["ops"].as_array().unwrap().clone()),
        Ok((s, v)) if v["definite"] == true => Res::Fail(format!("{s} {v}")),
        Ok((s, v)) => Res::Info(format!("{s} {v}")),
        Err(e) => Res::Info(e),
    }
}

/// Values read by the micro-op at `i` (a list; null reads as empty).
fn list(ops: &[Value], i: usize) -> Vec<u64> {
    ops[i][2]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_u64().unwrap()).collect())
        .unwrap_or_default()
}

/// Retries a read-only transaction until it succeeds (the cluster is
/// electing leaders at first).
fn read_keys(c: &Cluster, node: usize, keys: &[u64]) -> Vec<Vec<u64>> {
    let ops: Vec<Value> = keys.iter().map(|k| json!(["r", k, null])).collect();
    Cluster::eventually(15, "a read-only transaction", || {
        match txn(c, node, json!(ops)) {
            Res::Ok(r) => Some((0..keys.len()).map(|i| list(&r, i)).collect()),
            _ => None,
        }
    })
}

fn start(level: &str) -> Cluster {
    let c = Cluster::start_bin(BIN, level, 3, FAST);
    // Every shard has a leader once a transaction touching all of them
    // (keys 0, 1, 2 on shards 0, 1, 2) goes through.
    read_keys(&c, 0, &[0, 1, 2]);
    c
}

/// Checks a key's final list: committed appends exactly once, definitely
/// failed ones never, unknown ones at most once, nothing else.
fn check_list(
    key: u64,
    fin: &[u64],
    ok: &BTreeSet<u64>,
    fail: &BTreeSet<u64>,
    info: &BTreeSet<u64>,
) {
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for v in fin {
        *count.entry(*v).or_default() += 1;
    }
    for v in ok {
        assert_eq!(
            count.get(v),
            Some(&1),
            "key {key}: committed {v} not seen exactly once in {fin:?}"
        );
    }
    for (v, n) in &count {
        assert_eq!(*n, 1, "key {key}: {v} appended {n} times");
        assert!(
            !fail.contains(v),
            "key {key}: {v} failed definitely but is in {fin:?}"
        );
        assert!(
            ok.contains(v) || info.contains(v),
            "key {key}: {v} was never appended"
        );
    }
}

#[test]
fn serializable_conflicting_transactions_are_atomic_and_exactly_once() {
    let c = Arc::new(start("serializable"));
    let next = Arc::new(AtomicU64::new(1));
    // key → (ok, fail, info) appended values.
    type Outcomes = BTreeMap<u64, (BTreeSet<u64>, BTreeSet<u64>, BTreeSet<u64>)>;
    let outcomes: Arc<Mutex<Outcomes>> = Arc::default();
    // Lists read by committed transactions, per key.
    type Reads = Vec<(u64, Vec<u64>)>;
    let reads: Arc<Mutex<Reads>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // Keys 1 and 2 live on shards 1 and 2; 3 and 4 on shards 0 and 1.
    for t in 0..8usize {
        let (c, next, outcomes, reads) = (c.clone(), next.clone(), outcomes.clone(), reads.clone());
        threads.push(std::thread::spawn(move || {
            for _ in 0..12 {
                let v = next.fetch_add(1, Ordering::SeqCst);
                let (rk, wk) = if t % 2 == 0 { (1, 2) } else { (2, 1) };
                let r = txn(
                    &c,
                    t % 3,
                    json!([["r", rk, null], ["append", wk, v], ["r", wk, null]]),
                );
                let mut o = outcomes.lock().unwrap();
                let e = o.entry(wk).or_default();
                match r {
                    Res::Ok(ops) => {
                        e.0.insert(v);
                        let own = list(&ops, 2);
                        assert_eq!(own.last(), Some(&v), "reads its own append: {ops:?}");
                        reads.lock().unwrap().push((rk, list(&ops, 0)));
                        reads.lock().unwrap().push((wk, own));
                    }
                    Res::Fail(_) => {
                        e.1.insert(v);
                    }
                    Res::Info(_) => {
                        e.2.insert(v);
                    }
                }
            }
        }));
    }
    // Two-shard appends (keys 3, 4) and read-only checkers of both.
    for t in 0..2usize {
        let (c, next, outcomes) = (c.clone(), next.clone(), outcomes.clone());
        threads.push(std::thread::spawn(move || {
            for _ in 0..15 {
                let v = next.fetch_add(1, Ordering::SeqCst);
                let r = txn(&c, t, json!([["append", 3, v], ["append", 4, v]]));
                let mut o = outcomes.lock().unwrap();
                for k in [3, 4] {
                    let e = o.entry(k).or_default();
                    match &r {
                        Res::Ok(_) => e.0.insert(v),
                        Res::Fail(_) => e.1.insert(v),
                        Res::Info(_) => e.2.insert(v),
                    };
                }
            }
        }));
    }
    let atomic_reads = Arc::new(AtomicU64::new(0));
    let mut checkers = Vec::new();
    for t in 0..2usize {
        let (c, stop, n) = (c.clone(), stop.clone(), atomic_reads.clone());
        checkers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Res::Ok(r) = txn(&c, 2 - t, json!([["r", 3, null], ["r", 4, null]])) {
                    assert_eq!(
                        list(&r, 0),
                        list(&r, 1),
                        "fractured read of a two-shard txn"
                    );
                    n.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for t in checkers {
        t.join().unwrap();
    }
    let fin = read_keys(&c, 1, &[1, 2, 3, 4]);
    let o = outcomes.lock().unwrap();
    for (i, k) in [1u64, 2, 3, 4].iter().enumerate() {
        let (ok, fail, info) = &o[k];
        check_list(*k, &fin[i], ok, fail, info);
    }
    // Every committed read is a prefix of the final list (list order is
    // the commit order).
    for (k, r) in reads.lock().unwrap().iter() {
        let f = &fin[(*k - 1) as usize];
        assert!(
            f.starts_with(r),
            "key {k}: committed read {r:?} is not a prefix of {f:?}"
        );
    }
    let committed: usize = [1, 2].iter().map(|k| o[k].0.len()).sum();
    let aborted: usize = [1, 2].iter().map(|k| o[k].1.len()).sum();
    eprintln!(
        "serializable: {committed} committed, {aborted} aborted on keys 1-2, {} two-shard commits, {} atomic reads",
        o[&3].0.len(),
        atomic_reads.load(Ordering::SeqCst)
    );
    assert!(
        committed > 0 && aborted > 0,
        "expected both commits and conflict aborts"
    );
    assert!(!o[&3].0.is_empty() && atomic_reads.load(Ordering::SeqCst) > 0);
    assert_eq!(
        fin[2], fin[3],
        "two-shard appends in the same order on both keys"
    );
}

/// Runs `attempts` pairs of concurrent transactions that each read keys
/// `a` and `b` and append to one of them; returns (pairs where both
/// committed without seeing the other's append = write skew, pairs where
/// both committed at all).
fn write_skew_pairs(c: &Cluster, a: u64, b: u64, attempts: usize) -> (usize, usize) {
    let mut skew = 0;
    let mut both = 0;
    let next = AtomicU64::new(1);
    for _ in 0..attempts {
        let barrier = Barrier::new(2);
        let r: Vec<(u64, Res)> = std::thread::scope(|s| {
            let hs: Vec<_> = [(0usize, a), (1, b)]
                .into_iter()
                .map(|(n, k)| {
                    let (barrier, next) = (&barrier, &next);
                    let addr = c.addr(n);
                    s.spawn(move || {
                        let v = next.fetch_add(1, Ordering::SeqCst);
                        barrier.wait();
                        (
                            v,
                            txn_addr(
                                &addr,
                                json!([["r", a, null], ["r", b, null], ["append", k, v]]),
                            ),
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        if let [(va, Res::Ok(ra)), (vb, Res::Ok(rb))] = &r[..] {
            both += 1;
            // a's txn did not see b's append, and b's did not see a's.
            if !list(ra, 1).contains(vb) && !list(rb, 0).contains(va) {
                skew += 1;
            }
        }
    }
    (skew, both)
}

#[test]
fn snapshot_allows_write_skew_and_first_committer_wins() {
    let c = start("snapshot");
    let mut skew = 0;
    let mut tries = 0;
    while skew == 0 && tries < 8 {
        skew += write_skew_pairs(&c, 5, 6, 10).0;
        tries += 1;
    }
    assert!(skew > 0, "no write skew in {} concurrent pairs", tries * 10);

    // Two transactions that both read key 7 before either commits and then
    // append to it: at most one commits; we see at least one such abort.
    let mut conflicts = 0;
    let mut concurrent = 0;
    for round in 0..40u64 {
        let barrier = Barrier::new(2);
        let r: Vec<Res> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2u64)
                .map(|n| {
                    let barrier = &barrier;
                    let addr = c.addr(n as usize);
                    s.spawn(move || {
                        barrier.wait();
                        txn_addr(
                            &addr,
                            json!([["r", 7, null], ["append", 7, 1000 + round * 2 + n]]),
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        if let [Res::Ok(a), Res::Ok(b)] = &r[..] {
            assert_ne!(
                list(a, 0),
                list(b, 0),
                "both committed after reading the same snapshot of key 7"
            );
        }
        if r.iter()
            .any(|x| matches!(x, Res::Fail(e) if e.contains("conflict")))
        {
            conflicts += 1;
            concurrent += 1;
        }
        if conflicts >= 3 {
            break;
        }
    }
    assert!(
        concurrent > 0,
        "no write-write conflict abort in 40 concurrent pairs"
    );
}

#[test]
fn serializable_has_no_write_skew_and_reads_own_writes() {
    let c = start("serializable");
    let (skew, both) = write_skew_pairs(&c, 5, 6, 30);
    assert_eq!(
        skew, 0,
        "write skew under serializable ({both} pairs both committed)"
    );
    // Reads see the transaction's own earlier writes, on every level's path.
    let r = txn(
        &c,
        1,
        json!([
            ["r", 9, null],
            ["append", 9, 1],
            ["r", 9, null],
            ["w", 10, 5],
            ["r", 10, null],
            ["append", 9, 2],
            ["r", 9, null]
        ]),
    );
    let Res::Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r[0][2], Value::Null);
    assert_eq!(
        (r[2][2].clone(), r[4][2].clone(), r[6][2].clone()),
        (json!([1]), json!(5), json!([1, 2]))
    );
    assert_eq!(read_keys(&c, 2, &[9]), vec![vec![1, 2]]);
    // What read-committed and none show within seconds never happens here.
    assert!(
        !fractured_read_seen(&c, 15, 16, 3),
        "fractured read under serializable"
    );
    let fin = read_keys(&c, 0, &[15, 16]);
    assert!(!fin[0].is_empty() && fin[0] == fin[1], "{fin:?}");
}

/// Appends the same value to keys `a` and `b` (different shards) in one
/// transaction, over and over, while reading both in another transaction
/// on another node; true once a read sees the two lists differ (a
/// fractured read: part of a transaction's writes without the rest).
fn fractured_read_seen(c: &Cluster, a: u64, b: u64, secs: u64) -> bool {
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(secs);
    std::thread::scope(|s| {
        let (stop, w_addr) = (&stop, c.addr(0));
        s.spawn(move || {
            let mut v = 1;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                txn_addr(&w_addr, json!([["append", a, v], ["append", b, v]]));
                v += 1;
            }
        });
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            if let Res::Ok(r) = txn(c, 1, json!([["r", a, null], ["r", b, null]])) {
                seen = list(&r, 0) != list(&r, 1);
            }
        }
        stop.store(true, Ordering::SeqCst);
        seen
    })
}

#[test]
fn read_committed_reads_own_writes_commits_atomically_and_reads_skew() {
    let c = start("read-committed");
    let Res::Ok(r) = txn(
        &c,
        0,
        json!([["append", 11, 1], ["r", 11, null], ["append", 12, 1]]),
    ) else {
        panic!()
    };
    assert_eq!(r[1][2], json!([1]));
    assert_eq!(read_keys(&c, 1, &[11, 12]), vec![vec![1], vec![1]]);
    // Each read sees the latest committed state: a reader running between
    // the two reads of another transaction's commit sees half of it.
    assert!(
        fractured_read_seen(&c, 13, 14, 8),
        "no read skew under read-committed in 8 s"
    );
    // Yet the writes are atomic: once writers are done both keys agree.
    let fin = read_keys(&c, 2, &[13, 14]);
    assert_eq!(fin[0], fin[1]);
}

#[test]
fn acknowledged_appends_survive_sigkill_of_a_node() {
    let c = Arc::new(Mutex::new(start("serializable")));
    let addrs: Vec<String> = (0..3).map(|i| c.lock().unwrap().addr(i)).collect();
    let next = Arc::new(AtomicU64::new(1));
    let acked: Arc<Mutex<BTreeMap<u64, BTreeSet<u64>>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut threads = Vec::new();
    for t in 0..4usize {
        let (addrs, next, acked) = (addrs.clone(), next.clone(), acked.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = t;
            while Instant::now() < deadline {
                let v = next.fetch_add(1, Ordering::SeqCst);
                let (k1, k2) = (20 + (t as u64 % 2), 22 + (t as u64 / 2));
                if let Res::Ok(_) =
                    txn_addr(&addrs[i % 3], json!([["append", k1, v], ["append", k2, v]]))
                {
                    let mut a = acked.lock().unwrap();
                    a.entry(k1).or_default().insert(v);
                    a.entry(k2).or_default().insert(v);
                }
                i += 1;
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // Kill the node leading shard 0 (the oracle), then bring it back.
    let victim = {
        let c = c.lock().unwrap();
        c.leader(&[0, 1, 2])
    };
    c.lock().unwrap().kill(victim);
    std::thread::sleep(Duration::from_millis(2000));
    c.lock().unwrap().restart(victim);
    for t in threads {
        t.join().unwrap();
    }
    let c = c.lock().unwrap();
    let fin = read_keys(&c, victim, &[20, 21, 22, 23]);
    let acked = acked.lock().unwrap();
    let total: usize = acked.values().map(BTreeSet::len).sum();
    eprintln!(
        "sigkill: {total} acknowledged appends, victim {}",
        c.ids[victim]
    );
    for (i, k) in [20u64, 21, 22, 23].iter().enumerate() {
        let got: BTreeSet<u64> = fin[i].iter().copied().collect();
        assert_eq!(
            got.len(),
            fin[i].len(),
            "key {k}: duplicate in {:?}",
            fin[i]
        );
        for v in acked.get(k).into_iter().flatten() {
            assert!(
                got.contains(v),
                "key {k}: acknowledged {v} lost: {:?}",
                fin[i]
            );
        }
    }
    assert!(total > 20, "too few acknowledged appends: {total}");
    // Every node SIGKILLed at once and restarted: the same state, and the
    // oracle goes on (a new transaction commits and is seen after the rest).
    drop(acked);
    let mut c = c;
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.restart(i);
    }
    assert_eq!(read_keys(&c, 0, &[20, 21, 22, 23]), fin);
    let r = txn(&c, 2, json!([["append", 20, 0]]));
    assert!(matches!(r, Res::Ok(_)), "{r:?}");
    assert_eq!(read_keys(&c, 1, &[20])[0].last(), Some(&0));
}

#[test]
fn none_applies_each_shard_part_on_its_own() {
    let c = start("none");
    let Res::Ok(r) = txn(
        &c,
        0,
        json!([
            ["append", 30, 1],
            ["append", 31, 1],
            ["r", 30, null],
            ["w", 32, 7],
            ["r", 32, null],
            ["r", 33, null]
        ]),
    ) else {
        panic!()
    };
    assert_eq!(
        (r[2][2].clone(), r[4][2].clone(), r[5][2].clone()),
        (json!([1]), json!(7), Value::Null)
    );
    let Res::Ok(_) = txn(&c, 1, json!([["append", 30, 2], ["append", 31, 2]])) else {
        panic!()
    };
    assert_eq!(read_keys(&c, 2, &[30, 31]), vec![vec![1, 2], vec![1, 2]]);
    // Shards apply their parts one after the other: a reader sees half
    // a transaction.
    assert!(
        fractured_read_seen(&c, 33, 34, 8),
        "no fractured read under none in 8 s"
    );
    // Bad input is a definite 400.
    let (s, v) = http(
        &c.addr(0),
        "POST",
        "/txn",
        Some(json!({"ops": [["x", 1, 2]]})),
    )
    .unwrap();
    assert_eq!((s, v["definite"].clone()), (400, json!(true)));
    let st = c.status(0);
    assert_eq!(st["shards"].as_array().unwrap().len(), 3);
    assert!(st["role"].is_string());
}

/// A coordinator that "dies" (`/debug/txn`) after preparing leaves locks:
/// a reader waits for them, then after the lock TTL (half the request
/// timeout, 1 s here) resolves them through the primary shard. Prepared
/// only: rolled back, the appends never appear. Committed on the primary
/// only: rolled forward on the other shard, both appear. A writer meeting
/// a stale lock resolves it and commits.
#[test]
fn a_dead_coordinators_locks_are_resolved_through_the_primary() {
    let mut flags = FAST.to_vec();
    flags.push("--debug-endpoints");
    let c = Cluster::start_bin(BIN, "serializable", 3, &flags);
    read_keys(&c, 0, &[0, 1, 2]);
    let dead = |ops: Value, crash: &str| {
        let (s, v) = http(
            &c.addr(0),
            "POST",
            "/debug/txn",
            Some(json!({"ops": ops, "crash": crash})),
        )
        .unwrap();
        assert_eq!(s, 200, "{v}");
    };
    // Keys 40, 41 on shards 1, 2 (primary 1); 42, 43 on shards 0, 1.
    dead(
        json!([["append", 40, 1], ["append", 41, 1]]),
        "after-prepare",
    );
    dead(
        json!([["append", 42, 1], ["append", 43, 1]]),
        "after-primary-commit",
    );
    let t0 = Instant::now();
    let fin = read_keys(&c, 1, &[40, 41, 42, 43]);
    let waited = t0.elapsed();
    assert_eq!(fin, vec![vec![], vec![], vec![1], vec![1]]);
    assert!(
        waited >= Duration::from_millis(700),
        "the reader did not wait for the locks ({waited:?})"
    );
    // A writer meeting a stale lock resolves it instead of aborting.
    dead(
        json!([["append", 44, 1], ["append", 45, 1]]),
        "after-prepare",
    );
    std::thread::sleep(Duration::from_millis(1100));
    let r = txn(&c, 2, json!([["append", 44, 2], ["append", 45, 2]]));
    assert!(matches!(r, Res::Ok(_)), "{r:?}");
    assert_eq!(read_keys(&c, 0, &[44, 45]), vec![vec![2], vec![2]]);
    // A coordinator whose wall clock runs a minute ahead dies: its locks
    // look young by the clocks, but a reader resolves them after meeting
    // them for a TTL.
    let clock = |ms: i64| {
        let (s, _) = http(
            &c.addr(0),
            "POST",
            "/debug/clock",
            Some(json!({ "offset_ms": ms })),
        )
        .unwrap();
        assert_eq!(s, 200);
    };
    clock(60_000);
    dead(
        json!([["append", 46, 1], ["append", 47, 1]]),
        "after-prepare",
    );
    clock(0);
    let r = txn(&c, 1, json!([["r", 46, null], ["r", 47, null]]));
    let Res::Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(
        (r[0][2].clone(), r[1][2].clone()),
        (Value::Null, Value::Null)
    );
}

/// none: a transaction whose coordinator loses its link to one shard's
/// leader after applying its part on another shard answers `partial`
/// (indefinite), and the applied half stays: a fractured transaction
/// caused by a real partition. (6 shards so that two have different
/// leaders.)
#[test]
fn none_leaves_a_partial_transaction_when_a_shard_is_cut_off() {
    let (r, fin) = cut_off_a_shard_mid_transaction("none");
    assert!(
        matches!(&r, Res::Info(e) if e.contains("partial")),
        "expected an indefinite partial answer: {r:?}"
    );
    assert_eq!(fin, vec![vec![1], vec![]]);
}

/// The same partition under serializable: the prepare cannot reach the
/// cut-off shard, the transaction aborts definitely and nothing applies.
#[test]
fn serializable_aborts_whole_when_a_shard_is_cut_off() {
    let (r, fin) = cut_off_a_shard_mid_transaction("serializable");
    assert!(
        matches!(&r, Res::Fail(_)),
        "expected a definite failure: {r:?}"
    );
    assert_eq!(fin, vec![Vec::<u64>::new(), vec![]]);
}

/// Runs a two-shard append on a coordinator that leads the first shard
/// and whose links to the second shard's leader are cut; returns the
/// answer and, after healing, both keys as a third node reads them.
fn cut_off_a_shard_mid_transaction(level: &str) -> (Res, Vec<Vec<u64>>) {
    let mut flags = FAST.to_vec();
    flags.extend(["--shards", "6"]);
    let c = Cluster::start_bin_with_proxies(BIN, level, 3, &flags);
    read_keys(&c, 0, &[0, 1, 2, 3, 4, 5]);
    // Every shard's leader, as all nodes agree. Nodes starting together
    // tend to elect the first one for every group: while all shards have
    // one leader, kill it (the other two elect independently per shard)
    // and bring it back.
    let mut c = c;
    let all_leaders = |c: &Cluster| -> Vec<usize> {
        Cluster::eventually(15, "every shard's leader", || {
            let sts: Vec<Value> = (0..3).map(|i| c.status(i)).collect();
            (0..6)
                .map(|s| {
                    let l = sts[0]["shards"][s]["leader"].as_str()?;
                    sts.iter()
                        .all(|st| st["shards"][s]["leader"].as_str() == Some(l))
                        .then(|| c.ids.iter().position(|id| id == l))?
                })
                .collect()
        })
    };
    let mut leaders = all_leaders(&c);
    for _ in 0..5 {
        eprintln!("{level}: shard leaders {leaders:?}");
        if leaders.iter().any(|l| *l != leaders[0]) {
            break;
        }
        let l = leaders[0];
        c.kill(l);
        read_keys(&c, (l + 1) % 3, &[0, 1, 2, 3, 4, 5]);
        c.restart(l);
        leaders = all_leaders(&c);
    }
    let x = 0;
    let y = (0..6).find(|s| leaders[*s] != leaders[x]).unwrap();
    let (co, ly) = (leaders[x], leaders[y]);
    let third = (0..3).find(|i| *i != co && *i != ly).unwrap();
    c.proxies[&(co, ly)].cut();
    c.proxies[&(ly, co)].cut();
    let (kx, ky) = (60 + x as u64, 60 + y as u64);
    let r = txn(&c, co, json!([["append", kx, 1], ["append", ky, 1]]));
    c.heal();
    (r, read_keys(&c, third, &[kx, ky]))
}
