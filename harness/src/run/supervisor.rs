//! The cluster supervisor: starts one OS process per node, restarts killed
//! nodes on their data dirs, and sends them signals.
//!
//! Every node runs in its own process group and (unless the user asked to
//! leave the cluster running) gets `PR_SET_PDEATHSIG(SIGKILL)`. Linux sends
//! that signal when the *thread* that forked the child exits, so every node
//! is spawned from one thread that lives as long as the harness process:
//! whatever way the harness dies, even SIGKILL, its nodes die with it.
//! Nodes are signalled by their own process-group id, and so are the
//! descendants that left the group (PostgreSQL's backends).

use super::http::Http;
use crate::system::{render, SystemDef};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// The spawner thread

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// The long-lived thread every node is forked from. Its sender lives in a
/// static, so the thread never exits before the process does.
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("faultline-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // Unreachable in practice: the sender is static. Park rather
                // than exit, since exiting would fire PDEATHSIG.
                loop {
                    std::thread::park();
                }
            })
            .expect("start the spawner thread");
        Mutex::new(tx)
    })
}

/// Spawns `cmd` in its own process group; with `die_with_parent`, the child
/// gets SIGKILL when the harness goes away.
pub fn spawn(mut cmd: Command, die_with_parent: bool) -> std::io::Result<Child> {
    cmd.process_group(0);
    if die_with_parent {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl took effect.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap()
        .send((cmd, tx))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// Sends `sig` to the process group led by `pid`, and to every descendant
/// that left the group: a server whose workers start sessions of their own
/// (PostgreSQL's backends call `setsid`) is killed, paused and resumed
/// whole. For SIGKILL and SIGSTOP the group is stopped first, so nothing
/// forks a new child between the look at `/proc` and the signal. A group
/// that is already gone is not an error.
pub fn signal_group(pid: u32, sig: libc::c_int) -> std::io::Result<()> {
    let group = |s: libc::c_int| {
        // SAFETY: plain syscall; the pid is one of ours (a group leader we
        // spawned and have not reaped).
        let r = unsafe { libc::kill(-(pid as libc::pid_t), s) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(e);
            }
        }
        Ok(())
    };
    if sig == libc::SIGKILL || sig == libc::SIGSTOP {
        group(libc::SIGSTOP)?;
    }
    let strays = strays(pid);
    group(sig)?;
    for p in strays {
        // SAFETY: plain syscall on a descendant of our node found just
        // now (its parent chain is stopped, so it cannot have been reaped
        // and its pid reused in between, except for a direct child of the
        // group leader reaped by it before the stop).
        unsafe { libc::kill(p as libc::pid_t, sig) };
    }
    Ok(())
}

/// The descendants of `pid` outside its process group (from `/proc`).
fn strays(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // (pid, parent, process group) of every process.
    let mut procs: Vec<(u32, u32, u32)> = Vec::new();
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and `)`.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(pp), Some(pg)) = (
            f.get(1).and_then(|x| x.parse().ok()),
            f.get(2).and_then(|x| x.parse().ok()),
        ) {
            procs.push((p, pp, pg));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            procs
                .iter()
                .filter(|(p, pp, _)| *pp == parent && !tree.contains(p))
                .map(|(p, _, _)| *p)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    procs
        .iter()
        .filter(|(p, _, pg)| *p != pid && *pg != pid && tree.contains(p))
        .map(|(p, _, _)| *p)
        .collect()
}

// ---------------------------------------------------------------------------
// Node commands

/// A node's fixed identity: id, addresses, directories.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    /// 1-based position in the cluster.
    pub index: usize,
    /// `127.0.0.1:PORT`: the main port (clients connect here; peers dial it,
    /// through the proxy mesh when there is one).
    pub addr: String,
    /// The system's extra named ports (`{port:NAME}`).
    pub ports: BTreeMap<String, u16>,
    /// `nodes/<id>/` in the run directory: logs and the data dir.
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    /// The network namespace the node runs in (a descriptor the run's
    /// [`nemesis::NetnsCluster`] holds open); `None` on loopback.
    pub netns: Option<std::os::fd::RawFd>,
}

impl NodeInfo {
    pub fn host(&self) -> &str {
        self.addr.rsplit_once(':').map_or("", |(h, _)| h)
    }

