"""Starts and stops real servers for tests and the demo: a Postgres cluster with the
livesync extension preloaded, a Redis server and the livesyncd sidecar, each on a free
loopback port in one temporary directory, stopped by pid whatever happens.

Postgres refuses to run as root, so when we are root the cluster is run as the
`postgres` user (runuser) in a directory that user owns.
"""
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LIVESYNC_BUILD_DIR", os.path.join(ROOT, "build"))


def _default_key_prefix():
    """The default key prefix of livesync.redis_prefix and livesyncd --prefix, read from
    where it is defined (common/redis_keys.hpp), so the harness cannot drift from it."""
    path = os.path.join(ROOT, "common", "redis_keys.hpp")
    with open(path) as f:
        m = re.search(r'kDefaultKeyPrefix = "([^"]+)";', f.read())
    if not m:
        raise RuntimeError(f"no kDefaultKeyPrefix = \"...\"; in {path}")
    return m.group(1)


# Tests run with the default prefix and name keys through key(); the names after the
# prefix are those of common::RedisKeys (pinned by test/unit/redis_keys_test.cpp).
KEY_PREFIX = _default_key_prefix()


def key(name):
    return KEY_PREFIX + name


# What the presence endpoints (/v1/clients/...) ask for. Sidecars started here read it
# from a file (--presence-token-file) so that get() can ask them too; without that flag
# a sidecar makes up a random one, which only its heartbeat (the sweep) knows.
PRESENCE_TOKEN = "presence-token-for-integration-tests"


