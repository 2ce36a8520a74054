/* Whether each endpoint of a cluster may take traffic: outlier detection
 * (ejections) and active health-check verdicts, shared by every worker, as
 * Envoy keeps them on the host: what one worker learns about an endpoint,
 * all of them act on.
 *
 * The state hangs off each version of a cluster (c->host_health, made when
 * the snapshot is prepared) and is carried to the next version by endpoint
 * address when the snapshot is published. Every field is a relaxed atomic:
 * workers report and read without a lock. Health checks run on one worker
 * only (worker.c), the one writer of the verdicts. */
#ifndef SKIFF_PROXY_HOST_HEALTH_H
#define SKIFF_PROXY_HOST_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

/* What an upstream attempt ended with, for outlier detection. */
enum outlier_result {
	OUTLIER_SUCCESS,         /* a response below 500 */
	OUTLIER_5XX,             /* 500, 501, 505..599 */
	OUTLIER_GATEWAY_FAILURE, /* 502, 503, 504 */
	OUTLIER_CONNECT_FAILURE, /* refused, reset before a response, timed out */
};

/* Makes c->host_health for c's endpoints, all in service. 0 or -ENOMEM. */
int host_health_prepare(struct cluster *c);

/* Frees c->host_health. */
void host_health_release(struct cluster *c);

/* Carries the state of every endpoint of `old` (the published version of
 * the cluster) whose address is still in c over to c. Health-check
 * verdicts carry over only while c still checks. Main thread, before c's
 * snapshot is published; a report workers make on `old` meanwhile may be
 * lost, as one made just before the change would be. */
void host_health_inherit(struct cluster *c, const struct cluster *old);

/* Whether endpoint i may take requests now: not ejected (or its ejection
 * time has passed, and it returns now) and not failing health checks.
 * False when i is out of range; true for every endpoint of a cluster that
 * was not prepared. */
bool host_health_available(const struct cluster *c, size_t i, uint64_t now_ms);

/* Whether any endpoint is ejected or failing health checks (the pickers'
 * fast path when none is). */
bool host_health_any_out(const struct cluster *c);

/* Endpoints ejected now (expired ejections count until they are noticed),
 * and endpoints failing health checks. */
uint32_t host_health_ejected(const struct cluster *c);
uint32_t host_health_unhealthy(const struct cluster *c);

/* Feeds outlier detection (c->outlier) for endpoint i. Returns true when
 * this result ejected it: for base_ejection_time_ms x its ejection count
 * (capped at max_ejection_time_ms), unless max_ejection_percent of the
 * endpoints are out already (at least one may always be ejected). */
bool host_health_outlier_report(const struct cluster *c, size_t i, enum outlier_result r,
				uint64_t now_ms);

/* What an attempt on endpoint i of c (the cluster version it picked from)
 * reports: host_health_outlier_report, with an ejection counted
 * (outlier_detection.ejections_enforced_total in worker `worker`'s stats)
 * and logged. Nothing for i < 0. */
void host_health_attempt(const struct cluster *c, int i, enum outlier_result r, uint64_t now_ms,
			 unsigned worker);

/* Records one active health check result for endpoint i: unhealthy after
 * unhealthy_threshold failures in a row, healthy again after
 * healthy_threshold successes. Returns true when it changed state. One
 * caller at a time per cluster (the health-checking worker). */
bool host_health_check_report(const struct cluster *c, size_t i, bool ok);

#endif