    pub fn port(&self) -> &str {
        self.addr.rsplit_once(':').map_or("", |(_, p)| p)
    }

    /// A placeholder about this node as a peer sees it (`addr` is `dial`).
    fn peer_value(&self, name: &str, dial: &str) -> Option<String> {
        let (host, port) = dial.rsplit_once(':').unwrap_or((dial, ""));
        Some(match name {
            "id" => self.id.clone(),
            "index" => self.index.to_string(),
            "host" => host.to_string(),
            "port" => port.to_string(),
            "addr" => dial.to_string(),
            _ => {
                if let Some(p) = name.strip_prefix("port:") {
                    self.ports.get(p)?.to_string()
                } else if let Some(p) = name.strip_prefix("addr:") {
                    format!("{}:{}", self.host(), self.ports.get(p)?)
                } else {
                    return None;
                }
            }
        })
    }
}

/// How to start (and restart, on the same data dir) each node of a system
/// at one level: its [`SystemDef`] filled in for this run.
pub struct Launcher {
    pub def: Arc<SystemDef>,
    pub level: String,
    /// What `{bin}` expands to: the binary, or this executable and the
    /// system's builtin subcommand.
    pub bin: Vec<String>,
    pub fsync: String,
    /// `--node-arg`s, appended to every node's command.
    pub extra_args: Vec<String>,
    /// The address node A dials for node B, keyed `(A, B)` (the proxy mesh's
    /// link A→B); a missing pair dials B's own address.
    pub peer_addrs: BTreeMap<(String, String), String>,
    /// Extra environment per node (libfaketime for clock faults).
    pub env: BTreeMap<String, Vec<(String, String)>>,
}

impl Launcher {
    /// The value of a node placeholder for `node`.
    fn value(&self, name: &str, node: &NodeInfo, cluster: &[NodeInfo]) -> Option<String> {
        let peer_list = |only_others: bool| {
            cluster
                .iter()
                .filter(|n| !only_others || n.id != node.id)
                .map(|n| {
                    let dial = self
                        .peer_addrs
                        .get(&(node.id.clone(), n.id.clone()))
                        .unwrap_or(&n.addr);
                    render(&self.def.peer, &|p| n.peer_value(p, dial))
                })
                .collect::<Vec<_>>()
                .join(&self.def.peer_separator)
        };
        Some(match name {
            "bin" => self.bin.join(" "),
            "id" => node.id.clone(),
            "index" => node.index.to_string(),
            "host" => node.host().to_string(),
            "port" => node.port().to_string(),
            "addr" => node.addr.clone(),
            "peers" => peer_list(true),
            "cluster" => peer_list(false),
            "nodes" => cluster
                .iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>()
                .join(","),
            "data_dir" => node.data_dir.display().to_string(),
            "node_dir" => node.dir.display().to_string(),
            "level" => self.level.clone(),
            "fsync" => self.fsync.clone(),
            other => node.peer_value(other, &node.addr)?,
        })
    }

    /// Renders one template string for `node`.
    pub fn render(&self, s: &str, node: &NodeInfo, cluster: &[NodeInfo]) -> String {
        render(s, &|p| self.value(p, node, cluster))
    }

    /// The argv that starts `node`: the system's command, then the level's
    /// arguments, then `--node-arg`s. An argument that is exactly `{bin}`
    /// becomes every word of it.
    pub fn argv(&self, node: &NodeInfo, cluster: &[NodeInfo]) -> Vec<String> {
        let level = self.def.level(&self.level);
        let mut argv = Vec::new();
        for a in self
            .def
            .command
            .iter()
            .chain(level.map(|l| l.args.iter()).into_iter().flatten())
        {
            if a == "{bin}" {
                argv.extend(self.bin.iter().cloned());
            } else {
                argv.push(self.render(a, node, cluster));
            }
        }
        argv.extend(self.extra_args.iter().cloned());
        argv
    }

