/* certs/tls_context.c: real handshakes between a server and a client SSL
 * joined by an in-memory BIO pair, one per accepted or refused case. */
#include "test/unit/certs/helpers.h"

#include <errno.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "certs/tls_context.h"

#define ID_SERVER "spiffe://example.org/ns/default/sa/server"
#define ID_CLIENT "spiffe://example.org/ns/default/sa/client"
#define CERTS_TEST_PEM_MAX 65536

/* Everything a test may pick from: a good CA and identities for both ends,
 * and a second CA of the same trust domain that nobody trusts. */
static struct test_ca ca, rogue_ca;
static char *dir;
static struct tls_identity *server_id, *client_id;
static EVP_PKEY *key;

static struct tls_identity *make_identity(const struct test_ca *issuer, const char *id_str,
					  const char *sub)
{
	char path[256], err[512] = "";
	struct tls_identity *id = NULL;
	X509 *leaf = test_leaf(issuer, key, id_str);

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	assert_int_equal(mkdir(path, 0700), 0);
	test_write_identity(path, leaf, NULL, key, ca.cert);
	X509_free(leaf);
	if (issuer != &ca) {
		/* A rogue leaf does not verify against our bundle, so load it
		 * with the rogue bundle: it trusts itself, we do not. */
		X509 *b = issuer->cert;

		assert_int_equal(
		    dev_ca_write_certs(test_path(0, path, "ca.pem"), &b, 1, err, sizeof(err)), 0);
	}
	if (tls_identity_load(test_path(0, path, "cert.pem"), test_path(1, path, "key.pem"),
			      test_path(2, path, "ca.pem"), &id, err, sizeof(err)) != 0)
		fail_msg("load %s: %s", sub, err);
	return id;
}

static int setup(void **state)
{
	(void)state;
	dir = test_tmpdir();
	key = dev_ca_keygen();
	test_ca_new(&ca, "mesh CA");
	test_ca_new(&rogue_ca, "rogue CA");
	server_id = make_identity(&ca, ID_SERVER, "server");
	client_id = make_identity(&ca, ID_CLIENT, "client");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tls_identity_unref(server_id);
	tls_identity_unref(client_id);
	test_ca_free(&ca);
	test_ca_free(&rogue_ca);
	EVP_PKEY_free(key);
	test_rmdir(dir);
	return 0;
}

static SSL_CTX *server_ctx(const struct tls_identity *id, const struct tls_server_opts *o)
{
	char err[512] = "";
	SSL_CTX *ctx = tls_server_ctx_new(id, o, err, sizeof(err));

	if (!ctx)
		fail_msg("server ctx: %s", err);
	return ctx;
}

static SSL_CTX *client_ctx(const struct tls_identity *id, const struct tls_client_opts *o)
{
	char err[512] = "";
	SSL_CTX *ctx = tls_client_ctx_new(id, o, err, sizeof(err));

	if (!ctx)
		fail_msg("client ctx: %s", err);
	return ctx;
}

/* A client built without tls_client_ctx_new(): it presents `leaf` (or
 * nothing), offers `alpn` (wire format, or nothing) and trusts anyone —
 * the misbehaving peers a server must refuse. */
static SSL_CTX *raw_client_ctx(X509 *leaf, EVP_PKEY *k, const char *alpn, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	SSL_CTX_set_app_data(ctx, "raw");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (leaf) {
		assert_int_equal(SSL_CTX_use_certificate(ctx, leaf), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
	}
	if (alpn)
		assert_int_equal(
		    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)alpn, strlen(alpn)), 0);
	if (max_version)
		assert_true(SSL_CTX_set_max_proto_version(ctx, max_version));
	return ctx;
}

/* The same on the server side, for refusals a client must make. It has no
 * ALPN callback, so it never selects a protocol. */
static SSL_CTX *raw_server_ctx(X509 *leaf, EVP_PKEY *k)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	SSL_CTX_set_app_data(ctx, "raw");
	assert_int_equal(SSL_CTX_use_certificate(ctx, leaf), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
	return ctx;
}

