//! Jepsen's other checkers (bank, counter, set-full, long-fork): literal
//! histories that must pass and histories that must be rejected, one per
//! kind of anomaly, plus info and failed ops, concurrency and bad input.

use checker::checkers::{self, BankOptions, JepsenOptions, Options};
use checker::formats::{self, Format};
use checker::{Budget, CheckResult, Event, EventType, History, Verdict};
use serde_json::{json, Value};

/// (process, type, f, value)
type Ev = (u64, &'static str, &'static str, Value);

/// A history of `evs`: index i, time i ms, line i + 1.
fn history(evs: &[Ev]) -> History {
    let events = evs
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            let mut e = Event::new(*p, EventType::parse(t).unwrap(), f, v.clone());
            e.index = i as u64;
            e.time = Some(i as i64 * 1_000_000);
            e.line = i + 1;
            e
        })
        .collect();
    History {
        source: "test.jsonl".into(),
        events,
        warnings: vec![],
        ..Default::default()
    }
}

fn check_with(name: &str, opts: &Options, evs: &[Ev]) -> CheckResult {
    let c = checkers::by_name(name, opts).unwrap();
    c.check(&history(evs), &Budget::default())
}

fn check(name: &str, evs: &[Ev]) -> CheckResult {
    check_with(name, &Options::default(), evs)
}

/// An invocation and its completion by process `p`, back to back.
fn op(p: u64, f: &'static str, inv: Value, outcome: &'static str, out: Value) -> [Ev; 2] {
    [(p, "invoke", f, inv), (p, outcome, f, out)]
}

fn cat(parts: &[&[Ev]]) -> Vec<Ev> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

fn parts(r: &CheckResult) -> Vec<&str> {
    r.anomalies.iter().map(|a| a.part.as_str()).collect()
}

// ---------------------------------------------------------------- bank

fn bank_opts(total: Option<i64>, accounts: Option<&[&str]>, negative: bool) -> Options {
    Options {
        jepsen: JepsenOptions {
            bank: BankOptions {
                accounts: accounts.map(|a| a.iter().map(|s| s.to_string()).collect()),
                total_amount: total,
                negative_balances: negative,
            },
            ..JepsenOptions::default()
        },
        ..Options::default()
    }
}

fn transfer(p: u64, from: i64, to: i64, amount: i64, outcome: &'static str) -> [Ev; 2] {
    let v = json!({"from": from, "to": to, "amount": amount});
    op(p, "transfer", v.clone(), outcome, v)
}

fn bank_read(p: u64, balances: Value) -> [Ev; 2] {
    op(p, "read", Value::Null, "ok", balances)
}

#[test]
fn bank_reads_that_keep_the_total_are_valid() {
    let evs = cat(&[
        &bank_read(0, json!({"0": 50, "1": 50})),
        &transfer(1, 0, 1, 10, "ok"),
        &transfer(1, 1, 0, 5, "fail"),
        &transfer(2, 1, 0, 7, "info"),
        &bank_read(0, json!({"0": 47, "1": 53})),
    ]);
    let o = bank_opts(Some(100), Some(&["0", "1"]), false);
    let r = check_with("bank", &o, &evs);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    assert_eq!(r.details["read-count"], 2);
    assert_eq!(r.details["error-count"], 0);
    assert_eq!(
        r.details["transfers"],
        json!({"ok": 1, "fail": 1, "info": 1})
    );
    assert!(r.anomalies.is_empty());
}

#[test]
fn bank_finds_each_kind_of_bad_read() {
    let o = bank_opts(Some(100), Some(&["0", "1"]), false);
    let cases: [(Value, &str); 4] = [
        (json!({"0": 50, "1": 40}), "wrong-total"),
        (json!({"0": 110, "1": -10}), "negative-value"),
        (json!({"0": 50, "1": 50, "7": 0}), "unexpected-key"),
        (json!({"0": 100, "1": null}), "nil-balance"),
    ];
    for (value, kind) in cases {
        let evs = cat(&[
            &bank_read(0, json!({"0": 50, "1": 50})),
            &bank_read(1, value.clone()),
        ]);
        let r = check_with("bank", &o, &evs);
        assert_eq!(r.verdict, Verdict::Invalid, "{kind}: {:#}", r.details);
        assert_eq!(parts(&r), [kind], "{kind}");
        // The bad read's invocation is history index 2.
        assert_eq!(r.anomalies[0].ops, [2], "{kind}");
        assert_eq!(r.details["errors"][kind]["count"], 1, "{kind}");
        assert_eq!(r.details["first-error"]["type"], kind);
        assert_eq!(r.details["first-error"]["index"], 3);
        assert_eq!(r.details["bad-reads"][0]["value"], value);
    }
}

#[test]
fn bank_tries_the_kinds_in_jepsens_order_one_error_per_read() {
    // Unexpected key, a nil and a wrong total at once: unexpected-key wins.
    let o = bank_opts(Some(100), Some(&["0", "1"]), false);
    let r = check_with("bank", &o, &bank_read(0, json!({"0": null, "9": 3})));
    assert_eq!(parts(&r), ["unexpected-key"]);
    assert_eq!(r.details["error-count"], 1);
    // A negative balance with a wrong total is a wrong total.
    let r = check_with("bank", &o, &bank_read(0, json!({"0": -5, "1": 3})));
    assert_eq!(parts(&r), ["wrong-total"]);
}

