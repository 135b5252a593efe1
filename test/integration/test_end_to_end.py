#!/usr/bin/env python3
"""Walking skeleton, whole path: rows committed in a real Postgres (livesync preloaded)
reach two real WebSocket clients -- livesync-cli and Node's `ws` -- through the real
replicator, Redis and livesyncd, each change exactly once and in commit order; the
registry follows the clients; bad frames get errors without killing the session."""
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class Client:
    """A client process printing one JSON line per change; waits for its subscribe ack."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.stderr = []
        self.subscribed = threading.Event()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line.startswith("subscribed"):
                self.subscribed.set()

    def wait_subscribed(self, timeout=20):
        if not self.subscribed.wait(timeout):
            self.proc.kill()
            raise AssertionError(f"client never subscribed: {''.join(self.stderr)}")

    def finish(self, timeout=60):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return self.proc.returncode, [json.loads(line) for line in out.splitlines() if line.strip()]


def cli_client(stack, client_id, count):
    return Client([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "public.items",
                   "--client-id", client_id, "--count", str(count), "--timeout", "60"])


def node_client(stack, client_id, count, *flags):
    env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
    return Client(["node", os.path.join(HERE, "ws_client.js"), stack.sidecar.url, "public.items", client_id,
                   str(count), *flags], env=env)


def txn_groups(changes):
    """[(lsn, [(op, id), ...]), ...] in arrival order."""
    groups = []
    for c in changes:
        key = (c["op"], (c.get("new") or c.get("old"))["id"])
        if groups and groups[-1][0] == c["lsn"]:
            groups[-1][1].append(key)
        else:
            groups.append((c["lsn"], [key]))
    return groups


def lsn_value(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


class EndToEnd(unittest.TestCase):
    def test_every_change_reaches_both_clients_once_in_commit_order(self):
        # Clients here carry no token: livesyncd serves them as role "anonymous", which
        # sees items through its rule (default deny without one).
        with harness.Stack(sidecar_args=["--allow-anonymous"]) as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            expected_count = 1000 + 100 + 50
            cli = cli_client(stack, "cli-1", expected_count)
            node = node_client(stack, "node-1", expected_count, "--probe-errors")
            cli.wait_subscribed()
            node.wait_subscribed()

            # Registered while connected, and held by this sidecar.
            for cid in ("cli-1", "node-1"):
                entry = redis.cli("HGET", harness.key(f"client:{cid}"), "sidecar")
                self.assertNotIn(entry, ("", "(nil)"), f"{cid} is not in the registry")
                self.assertEqual(stack.sidecar.get(f"/v1/clients/{cid}")[0], 200)

            for k in range(10):
                pg.psql(f"INSERT INTO items SELECT g, 0, 'row ' || g FROM generate_series({k * 100 + 1}, {k * 100 + 100}) g")
            pg.psql("UPDATE items SET n = n + 1 WHERE id % 10 = 0")
            pg.psql("DELETE FROM items WHERE id > 950")

            results = {}
            for name, client in (("livesync-cli", cli), ("node ws", node)):
                rc, changes = client.finish()
                results[name] = changes
                self.assertEqual(rc, 0, f"{name} exited {rc}: {''.join(client.stderr)}")
                self.check_changes(name, changes)
            self.assertEqual([(c["lsn"], c["op"], c.get("new", c.get("old"))["id"]) for c in results["livesync-cli"]],
                             [(c["lsn"], c["op"], c.get("new", c.get("old"))["id"]) for c in results["node ws"]],
                             "the two clients saw different streams")

            # Gone from the registry once disconnected, and answered 410 Gone.
            for cid in ("cli-1", "node-1"):
                harness.wait_until(lambda: redis.cli("EXISTS", harness.key(f"client:{cid}")) == "(integer) 0", 10,
                                   f"{cid} to leave the registry")
                self.assertEqual(stack.sidecar.get(f"/v1/clients/{cid}")[0], 410)

    def check_changes(self, name, changes):
        self.assertEqual(len(changes), 1150, f"{name}: wrong number of changes")
        groups = txn_groups(changes)
        self.assertEqual(len(groups), 12, f"{name}: changes of a transaction were split or merged")
        lsns = [lsn_value(lsn) for lsn, _ in groups]
        self.assertEqual(lsns, sorted(set(lsns)), f"{name}: transactions out of commit order or repeated")
        for k in range(10):
            self.assertEqual(groups[k][1], [("insert", i) for i in range(k * 100 + 1, k * 100 + 101)],
                             f"{name}: insert transaction {k} wrong")
        self.assertEqual(sorted(groups[10][1]), [("update", i) for i in range(10, 1001, 10)], f"{name}: updates")
        self.assertEqual(sorted(groups[11][1]), [("delete", i) for i in range(951, 1001)], f"{name}: deletes")
        inserted = {c["new"]["id"]: c["new"] for c in changes if c["op"] == "insert"}
        self.assertEqual(inserted[7], {"id": 7, "n": 0, "label": "row 7"})
        updated = {c["new"]["id"]: c["new"] for c in changes if c["op"] == "update"}
        self.assertEqual(updated[500], {"id": 500, "n": 1, "label": "row 500"})
        for c in changes:
            self.assertEqual((c["schema"], c["table"], c["sub"]), ("public", "items", ["s1"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
