/* Workload identity and mesh TLS contexts: see tls_context.h. */
#include "certs/tls_context.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "certs/internal.h"

/* TLS 1.2, when allowed at all: ECDHE key exchange (forward secrecy) and
 * AEAD ciphers only — no RSA key transport, no CBC, no SHA-1 MACs. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char groups[] = "X25519:P-256:P-384";
static const char *const default_alpn[] = {TLS_ALPN_H2, TLS_ALPN_HTTP11, TLS_ALPN_MESH_TCP};

/* A server that verifies clients must name its sessions, or OpenSSL refuses
 * to resume them (SSL_R_SESSION_ID_CONTEXT_UNINITIALIZED). One name for
 * every skiff server context: whichever context issued a ticket, the ticket
 * key decides whether it can be opened. */
static const unsigned char session_id_context[] = "skiff-mesh";

/* Chains deeper than root -> intermediate -> ... are not what a mesh CA
 * issues; a bound keeps a hostile peer from making us walk a long one. */
#define VERIFY_DEPTH 8

/* ---- identity ---- */

static void free_certs(STACK_OF(X509) * certs)
{
	sk_X509_pop_free(certs, X509_free);
}

static void identity_free(struct tls_identity *id)
{
	X509_free(id->leaf);
	free_certs(id->chain);
	EVP_PKEY_free(id->key);
	X509_STORE_free(id->bundle);
	OPENSSL_free(id);
}

void tls_identity_ref(struct tls_identity *id)
{
	atomic_fetch_add_explicit(&id->refs, 1, memory_order_relaxed);
}

void tls_identity_unref(struct tls_identity *id)
{
	if (id && atomic_fetch_sub_explicit(&id->refs, 1, memory_order_acq_rel) == 1)
		identity_free(id);
}

/* The label of a source in messages: its file name, or what the caller
 * called the bytes. */
static const char *source_name(const struct tls_pem_source *s)
{
	return s->filename ? s->filename : s->label ? s->label : "(inline PEM)";
}

/* A BIO over the source: the file read whole (bounded), or the bytes. */
static BIO *source_bio(const struct tls_pem_source *s, char *err, size_t errlen)
{
	if (s->filename)
		return certs_read_file(s->filename, err, errlen);
	/* The same bound as a file: the bytes came from a control plane. */
	if (!s->pem || s->pem_len == 0 || s->pem_len > CERTS_FILE_MAX) {
		certs_err(err, errlen, "%s: %s", source_name(s),
			  s->pem_len ? "larger than the PEM limit" : "empty");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(s->pem, (int)s->pem_len);

	if (!bio)
		certs_err(err, errlen, "%s: out of memory", source_name(s));
	return bio;
}

/* Every certificate of the PEM source, in order; at least one. */
static STACK_OF(X509) *
    read_certs(const struct tls_pem_source *src, const char *what, char *err, size_t errlen)
{
	const char *path = source_name(src);
	BIO *bio = source_bio(src, err, errlen);
	STACK_OF(X509) *certs = bio ? sk_X509_new_null() : NULL;

	if (bio && !certs)
		certs_err(err, errlen, "%s %s: out of memory", what, path);
	while (certs) {
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

		if (!x) {
			unsigned long e = ERR_peek_last_error();

			/* "no start line" after one certificate or more is the
			 * end of the file; before any, the file holds none. */
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE && sk_X509_num(certs) > 0) {
				ERR_clear_error();
				break;
			}
			certs_err(err, errlen, "%s %s: certificate %d is not valid PEM", what, path,
				  sk_X509_num(certs) + 1);
			free_certs(certs);
			certs = NULL;
		} else if (!sk_X509_push(certs, x)) {
			X509_free(x);
			certs_err(err, errlen, "%s %s: out of memory", what, path);
			free_certs(certs);
			certs = NULL;
		}
	}
	BIO_free(bio);
	return certs;
}

static EVP_PKEY *read_key(const struct tls_pem_source *src, char *err, size_t errlen)
{
	BIO *bio = source_bio(src, err, errlen);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	if (bio && !key)
		certs_err(err, errlen, "key %s: no PEM private key", source_name(src));
	BIO_free(bio);
	return key;
}

