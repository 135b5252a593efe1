#!/usr/bin/env python3
"""A transaction bigger than the send queue reaches every client that reads: live on
both encodings, and on a resume from before it. With the default --max-send-queue
(8 MiB), 100,000 rows of ~100 bytes (about 12 MB of JSON frames, split by the replicator
into parts of livesync.batch_max_bytes) used to close even a fast reader with 1008
before its first frame, and every resume from before it the same way: the client could
never get past that transaction. Now a session that falls behind is fed from the stream
at its own pace, so nobody is dropped and every row arrives once, in order."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_sidecar_resume import LiveClient  # noqa: E402

ROWS = 100_000


def cli(stack, client_id, count, msgpack=False, last_lsn=None):
    argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "public.items",
            "--client-id", client_id, "--count", str(count), "--timeout", "300"]
    if msgpack:
        argv.append("--msgpack")
    if last_lsn:
        argv += ["--last-lsn", last_lsn]
    return LiveClient(argv)



class BigTransaction(unittest.TestCase):
    def test_transaction_bigger_than_the_send_queue_reaches_readers_and_resumers(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            readers = [cli(stack, "big-json", ROWS + 1), cli(stack, "big-msgpack", ROWS + 1, msgpack=True)]
            for r in readers:
                r.wait_subscribed()
            pg.psql("INSERT INTO items VALUES (0, 'before')")
            harness.wait_until(lambda: all(len(r.changes) >= 1 for r in readers), 60, "the first row at both readers")
            before_lsn = readers[0].changes[0]["lsn"]

            pg.psql(f"INSERT INTO items SELECT g, repeat('x', 90) || g FROM generate_series(1, {ROWS}) g")
            for r in readers:
                rc, changes = r.finish(timeout=300)
                self.assertEqual(rc, 0, "".join(r.stderr)[-2000:])
                self.assertEqual([c["new"]["id"] for c in changes], list(range(0, ROWS + 1)))
                self.assertEqual(len({c["lsn"] for c in changes[1:]}), 1, "the rows are one transaction")

            parts = int(stack.redis.cli("XLEN", harness.key("changes")).split()[-1])
            self.assertGreater(parts, 5, "the transaction was not split into several stream entries")

            # A resume from before the transaction gets all of it, through the replay.
            resumer = cli(stack, "big-resume", ROWS, last_lsn=before_lsn)
            rc, changes = resumer.finish(timeout=300)
            self.assertEqual(rc, 0, "".join(resumer.stderr)[-2000:])
            self.assertEqual([c["new"]["id"] for c in changes], list(range(1, ROWS + 1)))

            self.assertEqual(stack.sidecar.metric("livesync_slow_clients_dropped_total"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