#[test]
fn bank_options_allow_negative_balances_and_skip_unknown_accounts() {
    let evs = bank_read(0, json!({"0": 110, "1": -10, "2": 0}));
    // No accounts given: account 2 is not unexpected; negatives allowed.
    let r = check_with("bank", &bank_opts(Some(100), None, true), &evs);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    let r = check_with(
        "bank:negative-balances",
        &bank_opts(Some(100), None, false),
        &evs,
    );
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    let r = check_with("bank", &bank_opts(Some(100), None, false), &evs);
    assert_eq!(parts(&r), ["negative-value"]);
    assert_eq!(
        r.details["errors"]["negative-value"]["first"]["negative"],
        json!([-10])
    );
}

#[test]
fn bank_infers_the_total_most_reads_show() {
    let evs = cat(&[
        &bank_read(0, json!({"a": 60, "b": 40})),
        &bank_read(1, json!({"a": 60, "b": 30})),
        &bank_read(0, json!({"a": 70, "b": 30})),
    ]);
    let r = check("bank", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["total-amount"], 100);
    assert_eq!(r.details["total-inferred"], true);
    assert_eq!(r.details["errors"]["wrong-total"]["first"]["total"], 90);
    assert_eq!(r.anomalies[0].ops, [2]);
}

#[test]
fn bank_ignores_reads_that_did_not_complete_ok_and_needs_one() {
    let evs = cat(&[
        &op(0, "read", Value::Null, "info", Value::Null),
        &op(1, "read", Value::Null, "fail", Value::Null),
        &transfer(2, 0, 1, 3, "ok"),
    ]);
    let r = check_with("bank", &bank_opts(Some(100), None, false), &evs);
    assert_eq!(r.verdict, Verdict::Unknown, "{:#}", r.details);
    assert!(r.reason().unwrap().contains("no ok read"));
}

#[test]
fn bank_rejects_malformed_ops_naming_line_and_field() {
    let evs = cat(&[
        &bank_read(0, json!({"0": 100})),
        &bank_read(0, json!([100, 0])),
    ]);
    let r = check("bank", &evs);
    assert_eq!(r.verdict, Verdict::Unknown);
    let e = r.reason().unwrap();
    assert!(e.starts_with("test.jsonl:4: field `value`:"), "{e}");
    assert!(e.contains("map from account to balance"), "{e}");
    let r = check("bank", &bank_read(0, json!({"0": "lots"})));
    assert!(
        r.reason().unwrap().contains("integer or nil"),
        "{:?}",
        r.reason()
    );
    let r = check("bank", &op(0, "transfer", json!(5), "ok", json!(5)));
    let e = r.reason().unwrap();
    assert!(
        e.starts_with("test.jsonl:1: field `value`:") && e.contains("{from, to, amount}"),
        "{e}"
    );
}

#[test]
fn bank_reads_edn_maps_with_integer_accounts() {
    let edn = r#"{:type :invoke, :f :transfer, :value {:from 0, :to 1, :amount 5}, :process 0, :index 0}
{:type :ok, :f :transfer, :value {:from 0, :to 1, :amount 5}, :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :index 2}
{:type :ok, :f :read, :value {0 45, 1 55}, :process 1, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :index 4}
{:type :ok, :f :read, :value {0 45, 1 55, 2 -3}, :process 1, :index 5}
"#;
    let h = formats::parse(edn.as_bytes(), "h.edn", Some(Format::Edn)).unwrap();
    let o = bank_opts(Some(100), Some(&["0", "1"]), false);
    let r = checkers::by_name("bank", &o)
        .unwrap()
        .check(&h, &Budget::default());
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(parts(&r), ["unexpected-key"]);
    assert_eq!(r.details["first-error"]["unexpected"], json!(["2"]));
    assert_eq!(r.details["first-error"]["line"], 6);
}

// ---------------------------------------------------------------- counter

fn add(p: u64, v: i64, outcome: &'static str) -> [Ev; 2] {
    op(p, "add", json!(v), outcome, json!(v))
}

fn read(p: u64, v: Value) -> [Ev; 2] {
    op(p, "read", Value::Null, "ok", v)
}

#[test]
fn counter_reads_within_bounds_are_valid() {
    let evs = cat(&[
        &read(0, json!(0)),
        &add(1, 1, "ok"),
        &add(1, 2, "ok"),
        &read(0, json!(3)),
        &add(1, 10, "fail"),
        &read(0, json!(3)),
    ]);
    let r = check("counter", &evs);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    assert_eq!(r.details["read-count"], 3);
    assert_eq!(r.details["add-count"], json!({"ok": 2, "fail": 1}));
}

