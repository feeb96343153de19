//! The `faultline-http` client protocol: HTTP/1.1 with JSON bodies; a 200
//! is an answer; an error body `{"error": CODE, "definite": BOOL}` says
//! whether the op certainly did not happen (Maelstrom's errors-as-data).
//! What the bundled systems speak, and what a user's own system can speak
//! to be tested with the bundled workloads (`docs/adding-a-system.md`).

use super::super::http::{Http, HttpError};
use super::super::supervisor::NodeInfo;
use super::Outcome;
use serde_json::{json, Value};
use std::time::Duration;

/// One exchange, classified.
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: Outcome,
    /// The 200 body, or the error body (`Null` when none).
    pub body: Value,
    pub error: Option<Value>,
    /// The node was not serving (connection refused, 503, 421).
    pub refused: bool,
}

/// Maps an HTTP result to an outcome: 200 → ok; an error body with
/// `definite: true` → fail; a connect error (nothing sent) → fail; any other
/// error → info, except on reads (`read`), where every failure is definite.
pub fn classify(res: Result<(u16, Vec<u8>), HttpError>, read: bool) -> Answer {
    match res {
        Ok((200, b)) => Answer {
            outcome: Outcome::Ok,
            body: serde_json::from_slice(&b).unwrap_or(Value::Null),
            error: None,
            refused: false,
        },
        Ok((status, b)) => {
            let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
            let code = v
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("http-{status}"));
            let definite = read || v.get("definite").and_then(Value::as_bool).unwrap_or(false);
            Answer {
                outcome: if definite {
                    Outcome::Fail
                } else {
                    Outcome::Info
                },
                body: v,
                error: Some(json!(code)),
                refused: matches!(status, 503 | 421),
            }
        }
        Err(e) => {
            let (code, not_sent) = match &e {
                HttpError::Connect { msg, .. } => (format!("connect: {msg}"), true),
                HttpError::Io { msg, .. } => (format!("io: {msg}"), false),
                HttpError::Timeout { .. } => ("client-timeout".to_string(), false),
            };
            Answer {
                outcome: if read || not_sent {
                    Outcome::Fail
                } else {
                    Outcome::Info
                },
                body: Value::Null,
                error: Some(json!(code)),
                refused: not_sent,
            }
        }
    }
}

/// A connection to one node.
#[derive(Clone)]
pub struct Conn {
    http: Http,
    pub node: String,
    addr: String,
}

impl Conn {
    pub fn new(info: &NodeInfo) -> Conn {
        Conn {
            http: Http::new(),
            node: info.id.clone(),
            addr: info.addr.clone(),
        }
    }

    /// One request; `GET` is a read (every failure definite) and sends no
    /// body.
    pub async fn call(&self, method: &str, path: &str, body: &Value, timeout: Duration) -> Answer {
        self.call_as(method, path, body, timeout, method == "GET")
            .await
    }

    /// One request; `read` says every failure is definite (a `GET`, or a
    /// read-only transaction's `POST`). `GET` sends no body.
    pub async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        timeout: Duration,
        read: bool,
    ) -> Answer {
        let bytes = (method != "GET").then(|| serde_json::to_vec(body).unwrap_or_default());
        let res = self
            .http
            .request(&self.addr, method, path, bytes, timeout)
            .await;
        classify(res, read)
    }

    /// `GET path` as JSON, outside the history (probes).
    pub async fn get_json(&self, path: &str, timeout: Duration) -> Option<Value> {
        self.http.get_json(&self.addr, path, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn definite_errors_fail_and_indefinite_ones_are_info() {
        let ok = classify(Ok((200, body(json!({"token": 3})))), false);
        assert_eq!(ok.outcome, Outcome::Ok);
        assert_eq!(ok.body["token"], 3);
        let locked = classify(
            Ok((409, body(json!({"error": "locked", "definite": true})))),
            false,
        );
        assert_eq!(locked.outcome, Outcome::Fail);
        assert_eq!(locked.error, Some(json!("locked")));
        let timeout = classify(
            Ok((504, body(json!({"error": "timeout", "definite": false})))),
            false,
        );
        assert_eq!(timeout.outcome, Outcome::Info);
        let garbage = classify(Ok((500, b"x".to_vec())), false);
        assert_eq!(garbage.outcome, Outcome::Info);
        assert_eq!(garbage.error, Some(json!("http-500")));
        assert_eq!(
            classify(Ok((500, b"x".to_vec())), true).outcome,
            Outcome::Fail
        );
        let t = || Err(HttpError::Timeout { addr: "a".into() });
        assert_eq!(classify(t(), false).outcome, Outcome::Info);
        assert_eq!(classify(t(), true).outcome, Outcome::Fail);
        let refused = classify(
            Err(HttpError::Connect {
                addr: "a".into(),
                msg: "refused".into(),
            }),
            false,
        );
        assert_eq!((refused.outcome, refused.refused), (Outcome::Fail, true));
        let lost = || {
            Err(HttpError::Io {
                addr: "a".into(),
                msg: "reset".into(),
            })
        };
        assert_eq!(classify(lost(), false).outcome, Outcome::Info);
        assert_eq!(classify(lost(), true).outcome, Outcome::Fail);
        let not_leader = classify(
            Ok((421, body(json!({"error": "not-leader", "definite": true})))),
            false,
        );
        assert!(not_leader.refused);
    }
}
