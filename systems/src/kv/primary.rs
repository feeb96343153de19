//! The `primary-async` level: kv's reads, writes and compare-and-sets on
//! the shared primary–backup replication in [`crate::runtime::primary`].
//!
//! The primary answers from its local store and acknowledges a write once
//! it is stored locally; the backups get it asynchronously. Other nodes
//! forward to the primary. Acknowledged writes are lost on failover and
//! split brain is possible: the designed weakness.

use std::sync::Arc;

use serde_json::Value;

use super::config::Config;
use super::{forward, ApiError, ClientOp, KvNode, OpResult};
use crate::runtime::http::{BoxFuture, HttpClient, Request, Response};
use crate::runtime::primary::{PrimaryNode, PrimaryParams};

/// A primary-async kv node.
pub struct KvPrimary {
    cfg: Arc<Config>,
    client: Arc<HttpClient>,
    pa: Arc<PrimaryNode>,
}

impl KvPrimary {
    pub fn start(cfg: Arc<Config>, client: Arc<HttpClient>) -> anyhow::Result<Arc<KvPrimary>> {
        let pa = PrimaryNode::start(PrimaryParams::from(&cfg.node), client.clone())?;
        Ok(Arc::new(KvPrimary { cfg, client, pa }))
    }

    async fn do_op(&self, op: ClientOp, no_forward: bool) -> OpResult {
        let r = self.pa.on_primary(|store| match &op {
            ClientOp::Read { key } => Ok((store.value(key), vec![])),
            ClientOp::Write { key, value } => {
                Ok((value.clone(), vec![(key.clone(), value.clone())]))
            }
            ClientOp::Cas { key, from, to } => {
                let cur = store.value(key);
                if cur != *from {
                    return Err(ApiError::cas_mismatch(cur));
                }
                Ok((to.clone(), vec![(key.clone(), to.clone())]))
            }
        });
        let primary = match r {
            Ok(res) => return res,
            Err(primary) => primary,
        };
        match self.pa.peer_addr(&primary) {
            Some(addr) if !no_forward => {
                forward(&self.client, addr, &op, self.cfg.forward_timeout()).await
            }
            _ => Err(ApiError::not_leader(Some(primary))),
        }
    }
}

impl KvNode for KvPrimary {
    fn op(self: Arc<Self>, op: ClientOp, no_forward: bool) -> BoxFuture<OpResult> {
        Box::pin(async move {
            let read = op.is_read();
            self.do_op(op, no_forward)
                .await
                .map_err(|e| if read { e.for_read() } else { e })
        })
    }

    fn status(&self) -> Value {
        self.pa.status_doc()
    }

    fn internal(self: Arc<Self>, req: Request) -> BoxFuture<Response> {
        Box::pin(async move { self.pa.internal_sync(&req) })
    }
}
