/* Envoy's safe_regex over PCRE2; see regex.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "proxy/regex.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Envoy uses RE2, which matches in linear time; PCRE2 backtracks, so a
 * pattern from the control plane such as "(a+)+$" could spin a worker on a
 * long path. The match limit (backtracking points, honoured by the JIT too)
 * turns that into "no match" after well under a millisecond while leaving
 * room for ".*x.*" over a 16 KiB header. The depth and heap limits bound the
 * backtracking frames kept in the per-thread match data. */
#define REGEX_MATCH_LIMIT 100000u
#define REGEX_DEPTH_LIMIT 10000u
#define REGEX_HEAP_LIMIT_KIB 8192u

struct regex {
	pcre2_code *code;
};

static pcre2_match_context *match_ctx; /* read-only once made: shared by all threads */
static pthread_key_t md_key;           /* frees a thread's match data when it exits */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;

/* One match data per thread, reused: it keeps PCRE2's backtracking frames
 * between matches, so a match does not allocate. One ovector pair is enough
 * for any pattern: a full match needs no captures (PCRE2 returns 0, "matched
 * but the ovector is too small", when the pattern has groups). */
static __thread pcre2_match_data *tls_md;

static void md_free(void *md)
{
	pcre2_match_data_free(md);
}

static void regex_init(void)
{
	if (pthread_key_create(&md_key, md_free) != 0)
		return;
	match_ctx = pcre2_match_context_create(NULL);
	if (!match_ctx)
		return;
	pcre2_set_match_limit(match_ctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(match_ctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(match_ctx, REGEX_HEAP_LIMIT_KIB);
	init_ok = true;
}

struct regex *regex_compile(const char *pattern, bool ignore_case, char *err, size_t errlen)
{
	pthread_once(&init_once, regex_init);
	if (!init_ok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct regex *re = malloc(sizeof(*re));
	if (!re) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* ANCHORED|ENDANCHORED make the match a full match while keeping
	 * backtracking into alternatives ("a|ab" matches "ab"), which checking
	 * the span of an unanchored match afterwards would not. MATCH_INVALID_UTF
	 * lets bytes that are not UTF-8 (a header value is any octets) simply
	 * fail to match instead of erroring, and skips the per-match UTF check. */
	uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED;
	if (ignore_case)
		opts |= PCRE2_CASELESS;
	int code;
	PCRE2_SIZE off;
	re->code =
	    pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
	if (!re->code) {
		PCRE2_UCHAR msg[160];
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		snprintf(err, errlen, "%s at offset %zu", (char *)msg, (size_t)off);
		free(re);
		return NULL;
	}
	/* No JIT (not built in, or no executable memory): the interpreter
	 * gives the same answers, only slower. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	return re;
}

void regex_free(struct regex *re)
{
	if (!re)
		return;
	pcre2_code_free(re->code);
	free(re);
}

static pcre2_match_data *thread_match_data(void)
{
	if (tls_md)
		return tls_md;
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md)
		return NULL;
	if (pthread_setspecific(md_key, md) != 0) {
		pcre2_match_data_free(md);
		return NULL;
	}
	tls_md = md;
	return md;
}

bool regex_full_match(const struct regex *re, const char *s, size_t len)
{
	pcre2_match_data *md = thread_match_data();
	if (!s)
		s = ""; /* an absent value matches as empty; PCRE2 refuses NULL */
	if (!md)
		return false; /* out of memory: the route does not match */
	/* Negative results (no match, match or depth limit, JIT stack
	 * exhausted) are all "no match". */
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, match_ctx);
	return rc >= 0;
}
