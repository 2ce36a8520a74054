/* Tests proxy/http_head.c: fields added, found, removed and replaced; names
 * lower-cased; strings that stay put while the arena grows past one chunk;
 * the HPACK-style byte count; Connection-style token lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http_head.h"

/* Adds a NUL-terminated name and value. */
static int add(struct http_head *h, const char *name, const char *value)
{
	return http_head_add(h, name, strlen(name), value, strlen(value));
}

/* The byte count HPACK would give h's fields (RFC 7541 §4.1). */
static uint32_t hpack_bytes(const struct http_head *h)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < h->n_fields; i++)
		n += h->fields[i].name.len + h->fields[i].value.len + 32;
	return n;
}

static void test_add_lower_cases_name_and_get_finds_it(void **state)
{
	(void)state;
	struct http_head h;
	http_head_init(&h);
	assert_int_equal(add(&h, "Content-Type", "Text/HTML"), 0);
	assert_int_equal(add(&h, "X-REQUEST-ID", "abc"), 0);
	assert_int_equal(h.n_fields, 2);
	assert_string_equal(h.fields[0].name.p, "content-type");
	assert_int_equal(h.fields[0].name.len, 12);
	/* Values keep their case. */
	assert_string_equal(h.fields[0].value.p, "Text/HTML");
	assert_int_equal(h.fields[0].value.len, 9);

	const struct http_field *f = http_head_get(&h, "x-request-id");
	assert_non_null(f);
	assert_ptr_equal(f, &h.fields[1]);
	assert_string_equal(f->value.p, "abc");
	/* Lookups take lower-case names and match whole names only. */
	assert_null(http_head_get(&h, "X-Request-Id"));
	assert_null(http_head_get(&h, "x-request"));
	assert_null(http_head_get(&h, "x-request-id2"));
	assert_null(http_head_get(&h, "accept"));
	http_head_clear(&h);
}

static void test_add_copies_only_the_given_lengths(void **state)
{
	(void)state;
	struct http_head h;
	http_head_init(&h);
	/* Codecs hand in slices of their input: nothing past len is read. */
	const char line[] = "Host: example.com\r\nAccept: */*\r\n";
	assert_int_equal(http_head_add(&h, line, 4, line + 6, 11), 0);
	assert_string_equal(h.fields[0].name.p, "host");
	assert_string_equal(h.fields[0].value.p, "example.com");
	assert_int_equal(h.fields[0].value.len, 11);
	/* An empty value is a field, and a NUL-terminated empty string. */
	assert_int_equal(http_head_add(&h, "X-Empty", 7, "", 0), 0);
	const struct http_field *f = http_head_get(&h, "x-empty");
	assert_non_null(f);
	assert_non_null(f->value.p);
	assert_int_equal(f->value.len, 0);
	assert_string_equal(f->value.p, "");
	/* Only ASCII letters change: digits, '-', '_' and bytes >= 0x80 stay. */
	assert_int_equal(add(&h, "X-Ab_9\xc3\x9c", "v"), 0);
	assert_string_equal(h.fields[2].name.p, "x-ab_9\xc3\x9c");
	http_head_clear(&h);
}

static void test_get_returns_the_first_of_repeated_fields(void **state)
{
	(void)state;
	struct http_head h;
	http_head_init(&h);
	assert_int_equal(add(&h, "Set-Cookie", "a=1"), 0);
	assert_int_equal(add(&h, "set-cookie", "b=2"), 0);
	const struct http_field *f = http_head_get(&h, "set-cookie");
	assert_non_null(f);
	assert_string_equal(f->value.p, "a=1");
	http_head_clear(&h);
}

static void test_remove_drops_every_match_and_keeps_order(void **state)
{
	(void)state;
	struct http_head h;
	http_head_init(&h);
	assert_int_equal(add(&h, "A", "1"), 0);
	assert_int_equal(add(&h, "Via", "x"), 0);
	assert_int_equal(add(&h, "B", "2"), 0);
	assert_int_equal(add(&h, "VIA", "yy"), 0);
	assert_int_equal(add(&h, "C", "3"), 0);
	assert_int_equal(h.bytes, hpack_bytes(&h));

	assert_int_equal(http_head_remove(&h, "via"), 2);
	assert_int_equal(h.n_fields, 3);
	assert_string_equal(h.fields[0].name.p, "a");
	assert_string_equal(h.fields[1].name.p, "b");
	assert_string_equal(h.fields[2].name.p, "c");
	assert_null(http_head_get(&h, "via"));
	assert_int_equal(h.bytes, 3 * (1 + 1 + 32));

	assert_int_equal(http_head_remove(&h, "via"), 0);
	assert_int_equal(http_head_remove(&h, "d"), 0);
	assert_int_equal(h.n_fields, 3);
	assert_int_equal(h.bytes, 3 * 34);
	http_head_clear(&h);
}

