#!/usr/bin/env python3
"""clients/js as an npm package (livesync-client), installed from its `npm pack` tarball
into a scratch app (js_package.py), in Node with the `ws` package:
- its TypeScript declarations compile a program using every option with --strict, and
  reject a wrong one;
- JSON and msgpack give the same values (numeric, jsonb, timestamptz as JSON renders
  them), and a subscription with `key` fills an update's unchanged TOAST column in;
- after a kick (4410) or a ban (4403) it does not reconnect: it reports `stopped` with the
  reason, and the process ends on its own (a pending reconnect would keep it alive).
The same package in headless Chromium: test_browser.py."""
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import js_package  # noqa: E402

ADMIN_TOKEN = "js-package-admin-token"


class Probe:
    def __init__(self, stack, table, encoding, client_id, key=None, url=None, local_address=None):
        (script,) = js_package.copy_into_app("js_package_probe.mjs")
        env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
        if local_address:
            env["LOCAL_ADDRESS"] = local_address
        self.proc = subprocess.Popen(["node", script, url or stack.sidecar.url, table, encoding, client_id,
                                      *([key] if key else [])], cwd=js_package.scratch_app(), env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr, self.rows = [], []
        self.lock = threading.Lock()
        threading.Thread(target=self._read_err, daemon=True).start()
        threading.Thread(target=self._read_out, daemon=True).start()
        harness.wait_until(lambda: any(l.startswith("subscribed") for l in self.stderr), 30,
                           f"the {encoding} probe to subscribe: {self.stderr}")

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.strip())

    def _read_out(self):
        for line in self.proc.stdout:
            with self.lock:
                self.rows.append(json.loads(line))

    def wait_rows(self, n):
        harness.wait_until(lambda: len(self.rows) >= n, 30, f"{n} changes: {self.stderr}")
        return self.rows[:n]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class JsPackage(unittest.TestCase):
    def test_declarations_compile_and_catch_misuse(self):
        app = js_package.scratch_app()
        ok, bad = js_package.copy_into_app("js_typecheck_ok.ts", "js_typecheck_bad.ts")
        tsc = [os.path.join(app, "node_modules", ".bin", "tsc"), "--strict", "--noEmit", "--module", "nodenext",
               "--moduleResolution", "nodenext", "--target", "es2020"]  # console: from the DOM lib
        good = subprocess.run([*tsc, "--lib", "es2020,dom", ok], cwd=app, capture_output=True, text=True)
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        wrong = subprocess.run([*tsc, "--lib", "es2020,dom", bad], cwd=app, capture_output=True, text=True)
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn('"xml"', wrong.stdout)  # encoding: 'json' | 'msgpack'
        self.assertIn("TS2345", wrong.stdout)  # a number where the table name goes
        self.assertIn("nonexistent", wrong.stdout)

    def test_json_and_msgpack_agree_and_unchanged_toast_columns_are_merged(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE docs (id int PRIMARY KEY, n int, price numeric, meta jsonb, at timestamptz, "
                    "body text)")
            pg.psql("ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL")  # out of line, uncompressed
            pg.psql("SELECT livesync.publish('docs')")
            pg.psql("SELECT livesync.grant('anonymous', 'docs')")
            stack.wait_published("public.docs")
            probes = {enc: Probe(stack, "public.docs", enc, f"js-{enc}", key="id") for enc in ("json", "msgpack")}
            try:
                pg.psql("INSERT INTO docs VALUES (1, 1, 12.340, '{\"a\": [1, 2]}', '2026-11-25 08:43:28.123456+00', "
                        "repeat('x', 20000))")
                pg.psql("UPDATE docs SET n = 2 WHERE id = 1")  # body is TOASTed and unchanged: not sent
                got = {enc: p.wait_rows(2) for enc, p in probes.items()}
                for enc, rows in got.items():
                    insert, update = rows
                    self.assertEqual(insert["new"]["price"], "12.340", enc)
                    self.assertEqual(insert["new"]["meta"], {"a": [1, 2]}, enc)
                    self.assertEqual(insert["new"]["at"], "2026-11-25T08:43:28.123456Z", enc)
                    self.assertEqual(len(insert["new"]["body"]), 20000, enc)
                    self.assertEqual(update["new"]["n"], 2, enc)
                    self.assertEqual(update["new"]["body"], "x" * 20000, f"{enc}: unchanged body merged in")
                    self.assertNotIn("unchanged", update, enc)
                self.assertEqual(got["json"][0]["commit_time"][-8:-1].count("."), 1)
                self.assertEqual(got["json"], got["msgpack"])
            finally:
                for p in probes.values():
                    p.stop()

    def test_no_reconnect_after_a_kick_or_a_ban(self):
        with harness.Stack(sidecar_args=["--allow-anonymous", "--admin-token", ADMIN_TOKEN]) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            kicked = Probe(stack, "public.items", "json", "kick-me")
            harness.wait_until(lambda: pg.psql("SELECT livesync.kick('kick-me')") == "t", 20, "the kick to be sent")
            kicked.proc.wait(timeout=30)  # a scheduled reconnect would keep it running
            kicked.stop()
            self.assertTrue(any(l.startswith("status stopped 4410") for l in kicked.stderr), kicked.stderr)
            self.assertTrue(any('"code":"kicked"' in l and "4410" in l for l in kicked.stderr), kicked.stderr)
            self.assertEqual(sum(l.startswith("status connecting") for l in kicked.stderr), 1)

            banned = Probe(stack, "public.items", "msgpack", "ban-me")
            out = subprocess.run([os.path.join(harness.BUILD, "livesyncctl"), "--url", stack.sidecar.http,
                                  "--token", ADMIN_TOKEN, "ban", "127.0.0.1", "60"],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            banned.proc.wait(timeout=30)
            banned.stop()
            self.assertTrue(any(l.startswith("status stopped 4403") for l in banned.stderr), banned.stderr)
            self.assertTrue(any('"code":"forbidden"' in l for l in banned.stderr), banned.stderr)
            self.assertEqual(sum(l.startswith("status connecting") for l in banned.stderr), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
