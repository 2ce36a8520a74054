/* The router: Envoy's RouteConfiguration semantics; see router.h.
 *
 * router_vhost and router_route run for every request: they never allocate
 * (except once per thread, to grow the buffer a multi-valued header is
 * joined into), use the lengths the head already has, and reject most
 * candidates by length or first byte. router_vhost is one linear pass over
 * every domain (about 3 ns each): fine for tens of virtual hosts; a hashed
 * index built by router_prepare needs a field in struct route_config. */
#include "proxy/router.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/field_path.h"
#include "proxy/lb.h"
#include "proxy/regex.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"

static inline unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* Whether s[0..n) equals l[0..n), a lower-case string, ignoring case. */
static bool eq_lower(const char *s, const char *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)l[i])
			return false;
	return true;
}

/* Whether NUL-terminated lit is a prefix of s[0..len); *litlen gets how far
 * it got. No strlen: most literals differ from the subject early. */
static bool starts_with(const char *s, size_t len, const char *lit, bool nocase, size_t *litlen)
{
	size_t i = 0;
	for (; lit[i]; i++) {
		if (i == len)
			return false;
		if (nocase ? lower((unsigned char)s[i]) != lower((unsigned char)lit[i])
			   : s[i] != lit[i])
			return false;
	}
	*litlen = i;
	return true;
}

static bool contains(const char *s, size_t len, const char *lit, size_t litlen, bool nocase)
{
	if (litlen > len)
		return false;
	if (!nocase)
		return memmem(s, len, lit, litlen) != NULL;
	for (size_t i = 0; i + litlen <= len; i++)
		if (eq_nocase(s + i, lit, litlen))
			return true;
	return false;
}

/* Envoy's StringMatcher. ignore_case does not apply to safe_regex (as in
 * Envoy); a regex that was never prepared matches nothing. */
static bool string_matches(const struct string_match *m, const char *s, size_t len)
{
	const char *v = m->value ? m->value : "";
	size_t n;
	switch (m->kind) {
	case SM_EXACT:
		return starts_with(s, len, v, m->ignore_case, &n) && n == len;
	case SM_PREFIX:
		return starts_with(s, len, v, m->ignore_case, &n);
	case SM_SUFFIX:
		n = strlen(v);
		return n <= len && (m->ignore_case ? eq_nocase(s + len - n, v, n)
						   : memcmp(s + len - n, v, n) == 0);
	case SM_CONTAINS:
		return contains(s, len, v, strlen(v), m->ignore_case);
	case SM_REGEX:
		return m->re && regex_full_match(m->re, s, len);
	}
	return false;
}

/* ---- header values as matchers see them ---- */

/* Several fields of one name are matched as one value joined with ","
 * (Envoy's getAllOfHeaderAsString). The join goes into a per-thread buffer
 * that only grows, so steady-state matching does not allocate. */
static __thread char *join_buf;
static __thread size_t join_cap;
static pthread_key_t join_key; /* frees a thread's buffer when it exits */
static pthread_once_t join_once = PTHREAD_ONCE_INIT;
static bool join_key_ok;

static void join_key_make(void)
{
	join_key_ok = pthread_key_create(&join_key, free) == 0;
}

static char *join_reserve(size_t need)
{
	if (need <= join_cap)
		return join_buf;
	pthread_once(&join_once, join_key_make);
	if (!join_key_ok)
		return NULL;
	size_t cap = join_cap ? join_cap : 1024;
	while (cap < need)
		cap *= 2;
	char *p = realloc(join_buf, cap);
	if (!p)
		return NULL;
	if (pthread_setspecific(join_key, p) != 0) {
		free(p);
		join_buf = NULL;
		join_cap = 0;
		return NULL;
	}
	join_buf = p;
	join_cap = cap;
	return p;
}

static const struct http_str *pseudo(const struct http_head *req, const char *name)
{
	if (strcmp(name, ":path") == 0)
		return &req->path;
	if (strcmp(name, ":authority") == 0)
		return &req->authority;
	if (strcmp(name, ":method") == 0)
		return &req->method;
	if (strcmp(name, ":scheme") == 0)
		return &req->scheme;
	return NULL;
}

static bool field_named(const struct http_field *f, const char *name, size_t len)
{
	return f->name.len == len && memcmp(f->name.p, name, len) == 0;
}

/* The value of header `name` (lower case) in req. Returns 1 with *v and
 * *len set, 0 when absent, -ENOMEM when several values could not be joined. */
