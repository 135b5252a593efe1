#!/usr/bin/env python3
"""livesyncd as a production service: wss/https with a certificate from its config,
reloaded on SIGHUP without dropping sessions (livesync-cli speaks wss with --ca-file);
X-Forwarded-For believed only from --trusted-proxies, for rate limits, bans, the admin
sessions list and the audit log; a restart right after SIGTERM binds the port at once,
and an idle livesyncd exits at once."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ADMIN_TOKEN = "tls-proxies-admin-token"


def served_cert(port, ca_file):
    """The DER certificate a new TLS connection to port is given."""
    ctx = ssl.create_default_context(cafile=ca_file)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5),
                         server_hostname="127.0.0.1") as s:
        return s.getpeercert(binary_form=True)


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Cli:
    """livesync-cli in the background; stderr lines collected as they come."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([os.path.join(harness.BUILD, "livesync-cli"), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        self.subscribed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line.startswith("subscribed"):
                self.subscribed.set()

    def finish(self, timeout=60):
        out, _ = self.proc.communicate(timeout=timeout)
        return [json.loads(l) for l in out.splitlines() if l.strip()]


def admin(sidecar, method, path, body=None):
    req = urllib.request.Request(sidecar.http + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5, context=sidecar.ssl_context()) as r:
        return json.loads(r.read())


def audit_entries(stack):
    out = stack.redis.raw("XRANGE", harness.key("audit"), "-", "+").decode(errors="replace")
    return out


def forwarded(sidecar, address, client_id):
    """A connection that says it was forwarded for address; its first frame after hello."""
    ws = harness.RawWebSocket(sidecar.port, headers=[("X-Forwarded-For", f"{address}, 127.0.0.1")])
    try:
        if ws.status != 101:
            return {"type": "refused", "status": ws.status}
        return ws.hello(client_id)
    finally:
        ws.close()


