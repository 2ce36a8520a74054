#!/usr/bin/env python3
"""The tcp_proxy filter end to end: the real binary between real sockets."""
import hashlib
import os
import selectors
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (Skiff, closed_within, connect, connect_expecting_close, isolate,  # noqa: E402
                     json_lines, recv_all, run, tcp_proxy_config, test, wait_for)
from peers import Backend, echo, pattern, sink_digest, source  # noqa: E402

LISTEN, BACKEND = 10001, 10100
MB = 1 << 20


def proxy(endpoints=((("127.0.0.1", BACKEND)),), lb_policy=None, outlier_detection=None, concurrency=2,
          health_checks=None, **listener):
    cluster = dict(name="backend", endpoints=list(endpoints),
                   connect_timeout=listener.pop("connect_timeout", "1s"))
    if lb_policy:
        cluster["lb_policy"] = lb_policy
    if outlier_detection:
        cluster["outlier_detection"] = outlier_detection
    if health_checks:
        cluster["health_checks"] = health_checks
    cfg = tcp_proxy_config([dict(name="l", port=LISTEN, cluster="backend", **listener)], [cluster])
    return Skiff(cfg, args=["--concurrency", str(concurrency)])


@test
def transfers_100mb_each_way_byte_exact():
    size = 100 * MB
    data, digest = pattern(size)
    up = Backend(sink_digest, BACKEND)
    s = proxy()
    c = connect(LISTEN)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    assert recv_all(c).decode() == f"{size} {digest}"
    c.close()
    up.close()

    down = Backend(source(size), BACKEND + 1)
    s2 = Skiff(tcp_proxy_config([dict(name="l2", port=LISTEN + 1, cluster="b2")],
                                [dict(name="b2", endpoints=[("127.0.0.1", BACKEND + 1)])],
                                admin_port=15100), admin_port=15100)
    c = connect(LISTEN + 1)
    got = recv_all(c)
    assert len(got) == size and hashlib.sha256(got).hexdigest() == digest
    c.close()
    wait_for(lambda: s.stat("cluster.backend.upstream_cx_tx_bytes_total") == size, what="tx counter")
    assert s.stat("listener.127.0.0.1_10001.downstream_cx_rx_bytes_total") == size
    wait_for(lambda: s2.stat("cluster.b2.upstream_cx_rx_bytes_total") == size, what="rx counter")
    assert s2.stat("listener.127.0.0.1_10002.downstream_cx_tx_bytes_total") == size
    down.close()


@test
def half_close_from_downstream_keeps_upstream_talking():
    def late_reply(conn):
        got = b""
        while True:
            d = conn.recv(4096)
            if not d:
                break
            got += d
        time.sleep(0.2)  # the reply comes well after the client's FIN
        conn.sendall(b"after-fin:" + got)
    up = Backend(late_reply, BACKEND)
    proxy()
    c = connect(LISTEN)
    c.sendall(b"question")
    c.shutdown(socket.SHUT_WR)
    assert recv_all(c) == b"after-fin:question"
    up.close()


@test
def half_close_from_upstream_keeps_downstream_talking():
    def speak_first(conn):
        conn.sendall(b"banner")
        conn.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = conn.recv(4096)
            if not d:
                return got
            got += d
    up = Backend(speak_first, BACKEND)
    proxy()
    c = connect(LISTEN)
    assert recv_all(c) == b"banner"  # upstream's FIN reached us...
    c.sendall(b"still-writing")      # ...and our direction is still open
    c.shutdown(socket.SHUT_WR)
    wait_for(lambda: up.results, what="upstream to read to EOF")
    assert up.results == [b"still-writing"]
    c.close()
    up.close()


