//! `faultline test`: a real chaos test end to end. Validated spec → run
//! directory → cluster → workers + nemesis → final heal → quiesce → final
//! reads → stop nodes → check → verdict.

pub mod analyze;
pub mod client;
pub mod generator;
pub mod judges;
pub mod nemesis;
pub mod spec;
pub mod store;
pub mod supervisor;
pub mod workloads;

use anyhow::{bail, Context, Result};
use client::{Client, KvClient, Outcome};
use generator::{fault_plan, FaultKind, Op, OpGen, OpKind};
use serde_json::json;
use spec::{TestArgs, TestSpec};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{Recorder, Who};
use supervisor::{Cluster, FaultTarget, KvSystem};
use tokio::sync::watch;

/// Runs `faultline test`; returns the exit code.
pub fn run(args: &TestArgs) -> i32 {
    let spec = match args.resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 255;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return 255;
        }
    };
    let mut run_dir = None;
    let res = rt.block_on(run_test(spec, &mut run_dir));
    rt.shutdown_timeout(Duration::from_secs(1));
    match res {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            if let Some(d) = run_dir {
                eprintln!("run dir: {}", d.display());
            }
            255
        }
    }
}

/// Where the process stands, shared by workers, nemesis and progress.
struct Shared {
    recorder: Arc<Recorder>,
    dispatch: Mutex<Dispatch>,
    interrupted: AtomicBool,
    stop_rx: watch::Receiver<bool>,
}

struct Dispatch {
    gen: OpGen,
    next_at: Instant,
    deadline: Instant,
}

impl Shared {
    /// The next op and when to invoke it; `None` past the time limit or
    /// after Ctrl-C. A backlog of more than a second is forgotten rather
    /// than replayed in a burst.
    fn take(&self) -> Option<(Instant, Op)> {
        if self.interrupted.load(Ordering::Relaxed) {
            return None;
        }
        let mut d = self.dispatch.lock().unwrap();
        let now = Instant::now();
        if now >= d.deadline {
            return None;
        }
        let (gap, op) = d.gen.next_op();
        let floor = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        let at = d.next_at.max(floor);
        d.next_at = at + gap;
        Some((at, op))
    }
}

/// A worker's state: its process id and client.
struct Worker {
    process: u64,
    concurrency: u64,
    client: KvClient,
}

impl Worker {
    async fn run_op(&mut self, rec: &Recorder, op: &Op) -> Outcome {
        let input = op.value();
        let node = self.client.node().to_string();
        rec.record(
            Who::Client(self.process),
            "invoke",
            op.f(),
            Some(op.key),
            &input,
            Some(&node),
            None,
        );
        let c = self.client.invoke(op).await;
        rec.record(
            Who::Client(self.process),
            c.outcome.as_str(),
            op.f(),
            Some(op.key),
            &c.value,
            Some(&node),
            c.error.as_ref(),
        );
        if c.outcome == Outcome::Info {
            // The old process may still be acting: continue as a new one.
            self.process += self.concurrency;
        }
        c.outcome
    }
}

async fn main_phase(mut w: Worker, shared: Arc<Shared>) -> Worker {
    let mut stop = shared.stop_rx.clone();
    while let Some((at, op)) = shared.take() {
        let at = tokio::time::Instant::from_std(at);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if w.run_op(&shared.recorder, &op).await == Outcome::Fail && w.client.refused() {
            // The node is down or has no leader: do not spin on it (that
            // would burn the rate and the keys on instant failures).
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    }
    w
}

/// Reads `keys` on this worker's node, each until one read succeeds (at most
/// five tries), stopping at `deadline`.
async fn final_reads(
    mut w: Worker,
    shared: Arc<Shared>,
    keys: Vec<u64>,
    deadline: Instant,
) -> Worker {
    for key in keys {
        for attempt in 0..5 {
            if Instant::now() >= deadline || shared.interrupted.load(Ordering::Relaxed) {
                return w;
            }
            let op = Op {
                key,
                kind: OpKind::Read,
            };
            if w.run_op(&shared.recorder, &op).await == Outcome::Ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
        }
    }
    w
}

fn write_line(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

/// Progress: a live line on a terminal, a plain line every 10 s otherwise.
async fn progress(shared: Arc<Shared>, time_limit: f64, mut done: watch::Receiver<bool>) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = done.wait_for(|d| *d) => break,
        }
        let c = shared.recorder.counts();
        let now = Instant::now();
        let rate = (c.invokes - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, c.invokes);
        let elapsed = shared.recorder.elapsed().as_secs_f64();
        let faults: Vec<String> = c
            .active_faults
            .iter()
            .map(|(k, v)| format!("{k} {}", v.join(",")))
            .collect();
        let line = format!(
            "[{elapsed:6.1} s] {rate:6.0} ops/s  ok {} fail {} info {}  faults: {}  {}",
            c.ok,
            c.fail,
            c.info,
            if faults.is_empty() {
                "none".to_string()
            } else {
                faults.join("; ")
            },
            if elapsed < time_limit {
                format!("ETA {:.0} s", time_limit - elapsed)
            } else {
                "final phase".to_string()
            }
        );
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
    if tty {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
    }
}

