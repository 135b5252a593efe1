#!/usr/bin/env python3
"""livesync.clients(), livesync.kick() and livesync.activity_report() read and write the
sidecars' registry and activity counters in Redis from SQL; without Redis they fail with a clear error instead of hanging."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class SqlRegistry(unittest.TestCase):
    def test_clients_lists_connected_sessions_and_kick_posts_a_control_entry(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            self.assertEqual(pg.psql("SELECT count(*) FROM livesync.clients()"), "0")
            env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
            holder = subprocess.Popen(["node", os.path.join(HERE, "hold_clients.js"), stack.sidecar.url, "sqlc", "3"],
                                      stdout=subprocess.PIPE, text=True, env=env)
            try:
                self.assertEqual(holder.stdout.readline().strip(), "ready")
                harness.wait_until(lambda: pg.psql("SELECT count(*) FROM livesync.clients()") == "3", 10,
                                   "three clients in livesync.clients()")
                row = pg.psql("SELECT client_id, sidecar IS NOT NULL, address, connected_at <= now(), "
                              "jsonb_typeof(subscriptions) FROM livesync.clients() ORDER BY client_id LIMIT 1")
                self.assertEqual(row, "sqlc-0|t|127.0.0.1|t|array")

                self.assertEqual(pg.psql("SELECT livesync.kick('sqlc-1')"), "t")
                self.assertEqual(pg.psql("SELECT livesync.kick('nobody')"), "f")
                entries = redis.raw("XRANGE", harness.key("control"), "-", "+").decode().split()
                self.assertIn("kick", entries)
                self.assertIn("sqlc-1", entries)
                err = pg.psql("SELECT livesync.kick('')", check=False)
                self.assertIn("client_id must not be empty", err.stderr)

                # The sidecars' activity counters (flushed to Redis every second), per user.
                harness.wait_until(
                    lambda: pg.psql("SELECT sessions >= 3 FROM livesync.activity_report(now() - interval '1 hour') "
                                    "WHERE user_id LIKE 'anonymous:%'") == "t", 15, "activity in the report")
                self.assertEqual(pg.psql("SELECT count(*) FROM livesync.activity_report(now() + interval '1 hour')"),
                                 "0", "since in the future still listed users")
                err = pg.psql("SELECT * FROM livesync.activity_report('infinity')", check=False)
                self.assertIn("since must be a finite time", err.stderr)
            finally:
                holder.kill()

    def test_clients_shows_user_tenant_and_role(self):
        secret = "sql-registry-secret-0123456789abcdef"
        with harness.Stack(sidecar_args=["--jwt-hs256-secret", secret, "--allow-anonymous"]) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('member', 'items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            token = harness.mint_token({"sub": "alice", "tenant": "acme", "role": "member",
                                        "exp": int(time.time()) + 3600}, secret)
            cli = os.path.join(harness.BUILD, "livesync-cli")
            clients = [subprocess.Popen([cli, "--url", stack.sidecar.url, "--table", "public.items", "--client-id", cid,
                                         "--timeout", "60", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                       for cid, extra in (("who-alice", ["--token", token]), ("who-anon", []))]
            try:
                query = ("SELECT client_id, coalesce(user_id, '-'), coalesce(tenant, '-'), coalesce(role, '-') "
                         "FROM livesync.clients() ORDER BY client_id")
                harness.wait_until(lambda: len(pg.psql(query).splitlines()) == 2, 20, "both clients registered")
                self.assertEqual(pg.psql(query).splitlines(), ["who-alice|alice|acme|member", "who-anon|-|-|anonymous"])
            finally:
                for c in clients:
                    c.kill()
                    c.wait()

    def test_without_redis_the_functions_fail_clearly(self):
        with harness.Stack() as stack:
            stack.redis.stop()
            out = stack.pg.psql("SELECT * FROM livesync.clients()", check=False)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("cannot connect to Redis", out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
