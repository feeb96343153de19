//! The server under stress and at its edges: redirects that stay on the
//! server, the same security headers on every route, a full queue (503), a
//! slow request head (408), and a load test with hundreds of concurrent
//! connections plus slow clients, counting the server's threads.

use super::{request, start_server, store_fixture};
use reports::{ServeOptions, ServeStats};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const RAFT: &str = "/kv-raft-register/20261123T125343.948Z";
const ASYNC: &str = "/kv-primary-async-register/20261123T125942.466Z";

/// What the directory route sent before this change, and more.
const SECURITY: [&str; 5] = [
    "X-Content-Type-Options: nosniff",
    "Content-Security-Policy: default-src 'self' 'unsafe-inline' data:",
    "Cache-Control: no-cache",
    "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer",
];

fn has_security_headers(head: &str) -> Result<(), String> {
    for h in SECURITY {
        if !head.lines().any(|l| l.starts_with(h)) {
            return Err(format!("missing {h:?} in\n{head}"));
        }
    }
    Ok(())
}

fn location(head: &str) -> Option<&str> {
    head.lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .map(str::trim)
}

fn start_with(store: &Path, opts: ServeOptions, name: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let store = store.to_path_buf();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || reports::serve_listener_with(&store, listener, opts))
        .unwrap();
    addr
}

/// Sends raw bytes and reads the whole answer (or what came before an
/// error); None when nothing came back.
fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned())
}

#[test]
fn redirects_never_leave_the_server() {
    let (_tmp, store) = store_fixture();
    let addr = start_server(&store);
    for (target, want) in [
        ("/latest", "/latest/"),
        ("//latest", "/latest/"),
        ("///latest", "/latest/"),
        ("//latest?x=//evil.com", "/latest/"),
        ("/./latest", "/latest/"),
        (
            "//kv-raft-register//20261123T125343.948Z",
            &format!("{RAFT}/"),
        ),
        ("/%2Flatest", "/latest/"),
        ("//kv-raft-register", "/kv-raft-register/"),
    ] {
        let (code, head, _) = request(addr, "GET", target);
        assert_eq!(code, 301, "{target}: {head}");
        assert_eq!(location(&head), Some(want), "{target}: {head}");
    }
    // Backslashes never reach a Location: refused.
    for target in [
        "/\\evil.com",
        "/\\\\evil.com",
        "/%5Cevil.com",
        "/%5c%5clatest",
    ] {
        let (code, head, _) = request(addr, "GET", target);
        assert_eq!(code, 403, "{target}: {head}");
        assert_eq!(location(&head), None, "{target}: {head}");
    }
    // Whatever the path, a Location is one `/` and then no scheme or host.
    for target in [
        "//evil.com",
        "///evil.com",
        "//latest/..",
        "//%2e/latest",
        "/.//latest",
    ] {
        let (_, head, _) = request(addr, "GET", target);
        if let Some(l) = location(&head) {
            assert!(l.starts_with('/') && !l.starts_with("//"), "{target}: {l}");
            assert!(!l.contains('\\') && !l.contains(':'), "{target}: {l}");
        }
    }
}

#[test]
fn every_route_sends_the_security_headers() {
    let (_tmp, store) = store_fixture();
    let addr = start_server(&store);
    for (method, target, code) in [
        ("GET", "/", 200),
        ("GET", &format!("{RAFT}/") as &str, 200),
        ("GET", &format!("{RAFT}/index.html"), 200),
        ("HEAD", &format!("{RAFT}/index.html"), 200),
        ("GET", "/latest/index.html", 200),
        ("GET", &format!("{ASYNC}/"), 200),
        ("GET", &format!("{ASYNC}/results.json"), 200),
        ("GET", &format!("{ASYNC}/history.jsonl"), 200),
        ("GET", &format!("{ASYNC}/nodes/"), 200),
        ("GET", "/latest", 301),
        ("GET", "/nope.txt", 404),
        ("GET", "/../secret.txt", 403),
        ("GET", "/%zz", 400),
        ("POST", "/", 405),
    ] {
        let (got, head, _) = request(addr, method, target);
        assert_eq!(got, code, "{method} {target}: {head}");
        if let Err(e) = has_security_headers(&head) {
            panic!("{method} {target}: {e}");
        }
    }
    let (_, head, body) = request(addr, "GET", &format!("{RAFT}/index.html"));
    assert!(head.contains("text/html") && body.contains("kv-raft-register"));
    // A request line that is not one.
    let text = raw(addr, b"nonsense\r\n\r\n").expect("an answer");
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    has_security_headers(&text).unwrap();
}

