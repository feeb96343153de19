//! A real (short) campaign: a cell whose expectation is deliberately wrong
//! makes `faultline campaign` exit 1 and name the cell, and the campaign
//! directory holds the page, summary.json, summary.md and junit.xml.

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
