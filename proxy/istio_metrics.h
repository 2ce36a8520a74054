/* Istio's standard TCP metrics (istio_tcp_connections_opened_total,
 * istio_tcp_connections_closed_total, istio_tcp_sent_bytes_total,
 * istio_tcp_received_bytes_total) with Istio's labels, so the dashboards
 * built for Istio's sidecars work unchanged.
 *
 * Each worker keeps its own label sets, appended under a mutex the admin
 * thread also takes to read (rare: a new peer, a new destination), and
 * bumps their counters with relaxed atomics (every flow). Entries never move
 * once published, so a worker keeps pointers to them. */
#ifndef SKIFF_PROXY_ISTIO_METRICS_H
#define SKIFF_PROXY_ISTIO_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Label sets per worker; past this, flows count under one set whose labels
 * say "overflow", and skiff_istio_label_overflow_total counts them. */
#define ISTIO_MAX_SERIES 4096

/* Istio's labels of one TCP flow. Strings are borrowed for the call. */
struct istio_tcp_labels {
	bool inbound;                  /* reporter: destination, else source */
	const char *source_principal;  /* SPIFFE id or NULL ("unknown") */
	const char *destination_principal;
	const char *destination_service; /* the cluster */
	bool mutual_tls;               /* connection_security_policy */
	const char *response_flags;    /* Envoy's, "-" when none */
};

struct istio_series;

/* Sets up n_workers tables. Returns 0 or -ENOMEM. */
int istio_metrics_init(unsigned n_workers);
void istio_metrics_shutdown(void);

/* Worker w's series for labels, created on first use (NULL only when out of
 * memory). */
struct istio_series *istio_series_get(unsigned w, const struct istio_tcp_labels *labels);

/* Owner-only updates of a series' counters. */
void istio_tcp_opened(struct istio_series *s);
void istio_tcp_closed(struct istio_series *s, uint64_t sent, uint64_t received);

/* Istio's labels of one HTTP request (istio_requests_total,
 * istio_request_duration_milliseconds, istio_request_bytes,
 * istio_response_bytes). Strings are borrowed for the call. */
struct istio_http_labels {
	bool inbound;                  /* reporter: destination, else source */
	const char *source_principal;  /* SPIFFE id or NULL ("unknown") */
	const char *destination_principal;
	const char *destination_service; /* the cluster, or NULL ("unknown") */
	bool mutual_tls;               /* connection_security_policy */
	const char *request_protocol;  /* "http" or "grpc" */
	uint16_t response_code;        /* 0 when no response was sent */
	const char *grpc_status;       /* grpc_response_status; NULL: "" */
	const char *response_flags;    /* Envoy's, "-" when none */
};

/* Counts one finished request on worker w: istio_requests_total, the
 * duration histogram (Istio's buckets: 0.5 1 5 10 25 50 100 250 500 1000
 * 2500 5000 10000 30000 60000 300000 600000 1800000 3600000 ms) and the two
 * size histograms (1 10 100 1000 ... 1e9 bytes). Bounded like the TCP
 * series (ISTIO_MAX_SERIES, overflow set). */
void istio_request_done(unsigned w, const struct istio_http_labels *labels, uint64_t duration_ms,
			uint64_t request_bytes, uint64_t response_bytes);

/* Prometheus text for every series, summed over workers with equal labels.
 * Returns a malloc'd string (length in *len) or NULL. */
char *istio_metrics_prometheus(size_t *len);

#endif
