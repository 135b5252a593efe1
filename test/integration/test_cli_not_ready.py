#!/usr/bin/env python3
"""A hello answered not_ready is sent again: livesync-cli, started against a sidecar that
cannot reach Redis yet (it has not read the stream, and cannot check the client id's
owner), keeps saying hello with backoff, as protocol.md tells clients to, and receives
its changes once Redis answers -- instead of exiting on the first not_ready (what made
integration.redis_auth fail on a loaded machine)."""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_sidecar_resume import cli  # noqa: E402


class CliNotReady(unittest.TestCase):
    def test_cli_says_hello_again_until_the_sidecar_is_ready(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, k int NOT NULL)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            # Redis stops answering (SIGSTOP: connections hang); a sidecar started now
            # is up (healthz) but not ready.
            stack.redis.proc.send_signal(signal.SIGSTOP)
            late = None
            try:
                late = harness.Sidecar(stack.workdir, stack.redis.url, extra=["--allow-anonymous"]).start()
                self.assertNotEqual(late.get("/readyz")[0], 200)
                client = cli(stack, "patient", count=3, timeout=120, sidecar=late)
                harness.wait_until(lambda: any("sending hello again" in line for line in client.stderr), 60,
                                   "the client to be told not_ready and retry")
                self.assertIsNone(client.proc.poll(), "the client gave up on not_ready: " + "".join(client.stderr))
            finally:
                stack.redis.proc.send_signal(signal.SIGCONT)
            try:
                client.wait_subscribed(timeout=60)
                pg.psql("INSERT INTO items SELECT g, 1 FROM generate_series(1, 3) g")
                rc, changes = client.finish(timeout=120)
                self.assertEqual(rc, 0, "".join(client.stderr))
                self.assertEqual([c["new"]["id"] for c in changes], [1, 2, 3])
            finally:
                if late:
                    late.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
