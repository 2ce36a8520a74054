/* One gRPC bidirectional stream to a control plane: HTTP/2 with prior
 * knowledge (h2c), or over TLS (ALPN h2), on a non-blocking socket, driven
 * by the main thread's event loop. gRPC framing is ours (a length prefix per message, status in
 * the trailers); HTTP/2 is nghttp2's. */
#ifndef SKIFF_XDS_GRPC_STREAM_H
#define SKIFF_XDS_GRPC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"
#include "proxy/loop.h"

struct grpc_stream;

struct grpc_stream_cbs {
	/* The HTTP/2 connection is up and the stream is open: send. */
	void (*on_open)(void *arg);
	/* One whole message; the bytes are valid during the call only. */
	void (*on_message)(void *arg, const uint8_t *msg, size_t len);
	/* The stream ended: grpc_status from the trailers (0 ok), or -1 when
	 * the connection failed, with a reason. The stream must then be freed
	 * (grpc_stream_free), not used. */
	void (*on_close)(void *arg, int grpc_status, const char *reason);
};

struct ssl_ctx_st;

/* Connects to addr and opens a stream on path ("/package.Service/Method"),
 * over TLS with tls_ctx (borrowed: it must outlive the stream; its
 * verification settings decide whom the control plane may be; sni may be
 * NULL) or over plaintext when tls_ctx is NULL. Messages over max_message
 * bytes end the stream (RESOURCE_EXHAUSTED). Returns 0 and the stream in
 * *out, or -errno. Callbacks come later, from the loop; a failed handshake
 * is an on_close with the TLS verdict as the reason. */
int grpc_stream_open(struct loop *loop, const struct sock_addr *addr, const char *authority,
		     struct ssl_ctx_st *tls_ctx, const char *sni, const char *path,
		     size_t max_message, const struct grpc_stream_cbs *cbs, void *arg,
		     struct grpc_stream **out);

/* Queues one message (copied). Returns 0 or -errno. */
int grpc_stream_send(struct grpc_stream *s, const uint8_t *msg, size_t len);

/* Sends an HTTP/2 PING when the connection has been quiet for
 * interval_ms, and ends the stream (on_close) when a PING goes unanswered
 * for timeout_ms: a control plane that vanished without a FIN is noticed.
 * A connection not up (TCP connect, TLS handshake) after interval_ms +
 * timeout_ms ends the same way. */
void grpc_stream_keepalive(struct grpc_stream *s, uint64_t now_ms, uint64_t interval_ms,
			   uint64_t timeout_ms);

/* Closes the connection and frees the stream. No callback follows. */
void grpc_stream_free(struct grpc_stream *s);

#endif
