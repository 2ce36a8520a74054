#!/usr/bin/python3
"""HTTP/1.1 through one skiff (issue 5): keep-alive, pipelining, chunked
bodies and trailers, Expect: 100-continue, 100 MB each way byte-exact,
hop-by-hop headers, a client reset while its request waits, WebSocket and
CONNECT tunnels. The application behind
is common.App, which logs every byte it was sent."""
import hashlib
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (MB, H1, App, cstat, get, log_path, lstat, pattern_chunks,  # noqa: E402
                    pattern_digest, simple_proxy, to, wait_log, ws_frame, ws_read)
from harness import isolate, run, test, wait_for  # noqa: E402

PORT, APP = 10080, 18080


@test
def keep_alive_serves_many_requests_on_one_connection_each_side():
    app = App(APP)
    log = log_path()
    s = simple_proxy(PORT, "app", [("127.0.0.1", APP)], log=log)
    c = H1(PORT)
    for i in range(50):
        r = c.roundtrip("GET", f"/r/{i}")
        assert r.status == 200 and r.json()["target"] == f"/r/{i}", (i, r)
    c.close()
    assert app.conns == 1, f"the app saw {app.conns} connections for 50 keep-alive requests"
    assert lstat(s, PORT, "downstream_cx_total") == 1
    wait_for(lambda: lstat(s, PORT, "downstream_rq_total") == 50, what="downstream_rq_total 50")
    assert cstat(s, "app", "upstream_rq_total") == 50
    assert cstat(s, "app", "upstream_cx_total") == 1
    assert cstat(s, "app", "upstream_cx_http1_total") == 1
    lines = wait_log(log, 50)
    assert all(l["response_code"] == 200 and l["protocol"] == "HTTP/1.1" and l["response_flags"] == "-"
               and l["upstream_cluster"] == "app" and l["upstream_host"] == f"127.0.0.1:{APP}"
               for l in lines), lines[:3]
    assert [l["path"] for l in lines] == [f"/r/{i}" for i in range(50)]
    assert len({l["request_id"] for l in lines}) == 50, "x-request-id not generated per request"


@test
def pipelined_requests_are_answered_in_order():
    app = App(APP)
    s = simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    c = H1(PORT)
    burst = b"".join(c_req for c_req in (
        f"GET /p/{i} HTTP/1.1\r\nHost: app\r\n\r\n".encode() if i % 3 else
        f"POST /p/{i} HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nbody{i % 10}".encode()
        for i in range(20)))
    c.send(burst)  # all twenty in one write
    for i in range(20):
        r = c.response()
        assert r.status == 200 and r.json()["target"] == f"/p/{i}", (i, r)
    c.close()
    assert [r["target"] for r in app.requests] == [f"/p/{i}" for i in range(20)]
    assert lstat(s, PORT, "downstream_cx_protocol_error") == 0


@test
def chunked_upload_with_trailers_arrives_byte_exact():
    App(APP)
    simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    rnd = random.Random(5)
    data = bytes(rnd.getrandbits(8) for _ in range(300_000))
    digest = hashlib.sha256(data).hexdigest()
    c = H1(PORT)
    c.send(b"POST /upload HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n"
           b"Trailer: X-Upload-Sum\r\nTE: trailers\r\n\r\n")
    off = 0
    while off < len(data):
        k = rnd.choice((1, 7, 4096, 65536, 100_000))
        piece = data[off:off + k]
        c.send(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))  # chunk extensions are legal
        off += k
    c.send(f"0\r\nX-Upload-Sum: {digest}\r\n\r\n".encode())
    r = c.response()
    assert r.status == 200, r
    got = r.json()
    assert got["sha256"] == digest and got["n"] == len(data), got
    assert got["trailers"].get("x-upload-sum") == digest, f"request trailer lost: {got['trailers']}"
    # and the connection still serves
    assert c.roundtrip("GET", "/after").status == 200
    c.close()


@test
def chunked_response_with_trailers_arrives_byte_exact():
    App(APP)
    simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    n = 3 * MB + 17
    c = H1(PORT)
    r = c.roundtrip("GET", f"/bytes?n={n}&chunked=1&trailers=1", headers=[("TE", "trailers")], digest=True)
    assert r.status == 200 and r.chunked, r
    assert r.digest == pattern_digest(n)
    assert dict(r.trailers).get("x-checksum") == pattern_digest(n), f"trailers: {r.trailers}"
    # and the connection still serves, framed by Content-Length
    r = c.roundtrip("GET", "/bytes?n=1000", digest=True)
    assert r.status == 200 and r.digest == pattern_digest(1000)
    c.close()


