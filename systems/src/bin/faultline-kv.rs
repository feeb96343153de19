//! `faultline-kv`: one node of the replicated key-value store.
//! See `systems/README.md` for flags and the HTTP API.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match systems::kv::config::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faultline-kv: {e}");
            if !e.starts_with("usage") {
                eprintln!("run with --help for usage");
            }
            return ExitCode::from(2);
        }
    };
    systems::runtime::node::init_logging(cfg.log_level);
    if let Err(e) = systems::kv::run(cfg) {
        tracing::error!("{e:#}");
        eprintln!("faultline-kv: {e:#}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
