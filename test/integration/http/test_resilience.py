#!/usr/bin/python3
"""Resilience through skiff (issue 5): retries (5xx, retry limit URX, the
jittered back-off between them), connect failure (UF), route timeout
(504 UT), circuit breaker overflow
(503 UO), outlier ejection and return, active health checks (plain, and
over the cluster's TLS against Go's crypto/tls). Most run skiff with
--concurrency 1 (one round-robin position: exact counts); the breakers,
ejections and health checks are also checked with two workers, as they
are shared by the workers."""
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (H1, App, Pki, Skiff, bootstrap, build_peers, cluster, cstat, get,  # noqa: E402
                    go_server, hcm, listener, log_path, prom_sum, prometheus, request_bytes, spiffe,
                    tls_context, vhost, wait_log)
from harness import isolate, run, test, wait_for  # noqa: E402

PORT, APP, APP2, DEAD = 10080, 18080, 18081, 18099


def proxy(routes, endpoints=(("127.0.0.1", APP),), log=None, lb_policy=None, concurrency=1,
          **cluster_extra):
    cfg = bootstrap([listener("l", PORT, hcm("res", [vhost(routes)], log=log))],
                    [cluster("app", list(endpoints), lb_policy=lb_policy, **cluster_extra)])
    return Skiff(cfg, args=["--concurrency", str(concurrency)])


def route(prefix="/", **action):
    return {"match": {"prefix": prefix}, "route": dict(cluster="app", **action)}


@test
def retries_on_5xx_hide_an_endpoint_failing_every_other_request():
    app = App(APP)
    log = log_path()
    s = proxy([route(retry_policy={"retry_on": "5xx", "num_retries": 3})], log=log)
    statuses = [get(PORT, "/flaky").status for _ in range(100)]
    assert statuses == [200] * 100, f"client saw {[c for c in statuses if c != 200]}"
    assert app.count(path="/flaky") == 200  # each request: one 503, one 200
    lines = wait_log(log, 100)
    assert all(l["response_code"] == 200 and l["attempts"] == 2 for l in lines), \
        {(l["response_code"], l["attempts"]) for l in lines}
    assert cstat(s, "app", "upstream_rq_retry") == 100
    # Envoy charges a retried response to retry.upstream_rq_<code>, not
    # upstream_rq_5xx: only the answers that went downstream count here
    assert cstat(s, "app", "upstream_rq_2xx") == 100


@test
def retry_limit_reached_answers_the_last_5xx_with_URX():
    app = App(APP)
    log = log_path()
    s = proxy([route(retry_policy={"retry_on": "5xx", "num_retries": 2})], log=log)
    r = get(PORT, "/status/503")
    assert r.status == 503 and r.header("x-served-by") == "app", r  # the upstream's own answer
    assert app.count(path="/status/503") == 3
    (line,) = wait_log(log, 1)
    # Envoy's router sets URX (UpstreamRetryLimitExceeded) on the response
    # it passes on once retries are exhausted
    assert line["attempts"] == 3 and "URX" in line["response_flags"], line
    assert cstat(s, "app", "upstream_rq_retry") == 2


@test
def retries_wait_a_jittered_back_off():
    """retry_back_off as Envoy: before the first retry a wait drawn from
    [0, base_interval). Twenty requests that each retry once take about
    twenty half-bases in all, and their waits spread over the range."""
    app = App(APP)
    back_off = {"base_interval": "0.2s", "max_interval": "0.2s"}
    s = proxy([route(retry_policy={"retry_on": "5xx", "num_retries": 1, "retry_back_off": back_off})])
    took = []
    for _ in range(20):
        started = time.monotonic()
        assert get(PORT, "/status/503").status == 503
        took.append(time.monotonic() - started)
    assert app.count(path="/status/503") == 40
    # Uniform waits: the sum of 20 is below 1 s (half its mean) with a
    # chance near 1e-4, and all 20 on one side of 0.1 s with 2e-6.
    assert sum(took) > 1.0, f"no back-off seen: {sum(took):.2f}s for 20 retried requests"
    assert max(took) < 0.2 + 0.5, f"a wait beyond max_interval: {max(took):.2f}s"
    assert min(took) < 0.1 < max(took), f"waits not spread: {sorted(round(t, 3) for t in took)}"
    assert cstat(s, "app", "upstream_rq_retry_backoff_exponential") == 20
    assert cstat(s, "app", "upstream_rq_retry") == 20


