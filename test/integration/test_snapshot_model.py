#!/usr/bin/env python3
"""Snapshot, then live, against an independent model: four writers commit inserts, updates,
tenant moves and deletes (about 2,000 transactions/s on a quiet machine; the rate is
printed) while a fifth changes the grants every ~20 ms (the column lists of both roles
flip between two versions) and clients with different roles (rule filters and columns),
tenants and encodings subscribe with a snapshot at random moments (livesync-cli
--snapshot, json or --msgpack). Each client's lines are applied to its own copy as they
come, checking every step (no row twice, no update or delete of a row it lacks, nothing
before snapshot_end); at the end each copy must equal SELECT of exactly what that client
may see (tenant, role rule; each row with the columns of one of the two versions, their
values current).

The grant changes are checked exactly: every grant change also sets n = 1000 + version
on one marker row per tenant in the same transaction, so the marker row in a client's
snapshot names the config version that snapshot saw, and every snapshot row must carry
exactly that version's columns (it fails when rows are judged by the rules the sidecar
holds when it sends them). The seed is printed; LIVESYNC_MODEL_SEED repeats a run."""
import json
import os
import random
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SECRET = "model-test-secret-of-at-least-32-bytes!"
PRELOAD = 3000
WRITERS = 4
TXNS_PER_WRITER = 3000
CLIENTS = 16
TENANTS = ("o1", "o2", "o3")

WRITER_SQL = """
DO $$
DECLARE k int; r float; hi int; orgs text[] := ARRAY['o1','o2','o3'];
BEGIN
  FOR i IN 1..%(n)d LOOP
    SELECT last_value INTO hi FROM items_id_seq;
    k := 1 + floor(random() * hi)::int;
    r := random();
    IF r < 0.3 THEN
      INSERT INTO items (org, n, note) VALUES (orgs[1 + floor(random() * 3)::int], floor(random() * 200)::int, md5(i::text));
    ELSIF r < 0.65 THEN
      UPDATE items SET n = floor(random() * 200)::int, note = md5(note) WHERE id BETWEEN k AND k + 1;
    ELSIF r < 0.85 THEN
      UPDATE items SET org = orgs[1 + floor(random() * 3)::int] WHERE id = k;   -- a tenant move
    ELSE
      DELETE FROM items WHERE id = k;
    END IF;
    COMMIT;
  END LOOP;
END $$;
"""

# role -> (rule filter SQL, rule columns at even / odd config versions (None: all), and
# the same filter in Python). The filters never change, the columns flip.
ALL = ("id", "org", "n", "note")
RULES = {
    "member": ("true", (None, ["id", "org", "n"]), lambda row: True),
    "viewer": ("n >= 100", (["id", "org", "n"], ["id", "org", "n", "note"]), lambda row: row["n"] >= 100),
}
# One marker row per tenant, n = 1000 + the config version (visible to every role).
MARKERS = {"o1": -11, "o2": -12, "o3": -13}


def grant_sql(version):
    calls = []
    for role, (rule, versions, _) in RULES.items():
        cols = versions[version % 2]
        arr = "NULL" if cols is None else "ARRAY[" + ",".join(f"'{c}'" for c in cols) + "]"
        calls.append(f"PERFORM livesync.grant('{role}', 'items', '{rule}', {arr});")
    return " ".join(calls)


def columns_at(role, version):
    cols = RULES[role][1][version % 2]
    return set(ALL if cols is None else cols)


# Flips the grants' columns every ~20 ms until model_stop has a row; each flip sets the
# markers' n to 1000 + its version in the same transaction.
GRANTER_SQL = """
DO $$
DECLARE v int := 0;
BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM model_stop) LOOP
    v := v + 1;
    IF v %% 2 = 1 THEN %(odd)s
    ELSE %(even)s
    END IF;
    UPDATE items SET n = 1000 + v WHERE id < -10;
    COMMIT;
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
"""


