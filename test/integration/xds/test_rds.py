#!/usr/bin/env python3
"""HTTP routing driven over xDS: listeners with an http_connection_manager
whose routes come from RDS, pushed by the real control plane
(test/controlplane encodes with Envoy's own .proto files). Plain HTTP/1.1
clients (http.client) send requests through skiff to small Python HTTP
backends that answer with their tag. Every scenario runs over state of the
world ([sotw]) and incremental xDS ([delta]), as Envoy would be driven.
The tunnel scenarios reuse the HTTP tests' App (WebSocket and CONNECT echo)
and raw client from test/integration/http/common.py."""
import http.client
import http.server
import os
import socketserver
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import after_test, isolate, run, wait_for  # noqa: E402
from xds_common import (BOOTSTRAP, RDS_URL, assignment, base, both, config_dump,  # noqa: E402
                        delta, eds_cluster, subscription, wait_logged)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "http"))
from common import H1, App, ws_accept, ws_frame, ws_read  # noqa: E402

LISTEN = 10001
V1, V2 = 10100, 10101
DEAD = 10199  # nothing listens
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


# ---- resources -------------------------------------------------------------

def http_listener(name, port, route_name):
    """A listener whose http_connection_manager takes its routes from RDS."""
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": HCM, "stat_prefix": name, "codec_type": "AUTO",
                    "rds": {"config_source": {"ads": {}, "resource_api_version": "V3"},
                            "route_config_name": route_name},
                    "http_filters": [{"name": "envoy.filters.http.router",
                                      "typed_config": {"@type": ROUTER}}]}}]}]}


def upgrade_listener(name, port, route_name, *types):
    """http_listener with upgrade_configs of these upgrade types."""
    listener = http_listener(name, port, route_name)
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["upgrade_configs"] = [{"upgrade_type": t} for t in types]
    return listener


def to_cluster(name):
    return {"cluster": name}


def weighted(**weights):
    return {"weighted_clusters": {"clusters": [{"name": n, "weight": w} for n, w in weights.items()]}}


def route_config(name, action, match=None):
    """One virtual host for every domain, one route."""
    return {"name": name, "virtual_hosts": [{
        "name": "all", "domains": ["*"],
        "routes": [{"match": match or {"prefix": "/"}, "route": action}]}]}


def tunnel_routes(name):
    """CONNECT (connect_matcher) and every other request, both to v1."""
    return {"name": name, "virtual_hosts": [{
        "name": "all", "domains": ["*"],
        "routes": [{"match": {"connect_matcher": {}}, "route": to_cluster("v1")},
                   {"match": {"prefix": "/"}, "route": to_cluster("v1")}]}]}


def http_snapshot(route, listener_route="routes"):
    return {"listeners": {"http": http_listener("http", LISTEN, listener_route)},
            "clusters": {"v1": eds_cluster("v1"), "v2": eds_cluster("v2")},
            "endpoints": {"v1": assignment("v1", [V1]), "v2": assignment("v2", [V2])},
            "routes": {route["name"]: route}}


# ---- HTTP peers -------------------------------------------------------------

