//! Transactions from a history: each `:f :txn` operation's value is a list
//! of micro-ops, `[f key value]`, with `f` one of `append`, `r` (read) and
//! `w` (write). Keys and values are interned to small integers so that the
//! analyses hash and compare words, not JSON.
//!
//! Which value a transaction's micro-ops come from: an `ok` transaction's
//! completion (its reads carry what they saw); an `info` or `fail`
//! transaction's invocation (its reads saw nothing we know). Every problem
//! names the file, the line and the field (`value[2][1]` is the key of the
//! third micro-op).

use super::raw::{self, Prepared};
use crate::history::{History, InputError, Process, Status};
use rustc_hash::FxHashMap;
use serde_json::Value;

/// An interned key or value: the same JSON scalar always gets the same id.
pub type Id = u32;

/// Which data model the micro-ops follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `[append k v]` and `[r k [v ...]]`.
    ListAppend,
    /// `[w k v]` and `[r k v]`.
    RwRegister,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::ListAppend => "list-append",
            Kind::RwRegister => "rw-register",
        }
    }
}

/// What a read saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Not known (an invocation, or a transaction that did not complete ok).
    Unknown,
    /// list-append: the list read (`nil` reads as the empty list), as
    /// (start, length) in [`Txns::elems`].
    List(u32, u32),
    /// rw-register: the value read (`None` for `nil`, the initial state).
    Reg(Option<Id>),
}

/// One micro-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    Append(Id, Id),
    Write(Id, Id),
    Read(Id, Seen),
}

impl Mop {
    pub fn key(&self) -> Id {
        match self {
            Mop::Append(k, _) | Mop::Write(k, _) | Mop::Read(k, _) => *k,
        }
    }
}

/// One transaction: an operation whose micro-ops are parsed.
#[derive(Debug, Clone)]
pub struct Txn {
    /// History `index` of the invocation (how transactions are named).
    pub index: u64,
    pub complete_index: Option<u64>,
    pub process: Process,
    pub status: Status,
    pub mops: Vec<Mop>,
    /// Positions of the invocation and (ok or fail) completion among the
    /// history's events.
    pub call: usize,
    pub ret: Option<usize>,
    /// Prefix mode only ([`super::TxnOptions::prefix`]): invoked but not
    /// completed at the cut, so it may yet complete `ok` or `fail`. Such a
    /// txn takes part in no edge (see `checkers::txn`).
    pub pending: bool,
}

/// JSON scalars as small integers, and back for display.
#[derive(Debug, Default)]
pub struct Interner {
    ints: FxHashMap<i64, Id>,
    other: FxHashMap<String, Id>,
    shown: Vec<String>,
    /// Small non-negative integers only (a part of a history read in
    /// parallel): anything else sets `needed` and reads as 0, and the part
    /// is read again in order with the whole interner.
    ints_only: bool,
    needed: bool,
}

/// Ids below this are the integers themselves; others are interned.
const TAG: u32 = 1 << 31;

impl Interner {
    fn id(&mut self, v: &Value) -> Option<Id> {
        if let Some(i) = v.as_u64() {
            if i < TAG as u64 {
                return Some(i as Id);
            }
        }
        if self.ints_only {
            if matches!(v, Value::Null | Value::Array(_) | Value::Object(_)) {
                return None;
            }
            self.needed = true;
            return Some(0);
        }
        if let Some(i) = v.as_i64() {
            if let Some(&id) = self.ints.get(&i) {
                return Some(id);
            }
            let id = TAG | self.shown.len() as Id;
            self.ints.insert(i, id);
            self.shown.push(i.to_string());
            return Some(id);
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null | Value::Array(_) | Value::Object(_) => return None,
            other => other.to_string(),
        };
        if let Some(&id) = self.other.get(&text) {
            return Some(id);
        }
        let id = TAG | self.shown.len() as Id;
        self.other.insert(text.clone(), id);
        self.shown.push(text);
        Some(id)
    }

