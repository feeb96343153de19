//! Typed fault records: what each applied fault did, to whom, and when.
//!
//! The interpreter hands a [`FaultRecord`] to its [`crate::FaultLog`] when
//! a fault starts (`end: None`) and again, with the same `id`, when it ends.
//! The harness appends each one as a line of `faults.jsonl` in the run
//! directory, so a crashed run keeps the faults it had started; a fault
//! still in effect when the harness died has no `end`. A reader keeps the
//! last line of each `id` ([`read_records`]).
//!
//! One line (fields in this order; `f` and the fields after `end` up to
//! `start_index` are the [`FaultDetails`]):
//!
//! ```text
//! {"id":0,"kind":"kill","targets":["n2"],"start":5012345678,"end":7023456789,
//!  "f":"kill","targeting":"one","start_index":1234,"end_index":1301,"ended_by":"start"}
//! ```

use crate::grudge::{Grudge, PartitionShape};
use crate::plan::{FaultKind, Targeting};
use crate::proxy::LinkRule;
use crate::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One fault as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// 0, 1, 2, ... in the order the faults started.
    pub id: u64,
    /// The package it belongs to.
    pub kind: FaultKind,
    /// The nodes it hit: those killed or paused, the nodes whose clocks
    /// moved, or every node whose links it cut (a partition) or degraded
    /// (packet faults).
    pub targets: Vec<NodeId>,
    /// When it started: the `time` of its nemesis op's invocation (ns since
    /// the run started).
    pub start: u64,
    /// When it ended: the `time` of the completion of the nemesis op that
    /// ended it; `None` while in effect (or if the harness died first).
    pub end: Option<u64>,
    /// `f` and what was done, by kind.
    #[serde(flatten)]
    pub details: FaultDetails,
    /// The history `index` of the start op's invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// The history `index` of the completion that ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_index: Option<u64>,
    /// The `f` of the op that ended it (`heal`, `heal-packet`, `start`,
    /// `resume`, `reset-clock`, or `kill` for a pause ended by a kill of
    /// its node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    /// What went wrong while starting it (the start op's `error`). A process
    /// fault that hit none of its nodes ends at its own completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FaultRecord {
    /// The start op's `f`.
    pub fn f(&self) -> &'static str {
        self.details.f()
    }

    /// Whether the fault is in effect at `t` (ns): `start <= t < end`.
    pub fn active_at(&self, t: u64) -> bool {
        self.start <= t && self.end.is_none_or(|e| t < e)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a fault did; serialized flat into its record, tagged by `f`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum FaultDetails {
    /// SIGKILL; `fallback`: a `primaries` fault that found no leader and hit
    /// its planned node instead.
    Kill {
        targeting: Targeting,
        #[serde(default, skip_serializing_if = "is_false")]
        fallback: bool,
    },
    /// SIGSTOP.
    Pause {
        targeting: Targeting,
        #[serde(default, skip_serializing_if = "is_false")]
        fallback: bool,
    },
    /// A grudge on the network. For the `primary` shape, `leader` is the
    /// node isolated, or `fallback` when no leader was known (a random node
    /// was isolated instead).
    Partition {
        shape: PartitionShape,
        grudge: Grudge,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<NodeId>,
        #[serde(default, skip_serializing_if = "is_false")]
        fallback: bool,
    },
    /// Link rules: `mode` (delay, loss, slow) on the links chosen by
    /// `targeting` (one, all, random).
    Packet {
        mode: String,
        targeting: String,
        links: Vec<PacketLink>,
    },
    /// Wall clocks moved by `deltas` (ms). `targeting` is `primaries` when
    /// the delta went to the nodes that led then.
    Bump {
        deltas: BTreeMap<NodeId, i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        targeting: Option<Targeting>,
        #[serde(default, skip_serializing_if = "is_false")]
        fallback: bool,
    },
    /// One wall clock flipped between +`delta_ms` and its offset every
    /// `period_ms` for `duration_ms`.
    Strobe {
        delta_ms: i64,
        period_ms: u64,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        targeting: Option<Targeting>,
        #[serde(default, skip_serializing_if = "is_false")]
        fallback: bool,
    },
}

impl FaultDetails {
    /// The start op's `f`.
    pub fn f(&self) -> &'static str {
        match self {
            FaultDetails::Kill { .. } => "kill",
            FaultDetails::Pause { .. } => "pause",
            FaultDetails::Partition { .. } => "partition",
            FaultDetails::Packet { .. } => "packet",
            FaultDetails::Bump { .. } => "bump",
            FaultDetails::Strobe { .. } => "strobe",
        }
    }
}

