/* Test driver for proxy/h1_parser.c: parses stdin as a request stream
 * (`h1_parse_cli request`) or a response stream (`h1_parse_cli response
 * GET,HEAD,...`, one method per final response) and prints one JSON object:
 *   {"messages":[{"method":..,"target":..,"version":"1.1","headers":[[n,v]..],
 *                 "body":"..","trailers":[..]} or {"status":200,...}],
 *    "tunnel":false, "error":null or {"code":"H1_E_..","status":400}}
 * Strings are bytes as \u00XX escapes above ASCII (Latin-1), so the test
 * compares bytes. Built by test/integration/proxy/test_h1_differential.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h1_parser.h"

static enum h1_method methods[64];
static size_t nmethods, next_method;
static struct h1_parser parser;
static int in_message, open_message, in_body, in_trailers, in_headers;

static void str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void close_lists(void)
{
	if (in_headers || in_trailers)
		printf("]");
	in_headers = in_trailers = 0;
	if (in_body)
		printf("\"");
	in_body = 0;
}

static int on_begin(void *u)
{
	(void)u;
	if (next_method < nmethods)
		h1_parser_set_request_method(&parser, methods[next_method]);
	printf("%s{\"begun\":true", in_message++ ? "," : "");
	open_message = 1;
	return 0;
}

static int on_request_line(void *u, const struct h1_request_line *rl)
{
	(void)u;
	printf(",\"method\":");
	str(rl->method.p, rl->method.len);
	printf(",\"target\":");
	str(rl->target.p, rl->target.len);
	printf(",\"version\":\"1.%d\",\"headers\":[", rl->version_minor);
	in_headers = 1;
	return 0;
}

static int on_status_line(void *u, const struct h1_status_line *sl)
{
	(void)u;
	printf(",\"status\":%d,\"reason\":", sl->status);
	str(sl->reason.p, sl->reason.len);
	printf(",\"version\":\"1.%d\",\"headers\":[", sl->version_minor);
	in_headers = 1;
	return 0;
}

static int field(int *first, struct h1_slice n, struct h1_slice v)
{
	printf("%s[", *first ? "" : ",");
	str(n.p, n.len);
	putchar(',');
	str(v.p, v.len);
	putchar(']');
	*first = 0;
	return 0;
}

static int nheaders, ntrailers;

static int on_header(void *u, struct h1_slice n, struct h1_slice v)
{
	(void)u;
	int first = nheaders++ == 0;
	return field(&first, n, v);
}

static int on_headers_complete(void *u, const struct h1_head *h)
{
	(void)u;
	static const char *const framing[] = {"none", "length", "chunked", "close"};
	close_lists();
	printf(",\"framing\":\"%s\",\"keep_alive\":%s,\"interim\":%s,\"tunnel\":%s,\"body\":\"",
	       framing[h->framing], h->keep_alive ? "true" : "false", h->interim ? "true" : "false",
	       h->tunnel ? "true" : "false");
	in_body = 1;
	nheaders = 0;
	if (parser.kind == H1_RESPONSE && !h->interim)
		next_method++;
	return 0;
}

static int on_body(void *u, const char *d, size_t n)
{
	(void)u;
	for (size_t i = 0; i < n; i++) { /* str() without the quotes */
		unsigned char c = (unsigned char)d[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	return 0;
}

static int on_trailer(void *u, struct h1_slice n, struct h1_slice v)
{
	(void)u;
	if (in_body) {
		printf("\",\"trailers\":[");
		in_body = 0;
		in_trailers = 1;
	}
	int first = ntrailers++ == 0;
	return field(&first, n, v);
}

static int on_complete(void *u)
{
	(void)u;
	close_lists();
	ntrailers = 0;
	open_message = 0;
	printf("}");
	return 0;
}

static enum h1_method method_of(const char *s)
{
	static const char *const names[] = {"OTHER",  "GET",     "HEAD",    "POST",  "PUT",
					    "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], s) == 0)
			return (enum h1_method)i;
	return H1_METHOD_OTHER;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "request") && strcmp(argv[1], "response"))) {
		fprintf(stderr, "usage: h1_parse_cli request | response METHOD[,METHOD...]\n");
		return 2;
	}
	enum h1_kind kind = strcmp(argv[1], "request") == 0 ? H1_REQUEST : H1_RESPONSE;
	if (kind == H1_RESPONSE && argc > 2)
		for (char *m = strtok(argv[2], ","); m && nmethods < 64; m = strtok(NULL, ","))
			methods[nmethods++] = method_of(m);
	static char in[1 << 20];
	size_t len = fread(in, 1, sizeof(in), stdin);
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
	h1_parser_init(&parser, kind, &cb, NULL, NULL);
	printf("{\"messages\":[");
	size_t used;
	int rc = h1_parse(&parser, in, len, &used);
	if (rc == H1_PARSE_OK)
		rc = h1_parse_eof(&parser, len - used);
	close_lists();
	if (open_message)
		printf(",\"incomplete\":true}");
	enum h1_error e = h1_parser_error(&parser);
	printf("],\"tunnel\":%s,\"rest\":", rc == H1_PARSE_TUNNEL ? "true" : "false");
	str(rc == H1_PARSE_TUNNEL ? in + used : "", rc == H1_PARSE_TUNNEL ? len - used : 0);
	if (e == H1_OK)
		printf(",\"error\":null}\n");
	else
		printf(",\"error\":{\"code\":\"%s\",\"status\":%d}}\n", h1_error_name(e),
		       h1_error_status(e));
	return 0;
}