@test
def route_timeout_and_a_client_gone_end_a_retry_back_off():
    """The route timeout spans the attempts and the waits between them (504
    UT, not a retry after it); a client that leaves during a wait ends the
    stream then, not when the wait is over."""
    App(APP)
    log = log_path()
    back_off = {"base_interval": "5s", "max_interval": "5s"}
    # Three retries with waits in [0, 5s): all three inside 0.3 s has a
    # chance near 1e-5, so the timeout finds the stream waiting.
    retry = {"retry_on": "5xx", "num_retries": 3, "retry_back_off": back_off}
    s = proxy([route("/nolimit/", prefix_rewrite="/", timeout="0s", retry_policy=retry),
               route(timeout="0.3s", retry_policy=retry)], log=log)
    started = time.monotonic()
    r = get(PORT, "/status/503")
    took = time.monotonic() - started
    assert r.status == 504 and took < 1.5, (r, took)
    (line,) = wait_log(log, 1)
    assert "UT" in line["response_flags"], line
    c = H1(PORT)
    c.send(request_bytes(target="/nolimit/status/503"))
    time.sleep(0.3)
    # Gone for good (RST): a FIN alone is an HTTP/1 half-close, after which
    # skiff still answers the whole request it has.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    lines = wait_log(log, 2, timeout=2.0)  # before the 5 s wait could end
    assert "DC" in lines[1]["response_flags"], lines[1]
    assert get(PORT, "/fast").status == 200
    assert cstat(s, "app", "upstream_rq_retry_backoff_exponential") >= 2


@test
def previous_hosts_predicate_sends_the_retry_to_another_endpoint():
    """Istio's default retry policy: retry_host_predicate previous_hosts with
    host_selection_retry_max_attempts. With random picks over a broken and a
    good endpoint, a retry without the predicate lands on the broken one
    again half the time; with it (20 re-picks), practically never."""
    App(APP)
    bad = App(APP2, name="bad")
    bad.override = lambda req: (503, [], b"broken")
    endpoints = (("127.0.0.1", APP), ("127.0.0.1", APP2))
    plain = {"retry_on": "5xx", "num_retries": 1, "retry_back_off": {"base_interval": "0.001s"}}
    s = proxy([route(retry_policy=plain)], endpoints=endpoints, lb_policy="RANDOM")
    statuses = [get(PORT, "/p").status for _ in range(40)]
    assert statuses.count(503) > 0, "no retry went back to the broken endpoint: is the pick random?"
    s.signal()
    s.wait()
    avoid = dict(plain, retry_host_predicate=[{"name": "envoy.retry_host_predicates.previous_hosts"}],
                 host_selection_retry_max_attempts=20)
    s = proxy([route(retry_policy=avoid)], endpoints=endpoints, lb_policy="RANDOM")
    statuses = [get(PORT, "/p").status for _ in range(40)]
    assert statuses == [200] * 40, f"a retry went back to the broken endpoint: {statuses}"
    assert cstat(s, "app", "upstream_rq_retry") > 0