/// One directed link's packet rule: `{"from":"n1","to":"n2","rule":"delay","ms":50,"jitter_ms":10}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacketLink {
    pub from: NodeId,
    pub to: NodeId,
    #[serde(flatten)]
    pub rule: LinkRule,
}

/// The records in `faults.jsonl` text, the last line of each `id` winning,
/// sorted by `id`; and a warning per line that is not a record (a torn last
/// line after a crash, or a line from a newer harness).
pub fn read_records(text: &str) -> (Vec<FaultRecord>, Vec<String>) {
    let mut by_id: BTreeMap<u64, FaultRecord> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<FaultRecord>(line) {
            Ok(r) => {
                by_id.insert(r.id, r);
            }
            Err(e) => warnings.push(format!("faults.jsonl line {}: {e}", i + 1)),
        }
    }
    (by_id.into_values().collect(), warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(details: FaultDetails) -> FaultRecord {
        FaultRecord {
            id: 3,
            kind: FaultKind::Packet,
            targets: vec!["n1".into(), "n2".into()],
            start: 10,
            end: Some(20),
            details,
            start_index: Some(4),
            end_index: Some(9),
            ended_by: Some("heal-packet".into()),
            error: None,
        }
    }

    #[test]
    fn records_are_flat_json_and_round_trip() {
        let r = rec(FaultDetails::Packet {
            mode: "delay".into(),
            targeting: "one".into(),
            links: vec![PacketLink {
                from: "n1".into(),
                to: "n2".into(),
                rule: LinkRule::Delay {
                    ms: 50,
                    jitter_ms: 10,
                },
            }],
        });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"id":3,"kind":"packet","targets":["n1","n2"],"start":10,"end":20,
                   "f":"packet","mode":"delay","targeting":"one",
                   "links":[{"from":"n1","to":"n2","rule":"delay","ms":50,"jitter_ms":10}],
                   "start_index":4,"end_index":9,"ended_by":"heal-packet"})
        );
        let back: FaultRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.f(), "packet");

        let mut g = Grudge::new();
        g.add("n1", "n2");
        for d in [
            FaultDetails::Kill {
                targeting: Targeting::Primaries,
                fallback: true,
            },
            FaultDetails::Pause {
                targeting: Targeting::One,
                fallback: false,
            },
            FaultDetails::Partition {
                shape: PartitionShape::Primary,
                grudge: g,
                leader: Some("n1".into()),
                fallback: false,
            },
            FaultDetails::Bump {
                deltas: [("n2".to_string(), -120_000)].into(),
                targeting: None,
                fallback: false,
            },
            FaultDetails::Strobe {
                delta_ms: 500,
                period_ms: 20,
                duration_ms: 3000,
                targeting: Some(Targeting::Primaries),
                fallback: false,
            },
        ] {
            let mut r = rec(d);
            r.end = None;
            r.error = Some("n1: gone".into());
            let line = serde_json::to_string(&r).unwrap();
            assert!(line.contains(r#""end":null"#), "{line}");
            let back: FaultRecord = serde_json::from_str(&line).unwrap();
            assert_eq!(back, r, "{line}");
        }
    }

    #[test]
    fn the_last_line_of_an_id_wins_and_bad_lines_are_reported() {
        let open = r#"{"id":0,"kind":"kill","targets":["n2"],"start":5,"end":null,"f":"kill","targeting":"one"}"#;
        let other = r#"{"id":1,"kind":"pause","targets":["n1"],"start":6,"end":null,"f":"pause","targeting":"all"}"#;
        let closed = r#"{"id":0,"kind":"kill","targets":["n2"],"start":5,"end":9,"f":"kill","targeting":"one","ended_by":"start"}"#;
        let text = format!("{open}\n{other}\n\n{closed}\n{{\"id\":2,\"kind\":\"cl");
        let (recs, warnings) = read_records(&text);
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].id, recs[0].end), (0, Some(9)));
        assert_eq!(recs[0].ended_by.as_deref(), Some("start"));
        assert_eq!((recs[1].id, recs[1].end), (1, None));
        assert!(recs[1].active_at(1_000) && !recs[0].active_at(9));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("faults.jsonl line 5:"),
            "{warnings:?}"
        );
    }
}
