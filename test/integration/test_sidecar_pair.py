#!/usr/bin/env python3
"""Two livesyncd processes on one Redis stream: each serves its own clients, answers
410 Gone (and "gone" in the batched presence check) for the other's, and both deliver
every committed change to their own subscribers, once each and in commit order."""
import json
import os
import subprocess
import sys
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROWS = 500  # in 10 transactions of 50


def start_cli(sidecar, client_id):
    proc = subprocess.Popen([os.path.join(harness.BUILD, "livesync-cli"), "--url", sidecar.url, "--table",
                             "public.items", "--client-id", client_id, "--count", str(ROWS), "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    subscribed = threading.Event()
    stderr = []

    def read():
        for line in proc.stderr:
            stderr.append(line)
            if line.startswith("subscribed"):
                subscribed.set()
    threading.Thread(target=read, daemon=True).start()
    if not subscribed.wait(20):
        proc.kill()
        raise AssertionError(f"{client_id} never subscribed: {''.join(stderr)}")
    return proc, stderr


def presence(sidecar, ids):
    req = urllib.request.Request(sidecar.http + "/v1/clients/presence", data=json.dumps(ids).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {sidecar.presence_token}"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


class SidecarPair(unittest.TestCase):
    def test_each_sidecar_serves_its_own_clients_and_delivers_everything(self):
        with harness.Stack(sidecar_args=["--allow-anonymous"]) as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            one = stack.sidecar
            two = harness.Sidecar(stack.workdir, redis.url, extra=["--allow-anonymous"]).start()
            try:
                stack.wait_published("public.items")
                harness.wait_until(lambda: two.get("/readyz")[0] == 200, 15, "the second sidecar to be ready")
                clients = {"a-1": start_cli(one, "a-1"), "a-2": start_cli(one, "a-2"),
                           "b-1": start_cli(two, "b-1"), "b-2": start_cli(two, "b-2")}

                for cid in ("a-1", "a-2"):
                    self.assertEqual(one.get(f"/v1/clients/{cid}")[0], 200)
                    self.assertEqual(two.get(f"/v1/clients/{cid}")[0], 410)
                for cid in ("b-1", "b-2"):
                    self.assertEqual(two.get(f"/v1/clients/{cid}")[0], 200)
                    self.assertEqual(one.get(f"/v1/clients/{cid}")[0], 410)
                everyone = ["a-1", "a-2", "b-1", "b-2"]
                self.assertEqual(presence(one, everyone), {"gone": ["b-1", "b-2"]})
                self.assertEqual(presence(two, everyone), {"gone": ["a-1", "a-2"]})
                # The registry names the holder of each client.
                sidecar_of = {cid: redis.cli("HGET", harness.key(f"client:{cid}"), "sidecar").strip('"')
                              for cid in everyone}
                self.assertEqual(sidecar_of["a-1"], sidecar_of["a-2"])
                self.assertEqual(sidecar_of["b-1"], sidecar_of["b-2"])
                self.assertNotEqual(sidecar_of["a-1"], sidecar_of["b-1"])

                for k in range(10):
                    pg.psql(f"INSERT INTO items SELECT g, 'r' || g FROM generate_series({k * 50 + 1}, {k * 50 + 50}) g")

                streams = {}
                for cid, (proc, stderr) in clients.items():
                    try:
                        out, _ = proc.communicate(timeout=60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        out, _ = proc.communicate()
                    self.assertEqual(proc.returncode, 0, f"{cid}: {''.join(stderr)}")
                    changes = [json.loads(line) for line in out.splitlines()]
                    self.assertEqual([c["new"]["id"] for c in changes], list(range(1, ROWS + 1)),
                                     f"{cid}: not every row once in commit order")
                    streams[cid] = [(c["lsn"], c["new"]["id"]) for c in changes]
                self.assertEqual(streams["a-1"], streams["b-1"], "the two sidecars delivered different streams")
            finally:
                for proc, _ in locals().get("clients", {}).values():
                    proc.kill()
                two.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
