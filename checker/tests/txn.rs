//! The isolation checkers (list-append, rw-register): one literal history
//! per anomaly class, landing on that class and its placement; histories
//! that must pass; parse errors naming file, line and field; the budget.
//! The oracle property tests are in `txn_oracle.rs`.

use checker::checker::Budget;
use checker::formats::{self, Format};
use checker::history::{Event, EventType};
use checker::txn::{self, Kind, TxnOptions, TxnResult};
use checker::{checkers, Verdict};
use serde_json::{json, Value};

mod txn_common;
use txn_common::*;

fn la(b: &B) -> TxnResult {
    run(Kind::ListAppend, &b.history(), "strict-serializable")
}

fn rw(b: &B) -> TxnResult {
    run(Kind::RwRegister, &b.history(), "strict-serializable")
}

/// Asserts the anomaly types and the weakest models ruled out.
#[track_caller]
fn assert_lands(r: &TxnResult, types: &[&str], not: &[&str]) {
    assert_eq!(r.anomaly_types, types, "{:#}", r.details);
    assert_eq!(r.placement.not, not, "{:#}", r.details);
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    // Every anomaly names the txns that show it, by history index.
    assert!(r.anomalies.iter().all(|a| !a.ops.is_empty()));
}

// ---------------------------------------------------------------------------
// list-append, one history per class

#[test]
fn g0_write_cycle() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["append", "x", 1], ["append", "y", 1]])),
        (1, json!([["append", "x", 2], ["append", "y", 2]])),
    ])
    .txn(2, json!([["r", "x", [1, 2]], ["r", "y", [2, 1]]]));
    let r = la(&b);
    assert_lands(&r, &["G0"], &["read-uncommitted"]);
    let w = &r.details["anomalies"]["G0"][0];
    assert_eq!(w["cycle"].as_array().unwrap().len(), 2);
    let text = w["explanation"].as_str().unwrap();
    assert!(
        text.contains("T0 appended 1 to key x, and T1 appended 2 right after it"),
        "{text}"
    );
    assert!(
        text.contains("T1 appended 2 to key y, and T0 appended 1 right after it"),
        "{text}"
    );
}

#[test]
fn g1a_aborted_read() {
    let mut b = B::default();
    b.invoke(0, json!([["append", "x", 1]]))
        .fail(0, json!([["append", "x", 1]]))
        .txn(1, json!([["r", "x", [1]]]));
    let r = la(&b);
    assert_lands(&r, &["G1a"], &["read-committed"]);
    assert_eq!(r.placement.strongest_kept, ["strong-read-uncommitted"]);
    assert_eq!(r.anomalies[0].ops, vec![2, 0]);
}

#[test]
fn g1b_intermediate_read() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["append", "x", 1], ["append", "x", 2]])),
        (1, json!([["r", "x", [1]]])),
    ]);
    let r = la(&b);
    // T0's append of 2, which no read shows, comes after 1, so T1's read
    // of [1] also anti-depends on T0: with T0's wr edge a G-single cycle,
    // as Elle reports it too (its `previously-appended-element`).
    assert_lands(&r, &["G-single", "G1b"], &["read-committed"]);
}

#[test]
fn g1c_circular_information_flow() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["append", "x", 1], ["r", "y", [1]]])),
        (1, json!([["append", "y", 1], ["r", "x", [1]]])),
    ]);
    let r = la(&b);
    assert_lands(&r, &["G1c"], &["read-committed"]);
    let text = r.details["anomalies"]["G1c"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(text.contains("which ends with T"), "{text}");
}

#[test]
fn g_single_read_skew() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["r", "x", null], ["r", "y", [1]]])),
        (1, json!([["append", "x", 1], ["append", "y", 1]])),
    ])
    .txn(2, json!([["r", "x", [1]]]));
    let r = la(&b);
    assert_lands(&r, &["G-single"], &["consistent-view", "repeatable-read"]);
    assert_eq!(r.details["why_not"]["repeatable-read"], json!(["G-single"]));
    assert!(r.placement.also_not.contains(&"snapshot-isolation"));
    assert!(r
        .placement
        .strongest_kept
        .contains(&"parallel-snapshot-isolation"));
    let text = r.details["anomalies"]["G-single"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("T0 read key x = [], which did not include T1's append of 1"),
        "{text}"
    );
}

