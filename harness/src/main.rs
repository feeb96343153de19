//! The `faultline` command line.

mod check;

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
        /// Make one late read return a value never written.
        #[arg(long)]
        invalid: bool,
        /// Output file (default: stdout).
        #[arg(long, short)]
        out: Option<std::path::PathBuf>,
    },
    /// Run a chaos test against a real cluster (not built yet).
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Synth {
            ops,
            keys,
            processes,
            seed,
            invalid,
            out,
        } => {
            let spec = checker::synth::SynthSpec {
                ops,
                keys,
                processes,
                seed,
                inject_violation: invalid,
                ..Default::default()
            };
            let res = match &out {
                Some(path) => {
                    std::fs::File::create(path).and_then(|f| checker::synth::write_jsonl(&spec, f))
                }
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
        Command::Test { .. } => {
            eprintln!(
                "faultline test: not built yet (the cluster harness is the next milestone). \
                 `faultline check FILE...` checks recorded histories today."
            );
            255
        }
    };
    std::process::exit(code);
}
