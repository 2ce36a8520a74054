/* Access log writer; see access_log.h. */
#include "proxy/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/sock_addr.h"

struct access_log_file *access_log_open(struct access_log_set *set, const char *path)
{
	for (unsigned i = 0; i < set->n_files; i++)
		if (strcmp(set->files[i]->path, path) == 0)
			return set->files[i];
	if (set->n_files == ACCESS_LOG_MAX_FILES)
		return NULL;
	struct access_log_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->path = strdup(path);
	/* The standard streams are used as they are, as Envoy does: reopening
	 * them by name fails for a non-root proxy whose stdout is root's pipe. */
	if (strcmp(path, "/dev/stdout") == 0)
		f->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
	else if (strcmp(path, "/dev/stderr") == 0)
		f->fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	else
		f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (!f->path || f->fd < 0) {
		if (f->fd >= 0)
			close(f->fd);
		free(f->path);
		free(f);
		return NULL;
	}
	set->files[set->n_files++] = f;
	return f;
}

static void flush_file(struct access_log_set *set, struct access_log_file *f)
{
	if (f->len == 0)
		return;
	ssize_t n = write(f->fd, f->buf, f->len);
	if (n != (ssize_t)f->len)
		set->dropped++; /* a full disk or a closed pipe must not stop the proxy */
	f->len = 0;
}

bool access_log_pending(const struct access_log_set *set)
{
	for (unsigned i = 0; i < set->n_files; i++)
		if (set->files[i]->len)
			return true;
	return false;
}

void access_log_flush(struct access_log_set *set)
{
	for (unsigned i = 0; i < set->n_files; i++)
		flush_file(set, set->files[i]);
}

void access_log_close(struct access_log_set *set)
{
	for (unsigned i = 0; i < set->n_files; i++) {
		flush_file(set, set->files[i]);
		close(set->files[i]->fd);
		free(set->files[i]->path);
		free(set->files[i]);
	}
	set->n_files = 0;
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0 when s does not
 * start one (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Writes s as a JSON string into out (at most cap bytes, not terminated);
 * returns the length. Names from configuration and request headers may hold
 * any byte: quote, backslash and controls are escaped, bytes that are not
 * UTF-8 become U+FFFD so the line stays valid JSON. What does not fit is cut
 * at a character boundary, keeping the line within its bound. */
static size_t json_string(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	if (n < cap)
		out[n++] = '"';
	/* 7: the longest escape (6) and the closing quote always fit. */
	for (const unsigned char *p = (const unsigned char *)s; p && *p && n + 7 < cap;) {
		unsigned char c = *p;
		size_t u = c >= 0x80 ? utf8_len(p) : 1;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else if (u == 0) {
			n += (size_t)snprintf(out + n, cap - n, "\\ufffd");
			u = 1;
		} else {
			memcpy(out + n, p, u);
			n += u;
		}
		p += u;
	}
	if (n < cap)
		out[n++] = '"';
	return n;
}

static void format_addr(char *buf, size_t len, const struct sock_addr *a)
{
	if (a)
		sock_addr_format(a, buf, len);
	else
		snprintf(buf, len, "-");
}

/* RFC 3339 in UTC with milliseconds, as Envoy's %START_TIME%. */
static void format_time(char *out, size_t cap, uint64_t unix_ms)
{
	time_t secs = (time_t)(unix_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % 1000));
}

/* Buffers one whole line, writing out what is buffered first if it would
 * not fit: a write never splits a line. */
static void append_line(struct access_log_set *set, struct access_log_file *f, const char *line,
			size_t n)
{
	if (f->len + n > sizeof(f->buf))
		flush_file(set, f);
	memcpy(f->buf + f->len, line, n);
	f->len += n;
}

void access_log_tcp(struct access_log_set *set, struct access_log_file *f,
		    const struct tcp_flow_record *rec)
{
	if (!f) {
		set->dropped++;
		return;
	}
	char remote[64], local[64], orig[64], upstream[64], when[80], listener[256], cluster[256];
	format_addr(remote, sizeof(remote), rec->downstream_remote);
	format_addr(local, sizeof(local), rec->downstream_local);
	format_addr(orig, sizeof(orig), rec->original_dst);
	format_addr(upstream, sizeof(upstream), rec->upstream_host);
	format_time(when, sizeof(when), rec->start_unix_ms);
	listener[json_string(listener, sizeof(listener) - 1, rec->listener)] = '\0';
	cluster[json_string(cluster, sizeof(cluster) - 1, rec->cluster)] = '\0';

	char principal[300];
	principal[json_string(principal, sizeof(principal) - 1,
			      rec->peer_principal ? rec->peer_principal : "")] = '\0';
	char line[1536];
	int n = snprintf(line, sizeof(line),
			 "{\"start_time\":\"%s\",\"duration\":%llu,\"connection_id\":%llu,"
			 "\"bytes_received\":%llu,\"bytes_sent\":%llu,"
			 "\"downstream_remote_address\":\"%s\",\"downstream_local_address\":\"%s\","
			 "\"original_destination\":\"%s\",\"upstream_host\":\"%s\","
			 "\"listener_name\":%s,\"upstream_cluster\":%s,"
			 "\"downstream_peer_uri_san\":%s,\"transport_failure_reason\":\"%s\","
			 "\"response_flags\":\"%s\",\"termination_reason\":\"%s\"}\n",
			 when, (unsigned long long)rec->duration_ms,
			 (unsigned long long)rec->connection_id,
			 (unsigned long long)rec->bytes_received, (unsigned long long)rec->bytes_sent,
			 remote, local, orig, upstream, listener, cluster, principal,
			 rec->transport_failure ? rec->transport_failure : "", rec->response_flags,
			 rec->termination);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		set->dropped++;
		return;
	}
	append_line(set, f, line, (size_t)n);
}

