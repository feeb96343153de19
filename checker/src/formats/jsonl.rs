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

use super::{describe, snippet, strip_bom, EventBuilder};
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

pub(super) fn parse(bytes: &[u8], source: &str) -> Result<History, InputError> {
    let mut rest = strip_bom(bytes);
    let mut history = History {
        source: source.to_string(),
        ..History::default()
    };
    let mut builder = EventBuilder::new(source);
    let mut line = 0usize;
    while !rest.is_empty() {
        line += 1;
        let (raw, terminated) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let raw = &rest[..i];
                rest = &rest[i + 1..];
                (raw, true)
            }
            None => {
                let raw = rest;
                rest = &[];
                (raw, false)
            }
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
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
            Err(msg) if history.events.is_empty() && raw.trim_ascii_start().first() != Some(&b'{') => {
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
                if history.events.is_empty()
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
            Ok(Value::Object(obj)) => {
                let ev = builder.event(obj, line, |_| line)?;
                history.events.push(ev);
            }
            Ok(other) => {
                return Err(InputError::new(
                    source,
                    line,
                    None,
                    format!("expected a JSON object, found {}", describe(&other)),
                ))
            }
        }
    }
    Ok(history)
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
