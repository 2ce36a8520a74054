#!/usr/bin/python3
"""The "application" of a pod in the BPF capture tests.

  app.py server HOST PORT...   listen on each port; per connection, read to EOF,
                               reply with one JSON line {local, peer, bytes,
                               sha256}, and print the same line on stdout
  app.py client HOST PORT N    connect, send N random bytes, half-close, print
                               {local, peer, sent, sha256, reply}

Sockets carry a timeout, so CPython polls before each read and retries a
read that finds nothing: a blocking read of a socket in a sockmap can fail
with EAGAIN on a wakeup that brought no data (see docs/bpf.md).
"""
import hashlib
import json
import os
import socket
import sys
import threading

TIMEOUT = 20


def serve(conn):
    conn.settimeout(TIMEOUT)
    local, peer = list(conn.getsockname()), list(conn.getpeername())
    h, n = hashlib.sha256(), 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        h.update(data)
        n += len(data)
    line = json.dumps({"local": local, "peer": peer, "bytes": n, "sha256": h.hexdigest()})
    conn.sendall(line.encode() + b"\n")
    conn.close()
    print(line, flush=True)


def server(host, ports):
    socks = []
    for p in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(p)))
        s.listen(64)
        socks.append(s)

    def loop(s):
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    for s in socks[1:]:
        threading.Thread(target=loop, args=(s,), daemon=True).start()
    print("ready", flush=True)
    loop(socks[0])


def client(host, port, n):
    data = os.urandom(n)
    c = socket.create_connection((host, port), timeout=TIMEOUT)
    local, peer = list(c.getsockname()), list(c.getpeername())
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        chunk = c.recv(1 << 16)
        if not chunk:
            break
        reply += chunk
    print(json.dumps({"local": local, "peer": peer, "sent": n,
                      "sha256": hashlib.sha256(data).hexdigest(),
                      "reply": json.loads(reply) if reply else None}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3:])
    else:
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
