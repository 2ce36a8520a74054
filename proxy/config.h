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
};

enum traffic_direction {
	DIRECTION_UNSPECIFIED,
	DIRECTION_INBOUND,
	DIRECTION_OUTBOUND,
};

struct endpoint {
	struct sock_addr addr;
};

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

/* filter_chain_match.transport_protocol, as Envoy's tls_inspector sets it. */
enum chain_match { CHAIN_MATCH_ANY, CHAIN_MATCH_RAW_BUFFER, CHAIN_MATCH_TLS };

/* One filter chain: [rbac] then tcp_proxy, over plaintext or TLS. */
struct filter_chain {
	char *name;
	enum chain_match match;
	struct tls_config *tls;   /* transport_socket; NULL: plaintext */
	struct rbac_config *rbac; /* NULL: no authorization filter */
	struct tcp_proxy_config tcp_proxy;
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
};

#endif
