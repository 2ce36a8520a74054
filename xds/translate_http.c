/* xDS HTTP resources -> snapshot types: RouteConfiguration (from RDS, or
 * inline in a listener) into struct route_config, and the
 * http_connection_manager network filter into struct
 * http_conn_manager_config. See translate.h; the rules are Envoy's, the
 * limits and defaults config.h's.
 *
 * Messages whose unknown fields would narrow a match (RouteMatch's
 * runtime_fraction or grpc, HeaderMatcher's range_match) or change where a
 * redirect points are refused when such a field comes: ignored, it would
 * let a route take requests Envoy would not give it. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "proxy/http_config.h"
#include "proxy/router.h"
#include "xds/translate.h"
#include "xds/translate_internal.h"

typedef Envoy__Config__Route__V3__RouteConfiguration pb_route_config;
typedef Envoy__Config__Route__V3__VirtualHost pb_vhost;
typedef Envoy__Config__Route__V3__Route pb_route;
typedef Envoy__Config__Route__V3__RouteMatch pb_match;
typedef Envoy__Config__Route__V3__RouteAction pb_action;
typedef Envoy__Config__Route__V3__RetryPolicy pb_retry;
typedef Envoy__Config__Route__V3__RetryPolicy__RetryBackOff pb_retry_back_off;
typedef Envoy__Config__Route__V3__RetryPolicy__RetryHostPredicate pb_host_predicate;
typedef Envoy__Config__Route__V3__RedirectAction pb_redirect;
typedef Envoy__Config__Route__V3__DirectResponseAction pb_direct;
typedef Envoy__Config__Route__V3__HeaderMatcher pb_header_matcher;
typedef Envoy__Config__Route__V3__QueryParameterMatcher pb_query_matcher;
typedef Envoy__Config__Core__V3__HeaderValueOption pb_header_option;
typedef Envoy__Type__Matcher__V3__StringMatcher pb_string_matcher;
typedef Envoy__Type__Matcher__V3__RegexMatcher pb_regex;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
    pb_hcm;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter pb_http_filter;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager__UpgradeConfig
    pb_upgrade;

#define ROUTER_NAME "envoy.filters.http.router"
#define ROUTER_TYPE XDS_TYPE_URL_PREFIX "envoy.extensions.filters.http.router.v3.Router"

/* Envoy's limits: validate rules of route_components.proto, and the
 * default of max_direct_response_body_size_bytes. */
#define MAX_HEADER_EDITS 1000u
#define MAX_RETRIABLE_STATUS_CODES 64u
#define MAX_DIRECT_BODY 4096u
#define MAX_REQUEST_HEADERS_KB 8192u

/* ---- names and values --------------------------------------------------- */

