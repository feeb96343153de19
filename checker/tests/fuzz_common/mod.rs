//! Shared by `tests/fuzz_parsers.rs` (short property tests) and
//! `examples/fuzz_parsers.rs` (the long seeded run behind
//! `scripts/fuzz-parsers.sh`): a seeded generator of valid histories for
//! every history reader, a byte/line/token mutator, and the invariants every
//! parse must keep.
//!
//! The invariants ([`check_input`]):
//! - an input is either accepted (`Ok`) or rejected with an [`InputError`]
//!   that names the source and a line that exists in the input
//!   (`1..=lines`), shown as `source:line: ...` (the crate's convention);
//! - an accepted history has 1-based, non-decreasing lines inside the input,
//!   strictly increasing indices, and, for line-based formats, every
//!   non-blank line is an event or is counted in a warning (no op is lost
//!   silently);
//! - an accepted history survives a round trip through [`JsonlWriter`]
//!   and the JSONL reader unchanged;
//! - a valid generated (unmutated) input is accepted with exactly the
//!   events it was generated from (process, type, f, value, index), is
//!   detected as its format, and its transactions all parse;
//! - the txn parser and [`History::operations`] on an accepted history
//!   either succeed or name a line of the input.
//!
//! Panics are not caught here: the callers do that.

#![allow(dead_code)]

use checker::formats::{self, Format, JsonlWriter};
use checker::txn::parse as txn_parse;
use checker::txn::Kind;
use checker::{EventType, History, InputError, Process};
use serde_json::Value;

/// The source name every fuzzed parse uses (errors must name it).
pub const SRC: &str = "fuzz-input";

// ---------------------------------------------------------------------------
// A small seeded generator (SplitMix64): reproducible from one u64, no
// dependency.

pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// The seed of input `i` of a run seeded with `seed`.
pub fn input_seed(seed: u64, i: u64) -> u64 {
    let mut r = Prng::new(seed ^ i.wrapping_mul(0xD134_2543_DE82_EF95));
    r.next_u64()
}

// ---------------------------------------------------------------------------
// Targets: one per reader (and per transaction data model).

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// faultline JSONL.
    Jsonl,
    /// Jepsen EDN op maps (`history.edn`).
    Edn,
    /// Knossos `[process type f value]` vectors (EDN reader).
    Knossos,
    /// elle-cli JSON array of op objects.
    Json,
    /// Jepsen `history.txt`.
    JepsenText,
    /// Porcupine / Jepsen etcd log.
    PorcupineEtcd,
    /// Porcupine kv log.
    PorcupineKv,
    /// list-append transactions (JSONL, EDN or JSON), then the txn parser.
    TxnListAppend,
    /// rw-register transactions (JSONL, EDN or JSON), then the txn parser.
    TxnRwRegister,
}

pub const TARGETS: [Target; 9] = [
    Target::Jsonl,
    Target::Edn,
    Target::Knossos,
    Target::Json,
    Target::JepsenText,
    Target::PorcupineEtcd,
    Target::PorcupineKv,
    Target::TxnListAppend,
    Target::TxnRwRegister,
];

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Jsonl => "jsonl",
            Target::Edn => "edn",
            Target::Knossos => "knossos-vectors",
            Target::Json => "elle-json-array",
            Target::JepsenText => "jepsen-history.txt",
            Target::PorcupineEtcd => "porcupine-etcd",
            Target::PorcupineKv => "porcupine-kv",
            Target::TxnListAppend => "txn-list-append",
            Target::TxnRwRegister => "txn-rw-register",
        }
    }

    pub fn txn_kind(self) -> Option<Kind> {
        match self {
            Target::TxnListAppend => Some(Kind::ListAppend),
            Target::TxnRwRegister => Some(Kind::RwRegister),
            _ => None,
        }
    }
}

/// One fuzz input: the bytes, the format they are parsed as, and (for a
/// valid generated input) what the parse must return.
#[derive(Debug, Clone)]
pub struct Case {
    pub target: Target,
    pub format: Format,
    pub bytes: Vec<u8>,
    pub expect: Option<Expected>,
}

#[derive(Debug, Clone)]
pub struct Expected {
    pub events: Vec<ExpEvent>,
    /// For txn targets: how many transactions (client txn invocations)
    /// and how many skipped client ops.
    pub txns: Option<(usize, usize)>,
    /// Whether [`formats::detect`] must name the format (not for a log
    /// whose lines start with a timestamp rather than a log level).
    pub detect: bool,
}

#[derive(Debug, Clone)]
pub struct ExpEvent {
    pub process: Process,
    pub kind: EventType,
    pub f: String,
    pub key: Option<Value>,
    pub value: Value,
    pub index: u64,
}

// ---------------------------------------------------------------------------
// Values: rendered as JSON or EDN, with the JSON value the readers must
// return.

#[derive(Clone, Debug)]
enum V {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    Kw(String),
    Vec(Vec<V>),
    Set(Vec<V>),
    Map(Vec<(String, V)>),
}

const KEYWORDS: [&str; 9] = [
    "a",
    "b",
    "k-1",
    "foo/bar",
    "x.y",
    "ok?",
    "é",
    "timed-out",
    "conn_lost",
];

const STR_PIECES: [&str; 18] = [
    "x", "y 0 1 z", " ", "\"", "\\", "\n", "\t", "\r", "é", "日本", "😀", "\u{0}", "\u{7f}",
    "\u{2028}", "{:a 1}", "[1 2]", "nil", "\u{1b}",
];

fn gen_int(r: &mut Prng) -> i64 {
    match r.below(10) {
        0 => *r.pick(&[i64::MIN, i64::MAX, -1, 0, 1 << 40]),
        1..=3 => r.below(1_000_000) as i64 - 500_000,
        _ => r.below(10) as i64,
    }
}

fn gen_str(r: &mut Prng) -> String {
    let n = r.below(5);
    (0..n).map(|_| *r.pick(&STR_PIECES)).collect()
}