static int header_value(const struct http_head *req, const char *name, const char **v, size_t *len)
{
	if (name[0] == ':') {
		const struct http_str *s = pseudo(req, name);
		if (!s || !s->p)
			return 0;
		*v = s->p;
		*len = s->len;
		return 1;
	}
	size_t nlen = strlen(name);
	uint32_t first = 0;
	while (first < req->n_fields && !field_named(&req->fields[first], name, nlen))
		first++;
	if (first == req->n_fields)
		return 0;
	size_t total = req->fields[first].value.len, count = 1;
	for (uint32_t i = first + 1; i < req->n_fields; i++)
		if (field_named(&req->fields[i], name, nlen)) {
			total += 1 + req->fields[i].value.len;
			count++;
		}
	if (count == 1) {
		*v = req->fields[first].value.p;
		*len = req->fields[first].value.len;
		return 1;
	}
	char *out = join_reserve(total);
	if (!out)
		return -ENOMEM;
	size_t at = 0;
	for (uint32_t i = first; i < req->n_fields; i++) {
		const struct http_field *f = &req->fields[i];
		if (i != first && !field_named(f, name, nlen))
			continue;
		if (at)
			out[at++] = ',';
		memcpy(out + at, f->value.p, f->value.len);
		at += f->value.len;
	}
	*v = out;
	*len = at;
	return 1;
}

/* Envoy's HeaderMatcher. A missing header matches only an inverted
 * present_match: Envoy does not let invert_match turn "absent" into a
 * string match either. */
static bool header_matches(const struct header_match *m, const struct http_head *req)
{
	const char *v;
	size_t len;
	int found = header_value(req, m->name, &v, &len);
	if (found < 0)
		return false; /* out of memory: this route is not taken */
	if (!found)
		return m->present_only && m->invert;
	bool hit = m->present_only || string_matches(&m->value, v, len);
	return hit != m->invert;
}

/* ---- paths and query strings ---- */

/* The length of the path without "?query" and "#fragment". */
static size_t path_part(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == '?' || p[i] == '#')
			return i;
	return len;
}

/* The raw (not URL-decoded, as Envoy matches it) value of the first query
 * parameter called `name`; a parameter without "=" has an empty value. */
static bool query_param(const char *path, size_t len, const char *name, const char **v,
			size_t *vlen)
{
	const char *q = memchr(path, '?', len);
	if (!q)
		return false;
	const char *end = path + len;
	const char *hash = memchr(q, '#', (size_t)(end - q));
	if (hash)
		end = hash;
	for (const char *p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *name_end = eq ? eq : stop;
		size_t n;
		if (starts_with(p, (size_t)(name_end - p), name, false, &n) && p + n == name_end) {
			*v = eq ? eq + 1 : stop;
			*vlen = (size_t)(stop - *v);
			return true;
		}
		p = stop + 1;
	}
	return false;
}

static bool query_matches(const struct query_match *m, const struct http_head *req)
{
	const char *v;
	size_t len;
	if (!req->path.p || !query_param(req->path.p, req->path.len, m->name, &v, &len))
		return false;
	return m->present_only || string_matches(&m->value, v, len);
}

/* case_sensitive does not apply to safe_regex (Envoy). */
static bool path_matches(const struct route_match *m, const char *path, size_t len)
{
	const char *v = m->value ? m->value : "";
	size_t n;
	switch (m->kind) {
	case PATH_PREFIX:
		return starts_with(path, len, v, !m->case_sensitive, &n);
	case PATH_EXACT:
		return starts_with(path, len, v, !m->case_sensitive, &n) && n == len;
	case PATH_REGEX:
		return m->re && regex_full_match(m->re, path, len);
	case PATH_CONNECT:
		return false; /* route_matches decides on the method */
	}
	return false;
}

static bool is_connect(const struct http_head *req)
{
	return req->method.len == 7 && memcmp(req->method.p, "CONNECT", 7) == 0;
}

static bool route_matches(const struct route_match *m, const struct http_head *req)
{
	const char *path = req->path.p ? req->path.p : "";
	if ((m->kind == PATH_CONNECT) != is_connect(req))
		return false;
	if (m->kind != PATH_CONNECT && !path_matches(m, path, path_part(path, req->path.len)))
		return false;
	for (size_t i = 0; i < m->n_headers; i++)
		if (!header_matches(&m->headers[i], req))
			return false;
	for (size_t i = 0; i < m->n_query; i++)
		if (!query_matches(&m->query[i], req))
			return false;
	return true;
}

