//! Synthetic histories for benchmarks and tests: concurrent processes acting
//! on a set of independent cas-registers. Each operation takes effect at one
//! instant between its invocation and its completion, so the history is
//! linearizable unless a violation is injected on purpose.

use crate::history::{Event, EventType, Process};
use serde_json::{json, Value};
use std::io::{self, Write};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub ops: usize,
    pub keys: usize,
    pub processes: usize,
    pub seed: u64,
    /// Fraction of ops that end `info` (after taking effect or not).
    pub info_rate: f64,
    /// Make one read near the end return a value that was never written.
    pub inject_violation: bool,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            ops: 1000,
            keys: 10,
            processes: 10,
            seed: 1,
            info_rate: 0.01,
            inject_violation: false,
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
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

#[derive(Clone)]
struct Pending {
    f: &'static str,
    key: usize,
    input: Value,
    output: Option<Value>,
    applied: bool,
    ok: bool,
}

/// Generates the history, calling `emit` for each event in order.
pub fn generate(spec: &SynthSpec, mut emit: impl FnMut(Event) -> io::Result<()>) -> io::Result<()> {
    let mut rng = Rng(spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut regs: Vec<Option<i64>> = vec![None; spec.keys.max(1)];
    let mut pending: Vec<Option<Pending>> = vec![None; spec.processes.max(1)];
    let mut pid: Vec<u64> = (0..spec.processes.max(1) as u64).collect();
    let mut next_value: i64 = 1;
    let mut invoked = 0usize;
    let mut index = 0u64;
    let mut time = 0i64;
    let violation_at = spec.ops.saturating_sub(spec.ops / 10 + 1);
    let mut injected = false;
    loop {
        let open = pending.iter().filter(|p| p.is_some()).count();
        if invoked >= spec.ops && open == 0 {
            return Ok(());
        }
        let p = rng.below(pending.len());
        time += 1 + rng.below(1000) as i64;
        let mut event = |kind: EventType, f: &str, key: usize, value: Value, proc_: u64| {
            let mut e = Event::new(proc_, kind, f, value);
            e.process = Process::Client(proc_);
            e.key = Some(json!(key));
            e.index = index;
            e.time = Some(time);
            index += 1;
            e
        };
        match pending[p].take() {
            None => {
                if invoked >= spec.ops {
                    continue;
                }
                let key = rng.below(regs.len());
                let (f, input) = match rng.below(10) {
                    0..=3 => ("read", Value::Null),
                    4..=7 => {
                        next_value += 1;
                        ("write", json!(next_value))
                    }
                    _ => {
                        let from = regs[key].unwrap_or(0) + (rng.below(2) as i64);
                        next_value += 1;
                        ("cas", json!([from, next_value]))
                    }
                };
                emit(event(EventType::Invoke, f, key, input.clone(), pid[p]))?;
                invoked += 1;
                pending[p] = Some(Pending {
                    f,
                    key,
                    input,
                    output: None,
                    applied: false,
                    ok: true,
                });
            }
            Some(op) if !op.applied && op.f != "read" && rng.chance(spec.info_rate / 2.0) => {
                // Indeterminate and never took effect.
                emit(event(EventType::Info, op.f, op.key, Value::Null, pid[p]))?;
                pid[p] += spec.processes as u64;
            }
            Some(mut op) if !op.applied => {
                // The linearization point.
                let reg = &mut regs[op.key];
                match op.f {
                    "read" => op.output = Some(reg.map(Value::from).unwrap_or(Value::Null)),
                    "write" => {
                        *reg = op.input.as_i64();
                        op.output = Some(op.input.clone());
                    }
                    _ => {
                        let from = op.input[0].as_i64();
                        if *reg == from {
                            *reg = op.input[1].as_i64();
                        } else {
                            op.ok = false;
                        }
                        op.output = Some(op.input.clone());
                    }
                }
                if !injected && spec.inject_violation && invoked >= violation_at && op.f == "read" {
                    op.output = Some(json!(-1));
                    injected = true;
                }
                op.applied = true;
                pending[p] = Some(op);
            }
            Some(op) => {
                let info = op.f != "read" && rng.chance(spec.info_rate);
                let kind = if info {
                    EventType::Info
                } else if op.ok {
                    EventType::Ok
                } else {
                    EventType::Fail
                };
                let out = if info {
                    Value::Null
                } else {
                    op.output.unwrap_or(Value::Null)
                };
                emit(event(kind, op.f, op.key, out, pid[p]))?;
                if info {
                    pid[p] += spec.processes as u64;
                }
            }
        }
    }
}

/// Writes the history as faultline JSONL.
pub fn write_jsonl(spec: &SynthSpec, out: impl Write) -> io::Result<()> {
    let mut w = crate::formats::JsonlWriter::unflushed(io::BufWriter::with_capacity(1 << 20, out));
    generate(spec, |e| w.write(&e))?;
    w.flush()
}
