//! The harness's side of the nemesis: the cluster as a
//! [`nemesis::FaultTarget`] (process faults through the supervisor, leader
//! look-ups through the system's leader probe), and [`RunFaultLog`], the
//! [`nemesis::FaultLog`] that writes nemesis ops into `history.jsonl`
//! through the [`Recorder`] and fault records into `faults.jsonl`.

use super::store::{Recorder, Who};
use super::supervisor::Cluster;
use anyhow::{Context, Result};
use nemesis::{FaultLog, FaultRecord, FaultTarget, Logged, NemesisEvent, NodeId, TargetError};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A node's answer to the system's leader probe: `(node index, whether it
/// says it leads, the leader it names)`.
pub type LeaderStatus = (usize, bool, Option<String>);

/// The leader most of `statuses` name (ties: the greatest id), else
/// the first node that says it leads.
fn named_leader(ids: &[NodeId], statuses: &[LeaderStatus]) -> Option<NodeId> {
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    let mut claims = Vec::new();
    for (i, leads, name) in statuses {
        if let Some(l) = name {
            *named.entry(l.clone()).or_default() += 1;
        }
        if *leads {
            claims.extend(ids.get(*i).cloned());
        }
    }
    named
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .map(|(l, _)| l)
        .or_else(|| claims.into_iter().next())
}

/// The cluster as the nemesis sees it. Its methods block (signals, reaping,
/// HTTP look-ups on `handle`): call them from a blocking thread.
pub struct ClusterTarget {
    cluster: Arc<Cluster>,
    handle: tokio::runtime::Handle,
}

impl ClusterTarget {
    pub fn new(cluster: Arc<Cluster>, handle: tokio::runtime::Handle) -> ClusterTarget {
        ClusterTarget { cluster, handle }
    }

    /// Every node's answer to the system's leader probe, asked
    /// concurrently (1 s each, so a loaded machine still answers; a paused
    /// or dead node is simply missing).
    fn statuses(&self) -> Vec<LeaderStatus> {
        let cluster = self.cluster.clone();
        self.handle
            .block_on(async move { cluster.leader_status(Duration::from_secs(1)).await })
    }
}

fn target_err(e: anyhow::Error) -> TargetError {
    TargetError::new(format!("{e:#}"))
}

impl FaultTarget for ClusterTarget {
    fn node_ids(&self) -> Vec<NodeId> {
        self.cluster.infos().iter().map(|n| n.id.clone()).collect()
    }

    fn kill(&self, node: usize) -> Result<(), TargetError> {
        self.cluster.kill(node).map_err(target_err)
    }

    fn start(&self, node: usize) -> Result<(), TargetError> {
        self.cluster.start(node).map_err(target_err)
    }

    fn pause(&self, node: usize) -> Result<(), TargetError> {
        self.cluster.pause(node).map_err(target_err)
    }

    fn resume(&self, node: usize) -> Result<(), TargetError> {
        self.cluster.resume(node).map_err(target_err)
    }

    fn primaries(&self) -> Option<Vec<usize>> {
        let p: Vec<usize> = self
            .statuses()
            .into_iter()
            .filter(|(_, leads, _)| *leads)
            .map(|(i, _, _)| i)
            .collect();
        (!p.is_empty()).then_some(p)
    }

    fn leader(&self) -> Option<NodeId> {
        named_leader(&self.node_ids(), &self.statuses())
    }
}

/// Where the nemesis reports in a run: its ops go to `history.jsonl`
/// through the [`Recorder`] (as process `"nemesis"`), the faults in effect
/// to the recorder's progress counts, and every [`FaultRecord`] to
/// `faults.jsonl`, one line appended and flushed as each fault starts and
/// ends (a reader keeps the last line of each `id`).
pub struct RunFaultLog {
    recorder: Arc<Recorder>,
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl RunFaultLog {
    /// Creates `path` (`faults.jsonl`; it must not exist yet).
    pub fn create(recorder: Arc<Recorder>, path: &Path) -> Result<RunFaultLog> {
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(RunFaultLog {
            recorder,
            path: path.to_path_buf(),
            file: Mutex::new(Some(f)),
        })
    }
}

impl FaultLog for RunFaultLog {
    fn record(&self, ev: &NemesisEvent<'_>) -> Logged {
        let (index, time) = self.recorder.record_extra(
            Who::Named("nemesis"),
            ev.kind.as_str(),
            ev.f,
            None,
            ev.value,
            None,
            ev.error,
            Some(ev.extra),
        );
        Logged { index, time }
    }

    fn set_active(&self, name: &str, items: Vec<String>) {
        self.recorder.set_active_faults(name, items);
    }

