/* Tests proxy/regex.c: full-match semantics, case folding, UTF-8, compile
 * errors, the match limit against catastrophic backtracking, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/regex.h"

struct match_case {
	const char *pattern;
	bool ignore_case;
	const char *subject;
	bool matches;
};

static const struct match_case cases[] = {
    {"/api/v[0-9]+/users", false, "/api/v12/users", true},
    {"/api/v[0-9]+/users", false, "/api/v12/users/7", false}, /* must end at the end */
    {"/api/v[0-9]+/users", false, "x/api/v12/users", false},  /* must start at the start */
    {"a|ab", false, "ab", true},                              /* backtracks into the alternative */
    {"a|ab", false, "abc", false},
    {".*", false, "", true},
    {"a+", false, "", false},
    {"/Users", false, "/users", false},
    {"/Users", true, "/users", true},
    {"/stra(ss|ß)e", true, "/STRASSE", true},
    {"/caf.", false, "/caf\xc3\xa9", true}, /* one dot, one UTF-8 character */
    {"/caf..", false, "/caf\xc3\xa9", false},
    {"/caf.", false, "/caf\xff", false}, /* invalid UTF-8 does not match... */
    {"/caf.*", false, "/caf", true},
    {"(?:\\d{3})-(\\d{4})", false, "555-1234", true}, /* groups need no ovector room */
};

static void test_full_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct match_case *c = &cases[i];
		char err[256];
		struct regex *re = regex_compile(c->pattern, c->ignore_case, err, sizeof(err));
		if (!re)
			fail_msg("case %zu: %s: %s", i, c->pattern, err);
		if (regex_full_match(re, c->subject, strlen(c->subject)) != c->matches)
			fail_msg("case %zu: %s vs %s: expected %d", i, c->pattern, c->subject,
				 c->matches);
		regex_free(re);
	}
}

static void test_invalid_utf8_is_not_an_error(void **state)
{
	(void)state;
	char err[256];
	/* A header value may hold any octet: a byte that is not UTF-8 cannot
	 * be matched by "." but is no error, and valid UTF-8 in the same
	 * subject still matches. */
	struct regex *re = regex_compile("/a.z", false, err, sizeof(err));
	assert_non_null(re);
	assert_false(regex_full_match(re, "/a\xffz", 4));
	assert_true(regex_full_match(re, "/a\xc3\xa9z", 5));
	regex_free(re);
}

static void test_length_not_nul(void **state)
{
	(void)state;
	char err[256];
	struct regex *re = regex_compile("abc", false, err, sizeof(err));
	assert_non_null(re);
	assert_true(regex_full_match(re, "abcdef", 3));
	assert_false(regex_full_match(re, "abcdef", 4));
	assert_false(regex_full_match(re, NULL, 0));
	regex_free(re);
	re = regex_compile("", false, err, sizeof(err));
	assert_non_null(re);
	assert_true(regex_full_match(re, NULL, 0));
	regex_free(re);
}

static void test_compile_errors(void **state)
{
	(void)state;
	char err[256];
	assert_null(regex_compile("(ab", false, err, sizeof(err)));
	assert_non_null(strstr(err, "missing closing parenthesis"));
	assert_non_null(strstr(err, "at offset 3"));
	assert_null(regex_compile("a**", false, err, sizeof(err)));
	assert_non_null(strstr(err, "at offset 2"));
	assert_null(regex_compile("[z-a]", false, err, sizeof(err)));
	assert_non_null(strstr(err, "range out of order"));
	/* A pattern that is not UTF-8 is refused at compile time. */
	assert_null(regex_compile("\xff", false, err, sizeof(err)));
	assert_non_null(strstr(err, "UTF-8"));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Exponential backtracking, in patterns PCRE2 cannot rule out up front (no
 * required last character): without the match limit each call would walk
 * about 2^4096 paths. */
static void test_redos_hits_the_match_limit(void **state)
{
	(void)state;
	char err[256];
	static const struct {
		const char *pattern;
		char fill;            /* the subject: 4096 of these, then "!" */
		const char *matching; /* proves the pattern is not just broken */
	} evil[] = {
	    {"(a+)+$", 'a', "aaaa"},
	    {"(a|aa)+", 'a', "aaaaa"},
	    {"(.*a){12}", 'a', "aaaaaaaaaaaa"},
	    {"(a|a?)+z?", 'a', "aaz"},
	};
	size_t n = 4096;
	char *s = malloc(n + 1);
	assert_non_null(s);
	for (size_t p = 0; p < sizeof(evil) / sizeof(evil[0]); p++) {
		memset(s, evil[p].fill, n);
		s[n] = '!';
		struct regex *re = regex_compile(evil[p].pattern, false, err, sizeof(err));
		assert_non_null(re);
		double t0 = now_s();
		assert_false(regex_full_match(re, s, n + 1));
		double took = now_s() - t0;
		if (took > 0.5)
			fail_msg("%s took %.3f s", evil[p].pattern, took);
		assert_true(regex_full_match(re, evil[p].matching, strlen(evil[p].matching)));
		regex_free(re);
	}
	free(s);
}

struct thread_arg {
	const struct regex *re;
	int hits;
};

static void *match_many(void *p)
{
	struct thread_arg *a = p;
	char buf[32];
	for (int i = 0; i < 2000; i++) {
		int len = snprintf(buf, sizeof(buf), "/item/%d", i);
		a->hits += regex_full_match(a->re, buf, (size_t)len);
		a->hits += regex_full_match(a->re, "/item/x", 7);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	char err[256];
	struct regex *re = regex_compile("/item/[0-9]*7", false, err, sizeof(err));
	assert_non_null(re);
	pthread_t t[4];
	struct thread_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){.re = re};
		assert_int_equal(pthread_create(&t[i], NULL, match_many, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].hits, 200); /* numbers below 2000 ending in 7 */
	}
	regex_free(re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_match),
	    cmocka_unit_test(test_invalid_utf8_is_not_an_error),
	    cmocka_unit_test(test_length_not_nul),
	    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test(test_redos_hits_the_match_limit),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
