//! Literal histories per model that must pass and must fail, and a property
//! test against a brute-force oracle.

use checker::model::{Model, ValTable};
use checker::models::RegisterModel;
use checker::oracle::brute_force;
use checker::wgl::SearchOp;
use checker::{check_linearizability, Event, EventType, History, LinOptions, ModelKind, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Builds a history from (process, type, f, value) tuples; `key` is taken
/// from a `{"key": k, "v": x}` wrapper when present.
fn hist(evs: &[(u64, &str, &str, Value)]) -> History {
    let events = evs
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            let mut e = Event::new(*p, EventType::parse(t).unwrap(), f, v.clone());
            if let Some(obj) = v.as_object() {
                if let (Some(k), Some(x)) = (obj.get("key"), obj.get("v")) {
                    e.key = Some(k.clone());
                    e.value = x.clone();
                }
            }
            e.index = i as u64;
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
}

fn verdict_with(model: ModelKind, opts: LinOptions, evs: &[(u64, &str, &str, Value)]) -> Verdict {
    let h = hist(evs);
    let ops = h.operations().unwrap();
    let r = check_linearizability(&ops, &LinOptions { model, ..opts }, "test").unwrap();
    if r.verdict == Verdict::Invalid {
        let cx = r
            .counterexample
            .as_ref()
            .expect("invalid verdicts carry a counterexample");
        assert!(!cx.candidates.is_empty(), "counterexample lists candidates");
        assert!(!cx.explanation.is_empty());
    }
    r.verdict
}

fn verdict(model: ModelKind, evs: &[(u64, &str, &str, Value)]) -> Verdict {
    verdict_with(model, LinOptions::default(), evs)
}

use ModelKind::*;
use Verdict::{Invalid, Valid};

#[test]
fn register_sequential_read_of_last_write() {
    let h = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (2, "invoke", "read", json!(null)),
        (2, "ok", "read", json!(1)),
    ];
    assert_eq!(verdict(Register, &h), Valid);
}

#[test]
fn register_stale_read_is_rejected() {
    let h = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (1, "invoke", "write", json!(2)),
        (1, "ok", "write", json!(2)),
        (2, "invoke", "read", json!(null)),
        (2, "ok", "read", json!(1)),
    ];
    assert_eq!(verdict(Register, &h), Invalid);
}

#[test]
fn register_nil_reads() {
    let ok = [
        (2, "invoke", "read", json!(null)),
        (2, "ok", "read", json!(null)),
    ];
    assert_eq!(verdict(Register, &ok), Valid);
    let bad = [
        (1, "invoke", "write", json!(3)),
        (1, "ok", "write", json!(3)),
        (2, "invoke", "read", json!(null)),
        (2, "ok", "read", json!(null)),
    ];
    assert_eq!(verdict(Register, &bad), Invalid);
}

#[test]
fn register_concurrent_writes_either_order() {
    // Two overlapping writes; a read after both sees either, but two later
    // reads cannot disagree.
    let one_order = [
        (1, "invoke", "write", json!(1)),
        (2, "invoke", "write", json!(2)),
        (1, "ok", "write", json!(1)),
        (2, "ok", "write", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(1)),
    ];
    assert_eq!(verdict(Register, &one_order), Valid);
    let flip = [
        (1, "invoke", "write", json!(1)),
        (2, "invoke", "write", json!(2)),
        (1, "ok", "write", json!(1)),
        (2, "ok", "write", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(1)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
    ];
    assert_eq!(verdict(Register, &flip), Invalid);
}

#[test]
fn register_info_write_may_or_may_not_happen() {
    let seen = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (2, "invoke", "write", json!(2)),
        (2, "info", "write", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
    ];
    assert_eq!(verdict(Register, &seen), Valid);
    let never_seen = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (2, "invoke", "write", json!(2)),
        (2, "info", "write", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(1)),
    ];
    assert_eq!(verdict(Register, &never_seen), Valid);
    // Once seen, it cannot be unseen.
    let back = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (2, "invoke", "write", json!(2)),
        (2, "info", "write", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(1)),
    ];
    assert_eq!(verdict(Register, &back), Invalid);
    // An info write cannot take effect before its invocation.
    let early = [
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
        (2, "invoke", "write", json!(2)),
        (2, "info", "write", json!(2)),
    ];
    assert_eq!(verdict(Register, &early), Invalid);
}

