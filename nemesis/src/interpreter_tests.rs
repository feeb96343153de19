//! Tests of the interpreter against an in-memory fault target, network
//! and log (a unit test of the layer above the real mechanisms).
//! The interpreter against an in-memory cluster, network and log.

use super::*;
use crate::plan::fault_plan;
use crate::PartitionShape;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Nodes {
    up: Vec<bool>,
    paused: Vec<bool>,
    /// Indexes that say they lead.
    leaders: Vec<usize>,
    /// Kills of these indexes fail.
    unkillable: BTreeSet<usize>,
}

struct FakeTarget {
    ids: Vec<NodeId>,
    nodes: Mutex<Nodes>,
}

impl FakeTarget {
    fn new(n: usize) -> Arc<FakeTarget> {
        Arc::new(FakeTarget {
            ids: (1..=n).map(|i| format!("n{i}")).collect(),
            nodes: Mutex::new(Nodes {
                up: vec![true; n],
                paused: vec![false; n],
                ..Nodes::default()
            }),
        })
    }
    fn set_leaders(&self, leaders: &[usize]) {
        self.nodes.lock().unwrap().leaders = leaders.to_vec();
    }
    /// (down, paused) node indexes.
    fn faulty(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.nodes.lock().unwrap();
        let idx = |v: &[bool], want: bool| {
            v.iter()
                .enumerate()
                .filter(|(_, &b)| b == want)
                .map(|(i, _)| i)
                .collect()
        };
        (idx(&n.up, false), idx(&n.paused, true))
    }
}

impl FaultTarget for FakeTarget {
    fn node_ids(&self) -> Vec<NodeId> {
        self.ids.clone()
    }
    fn kill(&self, node: usize) -> Result<(), TargetError> {
        let mut n = self.nodes.lock().unwrap();
        if n.unkillable.contains(&node) {
            return Err(TargetError::new("SIGKILL: operation not permitted"));
        }
        n.up[node] = false;
        n.paused[node] = false;
        Ok(())
    }
    fn start(&self, node: usize) -> Result<(), TargetError> {
        let mut n = self.nodes.lock().unwrap();
        n.up[node] = true;
        n.paused[node] = false;
        Ok(())
    }
    fn pause(&self, node: usize) -> Result<(), TargetError> {
        let mut n = self.nodes.lock().unwrap();
        if n.up[node] {
            n.paused[node] = true;
        }
        Ok(())
    }
    fn resume(&self, node: usize) -> Result<(), TargetError> {
        self.nodes.lock().unwrap().paused[node] = false;
        Ok(())
    }
    fn primaries(&self) -> Option<Vec<usize>> {
        let n = self.nodes.lock().unwrap();
        let l: Vec<usize> = n
            .leaders
            .iter()
            .copied()
            .filter(|&i| n.up[i] && !n.paused[i])
            .collect();
        (!l.is_empty()).then_some(l)
    }
    fn leader(&self) -> Option<NodeId> {
        self.primaries().map(|l| self.ids[l[0]].clone())
    }
}

/// The history as JSON lines (as the harness's recorder writes them),
/// the progress map and every record line.
#[derive(Default)]
struct FakeLog {
    events: Mutex<Vec<Value>>,
    active: Mutex<BTreeMap<String, Vec<String>>>,
    lines: Mutex<Vec<FaultRecord>>,
}

impl FaultLog for FakeLog {
    fn record(&self, ev: &NemesisEvent<'_>) -> Logged {
        let mut events = self.events.lock().unwrap();
        let index = events.len() as u64;
        let time = 1_000 + index * 10;
        let mut line = json!({
            "index": index, "time": time, "process": "nemesis",
            "type": ev.kind.as_str(), "f": ev.f, "value": ev.value,
        });
        if let Some(e) = ev.error {
            line["error"] = e.clone();
        }
        for (k, v) in ev.extra {
            line[k] = v.clone();
        }
        events.push(line);
        Logged { index, time }
    }
    fn set_active(&self, name: &str, items: Vec<String>) {
        let mut a = self.active.lock().unwrap();
        if items.is_empty() {
            a.remove(name);
        } else {
            a.insert(name.to_string(), items);
        }
    }
    fn fault(&self, record: &FaultRecord) {
        self.lines.lock().unwrap().push(record.clone());
    }
}

