/* The downstream side of the HTTP connection manager: one accepted
 * connection speaking HTTP/1.1 (our parser, h1_parser.h) or HTTP/2
 * (nghttp2 server session), turned into streams (http_stream.c). See
 * http_internal.h for how bytes and backpressure cross a stream. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "proxy/h2_limits.h"
#include "proxy/http.h"
#include "proxy/http_internal.h"
#include "proxy/log.h"
#include "proxy/orig_dst.h"
#include "proxy/snapshot.h"

/* Work per connection per turn before others get theirs. */
#define DOWN_BUDGET 16
/* Output queued before the codec stops producing more. */
#define OUT_LIMIT (128u * 1024u)
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24


static void down_run(struct http_down *d);

/* The worker is draining: no new connections, and those open wind down. */
static bool draining(const struct http_down *d)
{
	return atomic_load_explicit(&d->w->state, memory_order_relaxed) != WORKER_RUNNING;
}

static void down_schedule(struct http_down *d)
{
	struct http_worker *hw = http_worker_of(d->w);
	if (!d->dead && !list_linked(&d->ready))
		list_add_tail(&hw->ready_downs, &d->ready);
}

static void down_close(struct http_down *d, bool reset)
{
	if (d->dead)
		return;
	d->dead = true;
	struct http_worker *hw = http_worker_of(d->w);
	while (!list_empty(&d->streams)) {
		struct http_stream *s = container_of(d->streams.next, struct http_stream, down_link);
		http_stream_downstream_reset(s);
		http_stream_finish(s);
	}
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(d->s.io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else if (d->s.t.ssl) {
		/* A clean end says so (close_notify): without it the peer cannot
		 * tell our close from a cut connection. */
		enum transport_wait wait; /* closing now: no second try */
		d->s.t.ops->shutdown_write(&d->s.t, &wait);
	}
	close(d->s.io.fd);
	d->s.io.fd = -1;
	stats_add(d->lstats, STAT_CX_DESTROY, 1);
	if (list_linked(&d->ready))
		list_del(&d->ready);
	list_del(&d->all);
	list_add_tail(&hw->closed_downs, &d->all);
	d->w->n_sessions--;
	atomic_store_explicit(&d->w->live_sessions, d->w->n_sessions, memory_order_relaxed);
}

void http_down_abort(struct http_down *d)
{
	down_close(d, true);
}

void http_down_free(struct http_down *d)
{
	struct worker *w = d->w;
	if (d->h2)
		nghttp2_session_del(d->h2);
	buf_pool_put(&w->bufs, d->in);
	bodyq_free(&d->out, &w->bufs);
	d->s.t.ops->release(&d->s.t);
	worker_snap_release(w, d->ws);
	free(d);
}

/* ---------------------------------------------------------------- HTTP/1 */

static struct http_stream *h1_current(struct http_down *d)
{
	return list_empty(&d->streams) ? NULL
				       : container_of(d->streams.next, struct http_stream, down_link);
}

static int h1_on_message_begin(void *user)
{
	struct http_down *d = user;
	struct http_stream *s = http_stream_new(d);
	if (!s)
		return -1;
	d->parsing = s;
	return 0;
}

/* Splits an absolute-form target (http://host:port/path?q) into
 * :scheme, :authority and :path. */
static int set_absolute_target(struct http_stream *s, const char *t, size_t len)
{
	const char *sep = memchr(t, ':', len);
	if (!sep || (size_t)(t + len - sep) < 3 || sep[1] != '/' || sep[2] != '/')
		return -1;
	if (http_head_set_pseudo(&s->req, &s->req.scheme, t, (size_t)(sep - t)) < 0)
		return -1;
	const char *auth = sep + 3, *end = t + len;
	const char *path = auth;
	while (path < end && *path != '/' && *path != '?')
		path++;
	if (http_head_set_pseudo(&s->req, &s->req.authority, auth, (size_t)(path - auth)) < 0)
		return -1;
	if (path == end)
		return http_head_set_pseudo(&s->req, &s->req.path, "/", 1);
	if (*path == '?') {
		char buf[8192];
		size_t n = (size_t)(end - path);
		if (n + 1 > sizeof(buf))
			return -1;
		buf[0] = '/';
		memcpy(buf + 1, path, n);
		return http_head_set_pseudo(&s->req, &s->req.path, buf, n + 1);
	}
	return http_head_set_pseudo(&s->req, &s->req.path, path, (size_t)(end - path));
}

static int h1_on_request_line(void *user, const struct h1_request_line *rl)
{
	struct http_down *d = user;
	struct http_stream *s = d->parsing;
	s->h1_version_10 = rl->version_minor == 0;
	if (http_head_set_pseudo(&s->req, &s->req.method, rl->method.p, rl->method.len) < 0)
		return -1;
	switch (rl->form) {
	case H1_TARGET_ORIGIN:
		return http_head_set_pseudo(&s->req, &s->req.path, rl->target.p, rl->target.len);
	case H1_TARGET_ABSOLUTE:
		return set_absolute_target(s, rl->target.p, rl->target.len);
	case H1_TARGET_AUTHORITY:
		s->connect = true;
		return http_head_set_pseudo(&s->req, &s->req.authority, rl->target.p, rl->target.len);
	case H1_TARGET_ASTERISK:
		return http_head_set_pseudo(&s->req, &s->req.path, "*", 1);
	}
	return -1;
}

static bool name_is(struct h1_slice n, const char *lname)
{
	size_t len = strlen(lname);
	if (n.len != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n.p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != lname[i])
			return false;
	}
	return true;
}

