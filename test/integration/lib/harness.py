"""Integration test harness: runs the real build/skiff binary.

Each test file calls isolate() first: the test process moves into a network
namespace of its own (lo only), so skiff's well-known ports never collide with
anything on the machine and every byte stays inside the namespace. Tests are
plain functions registered with @test; run() prints one `ok`/`not ok` line per
test and a closing `N passed, N failed` line, and exits non-zero on failure.
"""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SKIFF = os.environ.get("SKIFF", os.path.join(ROOT, "build", "skiff"))
CLONE_NEWNET = 0x40000000

_tests = []
_cleanups = []


def after_test(fn):
    """Runs fn once the current test ends, passed or failed."""
    _cleanups.append(fn)


def test(fn):
    _tests.append(fn)
    return fn


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def isolate():
    """Moves this process (and what it starts) into a fresh network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET): run the tests as root")
    sh("ip", "link", "set", "lo", "up")


_libc = ctypes.CDLL(None, use_errno=True)


class Netns:
    """A named network namespace (/run/netns/NAME), deleted after the test.

    `with ns:` moves the calling thread into it: sockets created inside stay
    in that namespace after the block, which is how one test process plays
    the client of one "pod" and the server of another.
    """

    def __init__(self, name):
        self.name = f"{name}-{os.getpid()}"
        self.path = f"/run/netns/{self.name}"
        sh("ip", "netns", "add", self.name)
        after_test(self.delete)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args):
        return sh("ip", "-n", self.name, *args)

    def exec(self, *cmd):
        return sh("nsenter", f"--net={self.path}", *cmd)

    def __enter__(self):
        self._back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        _libc.setns(self._back, CLONE_NEWNET)
        os.close(self._back)

    def delete(self):
        sh("ip", "netns", "del", self.name, check=False)


def veth_pair(a, a_ip, b, b_ip, prefix=24):
    """Joins namespaces a and b with a veth pair, addresses a_ip and b_ip."""
    ends = (f"va{os.getpid() % 100000}", f"vb{os.getpid() % 100000}")
    a.ip("link", "add", ends[0], "type", "veth", "peer", "name", ends[1], "netns", b.name)
    a.ip("addr", "add", f"{a_ip}/{prefix}", "dev", ends[0])
    b.ip("addr", "add", f"{b_ip}/{prefix}", "dev", ends[1])
    a.ip("link", "set", ends[0], "up")
    b.ip("link", "set", ends[1], "up")


def run():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    only = sys.argv[1:]
    passed = failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        started = time.monotonic()
        try:
            fn()
        except Exception:  # a failing test must not stop the others
            failed += 1
            print(f"not ok - {fn.__name__}")
            for line in traceback.format_exc().splitlines():
                print(f"#   {line}")
        else:
            passed += 1
            print(f"ok - {fn.__name__} ({time.monotonic() - started:.1f}s)")
        sys.stdout.flush()
        Skiff.stop_all()
        while _cleanups:
            _cleanups.pop()()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_get(url, method="GET", timeout=5.0):
    """Returns (status, body) of a plain HTTP request."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def tcp_proxy_config(listeners, clusters, admin_port=15000):
    """Bootstrap YAML for tcp_proxy listeners.

    listeners: dicts with name, port, cluster and optional address,
    use_original_dst, idle_timeout, access_log.
    clusters: dicts with name, type (STATIC/ORIGINAL_DST), endpoints [(ip, port)
    or (ip, port, weight)], optional connect_timeout, source_address, lb_policy,
    outlier_detection and health_checks (as in Envoy's Cluster).
    """
    out = ["admin:",
           f"  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}",
           "static_resources:", "  listeners:"]
    for l in listeners:
        out += [f"  - name: {l['name']}",
                f"    address: {{socket_address: {{address: {l.get('address', '127.0.0.1')}, port_value: {l['port']}}}}}"]
        if l.get("use_original_dst"):
            out.append("    use_original_dst: true")
        out += ["    filter_chains:", "    - filters:",
                "      - name: envoy.filters.network.tcp_proxy",
                "        typed_config:",
                '          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
                f"          stat_prefix: {l['name']}",
                f"          cluster: {l['cluster']}"]
        if "idle_timeout" in l:
            out.append(f"          idle_timeout: {l['idle_timeout']}")
        if "access_log" in l:
            out += ["          access_log:",
                    "          - name: envoy.access_loggers.file",
                    "            typed_config:",
                    '              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                    f"              path: {l['access_log']}"]
    out.append("  clusters:")
    for c in clusters:
        out += [f"  - name: {c['name']}",
                f"    type: {c.get('type', 'STATIC')}",
                f"    connect_timeout: {c.get('connect_timeout', '1s')}"]
        if c.get("type") == "ORIGINAL_DST":
            out.append("    lb_policy: CLUSTER_PROVIDED")
        elif "lb_policy" in c:
            out.append(f"    lb_policy: {c['lb_policy']}")
        for field in ("outlier_detection", "health_checks"):
            if field in c:
                out.append(f"    {field}: {json.dumps(c[field])}")
        if "source_address" in c:
            out.append(f"    upstream_bind_config: {{source_address: {{address: {c['source_address']}, port_value: 0}}}}")
        if c.get("endpoints"):
            out += ["    load_assignment:", f"      cluster_name: {c['name']}", "      endpoints:",
                    "      - lb_endpoints:"]
            for ip, port, *weight in c["endpoints"]:
                out.append(f"        - endpoint: {{address: {{socket_address: {{address: {ip}, port_value: {port}}}}}}}")
                if weight:
                    out.append(f"          load_balancing_weight: {weight[0]}")
    return "\n".join(out) + "\n"


class Skiff:
    """A running `skiff run`. Stopped (SIGKILL if it must) after each test."""
    running = []

    def __init__(self, config=None, args=(), admin_port=15000, wait=True, netns=None, uid=None):
        self.dir = tempfile.mkdtemp(prefix="skiff-test-")
        os.chmod(self.dir, 0o755)
        cmd = [SKIFF, "run", "--log-level", "debug"]
        if uid is not None:  # as a sidecar runs: its own uid, never captured
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
        if netns is not None:
            cmd = ["nsenter", f"--net={netns.path}"] + cmd
        self.netns = netns
        if config is not None:
            self.config_path = os.path.join(self.dir, "bootstrap.yaml")
            with open(self.config_path, "w") as f:
                f.write(config)
            cmd += ["-c", self.config_path]
        # The Prometheus and health ports follow the admin port (15000 ->
        # 15090, 15021) so that two instances in one test do not collide.
        if "--prometheus-port" not in args:
            cmd += ["--prometheus-port", str(admin_port + 90)]
        if "--health-port" not in args:
            cmd += ["--health-port", str(admin_port + 21)]
        cmd += list(args)
        self.log_path = os.path.join(self.dir, "skiff.log")
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.proc = subprocess.Popen(cmd, stdout=open(os.path.join(self.dir, "stdout"), "w"),
                                     stderr=open(self.log_path, "w"))
        Skiff.running.append(self)
        if wait:
            wait_for(self.ready, what="skiff admin /ready")

    def get(self, path):
        """(status, body) of an admin request, made from skiff's namespace."""
        if self.netns is None:
            return http_get(self.admin + path, timeout=2)
        with self.netns:
            return http_get(self.admin + path, timeout=2)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"skiff exited {self.proc.returncode}: {self.log()}")
        try:
            return self.get("/ready")[0] == 200
        except OSError:
            return False

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stdout(self):
        with open(os.path.join(self.dir, "stdout")) as f:
            return f.read()

    def stats(self):
        status, body = self.get("/stats")
        assert status == 200, body
        return {k: int(v) for k, v in (line.split(": ") for line in body.splitlines())}

    def stat(self, name):
        return self.stats().get(name, 0)

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=10):
        return self.proc.wait(timeout=timeout)

    @classmethod
    def stop_all(cls):
        for s in cls.running:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        cls.running = []


def connect(port, host="127.0.0.1", timeout=5.0):
    return socket.create_connection((host, port), timeout=timeout)


def recv_all(sock, limit=None):
    chunks, total = [], 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        total += len(data)
        if limit is not None and total >= limit:
            return b"".join(chunks)


def connect_expecting_close(port, seconds=2.0):
    """Connects to a proxy that is expected to drop the connection at once.
    On loopback the drop can beat connect() itself: that counts as prompt."""
    started = time.monotonic()
    try:
        c = connect(port)
    except ConnectionResetError:
        return time.monotonic() - started
    assert closed_within(c, seconds), "connection stayed open"
    return time.monotonic() - started


def closed_within(sock, seconds):
    """True if the peer closes or resets sock within seconds."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]
