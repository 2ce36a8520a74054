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

static void slot_clear(struct tls_session_slot *s)
{
	SSL_SESSION_free(s->session);
	SSL_CTX_free(s->ctx);
	s->session = NULL;
	s->ctx = NULL;
}

SSL_SESSION *tls_session_cache_take(struct tls_session_cache *c, uint32_t cluster_id,
				    const struct sock_addr *addr, SSL_CTX *ctx)
{
	struct tls_session_slot *s = slot_of(c, cluster_id, addr);
	if (!s->session || s->cluster_id != cluster_id || !sock_addr_equal(&s->addr, addr))
		return NULL;
	SSL_SESSION *session = NULL;
	if (s->ctx == ctx) {
		session = s->session;
		s->session = NULL;
	}
	slot_clear(s); /* taken, or from a context that is gone */
	return session;
}

void tls_session_cache_put(struct tls_session_cache *c, uint32_t cluster_id,
			   const struct sock_addr *addr, SSL_CTX *ctx, SSL_SESSION *session)
{
	struct tls_session_slot *s = slot_of(c, cluster_id, addr);
	slot_clear(s);
	SSL_CTX_up_ref(ctx);
	s->cluster_id = cluster_id;
	s->addr = *addr;
	s->ctx = ctx;
	s->session = session;
}

bool tls_session_cache_resume(struct tls_session_cache *c, uint32_t cluster_id,
			      const struct sock_addr *addr, SSL *ssl)
{
	SSL_SESSION *session = tls_session_cache_take(c, cluster_id, addr, SSL_get_SSL_CTX(ssl));
	bool set = session && SSL_set_session(ssl, session) == 1;
	SSL_SESSION_free(session);
	return set;
}

void tls_session_cache_keep(struct tls_session_cache *c, uint32_t cluster_id,
			    const struct sock_addr *addr, SSL *ssl)
{
	if (!SSL_is_init_finished(ssl))
		return;
	SSL_SESSION *session = SSL_get1_session(ssl);
	if (session && SSL_SESSION_is_resumable(session))
		tls_session_cache_put(c, cluster_id, addr, SSL_get_SSL_CTX(ssl), session);
	else
		SSL_SESSION_free(session);
}

void tls_session_cache_clear(struct tls_session_cache *c)
{
	for (size_t i = 0; i < TLS_SESSION_CACHE_SLOTS; i++)
		slot_clear(&c->slots[i]);
}
