//! The `kv` model: get / put / append on strings, per key ([`KvModel`]) or
//! the whole store as one state ([`KvMapModel`], `--no-partition`).

use super::unknown_f;
use crate::history::{Operation, Status};
use crate::model::{fname, happened, Model, OpError, ValTable};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    fn state_heap_bytes(&self, s: &Text) -> usize {
        s.as_str().len() + 16
    }
    /// `--init S`: every key starts as the string `S`; an object maps each
    /// key to its start (others start empty).
    fn initial(&self, init: &Value, key: Option<&str>, _: &mut ValTable) -> Result<Text, OpError> {
        match crate::model::init_for_key(init, key) {
            Value::Null => Ok(Text::new("")),
            Value::String(s) => Ok(Text::new(s)),
            other => Err(OpError::new(
                "init",
                format!("the kv model's keys hold strings, got {other}"),
            )),
        }
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
    fn state_heap_bytes(&self, s: &KvMap) -> usize {
        // A map node per entry; the texts are shared with other states.
        s.len() * 2 * std::mem::size_of::<Text>()
    }
    /// `--init '{"k": "s", ...}'`: each key starts as its string.
    fn initial(&self, init: &Value, _: Option<&str>, _: &mut ValTable) -> Result<KvMap, OpError> {
        let mut m = BTreeMap::new();
        match init {
            Value::Null => {}
            Value::Object(o) => {
                for (k, v) in o {
                    match v {
                        Value::String(s) if !s.is_empty() => {
                            m.insert(Text::new(k), Text::new(s));
                        }
                        Value::String(_) | Value::Null => {}
                        other => {
                            return Err(OpError::new(
                                "init",
                                format!("the kv model's keys hold strings, got {other} for {k:?}"),
                            ))
                        }
                    }
                }
            }
            other => {
                return Err(OpError::new(
                    "init",
                    format!("without partitions the kv model starts from a map of key to string, got {other}"),
                ))
            }
        }
        Ok(m)
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
