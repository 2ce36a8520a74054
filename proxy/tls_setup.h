/* Turns the TLS settings of a snapshot into ready contexts: loads each
 * workload identity from its files (certs/ checks it whole) and builds the
 * SSL_CTX every filter chain and cluster with a transport_socket uses. */
#ifndef SKIFF_PROXY_TLS_SETUP_H
#define SKIFF_PROXY_TLS_SETUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proxy/config.h"

struct tls_ticket_keys;

/* Fills tls->ctx and tls->identity of every TLS chain and cluster of snap
 * (still unpublished). Server contexts share `tickets` for resumption (may
 * be NULL). Returns 0, or -EINVAL/-ENOMEM with err naming the listener or
 * cluster and what is wrong with its files. */
int tls_setup_snapshot(struct snapshot *snap, struct tls_ticket_keys *tickets, char *err,
		       size_t errlen);

/* Calls fn for every TLS configuration of snap (chains, then clusters). */
void tls_setup_each(const struct snapshot *snap, void (*fn)(const struct tls_config *tls, void *arg),
		    void *arg);

/* Seconds until the first certificate of snap expires (negative once
 * expired), or INT64_MAX when snap has none. */
int64_t tls_setup_first_expiry(const struct snapshot *snap, time_t now);

/* Renders the certificate expiry gauges of snap: Envoy's
 * server.days_until_first_cert_expiring, skiff's seconds beside it, and in
 * Prometheus form one skiff_certificate_expiry_seconds per certificate file.
 * Returns a malloc'd string (length in *len) the caller frees, or NULL. */
char *tls_setup_expiry_metrics(const struct snapshot *snap, time_t now, bool prometheus,
			       size_t *len);

#endif
