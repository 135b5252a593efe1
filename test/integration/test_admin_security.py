#!/usr/bin/env python3
"""Session validation, rate limits, bans, kicks and the admin API, end to end (issue #6):
a client id belongs to the `sub` that first used it (4403 for anyone else) and has one
live session (4409 for the older one); messages and connections over their rate close
4429; repeated auth failures ban the address in Redis for every sidecar; the admin API
(401 without the token) lists sessions, kicks by client id and by user on every
sidecar (4410), bans and unbans; SQL livesync.kick() reaches the sidecar through the
control stream, old control entries are not replayed; livesyncctl drives it all."""
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_security import NodeClient, SECRET, claims_of, mint  # noqa: E402

ADMIN_TOKEN = "admin-token-for-integration-tests-0123"
CTL = os.path.join(harness.BUILD, "livesyncctl")


def token(sub, ttl=3600):
    return mint(claims_of(sub, "member", "a", ttl))


def wait_welcome(client, timeout=20):
    harness.wait_until(lambda: any(l.startswith("welcome") for l in client.stderr) or client.closed.is_set(),
                       timeout, "welcome")
    if not any(l.startswith("welcome") for l in client.stderr):
        raise AssertionError(f"no welcome: {client.stderr}")


def closed_line(client):
    return [l for l in client.stderr if l.startswith("closed")][-1]


def admitted(stack, url):
    """Whether a fresh client is welcomed at url (True) or refused at the handshake (False)."""
    probe = NodeClient(stack, url=url, token=token(1), via="header", timeout_ms=60000)
    try:
        harness.wait_until(lambda: probe.closed.is_set() or any(l.startswith("welcome") for l in probe.stderr), 20,
                           "a welcome or a close")
        return any(l.startswith("welcome") for l in probe.stderr)
    finally:
        probe.proc.kill()


