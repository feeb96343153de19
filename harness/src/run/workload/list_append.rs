//! The transactional workloads `list-append` and `rw-register` (Elle's
//! append and wr generators): transactions of 1 to 4 micro-ops over a small
//! pool of active keys (`key_count`, default 5), each micro-op a read
//! (`["r", k, null]`) or, half the time, a write: `["append", k, v]` for
//! list-append, `["w", k, v]` for rw-register. Values are unique per key (a
//! per-key counter from 1); a key that has had `max_writes_per_key` writes
//! (default 32) is retired for a fresh one, so the key space rotates. One
//! seeded op stream is shared by every worker, as in `register`.
//!
//! A transaction is recorded with `f = "txn"`, the micro-ops as its value
//! and no `key` (it spans several); the `ok` completion carries what every
//! read saw. After the final heal every key ever used is read again, up to
//! four keys per read-only transaction. Judged by the isolation checker
//! (`list-append:MODEL`, `rw-register:MODEL`), MODEL being the level's
//! `claims` option (default `strict-serializable`).
//!
//! Clients: `faultline-http` (`POST /txn` with `{"ops": [...]}`; a 200's
//! `ops` is the completion) and `postgres` ([`super::postgres`]).

use super::faultline_http::Conn;
use super::{
    all, BoxFuture, Client, ClientMaker, Completion, Driver, Generator, Op, OpStream, Outcome,
    PacedShare, Setup, Worker, Workload, WorkloadKind,
};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which data model the micro-ops follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    ListAppend,
    RwRegister,
}

impl TxnKind {
    pub fn name(self) -> &'static str {
        match self {
            TxnKind::ListAppend => "list-append",
            TxnKind::RwRegister => "rw-register",
        }
    }

    /// The write micro-op's function.
    pub fn write_f(self) -> &'static str {
        match self {
            TxnKind::ListAppend => "append",
            TxnKind::RwRegister => "w",
        }
    }
}

/// A transactional workload in the registry.
pub struct TxnWorkload(pub TxnKind);

pub static LIST_APPEND: TxnWorkload = TxnWorkload(TxnKind::ListAppend);
pub static RW_REGISTER: TxnWorkload = TxnWorkload(TxnKind::RwRegister);

/// The default required isolation model (Elle's for list-append).
pub const DEFAULT_CLAIM: &str = "strict-serializable";
/// Active keys at once (Elle's `:key-count`).
pub const DEFAULT_KEY_COUNT: u64 = 5;
/// Writes before a key is retired (Elle's `:max-writes-per-key`).
pub const DEFAULT_MAX_WRITES: u64 = 32;

impl WorkloadKind for TxnWorkload {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn describe(&self) -> &'static str {
        match self.0 {
            TxnKind::ListAppend => "transactions of 1-4 reads and appends to lists over a rotating key set, final reads of every key; checked by the isolation checker (Elle's list-append)",
            TxnKind::RwRegister => "transactions of 1-4 reads and writes of registers over a rotating key set, final reads of every key; checked by the isolation checker (Elle's rw-register)",
        }
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["faultline-http", "postgres"]
    }

    fn options(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "claims",
                "the isolation model the level claims, which the checker requires (default strict-serializable)",
            ),
            ("key_count", "keys in use at once (default 5)"),
            (
                "max_writes_per_key",
                "writes to a key before it is retired for a fresh one (default 32)",
            ),
            (
                "isolation",
                "postgres: the transactions' isolation level: serializable, repeatable-read or read-committed (default serializable)",
            ),
            (
                "user",
                "postgres: the user the clients connect as (default postgres)",
            ),
            (
                "dbname",
                "postgres: the database the clients connect to (default postgres)",
            ),
            (
                "primary",
                "postgres: the node every transaction goes to (a primary with standbys; default: each worker's own node)",
            ),
        ]
    }

    fn build(&self, setup: &Setup) -> Result<Arc<dyn Workload>> {
        let kind = self.0;
        let spec = setup.spec;
        let claims = setup.option_str("claims", DEFAULT_CLAIM)?;
        let Some(model) = checker::txn::lattice::canonical(claims) else {
            bail!(
                "workload option claims: unknown isolation model {claims:?} (known: {})",
                checker::txn::lattice::MODELS.join(", ")
            );
        };
        let key_count = setup.option_count("key_count", DEFAULT_KEY_COUNT)?;
        let max_writes = setup.option_count("max_writes_per_key", DEFAULT_MAX_WRITES)?;
        let clients: ClientMaker = match spec.def.protocol.as_str() {
            "postgres" => super::postgres::clients(setup, kind)?,
            "faultline-http" => {
                let timeout = Duration::from_secs_f64(spec.op_timeout);
                let conns: Vec<Conn> = setup.nodes.iter().map(Conn::new).collect();
                Box::new(move |w| {
                    Box::new(HttpTxnClient {
                        conn: conns[w % conns.len()].clone(),
                        timeout,
                    })
                })
            }
            other => bail!(
                "the {} workload has no client for protocol {other:?}",
                kind.name()
            ),
        };
        Ok(Arc::new(TxnRun {
            kind,
            model: model.to_string(),
            gen: Arc::new(Mutex::new(TxnGen::new(
                kind, spec.seed, key_count, max_writes,
            ))),
            clients,
        }))
    }
}

