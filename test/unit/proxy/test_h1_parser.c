/* Tests proxy/h1_parser.c: valid requests and responses give the same
 * callbacks whether fed whole or one byte at a time; every smuggling vector
 * and malformed message gets its own error code and status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h1_parser.h"

/* ---- a recorder: every callback appends one line to a log ---- */

struct rec {
	struct h1_parser *p;
	const enum h1_method *methods; /* response parsers: one per final response */
	size_t next_method;
	char log[1 << 20];
	size_t n;
	bool in_body;
	int pause_on_complete;
	int fail_on_header;
};

static void put(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	if (r->in_body) {
		r->in_body = false;
		put(r, "\n");
	}
	va_start(ap, fmt);
	int k = vsnprintf(r->log + r->n, sizeof(r->log) - r->n, fmt, ap);
	va_end(ap);
	assert_true(k >= 0 && (size_t)k < sizeof(r->log) - r->n);
	r->n += (size_t)k;
}

static int on_begin(void *u)
{
	struct rec *r = u;
	if (r->methods)
		h1_parser_set_request_method(r->p, r->methods[r->next_method]);
	put(r, "begin\n");
	return 0;
}

static int on_request_line(void *u, const struct h1_request_line *rl)
{
	put(u, "req %.*s %.*s 1.%d form=%d\n", (int)rl->method.len, rl->method.p,
	    (int)rl->target.len, rl->target.p, rl->version_minor, rl->form);
	return 0;
}

static int on_status_line(void *u, const struct h1_status_line *sl)
{
	put(u, "status 1.%d %d [%.*s]\n", sl->version_minor, sl->status, (int)sl->reason.len,
	    sl->reason.p);
	return 0;
}

static int on_header(void *u, struct h1_slice n, struct h1_slice v)
{
	struct rec *r = u;
	if (r->fail_on_header)
		return -1;
	put(r, "h %.*s=[%.*s]\n", (int)n.len, n.p, (int)v.len, v.p);
	return 0;
}

static int on_headers_complete(void *u, const struct h1_head *h)
{
	static const char *const framing[] = {"none", "length", "chunked", "close"};
	put(u, "head %s cl=%llu ka=%d%s%s%s%s\n", framing[h->framing],
	    (unsigned long long)h->content_length, h->keep_alive, h->interim ? " interim" : "",
	    h->upgrade ? " upgrade" : "", h->tunnel ? " tunnel" : "",
	    h->expect_continue ? " expect" : "");
	return 0;
}

static int on_body(void *u, const char *d, size_t len)
{
	struct rec *r = u;
	assert_true(len > 0);
	if (!r->in_body)
		put(r, "body ");
	assert_true(len < sizeof(r->log) - r->n);
	memcpy(r->log + r->n, d, len);
	r->n += len;
	r->log[r->n] = '\0';
	r->in_body = true;
	return 0;
}

static int on_trailer(void *u, struct h1_slice n, struct h1_slice v)
{
	put(u, "t %.*s=[%.*s]\n", (int)n.len, n.p, (int)v.len, v.p);
	return 0;
}

static int on_complete(void *u)
{
	struct rec *r = u;
	put(r, "complete\n");
	return r->pause_on_complete ? H1_PAUSE : 0;
}

/* Response parsers move to the next request's method after a final head. */
static int on_headers_complete_resp(void *u, const struct h1_head *h)
{
	struct rec *r = u;
	if (r->methods && !h->interim)
		r->next_method++;
	return on_headers_complete(u, h);
}

static const struct h1_callbacks req_cb = {
    .on_message_begin = on_begin,
    .on_request_line = on_request_line,
    .on_status_line = on_status_line,
    .on_header = on_header,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_trailer = on_trailer,
    .on_message_complete = on_complete,
};

static const struct h1_callbacks resp_cb = {
    .on_message_begin = on_begin,
    .on_request_line = on_request_line,
    .on_status_line = on_status_line,
    .on_header = on_header,
    .on_headers_complete = on_headers_complete_resp,
    .on_body = on_body,
    .on_trailer = on_trailer,
    .on_message_complete = on_complete,
};

/* Ends the log with how the stream ended: "tunnel [rest]", "error NAME",
 * "eof" (h1_parse_eof accepted) or "pending N". */
static void finish(struct rec *r, int rc, const char *rest, size_t rest_len, bool eof)
{
	if (rc == H1_PARSE_TUNNEL) {
		put(r, "tunnel [%.*s]\n", (int)rest_len, rest);
	} else if (rc == H1_PARSE_ERROR) {
		put(r, "error %s\n", h1_error_name(h1_parser_error(r->p)));
	} else if (eof) {
		if (h1_parse_eof(r->p, rest_len) == H1_PARSE_OK)
			put(r, "eof\n");
		else
			put(r, "error %s\n", h1_error_name(h1_parser_error(r->p)));
	} else {
		put(r, "pending %zu\n", rest_len);
	}
}

/* Feeds `in` in pieces of `step` bytes (0: whole), keeping what the parser
 * does not consume in front of the next piece as a real caller would. */
