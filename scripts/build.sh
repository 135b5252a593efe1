#!/usr/bin/env bash
# Builds and installs the extension (PGXS) and builds the C++ programs (CMake, in build/).
# usage: scripts/build.sh [TARGET ...]   with targets: only those (e.g. livesyncd
# livesync-cli); without: everything (unit tests and benchmark tools too). The demo
# builds its own, quicker way (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
JOBS=$(nproc)
echo "== building the Postgres extension (make -j$JOBS) and installing it into $(pg_config --pkglibdir)"
make -j"$JOBS" -s
$SUDO make -s install
echo "== configuring the C++ build (cmake, in build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ $# -gt 0 ]; then
  echo "== building $*"
  cmake --build build -j"$JOBS" --target "$@"
else
  echo "== building livesyncd, livesync-cli, livesyncctl, unit tests and tools"
  cmake --build build -j"$JOBS"
fi