struct conn {
	SSL *client, *server;
	enum tls_verdict cv, sv;
};

/* Runs both handshakes to their end (or until neither makes progress). */
static void handshake(struct conn *c, SSL_CTX *cctx, SSL_CTX *sctx)
{
	BIO *cb, *sb;

	c->client = SSL_new(cctx);
	c->server = SSL_new(sctx);
	assert_non_null(c->client);
	assert_non_null(c->server);
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c->client, cb, cb);
	SSL_set_bio(c->server, sb, sb);
	SSL_set_connect_state(c->client);
	SSL_set_accept_state(c->server);
	c->cv = c->sv = TLS_VERDICT_PENDING;
}

/* One handshake step. A raw peer (no tls_*_ctx_new context) gets a plain
 * verdict: done, pending, or failed. */
static enum tls_verdict step(SSL *ssl)
{
	int rc = SSL_do_handshake(ssl);

	if (!SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)))
		return tls_handshake_verdict(ssl, rc);
	if (rc == 1)
		return TLS_VERDICT_OK;
	rc = SSL_get_error(ssl, rc);
	return rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE ? TLS_VERDICT_PENDING
								       : TLS_VERDICT_PROTOCOL;
}

static void run(struct conn *c)
{
	for (int i = 0; i < 50 && (c->cv == TLS_VERDICT_PENDING || c->sv == TLS_VERDICT_PENDING);
	     i++) {
		if (c->cv == TLS_VERDICT_PENDING)
			c->cv = step(c->client);
		if (c->sv == TLS_VERDICT_PENDING)
			c->sv = step(c->server);
	}
}

/* TLS 1.3 clients finish before the server has checked their certificate;
 * a refusal reaches them as an alert on their first read. */
static bool client_read_fails(struct conn *c)
{
	char buf[16];

	for (int i = 0; i < 4; i++) {
		int r = SSL_read(c->client, buf, sizeof(buf));

		if (r > 0)
			return false;
		if (SSL_get_error(c->client, r) != SSL_ERROR_WANT_READ)
			return true;
		SSL_read(c->server, buf, sizeof(buf));
	}
	return false;
}

static void conn_free(struct conn *c)
{
	/* Freed without close_notify, a session is marked not resumable
	 * (OpenSSL treats it as possibly truncated): close cleanly. */
	if (c->cv == TLS_VERDICT_OK)
		SSL_shutdown(c->client);
	SSL_free(c->client);
	SSL_free(c->server);
	ERR_clear_error();
}

static void expect(enum tls_verdict got, enum tls_verdict want, const char *side, SSL *ssl)
{
	if (got != want)
		fail_msg("%s verdict %s (%s), want %s", side, tls_verdict_str(got),
			 ssl ? tls_verdict_detail(ssl) : "", tls_verdict_str(want));
}

