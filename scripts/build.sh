#!/usr/bin/env bash
# Builds and installs the extension (PGXS) and builds the C++ programs (CMake, in build/).
# usage: scripts/build.sh [TARGET ...]   with targets: only those (e.g. livesyncd
# livesync-cli for the demo); without: everything (unit tests and benchmark tools too).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "== building the Postgres extension (make) and installing it into $(pg_config --pkglibdir)"
make -j2 -s
$SUDO make -s install
echo "== configuring the C++ build (cmake, in build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ $# -gt 0 ]; then
  echo "== building $*"
  cmake --build build -j2 --target "$@"
else
  echo "== building livesyncd, livesync-cli, livesyncctl, unit tests and tools"
  cmake --build build -j2
fi
