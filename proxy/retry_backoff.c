/* Retry back-off; see retry_backoff.h. */
#include "proxy/retry_backoff.h"

uint32_t retry_back_off_base_ms(const struct retry_policy *p)
{
	return p->back_off_base_ms ? p->back_off_base_ms : RETRY_BACK_OFF_BASE_MS;
}

uint32_t retry_back_off_max_ms(const struct retry_policy *p)
{
	if (p->back_off_max_ms)
		return p->back_off_max_ms;
	uint64_t max = (uint64_t)retry_back_off_base_ms(p) * RETRY_BACK_OFF_MAX_FACTOR;
	return max > UINT32_MAX ? UINT32_MAX : (uint32_t)max;
}

uint32_t retry_back_off_ms(const struct retry_policy *p, uint32_t n, uint64_t random)
{
	uint64_t base = retry_back_off_base_ms(p), max = retry_back_off_max_ms(p);
	/* (2^n - 1) x base, without overflowing: past max, max is the bound. */
	uint64_t bound = max;
	if (n >= 1 && n < 32) {
		uint64_t multiplier = (1ull << n) - 1;
		if (multiplier <= max / base)
			bound = multiplier * base;
	}
	uint64_t wait = random % bound;
	return (uint32_t)(wait < max ? wait : max);
}
