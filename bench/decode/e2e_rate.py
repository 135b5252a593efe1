#!/usr/bin/env python3
"""End-to-end rate of commit -> Redis against the raw decode rate, on one workload in one
run: the replicator (streaming protocol, batching, XADD, slot confirmation) catches up a
backlog while a second livesync slot over the same WAL measures raw decoding.

The workload is written while Redis is down (so it piles up in the replicator's slot);
then Redis comes back and the time until every change is published is measured. Not a
test; results go to docs/benchmarks.md.

    sudo python3 bench/decode/e2e_rate.py [--rows 400000]
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import harness  # noqa: E402
from workload import TABLE_DDL, write_workload  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400000)
    args = ap.parse_args()
    rows, per_txn = args.rows, 1000
    with harness.Stack(pg_settings={"logical_decoding_work_mem": "'256MB'"}) as stack:
        stack.wait_replicator()
        pg, redis = stack.pg, stack.redis
        pg.psql(TABLE_DDL)
        pg.psql("SELECT livesync.publish('bench')")
        harness.wait_until(lambda: redis.cli("HEXISTS", harness.key("tables"), "public.bench") == "(integer) 1", 10,
                           "the publish to reach Redis")
        pg.psql("SELECT 'x' FROM pg_create_logical_replication_slot('raw', 'livesync')")
        redis.stop()
        changes = write_workload(pg, rows, per_txn)

        t0 = time.monotonic()
        pg.psql("SELECT count(*) FROM pg_logical_slot_peek_binary_changes('raw', NULL, NULL)")
        raw_s = time.monotonic() - t0
        pg.psql("SELECT pg_drop_replication_slot('raw')")

        before = int(pg.psql("SELECT changes_published FROM livesync.status()"))
        redis.start()  # same port and dir: the replicator reconnects with backoff
        # Time from the reconnect, so the backoff before it is not counted.
        harness.wait_until(lambda: pg.psql("SELECT redis_connected FROM livesync.status()") == "t", 30,
                           "the replicator to reconnect")
        t0 = time.monotonic()
        harness.wait_until(
            lambda: int(pg.psql("SELECT changes_published FROM livesync.status()")) - before >= changes,
            600, "the replicator to publish the backlog")
        e2e_s = time.monotonic() - t0
        entries = redis.cli("XLEN", harness.key("changes"))
        print(f"workload: {changes} changes ({rows} inserts in transactions of {per_txn}, "
              f"{rows // 2} updates, {rows // 2} deletes)")
        print(f"raw decode (peek, one backend):   {raw_s:6.2f} s  {changes / raw_s:>10,.0f} changes/s")
        print(f"commit -> Redis (replicator):     {e2e_s:6.2f} s  {changes / e2e_s:>10,.0f} changes/s "
              f"(from reconnect to the last change in Redis); stream {entries}")
        print(f"end-to-end / raw: {raw_s / e2e_s:.0%}")
        if e2e_s < 0.5:
            print("(too short to time against the 50 ms status polling: use --rows 200000 or more)")


if __name__ == "__main__":
    main()
