#!/usr/bin/env python3
"""Issue 10, repro 3: DROP EXTENSION livesync makes every sidecar deny everything from its
LSN on, and empties the Redis copies, in the same step: the dropped tables' rows leave
with a config change (extension/config_drop.cpp) that travels the stream like a TRUNCATE
of livesync.tables and livesync.rules. A subscribed member is told unsubscribed
(unknown_table) at once; CREATE EXTENSION again starts from empty rules and streams
without a Postgres restart; after a restart of Postgres and of livesyncd, the member,
whose grant was not given again, still receives nothing while the re-granted admin
does."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_rules_at_commit import Session, marker, subscribable, token, SECRET  # noqa: E402


def subscribe_answer(stack, tok):
    ws = harness.RawWebSocket(stack.sidecar.port, headers=[("Authorization", f"Bearer {tok}")])
    try:
        ws.send({"type": "hello", "subscriptions": [{"id": "s1", "table": "docs"}]})
        ws.frame()  # welcome
        f = ws.frame()
        return f["type"] if f["type"] != "error" else f["code"]
    finally:
        ws.close()


class DropExtension(unittest.TestCase):
    def test_drop_denies_at_once_and_create_starts_empty(self):
        with harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET]) as stack:
            pg, redis = stack.pg, stack.redis
            stack.wait_replicator()
            pg.psql("CREATE TABLE docs (id int PRIMARY KEY, tenant text NOT NULL, owner_id int, title text)")
            pg.psql("ALTER TABLE docs REPLICA IDENTITY FULL")
            pg.psql("SELECT livesync.publish('docs', tenant_column => 'tenant')")
            pg.psql("SELECT livesync.grant('member', 'docs')")
            member, admin = token(1, "member", "t1"), token(9, "admin", "t1")
            harness.wait_until(lambda: subscribable(stack, member), 30, "docs subscribable")
            live = Session(stack, "member-1", member)
            pg.psql("INSERT INTO docs VALUES (1, 't1', 1, 'before the drop')")
            live.until(lambda f: marker(f, 1), "row 1 live")

            pg.psql("DROP EXTENSION livesync")
            dropped_at = pg.psql("SELECT pg_current_wal_lsn()")
            f = live.until(lambda f: f["type"] == "unsubscribed", "the drop ends the subscription")
            self.assertEqual(f["reason"], "unknown_table", f)
            self.assertEqual(redis.cli("HLEN", harness.key("tables")), "(integer) 0")
            self.assertEqual(redis.cli("HLEN", harness.key("rules")), "(integer) 0")
            newest = redis.raw("XREVRANGE", harness.key("config"), "+", "-", "COUNT", "1").decode()
            self.assertNotIn("t:public.docs", newest)
            # Rows written with no extension reach nobody.
            pg.psql("INSERT INTO docs VALUES (2, 't1', 1, 'no extension')")

            pg.psql("CREATE EXTENSION livesync")
            self.assertEqual(pg.psql("SELECT count(*) FROM livesync.rules"), "0")
            self.assertEqual(subscribe_answer(stack, member), "unknown_table")
            pg.psql("SELECT livesync.publish('docs', tenant_column => 'tenant')")
            pg.psql("SELECT livesync.grant('admin', 'docs')")
            harness.wait_until(lambda: subscribable(stack, admin), 30, "docs subscribable again, without a restart")
            self.assertEqual(subscribe_answer(stack, member), "forbidden")
            watcher = Session(stack, "admin-1", admin)
            pg.psql("INSERT INTO docs VALUES (3, 't1', 1, 'after the create')")
            watcher.until(lambda f: marker(f, 3), "row 3 streamed without a Postgres restart")

            # The scenario of the report: restart Postgres (and livesyncd); SQL says the
            # member is denied, and so does the stream. Postgres cannot decode changes of
            # a user catalog table that no longer exists, so decoding must not restart
            # from before the drop: the replicator makes the slot's restart_lsn pass it at
            # its next confirmation (docs/operations.md).
            harness.wait_until(lambda: pg.psql(f"SELECT restart_lsn > '{dropped_at}' FROM pg_replication_slots "
                                               "WHERE slot_name = 'livesync'") == "t", 30,
                               "the slot's restart_lsn past the drop")
            watcher.close()
            live.close()
            pg.pg_ctl("restart", "-w", "-m", "fast", "-l", os.path.join(pg.dir, "log"))
            stack.wait_replicator()
            stack.sidecar.stop()
            stack.sidecar.start()
            harness.wait_until(lambda: subscribable(stack, admin), 30, "docs subscribable after the restarts")
            self.assertEqual(subscribe_answer(stack, member), "forbidden")
            watcher = Session(stack, "admin-2", admin)
            pg.psql("INSERT INTO docs VALUES (4, 't1', 1, 'after the restart')")
            watcher.until(lambda f: marker(f, 4), "row 4 after the restart")
            rules = redis.raw("HKEYS", harness.key("rules")).decode().split()
            self.assertEqual(rules, ["admin|public.docs"], rules)
            watcher.close()

    def test_a_rolled_back_drop_changes_nothing(self):
        with harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET]) as stack:
            pg = stack.pg
            stack.wait_replicator()
            pg.psql("CREATE TABLE docs (id int PRIMARY KEY, tenant text NOT NULL, owner_id int, title text)")
            pg.psql("ALTER TABLE docs REPLICA IDENTITY FULL")
            pg.psql("SELECT livesync.publish('docs', tenant_column => 'tenant')")
            pg.psql("SELECT livesync.grant('member', 'docs')")
            member = token(1, "member", "t1")
            harness.wait_until(lambda: subscribable(stack, member), 30, "docs subscribable")
            live = Session(stack, "member-1", member)
            pg.psql("BEGIN; DROP EXTENSION livesync; ROLLBACK;")
            pg.psql("INSERT INTO docs VALUES (1, 't1', 1, 'still granted')")
            live.until(lambda f: marker(f, 1), "row 1 after the rolled-back drop")
            self.assertFalse([f for f in live.frames if f["type"] == "unsubscribed"], live.frames)
            live.close()


if __name__ == "__main__":
    unittest.main()
