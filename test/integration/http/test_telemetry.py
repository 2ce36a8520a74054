#!/usr/bin/python3
"""Telemetry of one skiff HTTP connection manager listener, read the way
operators read it: the JSON access log (Envoy's field names, one line per
request, HTTP/1.1 and HTTP/2), request ids (generated as UUID v4 when absent,
kept when present), trace headers passed through untouched,
x-forwarded-proto, Istio's istio_requests_total and
istio_request_duration_milliseconds from the Prometheus port, and Envoy's
listener and cluster counters. Three outcomes: proxied ("-"), no route (404
NR) and an endpoint whose port is closed (503 UF)."""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (App, Skiff, bootstrap, cluster, cstat, get, hcm, listener, log_path,  # noqa: E402
                    lstat, prom_sum, vhost, wait_log)
from harness import after_test, http_get, isolate, run, test, wait_for  # noqa: E402

PORT, APP_PORT, CLOSED_PORT = 10090, 18091, 18099
ADMIN_PORT = 15000
PROM_PORT = 15090  # Istio's; passed explicitly, as the harness would derive admin + 90
APP_HOST = f"127.0.0.1:{APP_PORT}"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TRACE = [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
         ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
         ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
         ("x-b3-spanid", "e457b5a2e4d86bd1"),
         ("x-b3-sampled", "1"),
         ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")]


def setup():
    """The app, and skiff with one outbound listener: /app to the app,
    /dead to a cluster whose only endpoint refuses connections, anything
    else unrouted. Returns (app, skiff, access log path)."""
    log = log_path()
    app = App(APP_PORT, name="app")
    routes = [{"name": "to-app", "match": {"prefix": "/app"}, "route": {"cluster": "app"}},
              {"name": "to-dead", "match": {"prefix": "/dead"}, "route": {"cluster": "dead"}}]
    cfg = bootstrap([listener("telemetry", PORT, hcm("telemetry", [vhost(routes)], log=log),
                              direction="OUTBOUND")],
                    [cluster("app", [("127.0.0.1", APP_PORT)]),
                     cluster("dead", [("127.0.0.1", CLOSED_PORT)])],
                    admin_port=ADMIN_PORT)
    s = Skiff(cfg, args=["--concurrency", "1", "--prometheus-port", str(PROM_PORT)],
              admin_port=ADMIN_PORT)
    return app, s, log


class H2Response:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def json(self):
        return json.loads(self.body)


def h2(target, headers=(), body=None, method=None):
    """One HTTP/2 (h2c prior knowledge) request with curl; H2Response."""
    d = tempfile.mkdtemp(prefix="skiff-telemetry-")
    after_test(lambda: subprocess.run(["rm", "-rf", d]))
    out = os.path.join(d, "body")
    cmd = ["curl", "-sS", "--http2-prior-knowledge", "-o", out, "-w", "%{http_version} %{http_code}"]
    for k, v in headers:
        cmd += ["-H", f"{k}: {v}"]
    if body is not None:
        src = os.path.join(d, "up")
        with open(src, "wb") as f:
            f.write(body)
        cmd += ["--data-binary", "@" + src]
    if method:
        cmd += ["-X", method]
    r = subprocess.run(cmd + [f"http://127.0.0.1:{PORT}{target}"], capture_output=True, text=True,
                       timeout=20)
    version, _, code = r.stdout.partition(" ")
    assert r.returncode == 0 and version == "2", (r.returncode, r.stdout, r.stderr)
    with open(out, "rb") as f:
        return H2Response(int(code), f.read())


def prometheus_port():
    """{family: [Sample]} from :PROM_PORT/stats/prometheus (prometheus_client's
    parser, which names counter families without "_total")."""
    from prometheus_client.parser import text_string_to_metric_families
    status, text = http_get(f"http://127.0.0.1:{PROM_PORT}/stats/prometheus")
    assert status == 200, (status, text[:300])
    out = {}
    for fam in text_string_to_metric_families(text):
        out.setdefault(fam.name, []).extend(fam.samples)
    return out


def samples(families, name, **labels):
    return [s for s in families.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]


def one_line(log, n):
    """The access log once it has exactly n lines (waits for n, then checks
    that no extra line follows)."""
    lines = wait_log(log, n)
    assert len(lines) == n, f"{len(lines)} access log lines for {n} requests: {lines}"
    return lines


@test
def access_log_has_one_envoy_line_per_request():
    app, s, log = setup()
    up = b"u" * 1234
    r1 = get(PORT, "/app/get?x=1", host="svc.example")
    r2 = get(PORT, "/app/post", method="POST", body=up, host="svc.example")
    r3 = h2("/app/h2", body=b"h" * 777, headers=[("content-type", "application/octet-stream")])
    r4 = get(PORT, "/nowhere", host="svc.example")
    r5 = get(PORT, "/dead/x", host="svc.example")
    # chunked: bytes_received counts the body, not the chunk framing
    chunked = b"5\r\nhello\r\n3e8\r\n" + b"z" * 1000 + b"\r\n0\r\n\r\n"
    r6 = get(PORT, "/app/chunked", method="POST", headers=[("Transfer-Encoding", "chunked")],
             body=chunked, host="svc.example")
    assert [r.status for r in (r1, r2, r3, r4, r5, r6)] == [200, 200, 200, 404, 503, 200], \
        (r1, r2, r4, r5, r6)
    assert app.count() == 4 and app.requests[-1]["n"] == 1005
    lines = one_line(log, 6)
    want = [
        # method, path, protocol, code, flags, received, sent, cluster, host, route
        ("GET", "/app/get?x=1", "HTTP/1.1", 200, "-", 0, len(r1.body), "app", APP_HOST, "to-app"),
        ("POST", "/app/post", "HTTP/1.1", 200, "-", 1234, len(r2.body), "app", APP_HOST, "to-app"),
        ("POST", "/app/h2", "HTTP/2", 200, "-", 777, len(r3.body), "app", APP_HOST, "to-app"),
        ("GET", "/nowhere", "HTTP/1.1", 404, "NR", 0, len(r4.body), None, None, None),
        ("GET", "/dead/x", "HTTP/1.1", 503, "UF", 0, len(r5.body), "dead", f"127.0.0.1:{CLOSED_PORT}",
         "to-dead"),
        ("POST", "/app/chunked", "HTTP/1.1", 200, "-", 1005, len(r6.body), "app", APP_HOST, "to-app"),
    ]
    keys = ("method", "path", "protocol", "response_code", "response_flags", "bytes_received",
            "bytes_sent", "upstream_cluster", "upstream_host", "route_name")
    problems = []
    for line, w in zip(lines, want):
        got = tuple(line.get(k) for k in keys)
        if got != w:
            problems.append(f"{w[0]} {w[1]}: got {dict(zip(keys, got))}, want {dict(zip(keys, w))}")
    assert not problems, "\n".join(problems)
    for line in lines:
        for k in ("start_time", "duration", "authority", "listener_name", "downstream_remote_address",
                  "request_id", "response_code_details"):
            assert k in line, (k, line)
        assert isinstance(line["duration"], int) and line["duration"] >= 0, line
        assert line["listener_name"] == "telemetry", line
    assert lines[0]["authority"] == "svc.example", lines[0]
    assert [l["response_code_details"] for l in lines[:4]] == ["via_upstream"] * 3 + ["route_not_found"], \
        [l["response_code_details"] for l in lines]
    # every request got an id, the app saw the one logged, and they differ
    ids = [l["request_id"] for l in lines]
    assert all(i and UUID4.match(i) for i in ids), ids
    assert len(set(ids)) == 6, ids
    assert [r["h"].get("x-request-id") for r in app.requests] == ids[:3] + ids[5:]
    assert lines[4]["upstream_service_time"] is None, lines[4]


@test
def request_id_is_generated_when_absent_and_kept_when_present():
    app, s, log = setup()
    r = get(PORT, "/app/a")
    gen1 = app.requests[-1]["h"].get("x-request-id")
    assert r.status == 200 and gen1 and UUID4.match(gen1), (r, gen1)
    r = h2("/app/b")
    gen2 = app.requests[-1]["h"].get("x-request-id")
    assert r.status == 200 and gen2 and UUID4.match(gen2), gen2
    assert gen1 != gen2
    mine = "client-chosen-id-0001"
    r = get(PORT, "/app/c", headers=[("X-Request-Id", mine)])
    assert r.status == 200 and app.requests[-1]["h"].get("x-request-id") == mine, app.requests[-1]["h"]
    r = h2("/app/d", headers=[("x-request-id", "h2-id-0002")])
    assert r.status == 200 and app.requests[-1]["h"].get("x-request-id") == "h2-id-0002"
    # one x-request-id each, not one added beside the client's
    for req in app.requests:
        assert sum(1 for k, _ in req["headers"] if k == "x-request-id") == 1, req["headers"]
    lines = one_line(log, 4)
    assert [l["request_id"] for l in lines] == [gen1, gen2, mine, "h2-id-0002"], lines


@test
def trace_headers_reach_the_app_unchanged_and_x_forwarded_proto_is_set():
    app, s, log = setup()
    r = get(PORT, "/app/h1", headers=TRACE)
    assert r.status == 200, r
    r = h2("/app/h2", headers=TRACE)
    assert r.status == 200, r.body
    assert app.count() == 2
    for req in app.requests:
        seen = {k: v for k, v in req["headers"] if k in dict(TRACE)}
        assert seen == dict(TRACE), (req["path"], seen)
        assert req["h"].get("x-forwarded-proto") == "http", (req["path"], req["h"])
        assert sum(1 for k, _ in req["headers"] if k == "x-forwarded-proto") == 1, req["headers"]
    one_line(log, 2)


def send_mix():
    """The requests of the metrics test; returns what each group should
    count: {(code, protocol, flags, cluster): n}."""
    for i in range(3):
        assert get(PORT, f"/app/h1/{i}").status == 200
    for i in range(2):
        assert h2(f"/app/h2/{i}").status == 200
    # gRPC by content type (the app answers a plain 200; the label follows
    # the request)
    for i in range(2):
        r = h2("/app/pkg.Svc/Call", method="POST", body=b"\x00\x00\x00\x00\x00",
               headers=[("content-type", "application/grpc"), ("te", "trailers")])
        assert r.status == 200, r.body
    assert get(PORT, "/nowhere").status == 404
    assert get(PORT, "/dead/x").status == 503
    return {("200", "http", "-", "app"): 5, ("200", "grpc", "-", "app"): 2,
            ("404", "http", "NR", "unknown"): 1, ("503", "http", "UF", "dead"): 1}


@test
def istio_metrics_on_the_prometheus_port_count_each_outcome():
    app, s, log = setup()
    groups = send_mix()
    total = sum(groups.values())
    one_line(log, total)
    wait_for(lambda: lstat(s, PORT, "downstream_rq_total") == total, what="requests counted")
    p = prometheus_port()
    assert "istio_requests" in p, sorted(p)[:50]
    problems = []
    for (code, proto, flags, svc), n in groups.items():
        labels = dict(response_code=code, request_protocol=proto, response_flags=flags,
                      destination_service=svc)
        got = prom_sum(p, "istio_requests_total", reporter="source", **labels)
        if got != n:
            problems.append(f"istio_requests_total{labels}: {got}, want {n}")
        count = sum(x.value for x in samples(p, "istio_request_duration_milliseconds",
                                             **labels) if x.name.endswith("_count"))
        if count != n:
            problems.append(f"istio_request_duration_milliseconds_count{labels}: {count}, want {n}")
        buckets = sorted(((float(x.labels["le"]), x.value) for x in samples(
            p, "istio_request_duration_milliseconds", **labels) if x.name.endswith("_bucket")))
        if not buckets or buckets[-1] != (float("inf"), n):
            problems.append(f"duration buckets {labels}: +Inf {buckets[-1:] or None}, want {n}")
        elif any(a[1] > b[1] for a, b in zip(buckets, buckets[1:])):
            problems.append(f"duration buckets {labels} not cumulative: {buckets}")
        elif buckets[0][0] != 0.5:
            problems.append(f"duration buckets {labels} start at {buckets[0][0]}, Istio's at 0.5")
    assert not problems, "\n".join(problems)
    # nothing else was counted, and the reporter of an outbound listener is the source
    assert prom_sum(p, "istio_requests_total") == total
    assert prom_sum(p, "istio_requests_total", reporter="destination") == 0
    # destination_service_name carries the cluster too
    assert prom_sum(p, "istio_requests_total", destination_service_name="app") == 7


@test
def envoy_listener_and_cluster_counters_match_the_requests():
    app, s, log = setup()
    groups = send_mix()
    total = sum(groups.values())
    one_line(log, total)
    wait_for(lambda: lstat(s, PORT, "downstream_rq_total") == total, what="requests counted")
    got = {k: lstat(s, PORT, f"downstream_rq_{k}") for k in ("2xx", "4xx", "5xx")}
    assert got == {"2xx": 7, "4xx": 1, "5xx": 1}, got
    assert lstat(s, PORT, "no_route") == 1
    assert cstat(s, "app", "upstream_rq_total") == 7
    assert cstat(s, "app", "upstream_rq_2xx") == 7
    assert app.count() == 7
    assert cstat(s, "dead", "upstream_cx_connect_fail") >= 1
    assert cstat(s, "dead", "upstream_rq_2xx") == 0
    # Prometheus form: the class counters folded into one family with
    # Envoy's envoy_response_code_class label
    p = prometheus_port()
    fam = "envoy_listener_downstream_rq_xx"
    addr = f"127.0.0.1_{PORT}"
    got = {c: prom_sum(p, fam, envoy_listener_address=addr, envoy_response_code_class=c)
           for c in ("2", "4", "5")}
    assert got == {"2": 7, "4": 1, "5": 1}, (got, samples(p, fam))
    assert prom_sum(p, "envoy_cluster_upstream_rq_total", envoy_cluster_name="app") == 7


@test
def a_connect_failure_is_not_counted_as_an_upstream_request():
    """Envoy counts upstream_rq_total when a request is attached to an
    upstream connection (ConnPoolImplBase::attachStreamToClient, right
    before onPoolReady; the router's comment in onUpstreamHostSelected says
    so): a request whose connection never came up (UF) is a connect failure,
    not an upstream request."""
    app, s, log = setup()
    assert get(PORT, "/dead/x").status == 503
    one_line(log, 1)
    assert cstat(s, "dead", "upstream_cx_connect_fail") >= 1
    got = cstat(s, "dead", "upstream_rq_total")
    assert got == 0, f"cluster.dead.upstream_rq_total is {got} after one UF request, Envoy has 0"

if __name__ == "__main__":
    isolate()
    run()
