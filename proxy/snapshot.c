/* Snapshot ownership and publication; see snapshot.h for the scheme. */
#include "proxy/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "certs/tls_context.h"
#include "proxy/breakers.h"
#include "proxy/host_health.h"
#include "proxy/lb.h"
#include "proxy/log.h"
#include "proxy/router.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"

/* Workers report the newest version they hold a reference on; a retired
 * snapshot is freed once every worker reports a version past it. */
#define MAX_WORKERS 256
#define MAX_RETIRED 64

static _Atomic(struct snapshot *) current;
static atomic_uint_least64_t worker_seen[MAX_WORKERS];
static unsigned n_workers;
static uint64_t next_version = 1;

struct retired {
	struct snapshot *snap;
	uint64_t superseded_by; /* version that replaced it */
};
static struct retired retired[MAX_RETIRED];
static unsigned n_retired;

struct snapshot *snapshot_new(void)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));
	if (snap)
		atomic_init(&snap->refs, 1);
	return snap;
}

void snapshot_ref(struct snapshot *snap)
{
	atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void tls_config_free(struct tls_config *tls)
{
	if (!tls)
		return;
	free(tls->cert_chain_file);
	free(tls->private_key_file);
	free(tls->trusted_ca_file);
	free_strings(tls->match_sans, tls->n_match_sans);
	free_strings(tls->alpn, tls->n_alpn);
	free(tls->sni);
	SSL_CTX_free(tls->ctx);
	tls_identity_unref(tls->identity);
	free(tls);
}

static void rbac_config_free(struct rbac_config *rbac)
{
	if (!rbac)
		return;
	for (size_t i = 0; i < rbac->n_policies; i++) {
		struct rbac_policy *p = &rbac->policies[i];
		free(p->name);
		free(p->permissions);
		for (size_t j = 0; j < p->n_principals; j++)
			free(p->principals[j].principal_name);
		free(p->principals);
	}
	free(rbac->policies);
	free(rbac->stat_prefix);
	free(rbac);
}

void snapshot_http_config_free(struct http_conn_manager_config *h)
{
	if (!h)
		return;
	free(h->stat_prefix);
	free(h->rds_name);
	if (h->route_config_owned && h->route_config) {
		router_config_clear(h->route_config);
		free(h->route_config);
	}
	free(h->access_log.path);
	free(h);
}

static void filter_chain_free(struct filter_chain *c)
{
	free(c->name);
	tls_config_free(c->tls);
	rbac_config_free(c->rbac);
	free(c->tcp_proxy.stat_prefix);
	free(c->tcp_proxy.cluster_name);
	free(c->tcp_proxy.access_log.path);
	snapshot_http_config_free(c->http);
}

void snapshot_listener_clear(struct listener *l)
{
	free(l->name);
	free(l->netns);
	for (size_t j = 0; j < l->n_chains; j++)
		filter_chain_free(&l->chains[j]);
	memset(l, 0, sizeof(*l));
}

void snapshot_cluster_clear(struct cluster *c)
{
	lb_release(c);
	free(c->name);
	free(c->endpoints);
	tls_config_free(c->tls);
	free(c->health.path);
	free(c->health.host);
	free(c->health.send.data);
	for (size_t i = 0; i < c->health.n_receive; i++)
		free(c->health.receive[i].data);
	free(c->health.receive);
	free(c->eds_service_name);
	free(c->netns);
	memset(c, 0, sizeof(*c));
}

void snapshot_route_config_clear(struct route_config *rc)
{
	router_config_clear(rc);
	memset(rc, 0, sizeof(*rc));
}

static void snapshot_free(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n_listeners; i++)
		snapshot_listener_clear(&snap->listeners[i]);
	for (size_t i = 0; i < snap->n_clusters; i++)
		snapshot_cluster_clear(&snap->clusters[i]);
	for (size_t i = 0; i < snap->n_route_configs; i++)
		snapshot_route_config_clear(&snap->route_configs[i]);
	free(snap->listeners);
	free(snap->clusters);
	free(snap->route_configs);
	free(snap->node.id);
	free(snap->node.cluster);
	free(snap->ads.cluster_name);
	free(snap->source);
	free(snap);
}