static int h1_on_header(void *user, struct h1_slice name, struct h1_slice value)
{
	struct http_down *d = user;
	struct http_stream *s = d->parsing;
	if (name_is(name, "host")) {
		/* An absolute-form target wins over Host (RFC 9112 §3.2.2). */
		if (s->req.authority.p)
			return 0;
		return http_head_set_pseudo(&s->req, &s->req.authority, value.p, value.len);
	}
	if (name_is(name, "expect"))
		return 0; /* answered here: see on_headers_complete */
	return http_head_add(&s->req, name.p, name.len, value.p, value.len);
}

static int write_out(struct http_down *d, const char *p, size_t len)
{
	return bodyq_append(&d->out, &d->w->bufs, p, len);
}

static int h1_on_headers_complete(void *user, const struct h1_head *head)
{
	struct http_down *d = user;
	struct http_stream *s = d->parsing;
	s->has_content_length = head->framing == H1_FRAMING_LENGTH;
	s->content_length = head->content_length;
	s->upgrade = head->upgrade;
	s->req_end = head->framing == H1_FRAMING_NONE && !head->upgrade && !s->connect;
	if (!head->keep_alive)
		d->h1_close = true;
	/* Envoy's default: the proxy itself tells the client to go on, rather
	 * than waiting on the upstream's interim answer. */
	if (head->expect_continue && write_out(d, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
		return -1;
	if (!s->req.scheme.p) {
		const char *scheme = d->s.t.ssl ? "https" : "http";
		if (http_head_set_pseudo(&s->req, &s->req.scheme, scheme, strlen(scheme)) < 0)
			return -1;
	}
	http_stream_request_head(s);
	return 0;
}

static int h1_on_body(void *user, const char *data, size_t len)
{
	struct http_down *d = user;
	struct http_stream *s = d->parsing;
	s->req_bytes += len;
	if (s->phase == PHASE_DONE || s->local_reply)
		return 0; /* nobody will read it: drop, keep parsing */
	if (bodyq_append(&s->reqq, &d->w->bufs, data, len) < 0)
		return -1;
	if (s->replayable) {
		if (s->replay.bytes + len > HTTP_REPLAY_LIMIT) {
			s->replayable = false;
			bodyq_free(&s->replay, &d->w->bufs);
		} else if (bodyq_append(&s->replay, &d->w->bufs, data, len) < 0) {
			return -1;
		}
	}
	http_stream_request_data(s);
	if (s->reqq.bytes >= HTTP_QUEUE_LIMIT) {
		d->parse_paused = true;
		return H1_PAUSE;
	}
	return 0;
}

static int h1_on_trailer(void *user, struct h1_slice name, struct h1_slice value)
{
	struct http_down *d = user;
	return http_head_add(&d->parsing->req_trailers, name.p, name.len, value.p, value.len);
}

static int h1_on_message_complete(void *user)
{
	struct http_down *d = user;
	struct http_stream *s = d->parsing;
	/* An upgrade or CONNECT head is not the end: tunnel bytes follow. */
	if (!s->upgrade && !s->connect)
		s->req_end = true;
	d->parsing = NULL;
	http_stream_request_data(s);
	/* One request at a time: the next pipelined one waits in d->in until
	 * this response is out, which keeps responses in order. */
	d->parse_paused = true;
	return H1_PAUSE;
}

static const struct h1_callbacks h1_request_callbacks = {
	.on_message_begin = h1_on_message_begin,
	.on_request_line = h1_on_request_line,
	.on_header = h1_on_header,
	.on_headers_complete = h1_on_headers_complete,
	.on_body = h1_on_body,
	.on_trailer = h1_on_trailer,
	.on_message_complete = h1_on_message_complete,
};

/* A request the parser refused: answer with the status it maps to and
 * close (the bytes after it cannot be trusted to frame anything). */
static void h1_reject(struct http_down *d, enum h1_error e)
{
	stats_add(d->lstats, STAT_PROTOCOL_ERROR, 1);
	int status = h1_error_status(e);
	if (status < 400)
		status = 400;
	log_debug("conn=%llu bad request: %s", (unsigned long long)d->id, h1_error_name(e));
	struct http_stream *s = d->parsing ? d->parsing : h1_current(d);
	d->h1_close = true;
	d->parse_paused = true;
	if (s && !s->resp_head_sent && !s->resp_head_ready) {
		s->details = h1_error_name(e);
		if (!s->req_head_done) {
			/* Account it like Envoy: a request that got a local reply. */
			s->req_head_done = true;
			stats_add(d->lstats, STAT_RQ_TOTAL, 1);
		}
		s->req_end = true;
		http_stream_local_reply(s, (uint16_t)status, "DPE", h1_error_name(e), NULL);
		return;
	}
	if (!s) {
		char buf[160];
		int n = snprintf(buf, sizeof(buf),
				 "HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", status,
				 http_status_reason((uint16_t)status));
		write_out(d, buf, (size_t)n);
		d->closing = true;
		return;
	}
	down_close(d, true); /* a response is under way: nothing else to say */
}

/* Feeds d->in to the parser while it is not paused. */
static void h1_drive(struct http_down *d)
{
	while (!d->parse_paused && !d->closing && !d->dead) {
		uint32_t have = d->in ? buf_len(d->in) : 0;
		if (d->tunnel) {
			struct http_stream *s = h1_current(d);
			if (!s || !have)
				return;
			if (bodyq_append(&s->reqq, &d->w->bufs, d->in->data + d->in->start, have) < 0)
				return down_close(d, true);
			s->req_bytes += have;
			buf_consume(d->in, have);
			http_stream_request_data(s);
			if (s->reqq.bytes >= HTTP_QUEUE_LIMIT)
				d->parse_paused = true;
			return;
		}
		/* Called with no bytes too: a parser paused right after the last
		 * body byte still owes on_message_complete. */
		size_t used = 0;
		int rc = h1_parse(&d->parser, have ? d->in->data + d->in->start : "", have, &used);
		if (used)
			buf_consume(d->in, (uint32_t)used);
		if (rc == H1_PARSE_ERROR) {
			h1_reject(d, h1_parser_error(&d->parser));
			return;
		}
		if (rc == H1_PARSE_TUNNEL) {
			/* The request asked for an upgrade or CONNECT: what follows
			 * waits until the upstream says yes (tunnel) or no (resume). */
			d->parse_paused = true;
			return;
		}
		if (rc == H1_PARSE_OK) {
			/* An unfinished line: keep it at the front for more bytes. */
			if (d->in && d->in->start && buf_space(d->in) == 0) {
				uint32_t n = buf_len(d->in);
				memmove(d->in->data, d->in->data + d->in->start, n);
				d->in->start = 0;
				d->in->end = n;
			}
			return;
		}
	}
}

/* Serializes what the head-of-line stream has for the client. */
static void h1_produce(struct http_down *d)
{
	struct http_stream *s;
	while ((s = h1_current(d)) && d->out.bytes < OUT_LIMIT && !d->dead) {
		if (s->reset || (s->phase == PHASE_DONE && !s->resp_head_ready)) {
			/* HTTP/1 has no stream reset: the connection goes. */
			return down_close(d, true);
		}
		if (!s->resp_head_ready)
			return;
		if (!s->resp_head_sent) {
			char line[64];
			uint16_t st = s->resp.status;
			int n = snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\n", st, http_status_reason(st));
			if (write_out(d, line, (size_t)n) < 0)
				return down_close(d, true);
			bool has_cl = http_head_get(&s->resp, "content-length") != NULL;
			bool no_body = (st >= 100 && st < 200) || st == 204 || st == 304 ||
				       (s->req.method.p && strcmp(s->req.method.p, "HEAD") == 0);
			bool tunnel = (st == 101 && s->upgrade) ||
				      (s->connect && st >= 200 && st < 300);
			for (uint32_t i = 0; i < s->resp.n_fields; i++) {
				const struct http_field *f = &s->resp.fields[i];
				if (tunnel && (strcmp(f->name.p, "content-length") == 0 ||
					       strcmp(f->name.p, "transfer-encoding") == 0))
					continue;
				if (write_out(d, f->name.p, f->name.len) < 0 || write_out(d, ": ", 2) < 0 ||
				    write_out(d, f->value.p, f->value.len) < 0 || write_out(d, "\r\n", 2) < 0)
					return down_close(d, true);
			}
			if (s->h1_version_10 || draining(d))
				d->h1_close = true; /* draining: the client stops sending here */
			if (!tunnel && !has_cl && !no_body) {
				if (s->h1_version_10) {
					s->resp_close_delimited = true;
				} else {
					s->resp_chunked = true;
					write_out(d, "transfer-encoding: chunked\r\n", 28);
				}
			}
			if (d->h1_close && !tunnel)
				write_out(d, "connection: close\r\n", 19);
			if (write_out(d, "\r\n", 2) < 0)
				return down_close(d, true);
			s->resp_head_sent = true;
			if (tunnel) {
				d->tunnel = true;
				d->parse_paused = false; /* bytes after the request are the tunnel's */
			} else if (s->upgrade || s->connect) {
				/* Refused: the connection is HTTP/1 again. */
				s->upgrade = s->connect = false;
				h1_parser_resume(&d->parser);
				if (!s->req_end)
					d->h1_close = true;
			}
		}
		while (s->respq.bytes && d->out.bytes < OUT_LIMIT) {
			char chunk[16384];
			size_t n = bodyq_take(&s->respq, &d->w->bufs, chunk, sizeof(chunk));
			if (s->resp_chunked) {
				char hdr[24];
				int h = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
				write_out(d, hdr, (size_t)h);
			}
			if (write_out(d, chunk, n) < 0 || (s->resp_chunked && write_out(d, "\r\n", 2) < 0))
				return down_close(d, true);
			s->resp_bytes += s->local_reply ? 0 : n;
			http_up_response_consumed(s, n);
		}
		if (!s->resp_end || s->respq.bytes)
			return;
		if (s->resp_chunked) {
			write_out(d, "0\r\n", 3);
			for (uint32_t i = 0; i < s->resp_trailers.n_fields; i++) {
				const struct http_field *f = &s->resp_trailers.fields[i];
				write_out(d, f->name.p, f->name.len);
				write_out(d, ": ", 2);
				write_out(d, f->value.p, f->value.len);
				write_out(d, "\r\n", 2);
			}
			write_out(d, "\r\n", 2);
		}
		s->resp_sent_end = true;
		bool tunnel_done = d->tunnel;
		bool close_after = d->h1_close || s->resp_close_delimited || tunnel_done ||
				   !s->req_end;
		if (!s->req_end && d->parsing == s)
			d->parsing = NULL;
		s->phase = PHASE_DONE;
		http_stream_finish(s);
		if (close_after) {
			d->closing = true;
			return;
		}
		d->parse_paused = false;
		h1_drive(d);
	}
}

/* ---------------------------------------------------------------- HTTP/2 */

static struct http_stream *h2_stream(struct http_down *d, int32_t id)
{
	return nghttp2_session_get_stream_user_data(d->h2, id);
}

static int h2_on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	struct http_down *d = user;
	d->header_bytes = d->header_count = 0;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct http_stream *s = http_stream_new(d);
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->down_id = frame->hd.stream_id;
	nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, s);
	return 0;
}

