/* Shared endpoint health; see host_health.h.
 *
 * Envoy's DetectorHostMonitorImpl with local-origin errors folded into the
 * response codes (split_external_local_origin_errors false): a connect
 * failure counts as a 503. A 5xx that is not a gateway error breaks the
 * gateway streak; anything below 500 breaks both. A detector that fires
 * starts its count again, whether or not the host could be ejected.
 *
 * An ejection is claimed with a compare-and-swap of ejected_until_ms from 0,
 * after a place under max_ejection_percent was taken in `ejected`; the
 * return is claimed by swapping the passed time back to 0. Only the worker
 * that won a swap touches `ejections` and `returned_ms`. */
#include "proxy/host_health.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"

struct host_health_entry {
	struct sock_addr addr;                  /* to carry the state over */
	_Atomic uint64_t ejected_until_ms;      /* 0: in service */
	_Atomic uint64_t returned_ms;           /* end of the last ejection */
	_Atomic uint32_t ejections;             /* for the growing ejection time */
	_Atomic uint32_t consecutive_5xx;
	_Atomic uint32_t consecutive_gateway;
	_Atomic bool hc_unhealthy;
	uint32_t hc_streak;                     /* results opposite to the verdict in a row;
						 * the checking worker's alone */
};

struct host_health {
	_Atomic uint32_t ejected;
	_Atomic uint32_t unhealthy;
	size_t n;
	struct host_health_entry hosts[];
};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* An ejection being set up: out, until the winner writes its end. */
#define EJECTING UINT64_MAX

int host_health_prepare(struct cluster *c)
{
	if (c->host_health)
		return 0;
	size_t n = c->n_endpoints;
	struct host_health *hh = calloc(1, sizeof(*hh) + n * sizeof(hh->hosts[0]));
	if (!hh)
		return -ENOMEM;
	hh->n = n;
	for (size_t i = 0; i < n; i++)
		hh->hosts[i].addr = c->endpoints[i].addr;
	c->host_health = hh;
	return 0;
}

void host_health_release(struct cluster *c)
{
	free(c->host_health);
	c->host_health = NULL;
}

void host_health_inherit(struct cluster *c, const struct cluster *old)
{
	struct host_health *hh = c->host_health, *from = old ? old->host_health : NULL;
	if (!hh || !from || hh == from)
		return;
	uint32_t ejected = 0, unhealthy = 0;
	for (size_t i = 0; i < hh->n; i++) {
		struct host_health_entry *h = &hh->hosts[i], *o = NULL;
		/* most updates keep the order: the same index first */
		if (i < from->n && sock_addr_equal(&from->hosts[i].addr, &h->addr))
			o = &from->hosts[i];
		for (size_t j = 0; !o && j < from->n; j++)
			if (sock_addr_equal(&from->hosts[j].addr, &h->addr))
				o = &from->hosts[j];
		if (!o)
			continue;
		uint64_t until = LOAD(o->ejected_until_ms);
		if (until == EJECTING) /* a worker is ejecting it on the old version
					* right now: its end is not known yet */
			until = 0;
		STORE(h->ejected_until_ms, until);
		STORE(h->returned_ms, LOAD(o->returned_ms));
		STORE(h->ejections, LOAD(o->ejections));
		STORE(h->consecutive_5xx, LOAD(o->consecutive_5xx));
		STORE(h->consecutive_gateway, LOAD(o->consecutive_gateway));
		ejected += until != 0;
		/* Without health checking nothing would ever clear the mark. */
		if (c->health.enabled && LOAD(o->hc_unhealthy)) {
			STORE(h->hc_unhealthy, true);
			unhealthy++;
		}
		if (c->health.enabled)
			h->hc_streak = o->hc_streak;
	}
	STORE(hh->ejected, ejected);
	STORE(hh->unhealthy, unhealthy);
}

bool host_health_available(const struct cluster *c, size_t i, uint64_t now_ms)
{
	struct host_health *hh = c->host_health;
	if (!hh) /* not prepared: nothing ever took it out */
		return i < c->n_endpoints;
	if (i >= hh->n)
		return false;
	struct host_health_entry *h = &hh->hosts[i];
	uint64_t until = LOAD(h->ejected_until_ms);
	if (until && until != EJECTING && now_ms >= until &&
	    atomic_compare_exchange_strong_explicit(&h->ejected_until_ms, &until, 0,
						    memory_order_relaxed, memory_order_relaxed)) {
		STORE(h->returned_ms, until);
		atomic_fetch_sub_explicit(&hh->ejected, 1, memory_order_relaxed);
		until = 0;
	}
	return until == 0 && !LOAD(h->hc_unhealthy);
}

bool host_health_any_out(const struct cluster *c)
{
	const struct host_health *hh = c->host_health;
	return hh && (LOAD(hh->ejected) || LOAD(hh->unhealthy));
}

uint32_t host_health_ejected(const struct cluster *c)
{
	return c->host_health ? LOAD(c->host_health->ejected) : 0;
}

