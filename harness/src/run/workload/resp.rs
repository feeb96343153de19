//! The `resp` client protocol: Redis behind Sentinel, spoken with the
//! `redis` crate (redis-rs) on tokio. Each worker asks the sentinels (every
//! node's `{port:sentinel}`, its home node's first) for the primary of the
//! master name [`MASTER`], which the crate confirms with `ROLE`, and sends
//! every op there over one connection; after any error it drops the
//! connection and asks the sentinels again before its next op.
//!
//! Ops: the register workload's `read` is `GET r<k>` (a missing key reads
//! JSON `null`), `write` is `SET`, `cas` a Lua script (`EVAL`: compare, then
//! set); the set workload's `add` is `SADD s<k>` and its `read` `SMEMBERS`.
//! Values are decimal integers.
//!
//! Levels set the workload option `wait_replicas`: above 0, every write,
//! successful cas and add is followed by `WAIT wait_replicas
//! wait_timeout_ms`; fewer replicas acknowledging than asked ends the op
//! `info` (it took effect on the primary, and may yet be lost).
//!
//! Outcomes: a read that fails is definite. An error reply from the server
//! (`READONLY`, `LOADING`, a script error) means the command was refused:
//! `fail`. So does an op that never reached a primary (no sentinel answered,
//! the primary refused the connection). A timeout or a connection lost
//! mid-request may have taken effect: `info`.

use super::{BoxFuture, Client, ClientMaker, Completion, Op, Outcome, Setup};
use anyhow::{bail, Result};
use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionAddr, ErrorKind, RedisError};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The master name the sentinels monitor (`systems/defs/redis.toml`).
pub const MASTER: &str = "faultline";

/// Compare-and-set: `SET KEYS[1] ARGV[2]` when it holds `ARGV[1]`; 1 when
/// it did, 0 when not.
const CAS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                   redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// Which workload's ops a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// read / write / cas on `r<k>`.
    Register,
    /// add / read on `s<k>`.
    Set,
}

/// `WAIT replicas timeout_ms` after each write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wait {
    replicas: i64,
    timeout_ms: i64,
}

/// One node as the clients see it.
#[derive(Debug, Clone)]
struct Node {
    id: String,
    host: String,
    port: u16,
    sentinel_port: u16,
}

/// What every client of a run shares.
#[derive(Debug)]
struct Settings {
    nodes: Vec<Node>,
    timeout: Duration,
    wait: Option<Wait>,
    mode: Mode,
}

/// A non-negative integer workload option, or `default`.
fn option_int(setup: &Setup, key: &str, default: i64) -> Result<i64> {
    match setup.options.get(key) {
        None => Ok(default),
        Some(toml::Value::Integer(i)) if *i >= 0 => Ok(*i),
        Some(v) => bail!("workload option {key}: expected a non-negative integer, got {v}"),
    }
}

/// The clients of a workload, one per worker (home node `w % nodes`).
pub fn clients(setup: &Setup, mode: Mode) -> Result<ClientMaker> {
    let replicas = option_int(setup, "wait_replicas", 0)?;
    let timeout_ms = option_int(setup, "wait_timeout_ms", 1000)?;
    let timeout = Duration::from_secs_f64(setup.spec.op_timeout);
    if replicas > 0 && Duration::from_millis(timeout_ms as u64) >= timeout {
        bail!(
            "workload option wait_timeout_ms: {timeout_ms} ms leaves no time in the op timeout ({:.1} s)",
            setup.spec.op_timeout
        );
    }
    let mut nodes = Vec::new();
    for n in setup.nodes {
        let Some(&sentinel_port) = n.ports.get("sentinel") else {
            bail!(
                "the resp protocol needs a `sentinel` port on every node (ports = [\"sentinel\"]); {} has none",
                n.id
            );
        };
        nodes.push(Node {
            id: n.id.clone(),
            host: n.host().to_string(),
            port: n.port().parse().unwrap_or(0),
            sentinel_port,
        });
    }
    let settings = Arc::new(Settings {
        nodes,
        timeout,
        wait: (replicas > 0).then_some(Wait {
            replicas,
            timeout_ms,
        }),
        mode,
    });
    Ok(Box::new(move |w| {
        let home = w % settings.nodes.len();
        Box::new(Resp {
            s: settings.clone(),
            home,
            rotate: 0,
            primary: home,
            conn: None,
        })
    }))
}

