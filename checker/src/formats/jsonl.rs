//! faultline's own history format: one JSON object per line.
//!
//! ```text
//! {"index":0,"time":1234567,"process":3,"type":"invoke","f":"write","value":4,"node":"n2"}
//! ```
//!
//! Required: `type`, `f`, `process`; optional: `value` (default `null`),
//! `index`, `time`, `key`, `node`, `error`; other fields are ignored. Blank
//! lines are skipped. The recorder appends and flushes line by line, so a
//! crashed run may leave a torn last line: a last line without a trailing
//! newline that is not valid JSON (or not UTF-8) is dropped with a warning.
//! A last line that is valid JSON but not a valid op is still an error.

use super::{describe, snippet, strip_bom, EventBuilder};
use crate::history::{History, InputError};
use serde_json::Value;

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
            Err(msg) => return Err(InputError::new(source, line, None, msg)),
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
