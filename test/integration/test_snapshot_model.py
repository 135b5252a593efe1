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
holds when it sends them).

Bursts: a few times during the writes, eight more clients (bare WebSockets) subscribe with a
snapshot at once, inside livesyncd's gathering window, so that they share queries: some
with identical requests, the others each differing from those in one thing (tenant, role,
subscription filter, subscription columns, encoding). Each is checked like the others
against its own view (its filter and columns too), so a shared query whose rows reach an
audience they are not for (or miss one) fails. Every other burst is late: its first
client's query is held on that client (it reads nothing) once its first rows went out,
and only then do the other seven subscribe, so that those of the same table and tenant
join the running query late (at least one must): fed the rows already sent from the
query's log, then following it, then the transactions its snapshot did not see. (A late
joiner started at its own subscribe position would lose those committed between the
snapshot and its subscribe; only a few fall in its view in those milliseconds, and one
run with that fault still passed here: the unit test
LateRequestJoinsTheRunningQueryAndGetsTheRowsAlreadySent is the one that fails on it.)
9,000 more rows that no writer touches (ids below -100) carry a 1.2 KB `pad` column every
view shows, so that a query outlasts what sockets and the send queue absorb.
The seed is printed; LIVESYNC_MODEL_SEED repeats a run."""
import fcntl
import json
import os
import random
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SECRET = "model-test-secret-of-at-least-32-bytes!"
PRELOAD = 3000
# Rows of ~1.3 KB no writer touches, 3,000 per tenant: a late burst's query outlasts what
# its first client's socket and send queue absorb (and the stream stays narrow).
WIDE_ROWS = 9000
WRITERS = 4
TXNS_PER_WRITER = 3000
CLIENTS = 16
TENANTS = ("o1", "o2", "o3")
BURSTS = 4  # every other one late
BURST_CLIENTS = 8

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
ALL = ("id", "org", "n", "note", "pad")
RULES = {
    "member": ("true", (None, ["id", "org", "n", "pad"]), lambda row: True),
    "viewer": ("n >= 100", (["id", "org", "n", "pad"], ["id", "org", "n", "note", "pad"]), lambda row: row["n"] >= 100),
}
# One marker row per tenant, n = 1000 + the config version (visible to every role).
MARKERS = {"o1": -11, "o2": -12, "o3": -13}
# Subscription filters of burst clients: (the filter tree, the same in Python). Every one
# keeps the marker rows (n >= 1000) and the end rows (n = 100).
SUB_FILTERS = {
    "none": (None, lambda row: True),
    "n<120": ({"or": [{"cmp": "<", "type": "int", "args": [{"col": "n"}, {"value": 120}]},
                      {"cmp": ">=", "type": "int", "args": [{"col": "n"}, {"value": 1000}]}]},
              lambda row: row["n"] < 120 or row["n"] >= 1000),
    "n>=80": ({"cmp": ">=", "type": "int", "args": [{"col": "n"}, {"value": 80}]}, lambda row: row["n"] >= 80),
}
# Subscription columns of burst clients (None: every column the role may see); a
# subscription may name only columns its role sees, and both roles always see these.
SUB_COLUMNS = {"all": None, "id,n": ["id", "n"], "id,org,n": ["id", "org", "n"]}


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
    UPDATE items SET n = 1000 + v WHERE id BETWEEN -13 AND -11;
    COMMIT;
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
"""


class ModelClient:
    """livesync-cli --snapshot, its lines applied to a copy (id -> row) as they come.
    sub_filter / sub_columns: the subscription's own (names in SUB_FILTERS / SUB_COLUMNS;
    only BurstClient sends them)."""

    def __init__(self, stack, index, role, tenant, encoding, sub_filter="none", sub_columns="all"):
        self.index, self.role, self.tenant, self.encoding = index, role, tenant, encoding
        self.sub_filter, self.sub_columns = sub_filter, sub_columns
        self.copy, self.errors, self.stderr = {}, [], []
        self.snapshot = {}  # the rows of its snapshot, as they came
        self.ended = False
        if stack is not None:
            self.start_cli(stack)

    def describe(self):
        return (f"client {self.index} ({self.role}, {self.tenant}, {self.encoding}, filter {self.sub_filter}, "
                f"columns {self.sub_columns})")

    def token(self):
        return harness.mint_token({"sub": f"user{self.index}", "role": self.role, "tenant": self.tenant,
                                   "exp": int(time.time()) + 3600}, SECRET)

    def columns(self, version):
        """The columns this client's rows carry under config version `version`."""
        cols = columns_at(self.role, version)
        sub = SUB_COLUMNS[self.sub_columns]
        return cols if sub is None else cols & set(sub)

    def start_cli(self, stack):
        token = self.token()
        argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "public.items",
                "--snapshot", "--token", token, "--timeout", "300"]
        if self.encoding == "msgpack":
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
        rule_ok, sub_ok = RULES[self.role][2], SUB_FILTERS[self.sub_filter][1]
        want = {row["id"]: row for row in rows if row["org"] == self.tenant and rule_ok(row) and sub_ok(row)}
        for rid in sorted(set(want) ^ set(self.copy)):
            problems.append(f"row {rid}: {'missing' if rid in want else 'extra'} ({want.get(rid) or self.copy[rid]})")
        for rid in sorted(set(want) & set(self.copy)):
            got = self.copy[rid]
            if set(got) not in (self.columns(0), self.columns(1)):
                problems.append(f"row {rid}: columns {sorted(got)} of no config version")
            elif any(got[c] != want[rid][c] for c in got):
                problems.append(f"row {rid}: {got} != {want[rid]}")
        marker = self.snapshot.get(MARKERS[self.tenant])
        if marker is None:
            problems.append("no marker row in the snapshot")
        else:
            version = marker["n"] - 1000
            cols = self.columns(version)
            wrong = [rid for rid, row in self.snapshot.items() if set(row) != cols]
            if wrong:
                problems.append(f"snapshot of config version {version} (columns {sorted(cols)}): "
                                f"{len(wrong)} of {len(self.snapshot)} rows with other columns, e.g. "
                                f"{self.snapshot[wrong[0]]}")
        return problems

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def done(self):
        return self.proc.poll() is not None


