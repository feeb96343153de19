//! History readers: faultline JSONL, Jepsen EDN, Porcupine's etcd and kv logs.
//!
//! Every reader returns the events in file order, each with its 1-based
//! source `line`. An event's `index` is the file's `index` field when present;
//! otherwise it is one more than the previous event's index (so 0, 1, 2, ...
//! for a file without indices). Indices that are present must be strictly
//! increasing.
//!
//! EDN values map onto [`serde_json::Value`] as follows: `nil` -> `null`,
//! booleans -> booleans, keywords -> strings without the leading colon
//! (`:timed-out` -> `"timed-out"`, `:foo/bar` -> `"foo/bar"`), symbols ->
//! strings, strings and characters -> strings, vectors, lists and sets ->
//! arrays, maps -> objects (keys that are keywords, symbols or strings become
//! their text, any other key its EDN source text, e.g. `"1"` or `"[1 2]"`),
//! integers -> numbers (integers outside the `i64`/`u64` range -> strings of
//! their digits), floats -> numbers (non-finite ones -> strings). A tagged
//! literal `#tag value` (`#inst "..."`, `#uuid "..."`, a record
//! `#jepsen.history.Op{...}`) is its value; `#_ form` is discarded.
//!
//! Values that are Jepsen `independent` tuples (`[key value]` on every
//! client op) are unwrapped into keyed events: see
//! [`History::split_independent`].
//!
//! No input makes a reader panic: EDN nesting is capped at 512 levels (JSON
//! at serde_json's 128), and errors name the source, the line and, where one
//! applies, the field.

mod edn;
mod fast;
mod jepsen_text;
mod json;
pub mod jsonl;
mod porcupine;

pub use jsonl::JsonlWriter;

use crate::history::{Event, EventType, History, InputError, Process};
use serde_json::{Map, Value};
use std::path::Path;

/// The history formats faultline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jsonl,
    Edn,
    /// One JSON array of op objects (elle-cli's JSON input).
    Json,
    /// Jepsen's `history.txt`: tab-separated `process type f value [error]`
    /// lines, fields in EDN, optionally led by the op's index.
    JepsenText,
    PorcupineEtcd,
    PorcupineKv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::Json => "json",
            Format::JepsenText => "jepsen-text",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }
    pub fn parse_name(s: &str) -> Option<Format> {
        match s {
            "jsonl" => Some(Format::Jsonl),
            "edn" => Some(Format::Edn),
            "json" => Some(Format::Json),
            "jepsen-text" => Some(Format::JepsenText),
            "porcupine-etcd" => Some(Format::PorcupineEtcd),
            "porcupine-kv" => Some(Format::PorcupineKv),
            _ => None,
        }
    }
}

/// How many bytes of the first line [`detect`] looks at.
const DETECT_WINDOW: usize = 4096;

