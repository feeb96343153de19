//! The nodes of faultline's bundled systems, run from the faultline
//! executable itself (`faultline kv-node ARGS`, same flags as
//! `faultline-kv`), for when the separate binaries were not built (e.g.
//! `cargo run -- test` on a fresh clone). A bundled system file names its
//! builtin (`builtin = "kv-node"`).

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

/// `faultline queue-node ARGS` / `faultline lock-node ARGS` /
/// `faultline txn-node ARGS`: one `faultline-queue` / `faultline-lock` /
/// `faultline-txn` node run from this executable (same
/// flags), for when the separate binary was not built.
pub fn system_node(system: &str, args: &[String]) -> i32 {
    use systems::runtime::node;
    let (spec, run): (&node::Spec, fn(node::NodeConfig) -> anyhow::Result<()>) = match system {
        "queue" => (&systems::queue::SPEC, systems::queue::run),
        "txn" => (&systems::txn::SPEC, systems::txn::run),
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
