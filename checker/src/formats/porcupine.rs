//! Porcupine's test logs (see `data/porcupine/README.md`).
//!
//! * etcd (and Jepsen's `jepsen.log` of a register test):
//!   `INFO  jepsen.util - <process><SEP><type><SEP><f><SEP><value>`, any
//!   prefix before `jepsen.util` (a timestamp, a thread name), `<SEP>` one
//!   or more whitespace characters; `f` is `:read`, `:write` or `:cas`;
//!   values are `nil`, an integer, `[A B]` or a keyword such as `:timed-out`
//!   (on `:fail` and `:info` lines: the event's `error`, with a `null`
//!   value). Other lines (log messages, `:nemesis` ops) are skipped and
//!   counted in a warning, as Porcupine skips them.
//! * kv: one EDN map per line, `{:process P, :type T, :f F, :key "K", :value V}`,
//!   read with the EDN reader and then checked: integer process, `f` one of
//!   get/put/append, a string key, a string or nil value.

use super::{describe, edn, snippet, whole_utf8};
use crate::history::{Event, EventType, History, InputError, Process};
use serde_json::Value;

/// Parses a Porcupine etcd (Jepsen register) log.
pub(super) fn parse_etcd(bytes: &[u8], source: &str) -> Result<History, InputError> {
    let text = whole_utf8(bytes, source)?;
    let mut history = History {
        source: source.to_string(),
        ..History::default()
    };
    // Lines that are not client ops: (count, first line).
    let mut skipped = (0usize, 0usize);
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        let Some(op) = op_text(raw) else {
            skipped.0 += 1;
            if skipped.1 == 0 {
                skipped.1 = line;
            }
            continue;
        };
        let index = history.events.len() as u64;
        let ev = etcd_line(op, line, index)
            .map_err(|(field, msg)| InputError::new(source, line, field, msg))?;
        history.events.push(ev);
    }
    if history.events.is_empty() && skipped.0 > 0 {
        return Err(InputError::new(
            source,
            skipped.1,
            None,
            "no op lines: expected `INFO  jepsen.util - <process> <type> <f> <value>` lines (a Jepsen or Porcupine etcd log)",
        ));
    }
    if skipped.0 > 0 {
        history.warnings.push(format!(
            "{source}: skipped {} lines that are not client ops (the first on line {}): only `jepsen.util - <process> <type> <f> <value>` lines of integer processes are read",
            skipped.0, skipped.1
        ));
    }
    Ok(history)
}

/// The op part of a log line (`<process> <type> <f> <value>`, after
/// `jepsen.util` and an optional `-`), or `None` for a line that is no
/// client op: no `jepsen.util` token in it, or a named process
/// (`:nemesis`).
fn op_text(raw: &str) -> Option<&str> {
    let at = raw.find("jepsen.util")?;
    let mut rest = &raw[at + "jepsen.util".len()..];
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let save = rest;
    if token(&mut rest) != Some("-") {
        rest = save;
    }
    let p = rest.trim_start();
    (!p.starts_with(':')).then_some(p)
}

/// The next whitespace-separated token of `s`, advancing `s` past it.
fn token<'a>(s: &mut &'a str) -> Option<&'a str> {
    let t = s.trim_start();
    if t.is_empty() {
        *s = t;
        return None;
    }
    let end = t.find(char::is_whitespace).unwrap_or(t.len());
    *s = &t[end..];
    Some(&t[..end])
}