class HttpBackend:
    """An HTTP/1.1 server answering every GET with its tag."""

    def __init__(self, tag, port):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = tag.encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        after_test(self.close)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def get(path="/", port=LISTEN, timeout=3):
    """One request on a new connection: (status, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"host": "backend.test"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def answer(path="/"):
    """The body of a 200, or None (refused, reset, another status): for wait_for."""
    try:
        status, body = get(path)
        return body if status == 200 else None
    except OSError:
        return None


def tally(n):
    """Bodies of n requests, counted."""
    seen = {}
    for _ in range(n):
        status, body = get()
        assert status == 200, (status, body)
        seen[body] = seen.get(body, 0) + 1
    return seen


class Load:
    """Requests in a loop, each on a new connection (so each sees the routes
    of the moment, as Envoy applies a route change to new requests); counts
    answers and failures."""

    def __init__(self):
        self.ok, self.failed, self.answers = 0, [], {}
        self.stopping = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        after_test(self.stop)

    def loop(self):
        while not self.stopping:
            try:
                status, body = get()
                if status != 200:
                    raise OSError(f"status {status}: {body[:80]}")
                self.ok += 1
                self.answers[body] = self.answers.get(body, 0) + 1
            except OSError as e:
                self.failed.append(repr(e))
            time.sleep(0.002)

    def stop(self):
        self.stopping = True
        self.thread.join()


def backends():
    HttpBackend("v1", V1)
    HttpBackend("v2", V2)


def rds_acks(cp, nack=None):
    return cp.acks("rds", nack=nack)


WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def ws_open():
    """A WebSocket upgrade on a new connection to the listener: (H1, Response)."""
    c = H1(LISTEN, timeout=5)
    after_test(c.close)
    c.send(("GET /ws HTTP/1.1\r\nHost: backend.test\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return c, c.response()


def connect_open():
    """A CONNECT on a new connection to the listener: (H1, Response)."""
    c = H1(LISTEN, timeout=5)
    after_test(c.close)
    c.send(b"CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n")
    return c, c.response("CONNECT")


def ws_status():
    """The status a WebSocket upgrade gets now, or None (no listener yet): for wait_for."""
    try:
        c, r = ws_open()
        c.close()
        return r.status
    except (OSError, EOFError):
        return None


def ws_echoes(c):
    """Frames sent on an upgraded connection come back from App's echo."""
    mask = b"\x01\x02\x03\x04"
    for payload, op in ((b"hello over xds", 1), (os.urandom(100_000), 2)):
        c.send(ws_frame(payload, op, mask))
        assert ws_read(c.r) == (op, payload)


# ---- scenarios --------------------------------------------------------------

@both
def route_change_under_continuous_load_fails_no_request():
    backends()
    cp, s = base(http_snapshot(route_config("routes", to_cluster("v1"))))
    wait_logged(s, lambda: answer() == "v1", what="v1 served through RDS routes")
    assert subscription(cp, RDS_URL) == ["routes"]  # followed from the listener
    assert any(a["ack"] for a in rds_acks(cp))
    load = Load()
    time.sleep(0.5)
    cp.push({"routes": {"routes": route_config("routes", to_cluster("v2"))}})
    wait_for(lambda: load.answers.get("v2", 0) > 50, timeout=10, what="traffic on v2")
    load.stop()
    assert not load.failed, load.failed[:5]
    assert load.answers.get("v1", 0) > 0, load.answers
    assert s.stat("xds.rds.nacks") == 0


@both
def canary_weight_shift_0_50_100():
    backends()
    n = 200
    cp, s = base(http_snapshot(route_config("routes", weighted(v1=100, v2=0))))
    wait_logged(s, lambda: answer() == "v1", what="routes served")
    results = {0: tally(n)}
    for share in (50, 100):
        acked = len([a for a in rds_acks(cp) if a["ack"]])
        cp.push({"routes": {"routes": route_config("routes", weighted(v1=100 - share, v2=share))}})
        wait_for(lambda: len([a for a in rds_acks(cp) if a["ack"]]) > acked, what=f"{share}% ACKed")
        time.sleep(0.2)  # the workers take the snapshot at the top of their loop
        results[share] = tally(n)
    print(f"#   canary v2 share pushed -> measured over {n} requests: " +
          ", ".join(f"{k}% -> {100 * v.get('v2', 0) / n:.0f}%" for k, v in results.items()))
    assert results[0] == {"v1": n}, results
    assert 0.35 * n <= results[50].get("v2", 0) <= 0.65 * n, results
    assert results[100] == {"v2": n}, results


