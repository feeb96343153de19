//! End-to-end tests of `faultline check`: the real binary on files written to
//! a temporary directory and on the Porcupine corpus in `../shared/data/`.
//!
//! Exit codes: 0 all valid, 1 any invalid, 2 any unknown, 255 bad input or
//! internal error. Bad input must name the file, the line and (where one
//! applies) the field, and must never panic.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/porcupine");

// ---------------------------------------------------------------------------
// Helpers

/// What one run of the binary produced.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    args: Vec<String>,
}

impl Run {
    /// Context for assertion messages.
    fn show(&self) -> String {
        let cut = |s: &str| -> String { s.chars().take(4000).collect() };
        format!(
            "faultline {}\nexit code: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }

    fn json(&self) -> Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not JSON ({e})\n{}", self.show()),
        }
    }

    /// No panic message, whatever the outcome.
    fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "the binary panicked\n{}",
            self.show()
        );
    }
}

/// Runs `faultline check ARGS...`.
fn check<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("check");
    cmd.args(args);
    cmd.env_remove("RUST_LOG");
    let out = cmd.output().expect("run the faultline binary");
    let run = Run {
        // A process killed by a signal has no code: report it as -1.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        args: std::iter::once("check".to_string())
            .chain(
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy().into_owned()),
            )
            .collect(),
    };
    run.assert_no_panic();
    run
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A temporary directory for one test's files.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("create a temporary directory"))
    }

    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let p = self.0.path().join(name);
        std::fs::write(&p, bytes).expect("write a history file");
        s(&p)
    }
}

fn data(rel: &str) -> String {
    s(&Path::new(DATA).join(rel))
}

/// Checks the per-file JSON contract and returns the files' verdicts.
fn assert_report_shape(run: &Run, doc: &Value, files: &[String]) -> Vec<String> {
    let reports = doc["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no `files` array\n{}", run.show()));
    assert_eq!(
        reports.len(),
        files.len(),
        "one report per file\n{}",
        run.show()
    );
    let mut verdicts = Vec::new();
    for (r, f) in reports.iter().zip(files) {
        assert_eq!(
            r["file"].as_str(),
            Some(f.as_str()),
            "input order\n{}",
            run.show()
        );
        let verdict = r["verdict"].as_str().unwrap_or_default().to_string();
        assert!(
            ["valid", "invalid", "unknown", "error"].contains(&verdict.as_str()),
            "bad verdict {verdict:?} for {f}\n{}",
            run.show()
        );
        assert!(r["ops"].is_u64(), "`ops` for {f}\n{}", run.show());
        let secs = r["seconds"].as_f64();
        assert!(
            matches!(secs, Some(x) if x >= 0.0),
            "`seconds` for {f}\n{}",
            run.show()
        );
        match verdict.as_str() {
            "invalid" => {
                let cx = &r["counterexample"];
                assert!(
                    cx.is_object(),
                    "invalid without counterexample: {f}\n{}",
                    run.show()
                );
                assert!(cx["op"].is_object(), "counterexample.op: {f}");
                assert!(
                    cx["linearized"].is_array(),
                    "counterexample.linearized: {f}"
                );
                assert!(cx["state"].is_string(), "counterexample.state: {f}");
                assert!(
                    cx["candidates"].is_array(),
                    "counterexample.candidates: {f}"
                );
                for c in cx["candidates"].as_array().into_iter().flatten() {
                    assert!(
                        c["op"].is_object() && c["reason"].is_string(),
                        "candidate {c}"
                    );
                }
            }
            "unknown" => assert!(r["reason"].is_string(), "unknown without reason: {f}"),
            "error" => {
                let e = &r["error"];
                assert_eq!(
                    e["file"].as_str(),
                    Some(f.as_str()),
                    "error.file\n{}",
                    run.show()
                );
                assert!(e["line"].is_u64() && e["message"].is_string(), "error: {e}");
            }
            _ => assert!(
                r.get("counterexample").is_none(),
                "valid with counterexample"
            ),
        }
        verdicts.push(verdict);
    }
    let summary = &doc["summary"];
    let count = |v: &str| verdicts.iter().filter(|x| *x == v).count() as u64;
    assert_eq!(summary["files"].as_u64(), Some(files.len() as u64));
    assert_eq!(summary["valid"].as_u64(), Some(count("valid")));
    assert_eq!(summary["invalid"].as_u64(), Some(count("invalid")));
    assert_eq!(summary["unknown"].as_u64(), Some(count("unknown")));
    assert_eq!(summary["errors"].as_u64(), Some(count("error")));
    assert_eq!(
        summary["exit"].as_i64(),
        Some(run.code as i64),
        "summary.exit"
    );
    verdicts
}

/// Runs `check --json ARGS... FILES...`, checks the JSON shape, and returns
/// the run, the document and the verdicts in file order.
fn check_json(extra: &[&str], files: &[String]) -> (Run, Value, Vec<String>) {
    let mut args: Vec<String> = vec!["--json".to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(files.iter().cloned());
    let run = check(&args);
    let doc = run.json();
    let verdicts = assert_report_shape(&run, &doc, files);
    (run, doc, verdicts)
}

/// One table row: (file, ops, verdict, seconds).
fn table_rows(run: &Run) -> (Vec<(String, u64, String, f64)>, String) {
    let lines: Vec<&str> = run.stdout.lines().collect();
    let header: Vec<&str> = lines
        .first()
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        header,
        ["file", "ops", "verdict", "seconds"],
        "{}",
        run.show()
    );
    let mut rows = Vec::new();
    for line in &lines[1..] {
        if line.contains(" files: ") {
            return (rows, line.to_string());
        }
        let rest: Vec<&str> = line.split_whitespace().collect();
        let n = rest.len();
        assert!(n >= 4, "table row {line:?}\n{}", run.show());
        rows.push((
            rest[..n - 3].join(" "),
            rest[n - 3]
                .parse()
                .unwrap_or_else(|_| panic!("ops in {line:?}")),
            rest[n - 2].to_string(),
            rest[n - 1]
                .parse()
                .unwrap_or_else(|_| panic!("seconds in {line:?}")),
        ));
    }
    panic!("no summary line\n{}", run.show());
}

// Small histories.

const VALID_JSONL: &str = r#"{"index":0,"time":100,"process":0,"type":"invoke","f":"write","value":1,"node":"n1"}
{"index":1,"time":200,"process":0,"type":"ok","f":"write","value":1,"node":"n1"}
{"index":2,"time":250,"process":"nemesis","type":"info","f":"partition","value":{"n1":["n2","n3"]}}
{"index":3,"time":300,"process":1,"type":"invoke","f":"read","value":null,"node":"n2"}
{"index":4,"time":400,"process":1,"type":"ok","f":"read","value":1,"node":"n2","extra":"ignored"}
"#;

/// A read of a value never written.
const INVALID_JSONL: &str = r#"{"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"invoke","f":"read","value":null}
{"process":1,"type":"ok","f":"read","value":2}
"#;

