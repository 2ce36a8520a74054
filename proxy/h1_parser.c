/* HTTP/1.1 parser: see h1_parser.h for the contract and docs/http1.md for
 * the rules. The head is parsed a whole line at a time (the caller keeps an
 * unfinished line); chunk lines byte by byte (nothing to keep); bodies as
 * slices of the input. */
#include "proxy/h1_parser.h"

#include <string.h>
#include <strings.h>

enum state {
	S_START,      /* between messages */
	S_START_LINE, /* message begun, in its first line */
	S_HEADER,
	S_BODY_LENGTH,
	S_CHUNK_SIZE_START,
	S_CHUNK_SIZE,
	S_CHUNK_EXT_BWS, /* whitespace after the size: only ';' may follow */
	S_CHUNK_EXT,
	S_CHUNK_SIZE_LF,
	S_CHUNK_DATA,
	S_CHUNK_DATA_CR,
	S_CHUNK_DATA_LF,
	S_TRAILER,
	S_UNTIL_CLOSE,
	S_MESSAGE_DONE, /* head or body finished: on_message_complete next */
	S_TUNNEL,
	S_CLOSED, /* the last message said the connection closes */
	S_ERROR,
};

/* Facts gathered from the fields of one head. */
#define H1F_CONN_CLOSE 0x0002 /* Connection: close */
#define H1F_CONN_KEEP 0x0004  /* Connection: keep-alive */
#define H1F_CONN_UPGRADE 0x0008
#define H1F_UPGRADE 0x0010  /* an Upgrade field */
#define H1F_EXPECT 0x0020   /* Expect: 100-continue */
#define H1F_TE_EMPTY 0x0040 /* an empty Transfer-Encoding list element */
#define H1F_TE_LAST_CHUNKED 0x0080
#define H1F_PAUSED 0x0100 /* a callback asked to pause */

static const char *const error_names[H1_E__COUNT] = {
    [H1_OK] = "H1_OK",
    [H1_E_CALLBACK] = "H1_E_CALLBACK",
    [H1_E_BARE_CR] = "H1_E_BARE_CR",
    [H1_E_BARE_LF] = "H1_E_BARE_LF",
    [H1_E_REQUEST_LINE_TOO_LONG] = "H1_E_REQUEST_LINE_TOO_LONG",
    [H1_E_HEADER_LINE_TOO_LONG] = "H1_E_HEADER_LINE_TOO_LONG",
    [H1_E_HEADERS_TOO_LARGE] = "H1_E_HEADERS_TOO_LARGE",
    [H1_E_TOO_MANY_HEADERS] = "H1_E_TOO_MANY_HEADERS",
    [H1_E_BAD_REQUEST_LINE] = "H1_E_BAD_REQUEST_LINE",
    [H1_E_BAD_METHOD] = "H1_E_BAD_METHOD",
    [H1_E_BAD_TARGET] = "H1_E_BAD_TARGET",
    [H1_E_BAD_VERSION] = "H1_E_BAD_VERSION",
    [H1_E_VERSION_UNSUPPORTED] = "H1_E_VERSION_UNSUPPORTED",
    [H1_E_BAD_STATUS_LINE] = "H1_E_BAD_STATUS_LINE",
    [H1_E_BAD_HEADER_NAME] = "H1_E_BAD_HEADER_NAME",
    [H1_E_WS_BEFORE_COLON] = "H1_E_WS_BEFORE_COLON",
    [H1_E_NO_COLON] = "H1_E_NO_COLON",
    [H1_E_BAD_HEADER_VALUE] = "H1_E_BAD_HEADER_VALUE",
    [H1_E_OBS_FOLD] = "H1_E_OBS_FOLD",
    [H1_E_HOST_MISSING] = "H1_E_HOST_MISSING",
    [H1_E_HOST_DUPLICATE] = "H1_E_HOST_DUPLICATE",
    [H1_E_BAD_HOST] = "H1_E_BAD_HOST",
    [H1_E_BAD_CONTENT_LENGTH] = "H1_E_BAD_CONTENT_LENGTH",
    [H1_E_MULTIPLE_CONTENT_LENGTH] = "H1_E_MULTIPLE_CONTENT_LENGTH",
    [H1_E_CL_AND_TE] = "H1_E_CL_AND_TE",
    [H1_E_BAD_TRANSFER_ENCODING] = "H1_E_BAD_TRANSFER_ENCODING",
    [H1_E_TE_UNSUPPORTED] = "H1_E_TE_UNSUPPORTED",
    [H1_E_TE_HTTP10] = "H1_E_TE_HTTP10",
    [H1_E_BAD_CHUNK_SIZE] = "H1_E_BAD_CHUNK_SIZE",
    [H1_E_CHUNK_SIZE_OVERFLOW] = "H1_E_CHUNK_SIZE_OVERFLOW",
    [H1_E_BAD_CHUNK_EXT] = "H1_E_BAD_CHUNK_EXT",
    [H1_E_CHUNK_EXT_TOO_LONG] = "H1_E_CHUNK_EXT_TOO_LONG",
    [H1_E_CHUNK_DATA_NO_CRLF] = "H1_E_CHUNK_DATA_NO_CRLF",
    [H1_E_CONNECT_BODY] = "H1_E_CONNECT_BODY",
    [H1_E_DATA_AFTER_CLOSE] = "H1_E_DATA_AFTER_CLOSE",
    [H1_E_TRUNCATED] = "H1_E_TRUNCATED",
};

