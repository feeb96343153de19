//! Primary–backup with asynchronous replication and failover, shared by
//! kv's and queue's `primary-async` levels (`crate::kv::primary`,
//! `crate::queue`), on the versioned store ([`super::store`]).
//!
//! The primary applies a write locally (fsync per `--fsync`), acknowledges
//! it, and streams it to the backups in the background. A backup that has
//! not heard from the primary for `--failover-ms` (plus half that per rank,
//! so backups rarely promote together) promotes itself with a higher epoch.
//! A node that learns of a higher epoch steps down and takes a full copy of
//! the new primary's data, so writes the old primary acknowledged but never
//! shipped are lost: that is the designed weakness, as is split brain.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::api::ApiError;
use super::clock;
use super::http::{HttpClient, Request, Response};
use super::node::NodeConfig;
use super::store::{Versioned, VersionedStore};
use super::wal::Fsync;

struct State {
    epoch: u64,
    primary: String,
    store: VersionedStore,
}

struct Link {
    addr: String,
    queue: Mutex<Vec<(String, Versioned)>>,
    full_sync: AtomicBool,
    wake: Notify,
}

#[derive(Serialize, Deserialize)]
struct ReplMsg {
    epoch: u64,
    primary: String,
    full: Option<HashMap<String, Versioned>>,
    entries: Vec<(String, Versioned)>,
}

#[derive(Serialize, Deserialize)]
struct ReplResp {
    ok: bool,
    epoch: u64,
    primary: String,
    need_full: bool,
}

/// What the primary-async machinery needs, whatever the system (kv, queue).
#[derive(Debug, Clone)]
pub struct PrimaryParams {
    pub id: String,
    /// Level name for `/status`.
    pub level: String,
    pub peers: BTreeMap<String, String>,
    pub data_dir: std::path::PathBuf,
    pub fsync: Fsync,
    pub heartbeat: Duration,
    pub request_timeout: Duration,
    pub failover_timeout: Duration,
}

impl PrimaryParams {
    fn all_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.peers.keys().cloned().collect();
        v.push(self.id.clone());
        v.sort();
        v
    }
}

impl From<&NodeConfig> for PrimaryParams {
    fn from(c: &NodeConfig) -> PrimaryParams {
        PrimaryParams {
            id: c.id.clone(),
            level: c.level.clone(),
            peers: c.peers.clone(),
            data_dir: c.data_dir.clone(),
            fsync: c.fsync,
            heartbeat: c.heartbeat,
            request_timeout: c.request_timeout,
            failover_timeout: c.failover_timeout,
        }
    }
}

/// A primary-async node: a versioned key-value store, replicated
/// asynchronously from the primary to the backups, with failover. The
/// system on top reads and writes it through [`PrimaryNode::on_primary`].
pub struct PrimaryNode {
    cfg: PrimaryParams,
    client: Arc<HttpClient>,
    st: Mutex<State>,
    last_heard: Mutex<Instant>,
    links: BTreeMap<String, Arc<Link>>,
}

