#!/usr/bin/python3
"""End-to-end test of the BPF datapath (issue 3, "What shows it works").

Two pods, each a network namespace on a veth to a bridge namespace and a
cgroup of its own, each with an application and a sidecar (`skiff run` as
uid 1337; SKIFF_TEST_PROXY=python uses testproxy.py instead). The datapath
is attached to each pod with `skiff bpf attach`, as the injected init step
would, before the sidecar starts. Every byte stays inside these namespaces.

  SKIFF            the skiff binary (default build/skiff, or $BUILD/skiff)
  SKIFF_BPF_CLI    binary serving `bpf` and `flows` (default: SKIFF)
  SKIFF_TEST_PROXY skiff (default) or python

Prints `ok - name` / `not ok - name` per test, then `N passed, N failed`;
exits non-zero on any failure. Removes every namespace, cgroup and pin it
created, on failure and on SIGINT/SIGTERM too.
"""
import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD = os.environ.get("BUILD", "build")
SKIFF = os.environ.get("SKIFF", os.path.join(ROOT, BUILD, "skiff"))
SKIFF_CLI = os.environ.get("SKIFF_BPF_CLI", SKIFF)
PROXY = os.environ.get("SKIFF_TEST_PROXY", "skiff")
PY = "/usr/bin/python3"
TAG = str(os.getpid() % 100000)
PROXY_UID = 1337
N_BYTES = 300000

_procs = []
_cleanups = []
_tmp = tempfile.mkdtemp(prefix="skiff-bpf-it-")


def sh(*cmd, check=True, timeout=30):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d: %s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    raise AssertionError("cgroup v2 is not mounted")


def cleanup():
    for p in reversed(_procs):
        if p.poll() is None:
            p.kill()
            p.wait()
    while _cleanups:
        try:
            _cleanups.pop()()
        except Exception as e:  # keep cleaning up the rest
            print("# cleanup: %s" % e)


def on_signal(signum, frame):
    sys.exit(128 + signum)  # runs atexit


atexit.register(cleanup)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


class Pod:
    """A netns with eth0 on the bridge, a cgroup, and an instance name."""

    def __init__(self, name, bridge, addrs):
        self.name = name
        self.ns = "sk%s%s" % (name, TAG)
        self.path = "/run/netns/" + self.ns
        self.ip = addrs[0]
        self.instance = "it%s%s" % (name, TAG)
        sh("ip", "netns", "add", self.ns)
        _cleanups.append(lambda: sh("ip", "netns", "del", self.ns, check=False))
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        host_end = "v%s%s" % (name, TAG)
        sh("ip", "-n", bridge, "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
           "netns", self.ns)
        sh("ip", "-n", bridge, "link", "set", host_end, "master", "br0", "up")
        for a in addrs:
            sh("ip", "-n", self.ns, "addr", "add", a + "/24", "dev", "eth0")
        sh("ip", "-n", self.ns, "link", "set", "eth0", "up")
        self.cgroup = os.path.join(CGROUP_PARENT, name)
        os.mkdir(self.cgroup)
        _cleanups.append(lambda: os.rmdir(self.cgroup))

    def cmd(self, *argv, uid=None):
        """argv run inside the pod: its cgroup first, then its netns."""
        pre = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.cgroup,
               "nsenter", "--net=" + self.path]
        if uid is not None:
            pre += ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"]
        return pre + list(argv)

    def spawn(self, *argv, uid=None):
        out = open(os.path.join(_tmp, "%s-%d.out" % (self.name, len(_procs))), "w+")
        p = subprocess.Popen(self.cmd(*argv, uid=uid), stdout=out, stderr=subprocess.STDOUT)
        p.out = out
        _procs.append(p)
        return p

    def run(self, *argv, uid=None):
        return sh(*self.cmd(*argv, uid=uid))

    def attach(self, *args):
        sh(SKIFF_CLI, "bpf", "attach", "--instance", self.instance, "--cgroup", self.cgroup,
           "--netns", self.path, *args)
        _cleanups.append(lambda: sh(SKIFF_CLI, "bpf", "detach", "--instance", self.instance,
                                    check=False))

    def stats(self):
        r = sh("nsenter", "--net=" + self.path, "curl", "-sf", "http://127.0.0.1:15000/stats",
               check=False)
        if r.returncode != 0:
            return None
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.rpartition(": ")
            if k and v.isdigit():
                out[k] = int(v)
        return out

    def stat(self, name):
        return (self.stats() or {}).get(name, 0)

    def counters(self):
        """The BPF reason counters from `skiff bpf status`."""
        out, on = {}, False
        for line in sh(SKIFF_CLI, "bpf", "status", "--instance", self.instance).stdout.splitlines():
            if line.strip() == "counters":
                on = True
            elif on and line.startswith("    "):
                k, v = line.split()
                out[k] = int(v)
        return out

    def flows(self):
        return json.loads(sh(SKIFF_CLI, "flows", "--instance", self.instance, "--json").stdout)


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def start_proxy(pod):
    if PROXY == "python":
        p = pod.spawn(PY, os.path.join(HERE, "testproxy.py"), "--uid", str(PROXY_UID))
    else:
        p = pod.spawn(SKIFF, "run", "--concurrency", "2", "--log-level", "warn", uid=PROXY_UID)
    wait_for(lambda: p.poll() is not None or pod.stats() is not None, "%s's proxy" % pod.name)
    assert p.poll() is None, "proxy exited: " + open(p.out.name).read()
    return p


