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
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
