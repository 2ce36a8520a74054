/* gRPC stream over nghttp2; see grpc_stream.h.
 *
 * The bytes cross a transport of proxy/transport.h: raw, or TLS (the ADS
 * cluster's UpstreamTlsContext) once its handshake has verified the control
 * plane's certificate as skiff verifies any upstream.
 *
 * Bytes in: read into a stack buffer, handed to nghttp2_session_mem_recv;
 * DATA of our stream is appended to `in` and cut into messages at their
 * 5-byte prefix (flag, big-endian length). Bytes out: messages are framed
 * into `out_q`, which the stream's data provider drains; nghttp2's frames
 * are written straight to the socket, and what the socket does not take
 * waits in `pending` until it is writable again. */
#include "xds/grpc_stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs/tls_context.h"
#include "proxy/list.h"
#include "proxy/transport.h"

#define GRPC_PREFIX 5
#define MAX_TRAILER_FIELDS 64
/* A full configuration can be large: let the server send it without
 * waiting for window updates, our bound is max_message. */
#define STREAM_WINDOW (16 << 20)

/* A growable byte buffer; `start` is the first unconsumed byte. */
struct bytes {
	uint8_t *data;
	size_t start, len, cap;
};

struct grpc_stream {
	struct io io;
	struct loop *loop;
	struct transport t;   /* set once connected */
	SSL_CTX *tls_ctx;     /* borrowed; NULL: plaintext (h2c) */
	char sni[256];
	nghttp2_session *h2;
	int32_t stream_id;
	bool connected;
	bool secured;         /* TLS handshake done (or plaintext) */
	bool closed; /* on_close was called */
	size_t max_message;
	struct bytes in;      /* DATA of the stream not yet cut into messages */
	struct bytes out_q;   /* framed messages not yet taken by nghttp2 */
	struct bytes pending; /* frames the socket has not taken */
	int grpc_status;
	char grpc_message[256];
	unsigned trailer_fields;
	uint64_t last_activity_ms;
	uint64_t ping_sent_ms; /* 0: no ping outstanding */
	char path[256], authority[256];
	const struct grpc_stream_cbs *cbs;
	void *arg;
};

static int bytes_append(struct bytes *b, const uint8_t *p, size_t n)
{
	if (b->start && b->start == b->len)
		b->start = b->len = 0;
	if (b->len + n > b->cap) {
		if (b->start) { /* compact before growing */
			memmove(b->data, b->data + b->start, b->len - b->start);
			b->len -= b->start;
			b->start = 0;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *grown = realloc(b->data, cap);
		if (!grown)
			return -ENOMEM;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static size_t bytes_avail(const struct bytes *b)
{
	return b->len - b->start;
}

static void fail(struct grpc_stream *s, int status, const char *reason)
{
	if (s->closed)
		return;
	s->closed = true;
	loop_del(s->loop, &s->io);
	s->cbs->on_close(s->arg, status, reason);
}

/* Cuts whole messages off `in` and hands them over. */
static int deliver_messages(struct grpc_stream *s)
{
	while (bytes_avail(&s->in) >= GRPC_PREFIX) {
		const uint8_t *p = s->in.data + s->in.start;
		uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
		if (p[0] != 0) {
			fail(s, -1, "compressed gRPC message (no grpc-encoding was offered)");
			return -EPROTO;
		}
		if (len > s->max_message) {
			char why[96];
			snprintf(why, sizeof(why), "gRPC message of %u bytes exceeds the %zu limit", len,
				 s->max_message);
			fail(s, -1, why);
			return -EMSGSIZE;
		}
		if (bytes_avail(&s->in) < GRPC_PREFIX + (size_t)len)
			return 0;
		s->in.start += GRPC_PREFIX + len;
		s->cbs->on_message(s->arg, p + GRPC_PREFIX, len);
		if (s->closed)
			return -ECANCELED;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *arg)
{
	(void)h2;
	(void)flags;
	struct grpc_stream *s = arg;
	if (id != s->stream_id || s->closed)
		return 0;
	if (bytes_avail(&s->in) + len > s->max_message + GRPC_PREFIX) {
		fail(s, -1, "gRPC message exceeds the size limit");
		return 0;
	}
	if (bytes_append(&s->in, data, len) < 0) {
		fail(s, -1, "out of memory");
		return 0;
	}
	deliver_messages(s);
	return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *arg)
{
	(void)h2;
	(void)flags;
	struct grpc_stream *s = arg;
	if (frame->hd.stream_id != s->stream_id)
		return 0;
	/* nghttp2 does not bound header counts itself (HARDENING.md). */
	if (++s->trailer_fields > MAX_TRAILER_FIELDS)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		char v[8] = { 0 };
		memcpy(v, value, valuelen < sizeof(v) - 1 ? valuelen : sizeof(v) - 1);
		s->grpc_status = atoi(v);
	} else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		size_t n = valuelen < sizeof(s->grpc_message) - 1 ? valuelen : sizeof(s->grpc_message) - 1;
		memcpy(s->grpc_message, value, n);
		s->grpc_message[n] = '\0';
	} else if (namelen == 7 && memcmp(name, ":status", 7) == 0 &&
		   !(valuelen == 3 && memcmp(value, "200", 3) == 0)) {
		snprintf(s->grpc_message, sizeof(s->grpc_message), "HTTP status %.*s", (int)valuelen,
			 (const char *)value);
		s->grpc_status = 14; /* UNAVAILABLE, as gRPC maps a non-200 */
	}
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *arg)
{
	(void)h2;
	struct grpc_stream *s = arg;
	if (id != s->stream_id)
		return 0;
	if (error_code != NGHTTP2_NO_ERROR && s->grpc_status == 0) {
		snprintf(s->grpc_message, sizeof(s->grpc_message), "stream reset: %s",
			 nghttp2_http2_strerror(error_code));
		s->grpc_status = 14;
	}
	fail(s, s->grpc_status, s->grpc_message[0] ? s->grpc_message : "stream ended");
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *arg)
{
	(void)h2;
	struct grpc_stream *s = arg;
	if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK))
		s->ping_sent_ms = 0;
	return 0;
}

