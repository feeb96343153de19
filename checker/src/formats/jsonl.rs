//! faultline's own history format: one JSON object per line.
//!
//! ```text
//! {"index":0,"time":1234567,"process":3,"type":"invoke","f":"write","value":4,"node":"n2"}
//! ```
//!
//! Required: `type`, `f`, `process`; optional: `value` (default `null`),
//! `index`, `time`, `key`, `node`, `error`; any other field is kept in
//! [`Event::extra`](crate::Event::extra). Blank lines are skipped. The recorder appends and flushes line by line, so a
//! crashed run may leave a torn last line: a last line without a trailing
//! newline that is not valid JSON (or not UTF-8) is dropped with a warning.
//! A last line that is valid JSON but not a valid op is still an error.
//!
//! [`JsonlWriter`] writes the same format from the same [`Event`] type the
//! reader returns, so what one writes the other reads back unchanged.

use super::{describe, fast, snippet, strip_bom, EventBuilder};
use crate::history::{Event, History, InputError};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Appends events to a JSONL history, one object per line.
///
/// By default each line is flushed as it is written ([`JsonlWriter::new`]),
/// so a crashed writer leaves every event it wrote, at worst with a torn
/// last line that the reader drops. [`JsonlWriter::unflushed`] leaves
/// flushing to the caller, for bulk output.
///
/// The fields are written in the order `index`, `time`, `process`, `type`,
/// `f`, `key`, `value`, `node`, `error`, then [`Event::extra`]; `time`,
/// `key`, `node` and `error` only when set. `Event::line` is not written.
pub struct JsonlWriter<W: Write> {
    out: W,
    flush_each: bool,
    buf: Vec<u8>,
}

impl JsonlWriter<BufWriter<File>> {
    /// Creates `path` (it must not exist) for appending.
    pub fn create(path: &Path) -> io::Result<JsonlWriter<BufWriter<File>>> {
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        Ok(JsonlWriter::new(BufWriter::with_capacity(64 * 1024, f)))
    }
}

impl<W: Write> JsonlWriter<W> {
    /// A writer that flushes after every event.
    pub fn new(out: W) -> JsonlWriter<W> {
        JsonlWriter {
            out,
            flush_each: true,
            buf: Vec::with_capacity(256),
        }
    }

    /// A writer that never flushes by itself (call [`JsonlWriter::flush`]).
    pub fn unflushed(out: W) -> JsonlWriter<W> {
        JsonlWriter {
            flush_each: false,
            ..JsonlWriter::new(out)
        }
    }

    /// Writes one event as one line (and flushes, unless
    /// [`JsonlWriter::unflushed`]). The line is written with one call, so a
    /// failed write leaves at most one torn line.
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, event).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Lines per chunk of the parallel fast path.
const CHUNK: usize = 4096;

pub(super) fn parse(bytes: &[u8], source: &str) -> Result<History, InputError> {
    parse_with(bytes, source, true)
}

/// [`parse`], with the fast path (`fast`) or with every line on the
/// general path (tests compare the two).
pub(super) fn parse_with(bytes: &[u8], source: &str, fast: bool) -> Result<History, InputError> {
    read(bytes, source, fast, false).map(|(h, _)| h)
}

/// [`parse`] for the isolation checkers: each txn event whose micro-ops
/// the fast path reads in compact form ([`crate::txn::raw`]) has them in
/// the arena (where, by event position: the spans) and a `null` value.
pub(super) fn parse_txn(bytes: &[u8], source: &str) -> Result<(History, Compact), InputError> {
    read(bytes, source, true, true)
}

/// The compact values of a history's events: an arena, and where each
/// event's is (by position; empty when none is).
pub(super) type Compact = (Vec<u32>, Vec<Option<std::ops::Range<usize>>>);

/// Where a line's compact value went: its thread's arena, start, length.
type InArena = (u32, usize, usize);

