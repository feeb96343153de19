#!/usr/bin/env bash
# The project's test command: installs dependencies, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace --release "$@"
