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
        file: Some(file.to_path_buf()),
        shard: None,
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
    assert!(check_expect(&w("valid"), &row(&["valid", "valid"], &[]), 60.0).is_ok());
    let e = check_expect(&w("valid"), &row(&["valid", "invalid"], &[]), 60.0).unwrap_err();
    assert!(e.contains("seed 2 invalid"), "{e}");
    assert!(check_expect(&w("invalid"), &row(&["valid", "invalid"], &[]), 60.0).is_ok());
    assert!(check_expect(&w("invalid"), &row(&["valid", "valid"], &[]), 60.0).is_err());
    assert!(check_expect(&w("any"), &row(&["error"], &[]), 60.0).is_err());
    let t = Expect::Table(ExpectTable {
        invalid: Some(vec!["stale-read".into()]),
        holds: Some("pram".into()),
        ..Default::default()
    });
    assert!(check_expect(
        &t,
        &row(&["invalid"], &[("stale-reads", 1), ("pram", 0)]),
        60.0
    )
    .is_ok());
    let e = check_expect(
        &t,
        &row(&["invalid"], &[("stale-reads", 0), ("pram", 1)]),
        60.0,
    )
    .unwrap_err();
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
    let t = |invalid: &[&str], any: &[&str], holds: Option<&str>, fails: Option<&str>| {
        Expect::Table(ExpectTable {
            invalid: Some(invalid.iter().map(|s| s.to_string()).collect()),
            holds: holds.map(String::from),
            fails: fails.map(String::from),
            invalid_any: Some(any.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        })
    };
    assert!(check_expect(
        &t(&["G-single"], &[], Some("read-committed"), None),
        &r,
        60.0
    )
    .is_ok());
    assert!(check_expect(&t(&[], &["G0", "G-single"], None, Some("SI")), &r, 60.0).is_ok());
    let e = check_expect(
        &t(&["G2-item"], &["G1a", "G1c"], Some("serializable"), None),
        &r,
        60.0,
    )
    .unwrap_err();
    assert!(
        e.contains("G2-item not seen")
            && e.contains("none of G1a, G1c seen")
            && e.contains("serializable fails in 1/2"),
        "{e}"
    );
    let e = check_expect(&t(&["G9"], &[], None, None), &r, 60.0).unwrap_err();
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

/// A run of `row` with these verdicts and first anomalies.
fn timed_row(runs: &[(&str, Option<f64>)]) -> Row {
    Row {
        runs: runs
            .iter()
            .enumerate()
            .map(|(i, (v, fa))| RunRef {
                seed: i as u64 + 1,
                verdict: v.to_string(),
                first_anomaly_s: *fa,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn catch_rate_and_median_first_anomaly_expectations() {
    let catch = |r: f64| {
        Expect::Table(ExpectTable {
            catch_rate: Some(r),
            ..Default::default()
        })
    };
    // 17 of 20 caught against 95%: the message gives the measured figure
    // and its interval.
    let mut runs = vec![("invalid", Some(3.0)); 17];
    runs.extend([("valid", None); 3]);
    let e = check_expect(&catch(0.95), &timed_row(&runs), 60.0).unwrap_err();
    assert_eq!(
        e,
        "caught 17/20 (85%, 95% CI 64–95%), expected at least 95%"
    );
    assert!(check_expect(&catch(0.85), &timed_row(&runs), 60.0).is_ok());
    // 19 of 20 is exactly 95%.
    let mut runs = vec![("invalid", Some(3.0)); 19];
    runs.push(("valid", None));
    assert!(check_expect(&catch(0.95), &timed_row(&runs), 60.0).is_ok());
    // A harness error still breaks the row, whatever the rate.
    runs.push(("error", None));
    let e = check_expect(&catch(0.5), &timed_row(&runs), 60.0).unwrap_err();
    assert!(e.contains("harness error in seed(s) 21"), "{e}");
    // Median first anomaly over the invalid seeds; one without a first
    // anomaly counts as the time limit.
    let median = |m: f64| {
        Expect::Table(ExpectTable {
            median_first_anomaly_s: Some(m),
            ..Default::default()
        })
    };
    let r = timed_row(&[
        ("invalid", Some(2.0)),
        ("invalid", Some(12.0)),
        ("valid", Some(1.0)),
        ("invalid", None),
    ]);
    assert!(check_expect(&median(12.0), &r, 30.0).is_ok());
    let e = check_expect(&median(11.0), &r, 30.0).unwrap_err();
    assert_eq!(
        e,
        "median first anomaly 12.0 s over 3 invalid seeds, 1 without a first anomaly counted as the 30 s time limit, expected at most 11 s"
    );
    // With a short time limit the late seed is no longer the median's
    // upper neighbour: [2, 5, 12] -> 5.
    assert!(check_expect(&median(5.0), &r, 5.0).is_ok());
    let e = check_expect(&median(15.0), &timed_row(&[("valid", None)]), 30.0).unwrap_err();
    assert!(e.contains("no invalid seed"), "{e}");
    // Composed with the old keys: every broken condition is named.
    let both = Expect::Table(ExpectTable {
        invalid: Some(vec!["stale-read".into()]),
        catch_rate: Some(1.0),
        median_first_anomaly_s: Some(1.0),
        ..Default::default()
    });
    let e = check_expect(&both, &r, 30.0).unwrap_err();
    assert!(
        e.contains("stale-read not seen")
            && e.contains("caught 3/4 (75%")
            && e.contains("expected at least 100%")
            && e.contains("median first anomaly 12.0 s"),
        "{e}"
    );
    assert_eq!(
        both.describe(),
        "invalid: stale-read; catch rate ≥ 100%; median first anomaly ≤ 1 s"
    );
}

const DETECT: &str = r#"
name = "detect"
[defaults]
system = "kv"
nodes = 3
time_limit = 10
seeds = 3
[[cell]]
level = "raft"
nemesis = ["kill", "partition"]
expect = "valid"
[[cell]]
level = "raft-local"
nemesis = "partition"
seeds = 5
expect = { catch_rate = 0.6, median_first_anomaly_s = 5 }
[[cell]]
level = "gossip"
nemesis = "partition"
seeds = [4, 9]
expect = { invalid = ["stale-read"], catch_rate = 1.0 }
"#;

fn detect_plan(dir: &Path, text: &str, shard: ShardInfo) -> PlanFile {
    let f = dir.join("detect.toml");
    std::fs::write(&f, text).unwrap();
    let (name, rows) = plan(&f, &args(&f)).unwrap();
    PlanFile::new(&name, &f, text.to_string(), &rows, shard)
}

#[test]
fn the_new_expectation_keys_parse_and_bad_ones_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let pf = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 1 });
    assert_eq!(
        pf.rows[2].expect,
        Some(Expect::Table(ExpectTable {
            catch_rate: Some(0.6),
            median_first_anomaly_s: Some(5.0),
            ..Default::default()
        }))
    );
    // plan.json round-trips, expectations included (merge judges them).
    let back: PlanFile = serde_json::from_str(&serde_json::to_string(&pf).unwrap()).unwrap();
    assert_eq!(back.rows, pf.rows);
    assert_eq!(back.units, pf.units);
    let f = d.path().join("bad.toml");
    for (expect, want) in [
        ("{ catch = 0.9 }", "unknown field `catch`"),
        ("{ catch_rate = 1.5 }", "expect.catch_rate = 1.5"),
        ("{ catch_rate = -0.1 }", "between 0 and 1"),
        ("{ median_first_anomaly_s = -3 }", "expected seconds"),
        ("\"vaild\"", "expect = \"vaild\""),
    ] {
        std::fs::write(
            &f,
            format!("[[cell]]\nlevel = \"raft\"\nexpect = {expect}\n"),
        )
        .unwrap();
        let e = format!("{:#}", plan(&f, &args(&f)).unwrap_err());
        assert!(e.contains(want) && e.contains("bad.toml"), "{expect}: {e}");
    }
}

#[test]
fn shard_argument_is_validated() {
    assert_eq!(parse_shard("3/8"), Ok(ShardInfo { index: 3, count: 8 }));
    assert_eq!(parse_shard("1/1"), Ok(ShardInfo { index: 1, count: 1 }));
    for bad in ["0/4", "5/4", "4", "a/b", "1/0", "", "2/"] {
        let e = parse_shard(bad).unwrap_err();
        assert!(e.contains("1 ≤ I ≤ N"), "{bad}: {e}");
    }
    // And through the CLI.
    #[derive(clap::Parser)]
    struct T {
        #[command(flatten)]
        c: CampaignCmd,
    }
    use clap::Parser;
    let t = T::try_parse_from(["x", "c.toml", "--shard", "2/8"]).unwrap();
    assert_eq!(t.c.run.shard, Some(ShardInfo { index: 2, count: 8 }));
    assert!(t.c.command.is_none());
    assert!(T::try_parse_from(["x", "c.toml", "--shard", "9/8"]).is_err());
    let t = T::try_parse_from(["x", "merge", "a", "b", "--out", "o"]).unwrap();
    match t.c.command {
        Some(CampaignSub::Merge(m)) => {
            assert_eq!(m.dirs, [PathBuf::from("a"), PathBuf::from("b")]);
            assert_eq!(m.out, Some(PathBuf::from("o")));
        }
        None => panic!("merge not parsed"),
    }
}

/// Every N-way split of the plan (N in 1..=5) covers exactly the
/// unsharded plan's units, with no unit in two shards; shards differ by at
/// most one unit and each of several gets more than one row.
#[test]
fn shards_partition_the_plan_exactly() {
    let d = tempfile::tempdir().unwrap();
    let whole = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 1 });
    let key = |u: &Unit| (u.row.clone(), u.seed, u.args.clone());
    let mut all: Vec<_> = whole.units.iter().map(key).collect();
    assert_eq!(all.len(), 3 + 3 + 5 + 2);
    // Plan order: rows in file order, seeds in order.
    assert_eq!(
        (all[0].0.as_str(), all[0].1, all[12].0.as_str(), all[12].1),
        ("kv/raft/kill", 1, "kv/gossip/partition", 9)
    );
    assert!(whole.units.iter().all(|u| u.shard == 1));
    let a = &whole.units[7].args;
    let at = |flag: &str| a.iter().position(|x| x == flag).map(|i| a[i + 1].as_str());
    assert_eq!(at("--seed"), Some("2"));
    assert_eq!(at("--store"), Some("runs/kv_raft-local_partition/seed-2"));
    assert_eq!(at("--time-limit"), Some("10"));
    all.sort();
    for n in 1..=5 {
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        for i in 1..=n {
            let pf = detect_plan(d.path(), DETECT, ShardInfo { index: i, count: n });
            assert_eq!(pf.fingerprint, whole.fingerprint, "{i}/{n}");
            assert_eq!(pf.units.len(), whole.units.len());
            let mine: Vec<_> = pf.units.iter().filter(|u| u.shard == i).map(key).collect();
            let rows: std::collections::BTreeSet<&String> = mine.iter().map(|m| &m.0).collect();
            if n > 1 {
                assert!(rows.len() > 1, "shard {i}/{n} has one row only");
            }
            sizes.push(mine.len());
            seen.extend(mine);
        }
        let before = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), before, "{n} shards overlap");
        assert_eq!(seen, all, "{n} shards do not cover the plan");
        let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(hi - lo <= 1, "{n} shards unbalanced: {sizes:?}");
    }
    // Another file is another plan.
    let other = detect_plan(
        d.path(),
        &DETECT.replace("seeds = 5", "seeds = 6"),
        ShardInfo { index: 1, count: 1 },
    );
    assert_ne!(other.fingerprint, whole.fingerprint);
}