#[test]
fn register_never_completed_invocation_is_info() {
    let h = [
        (2, "invoke", "write", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
    ];
    assert_eq!(verdict(Register, &h), Valid);
}

#[test]
fn register_failed_write_did_not_happen() {
    let h = [
        (2, "invoke", "write", json!(2)),
        (2, "fail", "write", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
    ];
    assert_eq!(verdict(Register, &h), Invalid);
}

#[test]
fn register_failed_and_timed_out_reads_constrain_nothing() {
    let h = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (2, "invoke", "read", json!(null)),
        (2, "fail", "read", json!(7)),
        (3, "invoke", "read", json!(null)),
        (3, "info", "read", json!(9)),
    ];
    assert_eq!(verdict(Register, &h), Valid);
}

#[test]
fn cas_register_semantics() {
    let ok = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (1, "invoke", "cas", json!([1, 2])),
        (1, "ok", "cas", json!([1, 2])),
        (2, "invoke", "read", json!(null)),
        (2, "ok", "read", json!(2)),
    ];
    assert_eq!(verdict(CasRegister, &ok), Valid);
    let wrong_old = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (1, "invoke", "cas", json!([3, 2])),
        (1, "ok", "cas", json!([3, 2])),
    ];
    assert_eq!(verdict(CasRegister, &wrong_old), Invalid);
    // A cas on nil never matches an integer.
    let on_nil = [
        (1, "invoke", "cas", json!([0, 2])),
        (1, "ok", "cas", json!([0, 2])),
    ];
    assert_eq!(verdict(CasRegister, &on_nil), Invalid);
    // Register (without cas) rejects a cas op as bad input.
    let h = hist(&on_nil);
    let err = check_linearizability(&h.operations().unwrap(), &LinOptions::default(), "t.jsonl")
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("f"));
    assert_eq!(err.line, 1);
}

#[test]
fn cas_register_failed_cas_jepsen_vs_porcupine() {
    // The value is 1 and a cas [1 2] fails. Jepsen: it did not happen, so
    // nothing is wrong. Porcupine's etcd model: the value was not 1: illegal.
    let h = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (2, "invoke", "cas", json!([1, 2])),
        (2, "fail", "cas", json!([1, 2])),
    ];
    assert_eq!(verdict(CasRegister, &h), Valid);
    let observes = LinOptions {
        fail_cas_observes: true,
        ..Default::default()
    };
    assert_eq!(verdict_with(CasRegister, observes.clone(), &h), Invalid);
    // A failed cas that saw another value is fine under both.
    let h2 = [
        (1, "invoke", "write", json!(3)),
        (1, "ok", "write", json!(3)),
        (2, "invoke", "cas", json!([1, 2])),
        (2, "fail", "cas", json!([1, 2])),
    ];
    assert_eq!(verdict_with(CasRegister, observes, &h2), Valid);
}

