//! The `postgres` client protocol: PostgreSQL spoken with `tokio-postgres`,
//! the async member of rust-postgres (sfackler/rust-postgres): maintained,
//! pure Rust on tokio (the harness's runtime), with the SQLSTATE of every
//! server error as data (`Error::code`), which is what tells a definite
//! abort (40001, 40P01) from a lost connection. TLS is not used: the server
//! is the harness's own, on loopback.
//!
//! Storage is Jepsen's for its PostgreSQL test: one table `txn (k bigint
//! primary key, v text)`, a row per key. list-append's append is
//! `INSERT ... ON CONFLICT (k) DO UPDATE SET v = txn.v || ',' || excluded.v`
//! inside the transaction, a read is `SELECT v` split at the commas (no row
//! reads `null`, the empty list); rw-register's `v` holds one value, a write
//! replaces it. Each transaction is `BEGIN ISOLATION LEVEL <isolation>`, its
//! micro-ops in order, `COMMIT`, on one connection per worker, opened on the
//! worker's first op and again after a lost one. The table is created
//! (`IF NOT EXISTS`) once per node before the first transaction, retried
//! with every op until the server answers.
//!
//! Outcomes: any error before `COMMIT` (a serialization failure, a deadlock,
//! a lost connection, the op timeout) is `fail`: the transaction never
//! committed, and the server rolls it back. At `COMMIT`, a serialization
//! failure (SQLSTATE 40001) or deadlock (40P01) is `fail`; anything else
//! (the connection lost, the op timeout, another error) is `info`: it may
//! have committed. A read-only transaction always fails definitely. A
//! connection that cannot be opened is `fail`, and the node is taken as
//! refusing (the driver backs off).

use super::list_append::{read_only, TxnKind};
use super::{BoxFuture, Client, ClientMaker, Completion, Op, Outcome, Setup};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Statement};

/// The table every key lives in.
pub const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS txn (k bigint PRIMARY KEY, v text)";
const READ: &str = "SELECT v FROM txn WHERE k = $1";
const APPEND: &str = "INSERT INTO txn (k, v) VALUES ($1, $2) \
                      ON CONFLICT (k) DO UPDATE SET v = txn.v || ',' || excluded.v";
const WRITE: &str = "INSERT INTO txn (k, v) VALUES ($1, $2) \
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v";

/// The `BEGIN` of a transaction at an `isolation` option value.
pub fn begin_for(isolation: &str) -> Option<&'static str> {
    Some(match isolation {
        "serializable" => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "repeatable-read" => "BEGIN ISOLATION LEVEL REPEATABLE READ",
        "read-committed" => "BEGIN ISOLATION LEVEL READ COMMITTED",
        "read-uncommitted" => "BEGIN ISOLATION LEVEL READ UNCOMMITTED",
        _ => return None,
    })
}

/// One server as the clients see it.
struct Node {
    id: String,
    host: String,
    port: u16,
    /// Set once the table exists there.
    table: tokio::sync::OnceCell<()>,
}

struct Settings {
    nodes: Vec<Node>,
    timeout: Duration,
    kind: TxnKind,
    begin: &'static str,
    user: String,
    dbname: String,
}

