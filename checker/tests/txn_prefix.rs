//! The isolation checkers' prefix mode (the online check): every anomaly
//! found on a closed prefix of a history (every event up to a cut, txns
//! open at the cut pending) is one of the whole history, on random
//! histories of a buggy store and on the synthetic ones; and the literal
//! histories where a prefix must be flagged, or must not be.

use checker::checker::Budget;
use checker::history::{Event, EventType, History};
use checker::txn::{self, lattice, Kind, TxnOptions, TxnResult};
use checker::Verdict;
use serde_json::{json, Value};

mod txn_common;
use txn_common::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Open {
    /// (is write, key, written value).
    plan: Vec<(bool, u64, i64)>,
    /// The completion's micro-ops once applied, and how it ends (0 ok,
    /// 1 info, 2 fail).
    done: Option<(Vec<Value>, u8)>,
}

/// A history of a buggy store: concurrent processes, each txn taking
/// effect at one instant between its invocation and completion, but reads
/// are sometimes stale (list-append: a truncated list; rw-register: an
/// older value or nil), reordered or hold a value nobody wrote; failed txns
/// sometimes take effect anyway; some txns end `info` (taking effect or
/// not); some are still open at the end.
fn buggy(kind: Kind, seed: u64, txns: usize) -> History {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let nproc = 2 + rng.below(3);
    let nkeys = 2 + rng.below(2);
    let mut lists: Vec<Vec<i64>> = vec![Vec::new(); nkeys as usize];
    let mut open: Vec<Option<Open>> = (0..nproc).map(|_| None).collect();
    let mut pid: Vec<u64> = (0..nproc).collect();
    let mut events: Vec<Event> = Vec::new();
    let (mut invoked, mut next) = (0usize, 1i64);
    let (w, r) = match kind {
        Kind::ListAppend => ("append", "r"),
        Kind::RwRegister => ("w", "r"),
    };
    let mut steps = 0;
    loop {
        steps += 1;
        if (invoked >= txns && open.iter().all(Option::is_none)) || steps > txns * 20 {
            break;
        }
        let p = rng.below(nproc) as usize;
        let emit = |kind: EventType, v: Value, events: &mut Vec<Event>| {
            let mut e = Event::new(pid[p], kind, "txn", v);
            e.index = events.len() as u64;
            e.time = Some(events.len() as i64 * 1000);
            e.line = events.len() + 1;
            events.push(e);
        };
        match open[p].take() {
            None => {
                if invoked >= txns {
                    continue;
                }
                let n = 1 + rng.below(3);
                let plan: Vec<(bool, u64, i64)> = (0..n)
                    .map(|_| {
                        let write = rng.chance(50);
                        let k = rng.below(nkeys);
                        let v = if write {
                            next += 1;
                            next - 1
                        } else {
                            0
                        };
                        (write, k, v)
                    })
                    .collect();
                let inv: Vec<Value> = plan
                    .iter()
                    .map(|&(wr, k, v)| {
                        if wr {
                            json!([w, k, v])
                        } else {
                            json!([r, k, null])
                        }
                    })
                    .collect();
                emit(EventType::Invoke, Value::Array(inv), &mut events);
                invoked += 1;
                open[p] = Some(Open { plan, done: None });
            }
            Some(mut o) if o.done.is_none() => {
                // The txn's instant.
                let end = match rng.below(10) {
                    0..=6 => 0u8,
                    7 => 1,
                    _ => 2,
                };
                let takes_effect = match end {
                    0 => true,
                    1 => rng.chance(50),
                    _ => rng.chance(40), // a failed txn that took effect: a bug
                };
                let mut local = lists.clone();
                let mut mops = Vec::new();
                for &(wr, k, v) in &o.plan {
                    let k = k as usize;
                    if wr {
                        local[k].push(v);
                        mops.push(json!([w, k, v]));
                        continue;
                    }
                    let mut seen = local[k].clone();
                    match rng.below(100) {
                        0..=14 if !seen.is_empty() => {
                            let cut = rng.below(seen.len() as u64) as usize;
                            seen.truncate(cut);
                        }
                        15..=18 if seen.len() > 1 => seen.swap(0, 1),
                        19..=20 => seen.push(10_000 + next),
                        _ => {}
                    }
                    let v = match kind {
                        Kind::ListAppend if seen.is_empty() => Value::Null,
                        Kind::ListAppend => json!(seen),
                        Kind::RwRegister => seen.last().map_or(Value::Null, |v| json!(v)),
                    };
                    mops.push(json!([r, k, v]));
                }
                if takes_effect {
                    lists = local;
                }
                o.done = Some((mops, end));
                open[p] = Some(o);
            }
            Some(o) => {
                let (mops, end) = o.done.expect("applied");
                match end {
                    0 => emit(EventType::Ok, Value::Array(mops), &mut events),
                    1 => {
                        emit(EventType::Info, Value::Null, &mut events);
                        pid[p] += nproc;
                    }
                    _ => {
                        let inv = invocation(&Value::Array(mops));
                        emit(EventType::Fail, inv, &mut events);
                    }
                }
            }
        }
    }
    History {
        source: format!("buggy {} seed {seed}", kind.name()),
        events,
        ..Default::default()
    }
}

