//! The `mutex` model: a lock that is free or held.

use super::unknown_f;
use crate::history::Operation;
use crate::model::{fname, happened, Model, OpError, ValTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutexOp {
    Acquire,
    Release,
}

/// A lock: acquire is legal when it is free, release when it is held.
#[derive(Debug, Clone, Default)]
pub struct MutexModel;

impl Model for MutexModel {
    type State = bool;
    type Op = MutexOp;
    fn name(&self) -> &'static str {
        "mutex"
    }
    fn init(&self) -> bool {
        false
    }
    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!*held).then_some(true),
            MutexOp::Release => (*held).then_some(false),
        }
    }
    fn prepare(&self, op: &Operation, _: &mut ValTable) -> Result<Option<MutexOp>, OpError> {
        let m = match fname(op) {
            "acquire" | "lock" => MutexOp::Acquire,
            "release" | "unlock" => MutexOp::Release,
            _ => return Err(unknown_f(op, "acquire or release")),
        };
        Ok(happened(op).then_some(m))
    }
    fn describe_state(&self, held: &bool, _: &ValTable) -> String {
        if *held { "held" } else { "free" }.to_string()
    }
    fn describe_op(&self, op: &MutexOp, _: &ValTable) -> String {
        match op {
            MutexOp::Acquire => "acquire",
            MutexOp::Release => "release",
        }
        .to_string()
    }
    fn explain(&self, held: &bool, op: &MutexOp, _: &ValTable) -> String {
        match (op, held) {
            (MutexOp::Acquire, true) => "acquire while the lock is already held".to_string(),
            _ => "release while the lock is free".to_string(),
        }
    }
}