/// The clients of a transactional workload, one per worker (home node
/// `w % nodes`, or the `primary` option's node). Options: `isolation`
/// (default serializable), `user` (default postgres), `dbname` (default
/// postgres), `primary` (a node id).
pub fn clients(setup: &Setup, kind: TxnKind) -> Result<ClientMaker> {
    let isolation = setup.option_str("isolation", "serializable")?;
    let Some(begin) = begin_for(isolation) else {
        bail!(
            "workload option isolation: expected serializable, repeatable-read, read-committed or read-uncommitted, got {isolation:?}"
        );
    };
    let mut nodes = Vec::new();
    for n in setup.nodes {
        let Ok(port) = n.port().parse::<u16>() else {
            bail!("node {}: no port in its address {:?}", n.id, n.addr);
        };
        nodes.push(Node {
            id: n.id.clone(),
            host: n.host().to_string(),
            port,
            table: tokio::sync::OnceCell::new(),
        });
    }
    if nodes.is_empty() {
        bail!("the postgres protocol needs at least one node");
    }
    // `primary = "n1"`: every client sends its transactions there (a
    // primary with standbys); else worker w's home is node w % nodes.
    let primary = match setup.options.get("primary") {
        None => None,
        Some(toml::Value::String(id)) => match nodes.iter().position(|n| &n.id == id) {
            Some(i) => Some(i),
            None => bail!(
                "workload option primary: no node {id:?} (nodes: {})",
                nodes
                    .iter()
                    .map(|n| n.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        Some(v) => bail!("workload option primary: expected a node id like \"n1\", got {v}"),
    };
    let s = Arc::new(Settings {
        nodes,
        timeout: Duration::from_secs_f64(setup.spec.op_timeout),
        kind,
        begin,
        user: setup.option_str("user", "postgres")?.to_string(),
        dbname: setup.option_str("dbname", "postgres")?.to_string(),
    });
    Ok(Box::new(move |w| {
        Box::new(Pg {
            s: s.clone(),
            home: primary.unwrap_or(w % s.nodes.len()),
            conn: None,
        })
    }))
}

/// An open connection and its prepared statements.
struct Conn {
    client: tokio_postgres::Client,
    read: Statement,
    write: Statement,
}

/// One worker's client.
struct Pg {
    s: Arc<Settings>,
    home: usize,
    conn: Option<Conn>,
}

/// Why a step did not complete.
enum StepErr {
    Timeout,
    Pg(tokio_postgres::Error),
    /// A stored value that does not parse.
    Bad(String),
}

impl StepErr {
    fn text(&self) -> String {
        match self {
            StepErr::Timeout => "client-timeout".to_string(),
            StepErr::Pg(e) => describe(e),
            StepErr::Bad(m) => m.clone(),
        }
    }

    /// A serialization failure or deadlock: the server aborted the
    /// transaction.
    fn aborted(&self) -> bool {
        matches!(self, StepErr::Pg(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED))
    }

    /// The connection is unusable after it.
    fn lost(&self) -> bool {
        match self {
            StepErr::Timeout => true,
            StepErr::Pg(e) => e.is_closed() || e.as_db_error().is_none(),
            StepErr::Bad(_) => false,
        }
    }
}

/// An error as recorded: `SQLSTATE message` for a server error.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} {}", d.code().code(), d.message()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(c) = src {
                s.push_str(": ");
                s.push_str(&c.to_string());
                src = c.source();
            }
            s
        }
    }
}

/// `fut`, unless `deadline` passes first.
async fn step<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> std::result::Result<T, StepErr> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(StepErr::Pg(e)),
        Err(_) => Err(StepErr::Timeout),
    }
}

/// A read's text as the micro-op's value: list-append's comma-separated
/// list, rw-register's one integer; no row is `null`.
pub fn parse_read(kind: TxnKind, v: Option<&str>) -> std::result::Result<Value, String> {
    let Some(v) = v else {
        return Ok(Value::Null);
    };
    let int = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("stored value {v:?} is not what was written"))
    };
    match kind {
        TxnKind::ListAppend if v.is_empty() => Ok(json!([])),
        TxnKind::ListAppend => v
            .split(',')
            .map(int)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(|l| json!(l)),
        TxnKind::RwRegister => int(v).map(|i| json!(i)),
    }
}

