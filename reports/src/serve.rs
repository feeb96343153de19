//! `faultline serve`: a small read-only HTTP server over a store.
//!
//! `GET /` is an index of every run under the store (newest first, sortable
//! and filterable in the page). Every other path names a file or directory
//! inside the store. A path is refused (403) when, percent-decoded, it has a
//! `..` segment, a NUL or backslash, or when it resolves (symlinks followed)
//! outside the store. A run directory without `index.html` gets its report
//! rendered in memory (nothing is written: the server never modifies the
//! store).
//!
//! Connections are served by a fixed pool of worker threads fed by a bounded
//! queue ([`ServeOptions`]); when the queue is full the accepting thread
//! answers 503 at once. A client has a deadline for its whole request head
//! (slow clients get 408 and are closed) and for its whole response. Accept
//! and thread-spawn failures are logged and survived. Every response, error
//! or file, carries the same security headers; a redirect is always a single
//! `/` followed by the normalised path, never `//host`.

use crate::error::ReportError;
use crate::html::STYLE;
use crate::markup::{esc, human_size, script_json, str_of, url_path_segment};
use crate::run::read_json;
use checker::results::RunResults;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One run in the store index, read from its `test.json` and `results.json`
/// (never its history).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    /// Path relative to the store, `/`-separated (e.g. `kv-raft/20261123T…`).
    pub path: String,
    pub name: String,
    /// The start timestamp from test.json (e.g. `20261123T125343.948Z`).
    pub start: String,
    pub system: String,
    pub level: String,
    pub workload: String,
    pub nemesis: String,
    pub seed: String,
    /// `valid`, `invalid`, `unknown`, or `not checked`.
    pub verdict: String,
    pub ops: Option<u64>,
    pub seconds: Option<f64>,
    pub has_report: bool,
}