/// Waits until every node that has a leader role agrees on one (raft
/// levels, primary-async), up to `timeout`.
async fn wait_settled(cluster: &Cluster, level: &str, timeout: Duration) -> bool {
    if !(level.starts_with("raft") || level == "primary-async" || level == "at-most-once") {
        return true;
    }
    let http = systems::runtime::http::HttpClient::new();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let mut leaders = Vec::new();
        for n in cluster.infos() {
            let leader = nemesis::node_status(&http, &n.addr, Duration::from_millis(500))
                .await
                .and_then(|v| v["leader"].as_str().map(str::to_string));
            leaders.push(leader);
        }
        if leaders.iter().all(|l| l.is_some() && *l == leaders[0]) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn init_log(path: &Path) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let sub = tracing_subscriber::fmt()
        .with_writer(Mutex::new(f))
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // A second run in the same process keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(sub);
    Ok(())
}

async fn run_test(spec: TestSpec, run_dir_out: &mut Option<PathBuf>) -> Result<i32> {
    let bin_name = spec::binary_of(&spec.system);
    let (bin, bin_prefix) = match find_system_binary(&spec)? {
        Some(bin) => (bin, Vec::new()),
        None => {
            let me = std::env::current_exe().context("finding the running executable")?;
            let sub = format!("{}-node", spec.system);
            write_line(&format!(
                "note: {} not found; running the nodes as `{} {sub}` (same code, built into faultline)",
                spec.bin_dir.join(bin_name).display(),
                me.display()
            ));
            (me, vec![sub])
        }
    };
    let run_dir = store::create_run_dir(&spec.store, &spec.name)?;
    *run_dir_out = Some(run_dir.clone());
    store::write_json(
        &run_dir.join("test.json"),
        &json!({
            "name": spec.name,
            "spec": spec,
            "seed": spec.seed,
            "argv": std::env::args().collect::<Vec<_>>(),
            "version": env!("CARGO_PKG_VERSION"),
            "start": store::timestamp(std::time::SystemTime::now()),
            "bin": bin,
        }),
    )?;
    init_log(&run_dir.join("harness.log"))?;
    if let Err(e) = store::update_latest(&spec.store, &run_dir) {
        tracing::warn!("{e:#}");
    }
    write_line(&format!(
        "faultline test {}: {} nodes, {} workers, rate {}, {} s, nemesis {} every {} s, seed {}",
        spec.name,
        spec.nodes,
        spec.concurrency,
        spec.rate
            .map_or("unbounded".to_string(), |r| format!("{r}/s")),
        spec.time_limit,
        if spec.nemesis.is_empty() {
            "none".to_string()
        } else {
            spec.nemesis.join(",")
        },
        spec.nemesis_interval,
        spec.seed
    ));
    write_line(&format!("run dir: {}", run_dir.display()));
    for n in &spec.notes {
        write_line(&format!("note: {n}"));
    }
    tracing::info!(?spec, "test starting");

    let kinds = spec.fault_kinds();
    let infos = supervisor::layout(spec.nodes, &run_dir.join("nodes"))?;
    let ids: Vec<String> = infos.iter().map(|n| n.id.clone()).collect();

    // Clock faults: every node under libfaketime, or a clear refusal.
    let clocks = if kinds.contains(&FaultKind::Clock) {
        match ::nemesis::clock::preload_support(&bin) {
            Ok(::nemesis::clock::PreloadSupport::Dynamic) => {}
            Ok(other) => bail!(
                "--nemesis clock: {} cannot be preloaded with libfaketime ({other:?} binary), so its clock cannot be moved; drop `clock` from --nemesis",
                bin.display()
            ),
            Err(e) => bail!("--nemesis clock: inspecting {}: {e}", bin.display()),
        }
        let c = ::nemesis::ClockControl::new(run_dir.join("clocks"), ids.iter().cloned())
            .map_err(|e| anyhow::anyhow!("--nemesis clock: {e}"))?;
        Some(Arc::new(c))
    } else {
        None
    };
    let mut env = BTreeMap::new();
    if let Some(c) = &clocks {
        for id in &ids {
            env.insert(
                id.clone(),
                c.env_for(id)
                    .map_err(|e| anyhow::anyhow!("--nemesis clock: {e}"))?,
            );
        }
    }

    // Partitions and packet faults: a proxy on every directed link between
    // nodes, started before the nodes. Clients talk to the nodes directly.
    let mesh = if kinds.iter().any(|k| k.needs_mesh()) {
        Some(Arc::new(start_mesh(&infos).await?))
    } else {
        None
    };
    let mut peer_addrs = BTreeMap::new();
    if let Some(m) = &mesh {
        for a in &ids {
            for (b, addr) in m.peers_of(a) {
                peer_addrs.insert((a.clone(), b), addr.to_string());
            }
        }
        if spec.leave_running {
            write_line("note: --leave-running with partition/packet faults: the nodes talk through the harness's proxies, which stop with it");
        }
    }

    let system = KvSystem {
        bin,
        prefix_args: bin_prefix,
        level: spec.level.clone(),
        fsync: spec.fsync.clone(),
        extra_args: spec.node_args.clone(),
        peer_addrs,
        env,
    };
    let cluster = Arc::new(Cluster::from_layout(
        Box::new(system),
        infos,
        spec.leave_running,
    ));
    cluster.start_all()?;
    cluster
        .wait_ready(Duration::from_secs_f64(spec.ready_timeout))
        .await
        .context("waiting for the cluster to start")?;
    tracing::info!(nodes = ?cluster.pids(), "cluster ready");

    // Ctrl-C / SIGTERM: first one ends the test early (heal, stop, check);
    // a second one kills the nodes and exits at once.
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let recorder = Arc::new(Recorder::create(&run_dir.join("history.jsonl"), start)?);
    let shared = Arc::new(Shared {
        recorder: recorder.clone(),
        dispatch: Mutex::new(Dispatch {
            gen: OpGen::new(spec.seed, spec.keys, spec.ops_per_key, spec.rate),
            next_at: start,
            deadline: start + Duration::from_secs_f64(spec.time_limit),
        }),
        interrupted: AtomicBool::new(false),
        stop_rx,
    });
    {
        let shared = shared.clone();
        let cluster = cluster.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            for n in 0.. {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                if n == 0 {
                    eprintln!("\ninterrupted: healing, stopping the nodes and checking what was recorded (again to quit at once)");
                    tracing::warn!("interrupted");
                    shared.interrupted.store(true, Ordering::Relaxed);
                    let _ = stop_tx.send(true);
                } else {
                    cluster.kill_now();
                    std::process::exit(130);
                }
            }
        });
    }
    let (done_tx, done_rx) = watch::channel(false);
    let progress_task = tokio::spawn(progress(shared.clone(), spec.time_limit, done_rx));

    // Nemesis.
    let procs =
        nemesis::ProcessFaults::new(cluster.clone() as Arc<dyn FaultTarget>, recorder.clone());
    let faults = Arc::new(Mutex::new(nemesis::Nemesis::new(
        procs,
        mesh.clone()
            .map(|m| m as Arc<dyn ::nemesis::NetworkControl>),
        clocks.clone(),
        recorder.clone(),
        cluster.infos().to_vec(),
        tokio::runtime::Handle::current(),
    )));
    let plan = fault_plan(
        spec.seed,
        &ids,
        &kinds,
        &spec.partition_shapes(),
        &spec.targets,
        Duration::from_secs_f64(spec.nemesis_interval),
        Duration::from_secs_f64(spec.time_limit),
    );
    let nemesis_task = {
        let faults = faults.clone();
        let mut stop = shared.stop_rx.clone();
        tokio::spawn(async move {
            for ev in plan {
                if ev.phase == ::nemesis::Phase::FinalHeal {
                    // The final heal below ends everything.
                    continue;
                }
                let at = tokio::time::Instant::from_std(start + ev.at);
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                let faults = faults.clone();
                let _ =
                    tokio::task::spawn_blocking(move || faults.lock().unwrap().apply(&ev)).await;
            }
        })
    };

    // Workers, bound to nodes round robin.
    let infos = cluster.infos().to_vec();
    let timeout = Duration::from_secs_f64(spec.op_timeout);
    let mut tasks = Vec::new();
    let mut wl_tasks = Vec::new();
    let values = Arc::new(AtomicI64::new(1));
    let queues = Arc::new(workloads::QueueRotation::new(spec.ops_per_key));
    for w in 0..spec.concurrency {
        let n = &infos[w % infos.len()];
        if spec.workload == "register" {
            let worker = Worker {
                process: w as u64,
                concurrency: spec.concurrency as u64,
                client: KvClient::new(&n.id, &n.addr, timeout),
            };
            tasks.push(tokio::spawn(main_phase(worker, shared.clone())));
            continue;
        }
        let worker =
            workloads::Worker::new(w, spec.concurrency, &infos, spec.seed, spec.rate, timeout);
        wl_tasks.push(if spec.workload == "queue" {
            tokio::spawn(worker.queue_main(shared.clone(), values.clone(), queues.clone()))
        } else {
            tokio::spawn(worker.lock_main(shared.clone(), values.clone(), spec.level == "redlock"))
        });
    }
    let mut workers = Vec::new();
    for t in tasks {
        workers.push(t.await.context("a worker panicked")?);
    }
    let mut wl_workers = Vec::new();
    for t in wl_tasks {
        wl_workers.push(t.await.context("a worker panicked")?);
    }
    let _ = nemesis_task.await;
    let main_secs = start.elapsed().as_secs_f64();
    tracing::info!("main phase over after {main_secs:.1} s; final heal");

    // Final heal.
    {
        let faults = faults.clone();
        tokio::task::spawn_blocking(move || faults.lock().unwrap().final_heal())
            .await
            .context("the final heal panicked")?;
    }
    let interrupted = shared.interrupted.load(Ordering::Relaxed);
    if !interrupted {
        // Quiesce, then final reads on every node.
        let ready = cluster
            .wait_ready(Duration::from_secs_f64(spec.ready_timeout))
            .await;
        if let Err(e) = &ready {
            tracing::warn!("after the final heal: {e:#}");
        }
        if !wait_settled(&cluster, &spec.level, Duration::from_secs(15)).await {
            tracing::warn!("no agreed leader 15 s after the final heal");
        }
        tokio::time::sleep(Duration::from_secs_f64(spec.quiesce)).await;
        if spec.workload == "queue" {
            drain_queue(&spec, &shared, wl_workers, queues.used()).await?;
        }
        let keys_used = shared.dispatch.lock().unwrap().gen.keys_used();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut tasks = Vec::new();
        for (ni, _) in infos.iter().enumerate() {
            let mine: Vec<Worker> = {
                let (a, b): (Vec<Worker>, Vec<Worker>) = std::mem::take(&mut workers)
                    .into_iter()
                    .partition(|w| w.client.node() == infos[ni].id);
                workers = b;
                a
            };
            let k = mine.len() as u64;
            for (rank, w) in mine.into_iter().enumerate() {
                let keys: Vec<u64> = (0..keys_used)
                    .filter(|key| key % k == rank as u64)
                    .collect();
                tasks.push(tokio::spawn(final_reads(w, shared.clone(), keys, deadline)));
            }
        }
        for t in tasks {
            t.await.context("a worker panicked")?;
        }
    }
    let _ = done_tx.send(true);
    let _ = progress_task.await;

    // Stop the nodes (their logs are already under nodes/<id>/).
    if spec.leave_running {
        write_line("nodes left running (stop them with kill -9 -PID):");
        for ((id, pid), info) in cluster.pids().into_iter().zip(cluster.infos()) {
            write_line(&format!("  {id} {} pid {pid}", info.addr));
        }
    } else {
        let c = cluster.clone();
        tokio::task::spawn_blocking(move || c.stop_all()).await?;
    }
    if let Some(e) = recorder.error() {
        bail!("the history could not be written: {e}");
    }
    tracing::info!("checking");
    let dir = run_dir.clone();
    let checkers = judges::checkers_for(&spec.workload, &spec.level);
    let check_timeout = Duration::from_secs_f64(spec.check_timeout);
    let results = tokio::task::spawn_blocking(move || {
        analyze::check_run(&dir, &checkers, check_timeout, Some(interrupted))
    })
    .await??;
    tracing::info!(verdict = %results.verdict, "done");
    let drop_data = !spec.leave_running
        && match spec.keep_data.as_str() {
            "never" => true,
            "invalid" => results.verdict == checker::Verdict::Valid,
            _ => false,
        };
    if drop_data {
        for n in cluster.infos() {
            if let Err(e) = std::fs::remove_dir_all(&n.data_dir) {
                tracing::warn!("--keep-data: removing {}: {e}", n.data_dir.display());
            }
        }
    }
    analyze::print_table(&results, &mut std::io::stdout().lock());
    let code = results.verdict.exit_code();
    Ok(if interrupted && code == 0 { 2 } else { code })
}