    /// The command that starts (or restarts, on the same data dir) `node`.
    pub fn command(&self, node: &NodeInfo, cluster: &[NodeInfo]) -> Command {
        let argv = self.argv(node, cluster);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        let level_env = self.def.level(&self.level).map(|l| &l.env);
        for (k, v) in self.def.env.iter().chain(level_env.into_iter().flatten()) {
            cmd.env(k, self.render(v, node, cluster));
        }
        if let Some(env) = self.env.get(&node.id) {
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.current_dir(&node.dir);
        cmd
    }
}

// ---------------------------------------------------------------------------
// The cluster

struct NodeProc {
    info: NodeInfo,
    child: Option<Child>,
    paused: bool,
    starts: usize,
}

/// A running cluster. Dropping it SIGKILLs every node (unless
/// `leave_running`) and reaps them.
pub struct Cluster {
    system: Launcher,
    nodes: Mutex<Vec<NodeProc>>,
    infos: Vec<NodeInfo>,
    pub leave_running: bool,
}

/// Allocates `n` free loopback ports (bound then released; the nodes bind
/// them with SO_REUSEADDR).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .context("allocating loopback ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// The last `n` lines of a file, for error messages.
pub fn last_lines(path: &Path, n: usize) -> String {
    let Ok(f) = File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let mut q = VecDeque::new();
    for line in BufReader::new(f).lines().map_while(Result::ok) {
        if q.len() == n {
            q.pop_front();
        }
        q.push_back(line);
    }
    if q.is_empty() {
        return "(empty)".into();
    }
    q.into_iter().collect::<Vec<_>>().join("\n")
}

/// Lays out `n` nodes `n1..nN` under `nodes_dir` on fresh loopback ports
/// (a main port each, plus one per name in `extra_ports`) and creates their
/// data dirs. Paths are absolute (nodes run in their own node dir).
pub fn layout(n: usize, extra_ports: &[String], nodes_dir: &Path) -> Result<Vec<NodeInfo>> {
    let per = 1 + extra_ports.len();
    let ports = free_ports(n * per)?;
    lay_out(n, extra_ports, nodes_dir, |i| {
        (
            "127.0.0.1".to_string(),
            ports[i * per..(i + 1) * per].to_vec(),
            None,
        )
    })
}

/// [`layout`] in network namespaces: node `i` at its namespace's address,
/// every node on the same ports (`port`, then one per extra port), run
/// inside its namespace.
pub fn layout_netns(
    n: usize,
    extra_ports: &[String],
    nodes_dir: &Path,
    net: &::nemesis::NetnsCluster,
    port: u16,
) -> Result<Vec<NodeInfo>> {
    let ports: Vec<u16> = (0..=extra_ports.len() as u16).map(|k| port + k).collect();
    lay_out(n, extra_ports, nodes_dir, |i| {
        let id = format!("n{}", i + 1);
        (
            net.addr_of(&id).map(|a| a.to_string()).unwrap_or_default(),
            ports.clone(),
            net.netns_of(&id).map(|ns| ns.fd()),
        )
    })
}

fn lay_out(
    n: usize,
    extra_ports: &[String],
    nodes_dir: &Path,
    place: impl Fn(usize) -> (String, Vec<u16>, Option<std::os::fd::RawFd>),
) -> Result<Vec<NodeInfo>> {
    std::fs::create_dir_all(nodes_dir)
        .with_context(|| format!("creating {}", nodes_dir.display()))?;
    let nodes_dir = nodes_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", nodes_dir.display()))?;
    let mut infos = Vec::new();
    for i in 0..n {
        let (host, ports, netns) = place(i);
        let id = format!("n{}", i + 1);
        let dir = nodes_dir.join(&id);
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        infos.push(NodeInfo {
            id,
            index: i + 1,
            addr: format!("{host}:{}", ports[0]),
            ports: extra_ports
                .iter()
                .cloned()
                .zip(ports[1..].iter().copied())
                .collect(),
            dir,
            data_dir,
            netns,
        });
    }
    Ok(infos)
}

impl Cluster {
    /// A cluster of the nodes [`layout`] gave (when the system's command
    /// needs their addresses first, e.g. for the proxy mesh).
    pub fn from_layout(system: Launcher, infos: Vec<NodeInfo>, leave_running: bool) -> Cluster {
        let nodes = infos
            .iter()
            .map(|info| NodeProc {
                info: info.clone(),
                child: None,
                paused: false,
                starts: 0,
            })
            .collect();
        Cluster {
            system,
            nodes: Mutex::new(nodes),
            infos,
            leave_running,
        }
    }

