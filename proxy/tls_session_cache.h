/* Client-side TLS session cache of one worker: the tickets upstream servers
 * (other sidecars) gave us, so that the next connection to the same endpoint
 * resumes instead of paying for a full handshake. TLS 1.3 tickets are
 * single-use, so taking a session removes it; the connection that used it
 * leaves a fresh one behind when it closes. */
#ifndef SKIFF_PROXY_TLS_SESSION_CACHE_H
#define SKIFF_PROXY_TLS_SESSION_CACHE_H

#include <stdint.h>

#include "proxy/config.h"

struct ssl_session_st; /* OpenSSL's SSL_SESSION */

/* Direct-mapped: a newer session for another endpoint may evict one, which
 * only costs that endpoint a full handshake. */
#define TLS_SESSION_CACHE_SLOTS 256

struct tls_session_slot {
	uint32_t cluster_id; /* stats id: stable across snapshots */
	struct sock_addr addr;
	struct ssl_session_st *session;
};

struct tls_session_cache {
	struct tls_session_slot slots[TLS_SESSION_CACHE_SLOTS];
};

/* Removes and returns the session stored for (cluster_id, addr), owned by
 * the caller (SSL_SESSION_free), or NULL. */
struct ssl_session_st *tls_session_cache_take(struct tls_session_cache *c, uint32_t cluster_id,
					      const struct sock_addr *addr);

/* Stores session (taking the caller's reference) for (cluster_id, addr),
 * freeing whatever the slot held. */
void tls_session_cache_put(struct tls_session_cache *c, uint32_t cluster_id,
			   const struct sock_addr *addr, struct ssl_session_st *session);

/* Frees every stored session. */
void tls_session_cache_clear(struct tls_session_cache *c);

#endif
