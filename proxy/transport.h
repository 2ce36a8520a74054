/* Transports: how a connection's bytes cross its socket, plain or TLS. The
 * tcp_proxy codec above moves bytes through a transport's operation table
 * and never asks which one it has. */
#ifndef SKIFF_PROXY_TRANSPORT_H
#define SKIFF_PROXY_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ssl_st; /* OpenSSL's SSL */

/* What a transport that answered -EAGAIN waits for. TLS may need to write
 * to read, or read to write. */
enum transport_wait { TRANSPORT_WAIT_READ, TRANSPORT_WAIT_WRITE };

struct transport;

struct transport_ops {
	const char *name;
	/* Reads up to len bytes. Returns the count (> 0), 0 at the end of the
	 * peer's stream, -EAGAIN with *wait set, or another -errno when the
	 * connection failed. *drained is set when the transport knows nothing
	 * more is readable until the next readiness event. */
	ssize_t (*read)(struct transport *t, void *buf, size_t len, enum transport_wait *wait,
			bool *drained);
	/* Writes up to len bytes: the count (> 0), -EAGAIN with *wait set, or
	 * another -errno. */
	ssize_t (*write)(struct transport *t, const void *buf, size_t len,
			 enum transport_wait *wait);
	/* Ends our direction of the stream (FIN; close_notify first for TLS).
	 * Returns 0 once the FIN is sent, or -EAGAIN with *wait set while the
	 * close_notify waits for room in the socket: call again then, or the
	 * FIN would overtake it and the peer see a truncated stream. */
	int (*shutdown_write)(struct transport *t, enum transport_wait *wait);
	/* Frees what the transport owns. Does not close the fd. */
	void (*release)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	int fd;
	struct ssl_st *ssl; /* TLS only */
};

extern const struct transport_ops transport_raw;
extern const struct transport_ops transport_tls;

/* A plain transport over fd. */
void transport_init_raw(struct transport *t, int fd);

/* A TLS transport over fd for ssl (taken over: freed by release). The
 * handshake is the caller's to drive (transport_tls_handshake). */
void transport_init_tls(struct transport *t, int fd, struct ssl_st *ssl);

/* Drives the handshake. Returns the certs/tls_context.h verdict (an enum
 * tls_verdict as int); on PENDING, *wait says what to wait for. */
int transport_tls_handshake(struct transport *t, enum transport_wait *wait);

#endif
