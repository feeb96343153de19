//! Tests of `faultline campaign`'s planning, expectations and columns.
use super::*;
use reports::campaign::Cell;

/// Every campaign file shipped in `campaigns/` plans, and every run it
/// would start has `faultline test` arguments that resolve.
#[test]
fn the_bundled_campaigns_are_well_formed() {
    #[derive(clap::Parser)]
    struct T {
        #[command(flatten)]
        t: crate::run::spec::TestArgs,
    }
    use clap::Parser;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns");
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        files += 1;
        let (_, rows) =
            plan(&path, &args(&path)).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert!(!rows.is_empty(), "{}", path.display());
        for row in &rows {
            let mut argv: Vec<std::ffi::OsString> = vec!["test".into()];
            let extra = ["--keep-data".to_string(), "invalid".to_string()];
            argv.extend(test_args(row, 1, Path::new("/tmp/x"), None, &extra));
            let t = T::try_parse_from(&argv)
                .unwrap_or_else(|e| panic!("{} {}: {e}", path.display(), row.id));
            t.t.resolve()
                .unwrap_or_else(|e| panic!("{} {}: {e:#}", path.display(), row.id));
        }
    }
    assert!(files >= 5, "only {files} campaign files");
}

#[test]
fn availability_counts_answers_not_outages() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"process":0,"type":"invoke","f":"acquire","time":0}"#,
        r#"{"process":0,"type":"ok","f":"acquire","time":2000000}"#,
        r#"{"process":1,"type":"invoke","f":"acquire","time":0}"#,
        r#"{"process":1,"type":"fail","f":"acquire","error":"locked","time":1000000}"#,
        r#"{"process":2,"type":"invoke","f":"cas","time":0}"#,
        r#"{"process":2,"type":"fail","f":"cas","error":{"code":"cas-mismatch"},"time":1000000}"#,
        r#"{"process":3,"type":"invoke","f":"read","time":0}"#,
        r#"{"process":3,"type":"fail","f":"read","error":"connect: Connection refused","time":1000000}"#,
        r#"{"process":4,"type":"invoke","f":"write","time":0}"#,
        r#"{"process":4,"type":"info","f":"write","error":"timeout","time":1000000}"#,
        r#"{"process":"nemesis","type":"info","f":"kill","time":5}"#,
    ];
    std::fs::write(dir.path().join("history.jsonl"), lines.join("\n")).unwrap();
    let (st, lat) = history_figures(dir.path()).unwrap();
    // ok, locked and cas-mismatch are answers; a refused connection and
    // an info are not.
    assert_eq!((st.ok + st.fail + st.info, st.answered), (5, 3));
    assert_eq!(lat, vec![2.0]);
    assert!(history_figures(&dir.path().join("nope")).is_none());
}

fn args(file: &Path) -> CampaignArgs {
    CampaignArgs {
        file: file.to_path_buf(),
        time_limit: None,
        seeds: None,
        filter: None,
        store: PathBuf::from("store"),
        bin_dir: None,
        keep_data: None,
    }
}

#[test]
fn plan_expands_levels_nemeses_and_seeds_with_overrides() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("c.toml");
    std::fs::write(
        &f,
        r#"
name = "t"
[defaults]
seeds = 2
nemesis = ["kill", "pause"]
args = ["--rate", "50"]
[[cell]]
levels = ["raft", "gossip"]
expect = "valid"
[[cell]]
level = "raft-local"
nemesis = "partition"
seeds = [7]
args = ["--keys", "2"]
expect = { invalid = ["stale-read"] }
[[cell]]
level = "raft-local"
nemesis = "partition"
seeds = [7]
[[cell]]
level = "raft"
nemesis = "kill"
workload = "register"
"#,
    )
    .unwrap();
    let (name, rows) = plan(&f, &args(&f)).unwrap();
    assert_eq!(name, "t");
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "kv/raft/kill",
            "kv/raft/pause",
            "kv/gossip/kill",
            "kv/gossip/pause",
            "kv/raft-local/partition",
            "kv/raft-local/partition#2",
            "kv/raft/kill/register"
        ]
    );
    assert_eq!(rows[0].seeds, [1, 2]);
    assert_eq!(rows[4].seeds, [7]);
    assert_eq!(rows[4].args, ["--rate", "50", "--keys", "2"]);
    let mut a = args(&f);
    a.filter = Some("gossip|local".into());
    a.seeds = Some(4);
    let (_, rows) = plan(&f, &a).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].seeds, [1, 2, 3, 4]);
    std::fs::write(&f, "[[cell]]\nlevel = \"raft\"\nbogus = 1\n").unwrap();
    let e = plan(&f, &args(&f)).unwrap_err().to_string();
    assert!(e.contains("bogus"), "{e}");
}