#[test]
fn g_nonadjacent() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["r", "x", null], ["r", "y", [1]]])),
        (1, json!([["append", "x", 1]])),
        (2, json!([["r", "x", [1]], ["r", "y", null]])),
        (3, json!([["append", "y", 1]])),
    ]);
    let r = la(&b);
    assert_lands(
        &r,
        &["G-nonadjacent"],
        &["repeatable-read", "snapshot-isolation"],
    );
    assert!(r.placement.strongest_kept.contains(&"update-serializable"));
    assert_eq!(
        r.details["anomalies"]["G-nonadjacent"][0]["cycle"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn g2_item_write_skew() {
    let mut b = B::default();
    b.concurrent(&[
        (
            0,
            json!([["r", "x", null], ["r", "y", null], ["append", "x", 1]]),
        ),
        (
            1,
            json!([["r", "x", null], ["r", "y", null], ["append", "y", 1]]),
        ),
    ])
    .txn(2, json!([["r", "x", [1]], ["r", "y", [1]]]));
    let r = la(&b);
    assert_lands(&r, &["G2-item"], &["repeatable-read"]);
    assert!(r.placement.also_not.contains(&"serializable"));
    assert!(r
        .placement
        .strongest_kept
        .contains(&"strong-snapshot-isolation"));
    // Snapshot isolation allows write skew.
    let si = run(Kind::ListAppend, &b.history(), "snapshot-isolation");
    assert_eq!(si.verdict, Verdict::Valid);
}

/// Write skew whose appends no read ever shows (the end of a run): a
/// committed append comes after every element any read shows, so each
/// txn's read of nil anti-depends on the other's append (Elle's rule).
#[test]
fn g2_item_write_skew_with_appends_no_read_shows() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["r", "x", null], ["append", "y", 1]])),
        (1, json!([["r", "y", null], ["append", "x", 1]])),
    ]);
    let r = la(&b);
    assert_lands(&r, &["G2-item"], &["repeatable-read"]);
    assert!(
        r.details.to_string().contains("shown by no read"),
        "{:#}",
        r.details
    );
    let si = run(Kind::ListAppend, &b.history(), "snapshot-isolation");
    assert_eq!(si.verdict, Verdict::Valid);
    // The same after some appends were seen: the unseen one comes after
    // the last element a read shows (ww from its writer, rw from the
    // read that saw the whole known list).
    let mut b = B::default();
    b.txn(2, json!([["append", "x", 1], ["append", "y", 1]]))
        .txn(2, json!([["r", "x", [1]], ["r", "y", [1]]]))
        .concurrent(&[
            (0, json!([["r", "x", [1]], ["append", "y", 2]])),
            (1, json!([["r", "y", [1]], ["append", "x", 2]])),
        ]);
    let r = la(&b);
    assert_lands(&r, &["G2-item"], &["repeatable-read"]);
    // Only one side unseen by nobody: serializable (T1 then T0), so no
    // edge may be made up from the unseen append alone.
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["r", "x", null], ["append", "y", 1]])),
        (1, json!([["r", "y", [1]], ["append", "x", 1]])),
    ]);
    let r = la(&b);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    // An unseen append of a txn that failed makes no edge: were it taken
    // as committed, T1 (after it on process 0) reading x = nil would close
    // a G-single-process cycle.
    let mut b = B::default();
    let failed = json!([["append", "x", 1]]);
    b.invoke(0, failed.clone())
        .fail(0, failed)
        .txn(0, json!([["r", "x", null], ["append", "y", 1]]));
    assert_eq!(la(&b).verdict, Verdict::Valid, "{:#}", la(&b).details);
}

