//! `faultline-kv`: a replicated key-value store with six consistency levels.
//!
//! The HTTP API, error shape and forwarding live here and are shared by every
//! level; see `systems/README.md` for the wire contract. Flags are parsed by
//! the shared node runtime ([`crate::runtime::node`]) with kv's own as
//! extra flags ([`config`]); the levels run on the shared Raft integration
//! ([`raft`]), the shared primary–backup replication ([`primary`]) and the
//! shared versioned store ([`crate::runtime::store`]: [`quorum`],
//! [`gossip`]).

pub mod config;
pub mod gossip;
pub mod primary;
pub mod quorum;
pub mod raft;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::runtime::http::{self, BoxFuture, HttpClient, Request, Response};
use crate::runtime::node;
use config::{Config, Level};

/// Header set on forwarded requests; a node receiving it never forwards
/// again and answers `421 not-leader` with a hint instead. Clients may set
/// it too.
pub use crate::runtime::node::NO_FORWARD;

/// One client operation.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOp {
    Read { key: String },
    Write { key: String, value: Value },
    Cas { key: String, from: Value, to: Value },
}

impl ClientOp {
    pub fn key(&self) -> &str {
        match self {
            ClientOp::Read { key } | ClientOp::Write { key, .. } | ClientOp::Cas { key, .. } => key,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, ClientOp::Read { .. })
    }

    /// (method, path, body) of this operation on the HTTP API.
    pub fn to_http(&self) -> (&'static str, String, Vec<u8>) {
        let k = encode_key(self.key());
        match self {
            ClientOp::Read { .. } => ("GET", format!("/kv/{k}"), Vec::new()),
            ClientOp::Write { value, .. } => (
                "PUT",
                format!("/kv/{k}"),
                serde_json::to_vec(&json!({ "value": value })).unwrap(),
            ),
            ClientOp::Cas { from, to, .. } => (
                "POST",
                format!("/kv/{k}/cas"),
                serde_json::to_vec(&json!({ "from": from, "to": to })).unwrap(),
            ),
        }
    }
}

/// Percent-encodes a key for use as one path segment.
pub fn encode_key(k: &str) -> String {
    let mut s = String::new();
    for b in k.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

pub use crate::runtime::api::{error_response, ApiError};

/// Result of a client operation: the key's value after it (reads: the value
/// read, `null` when absent).
pub type OpResult = Result<Value, ApiError>;

/// One consistency level's node.
pub trait KvNode: Send + Sync + 'static {
    /// Runs a client operation; `no_forward` forbids forwarding it.
    fn op(self: Arc<Self>, op: ClientOp, no_forward: bool) -> BoxFuture<OpResult>;
    /// The `GET /status` document.
    fn status(&self) -> Value;
    /// Peer traffic under `/internal/`.
    fn internal(self: Arc<Self>, req: Request) -> BoxFuture<Response>;
}

/// Checks a value is an integer or a string.
pub fn valid_value(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.is_string()
}

/// Forwards `op` to the node at `addr`, passing its answer back verbatim.
pub async fn forward(
    client: &HttpClient,
    addr: &str,
    op: &ClientOp,
    timeout: Duration,
) -> OpResult {
    let (method, path, body) = op.to_http();
    match client
        .request(addr, method, &path, &[(NO_FORWARD, "1")], &body, timeout)
        .await
    {
        Ok((200, b)) => {
            let v: Value = serde_json::from_slice(&b)
                .map_err(|e| ApiError::indefinite("forward-failed", format!("bad body: {e}")))?;
            Ok(v["value"].clone())
        }
        Ok((s, b)) => Err(ApiError::from_response(s, &b)),
        Err(e) if e.not_sent() => Err(ApiError::unavailable(format!("forwarding failed: {e}"))),
        Err(e) => {
            client.forget(addr);
            let err = ApiError::indefinite("forward-failed", format!("forwarding failed: {e}"));
            Err(if op.is_read() { err.for_read() } else { err })
        }
    }
}

