#!/usr/bin/env python3
"""Primary load with many sidecars (never a test): N livesyncd, each holding M sessions
(bench/fanout's fanout-clients) subscribed to one table, read the change stream either
all from the Redis primary or all from one replica (--redis-read). While a plpgsql
procedure commits TXNS transactions of ROWS rows, it measures the primary redis-server's
CPU seconds (/proc) and outbound bytes (INFO stats total_net_output_bytes), and the
replica's, from the first commit until every session has every change. The harness'
own sidecar (no sessions) reads the primary in both modes. One JSON line per run;
docs/benchmarks.md has the table.

    python3 bench/redis/replica_bench.py --mode primary --sidecars 8 --clients 1000 --rows 10 --txns 200
    python3 bench/redis/replica_bench.py --mode replica --sidecars 8 --clients 1000 --rows 10 --txns 200
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
sys.path.insert(0, os.path.join(ROOT, "bench", "fanout"))
import harness  # noqa: E402
import fanout_bench  # noqa: E402


def start_generator(sidecar, index, clients, expect, timeout):
    """fanout-clients on one sidecar; client ids unique across sidecars (one live
    session per client id across sidecars: a shared id would be handed over)."""
    argv = [fanout_bench.GENERATOR, "--url", sidecar.url, "--clients", str(clients), "--table", "public.bench",
            "--expect", str(expect), "--timeout", str(timeout), "--client-prefix", f"bench-s{index}-"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def net_out(redis):
    for line in redis.cli("INFO", "stats").splitlines():
        if line.startswith("total_net_output_bytes:"):
            return int(line.split(":")[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("primary", "replica"), required=True)
    ap.add_argument("--sidecars", type=int, default=8)
    ap.add_argument("--clients", type=int, default=1000, help="sessions per sidecar")
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--txns", type=int, default=200)
    ap.add_argument("--timeout", type=int, default=300)
    a = ap.parse_args()
    with harness.Stack(sidecar_args=("--allow-anonymous", "--max-send-queue", "64MiB")) as stack:
        primary = stack.redis
        replica = harness.Redis(stack.workdir)
        replica.dir = os.path.join(stack.workdir, "replica")
        sidecars, gens = [], []
        try:
            replica.start()
            replica.cli("REPLICAOF", "127.0.0.1", str(primary.port))
            harness.wait_until(lambda: "master_link_status:up" in replica.cli("INFO", "replication"), 30,
                               "the replica to sync")
            fanout_bench.setup(stack)
            extra = ["--allow-anonymous", "--max-send-queue", "64MiB"]
            if a.mode == "replica":
                extra += ["--redis-read", replica.url]
            for _ in range(a.sidecars):
                sidecars.append(harness.Sidecar(stack.workdir, primary.url, extra=extra).start())
            expect = a.rows * a.txns
            for i, sc in enumerate(sidecars):
                gens.append(start_generator(sc, i, a.clients, expect, a.timeout))
            fanout_bench.wait_ready(gens, a.timeout)
            p_cpu0, r_cpu0 = fanout_bench.cpu_s(primary.proc.pid), fanout_bench.cpu_s(replica.proc.pid)
            p_out0, r_out0 = net_out(primary), net_out(replica)
            t0 = time.monotonic()
            stack.pg.psql(f"CALL bench_load({a.txns}, {a.rows}, 0)")
            results = [fanout_bench.finish([g], a.timeout) for g in gens]
            seconds = time.monotonic() - t0
            out = {
                "mode": a.mode, "sidecars": a.sidecars, "clients_per_sidecar": a.clients, "rows": a.rows,
                "txns": a.txns, "seconds": round(seconds, 2),
                "changes_delivered": sum(r["changes"] for r in results),
                "changes_expected": expect * a.clients * a.sidecars,
                "primary_cpu_s": round(fanout_bench.cpu_s(primary.proc.pid) - p_cpu0, 2),
                "primary_out_bytes": net_out(primary) - p_out0,
                "replica_cpu_s": round(fanout_bench.cpu_s(replica.proc.pid) - r_cpu0, 2),
                "replica_out_bytes": net_out(replica) - r_out0,
                "stream_entries": int(primary.cli("XLEN", harness.key("changes")).split()[-1]),
                "generators": [{k: r.get(k) for k in ("clients", "done", "changes", "errors", "closed")}
                               for r in results],
            }
            print(json.dumps(out), flush=True)
        finally:
            for g in gens:
                g.kill()
            for sc in sidecars:
                sc.stop()
            replica.stop()


if __name__ == "__main__":
    main()
