//! `faultline-kv` command-line flags, parsed and validated before anything
//! starts: the common flags by the shared [`crate::runtime::node::parse`]
//! into a [`NodeConfig`], kv's own (`--lease-ms`, `--gossip-ms`, `--r`,
//! `--w`) as that config's extra flags. Every error names the flag at fault.

use std::time::Duration;

use crate::runtime::node::{self, NodeConfig};

/// Consistency level, chosen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Raft,
    RaftLease,
    RaftLocal,
    PrimaryAsync,
    Quorum,
    Gossip,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Raft,
        Level::RaftLease,
        Level::RaftLocal,
        Level::PrimaryAsync,
        Level::Quorum,
        Level::Gossip,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::Raft => "raft",
            Level::RaftLease => "raft-lease",
            Level::RaftLocal => "raft-local",
            Level::PrimaryAsync => "primary-async",
            Level::Quorum => "quorum",
            Level::Gossip => "gossip",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s)
    }

    pub fn is_raft(self) -> bool {
        matches!(self, Level::Raft | Level::RaftLease | Level::RaftLocal)
    }
}

/// A validated kv node configuration: the shared node configuration
/// (common flags; kv's own flags, unparsed, in `extra`) plus the level and
/// kv's own settings, read from those extra flags by [`Config::from_node`].
/// Derefs to the [`NodeConfig`], so `cfg.id`, `cfg.peers`, `cfg.all_ids()`
/// and the other common fields read through.
#[derive(Debug, Clone)]
pub struct Config {
    pub node: NodeConfig,
    pub level: Level,
    /// `--lease-ms`: raft-lease read lease.
    pub lease: Duration,
    /// `--gossip-ms`: gossip anti-entropy interval.
    pub gossip_interval: Duration,
    /// `--r`, `--w`: quorum read and write quorum sizes.
    pub r: usize,
    pub w: usize,
}

impl std::ops::Deref for Config {
    type Target = NodeConfig;

    fn deref(&self) -> &NodeConfig {
        &self.node
    }
}

impl AsRef<NodeConfig> for Config {
    fn as_ref(&self) -> &NodeConfig {
        &self.node
    }
}

impl Config {
    /// Reads and validates kv's own flags from a node configuration parsed
    /// with [`SPEC`]. Errors start with the flag's name.
    pub fn from_node(c: NodeConfig) -> Result<Config, String> {
        let level = Level::parse(&c.level).ok_or_else(|| {
            format!(
                "--level: unknown level {:?} ({})",
                c.level,
                LEVEL_NAMES.join(", ")
            )
        })?;
        let lease = c.extra_ms("--lease-ms", c.election_timeout.as_millis() as u64 / 2)?;
        if lease >= c.election_timeout {
            return Err("--lease-ms: must be below --election-timeout-ms".into());
        }
        let n = c.peers.len() + 1;
        let majority = n / 2 + 1;
        let size = |f: &str| -> Result<usize, String> {
            match c.extra.get(f) {
                None => Ok(majority),
                Some(v) => match v.parse::<usize>() {
                    Ok(k) if k >= 1 && k <= n => Ok(k),
                    _ => Err(format!("{f}: expected 1..={n}, got {v:?}")),
                },
            }
        };
        Ok(Config {
            r: size("--r")?,
            w: size("--w")?,
            gossip_interval: c.extra_ms("--gossip-ms", 200)?,
            level,
            lease,
            node: c,
        })
    }

    /// Number of nodes in the cluster.
    pub fn n(&self) -> usize {
        self.peers.len() + 1
    }
}

pub const USAGE: &str = "\
usage: faultline-kv --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data-dir DIR --level LEVEL [options]

levels: raft, raft-lease, raft-local, primary-async, quorum, gossip

options:
  --fsync always|never        fsync writes before acknowledging them (default always)
  --heartbeat-ms N            raft heartbeat / primary-async heartbeat interval (default 100)
  --election-timeout-ms N     raft election timeout minimum; maximum is twice it (default 1000)
  --lease-ms N                raft-lease read lease, wall clock (default election timeout / 2)
  --request-timeout-ms N      how long a write waits for replication (default 2000)
  --failover-ms N             primary-async: promote after primary silent this long (default 1000)
  --gossip-ms N               gossip: anti-entropy interval (default 200)
  --r N, --w N                quorum: read and write quorum sizes (default majority)
  --snapshot-logs N           raft levels: snapshot and compact the log every N entries, 0 never (default 10000)
  --clock-offset-ms N         test aid: add N ms to every wall-clock read (default 0)
  --debug-endpoints           test aid: enable POST /debug/clock
  --log-level LEVEL           error, warn, info, debug, trace (default info)
