/* Stats rendering; see stats_export.h. */
#include "proxy/stats_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/breakers.h"
#include "proxy/stats.h"

static const char *const kind_prefix[] = { [STATS_LISTENER] = "listener",
					   [STATS_CLUSTER] = "cluster" };
static const char *const kind_label[] = { [STATS_LISTENER] = "envoy_listener_address",
					  [STATS_CLUSTER] = "envoy_cluster_name" };
static const char *const active_name[] = { [STATS_LISTENER] = "downstream_cx_active",
					   [STATS_CLUSTER] = "upstream_cx_active" };

static uint64_t active_of(uint32_t id)
{
	uint64_t total = stats_sum(id, STAT_CX_TOTAL), destroyed = stats_sum(id, STAT_CX_DESTROY);
	/* Workers update the two at different instants; never show a wrap. */
	return total > destroyed ? total - destroyed : 0;
}

/* Envoy's cluster gauges over the circuit-breaker counts (breakers.h),
 * which are the cluster's across workers. */
enum gauge_kind { GAUGE_COUNT, GAUGE_OPEN, GAUGE_REMAINING };
static const struct cluster_gauge {
	const char *name;
	enum breaker b;
	enum gauge_kind kind;
} cluster_gauges[] = {
	{ "upstream_rq_active", BREAKER_REQUESTS, GAUGE_COUNT },
	{ "upstream_rq_pending_active", BREAKER_PENDING, GAUGE_COUNT },
	{ "circuit_breakers.default.cx_open", BREAKER_CONNECTIONS, GAUGE_OPEN },
	{ "circuit_breakers.default.rq_pending_open", BREAKER_PENDING, GAUGE_OPEN },
	{ "circuit_breakers.default.rq_open", BREAKER_REQUESTS, GAUGE_OPEN },
	{ "circuit_breakers.default.rq_retry_open", BREAKER_RETRIES, GAUGE_OPEN },
	/* only for clusters with track_remaining, as in Envoy */
	{ "circuit_breakers.default.remaining_cx", BREAKER_CONNECTIONS, GAUGE_REMAINING },
	{ "circuit_breakers.default.remaining_pending", BREAKER_PENDING, GAUGE_REMAINING },
	{ "circuit_breakers.default.remaining_rq", BREAKER_REQUESTS, GAUGE_REMAINING },
	{ "circuit_breakers.default.remaining_retries", BREAKER_RETRIES, GAUGE_REMAINING },
};
#define N_CLUSTER_GAUGES (sizeof(cluster_gauges) / sizeof(cluster_gauges[0]))

/* The gauge's value for cluster id; false when the cluster has none. */
static bool gauge_value(const struct cluster_gauge *g, uint32_t id, uint64_t *v)
{
	switch (g->kind) {
	case GAUGE_COUNT:
		*v = breaker_count(id, g->b);
		return true;
	case GAUGE_OPEN:
		*v = breaker_open(id, g->b);
		return true;
	case GAUGE_REMAINING:
	default:
		return breaker_remaining(id, g->b, v);
	}
}