/// Every run directory (one holding `test.json`) under `store`, up to four
/// levels deep, without following symlinks (so `store/latest` is not listed
/// twice), newest first.
pub fn run_summaries(store: &Path) -> Vec<RunSummary> {
    fn walk(store: &Path, dir: &Path, depth: usize, out: &mut Vec<RunSummary>) {
        if dir.join("test.json").is_file() {
            if let Some(s) = summary(store, dir) {
                out.push(s);
            }
            return;
        }
        if depth == 0 {
            return;
        }
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false)
                && !e.file_name().to_string_lossy().starts_with('.')
            {
                walk(store, &e.path(), depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(store, store, 4, &mut out);
    out.sort_by(|a, b| b.start.cmp(&a.start).then(a.path.cmp(&b.path)));
    out
}

fn summary(store: &Path, dir: &Path) -> Option<RunSummary> {
    let test = read_json(&dir.join("test.json"))
        .ok()
        .flatten()
        .unwrap_or(Value::Null);
    // Unreadable or off-schema results read as unknown, not as unchecked.
    let results: Option<Option<RunResults>> = read_json(&dir.join("results.json"))
        .map(|v| v.map(|v| serde_json::from_value(v).ok()))
        .unwrap_or(Some(None));
    let rel = dir.strip_prefix(store).ok()?;
    let path = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let spec = &test["spec"];
    let s = |v: &Value| str_of(v).unwrap_or_default();
    let start = str_of(&test["start"]).unwrap_or_else(|| {
        // Fall back on the directory name, which is the timestamp.
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Some(RunSummary {
        path,
        name: str_of(&test["name"]).unwrap_or_else(|| s(&spec["name"])),
        start,
        system: s(&spec["system"]),
        level: s(&spec["level"]),
        workload: s(&spec["workload"]),
        nemesis: match &spec["nemesis"] {
            Value::Array(a) => a.iter().filter_map(str_of).collect::<Vec<_>>().join(","),
            v => s(v),
        },
        seed: str_of(&test["seed"]).unwrap_or_else(|| s(&spec["seed"])),
        verdict: match &results {
            None => "not checked".into(),
            Some(None) => "unknown".into(),
            Some(Some(r)) => r.verdict.as_str().into(),
        },
        ops: results
            .as_ref()
            .and_then(|r| r.as_ref())
            .map(|r| r.stats.ops),
        seconds: results
            .as_ref()
            .and_then(|r| r.as_ref())
            .map(|r| r.stats.seconds),
        has_report: dir.join("index.html").is_file(),
    })
}

/// The store's index page.
pub fn index_page(store: &Path) -> String {
    let runs = run_summaries(store);
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>faultline runs</title><style>{STYLE}</style></head><body>
<header><h1>faultline runs <span class="muted" style="font-size:14px">{}</span></h1>
<div class="tl-controls"><input id="filter" type="search" placeholder="filter (test, system, level, verdict, …)" size="50" autofocus> <span id="count" class="muted"></span></div></header>
<main><table class="data" id="runs"><thead><tr>
<th data-k="start">time</th><th data-k="name">test</th><th data-k="system">system</th><th data-k="level">level</th><th data-k="nemesis">nemesis</th><th data-k="verdict">verdict</th><th data-k="ops">ops</th><th data-k="seconds">duration (s)</th><th>files</th></tr></thead><tbody></tbody></table>
<p class="muted">Click a column to sort; newest first.</p></main>
<script type="application/json" id="runs-data">{}</script>
<script>{}</script></body></html>
"#,
        esc(&store.display().to_string()),
        script_json(&json!(runs)),
        INDEX_JS
    )
}

const INDEX_JS: &str = r#"
(function(){
  var runs = JSON.parse(document.getElementById('runs-data').textContent);
  var key = 'start', asc = false;
  var tbody = document.querySelector('#runs tbody');
  var filter = document.getElementById('filter');
  function enc(p){ return p.split('/').map(encodeURIComponent).join('/'); }
  function cell(tr, text, cls){ var td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
  function link(td, href, text){ var a = document.createElement('a'); a.href = href; a.textContent = text; td.appendChild(a); td.appendChild(document.createTextNode(' ')); }
  function draw(){
    var q = filter.value.toLowerCase();
    var rows = runs.filter(function(r){
      return !q || [r.name, r.system, r.level, r.verdict, r.nemesis, r.start, r.workload, r.seed].join(' ').toLowerCase().indexOf(q) >= 0;
    });
    rows.sort(function(a, b){
      var x = a[key], y = b[key];
      if (x === null || x === undefined) x = ''; if (y === null || y === undefined) y = '';
      var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
      return asc ? c : -c;
    });
    tbody.textContent = '';
    rows.forEach(function(r){
      var tr = document.createElement('tr');
      var base = '/' + enc(r.path) + '/';
      var m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)/.exec(r.start);
      var t = cell(tr, ''); link(t, base, m ? m[1] + '-' + m[2] + '-' + m[3] + ' ' + m[4] + ':' + m[5] + ':' + m[6] + 'Z' : r.start);
      cell(tr, r.name); cell(tr, r.system); cell(tr, r.level); cell(tr, r.nemesis);
      var v = cell(tr, ''); var s = document.createElement('span'); s.className = 'verdict ' + (r.verdict === 'valid' ? 'valid' : r.verdict === 'invalid' ? 'invalid' : 'unknown'); s.textContent = r.verdict; v.appendChild(s);
      cell(tr, r.ops === null ? '' : String(r.ops), 'n');
      cell(tr, r.seconds === null ? '' : r.seconds.toFixed(1), 'n');
      var f = cell(tr, ''); link(f, base, 'report'); link(f, base + 'history.jsonl', 'history'); link(f, base + 'results.json', 'results'); link(f, base + 'nodes/', 'nodes');
      tbody.appendChild(tr);
    });
    document.getElementById('count').textContent = rows.length + ' of ' + runs.length + ' runs';
    document.querySelectorAll('#runs th[data-k]').forEach(function(th){
      th.classList.toggle('sorted', th.dataset.k === key);
      th.dataset.dir = th.dataset.k === key ? (asc ? '▲' : '▼') : '';
    });
  }
  document.querySelectorAll('#runs th[data-k]').forEach(function(th){
    th.style.cursor = 'pointer';
    th.addEventListener('click', function(){ if (key === th.dataset.k) asc = !asc; else { key = th.dataset.k; asc = key !== 'start'; } draw(); });
  });
  filter.addEventListener('input', draw);
  draw();
})();
"#;

/// Binds `bind` and serves `store` until the process ends. Binding a
/// non-loopback address is allowed but is the caller's choice (the CLI
/// defaults to 127.0.0.1:8080).
pub fn serve(store: &Path, bind: SocketAddr) -> Result<(), ReportError> {
    let listener = TcpListener::bind(bind).map_err(|source| ReportError::Io {
        path: PathBuf::from(bind.to_string()),
        source,
    })?;
    serve_listener(store, listener)
}

/// Serves `store` on an already bound listener (tests bind 127.0.0.1:0)
/// with the default [`ServeOptions`]. Blocks.
pub fn serve_listener(store: &Path, listener: TcpListener) -> Result<(), ReportError> {
    serve_listener_with(store, listener, ServeOptions::default())
}

/// How the server bounds its work. The defaults suit one person browsing a
/// store; tests shrink the deadlines.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Worker threads (at least 1), a fixed number started at the first connection. One that could
    /// not be started is retried (after `backoff`) when a connection comes.
    pub workers: usize,
    /// Accepted connections waiting for a worker. When it is full a new
    /// connection is answered 503 at once by the accepting thread.
    pub queue: usize,
    /// Time a connection has, from when a worker takes it, to send its whole
    /// request head; then it gets 408 and is closed (slow clients).
    pub head_deadline: Duration,
    /// Time a worker spends writing one response, all writes together (slow
    /// readers).
    pub response_deadline: Duration,
    /// Pause after an accept error (e.g. EMFILE) and between attempts to
    /// start missing workers.
    pub backoff: Duration,
    /// Worker thread names are `{thread_name}-{n}`.
    pub thread_name: String,
    /// Counters, shared with the caller.
    pub stats: Arc<ServeStats>,
    /// Tests: how many of the next worker spawns fail.
    #[cfg(test)]
    fail_spawns: Arc<AtomicUsize>,
    /// Tests: how many of the next accepts fail with EMFILE.
    #[cfg(test)]
    fail_accepts: Arc<AtomicUsize>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            workers: 16,
            queue: 512,
            head_deadline: Duration::from_secs(10),
            response_deadline: Duration::from_secs(120),
            backoff: Duration::from_millis(100),
            thread_name: "fl-serve".into(),
            stats: Arc::default(),
            #[cfg(test)]
            fail_spawns: Arc::default(),
            #[cfg(test)]
            fail_accepts: Arc::default(),
        }
    }
}