const struct route *router_route(const struct virtual_host *vh, const struct http_head *req)
{
	if (!vh)
		return NULL;
	for (size_t i = 0; i < vh->n_routes; i++)
		if (route_matches(&vh->routes[i].match, req))
			return &vh->routes[i];
	return NULL;
}

/* ---- virtual hosts ---- */

/* The length of host without its ":port" ("[::1]:80" -> "[::1]"). */
static size_t strip_port(const char *h, size_t len)
{
	size_t i = len;
	while (i > 0 && h[i - 1] != ':' && h[i - 1] != ']')
		i--;
	if (i == 0 || h[i - 1] != ':')
		return len;
	if (h[0] == '[' && (i < 2 || h[i - 2] != ']'))
		return len; /* a colon inside an IPv6 literal */
	return i - 1;
}

/* The best candidates so far for one authority, as sent ("full") and
 * without its port ("bare": equal to len when there is no port). */
struct vh_pick {
	const char *host;
	size_t len, bare;
	const struct virtual_host *exact, *exact_bare, *suffix, *suffix_bare, *prefix;
	size_t suffix_len, suffix_bare_len, prefix_len;
};

/* "*.suffix" / "*-suffix": the wildcard stands for at least one character
 * ("*.foo.com" does not match "foo.com"); the longest suffix wins, and of
 * equal ones the first configured (Envoy refuses duplicates anyway). */
static void vh_suffix(struct vh_pick *p, const struct virtual_host *vh, const char *suffix)
{
	size_t n = strlen(suffix);
	if (p->len > n && (!p->suffix || n > p->suffix_len) &&
	    eq_lower(p->host + p->len - n, suffix, n)) {
		p->suffix = vh;
		p->suffix_len = n;
	}
	if (p->bare != p->len && p->bare > n && (!p->suffix_bare || n > p->suffix_bare_len) &&
	    eq_lower(p->host + p->bare - n, suffix, n)) {
		p->suffix_bare = vh;
		p->suffix_bare_len = n;
	}
}

/* Most domains differ from the host in length, which strlen (vectorised)
 * finds faster than a byte-by-byte walk; only equal lengths are compared.
 * A "prefix.*" that matches the bare host matches the full one as well, so
 * prefixes are only tried on the full form. */
static void vh_consider(struct vh_pick *p, const struct virtual_host *vh, const char *d)
{
	if (d[0] == '*') {
		vh_suffix(p, vh, d + 1);
		return;
	}
	size_t n = strlen(d);
	if (d[n - 1] == '*') {
		n--;
		if (p->len > n && (!p->prefix || n > p->prefix_len) && eq_lower(p->host, d, n)) {
			p->prefix = vh;
			p->prefix_len = n;
		}
	} else if (n == p->len) {
		if (!p->exact && eq_lower(p->host, d, n))
			p->exact = vh;
	} else if (n == p->bare && p->bare != p->len) {
		if (!p->exact_bare && eq_lower(p->host, d, n))
			p->exact_bare = vh;
	}
}

/* Each kind is tried with the authority as sent, then without its port,
 * before the next kind: "api.example.com:9090" goes to "api.example.com"
 * rather than to "api.example.*", and a catch-all "*" never hides a host
 * named without its port. Domains are scanned once, in order; an exact
 * match of the full authority ends the scan. */
const struct virtual_host *router_vhost(const struct route_config *rc, const struct http_head *req)
{
	const char *host = req->authority.p ? req->authority.p : "";
	struct vh_pick p = {
	    .host = host,
	    .len = req->authority.len,
	    .bare = strip_port(host, req->authority.len),
	};
	const struct virtual_host *any = NULL;
	for (size_t i = 0; i < rc->n_vhosts; i++) {
		const struct virtual_host *vh = &rc->vhosts[i];
		for (size_t j = 0; j < vh->n_domains; j++) {
			const char *d = vh->domains[j];
			if (d[0] == '*' && d[1] == '\0') {
				if (!any)
					any = vh;
				continue;
			}
			vh_consider(&p, vh, d);
		}
		if (p.exact)
			return p.exact;
	}
	const struct virtual_host *order[] = {p.exact_bare, p.suffix, p.suffix_bare, p.prefix, any};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (order[i])
			return order[i];
	return NULL;
}

/* ---- clusters and hashing ---- */

