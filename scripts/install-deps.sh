#!/usr/bin/env bash
# Installs the Debian 12 packages livesync builds and tests with (root, or sudo).
# Why each library: see README.md, "Dependencies".
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config python3 git
  postgresql-15 postgresql-server-dev-15 libpq-dev
  libwebsockets-dev libhiredis-dev libmsgpack-dev rapidjson-dev libjwt-dev libssl-dev libcurl4-openssl-dev
  libtomlplusplus-dev
  libgtest-dev googletest
  redis-server redis-tools redis-sentinel
  clang-14 libfuzzer-14-dev
  nodejs node-ws
  chromium
  nginx openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm (clients/js: npm pack, and its tests' npm install): Debian's package, unless the
# installed nodejs already brings it (NodeSource's nodejs provides and conflicts with npm).
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "== Debian packages: all present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "== installing Debian packages: ${missing[*]}"
echo "   (if another apt or dpkg run holds the lock, this waits for it, up to 10 minutes)"
export DEBIAN_FRONTEND=noninteractive
LOCK_WAIT=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${LOCK_WAIT[@]}" update -q
$SUDO apt-get "${LOCK_WAIT[@]}" install -y -q --no-install-recommends "${missing[@]}"
