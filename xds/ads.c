/* The ADS client; see ads.h.
 *
 * Per type it keeps the accepted resources as their serialized bytes, by
 * name, each with its version. A response is staged (SotW: replacing the
 * set or the names it carries; Delta: its additions and removals on top of
 * what is held), the snapshot it would give is built (which decodes and
 * translates every resource, static ones from the bootstrap included), and
 * only when that succeeds is the stage kept, the snapshot published and the
 * response ACKed. The two protocols differ in their messages only. */
#include "xds/ads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "certs/tls_context.h"
#include "proxy/config_dump.h"
#include "proxy/log.h"
#include "proxy/sock_addr.h"
#include "proxy/snapshot.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "xds/grpc_stream.h"
#include "xds/resources.h"
#include "xds/translate.h"
#include "xds/translate_workload.h"

#define ADS_SERVICE "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
#define ADS_PATH ADS_SERVICE "StreamAggregatedResources"
#define ADS_DELTA_PATH ADS_SERVICE "DeltaAggregatedResources"
/* A whole state-of-the-world response (or Delta's first) may carry
 * thousands of resources; one resource may not pass RESOURCE_MAX
 * (HARDENING.md: NACK it). */
#define RESPONSE_MAX (64u << 20)
#define RESOURCE_MAX (4u << 20)
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define KEEPALIVE_INTERVAL_MS 30000
#define KEEPALIVE_TIMEOUT_MS 10000
#define GRPC_INVALID_ARGUMENT 3

/* T_WORKLOAD (Istio's WDS) only when a hook takes workloads: the node shape. */
enum xds_type { T_CLUSTER, T_ENDPOINTS, T_LISTENER, T_ROUTE, T_SECRET, T_WORKLOAD, T_COUNT };

static const char *const type_urls[T_COUNT] = {
	[T_CLUSTER] = "type.googleapis.com/envoy.config.cluster.v3.Cluster",
	[T_ENDPOINTS] = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
	[T_LISTENER] = "type.googleapis.com/envoy.config.listener.v3.Listener",
	[T_ROUTE] = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
	[T_SECRET] = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
	[T_WORKLOAD] = XDS_TYPE_WORKLOAD,
};
static const char *const type_names[T_COUNT] = { "cds", "eds", "lds", "rds", "sds", "wds" };

struct resource {
	char *name;
	uint8_t *bytes;
	size_t len;
	char *version;      /* of the response that last changed it */
	int64_t updated_ms; /* when that response was accepted (Unix ms) */
	bool arrived;       /* staged from the response at hand: twice is an error */
};

struct resource_set {
	struct resource *v;
	size_t n;
};

struct type_state {
	char *version;            /* of the last accepted response; NULL: none yet */
	struct resource_set have; /* accepted */
	struct resource_set stage; /* being validated */
	bool staged;
	bool wildcard;            /* LDS and CDS: every resource the server has */
	bool opened;              /* Delta: its first request went on this stream */
	char **names;             /* otherwise: the names asked for */
	size_t n_names;
	uint64_t acks, nacks;
};

static struct {
	bool running;
	bool delta;         /* incremental xDS (api_type DELTA_GRPC), else state of the world */
	struct loop *loop;
	struct ads_hooks hooks;
	struct sock_addr server;
	char authority[300];
	SSL_CTX *tls_ctx;   /* the ADS cluster's UpstreamTlsContext (a reference); NULL: h2c */
	char *sni;
	char *node_id, *node_cluster;
	struct grpc_stream *stream;
	bool stream_dead;   /* closed: free it from the tick, not from its callback */
	bool node_sent;     /* the node goes in the first request of a stream only */
	uint64_t backoff_ms;
	uint64_t next_connect_ms;
	uint64_t connects;
	uint64_t last_apply_ms; /* how long the last accepted update took to apply */
	struct type_state types[T_COUNT];
} ads;

static void set_free(struct resource_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->v[i].name);
		free(set->v[i].bytes);
		free(set->v[i].version);
	}
	free(set->v);
	*set = (struct resource_set){ 0 };
}

/* The set a build reads: what is being validated, else what was accepted. */
static const struct resource_set *current(enum xds_type t)
{
	return ads.types[t].staged ? &ads.types[t].stage : &ads.types[t].have;
}

static const struct resource *find(const struct resource_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

/* ---- requests ---- */

struct name_list {
	char **v;
	size_t n;
};

static void names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct name_list){ 0 };
}

static bool names_has(char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return true;
	return false;
}

/* The node, for the first request of a stream only; NULL afterwards. */
static Envoy__Config__Core__V3__Node *first_node(Envoy__Config__Core__V3__Node *node)
{
	if (ads.node_sent)
		return NULL;
	node->id = ads.node_id;
	node->cluster = ads.node_cluster;
	node->user_agent_name = "skiff";
	return node;
}

/* Packs and queues a DiscoveryRequest or DeltaDiscoveryRequest. */
static void send_message(enum xds_type t, const ProtobufCMessage *req)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		log_error("xds: out of memory for a %s request", type_names[t]);
		return;
	}
	protobuf_c_message_pack(req, buf);
	if (grpc_stream_send(ads.stream, buf, len) == 0)
		ads.node_sent = true;
	free(buf);
}

/* State of the world: every request carries the version held and the
 * whole subscription; an ACK or NACK names the response's nonce. */
static void send_sotw(enum xds_type t, const char *nonce, const char *error)
{
	struct type_state *ts = &ads.types[t];
	Envoy__Service__Discovery__V3__DiscoveryRequest req =
		ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
	Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
	Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
	req.version_info = ts->version ? ts->version : "";
	req.type_url = (char *)type_urls[t];
	req.response_nonce = (char *)(nonce ? nonce : "");
	req.resource_names = ts->names;
	req.n_resource_names = ts->wildcard ? 0 : ts->n_names;
	req.node = first_node(&node);
	if (error) {
		status.code = GRPC_INVALID_ARGUMENT;
		status.message = (char *)error;
		req.error_detail = &status;
	}
	send_message(t, &req.base);
}

