#!/usr/bin/env bash
# Throughput and latency percentiles of faultline-kv per consistency level:
# 3 nodes on loopback, 10 concurrent clients (50% reads, 50% writes over 100
# keys), fsync always and never. Prints a Markdown table.
#
#   scripts/bench-kv.sh [SECONDS_PER_RUN]       (default 5)
#   LEVELS="raft quorum" FSYNCS=never CLIENTS=10 scripts/bench-kv.sh 3
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
levels="${LEVELS:-raft raft-lease raft-local primary-async quorum gossip}"
fsyncs="${FSYNCS:-always never}"
clients="${CLIENTS:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p systems --bin faultline-kv --bin faultline-kv-bench
bench="$CARGO_TARGET_DIR/release/faultline-kv-bench"
echo "faultline-kv: 3 nodes, $clients clients, ${secs}s per run, 50% reads, 100 keys ($(nproc) cores)"
echo
echo "| level | fsync | clients | ops/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
echo "|---|---|---|---|---|---|---|---|---|"
for level in $levels; do
  for fsync in $fsyncs; do
    "$bench" --level "$level" --fsync "$fsync" --clients "$clients" --secs "$secs" \
      || echo "| $level | $fsync | $clients | failed | | | | | |"
  done
done
