#!/usr/bin/python3
"""The HTTP connection manager's timeouts, as Envoy has them:

  stream_idle_timeout  no byte of a stream moving either way for this long:
                       504 SI once the request is whole (408 before), a
                       reset once the response has begun; counted in
                       downstream_rq_idle_timeout. A route's idle_timeout
                       overrides it. Tunnels are streams too.
  request_timeout      the whole request within this long, else 408;
                       counted in downstream_rq_timeout.
  drain_timeout        on drain, GOAWAY at once, then at most this long
                       before the last GOAWAY and the close.

skiff's sweep runs every 100 ms: the margins below are wide.
"""
import os
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (H1, H2, App, Reader, Skiff, bootstrap, cluster, get, hcm, listener, log_path,  # noqa: E402
                    lstat, skiff_log_tail, to, vhost, wait_log, ws_frame, ws_read)
from harness import isolate, run, test, wait_for  # noqa: E402
from peers import Backend  # noqa: E402

PORT, APP = 10080, 18080


def proxy(routes=None, log=None, args=(), **hcm_extra):
    f = hcm("to", [vhost(routes or [to("app")])], log=log, **hcm_extra)
    cfg = bootstrap([listener("l", PORT, f)], [cluster("app", [("127.0.0.1", APP)])])
    return Skiff(cfg, args=["--concurrency", "1", *args])


def idle_count(s):
    return lstat(s, PORT, "downstream_rq_idle_timeout")


def timed(fn):
    started = time.monotonic()
    out = fn()
    return out, time.monotonic() - started


def read_request(conn):
    """Reads one request head (and nothing else) off conn."""
    r = Reader(conn)
    start, _ = r.head()
    return start


def trickling_server(chunks, every):
    """An upstream that answers with `chunks` chunks, one each `every` s."""
    def handler(conn):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(chunks):
            time.sleep(every)
            conn.sendall(b"6\r\nchunk%d\r\n" % (i % 10))
        conn.sendall(b"0\r\n\r\n")
        time.sleep(1)
    return handler


