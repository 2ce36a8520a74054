/* Tests proxy/transport.c: the TLS half-close. A close_notify that finds no
 * room must go out whole before the FIN: a peer that sees the FIN first
 * reads a truncated stream ("unexpected eof") and fails the connection
 * instead of passing the end of the stream on.
 *
 * The TLS records travel through an OpenSSL BIO pair whose buffer the test
 * sizes, so "the socket is full" is exact; the transport's fd is one end of
 * a socketpair, where the FIN (shutdown SHUT_WR) shows as end of file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "certs/dev_ca.h"
#include "proxy/transport.h"

/* What the client may hold unread by the server: small enough to fill. */
#define CLIENT_BUF 4096
/* A TLS 1.3 AEAD record: 5 header bytes, the inner content type, a 16-byte
 * tag. A close_notify alert is 2 bytes inside one: 24 in all. */
#define RECORD_OVERHEAD 22

struct pair {
	SSL_CTX *sctx, *cctx;
	SSL *server;
	struct transport client;
	int fin[2]; /* client.fd is fin[0]; fin[1] sees its FIN */
};

static SSL_CTX *server_ctx(void)
{
	EVP_PKEY *key = dev_ca_keygen();
	assert_non_null(key);
	char err[256];
	time_t now = time(NULL);
	struct dev_ca_cert_opts o = { .common_name = "transport test",
				      .not_before = now - 60,
				      .not_after = now + 3600 };
	X509 *cert = dev_ca_sign(&o, key, NULL, key, err, sizeof(err));
	assert_non_null(cert);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
}

static void pair_open(struct pair *p)
{
	p->sctx = server_ctx();
	p->cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(p->cctx, TLS1_3_VERSION);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fin), 0);
	SSL *client = SSL_new(p->cctx);
	p->server = SSL_new(p->sctx);
	transport_init_tls(&p->client, p->fin[0], client);
	BIO *cbio, *sbio;
	assert_int_equal(BIO_new_bio_pair(&cbio, CLIENT_BUF, &sbio, 1 << 16), 1);
	SSL_set_bio(client, cbio, cbio); /* records through the pair, not fin[0] */
	SSL_set_bio(p->server, sbio, sbio);
	SSL_set_connect_state(client);
	SSL_set_accept_state(p->server);
	for (int i = 0; i < 16 && !(SSL_is_init_finished(client) && SSL_is_init_finished(p->server)); i++) {
		SSL_do_handshake(client);
		SSL_do_handshake(p->server);
	}
	assert_true(SSL_is_init_finished(client) && SSL_is_init_finished(p->server));
	/* Each side takes what the other sent after the handshake (the
	 * client's Finished, the server's session tickets). */
	char b[64];
	size_t n;
	assert_int_equal(SSL_read_ex(p->server, b, sizeof(b), &n), 0);
	assert_int_equal(SSL_get_error(p->server, 0), SSL_ERROR_WANT_READ);
	assert_int_equal(SSL_read_ex(client, b, sizeof(b), &n), 0);
	assert_int_equal(SSL_get_error(client, 0), SSL_ERROR_WANT_READ);
}

static void pair_close(struct pair *p)
{
	p->client.ops->release(&p->client);
	SSL_free(p->server);
	SSL_CTX_free(p->sctx);
	SSL_CTX_free(p->cctx);
	close(p->fin[0]);
	close(p->fin[1]);
}

/* recv() on the far end of the client's fd: 0 once the FIN came, -EAGAIN
 * before. */
static int fin_seen(const struct pair *p)
{
	char c;
	ssize_t n = recv(p->fin[1], &c, 1, MSG_DONTWAIT);
	return n < 0 ? -errno : (int)n;
}

/* Everything readable on the server; returns the byte count, and in *end
 * how the read that found nothing ended (SSL_get_error). */
static size_t server_drain(struct pair *p, int *end)
{
	static char buf[CLIENT_BUF];
	size_t total = 0, n;
	while (SSL_read_ex(p->server, buf, sizeof(buf), &n) == 1)
		total += n;
	*end = SSL_get_error(p->server, 0);
	return total;
}

static void test_close_notify_without_room_holds_the_fin(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	SSL *client = p.client.ssl;
	size_t room = BIO_ctrl_get_write_guarantee(SSL_get_wbio(client));
	assert_true(room > 64);
	/* One record that leaves 10 bytes: the 24-byte alert cannot fit. */
	static char data[CLIENT_BUF];
	memset(data, 'x', sizeof(data));
	size_t len = room - RECORD_OVERHEAD - 10;
	enum transport_wait wait = TRANSPORT_WAIT_READ;
	assert_int_equal(p.client.ops->write(&p.client, data, len, &wait), (ssize_t)len);
	assert_int_equal(BIO_ctrl_get_write_guarantee(SSL_get_wbio(client)), 10);

	assert_int_equal(p.client.ops->shutdown_write(&p.client, &wait), -EAGAIN);
	assert_int_equal(wait, TRANSPORT_WAIT_WRITE);
	assert_int_equal(fin_seen(&p), -EAGAIN); /* the FIN waits for the alert */

	int end;
	assert_int_equal(server_drain(&p, &end), len);
	assert_int_equal(end, SSL_ERROR_WANT_READ); /* part of the alert only */

	assert_int_equal(p.client.ops->shutdown_write(&p.client, &wait), 0);
	assert_int_equal(fin_seen(&p), 0);
	assert_int_equal(server_drain(&p, &end), 0);
	assert_int_equal(end, SSL_ERROR_ZERO_RETURN); /* a clean end of stream */
	pair_close(&p);
}

static void test_close_notify_with_room_sends_the_fin_at_once(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	enum transport_wait wait;
	assert_int_equal(p.client.ops->write(&p.client, "hello", 5, &wait), 5);
	assert_int_equal(p.client.ops->shutdown_write(&p.client, &wait), 0);
	assert_int_equal(fin_seen(&p), 0);
	int end;
	assert_int_equal(server_drain(&p, &end), 5);
	assert_int_equal(end, SSL_ERROR_ZERO_RETURN);
	/* The server may still send after our half-close (TLS 1.3). */
	size_t n;
	assert_int_equal(SSL_write_ex(p.server, "back", 4, &n), 1);
	char buf[8];
	bool drained;
	assert_int_equal(p.client.ops->read(&p.client, buf, sizeof(buf), &wait, &drained), 4);
	assert_memory_equal(buf, "back", 4);
	pair_close(&p);
}

static void test_raw_shutdown_sends_the_fin(void **state)
{
	(void)state;
	int fd[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	struct transport t;
	transport_init_raw(&t, fd[0]);
	enum transport_wait wait;
	assert_int_equal(t.ops->shutdown_write(&t, &wait), 0);
	char c;
	assert_int_equal(recv(fd[1], &c, 1, MSG_DONTWAIT), 0);
	t.ops->release(&t);
	close(fd[0]);
	close(fd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_close_notify_without_room_holds_the_fin),
		cmocka_unit_test(test_close_notify_with_room_sends_the_fin_at_once),
		cmocka_unit_test(test_raw_shutdown_sends_the_fin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
