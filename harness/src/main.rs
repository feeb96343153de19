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
