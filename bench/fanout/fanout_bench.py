#!/usr/bin/env python3
"""Fan-out benchmark (never a test): a real Postgres + replicator + Redis + livesyncd on
loopback, and bench/fanout's fanout-clients holding many WebSocket sessions in one
process. Measures, per scenario:

  throughput  delivered changes/s (rows x clients) while a plpgsql procedure commits
              TXNS transactions of ROWS rows as fast as it can, and commit -> client
              latency p50/p99 of every changes frame
  latency     the same at a fixed commit rate (--rate changes/s)
  idle        RSS of livesyncd per idle subscribed connection, and its CPU while the
              sessions stay idle for --seconds
  catchup     a client resuming from an LSN far behind: replayed changes/s
  bigtxn      one transaction of --rows rows to --clients readers with the default send
              queue (8 MiB), --msgpack or JSON: commit -> last row at each client, and
              livesyncd's peak RSS (sampled every 20 ms, and the kernel's VmHWM)

Results print as one JSON line per run; docs/benchmarks.md has the table and commands.

--server (throughput and latency only) picks what the same clients and the same
transactions are measured against: livesyncd (the default); bare, bench/fanout's
bare-broadcaster (epoll, each transaction's frame encoded once and written to every
socket, no per-session logic: the upper bound); nchan, nginx with the Nchan module (one
worker, in-memory channel, WebSocket subscribers) fed by bench/fanout's nchan-relay; or
all, the three back to back on one stack, --repeat times, then one table with the
ratios of each round. --raw-clients: fanout-clients --raw (its own epoll WebSocket
client; libwebsockets' receive path is slower than the servers measured here).
--strace PREFIX: strace -c of each server's process during its run (slows it).
--stress-cpu N: stress-ng --cpu N runs for each measured round (from just before the first
commit until the clients have their last frame) and is stopped after it. livesyncd is
stopped while the other two run, so every server has the machine to itself. The nchan
server needs Debian's libnginx-mod-nchan, --stress-cpu Debian's stress-ng: the driver
installs them with apt-get when missing (bench-only dependencies, not in
scripts/install-deps.sh).

    sudo python3 bench/fanout/fanout_bench.py throughput --clients 1000 --rows 100 --txns 300
    sudo python3 bench/fanout/fanout_bench.py latency --clients 1000 --rows 1 --rate 1000 --seconds 10
    sudo python3 bench/fanout/fanout_bench.py idle --clients 10000
    sudo python3 bench/fanout/fanout_bench.py catchup --rows 100 --txns 2000 --clients 1
    sudo python3 bench/fanout/fanout_bench.py bigtxn --rows 2000000 --clients 100 [--msgpack]
    sudo python3 bench/fanout/fanout_bench.py throughput --clients 1000 --rows 100 --txns 200 --procs 2 \
        --server all --repeat 3 [--raw-clients]
    sudo python3 bench/fanout/fanout_bench.py latency --clients 1000 --rows 100 --rate 1000 --seconds 10 --procs 2 \
        --server all --raw-clients --stress-cpu 1
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import signal
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import harness  # noqa: E402

GENERATOR = os.path.join(harness.BUILD, "bench", "fanout", "fanout-clients")
BARE = os.path.join(harness.BUILD, "bench", "fanout", "bare-broadcaster")
RELAY = os.path.join(harness.BUILD, "bench", "fanout", "nchan-relay")
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"

LOAD_PROC = """
CREATE PROCEDURE bench_load(txns int, nrows int, txn_per_s float8) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  FOR k IN 1..txns LOOP
    INSERT INTO bench (v, label) SELECT g, 'row' FROM generate_series(1, nrows) g;
    COMMIT;
    IF txn_per_s > 0 THEN
      PERFORM pg_sleep(greatest(0, k / txn_per_s - extract(epoch FROM clock_timestamp() - t0)));
    END IF;
  END LOOP;
END $$"""


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def parse_metrics(text):
    """{name: value} of the unlabelled samples of a Prometheus text page; comments, labelled
    samples and lines that do not parse (a format this tool does not know) are skipped."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or line.startswith("#") or "{" in parts[0]:
            continue
        try:
            values[parts[0]] = float(parts[1])
        except ValueError:
            continue
    return values


def metrics(stack):
    return parse_metrics(stack.sidecar.get("/metrics")[1])