static int h2_on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
			size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
	(void)h2;
	(void)flags;
	struct http_down *d = user;
	struct http_stream *s = h2_stream(d, frame->hd.stream_id);
	if (!s)
		return 0;
	/* nghttp2 does not enforce SETTINGS_MAX_HEADER_LIST_SIZE on what it
	 * receives (HARDENING.md): count fields and bytes here. */
	d->header_bytes += (uint32_t)(namelen + valuelen + 32);
	if (++d->header_count > d->hcm->max_headers_count ||
	    d->header_bytes > d->hcm->http2.max_header_list_bytes) {
		stats_add(d->lstats, STAT_PROTOCOL_ERROR, 1);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	const char *n = (const char *)name, *v = (const char *)value;
	if (s->req_head_done)
		return http_head_add(&s->req_trailers, n, namelen, v, valuelen) < 0
			       ? NGHTTP2_ERR_CALLBACK_FAILURE
			       : 0;
	int rc = 0;
	if (namelen && n[0] == ':') {
		struct http_str *dst = NULL;
		if (namelen == 7 && memcmp(n, ":method", 7) == 0)
			dst = &s->req.method;
		else if (namelen == 7 && memcmp(n, ":scheme", 7) == 0)
			dst = &s->req.scheme;
		else if (namelen == 10 && memcmp(n, ":authority", 10) == 0)
			dst = &s->req.authority;
		else if (namelen == 5 && memcmp(n, ":path", 5) == 0)
			dst = &s->req.path;
		if (dst)
			rc = http_head_set_pseudo(&s->req, dst, v, valuelen);
		/* :protocol (extended CONNECT) is not enabled: nghttp2 refuses it */
	} else if (namelen == 4 && memcmp(n, "host", 4) == 0) {
		if (!s->req.authority.p)
			rc = http_head_set_pseudo(&s->req, &s->req.authority, v, valuelen);
	} else {
		if (namelen == 14 && memcmp(n, "content-length", 14) == 0) {
			s->has_content_length = true;
			s->content_length = strtoull(v, NULL, 10); /* nghttp2 checked it */
		}
		rc = http_head_add(&s->req, n, namelen, v, valuelen);
	}
	return rc < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int h2_on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	(void)h2;
	struct http_down *d = user;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	struct http_stream *s = h2_stream(d, frame->hd.stream_id);
	if (!s)
		return 0;
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (frame->hd.type == NGHTTP2_HEADERS && !s->req_head_done) {
		s->req_end = end;
		if (s->req.method.p && strcmp(s->req.method.p, "CONNECT") == 0)
			s->connect = true;
		http_stream_request_head(s);
		return 0;
	}
	if (end) {
		s->req_end = true;
		http_stream_request_data(s);
	}
	return 0;
}

