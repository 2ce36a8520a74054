#!/usr/bin/env python3
"""The xDS client against a real control plane: test/controlplane (Node,
grpc-js, Envoy's own .proto files), so every resource crosses the wire in
Envoy's encoding. ADS, LDS, CDS, EDS, SDS: every scenario runs twice, over
state of the world ([sotw]) and incremental xDS ([delta])."""
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (ROOT, after_test, isolate, json_lines, run, test,  # noqa: E402
                     wait_for)
from peers import Backend, echo  # noqa: E402
from xds_common import (CDS_URL, EDS_URL, LDS_URL, MODE, SDS_URL, TD, Pki,  # noqa: E402
                        assignment, base, both, config_dump, delta, eds_cluster, requests,
                        snapshot, subscription, wait_logged)

LISTEN = 10001
TLSPEER = os.path.join(ROOT, "build", "interop", "tlspeer")
APP = 10200
SERVER_ID, CLIENT_ID = f"spiffe://{TD}/ns/default/sa/server", f"spiffe://{TD}/ns/default/sa/client"
OUTAGE_SECONDS = float(os.environ.get("XDS_OUTAGE_SECONDS", "30"))


def tcp_listener(name, port, cluster):
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": name, "cluster": cluster}}]}]}


def mtls_listener(name, port, cluster, cert_secret="server-cert", ca_secret="trust-bundle"):
    """An inbound strict-mTLS listener whose identity and bundle come over SDS."""
    l = tcp_listener(name, port, cluster)
    sds = {"sds_config": {"ads": {}}}
    l["filter_chains"][0]["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "alpn_protocols": ["skiff-tcp"],
            "tls_certificate_sds_secret_configs": [{"name": cert_secret, **sds}],
            "validation_context_sds_secret_config": {"name": ca_secret, **sds}}}}
    return l


def read(path):
    with open(path, "rb") as f:
        return f.read()


def cert_secret(name, d):
    """A tls_certificate Secret carrying d's certificate and key as PEM bytes."""
    return {"name": name, "tls_certificate": {
        "certificate_chain": {"inline_bytes": base64.b64encode(read(f"{d}/cert.pem")).decode()},
        "private_key": {"inline_bytes": base64.b64encode(read(f"{d}/key.pem")).decode()}}}


def ca_secret(name, d):
    """A validation_context Secret carrying d's bundle as an inline string."""
    return {"name": name, "validation_context": {"trusted_ca": {"inline_string": read(f"{d}/ca.pem").decode()}}}


def tls_client(d, *extra, port=LISTEN, timeout=60):
    args = [TLSPEER, "client", "--addr", f"127.0.0.1:{port}", "--alpn", "skiff-tcp",
            "--cert", f"{d}/cert.pem", "--key", f"{d}/key.pem", "--ca", f"{d}/ca.pem",
            "--send", "ping", "--expect", "ping", *extra]
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    lines = json_lines(r.stdout)
    return lines[-1] if lines else {"ok": False, "stderr": r.stderr}


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


@both
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
    assert all(a["kind"] == MODE["api"] for a in acks), acks
    assert subscription(cp, EDS_URL) == ["backend"]  # subscribed by following the cluster


@both
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


@both
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


@both
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
    # The workers close the listener after the log line: wait, not race.
    wait_for(lambda: answer(LISTEN + 1) in (None, ""), what="the listener on the new port closed")
    assert "cluster.backend.upstream_cx_total" in s.stats()  # counters survive


@both
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


@both
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
    first = requests(cp, CDS_URL)
    # It said what it already runs: SotW the version, Delta each resource's.
    said = first and first[0]["initial_resource_versions" if delta() else "version_info"]
    assert said, first[:1]


def updated(entry):
    """last_updated as Unix seconds."""
    stamp = entry["last_updated"]
    assert stamp.endswith("Z"), stamp
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


