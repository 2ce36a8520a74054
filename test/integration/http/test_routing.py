#!/usr/bin/python3
"""Routing through skiff (issue 5), Envoy's RouteConfiguration model: virtual
hosts by authority, routes by exact path / prefix / safe regex / header /
query parameter, prefix rewrite, header edits, direct responses, redirects,
no route (404 NR), and a weighted split measured over 10,000 requests.
Three applications a, b, c answer with their name (X-Served-By)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (App, Skiff, bootstrap, cluster, cstat, get, hcm, listener, log_path,  # noqa: E402
                    lstat, prom_sum, prometheus, vhost, wait_log)
from harness import isolate, run, test, wait_for  # noqa: E402

PORT, SPLIT_PORT = 10080, 10081
APPS = {"a": 18081, "b": 18082, "c": 18083}


def routes_config(log):
    api = vhost([
        {"name": "exact", "match": {"path": "/exact"}, "route": {"cluster": "b"}},
        {"name": "canary", "match": {"prefix": "/v1/",
                                     "headers": [{"name": "x-canary", "string_match": {"exact": "yes"}}]},
         "route": {"cluster": "c"}},
        {"name": "v1", "match": {"prefix": "/v1/"}, "route": {"cluster": "b", "prefix_rewrite": "/api/"}},
        {"name": "items", "match": {"safe_regex": {"regex": "/items/[0-9]+"}}, "route": {"cluster": "c"}},
        {"name": "prod", "match": {"prefix": "/q", "query_parameters": [
            {"name": "env", "string_match": {"exact": "prod"}}]}, "route": {"cluster": "b"}},
        {"name": "edits", "match": {"prefix": "/edits"}, "route": {"cluster": "a"},
         "request_headers_to_add": [{"header": {"key": "x-added", "value": "by-skiff"}}],
         "request_headers_to_remove": ["x-secret"],
         "response_headers_to_add": [{"header": {"key": "x-route", "value": "edits"}}]},
        {"name": "rest", "match": {"prefix": "/"}, "route": {"cluster": "a"}},
    ], domains=["api.example.com", "api.example.com:10080", "*.api.example.com"], name="api")
    other = vhost([
        {"name": "direct", "match": {"prefix": "/direct"},
         "direct_response": {"status": 418, "body": {"inline_string": "short and stout"}}},
        {"name": "moved", "match": {"prefix": "/old"},
         "redirect": {"host_redirect": "new.example.com", "path_redirect": "/new", "response_code": "FOUND"}},
        {"name": "secure", "match": {"prefix": "/secure"}, "redirect": {"https_redirect": True}},
        {"name": "other-rest", "match": {"prefix": "/"}, "route": {"cluster": "c"}},
    ], domains=["other.example.com"], name="other")
    split = vhost([{"name": "split", "match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
        {"name": "a", "weight": 80}, {"name": "b", "weight": 15}, {"name": "c", "weight": 5}]}}}],
        name="split")
    return bootstrap(
        [listener("routes", PORT, hcm("routes", [api, other], log=log)),
         listener("split", SPLIT_PORT, hcm("split", [split]))],
        [cluster(n, [("127.0.0.1", p)]) for n, p in APPS.items()])


def setup(log=None):
    apps = {n: App(p, name=n) for n, p in APPS.items()}
    s = Skiff(routes_config(log or log_path()), args=["--concurrency", "1"])
    return apps, s


CASES = [
    # (host, target, headers, app, target the app sees)
    ("api.example.com", "/exact", [], "b", "/exact"),
    ("api.example.com", "/exact/not", [], "a", "/exact/not"),
    ("api.example.com", "/v1/users?id=1", [], "b", "/api/users?id=1"),
    ("api.example.com", "/v1/users", [("X-Canary", "yes")], "c", "/v1/users"),
    ("api.example.com", "/v1/users", [("X-Canary", "no")], "b", "/api/users"),
    ("api.example.com", "/items/42", [], "c", "/items/42"),
    ("api.example.com", "/items/42x", [], "a", "/items/42x"),  # safe_regex matches the whole path
    ("api.example.com", "/q?env=prod", [], "b", "/q?env=prod"),
    ("api.example.com", "/q?env=dev", [], "a", "/q?env=dev"),
    ("API.Example.COM", "/exact", [], "b", "/exact"),  # authority is case-insensitive
    ("api.example.com:10080", "/exact", [], "b", "/exact"),
    ("eu.api.example.com", "/exact", [], "b", "/exact"),  # *.suffix
    ("other.example.com", "/anything", [], "c", "/anything"),
]


@test
def path_header_query_and_authority_matches_pick_the_right_cluster():
    log = log_path()
    apps, s = setup(log)
    failures = []
    for host, target, headers, want, seen in CASES:
        r = get(PORT, target, host=host, headers=headers)
        got = r.header("x-served-by")
        if r.status != 200 or got != want:
            failures.append(f"{host}{target} {headers}: {r.status} from {got}, want 200 from {want}")
        elif apps[want].requests[-1]["target"] != seen:
            failures.append(f"{host}{target}: app {want} saw {apps[want].requests[-1]['target']}, want {seen}")
    assert not failures, "\n".join(failures)
    lines = wait_log(log, len(CASES))
    assert [l["route_name"] for l in lines[:3]] == ["exact", "rest", "v1"], [l["route_name"] for l in lines]
    assert [l["upstream_cluster"] for l in lines] == [c[3] for c in CASES]
    # the same, read through a real Prometheus parser
    p = prometheus(s)
    for name in ("a", "b", "c"):
        want = sum(1 for c in CASES if c[3] == name)
        assert prom_sum(p, "envoy_cluster_upstream_rq_total", envoy_cluster_name=name) == want, name
        assert cstat(s, name, "upstream_rq_total") == want
    assert prom_sum(p, "istio_requests_total", response_code="200") == len(CASES), p.get("istio_requests_total")


@test
def header_edits_add_and_remove():
    apps, s = setup()
    r = get(PORT, "/edits", host="api.example.com", headers=[("X-Secret", "s3cret"), ("X-Kept", "1")])
    assert r.status == 200 and r.header("x-route") == "edits", r
    h = apps["a"].requests[-1]["h"]
    assert h.get("x-added") == "by-skiff" and "x-secret" not in h and h.get("x-kept") == "1", h


@test
def unknown_authority_gets_404_with_flag_NR():
    log = log_path()
    apps, s = setup(log)
    r = get(PORT, "/exact", host="nowhere.example.org")
    assert r.status == 404, r
    assert sum(a.count() for a in apps.values()) == 0
    (line,) = wait_log(log, 1)
    assert line["response_code"] == 404 and line["response_flags"] == "NR", line
    assert line["upstream_cluster"] is None or line["upstream_cluster"] in ("", "-"), line
    assert lstat(s, PORT, "no_route") == 1


@test
def direct_response_and_redirects_are_answered_by_skiff():
    log = log_path()
    apps, s = setup(log)
    r = get(PORT, "/direct", host="other.example.com")
    assert r.status == 418 and r.body == b"short and stout", r
    r = get(PORT, "/old/page?x=1", host="other.example.com")
    assert r.status == 302 and r.header("location") == "http://new.example.com/new?x=1", r
    r = get(PORT, "/secure/login", host="other.example.com")
    assert r.status == 301 and r.header("location") == "https://other.example.com/secure/login", r
    assert sum(a.count() for a in apps.values()) == 0, "a skiff-answered request reached an app"
    lines = wait_log(log, 3)
    assert [l["response_code"] for l in lines] == [418, 302, 301]
    assert all(l["upstream_host"] is None or l["upstream_host"] == "-" for l in lines), lines


@test
def weighted_split_over_10000_requests_is_within_two_percent():
    apps, s = setup()
    n = 10_000
    r = subprocess.run(["h2load", "--h1", "-n", str(n), "-c", "8", f"http://127.0.0.1:{SPLIT_PORT}/w"],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", r.stdout)
    assert m and int(m.group(1)) == n, r.stdout[-1500:]
    counts = {k: a.count() for k, a in apps.items()}
    assert sum(counts.values()) == n, counts
    for name, weight in (("a", 80), ("b", 15), ("c", 5)):
        share = 100 * counts[name] / n
        assert abs(share - weight) <= 2, f"{name}: {share:.2f}% for weight {weight}% ({counts})"
        wait_for(lambda: cstat(s, name, "upstream_rq_total") == counts[name], what=f"{name} rq total")
    print(f"#   split over {n}: {counts}")


if __name__ == "__main__":
    isolate()
    run()
