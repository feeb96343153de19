//! The `Workload` seam: one bundle of seeded op generation, the client for
//! a node, the final phase (final reads, drains) and the checkers that
//! judge the history. Each workload lives in its own file and registers in
//! [`KINDS`]; the run driver names none of them.
//!
//! The driver owns the one worker loop ([`Driver::run_op`]): it records the
//! invocation, lets the client invoke the op, records the completion, and
//! applies the info rule — a process whose op ended in `info` is retired
//! and its worker continues as a new process (old id + concurrency),
//! because the old one might still be acting.

pub mod etcd;
pub mod faultline_http;
pub mod list_append;
pub mod lock;
pub mod postgres;
pub mod queue;
pub mod register;
pub mod resp;
pub mod set;
pub mod zookeeper;

use super::spec::TestSpec;
use super::store::{Recorder, Who};
use super::supervisor::NodeInfo;
use anyhow::{bail, Result};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How an op ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// One client operation, as recorded: `f`, the key (the independent
/// sub-history it belongs to) and the invocation's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub f: &'static str,
    /// `None` for an op over several keys (a transaction): the history
    /// line then has no `key`.
    pub key: Option<u64>,
    pub value: Value,
}

impl Op {
    /// A read of `key` (the invocation carries no value).
    pub fn read(key: u64) -> Op {
        Op {
            f: "read",
            key: Some(key),
            value: Value::Null,
        }
    }

    /// The key of a keyed op (0 for a transaction, which no keyed client
    /// is given).
    pub fn key(&self) -> u64 {
        self.key.unwrap_or(0)
    }
}

/// An op stream the workers share (the register, set, list-append and
/// rw-register workloads' seeded generators).
pub trait OpStream: Send {
    fn next_op(&mut self) -> Op;
}

/// A worker's view of a shared [`OpStream`]: a pace before every op.
pub struct PacedShare<G> {
    gen: Arc<Mutex<G>>,
    paced: bool,
}

impl<G> PacedShare<G> {
    pub fn new(gen: Arc<Mutex<G>>) -> PacedShare<G> {
        PacedShare { gen, paced: false }
    }
}

impl<G: OpStream> Generator for PacedShare<G> {
    fn next(&mut self, _last: Option<(&Op, &Completion)>) -> Next {
        self.paced = !self.paced;
        if self.paced {
            Next::Pace
        } else {
            Next::Op(self.gen.lock().unwrap().next_op())
        }
    }
}

/// How an op completed.
#[derive(Debug, Clone)]
pub struct Completion {
    pub outcome: Outcome,
    /// The completion's value in the history.
    pub value: Value,
    pub error: Option<Value>,
    /// The node was not serving (connection refused, unavailable, not the
    /// leader): the driver backs off a little before the worker's next op.
    pub refused: bool,
    /// What the generator may need of the answer (a lock token, a message
    /// id); not recorded.
    pub answer: Value,
}

/// A generator's next step for its worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Invoke this op.
    Op(Op),
    /// A new cycle starts: wait for the worker's turn at the requested
    /// rate; the run may end here (time limit, Ctrl-C). Ops between two
    /// `Pace`s always run, so a cycle (acquire … release) is never cut.
    Pace,
    /// Wait this long (a held lock), unless the run is stopped.
    Sleep(Duration),
    /// Nothing more for this worker (a finite generator; the bundled
    /// workloads run until the time limit).
    #[allow(dead_code)]
    Done,
}

/// A worker's seeded op stream; pure given the completions it is shown.
pub trait Generator: Send {
    /// The next step; `last` is the worker's previous op and how it ended.
    fn next(&mut self, last: Option<(&Op, &Completion)>) -> Next;
}

/// One worker's connection to the system, speaking its protocol.
pub trait Client: Send {
    /// The node this client is bound to.
    fn home(&self) -> &str;
    /// The node `op` goes to (recorded with it).
    fn node_for(&self, op: &Op) -> String {
        let _ = op;
        self.home().to_string()
    }
    fn invoke<'a>(&'a mut self, op: &'a Op) -> BoxFuture<'a, Completion>;
}

/// Makes worker `w`'s client, bound to its home node (`w % nodes`).
pub type ClientMaker = Box<dyn Fn(usize) -> Box<dyn Client> + Send + Sync>;