#[test]
fn cas_register_info_cas() {
    // An info cas [1 2] may have applied: a later read of 2 is fine.
    let h = [
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (2, "invoke", "cas", json!([1, 2])),
        (2, "info", "cas", json!(null)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
    ];
    assert_eq!(verdict(CasRegister, &h), Valid);
    // But not if the old value never matched.
    let h = [
        (1, "invoke", "write", json!(4)),
        (1, "ok", "write", json!(4)),
        (2, "invoke", "cas", json!([1, 2])),
        (2, "info", "cas", json!(null)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!(2)),
    ];
    assert_eq!(verdict(CasRegister, &h), Invalid);
}

fn kv(k: &str, v: Value) -> Value {
    json!({"key": k, "v": v})
}

#[test]
fn kv_append_and_partitions() {
    let ok = [
        (1, "invoke", "append", kv("x", json!("a"))),
        (1, "ok", "append", kv("x", json!("a"))),
        (2, "invoke", "append", kv("y", json!("b"))),
        (1, "invoke", "append", kv("x", json!("c"))),
        (1, "ok", "append", kv("x", json!("c"))),
        (2, "ok", "append", kv("y", json!("b"))),
        (3, "invoke", "get", kv("x", json!(null))),
        (3, "ok", "get", kv("x", json!("ac"))),
        (3, "invoke", "get", kv("y", json!(null))),
        (3, "ok", "get", kv("y", json!("b"))),
    ];
    assert_eq!(verdict(Kv, &ok), Valid);
    let np = LinOptions {
        partition: false,
        ..Default::default()
    };
    assert_eq!(verdict_with(Kv, np.clone(), &ok), Valid);
    let bad = [
        (1, "invoke", "put", kv("x", json!("a"))),
        (1, "ok", "put", kv("x", json!("a"))),
        (1, "invoke", "append", kv("x", json!("c"))),
        (1, "ok", "append", kv("x", json!("c"))),
        (3, "invoke", "get", kv("x", json!(null))),
        (3, "ok", "get", kv("x", json!("ca"))),
    ];
    assert_eq!(verdict(Kv, &bad), Invalid);
    assert_eq!(verdict_with(Kv, np, &bad), Invalid);
    let h = hist(&bad);
    let r = check_linearizability(
        &h.operations().unwrap(),
        &LinOptions {
            model: Kv,
            ..Default::default()
        },
        "t",
    )
    .unwrap();
    let cx = r.counterexample.unwrap();
    assert_eq!(cx.partition.as_deref(), Some("x"));
    assert_eq!(cx.op.f, "get");
    assert_eq!(cx.state, "\"ac\"");
}

#[test]
fn multi_register_txns() {
    let ok = [
        (1, "invoke", "txn", json!([["w", "x", 1], ["w", "y", 2]])),
        (1, "ok", "txn", json!([["w", "x", 1], ["w", "y", 2]])),
        (
            2,
            "invoke",
            "txn",
            json!([["r", "x", null], ["r", "y", null]]),
        ),
        (2, "ok", "txn", json!([["r", "x", 1], ["r", "y", 2]])),
    ];
    assert_eq!(verdict(MultiRegister, &ok), Valid);
    // A torn read: sees x's write but not y's from the same txn.
    let torn = [
        (1, "invoke", "txn", json!([["w", "x", 1], ["w", "y", 2]])),
        (1, "ok", "txn", json!([["w", "x", 1], ["w", "y", 2]])),
        (
            2,
            "invoke",
            "txn",
            json!([["r", "x", null], ["r", "y", null]]),
        ),
        (2, "ok", "txn", json!([["r", "x", 1], ["r", "y", null]])),
    ];
    assert_eq!(verdict(MultiRegister, &torn), Invalid);
}

#[test]
fn mutex_two_holders() {
    let ok = [
        (1, "invoke", "acquire", json!(null)),
        (1, "ok", "acquire", json!(null)),
        (1, "invoke", "release", json!(null)),
        (2, "invoke", "acquire", json!(null)),
        (1, "ok", "release", json!(null)),
        (2, "ok", "acquire", json!(null)),
    ];
    assert_eq!(verdict(Mutex, &ok), Valid);
    let bad = [
        (1, "invoke", "acquire", json!(null)),
        (1, "ok", "acquire", json!(null)),
        (2, "invoke", "acquire", json!(null)),
        (2, "ok", "acquire", json!(null)),
    ];
    assert_eq!(verdict(Mutex, &bad), Invalid);
}

#[test]
fn set_lost_add() {
    let ok = [
        (1, "invoke", "add", json!(1)),
        (2, "invoke", "add", json!(2)),
        (1, "ok", "add", json!(1)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!([1])),
        (2, "ok", "add", json!(2)),
    ];
    assert_eq!(verdict(Set, &ok), Valid);
    let lost = [
        (1, "invoke", "add", json!(1)),
        (1, "ok", "add", json!(1)),
        (2, "invoke", "add", json!(2)),
        (2, "ok", "add", json!(2)),
        (3, "invoke", "read", json!(null)),
        (3, "ok", "read", json!([2])),
    ];
    assert_eq!(verdict(Set, &lost), Invalid);
}

#[test]
fn queues_fifo_versus_unordered() {
    let out_of_order = [
        (1, "invoke", "enqueue", json!(1)),
        (1, "ok", "enqueue", json!(1)),
        (1, "invoke", "enqueue", json!(2)),
        (1, "ok", "enqueue", json!(2)),
        (2, "invoke", "dequeue", json!(null)),
        (2, "ok", "dequeue", json!(2)),
    ];
    assert_eq!(verdict(FifoQueue, &out_of_order), Invalid);
    assert_eq!(verdict(UnorderedQueue, &out_of_order), Valid);
    let duplicate = [
        (1, "invoke", "enqueue", json!(1)),
        (1, "ok", "enqueue", json!(1)),
        (2, "invoke", "dequeue", json!(null)),
        (2, "ok", "dequeue", json!(1)),
        (2, "invoke", "dequeue", json!(null)),
        (2, "ok", "dequeue", json!(1)),
    ];
    assert_eq!(verdict(FifoQueue, &duplicate), Invalid);
    assert_eq!(verdict(UnorderedQueue, &duplicate), Invalid);
    // An info dequeue may have taken the head, so 2 can come out next.
    let info_deq = [
        (1, "invoke", "enqueue", json!(1)),
        (1, "ok", "enqueue", json!(1)),
        (1, "invoke", "enqueue", json!(2)),
        (1, "ok", "enqueue", json!(2)),
        (3, "invoke", "dequeue", json!(null)),
        (3, "info", "dequeue", json!(null)),
        (2, "invoke", "dequeue", json!(null)),
        (2, "ok", "dequeue", json!(2)),
    ];
    assert_eq!(verdict(FifoQueue, &info_deq), Valid);
}

#[test]
fn empty_history_is_valid() {
    for m in ModelKind::ALL {
        assert_eq!(verdict(m, &[]), Valid, "{}", m.name());
    }
}

#[test]
fn model_inference() {
    let h = hist(&[
        (1, "invoke", "cas", json!([1, 2])),
        (1, "ok", "cas", json!([1, 2])),
    ]);
    assert_eq!(ModelKind::infer(&h.operations().unwrap()), CasRegister);
    let h = hist(&[(1, "invoke", "append", json!("x"))]);
    assert_eq!(ModelKind::infer(&h.operations().unwrap()), Kv);
}

#[test]
fn timeout_gives_unknown_not_a_crash() {
    // Many concurrent writes and contradicting reads: a hard search. With a
    // zero budget the verdict is unknown with a reason.
    let mut evs = Vec::new();
    for p in 0..30u64 {
        evs.push((p, "invoke", "write", json!(p)));
    }
    for p in 0..30u64 {
        evs.push((p, "ok", "write", json!(p)));
    }
    for p in 0..30u64 {
        evs.push((100 + p, "invoke", "read", json!(null)));
    }
    for p in 0..30u64 {
        evs.push((100 + p, "ok", "read", json!(p)));
    }
    let h = hist(&evs);
    let opts = LinOptions {
        model: Register,
        timeout: Some(std::time::Duration::ZERO),
        ..Default::default()
    };
    let r = check_linearizability(&h.operations().unwrap(), &opts, "t").unwrap();
    assert_ne!(r.verdict, Valid);
    if r.verdict == Verdict::Unknown {
        assert!(r.reason.unwrap().contains("time budget"));
    }
}

#[test]
fn memory_budget_gives_unknown() {
    let mut evs = Vec::new();
    for p in 0..24u64 {
        evs.push((p, "invoke", "write", json!(p)));
    }
    for p in 0..24u64 {
        evs.push((p, "ok", "write", json!(p)));
    }
    for p in 0..24u64 {
        evs.push((100 + p, "invoke", "read", json!(null)));
    }
    for p in 0..24u64 {
        evs.push((100 + p, "ok", "read", json!(23 - p)));
    }
    let h = hist(&evs);
    let opts = LinOptions {
        model: Register,
        max_bytes: 64 << 10,
        ..Default::default()
    };
    let r = check_linearizability(&h.operations().unwrap(), &opts, "t").unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{r:?}");
    assert!(r.reason.unwrap().contains("memory budget"));
}

// ---------------------------------------------------------------------------
// Property test: the fast search agrees with a brute-force oracle.

#[derive(Debug, Clone)]
struct Plan {
    /// (process, action) where action 0..: invoke or complete.
    steps: Vec<(u8, u8, u8)>,
}

fn random_history(plan: &Plan, procs: u64) -> History {
    random_history_with(plan, procs, 7)
}

/// `1 / info_every` of the completions are `info`.
fn random_history_with(plan: &Plan, procs: u64, info_every: u8) -> History {
    let mut evs: Vec<(u64, &str, &str, Value)> = Vec::new();
    let mut open: Vec<Option<(&str, Value)>> = vec![None; procs as usize];
    let mut invoked = 0;
    let mut last = json!(null);
    for &(p, a, v) in &plan.steps {
        let p = p as u64 % procs;
        let v = (v % 3) as i64;
        match open[p as usize].take() {
            None if invoked < 8 => {
                let (f, val) = match a % 3 {
                    0 => ("read", json!(null)),
                    1 => ("write", json!(v)),
                    _ => ("cas", json!([v, (v + 1) % 3])),
                };
                if f == "write" {
                    last = val.clone();
                }
                evs.push((p, "invoke", f, val.clone()));
                open[p as usize] = Some((f, val));
                invoked += 1;
            }
            None => {}
            Some((f, val)) => {
                let kind = match a % info_every {
                    0 => "info",
                    1 if f == "cas" => "fail",
                    _ => "ok",
                };
                let out = if f == "read" {
                    if a % 2 == 0 {
                        last.clone()
                    } else if v == 0 {
                        json!(null)
                    } else {
                        json!(v)
                    }
                } else {
                    val
                };
                evs.push((p, kind, f, out));
            }
        }
    }
    hist(&evs)
}

fn oracle_verdict(h: &History, model: &RegisterModel) -> bool {
    let mut vals = ValTable::new();
    let ops: Vec<SearchOp<_>> = h
        .operations()
        .unwrap()
        .iter()
        .filter_map(|o| {
            model.prepare(o, &mut vals).unwrap().map(|m| SearchOp {
                op: m,
                call: o.call as u64,
                ret: o.ret.map(|r| r as u64),
            })
        })
        .collect();
    brute_force(model, &ops)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn search_agrees_with_brute_force(
        steps in proptest::collection::vec((0u8..4, 0u8..21, 0u8..3), 4..24),
        procs in 1u64..=4,
        observes in any::<bool>(),
    ) {
        let h = random_history(&Plan { steps }, procs);
        let model = RegisterModel { cas: true, fail_cas_observes: observes };
        let expected = oracle_verdict(&h, &model);
        let opts = LinOptions { model: CasRegister, fail_cas_observes: observes, ..Default::default() };
        let got = check_linearizability(&h.operations().unwrap(), &opts, "prop").unwrap().verdict;
        prop_assert_eq!(got == Valid, expected, "history: {:?}", h.events);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    /// Half the ops indeterminate, their values read back: the histories
    /// where the search skips placing an indeterminate op before a blind
    /// write, and where a wrong version of that rule shows.
    #[test]
    fn search_agrees_with_brute_force_when_many_ops_are_indeterminate(
        steps in proptest::collection::vec((0u8..4, 0u8..21, 0u8..3), 4..24),
        procs in 1u64..=4,
        observes in any::<bool>(),
    ) {
        let h = random_history_with(&Plan { steps }, procs, 2);
        let model = RegisterModel { cas: true, fail_cas_observes: observes };
        let expected = oracle_verdict(&h, &model);
        let opts = LinOptions { model: CasRegister, fail_cas_observes: observes, ..Default::default() };
        let got = check_linearizability(&h.operations().unwrap(), &opts, "prop").unwrap().verdict;
        prop_assert_eq!(got == Valid, expected, "history: {:?}", h.events);
    }
}

#[test]
fn property_generator_produces_both_verdicts() {
    // Guard against a generator that only makes easy cases: over a fixed
    // set of plans, both verdicts occur.
    let model = RegisterModel {
        cas: true,
        fail_cas_observes: false,
    };
    let mut seen = (0, 0);
    let mut x: u64 = 42;
    for _ in 0..500 {
        let steps: Vec<(u8, u8, u8)> = (0..16)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (
                    (x >> 33) as u8 % 4,
                    (x >> 41) as u8 % 21,
                    (x >> 50) as u8 % 3,
                )
            })
            .collect();
        let h = random_history(&Plan { steps }, 3);
        if oracle_verdict(&h, &model) {
            seen.0 += 1
        } else {
            seen.1 += 1
        }
    }
    assert!(seen.0 > 50 && seen.1 > 50, "valid/invalid split {seen:?}");
}