/* Exchanges a few bytes both ways, which also delivers TLS 1.3 tickets. */
static void exchange(struct conn *c)
{
	char buf[8];

	assert_int_equal(SSL_write(c->client, "ping", 4), 4);
	assert_int_equal(SSL_read(c->server, buf, sizeof(buf)), 4);
	assert_int_equal(SSL_write(c->server, "pong", 4), 4);
	assert_int_equal(SSL_read(c->client, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
}

static void test_mutual_ok(void **state)
{
	SSL_CTX *sctx = server_ctx(server_id, NULL), *cctx = client_ctx(client_id, NULL);
	struct conn c;
	const unsigned char *alpn;
	unsigned int alpn_len;
	size_t len;

	(void)state;
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.cv, TLS_VERDICT_OK, "client", c.client);
	expect(c.sv, TLS_VERDICT_OK, "server", c.server);
	assert_null(tls_refused_peer_id(c.server, NULL));
	assert_string_equal(tls_peer_spiffe_id(c.server, &len), ID_CLIENT);
	assert_int_equal(len, strlen(ID_CLIENT));
	assert_string_equal(tls_peer_spiffe_id(c.client, NULL), ID_SERVER);
	assert_int_equal(SSL_version(c.server), TLS1_3_VERSION);
	SSL_get0_alpn_selected(c.server, &alpn, &alpn_len);
	assert_int_equal(alpn_len, 2);
	assert_memory_equal(alpn, "h2", 2);
	/* The server sends its leaf only, never the root from its store. */
	assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(c.client)), 1);
	assert_true(SSL_CTX_get_options(sctx) & SSL_OP_NO_RENEGOTIATION);
	assert_true(SSL_CTX_get_options(cctx) & SSL_OP_NO_RENEGOTIATION);
	exchange(&c);
	conn_free(&c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void test_expected_ids(void **state)
{
	const char *const want_other[] = {"spiffe://example.org/ns/default/sa/other"};
	const char *const want_server[] = {"spiffe://example.org/ns/default/sa/x", ID_SERVER};
	struct tls_client_opts copts = {.peer = {want_other, 1, NULL}};
	struct tls_peer_match right = {want_server, 2, NULL};
	struct tls_peer_match bad = {(const char *const[]){"spiffe://Bad/x"}, 1, NULL};
	SSL_CTX *sctx = server_ctx(server_id, NULL), *cctx = client_ctx(client_id, &copts);
	struct conn c;

	(void)state;
	/* The client expects another server id: refused in the handshake. */
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.cv, TLS_VERDICT_ID_MISMATCH, "client", c.client);
	assert_null(tls_peer_spiffe_id(c.client, NULL));
	assert_string_equal(tls_refused_peer_id(c.client, NULL), ID_SERVER);
	assert_int_not_equal(c.sv, TLS_VERDICT_OK);
	conn_free(&c);

	/* A per-connection match overrides the context's. */
	handshake(&c, cctx, sctx);
	assert_int_equal(tls_set_peer_match(c.client, &bad), -EINVAL);
	assert_int_equal(tls_set_peer_match(c.client, &right), 0);
	run(&c);
	expect(c.cv, TLS_VERDICT_OK, "client", c.client);
	expect(c.sv, TLS_VERDICT_OK, "server", c.server);
	conn_free(&c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);

	/* A server accepting only another trust domain refuses our client. */
	struct tls_server_opts sopts = {.peer = {NULL, 0, "other.org"}};

	sctx = server_ctx(server_id, &sopts);
	cctx = client_ctx(client_id, NULL);
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_ID_MISMATCH, "server", c.server);
	assert_true(client_read_fails(&c));
	conn_free(&c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_wrong_ca(void **state)
{
	struct tls_identity *rogue = make_identity(&rogue_ca, ID_CLIENT, "rogue");
	SSL_CTX *sctx = server_ctx(server_id, NULL), *cctx = client_ctx(rogue, NULL);
	struct conn c;

	(void)state;
	/* Both ends are handed each other's strangers: the client (trusting
	 * the rogue CA) refuses our server, and the server refuses a client
	 * from the rogue CA. */
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.cv, TLS_VERDICT_UNTRUSTED, "client", c.client);
	conn_free(&c);
	SSL_CTX_free(cctx);

	X509 *leaf = test_leaf(&rogue_ca, key, ID_CLIENT);

	cctx = raw_client_ctx(leaf, key, "\x02h2", 0);
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_UNTRUSTED, "server", c.server);
	assert_string_equal(tls_verdict_detail(c.server), "unable to get local issuer certificate");
	assert_true(client_read_fails(&c));
	conn_free(&c);
	X509_free(leaf);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	tls_identity_unref(rogue);
}

