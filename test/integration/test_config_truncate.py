#!/usr/bin/env python3
"""TRUNCATE of the config tables is a revoke / unpublish of everything, at its LSN:
TRUNCATE livesync.rules stops every row from reaching a subscribed client (default deny,
no stale grant left in a sidecar) and ends its subscription with `unsubscribed`
(reason forbidden), TRUNCATE livesync.tables unpublishes every table (reason
unknown_table), and both Redis mirrors (<prefix>rules, <prefix>tables) are emptied
with them. A plain revoke / unpublish ends subscriptions the same way."""
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Client:
    def __init__(self, stack, count, timeout=30):
        self.proc = subprocess.Popen([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                      "--table", "public.items", "--count", str(count), "--timeout", str(timeout)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        self.subscribed = threading.Event()
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line.startswith("subscribed"):
                self.subscribed.set()

    def wait_subscribed(self):
        if not self.subscribed.wait(20):
            self.proc.kill()
            raise AssertionError("client never subscribed: " + "".join(self.stderr))

    def finish(self, timeout=60):
        # Not communicate(): it would read stderr too, racing the reader thread.
        out = self.proc.stdout.read()  # until the client exits (its --timeout bounds it)
        self.proc.wait(timeout)
        self.reader.join(5)  # every stderr line read
        return self.proc.returncode, [json.loads(line) for line in out.splitlines() if line.strip()]


class ConfigTruncate(unittest.TestCase):
    def test_truncate_rules_denies_and_truncate_tables_unpublishes(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            client = Client(stack, count=3)
            client.wait_subscribed()
            pg.psql("INSERT INTO items VALUES (1, 'granted')")
            pg.psql("TRUNCATE livesync.rules")
            # Committed while no rule exists: nobody may see it, whatever the sidecar
            # had cached before.
            pg.psql("INSERT INTO items VALUES (2, 'after truncate')")
            harness.wait_until(lambda: redis.cli("HLEN", harness.key("rules")) == "(integer) 0", 10,
                               "rules emptied in Redis")
            # The sidecar ends the subscription (livesync-cli exits 1 saying why).
            rc, changes = client.finish()
            self.assertEqual(rc, 1, "".join(client.stderr))
            self.assertIn("subscription s1 ended by the server: forbidden", "".join(client.stderr))
            self.assertEqual([c["new"]["id"] for c in changes], [1])

            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            client = Client(stack, count=1)
            client.wait_subscribed()
            pg.psql("INSERT INTO items VALUES (3, 'granted again')")
            rc, changes = client.finish()
            self.assertEqual(rc, 0, "".join(client.stderr))
            self.assertEqual([c["new"]["id"] for c in changes], [3])

            # A plain revoke ends it the same way; an unpublish says unknown_table.
            client = Client(stack, count=1)
            client.wait_subscribed()
            pg.psql("SELECT livesync.revoke('anonymous', 'items')")
            rc, _ = client.finish()
            self.assertEqual(rc, 1)
            self.assertIn("ended by the server: forbidden", "".join(client.stderr))
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            client = Client(stack, count=1)
            client.wait_subscribed()
            pg.psql("SELECT livesync.unpublish('items')")
            rc, _ = client.finish()
            self.assertEqual(rc, 1)
            self.assertIn("ended by the server: unknown_table", "".join(client.stderr))
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            pg.psql("TRUNCATE livesync.tables, livesync.rules")
            harness.wait_until(lambda: redis.cli("HLEN", harness.key("tables")) == "(integer) 0", 10,
                               "tables emptied in Redis")
            self.assertEqual(redis.cli("HLEN", harness.key("rules")), "(integer) 0")

            def refused():
                out = subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                      "--table", "public.items", "--timeout", "1"], capture_output=True, text=True)
                return out.returncode != 0 and "not published" in out.stderr
            harness.wait_until(refused, 10, "a subscribe to public.items to be refused as not published")


if __name__ == "__main__":
    unittest.main(verbosity=2)
