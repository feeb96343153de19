#!/usr/bin/env bash
# The long fuzz run of every history parser: faultline JSONL, Jepsen EDN,
# Knossos vector histories, elle-cli JSON arrays, Jepsen history.txt,
# Porcupine etcd and kv logs, and the transaction parser (list-append,
# rw-register) on top of them. Seeded generated and mutated inputs (at
# least a million by default), each checked for: no panic, parse to Ok or
# to an error naming the file and a line of the input, valid histories
# parse to exactly their events, accepted histories round-trip through
# JSONL, and a per-input time budget. Prints per parser: inputs, accepted,
# rejected, panics, violations, inputs over budget, the slowest input; then
# the totals and the time taken. Exit code 0 when nothing was found.
#
# Usage: scripts/fuzz-parsers.sh [extra args for the example]
#   FUZZ_INPUTS  (default 1000000)   number of inputs
#   FUZZ_SEED    (default 1)         seed; any input is replayable with
#                                    --seed S --replay I
#   FUZZ_BUDGET_MS (default 1000)    an input slower than this is reported
#   FUZZ_CHECKS  (default 1)         build with debug assertions and
#                                    overflow checks (own target dir), so
#                                    arithmetic overflow panics too
# Failing inputs are saved under target/fuzz-parsers/.
set -euo pipefail
cd "$(dirname "$0")/.."

INPUTS=${FUZZ_INPUTS:-1000000}
SEED=${FUZZ_SEED:-1}
BUDGET_MS=${FUZZ_BUDGET_MS:-1000}

if [ "${FUZZ_CHECKS:-1}" = 1 ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/fuzz-checks}
    export RUSTFLAGS="${RUSTFLAGS:-} -C debug-assertions=on -C overflow-checks=on"
fi

echo "fuzz-parsers: building (release${FUZZ_CHECKS:+, checks ${FUZZ_CHECKS}})..." >&2
nice -n 19 cargo build --quiet --release -p checker --example fuzz_parsers
BIN=${CARGO_TARGET_DIR:-target}/release/examples/fuzz_parsers

echo "fuzz-parsers: $INPUTS inputs, seed $SEED, budget ${BUDGET_MS} ms per input" >&2
start=$(date +%s)
status=0
nice -n 19 "$BIN" --inputs "$INPUTS" --seed "$SEED" --budget-ms "$BUDGET_MS" \
    --out target/fuzz-parsers "$@" || status=$?
end=$(date +%s)
echo "fuzz-parsers: $((end - start)) s wall clock, exit $status" >&2
exit $status
