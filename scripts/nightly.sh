#!/usr/bin/env bash
# Nightly chaos job: installs what is needed, runs the nightly campaign (or
# one shard of it), keeps the artifacts under $STORE (default store/).
#   scripts/nightly.sh [extra faultline campaign args]
#   scripts/nightly.sh --shard 3/8        # one of 8 CI shards
#   CAMPAIGN=campaigns/nemesis.toml scripts/nightly.sh --seeds 2
# Environment:
#   CAMPAIGN  the campaign file (default campaigns/detection.toml)
#   STORE     where runs go (default store); the campaign directory is
#             $STORE/campaigns/<name>/<timestamp>[-shard-I-of-N]/
#   SKIP_DEPS=1  do not run scripts/install-deps.sh (already done)
# Exit code: faultline campaign's: 0 every expectation holds (a shard judges
# none: 0 when it ran all its units), 1 an expectation broke, 2 incomplete
# (interrupted), 255 error. Shards are judged by `faultline campaign merge`
# (see .github/workflows/nightly.yml and docs/campaigns.md).
set -euo pipefail
cd "$(dirname "$0")/.."
CAMPAIGN=${CAMPAIGN:-campaigns/detection.toml}
STORE=${STORE:-store}
if [ ! -f "$CAMPAIGN" ]; then
  echo "nightly: campaign file $CAMPAIGN not found (set CAMPAIGN=...)" >&2
  exit 255
fi
if [ "${SKIP_DEPS:-0}" != 1 ]; then
  scripts/install-deps.sh
fi
cargo build --release -p faultline -p systems
# Data dirs of valid runs are dropped (the artifact stays small); invalid
# runs keep everything.
exec "${CARGO_TARGET_DIR:-target}/release/faultline" campaign "$CAMPAIGN" --store "$STORE" --keep-data invalid "$@"
