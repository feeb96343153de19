#!/usr/bin/env bash
# Installs what faultline needs beyond the Rust toolchain. Safe to run twice.
#
# - libfaketime: the nemesis's clock faults preload it into nodes
#   (nemesis/src/clock.rs looks under /usr/lib/<triplet>/faketime/).
# - iproute2, nftables: the network-namespace backend (ip, tc, nft) that
#   real systems run on (nemesis/src/netns.rs).
# - etcd-server, redis-server, redis-sentinel, redis-tools, zookeeper: the
#   real systems of systems/defs/ (etcd.toml, redis.toml, zookeeper.toml).
# - postgresql-15 (its client tools come with it: pg_isready): the
#   PostgreSQL system (systems/defs/postgres.toml), run from
#   /usr/lib/postgresql/15/bin as the `postgres` user the package creates.
#   Its own service and default cluster are not started (policy-rc.d below).
#
# Without root and apt-get nothing is installed: the bundled systems still
# run (the proxy mesh needs no root); what is missing is said, and the
# tests that need it say they are skipped.
set -euo pipefail
command -v cargo >/dev/null || { echo "install-deps: cargo not found; install Rust (rustup) first" >&2; exit 1; }

PACKAGES=(libfaketime iproute2 nftables etcd-server etcd-client redis-server redis-sentinel redis-tools zookeeper postgresql-15)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: everything already installed (${PACKAGES[*]})"
  exit 0
fi

# The packages' services must not start on install: faultline starts its
# own nodes, and a stock redis, zookeeper or postgres would hold their ports.
no_services() {
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
}
undo_no_services() { rm -f /usr/sbin/policy-rc.d; }

install() {
  local sudo=("$@")
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; try without updating first.
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    no_services
    trap undo_no_services EXIT
  fi
  install
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "install-deps: installing ${missing[*]} (sudo)"
  install sudo
else
  echo "install-deps: WARNING: missing ${missing[*]} and not installable here (need Debian/Ubuntu apt-get as root)." >&2
  echo "install-deps: clock faults need libfaketime; the real systems (etcd, redis, zookeeper, postgres) need their packages and root." >&2
fi