#[test]
fn unobserved_indeterminate_writes_do_not_blow_up_the_search() {
    // 40 timed-out writes of values nobody reads stay open to the end; the
    // search leaves them out, and a real stale read among them is still
    // caught.
    let mut evs = Vec::new();
    for p in 0..40u64 {
        evs.push((100 + p, "invoke", "write", json!(1000 + p)));
        evs.push((100 + p, "info", "write", json!(null)));
    }
    evs.push((1, "invoke", "write", json!(1)));
    evs.push((1, "ok", "write", json!(1)));
    evs.push((1, "invoke", "write", json!(2)));
    evs.push((1, "ok", "write", json!(2)));
    evs.push((2, "invoke", "read", json!(null)));
    evs.push((2, "ok", "read", json!(2)));
    assert_eq!(verdict(CasRegister, &evs), Valid);
    evs.push((2, "invoke", "read", json!(null)));
    evs.push((2, "ok", "read", json!(1)));
    assert_eq!(verdict(CasRegister, &evs), Invalid);
    // An indeterminate write that *is* observed stays in: reading its value
    // after 2 is fine because it may have landed late.
    let mut seen = evs[..evs.len() - 2].to_vec();
    seen.push((3, "invoke", "read", json!(null)));
    seen.push((3, "ok", "read", json!(1005)));
    assert_eq!(verdict(CasRegister, &seen), Valid);
}