const char *h1_error_name(enum h1_error e)
{
	if ((unsigned)e >= H1_E__COUNT || !error_names[e])
		return "H1_E_UNKNOWN";
	return error_names[e];
}

int h1_error_status(enum h1_error e)
{
	switch (e) {
	case H1_OK:
		return 0;
	case H1_E_CALLBACK:
		return 500;
	case H1_E_REQUEST_LINE_TOO_LONG:
		return 414; /* RFC 9112 §3: a target longer than we parse */
	case H1_E_HEADER_LINE_TOO_LONG:
	case H1_E_HEADERS_TOO_LARGE:
	case H1_E_TOO_MANY_HEADERS:
		return 431; /* RFC 6585 §5 */
	case H1_E_TE_UNSUPPORTED:
		return 501; /* RFC 9112 §6.1 */
	case H1_E_VERSION_UNSUPPORTED:
		return 505;
	default:
		return 400;
	}
}

void h1_limits_default(struct h1_limits *l)
{
	*l = (struct h1_limits){
	    .max_start_line = 8192,
	    .max_header_line = 8192,
	    .max_head_bytes = 65536,
	    .max_headers = 100,
	    .max_chunk_ext = 1024,
	};
}

void h1_parser_init(struct h1_parser *p, enum h1_kind kind, const struct h1_callbacks *cb,
		    void *user, const struct h1_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->cb = cb;
	p->user = user;
	if (limits)
		p->limits = *limits;
	else
		h1_limits_default(&p->limits);
	p->kind = kind;
	p->state = S_START;
	p->request_method = H1_METHOD_GET;
}

void h1_parser_set_request_method(struct h1_parser *p, enum h1_method m)
{
	p->request_method = m;
}

enum h1_error h1_parser_error(const struct h1_parser *p)
{
	return p->error;
}

/* ---- character classes (RFC 9110 §5.6.2, §5.5; RFC 3986) ---- */

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	switch (c) {
	case '!':
	case '#':
	case '$':
	case '%':
	case '&':
	case '\'':
	case '*':
	case '+':
	case '-':
	case '.':
	case '^':
	case '_':
	case '`':
	case '|':
	case '~':
		return true;
	default:
		return false;
	}
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* field-vchar / SP / HTAB: VCHAR and obs-text. NUL, the other CTLs and DEL
 * are refused (RFC 9110 §5.5 lets a recipient reject them; a proxy must,
 * since a peer may cut the value there). */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* uri-host [":" port] characters: reg-name, IP-literal and pct-encoding. */
static bool is_host_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	switch (c) {
	case '-':
	case '.':
	case '_':
	case '~':
	case '!':
	case '$':
	case '&':
	case '\'':
	case '(':
	case ')':
	case '*':
	case '+':
	case ',':
	case ';':
	case '=':
	case ':':
	case '[':
	case ']':
	case '%':
		return true;
	default:
		return false;
	}
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool slice_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* ---- errors and callbacks ---- */

static int fail(struct h1_parser *p, enum h1_error e)
{
	p->error = e;
	p->state = S_ERROR;
	return H1_PARSE_ERROR;
}

/* Folds a callback's answer into the parser: 0 go on, 1 pause, -1 error. */
static int cb_result(struct h1_parser *p, int rc)
{
	if (rc == 0)
		return 0;
	if (rc == H1_PAUSE) {
		p->flags |= H1F_PAUSED;
		return 0;
	}
	fail(p, H1_E_CALLBACK);
	return -1;
}

