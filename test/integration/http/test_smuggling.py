#!/usr/bin/python3
"""Request smuggling through skiff (issue 5): each vector, sent raw on its
own connection, is answered 400 or 431, counted as a downstream protocol
error, logged with Envoy's DPE flag, and its connection is closed; the
application behind never sees the smuggled request (nor the carrier).
A smuggling response from upstream is a 502 (UPE) and that upstream
connection is not used again."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import H1, App, cstat, get, log_path, lstat, simple_proxy, wait_log  # noqa: E402
from harness import isolate, run, test, wait_for  # noqa: E402

PORT, APP = 10080, 18080
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n"


def head(*lines, method=b"POST"):
    return method + b" /carrier HTTP/1.1\r\nHost: app\r\n" + b"".join(l + b"\r\n" for l in lines) + b"\r\n"


VECTORS = [
    # (name, status, bytes)
    ("content_length_and_transfer_encoding", 400,
     head(b"Content-Length: %d" % (5 + len(SMUGGLED)), b"Transfer-Encoding: chunked") + b"0\r\n\r\n" + SMUGGLED),
    ("transfer_encoding_and_content_length", 400,
     head(b"Transfer-Encoding: chunked", b"Content-Length: 4") + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"),
    ("conflicting_content_lengths", 400,
     head(b"Content-Length: 5", b"Content-Length: %d" % (5 + len(SMUGGLED))) + b"hello" + SMUGGLED),
    ("conflicting_content_length_list", 400,
     head(b"Content-Length: 5, %d" % (5 + len(SMUGGLED))) + b"hello" + SMUGGLED),
    ("obs_fold", 400, head(b"X-Folded: a", b" b", method=b"GET") + SMUGGLED),
    ("obs_fold_hiding_transfer_encoding", 400,
     head(b"Content-Length: 5", b"Transfer-Encoding:", b" chunked") + b"0\r\n\r\n" + SMUGGLED),
    ("bare_cr_in_value", 400, head(b"X-Cr: a\rb", method=b"GET") + SMUGGLED),
    ("bare_cr_line_end", 400, b"GET /carrier HTTP/1.1\r\nHost: app\rX-Other: 1\r\n\r\n" + SMUGGLED),
    ("space_in_header_name", 400, head(b"X Bad: 1", method=b"GET") + SMUGGLED),
    ("space_before_colon", 400,
     head(b"Transfer-Encoding : chunked", b"Content-Length: 5") + b"0\r\n\r\n" + SMUGGLED),
    ("control_char_in_name", 400, head(b"X-\x01Bad: 1", method=b"GET") + SMUGGLED),
    ("chunked_not_final_encoding", 400,
     head(b"Transfer-Encoding: chunked, identity") + b"0\r\n\r\n" + SMUGGLED),
    ("over_long_header_line", 431, head(b"X-Big: " + b"a" * 80_000, method=b"GET") + SMUGGLED),
    ("too_many_headers", 431, head(*[b"X-H%d: v" % i for i in range(200)], method=b"GET") + SMUGGLED),
]


def proxy(log=None):
    return simple_proxy(PORT, "app", [("127.0.0.1", APP)], log=log)


@test
def each_smuggling_vector_is_refused_counted_and_closed():
    app = App(APP)
    log = log_path()
    s = proxy(log)
    failures = []
    for i, (name, want, data) in enumerate(VECTORS):
        c = H1(PORT)
        try:
            c.send(data)
            r = c.response()
            if r.status != want:
                failures.append(f"{name}: status {r.status}, want {want}")
            elif not c.closed():
                failures.append(f"{name}: the connection stayed open after {r.status}")
        except (EOFError, ConnectionError) as e:
            failures.append(f"{name}: no response ({e!r})")
        finally:
            c.close()
        got = lstat(s, PORT, "downstream_cx_protocol_error")
        try:
            wait_for(lambda: lstat(s, PORT, "downstream_cx_protocol_error") >= i + 1, timeout=2,
                     what=name)
        except AssertionError:
            failures.append(f"{name}: downstream_cx_protocol_error stayed {got}, want {i + 1}")
    assert not failures, "\n".join(failures)
    assert app.count(path="/smuggled") == 0, "a smuggled request reached the app"
    assert app.count() == 0, f"carriers reached the app: {[r['target'] for r in app.requests]}"
    lines = wait_log(log, len(VECTORS))
    assert sorted(l["response_code"] for l in lines) == sorted(v[1] for v in VECTORS), lines
    assert all("DPE" in l["response_flags"] for l in lines), [l["response_flags"] for l in lines]
    assert get(PORT, "/still-serving").status == 200


@test
def vector_after_a_good_request_closes_the_keep_alive_connection():
    app = App(APP)
    s = proxy()
    c = H1(PORT)
    assert c.roundtrip("GET", "/first").status == 200
    c.send(VECTORS[0][2])
    assert c.response().status == 400
    assert c.closed(), "connection kept after a smuggling attempt"
    assert [r["target"] for r in app.requests] == ["/first"]
    wait_for(lambda: lstat(s, PORT, "downstream_cx_protocol_error") == 1, what="protocol error counted")


@test
def smuggling_response_from_upstream_is_a_502_and_its_connection_is_dropped():
    app = App(APP)
    log = log_path()
    s = proxy(log)

    def evil(req):
        if req["path"] == "/evil":
            return 200, [("Content-Length", "5"), ("Transfer-Encoding", "chunked")], \
                b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
        return None
    app.override = evil
    c = H1(PORT)
    r = c.roundtrip("GET", "/evil")
    assert r.status == 502, r
    try:
        nxt = c.roundtrip("GET", "/next")
    except (EOFError, ConnectionError):
        c = H1(PORT)
        nxt = c.roundtrip("GET", "/next")
    assert nxt.status == 200 and nxt.json()["target"] == "/next", f"next request got {nxt}"
    assert app.conns == 2, f"the poisoned upstream connection was reused ({app.conns} connections)"
    assert cstat(s, "app", "upstream_cx_protocol_error") == 1
    lines = wait_log(log, 2)
    assert lines[0]["response_code"] == 502 and "UPE" in lines[0]["response_flags"], lines[0]


if __name__ == "__main__":
    isolate()
    run()