/// The exit code and first anomaly of each fabricated (row, seed).
type Outcomes = fn(&str, u64) -> (i32, Option<f64>);

/// A fabricated shard directory, as `faultline campaign FILE --shard I/N`
/// writes it: plan.json, summary.json, and for each of its units a run
/// directory (behind the seed directory's `latest` link) with
/// results.json and history.jsonl. `outcome` gives each (row, seed) its
/// exit code and first anomaly. The summary's runs carry no first anomaly:
/// merge must read it from results.json.
fn fabricate_shard(
    root: &Path,
    label: &str,
    pf: &PlanFile,
    index: usize,
    outcome: Outcomes,
) -> PathBuf {
    use checker::results::FirstAnomaly;
    let mut pf = pf.clone();
    pf.shard = ShardInfo {
        index,
        count: pf.shard.count,
    };
    let dir = root.join(label);
    std::fs::create_dir_all(&dir).unwrap();
    crate::run::store::write_json(&dir.join("plan.json"), &pf).unwrap();
    let mut rows: Vec<Row> = Vec::new();
    for u in pf.units.iter().filter(|u| u.shard == index) {
        let (exit, fa) = outcome(&u.row, u.seed);
        let seed_dir = dir.join(unit_store(&u.row, u.seed));
        let rel = Path::new("kv-raft").join("20261206T010203.456Z");
        let run_dir = seed_dir.join(&rel);
        std::fs::create_dir_all(&run_dir).unwrap();
        std::os::unix::fs::symlink(&rel, seed_dir.join("latest")).unwrap();
        if exit != 255 {
            let results = RunResults {
                verdict: match exit {
                    0 => Verdict::Valid,
                    1 => Verdict::Invalid,
                    _ => Verdict::Unknown,
                },
                first_anomaly: fa.map(|s| FirstAnomaly {
                    seconds: s,
                    index: 7,
                    what: "a stale read".into(),
                    source: "consistency.linearizable".into(),
                }),
                ..Default::default()
            };
            std::fs::write(run_dir.join("results.json"), results.to_json_pretty()).unwrap();
        }
        let spec = checker::synth::SynthSpec {
            ops: 40,
            keys: 2,
            processes: 3,
            seed: u.seed,
            info_rate: 0.0,
            inject_violation: false,
        };
        let h = std::fs::File::create(run_dir.join("history.jsonl")).unwrap();
        checker::synth::write_jsonl(&spec, h).unwrap();
        let run = RunRef {
            seed: u.seed,
            verdict: verdict_of_exit(exit).into(),
            dir: Some(unit_store(&u.row, u.seed).join(&rel).display().to_string()),
            exit,
            seconds: 11.0,
            first_anomaly_s: None,
        };
        match rows.iter_mut().find(|r| r.id == u.row) {
            Some(r) => r.runs.push(run),
            None => rows.push(Row {
                id: u.row.clone(),
                runs: vec![run],
                ..Default::default()
            }),
        }
    }
    let summary = CampaignSummary {
        name: pf.name.clone(),
        started: format!("20261206T01000{index}.000Z"),
        wall_seconds: 100.0 * index as f64,
        rows,
        ok: true,
        incomplete: pf.shard.count > 1,
        shard: Some(pf.shard),
        ..Default::default()
    };
    assert_eq!(exit_code(&summary), 0, "a whole shard exits 0");
    crate::run::store::write_json(&dir.join("summary.json"), &summary).unwrap();
    dir
}

