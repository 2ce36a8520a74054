#!/usr/bin/python3
"""End-to-end test of the node daemon with identities from the control plane
(Istio's workload API, type.googleapis.com/istio.workload.Address).

The "node" and its pods are test_node.py's (network namespaces on a bridge,
a cgroup and an app each), but the pods' descriptors carry only uid, netns
and cgroup, as a CNI plugin knows them. The test control plane
(test/controlplane) sends each pod's workload: name, namespace, service
account, trust domain, IP and node. skiff, in the host's namespace with ADS
to the control plane, serves a pod once both have come, with the
certificates of its identity from --certs-dir, and follows the workloads:
a pod-to-pod call is mTLS with the SPIFFE ids from xDS, a new service
account changes the identity used, a removed workload stops the pod being
served, an invalid one is NACKed naming it. Delta xDS (as ztunnel speaks
it) first, then state of the world.

  SKIFF   the skiff binary (default build/skiff, or $BUILD/skiff)

Run under the integration lock (fixed ports 15000, 18000, 18001). Prints
`ok - name` / `not ok - name` per test, then `N passed, N failed`.
"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "xds"))
import test_node as tn  # noqa: E402  (the node: namespaces, pods, logs)
from xds_common import BOOTSTRAP, ControlPlane  # noqa: E402

SKIFF = tn.SKIFF
NODE = "node-it-" + tn.TAG
NS = "shop"
WDS_URL = "type.googleapis.com/istio.workload.Address"
ID_CERTS = os.path.join(tn._tmp, "identities")  # --certs-dir: NS/SA/{cert,key,ca}.pem
state = {}


def bootstrap(api_type):
    """xds_common's ADS bootstrap, with this node's id and the RPC asked for."""
    path = os.path.join(tn._tmp, "node-%s.yaml" % api_type)
    text = BOOTSTRAP.replace("api_type: GRPC", "api_type: " + api_type)
    text = text.replace("sidecar~127.0.0.1~test.default~default.svc.cluster.local, cluster: test",
                        "node~%s, cluster: skiff-node" % tn.TAG)
    assert ("node~" + tn.TAG) in text, "xds_common.BOOTSTRAP changed its node line"
    with open(path, "w") as f:
        f.write(text)
    return path


def admin(path):
    r = tn.sh("curl", "-sf", "http://127.0.0.1:15000" + path, check=False)
    return r.stdout if r.returncode == 0 else None


def issue(sa):
    """The certificates of identity NS/sa where --certs-dir expects them."""
    out = os.path.join(ID_CERTS, NS, sa)
    if not os.path.isdir(out):
        tn.sh(SKIFF, "certs", "issue", "--ca", os.path.join(tn.CERTS, "ca"), "--spiffe",
              spiffe(sa), "--ttl", "1h", "--out", out)
    return out


def spiffe(sa):
    return "spiffe://%s/ns/%s/sa/%s" % (tn.TD, NS, sa)


class Pod(tn.Pod):
    """test_node's pod, whose descriptor names only what a CNI knows."""

    def __init__(self, name, ip, workload_name, sa):
        super().__init__(name, ip)
        self.wname, self.sa = workload_name, sa

    def descriptor(self):
        return {"uid": self.uid, "netns": self.path, "cgroup": self.cgroup}

    def workload(self, node=NODE, **over):
        w = {"uid": self.uid, "name": self.wname, "namespace": NS, "service_account": self.sa,
             "trust_domain": tn.TD, "node": node,
             "addresses": [base64.b64encode(socket.inet_aton(self.ip)).decode()]}
        w.update(over)
        return {"workload": w}

    def listener(self, which):
        return "pod|%s/%s|%s" % (NS, self.wname, which)

    def served(self):
        socks = self.listening()
        return any(a.endswith(":15006") for a in socks) and any(a.endswith(":15001") for a in socks)


