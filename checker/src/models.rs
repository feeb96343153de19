//! The built-in models.
//!
//! Semantics follow Jepsen: an `ok` op took effect with the output it
//! returned; a `fail` op did not take effect and is dropped (except a failed
//! cas when [`RegisterModel::fail_cas_observes`] is set, as in Porcupine's
//! etcd model); an `info` op may take effect at any point after its
//! invocation, or never, and its output is unknown, so an indeterminate read
//! constrains nothing and is dropped.

use crate::history::{Operation, Status};
use crate::model::{fname, happened, show_value, Model, OpError, ValTable, NIL};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

fn show_list(ids: &[u32], vals: &ValTable) -> String {
    let items: Vec<String> = ids.iter().map(|&i| vals.show(i)).collect();
    format!("[{}]", items.join(" "))
}

fn unknown_f(op: &Operation, expected: &str) -> OpError {
    OpError::new(
        "f",
        format!(
            "`{}` is not an operation of this model (expected {expected})",
            op.f
        ),
    )
}

// ---------------------------------------------------------------------------
// register and cas-register

/// A single register holding any value, initially nil: read, write and (for
/// `cas-register`) compare-and-set `[old new]`.
#[derive(Debug, Clone, Default)]
pub struct RegisterModel {
    /// Accept `cas` ops (the `cas-register` model).
    pub cas: bool,
    /// Treat a failed cas as "the value was not `old`" (Porcupine's etcd
    /// model) instead of dropping it (Jepsen's semantics).
    pub fail_cas_observes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    Applied,
    Failed,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOp {
    Read(u32),
    Write(u32),
    Cas {
        from: u32,
        to: u32,
        outcome: CasOutcome,
    },
}

fn cas_args(op: &Operation, vals: &mut ValTable) -> Result<(u32, u32), OpError> {
    let v = if op.input.is_array() {
        &op.input
    } else {
        &op.output
    };
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((vals.intern(a), vals.intern(b))),
        _ => Err(OpError::new(
            "value",
            format!("a cas value must be [old new], got {}", show_value(v)),
        )),
    }
}

impl Model for RegisterModel {
    type State = u32;
    type Op = RegisterOp;

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn init(&self) -> u32 {
        NIL
    }

