#!/usr/bin/env python3
"""xDS over TLS and mutual TLS: the bootstrap's ADS cluster carries an
UpstreamTlsContext, and skiff verifies the control plane as it verifies any
upstream (trust bundle, SPIFFE id, ALPN h2) and presents its own
certificate. The control plane (test/controlplane/server.js --tls-*) is
grpc-js with grpc.ServerCredentials.createSsl. Both protocols, SotW and
Delta."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Skiff, isolate, run, wait_for  # noqa: E402
from peers import Backend  # noqa: E402
from xds_common import (ADS_PORT, API_TYPES, MODE, TD, ControlPlane, Pki,  # noqa: E402
                        assignment, both, eds_cluster, wait_logged)

LISTEN = 10001
ISTIOD_ID = f"spiffe://{TD}/ns/istio-system/sa/istiod"
PROXY_ID = f"spiffe://{TD}/ns/default/sa/sidecar"


def bootstrap(proxy, want_id):
    """ADS over mTLS: skiff's certificate from `proxy`, the control plane's
    checked against the bundle and `want_id`."""
    return f"""\
node: {{id: sidecar~127.0.0.1~test.default~default.svc.cluster.local, cluster: test}}
admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: 15000}}}}}}
dynamic_resources:
  ads_config:
    api_type: {API_TYPES[MODE["api"]]}
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
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: istiod.istio-system.svc
        common_tls_context:
          alpn_protocols: [h2]
          tls_certificates:
          - certificate_chain: {{filename: {proxy}/cert.pem}}
            private_key: {{filename: {proxy}/key.pem}}
          validation_context:
            trusted_ca: {{filename: {proxy}/ca.pem}}
            match_typed_subject_alt_names:
            - san_type: URI
              matcher: {{exact: "{want_id}"}}
"""


def tcp_listener(name, port, cluster):
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": name, "cluster": cluster}}]}]}


def tagged(conn):
    conn.recv(64)
    conn.sendall(b"a")


def ask():
    try:
        with socket.create_connection(("127.0.0.1", LISTEN), timeout=3) as c:
            c.sendall(b"?")
            c.shutdown(socket.SHUT_WR)
            return c.recv(64).decode()
    except OSError:
        return None


def snap():
    return {"listeners": {"dyn": tcp_listener("dyn", LISTEN, "backend")},
            "clusters": {"backend": eds_cluster("backend")},
            "endpoints": {"backend": assignment("backend", [10100])}}


def tls_args(d, mutual=True):
    args = ["--tls-cert", f"{d}/cert.pem", "--tls-key", f"{d}/key.pem"]
    return args + (["--tls-ca", f"{d}/ca.pem"] if mutual else [])


@both
def ads_over_mutual_tls_serves_and_acks():
    pki = Pki()
    istiod, proxy = pki.issue("istiod", ISTIOD_ID), pki.issue("proxy", PROXY_ID)
    Backend(tagged, 10100)
    cp = ControlPlane(snap(), args=tls_args(istiod))
    s = Skiff(bootstrap(proxy, ISTIOD_ID))
    wait_logged(s, lambda: ask() == "a", what="configuration from the control plane over mTLS")
    assert "over TLS" in s.log(), s.log()[-2000:]
    acks = cp.acks()
    assert {a["type_url"].rsplit(".", 1)[1] for a in acks if a["ack"]} == \
        {"Cluster", "Listener", "ClusterLoadAssignment"}, acks
    assert all(a["kind"] == MODE["api"] for a in acks), acks


@both
def a_control_plane_with_another_identity_is_refused():
    pki = Pki()
    impostor = pki.issue("impostor", f"spiffe://{TD}/ns/default/sa/impostor")
    proxy = pki.issue("proxy", PROXY_ID)
    cp = ControlPlane(snap(), args=tls_args(impostor))
    s = Skiff(bootstrap(proxy, ISTIOD_ID))
    wait_for(lambda: "TLS handshake with the control plane: id_mismatch" in s.log(), timeout=10,
             what="the handshake refused")
    time.sleep(1)
    assert cp.acks() == [], cp.acks()
    assert s.stat("xds.lds.acks") == 0


@both
def a_proxy_without_a_certificate_the_control_plane_trusts_gets_nothing():
    pki, other = Pki(), Pki()  # two CAs: the control plane trusts only its own
    istiod = pki.issue("istiod", ISTIOD_ID)
    stranger = other.issue("proxy", PROXY_ID)
    # skiff trusts both CAs (its own certificate must verify at start-up),
    # the control plane only the one that did not sign skiff's.
    with open(f"{stranger}/ca.pem", "ab") as f, open(f"{istiod}/ca.pem", "rb") as ca:
        f.write(ca.read())
    cp = ControlPlane(snap(), args=tls_args(istiod))
    s = Skiff(bootstrap(stranger, ISTIOD_ID))
    wait_for(lambda: s.stat("xds.connects") >= 2, timeout=10, what="reconnect attempts")
    assert cp.acks() == [], cp.acks()
    assert s.stat("xds.lds.acks") == 0


if __name__ == "__main__":
    isolate()
    run()