/// A failed txn's append in the middle of a key's order hides nothing
/// about the committed appends around it: the edges bridge it.
#[test]
fn edges_bridge_an_append_of_a_failed_txn() {
    // T1 reads x empty and appends 3; x reads [1 2 3], 2 from a failed
    // txn: T0's 1 came before T1's 3 (ww), yet T1 missed it (rw): G-single,
    // beside the aborted read and the dirty update.
    let mut b = B::default();
    let failed = json!([["append", "x", 2]]);
    b.concurrent(&[
        (0, json!([["append", "x", 1]])),
        (1, json!([["r", "x", null], ["append", "x", 3]])),
    ])
    .invoke(2, failed.clone())
    .fail(2, failed)
    .txn(3, json!([["r", "x", [1, 2, 3]]]));
    let r = la(&b);
    assert_eq!(
        r.anomaly_types,
        ["G-single", "G1a", "dirty-update"],
        "{:#}",
        r.details
    );
    assert!(
        r.details.to_string().contains("with only [2] in between"),
        "{:#}",
        r.details
    );
    // T1 read [1] instead: T0 before T1 both ways, no cycle, only the
    // failed append's own anomalies.
    let mut b = B::default();
    let failed = json!([["append", "x", 2]]);
    b.txn(0, json!([["append", "x", 1]]))
        .txn(1, json!([["r", "x", [1]], ["append", "x", 3]]))
        .invoke(2, failed.clone())
        .fail(2, failed)
        .txn(3, json!([["r", "x", [1, 2, 3]]]));
    let r = la(&b);
    assert_eq!(r.anomaly_types, ["G1a", "dirty-update"], "{:#}", r.details);
    // A read that saw everything up to the failed tail missed an append no
    // read shows: rw to it, bridging the tail.
    let mut b = B::default();
    let failed = json!([["append", "x", 2]]);
    b.txn(0, json!([["append", "x", 1]]))
        .invoke(2, failed.clone())
        .fail(2, failed)
        .concurrent(&[
            (0, json!([["r", "x", [1, 2]], ["append", "y", 1]])),
            (1, json!([["r", "y", null], ["append", "x", 3]])),
        ]);
    let r = la(&b);
    assert!(
        r.anomaly_types.iter().any(|a| a == "G2-item"),
        "{:#}",
        r.details
    );
}

#[test]
fn process_variants() {
    // G0-process: p0 appends 1 then 2 to x, but x reads [2 1].
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]]))
        .txn(0, json!([["append", "x", 2]]))
        .txn(1, json!([["r", "x", [2, 1]]]));
    assert_lands(
        &la(&b),
        &["G0-process"],
        &["strong-session-read-uncommitted"],
    );
    // G1c-process: p0 reads what its own later txn appends.
    let mut b = B::default();
    b.txn(0, json!([["r", "y", [1]]]))
        .txn(0, json!([["append", "y", 1]]));
    let r = la(&b);
    assert_lands(&r, &["G1c-process"], &["strong-session-read-committed"]);
    assert!(r.placement.strongest_kept.contains(&"serializable"));
    // G-single-process: p0 does not read its own earlier append.
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]]))
        .txn(0, json!([["r", "x", null]]))
        .txn(1, json!([["r", "x", [1]]]));
    let r = la(&b);
    assert_lands(
        &r,
        &["G-single-process"],
        &["strong-session-snapshot-isolation"],
    );
    assert!(r
        .placement
        .also_not
        .contains(&"strong-session-serializable"));
    assert_eq!(
        run(Kind::ListAppend, &b.history(), "serializable").verdict,
        Verdict::Valid
    );
    assert_eq!(
        run(
            Kind::ListAppend,
            &b.history(),
            "strong-session-serializable"
        )
        .verdict,
        Verdict::Invalid
    );
}