static void test_no_client_cert(void **state)
{
	SSL_CTX *sctx = server_ctx(server_id, NULL);
	SSL_CTX *cctx = raw_client_ctx(NULL, NULL, "\x02h2", 0);
	struct conn c;

	(void)state;
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_NO_PEER_CERT, "server", c.server);
	assert_true(client_read_fails(&c));
	conn_free(&c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* Client certificates the server must refuse, each for its own reason. */
static void test_bad_client_certs(void **state)
{
	struct dev_ca_san one = {GEN_URI, ID_CLIENT, strlen(ID_CLIENT)};
	struct dev_ca_san two[] = {one, {GEN_URI, ID_SERVER, strlen(ID_SERVER)}};
	struct {
		const char *desc;
		X509 *leaf;
		enum tls_verdict want;
	} cases[] = {
	    {"expired", test_cert(&ca, key, false, &one, 1, -2 * HOUR, -HOUR), TLS_VERDICT_EXPIRED},
	    {"not yet valid", test_cert(&ca, key, false, &one, 1, HOUR, 2 * HOUR),
	     TLS_VERDICT_NOT_YET_VALID},
	    {"two URI SANs", test_cert(&ca, key, false, two, 2, -60, HOUR), TLS_VERDICT_BAD_SVID},
	    {"no URI SAN", test_cert(&ca, key, false, NULL, 0, -60, HOUR), TLS_VERDICT_BAD_SVID},
	};
	SSL_CTX *sctx = server_ctx(server_id, NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		SSL_CTX *cctx = raw_client_ctx(cases[i].leaf, key, "\x02h2", 0);
		struct conn c;

		handshake(&c, cctx, sctx);
		run(&c);
		if (c.sv != cases[i].want)
			fail_msg("%s: server verdict %s (%s)", cases[i].desc, tls_verdict_str(c.sv),
				 tls_verdict_detail(c.server));
		assert_null(tls_peer_spiffe_id(c.server, NULL));
		assert_true(client_read_fails(&c));
		conn_free(&c);
		SSL_CTX_free(cctx);
		X509_free(cases[i].leaf);
	}
	SSL_CTX_free(sctx);
}

/* The client refuses an expired server certificate too. */
static void test_expired_server(void **state)
{
	struct dev_ca_san one = {GEN_URI, ID_SERVER, strlen(ID_SERVER)};
	X509 *leaf = test_cert(&ca, key, false, &one, 1, -2 * HOUR, -HOUR);
	SSL_CTX *sctx = raw_server_ctx(leaf, key);
	SSL_CTX *cctx = client_ctx(client_id, NULL);
	struct conn c;

	(void)state;
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.cv, TLS_VERDICT_EXPIRED, "client", c.client);
	conn_free(&c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	X509_free(leaf);
}

static void test_versions(void **state)
{
	X509 *leaf = test_leaf(&ca, key, ID_CLIENT);
	SSL_CTX *sctx = server_ctx(server_id, NULL);
	SSL_CTX *cctx = raw_client_ctx(leaf, key, "\x02h2", TLS1_2_VERSION);
	struct conn c;

	(void)state;
	/* TLS 1.3 minimum: a 1.2-only client is refused. */
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_PROTOCOL, "server", c.server);
	assert_string_equal(tls_verdict_detail(c.server), "unsupported protocol");
	assert_int_not_equal(c.cv, TLS_VERDICT_OK);
	conn_free(&c);
	SSL_CTX_free(sctx);

	/* Allowed by option, 1.2 negotiates a forward-secret AEAD suite. */
	struct tls_server_opts sopts = {.min_version = TLS1_2_VERSION};

	sctx = server_ctx(server_id, &sopts);
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_OK, "server", c.server);
	assert_int_equal(SSL_version(c.server), TLS1_2_VERSION);
	assert_string_equal(SSL_get_cipher_name(c.server), "ECDHE-ECDSA-AES128-GCM-SHA256");
	conn_free(&c);
	SSL_CTX_free(cctx);

	/* ... and never a CBC one, even when the client offers nothing else. */
	cctx = raw_client_ctx(leaf, key, "\x02h2", TLS1_2_VERSION);
	assert_true(
	    SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"));
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_PROTOCOL, "server", c.server);
	assert_string_equal(tls_verdict_detail(c.server), "no shared cipher");
	conn_free(&c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);

	/* Only 1.2 and 1.3 are valid minimums. */
	char err[128];
	struct tls_server_opts old = {.min_version = TLS1_1_VERSION};

	assert_null(tls_server_ctx_new(server_id, &old, err, sizeof(err)));
	X509_free(leaf);
}

