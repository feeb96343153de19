//! The `faultline-kv` client: turns an op into an HTTP request and the
//! answer into a completion, mapping the system's definite errors to `fail`
//! and everything else that may have taken effect to `info`.

use super::generator::{Op, OpKind};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use systems::runtime::http::{ClientError, HttpClient};

/// How an op ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Completion {
    pub outcome: Outcome,
    pub value: Value,
    pub error: Option<Value>,
}

/// A client bound to one node.
pub trait Client: Send {
    fn node(&self) -> &str;
    fn invoke(&mut self, op: &Op) -> impl std::future::Future<Output = Completion> + Send;
}

/// One worker's connection to one `faultline-kv` node.
pub struct KvClient {
    http: Arc<HttpClient>,
    node: String,
    addr: String,
    timeout: Duration,
    refused: bool,
}

impl KvClient {
    /// Whether the last op found the node not serving: connection refused,
    /// `503 unavailable` or `421 not-leader` (worth a short back-off).
    pub fn refused(&self) -> bool {
        self.refused
    }

    pub fn new(node: &str, addr: &str, timeout: Duration) -> KvClient {
        KvClient {
            http: HttpClient::new(),
            node: node.to_string(),
            addr: addr.to_string(),
            timeout,
            refused: false,
        }
    }
}

/// Maps a completed exchange to an outcome (see
/// [`super::workloads::classify`]: definite errors fail, others are info,
/// and every failure of a read is definite).
pub fn complete(op: &Op, res: Result<(u16, Vec<u8>), ClientError>) -> Completion {
    let read = matches!(op.kind, OpKind::Read);
    let a = super::workloads::classify(res, read);
    if a.outcome != Outcome::Ok {
        return Completion {
            outcome: a.outcome,
            value: op.value(),
            error: a.error,
        };
    }
    if !read {
        return Completion {
            outcome: Outcome::Ok,
            value: op.value(),
            error: None,
        };
    }
    match a.body.get("value") {
        Some(v) => Completion {
            outcome: Outcome::Ok,
            value: v.clone(),
            error: None,
        },
        None => Completion {
            outcome: Outcome::Fail,
            value: Value::Null,
            error: Some(json!(format!("bad answer: {}", a.body))),
        },
    }
}

impl Client for KvClient {
    fn node(&self) -> &str {
        &self.node
    }

    async fn invoke(&mut self, op: &Op) -> Completion {
        let path = format!("/kv/{}", op.key);
        let res = match op.kind {
            OpKind::Read => {
                self.http
                    .request(&self.addr, "GET", &path, &[], b"", self.timeout)
                    .await
            }
            OpKind::Write(v) => {
                let body = serde_json::to_vec(&json!({ "value": v })).unwrap();
                self.http
                    .request(&self.addr, "PUT", &path, &[], &body, self.timeout)
                    .await
            }
            OpKind::Cas(from, to) => {
                let body = serde_json::to_vec(&json!({ "from": from, "to": to })).unwrap();
                self.http
                    .request(
                        &self.addr,
                        "POST",
                        &format!("{path}/cas"),
                        &[],
                        &body,
                        self.timeout,
                    )
                    .await
            }
        };
        self.refused = matches!(res, Err(ClientError::Connect { .. }) | Ok((503 | 421, _)));
        if res.is_err() {
            // The pooled connection may be dead (node killed): start afresh.
            self.http.forget(&self.addr);
        }
        complete(op, res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind) -> Op {
        Op { key: 1, kind }
    }

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn errors_map_to_fail_or_info() {
        let w = op(OpKind::Write(5));
        let c = op(OpKind::Cas(5, 6));
        let r = op(OpKind::Read);
        let ok = complete(&r, Ok((200, body(json!({"key":"1","value":7})))));
        assert_eq!((ok.outcome, ok.value), (Outcome::Ok, json!(7)));
        let mismatch = complete(
            &c,
            Ok((
                409,
                body(json!({"error":"cas-mismatch","definite":true,"current":4})),
            )),
        );
        assert_eq!(mismatch.outcome, Outcome::Fail);
        let timeout = complete(
            &w,
            Ok((504, body(json!({"error":"timeout","definite":false})))),
        );
        assert_eq!(timeout.outcome, Outcome::Info);
        let garbage = complete(&w, Ok((500, b"oops".to_vec())));
        assert_eq!(garbage.outcome, Outcome::Info);
        let t = || Err(ClientError::Timeout { addr: "a".into() });
        assert_eq!(complete(&w, t()).outcome, Outcome::Info);
        assert_eq!(complete(&c, t()).outcome, Outcome::Info);
        assert_eq!(complete(&r, t()).outcome, Outcome::Fail);
        let refused = || {
            Err(ClientError::Connect {
                addr: "a".into(),
                msg: "refused".into(),
            })
        };
        assert_eq!(complete(&w, refused()).outcome, Outcome::Fail);
        let lost = || {
            Err(ClientError::Io {
                addr: "a".into(),
                msg: "reset".into(),
            })
        };
        assert_eq!(complete(&w, lost()).outcome, Outcome::Info);
        assert_eq!(complete(&r, lost()).outcome, Outcome::Fail);
    }
}
