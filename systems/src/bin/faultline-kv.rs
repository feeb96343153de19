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
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        // openraft is chatty at info: keep it at warn unless asked for more.
        let raft_level = if cfg.log_level > tracing::Level::INFO {
            cfg.log_level
        } else {
            tracing::Level::WARN.min(cfg.log_level)
        };
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(cfg.log_level)
            .with_target("openraft", raft_level);
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .with(filter)
            .init();
    }
    if let Err(e) = systems::kv::run(cfg) {
        tracing::error!("{e:#}");
        eprintln!("faultline-kv: {e:#}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
