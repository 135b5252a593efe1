#!/usr/bin/env python3
"""Schema changes to a published table, end to end: a change that would take away its
replica identity is refused and the stream goes on; DROP TABLE unpublishes it at the
DROP's LSN, so a subscriber first gets the rows committed before the drop, then
`unsubscribed` with reason unknown_table, and the table leaves
livesync.published_tables and the Redis copy livesync:tables. Other DDL (add, retype,
rename a column) reaches subscribers as a `schema` change in its place, with the columns
their grant lets them see, over JSON and msgpack alike, live and on resume."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_config_truncate import Client  # noqa: E402


def tables_in_redis(redis):
    raw = redis.raw("HGETALL", harness.key("tables")).decode().splitlines()
    return {raw[i]: json.loads(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}


class SchemaChanges(unittest.TestCase):
    def test_identity_guard_and_drop_table_unpublishes(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            self.assertIn("public.items", tables_in_redis(redis))

            client = Client(stack, count=10)
            client.wait_subscribed()
            pg.psql("INSERT INTO items VALUES (1, 'one')")
            refused = pg.psql("ALTER TABLE items REPLICA IDENTITY NOTHING", check=False)
            self.assertNotEqual(refused.returncode, 0)
            self.assertIn("without a replica identity", refused.stderr)
            self.assertIn("HINT:", refused.stderr)
            pg.psql("DELETE FROM items WHERE id = 1")
            pg.psql("INSERT INTO items VALUES (2, 'two')")
            # Decided by the config at the commit LSN (as for an unpublish in the same
            # transaction): a row committed with the drop reaches nobody.
            pg.psql("BEGIN; INSERT INTO items VALUES (3, 'three'); DROP TABLE items; COMMIT")

            rc, changes = client.finish()
            stderr = "".join(client.stderr)
            self.assertEqual(rc, 1, stderr)
            self.assertIn("subscription s1 ended by the server: unknown_table", stderr)
            self.assertEqual([(c["op"], (c.get("new") or c.get("old"))["id"]) for c in changes],
                             [("insert", 1), ("delete", 1), ("insert", 2)])
            # Deletes still name their row: the refused ALTER changed nothing.
            self.assertEqual(changes[1]["old"], {"id": 1})

            self.assertEqual(pg.psql("SELECT count(*) FROM livesync.published_tables"), "0")
            harness.wait_until(lambda: tables_in_redis(redis) == {}, 10, "public.items to leave the tables hash")
            out = subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                  "--table", "public.items", "--timeout", "1"], capture_output=True, text=True)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("not published", out.stderr)


    def test_ddl_reaches_subscribers_as_schema_messages_in_both_encodings(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, title text, secret text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items', 'true', ARRAY['id', 'title'])")
            stack.wait_published("public.items")
            clients = {}
            for encoding in ("json", "msgpack"):
                clients[encoding] = subprocess.Popen(
                    [os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "public.items",
                     "--count", "5", "--timeout", "60"] + (["--msgpack"] if encoding == "msgpack" else []),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                for client in clients.values():
                    while not client.stderr.readline().startswith("subscribed"):
                        self.assertIsNone(client.poll(), "client ended before subscribing")
                # A first row reaches each before the DDL.
                pg.psql("INSERT INTO items VALUES (1, 'one', 's')")
                lines = {e: [json.loads(c.stdout.readline())] for e, c in clients.items()}
                pg.psql("ALTER TABLE items ADD COLUMN note text")
                pg.psql("ALTER TABLE items ALTER COLUMN title TYPE varchar(50)")
                pg.psql("ALTER TABLE items RENAME COLUMN secret TO hidden")
                pg.psql("INSERT INTO items VALUES (2, 'two', 'h', 'n')")
                for encoding, client in clients.items():
                    out, err = client.communicate(timeout=90)
                    self.assertEqual(client.returncode, 0, err)
                    lines[encoding] += [json.loads(line) for line in out.splitlines() if line.strip()]
                    # livesync-cli also says so on stderr, for people.
                    self.assertEqual([l for l in err.splitlines() if l.startswith("schema ")],
                                     ["schema public.items id:integer,title:text"]
                                     + ["schema public.items id:integer,title:character varying(50)"] * 2, encoding)
            finally:
                for client in clients.values():
                    if client.poll() is None:
                        client.kill()
                        client.communicate()
            expected_schema = [
                [{"name": "id", "type": "integer"}, {"name": "title", "type": "text"}],
                [{"name": "id", "type": "integer"}, {"name": "title", "type": "character varying(50)"}],
                [{"name": "id", "type": "integer"}, {"name": "title", "type": "character varying(50)"}],
            ]
            for encoding, got in lines.items():
                self.assertEqual([c["op"] for c in got], ["insert", "schema", "schema", "schema", "insert"], encoding)
                self.assertEqual([c["columns"] for c in got if c["op"] == "schema"], expected_schema, encoding)
                self.assertTrue(all(c["table"] == "items" and c["sub"] == ["s1"] for c in got), encoding)
                self.assertEqual(got[4]["new"], {"id": 2, "title": "two"}, encoding)

            # A client resuming from the first row replays the schema changes in their place.
            for extra in ([], ["--msgpack"]):
                out = subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                      "--table", "public.items", "--last-lsn", lines["json"][0]["lsn"],
                                      "--count", "4", "--timeout", "60"] + extra,
                                     capture_output=True, text=True, timeout=90)
                self.assertEqual(out.returncode, 0, out.stderr)
                replayed = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
                self.assertEqual(replayed, lines["json"][1:], extra)


if __name__ == "__main__":
    unittest.main()