/// Guesses the format from the content.
///
/// Looks at the first content after blank lines and `;` comments:
/// a log line (`INFO `, `WARN `, ...) that mentions `jepsen` -> a Jepsen /
/// Porcupine etcd log; `{"` -> JSONL; `{:` or `{#` (white space and new
/// lines allowed after the brace) -> EDN; `[` then `{"` (or `[]`) -> a JSON
/// array; `{:process ...` with `, :key "` -> Porcupine kv log; `[`, `(`,
/// `{:` or `#` -> EDN (as is a file whose content starts with a `;`
/// comment); a tab-separated line whose second (or third) field is
/// `:invoke`, `:ok`, `:fail` or `:info` -> Jepsen `history.txt`.
/// Anything else, including an empty input, -> JSONL, whose reader says
/// that the format was not recognised when the first line is not a JSON
/// object.
pub fn detect(bytes: &[u8]) -> Format {
    let bytes = strip_bom(bytes);
    let mut pos = 0;
    let mut had_comment = false;
    loop {
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\r' | b'\n' | 0x0c) {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b';' {
            had_comment = true;
            while pos < bytes.len() && bytes[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        break;
    }
    let rest = &bytes[pos..];
    let line_end = rest
        .iter()
        .take(DETECT_WINDOW)
        .position(|&b| b == b'\n')
        .unwrap_or(rest.len().min(DETECT_WINDOW));
    let line = &rest[..line_end];
    // The first byte after the opening `{` that is not white space (new
    // lines included: a pretty-printed EDN map may put its first key on
    // the next line) or a comma.
    let after_brace = || {
        rest.iter()
            .take(DETECT_WINDOW)
            .skip(1)
            .find(|&&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | 0x0c))
            .copied()
    };
    if rest.is_empty() {
        return if had_comment {
            Format::Edn
        } else {
            Format::Jsonl
        };
    }
    if line.starts_with(b"{:process ") && contains(line, b", :key \"") {
        return Format::PorcupineKv;
    }
    if had_comment {
        return Format::Edn;
    }
    let log_level = [&b"INFO "[..], b"WARN ", b"DEBUG ", b"ERROR ", b"TRACE "]
        .iter()
        .any(|l| line.starts_with(l));
    if log_level && contains(line, b"jepsen") {
        return Format::PorcupineEtcd;
    }
    if jepsen_text::looks_like(line) {
        return Format::JepsenText;
    }
    match line[0] {
        b'{' => match after_brace() {
            // A keyword key, or `#_` (a discarded form) / `#:ns` first.
            Some(b':' | b'#') => Format::Edn,
            _ => Format::Jsonl,
        },
        b'[' if json_array(rest) => Format::Json,
        b'[' | b'(' | b'#' => Format::Edn,
        _ => Format::Jsonl,
    }
}

/// Whether `rest`, which starts with `[`, opens a JSON array of objects:
/// `[` then `{` then `"` (white space, new lines included, between them), or
/// `[]`.
fn json_array(rest: &[u8]) -> bool {
    let mut it = rest
        .iter()
        .take(DETECT_WINDOW)
        .skip(1)
        .filter(|b| !b.is_ascii_whitespace());
    match it.next() {
        Some(b']') => true,
        Some(b'{') => matches!(it.next(), Some(b'"' | b'}')),
        _ => false,
    }
}

/// Parses a history from bytes; `source` names it in errors.
///
/// With `format: None` the format is guessed with [`detect`].
pub fn parse(bytes: &[u8], source: &str, format: Option<Format>) -> Result<History, InputError> {
    let h = match format.unwrap_or_else(|| detect(bytes)) {
        Format::Jsonl => jsonl::parse(bytes, source)?,
        Format::Edn => edn::parse(bytes, source)?,
        Format::Json => json::parse(bytes, source)?,
        Format::JepsenText => jepsen_text::parse(bytes, source)?,
        Format::PorcupineEtcd => return porcupine::parse_etcd(bytes, source),
        Format::PorcupineKv => return porcupine::parse_kv(bytes, source),
    };
    Ok(finish(h))
}

/// Reads a history for the isolation checkers: a faultline JSONL file has
/// its txns' micro-ops read in compact form ([`crate::txn::raw`]), without
/// a `serde_json::Value` per micro-op; any other format, or a line the fast
/// path does not read, has its values in place. What the checkers find is
/// the same either way (tests compare).
pub fn read_txn(
    bytes: &[u8],
    source: &str,
    format: Option<Format>,
) -> Result<(crate::txn::raw::Prepared, Format), InputError> {
    let fmt = format.unwrap_or_else(|| detect(bytes));
    if fmt != Format::Jsonl {
        return Ok((
            crate::txn::raw::Prepared::plain(parse(bytes, source, Some(fmt))?),
            fmt,
        ));
    }
    let (mut history, (arena, spans)) = jsonl::parse_txn(bytes, source)?;
    // A compact txn value is never a `[key value]` tuple, so the history is
    // not one of tuples (the others alone must not decide it is).
    if spans.is_empty() {
        return Ok((crate::txn::raw::Prepared::plain(finish(history)), fmt));
    }
    settle_missing_processes(&mut history);
    note_named_processes(&mut history);
    match crate::txn::raw::Prepared::new(history, arena, spans) {
        Some(p) => Ok((p, fmt)),
        // (Too big for one arena: every value in place.)
        None => Ok((
            crate::txn::raw::Prepared::plain(parse(bytes, source, Some(fmt))?),
            fmt,
        )),
    }
}

