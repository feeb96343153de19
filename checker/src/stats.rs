//! Op statistics, latency and availability, computed from a [`History`]:
//! the `stats` object of `results.json`, the availability and latency
//! columns of a campaign, and the numbers behind the report's plots.
//!
//! # Availability
//! A client op counts as **answered** when it completed `ok`, or `fail` with
//! an error that is not an unavailability error ([`is_unavailable`]): a cas
//! on a changed value, a lock someone else holds or a stale fencing token is
//! the system's answer. A `fail` without an error is an answer too. An
//! `info` completion is never an answer. Availability is answered ops over
//! completed client ops (invocations that never completed are left out).
//!
//! Unavailability errors are recognised by their code alone, whatever the
//! system: the error itself when it is a string, else its `code` or `error`
//! field. A code is an unavailability error when it is, or starts with
//! followed by a character that is not a letter or digit (`connect: refused`,
//! `io: reset`), one of [`UNAVAILABLE_CODES`], or when it is an HTTP status
//! the harness could not map to a code: `http-421` or `http-5xx`.
//!
//! # Latency
//! An op's latency is the time from its invocation to its completion, for
//! ops that completed `ok` or `fail` (an `info` op has none). Quantiles are
//! nearest-rank on the sorted latencies: index `round((n - 1) * q)`.

use crate::history::{EventType, History, Operation, Process, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Error codes (or code prefixes) that mean the system did not answer.
pub const UNAVAILABLE_CODES: [&str; 8] = [
    "connect",
    "io",
    "client-timeout",
    "timeout",
    "unavailable",
    "not-leader",
    "no-leader",
    "no-quorum",
];

/// The code of an op's `error`: the error when it is a string, else its
/// `code` or `error` field when that is a string.
pub fn error_code(error: &Value) -> Option<&str> {
    match error {
        Value::String(s) => Some(s),
        Value::Object(m) => m
            .get("code")
            .and_then(Value::as_str)
            .or_else(|| m.get("error").and_then(Value::as_str)),
        _ => None,
    }
}

/// Whether an error code says the system was unavailable (see the module
/// documentation).
pub fn is_unavailable(code: &str) -> bool {
    let code = code.trim();
    let word = |prefix: &str| {
        code.strip_prefix(prefix)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
    };
    if UNAVAILABLE_CODES.iter().any(|p| word(p)) {
        return true;
    }
    match code.strip_prefix("http-") {
        Some(status) => {
            let digits: String = status.chars().take_while(char::is_ascii_digit).collect();
            digits.len() == 3 && (digits == "421" || digits.starts_with('5'))
        }
        None => false,
    }
}

/// Whether a completion of this type with this error is the system's
/// answer (see the module documentation).
pub fn answered(kind: EventType, error: Option<&Value>) -> bool {
    match kind {
        EventType::Ok => true,
        EventType::Fail => !error.and_then(error_code).is_some_and(is_unavailable),
        EventType::Invoke | EventType::Info => false,
    }
}

/// ok / fail / info counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl Tally {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Ok => self.ok += 1,
            Status::Fail => self.fail += 1,
            Status::Info => self.info += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.ok + self.fail + self.info
    }

    /// The counts of some operations.
    pub fn of<'a>(ops: impl IntoIterator<Item = &'a Operation>) -> Tally {
        let mut t = Tally::default();
        for o in ops {
            t.add(o.status);
        }
        t
    }
}

/// p50 / p90 / p99 / max of some latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    /// The quantiles of sorted values; `None` when there are none.
    pub fn of_sorted(sorted: &[f64]) -> Option<Quantiles> {
        Some(Quantiles {
            p50: quantile(sorted, 0.5)?,
            p90: quantile(sorted, 0.9)?,
            p99: quantile(sorted, 0.99)?,
            max: *sorted.last()?,
        })
    }

    /// `[p50, p90, p99, max]`.
    pub fn as_array(&self) -> [f64; 4] {
        [self.p50, self.p90, self.p99, self.max]
    }
}

/// The nearest-rank quantile `q` (0..=1) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

/// Sorts latencies (or any values) for [`quantile`].
pub fn sort(values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
}

/// An operation's latency in milliseconds: from invocation to completion,
/// for `ok` and `fail` ops with both times.
pub fn latency_ms(op: &Operation) -> Option<f64> {
    match (op.invoke_time, op.complete_time, op.status) {
        (Some(a), Some(b), Status::Ok | Status::Fail) => Some((b - a) as f64 / 1e6),
        _ => None,
    }
}