fn gen_value(r: &mut Prng, depth: usize) -> V {
    let k = if depth >= 3 { r.below(6) } else { r.below(9) };
    match k {
        0 => V::Nil,
        1 => V::Bool(r.chance(50)),
        2 | 3 => V::Int(gen_int(r)),
        4 => V::Str(gen_str(r)),
        5 => V::Kw(r.pick(&KEYWORDS).to_string()),
        6 => V::Vec((0..r.below(4)).map(|_| gen_value(r, depth + 1)).collect()),
        7 => V::Set((0..r.below(3)).map(|_| gen_value(r, depth + 1)).collect()),
        _ => {
            let mut m: Vec<(String, V)> = Vec::new();
            for _ in 0..r.below(3) {
                let k = r.pick(&KEYWORDS).to_string();
                if !m.iter().any(|(x, _)| *x == k) {
                    m.push((k, gen_value(r, depth + 1)));
                }
            }
            V::Map(m)
        }
    }
}

impl V {
    fn json(&self) -> Value {
        match self {
            V::Nil => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Int(i) => Value::from(*i),
            V::Str(s) | V::Kw(s) => Value::String(s.clone()),
            V::Vec(v) | V::Set(v) => Value::Array(v.iter().map(V::json).collect()),
            V::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), v.json())).collect()),
        }
    }

    fn json_text(&self) -> String {
        self.json().to_string()
    }

    fn edn(&self, out: &mut String) {
        match self {
            V::Nil => out.push_str("nil"),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Int(i) => out.push_str(&i.to_string()),
            V::Str(s) => edn_str(s, out),
            V::Kw(k) => {
                out.push(':');
                out.push_str(k);
            }
            V::Vec(v) | V::Set(v) => {
                out.push_str(if matches!(self, V::Set(_)) { "#{" } else { "[" });
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    x.edn(out);
                }
                out.push(if matches!(self, V::Set(_)) { '}' } else { ']' });
            }
            V::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push(':');
                    out.push_str(k);
                    out.push(' ');
                    v.edn(out);
                }
                out.push('}');
            }
        }
    }

    fn edn_text(&self) -> String {
        let mut s = String::new();
        self.edn(&mut s);
        s
    }
}

fn edn_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------
// Histories: a simulated run of a few processes, then rendered.

#[derive(Clone, Debug)]
struct GenEvent {
    /// `None`: the nemesis.
    process: Option<u64>,
    kind: EventType,
    f: String,
    value: V,
    error: Option<V>,
    /// Only for keyed formats (kv, JSONL with a `key` field).
    key: Option<V>,
    index: Option<u64>,
    time: Option<i64>,
    node: Option<String>,
    extra: Vec<(String, V)>,
}

impl GenEvent {
    fn exp(&self, index: u64) -> ExpEvent {
        ExpEvent {
            process: match self.process {
                Some(p) => Process::Client(p),
                None => Process::Named("nemesis".into()),
            },
            kind: self.kind,
            f: self.f.clone(),
            key: self.key.as_ref().map(V::json),
            value: self.value.json(),
            index: self.index.unwrap_or(index),
        }
    }
}

fn type_name(k: EventType) -> &'static str {
    k.as_str()
}

/// What one op does, per target.
trait OpGen {
    /// A new invocation: (f, value, key).
    fn invoke(&mut self, r: &mut Prng) -> (String, V, Option<V>);
    /// The completion's value for an invocation, given its outcome.
    fn complete(&mut self, r: &mut Prng, f: &str, inv: &V, kind: EventType) -> V;
    /// An error for a fail/info completion.
    fn error(&mut self, r: &mut Prng) -> Option<V> {
        r.chance(30)
            .then(|| V::Kw(r.pick(&["timed-out", "conn-lost", "unknown"]).to_string()))
    }
}

struct Generic;

impl OpGen for Generic {
    fn invoke(&mut self, r: &mut Prng) -> (String, V, Option<V>) {
        let f = r.pick(&[
            "read", "write", "cas", "add", "enqueue", "dequeue", "x/y", "é",
        ]);
        (f.to_string(), gen_value(r, 0), None)
    }
    fn complete(&mut self, r: &mut Prng, _f: &str, inv: &V, kind: EventType) -> V {
        if kind == EventType::Ok && r.chance(50) {
            gen_value(r, 0)
        } else {
            inv.clone()
        }
    }
}

struct Etcd;

impl OpGen for Etcd {
    fn invoke(&mut self, r: &mut Prng) -> (String, V, Option<V>) {
        match r.below(3) {
            0 => ("read".into(), V::Nil, None),
            1 => ("write".into(), V::Int(gen_int(r)), None),
            _ => (
                "cas".into(),
                V::Vec(vec![V::Int(gen_int(r)), V::Int(gen_int(r))]),
                None,
            ),
        }
    }
    fn complete(&mut self, r: &mut Prng, f: &str, inv: &V, kind: EventType) -> V {
        match (f, kind) {
            ("read", EventType::Ok) if r.chance(80) => V::Int(gen_int(r)),
            (_, EventType::Fail | EventType::Info) if r.chance(40) => {
                V::Kw(r.pick(&["timed-out", "conn-lost"]).to_string())
            }
            _ => inv.clone(),
        }
    }
    fn error(&mut self, _r: &mut Prng) -> Option<V> {
        None
    }
}

struct Kv;

impl OpGen for Kv {
    fn invoke(&mut self, r: &mut Prng) -> (String, V, Option<V>) {
        let key = V::Str(r.below(10).to_string());
        match r.below(3) {
            0 => ("get".into(), V::Nil, Some(key)),
            1 => ("put".into(), V::Str(gen_str(r)), Some(key)),
            _ => ("append".into(), V::Str(gen_str(r)), Some(key)),
        }
    }
    fn complete(&mut self, r: &mut Prng, f: &str, inv: &V, kind: EventType) -> V {
        if f == "get" && kind == EventType::Ok {
            V::Str(gen_str(r))
        } else {
            inv.clone()
        }
    }
    fn error(&mut self, _r: &mut Prng) -> Option<V> {
        None
    }
}

struct Txn {
    kind: Kind,
    next: i64,
    /// Whether to write `f`s as keywords-with-colon strings sometimes.
    colon: bool,
}

