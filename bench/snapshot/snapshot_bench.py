#!/usr/bin/env python3
"""Subscription snapshots: rows/s to one client against `COPY (SELECT ...) TO STDOUT`
through psql in the same run, N clients subscribing with a snapshot to the same table at
once (shared query) against one client, and live changes to other sessions while
snapshots run. Starts Postgres + Redis + livesyncd (test/integration/harness.py), fills a
table, measures, samples livesyncd's RSS every 20 ms for the whole run (and VmHWM at the
end). Not a test; results go to docs/benchmarks.md.

    python3 bench/snapshot/snapshot_bench.py one --rows 1000000 [--msgpack] [--repeat 3]
    python3 bench/snapshot/snapshot_bench.py many --rows 100000 --clients 100 [--msgpack]
    python3 bench/snapshot/snapshot_bench.py live --rows 1000000 --clients 10 --live-clients 100 \
        --rate 200 --seconds 20 [--msgpack] [--yield-ms MS] [--share-mb MB] [--nice-clients N]

The clients are build/bench/snapshot/snapshot-clients (C++, bare sockets and epoll: it
counts a snapshot_rows frame's rows as it streams in and stops at snapshot_end, so what is
measured is livesyncd and Postgres, not a JSON parser) and, for `live`, build/bench/fanout/
fanout-clients (commit -> client latency of each changes frame). `one` alternates COPY and
the snapshot --repeat times and compares the medians (the machine is shared). `many` also
measures the floor: one client's bytes are recorded (snapshot-clients --record) and
build/bench/fanout/bare-broadcaster --replay writes them to 1 and to --clients sockets
(no Postgres, no per-session work: only sending the same bytes on this machine). `live`
measures the live sessions' latency twice, once with no snapshot running and once while
--clients clients take snapshots of the --rows table one round after another.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import harness  # noqa: E402


SNAPSHOT_CLIENTS = os.path.join(harness.BUILD, "bench", "snapshot", "snapshot-clients")
FANOUT_CLIENTS = os.path.join(harness.BUILD, "bench", "fanout", "fanout-clients")
BARE_BROADCASTER = os.path.join(harness.BUILD, "bench", "fanout", "bare-broadcaster")


def snapshot_clients(port, msgpack, clients, table="items", record=None, nice=0):
    """Runs snapshot-clients (under `nice -n nice` when nice > 0): its JSON result line
    (total_s, rows_min, rows_max, ...)."""
    cmd = (["nice", "-n", str(nice)] if nice > 0 else []) + [SNAPSHOT_CLIENTS, "--url", f"ws://127.0.0.1:{port}/v1/sync", "--clients", str(clients), "--table", table,
           "--timeout", "600"] + (["--msgpack"] if msgpack else []) + (["--record", record] if record else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=700)
    if out.returncode != 0:
        raise RuntimeError(f"snapshot-clients failed: {out.stdout} {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def fill(stack, rows):
    harness.snapshot_table(stack, rows, org=True)


def copy_seconds(stack):
    start = time.monotonic()
    subprocess.run([os.path.join(stack.pg.bindir, "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(stack.pg.port),
                    "-U", "livesync_reader", "-d", "postgres", "-c",
                    "COPY (SELECT id, org, n, note FROM items) TO STDOUT"],
                   stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - start


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def run_one(stack, args, enc):
    copies, snaps = [], []
    for _ in range(args.repeat):
        copies.append(copy_seconds(stack))
        r = snapshot_clients(stack.sidecar.port, args.msgpack, 1)
        assert r["rows_min"] == args.rows, r
        snaps.append(r["total_s"])
    copy_s, one_s = median(copies), median(snaps)
    print(f"{enc}: COPY TO STDOUT via psql {args.rows} rows: {' '.join(f'{c:.2f}' for c in copies)} s, median "
          f"{copy_s:.2f}s = {args.rows / copy_s:,.0f} rows/s; snapshot to one client: "
          f"{' '.join(f'{c:.2f}' for c in snaps)} s, median {one_s:.2f}s = {args.rows / one_s:,.0f} rows/s "
          f"({copy_s / one_s:.2f} of COPY)", flush=True)
    return one_s


def run_many(stack, args, enc, one_s):
    r = snapshot_clients(stack.sidecar.port, args.msgpack, args.clients)
    assert r["done"] == args.clients and r["rows_min"] == r["rows_max"] == args.rows, r
    with open(stack.sidecar.log_path) as f:
        queries = [json.loads(l) for l in f if '"snapshot sent"' in l][1:]  # the first served run_one
    subscribers = sorted(q["subscribers"] for q in queries)
    print(f"{enc}: {args.clients} clients at once, {args.rows} rows each: total {r['total_s']:.2f}s "
          f"({r['total_s'] / one_s:.2f}x one client's {one_s:.2f}s), per client p50 {r['client_s']['p50']:.2f}s "
          f"max {r['client_s']['max']:.2f}s, {r['bytes'] / 1e6:.0f} MB received; {len(queries)} queries served "
          f"them (subscribers per query: {subscribers})", flush=True)
    floor_1, floor_n = floor(stack, args)
    print(f"{enc}: floor (bare-broadcaster replaying one client's {floor_1['bytes'] / 1e6:.1f} MB): 1 client "
          f"{floor_1['total_s']:.2f}s, {args.clients} clients {floor_n['total_s']:.2f}s "
          f"({floor_n['total_s'] / floor_1['total_s']:.2f}x); livesyncd {args.clients} clients "
          f"{r['total_s']:.2f}s = {r['total_s'] / floor_n['total_s']:.2f}x the floor's, "
          f"{r['total_s'] / one_s:.2f}x its own one client", flush=True)


def floor(stack, args):
    """Records one client's snapshot from livesyncd, then times bare-broadcaster --replay
    of those bytes to 1 and to --clients clients: (result for 1, result for N)."""
    path = os.path.join(stack.workdir, "snapshot.frames")
    snapshot_clients(stack.sidecar.port, args.msgpack, 1, record=path)
    port = harness.free_port()
    proc = subprocess.Popen([BARE_BROADCASTER, "--listen", str(port), "--replay", path], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "listening"
        ones = []
        for _ in range(3):
            ones.append(snapshot_clients(port, args.msgpack, 1))
            assert ones[-1]["rows_min"] == args.rows, ones[-1]
        many = snapshot_clients(port, args.msgpack, args.clients)
        assert many["done"] == args.clients and many["rows_min"] == many["rows_max"] == args.rows, many
    finally:
        harness.stop_process(proc)
    return sorted(ones, key=lambda x: x["total_s"])[1], many


def fill_ticks(stack):
    stack.pg.psql("CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), note text)")
    stack.pg.psql("SELECT livesync.publish('ticks'), livesync.grant('anonymous', 'ticks')")
    stack.wait_published("public.ticks")


class Writer(threading.Thread):
    """Commits one INSERT into ticks `rate` times a second through one psql session."""

    def __init__(self, stack, rate):
        super().__init__(daemon=True)
        self.rate, self.stop, self.count = rate, threading.Event(), 0
        self.proc = subprocess.Popen([os.path.join(stack.pg.bindir, "psql"), "-X", "-q", "-h", "127.0.0.1", "-p",
                                      str(stack.pg.port), "-U", "postgres", "-d", "postgres"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)

    def run(self):
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.proc.stdin.write("INSERT INTO ticks (note) VALUES ('x');\n")
            self.proc.stdin.flush()
            self.count += 1
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)

    def close(self):
        self.stop.set()
        self.join()
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def fanout_histogram(stack):
    """livesync_fanout_seconds' cumulative buckets {le: count} (entry arrival from Redis to
    its frames queued to every session, first service thread)."""
    status, body = stack.sidecar.get("/metrics")
    assert status == 200, status
    out = {}
    for line in body.splitlines():
        if line.startswith("livesync_fanout_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = int(line.rsplit(" ", 1)[1])
    return out


def fanout_p99(before, after):
    """The bucket bound under which 99% of the entries fanned out between the two samples
    were queued, and how many entries that was."""
    counts = {le: after[le] - before.get(le, 0) for le in after}
    total = counts[float("inf")]
    for le in sorted(counts):
        if total and counts[le] >= 0.99 * total:
            return le, total
    return float("inf"), total


def live_latency(stack, args, during_snapshots, enc):
    """fanout-clients on ticks for --seconds; with during_snapshots, snapshot rounds of
    --clients clients each run meanwhile. Returns fanout-clients' result."""
    proc = subprocess.Popen([FANOUT_CLIENTS, "--url", f"ws://127.0.0.1:{stack.sidecar.port}/v1/sync", "--clients",
                             str(args.live_clients), "--table", "public.ticks", "--timeout", str(args.seconds),
                             "--client-prefix", "live-" + ("s" if during_snapshots else "q")] +
                            (["--msgpack"] if args.msgpack else []),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    before = fanout_histogram(stack)
    replayed_before = stack.sidecar.metric("livesync_replay_entries_total")
    rounds = []
    if during_snapshots:
        deadline = time.monotonic() + args.seconds - 1
        while time.monotonic() < deadline:
            r = snapshot_clients(stack.sidecar.port, args.msgpack, args.clients, nice=args.nice_clients)
            assert r["rows_min"] == r["rows_max"] == args.rows, r
            rounds.append(r["total_s"])
    result = json.loads(proc.stdout.read().strip().splitlines()[-1])
    proc.wait(timeout=60)
    lat = result["latency_ms"]
    what = (f"while {len(rounds)} rounds of {args.clients} snapshots of {args.rows} rows ran "
            f"({' '.join(f'{t:.1f}' for t in rounds)} s each)" if during_snapshots else "with no snapshot running")
    bound, entries = fanout_p99(before, fanout_histogram(stack))
    yields = stack.sidecar.metric("livesync_snapshot_yields_total")
    waits = stack.sidecar.metric("livesync_snapshot_pace_waits_total")
    replayed = stack.sidecar.metric("livesync_replay_entries_total") - replayed_before
    print(f"{enc}: live changes to {args.live_clients} other sessions {what}: p50 {lat['p50']:.1f} ms, "
          f"p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms over {lat['samples']} deliveries; inside livesyncd "
          f"(stream entry read -> queued to every session) 99% of {entries} entries within {bound * 1000:g} ms; "
          f"snapshot yields so far {yields:.0f}, pace waits {waits:.0f}; stream entries replayed {replayed:.0f}",
          flush=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["one", "many", "live"])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--msgpack", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--live-clients", type=int, default=100)
    ap.add_argument("--rate", type=int, default=200, help="live transactions per second (live)")
    ap.add_argument("--seconds", type=int, default=20, help="length of each live measurement (live)")
    ap.add_argument("--nice-clients", type=int, default=0,
                    help="live: run the snapshot load clients under nice -n N (they stand for clients on other "
                         "machines; here they share the cores with livesyncd and the live path)")
    ap.add_argument("--gather-ms", type=int, help="livesyncd --snapshot-gather-ms (default: livesyncd's)")
    ap.add_argument("--yield-ms", type=int, help="livesyncd --snapshot-yield-ms (default: livesyncd's; 0: off)")
    ap.add_argument("--share-mb", type=int, help="livesyncd --snapshot-share-mb (default: livesyncd's)")
    args = ap.parse_args()
    for binary in (SNAPSHOT_CLIENTS,) + ((FANOUT_CLIENTS,) if args.mode == "live" else ()) + \
            ((BARE_BROADCASTER,) if args.mode == "many" else ()):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: cmake --build build --target {os.path.basename(binary)}")
    sidecar_args = ("--allow-anonymous",) + (("--snapshot-gather-ms", str(args.gather_ms))
                                             if args.gather_ms is not None else ()) + \
        (("--snapshot-yield-ms", str(args.yield_ms)) if args.yield_ms is not None else ()) + \
        (("--snapshot-share-mb", str(args.share_mb)) if args.share_mb is not None else ())
    with harness.Stack(sidecar_args=sidecar_args, snapshot_role="livesync_reader") as stack:
        fill(stack, args.rows)
        sampler = RssSampler(stack.sidecar.proc.pid)
        sampler.start()
        enc = "msgpack" if args.msgpack else "json"
        if args.mode == "one":
            run_one(stack, args, enc)
        elif args.mode == "many":
            args.repeat = 1
            one_s = run_one(stack, args, enc)
            run_many(stack, args, enc, one_s)
        else:
            fill_ticks(stack)
            writer = Writer(stack, args.rate)
            writer.start()
            try:
                live_latency(stack, args, False, enc)
                live_latency(stack, args, True, enc)
            finally:
                writer.close()
        sampler.stop.set()
        print(f"livesyncd peak RSS sampled {sampler.peak / 1024:.0f} MiB, VmHWM "
              f"{status_kb(stack.sidecar.proc.pid, 'VmHWM') / 1024:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