static X509_STORE *read_bundle(const struct tls_pem_source *src, char *err, size_t errlen)
{
	const char *path = source_name(src);
	STACK_OF(X509) *cas = read_certs(src, "bundle", err, errlen);
	X509_STORE *store = cas ? X509_STORE_new() : NULL;

	for (int i = 0; store && i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);

		/* A leaf in the bundle would be a trust anchor that can only
		 * vouch for itself: a copy-paste mistake worth naming. */
		if (X509_check_ca(ca) == 0) {
			certs_err(err, errlen, "bundle %s: certificate %d is not a CA", path,
				  i + 1);
		} else if (X509_STORE_add_cert(store, ca)) {
			continue;
		} else {
			certs_err(err, errlen, "bundle %s: cannot add certificate %d", path, i + 1);
		}
		X509_STORE_free(store);
		store = NULL;
	}
	if (cas && !store && err && err[0] == '\0')
		certs_err(err, errlen, "bundle %s: out of memory", path);
	free_certs(cas);
	return store;
}

static time_t asn1_time_to_time(const ASN1_TIME *t)
{
	struct tm tm;

	return ASN1_TIME_to_tm(t, &tm) ? timegm(&tm) : 0;
}

static void format_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

static int check_validity(const struct tls_identity *id, const char *cert, char *err, size_t errlen)
{
	char when[32];

	if (X509_cmp_current_time(X509_get0_notBefore(id->leaf)) >= 0) {
		format_time(id->not_before, when, sizeof(when));
		certs_err(err, errlen, "certificate %s is not valid before %s", cert, when);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(id->leaf)) <= 0) {
		format_time(id->not_after, when, sizeof(when));
		certs_err(err, errlen, "certificate %s expired at %s", cert, when);
		return -1;
	}
	return 0;
}

/* The identity serves both ends of mesh connections, so its chain must be
 * good for a TLS server and for a TLS client (EKU serverAuth and
 * clientAuth, when the certificates restrict EKU at all). */
static int verify_chain(struct tls_identity *id, const char *cert, const char *bundle, char *err,
			size_t errlen)
{
	static const int purposes[] = {X509_PURPOSE_SSL_SERVER, X509_PURPOSE_SSL_CLIENT};
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	int rc = vctx ? 0 : -1;

	if (!vctx)
		certs_err(err, errlen, "verifying %s: out of memory", cert);
	for (size_t i = 0; rc == 0 && i < sizeof(purposes) / sizeof(purposes[0]); i++) {
		if (!X509_STORE_CTX_init(vctx, id->bundle, id->leaf, id->chain) ||
		    !X509_STORE_CTX_set_purpose(vctx, purposes[i])) {
			certs_err(err, errlen, "verifying %s: out of memory", cert);
			rc = -1;
		} else if (X509_verify_cert(vctx) != 1) {
			int e = X509_STORE_CTX_get_error(vctx);

			certs_err(err, errlen,
				  "certificate %s does not verify against bundle %s: %s (depth %d)",
				  cert, bundle, X509_verify_cert_error_string(e),
				  X509_STORE_CTX_get_error_depth(vctx));
			rc = -1;
		}
		X509_STORE_CTX_cleanup(vctx);
	}
	X509_STORE_CTX_free(vctx);
	return rc;
}

