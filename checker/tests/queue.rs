//! total-queue and per-queue fifo linearizability: literal histories that
//! must pass and must fail, one per anomaly.

use checker::queue::{self, Delivery, FifoOptions};
use checker::{Event, EventType, History, Operation, Verdict};
use serde_json::{json, Value};

/// (process, type, f, value); a value `{"key": k, "v": x}` sets the queue.
type Ev = (u64, &'static str, &'static str, Value);

fn ops(evs: &[Ev]) -> Vec<Operation> {
    let events = evs
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            let mut e = Event::new(*p, EventType::parse(t).unwrap(), f, v.clone());
            if let (Some(k), Some(x)) = (v.get("key"), v.get("v")) {
                e.key = Some(k.clone());
                e.value = x.clone();
            }
            e.index = i as u64;
            e.time = Some(i as i64 * 1_000);
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

fn enq(p: u64, v: i64, outcome: &'static str) -> [Ev; 2] {
    [
        (p, "invoke", "enqueue", json!(v)),
        (p, outcome, "enqueue", json!(v)),
    ]
}

fn deq(p: u64, v: Value) -> [Ev; 2] {
    [
        (p, "invoke", "dequeue", Value::Null),
        (p, "ok", "dequeue", v),
    ]
}

fn cat(parts: &[&[Ev]]) -> Vec<Ev> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

#[test]
fn a_clean_history_is_valid_under_every_guarantee() {
    let h = ops(&cat(&[
        &enq(0, 1, "ok"),
        &enq(1, 2, "ok"),
        &deq(0, json!(1)),
        &[(1, "invoke", "ack", json!(1)), (1, "ok", "ack", json!(1))],
        &deq(1, json!(2)),
        &deq(0, Value::Null),
    ]));
    for d in [
        Delivery::AtLeastOnce,
        Delivery::AtMostOnce,
        Delivery::ExactlyOnce,
    ] {
        let r = queue::check_total(&h, d);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!((r.attempted, r.acknowledged, r.delivered), (2, 2, 2));
    }
    let f = queue::check_fifo(&h, &FifoOptions::default());
    assert_eq!(f.verdict, Verdict::Valid, "{f:?}");
    // JSON-serializable.
    serde_json::to_string(&queue::check_total(&h, Delivery::ExactlyOnce)).unwrap();
}

#[test]
fn lost_acknowledged_enqueue_is_invalid() {
    let h = ops(&cat(&[
        &enq(0, 1, "ok"),
        &enq(1, 2, "ok"),
        &deq(0, json!(2)),
        &deq(0, Value::Null),
    ]));
    let r = queue::check_total(&h, Delivery::AtLeastOnce);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.lost.count, 1);
    assert_eq!(r.lost.examples[0].value, json!(1));
    assert_eq!(r.lost.examples[0].ops, vec![0]);
    assert!(r.summary.contains("lost 1"), "{}", r.summary);
    // And the fifo model agrees: an empty dequeue while 1 is queued.
    assert_eq!(
        queue::check_fifo(&h, &FifoOptions::default()).verdict,
        Verdict::Invalid
    );
}

#[test]
fn duplicates_depend_on_the_declared_guarantee() {
    let h = ops(&cat(&[
        &enq(0, 1, "ok"),
        &deq(0, json!(1)),
        &deq(1, json!(1)),
    ]));
    let r = queue::check_total(&h, Delivery::AtLeastOnce);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
    assert_eq!(r.duplicated.count, 1);
    assert!(!r.duplicated.invalid);
    assert_eq!(r.duplicated.examples[0].ops, vec![0, 2, 4]);
    assert_eq!(r.duplicated.examples[0].delivered, 2);
    assert!(r.summary.contains("allowed by at-least-once"));
    for d in [Delivery::AtMostOnce, Delivery::ExactlyOnce] {
        let r = queue::check_total(&h, d);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.duplicated.invalid);
    }
    assert_eq!(Delivery::parse("exactly-once"), Some(Delivery::ExactlyOnce));
}

#[test]
fn unexpected_deliveries_are_invalid() {
    // Never enqueued.
    let h = ops(&cat(&[
        &enq(0, 1, "ok"),
        &deq(0, json!(1)),
        &deq(1, json!(9)),
    ]));
    let r = queue::check_total(&h, Delivery::AtLeastOnce);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.unexpected.count, 1);
    assert_eq!(r.unexpected.examples[0].value, json!(9));
    // Enqueue definitely failed, yet delivered.
    let h = ops(&cat(&[&enq(0, 1, "fail"), &deq(0, json!(1))]));
    let r = queue::check_total(&h, Delivery::AtLeastOnce);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.unexpected.count, 1);
    assert_eq!(r.unexpected.examples[0].ops, vec![0, 2]);
}

#[test]
fn recovered_info_enqueues_are_reported_not_invalid() {
    let h = ops(&cat(&[
        &enq(0, 1, "info"),
        &enq(1, 2, "info"),
        &deq(2, json!(1)),
        &deq(2, Value::Null),
    ]));
    let r = queue::check_total(&h, Delivery::ExactlyOnce);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
    assert_eq!(r.recovered.count, 1);
    assert_eq!(r.lost.count, 0, "an info enqueue may be lost");
    assert_eq!(r.recovered.examples[0].value, json!(1));
}