def metric(stack, name):
    return metrics(stack).get(name)


def big_transaction(stack, args):
    """One INSERT of args.rows rows in one transaction, to args.clients readers."""
    gen = start_generator(stack, args.clients, args.rows, args.timeout, procs=args.procs, msgpack=args.msgpack)
    wait_ready(gen, args.timeout)
    pid = stack.sidecar.proc.pid
    rss0 = rss_kb(pid)
    peak = [rss0]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_kb(pid))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0, t0 = cpu_s(pid), time.monotonic()
    stack.pg.psql(f"INSERT INTO bench (v, label) SELECT g, 'row-' || g FROM generate_series(1, {args.rows}) g")
    commit_s = time.monotonic() - t0
    result = finish(gen, args.timeout + 30)
    done.set()
    sampler.join()
    result.update(rows=args.rows, encoding="msgpack" if args.msgpack else "json", commit_s=round(commit_s, 2),
                  livesyncd_cpu_s=round(cpu_s(pid) - cpu0, 2), livesyncd_rss_before_kb=rss0,
                  livesyncd_rss_peak_sampled_kb=peak[0], livesyncd_vm_hwm_kb=vm_hwm_kb(pid),
                  stream_entries=int(stack.redis.cli("XLEN", harness.key("changes")).split()[-1]),
                  catch_ups=metric(stack, "livesync_catch_ups_total"),
                  dropped=metric(stack, "livesync_slow_clients_dropped_total"))
    return result


def start_generator(stack, clients, expect, timeout, last_lsn=None, procs=1, msgpack=False, url=None, extra=()):
    """procs generator processes sharing the clients (one core each at most)."""
    gens = []
    for p in range(procs):
        n = clients // procs + (1 if p < clients % procs else 0)
        argv = [GENERATOR, "--url", url or stack.sidecar.url, "--clients", str(n), "--table", "public.bench",
                *extra,
                "--expect", str(expect), "--timeout", str(timeout), "--client-prefix", f"bench-{p}-"]
        if last_lsn:
            argv += ["--last-lsn", last_lsn]
        if msgpack:
            argv.append("--msgpack")
        gens.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return gens


def wait_ready(gens, timeout):
    for gen in gens:
        line = gen.stdout.readline()
        if line.strip() != "ready":
            for g in gens:
                g.kill()
            raise SystemExit(f"generator not ready: {line!r} {gen.stderr.read()[-2000:]}")


def finish(gens, timeout):
    results = []
    for gen in gens:
        try:
            out, err = gen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            gen.kill()
            out, err = gen.communicate()
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if not lines:
            raise SystemExit(f"generator gave no result (exit {gen.returncode}): {err[-2000:]}")
        r = json.loads(lines[-1])
        if err.strip():
            r["stderr_tail"] = err.strip().splitlines()[-3:]
        results.append(r)
    if len(results) == 1:
        return results[0]
    # Several processes: one delivery window over all; latency percentiles are the worst
    # process's (each process computes its own).
    total = {k: sum(r.get(k, 0) for r in results)
             for k in ("clients", "acked", "done", "changes", "errors", "closed", "payload_bytes")}
    first = min(r["first_unix"] for r in results if r["changes"])
    last = max(r["last_unix"] for r in results if r["changes"])
    total["changes_per_s"] = round(total["changes"] / (last - first)) if last > first else 0
    total["latency_ms"] = {k: max(r["latency_ms"][k] for r in results) for k in ("p50", "p99", "p999", "max")}
    total["latency_ms"]["samples"] = sum(r["latency_ms"]["samples"] for r in results)
    total["generator_cpu_s"] = round(sum(r["generator_cpu_s"] for r in results), 2)
    total["generator_procs"] = len(results)
    return total


def stream_tail(redis):
    """The newest entry ID (the first line of redis-cli --raw's XREVRANGE; the batch is binary)."""
    out = redis.raw("XREVRANGE", harness.key("changes"), "+", "-", "COUNT", "1").decode(errors="replace").splitlines()
    return out[0].strip() if out else ""


def newest_lsn(redis):
    lsn = int(stream_tail(redis).split("-")[0])
    return f"{lsn >> 32:X}/{lsn & 0xffffffff:X}"


