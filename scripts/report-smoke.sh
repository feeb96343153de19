#!/usr/bin/env bash
# Renders a run's HTML report, loads it in headless Chromium, fails on any
# JavaScript error, and prints the screenshot's path.
#
#   scripts/report-smoke.sh RUN_DIR [SCREENSHOT.png]
#
# Needs `chromium` (Debian: apt-get install -y chromium). Builds the reports
# crate's `render` example with CARGO_TARGET_DIR (default /work/target-reports).
set -euo pipefail
run_dir=${1:?usage: scripts/report-smoke.sh RUN_DIR [SCREENSHOT.png]}
run_dir=$(cd "$run_dir" && pwd)
shot=${2:-$(mktemp -d)/report.png}
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-reports}

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
  echo "report-smoke: chromium not found (apt-get install -y chromium)" >&2
  exit 2
fi

(cd "$here" && cargo build -q -p reports --example render)
page=$("$CARGO_TARGET_DIR/debug/examples/render" "$run_dir")
echo "report: $page ($(du -h "$page" | cut -f1))"

profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
# --virtual-time-budget lets the page's scripts run (and the canvas draw)
# before the screenshot.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu \
  --disable-background-networking --disable-component-update --disable-sync \
  --no-first-run --user-data-dir="$profile" \
  --enable-logging=stderr --v=0 \
  --virtual-time-budget=5000 --hide-scrollbars \
  --window-size=1400,2000 --screenshot="$shot" \
  "file://$page" >"$log" 2>&1 || {
  echo "report-smoke: chromium failed:" >&2
  tail -20 "$log" >&2
  exit 1
}
if grep -E "Uncaught|ERROR:CONSOLE|CONSOLE\([0-9]+\)\].*(Error|error)" "$log" >&2; then
  echo "report-smoke: JavaScript error in $page" >&2
  exit 1
fi
if [[ ! -s $shot ]]; then
  echo "report-smoke: no screenshot written" >&2
  tail -20 "$log" >&2
  exit 1
fi
echo "screenshot: $shot"