struct TxnRun {
    kind: TxnKind,
    /// The required model (canonical name).
    model: String,
    gen: Arc<Mutex<TxnGen>>,
    clients: ClientMaker,
}

/// Keys read by one final read-only transaction.
const FINAL_KEYS_PER_TXN: usize = 4;

impl Workload for TxnRun {
    fn generator(&self, _worker: usize) -> Box<dyn Generator> {
        Box::new(PacedShare::new(self.gen.clone()))
    }

    fn client(&self, worker: usize) -> Box<dyn Client> {
        (self.clients)(worker)
    }

    fn final_phase<'a>(&'a self, driver: &'a Driver, workers: Vec<Worker>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let keys_used = self.gen.lock().unwrap().keys_used();
            let deadline = Instant::now() + Duration::from_secs(60);
            let reads = final_reads(keys_used);
            let n = workers.len().max(1);
            let tasks: Vec<_> = workers
                .into_iter()
                .enumerate()
                .map(|(rank, mut w)| {
                    let mine: Vec<Op> = reads
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % n == rank)
                        .map(|(_, op)| op.clone())
                        .collect();
                    async move {
                        for op in mine {
                            for attempt in 0..5u64 {
                                if Instant::now() >= deadline || driver.stopped() {
                                    return;
                                }
                                if driver.run_op(&mut w, &op).await.outcome == Outcome::Ok {
                                    break;
                                }
                                tokio::time::sleep(Duration::from_millis(100 * (attempt + 1)))
                                    .await;
                            }
                        }
                    }
                })
                .collect();
            all(tasks).await;
        })
    }

    fn checkers(&self) -> Vec<String> {
        vec![format!("{}:{}", self.kind.name(), self.model)]
    }
}

/// The final read-only transactions: every key in `0..keys_used`, up to
/// [`FINAL_KEYS_PER_TXN`] per transaction.
pub fn final_reads(keys_used: u64) -> Vec<Op> {
    let keys: Vec<u64> = (0..keys_used).collect();
    keys.chunks(FINAL_KEYS_PER_TXN)
        .map(|ks| txn_op(ks.iter().map(|k| json!(["r", k, null])).collect()))
        .collect()
}

/// A transaction op over `mops`.
pub fn txn_op(mops: Vec<Value>) -> Op {
    Op {
        f: "txn",
        key: None,
        value: Value::Array(mops),
    }
}

/// Whether a transaction only reads (its failure is then always definite).
pub fn read_only(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|m| m.iter().all(|x| x[0] == "r"))
}

/// One active key and how many writes it has had.
#[derive(Debug, Clone)]
struct ActiveKey {
    id: u64,
    writes: u64,
}

/// The op stream (Elle's append / wr generator).
#[derive(Debug, Clone)]
pub struct TxnGen {
    kind: TxnKind,
    rng: ChaCha8Rng,
    active: Vec<ActiveKey>,
    next_key: u64,
    max_writes: u64,
}

impl TxnGen {
    pub fn new(kind: TxnKind, seed: u64, key_count: u64, max_writes: u64) -> TxnGen {
        let key_count = key_count.max(1);
        TxnGen {
            kind,
            rng: ChaCha8Rng::seed_from_u64(seed),
            active: (0..key_count)
                .map(|id| ActiveKey { id, writes: 0 })
                .collect(),
            next_key: key_count,
            max_writes: max_writes.max(1),
        }
    }

