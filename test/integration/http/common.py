"""Shared pieces of the L7 integration tests (issue 5): Envoy v3 bootstrap
builders for http_connection_manager listeners and HTTP clusters, an
HTTP/1.1 application server with a request log, a raw HTTP/1.1 client, the
Go and Node peers, certificates, access logs and /stats/prometheus.

Every config is plain Envoy v3 YAML (built as dicts, dumped with PyYAML):
what Envoy itself would accept, field for field.
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import yaml  # noqa: E402
from harness import (ROOT, SKIFF, Skiff, after_test, json_lines, wait_for)  # noqa: E402,F401
from peers import Backend  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
HTTPPEER = os.path.join(ROOT, BUILD, "interop", "httppeer")
GRPC_DIR = os.path.join(ROOT, "test", "interop", "grpc")
TD = "cluster.local"
MB = 1 << 20

# ---------------------------------------------------------------- config ----

ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP_OPTIONS_TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def addr(ip, port):
    return {"socket_address": {"address": ip, "port_value": port}}


def file_log(path):
    return [{"name": "envoy.access_loggers.file",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                              "path": path}}]


def vhost(routes, domains=("*",), name=None, **extra):
    v = {"name": name or "vh-" + domains[0].replace("*", "any"), "domains": list(domains), "routes": routes}
    v.update(extra)
    return v


def to(cluster, prefix="/", **route):
    """A route sending prefix (default everything) to cluster."""
    return {"match": {"prefix": prefix}, "route": dict(cluster=cluster, **route)}


def hcm(stat_prefix, virtual_hosts, log=None, codec="AUTO", **extra):
    """An envoy.filters.network.http_connection_manager filter."""
    cfg = {"@type": HCM_TYPE, "stat_prefix": stat_prefix, "codec_type": codec,
           "route_config": {"name": stat_prefix + "-routes", "virtual_hosts": virtual_hosts},
           "http_filters": [ROUTER]}
    if log:
        cfg["access_log"] = file_log(log)
    cfg.update(extra)
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": cfg}


def tls_context(kind, d, sans=(), alpn=("h2",), require_client=True):
    """transport_socket envoy.transport_sockets.tls with the identity in
    directory d (cert.pem, key.pem, ca.pem from `skiff certs`); kind is
    Downstream or Upstream; sans: the peer SPIFFE ids accepted."""
    common = {"alpn_protocols": list(alpn),
              "tls_certificates": [{"certificate_chain": {"filename": f"{d}/cert.pem"},
                                    "private_key": {"filename": f"{d}/key.pem"}}],
              "validation_context": {"trusted_ca": {"filename": f"{d}/ca.pem"}}}
    if sans:
        common["validation_context"]["match_typed_subject_alt_names"] = [
            {"san_type": "URI", "matcher": {"exact": s}} for s in sans]
    typed = {"@type": f"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.{kind}TlsContext",
             "common_tls_context": common}
    if kind == "Downstream" and require_client:
        typed["require_client_certificate"] = True
    return {"name": "envoy.transport_sockets.tls", "typed_config": typed}


def listener(name, port, filter_, tls=None, direction=None, ip="127.0.0.1"):
    chain = {"filters": [filter_]}
    if tls:
        chain["transport_socket"] = tls
    out = {"name": name, "address": addr(ip, port), "filter_chains": [chain]}
    if direction:
        out["traffic_direction"] = direction
    return out


def cluster(name, endpoints, http2=False, tls=None, lb_policy=None, connect_timeout="1s", **extra):
    """A STATIC cluster; endpoints: [(ip, port)] or [(ip, port, weight)]."""
    lb = []
    for e in endpoints:
        ep = {"endpoint": {"address": addr(e[0], e[1])}}
        if len(e) > 2:
            ep["load_balancing_weight"] = e[2]
        lb.append(ep)
    out = {"name": name, "type": "STATIC", "connect_timeout": connect_timeout,
           "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": lb}]}}
    if lb_policy:
        out["lb_policy"] = lb_policy
    if http2:
        out["typed_extension_protocol_options"] = {HTTP_OPTIONS_KEY: {
            "@type": HTTP_OPTIONS_TYPE, "explicit_http_config": {"http2_protocol_options": {}}}}
    if tls:
        out["transport_socket"] = tls
    out.update(extra)
    return out


def bootstrap(listeners, clusters, admin_port=15000):
    doc = {"admin": {"address": addr("127.0.0.1", admin_port)},
           "static_resources": {"listeners": listeners, "clusters": clusters}}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def simple_proxy(port, cluster_name, endpoints, log=None, admin_port=15000, concurrency=1,
                 http2_upstream=False, routes=None, hcm_extra=None, cluster_extra=None):
    """One skiff: an HCM listener on port routing everything (or routes) to
    one cluster. Returns the running Skiff."""
    f = hcm(f"in_{port}", [vhost(routes or [to(cluster_name)])], log=log, **(hcm_extra or {}))
    cfg = bootstrap([listener(f"l{port}", port, f)],
                    [cluster(cluster_name, endpoints, http2=http2_upstream, **(cluster_extra or {}))],
                    admin_port=admin_port)
    return Skiff(cfg, args=["--concurrency", str(concurrency)], admin_port=admin_port)


def lstat(s, port, name, ip="127.0.0.1"):
    return s.stat(f"listener.{ip}_{port}.{name}")


def cstat(s, cluster_name, name):
    return s.stat(f"cluster.{cluster_name}.{name}")


# --------------------------------------------------------- access log ----

def log_path(tag="access"):
    d = tempfile.mkdtemp(prefix="skiff-http-log-")
    os.chmod(d, 0o777)
    after_test(lambda: shutil.rmtree(d, ignore_errors=True))
    return os.path.join(d, f"{tag}.log")


def log_lines(path):
    try:
        with open(path) as f:
            return json_lines(f.read())
    except FileNotFoundError:
        return []


def wait_log(path, n, timeout=5.0):
    """The access log's lines once there are at least n."""
    wait_for(lambda: len(log_lines(path)) >= n, timeout=timeout,
             what=f"{n} access log lines in {path} (have {len(log_lines(path))})")
    return log_lines(path)


