#!/usr/bin/env python3
"""A client that stops reading never delays the others: once half the send-queue bound
(--max-send-queue) waits for it, livesyncd stops queueing for it (it would be fed from
the stream at its own pace, were it reading), and once its queue has not moved for
--send-stall-timeout it is closed with 1008 and a reason that says why -- while a normal
client keeps receiving every change promptly."""
import base64
import json
import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_sidecar_resume import cli  # noqa: E402


class StalledClient:
    """A raw WebSocket (stdlib only) that says hello, subscribes, and then never reads.
    say_hello=False: the caller sends self.hello itself (with more frames behind it)."""

    def __init__(self, port, client_id, table, say_hello=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # stall early
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /v1/sync HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"Sec-WebSocket-Protocol: livesync.v1.json\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.hello = {"type": "hello", "client_id": client_id, "subscriptions": [{"id": "s1", "table": table}]}
        if say_hello:
            self.send(self.hello)

    @staticmethod
    def encode(frame):
        payload = json.dumps(frame).encode()
        mask = os.urandom(4)
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bytes([0x81, 0x80 | len(payload)]) + mask + masked

    def send(self, *frames):
        """Sends the frames back to back, in one sendall."""
        self.sock.sendall(b"".join(self.encode(f) for f in frames))

    def close_frame(self, timeout=60):
        """Reads what the server sent until its close frame (or the end of the connection)
        and returns the close frame's (code, reason); (None, None) when there is none.
        Waits for that state, not for the connection to end: the server keeps it open
        while it waits for the client's close reply."""
        self.sock.settimeout(timeout)
        data = b""
        while True:
            found = self.parse_close(data)
            if found is not None:
                return found
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None, None
            data += chunk

    @staticmethod
    def parse_close(data):
        pos = 0
        while pos + 2 <= len(data):
            opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
            pos += 2
            if n == 126:
                if pos + 2 > len(data):
                    return None
                n, pos = struct.unpack(">H", data[pos:pos + 2])[0], pos + 2
            elif n == 127:
                if pos + 8 > len(data):
                    return None
                n, pos = struct.unpack(">Q", data[pos:pos + 8])[0], pos + 8
            if pos + n > len(data):
                return None
            body, pos = data[pos:pos + n], pos + n
            if opcode == 0x8:
                return struct.unpack(">H", body[:2])[0], body[2:].decode()
        return None


class SlowClients(unittest.TestCase):
    def test_stalled_client_is_closed_with_1008_and_never_delays_the_others(self):
        with harness.Stack(sidecar_args=["--allow-anonymous", "--max-send-queue", "8MiB",
                                         "--send-stall-timeout", "2"]) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            small, big = 2000, 100000
            slow = StalledClient(stack.sidecar.port, "slow-1", "public.items")
            harness.wait_until(lambda: stack.sidecar.get("/v1/clients/slow-1")[0] == 200, 10, "slow-1 to say hello")
            fast = cli(stack, "fast-1", count=small + big, timeout=120)
            fast.wait_subscribed()

            # A burst: the other client gets every change at once, whatever the stalled one does.
            started = time.monotonic()
            pg.psql(f"INSERT INTO items SELECT g, repeat('x', 100) FROM generate_series(1, {small}) g")
            harness.wait_until(lambda: len(fast.changes) >= small, 10, "the fast client to get the small burst")
            self.assertLess(time.monotonic() - started, 5)

            # ~15 MB of changes over ~3 s: far more than the socket buffers and the 8 MiB
            # bound for the stalled client, an easy pace for one that reads.
            pg.psql(f"""DO $$ BEGIN FOR k IN 0 .. 199 LOOP
                          INSERT INTO items SELECT g, repeat('y', 100)
                            FROM generate_series({small + 1} + k * 500, {small} + (k + 1) * 500) g;
                          COMMIT; PERFORM pg_sleep(0.015); END LOOP; END $$""")
            committed = time.monotonic()
            rc, changes = fast.finish(timeout=120)
            took = time.monotonic() - committed
            self.assertEqual(rc, 0, "".join(fast.stderr))
            ids = [c["new"]["id"] for c in changes]
            self.assertEqual(ids, list(range(1, small + big + 1)), "the fast client missed or repeated changes")
            self.assertLess(took, 30, f"the fast client needed {took:.1f}s after the last commit")

            # The stalled client reads nothing until livesyncd gave up on it: reading
            # earlier would make its queue move again (and a busy machine can finish the
            # burst before --send-stall-timeout plus one sweep has passed).
            harness.wait_until(lambda: stack.sidecar.metric("livesync_slow_clients_dropped_total") >= 1, 60,
                               "livesyncd to close the stalled client")
            code, reason = slow.close_frame()
            self.assertEqual(code, 1008)
            self.assertIn("stopped reading", reason)
            self.assertIn("resume with last_lsn", reason)
            harness.wait_until(lambda: stack.sidecar.get("/v1/clients/slow-1")[0] == 410, 10,
                               "the stalled client to leave")
            with open(stack.sidecar.log_path) as f:
                self.assertIn("session closed: send queue stalled", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
