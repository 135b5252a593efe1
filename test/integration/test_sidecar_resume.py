#!/usr/bin/env python3
"""Resume without a gap or a duplicate, with real Postgres, Redis and livesyncd: a client
killed mid-stream reconnects with its last LSN and, across both connections, sees every
transaction exactly once and in commit order -- while commits keep coming, so the switch
from replay to live is exercised. A resume from before what the stream still holds gets
resync_required, never a silent gap. A transaction committed right after a subscribe
ack is always delivered."""
import json
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_end_to_end import Client, lsn_value  # noqa: E402

ROWS_PER_TXN = 10


class LiveClient(Client):
    """A Client whose changes are read as they arrive (so a test can act mid-stream)."""

    def __init__(self, argv):
        super().__init__(argv)
        self.changes = []
        self.reader = threading.Thread(target=self._read_stdout, daemon=True)
        self.reader.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            if line.strip().endswith("}"):  # a kill may cut the last line
                self.changes.append(json.loads(line))

    def finish(self, timeout=60):
        try:
            self.proc.wait(timeout=timeout)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(10)
        return self.proc.returncode, self.changes

    def stderr_line(self, prefix):
        return next((line.strip() for line in self.stderr if line.startswith(prefix)), None)


def cli(stack, client_id, count=None, last_lsn=None, timeout=60, sidecar=None):
    argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", (sidecar or stack.sidecar).url,
            "--table", "public.items", "--client-id", client_id, "--timeout", str(timeout)]
    if count is not None:
        argv += ["--count", str(count)]
    if last_lsn is not None:
        argv += ["--last-lsn", last_lsn]
    return LiveClient(argv)


def new_stack():
    # Clients here carry no token: served as role "anonymous", granted items below.
    # One entry per replay page: a resume takes many round trips while commits go on, so
    # live entries arrive during the replay and the switch to live is really exercised.
    return harness.Stack(sidecar_args=["--allow-anonymous", "--replay-page-entries", "1"])


def setup_items(stack):
    pg = stack.pg
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, k int NOT NULL)")
    pg.psql("SELECT livesync.publish('items')")
    pg.psql("SELECT livesync.grant('anonymous', 'items')")
    # One transaction per loop turn (COMMIT inside a procedure), paced so clients can
    # be killed and resumed while commits keep coming.
    pg.psql("""CREATE PROCEDURE fill(first int, txns int, per int, pause float8) LANGUAGE plpgsql AS $$
               BEGIN
                 FOR k IN 0 .. txns - 1 LOOP
                   INSERT INTO items SELECT g, k FROM generate_series(first + k * per, first + k * per + per - 1) g;
                   COMMIT;
                   PERFORM pg_sleep(pause);
                 END LOOP;
               END $$""")
    stack.wait_published("public.items")


def fill_in_background(pg, first, txns, pause):
    t = threading.Thread(target=pg.psql, args=(f"CALL fill({first}, {txns}, {ROWS_PER_TXN}, {pause})",), daemon=True)
    t.start()
    return t


def complete_lsns(changes):
    """LSNs of the transactions a client printed completely (a kill may cut the last one)."""
    counts = {}
    for c in changes:
        counts[c["lsn"]] = counts.get(c["lsn"], 0) + 1
    return [lsn for lsn, n in counts.items() if n == ROWS_PER_TXN]