/// Op statistics of a history: `results.json`'s `stats`.
///
/// Fields added after the first version default when an older file lacks
/// them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    /// Client ops invoked (completed or not).
    #[serde(default)]
    pub ops: u64,
    /// Client completions by type.
    #[serde(default)]
    pub ok: u64,
    #[serde(default)]
    pub fail: u64,
    #[serde(default)]
    pub info: u64,
    /// Client completions per `f`.
    #[serde(default)]
    pub by_f: BTreeMap<String, Tally>,
    /// Invocations of named processes (the nemesis) by `f`.
    #[serde(default)]
    pub nemesis: BTreeMap<String, u64>,
    /// Seconds from the first to the last event.
    #[serde(default)]
    pub seconds: f64,
    /// Client ops invoked per second over [`OpStats::seconds`].
    #[serde(default)]
    pub ops_per_sec: f64,
    /// Client completions that are the system's answer (see the module
    /// documentation).
    #[serde(default)]
    pub answered: u64,
    /// `answered` over client completions; `None` without completions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<f64>,
    /// Latency quantiles of the `ok` client ops, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_latency_ms: Option<Quantiles>,
}

impl OpStats {
    /// One pass over the events. Pairs invocations and completions per
    /// process without requiring a well-formed history (a completion
    /// without an invocation still counts, it just has no latency).
    pub fn of(history: &History) -> OpStats {
        Self::with_latencies(history).0
    }

    /// [`OpStats::of`] and the sorted latencies (ms) of the `ok` client ops.
    pub fn with_latencies(history: &History) -> (OpStats, Vec<f64>) {
        let mut s = OpStats::default();
        let mut open: BTreeMap<u64, Option<i64>> = BTreeMap::new();
        let mut lat = Vec::new();
        for ev in &history.events {
            let p = match &ev.process {
                Process::Named(_) => {
                    if ev.kind == EventType::Invoke {
                        *s.nemesis.entry(ev.f.clone()).or_default() += 1;
                    }
                    continue;
                }
                Process::Client(p) => *p,
            };
            let status = match ev.kind {
                EventType::Invoke => {
                    s.ops += 1;
                    open.insert(p, ev.time);
                    continue;
                }
                EventType::Ok => Status::Ok,
                EventType::Fail => Status::Fail,
                EventType::Info => Status::Info,
            };
            let mut one = Tally::default();
            one.add(status);
            s.ok += one.ok;
            s.fail += one.fail;
            s.info += one.info;
            s.by_f.entry(ev.f.clone()).or_default().add(status);
            if answered(ev.kind, ev.error.as_ref()) {
                s.answered += 1;
            }
            if let (Some(Some(t0)), Some(t1)) = (open.remove(&p), ev.time) {
                if status == Status::Ok {
                    lat.push((t1 - t0) as f64 / 1e6);
                }
            }
        }
        s.seconds = match (history.events.first(), history.events.last()) {
            (Some(a), Some(b)) => (b.time.unwrap_or(0) - a.time.unwrap_or(0)) as f64 / 1e9,
            _ => 0.0,
        };
        s.ops_per_sec = if s.seconds > 0.0 {
            s.ops as f64 / s.seconds
        } else {
            0.0
        };
        let completed = s.ok + s.fail + s.info;
        s.availability = (completed > 0).then(|| s.answered as f64 / completed as f64);
        sort(&mut lat);
        s.ok_latency_ms = Quantiles::of_sorted(&lat);
        (s, lat)
    }
}

