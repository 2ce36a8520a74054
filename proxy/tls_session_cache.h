/* Client-side TLS session cache of one worker: the tickets upstream servers
 * (other sidecars) gave us, so that the next connection to the same endpoint
 * resumes instead of paying for a full handshake. TLS 1.3 tickets are
 * single-use, so taking a session removes it; the connection that used it
 * leaves a fresh one behind when it closes. */
#ifndef SKIFF_PROXY_TLS_SESSION_CACHE_H
#define SKIFF_PROXY_TLS_SESSION_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/config.h"

struct ssl_session_st; /* OpenSSL's SSL_SESSION */
struct ssl_ctx_st;     /* SSL_CTX */
struct ssl_st;         /* SSL */

/* Direct-mapped: a newer session for another endpoint may evict one, which
 * only costs that endpoint a full handshake. */
#define TLS_SESSION_CACHE_SLOTS 256

/* A session is resumed only through the TLS context that made it: a
 * resumed TLS 1.3 session keeps the identities of its first handshake, so
 * after the cluster's certificate (our identity) or trust changed, a ticket
 * from before would present the old identity. The slot holds a reference
 * on its context, so a new context cannot reuse the old one's address. */
struct tls_session_slot {
	uint32_t cluster_id; /* stats id: stable across snapshots */
	struct sock_addr addr;
	struct ssl_ctx_st *ctx;
	struct ssl_session_st *session;
};

struct tls_session_cache {
	struct tls_session_slot slots[TLS_SESSION_CACHE_SLOTS];
};

/* Removes and returns the session stored for (cluster_id, addr) if `ctx`
 * made it, owned by the caller (SSL_SESSION_free), or NULL. A session of
 * another context is dropped. */
struct ssl_session_st *tls_session_cache_take(struct tls_session_cache *c, uint32_t cluster_id,
					      const struct sock_addr *addr,
					      struct ssl_ctx_st *ctx);

/* Stores session (taking the caller's reference) made through ctx for
 * (cluster_id, addr), freeing whatever the slot held. */
void tls_session_cache_put(struct tls_session_cache *c, uint32_t cluster_id,
			   const struct sock_addr *addr, struct ssl_ctx_st *ctx,
			   struct ssl_session_st *session);

/* Sets on `ssl` (a client connection not yet started) the session stored
 * for (cluster_id, addr) if one was made through ssl's context, removing it
 * from the cache (TLS 1.3 tickets are single-use). Returns whether it did. */
bool tls_session_cache_resume(struct tls_session_cache *c, uint32_t cluster_id,
			      const struct sock_addr *addr, struct ssl_st *ssl);

/* Keeps the newest session of `ssl`, a finished client handshake, for
 * (cluster_id, addr) when it can be resumed, replacing the slot's. */
void tls_session_cache_keep(struct tls_session_cache *c, uint32_t cluster_id,
			    const struct sock_addr *addr, struct ssl_st *ssl);

/* Frees every stored session. */
void tls_session_cache_clear(struct tls_session_cache *c);

#endif
