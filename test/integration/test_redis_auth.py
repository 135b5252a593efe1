#!/usr/bin/env python3
"""A Redis with requirepass: the password in livesync.redis_url and in livesyncd --redis
is used (AUTH) by every connection of the replicator and of the sidecar, changes flow end
to end, and the password appears in no log and no status output. A wrong password is a
clear, logged authentication error (without the password), and nothing is lost: the
rows committed meanwhile arrive once Redis takes the configured one again. The password
set through files instead (livesync.redis_password_file, livesyncd --redis-password-file)
is in neither the Postgres log nor ps."""
import json
import os
import pwd
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PASSWORD = "pw-9f3c2e7a-never-logged"
WRONG = "wrong-4d1b8a55-never-logged"


def receive(stack, count, last_lsn=None):
    argv = [os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url, "--table", "public.items",
            "--count", str(count), "--timeout", "30"]
    if last_lsn:
        argv += ["--last-lsn", last_lsn]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def command_lines():
    """Every process's command line, as ps shows them (read where ps reads them, so the
    test needs no procps package)."""
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                lines.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass  # gone meanwhile
    return "\n".join(lines)


class RedisAuth(unittest.TestCase):
    def test_password_is_used_everywhere_and_never_logged(self):
        with harness.Stack(redis_password=PASSWORD) as stack:
            pg, redis = stack.pg, stack.redis
            # AUTH really is required: a client without the password is refused.
            bare = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "XLEN", harness.key("changes")],
                                  capture_output=True, text=True)
            self.assertIn("NOAUTH", bare.stdout + bare.stderr)

            stack.wait_replicator()
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            start = pg.psql("SELECT pg_current_wal_lsn()")
            pg.psql("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 3) g")
            self.assertEqual([c["new"]["id"] for c in receive(stack, 3, last_lsn=start)], [1, 2, 3])
            # The sidecar registered its session in Redis (another authenticated connection).
            self.assertNotEqual(redis.cli("SCARD", harness.key("sidecars")), "(integer) 0")

            # The password changes under the replicator (and the sidecar): their next
            # connections are refused. The replicator says so, the slot holds the rows.
            redis.cli("CONFIG", "SET", "requirepass", WRONG)
            redis.password = WRONG
            redis.cli("CLIENT", "KILL", "TYPE", "normal", check=False)
            harness.wait_until(lambda: pg.psql("SELECT redis_connected FROM livesync.status()") == "f", 30,
                               "the replicator to report Redis unreachable")
            pg.psql("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(4, 6) g")
            harness.wait_until(lambda: "Redis refused the password (" in pg.log(), 30,
                               "the authentication error in the Postgres log")
            # A password in the URL still works, with a WARNING that says where it leaks.
            self.assertIn("livesync.redis_url holds a password (redis://:***@", pg.log())

            redis.cli("CONFIG", "SET", "requirepass", PASSWORD)
            redis.password = PASSWORD
            stack.wait_replicator()
            got = receive(stack, 6, last_lsn=start)
            self.assertEqual([c["new"]["id"] for c in got], [1, 2, 3, 4, 5, 6])

            status = pg.psql("SELECT row_to_json(s) FROM livesync.status() s")
            with open(stack.sidecar.log_path, errors="replace") as f:
                sidecar_log = f.read()
            for where, text in (("the Postgres log", pg.log()), ("the livesyncd log", sidecar_log),
                                ("livesync.status()", status)):
                self.assertNotIn(PASSWORD, text, where)
                self.assertNotIn(WRONG, text, where)

    def test_password_from_a_file_reaches_neither_the_log_nor_ps(self):
        """The password set through livesync.redis_password_file (ALTER SYSTEM + reload) and
        livesyncd --redis-password-file: Redis with requirepass takes it, changes flow, and
        neither the Postgres log (which logs every changed setting on reload) nor ps nor
        the sidecar's log shows it."""
        with harness.Stack() as stack:
            pg, redis = stack.pg, stack.redis
            stack.wait_replicator()
            pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text)")
            pg.psql("SELECT livesync.publish('items')")
            pg.psql("SELECT livesync.grant('anonymous', 'items')")
            stack.wait_published("public.items")
            start = pg.psql("SELECT pg_current_wal_lsn()")
            pg.psql("INSERT INTO items VALUES (1, 'before the password')")
            self.assertEqual([c["new"]["id"] for c in receive(stack, 1, last_lsn=start)], [1])

            path = os.path.join(pg.dir, "redis-password")  # pg.dir: the postgres user's
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(PASSWORD + "\n")
            if os.geteuid() == 0:
                os.chown(path, pwd.getpwnam("postgres").pw_uid, -1)

            redis.cli("CONFIG", "SET", "requirepass", PASSWORD)
            redis.password = PASSWORD
            redis.cli("CLIENT", "KILL", "TYPE", "normal", check=False)
            pg.psql(f"ALTER SYSTEM SET livesync.redis_password_file = '{path}'")
            pg.psql("SELECT pg_reload_conf()")
            harness.wait_until(lambda: 'parameter "livesync.redis_password_file" changed' in pg.log(), 30,
                               "the reload to be logged")
            stack.sidecar.stop()
            stack.sidecar = harness.Sidecar(stack.workdir, f"redis://127.0.0.1:{redis.port}",
                                            extra=["--allow-anonymous", "--redis-password-file", path]).start()
            stack.wait_replicator()
            pg.psql("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(2, 4) g")
            got = receive(stack, 4, last_lsn=start)
            self.assertEqual([c["new"]["id"] for c in got], [1, 2, 3, 4])

            ps = command_lines()
            self.assertIn("--redis-password-file", ps)
            with open(stack.sidecar.log_path, errors="replace") as f:
                sidecar_log = f.read()
            status = pg.psql("SELECT row_to_json(s) FROM livesync.status() s")
            for where, text in (("the Postgres log", pg.log()), ("ps", ps), ("the livesyncd log", sidecar_log),
                                ("livesync.status()", status), ("SHOW", pg.psql("SHOW livesync.redis_url"))):
                self.assertNotIn(PASSWORD, text, where)
            self.assertNotIn("holds a password", pg.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
