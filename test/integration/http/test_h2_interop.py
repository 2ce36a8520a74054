#!/usr/bin/python3
"""HTTP/2 through skiff against independent implementations (issue 5):
curl and h2load (nghttp2) with h2c prior knowledge, Go's net/http client
over TLS with ALPN h2 (Go 1.19's standard library has no h2c), Go's
net/http server as an HTTP/2 upstream over TLS, and Python h2 driving raw
frames: flow control with a small window, trailers both ways, RST_STREAM
in the middle of a body."""
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (MB, H1, App, Pki, Skiff, bootstrap, build_peers, cluster, cstat, go_client,  # noqa: E402
                    go_server, hcm, listener, log_path, lstat, pattern_chunks, pattern_digest,
                    simple_proxy, spiffe, tls_context, to, vhost, wait_log)
from harness import after_test, isolate, run, test, wait_for  # noqa: E402

PORT, TLS_PORT, APP, GO = 10080, 10443, 18080, 18443


def plain_proxy(**kw):
    return simple_proxy(PORT, "app", [("127.0.0.1", APP)], **kw)


@test
def curl_with_h2c_prior_knowledge_downloads_and_uploads_byte_exact():
    app = App(APP)
    s = plain_proxy()
    n = 3 * MB + 5
    d = tempfile.mkdtemp()
    up = os.path.join(d, "up")
    with open(up, "wb") as f:
        for c in pattern_chunks(n):
            f.write(c)
    after_test(lambda: subprocess.run(["rm", "-rf", d]))
    r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", os.path.join(d, "down"),
                        "-w", "%{http_version} %{http_code}", f"http://127.0.0.1:{PORT}/bytes?n={n}"],
                       capture_output=True, text=True, timeout=30)
    with open(os.path.join(d, "down"), "rb") as f:
        got = f.read()
    assert r.returncode == 0 and r.stdout == "2 200", (r.returncode, r.stdout, r.stderr, f"{len(got)} of {n} bytes")
    assert len(got) == n and hashlib.sha256(got).hexdigest() == pattern_digest(n)
    r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--data-binary", "@" + up,
                        "-w", "\n%{http_version} %{http_code}", f"http://127.0.0.1:{PORT}/upload"],
                       capture_output=True, text=True, timeout=30)
    body, _, tail = r.stdout.rpartition("\n")
    assert r.returncode == 0 and tail == "2 200", (r.returncode, r.stdout[-300:], r.stderr)
    assert app.requests[-1]["sha256"] == pattern_digest(n) and app.requests[-1]["n"] == n
    assert lstat(s, PORT, "downstream_cx_http2_total") == 2
    assert cstat(s, "app", "upstream_cx_http1_total") >= 1


@test
def h2load_multiplexed_load_all_succeeds():
    App(APP)
    s = plain_proxy()
    r = subprocess.run(["h2load", "-n", "3000", "-c", "4", "-m", "16", f"http://127.0.0.1:{PORT}/status/200"],
                       capture_output=True, text=True, timeout=60)
    assert re.search(r"requests: 3000 total, 3000 started, 3000 done, 3000 succeeded, 0 failed", r.stdout), \
        r.stdout[-1500:]
    assert re.search(r"status codes: 3000 2xx", r.stdout), r.stdout[-1500:]
    assert "h2c" in r.stdout, r.stdout[-1500:]
    assert lstat(s, PORT, "downstream_cx_http2_total") == 4
    wait_for(lambda: lstat(s, PORT, "downstream_rq_total") == 3000, what="3000 requests counted")


def tls_proxy(pki, log=None):
    server = pki.issue("skiff", "skiff")
    f = hcm("tls", [vhost([to("app")])], log=log)
    cfg = bootstrap([listener("tls", TLS_PORT, f, tls=tls_context("Downstream", server, alpn=("h2", "http/1.1")))],
                    [cluster("app", [("127.0.0.1", APP)])])
    return Skiff(cfg, args=["--concurrency", "1"])