";

/// Level names, in [`Level::ALL`] order.
const LEVEL_NAMES: &[&str] = &[
    "raft",
    "raft-lease",
    "raft-local",
    "primary-async",
    "quorum",
    "gossip",
];

/// The flag vocabulary: the common node flags plus kv's own.
pub const SPEC: node::Spec = node::Spec {
    prog: "faultline-kv",
    levels: LEVEL_NAMES,
    extra_flags: &["--lease-ms", "--gossip-ms", "--r", "--w"],
    usage: USAGE,
};

/// Parses the flags (without the program name): the common ones and the
/// vocabulary by [`node::parse`], kv's own by [`Config::from_node`]. Errors
/// start with the flag's name; `--help` returns the usage text as the error.
pub fn parse(args: &[String]) -> Result<Config, String> {
    Config::from_node(node::parse(&SPEC, args)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::wal::Fsync;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_a_full_command_line() {
        let c = parse(&args(
            "--id n1 --listen 127.0.0.1:7001 --peers n2=127.0.0.1:7002,n3=127.0.0.1:7003 \
             --data-dir /tmp/x --level quorum --fsync never --r 1 --w=3",
        ))
        .unwrap();
        assert_eq!(c.id, "n1");
        assert_eq!(c.peers.len(), 2);
        assert_eq!(c.level, Level::Quorum);
        assert_eq!(c.fsync, Fsync::Never);
        assert_eq!((c.r, c.w), (1, 3));
        assert_eq!(c.all_ids(), vec!["n1", "n2", "n3"]);
    }

    #[test]
    fn level_names_match_the_enum() {
        let names: Vec<&str> = Level::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(names, LEVEL_NAMES);
    }

    #[test]
    fn errors_name_the_flag() {
        let base = "--id n1 --listen 127.0.0.1:1 --peers n2=127.0.0.1:2 --data-dir d";
        for (extra, flag) in [
            ("--level nope", "--level"),
            ("--level raft --fsync sometimes", "--fsync"),
            ("--level raft --bogus 1", "--bogus"),
            ("--level quorum --r 9", "--r"),
            ("--level raft --heartbeat-ms x", "--heartbeat-ms"),
        ] {
            let e = parse(&args(&format!("{base} {extra}"))).unwrap_err();
            assert!(e.starts_with(flag), "{extra}: {e}");
        }
        let e = parse(&args("--id n1 --peers n2=h:1 --data-dir d --level raft")).unwrap_err();
        assert!(e.starts_with("--listen"), "{e}");
        let e = parse(&args(
            "--id n1 --listen 127.0.0.1:1 --peers n2=nohost --data-dir d --level raft",
        ))
        .unwrap_err();
        assert!(e.starts_with("--peers"), "{e}");
    }

    #[test]
    fn kv_flags_are_read_from_the_shared_node_config() {
        let base =
            "--id n1 --listen 127.0.0.1:1 --peers n2=127.0.0.1:2,n3=127.0.0.1:3 --data-dir d";
        let c = parse(&args(&format!("{base} --level raft-lease"))).unwrap();
        assert_eq!(c.level, Level::RaftLease);
        assert_eq!(c.node.level, "raft-lease");
        assert_eq!(c.lease, Duration::from_millis(500));
        assert_eq!(c.gossip_interval, Duration::from_millis(200));
        assert_eq!((c.r, c.w, c.n()), (2, 2, 3));
        assert!(c.extra.is_empty());
        let c = parse(&args(&format!(
            "{base} --level gossip --election-timeout-ms 3000 --lease-ms 2999 --gossip-ms 50 --w 1"
        )))
        .unwrap();
        assert_eq!(c.lease, Duration::from_millis(2999));
        assert_eq!(c.gossip_interval, Duration::from_millis(50));
        assert_eq!((c.r, c.w), (2, 1));
        assert_eq!(c.extra["--gossip-ms"], "50");
        for (extra, msg) in [
            (
                "--lease-ms 1000",
                "--lease-ms: must be below --election-timeout-ms",
            ),
            ("--lease-ms 0", "--lease-ms: must be positive"),
            (
                "--gossip-ms x",
                "--gossip-ms: expected milliseconds, got \"x\"",
            ),
            ("--w 0", "--w: expected 1..=3, got \"0\""),
        ] {
            let e = parse(&args(&format!("{base} --level raft {extra}"))).unwrap_err();
            assert_eq!(e, msg, "{extra}");
        }
    }
}
