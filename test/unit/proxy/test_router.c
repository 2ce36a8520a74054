/* Tests proxy/router.c: Envoy's virtual host and route selection, header
 * and query matchers, weighted clusters, header edits and their order,
 * rewrites, redirects, regex preparation errors with field paths, and the
 * match limit against pathological regexes. Configurations are built on the
 * heap and freed with router_config_clear, so the leak checker also tests
 * that it frees everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/lb.h"
#include "proxy/router.h"
#include "proxy/sock_addr.h"

/* ---- building configurations ---- */

static void *grow(void *arr, size_t *n, size_t size)
{
	char *p = realloc(arr, (*n + 1) * size);
	assert_non_null(p);
	memset(p + *n * size, 0, size);
	(*n)++;
	return p;
}

static char *dup(const char *s)
{
	char *p = s ? strdup(s) : NULL;
	if (s)
		assert_non_null(p);
	return p;
}

/* domains: NULL-terminated. Returns the index of the new virtual host. */
static struct virtual_host *add_vhost(struct route_config *rc, const char *name,
				      const char **domains)
{
	rc->vhosts = grow(rc->vhosts, &rc->n_vhosts, sizeof(*rc->vhosts));
	struct virtual_host *vh = &rc->vhosts[rc->n_vhosts - 1];
	vh->name = dup(name);
	for (; *domains; domains++) {
		vh->domains = grow(vh->domains, &vh->n_domains, sizeof(char *));
		vh->domains[vh->n_domains - 1] = dup(*domains);
	}
	return vh;
}

static struct route *add_route(struct virtual_host *vh, const char *name, enum path_match_kind kind,
			       const char *value)
{
	vh->routes = grow(vh->routes, &vh->n_routes, sizeof(*vh->routes));
	struct route *r = &vh->routes[vh->n_routes - 1];
	r->name = dup(name);
	r->match.kind = kind;
	r->match.value = dup(value);
	r->match.case_sensitive = true;
	r->kind = ROUTE_TO_CLUSTER;
	r->cluster_name = dup("backend");
	return r;
}

static struct header_match *add_header_match(struct route *r, const char *name,
					     enum string_match_kind kind, const char *value)
{
	struct route_match *m = &r->match;
	m->headers = grow(m->headers, &m->n_headers, sizeof(*m->headers));
	struct header_match *h = &m->headers[m->n_headers - 1];
	h->name = dup(name);
	h->present_only = value == NULL;
	h->value.kind = kind;
	h->value.value = dup(value);
	return h;
}

static struct query_match *add_query_match(struct route *r, const char *name,
					   enum string_match_kind kind, const char *value)
{
	struct route_match *m = &r->match;
	m->query = grow(m->query, &m->n_query, sizeof(*m->query));
	struct query_match *q = &m->query[m->n_query - 1];
	q->name = dup(name);
	q->present_only = value == NULL;
	q->value.kind = kind;
	q->value.value = dup(value);
	return q;
}

static void add_request_header(struct header_edits *e, const char *name, const char *value,
			       bool append)
{
	e->request_add = grow(e->request_add, &e->n_request_add, sizeof(*e->request_add));
	e->request_add[e->n_request_add - 1] =
	    (struct header_add){.name = dup(name), .value = dup(value), .append = append};
}

static void add_request_remove(struct header_edits *e, const char *name)
{
	e->request_remove = grow(e->request_remove, &e->n_request_remove, sizeof(char *));
	e->request_remove[e->n_request_remove - 1] = dup(name);
}

static void add_response_header(struct header_edits *e, const char *name, const char *value,
				bool append)
{
	e->response_add = grow(e->response_add, &e->n_response_add, sizeof(*e->response_add));
	e->response_add[e->n_response_add - 1] =
	    (struct header_add){.name = dup(name), .value = dup(value), .append = append};
}

static void add_response_remove(struct header_edits *e, const char *name)
{
	e->response_remove = grow(e->response_remove, &e->n_response_remove, sizeof(char *));
	e->response_remove[e->n_response_remove - 1] = dup(name);
}

static void prepare_ok(struct route_config *rc)
{
	char err[256] = "";
	int rc_ = router_prepare(rc, err, sizeof(err));
	if (rc_ != 0)
		fail_msg("router_prepare: %d %s", rc_, err);
}

/* ---- building requests ---- */

/* headers: "name", "value", ... NULL. */
static void request(struct http_head *h, const char *method, const char *authority,
		    const char *path, const char *const *headers)
{
	http_head_init(h);
	if (method)
		assert_int_equal(http_head_set_pseudo(h, &h->method, method, strlen(method)), 0);
	if (authority)
		assert_int_equal(
		    http_head_set_pseudo(h, &h->authority, authority, strlen(authority)), 0);
	if (path)
		assert_int_equal(http_head_set_pseudo(h, &h->path, path, strlen(path)), 0);
	for (; headers && headers[0]; headers += 2)
		assert_int_equal(http_head_add(h, headers[0], strlen(headers[0]), headers[1],
					       strlen(headers[1])),
				 0);
}

static const char *route_name_for(const struct virtual_host *vh, const char *path,
				  const char *const *headers)
{
	struct http_head h;
	request(&h, "GET", "example.com", path, headers);
	const struct route *r = router_route(vh, &h);
	http_head_clear(&h);
	return r ? r->name : NULL;
}

static const char *vhost_name_for(const struct route_config *rc, const char *authority)
{
	struct http_head h;
	request(&h, "GET", authority, "/", NULL);
	const struct virtual_host *vh = router_vhost(rc, &h);
	http_head_clear(&h);
	return vh ? vh->name : NULL;
}

static void assert_name(const char *got, const char *want, const char *what)
{
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
		fail_msg("%s: got %s, want %s", what, got ? got : "(none)", want ? want : "(none)");
}

/* ---- virtual hosts ---- */