    /// The value as it appeared (strings without quotes).
    pub fn show(&self, id: Id) -> std::borrow::Cow<'_, str> {
        if id & TAG == 0 {
            return id.to_string().into();
        }
        self.shown
            .get((id & !TAG) as usize)
            .map_or("?".into(), |s| s.as_str().into())
    }

    pub fn show_list(&self, l: &[Id]) -> String {
        const MAX: usize = 12;
        let mut parts: Vec<std::borrow::Cow<'_, str>> = Vec::new();
        if l.len() > MAX {
            parts.extend(l[..3].iter().map(|&v| self.show(v)));
            parts.push("…".into());
            parts.extend(l[l.len() - 6..].iter().map(|&v| self.show(v)));
        } else {
            parts.extend(l.iter().map(|&v| self.show(v)));
        }
        format!("[{}]", parts.join(" "))
    }
}

/// A list's start with this bit set is in [`Txns::shared`].
pub const SHARED: u32 = 1 << 31;

/// The transactions of a history, with the interner and what was skipped.
#[derive(Debug, Default)]
pub struct Txns {
    pub txns: Vec<Txn>,
    /// The elements of every list read, back to back (a list's start with
    /// [`SHARED`] set is in `shared` instead).
    pub elems: Vec<Id>,
    /// The arena of a history read in compact form ([`raw::Prepared`]):
    /// its lists are read in place, not copied.
    pub shared: std::sync::Arc<Vec<u32>>,
    pub names: Interner,
    /// Client operations whose `f` is not `txn`: how many, and the first.
    pub skipped: usize,
    pub warnings: Vec<String>,
}

impl Txns {
    /// The list a read saw (empty for anything but a list-append read).
    pub fn list(&self, s: &Seen) -> &[Id] {
        match *s {
            Seen::List(a, n) if a & SHARED != 0 => {
                let a = (a & !SHARED) as usize;
                &self.shared[a..a + n as usize]
            }
            Seen::List(a, n) => &self.elems[a as usize..(a + n) as usize],
            _ => &[],
        }
    }
}

fn err(h: &History, line: usize, field: String, msg: impl Into<String>) -> InputError {
    InputError::new(&h.source, line, Some(&field), msg)
}

/// `f` without a leading colon.
fn bare(s: &str) -> &str {
    s.strip_prefix(':').unwrap_or(s)
}

/// Parses the micro-ops of `value` (from the event on `line`).
fn parse_mops(
    h: &History,
    kind: Kind,
    value: &Value,
    line: usize,
    with_reads: bool,
    names: &mut Interner,
    elems: &mut Vec<Id>,
) -> Result<Vec<Mop>, InputError> {
    let Some(list) = value.as_array() else {
        return Err(err(
            h,
            line,
            "value".into(),
            format!(
                "a txn's value must be a list of micro-ops like [[\"append\", 1, 2], [\"r\", 1, null]], got {}",
                crate::checkers::clip(&value.to_string(), 80)
            ),
        ));
    };
    let mut mops = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        mops.push(parse_mop(h, kind, i, m, line, with_reads, names, elems)?);
    }
    Ok(mops)
}

