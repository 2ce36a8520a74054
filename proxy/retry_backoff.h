/* The wait before a retry: Envoy's jittered exponential back-off
 * (route.retry_policy.retry_back_off). Before retry n (1 for the first) the
 * wait is drawn uniformly from [0, (2^n - 1) x base_interval), and never
 * reaches max_interval: 0-25 ms, 0-75 ms, 0-175 ms, then 0-250 ms with the
 * defaults. The jitter spreads the retries of many clients that failed at
 * once, so they do not come back together. */
#ifndef SKIFF_PROXY_RETRY_BACKOFF_H
#define SKIFF_PROXY_RETRY_BACKOFF_H

#include <stdint.h>

#include "proxy/config.h"

#define RETRY_BACK_OFF_BASE_MS 25 /* Envoy's default base_interval */
#define RETRY_BACK_OFF_MAX_FACTOR 10 /* default max_interval: 10 x base */

/* The policy's base and max interval, defaults filled in. */
uint32_t retry_back_off_base_ms(const struct retry_policy *p);
uint32_t retry_back_off_max_ms(const struct retry_policy *p);

/* Milliseconds to wait before retry n (n >= 1), given a uniformly random
 * 64-bit value. */
uint32_t retry_back_off_ms(const struct retry_policy *p, uint32_t n, uint64_t random);

#endif
