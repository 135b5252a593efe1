#!/usr/bin/env python3
"""livesync.redis_min_replicas: the slot moves past a batch only once that many Redis
replicas acknowledged it (WAIT), so a failover to a replica cannot lose what the slot
already passed. A real replica (redis-server, REPLICAOF) is stopped and started again.
Needs `make install` and `make dump-tool`."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_replicator_failures import ReplicatorStack, setup_items  # noqa: E402


class Replicas(unittest.TestCase):
    def test_slot_waits_for_the_redis_replica(self):
        with ReplicatorStack({"livesync.redis_min_replicas": "1", "livesync.redis_timeout": "'2s'"}) as stack:
            replica = harness.Redis(stack.workdir)
            replica.dir = os.path.join(stack.workdir, "replica")
            try:
                replica.start()
                replica.cli("REPLICAOF", "127.0.0.1", str(stack.redis.port))
                pg = stack.pg
                setup_items(stack)
                pg.psql("INSERT INTO items VALUES (1, 'replicated')")
                harness.wait_until(lambda: pg.psql("SELECT confirmed_flush_lsn >= published_lsn "
                                                   "FROM livesync.status()") == "t", 30, "the slot to confirm")
                entries = stack.redis.cli("XLEN", harness.key("changes")).split()[-1]
                self.assertEqual(replica.cli("XLEN", harness.key("changes")).split()[-1], entries)

                mark = len(pg.log())  # (before the replica attached, the worker already waited once)
                replica.proc.send_signal(signal.SIGKILL)
                replica.proc.wait()
                pg.psql("INSERT INTO items VALUES (2, 'primary only')")
                harness.wait_until(lambda: stack.redis.cli("XLEN", harness.key("changes")).split()[-1] == str(int(entries) + 1), 30,
                                   "the batch on the primary")
                time.sleep(3)
                # In Redis, but not on a replica: the slot must not move past it.
                self.assertEqual(pg.psql("SELECT confirmed_flush_lsn < published_lsn FROM livesync.status()"), "t")
                self.assertIn("only 0 of 1 Redis replicas acknowledged", pg.log()[mark:])

                replica.start()
                replica.cli("REPLICAOF", "127.0.0.1", str(stack.redis.port))
                harness.wait_until(lambda: pg.psql("SELECT confirmed_flush_lsn >= published_lsn "
                                                   "FROM livesync.status()") == "t", 30, "the slot to confirm")
                self.assertIn("Redis replicas caught up", pg.log()[mark:])
                # One line per state change, not one per WAIT that timed out.
                self.assertEqual(pg.log()[mark:].count("only 0 of 1 Redis replicas acknowledged"), 1)
            finally:
                replica.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
