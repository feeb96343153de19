//! One JSON array of op objects, as elle-cli and other tools write it:
//! `[{"process": 0, "type": "invoke", "f": "txn", "value": [...]}, ...]`.
//! The objects have the same fields as faultline's JSONL lines; each event's
//! line is the line where its object starts.

use super::{describe, strip_bom, whole_utf8, EventBuilder};
use crate::history::{History, InputError};
use serde_json::Value;

pub(super) fn parse(bytes: &[u8], source: &str) -> Result<History, InputError> {
    let text = whole_utf8(strip_bom(bytes), source)?;
    let mut history = History {
        source: source.to_string(),
        ..History::default()
    };
    let mut builder = EventBuilder::new(source);
    let b = text.as_bytes();
    let mut pos = 0;
    let mut line = 1;
    // Skips white space, counting lines.
    let skip_ws = |pos: &mut usize, line: &mut usize| {
        while *pos < b.len() && b[*pos].is_ascii_whitespace() {
            if b[*pos] == b'\n' {
                *line += 1;
            }
            *pos += 1;
        }
    };
    let err = |line: usize, msg: String| InputError::new(source, line, None, msg);
    skip_ws(&mut pos, &mut line);
    if b.get(pos) != Some(&b'[') {
        return Err(err(line, "expected a JSON array of op objects".into()));
    }
    pos += 1;
    let mut first = true;
    loop {
        skip_ws(&mut pos, &mut line);
        match b.get(pos) {
            None => {
                return Err(err(
                    line,
                    "unterminated array: reached the end of the input".into(),
                ))
            }
            Some(b']') => {
                pos += 1;
                break;
            }
            Some(b',') if !first => {
                pos += 1;
                skip_ws(&mut pos, &mut line);
            }
            Some(_) if first => {}
            Some(&c) => {
                return Err(err(
                    line,
                    format!("expected `,` or `]` between ops, found `{}`", c as char),
                ))
            }
        }
        first = false;
        let start_line = line;
        let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                // serde_json counts lines from `pos`.
                let at = start_line + e.line().saturating_sub(1);
                let msg = e.to_string();
                let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |m| m.0);
                return Err(err(at, format!("invalid JSON: {msg}")));
            }
            None => return Err(err(line, "expected an op object".into())),
        };
        let used = stream.byte_offset();
        line += text[pos..pos + used]
            .bytes()
            .filter(|&c| c == b'\n')
            .count();
        pos += used;
        match value {
            Value::Object(obj) => {
                let ev = builder.event(obj, start_line, |_| start_line)?;
                history.events.push(ev);
            }
            other => {
                return Err(err(
                    start_line,
                    format!("expected an op object, found {}", describe(&other)),
                ))
            }
        }
    }
    skip_ws(&mut pos, &mut line);
    if pos < b.len() {
        return Err(err(
            line,
            "unexpected content after the array's closing `]`".into(),
        ));
    }
    builder.note(&mut history);
    Ok(history)
}
