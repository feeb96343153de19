//! Network namespaces: the network backend for real systems, which dial
//! one address per peer and so cannot be pointed at a per-link proxy.
//!
//! Layout, for nodes `n1..nN`:
//!
//! * a *bridge namespace* holding the bridge `flbr0` at `10.74.0.1/24`; the
//!   harness's client threads live here (see [`NetnsCluster::enter_bridge`]);
//! * one namespace per node, its `eth0` at `10.74.0.(10+i)/24` (one end of a
//!   veth pair whose other end, `flv<i>`, is a port of the bridge), and its
//!   own `lo`.
//!
//! Nothing is added to the root namespace: the namespaces are created with
//! `unshare(CLONE_NEWNET)` on short-lived threads and held by file
//! descriptors of this process only (no `ip netns add`, no bind mount under
//! `/run/netns`). The kernel frees a namespace, its veths, its nftables
//! rules and its qdiscs when the last process in it and the last descriptor
//! of it are gone, so whatever way the harness ends (a normal end, Ctrl-C,
//! a panic, SIGKILL) and its nodes die with it, nothing is left to sweep.
//!
//! Faults are rules inside the node namespaces, rebuilt as a whole and
//! loaded atomically on every change:
//!
//! * a link `A → B` cut by a partition, or under a packet `Drop` / `Reset`,
//!   is an nftables rule in B's `input` chain matching A's address: `drop`
//!   (default: a real partition sends nothing back, so a system has to
//!   notice it through its own timeouts, which is what Jepsen does) or, in
//!   [`CutMode::Reject`], a TCP reset / ICMP admin-prohibited (fails fast,
//!   closer to a crashed peer than to a partition);
//! * `Loss { p }` is `numgen random mod 1000000 < p·10⁶ drop` in B's input
//!   chain (nftables' form of iptables' `statistic --mode random`);
//! * `Slow { bytes_per_sec }` is a token-bucket class of an `htb` qdisc on
//!   A's `eth0`, with a filter on B's address (a shaper: packets queue, as
//!   with `tbf`, rather than being dropped);
//! * `Delay` needs `netem`, which this kernel does not have: it is refused
//!   with [`NetError::Unsupported`]; delay and jitter stay with the proxy
//!   mesh of the bundled systems.
//!
//! Needs root (CAP_SYS_ADMIN for `unshare`/`setns`, CAP_NET_ADMIN for the
//! rules) and the `ip`, `nft` and `tc` programs (Debian: iproute2,
//! nftables). [`preflight`] says what is missing.

use crate::proxy::{LinkRule, NetError};
use crate::{Grudge, NetworkControl, NodeId};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// The private range the namespaces use: it exists only inside them.
pub const SUBNET: [u8; 3] = [10, 74, 0];
/// The bridge's address (where the harness's clients come from).
pub const BRIDGE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 74, 0, 1);
/// Most nodes one cluster can have.
pub const MAX_NODES: usize = 200;

/// How a cut link treats packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutMode {
    /// Silently discard: the sender's TCP retransmits and stalls.
    #[default]
    Drop,
    /// Answer with a TCP reset (ICMP admin-prohibited for other protocols).
    Reject,
}

impl std::str::FromStr for CutMode {
    type Err = String;
    fn from_str(s: &str) -> Result<CutMode, String> {
        match s {
            "drop" => Ok(CutMode::Drop),
            "reject" => Ok(CutMode::Reject),
            other => Err(format!("expected drop or reject, got {other:?}")),
        }
    }
}

/// One network namespace, held by a descriptor of this process.
#[derive(Debug)]
pub struct Netns {
    file: File,
}

impl Netns {
    /// A new, empty network namespace (only a `lo`, down).
    pub fn create() -> std::io::Result<Netns> {
        std::thread::spawn(|| {
            // SAFETY: plain syscall on this (short-lived) thread only.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let file = File::open("/proc/thread-self/ns/net")?;
            Ok(Netns { file })
        })
        .join()
        .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
    }