static void fill_serial(struct tls_identity *id)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(id->leaf), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	snprintf(id->serial, sizeof(id->serial), "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}

int tls_identity_load_pem(const struct tls_pem_source *cert_src,
			  const struct tls_pem_source *key_src,
			  const struct tls_pem_source *bundle_src, struct tls_identity **out,
			  char *err, size_t errlen)
{
	const char *cert = source_name(cert_src), *key = source_name(key_src);
	const char *bundle = source_name(bundle_src);
	struct tls_identity *id = OPENSSL_zalloc(sizeof(*id));
	enum spiffe_err serr;

	if (err && errlen)
		err[0] = '\0';
	if (!id) {
		certs_err(err, errlen, "loading %s: out of memory", cert);
		return -ENOMEM;
	}
	id->chain = read_certs(cert_src, "certificate", err, errlen);
	if (!id->chain)
		goto fail;
	id->leaf = sk_X509_shift(id->chain);
	id->not_before = asn1_time_to_time(X509_get0_notBefore(id->leaf));
	id->not_after = asn1_time_to_time(X509_get0_notAfter(id->leaf));
	if (check_validity(id, cert, err, errlen) < 0)
		goto fail;
	id->key = read_key(key_src, err, errlen);
	if (!id->key)
		goto fail;
	if (X509_check_private_key(id->leaf, id->key) != 1) {
		certs_err(err, errlen, "key %s does not match certificate %s", key, cert);
		goto fail;
	}
	serr =
	    spiffe_id_from_x509(id->leaf, id->spiffe_id, sizeof(id->spiffe_id), &id->spiffe_id_len);
	if (serr != SPIFFE_OK) {
		certs_err(err, errlen, "certificate %s is not a SPIFFE workload certificate: %s",
			  cert, spiffe_strerror(serr));
		goto fail;
	}

	struct spiffe_id sid;

	spiffe_id_parse(id->spiffe_id, id->spiffe_id_len, &sid);
	memcpy(id->trust_domain, sid.td, sid.td_len);
	id->trust_domain_len = sid.td_len;
	id->bundle = read_bundle(bundle_src, err, errlen);
	if (!id->bundle || verify_chain(id, cert, bundle, err, errlen) < 0)
		goto fail;
	fill_serial(id);
	atomic_init(&id->refs, 1);
	*out = id;
	return 0;
fail:
	identity_free(id);
	return -EINVAL;
}

int tls_identity_load(const char *cert, const char *key, const char *bundle,
		      struct tls_identity **out, char *err, size_t errlen)
{
	struct tls_pem_source c = { .filename = cert }, k = { .filename = key };
	struct tls_pem_source b = { .filename = bundle };

	return tls_identity_load_pem(&c, &k, &b, out, err, errlen);
}

/* ---- session ticket keys ---- */

struct ticket_key {
	unsigned char name[16];
	unsigned char aes_key[32];  /* AES-256-CBC */
	unsigned char hmac_key[32]; /* HMAC-SHA256 */
};

struct tls_ticket_keys {
	pthread_rwlock_t lock;  /* writers: rotation (main); readers: handshakes */
	struct ticket_key cur;  /* encrypts new tickets */
	struct ticket_key prev; /* still decrypts; its tickets get renewed */
	bool has_prev;
	atomic_uint refs;
};

static int ticket_key_fill(struct ticket_key *k)
{
	return RAND_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : -EIO;
}

struct tls_ticket_keys *tls_ticket_keys_new(void)
{
	struct tls_ticket_keys *keys = OPENSSL_zalloc(sizeof(*keys));

	if (!keys)
		return NULL;
	if (ticket_key_fill(&keys->cur) < 0 || pthread_rwlock_init(&keys->lock, NULL) != 0) {
		OPENSSL_clear_free(keys, sizeof(*keys));
		return NULL;
	}
	atomic_init(&keys->refs, 1);
	return keys;
}

void tls_ticket_keys_ref(struct tls_ticket_keys *keys)
{
	atomic_fetch_add_explicit(&keys->refs, 1, memory_order_relaxed);
}

void tls_ticket_keys_unref(struct tls_ticket_keys *keys)
{
	if (keys && atomic_fetch_sub_explicit(&keys->refs, 1, memory_order_acq_rel) == 1) {
		pthread_rwlock_destroy(&keys->lock);
		OPENSSL_clear_free(keys, sizeof(*keys));
	}
}

int tls_ticket_keys_rotate(struct tls_ticket_keys *keys)
{
	struct ticket_key fresh;

	if (ticket_key_fill(&fresh) < 0)
		return -EIO;
	pthread_rwlock_wrlock(&keys->lock);
	keys->prev = keys->cur;
	keys->has_prev = true;
	keys->cur = fresh;
	pthread_rwlock_unlock(&keys->lock);
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	return 0;
}

/* ---- per-context and per-connection state (OpenSSL ex_data) ---- */

/* What a context needs at handshake time, freed with the SSL_CTX. */
struct tls_ctx_conf {
	bool server;
	bool require_alpn;
	unsigned char *alpn; /* wire format: length-prefixed ids */
	size_t alpn_len;
	char *own_td; /* the identity's trust domain */
	char **ids;   /* owned copies behind match.ids */
	struct tls_peer_match match;
	struct tls_ticket_keys *tickets;
};

/* What a connection learned during its handshake, freed with the SSL. */
struct tls_conn {
	enum tls_verdict verdict;           /* first failure seen, or OK */
	bool done;                          /* tls_handshake_verdict() said OK */
	const char *detail;                 /* static string explaining it */
	const struct tls_peer_match *match; /* borrowed override, or NULL */
	char *peer_id;
	size_t peer_id_len;
};

static int ssl_idx = -1, ctx_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void conf_free(struct tls_ctx_conf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->match.n_ids; i++)
		OPENSSL_free(conf->ids[i]);
	OPENSSL_free(conf->ids);
	OPENSSL_free((char *)conf->match.trust_domain);
	OPENSSL_free(conf->own_td);
	OPENSSL_free(conf->alpn);
	tls_ticket_keys_unref(conf->tickets);
	OPENSSL_free(conf);
}