fn read(
    bytes: &[u8],
    source: &str,
    fast: bool,
    txn: bool,
) -> Result<(History, Compact), InputError> {
    use rayon::prelude::*;
    let rest = strip_bom(bytes);
    let mut history = History {
        source: source.to_string(),
        ..History::default()
    };
    // Each line without its line break (and `\r`); the last may lack its
    // line break (`terminated` false).
    let mut lines: Vec<&[u8]> = Vec::with_capacity(rest.len() / 64 + 1);
    let mut at = 0;
    for nl in memchr::memchr_iter(b'\n', rest) {
        lines.push(&rest[at..nl]);
        at = nl + 1;
    }
    let terminated = at == rest.len();
    if !terminated {
        lines.push(&rest[at..]);
    }
    fn strip(raw: &[u8]) -> &[u8] {
        raw.strip_suffix(b"\r").unwrap_or(raw)
    }
    // The fast path, over the lines in parallel: each line read as an event
    // (`FAST`, or `FAST_NO_INDEX` when it has none), or a placeholder
    // (`GENERAL`) for a line the general path reads, in order, below. The
    // events go straight to their place: no copy of the whole history.
    const GENERAL: u8 = 0;
    const FAST: u8 = 1;
    const FAST_NO_INDEX: u8 = 2;
    let placeholder = || Event::new(0, crate::history::EventType::Invoke, "", Value::Null);
    let mut slots: Vec<Event> = Vec::new();
    // Compact values go to their thread's arena: (thread, start, length).
    let mut state: Vec<(u8, Option<InArena>)> = Vec::new();
    let threads = rayon::current_num_threads();
    // (Reserved, not touched: a list element takes two bytes at least.)
    let reserve = if txn {
        rest.len() / 2 / threads.max(1)
    } else {
        0
    };
    let arenas: Vec<std::sync::Mutex<Vec<u32>>> = (0..=threads)
        .map(|t| std::sync::Mutex::new(Vec::with_capacity(if t < threads { reserve } else { 0 })))
        .collect();
    lines
        .par_iter()
        .with_min_len(CHUNK)
        .map_init(
            || (Vec::new(), Vec::new()),
            |(stack, out), raw| {
                let raw = strip(raw);
                let fast =
                    std::str::from_utf8(raw)
                        .ok()
                        .filter(|_| fast)
                        .and_then(|text| match txn {
                            true => fast::txn_event(text, stack, out),
                            false => fast::event(text, stack).map(|e| (e, false)),
                        });
                let compact = |yes: bool| {
                    yes.then(|| {
                        let t = rayon::current_thread_index()
                            .unwrap_or(threads)
                            .min(threads);
                        let mut a = arenas[t].lock().unwrap_or_else(|p| p.into_inner());
                        a.extend_from_slice(out);
                        (t as u32, a.len() - out.len(), out.len())
                    })
                };
                match fast {
                    Some((
                        fast::FastEvent {
                            index: Some(i),
                            mut event,
                        },
                        c,
                    )) => {
                        event.index = i;
                        (event, (FAST, compact(c)))
                    }
                    Some((fast::FastEvent { index: None, event }, c)) => {
                        (event, (FAST_NO_INDEX, compact(c)))
                    }
                    None => (placeholder(), (GENERAL, None)),
                }
            },
        )
        .unzip_into_vecs(&mut slots, &mut state);
    // In order: indices, the general path, and which slots hold an event.
    let mut builder = EventBuilder::new(source);
    let last = lines.len();
    let mut kept = 0usize;
    for (i, (slot, (st, compact))) in slots.iter_mut().zip(state.iter_mut()).enumerate() {
        let line = i + 1;
        if *st != GENERAL {
            // Indices as the builder numbers them; a line whose index is
            // out of order goes to the general path for its error.
            let index = match (*st == FAST, builder.prev_index) {
                (true, Some(prev)) if slot.index <= prev => None,
                (true, _) => Some(slot.index),
                (false, None) => Some(0),
                (false, Some(prev)) => prev.checked_add(1),
            };
            // (A header line, `{"init": ...}`, never reads as an event.)
            if let Some(index) = index {
                slot.index = index;
                slot.line = line;
                builder.prev_index = Some(index);
                *st = FAST;
                kept += 1;
                continue;
            }
        }
        // (The general path reads the value itself.)
        *compact = None;
        let raw = strip(lines[i]);
        let terminated = terminated || line < last;
        match general_line(&mut history, &mut builder, raw, line, terminated, kept)? {
            Some(ev) => {
                *slot = ev;
                *st = FAST;
                kept += 1;
            }
            None => *st = GENERAL,
        }
    }
    // Blank lines, a header, a torn last line: no event.
    if kept < slots.len() {
        let mut i = 0;
        slots.retain(|_| {
            i += 1;
            state[i - 1].0 == FAST
        });
        state.retain(|(st, _)| *st == FAST);
    }
    history.events = slots;
    builder.note(&mut history);
    // One arena: the threads' back to back, the biggest first (kept where
    // it is; the others are copied after it).
    let mut arena = Vec::new();
    let mut spans = Vec::new();
    if state.iter().any(|(_, r)| r.is_some()) {
        let mut arenas: Vec<(usize, Vec<u32>)> = arenas
            .into_iter()
            .map(|a| a.into_inner().unwrap_or_else(|p| p.into_inner()))
            .enumerate()
            .collect();
        arenas.sort_by_key(|(_, a)| std::cmp::Reverse(a.len()));
        let total: usize = arenas.iter().map(|(_, a)| a.len()).sum();
        let mut base = vec![0; arenas.len()];
        for (t, a) in arenas {
            base[t] = arena.len();
            if arena.is_empty() {
                arena = a;
                arena.reserve_exact(total - arena.len());
            } else {
                arena.extend_from_slice(&a);
            }
        }
        spans = state
            .into_iter()
            .map(|(_, r)| r.map(|(t, at, n)| base[t as usize] + at..base[t as usize] + at + n))
            .collect();
    }
    Ok((history, (arena, spans)))
}

