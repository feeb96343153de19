//! A loopback TCP proxy mesh that realises partitions and packet faults
//! without root.
//!
//! For every directed pair of nodes `A → B` the mesh listens on
//! `127.0.0.1:<ephemeral>` and forwards to B's real address; A is told to
//! reach B at [`ProxyMesh::peer_addr`]`(A, B)`. On a connection accepted on
//! link `A → B`, bytes from A to B obey the rule of link `A → B` and response
//! bytes from B to A obey the rule of link `B → A`, so one-way partitions
//! behave as they would on a network even with request/response protocols.
//!
//! Rules ([`LinkRule`]) change at any time and act on established
//! connections at once:
//! - `Pass`: forward.
//! - `Delay { ms, jitter_ms }`: each chunk is delivered `ms ± jitter_ms`
//!   after it was read, in order (pipelined: latency, not a throughput cap).
//! - `Drop`: blackhole. Bytes are read and discarded, never delivered, so
//!   the sender sees a stall as in a real partition (a new connection is
//!   accepted but never reaches the target). Chunks in flight when the cut
//!   starts are lost too. When a direction heals after bytes were discarded,
//!   that connection's stream is corrupt and it is closed with a reset so
//!   the nodes reconnect cleanly.
//! - `Reset`: established connections are closed with RST (SO_LINGER 0) and
//!   new ones are reset right after accept.
//! - `Loss { p }`: TCP-level loss as the sender's kernel would hide it: with
//!   probability `p` a chunk is delayed by a retransmission timeout
//!   ([`LOSS_RETRANSMIT_MS`]) and, as TCP is in-order, so is everything behind
//!   it. The stream is never corrupted.
//! - `Slow { bytes_per_sec }`: bandwidth limit.
//!
//! Every task stops on [`ProxyMesh::shutdown`] or when the mesh is dropped.
//! The mesh only binds 127.0.0.1 and only forwards to loopback addresses.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::{Grudge, NetworkControl, NodeId};

/// Delay added to a "lost" chunk under [`LinkRule::Loss`]: Linux's minimum
/// TCP retransmission timeout.
pub const LOSS_RETRANSMIT_MS: u64 = 200;

/// What a directed link does to the bytes crossing it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum LinkRule {
    /// Forward unchanged.
    #[default]
    Pass,
    /// Deliver each chunk `ms ± jitter_ms` (uniform) after it was sent.
    Delay { ms: u64, jitter_ms: u64 },
    /// Blackhole: accept, read, discard; the sender stalls.
    Drop,
    /// Reset established and new connections.
    Reset,
    /// With probability `p` per chunk, a retransmission-sized delay.
    Loss { p: f64 },
    /// Limit the link to `bytes_per_sec`.
    Slow { bytes_per_sec: u64 },
}

impl LinkRule {
    fn validate(&self) -> Result<(), NetError> {
        match *self {
            LinkRule::Loss { p } if !(0.0..=1.0).contains(&p) => Err(NetError::InvalidRule(
                format!("loss probability {p} is not in [0, 1]"),
            )),
            LinkRule::Slow { bytes_per_sec: 0 } => Err(NetError::InvalidRule(
                "slow link with 0 bytes/s (use drop instead)".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Errors from the network-control backends.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("unknown node `{0}` (not in the proxy mesh)")]
    UnknownNode(NodeId),
    #[error("no link {from} -> {to} in the proxy mesh")]
    UnknownLink { from: NodeId, to: NodeId },
    #[error("node `{0}` is listed twice")]
    DuplicateNode(NodeId),
    #[error("node `{node}` has address {addr}; the proxy mesh only forwards to loopback")]
    NotLoopback { node: NodeId, addr: SocketAddr },
    #[error("invalid link rule: {0}")]
    InvalidRule(String),
    /// The backend cannot do this here (and says what would).
    #[error("{0}")]
    Unsupported(String),
    /// A command configuring the network failed (its stderr quoted).
    #[error("{0}")]
    Command(String),
    #[error("binding the proxy for link {from} -> {to} on 127.0.0.1: {source}")]
    Bind {
        from: NodeId,
        to: NodeId,
        source: io::Error,
    },
}

/// Options for [`ProxyMesh::start_with`].
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// Seeds delay jitter and loss draws (per link, per connection).
    pub seed: u64,
    /// How long a proxy waits to connect to the target node before
    /// resetting the client's connection.
    pub connect_timeout: Duration,
    /// Largest chunk read at once.
    pub buffer_size: usize,
    /// Chunks buffered per connection direction before the proxy stops
    /// reading (backpressure to the sender).
    pub queue_chunks: usize,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            seed: 0,
            connect_timeout: Duration::from_secs(5),
            buffer_size: 16 * 1024,
            queue_chunks: 64,
        }
    }
}

