//! The long fuzz run of every history reader (see `scripts/fuzz-parsers.sh`):
//! a seeded loop over generated and mutated inputs, no nightly Rust needed.
//!
//! ```text
//! cargo run --release -p checker --example fuzz_parsers -- [--inputs N]
//!     [--seed S] [--budget-ms MS] [--abort-secs S] [--out DIR] [--replay I]
//! ```
//!
//! Input `i` targets parser `i % 9` (JSONL, EDN, Knossos vectors, elle-cli
//! JSON arrays, Jepsen history.txt, Porcupine etcd and kv logs, list-append
//! and rw-register transactions) and is built from its own seed
//! (`--seed` and `i`): a valid generated history (1 in 10, whose parse must
//! return exactly its events), or one mutated from a generated history, a
//! Porcupine corpus file (etcd and kv targets) or a splice with a donor;
//! 1 in 20 is parsed as another format than its own. Each input is checked
//! with `fuzz_common::check_input`; a panic is caught and reported with the
//! input (saved under `--out`), as is a violated invariant. Each parse is
//! timed: the slowest input per parser is reported, an input over
//! `--budget-ms` (wall clock, the faster of two runs) counts as a hang, and a watchdog aborts the run (saving
//! the input) if one input runs past `--abort-secs`. `--replay I` re-runs
//! input `I` alone and saves it. Exit code 0 when nothing was found.

#[path = "../tests/fuzz_common/mod.rs"]
mod fuzz_common;

use checker::formats::Format;
use fuzz_common::*;
use std::io::IsTerminal;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FORMATS: [Format; 6] = [
    Format::Jsonl,
    Format::Edn,
    Format::Json,
    Format::JepsenText,
    Format::PorcupineEtcd,
    Format::PorcupineKv,
];

struct Opts {
    inputs: u64,
    seed: u64,
    budget: Duration,
    abort: Duration,
    out: PathBuf,
    replay: Option<u64>,
}

fn usage(msg: &str) -> ! {
    eprintln!("fuzz_parsers: {msg}");
    eprintln!(
        "usage: fuzz_parsers [--inputs N] [--seed S] [--budget-ms MS] [--abort-secs S] [--out DIR] [--replay I]"
    );
    std::process::exit(255)
}