@test
def previous_hosts_moves_a_hashed_request_round_the_ring():
    """With a hash policy every pick of a key gives the same endpoint, so a
    retry alone goes back to the broken one; with previous_hosts the pick
    walks on round the ring, as Envoy's ring hash does, and the retry
    reaches the other endpoint."""
    App(APP)
    bad = App(APP2, name="bad")
    bad.override = lambda req: (503, [], b"broken")
    endpoints = (("127.0.0.1", APP), ("127.0.0.1", APP2))
    plain = {"retry_on": "5xx", "num_retries": 1, "retry_back_off": {"base_interval": "0.001s"}}
    hashed = {"hash_policy": [{"header": {"header_name": "x-user"}}]}

    def users():
        return [get(PORT, "/p", headers=[("x-user", f"u{i}")]).status for i in range(40)]
    s = proxy([route(retry_policy=plain, **hashed)], endpoints=endpoints, lb_policy="RING_HASH")
    assert 0 < users().count(503) < 40, "the keys should split over both endpoints"
    s.signal()
    s.wait()
    # each pick again walks one ring entry on, and runs of one host's
    # entries are geometric: 30 attempts leave a key on the broken
    # endpoint with odds of 2^-30 (with Istio's 5, 1 in 32, as in Envoy)
    avoid = dict(plain, retry_host_predicate=[{"name": "envoy.retry_host_predicates.previous_hosts"}],
                 host_selection_retry_max_attempts=30)
    s = proxy([route(retry_policy=avoid, **hashed)], endpoints=endpoints, lb_policy="RING_HASH")
    statuses = users()
    assert statuses == [200] * 40, f"a hashed retry went back to the broken endpoint: {statuses}"
    assert cstat(s, "app", "upstream_rq_retry") > 0


@test
def hash_policies_as_istio_sends_them_keep_a_key_on_one_endpoint():
    """Istio's consistentHash as Envoy's hash_policy list on a ring: a query
    parameter (terminal when present), else the client's IP. Each shard
    stays on one endpoint and the shards spread; requests without the
    parameter all come from 127.0.0.1 and all land on one endpoint."""
    apps = [App(APP, name="a"), App(APP2, name="b"), App(APP2 + 1, name="c")]
    hashed = {"hash_policy": [{"query_parameter": {"name": "shard"}, "terminal": True},
                              {"connection_properties": {"source_ip": True}}]}
    proxy([route(**hashed)], endpoints=[("127.0.0.1", a.port) for a in apps], lb_policy="RING_HASH")
    home = {}
    for k in range(30):
        for _ in range(3):
            home.setdefault(k, set()).add(get(PORT, f"/p?x=1&shard={k}").header("x-served-by"))
    assert all(len(v) == 1 for v in home.values()), home
    assert len(set().union(*home.values())) >= 2, home
    by_ip = {get(PORT, "/p").header("x-served-by") for _ in range(20)}
    assert len(by_ip) == 1, by_ip


@test
def cookie_hash_policy_makes_the_cookie_then_keeps_its_endpoint():
    """Istio's httpCookie with a ttl: a request without the cookie gets one
    made by skiff (Set-Cookie, as Envoy's router makes it), and every
    request that sends it back lands on the same endpoint; requests with
    other cookies spread."""
    apps = [App(APP, name="a"), App(APP2, name="b"), App(APP2 + 1, name="c")]
    hashed = {"hash_policy": [{"cookie": {"name": "sid", "ttl": "3600s", "path": "/"}}]}
    proxy([route(**hashed)], endpoints=[("127.0.0.1", a.port) for a in apps], lb_policy="RING_HASH")
    first = get(PORT, "/p")
    made = first.header("set-cookie")
    assert made and re.fullmatch(r'sid="[0-9a-f]{16}"; Max-Age=3600; Path=/; HttpOnly', made), made
    cookie = made.split(";")[0]
    served = {get(PORT, "/p", headers=[("cookie", cookie)]).header("x-served-by") for _ in range(10)}
    assert served == {first.header("x-served-by")}, served
    assert get(PORT, "/p", headers=[("cookie", cookie)]).header("set-cookie") is None
    spread = {get(PORT, "/p", headers=[("cookie", f"sid=user{k}")]).header("x-served-by")
              for k in range(30)}
    assert len(spread) >= 2, spread


@test
def connection_refused_upstream_is_503_UF_and_retried_elsewhere():
    app = App(APP)
    log = log_path()
    s = proxy([route("/retry", retry_policy={"retry_on": "connect-failure", "num_retries": 3}),
               route("/")], endpoints=[("127.0.0.1", DEAD)], log=log)
    r = get(PORT, "/plain")
    assert r.status == 503, r
    (line,) = wait_log(log, 1)
    assert "UF" in line["response_flags"] and line["response_code"] == 503, line
    assert cstat(s, "app", "upstream_cx_connect_fail") >= 1
    # two endpoints, one dead: connect-failure retries reach the live one
    s.signal()
    s.wait()
    log2 = log_path("two")
    s = proxy([route("/", retry_policy={"retry_on": "connect-failure", "num_retries": 3})],
              endpoints=[("127.0.0.1", DEAD), ("127.0.0.1", APP)], log=log2)
    statuses = [get(PORT, f"/r{i}").status for i in range(10)]
    assert statuses == [200] * 10, statuses
    assert app.count() == 10
    assert any(l["attempts"] == 2 for l in wait_log(log2, 10))