static void run(struct rec *r, enum h1_kind kind, const enum h1_method *methods, const char *in,
		size_t len, size_t step, bool eof)
{
	static struct h1_parser p;
	static char acc[1 << 17];
	assert_true(len < sizeof(acc));
	memset(r, 0, sizeof(*r));
	r->p = &p;
	r->methods = methods;
	h1_parser_init(&p, kind, kind == H1_REQUEST ? &req_cb : &resp_cb, r, NULL);
	size_t have = 0, fed = 0;
	int rc = H1_PARSE_OK;
	if (step == 0)
		step = len ? len : 1;
	while (fed < len) {
		size_t k = len - fed < step ? len - fed : step;
		memcpy(acc + have, in + fed, k);
		have += k;
		fed += k;
		size_t used;
		do {
			rc = h1_parse(&p, acc, have, &used);
			memmove(acc, acc + used, have - used);
			have -= used;
		} while (rc == H1_PARSE_PAUSED);
		if (rc == H1_PARSE_TUNNEL || rc == H1_PARSE_ERROR)
			break;
	}
	memcpy(acc + have, in + fed, len - fed);
	have += len - fed;
	finish(r, rc, acc, have, eof);
}

/* ---- valid messages ---- */

struct valid_case {
	const char *name;
	enum h1_kind kind;
	const char *in;
	const enum h1_method *methods;
	bool eof;
	const char *want;
};

static const enum h1_method GET3[] = {H1_METHOD_GET, H1_METHOD_GET, H1_METHOD_GET};
static const enum h1_method HEAD1[] = {H1_METHOD_HEAD};
static const enum h1_method CONNECT1[] = {H1_METHOD_CONNECT};
static const enum h1_method POST1[] = {H1_METHOD_POST};

