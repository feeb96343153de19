//! The `zookeeper` client protocol: ZooKeeper's own binary protocol, spoken
//! through the `zookeeper-client` crate (async, on tokio). A register `k` is
//! the znode `/faultline/r<k>`, its data the JSON text of the value written.
//!
//! Each worker holds one session to its home node only (a connect string
//! with one address), so what a read sees is what that node knows:
//!
//! - `read`: `getData`; a missing znode reads as `null`. With the workload
//!   option `reads = "sync"` a `sync(path)` goes first on the same session,
//!   so the node has caught up with the leader as of the sync before it
//!   answers (ZooKeeper's recipe for an up-to-date read); `reads = "plain"`
//!   (ZooKeeper's default) answers from the node's own state, which may be
//!   stale.
//! - `write`: `setData` with no version; when the znode is missing,
//!   `create` it, and when someone else created it meanwhile (`NodeExists`),
//!   `setData` again.
//! - `cas [from, to]`: `getData` with its stat, compare the value with
//!   `from` (differs or missing: `fail`), then `setData` at that stat's
//!   version (`BadVersion`: `fail`, someone wrote in between).
//!
//! Outcomes: a read that fails is definite (it changed nothing). A write or
//! cas fails definitely when nothing mutating was sent (no session, or the
//! failure came before `setData`/`create`) or when the server refused it
//! with an error that says the data did not change (`BadVersion`, `NoNode`,
//! `NodeExists`, ...). Connection loss, a session that expired, a closed
//! client and a timeout after a mutating request was sent may have taken
//! effect: `info`.

use super::{BoxFuture, Client, ClientMaker, Completion, Op, Outcome, Setup};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::Duration;
use zookeeper_client as zk;

/// The parent of every register's znode.
const ROOT: &str = "/faultline";

/// The clients of the register workload, one per worker, each with a
/// session to its home node's client port (`{addr:client}`, or `{addr}`
/// when the system file names no `client` port).
pub fn register_clients(setup: &Setup) -> Result<ClientMaker> {
    let sync_reads = match setup.option_str("reads", "sync")? {
        "sync" => true,
        "plain" => false,
        other => bail!("workload option reads: expected \"sync\" or \"plain\", got {other:?}"),
    };
    // The port named `client`, else the main one (a system file whose main
    // port is ZooKeeper's client port).
    let nodes: Vec<(String, String)> = setup
        .nodes
        .iter()
        .map(|n| match n.ports.get("client") {
            Some(port) => (n.id.clone(), format!("{}:{port}", n.host())),
            None => (n.id.clone(), n.addr.clone()),
        })
        .collect();
    let timeout = Duration::from_secs_f64(setup.spec.op_timeout);
    Ok(Box::new(move |w| {
        let (node, connect) = nodes[w % nodes.len()].clone();
        Box::new(ZkRegister {
            node,
            connect,
            timeout,
            sync_reads,
            client: None,
            sent: false,
        })
    }))
}

/// The znode of register `k`.
fn path_of(k: u64) -> String {
    format!("{ROOT}/r{k}")
}

/// One worker's ZooKeeper session (opened on first use, and again after it
/// ends).
struct ZkRegister {
    node: String,
    /// `host:port` of the home node's client port.
    connect: String,
    /// Per op, connecting included.
    timeout: Duration,
    sync_reads: bool,
    client: Option<zk::Client>,
    /// Whether the op in progress has sent a mutating request (its outcome
    /// is unknown when it then times out).
    sent: bool,
}

/// Why an op did not complete `ok`.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    /// No session could be had: nothing was sent.
    Connect(String),
    /// The server or the session said so.
    Zk(zk::Error),
    /// The op completed, but not as asked (a cas whose value differed).
    Definite(&'static str),
    /// The answer could not be understood.
    BadAnswer(String),
}

/// Whether a ZooKeeper error says for certain that a mutating request did
/// not change the data. Connection loss, expiry, a closed client, a
/// timeout and anything unknown may hide a request that was applied.
fn definite(e: &zk::Error) -> bool {
    use zk::Error as E;
    matches!(
        e,
        E::NoNode
            | E::NoAuth
            | E::BadVersion
            | E::NoChildrenForEphemerals
            | E::NodeExists
            | E::NotEmpty
            | E::InvalidAcl
            | E::AuthFailed
            | E::BadArguments(_)
            | E::NoHosts
            | E::SessionMoved
            | E::NotReadOnly
            | E::QuotaExceeded
            | E::Throttled
            | E::MarshallingError
            | E::Unimplemented
            | E::ReconfigDisabled
    )
}

