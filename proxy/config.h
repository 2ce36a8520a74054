/* The configuration snapshot: every listener, cluster and endpoint a worker
 * serves with. A snapshot is built aside (from the bootstrap YAML now, from
 * xDS later), validated whole, then published; once published it is never
 * written again, so workers read it without locks. */
#ifndef SKIFF_PROXY_CONFIG_H
#define SKIFF_PROXY_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ssl_ctx_st;   /* OpenSSL's SSL_CTX */
struct tls_identity; /* certs/tls_context.h */

/* One resolved socket address (IPv4 or IPv6). */
struct sock_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

enum cluster_type {
	CLUSTER_STATIC,       /* endpoints listed in load_assignment */
	CLUSTER_ORIGINAL_DST, /* the connection's original destination */
};

enum lb_policy {
	LB_ROUND_ROBIN,
	LB_CLUSTER_PROVIDED, /* the only policy ORIGINAL_DST allows (Envoy) */
	LB_LEAST_REQUEST,    /* power of two choices on active requests */
	LB_RING_HASH,        /* consistent hashing (Ketama ring) on the route's hash_policy */
	LB_MAGLEV,           /* consistent hashing (Maglev table) */
	LB_RANDOM,
};

enum traffic_direction {
	DIRECTION_UNSPECIFIED,
	DIRECTION_INBOUND,
	DIRECTION_OUTBOUND,
};

struct endpoint {
	struct sock_addr addr;
	uint32_t weight; /* load_balancing_weight; 1 when not given */
};

/* circuit_breakers.thresholds[0] (priority DEFAULT); Envoy's defaults. */
struct circuit_breakers {
	uint32_t max_connections;     /* 1024 */
	uint32_t max_pending_requests; /* 1024 */
	uint32_t max_requests;        /* 1024 */
	uint32_t max_retries;         /* 3 */
	/* retry_budget: when set, concurrent retries may be budget_percent of
	 * the cluster's active requests, at least min_retry_concurrency;
	 * max_retries no longer applies (Envoy's semantics). */
	bool has_retry_budget;
	double retry_budget_percent;    /* 20.0 */
	uint32_t min_retry_concurrency; /* 3 */
	bool track_remaining;         /* remaining_* gauges */
};

/* outlier_detection; enabled when the field is present (Envoy's defaults). */
struct outlier_detection {
	bool enabled;
	uint32_t consecutive_5xx;            /* 5; 0 disables this detector */
	uint32_t consecutive_gateway_failure; /* 5 (502/503/504, connect failures) */
	uint32_t interval_ms;                /* 10000 */
	uint32_t base_ejection_time_ms;      /* 30000; times the ejection count */
	uint32_t max_ejection_time_ms;       /* 300000 */
	uint32_t max_ejection_percent;       /* 10 (always at least one host may go) */
};

/* health_checks[0] with http_health_check. */
/* Bytes a TCP health check sends or expects (Envoy's HealthCheck.Payload:
 * hex `text` or `binary`). */
struct hc_payload {
	uint8_t *data;
	size_t len;
};

/* Limits on tcp_health_check payloads: what a check sends, how many blocks
 * it expects and how long each may be (they must fit the response buffer
 * of health_check.h with room to spare). */
#define HC_SEND_MAX 4096
#define HC_RECEIVE_BLOCKS_MAX 16
#define HC_RECEIVE_BLOCK_MAX 1024

struct health_check {
	bool enabled;
	bool tcp;                    /* tcp_health_check; else http_health_check */
	char *path;                  /* http_health_check.path */
	char *host;                  /* http_health_check.host; NULL: the cluster name */
	struct hc_payload send;      /* tcp_health_check.send; len 0: nothing */
	struct hc_payload *receive;  /* tcp_health_check.receive: each found, in order
				      * (not necessarily adjacent); none: connecting
				      * (and sending) is enough */
	size_t n_receive;
	uint32_t interval_ms;        /* interval */
	uint32_t timeout_ms;         /* timeout */
	uint32_t unhealthy_threshold; /* consecutive failures to mark unhealthy */
	uint32_t healthy_threshold;  /* consecutive successes to mark healthy again */
};

