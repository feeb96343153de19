//! The reports crate's integration tests: real sample runs (trimmed copies in
//! `tests/data/`), escaping, a 100,000-op history, and the server's path
//! handling against a real listener on 127.0.0.1:0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

mod serve;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn render_copy(name: &str) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&data(name), &dir);
    let page = reports::render_run(&dir).unwrap();
    assert_eq!(page, dir.join("index.html"));
    let html = std::fs::read_to_string(page).unwrap();
    (tmp, html)
}

/// The timeline's data, parsed back from the page.
fn tl_data(html: &str) -> serde_json::Value {
    let start = html.find(r#"id="tl-data">"#).expect("timeline data") + r#"id="tl-data">"#.len();
    let len = html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..start + len]).unwrap()
}

/// Fault windows' start fs in the timeline data.
fn fault_fs(html: &str) -> Vec<String> {
    tl_data(html)["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}-{}",
                f[2].as_str().unwrap(),
                f[5].as_str().unwrap_or("open")
            )
        })
        .collect()
}

/// Script elements opened by the page itself: the timeline data and the
/// timeline code.
fn script_closes(html: &str) -> usize {
    html.matches("</script").count()
}

#[test]
fn invalid_sample_has_header_counterexample_and_fault_bands() {
    let (_tmp, html) = render_copy("primary-async-invalid");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("kv-primary-async-register"));
    assert!(html.contains(r#"<span class="verdict invalid">invalid</span>"#));
    assert!(html.contains("linearizability (cas-register)"));
    assert!(html.contains(r#"<span id="seed">10</span>"#));
    assert!(html.contains(
        "/work/target-harness/release/faultline test --level primary-async --nemesis kill,pause --seed 10 --time-limit 30 --store /tmp/flruns/pa"
    ));
    // The counterexample: explanation, the op that cannot follow, the
    // state, the candidate's reason, a drawing, links into the timeline.
    assert!(html.contains("id=\"counterexample\""));
    assert!(html.contains("cannot follow"));
    assert!(html.contains("read 603"));
    assert!(html.contains("read returned 603 but the register holds 735"));
    assert!(html.contains("<code>735</code>"));
    assert!(html.contains("<svg class=\"ce\""));
    assert!(html.contains(r##"href="#op-10671""##));
    assert!(html.contains("last 12 of 100 steps"));
    // Fault bands: three pause windows in the timeline data and the plots.
    assert_eq!(
        fault_fs(&html),
        ["pause-resume", "pause-resume", "pause-resume"]
    );
    assert!(html.contains("<title>pause"));
    // Perf plots, stats, files.
    assert!(html.contains("Latency over time"));
    assert!(html.contains("Throughput"));
    assert!(html.contains(r#"href="history.jsonl""#));
    assert!(html.contains(r#"href="nodes/n3/stderr.log""#));
    assert_eq!(script_closes(&html), 2);
    // Self-contained: no fetches from the network.
    assert!(!html.contains("http://") || !html.contains("src=\"http"));
    assert!(!html.contains("https://"));
}

#[test]
fn valid_sample_renders_with_kill_and_pause_windows() {
    let (_tmp, html) = render_copy("raft-valid");
    assert!(html.contains(r#"<span class="verdict valid">valid</span>"#));
    assert!(html.contains(r#"<span id="seed">15</span>"#));
    assert!(html.contains("--level raft --seed 15 --store /tmp/flruns/raft"));
    assert!(html.contains("None: the checker found the history valid."));
    let faults = fault_fs(&html);
    assert!(faults.contains(&"kill-start".to_string()), "{faults:?}");
    assert!(faults.contains(&"pause-resume".to_string()), "{faults:?}");
}

fn write(path: &Path, s: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, s).unwrap();
}

#[test]
fn values_from_history_and_logs_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let evil = "<script>alert(1)</script>";
    write(
        &dir.join("test.json"),
        &serde_json::json!({
            "name": format!("evil{evil}"), "seed": 3,
            "argv": ["faultline", "test", "--name", evil],
            "spec": {"system": evil, "level": "x", "nodes": 1, "nemesis": [evil]}
        })
        .to_string(),
    );
    let lines = [
        serde_json::json!({"index":0,"time":1000,"process":0,"type":"invoke","f":"write","key":evil,"value":evil,"node":"n1"}),
        serde_json::json!({"index":1,"time":2000,"process":0,"type":"fail","f":"write","key":evil,"value":evil,"node":"n1","error":evil}),
        serde_json::json!({"index":2,"time":3000,"process":"nemesis","type":"invoke","f":evil,"value":evil}),
        serde_json::json!({"index":3,"time":4000,"process":"nemesis","type":"info","f":evil,"value":evil}),
        serde_json::json!({"index":4,"time":5000,"process":1,"type":"invoke","f":"</script><b>","value":"\u{2028}"}),
    ];
    let hist: String = lines.iter().map(|l| format!("{l}\n")).collect();
    write(&dir.join("history.jsonl"), &hist);
    write(
        &dir.join("results.json"),
        &serde_json::json!({"verdict": evil, "workload": {"checker": evil, "verdict": "invalid",
            "models": [{"model": evil, "verdict": "invalid", "witness": {"explanation": evil,
                "ops": [{"index": 0, "process": 0, "f": evil, "value": evil, "status": "fail"}]}}]}})
        .to_string(),
    );
    write(&dir.join(format!("nodes/n1/{}.log", "a\"b<i>")), evil);
    let page = reports::render_run(dir).unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    assert!(!html.contains(evil), "raw value in the page");
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains(r"\u003cscript\u003ealert(1)\u003c/script\u003e"));
    assert!(html.contains(r"\u2028"));
    assert!(!html.contains('\u{2028}'));
    // Only our own two script elements close.
    assert_eq!(script_closes(&html), 2);
    // Offending ops of another checker link into the timeline.
    assert!(html.contains(r##"href="#op-0""##));
    // The rerun command is shell-quoted and escaped.
    assert!(html.contains("faultline test --name &#39;&lt;script&gt;"));
    assert!(html.contains("--seed 3"));
}

#[test]
fn clock_offsets_are_plotted_when_clock_faults_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        &dir.join("test.json"),
        r#"{"name":"clocky","seed":1,"spec":{"nodes":2}}"#,
    );
    let hist = [
        r#"{"index":0,"time":1000000,"process":0,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":1,"time":2000000,"process":0,"type":"ok","f":"read","value":1}"#,
        r#"{"index":2,"time":3000000,"process":"nemesis","type":"invoke","f":"bump","value":{"n1":250,"n2":-100}}"#,
        r#"{"index":3,"time":3100000,"process":"nemesis","type":"info","f":"bump","value":{"n1":250,"n2":-100}}"#,
        r#"{"index":4,"time":9000000,"process":"nemesis","type":"invoke","f":"reset","value":["n1","n2"]}"#,
        r#"{"index":5,"time":9100000,"process":"nemesis","type":"info","f":"reset","value":["n1","n2"]}"#,
    ]
    .join("\n");
    write(&dir.join("history.jsonl"), &hist);
    let html = reports::render_run_html(dir).unwrap();
    assert!(html.contains("Clock offsets"));
    assert!(html.contains(r#""bump""#));
    assert!(html.contains("not checked"));
}

#[test]
fn a_100k_op_history_renders_compactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        &dir.join("test.json"),
        r#"{"name":"big","seed":7,"argv":["faultline","test"],"spec":{"nodes":5,"system":"kv","level":"raft"}}"#,
    );
    let mut h = String::with_capacity(24 << 20);
    let mut index = 0u64;
    let mut t = 0i64;
    let fs = ["read", "write", "cas"];
    for i in 0..100_000u64 {
        let p = i % 10;
        let f = fs[(i % 3) as usize];
        let kind = match i % 97 {
            0 => "fail",
            1 if i > 99_000 => "info",
            _ => "ok",
        };
        // Keep the generated history well formed: a retired process is
        // never reused, so info ops only near the end, one per process.
        let (p, kind) = if kind == "info" {
            (1000 + i, kind)
        } else {
            (p, kind)
        };
        t += 20_000;
        h.push_str(&format!(
            "{{\"index\":{index},\"time\":{t},\"process\":{p},\"type\":\"invoke\",\"f\":\"{f}\",\"key\":{},\"value\":{i},\"node\":\"n{}\"}}\n",
            i % 5,
            p % 5 + 1
        ));
        index += 1;
        t += 300_000 + (i as i64 * 7919) % 2_000_000;
        h.push_str(&format!(
            "{{\"index\":{index},\"time\":{t},\"process\":{p},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":{},\"value\":{i},\"node\":\"n{}\"}}\n",
            i % 5,
            p % 5 + 1
        ));
        index += 1;
        if i % 20_000 == 10_000 {
            for (f, kind) in [("pause", "invoke"), ("pause", "info")] {
                h.push_str(&format!("{{\"index\":{index},\"time\":{t},\"process\":\"nemesis\",\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":[\"n1\"]}}\n"));
                index += 1;
            }
        }
        if i % 20_000 == 15_000 {
            for (f, kind) in [("resume", "invoke"), ("resume", "info")] {
                h.push_str(&format!("{{\"index\":{index},\"time\":{t},\"process\":\"nemesis\",\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":[\"n1\"]}}\n"));
                index += 1;
            }
        }
    }
    write(&dir.join("history.jsonl"), &h);
    write(
        &dir.join("results.json"),
        r#"{"verdict":"valid","workload":{"checker":"linearizability","model":"cas-register","verdict":"valid"},"stats":{"ops":100000,"seconds":131.0}}"#,
    );
    let page = reports::render_run(dir).unwrap();
    let len = std::fs::metadata(&page).unwrap().len();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("100000 <span"), "op count in the header");
    assert_eq!(fault_fs(&html), vec!["pause-resume"; 5]);
    assert_eq!(tl_data(&html)["s"].as_array().unwrap().len(), 100_000 + 10);
    // About 100 bytes per op at most: the timeline is a compact array, drawn
    // on a canvas, and the scatter plot is deduplicated per pixel.
    assert!(len < 12 << 20, "page is {len} bytes");
    let svg_bytes: usize = html
        .split("<svg")
        .skip(1)
        .map(|s| s.find("</svg>").unwrap_or(0))
        .sum();
    assert!(svg_bytes < 3 << 20, "SVG is {svg_bytes} bytes");
}

// ---- the server ----

fn start_server(store: &Path) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let store = store.to_path_buf();
    std::thread::spawn(move || reports::serve_listener(&store, listener));
    addr
}

/// Sends a raw request line (no client-side normalisation) and returns the
/// status code, the headers and the body.
fn request(addr: SocketAddr, method: &str, target: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

const SECRET: &str = "TOP-SECRET-CONTENT";

fn store_fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    copy_dir(
        &data("primary-async-invalid"),
        &store.join("kv-primary-async-register/20261123T125942.466Z"),
    );
    copy_dir(
        &data("raft-valid"),
        &store.join("kv-raft-register/20261123T125343.948Z"),
    );
    reports::render_run(&store.join("kv-raft-register/20261123T125343.948Z")).unwrap();
    write(&tmp.path().join("secret.txt"), SECRET);
    write(&tmp.path().join("outside/secret.txt"), SECRET);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(tmp.path().join("outside"), store.join("escape")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), store.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(
            "kv-raft-register/20261123T125343.948Z",
            store.join("latest"),
        )
        .unwrap();
    }
    (tmp, store)
}

#[test]
fn server_lists_runs_newest_first_without_reading_histories() {
    let (_tmp, store) = store_fixture();
    // A history the index must not need: unreadable garbage.
    write(
        &store.join("kv-raft-register/20261123T125343.948Z/history.jsonl"),
        "not json at all\n",
    );
    let runs = reports::run_summaries(&store);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].name, "kv-primary-async-register");
    assert_eq!(runs[0].verdict, "invalid");
    assert_eq!(runs[0].ops, Some(5583));
    assert_eq!(runs[1].verdict, "valid");
    assert_eq!(runs[1].level, "raft");
    assert!(runs[1].has_report && !runs[0].has_report);

    let addr = start_server(&store);
    let (code, _, body) = request(addr, "GET", "/");
    assert_eq!(code, 200);
    assert!(body.contains("kv-primary-async-register") && body.contains("\"verdict\":\"invalid\""));
    // A run directory redirects to its slash form, then serves the stored
    // report, or renders one in memory without writing it.
    let (code, head, _) = request(addr, "GET", "/kv-raft-register/20261123T125343.948Z");
    assert_eq!(code, 301);
    assert!(head.contains("Location: /kv-raft-register/20261123T125343.948Z/"));
    let (code, _, body) = request(addr, "GET", "/kv-raft-register/20261123T125343.948Z/");
    assert_eq!(code, 200);
    assert!(body.contains("kv-raft-register"));
    let (code, _, body) = request(
        addr,
        "GET",
        "/kv-primary-async-register/20261123T125942.466Z/",
    );
    assert_eq!(code, 200);
    assert!(body.contains("cannot follow"));
    assert!(!store
        .join("kv-primary-async-register/20261123T125942.466Z/index.html")
        .exists());
    let (code, head, body) = request(
        addr,
        "GET",
        "/kv-primary-async-register/20261123T125942.466Z/results.json",
    );
    assert_eq!(code, 200);
    assert!(head.contains("application/json"));
    assert!(body.contains("\"verdict\": \"invalid\""));
    let (code, _, body) = request(addr, "GET", "/latest/test.json");
    assert_eq!(code, 200, "a symlink inside the store is fine");
    assert!(body.contains("kv-raft-register"));
    let (code, _, _) = request(
        addr,
        "GET",
        "/kv-primary-async-register/20261123T125942.466Z/nodes/",
    );
    assert_eq!(code, 200);
}

#[test]
fn server_refuses_paths_outside_the_store() {
    let (_tmp, store) = store_fixture();
    let addr = start_server(&store);
    for target in [
        "/../secret.txt",
        "/kv-raft-register/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/kv-raft-register/..%2F..%2Fsecret.txt",
        "/%252e%252e/secret.txt",
        "/escape/secret.txt",
        "/link.txt",
        "/a%5c..%5c..%5csecret.txt",
        "/%00/secret.txt",
        "//../secret.txt",
        "/./../secret.txt",
    ] {
        let (code, _, body) = request(addr, "GET", target);
        assert!([400, 403, 404].contains(&code), "{target}: status {code}");
        assert!(!body.contains(SECRET), "{target} leaked the secret");
    }
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/escape/secret.txt",
        "/link.txt",
    ] {
        assert_eq!(request(addr, "GET", target).0, 403, "{target}");
    }
    // Absolute paths are taken relative to the store.
    let (code, _, body) = request(addr, "GET", "//etc/passwd");
    assert_eq!(code, 404);
    assert!(!body.contains("root:"));
    let (code, _, _) = request(addr, "GET", "http://example.com/../secret.txt");
    assert_eq!(code, 400);
    // Read-only.
    assert_eq!(request(addr, "POST", "/").0, 405);
    assert_eq!(request(addr, "PUT", "/x").0, 405);
    assert_eq!(request(addr, "DELETE", "/latest").0, 405);
    assert!(store.join("latest").exists());
    assert_eq!(request(addr, "GET", "/nope.txt").0, 404);
}

#[test]
fn consistency_row_and_witnesses_are_shown_and_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_dir(&data("primary-async-invalid"), &dir);
    let path = dir.join("results.json");
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    r["consistency"] = serde_json::json!({
        "linearizable": "invalid", "sequential": "invalid", "causal": "valid", "pram": "valid",
        "monotonic-reads": "valid", "monotonic-writes": "valid", "read-your-writes": "unknown",
        "writes-follow-reads": "valid"
    });
    r["measures"] = serde_json::json!({"stale-reads": 7, "max-staleness-ms": 12.25, "lost-writes": 2, "converged": false});
    r["summary"] = serde_json::json!("strongest that holds: causal; not sequential");
    r["witnesses"] = serde_json::json!({"sequential": {"key": "<k>", "explanation": "<script>alert(1)</script>",
        "ops": [{"index": 42, "process": 3, "f": "read", "value": 5}]}});
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    let html = std::fs::read_to_string(reports::render_run(&dir).unwrap()).unwrap();
    let sec = &html[html
        .find(r#"id="consistency""#)
        .expect("consistency section")..];
    assert_eq!(sec.matches(r#"verdict-cell invalid"#).count(), 2, "two ✗");
    assert_eq!(sec.matches(r#"verdict-cell unknown"#).count(), 1, "one ?");
    assert!(
        sec.contains("stale reads <b>7</b> (worst 12.2 ms)")
            || sec.contains("stale reads <b>7</b> (worst 12.3 ms)")
    );
    assert!(sec.contains("lost writes <b>2</b>") && sec.contains("converged <b>no</b>"));
    assert!(sec.contains(r##"href="#op-42""##));
    assert!(sec.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && sec.contains("key &lt;k&gt;"));
}

#[test]
fn checker_examples_given_as_bare_history_indices_link_into_the_timeline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_dir(&data("raft-valid"), &dir);
    // Take a real client op's invocation index from the history.
    let hist = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let inv: serde_json::Value = hist
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["type"] == "invoke" && e["process"].is_u64())
        .unwrap();
    let idx = inv["index"].as_u64().unwrap();
    let path = dir.join("results.json");
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    r["workload"] = serde_json::json!({
        "checker": "total-queue", "verdict": "invalid",
        "lost": {"count": 1, "examples": [{"ops": [idx], "value": 329}]}
    });
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    let html = std::fs::read_to_string(reports::render_run(&dir).unwrap()).unwrap();
    let sec = &html[html.find(r#"id="counterexample""#).expect("section")..];
    assert!(
        sec.contains(&format!(r##"href="#op-{idx}""##)),
        "link to the op"
    );
    assert!(sec.contains("value 329"));
    assert!(
        sec.contains(&format!("<td>{}</td>", inv["f"].as_str().unwrap())),
        "f filled in from the history"
    );
}

#[test]
fn first_anomaly_and_the_informational_fifo_pass_are_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_dir(&data("raft-valid"), &dir);
    let path = dir.join("results.json");
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    r["first_anomaly"] = serde_json::json!({"seconds": 4.734, "index": 175,
        "what": "linearizable: cas 51 -> 55 on key <1>", "source": "workload"});
    r["workload"] = serde_json::json!({
        "checker": "total-queue", "verdict": "valid",
        "fifo_linearizable": {"checker": "fifo-queue linearizability", "informational": true,
            "verdict": "invalid", "checked_queues": 1, "skipped_queues": [], "max_ops_per_queue": 300,
            "explanation": "In key 0: dequeue -> 25 cannot follow",
            "counterexample": {"partition": "0", "explanation": "x",
                "op": {"invoke_index": 244, "description": "dequeue -> 25"}}}
    });
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    let html = std::fs::read_to_string(reports::render_run(&dir).unwrap()).unwrap();
    let head = &html[..html.find("<main>").expect("main")];
    assert!(
        head.contains(r##"first anomaly <b>4.73 s</b> into the run (<a href="#op-175" class="oplink">history index 175</a>)"##),
        "first anomaly line in the verdict area"
    );
    assert!(head.contains("on key &lt;1&gt;"), "escaped");
    // A file from before `checkers`: the pass is found inside `workload`.
    assert!(head.contains("fifo-queue <span class=\"muted\">(informational)</span>"));
    let sec = &html[html.find(r#"id="counterexample""#).expect("section")..];
    assert!(sec.contains("FIFO order (informational)"));
    assert!(
        sec.contains(r##"href="#op-244""##),
        "link to the failing dequeue"
    );
    // Without the field, no line.
    r.as_object_mut().unwrap().remove("first_anomaly");
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    let html = std::fs::read_to_string(reports::render_run(&dir).unwrap()).unwrap();
    assert!(!html.contains("first anomaly <b>"));
}

#[test]
fn checkers_of_new_results_get_badges_and_their_details_are_found() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_dir(&data("raft-valid"), &dir);
    let path = dir.join("results.json");
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    r["workload"] = serde_json::json!({"checker": "total-queue", "verdict": "valid",
        "delivery": "at-least-once", "summary": "valid: 3/3 enqueues acknowledged"});
    r["checkers"] = serde_json::json!({
        "total-queue": {"verdict": "valid", "seconds": 0.01},
        "fifo-queue": {"verdict": "invalid", "informational": true, "seconds": 0.02,
            "details": {"checker": "fifo-queue", "informational": true, "verdict": "invalid",
                "checked_queues": 1, "skipped_queues": [], "max_ops_per_queue": 300,
                "counterexample": {"explanation": "<x>", "op": {"invoke_index": 12,
                    "description": "dequeue -> 2"}}}}
    });
    r["stats"]["availability"] = serde_json::json!(0.875);
    r["stats"]["answered"] = serde_json::json!(7);
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    let html = std::fs::read_to_string(reports::render_run(&dir).unwrap()).unwrap();
    let head = &html[..html.find("<main>").expect("main")];
    assert!(head.contains(r#"<span>total-queue <span class="verdict valid">valid</span></span>"#));
    assert!(head.contains(
        r#"fifo-queue <span class="muted">(informational)</span> <span class="verdict invalid">invalid</span>"#
    ));
    let sec = &html[html.find(r#"id="counterexample""#).expect("section")..];
    assert!(sec.contains("FIFO order (informational)"));
    assert!(sec.contains(r##"href="#op-12""##));
    assert!(sec.contains("&lt;x&gt;") && !sec.contains("<x>"));
    assert!(html.contains("Answered: 87.5% of"));
}

#[test]
fn results_that_do_not_fit_the_schema_are_named_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_dir(&data("raft-valid"), &dir);
    std::fs::write(
        dir.join("results.json"),
        r#"{"verdict": "valid", "stats": "lots"}"#,
    )
    .unwrap();
    let html = std::fs::read_to_string(reports::render_run(&dir).unwrap()).unwrap();
    assert!(
        html.contains("does not fit the results.json schema"),
        "warning shown"
    );
    assert!(html.contains("not checked"));
    // Not JSON at all is an error naming the file.
    std::fs::write(dir.join("results.json"), "{").unwrap();
    let e = reports::render_run(&dir).unwrap_err().to_string();
    assert!(
        e.contains("results.json") && e.contains("invalid JSON"),
        "{e}"
    );
}