# --------------------------------------------------------- prometheus ----

def prometheus(s):
    """{family name: [Sample]} from /stats/prometheus, through the real
    Prometheus text-format parser (prometheus_client). The parser names a
    counter family without "_total" (and its samples with it), whatever the
    exposition wrote: Envoy's envoy_cluster_upstream_rq_pending_overflow
    and Istio's istio_requests_total both arrive that way."""
    from prometheus_client.parser import text_string_to_metric_families
    status, body = s.get("/stats/prometheus")
    assert status == 200, (status, body[:500])
    out = {}
    for fam in text_string_to_metric_families(body):
        out.setdefault(fam.name, []).extend(fam.samples)
    return out


def prom_sum(families, name, **labels):
    """Sum of the counter or gauge name (with or without "_total") over the
    samples whose labels include labels."""
    fam = name[:-len("_total")] if name.endswith("_total") and name not in families else name
    assert fam in families, f"no metric family {name} in /stats/prometheus"
    return sum(s.value for s in families[fam]
               if all(s.labels.get(k) == v for k, v in labels.items()))


# ---------------------------------------------------------- patterns ----

_BLOCK = hashlib.sha256(b"skiff").digest() * (1 << 15)  # 1 MiB, period 32
_digests = {}


def pattern_chunks(n, chunk=MB):
    """n pattern bytes (as peers.pattern and httppeer make them), in chunks."""
    assert chunk % 32 == 0 and chunk <= len(_BLOCK)  # every chunk starts a period
    sent = 0
    while sent < n:
        k = min(chunk, n - sent)
        yield _BLOCK[:k]
        sent += k


def pattern_digest(n):
    if n not in _digests:
        h = hashlib.sha256()
        for c in pattern_chunks(n):
            h.update(c)
        _digests[n] = h.hexdigest()
    return _digests[n]


# ------------------------------------------------- HTTP/1.1 reading ----

