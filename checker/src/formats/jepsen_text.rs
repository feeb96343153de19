//! Jepsen's `history.txt`: one op per line, tab-separated fields written in
//! EDN: `process type f value`, then the op's `error` when it has one; some
//! versions lead with the op's index (`index process type f value`).
//!
//! ```text
//! 0<TAB>:invoke<TAB>:read<TAB>nil
//! 0<TAB>:ok<TAB>:read<TAB>3
//! :nemesis<TAB>:info<TAB>:start<TAB>nil
//! 1<TAB>:fail<TAB>:cas<TAB>[1 2]<TAB>:timed-out
//! ```
//!
//! A process is an integer (a client) or a keyword (`:nemesis`); `type` is
//! `:invoke`, `:ok`, `:fail` or `:info`; `f` a keyword. Each field is read
//! with the EDN reader, so values map onto JSON as in EDN files.

use super::{edn, snippet, whole_utf8, EventBuilder};
use crate::history::{EventType, History, InputError};
use serde_json::{Map, Value};

fn is_type(field: &[u8]) -> bool {
    matches!(field, b":invoke" | b":ok" | b":fail" | b":info")
}

fn is_digits(field: &[u8]) -> bool {
    !field.is_empty() && field.iter().all(u8::is_ascii_digit)
}

/// Whether a line has the shape of a `history.txt` line.
pub(super) fn looks_like(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
    (fields.len() >= 4 && is_type(fields[1]))
        || (fields.len() >= 5 && is_digits(fields[0]) && is_type(fields[2]))
}

pub(super) fn parse(bytes: &[u8], source: &str) -> Result<History, InputError> {
    let text = whole_utf8(bytes, source)?;
    let mut history = History {
        source: source.to_string(),
        ..History::default()
    };
    let mut builder = EventBuilder::new(source);
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        let err = |field: Option<&str>, msg: String| InputError::new(source, line, field, msg);
        let fields: Vec<&str> = raw.split('\t').collect();
        let b = |i: usize| fields.get(i).map_or(&b""[..], |f| f.as_bytes());
        let off = if is_type(b(1)) {
            0
        } else if is_digits(b(0)) && is_type(b(2)) {
            1
        } else {
            return Err(err(
                None,
                format!(
                    "expected tab-separated `process type f value [error]` (type one of :invoke, :ok, :fail, :info), found `{}`",
                    snippet(raw)
                ),
            ));
        };
        if fields.len() < off + 4 {
            return Err(err(Some("value"), "missing".into()));
        }
        if fields.len() > off + 5 {
            return Err(err(
                None,
                format!(
                    "{} fields: expected at most {} (`{}process type f value error`)",
                    fields.len(),
                    off + 5,
                    if off == 1 { "index " } else { "" }
                ),
            ));
        }
        let read = |i: usize, name: &str| {
            edn::read_one(fields[i].trim(), source).map_err(|m| err(Some(name), m))
        };
        let mut obj = Map::new();
        if off == 1 {
            obj.insert("index".into(), read(0, "index")?);
        }
        let process = fields[off].trim();
        let process = if let Some(name) = process.strip_prefix(':') {
            Value::String(name.to_string())
        } else {
            match read(off, "process")? {
                n @ Value::Number(_) => n,
                _ => {
                    return Err(err(
                        Some("process"),
                        format!(
                            "expected an integer or a keyword such as :nemesis, found `{}`",
                            snippet(process)
                        ),
                    ))
                }
            }
        };
        obj.insert("process".into(), process);
        let kind = EventType::parse(fields[off + 1].trim()).map(EventType::as_str);
        obj.insert("type".into(), Value::from(kind.unwrap_or_default()));
        obj.insert("f".into(), read(off + 2, "f")?);
        obj.insert("value".into(), read(off + 3, "value")?);
        if fields.len() == off + 5 {
            obj.insert("error".into(), read(off + 4, "error")?);
        }
        history.events.push(builder.event(obj, line, |_| line)?);
    }
    builder.note(&mut history);
    Ok(history)
}