fn check(kind: Kind, h: &History, param: &str, prefix: bool) -> TxnResult {
    let (model, assume) = match param.split_once('+') {
        Some((m, a)) => (m, Some(a)),
        None => (param, None),
    };
    let mut o = TxnOptions::new(kind);
    o.require = lattice::canonical(model).expect("a model");
    for a in assume.into_iter().flat_map(|a| a.split('+')) {
        assert!(o.assume.set(a), "{a}");
    }
    o.prefix = prefix;
    txn::check(h, &o, &Budget::default()).expect("checks")
}

/// The models a result rules out.
fn ruled_out(r: &TxnResult) -> Vec<&'static str> {
    r.placement
        .not
        .iter()
        .chain(&r.placement.also_not)
        .copied()
        .collect()
}

/// Every cut of `h` (every `step`th event): what the prefix check finds,
/// the whole check finds too: the same classes, and every model a prefix
/// rules out the whole rules out (or else the whole has an
/// `incompatible-order`: a later read contradicted a version order the
/// prefix used, see `checkers::txn`); and a prefix found invalid for the
/// required model means the whole is, always. Returns how many cuts were
/// flagged.
fn prefixes_are_sound(kind: Kind, h: &History, param: &str, step: usize) -> usize {
    let whole = check(kind, h, param, false);
    let out = ruled_out(&whole);
    let mut flagged = 0;
    for cut in (1..h.events.len()).step_by(step.max(1)) {
        let p = History {
            source: format!("{} cut at {cut}", h.source),
            events: h.events[..cut].to_vec(),
            ..Default::default()
        };
        let pr = check(kind, &p, param, true);
        if pr.verdict != Verdict::Invalid && pr.anomaly_types.is_empty() {
            continue;
        }
        flagged += 1;
        let contradicted = whole
            .anomaly_types
            .iter()
            .any(|a| a == "incompatible-order");
        // (A class implied by one the whole has counts: the search reports
        // G-single, not also G-single-realtime.)
        let implied = lattice::implied_anomalies(whole.anomaly_types.iter().map(String::as_str));
        for a in &pr.anomaly_types {
            assert!(
                implied.contains(a) || contradicted,
                "{}, cut at {cut} ({param}): the prefix has {a}, the whole only {:?}\nprefix: {:#}\nwhole: {:#}",
                h.source,
                whole.anomaly_types,
                pr.details["anomalies"],
                whole.details["anomalies"]
            );
        }
        for m in ruled_out(&pr) {
            assert!(
                out.contains(&m) || contradicted,
                "{}, cut at {cut} ({param}): the prefix rules out {m}, the whole does not ({:?} vs {:?})",
                h.source,
                pr.anomaly_types,
                whole.anomaly_types
            );
        }
        if pr.verdict == Verdict::Invalid {
            assert_eq!(
                whole.verdict,
                Verdict::Invalid,
                "{}, cut at {cut} ({param}): the prefix is invalid ({:?}), the whole not ({:?})\n{}",
                h.source,
                pr.anomaly_types,
                whole.anomaly_types,
                h.events.iter().map(|e| serde_json::to_string(e).unwrap()).collect::<Vec<_>>().join("\n")
            );
        }
    }
    flagged
}

