#!/usr/bin/env python3
"""Snapshot, then live (guarantee 7), with real Postgres, Redis and livesyncd: clients
subscribe with "snapshot": true at different moments while three writers commit inserts,
updates (rows moving in and out of a client's filter) and deletes; each client applies
its snapshot rows, then its changes, and must end with exactly SELECT of what it may see
-- and along the way never receive a row twice, an update or delete of a row it lacks, or
a change before its snapshot_end. Then bad input: unknown / forbidden tables are refused
like a subscribe, a role Postgres refuses and a Postgres that is down give a clear error
for that subscription only; the session goes on."""
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PRELOAD = 5000
WRITERS = 3
TXNS_PER_WRITER = 1500
OWNER_A = {"cmp": "=", "type": "text", "args": [{"col": "owner"}, {"value": "a"}]}

WRITER_SQL = """
DO $$
DECLARE k int; r float; hi int;
BEGIN
  FOR i IN 1..%(n)d LOOP
    SELECT last_value INTO hi FROM items_id_seq;
    k := 1 + floor(random() * hi)::int;
    r := random();
    IF r < 0.35 THEN
      INSERT INTO items (owner, n, body) VALUES (CASE WHEN random() < 0.5 THEN 'a' ELSE 'b' END, i, md5(i::text));
    ELSIF r < 0.75 THEN
      UPDATE items SET n = n + 1, owner = CASE WHEN random() < 0.5 THEN 'a' ELSE 'b' END WHERE id BETWEEN k AND k + 2;
    ELSIF r < 0.9 THEN
      DELETE FROM items WHERE id = k;
    ELSE
      UPDATE items SET body = md5(body) WHERE id = k;
      INSERT INTO items (owner, n, body) VALUES ('a', -i, 'pair');
    END IF;
    COMMIT;
  END LOOP;
END $$;
"""


class SnapshotClient(threading.Thread):
    """Subscribes with a snapshot and keeps its copy: id -> row, checking every step."""

    def __init__(self, port, sub):
        super().__init__(daemon=True)
        self.ws = harness.RawWebSocket(port)
        assert self.ws.hello(f"snap-{sub['id']}")["type"] == "welcome"
        self.sub = dict(sub, type="subscribe", snapshot=True)
        self.copy = {}
        self.errors = []
        self.frames = []
        self.ended = threading.Event()
        self.stop = threading.Event()
        self.ws.send(self.sub)

    def run(self):
        sid = self.sub["id"]
        try:
            while not self.stop.is_set():
                f = self.ws.frame()
                t = f["type"]
                self.frames.append(t)
                if t == "close":
                    self.errors.append(f"closed {f['code']}")
                    return
                if t == "error":
                    self.errors.append(f"error {f}")
                elif t == "snapshot_rows":
                    if self.ended.is_set():
                        self.errors.append("snapshot_rows after snapshot_end")
                    for row in f["rows"]:
                        if row["id"] in self.copy:
                            self.errors.append(f"snapshot row {row['id']} twice")
                        self.copy[row["id"]] = row
                elif t == "snapshot_end":
                    self.ended.set()
                elif t == "changes":
                    for c in f["changes"]:
                        if sid not in c["sub"]:
                            continue
                        if not self.ended.is_set():
                            self.errors.append("change before snapshot_end")
                        self.apply(c)
        except Exception as e:  # noqa: BLE001 (a closed socket at the end is expected)
            if not self.stop.is_set():
                self.errors.append(f"reader: {e!r}")

    def apply(self, c):
        op = c["op"]
        if op == "insert":
            rid = c["new"]["id"]
            if rid in self.copy:
                self.errors.append(f"insert of row {rid} the copy already holds (sent twice)")
            self.copy[rid] = c["new"]
        elif op == "update":
            rid = c["old"]["id"] if "old" in c else c["new"]["id"]
            if rid not in self.copy:
                self.errors.append(f"update of row {rid} the copy lacks (lost)")
                return
            row = dict(self.copy.pop(rid))
            row.update(c["new"])
            self.copy[c["new"]["id"]] = row
        elif op == "delete":
            rid = c["old"]["id"]
            if rid not in self.copy:
                self.errors.append(f"delete of row {rid} the copy lacks (lost)")
            self.copy.pop(rid, None)
        elif op == "truncate":
            self.copy.clear()

    def close(self):
        self.stop.set()
        self.ws.close()


def select(pg, columns, where="true"):
    fields = ", ".join(f"'{c}', {c}" for c in columns)
    out = pg.psql(f"SELECT json_agg(json_build_object({fields}) ORDER BY id) FROM items WHERE {where}")
    return {r["id"]: r for r in json.loads(out or "[]")}


