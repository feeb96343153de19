//! The fast path of the JSONL reader: one line, an op object in the shape
//! faultline writes, scanned by hand straight into an [`Event`] (no
//! intermediate map, no `String` per field name).
//!
//! It accepts only what it can read exactly as the general path
//! (`serde_json::Value` and [`super::EventBuilder`]) would: the fields
//! `index`, `time`, `process`, `type`, `f`, `value`, `key`, `node`, `error`,
//! each at most once, with values of the types those fields take; integers
//! (no fraction or exponent, within `u64` or `i64`), strings, `true`,
//! `false`, `null`, arrays and objects. Anything else — another field, a
//! float, `-0`, a field of the wrong type, nesting deeper than
//! [`MAX_DEPTH`], trailing content, invalid JSON — is `None`, and the
//! general path reads the line (and names any error), so the fast path
//! never changes what a line reads as, only how quickly.

use crate::history::{Event, EventType, Process};
use crate::txn::raw;
use serde_json::{Map, Number, Value};

/// Deeper values go to the general path (serde_json stops at 128).
const MAX_DEPTH: u32 = 100;

/// An event read by the fast path; its `index` is left to the caller
/// (`None`: the line had none, or `null`), as is its `line`.
pub(super) struct FastEvent {
    pub index: Option<u64>,
    pub event: Event,
}

struct Scan<'a, 's> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    /// The elements of the arrays being read, so that each array gets a
    /// vector of exactly its length (no growth, no slack).
    stack: &'s mut Vec<Value>,
}

impl<'a> Scan<'a, '_> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// The next byte after white space (not consumed).
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A string at the cursor (after white space) without escapes,
    /// borrowed; `None` for one with escapes or control characters.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.i += 1;
                    // `"` is ASCII: both ends are char boundaries.
                    return self.text.get(start..self.i - 1);
                }
                b'\\' => return None,
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        None
    }

    /// Any string at the cursor, escapes decoded by serde_json.
    fn string(&mut self) -> Option<String> {
        let save = self.i;
        if let Some(s) = self.plain_str() {
            return Some(s.to_string());
        }
        self.i = save;
        self.eat(b'"')?;
        let start = self.i - 1;
        while let Some(&c) = self.b.get(self.i) {
            self.i += 1;
            match c {
                b'"' => {
                    let text = self.text.get(start..self.i)?;
                    return serde_json::from_str::<String>(text).ok();
                }
                b'\\' => self.i += 1,
                0..=0x1f => return None,
                _ => {}
            }
        }
        None
    }

    /// An integer at the cursor, as serde_json reads it: non-negative ones
    /// that fit in `u64` as `u64`, negative ones that fit in `i64` as `i64`;
    /// `None` for anything else (floats, `-0`, overflow, leading zeros).
    #[inline]
    fn int(&mut self) -> Option<Number> {
        self.ws();
        let neg = self.b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        self.plain_digits(start)?;
        if !neg {
            return Some(Number::from(n));
        }
        if n == 0 || n > 1 << 63 {
            return None;
        }
        Some(Number::from((n as i64).wrapping_neg()))
    }

    /// A non-negative integer the compact txn form holds (at most
    /// [`raw::MAX`]), written as serde_json reads it (no leading zero, no
    /// fraction or exponent).
    #[inline]
    fn small(&mut self) -> Option<u32> {
        self.ws();
        self.small_here()
    }

    /// [`Scan::small`] right at the cursor (no white space first).
    #[inline(always)]
    fn small_here(&mut self) -> Option<u32> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            n = n * 10 + u64::from(c - b'0');
            if n > raw::MAX {
                return None;
            }
            self.i += 1;
        }
        self.plain_digits(start)?;
        Some(n as u32)
    }

    /// Are the digits from `start` to the cursor an integer as serde_json
    /// reads one: some digits, no leading zero, no fraction or exponent
    /// after them?
    #[inline(always)]
    fn plain_digits(&self, start: usize) -> Option<()> {
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b[start] == b'0';
        let fraction = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !fraction).then_some(())
    }

    /// A txn's micro-ops at the cursor in compact form ([`raw`]), appended
    /// to `out`; `None` (cursor and `out` anywhere) for any other value.
    fn raw_mops(&mut self, out: &mut Vec<u32>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let f = raw::f_code(self.plain_str()?)?;
            self.eat(b',')?;
            let key = self.small()?;
            self.eat(b',')?;
            match self.peek()? {
                b'n' => {
                    self.literal(b"null")?;
                    out.extend([f | raw::NULL, key]);
                }
                b'[' => {
                    self.i += 1;
                    out.extend([f | raw::LIST, key, 0]);
                    let at = out.len();
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        loop {
                            // (Lists are most of a history's bytes: the
                            // white space check only when there is some.)
                            let v = match self.b.get(self.i) {
                                Some(b'0'..=b'9') => self.small_here()?,
                                _ => self.small()?,
                            };
                            out.push(v);
                            let next = match self.b.get(self.i) {
                                Some(&c @ (b',' | b']')) => c,
                                _ => self.peek()?,
                            };
                            self.i += 1;
                            match next {
                                b',' => {}
                                b']' => break,
                                _ => return None,
                            }
                        }
                    }
                    out[at - 1] = (out.len() - at) as u32;
                }
                _ => {
                    let v = self.small()?;
                    out.extend([f | raw::INT, key, v]);
                }
            }
            self.eat(b']')?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, depth: u32) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(Value::String),
            b'n' => self.literal(b"null").map(|_| Value::Null),
            b't' => self.literal(b"true").map(|_| Value::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Value::Bool(false)),
            b'-' | b'0'..=b'9' => self.int().map(Value::Number),
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(Value::Array(Vec::new()));
                }
                let base = self.stack.len();
                loop {
                    let v = self.value(depth + 1)?;
                    self.stack.push(v);
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Value::Array(self.stack.split_off(base)));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut map = Map::new();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(Value::Object(map));
                }
                loop {
                    let k = self.string()?;
                    self.eat(b':')?;
                    let v = self.value(depth + 1)?;
                    // Last one wins, as in serde_json's own map.
                    map.insert(k, v);
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Value::Object(map));
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }
}

