#!/usr/bin/env python3
"""Peak memory of the replicator while it publishes one huge transaction.

Starts Postgres + Redis (test/integration/harness.py), commits one transaction of
--rows rows into a published table, waits until the stream holds all of them, and prints
VmHWM (peak RSS) of the "livesync replicator" process and of its walsender, plus the
number of stream entries the transaction became. Not a test; results go to
docs/benchmarks.md.

    sudo python3 bench/decode/huge_txn_rss.py --rows 1000000 [--batch-max-bytes 1MB]
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import harness  # noqa: E402
from test_replicator_failures import ReplicatorStack  # noqa: E402


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--batch-max-bytes", default="1MB")
    args = ap.parse_args()
    with ReplicatorStack({"livesync.batch_max_bytes": f"'{args.batch_max_bytes}'"}) as stack:
        pg, redis = stack.pg, stack.redis
        pg.psql("CREATE TABLE items (id int PRIMARY KEY, pad text)")
        pg.psql("SELECT livesync.publish('items')")
        time.sleep(1)
        worker = stack.replicator_pid()
        sender = int(pg.psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'livesync replicator' "
                             "AND backend_type = 'walsender'"))
        before = status_kb(worker, "VmHWM")
        t0 = time.monotonic()
        pg.psql(f"INSERT INTO items SELECT g, repeat('x', 60) FROM generate_series(1, {args.rows}) g")
        t1 = time.monotonic()
        # Every row published (plus the publish() config change), and the slot past it.
        harness.wait_until(lambda: int(pg.psql("SELECT changes_published FROM livesync.status()")) >= args.rows + 1,
                           1800, "every row in Redis")
        harness.wait_until(lambda: pg.psql("SELECT confirmed_flush_lsn >= published_lsn FROM livesync.status()")
                           == "t", 60, "the slot to pass the transaction")
        t2 = time.monotonic()
        entries = redis.cli("XLEN", harness.key("changes")).split()[-1]
        stream_bytes = redis.cli("MEMORY", "USAGE", harness.key("changes")).split()[-1]
        print(f"rows={args.rows} batch_max_bytes={args.batch_max_bytes}")
        print(f"insert+commit {t1 - t0:.1f}s, decode+publish until confirmed {t2 - t1:.1f}s")
        print(f"stream entries={entries} stream memory={int(stream_bytes) / 1e6:.1f}MB")
        print(f"replicator pid {worker}: VmHWM before {before} kB, after {status_kb(worker, 'VmHWM')} kB, "
              f"VmRSS now {status_kb(worker, 'VmRSS')} kB")
        print(f"walsender pid {sender}: VmHWM {status_kb(sender, 'VmHWM')} kB")


if __name__ == "__main__":
    main()