@test
def expect_100_continue_gets_the_interim_response_before_the_body():
    app = App(APP)
    simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    body = b"x" * 100_000
    c = H1(PORT)
    c.send(b"PUT /put HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    c.sock.settimeout(3)
    start, _ = c.r.head()  # nothing of the body sent yet
    assert start.startswith("HTTP/1.1 100"), f"wanted 100 Continue first, got {start!r}"
    c.send(body)
    r = c.response()
    assert r.status == 200 and r.json()["sha256"] == hashlib.sha256(body).hexdigest(), r
    assert app.requests[0]["n"] == len(body)
    c.close()


@test
def upload_of_100_mb_is_byte_exact():
    App(APP)
    s = simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    n = 100 * MB
    c = H1(PORT, timeout=30)
    started = time.monotonic()
    c.send(f"POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: {n}\r\n\r\n".encode())
    for chunk in pattern_chunks(n):
        c.send(chunk)
    r = c.response()
    assert r.status == 200 and r.json()["sha256"] == pattern_digest(n) and r.json()["n"] == n, r
    c.close()
    print(f"#   100 MB up through skiff in {time.monotonic() - started:.1f}s, RSS {s.rss_kb()} kB")
    assert s.rss_kb() < 200_000, "skiff buffered the body instead of streaming it"


@test
def download_of_100_mb_is_byte_exact():
    App(APP)
    s = simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    n = 100 * MB
    c = H1(PORT, timeout=30)
    started = time.monotonic()
    r = c.roundtrip("GET", f"/bytes?n={n}", digest=True)
    assert r.status == 200 and r.digest == pattern_digest(n)
    c.close()
    print(f"#   100 MB down through skiff in {time.monotonic() - started:.1f}s, RSS {s.rss_kb()} kB")
    assert s.rss_kb() < 200_000, "skiff buffered the body instead of streaming it"


@test
def hop_by_hop_headers_are_not_forwarded_and_host_is_kept():
    app = App(APP)
    simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    r = get(PORT, "/h", host="svc.example:8080",
            headers=[("Connection", "keep-alive, X-Hop"), ("X-Hop", "secret"), ("Keep-Alive", "timeout=5"),
                     ("Proxy-Connection", "keep-alive"), ("X-End-To-End", "kept")])
    assert r.status == 200, r
    h = app.requests[0]["h"]
    assert h.get("host") == "svc.example:8080", h
    assert h.get("x-end-to-end") == "kept"
    for hop in ("x-hop", "keep-alive", "proxy-connection"):
        assert hop not in h, f"{hop} reached the app: {h}"
    assert "x-request-id" in h and "x-forwarded-proto" in h, h


@test
def client_reset_while_waiting_ends_the_request_at_once():
    """A client that resets its connection while its request waits on a
    slow upstream: the stream ends then (DC, downstream_remote_disconnect)
    and the upstream request is reset, not carried on for nobody."""
    App(APP)
    log = log_path()
    s = simple_proxy(PORT, "app", [("127.0.0.1", APP)], log=log)
    c = H1(PORT)
    c.request("GET", "/slow?ms=5000")
    wait_for(lambda: cstat(s, "app", "upstream_rq_total") == 1, what="the request upstream")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    (line,) = wait_log(log, 1, timeout=2.0)  # the upstream would answer after 5 s
    assert line["response_flags"] == "DC" and line["response_code_details"] == \
        "downstream_remote_disconnect", line
    wait_for(lambda: cstat(s, "app", "upstream_cx_destroy") == 1, timeout=2.0,
             what="the upstream connection reset")
    assert get(PORT, "/after").status == 200


@test
def http_1_0_client_is_answered_and_closed():
    App(APP)
    simple_proxy(PORT, "app", [("127.0.0.1", APP)])
    c = H1(PORT)
    c.send(b"GET /old HTTP/1.0\r\nHost: app\r\n\r\n")
    r = c.response()
    assert r.status == 200 and r.json()["target"] == "/old", r
    assert c.closed(), "an HTTP/1.0 request without keep-alive must end the connection"


def upgrade_proxy(kind):
    routes = [to("app")]
    if kind == "CONNECT":
        routes.insert(0, {"match": {"connect_matcher": {}}, "route": {"cluster": "app"}})
    return simple_proxy(PORT, "app", [("127.0.0.1", APP)], routes=routes,
                        hcm_extra={"upgrade_configs": [{"upgrade_type": kind}]})


@test
def websocket_echo_through_upgrade():
    app = App(APP)
    upgrade_proxy("websocket")
    c = H1(PORT)
    c.send(b"GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    r = c.response()
    assert r.status == 101, r
    assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", r.headers
    mask = b"\x01\x02\x03\x04"
    for payload, op in ((b"hello through skiff", 1), (os.urandom(200_000), 2), (b"", 1)):
        c.send(ws_frame(payload, op, mask))
        assert ws_read(c.r) == (op, payload)
    c.send(ws_frame(b"\x03\xe8", 8, mask))
    assert ws_read(c.r) == (8, b"\x03\xe8")
    assert c.closed(), "the tunnel stayed open after the app closed"
    assert app.requests[0]["h"].get("upgrade", "").lower() == "websocket"


@test
def connect_tunnels_bytes_both_ways():
    app = App(APP)
    upgrade_proxy("CONNECT")
    c = H1(PORT)
    c.send(b"CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n")
    r = c.response("CONNECT")
    assert r.status == 200, r
    data = os.urandom(1 * MB)
    c.send(data)
    got = c.r.exact(len(data))
    assert got == data
    assert app.requests and app.requests[0]["method"] == "CONNECT", app.requests
    c.close()


if __name__ == "__main__":
    isolate()
    run()