impl FakeLog {
    fn event(&self, index: Option<u64>) -> Value {
        let i = index.expect("an index") as usize;
        self.events.lock().unwrap()[i].clone()
    }
    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }
}

#[derive(Default)]
struct FakeNet {
    grudge: Mutex<Grudge>,
    links: Mutex<BTreeMap<(NodeId, NodeId), LinkRule>>,
}

impl NetworkControl for FakeNet {
    fn apply_grudge(&self, g: &Grudge) -> Result<(), crate::NetError> {
        *self.grudge.lock().unwrap() = g.clone();
        Ok(())
    }
    fn set_link(&self, from: &str, to: &str, rule: LinkRule) -> Result<(), crate::NetError> {
        self.links
            .lock()
            .unwrap()
            .insert((from.into(), to.into()), rule);
        Ok(())
    }
    fn set_links(&self, rules: &[(NodeId, NodeId, LinkRule)]) -> Result<(), crate::NetError> {
        for (a, b, r) in rules {
            self.set_link(a, b, *r)?;
        }
        Ok(())
    }
    fn heal(&self) -> Result<(), crate::NetError> {
        *self.grudge.lock().unwrap() = Grudge::new();
        self.links.lock().unwrap().clear();
        Ok(())
    }
    fn effective_rules(&self) -> Vec<(NodeId, NodeId, LinkRule)> {
        self.links
            .lock()
            .unwrap()
            .iter()
            .map(|((a, b), r)| (a.clone(), b.clone(), *r))
            .collect()
    }
}