def setup(stack):
    stack.wait_replicator()
    pg = stack.pg
    pg.psql("CREATE TABLE bench (id bigserial PRIMARY KEY, v int, label text)")
    pg.psql("SELECT livesync.publish('bench')")
    pg.psql("SELECT livesync.grant('anonymous', 'bench')")
    pg.psql(LOAD_PROC)
    stack.wait_published("public.bench")


def fanout_histogram(stack):
    """(count, sum seconds) of livesync_fanout_seconds from /metrics (0 when absent)."""
    m = metrics(stack)
    return m.get("livesync_fanout_seconds_count", 0.0), m.get("livesync_fanout_seconds_sum", 0.0)


class Livesyncd:
    """The server under test: the stack's own livesyncd (restarted if another ran)."""
    name = "livesyncd"
    generator_args = ()

    def __init__(self, stack):
        self.stack = stack

    def start(self):
        if self.stack.sidecar.proc.poll() is not None:
            self.stack.sidecar.start()
            self.stack.wait_published("public.bench")
        self.url = self.stack.sidecar.url
        return self

    def wait_subscribed(self, clients, timeout):
        pass  # the clients' "ready" already means every subscription was acknowledged

    def pids(self):
        return {"livesyncd": self.stack.sidecar.proc.pid}

    def stop(self):
        pass  # kept for the next round; stop_sidecar() before another server runs


def stop_sidecar(stack):
    harness.stop_process(stack.sidecar.proc)


class Bare:
    """bench/fanout's bare-broadcaster on the stack's stream."""
    name = "bare"
    generator_args = ()

    def __init__(self, stack):
        self.stack = stack
        self.proc = None

    def start(self):
        stop_sidecar(self.stack)
        port = harness.free_port()
        self.proc = subprocess.Popen([BARE, "--listen", str(port), "--redis-port", str(self.stack.redis.port),
                                      "--key", harness.key("changes"), "--table", "public.bench"],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "listening":
            raise SystemExit(f"bare-broadcaster did not start: {line!r}")
        self.url = f"ws://127.0.0.1:{port}/v1/sync"
        return self

    def wait_subscribed(self, clients, timeout):
        pass

    def pids(self):
        return {"bare": self.proc.pid}

    def stop(self):
        harness.stop_process(self.proc)


NCHAN_CONF = """load_module {module};
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile {nofile};
events {{ worker_connections {nofile}; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    nchan_shared_memory_size 256m;
    server {{
        listen 127.0.0.1:{port};
        location = /pub {{
            nchan_publisher http;
            nchan_channel_id bench;
            nchan_message_buffer_length 64;
            client_max_body_size 64m;
            client_body_buffer_size 64m;
        }}
        location = /sub {{
            nchan_subscriber websocket;
            nchan_channel_id bench;
            nchan_subscriber_first_message newest;
        }}
    }}
}}
"""


def ensure_nchan():
    """libnginx-mod-nchan is a bench-only dependency: installed here, when missing."""
    if os.path.exists(NCHAN_MODULE):
        return
    print("installing libnginx-mod-nchan (apt-get)", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "libnginx-mod-nchan"], check=True,
                   stdout=subprocess.DEVNULL)


