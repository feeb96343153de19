//! `faultline-txn`: one node of the sharded transactional key-value store.
//! See `systems/README.md` for flags and the HTTP API.

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--level` is optional here: serializable by default.
    if !args
        .iter()
        .any(|a| a == "--level" || a.starts_with("--level="))
    {
        args.extend(["--level".to_string(), "serializable".to_string()]);
    }
    systems::runtime::node::main_with_args(&systems::txn::SPEC, &args, systems::txn::run)
}
