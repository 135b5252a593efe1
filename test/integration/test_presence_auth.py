#!/usr/bin/env python3
"""Which client ids are connected is for the replicator's sweep only: GET /v1/clients/{id}
and POST /v1/clients/presence answer 401 -- the same for a connected id and an unknown
one -- without the presence token, which a sidecar publishes in its heartbeat key in
Redis. With it they answer as before, and the sweep, reading it from the heartbeat, still
prunes a sidecar's gone clients (a sidecar with a random token: no --presence-token-file)."""
import json
import os
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_registry_sweep import hold_clients  # noqa: E402


def request(sidecar, method, path, body=None, authorization=None):
    req = urllib.request.Request(sidecar.http + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    if authorization:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def heartbeat(redis, sidecar):
    for sidecar_id in redis.raw("SMEMBERS", harness.key("sidecars")).decode().split():
        text = redis.raw("GET", harness.key(f"sidecar:{sidecar_id}")).decode().strip()
        if text and json.loads(text)["url"].endswith(f":{sidecar.port}"):
            return sidecar_id, json.loads(text)
    return None, None


class PresenceAuth(unittest.TestCase):
    def test_only_the_sweep_learns_which_clients_are_connected(self):
        with harness.Stack(pg_settings={"livesync.sweep_interval": "'1s'"}) as stack:
            stack.wait_replicator()
            redis = stack.redis
            sidecar = harness.Sidecar(stack.workdir, redis.url, extra=["--allow-anonymous"],
                                      presence_token=None).start()
            self.addCleanup(sidecar.stop)
            held = hold_clients(sidecar, "held", 2)
            self.addCleanup(held.kill)
            harness.wait_until(lambda: heartbeat(redis, sidecar)[0] is not None, 10, "the sidecar's heartbeat")
            sidecar_id, beat = heartbeat(redis, sidecar)
            token = beat["presence_token"]
            self.assertEqual(len(token), 64)

            # Anyone without the token: 401, the same answer for a connected id and an unknown one.
            answers = set()
            for auth in (None, "Bearer wrong-token", f"Bearer {token[:-1]}", token, f"Basic {token}"):
                for cid in ("held-0", "nobody"):
                    status, body = request(sidecar, "GET", f"/v1/clients/{cid}", authorization=auth)
                    self.assertEqual(status, 401, (auth, cid, body))
                    answers.add(body)
                status, body = request(sidecar, "POST", "/v1/clients/presence", ["held-0", "nobody"], auth)
                self.assertEqual(status, 401, (auth, body))
                self.assertNotIn("nobody", body)
                answers.add(body)
            self.assertEqual(len(answers), 1, answers)
            self.assertEqual(stack.sidecar.get("/v1/clients/held-0", token=False)[0], 401)

            # The sweep's token: the answers as before.
            bearer = f"Bearer {token}"
            self.assertEqual(request(sidecar, "GET", "/v1/clients/held-0", authorization=bearer)[0], 200)
            self.assertEqual(request(sidecar, "GET", "/v1/clients/nobody", authorization=bearer)[0], 410)
            self.assertEqual(json.loads(request(sidecar, "POST", "/v1/clients/presence", ["held-0", "nobody"],
                                                bearer)[1]), {"gone": ["nobody"]})
            # (Another sidecar's token is not this one's.)
            self.assertEqual(request(stack.sidecar, "GET", "/v1/clients/x", authorization=bearer)[0], 401)

            # End to end: the sweep reads the token from the heartbeat and prunes a gone
            # client's entry on this sidecar, and leaves the held ones.
            redis.cli("HSET", harness.key("client:ghost"), "sidecar", sidecar_id)
            redis.cli("SADD", harness.key(f"sidecar:{sidecar_id}:clients"), "ghost")
            harness.wait_until(lambda: redis.cli("EXISTS", harness.key("client:ghost")) == "(integer) 0", 15,
                               "the sweep to prune the ghost entry through the presence check")
            self.assertEqual(redis.cli("EXISTS", harness.key("client:held-0")), "(integer) 1")
            self.assertEqual(redis.cli("EXISTS", harness.key("client:held-1")), "(integer) 1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