static void test_alpn(void **state)
{
	X509 *leaf = test_leaf(&ca, key, ID_CLIENT);
	const char *const spdy[] = {"spdy/3"};
	struct tls_client_opts spdy_opts = {.alpn = spdy, .n_alpn = 1};
	SSL_CTX *sctx = server_ctx(server_id, NULL);
	SSL_CTX *cctx = client_ctx(client_id, &spdy_opts);
	struct conn c;

	(void)state;
	/* No id in common: refused with no_application_protocol, which our
	 * client counts as such. */
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_NO_ALPN, "server", c.server);
	expect(c.cv, TLS_VERDICT_NO_ALPN, "client", c.client);
	conn_free(&c);
	SSL_CTX_free(cctx);

	/* No ALPN at all: refused too, unless the listener allows it. */
	cctx = raw_client_ctx(leaf, key, NULL, 0);
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_NO_ALPN, "server", c.server);
	conn_free(&c);
	SSL_CTX_free(sctx);

	struct tls_server_opts lax = {.allow_no_alpn = true};

	sctx = server_ctx(server_id, &lax);
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.sv, TLS_VERDICT_OK, "server", c.server);
	conn_free(&c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);

	/* The mesh TCP id is chosen when that is all the client offers. */
	const char *const tcp[] = {TLS_ALPN_MESH_TCP};
	struct tls_client_opts copts = {.alpn = tcp, .n_alpn = 1};
	const unsigned char *sel;
	unsigned int sel_len;

	sctx = server_ctx(server_id, NULL);
	cctx = client_ctx(client_id, &copts);
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.cv, TLS_VERDICT_OK, "client", c.client);
	SSL_get0_alpn_selected(c.client, &sel, &sel_len);
	assert_int_equal(sel_len, strlen(TLS_ALPN_MESH_TCP));
	assert_memory_equal(sel, TLS_ALPN_MESH_TCP, sel_len);
	conn_free(&c);
	SSL_CTX_free(sctx);

	/* A server that selects nothing is refused by our client. */
	X509 *sleaf = test_leaf(&ca, key, ID_SERVER);

	sctx = raw_server_ctx(sleaf, key);
	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.cv, TLS_VERDICT_NO_ALPN, "client", c.client);
	conn_free(&c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(sleaf);
	X509_free(leaf);
}

/* One full handshake, then resumption with its ticket. */
static SSL_SESSION *first_session(SSL_CTX *cctx, SSL_CTX *sctx, bool resumable)
{
	struct conn c;
	SSL_SESSION *sess;

	handshake(&c, cctx, sctx);
	run(&c);
	expect(c.cv, TLS_VERDICT_OK, "client", c.client);
	expect(c.sv, TLS_VERDICT_OK, "server", c.server);
	exchange(&c);
	sess = SSL_get1_session(c.client);
	assert_non_null(sess);
	assert_int_equal(SSL_SESSION_is_resumable(sess), resumable);
	conn_free(&c);
	return sess;
}

/* Connects with `*sess`; on success replaces `*sess` by the session of the
 * new connection (a client uses each TLS 1.3 ticket once). Returns whether
 * the handshake was a resumption. */
