//! Online checking: while a test runs, each key (an independent
//! sub-history) is checked by the run's per-key checkers on a background
//! thread as soon as it goes quiet (no op open on it, no new invocation for
//! [`IDLE`]), so the first anomaly is known seconds into the run instead
//! of at its end. The per-key checkers ([`per_key`]) are
//! `linearizability[:MODEL]` and the single-object consistency hierarchy,
//! `consistency[:MODEL]`; each reports its own first anomaly
//! ([`KeyChecker`]).
//!
//! Sound early: a key checked with no op open is a prefix of its final
//! sub-history closed under completion, and every op invoked later follows
//! all of its ops in real time, so a prefix that is not linearizable means
//! the whole is not. The same holds for every model of the consistency
//! hierarchy (`checker::consistency`), model by model:
//!
//! - *sequential*: a legal total order of the whole, restricted to the
//!   prefix's ops, is still legal (each prefix read's write is in the
//!   prefix, see the next point, and nothing removed sat between them) and
//!   keeps program order; so a prefix with no such order has a whole with
//!   none.
//! - *causal, PRAM, monotonic-reads, monotonic-writes, read-your-writes,
//!   writes-follow-reads*: view conditions, a cycle in a graph of program
//!   order and reads-from edges. Every edge of a prefix's graph is one of
//!   the whole's (program order grows only at the end of each process;
//!   a read's source never changes; an `info` write observed in the prefix
//!   is observed in the whole), and each view of the whole holds the
//!   prefix's view; so a prefix's cycle is a cycle of the whole.
//! - *garbage reads* (which violate every model): a database cannot return
//!   a value no client has sent it yet, so a read's write was invoked
//!   before the read completed, inside the prefix.
//!
//! (As offline, written values are assumed unique per key.) The
//! consistency checker's measures are not anomalies and are not reported
//! online: `lost-writes` and `converged` are settled only by the final
//! reads, and `stale-reads` changes no verdict. An informational checker
//! (`consistency` without a model) is run and reported (which models each
//! key broke, and when), but never ends the run: only a checker that
//! counts sets `first` and calls `--fail-fast`.
//!
//! The run's verdict still comes from the offline check of the whole
//! history at the end; the online pass only reports earlier (and, with
//! `--fail-fast`, ends the run at the first invalid key).
//!
//! Memory stays flat: a key quiet for [`RETIRE`] after a check is
//! dropped (the workloads retire keys after `--ops-per-key` ops); an event
//! for a key already dropped reopens nothing: that key is left to the
//! offline check (counted as `reopened`).
//!
//! The thread runs at the lowest CPU priority (nice 19), so on a busy
//! machine it yields to the clients and the nodes.

use checker::checker::{check_safe, Budget, Checker};
use checker::{Event, EventType, History, Process, Verdict};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A key with nothing open and no invocation for this long is checked.
pub const IDLE: Duration = Duration::from_millis(500);
/// A checked key quiet for this long is dropped from memory.
pub const RETIRE: Duration = Duration::from_secs(3);
/// Each key's check may take this long (over it: unknown, left to the
/// offline check).
const KEY_TIMEOUT: Duration = Duration::from_secs(5);

/// The first anomaly the online pass found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OnlineAnomaly {
    /// Seconds into the run when the check reported it.
    pub seconds: f64,
    /// The key (per-key pass), empty for a whole-history checker.
    pub key: String,
    /// The checker that found it (registry name) and the anomaly's kind
    /// (its class or part: `G1c`, `duplicated`, `mutual_exclusion`, a
    /// consistency model's key, ...; empty when the checker names none).
    pub checker: String,
    pub kind: String,
    /// The anomaly in words, and its first op's history index.
    pub what: String,
    pub index: Option<u64>,
}

/// One per-key checker's online record.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct KeyChecker {
    /// Informational: reported, never the run's `first`, never fail-fast.
    pub informational: bool,
    /// Keys it found invalid.
    pub keys_invalid: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<OnlineAnomaly>,
    /// consistency: each model found broken, its first key and time.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, OnlineAnomaly>,
}

