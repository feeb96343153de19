//! The `quorum` level: Dynamo-style replication to all N nodes.
//!
//! Any node coordinates any request. A write is stamped with the
//! coordinator's wall clock (ties broken by node id), sent to every replica,
//! and acknowledged once W replicas (the coordinator included) stored it;
//! replicas keep the newest version (last writer wins). A read asks every
//! replica, waits for R answers and returns the newest, repairing stale
//! replicas it saw. Writes that could not reach a replica are kept as hints
//! and handed off when it answers again. Compare-and-set is a quorum read
//! then a quorum write, not atomic: concurrent updates and clock skew lose
//! updates, which is the designed weakness.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::config::Config;
use super::{ApiError, ClientOp, KvNode, OpResult};
use crate::runtime::clock;
use crate::runtime::http::{BoxFuture, HttpClient, Request, Response};
use crate::runtime::store::{Versioned, VersionedStore};

#[derive(Serialize, Deserialize)]
struct PutMsg {
    entries: Vec<(String, Versioned)>,
}

#[derive(Serialize, Deserialize)]
struct GetMsg {
    key: String,
}

#[derive(Serialize, Deserialize)]
struct GetResp {
    v: Option<Versioned>,
}

/// A quorum node.
pub struct QuorumNode {
    cfg: Arc<Config>,
    client: Arc<HttpClient>,
    store: Mutex<VersionedStore>,
    /// Peer id → writes still to hand off to it.
    hints: Mutex<BTreeMap<String, Vec<(String, Versioned)>>>,
}

impl QuorumNode {
    pub fn start(cfg: Arc<Config>, client: Arc<HttpClient>) -> anyhow::Result<Arc<QuorumNode>> {
        use anyhow::Context;
        let store = VersionedStore::open(&cfg.data_dir, cfg.fsync)
            .with_context(|| format!("--data-dir: opening store in {}", cfg.data_dir.display()))?;
        tracing::info!("quorum: N={} R={} W={}", cfg.n(), cfg.r, cfg.w);
        let node = Arc::new(QuorumNode {
            cfg,
            client,
            store: Mutex::new(store),
            hints: Mutex::new(BTreeMap::new()),
        });
        let n = node.clone();
        tokio::spawn(async move { n.handoff_forever().await });
        Ok(node)
    }

    fn rpc_timeout(&self) -> Duration {
        self.cfg.request_timeout
    }

    fn add_hint(&self, peer: &str, key: &str, v: &Versioned) {
        let mut h = self.hints.lock().unwrap();
        let list = h.entry(peer.to_string()).or_default();
        if list.len() < 100_000 {
            list.push((key.to_string(), v.clone()));
        }
    }