#define CALL(p, name, ...)                                                                         \
	((p)->cb->name ? cb_result((p), (p)->cb->name((p)->user, ##__VA_ARGS__)) : 0)

/* ---- lines ---- */

/* Looks for the CRLF ending the line at data[0..len). Returns 1 with *eol
 * at its CR; 0 when more bytes are needed; H1_PARSE_ERROR on a bare CR or
 * LF or once the line is longer than `max` (error `too_long`) or would take
 * the section past its byte budget. Bytes [0, p->scanned) were looked at by
 * an earlier call, so presenting a long line again costs nothing. */
static int find_eol(struct h1_parser *p, const char *data, size_t len, size_t max,
		    enum h1_error too_long, size_t *eol)
{
	size_t i = p->scanned;
	size_t budget = p->limits.max_head_bytes - p->head_bytes;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c > '\r')
			continue;
		if (c == '\n')
			return fail(p, H1_E_BARE_LF);
		if (c != '\r')
			continue;
		if (i + 1 == len)
			break; /* the LF may come in the next feed */
		if (data[i + 1] != '\n')
			return fail(p, H1_E_BARE_CR);
		break;
	}
	if (i > max)
		return fail(p, too_long);
	if (i + 2 > budget)
		return fail(p, H1_E_HEADERS_TOO_LARGE);
	if (i + 1 < len) {
		p->scanned = 0;
		p->head_bytes += (uint32_t)(i + 2);
		*eol = i;
		return 1;
	}
	p->scanned = (uint32_t)i;
	return 0;
}

/* ---- start lines ---- */

/* "HTTP/" DIGIT "." DIGIT. Returns the minor version, or -1 with the error. */
static int parse_version(struct h1_parser *p, const char *s, size_t len)
{
	if (len != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' ||
	    s[7] < '0' || s[7] > '9') {
		fail(p, H1_E_BAD_VERSION);
		return -1;
	}
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1')) {
		fail(p, H1_E_VERSION_UNSUPPORTED);
		return -1;
	}
	return s[7] - '0';
}

static enum h1_method method_id(const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum h1_method id;
	} methods[] = {
	    {"GET", H1_METHOD_GET},         {"HEAD", H1_METHOD_HEAD},
	    {"POST", H1_METHOD_POST},       {"PUT", H1_METHOD_PUT},
	    {"DELETE", H1_METHOD_DELETE},   {"CONNECT", H1_METHOD_CONNECT},
	    {"OPTIONS", H1_METHOD_OPTIONS}, {"TRACE", H1_METHOD_TRACE},
	    {"PATCH", H1_METHOD_PATCH},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) /* case-sensitive */
		if (strlen(methods[i].name) == len && memcmp(methods[i].name, s, len) == 0)
			return methods[i].id;
	return H1_METHOD_OTHER;
}

/* authority-form of CONNECT (RFC 9112 §3.2.3): uri-host ":" port. */
static bool is_authority_form(const char *s, size_t len)
{
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++) {
		if (!is_host_char((unsigned char)s[i]))
			return false;
		if (s[i] == ':')
			colon = s + i;
	}
	if (!colon || colon == s)
		return false;
	size_t port_len = len - (size_t)(colon + 1 - s);
	if (port_len == 0 || port_len > 5)
		return false;
	unsigned port = 0;
	for (const char *c = colon + 1; c < s + len; c++) {
		if (*c < '0' || *c > '9')
			return false;
		port = port * 10 + (unsigned)(*c - '0');
	}
	return port <= 65535;
}

/* absolute-form: scheme "://" authority [path] (RFC 3986 §3.1). */
static bool is_absolute_form(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			   (i > 0 && ((s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
				      s[i] == '.'))))
		i++;
	return i > 0 && len - i > 3 && memcmp(s + i, "://", 3) == 0 && s[i + 3] != '/';
}

/* Picks the request-target form the method allows (RFC 9112 §3.2). Any
 * VCHAR but '#' may appear; the router decodes and normalises paths. */
static int parse_target(struct h1_parser *p, struct h1_request_line *rl)
{
	const char *s = rl->target.p;
	size_t len = rl->target.len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return fail(p, H1_E_BAD_TARGET);
	}
	if (rl->method_id == H1_METHOD_CONNECT) {
		rl->form = H1_TARGET_AUTHORITY;
		return is_authority_form(s, len) ? 0 : fail(p, H1_E_BAD_TARGET);
	}
	if (len == 1 && s[0] == '*') {
		rl->form = H1_TARGET_ASTERISK;
		return rl->method_id == H1_METHOD_OPTIONS ? 0 : fail(p, H1_E_BAD_TARGET);
	}
	if (s[0] == '/') {
		rl->form = H1_TARGET_ORIGIN;
		return 0;
	}
	rl->form = H1_TARGET_ABSOLUTE;
	return is_absolute_form(s, len) ? 0 : fail(p, H1_E_BAD_TARGET);
}

