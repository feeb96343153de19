//! PostgreSQL 15 (`systems/defs/postgres.toml`), for real: one server,
//! the list-append workload, kill and pause faults. Needs Debian's
//! postgresql-15 (scripts/install-deps.sh), and, when run as root, the
//! `postgres` user to run the server as; skipped, saying why, without them.

mod common;

use common::{faultline, history, run_dir, show};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Why this machine cannot run PostgreSQL, if it cannot.
fn cannot_run() -> Option<String> {
    for b in ["initdb", "postgres", "pg_isready"] {
        if !Path::new(PG_BIN).join(b).is_file() {
            return Some(format!(
                "{PG_BIN}/{b} is missing: postgresql-15 is not installed (scripts/install-deps.sh)"
            ));
        }
    }
    if unsafe { libc::geteuid() } == 0 {
        let user = std::process::Command::new("id")
            .arg("postgres")
            .output()
            .is_ok_and(|o| o.status.success());
        if !user {
            return Some(
                "running as root, and there is no `postgres` user to run the server as".into(),
            );
        }
    }
    None
}

/// A store the `postgres` user can traverse (tempdirs are 0700).
fn store() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Every live process whose working directory is under `dir` (the
/// postmaster and its backends chdir into the data dir), or that is a pid
/// the harness recorded and still runs postgres.
fn postgres_left(run: &Path) -> Vec<u32> {
    let data: PathBuf = std::fs::canonicalize(run.join("nodes")).unwrap();
    let mut left: Vec<u32> = common::node_pids(run)
        .into_iter()
        .filter(|&p| common::alive_matching(p, |cmd| cmd.contains("postgres")))
        .collect();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let in_run = std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c.starts_with(&data));
        if in_run && common::alive_matching(pid, |_| true) && !left.contains(&pid) {
            left.push(pid);
        }
    }
    left
}

fn assert_no_postgres_left(run: &Path) {
    assert!(
        !common::node_pids(run).is_empty(),
        "no pids recorded under {}",
        run.display()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = postgres_left(run);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "postgres processes left: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(level: &str, seed: &str, store: &Path) -> (std::process::Output, PathBuf) {
    let out = faultline(&[
        "test",
        "--system",
        "postgres",
        "--level",
        level,
        "--time-limit",
        "10",
        "--nemesis",
        "kill,pause",
        "--nemesis-interval",
        "4",
        "--concurrency",
        "6",
        "--rate",
        "150",
        "--seed",
        seed,
        "--store",
        store.to_str().unwrap(),
    ]);
    let run = run_dir(store);
    (out, run)
}

fn ok_txns_with_reads(h: &[Value]) -> usize {
    h.iter()
        .filter(|e| e["process"].is_u64() && e["type"] == "ok" && e["f"] == "txn")
        .filter(|e| {
            e["value"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x[0] == "r" && !x[2].is_null()))
        })
        .count()
}

/// 10 s at SERIALIZABLE with kills and pauses: the server restarts on its
/// data dir, transactions commit and read what others appended, the run is
/// valid (strict serializable), and no postgres process outlives it.
#[test]
fn postgres_serializable_list_append_under_kills_is_valid() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let store = store();
    let (out, run) = run("serializable", "11", store.path());
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let results: Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "valid", "{results:#}");
    let h = history(&run);
    assert!(ok_txns_with_reads(&h) > 50, "{}", show(&out));
    // A txn has no key; its checker is list-append at the level's claim.
    assert!(h
        .iter()
        .filter(|e| e["f"] == "txn")
        .all(|e| e.get("key").is_none()));
    let test: Value =
        serde_json::from_slice(&std::fs::read(run.join("test.json")).unwrap()).unwrap();
    assert!(
        test.to_string().contains("list-append:strict-serializable"),
        "{test:#}"
    );
    let kills = h
        .iter()
        .filter(|e| e["process"] == "nemesis" && e["f"] == "kill")
        .count();
    assert!(kills > 0, "no kill in the history\n{}", show(&out));
    // The final reads after the heal succeeded.
    let last_ok = h
        .iter()
        .rev()
        .find(|e| e["process"].is_u64() && e["f"] == "txn")
        .unwrap();
    assert_eq!(last_ok["type"], "ok", "{last_ok}");
    assert_no_postgres_left(&run);
}

/// 10 s at READ COMMITTED: the run completes with a verdict, its history
/// parses as list-append (anomalies may or may not show in 10 s), and no
/// postgres process outlives it.
#[test]
fn postgres_read_committed_runs_and_is_judged() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let store = store();
    let (out, run) = run("read-committed", "12", store.path());
    assert!(matches!(out.status.code(), Some(0..=2)), "{}", show(&out));
    let h = history(&run);
    assert!(ok_txns_with_reads(&h) > 50, "{}", show(&out));
    let check = faultline(&[
        "check",
        "--model",
        "list-append",
        "--isolation",
        "read-committed",
        run.join("history.jsonl").to_str().unwrap(),
    ]);
    assert!(
        matches!(check.status.code(), Some(0..=2)),
        "{}",
        show(&check)
    );
    assert_no_postgres_left(&run);
}

/// The primary and its synchronous standby (`postgres-replica`), kills
/// and pauses on either: the standby streams from the primary, the run is
/// valid, and no postgres process outlives it.
#[test]
fn postgres_replica_sync_is_valid() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let store = store();
    let out = faultline(&[
        "test",
        "--system",
        "postgres-replica",
        "--time-limit",
        "10",
        "--nemesis",
        "kill,pause",
        "--nemesis-interval",
        "4",
        "--concurrency",
        "6",
        "--seed",
        "13",
        "--store",
        store.path().to_str().unwrap(),
    ]);
    let run = run_dir(store.path());
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let h = history(&run);
    assert!(ok_txns_with_reads(&h) > 30, "{}", show(&out));
    // Every transaction went to the primary.
    assert!(h
        .iter()
        .filter(|e| e["f"] == "txn")
        .all(|e| e["node"] == "n1"));
    let n2 = std::fs::read_to_string(run.join("nodes/n2/stderr.log")).unwrap();
    assert!(n2.contains("started streaming WAL"), "{n2}");
    assert_no_postgres_left(&run);
}

/// A `--nodes` that contradicts the system file's `nodes = 1` is refused
/// before anything starts, saying what to do.
#[test]
fn postgres_is_one_node() {
    let out = faultline(&["test", "--system", "postgres", "--nodes", "3"]);
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("postgres runs exactly 1 node") && err.contains("leave --nodes out"),
        "{err}"
    );
}