@both
def bad_regex_is_nacked_and_the_previous_routes_keep_serving():
    backends()
    cp, s = base(http_snapshot(route_config("routes", to_cluster("v1"))))
    wait_logged(s, lambda: answer() == "v1", what="serving")
    bad = route_config("routes", to_cluster("v2"), match={"safe_regex": {"regex": "/items/([0-9]+"}})
    cp.push({"routes": {"routes": bad}})
    wait_for(lambda: rds_acks(cp, nack=True), what="an RDS NACK")
    nack = rds_acks(cp, nack=True)[-1]
    message = nack["error_detail"]["message"]
    assert nack["error_detail"]["code"] == 3, nack
    assert message.startswith('route_configuration "routes": virtual_hosts[0].routes[0].match.'
                              'safe_regex.regex: '), message
    assert s.stat("xds.rds.nacks") == 1
    if not delta():  # SotW: the NACK keeps the version held
        assert nack["version_info"] != nack["response_version"], nack
    assert tally(20) == {"v1": 20}  # the previous configuration serves
    # A good push after the NACK applies.
    cp.push({"routes": {"routes": route_config("routes", to_cluster("v2"))}})
    wait_for(lambda: answer() == "v2", what="the next good push applied")


@both
def retry_policy_from_xds_as_istiod_sends_it():
    """A route's retry_policy as istiod sends it (retry_back_off, the
    previous_hosts predicate), encoded by the control plane with Envoy's own
    protos: a refused endpoint is retried on the other after the back-off,
    and /config_dump shows the policy."""
    backends()
    policy = {"retry_on": "connect-failure", "num_retries": 2,
              "retry_back_off": {"base_interval": "0.02s", "max_interval": "0.1s"},
              "retry_host_predicate": [{
                  "name": "envoy.retry_host_predicates.previous_hosts",
                  "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host."
                                            "previous_hosts.v3.PreviousHostsPredicate"}}],
              "host_selection_retry_max_attempts": "5"}
    snap = http_snapshot(route_config("routes", dict(to_cluster("v1"), retry_policy=policy)))
    snap["endpoints"]["v1"] = assignment("v1", [DEAD, V1])
    cp, s = base(snap)
    wait_logged(s, lambda: answer() is not None, what="serving")
    assert tally(20) == {"v1": 20}  # every refused attempt retried
    assert s.stat("cluster.v1.upstream_rq_retry_backoff_exponential") >= 1
    assert s.stat("cluster.v1.upstream_rq_retry") == \
        s.stat("cluster.v1.upstream_rq_retry_backoff_exponential")
    routes = config_dump(s)["RoutesConfigDump"]["dynamic_route_configs"]
    assert routes[0]["version_info"] and routes[0]["last_updated"].endswith("Z"), routes[0]
    dumped = routes[0]["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["retry_policy"]
    assert dumped["retry_back_off"] == {"base_interval": "0.020s", "max_interval": "0.100s"}, dumped
    assert dumped["retry_host_predicate"] == [{"name": "envoy.retry_host_predicates.previous_hosts"}]
    assert dumped["host_selection_retry_max_attempts"] == "5", dumped


@both
def listener_waits_for_its_route_configuration():
    backends()
    snap = http_snapshot(route_config("routes", to_cluster("v1")))
    del snap["routes"]
    cp, s = base(snap)
    wait_for(lambda: subscription(cp, RDS_URL) == ["routes"], what="RDS subscribed")
    wait_for(lambda: "waits for its route configuration routes" in s.log(), what="listener warming")
    assert answer() is None  # no socket while it warms
    cp.push({"routes": {"routes": route_config("routes", to_cluster("v1"))}})
    wait_logged(s, lambda: answer() == "v1", what="served once its routes came")


@both
def listener_switching_route_name_moves_the_subscription():
    backends()
    cp, s = base(http_snapshot(route_config("routes", to_cluster("v1"))))
    wait_logged(s, lambda: answer() == "v1", what="serving")
    cp.push({"routes": {"routes": route_config("routes", to_cluster("v1")),
                        "routes-b": route_config("routes-b", to_cluster("v2"))}})
    cp.push({"listeners": {"http": http_listener("http", LISTEN, "routes-b")}})
    wait_for(lambda: subscription(cp, RDS_URL) == ["routes-b"], what="RDS follows the listener")
    wait_logged(s, lambda: answer() == "v2", what="the listener on routes-b")
    if delta():
        unsub = [r["request"] for r in cp.call("GET", "/requests?type_url=" + RDS_URL)
                 if r["request"].get("resource_names_unsubscribe")]
        assert unsub and unsub[-1]["resource_names_unsubscribe"] == ["routes"], unsub


@both
def bootstrap_listener_takes_its_routes_over_rds():
    """A listener in static_resources with `rds`: its route configuration is
    subscribed from the first request, and pushes move its traffic."""
    backends()
    snap = http_snapshot(route_config("routes", to_cluster("v1")))
    del snap["listeners"]
    static = ("  listeners:\n  - name: static-http\n"
              f"    address: {{socket_address: {{address: 127.0.0.1, port_value: {LISTEN}}}}}\n"
              "    filter_chains:\n    - filters:\n"
              "      - name: envoy.filters.network.http_connection_manager\n"
              "        typed_config:\n"
              f"          '@type': {HCM}\n"
              "          stat_prefix: static\n"
              "          rds: {config_source: {ads: {}, resource_api_version: V3}, route_config_name: routes}\n"
              "          http_filters: [{name: envoy.filters.http.router}]\n")
    cp, s = base(snap, BOOTSTRAP.replace("static_resources:\n", "static_resources:\n" + static))
    wait_for(lambda: subscription(cp, RDS_URL) == ["routes"], what="RDS subscribed for the static listener")
    wait_logged(s, lambda: answer() == "v1", what="static listener serving its RDS routes")
    cp.push({"routes": {"routes": route_config("routes", to_cluster("v2"))}})
    wait_logged(s, lambda: answer() == "v2", what="the pushed route")


@both
def websocket_and_connect_tunnels_from_xds():
    """upgrade_configs from LDS and a connect_matcher route from RDS: a
    WebSocket upgrade gets 101 and its frames echoed, a CONNECT gets 200 and
    a byte pipe to App, which answers it and echoes."""
    app = App(V1, name="v1")
    snap = http_snapshot(tunnel_routes("routes"))
    snap["listeners"]["http"] = upgrade_listener("http", LISTEN, "routes", "websocket", "CONNECT")
    cp, s = base(snap)
    wait_logged(s, lambda: ws_status() == 101, what="WebSocket upgrade through the xDS listener")
    assert not cp.acks(nack=True), cp.acks(nack=True)

    c, r = ws_open()
    assert r.status == 101, r
    assert r.header("sec-websocket-accept") == ws_accept(WS_KEY), r.headers
    ws_echoes(c)
    c.close()

    c, r = connect_open()
    assert r.status == 200, r
    data = os.urandom(256 * 1024)
    c.send(data)
    assert c.r.exact(len(data)) == data
    c.close()
    assert app.count(method="CONNECT") == 1, app.requests
    assert app.count(path="/ws") >= 2, app.requests


@both
def upgrades_need_upgrade_configs_from_xds():
    """Without upgrade_configs the listener refuses both tunnels with 403,
    though a connect_matcher route matches the CONNECT; an unknown
    upgrade_type is NACKed naming the field; upgrade_configs pushed after
    open the WebSocket."""
    App(V1, name="v1")
    cp, s = base(http_snapshot(tunnel_routes("routes")))
    wait_logged(s, lambda: ws_status() is not None, what="the xDS listener serving")
    assert ws_open()[1].status == 403
    assert connect_open()[1].status == 403
    assert not rds_acks(cp, nack=True)  # connect_matcher accepted

    cp.push({"listeners": {"http": upgrade_listener("http", LISTEN, "routes", "websocket", "spdy/3")}})
    wait_for(lambda: cp.acks("lds", nack=True), what="an LDS NACK")
    message = cp.acks("lds", nack=True)[-1]["error_detail"]["message"]
    assert message == ('listener "http": filter_chains[0].filters[0].typed_config.upgrade_configs[1].'
                       'upgrade_type: not supported by skiff: "spdy/3" (supported: websocket, CONNECT)'), message
    assert ws_open()[1].status == 403  # the previous listener serves

    cp.push({"listeners": {"http": upgrade_listener("http", LISTEN, "routes", "websocket")}})
    wait_logged(s, lambda: ws_status() == 101, what="the upgrade allowed once pushed")
    c, r = ws_open()
    assert r.status == 101, r
    ws_echoes(c)
    assert connect_open()[1].status == 403  # CONNECT still not allowed


if __name__ == "__main__":
    isolate()
    run()
