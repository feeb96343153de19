//! The fast paths of the isolation checker's input: the JSONL reader's
//! hand scan (and its parallel split) against the general path, line for
//! line, on synthetic txn histories and on hand-made and mutated lines;
//! the txn parse in parallel parts against the parse in order. Each pair
//! must agree exactly: the same events, warnings and header, or the same
//! error (file, line, field and message).

use checker::formats::{self, Format};
use checker::history::History;
use checker::txn::parse::parse_with;
use checker::txn::Kind;

mod txn_common;
use txn_common::jsonl;

/// Both readers, as one comparable string each (events with their lines,
/// warnings, header; or the error).
fn both(bytes: &[u8]) -> (String, String) {
    let show = |r: Result<History, checker::InputError>| match r {
        Ok(h) => format!("{:?} {:?} {:?}", h.events, h.warnings, h.init),
        Err(e) => format!("error: {e} {e:?}"),
    };
    (
        show(formats::parse(bytes, "h.jsonl", Some(Format::Jsonl))),
        show(formats::parse_jsonl_general(bytes, "h.jsonl")),
    )
}

#[track_caller]
fn same(bytes: &[u8]) {
    let (fast, general) = both(bytes);
    assert_eq!(fast, general, "input:\n{}", String::from_utf8_lossy(bytes));
}

fn synth(kind: Kind, txns: usize, seed: u64, stale: bool) -> History {
    txn_common::synth(kind, txns, seed, stale, 0.1)
}

#[test]
fn the_fast_reader_reads_synthetic_txn_histories_as_the_general_one() {
    for (kind, seed, stale) in [
        (Kind::ListAppend, 1, false),
        (Kind::ListAppend, 2, true),
        (Kind::RwRegister, 3, false),
        (Kind::RwRegister, 4, true),
    ] {
        // Enough lines for several parallel chunks.
        let h = synth(kind, 6000, seed, stale);
        let bytes = jsonl(&h);
        same(&bytes);
        let read = formats::parse(&bytes, "h.jsonl", Some(Format::Jsonl)).unwrap();
        assert_eq!(read.events.len(), h.events.len());
        assert!(read
            .events
            .iter()
            .zip(&h.events)
            .all(|(a, b)| a.value == b.value && a.index == b.index));
    }
}

/// Lines the fast path must read exactly as the general path does, or
/// leave to it: every field, escapes, numbers at the edges, extra fields,
/// a header, blank and CRLF lines, a torn last line.
const LINES: &[&str] = &[
    r#"{"init": [1, 2]}"#,
    r#"{"index":0,"time":5,"process":0,"type":"invoke","f":"txn","value":[["append",1,2],["r",1,null]]}"#,
    r#"{"index":1,"time":-7,"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2","n3"],"n1":[]},"shape":"halves"}"#,
    r#"{"index":2,"process":0,"type":":ok","f":"txn","value":[["append",1,2],["r",1,[2]]],"node":"n1"}"#,
    r#"  { "process" : 1 , "type" : "invoke" , "f" : "txn" , "value" : [ [ "r" , "k\u00e9y\n" , null ] ] }  "#,
    r#"{"process":1,"type":"fail","f":"txn","value":[["r","kéy\n",null]],"error":["timeout",{"at":1}]}"#,
    r#"{"index":null,"time":null,"process":2,"type":"invoke","f":"txn","value":[["w",-9223372036854775808,18446744073709551615]],"key":null,"node":null,"error":null}"#,
    r#"{"process":2,"type":"info","f":"txn","value":[["w",1.5,-0]],"key":[1,"a",true,false,null,{}],"error":"x"}"#,
    "",
    "   ",
    "{\"process\":3,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\r",
    r#"{"process":3,"type":"ok","f":"t\"xn","value":[["r",1,[1e3, 2, 18446744073709551616, -9223372036854775809]]]}"#,
    r#"{"process":4,"type":"invoke","f":"txn","value":[[[[[[[[[[1]]]]]]]]]]}"#,
    r#"{"process":4,"type":"ok","f":"txn","value":[],"process":5}"#,
];

#[test]
fn the_fast_reader_reads_odd_lines_as_the_general_one() {
    let text = LINES.join("\n");
    same(text.as_bytes());
    same(format!("{text}\n").as_bytes());
    // A torn last line.
    same(format!("{text}\n{{\"process\":9,\"type\":\"inv").as_bytes());
    // Each line alone, and after an event (the header and format
    // recognition look at the first line).
    for l in LINES {
        same(l.as_bytes());
        same(format!("{}\n{l}\n", LINES[1]).as_bytes());
    }
}

