//! History readers: the Porcupine corpus, small literal histories in every
//! format, bad inputs, and no-panic property tests.

use checker::formats::{detect, parse, read_file, Format};
use checker::{Event, EventType, History, InputError, Process};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/porcupine");

const ALL: [Format; 6] = [
    Format::Jsonl,
    Format::Edn,
    Format::Json,
    Format::JepsenText,
    Format::PorcupineEtcd,
    Format::PorcupineKv,
];

fn ev(index: u64, line: usize, process: Process, kind: EventType, f: &str, value: Value) -> Event {
    Event {
        index,
        time: None,
        process,
        kind,
        f: f.to_string(),
        key: None,
        value,
        node: None,
        error: None,
        extra: Default::default(),
        line,
    }
}

fn client(p: u64) -> Process {
    Process::Client(p)
}

fn ok(text: &str, format: Format) -> History {
    match parse(text.as_bytes(), "mem", Some(format)) {
        Ok(h) => h,
        Err(e) => panic!("{} should parse: {e}\n{text}", format.name()),
    }
}

/// Parses `input`, which must fail, and checks that the error names the
/// source, `line` and `field`.
fn bad(input: &[u8], format: Format, line: usize, field: Option<&str>) -> InputError {
    let e = match parse(input, "bad.src", Some(format)) {
        Ok(h) => panic!(
            "{} should fail: {:?}\ngot {} events",
            format.name(),
            String::from_utf8_lossy(&input[..input.len().min(200)]),
            h.events.len()
        ),
        Err(e) => e,
    };
    let shown = e.to_string();
    assert_eq!(e.file, "bad.src", "{shown}");
    assert_eq!((e.line, e.field.as_deref()), (line, field), "{shown}");
    assert!(shown.starts_with(&format!("bad.src:{line}: ")), "{shown}");
    if let Some(f) = field {
        assert!(shown.contains(&format!("field `{f}`")), "{shown}");
    }
    assert!(
        shown.len() < 500,
        "error message too long: {} bytes",
        shown.len()
    );
    e
}

// ---------------------------------------------------------------------------
// The Porcupine corpus.

struct Expected {
    file: String,
    model: String,
    ops: usize,
}

fn expected() -> Vec<Expected> {
    let tsv = std::fs::read_to_string(Path::new(DATA).join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut rows = Vec::new();
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "bad EXPECTED.tsv row {line:?}");
        rows.push(Expected {
            file: cols[0].to_string(),
            model: cols[1].to_string(),
            ops: cols[2].parse().expect("ops column"),
        });
    }
    rows
}

