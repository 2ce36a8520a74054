/* Tests xds/translate_http.c: RouteConfiguration (RDS) into struct
 * route_config, and listeners with an http_connection_manager, from
 * protobuf messages built here as the control plane would send them. Every
 * refusal is checked with its whole message (the NACK's error_detail),
 * except where PCRE2 words the reason. With XDS_FUZZ_CORPUS=<dir> it also
 * writes the RDS and HCM seeds of test/fuzz/corpus/xds_translate/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/extensions/access_loggers/file/v3/file.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "proxy/http_head.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"
#include "xds/resources.h"
#include "xds/translate.h"

typedef Envoy__Config__Route__V3__RouteConfiguration RouteConfiguration;
typedef Envoy__Config__Route__V3__VirtualHost VirtualHost;
typedef Envoy__Config__Route__V3__Route Route;
typedef Envoy__Config__Route__V3__RouteMatch RouteMatch;
typedef Envoy__Config__Route__V3__RouteMatch__ConnectMatcher ConnectMatcher;
typedef Envoy__Config__Route__V3__RouteAction RouteAction;
typedef Envoy__Config__Route__V3__RouteAction__HashPolicy HashPolicy;
typedef Envoy__Config__Route__V3__RouteAction__HashPolicy__Header HashHeader;
typedef Envoy__Config__Route__V3__RetryPolicy RetryPolicy;
typedef Envoy__Config__Route__V3__WeightedCluster WeightedCluster;
typedef Envoy__Config__Route__V3__WeightedCluster__ClusterWeight ClusterWeight;
typedef Envoy__Config__Route__V3__RedirectAction RedirectAction;
typedef Envoy__Config__Route__V3__DirectResponseAction DirectResponseAction;
typedef Envoy__Config__Route__V3__HeaderMatcher HeaderMatcher;
typedef Envoy__Config__Route__V3__QueryParameterMatcher QueryParameterMatcher;
typedef Envoy__Config__Core__V3__HeaderValueOption HeaderValueOption;
typedef Envoy__Config__Core__V3__HeaderValue HeaderValue;
typedef Envoy__Config__Core__V3__DataSource DataSource;
typedef Envoy__Type__Matcher__V3__StringMatcher StringMatcher;
typedef Envoy__Type__Matcher__V3__RegexMatcher RegexMatcher;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager Hcm;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds Rds;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter HttpFilter;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager__UpgradeConfig
    UpgradeConfig;
typedef Google__Protobuf__Any Any;
typedef Google__Protobuf__Duration Duration;
typedef Google__Protobuf__UInt32Value UInt32Value;
typedef Google__Protobuf__BoolValue BoolValue;

#define TYPE(name) "type.googleapis.com/" name
#define HCM_T                                                                                      \
	TYPE("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")
#define ROUTER_T TYPE("envoy.extensions.filters.http.router.v3.Router")
#define FAULT_T TYPE("envoy.extensions.filters.http.fault.v3.HTTPFault")
#define FILE_LOG_T TYPE("envoy.extensions.access_loggers.file.v3.FileAccessLog")

static ProtobufCBinaryData B(const char *s)
{
	return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

/* ---- memory the built messages use, freed after each test ------------- */

static void *kept[256];
static size_t n_kept;

static void *keep(void *p)
{
	assert_non_null(p);
	assert_true(n_kept < sizeof(kept) / sizeof(kept[0]));
	return kept[n_kept++] = p;
}

static void free_kept(void)
{
	while (n_kept)
		free(kept[--n_kept]);
}

static Any *any_of(const char *url, const void *msg)
{
	Any *a = keep(calloc(1, sizeof(*a)));
	google__protobuf__any__init(a);
	a->type_url = (char *)url;
	size_t n = protobuf_c_message_get_packed_size(msg);
	a->value.data = keep(malloc(n ? n : 1));
	a->value.len = protobuf_c_message_pack(msg, a->value.data);
	return a;
}

static void add_unknown(ProtobufCMessage *m, uint32_t tag)
{
	static uint8_t varint_one = 1;
	ProtobufCMessageUnknownField *u = keep(calloc(1, sizeof(*u)));
	u->tag = tag;
	u->wire_type = PROTOBUF_C_WIRE_TYPE_VARINT;
	u->len = 1;
	u->data = &varint_one;
	m->n_unknown_fields = 1;
	m->unknown_fields = u;
}

static Duration *dur(Duration *d, int64_t s, int32_t ns)
{
	google__protobuf__duration__init(d);
	d->seconds = s;
	d->nanos = ns;
	return d;
}

static UInt32Value *u32(UInt32Value *w, uint32_t v)
{
	google__protobuf__uint32_value__init(w);
	w->value = v;
	return w;
}

static void header(HeaderValueOption *o, HeaderValue *h, const char *k, const char *v)
{
	envoy__config__core__v3__header_value_option__init(o);
	envoy__config__core__v3__header_value__init(h);
	h->key = B(k);
	h->value = B(v);
	o->header = h;
}

/* ---- a route configuration ------------------------------------------------ */

/* "local_route": one virtual host "backend" (Example.com, *.example.org)
 * with four routes:
 *   [0] prefix /api, header x-canary exact "1", query q present
 *       -> weighted v1 90 / v2 10, timeout 2s, idle 30s, prefix_rewrite /,
 *          host_rewrite_literal, retries, hash on x-user
 *   [1] safe_regex /items/[0-9]+ -> cluster items
 *   [2] path /old -> redirect https://new.example.com/new (302)
 *   [3] prefix / -> direct_response 404 "nope"
 * and header edits at the three levels. */
struct rfx {
	RouteConfiguration rc;
	VirtualHost vh, *vhs[2];
	ProtobufCBinaryData domains[2], rm[2];
	Route r[4], *rs[4];
	RouteMatch m[4];
	HeaderMatcher hm, *hms[1];
	StringMatcher hm_exact;
	QueryParameterMatcher qm, *qms[1];
	RegexMatcher re;
	RouteAction a0, a1;
	WeightedCluster wc;
	ClusterWeight cw[2], *cws[2];
	UInt32Value w[3];
	Duration timeout, idle, per_try, back_base, back_max;
	RetryPolicy retry;
	Envoy__Config__Route__V3__RetryPolicy__RetryBackOff back_off;
	Envoy__Config__Route__V3__RetryPolicy__RetryHostPredicate pred, *preds[1];
	Any pred_type;
	uint32_t codes[1];
	HashPolicy hp, hp_ip, hp_q, *hps[3];
	HashHeader hh;
	Envoy__Config__Route__V3__RouteAction__HashPolicy__ConnectionProperties conn;
	Envoy__Config__Route__V3__RouteAction__HashPolicy__QueryParameter q;
	Envoy__Config__Route__V3__RouteAction__HashPolicy__Cookie cookie; /* unused until a test
									   * switches to it */
	RedirectAction redirect;
	DirectResponseAction direct;
	DataSource body;
	HeaderValueOption add[3], *add_rc[1], *add_vh[1], *add_route[1];
	HeaderValue hv[3];
	BoolValue no_append;
	struct route_config out;
	char err[512];
};