    fn fault(&self, record: &FaultRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("fault record {}: {e}", record.id);
                return;
            }
        };
        line.push(b'\n');
        let mut g = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = g.as_mut() {
            // One write per line, so a crash tears at most the last one.
            if let Err(e) = f.write_all(&line).and_then(|_| f.flush()) {
                // The history keeps the nemesis ops; the report falls back
                // to them. Stop writing rather than leave gaps.
                tracing::error!(
                    "writing {}: {e}; no more fault records",
                    self.path.display()
                );
                *g = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nemesis::{FaultDetails, FaultKind, NemesisEventType, Targeting};
    use serde_json::{json, Map, Value};
    use std::time::Instant;

    #[test]
    fn the_leader_is_the_one_most_nodes_name() {
        let ids: Vec<NodeId> = ["n1", "n2", "n3"].map(String::from).to_vec();
        let st = |i, leads, leader: Option<&str>| (i, leads, leader.map(String::from));
        // An old leader that still says it leads is outvoted.
        let s = vec![
            st(0, true, Some("n1")),
            st(1, false, Some("n3")),
            st(2, true, Some("n3")),
        ];
        assert_eq!(named_leader(&ids, &s).as_deref(), Some("n3"));
        // No node names a leader: the first that says it leads.
        let s = vec![st(1, true, None), st(2, true, None)];
        assert_eq!(named_leader(&ids, &s).as_deref(), Some("n2"));
        assert_eq!(named_leader(&ids, &[st(0, false, None)]), None);
    }

    /// The records the harness writes are what the report reads: written
    /// through the run's log, `faults.jsonl` gives one band per fault with
    /// the history's times, and an open fault stays open.
    #[test]
    fn faults_jsonl_feeds_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let rec =
            Arc::new(Recorder::create(&dir.path().join("history.jsonl"), Instant::now()).unwrap());
        let log = RunFaultLog::create(rec.clone(), &dir.path().join("faults.jsonl")).unwrap();
        assert!(RunFaultLog::create(rec.clone(), &dir.path().join("faults.jsonl")).is_err());
        let ev = |kind, f: &str, value: &Value| {
            log.record(&NemesisEvent {
                kind,
                f,
                value,
                error: None,
                extra: &Map::new(),
            })
        };
        let targets = json!(["n2"]);
        let a = ev(NemesisEventType::Invoke, "kill", &targets);
        ev(
            NemesisEventType::Info,
            "kill",
            &json!({"nodes": ["n2"], "targeting": "one"}),
        );
        let mut kill = FaultRecord {
            id: 0,
            kind: FaultKind::Kill,
            targets: vec!["n2".into()],
            start: a.time,
            end: None,
            details: FaultDetails::Kill {
                targeting: Targeting::One,
                fallback: false,
            },
            start_index: Some(a.index),
            end_index: None,
            ended_by: None,
            error: None,
        };
        log.fault(&kill);
        let p = ev(NemesisEventType::Invoke, "pause", &json!(["n1"]));
        let pause = FaultRecord {
            id: 1,
            kind: FaultKind::Pause,
            targets: vec!["n1".into()],
            start: p.time,
            details: FaultDetails::Pause {
                targeting: Targeting::One,
                fallback: false,
            },
            start_index: Some(p.index),
            ..kill.clone()
        };
        log.fault(&pause);
        ev(NemesisEventType::Invoke, "start", &targets);
        let b = ev(NemesisEventType::Info, "start", &json!({"nodes": ["n2"]}));
        kill.end = Some(b.time);
        kill.end_index = Some(b.index);
        kill.ended_by = Some("start".into());
        log.fault(&kill);
        drop(log);

        // The history holds the ops at the records' times.
        let hist = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
        let lines: Vec<Value> = hist
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0]["process"], "nemesis");
        assert_eq!(lines[0]["time"], a.time);
        assert_eq!(lines[4]["time"], b.time);
        assert!(lines[0].get("error").is_none() && lines[0].get("node").is_none());

        let text = std::fs::read_to_string(dir.path().join("faults.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3);
        let (recs, warnings) = nemesis::read_records(&text);
        assert!(warnings.is_empty());
        assert_eq!(recs, vec![kill.clone(), pause.clone()]);

        let nem = reports::run::Run::load(dir.path()).unwrap();
        let bands: Vec<_> = nem
            .faults
            .iter()
            .map(|w| (w.f.as_str(), w.start, w.end, w.index, w.stop_f.as_deref()))
            .collect();
        assert_eq!(
            bands,
            vec![
                (
                    "kill",
                    a.time as i64,
                    Some(b.time as i64),
                    a.index,
                    Some("start")
                ),
                ("pause", p.time as i64, None, p.index, None),
            ]
        );
    }
}
