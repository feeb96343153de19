//! The interpreter: applies each step of a [`crate::plan::fault_plan`] to
//! the cluster ([`FaultTarget`]: process faults, who leads), the network
//! ([`NetworkControl`]: partitions, packet faults) and the clocks
//! ([`ClockControl`]), records every fault's start and end as ops of
//! process `"nemesis"` in the history, and hands a typed [`FaultRecord`]
//! per fault to its [`FaultLog`] as the fault starts and ends.
//!
//! History ops (each an `invoke` then an `info` with what was done):
//!
//! | f | value | extra fields |
//! |---|---|---|
//! | `kill`, `start`, `pause`, `resume` | invoke: `["n1",...]`; info: `{"nodes": [...], ...extra}` | in the info value: `targeting`, `fallback` (a `primaries` fault that found no leader), `heal` (final heal) |
//! | `partition` | the grudge, `{"n1":["n2","n3"],...}` (node → nodes whose traffic it drops) | `shape`; `leader: null` when a `primary` partition found no leader |
//! | `heal` | `{}` (no grudge left) | `final: true` on the final heal |
//! | `packet` | `[{"from":"n1","to":"n2","rule":"delay","ms":50,"jitter_ms":10},...]` | `mode`, `targeting` |
//! | `heal-packet` | `[]` | |
//! | `bump` | the deltas in ms, `{"n2":-120000}` | `clock-offsets`; `targeting`, `fallback` |
//! | `strobe` | `{"n2":{"delta_ms":..,"period_ms":..,"duration_ms":..}}` | `clock-offsets`; `targeting`, `fallback` |
//! | `reset-clock` | every node's offset after it (all 0) | `clock-offsets` |
//!
//! `clock-offsets` (on the `info` completion of every clock op) is every
//! node's wall-clock offset in ms after the op, for plots. The final heal
//! ends every fault in effect and then always records `heal` with
//! `final: true`, which is where the consistency checks' final phase begins.
//!
//! A step that fails (a signal not delivered, a rule not applied) is
//! recorded with an `error` and logged; the test goes on.

use crate::clock::ClockControl;
use crate::grudge::{self, Grudge};
use crate::plan::{Action, FaultKind, PlannedFault, Targeting};
use crate::record::{FaultDetails, FaultRecord, PacketLink};
use crate::schedule::Phase;
use crate::target::{FaultLog, FaultTarget, Logged, NemesisEvent, NemesisEventType, TargetError};
use crate::{LinkRule, NetworkControl, NodeId};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A process fault's signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcOp {
    Kill,
    Start,
    Pause,
    Resume,
}

impl ProcOp {
    fn f(self) -> &'static str {
        match self {
            ProcOp::Kill => "kill",
            ProcOp::Start => "start",
            ProcOp::Pause => "pause",
            ProcOp::Resume => "resume",
        }
    }
}

/// Where one nemesis op landed in the history.
struct Done {
    invoke: Logged,
    info: Logged,
    error: Option<String>,
}

/// A record still in effect, and (for kills and pauses) the nodes still
/// under it.
struct Open {
    rec: usize,
    kind: FaultKind,
    nodes: BTreeSet<usize>,
}

/// An error and its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!(": {x}"));
        src = x.source();
    }
    s
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Every fault mechanism of a run, and what is in effect. Its methods block
/// (signals, reaping, leader look-ups through the [`FaultTarget`]): call
/// them from a thread that may block, not from an async task.
pub struct Nemesis {
    target: Arc<dyn FaultTarget>,
    net: Option<Arc<dyn NetworkControl>>,
    clocks: Option<Arc<ClockControl>>,
    log: Arc<dyn FaultLog>,
    /// For the strobe task (the clock strobe is async).
    handle: tokio::runtime::Handle,
    ids: Vec<NodeId>,
    killed: BTreeSet<usize>,
    paused: BTreeSet<usize>,
    partitioned: bool,
    packet: bool,
    strobe: Option<tokio::task::JoinHandle<()>>,
    /// The nodes each kill/pause start hit, for its stop.
    started: HashMap<FaultKind, Vec<usize>>,
    records: Vec<FaultRecord>,
    open: Vec<Open>,
    /// Records opened or closed by the step being applied.
    touched: Vec<usize>,
    /// The nodes a composite package cut off (its later steps aim at them).
    marked: Vec<usize>,
    /// The composite package of the step being applied: its ops carry
    /// `package` in the history.
    package: Option<&'static str>,
}