/// Traffic counters of one directed link (bytes travelling `from → to`,
/// whichever side opened the connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    /// Connections accepted on this link's proxy listener.
    pub connections: u64,
    /// Bytes delivered from → to.
    pub bytes_delivered: u64,
    /// Bytes from → to discarded by `Drop`.
    pub bytes_dropped: u64,
    /// Connections on which a from → to rule caused a reset (Reset rule, or
    /// healing after discarded bytes).
    pub resets: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    bytes_delivered: AtomicU64,
    bytes_dropped: AtomicU64,
    resets: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LinkStats {
        LinkStats {
            connections: self.connections.load(Ordering::Relaxed),
            bytes_delivered: self.bytes_delivered.load(Ordering::Relaxed),
            bytes_dropped: self.bytes_dropped.load(Ordering::Relaxed),
            resets: self.resets.load(Ordering::Relaxed),
        }
    }
}

struct LinkState {
    partitioned: bool,
    packet: LinkRule,
    tx: watch::Sender<LinkRule>,
    counters: Arc<Counters>,
    listen: SocketAddr,
}

impl LinkState {
    fn publish(&self) {
        let eff = if self.partitioned {
            LinkRule::Drop
        } else {
            self.packet
        };
        self.tx.send_if_modified(|r| {
            if *r != eff {
                *r = eff;
                true
            } else {
                false
            }
        });
    }
}

type LinkKey = (NodeId, NodeId);

/// The loopback TCP proxy mesh. Create it inside a tokio runtime with
/// [`ProxyMesh::start`]; control it through [`NetworkControl`].
pub struct ProxyMesh {
    nodes: Vec<NodeId>,
    links: Mutex<BTreeMap<LinkKey, LinkState>>,
    shutdown_tx: watch::Sender<bool>,
    listeners: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ProxyMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyMesh")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl ProxyMesh {
    /// Start a proxy for every directed pair of `nodes` (id, real listen
    /// address on loopback) with default options. Must run inside a tokio
    /// runtime; the proxies run on that runtime.
    pub async fn start(nodes: &[(NodeId, SocketAddr)]) -> Result<ProxyMesh, NetError> {
        Self::start_with(nodes, MeshConfig::default()).await
    }

