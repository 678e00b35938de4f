#!/usr/bin/env bash
# Installs the Debian packages that the tests need. Skips what is already installed, so a
# rerun is quick. Run as root (CI does); as another user it only reports what is missing.
set -euo pipefail

# One "command package" pair per line: the executable the tests look for, and the Debian
# package that provides it.
DEPS=(
  "promtool prometheus"
  "prometheus prometheus"
  "openssl openssl"
  "redis-server redis-server"
  "prometheus-node-exporter prometheus-node-exporter"
)

have() {
  command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /usr/local/bin/$1 || -x /usr/bin/$1 ]]
}

missing=()
for dep in "${DEPS[@]}"; do
  read -r cmd pkg <<<"$dep"
  if have "$cmd"; then
    echo "install-deps: $cmd found (package $pkg)"
  else
    echo "install-deps: $cmd missing (package $pkg)"
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: nothing to install"
  exit 0
fi

if ((EUID != 0)); then
  echo "install-deps: not root, so not installing. Install the missing packages with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "or run: sudo bash scripts/install-deps.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
apt-get update </dev/null
echo "install-deps: apt-get install -y --no-install-recommends ${missing[*]}"
apt-get install -y --no-install-recommends "${missing[@]}" </dev/null

failed=0
for dep in "${DEPS[@]}"; do
  read -r cmd pkg <<<"$dep"
  if ! have "$cmd"; then
    echo "install-deps: $cmd is still missing after installing $pkg" >&2
    failed=1
  fi
done
exit "$failed"