/// The micro-ops of a compact value ([`raw`]): the same micro-ops, and the
/// same errors, as [`parse_mops`] of the value it was read from.
#[allow(clippy::too_many_arguments)]
fn raw_mops(
    h: &History,
    kind: Kind,
    (base, compact): (usize, &[u32]),
    line: usize,
    with_reads: bool,
    names: &mut Interner,
    elems: &mut Vec<Id>,
) -> Result<Vec<Mop>, InputError> {
    use raw::{Func, RawValue};
    let mut mops = Vec::with_capacity(raw::len(compact));
    for (i, m) in raw::mops(compact).enumerate() {
        // Keys and values below 2^31 are their own ids.
        let mop = match (kind, m.func(), m.value) {
            (_, Func::Read, _) if !with_reads => Mop::Read(m.key, Seen::Unknown),
            (Kind::ListAppend, Func::Append, RawValue::Int(v)) => Mop::Append(m.key, v),
            (Kind::RwRegister, Func::Write, RawValue::Int(v)) => Mop::Write(m.key, v),
            (Kind::ListAppend, Func::Read, RawValue::Null) => {
                Mop::Read(m.key, Seen::List(elems.len() as u32, 0))
            }
            // In place, in the arena (below `raw::MAX_ARENA`).
            (Kind::ListAppend, Func::Read, RawValue::List(at, l)) => Mop::Read(
                m.key,
                Seen::List(SHARED | (base + at) as u32, l.len() as u32),
            ),
            (Kind::RwRegister, Func::Read, RawValue::Null) => Mop::Read(m.key, Seen::Reg(None)),
            (Kind::RwRegister, Func::Read, RawValue::Int(v)) => {
                Mop::Read(m.key, Seen::Reg(Some(v)))
            }
            // Anything else is an error: the value's own.
            _ => parse_mop(h, kind, i, &m.to_value(), line, with_reads, names, elems)?,
        };
        mops.push(mop);
    }
    Ok(mops)
}

/// Parses micro-op `i`, `m`, of a value (from the event on `line`).
#[allow(clippy::too_many_arguments)]
fn parse_mop(
    h: &History,
    kind: Kind,
    i: usize,
    m: &Value,
    line: usize,
    with_reads: bool,
    names: &mut Interner,
    elems: &mut Vec<Id>,
) -> Result<Mop, InputError> {
    {
        let shape = || {
            format!(
                "a micro-op must be [f key value] with f one of {}, got {}",
                match kind {
                    Kind::ListAppend => "append, r",
                    Kind::RwRegister => "w, r",
                },
                crate::checkers::clip(&m.to_string(), 80)
            )
        };
        let Some([f, k, v]) = m.as_array().map(Vec::as_slice) else {
            return Err(err(h, line, format!("value[{i}]"), shape()));
        };
        let Some(f) = f.as_str().map(bare) else {
            return Err(err(h, line, format!("value[{i}][0]"), shape()));
        };
        let Some(key) = names.id(k) else {
            return Err(err(
                h,
                line,
                format!("value[{i}][1]"),
                format!("a key must be a number or a string, got {k}"),
            ));
        };
        // (The field is named only on an error: no allocation per mop.)
        let scalar = |names: &mut Interner, v: &Value| {
            names.id(v).ok_or_else(|| {
                err(
                    h,
                    line,
                    format!("value[{i}][2]"),
                    format!("a written value must be a number or a string, got {v}"),
                )
            })
        };
        let mop = match (kind, f) {
            (Kind::ListAppend, "append") => Mop::Append(key, scalar(names, v)?),
            (Kind::RwRegister, "w" | "write") => Mop::Write(key, scalar(names, v)?),
            (_, "r" | "read") if !with_reads => Mop::Read(key, Seen::Unknown),
            (Kind::ListAppend, "r" | "read") => {
                let start = elems.len() as u32;
                match v {
                    Value::Null => {}
                    Value::Array(items) => {
                        for (j, x) in items.iter().enumerate() {
                            elems.push(names.id(x).ok_or_else(|| {
                                err(
                                    h,
                                    line,
                                    format!("value[{i}][2][{j}]"),
                                    format!("a list element must be a number or a string, got {x}"),
                                )
                            })?);
                        }
                    }
                    other => {
                        return Err(err(
                            h,
                            line,
                            format!("value[{i}][2]"),
                            format!("a list-append read must see a list or nil, got {other}"),
                        ))
                    }
                }
                Mop::Read(key, Seen::List(start, elems.len() as u32 - start))
            }
            (Kind::RwRegister, "r" | "read") => {
                let seen = match v {
                    Value::Null => None,
                    other => Some(scalar(names, other)?),
                };
                Mop::Read(key, Seen::Reg(seen))
            }
            _ => return Err(err(h, line, format!("value[{i}][0]"), shape())),
        };
        Ok(mop)
    }
}

