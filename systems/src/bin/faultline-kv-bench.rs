//! `faultline-kv-bench`: starts a 3-node `faultline-kv` cluster on loopback,
//! drives it with concurrent clients for a few seconds and prints
//! throughput and latency percentiles. Used by `scripts/bench-kv.sh`.
//!
//! `faultline-kv-bench --level raft --fsync never [--clients 10] [--secs 5]
//!   [--keys 100] [--reads 50] [--nodes 3] [--kv PATH]`

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use systems::kv::ClientOp;
use systems::runtime::http::HttpClient;

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn num(args: &[String], name: &str, default: u64) -> u64 {
    let v = flag(args, name, &default.to_string());
    v.parse().unwrap_or_else(|_| {
        eprintln!("{name}: expected a number, got {v:?}");
        std::process::exit(2)
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let level = flag(&args, "--level", "raft");
    let fsync = flag(&args, "--fsync", "never");
    let clients = num(&args, "--clients", 10) as usize;
    let secs = num(&args, "--secs", 5);
    let keys = num(&args, "--keys", 100);
    let reads = num(&args, "--reads", 50);
    let n = num(&args, "--nodes", 3) as usize;
    let kv = match args.iter().position(|a| a == "--kv") {
        Some(i) => PathBuf::from(&args[i + 1]),
        None => std::env::current_exe()
            .unwrap()
            .with_file_name("faultline-kv"),
    };
    let dir = std::env::temp_dir().join(format!("faultline-kv-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut nodes = Nodes(Vec::new());
    for i in 0..n {
        let peers: Vec<String> = (0..n)
            .filter(|j| *j != i)
            .map(|j| format!("n{}={}", j + 1, addrs[j]))
            .collect();
        let log = std::fs::File::create(dir.join(format!("n{}.log", i + 1))).unwrap();
        let child = Command::new(&kv)
            .args(["--id", &format!("n{}", i + 1), "--listen", &addrs[i]])
            .args(["--peers", &peers.join(",")])
            .arg("--data-dir")
            .arg(dir.join(format!("n{}", i + 1)))
            .args(["--level", &level, "--fsync", &fsync])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", kv.display()));
        nodes.0.push(child);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let client = HttpClient::new();
        // Wait for health, and for a leader where there is one.
        let deadline = Instant::now() + Duration::from_secs(15);
        'wait: loop {
            if Instant::now() > deadline {
                return Err("cluster not ready in 15 s".to_string());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            for a in &addrs {
                match client
                    .request(a, "GET", "/status", &[], b"", Duration::from_secs(1))
                    .await
                {
                    Ok((200, b)) => {
                        let v: Value = serde_json::from_slice(&b).unwrap_or_default();
                        let needs_leader = level.starts_with("raft") || level == "primary-async";
                        if needs_leader && v["leader"].is_null() {
                            continue 'wait;
                        }
                    }
                    _ => continue 'wait,
                }
            }
            break;
        }
        let start = Instant::now();
        let end = start + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let addr = addrs[c % n].clone();
            let client = Arc::new(HttpClient::default());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1);
                while Instant::now() < end {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = format!("k{}", x % keys);
                    let op = if x % 100 < reads {
                        ClientOp::Read { key }
                    } else {
                        ClientOp::Write {
                            key,
                            value: Value::from(x % 1000),
                        }
                    };
                    let (m, p, b) = op.to_http();
                    let t = Instant::now();
                    let r = client
                        .request(&addr, m, &p, &[], &b, Duration::from_secs(5))
                        .await;
                    match r {
                        Ok((200, _)) => lat.push(t.elapsed().as_micros() as u64),
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            client.forget(&addr);
                        }
                    }
                }
                (lat, errors)
            }));
        }
        let mut lat = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            lat.extend(l);
            errors += e;
        }
        Ok((lat, errors, start.elapsed()))
    });
    drop(nodes);
    match result {
        Ok((mut lat, errors, took)) => {
            lat.sort_unstable();
            println!(
                "| {level} | {fsync} | {clients} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} |",
                lat.len() as f64 / took.as_secs_f64(),
                pct(&lat, 0.5),
                pct(&lat, 0.9),
                pct(&lat, 0.99),
                pct(&lat, 1.0),
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(e) => {
            eprintln!("{level}/{fsync}: {e}; logs in {}", dir.display());
            std::process::exit(1);
        }
    }
}
