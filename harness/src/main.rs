//! The `faultline` command line.
//!
//! A tour: `faultline test` ([`run`]) loads a system definition
//! ([`system`]: a TOML file says how to start a node, its levels, probes,
//! protocol and workloads), lays out and starts the cluster
//! (`run::supervisor`), drives the chosen workload (`run::workload`: seeded
//! generators, the harness's own clients, a final phase, the checkers it
//! names) while the nemesis plays a seeded fault plan, records every op to
//! `history.jsonl` (`run::store`), then checks the history and writes
//! `results.json` and the HTML report (`run::analyze`, the `checker` and
//! `reports` crates). `faultline analyze` redoes the checking from disk,
//! `faultline check` checks any history file, `faultline campaign` runs a
//! matrix of tests, `faultline serve` serves the store. See docs/tour.md.

mod builtin;
mod campaign;
mod check;
mod run;
mod shrink;
mod system;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "A Jepsen-style chaos and linearizability test harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check history files for linearizability.
    Check(check::CheckArgs),
    /// Shrink an invalid history to a small sub-history that the same
    /// checkers still find invalid (1-minimal: removing any one op makes
    /// it valid). Takes `check`'s model and checker flags.
    Shrink(shrink::ShrinkArgs),
    /// Run a matrix of tests (systems x levels x nemeses x seeds) from a
    /// TOML file and compare them on one page; `--shard I/N` runs one
    /// slice of it, `campaign merge DIR...` joins the slices.
    Campaign(campaign::CampaignCmd),
    /// Serve the store's runs and reports read-only over HTTP (an index of
    /// every run, newest first, linking to each report and its files).
    Serve {
        /// The store to serve.
        #[arg(long, default_value = "store")]
        store: std::path::PathBuf,
        /// Address to bind; loopback by default (the server has no
        /// authentication).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
    },
    /// Write a synthetic linearizable history of independent cas-registers
    /// (for benchmarks).
    Synth {
        #[arg(long, default_value_t = 1_000_000)]
        ops: usize,
        #[arg(long, default_value_t = 1000)]
        keys: usize,
        #[arg(long, default_value_t = 10)]
        processes: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Make one late read return a value never written (with `--txn`:
        /// one late read miss the latest write to its key).
        #[arg(long)]
        invalid: bool,
        // isolation (txn)
        /// Write transactions instead of single-register ops: `list-append`
        /// or `rw-register` (`--ops` then counts txns; keys retire after
        /// `--writes-per-key` writes).
        #[arg(long, value_parser = ["list-append", "rw-register"])]
        txn: Option<String>,
        /// With `--txn`: writes a key takes before it retires.
        #[arg(long, default_value_t = 32)]
        writes_per_key: usize,
        // end isolation (txn)
        /// Output file (default: stdout).
        #[arg(long, short)]
        out: Option<std::path::PathBuf>,
    },
    /// Run a chaos test: start a cluster, drive clients while faults are
    /// injected, record the history and check it.
    Test(Box<run::spec::TestArgs>),
    /// Re-check a stored run directory (e.g. `store/latest`).
    Analyze {
        #[arg(value_name = "RUN_DIR")]
        run_dir: std::path::PathBuf,
    },
    /// List the systems (what their definitions say), workloads and faults
    /// `test` knows.
    Systems {
        /// Describe this system file instead of the bundled systems (and
        /// check that it loads).
        #[arg(long, value_name = "FILE")]
        system_file: Option<std::path::PathBuf>,
    },
    /// Run one faultline-kv node from this executable (used by `test` when
    /// the faultline-kv binary is missing; same flags).
    #[command(hide = true, disable_help_flag = true)]
    KvNode {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run one faultline-queue node from this executable (used by `test`
    /// when the faultline-queue binary is missing; same flags).
    #[command(hide = true, disable_help_flag = true)]
    QueueNode {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run one faultline-lock node from this executable (used by `test`
    /// when the faultline-lock binary is missing; same flags).
    #[command(hide = true, disable_help_flag = true)]
    LockNode {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run one faultline-txn node from this executable (used by `test`
    /// when the faultline-txn binary is missing; same flags).
    #[command(hide = true, disable_help_flag = true)]
    TxnNode {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() {
    // Usage errors exit 255 (2 means "unknown" in every faultline command);
    // --help and --version exit 0.
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 255 } else { 0 });
        }
    };
    let code = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Shrink(args) => shrink::run(&args),
        Command::Serve { store, bind } => {
            let addr: std::net::SocketAddr = match bind.parse() {
                Ok(a) => a,
                Err(_) => {
                    eprintln!("error: --bind {bind}: expected ADDR:PORT, e.g. 127.0.0.1:8080");
                    std::process::exit(255);
                }
            };
            eprintln!("serving {} on http://{addr}/", store.display());
            match reports::serve(&store, addr) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: serving {}: {e}", store.display());
                    255
                }
            }
        }
        Command::Campaign(args) => match campaign::run(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                255
            }
        },
        Command::Synth {
            ops,
            keys,
            processes,
            seed,
            invalid,
            txn,
            writes_per_key,
            out,
        } => {
            // isolation (txn)
            if let Some(t) = txn {
                let spec = checker::txn::synth::TxnSynthSpec {
                    kind: if t == "rw-register" {
                        checker::txn::Kind::RwRegister
                    } else {
                        checker::txn::Kind::ListAppend
                    },
                    txns: ops,
                    keys,
                    processes,
                    writes_per_key: writes_per_key.max(1),
                    seed,
                    inject_stale_read: invalid,
                    ..Default::default()
                };
                let res = match &out {
                    Some(path) => std::fs::File::create(path)
                        .and_then(|f| checker::txn::synth::write_jsonl(&spec, f)),
                    None => checker::txn::synth::write_jsonl(&spec, std::io::stdout().lock()),
                };
                match res {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("error: writing the history: {e}");
                        255
                    }
                }
            } else {
                // end isolation (txn)
                let spec = checker::synth::SynthSpec {
                    ops,
                    keys,
                    processes,
                    seed,
                    inject_violation: invalid,
                    ..Default::default()
                };
                let res = match &out {
                    Some(path) => std::fs::File::create(path)
                        .and_then(|f| checker::synth::write_jsonl(&spec, f)),
                    None => checker::synth::write_jsonl(&spec, std::io::stdout().lock()),
                };
                match res {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("error: writing the history: {e}");
                        255
                    }
                }
            }
        }
        Command::Test(args) => run::run(&args),
        Command::Analyze { run_dir } => match run::analyze::analyze(&run_dir) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                255
            }
        },
        Command::KvNode { args } => builtin::kv_node(&args),
        Command::QueueNode { args } => builtin::system_node("queue", &args),
        Command::LockNode { args } => builtin::system_node("lock", &args),
        Command::TxnNode { args } => builtin::system_node("txn", &args),
        Command::Systems { system_file } => {
            let defs = match system_file {
                None => system::bundled(),
                Some(f) => match system::SystemDef::load(&f) {
                    Ok(d) => vec![d],
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        std::process::exit(255);
                    }
                },
            };
            print!("{}", run::systems_text(&defs));
            0
        }
    };
    std::process::exit(code);
}
