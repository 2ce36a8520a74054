#!/usr/bin/python3
"""The mesh pair (issue 5): an HTTP/1.1 app calls another through two skiff
sidecars, and the wire between the sidecars is HTTP/2 over mTLS, many app
connections multiplexed on few sidecar connections; and a gRPC unary and
server-streaming call (Node @grpc/grpc-js client and server) across the
same pair, trailers and grpc-status intact.

  client ──h1/h2c──> skiff A :16001 (outbound)  ──HTTP/2 + mTLS──>
      skiff B :16006 (inbound, mTLS) ──h1──> app :18080
                                     ──h2c─> gRPC server :19090

The client connects to skiff A's port directly rather than through the BPF
capture (test/integration/bpf covers capture): this file is about what
skiff does with the bytes, and runs without BPF privileges or kernel
features."""
import hashlib
import os
import random
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (GRPC_DIR, MB, H1, App, Pki, Skiff, bootstrap, cluster, cstat, grpc_calls, grpc_server,  # noqa: E402
                    hcm, listener, log_path, lstat, pattern_chunks, pattern_digest, prom_sum,
                    prometheus, spiffe, tls_context, to, vhost, wait_log, ws_frame, ws_read)
from harness import isolate, run, test  # noqa: E402

OUT, IN, APP, GRPC = 16001, 16006, 18080, 19090
A_ID, B_ID = spiffe("sidecar-a"), spiffe("sidecar-b")


class Mesh:
    def __init__(self, websocket=False):
        pki = Pki()
        a, b = pki.issue("a", "sidecar-a"), pki.issue("b", "sidecar-b")
        self.log_a, self.log_b = log_path("a"), log_path("b")
        in_extra, out_extra = {}, {}
        if websocket:  # WebSocket over HTTP/2 is RFC 8441 extended CONNECT
            out_extra = {"upgrade_configs": [{"upgrade_type": "websocket"}]}
            in_extra = {"upgrade_configs": [{"upgrade_type": "websocket"}],
                        "http2_protocol_options": {"allow_connect": True}}
        mesh_b = cluster("mesh-b", [("127.0.0.1", IN)], http2=True,
                         tls=tls_context("Upstream", a, sans=[B_ID], alpn=("h2",)))
        if websocket:
            opts = mesh_b["typed_extension_protocol_options"]
            opts["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicit_http_config"] = {
                "http2_protocol_options": {"allow_connect": True}}
        cfg_a = bootstrap([listener("outbound", OUT, hcm("outbound", [vhost([to("mesh-b")])], log=self.log_a,
                                                         **out_extra), direction="OUTBOUND")],
                          [mesh_b], admin_port=15000)
        routes = [to("grpc", "/skiff.test.Echo/"), to("app")]
        cfg_b = bootstrap([listener("inbound", IN, hcm("inbound", [vhost(routes)], log=self.log_b, **in_extra),
                                    tls=tls_context("Downstream", b, sans=[A_ID], alpn=("h2", "http/1.1")),
                                    direction="INBOUND")],
                          [cluster("app", [("127.0.0.1", APP)]),
                           cluster("grpc", [("127.0.0.1", GRPC)], http2=True)], admin_port=15100)
        self.b = Skiff(cfg_b, args=["--concurrency", "1"], admin_port=15100)
        self.a = Skiff(cfg_a, args=["--concurrency", "1"], admin_port=15000)


@test
def wire_between_sidecars_is_http2_over_mtls_and_multiplexed():
    app = App(APP)
    m = Mesh()
    clients, per = 40, 5
    errors = []

    def one(i):
        try:
            c = H1(OUT)
            for j in range(per):
                r = c.roundtrip("GET", f"/c{i}/r{j}", host="app-b.default.svc")
                if r.status != 200 or r.json()["target"] != f"/c{i}/r{j}":
                    errors.append((i, j, r))
            c.close()
        except Exception as e:  # collected, asserted below
            errors.append((i, repr(e)))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors[:5]
    total = clients * per
    a, b = m.a, m.b
    cx = cstat(a, "mesh-b", "upstream_cx_total")
    assert 1 <= cx <= 2, f"{clients} app connections took {cx} sidecar connections"
    assert cstat(a, "mesh-b", "upstream_cx_http2_total") == cx, "the sidecar wire was not HTTP/2"
    assert cstat(a, "mesh-b", "ssl.handshake") == cx, "the sidecar wire was not TLS"
    assert cstat(a, "mesh-b", "upstream_rq_total") == total
    assert lstat(a, OUT, "downstream_cx_total") == clients
    assert lstat(a, OUT, "downstream_cx_http1_total") == clients
    assert lstat(b, IN, "downstream_cx_http2_total") == cx and lstat(b, IN, "ssl.handshake") == cx
    assert len(app.requests) == total
    h = app.requests[0]["h"]
    assert h.get("host") == "app-b.default.svc", h
    la, lb = wait_log(m.log_a, total), wait_log(m.log_b, total)
    assert all(l["upstream_peer_uri_san"] == B_ID and l["protocol"] == "HTTP/1.1" for l in la), la[0]
    assert all(l["downstream_peer_uri_san"] == A_ID and l["protocol"] == "HTTP/2" for l in lb), lb[0]
    mtls = dict(source_principal=A_ID, destination_principal=B_ID, connection_security_policy="mutual_tls",
                response_code="200")
    assert prom_sum(prometheus(b), "istio_requests_total", reporter="destination", **mtls) == total
    assert prom_sum(prometheus(a), "istio_requests_total", reporter="source", **mtls) == total


