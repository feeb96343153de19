#!/usr/bin/env bash
# Samples the resident memory (VmRSS) of a running faultline test's nodes.
#
# usage: scripts/node-rss.sh RUN_OR_STORE_DIR [INTERVAL_SECS] [OUT_CSV]
#
# RUN_OR_STORE_DIR is a run directory (it holds nodes/<id>/pids) or a store
# directory (`--store`): the newest run under it that has node pids is used,
# waiting for one to appear. Each node's current pid is the last line of
# nodes/<id>/pids (the harness appends one per start). Every INTERVAL_SECS
# (default 5) one CSV line per node is printed (and appended to OUT_CSV when
# given):
#
#   elapsed_s,node,pid,rss_kb,data_kb
#
# data_kb is the size of the node's data dir when the run keeps it under
# nodes/<id>/ (empty otherwise). Stops when no node process is left alive.
# Only reads /proc; never signals anything.
set -euo pipefail

dir=${1:?usage: node-rss.sh RUN_OR_STORE_DIR [INTERVAL_SECS] [OUT_CSV]}
interval=${2:-5}
out=${3:-}

find_run() {
    if compgen -G "$1/nodes/*/pids" >/dev/null; then
        echo "$1"
        return
    fi
    # newest run dir under a store holding node pids
    find "$1" -mindepth 3 -maxdepth 5 -path '*/nodes/*/pids' -printf '%T@ %h\n' 2>/dev/null |
        sort -n | tail -1 | awk '{print $2}' | xargs -r dirname | xargs -r dirname
}

run=""
for _ in $(seq 1 600); do
    run=$(find_run "$dir" || true)
    [ -n "$run" ] && break
    sleep 1
done
[ -n "$run" ] || { echo "node-rss: no nodes/*/pids under $dir" >&2; exit 1; }
echo "# run $run" >&2

header="elapsed_s,node,pid,rss_kb,data_kb"
echo "$header"
[ -n "$out" ] && echo "$header" >"$out"
start=$(date +%s)
while :; do
    alive=0
    now=$(( $(date +%s) - start ))
    for pf in "$run"/nodes/*/pids; do
        node=$(basename "$(dirname "$pf")")
        pid=$(tail -n 1 "$pf" 2>/dev/null || true)
        [ -n "$pid" ] || continue
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$rss" ] || continue
        alive=1
        data=""
        for d in "$(dirname "$pf")/data" "$(dirname "$pf")"; do
            if [ -d "$d" ]; then
                data=$(du -sk "$d" 2>/dev/null | awk '{print $1}')
                break
            fi
        done
        line="$now,$node,$pid,$rss,$data"
        echo "$line"
        [ -n "$out" ] && echo "$line" >>"$out"
    done
    [ "$alive" = 1 ] || break
    sleep "$interval"
done
