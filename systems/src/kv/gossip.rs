//! The `gossip` level: multi-master, last writer wins, anti-entropy.
//!
//! Every node accepts reads and writes locally and acknowledges at once.
//! Writes are stamped with the node's wall clock (ties broken by node id).
//! Every `--gossip-ms` a node exchanges its whole state with the next peer
//! in turn (push–pull) and both keep the newest version of every key. The
//! result is eventually consistent; a write stamped by a clock that is
//! behind loses to an older write, silently: the designed weakness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::config::Config;
use super::{ApiError, ClientOp, KvNode, OpResult};
use crate::runtime::clock;
use crate::runtime::http::{BoxFuture, HttpClient, Request, Response};
use crate::runtime::store::{Versioned, VersionedStore};

#[derive(Serialize, Deserialize)]
struct Digest {
    from: String,
    entries: HashMap<String, Versioned>,
}

/// A gossip node.
pub struct GossipNode {
    cfg: Arc<Config>,
    client: Arc<HttpClient>,
    store: Mutex<VersionedStore>,
    next_peer: AtomicUsize,
    rounds: AtomicUsize,
}

impl GossipNode {
    pub fn start(cfg: Arc<Config>, client: Arc<HttpClient>) -> anyhow::Result<Arc<GossipNode>> {
        use anyhow::Context;
        let store = VersionedStore::open(&cfg.data_dir, cfg.fsync)
            .with_context(|| format!("--data-dir: opening store in {}", cfg.data_dir.display()))?;
        let node = Arc::new(GossipNode {
            cfg,
            client,
            store: Mutex::new(store),
            next_peer: AtomicUsize::new(0),
            rounds: AtomicUsize::new(0),
        });
        let n = node.clone();
        tokio::spawn(async move { n.gossip_forever().await });
        Ok(node)
    }

    fn snapshot(&self) -> HashMap<String, Versioned> {
        self.store
            .lock()
            .unwrap()
            .entries()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn merge(&self, entries: HashMap<String, Versioned>) -> usize {
        match self
            .store
            .lock()
            .unwrap()
            .merge(entries.into_iter().collect())
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("merging gossip: {e}");
                0
            }
        }
    }

    async fn gossip_forever(self: Arc<Self>) {
        let peers: Vec<(String, String)> = self
            .cfg
            .peers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if peers.is_empty() {
            return;
        }
        loop {
            tokio::time::sleep(self.cfg.gossip_interval).await;
            let i = self.next_peer.fetch_add(1, Ordering::Relaxed) % peers.len();
            let (peer, addr) = &peers[i];
            let body = serde_json::to_vec(&Digest {
                from: self.cfg.id.clone(),
                entries: self.snapshot(),
            })
            .unwrap_or_default();
            match self
                .client
                .request_idempotent(
                    addr,
                    "POST",
                    "/internal/gossip",
                    &body,
                    self.cfg.request_timeout,
                )
                .await
            {
                Ok((200, b)) => match serde_json::from_slice::<Digest>(&b) {
                    Ok(d) => {
                        let n = self.merge(d.entries);
                        if n > 0 {
                            tracing::debug!("gossip with {peer}: took {n} newer values");
                        }
                        self.rounds.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!("bad gossip reply from {peer}: {e}"),
                },
                other => {
                    tracing::debug!("gossip with {peer} failed: {other:?}");
                    self.client.forget(addr);
                }
            }
        }
    }

    fn do_op(&self, op: ClientOp) -> OpResult {
        let mut st = self.store.lock().unwrap();
        let (key, value) = match op {
            ClientOp::Read { key } => return Ok(st.value(&key)),
            ClientOp::Write { key, value } => (key, value),
            ClientOp::Cas { key, from, to } => {
                let cur = st.value(&key);
                if cur != from {
                    return Err(ApiError::cas_mismatch(cur));
                }
                (key, to)
            }
        };
        let v = Versioned {
            value: value.clone(),
            ts: clock::wall_micros(),
            node: self.cfg.id.clone(),
        };
        // Last writer wins even locally: a write stamped behind the held
        // version is acknowledged and dropped.
        st.merge(vec![(key, v)])
            .map_err(|e| ApiError::indefinite("storage", e.to_string()))?;
        Ok(value)
    }
}

impl KvNode for GossipNode {
    fn op(self: Arc<Self>, op: ClientOp, _no_forward: bool) -> BoxFuture<OpResult> {
        Box::pin(async move { self.do_op(op) })
    }

    fn status(&self) -> Value {
        let st = self.store.lock().unwrap();
        json!({
            "id": self.cfg.id,
            "level": self.cfg.level.name(),
            "role": "peer",
            "term": 0,
            "leader": null,
            "applied": st.applied,
            "keys": st.len(),
            "gossip_rounds": self.rounds.load(Ordering::Relaxed),
        })
    }

    fn internal(self: Arc<Self>, req: Request) -> BoxFuture<Response> {
        Box::pin(async move {
            match req.path.as_str() {
                "/internal/gossip" => match serde_json::from_slice::<Digest>(&req.body) {
                    Ok(d) => {
                        let mine = self.snapshot();
                        // Reply with what the sender lacks or holds older.
                        let reply: HashMap<String, Versioned> = mine
                            .into_iter()
                            .filter(|(k, v)| {
                                d.entries.get(k).is_none_or(|theirs| v.newer_than(theirs))
                            })
                            .collect();
                        self.merge(d.entries);
                        let body = Digest {
                            from: self.cfg.id.clone(),
                            entries: reply,
                        };
                        Response::json(200, &serde_json::to_value(body).unwrap_or_default())
                    }
                    Err(e) => Response::json(400, &json!({"error": format!("bad body: {e}")})),
                },
                p => Response::json(404, &json!({"error": format!("no route {p}")})),
            }
        })
    }
}