uint32_t host_health_unhealthy(const struct cluster *c)
{
	return c->host_health ? LOAD(c->host_health->unhealthy) : 0;
}

/* Takes endpoint i out unless max_ejection_percent of them are out already
 * (Envoy ejects one whatever the percentage). The ejection count decays by
 * one per interval spent back in, as Envoy's backoff does at each interval
 * tick. */
static bool eject(const struct cluster *c, size_t i, uint64_t now_ms)
{
	const struct outlier_detection *od = &c->outlier;
	struct host_health *hh = c->host_health;
	struct host_health_entry *h = &hh->hosts[i];
	for (size_t j = 0; j < hh->n; j++) /* returns the expired: `ejected` is current */
		host_health_available(c, j, now_ms);
	if (LOAD(h->ejected_until_ms))
		return false;
	uint32_t out = LOAD(hh->ejected);
	do {
		if (out > 0 && (uint64_t)(out + 1) * 100 > (uint64_t)od->max_ejection_percent * hh->n)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&hh->ejected, &out, out + 1,
							memory_order_relaxed, memory_order_relaxed));
	uint64_t zero = 0;
	if (!atomic_compare_exchange_strong_explicit(&h->ejected_until_ms, &zero, EJECTING,
						     memory_order_relaxed, memory_order_relaxed)) {
		atomic_fetch_sub_explicit(&hh->ejected, 1, memory_order_relaxed);
		return false; /* another worker ejected it first */
	}
	uint32_t ejections = LOAD(h->ejections);
	uint64_t returned = LOAD(h->returned_ms);
	if (od->interval_ms && ejections && now_ms > returned) {
		uint64_t back = (now_ms - returned) / od->interval_ms;
		ejections -= back < ejections ? (uint32_t)back : ejections;
	}
	if (ejections < UINT32_MAX)
		ejections++;
	STORE(h->ejections, ejections);
	uint64_t cap = od->max_ejection_time_ms > od->base_ejection_time_ms ? od->max_ejection_time_ms
									     : od->base_ejection_time_ms;
	uint64_t t = (uint64_t)od->base_ejection_time_ms * ejections;
	uint64_t until = now_ms + (t < cap ? t : cap);
	STORE(h->ejected_until_ms, until == 0 || until == EJECTING ? 1 : until);
	return true;
}

bool host_health_outlier_report(const struct cluster *c, size_t i, enum outlier_result r,
				uint64_t now_ms)
{
	const struct outlier_detection *od = &c->outlier;
	struct host_health *hh = c->host_health;
	if (!hh || i >= hh->n || !od->enabled)
		return false;
	struct host_health_entry *h = &hh->hosts[i];
	if (r == OUTLIER_SUCCESS) {
		if (LOAD(h->consecutive_5xx)) /* no write, no shared cache line, when all is well */
			STORE(h->consecutive_5xx, 0);
		if (LOAD(h->consecutive_gateway))
			STORE(h->consecutive_gateway, 0);
		return false;
	}
	bool fired = false;
	uint32_t n5 = atomic_fetch_add_explicit(&h->consecutive_5xx, 1, memory_order_relaxed) + 1;
	if (od->consecutive_5xx && n5 >= od->consecutive_5xx) {
		STORE(h->consecutive_5xx, 0);
		fired = true;
	}
	if (r == OUTLIER_5XX) {
		STORE(h->consecutive_gateway, 0);
	} else {
		uint32_t ng = atomic_fetch_add_explicit(&h->consecutive_gateway, 1,
							memory_order_relaxed) + 1;
		if (od->consecutive_gateway_failure && ng >= od->consecutive_gateway_failure) {
			STORE(h->consecutive_gateway, 0);
			fired = true;
		}
	}
	return fired && eject(c, i, now_ms);
}

void host_health_attempt(const struct cluster *c, int i, enum outlier_result r, uint64_t now_ms,
			 unsigned worker)
{
	if (!c || i < 0 || !host_health_outlier_report(c, (size_t)i, r, now_ms))
		return;
	stats_add(stats_scope(worker, c->stats_id), STAT_OUTLIER_EJECTED, 1);
	log_info("cluster %s: endpoint %d ejected (outlier detection)", c->name, i);
}

bool host_health_check_report(const struct cluster *c, size_t i, bool ok)
{
	struct host_health *hh = c->host_health;
	if (!hh || i >= hh->n)
		return false;
	const struct health_check *hc = &c->health;
	struct host_health_entry *h = &hh->hosts[i];
	bool unhealthy = LOAD(h->hc_unhealthy);
	if (ok != unhealthy) { /* agrees with the current verdict */
		h->hc_streak = 0;
		return false;
	}
	uint32_t need = unhealthy ? hc->healthy_threshold : hc->unhealthy_threshold;
	if (++h->hc_streak < (need ? need : 1))
		return false;
	h->hc_streak = 0;
	STORE(h->hc_unhealthy, !unhealthy);
	if (!unhealthy)
		atomic_fetch_add_explicit(&hh->unhealthy, 1, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&hh->unhealthy, 1, memory_order_relaxed);
	return true;
}
