//! The `register` workload: independent cas-registers. `--keys` registers
//! are in use at once, each for `--ops-per-key` ops, then replaced by a
//! fresh one; reads half the time, writes of unique values and cas a
//! quarter each. After the final heal every worker reads its share of every
//! key used on its node. Judged per key for linearizability (cas-register)
//! and placed on the single-object consistency hierarchy.

use super::faultline_http::Conn;
use super::{
    BoxFuture, Client, ClientMaker, Completion, Driver, Generator, Op, OpStream, Outcome,
    PacedShare, Setup, Worker, Workload, WorkloadKind,
};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Register;

impl WorkloadKind for Register {
    fn name(&self) -> &'static str {
        "register"
    }

    fn describe(&self) -> &'static str {
        "independent cas-registers (read, write, cas), checked per key for linearizability and placed among weaker models"
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["faultline-http", "etcd", "resp", "zookeeper"]
    }

    fn options(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "claims",
            "the consistency model the level claims, which the run requires: linearizable (default: linearizability per key, and the informational consistency hierarchy), or a weaker single-object model (sequential, causal, pram, monotonic-reads, monotonic-writes, read-your-writes, writes-follow-reads: judged by consistency:MODEL, online too)",
        )]
    }

    fn build(&self, setup: &Setup) -> Result<Arc<dyn Workload>> {
        let spec = setup.spec;
        let checkers = checkers_for_claim(setup.option_str("claims", "linearizable")?)?;
        let timeout = Duration::from_secs_f64(spec.op_timeout);
        let clients: ClientMaker = match spec.def.protocol.as_str() {
            "etcd" => super::etcd::register_clients(setup)?,
            "resp" => super::resp::clients(setup, super::resp::Mode::Register)?,
            "zookeeper" => super::zookeeper::register_clients(setup)?,
            _ => {
                let conns: Vec<Conn> = setup.nodes.iter().map(Conn::new).collect();
                Box::new(move |w| {
                    Box::new(RegisterClient {
                        conn: conns[w % conns.len()].clone(),
                        timeout,
                    })
                })
            }
        };
        Ok(Arc::new(RegisterRun {
            gen: Arc::new(Mutex::new(OpGen::new(
                spec.seed,
                spec.keys,
                spec.ops_per_key,
            ))),
            nodes: setup.nodes.iter().map(|n| n.id.clone()).collect(),
            clients,
            checkers,
        }))
    }
}

/// The checkers that judge a register run whose level claims `claim`.
fn checkers_for_claim(claim: &str) -> Result<Vec<String>> {
    use checker::consistency::Model;
    let Some(model) = Model::ALL
        .into_iter()
        .find(|m| m.key() == claim || m.name() == claim)
    else {
        anyhow::bail!(
            "workload option claims: unknown consistency model {claim:?} (known: {})",
            Model::ALL.map(|m| m.key()).join(", ")
        );
    };
    Ok(if model == Model::Linearizable {
        vec![
            "linearizability:cas-register".to_string(),
            "consistency".to_string(),
        ]
    } else {
        // The required model's check also places the history on the
        // hierarchy (its details), so the informational pass is not run
        // again.
        vec![format!("consistency:{}", model.key())]
    })
}

struct RegisterRun {
    /// One op stream shared by every worker: the sequence of ops handed
    /// out is a pure function of the seed.
    gen: Arc<Mutex<OpGen>>,
    /// The node ids, in order.
    nodes: Vec<String>,
    /// Worker w's client (of the system's protocol), bound to node
    /// `w % nodes`.
    clients: ClientMaker,
    /// The checkers the level's claim calls for ([`checkers_for_claim`]).
    checkers: Vec<String>,
}

impl Workload for RegisterRun {
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
            let mut by_node: Vec<Vec<Worker>> = self.nodes.iter().map(|_| Vec::new()).collect();
            for w in workers {
                if let Some(i) = self.nodes.iter().position(|id| id == w.client.home()) {
                    by_node[i].push(w);
                }
            }
            let mut tasks = Vec::new();
            for mine in by_node {
                let k = mine.len() as u64;
                for (rank, mut w) in mine.into_iter().enumerate() {
                    let keys: Vec<u64> = (0..keys_used)
                        .filter(|key| key % k == rank as u64)
                        .collect();
                    tasks.push(async move {
                        final_reads(driver, &mut w, keys, deadline).await;
                    });
                }
            }
            super::all(tasks).await;
        })
    }

    fn checkers(&self) -> Vec<String> {
        self.checkers.clone()
    }
}

/// Reads `keys` through `w`, each until one read succeeds (at most five
/// tries), stopping at `deadline`.
async fn final_reads(driver: &Driver, w: &mut Worker, keys: Vec<u64>, deadline: Instant) {
    for key in keys {
        for attempt in 0..5u64 {
            if Instant::now() >= deadline || driver.stopped() {
                return;
            }
            let op = Op::read(key);
            if driver.run_op(w, &op).await.outcome == Outcome::Ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
        }
    }
}

#[derive(Debug, Clone)]
struct KeyState {
    id: u64,
    used: usize,
    /// The value the generator last wrote or cas'd to (a guess at the
    /// current value: right often enough that many cas succeed).
    last: Option<i64>,
}

/// The op stream: `keys` registers at once, each for `ops_per_key` ops.
#[derive(Debug, Clone)]
pub struct OpGen {
    rng: ChaCha8Rng,
    active: Vec<KeyState>,
    next_key: u64,
    next_value: i64,
    ops_per_key: usize,
}