/// What the server did so far (monotonic counters, except `workers`).
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Responses written in full by a worker (any status).
    pub answered: AtomicU64,
    /// Connections answered 503 because no worker or queue slot was free.
    pub busy: AtomicU64,
    /// Connections cut off because their request head was not in by the
    /// deadline.
    pub timed_out: AtomicU64,
    /// Accept errors other than a connection aborted before it was taken.
    pub accept_errors: AtomicU64,
    /// Worker threads that could not be started.
    pub spawn_errors: AtomicU64,
    /// Requests whose handling panicked (the worker survives).
    pub panics: AtomicU64,
    /// Worker threads alive now.
    pub workers: AtomicUsize,
}

impl ServeStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// An accepted connection waiting for a worker.
type Job = TcpStream;

/// Serves `store` on `listener` with a fixed pool of `opts.workers` threads
/// fed by a queue of `opts.queue` connections. Blocks; returns only if the
/// store cannot be opened. Accept errors (EMFILE, ENFILE, ENOMEM, …) and
/// thread spawn errors are logged and survived after a short pause.
pub fn serve_listener_with(
    store: &Path,
    listener: TcpListener,
    opts: ServeOptions,
) -> Result<(), ReportError> {
    let root = store.canonicalize().map_err(|source| ReportError::Io {
        path: store.to_path_buf(),
        source,
    })?;
    // A non-blocking listener would make the loop below spin.
    if let Err(e) = listener.set_nonblocking(false) {
        tracing::warn!("serve: listener cannot be made blocking: {e}");
    }
    let workers = opts.workers.max(1);
    let opts = Arc::new(opts);
    let root = Arc::new(root);
    let (tx, rx) = mpsc::sync_channel::<Job>(opts.queue);
    let rx = Arc::new(Mutex::new(rx));
    let mut next_id = 0usize;
    let mut last_refill: Option<Instant> = None;
    // Connections answered 503, kept open a little so that their request
    // can be read away: closing a socket with unread input resets it, and
    // the reset can destroy the 503 before the client reads it.
    let mut lingering: VecDeque<(Instant, TcpStream)> = VecDeque::new();
    // Accept errors in a row, so that a long EMFILE is not logged 10 times
    // a second.
    let mut streak = 0u64;
    loop {
        while lingering
            .front()
            .is_some_and(|(t, _)| t.elapsed() >= LINGER || lingering.len() > MAX_LINGERING)
        {
            if let Some((_, s)) = lingering.pop_front() {
                drain(&s);
            }
        }
        #[cfg(test)]
        if opts
            .fail_accepts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            accept_failed(&opts, std::io::Error::from_raw_os_error(24), &mut streak);
            continue;
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                accept_failed(&opts, e, &mut streak);
                continue;
            }
        };
        streak = 0;
        ServeStats::bump(&opts.stats.accepted);
        // Start missing workers (all of them at the first connection), at
        // most once per backoff while spawns fail.
        let alive = opts.stats.workers.load(Ordering::SeqCst);
        if alive < workers && last_refill.is_none_or(|t| t.elapsed() >= opts.backoff) {
            last_refill = Some(Instant::now());
            for _ in alive..workers {
                if !spawn_worker(&opts, &root, &rx, next_id) {
                    break;
                }
                next_id += 1;
            }
        }
        let stream = if opts.stats.workers.load(Ordering::SeqCst) == 0 {
            stream
        } else {
            match tx.try_send(stream) {
                Ok(()) => continue,
                Err(TrySendError::Full(s) | TrySendError::Disconnected(s)) => s,
            }
        };
        reject_busy(&stream, &opts);
        lingering.push_back((Instant::now(), stream));
    }
}