#[test]
fn realtime_variants() {
    // G-single-realtime: a stale read on another process, after the append
    // completed.
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]]))
        .txn(1, json!([["r", "x", null]]))
        .txn(2, json!([["r", "x", [1]]]));
    let r = la(&b);
    assert_lands(&r, &["G-single-realtime"], &["strong-snapshot-isolation"]);
    assert!(r.placement.also_not.contains(&"strict-serializable"));
    assert!(r
        .placement
        .strongest_kept
        .contains(&"strong-session-serializable"));
    assert_eq!(
        run(Kind::ListAppend, &b.history(), "serializable").verdict,
        Verdict::Valid
    );
    let text = r.details["anomalies"]["G-single-realtime"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(text.contains("(real-time order)"), "{text}");
    // G0-realtime and G1c-realtime.
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]]))
        .txn(1, json!([["append", "x", 2]]))
        .txn(2, json!([["r", "x", [2, 1]]]));
    assert_lands(&la(&b), &["G0-realtime"], &["strong-read-uncommitted"]);
    let mut b = B::default();
    b.txn(0, json!([["r", "y", [1]]]))
        .txn(1, json!([["append", "y", 1]]));
    assert_lands(&la(&b), &["G1c-realtime"], &["strong-read-committed"]);
    // G2-item-realtime: T0's append completes before T1 begins; T1 misses
    // T2's append to y, T2 misses T0's append to x (T2 overlaps both).
    let mut b = B::default();
    b.invoke(2, json!([["r", "x", null], ["append", "y", 1]]))
        .txn(0, json!([["append", "x", 1]]))
        .txn(1, json!([["r", "y", null]]))
        .ok(2, json!([["r", "x", null], ["append", "y", 1]]))
        .txn(3, json!([["r", "x", [1]], ["r", "y", [1]]]));
    let r = la(&b);
    assert_lands(&r, &["G2-item-realtime"], &["strict-serializable"]);
    assert_eq!(
        run(
            Kind::ListAppend,
            &b.history(),
            "strong-session-serializable"
        )
        .verdict,
        Verdict::Valid
    );
}

#[test]
fn internal_inconsistency() {
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 5]])).txn(
        1,
        json!([["r", "x", [5]], ["append", "x", 6], ["r", "x", [5]]]),
    );
    let r = la(&b);
    assert_lands(&r, &["internal"], &["read-atomic"]);
    let text = r.anomalies[0].what.as_str();
    assert!(text.contains("imply [5 6]"), "{text}");
}

#[test]
fn dirty_update() {
    let mut b = B::default();
    b.invoke(0, json!([["append", "x", 1]]))
        .fail(0, json!([["append", "x", 1]]))
        .txn(1, json!([["append", "x", 2]]))
        .txn(2, json!([["r", "x", [1, 2]]]));
    let r = la(&b);
    assert_lands(&r, &["G1a", "dirty-update"], &["read-committed"]);
}

#[test]
fn duplicate_elements() {
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]]))
        .txn(1, json!([["r", "x", [1, 1]]]));
    assert_lands(&la(&b), &["duplicate-elements"], &["read-uncommitted"]);
}

#[test]
fn incompatible_order() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["append", "x", 1]])),
        (1, json!([["append", "x", 2]])),
    ])
    .txn(2, json!([["r", "x", [1, 2]]]))
    .txn(3, json!([["r", "x", [2, 1]]]));
    assert_lands(&la(&b), &["incompatible-order"], &["read-committed"]);
}

#[test]
fn lost_update() {
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]])).concurrent(&[
        (1, json!([["r", "x", [1]], ["append", "x", 2]])),
        (2, json!([["r", "x", [1]], ["append", "x", 3]])),
    ]);
    let r = la(&b);
    // Both appends after [1] are shown by no read: each reader of [1]
    // anti-depends on the other's append, a G2-item cycle as well.
    assert_lands(&r, &["G2-item", "lost-update"], &["cursor-stability"]);
    assert!(r.placement.also_not.contains(&"snapshot-isolation"));
    assert_eq!(r.anomalies[0].ops.len(), 2);
}