static void rfx_init(struct rfx *f)
{
	memset(f, 0, sizeof(*f));
	envoy__config__route__v3__route_configuration__init(&f->rc);
	envoy__config__route__v3__virtual_host__init(&f->vh);
	f->rc.name = B("local_route");
	f->vhs[0] = &f->vh;
	f->rc.n_virtual_hosts = 1;
	f->rc.virtual_hosts = f->vhs;
	f->vh.name = B("backend");
	f->domains[0] = B("Example.com");
	f->domains[1] = B("*.example.org");
	f->vh.n_domains = 2;
	f->vh.domains = f->domains;
	for (int i = 0; i < 4; i++) {
		envoy__config__route__v3__route__init(&f->r[i]);
		envoy__config__route__v3__route_match__init(&f->m[i]);
		f->r[i].match = &f->m[i];
		f->rs[i] = &f->r[i];
	}
	f->vh.n_routes = 4;
	f->vh.routes = f->rs;

	/* [0] */
	f->r[0].name = B("api");
	f->m[0].path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
	f->m[0].prefix = B("/api");
	envoy__config__route__v3__header_matcher__init(&f->hm);
	envoy__type__matcher__v3__string_matcher__init(&f->hm_exact);
	f->hm.name = B("X-Canary");
	f->hm_exact.match_pattern_case =
	    ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT;
	f->hm_exact.exact = B("1");
	f->hm.header_match_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH;
	f->hm.string_match = &f->hm_exact;
	f->hms[0] = &f->hm;
	f->m[0].n_headers = 1;
	f->m[0].headers = f->hms;
	envoy__config__route__v3__query_parameter_matcher__init(&f->qm);
	f->qm.name = B("q");
	f->qm.query_parameter_match_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_PRESENT_MATCH;
	f->qm.present_match = true;
	f->qms[0] = &f->qm;
	f->m[0].n_query_parameters = 1;
	f->m[0].query_parameters = f->qms;
	envoy__config__route__v3__route_action__init(&f->a0);
	envoy__config__route__v3__weighted_cluster__init(&f->wc);
	const char *names[] = {"v1", "v2"};
	const uint32_t weights[] = {90, 10};
	for (int i = 0; i < 2; i++) {
		envoy__config__route__v3__weighted_cluster__cluster_weight__init(&f->cw[i]);
		f->cw[i].name = B(names[i]);
		f->cw[i].weight = u32(&f->w[i], weights[i]);
		f->cws[i] = &f->cw[i];
	}
	f->wc.n_clusters = 2;
	f->wc.clusters = f->cws;
	f->a0.cluster_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS;
	f->a0.weighted_clusters = &f->wc;
	f->a0.timeout = dur(&f->timeout, 2, 0);
	f->a0.idle_timeout = dur(&f->idle, 30, 0);
	f->a0.prefix_rewrite = B("/");
	f->a0.host_rewrite_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL;
	f->a0.host_rewrite_literal = B("api.internal");
	envoy__config__route__v3__retry_policy__init(&f->retry);
	f->retry.retry_on = B("5xx,connect-failure, unavailable,retriable-status-codes");
	f->retry.num_retries = u32(&f->w[2], 3);
	f->retry.per_try_timeout = dur(&f->per_try, 0, 500000000);
	envoy__config__route__v3__retry_policy__retry_back_off__init(&f->back_off);
	f->back_off.base_interval = dur(&f->back_base, 0, 50000000);
	f->back_off.max_interval = dur(&f->back_max, 1, 0);
	f->retry.retry_back_off = &f->back_off;
	/* Istio's default: by name, with its typed_config */
	envoy__config__route__v3__retry_policy__retry_host_predicate__init(&f->pred);
	f->pred.name = B("envoy.retry_host_predicates.previous_hosts");
	google__protobuf__any__init(&f->pred_type);
	f->pred_type.type_url =
	    "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";
	f->pred.typed_config = &f->pred_type;
	f->preds[0] = &f->pred;
	f->retry.n_retry_host_predicate = 1;
	f->retry.retry_host_predicate = f->preds;
	f->retry.host_selection_retry_max_attempts = 5;
	f->codes[0] = 503;
	f->retry.n_retriable_status_codes = 1;
	f->retry.retriable_status_codes = f->codes;
	f->a0.retry_policy = &f->retry;
	envoy__config__route__v3__route_action__hash_policy__init(&f->hp);
	envoy__config__route__v3__route_action__hash_policy__header__init(&f->hh);
	f->hh.header_name = B("X-User");
	f->hp.policy_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER;
	f->hp.header = &f->hh;
	f->hps[0] = &f->hp;
	/* Istio's useSourceIp, and a query parameter ending the list */
	envoy__config__route__v3__route_action__hash_policy__init(&f->hp_ip);
	envoy__config__route__v3__route_action__hash_policy__connection_properties__init(&f->conn);
	f->conn.source_ip = true;
	f->hp_ip.policy_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_CONNECTION_PROPERTIES;
	f->hp_ip.connection_properties = &f->conn;
	f->hps[1] = &f->hp_ip;
	envoy__config__route__v3__route_action__hash_policy__init(&f->hp_q);
	envoy__config__route__v3__route_action__hash_policy__query_parameter__init(&f->q);
	f->q.name = B("shard");
	f->hp_q.policy_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_QUERY_PARAMETER;
	f->hp_q.query_parameter = &f->q;
	f->hp_q.terminal = true;
	f->hps[2] = &f->hp_q;
	envoy__config__route__v3__route_action__hash_policy__cookie__init(&f->cookie);
	f->a0.n_hash_policy = 3;
	f->a0.hash_policy = f->hps;
	f->r[0].action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
	f->r[0].route = &f->a0;

	/* [1] */
	envoy__type__matcher__v3__regex_matcher__init(&f->re);
	f->re.regex = B("/items/[0-9]+");
	f->m[1].path_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX;
	f->m[1].safe_regex = &f->re;
	envoy__config__route__v3__route_action__init(&f->a1);
	f->a1.cluster_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
	f->a1.cluster = B("items");
	f->r[1].action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
	f->r[1].route = &f->a1;

	/* [2] */
	f->m[2].path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH;
	f->m[2].path = B("/old");
	envoy__config__route__v3__redirect_action__init(&f->redirect);
	f->redirect.scheme_rewrite_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT;
	f->redirect.https_redirect = true;
	f->redirect.host_redirect = B("new.example.com");
	f->redirect.path_rewrite_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT;
	f->redirect.path_redirect = B("/new");
	f->redirect.response_code =
	    ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__FOUND;
	f->r[2].action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT;
	f->r[2].redirect = &f->redirect;

	/* [3] */
	f->m[3].path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
	f->m[3].prefix = B("/");
	envoy__config__route__v3__direct_response_action__init(&f->direct);
	envoy__config__core__v3__data_source__init(&f->body);
	f->direct.status = 404;
	f->body.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING;
	f->body.inline_string = B("nope");
	f->direct.body = &f->body;
	f->r[3].action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE;
	f->r[3].direct_response = &f->direct;

	/* edits: the configuration adds x-rc (append), removes server from
	 * responses; the host sets x-vh on responses (append false); the
	 * route overwrites x-route. */
	header(&f->add[0], &f->hv[0], "x-rc", "1");
	f->add_rc[0] = &f->add[0];
	f->rc.n_request_headers_to_add = 1;
	f->rc.request_headers_to_add = f->add_rc;
	f->rm[0] = B("Server");
	f->rc.n_response_headers_to_remove = 1;
	f->rc.response_headers_to_remove = f->rm;
	header(&f->add[1], &f->hv[1], "x-vh", "b");
	google__protobuf__bool_value__init(&f->no_append);
	f->add[1].append = &f->no_append;
	f->add_vh[0] = &f->add[1];
	f->vh.n_response_headers_to_add = 1;
	f->vh.response_headers_to_add = f->add_vh;
	header(&f->add[2], &f->hv[2], "X-Route", "a");
	f->add[2].append_action =
	    ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD;
	f->add_route[0] = &f->add[2];
	f->r[0].n_request_headers_to_add = 1;
	f->r[0].request_headers_to_add = f->add_route;
}

