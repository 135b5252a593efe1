#!/usr/bin/env python3
"""Guarantee 4 end to end: two tenants, three roles (admin: every row of its tenant;
member: its own rows, owner_id = livesync.claim('sub')::int; viewer: every row of its
tenant but only id, tenant and title), two clients per role and tenant, HS256 tokens
minted here. A randomized writer commits a few thousand inserts, updates (titles,
owner changes, tenant moves) and deletes, and now and then adds a column (ALTER TABLE);
each client must receive exactly what its view allows -- computed independently here
from the written rows and columns: rows of its tenant (and, for a member, its own), the
columns of its role, and each schema change with only those columns -- and never a row
of another tenant or a hidden column. Also: bad tokens close 4401, refresh works, an
expired token closes the session."""
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "integration-test-secret-0123456789abcdef"
SENTINEL = 900000
ALL_COLUMNS = ("id", "tenant", "owner_id", "title", "secret")
VIEWER_COLUMNS = ("id", "tenant", "title")


def mint(claims, secret=SECRET, alg="HS256"):
    return harness.mint_token(claims, secret, alg)


def claims_of(sub, role, tenant, ttl=3600):
    return {"sub": str(sub), "role": role, "tenant": tenant, "exp": int(time.time()) + ttl}


class NodeClient:
    def __init__(self, stack, **options):
        options.setdefault("url", stack.sidecar.url)
        env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "secure_client.js"), json.dumps(options)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.stderr = []
        self.subscribed = threading.Event()
        self.closed = threading.Event()
        self.lines = []
        self.readers = [threading.Thread(target=self._read_stderr, daemon=True),
                        threading.Thread(target=self._read_stdout, daemon=True)]
        for r in self.readers:
            r.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.strip())
            if line.startswith("subscribed"):
                self.subscribed.set()
            if line.startswith("closed") or line.startswith("timeout"):
                self.closed.set()

    def _read_stdout(self):
        for line in self.proc.stdout:
            if line.strip():
                self.lines.append(json.loads(line))

    def close_code(self, timeout=20):
        if not self.closed.wait(timeout):
            self.proc.kill()
            raise AssertionError(f"client never closed: {self.stderr}")
        closed = [l for l in self.stderr if l.startswith("closed")]
        return int(closed[-1].split()[1]) if closed else None

    def finish(self, timeout=120):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for r in self.readers:  # every line the client printed, to the end of its pipes
            r.join(timeout)
        return self.lines


def received_changes(lines):
    return [("schema", c["columns"]) if c["op"] == "schema" else (c["op"], c["old"] if c["op"] == "delete" else c["new"])
            for c in lines]


def visible(row, client):
    if row["tenant"] != client["tenant"]:
        return False
    return client["role"] != "member" or row["owner_id"] == client["sub"]


def cut(row, client):
    # A row holds every column the table had when it was written (added ones as None).
    cols = VIEWER_COLUMNS if client["role"] == "viewer" else row
    return {k: row[k] for k in cols}


def expected_changes(ops, client):
    out = []
    for op, old, new in ops:
        if op == "schema":  # new: [(column, type)] after the ALTER; no row, so no tenant/owner test
            out.append(("schema", [{"name": n, "type": t} for n, t in new
                                   if client["role"] != "viewer" or n in VIEWER_COLUMNS]))
        elif op == "insert":
            if visible(new, client):
                out.append(("insert", cut(new, client)))
        elif op == "delete":
            if visible(old, client):
                out.append(("delete", cut(old, client)))
        else:
            before, after = visible(old, client), visible(new, client)
            if before and after:
                out.append(("update", cut(new, client)))
            elif before:
                out.append(("delete", cut(old, client)))
            elif after:
                out.append(("insert", cut(new, client)))
    return out




