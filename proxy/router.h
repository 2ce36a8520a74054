/* The router: Envoy's RouteConfiguration model applied to a request head.
 * Pure functions over an immutable snapshot: which virtual host, which
 * route, which cluster, and the header edits, rewrites and redirects the
 * route asks for. The HTTP streams (http_stream.h) call these. */
#ifndef SKIFF_PROXY_ROUTER_H
#define SKIFF_PROXY_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"
#include "proxy/http_head.h"

/* Compiles the regexes of rc (routes' safe_regex paths, header and query
 * matchers). Returns 0, or -EINVAL/-ENOMEM with err naming the field
 * relative to the route configuration ("virtual_hosts[0].routes[2].match.
 * safe_regex.regex: ...") and the reason. */
int router_prepare(struct route_config *rc, char *err, size_t errlen);

/* Points every route's cluster (and weighted clusters) at the cluster of
 * that name in snap, or NULL when there is none (the request then gets 503
 * with response flag NC, as in Envoy: routes may arrive before clusters). */
void router_link(struct route_config *rc, const struct snapshot *snap);

/* Frees what rc owns (regexes included) and zeroes it. */
void router_config_clear(struct route_config *rc);

/* The virtual host for req->authority: exact domain first, then the longest
 * "*.suffix" / "suffix" wildcard, then the longest "prefix.*", then "*";
 * ":port" is stripped when no domain names it. NULL: no virtual host. */
const struct virtual_host *router_vhost(const struct route_config *rc, const struct http_head *req);

/* The first route of vh matching req (path, headers, query), or NULL. */
const struct route *router_route(const struct virtual_host *vh, const struct http_head *req);

/* The cluster a ROUTE_TO_CLUSTER route sends this request to: its cluster,
 * or a weighted cluster chosen by `random` (uniform over 32 bits). *name
 * gets the cluster's name even when it is not in the snapshot (NULL
 * returned: 503 NC). */
const struct cluster *router_pick_cluster(const struct route *r, uint32_t random, const char **name);

/* Applies to req, in Envoy's order, the request header edits of the route,
 * then its virtual host, then the route configuration, and the route's
 * prefix_rewrite and host_rewrite_literal. 0 or -ENOMEM. */
int router_edit_request(const struct route_config *rc, const struct virtual_host *vh,
			const struct route *r, struct http_head *req);

/* The same for a response head (response_headers_to_add / _remove). */
int router_edit_response(const struct route_config *rc, const struct virtual_host *vh,
			 const struct route *r, struct http_head *resp);

/* The Location of a ROUTE_REDIRECT route for req, malloc'd (NULL when out
 * of memory). */
char *router_redirect_location(const struct route *r, const struct http_head *req);

/* What hash policies need of the downstream connection, and give back. */
struct hash_context {
	const struct sock_addr *peer;  /* the client (source_ip; cookies made), or NULL */
	const struct sock_addr *local; /* where it connected (cookies made), or NULL */
	char *set_cookie;              /* out: a cookie policy with a ttl made the
					* request's cookie: the Set-Cookie value for
					* the response (malloc'd; the caller frees) */
};

/* The hash a consistent-hash cluster uses for this request, from the
 * route's hash_policy list as Envoy combines it: each policy that finds
 * its value in the request (a header, a query parameter, a cookie, the
 * client's IP) is xored in after the hash so far is rotated left by one;
 * a terminal one ends the list once there is a hash (its own, or from
 * those before it). A cookie policy with a ttl makes the cookie when the
 * request has none (ctx->set_cookie). ctx may be NULL. Returns 0 and sets
 * *hash, or -ENOENT when no policy found anything. */
int router_request_hash(const struct route *r, const struct http_head *req,
			struct hash_context *ctx, uint64_t *hash);

#endif
