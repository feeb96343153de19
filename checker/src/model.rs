//! The `Model` seam: a pure sequential specification that the linearizability
//! search steps through.

use crate::history::{Operation, Status};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification of an object.
///
/// `step` must be a pure function. States are compared and hashed for the
/// search's memoization, so keep them canonical (two equal object states must
/// be equal values).
pub trait Model: Sync {
    type State: Clone + Eq + Hash + Send + Sync + Debug;
    /// An operation with both its input and its (possibly unknown) output.
    type Op: Clone + Send + Sync + Debug;

    /// Whether the search should remember every (state, op) transition
    /// beyond its small dense table. Worth it when a step is expensive (a
    /// map clone); not when a step is as cheap as the lookup that would
    /// replace it.
    const MEMO_TRANSITIONS: bool = true;

    fn name(&self) -> &'static str;
    fn init(&self) -> Self::State;
    /// The initial state a user gave (`--init`), for the partition of `key`
    /// (`None` when the history is not split by key). `null` is the model's
    /// own [`Model::init`]; a model that takes no other initial state says
    /// so (field `init`).
    fn initial(
        &self,
        init: &Value,
        _key: Option<&str>,
        _vals: &mut ValTable,
    ) -> Result<Self::State, OpError> {
        if init.is_null() {
            Ok(self.init())
        } else {
            Err(OpError::new(
                "init",
                format!("the {} model takes no initial state", self.name()),
            ))
        }
    }
    /// The state after `op`, or `None` when `op` with its output is not legal
    /// in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// Converts a paired operation into this model's operation. `Ok(None)`
    /// drops it because it constrains nothing (a failed op, an indeterminate
    /// read). `Err((field, message))` when the op does not fit the model.
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<Self::Op>, OpError>;
    /// True when `op` never changes the state (a read). The search places a
    /// legal read-only op greedily: if any linearization extends the current
    /// prefix, one does with the read next, so its alternatives need no
    /// exploring. Returning false is always safe.
    fn read_only(&self, _op: &Self::Op) -> bool {
        false
    }
    /// True when `op` is a blind overwrite: legal in every state, and
    /// leading to the same state whatever the state before (a register
    /// write). The search never places an indeterminate op right before a
    /// blind one: a linearization that did could leave the indeterminate op
    /// out (nothing could see its effect), and indeterminate ops may be left
    /// out. Returning false is always safe.
    fn blind(&self, _op: &Self::Op) -> bool {
        false
    }
    /// Which of a partition's ops the search can leave out without changing
    /// the verdict (`ops[i].1` is true for an op with a return). The default
    /// keeps every op.
    fn removable(&self, _ops: &[(&Self::Op, bool)]) -> Vec<bool> {
        Vec::new()
    }
    /// An op with a return (`ops[i].1`) that no state reachable from `init`
    /// with these ops accepts, if the model can tell cheaply (a register
    /// read of a value nothing writes). Such a partition is not
    /// linearizable in any order, which the search would otherwise prove by
    /// exhausting every order before that op. `None` is always safe.
    fn impossible(&self, _init: &Self::State, _ops: &[(&Self::Op, bool)]) -> Option<usize> {
        None
    }
    /// Bytes a state holds on the heap beyond its own size (a string's
    /// text, a map's entries), for the search's memory budget.
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }
    fn describe_state(&self, state: &Self::State, vals: &ValTable) -> String;
    fn describe_op(&self, op: &Self::Op, vals: &ValTable) -> String;
    /// Why `op` cannot follow `state` (called only when `step` returned None).
    fn explain(&self, state: &Self::State, op: &Self::Op, vals: &ValTable) -> String {
        format!(
            "{} is not legal in state {}",
            self.describe_op(op, vals),
            self.describe_state(state, vals)
        )
    }
}

/// A model whose initial state is `init` instead of its own (`--init`).
pub struct Seeded<'a, M: Model> {
    pub inner: &'a M,
    pub init: M::State,
}