#[test]
fn drains_and_queues_are_separate() {
    let h = ops(&[
        (0, "invoke", "enqueue", json!({"key": "a", "v": 1})),
        (0, "ok", "enqueue", json!({"key": "a", "v": 1})),
        (1, "invoke", "enqueue", json!({"key": "b", "v": 1})),
        (1, "ok", "enqueue", json!({"key": "b", "v": 1})),
        (0, "invoke", "drain", json!({"key": "a", "v": null})),
        (0, "ok", "drain", json!({"key": "a", "v": [1]})),
    ]);
    let r = queue::check_total(&h, Delivery::ExactlyOnce);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.lost.count, 1);
    assert_eq!(r.lost.examples[0].queue.as_deref(), Some("b"));
    assert_eq!(r.duplicated.count, 0);
}

#[test]
fn fifo_catches_reordering_and_skips_long_queues() {
    let h = ops(&cat(&[
        &enq(0, 1, "ok"),
        &enq(0, 2, "ok"),
        &deq(1, json!(2)),
        &deq(1, json!(1)),
    ]));
    assert_eq!(
        queue::check_total(&h, Delivery::ExactlyOnce).verdict,
        Verdict::Valid
    );
    let f = queue::check_fifo(&h, &FifoOptions::default());
    assert_eq!(f.verdict, Verdict::Invalid);
    assert!(f.linearizability.unwrap().counterexample.is_some());
    let f = queue::check_fifo(
        &h,
        &FifoOptions {
            max_ops_per_queue: 3,
            timeout: None,
            ..Default::default()
        },
    );
    assert_eq!(f.verdict, Verdict::Unknown);
    assert_eq!(f.skipped.len(), 1);
}

// Prefix mode (the online check): a closed prefix of a history still being
// written, ops open at the cut without a completion.

#[test]
fn prefix_mode_leaves_an_element_not_yet_dequeued_alone() {
    // 1 and 2 acknowledged, only 2 dequeued so far, a dequeue open at the
    // cut: the whole check would call 1 lost, the prefix must not.
    let mut evs = cat(&[&enq(0, 1, "ok"), &enq(1, 2, "ok"), &deq(0, json!(2))]);
    evs.push((1, "invoke", "dequeue", Value::Null));
    let h = ops(&evs);
    assert_eq!(
        queue::check_total(&h, Delivery::ExactlyOnce).verdict,
        Verdict::Invalid
    );
    let r = queue::check_total_prefix(&h, Delivery::ExactlyOnce);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
    // Still counted, only not an anomaly.
    assert_eq!(r.lost.count, 1);
    assert!(!r.lost.invalid);
}

#[test]
fn prefix_mode_leaves_a_delivery_before_its_enqueue_is_seen_alone() {
    // A delivery of 7 whose enqueue is not in the prefix (and one of 8
    // whose only enqueue so far failed: an acknowledged one may follow).
    let h = ops(&cat(&[
        &deq(0, json!(7)),
        &enq(1, 8, "fail"),
        &deq(0, json!(8)),
    ]));
    assert_eq!(
        queue::check_total(&h, Delivery::AtLeastOnce).verdict,
        Verdict::Invalid
    );
    let r = queue::check_total_prefix(&h, Delivery::AtLeastOnce);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
    assert_eq!(r.unexpected.count, 2);
}

#[test]
fn prefix_mode_flags_a_duplicate_delivery_when_the_guarantee_forbids_it() {
    let h = ops(&cat(&[
        &enq(0, 1, "ok"),
        &deq(1, json!(1)),
        &deq(2, json!(1)),
    ]));
    let r = queue::check_total_prefix(&h, Delivery::AtMostOnce);
    assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
    assert_eq!(r.duplicated.count, 1);
    assert_eq!(r.duplicated.examples[0].ops, vec![0, 2, 4]);
    // Allowed under at-least-once.
    assert_eq!(
        queue::check_total_prefix(&h, Delivery::AtLeastOnce).verdict,
        Verdict::Valid
    );
    // Through the registry: `prefix` in the options, anomalies only of
    // the kind a prefix settles.
    use checker::checker::{Budget, Checker};
    let o = checker::checkers::Options {
        prefix: true,
        ..Default::default()
    };
    let c = checker::checkers::by_name("total-queue:exactly-once", &o).unwrap();
    let mut evs = cat(&[&enq(0, 1, "ok"), &deq(1, json!(1)), &deq(2, json!(1))]);
    evs.extend(cat(&[&enq(0, 5, "ok"), &deq(1, json!(9))]));
    let events: Vec<Event> = evs
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            let mut e = Event::new(*p, EventType::parse(t).unwrap(), f, v.clone());
            e.index = i as u64;
            e.time = Some(i as i64 * 1_000);
            e
        })
        .collect();
    let h = History {
        source: "test".into(),
        events,
        ..Default::default()
    };
    let r = c.check(&h, &Budget::default());
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(!r.anomalies.is_empty());
    assert!(
        r.anomalies.iter().all(|a| a.part == "duplicated"),
        "{:?}",
        r.anomalies
    );
    let whole = checker::checkers::by_name("total-queue:exactly-once", &Default::default())
        .unwrap()
        .check(&h, &Budget::default());
    let mut parts: Vec<&str> = whole.anomalies.iter().map(|a| a.part.as_str()).collect();
    parts.dedup();
    assert_eq!(parts, ["lost", "duplicated", "unexpected"]);
}
