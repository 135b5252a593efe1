#!/usr/bin/env python3
"""Batch bounds: livesync.batch_max_delay lets committed transactions wait for more to
join their batch (fewer, bigger stream entries); at 0 (the default) each commit is
published as soon as the replicator has drained the replication socket. Ten commits
30 ms apart become at most two stream entries with a 2 s delay, and about ten without.
Every row arrives either way, in order."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

COMMITS = 10


def xlen(redis):
    return int(redis.cli("XLEN", harness.key("changes")).split()[-1])


def commit_spaced(stack, first_id):
    """COMMITS transactions of one row, 30 ms apart; returns the LSN before them."""
    start = stack.pg.psql("SELECT pg_current_wal_lsn()")
    stack.pg.psql(f"CALL spaced_commits({first_id}, {COMMITS})")
    return start


def received_ids(stack, start):
    out = subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table",
                          "public.items", "--last-lsn", start, "--count", str(COMMITS), "--timeout", "30"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["new"]["id"] for line in out.stdout.splitlines() if line.strip()]


class Batching(unittest.TestCase):
    def test_batch_max_delay_gathers_commits_into_fewer_entries(self):
        with harness.Stack(pg_settings={"livesync.batch_max_delay": "'2s'"}) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY)")
            pg.psql("""CREATE PROCEDURE spaced_commits(first int, n int) LANGUAGE plpgsql AS $$
                       BEGIN
                         FOR i IN first .. first + n - 1 LOOP
                           INSERT INTO items VALUES (i);
                           COMMIT;
                           PERFORM pg_sleep(0.03);
                         END LOOP;
                       END $$""")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            before = xlen(stack.redis)
            start = commit_spaced(stack, 1)
            self.assertEqual(received_ids(stack, start), list(range(1, COMMITS + 1)))
            lingered = xlen(stack.redis) - before
            self.assertLessEqual(lingered, 2, "with a 2 s delay the ten commits should share one or two entries")

            pg.psql("ALTER SYSTEM SET livesync.batch_max_delay = 0")
            pg.psql("SELECT pg_reload_conf()")
            harness.wait_until(lambda: pg.psql("SHOW livesync.batch_max_delay") == "0", 10, "the reload")
            before = xlen(stack.redis)
            start = commit_spaced(stack, 101)
            self.assertEqual(received_ids(stack, start), list(range(101, 101 + COMMITS)))
            immediate = xlen(stack.redis) - before
            print(f"stream entries for {COMMITS} commits: {lingered} with a 2 s delay, {immediate} without",
                  file=sys.stderr)
            self.assertGreaterEqual(immediate, COMMITS - 2, "without a delay each commit should go out at once")


if __name__ == "__main__":
    unittest.main(verbosity=2)