/* An HTTP line being built. Every variable field has a cap (below) and the
 * caps with the fixed text add up to less than the buffer, so a line always
 * fits in one write under PIPE_BUF; fields past their cap are cut. */
struct line {
	char buf[ACCESS_LOG_BUF];
	size_t len;
	bool overflow;
};

static void put_raw(struct line *l, const char *s)
{
	size_t n = strlen(s);
	if (l->len + n >= sizeof(l->buf)) {
		l->overflow = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void put_key(struct line *l, const char *key)
{
	put_raw(l, l->len ? ",\"" : "{\"");
	put_raw(l, key);
	put_raw(l, "\":");
}

/* "key":"s" with s cut to cap bytes of JSON, or "key":null when s is NULL
 * (Envoy's JSON format writes null for a value it does not have). */
static void put_str(struct line *l, const char *key, const char *s, size_t cap)
{
	put_key(l, key);
	if (!s) {
		put_raw(l, "null");
		return;
	}
	size_t room = sizeof(l->buf) - 1 - l->len;
	if (cap > room) {
		l->overflow = true;
		return;
	}
	l->len += json_string(l->buf + l->len, cap, s);
}

static void put_u64(struct line *l, const char *key, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	put_key(l, key);
	put_raw(l, num);
}

static void put_addr(struct line *l, const char *key, const struct sock_addr *a)
{
	char text[64];
	if (a)
		sock_addr_format(a, text, sizeof(text));
	put_str(l, key, a ? text : NULL, sizeof(text) + 2);
}

/* Caps, in bytes of JSON, of the fields whose length a peer or the
 * configuration chooses. Their sum (3.0 KB) plus the keys and numbers
 * (0.5 KB) stays under ACCESS_LOG_BUF: the longest possible line is 3.4 KB,
 * which test_access_log checks. */
enum {
	CAP_PATH = 768,
	CAP_HEADER = 192, /* authority, user agent, x-forwarded-for */
	CAP_ID = 128,     /* request id, details, transport failure */
	CAP_NAME = 160,   /* listener, route, cluster */
	CAP_PRINCIPAL = 192,
	CAP_SHORT = 48, /* method, protocol, flags */
};

void access_log_http(struct access_log_set *set, struct access_log_file *f,
		     const struct http_request_record *rec)
{
	if (!f) {
		set->dropped++;
		return;
	}
	struct line l;
	l.len = 0;
	l.overflow = false;
	char when[40], ust[24];
	format_time(when, sizeof(when), rec->start_unix_ms);
	put_str(&l, "start_time", when, sizeof(when));
	put_str(&l, "method", rec->method, CAP_SHORT);
	put_str(&l, "path", rec->path, CAP_PATH);
	put_str(&l, "protocol", rec->protocol, CAP_SHORT);
	put_u64(&l, "response_code", rec->response_code);
	put_str(&l, "response_flags", rec->response_flags ? rec->response_flags : "-", CAP_SHORT);
	put_str(&l, "response_code_details", rec->response_code_details, CAP_ID);
	put_u64(&l, "bytes_received", rec->bytes_received);
	put_u64(&l, "bytes_sent", rec->bytes_sent);
	put_u64(&l, "duration", rec->duration_ms);
	/* Envoy logs the x-envoy-upstream-service-time header: a string. */
	snprintf(ust, sizeof(ust), "%llu", (unsigned long long)rec->upstream_service_time_ms);
	put_str(&l, "upstream_service_time",
		rec->upstream_service_time_ms == UINT64_MAX ? NULL : ust, sizeof(ust));
	put_str(&l, "x_forwarded_for", rec->x_forwarded_for, CAP_HEADER);
	put_str(&l, "user_agent", rec->user_agent, CAP_HEADER);
	put_str(&l, "request_id", rec->request_id, CAP_ID);
	put_str(&l, "authority", rec->authority, CAP_HEADER);
	put_addr(&l, "upstream_host", rec->upstream_host);
	put_str(&l, "upstream_cluster", rec->cluster, CAP_NAME);
	put_addr(&l, "downstream_remote_address", rec->downstream_remote);
	put_addr(&l, "downstream_local_address", rec->downstream_local);
	put_str(&l, "listener_name", rec->listener, CAP_NAME);
	put_str(&l, "route_name", rec->route_name, CAP_NAME);
	put_u64(&l, "connection_id", rec->connection_id);
	put_str(&l, "downstream_peer_uri_san", rec->peer_principal, CAP_PRINCIPAL);
	put_str(&l, "upstream_peer_uri_san", rec->upstream_peer_principal, CAP_PRINCIPAL);
	put_str(&l, "upstream_transport_failure_reason", rec->upstream_transport_failure, CAP_ID);
	put_u64(&l, "attempts", rec->attempts);
	put_raw(&l, "}\n");
	if (l.overflow) {
		set->dropped++;
		return;
	}
	append_line(set, f, l.buf, l.len);
}
