#!/usr/bin/env python3
"""Mutual TLS end to end, against an independent TLS stack: Go's crypto/tls
(test/interop/go, built here) as client and server on each side of skiff.

Identities come from `skiff certs` (a development CA, trust domain
cluster.local). The inbound listener terminates mTLS in front of an echo app;
the outbound cluster originates mTLS to a Go server or to a second skiff."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (ROOT, SKIFF, Skiff, after_test, isolate, json_lines, run, test,  # noqa: E402
                     wait_for)
from peers import Backend, echo  # noqa: E402

TLSPEER = os.path.join(ROOT, "build", "interop", "tlspeer")
TD = "cluster.local"
SERVER_ID = f"spiffe://{TD}/ns/default/sa/server"
CLIENT_ID = f"spiffe://{TD}/ns/default/sa/client"
OTHER_ID = f"spiffe://{TD}/ns/default/sa/intruder"
INBOUND, OUTBOUND, APP, GO_SERVER = 16006, 16001, 18080, 18443

TLS_SOCKET = """\
{indent}transport_socket:
{indent}  name: envoy.transport_sockets.tls
{indent}  typed_config:
{indent}    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.{kind}TlsContext
{extra}{indent}    common_tls_context:
{indent}      tls_params: {{tls_minimum_protocol_version: {min_version}}}
{indent}      alpn_protocols: [skiff-tcp]
{indent}      tls_certificates:
{indent}      - certificate_chain: {{filename: {d}/cert.pem}}
{indent}        private_key: {{filename: {d}/key.pem}}
{indent}      validation_context:
{indent}        trusted_ca: {{filename: {d}/ca.pem}}
{sans}"""


def tls_socket(kind, d, indent, sans=(), min_version="TLSv1_3"):
    extra = f"{indent}    require_client_certificate: true\n" if kind == "Downstream" else ""
    san_lines = ""
    if sans:
        san_lines = f"{indent}        match_typed_subject_alt_names:\n" + "".join(
            f"{indent}        - {{san_type: URI, matcher: {{exact: \"{s}\"}}}}\n" for s in sans)
    return TLS_SOCKET.format(indent=indent, kind=kind, extra=extra, d=d, sans=san_lines,
                             min_version=min_version)


def tcp_proxy(cluster, indent, log=None):
    out = (f"{indent}- name: envoy.filters.network.tcp_proxy\n"
           f"{indent}  typed_config:\n"
           f'{indent}    "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n'
           f"{indent}    stat_prefix: {cluster}\n"
           f"{indent}    cluster: {cluster}\n")
    if log:
        out += (f"{indent}    access_log:\n"
                f"{indent}    - name: envoy.access_loggers.file\n"
                f"{indent}      typed_config:\n"
                f'{indent}        "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n'
                f"{indent}        path: {log}\n")
    return out


def rbac(action, principal, indent):
    return (f"{indent}- name: envoy.filters.network.rbac\n"
            f"{indent}  typed_config:\n"
            f'{indent}    "@type": type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC\n'
            f"{indent}    stat_prefix: inbound_rbac\n"
            f"{indent}    rules:\n"
            f"{indent}      action: {action}\n"
            f"{indent}      policies:\n"
            f"{indent}        the-rule:\n"
            f"{indent}          permissions: [{{any: true}}]\n"
            f'{indent}          principals: [{{authenticated: {{principal_name: {{exact: "{principal}"}}}}}}]\n')


def static_cluster(name, port, tls=None):
    out = (f"  - name: {name}\n    type: STATIC\n    connect_timeout: 1s\n"
           f"    load_assignment:\n      cluster_name: {name}\n      endpoints:\n"
           f"      - lb_endpoints:\n"
           f"        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}}}\n")
    return out + (tls or "")


def inbound_config(d, sans=(), permissive=False, rbac_rule=None, log=None, admin=15000,
                   min_version="TLSv1_3"):
    chains = ("    - filter_chain_match: {transport_protocol: tls}\n" if permissive else "    - ")
    tls = tls_socket("Downstream", d, "      ", sans, min_version)
    if not permissive:
        tls = tls.replace("      transport_socket:", "transport_socket:", 1)
    filters = "      filters:\n" + (rbac(*rbac_rule, "      ") if rbac_rule else "") + tcp_proxy("app", "      ", log)
    out = (f"admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}}}\n"
           "static_resources:\n  listeners:\n  - name: inbound\n"
           f"    address: {{socket_address: {{address: 127.0.0.1, port_value: {INBOUND}}}}}\n")
    if permissive:
        out += ("    listener_filters:\n    - name: envoy.filters.listener.tls_inspector\n"
                "      typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}\n")
    out += "    filter_chains:\n" + chains + tls + filters
    if permissive:
        out += "    - filter_chain_match: {transport_protocol: raw_buffer}\n" + filters
    return out + "  clusters:\n" + static_cluster("app", APP)


def outbound_config(d, upstream_port, server_ids, admin=15100):
    return (f"admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}}}\n"
            "static_resources:\n  listeners:\n  - name: outbound\n"
            f"    address: {{socket_address: {{address: 127.0.0.1, port_value: {OUTBOUND}}}}}\n"
            "    filter_chains:\n    - filters:\n" + tcp_proxy("mesh", "      ") +
            "  clusters:\n" + static_cluster("mesh", upstream_port,
                                             tls_socket("Upstream", d, "    ", server_ids)))


class Pki:
    """A CA and workload identities issued by `skiff certs`."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="skiff-pki-")
        after_test(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.ca = self.path("ca")
        self.certs("ca", "--out", self.ca, "--trust-domain", TD)

    def path(self, name):
        return os.path.join(self.dir, name)

    def certs(self, *args):
        subprocess.run([SKIFF, "certs", *args], check=True, capture_output=True)

    def issue(self, name, spiffe, *extra, ca=None):
        out = self.path(name)
        validity = list(extra) if "--not-after" in extra else ["--ttl", "1h", *extra]
        self.certs("issue", "--ca", ca or self.ca, "--spiffe", spiffe, "--out", out, *validity)
        return out


def tlspeer(*args, timeout=60):
    r = subprocess.run([TLSPEER, *args], capture_output=True, text=True, timeout=timeout)
    lines = json_lines(r.stdout)
    assert lines, (r.returncode, r.stdout, r.stderr)
    return lines[-1]


def go_client(d, port=INBOUND, *extra):
    args = ["client", "--addr", f"127.0.0.1:{port}", "--alpn", "skiff-tcp", "--send", "ping",
            "--half-close"]
    if d is not None:
        args += ["--cert", f"{d}/cert.pem", "--key", f"{d}/key.pem", "--ca", f"{d}/ca.pem"]
    return tlspeer(*args, *extra)


def go_server(d, require=None):
    args = [TLSPEER, "server", "--listen", f"127.0.0.1:{GO_SERVER}", "--cert", f"{d}/cert.pem",
            "--key", f"{d}/key.pem", "--ca", f"{d}/ca.pem", "--alpn", "skiff-tcp", "--echo"]
    if require:
        args += ["--require-spiffe", require]
    out = open(os.path.join(d, "server.log"), "w")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    after_test(lambda: (p.kill(), p.wait()))
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", GO_SERVER)) == 0, what="go server")
    return os.path.join(d, "server.log")


def refused(port, first_bytes):
    """Sends first_bytes and expects the proxy to close or reset without a
    byte of reply. The reset may come before the send, even the connect."""
    try:
        c = socket.create_connection(("127.0.0.1", port))
        c.settimeout(3)
        c.sendall(first_bytes)
        return c.recv(10) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def app():
    return Backend(echo, APP)


@test
def inbound_accepts_a_valid_go_client_and_knows_its_identity():
    pki = Pki()
    server, client = pki.issue("server", SERVER_ID), pki.issue("client", CLIENT_ID)
    app()
    log = os.path.join(pki.dir, "access.log")
    s = Skiff(inbound_config(server, log=log))
    r = go_client(client, INBOUND, "--server-spiffe", SERVER_ID)
    assert r["ok"] and r["reply"] == "ping", r
    assert r["tls_version"] == "TLS1.3" and r["alpn"] == "skiff-tcp" and r["peer_spiffe"] == SERVER_ID
    assert s.stat("listener.127.0.0.1_16006.ssl.handshake") == 1
    s.signal()
    assert s.wait() == 0
    (line,) = json_lines(open(log).read())
    assert line["downstream_peer_uri_san"] == CLIENT_ID and line["termination_reason"] == "closed"


@test
def inbound_refuses_each_bad_client_with_its_own_counter_and_reason():
    pki = Pki()
    server = pki.issue("server", SERVER_ID)
    good = pki.issue("client", CLIENT_ID)
    other_ca = pki.path("other-ca")
    pki.certs("ca", "--out", other_ca, "--trust-domain", TD)
    foreign = pki.issue("foreign", CLIENT_ID, ca=other_ca)
    expired = pki.issue("expired", CLIENT_ID, "--not-before", "-2h", "--not-after", "-1h")
    early = pki.issue("early", CLIENT_ID, "--not-before", "+1h", "--not-after", "+2h")
    wrong_id = pki.issue("wrong", OTHER_ID)
    # The client's own bundle must trust skiff's CA: hand it ours.
    shutil.copy(os.path.join(pki.ca, "ca.pem"), os.path.join(foreign, "ca.pem"))
    app()
    s = Skiff(inbound_config(server, sans=[CLIENT_ID]))
    cases = [
        ("no client certificate", [good, INBOUND, "--no-cert"], "ssl.fail_verify_no_cert", "no_peer_cert"),
        ("wrong CA", [foreign, INBOUND], "ssl.fail_verify_error", "untrusted"),
        ("expired", [expired, INBOUND], "ssl.fail_verify_expired", "expired"),
        ("not yet valid", [early, INBOUND], "ssl.fail_verify_not_yet_valid", "not_yet_valid"),
        ("wrong SPIFFE id", [wrong_id, INBOUND], "ssl.fail_verify_san", "id_mismatch"),
        ("plaintext", [None, INBOUND, "--plaintext"], "downstream_cx_plaintext_refused", "plaintext refused"),
        ("ALPN mismatch", [good, INBOUND, "--alpn", "h2"], "ssl.fail_no_alpn", "no_alpn"),
        ("TLS 1.2 only", [good, INBOUND, "--max-version", "1.2"], "ssl.connection_error", "protocol"),
    ]
    for what, args, counter, reason in cases:
        r = go_client(*args)
        assert not r["ok"], (what, r)
        wait_for(lambda: s.stat(f"listener.127.0.0.1_16006.{counter}") == 1, what=f"{counter} for {what}")
        assert reason in s.log(), (what, reason)
    assert s.stat("listener.127.0.0.1_16006.ssl.handshake") == 0
    r = go_client(good)
    assert r["ok"] and r["reply"] == "ping", r  # and the listener still serves


@test
def outbound_checks_the_servers_spiffe_id():
    pki = Pki()
    server, sidecar = pki.issue("server", SERVER_ID), pki.issue("sidecar", CLIENT_ID)
    server_log = go_server(server, require=CLIENT_ID)
    s = Skiff(outbound_config(sidecar, GO_SERVER, [SERVER_ID]), admin_port=15100)
    c = socket.create_connection(("127.0.0.1", OUTBOUND))
    c.sendall(b"through mTLS")
    assert c.recv(64) == b"through mTLS"
    c.close()
    assert s.stat("cluster.mesh.ssl.handshake") == 1
    wait_for(lambda: CLIENT_ID in open(server_log).read(), what="the Go server to see our id")
    s.signal()
    s.wait()
    # A cluster expecting another server identity refuses this one.
    s = Skiff(outbound_config(sidecar, GO_SERVER, [OTHER_ID]), admin_port=15100)
    assert refused(OUTBOUND, b"x")
    wait_for(lambda: s.stat("cluster.mesh.ssl.fail_verify_san") == 1, what="fail_verify_san")
    assert "id_mismatch" in s.log() and SERVER_ID in s.log()


@test
def permissive_mode_takes_both_and_counts_them_apart():
    pki = Pki()
    server, client = pki.issue("server", SERVER_ID), pki.issue("client", CLIENT_ID)
    app()
    s = Skiff(inbound_config(server, permissive=True))
    assert go_client(client)["ok"]
    c = socket.create_connection(("127.0.0.1", INBOUND))
    c.sendall(b"plain")
    assert c.recv(5) == b"plain"
    c.close()
    wait_for(lambda: s.stat("listener.127.0.0.1_16006.downstream_cx_plaintext") == 1, what="plaintext")
    assert s.stat("listener.127.0.0.1_16006.ssl.handshake") == 1
    assert s.stat("listener.127.0.0.1_16006.downstream_cx_plaintext_refused") == 0


@test
def strict_mode_refuses_plaintext():
    pki = Pki()
    app()
    s = Skiff(inbound_config(pki.issue("server", SERVER_ID)))
    assert refused(INBOUND, b"GET / HTTP/1.1\r\n\r\n")
    wait_for(lambda: s.stat("listener.127.0.0.1_16006.downstream_cx_plaintext_refused") == 1,
             what="plaintext refused")


@test
def authorization_deny_rule_by_principal():
    pki = Pki()
    server = pki.issue("server", SERVER_ID)
    client, intruder = pki.issue("client", CLIENT_ID), pki.issue("intruder", OTHER_ID)
    app()
    s = Skiff(inbound_config(server, rbac_rule=("DENY", OTHER_ID)))
    assert go_client(client)["ok"]
    assert not go_client(intruder)["ok"]
    wait_for(lambda: s.stat("listener.127.0.0.1_16006.rbac.denied") == 1, what="rbac.denied")
    assert s.stat("listener.127.0.0.1_16006.rbac.allowed") == 1
    assert f"principal {OTHER_ID}" in s.log()


@test
def sidecar_to_sidecar_resumes_sessions():
    pki = Pki()
    a, b = pki.issue("sidecar-a", CLIENT_ID), pki.issue("sidecar-b", SERVER_ID)
    app()
    inbound = Skiff(inbound_config(b, sans=[CLIENT_ID]))
    outbound = Skiff(outbound_config(a, INBOUND, [SERVER_ID]), admin_port=15100,
                     args=["--concurrency", "1"])
    for i in range(20):
        c = socket.create_connection(("127.0.0.1", OUTBOUND))
        msg = f"hop {i}".encode()
        c.sendall(msg)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = c.recv(64)
            if not d:
                break
            got += d
        assert got == msg
        c.close()
    wait_for(lambda: inbound.stat("listener.127.0.0.1_16006.ssl.handshake") == 20, what="20 handshakes")
    reused = outbound.stat("cluster.mesh.ssl.session_reused")
    assert reused >= 15, reused  # the first connection, and a few racing the ticket, are full
    assert inbound.stat("listener.127.0.0.1_16006.ssl.session_reused") == reused


def prometheus(skiff):
    """The sidecar's /stats/prometheus through a real Prometheus text parser."""
    from prometheus_client.parser import text_string_to_metric_families
    status, body = skiff.get("/stats/prometheus")
    assert status == 200
    return {f.name: f.samples for f in text_string_to_metric_families(body)}


def istio_sample(families, family, **labels):
    matching = [s for s in families[family]
                if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, (family, labels, families[family])
    return matching[0].value


@test
def istio_tcp_metrics_name_both_ends_of_the_mtls_hop():
    pki = Pki()
    a, b = pki.issue("sidecar-a", CLIENT_ID), pki.issue("sidecar-b", SERVER_ID)
    app()
    inbound = Skiff(inbound_config(b, sans=[CLIENT_ID]).replace(
        "  - name: inbound\n", "  - name: inbound\n    traffic_direction: INBOUND\n"))
    outbound = Skiff(outbound_config(a, INBOUND, [SERVER_ID]), admin_port=15100)
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", OUTBOUND))
        c.sendall(b"12345")
        c.shutdown(socket.SHUT_WR)
        assert c.recv(16) == b"12345"
        c.close()
    wait_for(lambda: inbound.stat("listener.127.0.0.1_16006.downstream_cx_destroy") == 3,
             what="three flows closed")
    wait_for(lambda: outbound.stat("listener.127.0.0.1_16001.downstream_cx_destroy") == 3,
             what="three flows closed")
    hop = dict(source_principal=CLIENT_ID, destination_principal=SERVER_ID,
               connection_security_policy="mutual_tls", request_protocol="tcp")
    dest = prometheus(inbound)
    assert istio_sample(dest, "istio_tcp_connections_opened", reporter="destination",
                        destination_service="app", **hop) == 3
    assert istio_sample(dest, "istio_tcp_connections_closed", reporter="destination",
                        response_flags="-", **hop) == 3
    assert istio_sample(dest, "istio_tcp_received_bytes", reporter="destination", **hop) == 15
    assert istio_sample(dest, "istio_tcp_sent_bytes", reporter="destination", **hop) == 15
    src = prometheus(outbound)
    assert istio_sample(src, "istio_tcp_connections_opened", reporter="source",
                        destination_service="mesh", **hop) == 3
    assert istio_sample(src, "istio_tcp_sent_bytes", reporter="source", **hop) == 15
    # Envoy's own families parse too, counters and gauges.
    assert any(s.labels == {"envoy_cluster_name": "mesh"} and s.value == 3
               for s in src["envoy_cluster_upstream_cx"])


@test
def certificate_rotation_under_load_drops_nothing():
    pki = Pki()
    server, client = pki.issue("server", SERVER_ID), pki.issue("client", CLIENT_ID)
    app()
    s = Skiff(inbound_config(server))
    load = subprocess.Popen([TLSPEER, "client", "--addr", f"127.0.0.1:{INBOUND}", "--alpn", "skiff-tcp",
                             "--cert", f"{client}/cert.pem", "--key", f"{client}/key.pem",
                             "--ca", f"{client}/ca.pem", "--send", "ping", "--expect", "ping",
                             "--new-conn-each", "--no-resume", "--duration", "6s", "--interval", "5ms"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(3):
        time.sleep(1.5)
        pki.issue("server", SERVER_ID)  # replaces cert.pem, key.pem, ca.pem by rename
    out, err = load.communicate(timeout=30)
    summary = json_lines(out)[-1]
    assert summary["fail_count"] == 0, summary
    assert summary["ok_count"] > 100, summary
    assert len(set(summary["serials_seen"])) == 4, summary  # the first and three rotations
    assert s.log().count("configuration version") >= 3


@test
def bad_new_certificate_is_refused_and_the_old_one_keeps_serving():
    pki = Pki()
    server, client = pki.issue("server", SERVER_ID), pki.issue("client", CLIENT_ID)
    app()
    s = Skiff(inbound_config(server))
    before = go_client(client)
    assert before["ok"]
    with open(os.path.join(server, "cert.pem.tmp"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    os.rename(os.path.join(server, "cert.pem.tmp"), os.path.join(server, "cert.pem"))
    wait_for(lambda: "certificate rotation refused" in s.log(), what="the refusal log line")
    assert "cert.pem" in s.log().split("certificate rotation refused")[1].splitlines()[0]
    after = go_client(client)
    assert after["ok"] and after["serial"] == before["serial"], after


@test
def silent_client_on_a_strict_port_times_out():
    pki = Pki()
    app()
    s = Skiff(inbound_config(pki.issue("server", SERVER_ID)))
    c = socket.create_connection(("127.0.0.1", INBOUND))
    started = time.monotonic()
    c.settimeout(5)
    try:
        assert c.recv(1) == b""
    except ConnectionResetError:
        pass
    assert 0.8 < time.monotonic() - started < 3
    assert s.stat("listener.127.0.0.1_16006.ssl.handshake_timeout") == 1


@test
def tls_scan_shows_only_tls12_13_forward_secret_aead():
    pki = Pki()
    app()
    Skiff(inbound_config(pki.issue("server", SERVER_ID), min_version="TLSv1_2"))
    r = subprocess.run(["sslscan", "--no-colour", "--no-fallback", "--no-renegotiation",
                        "--no-compression", "--no-heartbleed", "--no-groups", f"127.0.0.1:{INBOUND}"],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout
    print("#   " + "\n#   ".join(l for l in out.splitlines() if "Accepted" in l or "enabled" in l))
    for proto in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
        assert re.search(rf"^{proto}\s+disabled", out, re.M), proto
    for proto in ("TLSv1.2", "TLSv1.3"):
        assert re.search(rf"^{proto}\s+enabled", out, re.M), proto
    accepted = [l for l in out.splitlines() if l.startswith(("Preferred", "Accepted"))]
    assert accepted, out
    for line in accepted:
        cipher = line.split()[4]
        assert ("GCM" in cipher or "CHACHA20" in cipher), line
        assert cipher.startswith(("TLS_", "ECDHE-")), line


if __name__ == "__main__":
    isolate()
    subprocess.run(["bash", os.path.join(ROOT, "test", "interop", "go", "build.sh")], check=True,
                   capture_output=True)
    run()