def stalling_server(conn):
    """An upstream that sends its head and 10 of 100 bytes, then nothing."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    conn.settimeout(15)
    try:
        conn.recv(1)
    except OSError:
        pass


# ------------------------------------------------------ stream idle ----

@test
def stream_idle_timeout_answers_504_SI_and_counts_it():
    App(APP)
    log = log_path()
    s = proxy(log=log, stream_idle_timeout="1s")
    r, took = timed(lambda: get(PORT, "/slow?ms=6000"))
    assert r.status == 504 and r.body == b"stream timeout", r
    assert 0.8 < took < 4, f"answered after {took:.2f}s for a 1s stream idle timeout"
    (line,) = wait_log(log, 1)
    assert line["response_flags"] == "SI" and line["response_code"] == 504, line
    assert line["response_code_details"] == "stream_idle_timeout", line
    assert idle_count(s) == 1
    assert lstat(s, PORT, "downstream_rq_timeout") == 0
    assert get(PORT, "/fast").status == 200  # the listener keeps serving


@test
def stream_idle_timeout_over_http2_is_504_SI():
    App(APP)
    log = log_path()
    s = proxy(log=log, stream_idle_timeout="1s")
    c = H2(PORT)
    started = time.monotonic()
    sid = c.request("/slow?ms=6000")
    assert c.pump(c.done(sid), 6), c.streams
    took = time.monotonic() - started
    assert c.stream(sid)["status"] == 504 and 0.8 < took < 4, (c.streams, took)
    (line,) = wait_log(log, 1)
    assert line["response_flags"] == "SI" and line["protocol"] == "HTTP/2", line
    assert idle_count(s) == 1
    sid = c.request("/fast")  # the connection still serves
    assert c.pump(c.done(sid), 5) and c.stream(sid)["status"] == 200, c.streams


@test
def stream_idle_timeout_resets_a_response_that_stalls_after_its_head():
    Backend(stalling_server, APP)
    log = log_path()
    s = proxy(log=log, stream_idle_timeout="1s")
    c = H1(PORT)
    c.request("GET", "/stall")
    started = time.monotonic()
    start, headers = c.r.head()
    assert start.split()[1] == "200", start
    try:
        body = c.r.exact(100)
    except (EOFError, ConnectionError):
        body = None
    took = time.monotonic() - started
    assert body is None, "the stalled response was completed"
    assert 0.8 < took < 4, f"cut after {took:.2f}s for a 1s stream idle timeout"
    (line,) = wait_log(log, 1)
    assert line["response_flags"] == "SI" and line["response_code"] == 200, line
    assert idle_count(s) == 1


@test
def client_stalling_in_its_request_head_gets_408_SI():
    app = App(APP)
    log = log_path()
    s = proxy(log=log, stream_idle_timeout="1s")
    c = H1(PORT)
    c.send(b"GET /half HTTP/1.1\r\nHost: app\r\n")  # and nothing more
    r, took = timed(c.response)
    assert r.status == 408 and r.header("connection") == "close", r
    assert 0.8 < took < 4, took
    assert c.closed()
    (line,) = wait_log(log, 1)
    assert line["response_flags"] == "SI" and line["response_code"] == 408, line
    assert idle_count(s) == 1 and app.count() == 0


@test
def route_idle_timeout_overrides_the_listeners():
    App(APP)
    log = log_path()
    routes = [to("app", prefix="/long/", prefix_rewrite="/", idle_timeout="8s"),
              to("app", prefix="/short/", prefix_rewrite="/", idle_timeout="1s"),
              to("app", prefix="/none/", prefix_rewrite="/", idle_timeout="0s"),
              to("app")]
    s = proxy(routes, log=log, stream_idle_timeout="3s")
    r, took = timed(lambda: get(PORT, "/short/slow?ms=6000"))
    assert r.status == 504 and 0.8 < took < 2.8, (r, took)
    r = get(PORT, "/long/slow?ms=4500")  # past the listener's 3s, within the route's 8s
    assert r.status == 200, r
    r, took = timed(lambda: get(PORT, "/slow?ms=8000"))  # no route value: the listener's 3s
    assert r.status == 504 and 2.8 < took < 6, (r, took)
    r = get(PORT, "/none/slow?ms=4500")  # 0s on the route: no idle timeout at all (Envoy)
    assert r.status == 200, r
    assert [l["response_code"] for l in wait_log(log, 4)] == [504, 200, 504, 200]
    assert idle_count(s) == 2


@test
def streaming_response_that_keeps_moving_is_not_cut():
    Backend(trickling_server(chunks=12, every=0.4), APP)  # 4.8 s in all, a chunk each 0.4 s
    log = log_path()
    s = proxy(log=log, stream_idle_timeout="1s")
    r, took = timed(lambda: get(PORT, "/stream", timeout=20))
    assert r.status == 200 and r.body == b"".join(b"chunk%d" % (i % 10) for i in range(12)), r
    assert took > 4, took
    (line,) = wait_log(log, 1)
    assert line["response_flags"] == "-", line
    assert idle_count(s) == 0


@test
def slow_upload_that_keeps_moving_is_not_cut():
    app = App(APP)
    s = proxy(stream_idle_timeout="1s")
    c = H1(PORT)
    c.send(b"POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 12\r\n\r\n")
    for _ in range(12):  # 4.8 s in all
        time.sleep(0.4)
        c.send(b"u")
    r = c.response()
    assert r.status == 200 and r.json()["n"] == 12, r
    assert app.count(path="/up") == 1
    assert idle_count(s) == 0


@test
def idle_websocket_tunnel_is_closed_by_stream_idle_timeout():
    App(APP)
    log = log_path()
    s = proxy(log=log, stream_idle_timeout="1s", upgrade_configs=[{"upgrade_type": "websocket"}])
    c = H1(PORT)
    c.send(b"GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert c.response().status == 101
    mask = b"\x01\x02\x03\x04"
    for i in range(6):  # traffic every 0.4 s for 2.4 s: alive throughout
        c.send(ws_frame(b"ping %d" % i, 1, mask))
        assert ws_read(c.r) == (1, b"ping %d" % i)
        time.sleep(0.4)
    started = time.monotonic()
    assert c.closed(5), "the idle tunnel stayed open"
    assert time.monotonic() - started > 0.4
    (line,) = wait_log(log, 1)
    assert line["response_flags"] == "SI" and line["response_code"] == 101, line
    assert idle_count(s) == 1


# ---------------------------------------------------------- request ----

@test
def request_timeout_answers_408_to_a_slow_body():
    app = App(APP)
    log = log_path()
    s = proxy(log=log, request_timeout="1s")
    c = H1(PORT)
    started = time.monotonic()
    c.send(b"POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 1000\r\n\r\n" + b"b" * 10)
    # a byte each 0.2 s: never idle, never done
    while not select.select([c.sock], [], [], 0.2)[0]:
        assert time.monotonic() - started < 6, "no answer to the slow request"
        try:
            c.send(b"b")
        except OSError:
            break
    r = c.response()
    took = time.monotonic() - started
    assert r.status == 408 and r.body == b"request timeout", r
    assert r.header("connection") == "close", r.headers
    assert 0.8 < took < 4, took
    assert c.closed(), "the connection stayed open after 408"
    (line,) = wait_log(log, 1)
    assert line["response_code"] == 408 and line["response_flags"] == "-", line
    assert line["response_code_details"] == "request_overall_timeout", line
    assert lstat(s, PORT, "downstream_rq_timeout") == 1
    assert idle_count(s) == 0
    assert app.count(path="/up") == 0  # the app never saw a whole request


@test
def request_timeout_over_http2_is_408_and_ends_the_stream():
    App(APP)
    log = log_path()
    s = proxy(log=log, request_timeout="1s")
    c = H2(PORT)
    sid = c.request("/up", method="POST", end=False)  # the body never comes
    assert c.pump(c.done(sid), 6), c.streams
    assert c.stream(sid)["status"] == 408, c.streams
    # the answer is whole, the request is not: RST_STREAM NO_ERROR asks the
    # client to stop sending (RFC 9113 8.1), and the stream is done
    assert c.pump(lambda: c.stream(sid)["reset"] is not None, 3), c.streams
    assert c.stream(sid)["reset"] == 0, c.streams
    (line,) = wait_log(log, 1)
    assert line["response_code"] == 408 and line["protocol"] == "HTTP/2", line
    assert lstat(s, PORT, "downstream_rq_timeout") == 1


@test
def request_timeout_stops_once_the_request_is_in():
    App(APP)
    s = proxy(request_timeout="1s")
    r = get(PORT, "/slow?ms=2500")  # a slow response, not a slow request
    assert r.status == 200, r
    assert lstat(s, PORT, "downstream_rq_timeout") == 0


# ------------------------------------------------------------ drain ----

@test
def drain_timeout_bounds_an_http2_connection_on_sigterm():
    app = App(APP)
    log = log_path()
    s = proxy(log=log, args=("--drain-timeout", "30s"), drain_timeout="1s")
    c = H2(PORT)
    sid = c.request("/slow?ms=20000")
    wait_for(lambda: app.count(path="/slow") == 1, what="the slow request at the app")
    started = time.monotonic()
    s.signal(signal.SIGTERM)
    assert c.pump(lambda: c.goaways, 3), "no GOAWAY on SIGTERM"
    assert c.goaways[0] == (0, sid), c.goaways  # NO_ERROR, the stream in flight is kept
    assert c.pump(lambda: c.closed, 10), "the connection outlived drain_timeout"
    took = time.monotonic() - started
    # drain_timeout (1 s), not the request (20 s) nor --drain-timeout (30 s)
    assert 0.8 < took < 5, took
    assert len(c.goaways) >= 2 and all(g[0] == 0 for g in c.goaways), c.goaways
    assert not c.stream(sid)["ended"], c.streams
    assert s.wait(10) == 0, skiff_log_tail(s)
    (line,) = wait_log(log, 1)
    assert line["response_code_details"] == "drain_timeout", line


@test
def http1_response_during_drain_says_connection_close():
    App(APP)
    s = proxy(args=("--drain-timeout", "30s"))
    c = H1(PORT)
    c.request("GET", "/slow?ms=1500")
    time.sleep(0.5)
    s.signal(signal.SIGTERM)
    r = c.response()
    assert r.status == 200 and r.header("connection") == "close", r
    assert c.closed()
    assert s.wait(10) == 0, skiff_log_tail(s)


if __name__ == "__main__":
    isolate()
    run()
