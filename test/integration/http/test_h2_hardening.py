#!/usr/bin/python3
"""HTTP/2 abuse against skiff's server side (issue 5, HARDENING.md): raw
frames (hyperframe, hpack) over h2c prior knowledge to an HCM listener in
front of a trivial HTTP/1.1 app, one test per attack. Each asserts that

  (a) skiff ends or refuses the abuse within a bounded time (GOAWAY with
      ENHANCE_YOUR_CALM or PROTOCOL_ERROR, RST_STREAM, or the connection
      closed) and skiff's RSS stays bounded;
  (b) the abuse is counted on the listener (http2.outbound_flood,
      downstream_cx_protocol_error);
  (c) a well-behaved HTTP/2 connection opened before the attack, on the
      same worker, keeps getting 200s throughout.

Plus GOAWAY on drain: SIGTERM with a slow request in flight.
"""
import os
import signal
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import App, lstat, simple_proxy, skiff_log_tail  # noqa: E402
from harness import isolate, run, test, wait_for  # noqa: E402

PORT, APP = 10080, 18080
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR = 0x0, 0x1, 0x2
STREAM_CLOSED, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x5, 0x7, 0x8, 0x9, 0xb
RSS_GROWTH_KB = 32 * 1024  # what one abusive connection may cost skiff, at most
CLOSE_WITHIN = 10.0        # seconds from the end of the attack to skiff's verdict


def proxy(**hcm_extra):
    return simple_proxy(PORT, "app", [("127.0.0.1", APP)], hcm_extra=hcm_extra or None)


