#!/usr/bin/env python3
"""The sync configuration in Redis follows SQL: <prefix>tables and <prefix>rules change
with publish / grant / revoke / unpublish (in the same MULTI/EXEC as the stream entry
that carries the change), and a Redis that lost them is seeded again from SQL."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def hash_json(redis, key):
    raw = redis.raw("HGETALL", key).decode().splitlines()
    return {raw[i]: json.loads(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}


class ConfigHashes(unittest.TestCase):
    def test_hashes_follow_sql_and_are_reseeded_after_loss(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            pg.psql("CREATE TABLE docs (tenant text, id int, owner_id int, title text, secret text, "
                    "PRIMARY KEY (tenant, id))")
            pg.psql("ALTER TABLE docs REPLICA IDENTITY FULL")
            pg.psql("SELECT livesync.publish('docs', columns => ARRAY['tenant','id','owner_id','title'], "
                    "tenant_column => 'tenant')")
            pg.psql("SELECT livesync.grant('member', 'docs', $$owner_id = livesync.claim('sub')::int$$, "
                    "ARRAY['id','title'])")
            pg.psql("SELECT livesync.grant('admin', 'docs')")
            expected_tables = {"public.docs": {"schema": "public", "table": "docs", "tenant_column": "tenant",
                                               "columns": ["id", "owner_id", "tenant", "title"]}}
            expected_rules = {
                "member|public.docs": {"role": "member", "schema": "public", "table": "docs", "columns": ["id", "title"],
                                       "filter": {"cmp": "=", "type": "int",
                                                  "args": [{"col": "owner_id"}, {"claim": "sub"}]}},
                "admin|public.docs": {"role": "admin", "schema": "public", "table": "docs", "columns": None,
                                      "filter": {"const": True}},
            }
            harness.wait_until(lambda: hash_json(redis, harness.key("rules")) == expected_rules, 10, "rules in Redis")
            self.assertEqual(hash_json(redis, harness.key("tables")), expected_tables)

            pg.psql("SELECT livesync.revoke('member', 'docs')")
            del expected_rules["member|public.docs"]
            harness.wait_until(lambda: hash_json(redis, harness.key("rules")) == expected_rules, 10, "revoke in Redis")

            # Redis loses its data; a restarted replicator seeds both hashes from SQL.
            redis.cli("DEL", harness.key("tables"), harness.key("rules"))
            pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'livesync replicator'")
            harness.wait_until(lambda: hash_json(redis, harness.key("rules")) == expected_rules, 30, "rules reseeded")
            self.assertEqual(hash_json(redis, harness.key("tables")), expected_tables)

            pg.psql("SELECT livesync.unpublish('docs')")
            harness.wait_until(lambda: hash_json(redis, harness.key("tables")) == {}, 10, "unpublish in Redis")
            # Its rules went with it.
            self.assertEqual(hash_json(redis, harness.key("rules")), {})


if __name__ == "__main__":
    unittest.main(verbosity=2)