impl Nemesis {
    /// A nemesis for `target`'s nodes. Without `net`, partition and packet
    /// steps do nothing; without `clocks`, clock steps do nothing. `handle`
    /// is the tokio runtime the clock strobes run on.
    pub fn new(
        target: Arc<dyn FaultTarget>,
        net: Option<Arc<dyn NetworkControl>>,
        clocks: Option<Arc<ClockControl>>,
        log: Arc<dyn FaultLog>,
        handle: tokio::runtime::Handle,
    ) -> Nemesis {
        let ids = target.node_ids();
        Nemesis {
            target,
            net,
            clocks,
            log,
            handle,
            ids,
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
            partitioned: false,
            packet: false,
            strobe: None,
            started: HashMap::new(),
            records: Vec::new(),
            open: Vec::new(),
            touched: Vec::new(),
            marked: Vec::new(),
            package: None,
        }
    }

    /// Every fault record so far, by `id` (in effect: `end` is `None`).
    pub fn records(&self) -> &[FaultRecord] {
        &self.records
    }

    /// Applies one planned step; returns the records it started or ended.
    /// Final-heal steps are left to [`Nemesis::final_heal`] (which ends
    /// everything in one go), so the caller may skip them.
    pub fn apply(&mut self, step: &PlannedFault) -> Vec<FaultRecord> {
        self.touched.clear();
        self.package = step.kind.is_composite().then(|| step.kind.name());
        self.apply_step(step);
        self.package = None;
        self.take_touched()
    }

    /// Ends every fault in effect (strobe, clocks, pauses, kills, packet
    /// rules, partition), then records the final `heal` (which heals the
    /// whole network again and marks where the final phase starts). Returns
    /// the records it ended.
    pub fn final_heal(&mut self) -> Vec<FaultRecord> {
        self.touched.clear();
        if self.clock_active() {
            self.reset_clocks();
        }
        self.heal_processes();
        if self.net.is_some() {
            self.heal_partition(true);
        } else {
            let mut extra = Map::new();
            extra.insert("final".into(), json!(true));
            self.op("heal", &json!({}), extra, || {
                Ok::<_, std::convert::Infallible>((json!({}), Map::new()))
            });
        }
        self.take_touched()
    }

    fn take_touched(&mut self) -> Vec<FaultRecord> {
        let mut seen = BTreeSet::new();
        let touched = std::mem::take(&mut self.touched);
        touched
            .into_iter()
            .filter(|r| seen.insert(*r))
            .map(|r| self.records[r].clone())
            .collect()
    }

    // ---------------------------------------------------------------
    // Records