/// Do the invocation's and completion's micro-ops have the same functions,
/// keys and (for anything but a read) values, as JSON?
fn plainly_same(inv: &Value, done: &Value) -> bool {
    let (Some(a), Some(b)) = (inv.as_array(), done.as_array()) else {
        return false;
    };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| match (x.as_array(), y.as_array()) {
                (Some(x), Some(y)) if x.len() == 3 && y.len() == 3 => {
                    let read = matches!(x[0].as_str().map(bare), Some("r" | "read"));
                    x[0] == y[0] && x[1] == y[1] && (read || x[2] == y[2])
                }
                _ => false,
            })
}

/// Same micro-op shape (function and key, and written value).
fn same_shape(a: &Mop, b: &Mop) -> bool {
    match (a, b) {
        (Mop::Read(k, _), Mop::Read(l, _)) => k == l,
        _ => a == b,
    }
}

/// The transactions of `h`, pairing each client invocation with its
/// process's completion by reference (no copies of the values).
///
/// Events of named processes (the nemesis) are left out. A client
/// operation whose `f` is not `txn` is counted in `skipped` (and named in a
/// warning), never silently dropped. An invocation while the process has
/// one open, or a completion whose `f` differs, gets the same error as
/// [`History::operations`]; a completion with no invocation is a txn of
/// its own, invoked at an unknown time (a counted warning).
pub fn parse(h: &History, kind: Kind) -> Result<Txns, InputError> {
    parse_raw(h, Compact::default(), kind, PARALLEL_CHUNK)
}

/// [`parse`] of a history read for the isolation checkers, its compact
/// micro-ops included.
pub fn parse_prepared(p: &Prepared, kind: Kind) -> Result<Txns, InputError> {
    let compact = Compact {
        arena: &p.arena,
        spans: &p.spans,
    };
    let mut t = parse_raw(&p.history, compact, kind, PARALLEL_CHUNK)?;
    t.shared = p.arena.clone();
    Ok(t)
}

/// The compact values of a history read for the isolation checkers.
#[derive(Debug, Clone, Copy, Default)]
struct Compact<'a> {
    arena: &'a [u32],
    spans: &'a [Option<std::ops::Range<usize>>],
}

impl<'a> Compact<'a> {
    /// The compact micro-ops of the event at `pos`, if it has them, and
    /// where they start in the arena.
    fn at(&self, pos: usize) -> Option<(usize, &'a [u32])> {
        let r = self.spans.get(pos)?.as_ref()?;
        Some((r.start, &self.arena[r.clone()]))
    }
}

/// [`parse`], reading the transactions in parallel parts of `chunk` pairs
/// when there are at least two parts (and every key and value is a small
/// integer); the result is the same whatever `chunk` is (tests compare).
#[doc(hidden)]
pub fn parse_with(h: &History, kind: Kind, chunk: usize) -> Result<Txns, InputError> {
    parse_raw(h, Compact::default(), kind, chunk)
}

