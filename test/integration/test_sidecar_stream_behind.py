#!/usr/bin/env python3
"""Redis comes back with less than livesyncd read (what a Sentinel failover leaves when
the promoted replica had not received the newest entries yet): the newest entries the
sidecar handed over are removed (XDEL) and every client connection is killed, as a
failover does. The sidecar must not tell its live sessions resync_required -- they
have those transactions -- but wait for the stream to pass what it read, hand none of
it over twice, and go on with the next commits. A client sees every row exactly once,
in commit order, with no resync_required."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_sidecar_resume import ROWS_PER_TXN, cli, new_stack, setup_items  # noqa: E402

TXNS = 10  # per fill


class StreamBehind(unittest.TestCase):
    def test_entries_lost_by_redis_are_neither_a_gap_nor_sent_twice(self):
        with new_stack() as stack:
            setup_items(stack)
            total = 2 * TXNS * ROWS_PER_TXN
            client = cli(stack, "behind-1", count=total, timeout=120)
            client.wait_subscribed()
            stack.pg.psql(f"CALL fill(1, {TXNS}, {ROWS_PER_TXN}, 0.05)")  # paced: entries of their own
            harness.wait_until(lambda: len(client.changes) >= TXNS * ROWS_PER_TXN, 30, "the first rows")

            # The newest three entries (read and handed over) are lost, older ones stay, and
            # every connection to Redis drops.
            key = harness.key("changes")
            newest = stack.redis.raw("XREVRANGE", key, "+", "-", "COUNT", "3").split(b"\n")
            ids = [line.decode() for line in newest if line and b"-" in line and line.split(b"-")[0].isdigit()]
            self.assertEqual(len(ids), 3, newest)
            self.assertGreater(int(stack.redis.cli("XLEN", key).split()[-1]), 3)
            stack.redis.cli("XDEL", key, *ids)
            stack.redis.cli("CLIENT", "KILL", "TYPE", "normal")
            harness.wait_until(lambda: stack.sidecar.metric("livesync_stream_behind_total") >= 1, 30,
                               "livesyncd to find the stream behind what it read")

            stack.pg.psql(f"CALL fill({TXNS * ROWS_PER_TXN + 1}, {TXNS}, {ROWS_PER_TXN}, 0)")
            rc, changes = client.finish(timeout=120)
            self.assertEqual(rc, 0, "".join(client.stderr))
            self.assertEqual([c["new"]["id"] for c in changes], list(range(1, total + 1)))
            self.assertFalse(any(line.startswith("resync_required") for line in client.stderr), client.stderr)
            self.assertEqual(stack.sidecar.metric("livesync_live_gaps_total"), 0)
            with open(stack.sidecar.log_path) as f:
                self.assertIn("stream caught up with what was read before", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