/// One worker's client.
struct Resp {
    s: Arc<Settings>,
    home: usize,
    /// How far to turn the sentinel list from the home node (after a
    /// sentinel lookup failed, the next one starts elsewhere).
    rotate: usize,
    /// The node the last lookup named primary (the op's recorded node).
    primary: usize,
    conn: Option<MultiplexedConnection>,
}

/// How a failed op ends: `(outcome, refused)`.
fn classify(e: &RedisError, read: bool) -> (Outcome, bool) {
    if e.is_connection_refusal() {
        return (Outcome::Fail, true);
    }
    let server_refused = matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension);
    if read || server_refused {
        (Outcome::Fail, false)
    } else {
        (Outcome::Info, false)
    }
}

/// The error of a `WAIT` that `acks` replicas answered, when fewer than
/// asked: the write is then `info`.
fn short_wait(acks: i64, wait: Wait) -> Option<String> {
    (acks < wait.replicas).then(|| {
        format!(
            "wait: {acks} of {} replicas acknowledged in {} ms",
            wait.replicas, wait.timeout_ms
        )
    })
}

/// A stored decimal integer as its JSON value.
fn parse_int(s: &str) -> std::result::Result<Value, String> {
    s.parse::<i64>()
        .map(Value::from)
        .map_err(|_| format!("bad answer: {s:?} is not an integer"))
}

type OpResult = std::result::Result<Completion, (Outcome, Value, bool)>;

fn done(outcome: Outcome, value: Value) -> Completion {
    Completion {
        outcome,
        value,
        error: None,
        refused: false,
        answer: Value::Null,
    }
}

impl Resp {
    /// Asks the sentinels for the primary and connects to it.
    async fn connect(&mut self) -> std::result::Result<(), String> {
        let n = self.s.nodes.len();
        let sentinels: Vec<String> = (0..n)
            .map(|i| &self.s.nodes[(self.home + self.rotate + i) % n])
            .map(|node| format!("redis://{}:{}/", node.host, node.sentinel_port))
            .collect();
        let timeout = self.s.timeout;
        let lookup = async {
            let mut sc = SentinelClient::build(
                sentinels,
                MASTER.to_string(),
                None,
                SentinelServerType::Master,
            )
            .map_err(|e| format!("sentinel: {e}"))?;
            let client = sc
                .async_get_client()
                .await
                .map_err(|e| format!("sentinel: {e}"))?;
            let at = match client.get_connection_info().addr() {
                ConnectionAddr::Tcp(h, p) => self
                    .s
                    .nodes
                    .iter()
                    .position(|node| &node.host == h && node.port == *p),
                _ => None,
            };
            let cfg = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout));
            let conn = client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await
                .map_err(|e| format!("connect to primary: {e}"))?;
            Ok::<_, String>((at, conn))
        };
        match tokio::time::timeout(timeout, lookup).await {
            Ok(Ok((at, conn))) => {
                if let Some(i) = at {
                    self.primary = i;
                }
                self.conn = Some(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                self.rotate += 1;
                Err(e)
            }
            Err(_) => {
                self.rotate += 1;
                Err("sentinel: no primary named in time".to_string())
            }
        }
    }

    /// Runs `cmd` on the primary, under the op timeout.
    async fn query<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        read: bool,
    ) -> std::result::Result<T, (Outcome, Value, bool)> {
        let Some(conn) = self.conn.as_mut() else {
            return Err((Outcome::Fail, json!("not connected"), true));
        };
        match tokio::time::timeout(self.s.timeout, cmd.query_async::<T>(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.conn = None;
                let (outcome, refused) = classify(&e, read);
                Err((outcome, json!(e.to_string()), refused))
            }
            Err(_) => {
                self.conn = None;
                let outcome = if read { Outcome::Fail } else { Outcome::Info };
                Err((outcome, json!("client-timeout"), false))
            }
        }
    }

    /// After a write took effect on the primary: `WAIT`, when the level
    /// asks for it.
    async fn wait(&mut self, op: &Op) -> OpResult {
        let Some(wait) = self.s.wait else {
            return Ok(done(Outcome::Ok, op.value.clone()));
        };
        let acks: i64 = self
            .query(
                redis::cmd("WAIT").arg(wait.replicas).arg(wait.timeout_ms),
                false,
            )
            .await
            // The write itself went through: whatever WAIT did, it is info.
            .map_err(|(_, e, _)| (Outcome::Info, json!(format!("wait: {e}")), false))?;
        match short_wait(acks, wait) {
            None => Ok(done(Outcome::Ok, op.value.clone())),
            Some(e) => Err((Outcome::Info, json!(e), false)),
        }
    }

    async fn run(&mut self, op: &Op) -> OpResult {
        let read = op.f == "read";
        if self.conn.is_none() {
            self.connect()
                .await
                .map_err(|e| (Outcome::Fail, json!(e), true))?;
        }
        match (self.s.mode, op.f) {
            (Mode::Register, "read") => {
                let v: Option<String> = self
                    .query(redis::cmd("GET").arg(format!("r{}", op.key())), true)
                    .await?;
                match v {
                    None => Ok(done(Outcome::Ok, Value::Null)),
                    Some(s) => parse_int(&s)
                        .map(|v| done(Outcome::Ok, v))
                        .map_err(|e| (Outcome::Fail, json!(e), false)),
                }
            }
            (Mode::Register, "write") => {
                let _: () = self
                    .query(
                        redis::cmd("SET")
                            .arg(format!("r{}", op.key()))
                            .arg(op.value.to_string()),
                        false,
                    )
                    .await?;
                self.wait(op).await
            }
            (Mode::Register, "cas") => {
                let swapped: i64 = self
                    .query(
                        redis::cmd("EVAL")
                            .arg(CAS)
                            .arg(1)
                            .arg(format!("r{}", op.key()))
                            .arg(op.value[0].to_string())
                            .arg(op.value[1].to_string()),
                        false,
                    )
                    .await?;
                if swapped == 1 {
                    self.wait(op).await
                } else {
                    Err((Outcome::Fail, json!("precondition-failed"), false))
                }
            }
            (Mode::Set, "add") => {
                let _: i64 = self
                    .query(
                        redis::cmd("SADD")
                            .arg(format!("s{}", op.key()))
                            .arg(op.value.to_string()),
                        false,
                    )
                    .await?;
                self.wait(op).await
            }
            (Mode::Set, "read") => {
                let members: Vec<String> = self
                    .query(redis::cmd("SMEMBERS").arg(format!("s{}", op.key())), true)
                    .await?;
                let mut out = Vec::with_capacity(members.len());
                for m in &members {
                    out.push(parse_int(m).map_err(|e| (Outcome::Fail, json!(e), false))?);
                }
                out.sort_by_key(|v| v.as_i64());
                Ok(done(Outcome::Ok, Value::Array(out)))
            }
            (_, other) => Err((Outcome::Fail, json!(format!("unknown op {other}")), read)),
        }
    }
}