static int h2_on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
			    size_t len, void *user)
{
	(void)flags;
	struct http_down *d = user;
	struct http_stream *s = h2_stream(d, id);
	if (!s || s->phase == PHASE_DONE || s->local_reply) {
		/* Nobody takes these bytes: give the window back at once. */
		nghttp2_session_consume(h2, id, len);
		if (s)
			s->req_bytes += len;
		return 0;
	}
	s->req_bytes += len;
	if (bodyq_append(&s->reqq, &d->w->bufs, data, len) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (s->replayable) {
		if (s->replay.bytes + len > HTTP_REPLAY_LIMIT) {
			s->replayable = false;
			bodyq_free(&s->replay, &d->w->bufs);
		} else if (bodyq_append(&s->replay, &d->w->bufs, data, len) < 0) {
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
	}
	http_stream_request_data(s);
	return 0;
}

static int h2_on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user)
{
	(void)error_code;
	struct http_down *d = user;
	struct http_stream *s = h2_stream(d, id);
	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(h2, id, NULL);
	if (s->reqq.bytes)
		nghttp2_session_consume_connection(h2, s->reqq.bytes);
	if (!s->resp_sent_end)
		http_stream_downstream_reset(s);
	http_stream_finish(s);
	return 0;
}

static int h2_on_invalid_frame(nghttp2_session *h2, const nghttp2_frame *frame, int lib_error,
			       void *user)
{
	(void)h2;
	(void)frame;
	(void)lib_error;
	struct http_down *d = user;
	stats_add(d->lstats, STAT_PROTOCOL_ERROR, 1);
	return 0;
}

/* Ends the connection for abuse, counted once per connection under `stat`
 * (the GOAWAY nghttp2 sends on its own is counted in h2_on_frame_send). */
static void h2_abuse(struct http_down *d, enum stats_counter stat, uint32_t error_code)
{
	if (!d->abuse_counted)
		stats_add(d->lstats, stat, 1);
	d->abuse_counted = true;
	nghttp2_session_terminate_session(d->h2, error_code);
}

/* Frames with no payload and no END_STREAM move nothing yet cost a
 * callback each (Envoy's max_consecutive_inbound_frames_with_empty_payload;
 * nghttp2 has no limit of its own): too many in a row end the connection. */
static int h2_on_begin_frame(nghttp2_session *h2, const nghttp2_frame_hd *hd, void *user)
{
	(void)h2;
	struct http_down *d = user;
	if (hd->type != NGHTTP2_DATA && hd->type != NGHTTP2_HEADERS &&
	    hd->type != NGHTTP2_CONTINUATION)
		return 0;
	if (hd->length || (hd->flags & NGHTTP2_FLAG_END_STREAM)) {
		d->empty_frames = 0;
		return 0;
	}
	/* == : count the flood once, however many frames follow it */
	if (++d->empty_frames == d->hcm->http2.max_consecutive_empty_frames + 1ull)
		h2_abuse(d, STAT_H2_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
	return 0;
}

static int h2_on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	struct http_down *d = user;
	/* Frames queued since the peer last took any of our bytes: a peer
	 * that does not read gets cut off (Envoy's max_outbound_frames). */
	if (++d->frames_queued == d->hcm->http2.max_outbound_frames + 1ull)
		h2_abuse(d, STAT_H2_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
	if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
	    !d->abuse_counted) {
		/* nghttp2 ended the connection itself: a rapid-reset flood
		 * (ENHANCE_YOUR_CALM) or a protocol violation. */
		d->abuse_counted = true;
		stats_add(d->lstats, frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM
					     ? STAT_H2_FLOOD : STAT_PROTOCOL_ERROR, 1);
	}
	if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		struct http_stream *s = h2_stream(d, frame->hd.stream_id);
		if (s && !s->req_end)
			/* The response is complete before the request (a local
			 * reply such as a 408, or an early answer): ask the client
			 * to stop sending (RFC 9113 §8.1), or the stream would stay
			 * open for as long as it likes. */
			nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
						  NGHTTP2_NO_ERROR);
		return 0;
	}
	/* A NO_ERROR reset follows a complete response the client waited for:
	 * not the cheap provoked reset the budget below is for. */
	if (frame->hd.type != NGHTTP2_RST_STREAM || frame->rst_stream.error_code == NGHTTP2_NO_ERROR)
		return 0;
	/* Resets we are made to send (MadeYouReset, CVE-2025-8671): their own
	 * budget per connection and minute. */
	uint64_t now = d->w->loop.now_ms;
	if (now - d->reset_window_ms > 60000) {
		d->reset_window_ms = now;
		d->server_resets = 0;
	}
	if (++d->server_resets > d->hcm->http2.max_server_resets)
		h2_abuse(d, STAT_H2_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
	return 0;
}