fn opts() -> Opts {
    let mut o = Opts {
        inputs: 1_000_000,
        seed: 1,
        budget: Duration::from_millis(1000),
        abort: Duration::from_secs(120),
        out: PathBuf::from("target/fuzz-parsers"),
        replay: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        let num = |name: &str, v: String| -> u64 {
            v.replace('_', "")
                .parse()
                .unwrap_or_else(|_| usage(&format!("{name}: not a number: {v}")))
        };
        match a.as_str() {
            "--inputs" => o.inputs = num("--inputs", val("--inputs")),
            "--seed" => o.seed = num("--seed", val("--seed")),
            "--budget-ms" => {
                o.budget = Duration::from_millis(num("--budget-ms", val("--budget-ms")))
            }
            "--abort-secs" => {
                o.abort = Duration::from_secs(num("--abort-secs", val("--abort-secs")))
            }
            "--out" => o.out = PathBuf::from(val("--out")),
            "--replay" => o.replay = Some(num("--replay", val("--replay"))),
            "-h" | "--help" => usage("the long fuzz run of every history parser"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    o
}

/// What inputs are built from: the Porcupine corpus and a pool of
/// generated donors, both fixed by the run's seed.
struct Pool {
    seed: u64,
    corpus: Vec<(Target, Vec<u8>)>,
    donors: Vec<Vec<u8>>,
}

impl Pool {
    fn new(seed: u64) -> Pool {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/porcupine");
        let corpus = porcupine_seeds(&dir);
        let mut r = Prng::new(seed ^ 0xD0_D0);
        let mut donors: Vec<Vec<u8>> = (0..8 * TARGETS.len())
            .map(|i| generate(&mut r, TARGETS[i % TARGETS.len()]).bytes)
            .collect();
        // A few corpus files as donors too (the small ones).
        donors.extend(
            corpus
                .iter()
                .filter(|(_, b)| b.len() < 16 * 1024)
                .take(8)
                .map(|(_, b)| b.clone()),
        );
        Pool {
            seed,
            corpus,
            donors,
        }
    }

    /// Input `i`: its target, the format it is parsed as, its bytes and
    /// (for an unmutated generated history) what its parse must return.
    fn input(&self, i: u64) -> Case {
        let target = TARGETS[(i % TARGETS.len() as u64) as usize];
        let mut r = Prng::new(input_seed(self.seed, i));
        let donors: Vec<&[u8]> = self.donors.iter().map(Vec::as_slice).collect();
        let corpus: Vec<&[u8]> = self
            .corpus
            .iter()
            .filter(|(t, _)| *t == target)
            .map(|(_, b)| b.as_slice())
            .collect();
        let mut case = if !corpus.is_empty() && r.chance(15) {
            Case {
                target,
                format: match target {
                    Target::PorcupineKv => Format::PorcupineKv,
                    _ => Format::PorcupineEtcd,
                },
                bytes: r.pick(&corpus).to_vec(),
                expect: None,
            }
        } else {
            generate(&mut r, target)
        };
        if r.chance(90) {
            case.bytes = mutate(&mut r, &case.bytes, &donors);
            case.expect = None;
            if r.chance(5) {
                case.format = *r.pick(&FORMATS);
            }
        }
        case
    }
}

#[derive(Default)]
struct Stats {
    inputs: u64,
    accepted: u64,
    rejected: u64,
    valid: u64,
    events: u64,
    panics: u64,
    violations: u64,
    slow: u64,
    bytes: u64,
    total: Duration,
    /// (time, input number, size)
    slowest: Option<(Duration, u64, usize)>,
}

/// The message and place of the last panic (the hook keeps it quiet).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// The input being parsed, and when it started (ms since the run began;
/// `u64::MAX` between inputs), for the watchdog.
static CURRENT: AtomicU64 = AtomicU64::new(0);
static STARTED_MS: AtomicU64 = AtomicU64::new(u64::MAX);

fn save(out: &Path, kind: &str, case: &Case, i: u64) -> PathBuf {
    let _ = std::fs::create_dir_all(out);
    let p = out.join(format!("{kind}-{}-{i}.bin", case.target.name()));
    if let Err(e) = std::fs::write(&p, &case.bytes) {
        eprintln!("fuzz_parsers: cannot write {}: {e}", p.display());
    }
    p
}

fn main() {
    let o = opts();
    let pool = Arc::new(Pool::new(o.seed));
    panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string panic)".to_string()
        };
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut m) = LAST_PANIC.lock() {
            *m = format!("{msg} at {at}");
        }
    }));

    if let Some(i) = o.replay {
        let case = pool.input(i);
        let p = save(&o.out, "replay", &case, i);
        println!(
            "input {i}: {} as {}, {} bytes, saved to {}\n{}",
            case.target.name(),
            case.format.name(),
            case.bytes.len(),
            p.display(),
            excerpt(&case.bytes, 4000)
        );
        let t = Instant::now();
        let res = panic::catch_unwind(AssertUnwindSafe(|| {
            check_input(case.target, case.format, &case.bytes, case.expect.as_ref())
        }));
        let took = t.elapsed();
        match res {
            Ok(Ok(outcome)) => println!("{outcome:?} in {took:?}"),
            Ok(Err(v)) => println!("VIOLATION in {took:?}: {v}"),
            Err(_) => println!(
                "PANIC in {took:?}: {}",
                LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default()
            ),
        }
        return;
    }

    let run_start = Instant::now();
    {
        // The watchdog: an input running past --abort-secs is a hang; save
        // it and stop (a hung parse cannot be interrupted).
        let pool = Arc::clone(&pool);
        let abort = o.abort;
        let out = o.out.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let started = STARTED_MS.load(Ordering::SeqCst);
            if started == u64::MAX {
                continue;
            }
            let now = run_start.elapsed().as_millis() as u64;
            if now.saturating_sub(started) > abort.as_millis() as u64 {
                let i = CURRENT.load(Ordering::SeqCst);
                let case = pool.input(i);
                let p = save(&out, "hang", &case, i);
                println!(
                    "HANG: input {i} ({} as {}, {} bytes) has run for more than {:?}; saved to {}; replay with --seed {} --replay {i}",
                    case.target.name(),
                    case.format.name(),
                    case.bytes.len(),
                    abort,
                    p.display(),
                    pool.seed
                );
                std::process::exit(3);
            }
        });
    }

    let tty = std::io::stderr().is_terminal();
    let mut stats: Vec<Stats> = TARGETS.iter().map(|_| Stats::default()).collect();
    // Distinct panic places: (message, first input).
    let mut panics: Vec<(String, u64)> = Vec::new();
    let mut violations: Vec<(String, u64)> = Vec::new();
    for i in 0..o.inputs {
        let case = pool.input(i);
        let s = &mut stats[(i % TARGETS.len() as u64) as usize];
        CURRENT.store(i, Ordering::SeqCst);
        STARTED_MS.store(run_start.elapsed().as_millis() as u64, Ordering::SeqCst);
        let t = Instant::now();
        let res = panic::catch_unwind(AssertUnwindSafe(|| {
            check_input(case.target, case.format, &case.bytes, case.expect.as_ref())
        }));
        let mut took = t.elapsed();
        if took > o.budget {
            // The budget is wall-clock time on a shared machine: time the
            // input once more and keep the faster run, so that a descheduled
            // parse is not called a hang.
            let t = Instant::now();
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                check_input(case.target, case.format, &case.bytes, case.expect.as_ref())
            }));
            took = took.min(t.elapsed());
        }
        STARTED_MS.store(u64::MAX, Ordering::SeqCst);
        s.inputs += 1;
        s.bytes += case.bytes.len() as u64;
        s.total += took;
        if case.expect.is_some() {
            s.valid += 1;
        }
        if s.slowest.is_none_or(|(d, _, _)| took > d) {
            s.slowest = Some((took, i, case.bytes.len()));
        }
        if took > o.budget {
            s.slow += 1;
            let p = save(&o.out, "slow", &case, i);
            println!(
                "SLOW: input {i} ({} as {}, {} bytes) took {took:?} (budget {:?}); saved to {}",
                case.target.name(),
                case.format.name(),
                case.bytes.len(),
                o.budget,
                p.display()
            );
        }
        match res {
            Ok(Ok(Outcome::Accepted(n))) => {
                s.accepted += 1;
                s.events += n as u64;
            }
            Ok(Ok(Outcome::Rejected)) => s.rejected += 1,
            Ok(Err(v)) => {
                s.violations += 1;
                let head: String = v.lines().next().unwrap_or("").chars().take(60).collect();
                if !violations.iter().any(|(h, _)| *h == head) {
                    let p = save(&o.out, "violation", &case, i);
                    println!(
                        "VIOLATION: input {i} ({} as {}, {} bytes), saved to {}:\n  {v}\n  input: {}",
                        case.target.name(),
                        case.format.name(),
                        case.bytes.len(),
                        p.display(),
                        excerpt(&case.bytes, 300)
                    );
                    violations.push((head, i));
                }
            }
            Err(_) => {
                s.panics += 1;
                let msg = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
                if !panics.iter().any(|(m, _)| *m == msg) {
                    let p = save(&o.out, "panic", &case, i);
                    println!(
                        "PANIC: input {i} ({} as {}, {} bytes), saved to {}:\n  {msg}\n  input: {}",
                        case.target.name(),
                        case.format.name(),
                        case.bytes.len(),
                        p.display(),
                        excerpt(&case.bytes, 300)
                    );
                    panics.push((msg, i));
                }
            }
        }
        if tty && (i + 1) % 50_000 == 0 {
            let secs = run_start.elapsed().as_secs_f64();
            eprintln!(
                "  {} inputs, {:.0} inputs/s, {} panics, {} violations",
                i + 1,
                (i + 1) as f64 / secs,
                stats.iter().map(|s| s.panics).sum::<u64>(),
                stats.iter().map(|s| s.violations).sum::<u64>()
            );
        }
    }
    let secs = run_start.elapsed().as_secs_f64();

    println!(
        "\n{:<20} {:>8} {:>8} {:>8} {:>7} {:>9} {:>6} {:>10} {:>5} {:>9} {:>10}  slowest input",
        "parser",
        "inputs",
        "accepted",
        "rejected",
        "valid",
        "events",
        "panics",
        "violations",
        "slow",
        "mean(us)",
        "max(ms)"
    );
    for (t, s) in TARGETS.iter().zip(&stats) {
        let (d, i, len) = s.slowest.unwrap_or_default();
        println!(
            "{:<20} {:>8} {:>8} {:>8} {:>7} {:>9} {:>6} {:>10} {:>5} {:>9.1} {:>10.2}  #{i} ({len} bytes)",
            t.name(),
            s.inputs,
            s.accepted,
            s.rejected,
            s.valid,
            s.events,
            s.panics,
            s.violations,
            s.slow,
            s.total.as_secs_f64() * 1e6 / s.inputs.max(1) as f64,
            d.as_secs_f64() * 1e3,
        );
    }
    let sum = |f: fn(&Stats) -> u64| stats.iter().map(f).sum::<u64>();
    let (inputs, np, nv, ns) = (
        sum(|s| s.inputs),
        sum(|s| s.panics),
        sum(|s| s.violations),
        sum(|s| s.slow),
    );
    let slowest = stats
        .iter()
        .zip(TARGETS)
        .filter_map(|(s, t)| s.slowest.map(|x| (x, t)))
        .max_by_key(|((d, _, _), _)| *d);
    println!(
        "\ntotal: {inputs} inputs ({} MB) in {secs:.1} s ({:.0} inputs/s), seed {}; panics {np} ({} distinct), violations {nv} ({} distinct), over the {:?} budget {ns}",
        sum(|s| s.bytes) / 1_000_000,
        inputs as f64 / secs,
        o.seed,
        panics.len(),
        violations.len(),
        o.budget
    );
    if let Some(((d, i, len), t)) = slowest {
        println!(
            "slowest input: #{i} ({}, {len} bytes) in {:.2} ms; replay with --seed {} --replay {i}",
            t.name(),
            d.as_secs_f64() * 1e3,
            o.seed
        );
    }
    if np + nv + ns > 0 {
        std::process::exit(1);
    }
}
