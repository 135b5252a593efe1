#!/usr/bin/env python3
"""Subscription snapshots: rows/s to one client against `COPY (SELECT ...) TO STDOUT`
through psql in the same run, and N clients subscribing with a snapshot to the same table
at once (shared query) against one client. Starts Postgres + Redis + livesyncd
(test/integration/harness.py), fills a table, measures, samples livesyncd's RSS every
20 ms (and VmHWM at the end). Not a test; results go to docs/benchmarks.md.

    python3 bench/snapshot/snapshot_bench.py one --rows 1000000 [--msgpack]
    python3 bench/snapshot/snapshot_bench.py many --rows 100000 --clients 100 [--msgpack]

The client is a bare WebSocket reader (harness.RawWebSocket's framing, no decoding of
rows): it counts a snapshot_rows frame's rows from its header and stops at snapshot_end,
so what is measured is livesyncd and Postgres, not a JSON parser.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import harness  # noqa: E402


def msgpack_map(fields):
    """A msgpack map of short str keys and str / bool values (what a subscribe needs)."""
    out = bytes([0x80 | len(fields)])
    for k, v in fields.items():
        for s in (k, v):
            if isinstance(s, bool):
                out += b"\xc3" if s else b"\xc2"
            else:
                b = s.encode()
                out += bytes([0xa0 | len(b)]) + b
    return out


class Reader(harness.RawWebSocket):
    def send_raw(self, payload, binary):
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x82 if binary else 0x81]) + (bytes([0x80 | n]) if n < 126 else
                                                        bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def message(self):
        data = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            data += self._read(n)
            if b0 & 0x80:
                return data


def rows_in(frame, msgpack):
    """Rows of a snapshot_rows frame without decoding them; None for other frames."""
    if msgpack:
        at = frame.find(b"\xa4rows")
        if not frame.startswith(b"\x83\xa4type\xadsnapshot_rows") or at < 0:
            return None
        t = frame[at + 5]
        if t & 0xF0 == 0x90:
            return t & 0x0F
        if t == 0xDC:
            return struct.unpack(">H", frame[at + 6:at + 8])[0]
        return struct.unpack(">I", frame[at + 6:at + 10])[0]
    if not frame.startswith(b'{"type":"snapshot_rows"'):
        return None
    return frame.count(b'{"id":')


def snapshot(port, msgpack, client_id, result):
    ws = Reader(port, protocol="livesync.v1.msgpack" if msgpack else "livesync.v1.json", timeout=600)
    hello = {"type": "hello", "client_id": client_id}
    sub = {"type": "subscribe", "id": "s1", "table": "items", "snapshot": True}
    start = time.monotonic()
    for frame in (hello, sub):
        if msgpack:
            ws.send_raw(msgpack_map(frame), True)
        else:
            ws.send_raw(json.dumps(frame).encode(), False)
    rows = 0
    while True:
        f = ws.message()
        n = rows_in(f, msgpack)
        if n is not None:
            rows += n
        elif b"snapshot_end" in f[:40]:
            break
        elif b"error" in f[:20]:
            raise RuntimeError(f"error frame: {f[:300]}")
    result.append((time.monotonic() - start, rows))
    ws.close()


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
    pg = stack.pg
    pg.psql("CREATE ROLE livesync_reader LOGIN")
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, org text, n int, note text)")
    pg.psql(f"INSERT INTO items SELECT g, 'o' || (g % 10), g % 1000, md5(g::text) FROM generate_series(1, {rows}) g")
    pg.psql("VACUUM ANALYZE items")
    pg.psql("SELECT livesync.publish('items'), livesync.grant('anonymous', 'items')")
    pg.psql("GRANT USAGE ON SCHEMA livesync TO livesync_reader")
    pg.psql("GRANT SELECT ON items TO livesync_reader")
    stack.wait_replicator()
    stack.wait_published("public.items")


def copy_seconds(stack):
    start = time.monotonic()
    subprocess.run([os.path.join(stack.pg.bindir, "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(stack.pg.port),
                    "-U", "livesync_reader", "-d", "postgres", "-c",
                    "COPY (SELECT id, org, n, note FROM items) TO STDOUT"],
                   stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["one", "many"])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--msgpack", action="store_true")
    args = ap.parse_args()
    with harness.Stack(snapshot_role="livesync_reader") as stack:
        fill(stack, args.rows)
        sampler = RssSampler(stack.sidecar.proc.pid)
        sampler.start()
        enc = "msgpack" if args.msgpack else "json"
        copy_s = copy_seconds(stack)
        one = []
        snapshot(stack.sidecar.port, args.msgpack, "bench-one", one)
        (one_s, one_rows), = one
        print(f"{enc}: COPY TO STDOUT via psql {args.rows} rows {copy_s:.2f}s = {args.rows / copy_s:,.0f} rows/s; "
              f"snapshot to one client {one_rows} rows {one_s:.2f}s = {one_rows / one_s:,.0f} rows/s "
              f"({one_rows / one_s / (args.rows / copy_s):.2f} of COPY)", flush=True)
        if args.mode == "many":
            results = []
            threads = [threading.Thread(target=snapshot, args=(stack.sidecar.port, args.msgpack, f"bench-{i}", results))
                       for i in range(args.clients)]
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            total = time.monotonic() - start
            assert len(results) == args.clients and all(r == one_rows for _, r in results), results[:3]
            with open(stack.sidecar.log_path) as f:
                queries = [json.loads(l) for l in f if '"snapshot sent"' in l][1:]
            print(f"{enc}: {args.clients} clients at once, {args.rows} rows each: total {total:.2f}s "
                  f"({total / one_s:.2f}x one client's {one_s:.2f}s); {len(queries)} queries served them "
                  f"(subscribers per query: {sorted(q['subscribers'] for q in queries)})", flush=True)
        sampler.stop.set()
        print(f"livesyncd peak RSS sampled {sampler.peak / 1024:.0f} MiB, VmHWM "
              f"{status_kb(stack.sidecar.proc.pid, 'VmHWM') / 1024:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
