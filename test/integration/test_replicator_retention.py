#!/usr/bin/env python3
"""Stream retention: livesync.stream_max_entries / livesync.stream_max_age trim the
change stream, and <prefix>trimmed_lsn tells how far back it is no longer complete:
every transaction committed after the marker is whole in the stream, so a sidecar can
answer resync_required for anything older instead of leaving a silent gap.
Needs `make install` and `make dump-tool`."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_replicator_failures import ReplicatorStack, setup_items  # noqa: E402


def commit_lsns(pg):
    """{commit LSN: [row ids]} for every transaction, from a second livesync slot."""
    out = pg.psql("SELECT data FROM pg_logical_slot_get_changes('witness', NULL, NULL, 'format', 'json')")
    txns, current = {}, None
    for line in out.splitlines():
        msg = json.loads(line)
        if msg["type"] == "begin":
            hi, lo = msg["lsn"].split("/")
            current = txns.setdefault((int(hi, 16) << 32) | int(lo, 16), [])
        elif msg["type"] == "change" and msg["change"]["table"] == "items":
            current.append(msg["change"]["new"]["id"])
    return txns


class Retention(unittest.TestCase):
    def check_marker(self, stack):
        marker = stack.redis.cli("GET", harness.key("trimmed_lsn")).strip('"')
        self.assertNotIn(marker, ("", "(nil)"), "nothing was trimmed, or the marker was not set")
        marker = int(marker)
        txns = commit_lsns(stack.pg)
        streamed = {}
        for r in stack.dump():
            if r["change"] and r["change"]["table"] == "items":
                streamed.setdefault(r["lsn"], []).append(r["change"]["new"]["id"])
        after = {lsn: ids for lsn, ids in txns.items() if lsn > marker and ids}
        self.assertTrue(after, "the marker is past every transaction")
        for lsn, ids in after.items():
            self.assertEqual(streamed.get(lsn), ids, f"transaction {lsn} after the marker {marker} is not whole")
        self.assertLess(len(streamed), len([t for t in txns.values() if t]), "nothing was trimmed")
        # The marker is tight: the first transaction kept starts right after it.
        first_id = stack.redis.raw("XRANGE", harness.key("changes"), "-", "+", "COUNT", "1").split()[0].decode()
        first, part = (int(x) for x in first_id.split("-"))
        self.assertEqual(marker, first - 1 if part == 0 else first, f"marker {marker}, first entry {first_id}")
        return marker

    def test_count_bound_trims_and_raises_trimmed_lsn(self):
        with ReplicatorStack({"livesync.stream_max_entries": "50", "livesync.batch_max_bytes": "'4kB'"}) as stack:
            stack.pg.psql("SELECT 'w' FROM pg_create_logical_replication_slot('witness', 'livesync')")
            setup_items(stack)
            for k in range(300):
                stack.pg.psql(f"INSERT INTO items SELECT g, 'x' FROM generate_series({k * 3 + 1}, {k * 3 + 3}) g")
            harness.wait_until(lambda: stack.psql_quiet("SELECT changes_published >= 901 FROM livesync.status()")
                               == "t", 60, "every row published")
            xlen = int(stack.redis.cli("XLEN", harness.key("changes")).split()[-1])
            # Approximate trimming removes whole radix-tree nodes (100 entries by default).
            self.assertLessEqual(xlen, 50 + 100)
            self.assertGreaterEqual(xlen, 50)
            first_marker = self.check_marker(stack)
            for k in range(300, 400):
                stack.pg.psql(f"INSERT INTO items SELECT g, 'x' FROM generate_series({k * 3 + 1}, {k * 3 + 3}) g")
            harness.wait_until(lambda: stack.psql_quiet("SELECT changes_published >= 1201 FROM livesync.status()")
                               == "t", 60, "every row published")
            self.assertGreater(self.check_marker(stack), first_marker, "the marker did not move on")

    def test_age_bound_trims_old_entries(self):
        with ReplicatorStack({"livesync.stream_max_entries": "0", "livesync.stream_max_age": "2"}) as stack:
            stack.pg.psql("SELECT 'w' FROM pg_create_logical_replication_slot('witness', 'livesync')")
            setup_items(stack)
            for k in range(20):
                stack.pg.psql(f"INSERT INTO items VALUES ({k + 1}, 'old')")
            time.sleep(3)
            stack.pg.psql("INSERT INTO items VALUES (100, 'new')")
            harness.wait_until(lambda: stack.psql_quiet("SELECT changes_published >= 22 FROM livesync.status()")
                               == "t", 60, "every row published")
            ids = [r["change"]["new"]["id"] for r in stack.dump() if r["change"] and r["change"]["table"] == "items"]
            self.assertEqual(ids, [100])
            self.check_marker(stack)


if __name__ == "__main__":
    unittest.main(verbosity=2)
