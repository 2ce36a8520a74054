/* libFuzzer target for the router (proxy/router.c) over a fixed route
 * configuration that uses every kind of domain, path, header and query
 * matcher, weighted clusters, rewrites, redirects and edits at all three
 * levels. The input is a request head, one item per line:
 *
 *   authority \n path \n method \n scheme \n name:value \n name:value ...
 *
 * (a missing line leaves that pseudo-header absent). Each head is routed,
 * its cluster picked, hashed, redirected and edited; what comes back must
 * point into the configuration, and edited heads must stay consistent. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/router.h"
#include "proxy/sock_addr.h"

static char *dup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p)
		abort();
	return p;
}

static char **strv(const char *const *v, size_t n)
{
	char **out = zalloc(n, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = dup(v[i]);
	return out;
}

static void edits(struct header_edits *e, const char *level)
{
	e->n_request_add = 2;
	e->request_add = zalloc(2, sizeof(*e->request_add));
	e->request_add[0] = (struct header_add){dup("x-level"), dup(level), false};
	e->request_add[1] = (struct header_add){dup("x-trail"), dup(level), true};
	e->n_request_remove = 1;
	e->request_remove = strv((const char *[]){"x-remove-me"}, 1);
	e->n_response_add = 1;
	e->response_add = zalloc(1, sizeof(*e->response_add));
	e->response_add[0] = (struct header_add){dup("x-served-by"), dup(level), false};
	e->n_response_remove = 1;
	e->response_remove = strv((const char *[]){"server"}, 1);
}

static void match(struct route *r, enum path_match_kind kind, const char *value,
		  bool case_sensitive)
{
	r->match.kind = kind;
	r->match.value = dup(value);
	r->match.case_sensitive = case_sensitive;
}

static void header(struct route *r, const char *name, enum string_match_kind kind,
		   const char *value, bool ignore_case, bool invert)
{
	struct route_match *m = &r->match;
	m->headers = realloc(m->headers, (m->n_headers + 1) * sizeof(*m->headers));
	if (!m->headers)
		abort();
	m->headers[m->n_headers++] = (struct header_match){
	    .name = dup(name),
	    .present_only = value == NULL,
	    .value = {.kind = kind, .value = value ? dup(value) : NULL, .ignore_case = ignore_case},
	    .invert = invert,
	};
}

static void query(struct route *r, const char *name, enum string_match_kind kind, const char *value)
{
	struct route_match *m = &r->match;
	m->query = realloc(m->query, (m->n_query + 1) * sizeof(*m->query));
	if (!m->query)
		abort();
	m->query[m->n_query++] = (struct query_match){
	    .name = dup(name),
	    .present_only = value == NULL,
	    .value = {.kind = kind, .value = value ? dup(value) : NULL},
	};
}

static struct route_config rc;
static struct cluster clusters[2] = {{.name = "web"}, {.name = "canary"}};
static struct snapshot snap = {.clusters = clusters, .n_clusters = 2};

static void build(void)
{
	static const char *const domains[][3] = {
	    {"api.example.com", "api.example.com:8080", NULL},
	    {"*.example.com", "*-bar.example.com", NULL},
	    {"www.*", NULL},
	    {"*", NULL},
	};
	rc.n_vhosts = 4;
	rc.vhosts = zalloc(4, sizeof(*rc.vhosts));
	edits(&rc.edits, "config");
	for (size_t i = 0; i < 4; i++) {
		struct virtual_host *vh = &rc.vhosts[i];
		size_t n = 0;
		while (domains[i][n])
			n++;
		vh->domains = strv(domains[i], n);
		vh->n_domains = n;
		vh->name = dup("vh");
		edits(&vh->edits, "vhost");
		vh->n_routes = 8;
		vh->routes = zalloc(8, sizeof(*vh->routes));
		struct route *r = vh->routes;
		for (size_t j = 0; j < 8; j++) {
			r[j].kind = ROUTE_TO_CLUSTER;
			r[j].cluster_name = dup(j % 2 ? "web" : "missing");
			edits(&r[j].edits, "route");
		}
		match(&r[0], PATH_REGEX, "/users/([0-9]+)/(a+)+", true);
		header(&r[0], "x-user", SM_REGEX, "(x|xx)+y", false, false);
		match(&r[1], PATH_EXACT, "/Login", false);
		r[1].prefix_rewrite = dup("/auth/login");
		r[1].host_rewrite = dup("auth.internal");
		match(&r[2], PATH_PREFIX, "/api/", true);
		header(&r[2], ":method", SM_EXACT, "POST", false, false);
		header(&r[2], "x-env", SM_PREFIX, "PRO", true, true);
		header(&r[2], "x-debug", SM_EXACT, NULL, false, true);
		query(&r[2], "v", SM_SUFFIX, "2");
		r[2].prefix_rewrite = dup("/");
		match(&r[3], PATH_PREFIX, "/old/", false);
		r[3].kind = ROUTE_REDIRECT;
		r[3].redirect_prefix = dup("/new/");
		r[3].redirect_scheme = dup("https");
		match(&r[4], PATH_PREFIX, "/moved", true);
		r[4].kind = ROUTE_REDIRECT;
		r[4].redirect_path = dup("/here?x=1");
		r[4].redirect_host = dup("other.example.com");
		r[4].strip_query = true;
		match(&r[5], PATH_PREFIX, "/q", true);
		query(&r[5], "id", SM_REGEX, "[0-9]{1,5}");
		query(&r[5], "debug", SM_CONTAINS, NULL);
		header(&r[5], ":authority", SM_CONTAINS, "EXAMPLE", true, false);
		r[5].n_hash_policies = 3;
		r[5].hash_policies = zalloc(3, sizeof(*r[5].hash_policies));
		r[5].hash_policies[0] = (struct hash_policy){.kind = HASH_HEADER, .name = dup("x-user")};
		r[5].hash_policies[1] = (struct hash_policy){.kind = HASH_COOKIE, .name = dup("sid"),
							     .has_ttl = true, .ttl_s = 60,
							     .path = dup("/")};
		r[5].hash_policies[2] = (struct hash_policy){.kind = HASH_QUERY_PARAMETER,
							     .name = dup("id"), .terminal = true};
		match(&r[6], PATH_PREFIX, "/w", true);
		r[6].n_weighted = 3;
		r[6].weighted = zalloc(3, sizeof(*r[6].weighted));
		r[6].weighted[0] = (struct weighted_cluster){.name = dup("web"), .weight = 1};
		r[6].weighted[1] = (struct weighted_cluster){.name = dup("canary"), .weight = 0};
		r[6].weighted[2] = (struct weighted_cluster){.name = dup("gone"), .weight = 3};
		r[6].n_hash_policies = 2;
		r[6].hash_policies = zalloc(2, sizeof(*r[6].hash_policies));
		r[6].hash_policies[0] = (struct hash_policy){.kind = HASH_HEADER, .name = dup(":path")};
		r[6].hash_policies[1] = (struct hash_policy){.kind = HASH_SOURCE_IP, .terminal = true};
		match(&r[7], PATH_PREFIX, "", true);
		header(&r[7], "x-tag", SM_EXACT, "a,b", false, true);
	}
	char err[256];
	if (router_prepare(&rc, err, sizeof(err)) != 0)
		abort();
	router_link(&rc, &snap);
}

/* Splits off the next line; NULL when the input is used up. */
static const uint8_t *next_line(const uint8_t **p, const uint8_t *end, size_t *len)
{
	if (*p >= end)
		return NULL;
	const uint8_t *s = *p;
	const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
	*len = (size_t)((nl ? nl : end) - s);
	*p = nl ? nl + 1 : end;
	return s;
}

