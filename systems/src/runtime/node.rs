//! What every bundled node binary shares besides storage and replication:
//! flag parsing for the common flags, logging, the `/health` and
//! `/debug/clock` routes, raw request forwarding and the serve loop.
//! A system's own flags are its [`Spec::extra_flags`], read from
//! [`NodeConfig::extra`] (queue's `--visibility-ms`; kv's `--lease-ms`,
//! `--gossip-ms`, `--r`, `--w`, validated at parse time by `kv::config`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::api::{error_response, ApiError};
use super::clock;
use super::http::{self, HttpClient, Request, Response};
use super::raft::RaftParams;
use super::wal::Fsync;

/// Header set on forwarded requests: the receiver never forwards again.
pub const NO_FORWARD: &str = "x-faultline-no-forward";

/// A system binary's flag vocabulary.
pub struct Spec {
    /// Program name, for messages.
    pub prog: &'static str,
    pub levels: &'static [&'static str],
    /// System-specific flags taking a value (besides the common ones).
    pub extra_flags: &'static [&'static str],
    pub usage: &'static str,
}

/// A validated node configuration (common flags plus `extra`).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: String,
    pub listen: String,
    pub peers: BTreeMap<String, String>,
    pub data_dir: PathBuf,
    pub level: String,
    pub fsync: Fsync,
    pub heartbeat: Duration,
    pub election_timeout: Duration,
    pub request_timeout: Duration,
    pub failover_timeout: Duration,
    pub clock_offset_ms: i64,
    /// `--snapshot-logs`: Raft levels snapshot the state machine and
    /// compact the log every this many applied entries (0: never).
    pub snapshot_logs: u64,
    pub debug_endpoints: bool,
    pub log_level: tracing::Level,
    /// System-specific flags, by name (`--visibility-ms` → value).
    pub extra: BTreeMap<String, String>,
}

impl NodeConfig {
    pub fn all_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.peers.keys().cloned().collect();
        v.push(self.id.clone());
        v.sort();
        v
    }

    /// A forwarded request waits a little longer than the target's own
    /// request timeout, so the target's answer (even a timeout) wins.
    pub fn forward_timeout(&self) -> Duration {
        self.request_timeout + Duration::from_millis(500)
    }

    /// A positive millisecond flag from `extra`, or `default`.
    pub fn extra_ms(&self, flag: &str, default: u64) -> Result<Duration, String> {
        match self.extra.get(flag) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => parse_ms(flag, v),
        }
    }

    pub fn raft_params(&self, cluster_name: &str) -> RaftParams {
        RaftParams {
            cluster_name: cluster_name.into(),
            id: self.id.clone(),
            peers: self.peers.clone(),
            data_dir: self.data_dir.clone(),
            fsync: self.fsync,
            heartbeat: self.heartbeat,
            election_timeout: self.election_timeout,
            request_timeout: self.request_timeout,
            snapshot_logs: self.snapshot_logs,
            route_prefix: super::raft::DEFAULT_ROUTE_PREFIX.into(),
        }
    }
}

/// Flags every node binary accepts, with a value.
pub const COMMON_FLAGS: &[&str] = &[
    "--id",
    "--listen",
    "--peers",
    "--data-dir",
    "--level",
    "--fsync",
    "--heartbeat-ms",
    "--election-timeout-ms",
    "--request-timeout-ms",
    "--failover-ms",
    "--clock-offset-ms",
    "--log-level",
    "--snapshot-logs",
];

/// Default of `--snapshot-logs`.
pub const DEFAULT_SNAPSHOT_LOGS: u64 = 10_000;

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