const VALID_EDN: &str = "; a Jepsen history\n\
{:index 0, :type :invoke, :f :write, :value 3, :process 0, :time 10}\n\
{:index 1, :type :ok, :f :write, :value 3, :process 0, :time 20}\n\
{:index 2, :type :invoke, :f :read, :value nil, :process 1, :time 30}\n\
{:index 3, :type :ok, :f :read, :value 3, :process 1, :time 40}\n";

/// A long linearizable register history: rounds of two concurrent writes
/// and a read of the second. Any search must take at least one step per
/// write, far more than one deadline-check interval, so `--timeout 0` (and
/// `--max-memory 0`) always give `unknown`, however clever the search.
fn long_history(rounds: usize) -> String {
    use std::fmt::Write as _;
    let mut h = String::with_capacity(rounds * 260);
    for r in 0..rounds {
        let (a, b) = (2 * r, 2 * r + 1);
        let _ = writeln!(
            h,
            r#"{{"process":0,"type":"invoke","f":"write","value":{a}}}"#
        );
        let _ = writeln!(
            h,
            r#"{{"process":1,"type":"invoke","f":"write","value":{b}}}"#
        );
        let _ = writeln!(h, r#"{{"process":0,"type":"ok","f":"write","value":{a}}}"#);
        let _ = writeln!(h, r#"{{"process":1,"type":"ok","f":"write","value":{b}}}"#);
        let _ = writeln!(
            h,
            r#"{{"process":2,"type":"invoke","f":"read","value":null}}"#
        );
        let _ = writeln!(h, r#"{{"process":2,"type":"ok","f":"read","value":{b}}}"#);
    }
    h
}

const HARD_ROUNDS: usize = 10_000;

/// Writes the long history into `d` and returns its path.
fn hard(d: &Dir) -> String {
    d.file("long.jsonl", long_history(HARD_ROUNDS))
}

// ---------------------------------------------------------------------------
// Exit codes and output

#[test]
fn exit_codes() {
    let d = Dir::new();
    let valid = d.file("valid.jsonl", VALID_JSONL);
    let invalid = d.file("invalid.jsonl", INVALID_JSONL);
    let bad = d.file(
        "bad.jsonl",
        "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
    );

    let r = check(&[&valid]);
    assert_eq!(r.code, 0, "{}", r.show());
    let r = check(&[&invalid]);
    assert_eq!(r.code, 1, "{}", r.show());
    let h = hard(&d);
    let r = check(&["--timeout", "0", &h]);
    assert_eq!(r.code, 2, "{}", r.show());
    let r = check(&[&h]);
    assert_eq!(r.code, 0, "without a budget it is valid\n{}", r.show());
    let r = check(&[&bad]);
    assert_eq!(r.code, 255, "{}", r.show());

    // Merged over files: error > invalid > unknown > valid.
    for (files, code) in [
        (vec![&valid, &valid], 0),
        (vec![&valid, &invalid], 1),
        (vec![&valid, &h], 2),
        (vec![&h, &invalid, &valid], 1),
        (vec![&invalid, &h, &bad, &valid], 255),
    ] {
        let mut args = vec!["--timeout", "0"];
        args.extend(files.iter().map(|f| f.as_str()));
        let r = check(&args);
        assert_eq!(r.code, code, "{}", r.show());
    }
}

#[test]
fn unknown_from_time_and_memory_budgets() {
    let d = Dir::new();
    let h = hard(&d);
    let (run, doc, v) = check_json(&["--timeout", "0"], std::slice::from_ref(&h));
    assert_eq!((run.code, v[0].as_str()), (2, "unknown"), "{}", run.show());
    let reason = doc["files"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("time budget"), "{reason}");

    let (run, doc, v) = check_json(&["--max-memory", "0"], std::slice::from_ref(&h));
    assert_eq!((run.code, v[0].as_str()), (2, "unknown"), "{}", run.show());
    let reason = doc["files"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("memory budget"), "{reason}");

    // The table shows the reason too.
    let r = check(&["--timeout", "0", &h]);
    assert!(r.stdout.contains("unknown: time budget"), "{}", r.show());
}

#[test]
fn json_output_shape() {
    let d = Dir::new();
    let files = vec![
        d.file("valid.jsonl", VALID_JSONL),
        d.file("invalid.jsonl", INVALID_JSONL),
        hard(&d),
        d.file("valid.edn", VALID_EDN),
        d.file("bad.edn", "{:process 0 :type :nope :f :read}\n"),
    ];
    let (run, doc, verdicts) = check_json(&["--timeout", "0"], &files);
    assert_eq!(run.code, 255, "{}", run.show());
    assert_eq!(verdicts, ["valid", "invalid", "unknown", "valid", "error"]);
    let reports = doc["files"].as_array().expect("files");
    assert_eq!(reports[0]["ops"], 2, "the nemesis line is not a client op");
    assert_eq!(reports[0]["format"], "jsonl");
    assert_eq!(reports[0]["model"], "register");
    assert_eq!(reports[3]["format"], "edn");

    // The counterexample of the invalid file: the stuck read, with line and
    // a reason for each candidate.
    let cx = &reports[1]["counterexample"];
    assert_eq!(cx["op"]["f"], "read");
    assert_eq!(cx["op"]["output"], 2);
    assert_eq!(cx["op"]["complete_line"], 4);
    assert_eq!(cx["state"], "1");
    assert_eq!(cx["linearized"].as_array().map(Vec::len), Some(1));
    let reasons: Vec<&str> = cx["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(|c| c["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("read returned 2")),
        "{reasons:?}"
    );

    // The error report names the line and the field.
    let e = &reports[4]["error"];
    assert_eq!(
        (e["line"].as_u64(), e["field"].as_str()),
        (Some(1), Some("type"))
    );

    // --json prints nothing but the document on stdout; the error goes to
    // stderr as well.
    assert!(run.stdout.trim_start().starts_with('{'));
    assert!(run.stderr.contains("bad.edn:1:"), "{}", run.show());
}

#[test]
fn table_has_one_line_per_file_and_a_summary() {
    let d = Dir::new();
    let files = [
        d.file("valid.jsonl", VALID_JSONL),
        d.file("invalid.jsonl", INVALID_JSONL),
        hard(&d),
        d.file("bad.jsonl", "not json\n"),
        d.file("empty.jsonl", ""),
    ];
    let mut args = vec!["--timeout".to_string(), "0".to_string()];
    args.extend(files.iter().cloned());
    let run = check(&args);
    assert_eq!(run.code, 255, "{}", run.show());
    let (rows, summary) = table_rows(&run);
    let got: Vec<(&str, u64, &str)> = rows
        .iter()
        .map(|(f, o, v, _)| (f.as_str(), *o, v.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (files[0].as_str(), 2, "valid"),
            (files[1].as_str(), 2, "invalid"),
            (files[2].as_str(), 3 * HARD_ROUNDS as u64, "unknown"),
            (files[3].as_str(), 0, "error"),
            (files[4].as_str(), 0, "valid"),
        ],
        "{}",
        run.show()
    );
    assert!(rows.iter().all(|r| r.3 >= 0.0));
    assert!(
        summary.starts_with("5 files: 2 valid, 1 invalid, 1 unknown, 1 errors in "),
        "{summary}"
    );
    // After the summary: the counterexample paragraph and the unknown reason.
    let after = run.stdout.split(&summary).nth(1).unwrap_or_default();
    assert!(after.contains(&format!("{}: ", files[1])), "{}", run.show());
    assert!(
        after.contains(&format!("{}: unknown: ", files[2])),
        "{}",
        run.show()
    );
}

#[test]
fn explain_prints_the_counterexample() {
    let d = Dir::new();
    let f = d.file("invalid.jsonl", INVALID_JSONL);
    let r = check(&["--explain", &f]);
    assert_eq!(r.code, 1, "{}", r.show());
    for needle in [
        "longest linearizable prefix (1 ops)",
        "state: 1",
        "could not linearize: process 1 read 2",
        "candidates for the next step",
        "read returned 2 but the register holds 1",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?}\n{}",
            r.show()
        );
    }
}