/// Starts the proxy mesh for `infos` (retrying if a proxy happened to get a
/// node's port, which the nodes have not bound yet).
async fn start_mesh(infos: &[supervisor::NodeInfo]) -> Result<::nemesis::ProxyMesh> {
    let nodes: Vec<(String, std::net::SocketAddr)> = infos
        .iter()
        .map(|n| Ok((n.id.clone(), n.addr.parse()?)))
        .collect::<Result<_>>()?;
    let node_addrs: std::collections::BTreeSet<std::net::SocketAddr> =
        nodes.iter().map(|(_, a)| *a).collect();
    for _ in 0..5 {
        let mesh = ::nemesis::ProxyMesh::start(&nodes)
            .await
            .context("starting the proxy mesh")?;
        let clash = nodes
            .iter()
            .any(|(a, _)| mesh.peers_of(a).iter().any(|(_, p)| node_addrs.contains(p)));
        if !clash {
            return Ok(mesh);
        }
        mesh.shutdown();
    }
    bail!("the proxy mesh kept getting the nodes' ports")
}

/// After the final heal: waits out the visibility timeout (levels with
/// redelivery), then drains every node in turn (on each of the `queues`
/// queues used, dequeue and ack until the node answers `message: null`),
/// with the first worker bound to it.
async fn drain_queue(
    spec: &TestSpec,
    shared: &Arc<Shared>,
    workers: Vec<workloads::Worker>,
    queues: u64,
) -> Result<()> {
    if spec.level != "at-most-once" {
        tokio::time::sleep(Duration::from_millis(workloads::VISIBILITY_MS + 500)).await;
    }
    // A message taken by a dequeue whose reply was lost stays in flight
    // until its visibility timeout runs out (on primary-async, by the
    // primary's wall clock: after a forward clock jump that can be minutes
    // away). Drain again until nothing is in flight (or the deadline passes).
    let deadline = Instant::now() + Duration::from_secs(DRAIN_SECS);
    let mut seen = std::collections::BTreeSet::new();
    let mut drainers: Vec<workloads::Worker> = workers
        .into_iter()
        .filter(|w| seen.insert(w.conn.node.clone()))
        .collect();
    let http = systems::runtime::http::HttpClient::new();
    loop {
        let mut back = Vec::new();
        for w in drainers {
            tracing::info!(node = %w.conn.node, "draining");
            back.push(
                tokio::spawn(w.drain(shared.clone(), deadline, queues))
                    .await
                    .context("a drain panicked")?,
            );
        }
        drainers = back;
        if Instant::now() >= deadline || shared.interrupted.load(Ordering::Relaxed) {
            tracing::warn!("drain deadline passed");
            return Ok(());
        }
        // Messages still in flight, summed over the queues (asked of the
        // first node that answers).
        let mut in_flight = None;
        for w in &drainers {
            let mut sum = Some(0u64);
            for q in 0..queues {
                let r = nemesis::node_json(
                    &http,
                    w.conn.addr(),
                    &format!("/queue/q{q}"),
                    Duration::from_secs(2),
                )
                .await;
                sum = match (sum, r.and_then(|v| v["in_flight"].as_u64())) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                if sum.is_none() {
                    break;
                }
            }
            if sum.is_some() {
                in_flight = sum;
                break;
            }
        }
        match in_flight {
            Some(0) => return Ok(()),
            n => tracing::info!(?n, "messages still in flight; draining again"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// How long the queue's final drain may take, seconds (clock bumps move
/// visibility deadlines by up to 5 minutes).
const DRAIN_SECS: u64 = 330;

/// The system's binary in `--bin-dir`; `None` when the default bin dir
/// lacks it (the caller then runs the nodes from this executable).
fn find_system_binary(spec: &TestSpec) -> Result<Option<PathBuf>> {
    let bin = spec.bin_dir.join(spec::binary_of(&spec.system));
    if bin.is_file() {
        return Ok(Some(bin));
    }
    if spec.bin_dir_given {
        bail!(
            "--bin-dir: {} not found; build it with `cargo build --release -p systems`",
            bin.display()
        );
    }
    Ok(None)
}

/// `faultline kv-node ARGS`: one `faultline-kv` node run from this
/// executable (same flags as `faultline-kv`), for when the separate binary
/// was not built (e.g. `cargo run -- test` on a fresh clone).
pub fn kv_node(args: &[String]) -> i32 {
    let cfg = match systems::kv::config::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faultline kv-node: {e}");
            return 2;
        }
    };
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let raft_level = if cfg.log_level > tracing::Level::INFO {
            cfg.log_level
        } else {
            tracing::Level::WARN.min(cfg.log_level)
        };
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(cfg.log_level)
            .with_target("openraft", raft_level);
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .with(filter)
            .try_init();
    }
    if let Err(e) = systems::kv::run(cfg) {
        tracing::error!("{e:#}");
        eprintln!("faultline kv-node: {e:#}");
        return 1;
    }
    0
}

/// `faultline queue-node ARGS` / `faultline lock-node ARGS`: one
/// `faultline-queue` / `faultline-lock` node run from this executable (same
/// flags), for when the separate binary was not built.
pub fn system_node(system: &str, args: &[String]) -> i32 {
    use systems::runtime::node;
    let (spec, run): (&node::Spec, fn(node::NodeConfig) -> anyhow::Result<()>) = match system {
        "queue" => (&systems::queue::SPEC, systems::queue::run),
        _ => (&systems::lock::SPEC, systems::lock::run),
    };
    let cfg = match node::parse(spec, args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faultline {system}-node: {e}");
            return 2;
        }
    };
    node::init_logging(cfg.log_level);
    if let Err(e) = run(cfg) {
        tracing::error!("{e:#}");
        eprintln!("faultline {system}-node: {e:#}");
        return 1;
    }
    0
}