fn parse_raw(h: &History, raw: Compact<'_>, kind: Kind, chunk: usize) -> Result<Txns, InputError> {
    use crate::history::EventType;
    let mut out = Txns::default();
    // Open invocations by process: their place in `pairs`.
    let mut open: FxHashMap<u64, usize> = FxHashMap::default();
    // (invocation position, completion position or None), in invocation order.
    let mut pairs: Vec<(usize, Option<usize>)> = Vec::with_capacity(h.events.len() / 2 + 1);
    let mut orphans = 0usize;
    // txn events of named (non-client) processes: left out, but counted.
    let mut named_txns = 0usize;
    for (pos, ev) in h.events.iter().enumerate() {
        let Process::Client(p) = ev.process else {
            if bare(&ev.f) == "txn" {
                named_txns += 1;
            }
            continue;
        };
        if ev.kind == EventType::Invoke {
            if open.insert(p, pairs.len()).is_some() {
                return Err(h
                    .operations()
                    .err()
                    .unwrap_or_else(|| err(h, ev.line, "process".into(), "unpaired")));
            }
            pairs.push((pos, None));
        } else {
            let Some(i) = open.remove(&p) else {
                // A completion with no invocation (Elle's own test histories
                // are often only completions): its invocation may have been
                // at any earlier point, so it gets no real-time predecessor.
                orphans += 1;
                pairs.push((pos, Some(pos)));
                continue;
            };
            if h.events[pairs[i].0].f != ev.f {
                return Err(h
                    .operations()
                    .err()
                    .unwrap_or_else(|| err(h, ev.line, "f".into(), "unpaired")));
            }
            pairs[i].1 = Some(pos);
        }
    }
    if named_txns > 0 {
        out.warnings.push(format!(
            "{}: {named_txns} txn events belong to named processes (not numbered clients) and were not checked",
            h.source
        ));
    }
    if orphans > 0 {
        out.warnings.push(format!(
            "{}: {orphans} completions have no invocation; each is taken as invoked at the start of the history (no real-time predecessors)",
            h.source
        ));
    }
    let part = if pairs.len() >= chunk.saturating_mul(2) {
        parallel(h, raw, kind, &pairs, chunk)?
    } else {
        None
    };
    let part = match part {
        Some(p) => p,
        None => {
            let mut p = Part::default();
            build(h, raw, kind, &pairs, &mut p)?;
            p
        }
    };
    out.txns = part.txns;
    out.elems = part.elems;
    out.names = part.names;
    out.skipped = part.skipped;
    let first_skipped = part.first_skipped;
    if let Some((f, line)) = first_skipped {
        out.warnings.push(format!(
            "{}: {} client operations are not txns and were not checked (the first: `{f}` on line {line})",
            h.source, out.skipped
        ));
    }
    Ok(out)
}

/// Pairs of an invocation (position) and its completion, in invocation order.
type Pairs = [(usize, Option<usize>)];

/// Transactions read from some of the pairs.
#[derive(Debug, Default)]
struct Part {
    txns: Vec<Txn>,
    elems: Vec<Id>,
    names: Interner,
    skipped: usize,
    first_skipped: Option<(String, usize)>,
}

/// Pairs per part when a history is read in parallel.
const PARALLEL_CHUNK: usize = 8192;

/// Reads the pairs in parts of `chunk`, in parallel, when every key and
/// value is a small non-negative integer (the interner is then not needed);
/// `None` when one is not (the caller reads them all in order). The first
/// error in history order is the error.
fn parallel(
    h: &History,
    raw: Compact<'_>,
    kind: Kind,
    pairs: &Pairs,
    chunk: usize,
) -> Result<Option<Part>, InputError> {
    use rayon::prelude::*;
    let parts: Vec<(Part, Result<(), InputError>)> = pairs
        .par_chunks(chunk.max(1))
        .map(|c| {
            let mut p = Part {
                txns: Vec::with_capacity(c.len()),
                names: Interner {
                    ints_only: true,
                    ..Interner::default()
                },
                ..Part::default()
            };
            let r = build(h, raw, kind, c, &mut p);
            (p, r)
        })
        .collect();
    if parts.iter().any(|(p, _)| p.names.needed) {
        return Ok(None);
    }
    let mut out = Part {
        txns: Vec::with_capacity(pairs.len()),
        elems: Vec::with_capacity(parts.iter().map(|(p, _)| p.elems.len()).sum()),
        ..Part::default()
    };
    for (p, r) in parts {
        r?;
        let base = out.elems.len() as u32;
        out.elems.extend_from_slice(&p.elems);
        for mut t in p.txns {
            for m in &mut t.mops {
                match m {
                    Mop::Read(_, Seen::List(start, _)) if *start & SHARED == 0 => *start += base,
                    _ => {}
                }
            }
            out.txns.push(t);
        }
        out.skipped += p.skipped;
        if out.first_skipped.is_none() {
            out.first_skipped = p.first_skipped;
        }
    }
    Ok(Some(out))
}

