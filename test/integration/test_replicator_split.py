#!/usr/bin/env python3
"""A transaction bigger than livesync.batch_max_bytes is written as several stream
entries <lsn>-0, <lsn>-1, ... with the same commit LSN, only the last one final; after a
restart in the middle of such a transaction the replicator continues with the next part,
even when batch_max_bytes changed in between (it resumes by change count, recorded in
each non-final entry's changes_through field). Needs `make install` and `make dump-tool`."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_replicator_failures import ReplicatorStack, StreamChecks, setup_items  # noqa: E402


def entry_sizes(stack):
    """{entry id: size of its batch field}."""
    out = stack.redis.raw("EVAL", "local out = {} for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do "
                          "out[#out+1] = e[1] .. ' ' .. string.len(e[2][2]) end return out", "1", harness.key("changes"))
    return {line.split()[0]: int(line.split()[1]) for line in out.decode().splitlines() if line.strip()}


class HugeTransactions(StreamChecks, unittest.TestCase):
    def test_huge_transaction_is_split_into_parts_with_one_commit_lsn(self):
        with ReplicatorStack({"livesync.batch_max_bytes": "'64kB'"}) as stack:
            setup_items(stack)
            stack.pg.psql("INSERT INTO items SELECT g, repeat('x', 60) FROM generate_series(1, 3) g")
            stack.pg.psql("INSERT INTO items SELECT g, repeat('x', 60) FROM generate_series(4, 20000) g")
            records = self.assert_stream_matches_table(stack)
            huge = [r for r in records if r["change"] and r["change"]["table"] == "items" and r["change"]["new"]["id"] >= 4]
            lsns = {r["lsn"] for r in huge}
            self.assertEqual(len(lsns), 1, "one transaction, one commit LSN")
            lsn = lsns.pop()
            parts = sorted({r["part"] for r in huge})
            # ~20000 changes of ~90 bytes in 64kB parts.
            self.assertGreaterEqual(len(parts), 20)
            self.assertEqual(parts, list(range(len(parts))))
            ids = sorted({r["id"] for r in huge})
            self.assertEqual(ids, sorted(f"{lsn}-{p}" for p in parts))
            # Every part but the last carries changes_through; parts stay near the bound.
            entries = stack.redis.raw("XRANGE", harness.key("changes"), f"{lsn}-0", f"{lsn}-{parts[-2]}")
            self.assertEqual(entries.count(b"changes_through"), len(parts) - 1)
            sizes = entry_sizes(stack)
            self.assertLessEqual(max(sizes.values()), 64 * 1024 + 200,
                                 "a part exceeds batch_max_bytes by more than a change")
            confirmed = stack.pg.psql("SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots")
            self.assertGreaterEqual(int(confirmed), lsn, "the slot was not confirmed after the final part")

    def test_restart_in_the_middle_of_a_split_transaction_continues_with_the_next_part(self):
        with ReplicatorStack({"livesync.batch_max_bytes": "'4kB'"}) as stack:
            setup_items(stack)
            stack.pg.psql("INSERT INTO items SELECT g, repeat('x', 60) FROM generate_series(1, 100) g")
            stack.pg.psql("INSERT INTO items SELECT g, repeat('x', 60) FROM generate_series(101, 150000) g")
            # Some parts of the big transaction are in Redis, not all of it.
            harness.wait_until(lambda: int(stack.redis.cli("XLEN", harness.key("changes")).split()[-1]) > 100, 60,
                               "the first parts of the big transaction")
            # The replay after the crash cuts parts at another size: resuming must count
            # changes, not rely on identical split points.
            stack.pg.psql("ALTER SYSTEM SET livesync.batch_max_bytes = '16kB'")
            stack.pg.psql("SELECT pg_reload_conf()")
            before = int(stack.redis.cli("XLEN", harness.key("changes")).split()[-1])
            os.kill(stack.replicator_pid(), signal.SIGKILL)
            time.sleep(1)
            harness.wait_until(lambda: stack.psql_quiet("SELECT 1") == "1", 60, "postgres to come back")
            stack.wait_replicator()
            records = self.assert_stream_matches_table(stack)
            big = {r["lsn"] for r in records if r["change"] and r["change"]["table"] == "items" and r["change"]["new"]["id"] > 100}
            self.assertEqual(len(big), 1)
            parts = sorted({r["part"] for r in records if r["lsn"] in big})
            self.assertGreater(len(parts), 1)
            # The kill landed inside the big transaction: parts cut at 4kB before it, at
            # 16kB after it (all but the last part are full).
            lsn = big.pop()
            sizes = [size for eid, size in entry_sizes(stack).items() if eid.startswith(f"{lsn}-")][:-1]
            self.assertTrue(any(s <= 4096 + 200 for s in sizes) and any(s > 8192 for s in sizes),
                            "the restart did not happen in the middle of the big transaction")
            self.assertLess(before, int(stack.redis.cli("XLEN", harness.key("changes")).split()[-1]))
            log = stack.pg.log()
            self.assertIn("terminated by signal 9", log)


class StreamOps(unittest.TestCase):
    def test_truncate_notify_and_typed_values_reach_the_stream_in_commit_order(self):
        with ReplicatorStack() as stack:
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, at date, tags text[], iv interval)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("BEGIN; INSERT INTO items VALUES (1, '2026-11-25', '{a,NULL}', '1 day'); "
                    "SELECT livesync.notify('ch', '{\"n\": 1}'); COMMIT")
            pg.psql("TRUNCATE items")
            pg.psql("SET DateStyle = 'German'; INSERT INTO items VALUES (2, '2026-01-02', '{}', '-1 hour')")
            harness.wait_until(lambda: len(stack.dump()) >= 5, 30, "five changes in the stream")
            ops = [(r["change"]["op"], r["change"].get("new") or r["change"].get("payload")
                    or r["change"].get("relations")) for r in stack.dump()]
            self.assertEqual(ops[1:], [
                ("insert", {"id": 1, "at": "2026-11-25", "tags": ["a", None], "iv": "P1D"}),
                ("message", {"n": 1}),
                ("truncate", [{"schema": "public", "table": "items"}]),
                ("insert", {"id": 2, "at": "2026-01-02", "tags": [], "iv": "PT-1H"}),
            ])


if __name__ == "__main__":
    unittest.main(verbosity=2)