class Security(unittest.TestCase):
    def stack(self):
        return harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET, "--jwt-leeway", "0"])

    def setup_docs(self, pg):
        pg.psql("CREATE TABLE docs (id int PRIMARY KEY, tenant text NOT NULL, owner_id int, title text, secret text)")
        pg.psql("ALTER TABLE docs REPLICA IDENTITY FULL")
        pg.psql("SELECT livesync.publish('docs', tenant_column => 'tenant')")
        pg.psql("SELECT livesync.grant('admin', 'docs')")
        pg.psql("SELECT livesync.grant('member', 'docs', $$owner_id = livesync.claim('sub')::int$$)")
        pg.psql("SELECT livesync.grant('viewer', 'docs', 'true', ARRAY['id', 'tenant', 'title'])")

    def test_every_client_sees_exactly_its_view_and_nothing_else(self):
        rng = random.Random(int(os.environ.get("LIVESYNC_TEST_SEED", "6")))
        with self.stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            self.setup_docs(pg)
            clients = []
            for tenant in ("a", "b"):
                for role, subs in (("admin", (100, 101)), ("member", (1, 2)), ("viewer", (3, 4))):
                    for i, sub in enumerate(subs):
                        via = ("header", "query", "hello")[(len(clients)) % 3]
                        spec = {"tenant": tenant, "role": role, "sub": sub, "via": via}
                        spec["node"] = NodeClient(stack, token=mint(claims_of(sub, role, tenant)), via=via,
                                                  table="docs", until_id=SENTINEL, retry_ms=30000,
                                                  timeout_ms=180000)
                        clients.append(spec)
            for c in clients:
                if not c["node"].subscribed.wait(40):
                    self.fail(f"{c['role']}/{c['tenant']} never subscribed: {c['node'].stderr}")

            # The writer: one statement per transaction; the model mirrors every row and column.
            rows, ops, sql, next_id = {}, [], [], 1
            columns = [("id", "integer"), ("tenant", "text"), ("owner_id", "integer"), ("title", "text"),
                       ("secret", "text")]
            for _ in range(3000):
                kind = rng.random()
                if kind > 0.997:
                    name = f"extra_{len(columns)}"
                    columns.append((name, "integer"))
                    for row in rows.values():
                        row[name] = None
                    ops.append(("schema", None, list(columns)))
                    sql.append(f"ALTER TABLE docs ADD COLUMN {name} int;")
                    continue
                if kind < 0.4 or len(rows) < 20:
                    row = {"id": next_id, "tenant": rng.choice("ab"), "owner_id": rng.choice((1, 2, 3)),
                           "title": f"t{next_id}", "secret": f"s{next_id}"}
                    row.update({name: None for name, _ in columns[5:]})
                    next_id += 1
                    rows[row["id"]] = row
                    ops.append(("insert", None, dict(row)))
                    sql.append(f"INSERT INTO docs VALUES ({row['id']}, '{row['tenant']}', {row['owner_id']}, "
                               f"'{row['title']}', '{row['secret']}');")
                    continue
                rid = rng.choice(sorted(rows))
                old = dict(rows[rid])
                new = dict(old)
                if kind < 0.6:
                    new["title"] = f"t{rid}-{rng.randrange(1000)}"
                    sql.append(f"UPDATE docs SET title = '{new['title']}' WHERE id = {rid};")
                elif kind < 0.75:
                    new["owner_id"] = rng.choice((1, 2, 3))
                    sql.append(f"UPDATE docs SET owner_id = {new['owner_id']} WHERE id = {rid};")
                elif kind < 0.85:
                    new["tenant"] = "b" if old["tenant"] == "a" else "a"
                    sql.append(f"UPDATE docs SET tenant = '{new['tenant']}' WHERE id = {rid};")
                else:
                    del rows[rid]
                    ops.append(("delete", old, None))
                    sql.append(f"DELETE FROM docs WHERE id = {rid};")
                    continue
                rows[rid] = new
                ops.append(("update", old, dict(new)))  # a copy: added columns change rows later
            # Sentinels, one transaction: every client sees at least one and stops there.
            sentinel_sql = []
            for k, (tenant, owner) in enumerate((t, o) for t in "ab" for o in (1, 2)):
                row = {"id": SENTINEL + k, "tenant": tenant, "owner_id": owner, "title": "end", "secret": "end"}
                row.update({name: None for name, _ in columns[5:]})
                ops.append(("insert", None, row))
                sentinel_sql.append(f"INSERT INTO docs VALUES ({row['id']}, '{tenant}', {owner}, 'end', 'end');")
            sql.append("BEGIN;\n" + "\n".join(sentinel_sql) + "\nCOMMIT;")
            with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
                f.write("\n".join(sql) + "\n")
                script = f.name
            try:
                subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                                "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-f", script],
                               check=True, stdout=subprocess.DEVNULL)
            finally:
                os.unlink(script)

            for c in clients:
                lines = c["node"].finish()
                name = f"{c['role']}(sub {c['sub']}, tenant {c['tenant']}, via {c['via']})"
                for change in lines:
                    if change["op"] == "schema":
                        if c["role"] == "viewer":
                            self.assertLessEqual({col["name"] for col in change["columns"]}, set(VIEWER_COLUMNS),
                                                 f"{name}: hidden column named in a schema change")
                        continue
                    row = change.get("new") or change.get("old")
                    self.assertEqual(row["tenant"], c["tenant"], f"{name}: a row of another tenant leaked")
                    if c["role"] == "viewer":
                        self.assertEqual(set(row), set(VIEWER_COLUMNS), f"{name}: hidden column leaked")
                        self.assertNotIn("old", change) if change["op"] == "insert" else None
                    if c["role"] == "member":
                        self.assertEqual(row["owner_id"], c["sub"], f"{name}: another user's row leaked")
                got = received_changes(lines)
                want = expected_changes(ops, c)
                self.assertGreater(len(want), 50, f"{name}: the workload gave this client too little to check")
                self.assertGreater(sum(1 for w in want if w[0] == "schema"), 2, f"{name}: too few schema changes")
                self.assertEqual(got, want, f"{name}: received changes differ from its view")

    def test_bad_tokens_close_4401_refresh_works_and_expiry_closes(self):
        with self.stack() as stack:
            stack.wait_replicator()
            self.setup_docs(stack.pg)
            now = int(time.time())
            good = claims_of(1, "member", "a")
            bad = {
                "expired": mint(dict(good, exp=now - 5)),
                "wrong key": mint(good, secret="another-secret-another-secret-0000"),
                "alg none": mint(good, alg="none"),
                "garbage": "not.a.token",
            }
            for name, token in bad.items():
                for via in ("header", "query", "hello"):
                    client = NodeClient(stack, token=token, via=via)
                    self.assertEqual(client.close_code(), 4401, f"{name} via {via}: {client.stderr}")
            no_token = NodeClient(stack)
            self.assertEqual(no_token.close_code(), 4401, f"no token: {no_token.stderr}")
            audit = stack.redis.cli("XLEN", harness.key("audit"))
            self.assertGreaterEqual(int(audit.split()[-1]), 13, "auth failures are not in the audit stream")

            # Refresh with the same sub is accepted; with another sub, tenant or role closes 4403. (A fresh
            # clock: the probes above take seconds on a loaded machine.)
            now = int(time.time())
            short = mint(dict(good, exp=now + 3))
            refreshed = NodeClient(stack, token=short, via="header", table="docs", retry_ms=30000,
                                   refresh_token=mint(dict(good, exp=now + 3600)), timeout_ms=8000)
            harness.wait_until(lambda: any(l.startswith("authenticated") for l in refreshed.stderr), 20,
                               "the refresh to be acknowledged")
            time.sleep(5)  # past the first token's exp: the refreshed session must live on
            self.assertFalse(any(l.startswith("closed") for l in refreshed.stderr), refreshed.stderr)
            other = NodeClient(stack, token=mint(good), via="header",
                               refresh_token=mint(claims_of(2, "member", "a")))
            self.assertEqual(other.close_code(), 4403, other.stderr)
            # The same sub in another tenant or with another role is not a refresh either.
            for changed in (claims_of(1, "member", "b"), claims_of(1, "viewer", "a")):
                moved = NodeClient(stack, token=mint(good), via="header", refresh_token=mint(changed))
                self.assertEqual(moved.close_code(), 4403, moved.stderr)
                self.assertTrue(any("same sub, tenant and role" in l for l in moved.stderr), moved.stderr)

            # Without a refresh the session is closed once its token expires.
            expiring = NodeClient(stack, token=mint(dict(good, exp=int(time.time()) + 2)), via="query")
            self.assertEqual(expiring.close_code(timeout=15), 4401, expiring.stderr)
            self.assertTrue(any("token_expired" in l for l in expiring.stderr), expiring.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
