#!/usr/bin/env python3
"""The admin server on 127.0.0.1:15000, Prometheus on :15090 and health on
:15021, against the running binary with the embedded default config."""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Skiff, http_get, isolate, run, tcp_proxy_config, test, wait_for  # noqa: E402
from peers import Backend, echo  # noqa: E402


@test
def ready_stats_and_config_dump():
    s = Skiff()
    assert s.get("/ready") == (200, "LIVE\n")
    stats = s.stats()
    for name in ("listener.0.0.0.0_15001.downstream_cx_total",
                 "listener.0.0.0.0_15006.downstream_cx_active",
                 "cluster.PassthroughCluster.upstream_cx_connect_fail",
                 "cluster.InboundPassthroughCluster.upstream_cx_connect_timeout"):
        assert name in stats, name
    status, body = s.get("/config_dump")
    assert status == 200
    dump = json.loads(body)
    types = [c["@type"] for c in dump["configs"]]
    assert types == ["type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
                     "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                     "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"]
    listeners = {l["listener"]["name"] for l in dump["configs"][1]["static_listeners"]}
    assert listeners == {"virtualOutbound", "virtualInbound"}


@test
def prometheus_on_admin_and_15090():
    s = Skiff()
    for url in ("http://127.0.0.1:15000/stats/prometheus", "http://127.0.0.1:15090/stats/prometheus"):
        status, body = http_get(url)
        assert status == 200
        lines = body.splitlines()
        assert "# TYPE envoy_cluster_upstream_cx_total counter" in lines
        assert 'envoy_cluster_upstream_cx_total{envoy_cluster_name="PassthroughCluster"} 0' in lines
        assert 'envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_15001"} 0' in lines
    # The public Prometheus port serves metrics only, not the admin API.
    assert http_get("http://127.0.0.1:15090/config_dump")[0] == 404
    assert http_get("http://127.0.0.1:15090/quitquitquit", method="POST")[0] == 404
    assert s.proc.poll() is None


@test
def health_port_follows_drain():
    backend = Backend(echo, 10100)
    cfg = tcp_proxy_config([dict(name="l", port=10001, cluster="c")],
                           [dict(name="c", endpoints=[("127.0.0.1", 10100)])])
    s = Skiff(cfg, args=["--drain-timeout", "10s"])
    assert http_get("http://127.0.0.1:15021/healthz/ready")[0] == 200
    assert http_get("http://127.0.0.1:15021/stats")[0] == 404
    held = socket.create_connection(("127.0.0.1", 10001))
    held.sendall(b"x")
    assert held.recv(1) == b"x"
    s.signal()
    # Draining: probes fail so Kubernetes stops sending, the flow goes on.
    wait_for(lambda: http_get("http://127.0.0.1:15021/healthz/ready")[0] == 503, what="503")
    assert s.get("/ready")[0] == 503
    held.sendall(b"y")
    assert held.recv(1) == b"y"
    held.close()
    assert s.wait(timeout=5) == 0
    backend.close()


@test
def quitquitquit_needs_post_then_exits_zero():
    s = Skiff()
    assert s.get("/quitquitquit")[0] == 405
    assert s.proc.poll() is None
    assert http_get(s.admin + "/quitquitquit", method="POST")[0] == 200
    assert s.wait(timeout=5) == 0


@test
def malformed_and_oversized_requests_get_errors_and_server_lives():
    s = Skiff()
    with socket.create_connection(("127.0.0.1", 15000)) as c:
        c.sendall(b"NONSENSE\r\n\r\n")
        assert c.recv(100).startswith(b"HTTP/1.1 400 ")
    with socket.create_connection(("127.0.0.1", 15000)) as c:
        c.sendall(b"GET /stats HTTP/1.1\r\nX: " + b"a" * 10000)
        assert c.recv(100).startswith(b"HTTP/1.1 431 ")
    assert s.get("/nope")[0] == 404
    assert s.get("/ready")[0] == 200


if __name__ == "__main__":
    isolate()
    run()