/// Reads one line on the general path: a `serde_json::Value`, then the
/// op's fields by [`EventBuilder`]; a header line; a torn last line.
///
/// `before` is how many events the lines before gave; the event, if the
/// line is one, is returned.
fn general_line(
    history: &mut History,
    builder: &mut EventBuilder<'_>,
    raw: &[u8],
    line: usize,
    terminated: bool,
    before: usize,
) -> Result<Option<Event>, InputError> {
    let source = builder.source;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed = match std::str::from_utf8(raw) {
        Err(e) => Err(format!(
            "invalid UTF-8 (byte 0x{:02x} at column {})",
            raw[e.valid_up_to()],
            e.valid_up_to() + 1
        )),
        Ok(text) => serde_json::from_str::<Value>(text).map_err(json_error),
    };
    match parsed {
        Err(msg) if !terminated => {
            history.warnings.push(format!(
                "{source}:{line}: dropped a torn last line (no trailing newline): {msg}"
            ));
        }
        Err(msg) if before == 0 && raw.trim_ascii_start().first() != Some(&b'{') => {
            return Err(InputError::new(
                source,
                line,
                None,
                format!(
                    "the format was not recognised: `{}` is not an op of any format faultline reads (a JSON object per line, EDN, a JSON array, Jepsen history.txt, a Jepsen or Porcupine log); name it with --format if it is one ({msg})",
                    snippet(&String::from_utf8_lossy(raw))
                ),
            ))
        }
        Err(msg) => return Err(InputError::new(source, line, None, msg)),
        // A header line first: `{"init": VALUE}` (no `type`, no `f`).
        Ok(Value::Object(mut obj))
            if before == 0
                && history.init.is_none()
                && obj.contains_key("init")
                && !obj.contains_key("type")
                && !obj.contains_key("f") =>
        {
            history.init = obj.remove("init");
            if let Some(k) = obj.keys().next() {
                return Err(InputError::new(
                    source,
                    line,
                    Some(k),
                    "unknown header field (a header line holds only `init`)",
                ));
            }
        }
        Ok(Value::Object(obj)) => return builder.event(obj, line, |_| line).map(Some),
        Ok(other) => {
            return Err(InputError::new(
                source,
                line,
                None,
                format!("expected a JSON object, found {}", describe(&other)),
            ))
        }
    }
    Ok(None)
}

/// serde_json's message without its "at line 1 column N" (always line 1
/// here), with the column kept.
fn json_error(e: serde_json::Error) -> String {
    let text = e.to_string();
    let msg = match text.rsplit_once(" at line ") {
        Some((m, _)) => m,
        None => &text,
    };
    format!("invalid JSON at column {}: {}", e.column(), snippet(msg))
}