    /// [`ProxyMesh::start`] with explicit options.
    pub async fn start_with(
        nodes: &[(NodeId, SocketAddr)],
        config: MeshConfig,
    ) -> Result<ProxyMesh, NetError> {
        let mut ids: Vec<NodeId> = Vec::new();
        for (id, addr) in nodes {
            if ids.contains(id) {
                return Err(NetError::DuplicateNode(id.clone()));
            }
            if !addr.ip().is_loopback() {
                return Err(NetError::NotLoopback {
                    node: id.clone(),
                    addr: *addr,
                });
            }
            ids.push(id.clone());
        }
        let mut links = BTreeMap::new();
        let mut bound = Vec::new();
        for (a, _) in nodes {
            for (b, addr_b) in nodes {
                if a == b {
                    continue;
                }
                let listener =
                    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                        .await
                        .map_err(|source| NetError::Bind {
                            from: a.clone(),
                            to: b.clone(),
                            source,
                        })?;
                let listen = listener.local_addr().map_err(|source| NetError::Bind {
                    from: a.clone(),
                    to: b.clone(),
                    source,
                })?;
                let (tx, _) = watch::channel(LinkRule::Pass);
                links.insert(
                    (a.clone(), b.clone()),
                    LinkState {
                        partitioned: false,
                        packet: LinkRule::Pass,
                        tx,
                        counters: Arc::new(Counters::default()),
                        listen,
                    },
                );
                bound.push((a.clone(), b.clone(), *addr_b, listener));
            }
        }
        let (shutdown_tx, _) = watch::channel(false);
        let config = Arc::new(config);
        let mut handles = Vec::new();
        for (i, (a, b, target, listener)) in bound.into_iter().enumerate() {
            let fwd = &links[&(a.clone(), b.clone())];
            let back = &links[&(b.clone(), a.clone())];
            let ctx = LinkCtx {
                name: format!("{a}->{b}"),
                target,
                fwd_rx: fwd.tx.subscribe(),
                back_rx: back.tx.subscribe(),
                fwd_counters: fwd.counters.clone(),
                back_counters: back.counters.clone(),
                shutdown: shutdown_tx.subscribe(),
                config: config.clone(),
                seed: config.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            };
            handles.push(tokio::spawn(accept_loop(listener, ctx)));
        }
        tracing::debug!(nodes = ?ids, links = links.len(), "proxy mesh started");
        Ok(ProxyMesh {
            nodes: ids,
            links: Mutex::new(links),
            shutdown_tx,
            listeners: Mutex::new(handles),
        })
    }

    /// The address node `from` must use to reach node `to` (give it in
    /// `from`'s `--peers`). `None` for unknown nodes or `from == to`.
    pub fn peer_addr(&self, from: &str, to: &str) -> Option<SocketAddr> {
        self.lock()
            .get(&(from.to_string(), to.to_string()))
            .map(|l| l.listen)
    }

    /// Every other node with the proxy address `node` must use for it, in
    /// mesh order.
    pub fn peers_of(&self, node: &str) -> Vec<(NodeId, SocketAddr)> {
        self.nodes
            .iter()
            .filter_map(|to| self.peer_addr(node, to).map(|a| (to.clone(), a)))
            .collect()
    }

    /// The mesh's nodes, in the order given to `start`.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The effective rule of link `from → to`.
    pub fn rule(&self, from: &str, to: &str) -> Option<LinkRule> {
        self.lock()
            .get(&(from.to_string(), to.to_string()))
            .map(|l| *l.tx.borrow())
    }

    /// Traffic counters of link `from → to`.
    pub fn link_stats(&self, from: &str, to: &str) -> Option<LinkStats> {
        self.lock()
            .get(&(from.to_string(), to.to_string()))
            .map(|l| l.counters.snapshot())
    }