@test
def thousand_concurrent_connections():
    n = 1000
    up = Backend(echo, BACKEND)
    s = proxy()
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", LISTEN))
        socks.append(c)
    for i, c in enumerate(socks):
        sel.register(c, selectors.EVENT_WRITE, i)
    pending, replies = set(range(n)), {}
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1):
            i, c = key.data, key.fileobj
            if ev & selectors.EVENT_WRITE:
                c.send(f"conn-{i:04d};".encode())
                sel.modify(c, selectors.EVENT_READ, i)
            else:
                replies[i] = replies.get(i, b"") + c.recv(64)
                if replies[i].endswith(b";"):
                    pending.discard(i)
                    sel.unregister(c)
    assert not pending, f"{len(pending)} connections got no echo"
    assert all(replies[i] == f"conn-{i:04d};".encode() for i in range(n))
    assert s.stat("listener.127.0.0.1_10001.downstream_cx_active") == n
    for c in socks:
        c.close()
    wait_for(lambda: s.stat("listener.127.0.0.1_10001.downstream_cx_active") == 0,
             what="all connections closed")
    assert s.stat("cluster.backend.upstream_cx_total") == n
    up.close()


@test
def upstream_refusing_closes_downstream_promptly():
    s = proxy()  # nothing listens on BACKEND
    assert connect_expecting_close(LISTEN) < 1.0
    wait_for(lambda: s.stat("cluster.backend.upstream_cx_connect_fail") == 1, what="connect_fail")


@test
def upstream_reset_resets_downstream():
    def reset_after_hello(conn):
        conn.recv(5)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    up = Backend(reset_after_hello, BACKEND)
    proxy()
    c = connect(LISTEN)
    c.sendall(b"hello")
    assert closed_within(c, 2.0)
    up.close()


@test
def upstream_hanging_hits_connect_timeout():
    # A SYN that is never answered: dropped by a firewall rule inside this
    # test's own network namespace.
    os.system("ip addr add 192.0.2.1/32 dev lo 2>/dev/null")
    assert os.system("iptables -I INPUT -d 192.0.2.1 -p tcp --dport 9 -j DROP") == 0
    try:
        s = proxy(endpoints=[("192.0.2.1", 9)], connect_timeout="0.5s")
        c = connect(LISTEN)
        started = time.monotonic()
        assert closed_within(c, 3.0)
        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 1.5, elapsed
        assert s.stat("cluster.backend.upstream_cx_connect_timeout") == 1
    finally:
        os.system("iptables -D INPUT -d 192.0.2.1 -p tcp --dport 9 -j DROP")


@test
def idle_timeout_closes_quiet_connections():
    up = Backend(echo, BACKEND)
    s = proxy(idle_timeout="0.5s")
    c = connect(LISTEN)
    c.sendall(b"ping")
    assert c.recv(4) == b"ping"
    busy = connect(LISTEN)
    for _ in range(8):  # traffic every 0.15 s keeps this one open
        busy.sendall(b"x")
        assert busy.recv(1) == b"x"
        time.sleep(0.15)
    assert closed_within(c, 1.0)
    assert not closed_within(busy, 0.05)
    assert s.stat("listener.127.0.0.1_10001.downstream_cx_idle_timeout") == 1
    up.close()


@test
def slow_reader_keeps_memory_bounded():
    size = 256 * MB
    up = Backend(source(size), BACKEND)
    s = proxy()
    base = s.rss_kb()
    c = connect(LISTEN)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    peak, got = 0, 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # read 64 KiB every 20 ms: ~3 MB/s
        got += len(c.recv(64 * 1024))
        time.sleep(0.02)
        peak = max(peak, s.rss_kb())
    assert got < size / 4, "the reader was not slow"
    # The upstream would send 256 MB at once; the proxy holds at most one
    # buffer per direction, the rest waits in the kernel's socket buffers.
    assert peak - base < 8 * 1024, f"RSS grew by {peak - base} KiB"
    c.close()
    up.close()