/// Reads one line (UTF-8, without its line break) on the fast path, or
/// `None` when the general path must read it.
///
/// `stack` is scratch space, kept from line to line.
pub(super) fn event(line: &str, stack: &mut Vec<Value>) -> Option<FastEvent> {
    scan_event(line, stack, None).map(|(e, _)| e)
}

/// [`event`], with the micro-ops of a txn (`f` `txn` or `:txn`) in compact
/// form appended to `out` (cleared first) and its value left `null`; the
/// flag says whether they are. A txn value not in the compact form is read
/// as a `Value`, as [`event`] reads it.
pub(super) fn txn_event(
    line: &str,
    stack: &mut Vec<Value>,
    out: &mut Vec<u32>,
) -> Option<(FastEvent, bool)> {
    out.clear();
    match scan_event(line, stack, Some(out))? {
        // Micro-op-like values of an op that is not a txn: as a `Value`.
        (e, true) if e.event.f.trim_start_matches(':') != "txn" => {
            out.clear();
            event(line, stack).map(|e| (e, false))
        }
        other => Some(other),
    }
}

fn scan_event(
    line: &str,
    stack: &mut Vec<Value>,
    mut raw: Option<&mut Vec<u32>>,
) -> Option<(FastEvent, bool)> {
    stack.clear();
    let mut compact = false;
    let mut s = Scan {
        text: line,
        b: line.as_bytes(),
        i: 0,
        stack,
    };
    s.eat(b'{')?;
    let mut seen = 0u16;
    let mut index = None;
    let mut time = None;
    let mut process = None;
    let mut kind = None;
    let mut f = None;
    let mut key = None;
    let mut value = Value::Null;
    let mut node = None;
    let mut error = None;
    // An empty object is missing its fields: the general path says so.
    loop {
        let name = s.plain_str()?;
        s.eat(b':')?;
        let bit = match name {
            "index" => {
                index = match s.peek()? {
                    b'n' => s.literal(b"null").map(|_| None)?,
                    _ => Some(s.int()?.as_u64()?),
                };
                1
            }
            "time" => {
                time = match s.peek()? {
                    b'n' => s.literal(b"null").map(|_| None)?,
                    _ => Some(s.int()?.as_i64()?),
                };
                2
            }
            "process" => {
                process = Some(match s.peek()? {
                    b'"' => {
                        let p = s.string()?;
                        let digits = p
                            .trim_start_matches('-')
                            .bytes()
                            .all(|b| b.is_ascii_digit());
                        if p.is_empty() || (p.len() > 19 && digits) {
                            return None;
                        }
                        Process::Named(p)
                    }
                    _ => Process::Client(s.int()?.as_u64()?),
                });
                4
            }
            "type" => {
                kind = Some(EventType::parse(s.plain_str()?)?);
                8
            }
            "f" => {
                f = Some(s.string()?);
                16
            }
            "value" => {
                let at = s.i;
                if let Some(out) = raw.as_deref_mut() {
                    if s.peek() == Some(b'[') && s.raw_mops(out).is_some() {
                        compact = true;
                    } else {
                        out.clear();
                        s.i = at;
                    }
                }
                if !compact {
                    value = s.value(1)?;
                }
                32
            }
            "key" => {
                key = Some(s.value(1)?).filter(|v| !v.is_null());
                64
            }
            "node" => {
                node = match s.peek()? {
                    b'n' => s.literal(b"null").map(|_| None)?,
                    _ => Some(s.string()?),
                };
                128
            }
            "error" => {
                error = Some(s.value(1)?).filter(|v| !v.is_null());
                256
            }
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match s.peek()? {
            b',' => s.i += 1,
            b'}' => {
                s.i += 1;
                break;
            }
            _ => return None,
        }
    }
    s.ws();
    if s.i != s.b.len() {
        return None;
    }
    Some((
        FastEvent {
            index,
            event: Event {
                index: 0,
                time,
                process: process?,
                kind: kind?,
                f: f?,
                key,
                value,
                node,
                error,
                extra: Map::new(),
                line: 0,
            },
        },
        compact,
    ))
}
