#!/usr/bin/env python3
"""livesync.notify(channel, payload) end to end: a client subscribed to a channel its
token allows (the `channels` claim: names and prefix patterns) receives each message in
its place among the transaction's rows, exactly once, in commit order, over both
encodings; a rolled-back notify is never sent; a token without the channel gets error
forbidden; a session only on the table gets no messages."""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import js_package  # noqa: E402

SECRET = "notify-test-secret-0123456789abcdef"


def token(sub, channels):
    claims = {"sub": str(sub), "role": "member", "exp": int(time.time()) + 3600}
    if channels is not None:
        claims["channels"] = channels
    return harness.mint_token(claims, SECRET)


class Client:
    def __init__(self, stack, tok, tables=(), channels=(), count=None, msgpack=False, timeout=30):
        argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--token", tok,
                "--timeout", str(timeout)]
        for t in tables:
            argv += ["--table", t]
        for c in channels:
            argv += ["--channel", c]
        if count:
            argv += ["--count", str(count)]
        if msgpack:
            argv.append("--msgpack")
        self.expected = len(tables) + len(channels)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_subscribed(self):
        harness.wait_until(lambda: sum(l.startswith("subscribed") for l in self.stderr) == self.expected
                           or self.proc.poll() is not None, 20, "subscribed acks")
        if self.proc.poll() is not None:
            raise AssertionError("client ended early: " + "".join(self.stderr))

    def finish(self, timeout=60):
        out = self.proc.stdout.read()
        self.proc.wait(timeout)
        self.reader.join(5)
        return self.proc.returncode, [json.loads(line) for line in out.splitlines() if line.strip()]


class NotifyChannels(unittest.TestCase):
    def test_channel_messages_arrive_in_order_with_the_rows_to_allowed_tokens_only(self):
        with harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET]) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('member', 'items')")
            alice = token(1, ["alerts", "org:1:*"])
            bob = token(2, "org:2:*")

            def published():
                probe = Client(stack, alice, tables=["public.items"], timeout=0.3)
                return probe.finish()[0] == 0 and any(l.startswith("subscribed") for l in probe.stderr)
            harness.wait_until(published, 30, "public.items to be published to livesyncd")

            both = Client(stack, alice, tables=["public.items"], channels=["alerts", "org:1:jobs"], count=5)
            alerts_msgpack = Client(stack, alice, channels=["alerts"], count=2, msgpack=True)
            table_only = Client(stack, alice, tables=["public.items"], count=2)
            bob_own = Client(stack, bob, channels=["org:2:x"], count=1)
            env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
            js = subprocess.Popen(["node", js_package.copy_into_app("js_listen_probe.mjs")[0],
                                   stack.sidecar.url, alice, "alerts", "2"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            js_stderr = []
            js_reader = threading.Thread(target=lambda: js_stderr.extend(js.stderr), daemon=True)
            js_reader.start()
            for c in (both, alerts_msgpack, table_only, bob_own):
                c.wait_subscribed()
            harness.wait_until(lambda: any(l.startswith("listening alerts") for l in js_stderr) or js.poll() is not None,
                               20, "livesync.js to listen")
            self.assertIn("subscribed channel:alerts", "".join(both.stderr))

            # Not in bob's channels claim: refused, the session says why.
            bob_alerts = Client(stack, bob, channels=["alerts"])
            rc, _ = bob_alerts.finish()
            self.assertEqual(rc, 1)
            self.assertIn("server error forbidden: your token does not allow channel alerts", "".join(bob_alerts.stderr))
            no_claim = Client(stack, token(3, None), channels=["alerts"])
            self.assertEqual(no_claim.finish()[0], 1)
            self.assertIn("forbidden", "".join(no_claim.stderr))

            pg.psql("BEGIN; INSERT INTO items VALUES (1, 'one'); "
                    "SELECT livesync.notify('alerts', '{\"n\": 1}'); "
                    "SELECT livesync.notify('org:2:x', '{\"n\": \"b\"}'); COMMIT;")
            pg.psql("BEGIN; SELECT livesync.notify('alerts', '{\"n\": \"rolled back\"}'); ROLLBACK;")
            pg.psql("SELECT livesync.notify('org:1:jobs', '{\"n\": 2}')")
            pg.psql("INSERT INTO items VALUES (2, 'two')")
            pg.psql("SELECT livesync.notify('alerts', '[3]')")

            rc, got = both.finish()
            self.assertEqual(rc, 0, "".join(both.stderr))
            summary = [(c["sub"], c["op"], c.get("channel"), c.get("payload"), (c.get("new") or {}).get("id"))
                       for c in got]
            self.assertEqual(summary, [
                (["s1"], "insert", None, None, 1),
                (["c1"], "message", "alerts", {"n": 1}, None),
                (["c2"], "message", "org:1:jobs", {"n": 2}, None),
                (["s1"], "insert", None, None, 2),
                (["c1"], "message", "alerts", [3], None),
            ])
            self.assertEqual(got[0]["lsn"], got[1]["lsn"], "the message is in its transaction's frame")
            lsns = [c["lsn"] for c in got]
            self.assertEqual(len(set(lsns)), 4)

            rc, got = alerts_msgpack.finish()
            self.assertEqual(rc, 0, "".join(alerts_msgpack.stderr))
            self.assertEqual([c["payload"] for c in got], [{"n": 1}, [3]])

            js_out = js.stdout.read()
            js.wait(30)
            js_reader.join(5)
            self.assertEqual(js.returncode, 0, "".join(js_stderr))
            self.assertEqual([json.loads(l)["payload"] for l in js_out.splitlines()], [{"n": 1}, [3]])

            rc, got = table_only.finish()
            self.assertEqual(rc, 0)
            self.assertEqual([c["op"] for c in got], ["insert", "insert"])

            rc, got = bob_own.finish()
            self.assertEqual(rc, 0)
            self.assertEqual([(c["channel"], c["payload"]) for c in got], [("org:2:x", {"n": "b"})])


if __name__ == "__main__":
    unittest.main(verbosity=2)