static void test_vhost_precedence(void **state)
{
	(void)state;
	struct route_config rc = {0};
	add_vhost(&rc, "any", (const char *[]){"*", NULL});
	add_vhost(&rc, "prefix", (const char *[]){"api.*", NULL});
	add_vhost(&rc, "prefix-long", (const char *[]){"api.example.*", NULL});
	add_vhost(&rc, "suffix", (const char *[]){"*.example.com", NULL});
	add_vhost(&rc, "suffix-long", (const char *[]){"*.api.example.com", NULL});
	add_vhost(&rc, "suffix-dash", (const char *[]){"*-bar.example.com", NULL});
	add_vhost(&rc, "exact", (const char *[]){"other.org", "api.example.com", NULL});
	add_vhost(&rc, "exact-port", (const char *[]){"api.example.com:8080", NULL});
	add_vhost(&rc, "ipv6", (const char *[]){"[::1]", NULL});
	add_vhost(&rc, "suffix-port", (const char *[]){"*.example.com:9090", NULL});
	/* Envoy lowercases domains; router_prepare does too. */
	add_vhost(&rc, "upper", (const char *[]){"Upper.Example.ORG", NULL});
	prepare_ok(&rc);

	static const struct {
		const char *authority, *vhost;
	} cases[] = {
	    {"api.example.com", "exact"},
	    {"other.org", "exact"},
	    {"API.Example.COM", "exact"},           /* case-insensitive */
	    {"api.example.com:8080", "exact-port"}, /* the port is named */
	    {"api.example.com:9090", "exact"},      /* stripped, before any wildcard */
	    {"x.example.com:9090", "suffix-port"},  /* the port is named by a suffix */
	    {"upper.example.org", "upper"},
	    {"UPPER.example.org:1", "upper"},
	    {"x.api.example.com", "suffix-long"}, /* longest suffix */
	    {"x.example.com", "suffix"},
	    {"foo-bar.example.com", "suffix-dash"}, /* "-bar.example.com" is longer */
	    {"x.example.com:8443", "suffix"},       /* stripped */
	    {"example.com", "any"},                 /* a wildcard stands for >= 1 char */
	    {".example.com", "any"},
	    {"api.example.org", "prefix-long"}, /* longest prefix */
	    {"api.test", "prefix"},
	    {"API.test", "prefix"},
	    {"api.", "any"},
	    {"x.example.com.evil.org", "any"}, /* a suffix must end the host */
	    {"[::1]:8080", "ipv6"},
	    {"[::1]", "ipv6"},
	    {"unknown.org", "any"},
	    {"", "any"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_name(vhost_name_for(&rc, cases[i].authority), cases[i].vhost,
			    cases[i].authority);

	/* An absent :authority gets the catch-all too. */
	struct http_head h;
	request(&h, "GET", NULL, "/", NULL);
	assert_name(router_vhost(&rc, &h)->name, "any", "no authority");
	http_head_clear(&h);
	router_config_clear(&rc);
	assert_null(rc.vhosts);
	assert_int_equal(rc.n_vhosts, 0);
}

static void test_vhost_without_catch_all(void **state)
{
	(void)state;
	struct route_config rc = {0};
	add_vhost(&rc, "a", (const char *[]){"a.com", NULL});
	add_vhost(&rc, "b", (const char *[]){"*.b.com", NULL});
	prepare_ok(&rc);
	assert_name(vhost_name_for(&rc, "a.com:80"), "a", "a.com:80");
	assert_name(vhost_name_for(&rc, "x.b.com"), "b", "x.b.com");
	assert_null(vhost_name_for(&rc, "c.com"));
	assert_null(vhost_name_for(&rc, "b.com"));
	/* The first of two virtual hosts naming the same domain wins. */
	add_vhost(&rc, "a2", (const char *[]){"a.com", "*.b.com", "c.*", NULL});
	add_vhost(&rc, "c", (const char *[]){"c.*", NULL});
	assert_name(vhost_name_for(&rc, "a.com"), "a", "duplicate");
	assert_name(vhost_name_for(&rc, "x.b.com"), "b", "duplicate suffix");
	assert_name(vhost_name_for(&rc, "c.x"), "a2", "duplicate prefix");
	router_config_clear(&rc);
}

/* ---- path matching ---- */

static void test_path_kinds(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	add_route(vh, "exact", PATH_EXACT, "/exact");
	add_route(vh, "exact-ci", PATH_EXACT, "/Exact-CI")->match.case_sensitive = false;
	add_route(vh, "regex", PATH_REGEX, "/users/[0-9]+");
	add_route(vh, "regex-ci-ignored", PATH_REGEX, "/Reg")->match.case_sensitive = false;
	add_route(vh, "prefix-ci", PATH_PREFIX, "/CI/")->match.case_sensitive = false;
	add_route(vh, "prefix", PATH_PREFIX, "/api/");
	add_route(vh, "root", PATH_PREFIX, "/");
	prepare_ok(&rc);
	vh = &rc.vhosts[0];

	static const struct {
		const char *path, *route;
	} cases[] = {
	    {"/exact", "exact"},
	    {"/exact?x=1", "exact"}, /* the query is not part of the path */
	    {"/exact#frag", "exact"},
	    {"/exact/", "root"},
	    {"/exac", "root"},
	    {"/Exact", "root"}, /* case-sensitive by default */
	    {"/exact-ci", "exact-ci"},
	    {"/EXACT-CI?q", "exact-ci"},
	    {"/users/42", "regex"},
	    {"/users/42?tab=1", "regex"}, /* the regex sees the path only */
	    {"/users/42/x", "root"},      /* full match, not search */
	    {"/users/", "root"},
	    {"/Reg", "regex-ci-ignored"},
	    {"/reg", "root"}, /* case_sensitive does not apply to regexes */
	    {"/ci/x", "prefix-ci"},
	    {"/Ci/X", "prefix-ci"},
	    {"/api/v1", "prefix"},
	    {"/api/", "prefix"},
	    {"/api", "root"},
	    {"/API/v1", "root"},
	    {"/apix?/api/", "root"}, /* a prefix in the query does not count */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_name(route_name_for(vh, cases[i].path, NULL), cases[i].route, cases[i].path);

	/* No route: NULL; no path at all: only an empty prefix would match. */
	assert_null(route_name_for(vh, "x", NULL));
	assert_null(route_name_for(vh, NULL, NULL));
	assert_null(router_route(NULL, NULL));
	router_config_clear(&rc);
}

/* ---- header and query matchers ---- */

struct header_case {
	const char *what;
	const char *name;
	enum string_match_kind kind;
	const char *value; /* NULL: present_match */
	bool ignore_case, invert;
	const char *headers[7];
	bool matches;
};

static const struct header_case header_cases[] = {
    {"exact", "x-env", SM_EXACT, "prod", false, false, {"x-env", "prod"}, true},
    {"exact mismatch", "x-env", SM_EXACT, "prod", false, false, {"x-env", "prod2"}, false},
    {"exact case", "x-env", SM_EXACT, "prod", false, false, {"x-env", "PROD"}, false},
    {"exact ignore_case", "x-env", SM_EXACT, "prod", true, false, {"x-env", "PROD"}, true},
    {"absent", "x-env", SM_EXACT, "prod", false, false, {"x-other", "prod"}, false},
    {"name is case-insensitive", "x-env", SM_EXACT, "prod", false, false, {"X-Env", "prod"}, true},
    {"prefix", "x-env", SM_PREFIX, "pr", false, false, {"x-env", "prod"}, true},
    {"prefix too long", "x-env", SM_PREFIX, "prodx", false, false, {"x-env", "prod"}, false},
    {"prefix ignore_case", "x-env", SM_PREFIX, "PR", true, false, {"x-env", "prod"}, true},
    {"suffix", "x-env", SM_SUFFIX, "od", false, false, {"x-env", "prod"}, true},
    {"suffix mismatch", "x-env", SM_SUFFIX, "pr", false, false, {"x-env", "prod"}, false},
    {"suffix ignore_case", "x-env", SM_SUFFIX, "OD", true, false, {"x-env", "prod"}, true},
    {"contains", "x-env", SM_CONTAINS, "ro", false, false, {"x-env", "prod"}, true},
    {"contains mismatch", "x-env", SM_CONTAINS, "dp", false, false, {"x-env", "prod"}, false},
    {"contains ignore_case", "x-env", SM_CONTAINS, "RO", true, false, {"x-env", "prod"}, true},
    {"regex", "x-env", SM_REGEX, "pr[aeiou]d", false, false, {"x-env", "prod"}, true},
    {"regex is a full match", "x-env", SM_REGEX, "pr", false, false, {"x-env", "prod"}, false},
    {"regex ignores ignore_case", "x-env", SM_REGEX, "PROD", true, false, {"x-env", "prod"}, false},
    {"present", "x-env", SM_EXACT, NULL, false, false, {"x-env", ""}, true},
    {"present, absent", "x-env", SM_EXACT, NULL, false, false, {"x-a", "b"}, false},
    {"invert present, absent", "x-env", SM_EXACT, NULL, false, true, {"x-a", "b"}, true},
    {"invert present, present", "x-env", SM_EXACT, NULL, false, true, {"x-env", "x"}, false},
    {"invert exact", "x-env", SM_EXACT, "prod", false, true, {"x-env", "dev"}, true},
    {"invert exact, equal", "x-env", SM_EXACT, "prod", false, true, {"x-env", "prod"}, false},
    /* Envoy: an absent header does not satisfy an inverted string match. */
    {"invert exact, absent", "x-env", SM_EXACT, "prod", false, true, {"x-a", "b"}, false},
    {"invert regex", "x-env", SM_REGEX, "p.*", false, true, {"x-env", "dev"}, true},
    {"values joined with ,",
     "x-tag",
     SM_EXACT,
     "a,b",
     false,
     false,
     {"x-tag", "a", "x-other", "z", "x-tag", "b"},
     true},
    {"joined, first alone",
     "x-tag",
     SM_EXACT,
     "a",
     false,
     false,
     {"x-tag", "a", "x-tag", "b"},
     false},
    {"joined regex",
     "x-tag",
     SM_REGEX,
     "a,b,c",
     false,
     false,
     {"x-tag", "a", "x-tag", "b", "x-tag", "c"},
     true},
    {":method", ":method", SM_EXACT, "GET", false, false, {NULL}, true},
    {":method mismatch", ":method", SM_EXACT, "POST", false, false, {NULL}, false},
    {":authority", ":authority", SM_SUFFIX, ".com", false, false, {NULL}, true},
    {":path sees the query", ":path", SM_EXACT, "/p?q=1", false, false, {NULL}, true},
    {":scheme absent", ":scheme", SM_EXACT, NULL, false, false, {NULL}, false},
    {"unknown pseudo", ":protocol", SM_EXACT, NULL, false, true, {NULL}, true},
};

static void test_header_matchers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		const struct header_case *c = &header_cases[i];
		struct route_config rc = {0};
		struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
		struct route *r = add_route(vh, "r", PATH_PREFIX, "/");
		struct header_match *m = add_header_match(r, c->name, c->kind, c->value);
		m->value.ignore_case = c->ignore_case;
		m->invert = c->invert;
		prepare_ok(&rc);
		bool got = route_name_for(&rc.vhosts[0], "/p?q=1", c->headers) != NULL;
		if (got != c->matches)
			fail_msg("%s: got %d", c->what, got);
		router_config_clear(&rc);
	}
}

static void test_all_header_matchers_must_match(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *r = add_route(vh, "both", PATH_PREFIX, "/");
	add_header_match(r, "x-a", SM_EXACT, "1");
	add_header_match(r, "x-b", SM_EXACT, "2");
	add_route(vh, "fallback", PATH_PREFIX, "/");
	prepare_ok(&rc);
	vh = &rc.vhosts[0];
	assert_name(route_name_for(vh, "/", (const char *[]){"x-a", "1", "x-b", "2", NULL}), "both",
		    "both");
	assert_name(route_name_for(vh, "/", (const char *[]){"x-a", "1", NULL}), "fallback", "one");
	assert_name(route_name_for(vh, "/", (const char *[]){"x-b", "2", "x-a", "0", NULL}),
		    "fallback", "wrong value");
	router_config_clear(&rc);
}

struct query_case {
	const char *what;
	const char *name;
	enum string_match_kind kind;
	const char *value; /* NULL: present_match */
	bool ignore_case;
	const char *path;
	bool matches;
};

static const struct query_case query_cases[] = {
    {"present", "debug", SM_EXACT, NULL, false, "/p?debug=1", true},
    {"present, no =", "debug", SM_EXACT, NULL, false, "/p?a=1&debug", true},
    {"present, empty", "debug", SM_EXACT, NULL, false, "/p?debug=", true},
    {"absent", "debug", SM_EXACT, NULL, false, "/p?debugx=1", false},
    {"name is a suffix of another", "user", SM_EXACT, NULL, false, "/p?xuser=1", false},
    {"no query", "debug", SM_EXACT, NULL, false, "/p", false},
    {"in the path, not the query", "debug", SM_EXACT, NULL, false, "/debug?x", false},
    {"exact", "v", SM_EXACT, "2", false, "/p?a=1&v=2&b=3", true},
    {"exact, mismatch", "v", SM_EXACT, "2", false, "/p?v=22", false},
    {"exact on no =", "v", SM_EXACT, "", false, "/p?v", true},
    {"first occurrence", "v", SM_EXACT, "1", false, "/p?v=1&v=2", true},
    {"later occurrence not seen", "v", SM_EXACT, "2", false, "/p?v=1&v=2", false},
    {"raw, not URL-decoded", "q", SM_EXACT, "a%20b", false, "/p?q=a%20b", true},
    {"decoded form does not match", "q", SM_EXACT, "a b", false, "/p?q=a%20b", false},
    {"name not decoded", "a b", SM_EXACT, NULL, false, "/p?a%20b=1", false},
    {"prefix", "v", SM_PREFIX, "ab", false, "/p?v=abc", true},
    {"suffix ignore_case", "v", SM_SUFFIX, "BC", true, "/p?v=abc", true},
    {"contains", "v", SM_CONTAINS, "b", false, "/p?v=abc", true},
    {"regex", "id", SM_REGEX, "[0-9]+", false, "/p?id=123&x", true},
    {"regex mismatch", "id", SM_REGEX, "[0-9]+", false, "/p?id=12a", false},
    {"fragment is not query", "v", SM_EXACT, "1", false, "/p?v=1#x", true},
    {"empty parameters skipped", "v", SM_EXACT, "1", false, "/p?&&v=1", true},
};

static void test_query_matchers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
		const struct query_case *c = &query_cases[i];
		struct route_config rc = {0};
		struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
		struct route *r = add_route(vh, "r", PATH_PREFIX, "/");
		add_query_match(r, c->name, c->kind, c->value)->value.ignore_case = c->ignore_case;
		prepare_ok(&rc);
		bool got = route_name_for(&rc.vhosts[0], c->path, NULL) != NULL;
		if (got != c->matches)
			fail_msg("%s (%s): got %d", c->what, c->path, got);
		router_config_clear(&rc);
	}
}

