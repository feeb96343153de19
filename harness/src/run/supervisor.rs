//! The cluster supervisor: starts one OS process per node, restarts killed
//! nodes on their data dirs, and sends them signals.
//!
//! Every node runs in its own process group and (unless the user asked to
//! leave the cluster running) gets `PR_SET_PDEATHSIG(SIGKILL)`. Linux sends
//! that signal when the *thread* that forked the child exits, so every node
//! is spawned from one thread that lives as long as the harness process:
//! whatever way the harness dies, even SIGKILL, its nodes die with it.
//! Nodes are only ever signalled by their own process-group id.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
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

/// Sends `sig` to the process group led by `pid`. A group that is already
/// gone is not an error.
pub fn signal_group(pid: u32, sig: libc::c_int) -> std::io::Result<()> {
    // SAFETY: plain syscall; the pid is one of ours (a group leader we
    // spawned and have not reaped).
    let r = unsafe { libc::kill(-(pid as libc::pid_t), sig) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(e);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Systems

/// How to start one node of a system under test.
pub trait System: Send + Sync {
    /// The command that starts (or restarts, on the same data dir) `node`.
    fn command(&self, node: &NodeInfo, cluster: &[NodeInfo]) -> Command;
    /// The HTTP path that answers 200 once the node serves requests.
    fn health_path(&self) -> &'static str {
        "/health"
    }
}

/// A node's fixed identity: id, address, directories.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// `nodes/<id>/` in the run directory: logs and the data dir.
    pub dir: PathBuf,
    pub data_dir: PathBuf,
}

/// `faultline-kv` at one consistency level.
pub struct KvSystem {
    pub bin: PathBuf,
    /// Arguments before the node flags (`kv-node` when the nodes run from
    /// the faultline executable itself).
    pub prefix_args: Vec<String>,
    pub level: String,
    pub fsync: String,
    pub extra_args: Vec<String>,
    /// The address node A dials for node B, keyed `(A, B)` (the proxy mesh's
    /// link A→B); a missing pair dials B's own address.
    pub peer_addrs: BTreeMap<(String, String), String>,
    /// Extra environment per node (libfaketime for clock faults).
    pub env: BTreeMap<String, Vec<(String, String)>>,
}

impl System for KvSystem {
    fn command(&self, node: &NodeInfo, cluster: &[NodeInfo]) -> Command {
        let peers: Vec<String> = cluster
            .iter()
            .filter(|n| n.id != node.id)
            .map(|n| {
                let addr = self
                    .peer_addrs
                    .get(&(node.id.clone(), n.id.clone()))
                    .unwrap_or(&n.addr);
                format!("{}={addr}", n.id)
            })
            .collect();
        let mut cmd = Command::new(&self.bin);
        if let Some(env) = self.env.get(&node.id) {
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.args(&self.prefix_args)
            .arg("--id")
            .arg(&node.id)
            .arg("--listen")
            .arg(&node.addr)
            .arg("--peers")
            .arg(peers.join(","))
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--level")
            .arg(&self.level)
            .arg("--fsync")
            .arg(&self.fsync)
            .args(&self.extra_args);
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
    system: Box<dyn System>,
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
/// (creates their data dirs).
pub fn layout(n: usize, nodes_dir: &Path) -> Result<Vec<NodeInfo>> {
    let ports = free_ports(n)?;
    let mut infos = Vec::new();
    for (i, port) in ports.into_iter().enumerate() {
        let id = format!("n{}", i + 1);
        let dir = nodes_dir.join(&id);
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        infos.push(NodeInfo {
            id,
            addr: format!("127.0.0.1:{port}"),
            dir,
            data_dir,
        });
    }
    Ok(infos)
}

impl Cluster {
    /// A cluster of the nodes [`layout`] gave (when the system's command
    /// needs their addresses first, e.g. for the proxy mesh).
    pub fn from_layout(
        system: Box<dyn System>,
        infos: Vec<NodeInfo>,
        leave_running: bool,
    ) -> Cluster {
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

    /// Waits until every node answers its health check, or fails quoting the
    /// last stderr lines of the first node that did not.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let http = systems::runtime::http::HttpClient::new();
        let path = self.system.health_path();
        for (i, info) in self.infos.iter().enumerate() {
            loop {
                if let Some(why) = self.exited(i) {
                    bail!("{why}");
                }
                let r = http
                    .request(
                        &info.addr,
                        "GET",
                        path,
                        &[],
                        b"",
                        Duration::from_millis(500),
                    )
                    .await;
                if matches!(r, Ok((200, _))) {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "node {} ({}) not ready after {:.0} s (last answer: {}); last lines of {}:\n{}",
                        info.id,
                        info.addr,
                        timeout.as_secs_f64(),
                        match r {
                            Ok((s, b)) => format!("HTTP {s} {}", String::from_utf8_lossy(&b)),
                            Err(e) => e.to_string(),
                        },
                        info.dir.join("stderr.log").display(),
                        last_lines(&info.dir.join("stderr.log"), 15)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
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