class SidecarResume(unittest.TestCase):
    def test_resume_replays_from_lsn_without_gap_or_duplicate(self):
        with new_stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            setup_items(stack)
            txns = 1000
            first = cli(stack, "r1")
            first.wait_subscribed()
            filler = fill_in_background(pg, 1, txns, 0.003)
            harness.wait_until(lambda: len(first.changes) >= 1000, 60, "the first connection to receive 1000 changes")
            first.proc.send_signal(signal.SIGKILL)
            time.sleep(0.5)  # a backlog to replay, in pages, while commits go on
            _, seen_first = first.finish()
            done = complete_lsns(seen_first)
            self.assertTrue(done, "the first connection saw no complete transaction")
            last_lsn = max(done, key=lsn_value)
            kept = [c for c in seen_first if lsn_value(c["lsn"]) <= lsn_value(last_lsn)]
            self.assertTrue(filler.is_alive(), "commits ended before the resume: the live switch is not exercised")

            second = cli(stack, "r1", count=txns * ROWS_PER_TXN - len(kept), last_lsn=last_lsn)
            rc, seen_second = second.finish(timeout=120)
            filler.join(60)
            self.assertEqual(rc, 0, "".join(second.stderr))
            self.assertTrue(any(line.startswith("caught_up") for line in second.stderr), "".join(second.stderr))

            ids = [c["new"]["id"] for c in kept + seen_second]
            self.assertEqual(len(ids), len(set(ids)), "a change was delivered twice across the two connections")
            self.assertEqual(sorted(ids), list(range(1, txns * ROWS_PER_TXN + 1)), "a change was lost")
            lsns = [lsn_value(c["lsn"]) for c in kept + seen_second]
            self.assertEqual(lsns, sorted(lsns), "transactions out of commit order")
            self.assertTrue(all(lsn_value(c["lsn"]) > lsn_value(last_lsn) for c in seen_second))

    def test_resume_after_trim_gets_resync_required_then_live(self):
        with new_stack() as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            setup_items(stack)
            watcher = cli(stack, "w1", count=3 * ROWS_PER_TXN)
            watcher.wait_subscribed()
            pg.psql(f"CALL fill(1, 3, {ROWS_PER_TXN}, 0)")
            rc, seen = watcher.finish()
            self.assertEqual(rc, 0, "".join(watcher.stderr))
            first_lsn = seen[0]["lsn"]

            # What the replicator's retention does: drop the oldest entries and raise the marker.
            tail = redis.raw("XREVRANGE", harness.key("changes"), "+", "-", "COUNT", "1").split(b"\n")[0].decode()
            redis.cli("XTRIM", harness.key("changes"), "MAXLEN", "1")
            redis.cli("SET", harness.key("trimmed_lsn"), str(int(tail.split("-")[0]) - 1))

            resumed = cli(stack, "w1", count=ROWS_PER_TXN, last_lsn=first_lsn)
            harness.wait_until(lambda: resumed.stderr_line("resync_required"), 20, "resync_required")
            position = resumed.stderr_line("resync_required").split()[1]
            self.assertGreaterEqual(lsn_value(position), lsn_value(seen[-1]["lsn"]))
            # Live from that position on.
            pg.psql(f"CALL fill(1001, 1, {ROWS_PER_TXN}, 0)")
            rc, after = resumed.finish()
            self.assertEqual(rc, 0, "".join(resumed.stderr))
            self.assertEqual(sorted(c["new"]["id"] for c in after), list(range(1001, 1001 + ROWS_PER_TXN)))

            # No marker and nothing at or below the position held: no proof, so no replay either.
            redis.cli("DEL", harness.key("trimmed_lsn"))
            again = cli(stack, "w1", count=1, last_lsn=first_lsn, timeout=5)
            harness.wait_until(lambda: again.stderr_line("resync_required"), 20,
                               "resync_required without a trim marker")
            again.proc.terminate()
            again.finish()

            # A position the stream still holds resumes normally (proof: the entry itself).
            ok = cli(stack, "w1", count=ROWS_PER_TXN, last_lsn=seen[-1]["lsn"])
            pg.psql(f"CALL fill(2001, 1, {ROWS_PER_TXN}, 0)")
            rc, got = ok.finish()
            self.assertEqual(rc, 0, "".join(ok.stderr))
            self.assertIsNone(ok.stderr_line("resync_required"), "".join(ok.stderr))
            self.assertEqual(sorted(c["new"]["id"] for c in got), list(range(1001, 1001 + ROWS_PER_TXN)))

    def test_transaction_committed_right_after_the_ack_is_delivered(self):
        with new_stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            setup_items(stack)
            # Keep the stream moving so the live position is not trivially 0.
            filler = fill_in_background(pg, 100000, 200, 0.005)
            for i in range(15):
                c = cli(stack, f"ack-{i}", count=None, timeout=20)
                c.wait_subscribed()
                pg.psql(f"INSERT INTO items VALUES ({-1 - i}, -1)")
                row = -1 - i
                try:
                    harness.wait_until(lambda: any(ch["new"]["id"] == row for ch in c.changes), 20,
                                       f"the row committed right after ack {i}")
                finally:
                    c.proc.terminate()
                    c.finish(timeout=10)
            filler.join(60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