/// Parses the flags (without the program name). Errors start with the
/// flag's name; `--help` returns the usage text as the error.
pub fn parse(spec: &Spec, args: &[String]) -> Result<NodeConfig, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut debug_endpoints = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if flag == "--debug-endpoints" {
            debug_endpoints = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(spec.usage.to_string());
        }
        if !COMMON_FLAGS.contains(&flag) && !spec.extra_flags.contains(&flag) {
            return Err(format!("{flag}: unknown flag"));
        }
        let v = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag}: missing value"))?,
        };
        if m.insert(flag.to_string(), v).is_some() {
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
    let level = req("--level")?;
    if !spec.levels.contains(&level.as_str()) {
        return Err(format!(
            "--level: unknown level {level:?} ({})",
            spec.levels.join(", ")
        ));
    }
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
    let clock_offset_ms = match m.get("--clock-offset-ms") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| format!("--clock-offset-ms: expected an integer, got {v:?}"))?,
    };
    let snapshot_logs = match m.get("--snapshot-logs") {
        None => DEFAULT_SNAPSHOT_LOGS,
        Some(v) => v.parse().map_err(|_| {
            format!("--snapshot-logs: expected a number of log entries (0: never), got {v:?}")
        })?,
    };
    let log_level = match m.get("--log-level") {
        None => tracing::Level::INFO,
        Some(v) => v
            .parse()
            .map_err(|_| format!("--log-level: unknown level {v:?}"))?,
    };
    let extra = spec
        .extra_flags
        .iter()
        .filter_map(|f| m.get(*f).map(|v| (f.to_string(), v.clone())))
        .collect();
    Ok(NodeConfig {
        id,
        listen,
        peers,
        data_dir,
        level,
        fsync,
        heartbeat,
        election_timeout,
        request_timeout: ms("--request-timeout-ms", 2000)?,
        failover_timeout: ms("--failover-ms", 1000)?,
        clock_offset_ms,
        snapshot_logs,
        debug_endpoints,
        log_level,
        extra,
    })
}

/// Logs to stderr; openraft stays at `warn` unless debug/trace is asked.
pub fn init_logging(level: tracing::Level) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let raft_level = if level > tracing::Level::INFO {
        level
    } else {
        tracing::Level::WARN.min(level)
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("openraft", raft_level);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .init();
}

/// A binary's `main`: parse flags (exit 2 on a bad one), set up logging,
/// run (exit 1 on a start-up failure).
pub fn main_with(spec: &Spec, run: fn(NodeConfig) -> anyhow::Result<()>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    main_with_args(spec, &args, run)
}

/// [`main_with`] on given flags (without the program name).
pub fn main_with_args(
    spec: &Spec,
    args: &[String],
    run: fn(NodeConfig) -> anyhow::Result<()>,
) -> ExitCode {
    let cfg = match parse(spec, args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", spec.prog);
            if !e.starts_with("usage") {
                eprintln!("run with --help for usage");
            }
            return ExitCode::from(2);
        }
    };
    init_logging(cfg.log_level);
    if let Err(e) = run(cfg) {
        tracing::error!("{e:#}");
        eprintln!("{}: {e:#}", spec.prog);
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

impl AsRef<NodeConfig> for NodeConfig {
    fn as_ref(&self) -> &NodeConfig {
        self
    }
}

/// Binds, builds the node with `make` inside the async runtime, and serves
/// `handler(node)` until the process is killed. `C` is the system's
/// configuration: a [`NodeConfig`] or a system's own type wrapping one.
pub fn serve<C, N, F, Fut>(
    cfg: C,
    make: F,
    handler: fn(Arc<C>, Arc<N>) -> http::Handler,
) -> anyhow::Result<()>
where
    C: AsRef<NodeConfig> + Send + Sync + 'static,
    N: Send + Sync + ?Sized + 'static,
    F: FnOnce(Arc<C>, Arc<HttpClient>) -> Fut,
    Fut: Future<Output = anyhow::Result<Arc<N>>>,
{
    use anyhow::Context;
    let node_cfg: &NodeConfig = cfg.as_ref();
    clock::set_offset_ms(node_cfg.clock_offset_ms);
    std::fs::create_dir_all(&node_cfg.data_dir)
        .with_context(|| format!("--data-dir: cannot create {}", node_cfg.data_dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listen = &cfg.as_ref().listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("--listen: cannot bind {listen}"))?;
        let cfg = Arc::new(cfg);
        let node = make(cfg.clone(), HttpClient::new()).await?;
        let c: &NodeConfig = (*cfg).as_ref();
        tracing::info!(
            "node {} ready: level {}, listening on {}, peers {:?}",
            c.id,
            c.level,
            c.listen,
            c.peers
        );
        http::serve(listener, handler(cfg, node)).await;
        Ok(())
    })
}

/// The client side of a node's HTTP handler: [`common_route`], then
/// `GET /status` (answered by `status`), then the system's own requests
/// (`parse`d, then `serve`d); anything else is a 404.
pub async fn route<C, Fut>(
    cfg: &NodeConfig,
    req: &Request,
    status: impl FnOnce() -> Value,
    parse: fn(&Request) -> Result<Option<C>, ApiError>,
    serve: impl FnOnce(C) -> Fut,
) -> Response
where
    Fut: Future<Output = Response>,
{
    if let Some(r) = common_route(cfg, req) {
        return r;
    }
    if (req.method.as_str(), req.path.as_str()) == ("GET", "/status") {
        return Response::json(200, &status());
    }
    match parse(req) {
        Ok(Some(cmd)) => serve(cmd).await,
        Ok(None) => error_response(&ApiError::not_found(format!(
            "no route for {} {}",
            req.method, req.path
        ))),
        Err(e) => error_response(&e),
    }
}

