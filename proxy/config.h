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
	uint32_t stats_id;            /* filled by snapshot_publish (stats.h) */
};

/* Where a tcp_proxy filter writes its access log (Envoy's FileAccessLog). */
struct access_log_config {
	char *path; /* NULL: no access log */
};

struct listener {
	char *name;
	struct sock_addr addr;
	bool use_original_dst;
	enum traffic_direction direction;
	/* The tcp_proxy network filter, the only filter of its one filter chain. */
	char *stat_prefix;
	char *cluster_name;
	const struct cluster *cluster; /* resolved: points into the same snapshot */
	uint32_t idle_timeout_ms;      /* 0 disables; Envoy's default: 1h */
	struct access_log_config access_log;
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