/* RFC 9110, section 5.6.2: tchar. */
static bool is_tchar(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* A header name, lower-cased: a token, or with `pseudo` a ':'-prefixed
 * one (":authority", ":path" in a matcher). */
static int read_header_name(struct tctx *c, const ProtobufCBinaryData *b, bool pseudo, char **out)
{
	char buf[XDS_SHOWN_MAX];
	int err = tx_read_text(c, b, true, out);
	if (err)
		return err;
	char *s = *out;
	if (pseudo && s[0] == ':')
		s++;
	if (!*s)
		goto bad;
	for (char *p = s; *p; p++) {
		if (!is_tchar((unsigned char)*p))
			goto bad;
		*p = (char)tolower((unsigned char)*p);
	}
	return 0;
bad:
	return tx_fail(c, "not a valid header name: \"%s\"", xds_shown(b->data, b->len, buf));
}

/* Header edits may not touch the pseudo-headers or host (Envoy refuses
 * them too: the router owns them). */
static int read_edit_name(struct tctx *c, const ProtobufCBinaryData *b, char **out)
{
	int err = read_header_name(c, b, true, out);
	if (err)
		return err;
	if ((*out)[0] == ':' || strcmp(*out, "host") == 0)
		return tx_fail(c, "\"%s\" may not be added or removed (the router sets it)", *out);
	return 0;
}

/* A header value: no CR, LF or NUL, which would split the head (request
 * smuggling through the control plane). */
static int read_header_value(struct tctx *c, const ProtobufCBinaryData *b, char **out)
{
	if (!b->len) {
		*out = strdup("");
		return *out ? 0 : tx_nomem(c);
	}
	int err = tx_read_text(c, b, true, out);
	if (!err && strpbrk(*out, "\r\n"))
		return tx_fail(c, "a header value may not hold CR or LF");
	return err;
}

/* HeaderValueOption -> header_add. append (deprecated, default true) or
 * append_action APPEND_IF_EXISTS_OR_ADD / OVERWRITE_IF_EXISTS_OR_ADD. */
static int read_header_option(struct tctx *c, const pb_header_option *pb, struct header_add *out)
{
	static const char *const actions[] = {"APPEND_IF_EXISTS_OR_ADD",
					      "OVERWRITE_IF_EXISTS_OR_ADD", NULL};
	size_t old = tx_field(c, "header");
	if (!pb->header)
		return tx_fail(c, "required");
	int v, err = tx_refuse_unknown(c, &pb->header->base, "key, value");
	if (err)
		return err;
	tx_field(c, "key");
	if ((err = read_edit_name(c, &pb->header->key, &out->name)))
		return err;
	tx_pop(c, old);
	tx_field(c, "header.value");
	if ((err = read_header_value(c, &pb->header->value, &out->value)))
		return err;
	tx_pop(c, old);
	tx_field(c, "append_action");
	if ((err = tx_read_enum(
		 c, &envoy__config__core__v3__header_value_option__header_append_action__descriptor,
		 pb->append_action, actions, &v)))
		return err;
	out->append = v == 0;
	if (pb->append) {
		if (v != 0)
			return tx_fail(c, "set together with append (deprecated): use one");
		out->append = pb->append->value;
	}
	tx_pop(c, old);
	return 0;
}

static int read_adds(struct tctx *c, const char *name, pb_header_option *const *pb, size_t n,
		     struct header_add **out, size_t *n_out)
{
	if (!n)
		return 0;
	size_t old = tx_field(c, name);
	if (n > MAX_HEADER_EDITS)
		return tx_fail(c, "too many: %zu (at most %u)", n, MAX_HEADER_EDITS);
	if (!(*out = calloc(n, sizeof(**out))))
		return tx_nomem(c);
	for (size_t i = 0; i < n; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		*n_out = i + 1;
		int err = read_header_option(c, pb[i], &(*out)[i]);
		if (err)
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

static int read_removes(struct tctx *c, const char *name, const ProtobufCBinaryData *pb, size_t n,
			char ***out, size_t *n_out)
{
	if (!n)
		return 0;
	size_t old = tx_field(c, name);
	if (n > MAX_HEADER_EDITS)
		return tx_fail(c, "too many: %zu (at most %u)", n, MAX_HEADER_EDITS);
	if (!(*out = calloc(n, sizeof(**out))))
		return tx_nomem(c);
	for (size_t i = 0; i < n; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		*n_out = i + 1;
		int err = read_edit_name(c, &pb[i], &(*out)[i]);
		if (err)
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

/* The four lists of one level; the same field numbers' names at every
 * level (route configuration, virtual host, route). */
struct pb_edits {
	pb_header_option **request_add, **response_add;
	size_t n_request_add, n_response_add;
	ProtobufCBinaryData *request_remove, *response_remove;
	size_t n_request_remove, n_response_remove;
};

#define PB_EDITS(m)                                                                                \
	((struct pb_edits){(m)->request_headers_to_add, (m)->response_headers_to_add,              \
			   (m)->n_request_headers_to_add, (m)->n_response_headers_to_add,          \
			   (m)->request_headers_to_remove, (m)->response_headers_to_remove,        \
			   (m)->n_request_headers_to_remove, (m)->n_response_headers_to_remove})

static int read_edits(struct tctx *c, struct pb_edits pb, struct header_edits *e)
{
	int err = read_adds(c, "request_headers_to_add", pb.request_add, pb.n_request_add,
			    &e->request_add, &e->n_request_add);
	if (!err)
		err = read_removes(c, "request_headers_to_remove", pb.request_remove,
				   pb.n_request_remove, &e->request_remove, &e->n_request_remove);
	if (!err)
		err = read_adds(c, "response_headers_to_add", pb.response_add, pb.n_response_add,
				&e->response_add, &e->n_response_add);
	if (!err)
		err =
		    read_removes(c, "response_headers_to_remove", pb.response_remove,
				 pb.n_response_remove, &e->response_remove, &e->n_response_remove);
	return err;
}

/* ---- matchers ----------------------------------------------------------- */

/* RegexMatcher at path `name`: the pattern, compiled by router_prepare. */
static int read_regex(struct tctx *c, const char *name, const pb_regex *pb, char **out)
{
	size_t old = tx_field(c, name);
	if (!pb)
		return tx_fail(c, "required");
	int err = tx_text_field(c, "regex", &pb->regex, true, out);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* type.matcher.v3.StringMatcher at path `name`. */
static int read_string_match(struct tctx *c, const char *name, const pb_string_matcher *pb,
			     struct string_match *out)
{
	size_t old = tx_field(c, name);
	const ProtobufCBinaryData *lit = NULL;
	int err = 0;
	out->ignore_case = pb->ignore_case;
	switch (pb->match_pattern_case) {
	case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT:
		out->kind = SM_EXACT;
		lit = &pb->exact;
		tx_field(c, "exact");
		break;
	case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX:
		out->kind = SM_PREFIX;
		lit = &pb->prefix;
		tx_field(c, "prefix");
		break;
	case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SUFFIX:
		out->kind = SM_SUFFIX;
		lit = &pb->suffix;
		tx_field(c, "suffix");
		break;
	case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_CONTAINS:
		out->kind = SM_CONTAINS;
		lit = &pb->contains;
		tx_field(c, "contains");
		break;
	case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX:
		out->kind = SM_REGEX;
		if (pb->ignore_case) {
			tx_field(c, "ignore_case");
			return tx_fail(c, "has no effect with safe_regex (Envoy refuses it too)");
		}
		err = read_regex(c, "safe_regex", pb->safe_regex, &out->value);
		break;
	default:
		return tx_fail(c, "expected one of exact, prefix, suffix, contains, safe_regex");
	}
	if (lit) {
		/* Envoy: prefix, suffix and contains at least one byte; an exact
		 * match may be of the empty string. */
		if (!lit->len && out->kind != SM_EXACT)
			return tx_fail(c, "must not be empty");
		out->value = strdup("");
		if (!out->value)
			return tx_nomem(c);
		err = tx_read_text(c, lit, false, &out->value);
	}
	if (!err)
		tx_pop(c, old);
	return err;
}

/* The deprecated *_match forms of HeaderMatcher are StringMatchers. */
static int literal(struct tctx *c, const char *name, const ProtobufCBinaryData *b,
		   enum string_match_kind kind, struct string_match *out)
{
	size_t old = tx_field(c, name);
	out->kind = kind;
	if (!b->len && kind != SM_EXACT)
		return tx_fail(c, "must not be empty");
	if (!(out->value = strdup("")))
		return tx_nomem(c);
	int err = tx_read_text(c, b, false, &out->value);
	if (!err)
		tx_pop(c, old);
	return err;
}

static int read_header_matcher(struct tctx *c, const pb_header_matcher *pb,
			       struct header_match *out)
{
	static const char *const supported =
	    "name, exact_match, prefix_match, suffix_match, contains_match, safe_regex_match, "
	    "string_match, present_match, invert_match";
	int err = tx_refuse_unknown(c, &pb->base, supported);
	if (err)
		return err;
	size_t old = tx_field(c, "name");
	if ((err = read_header_name(c, &pb->name, true, &out->name)))
		return err;
	tx_pop(c, old);
	out->invert = pb->invert_match;
	switch (pb->header_match_specifier_case) {
	case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH:
		return literal(c, "exact_match", &pb->exact_match, SM_EXACT, &out->value);
	case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PREFIX_MATCH:
		return literal(c, "prefix_match", &pb->prefix_match, SM_PREFIX, &out->value);
	case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH:
		return literal(c, "suffix_match", &pb->suffix_match, SM_SUFFIX, &out->value);
	case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_CONTAINS_MATCH:
		return literal(c, "contains_match", &pb->contains_match, SM_CONTAINS, &out->value);
	case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH:
		out->value.kind = SM_REGEX;
		return read_regex(c, "safe_regex_match", pb->safe_regex_match, &out->value.value);
	case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH:
		return read_string_match(c, "string_match", pb->string_match, &out->value);
	case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH:
		/* present_match: false matches when the header is absent. */
		out->present_only = true;
		out->invert ^= !pb->present_match;
		return 0;
	default:
		/* No specifier: Envoy matches on presence. */
		out->present_only = true;
		return 0;
	}
}

static int read_query_matcher(struct tctx *c, const pb_query_matcher *pb, struct query_match *out)
{
	int err = tx_refuse_unknown(c, &pb->base, "name, string_match, present_match");
	if (!err)
		err = tx_text_field(c, "name", &pb->name, true, &out->name);
	if (err)
		return err;
	switch (pb->query_parameter_match_specifier_case) {
	case ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH:
		return read_string_match(c, "string_match", pb->string_match, &out->value);
	case ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_PRESENT_MATCH:
		if (!pb->present_match) {
			tx_field(c, "present_match");
			return tx_fail(c, "must be true (skiff has no absence match for a query "
					  "parameter)");
		}
		out->present_only = true;
		return 0;
	default:
		out->present_only = true; /* Envoy: the parameter must be there */
		return 0;
	}
}

static int read_match_lists(struct tctx *c, const pb_match *pb, struct route_match *m)
{
	if (pb->n_headers) {
		size_t old = tx_field(c, "headers");
		if (!(m->headers = calloc(pb->n_headers, sizeof(*m->headers))))
			return tx_nomem(c);
		for (size_t i = 0; i < pb->n_headers; i++) {
			size_t at = tx_push(c, "[%zu]", i);
			m->n_headers = i + 1;
			int err = read_header_matcher(c, pb->headers[i], &m->headers[i]);
			if (err)
				return err;
			tx_pop(c, at);
		}
		tx_pop(c, old);
	}
	if (pb->n_query_parameters) {
		size_t old = tx_field(c, "query_parameters");
		if (!(m->query = calloc(pb->n_query_parameters, sizeof(*m->query))))
			return tx_nomem(c);
		for (size_t i = 0; i < pb->n_query_parameters; i++) {
			size_t at = tx_push(c, "[%zu]", i);
			m->n_query = i + 1;
			int err = read_query_matcher(c, pb->query_parameters[i], &m->query[i]);
			if (err)
				return err;
			tx_pop(c, at);
		}
		tx_pop(c, old);
	}
	return 0;
}

#define PATH_NAMES "prefix, path, safe_regex, connect_matcher"

/* RouteMatch. Its other criteria (runtime_fraction, grpc, tls_context,
 * dynamic_metadata) narrow a route: refused rather than ignored. */
static int read_route_match(struct tctx *c, const pb_match *pb, struct route_match *m)
{
	size_t old = tx_field(c, "match");
	if (!pb)
		return tx_fail(c, "required");
	int err = tx_refuse_unknown(c, &pb->base,
				    "prefix, path, safe_regex, connect_matcher, case_sensitive, "
				    "headers, query_parameters");
	if (err)
		return err;
	const ProtobufCBinaryData *lit = NULL;
	switch (pb->path_specifier_case) {
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX:
		m->kind = PATH_PREFIX;
		lit = &pb->prefix;
		tx_field(c, "prefix");
		break;
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH:
		m->kind = PATH_EXACT;
		lit = &pb->path;
		tx_field(c, "path");
		break;
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX:
		m->kind = PATH_REGEX;
		if ((err = read_regex(c, "safe_regex", pb->safe_regex, &m->value)))
			return err;
		break;
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_CONNECT_MATCHER: {
		/* Empty in Envoy: a field in it comes from a later version and
		 * might narrow the match. */
		size_t at = tx_field(c, "connect_matcher");
		m->kind = PATH_CONNECT;
		if (pb->connect_matcher &&
		    (err = tx_refuse_unknown(c, &pb->connect_matcher->base, "none")))
			return err;
		tx_pop(c, at);
		break;
	}
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX:
		tx_field(c, "path_separated_prefix");
		return tx_fail(c, "not supported by skiff (supported: " PATH_NAMES ")");
	default:
		return tx_fail(c, "expected one of " PATH_NAMES);
	}
	if (lit) {
		/* prefix "" is the catch-all: set, though empty. */
		if (!(m->value = strdup("")))
			return tx_nomem(c);
		if ((err = tx_read_text(c, lit, false, &m->value)))
			return err;
		tx_pop(c, old);
		tx_field(c, "match");
	}
	m->case_sensitive = !pb->case_sensitive || pb->case_sensitive->value;
	if ((err = read_match_lists(c, pb, m)))
		return err;
	tx_pop(c, old);
	return 0;
}

/* ---- actions ------------------------------------------------------------ */

static int read_weighted(struct tctx *c, const Envoy__Config__Route__V3__WeightedCluster *pb,
			 struct route *r)
{
	size_t old = tx_field(c, "weighted_clusters.clusters");
	if (!pb->n_clusters)
		return tx_fail(c, "expected at least one cluster");
	if (!(r->weighted = calloc(pb->n_clusters, sizeof(*r->weighted))))
		return tx_nomem(c);
	uint64_t total = 0;
	for (size_t i = 0; i < pb->n_clusters; i++) {
		const Envoy__Config__Route__V3__WeightedCluster__ClusterWeight *w = pb->clusters[i];
		size_t at = tx_push(c, "[%zu]", i);
		r->n_weighted = i + 1;
		int err = tx_text_field(c, "name", &w->name, true, &r->weighted[i].name);
		if (err)
			return err;
		r->weighted[i].weight = w->weight ? w->weight->value : 0;
		total += r->weighted[i].weight;
		tx_pop(c, at);
	}
	/* Envoy: the sum must be above 0; skiff draws from 32 bits. */
	if (total == 0 || total > UINT32_MAX)
		return tx_fail(c, "the weights must add up to between 1 and %u, got %llu",
			       UINT32_MAX, (unsigned long long)total);
	r->total_weight = (uint32_t)total;
	tx_pop(c, old);
	return 0;
}

/* retry_on tokens skiff serves; others Envoy knows (gRPC statuses,
 * retriable-4xx, ...) are skipped as Envoy skips unknown ones: fewer
 * retries, never more. */
static uint32_t retry_bits(const char *tok, size_t len)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} known[] = {
	    {"5xx", RETRY_5XX},
	    {"gateway-error", RETRY_GATEWAY_ERROR},
	    {"reset", RETRY_RESET},
	    {"connect-failure", RETRY_CONNECT_FAILURE},
	    {"retriable-status-codes", RETRY_RETRIABLE_STATUS},
	    {"refused-stream", RETRY_REFUSED_STREAM},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].name) == len && memcmp(known[i].name, tok, len) == 0)
			return known[i].bit;
	return 0;
}

/* retry_back_off as Envoy validates it: base_interval required and
 * positive, max_interval not below it. */
static int read_back_off(struct tctx *c, const pb_retry_back_off *pb, struct retry_policy *rp)
{
	size_t old = tx_field(c, "retry_back_off");
	if (!pb->base_interval) {
		tx_field(c, "base_interval");
		return tx_fail(c, "required");
	}
	int err =
	    tx_duration_field(c, "base_interval", pb->base_interval, true, &rp->back_off_base_ms);
	if (!err)
		err = tx_duration_field(c, "max_interval", pb->max_interval, true,
					&rp->back_off_max_ms);
	if (!err && rp->back_off_max_ms && rp->back_off_max_ms < rp->back_off_base_ms) {
		tx_field(c, "max_interval");
		return tx_fail(c, "below base_interval (%ums < %ums)", rp->back_off_max_ms,
			       rp->back_off_base_ms);
	}
	if (!err)
		tx_pop(c, old);
	return err;
}

/* retry_host_predicate: previous_hosts, named or typed. Another predicate
 * is refused, as Envoy refuses one it does not know: ignored, a retry
 * could go to a host the control plane meant to keep it from. */
static int read_host_predicates(struct tctx *c, const pb_retry *pb, struct retry_policy *rp)
{
	size_t old = tx_field(c, "retry_host_predicate");
	for (size_t i = 0; i < pb->n_retry_host_predicate; i++) {
		const pb_host_predicate *p = pb->retry_host_predicate[i];
		size_t item = tx_push(c, "[%zu]", i);
		const char *url = p->typed_config && p->typed_config->type_url
					  ? p->typed_config->type_url
					  : "";
		if (!tx_bytes_are(&p->name, RETRY_PREVIOUS_HOSTS_NAME) &&
		    strcmp(url, RETRY_PREVIOUS_HOSTS_TYPE) != 0)
			return tx_fail(c, "not supported by skiff (supported: " RETRY_PREVIOUS_HOSTS_NAME
					  ")");
		rp->previous_hosts = true;
		tx_pop(c, item);
	}
	tx_pop(c, old);
	if (pb->host_selection_retry_max_attempts < 0 ||
	    pb->host_selection_retry_max_attempts > HOST_SELECTION_ATTEMPTS_MAX) {
		tx_field(c, "host_selection_retry_max_attempts");
		return tx_fail(c, "expected 0..%u, got %lld", HOST_SELECTION_ATTEMPTS_MAX,
			       (long long)pb->host_selection_retry_max_attempts);
	}
	rp->host_selection_max_attempts = (uint32_t)pb->host_selection_retry_max_attempts;
	return 0;
}

static int read_retry(struct tctx *c, const pb_retry *pb, struct retry_policy *rp)
{
	size_t old = tx_field(c, "retry_policy");
	char *on = NULL;
	int err = tx_text_field(c, "retry_on", &pb->retry_on, false, &on);
	if (err)
		return err;
	for (const char *p = on; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		rp->retry_on |= retry_bits(p, len);
		p += len;
	}
	free(on);
	rp->num_retries = pb->num_retries ? pb->num_retries->value : 1;
	if ((err = tx_duration_field(c, "per_try_timeout", pb->per_try_timeout, false,
				     &rp->per_try_timeout_ms)))
		return err;
	if (pb->retry_back_off && (err = read_back_off(c, pb->retry_back_off, rp)))
		return err;
	if ((err = read_host_predicates(c, pb, rp)))
		return err;
	if (pb->n_retriable_status_codes) {
		tx_field(c, "retriable_status_codes");
		if (pb->n_retriable_status_codes > MAX_RETRIABLE_STATUS_CODES)
			return tx_fail(c, "too many: %zu (at most %u)",
				       pb->n_retriable_status_codes, MAX_RETRIABLE_STATUS_CODES);
		rp->retriable_status_codes =
		    calloc(pb->n_retriable_status_codes, sizeof(*rp->retriable_status_codes));
		if (!rp->retriable_status_codes)
			return tx_nomem(c);
		for (size_t i = 0; i < pb->n_retriable_status_codes; i++) {
			uint32_t code = pb->retriable_status_codes[i];
			if (code < 100 || code > 599) {
				tx_push(c, "[%zu]", i);
				return tx_fail(c, "expected an HTTP status (100..599), got %u",
					       code);
			}
			rp->retriable_status_codes[i] = (uint16_t)code;
		}
		rp->n_retriable_status_codes = pb->n_retriable_status_codes;
	}
	tx_pop(c, old);
	return 0;
}

typedef Envoy__Config__Route__V3__RouteAction__HashPolicy pb_hash_policy;

/* hash_policy.cookie: its name, and with a ttl the cookie skiff makes for
 * a request without it (path, Max-Age). */
static int read_hash_cookie(struct tctx *c,
			    const Envoy__Config__Route__V3__RouteAction__HashPolicy__Cookie *k,
			    struct hash_policy *p)
{
	size_t old = tx_field(c, "cookie");
	p->kind = HASH_COOKIE;
	int err = tx_text_field(c, "name", &k->name, true, &p->name);
	if (!err && strpbrk(p->name, "=;, \t\r\n\"")) {
		tx_field(c, "name");
		return tx_fail(c, "not a cookie name");
	}
	if (!err)
		err = tx_text_field(c, "path", &k->path, false, &p->path);
	if (!err && p->path && strpbrk(p->path, ";\r\n")) {
		tx_field(c, "path");
		return tx_fail(c, "must not hold ';', CR or LF");
	}
	if (!err && k->n_attributes) {
		tx_field(c, "attributes");
		return tx_fail(c, "not supported by skiff");
	}
	uint32_t ms = 0;
	if (!err && k->ttl && !(err = tx_duration_field(c, "ttl", k->ttl, false, &ms))) {
		p->has_ttl = true;
		p->ttl_s = ms / 1000;
	}
	if (!err)
		tx_pop(c, old);
	return err;
}

static int read_one_hash_policy(struct tctx *c, const pb_hash_policy *h, struct hash_policy *p)
{
	p->terminal = h->terminal;
	switch (h->policy_specifier_case) {
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER:
		p->kind = HASH_HEADER;
		tx_field(c, "header.header_name");
		return read_header_name(c, &h->header->header_name, true, &p->name);
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_CONNECTION_PROPERTIES:
		p->kind = HASH_SOURCE_IP;
		tx_field(c, "connection_properties.source_ip");
		return h->connection_properties->source_ip
			   ? 0 : tx_fail(c, "must be true (the only connection property skiff hashes)");
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_QUERY_PARAMETER:
		p->kind = HASH_QUERY_PARAMETER;
		return tx_text_field(c, "query_parameter.name", &h->query_parameter->name, true,
				     &p->name);
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_COOKIE:
		return read_hash_cookie(c, h->cookie, p);
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_FILTER_STATE:
		tx_field(c, "filter_state");
		return tx_fail(c, "not supported by skiff (supported: header, "
				  "connection_properties, query_parameter, cookie)");
	default:
		return tx_fail(c, "expected one of header, connection_properties, query_parameter, "
				  "cookie");
	}
}

static int read_hash_policy(struct tctx *c, const pb_action *pb, struct route *r)
{
	if (!pb->n_hash_policy)
		return 0;
	size_t old = tx_field(c, "hash_policy");
	if (pb->n_hash_policy > ROUTE_HASH_POLICIES_MAX)
		return tx_fail(c, "expected at most %d hash policies, got %zu",
			       ROUTE_HASH_POLICIES_MAX, pb->n_hash_policy);
	if (!(r->hash_policies = calloc(pb->n_hash_policy, sizeof(*r->hash_policies))))
		return tx_nomem(c);
	for (size_t i = 0; i < pb->n_hash_policy; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		int err = read_one_hash_policy(c, pb->hash_policy[i], &r->hash_policies[i]);
		r->n_hash_policies++; /* owned from here, whatever happened */
		if (err)
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

static int read_cluster_specifier(struct tctx *c, const pb_action *pb, struct route *r)
{
	static const char *const supported = "(supported: cluster, weighted_clusters)";
	switch (pb->cluster_specifier_case) {
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER:
		return tx_text_field(c, "cluster", &pb->cluster, true, &r->cluster_name);
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS:
		return read_weighted(c, pb->weighted_clusters, r);
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER_HEADER:
		tx_field(c, "cluster_header");
		return tx_fail(c, "not supported by skiff %s", supported);
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER_SPECIFIER_PLUGIN:
		tx_field(c, "cluster_specifier_plugin");
		return tx_fail(c, "not supported by skiff %s", supported);
	default:
		return tx_fail(c, "expected one of cluster, weighted_clusters");
	}
}

static int read_host_rewrite(struct tctx *c, const pb_action *pb, struct route *r)
{
	switch (pb->host_rewrite_specifier_case) {
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL: {
		size_t old = tx_field(c, "host_rewrite_literal");
		int err = read_header_value(c, &pb->host_rewrite_literal, &r->host_rewrite);
		if (!err && !*r->host_rewrite)
			err = tx_fail(c, "must not be empty");
		if (!err)
			tx_pop(c, old);
		return err;
	}
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_AUTO_HOST_REWRITE:
		tx_field(c, "auto_host_rewrite");
		return tx_fail(c, "not supported by skiff (supported: host_rewrite_literal)");
	case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_HEADER:
		tx_field(c, "host_rewrite_header");
		return tx_fail(c, "not supported by skiff (supported: host_rewrite_literal)");
	default:
		return 0;
	}
}

static int read_route_action(struct tctx *c, const pb_action *pb, struct route *r)
{
	size_t old = tx_field(c, "route");
	r->kind = ROUTE_TO_CLUSTER;
	int err = read_cluster_specifier(c, pb, r);
	if (err)
		return err;
	tx_pop(c, old);
	tx_field(c, "route");
	if (pb->prefix_rewrite.len && (err = tx_text_field(c, "prefix_rewrite", &pb->prefix_rewrite,
							   true, &r->prefix_rewrite)))
		return err;
	if ((err = read_host_rewrite(c, pb, r)))
		return err;
	if (pb->timeout) {
		tx_field(c, "timeout");
		if ((err = tx_read_duration(c, pb->timeout, &r->timeout_ms)))
			return err;
		tx_pop(c, old);
		tx_field(c, "route");
	}
	if (pb->idle_timeout) {
		tx_field(c, "idle_timeout");
		if ((err = tx_read_duration(c, pb->idle_timeout, &r->idle_timeout_ms)))
			return err;
		r->has_idle_timeout = true;
		tx_pop(c, old);
		tx_field(c, "route");
	}
	if (pb->retry_policy && (err = read_retry(c, pb->retry_policy, &r->retry)))
		return err;
	if ((err = read_hash_policy(c, pb, r)))
		return err;
	tx_pop(c, old);
	return 0;
}

/* RedirectAction; its other fields (port_redirect, regex_rewrite) would
 * change where the client is sent: refused. */
static int read_redirect(struct tctx *c, const pb_redirect *pb, struct route *r)
{
	static const uint16_t codes[] = {301, 302, 303, 307, 308};
	static const char *const names[] = {"MOVED_PERMANENTLY",  "FOUND",
					    "SEE_OTHER",          "TEMPORARY_REDIRECT",
					    "PERMANENT_REDIRECT", NULL};
	size_t old = tx_field(c, "redirect");
	int v, err = tx_refuse_unknown(c, &pb->base,
				       "https_redirect, scheme_redirect, host_redirect, "
				       "path_redirect, prefix_rewrite, response_code, strip_query");
	if (err)
		return err;
	r->kind = ROUTE_REDIRECT;
	if (pb->scheme_rewrite_specifier_case ==
	    ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT) {
		if (pb->https_redirect && !(r->redirect_scheme = strdup("https")))
			return tx_nomem(c);
	} else if (
	    pb->scheme_rewrite_specifier_case ==
	    ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT) {
		if ((err = tx_text_field(c, "scheme_redirect", &pb->scheme_redirect, true,
					 &r->redirect_scheme)))
			return err;
		for (char *p = r->redirect_scheme; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (strcmp(r->redirect_scheme, "http") && strcmp(r->redirect_scheme, "https")) {
			tx_field(c, "scheme_redirect");
			return tx_fail(c, "expected http or https");
		}
	}
	if (pb->host_redirect.len) {
		tx_field(c, "host_redirect");
		if ((err = read_header_value(c, &pb->host_redirect, &r->redirect_host)))
			return err;
		tx_pop(c, old);
		tx_field(c, "redirect");
	}
	if (pb->path_rewrite_specifier_case ==
	    ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT) {
		tx_field(c, "path_redirect");
		if ((err = read_header_value(c, &pb->path_redirect, &r->redirect_path)))
			return err;
		tx_pop(c, old);
		tx_field(c, "redirect");
	} else if (
	    pb->path_rewrite_specifier_case ==
	    ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PREFIX_REWRITE) {
		tx_field(c, "prefix_rewrite");
		if ((err = read_header_value(c, &pb->prefix_rewrite, &r->redirect_prefix)))
			return err;
		tx_pop(c, old);
		tx_field(c, "redirect");
	}
	tx_field(c, "response_code");
	if ((err = tx_read_enum(
		 c, &envoy__config__route__v3__redirect_action__redirect_response_code__descriptor,
		 pb->response_code, names, &v)))
		return err;
	r->redirect_code = codes[v];
	r->strip_query = pb->strip_query;
	tx_pop(c, old);
	return 0;
}

static int read_direct_response(struct tctx *c, const pb_direct *pb, struct route *r)
{
	size_t old = tx_field(c, "direct_response");
	r->kind = ROUTE_DIRECT_RESPONSE;
	if (pb->status < 200 || pb->status > 599) {
		tx_field(c, "status");
		return tx_fail(c, "expected 200..599, got %u", pb->status);
	}
	r->direct_status = (uint16_t)pb->status;
	const Envoy__Config__Core__V3__DataSource *body = pb->body;
	if (body) {
		const ProtobufCBinaryData *b;
		tx_field(c, "body");
		switch (body->specifier_case) {
		case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING:
			tx_field(c, "inline_string");
			b = &body->inline_string;
			break;
		case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES:
			tx_field(c, "inline_bytes");
			b = &body->inline_bytes;
			break;
		default:
			return tx_fail(c, "expected inline_string or inline_bytes (skiff reads no "
					  "file for a response body)");
		}
		if (b->len > MAX_DIRECT_BODY)
			return tx_fail(c,
				       "%zu bytes, over the %u limit "
				       "(max_direct_response_body_size_bytes)",
				       b->len, MAX_DIRECT_BODY);
		int err = tx_read_text(c, b, false, &r->direct_body);
		if (err)
			return err;
	}
	tx_pop(c, old);
	return 0;
}

static int read_route(struct tctx *c, const pb_route *pb, struct route *r)
{
	route_defaults(r);
	int err = tx_text_field(c, "name", &pb->name, false, &r->name);
	if (!err)
		err = read_route_match(c, pb->match, &r->match);
	if (err)
		return err;
	switch (pb->action_case) {
	case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE:
		err = read_route_action(c, pb->route, r);
		break;
	case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT:
		err = read_redirect(c, pb->redirect, r);
		break;
	case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE:
		err = read_direct_response(c, pb->direct_response, r);
		break;
	case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_FILTER_ACTION:
		tx_field(c, "filter_action");
		return tx_fail(c, "not supported by skiff (supported: route, redirect, "
				  "direct_response)");
	case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_NON_FORWARDING_ACTION:
		tx_field(c, "non_forwarding_action");
		return tx_fail(c, "not supported by skiff (supported: route, redirect, "
				  "direct_response)");
	default:
		return tx_fail(c, "expected one of route, redirect, direct_response");
	}
	return err ? err : read_edits(c, PB_EDITS(pb), &r->edits);
}

/* ---- virtual hosts ------------------------------------------------------ */

/* A domain, lower-cased: "*" alone, or a '*' only at the start or the end
 * (Envoy's rule), no ':' but a port's. */
static int read_domain(struct tctx *c, const ProtobufCBinaryData *b, char **out)
{
	char buf[XDS_SHOWN_MAX];
	int err = tx_read_text(c, b, true, out);
	if (err)
		return err;
	char *s = *out;
	size_t len = strlen(s);
	for (char *p = s; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		bool edge = p == s || p == s + len - 1;
		if (*p == '*' && !edge)
			goto bad;
		if (*p != '*' && *p != ':' && *p != '[' && *p != ']' &&
		    !is_tchar((unsigned char)*p))
			goto bad;
	}
	if (len > 1 && s[0] == '*' && s[len - 1] == '*')
		goto bad;
	return 0;
bad:
	return tx_fail(c,
		       "not a domain: \"%s\" (a '*' may only open or close a name, or stand "
		       "alone)",
		       xds_shown(b->data, b->len, buf));
}

static int read_domains(struct tctx *c, const pb_vhost *pb, struct virtual_host *vh)
{
	size_t old = tx_field(c, "domains");
	if (!pb->n_domains)
		return tx_fail(c, "expected at least one domain");
	if (!(vh->domains = calloc(pb->n_domains, sizeof(*vh->domains))))
		return tx_nomem(c);
	for (size_t i = 0; i < pb->n_domains; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		vh->n_domains = i + 1;
		int err = read_domain(c, &pb->domains[i], &vh->domains[i]);
		if (err)
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

static int read_vhost(struct tctx *c, const pb_vhost *pb, struct virtual_host *vh)
{
	int err = tx_text_field(c, "name", &pb->name, true, &vh->name);
	if (!err)
		err = read_domains(c, pb, vh);
	if (err)
		return err;
	if (pb->n_routes) {
		size_t old = tx_field(c, "routes");
		if (!(vh->routes = calloc(pb->n_routes, sizeof(*vh->routes))))
			return tx_nomem(c);
		for (size_t i = 0; i < pb->n_routes; i++) {
			size_t at = tx_push(c, "[%zu]", i);
			vh->n_routes = i + 1;
			if ((err = read_route(c, pb->routes[i], &vh->routes[i])))
				return err;
			tx_pop(c, at);
		}
		tx_pop(c, old);
	}
	return read_edits(c, PB_EDITS(pb), &vh->edits);
}

/* A small open-addressing set of strings, to find duplicates among
 * thousands of virtual hosts in linear time. */
struct name_set {
	const char **slot;
	size_t cap;
};

static int name_set_init(struct name_set *s, size_t n)
{
	s->cap = 16;
	while (s->cap < 2 * n)
		s->cap *= 2;
	s->slot = calloc(s->cap, sizeof(*s->slot));
	return s->slot ? 0 : -ENOMEM;
}

/* Adds name (borrowed); false when it was there already. */
static bool name_set_add(struct name_set *s, const char *name)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->slot[i]) {
			s->slot[i] = name;
			return true;
		}
		if (strcmp(s->slot[i], name) == 0)
			return false;
	}
}

/* Envoy refuses two virtual hosts of one name, and a domain in two. */
static int check_unique(struct tctx *c, const struct route_config *rc)
{
	size_t n_domains = 0;
	for (size_t i = 0; i < rc->n_vhosts; i++)
		n_domains += rc->vhosts[i].n_domains;
	struct name_set names, domains;
	if (name_set_init(&names, rc->n_vhosts) < 0)
		return tx_nomem(c);
	if (name_set_init(&domains, n_domains) < 0) {
		free(names.slot);
		return tx_nomem(c);
	}
	int err = 0;
	for (size_t i = 0; !err && i < rc->n_vhosts; i++) {
		const struct virtual_host *vh = &rc->vhosts[i];
		if (!name_set_add(&names, vh->name)) {
			tx_push(c, "%svirtual_hosts[%zu].name", c->path.len ? "." : "", i);
			err = tx_fail(c, "duplicate virtual host \"%s\"", vh->name);
		}
		for (size_t j = 0; !err && j < vh->n_domains; j++) {
			if (!name_set_add(&domains, vh->domains[j])) {
				tx_push(c, "%svirtual_hosts[%zu].domains[%zu]",
					c->path.len ? "." : "", i, j);
				err = tx_fail(c,
					      "duplicate domain \"%s\" (each domain may be in "
					      "one virtual host)",
					      vh->domains[j]);
			}
		}
	}
	free(names.slot);
	free(domains.slot);
	return err;
}

/* Compiles the regexes (and checks what router_prepare checks): a pattern
 * that does not compile is this resource's error, at the field
 * router_prepare names ("virtual_hosts[0]...regex: why"). */
static int prepare(struct tctx *c, struct route_config *rc)
{
	char why[400];
	int err = router_prepare(rc, why, sizeof(why));
	if (err == -ENOMEM)
		return tx_nomem(c);
	if (!err)
		return 0;
	char *reason = strstr(why, ": ");
	if (!reason)
		return tx_fail(c, "%s", why);
	*reason = '\0';
	tx_push(c, "%s%s", c->path.len ? "." : "", why);
	return tx_fail(c, "%s", reason + 2);
}

/* A RouteConfiguration at the current path; `name_required` for RDS (an
 * inline one may be nameless). */
static int read_route_config(struct tctx *c, const pb_route_config *pb, bool name_required,
			     struct route_config *rc)
{
	size_t old = c->path.len;
	int err = tx_text_field(c, "name", &pb->name, name_required, &rc->name);
	if (err)
		return err;
	if (pb->n_virtual_hosts) {
		tx_field(c, "virtual_hosts");
		if (!(rc->vhosts = calloc(pb->n_virtual_hosts, sizeof(*rc->vhosts))))
			return tx_nomem(c);
		for (size_t i = 0; i < pb->n_virtual_hosts; i++) {
			size_t at = tx_push(c, "[%zu]", i);
			rc->n_vhosts = i + 1;
			if ((err = read_vhost(c, pb->virtual_hosts[i], &rc->vhosts[i])))
				return err;
			tx_pop(c, at);
		}
		tx_pop(c, old);
	}
	if ((err = read_edits(c, PB_EDITS(pb), &rc->edits)) || (err = check_unique(c, rc)))
		return err;
	tx_pop(c, old);
	return prepare(c, rc);
}

int xds_translate_route_config(const Envoy__Config__Route__V3__RouteConfiguration *pb,
			       struct route_config *out, char *err, size_t errlen)
{
	struct tctx c;
	tx_begin(&c, "route_configuration", &pb->name, err, errlen);
	*out = (struct route_config){0};
	int rc = read_route_config(&c, pb, true, out);
	if (rc)
		router_config_clear(out);
	return rc;
}

void xds_route_config_clear(struct route_config *rc)
{
	router_config_clear(rc);
}

/* ---- http_connection_manager --------------------------------------------- */

static int read_u32(struct tctx *c, const char *name, const Google__Protobuf__UInt32Value *v,
		    uint32_t min, uint32_t max, uint32_t *out)
{
	if (!v)
		return 0;
	if (v->value < min || v->value > max) {
		tx_field(c, name);
		return tx_fail(c, "expected %u..%u, got %u", min, max, v->value);
	}
	*out = v->value;
	return 0;
}

int tx_read_http2_options(struct tctx *c, const Envoy__Config__Core__V3__Http2ProtocolOptions *pb,
			  struct http2_limits *out)
{
	/* Envoy's ranges (protocol.proto). */
	size_t old = c->path.len;
	int err = read_u32(c, "max_concurrent_streams", pb->max_concurrent_streams, 1, 2147483647,
			   &out->max_concurrent_streams);
	if (!err)
		err = read_u32(c, "initial_stream_window_size", pb->initial_stream_window_size,
			       65535, 2147483647, &out->initial_stream_window_size);
	if (!err)
		err = read_u32(c, "initial_connection_window_size",
			       pb->initial_connection_window_size, 65535, 2147483647,
			       &out->initial_connection_window_size);
	if (!err)
		err = read_u32(c, "max_outbound_frames", pb->max_outbound_frames, 1, UINT32_MAX,
			       &out->max_outbound_frames);
	if (!err)
		err = read_u32(c, "max_outbound_control_frames", pb->max_outbound_control_frames, 1,
			       UINT32_MAX, &out->max_outbound_control_frames);
	if (!err)
		err = read_u32(c, "max_consecutive_inbound_frames_with_empty_payload",
			       pb->max_consecutive_inbound_frames_with_empty_payload, 0, UINT32_MAX,
			       &out->max_consecutive_empty_frames);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* http_filters: the router last; another filter is refused unless it is
 * optional (then skipped, as an Envoy without that extension would) or
 * disabled. */
static int read_http_filters(struct tctx *c, const pb_hcm *pb)
{
	static const char *const types[] = {ROUTER_TYPE, NULL};
	size_t old = tx_field(c, "http_filters");
	bool router = false;
	for (size_t i = 0; i < pb->n_http_filters; i++) {
		const pb_http_filter *f = pb->http_filters[i];
		size_t at = tx_push(c, "[%zu]", i);
		if (router)
			return tx_fail(c, "after " ROUTER_NAME ", which must be the last filter");
		if (f->config_type_case ==
		    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG) {
			const char *url =
			    f->typed_config->type_url ? f->typed_config->type_url : "";
			router = strcmp(url, ROUTER_TYPE) == 0;
		} else if (
		    f->config_type_case ==
		    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_CONFIG_DISCOVERY) {
			router = false;
		} else {
			router = tx_bytes_are(&f->name, ROUTER_NAME);
		}
		if (router && f->disabled) {
			tx_field(c, "disabled");
			return tx_fail(c, "the router filter cannot be disabled");
		}
		if (!router && !f->is_optional && !f->disabled) {
			char buf[XDS_SHOWN_MAX];
			if (f->config_type_case ==
			    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG) {
				tx_field(c, "typed_config");
				int err = tx_unsupported_type(c, f->typed_config, types);
				size_t len = strlen(c->err);
				if (c->errlen > len)
					snprintf(c->err + len, c->errlen - len,
						 "; set is_optional to run without it");
				return err;
			}
			if (f->config_type_case ==
			    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_CONFIG_DISCOVERY) {
				tx_field(c, "config_discovery");
				return tx_fail(c, "not supported by skiff (filters come inline in "
						  "typed_config)");
			}
			tx_field(c, "name");
			return tx_fail(c,
				       "not supported by skiff: \"%s\" (supported: " ROUTER_NAME
				       "); set is_optional to run without it",
				       xds_shown(f->name.data, f->name.len, buf));
		}
		tx_pop(c, at);
	}
	if (!router)
		return tx_fail(c, "must end with the " ROUTER_NAME " filter");
	tx_pop(c, old);
	return 0;
}

static int read_route_specifier(struct tctx *c, const pb_hcm *pb,
				struct http_conn_manager_config *h)
{
	const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds *rds = pb->rds;
	switch (pb->route_specifier_case) {
	case ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS: {
		size_t old = tx_field(c, "rds");
		if (!rds->config_source ||
		    rds->config_source->config_source_specifier_case !=
			ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS) {
			tx_field(c, "config_source");
			return tx_fail(c, "expected {ads: {}} (skiff fetches routes over its ADS "
					  "stream)");
		}
		int err = tx_text_field(c, "route_config_name", &rds->route_config_name, true,
					&h->rds_name);
		if (!err)
			tx_pop(c, old);
		return err;
	}
	case ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG: {
		size_t old = tx_field(c, "route_config");
		if (!(h->route_config = calloc(1, sizeof(*h->route_config))))
			return tx_nomem(c);
		h->route_config_owned = true;
		int err = read_route_config(c, pb->route_config, false, h->route_config);
		if (!err)
			tx_pop(c, old);
		return err;
	}
	case ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_SCOPED_ROUTES:
		tx_field(c, "scoped_routes");
		return tx_fail(c, "not supported by skiff (supported: rds, route_config)");
	default:
		return tx_fail(c, "expected one of rds, route_config");
	}
}

static int read_hcm_timeouts(struct tctx *c, const pb_hcm *pb, struct http_conn_manager_config *h)
{
	const struct {
		const char *name;
		const Google__Protobuf__Duration *d;
		uint32_t *ms;
	} t[] = {
	    {"stream_idle_timeout", pb->stream_idle_timeout, &h->stream_idle_timeout_ms},
	    {"request_timeout", pb->request_timeout, &h->request_timeout_ms},
	    {"drain_timeout", pb->drain_timeout, &h->drain_timeout_ms},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!t[i].d)
			continue;
		size_t old = tx_field(c, t[i].name);
		int err = tx_read_duration(c, t[i].d, t[i].ms);
		if (err)
			return err;
		tx_pop(c, old);
	}
	return 0;
}

static int read_common_options(struct tctx *c, const pb_hcm *pb, struct http_conn_manager_config *h)
{
	const Envoy__Config__Core__V3__HttpProtocolOptions *o = pb->common_http_protocol_options;
	if (!o)
		return 0;
	size_t old = tx_field(c, "common_http_protocol_options");
	if (o->idle_timeout) {
		tx_field(c, "idle_timeout");
		int err = tx_read_duration(c, o->idle_timeout, &h->idle_timeout_ms);
		if (err)
			return err;
		tx_pop(c, old);
		tx_field(c, "common_http_protocol_options");
	}
	int err = read_u32(c, "max_headers_count", o->max_headers_count, 1, UINT32_MAX,
			   &h->max_headers_count);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* One upgrade_configs entry, read as the bootstrap reads it (the same
 * configuration must give the same listener from either source):
 * "websocket" in any case, "CONNECT" as the method is spelt. `enabled:
 * false` leaves the type off (Envoy lets a route turn it back on; skiff has
 * no per-route upgrade settings). */
static int read_upgrade_config(struct tctx *c, const pb_upgrade *pb,
			       struct http_conn_manager_config *h)
{
	char buf[XDS_SHOWN_MAX];
	const ProtobufCBinaryData *t = &pb->upgrade_type;
	size_t old = tx_field(c, "upgrade_type");
	if (!t->len)
		return tx_fail(c, "required");
	bool on = !pb->enabled || pb->enabled->value;
	if (t->len == 9 && strncasecmp((const char *)t->data, "websocket", 9) == 0)
		h->upgrade_websocket |= on;
	else if (tx_bytes_are(t, "CONNECT"))
		h->upgrade_connect |= on;
	else
		return tx_fail(c, "not supported by skiff: \"%s\" (supported: websocket, CONNECT)",
			       xds_shown(t->data, t->len, buf));
	tx_pop(c, old);
	if (pb->n_filters) {
		/* Envoy would run these instead of http_filters for the
		 * upgrade: ignored, an upgrade would skip what they check. */
		tx_field(c, "filters");
		return tx_fail(c, "not supported by skiff (an upgrade runs the http_filters)");
	}
	return 0;
}

static int read_upgrade_configs(struct tctx *c, const pb_hcm *pb,
				struct http_conn_manager_config *h)
{
	if (!pb->n_upgrade_configs)
		return 0;
	size_t old = tx_field(c, "upgrade_configs");
	for (size_t i = 0; i < pb->n_upgrade_configs; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		int err = read_upgrade_config(c, pb->upgrade_configs[i], h);
		if (err)
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

static int read_hcm(struct tctx *c, struct xds_decoder *d, const pb_hcm *pb,
		    struct http_conn_manager_config *h)
{
	static const char *const codecs[] = {"AUTO", "HTTP1", "HTTP2", NULL};
	size_t old = c->path.len;
	int v, err = tx_text_field(c, "stat_prefix", &pb->stat_prefix, true, &h->stat_prefix);
	if (err)
		return err;
	tx_field(c, "codec_type");
	if ((err = tx_read_enum(
		 c,
		 &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__codec_type__descriptor,
		 pb->codec_type, codecs, &v)))
		return err;
	h->codec = (enum http_codec_type)v; /* same order */
	tx_pop(c, old);
	if ((err = read_route_specifier(c, pb, h)) || (err = read_http_filters(c, pb)))
		return err;
	if (pb->http2_protocol_options) {
		tx_field(c, "http2_protocol_options");
		if ((err = tx_read_http2_options(c, pb->http2_protocol_options, &h->http2)))
			return err;
		tx_pop(c, old);
	}
	if ((err = read_common_options(c, pb, h)) || (err = read_hcm_timeouts(c, pb, h)) ||
	    (err = read_upgrade_configs(c, pb, h)))
		return err;
	if ((err = read_u32(c, "max_request_headers_kb", pb->max_request_headers_kb, 1,
			    MAX_REQUEST_HEADERS_KB, &h->max_request_headers_kb)))
		return err;
	http_conn_manager_finish(h);
	h->generate_request_id = !pb->generate_request_id || pb->generate_request_id->value;
	return tx_read_access_log(c, d, pb->access_log, pb->n_access_log, &h->access_log);
}

int tx_read_http_conn_manager(struct tctx *c, struct xds_decoder *d,
			      const Google__Protobuf__Any *any,
			      struct http_conn_manager_config **out)
{
	pb_hcm *pb = NULL;
	if (!(*out = calloc(1, sizeof(**out))))
		return tx_nomem(c);
	struct http_conn_manager_config *h = *out;
	http_conn_manager_defaults(h);
	int err = tx_unpack(
	    c, d, any,
	    &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor,
	    &pb);
	if (err)
		return err;
	err = read_hcm(c, d, pb, h);
	xds_decoder_free(d, pb);
	return err;
}