static void conf_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	conf_free(ptr);
}

static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	struct tls_conn *c = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (c)
		OPENSSL_free(c->peer_id);
	OPENSSL_free(c);
}

static void idx_init(void)
{
	ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
	ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, conf_free_cb);
}

static const struct tls_ctx_conf *conf_of(const SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);
}

/* The connection's state, created on first use when `create`; NULL when out
 * of memory (or absent and not asked to create). */
static struct tls_conn *conn_get(const SSL *ssl, bool create)
{
	struct tls_conn *c = SSL_get_ex_data(ssl, ssl_idx);

	if (c || !create)
		return c;
	c = OPENSSL_zalloc(sizeof(*c));
	if (c && !SSL_set_ex_data((SSL *)ssl, ssl_idx, c)) {
		OPENSSL_free(c);
		c = NULL;
	}
	return c;
}

static void conn_fail(struct tls_conn *c, enum tls_verdict v, const char *detail)
{
	if (c->verdict != TLS_VERDICT_OK)
		return;
	c->verdict = v;
	c->detail = detail;
}

/* ---- peer checks ---- */

static int match_check(const struct tls_peer_match *m)
{
	for (size_t i = 0; i < m->n_ids; i++) {
		struct spiffe_id id;

		if (!m->ids[i] || spiffe_id_parse(m->ids[i], strlen(m->ids[i]), &id) != SPIFFE_OK)
			return -EINVAL;
	}
	if (m->trust_domain &&
	    spiffe_trust_domain_check(m->trust_domain, strlen(m->trust_domain)) != SPIFFE_OK)
		return -EINVAL;
	return 0;
}

static bool match_accepts(const struct tls_ctx_conf *conf, const struct tls_peer_match *m,
			  const struct spiffe_id *id)
{
	if (m->n_ids > 0) {
		for (size_t i = 0; i < m->n_ids; i++)
			if (spiffe_id_equal(id, m->ids[i], strlen(m->ids[i])))
				return true;
		return false;
	}

	const char *td = m->trust_domain ? m->trust_domain : conf->own_td;

	return spiffe_id_in_trust_domain(id, td, strlen(td));
}

static bool alpn_negotiated(const SSL *ssl)
{
	const unsigned char *p;
	unsigned int len;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return len > 0;
}

/* Reads and matches the peer's SPIFFE id from `leaf` (whose chain has been
 * verified) and keeps it in `c`. */
static enum tls_verdict peer_check(const SSL *ssl, struct tls_conn *c, X509 *leaf)
{
	const struct tls_ctx_conf *conf = conf_of(ssl);
	char buf[SPIFFE_ID_MAX + 1];
	size_t len;
	struct spiffe_id id;
	enum spiffe_err serr = spiffe_id_from_x509(leaf, buf, sizeof(buf), &len);

