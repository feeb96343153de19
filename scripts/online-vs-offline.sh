#!/usr/bin/env bash
# Online-versus-offline evidence for the online check (issue 18): for each
# kv level and seed, one `faultline test` run with the default nemesis;
# prints, per run, when the online check first reported an anomaly
# (seconds into the run, from online.json) and when the offline check
# reported it (the history's last event plus the final check's time), then
# per level the median of each and how many runs were invalid / flagged
# online.
#
# usage: scripts/online-vs-offline.sh SECONDS SEEDS LEVEL...
#   e.g. scripts/online-vs-offline.sh 20 "1 2 3" raft-local quorum gossip
#
# Environment: FAULTLINE (default $CARGO_TARGET_DIR or target,
# release/faultline), BIN_DIR (default the binary's directory), STORE
# (default a fresh temp dir), EXTRA (more `faultline test` flags).
set -euo pipefail

secs=${1:?usage: online-vs-offline.sh SECONDS SEEDS LEVEL...}
seeds=${2:?usage: online-vs-offline.sh SECONDS SEEDS LEVEL...}
shift 2
[ $# -ge 1 ] || { echo "online-vs-offline: name at least one level" >&2; exit 2; }

tgt=${CARGO_TARGET_DIR:-target}
bin=${FAULTLINE:-$tgt/release/faultline}
bin_dir=${BIN_DIR:-$(dirname "$bin")}
store=${STORE:-$(mktemp -d /tmp/online-vs-offline.XXXXXX)}
[ -x "$bin" ] || { echo "online-vs-offline: no faultline binary at $bin" >&2; exit 1; }
echo "# store $store" >&2

for level in "$@"; do
    for seed in $seeds; do
        dir="$store/$level-$seed"
        mkdir -p "$dir"
        # shellcheck disable=SC2086
        "$bin" test --level "$level" --nodes 3 --time-limit "$secs" --seed "$seed" \
            --store "$dir" --bin-dir "$bin_dir" ${EXTRA:-} >"$dir/faultline.out" 2>&1 || true
    done
done

python3 - "$store" "$@" <<'PY'
import glob, json, os, statistics, sys

store, levels = sys.argv[1], sys.argv[2:]
print("| level | seed | verdict | online first s | offline s | key | online kind |")
print("|---|---|---|---|---|---|---|")
summary = []
for level in levels:
    on, off, invalid, flagged, runs = [], [], 0, 0, 0
    for d in sorted(glob.glob(os.path.join(store, f"{level}-*"))):
        seed = d.rsplit("-", 1)[1]
        runs_dirs = [r for r in glob.glob(os.path.join(d, "*")) if os.path.isdir(r)]
        if not runs_dirs:
            print(f"| {level} | {seed} | no run | | | | |")
            continue
        run = max(runs_dirs, key=os.path.getmtime)
        runs += 1
        res = json.load(open(os.path.join(run, "results.json")))
        online = json.load(open(os.path.join(run, "online.json")))
        last = 0
        with open(os.path.join(run, "history.jsonl")) as f:
            for line in f:
                try:
                    t = json.loads(line).get("time")
                except ValueError:
                    continue
                if isinstance(t, int):
                    last = max(last, t)
        offline = last / 1e9 + res.get("check_seconds", 0.0)
        first = online.get("first") or {}
        fs = first.get("seconds")
        if res["verdict"] == "invalid":
            invalid += 1
            off.append(offline)
            if fs is not None:
                flagged += 1
                on.append(fs)
        print(f"| {level} | {seed} | {res['verdict']} | "
              f"{'' if fs is None else f'{fs:.1f}'} | {offline:.1f} | "
              f"{first.get('key', '')} | {first.get('kind', '')} |")
    med = lambda v: f"{statistics.median(v):.1f}" if v else "-"
    mn = lambda v: f"{min(v):.1f}" if v else "-"
    summary.append(f"| {level} | {invalid}/{runs} | {flagged}/{invalid} | {mn(on)} / {med(on)} | {med(off)} |")
print()
print("| level | invalid runs | flagged online | online first s (min / median) | offline s (median) |")
print("|---|---|---|---|---|")
print("\n".join(summary))
PY