static int rfx_translate(struct rfx *f)
{
	xds_route_config_clear(&f->out);
	f->err[0] = '\0';
	return xds_translate_route_config(&f->rc, &f->out, f->err, sizeof(f->err));
}

static void test_route_config(void **state)
{
	(void)state;
	struct rfx *f = keep(malloc(sizeof(*f)));
	rfx_init(f);
	assert_int_equal(rfx_translate(f), 0);
	const struct route_config *rc = &f->out;
	assert_string_equal(rc->name, "local_route");
	assert_int_equal(rc->n_vhosts, 1);
	assert_int_equal(rc->edits.n_request_add, 1);
	assert_string_equal(rc->edits.request_add[0].name, "x-rc");
	assert_true(rc->edits.request_add[0].append);
	assert_string_equal(rc->edits.response_remove[0], "server");
	const struct virtual_host *vh = &rc->vhosts[0];
	assert_string_equal(vh->name, "backend");
	assert_int_equal(vh->n_domains, 2);
	assert_string_equal(vh->domains[0], "example.com");
	assert_string_equal(vh->domains[1], "*.example.org");
	assert_false(vh->edits.response_add[0].append);
	assert_int_equal(vh->n_routes, 4);

	const struct route *r = &vh->routes[0];
	assert_string_equal(r->name, "api");
	assert_int_equal(r->match.kind, PATH_PREFIX);
	assert_string_equal(r->match.value, "/api");
	assert_true(r->match.case_sensitive);
	assert_int_equal(r->match.n_headers, 1);
	assert_string_equal(r->match.headers[0].name, "x-canary");
	assert_int_equal(r->match.headers[0].value.kind, SM_EXACT);
	assert_string_equal(r->match.headers[0].value.value, "1");
	assert_false(r->match.headers[0].invert);
	assert_true(r->match.query[0].present_only);
	assert_int_equal(r->kind, ROUTE_TO_CLUSTER);
	assert_null(r->cluster_name);
	assert_int_equal(r->n_weighted, 2);
	assert_string_equal(r->weighted[1].name, "v2");
	assert_int_equal(r->weighted[1].weight, 10);
	assert_int_equal(r->total_weight, 100);
	assert_int_equal(r->timeout_ms, 2000);
	assert_int_equal(r->idle_timeout_ms, 30000);
	assert_true(r->has_idle_timeout);
	assert_string_equal(r->prefix_rewrite, "/");
	assert_string_equal(r->host_rewrite, "api.internal");
	assert_int_equal(r->retry.retry_on,
			 RETRY_5XX | RETRY_CONNECT_FAILURE | RETRY_RETRIABLE_STATUS);
	assert_int_equal(r->retry.num_retries, 3);
	assert_int_equal(r->retry.per_try_timeout_ms, 500);
	assert_int_equal(r->retry.back_off_base_ms, 50);
	assert_int_equal(r->retry.back_off_max_ms, 1000);
	assert_true(r->retry.previous_hosts);
	assert_int_equal(r->retry.host_selection_max_attempts, 5);
	assert_int_equal(r->retry.n_retriable_status_codes, 1);
	assert_int_equal(r->retry.retriable_status_codes[0], 503);
	assert_int_equal(r->n_hash_policies, 3);
	assert_int_equal(r->hash_policies[0].kind, HASH_HEADER);
	assert_string_equal(r->hash_policies[0].name, "x-user");
	assert_int_equal(r->hash_policies[1].kind, HASH_SOURCE_IP);
	assert_false(r->hash_policies[1].terminal);
	assert_int_equal(r->hash_policies[2].kind, HASH_QUERY_PARAMETER);
	assert_string_equal(r->hash_policies[2].name, "shard");
	assert_true(r->hash_policies[2].terminal);
	assert_string_equal(r->edits.request_add[0].name, "x-route");
	assert_false(r->edits.request_add[0].append);

	r = &vh->routes[1];
	assert_null(r->name);
	assert_int_equal(r->match.kind, PATH_REGEX);
	assert_non_null(r->match.re); /* compiled */
	assert_string_equal(r->cluster_name, "items");
	assert_int_equal(r->timeout_ms, 15000);
	assert_int_equal(r->retry.retry_on, 0);

	r = &vh->routes[2];
	assert_int_equal(r->match.kind, PATH_EXACT);
	assert_int_equal(r->kind, ROUTE_REDIRECT);
	assert_string_equal(r->redirect_scheme, "https");
	assert_string_equal(r->redirect_host, "new.example.com");
	assert_string_equal(r->redirect_path, "/new");
	assert_int_equal(r->redirect_code, 302);

	r = &vh->routes[3];
	assert_int_equal(r->kind, ROUTE_DIRECT_RESPONSE);
	assert_int_equal(r->direct_status, 404);
	assert_string_equal(r->direct_body, "nope");
	xds_route_config_clear(&f->out);
	free_kept();
}

/* Istio's httpCookie: a cookie hash policy with its ttl and path. */
static void test_cookie_hash_policy(void **state)
{
	(void)state;
	struct rfx *f = keep(malloc(sizeof(*f)));
	rfx_init(f);
	Google__Protobuf__Duration ttl;
	google__protobuf__duration__init(&ttl);
	ttl.seconds = 300;
	f->cookie.name = B("sid");
	f->cookie.ttl = &ttl;
	f->cookie.path = B("/app");
	f->hp_q.policy_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_COOKIE;
	f->hp_q.cookie = &f->cookie;
	assert_int_equal(rfx_translate(f), 0);
	const struct hash_policy *p = &f->out.vhosts[0].routes[0].hash_policies[2];
	assert_int_equal(p->kind, HASH_COOKIE);
	assert_string_equal(p->name, "sid");
	assert_true(p->has_ttl);
	assert_int_equal(p->ttl_s, 300);
	assert_string_equal(p->path, "/app");
	assert_true(p->terminal);
	xds_route_config_clear(&f->out);
}

/* The catch-all prefix "" is set though empty; absent is an error. A
 * header matcher with no specifier (or present_match) is on presence,
 * present_match false on absence. */
static void test_route_match_forms(void **state)
{
	(void)state;
	struct rfx *f = keep(malloc(sizeof(*f)));
	rfx_init(f);
	f->m[3].prefix = B("");
	f->hm.header_match_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH;
	f->hm.present_match = false;
	assert_int_equal(rfx_translate(f), 0);
	assert_string_equal(f->out.vhosts[0].routes[3].match.value, "");
	assert_true(f->out.vhosts[0].routes[0].match.headers[0].present_only);
	assert_true(f->out.vhosts[0].routes[0].match.headers[0].invert);
	f->hm.header_match_specifier_case = 0;
	f->hm.invert_match = true;
	assert_int_equal(rfx_translate(f), 0);
	assert_true(f->out.vhosts[0].routes[0].match.headers[0].present_only);
	assert_true(f->out.vhosts[0].routes[0].match.headers[0].invert);
	/* The deprecated forms and safe_regex_match; ignore_case. */
	f->hm.header_match_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH;
	f->hm.safe_regex_match = &f->re;
	f->hm_exact.ignore_case = true;
	assert_int_equal(rfx_translate(f), 0);
	assert_int_equal(f->out.vhosts[0].routes[0].match.headers[0].value.kind, SM_REGEX);
	assert_non_null(f->out.vhosts[0].routes[0].match.headers[0].value.re);
	f->hm.header_match_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH;
	f->hm.suffix_match = B(".json");
	assert_int_equal(rfx_translate(f), 0);
	assert_int_equal(f->out.vhosts[0].routes[0].match.headers[0].value.kind, SM_SUFFIX);
	BoolValue insensitive;
	google__protobuf__bool_value__init(&insensitive);
	f->m[0].case_sensitive = &insensitive;
	assert_int_equal(rfx_translate(f), 0);
	assert_false(f->out.vhosts[0].routes[0].match.case_sensitive);
	xds_route_config_clear(&f->out);
	free_kept();
}