@test
def route_timeout_is_504_UT_and_the_listener_keeps_serving():
    App(APP)
    log = log_path()
    s = proxy([route(timeout="0.3s")], log=log)
    started = time.monotonic()
    r = get(PORT, "/slow?ms=3000")
    took = time.monotonic() - started
    assert r.status == 504, r
    assert 0.25 < took < 1.5, f"timed out after {took:.2f}s for a 0.3s route timeout"
    (line,) = wait_log(log, 1)
    assert "UT" in line["response_flags"] and line["response_code"] == 504, line
    assert cstat(s, "app", "upstream_rq_timeout") == 1
    assert get(PORT, "/fast").status == 200


@test
def retry_budget_bounds_retries_in_flight():
    """A retry_budget replaces max_retries: with none to spend, a failing
    request is not retried and the refusal is counted; with a budget of the
    active requests, it is."""
    app = App(APP)
    none = {"thresholds": [{"retry_budget": {"budget_percent": {"value": 0}, "min_retry_concurrency": 0}}]}
    s = proxy([route(retry_policy={"retry_on": "5xx", "num_retries": 2})], circuit_breakers=none)
    statuses = [get(PORT, "/status/503").status for _ in range(10)]
    assert statuses == [503] * 10, statuses
    assert app.count(path="/status/503") == 10, "a retry went out without budget"
    assert cstat(s, "app", "upstream_rq_retry_overflow") == 10
    assert cstat(s, "app", "upstream_rq_retry") == 0
    s.signal()
    s.wait()
    whole = {"thresholds": [{"retry_budget": {"budget_percent": {"value": 100}, "min_retry_concurrency": 0}}]}
    s = proxy([route(retry_policy={"retry_on": "5xx", "num_retries": 2})], circuit_breakers=whole)
    assert get(PORT, "/status/503").status == 503
    assert app.count(path="/status/503") == 13, "the budget should allow one retry in flight at a time"
    assert cstat(s, "app", "upstream_rq_retry") == 2


