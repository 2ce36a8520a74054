/* Load balancing over a cluster's endpoints, and what one worker keeps of
 * them: requests and connections in flight, the round-robin state, when
 * each health check is due. Which endpoints may take traffic (outlier
 * ejections, health-check verdicts) is shared by all workers
 * (proxy/host_health.h), as are the circuit-breaker counts
 * (proxy/breakers.h).
 *
 * The consistent-hash tables (ring hash, Maglev) are built once per
 * snapshot and read by every worker; the host state is per worker, keyed by
 * the cluster's stats id so it survives a snapshot change when the
 * endpoints stay the same. */
#ifndef SKIFF_PROXY_LB_H
#define SKIFF_PROXY_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"
#include "proxy/host_health.h"

/* Builds c->lb for LB_RING_HASH (ring_hash_min_size points, weighted) and
 * LB_MAGLEV (maglev_table_size entries, weighted). No-op for the other
 * policies; and c->host_health for every policy. Returns 0, -EINVAL with
 * err (a table size that is not prime) or -ENOMEM. */
int lb_prepare(struct cluster *c, char *err, size_t errlen);

/* Frees c->lb and c->host_health. */
void lb_release(struct cluster *c);

/* 64-bit hash of a request key (xxHash64 as Envoy uses, seed 0). */
uint64_t lb_hash(const void *data, size_t len);

struct host_state {
	uint32_t active_requests;
	uint32_t active_cx;
	int64_t wrr_current;         /* smooth weighted round robin (nginx's) */
};

/* One cluster's state on one worker. */
struct cluster_rt {
	const struct cluster *c;     /* the worker's current version */
	struct host_state *hosts;    /* one per c->endpoints[i] */
	size_t n_hosts;
	uint32_t rr;                 /* round-robin position */
	uint64_t rng;                /* xorshift state for random / P2C */
	/* health checking (one worker): the next check per host is due at */
	uint64_t *hc_due_ms;
	struct sock_addr *addrs;     /* copy of each host's address: the old cluster
				      * may be freed before the new one arrives */
	bool *avail;                 /* per host, during one pick: available */
	bool weighted;               /* endpoint weights differ (no fast paths) */
};

/* Worker-owned table of cluster_rt by stats id. */
struct cluster_rt_table {
	struct cluster_rt **by_id;
	size_t cap;
};

/* The state of c on this worker, created on first use. When c differs from
 * the one the state was made for (a new snapshot), hosts whose address is
 * still there keep their state and the rest start fresh. NULL when out of
 * memory (the previous state is kept). A host index from lb_pick names that
 * host only while rt->c is the cluster it was picked from: a request in
 * flight across a snapshot change must check rt->c before it touches
 * rt->hosts[i] again (its snapshot reference keeps its cluster alive). */
struct cluster_rt *cluster_rt_get(struct cluster_rt_table *t, const struct cluster *c);

void cluster_rt_table_free(struct cluster_rt_table *t);

/* Whether host i may take requests now (host_health_available). */
bool lb_host_available(struct cluster_rt *rt, size_t i, uint64_t now_ms);

/* Picks an endpoint index for a request by c->lb_policy, among available
 * hosts; when none is available, among all (Envoy's panic mode). `hash` is
 * used by ring hash and Maglev when has_hash, else they pick at random.
 * Returns -1 when the cluster has no endpoints. */
int lb_pick(struct cluster_rt *rt, uint64_t now_ms, bool has_hash, uint64_t hash);

/* lb_pick once more, the attempt-th time (1, 2...) for one request, because
 * a retry host predicate refused the last pick. The policies that draw
 * draw again; ring hash walks `attempt` entries further round the ring, and
 * Maglev looks up a mutated hash, as Envoy's do, so a hashed request can
 * reach another host. */
int lb_pick_again(struct cluster_rt *rt, uint64_t now_ms, bool has_hash, uint64_t hash,
		  uint32_t attempt);

/* A uniformly random 64-bit value from the worker's generator for the
 * cluster (the one that picks hosts): retry back-off jitter draws from it. */
uint64_t lb_random(struct cluster_rt *rt);

#endif