def server_lines(p):
    with open(p.out.name) as f:
        return [json.loads(l) for l in f if l.startswith("{")]


def client(pod, host, port, n=N_BYTES):
    out = json.loads(pod.run(PY, os.path.join(HERE, "app.py"), "client", host, str(port),
                             str(n)).stdout)
    assert out["reply"] is not None, "no reply"
    return out


OUT_TOTAL = "listener.0.0.0.0_15001.downstream_cx_total"
IN_TOTAL = "listener.0.0.0.0_15006.downstream_cx_total"
OUT_RX = "listener.0.0.0.0_15001.downstream_cx_rx_bytes_total"

# ---------------------------------------------------------------- setup ----

CGROUP_PARENT = os.path.join(cgroup2_root(), "skiff-it-" + TAG)
state = {"captured": 0}


def setup():
    if os.geteuid() != 0:
        raise AssertionError("needs root (namespaces, cgroups, BPF)")
    if sh(SKIFF_CLI, "bpf", "--help", check=False).returncode != 0:
        raise AssertionError("%s has no `bpf` subcommand: wire bpf_cli_main() into proxy/main.c "
                             "(or set SKIFF_BPF_CLI)" % SKIFF_CLI)
    os.mkdir(CGROUP_PARENT)
    _cleanups.append(lambda: os.rmdir(CGROUP_PARENT))
    bridge = "skbr" + TAG
    sh("ip", "netns", "add", bridge)
    _cleanups.append(lambda: sh("ip", "netns", "del", bridge, check=False))
    sh("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", bridge, "link", "set", "br0", "up")
    a = Pod("a", bridge, ["198.51.100.1"])
    b = Pod("b", bridge, ["198.51.100.2", "198.51.100.3"])
    # A: 9999 and 198.51.100.3 go direct. B: 9999 and 9998 are not steered, so
    # "direct" holds end to end and B's app sees A's own address.
    a.attach("--sockmap", "on", "--exclude-outbound-ports", "9999",
             "--exclude-cidrs", "198.51.100.3/32")
    b.attach("--sockmap", "on", "--exclude-inbound-ports", "9998,9999,15020,15021,15090")
    state["proxy_a"] = start_proxy(a)
    state["proxy_b"] = start_proxy(b)
    srv = b.spawn(PY, os.path.join(HERE, "app.py"), "server", "0.0.0.0", "8080", "9999", "9998")
    wait_for(lambda: "ready" in open(srv.out.name).read(), "B's app")
    state.update(a=a, b=b, server=srv)


# ---------------------------------------------------------------- tests ----

tests = []


def test(fn):
    tests.append(fn)
    return fn