static bool resumes(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION **sess,
		    const struct tls_peer_match *m, enum tls_verdict *cv)
{
	struct conn c;
	bool reused;

	handshake(&c, cctx, sctx);
	assert_int_equal(SSL_set_session(c.client, *sess), 1);
	if (m)
		assert_int_equal(tls_set_peer_match(c.client, m), 0);
	run(&c);
	*cv = c.cv;
	reused = SSL_session_reused(c.client);
	if (c.cv == TLS_VERDICT_OK) {
		expect(c.sv, TLS_VERDICT_OK, "server", c.server);
		/* The ids are known on both sides without a verify pass. */
		assert_string_equal(tls_peer_spiffe_id(c.server, NULL), ID_CLIENT);
		assert_string_equal(tls_peer_spiffe_id(c.client, NULL), ID_SERVER);
		exchange(&c);
		SSL_SESSION_free(*sess);
		*sess = SSL_get1_session(c.client);
	}
	conn_free(&c);
	return reused;
}

static void test_resumption(void **state)
{
	struct tls_ticket_keys *keys = tls_ticket_keys_new();
	struct tls_server_opts sopts = {.tickets = keys};
	SSL_CTX *sctx = server_ctx(server_id, &sopts), *cctx = client_ctx(client_id, NULL);
	SSL_CTX *sctx2 = server_ctx(server_id, &sopts);
	enum tls_verdict cv;
	SSL_SESSION *sess, *stale;

	(void)state;
	assert_non_null(keys);
	sess = first_session(cctx, sctx, true);
	stale = first_session(cctx, sctx, true);
	assert_true(resumes(cctx, sctx, &sess, NULL, &cv));
	expect(cv, TLS_VERDICT_OK, "client", NULL);
	/* Another context with the same keys (another worker, or the context
	 * rebuilt after a certificate rotation) resumes it as well. */
	assert_true(resumes(cctx, sctx2, &sess, NULL, &cv));

	/* After one rotation the previous key still opens tickets (and the
	 * server renews them under the new key); after two, a ticket of the
	 * first key no longer resumes and the handshake is a full one. */
	assert_int_equal(tls_ticket_keys_rotate(keys), 0);
	assert_true(resumes(cctx, sctx, &sess, NULL, &cv));
	assert_int_equal(tls_ticket_keys_rotate(keys), 0);
	assert_true(resumes(cctx, sctx, &sess, NULL, &cv));
	assert_false(resumes(cctx, sctx, &stale, NULL, &cv));
	expect(cv, TLS_VERDICT_OK, "client", NULL);

	/* A session resumed for a connection that expects another server id
	 * is refused although no certificate was exchanged. */
	const char *const other[] = {"spiffe://example.org/ns/default/sa/other"};
	struct tls_peer_match m = {other, 1, NULL};

	assert_true(resumes(cctx, sctx, &sess, &m, &cv));
	expect(cv, TLS_VERDICT_ID_MISMATCH, "client", NULL);
	SSL_SESSION_free(sess);
	SSL_SESSION_free(stale);

	/* Without ticket keys there is nothing to resume. */
	SSL_CTX *plain = server_ctx(server_id, NULL);

	sess = first_session(cctx, plain, false);
	SSL_SESSION_free(sess);
	SSL_CTX_free(plain);

	SSL_CTX_free(sctx);
	SSL_CTX_free(sctx2);
	SSL_CTX_free(cctx);
	tls_ticket_keys_unref(keys);
}

static void test_bad_opts(void **state)
{
	char err[256];
	const char *const empty[] = {""};
	struct tls_client_opts bad_alpn = {.alpn = empty, .n_alpn = 1};
	struct tls_client_opts bad_td = {.peer = {NULL, 0, "Example.ORG"}};

	(void)state;
	assert_null(tls_client_ctx_new(client_id, &bad_alpn, err, sizeof(err)));
	assert_non_null(strstr(err, "ALPN"));
	assert_null(tls_client_ctx_new(client_id, &bad_td, err, sizeof(err)));
	assert_non_null(strstr(err, "peer match"));
}

/* The bytes of dir/sub/name, malloc'd and not NUL-terminated (as an SDS
 * Secret's inline_bytes arrive). */
