//! Lock checks: literal histories that must pass and must fail for mutual
//! exclusion, fencing (token order and register linearizability) and mutex
//! linearizability.

use checker::lock::{self, LockOptions};
use checker::{Event, EventType, History, Operation, Verdict};
use serde_json::{json, Value};

/// (time ms, process, type, f, value); `{"key": k, "v": x}` sets the key.
type Ev = (i64, u64, &'static str, &'static str, Value);

fn ops(evs: &[Ev]) -> Vec<Operation> {
    let events = evs
        .iter()
        .enumerate()
        .map(|(i, (t, p, ty, f, v))| {
            let mut e = Event::new(*p, EventType::parse(ty).unwrap(), f, v.clone());
            if let (Some(k), Some(x)) = (v.get("key"), v.get("v")) {
                e.key = Some(k.clone());
                e.value = x.clone();
            }
            e.index = i as u64;
            e.time = Some(t * 1_000_000);
            e.line = i + 1;
            e
        })
        .collect();
    History {
        source: "test".into(),
        events,
        warnings: vec![],
        ..Default::default()
    }
    .operations()
    .unwrap()
}

fn opts() -> LockOptions {
    LockOptions::default()
}

/// acquire(ttl) at [t0, t1] with token, release invoked at t2, done t3.
fn hold(p: u64, t0: i64, t1: i64, t2: i64, ttl: Value, token: i64) -> Vec<Ev> {
    vec![
        (t0, p, "invoke", "acquire", json!({"ttl_ms": ttl})),
        (t1, p, "ok", "acquire", json!({"token": token})),
        (t2, p, "invoke", "release", json!({"token": token})),
        (t2 + 1, p, "ok", "release", json!({"token": token})),
    ]
}

fn write(p: u64, t0: i64, t1: i64, v: i64, token: i64, outcome: &'static str) -> Vec<Ev> {
    vec![
        (
            t0,
            p,
            "invoke",
            "write",
            json!({"value": v, "token": token}),
        ),
        (t1, p, outcome, "write", json!({"value": v, "token": token})),
    ]
}

fn sorted(mut evs: Vec<Ev>) -> Vec<Ev> {
    evs.sort_by_key(|e| e.0);
    evs
}

#[test]
fn sequential_holds_with_fenced_writes_pass_everything() {
    let mut evs = hold(0, 0, 10, 50, json!(1000), 1);
    evs.extend(write(0, 20, 30, 5, 1, "ok"));
    evs.extend(hold(1, 60, 70, 120, json!(1000), 2));
    evs.extend(write(1, 80, 90, 6, 2, "ok"));
    evs.extend(vec![
        (130, 2, "invoke", "read", Value::Null),
        (131, 2, "ok", "read", json!(6)),
    ]);
    let r = lock::check(&ops(&sorted(evs)), &opts());
    assert_eq!(r.verdict, Verdict::Valid, "{r:#?}");
    assert_eq!(r.mutual_exclusion.holds, 2);
    assert_eq!(r.fencing.accepted_writes, 2);
    assert_eq!(r.mutex.checked_locks, 1);
    assert_eq!(r.mutex.verdict, Verdict::Valid);
    serde_json::to_string(&r).unwrap();
}

#[test]
fn overlapping_holds_violate_mutual_exclusion() {
    // p1 acquires while p0 still holds (no lease).
    let mut evs = hold(0, 0, 10, 100, Value::Null, 1);
    evs.extend(hold(1, 20, 30, 60, Value::Null, 2));
    let r = lock::check(&ops(&sorted(evs)), &opts());
    assert_eq!(r.mutual_exclusion.verdict, Verdict::Invalid);
    assert_eq!(r.mutual_exclusion.violations, 1);
    let w = r.mutual_exclusion.witness.unwrap();
    assert_eq!(w.first.acquire.invoke_index, 0);
    assert_eq!(w.second.start, 30_000_000);
    assert_eq!(w.first.ended_by, "release");
    // The mutex model sees it too (no lease could expire).
    assert_eq!(r.mutex.verdict, Verdict::Invalid);
    assert_eq!(r.verdict, Verdict::Invalid);
}

