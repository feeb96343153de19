#!/usr/bin/env bash
# Installs what faultline needs beyond the Rust toolchain. Safe to run twice.
set -euo pipefail
command -v cargo >/dev/null || { echo "install-deps: cargo not found; install Rust (rustup) first" >&2; exit 1; }

# libfaketime: the nemesis's clock faults preload it into nodes
# (nemesis/src/clock.rs looks under /usr/lib/<triplet>/faketime/).
have_libfaketime() {
  compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null \
    || [ -f /usr/lib/faketime/libfaketime.so.1 ] \
    || [ -f /usr/local/lib/faketime/libfaketime.so.1 ]
}
if have_libfaketime; then
  echo "install-deps: libfaketime already installed"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "install-deps: installing libfaketime"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; try without updating first.
  if ! apt-get install -y --no-install-recommends libfaketime; then
    apt-get update
    apt-get install -y --no-install-recommends libfaketime
  fi
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "install-deps: installing libfaketime (sudo)"
  if ! sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libfaketime; then
    sudo apt-get update
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libfaketime
  fi
else
  echo "install-deps: WARNING: libfaketime missing and not installable here (need Debian/Ubuntu apt-get as root);" >&2
  echo "install-deps: clock faults will be refused and their tests skipped. Install the 'libfaketime' package." >&2
fi
