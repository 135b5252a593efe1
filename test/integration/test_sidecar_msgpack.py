#!/usr/bin/env python3
"""livesync.v1.msgpack end to end, with real Postgres, Redis and livesyncd: a msgpack
client and a JSON client subscribed to the same table receive the same changes -- every
value type the batch format carries, rendered back to JSON, equal -- and the protocol
edge behaves as documented (bad msgpack answered with bad_msgpack while the session
stays, a text message closed with 1003), checked from Node's `ws`."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_end_to_end import Client  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

TYPED_TABLE = """CREATE TABLE typed (
    id int PRIMARY KEY, big bigint, small smallint, r real, d double precision, ok boolean,
    label text, raw bytea, price numeric, doc jsonb, at timestamptz, day date, tod time,
    local timestamp, span interval, uid uuid, ints int[], labels text[], nothing text)"""

ROWS = """INSERT INTO typed VALUES
    (1, 9007199254740993, -3, 1.5, 0.1, true, 'a "quoted" é', '\\x00ff10', 12.340, '{"a":[1,2]}',
     '2026-11-25 08:43:28.123456+00', '2026-11-25', '08:43:28.5', '2026-11-25 08:43:28', '1 year 2 days 3 hours',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{"x","y z"}', NULL),
    (2, -1, 0, 'NaN', '-Infinity', false, '', '', 'NaN', 'null', 'infinity', '-infinity', '00:00', 'infinity',
     '-1 day', '00000000-0000-0000-0000-000000000000', '{}', '{}', NULL)"""


def cli(stack, client_id, count, *flags):
    return Client([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "public.typed",
                   "--client-id", client_id, "--count", str(count), "--timeout", "60", *flags])


class SidecarMsgpack(unittest.TestCase):
    def test_msgpack_client_receives_the_same_changes_as_json(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            stack.pg.psql(TYPED_TABLE)
            stack.pg.psql("SELECT livesync.publish('typed')")
            stack.pg.psql("SELECT livesync.grant('anonymous', 'typed')")
            stack.wait_published("public.typed")
            as_json = cli(stack, "json1", 4)
            as_msgpack = cli(stack, "mp1", 4, "--msgpack")
            as_json.wait_subscribed()
            as_msgpack.wait_subscribed()
            stack.pg.psql(ROWS)
            stack.pg.psql("UPDATE typed SET label = 'b', price = price + 1 WHERE id = 1; DELETE FROM typed WHERE id = 2")
            rc_json, json_changes = as_json.finish()
            rc_msgpack, msgpack_changes = as_msgpack.finish()
            self.assertEqual(rc_json, 0, "".join(as_json.stderr))
            self.assertEqual(rc_msgpack, 0, "".join(as_msgpack.stderr))
            self.assertEqual(len(msgpack_changes), 4)
            self.assertEqual(msgpack_changes, json_changes)
            first = msgpack_changes[0]["new"]
            self.assertEqual(first["price"], "12.340")
            self.assertEqual(first["raw"], "\\x00ff10")
            self.assertEqual(first["doc"], {"a": [1, 2]})
            self.assertEqual(first["at"], "2026-11-25T08:43:28.123456Z")
            self.assertEqual(first["ints"], [1, None, 3])
            self.assertEqual(first["big"], 9007199254740993)
            self.assertEqual(msgpack_changes[3]["op"], "delete")

    def test_protocol_edge_from_node_ws(self):
        with harness.Stack() as stack:
            env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
            out = subprocess.run(["node", os.path.join(HERE, "msgpack_probe.js"), stack.sidecar.url],
                                 capture_output=True, text=True, timeout=60, env=env)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.split("\n")[:3], ["bad_msgpack", "pong", "close 1003"])


if __name__ == "__main__":
    unittest.main()