	if (serr != SPIFFE_OK) {
		conn_fail(c, TLS_VERDICT_BAD_SVID, spiffe_strerror(serr));
		return c->verdict;
	}
	/* Kept before matching, so a refusal can be logged with the id. */
	OPENSSL_free(c->peer_id);
	c->peer_id = OPENSSL_strndup(buf, len);
	c->peer_id_len = len;
	if (!c->peer_id) {
		conn_fail(c, TLS_VERDICT_NOMEM, "out of memory");
		return c->verdict;
	}
	spiffe_id_parse(buf, len, &id);
	if (!match_accepts(conf, c->match ? c->match : &conf->match, &id)) {
		conn_fail(c, TLS_VERDICT_ID_MISMATCH,
			  "peer SPIFFE id is not one this connection accepts");
		return c->verdict;
	}
	/* A client learns the server's ALPN choice before its certificate
	 * (ServerHello in 1.2, EncryptedExtensions in 1.3), so it refuses a
	 * server that chose nothing here, inside the handshake. */
	if (conf->require_alpn && !alpn_negotiated(ssl)) {
		conn_fail(c, TLS_VERDICT_NO_ALPN, "no application protocol negotiated");
		return c->verdict;
	}
	return TLS_VERDICT_OK;
}

static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? conn_get(ssl, true) : NULL;

	if (!c)
		return 0;
	if (!ok) {
		int e = X509_STORE_CTX_get_error(sctx);

		conn_fail(c,
			  e == X509_V_ERR_CERT_HAS_EXPIRED     ? TLS_VERDICT_EXPIRED
			  : e == X509_V_ERR_CERT_NOT_YET_VALID ? TLS_VERDICT_NOT_YET_VALID
							       : TLS_VERDICT_UNTRUSTED,
			  X509_verify_cert_error_string(e));
		return 0;
	}
	if (X509_STORE_CTX_get_error_depth(sctx) > 0)
		return 1;
	if (peer_check(ssl, c, X509_STORE_CTX_get_current_cert(sctx)) != TLS_VERDICT_OK) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

/* Refuses, before any work, a client that offers no ALPN: every mesh peer
 * says which protocol it carries, and guessing is how protocol confusion
 * starts. */
static int client_hello_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_ctx_conf *conf = arg;
	const unsigned char *ext;
	size_t len;

	if (!conf->require_alpn ||
	    SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
				      &len))
		return SSL_CLIENT_HELLO_SUCCESS;

	struct tls_conn *c = conn_get(ssl, true);

	if (c)
		conn_fail(c, TLS_VERDICT_NO_ALPN, "client offered no ALPN");
	*alert = SSL_AD_NO_APPLICATION_PROTOCOL;
	return SSL_CLIENT_HELLO_ERROR;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tls_ctx_conf *conf = arg;

	/* Server preference: the first of our ids the client also offers. */
	if (SSL_select_next_proto((unsigned char **)out, outlen, conf->alpn,
				  (unsigned int)conf->alpn_len, in,
				  inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;

	struct tls_conn *c = conn_get(ssl, true);

	if (c)
		conn_fail(c, TLS_VERDICT_NO_ALPN, "no ALPN id in common with the client");
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
			 EVP_MAC_CTX *hctx, int enc)
{
	struct tls_ticket_keys *keys = conf_of(ssl)->tickets;
	const struct ticket_key *k = NULL;
	int ret = 1;

	pthread_rwlock_rdlock(&keys->lock);
	if (enc) {
		k = &keys->cur;
		memcpy(name, k->name, sizeof(k->name));
		if (RAND_bytes(iv, 16) != 1)
			ret = -1;
	} else if (memcmp(name, keys->cur.name, sizeof(keys->cur.name)) == 0) {
		k = &keys->cur;
		/* OpenSSL clients use a TLS 1.3 ticket once (RFC 8446 C.4), and
		 * an OpenSSL server sends a new one on resumption only when
		 * asked to renew: ask, or the next reconnect is a full
		 * handshake. */
		ret = SSL_version(ssl) == TLS1_3_VERSION ? 2 : 1;
	} else if (keys->has_prev && memcmp(name, keys->prev.name, sizeof(keys->prev.name)) == 0) {
		k = &keys->prev;
		ret = 2; /* good, but issue a ticket under the current key */
	} else {
		ret = 0; /* unknown key: full handshake */
	}
	if (k && ret > 0) {
		OSSL_PARAM params[] = {
		    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac_key,
						      sizeof(k->hmac_key)),
		    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		    OSSL_PARAM_construct_end(),
		};

		if (!EVP_MAC_CTX_set_params(hctx, params) ||
		    !EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes_key, iv, enc))
			ret = -1;
	}
	pthread_rwlock_unlock(&keys->lock);
	return ret;
}