/* HTTP/2 settings and the abuse limits of one codec (Envoy's
 * http2_protocol_options, plus the nghttp2 flood limits HARDENING.md asks
 * for). Defaults in brackets (http2_limits_default). */
struct http2_limits {
	uint32_t max_concurrent_streams;         /* [100] */
	uint32_t initial_stream_window_size;     /* [1 MiB] */
	uint32_t initial_connection_window_size; /* [4 MiB] */
	uint32_t max_header_list_bytes;          /* [60 KiB] max_request_headers_kb */
	uint32_t max_headers_count;              /* [100] */
	uint32_t max_outbound_frames;            /* [10000] frames queued unread */
	uint32_t max_outbound_control_frames;    /* [1000] PING/SETTINGS ACKs, RST_STREAMs */
	uint32_t max_consecutive_empty_frames;   /* [1] empty DATA/HEADERS in a row */
	uint32_t stream_reset_burst;             /* [1000] rapid-reset token bucket */
	uint32_t stream_reset_rate;              /* [33] per second */
	uint32_t max_continuations;              /* [8] CONTINUATION frames per header block */
	uint32_t max_settings;                   /* [32] entries per SETTINGS frame */
	uint32_t max_server_resets;              /* [100] per connection and minute:
						  * resets we are provoked into (MadeYouReset) */
};

/* The application protocol toward a cluster's endpoints
 * (typed_extension_protocol_options HttpProtocolOptions). */
enum upstream_protocol { UPSTREAM_HTTP1, UPSTREAM_HTTP2 };

struct lb_table; /* proxy/lb.h: ring or Maglev table, built when prepared */
struct host_health; /* proxy/host_health.h: ejections and health-check verdicts */

struct cluster {
	char *name;
	enum cluster_type type;
	enum lb_policy lb_policy;
	uint32_t connect_timeout_ms;  /* Envoy's default: 5s */
	bool has_source_address;      /* upstream_bind_config.source_address */
	struct sock_addr source_address;
	struct endpoint *endpoints;
	size_t n_endpoints;
	struct tls_config *tls;       /* transport_socket: UpstreamTlsContext; NULL: plaintext */
	uint32_t stats_id;            /* filled by snapshot_publish (stats.h) */
	/* HTTP (used when an http_connection_manager routes to the cluster) */
	enum upstream_protocol protocol;
	struct http2_limits http2;
	struct circuit_breakers breakers;
	struct outlier_detection outlier;
	struct health_check health;
	uint32_t ring_hash_min_size;  /* ring_hash_lb_config.minimum_ring_size [1024] */
	uint32_t maglev_table_size;   /* maglev_lb_config.table_size [65537] (prime) */
	uint32_t max_requests_per_connection; /* 0: unlimited */
	uint32_t idle_timeout_ms;     /* pooled connection idle timeout [1h] */
	struct lb_table *lb;          /* lb_prepare(); NULL for RR/LR/random */
	struct host_health *host_health; /* lb_prepare(); shared by the workers */
	char *eds_service_name;       /* eds_cluster_config.service_name (xDS) */
	char *netns;                  /* node shape: the pod's network namespace
				       * path to open upstream sockets in
				       * (proxy/netns.h); NULL: ours */
};

/* Where a tcp_proxy filter writes its access log (Envoy's FileAccessLog). */
struct access_log_config {
	char *path; /* NULL: no access log */
};

/* A transport_socket envoy.transport_sockets.tls: DownstreamTlsContext on a
 * filter chain, UpstreamTlsContext on a cluster (CommonTlsContext inside). */