/// `GET /health` and (with `--debug-endpoints`) `POST /debug/clock`.
pub fn common_route(cfg: &NodeConfig, req: &Request) -> Option<Response> {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/health") => Some(Response::json(200, &json!({"ok": true, "id": cfg.id}))),
        ("POST", "/debug/clock") if cfg.debug_endpoints => {
            let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let Some(ms) = v["offset_ms"].as_i64() else {
                return Some(error_response(&ApiError::invalid(
                    "body must be {\"offset_ms\": N}",
                )));
            };
            clock::set_offset_ms(ms);
            tracing::warn!("debug: wall clock offset set to {ms} ms");
            Some(Response::json(200, &json!({"offset_ms": ms})))
        }
        _ => None,
    }
}

/// Forwards a client request unchanged to `addr` (with [`NO_FORWARD`]) and
/// passes the answer back verbatim. A request that was never sent is
/// `503 unavailable` (definite); one whose answer was lost is
/// `502 forward-failed`, indefinite unless `read`.
pub async fn forward_raw(
    client: &HttpClient,
    addr: &str,
    req: &Request,
    timeout: Duration,
    read: bool,
) -> Response {
    let path = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    match client
        .request(
            addr,
            &req.method,
            &path,
            &[(NO_FORWARD, "1")],
            &req.body,
            timeout,
        )
        .await
    {
        Ok((status, body)) => Response { status, body },
        Err(e) if e.not_sent() => {
            error_response(&ApiError::unavailable(format!("forwarding failed: {e}")))
        }
        Err(e) => {
            client.forget(addr);
            let mut err = ApiError::indefinite("forward-failed", format!("forwarding failed: {e}"));
            if read {
                err = err.for_read();
            }
            error_response(&err)
        }
    }
}

/// Parses a JSON request body (an empty body is `{}`).
pub fn json_body(req: &Request) -> Result<Value, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::invalid(format!("body is not JSON: {e}")))
}

/// Splits `/prefix/{name}/rest` into the decoded name and `rest` (empty
/// when absent). `None` when the path does not start with `/prefix/`.
pub fn split_named(path: &str, prefix: &str) -> Option<Result<(String, String), ApiError>> {
    let rest = path.strip_prefix(prefix)?.strip_prefix('/')?;
    let (raw, tail) = rest.split_once('/').unwrap_or((rest, ""));
    Some(
        http::percent_decode(raw)
            .filter(|n| !n.is_empty())
            .map(|n| (n, tail.to_string()))
            .ok_or_else(|| ApiError::invalid(format!("bad name in path {path:?}"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        prog: "t",
        levels: &["a", "b"],
        extra_flags: &["--visibility-ms"],
        usage: "usage: t",
    };

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_common_and_extra_flags_and_names_bad_ones() {
        let c = parse(
            &SPEC,
            &args("--id n1 --listen 127.0.0.1:1 --peers n2=127.0.0.1:2 --data-dir d --level b --visibility-ms 300"),
        )
        .unwrap();
        assert_eq!(c.level, "b");
        assert_eq!(c.extra_ms("--visibility-ms", 5).unwrap().as_millis(), 300);
        assert_eq!(c.all_ids(), vec!["n1", "n2"]);
        let base = "--id n1 --listen 127.0.0.1:1 --peers n2=127.0.0.1:2 --data-dir d";
        for (extra, flag) in [
            ("--level c", "--level"),
            ("--level a --r 1", "--r"),
            ("--level a --fsync x", "--fsync"),
        ] {
            let e = parse(&SPEC, &args(&format!("{base} {extra}"))).unwrap_err();
            assert!(e.starts_with(flag), "{extra}: {e}");
        }
    }

    #[test]
    fn splits_named_paths() {
        assert_eq!(
            split_named("/queue/a%20b/enqueue", "/queue")
                .unwrap()
                .unwrap(),
            ("a b".to_string(), "enqueue".to_string())
        );
        assert_eq!(
            split_named("/lock/l", "/lock").unwrap().unwrap(),
            ("l".to_string(), String::new())
        );
        assert!(split_named("/queues/x", "/queue").is_none());
        assert!(split_named("/queue//x", "/queue").unwrap().is_err());
    }
}
