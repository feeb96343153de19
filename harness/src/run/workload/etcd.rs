//! The `etcd` client protocol: etcd's v3 API through its JSON gateway
//! (`POST /v3/kv/range`, `/v3/kv/put`, `/v3/kv/txn`, keys and values in
//! base64), spoken with the harness's own HTTP client, so no gRPC stack is
//! needed. A register `k` is the etcd key `faultline/r<k>`, its value the
//! decimal text of the integer written.
//!
//! Reads are linearizable (etcd's default: a quorum read through the
//! leader) unless the level sets the workload option `reads =
//! "serializable"`, which asks the node for its local state.
//!
//! Outcomes: a read that fails is definite (it changed nothing); a write
//! or cas whose connection was refused never left; any other failure
//! (timeout, `etcdserver: request timed out`, leader changed, a broken
//! connection) may have taken effect and is `info`.

use super::super::http::{Http, HttpError};
use super::{BoxFuture, Client, ClientMaker, Completion, Op, Outcome, Setup};
use anyhow::{bail, Result};
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The clients of the register workload, one per worker, each bound to its
/// home node's client URL (`{addr}`).
pub fn register_clients(setup: &Setup) -> Result<ClientMaker> {
    let serializable = match setup.option_str("reads", "linearizable")? {
        "linearizable" => false,
        "serializable" => true,
        other => bail!(
            "workload option reads: expected \"linearizable\" or \"serializable\", got {other:?}"
        ),
    };
    let http = Http::new();
    let nodes: Vec<(String, String)> = setup
        .nodes
        .iter()
        .map(|n| (n.id.clone(), n.addr.clone()))
        .collect();
    let timeout = Duration::from_secs_f64(setup.spec.op_timeout);
    Ok(Box::new(move |w| {
        let (node, addr) = nodes[w % nodes.len()].clone();
        Box::new(EtcdRegister {
            http: http.clone(),
            node,
            addr,
            timeout,
            serializable,
        })
    }))
}

fn key_of(k: u64) -> String {
    B64.encode(format!("faultline/r{k}"))
}

fn value_of(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// One worker's etcd client.
struct EtcdRegister {
    http: Http,
    node: String,
    addr: String,
    timeout: Duration,
    serializable: bool,
}

/// The outcome of a failed exchange: reads and unsent requests are
/// definite, the rest indefinite.
fn failed(read: bool, error: String, refused: bool) -> (Outcome, Value, bool) {
    let outcome = if read || refused {
        Outcome::Fail
    } else {
        Outcome::Info
    };
    (outcome, json!(error), refused)
}

impl EtcdRegister {
    /// One gateway call: the JSON answer of a 200, or `(outcome, error,
    /// refused)`.
    async fn call(
        &self,
        path: &str,
        body: Value,
        read: bool,
    ) -> std::result::Result<Value, (Outcome, Value, bool)> {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match self
            .http
            .request(&self.addr, "POST", path, Some(bytes), self.timeout)
            .await
        {
            Ok((200, b)) => serde_json::from_slice(&b)
                .map_err(|e| failed(read, format!("bad answer: {e}"), false)),
            Ok((status, b)) => {
                let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
                let msg = v
                    .get("error")
                    .or_else(|| v.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("http-{status}"));
                Err(failed(read, msg, false))
            }
            Err(HttpError::Connect { msg, .. }) => {
                Err(failed(read, format!("connect: {msg}"), true))
            }
            Err(HttpError::Timeout { .. }) => Err(failed(read, "client-timeout".into(), false)),
            Err(HttpError::Io { msg, .. }) => Err(failed(read, format!("io: {msg}"), false)),
        }
    }

    async fn run(&self, op: &Op) -> Completion {
        let key = key_of(op.key());
        let done = |outcome, value| Completion {
            outcome,
            value,
            error: None,
            refused: false,
            answer: Value::Null,
        };
        let res = match op.f {
            "read" => {
                let mut body = json!({ "key": key });
                if self.serializable {
                    body["serializable"] = json!(true);
                }
                self.call("/v3/kv/range", body, true)
                    .await
                    .and_then(|v| read_value(&v).map_err(|e| failed(true, e, false)))
                    .map(|v| done(Outcome::Ok, v))
            }
            "write" => self
                .call(
                    "/v3/kv/put",
                    json!({ "key": key, "value": value_of(&op.value) }),
                    false,
                )
                .await
                .map(|_| done(Outcome::Ok, op.value.clone())),
            "cas" => {
                let body = json!({
                    "compare": [{
                        "key": key,
                        "target": "VALUE",
                        "result": "EQUAL",
                        "value": value_of(&op.value[0]),
                    }],
                    "success": [{
                        "request_put": { "key": key, "value": value_of(&op.value[1]) }
                    }],
                    "failure": [],
                });
                self.call("/v3/kv/txn", body, false).await.map(|v| {
                    // The gateway leaves out a false `succeeded`.
                    if v.get("succeeded").and_then(Value::as_bool) == Some(true) {
                        done(Outcome::Ok, op.value.clone())
                    } else {
                        Completion {
                            error: Some(json!("precondition-failed")),
                            ..done(Outcome::Fail, op.value.clone())
                        }
                    }
                })
            }
            other => Err((Outcome::Fail, json!(format!("unknown op {other}")), false)),
        };
        res.unwrap_or_else(|(outcome, error, refused)| Completion {
            outcome,
            value: op.value.clone(),
            error: Some(error),
            refused,
            answer: Value::Null,
        })
    }
}

/// The register's value in a range answer: `null` when the key is absent.
fn read_value(v: &Value) -> std::result::Result<Value, String> {
    let Some(kvs) = v.get("kvs").and_then(Value::as_array) else {
        return Ok(Value::Null);
    };
    let Some(first) = kvs.first() else {
        return Ok(Value::Null);
    };
    let raw = first
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let bytes = B64
        .decode(raw)
        .map_err(|e| format!("bad answer: value is not base64: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "bad answer: value {:?} is not JSON: {e}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

impl Client for EtcdRegister {
    fn home(&self) -> &str {
        &self.node
    }

    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.run(op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_answers_decode_to_register_values() {
        assert_eq!(read_value(&json!({"header": {}})), Ok(Value::Null));
        let v = json!({"kvs": [{"key": key_of(3), "value": B64.encode("42")}], "count": "1"});
        assert_eq!(read_value(&v), Ok(json!(42)));
        let bad = json!({"kvs": [{"value": "!!"}]});
        assert!(read_value(&bad).unwrap_err().contains("base64"));
        let not_json = json!({"kvs": [{"value": B64.encode("x y")}]});
        assert!(read_value(&not_json).unwrap_err().contains("not JSON"));
    }

    #[test]
    fn reads_fail_definitely_and_writes_indefinitely() {
        assert_eq!(failed(true, "t".into(), false).0, Outcome::Fail);
        assert_eq!(failed(false, "t".into(), false).0, Outcome::Info);
        assert_eq!(failed(false, "connect".into(), true).0, Outcome::Fail);
    }
}
