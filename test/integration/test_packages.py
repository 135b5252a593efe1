#!/usr/bin/env python3
"""The Debian packages (scripts/build-packages.sh) as a user installs them: apt installs
postgresql-15-livesync and livesync-sidecar, Debian's PostgreSQL 15 creates the extension
from the packaged files, the packaged livesyncd runs with the packaged config (the test's
ports given as flags, which win over the file), a change reaches the packaged
livesync-cli, and the packages are purged.

CAUTION: this writes into the system's PostgreSQL 15 directories, which other tests on
the machine may use. Every file the packages would replace is backed up first and put
back (and checked byte for byte) after the purge, whatever happens. It runs only with
LIVESYNC_PACKAGE_TEST=1 (.ci/run sets it). The packages are made with
scripts/build-packages.sh --reuse-build from what the suite's build already holds (the
extension objects of this tree, the programs of LIVESYNC_BUILD_DIR): seconds, where a
clean build of both packages takes 4 CPU minutes. LIVESYNC_PACKAGES_DIR=dir uses
packages built before instead (e.g. by scripts/build-packages.sh from a clean export)."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_PG_BIN = "/usr/lib/postgresql/15/bin"
PACKAGES = ("postgresql-15-livesync", "livesync-sidecar")
APT = ["apt-get", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def package_files(deb):
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True)
    listing = subprocess.run(["tar", "-t"], input=out.stdout, capture_output=True, check=True).stdout.decode()
    return [p[1:] for p in listing.splitlines() if not p.endswith("/")]


def installed(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "install ok installed" in out.stdout


def other_test_clusters():
    """Pids of clusters of the system's PostgreSQL 15 that other livesync test runs
    started (harness.Postgres, data in a temp livesync-* directory): they load the
    extension's files, which this test swaps for the packaged ones for a while."""
    prefix = os.path.join(tempfile.gettempdir(), "livesync-")
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/exe") != os.path.join(SYSTEM_PG_BIN, "postgres"):
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "-D" in argv[:-1] and argv[argv.index("-D") + 1].startswith(prefix):
            pids.append(int(pid))
    return pids


@unittest.skipUnless(os.environ.get("LIVESYNC_PACKAGE_TEST") == "1", "set LIVESYNC_PACKAGE_TEST=1 (writes system files)")
@unittest.skipUnless(os.geteuid() == 0, "installs packages: run as root")
class Packages(unittest.TestCase):
    def test_install_create_extension_stream_a_change_and_purge(self):
        for p in PACKAGES:
            self.assertFalse(installed(p), f"{p} is already installed; this test would remove it")
        # On a shared machine another test run may be using the system's PostgreSQL 15
        # with the extension `make install` put there: do not swap its files under it.
        running = other_test_clusters()
        if running:
            self.skipTest(f"another test run uses the system's PostgreSQL 15 (postmaster pids {running}); "
                          "its extension files are not swapped under it")
        work = tempfile.mkdtemp(prefix="livesync-packages-")
        try:
            dist = os.environ.get("LIVESYNC_PACKAGES_DIR") or os.path.join(work, "dist")
            if not os.environ.get("LIVESYNC_PACKAGES_DIR"):
                subprocess.run([os.path.join(ROOT, "scripts", "build-packages.sh"), "--reuse-build", harness.BUILD,
                                dist], check=True, stdout=subprocess.DEVNULL)
            debs = sorted(os.path.join(dist, f) for f in os.listdir(dist) if f.endswith(".deb"))
            self.assertEqual(len(debs), 2, debs)
            # Back up every file the packages would put in place.
            backup = os.path.join(work, "backup")
            before = {}
            for deb in debs:
                for path in package_files(deb):
                    if os.path.lexists(path):
                        before[path] = sha256(path)
                        dest = os.path.join(backup, path.lstrip("/"))
                        os.makedirs(os.path.dirname(dest), exist_ok=True)
                        shutil.copy2(path, dest)
                    else:
                        before[path] = None
            try:
                subprocess.run([*APT, "install", *debs], check=True, capture_output=True)
                self.exercise()
            finally:
                subprocess.run([*APT, "purge", *PACKAGES], capture_output=True)
                for path, digest in before.items():
                    if digest is not None:
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        shutil.copy2(os.path.join(backup, path.lstrip("/")), path)
            for p in PACKAGES:
                self.assertFalse(installed(p), f"{p} still installed after purge")
            for path, digest in before.items():
                if digest is None:
                    self.assertFalse(os.path.lexists(path), f"{path} left behind")
                else:
                    self.assertEqual(sha256(path), digest, f"{path} not restored")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def exercise(self):
        self.assertEqual(subprocess.run(["getent", "passwd", "livesync"], capture_output=True).returncode, 0)
        st = os.stat("/etc/livesync/livesyncd.toml")
        self.assertEqual(oct(st.st_mode & 0o777), "0o640")
        verify = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/livesyncd.service"],
                                capture_output=True, text=True)
        self.assertEqual(verify.returncode, 0, verify.stderr)
        # Debian's PostgreSQL with the packaged extension; the packaged programs.
        bindir = os.path.join(tempfile.mkdtemp(prefix="livesync-pkgbin-"), "bin")
        os.makedirs(bindir)
        for tool in ("livesyncd", "livesync-cli", "livesyncctl"):
            os.symlink(f"/usr/bin/{tool}", os.path.join(bindir, tool))
        saved_path, saved_build = os.environ["PATH"], harness.BUILD
        os.environ["PATH"] = f"{SYSTEM_PG_BIN}:{saved_path}"
        harness.BUILD = bindir
        try:
            self.assertEqual(harness.pg_bindir(), SYSTEM_PG_BIN)
            args = ["--config", "/etc/livesync/livesyncd.toml", "--allow-anonymous"]
            with harness.Stack(sidecar_args=args) as stack:
                stack.wait_replicator()
                pg = stack.pg
                self.assertEqual(pg.psql("SELECT probin FROM pg_proc WHERE proname = 'worker_state'"),
                                 "$libdir/livesync")
                pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
                pg.psql("SELECT livesync.publish('items')")
                pg.psql("SELECT livesync.grant('anonymous', 'items')")
                stack.wait_published("public.items")
                client = subprocess.Popen(["/usr/bin/livesync-cli", "--url", stack.sidecar.url, "--table",
                                           "public.items", "--count", "1", "--timeout", "60"],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                harness.wait_until(lambda: stack.pg.psql("SELECT count(*) FROM livesync.clients()") == "1", 30,
                                   "the packaged livesync-cli to connect")
                pg.psql("INSERT INTO items VALUES (1, 'from the packages')")
                out, err = client.communicate(timeout=60)
                self.assertEqual(client.returncode, 0, err)
                self.assertIn('"label":"from the packages"', out)
        finally:
            os.environ["PATH"], harness.BUILD = saved_path, saved_build
            shutil.rmtree(os.path.dirname(bindir), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
