#!/usr/bin/env bash
# Times `faultline check --model list-append` (and rw-register) as whole
# processes on synthetic transactional histories of 50k, 100k and 200k txns,
# and prints median wall seconds, txns/s and peak RSS, so that throughput and
# the linear growth of memory can be read off one table.
#
#   scripts/bench-txn.sh [RUNS]        (default 5 runs per size)
#
# The histories are strict serializable (no cycle: the common case); the
# `stale` rows have one stale read injected, so the cycle search runs too.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
cargo build --release -q -p faultline
BIN=target/release/faultline
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# shellcheck source=scripts/lib/measure.sh
source scripts/lib/measure.sh

printf "%-26s %8s %10s %12s %9s\n" history txns seconds "txns/s" "peak MiB"
for model in list-append rw-register; do
  for n in 50000 100000 200000; do
    for kind in clean stale; do
      [ "$kind" = stale ] && [ "$n" != 100000 ] && continue
      f="$TMP/$model-$n-$kind.jsonl"
      extra=()
      [ "$kind" = stale ] && extra=(--invalid)
      $BIN synth --txn "$model" --ops "$n" --keys 10 --processes 10 --seed 1 "${extra[@]}" --out "$f"
      read -r secs mib < <(measure "$BIN" check --model "$model" "$f")
      printf "%-26s %8d %10.3f %12.0f %9s\n" "$model $kind" "$n" "$secs" \
        "$(awk -v n="$n" -v s="$secs" 'BEGIN {print n/s}')" "$mib"
    done
  done
done
echo "(whole process: start, read and parse the JSONL, check; the criterion bench"
echo " 'cargo bench -p checker --bench txn' times the check alone on an in-memory history)"