@test
def upload_of_100_mb_crosses_both_sidecars_byte_exact():
    App(APP)
    m = Mesh()
    n = 100 * MB
    c = H1(OUT, timeout=30)
    c.send(f"POST /up HTTP/1.1\r\nHost: app-b\r\nContent-Length: {n}\r\n\r\n".encode())
    for chunk in pattern_chunks(n):
        c.send(chunk)
    r = c.response()
    assert r.status == 200 and r.json()["sha256"] == pattern_digest(n) and r.json()["n"] == n, r
    c.close()
    print(f"#   RSS after 100 MB: A {m.a.rss_kb()} kB, B {m.b.rss_kb()} kB")
    assert m.a.rss_kb() < 200_000 and m.b.rss_kb() < 200_000, "a sidecar buffered the whole body"


@test
def download_of_100_mb_crosses_both_sidecars_byte_exact():
    App(APP)
    m = Mesh()
    n = 100 * MB
    c = H1(OUT, timeout=30)
    r = c.roundtrip("GET", f"/bytes?n={n}", host="app-b", digest=True)
    assert r.status == 200 and r.digest == pattern_digest(n), r
    c.close()
    print(f"#   RSS after 100 MB: A {m.a.rss_kb()} kB, B {m.b.rss_kb()} kB")
    assert m.a.rss_kb() < 200_000 and m.b.rss_kb() < 200_000, "a sidecar buffered the whole body"


@test
def chunked_upload_with_trailer_crosses_both_sidecars_byte_exact():
    App(APP)
    m = Mesh()
    c = H1(OUT, timeout=30)
    # a chunked upload, odd chunk sizes, with a trailer
    rnd = random.Random(7)
    data = rnd.randbytes(5 * MB + 3)
    digest = hashlib.sha256(data).hexdigest()
    c.send(b"POST /chunked HTTP/1.1\r\nHost: app-b\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n")
    off = 0
    while off < len(data):
        k = rnd.choice((1, 100, 8191, 70_000, 1 << 20))
        c.send(b"%x\r\n%s\r\n" % (len(data[off:off + k]), data[off:off + k]))
        off += k
    c.send(f"0\r\nX-Sum: {digest}\r\n\r\n".encode())
    r = c.response()
    assert r.status == 200 and r.json()["sha256"] == digest and r.json()["n"] == len(data), r
    assert r.json()["trailers"].get("x-sum") == digest, f"trailer lost across the mesh: {r.json()['trailers']}"
    c.close()
    assert cstat(m.a, "mesh-b", "upstream_cx_http2_total") == 1


@test
def websocket_echo_across_the_mesh():
    app = App(APP)
    Mesh(websocket=True)
    c = H1(OUT)
    c.send(b"GET /ws HTTP/1.1\r\nHost: app-b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    r = c.response()
    assert r.status == 101 and r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", r
    mask = b"\x0a\x0b\x0c\x0d"
    for payload, op in ((b"across two sidecars", 1), (os.urandom(300_000), 2)):
        c.send(ws_frame(payload, op, mask))
        assert ws_read(c.r) == (op, payload)
    c.send(ws_frame(b"\x03\xe8", 8, mask))
    assert ws_read(c.r) == (8, b"\x03\xe8")
    assert app.requests[0]["h"].get("upgrade", "").lower() == "websocket"


@test
def grpc_unary_and_streaming_through_two_sidecars_with_mtls():
    App(APP)
    grpc_server(GRPC)
    m = Mesh()
    calls = [
        {"rpc": "Say", "request": {"message": "hello"}},
        {"rpc": "Say", "request": {"message": "denied", "status_code": 7, "status_message": "not you"}},
        {"rpc": "Count", "request": {"message": "tick", "count": 50, "size": 10_000}},
        {"rpc": "Count", "request": {"message": "cut", "count": 5, "size": 100, "status_code": 13,
                                     "status_message": "broke mid-stream"}},
    ]
    ok, denied, stream, broken = grpc_calls(f"127.0.0.1:{OUT}", calls)
    assert ok["ok"] and ok["replies"][0]["message"] == "hello", ok
    assert ok["trailers"].get("x-echo-trailer") == "done-hello", ok
    assert denied["code"] == 7 and denied["details"] == "not you", denied
    assert denied["trailers"].get("x-echo-trailer") == "done-denied", denied
    assert stream["ok"] and len(stream["replies"]) == 50 and stream["bytes"] == 500_000, \
        {k: stream[k] for k in ("code", "details", "bytes")}
    assert [r["index"] for r in stream["replies"]] == list(range(50))
    assert stream["trailers"].get("x-echo-trailer") == "done-tick", stream["trailers"]
    assert broken["code"] == 13 and broken["details"] == "broke mid-stream" and len(broken["replies"]) == 5, \
        {k: broken[k] for k in ("code", "details", "trailers")}
    assert cstat(m.a, "mesh-b", "upstream_cx_http2_total") == 1 and cstat(m.a, "mesh-b", "ssl.handshake") == 1
    assert cstat(m.b, "grpc", "upstream_cx_http2_total") == 1
    lb = wait_log(m.log_b, 4)
    assert all(l["downstream_peer_uri_san"] == A_ID and l["response_code"] == 200 for l in lb), lb
    p = prometheus(m.b)
    grpc = dict(reporter="destination", request_protocol="grpc", source_principal=A_ID)
    assert prom_sum(p, "istio_requests_total", grpc_response_status="0", **grpc) == 2
    assert prom_sum(p, "istio_requests_total", grpc_response_status="7", **grpc) == 1
    assert prom_sum(p, "istio_requests_total", grpc_response_status="13", **grpc) == 1


if __name__ == "__main__":
    isolate()
    # The gRPC peer's packages (make test runs this too; quick when done).
    subprocess.run(["bash", os.path.join(GRPC_DIR, "setup.sh")], check=False)
    run()