/* ---- contexts ---- */

static int alpn_wire(const char *const *ids, size_t n, struct tls_ctx_conf *conf)
{
	size_t len = 0;

	if (!ids) {
		ids = default_alpn;
		n = sizeof(default_alpn) / sizeof(default_alpn[0]);
	}
	for (size_t i = 0; i < n; i++) {
		size_t l = ids[i] ? strlen(ids[i]) : 0;

		if (l == 0 || l > 255)
			return -EINVAL;
		len += 1 + l;
	}
	if (len == 0 || len > 0xffff)
		return -EINVAL;
	conf->alpn = OPENSSL_malloc(len);
	if (!conf->alpn)
		return -ENOMEM;
	conf->alpn_len = len;
	for (size_t i = 0, off = 0; i < n; i++) {
		size_t l = strlen(ids[i]);

		conf->alpn[off++] = (unsigned char)l;
		memcpy(conf->alpn + off, ids[i], l);
		off += l;
	}
	return 0;
}

static struct tls_ctx_conf *conf_new(const struct tls_identity *id, bool server,
				     const char *const *alpn, size_t n_alpn,
				     const struct tls_peer_match *peer, char *err, size_t errlen)
{
	struct tls_ctx_conf *conf = OPENSSL_zalloc(sizeof(*conf));
	int rc = conf ? 0 : -ENOMEM;

	if (rc == 0 && match_check(peer) < 0) {
		certs_err(err, errlen, "peer match: invalid SPIFFE id or trust domain");
		goto fail;
	}
	if (rc == 0)
		rc = alpn_wire(alpn, n_alpn, conf);
	if (rc == -EINVAL) {
		certs_err(err, errlen, "ALPN list: ids must be 1 to 255 bytes");
		goto fail;
	}
	if (rc == 0) {
		conf->server = server;
		conf->own_td = OPENSSL_strndup(id->trust_domain, id->trust_domain_len);
		conf->ids = peer->n_ids ? OPENSSL_zalloc(peer->n_ids * sizeof(char *)) : NULL;
		conf->match.ids = (const char *const *)conf->ids;
		conf->match.trust_domain =
		    peer->trust_domain ? OPENSSL_strdup(peer->trust_domain) : NULL;
		rc = conf->own_td && (conf->ids || !peer->n_ids) &&
			     (conf->match.trust_domain || !peer->trust_domain)
			 ? 0
			 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < peer->n_ids; i++) {
		conf->ids[i] = OPENSSL_strdup(peer->ids[i]);
		conf->match.n_ids = i + 1; /* what conf_free must free */
		rc = conf->ids[i] ? 0 : -ENOMEM;
	}
	if (rc == 0)
		return conf;
	certs_err(err, errlen, "out of memory");
fail:
	conf_free(conf);
	return NULL;
}

static int version_check(int v)
{
	return v == 0 || v == TLS1_2_VERSION || v == TLS1_3_VERSION ? 0 : -EINVAL;
}

/* What server and client contexts share: versions, ciphers, our certificate,
 * the trust bundle and the verify callback. `conf` is handed to the context,
 * which frees it. */
