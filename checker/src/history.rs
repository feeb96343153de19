//! History types: the events of a Jepsen-style history and the operations
//! (invocation paired with completion) that the checkers work on.
//!
//! Values are kept as [`serde_json::Value`]: JSON histories map onto it
//! directly, and EDN values map onto it as described in [`crate::formats`]
//! (keywords become strings without the colon, `nil` becomes `null`, sets and
//! vectors become arrays).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The type of a history event, as in Jepsen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation was invoked.
    Invoke,
    /// It took effect.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// It may or may not have taken effect.
    Info,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }

    /// Parses `invoke|ok|fail|info` (with or without a leading `:`).
    pub fn parse(s: &str) -> Option<EventType> {
        match s.strip_prefix(':').unwrap_or(s) {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
}

/// Who performed an event: a numbered client process or a named actor such as
/// `"nemesis"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Named(String),
}

impl Process {
    pub fn is_client(&self) -> bool {
        matches!(self, Process::Client(_))
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(n) => write!(f, "{n}"),
            Process::Named(s) => f.write_str(s),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(n) => s.serialize_u64(*n),
            Process::Named(n) => s.serialize_str(n),
        }
    }
}

/// A non-negative integer is a client, a string a named actor (the same
/// shapes [`Serialize`] writes).
impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Process, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a name")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Process, E> {
                Ok(Process::Client(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Process, E> {
                u64::try_from(n)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("negative process {n}")))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Process, E> {
                Ok(Process::Named(s.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Unique, increasing position in the history (the file's `index`, or the
    /// event's ordinal when the file has none).
    pub index: u64,
    /// Nanoseconds since the run started, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: String,
    /// The key for keyed workloads (`kv`, independent registers), when the
    /// format carries it separately from the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Any other top-level fields of the event (e.g. a nemesis op's `shape`,
    /// `clock-offsets` or `final`), written beside the fields above.
    #[serde(flatten, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// 1-based line of the source file this event came from (0 if built in
    /// memory).
    #[serde(skip)]
    pub line: usize,
}

impl Event {
    /// A convenience constructor for tests and generators.
    pub fn new(process: u64, kind: EventType, f: &str, value: Value) -> Event {
        Event {
            index: 0,
            time: None,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: None,
            value,
            node: None,
            error: None,
            extra: Map::new(),
            line: 0,
        }
    }
}

/// A parsed history: its events in order, plus where it came from.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The file name (or another label) used in error messages.
    pub source: String,
    pub events: Vec<Event>,
    /// Non-fatal problems found while reading (e.g. a torn last line).
    pub warnings: Vec<String>,
    /// The initial state the file states (a JSONL header line
    /// `{"init": VALUE}`), for the linearizability models (`--init`
    /// overrides it).
    pub init: Option<Value>,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    /// Indeterminate, or never completed before the history ended.
    Info,
}

/// An invocation paired with its completion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    /// Position in the operation list.
    pub id: usize,
    pub process: Process,
    pub f: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The invocation's value.
    pub input: Value,
    /// The completion's value (`null` when the operation never completed).
    pub output: Value,
    pub status: Status,
    /// Position of the invocation among the history's events.
    pub call: usize,
    /// Position of the completion among the history's events; `None` when
    /// the operation is indeterminate (`info`, or never completed), which
    /// means it may take effect at any point after its call, or never.
    pub ret: Option<usize>,
    /// The `index` fields of the invocation and completion events.
    pub invoke_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoke_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Source lines of the invocation and completion (0 when unknown).
    pub invoke_line: usize,
    pub complete_line: usize,
}

/// A problem with the input, naming the file, line and field involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}:{line}: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct InputError {
    pub file: String,
    /// 1-based line; 0 when the problem is not tied to a line.
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

impl InputError {
    pub fn new(file: &str, line: usize, field: Option<&str>, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_string(),
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

impl History {
    /// The client `ok` reads (`f` read, get or r, with or without `:`)
    /// whose value is nil.
    fn nil_reads(&self) -> impl Iterator<Item = usize> + '_ {
        self.events.iter().enumerate().filter_map(|(i, e)| {
            let read = matches!(e.f.trim_start_matches(':'), "read" | "get" | "r");
            (read
                && e.kind == EventType::Ok
                && e.value.is_null()
                && matches!(e.process, Process::Client(_)))
            .then_some(i)
        })
    }

    /// How many client `ok` reads returned nil.
    pub fn count_nil_reads(&self) -> usize {
        self.nil_reads().count()
    }

    /// Knossos's reading of a read of nil: "we don't know what the read
    /// was", so it matches any state. Each client `ok` read of nil becomes
    /// an `info` read (its result unknown: it may be placed anywhere, and a
    /// read changes nothing). Returns how many; a warning says so.
    pub fn nil_reads_unknown(&mut self) -> usize {
        let at: Vec<usize> = self.nil_reads().collect();
        for &i in &at {
            self.events[i].kind = EventType::Info;
        }
        if !at.is_empty() {
            self.warnings.push(format!(
                "{} ok reads of nil were taken as reads of an unknown value (--nil-read unknown, Knossos's reading)",
                at.len()
            ));
        }
        at.len()
    }

    /// How many events each named (non-client) process has: Jepsen's rule
    /// is that only integer processes are clients, so these are never
    /// checked, but they are counted.
    pub fn named_events(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for e in &self.events {
            if let Process::Named(p) = &e.process {
                *m.entry(p.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Reads values that are Jepsen `independent` tuples, `[key value]`, as
    /// keyed events (`key` = the first element, `value` = the second), so
    /// that each key is checked on its own. Done only when no event carries
    /// a `key` already, every non-null client value is a two-element array
    /// whose first element is a number or string, and some op other than a
    /// cas has one (a history of plain cas ops, `[old new]`, looks the same
    /// and is left alone). An event without a value (a completion that
    /// dropped it) takes the key of its process's invocation. Returns whether
    /// it did so.
    pub fn split_independent(&mut self) -> bool {
        let tuple = |v: &Value| match v.as_array().map(Vec::as_slice) {
            Some([k, _]) => k.is_number() || k.is_string(),
            _ => false,
        };
        let mut non_cas = false;
        for e in self.events.iter().filter(|e| e.process.is_client()) {
            if e.key.is_some() {
                return false;
            }
            if e.value.is_null() {
                continue;
            }
            if !tuple(&e.value) {
                return false;
            }
            non_cas |= e.f.trim_start_matches(':') != "cas";
        }
        if !non_cas {
            return false;
        }
        let mut open: std::collections::HashMap<String, Value> = Default::default();
        for e in self.events.iter_mut().filter(|e| e.process.is_client()) {
            let p = e.process.to_string();
            if let Value::Array(mut kv) = std::mem::take(&mut e.value) {
                e.value = kv.pop().unwrap_or(Value::Null);
                e.key = kv.pop();
            } else {
                e.key = open.get(&p).cloned();
            }
            if e.kind == EventType::Invoke {
                if let Some(k) = &e.key {
                    open.insert(p, k.clone());
                }
            }
        }
        true
    }

    /// Pairs each client invocation with the completion of the same process.
    ///
    /// Events of named processes (the nemesis) are skipped. A completion with
    /// no open invocation, or an invocation while the process already has an
    /// open operation, is an error naming the line. Invocations still open at
    /// the end become `info` operations.
    pub fn operations(&self) -> Result<Vec<Operation>, InputError> {
        let mut ops: Vec<Operation> = Vec::new();
        let mut open: rustc_hash::FxHashMap<u64, usize> = Default::default();
        for (pos, ev) in self.events.iter().enumerate() {
            let p = match ev.process {
                Process::Client(p) => p,
                Process::Named(_) => continue,
            };
            match ev.kind {
                EventType::Invoke => {
                    if let Some(&prev) = open.get(&p) {
                        return Err(InputError::new(
                            &self.source,
                            ev.line,
                            Some("process"),
                            format!(
                                "process {p} invokes `{}` while its `{}` invoked on line {} is still open (a process has at most one open operation)",
                                ev.f, ops[prev].f, ops[prev].invoke_line
                            ),
                        ));
                    }
                    open.insert(p, ops.len());
                    ops.push(Operation {
                        id: ops.len(),
                        process: ev.process.clone(),
                        f: ev.f.clone(),
                        key: ev.key.clone(),
                        input: ev.value.clone(),
                        output: Value::Null,
                        status: Status::Info,
                        call: pos,
                        ret: None,
                        invoke_index: ev.index,
                        complete_index: None,
                        invoke_time: ev.time,
                        complete_time: None,
                        node: ev.node.clone(),
                        error: None,
                        invoke_line: ev.line,
                        complete_line: 0,
                    });
                }
                kind => {
                    let Some(id) = open.remove(&p) else {
                        return Err(InputError::new(
                            &self.source,
                            ev.line,
                            Some("process"),
                            format!(
                                "`{}` completion of `{}` by process {p} has no matching invocation",
                                kind.as_str(),
                                ev.f
                            ),
                        ));
                    };
                    let op = &mut ops[id];
                    if op.f != ev.f {
                        return Err(InputError::new(
                            &self.source,
                            ev.line,
                            Some("f"),
                            format!(
                                "completion `{}` does not match the invocation `{}` of process {p} on line {}",
                                ev.f, op.f, op.invoke_line
                            ),
                        ));
                    }
                    op.output = ev.value.clone();
                    op.complete_index = Some(ev.index);
                    op.complete_time = ev.time;
                    op.complete_line = ev.line;
                    op.error = ev.error.clone();
                    if op.key.is_none() {
                        op.key = ev.key.clone();
                    }
                    match kind {
                        EventType::Ok => {
                            op.status = Status::Ok;
                            op.ret = Some(pos);
                        }
                        EventType::Fail => {
                            op.status = Status::Fail;
                            op.ret = Some(pos);
                        }
                        _ => {
                            op.status = Status::Info;
                            op.ret = None;
                        }
                    }
                }
            }
        }
        Ok(ops)
    }
}
