//! A partition through the proxy mesh really isolates: a Raft leader cut
//! off from the majority cannot commit, the majority elects a new leader and
//! commits, and after the heal the old leader catches up. Three real
//! `faultline-kv` nodes on loopback (level `raft-local`, so each node's reads
//! show its own applied state), about 10 s.

use nemesis::{Grudge, NetworkControl, ProxyMesh};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use systems::runtime::http::HttpClient;

mod common;

/// `faultline-kv` next to `faultline` (built when missing).
fn kv_bin() -> PathBuf {
    common::bin_dir().join("faultline-kv")
}

/// The nodes, SIGKILLed (by pid) when the test ends however it ends.
struct Nodes(Vec<Child>);
impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn status(http: &HttpClient, addr: &SocketAddr) -> Option<Value> {
    match http
        .request(
            &addr.to_string(),
            "GET",
            "/status",
            &[],
            b"",
            Duration::from_millis(500),
        )
        .await
    {
        Ok((200, b)) => serde_json::from_slice(&b).ok(),
        _ => None,
    }
}

/// The leader that every node in `nodes` names, once they agree on one
/// other than `not`.
async fn agreed_leader(
    http: &HttpClient,
    nodes: &[(String, SocketAddr)],
    not: Option<&str>,
    timeout: Duration,
) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let mut leaders = Vec::new();
        for (_, a) in nodes {
            leaders.push(
                status(http, a)
                    .await
                    .and_then(|v| v["leader"].as_str().map(str::to_string)),
            );
        }
        if leaders[0].is_some()
            && leaders[0].as_deref() != not
            && leaders.iter().all(|l| *l == leaders[0])
        {
            return leaders[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn put(http: &HttpClient, addr: &SocketAddr, v: i64) -> u16 {
    let body = serde_json::to_vec(&json!({ "value": v })).unwrap();
    match http
        .request(
            &addr.to_string(),
            "PUT",
            "/kv/a",
            &[],
            &body,
            Duration::from_secs(5),
        )
        .await
    {
        Ok((s, _)) => s,
        Err(_) => 0,
    }
}

async fn get(http: &HttpClient, addr: &SocketAddr) -> Value {
    match http
        .request(
            &addr.to_string(),
            "GET",
            "/kv/a",
            &[],
            b"",
            Duration::from_secs(2),
        )
        .await
    {
        Ok((200, b)) => serde_json::from_slice::<Value>(&b).unwrap()["value"].clone(),
        other => panic!("read failed: {other:?}"),
    }
}

async fn applied(http: &HttpClient, addr: &SocketAddr) -> u64 {
    status(http, addr)
        .await
        .and_then(|v| v["applied"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_raft_minority_cannot_commit_and_catches_up_after_heal() {
    let bin = kv_bin();
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<(String, SocketAddr)> =
        (1..=3).map(|i| (format!("n{i}"), free_addr())).collect();
    let mesh = Arc::new(ProxyMesh::start(&nodes).await.unwrap());
    let mut children = Nodes(Vec::new());
    for (id, addr) in &nodes {
        let peers: Vec<String> = mesh
            .peers_of(id)
            .into_iter()
            .map(|(b, a)| format!("{b}={a}"))
            .collect();
        let log = std::fs::File::create(dir.path().join(format!("{id}.log"))).unwrap();
        let child = Command::new(&bin)
            .args(["--id", id, "--listen", &addr.to_string()])
            .args(["--peers", &peers.join(",")])
            .arg("--data-dir")
            .arg(dir.path().join(id))
            .args(["--level", "raft-local", "--fsync", "never"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        children.0.push(child);
    }
    let http = HttpClient::new();
    let addr_of = |id: &str| nodes.iter().find(|(n, _)| n == id).unwrap().1;
    let started = Instant::now();

    let old = agreed_leader(&http, &nodes, None, Duration::from_secs(20))
        .await
        .expect("the cluster elects a leader");
    assert_eq!(put(&http, &addr_of(&old), 1).await, 200);
    // Every node has applied the first write before the cut.
    let deadline = Instant::now() + Duration::from_secs(5);
    for (_, a) in &nodes {
        while get(&http, a).await != json!(1) {
            assert!(Instant::now() < deadline, "value 1 never reached {a}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Cut the leader off from the majority.
    let ids: Vec<String> = nodes.iter().map(|(n, _)| n.clone()).collect();
    let grudge: Grudge = nemesis::grudge::primary(&ids, &old).unwrap();
    mesh.apply_grudge(&grudge).unwrap();
    let majority: Vec<(String, SocketAddr)> =
        nodes.iter().filter(|(n, _)| *n != old).cloned().collect();

    // The isolated leader cannot commit: its write is not acknowledged.
    let cut_write = tokio::spawn({
        let http = http.clone();
        let a = addr_of(&old);
        async move { put(&http, &a, 2).await }
    });
    // The majority elects a new leader and commits.
    let new = agreed_leader(&http, &majority, Some(&old), Duration::from_secs(15))
        .await
        .expect("the majority elects a new leader");
    assert_ne!(new, old);
    assert_eq!(put(&http, &addr_of(&new), 3).await, 200);
    let status_cut = cut_write.await.unwrap();
    assert_ne!(status_cut, 200, "the cut-off leader acknowledged a write");
    // The old leader still shows the old value and is behind.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&http, &addr_of(&old)).await, json!(1));
    let (behind, ahead) = (
        applied(&http, &addr_of(&old)).await,
        applied(&http, &addr_of(&new)).await,
    );
    assert!(behind < ahead, "old leader applied {behind}, new {ahead}");
    for (_, a) in &majority {
        assert_eq!(get(&http, a).await, json!(3));
    }

    // Heal: the old leader catches up, and the uncommitted write is gone.
    mesh.heal().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = get(&http, &addr_of(&old)).await;
        if v == json!(3) && applied(&http, &addr_of(&old)).await >= ahead {
            break;
        }
        assert!(Instant::now() < deadline, "old leader still reads {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (_, a) in &nodes {
        assert_eq!(get(&http, a).await, json!(3));
    }
    assert!(
        agreed_leader(&http, &nodes, None, Duration::from_secs(10))
            .await
            .is_some(),
        "no agreed leader after the heal"
    );
    eprintln!(
        "partition test: old leader {old}, new leader {new}, cut write answered {status_cut}, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(children);
    mesh.shutdown();
}
