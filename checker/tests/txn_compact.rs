//! The compact path of the isolation checkers (`formats::read_txn`: a
//! JSONL file's micro-ops read straight into `u32`s, lists read in place)
//! against the plain path (every value a `serde_json::Value`, then
//! `txn::check`). Both must find the same transactions, the same anomalies
//! with the same words, the same placement, or the same error (file, line,
//! field, message), on synthetic histories, on hand-made lines in every
//! spelling and shape, and on every one-byte change of a few lines.

use checker::checker::{Budget, Checker};
use checker::checkers::by_name;
use checker::formats::{self, Format};
use checker::txn::parse::{parse, parse_prepared, Mop, Seen, Txns};
use checker::txn::{self, Kind, TxnOptions};
use serde_json::Value;

mod txn_common;
use txn_common::{jsonl, synth};

/// The result without its timings.
fn untimed(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.remove("seconds");
            for x in m.values_mut() {
                *x = untimed(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = untimed(x.take());
            }
        }
        _ => {}
    }
    v
}

/// The transactions in words: lists resolved, wherever they are kept.
fn dump(t: &Txns) -> String {
    let mut out = String::new();
    for x in &t.txns {
        out += &format!(
            "{} {:?} {:?} {:?} {} {:?}:",
            x.index, x.complete_index, x.process, x.status, x.call, x.ret
        );
        for m in &x.mops {
            out += &match m {
                Mop::Read(k, s @ Seen::List(..)) => format!(" r{k}={:?}", t.list(s)),
                other => format!(" {other:?}"),
            };
        }
        out.push('\n');
    }
    format!("{out}{} {:?}", t.skipped, t.warnings)
}

/// Both paths on `bytes` for `kind`: the parsed txns and the check's
/// result (or the error), each as one comparable string.
fn both(bytes: &[u8], kind: Kind) -> (String, String) {
    let opts = TxnOptions::new(kind);
    let budget = Budget::default();
    let plain = match formats::parse(bytes, "h.jsonl", Some(Format::Jsonl)) {
        Err(e) => format!("read error: {e} {e:?}"),
        Ok(h) => match (parse(&h, kind), txn::check(&h, &opts, &budget)) {
            (Ok(t), Ok(r)) => format!(
                "{}\n{:?}\n{}\n{:?}",
                dump(&t),
                r.verdict,
                untimed(r.details),
                h.warnings
            ),
            (Err(e), _) | (_, Err(e)) => format!("error: {e} {e:?}"),
        },
    };
    let compact = match formats::read_txn(bytes, "h.jsonl", Some(Format::Jsonl)) {
        Err(e) => format!("read error: {e} {e:?}"),
        Ok((p, _)) => match (
            parse_prepared(&p, kind),
            txn::check_prepared(&p, &opts, &budget),
        ) {
            (Ok(t), Ok(r)) => format!(
                "{}\n{:?}\n{}\n{:?}",
                dump(&t),
                r.verdict,
                untimed(r.details),
                p.history.warnings
            ),
            (Err(e), _) | (_, Err(e)) => format!("error: {e} {e:?}"),
        },
    };
    (plain, compact)
}

#[track_caller]
fn same(bytes: &[u8], kind: Kind) -> String {
    let (plain, compact) = both(bytes, kind);
    if plain != compact {
        // The first line that differs (the whole may be long).
        let (a, b) = plain
            .lines()
            .zip(compact.lines())
            .find(|(a, b)| a != b)
            .unwrap_or(("(shorter)", "(longer)"));
        let input = String::from_utf8_lossy(bytes);
        panic!(
            "{kind:?}: the two paths differ\nplain:   {a}\ncompact: {b}\ninput (first 2000 bytes):\n{}",
            &input[..input.len().min(2000)]
        );
    }
    plain
}

