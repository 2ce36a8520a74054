/* Defaults of the HTTP parts of a configuration snapshot (config.h): the
 * values Envoy uses when a field is absent, in one place for the bootstrap
 * reader and the xDS translation alike. */
#ifndef SKIFF_PROXY_HTTP_CONFIG_H
#define SKIFF_PROXY_HTTP_CONFIG_H

#include "proxy/config.h"

/* Envoy's defaults for a route (route.timeout) and a redirect. */
#define HTTP_ROUTE_TIMEOUT_MS 15000u
#define HTTP_REDIRECT_CODE 301u

/* The one retry host predicate skiff runs, Istio's default (with
 * host_selection_retry_max_attempts 5): by name or typed_config type. */
#define RETRY_PREVIOUS_HOSTS_NAME "envoy.retry_host_predicates.previous_hosts"
#define RETRY_PREVIOUS_HOSTS_TYPE \
	"type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
#define HOST_SELECTION_ATTEMPTS_MAX 100u

/* Sets every field of *l to its default (the brackets in config.h). */
void http2_limits_default(struct http2_limits *l);

/* Sets the defaults of an http_connection_manager (codec AUTO, 60 KiB of
 * request headers, 100 headers, idle 1h, stream idle 5 min, no request
 * timeout, drain 5s, request ids generated, HTTP/2 limits) on a zeroed *h;
 * strings and the route configuration are left alone. */
void http_conn_manager_defaults(struct http_conn_manager_config *h);

/* Derives the codec's header limits from max_request_headers_kb and
 * max_headers_count, once both are final. */
void http_conn_manager_finish(struct http_conn_manager_config *h);

/* Sets the HTTP defaults of a cluster (HTTP/1 upstream, Envoy's circuit
 * breakers and outlier detection values, ring 1024, Maglev 65537, idle 1h,
 * unlimited requests per connection); outlier detection and health checks
 * stay disabled. Other fields are left alone. */
void cluster_http_defaults(struct cluster *c);

/* How many retries may be in flight at once on a cluster with
 * `active_requests` requests: max_retries, or what the retry budget
 * allows. Retries beyond it overflow (upstream_rq_retry_overflow), so they
 * cannot multiply the load a failing cluster gets. */
uint32_t circuit_breakers_retry_limit(const struct circuit_breakers *b, uint32_t active_requests);

/* Sets the defaults of a route on a zeroed *r: case-sensitive prefix
 * match, timeout 15s, one retry once retry_on is set, redirect 301. */
void route_defaults(struct route *r);

#endif