def request_headers(path="/status/200", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", "app.example")] + list(extra)


class Raw:
    """An HTTP/2 client that writes whatever frames it is given and reads
    (on demand, or in a background thread) whatever skiff answers."""

    def __init__(self, port=PORT, rcvbuf=None, handshake=True):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.enc = hpack.Encoder()
        self.buf = bytearray()
        self.frames = []          # every frame read, in order
        self.closed = False       # EOF or reset seen
        self.lock = threading.Lock()
        self.reader = None
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())
        if handshake:
            # skiff's SETTINGS, our ACK, then its ACK of ours: its limits are in force.
            self.read_until(lambda: any(isinstance(f, SettingsFrame) and "ACK" not in f.flags
                                        for f in self.frames))
            self.sock.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
            self.read_until(lambda: any(isinstance(f, SettingsFrame) and "ACK" in f.flags for f in self.frames))

    def headers(self, sid, headers=None, end_stream=True, end_headers=True):
        flags = (["END_STREAM"] if end_stream else []) + (["END_HEADERS"] if end_headers else [])
        f = HeadersFrame(sid, flags=flags)
        f.data = self.enc.encode(headers or request_headers())
        return f

    def send(self, *frames):
        """Sends frames; False if skiff has stopped taking bytes (closed,
        reset, or not reading for 10 s)."""
        try:
            self.sock.sendall(b"".join(f.serialize() for f in frames))
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False

    def _read_once(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            return False
        except (ConnectionResetError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        with self.lock:
            self.buf += data
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(bytes(self.buf[9:9 + length])))
                del self.buf[:9 + length]
                self.frames.append(f)
        return True

    def read_until(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                break
            self._read_once(min(left, 0.5))
        return predicate()

    def drain_in_background(self):
        """Reads everything skiff sends from now on, so that its answers
        never back up (the attacks below that are not about reading)."""
        def loop():
            while not self.closed:
                self._read_once(0.5)
        self.reader = threading.Thread(target=loop, daemon=True)
        self.reader.start()

    def wait_closed(self, timeout=CLOSE_WITHIN):
        """True once skiff closed the connection (reading what it sends)."""
        if self.reader:
            self.reader.join(timeout)
            return self.closed
        return self.read_until(lambda: self.closed, timeout)

    def of(self, cls):
        with self.lock:
            return [f for f in self.frames if isinstance(f, cls)]

    def goaway(self):
        g = self.of(GoAwayFrame)
        return g[0].error_code if g else None

    def resets(self, code=None):
        return [f for f in self.of(RstStreamFrame) if code is None or f.error_code == code]

    def responses(self):
        """{stream id: :status} of the response heads read so far."""
        dec, out = hpack.Decoder(), {}
        dec.max_allowed_table_size = 1 << 16
        for f in self.of(HeadersFrame):
            fields = dict(dec.decode(bytes(f.data)))
            if ":status" in fields:
                out[f.stream_id] = fields[":status"]
        return out

    def close(self):
        self.closed = True
        self.sock.close()


class Bystander:
    """A well-behaved HTTP/2 client (Python h2) on its own connection,
    sending GET /status/200 one after another in a thread until stopped."""

    def __init__(self, port=PORT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                         header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.statuses, self.errors = [], []
        self.stop = threading.Event()
        self.one()  # the connection is up and serving before the attack
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def one(self):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, request_headers(), end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        status, ended, started = None, False, time.monotonic()
        while not ended:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("skiff closed the bystander's connection")
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = dict(ev.headers)[":status"]
                elif isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    ended = True
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    raise AssertionError(f"bystander stream reset ({ev.error_code})")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    raise AssertionError(f"bystander got GOAWAY {ev.error_code}")
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)
        self.statuses.append((status, time.monotonic() - started))
        return status

    def _loop(self):
        while not self.stop.is_set():
            try:
                self.one()
            except Exception as e:  # reported by finish()
                self.errors.append(repr(e))
                return
            time.sleep(0.01)

    def finish(self, during_at_least=1):
        """Stops the loop; asserts every answer was a 200, that some came
        while the attack ran, and that the connection still serves."""
        self.stop.set()
        self.thread.join(15)
        assert not self.errors, f"the bystander failed: {self.errors}"
        assert not self.thread.is_alive(), "the bystander's request hung"
        bad = [s for s, _ in self.statuses if s != "200"]
        assert not bad, f"the bystander got {bad}"
        assert len(self.statuses) >= 1 + during_at_least, f"the bystander got only {len(self.statuses)} answers"
        assert self.one() == "200"
        slowest = max(t for _, t in self.statuses)
        assert slowest < 5.0, f"a bystander request took {slowest:.1f}s"
        self.sock.close()


class Attack:
    """What every test checks around one attack: RSS before and after,
    the bystander, the listener's counters."""

    def __init__(self, s):
        self.s = s
        self.rss0 = s.rss_kb()
        self.flood0 = lstat(s, PORT, "http2.outbound_flood")
        self.perr0 = lstat(s, PORT, "downstream_cx_protocol_error")
        self.bystander = Bystander()
        self.started = time.monotonic()

    def counted(self, flood=0, protocol_error=0):
        """Waits until the counters rose by at least these much."""
        def got():
            return (lstat(self.s, PORT, "http2.outbound_flood") - self.flood0,
                    lstat(self.s, PORT, "downstream_cx_protocol_error") - self.perr0)
        wait_for(lambda: got()[0] >= flood and got()[1] >= protocol_error, timeout=5,
                 what=f"http2.outbound_flood +{flood}, downstream_cx_protocol_error +{protocol_error} "
                      f"(have {got()})")
        return got()

    def counted_any(self):
        """Waits until either counter rose."""
        def got():
            return (lstat(self.s, PORT, "http2.outbound_flood") - self.flood0 +
                    lstat(self.s, PORT, "downstream_cx_protocol_error") - self.perr0)
        wait_for(lambda: got() >= 1, timeout=5,
                 what="http2.outbound_flood or downstream_cx_protocol_error to count the abuse")

    def finish(self):
        grown = self.s.rss_kb() - self.rss0
        assert grown < RSS_GROWTH_KB, f"skiff's RSS grew by {grown} KiB during the attack"
        assert self.s.proc.poll() is None, skiff_log_tail(self.s)
        self.bystander.finish()
        return grown


def verdict(c, codes, what):
    """The connection ended (closed, with a GOAWAY carrying one of codes
    when skiff had the chance to send one)."""
    assert c.wait_closed(), f"{what}: skiff kept the connection open; frames seen: {summary(c)}"
    g = c.goaway()
    assert g is None or g in codes, f"{what}: GOAWAY {g}, wanted one of {codes}"
    return g


def summary(c):
    kinds = {}
    for f in c.frames:
        kinds[type(f).__name__] = kinds.get(type(f).__name__, 0) + 1
    return kinds


# ----------------------------------------------------------------- attacks --

@test
def rapid_reset_flood_is_cut_off():
    """CVE-2023-44487: HEADERS then RST_STREAM, thousands of times."""
    App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    c.drain_in_background()
    sid, sent = 1, 0
    batch = 200
    while sent < 20000:
        frames = []
        for _ in range(batch):
            frames += [c.headers(sid), RstStreamFrame(sid, error_code=CANCEL)]
            sid += 2
        if not c.send(*frames):
            break
        sent += batch
    code = verdict(c, (ENHANCE_YOUR_CALM, INTERNAL_ERROR, PROTOCOL_ERROR), "rapid reset")
    assert sent < 20000, f"skiff took all {sent} HEADERS+RST_STREAM pairs (GOAWAY {code})"
    a.counted_any()
    a.finish()


@test
def continuation_flood_is_cut_off():
    """CVE-2024-27316 family: HEADERS without END_HEADERS, then endless
    CONTINUATION frames each carrying a little more header block."""
    App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    c.drain_in_background()
    first = c.headers(1, end_headers=False)
    ok, n = c.send(first), 0
    while ok and n < 100000:
        frames = []
        for _ in range(500):
            f = ContinuationFrame(1)
            f.data = b"\x00\x03x-c\x40" + b"y" * 64  # literal without indexing, new name
            frames.append(f)
        ok = c.send(*frames)
        n += 500
    verdict(c, (PROTOCOL_ERROR, ENHANCE_YOUR_CALM, COMPRESSION_ERROR), "CONTINUATION flood")
    assert n < 100000, f"skiff took {n} CONTINUATION frames"
    a.counted(protocol_error=1)
    a.finish()


def ack_flood(make_frame, what, **hcm_extra):
    """Frames that each ask for an ACK, never reading one, until skiff
    stops taking them (the kernel's buffers hold a few MB of ACKs first)."""
    App(APP)
    s = proxy(**hcm_extra)
    a = Attack(s)
    c = Raw(rcvbuf=4096)
    c.sock.settimeout(2)
    n = 0
    while n < 1000000:
        if not c.send(*[make_frame(n + i) for i in range(1000)]):
            break
        n += 1000
    stalled_at = lstat(s, PORT, "downstream_cx_rx_bytes_total")
    # Only now read: skiff should have given up on this connection.
    closed = c.read_until(lambda: c.closed, CLOSE_WITHIN)
    assert closed, (f"{what}: after {n} frames ({stalled_at} bytes taken before skiff stopped reading) "
                    f"skiff still holds the connection and answers ({summary(c)})")
    a.counted(flood=1)
    a.finish()
    return n


@test
def settings_flood_is_cut_off():
    ack_flood(lambda i: SettingsFrame(0, settings={0x4: 65535 + (i % 2)}), "SETTINGS flood")


@test
def ping_flood_is_cut_off():
    ack_flood(lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")), "PING flood")


@test
def ping_flood_is_cut_off_with_a_configured_max_outbound_control_frames():
    """The limit counts ACKs queued once the kernel's socket buffers are
    full, so how many PINGs the client got in first is the buffers' doing,
    not the limit's: the check is that a configured value still cuts the
    flood off and counts it."""
    n = ack_flood(lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")), "PING flood",
                  http2_protocol_options={"max_outbound_control_frames": 100})
    print(f"# PINGs sent before the cut with max_outbound_control_frames 100: {n}")


def open_wide(c):
    """The largest windows HTTP/2 allows, so only the socket holds skiff back."""
    assert c.send(SettingsFrame(0, settings={0x4: 2**31 - 1}),
                  WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535))


@test
def download_to_a_peer_that_reads_nothing_is_cut_off_at_max_outbound_frames():
    """Envoy's max_outbound_frames: with the windows open, a client that
    asks for a large body and never reads leaves frames queued once the
    socket is full; past the limit the connection ends as a flood."""
    App(APP)
    s = proxy(http2_protocol_options={"max_outbound_frames": 4})
    a = Attack(s)
    c = Raw(rcvbuf=4096)
    open_wide(c)
    assert c.send(c.headers(1, request_headers("/bytes?n=50000000")))
    a.counted(flood=1)
    assert c.read_until(lambda: c.closed, CLOSE_WITHIN), "skiff kept the connection"
    a.finish()


@test
def slow_reader_of_a_long_download_is_not_cut_off():
    """The count is of frames queued since the peer last took bytes: a
    client that reads, however slowly, gets its whole body (256 DATA
    frames here; a limit above what one turn queues, about 8)."""
    App(APP)
    s = proxy(http2_protocol_options={"max_outbound_frames": 64})
    a = Attack(s)
    c = Raw(rcvbuf=4096)
    open_wide(c)
    n = 4 << 20
    assert c.send(c.headers(1, request_headers("/bytes?n=%d" % n)))

    def done():
        time.sleep(0.002)  # slower than skiff writes
        return any(isinstance(f, DataFrame) and "END_STREAM" in f.flags for f in c.frames)
    assert c.read_until(done, 60), f"the download stopped: {summary(c)}"
    got = sum(len(f.data) for f in c.frames if isinstance(f, DataFrame))
    assert got == n and not c.closed, (got, summary(c))
    assert a.counted() == (0, 0)
    a.finish()


@test
def header_list_past_max_header_list_size_refuses_the_stream():
    """A header block that decodes to more than max_request_headers_kb
    (60 KiB): the stream is reset, the connection goes on serving."""
    app = App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    big = [(f"x-big-{i}", "v" * 4000) for i in range(20)]  # 80 KB decoded
    block = c.enc.encode(request_headers("/big", extra=big))
    frames, chunk = [], 16384
    pieces = [block[i:i + chunk] for i in range(0, len(block), chunk)]
    h = HeadersFrame(1, flags=["END_STREAM"] + (["END_HEADERS"] if len(pieces) == 1 else []))
    h.data = pieces[0]
    frames.append(h)
    for k, p in enumerate(pieces[1:], 1):
        f = ContinuationFrame(1, flags=["END_HEADERS"] if k == len(pieces) - 1 else [])
        f.data = p
        frames.append(f)
    assert c.send(*frames)
    assert c.read_until(lambda: c.resets() or c.closed), summary(c)
    assert c.resets() and c.resets()[0].stream_id == 1, summary(c)
    # the same connection still serves
    assert c.send(c.headers(3))
    assert c.read_until(lambda: 3 in c.responses()), summary(c)
    assert c.responses()[3] == "200" and 1 not in c.responses()
    assert app.count(path="/big") == 0
    a.counted(protocol_error=1)
    a.finish()


@test
def too_many_header_fields_refuses_the_stream():
    """Many tiny header fields past max_headers_count (100)."""
    app = App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    assert c.send(c.headers(1, request_headers("/many", extra=[(f"x-{i}", "v") for i in range(300)])))
    assert c.read_until(lambda: c.resets() or c.closed), summary(c)
    assert [f.stream_id for f in c.resets()] == [1], summary(c)
    assert c.send(c.headers(3))
    assert c.read_until(lambda: 3 in c.responses()), summary(c)
    assert c.responses()[3] == "200"
    assert app.count(path="/many") == 0
    a.counted(protocol_error=1)
    a.finish()


@test
def hpack_bomb_is_refused_with_bounded_memory():
    """One 4 KB field in the dynamic table, then header blocks that refer
    to it thousands of times (1 byte each: ~4 MB decoded per block)."""
    app = App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    c.drain_in_background()
    # literal with incremental indexing, new name: dynamic table index 62
    bomb_field = b"\x40" + bytes([6]) + b"x-bomb" + b"\x7f" + encode_int(4000 - 127) + b"B" * 4000
    sid = 1
    for k in range(50):
        block = c.enc.encode(request_headers("/bomb"))
        if k == 0:
            block += bomb_field
        block += b"\xbe" * 1000  # indexed field 62, a thousand times
        f = HeadersFrame(sid, flags=["END_STREAM", "END_HEADERS"])
        f.data = block
        if not c.send(f):
            break
        sid += 2
    c.read_until(lambda: len(c.resets()) >= 50 or c.closed, 10)
    refused = {f.stream_id for f in c.resets()}
    answered = c.responses()
    assert not any(v == "200" for v in answered.values()), f"a bomb was answered: {answered}"
    assert c.closed or len(refused) == 50, f"refused {len(refused)} of 50 ({summary(c)})"
    assert app.count(path="/bomb") == 0
    a.counted(protocol_error=1)
    grown = a.finish()
    print(f"# hpack bomb: RSS +{grown} KiB; {len(refused)} streams reset, closed={c.closed}, "
          f"GOAWAY={c.goaway()}")


def encode_int(v):
    """HPACK integer continuation bytes after a full prefix (RFC 7541 5.1)."""
    out = bytearray()
    while v >= 128:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


@test
def made_you_reset_exhausts_the_per_connection_budget():
    """CVE-2025-8671: frames that open a stream and then make skiff reset
    it with a stream error: a DATA frame longer than the stream's
    content-length, or a request with a connection-specific header. The
    budget is 100 resets a connection and minute (max_server_resets)."""
    App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    c.drain_in_background()
    sid, sent = 1, 0
    while sent < 1000 and not c.closed:
        if sent % 2:
            frames = [c.headers(sid, request_headers("/myr", extra=[("connection", "close")]))]
        else:
            frames = [c.headers(sid, request_headers("/myr", "POST", [("content-length", "1")]),
                                end_stream=False), DataFrame(sid, data=b"xx", flags=["END_STREAM"])]
        if not c.send(*frames):
            break
        sid += 2
        sent += 1
        time.sleep(0.001)
    verdict(c, (ENHANCE_YOUR_CALM,), "MadeYouReset")
    assert c.goaway() == ENHANCE_YOUR_CALM, f"no GOAWAY ENHANCE_YOUR_CALM ({summary(c)})"
    n = len(c.resets())
    assert 100 <= n <= 110, f"skiff reset {n} streams before giving up (budget 100)"
    a.counted(flood=1)
    a.finish()


def one_strike(what, frames_for):
    """Frames nghttp2 answers with a connection error: the first one ends
    the connection, so they cannot be repeated into a reset flood."""
    App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    c.drain_in_background()
    sent = 0
    for sid in range(1, 2001, 2):
        if c.closed or not c.send(*frames_for(c, sid)):
            break
        sent += 1
    verdict(c, (STREAM_CLOSED, PROTOCOL_ERROR), what)
    assert c.goaway() is not None, summary(c)
    assert len(c.resets()) <= 1, f"skiff reset {len(c.resets())} streams one by one"
    a.counted(protocol_error=1)
    a.finish()


@test
def window_update_0_on_a_stream_ends_the_connection():
    one_strike("WINDOW_UPDATE 0", lambda c, sid: [
        c.headers(sid, request_headers("/wu", "POST"), end_stream=False), WindowUpdateFrame(sid, window_increment=0)])


@test
def data_on_a_half_closed_stream_ends_the_connection():
    one_strike("DATA after END_STREAM", lambda c, sid: [c.headers(sid), DataFrame(sid, data=b"x")])


@test
def streams_past_max_concurrent_streams_before_the_settings_ack_are_refused():
    """A client that opens streams before acknowledging skiff's SETTINGS
    (allowed: RFC 9113 3.4) gets REFUSED_STREAM past 100; the first 100
    are served and the connection goes on."""
    app = App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw(handshake=False)
    c.drain_in_background()
    frames = [c.headers(1 + 2 * i, request_headers("/slow?ms=1000")) for i in range(130)]
    assert c.send(*frames)
    wait_for(lambda: len(c.resets()) >= 30 or c.closed, timeout=5, what="30 REFUSED_STREAM")
    refused = sorted(f.stream_id for f in c.resets())
    assert all(f.error_code == REFUSED_STREAM for f in c.resets()), summary(c)
    assert refused == [1 + 2 * i for i in range(100, 130)], (refused, summary(c), c.goaway())
    wait_for(lambda: len(c.responses()) >= 100, timeout=10, what="100 answers")
    assert set(c.responses().values()) == {"200"}
    assert c.send(SettingsFrame(0, flags=["ACK"]), c.headers(261))
    wait_for(lambda: 261 in c.responses(), timeout=5, what="an answer after the refusals")
    assert not c.closed and c.goaway() is None
    assert app.count(path="/slow") == 100
    a.finish()


@test
def streams_past_max_concurrent_streams_after_the_settings_ack_end_the_connection():
    """Past an acknowledged SETTINGS_MAX_CONCURRENT_STREAMS, RFC 9113 5.1.2
    allows a stream error; nghttp2 makes it a connection error, so a client
    that ignores a limit it acknowledged loses the connection: GOAWAY
    PROTOCOL_ERROR, counted, and skiff serves the next connection."""
    app = App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    c.drain_in_background()
    frames = [c.headers(1 + 2 * i, request_headers("/slow?ms=1000")) for i in range(130)]
    assert c.send(*frames)
    wait_for(lambda: c.closed or c.goaway() is not None, timeout=5, what="GOAWAY")
    assert c.goaway() == PROTOCOL_ERROR, summary(c)
    a.counted(protocol_error=1)
    assert app.count(path="/slow") <= 100, "a stream past the limit reached the app"
    a.finish()


@test
def empty_data_frame_flood_is_cut_off():
    """DATA frames with no payload and no END_STREAM: Envoy's
    max_consecutive_inbound_frames_with_empty_payload (default 1)."""
    App(APP)
    s = proxy()
    a = Attack(s)
    c = Raw()
    c.drain_in_background()
    ok, n = c.send(c.headers(1, request_headers("/up", "POST"), end_stream=False)), 0
    while ok and n < 100000:
        ok = c.send(*[DataFrame(1, data=b"") for _ in range(1000)])
        n += 1000
    verdict(c, (ENHANCE_YOUR_CALM,), "empty DATA flood")
    assert c.goaway() == ENHANCE_YOUR_CALM, summary(c)
    a.counted(flood=1)
    a.finish()


@test
def empty_frame_limit_is_configurable():
    """max_consecutive_inbound_frames_with_empty_payload: 5 lets five
    empty DATA frames pass and ends the connection at the sixth."""
    App(APP)
    proxy(http2_protocol_options={"max_consecutive_inbound_frames_with_empty_payload": 5})
    c = Raw()
    assert c.send(c.headers(1, request_headers("/up", "POST"), end_stream=False),
                  *[DataFrame(1, data=b"") for _ in range(5)], DataFrame(1, data=b"x"),
                  *[DataFrame(1, data=b"") for _ in range(5)], DataFrame(1, data=b"", flags=["END_STREAM"]))
    assert c.read_until(lambda: 1 in c.responses() or c.closed), summary(c)
    assert c.responses().get(1) == "200" and c.goaway() is None, summary(c)
    assert c.send(c.headers(3, request_headers("/up", "POST"), end_stream=False),
                  *[DataFrame(3, data=b"") for _ in range(6)])
    assert c.wait_closed() and c.goaway() == ENHANCE_YOUR_CALM, summary(c)


# ------------------------------------------------------------------ drain --

@test
def sigterm_sends_goaway_finishes_in_flight_and_refuses_new_streams():
    app = App(APP)
    s = proxy()
    c = Raw()
    assert c.send(c.headers(1, request_headers("/slow?ms=1500")))
    wait_for(lambda: app.count(path="/slow") == 1, what="the slow request at the app")
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    assert c.read_until(lambda: c.of(GoAwayFrame), 3), f"no GOAWAY on SIGTERM ({summary(c)})"
    g = c.of(GoAwayFrame)[0]
    assert g.error_code == NO_ERROR and g.last_stream_id >= 1, (g.error_code, g.last_stream_id)
    assert time.monotonic() - t0 < 1.5, "GOAWAY came only after the in-flight request"
    # a stream opened after the GOAWAY is refused (or ignored, RFC 9113
    # 6.8) and never reaches the app
    assert c.send(c.headers(3, request_headers("/after-goaway")))
    assert c.read_until(lambda: 1 in c.responses(), 5), f"in-flight request lost ({summary(c)})"
    assert c.responses()[1] == "200"
    c.read_until(lambda: c.closed, 3)
    assert 3 not in c.responses(), "a stream opened after GOAWAY was served"
    assert app.count(path="/after-goaway") == 0
    r3 = [f.error_code for f in c.resets() if f.stream_id == 3]
    assert r3 in ([], [REFUSED_STREAM]), r3
    assert s.wait(10) == 0, skiff_log_tail(s)


if __name__ == "__main__":
    isolate()
    run()