@test
def sigterm_drains_open_connections_then_exits_zero():
    up = Backend(echo, BACKEND)
    s = proxy()
    c = connect(LISTEN)
    c.sendall(b"before")
    assert c.recv(6) == b"before"
    s.signal(signal.SIGTERM)
    wait_for(lambda: s.ready() is False, what="/ready to report draining")
    # New connections are refused while the open one keeps working.
    wait_for(lambda: connect_refused(LISTEN), what="listener closed")
    c.sendall(b"during")
    assert c.recv(6) == b"during"
    assert s.proc.poll() is None
    c.close()
    assert s.wait(timeout=5) == 0
    up.close()


def connect_refused(port):
    try:
        connect(port).close()
        return False
    except ConnectionRefusedError:
        return True


@test
def drain_timeout_closes_what_is_left():
    up = Backend(echo, BACKEND)
    cfg = tcp_proxy_config([dict(name="l", port=LISTEN, cluster="backend")],
                           [dict(name="backend", endpoints=[("127.0.0.1", BACKEND)])])
    s = Skiff(cfg, args=["--drain-timeout", "0.5s"])
    c = connect(LISTEN)
    c.sendall(b"x")
    assert c.recv(1) == b"x"
    started = time.monotonic()
    s.signal(signal.SIGTERM)
    assert s.wait(timeout=5) == 0
    assert 0.4 <= time.monotonic() - started < 3
    assert closed_within(c, 1.0)
    up.close()


@test
def access_log_has_one_json_line_per_flow():
    up = Backend(echo, BACKEND)
    log = "/tmp/skiff-access-%d.log" % os.getpid()
    s = proxy(access_log=log)
    for msg in (b"one", b"three"):
        c = connect(LISTEN)
        c.sendall(msg)
        assert c.recv(16) == msg
        c.close()
    s.signal(signal.SIGTERM)
    assert s.wait() == 0
    with open(log) as f:
        lines = json_lines(f.read())
    os.unlink(log)
    assert len(lines) == 2
    assert sorted(l["bytes_received"] for l in lines) == [3, 5]
    for l in lines:
        assert l["bytes_sent"] == l["bytes_received"]
        assert l["upstream_host"] == f"127.0.0.1:{BACKEND}"
        assert l["upstream_cluster"] == "backend" and l["listener_name"] == "l"
        assert l["termination_reason"] == "closed" and l["response_flags"] == "-"
        assert l["start_time"].endswith("Z") and l["duration"] >= 0


@test
def refused_flow_is_logged_with_envoy_flag():
    log = "/tmp/skiff-access-uf-%d.log" % os.getpid()
    s = proxy(access_log=log)
    connect_expecting_close(LISTEN)
    wait_for(lambda: s.stat("cluster.backend.upstream_cx_connect_fail") == 1, what="connect_fail")
    s.signal(signal.SIGTERM)
    assert s.wait() == 0
    with open(log) as f:
        (line,) = json_lines(f.read())
    os.unlink(log)
    assert line["response_flags"] == "UF" and line["termination_reason"] == "connect_failed"


def echo_connections(n, *backends):
    """n connections through the listener, one echoed byte each, until the
    backends have seen them all."""
    for _ in range(n):
        c = connect(LISTEN)
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        c.close()
    wait_for(lambda: sum(len(b.peers) for b in backends) == n, what=f"{n} upstream connections")


@test
def round_robin_over_static_endpoints():
    a, b = Backend(echo, BACKEND), Backend(echo, BACKEND + 1)
    proxy(endpoints=[("127.0.0.1", BACKEND), ("127.0.0.1", BACKEND + 1)])
    echo_connections(20, a, b)
    assert len(a.peers) >= 5 and len(b.peers) >= 5, (len(a.peers), len(b.peers))
    a.close()
    b.close()


@test
def endpoint_weights_and_lb_policy_apply_to_tcp():
    """tcp_proxy picks with the cluster's lb_policy and endpoint weights, as
    Envoy does: 3:1 weights give about three connections in four to the
    first endpoint, under round robin and under least request."""
    for policy in ("ROUND_ROBIN", "LEAST_REQUEST"):
        a, b = Backend(echo, BACKEND), Backend(echo, BACKEND + 1)
        s = proxy(endpoints=[("127.0.0.1", BACKEND, 3), ("127.0.0.1", BACKEND + 1, 1)],
                  lb_policy=policy)
        echo_connections(200, a, b)
        assert 120 <= len(a.peers) <= 180, (policy, len(a.peers), len(b.peers))
        a.close()
        b.close()
        s.signal()
        s.wait()