static uint8_t big_body[5000];

static void test_route_config_errors(void **state)
{
	(void)state;
	struct {
		void (*change)(struct rfx *f);
		const char *want;
	} * t,
	    cases[] = {
#define CASE(body, msg)                                                                            \
	{({                                                                                        \
		 void fn(struct rfx *x)                                                            \
		 {                                                                                 \
			 body;                                                                     \
		 }                                                                                 \
		 fn;                                                                               \
	 }),                                                                                       \
	 msg}
#define RC "route_configuration \"local_route\": "
#define VH RC "virtual_hosts[0]."
#define R0 VH "routes[0]."
		CASE(x->rc.name = B(""), "route_configuration \"\": name: required"),
		CASE(x->vh.name = B(""), VH "name: required"),
		CASE(x->vh.n_domains = 0, VH "domains: expected at least one domain"),
		CASE(x->domains[1] = B("a.*.org"),
		     VH "domains[1]: not a domain: \"a.*.org\" (a '*' may only open or close a "
			"name, or stand alone)"),
		CASE(x->domains[1] = B("*.example.*"),
		     VH "domains[1]: not a domain: \"*.example.*\" (a '*' may only open or close "
			"a name, or stand alone)"),
		CASE((x->rc.n_virtual_hosts = 2, x->vhs[1] = &x->vh),
		     RC "virtual_hosts[1].name: duplicate virtual host \"backend\""),
		CASE(x->domains[1] = B("EXAMPLE.com"),
		     RC "virtual_hosts[0].domains[1]: duplicate domain \"example.com\" (each "
			"domain may be in one virtual host)"),
		CASE(x->r[0].match = NULL, R0 "match: required"),
		CASE(x->m[0].path_specifier_case = 0,
		     R0 "match: expected one of prefix, path, safe_regex, connect_matcher"),
		CASE(
		    x->m[0].path_specifier_case =
			ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX,
		    R0 "match.path_separated_prefix: not supported by skiff (supported: prefix, "
		       "path, safe_regex, connect_matcher)"),
		CASE((x->m[0].path_specifier_case =
			  ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_CONNECT_MATCHER,
		      x->m[0].connect_matcher = keep(calloc(1, sizeof(ConnectMatcher))),
		      envoy__config__route__v3__route_match__connect_matcher__init(
			  x->m[0].connect_matcher),
		      add_unknown(&x->m[0].connect_matcher->base, 1)),
		     R0 "match.connect_matcher: field 1 is not supported by skiff (supported: "
			"none)"),
		CASE(add_unknown(&x->m[0].base, 9),
		     R0 "match: field 9 is not supported by skiff (supported: prefix, path, "
			"safe_regex, connect_matcher, case_sensitive, headers, query_parameters)"),
		CASE(add_unknown(&x->hm.base, 6),
		     R0 "match.headers[0]: field 6 is not supported by skiff (supported: name, "
			"exact_match, prefix_match, suffix_match, contains_match, "
			"safe_regex_match, string_match, present_match, invert_match)"),
		CASE(x->hm.name = B("x canary"),
		     R0 "match.headers[0].name: not a valid header name: \"x canary\""),
		CASE(x->hm_exact.match_pattern_case = 0,
		     R0 "match.headers[0].string_match: expected one of exact, prefix, suffix, "
			"contains, safe_regex"),
		CASE((x->hm_exact.match_pattern_case =
			  ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX,
		      x->hm_exact.safe_regex = &x->re, x->hm_exact.ignore_case = true),
		     R0 "match.headers[0].string_match.ignore_case: has no effect with safe_regex "
			"(Envoy refuses it too)"),
		CASE((x->hm_exact.match_pattern_case =
			  ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX,
		      x->hm_exact.prefix = B("")),
		     R0 "match.headers[0].string_match.prefix: must not be empty"),
		CASE(x->qm.present_match = false,
		     R0 "match.query_parameters[0].present_match: must be true (skiff has no "
			"absence match for a query parameter)"),
		CASE(x->r[0].action_case = 0,
		     VH "routes[0]: expected one of route, redirect, direct_response"),
		CASE(x->r[0].action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_FILTER_ACTION,
		     R0 "filter_action: not supported by skiff (supported: route, redirect, "
			"direct_response)"),
		CASE(x->a0.cluster_specifier_case = 0,
		     R0 "route: expected one of cluster, weighted_clusters"),
		CASE((x->a0.cluster_specifier_case =
			  ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER,
		      x->a0.cluster = B("")),
		     R0 "route.cluster: required"),
		CASE((x->a0.cluster_specifier_case =
			  ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER_HEADER),
		     R0 "route.cluster_header: not supported by skiff (supported: cluster, "
			"weighted_clusters)"),
		CASE((x->w[0].value = 0, x->w[1].value = 0),
		     R0 "route.weighted_clusters.clusters: the weights must add up to between 1 "
			"and 4294967295, got 0"),
		CASE(x->cw[1].name = B(""),
		     R0 "route.weighted_clusters.clusters[1].name: required"),
		CASE(x->wc.n_clusters = 0,
		     R0 "route.weighted_clusters.clusters: expected at least one cluster"),
		CASE(
		    x->a0.host_rewrite_specifier_case =
			ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_AUTO_HOST_REWRITE,
		    R0 "route.auto_host_rewrite: not supported by skiff (supported: "
		       "host_rewrite_literal)"),
		CASE(x->a0.host_rewrite_literal = B("a\r\nx-evil: 1"),
		     R0 "route.host_rewrite_literal: a header value may not hold CR or LF"),
		CASE(x->timeout.seconds = -1,
		     R0 "route.timeout: expected a duration of 0s or more (seconds >= 0, nanos in "
			"0..999999999)"),
		CASE(x->back_off.base_interval = NULL,
		     R0 "route.retry_policy.retry_back_off.base_interval: required"),
		CASE(x->back_base.nanos = 0,
		     R0 "route.retry_policy.retry_back_off.base_interval: must be at least 1ms"),
		CASE((x->back_max.seconds = 0, x->back_max.nanos = 10000000), R0
		     "route.retry_policy.retry_back_off.max_interval: below base_interval (10ms < "
		     "50ms)"),
		CASE((x->pred.name = B("envoy.retry_host_predicates.omit_canary_hosts"),
		      x->pred.typed_config = NULL),
		     R0 "route.retry_policy.retry_host_predicate[0]: not supported by skiff "
			"(supported: envoy.retry_host_predicates.previous_hosts)"),
		CASE(x->retry.host_selection_retry_max_attempts = -1,
		     R0 "route.retry_policy.host_selection_retry_max_attempts: expected 0..100, got -1"),
		CASE(x->codes[0] = 99,
		     R0 "route.retry_policy.retriable_status_codes[0]: expected an HTTP status "
			"(100..599), got 99"),
		CASE(x->hp.policy_specifier_case = 0,
		     R0 "route.hash_policy[0]: expected one of header, connection_properties, "
			"query_parameter, cookie"),
		CASE(x->hp_q.policy_specifier_case =
			 ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_FILTER_STATE,
		     R0 "route.hash_policy[2].filter_state: not supported by skiff (supported: "
			"header, connection_properties, query_parameter, cookie)"),
		CASE((x->hp_q.policy_specifier_case =
			  ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_COOKIE,
		      x->hp_q.cookie = &x->cookie, x->cookie.name = B("a b")),
		     R0 "route.hash_policy[2].cookie.name: not a cookie name"),
		CASE(x->conn.source_ip = false,
		     R0 "route.hash_policy[1].connection_properties.source_ip: must be true (the "
			"only connection property skiff hashes)"),
		CASE(x->q.name = B(""), R0 "route.hash_policy[2].query_parameter.name: required"),
		CASE((x->a0.n_hash_policy = 9,
		      x->a0.hash_policy = (HashPolicy *[]){&x->hp, &x->hp, &x->hp, &x->hp, &x->hp,
							    &x->hp, &x->hp, &x->hp, &x->hp}),
		     R0 "route.hash_policy: expected at most 8 hash policies, got 9"),
		CASE(x->hh.header_name = B(""),
		     R0 "route.hash_policy[0].header.header_name: required"),
		CASE(add_unknown(&x->redirect.base, 8),
		     VH "routes[2].redirect: field 8 is not supported by skiff (supported: "
			"https_redirect, scheme_redirect, host_redirect, path_redirect, "
			"prefix_rewrite, response_code, strip_query)"),
		CASE(
		    (x->redirect.scheme_rewrite_specifier_case =
			 ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT,
		     x->redirect.scheme_redirect = B("ftp")),
		    VH "routes[2].redirect.scheme_redirect: expected http or https"),
		CASE(x->redirect.response_code = 9,
		     VH "routes[2].redirect.response_code: expected one of MOVED_PERMANENTLY, "
			"FOUND, SEE_OTHER, TEMPORARY_REDIRECT, PERMANENT_REDIRECT, got 9"),
		CASE(x->direct.status = 700,
		     VH "routes[3].direct_response.status: expected 200..599, got 700"),
		CASE(x->body.specifier_case =
			 ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME,
		     VH "routes[3].direct_response.body: expected inline_string or inline_bytes "
			"(skiff reads no file for a response body)"),
		CASE(x->body.inline_string = ((ProtobufCBinaryData){5000, big_body}),
		     VH "routes[3].direct_response.body.inline_string: 5000 bytes, over the 4096 "
			"limit (max_direct_response_body_size_bytes)"),
		CASE(x->hv[2].key = B(":path"),
		     R0 "request_headers_to_add[0].header.key: \":path\" may not be added or "
			"removed (the router sets it)"),
		CASE(x->hv[0].key = B("Host"),
		     RC "request_headers_to_add[0].header.key: \"host\" may not be added or "
			"removed (the router sets it)"),
		CASE(x->hv[1].value = B("a\nb"),
		     VH "response_headers_to_add[0].header.value: a header value may not hold CR "
			"or LF"),
		CASE(add_unknown(&x->hv[1].base, 3),
		     VH "response_headers_to_add[0].header: field 3 is not supported by skiff "
			"(supported: key, value)"),
		CASE(
		    x->add[1].append_action =
			ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD,
		    VH "response_headers_to_add[0].append_action: set together with append "
		       "(deprecated): use one"),
		CASE(
		    x->add[2].append_action =
			ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__ADD_IF_ABSENT,
		    R0 "request_headers_to_add[0].append_action: not supported by skiff: "
		       "ADD_IF_ABSENT (supported: APPEND_IF_EXISTS_OR_ADD, "
		       "OVERWRITE_IF_EXISTS_OR_ADD)"),
		CASE(x->rm[0] = B(":status"),
		     RC "response_headers_to_remove[0]: \":status\" may not be added or removed "
			"(the router sets it)"),
#undef CASE
	    };
	for (t = cases; t < cases + sizeof(cases) / sizeof(cases[0]); t++) {
		struct rfx *f = keep(malloc(sizeof(*f)));
		rfx_init(f);
		t->change(f);
		if (rfx_translate(f) != -EINVAL)
			fail_msg("accepted; wanted: %s", t->want);
		assert_string_equal(f->err, t->want);
		/* left zeroed: nothing to free, nothing leaked (ASan) */
		assert_null(f->out.vhosts);
		free_kept();
	}
}

