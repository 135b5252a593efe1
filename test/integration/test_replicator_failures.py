#!/usr/bin/env python3
"""The replicator loses nothing and doubles nothing when a server dies mid-stream.

Each test commits numbered rows from one sequential writer (so commit order is id
order) while it kills something: Redis (SIGKILL, restarted on the same port and
directory with appendonly + appendfsync always), the replicator process (kill -9, which
makes the postmaster crash-restart every backend and reload the slot's position from
disk), or Postgres itself (immediate shutdown). Then it reads the whole stream with
tools/livesync-dump (the one batch decoder) and checks that every committed row is in
it exactly once, in commit order, with well-formed split parts.

Real servers on free loopback ports (test/integration/harness.py), no sidecar needed.
Needs `make install` first; builds tools/livesync-dump (`make dump-tool`) itself.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DUMP = os.path.join(harness.ROOT, "tools", "livesync-dump", "livesync-dump")


def ensure_dump_tool():
    """Builds tools/livesync-dump (make dump-tool) if it is missing or stale."""
    subprocess.run(["make", "-s", "-C", harness.ROOT, "dump-tool"], check=True, stdout=subprocess.DEVNULL)


class ReplicatorStack:
    """Postgres (livesync preloaded) + Redis, in one temp dir; a context manager."""

    def __init__(self, pg_settings=None):
        import tempfile
        self.workdir = tempfile.mkdtemp(prefix="livesync-repl-")
        os.chmod(self.workdir, 0o755)
        self.redis = harness.Redis(self.workdir)
        settings = {"livesync.redis_url": f"'{self.redis.url}'", "log_min_messages": "info"}
        settings.update(pg_settings or {})
        self.pg = harness.Postgres(self.workdir, settings)

    def __enter__(self):
        ensure_dump_tool()
        try:
            self.redis.start()
            self.pg.start()
            self.pg.psql("CREATE EXTENSION livesync")
            self.wait_replicator()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        import contextlib
        import shutil
        with contextlib.suppress(Exception):
            self.pg.stop("immediate")
        with contextlib.suppress(Exception):
            self.redis.stop()
        if exc and exc[0] is not None:
            with contextlib.suppress(Exception):
                print("---- postgres log (tail) ----\n" + self.pg.log()[-6000:])
        shutil.rmtree(self.workdir, ignore_errors=True)
        return False

    def wait_replicator(self, timeout=60):
        harness.wait_until(lambda: self.psql_quiet("SELECT redis_connected AND slot_exists FROM livesync.status()")
                           == "t", timeout, "the replicator to connect to Redis and its slot")

    def psql_quiet(self, sql):
        out = self.pg.psql(sql, check=False)
        return out.stdout.strip() if out.returncode == 0 else None

    def replicator_pid(self):
        return int(self.pg.psql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'livesync replicator'"))

    def restart_redis(self, down_seconds):
        self.redis.proc.send_signal(signal.SIGKILL)
        self.redis.proc.wait()
        time.sleep(down_seconds)
        self.redis.start()

    def dump(self):
        out = subprocess.run([DUMP, "--redis", self.redis.url], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"livesync-dump failed: {out.stderr}")
        return [json.loads(line) for line in out.stdout.splitlines()]

    def committed_ids(self):
        return [int(x) for x in self.pg.psql("SELECT id FROM items ORDER BY id").split()]

    def wait_stream_has(self, count, timeout=120):
        def caught_up():
            return sum(1 for r in self.dump() if r["change"] and r["change"]["table"] == "items") >= count
        harness.wait_until(caught_up, timeout, f"{count} rows in the stream")


class Writer(threading.Thread):
    """Commits transactions of `rows` rows each, ids consecutive, one after the other,
    until stopped; failed commits (server gone) are retried after a pause and counted
    by what the table holds afterwards."""

    def __init__(self, pg, rows=50, pad=60):
        super().__init__(daemon=True)
        self.pg, self.rows, self.pad = pg, rows, pad
        self.stop_flag = threading.Event()
        self.commits = 0

    def run(self):
        next_id = 1
        while not self.stop_flag.is_set():
            sql = (f"INSERT INTO items SELECT g, repeat('x', {self.pad}) "
                   f"FROM generate_series({next_id}, {next_id + self.rows - 1}) g")
            out = self.pg.psql(sql, check=False)
            if out.returncode == 0:
                self.commits += 1
            else:
                time.sleep(0.2)
            # The next transaction starts after the newest committed id, whatever happened.
            got = self.pg.psql("SELECT coalesce(max(id), 0) FROM items", check=False)
            if got.returncode == 0 and got.stdout.strip():
                next_id = int(got.stdout.strip()) + 1

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=60)


class StreamChecks:
    def assert_stream_matches_table(self, stack):
        committed = stack.committed_ids()
        self.assertGreater(len(committed), 0)
        stack.wait_stream_has(len(committed))
        records = stack.dump()
        rows = [r for r in records if r["change"] and r["change"]["table"] == "items"]
        ids = [r["change"]["new"]["id"] for r in rows]
        dups = len(ids) - len(set(ids))
        self.assertEqual(dups, 0, f"{dups} rows are in the stream more than once")
        self.assertEqual(sorted(set(committed) - set(ids)), [], "committed rows missing from the stream")
        self.assertEqual(ids, committed, "rows are not in commit order")
        self.assert_parts_well_formed(records)
        split = len({r["lsn"] for r in records if r["part"] > 0})
        print(f"\n  {len(ids)} rows in {len({r['lsn'] for r in rows})} transactions, "
              f"{len({r['id'] for r in records})} entries, {split} transactions split", file=sys.stderr)
        return records

    def assert_parts_well_formed(self, records):
        """Entry IDs grow; a transaction's parts are 0..n in order, only the last final."""
        entries = []
        for r in records:
            if not entries or entries[-1] != r["id"]:
                entries.append(r["id"])
        keys = [tuple(int(x) for x in e.split("-")) for e in entries]
        self.assertEqual(keys, sorted(set(keys)), "stream entry IDs repeat or go backwards")
        parts = {}
        order = []
        for r in records:
            key = (r["lsn"], r["part"])
            if key not in parts:
                parts[key] = r["final"]
                order.append(key)
        txns = {}
        for lsn, part in order:
            txns.setdefault(lsn, []).append(part)
        lsns = [lsn for lsn, _ in order]
        self.assertEqual(lsns, sorted(lsns), "transactions out of commit order")
        for lsn, seen in txns.items():
            self.assertEqual(seen, list(range(len(seen))), f"transaction {lsn}: parts {seen}")
            self.assertTrue(parts[(lsn, seen[-1])], f"transaction {lsn}: last part not final")
            for p in seen[:-1]:
                self.assertFalse(parts[(lsn, p)], f"transaction {lsn}: part {p} final but more follow")


