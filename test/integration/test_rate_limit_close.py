#!/usr/bin/env python3
"""A client closed by the sidecar is told why, even when its unread messages are still
arriving: over --rate-messages it gets the 4429 close frame -- not a TCP reset (1006) --
whether it floods hundreds or a hundred thousand pings without waiting for pongs, or
pings in turn; the same holds for 1009 (message too large) with messages queued behind
it. The sidecar drops the flood while the close goes out, and only for a bounded time: a
client that never answers the close is disconnected within seconds."""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_security import NodeClient, SECRET, claims_of, mint  # noqa: E402
from test_sidecar_slow_clients import StalledClient  # noqa: E402

RATE = ("--rate-messages", "50:100")
CLIENTS_PER_BURST = 5
FLOOD = 100000  # pings: ~3 MB, more than the socket buffers hold


class RateLimitClose(unittest.TestCase):
    def stack(self, *extra):
        return harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET, "--allow-anonymous", *extra])

    def ready(self, stack):
        """The raw client's hello subscribes: it is welcomed only once the stream was read."""
        harness.wait_until(lambda: stack.sidecar.get("/readyz")[0] == 200, 20, "the sidecar to be ready")

    def test_flooding_clients_get_the_4429_close_frame_not_a_reset(self):
        with self.stack(*RATE) as stack:
            sub = 0
            for pings in (300, 3000, 30000, 100000):
                clients = []
                # The biggest floods two at a time: lws waits 5 s (fixed) for the close
                # ack, and five Node processes pushing 3 MB each on a loaded 2-core
                # machine could take longer than that to read their close frame.
                for _ in range(CLIENTS_PER_BURST if pings < 100000 else 2):
                    sub += 1  # a bucket per user: each client floods its own
                    clients.append(NodeClient(stack, token=mint(claims_of(sub, "member", "a")), via="header",
                                              pings=pings, timeout_ms=30000))
                for c in clients:
                    self.assertEqual(c.close_code(timeout=40), 4429, f"{pings} pings: {c.stderr}")
                    self.assertIn("closed 4429 rate limited: too many messages; slow down and reconnect", c.stderr)
                    c.finish(timeout=10)

    def test_client_pinging_in_turn_gets_4429(self):
        with self.stack(*RATE) as stack:
            for sub in range(CLIENTS_PER_BURST):
                c = NodeClient(stack, token=mint(claims_of(sub, "member", "a")), via="header", pings_in_turn=100000,
                               timeout_ms=30000)
                self.assertEqual(c.close_code(timeout=40), 4429, c.stderr)
                c.finish(timeout=10)

    def flood_then_read_close(self, raw, frames):
        """Writes all the frames, then reads. A small send buffer keeps the client writing
        while the sidecar closes: a reset then fails the write, as it does for Node's ws."""
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        try:
            raw.send(*frames)
            return raw.close_frame(timeout=20)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.fail(f"the sidecar reset the connection instead of closing it: {e}")
        finally:
            raw.sock.close()

    def test_client_that_reads_only_after_its_flood_finds_the_4429_close_frame(self):
        with self.stack(*RATE) as stack:
            self.ready(stack)
            for i in range(3):
                raw = StalledClient(stack.sidecar.port, f"raw-{i}", "public.nothing")
                harness.wait_until(lambda: stack.sidecar.get(f"/v1/clients/raw-{i}")[0] == 200, 10, "the welcome")
                code, reason = self.flood_then_read_close(raw, [{"type": "ping", "ref": n} for n in range(FLOOD)])
                self.assertEqual((code, reason), (4429, "rate limited: too many messages; slow down and reconnect"))
                time.sleep(2.5)  # the anonymous bucket (one per address) refills

    def test_client_flooding_before_its_welcome_finds_the_1008_close_frame(self):
        with self.stack() as stack:
            self.ready(stack)
            for i in range(3):
                raw = StalledClient(stack.sidecar.port, f"early-{i}", "public.nothing", say_hello=False)
                code, reason = self.flood_then_read_close(raw, [raw.hello] + [{"type": "ping"}] * FLOOD)
                self.assertEqual((code, reason), (1008, "too many messages before welcome"))

    def test_oversized_message_with_more_behind_it_gets_1009(self):
        with self.stack() as stack:
            for sub in range(CLIENTS_PER_BURST):
                c = NodeClient(stack, token=mint(claims_of(sub, "member", "a")), via="header",
                               big_message=2 << 20, pings=20000, timeout_ms=30000)
                self.assertEqual(c.close_code(timeout=40), 1009, c.stderr)
                c.finish(timeout=10)

    def test_a_client_that_never_answers_the_close_is_dropped_within_seconds(self):
        with self.stack(*RATE) as stack:
            raw = StalledClient(stack.sidecar.port, "endless", "public.nothing")
            start = time.monotonic()
            dropped_after = None
            try:
                while time.monotonic() - start < 30:
                    raw.send({"type": "ping"})
            except (BrokenPipeError, ConnectionResetError):
                dropped_after = time.monotonic() - start
            finally:
                raw.sock.close()
            self.assertIsNotNone(dropped_after, "a flooding client kept its socket for 30 s")
            # lws waits 5 s for the close to be sent and 5 s for its ack, at most.
            self.assertLess(dropped_after, 12)
            harness.wait_until(lambda: stack.sidecar.get("/v1/clients/endless")[0] == 410, 10, "the session to be gone")


if __name__ == "__main__":
    unittest.main()
