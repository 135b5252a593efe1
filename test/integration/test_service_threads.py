#!/usr/bin/env python3
"""livesyncd with several service threads (--service-threads, net/server_group.hpp) behaves
as with one: connections are handed to the threads in turn, so eight clients spread over
four threads; every client receives every change once and in commit order; /metrics,
presence (/v1/clients/{id}) and the admin API (list, kick) see every thread's sessions; a
client id that says hello again on another thread closes its older session there (4409);
a kick by client id reaches the thread holding it. Run with 4 threads and with 1 (the
same assertions): a shared structure that only works on one thread fails here."""
import json
import os
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ADMIN_TOKEN = "admin-token-for-the-service-threads-test"
CLIENTS = 8
TXNS = 20
ROWS_PER_TXN = 5


def admin(sidecar, method, path, body=None):
    req = urllib.request.Request(sidecar.http + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()



def connect(stack, client_id, protocol="livesync.v1.json"):
    ws = harness.RawWebSocket(stack.sidecar.port, protocol=protocol, timeout=30)
    assert ws.status == 101, ws.status
    ws.send({"type": "hello", "client_id": client_id, "subscriptions": [{"id": "s1", "table": "public.items"}]})
    frames = [ws.frame(), ws.frame()]
    types = sorted(f["type"] for f in frames)
    assert types == ["subscribed", "welcome"], frames
    return ws


def next_of(ws, kind):
    """The next frame of that type (pings and other frames in between are skipped)."""
    while True:
        f = ws.frame()
        if f["type"] == kind or f["type"] == "close":
            return f


class ServiceThreads(unittest.TestCase):
    def check(self, threads):
        args = ["--allow-anonymous", "--admin-token", ADMIN_TOKEN, "--service-threads", str(threads)]
        with harness.Stack(sidecar_args=args) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")

            # Both encodings, on every thread (eight connections, handed out in turn).
            clients = {f"c{i}": connect(stack, f"c{i}", "livesync.v1.msgpack" if i % 3 == 2 else "livesync.v1.json")
                       for i in range(CLIENTS)}
            harness.wait_until(lambda: stack.sidecar.metric("livesync_sessions_open") == CLIENTS, 10,
                               f"{CLIENTS} sessions open in /metrics")
            status, listing = admin(stack.sidecar, "GET", "/v1/admin/sessions")
            self.assertEqual(status, 200, listing)
            self.assertEqual(sorted(s["client_id"] for s in listing["sessions"]), sorted(clients))
            for cid in clients:
                self.assertEqual(stack.sidecar.get(f"/v1/clients/{cid}")[0], 200, cid)
            self.assertEqual(stack.sidecar.get("/v1/clients/nobody")[0], 410)

            for t in range(TXNS):
                first = t * ROWS_PER_TXN + 1
                pg.psql(f"INSERT INTO items SELECT g, 'row ' || g FROM generate_series({first}, "
                        f"{first + ROWS_PER_TXN - 1}) g")
            expected = list(range(1, TXNS * ROWS_PER_TXN + 1))
            for cid, ws in clients.items():
                seen = []
                while len(seen) < len(expected):
                    f = next_of(ws, "changes")
                    self.assertNotEqual(f["type"], "close", f"{cid}: closed {f}")
                    seen += [c["new"]["id"] for c in f["changes"]]
                self.assertEqual(seen, expected, f"{cid}: every change once, in commit order")

            # c1 again, from a new connection; the older session is closed wherever it is.
            old = clients["c1"]
            between = connect(stack, "c1")
            self.assertEqual(next_of(old, "close")["code"], 4409)
            # Two connections in a row are on two threads: this one replaces `between` on
            # another thread for sure.
            clients["c1"] = connect(stack, "c1")
            self.assertEqual(next_of(between, "close")["code"], 4409)
            between.close()
            # A kick by client id, wherever c3 is.
            status, kicked = admin(stack.sidecar, "POST", "/v1/admin/kick", {"client_id": "c3"})
            self.assertEqual(status, 200, kicked)
            self.assertEqual(kicked["kicked_here"], 1)
            self.assertEqual(next_of(clients.pop("c3"), "close")["code"], 4410)
            harness.wait_until(lambda: stack.sidecar.metric("livesync_sessions_open") == CLIENTS - 1, 10,
                               "the replaced and the kicked sessions closed")
            self.assertEqual(stack.sidecar.get("/v1/clients/c3")[0], 410)
            self.assertEqual(stack.sidecar.get("/v1/clients/c1")[0], 200)

            # Still one stream for all, after the moves.
            pg.psql("INSERT INTO items VALUES (1000, 'last')")
            for cid, ws in clients.items():
                f = next_of(ws, "changes")
                self.assertEqual([c["new"]["id"] for c in f["changes"]], [1000], cid)
            for ws in list(clients.values()) + [old]:
                ws.close()

    def test_four_threads(self):
        self.check(4)

    def test_one_thread(self):
        self.check(1)


if __name__ == "__main__":
    unittest.main()
