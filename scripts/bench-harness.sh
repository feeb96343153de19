#!/usr/bin/env bash
# Client throughput of the whole harness: `faultline test` against a 3-node
# kv cluster with no faults and an unbounded rate, as ops/s recorded per
# second of the run. With BASELINE_BIN_DIR (a directory holding another
# build's faultline and node binaries), each round runs both, in turn, and
# prints the ratio new/baseline per round (same machine, same run).
#
#   scripts/bench-harness.sh [ROUNDS] [SECONDS]          (default 5 rounds of 10 s)
#   BASELINE_BIN_DIR=/tmp/before scripts/bench-harness.sh 5 10
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
secs="${2:-10}"
level="${LEVEL:-raft}"
cargo build -q --release -p faultline -p systems
new_dir="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ops/s of one run with the binaries in $1
ops_per_sec() {
  local out
  out=$("$1/faultline" test --level "$level" --nodes 3 --nemesis none --rate unbounded \
    --time-limit "$secs" --seed 1 --store "$tmp/store" --bin-dir "$1" --keep-data never 2>/dev/null || true)
  # "ops        13136 client ops in 10.3 s (1281 ops/s)"
  echo "$out" | sed -n 's/^ops .*(\([0-9.]*\) ops\/s).*/\1/p'
}

echo "faultline test, kv $level, 3 nodes, no faults, unbounded rate, ${secs} s per run ($(nproc) cores)"
echo
if [ -n "${BASELINE_BIN_DIR:-}" ]; then
  echo "| round | new ops/s | baseline ops/s | new/baseline |"
  echo "|---|---|---|---|"
  for r in $(seq "$rounds"); do
    a=$(ops_per_sec "$new_dir"); b=$(ops_per_sec "$BASELINE_BIN_DIR")
    echo "| $r | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') |"
  done
else
  echo "| round | ops/s |"
  echo "|---|---|"
  for r in $(seq "$rounds"); do echo "| $r | $(ops_per_sec "$new_dir") |"; done
fi