fn accept_failed(opts: &ServeOptions, e: std::io::Error, streak: &mut u64) {
    use std::io::ErrorKind::*;
    match e.kind() {
        // The peer gave up before we took the connection: nothing to wait for.
        Interrupted | ConnectionAborted | ConnectionReset | WouldBlock => {
            tracing::debug!("serve: accept: {e}");
        }
        _ => {
            ServeStats::bump(&opts.stats.accept_errors);
            *streak += 1;
            if streak.is_power_of_two() {
                tracing::warn!(
                    "serve: accept failed: {e} ({streak} in a row); pausing {} ms each time",
                    opts.backoff.as_millis()
                );
            }
            std::thread::sleep(opts.backoff);
        }
    }
}

/// Starts one worker; false (logged) when the thread cannot be spawned.
fn spawn_worker(
    opts: &Arc<ServeOptions>,
    root: &Arc<PathBuf>,
    rx: &Arc<Mutex<mpsc::Receiver<Job>>>,
    id: usize,
) -> bool {
    // Counted before the spawn so the accept loop never sees a worker that
    // is starting as missing.
    opts.stats.workers.fetch_add(1, Ordering::SeqCst);
    #[cfg(test)]
    let injected = opts
        .fail_spawns
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    #[cfg(not(test))]
    let injected = false;
    let spawned = if injected {
        Err(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            "injected spawn failure",
        ))
    } else {
        let (o, r, q) = (opts.clone(), root.clone(), rx.clone());
        std::thread::Builder::new()
            .name(format!("{}-{id}", opts.thread_name))
            .spawn(move || worker(&o, &r, &q))
    };
    match spawned {
        Ok(_) => true,
        Err(e) => {
            opts.stats.workers.fetch_sub(1, Ordering::SeqCst);
            ServeStats::bump(&opts.stats.spawn_errors);
            tracing::warn!(
                "serve: cannot start a worker thread: {e}; {} of {} running",
                opts.stats.workers.load(Ordering::SeqCst),
                opts.workers
            );
            false
        }
    }
}

fn worker(opts: &ServeOptions, root: &Path, rx: &Mutex<mpsc::Receiver<Job>>) {
    struct Alive<'a>(&'a AtomicUsize);
    impl Drop for Alive<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _alive = Alive(&opts.stats.workers);
    loop {
        // Held only while waiting: nothing in recv() can poison it.
        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(stream) = job else { return };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(opts, root, stream)))
        {
            Ok(Ok(true)) => ServeStats::bump(&opts.stats.answered),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::debug!("serve: connection: {e}"),
            Err(_) => {
                ServeStats::bump(&opts.stats.panics);
                tracing::error!("serve: a request handler panicked; the worker goes on");
            }
        }
    }
}

/// How long a connection answered 503 stays open, and how many may.
const LINGER: Duration = Duration::from_secs(1);
const MAX_LINGERING: usize = 64;

