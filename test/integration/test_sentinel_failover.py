#!/usr/bin/env python3
"""Sentinel failover loses nothing: one Redis primary, one replica, three redis-sentinel,
livesync.redis_min_replicas = 1, a writer committing continuously, two livesyncd (each
finds the primary through the Sentinels) with resuming clients. The primary is SIGKILLed;
the Sentinels promote the replica; the replicator and both sidecars follow it. With its
only replica promoted the new primary has none, so the replicator holds the slot (it
logs "only 0 of 1 Redis replicas acknowledged") until the old primary returns as a
replica; then delivery goes on. Every client must end with every committed row exactly
once, in commit order, with no resync_required. Prints the delivery pause (the last
change a client received before the kill to the first one after). Waits for states:
Sentinel's view, the replicator's log, row counts."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_chaos import lsn_value  # noqa: E402

NAME = "livesync"


class Writer(threading.Thread):
    """Commits transactions of 1-5 rows until stopped; ids count up, so commit order is
    id order. A failed commit (none expected: Postgres stays up) is an error."""

    def __init__(self, pg):
        super().__init__(daemon=True)
        self.pg, self.stop, self.error, self.next_id = pg, threading.Event(), None, 1

    def run(self):
        try:
            while not self.stop.is_set():
                size = 1 + self.next_id % 5
                self.pg.psql(f"INSERT INTO fo SELECT g FROM generate_series({self.next_id}, "
                             f"{self.next_id + size - 1}) g")
                self.next_id += size
        except Exception as e:  # reported by the test
            self.error = e


class Client(threading.Thread):
    """livesync-cli on one sidecar, restarted with --last-lsn after any disconnect;
    records (lsn, id, receive time) per row."""

    def __init__(self, sidecar, client_id):
        super().__init__(daemon=True)
        self.sidecar, self.client_id = sidecar, client_id
        self.rows, self.stop, self.last_lsn, self.resyncs, self.connections = [], threading.Event(), None, 0, 0
        self.subscribed = threading.Event()  # the first connection's subscription is in place
        self.proc = None

    def halt(self):
        """Stops for good: after this returns no row is added and last_lsn is final (the
        thread may sit in a read until the next row, so kill its livesync-cli too)."""
        self.stop.set()
        if self.proc is not None:
            self.proc.kill()
        self.join(10)

    def run(self):
        while not self.stop.is_set():
            argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", self.sidecar.url, "--table", "public.fo",
                    "--client-id", self.client_id, "--timeout", "600"]
            if self.last_lsn:
                argv += ["--last-lsn", self.last_lsn]
            proc = self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if self.stop.is_set():
                proc.kill()
            self.connections += 1
            threading.Thread(target=self._watch_stderr, args=(proc,), daemon=True).start()
            for line in proc.stdout:
                if self.stop.is_set():
                    break
                if not line.strip().endswith("}"):  # a kill may cut the last line
                    continue
                change = json.loads(line)
                self.rows.append((change["lsn"], change["new"]["id"], time.monotonic()))
                self.last_lsn = change["lsn"]
                if self.stop.is_set():
                    break
            proc.kill()
            proc.wait()
            self.stop.wait(0.2)

    def _watch_stderr(self, proc):
        for line in proc.stderr:
            if line.startswith("subscribed"):
                self.subscribed.set()
            if line.startswith("resync_required"):
                self.resyncs += 1


class SentinelFailover(unittest.TestCase):
    def test_primary_killed_every_client_gets_every_row_once(self):
        workdir = harness.tempfile.mkdtemp(prefix="livesync-sentinel-")
        os.chmod(workdir, 0o755)
        primary = harness.Redis(workdir)
        replica = harness.Redis(workdir)
        replica.dir = os.path.join(workdir, "replica")
        sentinels, sidecars, clients, pg, writer = [], [], [], None, None
        ok = False
        try:
            primary.start()
            replica.start()
            replica.cli("REPLICAOF", "127.0.0.1", str(primary.port))
            sentinels = [harness.Sentinel(workdir, i, NAME, primary.port).start() for i in range(3)]
            # Sentinels find the replica and each other through the primary (hello
            # messages every 2 s): only then can they agree on a failover.
            harness.wait_until(lambda: all(s.state().get("num-slaves") == "1" and
                                           s.state().get("num-other-sentinels") == "2" for s in sentinels),
                               60, "the Sentinels to see the replica and each other")
            sentinel_list = ",".join(f"127.0.0.1:{s.port}" for s in sentinels)

            pg = harness.Postgres(workdir, {
                # The URL's host is not used with Sentinels: a dead port proves it.
                "livesync.redis_url": "'redis://127.0.0.1:1'",
                "livesync.redis_sentinels": f"'{sentinel_list}'",
                "livesync.redis_primary_name": f"'{NAME}'",
                "livesync.redis_min_replicas": "1",
                "livesync.redis_timeout": "'2s'",
            })
            pg.start()
            pg.psql("CREATE EXTENSION livesync")
            harness.wait_until(lambda: pg.psql("SELECT redis_connected AND slot_exists FROM livesync.status()") == "t",
                               30, "the replicator to reach the primary through the Sentinels")
            for _ in range(2):
                sidecars.append(harness.Sidecar(workdir, "redis://127.0.0.1:1", extra=[
                    "--allow-anonymous", "--redis-sentinels", sentinel_list, "--redis-primary-name", NAME]).start())
            pg.psql("CREATE TABLE fo (id int PRIMARY KEY)")
            pg.psql("SELECT livesync.publish('fo')")
            pg.psql("SELECT livesync.grant('anonymous', 'fo')")
            harness.wait_until(lambda: primary.cli("HEXISTS", harness.key("tables"), "public.fo") == "(integer) 1",
                               30, "the publish to reach Redis")
            clients = [Client(sc, f"fo-{i}-{j}") for i, sc in enumerate(sidecars) for j in range(2)]
            for c in clients:
                c.start()
            # A row committed before a client's subscription is not that client's to get.
            harness.wait_until(lambda: all(c.subscribed.is_set() for c in clients), 30, "the clients to subscribe")
            writer = Writer(pg)
            writer.start()
            harness.wait_until(lambda: all(len(c.rows) >= 200 for c in clients), 60,
                               "every client to receive rows before the failover")

            killed_at = time.monotonic()
            primary.proc.send_signal(signal.SIGKILL)
            primary.proc.wait()
            harness.wait_until(lambda: all(s.current_primary_port() == replica.port for s in sentinels), 60,
                               "the Sentinels to promote the replica")
            promoted_at = time.monotonic()
            # The replicator follows, publishes, and holds the slot: its only replica is
            # now the primary.
            harness.wait_until(lambda: "only 0 of 1 Redis replicas acknowledged" in pg.log(), 60,
                               "the replicator to wait for a replica of the new primary")
            rows_before_return = {c.client_id: len(c.rows) for c in clients}

            primary.start()
            primary.cli("REPLICAOF", "127.0.0.1", str(replica.port))
            harness.wait_until(lambda: "Redis replicas caught up" in pg.log(), 60,
                               "the replicator to see the old primary as a replica")
            harness.wait_until(lambda: all(len(c.rows) > rows_before_return[c.client_id] + 100 for c in clients),
                               60, "delivery to go on after the old primary returned")
            writer.stop.set()
            writer.join(30)
            self.assertIsNone(writer.error)
            committed = int(pg.psql("SELECT count(*) FROM fo"))
            self.assertEqual(committed, writer.next_id - 1)
            try:
                harness.wait_until(lambda: all(len(c.rows) >= committed for c in clients), 120,
                                   f"every client to receive all {committed} rows")
            except TimeoutError:
                # The checks below say which rows are missing; this says where they stopped.
                print("status:", pg.psql("SELECT * FROM livesync.status()"))
                print("max committed lsn:", pg.psql("SELECT pg_current_wal_lsn()"))
                for r in (primary, replica):
                    print(f"redis {r.port}: role {r.cli('ROLE', check=False).split()[:1]} "
                          f"xlen {r.cli('XLEN', harness.key('changes'), check=False)} "
                          f"tail {r.raw('XREVRANGE', harness.key('changes'), '+', '-', 'COUNT', '1')[:40]!r}")
                print("client rows:", {c.client_id: len(c.rows) for c in clients})
            time.sleep(1)  # a duplicate would arrive now
            for c in clients:
                c.stop.set()

            pauses = []
            for c in clients:
                ids = [i for _, i, _ in c.rows]
                self.assertEqual(c.resyncs, 0, f"{c.client_id}: resync_required")
                self.assertEqual(len(ids), len(set(ids)), f"{c.client_id}: a row arrived twice")
                missing = sorted(set(range(1, committed + 1)) - set(ids))
                self.assertEqual(missing, [], f"{c.client_id}: rows are missing")
                self.assertEqual(ids, sorted(ids), f"{c.client_id}: rows out of commit order")
                lsns = [lsn_value(l) for l, _, _ in c.rows]
                self.assertEqual(lsns, sorted(lsns), f"{c.client_id}: transactions out of commit order")
                before = max(t for _, _, t in c.rows if t <= killed_at)
                after = min(t for _, _, t in c.rows if t > killed_at)
                pauses.append(after - before)
            print(f"failover: promoted {promoted_at - killed_at:.2f} s after the kill; delivery pause "
                  f"(last change before the kill -> first after) min {min(pauses):.2f} s, max {max(pauses):.2f} s; "
                  f"{committed} rows to {len(clients)} clients on 2 sidecars; "
                  f"{sum(c.connections for c in clients)} client connections")
            ok = True
        finally:
            if writer:
                writer.stop.set()
            for c in clients:
                c.stop.set()
            for sc in sidecars:
                with harness.contextlib.suppress(Exception):
                    sc.stop()
            if pg:
                with harness.contextlib.suppress(Exception):
                    if not ok:
                        print("---- pg log (tail) ----\n" + pg.log()[-3000:])
                    pg.stop("immediate")
            for s in sentinels:
                s.stop()
            primary.stop()
            replica.stop()
            if ok:
                harness.shutil.rmtree(workdir, ignore_errors=True)
            else:
                print(f"kept {workdir}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