def mint_token(claims, secret, alg="HS256"):
    """A JWT signed with HS256 (or unsigned with alg "none"), for tests of livesyncd's
    token checks. Stdlib only."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    if alg == "none":
        return f"{header}.{payload}."
    sig = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(sig)}"


def pg_bindir():
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


class Postgres:
    def __init__(self, workdir, settings=None):
        self.dir = os.path.join(workdir, "pg")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.settings = settings or {}
        self.bindir = pg_bindir()

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(as_postgres([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                                    "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
                       check=True, stdout=subprocess.DEVNULL)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'",
            "wal_level": "logical",
            "max_wal_senders": "10",
            "max_replication_slots": "10",
            "shared_preload_libraries": "'livesync'",
            "output_plugin_libraries": "'pgoutput, test_decoding, livesync'",
            "fsync": "off",
            "log_min_messages": "info",
        }
        conf.update(self.settings)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        self.pg_ctl("start", "-w", "-l", os.path.join(self.dir, "log"))
        return self

    def pg_ctl(self, *args):
        subprocess.run(as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, *args]),
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "stop", "-m", mode]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def log(self):
        with open(os.path.join(self.dir, "log")) as f:
            return f.read()

    def psql(self, sql, db="postgres", check=True):
        out = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                             capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr.strip()}\nSQL: {sql[:500]}")
        return out.stdout.strip() if check else out


class Redis:
    def __init__(self, workdir, password=None):
        self.dir = os.path.join(workdir, "redis")
        self.port = free_port()
        self.proc = None
        self.password = password  # requirepass, and every client below authenticates

    @property
    def url(self):
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    def _cli_argv(self):
        argv = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        return argv + (["-a", self.password, "--no-auth-warning"] if self.password else [])

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", self.dir, "--save", "", "--appendonly", "yes",
                                      "--appendfsync", "always", "--logfile", os.path.join(self.dir, "log"),
                                      *(["--requirepass", self.password] if self.password else [])],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.ping(), 10, "redis to answer PING")
        return self

    def ping(self):
        return self.cli("PING", check=False) == "PONG"

    def cli(self, *args, check=True):
        out = subprocess.run([*self._cli_argv(), "--no-raw", *args],
                             capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(out.stderr)
        return out.stdout.strip()

    def raw(self, *args):
        out = subprocess.run([*self._cli_argv(), "--raw", *args],
                             capture_output=True, check=True)
        return out.stdout

    def stop(self):
        stop_process(self.proc)


class Sentinel:
    """One redis-sentinel watching `primary` under `name`, with timeouts tuned for tests
    (docs/operations.md, Sentinel): down after 1 s, so a failover takes ~2-4 s."""

    def __init__(self, workdir, index, name, primary_port, quorum=2):
        self.dir = os.path.join(workdir, f"sentinel{index}")
        self.port = free_port()
        self.name, self.primary_port, self.quorum = name, primary_port, quorum
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "sentinel.conf")  # Sentinel rewrites it: its own copy
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                        f"logfile {os.path.join(self.dir, 'log')}\n"
                        f"sentinel monitor {self.name} 127.0.0.1 {self.primary_port} {self.quorum}\n"
                        f"sentinel down-after-milliseconds {self.name} 1000\n"
                        f"sentinel failover-timeout {self.name} 10000\n"
                        f"sentinel parallel-syncs {self.name} 1\n")
        self.proc = subprocess.Popen(["redis-sentinel", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING", check=False) == "PONG", 10, "redis-sentinel to answer PING")
        return self

    def cli(self, *args, check=True):
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--raw", *args],
                             capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(out.stderr)
        return out.stdout.strip()

    def current_primary_port(self):
        out = self.cli("SENTINEL", "get-master-addr-by-name", self.name, check=False).split()
        return int(out[1]) if len(out) == 2 else None

    def state(self):
        """SENTINEL master <name> as a dict (num-slaves, num-other-sentinels, flags, ...)."""
        out = self.cli("SENTINEL", "master", self.name, check=False).split("\n")
        return dict(zip(out[0::2], out[1::2]))

    def stop(self):
        stop_process(self.proc)


def make_cert(workdir, name):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost, by the openssl CLI."""
    cert, key = os.path.join(workdir, f"{name}.crt"), os.path.join(workdir, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class Sidecar:
    """livesyncd on a free port. ca_file: it serves TLS (extra has --tls-cert/--tls-key)
    with a certificate that ca_file vouches for; url and http are then wss:// and https://."""
    def __init__(self, workdir, redis_url, prefix=None, extra=(), ca_file=None, port=None,
                 presence_token=PRESENCE_TOKEN):
        self.port = port or free_port()
        self.ca_file = ca_file
        self.redis_url = redis_url
        self.prefix = prefix
        self.extra = list(extra)
        self.presence_token = presence_token if not any(a.startswith("--presence-token-file") for a in extra) else None
        if self.presence_token:
            path = os.path.join(workdir, f"presence-token-{self.port}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.presence_token + "\n")
            self.extra += ["--presence-token-file", path]
        # Tests open many connections and fail many logins from 127.0.0.1 on purpose;
        # the rate limits and bans are on only where a test asks for them.
        for flag, off in (("--rate-connections", "off"), ("--rate-messages", "off"), ("--ban-after", "0")):
            if not any(a == flag or a.startswith(flag + "=") for a in self.extra):
                self.extra += [flag, off]
        self.log_path = os.path.join(workdir, f"livesyncd-{self.port}.log")
        self.proc = None

    @property
    def url(self):
        return f"{'wss' if self.ca_file else 'ws'}://127.0.0.1:{self.port}/v1/sync"

    @property
    def http(self):
        return f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(BUILD, "livesyncd"), "--listen", f"127.0.0.1:{self.port}",
                                      "--redis", self.redis_url,
                                      *(["--prefix", self.prefix] if self.prefix is not None else []), *self.extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.get("/healthz")[0] == 200, 15, "livesyncd /healthz")
        return self

    def get(self, path, token=True):
        """(status, body) of GET path; 0 when unreachable. token: send the presence token
        (which only the presence endpoints read)."""
        req = urllib.request.Request(self.http + path)
        if token and self.presence_token:
            req.add_header("Authorization", f"Bearer {self.presence_token}")
        try:
            with urllib.request.urlopen(req, timeout=2, context=self.ssl_context()) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    METRIC_SAMPLE = re.compile(r'^([a-z_]+(?:\{[^}]*\})?) (\S+)$')

    def metrics(self):
        """/metrics as {sample name (with labels): value}; every line that is not a comment
        must be a Prometheus sample."""
        status, text = self.get("/metrics")
        assert status == 200, (status, text)
        samples = {}
        for line in text.splitlines():
            if line.startswith("#") or not line:
                continue
            m = self.METRIC_SAMPLE.match(line)
            assert m, f"not a Prometheus sample line: {line!r}"
            samples[m.group(1)] = float(m.group(2))
        return samples

    def metric(self, name):
        """One sample of /metrics; AssertionError when it is not there."""
        samples = self.metrics()
        if name not in samples:
            raise AssertionError(f"{name} not in /metrics")
        return samples[name]

    def stop(self, sig=signal.SIGTERM):
        stop_process(self.proc, sig)
        if self.proc is not None:
            self.log.close()


def msgpack_pack(value):
    """The msgpack of a JSON-like value (what a client sends): dict, list, str, int, bool, None."""
    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 128:
            return bytes([value])
        return b"\xd3" + struct.pack(">q", value) if value < 0 else b"\xcf" + struct.pack(">Q", value)
    if isinstance(value, str):
        b = value.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xdb" + struct.pack(">I", len(b))) + b
    if isinstance(value, list):
        return b"\xdd" + struct.pack(">I", len(value)) + b"".join(msgpack_pack(v) for v in value)
    if isinstance(value, dict):
        return b"\xdf" + struct.pack(">I", len(value)) + b"".join(msgpack_pack(k) + msgpack_pack(v)
                                                                   for k, v in value.items())
    raise TypeError(f"cannot pack {type(value)}")


def msgpack_unpack(data):
    """One msgpack value (what the server sends) as Python values; an ext value (the
    commit_time timestamp, type -1) becomes ("ext", type, bytes)."""
    def read(i):
        b = data[i]
        i += 1
        if b < 0x80:
            return b, i
        if b >= 0xe0:
            return b - 0x100, i
        if 0x80 <= b <= 0x8f:
            return read_map(i, b & 0x0f)
        if 0x90 <= b <= 0x9f:
            return read_array(i, b & 0x0f)
        if 0xa0 <= b <= 0xbf:
            n = b & 0x1f
            return data[i:i + n].decode(), i + n
        fixed = {0xc0: None, 0xc2: False, 0xc3: True}
        if b in fixed:
            return fixed[b], i
        sizes = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q",
                 0xca: ">f", 0xcb: ">d"}
        if b in sizes:
            fmt = sizes[b]
            n = struct.calcsize(fmt)
            return struct.unpack(fmt, data[i:i + n])[0], i + n
        lens = {0xd9: ">B", 0xda: ">H", 0xdb: ">I", 0xc4: ">B", 0xc5: ">H", 0xc6: ">I"}
        if b in lens:
            fmt = lens[b]
            k = struct.calcsize(fmt)
            n = struct.unpack(fmt, data[i:i + k])[0]
            raw = data[i + k:i + k + n]
            return (raw.decode() if b in (0xd9, 0xda, 0xdb) else raw), i + k + n
        if b in (0xdc, 0xdd):
            fmt = ">H" if b == 0xdc else ">I"
            k = struct.calcsize(fmt)
            return read_array(i + k, struct.unpack(fmt, data[i:i + k])[0])
        if b in (0xde, 0xdf):
            fmt = ">H" if b == 0xde else ">I"
            k = struct.calcsize(fmt)
            return read_map(i + k, struct.unpack(fmt, data[i:i + k])[0])
        fixext = {0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16}
        if b in fixext:
            n = fixext[b]
            return ("ext", struct.unpack(">b", data[i:i + 1])[0], data[i + 1:i + 1 + n]), i + 1 + n
        if b in (0xc7, 0xc8, 0xc9):
            fmt = {0xc7: ">B", 0xc8: ">H", 0xc9: ">I"}[b]
            k = struct.calcsize(fmt)
            n = struct.unpack(fmt, data[i:i + k])[0]
            t = struct.unpack(">b", data[i + k:i + k + 1])[0]
            return ("ext", t, data[i + k + 1:i + k + 1 + n]), i + k + 1 + n
        raise ValueError(f"msgpack type byte 0x{b:02x} at {i - 1}")

    def read_array(i, n):
        out = []
        for _ in range(n):
            v, i = read(i)
            out.append(v)
        return out, i

    def read_map(i, n):
        out = {}
        for _ in range(n):
            k, i = read(i)
            v, i = read(i)
            out[k] = v
        return out, i

    value, end = read(0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the msgpack value")
    return value


class RawWebSocket:
    """A bare RFC 6455 client on the stdlib, for handshakes a browser or livesync-cli
    cannot make: any header (X-Forwarded-For), TLS with a given context. status is the
    handshake's HTTP status (0: the server closed without answering)."""

    def __init__(self, port, headers=(), ssl_context=None, host="127.0.0.1", path="/v1/sync",
                 protocol="livesync.v1.json", timeout=10, source=None):
        sock = socket.create_connection((host, port), timeout, source_address=(source, 0) if source else None)
        self.sock = ssl_context.wrap_socket(sock, server_hostname=host) if ssl_context else sock
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Protocol: {protocol}",
                 *[f"{k}: {v}" for k, v in headers]]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.status = 0
        try:
            while b"\r\n\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return
                self.buf += chunk
        except (ConnectionError, ssl.SSLError):
            return
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])
        self.msgpack = protocol == "livesync.v1.msgpack"

    def send(self, message):
        """A message as the subprotocol wants it: JSON text, or a msgpack binary message."""
        payload = msgpack_pack(message) if self.msgpack else json.dumps(message).encode()
        mask = os.urandom(4)
        n = len(payload)
        opcode = 0x82 if self.msgpack else 0x81
        header = bytes([opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        """The next frame: a parsed JSON text frame (fragments joined), or {"type": "close", "code": N}."""
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            if b0 & 0x0F == 8:
                return {"type": "close", "code": struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005}
            message += payload
            if b0 & 0x80:
                return msgpack_unpack(message) if self.msgpack else json.loads(message)

    def hello(self, client_id):
        """Says hello; the first frame back (welcome, or the close that refused it)."""
        self.send({"type": "hello", "client_id": client_id})
        return self.frame()

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()


def stop_process(proc, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def snapshot_table(stack, rows, org=False, reader="livesync_reader"):
    """The table of the snapshot tests and benchmark: items (id int PRIMARY KEY, [org text,]
    n int NOT NULL, note text NOT NULL) holding ids 1..rows (org 'o' || id % 10, n = id % 1000,
    note = md5(id)), published, every row granted to the anonymous role, and readable by
    `reader` (the Stack's snapshot_role, created here with the grants docs/operations.md
    gives). Returns once livesyncd accepts subscriptions to it."""
    pg = stack.pg
    pg.psql(f"CREATE ROLE {reader} LOGIN")
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, " + ("org text, " if org else "") +
            "n int NOT NULL, note text NOT NULL)")
    if rows:
        pg.psql("INSERT INTO items SELECT g, " + ("'o' || (g % 10), " if org else "") +
                f"g % 1000, md5(g::text) FROM generate_series(1, {rows}) g")
        pg.psql("VACUUM ANALYZE items")
    pg.psql("SELECT livesync.publish('items'), livesync.grant('anonymous', 'items')")
    pg.psql(f"GRANT USAGE ON SCHEMA livesync TO {reader}")
    pg.psql(f"GRANT EXECUTE ON FUNCTION livesync.sync_config() TO {reader}")
    pg.psql(f"GRANT SELECT ON items TO {reader}")
    stack.wait_replicator()
    stack.wait_published("public.items")


class Stack:
    """Postgres + Redis + livesyncd, in one temp dir; a context manager."""

    # livesyncd refuses to serve without a token key unless told to serve anonymous
    # clients; tests about authentication pass their own key options instead.
    # before_sidecar: called after Redis and Postgres are up and before livesyncd starts
    # (the demo waits there for livesyncd's build, which runs while the servers start).
    # snapshot_role: livesyncd reads subscription snapshots as this Postgres login role
    # (--postgres); the test creates the role and its grants.
    def __init__(self, pg_settings=None, sidecar_args=("--allow-anonymous",), keep=False, redis_password=None,
                 before_sidecar=None, snapshot_role=None):
        self.before_sidecar = before_sidecar
        self.workdir = tempfile.mkdtemp(prefix="livesync-")
        os.chmod(self.workdir, 0o755)
        self.redis = Redis(self.workdir, password=redis_password)
        settings = {"livesync.redis_url": f"'{self.redis.url}'"}
        settings.update(pg_settings or {})
        self.pg = Postgres(self.workdir, settings)
        self.sidecar = None
        self.sidecar_args = tuple(sidecar_args)
        if snapshot_role:
            self.sidecar_args += ("--postgres", f"host=127.0.0.1 port={self.pg.port} user={snapshot_role} "
                                                "dbname=postgres")
        self.keep = keep

    def __enter__(self):
        try:
            self.redis.start()
            self.pg.start()
            self.pg.psql("CREATE EXTENSION livesync")
            if self.before_sidecar:
                self.before_sidecar(self)
            self.sidecar = Sidecar(self.workdir, self.redis.url, extra=self.sidecar_args).start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_published(self, table, timeout=30):
        """Waits until livesyncd accepts subscriptions to `table` (a publish reaches the
        sidecar through the stream, a few milliseconds after its commit)."""
        def subscribable():
            out = subprocess.run([os.path.join(BUILD, "livesync-cli"), "--url", self.sidecar.url, "--table", table,
                                  "--timeout", "0.2"], capture_output=True, text=True)
            return out.returncode == 0 and "subscribed" in out.stderr
        wait_until(subscribable, timeout, f"{table} to be published to livesyncd")

    def wait_replicator(self, timeout=30):
        wait_until(lambda: self.pg.psql("SELECT redis_connected AND slot_exists FROM livesync.status()") == "t",
                   timeout, "the replicator to connect to Redis and its slot")

    def __exit__(self, *exc):
        with contextlib.suppress(Exception):
            if self.sidecar:
                self.sidecar.stop()
        with contextlib.suppress(Exception):
            self.pg.stop("immediate")
        with contextlib.suppress(Exception):
            self.redis.stop()
        if exc and exc[0] is not None:
            self.dump_logs()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return False

    def dump_logs(self):
        for path in (os.path.join(self.pg.dir, "log"), self.sidecar.log_path if self.sidecar else None):
            if path and os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail = f.read()[-4000:]
                print(f"---- {path} (tail) ----\n{tail}")
