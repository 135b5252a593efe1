#!/usr/bin/env python3
"""nginx (Debian's) in front of two livesyncd on one Redis, configured with the block in
docs/operations.md: clients of the livesync-client package connect through nginx and
spread over both sidecars; one sidecar is SIGKILLed while transactions are committed;
its clients resume through nginx on the other with no gap and no duplicate. Each client
connects from an address of its own (127.0.0.x), and the sidecars -- trusting nginx --
see those addresses: in the admin sessions list and in the per-address connection rate
limit (a flooding address is limited, its neighbour is not)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import js_package  # noqa: E402
from test_js_package import Probe  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "operations.md")
ADMIN_TOKEN = "nginx-sidecars-admin-token"
CLIENTS = 6
TXNS, ROWS_PER_TXN = 40, 5


def doc_config(listen, upstreams):
    """The nginx block of docs/operations.md with the test's ports."""
    with open(DOC) as f:
        text = f.read()
    block = re.search(r"<!-- nginx-config-begin -->\s*```nginx\n(.*?)```\s*<!-- nginx-config-end -->", text, re.S)
    config = block.group(1)
    config = config.replace("server 127.0.0.1:8081", f"server 127.0.0.1:{upstreams[0]}")
    config = config.replace("server 127.0.0.1:8082", f"server 127.0.0.1:{upstreams[1]}")
    config = config.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    assert str(upstreams[1]) in config and str(listen) in config, "the doc's block changed shape"
    return config


class Nginx:
    def __init__(self, workdir, snippet):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(f"""daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {self.dir}/access.log;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
{snippet}
}}
""")
        self.proc = None

    def start(self, port):
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def answers():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        harness.wait_until(answers, 20, "nginx to proxy /healthz")
        return self

    def stop(self):
        harness.stop_process(self.proc, signal.SIGQUIT)


def sessions(sidecar):
    req = urllib.request.Request(sidecar.http + "/v1/admin/sessions",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())["sessions"]


def status_times(probe, status):
    return [int(l.rsplit(" ", 1)[1]) for l in list(probe.stderr) if l.startswith(f"status {status} ")]


@unittest.skipUnless(shutil.which("nginx"), "nginx is not installed (scripts/install-deps.sh)")
class NginxSidecars(unittest.TestCase):
    def test_clients_resume_through_nginx_when_a_sidecar_dies(self):
        args = ["--allow-anonymous", "--trusted-proxies", "127.0.0.1", "--rate-connections", "1:3",
                "--admin-token", ADMIN_TOKEN]
        js_package.scratch_app()
        with harness.Stack(sidecar_args=args) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, txn int NOT NULL)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            one = stack.sidecar
            two = harness.Sidecar(stack.workdir, stack.redis.url, extra=args).start()
            nginx = None
            probes = []
            try:
                stack.wait_published("public.items")
                harness.wait_until(lambda: two.get("/readyz")[0] == 200, 15, "the second sidecar to be ready")
                port = harness.free_port()
                nginx = Nginx(stack.workdir, doc_config(port, (one.port, two.port))).start(port)
                url = f"ws://127.0.0.1:{port}/v1/sync"

                probes = [Probe(stack, "public.items", "json", f"c{i}", url=url, local_address=f"127.0.0.{10 + i}")
                          for i in range(CLIENTS)]
                held = {s["client_id"]: s["address"] for sc in (one, two) for s in sessions(sc)}
                self.assertEqual(held, {f"c{i}": f"127.0.0.{10 + i}" for i in range(CLIENTS)},
                                 "each client's own address, not nginx's")
                on_one = [p for i, p in enumerate(probes) if any(s["client_id"] == f"c{i}" for s in sessions(one))]
                self.assertTrue(0 < len(on_one) < CLIENTS, "nginx spreads the clients over both sidecars")

                committed = threading.Event()

                def commit():
                    for t in range(TXNS):
                        first = t * ROWS_PER_TXN + 1
                        pg.psql(f"INSERT INTO items SELECT g, {t} FROM generate_series({first}, "
                                f"{first + ROWS_PER_TXN - 1}) g")
                    committed.set()
                writer = threading.Thread(target=commit, daemon=True)
                writer.start()
                total = TXNS * ROWS_PER_TXN
                harness.wait_until(lambda: all(len(p.rows) >= total // 4 for p in on_one), 60,
                                   "the first transactions to reach the doomed sidecar's clients")
                one.stop(signal.SIGKILL)
                stack.sidecar = None
                writer.join(timeout=120)
                self.assertTrue(committed.is_set())
                for p in probes:
                    p.wait_rows(total)
                time.sleep(0.5)  # a duplicate would arrive now
                for i, p in enumerate(probes):
                    ids = [r["new"]["id"] for r in p.rows]
                    self.assertEqual(ids, list(range(1, total + 1)), f"c{i}: every row once, in commit order")
                resumes = []
                for p in on_one:
                    down, live = status_times(p, "disconnected"), status_times(p, "live")
                    self.assertTrue(down, p.stderr)
                    back = [t for t in live if t > down[0]]
                    self.assertTrue(back, p.stderr)
                    resumes.append(back[0] - down[0])
                    self.assertTrue(any(l.startswith("status resuming") for l in p.stderr), p.stderr)
                print(f"resume through nginx after SIGKILL: {len(resumes)} clients, "
                      f"ms {sorted(resumes)}", file=sys.stderr)
                # Everyone is on the survivor now, still with their own addresses.
                self.assertEqual({s["client_id"]: s["address"] for s in sessions(two)},
                                 {f"c{i}": f"127.0.0.{10 + i}" for i in range(CLIENTS)})

                # The rate limiter sees real addresses: one floods and is limited, its
                # neighbour behind the same nginx is not.
                def through(source, client_id):
                    ws = harness.RawWebSocket(port, source=source)
                    try:
                        return ws.hello(client_id) if ws.status == 101 else {"type": "refused"}
                    finally:
                        ws.close()
                flood = [through("127.0.0.2", f"flood-{n}") for n in range(6)]
                self.assertIn({"type": "close", "code": 4429}, flood, flood)
                self.assertEqual(through("127.0.0.3", "neighbour").get("type"), "welcome")
            finally:
                for p in probes:
                    p.stop()
                if nginx:
                    nginx.stop()
                two.stop()


if __name__ == "__main__":
    unittest.main()
