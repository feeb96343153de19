//! Synthetic transactional histories (list-append or rw-register) for
//! benchmarks and tests: concurrent processes run txns of 1-4 micro-ops
//! against an in-memory store, each txn taking effect at one instant
//! between its invocation and completion, so the history is strict
//! serializable unless a stale read is injected on purpose. Keys retire
//! after a number of writes (as Jepsen's append workload does), so lists
//! stay short.

use super::Kind;
use crate::history::{Event, EventType, Process};
use serde_json::{json, Value};
use std::io::{self, Write};

#[derive(Debug, Clone)]
pub struct TxnSynthSpec {
    pub kind: Kind,
    pub txns: usize,
    /// Keys in use at once.
    pub keys: usize,
    pub processes: usize,
    /// Writes a key takes before it retires.
    pub writes_per_key: usize,
    pub seed: u64,
    /// Fraction of txns that end `info` (after taking effect or not).
    pub info_rate: f64,
    /// Make one late read miss the latest write to its key.
    pub inject_stale_read: bool,
}

impl Default for TxnSynthSpec {
    fn default() -> Self {
        TxnSynthSpec {
            kind: Kind::ListAppend,
            txns: 1000,
            keys: 10,
            processes: 10,
            writes_per_key: 32,
            seed: 1,
            info_rate: 0.01,
            inject_stale_read: false,
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// (is write, key) of each micro-op.
type Plan = Vec<(bool, u64)>;

struct Open {
    plan: Plan,
    done: Option<Value>,
    applied: bool,
    info: bool,
}

/// Generates the history, calling `emit` for each event in order.
pub fn generate(
    spec: &TxnSynthSpec,
    mut emit: impl FnMut(Event) -> io::Result<()>,
) -> io::Result<()> {
    let mut rng = Rng(spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let nkeys = spec.keys.max(1);
    // Active key ids and their write counts; the store by key id.
    let mut active: Vec<(u64, usize)> = (0..nkeys as u64).map(|k| (k, 0)).collect();
    let mut next_key = nkeys as u64;
    let mut lists: rustc_hash::FxHashMap<u64, Vec<i64>> = Default::default();
    let mut next_value: i64 = 1;
    let nproc = spec.processes.max(1);
    let mut open: Vec<Option<Open>> = (0..nproc).map(|_| None).collect();
    let mut pid: Vec<u64> = (0..nproc as u64).collect();
    let (mut invoked, mut index, mut time) = (0usize, 0u64, 0i64);
    let inject_at = spec.txns.saturating_sub(spec.txns / 10 + 1);
    let mut injected = false;
    let (wname, rname) = match spec.kind {
        Kind::ListAppend => ("append", "r"),
        Kind::RwRegister => ("w", "r"),
    };
    loop {
        if invoked >= spec.txns && open.iter().all(Option::is_none) {
            return Ok(());
        }
        let p = rng.below(nproc);
        time += 1 + rng.below(1000) as i64;
        let mut ev = |kind: EventType, value: Value| {
            let mut e = Event::new(pid[p], kind, "txn", value);
            e.process = Process::Client(pid[p]);
            e.index = index;
            e.time = Some(time);
            index += 1;
            e
        };
        match open[p].take() {
            None => {
                if invoked >= spec.txns {
                    continue;
                }
                let n = 1 + rng.below(4);
                let plan: Plan = (0..n)
                    .map(|_| (rng.chance(0.5), active[rng.below(active.len())].0))
                    .collect();
                let value: Vec<Value> = plan
                    .iter()
                    .map(|&(w, k)| {
                        if w {
                            json!([wname, k, Value::Null])
                        } else {
                            json!([rname, k, Value::Null])
                        }
                    })
                    .collect();
                // Written values are fixed at invocation.
                let mut value = value;
                for (m, &(w, _)) in value.iter_mut().zip(&plan) {
                    if w {
                        m[2] = json!(next_value);
                        next_value += 1;
                    }
                }
                emit(ev(EventType::Invoke, Value::Array(value.clone())))?;
                invoked += 1;
                let info = rng.chance(spec.info_rate);
                let mut o = Open {
                    plan,
                    done: None,
                    applied: false,
                    info,
                };
                // Some info txns never take effect.
                if !(info && rng.chance(0.5)) {
                    o.done = Some(Value::Array(value));
                }
                open[p] = Some(o);
            }
            Some(mut o) if o.done.is_some() && !o.applied => {
                // The txn's instant: apply it to the store.
                let Some(Value::Array(mut mops)) = o.done.take() else {
                    unreachable!()
                };
                for (m, &(w, k)) in mops.iter_mut().zip(&o.plan) {
                    let l = lists.entry(k).or_default();
                    if w {
                        l.push(m[2].as_i64().unwrap_or(0));
                    } else {
                        let mut seen: &[i64] = l;
                        if spec.inject_stale_read
                            && !injected
                            && invoked >= inject_at
                            && !l.is_empty()
                        {
                            seen = &l[..l.len() - 1];
                            injected = true;
                        }
                        m[2] = match spec.kind {
                            Kind::ListAppend if seen.is_empty() => Value::Null,
                            Kind::ListAppend => json!(seen),
                            Kind::RwRegister => seen.last().map_or(Value::Null, |v| json!(v)),
                        };
                    }
                }
                for &(w, k) in &o.plan {
                    if !w {
                        continue;
                    }
                    if let Some(a) = active.iter_mut().find(|a| a.0 == k) {
                        a.1 += 1;
                        if a.1 >= spec.writes_per_key {
                            *a = (next_key, 0);
                            next_key += 1;
                        }
                    }
                }
                o.done = Some(Value::Array(mops));
                o.applied = true;
                open[p] = Some(o);
            }
            Some(o) => {
                if o.info {
                    emit(ev(EventType::Info, Value::Null))?;
                    pid[p] += nproc as u64;
                } else {
                    let v = o.done.unwrap_or(Value::Null);
                    emit(ev(EventType::Ok, v))?;
                }
            }
        }
    }
}

/// Writes the history as faultline JSONL.
pub fn write_jsonl(spec: &TxnSynthSpec, out: impl Write) -> io::Result<()> {
    let mut w = crate::formats::JsonlWriter::unflushed(io::BufWriter::with_capacity(1 << 20, out));
    generate(spec, |e| w.write(&e))?;
    w.flush()
}

/// The history in memory.
pub fn history(spec: &TxnSynthSpec) -> crate::history::History {
    let mut events = Vec::new();
    generate(spec, |e| {
        events.push(e);
        Ok(())
    })
    .expect("generating in memory cannot fail");
    crate::history::History {
        source: "synthetic".into(),
        events,
        warnings: Vec::new(),
        ..Default::default()
    }
}