#[test]
fn synthetic_histories_check_alike_both_ways() {
    // Big enough for the parallel parts of the reader, the parse and the
    // reads pass (and one history of each kind with a stale read, which
    // must be found both ways; with no info txns, so that the write it
    // misses surely committed).
    for (kind, txns, seed, stale, info) in [
        (Kind::ListAppend, 20_000, 1, false, 0.05),
        (Kind::ListAppend, 20_000, 2, true, 0.0),
        (Kind::ListAppend, 300, 3, false, 0.3),
        (Kind::RwRegister, 20_000, 4, false, 0.05),
        (Kind::RwRegister, 20_000, 5, true, 0.0),
    ] {
        let bytes = jsonl(&synth(kind, txns, seed, stale, info));
        let (p, _) = formats::read_txn(&bytes, "h.jsonl", None).unwrap();
        assert!(p.compact(), "the synthetic history is read in compact form");
        let out = same(&bytes, kind);
        let verdict = out.lines().rev().nth(2).unwrap_or_default().to_string();
        let want = if stale { "Invalid" } else { "Valid" };
        assert_eq!(verdict, want, "{kind:?} seed {seed}");
    }
}

/// Lines in every spelling and shape: compact ones, and ones the compact
/// form leaves as values (string keys, big or negative numbers, odd
/// spacing, escapes, nested values), nemesis and non-txn ops, a header.
const LINES: &[&str] = &[
    r#"{"init": null}"#,
    r#"{"index":0,"process":0,"type":"invoke","f":"txn","value":[["append",1,1],["r",2,null]]}"#,
    r#"{"index":1,"process":0,"type":"ok","f":"txn","value":[["append",1,1],["r",2,[]]]}"#,
    r#"{"index":2,"process":1,"type":"invoke","f":":txn","value":[[":append",2,3],[":r",1,null]]}"#,
    r#"{"index":3,"process":1,"type":"ok","f":":txn","value":[[":append",2,3],[":r",1,[1]]]}"#,
    r#"{"index":4,"process":2,"type":"invoke","f":"txn","value":[["read",1,null],["append","k",5]]}"#,
    r#"{"index":5,"process":2,"type":"ok","f":"txn","value":[["read",1,[1]],["append","k",5]]}"#,
    r#"{"index":6,"process":"nemesis","type":"info","f":"partition","value":[["n1"],["n2"]]}"#,
    r#"{"index":7,"process":3,"type":"invoke","f":"txn","value":[["append",2,2147483648]]}"#,
    r#"{"index":8,"process":3,"type":"info","f":"txn","value":null}"#,
    r#"{"index":9,"process":4,"type":"invoke","f":"txn","value":[ [ "append" , 1 , 7 ] , ["r", 2, null ] ]}"#,
    r#"{"index":10,"process":4,"type":"ok","f":"txn","value":[["append",1,7],["r",2,[ 3 , 0 ]]]}"#,
    r#"{"index":11,"process":5,"type":"invoke","f":"read","value":[1,2]}"#,
    r#"{"index":12,"process":5,"type":"ok","f":"read","value":[1,2]}"#,
    r#"{"index":13,"process":6,"type":"invoke","f":"txn","value":[["w",1,1],["r",1,null]]}"#,
    r#"{"index":14,"process":6,"type":"fail","f":"txn","value":[["w",1,1],["r",1,null]]}"#,
    r#"{"index":15,"process":7,"type":"invoke","f":"txn","value":[]}"#,
    r#"{"index":16,"process":7,"type":"ok","f":"txn","value":[]}"#,
    r#"{"index":17,"process":8,"type":"invoke","f":"txn","value":[["write",3,4],[":w",3,5],["r",3,null]],"node":"n1"}"#,
    r#"{"index":18,"process":8,"type":"ok","f":"txn","value":[["write",3,4],[":w",3,5],["r",3,5]],"node":"n1"}"#,
    r#"{"index":19,"process":9,"type":"invoke","f":"txn","value":[["append",4,-1]]}"#,
    r#"{"index":20,"process":9,"type":"ok","f":"txn","value":[["append",4,-1]]}"#,
    r#"{"index":21,"process":10,"type":"invoke","f":"txn","value":[["append",4,8],["r",4,null]]}"#,
    r#"{"index":22,"process":10,"type":"ok","f":"txn","value":[["append",4,8],["r",4,[8, 9.5]]]}"#,
    r#"{"index":23,"process":11,"type":"invoke","f":"txn","value":[["r",5,null],["append",5,"x\"y"]]}"#,
    r#"{"index":24,"process":11,"type":"ok","f":"txn","value":[["r",5,[0]],["append",5,"x\"y"]]}"#,
    r#"{"index":25,"process":12,"type":"invoke","f":"txn","value":[["append",6,1]],"error":"timeout"}"#,
    r#"{"index":26,"process":12,"type":"ok","f":"txn","value":[["append",6,1]]}"#,
    r#"{"index":27,"process":13,"type":"invoke","value":[["append",7,1]],"f":"txn"}"#,
    r#"{"index":28,"process":13,"value":[["append",7,1]],"type":"ok","f":"txn"}"#,
];