/* ---- clusters ---- */

static void test_weighted_distribution(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *r = add_route(vh, "r", PATH_PREFIX, "/");
	const char *names[] = {"a", "b", "c"};
	uint32_t weights[] = {10, 20, 70};
	for (size_t i = 0; i < 3; i++) {
		r->weighted = grow(r->weighted, &r->n_weighted, sizeof(*r->weighted));
		r->weighted[i].name = dup(names[i]);
		r->weighted[i].weight = weights[i];
	}
	r->total_weight = 12345; /* wrong on purpose: router_prepare recomputes it */
	prepare_ok(&rc);
	r = &rc.vhosts[0].routes[0];
	assert_int_equal(r->total_weight, 100);

	size_t counts[3] = {0};
	for (uint32_t random = 0; random < 10000; random++) {
		const char *name = NULL;
		assert_null(router_pick_cluster(r, random, &name)); /* not linked */
		assert_non_null(name);
		for (size_t i = 0; i < 3; i++)
			counts[i] += strcmp(name, names[i]) == 0;
	}
	assert_int_equal(counts[0], 1000);
	assert_int_equal(counts[1], 2000);
	assert_int_equal(counts[2], 7000);

	/* The boundaries: [0,10) a, [10,30) b, [30,100) c, by random % 100. */
	const char *name;
	router_pick_cluster(r, 9, &name);
	assert_string_equal(name, "a");
	router_pick_cluster(r, 10, &name);
	assert_string_equal(name, "b");
	router_pick_cluster(r, 29, &name);
	assert_string_equal(name, "b");
	router_pick_cluster(r, 30, &name);
	assert_string_equal(name, "c");
	router_pick_cluster(r, UINT32_MAX, &name); /* 4294967295 % 100 = 95 */
	assert_string_equal(name, "c");
	router_config_clear(&rc);
}

