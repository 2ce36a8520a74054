/* Workload identity and the mesh's TLS contexts: certs/ loads and checks a
 * workload's X.509-SVID, trust bundle and key, and hands proxy/ ready
 * SSL_CTX objects that authenticate peers by SPIFFE id.
 *
 * Life of a connection, as proxy/ drives it:
 *   ssl = SSL_new(ctx);                  (ctx from tls_*_ctx_new)
 *   tls_set_peer_match(ssl, &m);         (optional: this upstream's ids)
 *   rc = SSL_do_handshake(ssl);          (non-blocking, repeated)
 *   v = tls_handshake_verdict(ssl, rc);  (after every call: PENDING, OK or
 *                                         the reason to close and count)
 *   tls_peer_spiffe_id(ssl, &len);       (once OK: authz, logs, metrics)
 *
 * Threads: a tls_identity, a tls_ticket_keys and an SSL_CTX built here may be
 * shared by every worker; nothing here is written after creation except the
 * ticket keys, which take a lock only on handshakes that issue or use a
 * ticket. */
#ifndef SKIFF_CERTS_TLS_CONTEXT_H
#define SKIFF_CERTS_TLS_CONTEXT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certs/spiffe.h"

/* ALPN ids a mesh peer may negotiate. TLS_ALPN_MESH_TCP marks a connection
 * that carries plain TCP (tcp_proxy) between two sidecars. */
#define TLS_ALPN_H2 "h2"
#define TLS_ALPN_HTTP11 "http/1.1"
#define TLS_ALPN_MESH_TCP "skiff-tcp"

/* A workload's identity: loaded once, checked whole, then immutable and
 * shared by reference (a rotation loads a new one). */
struct tls_identity {
	X509 *leaf;
	STACK_OF(X509) * chain; /* intermediates sent after the leaf; may be empty */
	EVP_PKEY *key;
	X509_STORE *bundle;                /* trust anchors peers must chain to */
	char spiffe_id[SPIFFE_ID_MAX + 1]; /* the leaf's URI SAN */
	size_t spiffe_id_len;
	char trust_domain[SPIFFE_TRUST_DOMAIN_MAX + 1];
	size_t trust_domain_len;
	time_t not_before;
	time_t not_after; /* for the seconds-to-expiry metric */
	char serial[64];  /* hex, for logs: shows a rotation happened */
	atomic_uint refs;
};

/* Loads the PEM files `cert` (the leaf, then any intermediates), `key` and
 * `bundle` (one or more CA certificates) and checks them: the key matches
 * the leaf; the leaf is valid now (not expired, not before notBefore); the
 * chain verifies against the bundle for both TLS server and client use; the
 * leaf is an X.509-SVID (spiffe_id_from_x509). On success returns 0 and
 * stores in `*out` an identity holding one reference, owned by the caller.
 * Otherwise returns -EINVAL (or -ENOMEM) with a one-line reason naming the
 * file in `err`, and leaves `*out` alone. */
int tls_identity_load(const char *cert, const char *key, const char *bundle,
		      struct tls_identity **out, char *err, size_t errlen);

/* Where one PEM input of an identity comes from: the file `filename` when
 * it is set, else the `pem_len` bytes at `pem` (an SDS Secret's inline
 * bytes; at most a file's limit), named `label` in messages ("secret
 * \"server-cert\" certificate_chain"). Borrowed for the call only. */
struct tls_pem_source {
	const char *filename;
	const void *pem;
	size_t pem_len;
	const char *label;
};

/* tls_identity_load() over sources that may be files or PEM in memory, each
 * on its own: the same checks, returns and ownership, messages naming each
 * source by its file name or label. */
int tls_identity_load_pem(const struct tls_pem_source *cert, const struct tls_pem_source *key,
			  const struct tls_pem_source *bundle, struct tls_identity **out,
			  char *err, size_t errlen);

void tls_identity_ref(struct tls_identity *id);

/* Drops one reference; the last one frees the identity. NULL is a no-op. */
void tls_identity_unref(struct tls_identity *id);

/* Session ticket keys for TLS 1.3 resumption, shared by every server
 * context of a listener (and across rotations of its identity) so a client
 * resumes whichever worker and whichever certificate it lands on. */
struct tls_ticket_keys;

/* One fresh random key, one reference owned by the caller; NULL when out of
 * memory or randomness. */
struct tls_ticket_keys *tls_ticket_keys_new(void);
void tls_ticket_keys_ref(struct tls_ticket_keys *keys);
void tls_ticket_keys_unref(struct tls_ticket_keys *keys);

/* Makes a fresh key the one that encrypts new tickets; the previous one
 * still decrypts (and its tickets are renewed) until the next rotation, so
 * call this on a timer: a ticket lives one to two periods. Main thread.
 * Returns 0, or -EIO when no randomness was available (keys unchanged). */
int tls_ticket_keys_rotate(struct tls_ticket_keys *keys);

/* Whom a connection accepts as its peer: one of `ids` exactly when
 * n_ids > 0 (Envoy's exact SAN matchers), otherwise any id in
 * `trust_domain` (NULL: the identity's own). */
struct tls_peer_match {
	const char *const *ids;
	size_t n_ids;
	const char *trust_domain;
};