fn data_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(DATA).join(dir))
        .expect("data directory")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_parses_with_expected_op_counts() {
    let rows = expected();
    assert_eq!(rows.len(), 87, "EXPECTED.tsv rows");
    let mut timeouts = [0usize; 3]; // fail read, info write, info cas
    for row in &rows {
        let path = Path::new(DATA).join(&row.file);
        let bytes = std::fs::read(&path).expect("data file");
        let format = match row.model.as_str() {
            "etcd" => Format::PorcupineEtcd,
            "kv" => Format::PorcupineKv,
            m => panic!("unknown model {m}"),
        };
        // Detection: an empty file is (trivially) JSONL, which reads as an
        // empty history too.
        let detected = if bytes.is_empty() {
            Format::Jsonl
        } else {
            format
        };
        assert_eq!(detect(&bytes), detected, "{}", row.file);
        let (h, fmt) = read_file(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fmt, detected, "{}", row.file);
        let explicit = parse(&bytes, &row.file, Some(format)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.events, explicit.events, "{}", row.file);
        assert!(h.warnings.is_empty(), "{}: {:?}", row.file, h.warnings);
        let invokes = h
            .events
            .iter()
            .filter(|e| e.kind == EventType::Invoke)
            .count();
        assert_eq!(invokes, row.ops, "{}: invokes", row.file);

        // One event per line, in order, numbered 0, 1, 2, ...
        let lines = bytes.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(h.events.len(), lines, "{}", row.file);
        for (i, e) in h.events.iter().enumerate() {
            assert_eq!((e.index, e.line), (i as u64, i + 1), "{}", row.file);
            assert!(e.process.is_client());
        }
        // Every invocation pairs with its completion.
        let ops = h.operations().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ops.len(), row.ops, "{}: operations", row.file);

        for e in &h.events {
            match format {
                Format::PorcupineEtcd => {
                    assert!(["read", "write", "cas"].contains(&e.f.as_str()));
                    assert_eq!(e.key, None);
                    match (e.kind, e.f.as_str()) {
                        (EventType::Fail, "read") => {
                            assert_eq!(
                                (&e.value, &e.error),
                                (&Value::Null, &Some(json!("timed-out")))
                            );
                            timeouts[0] += 1;
                        }
                        (EventType::Info, f) => {
                            assert_eq!(
                                (&e.value, &e.error),
                                (&Value::Null, &Some(json!("timed-out")))
                            );
                            timeouts[if f == "write" { 1 } else { 2 }] += 1;
                        }
                        (_, "cas") => {
                            let pair = e.value.as_array().expect("cas value");
                            assert!(pair.len() == 2 && pair.iter().all(Value::is_i64), "{e:?}");
                            assert_eq!(e.error, None);
                        }
                        (_, "write") => assert!(e.value.is_i64() && e.error.is_none(), "{e:?}"),
                        (EventType::Invoke, _) => assert_eq!(e.value, Value::Null),
                        _ => assert!(e.value.is_null() || e.value.is_i64(), "{e:?}"),
                    }
                }
                _ => {
                    assert!(["get", "put", "append"].contains(&e.f.as_str()));
                    assert!(matches!(e.key, Some(Value::String(_))), "{e:?}");
                    assert!(e.value.is_string() || e.value.is_null(), "{e:?}");
                    if e.f == "get" && e.kind == EventType::Invoke {
                        assert_eq!(e.value, Value::Null);
                    }
                }
            }
        }
    }
    assert!(
        timeouts.iter().all(|&n| n > 0),
        "timeouts seen: {timeouts:?}"
    );

    // Every data file is listed.
    let mut listed: Vec<String> = rows.iter().map(|r| r.file.clone()).collect();
    listed.sort();
    let mut on_disk: Vec<String> = ["jepsen", "kv"]
        .iter()
        .flat_map(|d| {
            data_files(d)
                .into_iter()
                .map(move |p| format!("{d}/{}", p.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk);
}

#[test]
fn corpus_first_lines() {
    let (h, _) = read_file(&Path::new(DATA).join("jepsen/etcd_000.log"), None).unwrap();
    assert_eq!(
        h.events[0],
        ev(0, 1, client(0), EventType::Invoke, "read", Value::Null)
    );
    assert_eq!(
        h.events[2],
        ev(2, 3, client(2), EventType::Invoke, "write", json!(4))
    );
    // Space-separated columns.
    let (h, _) = read_file(&Path::new(DATA).join("jepsen/etcd_100.log"), None).unwrap();
    assert_eq!(
        h.events[0],
        ev(0, 1, client(1), EventType::Invoke, "write", json!(3))
    );
    assert_eq!(
        h.events[2],
        ev(2, 3, client(4), EventType::Invoke, "cas", json!([1, 2]))
    );
    let (h, _) = read_file(&Path::new(DATA).join("kv/c01-ok.txt"), None).unwrap();
    let mut e = ev(1, 2, client(0), EventType::Ok, "append", json!("x 0 0 y"));
    e.key = Some(json!("0"));
    assert_eq!(h.events[1], e);
}

// ---------------------------------------------------------------------------
// Small literal histories.

#[test]
fn jsonl_literal() {
    let text = concat!(
        "{\"index\":0,\"time\":1234567,\"process\":3,\"type\":\"invoke\",\"f\":\"write\",\"value\":4,\"node\":\"n2\"}\n",
        "\n",
        "{\"index\":1,\"time\":2234567,\"process\":3,\"type\":\"ok\",\"f\":\"write\",\"value\":4,\"node\":\"n2\"}\r\n",
        "   \n",
        "{\"index\":9,\"time\":9000000,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"partition\",\"value\":{\"n1\":[\"n2\",\"n3\"]}}\n",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k1\",\"extra\":[1,2]}\n",
        "{ \"process\":1,\"type\":\"fail\",\"f\":\"read\",\"key\":\"k1\",\"value\":null,\"error\":\"timed-out\",\"time\":null}\n",
        "{\"index\":20,\"process\":0,\"type\":\":invoke\",\"f\":\"cas\",\"value\":[1,2]}",
    );
    assert_eq!(detect(text.as_bytes()), Format::Jsonl);
    let h = ok(text, Format::Jsonl);
    assert_eq!(h.source, "mem");
    assert!(h.warnings.is_empty());
    let mut e0 = ev(0, 1, client(3), EventType::Invoke, "write", json!(4));
    e0.time = Some(1234567);
    e0.node = Some("n2".into());
    let mut e1 = ev(1, 3, client(3), EventType::Ok, "write", json!(4));
    e1.time = Some(2234567);
    e1.node = Some("n2".into());
    let mut e2 = ev(
        9,
        5,
        Process::Named("nemesis".into()),
        EventType::Info,
        "partition",
        json!({"n1": ["n2", "n3"]}),
    );
    e2.time = Some(9000000);
    let mut e3 = ev(10, 6, client(1), EventType::Invoke, "read", Value::Null);
    e3.key = Some(json!("k1"));
    // A field the reader does not interpret is kept.
    e3.extra.insert("extra".into(), json!([1, 2]));
    let mut e4 = ev(11, 7, client(1), EventType::Fail, "read", Value::Null);
    e4.key = Some(json!("k1"));
    e4.error = Some(json!("timed-out"));
    let e5 = ev(20, 8, client(0), EventType::Invoke, "cas", json!([1, 2]));
    assert_eq!(h.events, vec![e0, e1, e2, e3, e4, e5]);

    // Without indices: ordinals.
    let h = ok(
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":3}\n",
        Format::Jsonl,
    );
    assert_eq!(
        h.events,
        vec![
            ev(0, 1, client(0), EventType::Invoke, "read", Value::Null),
            ev(1, 2, client(0), EventType::Ok, "read", json!(3)),
        ]
    );
    // Empty input, and only blank lines.
    assert!(ok("", Format::Jsonl).events.is_empty());
    assert!(ok("\n\n  \n", Format::Jsonl).events.is_empty());
}

/// What [`JsonlWriter`] writes, the JSONL reader reads back as equal events
/// (every field, extra fields included), line by line in the recorder's
/// field order.
#[test]
fn jsonl_writer_round_trips_through_the_reader() {
    use checker::formats::JsonlWriter;
    let mut a = ev(0, 1, client(3), EventType::Invoke, "cas", json!([1, 2]));
    a.time = Some(100);
    a.key = Some(json!(7));
    a.node = Some("n2".into());
    let mut b = ev(1, 2, client(3), EventType::Fail, "cas", json!([1, 2]));
    b.time = Some(250);
    b.key = Some(json!(7));
    b.node = Some("n2".into());
    b.error = Some(json!({"code": "cas-mismatch", "current": 4}));
    let mut c = ev(
        2,
        3,
        Process::Named("nemesis".into()),
        EventType::Info,
        "partition",
        json!({"n1": ["n2"]}),
    );
    c.time = Some(300);
    c.extra.insert("shape".into(), json!("bridge"));
    c.extra.insert("final".into(), json!(true));
    let d = ev(3, 4, client(4), EventType::Invoke, "read", Value::Null);
    let events = vec![a, b, c, d];
    let mut w = JsonlWriter::new(Vec::new());
    for e in &events {
        w.write(e).unwrap();
    }
    let bytes = w.into_inner();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"index":0,"time":100,"process":3,"type":"invoke","f":"cas","key":7,"value":[1,2],"node":"n2"}"#
    );
    assert_eq!(
        text.lines().nth(2).unwrap(),
        r#"{"index":2,"time":300,"process":"nemesis","type":"info","f":"partition","value":{"n1":["n2"]},"final":true,"shape":"bridge"}"#
    );
    assert_eq!(text.lines().count(), 4);
    let h = ok(&text, Format::Jsonl);
    assert_eq!(h.events, events);
    // A write through a file flushes each line: the file holds it at once.
    let dir = tempfile_dir();
    let path = dir.join("h.jsonl");
    let mut w = JsonlWriter::create(&path).unwrap();
    w.write(&events[0]).unwrap();
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert_eq!(on_disk, format!("{}\n", text.lines().next().unwrap()));
    // create() refuses to overwrite a history.
    assert!(JsonlWriter::create(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory under the target dir (the checker has no tempfile
/// dependency).
fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "checker-formats-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn jsonl_torn_last_line_is_dropped_with_a_warning() {
    let good = "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n";
    for torn in [
        "{\"index\":1,\"process\":0,\"ty",
        "{",
        "{\"index\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":\"\u{e9}",
    ] {
        let text = format!("{good}{torn}");
        let h = parse(text.as_bytes(), "run/history.jsonl", Some(Format::Jsonl)).unwrap();
        assert_eq!(h.events.len(), 1);
        assert_eq!(h.warnings.len(), 1, "{:?}", h.warnings);
        assert!(
            h.warnings[0].starts_with("run/history.jsonl:2:"),
            "{:?}",
            h.warnings
        );
        assert!(h.warnings[0].contains("torn"), "{:?}", h.warnings);
    }
    // Torn in the middle of a multi-byte character.
    let mut bytes = good.as_bytes().to_vec();
    bytes.extend_from_slice(b"{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":\"\xC3");
    let h = parse(&bytes, "h", Some(Format::Jsonl)).unwrap();
    assert_eq!((h.events.len(), h.warnings.len()), (1, 1));
    // A complete last line without a newline is kept.
    let h = ok(good.trim_end(), Format::Jsonl);
    assert_eq!((h.events.len(), h.warnings.len()), (1, 0));
    // A bad last line with its newline is an error, as is a bad line in the
    // middle.
    bad(
        format!("{good}{{\"index\":1,\n").as_bytes(),
        Format::Jsonl,
        2,
        None,
    );
    bad(
        format!("{{\"process\":0,\n{good}").as_bytes(),
        Format::Jsonl,
        1,
        None,
    );
    // A last line that is complete JSON but not a valid op is an error.
    bad(
        format!("{good}{{\"process\":0}}").as_bytes(),
        Format::Jsonl,
        2,
        Some("type"),
    );
}

const EDN_EVENTS: &str = r#"{:type :invoke, :f :write, :value 4, :process 3, :time 1234567, :index 0, :node "n2"}
{:type :ok, :f :write, :value 4, :process 3, :time 2234567, :index 1, :node "n2"}
{:type :info, :f :start-partition, :value {"n1" ["n2" "n3"], :n4 #{:n5}}, :process :nemesis, :time 9000000, :index 9}
{:type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :process 1, :index 10}
{:type :fail, :f :txn, :value [[:append 3 1] [:r 4 nil]], :process 1, :index 11, :error [:timed-out "x"], :key 7}
"#;

fn edn_expected() -> Vec<Event> {
    let mut e0 = ev(0, 1, client(3), EventType::Invoke, "write", json!(4));
    e0.time = Some(1234567);
    e0.node = Some("n2".into());
    let mut e1 = ev(1, 2, client(3), EventType::Ok, "write", json!(4));
    e1.time = Some(2234567);
    e1.node = Some("n2".into());
    let mut e2 = ev(
        9,
        3,
        Process::Named("nemesis".into()),
        EventType::Info,
        "start-partition",
        json!({"n1": ["n2", "n3"], "n4": ["n5"]}),
    );
    e2.time = Some(9000000);
    let txn = json!([["append", 3, 1], ["r", 4, null]]);
    let e3 = ev(10, 4, client(1), EventType::Invoke, "txn", txn.clone());
    let mut e4 = ev(11, 5, client(1), EventType::Fail, "txn", txn);
    e4.error = Some(json!(["timed-out", "x"]));
    e4.key = Some(json!(7));
    vec![e0, e1, e2, e3, e4]
}

#[test]
fn edn_literal() {
    // One map per line.
    assert_eq!(detect(EDN_EVENTS.as_bytes()), Format::Edn);
    let h = ok(EDN_EVENTS, Format::Edn);
    assert_eq!(h.events, edn_expected());

    // A top-level vector (first map on the vector's line), and a list.
    for (open, close) in [("[", "]"), ("(", ")")] {
        let text = format!("{open}{EDN_EVENTS}{close}\n");
        assert_eq!(detect(text.as_bytes()), Format::Edn);
        assert_eq!(ok(&text, Format::Edn).events, edn_expected());
    }

    // Records, tags, comments, discards, several maps on a line.
    let text = r#"; a Jepsen history
#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0, :f :read, :value nil} #_ {:junk 1}
#jepsen.history.Op{:index 1, :time 6, :type :ok, :process 0, :f :read, :value #{1}, :at #inst "2024-01-01T00:00:00.000-00:00"} {:type :invoke, :process 2, :f "write", :value 1.5}
{:type :ok,
 :process 2,
 :f :write,
 :value 123456789012345678901234567890N}
"#;
    assert_eq!(detect(text.as_bytes()), Format::Edn);
    let h = ok(text, Format::Edn);
    let mut a = ev(0, 2, client(0), EventType::Invoke, "read", Value::Null);
    a.time = Some(5);
    let mut b = ev(1, 3, client(0), EventType::Ok, "read", json!([1]));
    b.time = Some(6);
    b.extra
        .insert("at".into(), json!("2024-01-01T00:00:00.000-00:00"));
    let c = ev(2, 3, client(2), EventType::Invoke, "write", json!(1.5));
    let d = ev(
        3,
        4,
        client(2),
        EventType::Ok,
        "write",
        json!("123456789012345678901234567890"),
    );
    assert_eq!(h.events, vec![a, b, c, d]);
    assert!(ok("", Format::Edn).events.is_empty());
    assert!(ok("[]", Format::Edn).events.is_empty());
    assert!(ok("; nothing\n", Format::Edn).events.is_empty());
}

#[test]
fn porcupine_etcd_literal() {
    let text = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                INFO  jepsen.util - 1\t:invoke\t:write\t4\n\
                INFO  jepsen.util - 2   :invoke :cas    [1 2]\n\
                INFO  jepsen.util - 0\t:ok\t:read\tnil\n\
                INFO  jepsen.util - 1\t:ok\t:write\t4\n\
                INFO  jepsen.util - 2\t:fail\t:cas\t[1 2]\n\
                INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                INFO  jepsen.util - 0\t:ok\t:read\t4\n\
                INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                INFO  jepsen.util - 0\t:fail\t:read\t:timed-out\n\
                INFO  jepsen.util - 1\t:invoke\t:cas\t[4 0]\n\
                INFO  jepsen.util - 1\t:ok\t:cas\t[4 0]\n\
                INFO  jepsen.util - 1\t:invoke\t:write\t3\n\
                INFO  jepsen.util - 1\t:info\t:write\t:timed-out\n\
                INFO  jepsen.util - 2\t:invoke\t:cas\t[0 1]\n\
                INFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n";
    assert_eq!(detect(text.as_bytes()), Format::PorcupineEtcd);
    let h = ok(text, Format::PorcupineEtcd);
    use EventType::*;
    let timed_out = |mut e: Event| {
        e.error = Some(json!("timed-out"));
        e
    };
    let expected = vec![
        ev(0, 1, client(0), Invoke, "read", Value::Null),
        ev(1, 2, client(1), Invoke, "write", json!(4)),
        ev(2, 3, client(2), Invoke, "cas", json!([1, 2])),
        ev(3, 4, client(0), Ok, "read", Value::Null),
        ev(4, 5, client(1), Ok, "write", json!(4)),
        ev(5, 6, client(2), Fail, "cas", json!([1, 2])),
        ev(6, 7, client(0), Invoke, "read", Value::Null),
        ev(7, 8, client(0), Ok, "read", json!(4)),
        ev(8, 9, client(0), Invoke, "read", Value::Null),
        timed_out(ev(9, 10, client(0), Fail, "read", Value::Null)),
        ev(10, 11, client(1), Invoke, "cas", json!([4, 0])),
        ev(11, 12, client(1), Ok, "cas", json!([4, 0])),
        ev(12, 13, client(1), Invoke, "write", json!(3)),
        timed_out(ev(13, 14, client(1), Info, "write", Value::Null)),
        ev(14, 15, client(2), Invoke, "cas", json!([0, 1])),
        timed_out(ev(15, 16, client(2), Info, "cas", Value::Null)),
    ];
    assert_eq!(h.events, expected);
    assert!(ok("", Format::PorcupineEtcd).events.is_empty());
    // Jepsen's own log: timestamps and thread names before `jepsen.util`,
    // other log lines and nemesis ops skipped and counted.
    let log = concat!(
        "INFO [2019-04-01 11:25:20,001] main - jepsen.core Running test\n",
        "INFO [2019-04-01 11:25:23,719] jepsen worker 8 - jepsen.util 8\t:invoke\t:read\tnil\n",
        "INFO [2019-04-01 11:25:23,720] jepsen nemesis - jepsen.util :nemesis\t:info\t:start\tnil\n",
        "garbage\n",
        "WARN  jepsen.util - 8\t:ok\t:read\t3\n",
    );
    assert_eq!(detect(log.as_bytes()), Format::PorcupineEtcd);
    let h = ok(log, Format::PorcupineEtcd);
    assert_eq!(
        h.events,
        vec![
            ev(0, 2, client(8), Invoke, "read", Value::Null),
            ev(1, 5, client(8), Ok, "read", json!(3)),
        ]
    );
    assert_eq!(h.warnings.len(), 1, "{:?}", h.warnings);
    assert!(
        h.warnings[0].contains("skipped 3 lines"),
        "{:?}",
        h.warnings
    );
    // A file with no op line at all is not an etcd log.
    bad(b"garbage\nmore\n", Format::PorcupineEtcd, 1, None);
    // CRLF line endings and no final newline.
    let h = ok(
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\r\nINFO  jepsen.util - 0\t:ok\t:read\t2",
        Format::PorcupineEtcd,
    );
    assert_eq!(h.events[1], ev(1, 2, client(0), Ok, "read", json!(2)));
}

#[test]
fn porcupine_kv_literal() {
    let text = "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n\
                {:process 1, :type :invoke, :f :put, :key \"4\", :value \"x 1 0 y\"}\n\
                {:process 0, :type :ok, :f :get, :key \"3\", :value \"\"}\n\
                {:process 1, :type :ok, :f :put, :key \"4\", :value \"x 1 0 y\"}\n\
                {:process 10, :type :invoke, :f :append, :key \"4\", :value \"x 10 0 y\"}\n";
    assert_eq!(detect(text.as_bytes()), Format::PorcupineKv);
    let h = ok(text, Format::PorcupineKv);
    let with_key = |mut e: Event, k: &str| {
        e.key = Some(json!(k));
        e
    };
    use EventType::*;
    assert_eq!(
        h.events,
        vec![
            with_key(ev(0, 1, client(0), Invoke, "get", Value::Null), "3"),
            with_key(ev(1, 2, client(1), Invoke, "put", json!("x 1 0 y")), "4"),
            with_key(ev(2, 3, client(0), Ok, "get", json!("")), "3"),
            with_key(ev(3, 4, client(1), Ok, "put", json!("x 1 0 y")), "4"),
            with_key(
                ev(4, 5, client(10), Invoke, "append", json!("x 10 0 y")),
                "4"
            ),
        ]
    );
    // The same text read as generic EDN gives the same events.
    assert_eq!(ok(text, Format::Edn).events, h.events);
    assert!(ok("", Format::PorcupineKv).events.is_empty());
}

#[test]
fn detection() {
    let cases: &[(&str, Format)] = &[
        ("", Format::Jsonl),
        ("\n  \n", Format::Jsonl),
        ("{\"process\":0}", Format::Jsonl),
        ("\n{ \"process\":0}", Format::Jsonl),
        (
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n",
            Format::PorcupineEtcd,
        ),
        (
            "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}",
            Format::PorcupineKv,
        ),
        ("{:type :invoke, :process 0, :f :read}", Format::Edn),
        (
            "{:process 0, :type :invoke, :f :read, :value nil}",
            Format::Edn,
        ),
        ("[{:type :invoke}]", Format::Edn),
        ("({:type :invoke})", Format::Edn),
        ("; comment\n{:type :invoke}", Format::Edn),
        ("; comment only", Format::Edn),
        ("#jepsen.history.Op{:type :invoke}", Format::Edn),
        ("\u{feff}{\"a\":1}", Format::Jsonl),
    ];
    for (text, format) in cases {
        assert_eq!(detect(text.as_bytes()), *format, "{text:?}");
    }
    // Garbage does not panic.
    let _ = detect(b"\xff\xfe\x00garbage");
    let _ = detect(&[b' '; 10_000]);
    let mut long = b"INFO ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 1 << 20));
    assert_eq!(detect(&long), Format::Jsonl);
}

#[test]
fn format_names_round_trip() {
    for f in ALL {
        assert_eq!(Format::parse_name(f.name()), Some(f));
    }
    assert_eq!(Format::parse_name("xml"), None);
}

// ---------------------------------------------------------------------------
// Bad inputs.

#[test]
fn truncated_and_unterminated() {
    let j = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n";
    bad(
        format!("{j}{{\"process\":0,\"type\":\"ok\"\n{j}").as_bytes(),
        Format::Jsonl,
        2,
        None,
    );

    let m = "{:type :invoke, :f :read, :process 0}\n";
    bad(
        format!("{m}{m}{{:type :ok, :f :read, :process 0, :value [1 2\n").as_bytes(),
        Format::Edn,
        3,
        Some("value"),
    );
    bad(
        format!("{m}{{:type :ok, :f :read, :process 0, :value \"abc\n\n").as_bytes(),
        Format::Edn,
        2,
        Some("value"),
    );
    bad(
        format!("{m}{{:type :ok, :f :read,\n :process 0").as_bytes(),
        Format::Edn,
        2,
        None,
    );
    bad(
        format!("{m}{{:type :ok, :f :read, :process 0, :value\n}}").as_bytes(),
        Format::Edn,
        3,
        Some("value"),
    );
    bad(format!("[{m}{m}").as_bytes(), Format::Edn, 3, None);
    bad(format!("{m}]").as_bytes(), Format::Edn, 2, None);
    bad(
        format!("{m}{{:type :ok, :f :read, :process 0, :value [1 2)}}").as_bytes(),
        Format::Edn,
        2,
        Some("value"),
    );
    bad(
        format!("{m}#jepsen.history.Op").as_bytes(),
        Format::Edn,
        2,
        None,
    );

    let e = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n";
    bad(
        format!("{e}INFO  jepsen.util - 0\t:ok\t:read\n").as_bytes(),
        Format::PorcupineEtcd,
        2,
        Some("value"),
    );
    bad(
        format!("{e}INFO  jepsen.util - 0\t:ok\n").as_bytes(),
        Format::PorcupineEtcd,
        2,
        Some("f"),
    );
    bad(
        format!("{e}INFO  jepsen.util - 0\n").as_bytes(),
        Format::PorcupineEtcd,
        2,
        Some("type"),
    );
    bad(
        format!("{e}INFO  jepsen.util -").as_bytes(),
        Format::PorcupineEtcd,
        2,
        Some("process"),
    );
    // A line that is not an op (here a torn one) is skipped and counted.
    let h = ok(&format!("{e}INFO  jepsen.ut"), Format::PorcupineEtcd);
    assert_eq!(h.events.len(), 1);
    assert!(
        h.warnings[0].contains("skipped 1 lines that are not client ops (the first on line 2)"),
        "{:?}",
        h.warnings
    );
    bad(
        format!("{e}INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2\n").as_bytes(),
        Format::PorcupineEtcd,
        2,
        Some("value"),
    );

    let k = "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n";
    bad(
        format!("{k}{{:process 0, :type :ok, :f :get, :key \"3\", :value \"x 1").as_bytes(),
        Format::PorcupineKv,
        2,
        Some("value"),
    );
    bad(
        format!("{k}{{:process 0, :type :ok, :f :get, :key \"3\"").as_bytes(),
        Format::PorcupineKv,
        2,
        None,
    );
}

#[test]
fn unknown_type() {
    let e = bad(b"{\"process\":0,\"type\":\"invoke\",\"f\":\"r\"}\n{\"process\":0,\"type\":\"started\",\"f\":\"r\"}\n", Format::Jsonl, 2, Some("type"));
    assert!(e.message.contains("started"), "{e}");
    // Field lines in a multi-line EDN map.
    let e = bad(
        b"{:process 0, :f :r, :type :invoke}\n{:process 0,\n :f :r,\n :type :started}\n",
        Format::Edn,
        4,
        Some("type"),
    );
    assert!(e.message.contains("started"), "{e}");
    bad(
        b"INFO  jepsen.util - 0\t:begin\t:read\tnil\n",
        Format::PorcupineEtcd,
        1,
        Some("type"),
    );
    bad(
        b"{:process 0, :type :begin, :f :get, :key \"3\", :value nil}\n",
        Format::PorcupineKv,
        1,
        Some("type"),
    );
}

#[test]
fn wrong_field_types_and_missing_fields() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            r#"{"process":[1],"type":"invoke","f":"r"}"#,
            Some("process"),
        ),
        (r#"{"process":-1,"type":"invoke","f":"r"}"#, Some("process")),
        (
            r#"{"process":1.5,"type":"invoke","f":"r"}"#,
            Some("process"),
        ),
        (r#"{"process":"","type":"invoke","f":"r"}"#, Some("process")),
        (r#"{"process":1,"type":3,"f":"r"}"#, Some("type")),
        (r#"{"process":1,"type":"invoke","f":1}"#, Some("f")),
        (
            r#"{"process":1,"type":"invoke","f":"r","time":"x"}"#,
            Some("time"),
        ),
        (
            r#"{"process":1,"type":"invoke","f":"r","time":1.5}"#,
            Some("time"),
        ),
        (
            r#"{"process":1,"type":"invoke","f":"r","index":-1}"#,
            Some("index"),
        ),
        (
            r#"{"process":1,"type":"invoke","f":"r","index":"0"}"#,
            Some("index"),
        ),
        (
            r#"{"process":1,"type":"invoke","f":"r","node":3}"#,
            Some("node"),
        ),
        // (No process at all is one client, as Elle reads it: see
        // elle_style.rs; a null one is an error.)
        (
            r#"{"process":null,"type":"invoke","f":"r"}"#,
            Some("process"),
        ),
        (r#"{"process":1,"f":"r"}"#, Some("type")),
        (r#"{"process":1,"type":"invoke"}"#, Some("f")),
        (r#"[1,2]"#, None),
        (r#""op""#, None),
    ];
    let good = "{\"process\":9,\"type\":\"invoke\",\"f\":\"r\"}\n";
    for (line, field) in cases {
        bad(
            format!("{good}{line}\n").as_bytes(),
            Format::Jsonl,
            2,
            *field,
        );
    }

    let edn_cases: &[(&str, Option<&str>)] = &[
        ("{:process [1], :type :invoke, :f :r}", Some("process")),
        ("{:process -1, :type :invoke, :f :r}", Some("process")),
        ("{:process 0, :type 3, :f :r}", Some("type")),
        ("{:process 0, :type :invoke, :f nil}", Some("f")),
        ("{:process 0, :type :invoke, :f :r, :time :x}", Some("time")),
        (
            "{:process 0, :type :invoke, :f :r, :index 1.5}",
            Some("index"),
        ),
        ("{:process nil, :type :invoke, :f :r}", Some("process")),
        ("{:process 0, :f :r}", Some("type")),
        ("{:process 0, :type :invoke}", Some("f")),
        ("[:not :a :map]", None),
        (":keyword", None),
        ("12abc", None),
    ];
    let good = "{:process 9, :type :invoke, :f :r}\n";
    for (line, field) in edn_cases {
        bad(format!("{good}{line}\n").as_bytes(), Format::Edn, 2, *field);
    }

    let etcd = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n";
    let etcd_cases: &[(&str, Option<&str>)] = &[
        (
            "INFO  jepsen.util - x\t:invoke\t:read\tnil",
            Some("process"),
        ),
        (
            "INFO  jepsen.util - -1\t:invoke\t:read\tnil",
            Some("process"),
        ),
        ("INFO  jepsen.util - 1\t:invoke\t:delete\tnil", Some("f")),
        ("INFO  jepsen.util - 1\t:invoke\t:read\t3", Some("value")),
        ("INFO  jepsen.util - 1\t:invoke\t:write\tnil", Some("value")),
        (
            "INFO  jepsen.util - 1\t:invoke\t:write\t[1 2]",
            Some("value"),
        ),
        ("INFO  jepsen.util - 1\t:invoke\t:cas\t3", Some("value")),
        (
            "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2 3]",
            Some("value"),
        ),
        (
            "INFO  jepsen.util - 1\t:ok\t:write\t:timed-out",
            Some("value"),
        ),
        ("INFO  jepsen.util - 1\t:ok\t:read\t\"x\"", Some("value")),
    ];
    for (line, field) in etcd_cases {
        bad(
            format!("{etcd}{line}\n").as_bytes(),
            Format::PorcupineEtcd,
            2,
            *field,
        );
    }

    let kv = "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n";
    let kv_cases: &[(&str, Option<&str>)] = &[
        (
            "{:process :nemesis, :type :invoke, :f :get, :key \"3\", :value nil}",
            Some("process"),
        ),
        (
            "{:process 1, :type :invoke, :f :cas, :key \"3\", :value nil}",
            Some("f"),
        ),
        (
            "{:process 1, :type :invoke, :f :get, :value nil}",
            Some("key"),
        ),
        (
            "{:process 1, :type :invoke, :f :get, :key 3, :value nil}",
            Some("key"),
        ),
        (
            "{:process 1, :type :invoke, :f :put, :key \"3\", :value 4}",
            Some("value"),
        ),
    ];
    for (line, field) in kv_cases {
        bad(
            format!("{kv}{line}\n").as_bytes(),
            Format::PorcupineKv,
            2,
            *field,
        );
    }
}

#[test]
fn indices_must_increase() {
    let text = b"{\"index\":3,\"process\":0,\"type\":\"invoke\",\"f\":\"r\"}\n{\"index\":3,\"process\":0,\"type\":\"ok\",\"f\":\"r\"}\n";
    let e = bad(text, Format::Jsonl, 2, Some("index"));
    assert!(e.message.contains("strictly increasing"), "{e}");
    bad(
        b"{\"index\":3,\"process\":0,\"type\":\"invoke\",\"f\":\"r\"}\n\n{\"index\":1,\"process\":0,\"type\":\"ok\",\"f\":\"r\"}\n",
        Format::Jsonl,
        3,
        Some("index"),
    );
    bad(
        b"{:index 5, :process 0, :type :invoke, :f :r}\n{:index 4, :process 0, :type :ok, :f :r}\n",
        Format::Edn,
        2,
        Some("index"),
    );
    // An event without an index follows the previous one.
    let h = ok(
        "{\"index\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"r\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"r\"}\n",
        Format::Jsonl,
    );
    assert_eq!(
        h.events.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![5, 6]
    );
}

#[test]
fn non_utf8() {
    let j = b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":\"\xff\xfe\"}\n".to_vec();
    let e = bad(&j, Format::Jsonl, 2, None);
    assert!(e.message.contains("UTF-8"), "{e}");
    let m = b"{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value \"\xc3\x28\"}\n";
    bad(m, Format::Edn, 2, None);
    let e =
        b"INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t\xff\n";
    bad(e, Format::PorcupineEtcd, 2, None);
    let k = b"{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n\n{:process 0, :type :ok, :f :get, :key \"\x80\", :value nil}\n";
    bad(k, Format::PorcupineKv, 3, None);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(100_000);
    for format in [Format::Edn, Format::PorcupineKv] {
        bad(deep.as_bytes(), format, 1, None);
        let text = format!("{{:type :invoke, :f :r, :process 0}}\n{{:type :ok, :f :r, :process 0, :value {deep}}}\n");
        let e = bad(text.as_bytes(), format, 2, Some("value"));
        assert!(e.message.contains("nesting"), "{e}");
        bad("{:a ".repeat(100_000).as_bytes(), format, 1, Some("a"));
        bad("#{".repeat(100_000).as_bytes(), format, 1, None);
        bad("#_".repeat(100_000).as_bytes(), format, 1, None);
        bad("#tag ".repeat(100_000).as_bytes(), format, 1, None);
    }
    bad(
        format!("{{\"value\":{deep}\n").as_bytes(),
        Format::Jsonl,
        1,
        None,
    );
    bad(
        format!("{{\"value\":{}\n", "{\"a\":".repeat(100_000)).as_bytes(),
        Format::Jsonl,
        1,
        None,
    );
    bad(deep.as_bytes(), Format::PorcupineEtcd, 1, None);
    // Nesting within the cap is fine.
    let ok_deep = format!(
        "{{:type :invoke, :f :r, :process 0, :value {}{}}}",
        "[".repeat(500),
        "]".repeat(500)
    );
    let h = ok(&ok_deep, Format::Edn);
    assert_eq!(h.events.len(), 1);
}

#[test]
fn huge_line() {
    const SIZE: usize = 50 << 20;
    let filler = "a".repeat(SIZE);
    // Built one at a time, to keep memory down.
    let cases: [(Format, &dyn Fn() -> String); 6] = [
        (Format::Jsonl, &|| {
            format!("{{\"process\":0,\"type\":\"invoke\",\"f\":\"r\",\"value\":\"{filler}\n")
        }),
        (Format::Jsonl, &|| format!("{filler}\n")),
        (Format::Edn, &|| {
            format!("{{:type :invoke, :f :r, :process 0, :value \"{filler}")
        }),
        (Format::Edn, &|| filler.clone()),
        (Format::PorcupineEtcd, &|| {
            format!("INFO  jepsen.util - 0\t:invoke\t:write\t{filler}\n")
        }),
        (Format::PorcupineKv, &|| {
            format!("{{:process 0, :type :invoke, :f :get, :key \"{filler}\", :value 4}}")
        }),
    ];
    for (format, text) in cases {
        match parse(text().as_bytes(), "huge", Some(format)) {
            Ok(h) => panic!("{}: parsed {} events", format.name(), h.events.len()),
            Err(e) => {
                let shown = e.to_string();
                assert!(shown.starts_with("huge:1: "), "{shown}");
                assert!(
                    shown.len() < 500,
                    "{}: message of {} bytes",
                    format.name(),
                    shown.len()
                );
            }
        }
    }
    // A huge but valid value is read whole.
    let text = format!("{{:type :invoke, :f :r, :process 0, :value \"{filler}\"}}");
    let h = ok(&text, Format::Edn);
    assert_eq!(h.events[0].value.as_str().map(str::len), Some(SIZE));
    // A huge torn last line is dropped.
    let text = format!("{{\"process\":0,\"type\":\"invoke\",\"f\":\"r\",\"value\":\"{filler}");
    let h = ok(&text, Format::Jsonl);
    assert_eq!((h.events.len(), h.warnings.len()), (0, 1));
    assert!(h.warnings[0].len() < 500);
}

// ---------------------------------------------------------------------------
// No input makes a reader panic.

fn valid_sample(format: Format) -> &'static str {
    match format {
        Format::Jsonl => concat!(
            "{\"index\":0,\"time\":1,\"process\":3,\"type\":\"invoke\",\"f\":\"write\",\"value\":4,\"node\":\"n2\"}\n",
            "{\"index\":1,\"time\":2,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":{\"n1\":[1.5,null,true]}}\n",
            "{\"index\":2,\"time\":3,\"process\":3,\"type\":\"ok\",\"f\":\"write\",\"value\":4,\"error\":\"x\"}\n",
        ),
        Format::Edn => concat!(
            "[{:type :invoke, :f :write, :value 4, :process 3, :time 1, :index 0}\n",
            " #jepsen.history.Op{:type :info, :f :kill, :value {\"n1\" [1.5 nil true \\a]}, :process :nemesis}\n",
            " ; comment\n #_ {:x 1} {:type :ok, :f :write, :value #{-4N \"s\\n\"}, :process 3, :at #inst \"2024\"}]\n",
        ),
        Format::Json => concat!(
            "[{\"index\":0,\"time\":1,\"process\":3,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,2]]},\n",
            " {\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":null},\n",
            " {\"process\":3,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",1,2]]}]\n",
        ),
        Format::JepsenText => concat!(
            "0\t:invoke\t:cas\t[1 2]\n",
            ":nemesis\t:info\t:start\t{\"n1\" #{\"n2\"}}\n",
            "0\t:fail\t:cas\t[1 2]\t:timed-out\n",
            "7\t1\t:invoke\t:read\tnil\n",
        ),
        Format::PorcupineEtcd => concat!(
            "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n",
            "INFO  jepsen.util - 1   :invoke :read   nil\n",
            "INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n",
            "INFO  jepsen.util - 1\t:info\t:read\t:timed-out\n",
        ),
        Format::PorcupineKv => concat!(
            "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n",
            "{:process 0, :type :ok, :f :get, :key \"3\", :value \"x 0 1 y\"}\n",
        ),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutate(base: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut v = base.to_vec();
    for m in muts {
        let n = v.len();
        match *m {
            Mutation::Flip(i, b) if n > 0 => v[i % n] = b,
            Mutation::Insert(i, b) => v.insert(i % (n + 1), b),
            Mutation::Delete(i) if n > 0 => {
                v.remove(i % n);
            }
            Mutation::Truncate(i) => v.truncate(i % (n + 1)),
            _ => {}
        }
    }
    v
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        prop::sample::select(b"[]{}()#_\"\\:;, \n\t0123456789-.eENMnil\xff\xc3".to_vec()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn check_no_panic(bytes: &[u8]) {
    for format in ALL {
        match parse(bytes, "fuzz", Some(format)) {
            Ok(h) => {
                for (i, e) in h.events.iter().enumerate() {
                    assert!(e.line >= 1);
                    if i > 0 {
                        assert!(e.index > h.events[i - 1].index);
                        assert!(e.line >= h.events[i - 1].line);
                    }
                }
            }
            Err(e) => {
                assert_eq!(e.file, "fuzz");
                assert!(e.line >= 1, "{e}");
            }
        }
    }
    let _ = parse(bytes, "fuzz", None);
    let _ = detect(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(interesting_byte(), 0..300)) {
        check_no_panic(&bytes);
    }

    #[test]
    fn mutated_histories_never_panic(
        which in 0usize..4,
        muts in prop::collection::vec(mutation(), 1..8),
    ) {
        let base = valid_sample(ALL[which]).as_bytes();
        check_no_panic(&mutate(base, &muts));
    }
}

#[test]
fn valid_samples_parse() {
    for format in ALL {
        let text = valid_sample(format);
        assert_eq!(detect(text.as_bytes()), format, "{}", format.name());
        let h = ok(text, format);
        assert!(h.events.len() >= 2);
    }
}

#[test]
fn jepsen_independent_tuples_become_keys() {
    // jepsen.independent: every value is [key value]; a read's invocation
    // carries [k nil], a cas [k [old new]]; a completion without a value
    // keeps its invocation's key.
    let text = r#"{:type :invoke, :f :write, :value [1 3], :process 0, :time 1}
{:type :ok, :f :write, :value [1 3], :process 0, :time 2}
{:type :invoke, :f :cas, :value ["a" [nil 4]], :process 2, :time 5}
{:type :info, :f :cas, :value nil, :process 2, :time 6}
{:type :info, :f :start, :value [1 2], :process :nemesis, :time 9}
{:type :invoke, :f :read, :value [1 nil], :process 1, :time 10}
{:type :ok, :f :read, :value [1 5], :process 1, :time 11}
"#;
    let h = ok(text, Format::Edn);
    let kv: Vec<(Option<Value>, Value)> = h
        .events
        .iter()
        .filter(|e| e.process.is_client())
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    assert_eq!(
        kv,
        vec![
            (Some(json!(1)), json!(3)),
            (Some(json!(1)), json!(3)),
            (Some(json!("a")), json!([null, 4])),
            (Some(json!("a")), Value::Null),
            (Some(json!(1)), Value::Null),
            (Some(json!(1)), json!(5)),
        ]
    );
    // The nemesis keeps its value.
    assert_eq!(h.events[4].value, json!([1, 2]));
    assert!(h.warnings.iter().any(|w| w.contains("independent")));
    // Checked per key: key 1 read 5, never written, is the violation.
    let r = checker::check_linearizability(
        &h.operations().unwrap(),
        &checker::LinOptions {
            model: checker::ModelKind::CasRegister,
            ..Default::default()
        },
        "t",
    )
    .unwrap();
    assert_eq!(r.verdict, checker::Verdict::Invalid);
    assert!(r
        .counterexample
        .unwrap()
        .explanation
        .starts_with("In key 1"));

    // Plain cas-register ops look like tuples ([old new]) but are left
    // alone, and so is a history mixing tuples with scalar values.
    for plain in [
        "{:type :invoke, :f :cas, :value [1 2], :process 0}\n{:type :ok, :f :cas, :value [1 2], :process 0}\n",
        "{:type :invoke, :f :write, :value [1 2], :process 0}\n{:type :ok, :f :write, :value [1 2], :process 0}\n{:type :invoke, :f :write, :value 3, :process 0}\n",
    ] {
        let h = ok(plain, Format::Edn);
        assert!(h.events.iter().all(|e| e.key.is_none()), "{plain}");
        assert!(h.warnings.is_empty());
    }
}

// ---------------------------------------------------------------------------
// Jepsen history.txt, Knossos vectors, JSON arrays; named processes.

#[test]
fn jepsen_history_txt() {
    use EventType::*;
    let text = concat!(
        "0\t:invoke\t:cas\t[1 2]\n",
        ":nemesis\t:info\t:start\t{\"n1\" #{\"n2\"}}\n",
        "0\t:fail\t:cas\t[1 2]\t:timed-out\n",
        "\n",
        "1\t:invoke\t:txn\t[[:append 1 2] [:r 1 nil]]\r\n",
        "1\t:ok\t:txn\t[[:append 1 2] [:r 1 [2]]]\n",
    );
    assert_eq!(detect(text.as_bytes()), Format::JepsenText);
    let h = ok(text, Format::JepsenText);
    let mut failed = ev(2, 3, client(0), Fail, "cas", json!([1, 2]));
    failed.error = Some(json!("timed-out"));
    assert_eq!(
        h.events[0],
        ev(0, 1, client(0), Invoke, "cas", json!([1, 2]))
    );
    assert_eq!(
        h.events[1],
        ev(
            1,
            2,
            Process::Named("nemesis".into()),
            Info,
            "start",
            json!({"n1": ["n2"]})
        )
    );
    assert_eq!(h.events[2], failed);
    assert_eq!(h.events[4].value, json!([["append", 1, 2], ["r", 1, [2]]]));
    // Led by the op's index.
    let text = "10\t0\t:invoke\t:read\tnil\n12\t0\t:ok\t:read\t3\n";
    assert_eq!(detect(text.as_bytes()), Format::JepsenText);
    let h = ok(text, Format::JepsenText);
    assert_eq!(h.events[1], ev(12, 2, client(0), Ok, "read", json!(3)));
    // Bad lines name the line and the field.
    let good = "0\t:invoke\t:read\tnil\n";
    bad(
        format!("{good}0\t:ok\t:read\t[1").as_bytes(),
        Format::JepsenText,
        2,
        Some("value"),
    );
    bad(
        format!("{good}0\t:ok\t:read").as_bytes(),
        Format::JepsenText,
        2,
        Some("value"),
    );
    bad(
        format!("{good}x\t:ok\t:read\t1").as_bytes(),
        Format::JepsenText,
        2,
        Some("process"),
    );
    bad(
        format!("{good}0\t:done\t:read\t1").as_bytes(),
        Format::JepsenText,
        2,
        None,
    );
    bad(
        format!("{good}0\t:ok\t:read\t1\t:e\t7").as_bytes(),
        Format::JepsenText,
        2,
        None,
    );
}

#[test]
fn knossos_vector_ops() {
    use EventType::*;
    for text in [
        "[70 :invoke :read nil]\n[70 :ok :read 3]\n[:nemesis :info :start nil]\n[71 :fail :read nil :conn-lost]\n",
        "[[70 :invoke :read nil]\n [70 :ok :read 3]\n [:nemesis :info :start nil]\n [71 :fail :read nil :conn-lost]]\n",
    ] {
        assert_eq!(detect(text.as_bytes()), Format::Edn, "{text}");
        let h = ok(text, Format::Edn);
        assert_eq!(h.events.len(), 4, "{text}");
        assert_eq!(h.events[1], ev(1, 2, client(70), Ok, "read", json!(3)));
        assert_eq!(h.events[2].process, Process::Named("nemesis".into()));
        assert_eq!(h.events[3].error, Some(json!("conn-lost")));
    }
    // A vector that is not an op is refused, naming its line.
    let e = bad(b"[70 :invoke :read nil]\n[1 2]\n", Format::Edn, 2, None);
    assert!(e.message.contains("[process type f value]"), "{e}");
}

#[test]
fn json_array_of_ops() {
    use EventType::*;
    let text = concat!(
        "[\n",
        "  {\"process\": 0, \"type\": \"invoke\", \"f\": \"txn\", \"value\": [[\"append\", 1, 2]]},\n",
        "  {\"process\": 0, \"type\": \"ok\",\n",
        "   \"f\": \"txn\", \"value\": [[\"append\", 1, 2]]}\n",
        "]\n",
    );
    assert_eq!(detect(text.as_bytes()), Format::Json);
    let h = ok(text, Format::Json);
    assert_eq!(
        h.events[1],
        ev(1, 3, client(0), Ok, "txn", json!([["append", 1, 2]]))
    );
    assert_eq!(detect(b"[]"), Format::Json);
    assert!(ok("[]", Format::Json).events.is_empty());
    // Errors name the line of the op.
    let head = "[{\"process\":0,\"type\":\"invoke\",\"f\":\"r\"},\n";
    bad(
        format!("{head} {{\"process\":0,\"type\":\"begun\",\"f\":\"r\"}}]").as_bytes(),
        Format::Json,
        2,
        Some("type"),
    );
    bad(
        format!("{head} {{\"process\":0,\n\"type\":}}]").as_bytes(),
        Format::Json,
        3,
        None,
    );
    bad(format!("{head} 7]").as_bytes(), Format::Json, 2, None);
    bad(head.as_bytes(), Format::Json, 2, None);
    bad(
        format!("{head} {{\"process\":0,\"type\":\"ok\",\"f\":\"r\"}}] x").as_bytes(),
        Format::Json,
        2,
        None,
    );
}

#[test]
fn named_processes_are_counted_and_client_like_ones_warned() {
    // A string of digits is a name, not a client: its ops are not checked,
    // and the warning says so.
    let text = concat!(
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n",
        "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
        "{\"process\":\"1\",\"type\":\"invoke\",\"f\":\"read\"}\n",
        "{\"process\":\"1\",\"type\":\"ok\",\"f\":\"read\",\"value\":2}\n",
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\"}\n",
        "{\"process\":\"reader\",\"type\":\"invoke\",\"f\":\"write\",\"value\":3}\n",
    );
    let h = ok(text, Format::Jsonl);
    let named = h.named_events();
    assert_eq!(named.get("1"), Some(&2));
    assert_eq!(named.get("nemesis"), Some(&1));
    assert_eq!(h.warnings.len(), 2, "{:?}", h.warnings);
    assert!(
        h.warnings
            .iter()
            .any(|w| w.contains("process \"1\"") && w.contains("the number 1")),
        "{:?}",
        h.warnings
    );
    assert!(
        h.warnings
            .iter()
            .any(|w| w.contains("process \"reader\"") && w.contains("(write)")),
        "{:?}",
        h.warnings
    );
    assert!(
        !h.warnings.iter().any(|w| w.contains("nemesis")),
        "{:?}",
        h.warnings
    );
    // Every event on a named process: said once.
    let h = ok("{:process \"one\", :type :invoke, :f :read}\n{:process \"one\", :type :ok, :f :read, :value 2}\n", Format::Edn);
    assert_eq!(h.warnings.len(), 1, "{:?}", h.warnings);
    assert!(h.warnings[0].contains("no client ops"), "{:?}", h.warnings);
    // An integer too large for a process is an error, not a name.
    let e = bad(
        b"{:process 0, :type :invoke, :f :read}\n{:process 123456789012345678901234567, :type :invoke, :f :read}\n",
        Format::Edn,
        2,
        Some("process"),
    );
    assert!(e.message.contains("outside"), "{e}");
    bad(
        b"{\"process\":1e30,\"type\":\"invoke\",\"f\":\"r\"}\n",
        Format::Jsonl,
        1,
        Some("process"),
    );
}

#[test]
fn an_unknown_format_is_not_called_invalid_json() {
    for text in [
        "hello world\n",
        "1 2 3\n",
        "process,type,f\n0,invoke,read\n",
    ] {
        let e = parse(text.as_bytes(), "x.txt", None).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("format was not recognised"), "{e}");
    }
}