#[test]
fn list_append_prefixes_of_buggy_histories_find_only_what_the_whole_has() {
    let mut flagged = 0;
    for seed in 1..=400 {
        let h = buggy(Kind::ListAppend, seed, 14);
        flagged += prefixes_are_sound(Kind::ListAppend, &h, "strict-serializable", 1);
        flagged += prefixes_are_sound(Kind::ListAppend, &h, "read-uncommitted", 3);
    }
    // The generator is buggy enough that many prefixes are flagged.
    assert!(flagged > 1000, "only {flagged} prefixes flagged");
}

#[test]
fn rw_register_prefixes_of_buggy_histories_find_only_what_the_whole_has() {
    let mut flagged = 0;
    for seed in 1..=300 {
        let h = buggy(Kind::RwRegister, seed, 14);
        flagged += prefixes_are_sound(Kind::RwRegister, &h, "strict-serializable", 1);
        flagged += prefixes_are_sound(
            Kind::RwRegister,
            &h,
            "serializable+wfr-keys+sequential-keys+linearizable-keys",
            2,
        );
    }
    assert!(flagged > 500, "only {flagged} prefixes flagged");
}

/// The synthetic histories (strict serializable but for one injected stale
/// read, with info txns): no prefix of a clean one is flagged, and the
/// cuts after the injected read are flagged with what the whole has.
#[test]
fn synthetic_histories_prefixes_agree_with_the_whole() {
    let mut flagged_stale = 0;
    for kind in [Kind::ListAppend, Kind::RwRegister] {
        for seed in 1..=4 {
            let clean = synth(kind, 200, seed, false, 0.05);
            assert_eq!(
                prefixes_are_sound(kind, &clean, "strict-serializable", 7),
                0
            );
            let stale = synth(kind, 200, seed, true, 0.05);
            let flagged = prefixes_are_sound(kind, &stale, "strict-serializable", 7);
            if kind == Kind::ListAppend {
                flagged_stale += flagged;
            }
        }
    }
    // list-append sees an injected stale read as soon as a later read
    // shows what it missed: some proper prefixes are flagged.
    assert!(flagged_stale > 0);
}

/// A prefix that must be flagged: T1 and T2 done, each read the other's
/// append missing (G-single... a write skew here is G2-item), while T3 is
/// still open at the cut; and a read of a failed append (G1a) with a txn
/// open.
#[test]
fn prefixes_with_a_txn_open_are_flagged_for_what_is_settled() {
    let mut b = B::default();
    b.concurrent(&[
        (0, json!([["r", 1, null], ["append", 2, 1]])),
        (1, json!([["r", 2, null], ["append", 1, 1]])),
    ]);
    // T3 open at the cut, appending to both keys.
    b.push(
        2,
        EventType::Invoke,
        json!([["append", 1, 2], ["append", 2, 2]]),
    );
    b.txn(3, json!([["r", 1, [1]], ["r", 2, [1]]]));
    let h = b.history();
    let r = check(Kind::ListAppend, &h, "serializable", true);
    assert_eq!(r.verdict, Verdict::Invalid, "{:#}", r.details);
    assert!(
        r.anomaly_types.iter().any(|a| a == "G2-item"),
        "{:?}",
        r.anomaly_types
    );

    let mut b = B::default();
    b.invoke(0, json!([["append", 1, 1]]));
    b.fail(0, json!([["append", 1, 1]]));
    b.push(1, EventType::Invoke, json!([["append", 1, 2]]));
    b.txn(2, json!([["r", 1, [1]]]));
    let r = check(Kind::ListAppend, &b.history(), "read-committed", true);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(
        r.anomaly_types.iter().any(|a| a == "G1a"),
        "{:?}",
        r.anomaly_types
    );
    // A read of a value no txn in the prefix wrote: garbage.
    let mut b = B::default();
    b.push(1, EventType::Invoke, json!([["w", 1, 2]]));
    b.txn(2, json!([["r", 1, 9]]));
    let r = check(Kind::RwRegister, &b.history(), "read-uncommitted", true);
    assert!(
        r.anomaly_types.iter().any(|a| a == "garbage-read"),
        "{:?}",
        r.anomaly_types
    );
}

