/* The xDS client: one Aggregated Discovery Service stream (state of the
 * world, or incremental with api_type DELTA_GRPC) to the control plane
 * named by the bootstrap's ads_config, on the main thread. Each response
 * is validated whole by building the snapshot it would give; a good one is
 * published and ACKed, a bad one NACKed with the resource and the reason,
 * and nothing of it is applied. When the control plane goes away, the last
 * good configuration keeps serving and the client reconnects with jittered
 * exponential backoff, resubscribing with the versions it has (Delta:
 * initial_resource_versions). */
#ifndef SKIFF_XDS_ADS_H
#define SKIFF_XDS_ADS_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"
#include "proxy/loop.h"

struct xds_workload; /* xds/translate_workload.h */

/* What the client asks of the process. */
struct ads_hooks {
	/* A snapshot from the bootstrap plus the dynamic resources as the
	 * client now holds them (config_source_build); NULL with err. */
	struct snapshot *(*build)(char *err, size_t errlen);
	/* Makes snap current (takes the reference). */
	void (*publish)(struct snapshot *snap);
	/* NULL, or: subscribe to Istio's workloads (WDS, wildcard) and hand
	 * every set accepted to this hook before the build, all of them (v
	 * and the strings are the caller's: copy what is kept). Called again
	 * with the previous set when the build then fails. Returns 0, or
	 * -errno with err, which NACKs the response. */
	int (*workloads)(const struct xds_workload *v, size_t n, char *err, size_t errlen);
};

/* Starts the client when bootstrap has an ads_config (does nothing
 * otherwise). Returns 0 or -errno with err. */
int ads_start(struct loop *loop, const struct snapshot *bootstrap, const struct ads_hooks *hooks,
	      char *err, size_t errlen);

/* Adds the client's listeners and clusters to a snapshot being built: the
 * config_source dynamic hook. */
int ads_add_resources(struct snapshot *snap, char *err, size_t errlen, void *arg);

/* Reconnects when due, sends keepalive pings. Main loop, every turn. */
void ads_tick(void);

/* Renders the client's counters (connects, ACKs, NACKs per type, update
 * latency) in text or Prometheus form: malloc'd, or NULL. */
char *ads_metrics(bool prometheus, size_t *len);

/* /config_dump of snap (the admin hook): the client's listeners, clusters,
 * endpoints and secrets as dynamic resources, each with the version_info of
 * the response that last changed it and when that was applied
 * (config_dump_json_dynamic). Malloc'd JSON, or NULL. Main thread. */
char *ads_config_dump(const struct snapshot *snap, size_t *len);

void ads_stop(void);

#endif