impl Txn {
    fn key(&self, r: &mut Prng) -> V {
        if r.chance(80) {
            V::Int(r.below(5) as i64)
        } else {
            V::Str(format!("k{}", r.below(3)))
        }
    }
    fn fname(&self, r: &mut Prng, f: &str) -> V {
        if self.colon && r.chance(20) {
            V::Str(format!(":{f}"))
        } else {
            V::Kw(f.to_string())
        }
    }
}

impl OpGen for Txn {
    fn invoke(&mut self, r: &mut Prng) -> (String, V, Option<V>) {
        if r.chance(5) {
            // A client op that is not a txn: skipped, and counted.
            return ("read".into(), V::Nil, None);
        }
        let n = r.below(4);
        let mut mops = Vec::new();
        for _ in 0..n {
            let k = self.key(r);
            if r.chance(50) {
                mops.push(V::Vec(vec![self.fname(r, "r"), k, V::Nil]));
            } else {
                self.next += 1;
                let f = match self.kind {
                    Kind::ListAppend => "append",
                    Kind::RwRegister => "w",
                };
                mops.push(V::Vec(vec![self.fname(r, f), k, V::Int(self.next)]));
            }
        }
        ("txn".into(), V::Vec(mops), None)
    }
    fn complete(&mut self, r: &mut Prng, f: &str, inv: &V, kind: EventType) -> V {
        if f != "txn" {
            return inv.clone();
        }
        if kind != EventType::Ok {
            return if r.chance(20) { V::Nil } else { inv.clone() };
        }
        let V::Vec(mops) = inv else {
            return inv.clone();
        };
        let filled = mops
            .iter()
            .map(|m| match m {
                V::Vec(x)
                    if matches!(&x[0], V::Kw(f) if f == "r")
                        || matches!(&x[0], V::Str(f) if f == ":r") =>
                {
                    let seen = match self.kind {
                        Kind::ListAppend if r.chance(80) => V::Vec(
                            (0..r.below(4))
                                .map(|_| V::Int(r.below(50) as i64))
                                .collect(),
                        ),
                        Kind::RwRegister if r.chance(80) => V::Int(r.below(50) as i64),
                        _ => V::Nil,
                    };
                    V::Vec(vec![x[0].clone(), x[1].clone(), seen])
                }
                other => other.clone(),
            })
            .collect();
        V::Vec(filled)
    }
    fn error(&mut self, _r: &mut Prng) -> Option<V> {
        None
    }
}

struct Sim {
    events: Vec<GenEvent>,
    /// Client invocations (txn targets: of f `txn`) and other client
    /// invocations.
    txn_invokes: usize,
    other_invokes: usize,
}

/// Simulates a run: `n` steps over up to 5 worker processes, each op
/// invoked then completed (ok / fail / info; an info retires the process,
/// which continues under id + concurrency); some nemesis events; some ops
/// left open at the end.
fn simulate(r: &mut Prng, g: &mut dyn OpGen, nemesis: bool, indices: bool, times: bool) -> Sim {
    let conc = 1 + r.below(5) as u64;
    let mut ids: Vec<u64> = (0..conc).collect();
    let mut open: Vec<Option<(String, V, Option<V>)>> = vec![None; conc as usize];
    let mut events = Vec::new();
    let steps = match r.below(10) {
        0 => 0,
        1..=6 => r.below(20),
        8 => r.below(200),
        _ => r.below(60),
    };
    let mut index = 0u64;
    let mut time = r.below(1000) as i64;
    let (mut txn_invokes, mut other_invokes) = (0, 0);
    for _ in 0..steps {
        index += if r.chance(80) {
            1
        } else {
            1 + r.below(1000) as u64
        };
        time += r.below(100_000) as i64;
        let mut ev = GenEvent {
            process: None,
            kind: EventType::Info,
            f: String::new(),
            value: V::Nil,
            error: None,
            key: None,
            index: indices.then_some(index),
            time: times.then_some(time),
            node: None,
            extra: Vec::new(),
        };
        if nemesis && r.chance(5) {
            ev.f = r.pick(&["start", "stop", "kill"]).to_string();
            ev.value = if r.chance(50) {
                V::Nil
            } else {
                V::Map(vec![("n1".into(), V::Vec(vec![V::Str("n2".into())]))])
            };
            events.push(ev);
            continue;
        }
        let w = r.below(conc as usize);
        ev.process = Some(ids[w]);
        match open[w].take() {
            None => {
                let (f, v, k) = g.invoke(r);
                if f == "txn" {
                    txn_invokes += 1;
                } else {
                    other_invokes += 1;
                }
                ev.kind = EventType::Invoke;
                ev.f = f.clone();
                ev.value = v.clone();
                ev.key = k.clone();
                open[w] = Some((f, v, k));
            }
            Some((f, v, k)) => {
                ev.kind = *r.pick(&[
                    EventType::Ok,
                    EventType::Ok,
                    EventType::Fail,
                    EventType::Info,
                ]);
                ev.value = g.complete(r, &f, &v, ev.kind);
                if ev.kind != EventType::Ok {
                    ev.error = g.error(r);
                }
                if ev.kind == EventType::Info {
                    ids[w] += conc;
                }
                ev.f = f;
                ev.key = k;
            }
        }
        if r.chance(10) {
            ev.node = Some(format!("n{}", r.below(5)));
        }
        events.push(ev);
    }
    Sim {
        events,
        txn_invokes,
        other_invokes,
    }
}

fn expected(sim: &Sim, txns: bool) -> Expected {
    Expected {
        events: sim
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| e.exp(i as u64))
            .collect(),
        txns: txns.then_some((sim.txn_invokes, sim.other_invokes)),
        detect: true,
    }
}

/// Expected events when indices are assigned 0, 1, 2, ... by the reader.
fn renumber(mut e: Expected) -> Expected {
    for (i, x) in e.events.iter_mut().enumerate() {
        x.index = i as u64;
    }
    e
}

// --- JSON-ish renderers ---------------------------------------------------

