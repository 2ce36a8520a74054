#!/usr/bin/python3
"""End-to-end test of the node-daemon shape (issue 7): one `skiff run --node`
serving every pod of a "node".

The node is a network namespace with a bridge; each pod is a network
namespace on that bridge plus a cgroup, with an application (app.py of the
BPF tests) and an X.509-SVID of its own (skiff certs). skiff runs in the
node's namespace, as a DaemonSet with hostNetwork would, and learns the pods
from descriptors in a directory. Pod-to-pod connections are captured in the
source pod (eBPF, attached by skiff per pod), carried over mTLS with each
pod's own SPIFFE id, and delivered to the destination pod's app from
127.0.0.6. A fourth pod is added and removed at run time. Every byte stays
inside these namespaces; every namespace, cgroup and pin is removed, on
failure and on SIGINT/SIGTERM too.

  SKIFF   the skiff binary (default build/skiff, or $BUILD/skiff)

Prints `ok - name` / `not ok - name` per test, then `N passed, N failed`.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD = os.environ.get("BUILD", "build")
SKIFF = os.environ.get("SKIFF", os.path.join(ROOT, BUILD, "skiff"))
APP = os.path.join(ROOT, "test", "integration", "bpf", "app.py")
PY = "/usr/bin/python3"
TAG = str(os.getpid() % 100000)
PREFIX = "nt" + TAG  # the pods' eBPF instances: nt<TAG>-<uid>
NET = "203.0.113."
TD = "cluster.local"
N_BYTES = 200000

_procs = []
_cleanups = []
_tmp = tempfile.mkdtemp(prefix="skiff-node-it-")
os.chmod(_tmp, 0o755)
_cleanups.append(lambda: shutil.rmtree(_tmp, ignore_errors=True))  # runs last


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


def stop_cgroup(cg):
    """Ends every process of cgroup cg."""
    if not os.path.isdir(cg):
        return
    if os.path.exists(os.path.join(cg, "cgroup.kill")):
        with open(os.path.join(cg, "cgroup.kill"), "w") as f:
            f.write("1")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(os.path.join(cg, "cgroup.procs")) as f:
            if not f.read().strip():
                return
        time.sleep(0.05)


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

CGROUP_PARENT = os.path.join(cgroup2_root(), "skiff-node-it-" + TAG)
NODE_NS = "sknode" + TAG
PODS_DIR = os.path.join(_tmp, "pods")
CERTS = os.path.join(_tmp, "certs")
ACCESS_LOG = os.path.join(_tmp, "access.log")
state = {}


class Pod:
    """A netns with eth0 on the node's bridge, a cgroup, an identity, an app."""

    def __init__(self, name, ip):
        self.name = name
        self.uid = str(uuid.uuid4())
        self.ns = "sk%s%s" % (name, TAG)
        self.path = "/run/netns/" + self.ns
        self.ip = ip
        self.instance = "%s-%s" % (PREFIX, self.uid)
        self.spiffe = "spiffe://%s/ns/default/sa/%s" % (TD, name)
        sh("ip", "netns", "add", self.ns)
        _cleanups.append(lambda: sh("ip", "netns", "del", self.ns, check=False))
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        host_end = "v%s%s" % (name[-1], TAG)
        sh("ip", "-n", NODE_NS, "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
           "netns", self.ns)
        sh("ip", "-n", NODE_NS, "link", "set", host_end, "master", "br0", "up")
        sh("ip", "-n", self.ns, "addr", "add", ip + "/24", "dev", "eth0")
        sh("ip", "-n", self.ns, "link", "set", "eth0", "up")
        self.cgroup = os.path.join(CGROUP_PARENT, name)
        os.mkdir(self.cgroup)
        _cleanups.append(self.remove_cgroup)
        # The daemon removes its pins itself; this is for a failed run.
        _cleanups.append(lambda: sh(SKIFF, "bpf", "detach", "--instance", self.instance,
                                    check=False))
        self.certs = os.path.join(CERTS, name)
        sh(SKIFF, "certs", "issue", "--ca", os.path.join(CERTS, "ca"), "--spiffe", self.spiffe,
           "--ttl", "1h", "--out", self.certs)
        self.server = self.spawn(PY, APP, "server", "0.0.0.0", "8080")
        wait_for(lambda: "ready" in open(self.server.out.name).read(), "%s's app" % name)

    def remove_cgroup(self):
        stop_cgroup(self.cgroup)
        leaf = os.path.join(self.cgroup, "skiff-node")
        if os.path.isdir(leaf):
            os.rmdir(leaf)
        os.rmdir(self.cgroup)

    def descriptor(self):
        return {"uid": self.uid, "name": self.name, "namespace": "default",
                "service_account": self.name, "netns": self.path, "cgroup": self.cgroup,
                "ip": self.ip, "cert": os.path.join(self.certs, "cert.pem"),
                "key": os.path.join(self.certs, "key.pem"),
                "ca": os.path.join(self.certs, "ca.pem")}

    def publish(self):
        """Writes the pod's descriptor as a CNI plugin would: whole, by rename."""
        tmp = os.path.join(PODS_DIR, ".%s.tmp" % self.name)
        with open(tmp, "w") as f:
            json.dump(self.descriptor(), f)
        os.rename(tmp, os.path.join(PODS_DIR, self.name + ".json"))

    def unpublish(self):
        os.unlink(os.path.join(PODS_DIR, self.name + ".json"))

    def cmd(self, *argv):
        """argv run inside the pod: its cgroup first, then its netns."""
        return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.cgroup,
                "nsenter", "--net=" + self.path] + list(argv)

    def spawn(self, *argv):
        out = open(os.path.join(_tmp, "%s-%d.out" % (self.name, len(_procs))), "w+")
        p = subprocess.Popen(self.cmd(*argv), stdout=out, stderr=subprocess.STDOUT)
        p.out = out
        _procs.append(p)
        return p

    def call(self, other, n=N_BYTES):
        """app.py client from this pod to other's app; returns its JSON."""
        out = json.loads(sh(*self.cmd(PY, APP, "client", other.ip, "8080", str(n))).stdout)
        assert out["reply"] is not None, "no reply from %s" % other.name
        return out

    def listening(self):
        """skiff's listening TCP sockets in the pod's namespace (ports 15001
        and 15006), as "addr:port"."""
        out = sh("nsenter", "--net=" + self.path, "ss", "-Hltn").stdout
        socks = [line.split()[3] for line in out.splitlines() if line.strip()]
        return [s for s in socks if s.endswith(":15001") or s.endswith(":15006")]

    def cgroup_programs(self):
        """Programs attached to the pod's cgroup (bpftool, effective or not)."""
        out = sh("bpftool", "cgroup", "show", self.cgroup, "-j").stdout.strip()
        return json.loads(out) if out else []

    def counters(self):
        out, on = {}, False
        for line in sh(SKIFF, "bpf", "status", "--instance", self.instance).stdout.splitlines():
            if line.strip() == "counters":
                on = True
            elif on and line.startswith("    "):
                k, v = line.split()
                out[k] = int(v)
        return out


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def skiff_log():
    with open(os.path.join(_tmp, "skiff.log")) as f:
        return f.read()