#[test]
fn an_expired_lease_ends_the_hold() {
    // p0's 50 ms lease (from its invoke at 0) ends at 50; p1 holds from 70.
    let mut evs = hold(0, 0, 10, 200, json!(50), 1);
    evs.extend(hold(1, 60, 70, 100, json!(1000), 2));
    let r = lock::check(&ops(&sorted(evs.clone())), &opts());
    assert_eq!(r.mutual_exclusion.verdict, Verdict::Valid, "{r:#?}");
    // Mutex linearizability is not applicable: a lease ran out.
    assert_eq!(r.mutex.skipped_locks.len(), 1);
    assert_eq!(r.mutex.checked_locks, 0);
    assert_eq!(r.mutex.verdict, Verdict::Valid);
    // With a longer lease the two overlap.
    evs[0].4 = json!({"ttl_ms": 100});
    let r = lock::check(&ops(&sorted(evs)), &opts());
    assert_eq!(r.mutual_exclusion.verdict, Verdict::Invalid);
    assert_eq!(r.mutual_exclusion.witness.unwrap().first.ended_by, "lease");
}

#[test]
fn client_measured_validity_is_used_when_given() {
    let mut evs = hold(0, 0, 10, 500, json!(1000), 1);
    evs[1].4 = json!({"token": 1, "valid_ms": 20}); // valid until 30
    evs.extend(hold(1, 40, 45, 60, json!(1000), 2));
    let r = lock::check_mutual_exclusion(&ops(&sorted(evs.clone())));
    assert_eq!(r.verdict, Verdict::Valid, "{r:#?}");
    evs[1].4 = json!({"token": 1, "valid_ms": 40}); // valid until 50
    let r = lock::check_mutual_exclusion(&ops(&sorted(evs)));
    assert_eq!(r.verdict, Verdict::Invalid);
}

#[test]
fn missing_times_make_mutual_exclusion_unknown() {
    let mut h = History {
        source: "t".into(),
        events: vec![
            Event::new(0, EventType::Invoke, "acquire", json!({"ttl_ms": 1})),
            Event::new(0, EventType::Ok, "acquire", json!({"token": 1})),
        ],
        warnings: vec![],
        init: None,
    };
    h.events[1].index = 1;
    let r = lock::check_mutual_exclusion(&h.operations().unwrap());
    assert_eq!(r.verdict, Verdict::Unknown);
}

#[test]
fn accepted_writes_with_decreasing_tokens_break_fencing() {
    let mut evs = write(0, 0, 10, 1, 5, "ok");
    evs.extend(write(1, 20, 30, 2, 3, "ok")); // token 3 after token 5
    evs.extend(write(2, 40, 50, 3, 4, "fail")); // rejected: fine
    let r = lock::check_fencing(&ops(&sorted(evs)), &opts());
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.order_violations, 1);
    assert_eq!(r.rejected_writes, 1);
    let [a, b] = r.witness.unwrap();
    assert_eq!((a.invoke_index, b.invoke_index), (0, 2));
}

#[test]
fn concurrent_writes_may_take_effect_in_either_order() {
    // Overlapping in time: no real-time order between them.
    let evs = vec![
        (0, 0, "invoke", "write", json!({"value": 1, "token": 5})),
        (5, 1, "invoke", "write", json!({"value": 2, "token": 3})),
        (10, 0, "ok", "write", json!({"value": 1, "token": 5})),
        (12, 1, "ok", "write", json!({"value": 2, "token": 3})),
    ];
    let r = lock::check_fencing(&ops(&evs), &opts());
    assert_eq!(r.order_violations, 0);
    assert_eq!(r.verdict, Verdict::Valid, "{r:#?}");
}

#[test]
fn a_stale_resource_read_breaks_fencing_linearizability() {
    let mut evs = write(0, 0, 10, 1, 1, "ok");
    evs.extend(write(1, 20, 30, 2, 2, "ok"));
    evs.extend(vec![
        (40, 2, "invoke", "read", Value::Null),
        (41, 2, "ok", "read", json!(1)),
    ]);
    let r = lock::check_fencing(&ops(&sorted(evs)), &opts());
    assert_eq!(r.order_violations, 0);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.linearizability.unwrap().counterexample.is_some());
}

#[test]
fn locks_and_resources_are_checked_per_key() {
    let evs = vec![
        (0, 0, "invoke", "acquire", json!({"key": "a", "v": null})),
        (
            1,
            0,
            "ok",
            "acquire",
            json!({"key": "a", "v": {"token": 1}}),
        ),
        (2, 1, "invoke", "acquire", json!({"key": "b", "v": null})),
        (
            3,
            1,
            "ok",
            "acquire",
            json!({"key": "b", "v": {"token": 2}}),
        ),
        (
            4,
            0,
            "invoke",
            "release",
            json!({"key": "a", "v": {"token": 1}}),
        ),
        (
            5,
            0,
            "ok",
            "release",
            json!({"key": "a", "v": {"token": 1}}),
        ),
        (6, 2, "invoke", "acquire", json!({"key": "a", "v": null})),
        (7, 2, "fail", "acquire", json!({"key": "a", "v": null})),
    ];
    let r = lock::check(&ops(&evs), &opts());
    assert_eq!(r.verdict, Verdict::Valid, "{r:#?}");
    assert_eq!(r.mutex.checked_locks, 2);
}