/// What every parsed history gets: named processes noted, Jepsen
/// independent `[key value]` tuples split into keys (with a warning).
fn finish(mut h: History) -> History {
    settle_missing_processes(&mut h);
    note_named_processes(&mut h);
    if h.split_independent() {
        h.warnings.push(
            "values are Jepsen independent [key value] tuples: each key is checked on its own"
                .to_string(),
        );
    }
    h
}

/// Ops without a process (Elle's examples have none) are one client, as
/// Elle takes them (one thread of execution, whose ops must alternate
/// invocation and completion): the first integer no other op uses, named
/// in a warning.
fn settle_missing_processes(h: &mut History) {
    let missing = missing_process();
    let Some(first) = h.events.iter().find(|e| e.process == missing) else {
        return;
    };
    let line = first.line;
    let next = h
        .events
        .iter()
        .filter_map(|e| match e.process {
            Process::Client(p) => Some(p),
            _ => None,
        })
        .max()
        .map_or(Some(0), |p| p.checked_add(1));
    let Some(next) = next else {
        // Every integer is taken up to the last: leave them unnamed (not
        // clients), and say so.
        h.warnings.push(format!(
            "{}:{line}: ops without a process were not checked (no integer was left to give them)",
            h.source
        ));
        return;
    };
    let mut n = 0;
    for e in h.events.iter_mut().filter(|e| e.process == missing) {
        e.process = Process::Client(next);
        n += 1;
    }
    h.warnings.push(format!(
        "{}:{line}: {n} ops have no process; they are read as one client, process {next} (as Elle reads a missing process: one thread of execution)",
        h.source
    ));
}

/// Is `v` a list of micro-ops, `[[f key value] ...]` with `f` one of
/// append, r, w, read, write (with or without a leading colon)?
fn is_micro_ops(v: &Value) -> bool {
    v.as_array().is_some_and(|ops| {
        !ops.is_empty()
            && ops.iter().all(|m| match m.as_array().map(Vec::as_slice) {
                Some([Value::String(f), _, _]) => matches!(
                    f.strip_prefix(':').unwrap_or(f),
                    "append" | "r" | "w" | "read" | "write"
                ),
                _ => false,
            })
    })
}

/// Jepsen's rule: only integer processes are clients; the events of named
/// processes (`nemesis`, ...) are not checked. Warns about those that look
/// like client ops: a named process using an `f` that some client uses, or
/// every event of the history on named processes.
fn note_named_processes(h: &mut History) {
    use std::collections::{BTreeMap, BTreeSet};
    if h.events.iter().all(|e| e.process.is_client()) {
        return;
    }
    let client_fs: rustc_hash::FxHashSet<&str> = h
        .events
        .iter()
        .filter(|e| e.process.is_client())
        .map(|e| e.f.as_str())
        .collect();
    let mut suspicious: BTreeMap<&str, (usize, BTreeSet<&str>, usize)> = BTreeMap::new();
    let mut named = 0;
    for e in &h.events {
        let Process::Named(p) = &e.process else {
            continue;
        };
        named += 1;
        let digits = p.bytes().all(|b| b.is_ascii_digit());
        if client_fs.is_empty() || digits || client_fs.contains(e.f.as_str()) {
            let s = suspicious
                .entry(p.as_str())
                .or_insert((0, BTreeSet::new(), e.line));
            s.0 += 1;
            s.1.insert(e.f.as_str());
        }
    }
    let mut warnings = Vec::new();
    if client_fs.is_empty() && named > 0 {
        warnings.push(format!(
            "no client ops: all {named} events are of named processes, and only integer processes are clients (Jepsen's rule)"
        ));
    }
    for (p, (n, fs, line)) in suspicious {
        if client_fs.is_empty() {
            continue;
        }
        let fs: Vec<&str> = fs.into_iter().collect();
        let hint = if p.bytes().all(|b| b.is_ascii_digit()) {
            format!(" (write it as the number {p} to make it a client)")
        } else {
            String::new()
        };
        warnings.push(format!(
            "{}:{line}: {n} events of process {p:?} use client ops ({}) but were not checked: only integer processes are clients (Jepsen's rule){hint}",
            h.source,
            fs.join(", ")
        ));
    }
    h.warnings.extend(warnings);
}

