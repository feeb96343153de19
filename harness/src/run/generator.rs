//! The seeded generator of the `register` workload's client op stream: a
//! pure function of the seed and the spec, so a run's schedule is
//! reproducible and testable without a cluster. Which worker runs which op,
//! and when ops complete, depends on the cluster; the sequence of ops handed
//! out does not. (The fault plan is the nemesis crate's: `nemesis::plan`.)

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::Duration;

/// One client operation of the `register` workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The register (key) this op acts on.
    pub key: u64,
    pub kind: OpKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    Read,
    /// Write a value never written before.
    Write(i64),
    /// Compare-and-set from the value the generator last gave the key.
    Cas(i64, i64),
}

impl Op {
    pub fn f(&self) -> &'static str {
        match self.kind {
            OpKind::Read => "read",
            OpKind::Write(_) => "write",
            OpKind::Cas(..) => "cas",
        }
    }

    /// The invocation's value in the history.
    pub fn value(&self) -> Value {
        match self.kind {
            OpKind::Read => Value::Null,
            OpKind::Write(v) => json!(v),
            OpKind::Cas(a, b) => json!([a, b]),
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

/// The op stream of the `register` workload: `keys` registers in use at
/// once, each for `ops_per_key` ops, then replaced by a fresh one; reads
/// half the time, writes of unique values and cas a quarter each. The delay
/// before each op gives `rate` ops/s on average with ±50% jitter.
#[derive(Debug, Clone)]
pub struct OpGen {
    rng: ChaCha8Rng,
    active: Vec<KeyState>,
    next_key: u64,
    next_value: i64,
    ops_per_key: usize,
    /// Mean gap between ops in nanoseconds; `None` for an unbounded rate.
    mean_gap_ns: Option<f64>,
}

impl OpGen {
    pub fn new(seed: u64, keys: usize, ops_per_key: usize, rate: Option<f64>) -> OpGen {
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
            mean_gap_ns: rate.filter(|r| *r > 0.0).map(|r| 1e9 / r),
        }
    }

    /// Every key handed out so far (0..this).
    pub fn keys_used(&self) -> u64 {
        self.next_key
    }

    /// The next op and the delay to wait before invoking it.
    pub fn next_op(&mut self) -> (Duration, Op) {
        let gap = match self.mean_gap_ns {
            Some(mean) => Duration::from_nanos((mean * self.rng.random_range(0.5..1.5)) as u64),
            None => Duration::ZERO,
        };
        let slot = self.rng.random_range(0..self.active.len());
        let roll: u32 = self.rng.random_range(0..4);
        let ks = &mut self.active[slot];
        let key = ks.id;
        let kind = match (roll, ks.last) {
            (0 | 1, _) => OpKind::Read,
            (3, Some(from)) => {
                let to = self.next_value;
                self.next_value += 1;
                ks.last = Some(to);
                OpKind::Cas(from, to)
            }
            _ => {
                let v = self.next_value;
                self.next_value += 1;
                ks.last = Some(v);
                OpKind::Write(v)
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
        (gap, Op { key, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(seed: u64, n: usize) -> Vec<(Duration, Op)> {
        let mut g = OpGen::new(seed, 3, 10, Some(200.0));
        (0..n).map(|_| g.next_op()).collect()
    }

    #[test]
    fn the_op_stream_is_reproducible_from_the_seed() {
        assert_eq!(ops(7, 2000), ops(7, 2000));
        assert_ne!(ops(7, 2000), ops(8, 2000));
    }

    #[test]
    fn values_are_unique_and_keys_are_bounded() {
        let mut g = OpGen::new(1, 4, 25, None);
        let mut written = std::collections::HashSet::new();
        let mut per_key = std::collections::HashMap::new();
        for _ in 0..10_000 {
            let (gap, op) = g.next_op();
            assert_eq!(gap, Duration::ZERO);
            *per_key.entry(op.key).or_insert(0) += 1;
            match op.kind {
                OpKind::Write(v) | OpKind::Cas(_, v) => assert!(written.insert(v)),
                OpKind::Read => {}
            }
        }
        assert!(per_key.values().all(|&n| n <= 25));
        assert!(per_key.len() >= 10_000 / 25);
        assert!(g.keys_used() >= per_key.len() as u64);
    }

    #[test]
    fn the_rate_is_respected_on_average() {
        let mut g = OpGen::new(3, 2, 100, Some(200.0));
        let total: Duration = (0..2000).map(|_| g.next_op().0).sum();
        let secs = total.as_secs_f64();
        assert!((9.0..11.0).contains(&secs), "{secs}");
    }
}