def access_lines():
    if not os.path.exists(ACCESS_LOG):
        return []
    with open(ACCESS_LOG) as f:
        return [json.loads(l) for l in f if l.startswith("{")]


def flow_logged(listener, **fields):
    """The access log line of listener whose fields match, waiting for the
    workers' 100 ms flush."""
    def find():
        for line in access_lines():
            if line.get("listener_name") == listener and \
                    all(line.get(k) == v for k, v in fields.items()):
                return line
        return None
    return wait_for(find, "an access log line of %s with %s" % (listener, fields))


def admin(path):
    r = sh("nsenter", "--net=/run/netns/" + NODE_NS, "curl", "-sf",
           "http://127.0.0.1:15000" + path, check=False)
    return r.stdout if r.returncode == 0 else None


def node_bootstrap():
    path = os.path.join(_tmp, "node.yaml")
    with open(path, "w") as f:
        f.write("node: {id: node~" + TAG + ", cluster: skiff-node}\n"
                "admin:\n  address: {socket_address: {address: 127.0.0.1, port_value: 15000}}\n")
    return path


# ---------------------------------------------------------------- setup ----

def setup():
    if os.geteuid() != 0:
        raise AssertionError("needs root (namespaces, cgroups, BPF)")
    os.mkdir(CGROUP_PARENT)
    _cleanups.append(lambda: os.rmdir(CGROUP_PARENT))
    sh("ip", "netns", "add", NODE_NS)
    _cleanups.append(lambda: sh("ip", "netns", "del", NODE_NS, check=False))
    sh("ip", "-n", NODE_NS, "link", "set", "lo", "up")
    sh("ip", "-n", NODE_NS, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", NODE_NS, "link", "set", "br0", "up")
    os.mkdir(PODS_DIR)
    sh(SKIFF, "certs", "ca", "--out", os.path.join(CERTS, "ca"), "--trust-domain", TD)
    pods = [Pod("pod-a", NET + "11"), Pod("pod-b", NET + "12"), Pod("pod-c", NET + "13")]
    for p in pods:
        p.publish()
    # The daemon: in the node's namespace (hostNetwork), in the test's own
    # cgroup, never in a pod's.
    log = open(os.path.join(_tmp, "skiff.log"), "w")
    proc = subprocess.Popen(
        ["nsenter", "--net=/run/netns/" + NODE_NS, SKIFF, "run", "--node", "-c", node_bootstrap(),
         "--pods-dir", PODS_DIR, "--bpf-instance", PREFIX, "--access-log", ACCESS_LOG,
         "--sockmap", "on", "--concurrency", "2", "--prometheus-port", "0",
         "--health-port", "0", "--log-level", "debug"],
        stdout=log, stderr=subprocess.STDOUT)
    _procs.append(proc)
    wait_for(lambda: proc.poll() is not None or admin("/ready") is not None, "skiff --node")
    assert proc.poll() is None, "skiff exited: " + skiff_log()
    for p in pods:
        wait_for(lambda: any(a.endswith(":15006") for a in p.listening()) and
                 any(a.endswith(":15001") for a in p.listening()), "%s's listeners" % p.name)
    state.update(pods=pods, proc=proc)


# ---------------------------------------------------------------- tests ----

tests = []


def test(fn):
    tests.append(fn)
    return fn


def check_call(src, dst):
    """src's app calls dst's app through both pods' proxies, over mTLS with
    src's identity, and the logs say so."""
    r = src.call(dst)
    rep = r["reply"]
    assert rep["bytes"] == N_BYTES and rep["sha256"] == r["sha256"], "%s got other bytes" % dst.name
    assert r["peer"] == ["127.0.0.1", 15001], "%s's app was not captured: %s" % (src.name, r["peer"])
    assert rep["local"] == [dst.ip, 8080], rep
    assert rep["peer"][0] == "127.0.0.6", "%s's app was not reached through skiff: %s" % (dst.name, rep)
    inbound = flow_logged("pod|default/%s|virtualInbound" % dst.name,
                          downstream_peer_uri_san=src.spiffe, original_destination="%s:8080" % dst.ip)
    assert inbound["downstream_remote_address"].startswith(src.ip + ":"), \
        "the mTLS connection did not come from %s's own address: %s" % (src.name, inbound)
    assert inbound["upstream_cluster"] == "pod|default/%s|inbound" % dst.name, inbound
    flow_logged("pod|default/%s|virtualOutbound" % src.name,
                original_destination="%s:8080" % dst.ip,
                upstream_cluster="pod|default/%s|outbound" % src.name)


@test
def pods_call_each_other_over_mtls_with_their_own_ids():
    a, b, c = state["pods"]
    for src, dst in ((a, b), (b, c), (c, a), (a, c)):
        check_call(src, dst)


@test
def each_inbound_presents_its_own_pods_identity():
    """A client with pod C's certificate sees each pod's own SPIFFE id on its
    port 15006."""
    a, b, c = state["pods"]
    probe = ("import json, socket, ssl, sys\n"
             "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
             "ctx.check_hostname = False\n"
             "ctx.load_verify_locations(sys.argv[3])\n"
             "ctx.load_cert_chain(sys.argv[4], sys.argv[5])\n"
             "ctx.set_alpn_protocols(['skiff-tcp'])\n"
             "s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5))\n"
             "print(json.dumps(s.getpeercert()['subjectAltName']))\n")
    for dst in (a, b):
        out = sh("nsenter", "--net=" + c.path, PY, "-c", probe, dst.ip, "15006",
                 os.path.join(c.certs, "ca.pem"), os.path.join(c.certs, "cert.pem"),
                 os.path.join(c.certs, "key.pem")).stdout
        assert json.loads(out) == [["URI", dst.spiffe]], "%s presented %s" % (dst.name, out)


@test
def same_node_hops_accelerated_socket_to_socket():
    """app <-> skiff inside the source pod moves through the sockmap."""
    a = state["pods"][0]
    c = a.counters()
    assert c.get("msg_redirected", 0) > 0, "nothing redirected in %s: %s" % (a.name, c)
    assert c.get("getsockopt_answered", 0) > 0, c
    assert state["pods"][1].counters().get("lookup_steered", 0) > 0


@test
def pod_added_at_run_time_is_served():
    a = state["pods"][0]
    d = Pod("pod-d", NET + "14")
    state["d"] = d
    d.publish()
    wait_for(lambda: any(x.endswith(":15006") for x in d.listening()) and
             any(x.endswith(":15001") for x in d.listening()), "pod-d's listeners")
    assert os.path.isdir("/sys/fs/bpf/skiff/" + d.instance), "no pins for pod-d"
    check_call(a, d)
    check_call(d, a)


@test
def pod_removed_at_run_time_leaves_nothing():
    d, a = state["d"], state["pods"][0]
    assert d.cgroup_programs(), "pod-d's cgroup had no programs before removal"
    d.unpublish()
    wait_for(lambda: not d.listening(), "pod-d's listening sockets to close")
    wait_for(lambda: not os.path.exists("/sys/fs/bpf/skiff/" + d.instance), "pod-d's pins to go")
    assert d.cgroup_programs() == [], "programs left on pod-d's cgroup: %s" % d.cgroup_programs()
    assert not os.path.exists(os.path.join(d.cgroup, "skiff-node")), "leaf cgroup left"
    assert "pod default/pod-d (%s): removed" % d.uid in skiff_log()
    # The others are still served.
    check_call(a, state["pods"][1])


@test
def exit_cleans_up_every_pod():
    proc = state["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, skiff_log()[-3000:]
    left = [d for d in os.listdir("/sys/fs/bpf/skiff")] if os.path.isdir("/sys/fs/bpf/skiff") else []
    assert not any(d.startswith(PREFIX + "-") for d in left), left
    for p in state["pods"]:
        assert p.cgroup_programs() == [], "%s: %s" % (p.name, p.cgroup_programs())
        assert not os.path.exists(os.path.join(p.cgroup, "skiff-node")), p.name
        assert not p.listening(), "%s: %s" % (p.name, p.listening())


def main(setup_fn=None, tests_run=None):
    """Runs setup, then each test, TAP-style; test_node_xds.py runs its
    own setup and tests through it."""
    setup_fn, tests_run = setup_fn or setup, tests_run if tests_run is not None else tests
    passed = failed = 0
    try:
        setup_fn()
    except Exception:
        print("not ok - setup")
        for line in traceback.format_exc().splitlines():
            print("#   " + line)
        if os.path.exists(os.path.join(_tmp, "skiff.log")):
            for line in skiff_log().splitlines()[-40:]:
                print("#   skiff: " + line)
        print("0 passed, 1 failed")
        sys.exit(1)
    for fn in tests_run:
        started = time.monotonic()
        try:
            fn()
        except Exception:
            failed += 1
            print("not ok - %s" % fn.__name__)
            for line in traceback.format_exc().splitlines():
                print("#   " + line)
            for line in skiff_log().splitlines()[-25:]:
                print("#   skiff: " + line)
        else:
            passed += 1
            print("ok - %s (%.1fs)" % (fn.__name__, time.monotonic() - started))
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