static const struct valid_case valid[] = {
    {"pipelined keep-alive requests", H1_REQUEST,
     "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
     "POST /b?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
     "DELETE http://x/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
     NULL, true,
     "begin\nreq GET /a 1.1 form=0\nh Host=[x]\nhead none cl=0 ka=1\ncomplete\n"
     "begin\nreq POST /b?q=1 1.1 form=0\nh Host=[x]\nh Content-Length=[5]\n"
     "head length cl=5 ka=1\nbody hello\ncomplete\n"
     "begin\nreq DELETE http://x/c 1.1 form=1\nh Host=[x]\nh Connection=[close]\n"
     "head none cl=0 ka=0\ncomplete\neof\n"},
    {"chunked with extensions and trailers", H1_REQUEST,
     "PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
     "5;name=value\r\nhello\r\n"
     "6 ; a=\"q;uoted\" ;b\r\n world\r\n"
     "000\r\nX-Sum: 42\r\nX-More:  b \r\n\r\n",
     NULL, true,
     "begin\nreq PUT /up 1.1 form=0\nh Host=[x]\nh Transfer-Encoding=[chunked]\nh Trailer=[X-Sum]\n"
     "head chunked cl=0 ka=1\nbody hello world\nt X-Sum=[42]\nt X-More=[b]\ncomplete\neof\n"},
    {"empty lines before a request, OWS, obs-text, case", H1_REQUEST,
     "\r\n\r\nGET / HTTP/1.1\r\nhOsT:\t x.example:8080 \t\r\nX-A: caf\xc3\xa9 \"q\"\r\n"
     "TRANSFER-ENCODING: Chunked\r\n\r\n0\r\n\r\n",
     NULL, true,
     "begin\nreq GET / 1.1 form=0\nh hOsT=[x.example:8080]\nh X-A=[caf\xc3\xa9 \"q\"]\n"
     "h TRANSFER-ENCODING=[Chunked]\nhead chunked cl=0 ka=1\ncomplete\neof\n"},
    {"HTTP/1.0: close by default, keep-alive on request, no Host needed", H1_REQUEST,
     "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n", NULL, true,
     "begin\nreq GET / 1.0 form=0\nh Connection=[keep-alive]\nhead none cl=0 ka=1\ncomplete\n"
     "begin\nreq GET /2 1.0 form=0\nhead none cl=0 ka=0\ncomplete\neof\n"},
    {"OPTIONS * and Content-Length: 0", H1_REQUEST,
     "OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", NULL, true,
     "begin\nreq OPTIONS * 1.1 form=3\nh Host=[x]\nh Content-Length=[0]\n"
     "head none cl=0 ka=1\ncomplete\neof\n"},
    {"expect 100-continue", H1_REQUEST,
     "POST /u HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc", NULL,
     true,
     "begin\nreq POST /u 1.1 form=0\nh Host=[x]\nh Expect=[100-Continue]\nh Content-Length=[3]\n"
     "head length cl=3 ka=1 expect\nbody abc\ncomplete\neof\n"},
    {"websocket upgrade request", H1_REQUEST,
     "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n\x81\x05hello",
     NULL, false,
     "begin\nreq GET /ws 1.1 form=0\nh Host=[x]\nh Connection=[keep-alive, Upgrade]\n"
     "h Upgrade=[websocket]\nh Sec-WebSocket-Version=[13]\nhead none cl=0 ka=1 upgrade tunnel\n"
     "complete\ntunnel [\x81\x05hello]\n"},
    {"CONNECT", H1_REQUEST, "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n\x16\x03\x01",
     NULL, false,
     "begin\nreq CONNECT [::1]:443 1.1 form=2\nh Host=[[::1]:443]\nhead none cl=0 ka=1 tunnel\n"
     "complete\ntunnel [\x16\x03\x01]\n"},
    {"100-continue then 200", H1_RESPONSE,
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     POST1, true,
     "begin\nstatus 1.1 100 [Continue]\nhead none cl=0 ka=1 interim\ncomplete\n"
     "begin\nstatus 1.1 103 [Early Hints]\nh Link=[</s>]\nhead none cl=0 ka=1 interim\ncomplete\n"
     "begin\nstatus 1.1 200 [OK]\nh Content-Length=[2]\nhead length cl=2 ka=1\nbody ok\n"
     "complete\neof\n"},
    {"HEAD response has a length but no body", H1_RESPONSE,
     "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", HEAD1, true,
     "begin\nstatus 1.1 200 [OK]\nh Content-Length=[1000]\nhead none cl=1000 "
     "ka=1\ncomplete\neof\n"},
    {"204, 304 and a chunked 200, pipelined", H1_RESPONSE,
     "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
     "HTTP/1.1 200\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
     GET3, true,
     "begin\nstatus 1.1 204 [No Content]\nhead none cl=0 ka=1\ncomplete\n"
     "begin\nstatus 1.1 304 [Not Modified]\nh Content-Length=[7]\nhead none cl=7 ka=1\ncomplete\n"
     "begin\nstatus 1.1 200 []\nh Transfer-Encoding=[gzip, chunked]\nhead chunked cl=0 ka=1\n"
     "body abc\nt X-T=[1]\ncomplete\neof\n"},
    {"response until close", H1_RESPONSE, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of\r\nit", NULL,
     true,
     "begin\nstatus 1.0 200 [OK]\nh Server=[x]\nhead close cl=0 ka=0\nbody all of\r\nit\n"
     "complete\neof\n"},
    {"response: a final coding other than chunked reads until close", H1_RESPONSE,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", NULL, true,
     "begin\nstatus 1.1 200 [OK]\nh Transfer-Encoding=[gzip]\nhead close cl=0 ka=0\nbody zz\n"
     "complete\neof\n"},
    {"101 switching protocols", H1_RESPONSE,
     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
     "Upgrade\r\n\r\n\x82\x01",
     GET3, false,
     "begin\nstatus 1.1 101 [Switching Protocols]\nh Upgrade=[websocket]\nh Connection=[Upgrade]\n"
     "head none cl=0 ka=1 upgrade tunnel\ncomplete\ntunnel [\x82\x01]\n"},
    {"200 to CONNECT", H1_RESPONSE, "HTTP/1.1 200 Connection Established\r\n\r\nbytes", CONNECT1,
     false,
     "begin\nstatus 1.1 200 [Connection Established]\nhead none cl=0 ka=1 tunnel\ncomplete\n"
     "tunnel [bytes]\n"},
    {"407 to CONNECT has a body", H1_RESPONSE,
     "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 1\r\n\r\nx", CONNECT1, true,
     "begin\nstatus 1.1 407 [Proxy Auth]\nh Content-Length=[1]\nhead length cl=1 ka=1\nbody x\n"
     "complete\neof\n"},
};

static void test_valid_whole_and_bytewise(void **state)
{
	(void)state;
	static struct rec whole, bytes, odd;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		const struct valid_case *c = &valid[i];
		size_t len = strlen(c->in);
		run(&whole, c->kind, c->methods, c->in, len, 0, c->eof);
		if (strcmp(whole.log, c->want) != 0)
			fail_msg("%s:\n--- got\n%s--- want\n%s", c->name, whole.log, c->want);
		run(&bytes, c->kind, c->methods, c->in, len, 1, c->eof);
		if (strcmp(bytes.log, c->want) != 0)
			fail_msg("%s (byte by byte):\n--- got\n%s--- want\n%s", c->name, bytes.log,
				 c->want);
		run(&odd, c->kind, c->methods, c->in, len, 7, c->eof);
		if (strcmp(odd.log, c->want) != 0)
			fail_msg("%s (7 bytes at a time):\n%s", c->name, odd.log);
	}
}

/* ---- errors ---- */

struct error_case {
	const char *name;
	enum h1_kind kind;
	const char *in;
	size_t len;
	enum h1_error want;
	int status;
};

/* sizeof, not strlen: some vectors carry a NUL */
#define REQ(name, in, e, st)                                                                       \
	{                                                                                          \
		name, H1_REQUEST, in, sizeof(in) - 1, e, st                                        \
	}
#define RESP(name, in, e)                                                                          \
	{                                                                                          \
		name, H1_RESPONSE, in, sizeof(in) - 1, e, 0                                        \
	}
#define H "Host: x\r\n"

