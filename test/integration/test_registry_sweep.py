#!/usr/bin/env python3
"""The seed's 410-Gone pruning, end to end: the replicator's sweep removes the registry
entries of clients no sidecar holds -- all entries of a sidecar killed with SIGKILL
(its heartbeat expires), and entries a live sidecar answers "gone" for in its batched
presence check, over https when the sidecar serves TLS (its heartbeat advertises
https://, the sweep trusts livesync.sidecar_ca_file) -- and leaves the entries of live
clients alone."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HEARTBEAT_TTL_S = 15  # livesyncd's heartbeat key TTL


def hold_clients(sidecar, prefix, count):
    env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
    if sidecar.ca_file:
        env["NODE_EXTRA_CA_CERTS"] = sidecar.ca_file
    proc = subprocess.Popen(["node", os.path.join(HERE, "hold_clients.js"), sidecar.url, prefix, str(count)],
                            stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"{prefix}: clients did not all connect")
    return proc


def registered(redis, prefix):
    keys = redis.raw("KEYS", harness.key(f"client:{prefix}-*")).decode().split()
    return len(keys)


def add_ghost(redis, sidecar_id, ghost):
    """A stale registry entry naming sidecar_id, which does not hold it."""
    redis.cli("HSET", harness.key(f"client:{ghost}"), "sidecar", sidecar_id)
    redis.cli("SADD", harness.key(f"sidecar:{sidecar_id}:clients"), ghost)


class RegistrySweep(unittest.TestCase):
    def test_dead_sidecar_and_gone_clients_are_pruned_live_ones_kept(self):
        with harness.Stack(pg_settings={"livesync.sweep_interval": "'1s'"},
                           sidecar_args=["--allow-anonymous"]) as stack:
            stack.wait_replicator()
            redis = stack.redis
            doomed = harness.Sidecar(stack.workdir, redis.url, extra=["--allow-anonymous"]).start()
            held = hold_clients(doomed, "doomed", 100)
            alive = hold_clients(stack.sidecar, "alive", 10)
            try:
                harness.wait_until(lambda: registered(redis, "doomed") == 100, 10, "100 doomed clients registered")
                self.assertEqual(registered(redis, "alive"), 10)

                # A stale entry that names the live sidecar, which does not hold it.
                live_id = redis.cli("HGET", harness.key("client:alive-0"), "sidecar").strip('"')
                add_ghost(redis, live_id, "ghost")
                harness.wait_until(lambda: redis.cli("EXISTS", harness.key("client:ghost")) == "(integer) 0", 10,
                                   "the live sidecar's presence answer to prune the ghost entry")

                doomed.stop(signal.SIGKILL)  # no goodbye: its entries stay until the sweep
                held.kill()
                killed_at = time.monotonic()
                self.assertEqual(registered(redis, "doomed"), 100)
                harness.wait_until(lambda: registered(redis, "doomed") == 0, HEARTBEAT_TTL_S + 2 * 1 + 5,
                                   "the sweep to remove the dead sidecar's clients")
                print(f"registry clean {time.monotonic() - killed_at:.1f}s after SIGKILL "
                      f"(heartbeat TTL {HEARTBEAT_TTL_S}s, sweep interval 1s)")
                self.assertEqual(registered(redis, "alive"), 10, "the sweep removed live clients")
                # (Logged right after the sweep that removed them.)
                harness.wait_until(lambda: "registry sweep removed" in stack.pg.log(), 5, "the sweep's log line")
            finally:
                held.kill()
                alive.kill()
                doomed.stop(signal.SIGKILL)

    def test_gone_clients_of_a_tls_sidecar_are_pruned(self):
        with harness.Stack(pg_settings={"livesync.sweep_interval": "'1s'"},
                           sidecar_args=["--allow-anonymous"]) as stack:
            stack.wait_replicator()
            redis = stack.redis
            cert, key = harness.make_cert(stack.workdir, "sweep-tls")
            stack.pg.psql(f"ALTER SYSTEM SET livesync.sidecar_ca_file = '{cert}'")
            stack.pg.psql("SELECT pg_reload_conf()")
            tls = harness.Sidecar(stack.workdir, redis.url, ca_file=cert,
                                  extra=["--allow-anonymous", "--tls-cert", cert, "--tls-key", key]).start()
            held = None
            try:
                held = hold_clients(tls, "tls", 3)
                harness.wait_until(lambda: registered(redis, "tls") == 3, 10, "3 clients of the TLS sidecar")
                tls_id = redis.cli("HGET", harness.key("client:tls-0"), "sidecar").strip('"')
                add_ghost(redis, tls_id, "tls-ghost")
                harness.wait_until(lambda: redis.cli("EXISTS", harness.key("client:tls-ghost")) == "(integer) 0", 15,
                                   "the sweep to ask the TLS sidecar over https and prune the ghost entry")
                heartbeat = json.loads(redis.raw("GET", harness.key(f"sidecar:{tls_id}")))
                self.assertEqual(heartbeat["url"], f"https://127.0.0.1:{tls.port}")  # the default with TLS
                self.assertEqual(redis.cli("SISMEMBER", harness.key(f"sidecar:{tls_id}:clients"), "tls-ghost"),
                                 "(integer) 0")
                self.assertEqual(registered(redis, "tls"), 3, "the sweep removed live clients of the TLS sidecar")
            finally:
                if held:
                    held.kill()
                    held.wait()
                    held.stdout.close()
                tls.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
