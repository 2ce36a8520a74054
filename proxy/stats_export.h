/* Renders the counters of stats.h for people (/stats) and for Prometheus
 * (/stats/prometheus), with Envoy's names so existing dashboards work. */
#ifndef SKIFF_PROXY_STATS_EXPORT_H
#define SKIFF_PROXY_STATS_EXPORT_H

#include <stddef.h>
#include <stdio.h>

/* Envoy's text form, "cluster.backend.upstream_cx_total: 5" per line.
 * Returns a malloc'd string the caller frees (length in *len), or NULL. */
char *stats_export_text(size_t *len);

/* Prometheus text exposition format 0.0.4: "envoy_cluster_upstream_cx_total
 * {envoy_cluster_name="backend"} 5", one # TYPE line per family. As Envoy's
 * tag extraction does, the response classes are one family with a label:
 * envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",...}. Returns a
 * malloc'd string the caller frees, or NULL. */
char *stats_export_prometheus(size_t *len);

/* Writes s as a Prometheus label value, escaping backslash, quote and
 * newline as the text format requires (configuration names and SPIFFE ids
 * may hold any of them). */
void stats_export_label_value(FILE *f, const char *s);

#endif