static void test_weights_must_add_up(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *r = add_route(vh, "r", PATH_PREFIX, "/");
	for (size_t i = 0; i < 2; i++) {
		r->weighted = grow(r->weighted, &r->n_weighted, sizeof(*r->weighted));
		r->weighted[i].name = dup("x");
		r->weighted[i].weight = i ? UINT32_MAX : 0;
	}
	char err[256];
	assert_int_equal(router_prepare(&rc, err, sizeof(err)), 0);
	r->weighted[0].weight = 1; /* now the sum overflows 32 bits */
	assert_int_equal(router_prepare(&rc, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "virtual_hosts[0].routes[0].route.weighted_clusters: "
				 "the weights must add up to between 1 and 2^32-1");
	r->weighted[0].weight = r->weighted[1].weight = 0;
	assert_int_equal(router_prepare(&rc, err, sizeof(err)), -EINVAL);
	router_config_clear(&rc);
}

static void test_link_and_pick(void **state)
{
	(void)state;
	struct cluster clusters[2] = {{.name = "web"}, {.name = "canary"}};
	struct snapshot snap = {.clusters = clusters, .n_clusters = 2};
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *plain = add_route(vh, "plain", PATH_PREFIX, "/a");
	free(plain->cluster_name);
	plain->cluster_name = dup("web");
	add_route(vh, "missing", PATH_PREFIX, "/b"); /* cluster "backend": not there */
	struct route *w = add_route(vh, "weighted", PATH_PREFIX, "/c");
	free(w->cluster_name);
	w->cluster_name = NULL;
	const char *wn[] = {"canary", "gone"};
	for (size_t i = 0; i < 2; i++) {
		w->weighted = grow(w->weighted, &w->n_weighted, sizeof(*w->weighted));
		w->weighted[i].name = dup(wn[i]);
		w->weighted[i].weight = 1;
	}
	struct route *redirect = add_route(vh, "redirect", PATH_PREFIX, "/d");
	redirect->kind = ROUTE_REDIRECT;
	prepare_ok(&rc);
	router_link(&rc, &snap);
	vh = &rc.vhosts[0];

	const char *name;
	assert_ptr_equal(router_pick_cluster(&vh->routes[0], 7, &name), &clusters[0]);
	assert_string_equal(name, "web");
	assert_null(router_pick_cluster(&vh->routes[1], 7, &name));
	assert_string_equal(name, "backend"); /* named, for 503 NC */
	assert_ptr_equal(router_pick_cluster(&vh->routes[2], 0, &name), &clusters[1]);
	assert_string_equal(name, "canary");
	assert_null(router_pick_cluster(&vh->routes[2], 1, &name));
	assert_string_equal(name, "gone");
	assert_null(router_pick_cluster(&vh->routes[3], 0, &name));
	assert_null(name);

	/* Relinking against a snapshot without them clears the pointers. */
	struct snapshot empty = {0};
	router_link(&rc, &empty);
	assert_null(router_pick_cluster(&vh->routes[0], 7, &name));
	assert_null(vh->routes[2].weighted[0].cluster);
	router_config_clear(&rc);
}

/* Gives r n hash policies (their names copied). */
static void set_hash(struct route *r, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	r->hash_policies = calloc(n, sizeof(*r->hash_policies));
	assert_non_null(r->hash_policies);
	for (size_t i = 0; i < n; i++) {
		struct hash_policy p = va_arg(ap, struct hash_policy);
		if (p.name)
			p.name = dup(p.name);
		r->hash_policies[r->n_hash_policies++] = p;
	}
	va_end(ap);
}

static void test_request_hash(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *none = add_route(vh, "none", PATH_PREFIX, "/");
	struct route *user = add_route(vh, "user", PATH_PREFIX, "/");
	set_hash(user, 1, (struct hash_policy){ .kind = HASH_HEADER, .name = "x-user", .terminal = false });
	struct route *host = add_route(vh, "host", PATH_PREFIX, "/");
	set_hash(host, 1, (struct hash_policy){ .kind = HASH_HEADER, .name = ":authority", .terminal = false });
	/* Istio's useSourceIp and httpQueryParameterName, and a list */
	struct route *ip = add_route(vh, "ip", PATH_PREFIX, "/");
	set_hash(ip, 1, (struct hash_policy){ .kind = HASH_SOURCE_IP, .name = NULL, .terminal = false });
	struct route *query = add_route(vh, "query", PATH_PREFIX, "/");
	set_hash(query, 1, (struct hash_policy){ .kind = HASH_QUERY_PARAMETER, .name = "shard", .terminal = false });
	struct route *list = add_route(vh, "list", PATH_PREFIX, "/");
	set_hash(list, 3, (struct hash_policy){ .kind = HASH_HEADER, .name = "x-missing", .terminal = false },
		 (struct hash_policy){ .kind = HASH_HEADER, .name = "x-user", .terminal = false },
		 (struct hash_policy){ .kind = HASH_SOURCE_IP, .name = NULL, .terminal = false });
	struct route *term = add_route(vh, "terminal", PATH_PREFIX, "/");
	set_hash(term, 2, (struct hash_policy){ .kind = HASH_HEADER, .name = "x-user", .terminal = true },
		 (struct hash_policy){ .kind = HASH_SOURCE_IP, .name = NULL, .terminal = false });
	prepare_ok(&rc);
	struct route *rs = rc.vhosts[0].routes;
	none = &rs[0], user = &rs[1], host = &rs[2], ip = &rs[3], query = &rs[4], list = &rs[5];
	term = &rs[6];

	struct sock_addr src, dst;
	assert_int_equal(sock_addr_parse("10.1.2.3", 40000, &src), 0);
	assert_int_equal(sock_addr_parse("10.9.9.9", 8080, &dst), 0);
	struct hash_context ctx = { &src, &dst, NULL };
	struct http_head h;
	request(&h, "GET", "example.com", "/p?a=1&shard=7&shard=8",
		(const char *[]){"x-user", "abc", NULL});
	uint64_t hash = 0;
	assert_int_equal(router_request_hash(none, &h, &ctx, &hash), -ENOENT);
	assert_int_equal(router_request_hash(user, &h, &ctx, &hash), 0);
	assert_true(hash == lb_hash("abc", 3));
	assert_true(hash == 0x44BC2CF5AD770999ull); /* XXH64("abc", seed 0), as Envoy */
	assert_int_equal(router_request_hash(host, &h, &ctx, &hash), 0);
	assert_true(hash == lb_hash("example.com", 11));
	assert_int_equal(router_request_hash(ip, &h, &ctx, &hash), 0);
	assert_true(hash == lb_hash("10.1.2.3", 8)); /* the address, not the port */
	assert_int_equal(router_request_hash(ip, &h, NULL, &hash), -ENOENT);
	assert_int_equal(router_request_hash(query, &h, &ctx, &hash), 0);
	assert_true(hash == lb_hash("7", 1)); /* the first value, raw */
	/* Envoy's combination: rotate left by one, xor the next */
	uint64_t u = lb_hash("abc", 3), i = lb_hash("10.1.2.3", 8);
	assert_int_equal(router_request_hash(list, &h, &ctx, &hash), 0);
	assert_true(hash == (((u << 1) | (u >> 63)) ^ i));
	assert_int_equal(router_request_hash(term, &h, &ctx, &hash), 0);
	assert_true(hash == u); /* terminal: found, so the list ends there */
	http_head_clear(&h);

	request(&h, "GET", NULL, "/", NULL);
	assert_int_equal(router_request_hash(user, &h, &ctx, &hash), -ENOENT);
	assert_int_equal(router_request_hash(host, &h, &ctx, &hash), -ENOENT);
	assert_int_equal(router_request_hash(query, &h, &ctx, &hash), -ENOENT);
	assert_int_equal(router_request_hash(term, &h, &ctx, &hash), 0);
	assert_true(hash == i); /* a terminal one without its value does not end it */
	http_head_clear(&h);
	router_config_clear(&rc);
}

/* Istio's httpCookie: the cookie's value is the key; without the cookie
 * and with a ttl, skiff makes one as Envoy's router does (the hex hash of
 * the connection's two ends) and hands back its Set-Cookie. */
static void test_cookie_hash(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *plain = add_route(vh, "plain", PATH_PREFIX, "/");
	set_hash(plain, 1, (struct hash_policy){ .kind = HASH_COOKIE, .name = "sid" });
	struct route *made = add_route(vh, "made", PATH_PREFIX, "/");
	set_hash(made, 1, (struct hash_policy){ .kind = HASH_COOKIE, .name = "sid", .has_ttl = true,
						.ttl_s = 3600 });
	made->hash_policies[0].path = dup("/app");
	struct route *session = add_route(vh, "session", PATH_PREFIX, "/");
	set_hash(session, 1, (struct hash_policy){ .kind = HASH_COOKIE, .name = "sid", .has_ttl = true });
	prepare_ok(&rc);
	plain = &rc.vhosts[0].routes[0], made = &rc.vhosts[0].routes[1];
	session = &rc.vhosts[0].routes[2];

	struct sock_addr src, dst;
	assert_int_equal(sock_addr_parse("10.1.2.3", 40000, &src), 0);
	assert_int_equal(sock_addr_parse("10.9.9.9", 8080, &dst), 0);
	struct hash_context ctx = { &src, &dst, NULL };
	struct http_head h;
	uint64_t hash = 0;
	/* split over two Cookie fields (HTTP/2 sends them so), quotes off */
	request(&h, "GET", "a", "/", (const char *[]){"cookie", "a=1; sidx=2", "cookie", "b=3;  sid=\"xyz\"", NULL});
	assert_int_equal(router_request_hash(plain, &h, &ctx, &hash), 0);
	assert_true(hash == lb_hash("xyz", 3));
	assert_int_equal(router_request_hash(made, &h, &ctx, &hash), 0);
	assert_null(ctx.set_cookie); /* the client has one */
	http_head_clear(&h);

	request(&h, "GET", "a", "/", (const char *[]){"cookie", "sid=", NULL}); /* empty: none */
	assert_int_equal(router_request_hash(plain, &h, &ctx, &hash), -ENOENT);
	assert_int_equal(router_request_hash(made, &h, &ctx, &hash), 0);
	char value[17];
	snprintf(value, sizeof(value), "%016llx",
		 (unsigned long long)lb_hash("10.1.2.3:4000010.9.9.9:8080", 27));
	assert_true(hash == lb_hash(value, 16));
	char want[128];
	snprintf(want, sizeof(want), "sid=\"%s\"; Max-Age=3600; Path=/app; HttpOnly", value);
	assert_string_equal(ctx.set_cookie, want);
	free(ctx.set_cookie);
	ctx.set_cookie = NULL;
	assert_int_equal(router_request_hash(session, &h, &ctx, &hash), 0);
	snprintf(want, sizeof(want), "sid=\"%s\"; HttpOnly", value); /* no ttl: a session cookie */
	assert_string_equal(ctx.set_cookie, want);
	free(ctx.set_cookie);
	ctx.set_cookie = NULL;
	assert_int_equal(router_request_hash(made, &h, NULL, &hash), -ENOENT); /* ends unknown */
	http_head_clear(&h);
	router_config_clear(&rc);
}

/* ---- edits and rewrites ---- */

static size_t count_fields(const struct http_head *h, const char *name, const char **values,
			   size_t max)
{
	size_t n = 0;
	for (uint32_t i = 0; i < h->n_fields; i++)
		if (strcmp(h->fields[i].name.p, name) == 0) {
			if (n < max)
				values[n] = h->fields[i].value.p;
			n++;
		}
	return n;
}

static void test_edit_order(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *r = add_route(vh, "r", PATH_PREFIX, "/");
	/* The same header set at every level: the route configuration's is
	 * applied last and wins (Envoy's default). */
	add_request_header(&r->edits, "x-level", "route", false);
	add_request_header(&vh->edits, "x-level", "vhost", false);
	add_request_header(&rc.edits, "x-level", "config", false);
	/* Appends keep every level, in application order. */
	add_request_header(&r->edits, "x-trail", "route", true);
	add_request_header(&vh->edits, "x-trail", "vhost", true);
	add_request_header(&rc.edits, "x-trail", "config", true);
	/* The route adds what the virtual host then removes. */
	add_request_header(&r->edits, "x-internal", "route", true);
	add_request_remove(&vh->edits, "x-internal");
	/* Within one level, removals come before additions. */
	add_request_header(&rc.edits, "x-replaced", "new", true);
	add_request_remove(&rc.edits, "x-replaced");
	/* set replaces what the client sent; append keeps it. */
	add_request_header(&r->edits, "x-client-set", "ours", false);
	add_request_header(&r->edits, "x-client-add", "ours", true);
	prepare_ok(&rc);
	vh = &rc.vhosts[0];
	r = &vh->routes[0];

	struct http_head h;
	request(&h, "GET", "example.com", "/",
		(const char *[]){"x-internal", "client", "x-replaced", "old", "x-client-set",
				 "theirs", "x-client-add", "theirs", "x-level", "client", NULL});
	assert_int_equal(router_edit_request(&rc, vh, r, &h), 0);
	const char *v[4];
	assert_int_equal(count_fields(&h, "x-level", v, 4), 1);
	assert_string_equal(v[0], "config");
	assert_int_equal(count_fields(&h, "x-trail", v, 4), 3);
	assert_string_equal(v[0], "route");
	assert_string_equal(v[1], "vhost");
	assert_string_equal(v[2], "config");
	assert_int_equal(count_fields(&h, "x-internal", v, 4), 0);
	assert_int_equal(count_fields(&h, "x-replaced", v, 4), 1);
	assert_string_equal(v[0], "new");
	assert_int_equal(count_fields(&h, "x-client-set", v, 4), 1);
	assert_string_equal(v[0], "ours");
	assert_int_equal(count_fields(&h, "x-client-add", v, 4), 2);
	assert_string_equal(v[0], "theirs");
	assert_string_equal(v[1], "ours");
	/* No rewrite configured: the path and authority are untouched. */
	assert_string_equal(h.path.p, "/");
	assert_string_equal(h.authority.p, "example.com");
	assert_null(http_head_get(&h, "x-envoy-original-path"));
	http_head_clear(&h);

	/* Levels may be missing (no route matched: only config and vhost). */
	request(&h, "GET", "example.com", "/", NULL);
	assert_int_equal(router_edit_request(&rc, NULL, NULL, &h), 0);
	assert_int_equal(count_fields(&h, "x-trail", v, 4), 1);
	assert_string_equal(v[0], "config");
	http_head_clear(&h);
	router_config_clear(&rc);
}

static void test_response_edits(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *r = add_route(vh, "r", PATH_PREFIX, "/");
	add_response_header(&r->edits, "x-served-by", "route", false);
	add_response_header(&rc.edits, "x-served-by", "config", false);
	add_response_remove(&vh->edits, "server");
	add_response_header(&vh->edits, "x-vh", "1", true);
	/* Request edits do not touch responses. */
	add_request_header(&rc.edits, "x-request-only", "1", false);
	prepare_ok(&rc);
	vh = &rc.vhosts[0];
	r = &vh->routes[0];

	struct http_head h;
	http_head_init(&h);
	h.status = 200;
	assert_int_equal(http_head_add(&h, "server", 6, "upstream", 8), 0);
	assert_int_equal(router_edit_response(&rc, vh, r, &h), 0);
	const char *v[2];
	assert_int_equal(count_fields(&h, "x-served-by", v, 2), 1);
	assert_string_equal(v[0], "config");
	assert_null(http_head_get(&h, "server"));
	assert_non_null(http_head_get(&h, "x-vh"));
	assert_null(http_head_get(&h, "x-request-only"));
	http_head_clear(&h);
	router_config_clear(&rc);
}

static void test_rewrites(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	struct route *r = add_route(vh, "api", PATH_PREFIX, "/api/");
	r->prefix_rewrite = dup("/v2/");
	r->host_rewrite = dup("backend.internal");
	r = add_route(vh, "ci", PATH_PREFIX, "/Old");
	r->match.case_sensitive = false;
	r->prefix_rewrite = dup("/new");
	r = add_route(vh, "exact", PATH_EXACT, "/login");
	r->prefix_rewrite = dup("/auth/login");
	r = add_route(vh, "regex", PATH_REGEX, "/r/.*");
	r->prefix_rewrite = dup("/ignored");
	prepare_ok(&rc);
	vh = &rc.vhosts[0];

	static const struct {
		const char *path, *rewritten, *authority;
	} cases[] = {
	    {"/api/users?x=1", "/v2/users?x=1", "backend.internal"},
	    {"/api/", "/v2/", "backend.internal"},
	    {"/OLD/page", "/new/page", "example.com"},
	    {"/oldies", "/newies", "example.com"},
	    {"/login?next=/", "/auth/login?next=/", "example.com"},
	    {"/r/x", "/r/x", "example.com"}, /* no prefix to swap in a regex match */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_head h;
		request(&h, "GET", "example.com", cases[i].path, NULL);
		const struct route *rt = router_route(vh, &h);
		assert_non_null(rt);
		assert_int_equal(router_edit_request(&rc, vh, rt, &h), 0);
		assert_string_equal(h.path.p, cases[i].rewritten);
		assert_int_equal(h.path.len, strlen(cases[i].rewritten));
		assert_string_equal(h.authority.p, cases[i].authority);
		const struct http_field *orig = http_head_get(&h, "x-envoy-original-path");
		if (strcmp(cases[i].path, cases[i].rewritten) != 0) {
			assert_non_null(orig);
			assert_string_equal(orig->value.p, cases[i].path);
		} else {
			assert_null(orig);
		}
		http_head_clear(&h);
	}
	router_config_clear(&rc);
}

/* ---- redirects ---- */

struct redirect_case {
	const char *what;
	const char *scheme, *host, *path, *prefix; /* the route's redirect */
	bool strip_query;
	const char *req_scheme, *req_authority, *req_path;
	const char *location;
};

static const struct redirect_case redirect_cases[] = {
    {"https_redirect drops the default port", "https", NULL, NULL, NULL, false, "http",
     "example.com:80", "/a?b=1", "https://example.com/a?b=1"},
    {"https_redirect keeps another port", "https", NULL, NULL, NULL, false, "http",
     "example.com:8080", "/a?b=1", "https://example.com:8080/a?b=1"},
    {"same scheme keeps :80", "http", NULL, NULL, NULL, false, "http", "example.com:80", "/a",
     "http://example.com:80/a"},
    {"to http drops :443", "http", NULL, NULL, NULL, false, "https", "[::1]:443", "/",
     "http://[::1]/"},
    {"strip_query", "https", NULL, NULL, NULL, true, "http", "example.com", "/a?b=1#f",
     "https://example.com/a"},
    {"no scheme in the request: http", NULL, "other.com", NULL, NULL, false, NULL, "example.com",
     "/a", "http://other.com/a"},
    {"request scheme kept", NULL, NULL, NULL, NULL, false, "https", "example.com", "/a",
     "https://example.com/a"},
    {"path_redirect keeps the query", NULL, NULL, "/new", NULL, false, "http", "example.com",
     "/old?b=1", "http://example.com/new?b=1"},
    {"path_redirect with strip_query", NULL, NULL, "/new", NULL, true, "http", "example.com",
     "/old?b=1", "http://example.com/new"},
    {"path_redirect's own query wins", NULL, NULL, "/new?x=2", NULL, false, "http", "example.com",
     "/old?b=1", "http://example.com/new?x=2"},
    {"prefix_rewrite", NULL, "other.com", NULL, "/new/", false, "http", "example.com",
     "/old/page?q", "http://other.com/new/page?q"},
    {"prefix_rewrite with strip_query", NULL, NULL, NULL, "/new/", true, "http", "example.com",
     "/old/page?q", "http://example.com/new/page"},
    {"host_redirect keeps its port", "https", "other.com:8443", NULL, NULL, false, "http",
     "example.com:80", "/", "https://other.com:8443/"},
};

static void test_redirects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(redirect_cases) / sizeof(redirect_cases[0]); i++) {
		const struct redirect_case *c = &redirect_cases[i];
		struct route_config rc = {0};
		struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
		struct route *r = add_route(vh, "r", PATH_PREFIX, c->prefix ? "/old/" : "/");
		r->kind = ROUTE_REDIRECT;
		r->redirect_scheme = dup(c->scheme);
		r->redirect_host = dup(c->host);
		r->redirect_path = dup(c->path);
		r->redirect_prefix = dup(c->prefix);
		r->strip_query = c->strip_query;
		r->redirect_code = 301;
		prepare_ok(&rc);

		struct http_head h;
		request(&h, "GET", c->req_authority, c->req_path, NULL);
		if (c->req_scheme)
			assert_int_equal(http_head_set_pseudo(&h, &h.scheme, c->req_scheme,
							      strlen(c->req_scheme)),
					 0);
		const struct route *rt = router_route(&rc.vhosts[0], &h);
		assert_non_null(rt);
		char *loc = router_redirect_location(rt, &h);
		assert_non_null(loc);
		if (strcmp(loc, c->location) != 0)
			fail_msg("%s: got %s, want %s", c->what, loc, c->location);
		free(loc);
		http_head_clear(&h);
		router_config_clear(&rc);
	}
}