/* method SP request-target SP HTTP-version, single spaces (RFC 9112 §3). */
static int parse_request_line(struct h1_parser *p, const char *s, size_t len)
{
	struct h1_request_line rl = {0};
	size_t i = 0;
	while (i < len && is_tchar((unsigned char)s[i]))
		i++;
	if (i == len || (i == 0 && s[0] == ' '))
		return fail(p, H1_E_BAD_REQUEST_LINE);
	if (i == 0 || s[i] != ' ')
		return fail(p, H1_E_BAD_METHOD);
	rl.method = (struct h1_slice){s, i};
	rl.method_id = method_id(s, i);
	size_t t = ++i;
	while (i < len && s[i] != ' ')
		i++;
	if (i == len || i == t)
		return fail(p, H1_E_BAD_REQUEST_LINE);
	rl.target = (struct h1_slice){s + t, i - t};
	const char *v = s + i + 1;
	size_t vlen = len - i - 1;
	if (memchr(v, ' ', vlen))
		return fail(p, H1_E_BAD_REQUEST_LINE);
	int minor = parse_version(p, v, vlen);
	if (minor < 0)
		return H1_PARSE_ERROR;
	rl.version_minor = (uint8_t)minor;
	if (parse_target(p, &rl) < 0)
		return H1_PARSE_ERROR;
	p->head.version_minor = rl.version_minor;
	p->head.method = rl.method_id;
	return CALL(p, on_request_line, &rl);
}

/* HTTP-version SP 3DIGIT SP [reason]. "HTTP/1.1 200" without the second
 * SP is accepted: common from servers, and it cannot change framing. */
static int parse_status_line(struct h1_parser *p, const char *s, size_t len)
{
	struct h1_status_line sl = {0};
	if (len < 8 || (len > 8 && s[8] != ' '))
		return fail(p, H1_E_BAD_VERSION);
	int minor = parse_version(p, s, 8);
	if (minor < 0)
		return H1_PARSE_ERROR;
	if (len < 12)
		return fail(p, H1_E_BAD_STATUS_LINE);
	unsigned status = 0;
	for (int i = 9; i < 12; i++) {
		if (s[i] < '0' || s[i] > '9')
			return fail(p, H1_E_BAD_STATUS_LINE);
		status = status * 10 + (unsigned)(s[i] - '0');
	}
	if (status < 100 || status > 599 || (len > 12 && s[12] != ' '))
		return fail(p, H1_E_BAD_STATUS_LINE);
	for (size_t i = 13; i < len; i++)
		if (!is_field_char((unsigned char)s[i]))
			return fail(p, H1_E_BAD_STATUS_LINE);
	sl.version_minor = (uint8_t)minor;
	sl.status = (uint16_t)status;
	sl.reason = len > 13 ? (struct h1_slice){s + 13, len - 13} : (struct h1_slice){s + len, 0};
	p->head.version_minor = sl.version_minor;
	p->head.status = sl.status;
	p->head.method = p->request_method;
	return CALL(p, on_status_line, &sl);
}

/* ---- fields ---- */

/* Splits "name: value" (RFC 9112 §5). Returns 0 or the error. */
static int split_field(struct h1_parser *p, const char *s, size_t len, struct h1_slice *name,
		       struct h1_slice *value)
{
	if (is_ows((unsigned char)s[0]))
		return fail(p, H1_E_OBS_FOLD); /* RFC 9112 §5.2, and §2.2 after the start line */
	size_t i = 0;
	while (i < len && s[i] != ':') {
		unsigned char c = (unsigned char)s[i];
		if (is_ows(c))
			return fail(p, H1_E_WS_BEFORE_COLON);
		if (!is_tchar(c))
			return fail(p, H1_E_BAD_HEADER_NAME);
		i++;
	}
	if (i == len)
		return fail(p, H1_E_NO_COLON);
	if (i == 0)
		return fail(p, H1_E_BAD_HEADER_NAME);
	*name = (struct h1_slice){s, i};
	size_t b = i + 1, e = len;
	for (size_t j = b; j < len; j++)
		if (!is_field_char((unsigned char)s[j]))
			return fail(p, H1_E_BAD_HEADER_VALUE);
	while (b < e && is_ows((unsigned char)s[b]))
		b++;
	while (e > b && is_ows((unsigned char)s[e - 1]))
		e--;
	*value = (struct h1_slice){s + b, e - b};
	return 0;
}

/* Calls fn on each element of a comma-separated list, OWS trimmed (empty
 * elements included). */
static void for_each_element(struct h1_slice v,
			     void (*fn)(struct h1_parser *, const char *, size_t),
			     struct h1_parser *p)
{
	const char *s = v.p, *end = v.p + v.len;
	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma ? comma : end;
		const char *b = s;
		while (b < e && is_ows((unsigned char)*b))
			b++;
		while (e > b && is_ows((unsigned char)e[-1]))
			e--;
		fn(p, b, (size_t)(e - b));
		if (!comma)
			return;
		s = comma + 1;
	}
}

