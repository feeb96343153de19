//! `faultline-lock`: one node of the lock service with fencing tokens.
//! See `systems/README.md` for flags and the HTTP API.

fn main() -> std::process::ExitCode {
    systems::runtime::node::main_with(&systems::lock::SPEC, systems::lock::run)
}