@test
def captured_through_both_sidecars():
    a, b = state["a"], state["b"]
    out0, in0, rx0 = a.stat(OUT_TOTAL), b.stat(IN_TOTAL), a.stat(OUT_RX)
    r = client(a, "198.51.100.2", 8080)
    state["captured"] += 1
    rep = r["reply"]
    assert rep["bytes"] == N_BYTES and rep["sha256"] == r["sha256"], "B's app got other bytes: %s" % rep
    assert rep["local"] == ["198.51.100.2", 8080], "B's app saw local %s" % rep["local"]
    assert rep["peer"][0] == "127.0.0.6", "B's app was not reached through B's sidecar: %s" % rep
    assert r["peer"] == ["127.0.0.1", 15001], "A's app was not captured: peer %s" % r["peer"]
    wait_for(lambda: a.stat(OUT_RX) >= rx0 + N_BYTES, "A's outbound rx bytes")
    assert a.stat(OUT_TOTAL) == out0 + 1, "A's outbound listener count"
    assert b.stat(IN_TOTAL) == in0 + 1, "B's inbound listener count"


@test
def sockmap_redirected_and_flows_recorded():
    a, b = state["a"], state["b"]
    ca, cb = a.counters(), b.counters()
    assert ca.get("msg_redirected", 0) > 0, "A redirected nothing: %s" % ca
    assert cb.get("msg_redirected", 0) > 0, "B redirected nothing: %s" % cb
    assert cb.get("lookup_steered", 0) >= 1, cb
    fa = [f for f in a.flows() if f["kind"] == "outbound" and f["orig_dst"] == "198.51.100.2:8080"]
    assert fa, "no outbound flow to 198.51.100.2:8080 in A: %s" % a.flows()
    assert any(f["redir_bytes_c2s"] > 0 and f["accelerated"] for f in fa), fa
    assert any(f["bytes_c2s"] == N_BYTES for f in fa), "A's flow bytes: %s" % fa
    fb = b.flows()
    assert any(f["kind"] == "inbound" and f["orig_dst"] == "198.51.100.2:8080" for f in fb), fb
    assert any(f["kind"] == "local" and f["client"].startswith("127.0.0.6:") for f in fb), fb


@test
def bulk_transfer_crosses_redirect_window_byte_exact():
    a = state["a"]
    before = a.counters().get("msg_window_fallback", 0)
    n = 4 << 20  # over the 1 MiB window: the app->proxy direction falls back to TCP
    r = client(a, "198.51.100.2", 8080, n)
    state["captured"] += 1
    assert r["reply"]["bytes"] == n and r["reply"]["sha256"] == r["sha256"], r["reply"]
    assert a.counters().get("msg_window_fallback", 0) > before, "no window fallback"


@test
def excluded_port_goes_direct():
    a, b = state["a"], state["b"]
    out0, in0 = a.stat(OUT_TOTAL), b.stat(IN_TOTAL)
    r = client(a, "198.51.100.2", 9999)
    assert r["peer"] == ["198.51.100.2", 9999], r
    assert r["reply"]["peer"][0] == "198.51.100.1", "B's app saw %s, not A" % r["reply"]["peer"]
    assert r["reply"]["sha256"] == r["sha256"]
    assert (a.stat(OUT_TOTAL), b.stat(IN_TOTAL)) == (out0, in0), "a proxy counter moved"


@test
def excluded_cidr_goes_direct():
    a, b = state["a"], state["b"]
    out0, in0 = a.stat(OUT_TOTAL), b.stat(IN_TOTAL)
    r = client(a, "198.51.100.3", 9998)
    assert r["peer"] == ["198.51.100.3", 9998], r
    assert r["reply"]["peer"][0] == "198.51.100.1", r["reply"]
    assert (a.stat(OUT_TOTAL), b.stat(IN_TOTAL)) == (out0, in0), "a proxy counter moved"
    assert a.counters().get("connect_excluded_cidr", 0) >= 1


@test
def proxy_connections_not_recaptured():
    a = state["a"]
    c = a.counters()
    assert c.get("connect_proxy_uid", 0) >= state["captured"], c
    assert a.stat(OUT_TOTAL) == state["captured"], \
        "outbound listener saw %d connections for %d captured" % (a.stat(OUT_TOTAL), state["captured"])
    assert any(f["kind"] == "upstream" and f["server"] == "198.51.100.2:8080" for f in a.flows())


@test
def bpftool_dump_shows_btf_field_names():
    a = state["a"]
    out = sh("bpftool", "map", "dump", "pinned",
             "/sys/fs/bpf/skiff/%s/flows" % a.instance).stdout
    for field in ("saddr", "dport", "bytes_c2s", "redir_bytes_c2s", "srtt_us", "orig_dport",
                  "cgroup_id", "start_ns"):
        assert '"%s"' % field in out, "no %s in:\n%s" % (field, out[:2000])


