#!/usr/bin/env python3
"""Never a silent gap for live sessions, with real Postgres, Redis and livesyncd: while
the sidecar's stream reader is paused (SIGSTOP), rows are committed and the stream is
trimmed past them, exactly as the replicator's retention would. When it runs again,
every connected client -- livesync-cli and clients/js/livesync.js -- is told
resync_required with the new live position and then receives the changes committed
after it; none of the trimmed rows arrive. The same holds when the reader's Redis
connection is lost meanwhile (the reconnect's check). Without a trim (the control
case) every row arrives and nobody is told to resync."""
import os
import re
import signal
import sys
import time
import unittest
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import js_package  # noqa: E402
from test_end_to_end import lsn_value  # noqa: E402
from test_sidecar_resume import ROWS_PER_TXN, LiveClient, cli, setup_items  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STREAM = harness.key("changes")
os.environ.setdefault("NODE_PATH", "/usr/share/nodejs")  # Node's `ws`, for the livesync.js probe


def lsn_text(value):
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def stream_len(redis):
    return int(redis.cli("XLEN", STREAM).split()[-1])


def stream_tail(redis):
    """(lsn, part) of the newest entry."""
    entry_id = redis.raw("XREVRANGE", STREAM, "+", "-", "COUNT", "1").split(b"\n")[0].decode()
    lsn, part = entry_id.split("-")
    return int(lsn), int(part)


def commit_entry(stack, txn):
    """Commits transaction `txn` (ROWS_PER_TXN rows, ids txn*10+1..) and waits until it is
    a stream entry of its own."""
    before = stream_len(stack.redis)
    stack.pg.psql(f"CALL fill({txn * ROWS_PER_TXN + 1}, 1, {ROWS_PER_TXN}, 0)")
    harness.wait_until(lambda: stream_len(stack.redis) > before, 20, f"transaction {txn} in the stream")


def ids_of(txns):
    return {i for t in txns for i in range(t * ROWS_PER_TXN + 1, (t + 1) * ROWS_PER_TXN + 1)}


def trim_to_tail(redis):
    """What the replicator's retention script does, by hand: keep the newest entry only
    and raise <prefix>trimmed_lsn to just below it. Returns the tail's LSN."""
    lsn, part = stream_tail(redis)
    redis.cli("XTRIM", STREAM, "MAXLEN", "1")
    redis.cli("SET", harness.key("trimmed_lsn"), str(lsn - 1 if part == 0 else lsn))
    return lsn


def kill_reader_connections(redis):
    """Closes livesyncd's connections that last ran XREAD (the stream reader's among them;
    the others reconnect as well)."""
    ids = re.findall(r"\bid=(\d+)\b[^\n]*\bcmd=xread\b", redis.raw("CLIENT", "LIST").decode())
    assert ids, "no XREAD connection"
    for client_id in ids:
        redis.cli("CLIENT", "KILL", "ID", client_id)


@contextmanager
def paused(process):
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def js_client(stack):
    """clients/js/livesync.js in Node: one JSON line per change on stdout, and its onResync
    as a "resync_required <lsn>" line on stderr."""
    return LiveClient(["node", js_package.copy_into_app("js_client_probe.mjs")[0], stack.sidecar.url, "public.items",
                       "1000000"])


def stderr_lines(client, prefix):
    return [line.split() for line in client.stderr if line.startswith(prefix)]


