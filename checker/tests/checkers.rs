//! The registry's checkers through the `Checker` trait: literal histories
//! that must pass and must fail, the anomalies they name, bad input and
//! budgets.

use checker::checker::{Budget, Checker, Compose};
use checker::checkers::{by_name, compose, Options};
use checker::formats::{self, Format};
use checker::{History, Verdict};
use serde_json::{json, Value};
use std::time::Duration;

fn history(lines: &[Value]) -> History {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    formats::parse(text.as_bytes(), "mem", Some(Format::Jsonl)).unwrap()
}

fn check(name: &str, h: &History) -> checker::CheckResult {
    by_name(name, &Options::default())
        .unwrap()
        .check(h, &Budget::default())
}

/// Event `i` at (`i` + 1) seconds.
fn ev(i: u64, p: u64, ty: &str, f: &str, key: Value, v: Value) -> Value {
    json!({"index": i, "time": (i as i64 + 1) * 1_000_000_000, "process": p, "type": ty,
           "f": f, "key": key, "value": v})
}

/// Two writes, then a read of the first after the second completed.
fn stale_read() -> History {
    history(&[
        ev(0, 0, "invoke", "write", json!(1), json!(1)),
        ev(1, 0, "ok", "write", json!(1), json!(1)),
        ev(2, 0, "invoke", "write", json!(1), json!(2)),
        ev(3, 0, "ok", "write", json!(1), json!(2)),
        ev(4, 1, "invoke", "read", json!(1), Value::Null),
        ev(5, 1, "ok", "read", json!(1), json!(1)),
    ])
}

fn fresh_read() -> History {
    history(&[
        ev(0, 0, "invoke", "write", json!(1), json!(1)),
        ev(1, 0, "ok", "write", json!(1), json!(1)),
        ev(2, 1, "invoke", "read", json!(1), Value::Null),
        ev(3, 1, "ok", "read", json!(1), json!(1)),
    ])
}

#[test]
fn linearizability_rejects_a_stale_read_and_names_its_ops() {
    let r = check("linearizability:cas-register", &stale_read());
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["checker"], "linearizability");
    assert_eq!(r.details["model"], "cas-register");
    assert!(r.details["counterexample"].is_object(), "{}", r.details);
    assert_eq!(r.anomalies.len(), 1);
    let a = &r.anomalies[0];
    assert_eq!(a.part, "");
    assert!(a.ops.contains(&4), "{a:?}");
    assert!(a.what.starts_with("linearizable: read 1"), "{a:?}");
    assert!(a.what.ends_with("on key 1"), "{a:?}");
    let ok = check("linearizability:cas-register", &fresh_read());
    assert_eq!(ok.verdict, Verdict::Valid);
    assert!(ok.anomalies.is_empty());
    // Without a model the op names decide: write/read is a register.
    let guessed = check("linearizability", &fresh_read());
    assert_eq!(guessed.details["model"], "register");
}

#[test]
fn consistency_places_the_history_and_is_informational_unless_asked() {
    let r = check("consistency", &stale_read());
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["consistency"]["linearizable"], "invalid");
    assert!(r.details["measures"]["stale-reads"].as_u64().unwrap() >= 1);
    assert!(r
        .anomalies
        .iter()
        .any(|a| a.part == "linearizable" && a.what.starts_with("linearizable: ")));
    // A run judged by linearizability and the informational hierarchy is
    // as valid as linearizability says.
    let c = compose(
        &["linearizability:cas-register", "consistency"],
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        c.check(&fresh_read(), &Budget::default()).verdict,
        Verdict::Valid
    );
    let each = c.check_each(&stale_read(), &Budget::default());
    assert_eq!(each.len(), 2);
    assert!(each[1].informational);
    // Asked for a weaker model that holds: valid, and it counts.
    let seq = check("consistency:pram", &stale_read());
    assert_eq!(seq.details["require"], "pram");
    assert_eq!(
        seq.verdict,
        checker::results::verdict_of(&seq.details["consistency"]["pram"]).unwrap()
    );
}

