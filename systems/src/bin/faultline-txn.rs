//! `faultline-txn`: one node of the sharded transactional key-value store.
//! See `systems/README.md` for flags and the HTTP API.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--level` is optional here: serializable by default.
    if !args
        .iter()
        .any(|a| a == "--level" || a.starts_with("--level="))
    {
        args.extend(["--level".to_string(), "serializable".to_string()]);
    }
    // A bad `--shards` is a bad flag (exit 2), like the common ones.
    let shards = args
        .iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--shards") {
            Some("") => Some(args.get(i + 1).cloned().unwrap_or_default()),
            Some(v) => v.strip_prefix('=').map(String::from),
            None => None,
        });
    if let Some(v) = shards {
        if let Err(e) = systems::txn::parse_shards(&v) {
            eprintln!("faultline-txn: {e}\nrun with --help for usage");
            return ExitCode::from(2);
        }
    }
    systems::runtime::node::main_with_args(&systems::txn::SPEC, &args, systems::txn::run)
}