/// Reads the transactions of `pairs` into `part`.
fn build(
    h: &History,
    raw: Compact<'_>,
    kind: Kind,
    pairs: &Pairs,
    part: &mut Part,
) -> Result<(), InputError> {
    use crate::history::EventType;
    // The micro-ops of the event at `pos`: compact, or from its value.
    let mops = |pos: usize, with_reads: bool, part: &mut Part| {
        let e = &h.events[pos];
        match raw.at(pos) {
            Some(c) => raw_mops(
                h,
                kind,
                c,
                e.line,
                with_reads,
                &mut part.names,
                &mut part.elems,
            ),
            None => parse_mops(
                h,
                kind,
                &e.value,
                e.line,
                with_reads,
                &mut part.names,
                &mut part.elems,
            ),
        }
    };
    // Plainly the same micro-ops (see [`plainly_same`]); an event in
    // compact form and one not are compared the long way.
    let same = |inv: usize, done: usize| match (raw.at(inv), raw.at(done)) {
        (Some((_, a)), Some((_, b))) => raw::plainly_same(a, b),
        (None, None) => plainly_same(&h.events[inv].value, &h.events[done].value),
        // (Rare: one line was not read in compact form.)
        (a, b) => {
            let value = |c: Option<(usize, &[u32])>, pos: usize| match c {
                Some((_, c)) => raw::to_value(c),
                None => h.events[pos].value.clone(),
            };
            plainly_same(&value(a, inv), &value(b, done))
        }
    };
    for &(inv, done) in pairs {
        let call = if Some(inv) == done { 0 } else { inv };
        let ie = &h.events[inv];
        if bare(&ie.f) != "txn" {
            part.skipped += 1;
            part.first_skipped.get_or_insert((ie.f.clone(), ie.line));
            continue;
        }
        let de = done.map(|d| &h.events[d]);
        let status = match de.map(|d| d.kind) {
            Some(EventType::Ok) => Status::Ok,
            Some(EventType::Fail) => Status::Fail,
            _ => Status::Info,
        };
        // An ok completion whose micro-ops plainly match its invocation's
        // (same f, key and written value) is parsed alone.
        if let (Some(d), Some(dpos)) = (de, done) {
            if status == Status::Ok && same(inv, dpos) {
                let mops = mops(dpos, true, part)?;
                part.txns.push(Txn {
                    index: ie.index,
                    complete_index: Some(d.index),
                    process: ie.process.clone(),
                    status,
                    mops,
                    call,
                    ret: done,
                    pending: false,
                });
                continue;
            }
        }
        let invoked = mops(inv, false, part)?;
        let mops = match (de, done) {
            (Some(d), Some(dpos)) if status == Status::Ok => {
                if d.value.is_null() && raw.at(dpos).is_none() {
                    return Err(err(
                        h,
                        d.line,
                        "value".into(),
                        "an ok txn's completion must carry its micro-ops with what the reads saw, got nil",
                    ));
                }
                let done = mops(dpos, true, part)?;
                if done.len() != invoked.len() {
                    return Err(err(
                        h,
                        d.line,
                        "value".into(),
                        format!(
                            "the completion has {} micro-ops but its invocation on line {} has {}",
                            done.len(),
                            ie.line,
                            invoked.len()
                        ),
                    ));
                }
                if let Some(i) = (0..done.len()).find(|&i| !same_shape(&done[i], &invoked[i])) {
                    return Err(err(
                        h,
                        d.line,
                        format!("value[{i}]"),
                        format!(
                            "the completion's micro-op {i} does not match the invocation's on line {} (same f, key and written value expected)",
                            ie.line
                        ),
                    ));
                }
                done
            }
            _ => invoked,
        };
        part.txns.push(Txn {
            index: ie.index,
            complete_index: de.map(|d| d.index),
            process: ie.process.clone(),
            status,
            mops,
            call,
            ret: if status == Status::Info { None } else { done },
            pending: false,
        });
    }
    Ok(())
}
