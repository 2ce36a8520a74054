/* A snapshot as JSON, in the shape of Envoy's admin /config_dump, so tools
 * and people used to Envoy's can read it. */
#ifndef SKIFF_PROXY_CONFIG_DUMP_H
#define SKIFF_PROXY_CONFIG_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

/* Returns a malloc'd, NUL-terminated JSON text of `snap` (the caller frees
 * it) and its length without the NUL in *len (if len is not NULL); NULL when
 * out of memory. `snap` is only read. Shape: {"configs": [BootstrapConfigDump,
 * ListenersConfigDump, ClustersConfigDump], "version": N, "source": "..."}. */
char *config_dump_json(const struct snapshot *snap, size_t *len);

/* A resource a control plane sent: its name, the version_info it came with,
 * and when it was applied (Unix time, ms). Strings are borrowed. */
struct config_dump_resource {
	const char *name;
	const char *version;
	int64_t updated_ms;
};

/* The dynamic resources behind a snapshot, as its source (the xDS client)
 * holds them. A listener or cluster named here is dumped as Envoy dumps a
 * dynamic one: in dynamic_listeners (active_state) or dynamic_active_clusters
 * with its version and time, its body from the snapshot; one the snapshot
 * lacks (waiting for a cluster or a secret) under warming_state /
 * dynamic_warming_clusters with its name only. */
struct config_dump_dynamic {
	const struct config_dump_resource *listeners, *clusters, *endpoints, *secrets;
	size_t n_listeners, n_clusters, n_endpoints, n_secrets;
	/* RDS: a dynamic route configuration's time, by name (its body and
	 * version are the snapshot's) */
	const struct config_dump_resource *routes;
	size_t n_routes;
	/* Istio's workloads (WDS, node shape); with has_workloads, dumped as
	 * one more config, WorkloadsConfigDump (names, versions and times) */
	const struct config_dump_resource *workloads;
	size_t n_workloads;
	bool has_workloads;
};

/* config_dump_json, with the dynamic resources of `dyn` (NULL: none) set
 * apart from the static ones, and two more configs: EndpointsConfigDump
 * (dynamic_endpoint_configs) and SecretsConfigDump (dynamic_active_secrets:
 * names and versions, never a key or certificate). Same ownership. */
char *config_dump_json_dynamic(const struct snapshot *snap, const struct config_dump_dynamic *dyn,
			       size_t *len);

#endif