#[test]
fn future_read() {
    let mut b = B::default();
    b.txn(0, json!([["r", "x", [1]], ["append", "x", 1]]));
    assert_lands(&la(&b), &["future-read"], &["read-committed"]);
}

#[test]
fn garbage_read() {
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]]))
        .txn(1, json!([["r", "x", [1, 9]]]));
    assert_lands(&la(&b), &["garbage-read"], &["read-uncommitted"]);
}

// ---------------------------------------------------------------------------
// rw-register

#[test]
fn rw_register_classes() {
    let mut b = B::default();
    b.invoke(0, json!([["w", "x", 1]]))
        .fail(0, json!([["w", "x", 1]]))
        .txn(1, json!([["r", "x", 1]]));
    assert_lands(&rw(&b), &["G1a"], &["read-committed"]);

    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["w", "x", 1], ["w", "x", 2]])),
        (1, json!([["r", "x", 1]])),
    ]);
    assert_lands(&rw(&b), &["G1b"], &["read-committed"]);

    let mut b = B::default();
    b.txn(0, json!([["w", "x", 1], ["r", "x", 2]]));
    assert_lands(&rw(&b), &["internal"], &["read-atomic"]);

    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["w", "x", 1], ["r", "y", 1]])),
        (1, json!([["w", "y", 1], ["r", "x", 1]])),
    ]);
    assert_lands(&rw(&b), &["G1c"], &["read-committed"]);

    // G-single from the initial state: nil precedes every write.
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["w", "x", 1], ["w", "y", 1]])),
        (1, json!([["r", "x", null], ["r", "y", 1]])),
    ]);
    let r = rw(&b);
    assert_lands(&r, &["G-single"], &["consistent-view", "repeatable-read"]);
    let text = r.details["anomalies"]["G-single"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("the initial state (nil) precedes every write"),
        "{text}"
    );

    // Write skew.
    let mut b = B::default();
    b.concurrent(&[
        (
            0,
            json!([["r", "x", null], ["r", "y", null], ["w", "x", 1]]),
        ),
        (
            1,
            json!([["r", "x", null], ["r", "y", null], ["w", "y", 1]]),
        ),
    ]);
    assert_lands(&rw(&b), &["G2-item"], &["repeatable-read"]);

    // Lost update, garbage and future reads.
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["r", "x", null], ["w", "x", 1]])),
        (1, json!([["r", "x", null], ["w", "x", 2]])),
    ]);
    assert!(rw(&b).anomaly_types.contains(&"lost-update".to_string()));
    let mut b = B::default();
    b.txn(0, json!([["r", "x", 7]]));
    assert_lands(&rw(&b), &["garbage-read"], &["read-uncommitted"]);
    let mut b = B::default();
    b.txn(0, json!([["r", "x", 1], ["w", "x", 1]]));
    assert_lands(&rw(&b), &["future-read"], &["read-committed"]);
}

