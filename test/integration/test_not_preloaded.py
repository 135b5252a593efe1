#!/usr/bin/env python3
"""On a server that does not preload livesync, loading it (a slot with the livesync
plugin, CREATE EXTENSION, LOAD) is refused with an ERROR whose hint says what to put in
postgresql.conf, and the session goes on; it never ends the session with FATAL."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class NotPreloaded(unittest.TestCase):
    def test_loading_without_preload_is_an_error_with_a_hint(self):
        workdir = tempfile.mkdtemp(prefix="livesync-")
        os.chmod(workdir, 0o755)
        pg = harness.Postgres(workdir, {"shared_preload_libraries": "''"})
        try:
            pg.start()
            # One session: each statement fails on its own and the session stays usable.
            script = ("SELECT 'before';\n"
                      "SELECT pg_create_logical_replication_slot('s', 'livesync');\n"
                      "SELECT 'after slot';\n"
                      "CREATE EXTENSION livesync;\n"
                      "LOAD 'livesync';\n"
                      "SELECT 'after load';\n")
            out = subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-A", "-t", "-h", "127.0.0.1",
                                  "-p", str(pg.port), "-U", "postgres", "-d", "postgres", "-v", "VERBOSITY=default"],
                                 input=script, capture_output=True, text=True)
            self.assertNotIn("FATAL", out.stderr)
            self.assertNotIn("server closed the connection", out.stderr)
            self.assertEqual(out.stdout.split(), ["before", "after", "slot", "after", "load"])
            errors = [line for line in out.stderr.splitlines() if "ERROR:" in line]
            self.assertEqual(len(errors), 3, out.stderr)
            for line in errors:
                self.assertIn("livesync must be loaded via shared_preload_libraries", line)
            self.assertEqual(out.stderr.count("HINT:  Add livesync to shared_preload_libraries"), 3, out.stderr)
            # Nothing was left behind by the failed attempts.
            self.assertEqual(pg.psql("SELECT count(*) FROM pg_replication_slots"), "0")
            self.assertEqual(pg.psql("SELECT count(*) FROM pg_extension WHERE extname = 'livesync'"), "0")
        finally:
            pg.stop("immediate")
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
