//! What the [`crate::interpreter`] acts on and where it reports: the
//! cluster ([`FaultTarget`], implemented by the harness) and the run's
//! records ([`FaultLog`], implemented by the harness's history recorder).
//! Network faults go through [`crate::NetworkControl`], clock faults through
//! [`crate::ClockControl`].

use crate::record::FaultRecord;
use crate::NodeId;
use serde_json::{Map, Value};

/// A node operation that did not work, in the target's own words (the
/// interpreter prefixes the node id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

impl TargetError {
    pub fn new(message: impl Into<String>) -> TargetError {
        TargetError(message.into())
    }
}

/// The cluster under test, as the nemesis sees it: nodes by index into
/// [`FaultTarget::node_ids`], process faults by index, and who leads. The
/// nemesis names no system and speaks no protocol: how a node is killed or
/// asked whether it leads is the implementer's business.
///
/// Methods may block (signals, reaping, network look-ups); the interpreter
/// calls them from its caller's thread.
pub trait FaultTarget: Send + Sync {
    /// The node ids, in index order (`["n1", "n2", ...]`).
    fn node_ids(&self) -> Vec<NodeId>;
    /// SIGKILL the node's processes and reap them (no-op when it is down).
    fn kill(&self, node: usize) -> Result<(), TargetError>;
    /// Start the node again on its data dir (no-op when it runs).
    fn start(&self, node: usize) -> Result<(), TargetError>;
    /// Suspend the node's processes (SIGSTOP).
    fn pause(&self, node: usize) -> Result<(), TargetError>;
    /// Continue the node's processes (SIGCONT).
    fn resume(&self, node: usize) -> Result<(), TargetError>;
    /// Every node that says it leads now, by index (after a partition an old
    /// leader that has not heard of its successor still does); `None` when
    /// none does or nobody answers.
    fn primaries(&self) -> Option<Vec<usize>>;
    /// The node most nodes name as their leader now (else one that says it
    /// leads); `None` when unknown.
    fn leader(&self) -> Option<NodeId>;
}

/// Whether a nemesis event starts an op or completes it. Nemesis ops always
/// complete with `info`: a fault's effect on the system is never certain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NemesisEventType {
    Invoke,
    Info,
}

impl NemesisEventType {
    /// The history's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            NemesisEventType::Invoke => "invoke",
            NemesisEventType::Info => "info",
        }
    }
}

/// One nemesis event for the history (process `"nemesis"`).
#[derive(Debug, Clone, Copy)]
pub struct NemesisEvent<'a> {
    pub kind: NemesisEventType,
    pub f: &'a str,
    pub value: &'a Value,
    /// What went wrong (a JSON string), on completions only.
    pub error: Option<&'a Value>,
    /// Extra top-level fields (`shape`, `targeting`, `clock-offsets`,
    /// `final`, ...); empty for none.
    pub extra: &'a Map<String, Value>,
}

/// Where a recorded event landed in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Logged {
    /// The event's `index`.
    pub index: u64,
    /// The event's `time`: ns since the run started.
    pub time: u64,
}

/// Where the interpreter reports: the history, the progress line, and the
/// typed fault records.
pub trait FaultLog: Send + Sync {
    /// Appends one nemesis event to the history; returns its index and time.
    fn record(&self, event: &NemesisEvent<'_>) -> Logged;
    /// The faults of one kind in effect now (`"killed"`, `"paused"`,
    /// `"partition"`, `"packet"`, `"clock"` → node ids or a shape/mode), for
    /// a progress line; empty when none.
    fn set_active(&self, name: &str, items: Vec<String>);
    /// A fault started (`end` is `None`) or ended: store `record`. The same
    /// `id` comes again when the fault ends; the later record replaces the
    /// earlier one.
    fn fault(&self, record: &FaultRecord);
}
