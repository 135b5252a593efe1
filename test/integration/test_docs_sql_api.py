#!/usr/bin/env python3
"""docs/sql-api.md lists every function the extension's install script creates, with
every argument by name (a new function or argument without its line fails this)."""
import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def functions():
    """(name, [input argument names]) of each CREATE FUNCTION in sql/livesync--*.sql."""
    found = []
    sql_dir = os.path.join(ROOT, "sql")
    for name in sorted(os.listdir(sql_dir)):
        if not name.endswith(".sql"):
            continue
        with open(os.path.join(sql_dir, name)) as f:
            text = f.read()
        for m in re.finditer(r"CREATE (?:OR REPLACE )?FUNCTION (livesync\.\w+)\s*\((.*?)\)\s*(?:RETURNS|AS|LANGUAGE)",
                             text, re.S):
            args = [a.strip() for a in m.group(2).split(",") if a.strip()]
            inputs = [a.split()[0] for a in args if not a.startswith("OUT ")]
            found.append((m.group(1), inputs))
    return found


class SqlApiDoc(unittest.TestCase):
    def test_every_function_and_argument_is_documented(self):
        with open(os.path.join(ROOT, "docs", "sql-api.md")) as f:
            doc = f.read()
        fns = functions()
        self.assertGreaterEqual(len(fns), 14)
        for name, inputs in fns:
            lines = [l for l in doc.splitlines() if l.startswith(f"| `{name}(")]
            self.assertEqual(len(lines), 1, f"{name}: one row in the function table of docs/sql-api.md")
            signature = lines[0].split("`")[1]
            for arg in inputs:
                self.assertRegex(signature, rf"\b{arg}\b", f"{name}: argument {arg} in its documented signature")


if __name__ == "__main__":
    unittest.main()
