#!/usr/bin/env bash
# Times `faultline check --model list-append` (and rw-register) as whole
# processes on synthetic transactional histories of 50k, 100k and 200k txns,
# and prints median wall seconds, txns/s and peak RSS, so that throughput and
# the linear growth of memory can be read off one table.
#
#   scripts/bench-txn.sh [RUNS] [BASE_BINARY]    (default 5 runs per size)
#
# With BASE_BINARY (a faultline built from another commit), each history is
# checked by both in the same run, alternating, and the table adds the
# base's figures and the ratios (base seconds / these seconds, base MiB /
# these MiB). With THREADS=N in the environment the checks run with
# RAYON_NUM_THREADS=N (the reader and the txn parse use the rayon pool).
#
# The histories are strict serializable (no cycle: the common case); the
# `stale` rows have one stale read injected, so the cycle search runs too.
# The `synth s` column is the whole-process time of `faultline synth`
# writing that same history (median of RUNS): checking it against making it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BASE=${2:-}
cargo build --release -q -p faultline
BIN=${CARGO_TARGET_DIR:-target}/release/faultline
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -n "${THREADS:-}" ] && export RAYON_NUM_THREADS=$THREADS

# shellcheck source=scripts/lib/measure.sh
source scripts/lib/measure.sh

rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n/s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}'; }

if [ -n "$BASE" ]; then
  printf "%-22s %7s %7s | %8s %9s %6s | %8s %9s %6s | %6s %6s\n" history txns "synth s" \
    "base s" "base tx/s" "MiB" "s" "txns/s" "MiB" "speed" "memory"
else
  printf "%-26s %8s %8s %10s %12s %9s\n" history txns "synth s" seconds "txns/s" "peak MiB"
fi
for model in list-append rw-register; do
  for n in 50000 100000 200000; do
    for kind in clean stale; do
      [ "$kind" = stale ] && [ "$n" != 100000 ] && continue
      f="$TMP/$model-$n-$kind.jsonl"
      extra=()
      [ "$kind" = stale ] && extra=(--invalid)
      gen=("$BIN" synth --txn "$model" --ops "$n" --keys 10 --processes 10 --seed 1 "${extra[@]}" --out "$f")
      read -r synth_s _ < <(measure sh -c 'rm -f "$0"; exec "$@"' "$f" "${gen[@]}")
      [ -s "$f" ] || "${gen[@]}"
      if [ -n "$BASE" ]; then
        # Alternate base and new, RUNS each, so both see the same machine.
        bt=() nt=() bm=0 nm=0
        for _ in $(seq "$RUNS"); do
          read -r s m < <(RUNS=1 measure "$BASE" check --model "$model" "$f")
          bt+=("$s"); [ "$m" -gt "$bm" ] && bm=$m
          read -r s m < <(RUNS=1 measure "$BIN" check --model "$model" "$f")
          nt+=("$s"); [ "$m" -gt "$nm" ] && nm=$m
        done
        med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
        b=$(med "${bt[@]}") s=$(med "${nt[@]}")
        printf "%-22s %7d %7.3f | %8.3f %9s %6s | %8.3f %9s %6s | %6s %6s\n" "$model $kind" "$n" "$synth_s" \
          "$b" "$(rate "$n" "$b")" "$bm" "$s" "$(rate "$n" "$s")" "$nm" \
          "$(ratio "$b" "$s")" "$(ratio "$bm" "$nm")"
      else
        read -r secs mib < <(measure "$BIN" check --model "$model" "$f")
        printf "%-26s %8d %8.3f %10.3f %12s %9s\n" "$model $kind" "$n" "$synth_s" "$secs" \
          "$(rate "$n" "$secs")" "$mib"
      fi
    done
  done
done
echo "(whole process: start, read and parse the JSONL, check; the criterion bench"
echo " 'cargo bench -p checker --bench txn' times the check alone on an in-memory history)"