def concurrent_gets(n, target, timeout=10):
    out = [None] * n
    go = threading.Barrier(n)

    def one(i):
        go.wait()
        try:
            out[i] = get(PORT, target, timeout=timeout).status
        except Exception as e:  # recorded, asserted below
            out[i] = repr(e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@test
def circuit_breaker_overflow_is_503_UO_and_counted():
    App(APP)
    log = log_path()
    breakers = {"thresholds": [{"max_connections": 1, "max_pending_requests": 1, "max_requests": 1,
                                "max_retries": 1}]}
    s = proxy([route()], log=log, circuit_breakers=breakers)
    statuses = concurrent_gets(12, "/slow?ms=400")
    assert set(statuses) <= {200, 503}, statuses
    ok, over = statuses.count(200), statuses.count(503)
    assert ok >= 1 and over >= 1, statuses
    lines = wait_log(log, 12)
    flagged = [l for l in lines if l["response_code"] == 503]
    assert flagged and all(l["response_flags"] == "UO" for l in flagged), [l["response_flags"] for l in flagged]
    assert cstat(s, "app", "upstream_rq_pending_overflow") == over
    p = prometheus(s)
    got = (prom_sum(p, "envoy_cluster_upstream_rq_pending_overflow", envoy_cluster_name="app"),
           prom_sum(p, "istio_requests_total", response_code="503", response_flags="UO"),
           prom_sum(p, "istio_requests_total", response_code="200"))
    assert got == (over, over, ok), (f"prometheus: pending_overflow, istio 503 UO, istio 200: {got}, want "
                                     f"{(over, over, ok)}; families: {sorted(k for k in p if 'overflow' in k)}")


@test
def circuit_breakers_bound_the_whole_process_not_each_worker():
    """As Envoy's, the limits are the cluster's across all workers: with two
    workers and max_requests 3, twelve requests at once get three answers,
    not three per worker. Envoy's gauges show it while they run."""
    App(APP)
    cfg = bootstrap([listener("l", PORT, hcm("res", [vhost([route()])]))],
                    [cluster("app", [("127.0.0.1", APP)],
                             circuit_breakers={"thresholds": [{"max_requests": 3, "track_remaining": True}]})])
    s = Skiff(cfg, args=["--concurrency", "2"])
    result = []
    t = threading.Thread(target=lambda: result.extend(concurrent_gets(12, "/slow?ms=1500")))
    t.start()

    def gauge(name):
        return prom_sum(prometheus(s), "envoy_cluster_" + name, envoy_cluster_name="app")
    wait_for(lambda: gauge("upstream_rq_active") == 3, what="three requests in flight")
    assert (gauge("circuit_breakers_default_rq_open"), gauge("circuit_breakers_default_remaining_rq"),
            gauge("circuit_breakers_default_cx_open")) == (1, 0, 0)
    t.join()
    statuses = result
    assert sorted(statuses) == [200] * 3 + [503] * 9, statuses
    assert (gauge("upstream_rq_active"), gauge("circuit_breakers_default_rq_open"),
            gauge("circuit_breakers_default_remaining_rq")) == (0, 0, 3)
    assert cstat(s, "app", "upstream_rq_pending_overflow") == 9
    # every count was given back: the next three go through together
    assert concurrent_gets(3, "/slow?ms=100") == [200] * 3


@test
def outlier_detection_ejects_a_failing_endpoint_and_returns_it():
    App(APP, name="good")
    bad = App(APP2, name="bad")
    bad.override = lambda req: (500, [], b"broken")
    s = proxy([route()], endpoints=[("127.0.0.1", APP), ("127.0.0.1", APP2)], lb_policy="ROUND_ROBIN",
              outlier_detection={"consecutive_5xx": 3, "interval": "0.5s", "base_ejection_time": "2s",
                                 "max_ejection_percent": 100})
    first = [get(PORT, f"/a{i}").status for i in range(20)]
    assert first.count(500) == 3, f"want exactly 3 failures before ejection: {first}"
    wait_for(lambda: cstat(s, "app", "outlier_detection.ejections_enforced_total") == 1, what="ejection")
    seen = bad.count()
    during = [get(PORT, f"/b{i}").status for i in range(20)]
    assert during == [200] * 20 and bad.count() == seen, during
    time.sleep(2.0 + 0.5 + 0.3)  # base_ejection_time x1, then the next interval tick
    after = [get(PORT, f"/c{i}").status for i in range(6)]
    assert bad.count() > seen, f"the ejected endpoint never came back: {after}"
    assert 500 in after


@test
def outlier_ejection_is_shared_by_the_workers():
    """With two workers, as in Envoy: the failures either worker sees count
    toward one streak, and one ejection (counted once) takes the endpoint
    out of both workers' picks. Forty fresh connections land on both."""
    App(APP, name="good")
    bad = App(APP2, name="bad")
    bad.override = lambda req: (500, [], b"broken")
    s = proxy([route()], endpoints=[("127.0.0.1", APP), ("127.0.0.1", APP2)], lb_policy="ROUND_ROBIN",
              concurrency=2,
              outlier_detection={"consecutive_5xx": 4, "interval": "10s", "base_ejection_time": "60s",
                                 "max_ejection_percent": 100})
    statuses = [get(PORT, f"/a{i}").status for i in range(40)]
    assert statuses.count(500) == 4 and bad.count() == 4, statuses
    assert cstat(s, "app", "outlier_detection.ejections_enforced_total") == 1


@test
def one_health_check_per_interval_whatever_the_workers():
    """Envoy checks each endpoint once per interval however many workers it
    has; so does skiff: with two workers the checks of an endpoint are never
    closer than the interval (it counts from the end of the previous one),
    and an endpoint found unhealthy gets no traffic from either worker."""
    good, sick = App(APP, name="good"), App(APP2, name="sick")
    sick.override = lambda req: (503, [], b"") if req["path"] == "/healthz" else None
    s = proxy([route()], endpoints=[("127.0.0.1", APP), ("127.0.0.1", APP2)], concurrency=2,
              health_checks=[{"timeout": "0.5s", "interval": "0.2s", "unhealthy_threshold": 1,
                              "healthy_threshold": 1, "http_health_check": {"path": "/healthz"}}])
    wait_for(lambda: good.count(path="/healthz") >= 8 and sick.count(path="/healthz") >= 2,
             what=f"health checks (health_check.attempt {cstat(s, 'app', 'health_check.attempt')})")
    at = [r["at"] for r in good.requests if r["path"] == "/healthz"]
    gaps = [b - a for a, b in zip(at, at[1:])]
    assert min(gaps) >= 0.18, f"checks closer than the 0.2 s interval: {[round(g, 3) for g in gaps]}"
    statuses = [get(PORT, f"/x{i}").status for i in range(20)]
    assert statuses == [200] * 20, statuses
    assert sick.count() == sick.count(path="/healthz"), "traffic reached the unhealthy endpoint"


@test
def active_health_check_keeps_traffic_off_an_unhealthy_endpoint():
    good, sick = App(APP, name="good"), App(APP2, name="sick")
    sick.override = lambda req: (503, [], b"") if req["path"] == "/healthz" else None
    s = proxy([route()], endpoints=[("127.0.0.1", APP), ("127.0.0.1", APP2)],
              health_checks=[{"timeout": "0.5s", "interval": "0.2s", "unhealthy_threshold": 1,
                              "healthy_threshold": 1, "http_health_check": {"path": "/healthz"}}])
    wait_for(lambda: sick.count(path="/healthz") >= 2 and good.count(path="/healthz") >= 2,
             what=f"health checks on both endpoints (health_check.attempt "
                  f"{cstat(s, 'app', 'health_check.attempt')})")
    time.sleep(0.3)
    statuses = [get(PORT, f"/x{i}").status for i in range(20)]
    assert statuses == [200] * 20, statuses
    assert sick.count() == sick.count(path="/healthz"), "traffic reached the unhealthy endpoint"
    assert cstat(s, "app", "health_check.failure") >= 1
    sick.override = None  # it recovers: traffic returns
    wait_for(lambda: [get(PORT, "/y").header("x-served-by") for _ in range(4)].count("sick") > 0,
             timeout=5, what="traffic back on the recovered endpoint")


@test
def health_checks_use_the_clusters_tls():
    """As Envoy: a cluster with a TLS transport socket is health-checked over
    TLS with its own identity, and the server's identity is checked as for
    traffic. Go's TLS server (crypto/tls) answers the check; the same
    cluster expecting another SPIFFE id fails every check."""
    pki = Pki()
    server, client = pki.issue("server", "backend"), pki.issue("client", "frontend")
    go_server(APP, server, name="tls")
    hc = [{"timeout": "0.5s", "interval": "0.2s", "unhealthy_threshold": 1, "healthy_threshold": 1,
           "http_health_check": {"path": "/healthz"}}]
    s = proxy([route()], tls=tls_context("Upstream", client, sans=[spiffe("backend")],
                                         alpn=("http/1.1",)), health_checks=hc)
    wait_for(lambda: cstat(s, "app", "health_check.attempt") >= 3, what="three health checks")
    assert cstat(s, "app", "health_check.failure") == 0, "a check failed against the TLS server"
    r = get(PORT, "/x")
    assert r.status == 200 and r.json()["tls"] and r.json()["peer_spiffe"] == spiffe("frontend"), r
    s.signal()
    s.wait()
    s = proxy([route()], tls=tls_context("Upstream", client, sans=[spiffe("someone-else")],
                                         alpn=("http/1.1",)), health_checks=hc)
    wait_for(lambda: cstat(s, "app", "health_check.failure") >= 2, what="checks refused by identity")
    # every check fails (the one in flight may not be counted yet)
    assert cstat(s, "app", "health_check.attempt") - cstat(s, "app", "health_check.failure") <= 1


if __name__ == "__main__":
    isolate()
    build_peers()
    run()