class BurstClient(ModelClient):
    """A bare WebSocket session (harness.RawWebSocket) that can send a subscription filter
    and columns; its frames become the lines livesync-cli would print, applied the same way.
    connect() says hello; subscribe() is sent by the burst, all at once."""

    def __init__(self, stack, index, role, tenant, encoding, sub_filter, sub_columns):
        super().__init__(None, index, role, tenant, encoding, sub_filter, sub_columns)
        self.ws = harness.RawWebSocket(stack.sidecar.port, timeout=300,
                                       protocol="livesync.v1.msgpack" if encoding == "msgpack" else "livesync.v1.json")
        self.ws.send({"type": "hello", "client_id": f"burst{index}", "token": self.token()})
        welcome = self.ws.frame()
        if welcome.get("type") != "welcome":
            raise AssertionError(f"{self.describe()}: {welcome}")
        self.closed = False

    def subscribe(self):
        sub = {"type": "subscribe", "id": "s1", "table": "public.items", "snapshot": True}
        if SUB_FILTERS[self.sub_filter][0] is not None:
            sub["filter"] = SUB_FILTERS[self.sub_filter][0]
        if SUB_COLUMNS[self.sub_columns] is not None:
            sub["columns"] = SUB_COLUMNS[self.sub_columns]
        self.ws.send(sub)

    def start(self):
        threading.Thread(target=self._frames, daemon=True).start()

    def _frames(self):
        try:
            while True:
                f = self.ws.frame()
                t = f["type"]
                if t == "snapshot_rows":
                    for row in f["rows"]:
                        self.apply({"op": "snapshot", "new": row})
                elif t == "snapshot_end":
                    self.apply({"op": "snapshot_end"})
                elif t == "changes":
                    for c in f["changes"]:
                        self.apply(dict(c, lsn=f["lsn"]))
                elif t == "resync_required":
                    self.apply({"op": "reset"})
                elif t in ("error", "unsubscribed", "close"):
                    self.errors.append(f"{t}: {f}")
                    return
        except Exception as e:  # noqa: BLE001
            if not self.closed:
                self.errors.append(f"reader: {e!r}")
        finally:
            self.closed = True

    def stop(self):
        self.closed = True
        self.ws.close()

    def done(self):
        return self.closed