/// Reads away what a non-blocking socket has received (bounded).
fn drain(mut s: &TcpStream) {
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match s.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Answers 503 from the accepting thread without ever blocking it (the
/// socket is made non-blocking; the reply fits its buffer). The caller keeps
/// the socket open a little and drains it before closing.
fn reject_busy(stream: &TcpStream, opts: &ServeOptions) {
    ServeStats::bump(&opts.stats.busy);
    tracing::debug!("serve: busy, answering 503");
    let mut s = stream;
    let _ = stream.set_nonblocking(true);
    drain(stream);
    let body = b"503 Service Unavailable\n";
    let mut msg = response_head(
        503,
        "Service Unavailable",
        "text/plain; charset=utf-8",
        body.len() as u64,
        "Retry-After: 1\r\n",
    )
    .into_bytes();
    msg.extend_from_slice(body);
    let _ = s.write_all(&msg);
    let _ = stream.shutdown(Shutdown::Write);
}

/// How a request path maps onto the store.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    Index,
    Path(PathBuf),
    /// Status code and reason.
    Refused(u16, &'static str),
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Resolves a request target against the (canonical) store root.
pub fn resolve(root: &Path, target: &str) -> Resolved {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Resolved::Refused(400, "Bad Request");
    }
    let Some(bytes) = percent_decode(path) else {
        return Resolved::Refused(400, "Bad Request");
    };
    let Ok(decoded) = String::from_utf8(bytes) else {
        return Resolved::Refused(400, "Bad Request");
    };
    if decoded.contains('\0') || decoded.contains('\\') {
        return Resolved::Refused(403, "Forbidden");
    }
    let mut p = root.to_path_buf();
    let mut any = false;
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Resolved::Refused(403, "Forbidden"),
            s => {
                // A segment can't be absolute or carry a prefix on Unix after
                // the checks above, but be explicit.
                if Path::new(s).is_absolute() || s.contains(':') && cfg!(windows) {
                    return Resolved::Refused(403, "Forbidden");
                }
                p.push(s);
                any = true;
            }
        }
    }
    if !any {
        return Resolved::Index;
    }
    match p.canonicalize() {
        Ok(c) if c.starts_with(root) => Resolved::Path(c),
        Ok(_) => Resolved::Refused(403, "Forbidden"),
        Err(_) => Resolved::Refused(404, "Not Found"),
    }
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "png" => "image/png",
        "jsonl" | "log" | "txt" | "edn" | "md" | "csv" => "text/plain; charset=utf-8",
        _ => match p.file_name().and_then(|n| n.to_str()) {
            Some("pids") => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        },
    }
}

/// Sent on every response: pages, files, redirects and errors alike.
const SECURITY_HEADERS: &str = "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self' 'unsafe-inline' data:; frame-ancestors 'none'\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-cache\r\nConnection: close\r\n";

/// The status line and headers of every response.
fn response_head(code: u16, reason: &str, ctype: &str, len: u64, extra: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n{SECURITY_HEADERS}{extra}\r\n"
    )
}

/// Where a directory request without its trailing slash is sent: the same
/// path, percent-decoded, with empty and `.` segments dropped and each
/// segment percent-encoded again, behind exactly one `/`. It can never be
/// protocol-relative (`//host`), carry a scheme or a backslash, or split a
/// header.
pub fn dir_location(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let segs: Vec<String> = decoded
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .map(url_path_segment)
        .collect();
    if segs.is_empty() {
        "/".into()
    } else {
        format!("/{}/", segs.join("/"))
    }
}

