/* TLS contexts for a snapshot; see tls_setup.h. */
#include "proxy/tls_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "certs/tls_context.h"

static int load_identity(struct tls_config *tls, char *err, size_t errlen)
{
	/* Whoever assembled the snapshot loaded it already: PEM that came in
	 * an SDS Secret's bytes, which has no file to name here. */
	if (tls->identity)
		return 0;
	if (!tls->cert_chain_file || !tls->private_key_file || !tls->trusted_ca_file) {
		snprintf(err, errlen, "tls_certificates and validation_context.trusted_ca are required");
		return -EINVAL;
	}
	return tls_identity_load(tls->cert_chain_file, tls->private_key_file, tls->trusted_ca_file,
				 &tls->identity, err, errlen);
}

static struct tls_peer_match peer_match(const struct tls_config *tls)
{
	return (struct tls_peer_match){ .ids = (const char *const *)tls->match_sans,
					.n_ids = tls->n_match_sans };
}

static int min_version(const struct tls_config *tls)
{
	return tls->min_version == TLS1_2_VERSION ? TLS1_2_VERSION : 0;
}

static int setup_server(struct tls_config *tls, struct tls_ticket_keys *tickets, char *err,
			size_t errlen)
{
	if (!tls->require_client_certificate) {
		snprintf(err, errlen, "require_client_certificate: skiff terminates mutual TLS only; "
				      "set it to true");
		return -EINVAL;
	}
	int rc = load_identity(tls, err, errlen);
	if (rc)
		return rc;
	struct tls_server_opts opts = {
		.min_version = min_version(tls),
		.alpn = tls->n_alpn ? (const char *const *)tls->alpn : NULL,
		.n_alpn = tls->n_alpn,
		/* A client that offers other protocols is refused; one that offers
		 * none at all gets the bytes of tcp_proxy, which need no name. */
		.allow_no_alpn = true,
		.peer = peer_match(tls),
		.tickets = tickets,
	};
	tls->ctx = tls_server_ctx_new(tls->identity, &opts, err, errlen);
	return tls->ctx ? 0 : -EINVAL;
}

static int setup_client(struct tls_config *tls, char *err, size_t errlen)
{
	int rc = load_identity(tls, err, errlen);
	if (rc)
		return rc;
	struct tls_client_opts opts = {
		.min_version = min_version(tls),
		.alpn = tls->n_alpn ? (const char *const *)tls->alpn : NULL,
		.n_alpn = tls->n_alpn,
		.peer = peer_match(tls),
	};
	tls->ctx = tls_client_ctx_new(tls->identity, &opts, err, errlen);
	return tls->ctx ? 0 : -EINVAL;
}

int tls_setup_snapshot(struct snapshot *snap, struct tls_ticket_keys *tickets, char *err,
		       size_t errlen)
{
	char why[400];
	for (size_t i = 0; i < snap->n_listeners; i++) {
		struct listener *l = &snap->listeners[i];
		for (size_t j = 0; j < l->n_chains; j++) {
			if (!l->chains[j].tls)
				continue;
			int rc = setup_server(l->chains[j].tls, tickets, why, sizeof(why));
			if (rc) {
				snprintf(err, errlen, "listener %s: filter_chains[%zu]: %s", l->name, j, why);
				return rc;
			}
		}
	}
	for (size_t i = 0; i < snap->n_clusters; i++) {
		struct cluster *c = &snap->clusters[i];
		if (!c->tls)
			continue;
		int rc = setup_client(c->tls, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "cluster %s: transport_socket: %s", c->name, why);
			return rc;
		}
	}
	return 0;
}

void tls_setup_each(const struct snapshot *snap, void (*fn)(const struct tls_config *tls, void *arg),
		    void *arg)
{
	for (size_t i = 0; i < snap->n_listeners; i++)
		for (size_t j = 0; j < snap->listeners[i].n_chains; j++)
			if (snap->listeners[i].chains[j].tls)
				fn(snap->listeners[i].chains[j].tls, arg);
	for (size_t i = 0; i < snap->n_clusters; i++)
		if (snap->clusters[i].tls)
			fn(snap->clusters[i].tls, arg);
}

struct expiry {
	int64_t first;
	time_t now;
	FILE *f; /* NULL: only compute first */
};

static void note_expiry(const struct tls_config *tls, void *arg)
{
	struct expiry *e = arg;
	if (!tls->identity)
		return;
	int64_t left = (int64_t)tls->identity->not_after - (int64_t)e->now;
	if (left < e->first)
		e->first = left;
	if (!e->f)
		return;
	/* File names and SPIFFE ids hold no quote or backslash worth escaping
	 * beyond these two. */
	fputs("skiff_certificate_expiry_seconds{file=\"", e->f);
	for (const char *p = tls->cert_chain_file ? tls->cert_chain_file : ""; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', e->f);
		fputc(*p, e->f);
	}
	fprintf(e->f, "\",spiffe_id=\"%s\",serial=\"%s\"} %lld\n", tls->identity->spiffe_id,
		tls->identity->serial, (long long)left);
}

int64_t tls_setup_first_expiry(const struct snapshot *snap, time_t now)
{
	struct expiry e = { INT64_MAX, now, NULL };
	tls_setup_each(snap, note_expiry, &e);
	return e.first;
}

char *tls_setup_expiry_metrics(const struct snapshot *snap, time_t now, bool prometheus,
			       size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	struct expiry e = { INT64_MAX, now, prometheus ? f : NULL };
	if (prometheus)
		fputs("# TYPE skiff_certificate_expiry_seconds gauge\n", f);
	tls_setup_each(snap, note_expiry, &e);
	if (e.first != INT64_MAX) {
		long long days = e.first / 86400;
		if (prometheus)
			fprintf(f, "# TYPE envoy_server_days_until_first_cert_expiring gauge\n"
				   "envoy_server_days_until_first_cert_expiring %lld\n"
				   "# TYPE skiff_server_seconds_until_first_cert_expiring gauge\n"
				   "skiff_server_seconds_until_first_cert_expiring %lld\n",
				days, (long long)e.first);
		else
			fprintf(f, "server.days_until_first_cert_expiring: %lld\n"
				   "server.seconds_until_first_cert_expiring: %lld\n",
				days, (long long)e.first);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