static const struct error_case errors[] = {
    /* smuggling: two framings (CL.TE / TE.CL) */
    REQ("CL.TE",
	"POST / HTTP/1.1\r\n" H "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
	H1_E_CL_AND_TE, 400),
    REQ("TE.CL",
	"POST / HTTP/1.1\r\n" H
	"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
	H1_E_CL_AND_TE, 400),
    REQ("TE.TE xchunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n",
	H1_E_BAD_TRANSFER_ENCODING, 400),
    REQ("TE.TE space before colon", "POST / HTTP/1.1\r\n" H "Transfer-Encoding : chunked\r\n\r\n",
	H1_E_WS_BEFORE_COLON, 400),
    REQ("TE.TE chunked, identity",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, identity\r\n\r\n",
	H1_E_BAD_TRANSFER_ENCODING, 400),
    REQ("TE.TE two fields",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
	H1_E_BAD_TRANSFER_ENCODING, 400),
    REQ("TE.TE chunked twice",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	H1_E_BAD_TRANSFER_ENCODING, 400),
    REQ("TE.TE vertical tab",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding:\x0b"
	"chunked\r\n\r\n",
	H1_E_BAD_HEADER_VALUE, 400),
    REQ("TE.TE form feed", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\x0c\r\n\r\n",
	H1_E_BAD_HEADER_VALUE, 400),
    REQ("TE.TE tab before name", "POST / HTTP/1.1\r\n" H "\tTransfer-Encoding: chunked\r\n\r\n",
	H1_E_OBS_FOLD, 400),
    REQ("TE.TE obs-fold", "POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n chunked\r\n\r\n",
	H1_E_OBS_FOLD, 400),
    REQ("TE.TE quoted", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: \"chunked\"\r\n\r\n",
	H1_E_BAD_TRANSFER_ENCODING, 400),
    REQ("TE.TE chunked with a parameter",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;q=1\r\n\r\n",
	H1_E_BAD_TRANSFER_ENCODING, 400),
    REQ("TE.TE empty element", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: ,chunked\r\n\r\n",
	H1_E_BAD_TRANSFER_ENCODING, 400),
    REQ("TE.TE underscore name",
	"POST / HTTP/1.1\r\n" H "Transfer_Encoding: chunked\r\nContent-Length: 1\r\n\r\nx", H1_OK,
	0), /* a different field: framing is by Content-Length */
    REQ("gzip, chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n",
	H1_E_TE_UNSUPPORTED, 501),
    REQ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	H1_E_TE_HTTP10, 400),
    /* Content-Length */
    REQ("CL +5", "POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\nhello", H1_E_BAD_CONTENT_LENGTH,
	400),
    REQ("CL -1", "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", H1_E_BAD_CONTENT_LENGTH,
	400),
    REQ("CL 5, 6", "POST / HTTP/1.1\r\n" H "Content-Length: 5, 6\r\n\r\nhello!",
	H1_E_MULTIPLE_CONTENT_LENGTH, 400),
    REQ("CL 5, 5", "POST / HTTP/1.1\r\n" H "Content-Length: 5, 5\r\n\r\nhello",
	H1_E_MULTIPLE_CONTENT_LENGTH, 400),
    REQ("CL twice", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
	H1_E_MULTIPLE_CONTENT_LENGTH, 400),
    REQ("CL space inside", "POST / HTTP/1.1\r\n" H "Content-Length: 1 0\r\n\r\n",
	H1_E_BAD_CONTENT_LENGTH, 400),
    REQ("CL hex", "POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", H1_E_BAD_CONTENT_LENGTH,
	400),
    REQ("CL empty", "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", H1_E_BAD_CONTENT_LENGTH,
	400),
    REQ("CL overflow", "POST / HTTP/1.1\r\n" H "Content-Length: 18446744073709551617\r\n\r\n",
	H1_E_BAD_CONTENT_LENGTH, 400),
    REQ("CL past INT64_MAX", "POST / HTTP/1.1\r\n" H "Content-Length: 9223372036854775808\r\n\r\n",
	H1_E_BAD_CONTENT_LENGTH, 400),
    REQ("CONNECT with a body",
	"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\nContent-Length: 5\r\n\r\nhello",
	H1_E_CONNECT_BODY, 400),
    /* line endings */
    REQ("bare CR in a field", "GET / HTTP/1.1\r\n" H "X: a\rb\r\n\r\n", H1_E_BARE_CR, 400),
    REQ("bare CR ends a field", "GET / HTTP/1.1\r\nX: a\r" H "\r\n", H1_E_BARE_CR, 400),
    REQ("bare LF ends a field", "GET / HTTP/1.1\r\n" H "X: a\n\r\n", H1_E_BARE_LF, 400),
    REQ("bare LF request line", "GET / HTTP/1.1\n" H "\r\n", H1_E_BARE_LF, 400),
    REQ("bare LF before a request", "\nGET / HTTP/1.1\r\n" H "\r\n", H1_E_BARE_LF, 400),
    REQ("bare CR before a request", "\r GET / HTTP/1.1\r\n" H "\r\n", H1_E_BARE_CR, 400),
    REQ("bare LF ends the head", "GET / HTTP/1.1\r\n" H "\n", H1_E_BARE_LF, 400),
    /* field names and values */
    REQ("NUL in a value", "GET / HTTP/1.1\r\n" H "X: a\0b\r\n\r\n", H1_E_BAD_HEADER_VALUE, 400),
    REQ("DEL in a value", "GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n", H1_E_BAD_HEADER_VALUE, 400),
    REQ("ESC in a value", "GET / HTTP/1.1\r\n" H "X: \x1b[1m\r\n\r\n", H1_E_BAD_HEADER_VALUE, 400),
    REQ("space in a name", "GET / HTTP/1.1\r\n" H "X Y: a\r\n\r\n", H1_E_WS_BEFORE_COLON, 400),
    REQ("tab before colon", "GET / HTTP/1.1\r\n" H "X\t: a\r\n\r\n", H1_E_WS_BEFORE_COLON, 400),
    REQ("quote in a name", "GET / HTTP/1.1\r\n" H "X\"Y: a\r\n\r\n", H1_E_BAD_HEADER_NAME, 400),
    REQ("non-ASCII name", "GET / HTTP/1.1\r\n" H "X\xc3\xa9: a\r\n\r\n", H1_E_BAD_HEADER_NAME, 400),
    REQ("empty name", "GET / HTTP/1.1\r\n" H ": a\r\n\r\n", H1_E_BAD_HEADER_NAME, 400),
    REQ("no colon", "GET / HTTP/1.1\r\n" H "Xy\r\n\r\n", H1_E_NO_COLON, 400),
    REQ("obs-fold", "GET / HTTP/1.1\r\n" H "X: a\r\n  b\r\n\r\n", H1_E_OBS_FOLD, 400),
    REQ("space after the request line", "GET / HTTP/1.1\r\n " H "\r\n", H1_E_OBS_FOLD, 400),
    /* Host */
    REQ("double Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", H1_E_HOST_DUPLICATE, 400),
    REQ("double Host, same value", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
	H1_E_HOST_DUPLICATE, 400),
    REQ("no Host in 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", H1_E_HOST_MISSING, 400),
    REQ("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", H1_E_BAD_HOST, 400),
    REQ("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@evil\r\n\r\n", H1_E_BAD_HOST, 400),
    REQ("Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", H1_E_BAD_HOST, 400),
    /* request line */
    REQ("lowercase version", "GET / http/1.1\r\n" H "\r\n", H1_E_BAD_VERSION, 400),
    REQ("version 1.2", "GET / HTTP/1.2\r\n" H "\r\n", H1_E_VERSION_UNSUPPORTED, 505),
    REQ("version 2.0", "GET / HTTP/2.0\r\n" H "\r\n", H1_E_VERSION_UNSUPPORTED, 505),
    REQ("version 1.10", "GET / HTTP/1.10\r\n" H "\r\n", H1_E_BAD_VERSION, 400),
    REQ("HTTP/0.9", "GET /\r\n\r\n", H1_E_BAD_REQUEST_LINE, 400),
    REQ("two spaces", "GET  / HTTP/1.1\r\n" H "\r\n", H1_E_BAD_REQUEST_LINE, 400),
    REQ("leading space", " GET / HTTP/1.1\r\n" H "\r\n", H1_E_BAD_REQUEST_LINE, 400),
    REQ("trailing space", "GET / HTTP/1.1 \r\n" H "\r\n", H1_E_BAD_REQUEST_LINE, 400),
    REQ("space in target", "GET /a b HTTP/1.1\r\n" H "\r\n", H1_E_BAD_REQUEST_LINE, 400),
    REQ("tab separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", H1_E_BAD_METHOD, 400),
    REQ("method with a slash", "G/T / HTTP/1.1\r\n" H "\r\n", H1_E_BAD_METHOD, 400),
    REQ("fragment in target", "GET /a#b HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("NUL in target", "GET /a\0 HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("non-ASCII target", "GET /\xff HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("relative target", "GET a/b HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("asterisk for GET", "GET * HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("CONNECT without port", "CONNECT x HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("CONNECT with a path", "CONNECT /x:443 HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("CONNECT port too big", "CONNECT x:65536 HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET, 400),
    REQ("absolute-form without authority", "GET http:///x HTTP/1.1\r\n" H "\r\n", H1_E_BAD_TARGET,
	400),
    /* chunked bodies */
    REQ("chunk size not hex", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
	H1_E_BAD_CHUNK_SIZE, 400),
    REQ("chunk size 0x",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n",
	H1_E_BAD_CHUNK_SIZE, 400),
    REQ("chunk size negative", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n-1\r\n",
	H1_E_BAD_CHUNK_SIZE, 400),
    REQ("chunk size empty", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n\r\n",
	H1_E_BAD_CHUNK_SIZE, 400),
    REQ("chunk size overflow",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
	H1_E_CHUNK_SIZE_OVERFLOW, 400),
    REQ("chunk size past INT64_MAX",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\n",
	H1_E_CHUNK_SIZE_OVERFLOW, 400),
    REQ("chunk size, 17 zeros",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\n",
	H1_E_CHUNK_SIZE_OVERFLOW, 400),
    REQ("chunk size bare LF",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n", H1_E_BARE_LF,
	400),
    REQ("chunk size line bare CR",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n", H1_E_BARE_CR,
	400),
    REQ("chunk size, space, no extension",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n",
	H1_E_BAD_CHUNK_EXT, 400),
    REQ("chunk extension with LF",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n",
	H1_E_BARE_LF, 400),
    REQ("chunk extension with NUL",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a\0\r\nhello\r\n",
	H1_E_BAD_CHUNK_EXT, 400),
    REQ("chunk data too long",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
	H1_E_CHUNK_DATA_NO_CRLF, 400),
    REQ("chunk data LF only",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
	H1_E_CHUNK_DATA_NO_CRLF, 400),
    REQ("chunk data CR only",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n",
	H1_E_CHUNK_DATA_NO_CRLF, 400),
    REQ("trailer obs-fold",
	"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n c\r\n\r\n",
	H1_E_OBS_FOLD, 400),
    REQ("trailer bare LF", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n\n",
	H1_E_BARE_LF, 400),
    /* the connection */
    REQ("data after Connection: close",
	"GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\nGET / HTTP/1.1\r\n", H1_E_DATA_AFTER_CLOSE,
	400),
    /* responses */
    RESP("response CL and TE",
	 "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	 H1_E_CL_AND_TE),
    RESP("response status 2 digits", "HTTP/1.1 20 OK\r\n\r\n", H1_E_BAD_STATUS_LINE),
    RESP("response status 600", "HTTP/1.1 600 X\r\n\r\n", H1_E_BAD_STATUS_LINE),
    RESP("response status letters", "HTTP/1.1 2x0 OK\r\n\r\n", H1_E_BAD_STATUS_LINE),
    RESP("response status, no space before reason", "HTTP/1.1 200OK\r\n\r\n", H1_E_BAD_STATUS_LINE),
    RESP("response reason with NUL", "HTTP/1.1 200 O\0K\r\n\r\n", H1_E_BAD_STATUS_LINE),
    RESP("response no status", "HTTP/1.1\r\n\r\n", H1_E_BAD_STATUS_LINE),
    RESP("response version", "HTTP/1.1x 200 OK\r\n\r\n", H1_E_BAD_VERSION),
    RESP("response ICY", "ICY 200 OK\r\n\r\n", H1_E_BAD_VERSION),
    RESP("response 2.0", "HTTP/2.0 200 OK\r\n\r\n", H1_E_VERSION_UNSUPPORTED),
    RESP("response leading CRLF", "\r\nHTTP/1.1 200 OK\r\n\r\n", H1_E_BAD_VERSION),
    RESP("response CL twice", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
	 H1_E_MULTIPLE_CONTENT_LENGTH),
    RESP("response TE chunked twice",
	 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	 H1_E_BAD_TRANSFER_ENCODING),
    RESP("response truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
	 H1_E_TRUNCATED),
    RESP("response truncated head", "HTTP/1.1 200 OK\r\nContent-Le", H1_E_TRUNCATED),
    RESP("response truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	 H1_E_TRUNCATED),
};

/* Runs a message to its end (with EOF) and returns the final error. */
static enum h1_error error_of(const struct error_case *c, size_t step, struct rec *r)
{
	run(r, c->kind, NULL, c->in, c->len, step, true);
	return h1_parser_error(r->p);
}

static void test_errors_whole_and_bytewise(void **state)
{
	(void)state;
	static struct rec r;
	bool seen[H1_E__COUNT] = {false};
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		const struct error_case *c = &errors[i];
		for (size_t step = 0; step <= 1; step++) {
			enum h1_error e = error_of(c, step, &r);
			if (e != c->want)
				fail_msg("%s (step %zu): got %s, want %s\n%s", c->name, step,
					 h1_error_name(e), h1_error_name(c->want), r.log);
		}
		if (c->kind == H1_REQUEST && h1_error_status(c->want) != c->status)
			fail_msg("%s: status %d, want %d", c->name, h1_error_status(c->want),
				 c->status);
		seen[c->want] = true;
	}
	/* every code but these has a vector above; these have tests of their own */
	seen[H1_OK] = seen[H1_E_CALLBACK] = seen[H1_E_REQUEST_LINE_TOO_LONG] = true;
	seen[H1_E_HEADER_LINE_TOO_LONG] = seen[H1_E_HEADERS_TOO_LARGE] = true;
	seen[H1_E_TOO_MANY_HEADERS] = seen[H1_E_CHUNK_EXT_TOO_LONG] = true;
	for (int e = 0; e < H1_E__COUNT; e++)
		if (!seen[e])
			fail_msg("no test for %s", h1_error_name((enum h1_error)e));
}

/* Smuggled bytes never surface as a message: the error comes before the
 * request that carries them completes. */
static void test_smuggled_request_never_completes(void **state)
{
	(void)state;
	static struct rec r;
	const char *in =
	    "POST / HTTP/1.1\r\n" H "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n";
	run(&r, H1_REQUEST, NULL, in, strlen(in), 1, true);
	assert_null(strstr(r.log, "head "));
	assert_null(strstr(r.log, "complete"));
	assert_non_null(strstr(r.log, "error H1_E_CL_AND_TE"));
}

/* ---- limits ---- */

static char big[200000];

static const char *repeat(const char *head, char c, size_t n, const char *tail)
{
	size_t h = strlen(head);
	memcpy(big, head, h);
	memset(big + h, c, n);
	strcpy(big + h + n, tail);
	return big;
}

static enum h1_error parse_all(const char *in, size_t step)
{
	static struct rec r;
	run(&r, H1_REQUEST, NULL, in, strlen(in), step, false);
	return h1_parser_error(r.p);
}

static void test_limits(void **state)
{
	(void)state;
	/* request line: 8192 bytes pass, 8193 are 414 */
	const char *ok = repeat("GET /", 'a', 8192 - 14, " HTTP/1.1\r\n" H "\r\n");
	assert_int_equal(parse_all(ok, 0), H1_OK);
	const char *longer = repeat("GET /", 'a', 8193 - 14, " HTTP/1.1\r\n" H "\r\n");
	assert_int_equal(parse_all(longer, 0), H1_E_REQUEST_LINE_TOO_LONG);
	assert_int_equal(parse_all(longer, 1000), H1_E_REQUEST_LINE_TOO_LONG);
	assert_int_equal(h1_error_status(H1_E_REQUEST_LINE_TOO_LONG), 414);
	/* a field line: 8192 pass, 8193 are 431 */
	assert_int_equal(
	    parse_all(repeat("GET / HTTP/1.1\r\n" H "X: ", 'v', 8192 - 3, "\r\n\r\n"), 0), H1_OK);
	assert_int_equal(
	    parse_all(repeat("GET / HTTP/1.1\r\n" H "X: ", 'v', 8193 - 3, "\r\n\r\n"), 0),
	    H1_E_HEADER_LINE_TOO_LONG);
	/* found before the line ends: a caller never buffers more than the limit */
	assert_int_equal(parse_all(repeat("GET / HTTP/1.1\r\n" H "X: ", 'v', 9000, ""), 0),
			 H1_E_HEADER_LINE_TOO_LONG);
	assert_int_equal(h1_error_status(H1_E_HEADER_LINE_TOO_LONG), 431);
	/* 100 fields pass, 101 are 431 */
	char *p = big;
	p += sprintf(p, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++)
		p += sprintf(p, "%s", i == 0 ? H : "X: y\r\n");
	strcpy(p, "\r\n");
	assert_int_equal(parse_all(big, 0), H1_OK);
	strcpy(p, "X: y\r\n\r\n");
	assert_int_equal(parse_all(big, 0), H1_E_TOO_MANY_HEADERS);
	assert_int_equal(h1_error_status(H1_E_TOO_MANY_HEADERS), 431);
	/* 64 KiB of head in total */
	p = big + sprintf(big, "GET / HTTP/1.1\r\n" H);
	for (int i = 0; i < 9; i++)
		p += sprintf(p, "X%d: %08000d\r\n", i, 0);
	strcpy(p, "\r\n");
	assert_int_equal(parse_all(big, 0), H1_E_HEADERS_TOO_LARGE);
	assert_int_equal(h1_error_status(H1_E_HEADERS_TOO_LARGE), 431);
	/* chunk extensions: 1024 bytes pass, 1025 do not */
	assert_int_equal(
	    parse_all(repeat("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n1;", 'e',
			     1023, "\r\nx\r\n0\r\n\r\n"),
		      1),
	    H1_OK);
	assert_int_equal(
	    parse_all(repeat("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n1;", 'e',
			     1024, "\r\nx\r\n0\r\n\r\n"),
		      1),
	    H1_E_CHUNK_EXT_TOO_LONG);
}

static void test_configured_limits(void **state)
{
	(void)state;
	struct h1_limits l;
	h1_limits_default(&l);
	l.max_headers = 2;
	struct h1_parser p;
	static const struct h1_callbacks none = {0};
	h1_parser_init(&p, H1_REQUEST, &none, NULL, &l);
	const char *in = "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\nC: d\r\n\r\n";
	size_t used;
	assert_int_equal(h1_parse(&p, in, strlen(in), &used), H1_PARSE_ERROR);
	assert_int_equal(h1_parser_error(&p), H1_E_TOO_MANY_HEADERS);
	/* the error is sticky */
	assert_int_equal(h1_parse(&p, "GET", 3, &used), H1_PARSE_ERROR);
	assert_int_equal(used, 0);
}

/* ---- the API around the parse loop ---- */

static void test_pause_and_resume(void **state)
{
	(void)state;
	static struct rec r;
	struct h1_parser p;
	memset(&r, 0, sizeof(r));
	r.p = &p;
	r.pause_on_complete = 1;
	h1_parser_init(&p, H1_REQUEST, &req_cb, &r, NULL);
	const char *in = "GET /1 HTTP/1.1\r\n" H "\r\nGET /2 HTTP/1.1\r\n" H "\r\n";
	size_t len = strlen(in), used;
	assert_int_equal(h1_parse(&p, in, len, &used), H1_PARSE_PAUSED);
	assert_int_equal(used, len / 2); /* stops right after the first request */
	assert_null(strstr(r.log, "/2"));
	assert_int_equal(h1_parse(&p, in + used, len - used, &used), H1_PARSE_PAUSED);
	assert_int_equal(used, len / 2);
	assert_non_null(strstr(r.log, "/2"));
}

static void test_refused_upgrade_resumes_http(void **state)
{
	(void)state;
	static struct rec r;
	struct h1_parser p;
	memset(&r, 0, sizeof(r));
	r.p = &p;
	h1_parser_init(&p, H1_REQUEST, &req_cb, &r, NULL);
	const char *up = "GET / HTTP/1.1\r\n" H "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	const char *next = "GET /next HTTP/1.1\r\n" H "\r\n";
	char in[256];
	snprintf(in, sizeof(in), "%s%s", up, next);
	size_t used;
	assert_int_equal(h1_parse(&p, in, strlen(in), &used), H1_PARSE_TUNNEL);
	assert_int_equal(used, strlen(up));
	size_t again;
	assert_int_equal(h1_parse(&p, in + used, strlen(next), &again), H1_PARSE_TUNNEL);
	assert_int_equal(again, 0);
	h1_parser_resume(&p);
	assert_int_equal(h1_parse(&p, in + used, strlen(next), &again), H1_PARSE_OK);
	assert_int_equal(again, strlen(next));
	assert_non_null(strstr(r.log, "req GET /next"));
	/* HTTP/1.0 has no Upgrade (RFC 9110 §7.8) */
	h1_parser_init(&p, H1_REQUEST, &req_cb, &r, NULL);
	const char *old =
	    "GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade, keep-alive\r\n\r\n";
	assert_int_equal(h1_parse(&p, old, strlen(old), &used), H1_PARSE_OK);
	/* an h2c upgrade is for the next hop alone: a plain request to a proxy */
	h1_parser_init(&p, H1_REQUEST, &req_cb, &r, NULL);
	const char *h2c = "GET / HTTP/1.1\r\n" H "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
			  "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
	assert_int_equal(h1_parse(&p, h2c, strlen(h2c), &used), H1_PARSE_OK);
	assert_int_equal(used, strlen(h2c));
	assert_false(p.head.upgrade);
}

static void test_callback_error(void **state)
{
	(void)state;
	static struct rec r;
	struct h1_parser p;
	memset(&r, 0, sizeof(r));
	r.p = &p;
	r.fail_on_header = 1;
	h1_parser_init(&p, H1_REQUEST, &req_cb, &r, NULL);
	const char *in = "GET / HTTP/1.1\r\n" H "\r\n";
	size_t used;
	assert_int_equal(h1_parse(&p, in, strlen(in), &used), H1_PARSE_ERROR);
	assert_int_equal(h1_parser_error(&p), H1_E_CALLBACK);
	assert_int_equal(h1_error_status(H1_E_CALLBACK), 500);
}

static void test_partial_line_is_left_to_the_caller(void **state)
{
	(void)state;
	struct h1_parser p;
	static const struct h1_callbacks none = {0};
	h1_parser_init(&p, H1_REQUEST, &none, NULL, NULL);
	const char *in = "GET / HTTP/1.1\r\nHost: x\r\nUser-Ag";
	size_t used;
	assert_int_equal(h1_parse(&p, in, strlen(in), &used), H1_PARSE_OK);
	assert_int_equal(used, strlen("GET / HTTP/1.1\r\nHost: x\r\n"));
	/* a CR at the very end waits for its LF */
	const char *cr = "User-Agent: t\r";
	assert_int_equal(h1_parse(&p, cr, strlen(cr), &used), H1_PARSE_OK);
	assert_int_equal(used, 0);
	assert_int_equal(h1_parse_eof(&p, strlen(cr)), H1_PARSE_ERROR);
	assert_int_equal(h1_parser_error(&p), H1_E_TRUNCATED);
}

static void test_error_names(void **state)
{
	(void)state;
	for (int e = 0; e < H1_E__COUNT; e++) {
		const char *n = h1_error_name((enum h1_error)e);
		assert_string_not_equal(n, "H1_E_UNKNOWN");
		int st = h1_error_status((enum h1_error)e);
		assert_true(e == H1_OK ? st == 0 : (st >= 400 && st <= 505));
	}
	assert_string_equal(h1_error_name(H1_E__COUNT), "H1_E_UNKNOWN");
	assert_string_equal(h1_error_name(H1_E_CL_AND_TE), "H1_E_CL_AND_TE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_whole_and_bytewise),
	    cmocka_unit_test(test_errors_whole_and_bytewise),
	    cmocka_unit_test(test_smuggled_request_never_completes),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_configured_limits),
	    cmocka_unit_test(test_pause_and_resume),
	    cmocka_unit_test(test_refused_upgrade_resumes_http),
	    cmocka_unit_test(test_callback_error),
	    cmocka_unit_test(test_partial_line_is_left_to_the_caller),
	    cmocka_unit_test(test_error_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