#[test]
fn a_full_queue_is_answered_503_and_a_slow_head_408() {
    let (_tmp, store) = store_fixture();
    let opts = ServeOptions {
        workers: 1,
        queue: 1,
        head_deadline: Duration::from_millis(1500),
        ..ServeOptions::default()
    };
    let stats = opts.stats.clone();
    let addr = start_with(&store, opts, "fl-q-accept");
    // A sends nothing: it holds the only worker until its deadline.
    let t0 = Instant::now();
    let mut a = TcpStream::connect(addr).unwrap();
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = a.write_all(b"GET / HT");
    std::thread::sleep(Duration::from_millis(200));
    // B waits in the queue's one slot.
    let b = std::thread::spawn(move || {
        let t = Instant::now();
        let text = raw(addr, b"GET /latest/test.json HTTP/1.1\r\nHost: x\r\n\r\n");
        (text, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    // C finds the queue full: 503 at once, with the headers.
    let t = Instant::now();
    let c = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("an answer");
    assert!(c.starts_with("HTTP/1.1 503 "), "{c}");
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    has_security_headers(&c).unwrap();
    // A is cut off at its deadline with 408.
    let mut buf = Vec::new();
    let _ = a.read_to_end(&mut buf);
    let cut = t0.elapsed();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    has_security_headers(&text).unwrap();
    assert!(
        cut >= Duration::from_millis(1400) && cut < Duration::from_secs(5),
        "{cut:?}"
    );
    // Then B is served.
    let (text, took) = b.join().unwrap();
    let text = text.expect("B answered");
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(text.contains("kv-raft-register"));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(stats.busy.load(Ordering::SeqCst), 1);
    assert_eq!(stats.timed_out.load(Ordering::SeqCst), 1);
}

/// Threads of this process whose name starts with `prefix`, and all of them.
fn threads(prefix: &str) -> (usize, usize) {
    let mut named = 0;
    let mut all = 0;
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for e in rd.flatten() {
            all += 1;
            if std::fs::read_to_string(e.path().join("comm"))
                .map(|c| c.starts_with(prefix))
                .unwrap_or(false)
            {
                named += 1;
            }
        }
    }
    (named, all)
}

fn status_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A client that sends its head one byte every 250 ms; returns when the
/// server cut it off (after how long, and what it answered) or after 10 s.
fn slow_client(addr: SocketAddr) -> (Option<Duration>, String) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(100)
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for &byte in head.as_bytes() {
        if t0.elapsed() > Duration::from_secs(10) {
            break;
        }
        if s.write_all(&[byte]).is_err() {
            return (Some(t0.elapsed()), String::from_utf8_lossy(&got).into());
        }
        match s.read(&mut buf) {
            Ok(0) => return (Some(t0.elapsed()), String::from_utf8_lossy(&got).into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (Some(t0.elapsed()), String::from_utf8_lossy(&got).into()),
        }
    }
    (None, String::from_utf8_lossy(&got).into())
}

#[test]
fn load_hundreds_of_connections_and_slow_clients() {
    const CLIENTS: usize = 300;
    const SLOW: usize = 8;
    let (_tmp, store) = store_fixture();
    let deadline = Duration::from_secs(2);
    let opts = ServeOptions {
        head_deadline: deadline,
        thread_name: "fl-load".into(),
        ..ServeOptions::default()
    };
    let workers = opts.workers;
    let stats: Arc<ServeStats> = opts.stats.clone();
    // The accepting thread is named too: a thread it spawned without a name
    // would inherit its name and be counted.
    let addr = start_with(&store, opts, "fl-load-accept");

    let stop = Arc::new(AtomicBool::new(false));
    let (max_server, max_all) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let sampler = {
        let (stop, ms, ma) = (stop.clone(), max_server.clone(), max_all.clone());
        std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let (n, _) = threads("fl-load");
                    ms.fetch_max(n, Ordering::SeqCst);
                    ma.fetch_max(status_threads(), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .unwrap()
    };

    // The slow clients first, so that they hold workers.
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            std::thread::Builder::new()
                .name("slow-client".into())
                .spawn(move || slow_client(addr))
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let (raft, asyn) = (
        format!("{RAFT}/index.html"),
        format!("{ASYNC}/results.json"),
    );
    type Check = (&'static str, u16, &'static str);
    let cases: Arc<Vec<(String, Check)>> = Arc::new(vec![
        ("/".into(), ("GET", 200, "kv-primary-async-register")),
        ("/latest/test.json".into(), ("GET", 200, "kv-raft-register")),
        (raft, ("GET", 200, "kv-raft-register")),
        (asyn, ("GET", 200, "\"verdict\": \"invalid\"")),
        ("/nope.txt".into(), ("GET", 404, "404 Not Found")),
        ("//latest".into(), ("GET", 301, "")),
    ]);
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let t0 = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (barrier, cases) = (barrier.clone(), cases.clone());
            std::thread::Builder::new()
                .name("load-client".into())
                .stack_size(256 << 10)
                .spawn(move || -> Result<Duration, String> {
                    let (target, (method, code, needle)) = &cases[i % cases.len()];
                    barrier.wait();
                    let t = Instant::now();
                    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    s.write_all(
                        format!(
                            "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .map_err(|e| format!("{target}: write: {e}"))?;
                    let mut buf = Vec::new();
                    s.read_to_end(&mut buf)
                        .map_err(|e| format!("{target}: read: {e}"))?;
                    let took = t.elapsed();
                    let text = String::from_utf8_lossy(&buf);
                    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                    let got: u16 = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    if got != *code || !body.contains(needle) {
                        return Err(format!(
                            "{target}: {got}, wanted {code} with {needle:?}: {head}"
                        ));
                    }
                    if *code == 301 && location(head) != Some("/latest/") {
                        return Err(format!("{target}: {head}"));
                    }
                    has_security_headers(head).map_err(|e| format!("{target}: {e}"))?;
                    Ok(took)
                })
                .unwrap()
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let wall = t0.elapsed();
    let slow: Vec<_> = slow.into_iter().map(|c| c.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();

    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let mut lat: Vec<Duration> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    lat.sort();
    let (max_server, max_all) = (
        max_server.load(Ordering::SeqCst),
        max_all.load(Ordering::SeqCst),
    );
    eprintln!(
        "load: {CLIENTS} connections + {SLOW} slow clients: all answered in {wall:?}; latency median {:?}, max {:?}; \
         server threads at most {max_server} (workers {workers} + acceptor); process threads at most {max_all}; \
         slow clients cut off after {:?}; stats {stats:?}",
        lat.get(lat.len() / 2),
        lat.last(),
        slow.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
    );
    assert!(
        errors.is_empty(),
        "{} wrong answers, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(lat.len(), CLIENTS);
    // A generous bound: on loopback this takes well under a second.
    assert!(*lat.last().unwrap() < Duration::from_secs(15), "{lat:?}");
    for (cut, text) in &slow {
        let cut = cut.unwrap_or_else(|| panic!("a slow client was never cut off ({text:?})"));
        assert!(
            cut >= deadline - Duration::from_millis(300) && cut < deadline + Duration::from_secs(4),
            "slow client cut off after {cut:?}"
        );
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408 "),
            "{text}"
        );
    }
    assert_eq!(stats.timed_out.load(Ordering::SeqCst), SLOW as u64);
    assert_eq!(stats.busy.load(Ordering::SeqCst), 0);
    assert!(max_server >= 2, "the sampler saw the server ({max_server})");
    assert!(
        max_server <= workers + 1,
        "{max_server} server threads for {workers} workers"
    );
}

/// Run in a child process limited to 128 files by
/// `accept_out_of_files_is_survived`: this one uses up its files.
#[test]
#[ignore = "run by accept_out_of_files_is_survived in a process with few files"]
fn accept_out_of_files_child() {
    let (_tmp, store) = store_fixture();
    let backoff = Duration::from_millis(50);
    let opts = ServeOptions {
        backoff,
        ..ServeOptions::default()
    };
    let stats = opts.stats.clone();
    // A connection waits in the backlog with its request before the server
    // starts, and the process is then out of files: every accept fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    c.write_all(b"GET /latest/test.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) if e.raw_os_error() == Some(24) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(fillers.len() < 100_000, "no file limit in force");
    }
    let server = std::thread::Builder::new()
        .name("fl-emfile".into())
        .spawn(move || reports::serve_listener_with(&store, listener, opts))
        .unwrap();
    // It retries, pausing in between rather than spinning: at most one
    // error per pause (and a few more for slack).
    let t = Instant::now();
    while stats.accept_errors.load(Ordering::SeqCst) < 3 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let errors = stats.accept_errors.load(Ordering::SeqCst);
    let most = (t.elapsed().as_millis() / backoff.as_millis()) as u64 + 3;
    assert!(
        (3..=most).contains(&errors),
        "{errors} accept errors in {:?}",
        t.elapsed()
    );
    assert!(!server.is_finished(), "the server survives");
    fillers.truncate(fillers.len().saturating_sub(32));
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(text.contains("kv-raft-register"));
    eprintln!("emfile: {errors} accept errors survived, then served");
}

#[test]
fn accept_out_of_files_is_survived() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let out = std::process::Command::new("prlimit")
        .arg("--nofile=128:128")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "serve::accept_out_of_files_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 passed") && text.contains("emfile:"),
        "{text}"
    );
}
