/* Listeners and clusters for the node's pods; see node_config.h. */
#include "node/node_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/tls_context.h"
#include "proxy/http_config.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"

#define OUTBOUND_PORT 15001
#define INBOUND_PORT 15006
#define CONNECT_TIMEOUT_MS 10000u
#define IDLE_TIMEOUT_MS 3600000u /* Envoy's tcp_proxy default */
#define TLS_1_3 0x0304
#define PASSTHROUGH_SOURCE "127.0.0.6" /* never captured again (bpf/inbound.bpf.c) */

__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The pod's identity, as a server (client certificate required) or a
 * client. NULL when out of memory. */
static struct tls_config *pod_tls(const struct pod *p, bool server)
{
	struct tls_config *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cert_chain_file = strdup(p->cert);
	t->private_key_file = strdup(p->key);
	t->trusted_ca_file = strdup(p->ca);
	t->alpn = calloc(1, sizeof(*t->alpn));
	if (t->alpn)
		t->n_alpn = (t->alpn[0] = strdup(TLS_ALPN_MESH_TCP)) != NULL;
	t->min_version = TLS_1_3;
	t->require_client_certificate = server;
	return t;
}

static bool tls_complete(const struct tls_config *t)
{
	return t && t->cert_chain_file && t->private_key_file && t->trusted_ca_file && t->n_alpn;
}

static int add_cluster(struct snapshot *snap, const struct pod *p, bool outbound)
{
	struct cluster c;
	memset(&c, 0, sizeof(c));
	cluster_http_defaults(&c);
	c.name = fmt("pod|%s/%s|%s", p->namespace, p->name, outbound ? "outbound" : "inbound");
	c.type = CLUSTER_ORIGINAL_DST;
	c.lb_policy = LB_CLUSTER_PROVIDED;
	c.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	c.netns = strdup(p->netns);
	bool ok = c.name && c.netns;
	if (outbound) {
		c.tls = pod_tls(p, false);
		ok = ok && tls_complete(c.tls);
	} else {
		c.has_source_address = true;
		sock_addr_parse(PASSTHROUGH_SOURCE, 0, &c.source_address);
	}
	if (!ok || snapshot_add_cluster(snap, &c) < 0) {
		snapshot_cluster_clear(&c);
		return -ENOMEM;
	}
	return 0;
}

static int add_listener(struct snapshot *snap, const struct pod *p, bool outbound,
			const char *access_log)
{
	struct listener l;
	memset(&l, 0, sizeof(l));
	const char *dir = outbound ? "outbound" : "inbound";
	l.name = fmt("pod|%s/%s|%s", p->namespace, p->name,
		     outbound ? "virtualOutbound" : "virtualInbound");
	l.netns = strdup(p->netns);
	l.use_original_dst = true;
	l.direction = outbound ? DIRECTION_OUTBOUND : DIRECTION_INBOUND;
	/* Outbound on loopback: only the capture's rewrite reaches it. Inbound
	 * on the pod's IP when known, which also names its statistics after
	 * the pod ("10.244.1.7_15006") rather than one "0.0.0.0_15006" for
	 * every pod of the node. */
	if (outbound)
		sock_addr_parse("127.0.0.1", OUTBOUND_PORT, &l.addr);
	else if (!p->ip || sock_addr_parse(p->ip, INBOUND_PORT, &l.addr) < 0)
		sock_addr_parse("0.0.0.0", INBOUND_PORT, &l.addr);
	l.n_chains = 1;
	struct filter_chain *fc = &l.chains[0];
	fc->name = strdup(outbound ? "outbound" : "inbound-mtls");
	fc->match = CHAIN_MATCH_ANY;
	fc->tcp_proxy.stat_prefix = strdup(dir);
	fc->tcp_proxy.cluster_name = fmt("pod|%s/%s|%s", p->namespace, p->name, dir);
	fc->tcp_proxy.idle_timeout_ms = IDLE_TIMEOUT_MS;
	fc->tcp_proxy.access_log.path = access_log ? strdup(access_log) : NULL;
	bool ok = l.name && l.netns && fc->name && fc->tcp_proxy.stat_prefix &&
		  fc->tcp_proxy.cluster_name && (!access_log || fc->tcp_proxy.access_log.path);
	if (!outbound) {
		fc->tls = pod_tls(p, true);
		ok = ok && tls_complete(fc->tls);
	}
	if (!ok || snapshot_add_listener(snap, &l) < 0) {
		snapshot_listener_clear(&l);
		return -ENOMEM;
	}
	return 0;
}

int node_config_add(struct snapshot *snap, const struct pod_registry *reg, char *err, size_t errlen)
{
	const char *log = pod_registry_opts(reg)->access_log;
	for (size_t i = 0; i < pod_registry_count(reg); i++) {
		const struct pod *p = pod_registry_pod(reg, i);
		if (add_cluster(snap, p, true) < 0 || add_cluster(snap, p, false) < 0 ||
		    add_listener(snap, p, true, log) < 0 || add_listener(snap, p, false, log) < 0) {
			snprintf(err, errlen, "pod %s/%s: out of memory", p->namespace, p->name);
			return -ENOMEM;
		}
	}
	return 0;
}

void node_config_drop_host_listeners(struct snapshot *snap)
{
	size_t kept = 0;
	for (size_t i = 0; i < snap->n_listeners; i++) {
		if (snap->listeners[i].netns)
			snap->listeners[kept++] = snap->listeners[i];
		else
			snapshot_listener_clear(&snap->listeners[i]);
	}
	snap->n_listeners = kept;
}