class Reader:
    """Buffered reads off a socket: lines, exact lengths, HTTP messages."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(1 << 18)
        if not data:
            raise EOFError("peer closed")
        self.buf += data

    def line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return out
            if len(self.buf) > limit:
                raise ValueError("line too long")
            self._fill()

    def exact(self, n, sink=None):
        """n bytes: returned, or fed to sink (a hash) when given."""
        out = bytearray()
        while n:
            if not self.buf:
                self._fill()
            k = min(n, len(self.buf))
            if sink is not None:
                sink.update(self.buf[:k])
            else:
                out += self.buf[:k]
            del self.buf[:k]
            n -= k
        return bytes(out)

    def until_eof(self, sink=None):
        out = bytearray()
        while True:
            if self.buf:
                if sink is not None:
                    sink.update(self.buf)
                else:
                    out += self.buf
                self.buf.clear()
            try:
                self._fill()
            except EOFError:
                return bytes(out)

    def head(self):
        """(start line, [(name lower, value)]) of the next message."""
        start = self.line().rstrip(b"\r\n").decode("latin-1")
        headers = []
        while True:
            line = self.line()
            if line in (b"\r\n", b"\n"):
                return start, headers
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))

    def body(self, headers, sink=None, until_close=False):
        """(body, trailers, chunked) framed by headers."""
        h = dict(headers)
        if "chunked" in h.get("transfer-encoding", "").lower():
            out, trailers = bytearray(), []
            while True:
                size = int(self.line().split(b";")[0].strip(), 16)
                if size == 0:
                    break
                out += self.exact(size, sink)
                self.line()
            while True:
                line = self.line()
                if line in (b"\r\n", b"\n"):
                    return bytes(out), trailers, True
                name, _, value = line.decode("latin-1").partition(":")
                trailers.append((name.strip().lower(), value.strip()))
        if "content-length" in h:
            return self.exact(int(h["content-length"]), sink), [], False
        if until_close:
            return self.until_eof(sink), [], False
        return b"", [], False


class Response:
    def __init__(self, status, reason, headers, body, trailers, chunked, digest=None):
        self.status, self.reason, self.headers = status, reason, headers
        self.body, self.trailers, self.chunked, self.digest = body, trailers, chunked, digest

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.headers} {self.body[:200]!r}>"


class H1:
    """A raw HTTP/1.1 client connection (keep-alive, pipelining, chunked
    uploads): bytes out exactly as written, responses parsed strictly."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.r = Reader(self.sock)

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", target="/", headers=(), body=None, host="app"):
        self.send(request_bytes(method, target, headers, body, host))

    def response(self, method="GET", digest=False):
        """The next final response (1xx interim responses are skipped)."""
        while True:
            start, headers = self.r.head()
            version, status, reason = (start.split(" ", 2) + [""])[:3]
            status = int(status)
            if 100 <= status < 200 and status != 101:
                continue
            if method == "HEAD" or status in (101, 204, 304) or (method == "CONNECT" and status < 300):
                return Response(status, reason, headers, b"", [], False)
            h = hashlib.sha256() if digest else None
            te_or_cl = any(k in ("transfer-encoding", "content-length") for k, _ in headers)
            body, trailers, chunked = self.r.body(headers, h, until_close=not te_or_cl)
            return Response(status, reason, headers, body, trailers, chunked,
                            h.hexdigest() if h else None)

    def roundtrip(self, method="GET", target="/", headers=(), body=None, host="app", digest=False):
        self.request(method, target, headers, body, host)
        return self.response(method, digest)

    def closed(self, seconds=3.0):
        """True if the peer closes (or resets) the connection within seconds."""
        if self.r.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def request_bytes(method="GET", target="/", headers=(), body=None, host="app"):
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    names = {k.lower() for k, _ in headers}
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def get(port, target="/", host="app", headers=(), method="GET", body=None, timeout=10.0):
    """One request on a fresh connection; the Response."""
    c = H1(port, timeout=timeout)
    try:
        return c.roundtrip(method, target, headers, body, host)
    finally:
        c.close()


