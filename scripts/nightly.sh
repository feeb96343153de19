#!/usr/bin/env bash
# Nightly chaos job: installs what is needed, runs the nightly campaign,
# keeps the artifacts under $STORE (default store/), and exits non-zero when
# an expectation breaks.
#   scripts/nightly.sh [extra faultline campaign args, e.g. --seeds 2]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
STORE=${STORE:-store}
cargo build --release -p faultline -p systems
# Data dirs of valid runs are dropped (the artifact stays small); invalid
# runs keep everything.
target/release/faultline campaign campaigns/nightly.toml --store "$STORE" --keep-data invalid "$@"
