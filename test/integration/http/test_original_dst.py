#!/usr/bin/python3
"""HTTP routed to an ORIGINAL_DST cluster (Istio's PassthroughCluster
behind an HTTP listener): each request goes where its client was going.

Two "pods" (network namespaces joined by a veth pair, addresses of the
documentation range 192.0.2.0/24): skiff runs in pod A as UID 1337, as a
sidecar does, with an HTTP listener on 15001 (use_original_dst); iptables
REDIRECTs pod A's outbound connections to it. The applications run in pod B.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (H1, App, addr, bootstrap, hcm, log_path, to, vhost, wait_log)  # noqa: E402
from harness import Netns, Skiff, isolate, run, test, veth_pair, wait_for  # noqa: E402

POD_A, POD_B = "192.0.2.2", "192.0.2.1"
PROXY_UID = 1337
OUTBOUND = 15001
CLUSTER = "PassthroughCluster"


def pods():
    a, b = Netns("skiff-http-a"), Netns("skiff-http-b")
    veth_pair(a, POD_A, b, POD_B)
    a.exec("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", POD_B,
           "-m", "owner", "!", "--uid-owner", str(PROXY_UID),
           "-j", "REDIRECT", "--to-ports", str(OUTBOUND))
    return a, b


def sidecar(a, log, **cluster_extra):
    f = hcm("outbound", [vhost([to(CLUSTER)])], log=log)
    lst = {"name": "virtualOutbound", "address": addr("0.0.0.0", OUTBOUND), "use_original_dst": True,
           "traffic_direction": "OUTBOUND", "filter_chains": [{"filters": [f]}]}
    c = {"name": CLUSTER, "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "1s"}
    c.update(cluster_extra)
    return Skiff(bootstrap([lst], [c]), args=["--concurrency", "1"], netns=a, uid=PROXY_UID)


def app_in(b, port, name="app"):
    with b:
        return App(port, name=name, host=POD_B)


def client(a, port, host=POD_B):
    with a:
        return H1(port, host=host)


def cstat(s, name):
    return s.stat(f"cluster.{CLUSTER}.{name}")


@test
def keep_alive_requests_reach_the_original_destination_on_one_pooled_connection():
    a, b = pods()
    app = app_in(b, 8080)
    log = log_path()
    s = sidecar(a, log)
    c = client(a, 8080)
    for i in range(3):
        r = c.roundtrip("GET", f"/hello/{i}", host=f"{POD_B}:8080")
        assert r.status == 200 and r.header("x-served-by") == "app", r
        assert r.json()["target"] == f"/hello/{i}", r
    c.close()
    assert app.count() == 3 and app.conns == 1, (app.count(), app.conns)
    # the app was reached at the address the client dialled, from pod A
    (peer, local), = app.backend.peers
    assert peer[0] == POD_A and local == (POD_B, 8080), app.backend.peers
    lines = wait_log(log, 3)
    assert all(l["upstream_host"] == f"{POD_B}:8080" and l["upstream_cluster"] == CLUSTER and
               l["response_code"] == 200 for l in lines), lines
    assert cstat(s, "upstream_cx_total") == 1 and cstat(s, "upstream_rq_total") == 3


@test
def the_pool_is_shared_across_client_connections_and_kept_per_destination():
    a, b = pods()
    one, two = app_in(b, 8080, "one"), app_in(b, 8081, "two")
    log = log_path()
    s = sidecar(a, log)
    for i in range(6):
        port = 8080 + i % 2
        c = client(a, port)
        r = c.roundtrip("GET", "/", host=f"{POD_B}:{port}")
        c.close()
        assert r.status == 200 and r.header("x-served-by") == ("one", "two")[i % 2], r
    assert (one.count(), two.count()) == (3, 3)
    assert (one.conns, two.conns) == (1, 1), "one pooled connection per destination"
    assert cstat(s, "upstream_cx_total") == 2
    assert cstat(s, "upstream_cx_pool_reuse") == 4


@test
def idle_pooled_connection_closes_after_the_clusters_idle_timeout():
    a, b = pods()
    app = app_in(b, 8080)
    log = log_path()
    opts = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "common_http_protocol_options": {"idle_timeout": "1s"},
        "explicit_http_config": {"http_protocol_options": {}}}}
    s = sidecar(a, log, typed_extension_protocol_options=opts)
    c = client(a, 8080)
    assert c.roundtrip("GET", "/first", host=f"{POD_B}:8080").status == 200
    wait_for(lambda: cstat(s, "upstream_cx_destroy") == 1, timeout=5, what="the idle connection closed")
    assert c.roundtrip("GET", "/second", host=f"{POD_B}:8080").status == 200
    assert app.conns == 2 and cstat(s, "upstream_cx_total") == 2


@test
def circuit_breakers_count_passthrough_requests():
    a, b = pods()
    app_in(b, 8080)
    log = log_path()
    breakers = {"thresholds": [{"max_requests": 1}]}
    s = sidecar(a, log, circuit_breakers=breakers)
    slow = {}
    first_client = client(a, 8080)  # Netns switches are per thread: connect here

    def first():
        slow["r"] = first_client.roundtrip("GET", "/slow?ms=1500", host=f"{POD_B}:8080")
        first_client.close()
    t = threading.Thread(target=first)
    t.start()
    wait_for(lambda: s.stat("listener.0.0.0.0_15001.downstream_rq_total") == 1, what="the first request")
    time.sleep(0.2)
    c = client(a, 8080)
    r = c.roundtrip("GET", "/", host=f"{POD_B}:8080")
    assert r.status == 503, r
    t.join(10)
    assert slow["r"].status == 200, slow
    flags = sorted(l["response_flags"] for l in wait_log(log, 2))
    assert flags == ["-", "UO"], flags
    assert cstat(s, "upstream_rq_pending_overflow") == 1


@test
def dialling_the_listener_directly_is_503_not_a_loop():
    a, _ = pods()
    log = log_path()
    s = sidecar(a, log)
    c = client(a, OUTBOUND, host="127.0.0.1")
    r = c.roundtrip("GET", "/", host="127.0.0.1:15001")
    assert r.status == 503 and r.body == b"no original destination", r
    (line,) = wait_log(log, 1)
    assert line["response_flags"] == "UH" and line["response_code_details"] == "no_original_destination", line
    assert s.stat("listener.0.0.0.0_15001.downstream_cx_no_destination") == 1
    assert cstat(s, "upstream_cx_total") == 0
    # the connection still serves (a later request may be another story)
    r = c.roundtrip("GET", "/again", host="127.0.0.1:15001")
    assert r.status == 503, r
    assert s.stat("listener.0.0.0.0_15001.downstream_rq_total") == 2


if __name__ == "__main__":
    isolate()
    run()