/* ---- preparation errors ---- */

static void test_regex_errors_name_the_field(void **state)
{
	(void)state;
	char err[256];
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "a", (const char *[]){"a.com", NULL});
	add_route(vh, "r0", PATH_PREFIX, "/");
	add_route(vh, "r1", PATH_REGEX, "/ok/[a-z]+");
	add_route(vh, "r2", PATH_REGEX, "(ab");
	assert_int_equal(router_prepare(&rc, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "virtual_hosts[0].routes[2].match.safe_regex.regex: "
				 "missing closing parenthesis at offset 3");
	router_config_clear(&rc);

	rc = (struct route_config){0};
	add_vhost(&rc, "a", (const char *[]){"a.com", NULL});
	vh = add_vhost(&rc, "b", (const char *[]){"b.com", NULL});
	struct route *r = add_route(vh, "r0", PATH_PREFIX, "/");
	add_header_match(r, "x-a", SM_REGEX, "fine");
	add_header_match(r, "x-b", SM_REGEX, "[z-a]");
	assert_int_equal(router_prepare(&rc, err, sizeof(err)), -EINVAL);
	const char *want =
	    "virtual_hosts[1].routes[0].match.headers[1].string_match.safe_regex.regex: ";
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "range out of order"));
	router_config_clear(&rc);

	rc = (struct route_config){0};
	vh = add_vhost(&rc, "a", (const char *[]){"a.com", NULL});
	add_route(vh, "r0", PATH_PREFIX, "/");
	r = add_route(vh, "r1", PATH_PREFIX, "/");
	add_query_match(r, "q", SM_EXACT, "(not a regex");
	add_query_match(r, "q2", SM_REGEX, "a**");
	assert_int_equal(router_prepare(&rc, err, sizeof(err)), -EINVAL);
	want =
	    "virtual_hosts[0].routes[1].match.query_parameters[1].string_match.safe_regex.regex: ";
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "at offset 2"));
	router_config_clear(&rc);
}