static void test_set_replaces_all_with_one(void **state)
{
	(void)state;
	struct http_head h;
	http_head_init(&h);
	assert_int_equal(add(&h, "X-Forwarded-Proto", "http"), 0);
	assert_int_equal(add(&h, "Host", "h"), 0);
	assert_int_equal(add(&h, "x-forwarded-proto", "https"), 0);
	assert_int_equal(http_head_set(&h, "x-forwarded-proto", "https", 5), 0);
	assert_int_equal(h.n_fields, 2);
	const struct http_field *f = http_head_get(&h, "x-forwarded-proto");
	assert_non_null(f);
	assert_string_equal(f->value.p, "https");
	assert_int_equal(h.bytes, (4 + 1 + 32) + (17 + 5 + 32));
	/* Setting a field that is absent adds it. */
	assert_int_equal(http_head_set(&h, "x-request-id", "id-1", 4), 0);
	assert_int_equal(h.n_fields, 3);
	assert_string_equal(http_head_get(&h, "x-request-id")->value.p, "id-1");
	assert_int_equal(h.bytes, hpack_bytes(&h));
	http_head_clear(&h);
}

static void test_pseudo_headers_and_strdup(void **state)
{
	(void)state;
	struct http_head h;
	http_head_init(&h);
	assert_null(h.method.p);
	assert_int_equal(http_head_set_pseudo(&h, &h.method, "GETX", 3), 0);
	assert_int_equal(http_head_set_pseudo(&h, &h.path, "/a?b=c", 6), 0);
	assert_int_equal(http_head_set_pseudo(&h, &h.authority, "svc:80", 6), 0);
	assert_string_equal(h.method.p, "GET");
	assert_int_equal(h.method.len, 3);
	assert_string_equal(h.path.p, "/a?b=c");
	assert_string_equal(h.authority.p, "svc:80");
	assert_null(h.scheme.p);
	/* Pseudo-headers are not fields and not counted as field bytes. */
	assert_int_equal(h.n_fields, 0);
	assert_int_equal(h.bytes, 0);
	/* A rewrite replaces the value; the old string stays valid. */
	const char *old = h.path.p;
	assert_int_equal(http_head_set_pseudo(&h, &h.path, "/new", 4), 0);
	assert_string_equal(h.path.p, "/new");
	assert_string_equal(old, "/a?b=c");

	const char *s = http_head_strdup(&h, "abcdef", 4);
	assert_non_null(s);
	assert_string_equal(s, "abcd");
	http_head_clear(&h);
	assert_null(h.method.p);
	assert_null(h.fields);
	assert_null(h.arena);
	assert_int_equal(h.n_fields, 0);
}

/* Many fields: the field array grows past its first 16 slots and the arena
 * past one 2 KiB chunk; every string handed out earlier stays where it was
 * and keeps its bytes. */
static void test_many_fields_grow_arena_without_moving_strings(void **state)
{
	(void)state;
	enum { N = 300 };
	struct http_head h;
	http_head_init(&h);
	const char *names[N], *values[N];
	uint32_t want_bytes = 0;
	for (int i = 0; i < N; i++) {
		char name[32], value[64];
		int nl = snprintf(name, sizeof(name), "X-Field-%d", i);
		int vl = snprintf(value, sizeof(value), "value-%d-%0*d", i, i % 40, i);
		assert_int_equal(http_head_add(&h, name, (size_t)nl, value, (size_t)vl), 0);
		names[i] = h.fields[i].name.p;
		values[i] = h.fields[i].value.p;
		want_bytes += (uint32_t)(nl + vl + 32);
	}
	assert_int_equal(h.n_fields, N);
	assert_true(h.cap_fields >= N);
	assert_int_equal(h.bytes, want_bytes);
	for (int i = 0; i < N; i++) {
		char name[32], value[64];
		snprintf(name, sizeof(name), "x-field-%d", i);
		snprintf(value, sizeof(value), "value-%d-%0*d", i, i % 40, i);
		assert_ptr_equal(h.fields[i].name.p, names[i]);
		assert_ptr_equal(h.fields[i].value.p, values[i]);
		assert_string_equal(names[i], name);
		assert_string_equal(values[i], value);
		const struct http_field *f = http_head_get(&h, name);
		assert_non_null(f);
		assert_string_equal(f->value.p, value);
	}
	http_head_clear(&h);
}

/* A single field larger than a chunk gets a chunk of its own; small fields
 * after it still fit. */