impl FakeNet {
    fn degraded(&self) -> Vec<PacketLink> {
        self.effective_rules()
            .into_iter()
            .filter(|(_, _, r)| *r != LinkRule::Pass)
            .map(|(from, to, rule)| PacketLink { from, to, rule })
            .collect()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn plan(kinds: &[FaultKind], targets: &[Targeting]) -> Vec<PlannedFault> {
    let ids: Vec<NodeId> = (1..=5).map(|i| format!("n{i}")).collect();
    fault_plan(
        11,
        &ids,
        kinds,
        &PartitionShape::ALL,
        targets,
        Duration::from_secs(4),
        Duration::from_secs(120),
    )
}

/// Every record's times are those of its ops in the history, and every
/// record was reported open (unless it ended at once) and then ended.
fn check_records_against_history(n: &Nemesis, log: &FakeLog) {
    let lines = log.lines.lock().unwrap().clone();
    for r in n.records() {
        let start = log.event(r.start_index);
        assert_eq!(start["type"], "invoke", "{r:?}");
        assert_eq!(start["f"], r.f(), "{r:?}");
        assert_eq!(start["time"], r.start, "{r:?}");
        let end = log.event(r.end_index);
        if end["type"] == "invoke" {
            // Replaced by a fault of its kind: it ends where that one starts.
            assert!(
                n.records()
                    .iter()
                    .any(|o| o.kind == r.kind && o.start_index == r.end_index),
                "{r:?}"
            );
        } else {
            assert_eq!(end["type"], "info", "{r:?}");
        }
        assert_eq!(Some(end["time"].as_u64().unwrap()), r.end, "{r:?}");
        assert!(r.end.unwrap() > r.start);
        if let Some(by) = &r.ended_by {
            assert_eq!(end["f"], by.as_str(), "{r:?}");
        }
        let mine: Vec<&FaultRecord> = lines.iter().filter(|l| l.id == r.id).collect();
        assert_eq!(mine.last().copied(), Some(r), "the last line is the record");
        assert!(mine[0].end.is_none() || mine.len() == 1);
    }
}

#[test]
fn a_process_fault_plan_yields_one_record_per_fault_with_history_times() {
    let rt = runtime();
    let target = FakeTarget::new(5);
    target.set_leaders(&[2]);
    let log = Arc::new(FakeLog::default());
    let mut n = Nemesis::new(target.clone(), None, None, log.clone(), rt.handle().clone());
    let steps = plan(&[FaultKind::Kill, FaultKind::Pause], &[]);
    let mut starts = Vec::new();
    let mut led = 0;
    for step in steps.iter().filter(|s| s.phase != Phase::FinalHeal) {
        // n3 leads while it is up and running.
        let leads = {
            let (down, paused) = target.faulty();
            !down.contains(&2) && !paused.contains(&2)
        };
        let out = n.apply(step);
        if let Action::Process { targeting, nodes } = &step.action {
            let (down, paused) = target.faulty();
            let rec = out.last().expect("a record");
            assert_eq!(rec.end, None, "{step:?} {rec:?}");
            assert_eq!(rec.kind, step.kind);
            let primaries = *targeting == Targeting::Primaries;
            let (want, fallback) = if primaries && leads {
                (vec!["n3".to_string()], false)
            } else {
                (n.names(nodes), primaries)
            };
            assert_eq!(rec.targets, want, "{step:?}");
            let details = match step.kind {
                FaultKind::Kill => FaultDetails::Kill {
                    targeting: *targeting,
                    fallback,
                },
                _ => FaultDetails::Pause {
                    targeting: *targeting,
                    fallback,
                },
            };
            assert_eq!(rec.details, details);
            // The nodes are really faulty now.
            for t in &rec.targets {
                let i = n.index_of(t).unwrap();
                match step.kind {
                    FaultKind::Kill => assert!(down.contains(&i), "{t} up after {rec:?}"),
                    _ => assert!(
                        paused.contains(&i) || down.contains(&i),
                        "{t} running after {rec:?}"
                    ),
                }
            }
            starts.push((step.kind, *targeting));
            led += usize::from(primaries && leads);
        }
    }
    assert!(led > 0, "no primaries fault found its leader");
    let healed = n.final_heal();
    assert_eq!(
        target.faulty(),
        (vec![], vec![]),
        "all up after the final heal"
    );
    assert!(healed.iter().all(|r| r.end.is_some()));
    let events = log.events();
    let last = events.last().unwrap();
    assert_eq!((&last["f"], &last["final"]), (&json!("heal"), &json!(true)));

    // One record per start, in order, every targeting among them.
    let recs = n.records();
    assert_eq!(recs.len(), starts.len());
    assert!(starts.len() > 20);
    for (r, (kind, targeting)) in recs.iter().zip(&starts) {
        assert_eq!(r.kind, *kind);
        let t = match &r.details {
            FaultDetails::Kill { targeting, .. } | FaultDetails::Pause { targeting, .. } => {
                *targeting
            }
            d => panic!("{d:?}"),
        };
        assert_eq!(t, *targeting);
        assert!(r.error.is_none());
        assert!(matches!(
            r.ended_by.as_deref(),
            Some("start" | "resume" | "kill")
        ));
    }
    for t in Targeting::ALL {
        assert!(starts.iter().any(|(_, x)| *x == t), "no {t:?}");
    }
    check_records_against_history(&n, &log);
    // The history ops are as documented.
    let kill = recs.iter().find(|r| r.kind == FaultKind::Kill).unwrap();
    let inv = log.event(kill.start_index);
    assert_eq!(inv["value"], json!(kill.targets));
    let info = &events[kill.start_index.unwrap() as usize + 1];
    assert_eq!(info["value"]["nodes"], json!(kill.targets));
    assert!(info["value"]["targeting"].is_string());
    assert!(
        log.active.lock().unwrap().is_empty(),
        "nothing active at the end"
    );
}

fn step(kind: FaultKind, phase: Phase, action: Action) -> PlannedFault {
    PlannedFault {
        at: Duration::ZERO,
        kind,
        phase,
        action,
    }
}

#[test]
fn overlapping_kills_pauses_and_failures_end_where_they_should() {
    let rt = runtime();
    let target = FakeTarget::new(3);
    target.nodes.lock().unwrap().unkillable.insert(2);
    let log = Arc::new(FakeLog::default());
    let mut n = Nemesis::new(target.clone(), None, None, log.clone(), rt.handle().clone());
    let pause = |nodes: Vec<usize>| {
        step(
            FaultKind::Pause,
            Phase::Start,
            Action::Process {
                targeting: Targeting::Majority,
                nodes,
            },
        )
    };
    let kill = |nodes: Vec<usize>| {
        step(
            FaultKind::Kill,
            Phase::Start,
            Action::Process {
                targeting: Targeting::Minority,
                nodes,
            },
        )
    };
    // Pause n1, n2; kill n1 (ends n1's pause, not n2's).
    let p = n.apply(&pause(vec![0, 1]));
    assert_eq!(p[0].targets, ["n1", "n2"]);
    let k = n.apply(&kill(vec![0]));
    assert_eq!(k.len(), 1, "{k:?}");
    assert_eq!(n.records()[0].end, None, "n2 is still paused");
    // A kill that fails on one node: the error is in the record, which
    // stays open for the node it hit.
    let undo = |kind| step(kind, Phase::Stop, Action::Undo { nodes: vec![] });
    n.apply(&undo(FaultKind::Kill));
    assert!(n.records()[1].end.is_some());
    assert_eq!(n.records()[1].ended_by.as_deref(), Some("start"));
    let k2 = n.apply(&kill(vec![1, 2]));
    assert_eq!(k2.len(), 2, "the pause of n2 ends with its kill: {k2:?}");
    let pause_rec = &n.records()[0];
    assert_eq!(pause_rec.ended_by.as_deref(), Some("kill"));
    assert_eq!(pause_rec.end_index, k2[1].start_index.map(|i| i + 1));
    let r = &n.records()[2];
    assert_eq!(r.targets, ["n2", "n3"]);
    assert_eq!(
        r.error.as_deref(),
        Some("n3: SIGKILL: operation not permitted")
    );
    assert_eq!(r.end, None);
    assert_eq!(target.faulty().0, vec![1]);
    // A kill that hits nothing is over at its own completion.
    let k3 = n.apply(&kill(vec![2]));
    assert_eq!(k3.len(), 1);
    assert_eq!(k3[0].end_index, k3[0].start_index.map(|i| i + 1));
    assert_eq!(k3[0].ended_by, None);
    // Primaries with no leader: the planned node, marked as a fallback.
    n.apply(&undo(FaultKind::Kill));
    let pp = n.apply(&step(
        FaultKind::Pause,
        Phase::Start,
        Action::Process {
            targeting: Targeting::Primaries,
            nodes: vec![1],
        },
    ));
    assert_eq!(pp[0].targets, ["n2"]);
    assert_eq!(
        pp[0].details,
        FaultDetails::Pause {
            targeting: Targeting::Primaries,
            fallback: true
        }
    );
    let info = log.event(pp[0].start_index.map(|i| i + 1));
    assert_eq!(info["value"]["fallback"], true);
    n.final_heal();
    assert_eq!(target.faulty(), (vec![], vec![]));
    assert!(n.records().iter().all(|r| r.end.is_some()));
    check_records_against_history(&n, &log);
}

#[test]
fn partitions_and_packet_faults_are_recorded_as_applied() {
    let rt = runtime();
    let target = FakeTarget::new(5);
    target.set_leaders(&[1]);
    let log = Arc::new(FakeLog::default());
    let net = Arc::new(FakeNet::default());
    let mut n = Nemesis::new(
        target.clone(),
        Some(net.clone() as Arc<dyn NetworkControl>),
        None,
        log.clone(),
        rt.handle().clone(),
    );
    let steps = plan(&[FaultKind::Partition, FaultKind::Packet], &[]);
    let mut shapes = BTreeSet::new();
    for (i, s) in steps
        .iter()
        .filter(|s| s.phase != Phase::FinalHeal)
        .enumerate()
    {
        if i == 7 {
            target.set_leaders(&[]); // a primary partition now falls back
        }
        let out = n.apply(s);
        match &s.action {
            Action::Partition { shape, grudge, .. } => {
                let r = out.last().unwrap();
                let applied = net.grudge.lock().unwrap().clone();
                let FaultDetails::Partition {
                    shape: rs,
                    grudge: rg,
                    leader,
                    fallback,
                } = &r.details
                else {
                    panic!("{r:?}")
                };
                assert_eq!((rs, rg), (shape, &applied));
                assert_eq!(r.targets, n.in_node_order(applied.nodes()));
                match grudge {
                    Some(g) => assert_eq!(g, &applied),
                    None if *fallback => assert_eq!(leader, &None),
                    None => {
                        assert_eq!(leader.as_deref(), Some("n2"));
                        assert_eq!(applied, grudge::primary(&n.ids, "n2").unwrap());
                    }
                }
                let info = log.event(r.start_index.map(|i| i + 1));
                assert_eq!(info["shape"], shape.to_string());
                assert_eq!(info["value"], serde_json::to_value(&applied).unwrap());
                shapes.insert((*shape, *fallback));
            }
            Action::Packet { mode, links, .. } => {
                let r = out.last().unwrap();
                let FaultDetails::Packet {
                    mode: m, links: l, ..
                } = &r.details
                else {
                    panic!("{r:?}")
                };
                assert_eq!(m, mode);
                assert_eq!(l.len(), links.len());
                let mut want = l.clone();
                want.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
                assert_eq!(net.degraded(), want);
            }
            Action::Heal => {
                assert!(net.grudge.lock().unwrap().is_empty());
                if let Some(r) = out.first() {
                    assert_eq!(r.ended_by.as_deref(), Some("heal"));
                }
            }
            Action::HealPacket => {
                assert!(net.degraded().is_empty());
                assert_eq!(out.len(), 1);
                assert_eq!(out[0].ended_by.as_deref(), Some("heal-packet"));
            }
            a => panic!("{a:?}"),
        }
    }
    assert!(
        shapes.contains(&(PartitionShape::Primary, false)),
        "{shapes:?}"
    );
    assert!(
        shapes.contains(&(PartitionShape::Primary, true)),
        "{shapes:?}"
    );
    n.final_heal();
    assert!(net.grudge.lock().unwrap().is_empty() && net.degraded().is_empty());
    assert!(n.records().iter().all(|r| r.end.is_some()));
    assert!(n.records().iter().any(|r| r.kind == FaultKind::Packet));
    check_records_against_history(&n, &log);
}

#[test]
fn clock_faults_are_recorded_with_their_deltas_and_reset() {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("nemesis-interp-{}", std::process::id()));
    let target = FakeTarget::new(5);
    target.set_leaders(&[4]);
    let clocks = Arc::new(
        ClockControl::with_library(&dir, target.node_ids(), "/nonexistent/libfaketime.so.1")
            .unwrap(),
    );
    let log = Arc::new(FakeLog::default());
    let mut n = Nemesis::new(
        target.clone(),
        None,
        Some(clocks.clone()),
        log.clone(),
        rt.handle().clone(),
    );
    let steps = plan(&[FaultKind::Clock], &[]);
    let (mut bumps, mut strobes) = (0, 0);
    for s in steps.iter().filter(|s| s.phase != Phase::FinalHeal) {
        let out = n.apply(s);
        match &s.action {
            Action::Bump { deltas, primaries } => {
                bumps += 1;
                let r = out.last().unwrap();
                let FaultDetails::Bump {
                    deltas: d,
                    targeting,
                    ..
                } = &r.details
                else {
                    panic!("{r:?}")
                };
                if *primaries {
                    assert_eq!(r.targets, ["n5"]);
                    assert_eq!(targeting, &Some(Targeting::Primaries));
                } else {
                    assert_eq!(d, deltas);
                }
                let offsets = clocks.offsets();
                for (node, delta) in d {
                    assert_eq!(offsets[node], *delta, "{r:?}");
                }
                let info = log.event(r.start_index.map(|i| i + 1));
                assert_eq!(info["value"], json!(d));
                assert_eq!(info["clock-offsets"], json!(offsets));
            }
            Action::Strobe {
                node, primaries, ..
            } => {
                strobes += 1;
                let r = out.last().unwrap();
                let want = if *primaries { "n5" } else { node.as_str() };
                assert_eq!(r.targets, [want]);
                assert_eq!(r.f(), "strobe");
            }
            Action::ResetClock => {
                assert!(clocks.offsets().values().all(|&o| o == 0));
                assert_eq!(out.len(), 1, "{s:?}");
                assert_eq!(out[0].ended_by.as_deref(), Some("reset-clock"));
            }
            a => panic!("{a:?}"),
        }
    }
    assert!(bumps > 5 && strobes > 2, "{bumps} {strobes}");
    n.final_heal();
    assert!(n.records().iter().all(|r| r.end.is_some()));
    check_records_against_history(&n, &log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn partition_clock_cuts_off_the_leader_and_splits_the_clocks() {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("nemesis-pc-{}", std::process::id()));
    let target = FakeTarget::new(5);
    target.set_leaders(&[2]);
    let clocks = Arc::new(
        ClockControl::with_library(&dir, target.node_ids(), "/nonexistent/libfaketime.so.1")
            .unwrap(),
    );
    let net = Arc::new(FakeNet::default());
    let log = Arc::new(FakeLog::default());
    let mut n = Nemesis::new(
        target.clone(),
        Some(net.clone()),
        Some(clocks.clone()),
        log.clone(),
        rt.handle().clone(),
    );
    let steps = plan(&[FaultKind::PartitionClock], &[]);
    let (mut skews, mut cuts, mut backs, mut fallbacks) = (0, 0, 0, 0);
    let mut delta = 0;
    for (i, s) in steps
        .iter()
        .filter(|s| s.phase != Phase::FinalHeal)
        .enumerate()
    {
        // Half-way through, nobody says it leads: the planned node is cut off.
        if i == steps.len() / 2 {
            target.set_leaders(&[]);
        }
        let before = log.events().len();
        n.apply(s);
        let events = log.events();
        assert!(events.len() > before, "{s:?} recorded nothing");
        for e in &events[before..] {
            assert_eq!(e["package"], "partition-clock", "{e}");
        }
        match &s.action {
            Action::SkewAll { delta_ms } => {
                skews += 1;
                delta = *delta_ms;
                assert!((2_000..=30_000).contains(&delta), "{delta}");
                assert!(clocks.offsets().values().all(|&o| o == delta));
            }
            Action::IsolatePrimaries { fallback, .. } => {
                cuts += 1;
                let g = net.grudge.lock().unwrap().clone();
                let cut = if target.primaries().is_some() {
                    "n3".to_string()
                } else {
                    fallbacks += 1;
                    assert_eq!(events.last().unwrap()["fallback"], true);
                    format!("n{}", fallback + 1)
                };
                // The leader and one companion (a minority of 5) against
                // the other three, both ways.
                let ids = target.node_ids();
                let side: Vec<&String> = ids
                    .iter()
                    .filter(|o| **o == cut || !g.drops(&cut, o))
                    .collect();
                assert_eq!(side.len(), 2, "{g:?}");
                for a in &ids {
                    for b in &ids {
                        let split = side.contains(&a) != side.contains(&b);
                        assert_eq!(g.drops(a, b), split, "{a}->{b} {g:?}");
                    }
                }
            }
            Action::BumpMarked { delta_ms } => {
                backs += 1;
                assert_eq!(*delta_ms, -2 * delta);
                let offsets = clocks.offsets();
                let behind: Vec<&String> = offsets
                    .iter()
                    .filter(|(_, &o)| o == -delta)
                    .map(|(n, _)| n)
                    .collect();
                assert_eq!(behind.len(), 1, "{offsets:?}");
                assert!(offsets.values().all(|&o| o == delta || o == -delta));
                assert!(net.grudge.lock().unwrap().dropped_by(behind[0]).len() == 3);
            }
            Action::Heal => assert!(net.grudge.lock().unwrap().is_empty()),
            Action::ResetClock => assert!(clocks.offsets().values().all(|&o| o == 0)),
            a => panic!("{a:?}"),
        }
    }
    assert!(
        skews > 5 && skews == cuts && cuts == backs,
        "{skews} {cuts} {backs}"
    );
    assert!(fallbacks > 0 && fallbacks < cuts, "{fallbacks} of {cuts}");
    n.final_heal();
    assert!(net.grudge.lock().unwrap().is_empty());
    assert!(clocks.offsets().values().all(|&o| o == 0));
    assert!(n.records().iter().all(|r| r.end.is_some()));
    assert!(n.records().iter().any(|r| r.kind == FaultKind::Partition));
    assert!(n.records().iter().any(|r| r.kind == FaultKind::Clock));
    check_records_against_history(&n, &log);
    let _ = std::fs::remove_dir_all(&dir);
}
