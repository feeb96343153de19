//! Helpers shared by the isolation tests: a history builder and a runner.
#![allow(dead_code)] // each test crate uses its own subset

use checker::checker::Budget;
use checker::formats::JsonlWriter;
use checker::history::{Event, EventType, History};
use checker::txn::synth::{history, TxnSynthSpec};
use checker::txn::{self, Kind, TxnOptions, TxnResult};
use serde_json::Value;

/// A synthetic txn history (5 keys, 7 processes): strict serializable
/// unless `stale` injects a stale read; `info_rate` of the txns end `info`.
pub fn synth(kind: Kind, txns: usize, seed: u64, stale: bool, info_rate: f64) -> History {
    history(&TxnSynthSpec {
        kind,
        txns,
        keys: 5,
        processes: 7,
        seed,
        info_rate,
        inject_stale_read: stale,
        ..Default::default()
    })
}

/// A history as faultline JSONL.
pub fn jsonl(h: &History) -> Vec<u8> {
    let mut w = JsonlWriter::unflushed(Vec::new());
    for e in &h.events {
        w.write(e).unwrap();
    }
    w.into_inner()
}

/// Builds histories: invocations and completions by process.
#[derive(Default)]
pub struct B {
    pub events: Vec<Event>,
}

/// The invocation's value: the completion's with every read's value nil.
pub fn invocation(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(a) = v.as_array_mut() {
        for m in a {
            if m[0] == "r" {
                m[2] = Value::Null;
            }
        }
    }
    v
}

impl B {
    pub fn push(&mut self, p: u64, kind: EventType, v: Value) -> &mut Self {
        let mut e = Event::new(p, kind, "txn", v);
        e.index = self.events.len() as u64;
        e.line = self.events.len() + 1;
        self.events.push(e);
        self
    }
    pub fn invoke(&mut self, p: u64, v: Value) -> &mut Self {
        self.push(p, EventType::Invoke, invocation(&v))
    }
    pub fn ok(&mut self, p: u64, v: Value) -> &mut Self {
        self.push(p, EventType::Ok, v)
    }
    pub fn fail(&mut self, p: u64, v: Value) -> &mut Self {
        let i = invocation(&v);
        self.push(p, EventType::Fail, i)
    }
    /// A txn invoked and completed ok before the next event.
    pub fn txn(&mut self, p: u64, v: Value) -> &mut Self {
        self.invoke(p, v.clone()).ok(p, v)
    }
    /// Several txns, all invoked before any completes (no real-time order).
    pub fn concurrent(&mut self, txns: &[(u64, Value)]) -> &mut Self {
        for (p, v) in txns {
            self.invoke(*p, v.clone());
        }
        for (p, v) in txns {
            self.ok(*p, v.clone());
        }
        self
    }
    pub fn history(&self) -> History {
        History {
            source: "literal".into(),
            events: self.events.clone(),
            warnings: vec![],
            ..Default::default()
        }
    }
}

pub fn run(kind: Kind, h: &History, require: &'static str) -> TxnResult {
    let mut o = TxnOptions::new(kind);
    o.require = require;
    txn::check(h, &o, &Budget::default()).expect("checks")
}
