/* Istio TCP metrics; see istio_metrics.h. */
#include "proxy/istio_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/stats_export.h"

#define BUCKETS 1024

struct istio_series {
	char *key; /* the labels joined, for equality and sorting */
	bool inbound, mutual_tls;
	char *src, *dst, *svc, *flags;
	atomic_uint_least64_t opened, closed, sent, received;
	struct istio_series *next;  /* the table's list, read by the admin thread */
	struct istio_series *hnext; /* hash chain, worker only */
};

struct table {
	pthread_mutex_t lock; /* appends and the admin's reads of the list */
	struct istio_series *head, **tail;
	struct istio_series *buckets[BUCKETS];
	unsigned n;
	struct istio_series *overflow;
	atomic_uint_least64_t overflowed;
};

static struct table *tables;
static unsigned n_tables;

int istio_metrics_init(unsigned n_workers)
{
	tables = calloc(n_workers, sizeof(*tables));
	if (!tables)
		return -ENOMEM;
	n_tables = n_workers;
	for (unsigned w = 0; w < n_workers; w++) {
		pthread_mutex_init(&tables[w].lock, NULL);
		tables[w].tail = &tables[w].head;
	}
	return 0;
}

static void series_free(struct istio_series *s)
{
	free(s->key);
	free(s->src);
	free(s->dst);
	free(s->svc);
	free(s->flags);
	free(s);
}

void istio_metrics_shutdown(void)
{
	for (unsigned w = 0; w < n_tables; w++) {
		for (struct istio_series *s = tables[w].head, *next; s; s = next) {
			next = s->next;
			series_free(s);
		}
		pthread_mutex_destroy(&tables[w].lock);
	}
	free(tables);
	tables = NULL;
	n_tables = 0;
}

