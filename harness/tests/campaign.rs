//! A real (short) campaign: a cell whose expectation is deliberately wrong
//! makes `faultline campaign` exit 1 and name the cell, and the campaign
//! directory holds the page, summary.json, summary.md and junit.xml.

mod common;

use std::process::Command;

#[test]
fn wrong_expectation_exits_1_and_names_the_cell() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.toml");
    std::fs::write(
        &file,
        r#"
name = "wrong"
[defaults]
system = "kv"
nodes = 3
time_limit = 6
seeds = [1]
nemesis = "kill,pause"
[[cell]]
level = "raft"
expect = "invalid"
"#,
    )
    .unwrap();
    let store = dir.path().join("store");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("campaign")
        .arg(&file)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("EXPECTATION BROKEN: kv/raft/kill,pause"),
        "stdout:\n{stdout}"
    );
    let camp = std::fs::read_dir(store.join("campaigns/wrong"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for f in ["index.html", "summary.json", "summary.md", "junit.xml"] {
        assert!(camp.join(f).exists(), "{f} missing in {}", camp.display());
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(camp.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["rows"][0]["runs"][0]["verdict"], "valid");
    assert_eq!(summary["rows"][0]["expect_ok"], false);
    let junit = std::fs::read_to_string(camp.join("junit.xml")).unwrap();
    assert!(junit.contains("failures=\"1\""));
}

/// SIGTERM to the campaign process alone, during its first run: the run is
/// stopped (it heals, stops its nodes and checks what it has), no other
/// run starts, and the summary, page and JUnit are written with the rows
/// not run to the end marked not judged; exit 2. No node outlives it.
#[test]
fn an_interrupted_campaign_writes_its_summary_and_leaves_no_node() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(
        &file,
        r#"
name = "long"
[defaults]
system = "kv"
nodes = 3
time_limit = 60
seeds = [1, 2]
nemesis = "none"
[[cell]]
level = "raft"
expect = "valid"
[[cell]]
level = "quorum"
expect = "valid"
"#,
    )
    .unwrap();
    let store = dir.path().join("store");
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("campaign")
        .arg(&file)
        .arg("--store")
        .arg(&store)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run's nodes are up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let run_store = loop {
        let found = std::fs::read_dir(store.join("campaigns/long"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("runs/kv_raft_none/seed-1"))
            .filter(|s| s.join("latest/history.jsonl").exists());
        if let Some(s) = found {
            break s;
        }
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(30), "slow to stop");
    assert!(stdout.contains("interrupted after 1 of 4 runs"), "{stdout}");
    let camp = run_store.ancestors().nth(3).unwrap().to_path_buf();
    for f in ["index.html", "summary.json", "summary.md", "junit.xml"] {
        assert!(camp.join(f).exists(), "{f} missing in {}", camp.display());
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(camp.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["rows"][0]["runs"][0]["verdict"], "unknown");
    assert!(summary["rows"][0]["expect_ok"].is_null());
    assert!(summary["rows"][1]["runs"].as_array().unwrap().is_empty());
    assert!(summary["rows"][1]["expect_message"]
        .as_str()
        .unwrap()
        .contains("0 of 2 seeds ran"));
    // The interrupted run's nodes are gone.
    let run = std::fs::canonicalize(run_store.join("latest")).unwrap();
    let pids = common::node_pids(&run);
    assert!(!pids.is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| common::alive_node(p)) {
        assert!(Instant::now() < deadline, "nodes left: {pids:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