class Nchan:
    """nginx + Nchan (one worker, in-memory channel "bench", WebSocket at /sub, publisher
    at /pub), fed by bench/fanout's nchan-relay over one keep-alive connection."""
    name = "nchan"
    generator_args = ("--no-hello", "--protocol", "none")

    def __init__(self, stack):
        self.stack = stack
        self.nginx = self.relay = None

    def start(self):
        ensure_nchan()
        stop_sidecar(self.stack)
        self.dir = os.path.join(self.stack.workdir, "nchan")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = harness.free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NCHAN_CONF.format(module=NCHAN_MODULE, dir=self.dir, port=self.port,
                                      nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        self.nginx = subprocess.Popen(["nginx", "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log"),
                                       "-g", "daemon off;"])
        harness.wait_until(lambda: self.channel_info() is not None, 15, "nginx to answer on /pub")
        harness.wait_until(lambda: self.worker_pid() is not None, 15, "nginx's worker")
        self.relay = subprocess.Popen([RELAY, "--pub-port", str(self.port), "--pub-path", "/pub",
                                       "--redis-port", str(self.stack.redis.port), "--key", harness.key("changes"),
                                       "--table", "public.bench"], stdout=subprocess.PIPE, text=True)
        line = self.relay.stdout.readline()
        if line.strip() != "relaying":
            raise SystemExit(f"nchan-relay did not start: {line!r}")
        self.url = f"ws://127.0.0.1:{self.port}/sub"
        return self

    def channel_info(self):
        """GET /pub: Nchan's channel info (text), "" when the channel has no subscriber
        yet (404), None when nginx does not answer."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/pub", headers={"Accept": "text/plain"})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            return "" if e.code == 404 else None
        except OSError:
            return None

    def subscribers(self):
        m = re.search(r"subscribers: (\d+)", self.channel_info() or "")
        return int(m.group(1)) if m else 0

    def wait_subscribed(self, clients, timeout):
        # The clients count themselves ready once their WebSocket is open; the load starts
        # only when Nchan counts every one of them on the channel.
        harness.wait_until(lambda: self.subscribers() >= clients, timeout, f"{clients} Nchan subscribers")

    def worker_pid(self):
        try:
            with open(f"/proc/{self.nginx.pid}/task/{self.nginx.pid}/children") as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None
        except OSError:
            return None

    def pids(self):
        return {"nginx_worker": self.worker_pid(), "relay": self.relay.pid}

    def stop(self):
        if self.relay:
            harness.stop_process(self.relay)
        if self.nginx:
            harness.stop_process(self.nginx, signal.SIGQUIT)


SERVERS = {"livesyncd": Livesyncd, "bare": Bare, "nchan": Nchan}


class CpuStress:
    """stress-ng --cpu N for one measured round (Debian's stress-ng, installed with apt-get
    when missing): started in a process group of its own, so stop() ends it and its
    workers and nothing else; --timeout bounds it should this driver die first."""

    def __init__(self, workers, bound_s):
        self.workers, self.bound_s, self.proc = workers, bound_s, None

    @staticmethod
    def ensure():
        if shutil.which("stress-ng"):
            return
        print("installing stress-ng (apt-get)", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "stress-ng"], check=True,
                       stdout=subprocess.DEVNULL)

    def start(self):
        self.proc = subprocess.Popen(["stress-ng", "--cpu", str(self.workers), "--timeout", f"{int(self.bound_s)}s",
                                      "--quiet"], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Running once its workers are: they are the children of stress-ng's own process.
        harness.wait_until(lambda: self.children() >= self.workers, 15, f"{self.workers} stress-ng workers")
        return self

    def children(self):
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return len(f.read().split())
        except OSError:
            return 0

    def cpu_s(self):
        """CPU seconds of stress-ng's process group so far (its workers are its children)."""
        total = 0.0
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        for pid in kids:
            try:
                total += cpu_s(pid)
            except OSError:
                pass
        return total

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own group: stress-ng and its workers
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def run_load(stack, args, clients, rate, server=None):
    """Clients subscribe, then TXNS x ROWS are committed (rate: txn/s, 0 = flat out)."""
    server = server or Livesyncd(stack).start()
    expect = args.txns * args.rows
    gen = start_generator(stack, clients, expect, args.timeout, procs=args.procs, url=server.url,
                          extra=server.generator_args + (("--raw",) if args.raw_clients else ()))
    wait_ready(gen, args.timeout)
    server.wait_subscribed(clients, args.timeout)
    pids = server.pids()
    tracer = None
    if args.strace:
        # Syscall counts of the server's main process, all threads (timings of such a
        # run are slowed by strace and not comparable). One second for strace to attach
        # every thread: it says nothing when it has.
        out = f"{args.strace}-{server.name}-{args.scenario}-{int(time.time())}.txt"
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(next(iter(pids.values())))],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1)
    stress = None
    if args.stress_cpu:
        # Bounded by the round's own bound: the load, then the clients' wait for the last frame.
        stress = CpuStress(args.stress_cpu, args.timeout * 2 + 60).start()
    try:
        load = os.getloadavg()
        cpu0, t0 = {k: cpu_s(p) for k, p in pids.items()}, time.monotonic()
        is_livesyncd = server.name == "livesyncd"
        h0 = fanout_histogram(stack) if is_livesyncd else None
        stack.pg.psql(f"CALL bench_load({args.txns}, {args.rows}, {rate})")
        commit_s = time.monotonic() - t0
        result = finish(gen, args.timeout + 30)
        cpu = {f"{k}_cpu_s": round(cpu_s(p) - cpu0[k], 2) for k, p in pids.items()}
        if stress:
            cpu["stress_ng_cpu_s"] = round(stress.cpu_s(), 2)  # not server CPU: left out of the table's ns/chg
    finally:
        if stress:
            stress.stop()
    if tracer:
        tracer.send_signal(signal.SIGINT)
        tracer.wait()
        result["strace_summary"] = out
    if is_livesyncd:
        h1 = fanout_histogram(stack)
        if h1[0] > h0[0]:
            # Service-thread time from entry arrival to frames queued (writes come after).
            result["fanout_queue_ms_mean"] = round((h1[1] - h0[1]) / (h1[0] - h0[0]) * 1000, 3)
    result.update(server=server.name, commit_s=round(commit_s, 2), committed_changes_per_s=round(expect / commit_s),
                  rows_per_txn=args.rows, txns=args.txns, loadavg_1m_at_start=round(load[0], 2),
                  client="raw" if args.raw_clients else "lws", stress_cpu_workers=args.stress_cpu, **cpu)
    return result


