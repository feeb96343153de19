//! The online check's closed-prefix pass, for the whole-history checkers
//! (total-queue, lock, and the isolation checkers list-append and
//! rw-register): while a test runs, every client event is kept and
//! the history seen so far is checked now and then by each checker in its
//! prefix mode (`checker::checkers::Options::prefix`): ops open at the cut
//! have no completion (unknown, like `info`), and the claims only the end
//! can settle are off in the checker itself (a queue's lost and unexpected
//! elements, the lock's mutex linearizability; for the isolation checkers a
//! txn open at the cut takes part in no edge; see each checker). So an
//! anomaly found on a prefix is one the whole history has too: the run's
//! verdict still comes from the offline check at the end.
//!
//! Throttled so the clients are never slowed: the next check starts no
//! sooner than max([`MIN_GAP`], 4 × the last check's time) after the last
//! one ended, on a thread at the lowest CPU priority (nice 19). A checker
//! that found the prefix invalid is not run again (the first anomaly is
//! what the pass reports).
//!
//! Memory: the whole history so far is held (these checkers need it all);
//! the keyed per-key pass (`super::online`) is the one that stays flat.

use super::online::OnlineAnomaly;
use checker::checker::{check_safe, Budget, Checker};
use checker::{Event, History, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shortest gap between two prefix checks.
pub const MIN_GAP: Duration = Duration::from_secs(2);
/// One checker's check of one prefix may take this long (over it: unknown).
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// The checkers with a prefix mode (registry base names).
pub fn has_prefix_mode(name: &str) -> bool {
    let base = name.split(':').next().unwrap_or(name);
    matches!(
        base,
        "total-queue" | "lock" | "set-full" | "list-append" | "rw-register"
    )
}

/// One checker's online record.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PrefixChecker {
    /// Prefix checks run, their total seconds, and the last verdict.
    pub checks: usize,
    pub seconds: f64,
    pub verdict: String,
    /// Client events in the last prefix checked.
    pub events: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<OnlineAnomaly>,
}

/// What the prefix pass did (`online.json`'s `prefix`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PrefixStatus {
    pub checkers: BTreeMap<String, PrefixChecker>,
    /// Client events received.
    pub events: usize,
    /// The first anomaly of any checker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<OnlineAnomaly>,
}

