//! Process faults: runs the fault schedule against a [`FaultTarget`] and
//! records every fault's start and end as ops of process `"nemesis"`.

use super::generator::{FaultEvent, FaultKind};
use super::store::{Recorder, Who};
use super::supervisor::FaultTarget;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Applies process faults and remembers which are in effect, so that the
/// final heal (or Ctrl-C) can undo them all.
pub struct ProcessFaults {
    target: Arc<dyn FaultTarget>,
    recorder: Arc<Recorder>,
    killed: BTreeSet<usize>,
    paused: BTreeSet<usize>,
}

impl ProcessFaults {
    pub fn new(target: Arc<dyn FaultTarget>, recorder: Arc<Recorder>) -> ProcessFaults {
        ProcessFaults {
            target,
            recorder,
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
        }
    }

    fn names(&self, nodes: &[usize]) -> Vec<String> {
        let ids = self.target.node_ids();
        nodes.iter().filter_map(|&i| ids.get(i).cloned()).collect()
    }

    fn publish(&self) {
        let killed: Vec<usize> = self.killed.iter().copied().collect();
        let paused: Vec<usize> = self.paused.iter().copied().collect();
        self.recorder
            .set_active_faults("killed", self.names(&killed));
        self.recorder
            .set_active_faults("paused", self.names(&paused));
    }

    /// One nemesis op: invoke, act on each node, complete with what
    /// happened. Errors are recorded in the op and logged; the test goes on.
    fn act(&mut self, f: &str, nodes: &[usize], extra: Value) {
        let names = self.names(nodes);
        let value = json!(names);
        self.recorder
            .record(Who::Named("nemesis"), "invoke", f, None, &value, None, None);
        let mut errors = Vec::new();
        for (&i, name) in nodes.iter().zip(&names) {
            let r = match f {
                "kill" => self.target.kill(i).map(|_| {
                    self.paused.remove(&i);
                    self.killed.insert(i);
                }),
                "start" => self.target.start(i).map(|_| {
                    self.killed.remove(&i);
                }),
                "pause" => self.target.pause(i).map(|_| {
                    self.paused.insert(i);
                }),
                "resume" => self.target.resume(i).map(|_| {
                    self.paused.remove(&i);
                }),
                _ => Err(anyhow::anyhow!("unknown fault {f}")),
            };
            if let Err(e) = r {
                tracing::error!(node = %name, "nemesis {f}: {e:#}");
                errors.push(format!("{name}: {e:#}"));
            }
        }
        tracing::info!(nodes = ?names, "nemesis {f} {extra}");
        let mut out = json!({ "nodes": names });
        if let (Value::Object(m), Value::Object(x)) = (&mut out, extra) {
            m.extend(x);
        }
        let err = (!errors.is_empty()).then(|| json!(errors.join("; ")));
        self.recorder.record(
            Who::Named("nemesis"),
            "info",
            f,
            None,
            &out,
            None,
            err.as_ref(),
        );
        self.publish();
    }

    /// Applies one scheduled event.
    pub fn apply(&mut self, ev: &FaultEvent) {
        let f = if ev.start {
            ev.kind.name()
        } else {
            ev.kind.undo_name()
        };
        // An end only undoes what is still in effect.
        let nodes: Vec<usize> = if ev.start {
            ev.nodes.clone()
        } else {
            let active = match ev.kind {
                FaultKind::Kill => &self.killed,
                FaultKind::Pause => &self.paused,
            };
            ev.nodes
                .iter()
                .copied()
                .filter(|n| active.contains(n))
                .collect()
        };
        if nodes.is_empty() {
            return;
        }
        self.act(f, &nodes, json!({ "targeting": ev.targeting.name() }));
    }

    /// Undoes every fault in effect: resume the paused, start the killed.
    pub fn heal(&mut self) {
        let paused: Vec<usize> = self.paused.iter().copied().collect();
        if !paused.is_empty() {
            self.act("resume", &paused, json!({ "heal": true }));
        }
        let killed: Vec<usize> = self.killed.iter().copied().collect();
        if !killed.is_empty() {
            self.act("start", &killed, json!({ "heal": true }));
        }
    }
}
