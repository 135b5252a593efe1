#!/usr/bin/env python3
"""Demo: builds what it runs, starts the stack, subscribes livesync-cli to public.todos,
and commits a row change every second; the client prints each change as it arrives.
usage: demo.py [--seconds N]   (default: until Ctrl-C)

What it builds, in parallel, on every core: the extension (make, installed into
pg_config's Postgres) and, in build-demo/, livesyncd and livesync-cli only, unoptimized
(-O0) and as one translation unit per target (CMAKE_UNITY_BUILD): about 40 CPU seconds
instead of 220 for the optimized build of scripts/build.sh. Redis and Postgres start
while livesyncd still compiles."""
import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_BUILD = os.path.join(ROOT, "build-demo")
os.environ["LIVESYNC_BUILD_DIR"] = DEMO_BUILD  # read by harness at import
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import harness  # noqa: E402

T0 = time.monotonic()
JOBS = os.cpu_count() or 2


def say(text):
    print(f"# [{time.monotonic() - T0:5.1f} s] {text}", flush=True)


WORDS = ["buy milk", "write docs", "ship it", "call mom", "fix the build", "water plants", "read a book"]


class SidecarBuild(threading.Thread):
    """cmake configure + build of livesyncd and livesync-cli in build-demo/, its progress
    relayed as one line per object; the full output in build-demo/build.log."""

    def __init__(self):
        super().__init__(daemon=True)
        self.ok = False
        self.log_path = os.path.join(DEMO_BUILD, "build.log")

    def run(self):
        self.ok = self.attempt(unity=True)
        if not self.ok:
            say("the one-unit-per-target build failed (two sources defining one name? see the log above); "
                "building file by file instead")
            self.ok = self.attempt(unity=False)

    def attempt(self, unity):
        os.makedirs(DEMO_BUILD, exist_ok=True)
        configure = ["cmake", "-S", ROOT, "-B", DEMO_BUILD, "-DCMAKE_BUILD_TYPE=Demo", "-DCMAKE_C_FLAGS_DEMO=-O0",
                     "-DCMAKE_CXX_FLAGS_DEMO=-O0", f"-DCMAKE_UNITY_BUILD={'ON' if unity else 'OFF'}",
                     "-DCMAKE_UNITY_BUILD_BATCH_SIZE=0"]
        build = ["cmake", "--build", DEMO_BUILD, f"-j{JOBS}", "--target", "livesyncd", "livesync-cli"]
        with open(self.log_path, "w") as log:
            for step, cmd in (("configuring (cmake)", configure), (f"compiling (make -j{JOBS})", build)):
                say(f"livesyncd + livesync-cli: {step}")
                proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for line in proc.stdout:
                    log.write(line)
                    m = re.match(r"\[\s*(\d+)%\] (Building \S+ object|Linking \S+ \S+) (\S+)", line)
                    if m:
                        say(f"livesyncd + livesync-cli: {m.group(1)}% {m.group(2).split()[0].lower()} "
                            f"{os.path.basename(m.group(3))}")
                if proc.wait() != 0:
                    log.flush()
                    with open(self.log_path, errors="replace") as f:
                        sys.stdout.write(f.read()[-3000:])
                    say(f"livesyncd + livesync-cli: {step} failed (full output: {self.log_path})")
                    return False
        return True


def build_extension():
    pkglibdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True, check=True).stdout.strip()
    say(f"extension: compiling (make -j{JOBS}), then installing into {pkglibdir}")
    subprocess.run(["make", f"-j{JOBS}", "-s"], cwd=ROOT, check=True)
    subprocess.run((["sudo"] if os.geteuid() != 0 else []) + ["make", "-s", "install"], cwd=ROOT, check=True)
    say("extension: installed")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    parser.add_argument("--no-build", action="store_true", help="use what build-demo/ and the installed "
                        "extension already hold")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    # The demo client has no token: livesyncd serves it as role "anonymous" (never do
    # this in production; see docs/security.md), and that role is granted todos.
    sidecar_build = SidecarBuild()
    if not args.no_build:
        say(f"building only what the demo runs, on {JOBS} cores: the extension, livesyncd and livesync-cli")
        sidecar_build.start()
        build_extension()
    else:
        sidecar_build.ok = True

    def prepare_then_wait_for_build(stack):
        say(f"Redis and Postgres are up (data in {stack.workdir}); waiting for the replicator to connect "
            "to Redis and create its slot")
        stack.wait_replicator()
        say("creating table todos; livesync.publish('todos'); livesync.grant('anonymous', 'todos')")
        stack.pg.psql("CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, "
                      "done boolean NOT NULL DEFAULT false)")
        stack.pg.psql("SELECT livesync.publish('todos')")
        stack.pg.psql("SELECT livesync.grant('anonymous', 'todos')")
        if sidecar_build.is_alive():
            say("waiting for livesyncd's build to finish")
        sidecar_build.join()
        if not sidecar_build.ok:
            raise SystemExit(1)
        say("starting livesyncd")

    say("starting Redis, then Postgres (wal_level=logical, livesync preloaded) on free loopback ports, "
        "in a temp dir")
    with harness.Stack(sidecar_args=["--allow-anonymous"], before_sidecar=prepare_then_wait_for_build) as stack:
        pg = stack.pg
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
                    since = ""
                    if os.environ.get("LIVESYNC_DEMO_STARTED"):
                        since = f", {time.time() - float(os.environ['LIVESYNC_DEMO_STARTED']):.1f} s after scripts/demo began"
                    say(f"first change reached the client: {time.monotonic() - T0:.1f} s after the "
                        f"Debian packages step{since}")
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
