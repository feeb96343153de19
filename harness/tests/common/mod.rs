//! Helpers shared by the real-run tests (`e2e`, `queue_lock`): the
//! binaries, running `faultline`, reading a run's history, and checking
//! that no node process outlived it.
#![allow(dead_code)] // each test crate uses its own subset

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// The node binaries the runs start.
const NODE_BINS: [&str; 4] = [
    "faultline-kv",
    "faultline-queue",
    "faultline-lock",
    "faultline-txn",
];

/// The directory holding the node binaries: next to `faultline`, where
/// `cargo test --workspace` puts them. Under `cargo test -p faultline` they
/// may be missing; then they are built with the same cargo and profile.
pub fn bin_dir() -> PathBuf {
    let dir = Path::new(BIN).parent().unwrap().to_path_buf();
    if NODE_BINS.iter().all(|b| dir.join(b).is_file()) {
        return dir;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "systems"]);
    for b in NODE_BINS {
        cmd.args(["--bin", b]);
    }
    if dir.file_name().and_then(|n| n.to_str()) == Some("release") {
        cmd.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let st = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo to build the node binaries");
    assert!(st.success(), "building the node binaries failed");
    for b in NODE_BINS {
        assert!(
            dir.join(b).is_file(),
            "{b} still missing in {}",
            dir.display()
        );
    }
    dir
}

pub fn faultline(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run faultline")
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn history(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every pid a run's nodes ever had.
pub fn node_pids(run: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir(run.join("nodes")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path().join("pids")).unwrap_or_default();
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    pids
}

/// A pid that still runs a process whose command line passes `is_ours`
/// (a zombie counts as gone; a reused pid running something else is not
/// ours).
pub fn alive_matching(pid: u32, is_ours: impl Fn(&str) -> bool) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    !stat.is_empty() && state != Some("Z") && is_ours(&String::from_utf8_lossy(&cmd))
}

/// A pid that still runs a faultline node.
pub fn alive_node(pid: u32) -> bool {
    alive_matching(pid, |cmd| {
        NODE_BINS.iter().any(|b| cmd.contains(b)) || cmd.contains("-node")
    })
}

pub fn assert_no_node_left(run: &Path) {
    let pids = node_pids(run);
    assert!(!pids.is_empty(), "no pids recorded under {}", run.display());
    // Killed processes may take a moment to be reaped by init.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&p| alive_node(p)).collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node processes left running: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn run_dir(store: &Path) -> PathBuf {
    std::fs::canonicalize(store.join("latest")).expect("store/latest points at the run")
}