struct tls_config {
	char *cert_chain_file;   /* tls_certificates[0].certificate_chain.filename */
	char *private_key_file;  /* tls_certificates[0].private_key.filename */
	char *trusted_ca_file;   /* validation_context.trusted_ca.filename */
	/* validation_context.match_typed_subject_alt_names, san_type URI,
	 * matcher.exact: the peer's SPIFFE id must be one of these. Empty: any
	 * id of the trust bundle's trust domain. */
	char **match_sans;
	size_t n_match_sans;
	char **alpn;             /* alpn_protocols, in preference order */
	size_t n_alpn;
	uint16_t min_version;    /* tls_params.tls_minimum_protocol_version: 0x0303
				  * (TLSv1_2) or 0x0304 (TLSv1_3, the default) */
	bool require_client_certificate; /* downstream only */
	char *sni;               /* upstream only */
	/* Built from the files when the snapshot is prepared (tls_setup.h);
	 * freed with the snapshot. */
	struct ssl_ctx_st *ctx;
	struct tls_identity *identity;
};

/* The envoy.filters.network.rbac filter: allow or deny a connection by the
 * peer's identity and the port it was going to. */
enum rbac_action { RBAC_ALLOW, RBAC_DENY };

struct rbac_principal {
	bool any;             /* any: true */
	char *principal_name; /* authenticated.principal_name.exact (a SPIFFE id) */
};

struct rbac_permission {
	bool any;             /* any: true */
	uint32_t destination_port; /* destination_port (when !any) */
};

struct rbac_policy {
	char *name;
	struct rbac_permission *permissions; /* one must match */
	size_t n_permissions;
	struct rbac_principal *principals;   /* one must match */
	size_t n_principals;
};

struct rbac_config {
	char *stat_prefix;
	enum rbac_action action;
	struct rbac_policy *policies; /* ALLOW: one must match; DENY: none may */
	size_t n_policies;
};

/* The tcp_proxy network filter. */
struct tcp_proxy_config {
	char *stat_prefix;
	char *cluster_name;
	const struct cluster *cluster; /* resolved: points into the same snapshot */
	uint32_t idle_timeout_ms;      /* 0 disables; Envoy's default: 1h */
	struct access_log_config access_log;
};

/* ---- HTTP: envoy.filters.network.http_connection_manager and routes ---- */

struct regex; /* proxy/regex.h: a compiled PCRE2 pattern */

/* A HeaderValueOption: set (append false) or add a header. */
struct header_add {
	char *name; /* lower case */
	char *value;
	bool append;
};

/* Header additions and removals at one level (route config, virtual host,
 * route); applied innermost last. */
struct header_edits {
	struct header_add *request_add;
	size_t n_request_add;
	char **request_remove; /* lower case */
	size_t n_request_remove;
	struct header_add *response_add;
	size_t n_response_add;
	char **response_remove;
	size_t n_response_remove;
};

/* A StringMatcher (exact, prefix, suffix, contains, safe_regex). */
enum string_match_kind { SM_EXACT, SM_PREFIX, SM_SUFFIX, SM_CONTAINS, SM_REGEX };

struct string_match {
	enum string_match_kind kind;
	char *value;        /* the literal, or the regex source */
	struct regex *re;   /* SM_REGEX: compiled when prepared */
	bool ignore_case;
};

/* route.match.headers[]: present_match, or string_match on the value. */
struct header_match {
	char *name;         /* lower case; ":authority", ":method", ":path" allowed */
	bool present_only;  /* present_match: true */
	struct string_match value;
	bool invert;        /* invert_match */
};

/* route.match.query_parameters[]. */
struct query_match {
	char *name;
	bool present_only;  /* present_match: true */
	struct string_match value;
};

/* PATH_CONNECT: connect_matcher, which matches CONNECT requests, and only
 * those match it (Envoy). */
enum path_match_kind { PATH_PREFIX, PATH_EXACT, PATH_REGEX, PATH_CONNECT };

struct route_match {
	enum path_match_kind kind;
	char *value;        /* prefix / path / safe_regex.regex */
	struct regex *re;   /* PATH_REGEX: compiled when prepared (full match) */
	bool case_sensitive; /* default true */
	struct header_match *headers; /* all must match */
	size_t n_headers;
	struct query_match *query;    /* all must match */
	size_t n_query;
};

