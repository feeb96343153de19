//! The `register` and `cas-register` models: one register holding any
//! value, initially nil.

use super::unknown_f;
use crate::history::{Operation, Status};
use crate::model::{fname, happened, show_value, Model, OpError, ValTable, NIL};
use serde_json::Value;

/// A single register holding any value, initially nil: read, write and (for
/// `cas-register`) compare-and-set `[old new]`.
#[derive(Debug, Clone, Default)]
pub struct RegisterModel {
    /// Accept `cas` ops (the `cas-register` model).
    pub cas: bool,
    /// Treat a failed cas as "the value was not `old`" (Porcupine's etcd
    /// model) instead of dropping it (Jepsen's semantics).
    pub fail_cas_observes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    Applied,
    Failed,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOp {
    Read(u32),
    Write(u32),
    Cas {
        from: u32,
        to: u32,
        outcome: CasOutcome,
    },
}

fn cas_args(op: &Operation, vals: &mut ValTable) -> Result<(u32, u32), OpError> {
    let v = if op.input.is_array() {
        &op.input
    } else {
        &op.output
    };
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((vals.intern(a), vals.intern(b))),
        _ => Err(OpError::new(
            "value",
            format!("a cas value must be [old new], got {}", show_value(v)),
        )),
    }
}

impl Model for RegisterModel {
    type State = u32;
    type Op = RegisterOp;

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn init(&self) -> u32 {
        NIL
    }

    /// `--init V`: the register starts at `V` (with keys, an object maps
    /// each key to its start).
    fn initial(
        &self,
        init: &Value,
        key: Option<&str>,
        vals: &mut ValTable,
    ) -> Result<u32, OpError> {
        Ok(vals.intern(crate::model::init_for_key(init, key)))
    }

    fn step(&self, s: &u32, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Read(v) => (*s == v).then_some(*s),
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas { from, to, outcome } => match outcome {
                CasOutcome::Applied => (*s == from).then_some(to),
                CasOutcome::Failed => (*s != from).then_some(*s),
                CasOutcome::Unknown => Some(if *s == from { to } else { *s }),
            },
        }
    }

    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<RegisterOp>, OpError> {
        match fname(op) {
            "read" | "r" | "get" => Ok(match op.status {
                Status::Ok => Some(RegisterOp::Read(vals.intern(&op.output))),
                _ => None,
            }),
            "write" | "w" | "put" => {
                if !happened(op) {
                    return Ok(None);
                }
                let v = if op.input.is_null() {
                    &op.output
                } else {
                    &op.input
                };
                Ok(Some(RegisterOp::Write(vals.intern(v))))
            }
            "cas" if self.cas => {
                let outcome = match op.status {
                    Status::Ok => CasOutcome::Applied,
                    Status::Info => CasOutcome::Unknown,
                    Status::Fail if self.fail_cas_observes => CasOutcome::Failed,
                    Status::Fail => return Ok(None),
                };
                let (from, to) = cas_args(op, vals)?;
                Ok(Some(RegisterOp::Cas { from, to, outcome }))
            }
            _ => Err(unknown_f(
                op,
                if self.cas {
                    "read, write or cas"
                } else {
                    "read or write"
                },
            )),
        }
    }

    /// A completed read of a value that neither the initial state nor any
    /// write or cas (applied or indeterminate) puts in the register, or an
    /// applied cas from such a value: no order makes it legal.
    fn impossible(&self, init: &u32, ops: &[(&RegisterOp, bool)]) -> Option<usize> {
        let mut held: rustc_hash::FxHashSet<u32> = Default::default();
        held.insert(*init);
        for (o, _) in ops {
            match **o {
                RegisterOp::Write(v) => {
                    held.insert(v);
                }
                RegisterOp::Cas {
                    to,
                    outcome: CasOutcome::Applied | CasOutcome::Unknown,
                    ..
                } => {
                    held.insert(to);
                }
                _ => {}
            }
        }
        ops.iter().position(|(o, completed)| {
            *completed
                && match **o {
                    RegisterOp::Read(v) => !held.contains(&v),
                    RegisterOp::Cas {
                        from,
                        outcome: CasOutcome::Applied,
                        ..
                    } => !held.contains(&from),
                    _ => false,
                }
        })
    }

    /// An indeterminate write (or cas) whose value no op observes (no read
    /// returns it, no cas expects it) can be left out: wherever it was placed
    /// in a linearization, taking it out only changes the state over a stretch
    /// in which, by assumption, nothing depends on the register holding that
    /// value (an indeterminate cas there that would now apply can be left
    /// out too, as it was a no-op). Not done when failed cas ops are read as
    /// observations (`fail_cas_observes`), since those depend on the register
    /// *not* holding a value.
    fn removable(&self, ops: &[(&RegisterOp, bool)]) -> Vec<bool> {
        if ops.iter().any(|(o, _)| {
            matches!(
                o,
                RegisterOp::Cas {
                    outcome: CasOutcome::Failed,
                    ..
                }
            )
        }) {
            return Vec::new();
        }
        let mut observed: rustc_hash::FxHashSet<u32> = Default::default();
        for (o, _) in ops {
            match **o {
                RegisterOp::Read(v) => {
                    observed.insert(v);
                }
                RegisterOp::Cas { from, .. } => {
                    observed.insert(from);
                }
                RegisterOp::Write(_) => {}
            }
        }
        ops.iter()
            .map(|(o, completed)| {
                !completed
                    && match **o {
                        RegisterOp::Write(v) => !observed.contains(&v),
                        RegisterOp::Cas {
                            to,
                            outcome: CasOutcome::Unknown,
                            ..
                        } => !observed.contains(&to),
                        _ => false,
                    }
            })
            .collect()
    }

    fn blind(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Write(_))
    }

    fn read_only(&self, op: &RegisterOp) -> bool {
        matches!(
            op,
            RegisterOp::Read(_)
                | RegisterOp::Cas {
                    outcome: CasOutcome::Failed,
                    ..
                }
        )
    }

    fn describe_state(&self, s: &u32, vals: &ValTable) -> String {
        vals.show(*s)
    }

    fn describe_op(&self, op: &RegisterOp, vals: &ValTable) -> String {
        match *op {
            RegisterOp::Read(v) => format!("read {}", vals.show(v)),
            RegisterOp::Write(v) => format!("write {}", vals.show(v)),
            RegisterOp::Cas { from, to, outcome } => format!(
                "cas {} -> {}{}",
                vals.show(from),
                vals.show(to),
                match outcome {
                    CasOutcome::Applied => "",
                    CasOutcome::Failed => " (failed)",
                    CasOutcome::Unknown => " (outcome unknown)",
                }
            ),
        }
    }

    fn explain(&self, s: &u32, op: &RegisterOp, vals: &ValTable) -> String {
        match *op {
            RegisterOp::Read(v) => format!(
                "read returned {} but the register holds {}",
                vals.show(v),
                vals.show(*s)
            ),
            RegisterOp::Cas {
                from,
                outcome: CasOutcome::Applied,
                ..
            } => format!(
                "cas expected {} but the register holds {}",
                vals.show(from),
                vals.show(*s)
            ),
            RegisterOp::Cas { from, .. } => format!(
                "cas failed, but the register holds {} which it would have matched",
                vals.show(from)
            ),
            RegisterOp::Write(_) => "a write is always legal".to_string(),
        }
    }
}