fn row(verdicts: &[&str], cells: &[(&str, usize)]) -> Row {
    Row {
        runs: verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| RunRef {
                seed: i as u64 + 1,
                verdict: v.to_string(),
                ..Default::default()
            })
            .collect(),
        cells: cells
            .iter()
            .map(|(c, f)| {
                (
                    c.to_string(),
                    Cell {
                        failed: *f,
                        total: verdicts.len(),
                        ..Default::default()
                    },
                )
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn expectations() {
    let w = |s: &str| Expect::Word(s.into());
    assert!(check_expect(&w("valid"), &row(&["valid", "valid"], &[])).is_ok());
    let e = check_expect(&w("valid"), &row(&["valid", "invalid"], &[])).unwrap_err();
    assert!(e.contains("seed 2 invalid"), "{e}");
    assert!(check_expect(&w("invalid"), &row(&["valid", "invalid"], &[])).is_ok());
    assert!(check_expect(&w("invalid"), &row(&["valid", "valid"], &[])).is_err());
    assert!(check_expect(&w("any"), &row(&["error"], &[])).is_err());
    let t = Expect::Table {
        invalid: Some(vec!["stale-read".into()]),
        holds: Some("pram".into()),
        fails: None,
        invalid_any: None,
    };
    assert!(check_expect(&t, &row(&["invalid"], &[("stale-reads", 1), ("pram", 0)])).is_ok());
    let e = check_expect(&t, &row(&["invalid"], &[("stale-reads", 0), ("pram", 1)])).unwrap_err();
    assert!(
        e.contains("stale-read not seen") && e.contains("pram fails"),
        "{e}"
    );
}

#[test]
fn columns_read_results_json() {
    let r: RunResults = serde_json::from_value(serde_json::json!({
        "verdict": "invalid",
        "consistency": {"linearizable": "invalid", "sequential": "valid", "causal": "unknown"},
        "measures": {"stale-reads": 3, "lost-writes": 0, "converged": false}
    }))
    .unwrap();
    assert_eq!(column_state("linearizable", Some(&r)), "failed");
    assert_eq!(column_state("sequential", Some(&r)), "ok");
    assert_eq!(column_state("causal", Some(&r)), "unknown");
    assert_eq!(column_state("pram", Some(&r)), "none");
    assert_eq!(column_state("stale-reads", Some(&r)), "failed");
    assert_eq!(column_state("lost-writes", Some(&r)), "ok");
    assert_eq!(column_state("convergence", Some(&r)), "failed");
    assert_eq!(column_state("linearizable", None), "unknown");
    let only_verdict: RunResults =
        serde_json::from_value(serde_json::json!({"verdict": "valid"})).unwrap();
    assert_eq!(column_state("linearizable", Some(&only_verdict)), "ok");
}

#[test]
fn a_cell_may_name_a_system_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("mine.toml"),
        r#"
name = "mine"
binary = "/bin/true"
command = ["{bin}", "{id}"]
protocol = "faultline-http"
workloads = ["register"]
[levels.fast]
[levels.safe]
"#,
    )
    .unwrap();
    let f = d.path().join("c.toml");
    std::fs::write(
        &f,
        "[[cell]]\nsystem_file = \"mine.toml\"\nlevels = [\"fast\", \"safe\"]\nnemesis = \"kill\"\n",
    )
    .unwrap();
    let (_, rows) = plan(&f, &args(&f)).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["mine/fast/kill", "mine/safe/kill"]);
    let a: Vec<String> = test_args(&rows[0], 3, Path::new("s"), None, &[])
        .into_iter()
        .map(|x| x.to_string_lossy().into_owned())
        .collect();
    let file = d.path().join("mine.toml").to_string_lossy().into_owned();
    assert_eq!(a[..4], ["--system-file", file.as_str(), "--level", "fast"]);
    // A file that does not load is refused when planning, naming the cell.
    std::fs::write(d.path().join("mine.toml"), "name = 3\n").unwrap();
    let e = format!("{:#}", plan(&f, &args(&f)).unwrap_err());
    assert!(e.contains("cell 1") && e.contains("mine.toml:1"), "{e}");
}

