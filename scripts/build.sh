#!/usr/bin/env bash
# Builds and installs the extension (PGXS) and builds livesyncd, livesync-cli and the
# unit tests (CMake, in build/).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
make -j2 -s
$SUDO make -s install
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
