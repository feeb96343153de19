//! Jepsen EDN histories (`history.edn`) and a small EDN reader.
//!
//! A history is either a top-level vector (or list) of op maps, or op maps
//! one after another (one per line, or several on a line). Records such as
//! `#jepsen.history.Op{...}` are read as their map. See the module
//! documentation of [`crate::formats`] for how EDN values map onto JSON.
//!
//! The reader is iterative (an explicit stack, no recursion), tracks lines,
//! and caps nesting at [`MAX_DEPTH`], so no input can overflow the stack.

use super::{describe, snippet, whole_utf8, EventBuilder};
use crate::history::{History, InputError};
use serde_json::{Map, Number, Value};

/// The deepest nesting of collections (and tags) the reader accepts.
pub(crate) const MAX_DEPTH: usize = 512;

/// Parses a Jepsen EDN history.
pub(super) fn parse(bytes: &[u8], source: &str) -> Result<History, InputError> {
    let text = whole_utf8(bytes, source)?;
    let mut reader = Reader::new(text, source);
    let mut history = History {
        source: source.to_string(),
        ..History::default()
    };
    let mut builder = EventBuilder::new(source);
    while let Some(item) = reader.next_item()? {
        let obj = match item.value {
            Value::Object(obj) => obj,
            Value::Array(v) if is_op_vector(&v) => op_vector(v),
            other => {
                return Err(InputError::new(
                    source,
                    item.line,
                    None,
                    format!(
                        "expected an op map or a [process type f value] vector, found {}",
                        describe(&other)
                    ),
                ))
            }
        };
        let fields = item.field_lines;
        let line = item.line;
        let field_line = |f: &str| {
            fields
                .iter()
                .find(|(k, _)| k == f)
                .map_or(line, |&(_, l)| l)
        };
        history.events.push(builder.event(obj, line, field_line)?);
    }
    builder.note(&mut history);
    Ok(history)
}

/// Knossos's older vector form of an op: `[process type f value]`, with the
/// error as a fifth element when there is one (`[71 :fail :read nil
/// :conn-lost]`).
fn is_op_vector(v: &[Value]) -> bool {
    (4..=5).contains(&v.len())
        && v[1]
            .as_str()
            .is_some_and(|t| crate::history::EventType::parse(t).is_some())
}

fn op_vector(v: Vec<Value>) -> Map<String, Value> {
    let mut obj = Map::new();
    for (name, value) in ["process", "type", "f", "value", "error"].iter().zip(v) {
        obj.insert(name.to_string(), value);
    }
    obj
}

/// Reads `text` as exactly one EDN form (a field of a tab-separated line);
/// the error is a message without a position.
pub(crate) fn read_one(text: &str, source: &str) -> Result<Value, String> {
    let mut r = Reader::new(text, source);
    r.skip_ws();
    let item = r.read_form().map_err(|e| e.message)?;
    r.skip_ws();
    match item {
        Some(item) if r.pos == r.bytes.len() => Ok(item.value),
        Some(_) => Err(format!("more than one form in `{}`", snippet(text))),
        None => Err(format!("no value in `{}`", snippet(text))),
    }
}

/// A top-level form.
#[derive(Debug)]
pub(crate) struct Item {
    pub value: Value,
    /// Line where the form starts.
    pub line: usize,
    /// For a map: the line where each key starts.
    pub field_lines: Vec<(String, usize)>,
}

enum Kind {
    /// A vector, list or set, closed by `close`.
    Seq { close: u8, items: Vec<Value> },
    Map {
        items: Map<String, Value>,
        /// A key read, waiting for its value.
        pending: Option<String>,
        /// The line of each key, for the outermost map of a form.
        key_lines: Option<Vec<(String, usize)>>,
    },
    /// `#tag`: the next form is the value.
    Tag(String),
    /// `#_`: the next form is dropped.
    Discard,
}

struct Frame {
    kind: Kind,
    /// Byte offset and line of the opening character.
    start: usize,
    line: usize,
}

impl Frame {
    fn describe(&self) -> String {
        match &self.kind {
            Kind::Seq { close: b']', .. } => format!("vector opened on line {}", self.line),
            Kind::Seq { close: b')', .. } => format!("list opened on line {}", self.line),
            Kind::Seq { .. } => format!("set opened on line {}", self.line),
            Kind::Map { .. } => format!("map opened on line {}", self.line),
            Kind::Tag(t) => format!("tag #{} on line {}", snippet(t), self.line),
            Kind::Discard => format!("#_ on line {}", self.line),
        }
    }
}

