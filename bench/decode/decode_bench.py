#!/usr/bin/env python3
"""Decode throughput and output size of livesync against wal2json (format 1 and 2),
test_decoding and pgoutput, on one workload, in one run, on one cluster.

One slot per plugin is created before the workload, so every plugin decodes exactly
the same WAL. Each slot is then read with pg_logical_slot_peek_(binary_)changes
(decoding runs in that backend; nothing is consumed) --repeat times; the median time is
reported. Not a test; results go to docs/benchmarks.md.

    sudo python3 bench/decode/decode_bench.py [--rows 100000] [--repeat 3]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import harness  # noqa: E402
from workload import TABLE_DDL, write_workload  # noqa: E402

PLUGINS = [
    # (name, slot, plugin, binary output, options)
    ("livesync (msgpack)", "b_livesync", "livesync", True, ""),
    ("wal2json v1", "b_wal2json_v1", "wal2json", False, ", 'format-version', '1'"),
    ("wal2json v2", "b_wal2json_v2", "wal2json", False, ", 'format-version', '2'"),
    ("test_decoding", "b_test_decoding", "test_decoding", False, ""),
    ("pgoutput (proto 1)", "b_pgoutput", "pgoutput", True, ", 'proto_version', '1', 'publication_names', 'bench'"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="livesync-bench-")
    os.chmod(workdir, 0o755)
    # Nothing listens on this Redis port: the replicator idles and creates no slot.
    pg = harness.Postgres(workdir, {"livesync.redis_url": f"'redis://127.0.0.1:{harness.free_port()}'",
                                    "logical_decoding_work_mem": "'256MB'",
                                    "output_plugin_libraries": "'pgoutput, test_decoding, livesync, wal2json'"})
    try:
        pg.start()
        pg.psql("CREATE EXTENSION livesync")
        pg.psql(TABLE_DDL)
        pg.psql("SELECT livesync.publish('bench')")
        pg.psql("CREATE PUBLICATION bench FOR TABLE bench")
        for _, slot, plugin, _, _ in PLUGINS:
            pg.psql(f"SELECT 'x' FROM pg_create_logical_replication_slot('{slot}', '{plugin}')")
        rows, per_txn = args.rows, 1000
        changes = write_workload(pg, rows, per_txn)
        print(f"workload: {rows} inserts in transactions of {per_txn}, {rows // 2} updates, {rows // 2} deletes "
              f"= {changes} changes; PostgreSQL {pg.psql('SHOW server_version')}")
        print(f"{'plugin':<22}{'median s':>10}{'changes/s':>12}{'bytes/change':>14}{'messages':>10}")
        for name, slot, plugin, binary, options in PLUGINS:
            fn = "pg_logical_slot_peek_binary_changes" if binary else "pg_logical_slot_peek_changes"
            sql = f"SELECT count(*), sum(octet_length(data)) FROM {fn}('{slot}', NULL, NULL{options})"
            times, out = [], None
            for _ in range(args.repeat):
                t0 = time.monotonic()
                out = pg.psql(sql)
                times.append(time.monotonic() - t0)
            count, total = (int(x) for x in out.split("|"))
            med = statistics.median(times)
            print(f"{name:<22}{med:>10.2f}{changes / med:>12.0f}{total / changes:>14.1f}{count:>10}")
    finally:
        pg.stop("immediate")
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
