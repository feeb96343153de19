//! Real etcd 3.4 clusters in network namespaces (systems/defs/etcd.toml):
//! a short partitioned run that must come out linearizable, and a SIGKILL
//! of the harness mid-run that must leave no member, namespace or rule
//! behind. Both need root and Debian's etcd-server (scripts/install-deps.sh
//! installs it; CI runs as root); without them they say they are skipped.

mod common;

use common::{faultline, history, run_dir, show, BIN};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/usr/bin/etcd").is_file() {
        return Some("etcd is not installed (scripts/install-deps.sh)".into());
    }
    if nemesis::netns::preflight().is_some() {
        return nemesis::netns::preflight();
    }
    None
}

fn skip(test: &str) -> bool {
    match unavailable() {
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            true
        }
        None => false,
    }
}

/// The network namespace inodes that some thread is in, some descriptor
/// holds or some bind mount (`ip netns add`) keeps, machine-wide.
fn held_netns() -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    // mountinfo: the 4th field is the mount's root, `net:[N]` for nsfs.
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if let Some(root) = line.split_whitespace().nth(3) {
            if let Some(n) = root
                .strip_prefix("net:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse().ok())
            {
                out.insert(n);
            }
        }
    }
    let parse = |l: std::path::PathBuf| {
        l.to_str()
            .and_then(|s| s.strip_prefix("net:["))
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<u64>().ok())
    };
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = p.path();
        if let Ok(tasks) = std::fs::read_dir(dir.join("task")) {
            for t in tasks.flatten() {
                if let Ok(l) = std::fs::read_link(t.path().join("ns/net")) {
                    out.extend(parse(l));
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
            for fd in fds.flatten() {
                if let Ok(l) = std::fs::read_link(fd.path()) {
                    out.extend(parse(l));
                }
            }
        }
    }
    out
}

fn netns_of(pid: u32) -> Option<u64> {
    let l = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    l.to_str()?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// A pid still running etcd (a zombie or a reused pid is not).
fn alive_etcd(pid: u32) -> bool {
    common::alive_matching(pid, |cmd| cmd.contains("etcd"))
}

fn pids_of(run: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir(run.join("nodes")).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path().join("pids")).unwrap_or_default();
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    pids
}

/// The root namespace's interfaces and nftables ruleset, to compare before
/// and after.
fn root_network() -> (Vec<String>, String) {
    let mut links: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    links.sort();
    let nft = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    (links, nft)
}

#[test]
fn etcd_under_a_partition_is_linearizable() {
    if skip("etcd_under_a_partition_is_linearizable") {
        return;
    }
    let before = root_network();
    let store = tempfile::tempdir().unwrap();
    let out = faultline(&[
        "test",
        "--system",
        "etcd",
        "--nodes",
        "3",
        "--time-limit",
        "15",
        "--nemesis",
        "partition",
        "--partition",
        "halves,one",
        "--nemesis-interval",
        "6",
        "--seed",
        "11",
        "--store",
        store.path().to_str().unwrap(),
    ]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("verdict    VALID"), "{text}");
    assert!(text.contains("network: a namespace per node"), "{text}");
    let run = run_dir(store.path());
    let h = history(&run);
    let oks = h
        .iter()
        .filter(|e| e["type"] == "ok" && e["process"].is_u64())
        .count();
    assert!(oks > 300, "only {oks} ok ops\n{text}");
    // The partition happened, as nftables rules in the members' namespaces.
    assert!(
        h.iter()
            .any(|e| e["process"] == "nemesis" && e["f"] == "partition" && e["type"] == "info"),
        "no partition in the history"
    );
    // The members are gone, and the root namespace is as it was.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids_of(&run).into_iter().any(alive_etcd) {
        assert!(Instant::now() < deadline, "etcd members left running");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        root_network(),
        before,
        "the root namespace's network changed"
    );
}

#[test]
fn a_sigkilled_harness_leaves_no_member_namespace_or_rule() {
    if skip("a_sigkilled_harness_leaves_no_member_namespace_or_rule") {
        return;
    }
    let before = root_network();
    let store = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "test",
            "--system",
            "etcd",
            "--nodes",
            "3",
            "--time-limit",
            "60",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "2",
            "--seed",
            "5",
            "--store",
            store.path().to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the members run and a partition has been applied.
    let deadline = Instant::now() + Duration::from_secs(40);
    let run = loop {
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(250));
        let Ok(run) = std::fs::canonicalize(store.path().join("latest")) else {
            continue;
        };
        let partitioned = std::fs::read_to_string(run.join("history.jsonl"))
            .map(|t| t.contains("\"f\":\"partition\""))
            .unwrap_or(false);
        if partitioned && pids_of(&run).len() >= 3 {
            break run;
        }
    };
    let pids = pids_of(&run);
    let namespaces: BTreeSet<u64> = pids.iter().filter_map(|&p| netns_of(p)).collect();
    assert_eq!(
        namespaces.len(),
        3,
        "one namespace per member: {namespaces:?}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&p| alive_etcd(p)).collect();
        let held: Vec<u64> = held_netns().intersection(&namespaces).copied().collect();
        if alive.is_empty() && held.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: members {alive:?}, namespaces {held:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        root_network(),
        before,
        "the root namespace's network changed"
    );
    // What was recorded is still checkable.
    let out = faultline(&["analyze", run.to_str().unwrap()]);
    assert!(matches!(out.status.code(), Some(0..=2)), "{}", show(&out));
    assert!(show(&out).contains("verdict"), "{}", show(&out));
}

#[test]
fn without_root_a_real_system_fails_fast_saying_what_is_missing() {
    if skip("without_root_a_real_system_fails_fast_saying_what_is_missing") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    // Run as nobody (setpriv from util-linux drops root).
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args([
            "test",
            "--system",
            "etcd",
            "--nodes",
            "3",
            "--time-limit",
            "5",
        ])
        .arg("--store")
        .arg(store.path())
        .output()
        .unwrap();
    let text = show(&out);
    assert_eq!(out.status.code(), Some(255), "{text}");
    assert!(text.contains("network namespaces"), "{text}");
    assert!(text.contains("root"), "{text}");
}