class SidecarLiveGap(unittest.TestCase):
    def start(self, stack):
        stack.wait_replicator()
        setup_items(stack)
        cli_client = cli(stack, "gap-cli", timeout=60)
        js = js_client(stack)
        cli_client.wait_subscribed()
        js.wait_subscribed()
        commit_entry(stack, 0)
        harness.wait_until(lambda: len(cli_client.changes) >= ROWS_PER_TXN, 20, "transaction 0 live")
        time.sleep(0.3)  # the reader is waiting in XREAD BLOCK again
        return cli_client, js

    def stop(self, *clients):
        for c in clients:
            if c.proc.poll() is None:
                c.proc.terminate()
            c.finish(timeout=10)

    def check_resynced(self, stack, cli_client, js, position):
        """Both clients were told resync_required at `position`, then get what follows it."""
        harness.wait_until(lambda: cli_client.stderr_line("resync_required"), 20, "resync_required (livesync-cli)")
        harness.wait_until(lambda: stderr_lines(js, "resync_required"), 20, "onResync (livesync.js)")
        self.assertEqual([line[1] for line in stderr_lines(cli_client, "resync_required")], [lsn_text(position)],
                         "".join(cli_client.stderr))
        self.assertEqual([line[1] for line in stderr_lines(js, "resync_required")], [lsn_text(position)],
                         "".join(js.stderr))
        self.assertIsNone(cli_client.stderr_line("caught_up"))

        # Live after the given position: the next transaction arrives whole.
        commit_entry(stack, 4)
        harness.wait_until(lambda: ids_of([4]) <= {c["new"]["id"] for c in cli_client.changes}, 20,
                           "transaction 4 after the resync (livesync-cli)")
        harness.wait_until(lambda: len(js.changes) >= len(cli_client.changes), 20,
                           "transaction 4 after the resync (livesync.js)")
        self.stop(cli_client, js)
        got = {c["new"]["id"] for c in cli_client.changes}
        # Transaction 1 may or may not arrive: the reader's XREAD BLOCK was woken by it
        # before the pause took effect. 2 and 3 were trimmed (3 is the resync position).
        self.assertTrue(ids_of([0, 4]) <= got, sorted(got))
        self.assertFalse(ids_of([2, 3]) & got, "a trimmed row arrived: the client was not told of the gap in order")
        self.assertTrue(all(lsn_value(c["lsn"]) > position for c in cli_client.changes if c["new"]["id"] in ids_of([4])))
        self.assertTrue(all(lsn_value(c["lsn"]) <= position for c in cli_client.changes
                            if c["new"]["id"] not in ids_of([4])))
        js_got = [c["new"]["id"] for c in js.changes]
        self.assertEqual(sorted(js_got), sorted(c["new"]["id"] for c in cli_client.changes),
                         "livesync.js and livesync-cli saw different changes")

        metrics = stack.sidecar.metrics()
        self.assertEqual(metrics["livesync_live_gaps_total"], 1)
        self.assertEqual(metrics["livesync_live_resyncs_total"], 2)
        with open(stack.sidecar.log_path) as f:
            self.assertEqual(f.read().count('"msg":"stream gap'), 1)

    def test_trim_past_a_paused_reader_tells_live_sessions_resync_required(self):
        with harness.Stack() as stack:
            cli_client, js = self.start(stack)
            try:
                with paused(stack.sidecar.proc):
                    for txn in (1, 2, 3):
                        commit_entry(stack, txn)
                    position = trim_to_tail(stack.redis)
                self.check_resynced(stack, cli_client, js, position)
            finally:
                self.stop(cli_client, js)

    def test_trim_while_the_reader_was_disconnected_tells_live_sessions_resync_required(self):
        with harness.Stack() as stack:
            cli_client, js = self.start(stack)
            try:
                with paused(stack.sidecar.proc):
                    for txn in (1, 2, 3):
                        commit_entry(stack, txn)
                    position = trim_to_tail(stack.redis)
                    kill_reader_connections(stack.redis)
                self.check_resynced(stack, cli_client, js, position)
                with open(stack.sidecar.log_path) as f:
                    self.assertTrue(any('"msg":"redis down"' in line and '"component":"stream_reader"' in line
                                        for line in f), "the stream reader did not lose its connection")
            finally:
                self.stop(cli_client, js)

    def test_without_a_trim_every_row_arrives_and_nobody_resyncs(self):
        with harness.Stack() as stack:
            cli_client, js = self.start(stack)
            try:
                with paused(stack.sidecar.proc):
                    for txn in (1, 2, 3):
                        commit_entry(stack, txn)
                commit_entry(stack, 4)
                harness.wait_until(lambda: len(cli_client.changes) >= 5 * ROWS_PER_TXN, 20, "every row (livesync-cli)")
                harness.wait_until(lambda: len(js.changes) >= 5 * ROWS_PER_TXN, 20, "every row (livesync.js)")
                time.sleep(0.5)
                self.stop(cli_client, js)
                ids = [c["new"]["id"] for c in cli_client.changes]
                self.assertEqual(ids, sorted(ids_of(range(5))), "rows lost, repeated or out of order")
                self.assertEqual(stderr_lines(cli_client, "resync_required"), [])
                self.assertEqual(stderr_lines(js, "resync_required"), [])
                self.assertEqual(stack.sidecar.metrics()["livesync_live_gaps_total"], 0)
            finally:
                self.stop(cli_client, js)


if __name__ == "__main__":
    unittest.main(verbosity=2)
