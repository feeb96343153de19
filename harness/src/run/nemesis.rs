//! The nemesis: interprets the fault plan against the cluster (process
//! faults), the proxy mesh (partitions, packet faults) and the clocks
//! (libfaketime), and records every fault's start and end as ops of process
//! `"nemesis"`:
//!
//! | f | value | extra fields |
//! |---|---|---|
//! | `kill`, `start`, `pause`, `resume` | `{"nodes": [...]}` | `targeting` |
//! | `partition` | the grudge, `{"n1":["n2","n3"],...}` (node → nodes whose traffic it drops) | `shape` |
//! | `heal` | `{}` (no grudge left) | `final: true` on the final heal |
//! | `packet` | `[{"from":"n1","to":"n2","rule":"delay","ms":50,"jitter_ms":10},...]` | `mode`, `targeting` |
//! | `heal-packet` | `[]` | |
//! | `bump` | the deltas in ms, `{"n2":-120000}` | `clock-offsets` |
//! | `strobe` | `{"n2":{"delta_ms":..,"period_ms":..,"duration_ms":..}}` | `clock-offsets` |
//! | `reset-clock` | every node's offset after it (all 0) | `clock-offsets` |
//!
//! `clock-offsets` (on the `info` completion of every clock op) is every
//! node's wall-clock offset in ms after the op, for plots. The final heal
//! ends every fault in effect and then always records `heal` with
//! `final: true`, which is where the consistency checks' final phase begins.