#[test]
fn observed_indeterminate_writes_do_not_blow_up_the_search() {
    // 30 timed-out writes, open to the end, whose values a reader then sees
    // one by one, with definite writes in between. None can be left out, and
    // any subset of them could be placed at almost any point: without the
    // rule that an indeterminate op is never placed right before a blind
    // write, the search explores subsets of the 30 and runs out of budget.
    let n = 30u64;
    let mut evs = Vec::new();
    for p in 0..n {
        evs.push((100 + p, "invoke", "write", json!(1000 + p)));
        evs.push((100 + p, "info", "write", json!(null)));
    }
    for i in 0..n {
        let v = 1000 + (i * 7) % n; // a permutation of the written values
        evs.push((1, "invoke", "read", json!(null)));
        evs.push((1, "ok", "read", json!(v)));
        evs.push((2, "invoke", "write", json!(i)));
        evs.push((2, "ok", "write", json!(i)));
    }
    let opts = LinOptions {
        timeout: Some(std::time::Duration::from_secs(60)),
        max_bytes: 1 << 30,
        ..Default::default()
    };
    assert_eq!(verdict_with(CasRegister, opts.clone(), &evs), Valid);
    // Seeing the first value again: its write was already used up.
    evs.push((1, "invoke", "read", json!(null)));
    evs.push((1, "ok", "read", json!(1000)));
    assert_eq!(verdict_with(CasRegister, opts, &evs), Invalid);
}