static ssize_t h2_read_body(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
			    uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct http_down *d = user;
	struct http_stream *s = src->ptr;
	(void)id;
	size_t n = bodyq_take(&s->respq, &d->w->bufs, buf, len);
	if (n) {
		if (!s->local_reply)
			s->resp_bytes += n;
		http_up_response_consumed(s, n);
	}
	if (s->respq.bytes == 0 && s->resp_end) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->resp_sent_end = true;
		if (s->resp_trailers.n_fields) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_nv nva[64];
			size_t k = 0;
			for (uint32_t i = 0; i < s->resp_trailers.n_fields && k < 64; i++) {
				const struct http_field *f = &s->resp_trailers.fields[i];
				nva[k++] = (nghttp2_nv){ (uint8_t *)f->name.p, (uint8_t *)f->value.p,
							 f->name.len, f->value.len,
							 NGHTTP2_NV_FLAG_NO_COPY_NAME |
								 NGHTTP2_NV_FLAG_NO_COPY_VALUE };
			}
			nghttp2_submit_trailer(h2, s->down_id, nva, k);
		}
		return (ssize_t)n;
	}
	if (n == 0) {
		s->h2_deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static void h2_submit_head(struct http_down *d, struct http_stream *s)
{
	nghttp2_nv nva[128];
	size_t k = 0;
	/* Statuses are three digits (RFC 9110 §15; the parsers refuse others). */
	uint16_t code = s->resp.status;
	char status[3] = { (char)('0' + code / 100 % 10), (char)('0' + code / 10 % 10),
			   (char)('0' + code % 10) };
	nva[k++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3,
				 NGHTTP2_NV_FLAG_NO_COPY_NAME };
	for (uint32_t i = 0; i < s->resp.n_fields && k < 128; i++) {
		const struct http_field *f = &s->resp.fields[i];
		if (strcmp(f->name.p, "transfer-encoding") == 0)
			continue;
		nva[k++] = (nghttp2_nv){ (uint8_t *)f->name.p, (uint8_t *)f->value.p, f->name.len,
					 f->value.len,
					 NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE };
	}
	nghttp2_data_provider prd = { .source.ptr = s, .read_callback = h2_read_body };
	bool headers_only = s->resp_end && s->respq.bytes == 0 && s->resp_trailers.n_fields == 0;
	if (headers_only)
		s->resp_sent_end = true;
	int rv = nghttp2_submit_response(d->h2, s->down_id, nva, k, headers_only ? NULL : &prd);
	if (rv != 0) {
		nghttp2_submit_rst_stream(d->h2, NGHTTP2_FLAG_NONE, s->down_id, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	s->resp_head_sent = true;
}

static void h2_produce(struct http_down *d)
{
	struct list *n, *next;
	for (n = d->streams.next; n != &d->streams; n = next) {
		next = n->next;
		struct http_stream *s = container_of(n, struct http_stream, down_link);
		if (s->h2_reset_pending) {
			s->h2_reset_pending = false;
			nghttp2_submit_rst_stream(d->h2, NGHTTP2_FLAG_NONE, s->down_id,
						  NGHTTP2_INTERNAL_ERROR);
			continue;
		}
		if (s->resp_head_ready && !s->resp_head_sent) {
			h2_submit_head(d, s);
		} else if (s->h2_deferred && (s->respq.bytes || s->resp_end)) {
			s->h2_deferred = false;
			nghttp2_session_resume_data(d->h2, s->down_id);
		}
	}
	while (d->out.bytes < OUT_LIMIT) {
		const uint8_t *data;
		ssize_t len = nghttp2_session_mem_send(d->h2, &data);
		if (len < 0) {
			log_debug("conn=%llu http2: %s", (unsigned long long)d->id,
				  nghttp2_strerror((int)len));
			return down_close(d, true);
		}
		if (len == 0)
			break;
		if (write_out(d, (const char *)data, (size_t)len) < 0)
			return down_close(d, true);
	}
	if (!nghttp2_session_want_read(d->h2) && !nghttp2_session_want_write(d->h2) &&
	    d->out.bytes == 0)
		d->closing = true;
}

static int h2_start(struct http_down *d)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, h2_on_invalid_frame);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2_on_frame_send);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, h2_on_begin_frame);
	nghttp2_option *opt;
	int rc = h2_options_new(&opt, &d->hcm->http2);
	if (rc == 0) {
		rc = nghttp2_session_server_new2(&d->h2, cb, d, opt) ? -ENOMEM : 0;
		nghttp2_option_del(opt);
	}
	nghttp2_session_callbacks_del(cb);
	if (rc)
		return rc;
	return h2_submit_settings(d->h2, &d->hcm->http2, true) ? -ENOMEM : 0;
}