/// raft rows all valid; raft-local caught in seeds 1-3 (first anomalies
/// 2 s, 4 s and none: the 10 s time limit) of 5; gossip caught in seed 4
/// of [4, 9].
fn detect_outcome(row: &str, seed: u64) -> (i32, Option<f64>) {
    match (row, seed) {
        ("kv/raft-local/partition", 1) => (1, Some(2.0)),
        ("kv/raft-local/partition", 2) => (1, Some(4.0)),
        ("kv/raft-local/partition", 3) => (1, None),
        ("kv/gossip/partition", 4) => (1, Some(0.5)),
        _ => (0, None),
    }
}

fn load_summary(dir: &Path) -> CampaignSummary {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn merge_rebuilds_rows_from_the_shards_runs_and_judges_them() {
    let d = tempfile::tempdir().unwrap();
    let pf = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 2 });
    let s1 = fabricate_shard(d.path(), "s1", &pf, 1, detect_outcome);
    let s2 = fabricate_shard(d.path(), "s2", &pf, 2, detect_outcome);
    // Given in any order.
    let shards = [read_shard_dir(&s2).unwrap(), read_shard_dir(&s1).unwrap()];
    let out = d.path().join("merged");
    let (s, runs) = merge_into(&shards, &out).unwrap();
    assert_eq!(runs, 13);
    assert_eq!(exit_code(&s), 1);
    assert!(!s.ok && !s.incomplete && s.shard.is_none());
    assert_eq!(s.merged_from.len(), 2);
    assert_eq!(s.merged_from[0].shard.index, 1);
    assert_eq!(s.wall_seconds, 200.0);
    assert_eq!(s.started, "20261206T010001.000Z");
    let ids: Vec<&str> = s.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "kv/raft/kill",
            "kv/raft/partition",
            "kv/raft-local/partition",
            "kv/gossip/partition"
        ]
    );
    // Seeds back in plan order, whichever shard ran them.
    let seeds: Vec<u64> = s.rows[2].runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, [1, 2, 3, 4, 5]);
    let raft = &s.rows[0];
    assert_eq!(raft.expect_ok, Some(true));
    assert_eq!(
        (raft.caught, raft.seeds_run, raft.catch_rate),
        (0, 3, Some(0.0))
    );
    assert!(raft.availability.is_some_and(|a| a > 0.0), "{raft:?}");
    let local = &s.rows[2];
    assert_eq!(local.expect_ok, Some(true), "{:?}", local.expect_message);
    assert_eq!((local.caught, local.seeds_run), (3, 5));
    assert_eq!(local.catch_rate, Some(0.6));
    let (lo, hi) = reports::campaign::wilson(3, 5).unwrap();
    assert_eq!(
        (local.catch_ci_low, local.catch_ci_high),
        (Some(lo), Some(hi))
    );
    // Read from the runs' results.json (the shards' summaries had none).
    assert_eq!(local.first_anomaly_min_s, Some(2.0));
    assert_eq!(local.first_anomaly_median_s, Some(3.0));
    assert_eq!(local.cells["linearizable"].failed, 3);
    assert!(local.cells["linearizable"]
        .worst
        .as_deref()
        .is_some_and(|w| w.starts_with("runs/kv_raft-local_partition/seed-1/")));
    let gossip = &s.rows[3];
    assert_eq!(gossip.expect_ok, Some(false));
    let m = gossip.expect_message.as_deref().unwrap();
    assert!(
        m.contains("stale-read not seen")
            && m.contains("caught 1/2 (50%, 95% CI 9–91%), expected at least 100%"),
        "{m}"
    );
    // The merged directory: the runs, linked in, and every output.
    for f in [
        "summary.json",
        "summary.md",
        "junit.xml",
        "index.html",
        "plan.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let run = out.join(local.runs[4].dir.as_ref().unwrap());
    assert!(run.join("results.json").is_file() && run.join("history.jsonl").is_file());
    assert!(out
        .join("runs/kv_raft-local_partition/seed-5/latest/results.json")
        .is_file());
    let back = load_summary(&out);
    assert_eq!(back.rows[2].caught, 3);
    assert!(std::fs::read_to_string(out.join("index.html"))
        .unwrap()
        .contains("merged from 2 shards"));
    assert!(std::fs::read_to_string(out.join("junit.xml"))
        .unwrap()
        .contains("failures=\"1\""));
    // The merged directory is a whole campaign (shard 1 of 1): it merges
    // again, alone, to the same verdicts.
    let (again, _) = merge_into(&[read_shard_dir(&out).unwrap()], &d.path().join("again")).unwrap();
    let ok: Vec<Option<bool>> = again.rows.iter().map(|r| r.expect_ok).collect();
    assert_eq!(ok, [Some(true), Some(true), Some(true), Some(false)]);
    // Merging into a directory that is not empty is refused.
    let e = merge_into(&shards, &out).unwrap_err().to_string();
    assert!(e.contains("not empty"), "{e}");

    // An unsharded campaign (shard 1 of 1) merges alone to the same rows.
    let whole = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 1 });
    let w = fabricate_shard(d.path(), "whole", &whole, 1, detect_outcome);
    let (s1of1, runs) = merge_into(&[read_shard_dir(&w).unwrap()], &d.path().join("m1")).unwrap();
    assert_eq!(runs, 13);
    let verdicts =
        |s: &CampaignSummary| -> Vec<Option<bool>> { s.rows.iter().map(|r| r.expect_ok).collect() };
    assert_eq!(verdicts(&s1of1), verdicts(&s));
    assert_eq!(
        verdicts(&s),
        [Some(true), Some(true), Some(true), Some(false)]
    );
}

