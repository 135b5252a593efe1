#!/usr/bin/env python3
"""Runs the pg_regress suite (test/sql, test/expected) against a throwaway cluster with
livesync preloaded. Usage: run_regress.py [--accept] [test ...] (default: every test/sql/*.sql).
--accept copies the results of the named tests over test/expected (review the diff first)."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    args = sys.argv[1:]
    accept = "--accept" in args
    args = [a for a in args if a != "--accept"]
    if accept and not args:
        print("--accept needs the names of the tests whose output you reviewed", file=sys.stderr)
        return 2
    tests = args or sorted(f[:-4] for f in os.listdir(os.path.join(HERE, "sql")) if f.endswith(".sql"))
    pgxs = subprocess.run(["pg_config", "--pgxs"], capture_output=True, text=True, check=True).stdout.strip()
    pg_regress = os.path.join(os.path.dirname(os.path.dirname(pgxs)), "test", "regress", "pg_regress")
    workdir = tempfile.mkdtemp(prefix="livesync-regress-")
    os.chmod(workdir, 0o755)
    # Nothing listens on this port: the replicator retries quietly, the tests read slots themselves.
    pg = harness.Postgres(workdir, {"livesync.redis_url": f"'redis://127.0.0.1:{harness.free_port()}'"})
    outdir = os.path.join(workdir, "out")
    os.makedirs(outdir)
    try:
        pg.start()
        rc = subprocess.run([pg_regress, "--host=127.0.0.1", f"--port={pg.port}", "--user=postgres", f"--bindir={pg.bindir}",
                             f"--inputdir={HERE}", f"--outputdir={outdir}", "--dbname=livesync_regression", *tests]).returncode
        if accept:
            for t in tests:
                shutil.copy(os.path.join(outdir, "results", t + ".out"), os.path.join(HERE, "expected", t + ".out"))
            print(f"accepted: {' '.join(tests)}")
        keep = os.environ.get("LIVESYNC_REGRESS_RESULTS")
        if keep:  # to review new output before accepting it into test/expected
            shutil.copytree(os.path.join(outdir, "results"), keep, dirs_exist_ok=True)
        if rc != 0:
            diffs = os.path.join(outdir, "regression.diffs")
            if os.path.exists(diffs):
                with open(diffs) as f:
                    print(f.read()[:20000])
        return rc
    finally:
        pg.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