fn json_fields(r: &mut Prng, e: &GenEvent, txn_colon: bool) -> Vec<String> {
    let mut fields = Vec::new();
    let q = |s: &str| Value::String(s.to_string()).to_string();
    if let Some(i) = e.index {
        fields.push(format!("\"index\":{i}"));
    }
    if let Some(t) = e.time {
        fields.push(format!("\"time\":{t}"));
    }
    fields.push(match e.process {
        Some(p) => format!("\"process\":{p}"),
        None => "\"process\":\"nemesis\"".to_string(),
    });
    let t = if txn_colon && r.chance(10) {
        format!(":{}", type_name(e.kind))
    } else {
        type_name(e.kind).to_string()
    };
    fields.push(format!("\"type\":{}", q(&t)));
    fields.push(format!("\"f\":{}", q(&e.f)));
    if let Some(k) = &e.key {
        fields.push(format!("\"key\":{}", k.json_text()));
    }
    if !matches!(e.value, V::Nil) || r.chance(50) {
        fields.push(format!("\"value\":{}", e.value.json_text()));
    }
    if let Some(n) = &e.node {
        fields.push(format!("\"node\":{}", q(n)));
    }
    if let Some(err) = &e.error {
        fields.push(format!("\"error\":{}", err.json_text()));
    }
    for (k, v) in &e.extra {
        fields.push(format!("{}:{}", q(k), v.json_text()));
    }
    // Field order does not matter.
    for i in (1..fields.len()).rev() {
        if r.chance(30) {
            let j = r.below(i + 1);
            fields.swap(i, j);
        }
    }
    fields
}

fn json_object(r: &mut Prng, e: &GenEvent) -> String {
    let sep = if r.chance(20) { ", " } else { "," };
    format!("{{{}}}", json_fields(r, e, true).join(sep))
}

fn add_extras(r: &mut Prng, sim: &mut Sim) {
    for e in &mut sim.events {
        if r.chance(10) {
            e.extra
                .push(("latency".into(), V::Int(r.below(1000) as i64)));
        }
        if r.chance(5) {
            e.extra.push(("meta".into(), gen_value(r, 1)));
        }
    }
}

fn render_jsonl(r: &mut Prng, sim: &Sim) -> Vec<u8> {
    let mut out = String::new();
    if r.chance(5) {
        out.push('\u{feff}');
    }
    if r.chance(10) {
        out.push_str(&format!("{{\"init\":{}}}\n", gen_value(r, 1).json_text()));
    }
    let crlf = r.chance(10);
    for (i, e) in sim.events.iter().enumerate() {
        if r.chance(5) {
            out.push_str(if r.chance(50) { "\n" } else { "  \t\n" });
        }
        out.push_str(&json_object(r, e));
        let last = i + 1 == sim.events.len();
        if !(last && r.chance(20)) {
            out.push_str(if crlf { "\r\n" } else { "\n" });
        }
    }
    out.into_bytes()
}

fn render_json_array(r: &mut Prng, sim: &Sim) -> Vec<u8> {
    let mut out = String::new();
    if r.chance(5) {
        out.push_str("  \n");
    }
    out.push('[');
    let pretty = r.chance(50);
    for (i, e) in sim.events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if pretty {
            out.push_str("\n  ");
        }
        out.push_str(&json_object(r, e));
    }
    if pretty {
        out.push('\n');
    }
    out.push(']');
    if r.chance(50) {
        out.push('\n');
    }
    out.into_bytes()
}

// --- EDN renderers --------------------------------------------------------

fn edn_map(r: &mut Prng, e: &GenEvent, kv_style: bool) -> String {
    let mut fields: Vec<String> = Vec::new();
    fields.push(match e.process {
        Some(p) => format!(":process {p}"),
        None => ":process :nemesis".to_string(),
    });
    fields.push(format!(":type :{}", type_name(e.kind)));
    fields.push(format!(":f :{}", e.f));
    if let Some(k) = &e.key {
        fields.push(format!(":key {}", k.edn_text()));
    }
    fields.push(format!(":value {}", e.value.edn_text()));
    if kv_style {
        return format!("{{{}}}", fields.join(", "));
    }
    if let Some(i) = e.index {
        fields.push(format!(":index {i}"));
    }
    if let Some(t) = e.time {
        fields.push(format!(":time {t}"));
    }
    if let Some(n) = &e.node {
        let mut s = String::from(":node ");
        edn_str(n, &mut s);
        fields.push(s);
    }
    if let Some(err) = &e.error {
        fields.push(format!(":error {}", err.edn_text()));
    }
    for (k, v) in &e.extra {
        fields.push(format!(":{k} {}", v.edn_text()));
    }
    if r.chance(10) {
        fields.push("#_ :dropped".to_string());
        fields.push("#_ 42".to_string());
    }
    for i in (1..fields.len()).rev() {
        if r.chance(30) {
            let j = r.below(i + 1);
            fields.swap(i, j);
        }
    }
    let sep = *r.pick(&[", ", " ", "\n ", ",\n  "]);
    let tag = if r.chance(10) {
        "#jepsen.history.Op"
    } else {
        ""
    };
    format!("{tag}{{{}}}", fields.join(sep))
}

fn knossos_vector(e: &GenEvent) -> String {
    let p = match e.process {
        Some(p) => p.to_string(),
        None => ":nemesis".to_string(),
    };
    let mut s = format!(
        "[{p} :{} :{} {}",
        type_name(e.kind),
        e.f,
        e.value.edn_text()
    );
    if let Some(err) = &e.error {
        s.push(' ');
        err.edn(&mut s);
    }
    s.push(']');
    s
}

/// Joins top-level EDN forms: one per line, several on a line, or inside
/// a top-level vector or list; with comments and discarded forms.
fn edn_join(r: &mut Prng, forms: Vec<String>, wrap_ok: bool) -> Vec<u8> {
    let mut out = String::new();
    if r.chance(5) {
        out.push_str("; a Jepsen history\n");
    }
    let wrap = if wrap_ok {
        *r.pick(&[None, None, Some(("[", "]")), Some(("(", ")"))])
    } else {
        None
    };
    if let Some((open, _)) = wrap {
        out.push_str(open);
        if r.chance(50) || forms.is_empty() {
            out.push('\n');
        }
    }
    for (i, f) in forms.iter().enumerate() {
        if r.chance(3) {
            out.push_str("#_ {:type :invoke :f :read :process 9}\n");
        }
        if r.chance(3) {
            out.push_str(";; comment [ { (\n");
        }
        out.push_str(f);
        if i + 1 < forms.len() {
            out.push_str(if r.chance(10) { " " } else { "\n" });
        }
    }
    if let Some((_, close)) = wrap {
        out.push_str(close);
    }
    if r.chance(70) {
        out.push('\n');
    }
    out.into_bytes()
}

