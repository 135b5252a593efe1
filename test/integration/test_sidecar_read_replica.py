#!/usr/bin/env python3
"""A sidecar reading the stream from a Redis replica (--redis-read) while it writes its
registry to the primary: a replica that lags (here: SIGSTOPped while rows commit) only
delays its clients, never skips a row; a client resuming there with its last LSN gets
exactly the rest; and when the stream was trimmed past a client's position, the trim
marker replicates with the trim, so the replica-reading sidecar answers resync_required
just as the primary-reading one does (docs/architecture.md, Reading from a replica)."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_sentinel_failover import Client  # noqa: E402


def ids(client):
    return [i for _, i, _ in client.rows]


class ReadReplica(unittest.TestCase):
    def test_lagging_replica_delays_never_skips_and_resume_and_gap_hold(self):
        with harness.Stack() as stack:
            pg, primary = stack.pg, stack.redis
            replica = harness.Redis(stack.workdir)
            replica.dir = os.path.join(stack.workdir, "replica")
            reader = None
            clients = []
            try:
                replica.start()
                replica.cli("REPLICAOF", "127.0.0.1", str(primary.port))
                harness.wait_until(lambda: "master_link_status:up" in replica.cli("INFO", "replication"), 30,
                                   "the replica to sync")
                reader = harness.Sidecar(stack.workdir, primary.url,
                                         extra=["--allow-anonymous", "--redis-read", replica.url]).start()
                pg.psql("CREATE TABLE fo (id int PRIMARY KEY)")
                pg.psql("SELECT livesync.publish('fo')")
                pg.psql("SELECT livesync.grant('anonymous', 'fo')")
                stack.wait_published("public.fo")
                on_primary = Client(stack.sidecar, "p-1")
                on_replica = Client(reader, "r-1")
                clients = [on_primary, on_replica]
                for c in clients:
                    c.start()
                harness.wait_until(lambda: on_replica.subscribed.is_set() and on_primary.subscribed.is_set(), 30,
                                   "the clients to subscribe")
                # The registry goes to the primary even though the stream comes from the replica.
                harness.wait_until(lambda: primary.cli("EXISTS", harness.key("client:r-1")) == "(integer) 1", 10,
                                   "the replica-reading sidecar to register its client on the primary")
                pg.psql("INSERT INTO fo SELECT g FROM generate_series(1, 50) g")
                harness.wait_until(lambda: len(on_replica.rows) >= 50, 30, "rows through the replica")

                # Lag: the replica stops; the primary goes on; the replica's clients wait.
                replica.proc.send_signal(signal.SIGSTOP)
                try:
                    for g in range(51, 251, 10):
                        pg.psql(f"INSERT INTO fo SELECT g FROM generate_series({g}, {g + 9}) g")
                    harness.wait_until(lambda: len(on_primary.rows) >= 250, 30, "rows through the primary")
                    self.assertLess(len(on_replica.rows), 250, "the stopped replica delivered rows")
                finally:
                    replica.proc.send_signal(signal.SIGCONT)
                harness.wait_until(lambda: len(on_replica.rows) >= 250, 60, "the replica's client to catch up")

                # Resume on the replica-reading sidecar from the last LSN it delivered.
                on_replica.halt()
                pg.psql("INSERT INTO fo SELECT g FROM generate_series(251, 300) g")
                resumed = Client(reader, "r-1")
                resumed.last_lsn = on_replica.last_lsn
                clients.append(resumed)
                resumed.start()
                harness.wait_until(lambda: len(resumed.rows) >= 50, 30, "the resumed client to get the rest")
                time.sleep(0.5)  # a duplicate would arrive now
                self.assertEqual(ids(on_replica)[:250] + ids(resumed), list(range(1, 301)))
                self.assertEqual(ids(on_primary)[:250], list(range(1, 251)))
                self.assertEqual(on_replica.resyncs + resumed.resyncs, 0)

                # Gap: trim on the primary past the resumed client's position; the
                # marker reaches the replica in the same transaction as the trim.
                resumed.halt()
                last = resumed.last_lsn
                pg.psql("INSERT INTO fo SELECT g FROM generate_series(301, 310) g")
                harness.wait_until(lambda: len(on_primary.rows) >= 310, 30, "rows 301-310")
                tail = primary.raw("XREVRANGE", harness.key("changes"), "+", "-", "COUNT", "1").split(b"\n")[0].decode()
                primary.cli("EVAL", "redis.call('XTRIM', KEYS[1], 'MAXLEN', 1) "
                            "redis.call('SET', KEYS[2], ARGV[1]) return 1", "2", harness.key("changes"),
                            harness.key("trimmed_lsn"), str(int(tail.split("-")[0]) - 1))
                harness.wait_until(lambda: replica.cli("GET", harness.key("trimmed_lsn")) != "(nil)", 10,
                                   "the trim marker on the replica")
                gapped = Client(reader, "r-1")
                gapped.last_lsn = last
                clients.append(gapped)
                gapped.start()
                harness.wait_until(lambda: gapped.resyncs >= 1, 30, "resync_required from the replica-reading sidecar")
            finally:
                for c in clients:
                    c.stop.set()
                if reader:
                    reader.stop()
                if replica.proc:
                    replica.proc.send_signal(signal.SIGCONT)
                replica.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
