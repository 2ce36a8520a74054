#!/usr/bin/python3
"""A stand-in for `skiff run` in the BPF capture tests, doing what the
sidecar does at L4 and nothing more:

  :15001  accept a captured connection, ask SO_ORIGINAL_DST, connect there
  :15006  accept a steered connection, connect from 127.0.0.6 to the address
          the peer dialled (getsockname; SO_ORIGINAL_DST must agree)
  127.0.0.1:15000/stats  Envoy-style counters, the names skiff uses

It binds, then drops to --uid (the proxy uid the capture ignores). The
inbound listener needs no registration: the sockops program registers any
socket of the pod's cgroup that listens on the inbound port.
"""
import argparse
import http.server
import os
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80
stats = {}
stats_lock = threading.Lock()


def bump(name, n=1):
    with stats_lock:
        stats[name] = stats.get(name, 0) + n


def original_dst(conn):
    raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, addr = struct.unpack("!2xH4s8x", raw)
    return socket.inet_ntoa(addr), port


def pipe(src, dst, counter):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            bump(counter, len(data))
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(conn, listener, upstream_for):
    # A timeout makes CPython poll before each read and retry one that finds
    # nothing: a blocking read of a sockmap socket can fail with EAGAIN.
    conn.settimeout(300)
    prefix = "listener.0.0.0.0_%d." % listener
    bump(prefix + "downstream_cx_total")
    try:
        dst, bind = upstream_for(conn)
    except OSError as e:
        bump(prefix + "downstream_cx_no_destination")
        print("testproxy: no destination: %s" % e, file=sys.stderr, flush=True)
        conn.close()
        return
    up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    up.settimeout(300)
    try:
        if bind:
            up.bind((bind, 0))
        up.connect(dst)
    except OSError as e:
        bump(prefix + "upstream_connect_fail")
        print("testproxy: connect %s: %s" % (dst, e), file=sys.stderr, flush=True)
        conn.close()
        up.close()
        return
    t = threading.Thread(target=pipe, args=(up, conn, prefix + "downstream_cx_tx_bytes_total"))
    t.start()
    pipe(conn, up, prefix + "downstream_cx_rx_bytes_total")
    t.join()
    conn.close()
    up.close()
    bump(prefix + "downstream_cx_destroy")


def outbound_upstream(conn):
    return original_dst(conn), None


def inbound_upstream(conn):
    local = conn.getsockname()
    try:
        if original_dst(conn) != local:
            bump("listener.0.0.0.0_15006.orig_dst_mismatch")
    except OSError:
        bump("listener.0.0.0.0_15006.orig_dst_missing")
    return local, "127.0.0.6"


def accept_loop(sock, port, upstream_for):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve, args=(conn, port, upstream_for), daemon=True).start()


class Admin(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/stats":
            self.send_error(404)
            return
        with stats_lock:
            body = "".join("%s: %d\n" % kv for kv in sorted(stats.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uid", type=int, default=1337)
    ap.add_argument("--outbound-port", type=int, default=15001)
    ap.add_argument("--inbound-port", type=int, default=15006)
    args = ap.parse_args()
    for p in (args.outbound_port, args.inbound_port):
        for k in ("downstream_cx_total", "downstream_cx_rx_bytes_total"):
            stats["listener.0.0.0.0_%d.%s" % (p, k)] = 0
    out_sock = listen(args.outbound_port)
    in_sock = listen(args.inbound_port)
    admin = http.server.ThreadingHTTPServer(("127.0.0.1", 15000), Admin)
    os.setgroups([])
    os.setgid(args.uid)
    os.setuid(args.uid)
    threading.Thread(target=accept_loop, args=(out_sock, args.outbound_port, outbound_upstream),
                     daemon=True).start()
    threading.Thread(target=accept_loop, args=(in_sock, args.inbound_port, inbound_upstream),
                     daemon=True).start()
    print("testproxy: ready", flush=True)
    admin.serve_forever()


if __name__ == "__main__":
    main()
