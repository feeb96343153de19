//! `faultline check --model list-append|rw-register`: the real binary on
//! EDN and JSONL transaction histories written to a temporary directory.
//! Exit codes: 0 valid, 1 invalid, 2 unknown, 255 bad input (naming file,
//! line and field).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn faultline(args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run faultline");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked"),
        "faultline {args:?} panicked\n{}",
        r.stderr
    );
    r
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("faultline-isolation-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(d: &Path, name: &str, text: &str) -> String {
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Write skew: two concurrent txns each read both keys empty and append to
/// one; a later read shows both appends. Not serializable; allowed by
/// snapshot isolation.
const SKEW_EDN: &str = r#"{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil] [:append 1 1]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil] [:append 2 1]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:r 1 nil] [:r 2 nil] [:append 1 1]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r 1 nil] [:r 2 nil] [:append 2 1]], :process 1, :index 3}
{:type :info, :f :kill, :value nil, :process :nemesis, :index 4}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]], :process 0, :index 5}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]], :process 0, :index 6}
"#;

const CLEAN_JSONL: &str = r#"{"index":0,"process":0,"type":"invoke","f":"txn","value":[["append",1,1]]}
{"index":1,"process":0,"type":"ok","f":"txn","value":[["append",1,1]]}
{"index":2,"process":1,"type":"invoke","f":"txn","value":[["r",1,null],["append",2,5]]}
{"index":3,"process":1,"type":"ok","f":"txn","value":[["r",1,[1]],["append",2,5]]}
{"index":4,"process":0,"type":"invoke","f":"txn","value":[["r",2,null]]}
{"index":5,"process":0,"type":"ok","f":"txn","value":[["r",2,[5]]]}
"#;

#[test]
fn list_append_exit_codes_follow_the_verdict() {
    let d = dir();
    let skew = write(&d, "skew.edn", SKEW_EDN);
    let clean = write(&d, "clean.jsonl", CLEAN_JSONL);

    let r = faultline(&["check", "--model", "list-append", &clean]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("no anomalies; consistent with strict-serializable"),
        "{}",
        r.stdout
    );

    let r = faultline(&["check", "--model", "list-append", &skew]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("G2-item"), "{}", r.stdout);
    assert!(r.stdout.contains("not repeatable-read"), "{}", r.stdout);
    assert!(
        r.stdout.contains("which did not include T1's append of 1"),
        "{}",
        r.stdout
    );

    // Snapshot isolation allows write skew.
    let r = faultline(&[
        "check",
        "--model",
        "list-append",
        "--isolation",
        "snapshot-isolation",
        &skew,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // Out of time before the G-single search could rule SI in or out:
    // unknown, and the cycle the component proves is still reported.
    let r = faultline(&[
        "check",
        "--model",
        "list-append",
        "--isolation",
        "snapshot-isolation",
        "--timeout",
        "0",
        "--json",
        &skew,
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &doc["files"][0]["checkers"]["list-append"]["details"];
    assert_eq!(c["anomaly_types"], serde_json::json!(["G2-item"]), "{c:#}");
    assert!(c["search"]["gave_up"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["class"] == "G-single"));

    // --json carries the details; --checker names the same checker.
    let r = faultline(&[
        "check",
        "--checker",
        "list-append:serializable",
        "--json",
        &skew,
    ]);
    assert_eq!(r.code, 1);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &doc["files"][0]["checkers"]["list-append"]["details"];
    assert_eq!(c["not"], serde_json::json!(["repeatable-read"]));
    assert_eq!(c["require"], "serializable");
    assert_eq!(c["anomalies"]["G2-item"][0]["txns"][0]["index"], 0);

    // An op that is not a txn is counted in a warning, not dropped silently.
    let mixed = write(
        &d,
        "mixed.jsonl",
        &format!(
            "{CLEAN_JSONL}{}",
            "{\"index\":6,\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n"
        ),
    );
    let r = faultline(&["check", "--model", "list-append", &mixed]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("1 client operations are not txns")
            && r.stderr.contains("`read` on line 7"),
        "{}",
        r.stderr
    );

    // A bad isolation model fails before reading.
    let r = faultline(&[
        "check",
        "--model",
        "list-append",
        "--isolation",
        "bogus",
        &skew,
    ]);
    assert_eq!(r.code, 255);
    assert!(r.stderr.contains("`bogus`"), "{}", r.stderr);
}

#[test]
fn rw_register_and_assumptions() {
    let d = dir();
    let h = write(
        &d,
        "rw.jsonl",
        r#"{"index":0,"process":0,"type":"invoke","f":"txn","value":[["w","x",0]]}
{"index":1,"process":0,"type":"ok","f":"txn","value":[["w","x",0]]}
{"index":2,"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["w","x",1],["w","y",1]]}
{"index":3,"process":2,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}
{"index":4,"process":1,"type":"ok","f":"txn","value":[["r","x",0],["w","x",1],["w","y",1]]}
{"index":5,"process":2,"type":"ok","f":"txn","value":[["r","x",0],["r","y",1]]}
"#,
    );
    let r = faultline(&["check", "--model", "rw-register", &h]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = faultline(&[
        "check",
        "--model",
        "rw-register",
        "--assume",
        "wfr-keys",
        &h,
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("G-single"), "{}", r.stdout);
}

#[test]
fn a_malformed_micro_op_names_file_line_and_field() {
    let d = dir();
    let edn = write(
        &d,
        "bad.edn",
        "{:type :invoke, :f :txn, :value [[:append 1 1]], :process 0, :index 0}\n{:type :ok, :f :txn, :value [[:append 1 1]], :process 0, :index 1}\n{:type :invoke, :f :txn, :value [[:append 1 1] [:frob 2 3]], :process 0, :index 2}\n",
    );
    let r = faultline(&["check", "--model", "list-append", &edn]);
    assert_eq!(r.code, 255, "{}{}", r.stdout, r.stderr);
    let want = format!("{edn}:3: field `value[1][0]`");
    assert!(
        r.stderr.contains(&want) || r.stdout.contains(&want),
        "want {want}\n{}{}",
        r.stdout,
        r.stderr
    );
    let jsonl = write(
        &d,
        "bad.jsonl",
        "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\n{\"index\":1,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",1,[1,[2]]]]}\n",
    );
    let r = faultline(&["check", "--model", "list-append", &jsonl]);
    assert_eq!(r.code, 255, "{}{}", r.stdout, r.stderr);
    let want = format!("{jsonl}:2: field `value[0][2][1]`");
    assert!(
        r.stderr.contains(&want) || r.stdout.contains(&want),
        "want {want}\n{}{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn synth_writes_transactional_histories_the_checker_accepts() {
    let d = dir();
    for (kind, model) in [
        ("list-append", "list-append"),
        ("rw-register", "rw-register"),
    ] {
        let out = d.join(format!("{kind}.jsonl")).display().to_string();
        let r = faultline(&[
            "synth", "--txn", kind, "--ops", "2000", "--keys", "5", "--out", &out,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = faultline(&["check", "--model", model, &out]);
        assert_eq!(r.code, 0, "{kind}: {}{}", r.stdout, r.stderr);
    }
    let out = d.join("stale.jsonl").display().to_string();
    faultline(&[
        "synth",
        "--txn",
        "list-append",
        "--ops",
        "2000",
        "--invalid",
        "--out",
        &out,
    ]);
    let r = faultline(&["check", "--model", "list-append", &out]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
}