static const char *or_unknown(const char *s)
{
	return s && *s ? s : "unknown";
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct istio_series *series_new(const char *key, const struct istio_tcp_labels *l)
{
	struct istio_series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->inbound = l->inbound;
	s->mutual_tls = l->mutual_tls;
	s->key = strdup(key);
	s->src = strdup(or_unknown(l->source_principal));
	s->dst = strdup(or_unknown(l->destination_principal));
	s->svc = strdup(or_unknown(l->destination_service));
	s->flags = strdup(l->response_flags ? l->response_flags : "-");
	if (!s->key || !s->src || !s->dst || !s->svc || !s->flags) {
		series_free(s);
		return NULL;
	}
	return s;
}

static void publish(struct table *t, struct istio_series *s)
{
	pthread_mutex_lock(&t->lock);
	*t->tail = s;
	t->tail = &s->next;
	pthread_mutex_unlock(&t->lock);
}

struct istio_series *istio_series_get(unsigned w, const struct istio_tcp_labels *l)
{
	struct table *t = &tables[w];
	char key[1024];
	snprintf(key, sizeof(key), "%d\x1f%s\x1f%s\x1f%s\x1f%d\x1f%s", l->inbound,
		 or_unknown(l->source_principal), or_unknown(l->destination_principal),
		 or_unknown(l->destination_service), l->mutual_tls,
		 l->response_flags ? l->response_flags : "-");
	uint64_t h = hash(key) % BUCKETS;
	for (struct istio_series *s = t->buckets[h]; s; s = s->hnext)
		if (strcmp(s->key, key) == 0)
			return s;
	if (t->n >= ISTIO_MAX_SERIES) {
		/* A peer minting identities must not grow memory without end. */
		atomic_fetch_add_explicit(&t->overflowed, 1, memory_order_relaxed);
		if (!t->overflow) {
			struct istio_tcp_labels o = { .source_principal = "overflow",
						      .destination_principal = "overflow",
						      .destination_service = "overflow" };
			if ((t->overflow = series_new("overflow", &o)))
				publish(t, t->overflow);
		}
		return t->overflow;
	}
	struct istio_series *s = series_new(key, l);
	if (!s)
		return NULL;
	s->hnext = t->buckets[h];
	t->buckets[h] = s;
	t->n++;
	publish(t, s);
	return s;
}

static void bump(atomic_uint_least64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

void istio_tcp_opened(struct istio_series *s)
{
	if (s)
		bump(&s->opened, 1);
}

void istio_tcp_closed(struct istio_series *s, uint64_t sent, uint64_t received)
{
	if (!s)
		return;
	bump(&s->closed, 1);
	bump(&s->sent, sent);
	bump(&s->received, received);
}

static int by_key(const void *a, const void *b)
{
	return strcmp((*(struct istio_series *const *)a)->key,
		      (*(struct istio_series *const *)b)->key);
}

static void put_labels(FILE *f, const struct istio_series *s)
{
	fprintf(f, "{reporter=\"%s\",source_workload=\"unknown\",source_principal=\"",
		s->inbound ? "destination" : "source");
	stats_export_label_value(f, s->src);
	fputs("\",destination_workload=\"unknown\",destination_principal=\"", f);
	stats_export_label_value(f, s->dst);
	fputs("\",destination_service=\"", f);
	stats_export_label_value(f, s->svc);
	fputs("\",destination_service_name=\"", f);
	stats_export_label_value(f, s->svc);
	fprintf(f, "\",request_protocol=\"tcp\",response_flags=\"%s\","
		   "connection_security_policy=\"%s\"}",
		s->flags, s->mutual_tls ? "mutual_tls" : "none");
}

static const struct {
	const char *name;
	size_t offset;
} metrics[] = {
	{ "istio_tcp_connections_opened_total", offsetof(struct istio_series, opened) },
	{ "istio_tcp_connections_closed_total", offsetof(struct istio_series, closed) },
	{ "istio_tcp_sent_bytes_total", offsetof(struct istio_series, sent) },
	{ "istio_tcp_received_bytes_total", offsetof(struct istio_series, received) },
};

static uint64_t value(const struct istio_series *s, size_t offset)
{
	return atomic_load_explicit((atomic_uint_least64_t *)((char *)s + offset),
				    memory_order_relaxed);
}

char *istio_metrics_prometheus(size_t *len)
{
	size_t n = 0, cap = 64;
	struct istio_series **all = malloc(cap * sizeof(*all));
	uint64_t overflowed = 0;
	for (unsigned w = 0; all && w < n_tables; w++) {
		pthread_mutex_lock(&tables[w].lock);
		for (struct istio_series *s = tables[w].head; s && all; s = s->next) {
			if (n == cap) {
				struct istio_series **grown = realloc(all, (cap *= 2) * sizeof(*all));
				if (!grown) {
					free(all);
					all = NULL;
					break;
				}
				all = grown;
			}
			all[n++] = s;
		}
		pthread_mutex_unlock(&tables[w].lock);
		overflowed += atomic_load_explicit(&tables[w].overflowed, memory_order_relaxed);
	}
	char *buf = NULL;
	FILE *f = all ? open_memstream(&buf, len) : NULL;
	if (!f) {
		free(all);
		return NULL;
	}
	qsort(all, n, sizeof(*all), by_key);
	for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
		fprintf(f, "# TYPE %s counter\n", metrics[m].name);
		for (size_t i = 0; i < n;) {
			uint64_t sum = 0;
			size_t j = i;
			for (; j < n && strcmp(all[j]->key, all[i]->key) == 0; j++)
				sum += value(all[j], metrics[m].offset);
			fputs(metrics[m].name, f);
			put_labels(f, all[i]);
			fprintf(f, " %llu\n", (unsigned long long)sum);
			i = j;
		}
	}
	fprintf(f, "# TYPE skiff_istio_label_overflow_total counter\n"
		   "skiff_istio_label_overflow_total %llu\n", (unsigned long long)overflowed);
	free(all);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