static void check_head(const struct http_head *h)
{
	const struct http_str *pseudo[] = {&h->method, &h->scheme, &h->authority, &h->path};
	for (size_t i = 0; i < 4; i++)
		if (pseudo[i]->p && pseudo[i]->p[pseudo[i]->len] != '\0')
			__builtin_trap();
	for (uint32_t i = 0; i < h->n_fields; i++)
		if (h->fields[i].name.p[h->fields[i].name.len] != '\0' ||
		    h->fields[i].value.p[h->fields[i].value.len] != '\0')
			__builtin_trap();
}

static void route_one(struct http_head *h, uint32_t random)
{
	const struct virtual_host *vh = router_vhost(&rc, h);
	if (!vh)
		__builtin_trap(); /* there is a catch-all */
	if (vh < rc.vhosts || vh >= rc.vhosts + rc.n_vhosts)
		__builtin_trap();
	const struct route *r = router_route(vh, h);
	if (r && (r < vh->routes || r >= vh->routes + vh->n_routes))
		__builtin_trap();
	if (!r) {
		if (router_edit_request(&rc, vh, NULL, h) != 0)
			__builtin_trap();
		check_head(h);
		return;
	}
	const char *name;
	const struct cluster *c = router_pick_cluster(r, random, &name);
	if (c && c != &clusters[0] && c != &clusters[1])
		__builtin_trap();
	if (c && strcmp(c->name, name) != 0)
		__builtin_trap();
	uint64_t hash;
	static struct sock_addr peer, local;
	if (!peer.len && (sock_addr_parse("10.0.0.1", 40000, &peer) || sock_addr_parse("10.0.0.2", 80, &local)))
		abort();
	struct hash_context hc = {&peer, &local, NULL};
	(void)router_request_hash(r, h, &hc, &hash);
	free(hc.set_cookie);
	if (r->kind == ROUTE_REDIRECT) {
		char *loc = router_redirect_location(r, h);
		/* Without scheme_redirect the scheme is the request's own (the
		 * codecs vet it; here it may hold anything, NUL included). */
		size_t n = r->redirect_scheme ? strlen(r->redirect_scheme) : 0;
		if (loc && n &&
		    (strncmp(loc, r->redirect_scheme, n) != 0 || strncmp(loc + n, "://", 3) != 0))
			__builtin_trap();
		free(loc);
		return;
	}
	if (router_edit_request(&rc, vh, r, h) != 0)
		__builtin_trap();
	check_head(h);
	const struct http_field *level = http_head_get(h, "x-level");
	if (!level || strcmp(level->value.p, "config") != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rc.vhosts)
		build();
	uint32_t random = 0;
	if (size >= 4) {
		memcpy(&random, data, 4);
		data += 4;
		size -= 4;
	}
	struct http_head h;
	http_head_init(&h);
	const uint8_t *p = data, *end = data + size;
	struct http_str *pseudo[] = {&h.authority, &h.path, &h.method, &h.scheme};
	size_t len;
	const uint8_t *line;
	for (size_t i = 0; i < 4 && (line = next_line(&p, end, &len)); i++)
		if (len && http_head_set_pseudo(&h, pseudo[i], (const char *)line, len) != 0)
			goto out;
	while ((line = next_line(&p, end, &len))) {
		const uint8_t *colon = memchr(line, ':', len);
		if (!colon || colon == line)
			continue;
		size_t nlen = (size_t)(colon - line);
		if (http_head_add(&h, (const char *)line, nlen, (const char *)colon + 1,
				  len - nlen - 1) != 0)
			goto out;
	}
	route_one(&h, random);

	/* The response side, on a head of its own. */
	struct http_head resp;
	http_head_init(&resp);
	resp.status = 200;
	if (http_head_add(&resp, "server", 6, "x", 1) == 0) {
		const struct virtual_host *vh = router_vhost(&rc, &h);
		if (router_edit_response(&rc, vh, router_route(vh, &h), &resp) != 0)
			__builtin_trap();
		if (http_head_get(&resp, "server"))
			__builtin_trap();
	}
	http_head_clear(&resp);
out:
	http_head_clear(&h);
	return 0;
}