#[test]
fn merge_marks_rows_of_a_missing_shard_not_judged() {
    let d = tempfile::tempdir().unwrap();
    let pf = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 2 });
    let s1 = fabricate_shard(d.path(), "s1", &pf, 1, detect_outcome);
    let (s, runs) = merge_into(&[read_shard_dir(&s1).unwrap()], &d.path().join("m")).unwrap();
    assert_eq!(runs, 7);
    assert!(s.incomplete && s.ok);
    assert_eq!(exit_code(&s), 2);
    // kv/raft/kill: units 0, 1, 2 -> shards 1, 2, 1.
    let kill = &s.rows[0];
    assert_eq!(kill.expect_ok, None);
    assert_eq!(kill.seeds_planned, Some(3));
    assert_eq!(
        kill.expect_message.as_deref(),
        Some("not judged: 2 of 3 seeds (missing seed(s) 2: shard(s) 2 of 2 not merged)")
    );
    assert_eq!((kill.caught, kill.seeds_run), (0, 2));
    // No row is dropped.
    assert_eq!(s.rows.len(), 4);
    assert!(s.rows.iter().all(|r| r.expect_ok.is_none()));
    let md = reports::campaign::markdown(&s);
    assert!(
        md.contains("incomplete") && md.contains("not judged: 2 of 3 seeds"),
        "{md}"
    );
}