/// `(epoch, primary)` order: higher epoch wins, then the lower id.
fn outranks(a: (u64, &str), b: (u64, &str)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

impl PrimaryNode {
    /// Starts the replication machinery for any system built on the
    /// versioned store.
    pub fn start(cfg: PrimaryParams, client: Arc<HttpClient>) -> anyhow::Result<Arc<PrimaryNode>> {
        use anyhow::Context;
        let mut store = VersionedStore::open(&cfg.data_dir, cfg.fsync)
            .with_context(|| format!("--data-dir: opening store in {}", cfg.data_dir.display()))?;
        let (epoch, primary) = match store.meta() {
            Value::Null => {
                let first = cfg.all_ids()[0].clone();
                store.set_meta(json!({"epoch": 1, "primary": first}))?;
                (1, first)
            }
            m => (
                m["epoch"].as_u64().unwrap_or(1),
                m["primary"].as_str().unwrap_or_default().to_string(),
            ),
        };
        tracing::info!("primary-async: epoch {epoch}, primary {primary}");
        let links = cfg
            .peers
            .iter()
            .map(|(id, addr)| {
                (
                    id.clone(),
                    Arc::new(Link {
                        addr: addr.clone(),
                        queue: Mutex::new(Vec::new()),
                        // A (re)started primary does not know what peers hold.
                        full_sync: AtomicBool::new(true),
                        wake: Notify::new(),
                    }),
                )
            })
            .collect();
        let node = Arc::new(PrimaryNode {
            cfg,
            client,
            st: Mutex::new(State {
                epoch,
                primary,
                store,
            }),
            last_heard: Mutex::new(Instant::now()),
            links,
        });
        for (id, link) in &node.links {
            let n = node.clone();
            let (id, link) = (id.clone(), link.clone());
            tokio::spawn(async move { n.replicate_forever(id, link).await });
        }
        let n = node.clone();
        tokio::spawn(async move { n.watch_primary_forever().await });
        Ok(node)
    }

    fn adopt(&self, st: &mut State, epoch: u64, primary: &str) {
        if st.primary == self.cfg.id && primary != self.cfg.id {
            tracing::warn!("stepping down: {primary} is primary at epoch {epoch}");
        }
        st.epoch = epoch;
        st.primary = primary.to_string();
        if let Err(e) = st
            .store
            .set_meta(json!({"epoch": epoch, "primary": primary}))
        {
            tracing::error!("persisting epoch: {e}");
        }
    }

    async fn replicate_forever(self: Arc<Self>, peer: String, link: Arc<Link>) {
        let timeout = self.cfg.request_timeout.min(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = link.wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.heartbeat) => {}
            }
            let msg = {
                let st = self.st.lock().unwrap();
                if st.primary != self.cfg.id {
                    link.queue.lock().unwrap().clear();
                    continue;
                }
                let mut q = link.queue.lock().unwrap();
                if link.full_sync.swap(false, Ordering::SeqCst) {
                    q.clear();
                    let full: HashMap<String, Versioned> = st
                        .store
                        .entries()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    ReplMsg {
                        epoch: st.epoch,
                        primary: st.primary.clone(),
                        full: Some(full),
                        entries: Vec::new(),
                    }
                } else {
                    ReplMsg {
                        epoch: st.epoch,
                        primary: st.primary.clone(),
                        full: None,
                        entries: std::mem::take(&mut *q),
                    }
                }
            };
            let body = serde_json::to_vec(&msg).unwrap_or_default();
            let r = self
                .client
                .request(
                    &link.addr,
                    "POST",
                    "/internal/pa/replicate",
                    &[],
                    &body,
                    timeout,
                )
                .await;
            match r {
                Ok((200, b)) => match serde_json::from_slice::<ReplResp>(&b) {
                    Ok(resp) if resp.ok => {
                        if resp.need_full {
                            link.full_sync.store(true, Ordering::SeqCst);
                            link.wake.notify_one();
                        }
                    }
                    Ok(resp) => {
                        let mut st = self.st.lock().unwrap();
                        if outranks((resp.epoch, &resp.primary), (st.epoch, &st.primary)) {
                            self.adopt(&mut st, resp.epoch, &resp.primary);
                            *self.last_heard.lock().unwrap() = Instant::now();
                        }
                    }
                    Err(e) => {
                        tracing::warn!("bad replication reply from {peer}: {e}");
                        link.full_sync.store(true, Ordering::SeqCst);
                    }
                },
                other => {
                    if msg.full.is_some() || !msg.entries.is_empty() {
                        tracing::debug!("replication to {peer} failed: {other:?}");
                    }
                    self.client.forget(&link.addr);
                    // Whatever was in flight may be lost: resend everything.
                    link.full_sync.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    async fn watch_primary_forever(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.cfg.heartbeat).await;
            let mut st = self.st.lock().unwrap();
            if st.primary == self.cfg.id {
                continue;
            }
            let rank = self
                .cfg
                .all_ids()
                .into_iter()
                .filter(|i| *i != st.primary)
                .position(|i| i == self.cfg.id)
                .unwrap_or(0) as u32;
            let limit = self.cfg.failover_timeout + self.cfg.failover_timeout * rank / 2;
            let mut heard = self.last_heard.lock().unwrap();
            if heard.elapsed() > limit {
                let epoch = st.epoch + 1;
                tracing::warn!(
                    "primary {} silent for {:?}: promoting myself at epoch {epoch}",
                    st.primary,
                    heard.elapsed()
                );
                let me = self.cfg.id.clone();
                self.adopt(&mut st, epoch, &me);
                *heard = Instant::now();
                for link in self.links.values() {
                    link.full_sync.store(true, Ordering::SeqCst);
                    link.wake.notify_one();
                }
            }
        }
    }

    fn on_replicate(&self, msg: ReplMsg) -> ReplResp {
        let mut st = self.st.lock().unwrap();
        let theirs = (msg.epoch, msg.primary.as_str());
        let same = msg.epoch == st.epoch && msg.primary == st.primary;
        if !same && !outranks(theirs, (st.epoch, &st.primary)) {
            return ReplResp {
                ok: false,
                epoch: st.epoch,
                primary: st.primary.clone(),
                need_full: false,
            };
        }
        if !same {
            tracing::info!("following {} at epoch {}", msg.primary, msg.epoch);
            self.adopt(&mut st, msg.epoch, &msg.primary);
        }
        *self.last_heard.lock().unwrap() = Instant::now();
        let res = if let Some(full) = msg.full {
            st.store.replace_all(full)
        } else if same {
            st.store.put_all(msg.entries)
        } else {
            Ok(())
        };
        if let Err(e) = res {
            tracing::error!("applying replication: {e}");
        }
        ReplResp {
            ok: true,
            epoch: st.epoch,
            primary: st.primary.clone(),
            need_full: !same,
        }
    }

    /// Stores the changes locally (stamped with this node's wall clock) and
    /// queues them for every backup.
    fn put_and_ship(&self, st: &mut State, changes: Vec<(String, Value)>) -> Result<(), ApiError> {
        for (key, value) in changes {
            let v = Versioned {
                value,
                ts: clock::wall_micros(),
                node: self.cfg.id.clone(),
            };
            st.store
                .put(&key, v.clone())
                .map_err(|e| ApiError::indefinite("storage", e.to_string()))?;
            for link in self.links.values() {
                link.queue.lock().unwrap().push((key.clone(), v.clone()));
                link.wake.notify_one();
            }
        }
        Ok(())
    }

    /// The current primary's id (maybe this node).
    pub fn primary(&self) -> String {
        self.st.lock().unwrap().primary.clone()
    }

    /// The address this node dials for peer `id`.
    pub fn peer_addr(&self, id: &str) -> Option<&String> {
        self.cfg.peers.get(id)
    }

    /// Runs `f` against the store if this node is the primary (else
    /// `Err(primary id)`). `f` returns its answer and the keys it changed;
    /// those are persisted, acknowledged and shipped asynchronously to the
    /// backups exactly like kv writes.
    pub fn on_primary<T>(
        &self,
        f: impl FnOnce(&VersionedStore) -> Result<(T, Vec<(String, Value)>), ApiError>,
    ) -> Result<Result<T, ApiError>, String> {
        let mut st = self.st.lock().unwrap();
        if st.primary != self.cfg.id {
            return Err(st.primary.clone());
        }
        Ok(f(&st.store).and_then(|(t, changes)| {
            self.put_and_ship(&mut st, changes)?;
            Ok(t)
        }))
    }

    /// The `GET /status` document.
    pub fn status_doc(&self) -> Value {
        let st = self.st.lock().unwrap();
        json!({
            "id": self.cfg.id,
            "level": self.cfg.level,
            "role": if st.primary == self.cfg.id { "primary" } else { "backup" },
            "term": st.epoch,
            "epoch": st.epoch,
            "leader": st.primary,
            "applied": st.store.applied,
            "keys": st.store.len(),
        })
    }

    /// Peer traffic under `/internal/pa/`.
    pub fn internal_sync(&self, req: &Request) -> Response {
        match req.path.as_str() {
            "/internal/pa/replicate" => match serde_json::from_slice::<ReplMsg>(&req.body) {
                Ok(msg) => {
                    let resp = self.on_replicate(msg);
                    Response::json(200, &serde_json::to_value(resp).unwrap_or_default())
                }
                Err(e) => Response::json(400, &json!({"error": format!("bad body: {e}")})),
            },
            p => Response::json(404, &json!({"error": format!("no route {p}")})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::outranks;

    #[test]
    fn epoch_order() {
        assert!(outranks((2, "n3"), (1, "n1")));
        assert!(outranks((2, "n1"), (2, "n2")));
        assert!(!outranks((2, "n2"), (2, "n2")));
        assert!(!outranks((1, "n1"), (2, "n3")));
    }
}
