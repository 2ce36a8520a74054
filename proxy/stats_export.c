/* Stats rendering; see stats_export.h. */
#include "proxy/stats_export.h"

#include <stdio.h>
#include <stdlib.h>

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

static void put_family(FILE *f, enum stats_kind kind, const char *stat, const char *type,
		       int counter)
{
	/* Prometheus names allow no dots: "ssl.handshake" becomes
	 * "ssl_handshake", as Envoy renders it. */
	char metric[64];
	snprintf(metric, sizeof(metric), "%s", stat);
	for (char *p = metric; *p; p++)
		if (*p == '.')
			*p = '_';
	fprintf(f, "# TYPE envoy_%s_%s %s\n", kind_prefix[kind], metric, type);
	for (uint32_t id = 0; id < stats_scope_count(); id++) {
		enum stats_kind k;
		const char *name;
		stats_scope_info(id, &k, &name);
		if (k != kind)
			continue;
		uint64_t v = counter >= 0 ? stats_sum(id, (enum stats_counter)counter) : active_of(id);
		fprintf(f, "envoy_%s_%s{%s=\"", kind_prefix[kind], metric, kind_label[kind]);
		stats_export_label_value(f, name);
		fprintf(f, "\"} %llu\n", (unsigned long long)v);
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
			if (cname)
				put_family(f, (enum stats_kind)kind, cname, "counter", c);
		}
		put_family(f, (enum stats_kind)kind, active_name[kind], "gauge", -1);
	}
	return finish(f, &buf);
}
