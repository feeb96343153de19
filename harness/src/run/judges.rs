//! Which checkers judged each bundled workload's history, by registry name
//! (see `checker::checkers`), for runs recorded before `test.json` named
//! its checkers: a run names them now (`Workload::checkers`, stored as
//! `checkers` in `test.json`), and `faultline analyze` uses those. A test
//! keeps the two in step for every bundled system and level.

/// The checkers for a workload at a level.
///
/// - `register` (and anything unknown): linearizability against the
///   cas-register model, and the informational consistency hierarchy;
/// - `queue`: total-queue with the level's delivery guarantee
///   ([`delivery_of`]), and the informational fifo-queue pass;
/// - `lock`: the lock checks;
/// - `set`: set-full.
pub fn checkers_for(workload: &str, level: &str) -> Vec<String> {
    match workload {
        "queue" => vec![
            format!("total-queue:{}", delivery_of(level)),
            "fifo-queue".to_string(),
        ],
        "lock" => vec!["lock".to_string()],
        "set" => vec!["set-full".to_string()],
        _ => vec![
            "linearizability:cas-register".to_string(),
            "consistency".to_string(),
        ],
    }
}

/// The delivery guarantee a queue level declares: `at-most-once` for the
/// at-most-once level, `at-least-once` for the others.
pub fn delivery_of(level: &str) -> &'static str {
    match level {
        "at-most-once" => "at-most-once",
        _ => "at-least-once",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapping_builds_and_queues_follow_their_level() {
        let opts = checker::checkers::Options::default();
        for (w, l) in [
            ("register", "raft"),
            ("queue", "raft"),
            ("queue", "at-most-once"),
            ("lock", "redlock"),
        ] {
            let names = checkers_for(w, l);
            let c = checker::checkers::compose(&names, &opts).unwrap();
            assert_eq!(c.checkers().len(), names.len(), "{w}/{l}");
        }
        assert_eq!(
            checkers_for("queue", "at-most-once")[0],
            "total-queue:at-most-once"
        );
        assert_eq!(
            checkers_for("queue", "primary-async")[0],
            "total-queue:at-least-once"
        );
        assert_eq!(checkers_for("lock", "raft"), ["lock"]);
        assert_eq!(
            checkers_for("register", "gossip"),
            ["linearizability:cas-register", "consistency"]
        );
    }

    /// Every bundled system's workloads, at every level, name the checkers
    /// that old runs of them are judged by.
    #[test]
    fn workloads_name_what_old_runs_were_judged_by() {
        use crate::run::spec::TestArgs;
        use crate::run::workload::{find, Setup};
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            t: TestArgs,
        }
        for def in crate::system::bundled() {
            for level in def.level_names() {
                for w in &def.workloads {
                    // Transactional runs always recorded their checkers
                    // (they came after test.json named them).
                    if matches!(w.as_str(), "list-append" | "rw-register") {
                        continue;
                    }
                    let n = def.nodes.unwrap_or(3);
                    let cli = Cli::parse_from([
                        "t",
                        "--system",
                        &def.name,
                        "--level",
                        level,
                        "--workload",
                        w,
                        "--seed",
                        "1",
                        "--nodes",
                        &n.to_string(),
                    ]);
                    let spec = cli.t.resolve().unwrap();
                    let nodes = crate::run::supervisor::layout(
                        n,
                        &def.ports,
                        tempfile::tempdir().unwrap().path(),
                    )
                    .unwrap();
                    let opts = def.options_at(level);
                    let built = find(w)
                        .unwrap()
                        .build(&Setup {
                            spec: &spec,
                            nodes: &nodes,
                            options: &opts,
                        })
                        .unwrap();
                    assert_eq!(
                        built.checkers(),
                        checkers_for(w, level),
                        "{}/{level}/{w}",
                        def.name
                    );
                }
            }
        }
    }
}
