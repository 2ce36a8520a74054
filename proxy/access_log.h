/* Access log: one JSON line per closed TCP flow, with Envoy's field names
 * (and one per HTTP request, access_log_http).
 *
 * Each worker buffers its lines per file and writes whole lines only, at
 * most ACCESS_LOG_BUF bytes (under PIPE_BUF) per write(2) with O_APPEND, so
 * lines of different workers never interleave. */
#ifndef SKIFF_PROXY_ACCESS_LOG_H
#define SKIFF_PROXY_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

#define ACCESS_LOG_BUF 4000u
#define ACCESS_LOG_MAX_FILES 16u

struct access_log_file {
	char *path;
	int fd;
	size_t len;
	char buf[ACCESS_LOG_BUF];
};

/* A worker's open log files. */
struct access_log_set {
	struct access_log_file *files[ACCESS_LOG_MAX_FILES];
	unsigned n_files;
	uint64_t dropped; /* lines lost: file could not be opened or written */
};

struct tcp_flow_record {
	uint64_t connection_id;
	uint64_t start_unix_ms;
	uint64_t duration_ms;
	uint64_t bytes_received; /* from downstream */
	uint64_t bytes_sent;     /* to downstream */
	const char *listener;
	const char *cluster;
	const struct sock_addr *downstream_remote;
	const struct sock_addr *downstream_local;
	const struct sock_addr *original_dst;  /* NULL if none */
	const struct sock_addr *upstream_host; /* NULL if never chosen */
	const char *peer_principal;            /* downstream SPIFFE id, NULL if none */
	const char *transport_failure;         /* TLS verdict when a handshake failed */
	const char *response_flags;            /* Envoy's, "-" when none */
	const char *termination;               /* skiff's reason, see tcp_proxy.h */
};

/* One HTTP request, as Envoy's default JSON fields name it. */
struct http_request_record {
	uint64_t connection_id;
	uint64_t start_unix_ms;
	uint64_t duration_ms;
	uint64_t upstream_service_time_ms; /* UINT64_MAX: no upstream answered */
	uint64_t bytes_received;           /* request body bytes */
	uint64_t bytes_sent;               /* response body bytes */
	const char *method;
	const char *path;                  /* as received (before rewrites) */
	const char *authority;
	const char *protocol;              /* "HTTP/1.1", "HTTP/1.0", "HTTP/2" */
	const char *user_agent;            /* NULL if none */
	const char *request_id;            /* x-request-id */
	const char *x_forwarded_for;       /* NULL if none */
	uint16_t response_code;            /* 0: none sent */
	const char *response_flags;        /* Envoy's, "-" when none */
	const char *response_code_details; /* e.g. "via_upstream", "route_not_found" */
	const char *listener;
	const char *route_name;            /* NULL if none matched */
	const char *cluster;               /* upstream_cluster, NULL if none */
	const struct sock_addr *upstream_host; /* NULL if none */
	const struct sock_addr *downstream_remote;
	const struct sock_addr *downstream_local;
	const char *peer_principal;        /* downstream SPIFFE id (mTLS), NULL if none */
	const char *upstream_peer_principal; /* upstream SPIFFE id (mTLS), NULL if none */
	const char *upstream_transport_failure; /* NULL if none */
	uint32_t attempts;                 /* upstream tries (1 + retries) */
};

/* Formats rec as a JSON line into f's buffer, flushing first if full. Values
 * rec does not have (NULL, UINT64_MAX service time) are JSON null, as in
 * Envoy's JSON format; strings are cut to fixed caps so that every line fits
 * one write. NULL f: counted in set->dropped. */
void access_log_http(struct access_log_set *set, struct access_log_file *f,
		     const struct http_request_record *rec);

/* The set's file for path, opened (O_APPEND|O_CREAT) on first use; NULL if
 * it cannot be opened (counted in dropped when written to). */
struct access_log_file *access_log_open(struct access_log_set *set, const char *path);

/* Formats rec as a JSON line into f's buffer, flushing first if full. */
void access_log_tcp(struct access_log_set *set, struct access_log_file *f,
		    const struct tcp_flow_record *rec);

/* Whether any file of the set has lines not yet written. */
bool access_log_pending(const struct access_log_set *set);

/* Writes out what every file of the set has buffered. */
void access_log_flush(struct access_log_set *set);

/* Flushes and closes every file. */
void access_log_close(struct access_log_set *set);

#endif