/* One name → version of initial_resource_versions (a protobuf map). */
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
	version_entry;
#define version_entry_descriptor \
	envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__descriptor

/* The initial_resource_versions of a type's first Delta request on a
 * stream: what is held of what is asked for, borrowed strings in arrays the
 * caller frees. Out of memory gives none, and the server sends everything. */
static size_t held_versions(const struct type_state *ts, version_entry **entries,
			    version_entry ***held)
{
	size_t n = 0;
	*entries = calloc(ts->have.n + 1, sizeof(**entries));
	*held = calloc(ts->have.n + 1, sizeof(**held));
	for (size_t i = 0; *entries && *held && i < ts->have.n; i++) {
		const struct resource *r = &ts->have.v[i];
		if (!ts->wildcard && !names_has(ts->names, ts->n_names, r->name))
			continue; /* held from an older subscription: not asked for */
		version_entry *e = &(*entries)[n];
		protobuf_c_message_init(&version_entry_descriptor, e);
		e->key = r->name;
		e->value = r->version;
		(*held)[n++] = e;
	}
	return *entries && *held ? n : 0;
}

/* Delta: the first request of a type on a stream subscribes (LDS/CDS to
 * "*", the wildcard) and says which versions are held, so the server sends
 * only what differs; later ones carry an ACK/NACK (nonce, error) or the
 * changes of the subscription (sub, unsub), never the whole of it. */
static void send_delta(enum xds_type t, const char *nonce, const char *error,
		       const struct name_list *sub, const struct name_list *unsub)
{
	struct type_state *ts = &ads.types[t];
	Envoy__Service__Discovery__V3__DeltaDiscoveryRequest req =
		ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
	Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
	Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
	char *star[] = { "*" };
	version_entry *entries = NULL, **held = NULL;
	req.type_url = (char *)type_urls[t];
	req.response_nonce = (char *)(nonce ? nonce : "");
	req.node = first_node(&node);
	if (!ts->opened) {
		req.resource_names_subscribe = ts->wildcard ? star : ts->names;
		req.n_resource_names_subscribe = ts->wildcard ? 1 : ts->n_names;
		req.n_initial_resource_versions = held_versions(ts, &entries, &held);
		req.initial_resource_versions = held;
		ts->opened = true;
	} else {
		if (sub) {
			req.resource_names_subscribe = sub->v;
			req.n_resource_names_subscribe = sub->n;
		}
		if (unsub) {
			req.resource_names_unsubscribe = unsub->v;
			req.n_resource_names_unsubscribe = unsub->n;
		}
	}
	if (error) {
		status.code = GRPC_INVALID_ARGUMENT;
		status.message = (char *)error;
		req.error_detail = &status;
	}
	send_message(t, &req.base);
	free(entries);
	free(held);
}

/* The first request of a type on a stream, or an ACK (error NULL) or NACK
 * of the response with that nonce. */
static void send_request(enum xds_type t, const char *nonce, const char *error)
{
	if (ads.delta)
		send_delta(t, nonce, error, NULL, NULL);
	else
		send_sotw(t, nonce, error);
}

/* Tells the server the subscription of t changed from `old` to the names
 * now held in the type state: SotW repeats the whole list, Delta sends
 * what was added and what was dropped (borrowed strings). */
static void send_subscription(enum xds_type t, const struct name_list *old)
{
	struct type_state *ts = &ads.types[t];
	if (!ads.delta || !ts->opened) {
		send_request(t, NULL, NULL);
		return;
	}
	struct name_list sub = { calloc(ts->n_names + 1, sizeof(char *)), 0 };
	struct name_list unsub = { calloc(old->n + 1, sizeof(char *)), 0 };
	if (sub.v && unsub.v) {
		for (size_t i = 0; i < ts->n_names; i++)
			if (!names_has(old->v, old->n, ts->names[i]))
				sub.v[sub.n++] = ts->names[i];
		for (size_t i = 0; i < old->n; i++)
			if (!names_has(ts->names, ts->n_names, old->v[i]))
				unsub.v[unsub.n++] = old->v[i];
		send_delta(t, NULL, NULL, &sub, &unsub);
	} else {
		log_error("xds: out of memory for a %s subscription", type_names[t]);
	}
	free(sub.v);
	free(unsub.v);
}

/* Replaces the names a non-wildcard type asks for (taking `names`);
 * returns whether they changed, the previous ones then in *old (the
 * caller frees them). */
static bool subscribe(enum xds_type t, struct name_list names, struct name_list *old)
{
	struct type_state *ts = &ads.types[t];
	*old = (struct name_list){ 0 };
	bool same = names.n == ts->n_names;
	for (size_t i = 0; same && i < names.n; i++)
		same = strcmp(names.v[i], ts->names[i]) == 0;
	if (same) {
		names_free(&names);
		return false;
	}
	*old = (struct name_list){ ts->names, ts->n_names };
	ts->names = names.v;
	ts->n_names = names.n;
	return true;
}

/* The names the last build found referenced, per type followed (EDS from
 * clusters, SDS from listeners and clusters, RDS from listeners'
 * http_connection_managers), for the next subscription. */
static struct name_list wanted[T_COUNT];

static void clear_wanted(void)
{
	for (int t = 0; t < T_COUNT; t++)
		names_free(&wanted[t]);
}

/* Notes that the snapshot being built refers to `name` of type t. Out of
 * memory leaves it out: the next build asks again. */
static void want(enum xds_type t, const char *name)
{
	struct name_list *w = &wanted[t];
	if (names_has(w->v, w->n, name))
		return;
	char **grown = realloc(w->v, (w->n + 1) * sizeof(*grown));
	if (!grown)
		return;
	w->v = grown;
	if ((w->v[w->n] = strdup(name)))
		w->n++;
}