/* A regex that does not compile: the NACK names the route configuration
 * and the field; PCRE2 words the reason. */
static void test_route_bad_regex(void **state)
{
	(void)state;
	struct rfx *f = keep(malloc(sizeof(*f)));
	rfx_init(f);
	f->re.regex = B("/items/([0-9]+");
	assert_int_equal(rfx_translate(f), -EINVAL);
	const char *want = "route_configuration \"local_route\": virtual_hosts[0].routes[1].match."
			   "safe_regex.regex: ";
	if (strncmp(f->err, want, strlen(want)) != 0)
		fail_msg("got: %s", f->err);
	assert_true(strlen(f->err) > strlen(want));
	assert_null(strchr(f->err, '\n'));
	f->re.regex = B("");
	assert_int_equal(rfx_translate(f), -EINVAL);
	assert_string_equal(f->err, "route_configuration \"local_route\": virtual_hosts[0]."
				    "routes[1].match.safe_regex.regex: required");
	free_kept();
}

/* connect_matcher: the route takes CONNECT requests, and only those, with
 * its other criteria; kind and fields as the bootstrap sets them. */
static void test_route_connect_matcher(void **state)
{
	(void)state;
	struct rfx *f = keep(malloc(sizeof(*f)));
	ConnectMatcher cm;
	struct http_head req;
	rfx_init(f);
	envoy__config__route__v3__route_match__connect_matcher__init(&cm);
	f->m[1].path_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_CONNECT_MATCHER;
	f->m[1].connect_matcher = &cm;
	assert_int_equal(rfx_translate(f), 0);
	const struct virtual_host *vh = &f->out.vhosts[0];
	const struct route *r = &vh->routes[1];
	assert_int_equal(r->match.kind, PATH_CONNECT);
	assert_null(r->match.value);
	assert_null(r->match.re);
	assert_true(r->match.case_sensitive);
	assert_int_equal(r->kind, ROUTE_TO_CLUSTER);
	assert_string_equal(r->cluster_name, "items");

	http_head_init(&req);
	assert_int_equal(http_head_set_pseudo(&req, &req.method, "CONNECT", 7), 0);
	assert_int_equal(http_head_set_pseudo(&req, &req.authority, "example.com:443", 15), 0);
	assert_ptr_equal(router_route(vh, &req), r);
	http_head_clear(&req);
	http_head_init(&req);
	assert_int_equal(http_head_set_pseudo(&req, &req.method, "GET", 3), 0);
	assert_int_equal(http_head_set_pseudo(&req, &req.authority, "example.com", 11), 0);
	assert_int_equal(http_head_set_pseudo(&req, &req.path, "/items/1", 8), 0);
	assert_ptr_equal(router_route(vh, &req), &vh->routes[3]); /* not routes[1] */
	http_head_clear(&req);
	xds_route_config_clear(&f->out);
	free_kept();
}

/* A RouteMatch of `wire` followed by the bytes of `tail`, decoded: what
 * skiff gets when a control plane sends two members of one oneof. */
static RouteMatch *match_with_tail(const RouteMatch *wire, const uint8_t *tail, size_t n)
{
	size_t len = protobuf_c_message_get_packed_size(&wire->base);
	uint8_t *buf = keep(malloc(len + n));
	protobuf_c_message_pack(&wire->base, buf);
	memcpy(buf + len, tail, n);
	RouteMatch *m = envoy__config__route__v3__route_match__unpack(NULL, len + n, buf);
	assert_non_null(m);
	return m;
}

/* connect_matcher together with prefix cannot be refused as the bootstrap
 * refuses it: a oneof keeps the member that comes last on the wire
 * (protobuf, and so Envoy), and nothing of the other one is left to see.
 * Both orders give what Envoy would route. */