#[test]
fn rw_register_assumptions_are_needed_and_stated() {
    // T1 read x = 0 and then wrote 1 (so 0 < 1 under wfr-keys); T2 read
    // x = 0 and y = 1 from T1: T2 -rw-> T1 -wr-> T2.
    let mut b = B::default();
    b.txn(0, json!([["w", "x", 0]])).concurrent(&[
        (1, json!([["r", "x", 0], ["w", "x", 1], ["w", "y", 1]])),
        (2, json!([["r", "x", 0], ["r", "y", 1]])),
    ]);
    let h = b.history();
    let plain = rw(&b);
    assert_eq!(plain.verdict, Verdict::Valid, "{:#}", plain.details);
    let c = checkers::by_name("rw-register:serializable+wfr-keys", &Default::default()).unwrap();
    let r = c.check(&h, &Budget::default());
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert_eq!(r.details["anomaly_types"], json!(["G-single"]));
    assert_eq!(r.details["assumptions"], json!(["wfr-keys"]));
    let text = r.details["anomalies"]["G-single"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(text.contains("assumption wfr-keys"), "{text}");
    // sequential-keys: process 0 wrote 1 then 2; process 1 read 2 then 1.
    let mut b = B::default();
    b.txn(0, json!([["w", "x", 1]]))
        .txn(0, json!([["w", "x", 2]]))
        .concurrent(&[(1, json!([["r", "x", 2]])), (2, json!([["r", "x", 1]]))]);
    let c = checkers::by_name(
        "rw-register:serializable+sequential-keys",
        &Default::default(),
    )
    .unwrap();
    let r = c.check(&b.history(), &Budget::default());
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    let mut b2 = B::default();
    b2.txn(0, json!([["w", "x", 1]]))
        .txn(0, json!([["w", "x", 2]]))
        .txn(1, json!([["r", "x", 2]]))
        .txn(1, json!([["r", "x", 1]]));
    let r = c.check(&b2.history(), &Budget::default());
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    // linearizable-keys: x = 1 completed before x = 2 began, so 1 < 2, and
    // T2 read x = 1 but y = 1 from the txn that wrote x = 2.
    let mut b = B::default();
    b.txn(0, json!([["w", "x", 1]]))
        .invoke(1, json!([["w", "x", 2], ["w", "y", 1]]))
        .invoke(2, json!([["r", "x", 1], ["r", "y", 1]]))
        .ok(1, json!([["w", "x", 2], ["w", "y", 1]]))
        .ok(2, json!([["r", "x", 1], ["r", "y", 1]]));
    assert_eq!(rw(&b).verdict, Verdict::Valid);
    let c = checkers::by_name(
        "rw-register:serializable+linearizable-keys",
        &Default::default(),
    )
    .unwrap();
    let r = c.check(&b.history(), &Budget::default());
    assert_eq!(
        r.details["anomaly_types"],
        json!(["G-single"]),
        "{:#}",
        r.details
    );
    let text = r.details["anomalies"]["G-single"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(text.contains("assumption linearizable-keys"), "{text}");
    assert!(checkers::by_name("list-append:serializable+wfr-keys", &Default::default()).is_err());
    assert!(checkers::by_name("rw-register:bogus", &Default::default()).is_err());
}

// ---------------------------------------------------------------------------
// Histories that must pass

#[test]
fn clean_histories_pass() {
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1], ["r", "x", [1]]]))
        .concurrent(&[
            (1, json!([["r", "x", [1]], ["append", "y", 1]])),
            (2, json!([["r", "y", [1]], ["append", "x", 2]])),
        ])
        .txn(0, json!([["r", "x", [1, 2]], ["r", "y", [1]]]));
    let r = la(&b);
    assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
    assert!(r.anomaly_types.is_empty());
    assert_eq!(r.placement.strongest_kept, ["strict-serializable"]);
    // An info txn whose append was seen, and one never seen.
    let mut b = B::default();
    b.invoke(0, json!([["append", "x", 1]]))
        .push(0, EventType::Info, Value::Null)
        .invoke(1, json!([["append", "x", 9]]))
        .push(1, EventType::Info, Value::Null)
        .txn(2, json!([["r", "x", [1]]]));
    assert_eq!(la(&b).verdict, Verdict::Valid);
    // A synthetic strict-serializable history of 2000 txns, with info txns.
    for kind in [Kind::ListAppend, Kind::RwRegister] {
        let spec = txn::synth::TxnSynthSpec {
            kind,
            txns: 2000,
            info_rate: 0.05,
            ..Default::default()
        };
        let h = txn::synth::history(&spec);
        let r = run(kind, &h, "strict-serializable");
        assert_eq!(r.verdict, Verdict::Valid, "{:#}", r.details);
        assert_eq!(r.details["txns"]["total"], 2000);
        // ... and with one stale read injected it is not.
        let bad = txn::synth::history(&txn::synth::TxnSynthSpec {
            inject_stale_read: true,
            ..spec
        });
        let r = run(kind, &bad, "strict-serializable");
        if kind == Kind::ListAppend {
            assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
        }
    }
}