    async fn handoff_forever(self: Arc<Self>) {
        let every = self.cfg.heartbeat.max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            let pending: Vec<(String, Vec<(String, Versioned)>)> = {
                let mut h = self.hints.lock().unwrap();
                std::mem::take(&mut *h).into_iter().collect()
            };
            for (peer, entries) in pending {
                let Some(addr) = self.cfg.peers.get(&peer) else {
                    continue;
                };
                let n = entries.len();
                let body = serde_json::to_vec(&PutMsg { entries }).unwrap_or_default();
                let r = self
                    .client
                    .request_idempotent(addr, "POST", "/internal/q/put", &body, self.rpc_timeout())
                    .await;
                if matches!(r, Ok((200, _))) {
                    tracing::info!("handed off {n} hinted writes to {peer}");
                } else {
                    let PutMsg { entries } = serde_json::from_slice(&body).unwrap();
                    let mut h = self.hints.lock().unwrap();
                    let list = h.entry(peer).or_default();
                    let newer = std::mem::take(list);
                    *list = entries;
                    list.extend(newer);
                }
            }
        }
    }

    fn local_put(&self, key: &str, v: &Versioned) -> std::io::Result<()> {
        self.store
            .lock()
            .unwrap()
            .merge(vec![(key.to_string(), v.clone())])
            .map(|_| ())
    }

    /// Writes `v` to every replica; Ok when W stored it.
    async fn quorum_write(self: &Arc<Self>, key: &str, v: Versioned) -> Result<(), ApiError> {
        self.local_put(key, &v)
            .map_err(|e| ApiError::indefinite("storage", e.to_string()))?;
        let mut acks = 1;
        let (tx, mut rx) = mpsc::channel(self.cfg.peers.len().max(1));
        let body = serde_json::to_vec(&PutMsg {
            entries: vec![(key.to_string(), v.clone())],
        })
        .unwrap_or_default();
        for (peer, addr) in &self.cfg.peers {
            let (n, tx, body, peer, addr) = (
                self.clone(),
                tx.clone(),
                body.clone(),
                peer.clone(),
                addr.clone(),
            );
            let (key, v) = (key.to_string(), v.clone());
            tokio::spawn(async move {
                let r = n
                    .client
                    .request_idempotent(&addr, "POST", "/internal/q/put", &body, n.rpc_timeout())
                    .await;
                let ok = matches!(r, Ok((200, _)));
                if !ok {
                    n.add_hint(&peer, &key, &v);
                }
                let _ = tx.send(ok).await;
            });
        }
        drop(tx);
        while acks < self.cfg.w {
            match rx.recv().await {
                Some(true) => acks += 1,
                Some(false) => {}
                None => break,
            }
        }
        if acks >= self.cfg.w {
            Ok(())
        } else {
            Err(ApiError::timeout(format!(
                "only {acks} of W={} replicas acknowledged (stored locally; hinted for the rest)",
                self.cfg.w
            )))
        }
    }

    /// Reads `key` from R replicas and returns the newest version.
    async fn quorum_read(self: &Arc<Self>, key: &str) -> Result<Option<Versioned>, ApiError> {
        let local = self.store.lock().unwrap().get(key).cloned();
        let mut answers: Vec<(Option<String>, Option<Versioned>)> = vec![(None, local)];
        let (tx, mut rx) = mpsc::channel(self.cfg.peers.len().max(1));
        let body = serde_json::to_vec(&GetMsg {
            key: key.to_string(),
        })
        .unwrap_or_default();
        for (peer, addr) in &self.cfg.peers {
            let (n, tx, body, peer, addr) = (
                self.clone(),
                tx.clone(),
                body.clone(),
                peer.clone(),
                addr.clone(),
            );
            tokio::spawn(async move {
                let r = n
                    .client
                    .request_idempotent(&addr, "POST", "/internal/q/get", &body, n.rpc_timeout())
                    .await;
                let got = match r {
                    Ok((200, b)) => serde_json::from_slice::<GetResp>(&b).ok().map(|g| g.v),
                    _ => None,
                };
                let _ = tx.send((peer, got)).await;
            });
        }
        drop(tx);
        while answers.len() < self.cfg.r {
            match rx.recv().await {
                Some((peer, Some(v))) => answers.push((Some(peer), v)),
                Some((_, None)) => {}
                None => break,
            }
        }
        if answers.len() < self.cfg.r {
            return Err(ApiError::unavailable(format!(
                "only {} of R={} replicas answered",
                answers.len(),
                self.cfg.r
            )));
        }
        let newest = answers
            .iter()
            .filter_map(|(_, v)| v.clone())
            .reduce(|a, b| if b.newer_than(&a) { b } else { a });
        if let Some(win) = &newest {
            // Read repair, in the background.
            for (peer, v) in &answers {
                if v.as_ref().is_some_and(|v| !win.newer_than(v)) {
                    continue;
                }
                match peer {
                    None => {
                        let _ = self.local_put(key, win);
                    }
                    Some(p) => {
                        let addr = self.cfg.peers[p].clone();
                        let body = serde_json::to_vec(&PutMsg {
                            entries: vec![(key.to_string(), win.clone())],
                        })
                        .unwrap_or_default();
                        let n = self.clone();
                        tokio::spawn(async move {
                            let _ = n
                                .client
                                .request_idempotent(
                                    &addr,
                                    "POST",
                                    "/internal/q/put",
                                    &body,
                                    n.rpc_timeout(),
                                )
                                .await;
                        });
                    }
                }
            }
        }
        Ok(newest)
    }

    async fn do_op(self: &Arc<Self>, op: ClientOp) -> OpResult {
        match op {
            ClientOp::Read { key } => Ok(self
                .quorum_read(&key)
                .await?
                .map(|v| v.value)
                .unwrap_or(Value::Null)),
            ClientOp::Write { key, value } => {
                let v = self.stamp(value.clone());
                self.quorum_write(&key, v).await?;
                Ok(value)
            }
            ClientOp::Cas { key, from, to } => {
                let cur = self
                    .quorum_read(&key)
                    .await?
                    .map(|v| v.value)
                    .unwrap_or(Value::Null);
                if cur != from {
                    return Err(ApiError::cas_mismatch(cur));
                }
                let v = self.stamp(to.clone());
                self.quorum_write(&key, v).await?;
                Ok(to)
            }
        }
    }

    fn stamp(&self, value: Value) -> Versioned {
        Versioned {
            value,
            ts: clock::wall_micros(),
            node: self.cfg.id.clone(),
        }
    }
}

impl KvNode for QuorumNode {
    fn op(self: Arc<Self>, op: ClientOp, _no_forward: bool) -> BoxFuture<OpResult> {
        Box::pin(async move {
            let read = op.is_read();
            self.do_op(op)
                .await
                .map_err(|e| if read { e.for_read() } else { e })
        })
    }

    fn status(&self) -> Value {
        let st = self.store.lock().unwrap();
        let hints: usize = self.hints.lock().unwrap().values().map(Vec::len).sum();
        json!({
            "id": self.cfg.id,
            "level": self.cfg.level.name(),
            "role": "replica",
            "term": 0,
            "leader": null,
            "applied": st.applied,
            "keys": st.len(),
            "r": self.cfg.r,
            "w": self.cfg.w,
            "hints": hints,
        })
    }

    fn internal(self: Arc<Self>, req: Request) -> BoxFuture<Response> {
        Box::pin(async move {
            match req.path.as_str() {
                "/internal/q/put" => match serde_json::from_slice::<PutMsg>(&req.body) {
                    Ok(m) => match self.store.lock().unwrap().merge(m.entries) {
                        Ok(n) => Response::json(200, &json!({"applied": n})),
                        Err(e) => Response::json(500, &json!({"error": e.to_string()})),
                    },
                    Err(e) => Response::json(400, &json!({"error": format!("bad body: {e}")})),
                },
                "/internal/q/get" => match serde_json::from_slice::<GetMsg>(&req.body) {
                    Ok(m) => {
                        let v = self.store.lock().unwrap().get(&m.key).cloned();
                        Response::json(
                            200,
                            &serde_json::to_value(GetResp { v }).unwrap_or_default(),
                        )
                    }
                    Err(e) => Response::json(400, &json!({"error": format!("bad body: {e}")})),
                },
                p => Response::json(404, &json!({"error": format!("no route {p}")})),
            }
        })
    }
}