/// The session cannot serve another request: open a new one.
fn session_over(e: &zk::Error) -> bool {
    use zk::Error as E;
    matches!(
        e,
        E::SessionExpired | E::ClientClosed | E::AuthFailed | E::NoHosts
    )
}

/// The outcome of a failed op: `(outcome, error, refused)`. `mutating`:
/// the op is a write or cas; `sent`: a mutating request left.
fn classify(mutating: bool, sent: bool, f: &Failure) -> (Outcome, Value, bool) {
    match f {
        Failure::Connect(msg) => (Outcome::Fail, json!(format!("connect: {msg}")), true),
        Failure::Definite(why) => (Outcome::Fail, json!(why), false),
        Failure::BadAnswer(msg) => {
            let outcome = if mutating && sent {
                Outcome::Info
            } else {
                Outcome::Fail
            };
            (outcome, json!(format!("bad answer: {msg}")), false)
        }
        Failure::Zk(e) => {
            let outcome = if !mutating || !sent || definite(e) {
                Outcome::Fail
            } else {
                Outcome::Info
            };
            let refused = matches!(e, zk::Error::NoHosts | zk::Error::ConnectionLoss) && !sent;
            (outcome, json!(error_code(e)), refused)
        }
    }
}

/// A short, stable name for a ZooKeeper error in the history.
fn error_code(e: &zk::Error) -> String {
    let debug = format!("{e:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    if name.is_empty() {
        e.to_string()
    } else {
        name
    }
}

/// A register's value from a znode's data: JSON text.
fn decode(data: &[u8]) -> std::result::Result<Value, Failure> {
    serde_json::from_slice(data).map_err(|e| {
        Failure::BadAnswer(format!(
            "data {:?} is not JSON: {e}",
            String::from_utf8_lossy(data)
        ))
    })
}

impl ZkRegister {
    /// The session, opened if there is none.
    async fn session(&mut self) -> std::result::Result<zk::Client, Failure> {
        if let Some(c) = &self.client {
            if !c.state().is_terminated() {
                return Ok(c.clone());
            }
            self.client = None;
        }
        let c = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(5))
            .with_fail_eagerly()
            .connect(&self.connect)
            .await
            .map_err(|e| Failure::Connect(error_code(&e)))?;
        // The registers' parent: a fresh cluster starts empty.
        match c
            .create(
                ROOT,
                b"",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await
        {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => {
                return Err(Failure::Connect(format!(
                    "create {ROOT}: {}",
                    error_code(&e)
                )))
            }
        }
        self.client = Some(c.clone());
        Ok(c)
    }

    async fn read(&mut self, key: u64) -> std::result::Result<Value, Failure> {
        let c = self.session().await?;
        let path = path_of(key);
        if self.sync_reads {
            c.sync(&path).await.map_err(Failure::Zk)?;
        }
        match c.get_data(&path).await {
            Ok((data, _)) => decode(&data),
            Err(zk::Error::NoNode) => Ok(Value::Null),
            Err(e) => Err(Failure::Zk(e)),
        }
    }

