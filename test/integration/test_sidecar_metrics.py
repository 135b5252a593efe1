#!/usr/bin/env python3
"""/metrics and /readyz on a real stack: the Prometheus counters move with real
traffic (sessions, frames and bytes sent, frames built, fan-out latency observations,
stream entries, errors by code), and /readyz follows the stream reader's Redis link."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

def cli(stack, table, count, timeout="30"):
    return subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", table,
                           "--count", str(count), "--timeout", timeout], capture_output=True, text=True)


class SidecarMetrics(unittest.TestCase):
    def test_counters_move_with_traffic_and_readyz_follows_redis(self):
        with harness.Stack(sidecar_args=["--allow-anonymous"]) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            harness.wait_until(lambda: stack.sidecar.get("/readyz")[0] == 200, 10, "/readyz 200")

            before = stack.sidecar.metrics()
            for name in ("livesync_sessions_open", "livesync_sessions_opened_total", "livesync_frames_sent_total",
                         "livesync_bytes_sent_total", "livesync_frames_built_total", "livesync_fanout_seconds_count",
                         "livesync_stream_lag_entries", "livesync_slow_clients_dropped_total",
                         "livesync_resumes_total", "livesync_resyncs_total", "livesync_replay_entries_total",
                         "livesync_auth_failures_total", 'livesync_fanout_seconds_bucket{le="+Inf"}'):
                self.assertIn(name, before)

            client = subprocess.Popen([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                       "--table", "public.items", "--count", "30", "--timeout", "30"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            harness.wait_until(lambda: stack.sidecar.metrics()["livesync_sessions_open"] >= 1, 10, "a session open")
            # The subscription is acked before any commit below (hello carries it).
            harness.wait_until(lambda: stack.sidecar.metrics()["livesync_frames_sent_total"]
                               >= before["livesync_frames_sent_total"] + 2, 10, "welcome and subscribed sent")
            for k in range(3):
                pg.psql(f"INSERT INTO items SELECT g, 'r' FROM generate_series({k * 10 + 1}, {k * 10 + 10}) g")
            out, err = client.communicate(timeout=60)
            self.assertEqual(client.returncode, 0, err)
            self.assertEqual(len(out.splitlines()), 30)
            bad = cli(stack, "public.nope", 1, timeout="5")
            self.assertNotEqual(bad.returncode, 0)

            after = stack.sidecar.metrics()
            moved = {k: after[k] - before.get(k, 0) for k in after}
            self.assertEqual(moved["livesync_sessions_opened_total"], 2)
            # welcome + subscribed + 3 changes frames for the first client, welcome + error for the second.
            self.assertGreaterEqual(moved["livesync_frames_sent_total"], 7)
            self.assertGreater(moved["livesync_bytes_sent_total"], 30 * 20)
            self.assertGreaterEqual(moved["livesync_frames_built_total"], 3)
            self.assertGreaterEqual(moved["livesync_fanout_seconds_count"], 3)
            self.assertGreaterEqual(moved["livesync_stream_entries_total"], 3)
            self.assertEqual(moved['livesync_errors_total{code="unknown_table"}'], 1)
            self.assertEqual(after['livesync_fanout_seconds_bucket{le="+Inf"}'], after["livesync_fanout_seconds_count"])
            self.assertGreaterEqual(after["livesync_stream_last_entry_age_seconds"], 0)
            self.assertEqual(after["livesync_stream_lag_entries"], 0)
            self.assertEqual(after["livesync_stream_ready"], 1)
            harness.wait_until(lambda: stack.sidecar.metrics()["livesync_sessions_open"] == 0, 10, "sessions closed")

            # Not ready while the reader has no Redis; ready again once it reconnected.
            stack.redis.stop()
            harness.wait_until(lambda: stack.sidecar.get("/readyz")[0] == 503, 15, "/readyz 503 without Redis")
            status, body = stack.sidecar.get("/readyz")
            self.assertIn("not connected to Redis", body)
            self.assertEqual(stack.sidecar.metrics()["livesync_stream_ready"], 0)
            stack.redis.start()
            harness.wait_until(lambda: stack.sidecar.get("/readyz")[0] == 200, 20, "/readyz 200 after Redis is back")


if __name__ == "__main__":
    unittest.main(verbosity=2)