/// What the online pass did (results.json's `online`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OnlineStatus {
    /// The first checker it ran (the per-key checkers are in `checkers`).
    pub checker: String,
    /// Keys checked at least once, and checks run.
    pub keys_checked: usize,
    pub checks: usize,
    /// Keys found invalid by a checker that counts.
    pub keys_invalid: usize,
    /// Keys dropped from memory after their check.
    pub keys_retired: usize,
    /// Events for keys already dropped (left to the offline check).
    pub reopened: usize,
    /// The most keys held in memory at once.
    pub max_live_keys: usize,
    pub check_seconds: f64,
    /// The first anomaly of a checker that counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<OnlineAnomaly>,
    /// Each per-key checker's own record (`per_key` in online.json, whose
    /// `checkers` is every online checker's verdict so far).
    #[serde(rename = "per_key")]
    pub checkers: BTreeMap<String, KeyChecker>,
}

#[derive(Default)]
struct KeyState {
    events: Vec<Event>,
    open: usize,
    last: Option<Instant>,
    checked_len: usize,
    checked_at: Option<Instant>,
    /// By checker (position in the pass's list): found invalid.
    invalid: Vec<bool>,
    /// Counted in `keys_invalid`.
    counted: bool,
}

/// The checkers the per-key pass runs (registry names).
pub fn per_key(name: &str) -> bool {
    let base = name.split(':').next().unwrap_or(name).trim();
    matches!(base, "linearizability" | "consistency")
}