#[test]
fn non_txn_ops_are_counted_not_dropped() {
    let mut b = B::default();
    b.txn(0, json!([["append", "x", 1]]));
    let mut e = Event::new(1, EventType::Invoke, "read", Value::Null);
    e.index = 2;
    e.line = 3;
    b.events.push(e);
    let r = la(&b);
    assert_eq!(r.details["txns"]["not_txn"], 1);
    let w = r.details["warnings"][0].as_str().unwrap();
    assert!(
        w.contains("1 client operations are not txns") && w.contains("`read` on line 3"),
        "{w}"
    );
}

// ---------------------------------------------------------------------------
// Formats and errors

#[test]
fn edn_and_jsonl_histories_are_read() {
    let edn = r#"{:type :invoke, :f :txn, :value [[:append 1 1] [:r 2 nil]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:append 2 1] [:r 1 nil]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:append 1 1] [:r 2 [1]]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:append 2 1] [:r 1 [1]]], :process 1, :index 3}
{:type :info, :f :start, :value nil, :process :nemesis, :index 4}
"#;
    let h = formats::parse(edn.as_bytes(), "h.edn", Some(Format::Edn)).unwrap();
    let r = run(Kind::ListAppend, &h, "serializable");
    assert_eq!(r.anomaly_types, ["G1c"]);
    // Completions alone (as in Elle's own tests): each is a txn invoked at
    // an unknown time, so no real-time order constrains it.
    let edn = r#"{:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y [1]]], :index 1}
{:process 1, :type :ok, :f :txn, :value [[:append :y 1] [:r :x [1]]], :index 3}
"#;
    let h = formats::parse(edn.as_bytes(), "c.edn", Some(Format::Edn)).unwrap();
    let r = run(Kind::ListAppend, &h, "strict-serializable");
    assert_eq!(r.anomaly_types, ["G1c"], "{:#}", r.details);
    assert!(r.details["warnings"][0]
        .as_str()
        .unwrap()
        .contains("2 completions have no invocation"));
    let edn = r#"{:process 0, :type :ok, :f :txn, :value [[:append :x 0]], :index 1}
{:process 1, :type :ok, :f :txn, :value [[:append :x 1]], :index 3}
{:process 0, :type :ok, :f :txn, :value [[:r :x [0 1]]], :index 5}
"#;
    let h = formats::parse(edn.as_bytes(), "c.edn", Some(Format::Edn)).unwrap();
    assert_eq!(
        run(Kind::ListAppend, &h, "strict-serializable").verdict,
        Verdict::Valid
    );
    let jsonl = r#"{"index":0,"process":0,"type":"invoke","f":"txn","value":[["w","a",1]]}
{"index":1,"process":0,"type":"ok","f":"txn","value":[["w","a",1]]}
{"index":2,"process":1,"type":"invoke","f":"txn","value":[["r","a",null]]}
{"index":3,"process":1,"type":"ok","f":"txn","value":[["r","a",1]]}
"#;
    let h = formats::parse(jsonl.as_bytes(), "h.jsonl", Some(Format::Jsonl)).unwrap();
    assert_eq!(
        run(Kind::RwRegister, &h, "strict-serializable").verdict,
        Verdict::Valid
    );
}

