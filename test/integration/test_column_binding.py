#!/usr/bin/env python3
"""Issue 10, repro 2: the sync config is bound to columns, not to their names
(sql/livesync--0.2--0.3.sql). A published column renamed keeps being sent under its new
name; a never-published column renamed to a published name is not sent; a dropped and
re-added column is not published by itself; a grant filter follows its column's rename;
a grant whose filter column is dropped, and a publication whose tenant column is
dropped, are disabled with a WARNING and their subscriptions end with unsubscribed
reason schema_changed."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Client:
    def __init__(self, stack, table):
        self.ws = harness.RawWebSocket(stack.sidecar.port)
        assert self.ws.status == 101
        self.ws.send({"type": "hello", "subscriptions": [{"id": "s1", "table": table}]})
        self.frames = [self.ws.frame(), self.ws.frame()]
        assert self.frames[1]["type"] == "subscribed", self.frames

    def row(self, row_id):
        """The next change of row row_id (frames of other rows are kept, skipped)."""
        for _ in range(200):
            f = self.ws.frame()
            self.frames.append(f)
            if f["type"] == "changes":
                for c in f["changes"]:
                    if (c.get("new") or c.get("old") or {}).get("id") == row_id:
                        return c["new"]
        raise AssertionError(self.frames)

    def next_of(self, kind):
        for _ in range(200):
            f = self.ws.frame()
            self.frames.append(f)
            if f["type"] == kind:
                return f
        raise AssertionError(self.frames)


class ColumnBinding(unittest.TestCase):
    def test_renames_follow_drops_leave_and_broken_rules_deny(self):
        with harness.Stack() as stack:
            pg = stack.pg
            stack.wait_replicator()
            pg.psql("CREATE TABLE t (id int PRIMARY KEY, a text, b text, secret text, owner int)")
            pg.psql("ALTER TABLE t REPLICA IDENTITY FULL")
            pg.psql("SELECT livesync.publish('t', columns => ARRAY['id', 'a', 'b', 'owner'])")
            pg.psql("SELECT livesync.grant('anonymous', 't', 'owner = 1')")
            stack.wait_published("t")
            c = Client(stack, "t")
            pg.psql("INSERT INTO t VALUES (1, 'a1', 'b1', 'S1', 1)")
            self.assertEqual(c.row(1), {"id": 1, "a": "a1", "b": "b1", "owner": 1})

            # The published column keeps being published under its new name...
            pg.psql("ALTER TABLE t RENAME a TO a2")
            pg.psql("INSERT INTO t VALUES (2, 'a2', 'b2', 'S2', 1)")
            self.assertEqual(c.row(2), {"id": 2, "a2": "a2", "b": "b2", "owner": 1})
            # ...and a never-published column renamed to its old name is not.
            pg.psql("ALTER TABLE t RENAME secret TO a")
            pg.psql("INSERT INTO t VALUES (3, 'a3', 'b3', 'S3', 1)")
            self.assertEqual(c.row(3), {"id": 3, "a2": "a3", "b": "b3", "owner": 1})
            # A dropped column leaves the list; the same name added again is a new column.
            pg.psql("ALTER TABLE t DROP COLUMN b")
            pg.psql("ALTER TABLE t ADD COLUMN b text")
            pg.psql("INSERT INTO t VALUES (4, 'a4', 'S4', 1, 'new b')")
            self.assertEqual(c.row(4), {"id": 4, "a2": "a4", "owner": 1})
            self.assertEqual(pg.psql("SELECT columns FROM livesync.tables"), "{a2,id,owner}")
            # The grant filter follows its column: owner 1's rows still pass, others not.
            pg.psql("ALTER TABLE t RENAME owner TO owner_id")
            pg.psql("INSERT INTO t VALUES (5, 'a5', 'S5', 2, NULL)")
            pg.psql("INSERT INTO t VALUES (6, 'a6', 'S6', 1, NULL)")
            self.assertEqual(c.row(6), {"id": 6, "a2": "a6", "owner_id": 1})
            self.assertNotIn(5, [(ch.get("new") or {}).get("id") for f in c.frames if f["type"] == "changes"
                                 for ch in f["changes"]])
            # The never-published column's values (S1...) reached no frame.
            for f in c.frames:
                for ch in f.get("changes", []) if f["type"] == "changes" else []:
                    self.assertFalse([v for v in (ch.get("new") or {}).values() if str(v).startswith("S")], f)

            # The filter's column changes type: the grant is disabled (deny), with a WARNING,
            # and the subscription ends with schema_changed.
            out = pg.psql("ALTER TABLE t ALTER COLUMN owner_id TYPE bigint", check=False)
            self.assertIn("the grant of public.t to role anonymous is disabled", out.stderr)
            f = c.next_of("unsubscribed")
            self.assertEqual(f["reason"], "schema_changed", f)
            self.assertIsNotNone(pg.psql("SELECT disabled FROM livesync.rules"))

    def test_a_dropped_tenant_column_disables_the_publication(self):
        with harness.Stack() as stack:
            pg = stack.pg
            stack.wait_replicator()
            pg.psql("CREATE TABLE d (id int PRIMARY KEY, org text)")
            pg.psql("ALTER TABLE d REPLICA IDENTITY FULL")
            pg.psql("SELECT livesync.publish('d', tenant_column => 'org')")
            pg.psql("SELECT livesync.grant('anonymous', 'd')")
            stack.wait_published("d")
            c = Client(stack, "d")
            # A rename of the tenant column is followed (no stale config, no silent denial).
            pg.psql("ALTER TABLE d RENAME org TO tenant")
            self.assertEqual(pg.psql("SELECT tenant_column FROM livesync.tables"), "tenant")
            out = pg.psql("ALTER TABLE d DROP COLUMN tenant", check=False)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("the publication of public.d is disabled", out.stderr)
            f = c.next_of("unsubscribed")
            self.assertEqual(f["reason"], "schema_changed", f)
            # Published again (without a tenant column), it streams again.
            pg.psql("SELECT livesync.publish('d')")
            stack.wait_published("d")


if __name__ == "__main__":
    unittest.main()
