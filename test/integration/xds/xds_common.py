"""What the xDS integration tests share: the control plane
(test/controlplane, Node with Envoy's own .proto files) driven over its
JSON API, skiff's ADS bootstrap, resource builders, and the registration of
every scenario twice, over state of the world ([sotw]) and incremental xDS
([delta])."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, SKIFF, Skiff, after_test, test, wait_for  # noqa: E402

ADS_PORT, CONTROL_PORT = 18000, 18001
TD = "cluster.local"
API_TYPES = {"sotw": "GRPC", "delta": "DELTA_GRPC"}
MODE = {"api": "sotw"}  # the protocol of the test that runs

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
    def __init__(self, snapshot=None, args=()):
        self.args = list(args)  # more server.js options (--tls-cert ...)
        self.snapshot_file = os.path.join("/tmp", f"skiff-cp-{os.getpid()}.json")
        if snapshot is not None:
            with open(self.snapshot_file, "w") as f:
                json.dump(snapshot, f)
        self.start(snapshot is not None)
        after_test(self.stop)

    def start(self, preload=True):
        args = ["node", os.path.join(ROOT, "test", "controlplane", "server.js"),
                "--ads-port", str(ADS_PORT), "--control-port", str(CONTROL_PORT), *self.args]
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
                "rds": "envoy.config.route.v3.RouteConfiguration",
                "eds": "envoy.config.endpoint.v3.ClusterLoadAssignment",
                "sds": "envoy.extensions.transport_sockets.tls.v3.Secret"}[type_alias])
        if nack is not None:
            q.append(f"nack={1 if nack else 0}")
        return self.call("GET", "/acks" + ("?" + "&".join(q) if q else ""))


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


def delta():
    return MODE["api"] == "delta"


def base(cp_snapshot, bootstrap=None):
    cp = ControlPlane(cp_snapshot)
    skiff = Skiff((bootstrap or BOOTSTRAP).replace("api_type: GRPC", "api_type: " + API_TYPES[MODE["api"]]))
    return cp, skiff


def both(fn):
    """Registers fn twice, as NAME[sotw] and NAME[delta]: the client picks the
    RPC from the bootstrap's api_type, the control plane serves both."""
    for api in API_TYPES:
        def run_with(fn=fn, api=api):
            MODE["api"] = api
            try:
                fn()
            finally:
                MODE["api"] = "sotw"
        run_with.__name__ = f"{fn.__name__}[{api}]"
        test(run_with)
    return fn


def requests(cp, type_url):
    return [r["request"] for r in cp.call("GET", "/requests?type_url=" + type_url)]


def subscription(cp, type_url):
    """The names skiff asks for now: the last SotW request's resource_names,
    or Delta's subscribes and unsubscribes added up."""
    names = set()
    for r in requests(cp, type_url):
        if not delta():
            names = set(r.get("resource_names") or [])
            continue
        names |= set(r.get("resource_names_subscribe") or [])
        names -= set(r.get("resource_names_unsubscribe") or [])
    return sorted(names)


def wait_logged(s, predicate, what, timeout=5.0):
    """wait_for, with the end of skiff's log in the failure."""
    try:
        wait_for(predicate, timeout=timeout, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- skiff log:\n{s.log()[-3000:]}") from None


CDS_URL = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS_URL = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS_URL = "type.googleapis.com/envoy.config.listener.v3.Listener"
SDS_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
RDS_URL = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"


def config_dump(s):
    status, body = s.get("/config_dump")
    assert status == 200, body
    return {c["@type"].rsplit(".", 1)[1]: c for c in json.loads(body)["configs"]}


class Pki:
    """A CA and workload identities issued by `skiff certs`."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="skiff-pki-")
        after_test(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.ca = os.path.join(self.dir, "ca")
        self.certs("ca", "--out", self.ca, "--trust-domain", TD)

    def certs(self, *args):
        subprocess.run([SKIFF, "certs", *args], check=True, capture_output=True)

    def issue(self, name, spiffe):
        out = os.path.join(self.dir, name)
        self.certs("issue", "--ca", self.ca, "--spiffe", spiffe, "--out", out, "--ttl", "1h")
        return out