// --- text renderers -------------------------------------------------------

fn render_jepsen_text(r: &mut Prng, sim: &Sim) -> (Vec<u8>, bool) {
    let with_index = r.chance(60) && sim.events.iter().all(|e| e.index.is_some());
    let mut out = String::new();
    for e in &sim.events {
        if r.chance(3) {
            out.push('\n');
        }
        if with_index {
            out.push_str(&format!("{}\t", e.index.unwrap_or(0)));
        }
        match e.process {
            Some(p) => out.push_str(&p.to_string()),
            None => out.push_str(":nemesis"),
        }
        out.push_str(&format!("\t:{}\t:{}\t", type_name(e.kind), e.f));
        e.value.edn(&mut out);
        if let Some(err) = &e.error {
            out.push('\t');
            err.edn(&mut out);
        }
        out.push('\n');
    }
    (out.into_bytes(), with_index)
}

/// Lines of a Jepsen log that are not client ops.
const ETCD_JUNK: [&str; 4] = [
    "INFO  jepsen.core - Worker 0 starting\n",
    "WARN  jepsen.core - leader changed\n",
    "\n",
    "INFO  jepsen.utility - 0 :invoke :read nil\n",
];

fn render_etcd(r: &mut Prng, sim: &Sim) -> (Vec<u8>, Vec<usize>, bool) {
    let mut out = String::new();
    // Positions (in `sim.events`) of the lines that are client ops.
    let mut kept = Vec::new();
    let sep = *r.pick(&["\t", " ", "   "]);
    let prefix = *r.pick(&[
        "INFO  jepsen.util - ",
        "INFO  jepsen.util -\t",
        "INFO  jepsen.util ",
        "2015-03-01 12:00:00,123{main} INFO  jepsen.util - ",
    ]);
    for (i, e) in sim.events.iter().enumerate() {
        if r.chance(3) {
            out.push_str(r.pick::<&str>(&ETCD_JUNK));
        }
        let p = match e.process {
            Some(p) => p.to_string(),
            None => ":nemesis".to_string(),
        };
        let v = match &e.value {
            V::Vec(x) => format!("[{} {}]", x[0].edn_text(), x[1].edn_text()),
            other => other.edn_text(),
        };
        out.push_str(&format!(
            "{prefix}{p}{sep}:{}{sep}:{}{sep}{v}\n",
            type_name(e.kind),
            e.f
        ));
        if e.process.is_some() {
            kept.push(i);
        }
    }
    if kept.is_empty() {
        // A log without op lines is an error, not an empty history.
        out.clear();
    }
    (out.into_bytes(), kept, prefix.starts_with("INFO"))
}

// ---------------------------------------------------------------------------
// Generation per target.