impl<M: Model> Model for Seeded<'_, M> {
    type State = M::State;
    type Op = M::Op;
    const MEMO_TRANSITIONS: bool = M::MEMO_TRANSITIONS;
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn init(&self) -> Self::State {
        self.init.clone()
    }
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State> {
        self.inner.step(state, op)
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<Self::Op>, OpError> {
        self.inner.prepare(op, vals)
    }
    fn read_only(&self, op: &Self::Op) -> bool {
        self.inner.read_only(op)
    }
    fn blind(&self, op: &Self::Op) -> bool {
        self.inner.blind(op)
    }
    fn removable(&self, ops: &[(&Self::Op, bool)]) -> Vec<bool> {
        self.inner.removable(ops)
    }
    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        self.inner.state_heap_bytes(state)
    }
    fn impossible(&self, init: &Self::State, ops: &[(&Self::Op, bool)]) -> Option<usize> {
        self.inner.impossible(init, ops)
    }
    fn describe_state(&self, state: &Self::State, vals: &ValTable) -> String {
        self.inner.describe_state(state, vals)
    }
    fn describe_op(&self, op: &Self::Op, vals: &ValTable) -> String {
        self.inner.describe_op(op, vals)
    }
    fn explain(&self, state: &Self::State, op: &Self::Op, vals: &ValTable) -> String {
        self.inner.explain(state, op, vals)
    }
}

/// The value `init` gives the partition of `key`: with a key, an object is
/// a map from key to value (a key it does not name starts nil) and anything
/// else is every key's value; without a key, `init` itself.
pub fn init_for_key<'v>(init: &'v Value, key: Option<&str>) -> &'v Value {
    match (init, key) {
        (Value::Object(m), Some(k)) => m.get(k).unwrap_or(&Value::Null),
        _ => init,
    }
}

/// Why an operation does not fit a model.
#[derive(Debug, Clone)]
pub struct OpError {
    pub field: &'static str,
    pub message: String,
}

impl OpError {
    pub fn new(field: &'static str, message: impl Into<String>) -> OpError {
        OpError {
            field,
            message: message.into(),
        }
    }
}

/// Interns history values into small integers so states are compact and
/// comparisons cheap. Id 0 is `null` (nil, absent).
#[derive(Debug, Default)]
pub struct ValTable {
    ints: FxHashMap<i64, u32>,
    others: FxHashMap<String, u32>,
    values: Vec<Value>,
}

/// The id of `null`.
pub const NIL: u32 = 0;

impl ValTable {
    pub fn new() -> ValTable {
        ValTable {
            ints: FxHashMap::default(),
            others: FxHashMap::default(),
            values: vec![Value::Null],
        }
    }

    pub fn intern(&mut self, v: &Value) -> u32 {
        if self.values.is_empty() {
            self.values.push(Value::Null);
        }
        match v {
            Value::Null => NIL,
            Value::Number(n) if n.is_i64() => {
                let i = n.as_i64().unwrap_or_default();
                if let Some(&id) = self.ints.get(&i) {
                    return id;
                }
                let id = self.values.len() as u32;
                self.values.push(v.clone());
                self.ints.insert(i, id);
                id
            }
            other => {
                let key = other.to_string();
                if let Some(&id) = self.others.get(&key) {
                    return id;
                }
                let id = self.values.len() as u32;
                self.values.push(v.clone());
                self.others.insert(key, id);
                id
            }
        }
    }

    pub fn value(&self, id: u32) -> &Value {
        self.values.get(id as usize).unwrap_or(&Value::Null)
    }

    /// Makes [`NIL`] stand for a non-nil initial value `init` (shown as it),
    /// for a check whose initial value is `NIL`. Returns the id that `null`
    /// itself then takes: a value distinct from every other, never interned
    /// again (callers map `null` to it themselves).
    pub fn rename_initial(&mut self, init: &Value) -> u32 {
        if self.values.is_empty() {
            self.values.push(Value::Null);
        }
        self.values[NIL as usize] = init.clone();
        self.values.push(Value::Null);
        (self.values.len() - 1) as u32
    }

    /// The value as a person would write it (`nil` for null).
    pub fn show(&self, id: u32) -> String {
        show_value(self.value(id))
    }
}

/// Renders a value compactly: `nil` for null, strings in quotes.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_string(),
        other => other.to_string(),
    }
}

/// The canonical text of a key, used to partition by key.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Normalises an `f` name: `:write` and `write` are the same.
pub fn fname(op: &Operation) -> &str {
    op.f.strip_prefix(':').unwrap_or(&op.f)
}

/// For ops whose effect does not depend on the output: `ok` and `info` are
/// kept, `fail` is dropped.
pub fn happened(op: &Operation) -> bool {
    op.status != Status::Fail
}