    /// Every key handed out so far (0..this).
    pub fn keys_used(&self) -> u64 {
        self.next_key
    }

    pub fn next_op(&mut self) -> Op {
        let len = self.rng.random_range(1..=4);
        let mut mops = Vec::with_capacity(len);
        for _ in 0..len {
            let slot = self.rng.random_range(0..self.active.len());
            let key = self.active[slot].id;
            if self.rng.random_bool(0.5) {
                mops.push(json!(["r", key, null]));
                continue;
            }
            let a = &mut self.active[slot];
            a.writes += 1;
            mops.push(json!([self.kind.write_f(), key, a.writes]));
            if a.writes >= self.max_writes {
                *a = ActiveKey {
                    id: self.next_key,
                    writes: 0,
                };
                self.next_key += 1;
            }
        }
        txn_op(mops)
    }
}

impl OpStream for TxnGen {
    fn next_op(&mut self) -> Op {
        TxnGen::next_op(self)
    }
}

/// Checks a completion's micro-ops against the invocation's: the same
/// functions, keys and written values; reads filled in. The filled value,
/// or what is wrong.
pub fn completed(invoked: &Value, got: &Value) -> std::result::Result<Value, String> {
    let (Some(inv), Some(out)) = (invoked.as_array(), got.as_array()) else {
        return Err(format!("expected a list of micro-ops, got {got}"));
    };
    if inv.len() != out.len() {
        return Err(format!(
            "{} micro-ops sent, {} answered: {got}",
            inv.len(),
            out.len()
        ));
    }
    for (a, b) in inv.iter().zip(out) {
        let same = a[0] == b[0] && a[1] == b[1] && (a[0] == "r" || a[2] == b[2]);
        if !same || b.as_array().map(Vec::len) != Some(3) {
            return Err(format!("micro-op {a} answered as {b}"));
        }
    }
    Ok(got.clone())
}

/// One worker's client of a node's `POST /txn`.
struct HttpTxnClient {
    conn: Conn,
    timeout: Duration,
}

impl Client for HttpTxnClient {
    fn home(&self) -> &str {
        &self.conn.node
    }

    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let ro = read_only(&op.value);
            let a = self
                .conn
                .call_as(
                    "POST",
                    "/txn",
                    &json!({ "ops": op.value }),
                    self.timeout,
                    ro,
                )
                .await;
            let mut c = Completion {
                outcome: a.outcome,
                value: op.value.clone(),
                error: a.error,
                refused: a.refused,
                answer: Value::Null,
            };
            if c.outcome == Outcome::Ok {
                match completed(&op.value, &a.body["ops"]) {
                    Ok(v) => c.value = v,
                    Err(e) => {
                        // It answered 200: a write may have happened.
                        c.outcome = if ro { Outcome::Fail } else { Outcome::Info };
                        c.error = Some(json!(format!("bad answer: {e}")));
                    }
                }
            }
            c
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ops(kind: TxnKind, seed: u64, n: usize) -> (Vec<Op>, TxnGen) {
        let mut g = TxnGen::new(kind, seed, 5, 32);
        let ops = (0..n).map(|_| g.next_op()).collect();
        (ops, g)
    }

    #[test]
    fn the_stream_is_a_function_of_the_seed() {
        assert_eq!(
            ops(TxnKind::ListAppend, 3, 100).0,
            ops(TxnKind::ListAppend, 3, 100).0
        );
        assert_ne!(
            ops(TxnKind::ListAppend, 3, 100).0,
            ops(TxnKind::ListAppend, 4, 100).0
        );
    }

