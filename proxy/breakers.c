#include "proxy/breakers.h"

#include <stdatomic.h>

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