/* After an update, ask for what the configuration now refers to: the
 * endpoints of EDS clusters, the secrets of TLS contexts, the route
 * configurations of HTTP listeners (unchanged names send nothing). */
static void follow_references(void)
{
	static const enum xds_type followed[] = { T_ENDPOINTS, T_SECRET, T_ROUTE };
	for (size_t i = 0; i < sizeof(followed) / sizeof(followed[0]); i++) {
		enum xds_type t = followed[i];
		struct name_list w = wanted[t], old;
		wanted[t] = (struct name_list){ 0 };
		if (subscribe(t, w, &old) && ads.stream && !ads.stream_dead)
			send_subscription(t, &old);
		names_free(&old);
	}
}

/* ---- responses ---- */

/* Decodes a serialized resource of type t; NULL with err. */
static ProtobufCMessage *decode(struct xds_decoder *d, enum xds_type t, const uint8_t *bytes,
				size_t len, char *err, size_t errlen)
{
	ProtobufCMessage *msg = NULL;
	const ProtobufCMessageDescriptor *desc = t == T_WORKLOAD
							 ? &istio__workload__address__descriptor
							 : xds_resource_descriptor(type_urls[t]);
	if (xds_decode(d, desc, bytes, len, &msg, err, errlen) < 0)
		return NULL;
	return msg;
}

