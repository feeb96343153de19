//! A system described only by a TOML file, run end to end through
//! `faultline test --system-file`: the kv binary under another name, from
//! the file's own directory, with two levels of its own whose arguments
//! pick kv's consistency level. Nothing in the harness knows this system.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// Writes `mykv` (a copy of faultline-kv) and `mykv.toml` into `dir`.
fn write_system(dir: &Path) -> std::path::PathBuf {
    std::fs::copy(bin_dir().join("faultline-kv"), dir.join("mykv")).unwrap();
    let file = dir.join("mykv.toml");
    std::fs::write(
        &file,
        r#"# Not a bundled system: the kv binary under another name.
name = "mykv"
description = "my own store"
binary = "./mykv"
command = ["{bin}", "--id", "{id}", "--listen", "{addr}", "--peers", "{peers}",
           "--data-dir", "{data_dir}", "--election-timeout-ms", "600"]
peer = "{id}={addr}"
protocol = "faultline-http"
workloads = ["register"]
default_level = "strong"
env = { MYKV_NODE = "{index}" }
logs = ["{data_dir}/raft.log"]

[ready]
http_get = "/health"

[leader]
http_get = "/status"
role = "/role"
roles = ["leader"]
names = "/leader"

[levels.strong]
description = "kv's raft level"
args = ["--level", "raft"]

[levels.weak]
description = "kv's primary-async level"
args = ["--level", "primary-async"]
"#,
    )
    .unwrap();
    file
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_system_described_only_by_a_file_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_system(dir.path());
    let file_s = file.to_str().unwrap();

    let out = faultline(&["systems", "--system-file", file_s]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mykv  my own store"), "{text}");
    assert!(text.contains("strong") && text.contains("weak"), "{text}");
    assert!(text.contains("args: --level primary-async"), "{text}");

    let store = dir.path().join("store");
    let out = faultline(&[
        "test",
        "--system-file",
        file_s,
        "--nodes",
        "3",
        "--time-limit",
        "6",
        "--nemesis",
        "partition,kill",
        "--nemesis-interval",
        "3",
        "--seed",
        "11",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let run = run_dir(&store);
    assert!(
        run.parent().unwrap().ends_with("mykv-strong-register"),
        "{}",
        run.display()
    );
    let test = json(&run.join("test.json"));
    assert_eq!(test["spec"]["system"], "mykv");
    assert_eq!(test["spec"]["level"], "strong");
    assert_eq!(test["spec"]["system_source"], file_s);
    assert!(
        test["bin"][0].as_str().unwrap().ends_with("/mykv"),
        "{}",
        test["bin"]
    );
    let results = json(&run.join("results.json"));
    assert_eq!(results["verdict"], "valid", "{results}");
    let h = history(&run);
    let oks = h
        .iter()
        .filter(|e| e["type"] == "ok" && e["process"].is_u64())
        .count();
    assert!(oks > 50, "only {oks} ok ops");
    assert!(h.iter().any(|e| e["f"] == "partition"), "no partition ran");
    assert_no_node_left(&run);
}

#[test]
fn a_bad_system_file_is_refused_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_system(dir.path());
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("{peers}", "{peer_list}")).unwrap();
    let out = faultline(&[
        "test",
        "--system-file",
        file.to_str().unwrap(),
        "--time-limit",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5: command: unknown placeholder {{peer_list}}",
            file.display()
        )),
        "{err}"
    );
    // An unknown level names the levels the file has.
    std::fs::write(&file, &text).unwrap();
    let out = faultline(&[
        "test",
        "--system-file",
        file.to_str().unwrap(),
        "--level",
        "raft",
    ]);
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--level: unknown level \"raft\" for system mykv (known: strong, weak)"),
        "{err}"
    );
}