/// A valid input for `target`, with the events its parse must return.
pub fn generate(r: &mut Prng, target: Target) -> Case {
    let indices = r.chance(50);
    let times = r.chance(50);
    match target {
        Target::Jsonl | Target::Json => {
            let mut sim = simulate(r, &mut Generic, true, indices, times);
            add_extras(r, &mut sim);
            let (bytes, format) = if target == Target::Jsonl {
                (render_jsonl(r, &sim), Format::Jsonl)
            } else {
                (render_json_array(r, &sim), Format::Json)
            };
            Case {
                target,
                format,
                bytes,
                expect: Some(expected(&sim, false)),
            }
        }
        Target::Edn => {
            let mut sim = simulate(r, &mut Generic, true, indices, times);
            add_extras(r, &mut sim);
            let forms = sim.events.iter().map(|e| edn_map(r, e, false)).collect();
            Case {
                target,
                format: Format::Edn,
                bytes: edn_join(r, forms, true),
                expect: Some(expected(&sim, false)),
            }
        }
        Target::Knossos => {
            let sim = simulate(r, &mut Generic, true, false, false);
            let forms = sim.events.iter().map(knossos_vector).collect();
            Case {
                target,
                format: Format::Edn,
                bytes: edn_join(r, forms, true),
                expect: Some(expected(&sim, false)),
            }
        }
        Target::JepsenText => {
            let sim = simulate(r, &mut Generic, true, indices, false);
            let (bytes, with_index) = render_jepsen_text(r, &sim);
            let exp = expected(&sim, false);
            Case {
                target,
                format: Format::JepsenText,
                bytes,
                expect: Some(if with_index { exp } else { renumber(exp) }),
            }
        }
        Target::PorcupineEtcd => {
            let sim = simulate(r, &mut Etcd, true, false, false);
            let (bytes, kept, detect) = render_etcd(r, &sim);
            let mut events = Vec::new();
            for (n, &i) in kept.iter().enumerate() {
                let e = &sim.events[i];
                let mut x = e.exp(n as u64);
                // Keyword values on fail/info lines are the error.
                if matches!(e.value, V::Kw(_)) {
                    x.value = Value::Null;
                }
                events.push(x);
            }
            Case {
                target,
                format: Format::PorcupineEtcd,
                bytes,
                expect: Some(renumber(Expected {
                    events,
                    txns: None,
                    detect,
                })),
            }
        }
        Target::PorcupineKv => {
            let sim = simulate(r, &mut Kv, false, false, false);
            let forms: Vec<String> = sim.events.iter().map(|e| edn_map(r, e, true)).collect();
            let mut bytes = forms.join("\n");
            if !forms.is_empty() {
                bytes.push('\n');
            }
            Case {
                target,
                format: Format::PorcupineKv,
                bytes: bytes.into_bytes(),
                expect: Some(renumber(expected(&sim, false))),
            }
        }
        Target::TxnListAppend | Target::TxnRwRegister => {
            let kind = target.txn_kind().unwrap_or(Kind::ListAppend);
            let format = *r.pick(&[Format::Jsonl, Format::Edn, Format::Json]);
            let mut g = Txn {
                kind,
                next: 0,
                colon: format != Format::Edn,
            };
            let sim = simulate(r, &mut g, true, indices, times);
            let bytes = match format {
                Format::Jsonl => render_jsonl(r, &sim),
                Format::Json => render_json_array(r, &sim),
                _ => {
                    let forms = sim.events.iter().map(|e| edn_map(r, e, false)).collect();
                    edn_join(r, forms, true)
                }
            };
            Case {
                target,
                format,
                bytes,
                expect: Some(expected(&sim, true)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Mutation.

const TOKENS: [&str; 48] = [
    ":invoke",
    ":ok",
    ":fail",
    ":info",
    "nil",
    "\t",
    "\"",
    "\\",
    "\\u",
    "\\uD800",
    "\\u12",
    "#inst \"x\"",
    "##NaN",
    "##Inf",
    "##x",
    "\\newline",
    "\\",
    "#{",
    "#\"",
    "#_",
    "#",
    "#:ns{",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ":",
    ";",
    "\n",
    "\r\n",
    "{\"",
    "\":",
    "[{",
    "}]",
    "null",
    "true",
    "-",
    "+",
    ".",
    "e",
    "N",
    "M",
    "/",
    "jepsen.util",
    "\u{feff}",
];

const UNICODE: [&[u8]; 14] = [
    "é".as_bytes(),
    "日本".as_bytes(),
    "😀".as_bytes(),
    "\u{2028}".as_bytes(),
    "\u{3000}".as_bytes(),
    "\u{85}".as_bytes(),
    "\u{feff}".as_bytes(),
    "\u{0}".as_bytes(),
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xc0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
];

const HUGE: [&str; 18] = [
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "-0",
    "1e999",
    "-1e999",
    "1e-999",
    "1.7976931348623157e308",
    "1/0",
    "0/0",
    "-1/0",
    "99999999999999999999N",
    "1.5e308M",
    "0x10",
    "4294967296",
];

/// Inputs are capped at this size after mutation.
pub const MAX_INPUT: usize = 256 * 1024;

fn line_spans(v: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if b == b'\n' {
            spans.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < v.len() {
        spans.push((start, v.len()));
    }
    spans
}

const NUMBER_SUFFIXES: [&[u8]; 5] = [b"N", b"M", b".5", b"e308", b"e-400"];

fn huge_number(r: &mut Prng) -> Vec<u8> {
    if r.chance(60) {
        r.pick(&HUGE).as_bytes().to_vec()
    } else {
        let most = if r.chance(90) { 40 } else { 5000 };
        let n = 1 + r.below(most);
        let mut s: Vec<u8> = if r.chance(30) {
            b"-".to_vec()
        } else {
            Vec::new()
        };
        s.extend((0..n).map(|_| b'0' + r.below(10) as u8));
        if r.chance(20) {
            s.extend_from_slice(r.pick::<&[u8]>(&NUMBER_SUFFIXES));
        }
        s
    }
}

fn nesting(r: &mut Prng) -> Vec<u8> {
    let n = *r.pick(&[10, 127, 128, 129, 511, 512, 513, 600, 2000, 20_000]);
    let (open, close): (&[u8], &[u8]) = *r.pick(&[
        (&b"["[..], &b"]"[..]),
        (b"(", b")"),
        (b"#{", b"}"),
        (b"{:a ", b"}"),
        (b"{\"a\":", b"}"),
        (b"[{\"v\":", b"}]"),
        (b"#_ ", b""),
        (b"#tag ", b""),
        (b"#{[(", b")]}"),
    ]);
    let mut s = open.repeat(n);
    if r.chance(60) {
        s.extend_from_slice(b"1");
        s.extend_from_slice(&close.repeat(if r.chance(80) { n } else { r.below(n + 2) }));
    }
    s
}

/// Applies 1 to 8 random mutations to `input`; `donors` are other inputs
/// to splice from.
pub fn mutate(r: &mut Prng, input: &[u8], donors: &[&[u8]]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = *r.pick(&[1, 1, 1, 1, 2, 2, 3, 4, 8]);
    for _ in 0..rounds {
        let n = v.len();
        let at = r.below(n + 1);
        match r.below(17) {
            0 if n > 0 => v[r.below(n)] = r.next_u64() as u8,
            1 if n > 0 => {
                let i = r.below(n);
                v[i] ^= 1 << r.below(8);
            }
            2 | 3 => {
                let t = r.pick(&TOKENS).as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            4 if n > 0 => {
                let len = 1 + r.below(16.min(n - at.min(n - 1)));
                let s = at.min(n - 1);
                v.drain(s..(s + len).min(n));
            }
            5 => v.truncate(at),
            6 if !donors.is_empty() => {
                let d = *r.pick(donors);
                let j = r.below(d.len() + 1);
                v.truncate(at);
                v.extend_from_slice(&d[j..]);
            }
            7..=9 => {
                let spans = line_spans(&v);
                if spans.is_empty() {
                    continue;
                }
                let (s, e) = *r.pick(&spans);
                match r.below(4) {
                    // Duplicate a line (elsewhere or in place).
                    0 => {
                        let line = v[s..e].to_vec();
                        let (ts, _) = *r.pick(&spans);
                        v.splice(ts..ts, line);
                    }
                    // Remove a line.
                    1 => {
                        v.drain(s..e);
                    }
                    // Swap two lines.
                    2 => {
                        let (s2, e2) = *r.pick(&spans);
                        if s2 > e {
                            let a = v[s..e].to_vec();
                            let b = v[s2..e2].to_vec();
                            v.splice(s2..e2, a);
                            v.splice(s..e, b);
                        }
                    }
                    // Replace a line with a donor's line.
                    _ => {
                        if let Some(d) = (!donors.is_empty()).then(|| *r.pick(donors)) {
                            let ds = line_spans(d);
                            if !ds.is_empty() {
                                let (a, b) = *r.pick(&ds);
                                v.splice(s..e, d[a..b].iter().copied());
                            }
                        }
                    }
                }
            }
            10 => {
                let u = *r.pick(&UNICODE);
                v.splice(at..at, u.iter().copied());
            }
            11 => {
                // Replace a run of digits (or insert) with a huge number.
                let num = huge_number(r);
                let start = (at..n).find(|&i| v[i].is_ascii_digit());
                match start {
                    Some(s) => {
                        let e = (s..n).find(|&i| !v[i].is_ascii_digit()).unwrap_or(n);
                        v.splice(s..e, num);
                    }
                    None => {
                        v.splice(at..at, num);
                    }
                }
            }
            12 => {
                let nest = nesting(r);
                v.splice(at..at, nest);
            }
            13 if n > 0 => {
                // Repeat a chunk many times.
                let s = r.below(n);
                let len = 1 + r.below(64.min(n - s));
                let chunk = v[s..s + len].to_vec();
                let most = if r.chance(90) { 8 } else { 2000 };
                let times = 1 + r.below(most);
                let rep = chunk.repeat(times);
                v.splice(s..s, rep);
            }
            14 => match r.below(4) {
                0 => {
                    v = v
                        .iter()
                        .flat_map(|&b| {
                            if b == b'\n' {
                                vec![b'\r', b'\n']
                            } else {
                                vec![b]
                            }
                        })
                        .collect()
                }
                1 => v.retain(|&b| b != b'\n'),
                2 => v
                    .iter_mut()
                    .filter(|b| **b == b'\t')
                    .for_each(|b| *b = b' '),
                _ => v
                    .iter_mut()
                    .filter(|b| **b == b' ')
                    .for_each(|b| *b = b'\t'),
            },
            15 => {
                // Many lines: the whole input repeated.
                if n > 0 && n < 16 * 1024 {
                    let times = 2 + r.below(8);
                    v = v.repeat(times);
                }
            }
            _ => {
                let t = r.pick(&TOKENS).as_bytes();
                if n > 0 {
                    let s = r.below(n);
                    let e = (s + 1 + r.below(8)).min(n);
                    v.splice(s..e, t.iter().copied());
                }
            }
        }
        if v.len() > MAX_INPUT {
            v.truncate(MAX_INPUT);
        }
    }
    v
}

// ---------------------------------------------------------------------------
// The invariants.

/// What one input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Parsed; this many events.
    Accepted(usize),
    Rejected,
}

fn line_count(bytes: &[u8]) -> usize {
    1 + bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Checks the error convention: the source, a line of the input, and the
/// `source:line: ` prefix.
fn check_error(e: &InputError, lines: usize, what: &str) -> Result<(), String> {
    if e.file != SRC {
        return Err(format!(
            "{what}: error names file {:?}, not {SRC:?}: {e}",
            e.file
        ));
    }
    if e.line == 0 || e.line > lines {
        return Err(format!(
            "{what}: error names line {} but the input has {lines} lines: {e}",
            e.line
        ));
    }
    let shown = e.to_string();
    if !shown.starts_with(&format!("{SRC}:{}: ", e.line)) || e.message.trim().is_empty() {
        return Err(format!(
            "{what}: error not shown as `file:line: message`: {shown}"
        ));
    }
    Ok(())
}

/// Numbers equal, floats within a relative 1e-15 (serde_json's default
/// float parsing may be one ulp off on a round trip).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x == y {
                return true;
            }
            match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) => (p - q).abs() <= 1e-15 * p.abs().max(q.abs()),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn same_opt(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => same_value(x, y),
        _ => false,
    }
}

/// A line-based format: one event per line.
fn line_based(format: Format) -> bool {
    matches!(
        format,
        Format::Jsonl | Format::JepsenText | Format::PorcupineEtcd
    )
}

/// The number in a warning like `"... skipped 12 lines ..."`.
fn counted(warnings: &[String], needle: &str) -> usize {
    warnings
        .iter()
        .filter_map(|w| {
            let at = w.find(needle)? + needle.len();
            w[at..].split(' ').next()?.parse::<usize>().ok()
        })
        .sum()
}

/// `fuzz-input:LINE: dropped a torn last line ...` (and not a warning
/// that merely quotes those words, e.g. in a process name).
fn is_torn_warning(w: &str) -> bool {
    w.strip_prefix(SRC)
        .and_then(|w| w.strip_prefix(':'))
        .map(|w| w.trim_start_matches(|c: char| c.is_ascii_digit()))
        .is_some_and(|w| w.starts_with(": dropped a torn last line"))
}

fn checks_accepted(h: &History, format: Format, bytes: &[u8], lines: usize) -> Result<(), String> {
    let mut prev: Option<(u64, usize)> = None;
    for (i, e) in h.events.iter().enumerate() {
        if e.line == 0 || e.line > lines {
            return Err(format!(
                "event {i} has line {} but the input has {lines} lines",
                e.line
            ));
        }
        if let Some((pi, pl)) = prev {
            if e.index <= pi {
                return Err(format!("event {i}: index {} after {pi}", e.index));
            }
            if e.line < pl || (line_based(format) && e.line == pl) {
                return Err(format!("event {i}: line {} after line {pl}", e.line));
            }
        }
        prev = Some((e.index, e.line));
    }
    // No op lost silently: every non-blank line of a line-based input is
    // an event, the header, or counted in a warning.
    if line_based(format) {
        let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes));
        let nonblank = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| match format {
                Format::Jsonl => !l.bytes().all(|b| b.is_ascii_whitespace()),
                _ => !l.trim().is_empty(),
            })
            .count();
        let header = usize::from(h.init.is_some());
        let torn = h.warnings.iter().filter(|w| is_torn_warning(w)).count();
        let skipped = if format == Format::PorcupineEtcd {
            counted(&h.warnings, "skipped ")
        } else {
            0
        };
        let accounted = h.events.len() + header + torn + skipped;
        if accounted != nonblank {
            return Err(format!(
                "{} non-blank lines but {} events + {header} header + {torn} torn + {skipped} skipped: ops lost silently? warnings: {:?}",
                nonblank,
                h.events.len(),
                h.warnings
            ));
        }
    }
    // Round trip through the JSONL writer and reader. Left out: an event
    // nested deeper than serde_json's recursion limit (128, counting the
    // event object), which EDN (capped at 512) can hold; the formats
    // module documents the two caps.
    let deep = h.events.iter().any(|e| {
        1 + [Some(&e.value), e.key.as_ref(), e.error.as_ref()]
            .into_iter()
            .flatten()
            .chain(e.extra.values())
            .map(depth)
            .max()
            .unwrap_or(0)
            > 127
    });
    if deep {
        return Ok(());
    }
    let mut w = JsonlWriter::unflushed(Vec::new());
    for e in &h.events {
        w.write(e).map_err(|e| format!("JsonlWriter failed: {e}"))?;
    }
    let out = w.into_inner();
    let back = formats::parse(&out, SRC, Some(Format::Jsonl)).map_err(|e| {
        format!(
            "the JSONL the writer wrote does not read back: {e}\n{}",
            String::from_utf8_lossy(&out[..out.len().min(600)])
        )
    })?;
    if back.events.len() != h.events.len() {
        return Err(format!(
            "JSONL round trip: {} events became {}",
            h.events.len(),
            back.events.len()
        ));
    }
    for (i, (a, b)) in h.events.iter().zip(&back.events).enumerate() {
        let same = a.index == b.index
            && a.time == b.time
            && a.process == b.process
            && a.kind == b.kind
            && a.f == b.f
            && same_opt(&a.key, &b.key)
            && same_value(&a.value, &b.value)
            && a.node == b.node
            && same_opt(&a.error, &b.error)
            && same_value(
                &Value::Object(a.extra.clone()),
                &Value::Object(b.extra.clone()),
            );
        if !same {
            return Err(format!(
                "JSONL round trip changed event {i}:\n  {a:?}\n  {b:?}"
            ));
        }
    }
    Ok(())
}

/// Nesting depth of arrays and objects (a scalar is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_expected(h: &History, exp: &Expected) -> Result<(), String> {
    if h.events.len() != exp.events.len() {
        return Err(format!(
            "valid input: expected {} events, got {}",
            exp.events.len(),
            h.events.len()
        ));
    }
    // Jepsen independent tuples may be split into key and value.
    let split =
        h.events.iter().any(|e| e.key.is_some()) && exp.events.iter().all(|e| e.key.is_none());
    for (i, (e, x)) in h.events.iter().zip(&exp.events).enumerate() {
        let same = e.process == x.process
            && e.kind == x.kind
            && e.f == x.f
            && e.index == x.index
            && (split || (same_opt(&e.key, &x.key) && same_value(&e.value, &x.value)));
        if !same {
            return Err(format!(
                "valid input: event {i} (line {}) is\n  {:?} {:?} {:?} key {:?} value {} index {}\nexpected\n  {:?} {:?} {:?} key {:?} value {} index {}",
                e.line, e.process, e.kind, e.f, e.key, e.value, e.index,
                x.process, x.kind, x.f, x.key, x.value, x.index
            ));
        }
    }
    Ok(())
}

