#!/usr/bin/env python3
"""A real browser: headless Chromium loads a page (test/integration/browser/index.html)
that subscribes with the livesync-client package -- installed from its npm tarball into a
scratch app (js_package.py), resolved by an import map as a bundler would -- over
livesync.v1.msgpack, receives the changes this test commits,
survives a livesyncd restart on the same port and resumes without a gap or a duplicate.
A second page (browser/table.html) keeps a live collection (LiveSync.table) that resets
and reloads from a snapshot by itself on resync_required and ends equal to SELECT.
The pages report every event with POST /report to the test's own http.server."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import js_package  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PAGE = os.path.join(HERE, "browser", "index.html")


def file_of(path):
    """The page, or a module under the scratch app's node_modules (nothing else)."""
    if path in ("/index.html", "/table.html"):
        return os.path.join(HERE, "browser", path.lstrip("/")), "text/html; charset=utf-8"
    if path.startswith("/node_modules/") and ".." not in path and path.endswith((".js", ".mjs")):
        return os.path.join(js_package.scratch_app(), path.lstrip("/")), "text/javascript; charset=utf-8"
    return None, None
ROWS_PER_TXN = 5


class PageServer:
    """Serves the page and the client; collects the page's reports."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name, content_type = file_of(self.path.split("?")[0])
                if name is None or not os.path.isfile(name):
                    self.send_error(404)
                    return
                with open(name, "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def of_kind(self, kind):
        with self.lock:
            return [e for e in self.events if e["kind"] == kind]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def start_chromium(url, profile):
    return subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync", "--no-first-run",
                             "--disable-dev-shm-usage", f"--user-data-dir={profile}", url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_chromium(proc):
    # The chromium wrapper and its helper processes share the session we started.
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@unittest.skipUnless(shutil.which("chromium"), "chromium is not installed (scripts/install-deps.sh)")
class Browser(unittest.TestCase):
    def test_browser_receives_changes_and_resumes_across_a_sidecar_restart(self):
        js_package.scratch_app()  # npm pack + npm install, before the clock starts
        deadline = time.monotonic() + 85
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, k int NOT NULL)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            page = PageServer()
            profile = tempfile.mkdtemp(prefix="livesync-chromium-")
            chromium = start_chromium(f"http://127.0.0.1:{page.port}/index.html?ws={stack.sidecar.url}&client=browser1",
                                      profile)
            try:
                def left():
                    return max(1.0, deadline - time.monotonic())

                harness.wait_until(lambda: page.of_kind("subscribed"), min(30, left()), "the page to subscribe")
                next_id = 1

                def commit(txns):
                    nonlocal next_id
                    for _ in range(txns):
                        pg.psql(f"INSERT INTO items SELECT g, {next_id} FROM generate_series({next_id}, "
                                f"{next_id + ROWS_PER_TXN - 1}) g")
                        next_id += ROWS_PER_TXN

                commit(10)
                harness.wait_until(lambda: len(page.of_kind("change")) >= next_id - 1, min(20, left()),
                                   "the page to receive the first changes")

                # Restart livesyncd on the same port; commits go on while it is down. Redis
                # holds every client's commands for a while, so the restarted sidecar has
                # not read the stream when the page says hello again: it answers not_ready,
                # and the page must say hello again later (the client retries).
                stack.sidecar.stop()
                commit(10)
                stack.redis.cli("CLIENT", "PAUSE", "3000")
                stack.sidecar.start()
                harness.wait_until(lambda: any(e.get("code") == "not_ready" for e in page.of_kind("error")),
                                   min(10, left()), "the page to be told not_ready")
                commit(10)
                harness.wait_until(lambda: len(page.of_kind("change")) >= next_id - 1, min(30, left()),
                                   "the page to receive every change after the restart")
                time.sleep(0.5)  # a duplicate would arrive now
                changes = page.of_kind("change")
                ids = [c["id"] for c in changes]
                self.assertEqual(ids, list(range(1, next_id)), "every row once, in commit order")
                lsns = [harness_lsn(c["lsn"]) for c in changes]
                self.assertEqual(lsns, sorted(lsns))
                statuses = [e["status"] for e in page.of_kind("status")]
                self.assertIn("resuming", statuses, statuses)
                self.assertEqual(page.of_kind("resync"), [])
                self.assertEqual(page.of_kind("page_error"), [])
            except BaseException:
                print("page events:", json.dumps(page.events)[-4000:], file=sys.stderr)
                raise
            finally:
                stop_chromium(chromium)
                page.stop()
                shutil.rmtree(profile, ignore_errors=True)


@unittest.skipUnless(shutil.which("chromium"), "chromium is not installed (scripts/install-deps.sh)")
class BrowserTable(unittest.TestCase):
    def test_live_collection_reloads_by_itself_and_equals_select(self):
        js_package.scratch_app()
        with harness.Stack(snapshot_role="livesync_reader") as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE ROLE livesync_reader LOGIN")
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, k int NOT NULL, note text)")
            pg.psql("INSERT INTO items SELECT g, g, 'row ' || g FROM generate_series(1, 500) g")
            pg.psql("SELECT livesync.publish('items'), livesync.grant('anonymous', 'items')")
            pg.psql("GRANT USAGE ON SCHEMA livesync TO livesync_reader")
            pg.psql("GRANT EXECUTE ON FUNCTION livesync.sync_config() TO livesync_reader")
            pg.psql("GRANT SELECT ON items TO livesync_reader")
            stack.wait_published("public.items")
            page = PageServer()
            profile = tempfile.mkdtemp(prefix="livesync-chromium-")
            chromium = start_chromium(f"http://127.0.0.1:{page.port}/table.html?ws={stack.sidecar.url}", profile)
            try:
                # Its first snapshot ends, the resume finds the gap: reset, then a fresh one.
                def reloaded():
                    with page.lock:
                        kinds = [e["kind"] for e in page.events]
                    return "reset" in kinds and "ready" in kinds[kinds.index("reset"):]
                harness.wait_until(reloaded, 60, "the collection to reset and reload")
                self.assertEqual(page.of_kind("ready")[-1]["size"], 500)
                pg.psql("UPDATE items SET k = -k WHERE id <= 10")
                pg.psql("DELETE FROM items WHERE id BETWEEN 20 AND 29")
                pg.psql("INSERT INTO items VALUES (1000, 1000, 'new'), (0, 0, 'end')")
                harness.wait_until(lambda: page.of_kind("final"), 30, "the collection to hold the last commit")
                expected = json.loads(pg.psql("SELECT json_agg(json_build_object('id', id, 'k', k, 'note', note) "
                                              "ORDER BY id) FROM items"))
                self.assertEqual(page.of_kind("final")[0]["rows"], expected)
                self.assertEqual(len(page.of_kind("resync")), 1)
                self.assertEqual(page.of_kind("page_error"), [])
                self.assertEqual(page.of_kind("error"), [])
            except BaseException:
                print("page events:", json.dumps(page.events)[-4000:], file=sys.stderr)
                raise
            finally:
                stop_chromium(chromium)
                page.stop()
                shutil.rmtree(profile, ignore_errors=True)


def harness_lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


if __name__ == "__main__":
    unittest.main()
