#!/usr/bin/env python3
"""The xDS client against a real control plane: test/controlplane (Node,
grpc-js, Envoy's own .proto files), so every resource crosses the wire in
Envoy's encoding. State of the world over ADS: LDS, CDS, EDS."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Skiff, after_test, isolate, run, test, wait_for  # noqa: E402
from peers import Backend  # noqa: E402

ADS_PORT, CONTROL_PORT = 18000, 18001
LISTEN = 10001
OUTAGE_SECONDS = float(os.environ.get("XDS_OUTAGE_SECONDS", "30"))

BOOTSTRAP = f"""\
node: {{id: sidecar~127.0.0.1~test.default~default.svc.cluster.local, cluster: test}}
admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: 15000}}}}}}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{{envoy_grpc: {{cluster_name: xds-grpc}}}}]
  lds_config: {{ads: {{}}, resource_api_version: V3}}
  cds_config: {{ads: {{}}, resource_api_version: V3}}
static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: xds-grpc
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {ADS_PORT}}}}}}}}}]}}]
"""


class ControlPlane:
    def __init__(self, snapshot=None):
        self.snapshot_file = os.path.join("/tmp", f"skiff-cp-{os.getpid()}.json")
        if snapshot is not None:
            with open(self.snapshot_file, "w") as f:
                json.dump(snapshot, f)
        self.start(snapshot is not None)
        after_test(self.stop)

    def start(self, preload=True):
        args = ["node", os.path.join(ROOT, "test", "controlplane", "server.js"),
                "--ads-port", str(ADS_PORT), "--control-port", str(CONTROL_PORT)]
        if preload and os.path.exists(self.snapshot_file):
            args += ["--snapshot", self.snapshot_file, "--version-start", str(int(time.time()))]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening"), line
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{CONTROL_PORT}{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read() or b"null")

    def push(self, snapshot):
        with open(self.snapshot_file, "w") as f:  # what a restart preloads
            json.dump(snapshot, f)
        return self.call("POST", "/snapshot", snapshot)

    def acks(self, type_alias=None, nack=None):
        q = []
        if type_alias:
            q.append("type_url=type.googleapis.com/" + {
                "lds": "envoy.config.listener.v3.Listener", "cds": "envoy.config.cluster.v3.Cluster",
                "eds": "envoy.config.endpoint.v3.ClusterLoadAssignment"}[type_alias])
        if nack is not None:
            q.append(f"nack={1 if nack else 0}")
        return self.call("GET", "/acks" + ("?" + "&".join(q) if q else ""))


def tcp_listener(name, port, cluster):
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": name, "cluster": cluster}}]}]}


def eds_cluster(name):
    return {"name": name, "type": "EDS", "connect_timeout": "1s",
            "eds_cluster_config": {"eds_config": {"ads": {}}, "service_name": name}}


def assignment(name, ports):
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
        for p in ports]}]}


def snapshot(listeners, clusters, endpoints):
    return {"listeners": {l["name"]: l for l in listeners},
            "clusters": {c["name"]: c for c in clusters},
            "endpoints": {e["cluster_name"]: e for e in endpoints}}


def tagged(tag):
    """A backend answering every connection with its tag."""
    def handler(conn):
        conn.recv(64)
        conn.sendall(tag.encode())
    return handler


def ask(port=LISTEN):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as c:
        c.sendall(b"?")
        c.shutdown(socket.SHUT_WR)
        return c.recv(64).decode()


def answer(port=LISTEN):
    """ask(), or None while nothing serves there: for wait_for."""
    try:
        return ask(port)
    except OSError:
        return None


class Load:
    """Fresh connections in a loop; counts answers and failures."""

    def __init__(self, port=LISTEN):
        self.port, self.ok, self.failed, self.answers = port, 0, [], {}
        self.stopping = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        after_test(self.stop)

    def loop(self):
        while not self.stopping:
            try:
                a = ask(self.port)
                if not a:
                    raise OSError("empty answer")
                self.ok += 1
                self.answers[a] = self.answers.get(a, 0) + 1
            except OSError as e:
                self.failed.append(repr(e))
            time.sleep(0.005)

    def stop(self):
        self.stopping = True
        self.thread.join()


def base(cp_snapshot):
    cp = ControlPlane(cp_snapshot)
    skiff = Skiff(BOOTSTRAP)
    return cp, skiff


@test
def listener_cluster_and_endpoints_arrive_and_are_acked():
    Backend(tagged("a"), 10100)
    cp, s = base(snapshot([tcp_listener("dyn", LISTEN, "backend")], [eds_cluster("backend")],
                          [assignment("backend", [10100])]))
    wait_for(lambda: s.stat("xds.lds.acks") >= 1 and s.stat("xds.eds.acks") >= 1, what="ACKs")
    assert ask() == "a"
    acks = cp.acks()
    kinds = {a["type_url"].rsplit(".", 1)[1] for a in acks if a["ack"]}
    assert kinds == {"Cluster", "Listener", "ClusterLoadAssignment"}, acks
    assert all(a["node"]["id"].startswith("sidecar~") for a in acks if a["node"])
    eds = [a for a in acks if a["type_url"].endswith("ClusterLoadAssignment")]
    assert eds[-1]["resource_names"] == ["backend"]  # subscribed by following the cluster


@test
def cluster_switch_under_load_fails_nothing():
    Backend(tagged("v1"), 10100)
    Backend(tagged("v2"), 10101)
    listeners = [tcp_listener("dyn", LISTEN, "v1")]
    clusters = [eds_cluster("v1"), eds_cluster("v2")]
    endpoints = [assignment("v1", [10100]), assignment("v2", [10101])]
    cp, s = base(snapshot(listeners, clusters, endpoints))
    wait_for(lambda: answer() == "v1", what="v1 serving")
    load = Load()
    time.sleep(0.5)
    cp.push(snapshot([tcp_listener("dyn", LISTEN, "v2")], clusters, endpoints))
    wait_for(lambda: load.answers.get("v2", 0) > 20, what="traffic on v2")
    load.stop()
    assert not load.failed, load.failed[:5]
    assert load.answers.get("v1", 0) > 0


@test
def endpoints_scale_up_and_down():
    for port, tag in ((10100, "a"), (10101, "b"), (10102, "c")):
        Backend(tagged(tag), port)
    clusters = [eds_cluster("backend")]
    listeners = [tcp_listener("dyn", LISTEN, "backend")]
    cp, s = base(snapshot(listeners, clusters, [assignment("backend", [10100])]))
    wait_for(lambda: answer() == "a", what="one endpoint")
    cp.push({"endpoints": {"backend": assignment("backend", [10100, 10101, 10102])}})
    wait_for(lambda: {answer() for _ in range(12)} == {"a", "b", "c"}, what="three endpoints")
    cp.push({"endpoints": {"backend": assignment("backend", [10102])}})
    wait_for(lambda: {answer() for _ in range(6)} == {"c"}, what="scaled down to one")


@test
def listener_added_on_a_new_port_and_cluster_removed():
    Backend(tagged("a"), 10100)
    clusters = [eds_cluster("backend")]
    cp, s = base(snapshot([tcp_listener("first", LISTEN, "backend")], clusters,
                          [assignment("backend", [10100])]))
    wait_for(lambda: answer() == "a", what="first listener")
    cp.push({"listeners": {"first": tcp_listener("first", LISTEN, "backend"),
                           "second": tcp_listener("second", LISTEN + 1, "backend")}})
    wait_for(lambda: answer(LISTEN + 1) == "a", what="the listener on the new port")
    # The cluster goes: listeners routing to it stop (warming), nothing crashes.
    cp.push({"clusters": {}})
    wait_for(lambda: s.stat("xds.cds.acks") >= 2, what="the removal ACKed")
    wait_for(lambda: "cluster backend does not exist" in s.log(), what="listener warming")
    try:
        refused = ask(LISTEN + 1) == ""
    except OSError:
        refused = True
    assert refused
    assert "cluster.backend.upstream_cx_total" in s.stats()  # counters survive


@test
def invalid_resources_are_nacked_and_nothing_changes():
    Backend(tagged("a"), 10100)
    clusters = [eds_cluster("backend")]
    listeners = [tcp_listener("dyn", LISTEN, "backend")]
    cp, s = base(snapshot(listeners, clusters, [assignment("backend", [10100])]))
    wait_for(lambda: answer() == "a", what="serving")
    cds_version = s.stat("xds.cds.acks")
    # A cluster with no name, next to a good change that must not apply.
    cp.push({"clusters": {"backend": eds_cluster("backend"),
                          "nameless": {"name": "", "type": "STATIC", "connect_timeout": "1s"}}})
    wait_for(lambda: cp.acks("cds", nack=True), what="a CDS NACK")
    nack = cp.acks("cds", nack=True)[-1]
    assert nack["error_detail"]["code"] == 3 and "name" in nack["error_detail"]["message"], nack
    # A listener with a filter skiff cannot run: named in the error detail.
    bad = tcp_listener("broken", LISTEN + 1, "backend")
    bad["filter_chains"][0]["filters"][0]["typed_config"] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}
    cp.push({"listeners": {"dyn": listeners[0], "broken": bad}})
    wait_for(lambda: cp.acks("lds", nack=True), what="an LDS NACK")
    message = cp.acks("lds", nack=True)[-1]["error_detail"]["message"]
    assert "broken" in message, message
    assert s.stat("xds.lds.nacks") == 1 and s.stat("xds.cds.nacks") == 1
    assert s.stat("xds.cds.acks") == cds_version
    assert ask() == "a"  # the previous configuration still serves
    try:
        socket.create_connection(("127.0.0.1", LISTEN + 1), timeout=1).close()
        assert False, "the NACKed listener was applied"
    except ConnectionRefusedError:
        pass


@test
def control_plane_outage_under_load_fails_nothing_then_resubscribes():
    Backend(tagged("a"), 10100)
    Backend(tagged("b"), 10101)
    clusters = [eds_cluster("backend")]
    listeners = [tcp_listener("dyn", LISTEN, "backend")]
    cp, s = base(snapshot(listeners, clusters, [assignment("backend", [10100])]))
    wait_for(lambda: answer() == "a", what="serving")
    load = Load()
    cp.stop()
    time.sleep(OUTAGE_SECONDS)
    assert load.ok > 0 and not load.failed, load.failed[:5]
    connects = s.stat("xds.connects")
    assert connects >= 3, connects  # it kept trying, with backoff
    cp.start()
    # The restarted control plane heard our versions, and a new push applies.
    wait_for(lambda: cp.call("GET", "/connections")["connections"] == 1, timeout=40,
             what="reconnect within the 30 s backoff cap")
    cp.push({"endpoints": {"backend": assignment("backend", [10101])}})
    wait_for(lambda: load.answers.get("b", 0) > 5, what="the new push applied")
    load.stop()
    assert not load.failed, load.failed[:5]
    first = [r["request"] for r in cp.call("GET", "/requests")
             if r["request"]["type_url"].endswith("Cluster")]
    assert first and first[0]["version_info"], first[:1]  # it said what it already runs


if __name__ == "__main__":
    isolate()
    run()
