//! Integration tests for the nemesis mechanisms, on loopback only:
//! the proxy mesh against small echo servers, and libfaketime clock control
//! against real processes.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nemesis::clock::{find_libfaketime, ClockControl};
use nemesis::grudge::{complete, one_way};
use nemesis::proxy::{LinkRule, NetError, ProxyMesh};
use nemesis::{Grudge, NetworkControl};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------- helpers

/// An echo server on 127.0.0.1 counting the bytes it receives.
struct Echo {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
}

async fn echo_server() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            r.fetch_add(n as u64, Ordering::SeqCst);
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Echo { addr, received }
}

/// A mesh over `n` echo servers named a, b, c, ...
async fn mesh(n: usize) -> (ProxyMesh, Vec<Echo>) {
    let mut servers = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..n {
        let e = echo_server().await;
        nodes.push((((b'a' + i as u8) as char).to_string(), e.addr));
        servers.push(e);
    }
    (ProxyMesh::start(&nodes).await.unwrap(), servers)
}

async fn connect(m: &ProxyMesh, from: &str, to: &str) -> TcpStream {
    let addr = m.peer_addr(from, to).unwrap();
    assert!(addr.ip().is_loopback());
    TcpStream::connect(addr).await.unwrap()
}

/// Write `msg`, read exactly `msg.len()` bytes back within `within`.
async fn roundtrip(s: &mut TcpStream, msg: &[u8], within: Duration) -> std::io::Result<Vec<u8>> {
    s.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    match tokio::time::timeout(within, s.read_exact(&mut back)).await {
        Ok(Ok(_)) => Ok(back),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Wait until a read on `s` ends (EOF or error), up to `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

const STALL: Duration = Duration::from_millis(400);
const OK: Duration = Duration::from_secs(3);

// ------------------------------------------------------------ proxy tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_forwards_both_ways() {
    let (m, servers) = mesh(3).await;
    assert_eq!(m.peers_of("a").len(), 2);
    assert!(m.peer_addr("a", "a").is_none());
    for (from, to, idx) in [("a", "b", 1), ("b", "c", 2), ("c", "a", 0)] {
        let mut s = connect(&m, from, to).await;
        let back = roundtrip(&mut s, b"hello faultline", OK).await.unwrap();
        assert_eq!(back, b"hello faultline");
        assert_eq!(servers[idx].received.load(Ordering::SeqCst), 15);
    }
    let st = m.link_stats("a", "b").unwrap();
    assert_eq!(st.connections, 1);
    assert_eq!(st.bytes_delivered, 15);
    // The response to a's request travelled b -> a.
    assert_eq!(m.link_stats("b", "a").unwrap().bytes_delivered, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_stalls_and_heal_restores() {
    let (m, servers) = mesh(2).await;
    let mut old = connect(&m, "a", "b").await;
    roundtrip(&mut old, b"before", OK).await.unwrap();

    m.apply_grudge(&complete(&[vec!["a".into()], vec!["b".into()]]).unwrap())
        .unwrap();
    assert_eq!(m.rule("a", "b"), Some(LinkRule::Drop));
    assert_eq!(m.rule("b", "a"), Some(LinkRule::Drop));
    // Established connection: the write succeeds locally but nothing arrives.
    let e = roundtrip(&mut old, b"during", STALL).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    // New connection: accepted, but never reaches b.
    let mut fresh = connect(&m, "a", "b").await;
    let e = roundtrip(&mut fresh, b"new", STALL).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(
        servers[1].received.load(Ordering::SeqCst),
        6,
        "only 'before' arrived"
    );
    assert!(m.link_stats("a", "b").unwrap().bytes_dropped >= 9);

    m.heal().unwrap();
    // Both tainted connections are closed so the nodes reconnect cleanly.
    assert!(
        closed_within(&mut old, OK).await,
        "old tainted connection closed"
    );
    assert!(
        closed_within(&mut fresh, OK).await,
        "tainted new connection closed"
    );
    let mut again = connect(&m, "a", "b").await;
    assert_eq!(roundtrip(&mut again, b"after", OK).await.unwrap(), b"after");
    assert!(m.link_stats("a", "b").unwrap().resets >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untainted_connection_survives_a_cut() {
    // A connection that sent nothing while cut is not corrupt: it survives.
    let (m, _servers) = mesh(2).await;
    let mut s = connect(&m, "a", "b").await;
    roundtrip(&mut s, b"x", OK).await.unwrap();
    m.apply_grudge(&complete(&[vec!["a".into()], vec!["b".into()]]).unwrap())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    m.apply_grudge(&Grudge::new()).unwrap();
    assert_eq!(roundtrip(&mut s, b"y", OK).await.unwrap(), b"y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_resets_established_and_new_connections() {
    let (m, _servers) = mesh(2).await;
    let mut old = connect(&m, "a", "b").await;
    roundtrip(&mut old, b"ping", OK).await.unwrap();
    m.set_link("a", "b", LinkRule::Reset).unwrap();
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(OK, old.read(&mut buf))
        .await
        .expect("reset promptly");
    assert_eq!(
        r.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset,
        "established connection gets RST"
    );
    // New connections are reset right after accept.
    // (The RST may even beat `connect` returning, which then fails.)
    let kind = match TcpStream::connect(m.peer_addr("a", "b").unwrap()).await {
        Err(e) => e.kind(),
        Ok(mut fresh) => {
            let r = tokio::time::timeout(OK, fresh.read(&mut buf))
                .await
                .expect("reset promptly");
            r.unwrap_err().kind()
        }
    };
    assert_eq!(kind, std::io::ErrorKind::ConnectionReset);
    m.heal().unwrap();
    let mut s = connect(&m, "a", "b").await;
    roundtrip(&mut s, b"pong", OK).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_adds_latency_each_way() {
    let (m, _servers) = mesh(2).await;
    let mut s = connect(&m, "a", "b").await;
    roundtrip(&mut s, b"warm", OK).await.unwrap();
    m.set_link(
        "a",
        "b",
        LinkRule::Delay {
            ms: 200,
            jitter_ms: 0,
        },
    )
    .unwrap();
    let t = Instant::now();
    roundtrip(&mut s, b"one", OK).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    m.set_links(&[
        (
            "a".into(),
            "b".into(),
            LinkRule::Delay {
                ms: 150,
                jitter_ms: 50,
            },
        ),
        (
            "b".into(),
            "a".into(),
            LinkRule::Delay {
                ms: 150,
                jitter_ms: 50,
            },
        ),
    ])
    .unwrap();
    let t = Instant::now();
    roundtrip(&mut s, b"two", OK).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    m.heal().unwrap();
    let t = Instant::now();
    roundtrip(&mut s, b"three", OK).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_partition_drops_only_one_direction() {
    let (m, servers) = mesh(2).await;
    let (a_srv, b_srv) = (&servers[0], &servers[1]);
    // a's traffic to b is dropped; b's to a passes.
    m.apply_grudge(&one_way("a", "b")).unwrap();
    assert_eq!(m.rule("a", "b"), Some(LinkRule::Drop));
    assert_eq!(m.rule("b", "a"), Some(LinkRule::Pass));

    // a -> b request: never reaches b.
    let mut ab = connect(&m, "a", "b").await;
    assert!(roundtrip(&mut ab, b"req", STALL).await.is_err());
    assert_eq!(b_srv.received.load(Ordering::SeqCst), 0);

    // b -> a request reaches a, but a's reply (a -> b) is dropped.
    let mut ba = connect(&m, "b", "a").await;
    assert!(roundtrip(&mut ba, b"req2", STALL).await.is_err());
    assert_eq!(
        a_srv.received.load(Ordering::SeqCst),
        4,
        "b's request reached a"
    );
    assert!(m.link_stats("a", "b").unwrap().bytes_dropped >= 7);

    m.heal().unwrap();
    let mut s = connect(&m, "a", "b").await;
    roundtrip(&mut s, b"ok", OK).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_limits_throughput() {
    let (m, servers) = mesh(2).await;
    const RATE: u64 = 100_000;
    const N: usize = 100_000;
    m.set_link(
        "a",
        "b",
        LinkRule::Slow {
            bytes_per_sec: RATE,
        },
    )
    .unwrap();
    let s = connect(&m, "a", "b").await;
    let (mut r, mut w) = s.into_split();
    let t = Instant::now();
    let writer = tokio::spawn(async move {
        w.write_all(&vec![7u8; N]).await.unwrap();
        w
    });
    let mut got = vec![0u8; N];
    tokio::time::timeout(Duration::from_secs(10), r.read_exact(&mut got))
        .await
        .expect("slow, not stalled")
        .unwrap();
    let elapsed = t.elapsed();
    let _w = writer.await.unwrap();
    assert!(got.iter().all(|&b| b == 7), "stream intact");
    assert_eq!(servers[1].received.load(Ordering::SeqCst), N as u64);
    // N / RATE = 1 s; allow generous slack below for timer granularity.
    assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_delays_but_never_corrupts() {
    let (m, _servers) = mesh(2).await;
    let mut s = connect(&m, "a", "b").await;
    m.set_link("a", "b", LinkRule::Loss { p: 1.0 }).unwrap();
    let t = Instant::now();
    assert_eq!(roundtrip(&mut s, b"lossy", OK).await.unwrap(), b"lossy");
    assert!(t.elapsed() >= Duration::from_millis(nemesis::proxy::LOSS_RETRANSMIT_MS));
    m.set_link("a", "b", LinkRule::Loss { p: 0.3 }).unwrap();
    for i in 0..20u8 {
        let msg = [i; 100];
        assert_eq!(roundtrip(&mut s, &msg, OK).await.unwrap(), msg);
    }
    assert!(m.set_link("a", "b", LinkRule::Loss { p: 1.5 }).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_rejected_without_changes() {
    let (m, _servers) = mesh(2).await;
    assert!(matches!(
        m.set_link("a", "z", LinkRule::Drop),
        Err(NetError::UnknownLink { .. })
    ));
    assert!(matches!(
        m.apply_grudge(&one_way("a", "z")),
        Err(NetError::UnknownNode(_))
    ));
    // all-or-nothing
    assert!(m
        .set_links(&[
            ("a".into(), "b".into(), LinkRule::Drop),
            ("a".into(), "a".into(), LinkRule::Drop),
        ])
        .is_err());
    assert_eq!(m.rule("a", "b"), Some(LinkRule::Pass));
    let remote: SocketAddr = "10.1.2.3:80".parse().unwrap();
    assert!(matches!(
        ProxyMesh::start(&[("x".into(), remote)]).await,
        Err(NetError::NotLoopback { .. })
    ));
    assert_eq!(m.effective_rules().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_listeners_and_connections() {
    let (m, _servers) = mesh(2).await;
    let addr = m.peer_addr("a", "b").unwrap();
    let mut s = connect(&m, "a", "b").await;
    roundtrip(&mut s, b"hi", OK).await.unwrap();
    drop(m);
    assert!(closed_within(&mut s, OK).await, "proxied connection closed");
    let deadline = Instant::now() + OK;
    loop {
        if TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "listener still accepting after drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------ clock tests

/// Skip loudly (straight to stderr, which the test harness does not capture).
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn mono_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nemesis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Wall-clock seconds reported by `date +%s` run under `env`.
fn date_under(env: &[(String, String)]) -> i64 {
    let out = std::process::Command::new("date")
        .arg("+%s")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run date");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn bump_moves_the_wall_clock_of_a_new_process() {
    if find_libfaketime().is_none() {
        return skip(
            "bump_moves_the_wall_clock_of_a_new_process",
            "libfaketime not installed (run scripts/install-deps.sh)",
        );
    }
    let dir = tempdir("clock-date");
    let c = ClockControl::new(&dir, ["n1", "n2"]).unwrap();
    let env1 = c.env_for("n1").unwrap();
    let env2 = c.env_for("n2").unwrap();
    let near = |got: i64, offset_s: i64| {
        let want = unix_ms() / 1000 + offset_s;
        assert!((got - want).abs() <= 2, "got {got}, want {want} ± 2");
    };
    near(date_under(&env1), 0);
    c.bump("n1", 3_600_000).unwrap();
    near(date_under(&env1), 3600);
    near(date_under(&env2), 0); // per node
    c.bump("n1", -7_200_000).unwrap();
    assert_eq!(c.offset("n1"), Some(-3_600_000));
    near(date_under(&env1), -3600);
    c.reset("n1").unwrap();
    near(date_under(&env1), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Child side of `running_process_follows_bumps_and_strobes`: prints its
/// wall and monotonic clocks every 20 ms. Does nothing unless spawned by it.
#[test]
fn clock_probe_child() {
    let Ok(ms) = std::env::var("NEMESIS_CLOCK_PROBE_MS") else {
        return;
    };
    let end = Instant::now() + Duration::from_millis(ms.parse().unwrap());
    let mut out = std::io::stdout().lock();
    while Instant::now() < end {
        writeln!(out, "PROBE {} {}", unix_ms(), mono_ms()).unwrap();
        out.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

type ProbeLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// Next probe line as (wall offset vs. our real clock, monotonic skew), ms.
async fn next_probe(lines: &mut ProbeLines) -> (i64, i64) {
    loop {
        let l = tokio::time::timeout(OK, lines.next_line())
            .await
            .expect("probe output")
            .unwrap()
            .expect("probe still running");
        if let Some(rest) = l.strip_prefix("PROBE ") {
            let v: Vec<i64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
            return (v[0] - unix_ms(), v[1] - mono_ms());
        }
    }
}

/// Wait until the probe reports `offset_ms` (± 1 s), within 2 s; the
/// monotonic clock must never move.
async fn observe(lines: &mut ProbeLines, offset_ms: i64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (off, mono) = next_probe(lines).await;
        assert!(mono.abs() < 1000, "monotonic clock moved by {mono} ms");
        if (off - offset_ms).abs() < 1000 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "offset {off} ms, wanted {offset_ms}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_process_follows_bumps_and_strobes() {
    if find_libfaketime().is_none() {
        return skip(
            "running_process_follows_bumps_and_strobes",
            "libfaketime not installed (run scripts/install-deps.sh)",
        );
    }
    let dir = tempdir("clock-probe");
    let c = ClockControl::new(&dir, ["n1"]).unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "clock_probe_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NEMESIS_CLOCK_PROBE_MS", "8000")
        .envs(c.env_for("n1").unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    observe(&mut lines, 0).await;
    c.bump("n1", 600_000).unwrap();
    observe(&mut lines, 600_000).await;
    c.bump("n1", -1_200_000).unwrap();
    observe(&mut lines, -600_000).await;

    // Strobe +60 s every 100 ms for 1 s: the running process sees both.
    let strobe = c.strobe("n1", 60_000, 100, Duration::from_secs(1));
    let watch = async {
        let (mut lo, mut hi) = (false, false);
        let deadline = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < deadline && !(lo && hi) {
            let (off, _) = next_probe(&mut lines).await;
            lo |= (off + 600_000).abs() < 1000;
            hi |= (off + 540_000).abs() < 1000;
        }
        (lo, hi)
    };
    let (flips, (lo, hi)) = tokio::join!(strobe, watch);
    assert!(flips.unwrap() >= 5);
    assert!(lo && hi, "strobe seen low={lo} high={hi}");
    assert_eq!(
        c.offset("n1"),
        Some(-600_000),
        "strobe restores the base offset"
    );
    c.reset("n1").unwrap();
    observe(&mut lines, 0).await;
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