def burst(stack, first_index, rng, late=False):
    """BURST_CLIENTS clients that subscribe together: half of them with one request, the
    others each differing from it in one thing. Returns them, reading. late: the first
    (role member, every column, no filter: the widest view) subscribes alone and reads
    nothing until its query's first rows reached it; then the others subscribe."""
    base = {"role": rng.choice(list(RULES)), "tenant": rng.choice(TENANTS), "encoding": rng.choice(["json", "msgpack"]),
            "sub_filter": rng.choice(list(SUB_FILTERS)), "sub_columns": rng.choice(list(SUB_COLUMNS))}
    choices = {"role": list(RULES), "tenant": list(TENANTS), "encoding": ["json", "msgpack"],
               "sub_filter": list(SUB_FILTERS), "sub_columns": list(SUB_COLUMNS)}
    specs = [dict(base) for _ in range(BURST_CLIENTS // 2)]
    dims = list(choices)
    rng.shuffle(dims)
    for i in range(BURST_CLIENTS - len(specs)):
        dim = dims[i % len(dims)]
        spec = dict(base)
        spec[dim] = rng.choice([v for v in choices[dim] if v != base[dim]])
        specs.append(spec)
    if late:
        for spec in specs[:BURST_CLIENTS // 2]:
            spec.update(role="member", sub_filter="none", sub_columns="all")
    clients = [BurstClient(stack, first_index + i, **spec) for i, spec in enumerate(specs)]
    if late:
        leader = clients[0]
        leader.subscribe()

        def waiting_bytes():
            return struct.unpack("i", fcntl.ioctl(leader.ws.sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        # More than subscribed (and snapshot_waiting) frames: rows went out to it.
        harness.wait_until(lambda: waiting_bytes() > 1024, 120, "the late burst's first rows")
    for c in clients[1:] if late else clients:  # back to back: within the gathering window
        c.subscribe()
    for c in clients:
        c.start()
    return clients


class SnapshotModel(unittest.TestCase):
    def test_every_copy_equals_select_under_concurrent_writes(self):
        seed = int(os.environ.get("LIVESYNC_MODEL_SEED", time.time()))
        print(f"seed {seed}", flush=True)
        rng = random.Random(seed)
        # --snapshot-yield-ms 1: snapshot traffic slows down whenever live transactions
        # queue a little (the pacer, on the same path as the default 5 ms, more often).
        with harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET, "--snapshot-yield-ms", "1"],
                           snapshot_role="livesync_reader") as stack:
            pg = stack.pg
            pg.psql("CREATE ROLE livesync_reader LOGIN")
            pg.psql("CREATE TABLE items (id serial PRIMARY KEY, org text NOT NULL, n int NOT NULL, note text, pad text)")
            pg.psql("ALTER TABLE items REPLICA IDENTITY FULL")
            pg.psql(f"INSERT INTO items (org, n, note) SELECT (ARRAY['o1','o2','o3'])[1 + g % 3], g % 200, md5(g::text) "
                    f"FROM generate_series(1, {PRELOAD}) g")
            pg.psql(f"INSERT INTO items (id, org, n, note, pad) SELECT -100 - g, (ARRAY['o1','o2','o3'])[1 + g % 3], "
                    f"g % 200, md5(g::text), repeat(md5(g::text), 38) FROM generate_series(1, {WIDE_ROWS}) g")
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
            burst_marks = set(rng.sample(range(CLIENTS), BURSTS))
            clients = []
            bursts = 0
            for i, mark in enumerate(marks):
                harness.wait_until(lambda: int(pg.psql("SELECT last_value FROM items_id_seq")) >= mark or
                                   not any(w.is_alive() for w in writers), 120, f"the writes to pass id {mark}")
                clients.append(ModelClient(stack, i, rng.choice(list(RULES)), rng.choice(TENANTS),
                                           ["json", "msgpack"][i % 2]))
                if i in burst_marks:
                    clients += burst(stack, 1000 + len(clients), rng, late=bursts % 2 == 1)
                    bursts += 1
            for w in writers:
                w.join(600)
            elapsed = time.monotonic() - started
            pg.psql("INSERT INTO model_stop VALUES (true)")
            granter.join(60)
            versions = int(pg.psql("SELECT n - 1000 FROM items WHERE id = -11"))
            print(f"grants: {versions} config versions", flush=True)
            self.assertTrue(all(not w.is_alive() for w in writers))
            print(f"writers: {WRITERS * TXNS_PER_WRITER} transactions in {elapsed:.1f}s "
                  f"({WRITERS * TXNS_PER_WRITER / elapsed:.0f}/s); {len(clients)} clients "
                  f"({BURSTS} bursts of {BURST_CLIENTS})", flush=True)
            # A last commit per tenant every client of it sees (n = 100, even: visible to all views).
            pg.psql("INSERT INTO items (id, org, n, note) VALUES (-1, 'o1', 100, 'end'), (-2, 'o2', 100, 'end'), "
                    "(-3, 'o3', 100, 'end')")
            marker = {"o1": -1, "o2": -2, "o3": -3}
            for c in clients:
                harness.wait_until(lambda: marker[c.tenant] in c.copy or c.errors or c.done(),
                                   120, f"{c.describe()}'s last commit")
            rows = json.loads(pg.psql("SELECT json_agg(json_build_object('id', id, 'org', org, 'n', n, 'note', note, "
                                      "'pad', pad)) "
                                      "FROM items"))
            with open(stack.sidecar.log_path) as f:
                shared = [json.loads(l)["subscribers"] for l in f if '"snapshot sent"' in l]
            print(f"snapshot queries: {len(shared)}, subscribers per query {sorted(shared)}", flush=True)
            failures = []
            for c in clients:
                c.stop()
                problems = c.errors + c.check(rows)
                if problems:
                    failures.append(f"{c.describe()}: {problems[:3]} ({len(problems)} problems) "
                                    + "".join(c.stderr[-5:]))
            self.assertEqual(failures, [])
            # The bursts shared queries (else this test proves nothing about sharing), and
            # late requests joined running ones.
            self.assertGreater(max(shared), 1)
            late_joins = stack.sidecar.metric("livesync_snapshot_late_joins_total")
            print(f"late joins: {late_joins:g}; snapshot yields "
                  f"{stack.sidecar.metric('livesync_snapshot_yields_total'):g}, pace waits "
                  f"{stack.sidecar.metric('livesync_snapshot_pace_waits_total'):g}", flush=True)
            self.assertGreater(late_joins, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