static void test_prepare_refuses_unsafe_edits(void **state)
{
	(void)state;
	static const struct {
		int level; /* 0 route config, 1 virtual host, 2 route */
		bool remove;
		const char *name, *value;
		const char *err;
	} cases[] = {
	    {2, false, ":authority", "x",
	     "virtual_hosts[0].routes[0].request_headers_to_add[0].header.key: "
	     "pseudo-headers may not be modified"},
	    {1, false, "host", "x",
	     "virtual_hosts[0].request_headers_to_add[0].header.key: "
	     "host may not be modified"},
	    {0, true, ":path", NULL,
	     "request_headers_to_remove[0]: pseudo-headers may not be modified"},
	    {0, false, "x-ok", "a\r\nx-evil: 1",
	     "request_headers_to_add[0].header.value: "
	     "CR or LF in a header value"},
	    {2, false, "X-Upper", "x",
	     "virtual_hosts[0].routes[0].request_headers_to_add[0].header.key: "
	     "not a lower-case header name"},
	    {1, false, "bad name", "x",
	     "virtual_hosts[0].request_headers_to_add[0].header.key: "
	     "not a lower-case header name"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route_config rc = {0};
		struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
		struct route *r = add_route(vh, "r", PATH_PREFIX, "/");
		struct header_edits *e = cases[i].level == 0   ? &rc.edits
					 : cases[i].level == 1 ? &vh->edits
							       : &r->edits;
		if (cases[i].remove)
			add_request_remove(e, cases[i].name);
		else
			add_request_header(e, cases[i].name, cases[i].value, false);
		char err[256];
		assert_int_equal(router_prepare(&rc, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, cases[i].err);
		router_config_clear(&rc);
	}

	/* A CR/LF in a redirect would split the Location header. */
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	add_route(vh, "r", PATH_PREFIX, "/")->redirect_path = dup("/x\r\nSet-Cookie: a=b");
	char err[256];
	assert_int_equal(router_prepare(&rc, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "virtual_hosts[0].routes[0].redirect.path_redirect: "
				 "CR or LF in a header value");
	router_config_clear(&rc);
}

static void test_prepare_twice(void **state)
{
	(void)state;
	/* Preparing again (a retried snapshot build) recompiles without
	 * leaking the first regexes: the leak checker would see them. */
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	add_header_match(add_route(vh, "r", PATH_REGEX, "/[a-z]+"), "x", SM_REGEX, "y+");
	prepare_ok(&rc);
	prepare_ok(&rc);
	assert_name(route_name_for(&rc.vhosts[0], "/abc", (const char *[]){"x", "yy", NULL}), "r",
		    "re");
	router_config_clear(&rc);
}

/* ---- hostile regexes ---- */

static void test_redos_through_the_router(void **state)
{
	(void)state;
	struct route_config rc = {0};
	struct virtual_host *vh = add_vhost(&rc, "vh", (const char *[]){"*", NULL});
	add_route(vh, "evil-path", PATH_REGEX, "/(a+)+$");
	add_header_match(add_route(vh, "evil-header", PATH_PREFIX, "/"), "x-a", SM_REGEX,
			 "(a|aa)+");
	add_route(vh, "fallback", PATH_PREFIX, "/");
	prepare_ok(&rc);
	vh = &rc.vhosts[0];

	size_t n = 8000;
	char *path = malloc(n + 3);
	char *value = malloc(n + 2);
	assert_non_null(path);
	assert_non_null(value);
	path[0] = '/';
	memset(path + 1, 'a', n);
	strcpy(path + 1 + n, "!");
	memset(value, 'a', n);
	strcpy(value + n, "!");

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_name(route_name_for(vh, path, (const char *[]){"x-a", value, NULL}), "fallback",
		    "evil");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (took > 0.5)
		fail_msg("pathological regexes took %.3f s", took);
	/* The same routes still work on input they match. */
	assert_name(route_name_for(vh, "/aaa", NULL), "evil-path", "aaa");
	assert_name(route_name_for(vh, "/b", (const char *[]){"x-a", "aaa", NULL}), "evil-header",
		    "h");
	free(path);
	free(value);
	router_config_clear(&rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vhost_precedence),
	    cmocka_unit_test(test_vhost_without_catch_all),
	    cmocka_unit_test(test_path_kinds),
	    cmocka_unit_test(test_header_matchers),
	    cmocka_unit_test(test_all_header_matchers_must_match),
	    cmocka_unit_test(test_query_matchers),
	    cmocka_unit_test(test_weighted_distribution),
	    cmocka_unit_test(test_weights_must_add_up),
	    cmocka_unit_test(test_link_and_pick),
	    cmocka_unit_test(test_request_hash),
	    cmocka_unit_test(test_cookie_hash),
	    cmocka_unit_test(test_edit_order),
	    cmocka_unit_test(test_response_edits),
	    cmocka_unit_test(test_rewrites),
	    cmocka_unit_test(test_redirects),
	    cmocka_unit_test(test_regex_errors_name_the_field),
	    cmocka_unit_test(test_prepare_refuses_unsafe_edits),
	    cmocka_unit_test(test_prepare_twice),
	    cmocka_unit_test(test_redos_through_the_router),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
