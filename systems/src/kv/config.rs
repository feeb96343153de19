//! `faultline-kv` command-line flags, parsed and validated before anything
//! starts (the common flags by [`crate::runtime::node::parse`]). Every
//! error names the flag at fault.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::node;
use crate::runtime::wal::Fsync;

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

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub listen: String,
    /// Peer id → address (what this node dials; may be a proxy).
    pub peers: BTreeMap<String, String>,
    pub data_dir: PathBuf,
    pub level: Level,
    pub fsync: Fsync,
    pub heartbeat: Duration,
    pub election_timeout: Duration,
    pub lease: Duration,
    pub request_timeout: Duration,
    pub failover_timeout: Duration,
    pub gossip_interval: Duration,
    pub r: usize,
    pub w: usize,
    pub clock_offset_ms: i64,
    pub debug_endpoints: bool,
    pub log_level: tracing::Level,
}

impl Config {
    /// Every node id in the cluster, this one included, sorted.
    pub fn all_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.peers.keys().cloned().collect();
        v.push(self.id.clone());
        v.sort();
        v
    }

    /// Number of nodes in the cluster.
    pub fn n(&self) -> usize {
        self.peers.len() + 1
    }

    /// How long a forwarded request waits: a little longer than the
    /// target's own request timeout, so its answer (even a timeout) wins.
    pub fn forward_timeout(&self) -> Duration {
        self.request_timeout + Duration::from_millis(500)
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

/// Parses the flags (without the program name).
pub fn parse(args: &[String]) -> Result<Config, String> {
    let c = node::parse(&SPEC, args)?;
    let level = Level::parse(&c.level).expect("level validated by node::parse");
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
        id: c.id,
        listen: c.listen,
        peers: c.peers,
        data_dir: c.data_dir,
        level,
        fsync: c.fsync,
        heartbeat: c.heartbeat,
        election_timeout: c.election_timeout,
        lease,
        request_timeout: c.request_timeout,
        failover_timeout: c.failover_timeout,
        clock_offset_ms: c.clock_offset_ms,
        debug_endpoints: c.debug_endpoints,
        log_level: c.log_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