@test
def status_shows_programs_and_links():
    out = sh(SKIFF_CLI, "bpf", "status", "--instance", state["a"].instance).stdout
    for name in ("connect4", "connect6", "getsockopt", "sockops", "sk_lookup", "sk_msg"):
        assert any(l.split()[:1] == [name] and "prog" in l for l in out.splitlines()), out
    assert "inbound_listener    1 socket" in out or "socket(s)" in out, out


@test
def detach_goes_direct_and_leaves_nothing():
    a, b = state["a"], state["b"]
    status = sh(SKIFF_CLI, "bpf", "status", "--instance", a.instance).stdout
    prog_ids = [l.split()[2] for l in status.splitlines() if " prog " in l]
    for pod in (a, b):
        sh(SKIFF_CLI, "bpf", "detach", "--instance", pod.instance)
        assert not os.path.exists("/sys/fs/bpf/skiff/" + pod.instance)
    left = [d for d in os.listdir("/sys/fs/bpf/skiff")] if os.path.exists("/sys/fs/bpf/skiff") else []
    assert not any(d.endswith(TAG) for d in left), left
    shown = sh("bpftool", "prog", "show").stdout
    for pid in prog_ids:
        assert not any(l.startswith(pid + ":") for l in shown.splitlines()), "prog %s still loaded" % pid
    out0, in0 = a.stat(OUT_TOTAL), b.stat(IN_TOTAL)
    r = client(a, "198.51.100.2", 8080)
    assert r["peer"] == ["198.51.100.2", 8080] and r["reply"]["peer"][0] == "198.51.100.1", r
    assert r["reply"]["sha256"] == r["sha256"]
    assert (a.stat(OUT_TOTAL), b.stat(IN_TOTAL)) == (out0, in0)
    assert sh(SKIFF_CLI, "bpf", "detach", "--instance", a.instance).returncode == 0  # idempotent


@test
def sidecar_shape_run_attaches_at_start_and_detaches_at_exit():
    """`skiff run --bpf-cgroup` attaches the datapath itself and removes it
    at exit: the sidecar shape, without an init step. Run as root here (it
    needs CAP_BPF), so UID 0 is the proxy's and the app runs as UID 1000."""
    a = state["a"]
    proxy = state["proxy_a"]
    proxy.terminate()
    proxy.wait(timeout=10)
    instance = "sc" + TAG
    p = a.spawn(SKIFF, "run", "--concurrency", "1", "--bpf-cgroup", a.cgroup, "--bpf-netns",
                a.path, "--bpf-instance", instance, "--proxy-uid", "0")
    _cleanups.append(lambda: sh(SKIFF_CLI, "bpf", "detach", "--instance", instance, check=False))
    wait_for(lambda: p.poll() is not None or a.stats() is not None, "the self-attaching sidecar")
    assert p.poll() is None, open(p.out.name).read()
    assert os.path.exists("/sys/fs/bpf/skiff/" + instance)
    out0 = a.stat(OUT_TOTAL)
    r = json.loads(a.run(PY, os.path.join(HERE, "app.py"), "client", "198.51.100.2", "8080",
                         "1000", uid=1000).stdout)
    assert r["reply"] and r["reply"]["sha256"] == r["sha256"], r
    assert a.stat(OUT_TOTAL) == out0 + 1  # captured by the datapath skiff attached
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    assert not os.path.exists("/sys/fs/bpf/skiff/" + instance)
    assert "eBPF datapath attached" in open(p.out.name).read()


def main():
    passed = failed = 0
    try:
        setup()
    except Exception:
        print("not ok - setup")
        for line in traceback.format_exc().splitlines():
            print("#   " + line)
        print("0 passed, 1 failed")
        sys.exit(1)
    for fn in tests:
        started = time.monotonic()
        try:
            fn()
        except Exception:
            failed += 1
            print("not ok - %s" % fn.__name__)
            for line in traceback.format_exc().splitlines():
                print("#   " + line)
        else:
            passed += 1
            print("ok - %s (%.1fs)" % (fn.__name__, time.monotonic() - started))
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