/// The prefix pass of one run.
pub struct PrefixPass {
    status: Arc<Mutex<PrefixStatus>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PrefixPass {
    /// Starts the pass with `names` (registry names with a prefix mode);
    /// `on_invalid` is called once, at the first anomaly. Returns the pass
    /// and the sender the recorder taps every client event into.
    pub fn start(
        names: &[String],
        start: Instant,
        on_invalid: Box<dyn FnOnce() + Send>,
    ) -> anyhow::Result<(PrefixPass, Sender<Event>)> {
        let cs = checkers(names)?;
        let status = Arc::new(Mutex::new(PrefixStatus::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("online-prefix".into())
            .spawn(move || {
                // SAFETY: setpriority on this thread (tid) only.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::setpriority(libc::PRIO_PROCESS, tid, 19);
                }
                run(cs, rx, st, start, Some(on_invalid));
            })?;
        Ok((
            PrefixPass {
                status,
                thread: Some(thread),
            },
            tx,
        ))
    }

    pub fn shared(&self) -> Arc<Mutex<PrefixStatus>> {
        self.status.clone()
    }

    /// Waits for the pass to end (after the recorder dropped its sender).
    pub fn finish(mut self) -> PrefixStatus {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The named checkers, built in prefix mode.
fn checkers(names: &[String]) -> anyhow::Result<Vec<(String, Box<dyn Checker>)>> {
    let opts = checker::checkers::Options {
        prefix: true,
        ..Default::default()
    };
    names
        .iter()
        .map(|n| {
            if !has_prefix_mode(n) {
                anyhow::bail!("{n} has no prefix mode");
            }
            let c = checker::checkers::by_name(n, &opts)
                .map_err(|e| anyhow::anyhow!("online checker {n}: {e}"))?;
            Ok((n.clone(), c))
        })
        .collect()
}

/// Checks the prefix `events` with each checker not yet found invalid;
/// records the outcome in `status`. Returns whether some checker found
/// it invalid for the first time.
fn check_prefix(
    cs: &[(String, Box<dyn Checker>)],
    events: &[Event],
    status: &Mutex<PrefixStatus>,
    start: Instant,
) -> bool {
    let budget = Budget {
        timeout: Some(CHECK_TIMEOUT),
        max_bytes: 512 << 20,
    };
    let h = History {
        source: "online prefix".into(),
        events: events.to_vec(),
        ..Default::default()
    };
    let mut found = false;
    for (name, c) in cs {
        if status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .checkers
            .get(name)
            .is_some_and(|s| s.first.is_some())
        {
            continue;
        }
        let t0 = Instant::now();
        let r = check_safe(c, &h, &budget);
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        let e = s.checkers.entry(name.clone()).or_default();
        e.checks += 1;
        e.seconds += t0.elapsed().as_secs_f64();
        e.verdict = r.verdict.as_str().to_string();
        e.events = events.len();
        if r.verdict == Verdict::Invalid {
            let a = r.anomalies.first();
            let first = OnlineAnomaly {
                seconds: start.elapsed().as_secs_f64(),
                key: String::new(),
                checker: name.clone(),
                kind: a.map(|a| a.part.clone()).unwrap_or_default(),
                what: format!(
                    "{name}: {}",
                    a.map(|a| a.what.clone())
                        .unwrap_or_else(|| "invalid".to_string())
                ),
                index: a.and_then(|a| a.ops.first().copied()),
            };
            e.first = Some(first.clone());
            if s.first.is_none() {
                s.first = Some(first);
                found = true;
            }
        }
    }
    found
}

/// The pass itself (also driven directly by the tests).
fn run(
    cs: Vec<(String, Box<dyn Checker>)>,
    rx: Receiver<Event>,
    status: Arc<Mutex<PrefixStatus>>,
    start: Instant,
    mut on_invalid: Option<Box<dyn FnOnce() + Send>>,
) {
    let mut events: Vec<Event> = Vec::new();
    let mut checked_len = 0;
    let mut next = Instant::now() + MIN_GAP;
    loop {
        let closed = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(ev) => {
                events.push(ev);
                while let Ok(ev) = rx.try_recv() {
                    events.push(ev);
                }
                status.lock().unwrap_or_else(|p| p.into_inner()).events = events.len();
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        // The end: the offline check judges the whole history.
        if closed {
            return;
        }
        if Instant::now() < next || events.len() == checked_len {
            continue;
        }
        let t0 = Instant::now();
        if check_prefix(&cs, &events, &status, start) {
            if let Some(f) = on_invalid.take() {
                f();
            }
        }
        checked_len = events.len();
        let took = t0.elapsed();
        next = Instant::now() + MIN_GAP.max(took * 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::EventType;
    use serde_json::{json, Value};

    fn ev(i: u64, p: u64, kind: EventType, f: &str, v: Value) -> Event {
        let mut e = Event::new(p, kind, f, v);
        e.index = i;
        e.time = Some(i as i64 * 1_000_000);
        e
    }

    fn status() -> Mutex<PrefixStatus> {
        Mutex::new(PrefixStatus::default())
    }

    /// A queue value enqueued but not yet dequeued at the cut, and a
    /// dequeue open at the cut: not flagged (the whole check would call
    /// the value lost); a duplicate delivery: flagged.
    #[test]
    fn a_queue_prefix_is_flagged_only_for_what_the_prefix_settles() {
        let cs = checkers(&["total-queue:exactly-once".to_string()]).unwrap();
        let mut evs = vec![
            ev(0, 0, EventType::Invoke, "enqueue", json!(1)),
            ev(1, 0, EventType::Ok, "enqueue", json!(1)),
            ev(2, 1, EventType::Invoke, "enqueue", json!(2)),
            ev(3, 1, EventType::Ok, "enqueue", json!(2)),
            ev(4, 2, EventType::Invoke, "dequeue", Value::Null),
            ev(5, 2, EventType::Ok, "dequeue", json!(2)),
            ev(6, 3, EventType::Invoke, "dequeue", Value::Null),
        ];
        let s = status();
        assert!(!check_prefix(&cs, &evs, &s, Instant::now()));
        {
            let s = s.lock().unwrap();
            assert_eq!(s.checkers["total-queue:exactly-once"].verdict, "valid");
            assert!(s.first.is_none());
        }
        // The whole check of the same events does call 1 lost.
        let whole = checker::checkers::by_name("total-queue:exactly-once", &Default::default())
            .unwrap()
            .check(
                &History {
                    events: evs.clone(),
                    ..Default::default()
                },
                &Budget::default(),
            );
        assert_eq!(whole.verdict, Verdict::Invalid);
        // 2 delivered again: a duplicate, which no later op can undo.
        evs.push(ev(7, 3, EventType::Ok, "dequeue", json!(2)));
        assert!(check_prefix(&cs, &evs, &s, Instant::now()));
        let s = s.lock().unwrap();
        let first = s.first.as_ref().unwrap();
        assert!(first.what.contains("duplicated"), "{first:?}");
        assert_eq!(first.index, Some(2));
    }

    /// A lock held at the cut (acquired, no release yet) while another
    /// acquire is open: not flagged; a second grant while it is held:
    /// flagged.
    #[test]
    fn a_lock_held_at_the_cut_is_not_flagged_but_a_second_grant_is() {
        let cs = checkers(&["lock".to_string()]).unwrap();
        let mut evs = vec![
            ev(0, 0, EventType::Invoke, "acquire", json!({"ttl_ms": null})),
            ev(1, 0, EventType::Ok, "acquire", json!({"token": 1})),
            ev(2, 1, EventType::Invoke, "acquire", json!({"ttl_ms": null})),
        ];
        let s = status();
        assert!(!check_prefix(&cs, &evs, &s, Instant::now()));
        assert_eq!(s.lock().unwrap().checkers["lock"].verdict, "valid");
        evs.push(ev(3, 1, EventType::Ok, "acquire", json!({"token": 2})));
        assert!(check_prefix(&cs, &evs, &s, Instant::now()));
        let st = s.lock().unwrap();
        assert!(
            st.first.as_ref().unwrap().what.starts_with("lock"),
            "{st:?}"
        );
        drop(st);
        // Found once: not run (nor reported) again.
        assert!(!check_prefix(&cs, &evs, &s, Instant::now()));
        assert_eq!(s.lock().unwrap().checkers["lock"].checks, 2);
    }

    #[test]
    fn only_checkers_with_a_prefix_mode_are_accepted() {
        assert!(checkers(&["fifo-queue".to_string()]).is_err());
        assert!(checkers(&["linearizability".to_string()]).is_err());
        assert!(has_prefix_mode("set-full:linearizable"));
        assert!(has_prefix_mode("total-queue:at-most-once"));
        assert!(has_prefix_mode("list-append:serializable"));
        assert!(has_prefix_mode("rw-register:serializable+wfr-keys"));
        assert!(!has_prefix_mode("linearizability:cas-register"));
    }

    /// Driven as the run drives it: events in, an anomaly reported through
    /// `on_invalid` before the sender is dropped.
    #[test]
    fn the_pass_reports_through_on_invalid_while_events_still_come() {
        let cs = checkers(&["lock".to_string()]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let st = Arc::new(Mutex::new(PrefixStatus::default()));
        let (hit_tx, hit_rx) = std::sync::mpsc::channel();
        let st2 = st.clone();
        let t = std::thread::spawn(move || {
            run(
                cs,
                rx,
                st2,
                Instant::now(),
                Some(Box::new(move || {
                    let _ = hit_tx.send(());
                })),
            )
        });
        for (i, (p, kind, v)) in [
            (0, EventType::Invoke, json!({"ttl_ms": null})),
            (0, EventType::Ok, json!({"token": 1})),
            (1, EventType::Invoke, json!({"ttl_ms": null})),
            (1, EventType::Ok, json!({"token": 2})),
        ]
        .into_iter()
        .enumerate()
        {
            tx.send(ev(i as u64, p, kind, "acquire", v)).unwrap();
        }
        // Reported while the sender is still open (the run goes on).
        hit_rx.recv().unwrap();
        drop(tx);
        t.join().unwrap();
        assert!(st.lock().unwrap().first.is_some());
    }
}
