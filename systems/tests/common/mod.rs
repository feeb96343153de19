//! Test support: real `faultline-kv` clusters on loopback, a blocking HTTP
//! client, and a per-link TCP proxy mesh for partitions.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_faultline-kv");

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One blocking HTTP request; returns (status, JSON body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    http_h(addr, method, path, body, &[])
}

/// [`http`] with extra request headers.
pub fn http_h(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Result<(u16, Value), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n{}\r\n{body}",
        body.len(),
        headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect::<String>()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("read {addr}{path}: {e}"))?;
    let (head, body) = out.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad status")?;
    let v = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((status, v))
}

/// A bidirectional TCP proxy for one directed link; `cut` drops current
/// connections and refuses new ones until `heal`.
pub struct LinkProxy {
    pub addr: String,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl LinkProxy {
    pub fn start(target: String) -> LinkProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c2, s2, k2) = (cut.clone(), stop.clone(), conns.clone());
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((inbound, _)) => {
                        inbound.set_nonblocking(false).unwrap();
                        if c2.load(Ordering::SeqCst) {
                            continue; // dropped: connection closed
                        }
                        let Ok(outbound) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        {
                            let mut k = k2.lock().unwrap();
                            k.push(inbound.try_clone().unwrap());
                            k.push(outbound.try_clone().unwrap());
                        }
                        for (mut a, mut b) in [
                            (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                            (outbound, inbound),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut a, &mut b);
                                let _ = b.shutdown(Shutdown::Both);
                                let _ = a.shutdown(Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        LinkProxy {
            addr,
            cut,
            conns,
            stop,
        }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

/// A running cluster; every node process is SIGKILLed on drop, even when
/// the test panics.
pub struct Cluster {
    /// The node binary.
    pub bin: String,
    pub level: String,
    pub dir: PathBuf,
    pub ids: Vec<String>,
    pub ports: Vec<u16>,
    extra: Vec<String>,
    procs: Vec<Option<Child>>,
    /// (from, to) → proxy, when started with proxies.
    pub proxies: BTreeMap<(usize, usize), LinkProxy>,
}

impl Cluster {
    /// Starts `n` nodes at `level` with `extra` flags and waits until each
    /// answers `/health`.
    pub fn start(level: &str, n: usize, extra: &[&str]) -> Cluster {
        Self::start_inner(BIN, level, n, extra, false)
    }

    /// Like [`start`](Self::start) for another node binary
    /// (`faultline-queue`, `faultline-lock`).
    pub fn start_bin(bin: &str, level: &str, n: usize, extra: &[&str]) -> Cluster {
        Self::start_inner(bin, level, n, extra, false)
    }

    /// [`start_bin`](Self::start_bin) with proxies on every peer link.
    pub fn start_bin_with_proxies(bin: &str, level: &str, n: usize, extra: &[&str]) -> Cluster {
        Self::start_inner(bin, level, n, extra, true)
    }

    /// Like [`start`](Self::start) with a cuttable proxy on every peer link.
    pub fn start_with_proxies(level: &str, n: usize, extra: &[&str]) -> Cluster {
        Self::start_inner(BIN, level, n, extra, true)
    }

    fn start_inner(bin: &str, level: &str, n: usize, extra: &[&str], proxies: bool) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "faultline-test-{}-{}-{}-{}",
            bin.rsplit('/').next().unwrap_or("node"),
            level,
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut c = Cluster {
            bin: bin.into(),
            level: level.into(),
            dir,
            ids: (1..=n).map(|i| format!("n{i}")).collect(),
            ports,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            procs: (0..n).map(|_| None).collect(),
            proxies: BTreeMap::new(),
        };
        if proxies {
            for a in 0..n {
                for b in 0..n {
                    if a != b {
                        c.proxies.insert((a, b), LinkProxy::start(c.addr(b)));
                    }
                }
            }
        }
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_healthy(i);
        }
        if level.starts_with("raft") || level == "primary-async" || level == "at-most-once" {
            let all: Vec<usize> = (0..n).collect();
            c.leader(&all);
        }
        c
    }

    pub fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.ports[i])
    }

