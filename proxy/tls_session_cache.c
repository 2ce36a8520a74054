/* Worker TLS session cache; see tls_session_cache.h. */
#include "proxy/tls_session_cache.h"

#include <string.h>

#include <openssl/ssl.h>

#include "proxy/sock_addr.h"

/* FNV-1a over the cluster id and the address bytes. */
static struct tls_session_slot *slot_of(struct tls_session_cache *c, uint32_t cluster_id,
					const struct sock_addr *addr)
{
	uint64_t h = 1469598103934665603ull;
	const unsigned char *p = (const unsigned char *)&cluster_id;
	for (size_t i = 0; i < sizeof(cluster_id); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	p = (const unsigned char *)&addr->ss;
	for (socklen_t i = 0; i < addr->len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return &c->slots[h % TLS_SESSION_CACHE_SLOTS];
}

SSL_SESSION *tls_session_cache_take(struct tls_session_cache *c, uint32_t cluster_id,
				    const struct sock_addr *addr)
{
	struct tls_session_slot *s = slot_of(c, cluster_id, addr);
	if (!s->session || s->cluster_id != cluster_id || !sock_addr_equal(&s->addr, addr))
		return NULL;
	SSL_SESSION *session = s->session;
	s->session = NULL;
	return session;
}

void tls_session_cache_put(struct tls_session_cache *c, uint32_t cluster_id,
			   const struct sock_addr *addr, SSL_SESSION *session)
{
	struct tls_session_slot *s = slot_of(c, cluster_id, addr);
	SSL_SESSION_free(s->session);
	s->cluster_id = cluster_id;
	s->addr = *addr;
	s->session = session;
}

void tls_session_cache_clear(struct tls_session_cache *c)
{
	for (size_t i = 0; i < TLS_SESSION_CACHE_SLOTS; i++) {
		SSL_SESSION_free(c->slots[i].session);
		c->slots[i].session = NULL;
	}
}
