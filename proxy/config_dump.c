/* Snapshot -> Envoy-style /config_dump JSON; see config_dump.h.
 *
 * Written straight into a growing buffer: the document is small and written
 * once per admin request, so there is no JSON library and no tree. */
#include "proxy/config_dump.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/duration.h"
#include "proxy/http_config.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"

#define TYPE_PREFIX "type.googleapis.com/"

/* Output buffer; a failed allocation sets `failed` and later writes do
 * nothing, so callers check once at the end. */
struct jbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void jb_append(struct jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *bigger = realloc(b->s, cap);
		if (!bigger) {
			b->failed = true;
			return;
		}
		b->s = bigger;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void jb_raw(struct jbuf *b, const char *s)
{
	jb_append(b, s, strlen(s));
}

static void jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jb_printf(struct jbuf *b, const char *fmt, ...)
{
	char tmp[128]; /* numbers and addresses only */
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		jb_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string (RFC 8259 section 7): quote, backslash and control
 * characters escaped; other bytes copied, as config strings came through
 * libyaml, which accepts only valid UTF-8. NULL is written as "". */
static void jb_str(struct jbuf *b, const char *s)
{
	jb_raw(b, "\"");
	for (const char *run = s; s && *s; run = s) {
		while (*s && *s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
			s++;
		jb_append(b, run, (size_t)(s - run));
		if (!*s)
			break;
		switch (*s) {
		case '"': jb_raw(b, "\\\""); break;
		case '\\': jb_raw(b, "\\\\"); break;
		case '\n': jb_raw(b, "\\n"); break;
		case '\r': jb_raw(b, "\\r"); break;
		case '\t': jb_raw(b, "\\t"); break;
		default: jb_printf(b, "\\u%04x", (unsigned char)*s); break;
		}
		s++;
	}
	jb_raw(b, "\"");
}

/* "key":"value" with a leading comma unless it is the first member. */
static void jb_member_str(struct jbuf *b, bool first, const char *key, const char *value)
{
	jb_printf(b, "%s\"%s\":", first ? "" : ",", key);
	jb_str(b, value);
}

/* ,"key":N (key a short literal). */
static void jb_uint(struct jbuf *b, const char *key, uint32_t v)
{
	jb_printf(b, ",\"%s\":%u", key, v);
}

static void jb_duration(struct jbuf *b, const char *key, uint32_t ms)
{
	char d[32];
	duration_format(ms, d, sizeof(d));
	jb_member_str(b, false, key, d);
}

/* config.core.v3.SocketAddress, without the Address wrapper. */
static void dump_socket_address(struct jbuf *b, const struct sock_addr *addr)
{
	char ip[SOCK_ADDR_STRLEN];
	jb_raw(b, "{");
	jb_member_str(b, true, "address", sock_addr_format_ip(addr, ip, sizeof(ip)));
	jb_printf(b, ",\"port_value\":%u}", sock_addr_port(addr));
}

static void dump_address(struct jbuf *b, const struct sock_addr *addr)
{
	jb_raw(b, "{\"socket_address\":");
	dump_socket_address(b, addr);
	jb_raw(b, "}");
}

static void dump_bootstrap(struct jbuf *b, const struct snapshot *snap)
{
	jb_raw(b, "{\"@type\":\"" TYPE_PREFIX "envoy.admin.v3.BootstrapConfigDump\",\"bootstrap\":{");
	jb_raw(b, "\"node\":{");
	jb_member_str(b, true, "id", snap->node.id);
	jb_member_str(b, false, "cluster", snap->node.cluster);
	jb_raw(b, "},\"admin\":{\"address\":");
	dump_address(b, &snap->admin.addr);
	jb_raw(b, "}");
	if (snap->ads.cluster_name) {
		jb_raw(b, ",\"dynamic_resources\":{\"ads_config\":{");
		jb_member_str(b, true, "api_type", snap->ads.delta ? "DELTA_GRPC" : "GRPC");
		jb_raw(b, ",\"transport_api_version\":\"V3\",\"grpc_services\":[{\"envoy_grpc\":{");
		jb_member_str(b, true, "cluster_name", snap->ads.cluster_name);
		jb_raw(b, "}}]}}");
	}
	jb_raw(b, "}}");
}

static const char *direction_name(enum traffic_direction d)
{
	switch (d) {
	case DIRECTION_INBOUND: return "INBOUND";
	case DIRECTION_OUTBOUND: return "OUTBOUND";
	default: return "UNSPECIFIED";
	}
}

static void dump_tcp_proxy(struct jbuf *b, const struct tcp_proxy_config *tp)
{
	jb_raw(b, "{\"name\":\"envoy.filters.network.tcp_proxy\",\"typed_config\":{\"@type\":\"" TYPE_PREFIX
		  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\"");
	jb_member_str(b, false, "stat_prefix", tp->stat_prefix);
	jb_member_str(b, false, "cluster", tp->cluster_name);
	jb_duration(b, "idle_timeout", tp->idle_timeout_ms);
	if (tp->access_log.path) {
		jb_raw(b, ",\"access_log\":[{\"name\":\"envoy.access_loggers.file\",\"typed_config\":{"
			  "\"@type\":\"" TYPE_PREFIX
			  "envoy.extensions.access_loggers.file.v3.FileAccessLog\"");
		jb_member_str(b, false, "path", tp->access_log.path);
		jb_raw(b, "}}]");
	}
	jb_raw(b, "}}");
}

static void dump_rbac_policy(struct jbuf *b, const struct rbac_policy *p)
{
	jb_str(b, p->name);
	jb_raw(b, ":{\"permissions\":[");
	for (size_t i = 0; i < p->n_permissions; i++) {
		jb_raw(b, i ? "," : "");
		if (p->permissions[i].any)
			jb_raw(b, "{\"any\":true}");
		else
			jb_printf(b, "{\"destination_port\":%u}", p->permissions[i].destination_port);
	}
	jb_raw(b, "],\"principals\":[");
	for (size_t i = 0; i < p->n_principals; i++) {
		jb_raw(b, i ? "," : "");
		if (p->principals[i].any) {
			jb_raw(b, "{\"any\":true}");
		} else {
			jb_raw(b, "{\"authenticated\":{\"principal_name\":{\"exact\":");
			jb_str(b, p->principals[i].principal_name);
			jb_raw(b, "}}}");
		}
	}
	jb_raw(b, "]}");
}

/* An empty policies map is left out, as protobuf's JSON mapping does. */
static void dump_rbac(struct jbuf *b, const struct rbac_config *rbac)
{
	jb_raw(b, "{\"name\":\"envoy.filters.network.rbac\",\"typed_config\":{\"@type\":\"" TYPE_PREFIX
		  "envoy.extensions.filters.network.rbac.v3.RBAC\",\"rules\":{");
	jb_member_str(b, true, "action", rbac->action == RBAC_DENY ? "DENY" : "ALLOW");
	if (rbac->n_policies) {
		jb_raw(b, ",\"policies\":{");
		for (size_t i = 0; i < rbac->n_policies; i++) {
			jb_raw(b, i ? "," : "");
			dump_rbac_policy(b, &rbac->policies[i]);
		}
		jb_raw(b, "}");
	}
	jb_raw(b, "}");
	jb_member_str(b, false, "stat_prefix", rbac->stat_prefix);
	jb_raw(b, "}}");
}

/* No file: PEM that came in an SDS Secret, shown as Envoy shows a secret's
 * bytes. */
static void dump_filename(struct jbuf *b, const char *key, const char *file)
{
	if (!file) {
		jb_printf(b, "\"%s\":{\"inline_bytes\":\"[redacted]\"}", key);
		return;
	}
	jb_printf(b, "\"%s\":{\"filename\":", key);
	jb_str(b, file);
	jb_raw(b, "}");
}

static void dump_strings(struct jbuf *b, char *const *v, size_t n)
{
	jb_raw(b, "[");
	for (size_t i = 0; i < n; i++) {
		jb_raw(b, i ? "," : "");
		jb_str(b, v[i]);
	}
	jb_raw(b, "]");
}

/* CommonTlsContext: file names only, never the contents, as Envoy shows. */
static void dump_common_tls(struct jbuf *b, const struct tls_config *tls)
{
	jb_raw(b, "\"common_tls_context\":{\"tls_params\":{");
	jb_member_str(b, true, "tls_minimum_protocol_version",
		      tls->min_version == 0x0303 ? "TLSv1_2" : "TLSv1_3");
	jb_raw(b, "},\"tls_certificates\":[{");
	dump_filename(b, "certificate_chain", tls->cert_chain_file);
	jb_raw(b, ",");
	dump_filename(b, "private_key", tls->private_key_file);
	jb_raw(b, "}]");
	if (tls->trusted_ca_file || tls->identity) {
		jb_raw(b, ",\"validation_context\":{");
		dump_filename(b, "trusted_ca", tls->trusted_ca_file);
		if (tls->n_match_sans) {
			jb_raw(b, ",\"match_typed_subject_alt_names\":[");
			for (size_t i = 0; i < tls->n_match_sans; i++) {
				jb_raw(b, i ? ",{\"san_type\":\"URI\",\"matcher\":{\"exact\":"
					    : "{\"san_type\":\"URI\",\"matcher\":{\"exact\":");
				jb_str(b, tls->match_sans[i]);
				jb_raw(b, "}}");
			}
			jb_raw(b, "]");
		}
		jb_raw(b, "}");
	}
	if (tls->n_alpn) {
		jb_raw(b, ",\"alpn_protocols\":");
		dump_strings(b, tls->alpn, tls->n_alpn);
	}
	jb_raw(b, "}");
}

/* ,"transport_socket":{...}: DownstreamTlsContext on a filter chain,
 * UpstreamTlsContext on a cluster. */
static void dump_transport_socket(struct jbuf *b, const struct tls_config *tls, bool upstream)
{
	jb_raw(b, ",\"transport_socket\":{\"name\":\"envoy.transport_sockets.tls\",\"typed_config\":{"
		  "\"@type\":\"" TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3.");
	jb_raw(b, upstream ? "UpstreamTlsContext\"," : "DownstreamTlsContext\",");
	dump_common_tls(b, tls);
	if (!upstream)
		jb_printf(b, ",\"require_client_certificate\":%s",
			  tls->require_client_certificate ? "true" : "false");
	else if (tls->sni)
		jb_member_str(b, false, "sni", tls->sni);
	jb_raw(b, "}}");
}

/* ---- HTTP: the connection manager and route configurations ------------- */

static void dump_header_adds(struct jbuf *b, const char *key, const struct header_add *v, size_t n)
{
	if (!n)
		return;
	jb_printf(b, ",\"%s\":[", key);
	for (size_t i = 0; i < n; i++) {
		jb_raw(b, i ? ",{\"header\":{" : "{\"header\":{");
		jb_member_str(b, true, "key", v[i].name);
		jb_member_str(b, false, "value", v[i].value);
		jb_raw(b, "}");
		jb_member_str(b, false, "append_action",
			      v[i].append ? "APPEND_IF_EXISTS_OR_ADD" : "OVERWRITE_IF_EXISTS_OR_ADD");
		jb_raw(b, "}");
	}
	jb_raw(b, "]");
}

static void dump_header_removes(struct jbuf *b, const char *key, char *const *v, size_t n)
{
	if (!n)
		return;
	jb_printf(b, ",\"%s\":", key);
	dump_strings(b, v, n);
}

/* The four header edit fields, each left out when empty. */
static void dump_edits(struct jbuf *b, const struct header_edits *e)
{
	dump_header_adds(b, "request_headers_to_add", e->request_add, e->n_request_add);
	dump_header_removes(b, "request_headers_to_remove", e->request_remove, e->n_request_remove);
	dump_header_adds(b, "response_headers_to_add", e->response_add, e->n_response_add);
	dump_header_removes(b, "response_headers_to_remove", e->response_remove,
			    e->n_response_remove);
}

/* A StringMatcher as a JSON object. */
static void dump_string_match(struct jbuf *b, const struct string_match *m)
{
	static const char *const kinds[] = {
		[SM_EXACT] = "exact", [SM_PREFIX] = "prefix", [SM_SUFFIX] = "suffix",
		[SM_CONTAINS] = "contains",
	};
	jb_raw(b, "{");
	if (m->kind == SM_REGEX) {
		jb_raw(b, "\"safe_regex\":{");
		jb_member_str(b, true, "regex", m->value);
		jb_raw(b, "}");
	} else {
		jb_member_str(b, true, kinds[m->kind], m->value);
	}
	if (m->ignore_case)
		jb_raw(b, ",\"ignore_case\":true");
	jb_raw(b, "}");
}

static void dump_route_match(struct jbuf *b, const struct route_match *m)
{
	jb_raw(b, "\"match\":{");
	if (m->kind == PATH_REGEX) {
		jb_raw(b, "\"safe_regex\":{");
		jb_member_str(b, true, "regex", m->value);
		jb_raw(b, "}");
	} else if (m->kind == PATH_CONNECT) {
		jb_raw(b, "\"connect_matcher\":{}");
	} else {
		jb_member_str(b, true, m->kind == PATH_EXACT ? "path" : "prefix", m->value);
	}
	if (!m->case_sensitive)
		jb_raw(b, ",\"case_sensitive\":false");
	if (m->n_headers) {
		jb_raw(b, ",\"headers\":[");
		for (size_t i = 0; i < m->n_headers; i++) {
			const struct header_match *h = &m->headers[i];
			jb_raw(b, i ? ",{" : "{");
			jb_member_str(b, true, "name", h->name);
			if (h->present_only) {
				jb_raw(b, ",\"present_match\":true");
			} else {
				jb_raw(b, ",\"string_match\":");
				dump_string_match(b, &h->value);
			}
			if (h->invert)
				jb_raw(b, ",\"invert_match\":true");
			jb_raw(b, "}");
		}
		jb_raw(b, "]");
	}
	if (m->n_query) {
		jb_raw(b, ",\"query_parameters\":[");
		for (size_t i = 0; i < m->n_query; i++) {
			const struct query_match *q = &m->query[i];
			jb_raw(b, i ? ",{" : "{");
			jb_member_str(b, true, "name", q->name);
			if (q->present_only) {
				jb_raw(b, ",\"present_match\":true");
			} else {
				jb_raw(b, ",\"string_match\":");
				dump_string_match(b, &q->value);
			}
			jb_raw(b, "}");
		}
		jb_raw(b, "]");
	}
	jb_raw(b, "}");
}

/* retry_on back in Envoy's comma-separated form. */
static void dump_retry_policy(struct jbuf *b, const struct retry_policy *rp)
{
	static const char *const names[] = { "5xx", "gateway-error", "reset", "connect-failure",
					     "retriable-status-codes", "refused-stream" };
	char on[128] = "";
	size_t used = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (rp->retry_on & (1u << i))
			used += (size_t)snprintf(on + used, sizeof(on) - used, "%s%s",
						 used ? "," : "", names[i]);
	jb_raw(b, ",\"retry_policy\":{");
	jb_member_str(b, true, "retry_on", on);
	jb_printf(b, ",\"num_retries\":%u", rp->num_retries);
	if (rp->per_try_timeout_ms)
		jb_duration(b, "per_try_timeout", rp->per_try_timeout_ms);
	if (rp->back_off_base_ms) {
		char d[32];
		duration_format(rp->back_off_base_ms, d, sizeof(d));
		jb_raw(b, ",\"retry_back_off\":{");
		jb_member_str(b, true, "base_interval", d);
		if (rp->back_off_max_ms)
			jb_duration(b, "max_interval", rp->back_off_max_ms);
		jb_raw(b, "}");
	}
	if (rp->previous_hosts)
		jb_raw(b, ",\"retry_host_predicate\":[{\"name\":\"" RETRY_PREVIOUS_HOSTS_NAME "\"}]");
	if (rp->host_selection_max_attempts) /* int64: a string in proto3 JSON */
		jb_printf(b, ",\"host_selection_retry_max_attempts\":\"%u\"",
			  rp->host_selection_max_attempts);
	if (rp->n_retriable_status_codes) {
		jb_raw(b, ",\"retriable_status_codes\":[");
		for (size_t i = 0; i < rp->n_retriable_status_codes; i++)
			jb_printf(b, "%s%u", i ? "," : "", rp->retriable_status_codes[i]);
		jb_raw(b, "]");
	}
	jb_raw(b, "}");
}

static void dump_route_action(struct jbuf *b, const struct route *r)
{
	jb_raw(b, ",\"route\":{");
	if (r->n_weighted) {
		jb_raw(b, "\"weighted_clusters\":{\"clusters\":[");
		for (size_t i = 0; i < r->n_weighted; i++) {
			jb_raw(b, i ? ",{" : "{");
			jb_member_str(b, true, "name", r->weighted[i].name);
			jb_printf(b, ",\"weight\":%u}", r->weighted[i].weight);
		}
		jb_raw(b, "]}");
	} else {
		jb_member_str(b, true, "cluster", r->cluster_name);
	}
	jb_duration(b, "timeout", r->timeout_ms);
	if (r->has_idle_timeout)
		jb_duration(b, "idle_timeout", r->idle_timeout_ms);
	if (r->prefix_rewrite)
		jb_member_str(b, false, "prefix_rewrite", r->prefix_rewrite);
	if (r->host_rewrite)
		jb_member_str(b, false, "host_rewrite_literal", r->host_rewrite);
	if (r->retry.retry_on)
		dump_retry_policy(b, &r->retry);
	for (size_t i = 0; i < r->n_hash_policies; i++) {
		const struct hash_policy *h = &r->hash_policies[i];
		jb_raw(b, i ? ",{" : ",\"hash_policy\":[{");
		if (h->kind == HASH_SOURCE_IP) {
			jb_raw(b, "\"connection_properties\":{\"source_ip\":true}");
		} else if (h->kind == HASH_COOKIE) {
			jb_raw(b, "\"cookie\":{");
			jb_member_str(b, true, "name", h->name);
			if (h->has_ttl)
				jb_duration(b, "ttl", h->ttl_s * 1000);
			if (h->path)
				jb_member_str(b, false, "path", h->path);
			jb_raw(b, "}");
		} else {
			jb_raw(b, h->kind == HASH_HEADER ? "\"header\":{" : "\"query_parameter\":{");
			jb_member_str(b, true, h->kind == HASH_HEADER ? "header_name" : "name", h->name);
			jb_raw(b, "}");
		}
		jb_raw(b, h->terminal ? ",\"terminal\":true}" : "}");
		if (i + 1 == r->n_hash_policies)
			jb_raw(b, "]");
	}
	jb_raw(b, "}");
}

static const char *redirect_code_name(uint16_t code)
{
	switch (code) {
	case 302: return "FOUND";
	case 303: return "SEE_OTHER";
	case 307: return "TEMPORARY_REDIRECT";
	case 308: return "PERMANENT_REDIRECT";
	default: return "MOVED_PERMANENTLY";
	}
}

static void dump_redirect(struct jbuf *b, const struct route *r)
{
	jb_raw(b, ",\"redirect\":{");
	jb_member_str(b, true, "response_code", redirect_code_name(r->redirect_code));
	if (r->redirect_host)
		jb_member_str(b, false, "host_redirect", r->redirect_host);
	if (r->redirect_path)
		jb_member_str(b, false, "path_redirect", r->redirect_path);
	if (r->redirect_prefix)
		jb_member_str(b, false, "prefix_rewrite", r->redirect_prefix);
	if (r->redirect_scheme)
		jb_member_str(b, false, "scheme_redirect", r->redirect_scheme);
	if (r->strip_query)
		jb_raw(b, ",\"strip_query\":true");
	jb_raw(b, "}");
}

static void dump_route(struct jbuf *b, const struct route *r)
{
	jb_raw(b, "{");
	if (r->name) {
		jb_member_str(b, true, "name", r->name);
		jb_raw(b, ",");
	}
	dump_route_match(b, &r->match);
	if (r->kind == ROUTE_TO_CLUSTER) {
		dump_route_action(b, r);
	} else if (r->kind == ROUTE_REDIRECT) {
		dump_redirect(b, r);
	} else {
		jb_printf(b, ",\"direct_response\":{\"status\":%u", r->direct_status);
		if (r->direct_body) {
			jb_raw(b, ",\"body\":{");
			jb_member_str(b, true, "inline_string", r->direct_body);
			jb_raw(b, "}");
		}
		jb_raw(b, "}");
	}
	dump_edits(b, &r->edits);
	jb_raw(b, "}");
}

/* A RouteConfiguration's members, without braces. */
static void dump_route_config_body(struct jbuf *b, const struct route_config *rc)
{
	jb_raw(b, "\"@type\":\"" TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration\"");
	if (rc->name)
		jb_member_str(b, false, "name", rc->name);
	jb_raw(b, ",\"virtual_hosts\":[");
	for (size_t i = 0; i < rc->n_vhosts; i++) {
		const struct virtual_host *vh = &rc->vhosts[i];
		jb_raw(b, i ? ",{" : "{");
		jb_member_str(b, true, "name", vh->name);
		jb_raw(b, ",\"domains\":");
		dump_strings(b, vh->domains, vh->n_domains);
		jb_raw(b, ",\"routes\":[");
		for (size_t j = 0; j < vh->n_routes; j++) {
			jb_raw(b, j ? "," : "");
			dump_route(b, &vh->routes[j]);
		}
		jb_raw(b, "]");
		dump_edits(b, &vh->edits);
		jb_raw(b, "}");
	}
	jb_raw(b, "]");
	dump_edits(b, &rc->edits);
}

static void dump_http2_options(struct jbuf *b, const struct http2_limits *l)
{
	jb_printf(b, "{\"max_concurrent_streams\":%u", l->max_concurrent_streams);
	jb_uint(b, "initial_stream_window_size", l->initial_stream_window_size);
	jb_uint(b, "initial_connection_window_size", l->initial_connection_window_size);
	jb_raw(b, "}");
}

static void dump_access_log(struct jbuf *b, const struct access_log_config *log)
{
	if (!log->path)
		return;
	jb_raw(b, ",\"access_log\":[{\"name\":\"envoy.access_loggers.file\",\"typed_config\":{"
		  "\"@type\":\"" TYPE_PREFIX "envoy.extensions.access_loggers.file.v3.FileAccessLog\"");
	jb_member_str(b, false, "path", log->path);
	jb_raw(b, "}}]");
}

static void dump_http_conn_manager(struct jbuf *b, const struct http_conn_manager_config *h)
{
	static const char *const codecs[] = { "AUTO", "HTTP1", "HTTP2" };
	jb_raw(b, "{\"name\":\"envoy.filters.network.http_connection_manager\",\"typed_config\":{"
		  "\"@type\":\"" TYPE_PREFIX
		  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\"");
	jb_member_str(b, false, "codec_type", codecs[h->codec]);
	jb_member_str(b, false, "stat_prefix", h->stat_prefix);
	if (h->rds_name) {
		jb_raw(b, ",\"rds\":{\"config_source\":{\"ads\":{},\"resource_api_version\":\"V3\"}");
		jb_member_str(b, false, "route_config_name", h->rds_name);
		jb_raw(b, "}");
	} else if (h->route_config) {
		jb_raw(b, ",\"route_config\":{");
		dump_route_config_body(b, h->route_config);
		jb_raw(b, "}");
	}
	jb_raw(b, ",\"http_filters\":[{\"name\":\"envoy.filters.http.router\",\"typed_config\":{"
		  "\"@type\":\"" TYPE_PREFIX "envoy.extensions.filters.http.router.v3.Router\"}}]");
	dump_access_log(b, &h->access_log);
	jb_raw(b, ",\"http2_protocol_options\":");
	dump_http2_options(b, &h->http2);
	jb_printf(b, ",\"common_http_protocol_options\":{\"max_headers_count\":%u",
		  h->max_headers_count);
	jb_duration(b, "idle_timeout", h->idle_timeout_ms);
	jb_raw(b, "}");
	jb_uint(b, "max_request_headers_kb", h->max_request_headers_kb);
	jb_duration(b, "stream_idle_timeout", h->stream_idle_timeout_ms);
	jb_duration(b, "request_timeout", h->request_timeout_ms);
	jb_duration(b, "drain_timeout", h->drain_timeout_ms);
	jb_printf(b, ",\"generate_request_id\":%s", h->generate_request_id ? "true" : "false");
	if (h->upgrade_websocket || h->upgrade_connect) {
		jb_printf(b, ",\"upgrade_configs\":[%s%s%s]",
			  h->upgrade_websocket ? "{\"upgrade_type\":\"websocket\"}" : "",
			  h->upgrade_websocket && h->upgrade_connect ? "," : "",
			  h->upgrade_connect ? "{\"upgrade_type\":\"CONNECT\"}" : "");
	}
	jb_raw(b, "}}");
}

/* A FilterChain, members in Envoy's field order. */
static void dump_chain(struct jbuf *b, const struct filter_chain *fc)
{
	jb_raw(b, "{");
	if (fc->match != CHAIN_MATCH_ANY) {
		jb_raw(b, "\"filter_chain_match\":{");
		jb_member_str(b, true, "transport_protocol",
			      fc->match == CHAIN_MATCH_TLS ? "tls" : "raw_buffer");
		jb_raw(b, "},");
	}
	jb_raw(b, "\"filters\":[");
	if (fc->rbac) {
		dump_rbac(b, fc->rbac);
		jb_raw(b, ",");
	}
	if (fc->http)
		dump_http_conn_manager(b, fc->http);
	else
		dump_tcp_proxy(b, &fc->tcp_proxy);
	jb_raw(b, "]");
	if (fc->tls)
		dump_transport_socket(b, fc->tls, false);
	if (fc->name)
		jb_member_str(b, false, "name", fc->name);
	jb_raw(b, "}");
}

/* The snapshot keeps no listener filters: a chain matching tls is what
 * needed the tls_inspector (the bootstrap reader checks it was there), and
 * original_dst is use_original_dst. */
static void dump_listener_filters(struct jbuf *b, const struct listener *l)
{
	for (size_t i = 0; i < l->n_chains; i++) {
		if (l->chains[i].match == CHAIN_MATCH_TLS) {
			jb_raw(b, ",\"listener_filters\":[{\"name\":\"envoy.filters.listener.tls_inspector\","
				  "\"typed_config\":{\"@type\":\"" TYPE_PREFIX
				  "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector\"}}]");
			return;
		}
	}
}

static const struct config_dump_resource *find_dynamic(const struct config_dump_resource *v,
							size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* "version_info":"...","last_updated":"2024-05-01T10:00:00.123Z" */
/* HealthCheck.Payload as Envoy's JSON has it: {"text": "<hex>"}. */
static void dump_payload(struct jbuf *b, const char *key, const struct hc_payload *p)
{
	jb_printf(b, "%s{\"text\":\"", key);
	for (size_t i = 0; i < p->len; i++)
		jb_printf(b, "%02X", p->data[i]);
	jb_raw(b, "\"}");
}

static void dump_version_time(struct jbuf *b, const struct config_dump_resource *r)
{
	time_t secs = (time_t)(r->updated_ms / 1000);
	struct tm tm;
	char when[40] = "";
	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	jb_member_str(b, true, "version_info", r->version);
	jb_printf(b, ",\"last_updated\":\"%s.%03dZ\"", when, (int)(r->updated_ms % 1000));
}

static void dump_listener(struct jbuf *b, const struct listener *l)
{
	jb_raw(b, "\"listener\":{\"@type\":\"" TYPE_PREFIX "envoy.config.listener.v3.Listener\"");
	jb_member_str(b, false, "name", l->name);
	jb_raw(b, ",\"address\":");
	dump_address(b, &l->addr);
	jb_printf(b, ",\"use_original_dst\":%s", l->use_original_dst ? "true" : "false");
	jb_member_str(b, false, "traffic_direction", direction_name(l->direction));
	dump_listener_filters(b, l);
	jb_raw(b, ",\"filter_chains\":[");
	for (size_t j = 0; j < l->n_chains; j++) {
		jb_raw(b, j ? "," : "");
		dump_chain(b, &l->chains[j]);
	}
	jb_raw(b, "]}");
}

static const struct listener *find_listener(const struct snapshot *snap, const char *name)
{
	for (size_t i = 0; i < snap->n_listeners; i++)
		if (strcmp(snap->listeners[i].name, name) == 0)
			return &snap->listeners[i];
	return NULL;
}

static void dump_listeners(struct jbuf *b, const struct snapshot *snap,
			   const struct config_dump_dynamic *dyn)
{
	jb_raw(b, "{\"@type\":\"" TYPE_PREFIX "envoy.admin.v3.ListenersConfigDump\",\"static_listeners\":[");
	bool first = true;
	for (size_t i = 0; i < snap->n_listeners; i++) {
		const struct listener *l = &snap->listeners[i];
		if (find_dynamic(dyn->listeners, dyn->n_listeners, l->name))
			continue;
		jb_raw(b, first ? "{" : ",{");
		first = false;
		dump_listener(b, l);
		jb_raw(b, "}");
	}
	jb_raw(b, "]");
	if (dyn->n_listeners) {
		jb_raw(b, ",\"dynamic_listeners\":[");
		for (size_t i = 0; i < dyn->n_listeners; i++) {
			const struct config_dump_resource *r = &dyn->listeners[i];
			const struct listener *l = find_listener(snap, r->name);
			jb_raw(b, i ? "," : "");
			jb_raw(b, "{");
			jb_member_str(b, true, "name", r->name);
			jb_raw(b, l ? ",\"active_state\":{" : ",\"warming_state\":{");
			dump_version_time(b, r);
			if (l) {
				jb_raw(b, ",");
				dump_listener(b, l);
			}
			jb_raw(b, "}}");
		}
		jb_raw(b, "]");
	}
	jb_raw(b, "}");
}

static const char *lb_policy_name(enum lb_policy p)
{
	switch (p) {
	case LB_CLUSTER_PROVIDED: return "CLUSTER_PROVIDED";
	case LB_LEAST_REQUEST: return "LEAST_REQUEST";
	case LB_RING_HASH: return "RING_HASH";
	case LB_MAGLEV: return "MAGLEV";
	case LB_RANDOM: return "RANDOM";
	default: return "ROUND_ROBIN";
	}
}

/* The HTTP settings of a cluster, each only when it differs from Envoy's
 * default (as protobuf's JSON leaves unset fields out), so a TCP cluster
 * reads as it always has. */
static void dump_cluster_http(struct jbuf *b, const struct cluster *cl)
{
	struct cluster def = { 0 };
	cluster_http_defaults(&def);
	if (cl->health.enabled) {
		const struct health_check *h = &cl->health;
		char d[32];
		duration_format(h->timeout_ms, d, sizeof(d));
		jb_raw(b, ",\"health_checks\":[{");
		jb_member_str(b, true, "timeout", d);
		jb_duration(b, "interval", h->interval_ms);
		jb_uint(b, "unhealthy_threshold", h->unhealthy_threshold);
		jb_uint(b, "healthy_threshold", h->healthy_threshold);
		if (h->tcp) {
			jb_raw(b, ",\"tcp_health_check\":{");
			if (h->send.len)
				dump_payload(b, "\"send\":", &h->send);
			for (size_t i = 0; i < h->n_receive; i++) {
				jb_raw(b, i ? "," : h->send.len ? ",\"receive\":[" : "\"receive\":[");
				dump_payload(b, "", &h->receive[i]);
			}
			jb_raw(b, h->n_receive ? "]}}]" : "}}]");
		} else {
			jb_raw(b, ",\"http_health_check\":{");
			jb_member_str(b, true, "path", h->path);
			if (h->host)
				jb_member_str(b, false, "host", h->host);
			jb_raw(b, "}}]");
		}
	}
	const struct circuit_breakers *cb = &cl->breakers;
	if (cb->max_connections != def.breakers.max_connections ||
	    cb->max_pending_requests != def.breakers.max_pending_requests ||
	    cb->max_requests != def.breakers.max_requests ||
	    cb->max_retries != def.breakers.max_retries || cb->has_retry_budget ||
	    cb->track_remaining) {
		jb_raw(b, ",\"circuit_breakers\":{\"thresholds\":[{\"priority\":\"DEFAULT\"");
		jb_uint(b, "max_connections", cb->max_connections);
		jb_uint(b, "max_pending_requests", cb->max_pending_requests);
		jb_uint(b, "max_requests", cb->max_requests);
		jb_uint(b, "max_retries", cb->max_retries);
		if (cb->has_retry_budget)
			jb_printf(b, ",\"retry_budget\":{\"budget_percent\":{\"value\":%g},"
				  "\"min_retry_concurrency\":%u}",
				  cb->retry_budget_percent, cb->min_retry_concurrency);
		if (cb->track_remaining)
			jb_raw(b, ",\"track_remaining\":true");
		jb_raw(b, "}]}");
	}
	if (cl->outlier.enabled) {
		const struct outlier_detection *o = &cl->outlier;
		jb_printf(b, ",\"outlier_detection\":{\"consecutive_5xx\":%u", o->consecutive_5xx);
		jb_uint(b, "consecutive_gateway_failure", o->consecutive_gateway_failure);
		jb_duration(b, "interval", o->interval_ms);
		jb_duration(b, "base_ejection_time", o->base_ejection_time_ms);
		jb_duration(b, "max_ejection_time", o->max_ejection_time_ms);
		jb_uint(b, "max_ejection_percent", o->max_ejection_percent);
		jb_raw(b, "}");
	}
	if (cl->protocol == UPSTREAM_HTTP2 || cl->idle_timeout_ms != def.idle_timeout_ms ||
	    cl->max_requests_per_connection) {
		jb_raw(b, ",\"typed_extension_protocol_options\":{"
			  "\"envoy.extensions.upstreams.http.v3.HttpProtocolOptions\":{\"@type\":\"" TYPE_PREFIX
			  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions\",\"explicit_http_config\":{");
		if (cl->protocol == UPSTREAM_HTTP2) {
			jb_raw(b, "\"http2_protocol_options\":");
			dump_http2_options(b, &cl->http2);
		} else {
			jb_raw(b, "\"http_protocol_options\":{}");
		}
		jb_raw(b, "},\"common_http_protocol_options\":{");
		char d[32];
		duration_format(cl->idle_timeout_ms, d, sizeof(d));
		jb_member_str(b, true, "idle_timeout", d);
		if (cl->max_requests_per_connection)
			jb_uint(b, "max_requests_per_connection", cl->max_requests_per_connection);
		jb_raw(b, "}}}");
	}
	if (cl->lb_policy == LB_RING_HASH)
		jb_printf(b, ",\"ring_hash_lb_config\":{\"minimum_ring_size\":%u}",
			  cl->ring_hash_min_size);
	if (cl->lb_policy == LB_MAGLEV)
		jb_printf(b, ",\"maglev_lb_config\":{\"table_size\":%u}", cl->maglev_table_size);
}

/* "cluster":{...} */
static void dump_cluster(struct jbuf *b, const struct cluster *cl)
{
	jb_raw(b, "\"cluster\":{\"@type\":\"" TYPE_PREFIX "envoy.config.cluster.v3.Cluster\"");
	jb_member_str(b, false, "name", cl->name);
	jb_member_str(b, false, "type", cl->type == CLUSTER_ORIGINAL_DST ? "ORIGINAL_DST" : "STATIC");
	jb_duration(b, "connect_timeout", cl->connect_timeout_ms);
	jb_member_str(b, false, "lb_policy", lb_policy_name(cl->lb_policy));
	if (cl->has_source_address) {
		jb_raw(b, ",\"upstream_bind_config\":{\"source_address\":");
		dump_socket_address(b, &cl->source_address);
		jb_raw(b, "}");
	}
	if (cl->n_endpoints) {
		/* Endpoints are kept flat, so they come back as one locality. */
		jb_raw(b, ",\"load_assignment\":{");
		jb_member_str(b, true, "cluster_name", cl->name);
		jb_raw(b, ",\"endpoints\":[{\"lb_endpoints\":[");
		for (size_t i = 0; i < cl->n_endpoints; i++) {
			jb_raw(b, i ? ",{\"endpoint\":{\"address\":" : "{\"endpoint\":{\"address\":");
			dump_address(b, &cl->endpoints[i].addr);
			jb_raw(b, "}");
			if (cl->endpoints[i].weight > 1)
				jb_printf(b, ",\"load_balancing_weight\":%u", cl->endpoints[i].weight);
			jb_raw(b, "}");
		}
		jb_raw(b, "]}]}");
	}
	dump_cluster_http(b, cl);
	if (cl->tls)
		dump_transport_socket(b, cl->tls, true);
	jb_raw(b, "}");
}

static void dump_clusters(struct jbuf *b, const struct snapshot *snap,
			  const struct config_dump_dynamic *dyn)
{
	jb_raw(b, "{\"@type\":\"" TYPE_PREFIX "envoy.admin.v3.ClustersConfigDump\",\"static_clusters\":[");
	bool first = true;
	for (size_t i = 0; i < snap->n_clusters; i++) {
		if (find_dynamic(dyn->clusters, dyn->n_clusters, snap->clusters[i].name))
			continue;
		jb_raw(b, first ? "{" : ",{");
		first = false;
		dump_cluster(b, &snap->clusters[i]);
		jb_raw(b, "}");
	}
	jb_raw(b, "]");
	/* Active first, then those the snapshot lacks (warming). */
	for (int warming = 0; warming < 2 && dyn->n_clusters; warming++) {
		jb_raw(b, warming ? ",\"dynamic_warming_clusters\":[" : ",\"dynamic_active_clusters\":[");
		first = true;
		for (size_t i = 0; i < dyn->n_clusters; i++) {
			const struct config_dump_resource *r = &dyn->clusters[i];
			const struct cluster *cl = snapshot_find_cluster(snap, r->name);
			if ((cl == NULL) != warming)
				continue;
			jb_raw(b, first ? "{" : ",{");
			first = false;
			dump_version_time(b, r);
			jb_raw(b, ",");
			if (cl) {
				dump_cluster(b, cl);
			} else {
				jb_raw(b, "\"cluster\":{\"@type\":\"" TYPE_PREFIX
					  "envoy.config.cluster.v3.Cluster\"");
				jb_member_str(b, false, "name", r->name);
				jb_raw(b, "}");
			}
			jb_raw(b, "}");
		}
		jb_raw(b, "]");
	}
	jb_raw(b, "}");
}

/* Endpoints and secrets by name and version: the endpoints themselves are
 * in their cluster's load_assignment, and secrets are never shown. */
static void dump_endpoints_and_secrets(struct jbuf *b, const struct config_dump_dynamic *dyn)
{
	jb_raw(b, ",{\"@type\":\"" TYPE_PREFIX "envoy.admin.v3.EndpointsConfigDump\","
		  "\"dynamic_endpoint_configs\":[");
	for (size_t i = 0; i < dyn->n_endpoints; i++) {
		jb_raw(b, i ? ",{" : "{");
		dump_version_time(b, &dyn->endpoints[i]);
		jb_raw(b, ",\"endpoint_config\":{\"@type\":\"" TYPE_PREFIX
			  "envoy.config.endpoint.v3.ClusterLoadAssignment\"");
		jb_member_str(b, false, "cluster_name", dyn->endpoints[i].name);
		jb_raw(b, "}}");
	}
	jb_raw(b, "]},{\"@type\":\"" TYPE_PREFIX "envoy.admin.v3.SecretsConfigDump\","
		  "\"dynamic_active_secrets\":[");
	for (size_t i = 0; i < dyn->n_secrets; i++) {
		jb_raw(b, i ? "," : "");
		jb_raw(b, "{");
		jb_member_str(b, true, "name", dyn->secrets[i].name);
		jb_raw(b, ",");
		dump_version_time(b, &dyn->secrets[i]);
		jb_raw(b, ",\"secret\":{\"@type\":\"" TYPE_PREFIX
			  "envoy.extensions.transport_sockets.tls.v3.Secret\"");
		jb_member_str(b, false, "name", dyn->secrets[i].name);
		jb_raw(b, "}}");
	}
	jb_raw(b, "]}");
}

/* Istio's workloads (istio.workload.Address) the node daemon serves pods
 * by, by name, version and time. Not an Envoy type: skiff's own. */
static void dump_workloads(struct jbuf *b, const struct config_dump_dynamic *dyn)
{
	jb_raw(b, ",{\"@type\":\"" TYPE_PREFIX "skiff.admin.v1.WorkloadsConfigDump\","
		  "\"dynamic_workloads\":[");
	for (size_t i = 0; i < dyn->n_workloads; i++) {
		jb_raw(b, i ? ",{" : "{");
		dump_version_time(b, &dyn->workloads[i]);
		jb_raw(b, ",\"workload\":{\"@type\":\"" TYPE_PREFIX "istio.workload.Address\"");
		jb_member_str(b, false, "name", dyn->workloads[i].name);
		jb_raw(b, "}}");
	}
	jb_raw(b, "]}");
}

static bool has_routes(const struct snapshot *snap)
{
	if (snap->n_route_configs)
		return true;
	for (size_t i = 0; i < snap->n_listeners; i++)
		for (size_t j = 0; j < snap->listeners[i].n_chains; j++)
			if (snap->listeners[i].chains[j].http)
				return true;
	return false;
}

/* Where dyn says a dynamic route configuration was applied, or NULL. */
static const struct config_dump_resource *route_applied(const struct config_dump_dynamic *dyn,
							 const char *name)
{
	for (size_t i = 0; i < dyn->n_routes; i++)
		if (strcmp(dyn->routes[i].name, name) == 0)
			return &dyn->routes[i];
	return NULL;
}

/* RoutesConfigDump: the listeners' inline route configurations as static
 * ones, the RDS ones as dynamic with their version (and time, from dyn).
 * Left out of a snapshot without HTTP, so a TCP-only dump keeps its shape. */
static void dump_routes(struct jbuf *b, const struct snapshot *snap,
			const struct config_dump_dynamic *dyn)
{
	jb_raw(b, ",{\"@type\":\"" TYPE_PREFIX "envoy.admin.v3.RoutesConfigDump\","
		  "\"static_route_configs\":[");
	bool first = true;
	for (size_t i = 0; i < snap->n_listeners; i++) {
		for (size_t j = 0; j < snap->listeners[i].n_chains; j++) {
			const struct http_conn_manager_config *h = snap->listeners[i].chains[j].http;
			if (!h || !h->route_config_owned || !h->route_config)
				continue;
			jb_raw(b, first ? "{\"route_config\":{" : ",{\"route_config\":{");
			first = false;
			dump_route_config_body(b, h->route_config);
			jb_raw(b, "}}");
		}
	}
	jb_raw(b, "],\"dynamic_route_configs\":[");
	for (size_t i = 0; i < snap->n_route_configs; i++) {
		const struct route_config *rc = &snap->route_configs[i];
		jb_raw(b, i ? ",{" : "{");
		const struct config_dump_resource *r = route_applied(dyn, rc->name);
		if (r && r->version && rc->version && strcmp(r->version, rc->version) == 0)
			dump_version_time(b, r);
		else
			jb_member_str(b, true, "version_info", rc->version);
		jb_raw(b, ",\"route_config\":{");
		dump_route_config_body(b, rc);
		jb_raw(b, "}}");
	}
	jb_raw(b, "]}");
}

char *config_dump_json(const struct snapshot *snap, size_t *len)
{
	return config_dump_json_dynamic(snap, NULL, len);
}

char *config_dump_json_dynamic(const struct snapshot *snap, const struct config_dump_dynamic *dyn,
			       size_t *len)
{
	static const struct config_dump_dynamic none = { 0 };
	struct jbuf b = { 0 };
	jb_raw(&b, "{\"configs\":[");
	dump_bootstrap(&b, snap);
	jb_raw(&b, ",");
	dump_listeners(&b, snap, dyn ? dyn : &none);
	jb_raw(&b, ",");
	dump_clusters(&b, snap, dyn ? dyn : &none);
	if (dyn)
		dump_endpoints_and_secrets(&b, dyn);
	if (has_routes(snap))
		dump_routes(&b, snap, dyn ? dyn : &none);
	if (dyn && dyn->has_workloads)
		dump_workloads(&b, dyn);
	jb_printf(&b, "],\"version\":%llu", (unsigned long long)snap->version);
	jb_member_str(&b, false, "source", snap->source);
	jb_raw(&b, "}\n");
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	if (len)
		*len = b.len;
	return b.s;
}