    pub fn infos(&self) -> &[NodeInfo] {
        &self.infos
    }

    fn start_locked(&self, node: &mut NodeProc) -> Result<()> {
        if let Some(c) = node.child.as_mut() {
            if c.try_wait()?.is_none() {
                return Ok(());
            }
            node.child = None;
        }
        let open = |name: &str| -> Result<File> {
            let p = node.info.dir.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .with_context(|| format!("opening {}", p.display()))
        };
        let (out, mut err) = (open("stdout.log")?, open("stderr.log")?);
        node.starts += 1;
        let _ = writeln!(
            err,
            "--- faultline: start #{} of {} ---",
            node.starts, node.info.id
        );
        let mut cmd = self.system.command(&node.info, &self.infos);
        if let Some(fd) = node.info.netns {
            // SAFETY: setns is a plain syscall, async-signal-safe; the
            // descriptor stays open as long as the run's namespaces.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = spawn(cmd, !self.leave_running).with_context(|| {
            format!(
                "starting node {} ({:?})",
                node.info.id,
                self.system.command(&node.info, &self.infos).get_program()
            )
        })?;
        tracing::info!(node = %node.info.id, pid = child.id(), start = node.starts, "node started");
        // Test aid and post-mortem: every pid this node ever had.
        if let Ok(mut f) = open("pids") {
            let _ = writeln!(f, "{}", child.id());
        }
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Starts every node (no wait).
    pub fn start_all(&self) -> Result<()> {
        let mut nodes = self.nodes.lock().unwrap();
        for n in nodes.iter_mut() {
            self.start_locked(n)?;
        }
        Ok(())
    }

    /// Why `node` is not running, when it exited: its status and last
    /// stderr lines.
    pub fn exited(&self, node: usize) -> Option<String> {
        let mut nodes = self.nodes.lock().unwrap();
        let n = &mut nodes[node];
        let status = n.child.as_mut().map(|c| c.try_wait());
        match status {
            Some(Ok(Some(st))) => Some(format!(
                "node {} exited ({st}); last lines of {}:\n{}",
                n.info.id,
                n.info.dir.join("stderr.log").display(),
                last_lines(&n.info.dir.join("stderr.log"), 15)
            )),
            _ => None,
        }
    }

