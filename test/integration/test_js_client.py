#!/usr/bin/env python3
"""clients/js (the livesync-client package, installed from its tarball) in Node: a subscription made while the hello is on its way
(after the socket opened, before the welcome) is still subscribed and gets changes; a
schema change (DDL on the table) goes to onSchema callbacks in its place, never to
onChange."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import js_package  # noqa: E402
from test_end_to_end import Client  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class JsClient(unittest.TestCase):
    def test_subscription_made_between_hello_and_welcome_is_sent(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
            client = Client(["node", js_package.copy_into_app("js_client_probe.mjs")[0], stack.sidecar.url, "public.items", "3"],
                            env=env)
            client.wait_subscribed()
            pg.psql("INSERT INTO items VALUES (1), (2)")
            pg.psql("ALTER TABLE items ADD COLUMN note text")
            pg.psql("INSERT INTO items VALUES (3, 'n')")
            rc, changes = client.finish(timeout=40)
            self.assertEqual(rc, 0, "".join(client.stderr))
            schema = {"sub": ["s1"], "op": "schema", "schema": "public", "table": "items",
                      "columns": [{"name": "id", "type": "integer"}, {"name": "note", "type": "text"}]}
            self.assertEqual(changes[2:4], [{"onSchema": schema}, {"clientOnSchema": schema}])
            rows = changes[:2] + changes[4:]
            self.assertEqual([c["op"] for c in rows], ["insert"] * 3)
            self.assertEqual([c["new"]["id"] for c in rows], [1, 2, 3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
