"""Backends for integration tests, each a listening socket served by threads."""
import hashlib
import socket
import threading

from harness import after_test


class Backend:
    """Listens on (host, port) and runs handler(conn) per connection."""

    def __init__(self, handler, port, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(4096)
        self.handler = handler
        self.peers = []  # (remote, local) address of every accepted connection
        self.results = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()
        after_test(self.close)

    def _accept(self):
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.peers.append((addr, conn.getsockname()))
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            result = self.handler(conn)
            if result is not None:
                with self.lock:
                    self.results.append(result)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        # shutdown wakes the accept() thread; close alone would leave it
        # blocked on a socket that still holds the port.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def echo(conn):
    while True:
        data = conn.recv(1 << 16)
        if not data:
            return
        conn.sendall(data)


def sink_digest(conn):
    """Reads to EOF, then answers the SHA-256 of what it read."""
    h, n = hashlib.sha256(), 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        h.update(data)
        n += len(data)
    conn.sendall(f"{n} {h.hexdigest()}".encode())
    return n


def pattern(size, seed=b"skiff"):
    """size deterministic bytes, and their SHA-256."""
    block = hashlib.sha256(seed).digest() * (1 << 15)  # 1 MiB
    data = (block * (size // len(block) + 1))[:size]
    return data, hashlib.sha256(data).hexdigest()


def source(size):
    """A handler that sends size pattern bytes, then closes."""
    data, _ = pattern(size)

    def handler(conn):
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(1 << 16):
            pass
    return handler
