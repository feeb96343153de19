//! `faultline check --model bank|counter|set-full|long-fork` on small EDN
//! and JSONL files: exit codes (0 valid, 1 invalid, 2 unknown, 255 bad
//! input), the options' flags, the JSON details, and malformed ops reported
//! with their file, line and field.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("check")
        .args(args)
        .output()
        .expect("run faultline")
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `check ARGS FILE` and asserts the exit code; returns the output.
fn expect(code: i32, args: &[&str], file: &str) -> Output {
    let mut all = args.to_vec();
    all.push(file);
    let out = run(&all);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?} {file}\n{}",
        show(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        show(&out)
    );
    out
}

/// `check --json ARGS FILE`: the file's report.
fn json(code: i32, args: &[&str], file: &str) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = expect(code, &all, file);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["files"][0].clone()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// An EDN op line.
fn edn(p: u64, t: &str, f: &str, v: &str) -> String {
    format!("{{:type :{t}, :f :{f}, :value {v}, :process {p}}}\n")
}

/// A JSONL op line.
fn jl(p: u64, t: &str, f: &str, v: &str) -> String {
    format!("{{\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"value\":{v}}}\n")
}

#[test]
fn bank_valid_invalid_unknown_and_options() {
    let d = tempfile::tempdir().unwrap();
    let ok = [
        edn(0, "invoke", "transfer", "{:from 0, :to 1, :amount 5}"),
        edn(0, "ok", "transfer", "{:from 0, :to 1, :amount 5}"),
        edn(1, "invoke", "read", "nil"),
        edn(1, "ok", "read", "{0 45, 1 55}"),
    ]
    .concat();
    let ok = write(d.path(), "ok.edn", &ok);
    let out = expect(
        0,
        &[
            "--model",
            "bank",
            "--total-amount",
            "100",
            "--accounts",
            "0,1",
        ],
        &ok,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("valid: 1 ok reads"), "{stdout}");
    // The same reads, against another total: wrong-total.
    let r = json(1, &["--model", "bank", "--total-amount", "90"], &ok);
    let d0 = &r["checkers"]["bank"]["details"];
    assert_eq!(d0["first-error"]["type"], "wrong-total", "{r:#}");
    assert_eq!(d0["first-error"]["total"], 100);
    assert_eq!(r["anomalies"][0]["ops"][0], 2);
    // An account not in --accounts.
    let r = json(1, &["--model", "bank", "--accounts", "0,2"], &ok);
    assert_eq!(r["anomalies"][0]["part"], "unexpected-key", "{r:#}");

    let neg = [
        jl(1, "invoke", "read", "null"),
        jl(1, "ok", "read", r#"{"a":-5,"b":105}"#),
    ]
    .concat();
    let neg = write(d.path(), "neg.jsonl", &neg);
    let out = expect(1, &["--model", "bank", "--total-amount", "100"], &neg);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("negative-value: read at index 1 shows a = -5"),
        "{stdout}"
    );
    expect(
        0,
        &[
            "--model",
            "bank",
            "--total-amount",
            "100",
            "--negative-balances",
        ],
        &neg,
    );

    let nothing = write(
        d.path(),
        "none.jsonl",
        &[
            jl(0, "invoke", "read", "null"),
            jl(0, "fail", "read", "null"),
        ]
        .concat(),
    );
    let out = expect(2, &["--model", "bank"], &nothing);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no ok read"),
        "{}",
        show(&out)
    );
}

#[test]
fn counter_valid_invalid_unknown() {
    let d = tempfile::tempdir().unwrap();
    let h = [
        edn(0, "invoke", "add", "2"),
        edn(1, "invoke", "read", "nil"),
        edn(1, "ok", "read", "2"),
        edn(0, "info", "add", "2"),
        edn(1, "invoke", "read", "nil"),
        edn(1, "ok", "read", "0"),
    ]
    .concat();
    expect(0, &["--model", "counter"], &write(d.path(), "ok.edn", &h));
    let bad = [
        jl(0, "invoke", "add", "1"),
        jl(0, "ok", "add", "1"),
        jl(1, "invoke", "read", "null"),
        jl(1, "ok", "read", "3"),
    ]
    .concat();
    let r = json(
        1,
        &["--model", "counter"],
        &write(d.path(), "bad.jsonl", &bad),
    );
    let e = &r["checkers"]["counter"]["details"]["errors"][0];
    assert_eq!(
        (
            e["lower"].as_i64(),
            e["value"].as_i64(),
            e["upper"].as_i64()
        ),
        (Some(1), Some(3), Some(1)),
        "{r:#}"
    );
    expect(
        2,
        &["--model", "counter"],
        &write(
            d.path(),
            "adds.jsonl",
            &[jl(0, "invoke", "add", "1"), jl(0, "ok", "add", "1")].concat(),
        ),
    );
}

