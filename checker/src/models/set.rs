//! The `set` model: a grow-only set.

use super::{show_list, unknown_f};
use crate::history::{Operation, Status};
use crate::model::{fname, happened, show_value, Model, OpError, ValTable};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOp {
    Add(u32),
    /// The elements read, sorted and deduplicated.
    Read(Arc<[u32]>),
}

/// A grow-only set: add an element, read the whole set.
#[derive(Debug, Clone, Default)]
pub struct SetModel;

impl Model for SetModel {
    type State = Arc<[u32]>;
    type Op = SetOp;
    fn name(&self) -> &'static str {
        "set"
    }
    fn init(&self) -> Arc<[u32]> {
        Arc::from(Vec::new())
    }
    fn state_heap_bytes(&self, s: &Arc<[u32]>) -> usize {
        s.len() * 4 + 16
    }
    fn step(&self, s: &Arc<[u32]>, op: &SetOp) -> Option<Arc<[u32]>> {
        match op {
            SetOp::Read(r) => (r == s).then(|| s.clone()),
            SetOp::Add(x) => match s.binary_search(x) {
                Ok(_) => Some(s.clone()),
                Err(i) => {
                    let mut v = s.to_vec();
                    v.insert(i, *x);
                    Some(v.into())
                }
            },
        }
    }
    fn prepare(&self, op: &Operation, vals: &mut ValTable) -> Result<Option<SetOp>, OpError> {
        match fname(op) {
            "add" => Ok(happened(op).then(|| SetOp::Add(vals.intern(&op.input)))),
            "read" => {
                if op.status != Status::Ok {
                    return Ok(None);
                }
                let Some(items) = op.output.as_array() else {
                    return Err(OpError::new(
                        "value",
                        format!(
                            "a set read must return a list, got {}",
                            show_value(&op.output)
                        ),
                    ));
                };
                let mut ids: Vec<u32> = items.iter().map(|v| vals.intern(v)).collect();
                ids.sort_unstable();
                ids.dedup();
                Ok(Some(SetOp::Read(ids.into())))
            }
            _ => Err(unknown_f(op, "add or read")),
        }
    }
    fn read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }
    fn describe_state(&self, s: &Arc<[u32]>, vals: &ValTable) -> String {
        show_list(s, vals)
    }
    fn describe_op(&self, op: &SetOp, vals: &ValTable) -> String {
        match op {
            SetOp::Add(x) => format!("add {}", vals.show(*x)),
            SetOp::Read(r) => format!("read {}", show_list(r, vals)),
        }
    }
}