void snapshot_unref(struct snapshot *snap)
{
	if (snap && atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1)
		snapshot_free(snap);
}

const struct cluster *snapshot_find_cluster(const struct snapshot *snap, const char *name)
{
	for (size_t i = 0; i < snap->n_clusters; i++)
		if (strcmp(snap->clusters[i].name, name) == 0)
			return &snap->clusters[i];
	return NULL;
}

int snapshot_add_listener(struct snapshot *snap, struct listener *l)
{
	struct listener *grown = realloc(snap->listeners, (snap->n_listeners + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	snap->listeners = grown;
	snap->listeners[snap->n_listeners++] = *l;
	memset(l, 0, sizeof(*l));
	return 0;
}

int snapshot_add_cluster(struct snapshot *snap, struct cluster *c)
{
	struct cluster *grown = realloc(snap->clusters, (snap->n_clusters + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	snap->clusters = grown;
	snap->clusters[snap->n_clusters++] = *c;
	memset(c, 0, sizeof(*c));
	return 0;
}

int snapshot_add_route_config(struct snapshot *snap, struct route_config *rc)
{
	struct route_config *grown =
		realloc(snap->route_configs, (snap->n_route_configs + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	snap->route_configs = grown;
	snap->route_configs[snap->n_route_configs++] = *rc;
	memset(rc, 0, sizeof(*rc));
	return 0;
}

struct route_config *snapshot_find_route_config(const struct snapshot *snap, const char *name)
{
	for (size_t i = 0; i < snap->n_route_configs; i++)
		if (strcmp(snap->route_configs[i].name, name) == 0)
			return &snap->route_configs[i];
	return NULL;
}

/* An HTTP chain needs its route configuration: inline, or the RDS one of
 * that name. Routes may name clusters that are not there: they answer 503
 * (router_link), the listener stays. */
static bool resolve_http(struct snapshot *snap, struct listener *l,
			 struct http_conn_manager_config *h)
{
	if (!h->rds_name) {
		if (!h->route_config)
			log_warn("listener %s: http_connection_manager without a route configuration: "
				 "listener not active", l->name);
		return h->route_config != NULL;
	}
	h->route_config = snapshot_find_route_config(snap, h->rds_name);
	if (!h->route_config) {
		log_warn("listener %s: route configuration %s does not exist (yet): listener not "
			 "active", l->name, h->rds_name);
		return false;
	}
	return true;
}

static bool resolve_chains(struct snapshot *snap, struct listener *l)
{
	for (size_t j = 0; j < l->n_chains; j++) {
		if (l->chains[j].http) {
			if (!resolve_http(snap, l, l->chains[j].http))
				return false;
			continue;
		}
		struct tcp_proxy_config *tp = &l->chains[j].tcp_proxy;
		tp->cluster = snapshot_find_cluster(snap, tp->cluster_name);
		if (!tp->cluster) {
			log_warn("listener %s: cluster %s does not exist (yet): listener not active",
				 l->name, tp->cluster_name);
			return false;
		}
	}
	return true;
}

/* Compiles the regexes of one route configuration; `where` names its
 * owner in the message. */
static int prepare_route_config(struct route_config *rc, const char *where, char *err,
				size_t errlen)
{
	char why[384];
	int rc_err = router_prepare(rc, why, sizeof(why));
	if (rc_err)
		snprintf(err, errlen, "%s: %s", where, why);
	return rc_err;
}

/* Builds what the data path reads ready-made: compiled regexes of every
 * route configuration, consistent-hash tables of every cluster. */
static int prepare_all(struct snapshot *snap, char *err, size_t errlen)
{
	char where[320];
	int rc;
	for (size_t i = 0; i < snap->n_route_configs; i++) {
		struct route_config *r = &snap->route_configs[i];
		snprintf(where, sizeof(where), "route_config \"%s\"", r->name);
		if ((rc = prepare_route_config(r, where, err, errlen)))
			return rc;
	}
	for (size_t i = 0; i < snap->n_listeners; i++) {
		struct listener *l = &snap->listeners[i];
		for (size_t j = 0; j < l->n_chains; j++) {
			struct http_conn_manager_config *h = l->chains[j].http;
			if (!h || !h->route_config_owned || !h->route_config)
				continue;
			snprintf(where, sizeof(where), "listener \"%s\" filter_chains[%zu] route_config",
				 l->name, j);
			if ((rc = prepare_route_config(h->route_config, where, err, errlen)))
				return rc;
		}
	}
	for (size_t i = 0; i < snap->n_clusters; i++) {
		struct cluster *c = &snap->clusters[i];
		char why[256];
		if (c->lb)
			continue;
		if ((rc = lb_prepare(c, why, sizeof(why)))) {
			snprintf(err, errlen, "cluster \"%s\": %s", c->name,
				 rc == -ENOMEM ? "out of memory" : why);
			return rc;
		}
	}
	return 0;
}

/* Points every route at its clusters, now that listeners and clusters are
 * in their final places. */
static void link_routes(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n_route_configs; i++)
		router_link(&snap->route_configs[i], snap);
	for (size_t i = 0; i < snap->n_listeners; i++) {
		struct listener *l = &snap->listeners[i];
		for (size_t j = 0; j < l->n_chains; j++) {
			struct http_conn_manager_config *h = l->chains[j].http;
			if (h && h->route_config_owned && h->route_config)
				router_link(h->route_config, snap);
		}
	}
}

int snapshot_link(struct snapshot *snap, char *err, size_t errlen)
{
	for (size_t i = 0; i < snap->n_route_configs; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(snap->route_configs[i].name, snap->route_configs[j].name) == 0) {
				snprintf(err, errlen, "route_config \"%s\" is defined twice",
					 snap->route_configs[i].name);
				return -EINVAL;
			}
	for (size_t i = 0; i < snap->n_clusters; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(snap->clusters[i].name, snap->clusters[j].name) == 0) {
				snprintf(err, errlen, "cluster \"%s\" is defined twice",
					 snap->clusters[i].name);
				return -EINVAL;
			}
	for (size_t i = 0; i < snap->n_listeners; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(snap->listeners[i].name, snap->listeners[j].name) == 0) {
				snprintf(err, errlen, "listener \"%s\" is defined twice",
					 snap->listeners[i].name);
				return -EINVAL;
			}
	size_t kept = 0;
	for (size_t i = 0; i < snap->n_listeners; i++) {
		if (resolve_chains(snap, &snap->listeners[i]))
			snap->listeners[kept++] = snap->listeners[i];
		else
			snapshot_listener_clear(&snap->listeners[i]);
	}
	snap->n_listeners = kept;
	int rc = prepare_all(snap, err, errlen);
	if (rc)
		return rc;
	link_routes(snap);
	return 0;
}

/* Envoy names a listener's stats after its address, "0.0.0.0_15001", and
 * dashboards built for Envoy expect that. */
static void listener_stats_name(const struct listener *l, char *buf, size_t len)
{
	sock_addr_format(&l->addr, buf, len);
	char *colon = strrchr(buf, ':');
	if (colon)
		*colon = '_';
}

static int assign_stats_ids(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n_listeners; i++) {
		char name[SOCK_ADDR_STRLEN];
		listener_stats_name(&snap->listeners[i], name, sizeof(name));
		int id = stats_scope_id(STATS_LISTENER, name);
		if (id < 0)
			return id;
		snap->listeners[i].stats_id = (uint32_t)id;
	}
	for (size_t i = 0; i < snap->n_clusters; i++) {
		int id = stats_scope_id(STATS_CLUSTER, snap->clusters[i].name);
		if (id < 0)
			return id;
		snap->clusters[i].stats_id = (uint32_t)id;
	}
	return 0;
}

/* Each cluster of snap takes over the endpoint health (ejections,
 * health-check verdicts) of the version of it in prev, found by stats id
 * (the same name). */
static void inherit_host_health(struct snapshot *snap, const struct snapshot *prev)
{
	uint32_t top = 0;
	for (size_t i = 0; i < prev->n_clusters; i++)
		if (prev->clusters[i].stats_id > top)
			top = prev->clusters[i].stats_id;
	const struct cluster **by_id = calloc((size_t)top + 1, sizeof(*by_id));
	if (!by_id) {
		log_warn("out of memory: endpoint ejections and health-check results start over");
		return;
	}
	for (size_t i = 0; i < prev->n_clusters; i++)
		by_id[prev->clusters[i].stats_id] = &prev->clusters[i];
	for (size_t i = 0; i < snap->n_clusters; i++) {
		struct cluster *c = &snap->clusters[i];
		if (c->stats_id <= top && by_id[c->stats_id])
			host_health_inherit(c, by_id[c->stats_id]);
	}
	free(by_id);
}

int snapshot_publish(struct snapshot *snap)
{
	snapshot_collect();
	int err = assign_stats_ids(snap);
	if (err == 0 && n_retired == MAX_RETIRED)
		err = -EBUSY; /* workers are stuck behind; refuse rather than leak */
	if (err) {
		snapshot_unref(snap);
		return err;
	}
	struct snapshot *prev = atomic_load_explicit(&current, memory_order_acquire);
	if (prev)
		inherit_host_health(snap, prev);
	for (size_t i = 0; i < snap->n_clusters; i++)
		breaker_publish_limits(snap->clusters[i].stats_id, &snap->clusters[i].breakers);
	snap->version = next_version++;
	struct snapshot *old = atomic_exchange_explicit(&current, snap, memory_order_acq_rel);
	if (old)
		retired[n_retired++] = (struct retired){ old, snap->version };
	snapshot_collect();
	return 0;
}

struct snapshot *snapshot_acquire(unsigned worker)
{
	struct snapshot *snap = atomic_load_explicit(&current, memory_order_acquire);
	if (!snap)
		return NULL;
	snapshot_ref(snap);
	/* Reported after the reference is taken: until then the main thread keeps
	 * its own reference on anything this worker may have read. */
	atomic_store_explicit(&worker_seen[worker], snap->version, memory_order_release);
	return snap;
}

uint64_t snapshot_current_version(void)
{
	struct snapshot *snap = atomic_load_explicit(&current, memory_order_acquire);
	return snap ? snap->version : 0;
}

void snapshot_set_workers(unsigned n)
{
	n_workers = n < MAX_WORKERS ? n : MAX_WORKERS;
}

void snapshot_collect(void)
{
	uint64_t oldest_seen = UINT64_MAX;
	for (unsigned w = 0; w < n_workers; w++) {
		uint64_t v = atomic_load_explicit(&worker_seen[w], memory_order_acquire);
		if (v < oldest_seen)
			oldest_seen = v;
	}
	unsigned kept = 0;
	for (unsigned i = 0; i < n_retired; i++) {
		if (retired[i].superseded_by <= oldest_seen)
			snapshot_unref(retired[i].snap);
		else
			retired[kept++] = retired[i];
	}
	n_retired = kept;
}

void snapshot_shutdown(void)
{
	for (unsigned i = 0; i < n_retired; i++)
		snapshot_unref(retired[i].snap);
	n_retired = 0;
	snapshot_unref(atomic_exchange(&current, NULL));
}