class ModelClient:
    """livesync-cli --snapshot, its lines applied to a copy (id -> row) as they come."""

    def __init__(self, stack, index, role, tenant, encoding):
        self.index, self.role, self.tenant, self.encoding = index, role, tenant, encoding
        self.copy, self.errors, self.stderr = {}, [], []
        self.snapshot = {}  # the rows of its snapshot, as they came
        self.ended = False
        token = harness.mint_token({"sub": f"user{index}", "role": role, "tenant": tenant,
                                    "exp": int(time.time()) + 3600}, SECRET)
        argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "public.items",
                "--snapshot", "--token", token, "--timeout", "300"]
        if encoding == "msgpack":
            argv.append("--msgpack")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._stdout, daemon=True).start()
        threading.Thread(target=self._stderr, daemon=True).start()

    def _stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _stdout(self):
        for line in self.proc.stdout:
            if line.strip():
                self.apply(json.loads(line))

    def apply(self, c):
        op = c["op"]
        if op == "snapshot_end":
            self.ended = True
            return
        if op == "snapshot":
            if self.ended:
                self.errors.append("snapshot row after snapshot_end")
            rid = c["new"]["id"]
            if rid in self.copy:
                self.errors.append(f"snapshot row {rid} twice")
            self.copy[rid] = c["new"]
            self.snapshot[rid] = c["new"]
            return
        if not self.ended:
            self.errors.append(f"{op} before snapshot_end")
        if op == "insert":
            rid = c["new"]["id"]
            if rid in self.copy:
                self.errors.append(f"insert of row {rid} it holds (sent twice) at {c['lsn']}")
            self.copy[rid] = c["new"]
        elif op == "update":
            rid = c["old"]["id"]
            if rid not in self.copy:
                self.errors.append(f"update of row {rid} it lacks (lost) at {c['lsn']}")
            self.copy[c["new"]["id"]] = c["new"]
        elif op == "delete":
            rid = c["old"]["id"]
            if rid not in self.copy:
                self.errors.append(f"delete of row {rid} it lacks (lost) at {c['lsn']}")
            self.copy.pop(rid, None)
        elif op == "reset":
            self.errors.append("reset (resync_required)")

    def check(self, rows):
        """Differences between its copy and SELECT of what it may see: the same rows, each
        with the columns of one config version and their current values; and its snapshot
        rows with exactly the columns of the version its snapshot saw."""
        problems = []
        rule_ok = RULES[self.role][2]
        want = {row["id"]: row for row in rows if row["org"] == self.tenant and rule_ok(row)}
        for rid in sorted(set(want) ^ set(self.copy)):
            problems.append(f"row {rid}: {'missing' if rid in want else 'extra'} ({want.get(rid) or self.copy[rid]})")
        for rid in sorted(set(want) & set(self.copy)):
            got = self.copy[rid]
            if set(got) not in (columns_at(self.role, 0), columns_at(self.role, 1)):
                problems.append(f"row {rid}: columns {sorted(got)} of no config version")
            elif any(got[c] != want[rid][c] for c in got):
                problems.append(f"row {rid}: {got} != {want[rid]}")
        marker = self.snapshot.get(MARKERS[self.tenant])
        if marker is None:
            problems.append("no marker row in the snapshot")
        else:
            version = marker["n"] - 1000
            cols = columns_at(self.role, version)
            wrong = [rid for rid, row in self.snapshot.items() if set(row) != cols]
            if wrong:
                problems.append(f"snapshot of config version {version} (columns {sorted(cols)}): "
                                f"{len(wrong)} of {len(self.snapshot)} rows with other columns, e.g. "
                                f"{self.snapshot[wrong[0]]}")
        return problems

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class SnapshotModel(unittest.TestCase):
    def test_every_copy_equals_select_under_concurrent_writes(self):
        seed = int(os.environ.get("LIVESYNC_MODEL_SEED", time.time()))
        print(f"seed {seed}", flush=True)
        rng = random.Random(seed)
        with harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET], snapshot_role="livesync_reader") as stack:
            pg = stack.pg
            pg.psql("CREATE ROLE livesync_reader LOGIN")
            pg.psql("CREATE TABLE items (id serial PRIMARY KEY, org text NOT NULL, n int NOT NULL, note text)")
            pg.psql("ALTER TABLE items REPLICA IDENTITY FULL")
            pg.psql(f"INSERT INTO items (org, n, note) SELECT (ARRAY['o1','o2','o3'])[1 + g % 3], g % 200, md5(g::text) "
                    f"FROM generate_series(1, {PRELOAD}) g")
            pg.psql("INSERT INTO items (id, org, n, note) VALUES (-11, 'o1', 1000, 'marker'), "
                    "(-12, 'o2', 1000, 'marker'), (-13, 'o3', 1000, 'marker')")
            pg.psql("CREATE TABLE model_stop (stop boolean)")
            pg.psql("SELECT livesync.publish('items', tenant_column => 'org')")
            pg.psql(f"DO $$ BEGIN {grant_sql(0)} END $$")
            pg.psql("GRANT USAGE ON SCHEMA livesync TO livesync_reader")
            pg.psql("GRANT EXECUTE ON FUNCTION livesync.sync_config() TO livesync_reader")
            pg.psql("GRANT SELECT ON items TO livesync_reader")
            stack.wait_replicator()
            token = harness.mint_token({"sub": "probe", "role": "member", "tenant": "o1", "exp": int(time.time()) + 3600}, SECRET)
            harness.wait_until(lambda: subprocess.run(
                [os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "items",
                 "--token", token, "--timeout", "0.2"], capture_output=True, text=True).stderr.count("subscribed") > 0,
                30, "items published to livesyncd")

            writers = [threading.Thread(target=pg.psql, args=(WRITER_SQL % {"n": TXNS_PER_WRITER},))
                       for _ in range(WRITERS)]
            granter = threading.Thread(target=pg.psql, args=(GRANTER_SQL % {"odd": grant_sql(1), "even": grant_sql(2)},))
            started = time.monotonic()
            for w in writers:
                w.start()
            granter.start()
            # Subscribes at random points of the writes (by the id sequence, a state, not a time).
            marks = sorted(rng.randrange(PRELOAD, PRELOAD + WRITERS * TXNS_PER_WRITER // 4) for _ in range(CLIENTS))
            clients = []
            for i, mark in enumerate(marks):
                harness.wait_until(lambda: int(pg.psql("SELECT last_value FROM items_id_seq")) >= mark or
                                   not any(w.is_alive() for w in writers), 120, f"the writes to pass id {mark}")
                clients.append(ModelClient(stack, i, rng.choice(list(RULES)), rng.choice(TENANTS),
                                           ["json", "msgpack"][i % 2]))
            for w in writers:
                w.join(600)
            elapsed = time.monotonic() - started
            pg.psql("INSERT INTO model_stop VALUES (true)")
            granter.join(60)
            versions = int(pg.psql("SELECT n - 1000 FROM items WHERE id = -11"))
            print(f"grants: {versions} config versions", flush=True)
            self.assertTrue(all(not w.is_alive() for w in writers))
            print(f"writers: {WRITERS * TXNS_PER_WRITER} transactions in {elapsed:.1f}s "
                  f"({WRITERS * TXNS_PER_WRITER / elapsed:.0f}/s); {CLIENTS} clients", flush=True)
            # A last commit per tenant every client of it sees (n = 100, even: visible to all views).
            pg.psql("INSERT INTO items (id, org, n, note) VALUES (-1, 'o1', 100, 'end'), (-2, 'o2', 100, 'end'), "
                    "(-3, 'o3', 100, 'end')")
            marker = {"o1": -1, "o2": -2, "o3": -3}
            for c in clients:
                harness.wait_until(lambda: marker[c.tenant] in c.copy or c.errors or c.proc.poll() is not None,
                                   120, f"client {c.index}'s last commit")
            rows = json.loads(pg.psql("SELECT json_agg(json_build_object('id', id, 'org', org, 'n', n, 'note', note)) "
                                      "FROM items"))
            for c in clients:
                c.stop()
                desc = f"client {c.index} ({c.role}, {c.tenant}, {c.encoding})"
                self.assertEqual(c.errors, [], desc + "".join(c.stderr[-5:]))
                self.assertEqual(c.check(rows), [], desc)


if __name__ == "__main__":
    unittest.main(verbosity=2)