def compare(stack, args, rate):
    """Each server of --server in turn on the same stack, --repeat rounds; one JSON line
    per run, then one table with each round's ratios."""
    names = list(SERVERS) if args.server == "all" else [args.server]
    rounds = []
    for r in range(args.repeat):
        runs = {}
        for name in names:
            server = SERVERS[name](stack).start()
            try:
                result = run_load(stack, args, args.clients, rate, server)
            finally:
                server.stop()
            result.update(scenario=args.scenario, round=r + 1)
            if args.scenario == "latency":
                result["target_committed_changes_per_s"] = args.rate
            print(json.dumps(result), flush=True)
            runs[name] = result
        rounds.append(runs)
    if len(names) > 1 or args.repeat > 1:
        print_table(rounds, names)


NOT_SERVER_CPU = ("generator_cpu_s", "stress_ng_cpu_s")


def print_table(rounds, names):
    # server CPU: every process of the server (nginx's worker and the relay for nchan),
    # per delivered change.
    cols = ("changes/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "srv ns/chg")

    def server_cpu(r):
        return sum(v for k, v in r.items() if k.endswith("_cpu_s") and k not in NOT_SERVER_CPU)

    def values(r):
        lat = r["latency_ms"]
        per = server_cpu(r) / r["changes"] * 1e9 if r["changes"] else 0.0
        return (r["changes_per_s"], lat["p50"], lat["p99"], lat.get("p999", 0), lat["max"], per)

    print()
    print(f"{'round':>5} {'server':<10} " + " ".join(f"{c:>12}" for c in cols) + "  load1  done/clients  CPU s (generator)")
    for i, runs in enumerate(rounds, 1):
        for name in names:
            r = runs[name]
            cpu = " ".join(f"{k[:-6]}={v}" for k, v in r.items() if k.endswith("_cpu_s") and k not in NOT_SERVER_CPU)
            print(f"{i:>5} {name:<10} " + " ".join(f"{v:>12,.1f}" if isinstance(v, float) else f"{v:>12,}"
                                                 for v in values(r))
                  + f"  {r['loadavg_1m_at_start']:5.2f}  {r['done']}/{r['clients']}  {cpu} ({r['generator_cpu_s']})")
        base = runs.get("livesyncd")
        for other in names:
            if base is None or other == "livesyncd":
                continue
            ratio = [(a / b if b else float("nan")) for a, b in zip(values(base), values(runs[other]))]
            print(f"{i:>5} {'ls/' + other:<10} " + " ".join(f"{v:>12.2f}" for v in ratio))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["throughput", "latency", "idle", "catchup", "bigtxn"])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=100, help="rows per transaction")
    ap.add_argument("--txns", type=int, default=300, help="transactions (throughput, catchup)")
    ap.add_argument("--rate", type=float, default=1000, help="committed changes/s (latency)")
    ap.add_argument("--seconds", type=float, default=10, help="duration (latency; idle: the CPU window)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--max-send-queue", default="64MiB")
    ap.add_argument("--procs", type=int, default=1, help="generator processes sharing the clients")
    ap.add_argument("--msgpack", action="store_true", help="clients speak livesync.v1.msgpack")
    ap.add_argument("--server", choices=["livesyncd", "bare", "nchan", "all"], default="livesyncd",
                    help="what the clients connect to (throughput, latency)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of --server (throughput, latency)")
    ap.add_argument("--strace", metavar="PREFIX",
                    help="strace -c the server's process during each run, into PREFIX-<server>-...txt")
    ap.add_argument("--raw-clients", action="store_true",
                    help="fanout-clients --raw: its own epoll WebSocket client instead of libwebsockets")
    ap.add_argument("--stress-cpu", type=int, default=0, metavar="N",
                    help="stress-ng --cpu N alongside each measured round (throughput, latency)")
    args = ap.parse_args()
    if args.stress_cpu and args.scenario not in ("throughput", "latency"):
        ap.error("--stress-cpu applies to throughput and latency only")
    if args.stress_cpu:
        CpuStress.ensure()
    if args.server != "livesyncd" and args.scenario not in ("throughput", "latency"):
        ap.error("--server applies to throughput and latency only")
    if args.server != "livesyncd" and args.msgpack:
        ap.error("--server bare/nchan send JSON frames only")

    # Every process started here inherits this limit (livesyncd, bare-broadcaster, nginx,
    # the clients): a server holds one fd per session, each client process its share.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    spare = 256  # listeners, Redis, Postgres, epoll, logs
    if args.clients + spare > hard:
        ap.error(f"--clients {args.clients}: a server holds one descriptor each, the hard limit here is {hard}")
    per_proc = -(-args.clients // args.procs)
    if per_proc + spare > hard:
        ap.error(f"{per_proc} clients per process over the limit {hard}: raise --procs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients + 4096)), hard))
    sidecar_args = ["--allow-anonymous"]
    if args.scenario != "bigtxn":  # that one measures the defaults
        sidecar_args += ["--max-send-queue", args.max_send_queue]
    with harness.Stack(sidecar_args=sidecar_args) as stack:
        setup(stack)
        if args.scenario == "bigtxn":
            result = big_transaction(stack, args)
        elif args.scenario == "throughput":
            compare(stack, args, 0)
            return
        elif args.scenario == "latency":
            args.txns = max(1, int(args.rate * args.seconds / args.rows))
            compare(stack, args, args.rate / args.rows)
            return
        elif args.scenario == "idle":
            pid = stack.sidecar.proc.pid
            time.sleep(1)
            before = rss_kb(pid)
            gens = start_generator(stack, args.clients, 0, args.timeout, procs=args.procs)
            wait_ready(gens, args.timeout)
            time.sleep(2)  # registry writes and allocator settle
            after = rss_kb(pid)
            # What the idle sessions cost in CPU: nothing is committed meanwhile.
            cpu0, t0 = cpu_s(pid), time.monotonic()
            time.sleep(args.seconds)
            idle_cpu = (cpu_s(pid) - cpu0) / (time.monotonic() - t0)
            for gen in gens:
                gen.kill()
                gen.wait()
            result = {"clients": args.clients, "rss_before_kb": before, "rss_after_kb": after,
                      "bytes_per_idle_connection": round((after - before) * 1024 / args.clients),
                      "idle_cpu_ms_per_s": round(idle_cpu * 1000, 1), "idle_cpu_window_s": args.seconds}
        else:
            pg, redis = stack.pg, stack.redis
            pg.psql("CALL bench_load(1, 1, 0)")
            harness.wait_until(lambda: stream_tail(redis) != "", 10, "a first entry")
            last_lsn = newest_lsn(redis)
            before = stream_tail(redis)
            pg.psql(f"CALL bench_load({args.txns}, {args.rows}, 0)")
            expect = args.txns * args.rows
            # Wait until the whole backlog is in the stream, so only the replay is timed.
            deadline = time.monotonic() + args.timeout
            settled = before
            while time.monotonic() < deadline:
                time.sleep(1)
                tail = stream_tail(redis)
                if tail == settled and tail != before:
                    break
                settled = tail
            gen = start_generator(stack, args.clients, expect, args.timeout, last_lsn=last_lsn, procs=args.procs)
            result = finish(gen, args.timeout + 30)
            result.update(backlog_changes=expect, rows_per_txn=args.rows, txns=args.txns,
                          stream_entries=int(redis.cli("XLEN", harness.key("changes")).split()[-1]))
        result["scenario"] = args.scenario
        print(json.dumps(result))


if __name__ == "__main__":
    main()
