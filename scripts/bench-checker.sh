#!/usr/bin/env bash
# Times `faultline check` over the Porcupine corpus and a synthetic
# 1,000,000-op history, as whole processes, and prints per-subset medians.
#
#   scripts/bench-checker.sh [RUNS]        (default 5 runs per subset)
#
# Env: DATA (default ../shared/data/porcupine; every *.log under jepsen/ and
# *.txt under kv/ is timed, so more Porcupine files dropped there count),
# BASELINE_CMD (optional: a command taking the same arguments, e.g. a
# Porcupine driver or a previous build's `faultline check`, timed on the
# same subsets so the ratio is measured in the same run).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
DATA=${DATA:-../shared/data/porcupine}
[ -d "$DATA" ] || { echo "bench-checker: no data at $DATA (set DATA=...)" >&2; exit 2; }
cargo build --release -q -p faultline
BIN=${CARGO_TARGET_DIR:-target}/release/faultline
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "generating a 1,000,000-op history (1000 keys, 10 processes)..."
$BIN synth --ops 1000000 --keys 1000 --processes 10 --seed 1 --out "$TMP/1m.jsonl"
echo "generating single-key invalid histories (10k and 100k ops, 10 processes)..."
$BIN synth --ops 10000 --keys 1 --processes 10 --seed 1 --invalid --out "$TMP/10k-1key-bad.jsonl"
$BIN synth --ops 100000 --keys 1 --processes 10 --seed 1 --invalid --out "$TMP/100k-1key-bad.jsonl"

# shellcheck source=scripts/lib/measure.sh
source scripts/lib/measure.sh

# name | Porcupine v1.3.0 reference seconds on this 2-core machine kind
# (median of the range the project's issue gives) | faultline check args...
run() {
  local name=$1 ref=$2; shift 2
  read -r secs mib < <(measure "$BIN" check "$@")
  local line
  line=$(printf "%-28s %9.3f s %7s MiB" "$name" "$secs" "$mib")
  if [ "$ref" != "-" ]; then
    line+=$(awk -v r="$ref" -v s="$secs" 'BEGIN {printf "   porcupine ref %6.2f s  ->  %5.1fx faster", r, r/s}')
  fi
  if [ -n "${BASELINE_CMD:-}" ]; then
    read -r bsecs _ < <(measure $BASELINE_CMD "$@")
    line+=$(awk -v b="$bsecs" -v s="$secs" 'BEGIN {printf "   baseline %6.3f s (%.1fx)", b, b/s}')
  fi
  echo "$line"
}

echo "faultline check, median of $RUNS runs (whole process: start, parse, check):"
run "etcd: all 83 logs"         1.12 "$DATA"/jepsen/*.log
run "etcd: etcd_002"            0.40 "$DATA/jepsen/etcd_002.log"
run "kv: all, partitioned"      0.29 "$DATA"/kv/*.txt
run "kv: c10-bad --no-partition" 5.70 --no-partition "$DATA/kv/c10-bad.txt"
run "synthetic: 1M ops, 1k keys" - "$TMP/1m.jsonl"
run "synthetic: 10k, 1 key, bad" - "$TMP/10k-1key-bad.jsonl"
run "synthetic: 100k, 1 key, bad" - --max-memory 2048 --timeout 30 "$TMP/100k-1key-bad.jsonl"
echo "(porcupine ref = midpoint of the Porcupine v1.3.0 timings quoted in the checker issue for this machine kind; not measured here)"