/// Parses `bytes` as `format` (and the txn parsers for a txn target), and
/// checks every invariant; `Err` describes the first violation.
pub fn check_input(
    target: Target,
    format: Format,
    bytes: &[u8],
    expect: Option<&Expected>,
) -> Result<Outcome, String> {
    let lines = line_count(bytes);
    let outcome = match formats::parse(bytes, SRC, Some(format)) {
        Err(e) => {
            check_error(&e, lines, format.name())?;
            if expect.is_some() {
                return Err(format!("a valid generated input was rejected: {e}"));
            }
            Outcome::Rejected
        }
        Ok(h) => {
            checks_accepted(&h, format, bytes, lines)?;
            if let Some(x) = expect {
                check_expected(&h, x)?;
                if x.detect && !h.events.is_empty() {
                    let d = formats::detect(bytes);
                    if d != format {
                        return Err(format!(
                            "a valid {} input is detected as {}",
                            format.name(),
                            d.name()
                        ));
                    }
                }
            }
            if let Err(e) = h.operations() {
                check_error(&e, lines, "operations")?;
            }
            if let Some(kind) = target.txn_kind() {
                match txn_parse::parse(&h, kind) {
                    Err(e) => {
                        check_error(&e, lines, kind.name())?;
                        if expect.is_some() {
                            return Err(format!("valid txns were rejected: {e}"));
                        }
                    }
                    Ok(t) => {
                        if let Some((txns, skipped)) = expect.and_then(|x| x.txns) {
                            if t.txns.len() != txns || t.skipped != skipped {
                                return Err(format!(
                                    "valid txns: expected {txns} txns and {skipped} skipped, got {} and {}",
                                    t.txns.len(),
                                    t.skipped
                                ));
                            }
                        }
                        for tx in &t.txns {
                            for m in &tx.mops {
                                if let checker::txn::parse::Mop::Read(_, s) = m {
                                    let _ = t.list(s);
                                }
                            }
                        }
                    }
                }
            }
            Outcome::Accepted(h.events.len())
        }
    };
    // Format detection and the detected parse must not panic, and keep the
    // error convention too.
    if let Err(e) = formats::parse(bytes, SRC, None) {
        check_error(&e, lines, "auto-detected")?;
    }
    Ok(outcome)
}

/// The Porcupine corpus (`shared/data/porcupine`), as seeds for the
/// etcd and kv targets; empty when the directory is missing.
pub fn porcupine_seeds(dir: &std::path::Path) -> Vec<(Target, Vec<u8>)> {
    let mut out = Vec::new();
    for (sub, target) in [
        ("jepsen", Target::PorcupineEtcd),
        ("kv", Target::PorcupineKv),
    ] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(b) = std::fs::read(&p) {
                out.push((target, b));
            }
        }
    }
    out
}

/// A printable excerpt of an input, for reports.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    let mut e: String = s.escape_debug().collect();
    if bytes.len() > max {
        e.push_str(&format!("... ({} bytes in all)", bytes.len()));
    }
    e
}