fn parse_client(req: &Request) -> Result<Option<ClientOp>, ApiError> {
    let Some(rest) = req.path.strip_prefix("/kv/") else {
        return Ok(None);
    };
    let (raw_key, cas) = match rest.strip_suffix("/cas") {
        Some(k) => (k, true),
        None => (rest, false),
    };
    let key = http::percent_decode(raw_key)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("bad key in path {:?}", req.path)))?;
    let body = || -> Result<Value, ApiError> {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::invalid(format!("body is not JSON: {e}")))
    };
    let op = match (req.method.as_str(), cas) {
        ("GET", false) => ClientOp::Read { key },
        ("PUT", false) | ("POST", false) => {
            let b = body()?;
            let value = b.get("value").cloned().unwrap_or(Value::Null);
            if !valid_value(&value) {
                return Err(ApiError::invalid(
                    "body must be {\"value\": INTEGER or STRING}",
                ));
            }
            ClientOp::Write { key, value }
        }
        ("POST", true) => {
            let b = body()?;
            let from = b.get("from").cloned().unwrap_or(Value::Null);
            let to = b.get("to").cloned().unwrap_or(Value::Null);
            if !(from.is_null() || valid_value(&from)) || !valid_value(&to) {
                return Err(ApiError::invalid(
                    "body must be {\"from\": INTEGER, STRING or null, \"to\": INTEGER or STRING}",
                ));
            }
            ClientOp::Cas { key, from, to }
        }
        (m, _) => {
            return Err(ApiError::new(
                405,
                "invalid",
                true,
                format!("{m} not allowed on {}", req.path),
            ))
        }
    };
    Ok(Some(op))
}

/// Builds the HTTP handler around a level's node.
pub fn handler(cfg: Arc<Config>, node: Arc<dyn KvNode>) -> http::Handler {
    Arc::new(move |req: Request| {
        let node = node.clone();
        let cfg = cfg.clone();
        Box::pin(async move {
            if req.path.starts_with("/internal/") {
                return node.internal(req).await;
            }
            node::route(
                &cfg,
                &req,
                || node.status(),
                parse_client,
                |op| async {
                    let no_forward = req.header(NO_FORWARD).is_some();
                    let key = op.key().to_string();
                    match node.clone().op(op, no_forward).await {
                        Ok(value) => Response::json(200, &json!({"key": key, "value": value})),
                        Err(e) => error_response(&e),
                    }
                },
            )
            .await
        })
    })
}

/// Starts a node and serves until the process is killed.
pub fn run(cfg: Config) -> anyhow::Result<()> {
    node::serve(cfg, start, handler)
}

async fn start(cfg: Arc<Config>, client: Arc<HttpClient>) -> anyhow::Result<Arc<dyn KvNode>> {
    Ok(match cfg.level {
        Level::Raft | Level::RaftLease | Level::RaftLocal => {
            raft::RaftNode::start(cfg.clone(), client).await?
        }
        Level::PrimaryAsync => primary::KvPrimary::start(cfg.clone(), client)?,
        Level::Quorum => quorum::QuorumNode::start(cfg.clone(), client)?,
        Level::Gossip => gossip::GossipNode::start(cfg.clone(), client)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, body: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn parses_client_requests() {
        assert_eq!(
            parse_client(&req("GET", "/kv/a%20b", "")).unwrap(),
            Some(ClientOp::Read { key: "a b".into() })
        );
        assert_eq!(
            parse_client(&req("PUT", "/kv/x", r#"{"value":3}"#)).unwrap(),
            Some(ClientOp::Write {
                key: "x".into(),
                value: json!(3)
            })
        );
        assert_eq!(
            parse_client(&req("POST", "/kv/x/cas", r#"{"from":null,"to":"s"}"#)).unwrap(),
            Some(ClientOp::Cas {
                key: "x".into(),
                from: Value::Null,
                to: json!("s")
            })
        );
        let e = parse_client(&req("PUT", "/kv/x", r#"{"value":1.5}"#)).unwrap_err();
        assert_eq!((e.status, e.definite), (400, true));
        assert!(parse_client(&req("GET", "/nope", "")).unwrap().is_none());
    }

    #[test]
    fn ops_round_trip_through_http_form() {
        for op in [
            ClientOp::Read { key: "k/1".into() },
            ClientOp::Write {
                key: "k".into(),
                value: json!(7),
            },
            ClientOp::Cas {
                key: "k".into(),
                from: json!(1),
                to: json!(2),
            },
        ] {
            let (m, p, b) = op.to_http();
            let r = Request {
                body: b,
                ..req(m, &p, "")
            };
            assert_eq!(parse_client(&r).unwrap(), Some(op));
        }
    }

    #[test]
    fn error_json_round_trips() {
        let e = ApiError::not_leader(Some("n2".into()));
        let b = serde_json::to_vec(&e.to_json()).unwrap();
        assert_eq!(ApiError::from_response(421, &b), e);
    }
}
