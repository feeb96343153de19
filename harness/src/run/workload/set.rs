//! The `set` workload (Jepsen's set-full): `--keys` sets, workers add
//! unique integers to them (`add`, the element as the value) and now and
//! then read a whole set (`read`, every element present). After the final
//! heal every set is read once more, by fresh clients (so each first asks
//! for the current primary). Judged by the set-full checker, key by key:
//! an element whose add was acknowledged, or that a read showed, and that
//! a later read misses is lost.

use super::{
    all, BoxFuture, Client, ClientMaker, Driver, Generator, Op, OpStream, Outcome, PacedShare,
    Setup, Worker, Workload, WorkloadKind,
};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Set;

impl WorkloadKind for Set {
    fn name(&self) -> &'static str {
        "set"
    }

    fn describe(&self) -> &'static str {
        "sets of unique integers (add, read), read again after the final heal; acknowledged adds that vanish are lost (set-full)"
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["resp"]
    }

    fn options(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn build(&self, setup: &Setup) -> Result<Arc<dyn Workload>> {
        let spec = setup.spec;
        let clients: ClientMaker = match spec.def.protocol.as_str() {
            "resp" => super::resp::clients(setup, super::resp::Mode::Set)?,
            other => bail!("the set workload has no client for protocol {other:?}"),
        };
        Ok(Arc::new(SetRun {
            gen: Arc::new(Mutex::new(SetGen::new(spec.seed, spec.keys))),
            keys: spec.keys.max(1) as u64,
            clients,
        }))
    }
}

struct SetRun {
    gen: Arc<Mutex<SetGen>>,
    keys: u64,
    clients: ClientMaker,
}

impl Workload for SetRun {
    fn generator(&self, _worker: usize) -> Box<dyn Generator> {
        Box::new(PacedShare::new(self.gen.clone()))
    }

    fn client(&self, worker: usize) -> Box<dyn Client> {
        (self.clients)(worker)
    }

    fn final_phase<'a>(&'a self, driver: &'a Driver, workers: Vec<Worker>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            let n = workers.len().max(1) as u64;
            let mut mine = Vec::new();
            for (rank, mut w) in workers.into_iter().enumerate() {
                // A fresh client asks the sentinels again: the final read
                // goes to the primary of the healed cluster.
                w.client = (self.clients)(rank);
                let keys: Vec<u64> = (0..self.keys).filter(|k| k % n == rank as u64).collect();
                mine.push((w, keys));
            }
            let reads = mine
                .into_iter()
                .map(|(mut w, keys)| async move {
                    for key in keys {
                        for attempt in 0..10u64 {
                            if Instant::now() >= deadline || driver.stopped() {
                                return;
                            }
                            let op = Op::read(key);
                            if driver.run_op(&mut w, &op).await.outcome == Outcome::Ok {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                        }
                    }
                })
                .collect::<Vec<_>>();
            all(reads).await;
        })
    }

    fn checkers(&self) -> Vec<String> {
        vec!["set-full".to_string()]
    }
}

/// The op stream: one op in ten a read of a random set, the others adds
/// of the next unused integer to a random set.
#[derive(Debug, Clone)]
pub struct SetGen {
    rng: ChaCha8Rng,
    keys: u64,
    next_element: i64,
}

impl SetGen {
    pub fn new(seed: u64, keys: usize) -> SetGen {
        SetGen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            keys: keys.max(1) as u64,
            next_element: 0,
        }
    }

    pub fn next_op(&mut self) -> Op {
        let key = self.rng.random_range(0..self.keys);
        if self.rng.random_range(0..10) == 0 {
            return Op::read(key);
        }
        let e = self.next_element;
        self.next_element += 1;
        Op {
            f: "add",
            key: Some(key),
            value: json!(e),
        }
    }
}

impl OpStream for SetGen {
    fn next_op(&mut self) -> Op {
        SetGen::next_op(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_are_unique_and_the_stream_is_a_function_of_the_seed() {
        let ops = |seed| {
            let mut g = SetGen::new(seed, 3);
            (0..500).map(|_| g.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(ops(5), ops(5));
        assert_ne!(ops(5), ops(6));
        let mut adds: Vec<i64> = ops(5)
            .iter()
            .filter(|o| o.f == "add")
            .map(|o| o.value.as_i64().unwrap())
            .collect();
        let n = adds.len();
        assert!(n > 400, "{n}");
        adds.dedup();
        assert_eq!(adds.len(), n);
        assert!(ops(5).iter().all(|o| o.key() < 3));
        assert!(ops(5).iter().any(|o| o.f == "read"));
    }
}
