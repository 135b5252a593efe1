#!/usr/bin/env python3
"""README.md's "Using it" example, run as written by bash (between its markers): create
the database, the extension, the table with its replica identity, publish and grant,
start livesyncd, mint a token with `livesyncctl token`, subscribe with livesync-cli, and
the INSERT reaches the client. Only the ports are the test's (8080, 6379 and Postgres's
default are replaced), and `sudo -u postgres` runs the command as root with PGUSER=postgres."""
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(path):
    with open(path) as f:
        return f.read()


def readme_example():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- readme-example-begin -->\s*```sh\n(.*?)```\s*<!-- readme-example-end -->", text, re.S)
    return m.group(1)


class ReadmeExample(unittest.TestCase):
    def test_the_readme_example_runs_as_written(self):
        script = readme_example()
        # The client's line, then the INSERT: run in two steps so the row is committed
        # after the client subscribed (a person types them one after the other).
        before, insert = script.split("\nsudo -u postgres psql -d app -c \"INSERT", 1)
        insert = "sudo -u postgres psql -d app -c \"INSERT" + insert
        with harness.Stack(pg_settings={"livesync.database": "'app'"}, sidecar_args=["--allow-anonymous"]) as stack:
            port = harness.free_port()
            env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(stack.pg.port), PGUSER="postgres",
                       PATH=f"{harness.BUILD}:{harness.pg_bindir()}:{os.environ['PATH']}")
            preamble = 'sudo() { if [ "$1" = -u ]; then shift 2; fi; "$@"; }\n'

            def localize(text):
                return (text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                        .replace("redis://127.0.0.1:6379", stack.redis.url))
            out_path, err_path = (os.path.join(stack.workdir, f"readme.{n}") for n in ("out", "err"))
            with open(out_path, "w") as out, open(err_path, "w") as err:
                first = subprocess.Popen(["bash", "-e", "-c", preamble + localize(before)], env=env, stdout=out,
                                         stderr=err, start_new_session=True)
                try:
                    self.assertEqual(first.wait(timeout=120), 0, read(err_path))
                    harness.wait_until(lambda: "subscribed public.todos" in read(err_path), 30,
                                       "livesync-cli to subscribe")
                    second = subprocess.run(["bash", "-e", "-c", preamble + localize(insert)], env=env,
                                            capture_output=True, text=True, timeout=60)
                    self.assertEqual(second.returncode, 0, second.stderr)
                    harness.wait_until(lambda: '"try livesync"' in read(out_path), 30,
                                       "the INSERT to reach livesync-cli")
                    line = [l for l in read(out_path).splitlines() if "try livesync" in l][0]
                    self.assertIn('"new":{"id":1,"title":"try livesync","done":false}', line)
                    clients = stack.pg.psql("SELECT user_id, tenant, role FROM livesync.clients()", db="app")
                    self.assertEqual(clients, "7|42|member")
                finally:
                    os.killpg(first.pid, signal.SIGTERM)  # livesyncd and livesync-cli, started with &
                    first.wait()


if __name__ == "__main__":
    unittest.main()