/// What `faultline systems` prints.
pub fn systems_text() -> String {
    format!(
        "systems:\n  kv    faultline-kv, a replicated key-value store (binary: faultline-kv)\n        levels: {}\n        workloads: register\n  \
         queue faultline-queue, a replicated work queue with acks and redelivery (binary: faultline-queue)\n        levels: {}\n        workloads: queue\n  \
         lock  faultline-lock, a lock service with leases and a fenced resource (binary: faultline-lock)\n        levels: {}\n        workloads: lock\n\
         workloads:\n  register  independent cas-registers (read, write, cas), checked per key for linearizability\n  \
         queue     unique values enqueued, dequeued and acked concurrently on short-lived queues (--ops-per-key ops each), every queue drained on every node after the final heal; total-queue (lost, duplicated, unexpected, recovered) with the level's delivery guarantee (raft, primary-async: at-least-once; at-most-once: at-most-once)\n  \
         lock      acquire with a TTL, sometimes hold past it, write the fenced resource with the token, release (redlock: the client runs the Redlock algorithm); mutual exclusion, fencing, mutex linearizability\n\
         faults (--nemesis, default {}):\n  \
         partition  cut links through a proxy mesh; shapes (--partition): {}\n  \
         packet     delay with jitter, loss or a bandwidth limit on some links (same proxies)\n  \
         kill       SIGKILL one / a minority / a majority / all nodes / the primaries, then restart them on their data dirs\n  \
         pause      SIGSTOP one / a minority / a majority / all nodes / the primaries, then SIGCONT\n  \
         clock      bump wall clocks (ms to minutes, either way), strobe them, reset (libfaketime)\n\
         targets (--targets, default any): one, minority, majority, all, primaries (every node that says it leads when the fault starts)\n",
        spec::LEVELS.join(", "),
        systems::queue::LEVELS.join(", "),
        systems::lock::LEVELS.join(", "),
        spec::DEFAULT_NEMESIS,
        ::nemesis::PartitionShape::ALL
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    )
}