/// The online pass of one run.
pub struct Online {
    status: Arc<Mutex<OnlineStatus>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Online {
    /// Starts the pass with `checkers` (registry names, each [`per_key`]);
    /// `on_invalid` is called once, at the first key a checker that counts
    /// finds invalid. Returns the pass and the sender the recorder taps
    /// keyed client events into.
    pub fn start(
        checkers: &[String],
        start: Instant,
        on_invalid: Box<dyn FnOnce() + Send>,
    ) -> anyhow::Result<(Online, Sender<Event>)> {
        let c = build(checkers)?;
        let status = Arc::new(Mutex::new(OnlineStatus {
            checker: checkers.first().cloned().unwrap_or_default(),
            ..Default::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("online-check".into())
            .spawn(move || {
                // SAFETY: setpriority on this thread (tid) only.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::setpriority(libc::PRIO_PROCESS, tid, 19);
                }
                run(c, rx, st, start, Some(on_invalid));
            })?;
        Ok((
            Online {
                status,
                thread: Some(thread),
            },
            tx,
        ))
    }

    /// The live status, for the progress line.
    pub fn shared(&self) -> Arc<Mutex<OnlineStatus>> {
        self.status.clone()
    }

    pub fn status(&self) -> OnlineStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits for the pass to finish (after the recorder dropped its
    /// sender): the keys still held are checked one last time.
    pub fn finish(mut self) -> OnlineStatus {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.status()
    }
}

/// The named per-key checkers.
fn build(names: &[String]) -> anyhow::Result<Vec<(String, Box<dyn Checker>)>> {
    if names.is_empty() {
        anyhow::bail!("no per-key checker");
    }
    names
        .iter()
        .map(|n| {
            if !per_key(n) {
                anyhow::bail!("{n} is not a per-key checker");
            }
            let c = checker::checkers::by_name(n, &Default::default())
                .map_err(|e| anyhow::anyhow!("online checker {n}: {e}"))?;
            Ok((n.clone(), c))
        })
        .collect()
}

/// The pass itself (also driven directly by the tests).
fn run(
    cs: Vec<(String, Box<dyn Checker>)>,
    rx: Receiver<Event>,
    status: Arc<Mutex<OnlineStatus>>,
    start: Instant,
    mut on_invalid: Option<Box<dyn FnOnce() + Send>>,
) {
    {
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        for (name, c) in &cs {
            s.checkers.entry(name.clone()).or_default().informational = c.informational();
        }
    }
    let mut keys: HashMap<String, KeyState> = HashMap::new();
    let mut retired: std::collections::HashSet<String> = Default::default();
    let mut last_scan = Instant::now();
    let budget = Budget {
        timeout: Some(KEY_TIMEOUT),
        max_bytes: 256 << 20,
    };
    loop {
        let closed = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(ev) => {
                ingest(ev, &mut keys, &retired, &status);
                while let Ok(ev) = rx.try_recv() {
                    ingest(ev, &mut keys, &retired, &status);
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let now = Instant::now();
        if !closed && now.duration_since(last_scan) < Duration::from_millis(250) {
            continue;
        }
        last_scan = now;
        {
            let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
            s.max_live_keys = s.max_live_keys.max(keys.len());
        }
        let mut due: Vec<String> = keys
            .iter()
            .filter(|(_, k)| {
                k.events.len() > k.checked_len
                    && (closed
                        || (k.open == 0 && k.last.is_some_and(|l| now.duration_since(l) >= IDLE)))
            })
            .map(|(name, _)| name.clone())
            .collect();
        due.sort();
        for name in due {
            let k = keys.get_mut(&name).expect("due key");
            k.invalid.resize(cs.len(), false);
            let h = History {
                source: format!("online key {name}"),
                events: k.events.clone(),
                ..Default::default()
            };
            for (ci, (cname, c)) in cs.iter().enumerate() {
                if k.invalid[ci] {
                    continue;
                }
                let t0 = Instant::now();
                let r = check_safe(c, &h, &budget);
                let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
                s.checks += 1;
                s.check_seconds += t0.elapsed().as_secs_f64();
                if r.verdict != Verdict::Invalid {
                    continue;
                }
                k.invalid[ci] = true;
                let counts = !c.informational();
                let seconds = start.elapsed().as_secs_f64();
                let anomaly = |a: Option<&checker::checker::Anomaly>| OnlineAnomaly {
                    seconds,
                    key: name.clone(),
                    checker: cname.clone(),
                    kind: a
                        .map(|a| a.part.clone())
                        .filter(|p| !p.is_empty())
                        .unwrap_or_else(|| cname.split(':').next().unwrap_or("").to_string()),
                    what: a
                        .map(|a| a.what.clone())
                        .unwrap_or_else(|| format!("{cname}: invalid")),
                    index: a.and_then(|a| a.ops.first().copied()),
                };
                // The anomaly that makes it invalid: a required model's
                // own; informational, the last (a weakest model broken).
                let headline = r
                    .details
                    .get("require")
                    .and_then(|m| m.as_str())
                    .and_then(|m| r.anomalies.iter().find(|a| a.part == m))
                    .or(if counts {
                        r.anomalies.first()
                    } else {
                        r.anomalies.last()
                    });
                let first = anomaly(headline);
                let entry = s.checkers.entry(cname.clone()).or_default();
                entry.informational = !counts;
                entry.keys_invalid += 1;
                if cname.starts_with("consistency") {
                    for a in &r.anomalies {
                        entry
                            .models
                            .entry(a.part.clone())
                            .or_insert_with(|| anomaly(Some(a)));
                    }
                }
                entry.first.get_or_insert_with(|| first.clone());
                if counts && !k.counted {
                    k.counted = true;
                    s.keys_invalid += 1;
                }
                if counts && s.first.is_none() {
                    s.first = Some(first);
                    drop(s);
                    if let Some(f) = on_invalid.take() {
                        f();
                    }
                }
            }
            let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
            if k.checked_at.is_none() {
                s.keys_checked += 1;
            }
            k.checked_len = k.events.len();
            k.checked_at = Some(Instant::now());
        }
        // Drop keys quiet since their last check.
        let now = Instant::now();
        let old: Vec<String> = keys
            .iter()
            .filter(|(_, k)| {
                k.open == 0
                    && k.checked_len == k.events.len()
                    && k.last.is_some_and(|l| now.duration_since(l) >= RETIRE)
            })
            .map(|(n, _)| n.clone())
            .collect();
        if !old.is_empty() {
            let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
            s.keys_retired += old.len();
            for n in old {
                keys.remove(&n);
                retired.insert(n);
            }
        }
        if closed {
            return;
        }
    }
}

fn ingest(
    ev: Event,
    keys: &mut HashMap<String, KeyState>,
    retired: &std::collections::HashSet<String>,
    status: &Mutex<OnlineStatus>,
) {
    let (Some(key), Process::Client(_)) = (&ev.key, &ev.process) else {
        return;
    };
    let name = key.to_string();
    if retired.contains(&name) {
        status.lock().unwrap_or_else(|p| p.into_inner()).reopened += 1;
        return;
    }
    let k = keys.entry(name).or_default();
    if ev.kind == EventType::Invoke {
        k.open += 1;
        k.last = Some(Instant::now());
    } else {
        k.open = k.open.saturating_sub(1);
        k.last.get_or_insert_with(Instant::now);
    }
    k.events.push(ev);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ev(i: u64, p: u64, kind: EventType, f: &str, key: u64, v: Value) -> Event {
        let mut e = Event::new(p, kind, f, v);
        e.index = i;
        e.key = Some(json!(key));
        e
    }

    /// Key 1 is fine, key 2 has a stale read: the pass finds key 2 (and
    /// calls `on_invalid` once), checks both, and drops them when quiet.
    #[test]
    fn finds_the_invalid_key_while_the_run_goes_on_and_forgets_quiet_keys() {
        let c = build(&["linearizability:cas-register".to_string()]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let status = Arc::new(Mutex::new(OnlineStatus::default()));
        let fired = Arc::new(Mutex::new(0));
        let f2 = fired.clone();
        let st = status.clone();
        let t = std::thread::spawn(move || {
            run(
                c,
                rx,
                st,
                Instant::now(),
                Some(Box::new(move || *f2.lock().unwrap() += 1)),
            )
        });
        let evs = [
            ev(0, 0, EventType::Invoke, "write", 1, json!(1)),
            ev(1, 0, EventType::Ok, "write", 1, json!(1)),
            ev(2, 1, EventType::Invoke, "write", 2, json!(1)),
            ev(3, 1, EventType::Ok, "write", 2, json!(1)),
            ev(4, 1, EventType::Invoke, "write", 2, json!(2)),
            ev(5, 1, EventType::Ok, "write", 2, json!(2)),
            ev(6, 2, EventType::Invoke, "read", 2, Value::Null),
            ev(7, 2, EventType::Ok, "read", 2, json!(1)),
        ];
        for e in evs {
            tx.send(e).unwrap();
        }
        // Found while the sender is still open (the run goes on).
        let deadline = Instant::now() + Duration::from_secs(10);
        while status.lock().unwrap().first.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let first = status.lock().unwrap().first.clone().expect("found online");
        assert_eq!(first.key, "2");
        assert_eq!(first.index, Some(6));
        // Quiet keys are dropped from memory.
        let deadline = Instant::now() + RETIRE * 3;
        while status.lock().unwrap().keys_retired < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // An event for a dropped key is left to the offline check.
        tx.send(ev(8, 3, EventType::Invoke, "read", 1, Value::Null))
            .unwrap();
        drop(tx);
        t.join().unwrap();
        let s = status.lock().unwrap().clone();
        assert_eq!((s.keys_checked, s.keys_invalid, s.keys_retired), (2, 1, 2));
        assert_eq!(s.reopened, 1);
        assert_eq!(*fired.lock().unwrap(), 1);
    }

    /// A key with an op still open is not checked until it completes (a
    /// read of a value whose write is still open is fine at the end).
    #[test]
    fn a_key_with_an_open_op_waits() {
        let c = build(&["linearizability:cas-register".to_string()]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let status = Arc::new(Mutex::new(OnlineStatus::default()));
        let st = status.clone();
        let t = std::thread::spawn(move || run(c, rx, st, Instant::now(), None));
        tx.send(ev(0, 0, EventType::Invoke, "write", 1, json!(5)))
            .unwrap();
        tx.send(ev(1, 1, EventType::Invoke, "read", 1, Value::Null))
            .unwrap();
        tx.send(ev(2, 1, EventType::Ok, "read", 1, json!(5)))
            .unwrap();
        std::thread::sleep(IDLE * 3);
        assert_eq!(status.lock().unwrap().checks, 0);
        tx.send(ev(3, 0, EventType::Ok, "write", 1, json!(5)))
            .unwrap();
        drop(tx);
        t.join().unwrap();
        let s = status.lock().unwrap().clone();
        assert_eq!((s.keys_checked, s.keys_invalid), (1, 0));
        assert!(s.first.is_none());
    }

    /// The consistency hierarchy per key: a process that reads 1, then 2,
    /// then 1 again breaks monotonic reads (and so every stronger model)
    /// but not read-your-writes (it wrote nothing). The required
    /// `consistency:monotonic-reads` counts (sets `first`, calls
    /// `on_invalid`); the informational `consistency` lists the models
    /// broken and never does; `consistency:read-your-writes` stays valid.
    #[test]
    fn the_consistency_models_are_checked_per_key_and_reported_per_checker() {
        let names: Vec<String> = [
            "consistency",
            "consistency:read-your-writes",
            "consistency:monotonic-reads",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = build(&names).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let status = Arc::new(Mutex::new(OnlineStatus::default()));
        let fired = Arc::new(Mutex::new(0));
        let f2 = fired.clone();
        let st = status.clone();
        let t = std::thread::spawn(move || {
            run(
                c,
                rx,
                st,
                Instant::now(),
                Some(Box::new(move || *f2.lock().unwrap() += 1)),
            )
        });
        let evs = [
            ev(0, 0, EventType::Invoke, "write", 7, json!(1)),
            ev(1, 0, EventType::Ok, "write", 7, json!(1)),
            ev(2, 1, EventType::Invoke, "read", 7, Value::Null),
            ev(3, 1, EventType::Ok, "read", 7, json!(1)),
            ev(4, 0, EventType::Invoke, "write", 7, json!(2)),
            ev(5, 0, EventType::Ok, "write", 7, json!(2)),
            ev(6, 1, EventType::Invoke, "read", 7, Value::Null),
            ev(7, 1, EventType::Ok, "read", 7, json!(2)),
            ev(8, 1, EventType::Invoke, "read", 7, Value::Null),
            ev(9, 1, EventType::Ok, "read", 7, json!(1)),
        ];
        for e in evs {
            tx.send(e).unwrap();
        }
        drop(tx);
        t.join().unwrap();
        let s = status.lock().unwrap().clone();
        let first = s.first.clone().expect("a counting checker found it");
        assert_eq!(first.checker, "consistency:monotonic-reads");
        assert_eq!(first.kind, "monotonic-reads");
        assert_eq!(first.key, "7");
        assert_eq!(s.keys_invalid, 1);
        assert_eq!(*fired.lock().unwrap(), 1);
        let info = &s.checkers["consistency"];
        assert!(info.informational);
        assert_eq!(info.keys_invalid, 1);
        for m in ["linearizable", "sequential", "pram", "monotonic-reads"] {
            assert!(info.models.contains_key(m), "{m}: {info:?}");
        }
        assert!(!info.models.contains_key("read-your-writes"), "{info:?}");
        let ryw = &s.checkers["consistency:read-your-writes"];
        assert_eq!(ryw.keys_invalid, 0);
        assert!(ryw.first.is_none());
    }

    #[test]
    fn only_per_key_checkers_are_accepted() {
        assert!(build(&["lock".to_string()]).is_err());
        assert!(build(&[]).is_err());
        assert!(per_key("consistency:pram"));
        assert!(!per_key("list-append:serializable"));
    }
}
