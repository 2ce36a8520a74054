/* Tests proxy/tls_session_cache.c: single-use takes, keys by cluster and
 * endpoint, eviction, and freeing. */
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
	SSL_SESSION *s = SSL_SESSION_new();
	tls_session_cache_put(&cache, 7, &a, s);
	assert_null(tls_session_cache_take(&cache, 7, &b));  /* other endpoint */
	assert_null(tls_session_cache_take(&cache, 8, &a));  /* other cluster */
	assert_ptr_equal(tls_session_cache_take(&cache, 7, &a), s);
	assert_null(tls_session_cache_take(&cache, 7, &a));  /* used up */
	SSL_SESSION_free(s);
}

static void test_put_replaces_and_clear_frees(void **state)
{
	(void)state;
	struct sock_addr a;
	assert_int_equal(sock_addr_parse("::1", 443, &a), 0);
	SSL_SESSION *old = SSL_SESSION_new(), *newer = SSL_SESSION_new();
	tls_session_cache_put(&cache, 1, &a, old); /* freed when replaced: ASan checks */
	tls_session_cache_put(&cache, 1, &a, newer);
	assert_ptr_equal(tls_session_cache_take(&cache, 1, &a), newer);
	tls_session_cache_put(&cache, 1, &a, newer);
	tls_session_cache_clear(&cache);
	assert_null(tls_session_cache_take(&cache, 1, &a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_is_single_use_and_keyed),
		cmocka_unit_test(test_put_replaces_and_clear_frees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
