/* Circuit-breaker counts of each cluster, shared by all workers, as Envoy's
 * per-cluster resource manager: `max_connections: 100` bounds the whole
 * process, whatever --concurrency is.
 *
 * Counts are kept by the cluster's stats id, so they carry over a snapshot
 * change (a request or connection made under the old version of a cluster
 * still counts against the new one), and each is one relaxed atomic: the
 * data path takes no lock. */
#ifndef SKIFF_PROXY_BREAKERS_H
#define SKIFF_PROXY_BREAKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/config.h"

enum breaker {
	BREAKER_CONNECTIONS,      /* upstream connections open (max_connections) */
	BREAKER_PENDING,          /* requests waiting for a connection (max_pending_requests) */
	BREAKER_REQUESTS,         /* requests in flight upstream (max_requests) */
	BREAKER_RETRIES,          /* retries in flight (max_retries or the retry budget) */
	BREAKER__COUNT
};

/* Counts one more of b for cluster `id` if fewer than `limit` are counted
 * now, and says whether it did. Exact across workers: at most `limit` at
 * once. */
bool breaker_acquire(uint32_t id, enum breaker b, uint32_t limit);

/* Counts one more without a limit (what Envoy allows past one: a pool's
 * first connection, a retry admitted by a budget read a moment before). */
void breaker_add(uint32_t id, enum breaker b);

/* Gives back one that breaker_acquire or breaker_add counted. */
void breaker_release(uint32_t id, enum breaker b);

/* How many are counted now. */
uint32_t breaker_count(uint32_t id, enum breaker b);

/* Notes the limits of cluster `id` as published (snapshot_publish), for
 * the gauges below. Main thread. */
void breaker_publish_limits(uint32_t id, const struct circuit_breakers *limits);

/* Envoy's circuit-breaker gauges of cluster `id` against its published
 * limits: whether b is at its limit ("circuit_breakers.default.cx_open"
 * and the like), and how many more it takes ("remaining_cx"...; only with
 * track_remaining, else *remaining is left alone and false returned). The
 * retry limit is the retry budget's share of the requests in flight when
 * the cluster has one, as for admitting a retry. Main thread. */
bool breaker_open(uint32_t id, enum breaker b);
bool breaker_remaining(uint32_t id, enum breaker b, uint64_t *remaining);

#endif
