/* Tests proxy/tls_session_cache.c: single-use takes, keys by cluster and
 * endpoint, sessions bound to their TLS context, eviction, and freeing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "proxy/sock_addr.h"
#include "proxy/tls_session_cache.h"

static struct tls_session_cache cache;

static void test_take_is_single_use_and_keyed(void **state)
{
	(void)state;
	struct sock_addr a, b;
	assert_int_equal(sock_addr_parse("10.0.0.1", 15006, &a), 0);
	assert_int_equal(sock_addr_parse("10.0.0.2", 15006, &b), 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_SESSION *s = SSL_SESSION_new();
	tls_session_cache_put(&cache, 7, &a, ctx, s);
	assert_null(tls_session_cache_take(&cache, 7, &b, ctx)); /* other endpoint */
	assert_null(tls_session_cache_take(&cache, 8, &a, ctx)); /* other cluster */
	assert_ptr_equal(tls_session_cache_take(&cache, 7, &a, ctx), s);
	assert_null(tls_session_cache_take(&cache, 7, &a, ctx)); /* used up */
	SSL_SESSION_free(s);
	SSL_CTX_free(ctx);
}

/* A session from the context before an identity change is not resumed by
 * the new one, and is dropped; the cache keeps the old context alive until
 * then (ASan checks), so its address cannot come back as a new context. */
static void test_session_of_another_context_is_dropped(void **state)
{
	(void)state;
	struct sock_addr a;
	assert_int_equal(sock_addr_parse("10.0.0.1", 15006, &a), 0);
	SSL_CTX *before = SSL_CTX_new(TLS_client_method());
	SSL_CTX *after = SSL_CTX_new(TLS_client_method());
	tls_session_cache_put(&cache, 7, &a, before, SSL_SESSION_new());
	SSL_CTX_free(before); /* the snapshot that had it is gone */
	assert_null(tls_session_cache_take(&cache, 7, &a, after));
	SSL_SESSION *s = SSL_SESSION_new();
	tls_session_cache_put(&cache, 7, &a, after, s);
	assert_ptr_equal(tls_session_cache_take(&cache, 7, &a, after), s);
	SSL_SESSION_free(s);
	/* resume() on a connection of another context sets nothing */
	tls_session_cache_put(&cache, 7, &a, after, SSL_SESSION_new());
	SSL_CTX *other = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(other);
	assert_false(tls_session_cache_resume(&cache, 7, &a, ssl));
	SSL_free(ssl);
	SSL_CTX_free(other);
	SSL_CTX_free(after);
	tls_session_cache_clear(&cache);
}

static void test_put_replaces_and_clear_frees(void **state)
{
	(void)state;
	struct sock_addr a;
	assert_int_equal(sock_addr_parse("::1", 443, &a), 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_SESSION *old = SSL_SESSION_new(), *newer = SSL_SESSION_new();
	tls_session_cache_put(&cache, 1, &a, ctx, old); /* freed when replaced: ASan checks */
	tls_session_cache_put(&cache, 1, &a, ctx, newer);
	assert_ptr_equal(tls_session_cache_take(&cache, 1, &a, ctx), newer);
	tls_session_cache_put(&cache, 1, &a, ctx, newer);
	tls_session_cache_clear(&cache);
	assert_null(tls_session_cache_take(&cache, 1, &a, ctx));
	SSL_CTX_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_is_single_use_and_keyed),
		cmocka_unit_test(test_session_of_another_context_is_dropped),
		cmocka_unit_test(test_put_replaces_and_clear_frees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
