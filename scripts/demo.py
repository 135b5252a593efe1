#!/usr/bin/env python3
"""Demo: starts the stack, subscribes livesync-cli to public.todos, and commits a row
change every second; the client prints each change as it arrives.
usage: demo.py [--seconds N]   (default: until Ctrl-C)"""
import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "integration"))
import harness  # noqa: E402

def say(text):
    print(f"# {text}", flush=True)


WORDS = ["buy milk", "write docs", "ship it", "call mom", "fix the build", "water plants", "read a book"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    # The demo client has no token: livesyncd serves it as role "anonymous" (never do
    # this in production; see docs/security.md), and that role is granted todos.
    started = time.monotonic()
    say("starting Redis, Postgres (wal_level=logical, livesync preloaded) and livesyncd on free "
        "loopback ports, in a temp dir")
    with harness.Stack(sidecar_args=["--allow-anonymous"]) as stack:
        say(f"data in {stack.workdir}; waiting for the replicator to connect to Redis and create its slot")
        stack.wait_replicator()
        pg = stack.pg
        say("creating table todos; livesync.publish('todos'); livesync.grant('anonymous', 'todos')")
        pg.psql("CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false)")
        pg.psql("SELECT livesync.publish('todos')")
        pg.psql("SELECT livesync.grant('anonymous', 'todos')")
        stack.wait_published("public.todos")
        print(f"# Postgres 127.0.0.1:{pg.port}  Redis {stack.redis.url}  livesyncd {stack.sidecar.url}", flush=True)
        print(f"# try: psql -h 127.0.0.1 -p {pg.port} -U postgres -c \"INSERT INTO todos (title) VALUES ('hi')\"",
              flush=True)
        say("starting livesync-cli: it prints one JSON line per change below; a writer commits one a second")
        client = subprocess.Popen([os.path.join(harness.BUILD, "livesync-cli"), "--url", stack.sidecar.url,
                                   "--table", "public.todos", "--client-id", "demo-client"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first, subscribed = threading.Event(), threading.Event()

        def relay_stderr():
            for line in client.stderr:
                sys.stderr.write(line)
                if line.startswith("subscribed"):
                    subscribed.set()
        threading.Thread(target=relay_stderr, daemon=True).start()

        def relay():
            for line in client.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                if not first.is_set():
                    first.set()
                    say(f"first change reached the client {time.monotonic() - started:.1f} s after the demo "
                        "started its servers")
        threading.Thread(target=relay, daemon=True).start()
        subscribed.wait(30)
        try:
            deadline = time.monotonic() + args.seconds if args.seconds else None
            n = 0
            while deadline is None or time.monotonic() < deadline:
                n += 1
                if n % 4 == 0:
                    sql = "UPDATE todos SET done = true WHERE id = (SELECT min(id) FROM todos WHERE NOT done)"
                elif n % 7 == 0:
                    sql = "DELETE FROM todos WHERE id = (SELECT min(id) FROM todos WHERE done)"
                else:
                    sql = f"INSERT INTO todos (title) VALUES ('{random.choice(WORDS)}')"
                print(f"# writer: {sql}", flush=True)
                pg.psql(sql)
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            harness.stop_process(client, signal.SIGINT)
    print("# stopped and cleaned up", flush=True)


if __name__ == "__main__":
    main()