def setup_items(stack):
    stack.pg.psql("CREATE TABLE items (id int PRIMARY KEY, pad text)")
    stack.pg.psql("SELECT livesync.publish('items')")


# Small batches so that transactions are split into parts all the time: every kill has
# a good chance of landing between two parts of one transaction.
SMALL_BATCHES = {"livesync.batch_max_bytes": "'4kB'"}


class ReplicatorFailures(StreamChecks, unittest.TestCase):
    def test_redis_killed_mid_stream_loses_and_doubles_nothing(self):
        with ReplicatorStack(SMALL_BATCHES) as stack:
            setup_items(stack)
            writer = Writer(stack.pg)
            writer.start()
            try:
                for _ in range(2):
                    time.sleep(1.5)
                    stack.restart_redis(down_seconds=2.5)
                    stack.wait_replicator()
                time.sleep(1)
            finally:
                writer.stop()
            self.assertGreater(writer.commits, 5)
            self.assert_stream_matches_table(stack)
            # One line per state change, not one per retry: two outages, two WARNINGs
            # (down) and two "streaming again" (up), although each outage saw several retries;
            # plus at most one "still not streaming" per outage for its lasting reason
            # (connection refused, after the first "server closed the connection").
            log = stack.pg.log()
            warnings = re.findall(r"WARNING:  livesync replicator: (still not streaming)?", log)
            self.assertEqual(len([w for w in warnings if not w]), 2, log[-3000:])
            self.assertLessEqual(len([w for w in warnings if w]), 2, log[-3000:])
            self.assertEqual(log.count("livesync replicator: streaming again"), 2, log[-3000:])

    def test_replicator_killed_mid_stream_loses_and_doubles_nothing(self):
        with ReplicatorStack(SMALL_BATCHES) as stack:
            setup_items(stack)
            writer = Writer(stack.pg)
            writer.start()
            try:
                for _ in range(2):
                    time.sleep(1.5)
                    pid = stack.replicator_pid()
                    os.kill(pid, signal.SIGKILL)
                    harness.wait_until(lambda: stack.psql_quiet("SELECT 1") == "1", 60, "postgres to come back")
                    stack.wait_replicator()
                    self.assertNotEqual(stack.replicator_pid(), pid)
                time.sleep(1)
            finally:
                writer.stop()
            self.assertGreater(writer.commits, 5)
            self.assert_stream_matches_table(stack)

    def test_postgres_immediate_shutdown_mid_stream_loses_and_doubles_nothing(self):
        with ReplicatorStack(SMALL_BATCHES) as stack:
            setup_items(stack)
            writer = Writer(stack.pg)
            writer.start()
            try:
                for _ in range(2):
                    time.sleep(1.5)
                    stack.pg.pg_ctl("stop", "-m", "immediate")
                    time.sleep(0.5)
                    stack.pg.pg_ctl("start", "-w", "-l", os.path.join(stack.pg.dir, "log"))
                    stack.wait_replicator()
                time.sleep(1)
            finally:
                writer.stop()
            self.assertGreater(writer.commits, 5)
            self.assert_stream_matches_table(stack)


if __name__ == "__main__":
    unittest.main(verbosity=2)