static ssize_t read_out_q(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			  uint32_t *data_flags, nghttp2_data_source *source, void *arg)
{
	(void)h2;
	(void)id;
	(void)data_flags;
	(void)source;
	struct grpc_stream *s = arg;
	size_t n = bytes_avail(&s->out_q);
	if (n == 0)
		return NGHTTP2_ERR_DEFERRED; /* a bidirectional stream never ends from our side */
	if (n > length)
		n = length;
	memcpy(buf, s->out_q.data + s->out_q.start, n);
	s->out_q.start += n;
	return (ssize_t)n;
}

/* Writes what nghttp2 has to send, keeping what the socket refuses. */
static void flush(struct grpc_stream *s)
{
	while (!s->closed) {
		if (bytes_avail(&s->pending)) {
			enum transport_wait wait;
			ssize_t n = s->t.ops->write(&s->t, s->pending.data + s->pending.start,
						    bytes_avail(&s->pending), &wait);
			if (n == -EAGAIN || n == -EINTR)
				return;
			if (n < 0)
				return fail(s, -1, strerror((int)-n));
			s->pending.start += (size_t)n;
			continue;
		}
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(s->h2, &data);
		if (n < 0)
			return fail(s, -1, nghttp2_strerror((int)n));
		if (n == 0)
			return;
		if (bytes_append(&s->pending, data, (size_t)n) < 0)
			return fail(s, -1, "out of memory");
	}
}

static int start_session(struct grpc_stream *s)
{
	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	int rc = nghttp2_session_client_new(&s->h2, cbs, s);
	nghttp2_session_callbacks_del(cbs);
	if (rc != 0)
		return -ENOMEM;
	nghttp2_settings_entry settings[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384 },
	};
	nghttp2_submit_settings(s->h2, NGHTTP2_FLAG_NONE, settings,
				sizeof(settings) / sizeof(settings[0]));
	nghttp2_session_set_local_window_size(s->h2, NGHTTP2_FLAG_NONE, 0, STREAM_WINDOW);
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }
	nghttp2_nv headers[] = {
		NV(":method", "POST"),
		NV(":scheme", s->tls_ctx ? "https" : "http"),
		NV(":path", s->path),
		NV(":authority", s->authority),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
		NV("user-agent", "skiff"),
	};
#undef NV
	nghttp2_data_provider body = { .read_callback = read_out_q };
	s->stream_id = nghttp2_submit_request(s->h2, NULL, headers,
					      sizeof(headers) / sizeof(headers[0]), &body, s);
	return s->stream_id < 0 ? -EPROTO : 0;
}

/* After the TCP connect: the TLS handshake when there is a context.
 * Returns true once the stream may start, false while it waits (or failed:
 * s->closed). */
static bool secure(struct grpc_stream *s)
{
	if (s->secured)
		return true;
	if (!s->tls_ctx) {
		transport_init_raw(&s->t, s->io.fd);
		s->secured = true;
		return true;
	}
	if (!s->t.ops) {
		SSL *ssl = SSL_new(s->tls_ctx);
		if (!ssl) {
			ERR_clear_error();
			fail(s, -1, "out of memory for TLS");
			return false;
		}
		transport_init_tls(&s->t, s->io.fd, ssl);
		SSL_set_connect_state(ssl);
		if (s->sni[0])
			SSL_set_tlsext_host_name(ssl, s->sni);
	}
	enum transport_wait wait;
	int v = transport_tls_handshake(&s->t, &wait);
	if (v == TLS_VERDICT_PENDING)
		return false;
	if (v != TLS_VERDICT_OK) {
		char why[300];
		snprintf(why, sizeof(why), "TLS handshake with the control plane: %s%s%s",
			 tls_verdict_str((enum tls_verdict)v), *tls_verdict_detail(s->t.ssl) ? ": " : "",
			 tls_verdict_detail(s->t.ssl));
		fail(s, -1, why);
		return false;
	}
	s->secured = true;
	return true;
}