@test
def go_net_http_client_over_tls_h2_multiplexes_on_one_connection():
    app = App(APP)
    pki = Pki()
    client = pki.issue("client", "go-client")
    log = log_path()
    s = tls_proxy(pki, log)
    r = go_client(f"https://127.0.0.1:{TLS_PORT}/upload", client, "--method", "POST", "--body-size",
                  str(256 * 1024), "--count", "200", "--concurrency", "20", "--expect-status", "200")
    assert r["ok"] and r["protos"] == {"HTTP/2.0": 200} and r["conns"] == 1, r
    assert r["peer_spiffe"] == spiffe("skiff"), r
    sums = {q["sha256"] for q in app.requests}
    assert sums == {r["request_sha256"]} and len(app.requests) == 200, sums
    # Go's transport may dial one TLS connection per request in flight
    # before the first negotiates h2, then close the spares unused (the
    # client saw one connection carry every request: conns == 1 above). A
    # spare that finished its handshake negotiated h2 too, so it counts as
    # an HTTP/2 connection; one may also still be mid-handshake when the
    # client exits. Once every connection is gone: each either finished its
    # handshake on h2 or broke off during it, none spoke HTTP/1 or
    # plaintext, and the 200 requests came in.
    wait_for(lambda: lstat(s, TLS_PORT, "downstream_cx_destroy") == lstat(s, TLS_PORT, "downstream_cx_total"),
             what="every downstream connection closed")
    names = ("downstream_cx_total", "ssl.handshake", "downstream_cx_http2_total", "downstream_cx_http1_total",
             "downstream_cx_plaintext", "downstream_cx_plaintext_refused", "downstream_rq_total")
    total, hs, h2, h1, plain, refused, rq = (lstat(s, TLS_PORT, n) for n in names)
    print(f"# {total} connections, {hs} handshakes, {h2} HTTP/2")
    assert 1 <= h2 <= hs <= total and (h1, plain, refused, rq) == (0, 0, 0, 200), \
        dict(zip(names, (total, hs, h2, h1, plain, refused, rq)))
    lines = wait_log(log, 200)
    assert all(l["protocol"] == "HTTP/2" and l["downstream_peer_uri_san"] == spiffe("go-client")
               for l in lines), lines[0]


@test
def go_net_http_server_is_an_http2_upstream_over_tls():
    pki = Pki()
    go_id, me = pki.issue("go", "go-server"), pki.issue("sidecar", "sidecar")
    go_server(GO, go_id, name="go")
    log = log_path()
    up = cluster("go", [("127.0.0.1", GO)], http2=True,
                 tls=tls_context("Upstream", me, sans=[spiffe("go-server")], alpn=("h2",)))
    cfg = bootstrap([listener("l", PORT, hcm("h1in", [vhost([to("go")])], log=log))], [up])
    s = Skiff(cfg, args=["--concurrency", "1"])
    # ten HTTP/1.1 clients at once, one HTTP/2 connection upstream
    results, n = [None] * 10, 2 * MB

    def one(i):
        c = H1(PORT, timeout=30)
        c.send(f"POST /up{i} HTTP/1.1\r\nHost: go.example\r\nContent-Length: {n}\r\n\r\n".encode())
        for ch in pattern_chunks(n):
            c.send(ch)
        r = c.response()
        results[i] = r.json() if r.status == 200 and r.body else repr(r)
        c.close()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for i, got in enumerate(results):
        assert isinstance(got, dict), f"upload {i}: {got}"
        assert got["proto"] == "HTTP/2.0" and got["sha256"] == pattern_digest(n), got
        assert got["peer_spiffe"] == spiffe("sidecar") and got["host"] == "go.example", got
    assert cstat(s, "go", "upstream_cx_http2_total") == 1 and cstat(s, "go", "upstream_cx_total") == 1
    assert cstat(s, "go", "ssl.handshake") == 1
    lines = wait_log(log, 10)
    assert all(l["upstream_peer_uri_san"] == spiffe("go-server") for l in lines), lines[-1]


@test
def go_http2_upstream_download_with_trailers_reaches_an_http1_client():
    pki = Pki()
    go_id, me = pki.issue("go", "go-server"), pki.issue("sidecar", "sidecar")
    go_server(GO, go_id, name="go")
    up = cluster("go", [("127.0.0.1", GO)], http2=True,
                 tls=tls_context("Upstream", me, sans=[spiffe("go-server")], alpn=("h2",)))
    Skiff(bootstrap([listener("l", PORT, hcm("h1in", [vhost([to("go")])]))], [up]), args=["--concurrency", "1"])
    n = 2 * MB
    c = H1(PORT)
    r = c.roundtrip("GET", f"/bytes?n={n}&trailers=1", headers=[("TE", "trailers")], digest=True)
    assert r.status == 200 and r.digest == pattern_digest(n), r
    assert r.chunked and dict(r.trailers).get("x-checksum") == pattern_digest(n), r.trailers