    async fn write(&mut self, key: u64, value: &Value) -> std::result::Result<(), Failure> {
        let c = self.session().await?;
        let path = path_of(key);
        let data = value.to_string().into_bytes();
        self.sent = true;
        match c.set_data(&path, &data, None).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(Failure::Zk(e)),
        }
        // Missing (NoNode is definite: that setData changed nothing).
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match c.create(&path, &data, &opts).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(Failure::Zk(e)),
        }
        // Someone created it meanwhile: overwrite.
        c.set_data(&path, &data, None)
            .await
            .map(|_| ())
            .map_err(Failure::Zk)
    }

    async fn cas(
        &mut self,
        key: u64,
        from: &Value,
        to: &Value,
    ) -> std::result::Result<(), Failure> {
        let c = self.session().await?;
        let path = path_of(key);
        let (data, stat) = match c.get_data(&path).await {
            Ok(x) => x,
            Err(zk::Error::NoNode) => return Err(Failure::Definite("precondition-failed")),
            Err(e) => return Err(Failure::Zk(e)),
        };
        if decode(&data)? != *from {
            return Err(Failure::Definite("precondition-failed"));
        }
        self.sent = true;
        c.set_data(&path, to.to_string().as_bytes(), Some(stat.version))
            .await
            .map(|_| ())
            .map_err(|e| match e {
                zk::Error::BadVersion => Failure::Definite("precondition-failed"),
                e => Failure::Zk(e),
            })
    }

    async fn attempt(&mut self, op: &Op) -> std::result::Result<Value, Failure> {
        match op.f {
            "read" => self.read(op.key()).await,
            "write" => self
                .write(op.key(), &op.value)
                .await
                .map(|_| op.value.clone()),
            "cas" => {
                let (from, to) = (&op.value[0], &op.value[1]);
                self.cas(op.key(), from, to).await.map(|_| op.value.clone())
            }
            other => Err(Failure::BadAnswer(format!("unknown op {other}"))),
        }
    }

    async fn run(&mut self, op: &Op) -> Completion {
        self.sent = false;
        let res = match tokio::time::timeout(self.timeout, self.attempt(op)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Zk(zk::Error::Timeout)),
        };
        match res {
            Ok(value) => Completion {
                outcome: Outcome::Ok,
                value,
                error: None,
                refused: false,
                answer: Value::Null,
            },
            Err(f) => {
                if let Failure::Zk(e) = &f {
                    if session_over(e) {
                        self.client = None;
                    }
                }
                let (outcome, error, refused) = classify(op.f != "read", self.sent, &f);
                Completion {
                    outcome,
                    value: op.value.clone(),
                    error: Some(error),
                    refused,
                    answer: Value::Null,
                }
            }
        }
    }
}

impl Client for ZkRegister {
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
    fn reads_always_fail_definitely() {
        for e in [
            zk::Error::ConnectionLoss,
            zk::Error::Timeout,
            zk::Error::SessionExpired,
        ] {
            assert_eq!(classify(false, false, &Failure::Zk(e)).0, Outcome::Fail);
        }
        let bad = Failure::BadAnswer("x".into());
        assert_eq!(classify(false, false, &bad).0, Outcome::Fail);
    }

    #[test]
    fn writes_are_unknown_once_sent_unless_the_error_is_definite() {
        let lost = Failure::Zk(zk::Error::ConnectionLoss);
        assert_eq!(classify(true, true, &lost).0, Outcome::Info);
        // Lost before anything mutating left (the cas's getData): definite.
        assert_eq!(classify(true, false, &lost).0, Outcome::Fail);
        for e in [
            zk::Error::Timeout,
            zk::Error::SessionExpired,
            zk::Error::ClientClosed,
            zk::Error::UnexpectedErrorCode(-999),
        ] {
            assert_eq!(classify(true, true, &Failure::Zk(e)).0, Outcome::Info);
        }
        for e in [
            zk::Error::BadVersion,
            zk::Error::NoNode,
            zk::Error::NodeExists,
            zk::Error::NoAuth,
            zk::Error::Throttled,
        ] {
            assert_eq!(classify(true, true, &Failure::Zk(e)).0, Outcome::Fail);
        }
    }

    #[test]
    fn no_session_means_fail_and_back_off() {
        let (outcome, error, refused) = classify(true, false, &Failure::Connect("NoHosts".into()));
        assert_eq!(outcome, Outcome::Fail);
        assert!(refused);
        assert_eq!(error, json!("connect: NoHosts"));
        let (o, e, _) = classify(true, true, &Failure::Definite("precondition-failed"));
        assert_eq!((o, e), (Outcome::Fail, json!("precondition-failed")));
    }

    #[test]
    fn error_codes_are_short_names() {
        assert_eq!(error_code(&zk::Error::ConnectionLoss), "ConnectionLoss");
        assert_eq!(error_code(&zk::Error::BadVersion), "BadVersion");
        assert_eq!(
            error_code(&zk::Error::UnexpectedErrorCode(-7)),
            "UnexpectedErrorCode"
        );
    }

    #[test]
    fn data_decodes_as_json_and_paths_are_per_key() {
        assert_eq!(decode(b"42"), Ok(json!(42)));
        assert_eq!(decode(b"null"), Ok(Value::Null));
        assert!(matches!(decode(b"x y"), Err(Failure::BadAnswer(m)) if m.contains("not JSON")));
        assert_eq!(path_of(7), "/faultline/r7");
    }

    #[test]
    fn expired_or_closed_sessions_are_replaced() {
        assert!(session_over(&zk::Error::SessionExpired));
        assert!(session_over(&zk::Error::ClientClosed));
        assert!(!session_over(&zk::Error::ConnectionLoss));
        assert!(!session_over(&zk::Error::BadVersion));
    }
}