#[test]
fn malformed_micro_ops_name_file_line_and_field() {
    let cases = [
        (r#"[["append", 1, 1], ["x", 1, 2]]"#, "value[1][0]"),
        (r#"[["append", [1], 1]]"#, "value[0][1]"),
        (r#"[["append", 1]]"#, "value[0]"),
        (r#"{"a": 1}"#, "value"),
        (r#"[["append", 1, null]]"#, "value[0][2]"),
    ];
    for (v, field) in cases {
        let text = format!(
            "{{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[]}}\n{{\"index\":1,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[]}}\n{{\"index\":2,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":{v}}}\n"
        );
        let h = formats::parse(text.as_bytes(), "bad.jsonl", Some(Format::Jsonl)).unwrap();
        let e = txn::check(&h, &TxnOptions::new(Kind::ListAppend), &Budget::default())
            .err()
            .unwrap_or_else(|| panic!("{v} must be rejected"));
        assert_eq!((e.file.as_str(), e.line), ("bad.jsonl", 3), "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
    }
    // A completion that does not match its invocation.
    let mut b = B::default();
    b.push(0, EventType::Invoke, json!([["append", 1, 1]]))
        .push(0, EventType::Ok, json!([["append", 1, 2]]));
    let e = txn::check(
        &b.history(),
        &TxnOptions::new(Kind::ListAppend),
        &Budget::default(),
    )
    .err()
    .unwrap();
    assert_eq!((e.line, e.field.as_deref()), (2, Some("value[0]")), "{e}");
    // rw-register rejects appends.
    let mut b = B::default();
    b.txn(0, json!([["append", 1, 1]]));
    let e = txn::check(
        &b.history(),
        &TxnOptions::new(Kind::RwRegister),
        &Budget::default(),
    )
    .err()
    .unwrap();
    assert_eq!(e.field.as_deref(), Some("value[0][0]"), "{e}");
}

// ---------------------------------------------------------------------------
// Budget

#[test]
fn an_exhausted_budget_still_shows_a_cycle_and_says_which_search_gave_up() {
    // Write skew needs the G2-item search; G-single is tried first.
    let mut b = B::default();
    b.concurrent(&[
        (
            0,
            json!([["r", "x", null], ["r", "y", null], ["append", "x", 1]]),
        ),
        (
            1,
            json!([["r", "x", null], ["r", "y", null], ["append", "y", 1]]),
        ),
    ])
    .txn(2, json!([["r", "x", [1]], ["r", "y", [1]]]));
    let mut o = TxnOptions::new(Kind::ListAppend);
    o.max_steps = 0;
    o.require = "snapshot-isolation";
    let r = txn::check(&b.history(), &o, &Budget::default()).unwrap();
    // The component's cycle is still shown and classified...
    assert_eq!(r.anomaly_types, ["G2-item"], "{:#}", r.details);
    // ... but whether a G-single hides in it is unknown.
    assert!(
        r.gave_up.iter().any(|g| g.class == "G-single"),
        "{:?}",
        r.gave_up
    );
    assert_eq!(r.verdict, Verdict::Unknown, "{:#}", r.details);
    assert!(r.details["reason"]
        .as_str()
        .unwrap()
        .contains("ran out of steps"));
    // With serializable required, the cycle shown decides.
    o.require = "serializable";
    assert_eq!(
        txn::check(&b.history(), &o, &Budget::default())
            .unwrap()
            .verdict,
        Verdict::Invalid
    );
}

#[test]
fn quadratic_rw_register_inference_is_capped_by_the_memory_budget() {
    // 200 txns read x = nil and 200 write it: 40,000 initial-state rw edges.
    let mut b = B::default();
    let txns: Vec<(u64, Value)> = (0..400u64)
        .map(|i| {
            if i % 2 == 0 {
                (i, json!([["r", "x", null]]))
            } else {
                (i, json!([["w", "x", i]]))
            }
        })
        .collect();
    b.concurrent(&txns);
    let h = b.history();
    let o = TxnOptions::new(Kind::RwRegister);
    let full = txn::check(&h, &o, &Budget::default()).unwrap();
    assert_eq!(full.verdict, Verdict::Valid, "{:#}", full.details);
    assert!(full.details["graph"]["edges"].as_u64().unwrap() >= 40_000);
    let small = Budget {
        max_bytes: 48 * 1000,
        ..Budget::default()
    };
    let capped = txn::check(&h, &o, &small).unwrap();
    assert_eq!(capped.verdict, Verdict::Unknown, "{:#}", capped.details);
    assert!(capped.details["reason"]
        .as_str()
        .unwrap()
        .contains("more than 1000 edges"));
}