impl Pg {
    async fn connect(&self, deadline: Instant) -> std::result::Result<Conn, StepErr> {
        let n = &self.s.nodes[self.home];
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&n.host)
            .port(n.port)
            .user(&self.s.user)
            .dbname(&self.s.dbname)
            .application_name("faultline")
            .connect_timeout(self.s.timeout);
        let (client, connection) = step(deadline, cfg.connect(NoTls)).await?;
        // The connection's I/O runs on its own task; it ends when the
        // client is dropped or the socket closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        // The table first (once per node), then the statements that use it.
        n.table
            .get_or_try_init(|| async {
                match step(deadline, client.batch_execute(CREATE_TABLE)).await {
                    // A concurrent CREATE from another harness client can
                    // still race on the catalog: the table is there then.
                    Err(StepErr::Pg(e)) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(()),
                    other => other,
                }
            })
            .await?;
        let read = step(deadline, client.prepare(READ)).await?;
        let write_sql = match self.s.kind {
            TxnKind::ListAppend => APPEND,
            TxnKind::RwRegister => WRITE,
        };
        let write = step(deadline, client.prepare(write_sql)).await?;
        Ok(Conn {
            client,
            read,
            write,
        })
    }

    /// BEGIN, the micro-ops, COMMIT; the filled micro-ops, or the error
    /// and whether it came at COMMIT.
    async fn txn(
        &self,
        c: &Conn,
        mops: &[Value],
        deadline: Instant,
    ) -> std::result::Result<Value, (StepErr, bool)> {
        let before = |e| (e, false);
        step(deadline, c.client.batch_execute(self.s.begin))
            .await
            .map_err(before)?;
        let mut out = Vec::with_capacity(mops.len());
        for m in mops {
            let f = m[0].as_str().unwrap_or("");
            let k = m[1].as_i64().unwrap_or(0);
            if f == "r" {
                let row = step(deadline, c.client.query_opt(&c.read, &[&k]))
                    .await
                    .map_err(before)?;
                let text: Option<String> = row.and_then(|r| r.get(0));
                let v = parse_read(self.s.kind, text.as_deref())
                    .map_err(|e| (StepErr::Bad(e), false))?;
                out.push(json!(["r", k, v]));
            } else {
                let v = m[2].to_string();
                step(deadline, c.client.execute(&c.write, &[&k, &v]))
                    .await
                    .map_err(before)?;
                out.push(m.clone());
            }
        }
        step(deadline, c.client.batch_execute("COMMIT"))
            .await
            .map_err(|e| (e, true))?;
        Ok(Value::Array(out))
    }
}

impl Client for Pg {
    fn home(&self) -> &str {
        &self.s.nodes[self.home].id
    }

    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let deadline = Instant::now() + self.s.timeout;
            let ro = read_only(&op.value);
            let fail = |outcome, error: String, refused| Completion {
                outcome,
                value: op.value.clone(),
                error: Some(json!(error)),
                refused,
                answer: Value::Null,
            };
            if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                self.conn = None;
            }
            if self.conn.is_none() {
                match self.connect(deadline).await {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        // Nothing of the transaction was sent.
                        return fail(Outcome::Fail, format!("connect: {}", e.text()), true);
                    }
                }
            }
            let c = self.conn.as_ref().expect("connected above");
            let mops = op.value.as_array().map(Vec::as_slice).unwrap_or(&[]);
            match self.txn(c, mops, deadline).await {
                Ok(v) => Completion {
                    outcome: Outcome::Ok,
                    value: v,
                    error: None,
                    refused: false,
                    answer: Value::Null,
                },
                Err((e, at_commit)) => {
                    let outcome = if ro || !at_commit || e.aborted() {
                        Outcome::Fail
                    } else {
                        Outcome::Info
                    };
                    if e.lost() {
                        self.conn = None;
                    } else if !at_commit {
                        // The server answered with an error inside the
                        // transaction: end it so the connection can be
                        // used again (a failed ROLLBACK drops it).
                        let rb = step(
                            Instant::now() + self.s.timeout,
                            c.client.batch_execute("ROLLBACK"),
                        )
                        .await;
                        if rb.is_err() {
                            self.conn = None;
                        }
                    }
                    fail(outcome, e.text(), false)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parse_as_jepsen_stores_them() {
        let la = TxnKind::ListAppend;
        assert_eq!(parse_read(la, None), Ok(Value::Null));
        assert_eq!(parse_read(la, Some("1,2,3")), Ok(json!([1, 2, 3])));
        assert_eq!(parse_read(la, Some("7")), Ok(json!([7])));
        assert!(parse_read(la, Some("1,x")).is_err());
        let rw = TxnKind::RwRegister;
        assert_eq!(parse_read(rw, Some("4")), Ok(json!(4)));
        assert_eq!(parse_read(rw, None), Ok(Value::Null));
    }

    #[test]
    fn isolation_options_name_levels() {
        assert_eq!(
            begin_for("repeatable-read"),
            Some("BEGIN ISOLATION LEVEL REPEATABLE READ")
        );
        assert_eq!(begin_for("snapshot"), None);
    }
}