/* Closes a memstream; its buffer, or NULL if writing ran out of memory. */
static char *finish(FILE *f, char **buf)
{
	/* fclose publishes the final buffer pointer: read it only after. */
	if (fclose(f) != 0) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

char *stats_export_text(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	for (uint32_t id = 0; id < stats_scope_count(); id++) {
		enum stats_kind kind;
		const char *name;
		stats_scope_info(id, &kind, &name);
		for (int c = 0; c < STAT__COUNT; c++) {
			const char *cname = stats_counter_name(kind, (enum stats_counter)c);
			if (cname)
				fprintf(f, "%s.%s.%s: %llu\n", kind_prefix[kind], name, cname,
					(unsigned long long)stats_sum(id, (enum stats_counter)c));
		}
		fprintf(f, "%s.%s.%s: %llu\n", kind_prefix[kind], name, active_name[kind],
			(unsigned long long)active_of(id));
		uint64_t v;
		for (size_t g = 0; kind == STATS_CLUSTER && g < N_CLUSTER_GAUGES; g++)
			if (gauge_value(&cluster_gauges[g], id, &v))
				fprintf(f, "cluster.%s.%s: %llu\n", name, cluster_gauges[g].name,
					(unsigned long long)v);
	}
	return finish(f, &buf);
}

void stats_export_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* The Prometheus name of stat: "envoy_<kind>_<stat>" with dots made
 * underscores ("ssl.handshake" becomes "ssl_handshake"), as Envoy renders
 * it; the format allows no dots. */
static void metric_name(char *out, size_t cap, enum stats_kind kind, const char *stat)
{
	snprintf(out, cap, "envoy_%s_%s", kind_prefix[kind], stat);
	for (char *p = out; *p; p++)
		if (*p == '.')
			*p = '_';
}

static void put_sample(FILE *f, const char *metric, const char *extra_label, enum stats_kind kind,
		       const char *name, uint64_t v)
{
	fprintf(f, "%s{%s%s=\"", metric, extra_label, kind_label[kind]);
	stats_export_label_value(f, name);
	fprintf(f, "\"} %llu\n", (unsigned long long)v);
}

/* counter < 0: the active gauge. */
static void put_family(FILE *f, enum stats_kind kind, const char *stat, const char *type,
		       int counter)
{
	char metric[96];
	metric_name(metric, sizeof(metric), kind, stat);
	fprintf(f, "# TYPE %s %s\n", metric, type);
	for (uint32_t id = 0; id < stats_scope_count(); id++) {
		enum stats_kind k;
		const char *name;
		stats_scope_info(id, &k, &name);
		if (k != kind)
			continue;
		uint64_t v = counter >= 0 ? stats_sum(id, (enum stats_counter)counter) : active_of(id);
		put_sample(f, metric, "", kind, name, v);
	}
}

/* One of cluster_gauges as a family; none when no cluster has it. */
static void put_cluster_gauge(FILE *f, const struct cluster_gauge *g)
{
	char metric[96];
	metric_name(metric, sizeof(metric), STATS_CLUSTER, g->name);
	bool typed = false;
	for (uint32_t id = 0; id < stats_scope_count(); id++) {
		enum stats_kind k;
		const char *name;
		uint64_t v;
		stats_scope_info(id, &k, &name);
		if (k != STATS_CLUSTER || !gauge_value(g, id, &v))
			continue;
		if (!typed)
			fprintf(f, "# TYPE %s gauge\n", metric);
		typed = true;
		put_sample(f, metric, "", STATS_CLUSTER, name, v);
	}
}

/* The five response-class counters as Envoy's tag extraction renders them:
 * one family "..._rq_xx" with envoy_response_code_class="1".."5", which is
 * what Envoy's dashboards query. stat1 is the 1xx counter's name. */
static void put_class_family(FILE *f, enum stats_kind kind, const char *stat1)
{
	char stat[64], metric[96], label[48];
	size_t n = strlen(stat1);
	if (n < 3 || n >= sizeof(stat) || strcmp(stat1 + n - 3, "1xx") != 0)
		return;
	snprintf(stat, sizeof(stat), "%.*sxx", (int)(n - 3), stat1);
	metric_name(metric, sizeof(metric), kind, stat);
	fprintf(f, "# TYPE %s counter\n", metric);
	for (uint32_t id = 0; id < stats_scope_count(); id++) {
		enum stats_kind k;
		const char *name;
		stats_scope_info(id, &k, &name);
		if (k != kind)
			continue;
		for (int c = STAT_RQ_1XX; c <= STAT_RQ_5XX; c++) {
			snprintf(label, sizeof(label), "envoy_response_code_class=\"%d\",",
				 c - STAT_RQ_1XX + 1);
			put_sample(f, metric, label, kind, name, stats_sum(id, (enum stats_counter)c));
		}
	}
}

char *stats_export_prometheus(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	for (int kind = STATS_LISTENER; kind <= STATS_CLUSTER; kind++) {
		for (int c = 0; c < STAT__COUNT; c++) {
			const char *cname = stats_counter_name((enum stats_kind)kind, (enum stats_counter)c);
			if (!cname)
				continue;
			if (c == STAT_RQ_1XX)
				put_class_family(f, (enum stats_kind)kind, cname);
			else if (c < STAT_RQ_1XX || c > STAT_RQ_5XX)
				put_family(f, (enum stats_kind)kind, cname, "counter", c);
		}
		put_family(f, (enum stats_kind)kind, active_name[kind], "gauge", -1);
	}
	for (size_t g = 0; g < N_CLUSTER_GAUGES; g++)
		put_cluster_gauge(f, &cluster_gauges[g]);
	return finish(f, &buf);
}
