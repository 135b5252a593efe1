#!/usr/bin/env python3
"""200 concurrent clients on one sidecar, each with its own set of subscriptions over
five published tables (anonymous role granted on all): every client receives exactly
the changes of the tables it subscribed to -- each once, tagged with its own
subscription id, whole transactions in commit order -- and nothing else."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = [f"public.t{j}" for j in range(5)]
CLIENTS = 200
TXNS = 30


def plan():
    """The committed changes, in commit order: per transaction [(op, table, id), ...]."""
    txns = []
    for k in range(TXNS):
        changes = []
        for j, table in enumerate(TABLES):
            if (k + j) % 3 == 0:
                continue  # not every transaction touches every table
            for r in range(4):
                changes.append(("insert", table, k * 10 + r))
        txns.append(changes)
    txns.append([("update", TABLES[0], k * 10) for k in range(TXNS) if k % 3 != 0] +
                [("delete", TABLES[4], k * 10 + 1) for k in range(TXNS) if (k + 4) % 3 != 0])
    return txns


def sql_of(changes):
    stmts = []
    for op, table, rid in changes:
        if op == "insert":
            stmts.append(f"INSERT INTO {table} VALUES ({rid}, 0)")
        elif op == "update":
            stmts.append(f"UPDATE {table} SET v = 1 WHERE id = {rid}")
        else:
            stmts.append(f"DELETE FROM {table} WHERE id = {rid}")
    return "BEGIN; " + "; ".join(stmts) + "; COMMIT"


def tables_of(i):
    mask = (i % 31) + 1  # every non-empty subset of the five tables, repeated
    return [t for j, t in enumerate(TABLES) if mask >> j & 1]


class ManyClients(unittest.TestCase):
    def test_each_of_200_clients_gets_exactly_its_subscriptions(self):
        with harness.Stack(sidecar_args=["--allow-anonymous"]) as stack:
            stack.wait_replicator()
            pg = stack.pg
            for t in TABLES:
                pg.psql(f"CREATE TABLE {t} (id int PRIMARY KEY, v int)")
                pg.psql(f"SELECT livesync.publish('{t}')")
                pg.psql(f"SELECT livesync.grant('anonymous', '{t}')")
            for t in TABLES:
                stack.wait_published(t)

            txns = plan()
            spec = []
            for i in range(CLIENTS):
                tables = tables_of(i)
                expect = sum(1 for txn in txns for (_, t, _) in txn if t in tables)
                spec.append({"client_id": f"m-{i}", "expect": expect,
                             "subscriptions": [{"id": f"s{i}-{t}", "table": t} for t in tables]})
            with tempfile.NamedTemporaryFile("w", suffix=".json", dir=stack.workdir, delete=False) as f:
                json.dump(spec, f)
            env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
            proc = subprocess.Popen(["node", os.path.join(HERE, "many_clients.js"), stack.sidecar.url, f.name, "90"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            try:
                line = proc.stdout.readline()
                if line.strip() != "ready":
                    proc.kill()
                    self.fail(f"not every subscription was acknowledged: {proc.communicate()[1][-2000:]}")
                self.assertEqual(stack.sidecar.get("/metrics")[1].count("livesync_sessions_open 200"), 1)
                for txn in txns:
                    pg.psql(sql_of(txn))
                out, err = proc.communicate(timeout=120)
            finally:
                proc.kill()
            self.assertEqual(proc.returncode, 0, err)
            results = json.loads(out)

            for i in range(CLIENTS):
                cid, tables = f"m-{i}", tables_of(i)
                got = results[cid]
                expected = [(op, t, rid) for txn in txns for (op, t, rid) in txn if t in tables]
                self.assertEqual([(op, t, rid) for _, _, op, t, rid in got], expected,
                                 f"{cid} ({tables}): wrong changes or order")
                for _, subs, _, t, _ in got:
                    self.assertEqual(subs, [f"s{i}-{t}"], f"{cid}: wrong subscription tag")
                # Whole transactions: one LSN per transaction that touched its tables, ascending.
                lsns = []
                for lsn, *_ in got:
                    if not lsns or lsns[-1] != lsn:
                        lsns.append(lsn)
                touching = sum(1 for txn in txns if any(t in tables for (_, t, _) in txn))
                self.assertEqual(len(lsns), touching, f"{cid}: a transaction was split or merged")
                values = [int(a, 16) << 32 | int(b, 16) for a, b in (x.split("/") for x in lsns)]
                self.assertEqual(values, sorted(set(values)), f"{cid}: transactions out of order")


if __name__ == "__main__":
    unittest.main(verbosity=2)