def push(*pods, extra=None):
    """The WDS set is exactly these pods' workloads (plus extra)."""
    res = {p.uid: p.workload() for p in pods}
    res.update(extra or {})
    state["cp"].push({"WDS": res})


def wds_acks(nack):
    return state["cp"].call("GET", "/acks?type_url=%s&nack=%d" % (WDS_URL, 1 if nack else 0))


def start_skiff(api_type):
    log = open(os.path.join(tn._tmp, "skiff.log"), "a")
    proc = subprocess.Popen(
        [SKIFF, "run", "--node", "-c", bootstrap(api_type), "--pods-dir", tn.PODS_DIR,
         "--node-name", NODE, "--certs-dir", ID_CERTS, "--bpf-instance", tn.PREFIX,
         "--access-log", tn.ACCESS_LOG, "--sockmap", "on", "--concurrency", "2",
         "--prometheus-port", "0", "--health-port", "0", "--log-level", "debug"],
        stdout=log, stderr=subprocess.STDOUT)
    tn._procs.append(proc)
    tn.wait_for(lambda: proc.poll() is not None or admin("/ready") is not None, "skiff --node")
    assert proc.poll() is None, "skiff exited: " + tn.skiff_log()[-3000:]
    state["proc"] = proc


def stop_skiff():
    proc = state["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, tn.skiff_log()[-3000:]


def setup():
    if os.geteuid() != 0:
        raise AssertionError("needs root (namespaces, cgroups, BPF)")
    os.mkdir(tn.CGROUP_PARENT)
    tn._cleanups.append(lambda: os.rmdir(tn.CGROUP_PARENT))
    tn.sh("ip", "netns", "add", tn.NODE_NS)
    tn._cleanups.append(lambda: tn.sh("ip", "netns", "del", tn.NODE_NS, check=False))
    tn.sh("ip", "-n", tn.NODE_NS, "link", "set", "lo", "up")
    tn.sh("ip", "-n", tn.NODE_NS, "link", "add", "br0", "type", "bridge")
    tn.sh("ip", "-n", tn.NODE_NS, "link", "set", "br0", "up")
    os.mkdir(tn.PODS_DIR)
    tn.sh(SKIFF, "certs", "ca", "--out", os.path.join(tn.CERTS, "ca"), "--trust-domain", tn.TD)
    for sa in ("sa-a", "sa-a2", "sa-b"):
        issue(sa)
    a = Pod("pod-a", tn.NET + "21", "web-a", "sa-a")
    b = Pod("pod-b", tn.NET + "22", "web-b", "sa-b")
    for p in (a, b):
        p.publish()
    cp = ControlPlane({"WDS": {}})
    tn._cleanups.append(cp.stop)
    state.update(cp=cp, pods=(a, b))
    start_skiff("DELTA_GRPC")


# ---------------------------------------------------------------- tests ----

tests = []


def test(fn):
    tests.append(fn)
    return fn


def check_call(src, dst, src_sa):
    """src's app calls dst's app, captured, over mTLS as src's identity from
    xDS; the access log of dst's inbound says who called."""
    r = src.call(dst)
    rep = r["reply"]
    assert rep["bytes"] == tn.N_BYTES and rep["sha256"] == r["sha256"], "%s got other bytes" % dst.name
    assert r["peer"] == ["127.0.0.1", 15001], "%s's app was not captured: %s" % (src.name, r["peer"])
    assert rep["peer"][0] == "127.0.0.6", "%s's app was not reached through skiff: %s" % (dst.name, rep)
    inbound = tn.flow_logged(dst.listener("virtualInbound"), downstream_peer_uri_san=spiffe(src_sa),
                             original_destination="%s:8080" % dst.ip)
    assert inbound["downstream_remote_address"].startswith(src.ip + ":"), inbound
    tn.flow_logged(src.listener("virtualOutbound"), original_destination="%s:8080" % dst.ip,
                   upstream_cluster="pod|%s/%s|outbound" % (NS, src.wname))


@test
def descriptors_alone_wait_for_their_workloads():
    a, b = state["pods"]
    tn.wait_for(lambda: all("pod %s (%s.json): waits for its workload" % (p.uid, p.name)
                            in tn.skiff_log() for p in (a, b)), "the wait to be logged")
    assert not a.listening() and not b.listening()
    assert wds_acks(nack=False), "the (empty) WDS response was not ACKed"


@test
def workloads_from_xds_complete_the_pods():
    a, b = state["pods"]
    other_node = {"0000-0000": {"workload": {"uid": "0000-0000", "name": "elsewhere", "namespace": NS,
                                             "node": "another-node"}}}
    lonely = {"1111-1111": {"workload": {"uid": "1111-1111", "name": "lonely", "namespace": NS,
                                         "node": NODE}}}
    push(a, b, extra=dict(other_node, **lonely))
    tn.wait_for(lambda: a.served() and b.served(), "both pods' listeners", timeout=15)
    # Their IPs came from xDS too: the inbound listener is on the pod's IP.
    assert "%s:15006" % a.ip in a.listening(), a.listening()
    check_call(a, b, "sa-a")
    check_call(b, a, "sa-b")
    log = tn.skiff_log()
    assert "workload %s/lonely (1111-1111): waits for its network namespace" % NS in log
    assert "elsewhere" not in log, "a workload of another node was considered"
    # /config_dump lists every workload the control plane sent, with its
    # version and when it was applied, as for the other resources
    dump = {c["@type"].rsplit(".", 1)[1]: c for c in json.loads(admin("/config_dump"))["configs"]}
    got = {w["workload"]["name"]: w for w in dump["WorkloadsConfigDump"]["dynamic_workloads"]}
    assert {a.uid, b.uid, "0000-0000", "1111-1111"} <= set(got), sorted(got)
    assert all(w["version_info"] and w["last_updated"].endswith("Z") for w in got.values()), got


@test
def invalid_workload_is_nacked_by_name():
    a, b = state["pods"]
    before = len(wds_acks(nack=True))
    bad = {"2222": {"workload": {"uid": "2222", "name": "Bad_Name", "namespace": NS, "node": NODE}}}
    push(a, b, extra=bad)
    tn.wait_for(lambda: len(wds_acks(nack=True)) > before, "a WDS NACK")
    msg = wds_acks(nack=True)[-1]["error_detail"]["message"]
    assert msg == 'workload "2222": name: "Bad_Name": expected a DNS-1123 subdomain', msg
    assert a.served() and b.served()
    check_call(a, b, "sa-a")
    push(a, b)


@test
def new_service_account_changes_the_identity():
    a, b = state["pods"]
    a.sa = "sa-a2"
    push(a, b)
    tn.wait_for(lambda: "pod %s/web-a (%s): descriptor or workload changed" % (NS, a.uid)
                in tn.skiff_log(), "pod-a's identity change")
    # A destination pod-a never called: a full handshake, with the new
    # certificate (nothing listens on 9090; the handshake is what counts).
    tn.sh(*a.cmd(tn.PY, tn.APP, "client", b.ip, "9090", "10"), check=False)
    tn.flow_logged(b.listener("virtualInbound"), downstream_peer_uri_san=spiffe("sa-a2"),
                   original_destination="%s:9090" % b.ip)
    called_before_sees_the_new_identity(a, b)
    probe = ("import json, socket, ssl, sys\n"
             "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
             "ctx.check_hostname = False\n"
             "ctx.load_verify_locations(sys.argv[3])\n"
             "ctx.load_cert_chain(sys.argv[4], sys.argv[5])\n"
             "ctx.set_alpn_protocols(['skiff-tcp'])\n"
             "s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5))\n"
             "print(json.dumps(s.getpeercert()['subjectAltName']))\n")
    certs = issue("sa-b")
    out = tn.sh("nsenter", "--net=" + b.path, tn.PY, "-c", probe, a.ip, "15006",
                os.path.join(certs, "ca.pem"), os.path.join(certs, "cert.pem"),
                os.path.join(certs, "key.pem")).stdout
    assert json.loads(out) == [["URI", spiffe("sa-a2")]], "pod-a presented %s" % out


def called_before_sees_the_new_identity(a, b):
    """A destination pod-a called before the change: the worker's TLS
    session cache must not resume a session made under the old identity
    (a resumed TLS 1.3 session keeps the identities of its first
    handshake); sessions are bound to the TLS context that made them."""
    r = a.call(b)
    assert r["reply"]["bytes"] == tn.N_BYTES
    tn.flow_logged(b.listener("virtualInbound"), downstream_peer_uri_san=spiffe(a.sa),
                   original_destination="%s:8080" % b.ip)


@test
def istiod_uids_are_matched_by_namespace_and_name():
    """istiod keys a workload "<cluster>//Pod/<ns>/<name>", not by the pod's
    metadata.uid: a descriptor that names the pod is matched by namespace
    and name, and takes that workload's identity (here another service
    account, to tell it from the one pod-b had)."""
    a, b = state["pods"]
    b.descriptor = lambda: {"uid": b.uid, "netns": b.path, "cgroup": b.cgroup,
                            "name": b.wname, "namespace": NS}
    changed = "pod %s/web-b (%s): descriptor or workload changed" % (NS, b.uid)
    b.publish()
    tn.wait_for(lambda: b.served(), "pod-b served from its new descriptor")
    before = tn.skiff_log().count(changed)
    istiod = "Kubernetes//Pod/%s/%s" % (NS, b.wname)
    state["cp"].push({"WDS": {a.uid: a.workload(),
                              istiod: b.workload(uid=istiod, service_account="sa-a")}})
    tn.wait_for(lambda: tn.skiff_log().count(changed) > before, "pod-b's new identity")
    tn.wait_for(lambda: b.served(), "pod-b served again")
    check_call(b, a, "sa-a")
    # Back to pod-b's own workload, then to what a CNI knows, each change
    # waited for: the next test must not see this one's events land late.
    before = tn.skiff_log().count(changed)
    push(a, b)
    tn.wait_for(lambda: tn.skiff_log().count(changed) > before, "pod-b's own identity back")
    del b.descriptor  # resolves to the same pod: nothing to serve anew
    b.publish()
    tn.wait_for(lambda: b.served(), "pod-b served from its plain descriptor")


@test
def removed_workload_stops_the_pod():
    a, b = state["pods"]
    removed = "pod %s/web-b (%s): removed" % (NS, b.uid)
    serving = "pod %s/web-b (%s): serving in" % (NS, b.uid)
    before = tn.skiff_log().count(removed)
    push(a)
    tn.wait_for(lambda: tn.skiff_log().count(removed) > before, "pod-b removed")
    tn.wait_for(lambda: not b.listening(), "pod-b's listening sockets to close")
    tn.wait_for(lambda: not os.path.exists("/sys/fs/bpf/skiff/" + b.instance), "pod-b's pins to go")
    assert a.served()
    before = tn.skiff_log().count(serving)
    push(a, b)
    tn.wait_for(lambda: tn.skiff_log().count(serving) > before, "pod-b back with its workload")
    tn.wait_for(lambda: b.served(), "pod-b's listeners")
    check_call(b, a, "sa-b")


@test
def state_of_the_world_serves_the_same():
    a, b = state["pods"]
    stop_skiff()
    assert not a.listening() and not b.listening()
    start_skiff("GRPC")
    tn.wait_for(lambda: a.served() and b.served(), "both pods' listeners over SotW", timeout=15)
    check_call(b, a, "sa-b")
    push(a)
    tn.wait_for(lambda: not b.listening(), "pod-b gone over SotW")
    stop_skiff()


if __name__ == "__main__":
    tn.main(setup, tests)