/// A connection with one deadline for all the writes of its response.
struct Conn {
    stream: TcpStream,
    deadline: Instant,
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

fn respond(
    s: &mut Conn,
    head_only: bool,
    code: u16,
    reason: &str,
    ctype: &str,
    extra: &str,
    body: &[u8],
) -> std::io::Result<()> {
    s.write_all(response_head(code, reason, ctype, body.len() as u64, extra).as_bytes())?;
    if !head_only {
        s.write_all(body)?;
    }
    s.flush()
}

fn error(s: &mut Conn, head: bool, code: u16, reason: &str) -> std::io::Result<()> {
    let body = format!("{code} {reason}\n");
    respond(
        s,
        head,
        code,
        reason,
        "text/plain; charset=utf-8",
        "",
        body.as_bytes(),
    )
}

/// The most a request head may take.
const MAX_HEAD: usize = 64 * 1024;

enum Head {
    /// The head, up to and without its blank line.
    Complete(Vec<u8>),
    /// The client closed before sending a request line.
    Closed,
    TimedOut,
    TooLarge,
}

/// Reads a request head (through its blank line) by `deadline`, however the
/// client spreads its bytes. A client that half-closes after its request
/// line is served as before.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Head::TimedOut);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Ok(if buf.contains(&b'\n') {
                    Head::Complete(buf)
                } else {
                    Head::Closed
                });
            }
            Ok(n) => {
                let from = buf.len().saturating_sub(3);
                buf.extend_from_slice(&chunk[..n]);
                let tail = &buf[from..];
                let end = tail
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .or_else(|| tail.windows(2).position(|w| w == b"\n\n"));
                if let Some(i) = end {
                    buf.truncate(from + i);
                    return Ok(Head::Complete(buf));
                }
                if buf.len() > MAX_HEAD {
                    return Ok(Head::TooLarge);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Serves one connection; true when a response was written in full.
fn handle(opts: &ServeOptions, root: &Path, mut stream: TcpStream) -> std::io::Result<bool> {
    let start = Instant::now();
    let head = read_head(&mut stream, start + opts.head_deadline)?;
    let mut conn = Conn {
        stream,
        deadline: Instant::now() + opts.response_deadline,
    };
    let head = match head {
        Head::Complete(h) => h,
        Head::Closed => return Ok(false),
        Head::TimedOut => {
            ServeStats::bump(&opts.stats.timed_out);
            tracing::debug!("serve: request head not in after {:?}", opts.head_deadline);
            conn.deadline = Instant::now() + Duration::from_secs(1);
            let _ = error(&mut conn, false, 408, "Request Timeout");
            return Ok(false);
        }
        Head::TooLarge => {
            error(&mut conn, false, 431, "Request Header Fields Too Large")?;
            return Ok(true);
        }
    };
    let first = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(first);
    route(root, &mut conn, &line)?;
    Ok(true)
}

fn route(root: &Path, stream: &mut Conn, line: &str) -> std::io::Result<()> {
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return error(stream, false, 400, "Bad Request");
    };
    let head = method == "HEAD";
    if method != "GET" && !head {
        return respond(
            stream,
            false,
            405,
            "Method Not Allowed",
            "text/plain; charset=utf-8",
            "Allow: GET, HEAD\r\n",
            b"405 Method Not Allowed\n",
        );
    }
    match resolve(root, target) {
        Resolved::Index => {
            let page = index_page(root);
            respond(
                stream,
                head,
                200,
                "OK",
                "text/html; charset=utf-8",
                "",
                page.as_bytes(),
            )
        }
        Resolved::Refused(code, reason) => error(stream, head, code, reason),
        Resolved::Path(p) if p.is_dir() => {
            let raw = target.split(['?', '#']).next().unwrap_or("/");
            if !raw.ends_with('/') {
                return respond(
                    stream,
                    head,
                    301,
                    "Moved Permanently",
                    "text/plain; charset=utf-8",
                    &format!("Location: {}\r\n", dir_location(raw)),
                    b"",
                );
            }
            let index = p.join("index.html");
            if index.is_file() {
                let body = std::fs::read(&index)?;
                return respond(
                    stream,
                    head,
                    200,
                    "OK",
                    "text/html; charset=utf-8",
                    "",
                    &body,
                );
            }
            if p.join("test.json").is_file() {
                if let Ok(page) = crate::render::render_run_html(&p) {
                    return respond(
                        stream,
                        head,
                        200,
                        "OK",
                        "text/html; charset=utf-8",
                        "",
                        page.as_bytes(),
                    );
                }
            }
            let page = listing(root, &p);
            respond(
                stream,
                head,
                200,
                "OK",
                "text/html; charset=utf-8",
                "",
                page.as_bytes(),
            )
        }
        Resolved::Path(p) => {
            let Ok(f) = std::fs::File::open(&p) else {
                return error(stream, head, 404, "Not Found");
            };
            let len = f.metadata()?.len();
            stream.write_all(response_head(200, "OK", content_type(&p), len, "").as_bytes())?;
            if !head {
                // No more than announced, should the file grow meanwhile.
                std::io::copy(&mut f.take(len), stream)?;
            }
            stream.flush()
        }
    }
}

fn listing(root: &Path, dir: &Path) -> String {
    let rel = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut entries: Vec<(String, bool, u64)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        m.is_dir(),
                        m.len(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut s = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{0}</title><style>{STYLE}</style></head><body><header><h1>/{0}</h1><nav><a href="/">all runs</a><a href="../">up</a></nav></header><main><ul class="files">"#,
        esc(&rel.to_string_lossy())
    );
    for (name, is_dir, len) in entries {
        let href = url_path_segment(&name) + if is_dir { "/" } else { "" };
        s.push_str(&format!(
            r#"<li><a href="{}">{}{}</a> <span class="muted">{}</span></li>"#,
            esc(&href),
            esc(&name),
            if is_dir { "/" } else { "" },
            if is_dir {
                String::new()
            } else {
                human_size(len)
            }
        ));
    }
    s.push_str("</ul></main></body></html>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_server() {
        for (target, want) in [
            ("//latest", "/latest/"),
            ("///x", "/x/"),
            ("/a//b/./c", "/a/b/c/"),
            ("/a/b?q=//evil.com", "/a/b/"),
            ("/%2F%2Fevil.com", "/evil.com/"),
            ("/\\evil.com", "/evil.com/"),
            ("/\\\\evil.com", "/evil.com/"),
            ("/%5C%5Cevil.com", "/evil.com/"),
            ("/./%2e/x", "/x/"),
            ("//", "/"),
            ("/%zz", "/"),
            ("/a%0d%0aSet-Cookie:%20x", "/a%0D%0ASet-Cookie%3A%20x/"),
            ("/run%20one", "/run%20one/"),
        ] {
            assert_eq!(dir_location(target), want, "{target}");
        }
        for target in [
            "//evil.com",
            "///evil.com",
            "/\\/evil.com",
            "/%2f/evil.com",
            "/%5c/evil.com",
            "/http:/evil.com",
            "/\t/evil.com",
            "/%09/%2F/evil",
            "/.//evil",
        ] {
            let l = dir_location(target);
            assert!(l.starts_with('/'), "{target} -> {l}");
            assert!(!l.starts_with("//"), "{target} -> {l}");
            assert!(
                l.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b':'),
                "{target} -> {l}"
            );
        }
    }

    fn get(addr: SocketAddr, target: &str) -> (u16, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, text)
    }

    fn start(opts: ServeOptions) -> (tempfile::TempDir, SocketAddr, std::thread::JoinHandle<()>) {
        let tmp = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let store = tmp.path().to_path_buf();
        let h = std::thread::spawn(move || {
            let _ = serve_listener_with(&store, listener, opts);
        });
        (tmp, addr, h)
    }

    #[test]
    fn a_thread_that_cannot_be_spawned_is_survived_and_retried() {
        let opts = ServeOptions {
            workers: 2,
            backoff: Duration::from_millis(50),
            ..ServeOptions::default()
        };
        // Every spawn fails at first (std's spawn would have panicked).
        opts.fail_spawns.store(usize::MAX, Ordering::SeqCst);
        let (fail, stats) = (opts.fail_spawns.clone(), opts.stats.clone());
        let (_tmp, addr, server) = start(opts);
        let (code, text) = get(addr, "/");
        assert_eq!(code, 503, "{text}");
        assert!(text.contains("Content-Security-Policy: default-src 'self'"));
        assert!(!server.is_finished(), "the server must survive");
        assert!(stats.spawn_errors.load(Ordering::SeqCst) >= 1);
        assert_eq!(stats.workers.load(Ordering::SeqCst), 0);
        // Threads can be had again: the next connection after the backoff
        // starts the workers and is served.
        fail.store(0, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        let (code, text) = get(addr, "/");
        assert_eq!(code, 200, "{text}");
        assert_eq!(stats.workers.load(Ordering::SeqCst), 2);
        assert!(!server.is_finished());
    }

    #[test]
    fn accept_errors_are_survived_with_a_pause() {
        let opts = ServeOptions {
            backoff: Duration::from_millis(60),
            ..ServeOptions::default()
        };
        // EMFILE five times in a row, as when the process is out of files.
        opts.fail_accepts.store(5, Ordering::SeqCst);
        let stats = opts.stats.clone();
        let t0 = Instant::now();
        let (_tmp, addr, server) = start(opts);
        let (code, text) = get(addr, "/");
        assert_eq!(code, 200, "{text}");
        assert_eq!(stats.accept_errors.load(Ordering::SeqCst), 5);
        // It paused after each error rather than spinning.
        assert!(
            t0.elapsed() >= Duration::from_millis(5 * 60),
            "{:?}",
            t0.elapsed()
        );
        assert!(!server.is_finished());
    }
}