static SSL_CTX *ctx_common(const struct tls_identity *id, struct tls_ctx_conf *conf,
			   int min_version, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(conf->server ? TLS_server_method() : TLS_client_method());

	if (!ctx || !SSL_CTX_set_ex_data(ctx, ctx_idx, conf)) {
		certs_err(err, errlen, "creating the TLS context failed");
		conf_free(conf);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Send exactly the leaf and the configured chain; never complete it
	 * from the trust store (that would send the root). */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	if (!SSL_CTX_set_min_proto_version(ctx, min_version ? min_version : TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, tls12_ciphers) ||
	    !SSL_CTX_set_ciphersuites(ctx, tls13_suites) ||
	    !SSL_CTX_set1_groups_list(ctx, groups)) {
		certs_err(err, errlen, "setting TLS versions and ciphers failed");
		goto fail;
	}
	if (SSL_CTX_use_certificate(ctx, id->leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, id->key) != 1 || !SSL_CTX_set1_chain(ctx, id->chain) ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		certs_err(err, errlen, "installing the certificate of %.*s failed",
			  (int)id->spiffe_id_len, id->spiffe_id);
		goto fail;
	}
	SSL_CTX_set1_cert_store(ctx, id->bundle);
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | (conf->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), verify_cb);
	SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* What both context kinds need first: the ex_data indexes, and a version
 * we support. Returns 0, or -1 with the reason in err. */
static int ctx_prepare(int min_version, char *err, size_t errlen)
{
	pthread_once(&idx_once, idx_init);
	if (ssl_idx < 0 || ctx_idx < 0 || version_check(min_version) < 0) {
		certs_err(err, errlen,
			  ssl_idx < 0 || ctx_idx < 0 ? "OpenSSL ex_data unavailable"
						     : "min_version must be TLS 1.2 or 1.3");
		return -1;
	}
	return 0;
}

SSL_CTX *tls_server_ctx_new(const struct tls_identity *id, const struct tls_server_opts *opts,
			    char *err, size_t errlen)
{
	static const struct tls_server_opts defaults = {0};
	struct tls_ctx_conf *conf;
	SSL_CTX *ctx;

	if (!opts)
		opts = &defaults;
	if (ctx_prepare(opts->min_version, err, errlen) < 0)
		return NULL;
	conf = conf_new(id, true, opts->alpn, opts->n_alpn, &opts->peer, err, errlen);
	if (!conf)
		return NULL;
	conf->require_alpn = !opts->allow_no_alpn;
	if (opts->tickets) {
		tls_ticket_keys_ref(opts->tickets);
		conf->tickets = opts->tickets;
	}
	ctx = ctx_common(id, conf, opts->min_version, err, errlen);
	if (!ctx)
		return NULL;
	SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, conf);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, conf);
	/* Tickets only, no server-side cache: workers share nothing but the
	 * ticket keys. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_session_id_context(ctx, session_id_context,
					    sizeof(session_id_context) - 1))
		goto fail;
	if (conf->tickets) {
		if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb) ||
		    !SSL_CTX_set_num_tickets(ctx, 1))
			goto fail;
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	return ctx;
fail:
	certs_err(err, errlen, "configuring session resumption failed");
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_client_ctx_new(const struct tls_identity *id, const struct tls_client_opts *opts,
			    char *err, size_t errlen)
{
	static const struct tls_client_opts defaults = {0};
	struct tls_ctx_conf *conf;
	SSL_CTX *ctx;

	if (!opts)
		opts = &defaults;
	if (ctx_prepare(opts->min_version, err, errlen) < 0)
		return NULL;
	conf = conf_new(id, false, opts->alpn, opts->n_alpn, &opts->peer, err, errlen);
	if (!conf)
		return NULL;
	conf->require_alpn = true;
	ctx = ctx_common(id, conf, opts->min_version, err, errlen);
	if (!ctx)
		return NULL;
	/* SSL_CTX_set_alpn_protos() returns 0 on success. */
	if (SSL_CTX_set_alpn_protos(ctx, conf->alpn, (unsigned int)conf->alpn_len) != 0) {
		certs_err(err, errlen, "setting the ALPN list failed");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	return ctx;
}

/* ---- verdicts ---- */

int tls_set_peer_match(SSL *ssl, const struct tls_peer_match *m)
{
	struct tls_conn *c;

	if (match_check(m) < 0)
		return -EINVAL;
	c = conn_get(ssl, true);
	if (!c)
		return -ENOMEM;
	c->match = m;
	return 0;
}

/* A handshake that completed: a full one has been checked by verify_cb; a
 * resumed one skipped it, so the peer certificate kept in the session is
 * checked again against today's date and this connection's match. */
static enum tls_verdict handshake_done(SSL *ssl)
{
	struct tls_conn *c = conn_get(ssl, true);

	if (!c)
		return TLS_VERDICT_NOMEM;
	if (!conf_of(ssl)) {
		/* Not one of our contexts: nothing was checked, so nothing
		 * may pass as authenticated. */
		conn_fail(c, TLS_VERDICT_PROTOCOL, "TLS context not made by tls_*_ctx_new");
		return c->verdict;
	}
	if (c->verdict != TLS_VERDICT_OK)
		return c->verdict;
	if (c->peer_id && !SSL_session_reused(ssl))
		return TLS_VERDICT_OK;