@both
def config_dump_shows_each_dynamic_resource_with_its_version_and_time():
    Backend(tagged("a"), 10100)
    cp, s = base(snapshot([tcp_listener("dyn", LISTEN, "backend")], [eds_cluster("backend")],
                          [assignment("backend", [10100])]))
    wait_for(lambda: answer() == "a", what="serving")
    # SotW shows the version of the response, Delta each resource's own.
    held = cp.call("GET", "/snapshot")
    versions = {t: (next(iter(v["resources"].values()))["version"] if delta() else v["version_info"])
                for t, v in held.items() if v["resources"]}
    dump = config_dump(s)
    (l,) = dump["ListenersConfigDump"]["dynamic_listeners"]
    assert l["name"] == "dyn" and l["active_state"]["listener"]["name"] == "dyn", l
    assert l["active_state"]["version_info"] == versions[LDS_URL], (l, versions)
    assert abs(updated(l["active_state"]) - time.time()) < 30, l
    assert dump["ListenersConfigDump"]["static_listeners"] == []
    clusters = dump["ClustersConfigDump"]
    assert [c["cluster"]["name"] for c in clusters["static_clusters"]] == ["xds-grpc"], clusters
    (c,) = clusters["dynamic_active_clusters"]
    assert c["cluster"]["name"] == "backend" and c["version_info"] == versions[CDS_URL], c
    assert c["cluster"]["load_assignment"]["endpoints"][0]["lb_endpoints"], c
    (e,) = dump["EndpointsConfigDump"]["dynamic_endpoint_configs"]
    assert e["endpoint_config"]["cluster_name"] == "backend" and e["version_info"] == versions[EDS_URL], e
    # An endpoint change moves the endpoints' version and time only.
    time.sleep(1.1)
    eds = cp.push({"endpoints": {"backend": assignment("backend", [10100, 10101])}})["versions"][EDS_URL]
    if delta():
        eds = cp.call("GET", "/snapshot")[EDS_URL]["resources"]["backend"]["version"]
    wait_for(lambda: config_dump(s)["EndpointsConfigDump"]["dynamic_endpoint_configs"][0]["version_info"]
             == eds, what="the new EDS version in the dump")
    dump = config_dump(s)
    (e2,) = dump["EndpointsConfigDump"]["dynamic_endpoint_configs"]
    assert updated(e2) > updated(e), (e, e2)
    (c2,) = dump["ClustersConfigDump"]["dynamic_active_clusters"]
    assert c2["version_info"] == c["version_info"] and c2["last_updated"] == c["last_updated"], (c, c2)
    assert len(c2["cluster"]["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 2, c2
    assert dump["SecretsConfigDump"]["dynamic_active_secrets"] == []


def sds_snapshot(server):
    return {"listeners": {"inbound": mtls_listener("inbound", LISTEN, "app")},
            "clusters": {"app": eds_cluster("app")},
            "endpoints": {"app": assignment("app", [APP])},
            "secrets": {"server-cert": cert_secret("server-cert", server),
                        "trust-bundle": ca_secret("trust-bundle", server)}}


@both
def sds_certificate_rotation_under_load_fails_nothing():
    pki = Pki()
    server, client = pki.issue("server", SERVER_ID), pki.issue("client", CLIENT_ID)
    Backend(echo, APP)
    cp, s = base(sds_snapshot(server))
    wait_logged(s, lambda: tls_client(client, timeout=5).get("ok"), what="mTLS served from SDS secrets")
    assert any(a["ack"] for a in cp.acks("sds"))
    sds = subscription(cp, SDS_URL)
    assert sds == ["server-cert", "trust-bundle"], sds
    load = subprocess.Popen([TLSPEER, "client", "--addr", f"127.0.0.1:{LISTEN}", "--alpn", "skiff-tcp",
                             "--cert", f"{client}/cert.pem", "--key", f"{client}/key.pem",
                             "--ca", f"{client}/ca.pem", "--send", "ping", "--expect", "ping",
                             "--new-conn-each", "--no-resume", "--duration", "6s", "--interval", "5ms"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    after_test(lambda: load.poll() is None and load.kill())
    acked = s.stat("xds.sds.acks")
    for i in range(3):
        time.sleep(1.5)
        pki.issue("server", SERVER_ID)  # a new serial, same CA
        cp.push({"secrets": {"server-cert": cert_secret("server-cert", server),
                             "trust-bundle": ca_secret("trust-bundle", server)}})
        wait_for(lambda: s.stat("xds.sds.acks") >= acked + i + 1, what=f"rotation {i + 1} ACKed")
    out, err = load.communicate(timeout=30)
    summary = json_lines(out)[-1]
    assert summary["fail_count"] == 0, summary
    assert summary["ok_count"] > 100, summary
    assert len(set(summary["serials_seen"])) == 4, summary  # the first and three rotations
    assert s.stat("xds.sds.nacks") == 0


@both
def sds_listener_warms_until_its_secret_arrives_and_a_bad_secret_is_nacked():
    pki = Pki()
    server, client = pki.issue("server", SERVER_ID), pki.issue("client", CLIENT_ID)
    Backend(echo, APP)
    snap = sds_snapshot(server)
    del snap["secrets"]["server-cert"]
    cp, s = base(snap)
    wait_for(lambda: "waits for its secret" in s.log(), what="the listener warming")
    wait_for(lambda: any(a["ack"] for a in cp.acks("lds")), what="LDS ACKed while warming")
    try:
        socket.create_connection(("127.0.0.1", LISTEN), timeout=1).close()
        assert False, "a listener without its certificate was applied"
    except ConnectionRefusedError:
        pass
    (warm,) = config_dump(s)["ListenersConfigDump"]["dynamic_listeners"]
    assert "warming_state" in warm and "active_state" not in warm, warm
    cp.push({"secrets": {"server-cert": cert_secret("server-cert", server),
                         "trust-bundle": ca_secret("trust-bundle", server)}})
    wait_logged(s, lambda: tls_client(client, timeout=5).get("ok"), what="served once the secret came")
    serial = tls_client(client)["serial"]
    dump = config_dump(s)
    assert "active_state" in dump["ListenersConfigDump"]["dynamic_listeners"][0], dump
    secrets = dump["SecretsConfigDump"]["dynamic_active_secrets"]
    assert sorted(x["name"] for x in secrets) == ["server-cert", "trust-bundle"], secrets
    assert "BEGIN" not in json.dumps(dump), "a secret's PEM in the config dump"
    # A certificate that is not PEM: NACKed naming the secret; the old one serves.
    bad = cert_secret("server-cert", server)
    bad["tls_certificate"]["certificate_chain"] = {"inline_string": "not a certificate"}
    cp.push({"secrets": {"server-cert": bad, "trust-bundle": ca_secret("trust-bundle", server)}})
    wait_for(lambda: cp.acks("sds", nack=True), what="an SDS NACK")
    message = cp.acks("sds", nack=True)[-1]["error_detail"]["message"]
    assert 'secret "server-cert" certificate_chain' in message, message
    assert s.stat("xds.sds.nacks") == 1
    assert tls_client(client)["serial"] == serial


@test
def delta_removal_and_resubscription_with_initial_versions():
    """Delta only: a cluster removed comes as removed_resources (its listener
    then warms), and a reconnect says what is held in initial_resource_versions."""
    MODE["api"] = "delta"
    after_test(lambda: MODE.update(api="sotw"))
    Backend(tagged("a"), 10100)
    listeners, endpoints = [tcp_listener("dyn", LISTEN, "backend")], [assignment(n, [10100]) for n in ("backend", "spare")]
    cp, s = base(snapshot(listeners, [eds_cluster("backend"), eds_cluster("spare")], endpoints))
    wait_for(lambda: answer() == "a", what="serving")
    wait_for(lambda: subscription(cp, EDS_URL) == ["backend", "spare"], what="EDS subscribed")
    cds = s.stat("xds.cds.acks")
    cp.push(snapshot(listeners, [eds_cluster("spare")], endpoints))  # whole: a restart preloads it
    wait_for(lambda: s.stat("xds.cds.acks") > cds, what="the removal ACKed")
    (sent,) = [r for r in cp.call("GET", "/responses?kind=delta&type_url=" + CDS_URL) if r["removed_resources"]]
    assert sent["removed_resources"] == ["backend"] and sent["resource_names"] == [], sent
    wait_for(lambda: "cluster backend does not exist" in s.log(), what="listener warming")
    wait_for(lambda: answer() in (None, ""), what="the listener gone")
    # Its endpoints are no longer referenced: unsubscribed by a delta.
    wait_for(lambda: subscription(cp, EDS_URL) == ["spare"], what="EDS unsubscribed")
    unsub = [r for r in requests(cp, EDS_URL) if r.get("resource_names_unsubscribe")]
    assert unsub[-1]["resource_names_unsubscribe"] == ["backend"], unsub
    held = {t: {n: r["version"] for n, r in v["resources"].items()} for t, v in cp.call("GET", "/snapshot").items()}
    (dyn,) = config_dump(s)["ListenersConfigDump"]["dynamic_listeners"]
    assert "warming_state" in dyn, dyn
    (c,) = config_dump(s)["ClustersConfigDump"]["dynamic_active_clusters"]
    assert c["cluster"]["name"] == "spare" and c["version_info"] == held[CDS_URL]["spare"], c
    # Reconnect to a restarted control plane (a new log): the first request
    # per type lists the versions held. (POST /disconnect would be quicker,
    # but the stream it ends is never closed on the wire.)
    connects = s.stat("xds.connects")
    cp.stop()
    cp.start()
    wait_logged(s, lambda: s.stat("xds.connects") > connects and len(requests(cp, LDS_URL)) >= 1,
                what="reconnect")
    first = {t: requests(cp, t)[0] for t in (CDS_URL, EDS_URL, LDS_URL)}
    assert first[CDS_URL]["initial_resource_versions"] == held[CDS_URL], first
    assert first[EDS_URL]["initial_resource_versions"] == {"spare": held[EDS_URL]["spare"]}, first
    assert first[EDS_URL]["resource_names_subscribe"] == ["spare"], first
    assert first[LDS_URL]["initial_resource_versions"] == held[LDS_URL], first
    assert first[CDS_URL]["node"]["id"].startswith("sidecar~"), first
    # Nothing was resent (the server had what the versions said), and a new
    # push still applies.
    cds_sent = cp.call("GET", "/responses?type_url=" + CDS_URL)
    assert cds_sent and cds_sent[0]["resource_names"] == [], cds_sent
    cp.push({"clusters": {"spare": eds_cluster("spare"), "backend": eds_cluster("backend")}})
    wait_for(lambda: answer() == "a", what="the cluster back, the listener active")
    assert s.stat("xds.cds.nacks") == 0 and s.stat("xds.lds.nacks") == 0


if __name__ == "__main__":
    isolate()
    run()
