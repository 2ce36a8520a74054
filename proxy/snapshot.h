/* Publishing configuration snapshots (config.h) to the workers.
 *
 * The main thread publishes; workers pick the current snapshot up at the top
 * of their loop. A published snapshot is freed only once every worker has
 * moved past it (a quiescent-state scheme: each worker reports the newest
 * version it has taken a reference on), so a worker can always take a
 * reference on what it reads from the current pointer. */
#ifndef SKIFF_PROXY_SNAPSHOT_H
#define SKIFF_PROXY_SNAPSHOT_H

#include <stddef.h>

#include "proxy/config.h"

/* A zeroed snapshot holding one reference, owned by the caller; NULL when out
 * of memory. */
struct snapshot *snapshot_new(void);

void snapshot_ref(struct snapshot *snap);

/* Drops one reference; the last one frees the snapshot and all it owns. */
void snapshot_unref(struct snapshot *snap);

/* The cluster named `name` in `snap`, or NULL. */
const struct cluster *snapshot_find_cluster(const struct snapshot *snap, const char *name);

/* Frees what a listener or cluster owns and zeroes it: for one built but
 * never moved into a snapshot (a snapshot frees its own). */
void snapshot_listener_clear(struct listener *l);
void snapshot_cluster_clear(struct cluster *c);
void snapshot_route_config_clear(struct route_config *rc);

/* Frees an http_connection_manager config and what it owns (its inline
 * route configuration when route_config_owned). NULL is allowed. */
void snapshot_http_config_free(struct http_conn_manager_config *h);

/* Appends a listener or cluster (moved in: *l / *c now belong to snap, the
 * caller's struct is zeroed) to a snapshot still being built. Pointers into
 * snap->listeners / snap->clusters are stale afterwards: call snapshot_link
 * when done. Returns 0 or -ENOMEM (nothing moved). */
int snapshot_add_listener(struct snapshot *snap, struct listener *l);
int snapshot_add_cluster(struct snapshot *snap, struct cluster *c);

/* Appends an RDS route configuration the same way (moved in; *rc zeroed).
 * Its regexes need not be compiled: snapshot_link does it. HCMs' pointers
 * into snap->route_configs are stale afterwards, until snapshot_link.
 * Returns 0 or -ENOMEM (nothing moved). */
int snapshot_add_route_config(struct snapshot *snap, struct route_config *rc);

/* The RDS route configuration named `name` in `snap`, or NULL. */
struct route_config *snapshot_find_route_config(const struct snapshot *snap, const char *name);

/* Resolves every filter chain's tcp_proxy cluster by name and every
 * http_connection_manager's RDS route configuration by name, and checks
 * names are unique. A listener whose cluster or route configuration does
 * not exist (yet: xDS sends clusters first, but a cluster may go before its
 * listeners do) is dropped from snap with a warning, as Envoy keeps such a
 * listener warming. Then prepares what the workers read ready-made:
 * router_prepare on every route configuration (RDS and inline), lb_prepare
 * on every cluster, and router_link points routes at their clusters (a
 * route's missing cluster is not an error: NULL, 503 at request time).
 * Call once per snapshot, before snapshot_publish. Returns 0, or -EINVAL
 * with err naming the duplicate or the route configuration / cluster that
 * does not prepare (a bad regex: route_config "r": virtual_hosts[0]...:
 * why), or -ENOMEM. */
int snapshot_link(struct snapshot *snap, char *err, size_t errlen);

/* Makes `snap` the current snapshot, taking over the caller's reference.
 * Assigns its version and the stats ids of its listeners and clusters.
 * Returns 0, or -ENOMEM when the stats scopes could not be registered (the
 * snapshot is then released and the current one stays). Main thread only. */
int snapshot_publish(struct snapshot *snap);

/* The current snapshot with a reference the caller owns, or NULL before the
 * first publish. `worker` is the caller's worker index, recorded so the main
 * thread knows when older snapshots can be freed. */
struct snapshot *snapshot_acquire(unsigned worker);

/* Version of the current snapshot, cheap enough to poll each loop turn. */
uint64_t snapshot_current_version(void);

/* Sets how many workers report through snapshot_acquire (call before
 * starting them), and frees retired snapshots every worker has moved past.
 * Main thread only. */
void snapshot_set_workers(unsigned n_workers);
void snapshot_collect(void);

/* Drops the current snapshot and all retired ones at exit. */
void snapshot_shutdown(void);

#endif