    /// Stop every listener and close every proxied connection. Idempotent;
    /// also done on drop.
    pub fn shutdown(&self) {
        self.shutdown_tx.send_replace(true);
        let mut ls = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        for h in ls.drain(..) {
            h.abort();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<LinkKey, LinkState>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_node(&self, n: &str) -> Result<(), NetError> {
        if self.nodes.iter().any(|x| x == n) {
            Ok(())
        } else {
            Err(NetError::UnknownNode(n.to_string()))
        }
    }
}

impl Drop for ProxyMesh {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl NetworkControl for ProxyMesh {
    fn apply_grudge(&self, grudge: &Grudge) -> Result<(), NetError> {
        for n in grudge.nodes() {
            self.check_node(&n)?;
        }
        let mut links = self.lock();
        for ((from, to), state) in links.iter_mut() {
            state.partitioned = grudge.drops(from, to);
            state.publish();
        }
        tracing::info!(%grudge, "proxy mesh: partition applied");
        Ok(())
    }

    fn set_link(&self, from: &str, to: &str, rule: LinkRule) -> Result<(), NetError> {
        self.set_links(&[(from.to_string(), to.to_string(), rule)])
    }

    fn set_links(&self, rules: &[(NodeId, NodeId, LinkRule)]) -> Result<(), NetError> {
        let mut links = self.lock();
        for (from, to, rule) in rules {
            rule.validate()?;
            if !links.contains_key(&(from.clone(), to.clone())) {
                return Err(NetError::UnknownLink {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
        for (from, to, rule) in rules {
            let state = links
                .get_mut(&(from.clone(), to.clone()))
                .expect("validated above");
            state.packet = *rule;
            state.publish();
            tracing::info!(%from, %to, ?rule, "proxy mesh: link rule set");
        }
        Ok(())
    }

    fn heal(&self) -> Result<(), NetError> {
        let mut links = self.lock();
        for state in links.values_mut() {
            state.partitioned = false;
            state.packet = LinkRule::Pass;
            state.publish();
        }
        tracing::info!("proxy mesh: healed");
        Ok(())
    }

    fn effective_rules(&self) -> Vec<(NodeId, NodeId, LinkRule)> {
        self.lock()
            .iter()
            .map(|((f, t), s)| (f.clone(), t.clone(), *s.tx.borrow()))
            .collect()
    }
}

/// Everything a connection on one link needs.
struct LinkCtx {
    name: String,
    target: SocketAddr,
    fwd_rx: watch::Receiver<LinkRule>,
    back_rx: watch::Receiver<LinkRule>,
    fwd_counters: Arc<Counters>,
    back_counters: Arc<Counters>,
    shutdown: watch::Receiver<bool>,
    config: Arc<MeshConfig>,
    seed: u64,
}

impl LinkCtx {
    fn for_conn(&self, n: u64) -> LinkCtx {
        LinkCtx {
            name: self.name.clone(),
            target: self.target,
            fwd_rx: self.fwd_rx.clone(),
            back_rx: self.back_rx.clone(),
            fwd_counters: self.fwd_counters.clone(),
            back_counters: self.back_counters.clone(),
            shutdown: self.shutdown.clone(),
            config: self.config.clone(),
            seed: self
                .seed
                .wrapping_add(n.wrapping_mul(0xD1B5_4A32_D192_ED03)),
        }
    }
}

async fn accept_loop(listener: TcpListener, mut ctx: LinkCtx) {
    let mut n = 0u64;
    loop {
        tokio::select! {
            r = ctx.shutdown.changed() => {
                if r.is_err() || *ctx.shutdown.borrow() { return; }
            }
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    n += 1;
                    ctx.fwd_counters.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(run_conn(stream, ctx.for_conn(n)));
                }
                Err(e) => {
                    tracing::warn!(link = %ctx.name, error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

fn set_linger_zero(s: &TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is owned by `s`, alive for the duration of the call;
    // the option value is a valid `linger` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "setting SO_LINGER 0 failed");
    }
}

fn shutdown_write(s: &TcpStream) {
    // SAFETY: the fd is owned by `s` and alive for the duration of the call.
    unsafe {
        libc::shutdown(s.as_raw_fd(), libc::SHUT_WR);
    }
}

/// Close `s` with an RST.
fn reset(s: TcpStream) {
    set_linger_zero(&s);
    drop(s);
}

async fn read_shared(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

async fn write_all_shared(s: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        s.writable().await?;
        match s.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn is_reset(r: &LinkRule) -> bool {
    matches!(r, LinkRule::Reset)
}

fn is_drop(r: &LinkRule) -> bool {
    matches!(r, LinkRule::Drop)
}

async fn run_conn(client: TcpStream, mut ctx: LinkCtx) {
    let _ = client.set_nodelay(true);
    let mut client = client;
    // Phase 1: while A → B is cut, do not even open the upstream connection
    // (a SYN would not get through either); swallow what A sends.
    let mut tainted = false;
    let mut buf = vec![0u8; ctx.config.buffer_size];
    loop {
        let f = *ctx.fwd_rx.borrow_and_update();
        let b = *ctx.back_rx.borrow_and_update();
        if is_reset(&f) || is_reset(&b) {
            ctx.fwd_counters.resets.fetch_add(1, Ordering::Relaxed);
            reset(client);
            return;
        }
        if !is_drop(&f) {
            if tainted {
                ctx.fwd_counters.resets.fetch_add(1, Ordering::Relaxed);
                reset(client);
                return;
            }
            break;
        }
        tokio::select! {
            r = ctx.shutdown.changed() => if r.is_err() || *ctx.shutdown.borrow() { return },
            r = ctx.fwd_rx.changed() => if r.is_err() { return },
            r = ctx.back_rx.changed() => if r.is_err() { return },
            r = tokio::io::AsyncReadExt::read(&mut client, &mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    tainted = true;
                    ctx.fwd_counters.bytes_dropped.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
    }
    drop(buf);

    // Phase 2: connect to the target.
    let upstream = match tokio::time::timeout(
        ctx.config.connect_timeout,
        TcpStream::connect(ctx.target),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(link = %ctx.name, error = %e, "proxy: target refused; resetting client");
            reset(client);
            return;
        }
        Err(_) => {
            tracing::debug!(link = %ctx.name, "proxy: connect to target timed out; resetting client");
            reset(client);
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let client = Arc::new(client);
    let upstream = Arc::new(upstream);
    let kill = Arc::new(Notify::new());
    let fwd_taint = Arc::new(AtomicBool::new(false));
    let back_taint = Arc::new(AtomicBool::new(false));
    let (done_tx, mut done_rx) = mpsc::channel::<()>(2);
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for (src, dst, rx, counters, taint) in [
        (
            client.clone(),
            upstream.clone(),
            ctx.fwd_rx.clone(),
            ctx.fwd_counters.clone(),
            fwd_taint.clone(),
        ),
        (
            upstream.clone(),
            client.clone(),
            ctx.back_rx.clone(),
            ctx.back_counters.clone(),
            back_taint.clone(),
        ),
    ] {
        let (tx, chunks) = mpsc::channel::<Chunk>(ctx.config.queue_chunks.max(1));
        let dir = Direction {
            rx,
            counters,
            taint,
            kill: kill.clone(),
        };
        tasks.push(tokio::spawn(reader(
            src,
            tx,
            dir.clone(),
            ChaCha8Rng::seed_from_u64(rng.random()),
            ctx.config.buffer_size,
        )));
        tasks.push(tokio::spawn(writer(dst, chunks, dir, done_tx.clone())));
    }
    drop(done_tx);

    // Supervisor: react to rule changes, kill requests, completion, shutdown.
    let mut finished = 0;
    let mut do_reset = false;
    loop {
        let f = *ctx.fwd_rx.borrow_and_update();
        let b = *ctx.back_rx.borrow_and_update();
        let fwd_corrupt = !is_drop(&f) && fwd_taint.load(Ordering::SeqCst);
        let back_corrupt = !is_drop(&b) && back_taint.load(Ordering::SeqCst);
        if is_reset(&f) || is_reset(&b) || fwd_corrupt || back_corrupt {
            if is_reset(&f) || fwd_corrupt {
                ctx.fwd_counters.resets.fetch_add(1, Ordering::Relaxed);
            }
            if is_reset(&b) || back_corrupt {
                ctx.back_counters.resets.fetch_add(1, Ordering::Relaxed);
            }
            do_reset = true;
            break;
        }
        tokio::select! {
            r = ctx.shutdown.changed() => if r.is_err() || *ctx.shutdown.borrow() { break },
            r = ctx.fwd_rx.changed() => if r.is_err() { break },
            r = ctx.back_rx.changed() => if r.is_err() { break },
            _ = kill.notified() => {
                // A pump hit an I/O error or found a corrupt stream: abort
                // both sides so neither end mistakes it for a clean close.
                do_reset = true;
                break;
            }
            r = done_rx.recv() => match r {
                Some(()) => { finished += 1; if finished == 2 { break } }
                None => break,
            }
        }
    }
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    if do_reset {
        set_linger_zero(&client);
        set_linger_zero(&upstream);
        tracing::debug!(link = %ctx.name, "proxy: connection reset");
    }
    drop(client);
    drop(upstream);
}

/// Per-direction shared state of one proxied connection.
#[derive(Clone)]
struct Direction {
    rx: watch::Receiver<LinkRule>,
    counters: Arc<Counters>,
    taint: Arc<AtomicBool>,
    kill: Arc<Notify>,
}

impl Direction {
    fn rule(&self) -> LinkRule {
        *self.rx.borrow()
    }

    /// Discard `n` bytes under `Drop`. If the link healed meanwhile, the
    /// stream is now corrupt: ask the supervisor to reset the connection.
    fn discard(&self, n: usize) {
        self.taint.store(true, Ordering::SeqCst);
        self.counters
            .bytes_dropped
            .fetch_add(n as u64, Ordering::Relaxed);
        if !is_drop(&self.rule()) {
            self.kill.notify_one();
        }
    }
}

enum Chunk {
    Data(Vec<u8>, Instant),
    Eof,
}

async fn reader(
    src: Arc<TcpStream>,
    tx: mpsc::Sender<Chunk>,
    dir: Direction,
    mut rng: ChaCha8Rng,
    buffer_size: usize,
) {
    let mut last_due = Instant::now();
    loop {
        let cap = match dir.rule() {
            LinkRule::Slow { bytes_per_sec } => {
                ((bytes_per_sec / 20) as usize).clamp(1, buffer_size)
            }
            _ => buffer_size,
        };
        let mut buf = vec![0u8; cap];
        let n = match read_shared(&src, &mut buf).await {
            Ok(0) => {
                let _ = tx.send(Chunk::Eof).await;
                return;
            }
            Ok(n) => n,
            Err(_) => {
                dir.kill.notify_one();
                return;
            }
        };
        buf.truncate(n);
        let now = Instant::now();
        let due = match dir.rule() {
            LinkRule::Drop => {
                dir.discard(n);
                continue;
            }
            // The supervisor is resetting the connection.
            LinkRule::Reset => continue,
            LinkRule::Pass => now.max(last_due),
            LinkRule::Delay { ms, jitter_ms } => {
                let j = if jitter_ms > 0 {
                    rng.random_range(-(jitter_ms as i64)..=jitter_ms as i64)
                } else {
                    0
                };
                let d = (ms as i64 + j).max(0) as u64;
                (now + Duration::from_millis(d)).max(last_due)
            }
            LinkRule::Loss { p } => {
                let extra = if rng.random_bool(p) {
                    Duration::from_millis(LOSS_RETRANSMIT_MS)
                } else {
                    Duration::ZERO
                };
                (now + extra).max(last_due)
            }
            LinkRule::Slow { bytes_per_sec } => {
                now.max(last_due) + Duration::from_secs_f64(n as f64 / bytes_per_sec as f64)
            }
        };
        last_due = due;
        if tx.send(Chunk::Data(buf, due)).await.is_err() {
            return;
        }
    }
}

async fn writer(
    dst: Arc<TcpStream>,
    mut chunks: mpsc::Receiver<Chunk>,
    dir: Direction,
    done: mpsc::Sender<()>,
) {
    while let Some(c) = chunks.recv().await {
        match c {
            Chunk::Eof => {
                shutdown_write(&dst);
                let _ = done.send(()).await;
                return;
            }
            Chunk::Data(buf, due) => {
                sleep_until(due).await;
                match dir.rule() {
                    // In flight when the cut started: lost.
                    LinkRule::Drop => {
                        dir.discard(buf.len());
                        continue;
                    }
                    LinkRule::Reset => continue,
                    _ => {}
                }
                if dir.taint.load(Ordering::SeqCst) {
                    dir.kill.notify_one();
                    return;
                }
                if write_all_shared(&dst, &buf).await.is_err() {
                    dir.kill.notify_one();
                    return;
                }
                dir.counters
                    .bytes_delivered
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
            }
        }
    }
}