/// Parses faultline JSONL with every line on the general path (a
/// `serde_json::Value`, then the op's fields), never the fast path: for
/// tests that the two read every input alike.
#[doc(hidden)]
pub fn parse_jsonl_general(bytes: &[u8], source: &str) -> Result<History, InputError> {
    Ok(finish(jsonl::parse_with(bytes, source, false)?))
}

/// Reads and parses a file.
pub fn read_file(path: &Path, format: Option<Format>) -> Result<(History, Format), InputError> {
    let (bytes, source) = read_bytes(path)?;
    let fmt = format.unwrap_or_else(|| detect(&bytes));
    Ok((parse(&bytes, &source, Some(fmt))?, fmt))
}

/// [`read_txn`] of a file.
pub fn read_txn_file(
    path: &Path,
    format: Option<Format>,
) -> Result<(crate::txn::raw::Prepared, Format), InputError> {
    let (bytes, source) = read_bytes(path)?;
    read_txn(&bytes, &source, format)
}

/// A file's bytes, and its name for messages. A big file is read in
/// parallel parts (the copy and the fresh pages' faults are most of the
/// time of reading a history that is in the page cache).
fn read_bytes(path: &Path) -> Result<(Vec<u8>, String), InputError> {
    use rayon::prelude::*;
    use std::os::unix::fs::FileExt;
    const PART: usize = 4 << 20;
    let source = path.display().to_string();
    let fail = |e: std::io::Error| InputError::new(&source, 0, None, format!("cannot read: {e}"));
    let file = std::fs::File::open(path).map_err(fail)?;
    let len = file.metadata().map_err(fail)?.len() as usize;
    if len < 2 * PART || !file.metadata().map_err(fail)?.is_file() {
        return std::fs::read(path)
            .map(|b| (b, source.clone()))
            .map_err(fail);
    }
    let mut bytes = vec![0u8; len];
    bytes
        .par_chunks_mut(PART)
        .enumerate()
        .try_for_each(|(i, part)| file.read_exact_at(part, (i * PART) as u64))
        .map_err(fail)?;
    // A file that grew while read: the rest too (a shrunk one fails above).
    let mut rest = Vec::new();
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &file;
        f.seek(SeekFrom::Start(len as u64)).map_err(fail)?;
        f.read_to_end(&mut rest).map_err(fail)?;
    }
    bytes.extend_from_slice(&rest);
    Ok((bytes, source))
}

// ---------------------------------------------------------------------------
// Helpers shared by the readers.

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Checks that the whole input is UTF-8 (after an optional BOM), naming the
/// line of the first bad byte otherwise.
fn whole_utf8<'a>(bytes: &'a [u8], source: &str) -> Result<&'a str, InputError> {
    let bytes = strip_bom(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
        let column = good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        InputError::new(
            source,
            line,
            None,
            format!(
                "invalid UTF-8 (byte 0x{:02x} at column {column})",
                bytes[e.valid_up_to()]
            ),
        )
    })
}

/// At most `MAX` characters of `s`, for error messages.
fn snippet(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}... ({} bytes in all)", &s[..cut], s.len()),
    }
}

/// A short description of a value, for error messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {:?}", snippet(s)),
        Value::Array(a) => format!("an array of length {}", a.len()),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Turns op objects (from JSONL or EDN) into events, checking fields and
/// keeping track of indices.
struct EventBuilder<'a> {
    source: &'a str,
    prev_index: Option<u64>,
    /// Ops without `f` whose value is a list of micro-ops (read as txns),
    /// and the line of the first.
    txn_without_f: (usize, usize),
}

/// The process of an op that has none, until [`settle_missing_processes`]
/// gives it one (an empty name is never read from a file: it is an error).
fn missing_process() -> Process {
    Process::Named(String::new())
}

impl<'a> EventBuilder<'a> {
    fn new(source: &'a str) -> Self {
        EventBuilder {
            source,
            prev_index: None,
            txn_without_f: (0, 0),
        }
    }