/// Sequential queue ops on queue `q`: (f, invoke value, ok value).
fn queue(steps: &[(&str, Value, Value)]) -> History {
    let mut lines = Vec::new();
    for (i, (f, inv, ok)) in steps.iter().enumerate() {
        let i = i as u64;
        lines.push(ev(2 * i, 0, "invoke", f, json!("q"), inv.clone()));
        lines.push(ev(2 * i + 1, 0, "ok", f, json!("q"), ok.clone()));
    }
    history(&lines)
}

#[test]
fn total_queue_rejects_lost_and_duplicated_elements_by_delivery() {
    let good = queue(&[
        ("enqueue", json!(1), json!(1)),
        ("enqueue", json!(2), json!(2)),
        ("dequeue", Value::Null, json!(1)),
        ("dequeue", Value::Null, json!(2)),
    ]);
    let r = check("total-queue", &good);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.details);
    assert_eq!(r.details["checker"], "total-queue");
    assert_eq!(r.details["delivery"], "at-least-once");
    let lost = queue(&[
        ("enqueue", json!(1), json!(1)),
        ("enqueue", json!(2), json!(2)),
        ("dequeue", Value::Null, json!(2)),
    ]);
    let r = check("total-queue", &lost);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 1);
    assert_eq!(r.anomalies[0].part, "lost");
    assert_eq!(r.anomalies[0].ops, vec![0]);
    assert_eq!(r.anomalies[0].what, "lost: element 1 on queue q");
    let dup = queue(&[
        ("enqueue", json!(1), json!(1)),
        ("dequeue", Value::Null, json!(1)),
        ("dequeue", Value::Null, json!(1)),
    ]);
    // Allowed at least once, not at most once.
    let r = check("total-queue:at-least-once", &dup);
    assert_eq!(r.verdict, Verdict::Valid);
    assert!(r.anomalies.is_empty());
    let r = check("total-queue:at-most-once", &dup);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies[0].part, "duplicated");
    assert_eq!(r.anomalies[0].ops, vec![0, 2, 4]);
    assert!(r.anomalies[0].what.ends_with("delivered 2 times"));
    let o = Options {
        delivery: checker::queue::Delivery::ExactlyOnce,
        ..Options::default()
    };
    let r = by_name("total-queue", &o)
        .unwrap()
        .check(&dup, &Budget::default());
    assert_eq!(r.verdict, Verdict::Invalid);
}

#[test]
fn the_fifo_pass_finds_order_violations_but_never_decides() {
    let good = queue(&[
        ("enqueue", json!(1), json!(1)),
        ("enqueue", json!(2), json!(2)),
        ("dequeue", Value::Null, json!(1)),
        ("dequeue", Value::Null, json!(2)),
        ("dequeue", Value::Null, Value::Null),
    ]);
    let r = check("fifo-queue", &good);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.details);
    assert_eq!(r.details["checked_queues"], 1);
    assert_eq!(r.details["informational"], true);
    let bad = queue(&[
        ("enqueue", json!(1), json!(1)),
        ("enqueue", json!(2), json!(2)),
        ("dequeue", Value::Null, json!(2)),
        ("dequeue", Value::Null, json!(1)),
    ]);
    let r = check("fifo-queue", &bad);
    assert_eq!(r.verdict, Verdict::Invalid, "{}", r.details);
    assert!(r.details["counterexample"].is_object());
    assert!(r.details["explanation"].is_string());
    assert!(r.anomalies.is_empty(), "informational: no anomalies");
    // Over the cap: not searched, unknown, named.
    let mut o = Options::default();
    o.fifo.max_ops_per_queue = 3;
    let r = by_name("fifo-queue", &o)
        .unwrap()
        .check(&bad, &Budget::default());
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(r.details["skipped_queues"], json!(["q"]));
    // total-queue finds nothing wrong (every element delivered once), and
    // the composition stays valid.
    let c = compose(&["total-queue", "fifo-queue"], &Options::default()).unwrap();
    let r = c.check(&bad, &Budget::default());
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.details["fifo-queue"]["verdict"], "invalid");
    // Held to FIFO order as a model, the same history is invalid.
    assert_eq!(
        check("linearizability:fifo-queue", &bad).verdict,
        Verdict::Invalid
    );
}

