//! `faultline serve`: a small read-only HTTP server over a store.
//!
//! `GET /` is an index of every run under the store (newest first, sortable
//! and filterable in the page). Every other path names a file or directory
//! inside the store. A path is refused (403) when, percent-decoded, it has a
//! `..` segment, a NUL or backslash, or when it resolves (symlinks followed)
//! outside the store. A run directory without `index.html` gets its report
//! rendered in memory (nothing is written: the server never modifies the
//! store).

use crate::error::ReportError;
use crate::html::STYLE;
use crate::markup::{esc, human_size, script_json, str_of, url_path_segment};
use crate::run::read_json;
use checker::results::RunResults;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Serves `store` on an already bound listener (tests bind 127.0.0.1:0).
/// Blocks; one thread per connection.
pub fn serve_listener(store: &Path, listener: TcpListener) -> Result<(), ReportError> {
    let root = store.canonicalize().map_err(|source| ReportError::Io {
        path: store.to_path_buf(),
        source,
    })?;
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let root = root.clone();
        std::thread::spawn(move || {
            let _ = handle(&root, stream);
        });
    }
    Ok(())
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

fn respond(
    s: &mut TcpStream,
    head_only: bool,
    code: u16,
    reason: &str,
    ctype: &str,
    extra: &str,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        s,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self' 'unsafe-inline' data:\r\nCache-Control: no-cache\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )?;
    if !head_only {
        s.write_all(body)?;
    }
    s.flush()
}

fn error(s: &mut TcpStream, head: bool, code: u16, reason: &str) -> std::io::Result<()> {
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

fn handle(root: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?.take(64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Drain the headers.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return error(&mut stream, false, 400, "Bad Request");
    };
    let head = method == "HEAD";
    if method != "GET" && !head {
        return respond(
            &mut stream,
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
                &mut stream,
                head,
                200,
                "OK",
                "text/html; charset=utf-8",
                "",
                page.as_bytes(),
            )
        }
        Resolved::Refused(code, reason) => error(&mut stream, head, code, reason),
        Resolved::Path(p) if p.is_dir() => {
            let raw = target.split(['?', '#']).next().unwrap_or("/");
            if !raw.ends_with('/') {
                return respond(
                    &mut stream,
                    head,
                    301,
                    "Moved Permanently",
                    "text/plain; charset=utf-8",
                    &format!("Location: {raw}/\r\n"),
                    b"",
                );
            }
            let index = p.join("index.html");
            if index.is_file() {
                let body = std::fs::read(&index)?;
                return respond(
                    &mut stream,
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
                        &mut stream,
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
                &mut stream,
                head,
                200,
                "OK",
                "text/html; charset=utf-8",
                "",
                page.as_bytes(),
            )
        }
        Resolved::Path(p) => {
            let mut f = match std::fs::File::open(&p) {
                Ok(f) => f,
                Err(_) => return error(&mut stream, head, 404, "Not Found"),
            };
            let len = f.metadata()?.len();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {len}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
                content_type(&p)
            )?;
            if !head {
                std::io::copy(&mut f, &mut stream)?;
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
