#include "proxy/breakers.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "proxy/http_config.h"
#include "proxy/stats.h"

/* By stats id, which is below STATS_MAX_SCOPES: 1 MiB of zero pages, of
 * which only the pages of ids in use are ever touched. */
static _Atomic uint32_t counts[STATS_MAX_SCOPES][BREAKER__COUNT];

static _Atomic uint32_t *slot(uint32_t id, enum breaker b)
{
	static _Atomic uint32_t spare; /* an id out of range counts here, not past the table */
	return id < STATS_MAX_SCOPES && b < BREAKER__COUNT ? &counts[id][b] : &spare;
}

bool breaker_acquire(uint32_t id, enum breaker b, uint32_t limit)
{
	_Atomic uint32_t *c = slot(id, b);
	uint32_t n = atomic_load_explicit(c, memory_order_relaxed);
	do {
		if (n >= limit)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(c, &n, n + 1, memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

void breaker_add(uint32_t id, enum breaker b)
{
	atomic_fetch_add_explicit(slot(id, b), 1, memory_order_relaxed);
}

void breaker_release(uint32_t id, enum breaker b)
{
	_Atomic uint32_t *c = slot(id, b);
	uint32_t n = atomic_load_explicit(c, memory_order_relaxed);
	/* Never below zero, whatever a caller's bookkeeping did. */
	while (n && !atomic_compare_exchange_weak_explicit(c, &n, n - 1, memory_order_relaxed,
							   memory_order_relaxed))
		;
}

uint32_t breaker_count(uint32_t id, enum breaker b)
{
	return atomic_load_explicit(slot(id, b), memory_order_relaxed);
}

/* The published limits, by stats id: written and read on the main thread
 * only. Allocated at the first publish, for every possible id (as the
 * counts): zero pages where no cluster is. */
static struct circuit_breakers *limits;

void breaker_publish_limits(uint32_t id, const struct circuit_breakers *l)
{
	if (id >= STATS_MAX_SCOPES)
		return;
	if (!limits && !(limits = calloc(STATS_MAX_SCOPES, sizeof(*limits))))
		return; /* no gauges rather than wrong ones: breaker_open says closed */
	limits[id] = *l;
}

static bool limit_of(uint32_t id, enum breaker b, uint32_t *out)
{
	if (!limits || id >= STATS_MAX_SCOPES)
		return false;
	const struct circuit_breakers *l = &limits[id];
	switch (b) {
	case BREAKER_CONNECTIONS:
		*out = l->max_connections;
		return true;
	case BREAKER_PENDING:
		*out = l->max_pending_requests;
		return true;
	case BREAKER_REQUESTS:
		*out = l->max_requests;
		return true;
	case BREAKER_RETRIES:
		*out = circuit_breakers_retry_limit(l, breaker_count(id, BREAKER_REQUESTS));
		return true;
	default:
		return false;
	}
}

bool breaker_open(uint32_t id, enum breaker b)
{
	uint32_t limit;
	return limit_of(id, b, &limit) && breaker_count(id, b) >= limit;
}

bool breaker_remaining(uint32_t id, enum breaker b, uint64_t *remaining)
{
	uint32_t limit;
	if (!limit_of(id, b, &limit) || !limits[id].track_remaining)
		return false;
	uint32_t n = breaker_count(id, b);
	*remaining = n < limit ? limit - n : 0;
	return true;
}
