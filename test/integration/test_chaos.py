#!/usr/bin/env python3
"""Guarantees 1-3 under failure, end to end: a writer commits rows in transactions of
random size while the test SIGKILLs and restarts Redis, then livesyncd, then shuts
Postgres down immediately and restarts it. A client that reconnects with its last LSN
after every disconnect must end with every committed row exactly once, in commit order.
It fails on any lost, duplicated or reordered row."""
import os
import random
import signal
import subprocess
import sys
import threading
import time
import unittest
import json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROWS = int(os.environ.get("LIVESYNC_CHAOS_ROWS", "100000"))


def lsn_value(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


class Writer(threading.Thread):
    """Commits ROWS rows in transactions of 1-300 rows; retries a transaction that failed
    (ON CONFLICT DO NOTHING makes a retry of one that did commit harmless)."""

    def __init__(self, pg):
        super().__init__(daemon=True)
        self.pg, self.done, self.error = pg, threading.Event(), None

    def run(self):
        rng = random.Random(7)
        next_id = 1
        try:
            while next_id <= ROWS:
                size = min(rng.randint(1, 300), ROWS - next_id + 1)
                sql = (f"INSERT INTO chaos SELECT g, g % 97 FROM generate_series({next_id}, {next_id + size - 1}) g "
                       f"ON CONFLICT DO NOTHING")
                deadline = time.monotonic() + 60
                while self.pg.psql(sql, check=False).returncode != 0:
                    if time.monotonic() > deadline:
                        raise RuntimeError("Postgres did not come back")
                    time.sleep(0.2)
                next_id += size
                time.sleep(0.01)  # spread the writes over the whole failure schedule
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.done.set()


class ResumingClient(threading.Thread):
    """livesync-cli, restarted with --last-lsn after every disconnect."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack, self.changes, self.stop = stack, [], threading.Event()
        self.last_lsn, self.connections, self.resyncs = None, 0, 0

    def run(self):
        while not self.stop.is_set():
            argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", self.stack.sidecar.url,
                    "--table", "public.chaos", "--client-id", "chaos-client", "--timeout", "600"]
            if self.last_lsn:
                argv += ["--last-lsn", self.last_lsn]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.connections += 1
            threading.Thread(target=self._watch_stderr, args=(proc,), daemon=True).start()
            for line in proc.stdout:
                change = json.loads(line)
                self.changes.append((change["lsn"], change["new"]["id"]))
                # A frame is a whole transaction, printed at once; the next line of a
                # different LSN proves the previous transaction complete.
                self.last_lsn = change["lsn"]
                if self.stop.is_set():
                    break
            proc.kill()
            proc.wait()
            time.sleep(0.2)

    def _watch_stderr(self, proc):
        for line in proc.stderr:
            if line.startswith("resync_required"):
                self.resyncs += 1


class Chaos(unittest.TestCase):
    def test_every_row_exactly_once_in_commit_order_through_kills(self):
        with harness.Stack(pg_settings={"livesync.batch_max_bytes": "'16kB'"}) as stack:
            stack.wait_replicator()
            pg, redis, sidecar = stack.pg, stack.redis, stack.sidecar
            pg.psql("CREATE TABLE chaos (id int PRIMARY KEY, v int)")
            pg.psql("SELECT livesync.publish('chaos')")
            pg.psql("SELECT livesync.grant('anonymous', 'chaos')")
            stack.wait_published("public.chaos")
            client = ResumingClient(stack)
            client.start()
            harness.wait_until(lambda: client.connections >= 1, 10, "the client to connect")
            time.sleep(0.5)
            writer = Writer(pg)
            writer.start()

            time.sleep(1.5)
            redis.proc.send_signal(signal.SIGKILL)
            redis.proc.wait()
            time.sleep(1)
            redis.start()

            time.sleep(1.5)
            sidecar.stop(signal.SIGKILL)
            time.sleep(0.5)
            sidecar.start()

            time.sleep(1.5)
            self.assertFalse(writer.done.is_set(), "the writer finished before the failures: nothing was tested")
            pg.stop("immediate")
            time.sleep(0.5)
            pg.pg_ctl("start", "-w", "-l", os.path.join(pg.dir, "log"))

            writer.done.wait(300)
            self.assertIsNone(writer.error)
            committed = int(pg.psql("SELECT count(*) FROM chaos"))
            self.assertEqual(committed, ROWS)
            harness.wait_until(lambda: len(client.changes) >= committed, 180,
                               f"the client to receive all {committed} rows")
            time.sleep(1)  # anything extra (a duplicate) would arrive now
            client.stop.set()

            ids = [i for _, i in client.changes]
            self.assertEqual(len(ids), len(set(ids)), "a row arrived twice")
            self.assertEqual(set(ids), set(range(1, ROWS + 1)), "rows are missing")
            lsns = [lsn_value(l) for l, _ in client.changes]
            self.assertEqual(lsns, sorted(lsns), "transactions out of commit order")
            # Within the one-writer workload, commit order is id order.
            self.assertEqual(ids, sorted(ids), "rows out of commit order")
            print(f"{ROWS} rows, {client.connections} connections, {client.resyncs} resync_required")
            self.assertEqual(client.resyncs, 0, "the stream lost history it should have kept")


if __name__ == "__main__":
    unittest.main(verbosity=2)