// Prefix mode (the online check): the closed prefix of a history still
// being written; ops open at the cut have no completion.

fn prefix_opts() -> LockOptions {
    LockOptions {
        prefix: true,
        ..LockOptions::default()
    }
}

#[test]
fn prefix_mode_leaves_a_lock_held_at_the_cut_alone() {
    // 0 holds the lock (no lease) at the cut; 1's acquire is still open.
    let evs = vec![
        (0, 0, "invoke", "acquire", json!({"ttl_ms": null})),
        (10, 0, "ok", "acquire", json!({"token": 1})),
        (20, 0, "invoke", "write", json!({"value": 5, "token": 1})),
        (30, 0, "ok", "write", json!({"value": 5, "token": 1})),
        (40, 1, "invoke", "acquire", json!({"ttl_ms": null})),
    ];
    let r = lock::check(&ops(&evs), &prefix_opts());
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(r.mutual_exclusion.holds, 1);
    // Off in prefix mode: no lock is checked for mutex linearizability.
    assert_eq!(r.mutex.checked_locks, 0);
    assert!(r.mutex.reason.as_deref().unwrap_or("").contains("prefix"));
    assert_eq!(lock::check(&ops(&evs), &opts()).mutex.checked_locks, 1);
}

#[test]
fn prefix_mode_flags_an_overlap_with_a_hold_open_at_the_cut_and_the_whole_agrees() {
    // 0 holds the lock (no lease, no release yet); 1 is granted it too.
    let prefix = vec![
        (0, 0, "invoke", "acquire", json!({"ttl_ms": null})),
        (10, 0, "ok", "acquire", json!({"token": 1})),
        (20, 1, "invoke", "acquire", json!({"ttl_ms": null})),
        (30, 1, "ok", "acquire", json!({"token": 2})),
    ];
    let r = lock::check(&ops(&prefix), &prefix_opts());
    assert_eq!(r.mutual_exclusion.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.verdict, Verdict::Invalid);
    // 0 releases after the cut: the whole history is invalid too.
    let mut whole = prefix.clone();
    whole.extend(vec![
        (60, 0, "invoke", "release", json!({"token": 1})),
        (61, 0, "ok", "release", json!({"token": 1})),
        (70, 1, "invoke", "release", json!({"token": 2})),
        (71, 1, "ok", "release", json!({"token": 2})),
    ]);
    assert_eq!(
        lock::check(&ops(&whole), &opts()).mutual_exclusion.verdict,
        Verdict::Invalid
    );
    // A lease that ran out before the second grant is no overlap, in the
    // prefix as in the whole.
    let leased = vec![
        (0, 0, "invoke", "acquire", json!({"ttl_ms": 5})),
        (1, 0, "ok", "acquire", json!({"token": 1})),
        (20, 1, "invoke", "acquire", json!({"ttl_ms": null})),
        (30, 1, "ok", "acquire", json!({"token": 2})),
    ];
    assert_eq!(
        lock::check(&ops(&leased), &prefix_opts()).verdict,
        Verdict::Valid
    );
}

#[test]
fn prefix_mode_flags_a_fencing_violation_among_completed_writes() {
    let mut evs = write(0, 0, 10, 5, 2, "ok");
    evs.extend(write(1, 20, 30, 6, 1, "ok"));
    // A write still open at the cut changes nothing.
    evs.push((40, 2, "invoke", "write", json!({"value": 7, "token": 3})));
    let r = lock::check(&ops(&evs), &prefix_opts());
    assert_eq!(r.fencing.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.fencing.order_violations, 1);
    let ok = {
        let mut e = write(0, 0, 10, 5, 1, "ok");
        e.extend(write(1, 20, 30, 6, 2, "ok"));
        e.push((40, 2, "invoke", "write", json!({"value": 7, "token": 3})));
        e
    };
    assert_eq!(
        lock::check(&ops(&ok), &prefix_opts()).verdict,
        Verdict::Valid
    );
}
