//! `faultline-queue`: one node of the replicated work queue.
//! See `systems/README.md` for flags and the HTTP API.

fn main() -> std::process::ExitCode {
    systems::runtime::node::main_with(&systems::queue::SPEC, systems::queue::run)
}