/* The name of a serialized resource of type t (malloc'd), or NULL with err. */
static char *resource_name(enum xds_type t, const ProtobufCBinaryData *value, char *err,
			   size_t errlen)
{
	struct xds_decoder d;
	xds_decoder_init(&d, RESOURCE_MAX);
	ProtobufCMessage *msg = decode(&d, t, value->data, value->len, err, errlen);
	char *name = NULL;
	/* An Address has no name field: Istio keys it by what it holds. */
	int rc = !msg		  ? -EINVAL
		 : t == T_WORKLOAD ? xds_address_name((const Istio__Workload__Address *)msg, &name,
						      err, errlen)
				   : xds_resource_name(msg, &name, err, errlen);
	if (rc < 0)
		name = NULL;
	xds_decoder_free(&d, msg);
	return name;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts the stage of type t as a copy of what is held: all of it (Delta,
 * and SotW for the types whose responses carry only what was asked for), or
 * nothing (SotW LDS/CDS, whose responses are the whole set). */
static int stage_begin(enum xds_type t, bool keep, size_t incoming)
{
	struct type_state *ts = &ads.types[t];
	struct resource_set *st = &ts->stage;
	size_t base = keep ? ts->have.n : 0;
	st->v = calloc(base + incoming + 1, sizeof(*st->v));
	if (!st->v)
		return -ENOMEM;
	ts->staged = true;
	for (size_t i = 0; i < base; i++) {
		const struct resource *r = &ts->have.v[i];
		struct resource *c = &st->v[st->n++];
		c->name = strdup(r->name);
		c->bytes = malloc(r->len ? r->len : 1);
		c->version = strdup(r->version);
		if (!c->name || !c->bytes || !c->version)
			return -ENOMEM;
		memcpy(c->bytes, r->bytes, r->len);
		c->len = r->len;
		c->updated_ms = r->updated_ms;
	}
	return 0;
}

/* Takes a resource out of the stage (Delta's removed_resources). A name
 * not held is no error: Envoy ignores it too. */
static void stage_remove(enum xds_type t, const char *name)
{
	struct resource_set *st = &ads.types[t].stage;
	struct resource *r = (struct resource *)find(st, name);
	if (!r)
		return;
	free(r->name);
	free(r->bytes);
	free(r->version);
	*r = st->v[--st->n];
	st->v[st->n] = (struct resource){ 0 };
}

/* Adds or replaces one resource of the stage. `want_name`, when not NULL,
 * is the name the response gave it (Delta), which must be its own. `label`
 * names it in errors. Returns 0, or -EINVAL/-ENOMEM with err. */
static int stage_put(enum xds_type t, const Google__Protobuf__Any *any, const char *version,
		     const char *want_name, const char *label, char *err, size_t errlen)
{
	struct type_state *ts = &ads.types[t];
	struct resource_set *st = &ts->stage;
	if (!any) {
		snprintf(err, errlen, "%s: no resource", label);
		return -EINVAL;
	}
	if (strcmp(any->type_url, type_urls[t]) != 0) {
		snprintf(err, errlen, "%s: type %s in a %s response", label, any->type_url, type_urls[t]);
		return -EINVAL;
	}
	if (any->value.len > RESOURCE_MAX) {
		snprintf(err, errlen, "%s: %zu bytes, over the %u limit", label, any->value.len,
			 RESOURCE_MAX);
		return -EINVAL;
	}
	char why[300];
	char *name = resource_name(t, &any->value, why, sizeof(why));
	if (!name) {
		snprintf(err, errlen, "%s: %s", label, why);
		return -EINVAL;
	}
	if (want_name && *want_name && strcmp(want_name, name) != 0) {
		snprintf(err, errlen, "%s \"%s\": sent under the name \"%s\"", type_names[t], name,
			 want_name);
		free(name);
		return -EINVAL;
	}
	struct resource *slot = (struct resource *)find(st, name);
	if (slot && slot->arrived) {
		snprintf(err, errlen, "%s \"%s\": sent twice in one response", type_names[t], name);
		free(name);
		return -EINVAL;
	}
	if (!slot)
		slot = &st->v[st->n++];
	free(slot->name);
	free(slot->bytes);
	free(slot->version);
	*slot = (struct resource){ .name = name, .len = any->value.len, .arrived = true };
	slot->bytes = malloc(slot->len ? slot->len : 1);
	if (!slot->bytes)
		return -ENOMEM;
	memcpy(slot->bytes, any->value.data, slot->len);
	/* A resource sent again unchanged keeps the time it came, and under
	 * SotW the version of that response, as Envoy's config dump shows it.
	 * A Delta resource has its own version, which is what the server
	 * tracks, so it is taken as sent. */
	const struct resource *had = find(&ts->have, name);
	bool same = had && had->len == slot->len && memcmp(had->bytes, slot->bytes, slot->len) == 0;
	slot->updated_ms = same ? had->updated_ms : wall_ms();
	slot->version = strdup(same && !ads.delta ? had->version : version);
	return slot->version ? 0 : -ENOMEM;
}

/* Stages a state-of-the-world response: for LDS and CDS it is the whole
 * set (a missing resource is deleted); for the others it holds the
 * resources asked for, which replace their namesakes. Returns 0, or
 * -EINVAL with err naming the resource at fault. */
static int stage_sotw(enum xds_type t, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp,
		      char *err, size_t errlen)
{
	int rc = stage_begin(t, !ads.types[t].wildcard, resp->n_resources);
	for (size_t i = 0; rc == 0 && i < resp->n_resources; i++) {
		char label[32];
		snprintf(label, sizeof(label), "resources[%zu]", i);
		rc = stage_put(t, resp->resources[i], resp->version_info, NULL, label, err, errlen);
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

/* A name Delta sends as bytes (Resource.name, removed_resources), as a C
 * string: malloc'd, or NULL when it holds a NUL (or memory ran out). */
static char *name_dup(const ProtobufCBinaryData *b)
{
	if (memchr(b->data, 0, b->len))
		return NULL;
	char *s = malloc(b->len + 1);
	if (s) {
		memcpy(s, b->data, b->len);
		s[b->len] = 0;
	}
	return s;
}

/* Stages a Delta response on top of everything held: removed_resources
 * go, resources are added or replace their namesakes, each with its own
 * version. Returns as stage_sotw. */
static int stage_delta(enum xds_type t,
		       const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *resp, char *err,
		       size_t errlen)
{
	int rc = stage_begin(t, true, resp->n_resources);
	for (size_t i = 0; rc == 0 && i < resp->n_removed_resources; i++) {
		char *name = name_dup(&resp->removed_resources[i]);
		if (!name) {
			snprintf(err, errlen, "removed_resources[%zu]: not a name", i);
			return -EINVAL;
		}
		stage_remove(t, name);
		free(name);
	}
	for (size_t i = 0; rc == 0 && i < resp->n_resources; i++) {
		const Envoy__Service__Discovery__V3__Resource *r = resp->resources[i];
		char label[32];
		snprintf(label, sizeof(label), "resources[%zu]", i);
		char *name = name_dup(&r->name);
		if (!name) {
			snprintf(err, errlen, "%s: name is not a name", label);
			return -EINVAL;
		}
		rc = stage_put(t, r->resource, r->version, name, label, err, errlen);
		free(name);
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

static void unstage(enum xds_type t)
{
	set_free(&ads.types[t].stage);
	ads.types[t].staged = false;
}

/* The type of a type URL, or T_COUNT (logged) for one skiff never asks for. */
static enum xds_type type_of(const char *type_url)
{
	for (int i = 0; i < T_COUNT; i++)
		if (strcmp(type_url, type_urls[i]) == 0 && (i != T_WORKLOAD || ads.hooks.workloads))
			return (enum xds_type)i;
	log_warn("xds: response of type %s, which skiff did not ask for: ignored", type_url);
	return T_COUNT;
}

/* Translates every workload of `set` and hands them to the workloads hook
 * (services are skipped). Returns 0, or -EINVAL/-ENOMEM with err naming the
 * workload at fault, and then the hook is not called. */
static int give_workloads(const struct resource_set *set, char *err, size_t errlen)
{
	struct xds_workload *v = calloc(set->n + 1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	struct xds_decoder d;
	xds_decoder_init(&d, RESOURCE_MAX);
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < set->n; i++) {
		ProtobufCMessage *msg = decode(&d, T_WORKLOAD, set->v[i].bytes, set->v[i].len, err,
					       errlen);
		if (!msg) {
			rc = -EINVAL;
			break;
		}
		rc = xds_translate_address((const Istio__Workload__Address *)msg, &v[n], err,
					   errlen);
		xds_decoder_free(&d, msg);
		if (rc == 1) {
			n++;
			rc = 0;
		}
	}
	if (rc == 0)
		rc = ads.hooks.workloads(v, n, err, errlen);
	for (size_t i = 0; i < n; i++)
		xds_workload_clear(&v[i]);
	free(v);
	return rc;
}

/* The end of a response of either protocol, once staged (rc 0) or not
 * (err says why): the stage is built into a snapshot, which is published
 * and ACKed, else NACKed and dropped. `version` is the response's
 * version_info (SotW) or system_version_info (Delta). */
static void conclude(enum xds_type t, int rc, const char *version, const char *nonce,
		     uint64_t started, char *err, size_t errlen)
{
	struct type_state *ts = &ads.types[t];
	if (rc == 0 && t == T_WORKLOAD)
		rc = give_workloads(&ts->stage, err, errlen);
	struct snapshot *snap = rc == 0 ? ads.hooks.build(err, errlen) : NULL;
	if (!snap) {
		/* The hook has the NACKed workloads when only the build failed:
		 * give it back those it held. */
		if (rc == 0 && t == T_WORKLOAD) {
			char why[512];
			if (give_workloads(&ts->have, why, sizeof(why)) < 0)
				log_error("xds: restoring the workloads held: %s", why);
		}
		unstage(t);
		ts->nacks++;
		log_warn("xds: NACK %s version %s: %s", type_names[t], version, err);
		send_request(t, nonce, err);
		return;
	}
	set_free(&ts->have);
	ts->have = ts->stage;
	ts->stage = (struct resource_set){ 0 };
	for (size_t i = 0; i < ts->have.n; i++)
		ts->have.v[i].arrived = false;
	ts->staged = false;
	free(ts->version);
	ts->version = strdup(version);
	ts->acks++;
	ads.backoff_ms = BACKOFF_MIN_MS;
	ads.hooks.publish(snap);
	ads.last_apply_ms = loop_now_ms() - started;
	log_info("xds: ACK %s version %s (%zu resources, applied in %llu ms)", type_names[t],
		 version, ts->have.n, (unsigned long long)ads.last_apply_ms);
	send_request(t, nonce, NULL);
	follow_references();
}

static void on_response(const Envoy__Service__Discovery__V3__DiscoveryResponse *resp)
{
	enum xds_type t = type_of(resp->type_url);
	if (t == T_COUNT)
		return;
	uint64_t started = loop_now_ms();
	char err[512];
	int rc = stage_sotw(t, resp, err, sizeof(err));
	conclude(t, rc, resp->version_info, resp->nonce, started, err, sizeof(err));
}

static void on_delta_response(const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *resp)
{
	enum xds_type t = type_of(resp->type_url);
	if (t == T_COUNT)
		return;
	uint64_t started = loop_now_ms();
	char err[512];
	int rc = stage_delta(t, resp, err, sizeof(err));
	conclude(t, rc, resp->system_version_info, resp->nonce, started, err, sizeof(err));
}

/* ---- building: the config_source dynamic hook ---- */

/* The Secret `name` as the build sees it, which must be of `kind`.
 * Returns 0; -EAGAIN when it has not arrived (err says so: the resource
 * that needs it warms); -EINVAL/-ENOMEM with err. */
static int load_secret(struct xds_decoder *d, const char *name, enum xds_secret_kind kind,
		       struct xds_secret *out, char *err, size_t errlen)
{
	const struct resource *r = find(current(T_SECRET), name);
	if (!r) {
		snprintf(err, errlen, "secret \"%s\" has not arrived", name);
		return -EAGAIN;
	}
	ProtobufCMessage *msg = decode(d, T_SECRET, r->bytes, r->len, err, errlen);
	if (!msg)
		return -EINVAL;
	int rc = xds_translate_secret(
		(const Envoy__Extensions__TransportSockets__Tls__V3__Secret *)msg, out, err, errlen);
	xds_decoder_free(d, msg);
	if (rc == 0 && out->kind != kind) {
		snprintf(err, errlen, "secret \"%s\": holds a %s where a %s is needed", name,
			 out->kind == XDS_SECRET_TLS_CERTIFICATE ? "tls_certificate"
								 : "validation_context",
			 kind == XDS_SECRET_TLS_CERTIFICATE ? "tls_certificate"
							    : "validation_context");
		xds_secret_clear(out);
		rc = -EINVAL;
	}
	return rc;
}

/* A file of a Secret goes into the tls_config as any file does; PEM bytes
 * only into the source the identity is loaded from. */
static int take_data(const struct xds_data *data, char **file, struct tls_pem_source *src,
		     const char *label)
{
	if (data->filename) {
		*file = strdup(data->filename);
		if (!*file)
			return -ENOMEM;
		src->filename = *file;
		return 0;
	}
	src->pem = data->pem;
	src->pem_len = data->pem_len;
	src->label = label;
	return 0;
}

/* Fills tls from the Secrets refs names: file names as they are (the
 * snapshot's TLS setup loads them), and an identity loaded here when any
 * part came as PEM bytes. Returns as load_secret. */
static int apply_secrets(struct xds_decoder *d, const struct xds_tls_refs *refs,
			 struct tls_config *tls, char *err, size_t errlen)
{
	if (!refs->cert_secret && !refs->ca_secret)
		return 0;
	/* Both, before either can stop the build: one subscription asks for
	 * all a context needs. */
	if (refs->cert_secret)
		want(T_SECRET, refs->cert_secret);
	if (refs->ca_secret)
		want(T_SECRET, refs->ca_secret);
	struct xds_secret cert = { 0 }, ca = { 0 };
	struct tls_pem_source src[3] = { { .filename = tls->cert_chain_file },
					 { .filename = tls->private_key_file },
					 { .filename = tls->trusted_ca_file } };
	char labels[3][300];
	int rc = 0;
	if (refs->cert_secret)
		rc = load_secret(d, refs->cert_secret, XDS_SECRET_TLS_CERTIFICATE, &cert, err, errlen);
	if (rc == 0 && refs->ca_secret)
		rc = load_secret(d, refs->ca_secret, XDS_SECRET_VALIDATION_CONTEXT, &ca, err, errlen);
	if (rc == 0 && refs->cert_secret) {
		snprintf(labels[0], sizeof(labels[0]), "secret \"%s\" certificate_chain",
			 refs->cert_secret);
		snprintf(labels[1], sizeof(labels[1]), "secret \"%s\" private_key",
			 refs->cert_secret);
		rc = take_data(&cert.cert_chain, &tls->cert_chain_file, &src[0], labels[0]);
		if (rc == 0)
			rc = take_data(&cert.private_key, &tls->private_key_file, &src[1], labels[1]);
	}
	if (rc == 0 && refs->ca_secret) {
		snprintf(labels[2], sizeof(labels[2]), "secret \"%s\" trusted_ca", refs->ca_secret);
		rc = take_data(&ca.trusted_ca, &tls->trusted_ca_file, &src[2], labels[2]);
	}
	bool inline_pem = src[0].pem || src[1].pem || src[2].pem;
	if (rc == 0 && inline_pem) {
		if ((!src[0].filename && !src[0].pem) || (!src[2].filename && !src[2].pem)) {
			snprintf(err, errlen, "tls_certificates and validation_context.trusted_ca are "
					      "required");
			rc = -EINVAL;
		} else {
			rc = tls_identity_load_pem(&src[0], &src[1], &src[2], &tls->identity, err,
						   errlen);
		}
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	xds_secret_clear(&cert);
	xds_secret_clear(&ca);
	return rc;
}

/* A resource whose secret has not arrived is left out of the snapshot and
 * waits, as one whose cluster is missing does (Envoy warms it); its
 * subscription has been noted, and the secret's arrival builds again. */
static int warming(int rc, const char *kind, const char *name, const char *why)
{
	if (rc != -EAGAIN)
		return rc;
	log_info("xds: %s %s waits for its secret (%s): not active yet", kind, name, why);
	return 0;
}

static int add_cluster(struct snapshot *snap, struct xds_decoder *d, const struct resource *r,
		       char *err, size_t errlen)
{
	ProtobufCMessage *msg = decode(d, T_CLUSTER, r->bytes, r->len, err, errlen);
	if (!msg)
		return -EINVAL;
	struct cluster c = { 0 };
	struct xds_cluster_refs refs = { 0 };
	int rc = xds_translate_cluster((const Envoy__Config__Cluster__V3__Cluster *)msg, &c, &refs,
				       err, errlen);
	xds_decoder_free(d, msg);
	if (rc == 0 && refs.eds_service_name) {
		want(T_ENDPOINTS, refs.eds_service_name);
		/* Endpoints: from the assignment if it came, else none yet (the
		 * cluster is there, connections to it fail until they come). */
		const struct resource *cla = find(current(T_ENDPOINTS), refs.eds_service_name);
		ProtobufCMessage *m = cla ? decode(d, T_ENDPOINTS, cla->bytes, cla->len, err, errlen)
					  : NULL;
		if (cla && !m)
			rc = -EINVAL;
		if (m) {
			rc = xds_translate_endpoints(
				(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)m,
				&c.endpoints, &c.n_endpoints, err, errlen);
			xds_decoder_free(d, m);
		}
	}
	bool add = rc == 0;
	if (rc == 0 && c.tls) {
		char why[400];
		rc = apply_secrets(d, &refs.tls, c.tls, why, sizeof(why));
		add = rc == 0;
		if (rc < 0 && rc != -EAGAIN)
			snprintf(err, errlen, "cluster \"%s\": transport_socket: %s", c.name, why);
		rc = warming(rc, "cluster", c.name, why);
	}
	xds_cluster_refs_clear(&refs);
	if (add)
		rc = snapshot_add_cluster(snap, &c);
	xds_cluster_clear(&c); /* what was not moved, identity included */
	return rc;
}

/* Adds the listener of r to snap, unless it warms (*warms: a secret or a
 * route configuration it needs has not come; snapshot_link would drop it). */
static int add_listener(struct snapshot *snap, struct xds_decoder *d, const struct resource *r,
			bool *warms, char *err, size_t errlen)
{
	ProtobufCMessage *msg = decode(d, T_LISTENER, r->bytes, r->len, err, errlen);
	if (!msg)
		return -EINVAL;
	struct listener l = { 0 };
	struct xds_listener_refs refs = { 0 };
	int rc = xds_translate_listener((const Envoy__Config__Listener__V3__Listener *)msg, &l,
					&refs, err, errlen);
	xds_decoder_free(d, msg);
	bool add = rc == 0;
	/* Every chain is resolved, warming or not, so all its secrets are
	 * subscribed to at once. */
	for (size_t i = 0; rc == 0 && i < l.n_chains; i++) {
		if (!l.chains[i].tls)
			continue;
		char why[400];
		int crc = apply_secrets(d, &refs.chains[i], l.chains[i].tls, why, sizeof(why));
		if (crc < 0)
			add = false;
		if (crc < 0 && crc != -EAGAIN)
			snprintf(err, errlen, "listener \"%s\": filter_chains[%zu]: %s", l.name, i,
				 why);
		rc = warming(crc, "listener", l.name, why);
	}
	xds_listener_refs_clear(&refs);
	/* A listener whose route configuration has not come warms; the
	 * subscription brings it. */
	for (size_t i = 0; rc == 0 && i < l.n_chains; i++) {
		const struct http_conn_manager_config *h = l.chains[i].http;
		if (!h || !h->rds_name)
			continue;
		want(T_ROUTE, h->rds_name);
		if (!find(current(T_ROUTE), h->rds_name)) {
			log_info("xds: listener %s waits for its route configuration %s: not active "
				 "yet", l.name, h->rds_name);
			add = false;
		}
	}
	*warms = rc == 0 && !add;
	if (add)
		rc = snapshot_add_listener(snap, &l);
	xds_listener_clear(&l); /* what was not moved, identities included */
	return rc;
}

/* A route configuration the listeners refer to goes into the snapshot; one
 * that just arrived is translated (its regexes compiled) even when nothing
 * refers to it yet, so that a bad one is NACKed in the response that
 * brought it, as Envoy does. */
static int add_route_config(struct snapshot *snap, struct xds_decoder *d, const struct resource *r,
			    char *err, size_t errlen)
{
	bool referenced = names_has(wanted[T_ROUTE].v, wanted[T_ROUTE].n, r->name);
	if (!referenced && !r->arrived)
		return 0;
	ProtobufCMessage *msg = decode(d, T_ROUTE, r->bytes, r->len, err, errlen);
	if (!msg)
		return -EINVAL;
	struct route_config rc = { 0 };
	int rc_err = xds_translate_route_config(
		(const Envoy__Config__Route__V3__RouteConfiguration *)msg, &rc, err, errlen);
	xds_decoder_free(d, msg);
	if (rc_err == 0 && referenced) {
		rc.version = strdup(r->version);
		rc_err = rc.version ? snapshot_add_route_config(snap, &rc) : -ENOMEM;
	}
	xds_route_config_clear(&rc);
	if (rc_err == -ENOMEM)
		snprintf(err, errlen, "route_configuration \"%s\": out of memory", r->name);
	return rc_err;
}

/* Listeners of the bootstrap (and the node's pods) may take their routes
 * over RDS too: their names are subscribed with the ones xDS listeners
 * bring. */
static void want_static_routes(const struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n_listeners; i++)
		for (size_t j = 0; j < snap->listeners[i].n_chains; j++) {
			const struct http_conn_manager_config *h = snap->listeners[i].chains[j].http;
			if (h && h->rds_name)
				want(T_ROUTE, h->rds_name);
		}
}

int ads_add_resources(struct snapshot *snap, char *err, size_t errlen, void *arg)
{
	(void)arg;
	if (!ads.running)
		return 0;
	clear_wanted();
	want_static_routes(snap);
	struct xds_decoder d;
	xds_decoder_init(&d, RESOURCE_MAX);
	const struct resource_set *clusters = current(T_CLUSTER), *listeners = current(T_LISTENER);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < clusters->n; i++)
		rc = add_cluster(snap, &d, &clusters->v[i], err, errlen);
	/* A changed listener that warms leaves its previous version serving
	 * until it is ready, as Envoy warms a listener update. */
	for (size_t i = 0; rc == 0 && i < listeners->n; i++) {
		const struct resource *r = &listeners->v[i], *prev;
		bool warm = false;
		rc = add_listener(snap, &d, r, &warm, err, errlen);
		if (rc == 0 && warm && listeners != &ads.types[T_LISTENER].have &&
		    (prev = find(&ads.types[T_LISTENER].have, r->name)) &&
		    (prev->len != r->len || memcmp(prev->bytes, r->bytes, r->len) != 0))
			rc = add_listener(snap, &d, prev, &warm, err, errlen);
	}
	const struct resource_set *routes = current(T_ROUTE);
	for (size_t i = 0; rc == 0 && i < routes->n; i++)
		rc = add_route_config(snap, &d, &routes->v[i], err, errlen);
	return rc;
}

static void on_message(void *arg, const uint8_t *msg, size_t len)
{
	(void)arg;
	ProtobufCMessage *resp = protobuf_c_message_unpack(
		ads.delta ? &envoy__service__discovery__v3__delta_discovery_response__descriptor
			  : &envoy__service__discovery__v3__discovery_response__descriptor,
		NULL, len, msg);
	if (!resp) {
		/* Without a nonce there is nothing to NACK: the stream is unusable. */
		log_warn("xds: undecodable %sDiscoveryResponse (%zu bytes): reconnecting",
			 ads.delta ? "Delta" : "", len);
		ads.stream_dead = true;
		return;
	}
	if (ads.delta)
		on_delta_response((const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *)resp);
	else
		on_response((const Envoy__Service__Discovery__V3__DiscoveryResponse *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
}

/* ---- the stream ---- */

static void on_open(void *arg)
{
	(void)arg;
	log_info("xds: connected to %s%s", ads.authority, ads.tls_ctx ? " over TLS" : "");
	ads.node_sent = false;
	for (int t = 0; t < T_COUNT; t++)
		ads.types[t].opened = false;
	/* Clusters first, then listeners: a listener's clusters are known (and
	 * warm) when it arrives. Versions held are sent, so a control plane
	 * that restarted knows what this proxy already runs. */
	send_request(T_CLUSTER, NULL, NULL);
	if (ads.types[T_ENDPOINTS].n_names)
		send_request(T_ENDPOINTS, NULL, NULL);
	if (ads.types[T_SECRET].n_names)
		send_request(T_SECRET, NULL, NULL);
	send_request(T_LISTENER, NULL, NULL);
	if (ads.types[T_ROUTE].n_names)
		send_request(T_ROUTE, NULL, NULL);
	if (ads.hooks.workloads)
		send_request(T_WORKLOAD, NULL, NULL);
}

static void on_close(void *arg, int status, const char *reason)
{
	(void)arg;
	log_warn("xds: stream to %s ended (%d: %s); keeping the last configuration", ads.authority,
		 status, reason);
	ads.stream_dead = true;
}

static const struct grpc_stream_cbs stream_cbs = { on_open, on_message, on_close };

/* Backoff with jitter in [0.5, 1.5) x, so a fleet of proxies does not
 * reconnect in step when the control plane comes back. */
static void schedule_reconnect(void)
{
	uint64_t jittered = ads.backoff_ms / 2 + (uint64_t)random() % (ads.backoff_ms + 1);
	ads.next_connect_ms = loop_now_ms() + jittered;
	ads.backoff_ms = ads.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ads.backoff_ms * 2;
}

static void connect_now(void)
{
	ads.connects++;
	ads.stream_dead = false;
	int rc = grpc_stream_open(ads.loop, &ads.server, ads.authority, ads.tls_ctx, ads.sni,
				  ads.delta ? ADS_DELTA_PATH : ADS_PATH, RESPONSE_MAX,
				  &stream_cbs, NULL, &ads.stream);
	if (rc < 0) {
		log_warn("xds: connecting to %s: %s", ads.authority, strerror(-rc));
		ads.stream = NULL;
		schedule_reconnect();
	}
}

void ads_tick(void)
{
	if (!ads.running)
		return;
	uint64_t now = loop_now_ms();
	if (ads.stream && ads.stream_dead) {
		grpc_stream_free(ads.stream);
		ads.stream = NULL;
		for (int t = 0; t < T_COUNT; t++)
			unstage((enum xds_type)t);
		schedule_reconnect();
	}
	if (!ads.stream && now >= ads.next_connect_ms)
		connect_now();
	if (ads.stream && !ads.stream_dead)
		grpc_stream_keepalive(ads.stream, now, KEEPALIVE_INTERVAL_MS, KEEPALIVE_TIMEOUT_MS);
}

int ads_start(struct loop *loop, const struct snapshot *bootstrap, const struct ads_hooks *hooks,
	      char *err, size_t errlen)
{
	if (!bootstrap->ads.cluster_name)
		return 0;
	const struct cluster *c = snapshot_find_cluster(bootstrap, bootstrap->ads.cluster_name);
	if (!c || c->type != CLUSTER_STATIC || c->n_endpoints == 0) {
		snprintf(err, errlen, "ads_config: cluster %s must be a STATIC cluster with an endpoint",
			 bootstrap->ads.cluster_name);
		return -EINVAL;
	}
	/* TLS (mTLS with a certificate) to the control plane: the context the
	 * bootstrap built for the cluster, which verifies the control plane's
	 * SPIFFE id as any upstream's. Its files are read at start-up. */
	if (c->tls && !c->tls->ctx) {
		snprintf(err, errlen, "ads_config: cluster %s: its TLS context was not built",
			 bootstrap->ads.cluster_name);
		return -EINVAL;
	}
	ads.delta = bootstrap->ads.delta;
	ads.loop = loop;
	ads.hooks = *hooks;
	ads.server = c->endpoints[0].addr;
	sock_addr_format(&ads.server, ads.authority, sizeof(ads.authority));
	if (c->tls) {
		SSL_CTX_up_ref(c->tls->ctx);
		ads.tls_ctx = c->tls->ctx;
		if (c->tls->sni) {
			ads.sni = strdup(c->tls->sni);
			snprintf(ads.authority, sizeof(ads.authority), "%s", c->tls->sni);
		}
	}
	ads.node_id = strdup(bootstrap->node.id ? bootstrap->node.id : "");
	ads.node_cluster = strdup(bootstrap->node.cluster ? bootstrap->node.cluster : "");
	ads.types[T_CLUSTER].wildcard = true;
	ads.types[T_LISTENER].wildcard = true;
	ads.types[T_WORKLOAD].wildcard = true;
	ads.backoff_ms = BACKOFF_MIN_MS;
	ads.running = true;
	clear_wanted();
	want_static_routes(bootstrap);
	follow_references(); /* no stream yet: on_open sends them */
	connect_now();
	return 0;
}

void ads_stop(void)
{
	if (ads.stream)
		grpc_stream_free(ads.stream);
	for (int t = 0; t < T_COUNT; t++) {
		struct type_state *ts = &ads.types[t];
		set_free(&ts->have);
		set_free(&ts->stage);
		struct name_list names = { ts->names, ts->n_names };
		names_free(&names);
		free(ts->version);
	}
	free(ads.node_id);
	free(ads.node_cluster);
	free(ads.sni);
	SSL_CTX_free(ads.tls_ctx);
	clear_wanted();
	memset(&ads, 0, sizeof(ads));
}

/* The accepted resources of type t as config_dump entries (malloc'd array,
 * strings borrowed), *n of them; NULL when none or out of memory. */
static struct config_dump_resource *dump_entries(enum xds_type t, size_t *n)
{
	const struct resource_set *set = &ads.types[t].have;
	struct config_dump_resource *v = set->n ? calloc(set->n, sizeof(*v)) : NULL;
	*n = v ? set->n : 0;
	for (size_t i = 0; i < *n; i++)
		v[i] = (struct config_dump_resource){ set->v[i].name, set->v[i].version,
						      set->v[i].updated_ms };
	return v;
}

char *ads_config_dump(const struct snapshot *snap, size_t *len)
{
	if (!ads.running)
		return config_dump_json(snap, len);
	struct config_dump_dynamic dyn = { 0 };
	struct config_dump_resource *l = dump_entries(T_LISTENER, &dyn.n_listeners);
	struct config_dump_resource *c = dump_entries(T_CLUSTER, &dyn.n_clusters);
	struct config_dump_resource *e = dump_entries(T_ENDPOINTS, &dyn.n_endpoints);
	struct config_dump_resource *sec = dump_entries(T_SECRET, &dyn.n_secrets);
	struct config_dump_resource *r = dump_entries(T_ROUTE, &dyn.n_routes);
	struct config_dump_resource *w = dump_entries(T_WORKLOAD, &dyn.n_workloads);
	dyn.listeners = l;
	dyn.clusters = c;
	dyn.endpoints = e;
	dyn.secrets = sec;
	dyn.routes = r;
	dyn.workloads = w;
	dyn.has_workloads = ads.hooks.workloads != NULL;
	char *json = config_dump_json_dynamic(snap, &dyn, len);
	free(l);
	free(c);
	free(e);
	free(sec);
	free(r);
	free(w);
	return json;
}

char *ads_metrics(bool prometheus, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	if (ads.running) {
		if (prometheus) {
			fprintf(f, "# TYPE skiff_xds_connects_total counter\nskiff_xds_connects_total %llu\n",
				(unsigned long long)ads.connects);
			fprintf(f, "# TYPE skiff_xds_last_update_apply_ms gauge\n"
				   "skiff_xds_last_update_apply_ms %llu\n",
				(unsigned long long)ads.last_apply_ms);
			fputs("# TYPE skiff_xds_acks_total counter\n", f);
			for (int t = 0; t < T_COUNT; t++)
				fprintf(f, "skiff_xds_acks_total{type=\"%s\"} %llu\n", type_names[t],
					(unsigned long long)ads.types[t].acks);
			fputs("# TYPE skiff_xds_nacks_total counter\n", f);
			for (int t = 0; t < T_COUNT; t++)
				fprintf(f, "skiff_xds_nacks_total{type=\"%s\"} %llu\n", type_names[t],
					(unsigned long long)ads.types[t].nacks);
		} else {
			fprintf(f, "xds.connects: %llu\nxds.last_update_apply_ms: %llu\n",
				(unsigned long long)ads.connects, (unsigned long long)ads.last_apply_ms);
			for (int t = 0; t < T_COUNT; t++)
				fprintf(f, "xds.%s.acks: %llu\nxds.%s.nacks: %llu\n", type_names[t],
					(unsigned long long)ads.types[t].acks, type_names[t],
					(unsigned long long)ads.types[t].nacks);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