#[test]
fn several_files_reported_in_input_order() {
    let d = Dir::new();
    // Names and sizes chosen so that neither alphabetical order nor
    // completion order matches the input order.
    let files = vec![
        d.file("z-invalid.jsonl", INVALID_JSONL),
        data("kv/c50-ok.txt"),
        d.file("a-valid.jsonl", VALID_JSONL),
        data("jepsen/etcd_000.log"),
        d.file("m-valid.edn", VALID_EDN),
        data("kv/c01-bad.txt"),
        data("jepsen/etcd_002.log"),
        d.file("b-empty.jsonl", ""),
    ];
    let (run, _, verdicts) = check_json(&[], &files);
    assert_eq!(run.code, 1, "{}", run.show());
    assert_eq!(
        verdicts,
        ["invalid", "valid", "valid", "invalid", "valid", "invalid", "valid", "valid"]
    );
    let run = check(&files);
    let (rows, _) = table_rows(&run);
    let order: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(order, files.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn empty_files_are_valid() {
    let d = Dir::new();
    let files = vec![
        d.file("empty.jsonl", ""),
        d.file("empty.edn", ""),
        d.file("blank.jsonl", "\n\n  \n"),
        d.file("comment.edn", ";; nothing happened\n"),
        d.file("empty-vector.edn", "[]\n"),
        data("jepsen/etcd_095.log"),
    ];
    let (run, doc, verdicts) = check_json(&[], &files);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(verdicts.iter().all(|v| v == "valid"), "{}", run.show());
    for r in doc["files"].as_array().into_iter().flatten() {
        assert_eq!(r["ops"], 0, "{r}");
    }
    for model in ["register", "kv", "mutex", "fifo-queue"] {
        let (run, _, v) = check_json(&["--model", model], &files[..1]);
        assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    }
}

// ---------------------------------------------------------------------------
// Options

#[test]
fn format_overrides_detection() {
    let d = Dir::new();
    let kv = "{:process 0, :type :invoke, :f :put, :key \"1\", :value \"a\"}\n\
              {:process 0, :type :ok, :f :put, :key \"1\", :value \"a\"}\n\
              {:process 1, :type :invoke, :f :get, :key \"1\", :value nil}\n\
              {:process 1, :type :ok, :f :get, :key \"1\", :value \"a\"}\n";
    let f = d.file("kv.txt", kv);

    let (run, doc, v) = check_json(&[], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    assert_eq!(doc["files"][0]["format"], "porcupine-kv");
    assert_eq!(doc["files"][0]["model"], "kv");

    let (run, doc, v) = check_json(&["--format", "edn"], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    assert_eq!(doc["files"][0]["format"], "edn");

    // Forcing a format that does not fit is an error naming line 1.
    for fmt in ["jsonl", "porcupine-etcd"] {
        let r = check(&["--format", fmt, &f]);
        assert_eq!(r.code, 255, "{}", r.show());
        assert!(r.stderr.contains(&format!("{f}:1:")), "{}", r.show());
    }

    // An EDN register history is not a Porcupine kv log: the kv reader
    // rejects its `f` on line 1.
    let e = d.file("reg.edn", VALID_EDN);
    let r = check(&["--format", "porcupine-kv", &e]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(
        r.stderr.contains(&format!("{e}:2: field `f`")),
        "{}",
        r.show()
    );

    // A Porcupine etcd log detected by content whatever its name.
    let log = std::fs::read(data("jepsen/etcd_000.log")).expect("read etcd_000");
    let g = d.file("history.jsonl", log);
    let (run, doc, v) = check_json(&[], std::slice::from_ref(&g));
    assert_eq!((run.code, v[0].as_str()), (1, "invalid"), "{}", run.show());
    assert_eq!(doc["files"][0]["format"], "porcupine-etcd");
    assert_eq!(doc["files"][0]["model"], "cas-register");
}

#[test]
fn model_overrides_inference() {
    let d = Dir::new();
    // A get of the empty string on a fresh key: fine for kv (absent reads as
    // ""), but a register starts at nil, not "".
    let f = d.file(
        "get.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"value\":null}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k\",\"value\":\"\"}\n",
    );
    let (run, doc, v) = check_json(&[], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    assert_eq!(doc["files"][0]["model"], "kv");

    let (run, doc, v) = check_json(&["--model", "register"], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (1, "invalid"), "{}", run.show());
    assert_eq!(doc["files"][0]["model"], "register");

    // A model that does not know the operation: an error naming the field.
    let r = check(&["--model", "mutex", &f]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(
        r.stderr.contains(&format!("{f}:1: field `f`")),
        "{}",
        r.show()
    );

    // The Porcupine etcd default (cas-register) can be overridden too: the
    // plain register model has no cas.
    let r = check(&["--model", "register", &data("jepsen/etcd_000.log")]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains("field `f`"), "{}", r.show());
}

#[test]
fn no_partition_checks_one_state() {
    let d = Dir::new();
    // Register ops on two keys. Split by key, key "b" reads 1 although
    // nothing wrote it; as one register, the read follows the write.
    let f = d.file(
        "keys.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"a\",\"value\":1}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":\"a\",\"value\":1}\n\
         {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"b\",\"value\":null}\n\
         {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"b\",\"value\":1}\n",
    );
    let (run, doc, v) = check_json(&[], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (1, "invalid"), "{}", run.show());
    assert_eq!(doc["files"][0]["partitions"], 2);
    assert_eq!(doc["files"][0]["counterexample"]["partition"], "b");
    let (run, doc, v) = check_json(&["--no-partition"], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    assert_eq!(doc["files"][0]["partitions"], 1);

    // The kv corpus: same verdicts with and without partitioning.
    let files: Vec<String> = ["kv/c01-ok.txt", "kv/c01-bad.txt", "kv/c10-bad.txt"]
        .iter()
        .map(|f| data(f))
        .collect();
    let (run, split, v) = check_json(&[], &files);
    assert_eq!(v, ["valid", "invalid", "invalid"], "{}", run.show());
    let (run, whole, v) = check_json(&["--no-partition"], &files);
    assert_eq!(v, ["valid", "invalid", "invalid"], "{}", run.show());
    for i in 0..files.len() {
        assert!(split["files"][i]["partitions"].as_u64() > Some(1));
        assert_eq!(whole["files"][i]["partitions"], 1);
    }
}

#[test]
fn fail_cas_drop_or_observe() {
    let d = Dir::new();
    // The register holds 1 and a cas 1 -> 2 fails: Jepsen's semantics drop
    // it (valid); Porcupine's etcd model reads it as "the value was not 1"
    // (invalid).
    let f = d.file(
        "cas.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1,2]}\n\
         {\"process\":0,\"type\":\"fail\",\"f\":\"cas\",\"value\":[1,2]}\n\
         {\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
    );
    let (run, doc, v) = check_json(&[], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    assert_eq!(doc["files"][0]["model"], "cas-register");
    let (run, _, v) = check_json(&["--fail-cas", "drop"], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    let (run, _, v) = check_json(&["--fail-cas", "observe"], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (1, "invalid"), "{}", run.show());
}

// ---------------------------------------------------------------------------
// Bad input: exit 255, an error naming file, line and field, no panic.

/// Checks `bytes` written as `name`, which must be rejected with an error on
/// `line` naming `field` (when given) and containing `needle`.
fn assert_bad(name: &str, bytes: &[u8], line: u64, field: Option<&str>, needle: &str) {
    let d = Dir::new();
    let f = d.file(name, bytes);
    let r = check(&[&f]);
    assert_eq!(r.code, 255, "{}", r.show());
    let prefix = format!("error: {f}:{line}: ");
    let msg = r
        .stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} on stderr\n{}", r.show()));
    if let Some(field) = field {
        assert!(msg.contains(&format!("field `{field}`")), "{}", r.show());
    }
    assert!(msg.contains(needle), "missing {needle:?}\n{}", r.show());
    assert!(
        msg.len() < 1000,
        "an error message is short: {} bytes",
        msg.len()
    );
    assert!(
        r.stderr.len() < 4000,
        "stderr is short: {} bytes",
        r.stderr.len()
    );

    let (run, doc, v) = check_json(&[], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (255, "error"), "{}", run.show());
    let e = &doc["files"][0]["error"];
    assert_eq!(e["line"].as_u64(), Some(line), "{e}");
    if let Some(field) = field {
        assert_eq!(e["field"].as_str(), Some(field), "{e}");
    }
}

#[test]
fn bad_truncated_line() {
    // JSONL: a torn line that is not the last one is an error (only the last
    // line may be torn); serde_json's message gives the column.
    assert_bad(
        "trunc.jsonl",
        b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
          {\"process\":0,\"type\":\"ok\",\"f\":\"wri\n\
          {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
          {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
        2,
        None,
        "invalid JSON at column",
    );
    // EDN: the reader names the field whose value was cut.
    assert_bad(
        "trunc.edn",
        b"{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :ok, :f :write, :value [1 \n\
          {:process 1, :type :invoke, :f :read, :value nil}\n\
          {:process 1, :type :ok, :f :read, :value 1}\n",
        2,
        Some("value"),
        "unterminated vector",
    );
    assert_bad(
        "trunc2.edn",
        b"{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :ok, :f :write, :value \"ab\n\
          {:process 1, :type :invoke, :f :read, :value nil}\n",
        2,
        Some("value"),
        "unterminated string",
    );
    // Porcupine etcd: a line cut after its `f`.
    assert_bad(
        "trunc.log",
        b"INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
          INFO  jepsen.util - 0\t:ok\t:wr\n\
          INFO  jepsen.util - 1\t:invoke\t:read\tnil\n",
        2,
        Some("f"),
        ":wr",
    );
}

#[test]
fn bad_unknown_type() {
    assert_bad(
        "type.edn",
        b"{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :bogus, :f :write, :value 1}\n",
        2,
        Some("type"),
        "bogus",
    );
    // A map spread over several lines: the line of the `:type` key.
    assert_bad(
        "type-multiline.edn",
        b"[{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0,\n :f :write,\n :type :done}]\n",
        4,
        Some("type"),
        "done",
    );
    assert_bad(
        "type.jsonl",
        b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
          {\"process\":0,\"type\":\"wat\",\"f\":\"write\",\"value\":1}\n",
        2,
        Some("type"),
        "wat",
    );
    assert_bad(
        "type.log",
        b"INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
          INFO  jepsen.util - 0\t:bogus\t:write\t1\n",
        2,
        Some("type"),
        "bogus",
    );
}

#[test]
fn bad_completion_without_invocation() {
    let needle = "no matching invocation";
    assert_bad(
        "orphan.jsonl",
        b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
          {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n\
          {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
        3,
        Some("process"),
        needle,
    );
    assert_bad(
        "orphan.edn",
        b"{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :ok, :f :write, :value 1}\n\
          {:process 0, :type :info, :f :write, :value 1}\n",
        3,
        Some("process"),
        needle,
    );
    assert_bad(
        "orphan.log",
        b"INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
          INFO  jepsen.util - 0\t:ok\t:write\t1\n\
          INFO  jepsen.util - 1\t:ok\t:read\t1\n",
        3,
        Some("process"),
        needle,
    );
}

#[test]
fn bad_two_open_ops_in_one_process() {
    assert_bad(
        "twice.jsonl",
        b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
          {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
          {\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":2}\n",
        3,
        Some("process"),
        "invoked on line 1 is still open",
    );
    assert_bad(
        "twice.edn",
        b"{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :invoke, :f :read, :value nil}\n",
        2,
        Some("process"),
        "still open",
    );
    assert_bad(
        "twice.txt",
        b"{:process 0, :type :invoke, :f :put, :key \"1\", :value \"a\"}\n\
          {:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n",
        2,
        Some("process"),
        "still open",
    );
}

#[test]
fn bad_non_utf8_bytes() {
    let needle = "invalid UTF-8 (byte 0xff";
    assert_bad(
        "bytes.jsonl",
        b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
          {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":\"\xff\xfe\"}\n\
          {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n",
        2,
        None,
        needle,
    );
    assert_bad(
        "bytes.edn",
        b"{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :ok, :f :write, :value \"\xff\"}\n",
        2,
        None,
        needle,
    );
    assert_bad(
        "bytes.log",
        b"INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
          INFO  jepsen.util - 0\t:ok\t:write\t\xff\n",
        2,
        None,
        needle,
    );
    // Latin-1 text from a misconfigured logger, in a key.
    assert_bad(
        "latin1.txt",
        b"{:process 0, :type :invoke, :f :put, :key \"1\", :value \"a\"}\n\
          {:process 0, :type :ok, :f :put, :key \"caf\xe9\", :value \"a\"}\n",
        2,
        None,
        "invalid UTF-8 (byte 0xe9",
    );
}

const HUGE: usize = 20 << 20;

#[test]
fn bad_huge_line() {
    // A 20 MB line that never closes its array, followed by more ops.
    let mut jsonl = b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
                      {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":["
        .to_vec();
    jsonl.extend(std::iter::repeat_n(b"1,".as_slice(), HUGE / 2).flatten());
    jsonl.extend_from_slice(
        b"\n{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n",
    );
    assert_bad("huge.jsonl", &jsonl, 2, None, "invalid JSON at column");

    let mut edn = b"{:process 0, :type :invoke, :f :write, :value 1}\n\
                    {:process 0, :type :ok, :f :write, :value ["
        .to_vec();
    edn.extend(std::iter::repeat_n(b"1 ".as_slice(), HUGE / 2).flatten());
    edn.extend_from_slice(b"\n{:process 1, :type :invoke, :f :read, :value nil}\n");
    assert_bad("huge.edn", &edn, 2, Some("value"), "unterminated vector");

    // 20 MB of garbage on one line: the message quotes at most a snippet.
    let mut junk =
        b"INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t".to_vec();
    junk.extend(std::iter::repeat_n(b'7', HUGE));
    junk.push(b'\n');
    assert_bad("huge.log", &junk, 2, Some("value"), "`:write` expects");

    // Deep nesting on one line is refused, not a stack overflow.
    let mut deep = b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 1 << 20));
    deep.push(b'\n');
    deep.extend_from_slice(b"{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n");
    assert_bad("deep.jsonl", &deep, 1, None, "recursion limit");
    let mut deep = b"{:process 0, :type :invoke, :f :write, :value ".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 1 << 20));
    deep.push(b'\n');
    assert_bad("deep.edn", &deep, 1, None, "nesting deeper than");
}

#[test]
fn huge_well_formed_value_is_accepted() {
    // A 20 MB value is data, not an error.
    let d = Dir::new();
    let mut h = b"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":\"".to_vec();
    h.extend(std::iter::repeat_n(b'x', HUGE));
    h.extend_from_slice(b"\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":null}\n");
    let f = d.file("big.jsonl", h);
    let r = check(&[&f]);
    assert_eq!(r.code, 0, "{}", r.show());
}

#[test]
fn bad_other_inputs() {
    assert_bad(
        "missing-f.jsonl",
        b"{\"process\":0,\"type\":\"invoke\",\"value\":1}\n",
        1,
        Some("f"),
        "missing required field",
    );
    assert_bad(
        "index.jsonl",
        b"{\"index\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
          {\"index\":3,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
        2,
        Some("index"),
        "strictly increasing",
    );
    assert_bad(
        "mismatch.edn",
        b"{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :ok, :f :read, :value 1}\n",
        2,
        Some("f"),
        "does not match",
    );
    assert_bad(
        "cas.jsonl",
        b"{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1]}\n\
          {\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"value\":[1]}\n",
        2,
        Some("value"),
        "[old new]",
    );
    assert_bad("array.jsonl", b"[1,2]\n", 1, None, "expected an op map");

    // A file that cannot be read.
    let d = Dir::new();
    let missing = s(&d.0.path().join("no-such-file.jsonl"));
    let r = check(&[&missing]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains(&missing), "{}", r.show());
    // A directory.
    let dir = s(d.0.path());
    let r = check(&[&dir]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains(&dir), "{}", r.show());
}

// ---------------------------------------------------------------------------
// A torn last line (the recorder died mid-write) is tolerated in JSONL.

#[test]
fn torn_last_line_is_tolerated_with_a_warning() {
    let d = Dir::new();
    let torn = "{\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"va";
    let f = d.file("torn.jsonl", format!("{VALID_JSONL}{torn}"));
    let r = check(&[&f]);
    assert_eq!(r.code, 0, "{}", r.show());
    let warning = format!("warning: {f}:6: dropped a torn last line");
    assert!(r.stderr.contains(&warning), "{}", r.show());
    let (run, doc, v) = check_json(&[], std::slice::from_ref(&f));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    assert_eq!(doc["files"][0]["ops"], 2);
    let warnings = doc["files"][0]["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    // The rest is still checked: an invalid prefix stays invalid.
    let g = d.file("torn-invalid.jsonl", format!("{INVALID_JSONL}{torn}"));
    let r = check(&[&g]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(
        r.stderr.contains("dropped a torn last line"),
        "{}",
        r.show()
    );

    // Torn in the middle of a multi-byte character.
    let mut bytes = VALID_JSONL.as_bytes().to_vec();
    bytes.extend_from_slice(b"{\"process\":2,\"type\":\"invoke\",\"f\":\"write\",\"value\":\"\xc3");
    let h = d.file("torn-utf8.jsonl", bytes);
    let r = check(&[&h]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.stderr.contains("dropped a torn last line"),
        "{}",
        r.show()
    );

    // A complete last line without its newline is kept, not dropped.
    let last = "{\"process\":2,\"type\":\"invoke\",\"f\":\"write\",\"value\":7}";
    let k = d.file("no-newline.jsonl", format!("{VALID_JSONL}{last}"));
    let (run, doc, v) = check_json(&[], std::slice::from_ref(&k));
    assert_eq!((run.code, v[0].as_str()), (0, "valid"), "{}", run.show());
    assert_eq!(doc["files"][0]["ops"], 3, "the open write counts as an op");
    assert!(!run.stderr.contains("warning"), "{}", run.show());

    // A torn line followed by a newline is not the recorder's last write:
    // it is an error.
    let m = d.file("torn-newline.jsonl", format!("{VALID_JSONL}{torn}\n"));
    let r = check(&[&m]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains(&format!("{m}:6: ")), "{}", r.show());
}

// ---------------------------------------------------------------------------
// The Porcupine corpus: every file gets its EXPECTED.tsv verdict.

fn expected() -> BTreeMap<String, (String, u64)> {
    let tsv = std::fs::read_to_string(Path::new(DATA).join("EXPECTED.tsv"))
        .expect("read ../shared/data/porcupine/EXPECTED.tsv");
    let mut rows = BTreeMap::new();
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "EXPECTED.tsv row {line:?}");
        let verdict = match cols[3] {
            "linearizable" => "valid",
            "illegal" => "invalid",
            other => panic!("EXPECTED.tsv: unknown verdict {other:?}"),
        };
        let ops = cols[2].parse().expect("ops column");
        rows.insert(cols[0].to_string(), (verdict.to_string(), ops));
    }
    rows
}

#[test]
fn porcupine_corpus_verdicts() {
    let expected = expected();
    assert!(
        expected.len() >= 80,
        "EXPECTED.tsv has {} rows",
        expected.len()
    );
    // Every data file has a row.
    for sub in ["jepsen", "kv"] {
        for entry in std::fs::read_dir(Path::new(DATA).join(sub)).expect("read data dir") {
            let name = entry.expect("dir entry").file_name();
            let rel = format!("{sub}/{}", name.to_string_lossy());
            assert!(expected.contains_key(&rel), "{rel} has no EXPECTED.tsv row");
        }
    }
    let rels: Vec<&String> = expected.keys().collect();
    let files: Vec<String> = rels.iter().map(|r| data(r)).collect();
    let (run, doc, verdicts) = check_json(&[], &files);
    assert_eq!(
        run.code,
        1,
        "some files are not linearizable\n{}",
        run.show()
    );
    let mut wrong = Vec::new();
    for (i, rel) in rels.iter().enumerate() {
        let (want, ops) = &expected[*rel];
        let got_ops = doc["files"][i]["ops"].as_u64();
        if &verdicts[i] != want || got_ops != Some(*ops) {
            wrong.push(format!(
                "{rel}: expected {want} with {ops} ops, got {} with {got_ops:?} ops",
                verdicts[i]
            ));
        }
        // The model follows from the detected format (an empty file has no
        // format to detect, and any model accepts it).
        if *ops > 0 {
            let model = doc["files"][i]["model"].as_str();
            let want_model = if rel.starts_with("kv/") {
                "kv"
            } else {
                "cas-register"
            };
            assert_eq!(model, Some(want_model), "{rel}");
        }
    }
    assert!(
        wrong.is_empty(),
        "{} files wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Known bugs: each test states the behaviour we want; see the reason.

#[test]
fn usage_errors_exit_255() {
    let d = Dir::new();
    let f = d.file("valid.jsonl", VALID_JSONL);
    for args in [
        vec!["--model", "bogus", f.as_str()],
        vec!["--format", "bogus", f.as_str()],
        vec!["--no-such-flag", f.as_str()],
        vec![],
    ] {
        let r = check(&args);
        assert_eq!(r.code, 255, "{}", r.show());
    }
}

#[test]
fn bad_timeout_values_are_rejected_without_panic() {
    let d = Dir::new();
    let f = d.file("valid.jsonl", VALID_JSONL);
    for t in ["nan", "inf", "-1", "1e300"] {
        let out = Command::new(BIN)
            .args(["check", &format!("--timeout={t}"), &f])
            .output()
            .expect("run faultline");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "--timeout={t}: {stderr}");
        assert_eq!(out.status.code(), Some(255), "--timeout={t}: {stderr}");
        assert!(stderr.contains("timeout"), "--timeout={t}: {stderr}");
    }
}

#[test]
fn huge_memory_budget_does_not_wrap() {
    let d = Dir::new();
    let r = check(&["--max-memory", "17592186044416", &hard(&d)]);
    assert_eq!(r.code, 0, "{}", r.show());
}

// ---------------------------------------------------------------------------
// `--checker`: the checkers of a run, on any stored history

/// Writes a run directory (test.json for `workload`/`level`, and the
/// history) and returns its path.
fn run_dir(d: &Dir, name: &str, workload: &str, level: &str, history: &[Value]) -> String {
    let dir = d.0.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let test = serde_json::json!({"name": name, "seed": 1,
        "spec": {"workload": workload, "level": level, "check_timeout": 30.0}});
    std::fs::write(dir.join("test.json"), test.to_string()).unwrap();
    // A whole run: the run driver's closing markers after the ops
    // (without them `analyze` calls the history incomplete).
    let next = history
        .iter()
        .filter_map(|l| l["index"].as_u64())
        .max()
        .map_or(0, |m| m + 1);
    let marker = |i: u64, f: &str, v: Value| serde_json::json!({"index": i, "time": i, "process": "harness", "type": "info", "f": f, "value": v});
    let mut lines = history.to_vec();
    lines.push(marker(next, "phase", "final-heal".into()));
    lines.push(marker(next + 1, "phase", "final-reads".into()));
    lines.push(marker(
        next + 2,
        "end",
        serde_json::json!({"interrupted": false}),
    ));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("history.jsonl"), text).unwrap();
    s(&dir)
}

/// `faultline analyze DIR`: its exit code and the verdict it wrote.
fn analyze(dir: &str) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["analyze", dir])
        .env_remove("RUST_LOG")
        .output()
        .expect("run the faultline binary");
    let code = out.status.code().unwrap_or(-1);
    let results: Value = serde_json::from_slice(
        &std::fs::read(Path::new(dir).join("results.json")).expect("results.json"),
    )
    .unwrap_or_else(|e| {
        panic!(
            "results.json: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, results["verdict"].as_str().unwrap_or("?").to_string())
}

/// `faultline check --json ARGS... DIR/history.jsonl`: the exit code and
/// the file's report.
fn check_named(dir: &str, args: &[&str]) -> (Run, Value) {
    let mut a: Vec<String> = vec!["--json".into()];
    a.extend(args.iter().map(|s| s.to_string()));
    a.push(s(&Path::new(dir).join("history.jsonl")));
    let run = check(&a);
    let doc = run.json();
    let file = doc["files"][0].clone();
    assert_eq!(
        doc["summary"]["exit"].as_i64(),
        Some(run.code as i64),
        "{}",
        run.show()
    );
    (run, file)
}

/// One op of a history: (index, process, type, f, key, value), one second
/// apart.
fn op(i: u64, p: u64, ty: &str, f: &str, key: &str, v: Value) -> Value {
    serde_json::json!({"index": i, "time": (i + 1) * 1_000_000_000u64, "process": p,
                       "type": ty, "f": f, "key": key, "value": v})
}

/// Sequential queue ops: (f, invoke value, ok value).
fn queue_history(steps: &[(&str, Value, Value)]) -> Vec<Value> {
    let mut h = Vec::new();
    for (i, (f, inv, ok)) in steps.iter().enumerate() {
        let i = i as u64;
        h.push(op(2 * i, 0, "invoke", f, "q", inv.clone()));
        h.push(op(2 * i + 1, 0, "ok", f, "q", ok.clone()));
    }
    h
}

#[test]
fn checker_total_queue_gives_the_verdict_analyze_gives() {
    use serde_json::json;
    let d = Dir::new();
    let good = queue_history(&[
        ("enqueue", json!(1), json!(1)),
        ("enqueue", json!(2), json!(2)),
        ("dequeue", Value::Null, json!(1)),
        ("dequeue", Value::Null, json!(2)),
    ]);
    // Element 2 acknowledged, never delivered.
    let lost = queue_history(&[
        ("enqueue", json!(1), json!(1)),
        ("enqueue", json!(2), json!(2)),
        ("dequeue", Value::Null, json!(1)),
    ]);
    // Element 1 delivered twice: fine at least once, not at most once.
    let dup = queue_history(&[
        ("enqueue", json!(1), json!(1)),
        ("dequeue", Value::Null, json!(1)),
        ("dequeue", Value::Null, json!(1)),
    ]);
    for (name, level, h, want, delivery) in [
        ("good", "raft", &good, "valid", "at-least-once"),
        ("lost", "raft", &lost, "invalid", "at-least-once"),
        ("dup-alo", "raft", &dup, "valid", "at-least-once"),
        ("dup-amo", "at-most-once", &dup, "invalid", "at-most-once"),
    ] {
        let dir = run_dir(&d, name, "queue", level, h);
        let (code, verdict) = analyze(&dir);
        assert_eq!(verdict, want, "analyze {name}");
        let (run, file) = check_named(&dir, &["--checker", "total-queue", "--delivery", delivery]);
        assert_eq!(file["verdict"], want, "{name}\n{}", run.show());
        assert_eq!(
            run.code,
            code,
            "same exit code as analyze: {name}\n{}",
            run.show()
        );
        assert_eq!(
            file["checkers"]["total-queue"]["details"]["delivery"],
            delivery,
            "{}",
            run.show()
        );
        // With the informational fifo pass too, as a run composes them.
        let (run, file) = check_named(
            &dir,
            &["--checker", &format!("total-queue:{delivery},fifo-queue")],
        );
        assert_eq!(file["verdict"], want, "{name}\n{}", run.show());
        assert_eq!(file["checkers"]["fifo-queue"]["informational"], true);
    }
    // Out of order but nothing lost: the informational fifo pass does not
    // change a run's verdict, yet decides when it is the only one asked for.
    let swapped = queue_history(&[
        ("enqueue", json!(1), json!(1)),
        ("enqueue", json!(2), json!(2)),
        ("dequeue", Value::Null, json!(2)),
        ("dequeue", Value::Null, json!(1)),
    ]);
    let dir = run_dir(&d, "swapped", "queue", "raft", &swapped);
    assert_eq!(analyze(&dir), (0, "valid".to_string()));
    let (run, file) = check_named(&dir, &["--checker", "total-queue,fifo-queue"]);
    assert_eq!(
        (run.code, &file["verdict"]),
        (0, &json!("valid")),
        "{}",
        run.show()
    );
    assert_eq!(file["checkers"]["fifo-queue"]["verdict"], "invalid");
    let (run, file) = check_named(&dir, &["--checker", "fifo-queue"]);
    assert_eq!(
        (run.code, &file["verdict"]),
        (1, &json!("invalid")),
        "{}",
        run.show()
    );
    // The lost element is named by its enqueue's history index.
    let dir = run_dir(&d, "lost2", "queue", "raft", &lost);
    let (_, file) = check_named(&dir, &["--checker", "total-queue"]);
    assert_eq!(file["anomalies"][0]["part"], "lost");
    assert_eq!(file["anomalies"][0]["ops"], json!([2]));
    // The table names each checker under the files.
    let r = check(&[
        "--checker",
        "total-queue,fifo-queue",
        &s(&Path::new(&dir).join("history.jsonl")),
    ]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(
        r.stdout.contains("  total-queue      invalid"),
        "{}",
        r.show()
    );
    assert!(
        r.stdout
            .contains("fifo-queue       valid    (informational)"),
        "{}",
        r.show()
    );
    assert!(
        r.stdout.contains("anomaly: lost: element 2 on queue q"),
        "{}",
        r.show()
    );
}

#[test]
fn checker_lock_gives_the_verdict_analyze_gives() {
    use serde_json::json;
    let d = Dir::new();
    let acq = || json!({"ttl_ms": null});
    let tok = |t: u64| json!({"token": t});
    // Process 1 acquires while process 0 still holds the lock.
    let overlap = vec![
        op(0, 0, "invoke", "acquire", "l", acq()),
        op(1, 0, "ok", "acquire", "l", tok(1)),
        op(2, 1, "invoke", "acquire", "l", acq()),
        op(3, 1, "ok", "acquire", "l", tok(2)),
        op(4, 0, "invoke", "release", "l", tok(1)),
        op(5, 0, "ok", "release", "l", tok(1)),
    ];
    let turns = vec![
        op(0, 0, "invoke", "acquire", "l", acq()),
        op(1, 0, "ok", "acquire", "l", tok(1)),
        op(2, 0, "invoke", "release", "l", tok(1)),
        op(3, 0, "ok", "release", "l", tok(1)),
        op(4, 1, "invoke", "acquire", "l", acq()),
        op(5, 1, "ok", "acquire", "l", tok(2)),
    ];
    for (name, h, want) in [("overlap", &overlap, "invalid"), ("turns", &turns, "valid")] {
        let dir = run_dir(&d, name, "lock", "raft", h);
        let (code, verdict) = analyze(&dir);
        assert_eq!(verdict, want, "analyze {name}");
        let (run, file) = check_named(&dir, &["--checker", "lock"]);
        assert_eq!(file["verdict"], want, "{name}\n{}", run.show());
        assert_eq!(run.code, code, "{name}\n{}", run.show());
    }
    let dir = run_dir(&d, "overlap2", "lock", "raft", &overlap);
    let (_, file) = check_named(&dir, &["--checker", "lock"]);
    let me = &file["checkers"]["lock"]["details"]["mutual_exclusion"];
    assert_eq!(me["verdict"], "invalid", "{file:#}");
    assert_eq!(file["anomalies"][0]["ops"], json!([0, 2]), "{file:#}");
}

#[test]
fn checker_names_are_checked_before_any_file() {
    let d = Dir::new();
    let f = d.file("h.jsonl", VALID_JSONL);
    let r = check(&["--checker", "bank-robbery", &f]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(
        r.stderr.contains("unknown checker `bank-robbery`"),
        "{}",
        r.show()
    );
    let r = check(&["--checker", "total-queue:twice", &f]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains("delivery guarantee"), "{}", r.show());
    // Linearizability by name on a plain register history: valid, and the
    // consistency hierarchy beside it stays informational.
    let (r, doc, _) = check_json(
        &["--checker", "linearizability,consistency"],
        std::slice::from_ref(&f),
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let file = &doc["files"][0];
    assert_eq!(
        file["checkers"]["linearizability"]["details"]["model"],
        "register"
    );
    assert_eq!(file["checkers"]["consistency"]["informational"], true);
    // A history that does not pair is an error, as without --checker.
    let bad = d.file(
        "bad.jsonl",
        "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
    );
    let (r, doc, _) = check_json(&["--checker", "lock"], &[bad]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert_eq!(doc["files"][0]["error"]["line"], 1);
}

// ---------------------------------------------------------------------------
// Nothing dropped without a word; every format faultline reads.

#[test]
fn a_client_like_named_process_is_reported_not_passed_silently() {
    let d = Dir::new();
    // Process "1" (a string) reads 2, which no write ever wrote: were it a
    // client, the history would be invalid.
    let f = d.file(
        "named.jsonl",
        concat!(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n",
            "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
            "{\"process\":\"1\",\"type\":\"invoke\",\"f\":\"read\"}\n",
            "{\"process\":\"1\",\"type\":\"ok\",\"f\":\"read\",\"value\":2}\n",
        ),
    );
    let r = check(&[&f]);
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("process \"1\""),
        "{}",
        r.show()
    );
    assert!(r.stdout.contains("\"1\" (2 events)"), "{}", r.show());
    let r = check(&["--json", &f]);
    let doc = r.json();
    assert_eq!(doc["files"][0]["named_events"]["1"], 2, "{}", r.show());
    assert!(doc["files"][0]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("not checked"));
    // Written as the integer it is, the same history is invalid.
    let f = d.file(
        "int.jsonl",
        std::fs::read_to_string(&f).unwrap().replace("\"1\"", "1"),
    );
    assert_eq!(check(&[&f]).code, 1);
}

#[test]
fn every_format_gives_the_same_verdict() {
    let d = Dir::new();
    // The same invalid register history (read 2 after write 1, nothing
    // wrote 2) in each format faultline reads without a model hint.
    let files = [
        d.file("h.jsonl", "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":2}\n"),
        d.file("h.json", "[{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1},\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1},\n{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null},\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":2}]\n"),
        d.file("h.edn", "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n{:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 2}\n"),
        d.file("k.edn", "[0 :invoke :write 1]\n[0 :ok :write 1]\n[1 :invoke :read nil]\n[1 :ok :read 2]\n"),
        d.file("history.txt", "0\t:invoke\t:write\t1\n0\t:ok\t:write\t1\n:nemesis\t:info\t:start\tnil\n1\t:invoke\t:read\tnil\n1\t:ok\t:read\t2\n"),
        d.file("jepsen.log", "INFO [2019-04-01 11:25:20,001] main - jepsen.core Running\nINFO [2019-04-01 11:25:23,001] jepsen worker 0 - jepsen.util 0\t:invoke\t:write\t1\nINFO [2019-04-01 11:25:23,002] jepsen worker 0 - jepsen.util 0\t:ok\t:write\t1\nINFO [2019-04-01 11:25:23,003] jepsen worker 1 - jepsen.util 1\t:invoke\t:read\tnil\nINFO [2019-04-01 11:25:23,004] jepsen worker 1 - jepsen.util 1\t:ok\t:read\t2\n"),
    ];
    let r = check(&[
        "--json", "--model", "register", &files[0], &files[1], &files[2], &files[3], &files[4],
        &files[5],
    ]);
    assert_eq!(r.code, 1, "{}", r.show());
    let doc = r.json();
    let formats: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["verdict"], "invalid", "{}", r.show());
            f["format"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        formats,
        [
            "jsonl",
            "json",
            "edn",
            "edn",
            "jepsen-text",
            "porcupine-etcd"
        ]
    );
    // Not a history at all: said so, not "invalid JSON".
    let junk = d.file("junk.csv", "process,type,f\n0,invoke,read\n");
    let r = check(&[&junk]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(
        r.stderr
            .contains("junk.csv:1: the format was not recognised"),
        "{}",
        r.show()
    );
}

/// `--nil-read unknown` is Knossos's register reading: an ok read of nil
/// matches any state. By default a read of nil is a read of the initial
/// value, so a nil read after a completed write is a stale read; with a
/// non-nil initial state the default says why and names the flag.
#[test]
fn nil_read_unknown_is_knossos_reading_and_the_default_says_so() {
    let d = Dir::new();
    let body = concat!(
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n",
        "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n",
        "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":null}\n",
    );
    let f = d.file("h.jsonl", body);
    let r = check(&[&f]);
    assert_eq!(r.code, 1, "{}", r.show());
    let r = check(&["--nil-read", "unknown", &f]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.stderr
            .contains("1 ok reads of nil were taken as reads of an unknown value"),
        "{}",
        r.show()
    );
    // Not a blanket pass: another stale read is still caught.
    let stale = d.file(
        "stale.jsonl",
        format!(
            "{body}{}{}{}{}",
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":2}\n",
            "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":2}\n",
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n",
            "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
        ),
    );
    assert_eq!(check(&["--nil-read", "unknown", &stale]).code, 1);
    // A non-nil start with reads of nil: judged as nil, with a warning
    // naming the flag.
    let r = check(&["--init", "0", &f]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("--nil-read unknown"), "{}", r.show());
    assert!(!check(&[&f]).stderr.contains("--nil-read"));
    let r = check(&["--nil-read", "maybe", &f]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains("--nil-read"), "{}", r.show());
}

#[test]
fn init_gives_the_starting_state_on_the_command_line_or_in_a_header() {
    let d = Dir::new();
    let body = concat!(
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"x\"}\n",
        "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"x\",\"value\":0}\n",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"y\"}\n",
        "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"y\",\"value\":0}\n",
    );
    let f = d.file("h.jsonl", body);
    assert_eq!(check(&[&f]).code, 1);
    assert_eq!(check(&["--init", "0", &f]).code, 0);
    assert_eq!(check(&["--init", "{\"x\":0,\"y\":0}", &f]).code, 0);
    assert_eq!(check(&["--init", "{\"x\":0}", &f]).code, 1);
    // A header line says it; --init overrides it.
    let h = d.file("header.jsonl", format!("{{\"init\":0}}\n{body}"));
    assert_eq!(check(&[&h]).code, 0);
    assert_eq!(check(&["--init", "7", &h]).code, 1);
    assert_eq!(check(&["--checker", "linearizability", &h]).code, 0);
    // It reaches the consistency checks too: causal holds only from 0.
    assert_eq!(check(&["--checker", "consistency:causal", &f]).code, 1);
    let r = check(&["--checker", "consistency:causal", "--init", "0", &f]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(check(&["--checker", "consistency:causal", &h]).code, 0);
    assert_eq!(
        check(&["--checker", "consistency:causal", "--init", "7", &h]).code,
        1
    );
    // Bad values are refused, naming the flag or the field.
    let r = check(&["--init", "zero", &f]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains("--init"), "{}", r.show());
    let r = check(&["--init", "1", "--model", "mutex", &f]);
    assert_eq!(r.code, 255, "{}", r.show());
    assert!(r.stderr.contains("field `init`"), "{}", r.show());
    let bad = d.file(
        "badheader.jsonl",
        format!("{{\"init\":0,\"mode\":1}}\n{body}"),
    );
    let r = check(&[&bad]);
    assert!(
        r.stderr.contains("badheader.jsonl:1: field `mode`"),
        "{}",
        r.show()
    );
}

#[test]
fn options_of_checkers_that_do_not_run_are_refused_not_ignored() {
    let d = Dir::new();
    let reg = d.file(
        "r.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":null}\n",
    );
    let txn = d.file(
        "t.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n{\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n",
    );
    for (args, says) in [
        (vec!["--isolation", "serializable", &reg], "--isolation"),
        (vec!["--assume", "wfr-keys", &reg], "--assume"),
        (
            vec!["--init", "0", "--model", "list-append", &txn],
            "--init",
        ),
        (
            vec![
                "--checker",
                "list-append:serializable",
                "--isolation",
                "snapshot-isolation",
                &txn,
            ],
            "write them in the name",
        ),
    ] {
        let r = check(&args);
        assert_eq!(r.code, 255, "{args:?}\n{}", r.show());
        assert!(r.stderr.contains(says), "{args:?}\n{}", r.show());
    }
    // Where they apply, they are taken.
    assert_eq!(
        check(&[
            "--model",
            "list-append",
            "--isolation",
            "serializable",
            &txn
        ])
        .code,
        0
    );
    assert_eq!(
        check(&["--init", "0", &reg]).code,
        1,
        "read nil after starting at 0"
    );
}