/// A random queue history: up to 8 ops by 1–3 processes, enqueues of unique
/// values (1 in 3 indeterminate), dequeues returning an enqueued value, an
/// unused one, empty, or unknown.
fn random_queue_history(steps: &[(u8, u8, u8)], procs: u64) -> History {
    let mut evs: Vec<(u64, &str, &str, Value)> = Vec::new();
    let mut open: Vec<Option<(&str, Value)>> = vec![None; procs as usize];
    let (mut invoked, mut next) = (0, 1i64);
    for &(p, a, v) in steps {
        let p = (p as u64 % procs) as usize;
        match open[p].take() {
            None if invoked < 8 => {
                if a % 2 == 0 {
                    evs.push((p as u64, "invoke", "enqueue", json!(next)));
                    open[p] = Some(("enqueue", json!(next)));
                    next += 1;
                } else {
                    evs.push((p as u64, "invoke", "dequeue", json!(null)));
                    let out = match v % 4 {
                        0 => json!(null),
                        _ => json!(1 + (v as i64 % 5)),
                    };
                    open[p] = Some(("dequeue", out));
                }
                invoked += 1;
            }
            None => {}
            Some((f, val)) => {
                let kind = if a % 3 == 0 { "info" } else { "ok" };
                evs.push((p as u64, kind, f, val));
            }
        }
    }
    hist(&evs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    /// The queue models, with indeterminate enqueues that nothing dequeues
    /// left out, agree with brute force over every op.
    #[test]
    fn queue_models_agree_with_brute_force(
        steps in proptest::collection::vec((0u8..3, 0u8..12, 0u8..8), 4..24),
        procs in 1u64..=3,
        fifo in any::<bool>(),
    ) {
        let h = random_queue_history(&steps, procs);
        let ops = h.operations().unwrap();
        fn oracle<M: Model>(m: &M, ops: &[checker::Operation]) -> bool {
            let mut vals = ValTable::new();
            let sops: Vec<SearchOp<M::Op>> = ops
                .iter()
                .filter_map(|o| {
                    m.prepare(o, &mut vals).unwrap().map(|x| SearchOp {
                        op: x,
                        call: o.call as u64,
                        ret: o.ret.map(|r| r as u64),
                    })
                })
                .collect();
            brute_force(m, &sops)
        }
        let (expected, kind) = if fifo {
            (oracle(&checker::models::FifoQueueModel, &ops), FifoQueue)
        } else {
            (oracle(&checker::models::UnorderedQueueModel, &ops), UnorderedQueue)
        };
        let opts = LinOptions { model: kind, ..Default::default() };
        let got = check_linearizability(&ops, &opts, "prop").unwrap().verdict;
        prop_assert_eq!(got == Valid, expected, "history: {:?}", h.events);
    }
}

#[test]
fn an_initial_state_is_where_the_search_starts() {
    use ModelKind::*;
    let with = |init: Value| LinOptions {
        init,
        ..Default::default()
    };
    // A register read 0 before any write: invalid from nil, valid from 0,
    // invalid from 1.
    let reads0 = [
        (0, "invoke", "read", Value::Null),
        (0, "ok", "read", json!(0)),
        (1, "invoke", "write", json!(3)),
        (1, "ok", "write", json!(3)),
        (0, "invoke", "read", Value::Null),
        (0, "ok", "read", json!(3)),
    ];
    assert_eq!(
        verdict_with(Register, with(Value::Null), &reads0),
        Verdict::Invalid
    );
    assert_eq!(
        verdict_with(Register, with(json!(0)), &reads0),
        Verdict::Valid
    );
    assert_eq!(
        verdict_with(Register, with(json!(1)), &reads0),
        Verdict::Invalid
    );
    assert_eq!(
        verdict_with(CasRegister, with(json!(0)), &reads0),
        Verdict::Valid
    );
    // Keyed: a map gives each key its start; unnamed keys start nil.
    let keyed = [
        (0, "invoke", "read", json!({"key": "a", "v": null})),
        (0, "ok", "read", json!({"key": "a", "v": 0})),
        (0, "invoke", "read", json!({"key": "b", "v": null})),
        (0, "ok", "read", json!({"key": "b", "v": 5})),
        (0, "invoke", "read", json!({"key": "c", "v": null})),
        (0, "ok", "read", json!({"key": "c", "v": null})),
    ];
    assert_eq!(
        verdict_with(Register, with(json!({"a": 0, "b": 5})), &keyed),
        Verdict::Valid
    );
    assert_eq!(
        verdict_with(Register, with(json!({"a": 0})), &keyed),
        Verdict::Invalid
    );
    // Knossos's multi-register histories start at x=0, y=0.
    let multi = [
        (
            0,
            "invoke",
            "txn",
            json!([["r", "x", null], ["r", "y", null]]),
        ),
        (0, "ok", "txn", json!([["r", "x", 0], ["r", "y", 0]])),
        (1, "invoke", "txn", json!([["w", "x", 1]])),
        (1, "ok", "txn", json!([["w", "x", 1]])),
        (
            0,
            "invoke",
            "txn",
            json!([["r", "x", null], ["r", "y", null]]),
        ),
        (0, "ok", "txn", json!([["r", "x", 1], ["r", "y", 0]])),
    ];
    let mr = |init: Value| LinOptions {
        init,
        partition: false,
        ..Default::default()
    };
    assert_eq!(
        verdict_with(MultiRegister, mr(Value::Null), &multi),
        Verdict::Invalid
    );
    assert_eq!(
        verdict_with(MultiRegister, mr(json!({"x": 0, "y": 0})), &multi),
        Verdict::Valid
    );
    assert_eq!(
        verdict_with(MultiRegister, mr(json!({"x": 0, "y": 1})), &multi),
        Verdict::Invalid
    );
    // A model without initial states refuses one, naming the field.
    let h = hist(&reads0);
    let ops = h.operations().unwrap();
    let e = check_linearizability(
        &ops,
        &LinOptions {
            model: Mutex,
            init: json!(1),
            ..Default::default()
        },
        "test",
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("init"), "{e}");
    let e = check_linearizability(
        &ops,
        &LinOptions {
            model: MultiRegister,
            init: json!(0),
            partition: false,
            ..Default::default()
        },
        "test",
    );
    assert!(e.is_err());
}

#[test]
fn all_anomalies_reports_every_failing_key_and_the_default_stops_at_one() {
    // Keys a and b each read a value nobody wrote; key c is fine.
    let evs = [
        (0, "invoke", "read", json!({"key": "a", "v": null})),
        (0, "ok", "read", json!({"key": "a", "v": 1})),
        (1, "invoke", "read", json!({"key": "b", "v": null})),
        (1, "ok", "read", json!({"key": "b", "v": 2})),
        (2, "invoke", "write", json!({"key": "c", "v": 3})),
        (2, "ok", "write", json!({"key": "c", "v": 3})),
    ];
    let h = hist(&evs);
    let ops = h.operations().unwrap();
    let one = check_linearizability(&ops, &LinOptions::default(), "t").unwrap();
    assert_eq!(one.verdict, Verdict::Invalid);
    assert!(one.counterexample.is_some());
    assert!(one.more_counterexamples.is_empty());
    let all = check_linearizability(
        &ops,
        &LinOptions {
            all_anomalies: true,
            ..Default::default()
        },
        "t",
    )
    .unwrap();
    assert_eq!(all.verdict, Verdict::Invalid);
    let keys: Vec<Option<String>> = std::iter::once(&all.counterexample.unwrap())
        .chain(&all.more_counterexamples)
        .map(|c| c.partition.clone())
        .collect();
    assert_eq!(keys, [Some("a".to_string()), Some("b".to_string())]);
}

#[test]
fn a_read_of_a_value_nothing_writes_is_decided_without_a_full_search() {
    // Many concurrent writes, then a read of 99, which nothing writes: the
    // verdict needs no exhaustive search, and the witness is a
    // linearization of what came before, after which the read cannot come.
    let mut evs: Vec<(u64, &str, &str, Value)> = Vec::new();
    for round in 0..200u64 {
        for p in 0..5u64 {
            evs.push((p, "invoke", "write", json!(round * 5 + p)));
        }
        for p in 0..5u64 {
            evs.push((p, "ok", "write", json!(round * 5 + p)));
        }
    }
    evs.push((9, "invoke", "read", Value::Null));
    evs.push((9, "ok", "read", json!(99_999)));
    let h = hist(&evs);
    let ops = h.operations().unwrap();
    let r = check_linearizability(&ops, &LinOptions::default(), "t").unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let cx = r.counterexample.unwrap();
    assert_eq!(cx.op.output, json!(99_999));
    assert_eq!(cx.linearized.len(), 1000, "every write placed before it");
    // A value that only an indeterminate write may have written is not
    // impossible: it may have taken effect.
    let evs = [
        (0, "invoke", "write", json!(7)),
        (0, "info", "write", json!(7)),
        (1, "invoke", "read", Value::Null),
        (1, "ok", "read", json!(7)),
    ];
    assert_eq!(
        verdict_with(ModelKind::Register, LinOptions::default(), &evs),
        Verdict::Valid
    );
    // With an initial state, the initial value is held too.
    assert_eq!(
        verdict_with(
            ModelKind::Register,
            LinOptions {
                init: json!(99_999),
                ..Default::default()
            },
            &[
                (9, "invoke", "read", Value::Null),
                (9, "ok", "read", json!(99_999))
            ]
        ),
        Verdict::Valid
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    /// Shrinking (`checker::shrink`) an invalid cas-register history gives
    /// a history the brute-force oracle also finds invalid, from which
    /// removing any one op makes it valid (or leaves a read without the
    /// write it saw, which the register rule forbids): 1-minimal.
    #[test]
    fn a_shrunk_history_is_invalid_and_one_minimal(
        steps in proptest::collection::vec((0u8..4, 0u8..21, 0u8..3), 4..24),
        procs in 1u64..=4,
    ) {
        let h = random_history(&Plan { steps }, procs);
        let model = RegisterModel { cas: true, fail_cas_observes: false };
        prop_assume!(!oracle_verdict(&h, &model));
        let opts = LinOptions { model: CasRegister, ..Default::default() };
        let rule = checker::shrink::reads_keep_their_writers(&h);
        let bad = |x: &History| {
            rule(x)
                && check_linearizability(&x.operations().unwrap(), &opts, "prop").unwrap().verdict
                    == Verdict::Invalid
        };
        let s = checker::shrink::shrink(&h, bad, &[], None).unwrap();
        prop_assert!(s.one_minimal);
        prop_assert!(!oracle_verdict(&s.history, &model), "not invalid: {:?}", s.history.events);
        prop_assert!(s.ops_after <= s.ops_before);
        let ops = s.history.operations().unwrap();
        prop_assert_eq!(ops.len(), s.ops_after);
        for o in &ops {
            let mut drop = vec![o.call];
            drop.extend(o.ret);
            // An info op's completion goes with it.
            if o.ret.is_none() {
                if let Some(p) = s.history.events.iter().enumerate().skip(o.call + 1)
                    .find(|(_, e)| e.process == s.history.events[o.call].process)
                    .map(|(i, _)| i)
                {
                    drop.push(p);
                }
            }
            let less = History {
                events: s.history.events.iter().enumerate()
                    .filter(|(i, _)| !drop.contains(i))
                    .map(|(_, e)| e.clone())
                    .collect(),
                ..s.history.clone()
            };
            prop_assert!(
                oracle_verdict(&less, &model) || !rule(&less),
                "removing op {} leaves it invalid: {:?}", o.invoke_index, less.events
            );
        }
    }
}