static void h2_feed(struct http_down *d)
{
	if (!d->in || !buf_len(d->in))
		return;
	ssize_t n = nghttp2_session_mem_recv(d->h2, (const uint8_t *)d->in->data + d->in->start,
					     buf_len(d->in));
	if (n < 0) {
		if (!d->abuse_counted)
			stats_add(d->lstats, n == NGHTTP2_ERR_FLOODED ? STAT_H2_FLOOD : STAT_PROTOCOL_ERROR,
				  1);
		d->abuse_counted = true;
		log_debug("conn=%llu http2: %s", (unsigned long long)d->id, nghttp2_strerror((int)n));
		/* Say why before going (GOAWAY), unless the peer is flooding us. */
		if (n != NGHTTP2_ERR_FLOODED) {
			nghttp2_session_terminate_session(d->h2, NGHTTP2_PROTOCOL_ERROR);
			h2_produce(d);
			d->closing = true;
			buf_consume(d->in, buf_len(d->in));
			return;
		}
		return down_close(d, true);
	}
	buf_consume(d->in, (uint32_t)n);
}

/* ------------------------------------------------------------ the driver */

/* Chooses HTTP/1 or HTTP/2: ALPN over TLS, the codec_type, or on a
 * plaintext AUTO listener the client's first bytes (the HTTP/2 preface
 * means prior knowledge, anything else is HTTP/1). Returns false while
 * more bytes are needed. */
static bool choose_protocol(struct http_down *d)
{
	enum http_proto p = HTTP_PROTO_NONE;
	if (d->hcm->codec == HTTP_CODEC_HTTP1) {
		p = HTTP_PROTO_H1;
	} else if (d->hcm->codec == HTTP_CODEC_HTTP2) {
		p = HTTP_PROTO_H2;
	} else if (d->s.t.ssl) {
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL_get0_alpn_selected(d->s.t.ssl, &alpn, &alen);
		p = alen == 2 && memcmp(alpn, "h2", 2) == 0 ? HTTP_PROTO_H2 : HTTP_PROTO_H1;
	}
	if (p == HTTP_PROTO_NONE) {
		size_t have = d->in ? buf_len(d->in) : 0;
		size_t cmp = have < H2_PREFACE_LEN ? have : H2_PREFACE_LEN;
		if (cmp && memcmp(d->in->data + d->in->start, H2_PREFACE, cmp) != 0)
			p = HTTP_PROTO_H1;
		else if (have >= H2_PREFACE_LEN)
			p = HTTP_PROTO_H2;
		else
			return false;
	}
	d->proto = p;
	stats_add(d->lstats, p == HTTP_PROTO_H2 ? STAT_HTTP2_CX : STAT_HTTP1_CX, 1);
	if (p == HTTP_PROTO_H2) {
		if (h2_start(d) < 0) {
			down_close(d, true);
			return false;
		}
	} else {
		struct h1_limits lim;
		h1_limits_default(&lim);
		lim.max_headers = d->hcm->max_headers_count;
		lim.max_head_bytes = d->hcm->max_request_headers_kb * 1024u;
		if (lim.max_head_bytes > BUF_SIZE - 1024)
			lim.max_head_bytes = BUF_SIZE - 1024;
		h1_parser_init(&d->parser, H1_REQUEST, &h1_request_callbacks, d, &lim);
	}
	return true;
}

static void produce(struct http_down *d)
{
	if (d->proto == HTTP_PROTO_H1)
		h1_produce(d);
	else if (d->proto == HTTP_PROTO_H2)
		h2_produce(d);
}