class H2:
    """A raw HTTP/2 client (Python h2) over h2c prior knowledge."""

    def __init__(self, port, window=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                         header_encoding="utf-8"))
        self.conn.initiate_connection()
        if window:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.streams = {}
        self.max_frame = 0
        self.auto_ack = True

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def stream(self, sid):
        return self.streams.setdefault(sid, {"headers": None, "sha": hashlib.sha256(), "n": 0, "body": b"",
                                             "trailers": None, "ended": False, "reset": None})

    def pump(self, until, keep_body=False):
        while not until():
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("skiff closed the HTTP/2 connection")
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.stream(ev.stream_id)["headers"] = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    st = self.stream(ev.stream_id)
                    st["sha"].update(ev.data)
                    st["n"] += len(ev.data)
                    if keep_body:
                        st["body"] += ev.data
                    self.max_frame = max(self.max_frame, len(ev.data))
                    if self.auto_ack:
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    self.stream(ev.stream_id)["trailers"] = dict(ev.headers)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.stream(ev.stream_id)["ended"] = True
                elif isinstance(ev, h2.events.StreamReset):
                    self.stream(ev.stream_id)["reset"] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    raise EOFError(f"GOAWAY {ev.error_code}")
            self.flush()

    def request(self, method, path, body_chunks=None, trailers=None, end=True):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", method), (":path", path), (":scheme", "http"),
                                     (":authority", "app.example")],
                               end_stream=body_chunks is None and trailers is None and end)
        self.flush()
        if body_chunks is not None:
            for chunk in body_chunks:
                self.send_body(sid, chunk)
        if trailers:
            self.conn.send_headers(sid, trailers, end_stream=True)
        elif body_chunks is not None and end:
            self.conn.end_stream(sid)
        self.flush()
        return sid

    def send_body(self, sid, chunk):
        """Sends chunk within the peer's flow-control windows, waiting for
        WINDOW_UPDATEs as needed (h2 refuses to overrun a window)."""
        view = memoryview(chunk)
        while view:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size, len(view))
            if room <= 0:
                self.pump(lambda: self.conn.local_flow_control_window(sid) > 0)
                continue
            self.conn.send_data(sid, bytes(view[:room]))
            self.flush()
            view = view[room:]

    def done(self, sid):
        return lambda: self.stream(sid)["ended"] or self.stream(sid)["reset"] is not None


@test
def python_h2_small_client_window_download_byte_exact():
    App(APP)
    plain_proxy()
    c = H2(PORT, window=1024)  # a tiny stream window: skiff must respect it
    n = 2 * MB
    sid = c.request("GET", f"/bytes?n={n}")
    c.pump(c.done(sid))
    st = c.stream(sid)
    assert st["headers"][":status"] == "200" and st["n"] == n, {k: st[k] for k in ("headers", "n", "reset")}
    assert st["sha"].hexdigest() == pattern_digest(n)
    assert c.max_frame <= 1024, f"a DATA frame of {c.max_frame} bytes overran a 1024-byte window"


@test
def python_h2_upload_against_skiffs_minimal_windows_byte_exact():
    app = App(APP)
    # skiff's own windows at the protocol minimum: the upload only moves as
    # fast as skiff hands bytes to the app and reopens its windows.
    plain_proxy(hcm_extra={"http2_protocol_options": {"initial_stream_window_size": 65535,
                                                      "initial_connection_window_size": 65535}})
    c = H2(PORT)
    up = 4 * MB
    sid = c.request("POST", "/upload", body_chunks=pattern_chunks(up, 256 * 1024))
    c.pump(c.done(sid), keep_body=True)
    assert c.stream(sid)["headers"][":status"] == "200", c.stream(sid)
    assert app.requests[-1]["sha256"] == pattern_digest(up) and app.requests[-1]["n"] == up


@test
def python_h2_trailers_cross_to_http1_and_back():
    app = App(APP)
    plain_proxy()
    c = H2(PORT)
    body = b"trailer test body" * 1000
    digest = hashlib.sha256(body).hexdigest()
    sid = c.request("POST", "/upload", body_chunks=[body], trailers=[("x-upload-sum", digest)])
    c.pump(c.done(sid), keep_body=True)
    assert c.stream(sid)["headers"][":status"] == "200"
    got = app.requests[-1]
    assert got["sha256"] == digest and got["trailers"].get("x-upload-sum") == digest, got["trailers"]
    sid = c.request("GET", "/bytes?n=100000&chunked=1&trailers=1")
    c.pump(c.done(sid))
    st = c.stream(sid)
    assert st["sha"].hexdigest() == pattern_digest(100000)
    assert st["trailers"] == {"x-checksum": pattern_digest(100000)}, st["trailers"]


@test
def python_h2_rst_stream_mid_body_leaves_the_connection_serving():
    app = App(APP)
    s = plain_proxy()
    c = H2(PORT)
    # an upload reset half way: the app must never see it as a complete request
    sid = c.request("POST", "/half", body_chunks=[b"x" * 100_000], end=False)
    c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    # a download reset after its first bytes
    big = c.request("GET", f"/bytes?n={50 * MB}")
    c.auto_ack = False
    c.pump(lambda: c.stream(big)["n"] > 0)
    c.conn.reset_stream(big, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    c.auto_ack = True
    sid = c.request("GET", "/after-resets")
    c.pump(c.done(sid), keep_body=True)
    assert c.stream(sid)["headers"][":status"] == "200", c.stream(sid)
    wait_for(lambda: lstat(s, PORT, "downstream_rq_rx_reset") == 2, what="two resets counted")
    assert app.count(path="/half") == 0, "a reset upload reached the app as a whole request"
    assert app.count(path="/after-resets") == 1


if __name__ == "__main__":
    isolate()
    build_peers()
    run()