    fn names(&self, nodes: &[usize]) -> Vec<NodeId> {
        nodes
            .iter()
            .filter_map(|&i| self.ids.get(i).cloned())
            .collect()
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|n| n == id)
    }

    /// `names` in node order (unknown names last).
    fn in_node_order(&self, names: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = names.into_iter().collect();
        v.sort_by_key(|n| (self.index_of(n).unwrap_or(usize::MAX), n.clone()));
        v.dedup();
        v
    }

    /// Starts a record. A partition, packet or clock fault replaces one of
    /// its kind still in effect (which ends where the new one starts).
    fn open_record(
        &mut self,
        kind: FaultKind,
        targets: Vec<NodeId>,
        details: FaultDetails,
        done: &Done,
        nodes: BTreeSet<usize>,
    ) -> usize {
        if !matches!(kind, FaultKind::Kill | FaultKind::Pause) {
            self.close_kind(kind, done.invoke, details.f());
        }
        let rec = self.records.len();
        let r = FaultRecord {
            id: rec as u64,
            kind,
            targets,
            start: done.invoke.time,
            end: None,
            details,
            start_index: Some(done.invoke.index),
            end_index: None,
            ended_by: None,
            error: done.error.clone(),
        };
        self.log.fault(&r);
        self.records.push(r);
        self.open.push(Open { rec, kind, nodes });
        self.touched.push(rec);
        rec
    }

    fn close_record(&mut self, rec: usize, at: Logged, by: Option<&str>) {
        self.open.retain(|o| o.rec != rec);
        let r = &mut self.records[rec];
        r.end = Some(at.time.max(r.start));
        r.end_index = Some(at.index);
        r.ended_by = by.map(str::to_string);
        self.log.fault(r);
        self.touched.push(rec);
    }

    /// Ends every record of `kind` in effect.
    fn close_kind(&mut self, kind: FaultKind, at: Logged, by: &str) {
        let recs: Vec<usize> = self
            .open
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.rec)
            .collect();
        for rec in recs {
            self.close_record(rec, at, Some(by));
        }
    }

    /// `nodes` are no longer under `kind`'s faults; records left with no
    /// node end.
    fn release(&mut self, kind: FaultKind, nodes: &BTreeSet<usize>, at: Logged, by: &str) {
        let mut ended = Vec::new();
        for o in self.open.iter_mut().filter(|o| o.kind == kind) {
            let before = o.nodes.len();
            o.nodes.retain(|n| !nodes.contains(n));
            if before > 0 && o.nodes.is_empty() {
                ended.push(o.rec);
            }
        }
        for rec in ended {
            self.close_record(rec, at, Some(by));
        }
    }

    // ---------------------------------------------------------------
    // History ops

    fn event(
        &self,
        kind: NemesisEventType,
        f: &str,
        value: &Value,
        error: Option<&Value>,
        extra: &Map<String, Value>,
    ) -> Logged {
        self.log.record(&NemesisEvent {
            kind,
            f,
            value,
            error,
            extra,
        })
    }

    /// Records `invoke`, runs `act`, records `info` with its value (or the
    /// error).
    fn op<E: std::error::Error>(
        &self,
        f: &str,
        value: &Value,
        mut extra: Map<String, Value>,
        act: impl FnOnce() -> Result<(Value, Map<String, Value>), E>,
    ) -> Done {
        if let Some(p) = self.package {
            extra.insert("package".into(), json!(p));
        }
        let invoke = self.event(NemesisEventType::Invoke, f, value, None, &extra);
        let (out, more, err) = match act() {
            Ok((v, m)) => (v, m, None),
            Err(e) => {
                let msg = chain(&e);
                tracing::error!("nemesis {f}: {msg}");
                (value.clone(), Map::new(), Some(msg))
            }
        };
        tracing::info!("nemesis {f} {out}");
        extra.extend(more);
        let err_value = err.as_ref().map(|e| json!(e));
        let info = self.event(NemesisEventType::Info, f, &out, err_value.as_ref(), &extra);
        Done {
            invoke,
            info,
            error: err,
        }
    }

    fn publish_processes(&self) {
        let killed: Vec<usize> = self.killed.iter().copied().collect();
        let paused: Vec<usize> = self.paused.iter().copied().collect();
        self.log.set_active("killed", self.names(&killed));
        self.log.set_active("paused", self.names(&paused));
    }

    /// One process-fault op: invoke, signal each node, complete with what
    /// happened. Returns where it landed and the nodes it worked on.
    fn process_op(&mut self, op: ProcOp, nodes: &[usize], extra: Value) -> (Done, BTreeSet<usize>) {
        let f = op.f();
        let names = self.names(nodes);
        let invoke = self.event(
            NemesisEventType::Invoke,
            f,
            &json!(names),
            None,
            &Map::new(),
        );
        let mut errors = Vec::new();
        let mut hit = BTreeSet::new();
        for (&i, name) in nodes.iter().zip(&names) {
            let r: Result<(), TargetError> = match op {
                ProcOp::Kill => self.target.kill(i).map(|_| {
                    self.paused.remove(&i);
                    self.killed.insert(i);
                }),
                ProcOp::Start => self.target.start(i).map(|_| {
                    self.killed.remove(&i);
                }),
                ProcOp::Pause => self.target.pause(i).map(|_| {
                    self.paused.insert(i);
                }),
                ProcOp::Resume => self.target.resume(i).map(|_| {
                    self.paused.remove(&i);
                }),
            };
            match r {
                Ok(()) => {
                    hit.insert(i);
                }
                Err(e) => {
                    tracing::error!(node = %name, "nemesis {f}: {e}");
                    errors.push(format!("{name}: {e}"));
                }
            }
        }
        tracing::info!(nodes = ?names, "nemesis {f} {extra}");
        let mut out = json!({ "nodes": names });
        if let (Value::Object(m), Value::Object(x)) = (&mut out, extra) {
            m.extend(x);
        }
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        let err_value = error.as_ref().map(|e| json!(e));
        let info = self.event(
            NemesisEventType::Info,
            f,
            &out,
            err_value.as_ref(),
            &Map::new(),
        );
        self.publish_processes();
        // What the op ended: a kill ends its nodes' pauses; a start ends
        // their kills, a resume their pauses.
        match op {
            ProcOp::Kill => self.release(FaultKind::Pause, &hit, info, "kill"),
            ProcOp::Start => self.release(FaultKind::Kill, &hit, info, "start"),
            ProcOp::Resume => self.release(FaultKind::Pause, &hit, info, "resume"),
            ProcOp::Pause => {}
        }
        (
            Done {
                invoke,
                info,
                error,
            },
            hit,
        )
    }

    /// Starts a kill or pause on `nodes`; `fallback` marks a `primaries`
    /// fault that found no leader and hit its planned node instead.
    fn start_process_fault(
        &mut self,
        kind: FaultKind,
        nodes: &[usize],
        targeting: Targeting,
        fallback: bool,
    ) {
        let op = match kind {
            FaultKind::Kill => ProcOp::Kill,
            FaultKind::Pause => ProcOp::Pause,
            _ => return,
        };
        if nodes.is_empty() {
            return;
        }
        let mut extra = json!({ "targeting": targeting.name() });
        if fallback {
            extra["fallback"] = json!(true);
        }
        let (done, hit) = self.process_op(op, nodes, extra);
        let details = match op {
            ProcOp::Kill => FaultDetails::Kill {
                targeting,
                fallback,
            },
            _ => FaultDetails::Pause {
                targeting,
                fallback,
            },
        };
        let targets = self.names(nodes);
        let empty = hit.is_empty();
        let rec = self.open_record(kind, targets, details, &done, hit);
        if empty {
            // It hit nothing: over as soon as it was done.
            self.close_record(rec, done.info, None);
        }
    }

    /// Ends a kill or pause on those of `nodes` where it is in effect.
    fn end_process_fault(&mut self, kind: FaultKind, nodes: &[usize]) {
        let (op, active) = match kind {
            FaultKind::Kill => (ProcOp::Start, &self.killed),
            FaultKind::Pause => (ProcOp::Resume, &self.paused),
            _ => return,
        };
        let nodes: Vec<usize> = nodes
            .iter()
            .copied()
            .filter(|n| active.contains(n))
            .collect();
        if nodes.is_empty() {
            return;
        }
        self.process_op(op, &nodes, json!({}));
    }

    /// Undoes every process fault in effect: resume the paused, start the
    /// killed.
    fn heal_processes(&mut self) {
        let paused: Vec<usize> = self.paused.iter().copied().collect();
        if !paused.is_empty() {
            self.process_op(ProcOp::Resume, &paused, json!({ "heal": true }));
        }
        let killed: Vec<usize> = self.killed.iter().copied().collect();
        if !killed.is_empty() {
            self.process_op(ProcOp::Start, &killed, json!({ "heal": true }));
        }
    }

    // ---------------------------------------------------------------
    // Leaders, network, clocks

    /// The nodes a `primaries` fault hits: the leaders now, else
    /// `fallback` (and `true`).
    fn primaries_or(&self, fallback: Vec<usize>) -> (Vec<usize>, bool) {
        let leaders: Vec<usize> = self
            .target
            .primaries()
            .unwrap_or_default()
            .into_iter()
            .filter(|&i| i < self.ids.len())
            .collect();
        if leaders.is_empty() {
            (fallback, true)
        } else {
            (leaders, false)
        }
    }

    fn publish_partition(&self, shape: Option<&str>) {
        self.log.set_active(
            "partition",
            shape.map(|s| vec![s.to_string()]).unwrap_or_default(),
        );
    }

    fn heal_partition(&mut self, final_heal: bool) {
        let Some(net) = self.net.clone() else { return };
        let mut extra = Map::new();
        if final_heal {
            extra.insert("final".into(), json!(true));
        }
        let done = self.op("heal", &json!({}), extra, || {
            if final_heal {
                net.heal()?;
            } else {
                net.apply_grudge(&Grudge::new())?;
            }
            Ok::<_, crate::NetError>((json!({}), Map::new()))
        });
        self.partitioned = false;
        self.close_kind(FaultKind::Partition, done.info, "heal");
        if final_heal {
            self.packet = false;
            self.log.set_active("packet", Vec::new());
            self.close_kind(FaultKind::Packet, done.info, "heal");
        }
        self.publish_partition(None);
    }

    fn stop_strobe(&mut self) {
        if let Some(h) = self.strobe.take() {
            h.abort();
            let _ = self.handle.block_on(h);
        }
    }

    /// A clock fault is in effect: a strobe, a moved clock, or a record
    /// not yet ended.
    fn clock_active(&self) -> bool {
        self.strobe.is_some()
            || self
                .clocks
                .as_ref()
                .is_some_and(|c| c.offsets().values().any(|&o| o != 0))
            || self.open.iter().any(|o| o.kind == FaultKind::Clock)
    }

    fn clock_offsets(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(c) = &self.clocks {
            m.insert("clock-offsets".into(), json!(c.offsets()));
        }
        m
    }

    fn reset_clocks(&mut self) {
        self.stop_strobe();
        let Some(clocks) = self.clocks.clone() else {
            return;
        };
        let before: BTreeMap<String, i64> = clocks.offsets();
        let done = self.op("reset-clock", &json!(before), Map::new(), || {
            clocks.reset_all()?;
            let after: BTreeMap<String, i64> = clocks.offsets();
            let mut m = Map::new();
            m.insert("clock-offsets".into(), json!(after));
            Ok::<_, crate::ClockError>((json!(after), m))
        });
        self.log.set_active("clock", Vec::new());
        self.close_kind(FaultKind::Clock, done.info, "reset-clock");
    }

    /// Cuts the network by `g` and opens its partition record.
    fn cut(
        &mut self,
        net: &Arc<dyn NetworkControl>,
        shape: crate::grudge::PartitionShape,
        g: Grudge,
        extra: Map<String, Value>,
        leader: Option<NodeId>,
        fell_back: bool,
    ) {
        let value = serde_json::to_value(&g).unwrap_or(Value::Null);
        let done = self.op("partition", &value, extra, || {
            net.apply_grudge(&g)?;
            Ok::<_, crate::NetError>((value.clone(), Map::new()))
        });
        self.partitioned = true;
        self.publish_partition(Some(&shape.to_string()));
        let targets = self.in_node_order(g.nodes());
        self.open_record(
            FaultKind::Partition,
            targets,
            FaultDetails::Partition {
                shape,
                grudge: g,
                leader,
                fallback: fell_back,
            },
            &done,
            BTreeSet::new(),
        );
    }

    fn apply_step(&mut self, step: &PlannedFault) {
        match &step.action {
            Action::Process { targeting, nodes } => {
                let (nodes, fallback) = if *targeting == Targeting::Primaries {
                    self.primaries_or(nodes.clone())
                } else {
                    (nodes.clone(), false)
                };
                self.start_process_fault(step.kind, &nodes, *targeting, fallback);
                self.started.insert(step.kind, nodes);
            }
            Action::Undo { nodes } => {
                // A stop undoes what its start did (a `primaries` start hit
                // whichever nodes led then); the final heal covers every node.
                let nodes = match (step.phase, self.started.remove(&step.kind)) {
                    (Phase::Stop, Some(started)) => started,
                    _ => nodes.clone(),
                };
                self.end_process_fault(step.kind, &nodes)
            }
            Action::Partition {
                shape,
                grudge,
                fallback,
            } => {
                let Some(net) = self.net.clone() else { return };
                let mut extra = Map::new();
                extra.insert("shape".into(), json!(shape.to_string()));
                let mut leader = None;
                let g = match grudge {
                    Some(g) => g.clone(),
                    None => match self
                        .target
                        .leader()
                        .and_then(|l| grudge::primary(&self.ids, &l).ok().map(|g| (l, g)))
                    {
                        Some((l, g)) => {
                            leader = Some(l);
                            g
                        }
                        None => {
                            extra.insert("leader".into(), json!(null));
                            fallback.clone()
                        }
                    },
                };
                let fell_back = grudge.is_none() && leader.is_none();
                self.cut(&net, *shape, g, extra, leader, fell_back);
            }
            Action::SkewAll { delta_ms } => {
                let deltas = self.ids.iter().map(|n| (n.clone(), *delta_ms)).collect();
                self.apply_step(&PlannedFault {
                    action: Action::Bump {
                        deltas,
                        primaries: false,
                    },
                    ..step.clone()
                });
            }
            Action::IsolatePrimaries {
                fallback,
                companions,
            } => {
                let Some(net) = self.net.clone() else { return };
                let (mut nodes, fell_back) = self.primaries_or(vec![*fallback]);
                let minority = ((self.ids.len() - 1) / 2).max(1);
                if nodes.len() > minority {
                    // More than a minority says it leads: cut off one.
                    nodes.truncate(1);
                }
                self.marked = nodes.clone();
                let mut side = nodes.clone();
                for &c in companions {
                    if side.len() >= minority {
                        break;
                    }
                    if c < self.ids.len() && !side.contains(&c) {
                        side.push(c);
                    }
                }
                side.sort_unstable();
                let inside = self.names(&side);
                let rest: Vec<NodeId> = self
                    .ids
                    .iter()
                    .filter(|n| !inside.contains(n))
                    .cloned()
                    .collect();
                let g = grudge::complete(&[inside.clone(), rest]).unwrap_or_default();
                let mut extra = Map::new();
                extra.insert(
                    "shape".into(),
                    json!(crate::grudge::PartitionShape::Primary.to_string()),
                );
                extra.insert("targeting".into(), json!("primaries"));
                if fell_back {
                    extra.insert("fallback".into(), json!(true));
                }
                let leader = (!fell_back).then(|| self.ids[nodes[0]].clone());
                self.cut(
                    &net,
                    crate::grudge::PartitionShape::Primary,
                    g,
                    extra,
                    leader,
                    fell_back,
                );
            }
            Action::BumpMarked { delta_ms } => {
                let deltas = self
                    .names(&self.marked.clone())
                    .into_iter()
                    .map(|n| (n, *delta_ms))
                    .collect();
                self.apply_step(&PlannedFault {
                    action: Action::Bump {
                        deltas,
                        primaries: false,
                    },
                    ..step.clone()
                });
            }
            Action::Heal => {
                if self.partitioned {
                    self.heal_partition(false)
                }
            }
            Action::Packet {
                mode,
                targeting,
                links,
            } => {
                let Some(net) = self.net.clone() else { return };
                let links: Vec<PacketLink> = links
                    .iter()
                    .map(|(a, b, r)| PacketLink {
                        from: a.clone(),
                        to: b.clone(),
                        rule: *r,
                    })
                    .collect();
                let value = serde_json::to_value(&links).unwrap_or(Value::Null);
                let extra = obj(json!({"mode": mode, "targeting": targeting}));
                let rules: Vec<(NodeId, NodeId, LinkRule)> = links
                    .iter()
                    .map(|l| (l.from.clone(), l.to.clone(), l.rule))
                    .collect();
                let done = self.op("packet", &value, extra, || {
                    net.set_links(&rules)?;
                    Ok::<_, crate::NetError>((value.clone(), Map::new()))
                });
                self.packet = true;
                self.log.set_active("packet", vec![mode.to_string()]);
                let targets =
                    self.in_node_order(links.iter().flat_map(|l| [l.from.clone(), l.to.clone()]));
                self.open_record(
                    FaultKind::Packet,
                    targets,
                    FaultDetails::Packet {
                        mode: mode.to_string(),
                        targeting: targeting.to_string(),
                        links,
                    },
                    &done,
                    BTreeSet::new(),
                );
            }
            Action::HealPacket => {
                if !self.packet {
                    return;
                }
                let Some(net) = self.net.clone() else { return };
                let links: Vec<(NodeId, NodeId, LinkRule)> = self
                    .ids
                    .iter()
                    .flat_map(|a| {
                        self.ids
                            .iter()
                            .filter(move |b| *b != a)
                            .map(move |b| (a.clone(), b.clone(), LinkRule::Pass))
                    })
                    .collect();
                let done = self.op("heal-packet", &json!([]), Map::new(), || {
                    net.set_links(&links)?;
                    Ok::<_, crate::NetError>((json!([]), Map::new()))
                });
                self.packet = false;
                self.log.set_active("packet", Vec::new());
                self.close_kind(FaultKind::Packet, done.info, "heal-packet");
            }
            Action::Bump { deltas, primaries } => {
                let Some(clocks) = self.clocks.clone() else {
                    return;
                };
                self.stop_strobe();
                let mut deltas = deltas.clone();
                let mut extra = Map::new();
                let mut fell_back = false;
                if *primaries {
                    extra.insert("targeting".into(), json!("primaries"));
                    let fallback = deltas.keys().filter_map(|n| self.index_of(n)).collect();
                    let d = deltas.values().next().copied().unwrap_or(0);
                    let (nodes, fb) = self.primaries_or(fallback);
                    if fb {
                        extra.insert("fallback".into(), json!(true));
                    }
                    fell_back = fb;
                    deltas = self.names(&nodes).into_iter().map(|n| (n, d)).collect();
                }
                let value = json!(deltas);
                let done = self.op("bump", &value, extra, || {
                    for (n, d) in &deltas {
                        clocks.bump(n, *d)?;
                    }
                    let mut m = Map::new();
                    m.insert("clock-offsets".into(), json!(clocks.offsets()));
                    Ok::<_, crate::ClockError>((value.clone(), m))
                });
                self.log
                    .set_active("clock", deltas.keys().cloned().collect());
                let targets = self.in_node_order(deltas.keys().cloned());
                self.open_record(
                    FaultKind::Clock,
                    targets,
                    FaultDetails::Bump {
                        deltas,
                        targeting: primaries.then_some(Targeting::Primaries),
                        fallback: fell_back,
                    },
                    &done,
                    BTreeSet::new(),
                );
            }
            Action::Strobe {
                node,
                primaries,
                delta_ms,
                period_ms,
                duration,
            } => {
                let Some(clocks) = self.clocks.clone() else {
                    return;
                };
                self.stop_strobe();
                let mut extra = Map::new();
                let mut fell_back = false;
                let node = if *primaries {
                    extra.insert("targeting".into(), json!("primaries"));
                    // A strobe flips one clock: the first node that leads.
                    let fallback = self.index_of(node).into_iter().collect();
                    let (nodes, fb) = self.primaries_or(fallback);
                    if fb {
                        extra.insert("fallback".into(), json!(true));
                    }
                    fell_back = fb;
                    self.names(&nodes)
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| node.clone())
                } else {
                    node.clone()
                };
                let duration_ms = duration.as_millis() as u64;
                let value = json!({ node.clone(): {
                    "delta_ms": delta_ms,
                    "period_ms": period_ms,
                    "duration_ms": duration_ms,
                }});
                let offsets = self.clock_offsets();
                let (n, delta, period, dur) = (node.clone(), *delta_ms, *period_ms, *duration);
                let handle = self.handle.clone();
                let mut task = None;
                let done = self.op("strobe", &value, extra, || {
                    task = Some(handle.spawn(async move {
                        if let Err(e) = clocks.strobe(&n, delta, period, dur).await {
                            tracing::error!("nemesis strobe {n}: {e}");
                        }
                    }));
                    Ok::<_, crate::ClockError>((value.clone(), offsets))
                });
                self.strobe = task;
                self.log.set_active("clock", vec!["strobe".to_string()]);
                self.open_record(
                    FaultKind::Clock,
                    vec![node],
                    FaultDetails::Strobe {
                        delta_ms: *delta_ms,
                        period_ms: *period_ms,
                        duration_ms,
                        targeting: primaries.then_some(Targeting::Primaries),
                        fallback: fell_back,
                    },
                    &done,
                    BTreeSet::new(),
                );
            }
            Action::ResetClock => {
                if self.clock_active() {
                    self.reset_clocks();
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "interpreter_tests.rs"]
mod tests;