/// Completions per second by outcome (`[ok, fail, info]`) in buckets of
/// `bucket_s` seconds from 0 to `end_s`; an `info` op without a completion
/// counts at its invocation. Times are the ops' event times (ns).
pub fn throughput(ops: &[Operation], end_s: f64, bucket_s: f64) -> Vec<[f64; 3]> {
    let bucket_s = if bucket_s > 0.0 { bucket_s } else { 1.0 };
    let n = (end_s.max(0.0) / bucket_s).ceil() as usize + 1;
    let mut counts = vec![[0f64; 3]; n];
    for op in ops {
        let (t, k) = match op.status {
            Status::Ok => (op.complete_time, 0),
            Status::Fail => (op.complete_time, 1),
            Status::Info => (op.complete_time.or(op.invoke_time), 2),
        };
        if let Some(t) = t {
            let b = ((t.max(0) as f64 / 1e9 / bucket_s) as usize).min(n - 1);
            counts[b][k] += 1.0 / bucket_s;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{self, Format};
    use serde_json::json;

    fn history(lines: &[&str]) -> History {
        formats::parse(lines.join("\n").as_bytes(), "t", Some(Format::Jsonl)).unwrap()
    }

    #[test]
    fn unavailability_is_read_from_generic_codes() {
        for code in [
            "connect: Connection refused",
            "connect",
            "io: reset by peer",
            "client-timeout",
            "timeout",
            "unavailable",
            "not-leader",
            "no-leader",
            "no-quorum",
            "http-503",
            "http-500",
            "http-421",
        ] {
            assert!(is_unavailable(code), "{code}");
        }
        for code in [
            "cas-mismatch",
            "locked",
            "not-holder",
            "fenced",
            "unknown-message",
            "invalid",
            "not-found",
            "iowa",
            "timeouts-are-fine",
            "http-404",
            "http-409",
            "http-5",
            "",
        ] {
            assert!(!is_unavailable(code), "{code}");
        }
        assert_eq!(error_code(&json!({"code": "locked"})), Some("locked"));
        assert_eq!(error_code(&json!({"error": "timeout"})), Some("timeout"));
        assert_eq!(error_code(&json!(["timed-out"])), None);
    }

    #[test]
    fn availability_counts_answers_not_outages() {
        let h = history(&[
            r#"{"process":0,"type":"invoke","f":"acquire","time":0}"#,
            r#"{"process":0,"type":"ok","f":"acquire","time":2000000}"#,
            r#"{"process":1,"type":"invoke","f":"acquire","time":0}"#,
            r#"{"process":1,"type":"fail","f":"acquire","error":"locked","time":1000000}"#,
            r#"{"process":2,"type":"invoke","f":"cas","time":0}"#,
            r#"{"process":2,"type":"fail","f":"cas","error":{"code":"cas-mismatch"},"time":1000000}"#,
            r#"{"process":3,"type":"invoke","f":"read","time":0}"#,
            r#"{"process":3,"type":"fail","f":"read","error":"connect: Connection refused","time":1000000}"#,
            r#"{"process":4,"type":"invoke","f":"write","time":0}"#,
            r#"{"process":4,"type":"info","f":"write","error":"timeout","time":1000000}"#,
            r#"{"process":5,"type":"invoke","f":"write","time":0}"#,
            r#"{"process":5,"type":"fail","f":"write","error":"http-503","time":1000000}"#,
            r#"{"process":6,"type":"invoke","f":"write","time":0}"#,
            r#"{"process":"nemesis","type":"invoke","f":"kill","time":5}"#,
            r#"{"process":"nemesis","type":"info","f":"kill","time":4000000000}"#,
        ]);
        let (s, lat) = OpStats::with_latencies(&h);
        assert_eq!((s.ops, s.ok, s.fail, s.info), (7, 1, 4, 1));
        // ok, locked, cas-mismatch answered; refused, info, 503 not.
        assert_eq!(s.answered, 3);
        assert_eq!(s.availability, Some(0.5));
        assert_eq!(lat, vec![2.0]);
        assert_eq!(s.ok_latency_ms.unwrap().max, 2.0);
        assert_eq!(s.nemesis.get("kill"), Some(&1));
        assert_eq!(
            s.by_f["acquire"],
            Tally {
                ok: 1,
                fail: 1,
                info: 0
            }
        );
        assert_eq!(s.seconds, 4.0);
        assert_eq!(s.ops_per_sec, 7.0 / 4.0);
    }

    #[test]
    fn an_empty_history_has_no_availability_or_latency() {
        let s = OpStats::of(&History::default());
        assert_eq!((s.ops, s.availability, s.ok_latency_ms), (0, None, None));
        // Old results.json `stats` objects still load.
        let old: OpStats = serde_json::from_value(json!({"ops": 3, "ok": 2, "fail": 0, "info": 1,
            "by_f": {"read": {"ok": 2, "fail": 0, "info": 1}}, "nemesis": {}, "seconds": 1.5,
            "ops_per_sec": 2.0}))
        .unwrap();
        assert_eq!((old.ops, old.answered, old.availability), (3, 0, None));
    }

    #[test]
    fn quantiles_and_throughput() {
        assert_eq!(quantile(&[], 0.5), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let q = Quantiles::of_sorted(&v).unwrap();
        assert_eq!(q.as_array(), [51.0, 90.0, 99.0, 100.0]);
        let ops = history(&[
            r#"{"process":0,"type":"invoke","f":"w","time":0}"#,
            r#"{"process":0,"type":"ok","f":"w","time":500000000}"#,
            r#"{"process":1,"type":"invoke","f":"w","time":0}"#,
            r#"{"process":1,"type":"fail","f":"w","time":1500000000}"#,
            r#"{"process":2,"type":"invoke","f":"w","time":1200000000}"#,
        ])
        .operations()
        .unwrap();
        assert_eq!(latency_ms(&ops[0]), Some(500.0));
        assert_eq!(latency_ms(&ops[2]), None);
        let t = throughput(&ops, 2.0, 1.0);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], [1.0, 0.0, 0.0]);
        assert_eq!(t[1], [0.0, 1.0, 1.0]);
    }
}