def ctl(sidecar, *args, token=ADMIN_TOKEN):
    cmd = [CTL, "--url", sidecar.http] + (["--token", token] if token else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def http(sidecar, method, path, body=None, auth=None):
    req = urllib.request.Request(sidecar.http + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def audit_kinds(stack):
    out = stack.redis.raw("XRANGE", harness.key("audit"), "-", "+").decode()
    return out


class AdminSecurity(unittest.TestCase):
    def stack(self, *extra):
        return harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET, "--admin-token", ADMIN_TOKEN, *extra])

    def extra_sidecar(self, stack, *extra):
        sidecar = harness.Sidecar(stack.workdir, stack.redis.url,
                                  extra=["--jwt-hs256-secret", SECRET, "--admin-token", ADMIN_TOKEN, *extra]).start()
        self.addCleanup(sidecar.stop)
        return sidecar

    def test_client_id_belongs_to_its_first_user_and_has_one_live_session(self):
        with self.stack() as stack:
            first = NodeClient(stack, token=token(1), via="header", client_id="dev-1", timeout_ms=60000)
            wait_welcome(first)
            self.assertEqual(stack.redis.cli("GET", harness.key("client_owner:dev-1")), '"user:a:1"')
            self.assertGreater(int(stack.redis.cli("TTL", harness.key("client_owner:dev-1")).split()[-1]), 600000)

            thief = NodeClient(stack, token=token(2), via="hello", client_id="dev-1")
            self.assertEqual(thief.close_code(), 4403, thief.stderr)
            self.assertIn("client id belongs to another user", closed_line(thief))
            self.assertFalse(first.closed.is_set(), "the owner's session must survive a stranger's hello")
            self.assertIn("client_id_taken", audit_kinds(stack))

            # The same user again: the newest session wins, the older one is told why.
            again = NodeClient(stack, token=token(1), via="query", client_id="dev-1", timeout_ms=60000)
            wait_welcome(again)
            self.assertEqual(first.close_code(), 4409, first.stderr)
            self.assertIn("client_id connected again", closed_line(first))
            self.assertFalse(again.closed.is_set())
            again.proc.kill()

    def test_a_same_sub_user_of_another_tenant_cannot_take_the_client_id(self):
        """The owner is the user within its tenant: sub 1 of tenant b is not sub 1 of
        tenant a, and cannot replace a's session (4409) by presenting its client id. An
        owner stored before the tenant was part of it ("sub:<sub>") is the sub's: its first
        hello binds it to its tenant, and from then on the other tenant's sub is refused."""
        def of(sub, tenant):
            return mint(claims_of(sub, "member", tenant))
        with self.stack() as stack:
            mine = NodeClient(stack, token=of(1, "a"), via="header", client_id="dev-t", timeout_ms=60000)
            wait_welcome(mine)
            twin = NodeClient(stack, token=of(1, "b"), via="hello", client_id="dev-t")
            self.assertEqual(twin.close_code(), 4403, twin.stderr)
            self.assertIn("client id belongs to another user", closed_line(twin))
            self.assertFalse(mine.closed.is_set(), "another tenant's sub 1 closed the session of tenant a's")
            self.assertEqual(stack.redis.cli("GET", harness.key("client_owner:dev-t")), '"user:a:1"')

            stack.redis.cli("SET", harness.key("client_owner:dev-old"), "sub:1", "EX", "600")
            upgraded = NodeClient(stack, token=of(1, "b"), via="header", client_id="dev-old", timeout_ms=60000)
            wait_welcome(upgraded)
            self.assertEqual(stack.redis.cli("GET", harness.key("client_owner:dev-old")), '"user:b:1"')
            twin = NodeClient(stack, token=of(1, "a"), via="hello", client_id="dev-old")
            self.assertEqual(twin.close_code(), 4403, twin.stderr)
            self.assertFalse(upgraded.closed.is_set())
            stack.redis.cli("SET", harness.key("client_owner:dev-old2"), "sub:2", "EX", "600")
            stranger = NodeClient(stack, token=of(1, "a"), via="hello", client_id="dev-old2")
            self.assertEqual(stranger.close_code(), 4403, stranger.stderr)
            mine.proc.kill()
            upgraded.proc.kill()

    def test_rate_limits_close_4429_and_auth_failures_ban_the_address_everywhere(self):
        with self.stack("--rate-messages", "5:10", "--rate-connections", "50:100", "--ban-after", "3",
                        "--ban-window", "60", "--ban-seconds", "60") as stack:
            # hello + 10 pings in one burst: the last one is over the bucket of 10 (floods far
            # past the limit: test_rate_limit_close.py).
            flood = NodeClient(stack, token=token(1), via="header", pings=10)
            self.assertEqual(flood.close_code(), 4429, flood.stderr)
            self.assertIn("rate limited", closed_line(flood))
            calm = NodeClient(stack, token=token(2), via="header", pings=3, timeout_ms=3000)
            wait_welcome(calm)
            self.assertNotEqual(calm.close_code(), 4429, calm.stderr)  # another user has its own bucket

            strict = self.extra_sidecar(stack, "--rate-connections", "1:3")
            burst = [NodeClient(stack, url=strict.url, token=token(3), via="header", timeout_ms=3000)
                     for _ in range(6)]
            for c in burst:
                c.finish(timeout=20)
            limited = sum(any(l.startswith("closed 4429") for l in c.stderr) for c in burst)
            welcomed = sum(any(l.startswith("welcome") for l in c.stderr) for c in burst)
            self.assertGreaterEqual(limited, 1, [c.stderr for c in burst])
            self.assertGreaterEqual(welcomed, 3, [c.stderr for c in burst])  # the burst got through

            other = self.extra_sidecar(stack)  # shares the ban through Redis
            for _ in range(3):
                bad = NodeClient(stack, token="not.a.token", via="header")
                self.assertEqual(bad.close_code(), 4401, bad.stderr)
            harness.wait_until(lambda: stack.redis.cli("EXISTS", harness.key("ban:127.0.0.1")) == "(integer) 1", 10,
                               "the ban to reach Redis")
            self.assertGreater(int(stack.redis.cli("PTTL", harness.key("ban:127.0.0.1")).split()[-1]), 50000)
            refused = NodeClient(stack, token=token(1), via="header")
            self.assertEqual(refused.close_code(), 1006, refused.stderr)  # refused at the handshake
            self.assertFalse(any(l.startswith("welcome") for l in refused.stderr))
            # The other sidecar refreshes its ban cache every second.
            harness.wait_until(lambda: not admitted(stack, other.url), 20, "the ban to reach the other sidecar")
            kinds = audit_kinds(stack)
            for kind in ("rate_limited", "banned", "refused_banned"):
                self.assertIn(kind, kinds)
            status, metrics = stack.sidecar.get("/metrics")
            self.assertRegex(metrics, r"livesync_bans_total [1-9]")
            self.assertRegex(metrics, r"livesync_rate_limited_total [1-9]")

            # Lifting the ban works on every sidecar.
            out = ctl(stack.sidecar, "unban", "127.0.0.1")
            self.assertEqual(out.returncode, 0, out.stderr)
            for url in (stack.sidecar.url, other.url):
                harness.wait_until(lambda: admitted(stack, url), 20, f"the unban to reach {url}")

    def test_admin_api_kicks_bans_and_reports_through_livesyncctl_and_sql(self):
        with self.stack() as stack:
            plain = self.extra_sidecar(stack)
            no_admin = harness.Sidecar(stack.workdir, stack.redis.url, extra=["--jwt-hs256-secret", SECRET]).start()
            self.addCleanup(no_admin.stop)
            self.assertEqual(http(no_admin, "GET", "/v1/admin/sessions", auth=f"Bearer {ADMIN_TOKEN}")[0], 404)
            self.assertEqual(http(stack.sidecar, "GET", "/v1/admin/sessions")[0], 401)
            self.assertEqual(http(stack.sidecar, "GET", "/v1/admin/sessions", auth="Bearer wrong-token-xxxxxxxx")[0],
                             401)
            self.assertEqual(http(stack.sidecar, "POST", "/v1/admin/kick", {"client_id": "x"},
                                  auth="Bearer nope")[0], 401)
            wrong = ctl(stack.sidecar, "sessions", token="wrong-token-0123456789")
            self.assertEqual(wrong.returncode, 1)
            self.assertIn("401", wrong.stderr)
            self.assertEqual(ctl(stack.sidecar, "ban", "1.2.3.4", "soon").returncode, 2)

            a1 = NodeClient(stack, token=token(1), via="header", client_id="a1", timeout_ms=60000)
            a2 = NodeClient(stack, url=plain.url, token=token(1), via="header", client_id="a2", timeout_ms=60000)
            b1 = NodeClient(stack, token=token(2), via="header", client_id="b1", timeout_ms=60000, pings=3)
            for c in (a1, a2, b1):
                wait_welcome(c)

            out = ctl(stack.sidecar, "sessions")
            self.assertEqual(out.returncode, 0, out.stderr)
            sessions = {s["client_id"]: s for s in json.loads(out.stdout)["sessions"]}
            self.assertEqual(set(sessions), {"a1", "b1"})
            self.assertEqual((sessions["a1"]["user"], sessions["a1"]["tenant"], sessions["a1"]["role"],
                              sessions["a1"]["address"]), ("1", "a", "member", "127.0.0.1"))

            # SQL kick: through the control stream to whichever sidecar holds the client.
            self.assertEqual(stack.pg.psql("SELECT livesync.kick('b1')"), "t")
            self.assertEqual(b1.close_code(), 4410, b1.stderr)
            self.assertIn("kicked by an administrator", closed_line(b1))
            # Admin kick by user: every sidecar closes that user's sessions.
            out = ctl(stack.sidecar, "kick", "--user", "1")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["kicked_here"], 1)
            self.assertEqual(a1.close_code(), 4410, a1.stderr)
            self.assertEqual(a2.close_code(), 4410, a2.stderr)
            self.assertIn("kicked", audit_kinds(stack))

            # A sidecar started later does not replay old kicks.
            late = self.extra_sidecar(stack)
            b1_again = NodeClient(stack, url=late.url, token=token(2), via="header", client_id="b1", timeout_ms=60000)
            wait_welcome(b1_again)
            # A new kick through the stream reaches the late sidecar: it has read the
            # stream past the old entries by then, and b1 is still connected.
            marker = NodeClient(stack, url=late.url, token=token(3), via="header", client_id="m1", timeout_ms=60000)
            wait_welcome(marker)
            self.assertEqual(stack.pg.psql("SELECT livesync.kick('m1')"), "t")
            self.assertEqual(marker.close_code(), 4410, marker.stderr)
            self.assertFalse(b1_again.closed.is_set(), b1_again.stderr)
            b1_again.proc.kill()

            # Activity covers both sidecars (flushed to Redis every second). User 1 of
            # tenant b is another user than user 1 of tenant a.
            other_tenant = NodeClient(stack, url=plain.url, token=mint(claims_of(1, "member", "b", 3600)),
                                      via="header", client_id="c1", timeout_ms=60000, pings=2)
            wait_welcome(other_tenant)

            def activity():
                out = ctl(stack.sidecar, "activity", "--since", str(int(time.time()) - 600))
                self.assertEqual(out.returncode, 0, out.stderr)
                return json.loads(out.stdout)

            def counted(report):
                users = {(u["user"], u["tenant"]): u for u in report["users"]}
                return (users.get(("sub:1", "a"), {}).get("sessions", 0) >= 2
                        and users.get(("sub:2", "a"), {}).get("messages_in", 0) >= 4  # hello + 3 pings
                        and users.get(("sub:2", "a"), {}).get("messages_out", 0) >= 4
                        and users.get(("sub:1", "b"), {}).get("messages_in", 0) >= 3
                        and ("sub:3", "a") in users)

            harness.wait_until(lambda: counted(activity()), 20, "the activity of both sidecars in Redis")
            report = activity()
            users = {(u["user"], u["tenant"]): u for u in report["users"]}
            self.assertEqual(users[("sub:1", "b")]["sessions"], 1)  # not merged with user 1 of tenant a
            tenants = {t["tenant"]: t for t in report["tenants"]}
            self.assertEqual(tenants["a"]["users"], 3)  # users 1, 2 and 3 (the marker)
            self.assertEqual(tenants["b"]["users"], 1)
            other_tenant.proc.kill()
            self.assertEqual(json.loads(ctl(stack.sidecar, "activity", "--since", str(int(time.time()) + 600)).stdout)
                             ["users"], [])

            # Admin ban: refused here at once and on the other sidecars within a second.
            out = ctl(stack.sidecar, "ban", "127.0.0.1", "120")
            self.assertEqual(out.returncode, 0, out.stderr)
            refused = NodeClient(stack, token=token(1), via="header")
            self.assertEqual(refused.close_code(), 1006, refused.stderr)
            harness.wait_until(lambda: not admitted(stack, plain.url), 20, "the ban to reach the other sidecar")
            bans = json.loads(ctl(stack.sidecar, "bans").stdout)["bans"]
            self.assertEqual([b["address"] for b in bans], ["127.0.0.1"])
            self.assertEqual(ctl(stack.sidecar, "unban", "127.0.0.1").returncode, 0)
            ok = NodeClient(stack, token=token(1), via="header", timeout_ms=2000)
            wait_welcome(ok)


if __name__ == "__main__":
    unittest.main(verbosity=2)
