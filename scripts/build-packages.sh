#!/usr/bin/env bash
# Builds the Debian packages from this tree into dist/:
#   postgresql-15-livesync  the extension for Debian's PostgreSQL 15 (built with
#                           /usr/lib/postgresql/15/bin/pg_config, whatever pg_config
#                           is on PATH)
#   livesync-sidecar        livesyncd, livesync-cli, livesyncctl, the systemd unit and
#                           /etc/livesync/livesyncd.toml (a conffile)
# Each is built from a clean export of HEAD's files plus the working tree's changes
# (git stash create), so objects of another pg_config never leak in: about 4 CPU
# minutes. With --reuse-build DIR the packages hold what is already built instead: the
# extension objects in this tree (make, as scripts/build.sh built them with the
# pg_config on PATH, which must then be Debian's PostgreSQL 15 or a copy of its
# headers) and the programs of the CMake build in DIR (cmake --install --prefix /usr):
# the same files, packaged in seconds (CI's package test does this).
# usage: scripts/build-packages.sh [--reuse-build DIR] [OUTDIR]   (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
REUSE=""
if [ "${1:-}" = "--reuse-build" ]; then
  REUSE=$(realpath "$2")
  shift 2
  [ -f "$REUSE/CMakeCache.txt" ] || { echo "build-packages: $REUSE is not a CMake build directory" >&2; exit 2; }
fi
OUT=$(realpath -m "${1:-dist}")
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" sql/livesync.control).0
ARCH=$(dpkg --print-architecture)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

if [ -n "$REUSE" ]; then
  echo "== packaging what is built: the extension in $ROOT, the programs in $REUSE"
  SRC="$ROOT"
else
  echo "== exporting the tree"
  mkdir "$WORK/src"
  TREE=$(git stash create || true)
  git archive "${TREE:-HEAD}" | tar -x -C "$WORK/src"
  SRC="$WORK/src"
fi

# Debian packages of the shared libraries the given files link directly (NEEDED), the
# C and C++ runtimes left out.
depends_of() {
  for f in "$@"; do
    for lib in $(objdump -p "$f" | awk '/NEEDED/ {print $2}'); do
      path=$(ldd "$f" | awk -v l="$lib" '$1 == l {print $3}')
      [ -n "$path" ] && { dpkg -S "$(realpath "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true; }
    done
  done | cut -d: -f1 | sort -u | grep -v -x -e libc6 -e libgcc-s1 -e libstdc++6 | paste -sd, | sed 's/,/, /g'
}

echo "== postgresql-15-livesync $VERSION (PG_CONFIG=$PG_CONFIG)"
EXT="$WORK/ext"
make -C "$SRC" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" DESTDIR="$EXT" install
strip --strip-unneeded "$EXT$($PG_CONFIG --pkglibdir)/livesync.so"
mkdir -p "$EXT/DEBIAN"
cat > "$EXT/DEBIAN/control" <<CONTROL
Package: postgresql-15-livesync
Version: $VERSION
Architecture: $ARCH
Maintainer: livesync <livesync@localhost>
Depends: postgresql-15, $(depends_of "$EXT$($PG_CONFIG --pkglibdir)/livesync.so")
Section: database
Priority: optional
Description: livesync: stream committed PostgreSQL changes to WebSocket clients (extension)
 The livesync output plugin and replicator for PostgreSQL 15. Needs wal_level = logical,
 shared_preload_libraries = 'livesync' and livesync in output_plugin_libraries.
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$EXT" "$OUT/postgresql-15-livesync_${VERSION}_${ARCH}.deb" >/dev/null

echo "== livesync-sidecar $VERSION"
SIDE="$WORK/sidecar"
if [ -n "$REUSE" ]; then
  BUILD="$REUSE"
else
  BUILD="$WORK/build"
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" --target livesyncd livesync-cli livesyncctl
DESTDIR="$SIDE" cmake --install "$BUILD" --prefix /usr --strip >/dev/null
mkdir -p "$SIDE/DEBIAN"
echo /etc/livesync/livesyncd.toml > "$SIDE/DEBIAN/conffiles"
cat > "$SIDE/DEBIAN/control" <<CONTROL
Package: livesync-sidecar
Version: $VERSION
Architecture: $ARCH
Maintainer: livesync <livesync@localhost>
Depends: adduser, $(depends_of "$SIDE"/usr/bin/*)
Section: net
Priority: optional
Description: livesync: stream committed PostgreSQL changes to WebSocket clients (sidecar)
 livesyncd (the WebSocket sidecar, a systemd unit, /etc/livesync/livesyncd.toml),
 livesync-cli and livesyncctl. Enable with: systemctl enable --now livesyncd
CONTROL
cat > "$SIDE/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent passwd livesync >/dev/null || adduser --system --group --no-create-home --home /nonexistent livesync >/dev/null
  chown root:livesync /etc/livesync/livesyncd.toml
  chmod 0640 /etc/livesync/livesyncd.toml
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
POSTINST
cat > "$SIDE/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ]; then
  getent passwd livesync >/dev/null && deluser --system livesync >/dev/null 2>&1 || true
fi
POSTRM
chmod 0755 "$SIDE/DEBIAN/postinst" "$SIDE/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz --build "$SIDE" "$OUT/livesync-sidecar_${VERSION}_${ARCH}.deb" >/dev/null

ls -l "$OUT"/*.deb