static void connection_token(struct h1_parser *p, const char *s, size_t len)
{
	if (slice_is(s, len, "close"))
		p->flags |= H1F_CONN_CLOSE;
	else if (slice_is(s, len, "keep-alive"))
		p->flags |= H1F_CONN_KEEP;
	else if (slice_is(s, len, "upgrade"))
		p->flags |= H1F_CONN_UPGRADE;
}

/* Transfer codings in order of application; only the last may be chunked
 * and only once (RFC 9112 §6.1). Parameters are kept in the element, so
 * "chunked;x=1" is not chunked. */
static void transfer_coding(struct h1_parser *p, const char *s, size_t len)
{
	if (p->te_elements < UINT8_MAX)
		p->te_elements++;
	if (len == 0)
		p->flags |= H1F_TE_EMPTY;
	p->flags &= ~H1F_TE_LAST_CHUNKED;
	if (slice_is(s, len, "chunked")) {
		p->flags |= H1F_TE_LAST_CHUNKED;
		if (p->te_chunked < UINT8_MAX)
			p->te_chunked++;
	}
}

/* 1*DIGIT, at most INT64_MAX. A list ("5, 5") is refused as a repetition,
 * although RFC 9110 §8.6 lets a recipient accept equal values: one rule is
 * simpler and no client needs it. */
static int content_length(struct h1_parser *p, struct h1_slice v)
{
	if (++p->cl_count > 1 || memchr(v.p, ',', v.len))
		return fail(p, H1_E_MULTIPLE_CONTENT_LENGTH);
	if (v.len == 0)
		return fail(p, H1_E_BAD_CONTENT_LENGTH);
	uint64_t n = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return fail(p, H1_E_BAD_CONTENT_LENGTH);
		n = n * 10 + (uint64_t)(v.p[i] - '0');
		if (n > INT64_MAX / 10 && i + 1 < v.len)
			return fail(p, H1_E_BAD_CONTENT_LENGTH);
	}
	if (n > INT64_MAX)
		return fail(p, H1_E_BAD_CONTENT_LENGTH);
	p->head.content_length = n;
	return 0;
}

/* Records what a field of the head means for framing and the connection. */
static int header_semantics(struct h1_parser *p, struct h1_slice n, struct h1_slice v)
{
	switch (n.len) {
	case 4:
		if (!slice_is(n.p, n.len, "host"))
			return 0;
		if (p->host_count++)
			return fail(p, H1_E_HOST_DUPLICATE);
		for (size_t i = 0; i < v.len; i++)
			if (!is_host_char((unsigned char)v.p[i]))
				return fail(p, H1_E_BAD_HOST);
		return 0;
	case 6:
		if (slice_is(n.p, n.len, "expect") && slice_is(v.p, v.len, "100-continue"))
			p->flags |= H1F_EXPECT;
		return 0;
	case 7:
		/* An h2c upgrade is between the client and the next hop only: a
		 * proxy answers it as plain HTTP/1.1 (RFC 9113 §3.1 retired it;
		 * Envoy ignores it too) and drops the header as hop-by-hop. */
		if (slice_is(n.p, n.len, "upgrade") && !slice_is(v.p, v.len, "h2c"))
			p->flags |= H1F_UPGRADE;
		return 0;
	case 10:
		if (slice_is(n.p, n.len, "connection"))
			for_each_element(v, connection_token, p);
		return 0;
	case 14:
		return slice_is(n.p, n.len, "content-length") ? content_length(p, v) : 0;
	case 17:
		if (slice_is(n.p, n.len, "transfer-encoding"))
			for_each_element(v, transfer_coding, p);
		return 0;
	default:
		return 0;
	}
}

/* ---- framing (RFC 9112 §6.3) ---- */

/* Validates Transfer-Encoding. Returns 1 if the body is chunked, 0 if not
 * (responses: read until close), or the error. */
static int te_chunked(struct h1_parser *p)
{
	bool last = p->flags & H1F_TE_LAST_CHUNKED;
	if ((p->flags & H1F_TE_EMPTY) || p->te_chunked > 1 || (p->te_chunked == 1 && !last))
		return fail(p, H1_E_BAD_TRANSFER_ENCODING);
	if (p->kind == H1_REQUEST) {
		/* RFC 9112 §6.3 rule 4: a request whose final coding is not
		 * chunked has no reliable length: 400. We decode no other
		 * coding, so "gzip, chunked" is 501 (§6.1). */
		if (!last)
			return fail(p, H1_E_BAD_TRANSFER_ENCODING);
		if (p->te_elements > 1)
			return fail(p, H1_E_TE_UNSUPPORTED);
	}
	return last ? 1 : 0;
}

