//! `faultline-kv` command-line flags, parsed and validated before anything
//! starts. Every error names the flag at fault.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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

fn parse_ms(flag: &str, v: &str) -> Result<Duration, String> {
    let n: u64 = v
        .parse()
        .map_err(|_| format!("{flag}: expected milliseconds, got {v:?}"))?;
    if n == 0 {
        return Err(format!("{flag}: must be positive"));
    }
    Ok(Duration::from_millis(n))
}

fn valid_addr(flag: &str, a: &str) -> Result<(), String> {
    match a.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("{flag}: expected HOST:PORT, got {a:?}")),
    }
}

/// Parses the flags (without the program name).
pub fn parse(args: &[String]) -> Result<Config, String> {
    let mut m: BTreeMap<&str, String> = BTreeMap::new();
    let mut debug_endpoints = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let known = [
            "--id",
            "--listen",
            "--peers",
            "--data-dir",
            "--level",
            "--fsync",
            "--heartbeat-ms",
            "--election-timeout-ms",
            "--lease-ms",
            "--request-timeout-ms",
            "--failover-ms",
            "--gossip-ms",
            "--r",
            "--w",
            "--clock-offset-ms",
            "--log-level",
        ];
        if flag == "--debug-endpoints" {
            debug_endpoints = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        let Some(&name) = known.iter().find(|k| **k == flag) else {
            return Err(format!("{flag}: unknown flag"));
        };
        let v = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag}: missing value"))?,
        };
        if m.insert(name, v).is_some() {
            return Err(format!("{flag}: given twice"));
        }
    }
    let req = |f: &str| -> Result<String, String> {
        m.get(f)
            .cloned()
            .ok_or_else(|| format!("{f}: required flag missing"))
    };
    let id = req("--id")?;
    if id.is_empty() || id.contains([',', '=', '/', ' ']) {
        return Err(format!("--id: invalid node id {id:?}"));
    }
    let listen = req("--listen")?;
    valid_addr("--listen", &listen)?;
    let mut peers = BTreeMap::new();
    for p in req("--peers")?.split(',').filter(|s| !s.is_empty()) {
        let (pid, addr) = p
            .split_once('=')
            .ok_or_else(|| format!("--peers: expected ID=HOST:PORT, got {p:?}"))?;
        valid_addr("--peers", addr)?;
        if pid == id {
            return Err(format!("--peers: lists this node's own id {pid:?}"));
        }
        if peers.insert(pid.to_string(), addr.to_string()).is_some() {
            return Err(format!("--peers: duplicate id {pid:?}"));
        }
    }
    let data_dir = PathBuf::from(req("--data-dir")?);
    let level_s = req("--level")?;
    let level = Level::parse(&level_s).ok_or_else(|| {
        format!("--level: unknown level {level_s:?} (raft, raft-lease, raft-local, primary-async, quorum, gossip)")
    })?;
    let fsync = match m.get("--fsync").map(String::as_str) {
        None | Some("always") => Fsync::Always,
        Some("never") => Fsync::Never,
        Some(o) => return Err(format!("--fsync: expected always or never, got {o:?}")),
    };
    let ms = |f: &str, d: u64| -> Result<Duration, String> {
        match m.get(f) {
            Some(v) => parse_ms(f, v),
            None => Ok(Duration::from_millis(d)),
        }
    };
    let heartbeat = ms("--heartbeat-ms", 100)?;
    let election_timeout = ms("--election-timeout-ms", 1000)?;
    if heartbeat >= election_timeout {
        return Err("--heartbeat-ms: must be below --election-timeout-ms".into());
    }
    let lease = ms("--lease-ms", election_timeout.as_millis() as u64 / 2)?;
    if lease >= election_timeout {
        return Err("--lease-ms: must be below --election-timeout-ms".into());
    }
    let n = peers.len() + 1;
    let majority = n / 2 + 1;
    let size = |f: &str| -> Result<usize, String> {
        match m.get(f) {
            None => Ok(majority),
            Some(v) => match v.parse::<usize>() {
                Ok(k) if k >= 1 && k <= n => Ok(k),
                _ => Err(format!("{f}: expected 1..={n}, got {v:?}")),
            },
        }
    };
    let clock_offset_ms = match m.get("--clock-offset-ms") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| format!("--clock-offset-ms: expected an integer, got {v:?}"))?,
    };
    let log_level = match m.get("--log-level") {
        None => tracing::Level::INFO,
        Some(v) => v
            .parse()
            .map_err(|_| format!("--log-level: unknown level {v:?}"))?,
    };
    Ok(Config {
        id,
        listen,
        peers,
        data_dir,
        level,
        fsync,
        heartbeat,
        election_timeout,
        lease,
        request_timeout: ms("--request-timeout-ms", 2000)?,
        failover_timeout: ms("--failover-ms", 1000)?,
        gossip_interval: ms("--gossip-ms", 200)?,
        r: size("--r")?,
        w: size("--w")?,
        clock_offset_ms,
        debug_endpoints,
        log_level,
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