    /// The descriptor, for `setns` in a child between fork and exec.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// A path other processes can open to name this namespace (`ip link
    /// ... netns PATH`).
    pub fn path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.fd())
    }

    /// Moves the calling thread into this namespace (threads it starts
    /// afterwards inherit it).
    pub fn enter_current_thread(&self) -> std::io::Result<()> {
        // SAFETY: plain syscall on our own descriptor.
        if unsafe { libc::setns(self.fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The namespace's inode (`net:[INODE]` in `/proc/PID/ns/net`).
    pub fn inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        self.file.metadata().map(|m| m.ino()).unwrap_or(0)
    }

    /// Makes `cmd` run inside this namespace.
    pub fn prepare(&self, cmd: &mut Command) {
        let fd = self.fd();
        // SAFETY: setns is a plain syscall, async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Runs `program args` inside this namespace with `stdin`; an error
    /// quotes its stderr.
    pub fn run(&self, program: &str, args: &[&str], stdin: &str) -> Result<(), NetError> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        self.prepare(&mut cmd);
        let what = || format!("{program} {}", args.join(" "));
        let mut child = cmd
            .spawn()
            .map_err(|e| NetError::Command(format!("{}: {e}", what())))?;
        if let Some(mut si) = child.stdin.take() {
            let _ = si.write_all(stdin.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| NetError::Command(format!("{}: {e}", what())))?;
        if !out.status.success() {
            return Err(NetError::Command(format!(
                "{} ({}): {}\n{}",
                what(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                stdin.trim()
            )));
        }
        Ok(())
    }
}

/// What the namespace backend needs that this machine lacks, in words a
/// user can act on; `None` when nothing is missing.
pub fn preflight() -> Option<String> {
    let mut missing = Vec::new();
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        missing.push(
            "root (network namespaces and packet-filter rules need CAP_SYS_ADMIN and CAP_NET_ADMIN; run as root, e.g. with sudo)"
                .to_string(),
        );
    }
    for (prog, pkg) in [("ip", "iproute2"), ("tc", "iproute2"), ("nft", "nftables")] {
        if find_program(prog).is_none() {
            missing.push(format!(
                "the `{prog}` program (Debian package {pkg}; scripts/install-deps.sh installs it)"
            ));
        }
    }
    (!missing.is_empty()).then(|| missing.join("; "))
}

/// `prog` on PATH or in the sbin directories (root's PATH may lack them).
fn find_program(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(Into::into))
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

fn program(prog: &str) -> String {
    find_program(prog)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| prog.to_string())
}

struct Node {
    id: NodeId,
    ns: Netns,
    addr: Ipv4Addr,
}

/// The rules now in force.
#[derive(Debug, Default)]
struct State {
    /// Links cut by the partition layer, `(from, to)`.
    cut: std::collections::BTreeSet<(NodeId, NodeId)>,
    /// Packet rules other than `Pass`.
    packet: BTreeMap<(NodeId, NodeId), LinkRule>,
    /// Nodes whose `eth0` has an htb qdisc now.
    shaped: std::collections::BTreeSet<NodeId>,
}

/// A cluster's namespaces and the rules in them. Dropping it closes the
/// descriptors; the namespaces go when their last process does.
pub struct NetnsCluster {
    bridge: Netns,
    nodes: Vec<Node>,
    mode: CutMode,
    state: Mutex<State>,
}

impl std::fmt::Debug for NetnsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetnsCluster")
            .field(
                "nodes",
                &self.nodes.iter().map(|n| &n.id).collect::<Vec<_>>(),
            )
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl NetnsCluster {
    /// Creates the bridge namespace and one namespace per node, wired as the
    /// module docs say. Blocks (runs `ip`).
    pub fn create(ids: &[NodeId], mode: CutMode) -> Result<Arc<NetnsCluster>, NetError> {
        if let Some(missing) = preflight() {
            return Err(NetError::Unsupported(format!(
                "network namespaces need {missing}"
            )));
        }
        if ids.len() > MAX_NODES {
            return Err(NetError::Unsupported(format!(
                "at most {MAX_NODES} nodes in network namespaces, asked for {}",
                ids.len()
            )));
        }
        let io = |what: &str, e: std::io::Error| NetError::Command(format!("{what}: {e}"));
        let bridge = Netns::create().map_err(|e| io("creating the bridge namespace", e))?;
        let ip = program("ip");
        bridge.run(
            &ip,
            &["-batch", "-"],
            &format!(
                "link set lo up\nlink add name flbr0 type bridge\naddr add {BRIDGE_ADDR}/24 dev flbr0\nlink set flbr0 up\n"
            ),
        )?;
        let mut nodes = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if nodes.iter().any(|n: &Node| &n.id == id) {
                return Err(NetError::DuplicateNode(id.clone()));
            }
            let ns = Netns::create().map_err(|e| io(&format!("creating {id}'s namespace"), e))?;
            let addr = Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], 10 + i as u8 + 1);
            let host_end = format!("flv{}", i + 1);
            bridge.run(
                &ip,
                &["-batch", "-"],
                &format!(
                    "link add name {host_end} type veth peer name eth0 netns {}\nlink set {host_end} master flbr0\nlink set {host_end} up\n",
                    ns.path()
                ),
            )?;
            ns.run(
                &ip,
                &["-batch", "-"],
                &format!("link set lo up\naddr add {addr}/24 dev eth0\nlink set eth0 up\n"),
            )?;
            nodes.push(Node {
                id: id.clone(),
                ns,
                addr,
            });
        }
        let c = NetnsCluster {
            bridge,
            nodes,
            mode,
            state: Mutex::new(State::default()),
        };
        // An empty ruleset everywhere, so that a bad nft shows up now.
        c.apply(&mut c.state.lock().unwrap())?;
        tracing::info!(nodes = ids.len(), "network namespaces created");
        Ok(Arc::new(c))
    }

    /// Node `id`'s address inside the namespaces.
    pub fn addr_of(&self, id: &str) -> Option<Ipv4Addr> {
        self.node(id).map(|n| n.addr)
    }

    /// Node `id`'s namespace.
    pub fn netns_of(&self, id: &str) -> Option<&Netns> {
        self.node(id).map(|n| &n.ns)
    }

    /// The bridge namespace (where clients live).
    pub fn bridge(&self) -> &Netns {
        &self.bridge
    }

    /// Moves the calling thread into the bridge namespace: threads it starts
    /// afterwards (an async runtime's workers) reach every node, and nothing
    /// else.
    pub fn enter_bridge(&self) -> std::io::Result<()> {
        self.bridge.enter_current_thread()
    }

    /// Every namespace's inode, the bridge's first (for leak checks).
    pub fn inodes(&self) -> Vec<u64> {
        std::iter::once(self.bridge.inode())
            .chain(self.nodes.iter().map(|n| n.ns.inode()))
            .collect()
    }

    pub fn mode(&self) -> CutMode {
        self.mode
    }

    fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    fn check_link(&self, from: &str, to: &str) -> Result<(), NetError> {
        if self.node(from).is_none() || self.node(to).is_none() || from == to {
            return Err(NetError::UnknownLink {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        Ok(())
    }

    /// The nftables ruleset of node `to` under `state`.
    fn ruleset(&self, to: &Node, state: &State) -> String {
        let mut rules = Vec::new();
        let cut = |saddr: Ipv4Addr, mode: CutMode, rules: &mut Vec<String>| match mode {
            CutMode::Drop => rules.push(format!("ip saddr {saddr} drop")),
            CutMode::Reject => {
                rules.push(format!(
                    "ip saddr {saddr} meta l4proto tcp reject with tcp reset"
                ));
                rules.push(format!(
                    "ip saddr {saddr} reject with icmpx type admin-prohibited"
                ));
            }
        };
        for from in &self.nodes {
            if from.id == to.id {
                continue;
            }
            let key = (from.id.clone(), to.id.clone());
            if state.cut.contains(&key) {
                cut(from.addr, self.mode, &mut rules);
                continue;
            }
            match state.packet.get(&key) {
                Some(LinkRule::Drop) => cut(from.addr, CutMode::Drop, &mut rules),
                Some(LinkRule::Reset) => cut(from.addr, CutMode::Reject, &mut rules),
                Some(LinkRule::Loss { p }) => {
                    let n = (p * 1_000_000.0).round() as u64;
                    rules.push(format!(
                        "ip saddr {} numgen random mod 1000000 < {n} drop",
                        from.addr
                    ));
                }
                _ => {}
            }
        }
        let mut s = String::from(
            "table inet faultline {}\ndelete table inet faultline\ntable inet faultline {\n  chain input {\n    type filter hook input priority 0; policy accept;\n",
        );
        for r in rules {
            s.push_str("    ");
            s.push_str(&r);
            s.push('\n');
        }
        s.push_str("  }\n}\n");
        s
    }

    /// The `tc -batch` script shaping node `from`'s egress, or `None` when
    /// none of its links is slowed.
    fn shaping(&self, from: &Node, state: &State) -> Option<String> {
        let mut s = String::new();
        for (i, to) in self.nodes.iter().enumerate() {
            if let Some(LinkRule::Slow { bytes_per_sec }) =
                state.packet.get(&(from.id.clone(), to.id.clone()))
            {
                if state.cut.contains(&(from.id.clone(), to.id.clone())) {
                    continue;
                }
                let class = i + 10;
                let bits = bytes_per_sec.saturating_mul(8).max(8);
                s.push_str(&format!(
                    "class add dev eth0 parent 1: classid 1:{class} htb rate {bits}bit ceil {bits}bit burst 4k\n\
                     filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst {}/32 flowid 1:{class}\n",
                    to.addr
                ));
            }
        }
        (!s.is_empty()).then(|| format!("qdisc add dev eth0 root handle 1: htb\n{s}"))
    }

    /// Loads every node's rules for `state` (each node's nftables ruleset
    /// atomically), and its shaping where that changed.
    fn apply(&self, state: &mut State) -> Result<(), NetError> {
        let nft = program("nft");
        let tc = program("tc");
        for n in &self.nodes {
            n.ns.run(&nft, &["-f", "-"], &self.ruleset(n, state))?;
            let shaping = self.shaping(n, state);
            let was = state.shaped.contains(&n.id);
            if was {
                n.ns.run(&tc, &["qdisc", "del", "dev", "eth0", "root"], "")?;
                state.shaped.remove(&n.id);
            }
            if let Some(script) = shaping {
                n.ns.run(&tc, &["-batch", "-"], &script)?;
                state.shaped.insert(n.id.clone());
            }
        }
        Ok(())
    }
}

impl NetworkControl for NetnsCluster {
    fn apply_grudge(&self, grudge: &Grudge) -> Result<(), NetError> {
        for n in grudge.nodes() {
            if self.node(&n).is_none() {
                return Err(NetError::UnknownNode(n));
            }
        }
        let mut st = self.state.lock().unwrap();
        st.cut = grudge.dropped_links().into_iter().collect();
        self.apply(&mut st)?;
        tracing::info!(%grudge, mode = ?self.mode, "netns: partition applied");
        Ok(())
    }

    fn set_link(&self, from: &str, to: &str, rule: LinkRule) -> Result<(), NetError> {
        self.set_links(&[(from.to_string(), to.to_string(), rule)])
    }

    fn set_links(&self, rules: &[(NodeId, NodeId, LinkRule)]) -> Result<(), NetError> {
        for (from, to, rule) in rules {
            self.check_link(from, to)?;
            match rule {
                LinkRule::Delay { .. } => {
                    return Err(NetError::Unsupported(
                        "delay and jitter need the netem qdisc, which this kernel does not have; they work with the proxy mesh (the bundled systems)".into(),
                    ))
                }
                LinkRule::Loss { p } if !(0.0..=1.0).contains(p) => {
                    return Err(NetError::InvalidRule(format!(
                        "loss probability {p} is not in [0, 1]"
                    )))
                }
                LinkRule::Slow { bytes_per_sec: 0 } => {
                    return Err(NetError::InvalidRule("bandwidth must be above 0".into()))
                }
                _ => {}
            }
        }
        let mut st = self.state.lock().unwrap();
        for (from, to, rule) in rules {
            let key = (from.clone(), to.clone());
            if *rule == LinkRule::Pass {
                st.packet.remove(&key);
            } else {
                st.packet.insert(key, *rule);
            }
        }
        self.apply(&mut st)?;
        tracing::info!(?rules, "netns: link rules set");
        Ok(())
    }

    fn heal(&self) -> Result<(), NetError> {
        let mut st = self.state.lock().unwrap();
        st.cut.clear();
        st.packet.clear();
        self.apply(&mut st)?;
        tracing::info!("netns: healed");
        Ok(())
    }

    fn effective_rules(&self) -> Vec<(NodeId, NodeId, LinkRule)> {
        let st = self.state.lock().unwrap();
        let mut out = Vec::new();
        for a in &self.nodes {
            for b in &self.nodes {
                if a.id == b.id {
                    continue;
                }
                let key = (a.id.clone(), b.id.clone());
                let rule = if st.cut.contains(&key) {
                    match self.mode {
                        CutMode::Drop => LinkRule::Drop,
                        CutMode::Reject => LinkRule::Reset,
                    }
                } else {
                    st.packet.get(&key).copied().unwrap_or(LinkRule::Pass)
                };
                out.push((a.id.clone(), b.id.clone(), rule));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Duration;

    fn root() -> bool {
        // SAFETY: plain syscall.
        let ok = unsafe { libc::geteuid() } == 0 && preflight().is_none();
        if !ok {
            eprintln!("SKIPPED: needs root and ip/tc/nft: {:?}", preflight());
        }
        ok
    }

    /// An echo server on `addr` inside `ns` (its thread enters the
    /// namespace before binding).
    fn echo_in(ns: &Netns, addr: SocketAddr) {
        let fd = ns.fd();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: plain syscall on the test's own descriptor.
            assert_eq!(unsafe { libc::setns(fd, libc::CLONE_NEWNET) }, 0);
            let l = TcpListener::bind(addr).unwrap();
            tx.send(()).unwrap();
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                std::thread::spawn(move || {
                    let mut b = [0u8; 64];
                    while let Ok(n) = s.read(&mut b) {
                        if n == 0 || s.write_all(&b[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        rx.recv().unwrap();
    }

    /// Whether a thread in `from` gets an echo from `to` within 1 s, and
    /// how it failed.
    fn reach(from: &Netns, to: SocketAddr) -> Result<(), String> {
        let fd = from.fd();
        std::thread::spawn(move || {
            // SAFETY: as above.
            assert_eq!(unsafe { libc::setns(fd, libc::CLONE_NEWNET) }, 0);
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(1))
                .map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            s.write_all(b"hi").map_err(|e| format!("write: {e}"))?;
            let mut b = [0u8; 2];
            s.read_exact(&mut b).map_err(|e| format!("read: {e}"))?;
            Ok(())
        })
        .join()
        .unwrap()
    }

    fn ids(n: usize) -> Vec<NodeId> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn rules_are_rendered_per_receiving_node() {
        // Pure: no namespace needed to render.
        let st = State {
            cut: [("n1".to_string(), "n2".to_string())].into_iter().collect(),
            packet: [(
                ("n3".to_string(), "n2".to_string()),
                LinkRule::Loss { p: 0.25 },
            )]
            .into_iter()
            .collect(),
            shaped: Default::default(),
        };
        let node = |i: u8| Node {
            id: format!("n{i}"),
            ns: Netns {
                file: File::open("/dev/null").unwrap(),
            },
            addr: Ipv4Addr::new(10, 74, 0, 10 + i),
        };
        let c = NetnsCluster {
            bridge: Netns {
                file: File::open("/dev/null").unwrap(),
            },
            nodes: vec![node(1), node(2), node(3)],
            mode: CutMode::Drop,
            state: Mutex::new(State::default()),
        };
        let r2 = c.ruleset(&c.nodes[1], &st);
        assert!(r2.contains("ip saddr 10.74.0.11 drop"), "{r2}");
        assert!(
            r2.contains("ip saddr 10.74.0.13 numgen random mod 1000000 < 250000 drop"),
            "{r2}"
        );
        // One-way: n2's traffic to n1 is not touched in n1's rules.
        let r1 = c.ruleset(&c.nodes[0], &st);
        assert!(!r1.contains("saddr"), "{r1}");
    }

    #[test]
    fn partitions_cut_links_one_way_and_heal() {
        if !root() {
            return;
        }
        let net = NetnsCluster::create(&ids(3), CutMode::Drop).unwrap();
        let addr = |id: &str| SocketAddr::new(net.addr_of(id).unwrap().into(), 7000);
        for id in ["n1", "n2", "n3"] {
            echo_in(net.netns_of(id).unwrap(), addr(id));
        }
        let ns = |id: &str| net.netns_of(id).unwrap();
        // Everyone reaches everyone, and the bridge (clients) reaches all.
        assert_eq!(reach(ns("n1"), addr("n2")), Ok(()));
        assert_eq!(reach(net.bridge(), addr("n3")), Ok(()));
        // n1 -> n2 cut (n2 drops what comes from n1): n1 cannot reach n2.
        let mut g = Grudge::new();
        g.add("n2", "n1");
        net.apply_grudge(&g).unwrap();
        assert!(reach(ns("n1"), addr("n2")).is_err());
        // n3 is untouched, and clients still reach n2.
        assert_eq!(reach(ns("n3"), addr("n2")), Ok(()));
        assert_eq!(reach(net.bridge(), addr("n2")), Ok(()));
        assert_eq!(
            net.effective_rules()
                .into_iter()
                .filter(|r| r.2 != LinkRule::Pass)
                .collect::<Vec<_>>(),
            vec![("n1".to_string(), "n2".to_string(), LinkRule::Drop)]
        );
        net.apply_grudge(&Grudge::new()).unwrap();
        assert_eq!(reach(ns("n1"), addr("n2")), Ok(()));
        // Reset fails fast, with a refusal rather than a timeout.
        net.set_link("n1", "n3", LinkRule::Reset).unwrap();
        let e = reach(ns("n1"), addr("n3")).unwrap_err();
        assert!(e.contains("refused"), "{e}");
        net.heal().unwrap();
        assert_eq!(reach(ns("n1"), addr("n3")), Ok(()));
        // Delay is refused, and says why.
        let e = net
            .set_link(
                "n1",
                "n2",
                LinkRule::Delay {
                    ms: 5,
                    jitter_ms: 0,
                },
            )
            .unwrap_err();
        assert!(e.to_string().contains("netem"), "{e}");
        // A slow link still carries traffic.
        net.set_link(
            "n1",
            "n2",
            LinkRule::Slow {
                bytes_per_sec: 50_000,
            },
        )
        .unwrap();
        assert_eq!(reach(ns("n1"), addr("n2")), Ok(()));
        net.heal().unwrap();
    }

    #[test]
    fn the_namespaces_are_gone_once_dropped() {
        if !root() {
            return;
        }
        let net = NetnsCluster::create(&ids(2), CutMode::Reject).unwrap();
        let inodes = net.inodes();
        assert_eq!(inodes.len(), 3);
        drop(net);
        // No process here holds them any more (the namespace files of this
        // process's threads and descriptors are all elsewhere).
        let held = held_netns_inodes();
        for i in inodes {
            assert!(!held.contains(&i), "namespace {i} still held");
        }
    }

    /// Every network namespace inode some process's thread is in or holds
    /// a descriptor of.
    fn held_netns_inodes() -> std::collections::BTreeSet<u64> {
        let mut out = std::collections::BTreeSet::new();
        let parse = |link: std::path::PathBuf| {
            link.to_str()
                .and_then(|s| s.strip_prefix("net:["))
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
        };
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            let dir = p.path();
            if let Ok(l) = std::fs::read_link(dir.join("ns/net")) {
                out.extend(parse(l));
            }
            if let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
                for fd in fds.flatten() {
                    if let Ok(l) = std::fs::read_link(fd.path()) {
                        out.extend(parse(l));
                    }
                }
            }
        }
        out
    }
}