#[test]
fn hand_made_lines_check_alike_both_ways() {
    let text = LINES.join("\n");
    for kind in [Kind::ListAppend, Kind::RwRegister] {
        same(text.as_bytes(), kind);
        same(format!("{text}\n").as_bytes(), kind);
        // Each op alone (its invocation and completion), after the header.
        for pair in LINES[1..].chunks(2) {
            same(
                format!("{}\n{}\n", LINES[0], pair.join("\n")).as_bytes(),
                kind,
            );
        }
    }
}

/// Values that read in compact form but are wrong for the data model (or
/// for a completion) give the same error, naming the same line and field.
#[test]
fn wrong_micro_ops_get_the_same_error_both_ways() {
    let pair = |inv: &str, done: &str| {
        format!(
            "{{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":{inv}}}\n{{\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":{done}}}\n"
        )
    };
    let cases = [
        // (list-append, rw-register)
        (r#"[["w",1,2]]"#, r#"[["w",1,2]]"#),
        (r#"[["append",1,2]]"#, r#"[["append",1,2]]"#),
        (r#"[["r",1,null]]"#, r#"[["r",1,5]]"#),
        (r#"[["r",1,null]]"#, r#"[["r",1,[1,2]]]"#),
        (r#"[["append",1,null]]"#, r#"[["append",1,null]]"#),
        (r#"[["append",1,[1]]]"#, r#"[["append",1,[1]]]"#),
        (r#"[["write",1,[1]]]"#, r#"[["write",1,[1]]]"#),
        (r#"[["append",1,2]]"#, r#"[["append",1,3]]"#),
        (r#"[["append",1,2]]"#, r#"[["append",1,2],["r",1,[2]]]"#),
        (
            r#"[["append",1,2],["r",1,null]]"#,
            r#"[["r",1,[2]],["append",1,2]]"#,
        ),
        (r#"[["append",1,2]]"#, "null"),
        (r#"[["r",1,null]]"#, r#"[["read",1,[]]]"#),
    ];
    let mut errors = 0;
    for (inv, done) in cases {
        for kind in [Kind::ListAppend, Kind::RwRegister] {
            let out = same(pair(inv, done).as_bytes(), kind);
            errors += usize::from(out.starts_with("error"));
        }
    }
    // Most of these are errors for one data model or the other.
    assert!(errors >= 14, "{errors} errors");
}

/// Every one-byte change of a few lines (deleted, or replaced by a byte
/// that matters to JSON or to the compact form) checks alike both ways.
#[test]
fn mutated_lines_check_alike_both_ways() {
    let base = format!("{}\n{}\n{}\n{}\n", LINES[1], LINES[2], LINES[13], LINES[14]);
    let b = base.as_bytes();
    let subs: &[u8] = b"\"\\,:[]{}-0.e n1r";
    for kind in [Kind::ListAppend, Kind::RwRegister] {
        for i in 0..b.len() {
            let mut cut = b.to_vec();
            cut.remove(i);
            same(&cut, kind);
            for &c in subs {
                if b[i] != c {
                    let mut m = b.to_vec();
                    m[i] = c;
                    same(&m, kind);
                }
            }
        }
    }
}

/// A checker that does not read compact values says so (unknown, with the
/// reason) rather than judging a history whose txn values it cannot see.
#[test]
fn other_checkers_do_not_judge_a_compact_history_blind() {
    let bytes = jsonl(&synth(Kind::ListAppend, 200, 9, false, 0.0));
    let (p, _) = formats::read_txn(&bytes, "h.jsonl", None).unwrap();
    assert!(p.compact());
    let c = by_name("set-full", &Default::default()).unwrap();
    let r = c.check_prepared(&p, &Budget::default());
    assert_eq!(r.verdict, checker::Verdict::Unknown);
    assert!(
        r.details.to_string().contains("compact form"),
        "{}",
        r.details
    );
    // The isolation checker reads it, and finds it valid.
    let la = by_name("list-append", &Default::default()).unwrap();
    assert_eq!(
        la.check_prepared(&p, &Budget::default()).verdict,
        checker::Verdict::Valid
    );
}