/* retry_policy.retry_on, as bits. */
enum retry_on {
	RETRY_5XX = 1u << 0,
	RETRY_GATEWAY_ERROR = 1u << 1,   /* 502, 503, 504 */
	RETRY_RESET = 1u << 2,
	RETRY_CONNECT_FAILURE = 1u << 3,
	RETRY_RETRIABLE_STATUS = 1u << 4, /* retriable-status-codes */
	RETRY_REFUSED_STREAM = 1u << 5,
};

struct retry_policy {
	uint32_t retry_on;           /* enum retry_on bits; 0: no retries */
	uint32_t num_retries;        /* [1] */
	uint32_t per_try_timeout_ms; /* 0: the route's timeout */
	uint32_t back_off_base_ms;   /* retry_back_off.base_interval; 0: 25 ms */
	uint32_t back_off_max_ms;    /* retry_back_off.max_interval; 0: 10 x base */
	bool previous_hosts;         /* retry_host_predicate previous_hosts: a retry
				      * avoids the hosts this request tried */
	uint32_t host_selection_max_attempts; /* host_selection_retry_max_attempts:
				      * picks redone to avoid them; 0: 1 */
	uint16_t *retriable_status_codes;
	size_t n_retriable_status_codes;
};

struct weighted_cluster {
	char *name;
	uint32_t weight;
	const struct cluster *cluster; /* resolved in the same snapshot */
};

/* One of a route's hash_policy entries (Envoy's RouteAction.HashPolicy):
 * what of the request a consistent-hash cluster hashes. */
enum hash_kind {
	HASH_HEADER,          /* header.header_name */
	HASH_SOURCE_IP,       /* connection_properties.source_ip */
	HASH_QUERY_PARAMETER, /* query_parameter.name */
	HASH_COOKIE,          /* cookie.name; with a ttl, skiff makes the cookie
			       * for a request without it (Set-Cookie) */
};

#define ROUTE_HASH_POLICIES_MAX 8

struct hash_policy {
	enum hash_kind kind;
	char *name;           /* the header (lower case), query parameter or cookie */
	bool terminal;        /* a hash from this one ends the list */
	bool has_ttl;         /* cookie.ttl given: make the cookie when missing */
	uint32_t ttl_s;       /* its Max-Age (0: a session cookie) */
	char *path;           /* cookie.path; NULL: none */
};

enum route_action_kind { ROUTE_TO_CLUSTER, ROUTE_REDIRECT, ROUTE_DIRECT_RESPONSE };

struct route {
	char *name;
	struct route_match match;
	enum route_action_kind kind;
	/* ROUTE_TO_CLUSTER: route.cluster, or route.weighted_clusters */
	char *cluster_name;
	const struct cluster *cluster;      /* resolved; NULL when weighted */
	struct weighted_cluster *weighted;
	size_t n_weighted;
	uint32_t total_weight;              /* sum of the weights */
	uint32_t timeout_ms;                /* route.timeout [15000]; 0: none */
	uint32_t idle_timeout_ms;           /* route.idle_timeout; 0 disables */
	bool has_idle_timeout;              /* else the listener's stream_idle_timeout */
	char *prefix_rewrite;
	char *host_rewrite;                 /* host_rewrite_literal */
	struct retry_policy retry;
	struct hash_policy *hash_policies;  /* hash_policy, in order */
	size_t n_hash_policies;
	/* ROUTE_REDIRECT */
	char *redirect_host;                /* host_redirect */
	char *redirect_path;                /* path_redirect */
	char *redirect_prefix;              /* prefix_rewrite (of redirect) */
	char *redirect_scheme;              /* scheme_redirect, or "https" for https_redirect */
	uint16_t redirect_code;             /* response_code: 301 (default) 302 303 307 308 */
	bool strip_query;
	/* ROUTE_DIRECT_RESPONSE */
	uint16_t direct_status;
	char *direct_body;                  /* body.inline_string; NULL: empty */
	struct header_edits edits;
};

struct virtual_host {
	char *name;
	char **domains;  /* "example.com", "*.example.com", "example.*", "*" (lower case) */
	size_t n_domains;
	struct route *routes; /* first match wins */
	size_t n_routes;
	struct header_edits edits;
};