/// A transactional run's results.json, as the isolation checker writes it.
fn txn_results(anomalies: &[&str], verdict: &str) -> RunResults {
    let p = checker::txn::lattice::place(anomalies.iter().copied());
    // As a run writes it: the main checker's details in `workload`.
    serde_json::from_value(serde_json::json!({
        "verdict": verdict,
        "workload": {
            "checker": "list-append",
            "verdict": verdict,
            "anomaly_types": anomalies,
            "not": p.not,
            "also_not": p.also_not,
            "search": {"gave_up": []},
        },
        "checkers": {"list-append:read-committed": {"verdict": verdict}}
    }))
    .unwrap()
}

#[test]
fn transactional_runs_fill_isolation_columns_and_expectations() {
    let mut r = row(&["valid", "valid"], &[]);
    let tr = txn_results(&["G-single", "G-single-process"], "valid");
    let a = txn_view(&tr).unwrap();
    assert_eq!(a.anomalies, ["G-single", "G-single-process"]);
    assert!(a.ruled_out.iter().any(|m| m == "snapshot-isolation"));
    assert!(!a.ruled_out.iter().any(|m| m == "read-committed"));
    txn_cells(&mut r, &a, Some("runs/1"));
    let b = txn_view(&txn_results(&[], "valid")).unwrap();
    txn_cells(&mut r, &b, Some("runs/2"));
    r.strongest_kept = Some(vec!["x".into()]);
    let c = &r.cells["G-single"];
    assert_eq!((c.failed, c.total), (1, 2));
    assert_eq!(
        c.worst.as_deref(),
        Some("runs/1/index.html#anomaly-G-single")
    );
    assert_eq!(
        r.cells["serializable"].worst.as_deref(),
        Some("runs/1/index.html#counterexample")
    );
    assert_eq!(r.cells["serializable"].failed, 1);
    assert_eq!(r.cells["read-committed"].failed, 0);
    // Names an expectation may use: models by any lattice name, classes.
    let t =
        |invalid: &[&str], any: &[&str], holds: Option<&str>, fails: Option<&str>| Expect::Table {
            invalid: Some(invalid.iter().map(|s| s.to_string()).collect()),
            holds: holds.map(String::from),
            fails: fails.map(String::from),
            invalid_any: Some(any.iter().map(|s| s.to_string()).collect()),
        };
    assert!(check_expect(&t(&["G-single"], &[], Some("read-committed"), None), &r).is_ok());
    assert!(check_expect(&t(&[], &["G0", "G-single"], None, Some("SI")), &r).is_ok());
    let e = check_expect(
        &t(&["G2-item"], &["G1a", "G1c"], Some("serializable"), None),
        &r,
    )
    .unwrap_err();
    assert!(
        e.contains("G2-item not seen")
            && e.contains("none of G1a, G1c seen")
            && e.contains("serializable fails in 1/2"),
        "{e}"
    );
    let e = check_expect(&t(&["G9"], &[], None, None), &r).unwrap_err();
    assert!(e.contains("unknown anomaly `G9`"), "{e}");
    // Only transactional rows: the register columns are left out, the
    // isolation models and the classes found are shown.
    let cols = columns(std::slice::from_ref(&r));
    assert!(!cols.contains(&"linearizable".to_string()), "{cols:?}");
    assert!(cols.contains(&"snapshot-isolation".to_string()), "{cols:?}");
    assert!(cols.contains(&"G-single".to_string()), "{cols:?}");
    assert!(!cols.contains(&"G2-item".to_string()), "{cols:?}");
    assert!(!cols.contains(&"G-single-process".to_string()), "{cols:?}");
    assert_eq!(r.cells["G-single-process"].failed, 1);
    // A register row alone keeps the old columns.
    let reg = row(&["valid"], &[("linearizable", 0)]);
    assert_eq!(columns(&[reg]).len(), MODELS.len() + ANOMALIES.len());
    // A run with no isolation checker is not transactional.
    assert!(
        txn_view(&serde_json::from_value(serde_json::json!({"verdict": "valid"})).unwrap())
            .is_none()
    );
}
