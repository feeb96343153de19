#!/usr/bin/env bash
# Long-run memory evidence for the online checker (issue 18): runs
# `faultline test` against the bundled kv at the raft level for a given
# duration and rate, samples the faultline process's resident memory
# (VmRSS, from /proc) every INTERVAL seconds into a CSV, and prints the
# first / max / last RSS and the online checker's `max_live_keys` (from
# the run's online.json).
#
# usage: scripts/online-memory.sh SECONDS RATE [OUT_CSV] [INTERVAL]
#
# Environment: FAULTLINE (the binary; default $CARGO_TARGET_DIR or
# target, release/faultline), BIN_DIR (the bundled systems' binaries;
# default the binary's directory), STORE (default a fresh temp dir),
# EXTRA (more `faultline test` flags, e.g. `--nemesis none` for the
# highest rate).
# The run is started under `nice -n 19`. Only the faultline process this
# script started is sampled; it is never signalled.
set -euo pipefail

secs=${1:?usage: online-memory.sh SECONDS RATE [OUT_CSV] [INTERVAL]}
rate=${2:?usage: online-memory.sh SECONDS RATE [OUT_CSV] [INTERVAL]}
out=${3:-online-memory.csv}
interval=${4:-10}

tgt=${CARGO_TARGET_DIR:-target}
bin=${FAULTLINE:-$tgt/release/faultline}
bin_dir=${BIN_DIR:-$(dirname "$bin")}
store=${STORE:-$(mktemp -d /tmp/online-memory.XXXXXX)}
mkdir -p "$store"
[ -x "$bin" ] || { echo "online-memory: no faultline binary at $bin" >&2; exit 1; }

# shellcheck disable=SC2086
nice -n 19 "$bin" test --level raft --nodes 3 --time-limit "$secs" --rate "$rate" \
    --store "$store" --bin-dir "$bin_dir" ${EXTRA:-} >"$store/faultline.out" 2>&1 &
pid=$!
echo "# faultline pid $pid, store $store" >&2

echo "elapsed_s,rss_kb" >"$out"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss" | tee -a "$out" >&2
    # sleep in 1 s steps so the loop ends soon after the run does
    for _ in $(seq 1 "$interval"); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
done
rc=0
wait "$pid" || rc=$?

online=$(find "$store" -name online.json -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
results=$(dirname "${online:-$store/x}")/results.json
awk -F, 'NR == 2 {first = $2} NR > 1 {if ($2 > max) max = $2; last = $2; n++}
    END {printf "samples %d  rss_kb first %d  max %d  last %d\n", n, first, max, last}' "$out"
if [ -n "$online" ]; then
    python3 - "$online" "$results" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
print("max_live_keys", o.get("max_live_keys"), " keys_checked", o.get("keys_checked"),
      " keys_retired", o.get("keys_retired"), " check_seconds", o.get("check_seconds"))
try:
    r = json.load(open(sys.argv[2]))
    print("verdict", r.get("verdict"), " ops", r.get("stats", {}).get("ops", r.get("ops")))
except Exception as e:
    print("results.json:", e)
EOF
else
    echo "no online.json under $store" >&2
fi
echo "faultline exit $rc; output in $store/faultline.out" >&2