static void test_route_connect_matcher_and_prefix(void **state)
{
	(void)state;
	static const uint8_t connect_tail[] = {12 << 3 | 2, 0};         /* connect_matcher: {} */
	static const uint8_t prefix_tail[] = {1 << 3 | 2, 2, '/', 'x'}; /* prefix: "/x" */
	struct rfx *f = keep(malloc(sizeof(*f)));
	ConnectMatcher cm;
	rfx_init(f);
	RouteMatch *m = match_with_tail(&f->m[3], connect_tail, sizeof(connect_tail));
	f->r[3].match = m;
	assert_int_equal(rfx_translate(f), 0);
	assert_int_equal(f->out.vhosts[0].routes[3].match.kind, PATH_CONNECT);
	envoy__config__route__v3__route_match__free_unpacked(m, NULL);

	envoy__config__route__v3__route_match__connect_matcher__init(&cm);
	f->m[3].path_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_CONNECT_MATCHER;
	f->m[3].connect_matcher = &cm;
	m = match_with_tail(&f->m[3], prefix_tail, sizeof(prefix_tail));
	f->r[3].match = m;
	assert_int_equal(rfx_translate(f), 0);
	assert_int_equal(f->out.vhosts[0].routes[3].match.kind, PATH_PREFIX);
	assert_string_equal(f->out.vhosts[0].routes[3].match.value, "/x");
	envoy__config__route__v3__route_match__free_unpacked(m, NULL);
	xds_route_config_clear(&f->out);
	free_kept();
}

/* ---- listeners with an http_connection_manager ------------------------------ */

struct hfx {
	Envoy__Config__Listener__V3__Listener l;
	Envoy__Config__Core__V3__Address addr;
	Envoy__Config__Core__V3__SocketAddress sa;
	Envoy__Config__Listener__V3__FilterChain chain, *chains[1];
	Envoy__Config__Listener__V3__Filter filter, *filters[1];
	Hcm hcm;
	Rds rds;
	Envoy__Config__Core__V3__ConfigSource ads_source;
	Envoy__Config__Core__V3__AggregatedConfigSource ads;
	HttpFilter hf[3], *hfs[3];
	Envoy__Config__Core__V3__Http2ProtocolOptions h2;
	Envoy__Config__Core__V3__HttpProtocolOptions common;
	UInt32Value w[6];
	Duration d[4];
	BoolValue no_request_id;
	Envoy__Config__Accesslog__V3__AccessLog log, *logs[1];
	Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog file_log;
	UpgradeConfig up[2], *ups[2];
	BoolValue disabled;
	struct rfx routes;
	struct listener out;
	struct xds_listener_refs refs;
	char err[512];
};

/* Listener "http" on 127.0.0.1:8080: one chain, an HCM "inbound_http"
 * with rds "local_route" over ADS, filters [fault (optional), router],
 * HTTP/2 options, 30s idle, 100 headers -> 50, request headers 96 KiB,
 * timeouts, no request ids, a file access log. */
static void hfx_init(struct hfx *f)
{
	memset(f, 0, sizeof(*f));
	envoy__config__listener__v3__listener__init(&f->l);
	envoy__config__core__v3__address__init(&f->addr);
	envoy__config__core__v3__socket_address__init(&f->sa);
	f->l.name = B("http");
	f->sa.address = B("127.0.0.1");
	f->sa.port_specifier_case =
	    ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
	f->sa.port_value = 8080;
	f->addr.address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
	f->addr.socket_address = &f->sa;
	f->l.address = &f->addr;
	envoy__config__listener__v3__filter_chain__init(&f->chain);
	envoy__config__listener__v3__filter__init(&f->filter);
	f->filter.name = B("envoy.filters.network.http_connection_manager");
	f->filters[0] = &f->filter;
	f->chain.n_filters = 1;
	f->chain.filters = f->filters;
	f->chains[0] = &f->chain;
	f->l.n_filter_chains = 1;
	f->l.filter_chains = f->chains;

	envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__init(
	    &f->hcm);
	envoy__extensions__filters__network__http_connection_manager__v3__rds__init(&f->rds);
	envoy__config__core__v3__config_source__init(&f->ads_source);
	envoy__config__core__v3__aggregated_config_source__init(&f->ads);
	f->ads_source.config_source_specifier_case =
	    ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
	f->ads_source.ads = &f->ads;
	f->rds.config_source = &f->ads_source;
	f->rds.route_config_name = B("local_route");
	f->hcm.stat_prefix = B("inbound_http");
	f->hcm.route_specifier_case =
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
	f->hcm.rds = &f->rds;
	for (int i = 0; i < 3; i++) {
		envoy__extensions__filters__network__http_connection_manager__v3__http_filter__init(
		    &f->hf[i]);
		f->hfs[i] = &f->hf[i];
	}
	f->hf[0].name = B("envoy.filters.http.fault");
	f->hf[0].config_type_case =
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG;
	f->hf[0].typed_config = any_of(FAULT_T, &f->ads); /* any bytes: not unpacked */
	f->hf[0].is_optional = true;
	f->hf[1].name = B("envoy.filters.http.router");
	f->hf[1].config_type_case =
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG;
	f->hf[1].typed_config = any_of(ROUTER_T, &f->ads);
	f->hcm.n_http_filters = 2;
	f->hcm.http_filters = f->hfs;
	envoy__config__core__v3__http2_protocol_options__init(&f->h2);
	f->h2.max_concurrent_streams = u32(&f->w[0], 250);
	f->h2.initial_connection_window_size = u32(&f->w[1], 1 << 24);
	f->h2.max_outbound_frames = u32(&f->w[4], 500);
	f->h2.max_consecutive_inbound_frames_with_empty_payload = u32(&f->w[5], 0);
	f->hcm.http2_protocol_options = &f->h2;
	envoy__config__core__v3__http_protocol_options__init(&f->common);
	f->common.idle_timeout = dur(&f->d[0], 30, 0);
	f->common.max_headers_count = u32(&f->w[2], 50);
	f->hcm.common_http_protocol_options = &f->common;
	f->hcm.max_request_headers_kb = u32(&f->w[3], 96);
	f->hcm.stream_idle_timeout = dur(&f->d[1], 60, 0);
	f->hcm.request_timeout = dur(&f->d[2], 10, 0);
	f->hcm.drain_timeout = dur(&f->d[3], 1, 0);
	google__protobuf__bool_value__init(&f->no_request_id);
	f->hcm.generate_request_id = &f->no_request_id;
	envoy__config__accesslog__v3__access_log__init(&f->log);
	envoy__extensions__access_loggers__file__v3__file_access_log__init(&f->file_log);
	f->file_log.path = B("/dev/stdout");
	f->logs[0] = &f->log;
	f->hcm.n_access_log = 1;
	f->hcm.access_log = f->logs;
	rfx_init(&f->routes);
}

/* upgrade_configs: one entry of type a, and one of type b unless NULL. */
static void upgrades(struct hfx *f, const char *a, const char *b)
{
	const char *types[] = {a, b};
	f->hcm.n_upgrade_configs = 0;
	for (size_t i = 0; i < 2 && types[i]; i++) {
		envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__upgrade_config__init(
		    &f->up[i]);
		f->up[i].upgrade_type = B(types[i]);
		f->ups[i] = &f->up[i];
		f->hcm.n_upgrade_configs = i + 1;
	}
	f->hcm.upgrade_configs = f->ups;
}

static int hfx_translate(struct hfx *f)
{
	xds_listener_clear(&f->out);
	xds_listener_refs_clear(&f->refs);
	f->err[0] = '\0';
	f->log.typed_config = any_of(FILE_LOG_T, &f->file_log);
	f->filter.typed_config = any_of(HCM_T, &f->hcm);
	return xds_translate_listener(&f->l, &f->out, &f->refs, f->err, sizeof(f->err));
}

