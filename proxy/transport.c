/* Plain and TLS transports; see transport.h. */
#include "proxy/transport.h"

#include <errno.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certs/tls_context.h"
#include "proxy/log.h"

static ssize_t raw_read(struct transport *t, void *buf, size_t len, enum transport_wait *wait,
			bool *drained)
{
	ssize_t n = read(t->fd, buf, len);
	if (n >= 0) {
		/* A short read emptied the socket buffer. */
		*drained = (size_t)n < len;
		return n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		*wait = TRANSPORT_WAIT_READ;
		return -EAGAIN;
	}
	return errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t raw_write(struct transport *t, const void *buf, size_t len,
			 enum transport_wait *wait)
{
	ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		*wait = TRANSPORT_WAIT_WRITE;
		return -EAGAIN;
	}
	return -errno;
}

static int raw_shutdown_write(struct transport *t, enum transport_wait *wait)
{
	(void)wait;
	shutdown(t->fd, SHUT_WR);
	return 0;
}

static void raw_release(struct transport *t)
{
	(void)t;
}

const struct transport_ops transport_raw = {
	.name = "raw",
	.read = raw_read,
	.write = raw_write,
	.shutdown_write = raw_shutdown_write,
	.release = raw_release,
};

void transport_init_raw(struct transport *t, int fd)
{
	*t = (struct transport){ .ops = &transport_raw, .fd = fd };
}

/* Maps an SSL_read/SSL_write result that is not a count. */
static ssize_t tls_error(struct transport *t, int ret, enum transport_wait *wait)
{
	int err = SSL_get_error(t->ssl, ret);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		*wait = TRANSPORT_WAIT_READ;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wait = TRANSPORT_WAIT_WRITE;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify: the peer's end of stream */
	default: {
		int sys = errno;
		unsigned long e = ERR_peek_error();
		char why[256];
		if (e)
			ERR_error_string_n(e, why, sizeof(why));
		/* The counters say only "reset": the reason is for whoever debugs. */
		log_debug("TLS connection on fd %d failed: %s", t->fd, e ? why : strerror(sys));
		ERR_clear_error(); /* the queue is per thread: leave it clean */
		return -ECONNRESET;
	}
	}
}

static ssize_t tls_read(struct transport *t, void *buf, size_t len, enum transport_wait *wait,
			bool *drained)
{
	/* A TLS record holds at most 16 KiB, so a short read says nothing about
	 * the socket: keep reading until OpenSSL wants more. */
	*drained = false;
	size_t n = 0;
	int ret = SSL_read_ex(t->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return tls_error(t, ret, wait);
}

static ssize_t tls_write(struct transport *t, const void *buf, size_t len,
			 enum transport_wait *wait)
{
	size_t n = 0;
	int ret = SSL_write_ex(t->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	ssize_t r = tls_error(t, ret, wait);
	return r == 0 ? -EPIPE : r;
}

static int tls_shutdown_write(struct transport *t, enum transport_wait *wait)
{
	/* close_notify ends only our direction in TLS 1.3: the peer may go on
	 * sending, as after a TCP half-close. A full socket leaves the alert
	 * (or part of it) in OpenSSL's buffer; the next call flushes it and
	 * returns 0 without reading, so the FIN waits until then. */
	if (SSL_shutdown(t->ssl) < 0 && SSL_get_error(t->ssl, -1) == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		*wait = TRANSPORT_WAIT_WRITE;
		return -EAGAIN;
	}
	ERR_clear_error();
	shutdown(t->fd, SHUT_WR);
	return 0;
}

static void tls_release(struct transport *t)
{
	SSL_free(t->ssl);
	t->ssl = NULL;
}

const struct transport_ops transport_tls = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.shutdown_write = tls_shutdown_write,
	.release = tls_release,
};

void transport_init_tls(struct transport *t, int fd, struct ssl_st *ssl)
{
	*t = (struct transport){ .ops = &transport_tls, .fd = fd, .ssl = ssl };
	/* Partial writes keep our buffer bound; released buffers keep an idle
	 * TLS connection from holding OpenSSL's 34 KiB of record buffers. */
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	SSL_set_fd(ssl, fd);
}

int transport_tls_handshake(struct transport *t, enum transport_wait *wait)
{
	int ret = SSL_do_handshake(t->ssl);
	enum tls_verdict v = tls_handshake_verdict(t->ssl, ret);
	if (v == TLS_VERDICT_PENDING)
		*wait = SSL_get_error(t->ssl, ret) == SSL_ERROR_WANT_WRITE ? TRANSPORT_WAIT_WRITE
									    : TRANSPORT_WAIT_READ;
	return (int)v;
}
