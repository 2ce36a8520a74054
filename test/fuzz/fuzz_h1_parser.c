/* libFuzzer target for the HTTP/1.1 parser (proxy/h1_parser.c). The input
 * is parsed as a request stream and as a response stream, each three ways:
 * whole, split in two at a point taken from the first byte, and in pieces of
 * 1..16 bytes; the callbacks (bodies joined) and the outcome must agree.
 * Every piece is a heap copy of exactly its length, so any read past the
 * input is an ASan report; every slice handed out must lie in the piece. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h1_parser.h"

struct trace {
	struct h1_parser p;
	const char *lo, *hi; /* the piece being parsed */
	uint64_t hash;
	bool in_body;
	unsigned responses;
};

static void mix(struct trace *t, const void *d, size_t n)
{
	const unsigned char *b = d;
	for (size_t i = 0; i < n; i++)
		t->hash = (t->hash ^ b[i]) * 0x100000001b3ull;
}

static void event(struct trace *t, char tag)
{
	t->in_body = false;
	mix(t, &tag, 1);
}

static void slice(struct trace *t, struct h1_slice s)
{
	if (s.len && (s.p < t->lo || s.p + s.len > t->hi))
		__builtin_trap();
	mix(t, &s.len, sizeof(s.len));
	mix(t, s.p, s.len);
}

static int on_begin(void *u)
{
	struct trace *t = u;
	/* a response answers HEAD, CONNECT or GET, chosen by position */
	static const enum h1_method m[] = {H1_METHOD_GET, H1_METHOD_HEAD, H1_METHOD_CONNECT,
					   H1_METHOD_POST};
	h1_parser_set_request_method(&t->p, m[t->responses++ % 4]);
	event(t, 'b');
	return 0;
}

static int on_request_line(void *u, const struct h1_request_line *rl)
{
	struct trace *t = u;
	event(t, 'r');
	slice(t, rl->method);
	slice(t, rl->target);
	mix(t, &rl->version_minor, 1);
	mix(t, &rl->form, sizeof(rl->form));
	return 0;
}

static int on_status_line(void *u, const struct h1_status_line *sl)
{
	struct trace *t = u;
	event(t, 's');
	if (sl->status < 100 || sl->status > 599)
		__builtin_trap();
	mix(t, &sl->status, sizeof(sl->status));
	slice(t, sl->reason);
	return 0;
}

static int field(void *u, char tag, struct h1_slice n, struct h1_slice v)
{
	struct trace *t = u;
	event(t, tag);
	if (n.len == 0)
		__builtin_trap();
	slice(t, n);
	slice(t, v);
	return 0;
}

static int on_header(void *u, struct h1_slice n, struct h1_slice v)
{
	return field(u, 'h', n, v);
}

static int on_trailer(void *u, struct h1_slice n, struct h1_slice v)
{
	return field(u, 't', n, v);
}

static int on_headers_complete(void *u, const struct h1_head *h)
{
	struct trace *t = u;
	event(t, 'H');
	uint64_t facts[] = {h->framing, h->content_length, h->keep_alive,     h->interim,
			    h->upgrade, h->tunnel,         h->expect_continue};
	mix(t, facts, sizeof(facts));
	if (h->framing == H1_FRAMING_LENGTH && h->content_length == 0)
		__builtin_trap();
	return 0;
}

static int on_body(void *u, const char *d, size_t n)
{
	struct trace *t = u;
	if (n == 0 || d < t->lo || d + n > t->hi)
		__builtin_trap();
	if (!t->in_body)
		event(t, 'B');
	t->in_body = true; /* body slices are joined: their cut is not part of the trace */
	mix(t, d, n);
	return 0;
}

static int on_complete(void *u)
{
	event(u, 'C');
	return 0;
}

static const struct h1_callbacks cb = {
    .on_message_begin = on_begin,
    .on_request_line = on_request_line,
    .on_status_line = on_status_line,
    .on_header = on_header,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_trailer = on_trailer,
    .on_message_complete = on_complete,
};

/* Parses `data` cut at the offsets in cuts[0..ncuts) (increasing) and then
 * EOF; returns the trace hash mixed with the outcome. */
static uint64_t run(enum h1_kind kind, const uint8_t *data, size_t size, const size_t *cuts,
		    size_t ncuts)
{
	struct trace t = {.hash = 0xcbf29ce484222325ull};
	h1_parser_init(&t.p, kind, &cb, &t, NULL);
	size_t from = 0; /* first byte not consumed yet */
	int rc = H1_PARSE_OK;
	for (size_t c = 0; c <= ncuts; c++) {
		size_t to = c < ncuts ? cuts[c] : size;
		if (to < from)
			continue; /* still inside bytes kept from before */
		size_t n = to - from;
		char *piece = malloc(n ? n : 1);
		if (!piece)
			return 0;
		memcpy(piece, data + from, n);
		t.lo = piece;
		t.hi = piece + n;
		size_t used;
		rc = h1_parse(&t.p, piece, n, &used);
		free(piece);
		if (used > n)
			__builtin_trap();
		from += used;
		if (rc == H1_PARSE_TUNNEL || rc == H1_PARSE_ERROR)
			break;
		if (rc != H1_PARSE_OK)
			__builtin_trap(); /* nothing pauses here */
	}
	if (rc == H1_PARSE_OK)
		rc = h1_parse_eof(&t.p, size - from);
	enum h1_error e = h1_parser_error(&t.p);
	if ((rc == H1_PARSE_ERROR) != (e != H1_OK) || h1_error_status(e) < 0)
		__builtin_trap();
	if (e != H1_OK && strcmp(h1_error_name(e), "H1_E_UNKNOWN") == 0)
		__builtin_trap();
	uint64_t out[] = {(uint64_t)rc, e, rc == H1_PARSE_TUNNEL ? from : 0};
	mix(&t, out, sizeof(out));
	return t.hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t split = data[0] % (size + 1);
	size_t step = 1 + data[0] % 16;
	size_t *pieces = malloc(sizeof(size_t) * (size / step + 1));
	if (!pieces)
		return 0;
	size_t np = 0;
	for (size_t at = step; at < size; at += step)
		pieces[np++] = at;
	for (int kind = H1_REQUEST; kind <= H1_RESPONSE; kind++) {
		uint64_t whole = run(kind, data, size, NULL, 0);
		if (run(kind, data, size, &split, 1) != whole)
			__builtin_trap();
		if (run(kind, data, size, pieces, np) != whole)
			__builtin_trap();
	}
	free(pieces);
	return 0;
}