static int decide_request(struct h1_parser *p)
{
	struct h1_head *h = &p->head;
	if (h->version_minor == 1 && p->host_count == 0)
		return fail(p, H1_E_HOST_MISSING);
	if (h->method == H1_METHOD_CONNECT) {
		/* RFC 9110 §9.3.6: no content; a body would be read as tunnel bytes. */
		if (p->te_elements || (p->cl_count && h->content_length))
			return fail(p, H1_E_CONNECT_BODY);
		h->tunnel = true;
	} else if (p->te_elements) {
		int rc = te_chunked(p);
		if (rc < 0)
			return rc;
		h->framing = H1_FRAMING_CHUNKED;
	} else if (p->cl_count && h->content_length) {
		h->framing = H1_FRAMING_LENGTH;
	}
	/* RFC 9110 §7.8: Upgrade in HTTP/1.0 is ignored. */
	if (h->version_minor == 1 && (p->flags & H1F_UPGRADE) && (p->flags & H1F_CONN_UPGRADE)) {
		h->upgrade = true;
		h->tunnel = true;
	}
	h->expect_continue = h->version_minor == 1 && (p->flags & H1F_EXPECT);
	return 0;
}

static int decide_response(struct h1_parser *p)
{
	struct h1_head *h = &p->head;
	bool chunked = false;
	if (p->te_elements) {
		int rc = te_chunked(p);
		if (rc < 0)
			return rc;
		chunked = rc;
	}
	unsigned st = h->status;
	if (st < 200 && st != 101) {
		h->interim = true; /* e.g. 100 Continue, 103 Early Hints */
	} else if (st == 101 || (h->method == H1_METHOD_CONNECT && st < 300)) {
		h->upgrade = st == 101;
		h->tunnel = true;
	} else if (h->method == H1_METHOD_HEAD || st == 204 || st == 304) {
		/* no body, whatever the framing fields say (RFC 9112 §6.3 rule 1) */
	} else if (chunked) {
		h->framing = H1_FRAMING_CHUNKED;
	} else if (p->cl_count && !p->te_elements) {
		if (h->content_length)
			h->framing = H1_FRAMING_LENGTH;
	} else {
		h->framing = H1_FRAMING_UNTIL_CLOSE;
	}
	return 0;
}

static int headers_complete(struct h1_parser *p)
{
	struct h1_head *h = &p->head;
	/* RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing;
	 * §6.3 rule 3: with Content-Length too it is a smuggling attempt. */
	if (p->te_elements && h->version_minor == 0)
		return fail(p, H1_E_TE_HTTP10);
	if (p->te_elements && p->cl_count)
		return fail(p, H1_E_CL_AND_TE);
	int rc = p->kind == H1_REQUEST ? decide_request(p) : decide_response(p);
	if (rc < 0)
		return rc;
	if (h->version_minor == 1)
		h->keep_alive = !(p->flags & H1F_CONN_CLOSE);
	else
		h->keep_alive = (p->flags & H1F_CONN_KEEP) && !(p->flags & H1F_CONN_CLOSE);
	if (h->framing == H1_FRAMING_UNTIL_CLOSE)
		h->keep_alive = false;
	if (h->interim)
		h->keep_alive = true;
	switch (h->framing) {
	case H1_FRAMING_LENGTH:
		p->remaining = h->content_length;
		p->state = S_BODY_LENGTH;
		break;
	case H1_FRAMING_CHUNKED:
		p->state = S_CHUNK_SIZE_START;
		break;
	case H1_FRAMING_UNTIL_CLOSE:
		p->state = S_UNTIL_CLOSE;
		break;
	case H1_FRAMING_NONE:
		p->state = S_MESSAGE_DONE;
		break;
	}
	return CALL(p, on_headers_complete, h);
}

/* One line of a head or trailer section at s[0..len), CRLF excluded. */
static int field_line(struct h1_parser *p, const char *s, size_t len, bool trailer)
{
	if (len == 0) {
		p->head_bytes = 0;
		p->nfields = 0;
		if (trailer) {
			p->state = S_MESSAGE_DONE;
			return 0;
		}
		return headers_complete(p);
	}
	if (++p->nfields > p->limits.max_headers)
		return fail(p, H1_E_TOO_MANY_HEADERS);
	struct h1_slice name, value;
	if (split_field(p, s, len, &name, &value) < 0)
		return H1_PARSE_ERROR;
	if (trailer)
		return CALL(p, on_trailer, name, value);
	if (header_semantics(p, name, value) < 0)
		return H1_PARSE_ERROR;
	return CALL(p, on_header, name, value);
}

/* ---- the state machine ---- */