#[test]
fn lock_rejects_overlapping_holds_and_names_the_second_acquire() {
    let l = || json!("l");
    let h = history(&[
        ev(0, 0, "invoke", "acquire", l(), json!({"ttl_ms": null})),
        ev(1, 0, "ok", "acquire", l(), json!({"token": 1})),
        ev(2, 1, "invoke", "acquire", l(), json!({"ttl_ms": null})),
        ev(3, 1, "ok", "acquire", l(), json!({"token": 2})),
        ev(4, 0, "invoke", "release", l(), json!({"token": 1})),
        ev(5, 0, "ok", "release", l(), json!({"token": 1})),
        ev(6, 1, "invoke", "release", l(), json!({"token": 2})),
        ev(7, 1, "ok", "release", l(), json!({"token": 2})),
    ]);
    let r = check("lock", &h);
    assert_eq!(r.verdict, Verdict::Invalid, "{}", r.details);
    assert_eq!(r.details["mutual_exclusion"]["verdict"], "invalid");
    assert!(r.details["summary"]
        .as_str()
        .unwrap()
        .starts_with("invalid: mutual exclusion invalid"));
    let me = r
        .anomalies
        .iter()
        .find(|a| a.part == "mutual_exclusion")
        .unwrap();
    assert_eq!(me.ops, vec![0, 2]);
    assert!(me.what.contains("processes 0 and 1"), "{}", me.what);
    assert!(me.what.ends_with("on lock l"), "{}", me.what);
    // One holder at a time is fine.
    let good = history(&[
        ev(0, 0, "invoke", "acquire", l(), json!({"ttl_ms": null})),
        ev(1, 0, "ok", "acquire", l(), json!({"token": 1})),
        ev(2, 0, "invoke", "release", l(), json!({"token": 1})),
        ev(3, 0, "ok", "release", l(), json!({"token": 1})),
        ev(4, 1, "invoke", "acquire", l(), json!({"ttl_ms": null})),
        ev(5, 1, "ok", "acquire", l(), json!({"token": 2})),
    ]);
    let r = check("lock", &good);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.details);
    assert!(r.anomalies.is_empty());
}

#[test]
fn a_history_that_does_not_pair_is_unknown_with_the_line() {
    let h = history(&[
        json!({"process": 0, "type": "invoke", "f": "write", "value": 1}),
        json!({"process": 1, "type": "ok", "f": "write", "value": 1}),
    ]);
    for name in NAMES_WITH_PARAMS {
        let r = check(name, &h);
        assert_eq!(r.verdict, Verdict::Unknown, "{name}");
        let why = r.reason().unwrap_or_default();
        assert!(why.contains("mem:2"), "{name}: {why}");
    }
}

const NAMES_WITH_PARAMS: [&str; 6] = [
    "linearizability",
    "linearizability:cas-register",
    "consistency",
    "total-queue",
    "fifo-queue",
    "lock",
];

#[test]
fn an_exhausted_time_budget_is_unknown_with_the_reason() {
    // Many concurrent writes and reads: far more steps than a zero budget
    // allows, whatever the search does.
    let mut lines = Vec::new();
    let mut i = 0u64;
    for r in 0..10_000u64 {
        for (p, ty, f, v) in [
            (0, "invoke", "write", json!(2 * r)),
            (1, "invoke", "write", json!(2 * r + 1)),
            (0, "ok", "write", json!(2 * r)),
            (1, "ok", "write", json!(2 * r + 1)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!(2 * r + 1)),
        ] {
            lines.push(json!({"index": i, "process": p, "type": ty, "f": f, "value": v}));
            i += 1;
        }
    }
    let h = history(&lines);
    let b = Budget {
        timeout: Some(Duration::ZERO),
        ..Budget::default()
    };
    let r = by_name("linearizability:register", &Options::default())
        .unwrap()
        .check(&h, &b);
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason().is_some(), "{}", r.details);
    // The same history with room is valid.
    assert_eq!(
        check("linearizability:register", &h).verdict,
        Verdict::Valid
    );
    // In a composition, the unknown beats the valid.
    let c = Compose::new(vec![
        by_name("linearizability:register", &Options::default()).unwrap(),
        by_name("total-queue", &Options::default()).unwrap(),
    ]);
    let r = c.check(&h, &b);
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.details);
}
