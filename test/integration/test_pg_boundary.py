#!/usr/bin/env python3
"""The C++ / Postgres boundary of the extension (extension/pg_guard.hpp):

- a cancel of livesync.clients() while Redis does not answer (redis-server stopped with
  SIGSTOP, so the kernel accepts the connection and no reply ever comes) ends the query
  with the cancel's error and leaves no Redis socket open in that backend: the cancel is
  thrown through the C++ frames, whose RedisLink closes its connection;
- a Postgres error raised inside pg_call reaches the client with its DETAIL (a
  malformed subscriptions field in the registry: jsonb_in names the bad token);
- the replicator serves interrupts in its loop (CHECK_FOR_INTERRUPTS, as pg_cron does):
  pg_log_backend_memory_contexts() on it is answered, and the log shows its per-loop
  memory context; a pg_cancel_backend() of it restarts its session, not the worker."""
import os
import signal
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def redis_sockets(pid, redis_port):
    """The TCP sockets process `pid` holds that are connected to 127.0.0.1:redis_port."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            remote_port = int(cols[2].split(":")[1], 16)
            if remote_port == redis_port and cols[9] in inodes:
                found.append(cols[1])
    return found


class Session:
    """One psql session kept open (one backend), fed statements on stdin."""

    def __init__(self, pg):
        self.proc = subprocess.Popen(
            [os.path.join(pg.bindir, "psql"), "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", str(pg.port),
             "-U", "postgres", "-d", "postgres"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.errors = []
        self.reader = threading.Thread(target=self._read_errors, daemon=True)
        self.reader.start()
        self.pid = int(self.query("SELECT pg_backend_pid()"))

    def _read_errors(self):
        for line in self.proc.stderr:
            self.errors.append(line.rstrip("\n"))

    def send(self, sql):
        self.proc.stdin.write(sql + ";\n")
        self.proc.stdin.flush()

    def query(self, sql):
        """Runs sql and returns its first output line (queries must return one)."""
        self.send(sql)
        return self.proc.stdout.readline().strip()

    def close(self):
        harness.stop_process(self.proc)
        self.reader.join(10)  # stderr is at its end once psql exited
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            pipe.close()


class PgBoundary(unittest.TestCase):
    def test_cancel_while_redis_is_silent_leaks_no_connection(self):
        # Redis commands may take long here: the cancel, not the timeout, must end them.
        with harness.Stack(pg_settings={"livesync.redis_timeout": "600000"}) as stack:
            stack.wait_replicator()
            pg, redis = stack.pg, stack.redis
            session = Session(pg)
            try:
                # Once with Redis answering: the function works and keeps nothing open.
                self.assertEqual(session.query("SELECT count(*) FROM livesync.clients()"), "0")
                self.assertEqual(redis_sockets(session.pid, redis.port), [])

                os.kill(redis.proc.pid, signal.SIGSTOP)
                try:
                    session.send("SELECT count(*) FROM livesync.clients()")
                    harness.wait_until(lambda: len(redis_sockets(session.pid, redis.port)) == 1, 30,
                                       "the backend to hold a connection to the silent Redis")
                    local_port = int(redis_sockets(session.pid, redis.port)[0].split(":")[1], 16)
                    harness.wait_until(
                        lambda: pg.psql(f"SELECT wait_event_type FROM pg_stat_activity WHERE pid = {session.pid}")
                        == "Extension", 30, "the backend to wait on its latch for Redis")
                    self.assertEqual(pg.psql(f"SELECT pg_cancel_backend({session.pid})"), "t")
                    harness.wait_until(lambda: any("ERROR" in e for e in session.errors), 30,
                                       "livesync.clients() to end with the cancel")
                    self.assertIn("canceling statement due to user request", "\n".join(session.errors))
                    # The socket was closed before the error reached the client.
                    self.assertEqual(redis_sockets(session.pid, redis.port), [])
                finally:
                    os.kill(redis.proc.pid, signal.SIGCONT)

                # The same backend goes on working, and still holds nothing afterwards.
                self.assertEqual(session.query("SELECT count(*) FROM livesync.clients()"), "0")
                self.assertEqual(redis_sockets(session.pid, redis.port), [])
                # At Redis: the cancelled connection is gone too, once Redis runs again.
                harness.wait_until(lambda: f"addr=127.0.0.1:{local_port} " not in redis.cli("CLIENT", "LIST"), 30,
                                   "Redis to drop the cancelled connection")
            finally:
                session.close()

    def test_postgres_error_keeps_its_detail(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            stack.redis.cli("HSET", harness.key("client:bogus"), "sidecar", "s", "subscriptions", "not json")
            out = stack.pg.psql("SELECT * FROM livesync.clients()", check=False)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("livesync: clients: invalid input syntax for type json", out.stderr)
            self.assertIn('DETAIL:  Token "not" is invalid.', out.stderr)

    def test_replicator_serves_interrupts_in_its_loop(self):
        with harness.Stack() as stack:
            stack.wait_replicator()
            pg = stack.pg
            pid = pg.psql("SELECT worker_pid FROM livesync.status()")
            self.assertTrue(pid.isdigit() and pid != "0", pid)
            self.assertEqual(pg.psql(f"SELECT pg_log_backend_memory_contexts({pid})"), "t")
            harness.wait_until(lambda: "livesync replicator loop" in pg.log(), 30,
                               "the replicator to log its memory contexts")
            # A cancel ends the replicator's session (logged), which starts again in
            # the same process.
            self.assertEqual(pg.psql(f"SELECT pg_cancel_backend({pid})"), "t")
            harness.wait_until(lambda: "interrupted: canceling statement due to user request" in pg.log(), 30,
                               "the replicator to end its session on the cancel")
            harness.wait_until(lambda: "streaming again" in pg.log(), 30, "the replicator to stream again")
            self.assertEqual(pg.psql("SELECT worker_pid FROM livesync.status()"), pid)
            pg.psql("CREATE TABLE t (id int PRIMARY KEY)")
            pg.psql("SELECT livesync.publish('t')")
            pg.psql("INSERT INTO t VALUES (1)")
            harness.wait_until(lambda: pg.psql("SELECT changes_published > 0 FROM livesync.status()") == "t", 30,
                               "a change published after the cancel")


if __name__ == "__main__":
    unittest.main()