#[test]
fn set_full_valid_invalid_unknown_and_linearizable() {
    let d = tempfile::tempdir().unwrap();
    let stale = [
        edn(0, "invoke", "add", "1"),
        edn(0, "ok", "add", "1"),
        edn(1, "invoke", "read", "nil"),
        edn(1, "ok", "read", "#{}"),
        edn(1, "invoke", "read", "nil"),
        edn(1, "ok", "read", "#{1}"),
    ]
    .concat();
    let stale = write(d.path(), "stale.edn", &stale);
    let r = json(0, &["--model", "set-full"], &stale);
    assert_eq!(
        r["checkers"]["set-full"]["details"]["stale"],
        serde_json::json!([1]),
        "{r:#}"
    );
    let r = json(1, &["--model", "set-full", "--linearizable"], &stale);
    assert_eq!(r["anomalies"][0]["part"], "stale", "{r:#}");
    let lost = [
        jl(0, "invoke", "add", "1"),
        jl(0, "ok", "add", "1"),
        jl(1, "invoke", "read", "null"),
        jl(1, "ok", "read", "[1]"),
        jl(1, "invoke", "read", "null"),
        jl(1, "ok", "read", "[]"),
    ]
    .concat();
    let r = json(
        1,
        &["--model", "set-full"],
        &write(d.path(), "lost.jsonl", &lost),
    );
    assert_eq!(
        r["checkers"]["set-full"]["details"]["lost"],
        serde_json::json!([1]),
        "{r:#}"
    );
    // Only a read concurrent with the add: nothing stable, unknown.
    let early = [
        jl(0, "invoke", "add", "1"),
        jl(1, "invoke", "read", "null"),
        jl(1, "ok", "read", "[]"),
        jl(0, "ok", "add", "1"),
    ]
    .concat();
    expect(
        2,
        &["--model", "set-full"],
        &write(d.path(), "early.jsonl", &early),
    );
}

#[test]
fn long_fork_valid_invalid_unknown_and_group_size() {
    let d = tempfile::tempdir().unwrap();
    let mut h = [
        edn(0, "invoke", "txn", "[[:w 0 1]]"),
        edn(0, "ok", "txn", "[[:w 0 1]]"),
        edn(1, "invoke", "txn", "[[:w 1 1]]"),
        edn(1, "ok", "txn", "[[:w 1 1]]"),
        edn(2, "invoke", "txn", "[[:r 0 nil] [:r 1 nil]]"),
        edn(2, "ok", "txn", "[[:r 0 1] [:r 1 nil]]"),
    ]
    .concat();
    let ok = write(d.path(), "ok.edn", &h);
    expect(0, &["--model", "long-fork"], &ok);
    // Groups of 3: the reads read 2 keys, unknown.
    let out = expect(2, &["--model", "long-fork", "--group-size", "3"], &ok);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the group size is 3"),
        "{}",
        show(&out)
    );
    h.push_str(&edn(3, "invoke", "txn", "[[:r 1 nil] [:r 0 nil]]"));
    h.push_str(&edn(3, "ok", "txn", "[[:r 1 1] [:r 0 nil]]"));
    let r = json(
        1,
        &["--model", "long-fork"],
        &write(d.path(), "fork.edn", &h),
    );
    assert_eq!(r["anomalies"][0]["ops"], serde_json::json!([4, 6]), "{r:#}");
    assert_eq!(r["checkers"]["long-fork"]["details"]["reads-count"], 2);
    // A group size of 0 is refused before any file is read.
    let out = run(&["--model", "long-fork", "--group-size", "0", &ok]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn malformed_ops_are_errors_naming_file_line_and_field() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, String, u32, &str); 4] = [
        (
            "bank",
            "bank.edn",
            [
                edn(1, "invoke", "read", "nil"),
                edn(1, "ok", "read", "[50 50 0]"),
            ]
            .concat(),
            2,
            "map from account to balance",
        ),
        (
            "bank",
            "bank.jsonl",
            [
                jl(1, "invoke", "read", "null"),
                jl(1, "ok", "read", r#"{"0":"x"}"#),
            ]
            .concat(),
            2,
            "integer or nil",
        ),
        (
            "counter",
            "counter.jsonl",
            [
                jl(0, "invoke", "add", "1"),
                jl(0, "ok", "add", "1"),
                jl(1, "invoke", "read", "null"),
                jl(1, "ok", "read", "\"3\""),
            ]
            .concat(),
            4,
            "must be an integer",
        ),
        (
            "long-fork",
            "lf.edn",
            [
                edn(0, "invoke", "txn", "[[:append 0 1]]"),
                edn(0, "ok", "txn", "[[:append 0 1]]"),
            ]
            .concat(),
            1,
            "`append`",
        ),
    ];
    for (model, name, text, line, needle) in cases {
        let file = write(d.path(), name, &text);
        let out = expect(255, &["--model", model], &file);
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!("error: {file}:{line}: field `value`: ");
        assert!(
            err.contains(&want) && err.contains(needle),
            "{model}: want {want}…{needle}\n{}",
            show(&out)
        );
    }
}

#[test]
fn model_and_checker_together_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "c.jsonl",
        &[jl(0, "invoke", "read", "null"), jl(0, "ok", "read", "0")].concat(),
    );
    let out = run(&["--model", "counter", "--checker", "counter", &f]);
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    // --checker names them too; a read of 0 with no adds is in bounds.
    expect(0, &["--checker", "counter"], &f);
    // An option of a checker that does not run is refused, not ignored.
    for (flag, value) in [
        ("--total-amount", Some("100")),
        ("--linearizable", None),
        ("--group-size", Some("3")),
    ] {
        let mut args = vec!["--model", "counter", flag];
        args.extend(value);
        let out = expect(255, &args, &f);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{flag} is an option of the")),
            "{}",
            show(&out)
        );
    }
    let out = expect(255, &["--model", "counter", "--consistency"], &f);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not apply to --model counter"),
        "{}",
        show(&out)
    );
    // With bank named, --total-amount is taken (and bank reads this
    // counter history's read as a bad op).
    let out = expect(
        255,
        &["--checker", "counter,bank", "--total-amount", "0"],
        &f,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a bank read's value must be a map"),
        "{}",
        show(&out)
    );
    // Composed with set-full, whose reads must be collections: an error.
    let out = expect(255, &["--checker", "counter,set-full:linearizable"], &f);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{f}:2: field `value`:")),
        "{}",
        show(&out)
    );
}