/* Writes what is queued; false when the connection failed. */
static bool flush(struct http_down *d)
{
	while (d->out.bytes && d->s.writable) {
		enum transport_wait wait;
		ssize_t n = bodyq_write(&d->out, &d->w->bufs, &d->s.t, &wait);
		if (n == -EAGAIN) {
			if (wait == TRANSPORT_WAIT_READ)
				d->s.readable = false;
			else
				d->s.writable = false;
			return true;
		}
		if (n < 0)
			return false;
		stats_add(d->lstats, STAT_TX_BYTES, (uint64_t)n);
		d->last_activity_ms = d->w->loop.now_ms;
	}
	return true;
}

/* Whether the codec wants more input now. */
static bool wants_input(const struct http_down *d)
{
	if (d->closing || d->dead)
		return false;
	if (d->proto == HTTP_PROTO_H1)
		return !d->parse_paused;
	/* HTTP/2 reads on while its output waits: what a peer that does not
	 * read makes us queue is bounded by flow control, the stream limit and
	 * the outbound frame limits, and those catch PING/SETTINGS floods. */
	return true;
}

static void down_run(struct http_down *d)
{
	for (int budget = DOWN_BUDGET; budget > 0 && !d->dead; budget--) {
		bool progress = false;
		if (d->s.readable && wants_input(d) && (!d->in || buf_space(d->in))) {
			if (!d->in && !(d->in = buf_pool_get(&d->w->bufs)))
				return down_close(d, true);
			enum transport_wait wait;
			bool drained = false;
			ssize_t n = d->s.t.ops->read(&d->s.t, d->in->data + d->in->end, buf_space(d->in),
						     &wait, &drained);
			if (n > 0) {
				d->in->end += (uint32_t)n;
				stats_add(d->lstats, STAT_RX_BYTES, (uint64_t)n);
				d->last_activity_ms = d->w->loop.now_ms;
				if (drained && !d->s.peer_closed)
					d->s.readable = false;
				progress = true;
			} else if (n == 0) {
				/* The client is done sending. HTTP/1: finish what is in
				 * flight only if the request was whole (half-close). */
				if (d->proto == HTTP_PROTO_H1 && d->parsing && !d->tunnel) {
					if (h1_parse_eof(&d->parser, buf_len(d->in)) == H1_PARSE_ERROR)
						return down_close(d, true);
				}
				struct http_stream *s = h1_current(d);
				if (d->tunnel && s) {
					s->req_end = true;
					http_stream_request_data(s);
					d->s.readable = false;
					d->s.peer_closed = false;
					d->parse_paused = true;
				} else if (list_empty(&d->streams) || d->proto != HTTP_PROTO_H1) {
					return down_close(d, false);
				} else {
					d->h1_close = true;
					d->s.readable = false;
				}
			} else if (n == -EAGAIN) {
				if (wait == TRANSPORT_WAIT_READ)
					d->s.readable = false;
				else
					d->s.writable = false;
			} else {
				return down_close(d, true);
			}
		}
		if (d->proto == HTTP_PROTO_NONE && !choose_protocol(d))
			return;
		if (d->dead)
			return;
		uint32_t unparsed = d->in ? buf_len(d->in) : 0;
		if (d->proto == HTTP_PROTO_H1)
			h1_drive(d);
		else
			h2_feed(d);
		if (d->dead)
			return;
		if (d->in && buf_len(d->in) < unparsed)
			progress = true; /* room to read again */
		produce(d);
		if (d->dead)
			return;
		uint64_t before = d->out.bytes;
		if (!flush(d))
			return down_close(d, true);
		if (d->out.bytes < before) {
			progress = true;
			/* The peer reads: what it has not taken yet is bounded by
			 * OUT_LIMIT. Only a peer that takes nothing runs the count
			 * up (a slow reader of a long download must not). */
			d->frames_queued = 0;
		}
		if (d->closing && d->out.bytes == 0)
			return down_close(d, false);
		if (!progress)
			return;
	}
	down_schedule(d);
}

void http_down_run_ready(struct http_down *d)
{
	down_run(d);
}

static void on_down_event(struct io *io, uint32_t events)
{
	struct http_down *d = container_of(io, struct http_down, s.io);
	if (d->dead)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		d->s.readable = true;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		d->s.peer_closed = true;
	if (events & EPOLLOUT)
		d->s.writable = true;
	if ((events & EPOLLERR) && d->proto == HTTP_PROTO_H1 && d->parse_paused) {
		/* The client reset the connection while its request is in
		 * flight: HTTP/1 reads nothing then, so without this the stream
		 * (and its upstream request) would run on until a write fails. */
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
			return down_close(d, true);
	}
	down_run(d);
}

void http_down_response_ready(struct http_stream *s)
{
	down_schedule(s->down);
}

void http_down_request_consumed(struct http_stream *s, size_t n)
{
	struct http_down *d = s->down;
	http_stream_touch(s);
	if (d->proto == HTTP_PROTO_H2) {
		if (s->down_id && nghttp2_session_get_stream_user_data(d->h2, s->down_id) == s) {
			nghttp2_session_consume(d->h2, s->down_id, n);
			down_schedule(d); /* WINDOW_UPDATE to send */
		}
		return;
	}
	if (d->parse_paused && s->reqq.bytes < HTTP_QUEUE_LIMIT / 2 && d->parsing == s) {
		d->parse_paused = false;
		down_schedule(d);
	} else if (d->tunnel && d->parse_paused && !s->req_end && s->reqq.bytes < HTTP_QUEUE_LIMIT / 2) {
		d->parse_paused = false;
		down_schedule(d);
	}
}