static void reset_message(struct h1_parser *p)
{
	p->head = (struct h1_head){0};
	p->flags &= H1F_PAUSED;
	p->host_count = p->cl_count = p->te_elements = p->te_chunked = 0;
	p->head_bytes = p->nfields = p->scanned = 0;
	p->remaining = 0;
	p->state = S_START;
}

static int message_complete(struct h1_parser *p)
{
	const struct h1_head h = p->head;
	bool final = p->kind == H1_RESPONSE && !h.interim;
	reset_message(p);
	if (h.tunnel)
		p->state = S_TUNNEL;
	else if (!h.keep_alive)
		p->state = S_CLOSED;
	if (final)
		p->request_method = H1_METHOD_GET;
	return CALL(p, on_message_complete);
}

/* S_START: empty lines before a request are skipped (RFC 9112 §2.2) but
 * count against the start line's limit; anything else begins a message. */
static int start(struct h1_parser *p, const char *data, size_t len, size_t *off)
{
	size_t i = *off;
	if (p->kind == H1_REQUEST && (data[i] == '\r' || data[i] == '\n')) {
		if (data[i] == '\n')
			return fail(p, H1_E_BARE_LF);
		if (i + 1 == len)
			return 0;
		if (data[i + 1] != '\n')
			return fail(p, H1_E_BARE_CR);
		p->head_bytes += 2;
		if (p->head_bytes > p->limits.max_start_line)
			return fail(p, H1_E_REQUEST_LINE_TOO_LONG);
		*off = i + 2;
		return 1;
	}
	p->head_bytes = 0;
	p->state = S_START_LINE;
	*off = i;
	if (CALL(p, on_message_begin) < 0)
		return H1_PARSE_ERROR;
	return 1;
}

/* A line-based state: start line, field or trailer line. Returns 1 when a
 * line was used, 0 when more bytes are needed, or the error. */
static int line_state(struct h1_parser *p, const char *data, size_t len, size_t *off)
{
	const char *s = data + *off;
	size_t avail = len - *off, eol;
	int rc;
	if (p->state == S_START_LINE) {
		enum h1_error e =
		    p->kind == H1_REQUEST ? H1_E_REQUEST_LINE_TOO_LONG : H1_E_BAD_STATUS_LINE;
		rc = find_eol(p, s, avail, p->limits.max_start_line, e, &eol);
	} else {
		rc = find_eol(p, s, avail, p->limits.max_header_line, H1_E_HEADER_LINE_TOO_LONG,
			      &eol);
	}
	if (rc <= 0)
		return rc;
	*off += eol + 2;
	switch (p->state) {
	case S_START_LINE:
		p->state = S_HEADER;
		rc = p->kind == H1_REQUEST ? parse_request_line(p, s, eol)
					   : parse_status_line(p, s, eol);
		break;
	case S_HEADER:
		rc = field_line(p, s, eol, false);
		break;
	default:
		rc = field_line(p, s, eol, true);
		break;
	}
	return rc < 0 ? H1_PARSE_ERROR : 1;
}

/* One byte of a chunk-size line (RFC 9112 §7.1). */
static int chunk_line_byte(struct h1_parser *p, unsigned char c)
{
	int h;
	switch (p->state) {
	case S_CHUNK_SIZE_START:
	case S_CHUNK_SIZE:
		h = hex_value(c);
		if (h >= 0) {
			/* 16 digits hold any uint64; more is an attack or junk */
			if (++p->chunk_line > 16 || p->remaining > (uint64_t)INT64_MAX >> 4)
				return fail(p, H1_E_CHUNK_SIZE_OVERFLOW);
			p->remaining = p->remaining << 4 | (uint64_t)h;
			p->state = S_CHUNK_SIZE;
			return 0;
		}
		if (p->state == S_CHUNK_SIZE_START)
			return fail(p, c == '\n' ? H1_E_BARE_LF : H1_E_BAD_CHUNK_SIZE);
		p->chunk_line = 1; /* from here on it counts extension bytes */
		if (c == '\r')
			p->state = S_CHUNK_SIZE_LF;
		else if (c == ';')
			p->state = S_CHUNK_EXT;
		else if (is_ows(c))
			p->state = S_CHUNK_EXT_BWS;
		else
			return fail(p, c == '\n' ? H1_E_BARE_LF : H1_E_BAD_CHUNK_SIZE);
		return 0;
	case S_CHUNK_EXT_BWS:
	case S_CHUNK_EXT:
		if (c == '\r') {
			if (p->state == S_CHUNK_EXT_BWS)
				return fail(p, H1_E_BAD_CHUNK_EXT);
			p->state = S_CHUNK_SIZE_LF;
			return 0;
		}
		if (c == '\n')
			return fail(p, H1_E_BARE_LF);
		if (++p->chunk_line > p->limits.max_chunk_ext)
			return fail(p, H1_E_CHUNK_EXT_TOO_LONG);
		if (p->state == S_CHUNK_EXT_BWS) {
			if (c == ';')
				p->state = S_CHUNK_EXT;
			else if (!is_ows(c))
				return fail(p, H1_E_BAD_CHUNK_EXT);
			return 0;
		}
		return is_field_char(c) ? 0 : fail(p, H1_E_BAD_CHUNK_EXT);
	case S_CHUNK_SIZE_LF:
		if (c != '\n')
			return fail(p, H1_E_BARE_CR);
		p->chunk_line = 0;
		p->state = p->remaining ? S_CHUNK_DATA : S_TRAILER;
		return 0;
	case S_CHUNK_DATA_CR:
		if (c != '\r')
			return fail(p, H1_E_CHUNK_DATA_NO_CRLF);
		p->state = S_CHUNK_DATA_LF;
		return 0;
	default: /* S_CHUNK_DATA_LF */
		if (c != '\n')
			return fail(p, H1_E_CHUNK_DATA_NO_CRLF);
		p->state = S_CHUNK_SIZE_START;
		return 0;
	}
}