static void test_field_larger_than_a_chunk(void **state)
{
	(void)state;
	enum { BIG = 10000 };
	struct http_head h;
	http_head_init(&h);
	char *big = malloc(BIG);
	assert_non_null(big);
	for (int i = 0; i < BIG; i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(add(&h, "Before", "1"), 0);
	const char *before = h.fields[0].value.p;
	assert_int_equal(http_head_add(&h, "Cookie", 6, big, BIG), 0);
	assert_int_equal(add(&h, "After", "2"), 0);
	const struct http_field *f = http_head_get(&h, "cookie");
	assert_non_null(f);
	assert_int_equal(f->value.len, BIG);
	assert_memory_equal(f->value.p, big, BIG);
	assert_int_equal(f->value.p[BIG], '\0');
	assert_ptr_equal(http_head_get(&h, "before")->value.p, before);
	assert_string_equal(before, "1");
	assert_string_equal(http_head_get(&h, "after")->value.p, "2");
	assert_int_equal(h.bytes, (6 + 1 + 32) + (6 + BIG + 32) + (5 + 1 + 32));
	/* A name alone larger than a chunk. */
	assert_int_equal(http_head_add(&h, big, BIG, "v", 1), 0);
	assert_int_equal(h.fields[3].name.len, BIG);
	assert_memory_equal(h.fields[3].name.p, big, BIG);
	assert_int_equal(h.bytes, hpack_bytes(&h));
	free(big);
	http_head_clear(&h);
}

/* A cleared head is as good as a new one. */
static void test_clear_then_reuse(void **state)
{
	(void)state;
	struct http_head h;
	http_head_init(&h);
	for (int i = 0; i < 40; i++)
		assert_int_equal(add(&h, "X-Repeat", "0123456789012345678901234567890123456789"),
				 0);
	http_head_clear(&h);
	assert_int_equal(h.n_fields, 0);
	assert_int_equal(h.bytes, 0);
	assert_null(http_head_get(&h, "x-repeat"));
	assert_int_equal(add(&h, "Accept", "*/*"), 0);
	assert_int_equal(h.n_fields, 1);
	assert_int_equal(h.bytes, 6 + 3 + 32);
	http_head_clear(&h);
}

static bool has(const char *list, const char *token)
{
	return http_list_has_token(list, strlen(list), token);
}

/* Cleared heads leave their standard pieces to the next heads of the
 * thread: many heads alive at once, more than the cache keeps, of every
 * shape; contents stay intact (ASan checks the memory, LSan the cache). */
static void test_recycled_pieces_serve_new_heads(void **state)
{
	(void)state;
	enum { N = 600 };
	static struct http_head heads[N];
	char value[3000];
	memset(value, 'v', sizeof(value));
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			http_head_init(&heads[i]);
			int fields = i % 3 == 0 ? 40 : 3; /* some grow past the first array */
			for (int j = 0; j < fields; j++) {
				char name[16];
				snprintf(name, sizeof(name), "x-%d-%d", i, j);
				size_t len = i % 7 == 0 && j == 0 ? sizeof(value) : 10; /* some past a chunk */
				assert_int_equal(http_head_add(&heads[i], name, strlen(name), value, len), 0);
			}
		}
		for (int i = 0; i < N; i++) {
			char name[16];
			snprintf(name, sizeof(name), "x-%d-%d", i, 2);
			const struct http_field *f = http_head_get(&heads[i], name);
			assert_non_null(f);
			assert_int_equal(f->value.len, 10);
			assert_memory_equal(f->value.p, value, 10);
			http_head_clear(&heads[i]);
		}
	}
	http_head_recycled_free();
	http_head_recycled_free(); /* an empty cache is fine */
}

static void test_list_has_token(void **state)
{
	(void)state;
	assert_true(has("close", "close"));
	assert_true(has("Close", "close"));
	assert_true(has("keep-alive, Upgrade", "upgrade"));
	assert_true(has("keep-alive,upgrade", "UPGRADE"));
	assert_true(has(" \tupgrade \t , x", "upgrade"));
	assert_true(has("a, b ,\tc\t", "c"));
	assert_true(has(",,, ,close,,", "close"));
	assert_true(has("te, trailers", "trailers"));
	/* Whole tokens only. */
	assert_false(has("closed", "close"));
	assert_false(has("close", "closed"));
	assert_false(has("enclose", "close"));
	assert_false(has("keep-alive, upgrade-insecure", "upgrade"));
	assert_false(has("clo se", "close"));
	/* Inner spaces are part of an element. */
	assert_true(has("a b, c", "a b"));
	assert_false(has("a  b", "a b"));
	/* Empty lists. */
	assert_false(has("", "close"));
	assert_false(has(" , ,\t", "close"));
	/* Nothing past len is read. */
	assert_false(http_list_has_token("close", 4, "close"));
	assert_true(http_list_has_token("clo, close", 3, "clo"));
	assert_false(http_list_has_token("x, close", 3, "close"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_lower_cases_name_and_get_finds_it),
	    cmocka_unit_test(test_add_copies_only_the_given_lengths),
	    cmocka_unit_test(test_get_returns_the_first_of_repeated_fields),
	    cmocka_unit_test(test_remove_drops_every_match_and_keeps_order),
	    cmocka_unit_test(test_set_replaces_all_with_one),
	    cmocka_unit_test(test_pseudo_headers_and_strdup),
	    cmocka_unit_test(test_many_fields_grow_arena_without_moving_strings),
	    cmocka_unit_test(test_field_larger_than_a_chunk),
	    cmocka_unit_test(test_clear_then_reuse),
	    cmocka_unit_test(test_recycled_pieces_serve_new_heads),
	    cmocka_unit_test(test_list_has_token),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