const struct cluster *router_pick_cluster(const struct route *r, uint32_t random, const char **name)
{
	*name = NULL;
	if (r->kind != ROUTE_TO_CLUSTER)
		return NULL;
	if (r->n_weighted == 0 || r->total_weight == 0) {
		*name = r->cluster_name;
		return r->cluster;
	}
	/* Envoy's walk: the cluster whose [start, start + weight) holds
	 * random % total_weight. */
	uint32_t at = random % r->total_weight;
	const struct weighted_cluster *w = &r->weighted[r->n_weighted - 1];
	for (size_t i = 0; i < r->n_weighted; i++) {
		if (at < r->weighted[i].weight) {
			w = &r->weighted[i];
			break;
		}
		at -= r->weighted[i].weight;
	}
	*name = w->name;
	return w->cluster;
}

/* Envoy hashes every value of the header, sorted; with one value (the
 * usual case, and the only one without a seed-chaining hash) that is the
 * xxHash64 of it, which is what this computes from the first value. */
/* The value of cookie `name` in req's Cookie headers (the first, quotes
 * taken off), as Envoy's parseCookieValue. False when absent or empty. */
static bool cookie_value(const struct http_head *req, const char *name, const char **v,
			 size_t *len)
{
	size_t nlen = strlen(name);
	for (uint32_t i = 0; i < req->n_fields; i++) {
		if (!field_named(&req->fields[i], "cookie", 6))
			continue;
		const char *p = req->fields[i].value.p, *end = p + req->fields[i].value.len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
				p++;
			const char *semi = memchr(p, ';', (size_t)(end - p));
			semi = semi ? semi : end;
			const char *eq = memchr(p, '=', (size_t)(semi - p));
			if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
				const char *val = eq + 1;
				size_t vlen = (size_t)(semi - val);
				if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"')
					val++, vlen -= 2;
				*v = val;
				*len = vlen;
				return vlen > 0;
			}
			p = semi;
		}
	}
	return false;
}

/* A cookie policy with a ttl, for a request without the cookie: the value
 * Envoy's router makes (the hex xxHash64 of the connection's two ends, so
 * a connection's requests agree), and the Set-Cookie that gives it to the
 * client. Returns the value's hash, or false when out of memory or the
 * ends are unknown. */
static bool make_cookie(const struct hash_policy *p, struct hash_context *ctx, uint64_t *hash)
{
	char ends[2 * SOCK_ADDR_STRLEN], local[SOCK_ADDR_STRLEN], value[17];
	if (!ctx || !ctx->peer || !ctx->local || !sock_addr_format(ctx->peer, ends, sizeof(ends)) ||
	    !sock_addr_format(ctx->local, local, sizeof(local)))
		return false;
	strcat(ends, local);
	snprintf(value, sizeof(value), "%016llx", (unsigned long long)lb_hash(ends, strlen(ends)));
	char age[32] = "";
	if (p->ttl_s)
		snprintf(age, sizeof(age), "; Max-Age=%u", p->ttl_s);
	char *cookie = NULL;
	if (asprintf(&cookie, "%s=\"%s\"%s%s%s; HttpOnly", p->name, value, age,
		     p->path ? "; Path=" : "", p->path ? p->path : "") < 0)
		return false;
	free(ctx->set_cookie);
	ctx->set_cookie = cookie;
	*hash = lb_hash(value, 16);
	return true;
}

/* One policy's hash of req; false when the request has nothing to hash. */
static bool policy_hash(const struct hash_policy *p, const struct http_head *req,
			struct hash_context *ctx, uint64_t *hash)
{
	const char *v = NULL;
	size_t len = 0;
	const struct sock_addr *source = ctx ? ctx->peer : NULL;
	switch (p->kind) {
	case HASH_COOKIE:
		if (!cookie_value(req, p->name, &v, &len))
			return p->has_ttl && make_cookie(p, ctx, hash);
		break;
	case HASH_HEADER:
		if (header_value(req, p->name, &v, &len) <= 0)
			return false;
		break;
	case HASH_QUERY_PARAMETER:
		if (!req->path.p || !query_param(req->path.p, req->path.len, p->name, &v, &len))
			return false;
		break;
	case HASH_SOURCE_IP: {
		char ip[SOCK_ADDR_STRLEN];
		if (!source || !sock_addr_format_ip(source, ip, sizeof(ip)))
			return false;
		*hash = lb_hash(ip, strlen(ip));
		return true;
	}
	default:
		return false;
	}
	*hash = lb_hash(v, len);
	return true;
}

