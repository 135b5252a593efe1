#!/usr/bin/env python3
"""livesync-cli authenticates with --token (or LIVESYNC_TOKEN): a valid token gets the
rows its role may see; a bad token is refused (4401) and the CLI says so and exits 1."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SECRET = "cli-test-secret-0123456789abcdef0123"


def cli(stack, *args, env=None):
    return subprocess.run([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                           "--table", "public.notes", *args], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **(env or {})))


class CliToken(unittest.TestCase):
    def test_token_from_flag_and_environment(self):
        with harness.Stack(sidecar_args=["--jwt-hs256-secret", SECRET]) as stack:
            stack.wait_replicator()
            pg = stack.pg
            pg.psql("CREATE TABLE notes (id int PRIMARY KEY, owner text)")
            pg.psql("ALTER TABLE notes REPLICA IDENTITY FULL")
            pg.psql("SELECT livesync.publish('notes')")
            pg.psql("SELECT livesync.grant('member', 'notes', $$owner = livesync.claim('sub')$$)")
            token = harness.mint_token({"sub": "ann", "role": "member", "exp": int(time.time()) + 600}, SECRET)

            # The publish and grant reach livesyncd through the stream: retry until subscribed.
            harness.wait_until(lambda: cli(stack, "--token", token, "--timeout", "0.2").returncode == 0
                               and "subscribed" in cli(stack, "--token", token, "--timeout", "0.2").stderr,
                               20, "the grant to reach livesyncd")
            proc = subprocess.Popen([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                     "--table", "public.notes", "--count", "1", "--timeout", "20"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, LIVESYNC_TOKEN=token))
            time.sleep(0.5)
            pg.psql("INSERT INTO notes VALUES (1, 'bob'), (2, 'ann')")
            out, err = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 0, err)
            self.assertIn('"id":2', out)
            self.assertNotIn('"id":1', out, "ann received bob's row")

            bad = cli(stack, "--token", token[:-3] + "abc", "--timeout", "5")
            self.assertEqual(bad.returncode, 1)
            self.assertIn("4401", bad.stderr)
            self.assertIn("--token must not be empty", cli(stack, "--token", "").stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