/// What a workload is built from.
pub struct Setup<'a> {
    pub spec: &'a TestSpec,
    pub nodes: &'a [NodeInfo],
    /// The system's workload options at the level under test.
    pub options: &'a toml::Table,
}

impl Setup<'_> {
    /// A string option, or `default`.
    pub fn option_str<'b>(&'b self, key: &str, default: &'b str) -> Result<&'b str> {
        match self.options.get(key) {
            None => Ok(default),
            Some(toml::Value::String(s)) => Ok(s),
            Some(v) => bail!("workload option {key}: expected a string, got {v}"),
        }
    }

    /// A positive integer option, or `default`.
    pub fn option_count(&self, key: &str, default: u64) -> Result<u64> {
        match self.options.get(key) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) if *i >= 1 => Ok(*i as u64),
            Some(v) => bail!("workload option {key}: expected a positive integer, got {v}"),
        }
    }

    /// A boolean option, or `default`.
    pub fn option_bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.options.get(key) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(v) => bail!("workload option {key}: expected true or false, got {v}"),
        }
    }
}

/// A workload as the registry knows it.
pub trait WorkloadKind: Sync {
    fn name(&self) -> &'static str;
    /// One line for `faultline systems`.
    fn describe(&self) -> &'static str;
    /// The client protocols it has a client for.
    fn protocols(&self) -> &'static [&'static str];
    /// The option keys it reads from a system file (`options`), with what
    /// they mean.
    fn options(&self) -> &'static [(&'static str, &'static str)];
    fn build(&self, setup: &Setup) -> Result<Arc<dyn Workload>>;
}

/// A workload built for one run.
pub trait Workload: Send + Sync {
    /// Worker `w`'s seeded op stream.
    fn generator(&self, worker: usize) -> Box<dyn Generator>;
    /// Worker `w`'s client, bound to its home node (round robin).
    fn client(&self, worker: usize) -> Box<dyn Client>;
    /// After the final heal and quiesce: the final reads or drains, run
    /// through [`Driver::run_op`] with the workers the main phase left.
    fn final_phase<'a>(&'a self, driver: &'a Driver, workers: Vec<Worker>) -> BoxFuture<'a, ()>;
    /// The checkers that judge the history, by name (see `faultline check
    /// --checker`).
    fn checkers(&self) -> Vec<String>;
}

/// Every workload, in the order `faultline systems` lists them.
pub static KINDS: [&dyn WorkloadKind; 6] = [
    &register::Register,
    &queue::Queue,
    &lock::Lock,
    &set::Set,
    &list_append::LIST_APPEND,
    &list_append::RW_REGISTER,
];

pub fn find(name: &str) -> Option<&'static dyn WorkloadKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// A worker: its current process id and its client.
pub struct Worker {
    pub process: u64,
    pub client: Box<dyn Client>,
}

/// The run's shared state as the workers see it: the recorder, the pacing
/// and the stop signals.
pub struct Driver {
    pub recorder: Arc<Recorder>,
    pub concurrency: u64,
    pub interrupted: AtomicBool,
    pub stop_rx: watch::Receiver<bool>,
    pub deadline: Instant,
    pacer: Mutex<Pacer>,
}

/// Hands out invocation slots at the requested total rate (±50% jitter);
/// a backlog of more than a second is forgotten rather than replayed in a
/// burst.
struct Pacer {
    rng: rand_chacha::ChaCha8Rng,
    mean_gap_ns: Option<f64>,
    next_at: Instant,
}

impl Pacer {
    /// The next invocation slot, asked at `now`.
    fn slot(&mut self, now: Instant) -> Instant {
        use rand::Rng;
        let gap = match self.mean_gap_ns {
            Some(mean) => Duration::from_nanos((mean * self.rng.random_range(0.5..1.5)) as u64),
            None => Duration::ZERO,
        };
        let floor = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        let at = self.next_at.max(floor);
        self.next_at = at + gap;
        at
    }
}