/* A RouteConfiguration (inline in the listener, or from RDS by name). */
struct route_config {
	char *name;
	struct virtual_host *vhosts;
	size_t n_vhosts;
	struct header_edits edits;
	char *version; /* xDS version_info; NULL for the bootstrap */
};

enum http_codec_type { HTTP_CODEC_AUTO, HTTP_CODEC_HTTP1, HTTP_CODEC_HTTP2 };

/* The envoy.filters.network.http_connection_manager filter. */
struct http_conn_manager_config {
	char *stat_prefix;
	enum http_codec_type codec;      /* codec_type [AUTO]: ALPN, or the preface */
	char *rds_name;                  /* rds.route_config_name; NULL: inline */
	struct route_config *route_config; /* inline (owned) or, with rds_name,
					    * resolved into snapshot->route_configs */
	struct access_log_config access_log;
	struct http2_limits http2;       /* http2_protocol_options */
	uint32_t max_request_headers_kb; /* [60] */
	uint32_t max_headers_count;      /* common_http_protocol_options [100] */
	uint32_t idle_timeout_ms;        /* common_http_protocol_options.idle_timeout [1h] */
	uint32_t stream_idle_timeout_ms; /* [300000] */
	uint32_t request_timeout_ms;     /* [0: none] */
	uint32_t drain_timeout_ms;       /* GOAWAY to close [5000] */
	bool generate_request_id;        /* [true] */
	bool upgrade_websocket;          /* upgrade_configs: upgrade_type websocket */
	bool upgrade_connect;            /* upgrade_configs: upgrade_type CONNECT */
	bool route_config_owned;         /* route_config is inline: freed with this */
};

/* filter_chain_match.transport_protocol, as Envoy's tls_inspector sets it. */
enum chain_match { CHAIN_MATCH_ANY, CHAIN_MATCH_RAW_BUFFER, CHAIN_MATCH_TLS };

/* One filter chain: [rbac] then tcp_proxy or http_connection_manager, over
 * plaintext or TLS. */
struct filter_chain {
	char *name;
	enum chain_match match;
	struct tls_config *tls;   /* transport_socket; NULL: plaintext */
	struct rbac_config *rbac; /* NULL: no authorization filter */
	struct tcp_proxy_config tcp_proxy;         /* when http is NULL */
	struct http_conn_manager_config *http;     /* NULL: tcp_proxy */
};

/* At most two chains: one alone, or a TLS chain beside a plaintext one. A
 * listener whose only chain is TLS is strict mTLS; TLS beside plaintext is
 * permissive (the first bytes choose, Istio's PERMISSIVE mode). */
#define LISTENER_MAX_CHAINS 2

struct listener {
	char *name;
	struct sock_addr addr;
	bool use_original_dst;
	enum traffic_direction direction;
	char *netns;                   /* node shape: the pod's network namespace
					* path to open the socket in; NULL: ours */
	struct filter_chain chains[LISTENER_MAX_CHAINS];
	size_t n_chains;
	uint32_t stats_id;             /* filled by snapshot_publish (stats.h) */
};

struct node_config {
	char *id;
	char *cluster;
};

struct admin_config {
	struct sock_addr addr; /* 127.0.0.1:15000 by default */
};

/* dynamic_resources.ads_config: read now, used by the xDS client. */
struct ads_config {
	char *cluster_name; /* grpc_services[0].envoy_grpc.cluster_name; NULL: no ADS */
	bool delta;         /* api_type DELTA_GRPC (incremental xDS), else GRPC */
};

struct snapshot {
	atomic_uint refs;
	uint64_t version;       /* increases by one per published snapshot */
	char *source;           /* file the snapshot came from, or "<embedded>" */
	struct node_config node;
	struct admin_config admin;
	struct ads_config ads;
	struct listener *listeners;
	size_t n_listeners;
	struct cluster *clusters;
	size_t n_clusters;
	struct route_config *route_configs; /* from RDS, by name */
	size_t n_route_configs;
};

#endif