    #[test]
    fn txns_have_1_to_4_mops_unique_values_per_key_and_keys_rotate() {
        for kind in [TxnKind::ListAppend, TxnKind::RwRegister] {
            let (ops, g) = ops(kind, 9, 2000);
            let mut lens = BTreeMap::new();
            let mut written: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            let (mut reads, mut writes) = (0, 0);
            for op in &ops {
                assert_eq!((op.f, op.key), ("txn", None));
                let m = op.value.as_array().unwrap();
                *lens.entry(m.len()).or_insert(0) += 1;
                for x in m {
                    let k = x[1].as_u64().unwrap();
                    if x[0] == "r" {
                        assert!(x[2].is_null());
                        reads += 1;
                    } else {
                        assert_eq!(x[0], kind.write_f());
                        written.entry(k).or_default().push(x[2].as_u64().unwrap());
                        writes += 1;
                    }
                }
            }
            assert_eq!(lens.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
            assert!(reads > 1500 && writes > 1500, "{reads} {writes}");
            // Each key's values are 1, 2, 3, ... at most 32 of them.
            for (k, vs) in &written {
                let want: Vec<u64> = (1..=vs.len() as u64).collect();
                assert_eq!(vs, &want, "key {k}");
                assert!(vs.len() <= 32);
            }
            // ~2500 writes at 32 per key: the key set rotated many times.
            assert!(g.keys_used() > 60, "{}", g.keys_used());
            assert!(written.keys().all(|k| *k < g.keys_used()));
        }
    }

    #[test]
    fn final_reads_cover_every_key_four_at_a_time() {
        let reads = final_reads(10);
        assert_eq!(reads.len(), 3);
        assert_eq!(
            reads[2].value,
            json!([["r", 8, null], ["r", 9, null]]),
            "{reads:?}"
        );
        assert!(reads.iter().all(|r| read_only(&r.value)));
        assert!(!read_only(&json!([["r", 1, null], ["append", 1, 2]])));
    }

    #[test]
    fn a_completion_must_match_its_invocation() {
        let inv = json!([["r", 1, null], ["append", 1, 3]]);
        assert!(completed(&inv, &json!([["r", 1, [1, 2]], ["append", 1, 3]])).is_ok());
        assert!(completed(&inv, &json!([["r", 1, [1]]])).is_err());
        assert!(completed(&inv, &json!([["r", 1, [1]], ["append", 1, 4]])).is_err());
        assert!(completed(&inv, &json!([["r", 2, [1]], ["append", 1, 3]])).is_err());
        assert!(completed(&inv, &Value::Null).is_err());
    }

    /// The faultline-http client against a tiny server: a 200's `ops` is
    /// the completion; a definite error fails; an indefinite one is info,
    /// except for a read-only transaction.
    #[test]
    fn the_http_client_posts_txns_and_classifies_answers() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Answers in turn: ok with reads filled, a definite abort, an
        // indefinite timeout (twice: a write txn, then a read-only one).
        let answers = [
            (200, json!({"ops": [["r", 1, [1, 2]], ["append", 1, 3]]})),
            (409, json!({"error": "conflict", "definite": true})),
            (504, json!({"error": "timeout", "definite": false})),
            (504, json!({"error": "timeout", "definite": false})),
        ];
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for (status, body) in answers {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then the body by Content-Length.
                let body_in = loop {
                    let n = s.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break String::from_utf8_lossy(&buf[end + 4..end + 4 + len])
                                .to_string();
                        }
                    }
                    assert!(n > 0, "connection closed early");
                };
                bodies.push((text_head(&buf), body_in));
                let b = body.to_string();
                write!(
                    s,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                    b.len()
                )
                .unwrap();
            }
            bodies
        });
        fn text_head(buf: &[u8]) -> String {
            String::from_utf8_lossy(buf)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let node = crate::run::supervisor::NodeInfo {
            id: "n1".into(),
            index: 1,
            addr,
            ports: Default::default(),
            dir: Default::default(),
            data_dir: Default::default(),
            netns: None,
        };
        let mut c = HttpTxnClient {
            conn: Conn::new(&node),
            timeout: Duration::from_secs(5),
        };
        let w = txn_op(vec![json!(["r", 1, null]), json!(["append", 1, 3])]);
        let r = txn_op(vec![json!(["r", 1, null])]);
        let outs = rt.block_on(async {
            let mut outs = Vec::new();
            for op in [&w, &w, &w, &r] {
                outs.push(c.invoke(op).await);
            }
            outs
        });
        assert_eq!(outs[0].outcome, Outcome::Ok);
        assert_eq!(outs[0].value, json!([["r", 1, [1, 2]], ["append", 1, 3]]));
        assert_eq!(outs[1].outcome, Outcome::Fail);
        assert_eq!(outs[1].error, Some(json!("conflict")));
        assert_eq!(outs[1].value, w.value);
        assert_eq!(outs[2].outcome, Outcome::Info);
        assert_eq!(outs[3].outcome, Outcome::Fail);
        let seen = server.join().unwrap();
        assert!(seen[0].0.starts_with("POST /txn "), "{seen:?}");
        let body: Value = serde_json::from_str(&seen[0].1).unwrap();
        assert_eq!(body, json!({"ops": w.value}));
    }
}