class SnapshotThenLive(unittest.TestCase):
    def test_copy_equals_select_with_concurrent_writers(self):
        with harness.Stack(snapshot_role="livesync_reader") as stack:
            pg = stack.pg
            pg.psql("CREATE ROLE livesync_reader LOGIN")
            pg.psql("CREATE TABLE items (id serial PRIMARY KEY, owner text NOT NULL, n int, body text)")
            # A filter on a mutable column sees a row leave it only through the old row.
            pg.psql("ALTER TABLE items REPLICA IDENTITY FULL")
            pg.psql("CREATE TABLE hidden (id int PRIMARY KEY)")
            pg.psql("CREATE TABLE empty (id int PRIMARY KEY)")
            pg.psql(f"INSERT INTO items (owner, n, body) SELECT CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, g, "
                    f"md5(g::text) FROM generate_series(1, {PRELOAD}) g")
            pg.psql("SELECT livesync.publish('items'), livesync.publish('hidden'), livesync.publish('empty')")
            pg.psql("SELECT livesync.grant('anonymous', 'items'), livesync.grant('anonymous', 'empty')")
            pg.psql("GRANT USAGE ON SCHEMA livesync TO livesync_reader")
            pg.psql("GRANT EXECUTE ON FUNCTION livesync.sync_config() TO livesync_reader")
            pg.psql("GRANT SELECT ON items, hidden, empty TO livesync_reader")
            stack.wait_replicator()
            stack.wait_published("public.items")

            writers = [threading.Thread(target=pg.psql, args=(WRITER_SQL % {"n": TXNS_PER_WRITER},))
                       for _ in range(WRITERS)]
            for w in writers:
                w.start()
            clients = []
            # Subscribes spread over the writes: each waits for the previous one's
            # snapshot_end; whole rows, and a filtered, column-cut view.
            for i in range(6):
                sub = {"id": f"s{i}", "table": "items"}
                if i % 2:
                    sub.update(filter=OWNER_A, columns=["id", "owner", "n"])
                c = SnapshotClient(stack.sidecar.port, sub)
                c.start()
                clients.append(c)
                harness.wait_until(lambda: c.ended.is_set() or c.errors, 60, f"snapshot_end of {sub['id']}")
            for w in writers:
                w.join(300)
            self.assertTrue(all(not w.is_alive() for w in writers))
            # A last commit every client sees: once it arrived, it has everything before it.
            pg.psql("INSERT INTO items (id, owner, n, body) VALUES (0, 'a', 0, 'end')")
            for c in clients:
                harness.wait_until(lambda: 0 in c.copy or c.errors, 60, f"the last commit at {c.sub['id']}")
            full = select(pg, ["id", "owner", "n", "body"])
            only_a = select(pg, ["id", "owner", "n"], "owner = 'a'")
            self.assertGreater(len(full), PRELOAD // 2)
            for c in clients:
                c.close()
                self.assertEqual(c.errors, [], c.sub)
                self.assertEqual(c.copy, only_a if "filter" in c.sub else full, c.sub["id"])
                self.assertIn("snapshot_rows", c.frames)

            # Bad input: each refused for that subscription only.
            ws = harness.RawWebSocket(stack.sidecar.port)
            self.assertEqual(ws.hello("bad-input")["type"], "welcome")

            def answer(sub):
                ws.send(dict(sub, type="subscribe", snapshot=True))
                return ws.frame()

            # An empty table: subscribed, no rows, snapshot_end.
            self.assertEqual(answer({"id": "e1", "table": "empty"})["type"], "subscribed")
            self.assertEqual(ws.frame()["type"], "snapshot_end")
            self.assertEqual(answer({"id": "u1", "table": "nope"})["code"], "unknown_table")
            self.assertEqual(answer({"id": "f1", "table": "hidden"})["code"], "forbidden")
            ws.send({"type": "subscribe", "id": "b1", "table": "items", "snapshot": "yes"})
            self.assertEqual(ws.frame()["code"], "bad_request")
            # The role loses SELECT: a clear, retryable error; the session goes on.
            pg.psql("REVOKE SELECT ON items FROM livesync_reader")
            self.assertEqual(answer({"id": "r1", "table": "items"})["type"], "subscribed")
            err = ws.frame()
            self.assertEqual((err["type"], err["code"], err["id"]), ("error", "snapshot_failed", "r1"), err)
            self.assertIn("permission denied", err["message"])
            pg.psql("GRANT SELECT ON items TO livesync_reader")
            self.assertEqual(answer({"id": "r1", "table": "items"})["type"], "subscribed")
            frames = []
            while not frames or frames[-1]["type"] != "snapshot_end":
                frames.append(ws.frame())
            self.assertEqual(sum(len(f["rows"]) for f in frames if f["type"] == "snapshot_rows"), len(full))
            # Postgres down: the same error, and the session still answers.
            pg.stop("fast")
            self.assertEqual(answer({"id": "d1", "table": "items"})["type"], "subscribed")
            err = ws.frame()
            self.assertEqual((err["code"], err["id"]), ("snapshot_failed", "d1"), err)
            self.assertIn("cannot connect", err["message"])
            ws.send({"type": "ping", "ref": 7})
            self.assertEqual(ws.frame(), {"type": "pong", "ref": 7})
            ws.close()


if __name__ == "__main__":
    unittest.main()