class TlsAndProxies(unittest.TestCase):
    def test_wss_with_a_self_signed_certificate_reloaded_on_sighup(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            one_cert, one_key = harness.make_cert(stack.workdir, "livesync-one")
            two_cert, two_key = harness.make_cert(stack.workdir, "livesync-two")
            cert, key = os.path.join(stack.workdir, "server.crt"), os.path.join(stack.workdir, "server.key")
            shutil.copy(one_cert, cert)
            shutil.copy(one_key, key)
            both = os.path.join(stack.workdir, "both.pem")
            with open(both, "w") as f, open(one_cert) as a, open(two_cert) as b:
                f.write(a.read() + b.read())
            # Certificate and key from a config file, as a packaged livesyncd gets them.
            config = os.path.join(stack.workdir, "livesyncd.toml")
            with open(config, "w") as f:
                f.write(f'tls_cert = "{cert}"\ntls_key = "{key}"\nallow_anonymous = true\n')
            tls = harness.Sidecar(stack.workdir, stack.redis.url, extra=["--config", config], ca_file=both).start()
            try:
                pg = stack.pg
                pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
                pg.psql("SELECT livesync.publish('items')")
                pg.psql("SELECT livesync.grant('anonymous', 'items')")
                stack.wait_published("public.items")
                self.assertEqual(tls.get("/healthz")[0], 200)  # https
                self.assertEqual(served_cert(tls.port, both), der(one_cert))

                # Without the CA the self-signed certificate is refused.
                untrusted = subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), "--url", tls.url,
                                            "--table", "public.items", "--timeout", "5"],
                                           capture_output=True, text=True, timeout=30)
                self.assertEqual(untrusted.returncode, 1, untrusted.stderr)
                self.assertIn("certificate", untrusted.stderr)
                # --ca-file without wss is a usage error, and so is another scheme.
                for args in (["--url", f"ws://127.0.0.1:{tls.port}/v1/sync", "--ca-file", both],
                             ["--url", f"https://127.0.0.1:{tls.port}/v1/sync"]):
                    bad = subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), *args, "--table", "t"],
                                         capture_output=True, text=True, timeout=30)
                    self.assertNotEqual(bad.returncode, 0)
                    self.assertIn("livesync-cli:", bad.stderr)

                client = Cli("--url", tls.url, "--ca-file", both, "--table", "public.items", "--client-id", "tls-1",
                             "--count", "2", "--timeout", "60")
                self.assertTrue(client.subscribed.wait(30), client.stderr)
                pg.psql("INSERT INTO items VALUES (1, 'before the reload')")

                # New certificate in place, SIGHUP: new connections get it, the open session stays.
                shutil.copy(two_cert, cert)
                shutil.copy(two_key, key)
                tls.proc.send_signal(signal.SIGHUP)
                harness.wait_until(lambda: served_cert(tls.port, both) == der(two_cert), 15,
                                   "new TLS connections to get the reloaded certificate")
                pg.psql("INSERT INTO items VALUES (2, 'after the reload')")
                rows = client.finish()
                self.assertEqual([r["new"]["id"] for r in rows], [1, 2], client.stderr)
                self.assertEqual(client.proc.returncode, 0, client.stderr)
                self.assertEqual(sum(l.startswith("subscribed") for l in client.stderr), 1)  # never reconnected

                # A broken key on reload: logged, and the current certificate keeps serving.
                with open(key, "w") as f:
                    f.write("not a key\n")
                tls.proc.send_signal(signal.SIGHUP)
                harness.wait_until(lambda: "keeping the current certificate" in read(tls.log_path), 15,
                                   "livesyncd to refuse the broken key")
                self.assertEqual(served_cert(tls.port, both), der(two_cert))
                self.assertEqual(tls.get("/healthz")[0], 200)
            finally:
                tls.stop()

    def test_bad_tls_options_stop_the_start_with_a_clear_message(self):
        workdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"livesync-tlsopt-{os.getpid()}")
        os.makedirs(workdir, exist_ok=True)
        try:
            cert, key = harness.make_cert(workdir, "a")
            other_cert, other_key = harness.make_cert(workdir, "b")
            daemon = os.path.join(harness.BUILD, "livesyncd")
            cases = [(["--tls-cert", cert], "go together"),
                     (["--tls-cert", cert, "--tls-key", other_key], "does not match"),
                     (["--tls-cert", key, "--tls-key", key], "not a readable PEM certificate"),
                     (["--tls-cert", cert, "--tls-key", os.path.join(workdir, "missing")], "not a readable PEM"),
                     (["--trusted-proxies", "10.0.0.0/8,nonsense"], "\"nonsense\""),
                     (["--trusted-proxies", "10.0.0.0/40"], "prefix length")]
            for args, message in cases:
                out = subprocess.run([daemon, "--allow-anonymous", *args], capture_output=True, text=True, timeout=30)
                self.assertEqual(out.returncode, 2, (args, out.stderr))
                self.assertIn(message, out.stderr, args)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def test_forwarded_for_is_believed_only_from_trusted_proxies(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            limits = ["--allow-anonymous", "--rate-connections", "1:2", "--admin-token", ADMIN_TOKEN]
            trusting = harness.Sidecar(stack.workdir, stack.redis.url,
                                       extra=limits + ["--trusted-proxies", "10.0.0.0/8,127.0.0.1"]).start()
            wary = harness.Sidecar(stack.workdir, stack.redis.url, extra=limits).start()
            try:
                harness.wait_until(lambda: trusting.get("/readyz")[0] == 200, 15, "the sidecar to be ready")
                # One forwarded client floods: only its own bucket runs dry.
                firsts = [forwarded(trusting, "203.0.113.1", f"flood-{i}") for i in range(5)]
                self.assertIn({"type": "close", "code": 4429}, firsts, firsts)
                calm = forwarded(trusting, "203.0.113.2", "calm")
                self.assertEqual(calm.get("type"), "welcome", calm)

                # The admin sessions list and the audit log show the forwarded address.
                held = harness.RawWebSocket(trusting.port, headers=[("X-Forwarded-For", "198.51.100.7")])
                self.assertEqual(held.hello("held").get("type"), "welcome")
                sessions = admin(trusting, "GET", "/v1/admin/sessions")["sessions"]
                self.assertEqual([s["address"] for s in sessions if s["client_id"] == "held"], ["198.51.100.7"])
                held.close()
                harness.wait_until(lambda: "203.0.113.1" in audit_entries(stack), 10,
                                   "the rate-limit audit entry with the client's address")

                # A ban of the forwarded address refuses that client, not the proxy's others.
                admin(trusting, "POST", "/v1/admin/bans", {"address": "203.0.113.9", "seconds": 60})
                self.assertEqual(forwarded(trusting, "203.0.113.9", "banned")["type"], "refused")
                self.assertEqual(forwarded(trusting, "203.0.113.3", "not-banned").get("type"), "welcome")

                # Without --trusted-proxies the header is ignored: a client cannot
                # escape its limit by writing a new address into every handshake.
                spoofed = [forwarded(wary, f"192.0.2.{i}", f"spoof-{i}") for i in range(5)]
                self.assertIn({"type": "close", "code": 4429}, spoofed, spoofed)
            finally:
                trusting.stop()
                wary.stop()

    def test_restart_right_after_sigterm_binds_at_once(self):
        with harness.Stack() as stack:
            old = stack.sidecar
            # A session that never answers the close: the old process stays in its grace
            # period (2 s) while the new one starts.
            lingering = harness.RawWebSocket(old.port)
            self.assertEqual(lingering.hello("lingering").get("type"), "welcome")
            old.proc.send_signal(signal.SIGTERM)
            new = harness.Sidecar(stack.workdir, stack.redis.url, extra=["--allow-anonymous"], port=old.port)
            new.start()  # fails (livesyncd: cannot listen) if the old one still holds the port
            stack.sidecar = new
            self.assertIsNone(new.proc.poll())
            self.assertIn("livesyncd started", read(new.log_path))
            old.proc.wait(timeout=15)
            lingering.close()
            old.log.close()

            # With no session, the process is gone at once (it waited out two XREAD BLOCKs).
            started = time.monotonic()
            new.proc.send_signal(signal.SIGTERM)
            new.proc.wait(timeout=15)
            self.assertLess(time.monotonic() - started, 1.5)
            self.assertEqual(new.proc.returncode, 0)
            stack.sidecar = None
            new.log.close()


if __name__ == "__main__":
    unittest.main()