#[test]
fn the_fast_reader_leaves_errors_to_the_general_path() {
    for bad in [
        // Indices out of order, missing fields, wrong types.
        "{\"index\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":null}\n{\"index\":5,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":null}\n",
        "{\"index\":18446744073709551615,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"txn\"}\n",
        "{\"process\":0,\"type\":\"invoke\"}\n",
        "{\"process\":-1,\"type\":\"invoke\",\"f\":\"txn\"}\n",
        "{\"process\":\"\",\"type\":\"invoke\",\"f\":\"txn\"}\n",
        "{\"process\":\"123456789012345678901\",\"type\":\"invoke\",\"f\":\"txn\"}\n",
        "{\"process\":0,\"type\":\"done\",\"f\":\"txn\"}\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":1}\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"node\":1}\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"time\":1.0}\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[1,]}\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\"} x\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"t\u{1}xn\"}\n",
        "[1]\n",
        "{}\n",
        "not json\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[01]}\n",
    ] {
        same(bad.as_bytes());
        let (fast, _) = both(bad.as_bytes());
        assert!(fast.starts_with("error"), "{bad}: {fast}");
    }
    let deep = format!(
        "{{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":{}1{}}}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    same(deep.as_bytes());
}

/// Every one-byte change of a few lines (deleted, or replaced by a byte
/// that matters to JSON) reads alike both ways, error or not.
#[test]
fn the_fast_reader_agrees_on_mutated_lines() {
    let base = format!("{}\n{}\n{}\n", LINES[1], LINES[3], LINES[6]);
    let b = base.as_bytes();
    let subs: &[u8] = b"\"\\,:[]{}-0.e n\r\n";
    for i in 0..b.len() {
        let mut cut = b.to_vec();
        cut.remove(i);
        same(&cut);
        for &c in subs {
            if b[i] != c {
                let mut m = b.to_vec();
                m[i] = c;
                same(&m);
            }
        }
    }
}

#[test]
fn json_array_and_edn_inputs_keep_their_readers() {
    let h = synth(Kind::ListAppend, 50, 5, false);
    let lines = String::from_utf8(jsonl(&h)).unwrap();
    let array = format!("[{}]", lines.trim_end().replace('\n', ",\n"));
    assert_eq!(formats::detect(array.as_bytes()), Format::Json);
    let from_array = formats::parse(array.as_bytes(), "h.json", None).unwrap();
    let from_lines = formats::parse(lines.as_bytes(), "h.jsonl", None).unwrap();
    assert_eq!(from_array.events.len(), from_lines.events.len());
    assert!(from_array
        .events
        .iter()
        .zip(&from_lines.events)
        .all(|(a, b)| a.value == b.value && a.index == b.index && a.line == b.line));
    let edn = "{:process 0, :type :invoke, :f :txn, :value [[:append 1 2]]}\n{:process 0, :type :ok, :f :txn, :value [[:append 1 2]]}\n";
    assert_eq!(formats::detect(edn.as_bytes()), Format::Edn);
    let e = formats::parse(edn.as_bytes(), "h.edn", None).unwrap();
    assert_eq!(e.events.len(), 2);
    assert_eq!(e.events[1].value, serde_json::json!([["append", 1, 2]]));
}

/// The txn parse in parallel parts (small parts here, so that small
/// histories are split too) gives what the parse in order gives.
#[test]
fn the_txn_parse_in_parts_matches_the_parse_in_order() {
    let show = |r: Result<checker::txn::parse::Txns, checker::InputError>| match r {
        Ok(t) => format!("{t:?}"),
        Err(e) => format!("error: {e}"),
    };
    for (kind, seed, stale) in [
        (Kind::ListAppend, 11, false),
        (Kind::ListAppend, 12, true),
        (Kind::RwRegister, 13, false),
        (Kind::RwRegister, 14, true),
    ] {
        let h = synth(kind, 700, seed, stale);
        let order = show(parse_with(&h, kind, usize::MAX));
        for chunk in [1, 7, 64, 350] {
            assert_eq!(show(parse_with(&h, kind, chunk)), order, "{kind:?} {chunk}");
        }
        // A string value (the interner is needed: read in order) and a bad
        // micro-op late in the history (the first error in history order).
        let mut with_name = h.clone();
        let n = with_name.events.len();
        with_name.events[n - 3].value = serde_json::json!([["r", "k", null]]);
        let mut broken = h.clone();
        broken.events[n - 2].value = serde_json::json!([["nope", 1, 2]]);
        broken.events[n / 2].value = serde_json::json!([["r"]]);
        for h in [&with_name, &broken] {
            let order = show(parse_with(h, kind, usize::MAX));
            for chunk in [1, 7, 64] {
                assert_eq!(show(parse_with(h, kind, chunk)), order, "{kind:?} {chunk}");
            }
        }
    }
}
