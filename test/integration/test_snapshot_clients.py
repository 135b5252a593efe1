#!/usr/bin/env python3
"""Re-sync without the application: on resync_required, livesync-cli --snapshot and the
JS client's live collection (LiveSync.table, in Node, both encodings) reset the
subscription and load a fresh snapshot by themselves. The table holds a TOASTed value
(stored out of line), so an update that leaves it unchanged must be merged from the
snapshot row; the collection must end equal to SELECT."""
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import js_package  # noqa: E402

ROWS = 200
# A position no stream holds any more: the resume is answered resync_required.
ANCIENT = "0/1"


class LineClient:
    """A process printing JSON lines on stdout, read as they come."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines, self.stderr = [], []
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines, True), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True)]
        for r in self.readers:
            r.start()

    @staticmethod
    def _read(stream, into, parse):
        for line in stream:
            if line.strip():
                into.append(json.loads(line) if parse else line)

    def finish(self, timeout=60):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # Every line the process printed, not only those read before it exited.
        for r in self.readers:
            r.join(timeout)
        return self.proc.returncode


def setup(stack):
    pg = stack.pg
    pg.psql("CREATE ROLE livesync_reader LOGIN")
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, n int, body text)")
    pg.psql("ALTER TABLE items ALTER COLUMN body SET STORAGE EXTERNAL")  # out of line, uncompressed
    pg.psql(f"INSERT INTO items SELECT g, g, 'row ' || g FROM generate_series(1, {ROWS}) g")
    pg.psql("UPDATE items SET body = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g) WHERE id = 7")
    pg.psql("SELECT livesync.publish('items')")
    pg.psql("SELECT livesync.grant('anonymous', 'items')")
    pg.psql("GRANT USAGE ON SCHEMA livesync TO livesync_reader")
    pg.psql("GRANT EXECUTE ON FUNCTION livesync.sync_config() TO livesync_reader")
    pg.psql("GRANT SELECT ON items TO livesync_reader")
    stack.wait_replicator()
    stack.wait_published("public.items")


def select(pg):
    return json.loads(pg.psql("SELECT json_agg(json_build_object('id', id, 'n', n, 'body', body) ORDER BY id) "
                              "FROM items"))


class ResyncWithSnapshot(unittest.TestCase):
    def test_cli_resets_and_reloads_on_resync_required(self):
        with harness.Stack(snapshot_role="livesync_reader") as stack:
            setup(stack)
            for extra in ([], ["--msgpack"]):
                cli = LineClient([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                  "--table", "public.items", "--snapshot", "--last-lsn", ANCIENT,
                                  "--count", str(1 + ROWS + 2), "--timeout", "60", *extra])
                # The reloaded copy's snapshot_end (stdout): stderr also shows the end of the
                # hello's first snapshot, which the CLI drops once resync_required came.
                harness.wait_until(lambda: any(l.get("op") == "snapshot_end" for l in cli.lines) or
                                   cli.proc.poll() is not None, 60, "snapshot_end")
                stack.pg.psql("UPDATE items SET n = -1 WHERE id = 7")
                self.assertEqual(cli.finish(), 0, "".join(cli.stderr))
                self.assertTrue(any(l.startswith("resync_required") for l in cli.stderr), cli.stderr)
                self.assertEqual(cli.lines[0], {"op": "reset", "sub": ["s1"]})
                rows = [l["new"] for l in cli.lines[1:-2]]
                self.assertTrue(all(l["op"] == "snapshot" for l in cli.lines[1:-2]), extra)
                self.assertEqual(cli.lines[-2]["op"], "snapshot_end",
                                 f"{extra}: last lines {[l.get('op') for l in cli.lines[-4:]]}, {len(cli.lines)} lines; "
                                 f"stderr {cli.stderr[-8:]}")
                expected = select(stack.pg)
                expected[6]["n"] = 7  # the snapshot is from before the update
                self.assertEqual(sorted(rows, key=lambda r: r["id"]), expected, extra)
                last = cli.lines[-1]
                self.assertEqual((last["op"], last["new"]["id"], last["new"]["n"]), ("update", 7, -1))
                self.assertEqual(last.get("unchanged"), ["body"])
                stack.pg.psql("UPDATE items SET n = 7 WHERE id = 7")

    def test_js_live_collection_reloads_by_itself_and_equals_select(self):
        with harness.Stack(snapshot_role="livesync_reader") as stack:
            setup(stack)
            probe = js_package.copy_into_app("js_table_probe.mjs")[0]
            env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
            clients = [LineClient(["node", probe, stack.sidecar.url, "items", encoding, ANCIENT], env=env)
                       for encoding in ("json", "msgpack")]
            for c in clients:
                harness.wait_until(lambda: any(l.get("event") == "ready" for l in c.lines) or
                                   c.proc.poll() is not None, 60, "the collection's snapshot")
            pg = stack.pg
            pg.psql("UPDATE items SET n = n + 100 WHERE id = 7")     # body unchanged (TOAST): merged
            pg.psql("DELETE FROM items WHERE id = 3")
            pg.psql("INSERT INTO items VALUES (500, 500, 'new')")
            pg.psql("UPDATE items SET body = 'short now' WHERE id = 8")
            pg.psql("INSERT INTO items VALUES (0, 0, 'end')")
            expected = select(pg)
            for c, encoding in zip(clients, ("json", "msgpack")):
                self.assertEqual(c.finish(), 0, "".join(c.stderr))
                self.assertTrue(any(l.startswith("resync_required") for l in c.stderr), c.stderr)
                events = [l.get("event") for l in c.lines if "event" in l]
                # Its first snapshot (asked for in the resuming hello: the collection was
                # empty) ends before the resume finds the gap; then reset and a fresh one.
                self.assertIn("reset", events, encoding)
                after = events[events.index("reset") + 1:]
                self.assertEqual(after, ["change"] * ROWS + ["ready"] + ["change"] * 5, encoding)
                self.assertEqual(c.lines[-1]["final"], expected, encoding)


if __name__ == "__main__":
    unittest.main(verbosity=2)