# ------------------------------------------------- HTTP/1.1 app server ----

def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


def ws_frame(payload, opcode=1, mask=None):
    n = len(payload)
    head = bytes([0x80 | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def ws_read(r):
    """(opcode, payload) of the next frame from Reader r (unmasking)."""
    b0, b1 = r.exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", r.exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", r.exact(8))[0]
    mask = r.exact(4) if b1 & 0x80 else None
    data = r.exact(n)
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data


class Sink:
    """A SHA-256 that also counts the bytes it saw."""

    def __init__(self):
        self.h, self.n = hashlib.sha256(), 0

    def update(self, b):
        self.h.update(b)
        self.n += len(b)

    def hexdigest(self):
        return self.h.hexdigest()


class App:
    """An HTTP/1.1 application server (threads, keep-alive, pipelining,
    chunked bodies and trailers, 100-continue, WebSocket, CONNECT), written
    here so every byte it receives can be checked. Every complete request
    is appended to .requests as a dict: method, target, headers, n, sha256,
    trailers, chunked, conn (connection number).

      /bytes?n=N[&chunked=1][&trailers=1]  N pattern bytes
      /status/N                            status N
      /slow?ms=N                           JSON after N ms
      /flaky                               503 and 200 in turn
      /ws                                  WebSocket echo (Upgrade)
      CONNECT                              200, then echoes bytes
      anything else                        JSON report of the request

    `override(req) -> (status, headers, body) | None` replaces any answer.
    """

    def __init__(self, port, name="app", host="127.0.0.1"):
        self.name = name
        self.port = port
        self.requests = []
        self.conns = 0
        self.flaky = 0
        self.lock = threading.Lock()
        self.override = None
        self.backend = Backend(self._serve, port, host)

    def count(self, **match):
        with self.lock:
            return sum(1 for r in self.requests if all(r.get(k) == v for k, v in match.items()))

    def _serve(self, conn):
        with self.lock:
            self.conns += 1
            conn_no = self.conns
        r = Reader(conn)
        while True:
            try:
                start, headers = r.head()
            except (EOFError, ConnectionError):
                return
            parts = start.split(" ")
            if len(parts) != 3:
                return
            method, target, _ = parts
            h = dict(headers)
            if h.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if method == "CONNECT":
                self._record(method, target, headers, b"", [], False, conn_no)
                conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                self._echo(conn, r)
                return
            if h.get("upgrade", "").lower() == "websocket":
                self._record(method, target, headers, b"", [], False, conn_no)
                conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                              f"{ws_accept(h.get('sec-websocket-key', ''))}\r\n\r\n").encode())
                self._ws_echo(conn, r)
                return
            digest = Sink()
            try:
                _, trailers, chunked = r.body(headers, digest)
            except (EOFError, ConnectionError):
                return  # an incomplete request is not a request
            req = self._record(method, target, headers, digest, trailers, chunked, conn_no, digest.n)
            keep = self._answer(conn, req)
            if not keep:
                return

    def _record(self, method, target, headers, digest, trailers, chunked, conn_no, n=0):
        req = {"method": method, "target": target, "path": target.split("?")[0],
               "query": dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query)),
               "headers": headers, "h": dict(headers),
               "sha256": digest.hexdigest() if hasattr(digest, "hexdigest") else None,
               "trailers": dict(trailers), "chunked": chunked, "conn": conn_no, "n": n,
               "at": time.monotonic()}
        with self.lock:
            self.requests.append(req)
        return req

    def _answer(self, conn, req):
        keep = "close" not in req["h"].get("connection", "").lower()
        path, q = req["path"], req["query"]
        ans = self.override(req) if self.override else None
        if ans is not None:
            status, headers, body = ans
            self._send(conn, status, headers, body, keep)
            return keep
        if path == "/bytes":
            n = int(q.get("n", "0"))
            chunked, trailers = q.get("chunked") == "1", q.get("trailers") == "1"
            head = ["HTTP/1.1 200 OK", f"X-Served-By: {self.name}",
                    "Content-Type: application/octet-stream"]
            head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {n}")
            if trailers:
                head.append("Trailer: X-Checksum")
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for c in pattern_chunks(n, 256 * 1024):
                conn.sendall(b"%x\r\n%s\r\n" % (len(c), c) if chunked else c)
            if chunked:
                tail = f"X-Checksum: {pattern_digest(n)}\r\n" if trailers else ""
                conn.sendall(f"0\r\n{tail}\r\n".encode())
            return keep
        if path.startswith("/status/"):
            self._send(conn, int(path.split("/")[2]), [], b"", keep)
            return keep
        if path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000)
        if path == "/flaky":
            with self.lock:
                self.flaky += 1
                fail = self.flaky % 2 == 1
            if fail:
                self._send(conn, 503, [], b"flaky says no", keep)
                return keep
        if path == "/close":
            keep = False
        report = {"name": self.name, "method": req["method"], "target": req["target"],
                  "headers": req["h"], "trailers": req["trailers"], "sha256": req["sha256"],
                  "chunked": req["chunked"], "conn": req["conn"], "n": req["n"]}
        self._send(conn, 200, [("Content-Type", "application/json")], json.dumps(report).encode(), keep)
        return keep

    def _send(self, conn, status, headers, body, keep):
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", f"X-Served-By: {self.name}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if not any(k.lower() == "content-length" for k, _ in headers):
            lines.append(f"Content-Length: {len(body)}")
        if not keep:
            lines.append("Connection: close")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _echo(self, conn, r):
        if r.buf:
            conn.sendall(bytes(r.buf))
            r.buf.clear()
        while True:
            data = conn.recv(1 << 16)
            if not data:
                return
            conn.sendall(data)

    def _ws_echo(self, conn, r):
        while True:
            try:
                op, data = ws_read(r)
            except (EOFError, ConnectionError):
                return
            if op == 8:  # close: answer it and end
                conn.sendall(ws_frame(data, 8))
                return
            conn.sendall(ws_frame(data, op))

    def close(self):
        self.backend.close()


REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           400: "Bad Request", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


# -------------------------------------------------------- identities ----

class Pki:
    """A development CA and SPIFFE identities from `skiff certs`."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="skiff-pki-")
        os.chmod(self.dir, 0o755)
        after_test(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.ca = os.path.join(self.dir, "ca")
        self._certs("ca", "--out", self.ca, "--trust-domain", TD)

    def _certs(self, *args):
        subprocess.run([SKIFF, "certs", *args], check=True, capture_output=True)

    def issue(self, name, sa):
        """Directory with cert.pem, key.pem, ca.pem for spiffe://TD/ns/default/sa/<sa>."""
        out = os.path.join(self.dir, name)
        self._certs("issue", "--ca", self.ca, "--spiffe", spiffe(sa), "--out", out, "--ttl", "1h")
        for f in os.listdir(out):
            os.chmod(os.path.join(out, f), 0o644)
        return out


def spiffe(sa):
    return f"spiffe://{TD}/ns/default/sa/{sa}"


# ------------------------------------------------------------- peers ----

def build_peers():
    """Builds httppeer (Go) and installs the gRPC peer's packages; quiet."""
    subprocess.run(["bash", os.path.join(ROOT, "test", "interop", "httpgo", "build.sh")], check=True,
                   capture_output=True, env=dict(os.environ, BUILD=BUILD))