/// A txn open at the cut whose appends were read in opposite orders on two
/// keys against a committed one: a G0 cycle if it counted. It may yet
/// fail, and then the whole history has no G0 (a G1a and a dirty update):
/// prefix mode leaves it out; the plain check of the same prefix does not.
/// Once it completed ok, the prefix has the G0, except under
/// read-uncommitted, which allows the incompatible order a later read may
/// yet show (list-append's G0 is off there in prefix mode).
#[test]
fn a_txn_open_at_the_cut_takes_part_in_no_edge() {
    let mut b = B::default();
    b.push(
        0,
        EventType::Invoke,
        json!([["append", 1, 1], ["append", 2, 2]]),
    );
    b.txn(1, json!([["append", 1, 3], ["append", 2, 4]]));
    b.txn(2, json!([["r", 1, [1, 3]], ["r", 2, [4, 2]]]));
    let prefix = b.history();
    let plain = check(Kind::ListAppend, &prefix, "read-committed", false);
    assert!(
        plain.anomaly_types.iter().any(|a| a == "G0"),
        "{:?}",
        plain.anomaly_types
    );
    assert_eq!(plain.verdict, Verdict::Invalid);
    let p = check(Kind::ListAppend, &prefix, "read-committed", true);
    assert_eq!(p.verdict, Verdict::Valid, "{:#}", p.details);
    assert!(p.anomaly_types.is_empty(), "{:?}", p.anomaly_types);
    // The open txn fails: the whole has a G1a and no G0, and is
    // read-uncommitted.
    let mut failed = B {
        events: b.events.clone(),
    };
    failed.push(
        0,
        EventType::Fail,
        json!([["append", 1, 1], ["append", 2, 2]]),
    );
    let whole = check(
        Kind::ListAppend,
        &failed.history(),
        "read-uncommitted",
        false,
    );
    assert_eq!(whole.verdict, Verdict::Valid, "{:?}", whole.anomaly_types);
    assert!(whole.anomaly_types.iter().any(|a| a == "G1a"));
    assert!(!whole.anomaly_types.iter().any(|a| a == "G0"));
    // Completed ok instead: the prefix mode finds the G0 once the
    // completion is in the prefix, but not under read-uncommitted.
    let mut ok = B {
        events: b.events.clone(),
    };
    ok.push(
        0,
        EventType::Ok,
        json!([["append", 1, 1], ["append", 2, 2]]),
    );
    let p = check(Kind::ListAppend, &ok.history(), "read-committed", true);
    assert!(
        p.anomaly_types.iter().any(|a| a == "G0"),
        "{:?}",
        p.anomaly_types
    );
    assert_eq!(p.verdict, Verdict::Invalid);
    let p = check(Kind::ListAppend, &ok.history(), "read-uncommitted", true);
    assert_eq!(p.verdict, Verdict::Valid, "{:?}", p.anomaly_types);
    assert!(
        p.details["notes"].to_string().contains("G0"),
        "{}",
        p.details["notes"]
    );
    let whole = check(Kind::ListAppend, &ok.history(), "read-uncommitted", false);
    assert_eq!(whole.verdict, Verdict::Invalid);
}

/// The registry passes prefix mode on to the isolation checkers.
#[test]
fn the_registry_builds_isolation_checkers_in_prefix_mode() {
    let mut b = B::default();
    b.push(
        0,
        EventType::Invoke,
        json!([["append", 1, 1], ["append", 2, 2]]),
    );
    b.txn(1, json!([["append", 1, 3], ["append", 2, 4]]));
    b.txn(2, json!([["r", 1, [1, 3]], ["r", 2, [4, 2]]]));
    let h = b.history();
    let opts = checker::checkers::Options {
        prefix: true,
        ..Default::default()
    };
    let c = checker::checkers::by_name("list-append:read-committed", &opts).unwrap();
    assert_eq!(c.check(&h, &Budget::default()).verdict, Verdict::Valid);
    let c = checker::checkers::by_name("list-append:read-committed", &Default::default()).unwrap();
    assert_eq!(c.check(&h, &Budget::default()).verdict, Verdict::Invalid);
}