impl OpGen {
    pub fn new(seed: u64, keys: usize, ops_per_key: usize) -> OpGen {
        let keys = keys.max(1);
        OpGen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            active: (0..keys as u64)
                .map(|id| KeyState {
                    id,
                    used: 0,
                    last: None,
                })
                .collect(),
            next_key: keys as u64,
            next_value: 1,
            ops_per_key: ops_per_key.max(1),
        }
    }

    /// Every key handed out so far (0..this).
    pub fn keys_used(&self) -> u64 {
        self.next_key
    }

    pub fn next_op(&mut self) -> Op {
        let slot = self.rng.random_range(0..self.active.len());
        let roll: u32 = self.rng.random_range(0..4);
        let ks = &mut self.active[slot];
        let key = ks.id;
        let op = match (roll, ks.last) {
            (0 | 1, _) => Op::read(key),
            (3, Some(from)) => {
                let to = self.next_value;
                self.next_value += 1;
                ks.last = Some(to);
                Op {
                    f: "cas",
                    key: Some(key),
                    value: json!([from, to]),
                }
            }
            _ => {
                let v = self.next_value;
                self.next_value += 1;
                ks.last = Some(v);
                Op {
                    f: "write",
                    key: Some(key),
                    value: json!(v),
                }
            }
        };
        ks.used += 1;
        if ks.used >= self.ops_per_key {
            *ks = KeyState {
                id: self.next_key,
                used: 0,
                last: None,
            };
            self.next_key += 1;
        }
        op
    }
}

/// One worker's client of a node's `/kv` API.
struct RegisterClient {
    conn: Conn,
    timeout: Duration,
}

impl Client for RegisterClient {
    fn home(&self) -> &str {
        &self.conn.node
    }

    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let path = format!("/kv/{}", op.key());
            let a = match op.f {
                "read" => {
                    self.conn
                        .call("GET", &path, &Value::Null, self.timeout)
                        .await
                }
                "write" => {
                    self.conn
                        .call("PUT", &path, &json!({ "value": op.value }), self.timeout)
                        .await
                }
                _ => {
                    let body = json!({ "from": op.value[0], "to": op.value[1] });
                    self.conn
                        .call("POST", &format!("{path}/cas"), &body, self.timeout)
                        .await
                }
            };
            let mut c = Completion {
                outcome: a.outcome,
                value: op.value.clone(),
                error: a.error,
                refused: a.refused,
                answer: Value::Null,
            };
            if c.outcome == Outcome::Ok && op.f == "read" {
                match a.body.get("value") {
                    Some(v) => c.value = v.clone(),
                    None => {
                        c.outcome = Outcome::Fail;
                        c.error = Some(json!(format!("bad answer: {}", a.body)));
                    }
                }
            }
            c
        })
    }
}

impl OpStream for OpGen {
    fn next_op(&mut self) -> Op {
        OpGen::next_op(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::workload::Next;

    #[test]
    fn a_levels_claim_picks_the_checkers_that_judge_it() {
        assert_eq!(
            checkers_for_claim("linearizable").unwrap(),
            ["linearizability:cas-register", "consistency"]
        );
        assert_eq!(checkers_for_claim("PRAM").unwrap(), ["consistency:pram"]);
        assert_eq!(
            checkers_for_claim("monotonic-reads").unwrap(),
            ["consistency:monotonic-reads"]
        );
        // Every claim's checkers build, and count online.
        let opts = checker::checkers::Options::default();
        for m in checker::consistency::Model::ALL {
            let names = checkers_for_claim(m.key()).unwrap();
            checker::checkers::compose(&names, &opts).unwrap();
            assert!(names.iter().any(|n| crate::run::online::per_key(n)));
        }
        let e = checkers_for_claim("serializable").unwrap_err().to_string();
        assert!(e.contains("claims") && e.contains("sequential"), "{e}");
    }

    #[test]
    fn the_op_stream_is_a_function_of_the_seed() {
        let ops = |seed| {
            let mut g = OpGen::new(seed, 3, 10);
            (0..200).map(|_| g.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(ops(7), ops(7));
        assert_ne!(ops(7), ops(8));
    }

    #[test]
    fn keys_rotate_and_values_are_unique() {
        let mut g = OpGen::new(1, 2, 5);
        let ops: Vec<Op> = (0..100).map(|_| g.next_op()).collect();
        // 100 ops, 5 per key: 20 keys used in all.
        assert_eq!(g.keys_used(), 2 + 100 / 5);
        let mut per_key = std::collections::BTreeMap::new();
        for op in &ops {
            *per_key.entry(op.key()).or_insert(0) += 1;
        }
        assert!(per_key.values().all(|&n| n <= 5), "{per_key:?}");
        let mut written: Vec<i64> = ops
            .iter()
            .filter_map(|o| match o.f {
                "write" => o.value.as_i64(),
                "cas" => o.value[1].as_i64(),
                _ => None,
            })
            .collect();
        let n = written.len();
        written.sort();
        written.dedup();
        assert_eq!(written.len(), n, "a value was written twice");
        // A cas compares against the value the generator last gave its key.
        let mut last = std::collections::HashMap::new();
        for o in &ops {
            match o.f {
                "write" => {
                    last.insert(o.key(), o.value.clone());
                }
                "cas" => {
                    assert_eq!(last.get(&o.key()), Some(&o.value[0]), "{o:?}");
                    last.insert(o.key(), o.value[1].clone());
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_op_is_paced() {
        let mut g = PacedShare::new(Arc::new(Mutex::new(OpGen::new(1, 1, 10))));
        for _ in 0..5 {
            assert_eq!(g.next(None), Next::Pace);
            assert!(matches!(g.next(None), Next::Op(_)));
        }
    }
}
