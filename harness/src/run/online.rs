//! Online checking: while a test runs, each key (an independent
//! sub-history) is checked for linearizability on a background thread as
//! soon as it goes quiet (no op open on it, no new invocation for
//! [`IDLE`]), so the first anomaly is known seconds into the run instead
//! of at its end.
//!
//! Sound early: a key checked with no op open is a prefix of its final
//! sub-history closed under completion, and every op invoked later follows
//! all of its ops in real time, so a prefix that is not linearizable means
//! the whole is not. The run's verdict still comes from the offline check
//! of the whole history at the end; the online pass only reports earlier
//! (and, with `--fail-fast`, ends the run at the first invalid key).
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
use std::collections::HashMap;
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
    pub key: String,
    /// The anomaly in words, and its first op's history index.
    pub what: String,
    pub index: Option<u64>,
}

/// What the online pass did (results.json's `online`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OnlineStatus {
    /// The checker it ran.
    pub checker: String,
    /// Keys checked at least once, and checks run.
    pub keys_checked: usize,
    pub checks: usize,
    /// Keys found invalid.
    pub keys_invalid: usize,
    /// Keys dropped from memory after their check.
    pub keys_retired: usize,
    /// Events for keys already dropped (left to the offline check).
    pub reopened: usize,
    /// The most keys held in memory at once.
    pub max_live_keys: usize,
    pub check_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<OnlineAnomaly>,
}

#[derive(Default)]
struct KeyState {
    events: Vec<Event>,
    open: usize,
    last: Option<Instant>,
    checked_len: usize,
    checked_at: Option<Instant>,
    invalid: bool,
}

/// The online pass of one run.
pub struct Online {
    status: Arc<Mutex<OnlineStatus>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Online {
    /// Starts the pass with `checker` (a registry name); `on_invalid` is
    /// called once, at the first invalid key. Returns the pass and the
    /// sender the recorder taps keyed client events into.
    pub fn start(
        checker: &str,
        start: Instant,
        on_invalid: Box<dyn FnOnce() + Send>,
    ) -> anyhow::Result<(Online, Sender<Event>)> {
        let c = checker::checkers::by_name(checker, &Default::default())
            .map_err(|e| anyhow::anyhow!("online checker {checker}: {e}"))?;
        let status = Arc::new(Mutex::new(OnlineStatus {
            checker: checker.to_string(),
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

/// The pass itself (also driven directly by the tests).
fn run(
    c: Box<dyn Checker>,
    rx: Receiver<Event>,
    status: Arc<Mutex<OnlineStatus>>,
    start: Instant,
    mut on_invalid: Option<Box<dyn FnOnce() + Send>>,
) {
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
            let h = History {
                source: format!("online key {name}"),
                events: k.events.clone(),
                ..Default::default()
            };
            let t0 = Instant::now();
            let r = check_safe(&c, &h, &budget);
            let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
            s.checks += 1;
            s.check_seconds += t0.elapsed().as_secs_f64();
            if k.checked_at.is_none() {
                s.keys_checked += 1;
            }
            k.checked_len = k.events.len();
            k.checked_at = Some(Instant::now());
            if r.verdict == Verdict::Invalid && !k.invalid {
                k.invalid = true;
                s.keys_invalid += 1;
                if s.first.is_none() {
                    let a = r.anomalies.first();
                    s.first = Some(OnlineAnomaly {
                        seconds: start.elapsed().as_secs_f64(),
                        key: name.clone(),
                        what: a
                            .map(|a| a.what.clone())
                            .unwrap_or_else(|| "not linearizable".into()),
                        index: a.and_then(|a| a.ops.first().copied()),
                    });
                    drop(s);
                    if let Some(f) = on_invalid.take() {
                        f();
                    }
                }
            }
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
        let c = checker::checkers::by_name("linearizability:cas-register", &Default::default())
            .unwrap();
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
        let c = checker::checkers::by_name("linearizability:cas-register", &Default::default())
            .unwrap();
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
}