type LineError = (Option<&'static str>, String);

/// One op, `<process> <type> <f> <value>` (the text after `jepsen.util -`).
fn etcd_line(raw: &str, line: usize, index: u64) -> Result<Event, LineError> {
    let mut rest = raw;
    let missing = |field: &'static str| (Some(field), "missing".to_string());
    let p = token(&mut rest).ok_or_else(|| missing("process"))?;
    let process = p.parse::<u64>().map_err(|_| {
        let msg = format!("expected a non-negative integer, found `{}`", snippet(p));
        (Some("process"), msg)
    })?;
    let t = token(&mut rest).ok_or_else(|| missing("type"))?;
    let kind = EventType::parse(t).ok_or_else(|| {
        let msg = format!(
            "unknown type `{}` (expected :invoke, :ok, :fail or :info)",
            snippet(t)
        );
        (Some("type"), msg)
    })?;
    let f = token(&mut rest).ok_or_else(|| missing("f"))?;
    let f = match f.strip_prefix(':').unwrap_or(f) {
        f @ ("read" | "write" | "cas") => f,
        _ => {
            let msg = format!(
                "unknown f `{}` (expected :read, :write or :cas)",
                snippet(f)
            );
            return Err((Some("f"), msg));
        }
    };
    let v = rest.trim();
    if v.is_empty() {
        return Err(missing("value"));
    }
    let bad_value = |expected: &str| {
        let msg = format!("`:{f}` expects {expected}, found `{}`", snippet(v));
        (Some("value"), msg)
    };
    let parsed =
        EtcdValue::parse(v).ok_or_else(|| bad_value("nil, an integer, [A B] or a keyword"))?;
    let (value, error) = match (parsed, f, kind) {
        (EtcdValue::Keyword(k), _, EventType::Fail | EventType::Info) => {
            (Value::Null, Some(Value::String(k.to_string())))
        }
        (EtcdValue::Keyword(_), _, _) => {
            let msg = format!(
                "a keyword value (`{}`) is only allowed on :fail and :info lines",
                snippet(v)
            );
            return Err((Some("value"), msg));
        }
        (EtcdValue::Nil, "read", _) => (Value::Null, None),
        (EtcdValue::Int(_), "read", EventType::Invoke) => return Err(bad_value("nil")),
        (EtcdValue::Int(n), "read", _) => (Value::from(n), None),
        (EtcdValue::Int(n), "write", _) => (Value::from(n), None),
        (EtcdValue::Pair(a, b), "cas", _) => (Value::from(vec![a, b]), None),
        (_, "read", _) => return Err(bad_value("nil or an integer")),
        (_, "write", _) => return Err(bad_value("an integer")),
        _ => return Err(bad_value("[A B]")),
    };
    Ok(Event {
        index,
        time: None,
        process: Process::Client(process),
        kind,
        f: f.to_string(),
        key: None,
        value,
        node: None,
        error,
        extra: Default::default(),
        line,
    })
}

enum EtcdValue<'a> {
    Nil,
    Int(i64),
    Pair(i64, i64),
    Keyword(&'a str),
}

impl<'a> EtcdValue<'a> {
    fn parse(v: &'a str) -> Option<EtcdValue<'a>> {
        if v == "nil" {
            return Some(EtcdValue::Nil);
        }
        if let Some(k) = v.strip_prefix(':') {
            let ok = !k.is_empty() && !k.contains(char::is_whitespace);
            return ok.then_some(EtcdValue::Keyword(k));
        }
        if let Some(inner) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let mut parts = inner
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty());
            let a = parts.next()?.parse().ok()?;
            let b = parts.next()?.parse().ok()?;
            return parts.next().is_none().then_some(EtcdValue::Pair(a, b));
        }
        v.parse().ok().map(EtcdValue::Int)
    }
}

/// Parses a Porcupine kv (6.824-style key/value) log.
pub(super) fn parse_kv(bytes: &[u8], source: &str) -> Result<History, InputError> {
    let history = edn::parse(bytes, source)?;
    for ev in &history.events {
        let err = |field: &str, msg: String| InputError::new(source, ev.line, Some(field), msg);
        if !ev.process.is_client() {
            let msg = format!("expected an integer client process, found `{}`", ev.process);
            return Err(err("process", msg));
        }
        if !matches!(ev.f.as_str(), "get" | "put" | "append") {
            let msg = format!(
                "unknown f `{}` (expected :get, :put or :append)",
                snippet(&ev.f)
            );
            return Err(err("f", msg));
        }
        match &ev.key {
            Some(Value::String(_)) => {}
            None => return Err(err("key", "missing required field".to_string())),
            Some(k) => {
                return Err(err(
                    "key",
                    format!("expected a string, found {}", describe(k)),
                ))
            }
        }
        if !matches!(ev.value, Value::String(_) | Value::Null) {
            let msg = format!("expected a string or nil, found {}", describe(&ev.value));
            return Err(err("value", msg));
        }
    }
    Ok(history)
}