struct tls_server_opts {
	int min_version;         /* 0: TLS 1.3; TLS1_2_VERSION allows 1.2 */
	const char *const *alpn; /* accepted ids, preferred first; NULL: h2,
				  * http/1.1, skiff-tcp */
	size_t n_alpn;
	bool allow_no_alpn;              /* accept clients offering no ALPN at all */
	struct tls_peer_match peer;      /* which clients are accepted */
	struct tls_ticket_keys *tickets; /* NULL: no resumption; else the
					  * context takes a reference */
};

struct tls_client_opts {
	int min_version;         /* 0: TLS 1.3; TLS1_2_VERSION allows 1.2 */
	const char *const *alpn; /* offered ids; NULL: h2, http/1.1, skiff-tcp */
	size_t n_alpn;
	struct tls_peer_match peer; /* default for servers; tls_set_peer_match
				     * overrides per connection */
};

/* A server (inbound) context for `id`: TLS 1.3 minimum unless opts allow
 * 1.2, and then only ECDHE with AES-GCM or ChaCha20-Poly1305; no
 * renegotiation; a client certificate is required, must chain to the
 * bundle and carry a SPIFFE id `opts->peer` accepts; ALPN is required and
 * a client offering none of ours is refused (no_application_protocol). `opts`
 * may be NULL for the defaults; it is copied. Returns a context owned by the
 * caller (SSL_CTX_free), or NULL with a reason in `err`. */
SSL_CTX *tls_server_ctx_new(const struct tls_identity *id, const struct tls_server_opts *opts,
			    char *err, size_t errlen);

/* A client (outbound) context for `id`, presenting its certificate and
 * checking the server's chain and SPIFFE id (no hostname check: the SPIFFE
 * id is the name). A server that selects no ALPN id is refused. Sessions are
 * cached client-side without an internal store: to resume, keep
 * SSL_get1_session() per upstream endpoint after the first read (TLS 1.3
 * tickets arrive after the handshake), and SSL_set_session() on the next
 * connection. A ticket is used once (the server sends a fresh one on every
 * resumption), and OpenSSL marks a session unusable when its connection is
 * freed without SSL_shutdown(). Same ownership as the server. */
SSL_CTX *tls_client_ctx_new(const struct tls_identity *id, const struct tls_client_opts *opts,
			    char *err, size_t errlen);

/* Why a handshake succeeded or failed. Append only: names go to logs and
 * counters. */
enum tls_verdict {
	TLS_VERDICT_OK = 0,
	TLS_VERDICT_PENDING,       /* handshake wants more I/O */
	TLS_VERDICT_NO_PEER_CERT,  /* client sent no certificate */
	TLS_VERDICT_UNTRUSTED,     /* chain does not verify against the bundle */
	TLS_VERDICT_EXPIRED,       /* a certificate of the chain has expired */
	TLS_VERDICT_NOT_YET_VALID, /* ... or is not valid yet */
	TLS_VERDICT_BAD_SVID,      /* leaf is not an X.509-SVID */
	TLS_VERDICT_ID_MISMATCH,   /* an SVID, but not an id we accept */
	TLS_VERDICT_NO_ALPN,       /* no common application protocol */
	TLS_VERDICT_PEER_REFUSED,  /* the peer refused our certificate */
	TLS_VERDICT_PROTOCOL,      /* version, cipher, plaintext, bad record... */
	TLS_VERDICT_CLOSED,        /* the peer went away mid-handshake */
	TLS_VERDICT_NOMEM,
};

/* Overrides, for `ssl` only, the context's peer match (an outbound
 * connection to an upstream expecting particular ids). `m` is borrowed: it
 * must outlive `ssl` (point it into the config snapshot the connection holds).
 * Returns 0, -EINVAL for an invalid id in `m`, or -ENOMEM. */
int tls_set_peer_match(SSL *ssl, const struct tls_peer_match *m);

/* The verdict on `ssl` after SSL_do_handshake() (or SSL_accept/connect)
 * returned `ret`; call it after every such call, before anything else
 * touches the OpenSSL error queue. PENDING: wait for I/O. OK: the handshake
 * is done and the peer accepted — also re-checked here for a resumed session,
 * whose peer certificate was verified by an earlier handshake and must still
 * be in date and match. Anything else: close the connection and count it. */
enum tls_verdict tls_handshake_verdict(SSL *ssl, int ret);

/* Short name ("expired", "id_mismatch") for counters and access logs. */
const char *tls_verdict_str(enum tls_verdict v);

/* A human reason for the last failed verdict on `ssl` (an X.509 verify or
 * SPIFFE error string, or the SSL error), for log lines; "" if none. */
const char *tls_verdict_detail(const SSL *ssl);

/* The peer's SPIFFE id once tls_handshake_verdict() said OK: NUL-terminated,
 * with its length in `*len` (when `len` is not NULL), valid until SSL_free.
 * NULL before that or after a refusal. */
const char *tls_peer_spiffe_id(const SSL *ssl, size_t *len);

/* After an ID_MISMATCH verdict, the id that was refused (its chain did
 * verify), for the denial's log line; NULL otherwise. Never use it to
 * authorize. Same lifetime as tls_peer_spiffe_id(). */
const char *tls_refused_peer_id(const SSL *ssl, size_t *len);

#endif