static void test_hcm_rds(void **state)
{
	(void)state;
	struct hfx *f = keep(malloc(sizeof(*f)));
	hfx_init(f);
	assert_int_equal(hfx_translate(f), 0);
	const struct http_conn_manager_config *h = f->out.chains[0].http;
	assert_non_null(h);
	assert_null(f->out.chains[0].tcp_proxy.cluster_name);
	assert_string_equal(h->stat_prefix, "inbound_http");
	assert_int_equal(h->codec, HTTP_CODEC_AUTO);
	assert_string_equal(h->rds_name, "local_route");
	assert_null(h->route_config);
	assert_false(h->route_config_owned);
	assert_string_equal(h->access_log.path, "/dev/stdout");
	assert_int_equal(h->http2.max_concurrent_streams, 250);
	assert_int_equal(h->http2.initial_connection_window_size, 1 << 24);
	assert_int_equal(h->http2.initial_stream_window_size, 1 << 20);
	assert_int_equal(h->http2.max_outbound_frames, 500);
	assert_int_equal(h->http2.max_consecutive_empty_frames, 0);
	assert_int_equal(h->http2.max_continuations, 8); /* no Envoy field: default */
	assert_int_equal(h->idle_timeout_ms, 30000);
	assert_int_equal(h->max_headers_count, 50);
	assert_int_equal(h->http2.max_headers_count, 50);
	assert_int_equal(h->max_request_headers_kb, 96);
	assert_int_equal(h->http2.max_header_list_bytes, 96 * 1024);
	assert_int_equal(h->stream_idle_timeout_ms, 60000);
	assert_int_equal(h->request_timeout_ms, 10000);
	assert_int_equal(h->drain_timeout_ms, 1000);
	assert_false(h->generate_request_id);

	/* The defaults, with codec HTTP2. */
	f->hcm.http2_protocol_options = NULL;
	f->hcm.common_http_protocol_options = NULL;
	f->hcm.max_request_headers_kb = NULL;
	f->hcm.stream_idle_timeout = f->hcm.request_timeout = f->hcm.drain_timeout = NULL;
	f->hcm.generate_request_id = NULL;
	f->hcm.n_access_log = 0;
	f->hcm.codec_type =
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP2;
	assert_int_equal(hfx_translate(f), 0);
	h = f->out.chains[0].http;
	assert_int_equal(h->codec, HTTP_CODEC_HTTP2);
	assert_int_equal(h->max_request_headers_kb, 60);
	assert_int_equal(h->max_headers_count, 100);
	assert_int_equal(h->idle_timeout_ms, 3600000);
	assert_int_equal(h->stream_idle_timeout_ms, 300000);
	assert_int_equal(h->request_timeout_ms, 0);
	assert_int_equal(h->drain_timeout_ms, 5000);
	assert_true(h->generate_request_id);
	assert_null(h->access_log.path);
	assert_int_equal(h->http2.max_concurrent_streams, 100);
	assert_int_equal(h->http2.max_outbound_frames, 10000);
	assert_int_equal(h->http2.max_consecutive_empty_frames, 1);

	/* A filter that is neither optional nor the router, but disabled:
	 * skipped, as Envoy runs it only where a route enables it. */
	f->hf[0].is_optional = false;
	f->hf[0].disabled = true;
	assert_int_equal(hfx_translate(f), 0);
	xds_listener_clear(&f->out);
	xds_listener_refs_clear(&f->refs);
	free_kept();
}

static void test_hcm_inline_routes(void **state)
{
	(void)state;
	struct hfx *f = keep(malloc(sizeof(*f)));
	hfx_init(f);
	f->hcm.route_specifier_case =
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG;
	f->hcm.route_config = &f->routes.rc;
	f->routes.rc.name = B(""); /* inline: may be nameless */
	assert_int_equal(hfx_translate(f), 0);
	const struct http_conn_manager_config *h = f->out.chains[0].http;
	assert_null(h->rds_name);
	assert_true(h->route_config_owned);
	assert_null(h->route_config->name);
	assert_int_equal(h->route_config->vhosts[0].n_routes, 4);
	assert_non_null(h->route_config->vhosts[0].routes[1].match.re);
	/* The inline routes' errors carry the path from the listener. */
	f->routes.re.regex = B("(");
	assert_int_equal(hfx_translate(f), -EINVAL);
	const char *want = "listener \"http\": filter_chains[0].filters[0].typed_config."
			   "route_config.virtual_hosts[0].routes[1].match.safe_regex.regex: ";
	if (strncmp(f->err, want, strlen(want)) != 0)
		fail_msg("got: %s", f->err);
	assert_null(f->out.name);
	f->routes.re.regex = B("/x");
	f->routes.m[0].path_specifier_case = 0;
	assert_int_equal(hfx_translate(f), -EINVAL);
	assert_string_equal(f->err,
			    "listener \"http\": filter_chains[0].filters[0].typed_config."
			    "route_config.virtual_hosts[0].routes[0].match: expected one of "
			    "prefix, path, safe_regex, connect_matcher");
	free_kept();
}

/* upgrade_configs as the bootstrap reads them: websocket in any case,
 * CONNECT; enabled: false leaves the type off. */
static void test_hcm_upgrade_configs(void **state)
{
	(void)state;
	struct hfx *f = keep(malloc(sizeof(*f)));
	hfx_init(f);
	assert_int_equal(hfx_translate(f), 0);
	assert_false(f->out.chains[0].http->upgrade_websocket);
	assert_false(f->out.chains[0].http->upgrade_connect);
	upgrades(f, "WebSocket", "CONNECT");
	assert_int_equal(hfx_translate(f), 0);
	assert_true(f->out.chains[0].http->upgrade_websocket);
	assert_true(f->out.chains[0].http->upgrade_connect);
	upgrades(f, "websocket", "websocket");
	assert_int_equal(hfx_translate(f), 0);
	assert_true(f->out.chains[0].http->upgrade_websocket);
	assert_false(f->out.chains[0].http->upgrade_connect);
	upgrades(f, "CONNECT", NULL);
	google__protobuf__bool_value__init(&f->disabled);
	f->up[0].enabled = &f->disabled;
	assert_int_equal(hfx_translate(f), 0);
	assert_false(f->out.chains[0].http->upgrade_websocket);
	assert_false(f->out.chains[0].http->upgrade_connect);
	xds_listener_clear(&f->out);
	xds_listener_refs_clear(&f->refs);
	free_kept();
}

static Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager__ScopedRoutes
    scoped =
	ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__SCOPED_ROUTES__INIT;

