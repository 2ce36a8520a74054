#!/usr/bin/env python3
"""Differential test of skiff's HTTP/1.1 parser (proxy/h1_parser.c) against
two independent parsers: Python's h11 (Debian python3-h11) and Node's own
http server (llhttp). The same raw bytes go through all three.

- Valid messages: every peer accepts them, and method, target, headers
  (names compared case-insensitively), body and trailers agree.
- Smuggling vectors and malformed messages: skiff rejects each with the
  expected error code, and at least one peer rejects it too. Where a peer
  accepts what we reject, the case must be in STRICTER_THAN_PEER with the
  reason; an acceptance that is not listed fails the test.

Needs gcc, node and python3-h11; no root and no network namespace (Node
listens on 127.0.0.1 on an ephemeral port). Prints ok/not ok lines and
"N passed, N failed".
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

import h11

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
H1 = os.path.join(ROOT, "test", "integration", "h1")

H = b"Host: x\r\n"

# (name, bytes)
VALID_REQUESTS = [
    ("simple GET", b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"),
    ("pipelined keep-alive", b"GET /a HTTP/1.1\r\n" + H + b"\r\n"
     b"POST /b?q=1 HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello"
     b"DELETE /c HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"),
    ("chunked, extensions, trailers", b"PUT /up HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
     b"5;name=value\r\nhello\r\n6;a=\"q;x\"\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Sum: 42\r\n\r\n"),
    ("chunk size in capitals with leading zeros", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n00A\r\n0123456789\r\n0\r\n\r\n"),
    ("OWS, obs-text and case", b"GET / HTTP/1.1\r\nhOsT:\t x.example:8080 \t\r\n"
     b"X-A: caf\xc3\xa9 \"q\"\r\nTRANSFER-ENCODING: Chunked\r\n\r\n0\r\n\r\n"),
    ("Expect: 100-continue", b"POST /u HTTP/1.1\r\n" + H +
     b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"),
    ("absolute-form", b"GET http://x.example/p?q HTTP/1.1\r\nHost: x.example\r\n\r\n"),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n"),
    ("query with | { } characters", b"GET /s?a=|x|&b={1} HTTP/1.1\r\n" + H + b"\r\n"),
    ("HTTP/1.0 without Host", b"GET /old HTTP/1.0\r\nAccept: */*\r\n\r\n"),
    ("websocket upgrade", b"GET /ws HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x05hello"),
    ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01"),
    ("empty line before a request", b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n"),
]

# (name, bytes, our error code)
REQUEST_VECTORS = [
    ("CL.TE", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
     "H1_E_CL_AND_TE"),
    ("TE.CL", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
     b"8\r\nSMUGGLED\r\n0\r\n\r\n", "H1_E_CL_AND_TE"),
    ("TE: xchunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n",
     "H1_E_BAD_TRANSFER_ENCODING"),
    ("TE with space before colon", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
     "H1_E_WS_BEFORE_COLON"),
    ("TE: chunked, identity", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, identity\r\n\r\n",
     "H1_E_BAD_TRANSFER_ENCODING"),
    ("TE: chunked then TE: x", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: x\r\n\r\n", "H1_E_BAD_TRANSFER_ENCODING"),
    ("TE: chunked twice", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "H1_E_BAD_TRANSFER_ENCODING"),
    ("TE with vertical tab", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
     "H1_E_BAD_HEADER_VALUE"),
    ("TE with form feed", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\x0c\r\n\r\n0\r\n\r\n",
     "H1_E_BAD_HEADER_VALUE"),
    ("TE line starting with a tab", b"POST / HTTP/1.1\r\n" + H + b"\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "H1_E_OBS_FOLD"),
    ("TE folded", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
     "H1_E_OBS_FOLD"),
    ("TE quoted", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: \"chunked\"\r\n\r\n",
     "H1_E_BAD_TRANSFER_ENCODING"),
    ("TE: chunked;q=1", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
     "H1_E_BAD_TRANSFER_ENCODING"),
    ("TE: ,chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
     "H1_E_BAD_TRANSFER_ENCODING"),
    ("TE: gzip, chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     "H1_E_TE_UNSUPPORTED"),
    ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "H1_E_TE_HTTP10"),
    ("CL: +5", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", "H1_E_BAD_CONTENT_LENGTH"),
    ("CL: -1", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", "H1_E_BAD_CONTENT_LENGTH"),
    ("CL: 5, 6", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!",
     "H1_E_MULTIPLE_CONTENT_LENGTH"),
    ("CL: 5, 5", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello",
     "H1_E_MULTIPLE_CONTENT_LENGTH"),
    ("CL twice, different", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     "H1_E_MULTIPLE_CONTENT_LENGTH"),
    ("CL twice, equal", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
     "H1_E_MULTIPLE_CONTENT_LENGTH"),
    ("CL: 1 0", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1 0\r\n\r\n0123456789", "H1_E_BAD_CONTENT_LENGTH"),
    ("CL: 0x10", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x10\r\n\r\n", "H1_E_BAD_CONTENT_LENGTH"),
    ("CL empty", b"POST / HTTP/1.1\r\n" + H + b"Content-Length:\r\n\r\n", "H1_E_BAD_CONTENT_LENGTH"),
    ("CL overflow", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 18446744073709551617\r\n\r\n",
     "H1_E_BAD_CONTENT_LENGTH"),
    ("bare CR inside a value", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", "H1_E_BARE_CR"),
    ("bare LF ends a field", b"GET / HTTP/1.1\r\n" + H + b"X: a\n\r\n", "H1_E_BARE_LF"),
    ("bare LF ends the request line", b"GET / HTTP/1.1\n" + H + b"\r\n", "H1_E_BARE_LF"),
    ("bare LF ends the head", b"GET / HTTP/1.1\r\n" + H + b"\n", "H1_E_BARE_LF"),
    ("NUL in a value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", "H1_E_BAD_HEADER_VALUE"),
    ("DEL in a value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x7f\r\n\r\n", "H1_E_BAD_HEADER_VALUE"),
    ("ESC in a value", b"GET / HTTP/1.1\r\n" + H + b"X: \x1b[1m\r\n\r\n", "H1_E_BAD_HEADER_VALUE"),
    ("space in a field name", b"GET / HTTP/1.1\r\n" + H + b"X Y: a\r\n\r\n", "H1_E_WS_BEFORE_COLON"),
    ("tab before colon", b"GET / HTTP/1.1\r\n" + H + b"X\t: a\r\n\r\n", "H1_E_WS_BEFORE_COLON"),
    ("quote in a field name", b"GET / HTTP/1.1\r\n" + H + b"X\"Y: a\r\n\r\n", "H1_E_BAD_HEADER_NAME"),
    ("empty field name", b"GET / HTTP/1.1\r\n" + H + b": a\r\n\r\n", "H1_E_BAD_HEADER_NAME"),
    ("field line without colon", b"GET / HTTP/1.1\r\n" + H + b"Xy\r\n\r\n", "H1_E_NO_COLON"),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n  b\r\n\r\n", "H1_E_OBS_FOLD"),
    ("whitespace after the request line", b"GET / HTTP/1.1\r\n " + H + b"\r\n", "H1_E_OBS_FOLD"),
    ("double Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "H1_E_HOST_DUPLICATE"),
    ("double Host, equal", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "H1_E_HOST_DUPLICATE"),
    ("no Host in HTTP/1.1", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", "H1_E_HOST_MISSING"),
    ("Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "H1_E_BAD_HOST"),
    ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@evil\r\n\r\n", "H1_E_BAD_HOST"),
    ("lowercase version", b"GET / http/1.1\r\n" + H + b"\r\n", "H1_E_BAD_VERSION"),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\n" + H + b"\r\n", "H1_E_VERSION_UNSUPPORTED"),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", "H1_E_VERSION_UNSUPPORTED"),
    ("HTTP/0.9", b"GET /\r\n\r\n", "H1_E_BAD_REQUEST_LINE"),
    ("two spaces in the request line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_REQUEST_LINE"),
    ("space before the method", b" GET / HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_REQUEST_LINE"),
    ("space in the target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_REQUEST_LINE"),
    ("fragment in the target", b"GET /a#b HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_TARGET"),
    ("non-ASCII target", b"GET /\xff HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_TARGET"),
    ("relative target", b"GET a/b HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_TARGET"),
    ("asterisk target for GET", b"GET * HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_TARGET"),
    ("CONNECT without a port", b"CONNECT x HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_TARGET"),
    ("method with a slash", b"G/T / HTTP/1.1\r\n" + H + b"\r\n", "H1_E_BAD_METHOD"),
    ("chunk size not hex", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
     "H1_E_BAD_CHUNK_SIZE"),
    ("chunk size 0x5", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
     "H1_E_BAD_CHUNK_SIZE"),
    ("chunk size overflow", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"10000000000000000\r\nx\r\n0\r\n\r\n", "H1_E_CHUNK_SIZE_OVERFLOW"),
    ("chunk size then space", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
     "H1_E_BAD_CHUNK_EXT"),
    ("chunk extension with LF", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5;a\nb\r\nhello\r\n0\r\n\r\n", "H1_E_BARE_LF"),
    ("chunk extension with NUL", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5;a\x00\r\nhello\r\n0\r\n\r\n", "H1_E_BAD_CHUNK_EXT"),
    ("chunk data longer than its size", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"3\r\nhello\r\n0\r\n\r\n", "H1_E_CHUNK_DATA_NO_CRLF"),
    ("chunk data ended by LF", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\n0\r\n\r\n", "H1_E_CHUNK_DATA_NO_CRLF"),
    ("chunk size ended by LF", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5\nhello\r\n0\r\n\r\n", "H1_E_BARE_LF"),
    ("folded trailer", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n c\r\n\r\n",
     "H1_E_OBS_FOLD"),
    ("CONNECT with a body", b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\nContent-Length: 5\r\n\r\nhello",
     "H1_E_CONNECT_BODY"),
    ("request after Connection: close", b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"
     b"GET /2 HTTP/1.1\r\n" + H + b"\r\n", "H1_E_DATA_AFTER_CLOSE"),
    ("field line of 9000 bytes", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"v" * 9000 + b"\r\n\r\n",
     "H1_E_HEADER_LINE_TOO_LONG"),
    ("101 fields", b"GET / HTTP/1.1\r\n" + H + b"X: y\r\n" * 100 + b"\r\n", "H1_E_TOO_MANY_HEADERS"),
    ("request line of 9000 bytes", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n",
     "H1_E_REQUEST_LINE_TOO_LONG"),
]

# Vectors that are about strictness rather than smuggling (target form, Host
# syntax, versions, limits): no peer has to agree with us on these. Every
# other vector must be rejected by at least one peer.
STRICTNESS_ONLY = {
    "TE in HTTP/1.0", "Host with a space", "Host with userinfo", "HTTP/2.0", "fragment in the target",
    "asterisk target for GET", "CONNECT without a port", "CONNECT with a body",
    "field line of 9000 bytes", "101 fields", "request line of 9000 bytes",
}

# Vectors a peer accepts although we reject them: (case, peer) -> why we are stricter.
STRICTER_THAN_PEER = {
    # RFC 9110 §8.6 lets a recipient accept a list of equal values; we refuse
    # every repetition so there is one rule and no merging code to get wrong.
    ("CL: 5, 5", "h11"): "equal Content-Length values merged by h11",
    ("CL twice, equal", "h11"): "equal Content-Length values merged by h11",
    # RFC 9112 §3.2: exactly one Host. Peers keep the first or the list and
    # leave the choice to the application; a router must not guess.
    ("double Host", "node"): "Node keeps the first Host",
    ("double Host, equal", "node"): "Node keeps the first Host",
    ("Host with a space", "h11"): "h11 does not validate the Host value",
    ("Host with a space", "node"): "Node does not validate the Host value",
    ("Host with userinfo", "h11"): "h11 does not validate the Host value",
    ("Host with userinfo", "node"): "Node does not validate the Host value",
    # We decode no coding but chunked, so anything before it is 501 (RFC 9112
    # §6.1); the peers hand the coded body to the application.
    ("TE: gzip, chunked", "node"): "llhttp accepts any codings before chunked",
    ("TE: ,chunked", "node"): "llhttp skips empty list elements (RFC 9110 §5.6.1 allows it)",
    # RFC 9112 §6.1 says HTTP/1.0 + Transfer-Encoding is faulty framing; the
    # peers decode it as chunked anyway.
    ("TE in HTTP/1.0", "node"): "llhttp decodes chunked in HTTP/1.0",
    ("TE in HTTP/1.0", "h11"): "h11 decodes chunked in HTTP/1.0",
    # Target syntax: peers leave it to the application; a router must not see
    # fragments, bytes above 0x7f or a relative path.
    ("fragment in the target", "node"): "llhttp passes fragments to the application",
    ("fragment in the target", "h11"): "h11 accepts any VCHAR target",
    ("relative target", "h11"): "h11 does not check the target form",
    ("asterisk target for GET", "node"): "llhttp does not check the target form",
    ("asterisk target for GET", "h11"): "h11 does not check the target form",
    ("CONNECT without a port", "h11"): "h11 does not check the CONNECT target",
    ("HTTP/1.2", "h11"): "h11 accepts any HTTP/1.x",
    # Chunk extensions: we accept any visible bytes in them but not the
    # whitespace-only "BWS" that no sender produces.
    ("chunk size then space", "h11"): "h11 allows spaces after the chunk size",
    ("chunk extension with NUL", "h11"): "h11 skips extensions without looking",
    # RFC 9112 §6.1 (2022) says a server MAY reject CL+TE and ought to treat it
    # as an error; h11 follows RFC 7230 (TE wins). Node rejects it.
    ("TE.CL", "h11"): "h11 lets Transfer-Encoding override Content-Length",
    # obs-fold: RFC 9112 §5.2 lets a recipient replace it with SP; a proxy
    # whose next hop might not is safer rejecting it. Node rejects it.
    ("TE folded", "h11"): "h11 unfolds obs-fold",
    ("obs-fold", "h11"): "h11 unfolds obs-fold",
    ("folded trailer", "h11"): "h11 unfolds obs-fold in trailers",
    # Bare LF: RFC 9112 §2.2 lets a recipient accept it; we do not, since a
    # peer that does not would see one line where we see two. Node rejects.
    ("bare LF ends a field", "h11"): "h11 accepts LF as a line end",
    ("bare LF ends the request line", "h11"): "h11 accepts LF as a line end",
    ("bare LF ends the head", "h11"): "h11 accepts LF as a line end",
    # CTLs in values: RFC 9110 §5.5 lets a recipient keep them; terminals and
    # log pipelines downstream are safer without them. Node rejects them.
    ("DEL in a value", "h11"): "h11 allows DEL in values",
    ("ESC in a value", "h11"): "h11 allows CTLs other than NUL/CR/LF in values",
    # Request-line shape: llhttp is lenient about it; h11 rejects both.
    ("HTTP/0.9", "node"): "llhttp accepts an HTTP/0.9 simple request",
    ("two spaces in the request line", "node"): "llhttp skips repeated spaces",
    # Versions: we speak 1.0 and 1.1 and answer 505 to the rest.
    ("HTTP/2.0", "h11"): "h11 accepts any HTTP/d.d",
    ("HTTP/2.0", "node"): "llhttp accepts any HTTP/d.d",
    ("CONNECT without a port", "node"): "llhttp does not check the CONNECT target",
    # Our limits are per line (8 KiB) and count (100); the peers have one
    # byte limit for the whole head (Node 16 KiB, h11 16 KiB incomplete event).
    ("field line of 9000 bytes", "node"): "Node's limit is 16 KiB for the whole head",
    ("field line of 9000 bytes", "h11"): "h11's limit is 16 KiB for the whole head",
    ("request line of 9000 bytes", "node"): "Node's limit is 16 KiB for the whole head",
    ("request line of 9000 bytes", "h11"): "h11's limit is 16 KiB for the whole head",
    ("101 fields", "node"): "Node has no field count limit (maxHeadersCount truncates)",
    ("101 fields", "h11"): "h11 has no field count limit",
    ("CONNECT with a body", "h11"): "h11 reads a CONNECT request's Content-Length body",
    ("CONNECT with a body", "node"): "llhttp reads a CONNECT request's Content-Length body",
}

# Valid messages a peer refuses or reads differently: (case, peer) -> why.
PEER_DIFFERS_ON_VALID = {
    ("empty line before a request", "h11"): "h11 does not skip CRLF before a request (RFC 9112 §2.2 SHOULD)",
}

VALID_RESPONSES = [
    ("100-continue then 200", "POST", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ("HEAD with Content-Length", "HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    ("204", "GET", b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n"),
    ("304 with Content-Length", "GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"),
    ("chunked with trailers", "GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"),
    ("until close", "GET", b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of\r\nit"),
    ("empty reason", "GET", b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"),
]

# (name, request method, bytes, our error code)
RESPONSE_VECTORS = [
    ("CL and TE", "GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "H1_E_CL_AND_TE"),
    ("CL twice, different", "GET", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     "H1_E_MULTIPLE_CONTENT_LENGTH"),
    ("status of two digits", "GET", b"HTTP/1.1 20 OK\r\n\r\n", "H1_E_BAD_STATUS_LINE"),
    ("status with letters", "GET", b"HTTP/1.1 2x0 OK\r\n\r\n", "H1_E_BAD_STATUS_LINE"),
    ("bare LF", "GET", b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "H1_E_BARE_LF"),
    ("obs-fold", "GET", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", "H1_E_OBS_FOLD"),
    ("NUL in a value", "GET", b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
     "H1_E_BAD_HEADER_VALUE"),
    ("CL: +1", "GET", b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na", "H1_E_BAD_CONTENT_LENGTH"),
]

RESPONSE_STRICTER_THAN_PEER = {
    ("bare LF", "h11"): "h11 accepts LF as a line end",
    ("obs-fold", "h11"): "h11 unfolds obs-fold",
    ("CL and TE", "h11"): "h11 lets Transfer-Encoding win (RFC 9112 §6.3 rule 3); a proxy must not forward it",
}

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} - {name}" + (f" # {detail}" if detail and not ok else ""))


def note(name, detail):
    print(f"ok - {name} # {detail}")
    results.append(True)


# ---- our parser ----

def build_cli(tmp):
    exe = os.path.join(tmp, "h1_parse_cli")
    subprocess.run(["gcc", "-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", "-I", ROOT,
                    os.path.join(H1, "h1_parse_cli.c"), os.path.join(ROOT, "proxy", "h1_parser.c"),
                    "-o", exe], check=True)
    return exe


def ours(exe, data, kind="request", methods=""):
    args = [exe, kind] + ([methods] if methods else [])
    r = subprocess.run(args, input=data, capture_output=True, check=True)
    out = json.loads(r.stdout.decode("ascii"))
    msgs = [m for m in out["messages"] if not m.get("incomplete")]
    norm = [normal(m.get("method", m.get("status")), m.get("target"), m["headers"], m["body"],
                   m.get("trailers", [])) for m in msgs]
    return {"messages": norm, "error": out["error"]["code"] if out["error"] else None,
            "tunnel": out["tunnel"]}


def normal(method, target, headers, body, trailers):
    def low(h):  # h11 lowercases Transfer-Encoding's value: compare it so
        return [(n.lower(), v.lower() if n.lower() == "transfer-encoding" else v) for n, v in h]
    return {"method": method, "target": target, "headers": low(headers), "body": body,
            "trailers": low(trailers)}


def s(b):
    return b.decode("latin-1") if isinstance(b, (bytes, bytearray)) else b


# ---- h11 ----

def h11_request(data):
    conn = h11.Connection(h11.SERVER)
    msgs, cur, error, tunnel = [], None, None, False
    eof = False
    try:
        conn.receive_data(data)
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA and not eof:
                conn.receive_data(b"")  # the stream ends here
                eof = True
                continue
            if ev is h11.NEED_DATA or isinstance(ev, h11.ConnectionClosed):
                if cur is not None:
                    error = "truncated"
                break
            if ev is h11.PAUSED:
                if conn.their_state is h11.MIGHT_SWITCH_PROTOCOL:
                    tunnel = True
                    if cur is not None:
                        msgs.append(cur)
                break
            if isinstance(ev, h11.Request):
                cur = normal(s(ev.method), s(ev.target), [(s(n), s(v)) for n, v in ev.headers], "", [])
            elif isinstance(ev, h11.Data):
                cur["body"] += s(ev.data)
            elif isinstance(ev, h11.EndOfMessage):
                cur["trailers"] = [(s(n), s(v)) for n, v in ev.headers]
                msgs.append(cur)
                cur = None
                if conn.their_state is h11.MIGHT_SWITCH_PROTOCOL:
                    tunnel = True  # Upgrade or CONNECT: what follows is not HTTP
                    break
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.their_state is h11.DONE and conn.our_state is h11.DONE:
                    conn.start_next_cycle()  # else MUST_CLOSE: more bytes are an error
    except h11.RemoteProtocolError as e:
        error = str(e) or "RemoteProtocolError"
    return {"messages": msgs, "error": error, "tunnel": tunnel}


def h11_response(data, method):
    conn = h11.Connection(h11.CLIENT)
    target = "x:443" if method == "CONNECT" else "/"
    conn.send(h11.Request(method=method, target=target, headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    msgs, cur, error = [], None, None
    eof = False
    try:
        conn.receive_data(data)
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA and not eof:
                conn.receive_data(b"")
                eof = True
                continue
            if ev in (h11.NEED_DATA, h11.PAUSED) or isinstance(ev, h11.ConnectionClosed):
                if cur is not None and ev is not h11.PAUSED:
                    error = "truncated"
                break
            if isinstance(ev, (h11.InformationalResponse, h11.Response)):
                cur = normal(ev.status_code, None, [(s(n), s(v)) for n, v in ev.headers], "", [])
                if isinstance(ev, h11.InformationalResponse):
                    msgs.append(cur)
                    cur = None
            elif isinstance(ev, h11.Data):
                cur["body"] += s(ev.data)
            elif isinstance(ev, h11.EndOfMessage):
                cur["trailers"] = [(s(n), s(v)) for n, v in ev.headers]
                msgs.append(cur)
                cur = None
    except h11.RemoteProtocolError as e:
        error = str(e) or "RemoteProtocolError"
    return {"messages": msgs, "error": error, "tunnel": False}


# ---- Node ----

def node_requests(cases):
    payload = json.dumps([{"name": n, "data": base64.b64encode(d).decode()} for n, d in cases])
    r = subprocess.run(["node", os.path.join(H1, "node_peer.js")], input=payload.encode(),
                       capture_output=True, check=True, timeout=300)
    raw = json.loads(r.stdout)
    out = {}
    for name, v in raw.items():
        msgs = [normal(m["method"], m["target"], m["headers"], m["body"], m["trailers"])
                for m in v["messages"] if m["complete"]]
        error = v["error"]
        if error == "HPE_INVALID_EOF_STATE":
            error = "truncated"
        elif not error and any(st >= 400 for st in v["statuses"]):
            error = f"answered {max(v['statuses'])}"  # e.g. missing Host
        elif not error and any(not m["complete"] for m in v["messages"]):
            error = "truncated"
        out[name] = {"messages": msgs, "error": error, "tunnel": bool(v["tunnel"])}
    return out


# ---- comparisons ----

def rejected(r):
    """A peer rejects when it raised a parse error; running out of bytes
    (the message was read with another framing) is not a rejection."""
    return r["error"] is not None and r["error"] != "truncated"


def same(a, b):
    return a["messages"] == b["messages"] and a["tunnel"] == b["tunnel"]


def main():
    with tempfile.TemporaryDirectory(prefix="skiff-h1-diff-") as tmp:
        return compare(build_cli(tmp))


def compare(exe):
    node = node_requests([(n, d) for n, d in VALID_REQUESTS] + [(n, d) for n, d, _ in REQUEST_VECTORS])
    stricter = []

    for name, data in VALID_REQUESTS:
        me = ours(exe, data)
        check(f"valid request accepted by skiff: {name}", me["error"] is None and me["messages"], str(me))
        for peer, r in (("h11", h11_request(data)), ("node", node[name])):
            if (name, peer) in PEER_DIFFERS_ON_VALID:
                differs = not same(me, r) or r["error"] is not None
                check(f"valid request, {peer} differs (listed): {name}", differs,
                      "listed, but now agrees: drop it from PEER_DIFFERS_ON_VALID")
                if differs:
                    print(f"# {PEER_DIFFERS_ON_VALID[(name, peer)]}")
                continue
            check(f"valid request agrees with {peer}: {name}", r["error"] is None and same(me, r),
                  f"ours={me} {peer}={r}")

    for name, data, code in REQUEST_VECTORS:
        me = ours(exe, data)
        check(f"vector rejected by skiff with {code}: {name}", me["error"] == code, str(me["error"]))
        peers = {"h11": h11_request(data), "node": node[name]}
        if name not in STRICTNESS_ONLY:
            check(f"smuggling vector rejected by a peer too: {name}",
                  any(rejected(r) for r in peers.values()), str(peers))
        for peer, r in peers.items():
            listed = (name, peer) in STRICTER_THAN_PEER
            if rejected(r):
                check(f"vector: {peer} rejects too: {name}", True)
                if listed:  # keep the list exact: a peer that got stricter is news
                    check(f"vector: ({name}, {peer}) is listed but {peer} rejects it", False)
            elif listed:
                stricter.append((name, peer, STRICTER_THAN_PEER[(name, peer)]))
                note(f"vector: stricter than {peer}: {name}", STRICTER_THAN_PEER[(name, peer)])
            else:
                check(f"vector: {peer} accepts what we reject, not listed: {name}", False,
                      f"{peer}={r}")

    for name, method, data in VALID_RESPONSES:
        me = ours(exe, data, "response", method)
        r = h11_response(data, method)
        ok = me["error"] is None and r["error"] is None and me["messages"] == r["messages"]
        check(f"valid response agrees with h11: {name}", ok, f"ours={me} h11={r}")

    for name, method, data, code in RESPONSE_VECTORS:
        me = ours(exe, data, "response", method)
        check(f"response vector rejected by skiff with {code}: {name}", me["error"] == code, str(me["error"]))
        r = h11_response(data, method)
        if rejected(r):
            check(f"response vector: h11 rejects too: {name}", True)
        elif (name, "h11") in RESPONSE_STRICTER_THAN_PEER:
            stricter.append((name, "h11", RESPONSE_STRICTER_THAN_PEER[(name, "h11")]))
            note(f"response vector: stricter than h11: {name}", RESPONSE_STRICTER_THAN_PEER[(name, "h11")])
        else:
            check(f"response vector: h11 accepts what we reject, not listed: {name}", False, str(r))

    passed = sum(1 for x in results if x)
    failed = len(results) - passed
    print(f"# stricter than a peer: {len(stricter)} (case, peer) pairs")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
