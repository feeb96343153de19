//! `faultline test`: a real chaos test end to end, in phases: validated
//! spec → [`prepare`] (run directory, `test.json`, the system's binary) →
//! [`start_cluster`] (proxy mesh, clocks, nodes, readiness) →
//! [`main_phase`] (workers and nemesis until the time limit) →
//! [`final_phase`] (final heal, settle, the workload's final reads or
//! drains) → [`finish`] (stop the nodes, check, verdict). The driver names
//! no system and no workload: the system is a [`SystemDef`], the workload
//! a [`workload::Workload`].

pub mod analyze;
pub mod http;
pub mod judges;
mod online;
mod online_prefix;
mod progress;
pub mod spec;
pub mod store;
pub mod supervisor;
pub mod target;
pub mod workload;

use crate::system::SystemDef;
use ::nemesis::fault_plan;
use anyhow::{bail, Context, Result};
use serde_json::json;
use spec::{TestArgs, TestSpec};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::Recorder;
use supervisor::{Cluster, Launcher, NodeInfo};
use tokio::sync::watch;
use workload::{Driver, Setup, Worker, Workload};

/// Runs `faultline test`; returns the exit code.
pub fn run(args: &TestArgs) -> i32 {
    let spec = match args.resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 255;
        }
    };
    // Network namespaces come first: this thread then moves into the
    // bridge namespace, and the runtime's threads, started from it, live
    // there too, so every client and probe reaches the nodes' private
    // addresses (and nothing else).
    let net = if spec.network == crate::system::Network::Netns {
        let ids: Vec<String> = (1..=spec.nodes).map(|i| format!("n{i}")).collect();
        let mode = spec.partition_cut.parse().unwrap_or_default();
        let net = match ::nemesis::NetnsCluster::create(&ids, mode) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: creating the network namespaces: {e}");
                return 255;
            }
        };
        if let Err(e) = net.enter_bridge() {
            eprintln!("error: entering the bridge namespace: {e}");
            return 255;
        }
        Some(net)
    } else {
        None
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
    let res = rt.block_on(run_test(spec, net, &mut run_dir));
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

pub(crate) fn write_line(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
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

/// What `{bin}` expands to: the system's binary, or (a bundled system whose
/// binary was not built, without `--bin-dir`) this executable and the
/// system's builtin subcommand.
fn node_program(spec: &TestSpec) -> Result<Vec<String>> {
    let def = &spec.def;
    let Some(name) = &def.binary else {
        return Ok(Vec::new());
    };
    if let Some(bin) = def.find_binary(&spec.bin_dir) {
        // Nodes run in their own directories: the path must be absolute.
        let bin = bin
            .canonicalize()
            .with_context(|| format!("resolving {}", bin.display()))?;
        return Ok(vec![bin.display().to_string()]);
    }
    match &def.builtin {
        Some(sub) if !spec.bin_dir_given => {
            let me = std::env::current_exe().context("finding the running executable")?;
            write_line(&format!(
                "note: {} not found; running the nodes as `{} {sub}` (same code, built into faultline)",
                spec.bin_dir.join(name).display(),
                me.display()
            ));
            Ok(vec![me.display().to_string(), sub.clone()])
        }
        Some(_) => bail!(
            "--bin-dir: {} not found; build it with `cargo build --release -p systems`",
            spec.bin_dir.join(name).display()
        ),
        None => bail!(
            "{}: binary {name:?} not found (looked in {} and on PATH)",
            def.source,
            spec.bin_dir.display()
        ),
    }
}

/// Phase 1: the run directory, `test.json` (written first), the log, the
/// node program and the workload.
async fn prepare(
    spec: &TestSpec,
    net: Option<&::nemesis::NetnsCluster>,
    run_dir_out: &mut Option<PathBuf>,
) -> Result<(PathBuf, Vec<String>, Vec<NodeInfo>, Arc<dyn Workload>)> {
    let program = node_program(spec)?;
    let run_dir = store::create_run_dir(&spec.store, &spec.name)?;
    *run_dir_out = Some(run_dir.clone());
    let nodes_dir = run_dir.join("nodes");
    let infos = match net {
        Some(net) => {
            supervisor::layout_netns(spec.nodes, &spec.def.ports, &nodes_dir, net, spec.def.port)?
        }
        None => supervisor::layout(spec.nodes, &spec.def.ports, &nodes_dir)?,
    };
    let options = spec.def.options_at(&spec.level);
    let kind = workload::find(&spec.workload).context("the workload vanished")?;
    let workload = kind
        .build(&Setup {
            spec,
            nodes: &infos,
            options: &options,
        })
        .with_context(|| format!("{}: level {}", spec.def.source, spec.level))?;
    store::write_json(
        &run_dir.join("test.json"),
        &json!({
            "name": spec.name,
            "spec": spec,
            "seed": spec.seed,
            "argv": std::env::args().collect::<Vec<_>>(),
            "version": env!("CARGO_PKG_VERSION"),
            "start": store::timestamp(std::time::SystemTime::now()),
            "bin": program,
            "checkers": workload.checkers(),
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
    Ok((run_dir, program, infos, workload))
}

/// What [`start_cluster`] sets up.
struct Faulty {
    cluster: Arc<Cluster>,
    /// The proxy mesh or the network namespaces, when faults need one.
    net: Option<Arc<dyn ::nemesis::NetworkControl>>,
    clocks: Option<Arc<::nemesis::ClockControl>>,
}

/// Phase 2: clocks under libfaketime, the proxy mesh, the nodes, and the
/// wait until every node is ready.
async fn start_cluster(
    spec: &TestSpec,
    run_dir: &Path,
    program: Vec<String>,
    infos: Vec<NodeInfo>,
    netns: Option<Arc<::nemesis::NetnsCluster>>,
) -> Result<Faulty> {
    let kinds = spec.fault_kinds();
    let ids: Vec<String> = infos.iter().map(|n| n.id.clone()).collect();

    // Clock faults: every node under libfaketime, or a clear refusal.
    let clocks = if spec.moves_clocks() {
        let Some(bin) = program.first().map(PathBuf::from) else {
            bail!("--nemesis clock: {} starts no binary of its own to preload libfaketime into; drop `clock` from --nemesis", spec.def.source);
        };
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
    // nodes (their main port), started before the nodes. Clients talk to
    // the nodes directly.
    let mesh = if kinds.iter().any(|k| k.needs_mesh()) && netns.is_none() {
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

    let launcher = Launcher {
        def: spec.def.clone(),
        level: spec.level.clone(),
        bin: program,
        fsync: spec.fsync.clone(),
        extra_args: spec.node_args.clone(),
        peer_addrs,
        env,
    };
    let cluster = Arc::new(Cluster::from_layout(launcher, infos, spec.leave_running));
    cluster.start_all()?;
    cluster
        .wait_ready(Duration::from_secs_f64(spec.ready_timeout))
        .await
        .context("waiting for the cluster to start")?;
    tracing::info!(nodes = ?cluster.pids(), "cluster ready");
    // Faults start once the nodes agree on a leader (where they lead): a
    // fault aimed at the primaries then finds one, and the first seconds
    // measure the system, not its first election.
    if cluster.has_leaders() && !wait_settled(&cluster, Duration::from_secs(15)).await {
        tracing::warn!("no agreed leader 15 s after the nodes were ready");
    }
    let net = match netns {
        Some(n) => Some(n as Arc<dyn ::nemesis::NetworkControl>),
        None => mesh.map(|m| m as Arc<dyn ::nemesis::NetworkControl>),
    };
    Ok(Faulty {
        cluster,
        net,
        clocks,
    })
}

/// Ctrl-C and SIGTERM, from the start of the run to its end: the first
/// ends the test early (while the cluster starts: stop it, record that
/// nothing ran; later: heal, stop, check what was recorded); a second one
/// kills the nodes and exits at once. A history write error stops the run
/// the same way, quietly.
struct Signals {
    interrupted: AtomicBool,
    stop_tx: watch::Sender<bool>,
    cluster: Mutex<Option<Arc<Cluster>>>,
    driver: Mutex<Option<Arc<Driver>>>,
}

impl Signals {
    /// Installs the handlers (on the current runtime).
    fn install() -> Arc<Signals> {
        let (stop_tx, _) = watch::channel(false);
        let me = Arc::new(Signals {
            interrupted: AtomicBool::new(false),
            stop_tx,
            cluster: Mutex::new(None),
            driver: Mutex::new(None),
        });
        let signals = me.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                tracing::warn!("cannot install the SIGINT/SIGTERM handlers");
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
                    signals.stop();
                } else {
                    if let Some(c) = signals
                        .cluster
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                    {
                        c.kill_now();
                    }
                    std::process::exit(130);
                }
            }
        });
        me
    }

    /// Ends the run early: the workers and the nemesis stop, the final
    /// phase only heals.
    fn stop(&self) {
        self.interrupted.store(true, Ordering::Relaxed);
        if let Some(d) = self
            .driver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            d.interrupted.store(true, Ordering::Relaxed);
        }
        self.stop_tx.send_replace(true);
    }

    fn stopped(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Resolves once the run is stopped.
    async fn wait(&self) {
        let mut rx = self.stop_tx.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Phase 3: the workers run their generators against their home nodes
/// (round robin) while the nemesis plays its seeded plan, until the time
/// limit or a stop. Returns the workers for the final phase.
async fn main_phase(
    spec: &TestSpec,
    driver: &Arc<Driver>,
    workload: &Arc<dyn Workload>,
    faults: &Arc<Mutex<::nemesis::Nemesis>>,
    ids: &[String],
    start: Instant,
) -> Result<Vec<Worker>> {
    let mut plan = fault_plan(
        spec.seed,
        ids,
        &spec.fault_kinds(),
        &spec.partition_shapes(),
        &spec.targets,
        Duration::from_secs_f64(spec.nemesis_interval),
        Duration::from_secs_f64(spec.time_limit),
    );
    if spec.network == crate::system::Network::Netns {
        // No netem on this kernel: delay faults become loss or bandwidth.
        ::nemesis::plan::without_delay(&mut plan, spec.seed);
    }
    let nemesis_task = {
        let faults = faults.clone();
        let mut stop = driver.stop_rx.clone();
        tokio::spawn(async move {
            for ev in plan {
                if ev.phase == ::nemesis::Phase::FinalHeal {
                    // The final heal ends everything.
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
    let mut tasks = Vec::new();
    for w in 0..spec.concurrency {
        let worker = Worker {
            process: w as u64,
            client: workload.client(w),
        };
        let gen = workload.generator(w);
        let driver = driver.clone();
        tasks.push(tokio::spawn(
            async move { driver.main_loop(worker, gen).await },
        ));
    }
    let mut workers = Vec::new();
    for t in tasks {
        workers.push(t.await.context("a worker panicked")?);
    }
    let _ = nemesis_task.await;
    Ok(workers)
}

/// Waits until the nodes agree on one leader, by the system's leader probe
/// (all name the same one, or, when the probe names none, exactly one
/// says it leads), up to `timeout`.
async fn wait_settled(cluster: &Cluster, timeout: Duration) -> bool {
    if !cluster.has_leaders() {
        return true;
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let s = cluster.leader_status(Duration::from_millis(500)).await;
        let named: Vec<Option<String>> = s.iter().map(|(_, _, l)| l.clone()).collect();
        let all = s.len() == cluster.infos().len();
        // Every node names the same leader; or, for a probe that names
        // none, exactly one node says it leads.
        let agreed = named.iter().all(|l| l.is_some() && *l == named[0]);
        let one_leads = named.iter().all(Option::is_none)
            && s.iter().filter(|(_, leads, _)| *leads).count() == 1;
        if all && (agreed || one_leads) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Phase 4: heal every fault; unless interrupted, wait for the nodes and
/// an agreed leader, quiesce, and run the workload's final phase.
async fn final_phase(
    spec: &TestSpec,
    driver: &Arc<Driver>,
    workload: &Arc<dyn Workload>,
    faults: &Arc<Mutex<::nemesis::Nemesis>>,
    cluster: &Cluster,
    workers: Vec<Worker>,
) -> Result<()> {
    driver.recorder.marker("phase", json!("final-heal"));
    {
        let faults = faults.clone();
        tokio::task::spawn_blocking(move || faults.lock().unwrap().final_heal())
            .await
            .context("the final heal panicked")?;
    }
    if driver.interrupted.load(Ordering::Relaxed) {
        return Ok(());
    }
    if let Err(e) = cluster
        .wait_ready(Duration::from_secs_f64(spec.ready_timeout))
        .await
    {
        tracing::warn!("after the final heal: {e:#}");
    }
    if !wait_settled(cluster, Duration::from_secs(15)).await {
        tracing::warn!("no agreed leader 15 s after the final heal");
    }
    tokio::time::sleep(Duration::from_secs_f64(spec.quiesce)).await;
    driver.recorder.marker("phase", json!("final-reads"));
    workload.final_phase(driver, workers).await;
    Ok(())
}

/// Phase 5: stop the nodes (or leave them running), collect their extra
/// logs, check the history, drop data dirs as `--keep-data` says, print
/// the verdict table. Returns the exit code.
async fn finish(
    spec: &TestSpec,
    run_dir: &Path,
    cluster: &Arc<Cluster>,
    recorder: &Recorder,
    checkers: &[String],
) -> Result<i32> {
    if spec.leave_running {
        write_line("nodes left running (stop them with kill -9 -PID):");
        for ((id, pid), info) in cluster.pids().into_iter().zip(cluster.infos()) {
            write_line(&format!("  {id} {} pid {pid}", info.addr));
        }
    } else {
        let c = cluster.clone();
        tokio::task::spawn_blocking(move || c.stop_all()).await?;
    }
    for p in cluster.collect_logs() {
        tracing::warn!("log not collected: {p}");
    }
    if let Some(e) = recorder.error() {
        bail!("the history could not be written: {e}");
    }
    tracing::info!("checking");
    let (results, code) = judge(run_dir, checkers, spec).await?;
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
    Ok(code)
}

/// Checks the run's history (off the async threads), prints the verdict
/// table; returns the results and the exit code.
async fn judge(
    run_dir: &Path,
    checkers: &[String],
    spec: &TestSpec,
) -> Result<(checker::results::RunResults, i32)> {
    let dir = run_dir.to_path_buf();
    let checkers = checkers.to_vec();
    let timeout = Duration::from_secs_f64(spec.check_timeout);
    let (results, report_error) =
        tokio::task::spawn_blocking(move || analyze::check_run(&dir, &checkers, timeout)).await??;
    tracing::info!(verdict = %results.verdict, "done");
    analyze::print_table(&results, &mut std::io::stdout().lock());
    let code = analyze::exit_code(&results, report_error.as_deref());
    Ok((results, code))
}

async fn run_test(
    spec: TestSpec,
    netns: Option<Arc<::nemesis::NetnsCluster>>,
    run_dir_out: &mut Option<PathBuf>,
) -> Result<i32> {
    let signals = Signals::install();
    let (run_dir, program, infos, workload) = prepare(&spec, netns.as_deref(), run_dir_out).await?;
    if let Some(n) = &netns {
        write_line(&format!(
            "network: a namespace per node on a private bridge ({}.0/24), partitions {} packets",
            ::nemesis::netns::SUBNET.map(|b| b.to_string()).join("."),
            match n.mode() {
                ::nemesis::CutMode::Drop => "drop",
                ::nemesis::CutMode::Reject => "reject",
            }
        ));
    }
    let checkers = workload.checkers();
    // The online check: per key, linearizability and the consistency
    // hierarchy (the keyed workloads).
    let online_checkers: Vec<String> = checkers
        .iter()
        .filter(|c| online::per_key(c))
        .cloned()
        .collect();
    // (The informational `consistency` alone cannot end a run.)
    let online_counts = online_checkers.iter().any(|c| c.trim() != "consistency");
    // The closed-prefix pass: the whole-history checkers with a prefix
    // mode (queue, lock, isolation).
    let prefix_checkers: Vec<String> = checkers
        .iter()
        .filter(|c| online_prefix::has_prefix_mode(c))
        .cloned()
        .collect();
    if spec.fail_fast && !online_counts && prefix_checkers.is_empty() {
        bail!(
            "--fail-fast: the online check runs for keyed workloads judged by linearizability or a consistency model and for the total-queue, lock, set-full and isolation (list-append, rw-register) checkers; workload {} is judged by {}",
            spec.workload,
            checkers.join(", ")
        );
    }
    // A signal while the cluster starts stops it (dropping the half-started
    // cluster kills its nodes) and leaves a history that says so.
    let started = tokio::select! {
        r = start_cluster(&spec, &run_dir, program, infos, netns.clone()) => Some(r?),
        _ = signals.wait() => None,
    };
    let Some(Faulty {
        cluster,
        net,
        clocks,
    }) = started
    else {
        return interrupted_at_start(&run_dir, &checkers, &spec).await;
    };
    *signals.cluster.lock().unwrap() = Some(cluster.clone());

    let start = Instant::now();
    let recorder = Arc::new(Recorder::create(&run_dir.join("history.jsonl"), start)?);
    let driver = Arc::new(Driver::new(
        recorder.clone(),
        &spec,
        start,
        signals.stop_tx.subscribe(),
    ));
    *signals.driver.lock().unwrap() = Some(driver.clone());
    if signals.stopped() {
        driver.interrupted.store(true, Ordering::Relaxed);
    }
    {
        // A history that cannot be written ends the run at once.
        let signals = signals.clone();
        recorder.on_error(move || signals.stop());
    }
    let online = match online_checkers.is_empty() {
        false => {
            let on_invalid: Box<dyn FnOnce() + Send> = if spec.fail_fast {
                let signals = signals.clone();
                let recorder = recorder.clone();
                Box::new(move || {
                    eprintln!("\n--fail-fast: the online check found an invalid key; healing, stopping and checking");
                    recorder.marker("fail-fast", json!("the online check found an invalid key"));
                    signals.stop();
                })
            } else {
                Box::new(|| {})
            };
            match online::Online::start(&online_checkers, start, on_invalid) {
                Ok((o, tx)) => {
                    recorder.set_tap(Some(tx));
                    Some(o)
                }
                Err(e) => {
                    tracing::warn!("no online check: {e:#}");
                    None
                }
            }
        }
        true => None,
    };
    let prefix_pass = if prefix_checkers.is_empty() {
        None
    } else {
        let on_invalid: Box<dyn FnOnce() + Send> = if spec.fail_fast {
            let signals = signals.clone();
            let recorder = recorder.clone();
            Box::new(move || {
                eprintln!("\n--fail-fast: the online prefix check found an anomaly; healing, stopping and checking");
                recorder.marker(
                    "fail-fast",
                    json!("the online prefix check found an anomaly"),
                );
                signals.stop();
            })
        } else {
            Box::new(|| {})
        };
        match online_prefix::PrefixPass::start(&prefix_checkers, start, on_invalid) {
            Ok((p, tx)) => {
                recorder.set_tap_all(Some(tx));
                Some(p)
            }
            Err(e) => {
                tracing::warn!("no online prefix check: {e:#}");
                None
            }
        }
    };
    recorder.marker("phase", json!("main"));
    let (done_tx, done_rx) = watch::channel(false);
    let progress_task = tokio::spawn(progress::progress(
        recorder.clone(),
        spec.time_limit,
        done_rx,
        online.as_ref().map(|o| o.shared()),
        prefix_pass.as_ref().map(|p| p.shared()),
    ));

    let fault_log = target::RunFaultLog::create(recorder.clone(), &run_dir.join("faults.jsonl"))?;
    let faults = Arc::new(Mutex::new(::nemesis::Nemesis::new(
        Arc::new(target::ClusterTarget::new(
            cluster.clone(),
            tokio::runtime::Handle::current(),
        )),
        net.clone(),
        clocks.clone(),
        Arc::new(fault_log),
        tokio::runtime::Handle::current(),
    )));

    let ids: Vec<String> = cluster.infos().iter().map(|n| n.id.clone()).collect();
    let workers = main_phase(&spec, &driver, &workload, &faults, &ids, start).await?;
    tracing::info!(
        "main phase over after {:.1} s; final heal",
        start.elapsed().as_secs_f64()
    );
    final_phase(&spec, &driver, &workload, &faults, &cluster, workers).await?;
    let interrupted = driver.interrupted.load(Ordering::Relaxed);
    recorder.marker("end", json!({ "interrupted": interrupted }));
    let _ = done_tx.send(true);
    let _ = progress_task.await;
    recorder.set_tap(None);
    recorder.set_tap_all(None);
    // online.json: the per-key pass's status (when there is one), with the
    // prefix pass's under `prefix`, and `checkers`: each online checker's
    // verdict.
    let keyed = match online {
        Some(o) => Some(tokio::task::spawn_blocking(move || o.finish()).await?),
        None => None,
    };
    let prefix = match prefix_pass {
        Some(p) => Some(tokio::task::spawn_blocking(move || p.finish()).await?),
        None => None,
    };
    if keyed.is_some() || prefix.is_some() {
        store::write_json(&run_dir.join("online.json"), &online_json(keyed, prefix))?;
    }
    finish(&spec, &run_dir, &cluster, &recorder, &checkers).await
}

/// A signal came while the cluster was starting (it is stopped by now):
/// the history records only that the run ended before its first op, and
/// the verdict says so (`unknown`, exit 2).
async fn interrupted_at_start(run_dir: &Path, checkers: &[String], spec: &TestSpec) -> Result<i32> {
    let recorder = Recorder::create(&run_dir.join("history.jsonl"), Instant::now())?;
    recorder.marker("end", json!({ "interrupted": true, "phase": "start" }));
    if let Some(e) = recorder.error() {
        bail!("the history could not be written: {e}");
    }
    Ok(judge(run_dir, checkers, spec).await?.1)
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

/// What `faultline systems` prints: the bundled systems (or `defs`), the
/// workloads, the faults.
pub fn systems_text(defs: &[SystemDef]) -> String {
    use std::fmt::Write;
    let mut out = String::from("systems:\n");
    for d in defs {
        crate::system::describe(d, &mut out);
    }
    out.push_str("workloads:\n");
    for k in workload::KINDS {
        let _ = writeln!(
            out,
            "  {:<9} {} (protocols: {})",
            k.name(),
            k.describe(),
            k.protocols().join(", ")
        );
        for (o, what) in k.options() {
            let _ = writeln!(out, "            option {o}: {what}");
        }
    }
    let _ = write!(
        out,
        "faults (--nemesis, default {}):\n  \
         partition  cut links (proxy mesh, or nftables rules in network namespaces); shapes (--partition): {}\n  \
         packet     delay with jitter, loss or a bandwidth limit on some links (namespaces: loss or bandwidth; no netem here)\n  \
         kill       SIGKILL one / a minority / a majority / all nodes / the primaries, then restart them on their data dirs\n  \
         pause      SIGSTOP one / a minority / a majority / all nodes / the primaries, then SIGCONT\n  \
         clock      bump wall clocks (ms to minutes, either way), strobe them, reset (libfaketime)\n  \
         partition-clock  composite: every clock jumps forward, the leaders are cut off with a minority, their clocks step back; healed and reset (docs/faults.md)\n  \
         burst      composite: short partitions of random shapes back to back (0.3-1.5 s cut, 0.2-1 s healed)\n\
         targets (--targets, default any): one, minority, majority, all, primaries (every node that says it leads when the fault starts)\n",
        spec::DEFAULT_NEMESIS,
        ::nemesis::PartitionShape::ALL
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    out
}

/// `online.json` from the two passes: the per-key pass's fields at the top
/// (as before), `prefix` for the closed-prefix pass, `checkers` (each
/// online checker: `invalid` once it found an anomaly, else `valid` so
/// far, or `unknown`) and `first` (the earliest anomaly of either pass).
fn online_json(
    keyed: Option<online::OnlineStatus>,
    prefix: Option<online_prefix::PrefixStatus>,
) -> serde_json::Value {
    let mut out = match &keyed {
        Some(k) => serde_json::to_value(k).unwrap_or_default(),
        None => json!({}),
    };
    let mut checkers = serde_json::Map::new();
    let mut first: Option<online::OnlineAnomaly> = None;
    if let Some(k) = &keyed {
        for (name, c) in &k.checkers {
            let v = if c.keys_invalid > 0 {
                "invalid"
            } else {
                "valid"
            };
            checkers.insert(name.clone(), json!(v));
        }
        first = k.first.clone();
    }
    if let Some(p) = &prefix {
        for (name, c) in &p.checkers {
            checkers.insert(name.clone(), json!(c.verdict));
        }
        if let Some(f) = &p.first {
            if first.as_ref().is_none_or(|k| f.seconds < k.seconds) {
                first = Some(f.clone());
            }
        }
        out["prefix"] = serde_json::to_value(p).unwrap_or_default();
    }
    out["checkers"] = serde_json::Value::Object(checkers);
    match first {
        Some(f) => out["first"] = serde_json::to_value(f).unwrap_or_default(),
        None => {
            if let Some(m) = out.as_object_mut() {
                m.remove("first");
            }
        }
    }
    out
}