    /// What the builder read in a way the history should say.
    fn note(&self, h: &mut History) {
        let (n, line) = self.txn_without_f;
        if n > 0 {
            h.warnings.push(format!(
                "{}:{line}: {n} ops have no `f`; each one's value is a list of micro-ops, so it is read as a txn (as Elle reads it)",
                self.source
            ));
        }
    }

    /// Builds the event of an op object that starts on `line`; `field_line`
    /// gives the line of a field (the object's line when unknown).
    fn event(
        &mut self,
        mut obj: Map<String, Value>,
        line: usize,
        field_line: impl Fn(&str) -> usize,
    ) -> Result<Event, InputError> {
        let source = self.source;
        let err =
            |field: &str, msg: String| InputError::new(source, field_line(field), Some(field), msg);
        let missing =
            |field: &str| InputError::new(source, line, Some(field), "missing required field");

        let kind = match obj.remove("type") {
            None => return Err(missing("type")),
            Some(Value::String(s)) => EventType::parse(&s).ok_or_else(|| {
                err(
                    "type",
                    format!(
                        "unknown type {:?} (expected invoke, ok, fail or info)",
                        snippet(&s)
                    ),
                )
            })?,
            Some(v) => {
                return Err(err(
                    "type",
                    format!("expected invoke, ok, fail or info, found {}", describe(&v)),
                ))
            }
        };
        let f = match obj.remove("f") {
            // Elle's own examples leave `f` out of txns.
            None if obj.get("value").is_some_and(is_micro_ops) => {
                if self.txn_without_f.0 == 0 {
                    self.txn_without_f.1 = line;
                }
                self.txn_without_f.0 += 1;
                "txn".to_string()
            }
            None => return Err(missing("f")),
            Some(Value::String(s)) => s,
            Some(v) => {
                return Err(err(
                    "f",
                    format!("expected a string, found {}", describe(&v)),
                ))
            }
        };
        let process = match obj.remove("process") {
            // Elle's examples leave it out too: see settle_missing_processes.
            None => missing_process(),
            // A bigint from EDN arrives as a string of digits.
            Some(Value::String(s))
                if s.len() > 19
                    && s.trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit()) =>
            {
                return Err(err(
                    "process",
                    format!(
                        "integer process {} is outside 0..=18446744073709551615",
                        snippet(&s)
                    ),
                ))
            }
            Some(Value::String(s)) if !s.is_empty() => Process::Named(s),
            Some(Value::Number(n)) if n.is_u64() => Process::Client(n.as_u64().unwrap_or_default()),
            Some(v) => {
                return Err(err(
                    "process",
                    format!(
                        "expected a non-negative integer or a name, found {}",
                        describe(&v)
                    ),
                ))
            }
        };
        let value = obj.remove("value").unwrap_or(Value::Null);
        let time = match obj.remove("time") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(v) => {
                return Err(err(
                    "time",
                    format!("expected integer nanoseconds, found {}", describe(&v)),
                ))
            }
        };
        let index = match obj.remove("index") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(v) => {
                return Err(err(
                    "index",
                    format!("expected a non-negative integer, found {}", describe(&v)),
                ))
            }
        };
        let index = match (index, self.prev_index) {
            (Some(i), Some(prev)) if i <= prev => {
                return Err(err(
                    "index",
                    format!("index {i} is not greater than the previous event's index {prev} (indices must be strictly increasing)"),
                ))
            }
            (Some(i), _) => i,
            (None, None) => 0,
            (None, Some(prev)) => prev.checked_add(1).ok_or_else(|| {
                err("index", "the previous event's index is the largest possible; cannot number this event".to_string())
            })?,
        };
        let key = match obj.remove("key") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        };
        let node = match obj.remove("node") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(v) => {
                return Err(err(
                    "node",
                    format!("expected a string, found {}", describe(&v)),
                ))
            }
        };
        let error = match obj.remove("error") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        };
        self.prev_index = Some(index);
        Ok(Event {
            index,
            time,
            process,
            kind,
            f,
            key,
            value,
            node,
            error,
            // What is left: fields this crate does not interpret.
            // An emptied map may still hold its node (hundreds of bytes per
            // event): keep a fresh one unless fields are left.
            extra: if obj.is_empty() { Map::new() } else { obj },
            line,
        })
    }
}