    fn step(&self, s: &u32, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Read(v) => (*s == v).then_some(*s),
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas { from, to, outcome } => match outcome {
                CasOutcome::Applied => (*s == from).then_some(to),
                CasOutcome::Failed => (*s != from).then_some(*s),
                CasOutcome::Unknown => Some(if *s == from { to } else { *s }),
            },
        }
    }

    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<RegisterOp>, OpError> {
        match fname(op) {
            "read" | "r" | "get" => Ok(match op.status {
                Status::Ok => Some(RegisterOp::Read(vals.intern(&op.output))),
                _ => None,
            }),
            "write" | "w" | "put" => {
                if !happened(op) {
                    return Ok(None);
                }
                let v = if op.input.is_null() {
                    &op.output
                } else {
                    &op.input
                };
                Ok(Some(RegisterOp::Write(vals.intern(v))))
            }
            "cas" if self.cas => {
                let outcome = match op.status {
                    Status::Ok => CasOutcome::Applied,
                    Status::Info => CasOutcome::Unknown,
                    Status::Fail if self.fail_cas_observes => CasOutcome::Failed,
                    Status::Fail => return Ok(None),
                };
                let (from, to) = cas_args(op, vals)?;
                Ok(Some(RegisterOp::Cas { from, to, outcome }))
            }
            _ => Err(unknown_f(
                op,
                if self.cas {
                    "read, write or cas"
                } else {
                    "read or write"
                },
            )),
        }
    }

    /// An indeterminate write (or cas) whose value no op observes (no read
    /// returns it, no cas expects it) can be left out: wherever it was placed
    /// in a linearization, taking it out only changes the state over a stretch
    /// in which, by assumption, nothing depends on the register holding that
    /// value (an indeterminate cas there that would now apply can be left
    /// out too, as it was a no-op). Not done when failed cas ops are read as
    /// observations (`fail_cas_observes`), since those depend on the register
    /// *not* holding a value.
    fn removable(&self, ops: &[(&RegisterOp, bool)]) -> Vec<bool> {
        if ops.iter().any(|(o, _)| {
            matches!(
                o,
                RegisterOp::Cas {
                    outcome: CasOutcome::Failed,
                    ..
                }
            )
        }) {
            return Vec::new();
        }
        let mut observed: rustc_hash::FxHashSet<u32> = Default::default();
        for (o, _) in ops {
            match **o {
                RegisterOp::Read(v) => {
                    observed.insert(v);
                }
                RegisterOp::Cas { from, .. } => {
                    observed.insert(from);
                }
                RegisterOp::Write(_) => {}
            }
        }
        ops.iter()
            .map(|(o, completed)| {
                !completed
                    && match **o {
                        RegisterOp::Write(v) => !observed.contains(&v),
                        RegisterOp::Cas {
                            to,
                            outcome: CasOutcome::Unknown,
                            ..
                        } => !observed.contains(&to),
                        _ => false,
                    }
            })
            .collect()
    }

    fn blind(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Write(_))
    }

    fn read_only(&self, op: &RegisterOp) -> bool {
        matches!(
            op,
            RegisterOp::Read(_)
                | RegisterOp::Cas {
                    outcome: CasOutcome::Failed,
                    ..
                }
        )
    }

    fn describe_state(&self, s: &u32, vals: &ValTable) -> String {
        vals.show(*s)
    }

    fn describe_op(&self, op: &RegisterOp, vals: &ValTable) -> String {
        match *op {
            RegisterOp::Read(v) => format!("read {}", vals.show(v)),
            RegisterOp::Write(v) => format!("write {}", vals.show(v)),
            RegisterOp::Cas { from, to, outcome } => format!(
                "cas {} -> {}{}",
                vals.show(from),
                vals.show(to),
                match outcome {
                    CasOutcome::Applied => "",
                    CasOutcome::Failed => " (failed)",
                    CasOutcome::Unknown => " (outcome unknown)",
                }
            ),
        }
    }

    fn explain(&self, s: &u32, op: &RegisterOp, vals: &ValTable) -> String {
        match *op {
            RegisterOp::Read(v) => format!(
                "read returned {} but the register holds {}",
                vals.show(v),
                vals.show(*s)
            ),
            RegisterOp::Cas {
                from,
                outcome: CasOutcome::Applied,
                ..
            } => format!(
                "cas expected {} but the register holds {}",
                vals.show(from),
                vals.show(*s)
            ),
            RegisterOp::Cas { from, .. } => format!(
                "cas failed, but the register holds {} which it would have matched",
                vals.show(from)
            ),
            RegisterOp::Write(_) => "a write is always legal".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------
// kv: get / put / append on strings

/// A string with a polynomial hash kept alongside, so appending computes the
/// new hash in O(1) and interning a long state never rehashes its text.
/// Equality compares the text (the hash only speeds up mismatches).
#[derive(Debug, Clone)]
pub struct Text {
    text: Arc<str>,
    hash: u64,
    /// `BASE` to the power of the text's length.
    pow: u64,
}

const BASE: u64 = 0x100_0000_01b3;

impl Text {
    pub fn new(s: &str) -> Text {
        let mut hash = 0u64;
        let mut pow = 1u64;
        for b in s.bytes() {
            hash = hash.wrapping_mul(BASE).wrapping_add(b as u64 + 1);
            pow = pow.wrapping_mul(BASE);
        }
        Text {
            text: Arc::from(s),
            hash,
            pow,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn append(&self, v: &Text) -> Text {
        let mut t = String::with_capacity(self.text.len() + v.text.len());
        t.push_str(&self.text);
        t.push_str(&v.text);
        Text {
            text: Arc::from(t),
            hash: self.hash.wrapping_mul(v.pow).wrapping_add(v.hash),
            pow: self.pow.wrapping_mul(v.pow),
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, o: &Text) -> bool {
        self.hash == o.hash && self.text == o.text
    }
}

impl Eq for Text {}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, o: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Text {
    fn cmp(&self, o: &Text) -> std::cmp::Ordering {
        self.text.cmp(&o.text)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &*self.text)
    }
}

/// A string value, with `nil` read as the empty string (as in the 6.824 kv
/// lab and Porcupine's kv model).
fn kv_text(v: &Value) -> Text {
    match v {
        Value::Null => Text::new(""),
        Value::String(s) => Text::new(s),
        other => Text::new(&other.to_string()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    Get(Text),
    Put(Text),
    Append(Text),
}

fn kv_prepare(op: &Operation) -> Result<Option<KvOp>, OpError> {
    match fname(op) {
        "get" | "read" | "r" => Ok(match op.status {
            Status::Ok => Some(KvOp::Get(kv_text(&op.output))),
            _ => None,
        }),
        "put" | "write" | "w" => Ok(happened(op).then(|| KvOp::Put(kv_text(&op.input)))),
        "append" => Ok(happened(op).then(|| KvOp::Append(kv_text(&op.input)))),
        _ => Err(unknown_f(op, "get, put or append")),
    }
}

fn kv_step(s: &Text, op: &KvOp) -> Option<Text> {
    match op {
        KvOp::Get(v) => (v == s).then(|| s.clone()),
        KvOp::Put(v) => Some(v.clone()),
        KvOp::Append(v) => Some(s.append(v)),
    }
}

fn kv_describe(op: &KvOp) -> String {
    match op {
        KvOp::Get(v) => format!("get -> {v}"),
        KvOp::Put(v) => format!("put {v}"),
        KvOp::Append(v) => format!("append {v}"),
    }
}

/// One key of a string store (histories are partitioned by key).
#[derive(Debug, Clone, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = Text;
    type Op = KvOp;
    // A step is an append or a comparison, and a state's hash is kept with
    // it: recomputing costs no more than remembering.
    const MEMO_TRANSITIONS: bool = false;
    fn name(&self) -> &'static str {
        "kv"
    }
    fn init(&self) -> Text {
        Text::new("")
    }
    fn step(&self, s: &Text, op: &KvOp) -> Option<Text> {
        kv_step(s, op)
    }
    fn prepare(&self, op: &Operation, _: &mut ValTable) -> Result<Option<KvOp>, OpError> {
        kv_prepare(op)
    }
    fn read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }
    fn blind(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(_))
    }
    fn describe_state(&self, s: &Text, _: &ValTable) -> String {
        s.to_string()
    }
    fn describe_op(&self, op: &KvOp, _: &ValTable) -> String {
        kv_describe(op)
    }
    fn explain(&self, s: &Text, op: &KvOp, _: &ValTable) -> String {
        match op {
            KvOp::Get(v) => format!("get returned {v} but the key holds {s}"),
            _ => "put and append are always legal".to_string(),
        }
    }
}

/// The whole store as one state (`--no-partition`).
#[derive(Debug, Clone, Default)]
pub struct KvMapModel;

type KvMap = BTreeMap<Text, Text>;

impl Model for KvMapModel {
    type State = KvMap;
    type Op = (Text, KvOp);
    fn name(&self) -> &'static str {
        "kv (no partition)"
    }
    fn init(&self) -> KvMap {
        BTreeMap::new()
    }
    fn step(&self, s: &KvMap, (k, op): &(Text, KvOp)) -> Option<KvMap> {
        let empty = Text::new("");
        let cur = s.get(k).unwrap_or(&empty);
        let next = kv_step(cur, op)?;
        if matches!(op, KvOp::Get(_)) {
            return Some(s.clone());
        }
        let mut t = s.clone();
        t.insert(k.clone(), next);
        Some(t)
    }
    fn prepare(&self, op: &Operation, _: &mut ValTable) -> Result<Option<Self::Op>, OpError> {
        let key = match &op.key {
            Some(k) => kv_text(k),
            None => return Err(OpError::new("key", "a kv operation needs a key")),
        };
        Ok(kv_prepare(op)?.map(|o| (key, o)))
    }
    fn read_only(&self, op: &Self::Op) -> bool {
        matches!(op.1, KvOp::Get(_))
    }
    fn describe_state(&self, s: &KvMap, _: &ValTable) -> String {
        let items: Vec<String> = s.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("{{{}}}", items.join(", "))
    }
    fn describe_op(&self, (k, op): &Self::Op, _: &ValTable) -> String {
        format!("{} of key {k}", kv_describe(op))
    }
}

// ---------------------------------------------------------------------------
// multi-register: transactions of reads and writes over several keys

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

// ---------------------------------------------------------------------------
// mutex

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutexOp {
    Acquire,
    Release,
}

/// A lock: acquire is legal when it is free, release when it is held.
#[derive(Debug, Clone, Default)]
pub struct MutexModel;

impl Model for MutexModel {
    type State = bool;
    type Op = MutexOp;
    fn name(&self) -> &'static str {
        "mutex"
    }
    fn init(&self) -> bool {
        false
    }
    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!*held).then_some(true),
            MutexOp::Release => (*held).then_some(false),
        }
    }
    fn prepare(&self, op: &Operation, _: &mut ValTable) -> Result<Option<MutexOp>, OpError> {
        let m = match fname(op) {
            "acquire" | "lock" => MutexOp::Acquire,
            "release" | "unlock" => MutexOp::Release,
            _ => return Err(unknown_f(op, "acquire or release")),
        };
        Ok(happened(op).then_some(m))
    }
    fn describe_state(&self, held: &bool, _: &ValTable) -> String {
        if *held { "held" } else { "free" }.to_string()
    }
    fn describe_op(&self, op: &MutexOp, _: &ValTable) -> String {
        match op {
            MutexOp::Acquire => "acquire",
            MutexOp::Release => "release",
        }
        .to_string()
    }
    fn explain(&self, held: &bool, op: &MutexOp, _: &ValTable) -> String {
        match (op, held) {
            (MutexOp::Acquire, true) => "acquire while the lock is already held".to_string(),
            _ => "release while the lock is free".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------
// set

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOp {
    Add(u32),
    /// The elements read, sorted and deduplicated.
    Read(Arc<[u32]>),
}

/// A grow-only set: add an element, read the whole set.
#[derive(Debug, Clone, Default)]
pub struct SetModel;

impl Model for SetModel {
    type State = Arc<[u32]>;
    type Op = SetOp;
    fn name(&self) -> &'static str {
        "set"
    }
    fn init(&self) -> Arc<[u32]> {
        Arc::from(Vec::new())
    }
    fn step(&self, s: &Arc<[u32]>, op: &SetOp) -> Option<Arc<[u32]>> {
        match op {
            SetOp::Read(r) => (r == s).then(|| s.clone()),
            SetOp::Add(x) => match s.binary_search(x) {
                Ok(_) => Some(s.clone()),
                Err(i) => {
                    let mut v = s.to_vec();
                    v.insert(i, *x);
                    Some(v.into())
                }
            },
        }
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<SetOp>, OpError> {
        match fname(op) {
            "add" => Ok(happened(op).then(|| SetOp::Add(vals.intern(&op.input)))),
            "read" => {
                if op.status != Status::Ok {
                    return Ok(None);
                }
                let Some(items) = op.output.as_array() else {
                    return Err(OpError::new(
                        "value",
                        format!(
                            "a set read must return a list, got {}",
                            show_value(&op.output)
                        ),
                    ));
                };
                let mut ids: Vec<u32> = items.iter().map(|v| vals.intern(v)).collect();
                ids.sort_unstable();
                ids.dedup();
                Ok(Some(SetOp::Read(ids.into())))
            }
            _ => Err(unknown_f(op, "add or read")),
        }
    }
    fn read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }
    fn describe_state(&self, s: &Arc<[u32]>, vals: &ValTable) -> String {
        show_list(s, vals)
    }
    fn describe_op(&self, op: &SetOp, vals: &ValTable) -> String {
        match op {
            SetOp::Add(x) => format!("add {}", vals.show(*x)),
            SetOp::Read(r) => format!("read {}", show_list(r, vals)),
        }
    }
}

// ---------------------------------------------------------------------------
// queues

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOp {
    Enqueue(u32),
    /// A dequeue that returned this element.
    Dequeue(u32),
    /// A dequeue that found the queue empty.
    DequeueEmpty,
    /// A dequeue whose outcome is unknown.
    DequeueUnknown,
}

fn queue_prepare(
    op: &Operation,
    vals: &mut ValTable,
    unordered: bool,
) -> Result<Option<QueueOp>, OpError> {
    match fname(op) {
        "enqueue" | "push" | "offer" => {
            Ok(happened(op).then(|| QueueOp::Enqueue(vals.intern(&op.input))))
        }
        "dequeue" | "pop" | "poll" => Ok(match op.status {
            Status::Fail => None,
            // An unordered queue's unknown dequeue may have removed any
            // element; since leftovers are allowed, that is the same as never
            // happening.
            Status::Info if unordered => None,
            Status::Info => Some(QueueOp::DequeueUnknown),
            Status::Ok if op.output.is_null() => Some(QueueOp::DequeueEmpty),
            Status::Ok => Some(QueueOp::Dequeue(vals.intern(&op.output))),
        }),
        _ => Err(unknown_f(op, "enqueue or dequeue")),
    }
}

/// Which queue ops the search may leave out: an indeterminate enqueue of
/// an element that no dequeue returned. Had it happened, the element would
/// have sat in the queue (FIFO: ahead of every later element, none of which
/// could then come out past it) until the end; taking it out only lets more
/// dequeues find the queue empty, and an indeterminate dequeue that took it
/// may be left out as well. So the verdict is the same without it.
fn queue_removable(ops: &[(&QueueOp, bool)]) -> Vec<bool> {
    let returned: rustc_hash::FxHashSet<u32> = ops
        .iter()
        .filter_map(|(o, _)| match o {
            QueueOp::Dequeue(x) => Some(*x),
            _ => None,
        })
        .collect();
    ops.iter()
        .map(|(o, completed)| {
            !completed && matches!(o, QueueOp::Enqueue(x) if !returned.contains(x))
        })
        .collect()
}

fn describe_queue_op(op: &QueueOp, vals: &ValTable) -> String {
    match op {
        QueueOp::Enqueue(x) => format!("enqueue {}", vals.show(*x)),
        QueueOp::Dequeue(x) => format!("dequeue -> {}", vals.show(*x)),
        QueueOp::DequeueEmpty => "dequeue -> empty".to_string(),
        QueueOp::DequeueUnknown => "dequeue -> unknown".to_string(),
    }
}

/// A FIFO queue.
#[derive(Debug, Clone, Default)]
pub struct FifoQueueModel;

impl Model for FifoQueueModel {
    type State = VecDeque<u32>;
    type Op = QueueOp;
    fn name(&self) -> &'static str {
        "fifo-queue"
    }
    fn init(&self) -> VecDeque<u32> {
        VecDeque::new()
    }
    fn step(&self, s: &VecDeque<u32>, op: &QueueOp) -> Option<VecDeque<u32>> {
        match *op {
            QueueOp::Enqueue(x) => {
                let mut t = s.clone();
                t.push_back(x);
                Some(t)
            }
            QueueOp::Dequeue(x) => {
                (s.front() == Some(&x)).then(|| s.iter().skip(1).copied().collect())
            }
            QueueOp::DequeueEmpty => s.is_empty().then(VecDeque::new),
            QueueOp::DequeueUnknown => Some(s.iter().skip(1).copied().collect()),
        }
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<QueueOp>, OpError> {
        queue_prepare(op, vals, false)
    }
    fn removable(&self, ops: &[(&QueueOp, bool)]) -> Vec<bool> {
        queue_removable(ops)
    }
    fn read_only(&self, op: &QueueOp) -> bool {
        matches!(op, QueueOp::DequeueEmpty)
    }
    fn describe_state(&self, s: &VecDeque<u32>, vals: &ValTable) -> String {
        let v: Vec<u32> = s.iter().copied().collect();
        show_list(&v, vals)
    }
    fn describe_op(&self, op: &QueueOp, vals: &ValTable) -> String {
        describe_queue_op(op, vals)
    }
    fn explain(&self, s: &VecDeque<u32>, op: &QueueOp, vals: &ValTable) -> String {
        match (op, s.front()) {
            (QueueOp::Dequeue(x), Some(h)) => format!(
                "dequeue returned {} but the head of the queue is {}",
                vals.show(*x),
                vals.show(*h)
            ),
            (QueueOp::Dequeue(x), None) => {
                format!("dequeue returned {} but the queue is empty", vals.show(*x))
            }
            _ => format!("dequeue found the queue empty but it holds {}", s.len()),
        }
    }
}

/// A queue that may deliver its elements in any order (a multiset).
#[derive(Debug, Clone, Default)]
pub struct UnorderedQueueModel;

impl Model for UnorderedQueueModel {
    /// Sorted elements (with repeats).
    type State = Arc<[u32]>;
    type Op = QueueOp;
    fn name(&self) -> &'static str {
        "unordered-queue"
    }
    fn init(&self) -> Arc<[u32]> {
        Arc::from(Vec::new())
    }
    fn step(&self, s: &Arc<[u32]>, op: &QueueOp) -> Option<Arc<[u32]>> {
        match *op {
            QueueOp::Enqueue(x) => {
                let mut v = s.to_vec();
                let i = v.partition_point(|&y| y <= x);
                v.insert(i, x);
                Some(v.into())
            }
            QueueOp::Dequeue(x) => {
                let i = s.binary_search(&x).ok()?;
                let mut v = s.to_vec();
                v.remove(i);
                Some(v.into())
            }
            QueueOp::DequeueEmpty => s.is_empty().then(|| s.clone()),
            QueueOp::DequeueUnknown => Some(s.clone()),
        }
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<QueueOp>, OpError> {
        queue_prepare(op, vals, true)
    }
    fn removable(&self, ops: &[(&QueueOp, bool)]) -> Vec<bool> {
        queue_removable(ops)
    }
    fn describe_state(&self, s: &Arc<[u32]>, vals: &ValTable) -> String {
        show_list(s, vals)
    }
    fn describe_op(&self, op: &QueueOp, vals: &ValTable) -> String {
        describe_queue_op(op, vals)
    }
}