static void on_io(struct io *io, uint32_t events)
{
	struct grpc_stream *s = container_of(io, struct grpc_stream, io);
	if (s->closed)
		return;
	if (!s->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & (EPOLLERR | EPOLLHUP)))
			return fail(s, -1, strerror(err ? err : ECONNREFUSED));
		if (!(events & EPOLLOUT))
			return;
		s->connected = true;
	}
	if (!s->h2) {
		if (!secure(s))
			return;
		if (start_session(s) < 0)
			return fail(s, -1, "HTTP/2 session could not start");
		s->cbs->on_open(s->arg);
		if (s->closed)
			return;
	}
	for (;;) {
		uint8_t buf[16384];
		enum transport_wait wait;
		bool drained = false;
		ssize_t n = s->t.ops->read(&s->t, buf, sizeof(buf), &wait, &drained);
		if (n == -EAGAIN || n == -EINTR)
			break;
		if (n <= 0)
			return fail(s, -1, n == 0 ? "control plane closed the connection"
						  : strerror((int)-n));
		s->last_activity_ms = s->loop->now_ms;
		ssize_t used = nghttp2_session_mem_recv(s->h2, buf, (size_t)n);
		if (s->closed)
			return;
		if (used < 0)
			return fail(s, -1, nghttp2_strerror((int)used));
		if (drained)
			break;
	}
	flush(s);
}

int grpc_stream_open(struct loop *loop, const struct sock_addr *addr, const char *authority,
		     struct ssl_ctx_st *tls_ctx, const char *sni, const char *path,
		     size_t max_message, const struct grpc_stream_cbs *cbs, void *arg,
		     struct grpc_stream **out)
{
	struct grpc_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->tls_ctx = tls_ctx;
	snprintf(s->sni, sizeof(s->sni), "%s", sni ? sni : "");
	s->loop = loop;
	s->cbs = cbs;
	s->arg = arg;
	s->max_message = max_message;
	s->last_activity_ms = loop->now_ms;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->authority, sizeof(s->authority), "%s", authority);
	s->io = (struct io){ .fd = socket(addr->ss.ss_family,
					  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
			     .cb = on_io };
	int rc = s->io.fd < 0 ? -errno : 0;
	if (rc == 0) {
		int one = 1;
		setsockopt(s->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(s->io.fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 &&
		    errno != EINPROGRESS)
			rc = -errno;
	}
	if (rc == 0)
		rc = loop_add(loop, &s->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (rc) {
		s->closed = true;
		grpc_stream_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int grpc_stream_send(struct grpc_stream *s, const uint8_t *msg, size_t len)
{
	if (s->closed || !s->h2)
		return -ENOTCONN;
	uint8_t prefix[GRPC_PREFIX] = { 0, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
					(uint8_t)(len >> 8), (uint8_t)len };
	if (bytes_append(&s->out_q, prefix, sizeof(prefix)) < 0 ||
	    bytes_append(&s->out_q, msg, len) < 0)
		return -ENOMEM;
	nghttp2_session_resume_data(s->h2, s->stream_id);
	flush(s);
	return 0;
}

void grpc_stream_keepalive(struct grpc_stream *s, uint64_t now_ms, uint64_t interval_ms,
			   uint64_t timeout_ms)
{
	if (s->closed)
		return;
	/* Not up yet: a connect or TLS handshake that hangs (a peer that
	 * accepts and never answers) ends like an unanswered PING. */
	if (!s->h2) {
		if (now_ms - s->last_activity_ms >= interval_ms + timeout_ms)
			fail(s, -1, s->connected ? "TLS handshake with the control plane timed out"
						 : "connecting to the control plane timed out");
		return;
	}
	if (s->ping_sent_ms && now_ms - s->ping_sent_ms >= timeout_ms)
		return fail(s, -1, "control plane did not answer a keepalive PING");
	if (!s->ping_sent_ms && now_ms - s->last_activity_ms >= interval_ms) {
		nghttp2_submit_ping(s->h2, NGHTTP2_FLAG_NONE, NULL);
		s->ping_sent_ms = now_ms;
		s->last_activity_ms = now_ms;
		flush(s);
	}
}

void grpc_stream_free(struct grpc_stream *s)
{
	if (!s)
		return;
	if (!s->closed)
		loop_del(s->loop, &s->io);
	if (s->t.ops)
		s->t.ops->release(&s->t);
	if (s->io.fd >= 0)
		close(s->io.fd);
	nghttp2_session_del(s->h2);
	free(s->in.data);
	free(s->out_q.data);
	free(s->pending.data);
	free(s);
}