impl Client for Resp {
    fn home(&self) -> &str {
        &self.s.nodes[self.home].id
    }

    fn node_for(&self, _op: &Op) -> String {
        self.s.nodes[self.primary].id.clone()
    }

    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            self.run(op)
                .await
                .unwrap_or_else(|(outcome, error, refused)| Completion {
                    outcome,
                    value: op.value.clone(),
                    error: Some(error),
                    refused,
                    answer: Value::Null,
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_replicas_than_asked_is_info() {
        let w = Wait {
            replicas: 2,
            timeout_ms: 500,
        };
        assert_eq!(short_wait(2, w), None);
        assert_eq!(short_wait(3, w), None);
        let e = short_wait(1, w).unwrap();
        assert!(e.contains("1 of 2"), "{e}");
        assert!(short_wait(0, w).is_some());
    }

    #[test]
    fn server_refusals_are_definite_and_lost_connections_are_not() {
        let io = |k| RedisError::from(std::io::Error::new(k, "x"));
        // Connection refused: nothing was sent.
        assert_eq!(
            classify(&io(std::io::ErrorKind::ConnectionRefused), false),
            (Outcome::Fail, true)
        );
        // Reset or timed out mid-request: a write may have happened.
        assert_eq!(
            classify(&io(std::io::ErrorKind::ConnectionReset), false),
            (Outcome::Info, false)
        );
        assert_eq!(
            classify(&io(std::io::ErrorKind::TimedOut), false),
            (Outcome::Info, false)
        );
        // A read changes nothing.
        assert_eq!(
            classify(&io(std::io::ErrorKind::ConnectionReset), true),
            (Outcome::Fail, false)
        );
        // An error reply (READONLY from a demoted primary): refused.
        let ro = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "READONLY",
        ));
        assert_eq!(classify(&ro, false), (Outcome::Fail, false));
    }

    #[test]
    fn stored_values_parse_as_integers() {
        assert_eq!(parse_int("42"), Ok(json!(42)));
        assert_eq!(parse_int("-3"), Ok(json!(-3)));
        assert!(parse_int("x").unwrap_err().contains("not an integer"));
    }
}
