/* proxy/sock_addr.c: IP literal + port parsing, formatting, equality. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy/sock_addr.h"

static void test_ipv4(void **state)
{
	struct sock_addr a;
	char buf[SOCK_ADDR_STRLEN];
	(void)state;
	assert_int_equal(sock_addr_parse("1.2.3.4", 80, &a), 0);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(sock_addr_port(&a), 80);
	assert_string_equal(sock_addr_format(&a, buf, sizeof(buf)), "1.2.3.4:80");
	assert_string_equal(sock_addr_format_ip(&a, buf, sizeof(buf)), "1.2.3.4");
	assert_int_equal(sock_addr_parse("0.0.0.0", 0, &a), 0);
	assert_string_equal(sock_addr_format(&a, buf, sizeof(buf)), "0.0.0.0:0");
	assert_int_equal(sock_addr_parse("255.255.255.255", 65535, &a), 0);
	assert_string_equal(sock_addr_format(&a, buf, sizeof(buf)), "255.255.255.255:65535");
}

static void test_ipv6(void **state)
{
	struct sock_addr a;
	char buf[SOCK_ADDR_STRLEN];
	(void)state;
	assert_int_equal(sock_addr_parse("::1", 80, &a), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_string_equal(sock_addr_format(&a, buf, sizeof(buf)), "[::1]:80");
	assert_int_equal(sock_addr_parse("2001:DB8:0:0:0:0:0:1", 443, &a), 0);
	assert_string_equal(sock_addr_format(&a, buf, sizeof(buf)), "[2001:db8::1]:443");
	/* long forms still fit SOCK_ADDR_STRLEN */
	assert_int_equal(sock_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535, &a), 0);
	sock_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	assert_int_equal(sock_addr_parse("::ffff:255.255.255.255", 65535, &a), 0);
	sock_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[::ffff:255.255.255.255]:65535");
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
		"0x7f.0.0.1", "[::1]", "fe80::1%eth0", "::g", "1.2.3.4:80", ":::",
	};
	struct sock_addr a;
	memset(&a, 0xab, sizeof(a));
	struct sock_addr before = a;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sock_addr_parse(bad[i], 80, &a), -EINVAL);
	assert_int_equal(sock_addr_parse(NULL, 80, &a), -EINVAL);
	assert_int_equal(sock_addr_parse("1.2.3.4", 65536, &a), -ERANGE);
	assert_int_equal(sock_addr_parse("::1", UINT32_MAX, &a), -ERANGE);
	assert_memory_equal(&a, &before, sizeof(a)); /* untouched on error */
}

static void test_format_small_buffer(void **state)
{
	struct sock_addr a;
	char buf[6];
	(void)state;
	sock_addr_parse("10.0.0.1", 8080, &a);
	sock_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.");
	struct sock_addr none;
	memset(&none, 0, sizeof(none));
	char big[SOCK_ADDR_STRLEN];
	assert_string_equal(sock_addr_format(&none, big, sizeof(big)), "(none):0");
}

static void test_equal(void **state)
{
	struct sock_addr a, b;
	(void)state;
	sock_addr_parse("10.0.0.1", 80, &a);
	sock_addr_parse("10.0.0.1", 80, &b);
	assert_true(sock_addr_equal(&a, &b));
	sock_addr_parse("10.0.0.1", 81, &b);
	assert_false(sock_addr_equal(&a, &b));
	sock_addr_parse("10.0.0.2", 80, &b);
	assert_false(sock_addr_equal(&a, &b));
	sock_addr_parse("::ffff:10.0.0.1", 80, &b); /* v4-mapped is another family */
	assert_false(sock_addr_equal(&a, &b));
	sock_addr_parse("::1", 80, &a);
	sock_addr_parse("0:0::1", 80, &b);
	assert_true(sock_addr_equal(&a, &b));
	sock_addr_parse("::2", 80, &b);
	assert_false(sock_addr_equal(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