/// An EDN reader over UTF-8 text, yielding top-level forms.
pub(crate) struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    source: &'a str,
    pos: usize,
    line: usize,
    /// Inside a top-level `[` or `(` holding the ops: its closing character
    /// and line.
    outer: Option<(u8, usize)>,
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | 0x0c
            | b','
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'"'
            | b';'
    )
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str, source: &'a str) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            source,
            pos: 0,
            line: 1,
            outer: None,
        }
    }

    /// The next top-level form; the elements of a top-level vector or list
    /// count as top-level forms.
    pub(crate) fn next_item(&mut self) -> Result<Option<Item>, InputError> {
        loop {
            self.skip_ws();
            let Some(&c) = self.bytes.get(self.pos) else {
                if let Some((close, line)) = self.outer {
                    let what = if close == b']' { "vector" } else { "list" };
                    return Err(self.err(
                        self.line,
                        None,
                        format!("unterminated top-level {what} opened on line {line}: reached the end of the input"),
                    ));
                }
                return Ok(None);
            };
            match (self.outer, c) {
                // `[70 :invoke :read nil]`: one op in Knossos's vector form,
                // not a vector holding the ops.
                (None, b'[' | b'(') if !self.opens_collection_of_forms() => {}
                (None, b'[') => {
                    self.outer = Some((b']', self.line));
                    self.pos += 1;
                    continue;
                }
                (None, b'(') => {
                    self.outer = Some((b')', self.line));
                    self.pos += 1;
                    continue;
                }
                (Some((close, _)), c) if c == close => {
                    self.outer = None;
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            if let Some(item) = self.read_form()? {
                return Ok(Some(item));
            }
        }
    }

    /// At a top-level `[` or `(`: whether its first element is a
    /// collection, a tagged form or nothing (a vector holding ops), rather
    /// than a scalar (a vector that is one op).
    fn opens_collection_of_forms(&self) -> bool {
        let mut i = self.pos + 1;
        let b = self.bytes;
        while i < b.len() {
            match b[i] {
                b' ' | b'\t' | b'\r' | b'\n' | b',' | 0x0c => i += 1,
                b';' => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                b'[' | b'(' | b'{' | b'#' | b']' | b')' => return true,
                _ => return false,
            }
        }
        true
    }

    fn err(&self, line: usize, field: Option<&str>, msg: String) -> InputError {
        InputError::new(self.source, line, field, msg)
    }

    fn skip_ws(&mut self) {
        let b = self.bytes;
        while self.pos < b.len() {
            match b[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' | 0x0c => self.pos += 1,
                b';' => {
                    while self.pos < b.len() && b[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Reads one complete form; `None` when it was discarded with `#_`.
    fn read_form(&mut self) -> Result<Option<Item>, InputError> {
        let mut stack: Vec<Frame> = Vec::new();
        match self.read_form_with(&mut stack) {
            Ok(item) => Ok(item),
            Err((line, msg)) => {
                // Name the field of the outermost map being read, if any.
                let field = stack.iter().find_map(|f| match &f.kind {
                    Kind::Map {
                        pending: Some(k),
                        key_lines: Some(_),
                        ..
                    } => Some(k.as_str()),
                    _ => None,
                });
                Err(self.err(line, field, msg))
            }
        }
    }

    fn push(
        &self,
        stack: &mut Vec<Frame>,
        kind: Kind,
        start: usize,
        line: usize,
    ) -> Result<(), (usize, String)> {
        if stack.len() >= MAX_DEPTH {
            return Err((line, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        stack.push(Frame { kind, start, line });
        Ok(())
    }

    fn read_form_with(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Item>, (usize, String)> {
        let mut field_lines = Vec::new();
        loop {
            self.skip_ws();
            let start = self.pos;
            let line = self.line;
            let Some(&c) = self.bytes.get(self.pos) else {
                // Blame the innermost open collection or tag, on its line.
                let (what, open_line) = match stack.last() {
                    Some(f) => (f.describe(), f.line),
                    None => (String::from("form"), line),
                };
                let msg =
                    format!("unterminated {what}: reached the end of the input on line {line}");
                return Err((open_line, msg));
            };
            // The completed value, with the offset and line where it starts.
            let (value, mut vstart, mut vline) = match c {
                b'[' | b'(' | b'{' => {
                    let kind = match c {
                        b'[' => Kind::Seq {
                            close: b']',
                            items: Vec::new(),
                        },
                        b'(' => Kind::Seq {
                            close: b')',
                            items: Vec::new(),
                        },
                        _ => {
                            let outermost = stack
                                .iter()
                                .all(|f| matches!(f.kind, Kind::Tag(_) | Kind::Discard));
                            Kind::Map {
                                items: Map::new(),
                                pending: None,
                                key_lines: outermost.then(Vec::new),
                            }
                        }
                    };
                    self.push(stack, kind, start, line)?;
                    self.pos += 1;
                    continue;
                }
                b'#' => match self.bytes.get(self.pos + 1) {
                    Some(b'{') => {
                        let kind = Kind::Seq {
                            close: b'}',
                            items: Vec::new(),
                        };
                        self.push(stack, kind, start, line)?;
                        self.pos += 2;
                        continue;
                    }
                    Some(b'_') => {
                        self.push(stack, Kind::Discard, start, line)?;
                        self.pos += 2;
                        continue;
                    }
                    Some(b'"') => {
                        // A regex: keep its text as it is.
                        self.pos += 1;
                        (Value::String(self.read_raw_string()?), start, line)
                    }
                    Some(b'#') => {
                        // ##Inf, ##-Inf, ##NaN: not representable in JSON.
                        self.pos += 2;
                        let tok = self.read_token();
                        match tok {
                            "Inf" | "-Inf" | "NaN" => {
                                (Value::String(format!("##{tok}")), start, line)
                            }
                            _ => {
                                let msg = format!("invalid symbolic value `##{}`", snippet(tok));
                                return Err((line, msg));
                            }
                        }
                    }
                    Some(&b) if !is_delimiter(b) => {
                        self.pos += 1;
                        let tag = self.read_token().to_string();
                        self.push(stack, Kind::Tag(tag), start, line)?;
                        continue;
                    }
                    _ => {
                        let msg = "`#` must be followed by a tag, `{`, `_` or a string";
                        return Err((line, msg.to_string()));
                    }
                },
                b']' | b')' | b'}' => {
                    let Some(frame) = stack.pop() else {
                        return Err((line, format!("unmatched `{}`", c as char)));
                    };
                    let value = match frame.kind {
                        Kind::Seq { close, items } if close == c => Value::Array(items),
                        Kind::Map {
                            items,
                            pending: None,
                            key_lines,
                        } if c == b'}' => {
                            if let Some(kl) = key_lines {
                                field_lines = kl;
                            }
                            Value::Object(items)
                        }
                        Kind::Map {
                            pending: Some(k),
                            key_lines,
                            ..
                        } if c == b'}' => {
                            let msg = format!("map key `{}` has no value", snippet(&k));
                            // Put the frame back so that the error names the key.
                            let kind = Kind::Map {
                                items: Map::new(),
                                pending: Some(k),
                                key_lines,
                            };
                            stack.push(Frame {
                                kind,
                                start: frame.start,
                                line: frame.line,
                            });
                            return Err((line, msg));
                        }
                        kind => {
                            let prefix = matches!(kind, Kind::Tag(_) | Kind::Discard);
                            let what = Frame {
                                kind,
                                start: frame.start,
                                line: frame.line,
                            }
                            .describe();
                            let msg = if prefix {
                                format!("{what} is followed by `{}` instead of a form", c as char)
                            } else {
                                format!("{what} is closed by `{}`", c as char)
                            };
                            return Err((line, msg));
                        }
                    };
                    self.pos += 1;
                    (value, frame.start, frame.line)
                }
                b'"' => (Value::String(self.read_string()?), start, line),
                b'\\' => (self.read_char()?, start, line),
                _ => {
                    let tok = self.read_token();
                    (scalar(tok).map_err(|m| (line, m))?, start, line)
                }
            };
            // Hand the value to the enclosing frames.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(Some(Item {
                        value,
                        line: vline,
                        field_lines,
                    }));
                };
                match &mut top.kind {
                    Kind::Tag(_) => {
                        // A tagged literal is its value.
                        vstart = top.start;
                        vline = top.line;
                        stack.pop();
                        continue;
                    }
                    Kind::Discard => {
                        stack.pop();
                        if stack.is_empty() {
                            return Ok(None);
                        }
                    }
                    Kind::Seq { items, .. } => items.push(value),
                    Kind::Map {
                        items,
                        pending,
                        key_lines,
                    } => match pending.take() {
                        Some(k) => {
                            items.insert(k, value);
                        }
                        None => {
                            let key = match value {
                                Value::String(s) => s,
                                _ => self.text[vstart..self.pos].to_string(),
                            };
                            if let Some(kl) = key_lines {
                                kl.push((key.clone(), vline));
                            }
                            *pending = Some(key);
                        }
                    },
                }
                break;
            }
        }
    }

    /// Reads a token (symbol, keyword, number, tag name) up to a delimiter.
    fn read_token(&mut self) -> &'a str {
        let start = self.pos;
        while self.pos < self.bytes.len() && !is_delimiter(self.bytes[self.pos]) {
            self.pos += 1;
        }
        // Delimiters are ASCII, so both ends are character boundaries.
        &self.text[start..self.pos]
    }

    /// Reads a string literal at `"`, processing escapes.
    fn read_string(&mut self) -> Result<String, (usize, String)> {
        let start_line = self.line;
        let unterminated = move || {
            let msg = format!(
                "unterminated string starting on line {start_line}: reached the end of the input"
            );
            (start_line, msg)
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.bytes[self.pos..];
            let Some(i) = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b == b'\n')
            else {
                return Err(unterminated());
            };
            out.push_str(&self.text[self.pos..self.pos + i]);
            self.pos += i;
            match rest[i] {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\n' => {
                    out.push('\n');
                    self.line += 1;
                    self.pos += 1;
                }
                _ => {
                    self.pos += 1;
                    let Some(&e) = self.bytes.get(self.pos) else {
                        return Err(unterminated());
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => out.push(self.read_unicode_escape()?),
                        _ => {
                            self.pos -= 1;
                            let ch = self.text[self.pos..].chars().next().unwrap_or('?');
                            let msg =
                                format!("invalid escape `\\{}` in a string", ch.escape_debug());
                            return Err((self.line, msg));
                        }
                    }
                }
            }
        }
    }

    /// Reads the `XXXX` of `\uXXXX` (and a following low surrogate).
    fn read_unicode_escape(&mut self) -> Result<char, (usize, String)> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.bytes[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, (usize, String)> {
        let value = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| u32::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok());
        match value {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err((
                self.line,
                "invalid `\\u` escape: expected 4 hex digits".to_string(),
            )),
        }
    }

    /// Reads a regex literal's string at `"` without processing escapes.
    fn read_raw_string(&mut self) -> Result<String, (usize, String)> {
        let start_line = self.line;
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'"' => {
                    let s = self.text[start..self.pos].to_string();
                    self.pos += 1;
                    return Ok(s);
                }
                b'\\' if self.pos + 1 < self.bytes.len() => {
                    if self.bytes[self.pos + 1] == b'\n' {
                        self.line += 1;
                    }
                    // Skip the escaped byte, or the whole escaped character.
                    let next = self.text[self.pos + 1..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                    self.pos += 1 + next;
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
        let msg = format!(
            "unterminated regex starting on line {start_line}: reached the end of the input"
        );
        Err((start_line, msg))
    }

    /// Reads a character literal at `\`: `\a`, `\newline`, `\u0041`, ...
    fn read_char(&mut self) -> Result<Value, (usize, String)> {
        self.pos += 1;
        let Some(first) = self.text[self.pos..].chars().next() else {
            let msg = "`\\` at the end of the input: expected a character";
            return Err((self.line, msg.to_string()));
        };
        let start = self.pos;
        self.pos += first.len_utf8();
        if first == '\n' {
            self.line += 1;
        }
        while self.pos < self.bytes.len() && !is_delimiter(self.bytes[self.pos]) {
            self.pos += 1;
        }
        let tok = &self.text[start..self.pos];
        let c = match tok {
            "newline" => "\n".to_string(),
            "space" => " ".to_string(),
            "tab" => "\t".to_string(),
            "return" => "\r".to_string(),
            "backspace" => "\u{8}".to_string(),
            "formfeed" => "\u{c}".to_string(),
            _ if tok.len() == 5
                && tok.starts_with('u')
                && tok[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                let n = u32::from_str_radix(&tok[1..], 16).unwrap_or(0xFFFD);
                char::from_u32(n)
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
                    .to_string()
            }
            // A single character, or something unknown kept as its text.
            _ => tok.to_string(),
        };
        Ok(Value::String(c))
    }
}

/// A token that is not a collection, string or character: `nil`, booleans,
/// keywords, numbers and symbols.
fn scalar(tok: &str) -> Result<Value, String> {
    match tok {
        "nil" => return Ok(Value::Null),
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Some(k) = tok.strip_prefix(':') {
        if k.is_empty() {
            return Err("invalid keyword `:`".to_string());
        }
        return Ok(Value::String(k.to_string()));
    }
    let numeric = match tok.as_bytes() {
        [d, ..] if d.is_ascii_digit() => true,
        [b'+' | b'-', d, ..] if d.is_ascii_digit() => true,
        _ => false,
    };
    if !numeric {
        return Ok(Value::String(tok.to_string()));
    }
    number(tok).ok_or_else(|| format!("invalid number `{}`", snippet(tok)))
}

fn is_int(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn int(s: &str) -> Option<Value> {
    if !is_int(s) {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(Value::Number(u.into()));
    }
    // A bigint: keep its digits.
    Some(Value::String(s.strip_prefix('+').unwrap_or(s).to_string()))
}

fn float(s: &str) -> Option<Value> {
    let allowed = |b: u8| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E');
    if !s.bytes().all(allowed) {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    Some(match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None => Value::String(s.to_string()),
    })
}

fn number(tok: &str) -> Option<Value> {
    if let Some(body) = tok.strip_suffix('N') {
        return int(body);
    }
    if let Some(body) = tok.strip_suffix('M') {
        return int(body).or_else(|| float(body));
    }
    if let Some((n, d)) = tok.split_once('/') {
        // A ratio (Clojure, not EDN): its value as a float.
        if !is_int(n) || !is_int(d) {
            return None;
        }
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        return Some(match Number::from_f64(n / d) {
            Some(x) => Value::Number(x),
            None => Value::String(tok.to_string()),
        });
    }
    int(tok).or_else(|| float(tok))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_all(text: &str) -> Result<Vec<Value>, InputError> {
        let mut r = Reader::new(text, "t.edn");
        let mut out = Vec::new();
        while let Some(item) = r.next_item()? {
            out.push(item.value);
        }
        Ok(out)
    }

    /// The one form in `text`.
    fn one(text: &str) -> Value {
        read_one(text, "t.edn").unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn scalars() {
        assert_eq!(one("nil"), Value::Null);
        assert_eq!(one("true"), json!(true));
        assert_eq!(one("false"), json!(false));
        assert_eq!(one("42"), json!(42));
        assert_eq!(one("-7"), json!(-7));
        assert_eq!(one("+7"), json!(7));
        assert_eq!(one("7N"), json!(7));
        assert_eq!(one("18446744073709551615"), json!(18446744073709551615u64));
        assert_eq!(
            one("123456789012345678901234567890N"),
            json!("123456789012345678901234567890")
        );
        assert_eq!(
            one("-123456789012345678901234567890"),
            json!("-123456789012345678901234567890")
        );
        assert_eq!(one("1.5"), json!(1.5));
        assert_eq!(one("-2.5e3"), json!(-2500.0));
        assert_eq!(one("1.5M"), json!(1.5));
        assert_eq!(one("1e999"), json!("1e999"));
        assert_eq!(one("1/2"), json!(0.5));
        assert_eq!(one("1/0"), json!("1/0"));
        assert_eq!(one(":timed-out"), json!("timed-out"));
        assert_eq!(one(":foo/bar"), json!("foo/bar"));
        assert_eq!(one("foo.bar/baz"), json!("foo.bar/baz"));
        assert_eq!(one("-"), json!("-"));
        assert_eq!(one("##Inf"), json!("##Inf"));
        assert!(read_all("12abc").is_err());
        assert!(read_all(":").is_err());
        assert!(read_all("##foo").is_err());
    }

    #[test]
    fn strings_and_chars() {
        assert_eq!(one(r#""a\"b\\c\nd\te\u0041\/""#), json!("a\"b\\c\nd\teA/"));
        assert_eq!(one(r#""\uD83D\uDE00""#), json!("\u{1F600}"));
        assert_eq!(one(r#""\uD83D""#), json!("\u{FFFD}"));
        assert_eq!(one("\"héllo\nworld\""), json!("héllo\nworld"));
        assert_eq!(
            one(r"[\a \newline \space \u0041 \( \é]"),
            json!(["a", "\n", " ", "A", "(", "é"])
        );
        assert_eq!(one(r#"#"\d+\"""#), json!(r#"\d+\""#));
        let e = read_all(r#""a\qb""#).unwrap_err();
        assert!(e.message.contains("invalid escape"), "{e}");
        assert!(read_all(r#""\u12""#).is_err());
        assert!(read_all("\\").is_err());
        assert!(read_all("\"\\").is_err());
    }

    #[test]
    fn collections() {
        assert_eq!(one("[1 2, 3]"), json!([1, 2, 3]));
        assert_eq!(
            one("{:a [1 (2 3)] :b #{:x}}"),
            json!({"a": [1, [2, 3]], "b": ["x"]})
        );
        assert_eq!(
            one("{1 :one, nil 2, [1  2] 3, \"s\" 4, sym 5, #inst \"t\" 6}"),
            json!({"1": "one", "nil": 2, "[1  2]": 3, "s": 4, "sym": 5, "t": 6})
        );
        assert_eq!(
            one("#inst \"2024-01-01T00:00:00Z\""),
            json!("2024-01-01T00:00:00Z")
        );
        assert_eq!(one("#uuid\"abc\""), json!("abc"));
        assert_eq!(one("#jepsen.history.Op{:a 1}"), json!({"a": 1}));
        assert_eq!(one("#:ns{:a 1}"), json!({"a": 1}));
        assert_eq!(one("{#_ :x #_ 1 :a 1}"), json!({"a": 1}));
        assert_eq!(one("[1 #_ #_ 2 3 4]"), json!([1, 4]));
        assert_eq!(one("; comment\n[1 ; two\n 2]"), json!([1, 2]));
        assert_eq!(read_all("#_ [1] #_ 2").unwrap(), Vec::<Value>::new());
        // Top-level vectors and lists of collections are unwrapped; one that
        // starts with a scalar is a form (Knossos's `[process type f value]`).
        assert_eq!(
            read_all("[{:a 1} [2]] ({:b 3}) [] [4 5]").unwrap(),
            vec![json!({"a": 1}), json!([2]), json!({"b": 3}), json!([4, 5])]
        );
    }

    #[test]
    fn lines_and_fields() {
        let mut r = Reader::new("{:a 1\n :b\n 2}\n\n#x {:c 3}", "t.edn");
        let item = r.next_item().unwrap().unwrap();
        assert_eq!(item.line, 1);
        assert_eq!(
            item.field_lines,
            vec![("a".to_string(), 1), ("b".to_string(), 2)]
        );
        let item = r.next_item().unwrap().unwrap();
        assert_eq!(item.line, 5);
        assert_eq!(item.field_lines, vec![("c".to_string(), 5)]);
        assert!(r.next_item().unwrap().is_none());

        let e = read_all("{:a 1}\n{:type :invoke\n :value [1 2\n").unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (3, Some("value")), "{e}");
        assert!(e.message.contains("vector opened on line 3"), "{e}");
        let e = read_all("{:value \"abc\n\ndef").unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (1, Some("value")), "{e}");
        let e = read_all("{:a 1 :b}").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("b"), "{e}");
        let e = read_all("\n[1 2)").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(read_all("]").is_err());
        assert!(read_all("[1 #_]").is_err());
        assert!(read_all("#foo").is_err());
        assert!(read_all("# foo").is_err());
        assert!(read_all("[{:a 1}").is_err());
    }

    #[test]
    fn depth_is_capped() {
        let deep = "[".repeat(100_000);
        let e = read_all(&format!("{{:value {deep}")).unwrap_err();
        assert!(e.message.contains("nesting deeper"), "{e}");
        assert_eq!(e.field.as_deref(), Some("value"));
        assert!(read_all(&"#{".repeat(100_000)).is_err());
        assert!(read_all(&"#a ".repeat(100_000)).is_err());
        assert!(read_all(&"#_ ".repeat(100_000)).is_err());
        // The outermost vector is the top-level container: MAX_DEPTH more
        // levels are fine, one more is not.
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(read_all(&ok).is_ok());
        let bad = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert!(read_all(&bad).is_err());
    }
}