    /// Whether `info` passes the system's readiness probe now; the last
    /// answer, for the error message, when it does not.
    async fn probe_ready(&self, http: &Http, info: &NodeInfo) -> std::result::Result<(), String> {
        let ready = &self.system.def.ready;
        if let Some(path) = &ready.http_get {
            return match http
                .request(&info.addr, "GET", path, None, Duration::from_millis(500))
                .await
            {
                Ok((200, _)) => Ok(()),
                Ok((s, b)) => Err(format!(
                    "GET {path}: HTTP {s} {}",
                    String::from_utf8_lossy(&b)
                )),
                Err(e) => Err(format!("GET {path}: {e}")),
            };
        }
        if let Some(cmd) = &ready.command {
            let argv = self.render_argv(cmd, info);
            return run_probe(&argv, Duration::from_secs(5))
                .await
                .map_err(|(_, why)| why);
        }
        match tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(&info.addr),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("connect: {e}")),
            Err(_) => Err("connect: timed out".into()),
        }
    }

    /// `cmd` with its placeholders filled in for `info`.
    fn render_argv(&self, cmd: &[String], info: &NodeInfo) -> Vec<String> {
        cmd.iter()
            .map(|a| self.system.render(a, info, &self.infos))
            .collect()
    }

    /// Waits until every node passes the system's readiness probe, or fails
    /// quoting the last stderr lines of the first node that did not.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let http = Http::new();
        for (i, info) in self.infos.iter().enumerate() {
            loop {
                if let Some(why) = self.exited(i) {
                    bail!("{why}");
                }
                let r = self.probe_ready(&http, info).await;
                let Err(why) = r else { break };
                if Instant::now() >= deadline {
                    bail!(
                        "node {} ({}) not ready after {:.0} s (last answer: {why}); last lines of {}:\n{}",
                        info.id,
                        info.addr,
                        timeout.as_secs_f64(),
                        info.dir.join("stderr.log").display(),
                        last_lines(&info.dir.join("stderr.log"), 15)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// The system's leader probe on every node, concurrently (`timeout`
    /// each; a node that does not answer is missing): `(node index, leads,
    /// the leader it names)`. Empty when the system has no leader probe.
    pub async fn leader_status(&self, timeout: Duration) -> Vec<(usize, bool, Option<String>)> {
        let Some(probe) = self.system.def.leader.clone() else {
            return Vec::new();
        };
        let http = Http::new();
        let mut set = tokio::task::JoinSet::new();
        for (i, n) in self.infos.iter().enumerate() {
            let (http, probe, addr) = (http.clone(), probe.clone(), n.addr.clone());
            let argv = probe.command.as_ref().map(|c| self.render_argv(c, n));
            set.spawn(async move {
                if let Some(argv) = argv {
                    // A node that cannot be asked (the command timed out or
                    // did not start) is missing, as an HTTP probe's would be.
                    return match run_probe(&argv, timeout).await {
                        Ok(()) => Some((i, true, None)),
                        Err((true, _)) => Some((i, false, None)),
                        Err((false, _)) => None,
                    };
                }
                let v: serde_json::Value = match (&probe.http_get, &probe.http_post) {
                    (Some(p), _) => http.get_json(&addr, p, timeout).await?,
                    (None, Some(p)) => match http
                        .request(&addr, "POST", p, Some(b"{}".to_vec()), timeout)
                        .await
                    {
                        Ok((200, b)) => serde_json::from_slice(&b).ok()?,
                        _ => return None,
                    },
                    (None, None) => return None,
                };
                let leads = match (&probe.role, &probe.same) {
                    (Some(role), _) => v
                        .pointer(role)
                        .and_then(|r| r.as_str())
                        .is_some_and(|r| probe.roles.iter().any(|x| x == r)),
                    (None, Some(same)) => {
                        let a = v.pointer(&same[0]);
                        a.is_some_and(|a| !a.is_null()) && a == v.pointer(&same[1])
                    }
                    (None, None) => false,
                };
                let named = probe
                    .names
                    .as_ref()
                    .and_then(|p| v.pointer(p))
                    .and_then(|l| l.as_str())
                    .map(str::to_string);
                Some((i, leads, named))
            });
        }
        let mut out: Vec<_> = set.join_all().await.into_iter().flatten().collect();
        out.sort_by_key(|(i, _, _)| *i);
        out
    }

    /// Whether the nodes lead at this level (the system has a leader probe
    /// and the level is not leaderless).
    pub fn has_leaders(&self) -> bool {
        self.system.def.leader.is_some()
            && !self
                .system
                .def
                .level(&self.system.level)
                .is_some_and(|l| l.leaderless)
    }

    /// Copies the system's extra log files (`logs` in its file) of every
    /// node under `nodes/<id>/logs/`; returns what could not be copied.
    pub fn collect_logs(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for info in &self.infos {
            for pattern in &self.system.def.logs {
                let src = PathBuf::from(self.system.render(pattern, info, &self.infos));
                let src = if src.is_relative() {
                    info.dir.join(src)
                } else {
                    src
                };
                if src.starts_with(&info.dir) && !src.starts_with(&info.data_dir) {
                    continue; // already under nodes/<id>/
                }
                let dest_dir = info.dir.join("logs");
                let name = src.file_name().map(PathBuf::from).unwrap_or_default();
                let r = std::fs::create_dir_all(&dest_dir)
                    .and_then(|_| std::fs::copy(&src, dest_dir.join(&name)).map(|_| ()));
                if let Err(e) = r {
                    problems.push(format!("{}: {}: {e}", info.id, src.display()));
                }
            }
        }
        problems
    }

    /// Every live node pid (for `--leave-running` and tests).
    pub fn pids(&self) -> Vec<(String, u32)> {
        let nodes = self.nodes.lock().unwrap();
        nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| (n.info.id.clone(), c.id())))
            .collect()
    }

    /// SIGKILLs and reaps every node. Errors are logged, never returned: this
    /// runs during cleanup.
    pub fn stop_all(&self) {
        let mut nodes = match self.nodes.lock() {
            Ok(n) => n,
            Err(p) => p.into_inner(),
        };
        for n in nodes.iter_mut() {
            if let Some(mut c) = n.child.take() {
                if let Err(e) = signal_group(c.id(), libc::SIGKILL) {
                    tracing::warn!(node = %n.info.id, "SIGKILL: {e}");
                }
                let _ = c.wait();
                n.paused = false;
            }
        }
    }

    /// Kills every node at once without waiting (second Ctrl-C).
    pub fn kill_now(&self) {
        if let Ok(nodes) = self.nodes.try_lock() {
            for n in nodes.iter() {
                if let Some(c) = n.child.as_ref() {
                    let _ = signal_group(c.id(), libc::SIGKILL);
                }
            }
        }
    }

    fn with_node<T>(&self, node: usize, f: impl FnOnce(&mut NodeProc) -> Result<T>) -> Result<T> {
        let mut nodes = self.nodes.lock().unwrap();
        let n = nodes
            .get_mut(node)
            .ok_or_else(|| anyhow!("no node #{node}"))?;
        f(n)
    }
}

/// Runs a probe command (a ready or leader probe from the system file) for
/// at most `timeout`: `Ok` when it exits 0; otherwise what happened, for an
/// error message, with whether the command ran to a non-zero exit (rather
/// than failing to start or timing out).
async fn run_probe(argv: &[String], timeout: Duration) -> std::result::Result<(), (bool, String)> {
    let out = tokio::time::timeout(
        timeout,
        tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    match out {
        Ok(Ok(o)) if o.status.success() => Ok(()),
        Ok(Ok(o)) => Err((
            true,
            format!(
                "`{}` exited {}: {}",
                argv.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        )),
        Ok(Err(e)) => Err((false, format!("`{}`: {e}", argv.join(" ")))),
        Err(_) => Err((
            false,
            format!(
                "`{}` did not finish in {:.1} s",
                argv.join(" "),
                timeout.as_secs_f64()
            ),
        )),
    }
}

/// Process faults, by node index (the nemesis reaches them through
/// `run::target::ClusterTarget`).
impl Cluster {
    /// SIGKILL the node's process group and reap it.
    pub fn kill(&self, node: usize) -> Result<()> {
        self.with_node(node, |n| {
            if let Some(mut c) = n.child.take() {
                signal_group(c.id(), libc::SIGKILL)
                    .with_context(|| format!("SIGKILL node {} (pid {})", n.info.id, c.id()))?;
                c.wait()
                    .with_context(|| format!("reaping node {}", n.info.id))?;
            }
            n.paused = false;
            Ok(())
        })
    }

    /// Start the node again on its data dir (no-op when it runs).
    pub fn start(&self, node: usize) -> Result<()> {
        let mut nodes = self.nodes.lock().unwrap();
        let n = nodes
            .get_mut(node)
            .ok_or_else(|| anyhow!("no node #{node}"))?;
        self.start_locked(n)
    }

    /// SIGSTOP the node's process group.
    pub fn pause(&self, node: usize) -> Result<()> {
        self.with_node(node, |n| {
            if let Some(c) = n.child.as_ref() {
                signal_group(c.id(), libc::SIGSTOP)
                    .with_context(|| format!("SIGSTOP node {}", n.info.id))?;
                n.paused = true;
            }
            Ok(())
        })
    }

    /// SIGCONT the node's process group.
    pub fn resume(&self, node: usize) -> Result<()> {
        self.with_node(node, |n| {
            if let Some(c) = n.child.as_ref() {
                signal_group(c.id(), libc::SIGCONT)
                    .with_context(|| format!("SIGCONT node {}", n.info.id))?;
            }
            n.paused = false;
            Ok(())
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.leave_running {
            // Resume anything paused so the cluster the user keeps works.
            if let Ok(nodes) = self.nodes.lock() {
                for n in nodes.iter() {
                    if let Some(c) = n.child.as_ref() {
                        let _ = signal_group(c.id(), libc::SIGCONT);
                    }
                }
            }
            return;
        }
        self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
name = "zk"
binary = "/opt/zk/bin/server"
command = ["{bin}", "--me={index}", "--client={port}", "--quorum={port:quorum}",
           "--servers={cluster}", "--dir", "{data_dir}", "--mode", "{level}"]
peer = "server.{index}={host}:{port:quorum}:{port}"
peer_separator = ";"
ports = ["quorum"]
env = { ZOO_ID = "{id}" }
protocol = "faultline-http"
workloads = ["register"]
[levels.fast]
args = ["--fsync={fsync}"]
env = { ZOO_FAST = "1" }
"#;

    fn nodes() -> Vec<NodeInfo> {
        (1..=3)
            .map(|i| NodeInfo {
                id: format!("n{i}"),
                index: i,
                addr: format!("127.0.0.1:{}", 7000 + i),
                ports: [("quorum".to_string(), 8000 + i as u16)].into(),
                dir: PathBuf::from(format!("/run/nodes/n{i}")),
                data_dir: PathBuf::from(format!("/run/nodes/n{i}/data")),
                netns: None,
            })
            .collect()
    }

    fn launcher(bin: &[&str], peer_addrs: BTreeMap<(String, String), String>) -> Launcher {
        Launcher {
            def: Arc::new(SystemDef::parse(FILE, "zk.toml", None).unwrap()),
            level: "fast".into(),
            bin: bin.iter().map(|s| s.to_string()).collect(),
            fsync: "always".into(),
            extra_args: vec!["--verbose".into()],
            peer_addrs,
            env: BTreeMap::new(),
        }
    }

    /// A child that started a session of its own (as PostgreSQL's
    /// backends do) is paused, resumed and killed with its node.
    #[test]
    fn signals_reach_descendants_that_left_the_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "setsid sleep 60 & echo $! ; exec sleep 60"])
            .stdout(Stdio::piped());
        let mut child = spawn(cmd, true).unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let stray: u32 = line.trim().parse().unwrap();
        let state = |pid: u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("gone")
                .to_string()
        };
        // setsid forks when it leads a group already: wait for the sleep.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !strays(child.id()).contains(&stray) {
            assert!(Instant::now() < deadline, "no stray {stray}");
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(child.id(), libc::SIGSTOP).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(state(stray), "T");
        signal_group(child.id(), libc::SIGCONT).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(state(stray), "S");
        signal_group(child.id(), libc::SIGKILL).unwrap();
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(state(stray).as_str(), "gone" | "Z") {
            assert!(Instant::now() < deadline, "stray {stray} survived");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_node_command_is_rendered_from_the_system_file() {
        let n = nodes();
        let l = launcher(&["/opt/zk/bin/server"], BTreeMap::new());
        assert_eq!(
            l.argv(&n[1], &n),
            [
                "/opt/zk/bin/server",
                "--me=2",
                "--client=7002",
                "--quorum=8002",
                "--servers=server.1=127.0.0.1:8001:7001;server.2=127.0.0.1:8002:7002;server.3=127.0.0.1:8003:7003",
                "--dir",
                "/run/nodes/n2/data",
                "--mode",
                "fast",
                "--fsync=always",
                "--verbose",
            ]
        );
        let cmd = l.command(&n[0], &n);
        let envs: BTreeMap<String, String> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(envs["ZOO_ID"], "n1");
        assert_eq!(envs["ZOO_FAST"], "1");
        assert_eq!(cmd.get_current_dir(), Some(Path::new("/run/nodes/n1")));
    }

    #[test]
    fn peers_dial_the_proxies_and_bin_may_be_several_words() {
        let n = nodes();
        let mut proxies = BTreeMap::new();
        proxies.insert(
            ("n1".to_string(), "n2".to_string()),
            "127.0.0.1:9012".to_string(),
        );
        let mut l = launcher(&["/usr/bin/faultline", "zk-node"], proxies);
        l.def = Arc::new(
            SystemDef::parse(
                &FILE.replace("--servers={cluster}", "--peers={peers}"),
                "zk.toml",
                None,
            )
            .unwrap(),
        );
        let argv = l.argv(&n[0], &n);
        assert_eq!(&argv[..2], ["/usr/bin/faultline", "zk-node"]);
        // n1 dials n2 through its proxy (host and port of the proxy), n3
        // directly; its own entry is left out of {peers}.
        assert!(
            argv.contains(
                &"--peers=server.2=127.0.0.1:8002:9012;server.3=127.0.0.1:8003:7003".to_string()
            ),
            "{argv:?}"
        );
    }
}
