#!/usr/bin/env bash
# Installs what faultline needs beyond the Rust toolchain. Safe to run twice.
set -euo pipefail
# Nothing beyond cargo is needed yet.
command -v cargo >/dev/null || { echo "install-deps: cargo not found; install Rust (rustup) first" >&2; exit 1; }