int router_request_hash(const struct route *r, const struct http_head *req,
			struct hash_context *ctx, uint64_t *hash)
{
	bool any = false;
	uint64_t h = 0;
	for (size_t i = 0; i < r->n_hash_policies; i++) {
		const struct hash_policy *p = &r->hash_policies[i];
		uint64_t one;
		if (policy_hash(p, req, ctx, &one)) {
			/* Envoy's HashPolicyImpl: rotate what is there left by one, xor */
			h = any ? ((h << 1) | (h >> 63)) ^ one : one;
			any = true;
		}
		if (p->terminal && any) /* a hash so far, from this one or before */
			break;
	}
	if (!any)
		return -ENOENT;
	*hash = h;
	return 0;
}

/* ---- header edits, rewrites, redirects ---- */

static int apply_edits(struct http_head *h, char *const *remove, size_t n_remove,
		       const struct header_add *add, size_t n_add)
{
	/* Removals first, then additions, within one level (Envoy's
	 * HeaderParser). */
	for (size_t i = 0; i < n_remove; i++)
		http_head_remove(h, remove[i]);
	for (size_t i = 0; i < n_add; i++) {
		const struct header_add *a = &add[i];
		size_t vlen = strlen(a->value);
		int rc = a->append ? http_head_add(h, a->name, strlen(a->name), a->value, vlen)
				   : http_head_set(h, a->name, a->value, vlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Envoy's default order (most_specific_header_mutations_wins false): the
 * route's edits, then the virtual host's, then the route configuration's,
 * so an outer level's "set" overrides an inner one: the operator of the
 * route configuration has the last word over what a route asks for. */
static int edit_levels(const struct route_config *rc, const struct virtual_host *vh,
		       const struct route *r, struct http_head *h, bool request)
{
	const struct header_edits *levels[3] = {r ? &r->edits : NULL, vh ? &vh->edits : NULL,
						rc ? &rc->edits : NULL};
	for (int i = 0; i < 3; i++) {
		const struct header_edits *e = levels[i];
		if (!e)
			continue;
		int err = request ? apply_edits(h, e->request_remove, e->n_request_remove,
						e->request_add, e->n_request_add)
				  : apply_edits(h, e->response_remove, e->n_response_remove,
						e->response_add, e->n_response_add);
		if (err < 0)
			return err;
	}
	return 0;
}

/* How many bytes of the path the route's prefix (or exact path) matched;
 * 0 when the route is a regex one, whose match has no prefix to swap. */
static size_t matched_prefix_len(const struct route *r)
{
	if (r->match.kind == PATH_REGEX || !r->match.value)
		return 0;
	return strlen(r->match.value);
}

/* prefix_rewrite swaps the matched prefix, or the matched exact path, for
 * the rewrite and keeps the rest (query included), as Envoy does; the path
 * the client sent goes upstream in x-envoy-original-path. */
static int rewrite_prefix(const struct route *r, struct http_head *req)
{
	if (r->match.kind == PATH_REGEX || !req->path.p)
		return 0;
	size_t cut = matched_prefix_len(r);
	if (cut > req->path.len)
		return 0; /* not the route this request matched */
	size_t rlen = strlen(r->prefix_rewrite);
	size_t rest = req->path.len - cut;
	char *p = malloc(rlen + rest + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, r->prefix_rewrite, rlen);
	memcpy(p + rlen, req->path.p + cut, rest);
	int err = http_head_set(req, "x-envoy-original-path", req->path.p, req->path.len);
	if (!err)
		err = http_head_set_pseudo(req, &req->path, p, rlen + rest);
	free(p);
	return err;
}

int router_edit_request(const struct route_config *rc, const struct virtual_host *vh,
			const struct route *r, struct http_head *req)
{
	int err = edit_levels(rc, vh, r, req, true);
	if (err < 0 || !r)
		return err;
	if (r->host_rewrite) {
		err = http_head_set_pseudo(req, &req->authority, r->host_rewrite,
					   strlen(r->host_rewrite));
		if (err < 0)
			return err;
	}
	if (r->prefix_rewrite)
		return rewrite_prefix(r, req);
	return 0;
}

int router_edit_response(const struct route_config *rc, const struct virtual_host *vh,
			 const struct route *r, struct http_head *resp)
{
	return edit_levels(rc, vh, r, resp, false);
}

static bool str_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* The host of a redirect without host_redirect: the request's, minus a
 * port that only meant the default of the scheme being left behind
 * ("http://a:80" -> "https://a", not "https://a:80"), as Envoy does. */
static size_t redirect_host_len(const char *host, size_t len, const char *from, size_t from_len,
				const char *to)
{
	if (str_is(from, from_len, to))
		return len;
	size_t bare = strip_port(host, len);
	if (bare == len)
		return len;
	const char *port = host + bare;
	size_t plen = len - bare;
	if ((str_is(from, from_len, "http") && str_is(port, plen, ":80")) ||
	    (str_is(from, from_len, "https") && str_is(port, plen, ":443")))
		return bare;
	return len;
}

char *router_redirect_location(const struct route *r, const struct http_head *req)
{
	const char *from = req->scheme.p && req->scheme.len ? req->scheme.p : "http";
	size_t from_len = req->scheme.p && req->scheme.len ? req->scheme.len : 4;
	const char *scheme = r->redirect_scheme ? r->redirect_scheme : from;
	size_t scheme_len = r->redirect_scheme ? strlen(scheme) : from_len;

	const char *host = r->redirect_host;
	size_t host_len;
	if (host) {
		host_len = strlen(host);
	} else {
		host = req->authority.p ? req->authority.p : "";
		host_len = redirect_host_len(host, req->authority.len, from, from_len, scheme);
	}

	const char *path = req->path.p ? req->path.p : "";
	size_t path_len = req->path.len;
	size_t base = path_part(path, path_len);
	const char *query = path + base; /* "?..." or "" */
	size_t query_len = path_len - base;
	if (r->strip_query)
		query_len = 0;

	const char *head = path, *tail = "";
	size_t head_len = base, tail_len = 0;
	if (r->redirect_path) {
		head = r->redirect_path;
		head_len = strlen(head);
		/* A query in path_redirect replaces the request's (Envoy). */
		if (memchr(head, '?', head_len))
			query_len = 0;
	} else if (r->redirect_prefix) {
		size_t cut = matched_prefix_len(r);
		if (cut > base)
			cut = base;
		head = r->redirect_prefix;
		head_len = strlen(head);
		tail = path + cut;
		tail_len = base - cut;
	}
	if (head_len + tail_len == 0) {
		head = "/";
		head_len = 1;
	}

	size_t total = scheme_len + 3 + host_len + head_len + tail_len + query_len;
	char *loc = malloc(total + 1);
	if (!loc)
		return NULL;
	char *p = loc;
	memcpy(p, scheme, scheme_len), p += scheme_len;
	memcpy(p, "://", 3), p += 3;
	memcpy(p, host, host_len), p += host_len;
	memcpy(p, head, head_len), p += head_len;
	memcpy(p, tail, tail_len), p += tail_len;
	memcpy(p, query, query_len), p += query_len;
	*p = '\0';
	return loc;
}

/* ---- preparing, linking, freeing ---- */

/* Where router_prepare is in rc, for errors ("virtual_hosts[0].routes[2].
 * match.safe_regex.regex"), with Envoy's v3 field names. */
struct prep {
	char *err;
	size_t errlen;
	struct field_path at;
};

static size_t push(struct prep *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t push(struct prep *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t old = field_path_vpush(&p->at, fmt, ap);
	va_end(ap);
	return old;
}

static int fail(struct prep *p, int code, const char *why)
{
	snprintf(p->err, p->errlen, "%s: %s", p->at.s, why);
	return code;
}

static int compile(struct prep *p, struct regex **re, const char *src)
{
	char why[200];
	regex_free(*re);
	*re = regex_compile(src ? src : "", false, why, sizeof(why));
	if (*re)
		return 0;
	return fail(p, strcmp(why, "out of memory") == 0 ? -ENOMEM : -EINVAL, why);
}

/* RFC 9110 token characters, lower case (HTTP/2 requires it, and fields
 * are kept so): a header name from the control plane goes out verbatim. */
static bool is_lower_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

/* A value that would end the header line (CR, LF) smuggles a request or
 * response into an HTTP/1 stream. */
static bool is_field_value(const char *s)
{
	return s[strcspn(s, "\r\n")] == '\0';
}

/* Envoy refuses edits of pseudo-headers and Host: routing and the codecs
 * own them (host_rewrite_literal is the way to change :authority). */
static int check_name(struct prep *p, const char *name)
{
	if (name && name[0] == ':')
		return fail(p, -EINVAL, "pseudo-headers may not be modified");
	if (!name || !is_lower_token(name))
		return fail(p, -EINVAL, "not a lower-case header name");
	if (strcmp(name, "host") == 0)
		return fail(p, -EINVAL, "host may not be modified");
	return 0;
}

static int prepare_edit_list(struct prep *p, const char *what, const struct header_add *add,
			     size_t n_add, char *const *rm, size_t n_rm)
{
	int err = 0;
	for (size_t i = 0; !err && i < n_add; i++) {
		size_t old = push(p, "%s_headers_to_add[%zu].header.key", what, i);
		err = check_name(p, add[i].name);
		field_path_pop(&p->at, old);
		push(p, "%s_headers_to_add[%zu].header.value", what, i);
		if (!err && (!add[i].value || !is_field_value(add[i].value)))
			err = fail(p, -EINVAL, "CR or LF in a header value");
		field_path_pop(&p->at, old);
	}
	for (size_t i = 0; !err && i < n_rm; i++) {
		size_t old = push(p, "%s_headers_to_remove[%zu]", what, i);
		err = check_name(p, rm[i]);
		field_path_pop(&p->at, old);
	}
	return err;
}

static int prepare_edits(struct prep *p, const struct header_edits *e)
{
	int err = prepare_edit_list(p, "request", e->request_add, e->n_request_add,
				    e->request_remove, e->n_request_remove);
	if (!err)
		err = prepare_edit_list(p, "response", e->response_add, e->n_response_add,
					e->response_remove, e->n_response_remove);
	return err;
}

static int prepare_string_match(struct prep *p, const char *list, size_t i, const char *name,
				struct string_match *m)
{
	size_t old = push(p, "match.%s[%zu].name", list, i);
	int err = !name || !name[0] ? fail(p, -EINVAL, "empty name") : 0;
	field_path_pop(&p->at, old);
	if (!err && m->kind == SM_REGEX) {
		push(p, "match.%s[%zu].string_match.safe_regex.regex", list, i);
		err = compile(p, &m->re, m->value);
	}
	field_path_pop(&p->at, old);
	return err;
}

static int prepare_match(struct prep *p, struct route_match *m)
{
	int err = 0;
	if (m->kind == PATH_REGEX) {
		size_t old = push(p, "match.safe_regex.regex");
		err = compile(p, &m->re, m->value);
		field_path_pop(&p->at, old);
	}
	for (size_t i = 0; !err && i < m->n_headers; i++)
		err =
		    prepare_string_match(p, "headers", i, m->headers[i].name, &m->headers[i].value);
	for (size_t i = 0; !err && i < m->n_query; i++)
		err = prepare_string_match(p, "query_parameters", i, m->query[i].name,
					   &m->query[i].value);
	return err;
}

/* Recomputed rather than trusted: router_pick_cluster divides by it. */
static int prepare_weights(struct prep *p, struct route *r)
{
	uint64_t total = 0;
	for (size_t i = 0; i < r->n_weighted; i++)
		total += r->weighted[i].weight;
	if (total == 0 || total > UINT32_MAX) {
		size_t old = push(p, "route.weighted_clusters");
		fail(p, -EINVAL, "the weights must add up to between 1 and 2^32-1");
		field_path_pop(&p->at, old);
		return -EINVAL;
	}
	r->total_weight = (uint32_t)total;
	return 0;
}

/* Strings the route copies into the request or into a Location header. */
static int prepare_action(struct prep *p, struct route *r)
{
	const struct {
		const char *s;
		const char *field;
	} out[] = {
	    {r->prefix_rewrite, "route.prefix_rewrite"},
	    {r->host_rewrite, "route.host_rewrite_literal"},
	    {r->redirect_host, "redirect.host_redirect"},
	    {r->redirect_path, "redirect.path_redirect"},
	    {r->redirect_prefix, "redirect.prefix_rewrite"},
	    {r->redirect_scheme, "redirect.scheme_redirect"},
	};
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		if (out[i].s && !is_field_value(out[i].s)) {
			size_t old = push(p, "%s", out[i].field);
			fail(p, -EINVAL, "CR or LF in a header value");
			field_path_pop(&p->at, old);
			return -EINVAL;
		}
	}
	if (r->kind == ROUTE_TO_CLUSTER && r->n_weighted > 0)
		return prepare_weights(p, r);
	return 0;
}

static int prepare_vhost(struct prep *p, struct virtual_host *vh)
{
	int err = prepare_edits(p, &vh->edits);
	for (size_t j = 0; !err && j < vh->n_domains; j++) {
		char *d = vh->domains[j];
		if (!d || !d[0]) {
			size_t old = push(p, "domains[%zu]", j);
			err = fail(p, -EINVAL, "empty domain");
			field_path_pop(&p->at, old);
			continue;
		}
		/* Hosts are compared without case against lower-case domains. */
		for (; *d; d++)
			*d = (char)lower((unsigned char)*d);
	}
	for (size_t j = 0; !err && j < vh->n_routes; j++) {
		struct route *r = &vh->routes[j];
		size_t old = push(p, "routes[%zu].", j);
		err = prepare_match(p, &r->match);
		if (!err)
			err = prepare_action(p, r);
		if (!err)
			err = prepare_edits(p, &r->edits);
		field_path_pop(&p->at, old);
	}
	return err;
}

/* Besides compiling regexes, this refuses what Envoy refuses when a route
 * configuration arrives and what would let the control plane break the
 * framing of a request: edits of pseudo-headers or Host, header names that
 * are not tokens, CR/LF in values and rewrites, weights adding up to 0. */
int router_prepare(struct route_config *rc, char *err, size_t errlen)
{
	struct prep p = {.err = err, .errlen = errlen};
	int e = prepare_edits(&p, &rc->edits);
	for (size_t i = 0; !e && i < rc->n_vhosts; i++) {
		size_t old = push(&p, "virtual_hosts[%zu].", i);
		e = prepare_vhost(&p, &rc->vhosts[i]);
		field_path_pop(&p.at, old);
	}
	return e;
}

void router_link(struct route_config *rc, const struct snapshot *snap)
{
	for (size_t i = 0; i < rc->n_vhosts; i++) {
		struct virtual_host *vh = &rc->vhosts[i];
		for (size_t j = 0; j < vh->n_routes; j++) {
			struct route *r = &vh->routes[j];
			r->cluster = snap && r->cluster_name
					 ? snapshot_find_cluster(snap, r->cluster_name)
					 : NULL;
			for (size_t k = 0; k < r->n_weighted; k++) {
				struct weighted_cluster *w = &r->weighted[k];
				w->cluster =
				    snap && w->name ? snapshot_find_cluster(snap, w->name) : NULL;
			}
		}
	}
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_adds(struct header_add *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].name);
		free(a[i].value);
	}
	free(a);
}

static void edits_clear(struct header_edits *e)
{
	free_adds(e->request_add, e->n_request_add);
	free_strv(e->request_remove, e->n_request_remove);
	free_adds(e->response_add, e->n_response_add);
	free_strv(e->response_remove, e->n_response_remove);
}

static void string_match_clear(struct string_match *m)
{
	free(m->value);
	regex_free(m->re);
}

static void match_clear(struct route_match *m)
{
	free(m->value);
	regex_free(m->re);
	for (size_t i = 0; i < m->n_headers; i++) {
		free(m->headers[i].name);
		string_match_clear(&m->headers[i].value);
	}
	free(m->headers);
	for (size_t i = 0; i < m->n_query; i++) {
		free(m->query[i].name);
		string_match_clear(&m->query[i].value);
	}
	free(m->query);
}

static void route_clear(struct route *r)
{
	free(r->name);
	match_clear(&r->match);
	free(r->cluster_name);
	for (size_t i = 0; i < r->n_weighted; i++)
		free(r->weighted[i].name);
	free(r->weighted);
	free(r->prefix_rewrite);
	free(r->host_rewrite);
	free(r->retry.retriable_status_codes);
	for (size_t i = 0; i < r->n_hash_policies; i++) {
		free(r->hash_policies[i].name);
		free(r->hash_policies[i].path);
	}
	free(r->hash_policies);
	free(r->redirect_host);
	free(r->redirect_path);
	free(r->redirect_prefix);
	free(r->redirect_scheme);
	free(r->direct_body);
	edits_clear(&r->edits);
}

void router_config_clear(struct route_config *rc)
{
	if (!rc)
		return;
	for (size_t i = 0; i < rc->n_vhosts; i++) {
		struct virtual_host *vh = &rc->vhosts[i];
		free(vh->name);
		free_strv(vh->domains, vh->n_domains);
		for (size_t j = 0; j < vh->n_routes; j++)
			route_clear(&vh->routes[j]);
		free(vh->routes);
		edits_clear(&vh->edits);
	}
	free(rc->vhosts);
	edits_clear(&rc->edits);
	free(rc->name);
	free(rc->version);
	memset(rc, 0, sizeof(*rc));
}
