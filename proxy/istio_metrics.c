/* Istio TCP and HTTP metrics; see istio_metrics.h. */
#include "proxy/istio_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/stats_export.h"

#define BUCKETS 1024
#define KEY_MAX 1024

/* What every table entry starts with: the labels joined (for equality and
 * sorting), the table's list (read by the admin thread) and the worker's
 * hash chain. */
struct entry {
	char *key;
	struct entry *next;  /* the table's list, read by the admin thread */
	struct entry *hnext; /* hash chain, worker only */
};

struct istio_series {
	struct entry e; /* first: tables hold entries */
	bool inbound, mutual_tls;
	char *src, *dst, *svc, *flags;
	atomic_uint_least64_t opened, closed, sent, received;
};

/* Istio's buckets. Durations are whole milliseconds, so 0.5 holds the
 * requests that took under a millisecond. */
static const double duration_le[] = { 0.5,   1,     5,      10,     25,     50,     100,
				      250,   500,   1000,   2500,   5000,   10000,  30000,
				      60000, 3e5,   6e5,    1.8e6,  3.6e6 };
static const double size_le[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
#define N_DURATION (sizeof(duration_le) / sizeof(duration_le[0]))
#define N_SIZE (sizeof(size_le) / sizeof(size_le[0]))

/* One histogram's counts per bucket (not cumulative: the update bumps one
 * bucket; the export accumulates), the +Inf bucket last. The count is the
 * sum of the buckets. */
struct histogram_duration {
	atomic_uint_least64_t bucket[N_DURATION + 1], sum;
};
struct histogram_size {
	atomic_uint_least64_t bucket[N_SIZE + 1], sum;
};
/* put_histogram reads either as counters [0, n] then the sum at n + 1. */
_Static_assert(offsetof(struct histogram_duration, sum) ==
		       (N_DURATION + 1) * sizeof(atomic_uint_least64_t),
	       "the sum follows the buckets");
_Static_assert(offsetof(struct histogram_size, sum) == (N_SIZE + 1) * sizeof(atomic_uint_least64_t),
	       "the sum follows the buckets");

struct http_series {
	struct entry e; /* first: tables hold entries */
	bool inbound, mutual_tls;
	uint16_t code;
	char *src, *dst, *src_ns, *dst_ns, *svc, *proto, *grpc, *flags;
	atomic_uint_least64_t requests;
	struct histogram_duration duration;
	struct histogram_size request_bytes, response_bytes;
};

struct table {
	pthread_mutex_t lock; /* appends and the admin's reads of the list */
	struct entry *head, **tail;
	struct entry *buckets[BUCKETS];
	unsigned n;
	struct entry *overflow;
	atomic_uint_least64_t overflowed;
};

/* A worker's tables: TCP and HTTP label sets are bounded apart, so a flood
 * of one cannot starve the other. */
struct tables {
	struct table tcp, http;
};

static struct tables *tables;
static unsigned n_tables;

static void table_init(struct table *t)
{
	pthread_mutex_init(&t->lock, NULL);
	t->tail = &t->head;
}

int istio_metrics_init(unsigned n_workers)
{
	tables = calloc(n_workers, sizeof(*tables));
	if (!tables)
		return -ENOMEM;
	n_tables = n_workers;
	for (unsigned w = 0; w < n_workers; w++) {
		table_init(&tables[w].tcp);
		table_init(&tables[w].http);
	}
	return 0;
}

static void series_free(struct istio_series *s)
{
	free(s->e.key);
	free(s->src);
	free(s->dst);
	free(s->svc);
	free(s->flags);
	free(s);
}

static void http_series_free(struct http_series *s)
{
	free(s->e.key);
	free(s->src);
	free(s->dst);
	free(s->src_ns);
	free(s->dst_ns);
	free(s->svc);
	free(s->proto);
	free(s->grpc);
	free(s->flags);
	free(s);
}

void istio_metrics_shutdown(void)
{
	for (unsigned w = 0; w < n_tables; w++) {
		for (struct entry *e = tables[w].tcp.head, *next; e; e = next) {
			next = e->next;
			series_free((struct istio_series *)e);
		}
		for (struct entry *e = tables[w].http.head, *next; e; e = next) {
			next = e->next;
			http_series_free((struct http_series *)e);
		}
		pthread_mutex_destroy(&tables[w].tcp.lock);
		pthread_mutex_destroy(&tables[w].http.lock);
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

static struct entry *table_find(struct table *t, const char *key, uint64_t h)
{
	for (struct entry *e = t->buckets[h]; e; e = e->hnext)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void publish(struct table *t, struct entry *e)
{
	pthread_mutex_lock(&t->lock);
	*t->tail = e;
	t->tail = &e->next;
	pthread_mutex_unlock(&t->lock);
}

static void table_insert(struct table *t, struct entry *e, uint64_t h)
{
	e->hnext = t->buckets[h];
	t->buckets[h] = e;
	t->n++;
	publish(t, e);
}

/* Whether t is full; a full table counts the miss. A peer minting
 * identities (or a client minting paths that become response flags) must
 * not grow memory without end. */
static bool table_full(struct table *t)
{
	if (t->n < ISTIO_MAX_SERIES)
		return false;
	atomic_fetch_add_explicit(&t->overflowed, 1, memory_order_relaxed);
	return true;
}

static struct istio_series *series_new(const char *key, const struct istio_tcp_labels *l)
{
	struct istio_series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->inbound = l->inbound;
	s->mutual_tls = l->mutual_tls;
	s->e.key = strdup(key);
	s->src = strdup(or_unknown(l->source_principal));
	s->dst = strdup(or_unknown(l->destination_principal));
	s->svc = strdup(or_unknown(l->destination_service));
	s->flags = strdup(l->response_flags ? l->response_flags : "-");
	if (!s->e.key || !s->src || !s->dst || !s->svc || !s->flags) {
		series_free(s);
		return NULL;
	}
	return s;
}

struct istio_series *istio_series_get(unsigned w, const struct istio_tcp_labels *l)
{
	struct table *t = &tables[w].tcp;
	char key[KEY_MAX];
	snprintf(key, sizeof(key), "%d\x1f%s\x1f%s\x1f%s\x1f%d\x1f%s", l->inbound,
		 or_unknown(l->source_principal), or_unknown(l->destination_principal),
		 or_unknown(l->destination_service), l->mutual_tls,
		 l->response_flags ? l->response_flags : "-");
	uint64_t h = hash(key) % BUCKETS;
	struct entry *found = table_find(t, key, h);
	if (found)
		return (struct istio_series *)found;
	if (table_full(t)) {
		if (!t->overflow) {
			struct istio_tcp_labels o = { .source_principal = "overflow",
						      .destination_principal = "overflow",
						      .destination_service = "overflow" };
			struct istio_series *s = series_new("overflow", &o);
			if (s) {
				t->overflow = &s->e;
				publish(t, t->overflow);
			}
		}
		return (struct istio_series *)t->overflow;
	}
	struct istio_series *s = series_new(key, l);
	if (!s)
		return NULL;
	table_insert(t, &s->e, h);
	return s;
}

static void bump(atomic_uint_least64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static uint64_t load(const atomic_uint_least64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
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

/* ---- HTTP ------------------------------------------------------------------ */

/* The namespace of an Istio SPIFFE id, spiffe://<trust domain>/ns/<ns>/sa/<sa>:
 * a service account lives in its workload's namespace, so this is Istio's
 * *_workload_namespace when no peer metadata says otherwise. A malloc'd
 * string, "unknown" when id has another shape. */
static char *spiffe_namespace(const char *id)
{
	static const char scheme[] = "spiffe://";
	const char *p = id && strncmp(id, scheme, sizeof(scheme) - 1) == 0
				? strchr(id + sizeof(scheme) - 1, '/')
				: NULL;
	if (!p || strncmp(p, "/ns/", 4) != 0)
		return strdup("unknown");
	p += 4;
	size_t n = strcspn(p, "/");
	if (n == 0 || strncmp(p + n, "/sa/", 4) != 0)
		return strdup("unknown");
	return strndup(p, n);
}

static const char *http_proto(const struct istio_http_labels *l)
{
	return l->request_protocol && *l->request_protocol ? l->request_protocol : "http";
}

/* Appends s and a separator to key; false when it does not fit. */
static bool key_put(char *key, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 2 > KEY_MAX)
		return false;
	memcpy(key + *len, s, n);
	*len += n;
	key[(*len)++] = '\x1f';
	key[*len] = '\0';
	return true;
}

/* key is every label value joined: built by hand, as this runs per request. */
static bool http_key(char *key, const struct istio_http_labels *l)
{
	char code[8];
	snprintf(code, sizeof(code), "%u", l->response_code);
	size_t len = 0;
	key[0] = '\0';
	return key_put(key, &len, l->inbound ? "1" : "0") &&
	       key_put(key, &len, l->mutual_tls ? "1" : "0") &&
	       key_put(key, &len, or_unknown(l->source_principal)) &&
	       key_put(key, &len, or_unknown(l->destination_principal)) &&
	       key_put(key, &len, or_unknown(l->destination_service)) &&
	       key_put(key, &len, http_proto(l)) && key_put(key, &len, code) &&
	       key_put(key, &len, l->grpc_status ? l->grpc_status : "") &&
	       key_put(key, &len, l->response_flags ? l->response_flags : "-");
}

static struct http_series *http_series_new(const char *key, const struct istio_http_labels *l)
{
	struct http_series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->inbound = l->inbound;
	s->mutual_tls = l->mutual_tls;
	s->code = l->response_code;
	s->e.key = strdup(key);
	s->src = strdup(or_unknown(l->source_principal));
	s->dst = strdup(or_unknown(l->destination_principal));
	s->src_ns = spiffe_namespace(l->source_principal);
	s->dst_ns = spiffe_namespace(l->destination_principal);
	s->svc = strdup(or_unknown(l->destination_service));
	s->proto = strdup(http_proto(l));
	s->grpc = strdup(l->grpc_status ? l->grpc_status : "");
	s->flags = strdup(l->response_flags ? l->response_flags : "-");
	if (!s->e.key || !s->src || !s->dst || !s->src_ns || !s->dst_ns || !s->svc || !s->proto ||
	    !s->grpc || !s->flags) {
		http_series_free(s);
		return NULL;
	}
	return s;
}

static struct http_series *http_overflow(struct table *t)
{
	if (!t->overflow) {
		struct istio_http_labels o = { .source_principal = "overflow",
					       .destination_principal = "overflow",
					       .destination_service = "overflow" };
		struct http_series *s = http_series_new("overflow", &o);
		if (s) {
			t->overflow = &s->e;
			publish(t, t->overflow);
		}
	}
	return (struct http_series *)t->overflow;
}

static struct http_series *http_series_get(unsigned w, const struct istio_http_labels *l)
{
	struct table *t = &tables[w].http;
	char key[KEY_MAX];
	if (!http_key(key, l)) {
		/* Labels this long are not a dashboard's: count them with the
		 * overflow rather than cut keys that would then collide. */
		atomic_fetch_add_explicit(&t->overflowed, 1, memory_order_relaxed);
		return http_overflow(t);
	}
	uint64_t h = hash(key) % BUCKETS;
	struct entry *found = table_find(t, key, h);
	if (found)
		return (struct http_series *)found;
	if (table_full(t))
		return http_overflow(t);
	struct http_series *s = http_series_new(key, l);
	if (!s)
		return NULL;
	table_insert(t, &s->e, h);
	return s;
}

/* The bucket of v: the first whose bound holds it, else +Inf (index n). */
static size_t bucket_of(const double *le, size_t n, uint64_t v)
{
	size_t i = 0;
	while (i < n && (double)v > le[i])
		i++;
	return i;
}

void istio_request_done(unsigned w, const struct istio_http_labels *labels, uint64_t duration_ms,
			uint64_t request_bytes, uint64_t response_bytes)
{
	struct http_series *s = http_series_get(w, labels);
	if (!s)
		return;
	bump(&s->requests, 1);
	bump(&s->duration.bucket[bucket_of(duration_le, N_DURATION, duration_ms)], 1);
	bump(&s->duration.sum, duration_ms);
	bump(&s->request_bytes.bucket[bucket_of(size_le, N_SIZE, request_bytes)], 1);
	bump(&s->request_bytes.sum, request_bytes);
	bump(&s->response_bytes.bucket[bucket_of(size_le, N_SIZE, response_bytes)], 1);
	bump(&s->response_bytes.sum, response_bytes);
}

/* ---- Prometheus ------------------------------------------------------------ */

static int by_key(const void *a, const void *b)
{
	return strcmp((*(struct entry *const *)a)->key, (*(struct entry *const *)b)->key);
}

/* Every entry of one kind of table (offset of the table in struct tables),
 * over all workers, sorted by key so equal label sets are adjacent. Adds the
 * tables' overflow counts to *overflowed. NULL when out of memory. */
static struct entry **collect(size_t table_offset, size_t *n_out, uint64_t *overflowed)
{
	size_t n = 0, cap = 64;
	struct entry **all = malloc(cap * sizeof(*all));
	for (unsigned w = 0; all && w < n_tables; w++) {
		struct table *t = (struct table *)((char *)&tables[w] + table_offset);
		pthread_mutex_lock(&t->lock);
		for (struct entry *e = t->head; e && all; e = e->next) {
			if (n == cap) {
				struct entry **grown = realloc(all, (cap *= 2) * sizeof(*all));
				if (!grown) {
					free(all);
					all = NULL;
					break;
				}
				all = grown;
			}
			all[n++] = e;
		}
		pthread_mutex_unlock(&t->lock);
		*overflowed += load(&t->overflowed);
	}
	if (all)
		qsort(all, n, sizeof(*all), by_key);
	*n_out = n;
	return all;
}

/* The end of the run of entries equal to all[i]. */
static size_t run_end(struct entry **all, size_t n, size_t i)
{
	size_t j = i;
	while (j < n && strcmp(all[j]->key, all[i]->key) == 0)
		j++;
	return j;
}

static void put_tcp_labels(FILE *f, const struct istio_series *s)
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
} tcp_metrics[] = {
	{ "istio_tcp_connections_opened_total", offsetof(struct istio_series, opened) },
	{ "istio_tcp_connections_closed_total", offsetof(struct istio_series, closed) },
	{ "istio_tcp_sent_bytes_total", offsetof(struct istio_series, sent) },
	{ "istio_tcp_received_bytes_total", offsetof(struct istio_series, received) },
};

static uint64_t value(const void *s, size_t offset)
{
	return load((const atomic_uint_least64_t *)((const char *)s + offset));
}

static void put_tcp(FILE *f, struct entry **all, size_t n)
{
	for (size_t m = 0; m < sizeof(tcp_metrics) / sizeof(tcp_metrics[0]); m++) {
		fprintf(f, "# TYPE %s counter\n", tcp_metrics[m].name);
		for (size_t i = 0, j; i < n; i = j) {
			uint64_t sum = 0;
			j = run_end(all, n, i);
			for (size_t k = i; k < j; k++)
				sum += value(all[k], tcp_metrics[m].offset);
			fputs(tcp_metrics[m].name, f);
			put_tcp_labels(f, (struct istio_series *)all[i]);
			fprintf(f, " %llu\n", (unsigned long long)sum);
		}
	}
}

/* Istio's label set of an HTTP series, without the closing brace (a
 * histogram bucket adds its le). Labels skiff has no source for read
 * "unknown", as Istio's own proxy writes them without peer metadata. */
static void put_http_labels(FILE *f, const struct http_series *s)
{
	fprintf(f, "{reporter=\"%s\",source_workload=\"unknown\",source_workload_namespace=\"",
		s->inbound ? "destination" : "source");
	stats_export_label_value(f, s->src_ns);
	fputs("\",source_principal=\"", f);
	stats_export_label_value(f, s->src);
	fputs("\",source_app=\"unknown\",source_version=\"unknown\",source_cluster=\"unknown\","
	      "destination_workload=\"unknown\",destination_workload_namespace=\"",
	      f);
	stats_export_label_value(f, s->dst_ns);
	fputs("\",destination_principal=\"", f);
	stats_export_label_value(f, s->dst);
	fputs("\",destination_app=\"unknown\",destination_version=\"unknown\","
	      "destination_service=\"",
	      f);
	stats_export_label_value(f, s->svc);
	fputs("\",destination_service_name=\"", f);
	stats_export_label_value(f, s->svc);
	fputs("\",destination_service_namespace=\"unknown\",destination_cluster=\"unknown\","
	      "request_protocol=\"",
	      f);
	stats_export_label_value(f, s->proto);
	fprintf(f, "\",response_code=\"%u\",grpc_response_status=\"", s->code);
	stats_export_label_value(f, s->grpc);
	fputs("\",response_flags=\"", f);
	stats_export_label_value(f, s->flags);
	fprintf(f, "\",connection_security_policy=\"%s\"",
		s->mutual_tls ? "mutual_tls" : "none");
}

/* A bucket bound as Prometheus reads it: "0.5", "1", "3600000". */
static void put_le(FILE *f, double le)
{
	if (le == (double)(uint64_t)le)
		fprintf(f, "%.0f", le);
	else
		fprintf(f, "%g", le);
}

static const struct {
	const char *name;
	size_t offset;          /* of the histogram in struct http_series */
	const double *le;
	size_t n_le;
} http_histograms[] = {
	{ "istio_request_duration_milliseconds", offsetof(struct http_series, duration),
	  duration_le, N_DURATION },
	{ "istio_request_bytes", offsetof(struct http_series, request_bytes), size_le, N_SIZE },
	{ "istio_response_bytes", offsetof(struct http_series, response_bytes), size_le, N_SIZE },
};

/* One histogram family: per label set, cumulative buckets up to +Inf, then
 * _sum and _count, summed over the workers' equal series. Both histogram
 * structs are a bucket array followed by the sum, so one reader serves. */
static void put_histogram(FILE *f, size_t h, struct entry **all, size_t n)
{
	_Static_assert(N_DURATION >= N_SIZE, "buckets[] below holds the longest histogram");
	const char *name = http_histograms[h].name;
	size_t n_le = http_histograms[h].n_le;
	fprintf(f, "# TYPE %s histogram\n", name);
	for (size_t i = 0, j; i < n; i = j) {
		uint64_t buckets[N_DURATION + 1] = { 0 }, sum = 0;
		j = run_end(all, n, i);
		for (size_t k = i; k < j; k++) {
			const atomic_uint_least64_t *c =
				(const atomic_uint_least64_t *)((const char *)all[k] +
								http_histograms[h].offset);
			for (size_t b = 0; b <= n_le; b++)
				buckets[b] += load(&c[b]);
			sum += load(&c[n_le + 1]);
		}
		const struct http_series *s = (const struct http_series *)all[i];
		uint64_t cumulative = 0;
		for (size_t b = 0; b <= n_le; b++) {
			cumulative += buckets[b];
			fprintf(f, "%s_bucket", name);
			put_http_labels(f, s);
			fputs(",le=\"", f);
			if (b < n_le)
				put_le(f, http_histograms[h].le[b]);
			else
				fputs("+Inf", f);
			fprintf(f, "\"} %llu\n", (unsigned long long)cumulative);
		}
		fprintf(f, "%s_sum", name);
		put_http_labels(f, s);
		fprintf(f, "} %llu\n%s_count", (unsigned long long)sum, name);
		put_http_labels(f, s);
		fprintf(f, "} %llu\n", (unsigned long long)cumulative);
	}
}

static void put_http(FILE *f, struct entry **all, size_t n)
{
	fputs("# TYPE istio_requests_total counter\n", f);
	for (size_t i = 0, j; i < n; i = j) {
		uint64_t sum = 0;
		j = run_end(all, n, i);
		for (size_t k = i; k < j; k++)
			sum += load(&((struct http_series *)all[k])->requests);
		fputs("istio_requests_total", f);
		put_http_labels(f, (struct http_series *)all[i]);
		fprintf(f, "} %llu\n", (unsigned long long)sum);
	}
	for (size_t h = 0; h < sizeof(http_histograms) / sizeof(http_histograms[0]); h++)
		put_histogram(f, h, all, n);
}

char *istio_metrics_prometheus(size_t *len)
{
	size_t n_tcp = 0, n_http = 0;
	uint64_t overflowed = 0;
	struct entry **tcp = collect(offsetof(struct tables, tcp), &n_tcp, &overflowed);
	struct entry **http = collect(offsetof(struct tables, http), &n_http, &overflowed);
	char *buf = NULL;
	FILE *f = tcp && http ? open_memstream(&buf, len) : NULL;
	if (!f) {
		free(tcp);
		free(http);
		return NULL;
	}
	put_tcp(f, tcp, n_tcp);
	put_http(f, http, n_http);
	fprintf(f, "# TYPE skiff_istio_label_overflow_total counter\n"
		   "skiff_istio_label_overflow_total %llu\n", (unsigned long long)overflowed);
	free(tcp);
	free(http);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
