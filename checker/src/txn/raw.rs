//! The compact form of a txn's micro-ops, read straight from a JSONL line
//! by the reader's fast path ([`crate::formats::read_txn_jsonl`]) instead of
//! a `serde_json::Value` tree: one `u32` slice per line, no allocation per
//! micro-op or list element. It holds exactly what the value said, so
//! reading it gives the same transactions and the same errors as reading
//! the value (tests compare the two on every input).
//!
//! Only the plain shape is compact: micro-ops `[f key value]` whose `f` is
//! one of [`F_NAMES`] (a plain string), whose key is a non-negative integer
//! below 2^31, and whose value is `null`, such an integer, or a list of
//! them. Any other value stays a `serde_json::Value`.
//!
//! Layout, per micro-op: a code (the index of `f` in [`F_NAMES`], plus
//! [`NULL`], [`INT`] or [`LIST`] for the value's form), the key, then the
//! integer (`INT`) or the list's length and its elements (`LIST`).

use crate::history::History;
use serde_json::{json, Value};

/// The spellings of `f` the compact form holds, as written.
pub const F_NAMES: [&str; 10] = [
    "append", ":append", "r", ":r", "read", ":read", "w", ":w", "write", ":write",
];
/// Value forms (the code's high bits).
pub const NULL: u32 = 0;
pub const INT: u32 = 1 << 4;
pub const LIST: u32 = 2 << 4;
const F_MASK: u32 = 0xf;

/// The largest integer the compact form holds (interned ids above it are
/// tagged, see [`super::parse`]).
pub const MAX: u64 = (1 << 31) - 1;

/// The code of `f`, if the compact form holds it.
pub fn f_code(f: &str) -> Option<u32> {
    F_NAMES.iter().position(|&n| n == f).map(|i| i as u32)
}

/// What `f` does: append, read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Append,
    Read,
    Write,
}

/// One micro-op of a compact value.
#[derive(Debug, Clone, Copy)]
pub struct RawMop<'a> {
    pub f: u32,
    pub key: u32,
    pub value: RawValue<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawValue<'a> {
    Null,
    Int(u32),
    /// The list, and where it starts in the compact value.
    List(usize, &'a [u32]),
}

impl RawMop<'_> {
    pub fn func(&self) -> Func {
        match self.f {
            0 | 1 => Func::Append,
            2..=5 => Func::Read,
            _ => Func::Write,
        }
    }

    /// The micro-op as the JSON it was read from.
    pub fn to_value(&self) -> Value {
        let v = match self.value {
            RawValue::Null => Value::Null,
            RawValue::Int(i) => json!(i),
            RawValue::List(_, l) => json!(l),
        };
        json!([F_NAMES[self.f as usize], self.key, v])
    }
}

/// The micro-ops of a compact value, in order.
pub fn mops(raw: &[u32]) -> impl Iterator<Item = RawMop<'_>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let code = *raw.get(i)?;
        let key = raw[i + 1];
        let value = match code & !F_MASK {
            NULL => {
                i += 2;
                RawValue::Null
            }
            INT => {
                i += 3;
                RawValue::Int(raw[i - 1])
            }
            _ => {
                let n = raw[i + 2] as usize;
                i += 3 + n;
                RawValue::List(i - n, &raw[i - n..i])
            }
        };
        Some(RawMop {
            f: code & F_MASK,
            key,
            value,
        })
    })
}

/// Do two compact values have the same micro-ops, but for what reads saw
/// (the same spelling of `f`, key, and written value)? As
/// `parse::plainly_same` is of the values they were read from.
pub fn plainly_same(a: &[u32], b: &[u32]) -> bool {
    if a == b {
        return true;
    }
    let (mut x, mut y) = (mops(a), mops(b));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(m), Some(n)) => {
                if m.f != n.f || m.key != n.key || (m.func() != Func::Read && m.value != n.value) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A compact value as the JSON it was read from.
pub fn to_value(raw: &[u32]) -> Value {
    Value::Array(mops(raw).map(|m| m.to_value()).collect())
}

/// How many micro-ops a compact value has.
pub fn len(raw: &[u32]) -> usize {
    mops(raw).count()
}

/// A history read for the isolation checkers: its events, with the value of
/// each txn event whose micro-ops are in compact form left `null` and the
/// micro-ops in `arena` (where, by event position: `spans`). The
/// transactions' lists point into the arena rather than copy it.
#[derive(Debug, Default)]
pub struct Prepared {
    pub history: History,
    /// The compact values of the events, back to back.
    pub arena: std::sync::Arc<Vec<u32>>,
    /// Where each event's compact value is in `arena`, by position in
    /// `history.events` (`None`: read its `value`). Empty when no event has
    /// one.
    pub spans: Vec<Option<std::ops::Range<usize>>>,
}

/// Arena positions from here on are not addressable by a list's `u32`
/// start (see `parse::SHARED`): such an arena is not made.
pub const MAX_ARENA: usize = 1 << 31;

impl Prepared {
    /// A history with every value in place.
    pub fn plain(history: History) -> Prepared {
        Prepared {
            history,
            ..Prepared::default()
        }
    }

    /// A history and the compact values of its events: an arena, and
    /// where each event's is (by position); `None` when the arena is too
    /// big for a list's `u32` start.
    pub fn new(
        history: History,
        arena: Vec<u32>,
        spans: Vec<Option<std::ops::Range<usize>>>,
    ) -> Option<Prepared> {
        if arena.len() >= MAX_ARENA {
            return None;
        }
        Some(Prepared {
            history,
            arena: std::sync::Arc::new(arena),
            spans,
        })
    }

    /// The compact micro-ops of the event at `pos`, if it has them, and
    /// where they start in the arena.
    pub fn raw_at(&self, pos: usize) -> Option<(usize, &[u32])> {
        let r = self.spans.get(pos)?.as_ref()?;
        Some((r.start, &self.arena[r.clone()]))
    }

    /// Whether some event's value is in compact form.
    pub fn compact(&self) -> bool {
        !self.spans.is_empty()
    }
}