def echoed(n):
    """n connections through the listener in turn: for each, whether one
    byte came back (False: the proxy closed it, its upstream unreachable)."""
    out = []
    for _ in range(n):
        try:
            # the reset can arrive before connect() returns: on loopback
            # the upstream refuses within the client's own handshake
            with connect(LISTEN) as c:
                c.settimeout(5)
                c.sendall(b"x")
                out.append(c.recv(1) == b"x")
        except (ConnectionResetError, BrokenPipeError):
            out.append(False)
    return out


@test
def refused_endpoint_is_ejected_by_outlier_detection():
    """Connect failures feed outlier detection as in Envoy's tcp_proxy (a
    503 each): after consecutive_5xx of them the endpoint is ejected and
    new connections stop going to it; it returns after the ejection time.
    Without outlier_detection round robin keeps sending it every other
    connection."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))  # held, not listening: connects are refused
    dead = free.getsockname()[1]
    a = Backend(echo, BACKEND)
    endpoints = [("127.0.0.1", BACKEND), ("127.0.0.1", dead)]
    s = proxy(endpoints=endpoints, concurrency=1)
    assert echoed(12).count(False) == 6
    assert s.stat("cluster.backend.outlier_detection.ejections_enforced_total") == 0
    s.signal()
    s.wait()

    s = proxy(endpoints=endpoints, concurrency=1,
              outlier_detection={"consecutive_5xx": 3, "interval": "0.5s", "base_ejection_time": "2s",
                                 "max_ejection_percent": 100})
    first = echoed(20)
    assert first.count(False) == 3, f"want exactly 3 failures before ejection: {first}"
    assert s.stat("cluster.backend.outlier_detection.ejections_enforced_total") == 1
    assert echoed(10) == [True] * 10
    time.sleep(2.0)  # base_ejection_time x1; it returns at the next interval tick
    deadline = time.monotonic() + 5
    while all(echoed(2)):
        assert time.monotonic() < deadline, "the ejected endpoint never came back"
        time.sleep(0.1)
    assert s.stat("cluster.backend.upstream_cx_connect_fail") >= 4
    free.close()
    a.close()


@test
def tcp_health_check_keeps_connections_off_a_failing_endpoint():
    """Envoy's tcp_health_check, run by one worker for both: "PING" sent,
    "PING" expected back. The echo backend passes; the one that answers
    something else fails and gets no connection from either worker; once it
    echoes too, connections reach it again."""
    mode = {"echo": False}
    seen = []  # the first bytes of each connection to the second backend

    def other(conn):
        first = conn.recv(64)
        seen.append(first)
        if mode["echo"]:
            conn.sendall(first)
            return echo(conn)
        conn.sendall(b"NOPE")
    a, b = Backend(echo, BACKEND), Backend(other, BACKEND + 1)
    check = {"timeout": "0.5s", "interval": "0.2s", "unhealthy_threshold": 1, "healthy_threshold": 1,
             "tcp_health_check": {"send": {"text": "50494e47"}, "receive": [{"text": "50494E47"}]}}
    s = proxy(endpoints=[("127.0.0.1", BACKEND), ("127.0.0.1", BACKEND + 1)], health_checks=[check])
    wait_for(lambda: s.stat("cluster.backend.health_check.failure") >= 1, what="a failed check")
    assert echoed(20) == [True] * 20  # none reached the failing endpoint
    assert set(seen) == {b"PING"}, seen
    mode["echo"] = True
    wait_for(lambda: echoed(1) == [True] and b"x" in seen, timeout=10,
             what="connections back on the recovered endpoint")


if __name__ == "__main__":
    isolate()
    run()