void http_down_stream_abort(struct http_stream *s)
{
	struct http_down *d = s->down;
	if (d->proto == HTTP_PROTO_H2)
		s->h2_reset_pending = true;
	down_schedule(d);
}

const struct sock_addr *http_down_original_dst(struct http_down *d)
{
	/* Asked on first use: only connections routed to an ORIGINAL_DST
	 * cluster pay the syscalls. */
	if (!d->orig_dst_known && d->s.io.fd >= 0) {
		d->orig_dst_known = true;
		d->has_orig_dst = orig_dst_get(d->s.io.fd, &d->listener->addr,
					       d->listener->use_original_dst, &d->orig_dst) == 0;
	}
	return d->has_orig_dst ? &d->orig_dst : NULL;
}

/* HTTP/2 drain: GOAWAY at once (no new streams; those open may finish),
 * then after the HCM's drain_timeout a last GOAWAY and the close, whatever
 * is still open. Streams past the GOAWAY's id were never processed, so the
 * client may retry them elsewhere (RFC 9113 §6.8). */
static void h2_drain(struct http_down *d, uint64_t now)
{
	if (!d->drain_deadline_ms) {
		d->drain_deadline_ms = now + d->hcm->drain_timeout_ms;
		if (!d->goaway_sent) {
			d->goaway_sent = true;
			nghttp2_submit_goaway(d->h2, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(d->h2),
					      NGHTTP2_NO_ERROR, NULL, 0);
			down_schedule(d);
		}
		return;
	}
	if (now < d->drain_deadline_ms)
		return;
	if (d->drain_expired)
		/* The last GOAWAY could not be written (a client that does not
		 * read): the bound holds anyway. */
		return down_close(d, true);
	d->drain_expired = true;
	struct list *n, *next;
	for (n = d->streams.next; n != &d->streams; n = next) {
		next = n->next;
		http_stream_reset(container_of(n, struct http_stream, down_link), "-", "drain_timeout");
	}
	nghttp2_session_terminate_session(d->h2, NGHTTP2_NO_ERROR);
	d->closing = true;
	down_schedule(d);
}

/* Timeouts of d and its streams; the worker's sweep. */
void http_down_sweep(struct http_down *d, uint64_t now)
{
	struct list *n, *next;
	for (n = d->streams.next; n != &d->streams; n = next) {
		next = n->next;
		struct http_stream *s = container_of(n, struct http_stream, down_link);
		http_stream_check_timeouts(s, now);
	}
	if (d->dead)
		return;
	if (draining(d) && d->proto == HTTP_PROTO_H2) {
		h2_drain(d, now);
		if (d->dead)
			return;
	}
	if (draining(d) && d->proto == HTTP_PROTO_H1 && list_empty(&d->streams))
		return down_close(d, false);
	uint32_t idle = d->hcm->idle_timeout_ms;
	if (list_empty(&d->streams) && idle && now - d->last_activity_ms >= idle) {
		stats_add(d->lstats, STAT_IDLE_TIMEOUT, 1);
		if (d->proto == HTTP_PROTO_H2 && !d->goaway_sent) {
			d->goaway_sent = true;
			nghttp2_submit_goaway(d->h2, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(d->h2),
					      NGHTTP2_NO_ERROR, NULL, 0);
			d->closing = true;
			down_schedule(d);
			return;
		}
		down_close(d, false);
	}
}

void http_down_adopt(const struct http_down_init *in)
{
	struct worker *w = in->w;
	struct http_worker *hw = http_worker_of(w);
	struct http_down *d = calloc(1, sizeof(*d));
	if (!d) {
		close(in->fd);
		in->t.ops->release((struct transport *)&in->t);
		stats_add(in->lstats, STAT_CX_DESTROY, 1);
		worker_snap_release(w, in->ws);
		return;
	}
	d->w = w;
	d->ws = in->ws;
	d->listener = in->listener;
	d->chain = in->chain;
	d->hcm = in->chain->http;
	d->lstats = in->lstats;
	d->id = in->id;
	d->start_unix_ms = in->start_unix_ms;
	d->last_activity_ms = w->loop.now_ms;
	d->s.t = in->t;
	d->s.io = (struct io){ .fd = in->fd, .cb = on_down_event };
	d->s.readable = d->s.writable = true;
	if (in->peer)
		d->peer = *in->peer;
	if (in->local)
		d->local = *in->local;
	d->peer_id = in->peer_id;
	list_init(&d->streams);
	list_init(&d->ready);
	list_add_tail(&hw->downs, &d->all);
	w->n_sessions++;
	atomic_store_explicit(&w->live_sessions, w->n_sessions, memory_order_relaxed);
	if (in->n_pending) {
		if (!(d->in = buf_pool_get(&w->bufs)))
			return down_close(d, true);
		memcpy(d->in->data, in->pending, in->n_pending);
		d->in->end = (uint32_t)in->n_pending;
	}
	/* tcp_proxy registered the socket with its own io: register ours
	 * (edge-triggered, so re-adding reports what is already pending). */
	loop_del(&w->loop, &d->s.io);
	if (loop_add(&w->loop, &d->s.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0)
		return down_close(d, true);
	down_run(d);
}