static char *slurp(const char *sub, const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf = malloc(CERTS_TEST_PEM_MAX);

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, CERTS_TEST_PEM_MAX, f);
	fclose(f);
	assert_true(*len > 0 && *len < CERTS_TEST_PEM_MAX);
	return buf;
}

/* PEM from memory loads the identity the files give, mixes with files, and
 * is refused with the same checks, each message naming the source's label. */
static void test_load_pem(void **state)
{
	size_t cert_len, key_len, ca_len;
	char *cert = slurp("server", "cert.pem", &cert_len);
	char *pem_key = slurp("server", "key.pem", &key_len);
	char *bundle = slurp("server", "ca.pem", &ca_len);
	char err[512], bundle_path[256];
	struct tls_identity *id = NULL;
	struct tls_pem_source c = {.pem = cert, .pem_len = cert_len, .label = "secret \"c\""};
	struct tls_pem_source k = {.pem = pem_key, .pem_len = key_len, .label = "secret \"c\" key"};
	struct tls_pem_source b = {.pem = bundle, .pem_len = ca_len, .label = "secret \"ca\""};

	(void)state;
	assert_int_equal(tls_identity_load_pem(&c, &k, &b, &id, err, sizeof(err)), 0);
	assert_string_equal(id->spiffe_id, ID_SERVER);
	assert_string_equal(id->serial, server_id->serial);
	tls_identity_unref(id);

	/* A file for the bundle beside inline certificate and key. */
	snprintf(bundle_path, sizeof(bundle_path), "%s/server/ca.pem", dir);
	struct tls_pem_source bf = {.filename = bundle_path};

	id = NULL;
	assert_int_equal(tls_identity_load_pem(&c, &k, &bf, &id, err, sizeof(err)), 0);
	tls_identity_unref(id);

	/* The leaf as its own bundle: not a CA. */
	struct tls_pem_source leaf_as_ca = {.pem = cert, .pem_len = cert_len, .label = "secret \"x\""};

	id = NULL;
	assert_int_equal(tls_identity_load_pem(&c, &k, &leaf_as_ca, &id, err, sizeof(err)),
			 -EINVAL);
	assert_null(id);
	assert_non_null(strstr(err, "bundle secret \"x\": certificate 1 is not a CA"));

	/* Garbage, a cut certificate, nothing and too much. */
	struct tls_pem_source junk = {.pem = "not pem", .pem_len = 7, .label = "junk"};

	assert_int_equal(tls_identity_load_pem(&junk, &k, &b, &id, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "certificate junk: certificate 1 is not valid PEM"));
	struct tls_pem_source cut = {.pem = cert, .pem_len = cert_len / 2, .label = "cut"};

	assert_int_equal(tls_identity_load_pem(&cut, &k, &b, &id, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cut"));
	assert_int_equal(tls_identity_load_pem(&c, &junk, &b, &id, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "key junk: no PEM private key"));
	struct tls_pem_source empty = {.pem = "", .pem_len = 0, .label = "empty"};

	assert_int_equal(tls_identity_load_pem(&c, &k, &empty, &id, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty: empty"));
	struct tls_pem_source huge = {.pem = cert, .pem_len = (size_t)1 << 30, .label = "huge"};

	assert_int_equal(tls_identity_load_pem(&huge, &k, &b, &id, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "huge: larger than"));
	assert_null(id);
	free(cert);
	free(pem_key);
	free(bundle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mutual_ok),        cmocka_unit_test(test_expected_ids),
	    cmocka_unit_test(test_wrong_ca),         cmocka_unit_test(test_no_client_cert),
	    cmocka_unit_test(test_bad_client_certs), cmocka_unit_test(test_expired_server),
	    cmocka_unit_test(test_versions),         cmocka_unit_test(test_alpn),
	    cmocka_unit_test(test_resumption),       cmocka_unit_test(test_bad_opts),
	    cmocka_unit_test(test_load_pem),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