use super::generator::{Action, FaultKind, PlannedFault, Targeting};
use super::store::{Recorder, Who};
use super::supervisor::{FaultTarget, NodeInfo};
use ::nemesis::schedule::Phase;
use ::nemesis::{ClockControl, Grudge, NetworkControl};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

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

    /// Starts a kill or pause on `nodes`; `fallback` marks a `primaries`
    /// fault that found no leader and hit its planned node instead.
    pub fn start_fault(
        &mut self,
        kind: FaultKind,
        nodes: &[usize],
        targeting: &str,
        fallback: bool,
    ) {
        if nodes.is_empty() {
            return;
        }
        let mut extra = json!({ "targeting": targeting });
        if fallback {
            extra["fallback"] = json!(true);
        }
        self.act(kind.name(), nodes, extra);
    }

    /// Ends a kill or pause on those of `nodes` where it is in effect.
    pub fn end_fault(&mut self, kind: FaultKind, nodes: &[usize]) {
        let active = match kind {
            FaultKind::Kill => &self.killed,
            FaultKind::Pause => &self.paused,
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
        self.act(kind.undo_name(), &nodes, json!({}));
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

/// Every fault mechanism of a run. Its methods block (signals, reaping,
/// leader look-ups): call them from a blocking task.
pub struct Nemesis {
    pub procs: ProcessFaults,
    net: Option<Arc<dyn NetworkControl>>,
    clocks: Option<Arc<ClockControl>>,
    recorder: Arc<Recorder>,
    infos: Vec<NodeInfo>,
    handle: tokio::runtime::Handle,
    partitioned: bool,
    packet: bool,
    strobe: Option<tokio::task::JoinHandle<()>>,
    /// The nodes each kill/pause start hit, for its stop.
    started: HashMap<FaultKind, Vec<usize>>,
}

/// A node's `GET /status` document; `None` when it does not answer 200
/// with JSON within `timeout`.
pub async fn node_status(
    http: &systems::runtime::http::HttpClient,
    addr: &str,
    timeout: Duration,
) -> Option<Value> {
    node_json(http, addr, "/status", timeout).await
}

/// `GET path` on a node; `None` unless it answers 200 with JSON within
/// `timeout`.
pub async fn node_json(
    http: &systems::runtime::http::HttpClient,
    addr: &str,
    path: &str,
    timeout: Duration,
) -> Option<Value> {
    match http.request(addr, "GET", path, &[], b"", timeout).await {
        Ok((200, body)) => serde_json::from_slice(&body).ok(),
        _ => None,
    }
}

/// Whether a `/status` document says its node leads.
fn is_leader_status(v: &Value) -> bool {
    matches!(v["role"].as_str(), Some("leader" | "primary"))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Nemesis {
    pub fn new(
        procs: ProcessFaults,
        net: Option<Arc<dyn NetworkControl>>,
        clocks: Option<Arc<ClockControl>>,
        recorder: Arc<Recorder>,
        infos: Vec<NodeInfo>,
        handle: tokio::runtime::Handle,
    ) -> Nemesis {
        Nemesis {
            procs,
            net,
            clocks,
            recorder,
            infos,
            handle,
            partitioned: false,
            packet: false,
            strobe: None,
            started: HashMap::new(),
        }
    }

    /// Records `invoke`, runs `act`, records `info` with its value (or the
    /// error).
    fn op(
        &self,
        f: &str,
        value: &Value,
        extra: Map<String, Value>,
        act: impl FnOnce() -> anyhow::Result<(Value, Map<String, Value>)>,
    ) {
        self.recorder.record_extra(
            Who::Named("nemesis"),
            "invoke",
            f,
            None,
            value,
            None,
            None,
            Some(&extra),
        );
        let (out, more, err) = match act() {
            Ok((v, m)) => (v, m, None),
            Err(e) => {
                tracing::error!("nemesis {f}: {e:#}");
                (value.clone(), Map::new(), Some(json!(format!("{e:#}"))))
            }
        };
        tracing::info!("nemesis {f} {out}");
        let mut extra = extra;
        extra.extend(more);
        self.recorder.record_extra(
            Who::Named("nemesis"),
            "info",
            f,
            None,
            &out,
            None,
            err.as_ref(),
            Some(&extra),
        );
    }

    fn offsets(&self) -> Map<String, Value> {
        match &self.clocks {
            Some(c) => {
                let o: BTreeMap<String, i64> = c.offsets();
                let mut m = Map::new();
                m.insert("clock-offsets".into(), json!(o));
                m
            }
            None => Map::new(),
        }
    }

    /// Every node's `/status` document, asked concurrently (300 ms each;
    /// a paused or dead node is simply missing).
    fn statuses(&self) -> Vec<(usize, Value)> {
        let infos = self.infos.clone();
        self.handle.block_on(async move {
            let http = Arc::new(systems::runtime::http::HttpClient::new());
            let mut set = tokio::task::JoinSet::new();
            for (i, n) in infos.into_iter().enumerate() {
                let http = http.clone();
                set.spawn(async move {
                    node_status(&http, &n.addr, Duration::from_millis(300))
                        .await
                        .map(|v| (i, v))
                });
            }
            let mut out: Vec<(usize, Value)> = set.join_all().await.into_iter().flatten().collect();
            out.sort_by_key(|(i, _)| *i);
            out
        })
    }

    /// Which node leads now, by the nodes' own `/status` (the leader most
    /// of them name, else one that says it leads).
    pub fn find_leader(&self) -> Option<String> {
        let mut named: BTreeMap<String, usize> = BTreeMap::new();
        let mut claims = Vec::new();
        for (i, v) in self.statuses() {
            if let Some(l) = v["leader"].as_str() {
                *named.entry(l.to_string()).or_default() += 1;
            }
            if is_leader_status(&v) {
                claims.push(self.infos[i].id.clone());
            }
        }
        named
            .into_iter()
            .max_by_key(|(_, c)| *c)
            .map(|(l, _)| l)
            .or_else(|| claims.into_iter().next())
    }

    /// Every node that says it leads (after a partition, an old leader
    /// that has not heard of its successor still does), by index; `None`
    /// when none does.
    fn primaries(&self) -> Option<Vec<usize>> {
        let p: Vec<usize> = self
            .statuses()
            .into_iter()
            .filter(|(_, v)| is_leader_status(v))
            .map(|(i, _)| i)
            .collect();
        (!p.is_empty()).then_some(p)
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.infos.iter().position(|n| n.id == id)
    }

    /// The nodes a `primaries` fault hits: the leaders now, else
    /// `fallback` (and `true`).
    fn primaries_or(&self, fallback: Vec<usize>) -> (Vec<usize>, bool) {
        match self.primaries() {
            Some(p) => (p, false),
            None => (fallback, true),
        }
    }

    fn publish_partition(&self, shape: Option<&str>) {
        self.recorder.set_active_faults(
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
        self.op("heal", &json!({}), extra, || {
            if final_heal {
                net.heal()?;
            } else {
                net.apply_grudge(&Grudge::new())?;
            }
            Ok((json!({}), Map::new()))
        });
        self.partitioned = false;
        if final_heal {
            self.packet = false;
            self.recorder.set_active_faults("packet", Vec::new());
        }
        self.publish_partition(None);
    }

    fn stop_strobe(&mut self) {
        if let Some(h) = self.strobe.take() {
            h.abort();
            let _ = self.handle.block_on(h);
        }
    }

    fn reset_clocks(&mut self) {
        self.stop_strobe();
        let Some(clocks) = self.clocks.clone() else {
            return;
        };
        let before: BTreeMap<String, i64> = clocks.offsets();
        self.op("reset-clock", &json!(before), Map::new(), || {
            clocks.reset_all()?;
            let after: BTreeMap<String, i64> = clocks.offsets();
            let mut m = Map::new();
            m.insert("clock-offsets".into(), json!(after));
            Ok((json!(after), m))
        });
        self.recorder.set_active_faults("clock", Vec::new());
    }

    /// Applies one planned step (final-heal steps are left to
    /// [`Nemesis::final_heal`]).
    pub fn apply(&mut self, ev: &PlannedFault) {
        match &ev.action {
            Action::Process { targeting, nodes } => {
                let (nodes, fallback) = if *targeting == Targeting::Primaries {
                    self.primaries_or(nodes.clone())
                } else {
                    (nodes.clone(), false)
                };
                self.procs
                    .start_fault(ev.kind, &nodes, targeting.name(), fallback);
                self.started.insert(ev.kind, nodes);
            }
            Action::Undo { nodes } => {
                // A stop undoes what its start did (a `primaries` start hit
                // whichever nodes led then); the final heal covers every node.
                let nodes = match (ev.phase, self.started.remove(&ev.kind)) {
                    (Phase::Stop, Some(started)) => started,
                    _ => nodes.clone(),
                };
                self.procs.end_fault(ev.kind, &nodes)
            }
            Action::Partition {
                shape,
                grudge,
                fallback,
            } => {
                let Some(net) = self.net.clone() else { return };
                let mut extra = Map::new();
                extra.insert("shape".into(), json!(shape.to_string()));
                let g = match grudge {
                    Some(g) => g.clone(),
                    None => {
                        let ids: Vec<String> = self.infos.iter().map(|n| n.id.clone()).collect();
                        match self
                            .find_leader()
                            .and_then(|l| ::nemesis::grudge::primary(&ids, &l).ok())
                        {
                            Some(g) => g,
                            None => {
                                extra.insert("leader".into(), json!(null));
                                fallback.clone()
                            }
                        }
                    }
                };
                let value = serde_json::to_value(&g).unwrap_or(Value::Null);
                self.op("partition", &value, extra, || {
                    net.apply_grudge(&g)?;
                    Ok((value.clone(), Map::new()))
                });
                self.partitioned = true;
                self.publish_partition(Some(&shape.to_string()));
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
                let value: Vec<Value> = links
                    .iter()
                    .map(|(a, b, r)| {
                        let mut m = obj(json!({"from": a, "to": b}));
                        m.extend(obj(serde_json::to_value(r).unwrap_or(Value::Null)));
                        Value::Object(m)
                    })
                    .collect();
                let value = Value::Array(value);
                let extra = obj(json!({"mode": mode, "targeting": targeting}));
                self.op("packet", &value, extra, || {
                    net.set_links(links)?;
                    Ok((value.clone(), Map::new()))
                });
                self.packet = true;
                self.recorder
                    .set_active_faults("packet", vec![mode.to_string()]);
            }
            Action::HealPacket => {
                if !self.packet {
                    return;
                }
                let Some(net) = self.net.clone() else { return };
                let links: Vec<(String, String, ::nemesis::LinkRule)> = self
                    .infos
                    .iter()
                    .flat_map(|a| {
                        self.infos
                            .iter()
                            .filter(move |b| b.id != a.id)
                            .map(move |b| (a.id.clone(), b.id.clone(), ::nemesis::LinkRule::Pass))
                    })
                    .collect();
                self.op("heal-packet", &json!([]), Map::new(), || {
                    net.set_links(&links)?;
                    Ok((json!([]), Map::new()))
                });
                self.packet = false;
                self.recorder.set_active_faults("packet", Vec::new());
            }
            Action::Bump { deltas, primaries } => {
                let Some(clocks) = self.clocks.clone() else {
                    return;
                };
                self.stop_strobe();
                let mut deltas = deltas.clone();
                let mut extra = Map::new();
                if *primaries {
                    extra.insert("targeting".into(), json!("primaries"));
                    let fallback = deltas.keys().filter_map(|n| self.index_of(n)).collect();
                    let d = deltas.values().next().copied().unwrap_or(0);
                    let (nodes, fell_back) = self.primaries_or(fallback);
                    if fell_back {
                        extra.insert("fallback".into(), json!(true));
                    }
                    deltas = nodes
                        .into_iter()
                        .map(|i| (self.infos[i].id.clone(), d))
                        .collect();
                }
                let value = json!(deltas);
                self.op("bump", &value, extra, || {
                    for (n, d) in &deltas {
                        clocks.bump(n, *d)?;
                    }
                    let mut m = Map::new();
                    m.insert("clock-offsets".into(), json!(clocks.offsets()));
                    Ok((value.clone(), m))
                });
                self.recorder
                    .set_active_faults("clock", deltas.keys().cloned().collect());
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
                let node = if *primaries {
                    extra.insert("targeting".into(), json!("primaries"));
                    // A strobe flips one clock: the first node that leads.
                    let fallback = self.index_of(node).into_iter().collect();
                    let (nodes, fell_back) = self.primaries_or(fallback);
                    if fell_back {
                        extra.insert("fallback".into(), json!(true));
                    }
                    self.infos[nodes[0]].id.clone()
                } else {
                    node.clone()
                };
                let value = json!({ node.clone(): {
                    "delta_ms": delta_ms,
                    "period_ms": period_ms,
                    "duration_ms": duration.as_millis() as u64,
                }});
                let offsets = self.offsets();
                let (node, delta, period, dur) = (node.clone(), *delta_ms, *period_ms, *duration);
                let handle = self.handle.clone();
                let mut task = None;
                self.op("strobe", &value, extra, || {
                    task = Some(handle.spawn(async move {
                        if let Err(e) = clocks.strobe(&node, delta, period, dur).await {
                            tracing::error!("nemesis strobe {node}: {e}");
                        }
                    }));
                    Ok((value.clone(), offsets))
                });
                self.strobe = task;
                self.recorder
                    .set_active_faults("clock", vec!["strobe".to_string()]);
            }
            Action::ResetClock => {
                let active = self.strobe.is_some()
                    || self
                        .clocks
                        .as_ref()
                        .is_some_and(|c| c.offsets().values().any(|&o| o != 0));
                if active {
                    self.reset_clocks();
                }
            }
        }
    }

    /// Ends every fault in effect (strobe, clocks, packet rules, partition,
    /// pauses, kills), then records the final `heal` (which heals the whole
    /// network again and marks where the final phase starts).
    pub fn final_heal(&mut self) {
        let clock_active = self.strobe.is_some()
            || self
                .clocks
                .as_ref()
                .is_some_and(|c| c.offsets().values().any(|&o| o != 0));
        if clock_active {
            self.reset_clocks();
        }
        self.procs.heal();
        if self.net.is_some() {
            self.heal_partition(true);
        } else {
            let mut extra = Map::new();
            extra.insert("final".into(), json!(true));
            self.op("heal", &json!({}), extra, || Ok((json!({}), Map::new())));
        }
    }
}