#[test]
fn counter_rejects_reads_above_and_below_the_bounds() {
    // Too high: only 3 was ever added.
    let evs = cat(&[&add(1, 1, "ok"), &add(1, 2, "ok"), &read(0, json!(4))]);
    let r = check("counter", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    let e = &r.details["errors"][0];
    assert_eq!(
        (e["lower"].clone(), e["value"].clone(), e["upper"].clone()),
        (json!(3), json!(4), json!(3))
    );
    assert_eq!(r.anomalies[0].ops, [4]);
    // Too low: the add of 2 completed before the read began.
    let evs = cat(&[&add(1, 2, "ok"), &read(0, json!(1))]);
    let r = check("counter", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["max-absolute-error"]["distance"], 1);
    // A failed add never counts.
    let evs = cat(&[&add(1, 5, "fail"), &read(0, json!(5))]);
    assert_eq!(check("counter", &evs).verdict, Verdict::Invalid);
}

#[test]
fn counter_reads_concurrent_with_adds_may_or_may_not_see_them() {
    // Process 1's add of 5 is invoked, then the read runs, then the add ends.
    for (outcome, seen) in [("ok", 0), ("ok", 5), ("info", 0), ("info", 5)] {
        let evs = vec![
            (1, "invoke", "add", json!(5)),
            (0, "invoke", "read", Value::Null),
            (0, "ok", "read", json!(seen)),
            (1, outcome, "add", json!(5)),
        ];
        let r = check("counter", &evs);
        assert_eq!(
            r.verdict,
            Verdict::Valid,
            "{outcome} {seen}: {:#}",
            r.details
        );
    }
    // An info add stays possible for every later read, never certain.
    let evs = cat(&[&add(1, 5, "info"), &read(0, json!(0)), &read(0, json!(5))]);
    assert_eq!(check("counter", &evs).verdict, Verdict::Valid);
    let evs = cat(&[&add(1, 5, "info"), &read(0, json!(6))]);
    assert_eq!(check("counter", &evs).verdict, Verdict::Invalid);
    // An add invoked after the read completed cannot be in it.
    let evs = cat(&[&read(0, json!(5)), &add(1, 5, "ok")]);
    assert_eq!(check("counter", &evs).verdict, Verdict::Invalid);
}

#[test]
fn counter_negative_adds_widen_the_lower_bound() {
    let evs = vec![
        (1, "invoke", "add", json!(10)),
        (1, "ok", "add", json!(10)),
        (2, "invoke", "add", json!(-4)),
        (0, "invoke", "read", Value::Null),
        (0, "ok", "read", json!(6)),
        (2, "info", "add", json!(-4)),
        (0, "invoke", "read", Value::Null),
        (0, "ok", "read", json!(5)),
    ];
    let r = check("counter", &evs);
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(r.details["error-count"], 1);
    assert_eq!(r.details["errors"][0]["lower"], 6);
    assert_eq!(r.details["errors"][0]["upper"], 10);
}

#[test]
fn counter_checks_keyed_histories_key_by_key() {
    let edn = r#"{:type :invoke, :f :add, :value [1 5], :process 0}
{:type :ok, :f :add, :value [1 5], :process 0}
{:type :invoke, :f :read, :value [2 nil], :process 1}
{:type :ok, :f :read, :value [2 5], :process 1}
{:type :invoke, :f :read, :value [1 nil], :process 1}
{:type :ok, :f :read, :value [1 5], :process 1}
"#;
    let h = formats::parse(edn.as_bytes(), "k.edn", None).unwrap();
    let r = checkers::by_name("counter", &Options::default())
        .unwrap()
        .check(&h, &Budget::default());
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(r.details["keys"], 2);
    assert_eq!(r.details["errors"][0]["key"], "2");
    assert_eq!(r.details["errors"][0]["upper"], 0);
}

#[test]
fn counter_without_reads_is_unknown_and_bad_values_are_errors() {
    let r = check("counter", &add(0, 1, "ok"));
    assert_eq!(r.verdict, Verdict::Unknown);
    let r = check("counter", &cat(&[&add(0, 1, "ok"), &read(1, json!("one"))]));
    let e = r.reason().unwrap();
    assert!(
        e.starts_with("test.jsonl:4: field `value`:") && e.contains("integer"),
        "{e}"
    );
    let r = check(
        "counter",
        &add(0, 1, "ok").map(|mut e| {
            e.3 = json!([1]);
            e
        }),
    );
    assert!(r
        .reason()
        .unwrap()
        .starts_with("test.jsonl:1: field `value`:"));
}

// ---------------------------------------------------------------- set-full

fn set_add(p: u64, v: i64, outcome: &'static str) -> [Ev; 2] {
    op(p, "add", json!(v), outcome, json!(v))
}

#[test]
fn set_full_with_every_element_stable_is_valid() {
    let evs = cat(&[
        &set_add(0, 1, "ok"),
        &set_add(0, 2, "ok"),
        &read(1, json!([1, 2])),
        &set_add(0, 3, "fail"),
        &read(1, json!([2, 1])),
    ]);
    let r = check("set-full", &evs);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    assert_eq!(r.details["stable-count"], 2);
    assert_eq!(r.details["never-read"], json!([3]));
    assert_eq!(r.details["lost-count"], 0);
    assert_eq!(r.details["stale-count"], 0);
    assert_eq!(r.details["stable-latencies"]["1"], 0.0);
}

#[test]
fn set_full_finds_lost_elements() {
    let evs = cat(&[
        &set_add(0, 1, "ok"),
        &set_add(0, 2, "ok"),
        &read(1, json!([1, 2])),
        &read(1, json!([2])),
    ]);
    let r = check("set-full", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["lost"], json!([1]));
    assert_eq!(r.details["lost-count"], 1);
    assert_eq!(parts(&r), ["lost"]);
    // The add of 1 and the read that missed it, by invocation index.
    assert_eq!(r.anomalies[0].ops, [0, 6]);
    // Known from the ok add (index 1); missing at the next read is lost even
    // without a read that showed it.
    let evs = cat(&[
        &set_add(0, 1, "ok"),
        &set_add(0, 2, "ok"),
        &read(1, json!([2])),
    ]);
    let r = check("set-full", &evs);
    assert_eq!(r.details["lost"], json!([1]));
    assert_eq!(r.details["lost-latencies"]["0"], 0.0);
}

#[test]
fn set_full_a_read_concurrent_with_the_add_may_miss_it() {
    // The read begins while the add of 1 is in flight and misses it.
    let evs = vec![
        (0, "invoke", "add", json!(1)),
        (1, "invoke", "read", Value::Null),
        (1, "ok", "read", json!([])),
        (0, "ok", "add", json!(1)),
    ];
    let r = check("set-full", &evs);
    assert_eq!(r.details["never-read"], json!([1]));
    assert_eq!(r.details["lost-count"], 0);
    // Nothing stable: unknown, as Jepsen.
    assert_eq!(r.verdict, Verdict::Unknown, "{:#}", r.details);
    // An info add whose element a read shows is known from that read.
    let evs = cat(&[
        &set_add(0, 1, "info"),
        &read(1, json!([1])),
        &read(1, json!([1])),
    ]);
    let r = check("set-full", &evs);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    assert_eq!(r.details["stable-count"], 1);
    // ... and lost when a later read misses it.
    let evs = cat(&[
        &set_add(0, 1, "info"),
        &read(1, json!([1])),
        &read(1, json!([])),
    ]);
    assert_eq!(check("set-full", &evs).details["lost"], json!([1]));
}

#[test]
fn set_full_stale_reads_fail_only_when_linearizable() {
    let evs = cat(&[
        &set_add(0, 1, "ok"),
        &read(1, json!([])),
        &read(1, json!([1])),
        &read(1, json!([1])),
    ]);
    let r = check("set-full", &evs);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    assert_eq!(r.details["stale"], json!([1]));
    assert_eq!(r.details["worst-stale"][0]["last-absent-index"], 2);
    // Known at 1 ms, the stale read began at 2 ms: about 1 ms stale.
    let lat = r.details["worst-stale"][0]["stable-latency"]
        .as_f64()
        .unwrap();
    assert!((lat - 1.000001).abs() < 1e-9, "{lat}");
    let r = check("set-full:linearizable", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(parts(&r), ["stale"]);
    assert_eq!(r.anomalies[0].ops, [0, 2]);
    let lin = Options {
        jepsen: JepsenOptions {
            set_full_linearizable: true,
            ..JepsenOptions::default()
        },
        ..Options::default()
    };
    assert_eq!(check_with("set-full", &lin, &evs).verdict, Verdict::Invalid);
}

#[test]
fn set_full_duplicates_and_unexpected_elements_are_invalid() {
    let evs = cat(&[&set_add(0, 1, "ok"), &read(1, json!([1, 1, 1]))]);
    let r = check("set-full", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["duplicated"], json!({"1": 3}));
    assert_eq!(parts(&r), ["duplicated"]);
    let evs = cat(&[
        &set_add(0, 1, "ok"),
        &set_add(0, 2, "fail"),
        &read(1, json!([1, 2, 9])),
    ]);
    let r = check("set-full", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["unexpected"], json!([2, 9]));
    assert_eq!(r.anomalies.len(), 2);
}

fn prefix_opts(linearizable: bool) -> Options {
    Options {
        prefix: true,
        jepsen: JepsenOptions {
            set_full_linearizable: linearizable,
            ..JepsenOptions::default()
        },
        ..Options::default()
    }
}

#[test]
fn set_full_prefix_mode_judges_only_what_later_events_cannot_undo() {
    // 1 missed by the last read so far: lost in the whole of this prefix,
    // but a later read may show it again, so not judged online.
    let cut = cat(&[
        &set_add(0, 1, "ok"),
        &read(1, json!([1])),
        &read(1, json!([])),
    ]);
    assert_eq!(check("set-full", &cut).verdict, Verdict::Invalid);
    let r = check_with("set-full", &prefix_opts(false), &cut);
    assert_ne!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(r.details["lost-count"], 0);
    // ... and indeed the whole history shows it again: valid (stale only).
    let whole = cat(&[&cut, &read(1, json!([1]))]);
    assert_eq!(check("set-full", &whole).verdict, Verdict::Valid);
    // Claimed linearizable, the miss after 1 was known is settled: the
    // whole ends with 1 stale or lost, so the prefix is invalid, and so is
    // the whole.
    let r = check_with("set-full", &prefix_opts(true), &cut);
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(parts(&r), ["stale"]);
    assert_eq!(
        check("set-full:linearizable", &whole).verdict,
        Verdict::Invalid
    );
    // A duplicate is one in every extension.
    let dup = cat(&[&set_add(0, 1, "ok"), &read(1, json!([1, 1]))]);
    let r = check_with("set-full", &prefix_opts(false), &dup);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(parts(&r), ["duplicated"]);
    // An element whose only add so far failed is unexpected in this
    // history, but a later add of it may succeed: not judged online.
    let cut = cat(&[&set_add(0, 2, "fail"), &read(1, json!([2]))]);
    assert_eq!(check("set-full", &cut).verdict, Verdict::Invalid);
    let r = check_with("set-full", &prefix_opts(false), &cut);
    assert_ne!(r.verdict, Verdict::Invalid, "{:#}", r.details);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Every cut of a random set history: what the prefix mode finds
    /// invalid, the whole is invalid for too.
    #[test]
    fn set_full_prefix_verdicts_hold_for_the_whole(
        steps in proptest::collection::vec((0u64..3, 0u8..10, 0i64..6, proptest::collection::vec(0i64..6, 0..6)), 1..24),
        linearizable in proptest::bool::ANY,
    ) {
        // Up to three processes; each step adds (outcome by kind) or reads
        // a random list of elements (maybe repeating one).
        let mut evs: Vec<Ev> = Vec::new();
        let mut open: Vec<Option<Ev>> = vec![None; 3];
        // Elements some add was invoked for: reads mostly show only those,
        // once each (kind 9 lets a read show anything, repeats too).
        let mut added: Vec<i64> = Vec::new();
        for (p, kind, v, seen) in steps {
            let slot = &mut open[p as usize];
            if let Some(done) = slot.take() {
                evs.push(done);
                continue;
            }
            if kind < 5 {
                added.push(v);
                evs.push((p, "invoke", "add", json!(v)));
                let outcome = ["ok", "ok", "fail", "info", "ok"][kind as usize];
                *slot = Some((p, outcome, "add", json!(v)));
            } else {
                let mut shown: Vec<i64> = Vec::new();
                for x in seen {
                    if kind == 9 || (added.contains(&x) && !shown.contains(&x)) {
                        shown.push(x);
                    }
                }
                evs.push((p, "invoke", "read", Value::Null));
                *slot = Some((p, "ok", "read", json!(shown)));
            }
        }
        evs.extend(open.into_iter().flatten());
        let name = if linearizable { "set-full:linearizable" } else { "set-full" };
        let whole = check(name, &evs).verdict;
        for cut in 1..evs.len() {
            let mut h = history(&evs[..cut]);
            // Ops open at the cut: as the online pass hands them over.
            h.source = format!("cut at {cut}");
            let r = checkers::by_name(name, &prefix_opts(linearizable))
                .unwrap()
                .check(&h, &Budget::default());
            if r.verdict == Verdict::Invalid {
                proptest::prop_assert_eq!(
                    whole, Verdict::Invalid,
                    "cut at {} is invalid ({}), the whole is not: {:?}", cut, r.details["summary"], evs
                );
            }
        }
    }
}

#[test]
fn set_full_checks_keyed_histories_key_by_key() {
    // Element 5 is added to keys 1 and 2; key 2's read misses it.
    let edn = r#"{:type :invoke, :f :add, :value [1 5], :process 0}
{:type :ok, :f :add, :value [1 5], :process 0}
{:type :invoke, :f :add, :value [2 5], :process 0}
{:type :ok, :f :add, :value [2 5], :process 0}
{:type :invoke, :f :read, :value [1 nil], :process 1}
{:type :ok, :f :read, :value [1 #{5}], :process 1}
{:type :invoke, :f :read, :value [2 nil], :process 1}
{:type :ok, :f :read, :value [2 #{}], :process 1}
"#;
    let h = formats::parse(edn.as_bytes(), "k.edn", None).unwrap();
    let r = checkers::by_name("set-full", &Options::default())
        .unwrap()
        .check(&h, &Budget::default());
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(r.details["lost"], json!([["2", 5]]));
    assert_eq!(r.details["stable-count"], 1);
    assert_eq!(r.anomalies[0].ops, [2, 6]);
}

#[test]
fn set_full_without_adds_is_unknown_and_bad_reads_are_errors() {
    assert_eq!(
        check("set-full", &read(1, json!([]))).verdict,
        Verdict::Unknown
    );
    let r = check(
        "set-full",
        &cat(&[&set_add(0, 1, "ok"), &read(1, json!(1))]),
    );
    let e = r.reason().unwrap();
    assert!(
        e.starts_with("test.jsonl:4: field `value`:") && e.contains("set or vector"),
        "{e}"
    );
}

// ---------------------------------------------------------------- long-fork

fn w(p: u64, k: i64) -> [Ev; 2] {
    let t = json!([["w", k, 1]]);
    op(p, "txn", t.clone(), "ok", t)
}

/// A read of keys `ks` that saw `vs` (null: not written yet).
fn rd(p: u64, ks: &[i64], vs: &[Value]) -> [Ev; 2] {
    let inv: Vec<Value> = ks.iter().map(|k| json!(["r", k, null])).collect();
    let out: Vec<Value> = ks.iter().zip(vs).map(|(k, v)| json!(["r", k, v])).collect();
    op(p, "txn", json!(inv), "ok", json!(out))
}

const N: Value = Value::Null;

#[test]
fn long_fork_reads_in_one_order_are_valid() {
    let evs = cat(&[
        &rd(2, &[0, 1], &[N, N]),
        &w(0, 0),
        &rd(2, &[1, 0], &[N, json!(1)]),
        &w(1, 1),
        &rd(3, &[0, 1], &[json!(1), json!(1)]),
        &rd(3, &[2, 3], &[N, N]),
    ]);
    let r = check("long-fork", &evs);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    assert_eq!(r.details["reads-count"], 4);
    assert_eq!(r.details["early-read-count"], 2);
    assert_eq!(r.details["late-read-count"], 1);
    assert_eq!(r.details["groups"], 2);
    assert_eq!(r.details["write-count"], 2);
}

#[test]
fn long_fork_reads_that_see_writes_in_opposite_orders_are_a_fork() {
    let evs = cat(&[
        &w(0, 0),
        &w(1, 1),
        &rd(2, &[0, 1], &[json!(1), N]),
        &rd(3, &[1, 0], &[json!(1), N]),
    ]);
    let r = check("long-fork", &evs);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["fork-count"], 1);
    assert_eq!(parts(&r), ["forks"]);
    assert_eq!(r.anomalies[0].ops, [4, 6]);
    assert!(
        r.anomalies[0]
            .what
            .contains("sees the write of 0 but not of 1"),
        "{}",
        r.anomalies[0].what
    );
    assert_eq!(
        r.details["forks"][0][1]["value"],
        json!({"0": null, "1": 1})
    );
}

#[test]
fn long_fork_matches_jepsens_own_example_with_groups_of_three() {
    // r1 sees 1 1 nil, r2 sees 1 nil 1 (keys in another order), concurrent.
    let r1 = json!([["r", 0, null], ["r", 1, null], ["r", 2, null]]);
    let r2 = json!([["r", 2, null], ["r", 0, null], ["r", 1, null]]);
    let evs = vec![
        (1, "invoke", "read", r1),
        (2, "invoke", "read", r2),
        (
            1,
            "ok",
            "read",
            json!([["r", 0, 1], ["r", 1, 1], ["r", 2, null]]),
        ),
        (
            2,
            "ok",
            "read",
            json!([["r", 2, 1], ["r", 0, 1], ["r", 1, null]]),
        ),
    ];
    let r = check("long-fork:3", &evs);
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(r.details["reads-count"], 2);
    assert_eq!(r.details["early-read-count"], 0);
    assert_eq!(r.details["late-read-count"], 0);
    // With the default group size the reads are the wrong size: unknown.
    let r = check("long-fork", &evs);
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(
        r.reason().unwrap().contains("group size is 2"),
        "{:?}",
        r.reason()
    );
    let o = Options {
        jepsen: JepsenOptions {
            long_fork_group_size: Some(3),
            ..JepsenOptions::default()
        },
        ..Options::default()
    };
    assert_eq!(check_with("long-fork", &o, &evs).verdict, Verdict::Invalid);
}

#[test]
fn long_fork_needs_each_key_written_once() {
    // A key written twice (even by a failed write): unknown, as Jepsen.
    let t = json!([["w", 0, 2]]);
    let evs = cat(&[
        &w(0, 0),
        &op(1, "txn", t.clone(), "fail", t),
        &rd(2, &[0, 1], &[json!(1), N]),
    ]);
    let r = check("long-fork", &evs);
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(
        r.reason().unwrap().contains("key 0 is written twice"),
        "{:?}",
        r.reason()
    );
    // Two reads that see different values for one key: unknown.
    let evs = cat(&[
        &rd(2, &[0, 1], &[json!(1), N]),
        &rd(3, &[0, 1], &[json!(2), N]),
    ]);
    let r = check("long-fork", &evs);
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason().unwrap().contains("different values for key 0"));
}

#[test]
fn long_fork_ignores_unfinished_reads_and_rejects_bad_micro_ops() {
    let mut evs = cat(&[&w(0, 0), &w(1, 1), &rd(2, &[0, 1], &[json!(1), N])]);
    // An info read that would fork is not an ok read.
    let inv = json!([["r", 0, null], ["r", 1, null]]);
    evs.extend([(3, "invoke", "txn", inv.clone()), (3, "info", "txn", inv)]);
    assert_eq!(check("long-fork", &evs).verdict, Verdict::Valid);
    // No ok read at all: unknown.
    assert_eq!(check("long-fork", &w(0, 0)).verdict, Verdict::Unknown);
    let bad = json!([["append", 0, 1]]);
    let r = check("long-fork", &op(0, "txn", bad.clone(), "ok", bad));
    let e = r.reason().unwrap();
    assert!(
        e.starts_with("test.jsonl:1: field `value`:") && e.contains("append"),
        "{e}"
    );
    let r = check("long-fork", &op(0, "txn", json!(3), "ok", json!(3)));
    assert!(r.reason().unwrap().contains("a list of [f k v] micro-ops"));
}

// ---------------------------------------------------------------- registry

#[test]
fn the_registry_builds_jepsens_checkers_with_their_parameters() {
    let o = Options::default();
    for n in checkers::JEPSEN_NAMES {
        assert_eq!(checkers::by_name(n, &o).unwrap().name(), n);
        assert!(!checkers::by_name(n, &o).unwrap().informational());
    }
    for good in [
        "set-full:linearizable",
        "long-fork:5",
        "bank:negative-balances",
    ] {
        assert!(checkers::by_name(good, &o).is_ok(), "{good}");
    }
    for bad in [
        "long-fork:0",
        "long-fork:two",
        "set-full:sloppy",
        "counter:x",
        "bank:rich",
    ] {
        let e = checkers::by_name(bad, &o).err().map(|e| e.to_string());
        assert!(e.is_some(), "{bad}");
    }
    let e = checkers::by_name("long-fork:0", &o)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("group size"), "{e}");
    // Composed with others, as `faultline test` composes them.
    let c = checkers::compose(&["counter", "set-full"], &o).unwrap();
    let h = history(&cat(&[&add(0, 1, "ok"), &read(1, json!(1))]));
    assert_eq!(c.check_each(&h, &Budget::default()).len(), 2);
}

// ---------------------------------------------------------------- budgets

#[test]
fn set_full_and_long_fork_give_up_with_unknown_when_the_budget_runs_out() {
    let spent = Budget {
        timeout: Some(std::time::Duration::ZERO),
        ..Budget::default()
    };
    let mut evs = set_add(0, 1, "ok").to_vec();
    for _ in 0..200 {
        evs.extend(read(1, json!([1])));
    }
    let c = checkers::by_name("set-full", &Options::default()).unwrap();
    let h = history(&evs);
    assert_eq!(c.check(&h, &Budget::default()).verdict, Verdict::Valid);
    let r = c.check(&h, &spent);
    assert_eq!(r.verdict, Verdict::Unknown);
    let why = r.reason().unwrap();
    assert!(
        why.contains("time budget") && why.contains("of 200 ok reads"),
        "{why}"
    );

    // 128 distinct states of a group of 7 keys: 8128 pairs to compare.
    let keys: Vec<i64> = (0..7).collect();
    let mut evs = Vec::new();
    for state in 0..128u32 {
        let vs: Vec<Value> = keys
            .iter()
            .map(|&k| if state >> k & 1 == 1 { json!(1) } else { N })
            .collect();
        evs.extend(rd(state as u64, &keys, &vs));
    }
    let c = checkers::by_name("long-fork:7", &Options::default()).unwrap();
    let h = history(&evs);
    assert_eq!(c.check(&h, &Budget::default()).verdict, Verdict::Invalid);
    let r = c.check(&h, &spent);
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(
        r.reason().unwrap().contains("time budget"),
        "{:?}",
        r.reason()
    );
}

// ---------------------------------------------------------------- properties

use checker::{Operation, Status};
use proptest::prelude::*;

/// A random concurrent history: each step picks a process (`p`); an idle
/// process invokes (`kind` picks the op), a busy one completes (`outcome`
/// picks ok / fail / info, `x` the value). `add(n)` and `read(x, open)` make
/// the values: `open` are the adds invoked so far.
fn random_history(
    steps: &[(u8, u8, u8, u16)],
    procs: u64,
    invoke: impl Fn(u8, u64) -> (&'static str, Value),
    complete: impl Fn(&'static str, &Value, u16, u64) -> Value,
) -> History {
    let mut evs: Vec<Ev> = Vec::new();
    let mut open: Vec<Option<(&'static str, Value)>> = vec![None; procs as usize];
    let mut adds = 0u64;
    for &(p, kind, outcome, x) in steps {
        let p = u64::from(p) % procs;
        match open[p as usize].take() {
            None => {
                let (f, v) = invoke(kind, adds);
                if f == "add" {
                    adds += 1;
                }
                evs.push((p, "invoke", f, v.clone()));
                open[p as usize] = Some((f, v));
            }
            Some((f, v)) => {
                let t = match outcome % 4 {
                    0 if f == "add" => "fail",
                    1 if f == "add" => "info",
                    3 if f == "read" => "fail",
                    _ => "ok",
                };
                evs.push((p, t, f, complete(f, &v, x, adds)));
            }
        }
    }
    history(&evs)
}

fn ok_reads(ops: &[Operation]) -> impl Iterator<Item = &Operation> {
    ops.iter()
        .filter(|o| o.f == "read" && o.status == Status::Ok)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The counter's sweep agrees with the bounds computed read by read
    /// from their definition.
    #[test]
    fn counter_agrees_with_bounds_from_the_definition(
        steps in proptest::collection::vec((0u8..4, 0u8..3, 0u8..4, 0u16..12), 2..40),
        procs in 1u64..=4,
    ) {
        let h = random_history(
            &steps,
            procs,
            |kind, _| match kind {
                0 => ("read", Value::Null),
                1 => ("add", json!(-2)),
                _ => ("add", json!(i64::from(kind) + 1)),
            },
            |f, inv, x, _| if f == "read" { json!(i64::from(x) - 2) } else { inv.clone() },
        );
        let ops = h.operations().unwrap();
        let mut bad = 0;
        for r in ok_reads(&ops) {
            let (mut lower, mut upper) = (0i64, 0i64);
            for a in ops.iter().filter(|a| a.f == "add" && a.status != Status::Fail) {
                let v = a.input.as_i64().unwrap();
                let certain = a.status == Status::Ok && a.ret.unwrap() < r.call;
                let possible = a.call < r.ret.unwrap();
                if certain {
                    lower += v;
                    upper += v;
                } else if possible {
                    lower += v.min(0);
                    upper += v.max(0);
                }
            }
            let got = r.output.as_i64().unwrap();
            if got < lower || got > upper {
                bad += 1;
            }
        }
        let reads = ok_reads(&ops).count();
        let res = checkers::by_name("counter", &Options::default()).unwrap().check(&h, &Budget::default());
        let want = if bad > 0 { Verdict::Invalid } else if reads == 0 { Verdict::Unknown } else { Verdict::Valid };
        prop_assert_eq!(res.verdict, want, "{:#}", res.details);
        prop_assert_eq!(res.details["error-count"].as_u64(), Some(bad));
    }

    /// set-full's sweep agrees with each element's outcome computed from
    /// the definitions, element by element.
    #[test]
    fn set_full_agrees_with_outcomes_from_the_definition(
        steps in proptest::collection::vec((0u8..4, 0u8..3, 0u8..4, 0u16..1024), 2..40),
        procs in 1u64..=4,
        linearizable in any::<bool>(),
    ) {
        let h = random_history(
            &steps,
            procs,
            |kind, adds| if kind == 0 { ("read", Value::Null) } else { ("add", json!(adds)) },
            // A read shows a random subset of the elements invoked so far.
            |f, inv, x, adds| if f == "read" {
                json!((0..adds.min(10)).filter(|e| x >> e & 1 == 1).collect::<Vec<_>>())
            } else {
                inv.clone()
            },
        );
        let ops = h.operations().unwrap();
        let (mut stable, mut lost, mut stale, mut never) = (0u64, vec![], vec![], 0u64);
        for a in ops.iter().filter(|a| a.f == "add") {
            let e = &a.input;
            let reads: Vec<&Operation> = ok_reads(&ops).filter(|r| r.ret.unwrap() > a.call).collect();
            let shows = |r: &&Operation| r.output.as_array().unwrap().contains(e);
            let known = reads
                .iter()
                .copied()
                .filter(shows)
                .map(|r| r.ret.unwrap())
                .chain((a.status == Status::Ok).then(|| a.ret.unwrap()))
                .min();
            let last_present = reads.iter().copied().filter(shows).map(|r| r.call).max();
            let last_absent = reads.iter().copied().filter(|r| !shows(r)).map(|r| r.call).max();
            let is_stable = last_present.is_some() && last_absent < last_present;
            if is_stable {
                stable += 1;
                if let (Some(k), Some(ab)) = (known, last_absent) {
                    if k < ab {
                        stale.push(e.clone());
                    }
                }
            } else if known.is_some() && last_absent.is_some() && last_present < last_absent && known < last_absent {
                lost.push(e.clone());
            } else {
                never += 1;
            }
        }
        let name = if linearizable { "set-full:linearizable" } else { "set-full" };
        let res = checkers::by_name(name, &Options::default()).unwrap().check(&h, &Budget::default());
        let d = &res.details;
        prop_assert_eq!(d["stable-count"].as_u64(), Some(stable), "{:#}", d);
        prop_assert_eq!(&d["lost"], &json!(lost), "{:#}", d);
        prop_assert_eq!(&d["stale"], &json!(stale), "{:#}", d);
        prop_assert_eq!(d["never-read-count"].as_u64(), Some(never), "{:#}", d);
        // Elements a read shows though their add failed.
        let failed: Vec<Value> = ops
            .iter()
            .filter(|a| a.f == "add" && a.status == Status::Fail)
            .map(|a| a.input.clone())
            .filter(|e| ok_reads(&ops).any(|r| r.output.as_array().unwrap().contains(e)))
            .collect();
        prop_assert_eq!(&d["unexpected"], &json!(failed), "{:#}", d);
        let want = if !lost.is_empty() || !failed.is_empty() || (linearizable && !stale.is_empty()) {
            Verdict::Invalid
        } else if stable == 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        prop_assert_eq!(res.verdict, want, "{:#}", d);
    }
}

/// Every ordering of `xs`.
fn permutations(xs: &[i64]) -> Vec<Vec<i64>> {
    if xs.len() <= 1 {
        return vec![xs.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..xs.len() {
        let mut rest = xs.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// long-fork finds a fork exactly when no single order of the inserts
    /// has every read see a prefix of it (brute force over the orders).
    #[test]
    fn long_fork_agrees_with_brute_force_over_insert_orders(
        n in 2usize..=4,
        seen in proptest::collection::vec(0u8..16, 1..7),
    ) {
        let keys: Vec<i64> = (0..n as i64).collect();
        let mut evs = Vec::new();
        for &k in &keys {
            evs.extend(w(9, k));
        }
        let masks: Vec<u8> = seen.iter().map(|m| m & ((1 << n) - 1)).collect();
        for (i, &m) in masks.iter().enumerate() {
            let vs: Vec<Value> = keys
                .iter()
                .map(|&k| if m >> k & 1 == 1 { json!(1) } else { N })
                .collect();
            evs.extend(rd(i as u64, &keys, &vs));
        }
        let explained = permutations(&keys).into_iter().any(|order| {
            masks.iter().all(|&m| {
                // The keys seen are the first `count` of the order.
                let count = m.count_ones() as usize;
                order.iter().take(count).all(|&k| m >> k & 1 == 1)
            })
        });
        let r = checkers::by_name(&format!("long-fork:{n}"), &Options::default())
            .unwrap()
            .check(&history(&evs), &Budget::default());
        let want = if explained { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(r.verdict, want, "{:#}", r.details);
        prop_assert_eq!(r.anomalies.is_empty(), explained);
    }
}