    fn spawn(&mut self, i: usize) {
        let peers: Vec<String> = (0..self.ids.len())
            .filter(|j| *j != i)
            .map(|j| {
                let a = match self.proxies.get(&(i, j)) {
                    Some(p) => p.addr.clone(),
                    None => self.addr(j),
                };
                format!("{}={a}", self.ids[j])
            })
            .collect();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", self.ids[i])))
            .unwrap();
        let child = Command::new(&self.bin)
            .args(["--id", &self.ids[i], "--listen", &self.addr(i)])
            .args(["--peers", &peers.join(",")])
            .arg("--data-dir")
            .arg(self.dir.join(&self.ids[i]))
            .args(["--level", &self.level])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin));
        self.procs[i] = Some(child);
    }

    pub fn log_tail(&self, i: usize) -> String {
        let s = std::fs::read_to_string(self.dir.join(format!("{}.log", self.ids[i])))
            .unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn wait_healthy(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http(&self.addr(i), "GET", "/health", None) {
                return;
            }
            if let Some(Ok(Some(st))) = self.procs[i].as_mut().map(|c| c.try_wait()) {
                panic!("{} exited with {st}:\n{}", self.ids[i], self.log_tail(i));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} not healthy:\n{}", self.ids[i], self.log_tail(i));
    }

    /// SIGKILLs node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts node `i` on the same data dir and waits for health.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_healthy(i);
    }

    pub fn signal(&self, i: usize, sig: i32) {
        if let Some(c) = &self.procs[i] {
            // SAFETY: plain kill(2) on a child we own.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// Cuts every link to and from node `i`.
    pub fn isolate(&self, i: usize) {
        for ((a, b), p) in &self.proxies {
            if *a == i || *b == i {
                p.cut();
            }
        }
    }

    pub fn heal(&self) {
        for p in self.proxies.values() {
            p.heal();
        }
    }

    pub fn status(&self, i: usize) -> Value {
        http(&self.addr(i), "GET", "/status", None)
            .map(|r| r.1)
            .unwrap_or(Value::Null)
    }

    pub fn write(&self, i: usize, key: &str, value: i64) -> Result<(u16, Value), String> {
        http(
            &self.addr(i),
            "PUT",
            &format!("/kv/{key}"),
            Some(json!({ "value": value })),
        )
    }

    pub fn read(&self, i: usize, key: &str) -> Result<(u16, Value), String> {
        http(&self.addr(i), "GET", &format!("/kv/{key}"), None)
    }

    pub fn cas(&self, i: usize, key: &str, from: i64, to: i64) -> Result<(u16, Value), String> {
        http(
            &self.addr(i),
            "POST",
            &format!("/kv/{key}/cas"),
            Some(json!({ "from": from, "to": to })),
        )
    }

    /// Retries `f` until it returns Some or `secs` pass.
    pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(t) = f() {
                return t;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Index of the node every live node agrees leads (raft levels and
    /// primary-async).
    pub fn leader(&self, among: &[usize]) -> usize {
        Self::eventually(10, "a leader", || {
            let leaders: Vec<Value> = among
                .iter()
                .map(|i| self.status(*i)["leader"].clone())
                .collect();
            let l = leaders[0].as_str()?;
            if leaders.iter().all(|x| x.as_str() == Some(l)) {
                self.ids
                    .iter()
                    .position(|id| id == l)
                    .filter(|i| among.contains(i))
            } else {
                None
            }
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("cluster dir kept: {}", self.dir.display());
            for i in 0..self.ids.len() {
                eprintln!("--- {} log tail ---\n{}", self.ids[i], self.log_tail(i));
            }
        }
    }
}