impl Driver {
    pub fn new(
        recorder: Arc<Recorder>,
        spec: &TestSpec,
        start: Instant,
        stop_rx: watch::Receiver<bool>,
    ) -> Driver {
        use rand::SeedableRng;
        Driver {
            recorder,
            concurrency: spec.concurrency as u64,
            interrupted: AtomicBool::new(false),
            stop_rx,
            deadline: start + Duration::from_secs_f64(spec.time_limit),
            pacer: Mutex::new(Pacer {
                rng: rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed ^ 0x005e_ed0f_9ace),
                mean_gap_ns: spec.rate.filter(|r| *r > 0.0).map(|r| 1e9 / r),
                next_at: start,
            }),
        }
    }

    pub fn stopped(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed) || *self.stop_rx.borrow()
    }

    /// Sleeps `d`; false when the run was stopped meanwhile.
    pub async fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.interrupted.load(Ordering::Relaxed),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    /// Waits for the next invocation slot; false when the run is over
    /// (time limit or stop).
    async fn pace(&self) -> bool {
        let at = {
            let now = Instant::now();
            if now >= self.deadline || self.stopped() {
                return false;
            }
            self.pacer.lock().unwrap().slot(now)
        };
        // A slot past the time limit is never taken: at a low rate the
        // worker waits out the limit, and the run ends at it, not at the
        // next slot.
        let at = at.min(self.deadline);
        let mut stop = self.stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
            _ = stop.wait_for(|s| *s) => return false,
        }
        Instant::now() < self.deadline && !self.stopped()
    }

    /// The one place an op is run: record the invocation, invoke, record
    /// the completion; after an `info` the worker continues as a new
    /// process.
    pub async fn run_op(&self, w: &mut Worker, op: &Op) -> Completion {
        let node = w.client.node_for(op);
        self.recorder.record(
            Who::Client(w.process),
            "invoke",
            op.f,
            op.key,
            &op.value,
            Some(&node),
            None,
        );
        let c = w.client.invoke(op).await;
        self.recorder.record(
            Who::Client(w.process),
            c.outcome.as_str(),
            op.f,
            op.key,
            &c.value,
            Some(&node),
            c.error.as_ref(),
        );
        if c.outcome == Outcome::Info {
            w.process += self.concurrency;
        }
        c
    }

    /// The main phase of one worker: its generator's ops until the time
    /// limit, a stop, or the generator is done.
    pub async fn main_loop(&self, mut w: Worker, mut gen: Box<dyn Generator>) -> Worker {
        let mut last: Option<(Op, Completion)> = None;
        loop {
            let next = gen.next(last.as_ref().map(|(o, c)| (o, c)));
            match next {
                Next::Done => break,
                Next::Pace => {
                    if !self.pace().await {
                        break;
                    }
                }
                Next::Sleep(d) => {
                    // A held lock is still released when the run stops
                    // meanwhile: the cycle goes on.
                    let _ = self.sleep(d).await;
                }
                Next::Op(op) => {
                    let c = self.run_op(&mut w, &op).await;
                    if c.outcome == Outcome::Fail
                        && c.refused
                        && !self.sleep(Duration::from_millis(100)).await
                    {
                        // The node is down or has no leader: do not spin on it.
                        break;
                    }
                    last = Some((op, c));
                }
            }
        }
        w
    }
}

/// Runs borrowed futures concurrently (on this task).
pub async fn all<F: std::future::Future<Output = ()>>(futs: Vec<F>) {
    let mut futs: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        futs.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if futs.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// Runs the futures concurrently and returns their outputs in order.
pub async fn join_all<F, I>(futs: I) -> Vec<F::Output>
where
    I: IntoIterator<Item = F>,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a request task panicked"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pacer(rate: Option<f64>, start: Instant) -> Pacer {
        Pacer {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(3),
            mean_gap_ns: rate.map(|r| 1e9 / r),
            next_at: start,
        }
    }

    #[test]
    fn slots_keep_the_rate_on_average_and_forget_old_backlog() {
        let t0 = Instant::now();
        let mut p = pacer(Some(200.0), t0);
        let last = (0..2000).map(|_| p.slot(t0)).last().unwrap();
        let secs = last.duration_since(t0).as_secs_f64();
        assert!((9.0..11.0).contains(&secs), "{secs}");
        // Asked 30 s late, the pacer does not replay 30 s of slots.
        let mut p = pacer(Some(200.0), t0);
        let late = t0 + Duration::from_secs(30);
        let s = p.slot(late);
        assert_eq!(s, late - Duration::from_secs(1));
        // Unbounded: every slot is now.
        let mut p = pacer(None, t0);
        assert!((0..100).all(|_| p.slot(t0) == t0));
    }
}