static void test_hcm_errors(void **state)
{
	(void)state;
	struct {
		void (*change)(struct hfx *f);
		const char *want;
	} * t,
	    cases[] = {
#define CASE(body, msg)                                                                            \
	{({                                                                                        \
		 void fn(struct hfx *x)                                                            \
		 {                                                                                 \
			 body;                                                                     \
		 }                                                                                 \
		 fn;                                                                               \
	 }),                                                                                       \
	 msg}
#define H "listener \"http\": filter_chains[0].filters[0].typed_config."
		CASE(x->hcm.stat_prefix = B(""), H "stat_prefix: required"),
		CASE(x->hcm.codec_type = 3,
		     H "codec_type: not supported by skiff: HTTP3 (supported: AUTO, HTTP1, HTTP2)"),
		CASE(x->hcm.route_specifier_case = 0,
		     "listener \"http\": filter_chains[0].filters[0].typed_config: expected one "
		     "of rds, route_config"),
		CASE(
		    (x->hcm.route_specifier_case =
			 ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_SCOPED_ROUTES,
		     x->hcm.scoped_routes = &scoped),
		    H "scoped_routes: not supported by skiff (supported: rds, route_config)"),
		CASE(x->rds.config_source = NULL,
		     H "rds.config_source: expected {ads: {}} (skiff fetches routes over its ADS "
		       "stream)"),
		CASE(x->rds.route_config_name = B(""), H "rds.route_config_name: required"),
		CASE(x->hcm.n_http_filters = 0,
		     H "http_filters: must end with the envoy.filters.http.router filter"),
		CASE(x->hf[0].is_optional = false,
		     H "http_filters[0].typed_config: unsupported type URL \"" FAULT_T
		       "\" (supported: " ROUTER_T "); set is_optional to run without it"),
		CASE((x->hf[0].is_optional = false, x->hf[0].config_type_case = 0),
		     H "http_filters[0].name: not supported by skiff: \"envoy.filters.http.fault\" "
		       "(supported: envoy.filters.http.router); set is_optional to run without it"),
		CASE((x->hcm.n_http_filters = 3, x->hf[2] = x->hf[0]),
		     H "http_filters[2]: after envoy.filters.http.router, which must be the last "
		       "filter"),
		CASE(x->hf[1].disabled = true,
		     H "http_filters[1].disabled: the router filter cannot be disabled"),
		CASE(x->w[3].value = 0, H "max_request_headers_kb: expected 1..8192, got 0"),
		CASE(x->w[3].value = 8193, H "max_request_headers_kb: expected 1..8192, got 8193"),
		CASE(x->w[0].value = 0,
		     H "http2_protocol_options.max_concurrent_streams: expected 1..2147483647, got "
		       "0"),
		CASE(x->w[4].value = 0,
		     H "http2_protocol_options.max_outbound_frames: expected 1..4294967295, got 0"),
		CASE(x->w[2].value = 0,
		     H "common_http_protocol_options.max_headers_count: expected 1..4294967295, "
		       "got 0"),
		CASE(x->d[1].nanos = -1, H
		     "stream_idle_timeout: expected a duration of 0s or more (seconds >= 0, nanos "
		     "in 0..999999999)"),
		CASE(x->file_log.path = B(""), H "access_log[0].typed_config.path: required"),
		CASE(upgrades(x, "websocket", "h2c"), H
		     "upgrade_configs[1].upgrade_type: not supported by skiff: \"h2c\" (supported: "
		     "websocket, CONNECT)"),
		CASE(upgrades(x, "connect", NULL),
		     H "upgrade_configs[0].upgrade_type: not supported by skiff: \"connect\" "
		       "(supported: websocket, CONNECT)"),
		CASE(upgrades(x, "", NULL), H "upgrade_configs[0].upgrade_type: required"),
		CASE((upgrades(x, "websocket", NULL), x->up[0].n_filters = 2,
		      x->up[0].filters = x->hfs),
		     H "upgrade_configs[0].filters: not supported by skiff (an upgrade runs the "
		       "http_filters)"),
		CASE(x->chain.n_filters = 2,
		     "listener \"http\": filter_chains[0].filters[0]: "
		     "envoy.filters.network.http_connection_manager must be the last filter"),
#undef CASE
	    };
	for (t = cases; t < cases + sizeof(cases) / sizeof(cases[0]); t++) {
		struct hfx *f = keep(malloc(sizeof(*f)));
		hfx_init(f);
		Envoy__Config__Listener__V3__Filter *two[2] = {&f->filter, &f->filter};
		f->chain.filters = two;
		t->change(f);
		if (hfx_translate(f) != -EINVAL)
			fail_msg("accepted; wanted: %s", t->want);
		assert_string_equal(f->err, t->want);
		assert_null(f->out.name);
		free_kept();
	}
}

/* ---- fuzz corpus seeds ------------------------------------------------------- */

static void write_seed(const char *dir, const char *name, const ProtobufCMessage *m)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	assert_non_null(buf);
	protobuf_c_message_pack(m, buf);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	fclose(fp);
	free(buf);
}

static void write_response(const char *dir, const char *name, const char *type_url, Any *res)
{
	Envoy__Service__Discovery__V3__DiscoveryResponse r;
	envoy__service__discovery__v3__discovery_response__init(&r);
	r.version_info = "1";
	r.type_url = (char *)type_url;
	r.nonce = "a";
	r.n_resources = 1;
	r.resources = &res;
	write_seed(dir, name, &r.base);
}

/* With XDS_FUZZ_CORPUS=<dir>: rds (the fixture above), rds_bad_regex,
 * lds_hcm_rds, lds_hcm_inline, lds_hcm_tunnels (upgrade_configs and a
 * connect_matcher route), delta_rds. */
static void test_write_corpus(void **state)
{
	(void)state;
	const char *dir = getenv("XDS_FUZZ_CORPUS");
	if (!dir)
		skip();
	struct hfx *f = keep(malloc(sizeof(*f)));
	hfx_init(f);
	write_response(dir, "rds", XDS_TYPE_ROUTE, any_of(XDS_TYPE_ROUTE, &f->routes.rc));
	f->routes.re.regex = B("/items/([0-9]+");
	write_response(dir, "rds_bad_regex", XDS_TYPE_ROUTE, any_of(XDS_TYPE_ROUTE, &f->routes.rc));
	f->routes.re.regex = B("/items/[0-9]+");
	assert_int_equal(hfx_translate(f), 0);
	write_response(dir, "lds_hcm_rds", XDS_TYPE_LISTENER, any_of(XDS_TYPE_LISTENER, &f->l));
	f->hcm.route_specifier_case =
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG;
	f->hcm.route_config = &f->routes.rc;
	assert_int_equal(hfx_translate(f), 0);
	write_response(dir, "lds_hcm_inline", XDS_TYPE_LISTENER, any_of(XDS_TYPE_LISTENER, &f->l));
	ConnectMatcher cm;
	envoy__config__route__v3__route_match__connect_matcher__init(&cm);
	f->routes.m[1].path_specifier_case =
	    ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_CONNECT_MATCHER;
	f->routes.m[1].connect_matcher = &cm;
	upgrades(f, "websocket", "CONNECT");
	assert_int_equal(hfx_translate(f), 0);
	write_response(dir, "lds_hcm_tunnels", XDS_TYPE_LISTENER, any_of(XDS_TYPE_LISTENER, &f->l));

	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse delta;
	Envoy__Service__Discovery__V3__Resource res, *resp[1] = {&res};
	envoy__service__discovery__v3__delta_discovery_response__init(&delta);
	envoy__service__discovery__v3__resource__init(&res);
	res.name = B("local_route");
	res.version = "7";
	res.resource = any_of(XDS_TYPE_ROUTE, &f->routes.rc);
	delta.type_url = XDS_TYPE_ROUTE;
	delta.nonce = "b";
	delta.n_resources = 1;
	delta.resources = resp;
	write_seed(dir, "delta_rds", &delta.base);
	xds_listener_clear(&f->out);
	xds_listener_refs_clear(&f->refs);
	free_kept();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_config),
	    cmocka_unit_test(test_cookie_hash_policy),
	    cmocka_unit_test(test_route_match_forms),
	    cmocka_unit_test(test_route_config_errors),
	    cmocka_unit_test(test_route_bad_regex),
	    cmocka_unit_test(test_route_connect_matcher),
	    cmocka_unit_test(test_route_connect_matcher_and_prefix),
	    cmocka_unit_test(test_hcm_rds),
	    cmocka_unit_test(test_hcm_upgrade_configs),
	    cmocka_unit_test(test_hcm_inline_routes),
	    cmocka_unit_test(test_hcm_errors),
	    cmocka_unit_test(test_write_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
