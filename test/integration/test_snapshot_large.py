#!/usr/bin/env python3
"""Snapshots at size (guarantee 7, issue 11's "How to test it"): a snapshot of a big table
reaches the client whole, and a snapshot taken while a transaction of as many rows is in
flight leaves that transaction to the stream, so that the client's copy equals SELECT once
it has arrived. LIVESYNC_SNAPSHOT_ROWS sets the row count (default 200,000 so that each
test stays well under a minute on a busy 2-core CI machine; docs/benchmarks.md gives the
1,000,000-row run). The copy is checked without holding it: a bitmap of the ids seen
(none twice) and the sum of a hash of every row, against the same sum in SQL."""
import hashlib
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROWS = int(os.environ.get("LIVESYNC_SNAPSHOT_ROWS", "200000"))
MASK = (1 << 60) - 1
# The same row hash as Copy.add: the first 15 hex digits of md5('<id>:<n>:<note>').
SQL_SUM = ("SELECT count(*), coalesce(sum(('x' || substr(md5(id || ':' || n || ':' || note), 1, 15))::bit(60)::bigint)"
           " % 1152921504606846976, 0) FROM items")


class Copy:
    """What a client holds, as a count and a hash sum; ids seen in a bitmap."""

    def __init__(self, max_id):
        self.seen = bytearray(max_id + 1)
        self.count, self.sum, self.errors = 0, 0, []

    def add(self, row):
        rid = row["id"]
        if not 0 < rid < len(self.seen) or self.seen[rid]:
            self.errors.append(f"row {rid} twice or out of range")
            return
        self.seen[rid] = 1
        self.count += 1
        digest = hashlib.md5(f"{rid}:{row['n']}:{row['note']}".encode()).hexdigest()
        self.sum = (self.sum + int(digest[:15], 16)) & MASK


def select_sum(pg):
    count, total = pg.psql(SQL_SUM).split("|")
    return int(count), int(total)


class SnapshotClient(threading.Thread):
    """Subscribes with a snapshot and folds every row and insert into a Copy."""

    def __init__(self, port, max_id, expect_rows):
        super().__init__(daemon=True)
        self.ws = harness.RawWebSocket(port, timeout=120)
        assert self.ws.hello("big")["type"] == "welcome"
        self.copy = Copy(max_id)
        self.expect_rows = expect_rows  # stop once the copy holds this many rows
        self.first_rows, self.ended, self.done = threading.Event(), threading.Event(), threading.Event()
        self.ws.send({"type": "subscribe", "id": "s1", "table": "items", "snapshot": True})

    def run(self):
        try:
            while self.copy.count < self.expect_rows or not self.ended.is_set():
                f = self.ws.frame()
                t = f["type"]
                if t == "snapshot_rows":
                    self.first_rows.set()
                    if self.ended.is_set():
                        self.copy.errors.append("snapshot_rows after snapshot_end")
                    for row in f["rows"]:
                        self.copy.add(row)
                elif t == "snapshot_end":
                    self.first_rows.set()
                    self.ended.set()
                elif t == "changes":
                    if not self.ended.is_set():
                        self.copy.errors.append("changes before snapshot_end")
                    for c in f["changes"]:
                        if c["op"] != "insert":
                            self.copy.errors.append(f"unexpected {c['op']}")
                        else:
                            self.copy.add(c["new"])
                elif t in ("error", "close", "resync_required"):
                    self.copy.errors.append(f"{f}")
                    return
        except Exception as e:  # noqa: BLE001
            self.copy.errors.append(f"reader: {e!r}")
        finally:
            self.done.set()
            self.ws.close()


class SnapshotLarge(unittest.TestCase):
    def test_snapshot_of_a_large_table_equals_select(self):
        with harness.Stack(snapshot_role="livesync_reader") as stack:
            harness.snapshot_table(stack, ROWS)
            started = time.monotonic()
            client = SnapshotClient(stack.sidecar.port, ROWS, ROWS)
            client.start()
            self.assertTrue(client.done.wait(600), "snapshot_end")
            print(f"{ROWS} rows: snapshot read and checked in {time.monotonic() - started:.1f}s", flush=True)
            self.assertEqual(client.copy.errors, [])
            self.assertTrue(client.ended.is_set())
            self.assertEqual((client.copy.count, client.copy.sum), select_sum(stack.pg))

    def test_snapshot_during_a_transaction_of_as_many_rows(self):
        # Enough for the transaction to be split into many stream entries.
        with harness.Stack(snapshot_role="livesync_reader") as stack:
            pg = stack.pg
            harness.snapshot_table(stack, 1000)
            writer = subprocess.Popen([os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                                       "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", "postgres"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
            try:
                writer.stdin.write(f"BEGIN;\nINSERT INTO items SELECT g, g % 1000, md5(g::text) "
                                   f"FROM generate_series(1001, {1000 + ROWS}) g;\n\\echo inserted\n")
                writer.stdin.flush()
                self.assertEqual(writer.stdout.readline().strip(), "inserted")
                # In flight: written, not committed. The snapshot is taken now.
                client = SnapshotClient(stack.sidecar.port, 1000 + ROWS, 1000 + ROWS)
                client.start()
                self.assertTrue(client.first_rows.wait(120), "the snapshot's first rows")
                started = time.monotonic()
                writer.stdin.write("COMMIT;\n\\echo committed\n")
                writer.stdin.flush()
                self.assertEqual(writer.stdout.readline().strip(), "committed")
                self.assertTrue(client.done.wait(600), "the whole transaction")
                print(f"{ROWS}-row transaction reached the client {time.monotonic() - started:.1f}s after COMMIT",
                      flush=True)
            finally:
                writer.stdin.close()
                writer.wait(60)
            self.assertEqual(client.copy.errors, [])
            self.assertEqual((client.copy.count, client.copy.sum), select_sum(pg))


if __name__ == "__main__":
    unittest.main(verbosity=2)