	X509 *peer = SSL_get0_peer_certificate(ssl);

	if (!peer) {
		conn_fail(c, TLS_VERDICT_NO_PEER_CERT, "session has no peer certificate");
		return c->verdict;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(peer)) <= 0) {
		conn_fail(c, TLS_VERDICT_EXPIRED, "resumed session's peer certificate has expired");
		return c->verdict;
	}
	return peer_check(ssl, c, peer);
}

static enum tls_verdict verdict_of_reason(int reason)
{
	switch (reason) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return TLS_VERDICT_NO_PEER_CERT;
	case SSL_R_NO_APPLICATION_PROTOCOL:
	case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
		return TLS_VERDICT_NO_ALPN;
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return TLS_VERDICT_PEER_REFUSED;
	default:
		return TLS_VERDICT_PROTOCOL;
	}
}

enum tls_verdict tls_handshake_verdict(SSL *ssl, int ret)
{
	if (ret == 1) {
		enum tls_verdict v = handshake_done(ssl);
		struct tls_conn *c = conn_get(ssl, false);

		if (c)
			c->done = v == TLS_VERDICT_OK;
		return v;
	}

	int e = SSL_get_error(ssl, ret);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return TLS_VERDICT_PENDING;

	struct tls_conn *c = conn_get(ssl, true);
	enum tls_verdict v;
	const char *detail = "";

	if (c && c->verdict != TLS_VERDICT_OK) {
		v = c->verdict;
	} else if (e == SSL_ERROR_SSL) {
		unsigned long first = ERR_peek_error();

		v = verdict_of_reason(ERR_GET_REASON(first));
		detail = ERR_reason_error_string(first);
	} else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
		v = TLS_VERDICT_CLOSED;
		detail = "connection closed during the handshake";
	} else {
		v = TLS_VERDICT_PROTOCOL;
	}
	if (!c)
		v = TLS_VERDICT_NOMEM;
	else
		conn_fail(c, v, detail ? detail : "");
	/* The reasons are recorded; a stale queue would blame the next
	 * connection handled on this thread. */
	ERR_clear_error();
	return v;
}

const char *tls_verdict_str(enum tls_verdict v)
{
	switch (v) {
	case TLS_VERDICT_OK:
		return "ok";
	case TLS_VERDICT_PENDING:
		return "pending";
	case TLS_VERDICT_NO_PEER_CERT:
		return "no_peer_cert";
	case TLS_VERDICT_UNTRUSTED:
		return "untrusted";
	case TLS_VERDICT_EXPIRED:
		return "expired";
	case TLS_VERDICT_NOT_YET_VALID:
		return "not_yet_valid";
	case TLS_VERDICT_BAD_SVID:
		return "bad_svid";
	case TLS_VERDICT_ID_MISMATCH:
		return "id_mismatch";
	case TLS_VERDICT_NO_ALPN:
		return "no_alpn";
	case TLS_VERDICT_PEER_REFUSED:
		return "peer_refused";
	case TLS_VERDICT_PROTOCOL:
		return "protocol";
	case TLS_VERDICT_CLOSED:
		return "closed";
	case TLS_VERDICT_NOMEM:
		return "nomem";
	}
	return "unknown";
}

const char *tls_verdict_detail(const SSL *ssl)
{
	const struct tls_conn *c = SSL_get_ex_data(ssl, ssl_idx);

	return c && c->detail ? c->detail : "";
}

const char *tls_peer_spiffe_id(const SSL *ssl, size_t *len)
{
	const struct tls_conn *c = SSL_get_ex_data(ssl, ssl_idx);

	if (!c || !c->done || c->verdict != TLS_VERDICT_OK || !c->peer_id)
		return NULL;
	if (len)
		*len = c->peer_id_len;
	return c->peer_id;
}

const char *tls_refused_peer_id(const SSL *ssl, size_t *len)
{
	const struct tls_conn *c = SSL_get_ex_data(ssl, ssl_idx);

	if (!c || c->verdict != TLS_VERDICT_ID_MISMATCH || !c->peer_id)
		return NULL;
	if (len)
		*len = c->peer_id_len;
	return c->peer_id;
}
