/* proxy/duration.c: protobuf JSON durations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "proxy/duration.h"

static void test_valid(void **state)
{
	static const struct {
		const char *in;
		uint32_t ms;
	} cases[] = {
		{ "0s", 0 },         { "1s", 1000 },          { "0.25s", 250 },
		{ "1.500s", 1500 },  { "10s", 10000 },        { "3600s", 3600000 },
		{ "0.001s", 1 },     { "0.0009s", 0 },        { "1.999999999s", 1999 },
		{ "007s", 7000 },    { "4294967.295s", UINT32_MAX },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t ms = 12345;
		assert_int_equal(duration_parse(cases[i].in, &ms), 0);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void test_invalid(void **state)
{
	static const char *const cases[] = {
		"", "s", "1", "-1s", "+1s", " 1s", "1s ", "1 s", ".5s", "1.s", "1.5", "1ms",
		"1m", "1h", "0x10s", "1e3s", "1.0000000001s", "1.5ss", "abc", "1,5s",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t ms = 777;
		assert_int_equal(duration_parse(cases[i], &ms), -EINVAL);
		assert_int_equal(ms, 777); /* untouched on error */
	}
	uint32_t ms;
	assert_int_equal(duration_parse(NULL, &ms), -EINVAL);
}

static void test_range(void **state)
{
	uint32_t ms = 5;
	(void)state;
	assert_int_equal(duration_parse("4294967.296s", &ms), -ERANGE);
	assert_int_equal(duration_parse("4294968s", &ms), -ERANGE);
	assert_int_equal(duration_parse("99999999999999999999999999s", &ms), -ERANGE);
	/* garbage is reported as garbage even when the number is also too big */
	assert_int_equal(duration_parse("99999999999999999999x", &ms), -EINVAL);
	assert_int_equal(ms, 5);
}

static void test_format(void **state)
{
	char buf[32];
	(void)state;
	duration_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
	duration_format(5000, buf, sizeof(buf));
	assert_string_equal(buf, "5s");
	duration_format(250, buf, sizeof(buf));
	assert_string_equal(buf, "0.250s");
	duration_format(UINT32_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "4294967.295s");
	uint32_t back;
	assert_int_equal(duration_parse(buf, &back), 0);
	assert_int_equal(back, UINT32_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