#[test]
fn merge_refuses_other_plans_duplicate_shards_and_units_run_twice() {
    let d = tempfile::tempdir().unwrap();
    let pf = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 2 });
    let s1 = fabricate_shard(d.path(), "s1", &pf, 1, detect_outcome);
    let s2 = fabricate_shard(d.path(), "s2", &pf, 2, detect_outcome);
    let load = |p: &PathBuf| read_shard_dir(p).unwrap();
    // Another plan: one more seed in a row.
    let other = detect_plan(
        d.path(),
        &DETECT.replace("seeds = [4, 9]", "seeds = [4, 9, 10]"),
        ShardInfo { index: 1, count: 2 },
    );
    let o2 = fabricate_shard(d.path(), "other2", &other, 2, detect_outcome);
    let e = merge_into(&[load(&s1), load(&o2)], &d.path().join("m1"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("different plans") && e.contains("s1") && e.contains("other2"),
        "{e}"
    );
    assert!(
        !d.path().join("m1").exists(),
        "a refused merge writes nothing"
    );
    // The same plan split another number of ways.
    let three = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 3 });
    let t2 = fabricate_shard(d.path(), "three2", &three, 2, detect_outcome);
    let e = merge_into(&[load(&s1), load(&t2)], &d.path().join("m2"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shard 1 of 2") && e.contains("shard 2 of 3"),
        "{e}"
    );
    // The same shard twice (two directories of shard 2).
    let again = fabricate_shard(d.path(), "s2-again", &pf, 2, detect_outcome);
    let e = merge_into(&[load(&s1), load(&s2), load(&again)], &d.path().join("m3"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("both shard 2 of 2") && e.contains("s2-again"),
        "{e}"
    );
    // A shard whose summary holds a unit of another shard: run twice.
    let mut bad = load(&s2);
    let stolen = load(&s1).summary.rows[0].runs[0].clone();
    bad.summary.rows[0].runs.push(stolen);
    let e = merge_into(&[load(&s1), bad], &d.path().join("m4"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("which the plan gives to shard 1"), "{e}");
    // A unit the plan does not have.
    let mut bad = load(&s2);
    bad.summary.rows[0].runs[0].seed = 99;
    let e = merge_into(&[bad], &d.path().join("m5"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("seed 99") && e.contains("not in the plan"),
        "{e}"
    );
    // Not a campaign directory.
    let e = format!("{:#}", read_shard_dir(d.path()).err().unwrap());
    assert!(e.contains("plan.json"), "{e}");
}

/// scripts/evidence.py reads the summary.json this crate writes (a merged
/// one) and replaces only its marked block in the target file.
#[test]
fn evidence_script_renders_a_merged_summary_into_its_block() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: evidence.py not tested");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pf = detect_plan(d.path(), DETECT, ShardInfo { index: 1, count: 2 });
    let s1 = fabricate_shard(d.path(), "s1", &pf, 1, detect_outcome);
    let s2 = fabricate_shard(d.path(), "s2", &pf, 2, detect_outcome);
    let out = d.path().join("merged");
    merge_into(
        &[read_shard_dir(&s1).unwrap(), read_shard_dir(&s2).unwrap()],
        &out,
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/evidence.py");
    let target = d.path().join("evidence.md");
    let run = |target: &Path| {
        let o = Command::new("python3")
            .arg(&script)
            .arg(out.join("summary.json"))
            .arg("--out")
            .arg(target)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(target).unwrap()
    };
    std::fs::write(
        &target,
        "# Evidence\n\nwritten by hand\n\n<!-- detection:begin -->\nOLD TABLE\n<!-- detection:end -->\n\n## Notes kept\n",
    )
    .unwrap();
    let text = run(&target);
    assert!(!text.contains("OLD TABLE"), "{text}");
    assert!(
        text.starts_with("# Evidence\n\nwritten by hand\n\n<!-- detection:begin -->"),
        "{text}"
    );
    assert!(
        text.ends_with("<!-- detection:end -->\n\n## Notes kept\n"),
        "{text}"
    );
    assert!(text.contains("campaign `detect`"), "{text}");
    assert!(text.contains("`faultline campaign "), "{text}");
    assert!(
        text.contains(
            "| kv | raft-local | partition | 3/5 | 60% (23%–88%) | 2.0 / 3.0 | ✓ catch rate ≥ 60%; median first anomaly ≤ 5 s |"
        ),
        "{text}"
    );
    assert!(
        text.contains("| kv | gossip | partition | 1/2 | 50% (9%–91%) | 0.5 / 0.5 | ✗ "),
        "{text}"
    );
    // Idempotent; and a file without markers gets the block at its end.
    assert_eq!(run(&target), text);
    let bare = d.path().join("bare.md");
    std::fs::write(&bare, "hand only\n").unwrap();
    let t = run(&bare);
    assert!(
        t.starts_with("hand only\n\n<!-- detection:begin -->")
            && t.ends_with("<!-- detection:end -->\n"),
        "{t}"
    );
    // Not a summary: a clear error naming the file.
    let o = Command::new("python3")
        .arg(&script)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bare.md"));
}