def go_server(port, d=None, name="go"):
    """httppeer server on 127.0.0.1:port: TLS (h2, http/1.1) with the
    identity in d, plain HTTP/1.1 without."""
    args = [HTTPPEER, "server", "--listen", f"127.0.0.1:{port}", "--name", name]
    if d:
        args += ["--cert", f"{d}/cert.pem", "--key", f"{d}/key.pem", "--ca", f"{d}/ca.pem"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    after_test(lambda: (p.kill(), p.wait()))
    first = json.loads(p.stdout.readline())
    assert first.get("ok"), first
    return p


def go_client(url, d=None, *args, timeout=60):
    """httppeer client; its JSON summary."""
    cmd = [HTTPPEER, "client", "--url", url]
    if d:
        cmd += ["--ca", f"{d}/ca.pem", "--cert", f"{d}/cert.pem", "--key", f"{d}/key.pem"]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
    lines = json_lines(r.stdout)
    assert lines, (r.returncode, r.stdout, r.stderr)
    return lines[-1]


def grpc_server(port):
    p = subprocess.Popen(["node", os.path.join(GRPC_DIR, "server.js"), "--port", str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    after_test(lambda: (p.kill(), p.wait()))
    first = json.loads(p.stdout.readline())
    assert first.get("ok"), first
    return p


def grpc_calls(target, calls, timeout=60):
    """Runs calls ([{rpc, request}]) with the Node client; one dict each."""
    r = subprocess.run(["node", os.path.join(GRPC_DIR, "client.js"), "--target", target,
                        "--calls", json.dumps(calls)], capture_output=True, text=True, timeout=timeout)
    lines = json_lines(r.stdout)
    assert len(lines) == len(calls), (r.returncode, r.stdout, r.stderr)
    return lines


def port_open(port, host="127.0.0.1"):
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def skiff_log_tail(s, n=40):
    return "\n".join(s.log().splitlines()[-n:])


# ------------------------------------------------------ HTTP/2 client ----

class H2:
    """A small HTTP/2 client over h2c prior knowledge, on raw frames
    (hyperframe, hpack) so that it keeps reading after a GOAWAY. Records,
    as they come, each stream's status, body, end or reset, every GOAWAY
    (error code, last stream id) and the connection's close."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        import hpack
        from hyperframe.frame import SettingsFrame
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.enc, self.dec = hpack.Encoder(), hpack.Decoder()
        self.buf = bytearray()
        self.streams = {}
        self.goaways = []
        self.closed = False
        self.next_id = 1
        self._send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize())

    def _send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def stream(self, sid):
        return self.streams.setdefault(sid, {"status": None, "body": b"", "ended": False, "reset": None})

    def request(self, path, method="GET", end=True):
        """Opens a stream (no body); returns its id."""
        from hyperframe.frame import HeadersFrame
        sid, self.next_id = self.next_id, self.next_id + 2
        f = HeadersFrame(sid, flags=["END_HEADERS"] + (["END_STREAM"] if end else []))
        f.data = self.enc.encode([(":method", method), (":scheme", "http"), (":path", path),
                                  (":authority", "app")])
        self._send(f.serialize())
        return sid

    def _frame(self, f):
        from hyperframe.frame import (DataFrame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame,
                                      WindowUpdateFrame)
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            self._send(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(f, HeadersFrame):
            fields = dict(self.dec.decode(bytes(f.data)))
            st = self.stream(f.stream_id)
            if ":status" in fields and st["status"] is None:
                st["status"] = int(fields[":status"])
            st["ended"] |= "END_STREAM" in f.flags
        elif isinstance(f, DataFrame):
            st = self.stream(f.stream_id)
            st["body"] += bytes(f.data)
            st["ended"] |= "END_STREAM" in f.flags
            if f.flow_controlled_length:
                self._send(WindowUpdateFrame(0, window_increment=f.flow_controlled_length).serialize() +
                           WindowUpdateFrame(f.stream_id, window_increment=f.flow_controlled_length).serialize())
        elif isinstance(f, RstStreamFrame):
            self.stream(f.stream_id)["reset"] = f.error_code
        elif isinstance(f, GoAwayFrame):
            self.goaways.append((f.error_code, f.last_stream_id))

    def pump(self, until, timeout=10.0):
        """Reads until until() holds, skiff closes, or timeout; returns until()."""
        from hyperframe.frame import Frame
        deadline = time.monotonic() + timeout
        while not until() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(bytes(self.buf[9:9 + length])))
                del self.buf[:9 + length]
                self._frame(f)
        return until()

    def done(self, sid):
        return lambda: self.stream(sid)["ended"] or self.stream(sid)["reset"] is not None

    def close(self):
        self.sock.close()
