//! The `multi-register` model: transactions of reads and writes over
//! several registers (Knossos's multi-register).

use super::unknown_f;
use crate::history::{Operation, Status};
use crate::model::{fname, show_value, Model, OpError, ValTable, NIL};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Micro {
    /// Read of key: the value seen, or `None` when unknown.
    Read(u32, Option<u32>),
    Write(u32, u32),
}

/// Several registers, each initially nil, read and written by transactions
/// `[[:r k v] [:w k v] ...]` (Knossos's multi-register).
#[derive(Debug, Clone, Default)]
pub struct MultiRegisterModel;

fn micro_ops(
    op: &Operation,
    v: &Value,
    vals: &mut ValTable,
    known: bool,
) -> Result<Vec<Micro>, OpError> {
    let Some(items) = v.as_array() else {
        return Err(OpError::new(
            "value",
            format!(
                "a txn value must be a list of [f key value], got {}",
                show_value(v)
            ),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for m in items {
        let parts = m.as_array().map(Vec::as_slice);
        let Some([f, k, x]) = parts else {
            return Err(OpError::new(
                "value",
                format!(
                    "a txn micro-op must be [f key value], got {}",
                    show_value(m)
                ),
            ));
        };
        let f = f.as_str().unwrap_or_default();
        let key = vals.intern(k);
        match f.strip_prefix(':').unwrap_or(f) {
            "r" | "read" => out.push(Micro::Read(key, known.then(|| vals.intern(x)))),
            "w" | "write" => out.push(Micro::Write(key, vals.intern(x))),
            other => {
                return Err(OpError::new(
                    "value",
                    format!(
                        "unknown micro-op `{other}` in txn of `{}` (expected r or w)",
                        op.f
                    ),
                ))
            }
        }
    }
    Ok(out)
}

impl Model for MultiRegisterModel {
    /// Sorted (key, value) pairs; absent keys are nil.
    type State = Vec<(u32, u32)>;
    type Op = Arc<[Micro]>;
    fn name(&self) -> &'static str {
        "multi-register"
    }
    fn init(&self) -> Self::State {
        Vec::new()
    }
    fn state_heap_bytes(&self, s: &Self::State) -> usize {
        s.capacity() * 8
    }
    /// `--init '{"x": 0, "y": 0}'`: each named register starts at its
    /// value (a key written as a string of digits also names the integer
    /// key); the others start nil.
    fn initial(
        &self,
        init: &Value,
        _key: Option<&str>,
        vals: &mut ValTable,
    ) -> Result<Self::State, OpError> {
        let map = match init {
            Value::Null => return Ok(Vec::new()),
            Value::Object(m) => m,
            other => {
                return Err(OpError::new(
                    "init",
                    format!(
                        "the multi-register model starts from a map of register to value, got {}",
                        show_value(other)
                    ),
                ))
            }
        };
        let mut state: Self::State = Vec::new();
        for (k, v) in map {
            if v.is_null() {
                continue;
            }
            let val = vals.intern(v);
            state.push((vals.intern(&Value::String(k.clone())), val));
            if let Ok(n) = k.parse::<i64>() {
                state.push((vals.intern(&Value::from(n)), val));
            }
        }
        state.sort_unstable();
        state.dedup_by_key(|p| p.0);
        Ok(state)
    }
    fn step(&self, s: &Self::State, op: &Self::Op) -> Option<Self::State> {
        let mut t: Option<Self::State> = None;
        for m in op.iter() {
            let cur = t.as_ref().unwrap_or(s);
            match *m {
                Micro::Read(k, Some(v)) => {
                    let have = cur
                        .binary_search_by_key(&k, |p| p.0)
                        .map(|i| cur[i].1)
                        .unwrap_or(NIL);
                    if have != v {
                        return None;
                    }
                }
                Micro::Read(_, None) => {}
                Micro::Write(k, v) => {
                    let w = t.get_or_insert_with(|| s.clone());
                    match w.binary_search_by_key(&k, |p| p.0) {
                        Ok(i) => w[i].1 = v,
                        Err(i) => w.insert(i, (k, v)),
                    }
                }
            }
        }
        Some(t.unwrap_or_else(|| s.clone()))
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<Self::Op>, OpError> {
        match fname(op) {
            "txn" | "transaction" => match op.status {
                Status::Fail => Ok(None),
                Status::Ok => {
                    let v = if op.output.is_null() {
                        &op.input
                    } else {
                        &op.output
                    };
                    Ok(Some(micro_ops(op, v, vals, true)?.into()))
                }
                Status::Info => {
                    let ms = micro_ops(op, &op.input, vals, false)?;
                    if ms.iter().all(|m| matches!(m, Micro::Read(..))) {
                        return Ok(None);
                    }
                    Ok(Some(ms.into()))
                }
            },
            _ => Err(unknown_f(op, "txn")),
        }
    }
    fn read_only(&self, op: &Self::Op) -> bool {
        op.iter().all(|m| matches!(m, Micro::Read(..)))
    }
    fn describe_state(&self, s: &Self::State, vals: &ValTable) -> String {
        let items: Vec<String> = s
            .iter()
            .map(|&(k, v)| format!("{} {}", vals.show(k), vals.show(v)))
            .collect();
        format!("{{{}}}", items.join(", "))
    }
    fn describe_op(&self, op: &Self::Op, vals: &ValTable) -> String {
        let items: Vec<String> = op
            .iter()
            .map(|m| match *m {
                Micro::Read(k, Some(v)) => format!("[r {} {}]", vals.show(k), vals.show(v)),
                Micro::Read(k, None) => format!("[r {} ?]", vals.show(k)),
                Micro::Write(k, v) => format!("[w {} {}]", vals.show(k), vals.show(v)),
            })
            .collect();
        format!("txn [{}]", items.join(" "))
    }
}