/* Hands body bytes to on_body, at most p->remaining of them unless
 * `all`. Returns 0 or -1. */
static int body_slice(struct h1_parser *p, const char *data, size_t len, size_t *off, bool all)
{
	size_t n = len - *off;
	if (!all && n > p->remaining)
		n = (size_t)p->remaining;
	const char *s = data + *off;
	*off += n;
	if (!all)
		p->remaining -= n;
	return CALL(p, on_body, s, n);
}

int h1_parse(struct h1_parser *p, const char *data, size_t len, size_t *consumed)
{
	size_t off = 0;
	int rc = 0;
	*consumed = 0;
	if (p->state == S_ERROR)
		return H1_PARSE_ERROR;
	p->flags &= ~H1F_PAUSED;
	for (;;) {
		if (p->flags & H1F_PAUSED) {
			*consumed = off;
			return H1_PARSE_PAUSED;
		}
		if (p->state == S_TUNNEL) {
			*consumed = off;
			return H1_PARSE_TUNNEL;
		}
		if (p->state == S_MESSAGE_DONE) {
			if (message_complete(p) < 0)
				break;
			continue;
		}
		if (off == len)
			break;
		switch (p->state) {
		case S_START:
			rc = start(p, data, len, &off);
			break;
		case S_START_LINE:
		case S_HEADER:
		case S_TRAILER:
			rc = line_state(p, data, len, &off);
			break;
		case S_BODY_LENGTH:
			rc = body_slice(p, data, len, &off, false);
			if (rc == 0 && p->remaining == 0)
				p->state = S_MESSAGE_DONE;
			rc = rc < 0 ? rc : 1;
			break;
		case S_CHUNK_DATA:
			rc = body_slice(p, data, len, &off, false);
			if (rc == 0 && p->remaining == 0)
				p->state = S_CHUNK_DATA_CR;
			rc = rc < 0 ? rc : 1;
			break;
		case S_UNTIL_CLOSE:
			rc = body_slice(p, data, len, &off, true) < 0 ? -1 : 1;
			break;
		case S_CLOSED:
			rc = fail(p, H1_E_DATA_AFTER_CLOSE);
			break;
		default:
			rc = chunk_line_byte(p, (unsigned char)data[off++]) < 0 ? -1 : 1;
			break;
		}
		if (rc <= 0)
			break;
	}
	if (p->state == S_ERROR) {
		*consumed = off;
		return H1_PARSE_ERROR;
	}
	*consumed = off;
	return (p->flags & H1F_PAUSED) ? H1_PARSE_PAUSED : H1_PARSE_OK;
}

int h1_parse_eof(struct h1_parser *p, size_t pending)
{
	switch (p->state) {
	case S_ERROR:
		return H1_PARSE_ERROR;
	case S_START:
		if (pending && p->kind == H1_RESPONSE)
			return fail(p, H1_E_TRUNCATED);
		return H1_PARSE_OK; /* at most a CR of an empty line is pending */
	case S_CLOSED:
	case S_TUNNEL:
		return H1_PARSE_OK;
	case S_UNTIL_CLOSE:
		if (pending)
			return fail(p, H1_E_TRUNCATED);
		return message_complete(p) < 0 ? H1_PARSE_ERROR : H1_PARSE_OK;
	default:
		return fail(p, H1_E_TRUNCATED);
	}
}

void h1_parser_resume(struct h1_parser *p)
{
	if (p->kind == H1_REQUEST && p->state == S_TUNNEL)
		p->state = S_START;
}
