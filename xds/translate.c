/* xDS protobuf -> config snapshot types; see translate.h.
 *
 * The walk mirrors proxy/bootstrap.c: the same limits, defaults and rules
 * between fields, with messages in the same words. What differs comes from
 * protobuf: an absent field and a zero are the same thing on the wire, the
 * fields outside skiff's subsets arrive as unknown fields (refused where
 * ignoring them would widen what the config allows), and extensions are
 * chosen by the type URL of their typed_config, as Envoy does. */
#include "xds/translate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "certs/spiffe.h"
#include "proxy/config_rules.h"
#include "proxy/http_config.h"
#include "proxy/snapshot.h"
#include "envoy/config/core/v3/health_check.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "envoy/extensions/filters/network/rbac/v3/rbac.pb-c.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "proxy/sock_addr.h"
#include "xds/resources.h"
#include "xds/translate_internal.h"

/* Short names for the generated types this file walks. */
typedef Envoy__Config__Listener__V3__Listener pb_listener;
typedef Envoy__Config__Listener__V3__FilterChain pb_chain;
typedef Envoy__Config__Listener__V3__Filter pb_filter;
typedef Envoy__Config__Listener__V3__ListenerFilter pb_listener_filter;
typedef Envoy__Config__Core__V3__Address pb_address;
typedef Envoy__Config__Core__V3__SocketAddress pb_socket_address;
typedef Envoy__Config__Core__V3__DataSource pb_data_source;
typedef Envoy__Config__Core__V3__TransportSocket pb_transport_socket;
typedef Envoy__Config__Core__V3__ConfigSource pb_config_source;
typedef Envoy__Config__Cluster__V3__Cluster pb_cluster;
typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment pb_cla;
typedef Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy pb_tcp_proxy;
typedef Envoy__Extensions__Filters__Network__Rbac__V3__RBAC pb_rbac_filter;
typedef Envoy__Config__Rbac__V3__Policy pb_policy;
typedef Envoy__Config__Rbac__V3__Permission pb_permission;
typedef Envoy__Config__Rbac__V3__Principal pb_principal;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext pb_common_tls;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext pb_validation;
typedef Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig pb_sds;
typedef Envoy__Extensions__TransportSockets__Tls__V3__Secret pb_secret;
typedef Envoy__Type__Matcher__V3__StringMatcher pb_string_matcher;
typedef Google__Protobuf__Duration pb_duration;

#define TCP_PROXY_NAME "envoy.filters.network.tcp_proxy"
#define RBAC_NAME "envoy.filters.network.rbac"
#define HCM_NAME "envoy.filters.network.http_connection_manager"
#define TLS_INSPECTOR_NAME TLS_INSPECTOR_FILTER
#define ORIGINAL_DST_NAME "envoy.filters.listener.original_dst"
#define RAW_BUFFER_NAME "envoy.transport_sockets.raw_buffer"
#define TCP_PROXY_TYPE XDS_TYPE_URL_PREFIX "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define RBAC_TYPE XDS_TYPE_URL_PREFIX "envoy.extensions.filters.network.rbac.v3.RBAC"
#define HCM_TYPE                                                                                   \
	XDS_TYPE_URL_PREFIX                                                                        \
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define TLS_TYPE_PREFIX XDS_TYPE_URL_PREFIX "envoy.extensions.transport_sockets.tls.v3."
#define DOWNSTREAM_TLS_TYPE TLS_TYPE_PREFIX "DownstreamTlsContext"
#define UPSTREAM_TLS_TYPE TLS_TYPE_PREFIX "UpstreamTlsContext"
#define RAW_BUFFER_TYPE                                                                            \
	XDS_TYPE_URL_PREFIX "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
#define TLS_INSPECTOR_TYPE                                                                         \
	XDS_TYPE_URL_PREFIX "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
#define ORIGINAL_DST_TYPE                                                                          \
	XDS_TYPE_URL_PREFIX "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"

/* The bootstrap's defaults and limits (proxy/bootstrap.c). */
#define DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define DEFAULT_IDLE_TIMEOUT_MS 3600000u
#define MAX_ALPN 16u
#define MAX_MATCH_SANS 256u

/* ---- addresses --------------------------------------------------------- */

/* A port is required where one is listened on or connected to; a bind
 * address (upstream_bind_config) defaults to port 0, any port. */
static int read_socket_address(struct tctx *c, const pb_socket_address *sa, bool need_port,
			       struct sock_addr *out)
{
	static const char *const protocols[] = {"TCP", NULL};
	char ip[64], buf[XDS_SHOWN_MAX];
	int v;
	size_t old = tx_field(c, "protocol");
	int err = tx_read_enum(c, &envoy__config__core__v3__socket_address__protocol__descriptor,
			       sa->protocol, protocols, &v);
	if (err)
		return err;
	tx_pop(c, old);
	tx_field(c, "address");
	if (!sa->address.len)
		return tx_fail(c, "required");
	if (sa->address.len >= sizeof(ip) || memchr(sa->address.data, 0, sa->address.len))
		goto bad_ip;
	memcpy(ip, sa->address.data, sa->address.len);
	ip[sa->address.len] = '\0';
	uint32_t port = 0;
	if (sa->port_specifier_case ==
	    ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE) {
		port = sa->port_value;
	} else if (need_port) {
		tx_pop(c, old);
		tx_field(c, "port_value");
		return tx_fail(c, "required (skiff supports port_value, not named_port)");
	}
	if (port > 65535) {
		tx_pop(c, old);
		tx_field(c, "port_value");
		return tx_fail(c, "must be at most 65535");
	}
	if (sock_addr_parse(ip, port, out))
		goto bad_ip;
	tx_pop(c, old);
	return 0;
bad_ip:
	return tx_fail(c,
		       "expected an IPv4 or IPv6 address, got \"%s\" (skiff does not resolve "
		       "names)",
		       xds_shown(sa->address.data, sa->address.len, buf));
}

/* config.core.v3.Address: socket_address only. */
static int read_address(struct tctx *c, const char *name, const pb_address *a,
			struct sock_addr *out)
{
	size_t old = tx_field(c, name);
	if (!a)
		return tx_fail(c, "required");
	if (a->address_case != ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS)
		return tx_fail(c, "expected socket_address (skiff supports no pipe or internal "
				  "address)");
	tx_field(c, "socket_address");
	int err = read_socket_address(c, a->socket_address, true, out);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* ---- TLS transport sockets --------------------------------------------- */

/* config.core.v3.DataSource inside a TLS context: a file name, which the
 * module that builds the TLS context opens and reports on. */
static int read_filename(struct tctx *c, const char *name, const pb_data_source *ds, char **out)
{
	size_t old = tx_field(c, name);
	if (!ds)
		return tx_fail(c, "required");
	switch (ds->specifier_case) {
	case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME:
		tx_field(c, "filename");
		break;
	case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES:
	case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING:
		return tx_fail(c, "not supported here: a TLS context reads files (filename); "
				  "send inline PEM as an SDS Secret");
	default:
		return tx_fail(c, "expected filename");
	}
	int err = tx_read_text(c, &ds->filename, true, out);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* A SPIFFE id a peer's must equal: a workload's, so with a path. */
static int read_spiffe_id(struct tctx *c, const ProtobufCBinaryData *b, char **out)
{
	char buf[XDS_SHOWN_MAX];
	int err = tx_read_text(c, b, true, out);
	if (err)
		return err;
	struct spiffe_id id;
	enum spiffe_err e = spiffe_workload_id_parse(*out, strlen(*out), &id);
	if (e != SPIFFE_OK)
		return tx_fail(
		    c, "expected a SPIFFE id (spiffe://<trust-domain>/<path>), got \"%s\": %s",
		    xds_shown(b->data, b->len, buf), spiffe_strerror(e));
	return 0;
}

/* type.matcher.v3.StringMatcher holding a SPIFFE id: exact only. */
static int read_id_matcher(struct tctx *c, const char *name, const pb_string_matcher *m, char **out)
{
	static const char *const exact_only = "exact; SPIFFE ids compare exactly";
	size_t old = tx_field(c, name);
	if (!m)
		return tx_fail(c, "required");
	int err = tx_refuse_unknown(c, &m->base, exact_only);
	if (err)
		return err;
	if (m->match_pattern_case != ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT)
		return tx_fail(c, "expected exact (SPIFFE ids compare exactly)");
	if (m->ignore_case) {
		tx_field(c, "ignore_case");
		return tx_fail(c, "not supported here (SPIFFE ids compare exactly)");
	}
	tx_field(c, "exact");
	if ((err = read_spiffe_id(c, &m->exact, out)))
		return err;
	tx_pop(c, old);
	return 0;
}

static int read_san_matchers(struct tctx *c, const pb_validation *v, struct tls_config *tls)
{
	static const char *const uri[] = {"URI", NULL};
	if (!v->n_match_typed_subject_alt_names)
		return 0;
	size_t old = tx_field(c, "match_typed_subject_alt_names");
	if (v->n_match_typed_subject_alt_names > MAX_MATCH_SANS)
		return tx_fail(c, "too many SAN matchers: %zu (at most %u)",
			       v->n_match_typed_subject_alt_names, MAX_MATCH_SANS);
	if (!(tls->match_sans = calloc(v->n_match_typed_subject_alt_names, sizeof(char *))))
		return tx_nomem(c);
	for (size_t i = 0; i < v->n_match_typed_subject_alt_names; i++) {
		const Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher *m =
		    v->match_typed_subject_alt_names[i];
		size_t at = tx_push(c, "[%zu]", i);
		int kind, err = tx_refuse_unknown(c, &m->base, "san_type, matcher");
		if (err)
			return err;
		size_t f = tx_field(c, "san_type");
		if ((err = tx_read_enum(
			 c,
			 &envoy__extensions__transport_sockets__tls__v3__subject_alt_name_matcher__san_type__descriptor,
			 m->san_type, uri, &kind)))
			return err;
		tx_pop(c, f);
		tls->n_match_sans++; /* the slot is freed with the rest even on error */
		if ((err = read_id_matcher(c, "matcher", m->matcher, &tls->match_sans[i])))
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

/* CertificateValidationContext. Every field it has beyond the two skiff
 * reads would narrow whom a peer may be (pinning, CRLs) or is refused by the
 * bootstrap too (untyped SAN matchers), so unknown fields are refused. With
 * `ca_from_sds`, the bundle comes from an SDS secret and trusted_ca must be
 * absent. */
static int read_validation(struct tctx *c, const char *name, const pb_validation *v,
			   bool ca_from_sds, struct tls_config *tls)
{
	size_t old = tx_field(c, name);
	if (!v)
		return tx_fail(c, "required");
	int err = tx_refuse_unknown(c, &v->base, "trusted_ca, match_typed_subject_alt_names");
	if (err)
		return err;
	if (ca_from_sds && v->trusted_ca) {
		tx_field(c, "trusted_ca");
		return tx_fail(c, "must be absent (the trust bundle comes from "
				  "validation_context_sds_secret_config)");
	}
	if (!ca_from_sds &&
	    (err = read_filename(c, "trusted_ca", v->trusted_ca, &tls->trusted_ca_file)))
		return err;
	if ((err = read_san_matchers(c, v, tls)))
		return err;
	tx_pop(c, old);
	return 0;
}

/* SdsSecretConfig at path `name`: a name, fetched over the ADS stream. */
static int read_sds(struct tctx *c, const char *name, const pb_sds *s, char **out)
{
	size_t old = tx_push(c, "%s%s", c->path.len && name[0] != '[' ? "." : "", name);
	if (!s)
		return tx_fail(c, "required");
	int err = tx_text_field(c, "name", &s->name, true, out);
	if (err)
		return err;
	const pb_config_source *cs = s->sds_config;
	if (!cs || cs->config_source_specifier_case !=
		       ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS) {
		tx_field(c, "sds_config");
		return tx_fail(c, "expected {ads: {}} (skiff fetches secrets over its ADS stream)");
	}
	tx_pop(c, old);
	return 0;
}

static int read_tls_certificates(struct tctx *c, const pb_common_tls *ct, struct tls_config *tls,
				 struct xds_tls_refs *refs)
{
	size_t n_files = ct->n_tls_certificates, n_sds = ct->n_tls_certificate_sds_secret_configs;
	if (n_files + n_sds != 1) {
		if (n_files > 1 || n_sds > 1)
			tx_field(c, n_files > 1 ? "tls_certificates"
						: "tls_certificate_sds_secret_configs");
		return tx_fail(c,
			       "expected exactly one TLS certificate (skiff supports one) in "
			       "tls_certificates or tls_certificate_sds_secret_configs, got %zu",
			       n_files + n_sds);
	}
	if (n_sds) {
		size_t old =
		    tx_push(c, "%stls_certificate_sds_secret_configs", c->path.len ? "." : "");
		int err = read_sds(c, "[0]", ct->tls_certificate_sds_secret_configs[0],
				   &refs->cert_secret);
		if (!err)
			tx_pop(c, old);
		return err;
	}
	const Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate *cert =
	    ct->tls_certificates[0];
	size_t old = tx_field(c, "tls_certificates[0]");
	int err =
	    read_filename(c, "certificate_chain", cert->certificate_chain, &tls->cert_chain_file);
	if (!err)
		err = read_filename(c, "private_key", cert->private_key, &tls->private_key_file);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* tls_params versions; TLS_AUTO is skiff's default, TLS 1.3. Cipher suites,
 * curves and signature algorithms are not read: skiff offers its own
 * forward-secret AEAD set whatever a config asks. */
static int read_tls_version(struct tctx *c, int v, uint16_t *out)
{
	static const char *const names[] = {"TLS_AUTO", "TLSv1_2", "TLSv1_3", NULL};
	static const uint16_t versions[] = {0x0304, 0x0303, 0x0304};
	int i;
	int err = tx_read_enum(
	    c,
	    &envoy__extensions__transport_sockets__tls__v3__tls_parameters__tls_protocol__descriptor,
	    v, names, &i);
	if (!err)
		*out = versions[i];
	return err;
}

static int read_tls_params(struct tctx *c, const pb_common_tls *ct, struct tls_config *tls)
{
	if (!ct->tls_params)
		return 0;
	uint16_t max = 0;
	size_t old = tx_field(c, "tls_params");
	size_t f = tx_field(c, "tls_minimum_protocol_version");
	int err =
	    read_tls_version(c, ct->tls_params->tls_minimum_protocol_version, &tls->min_version);
	if (err)
		return err;
	tx_pop(c, f);
	tx_field(c, "tls_maximum_protocol_version");
	if ((err = read_tls_version(c, ct->tls_params->tls_maximum_protocol_version, &max)))
		return err;
	/* TLS_AUTO (0) as a maximum is "unset": the highest, TLS 1.3. */
	if (max < tls->min_version)
		return tx_fail(c, "below tls_minimum_protocol_version (TLSv1_3 unless set)");
	tx_pop(c, old);
	return 0;
}

static int read_alpn(struct tctx *c, const pb_common_tls *ct, struct tls_config *tls)
{
	if (!ct->n_alpn_protocols)
		return 0;
	size_t old = tx_field(c, "alpn_protocols");
	if (ct->n_alpn_protocols > MAX_ALPN)
		return tx_fail(c, "too many ALPN protocols: %zu (at most %u)", ct->n_alpn_protocols,
			       MAX_ALPN);
	if (!(tls->alpn = calloc(ct->n_alpn_protocols, sizeof(char *))))
		return tx_nomem(c);
	for (size_t i = 0; i < ct->n_alpn_protocols; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		int err = tx_read_text(c, &ct->alpn_protocols[i], true, &tls->alpn[i]);
		if (err)
			return err;
		tls->n_alpn++;
		if (ct->alpn_protocols[i].len > 255) /* RFC 7301, section 3.1 */
			return tx_fail(c, "longer than 255 bytes");
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

/* Sets *has_validation when the peer's certificate is checked at all. */
static int read_validation_type(struct tctx *c, const pb_common_tls *ct, struct tls_config *tls,
				struct xds_tls_refs *refs, bool *has_validation)
{
	const Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext
	    *combined = ct->combined_validation_context;
	*has_validation = true;
	switch (ct->validation_context_type_case) {
	case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT:
		return read_validation(c, "validation_context", ct->validation_context, false, tls);
	case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT_SDS_SECRET_CONFIG:
		return read_sds(c, "validation_context_sds_secret_config",
				ct->validation_context_sds_secret_config, &refs->ca_secret);
	case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_COMBINED_VALIDATION_CONTEXT: {
		size_t old = tx_field(c, "combined_validation_context");
		int err = tx_refuse_unknown(c, &combined->base,
					    "default_validation_context, "
					    "validation_context_sds_secret_config");
		if (!err)
			err = read_sds(c, "validation_context_sds_secret_config",
				       combined->validation_context_sds_secret_config,
				       &refs->ca_secret);
		if (!err)
			err = read_validation(c, "default_validation_context",
					      combined->default_validation_context, true, tls);
		if (!err)
			tx_pop(c, old);
		return err;
	}
	default:
		*has_validation = false;
		return 0;
	}
}

static int read_common_tls(struct tctx *c, const pb_common_tls *ct, struct tls_config *tls,
			   struct xds_tls_refs *refs, bool *has_validation)
{
	size_t old = tx_field(c, "common_tls_context");
	if (!ct)
		return tx_fail(c, "required");
	int err = read_tls_params(c, ct, tls);
	if (!err)
		err = read_tls_certificates(c, ct, tls, refs);
	if (!err)
		err = read_validation_type(c, ct, tls, refs, has_validation);
	if (!err)
		err = read_alpn(c, ct, tls);
	if (!err)
		tx_pop(c, old);
	return err;
}

static int read_downstream_tls(struct tctx *c, struct xds_decoder *d,
			       const Google__Protobuf__Any *any, struct tls_config *tls,
			       struct xds_tls_refs *refs)
{
	Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *ctx = NULL;
	bool has_validation = false;
	int err = tx_unpack(
	    c, d, any,
	    &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor,
	    &ctx);
	if (err)
		return err;
	tls->require_client_certificate =
	    ctx->require_client_certificate && ctx->require_client_certificate->value;
	err = read_common_tls(c, ctx->common_tls_context, tls, refs, &has_validation);
	if (!err && tls->require_client_certificate && !has_validation) {
		tx_field(c, "common_tls_context.validation_context");
		err =
		    tx_fail(c, "required with require_client_certificate (client certificates are "
			       "verified against its trusted_ca)");
	}
	xds_decoder_free(d, ctx);
	return err;
}

static int read_upstream_tls(struct tctx *c, struct xds_decoder *d,
			     const Google__Protobuf__Any *any, struct tls_config *tls,
			     struct xds_tls_refs *refs)
{
	Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *ctx = NULL;
	bool has_validation = false;
	int err = tx_unpack(
	    c, d, any,
	    &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor, &ctx);
	if (err)
		return err;
	err = read_common_tls(c, ctx->common_tls_context, tls, refs, &has_validation);
	if (!err && !has_validation) {
		tx_field(c, "common_tls_context.validation_context");
		err = tx_fail(c, "required (skiff verifies every server it connects to over TLS)");
	}
	if (!err && ctx->sni.len) {
		err = tx_text_field(c, "sni", &ctx->sni, true, &tls->sni);
		if (!err && ctx->sni.len > 255) /* a DNS name; Envoy's limit too */
			err = tx_fail(c, "longer than 255 bytes");
	}
	xds_decoder_free(d, ctx);
	return err;
}

/* config.core.v3.TransportSocket, chosen by its typed_config's type URL:
 * TLS into a new tls_config at *out (owned by the caller from the start, so
 * an error half-way frees it), raw_buffer as plaintext (*out stays NULL). */
static int read_transport_socket(struct tctx *c, const pb_transport_socket *ts, bool upstream,
				 struct tls_config **out, struct xds_tls_refs *refs)
{
	const char *tls_type = upstream ? UPSTREAM_TLS_TYPE : DOWNSTREAM_TLS_TYPE;
	const char *const types[] = {tls_type, RAW_BUFFER_TYPE, NULL};
	size_t old = tx_field(c, "transport_socket");
	if (!ts->typed_config) {
		if (tx_bytes_are(&ts->name, RAW_BUFFER_NAME)) {
			tx_pop(c, old);
			return 0;
		}
		tx_field(c, "typed_config");
		return tx_fail(c, "required");
	}
	tx_field(c, "typed_config");
	const char *url = ts->typed_config->type_url;
	if (url && strcmp(url, RAW_BUFFER_TYPE) == 0) {
		tx_pop(c, old);
		return 0;
	}
	if (!url || strcmp(url, tls_type) != 0)
		return tx_unsupported_type(c, ts->typed_config, types);
	if (!(*out = calloc(1, sizeof(**out))))
		return tx_nomem(c);
	(*out)->min_version = 0x0304;
	struct xds_decoder d;
	xds_decoder_init(&d, 0);
	int err = upstream ? read_upstream_tls(c, &d, ts->typed_config, *out, refs)
			   : read_downstream_tls(c, &d, ts->typed_config, *out, refs);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* ---- the rbac network filter ------------------------------------------- */

static int read_permission(struct tctx *c, const pb_permission *pb, struct rbac_permission *out)
{
	static const char *const supported = "any, destination_port";
	int err = tx_refuse_unknown(c, &pb->base, supported);
	if (err)
		return err;
	switch (pb->rule_case) {
	case ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_ANY:
		tx_field(c, "any");
		if (!pb->any)
			return tx_fail(c, "must be true");
		out->any = true;
		return 0;
	case ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_DESTINATION_PORT:
		tx_field(c, "destination_port");
		if (pb->destination_port > 65535)
			return tx_fail(c, "must be at most 65535");
		out->destination_port = pb->destination_port;
		return 0;
	default:
		return tx_fail(c, "expected one of %s", supported);
	}
}

static int read_principal(struct tctx *c, const pb_principal *pb, struct rbac_principal *out)
{
	static const char *const supported = "any, authenticated";
	int err = tx_refuse_unknown(c, &pb->base, supported);
	if (err)
		return err;
	switch (pb->identifier_case) {
	case ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_ANY:
		tx_field(c, "any");
		if (!pb->any)
			return tx_fail(c, "must be true");
		out->any = true;
		return 0;
	case ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_AUTHENTICATED:
		/* Envoy lets principal_name out to mean any authenticated peer;
		 * skiff asks for the id, so that an empty matcher cannot open a
		 * port. */
		tx_field(c, "authenticated");
		if ((err = tx_refuse_unknown(c, &pb->authenticated->base, "principal_name")))
			return err;
		return read_id_matcher(c, "principal_name", pb->authenticated->principal_name,
				       &out->principal_name);
	default:
		return tx_fail(c, "expected one of %s", supported);
	}
}

/* A condition (CEL) narrows a policy; skiff cannot evaluate one, and
 * ignoring it would widen the policy, so a Policy's unknown fields are
 * refused. Permissions and principals: each a non-empty list. */
static int read_policy(struct tctx *c, const pb_policy *pb, struct rbac_policy *p)
{
	int err = tx_refuse_unknown(c, &pb->base, "permissions, principals");
	if (err)
		return err;
	size_t old = tx_field(c, "permissions");
	if (!pb->n_permissions)
		return tx_fail(c, "expected at least one permission");
	if (!(p->permissions = calloc(pb->n_permissions, sizeof(*p->permissions))))
		return tx_nomem(c);
	p->n_permissions = pb->n_permissions;
	for (size_t i = 0; i < pb->n_permissions; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		if ((err = read_permission(c, pb->permissions[i], &p->permissions[i])))
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	tx_field(c, "principals");
	if (!pb->n_principals)
		return tx_fail(c, "expected at least one principal");
	if (!(p->principals = calloc(pb->n_principals, sizeof(*p->principals))))
		return tx_nomem(c);
	p->n_principals = pb->n_principals;
	for (size_t i = 0; i < pb->n_principals; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		if ((err = read_principal(c, pb->principals[i], &p->principals[i])))
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

/* rules.policies: a map from name to policy. Envoy evaluates them in name
 * order; ALLOW and DENY do not depend on the order, so they are kept as
 * sent. */
static int read_policies(struct tctx *c, const Envoy__Config__Rbac__V3__RBAC *rules,
			 struct rbac_config *rbac)
{
	if (!rules->n_policies)
		return 0;
	size_t old = tx_field(c, "policies");
	if (!(rbac->policies = calloc(rules->n_policies, sizeof(*rbac->policies))))
		return tx_nomem(c);
	for (size_t i = 0; i < rules->n_policies; i++) {
		const Envoy__Config__Rbac__V3__RBAC__PoliciesEntry *e = rules->policies[i];
		struct rbac_policy *p = &rbac->policies[i];
		char buf[XDS_SHOWN_MAX];
		rbac->n_policies = i + 1;
		if (!e->key.len)
			return tx_fail(c, "a policy name must not be empty");
		size_t at = tx_push(c, ".%s", xds_shown(e->key.data, e->key.len, buf));
		int err = tx_read_text(c, &e->key, true, &p->name);
		if (err)
			return err;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->name, rbac->policies[j].name) == 0)
				return tx_fail(c, "duplicate policy");
		if (!e->value)
			return tx_fail(c, "expected at least one permission and one principal");
		if ((err = read_policy(c, e->value, p)))
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

/* Envoy without `rules` enforces nothing; skiff asks for them, so that an
 * authorization filter always authorizes. */
static int read_rbac(struct tctx *c, struct xds_decoder *d, const Google__Protobuf__Any *any,
		     struct rbac_config *rbac)
{
	static const char *const actions[] = {"ALLOW", "DENY", NULL}; /* enum rbac_action */
	pb_rbac_filter *pb = NULL;
	int v,
	    err = tx_unpack(c, d, any,
			    &envoy__extensions__filters__network__rbac__v3__rbac__descriptor, &pb);
	if (err)
		return err;
	size_t old = c->path.len;
	if ((err = tx_text_field(c, "stat_prefix", &pb->stat_prefix, true, &rbac->stat_prefix)))
		goto out;
	tx_field(c, "rules");
	if (!pb->rules) {
		err = tx_fail(c, "required");
		goto out;
	}
	size_t f = tx_field(c, "action");
	if ((err = tx_read_enum(c, &envoy__config__rbac__v3__rbac__action__descriptor,
				pb->rules->action, actions, &v)))
		goto out;
	rbac->action = (enum rbac_action)v;
	tx_pop(c, f);
	if ((err = read_policies(c, pb->rules, rbac)))
		goto out;
	tx_pop(c, old);
out:
	xds_decoder_free(d, pb);
	return err;
}

/* ---- tcp_proxy ---------------------------------------------------------- */

static int read_tcp_proxy(struct tctx *c, struct xds_decoder *d, const Google__Protobuf__Any *any,
			  struct tcp_proxy_config *tp)
{
	pb_tcp_proxy *pb = NULL;
	int err = tx_unpack(
	    c, d, any, &envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor,
	    &pb);
	if (err)
		return err;
	size_t old = c->path.len;
	if ((err = tx_text_field(c, "stat_prefix", &pb->stat_prefix, true, &tp->stat_prefix)))
		goto out;
	if (pb->cluster_specifier_case !=
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__TCP_PROXY__V3__TCP_PROXY__CLUSTER_SPECIFIER_CLUSTER) {
		tx_field(c, "cluster");
		err = tx_fail(c, "required (skiff supports cluster, not weighted_clusters)");
		goto out;
	}
	if ((err = tx_text_field(c, "cluster", &pb->cluster, true, &tp->cluster_name)))
		goto out;
	if (pb->idle_timeout) {
		tx_field(c, "idle_timeout");
		if ((err = tx_read_duration(c, pb->idle_timeout, &tp->idle_timeout_ms)))
			goto out;
		tx_pop(c, old);
	}
	err = tx_read_access_log(c, d, pb->access_log, pb->n_access_log, &tp->access_log);
	if (!err)
		tx_pop(c, old);
out:
	xds_decoder_free(d, pb);
	return err;
}

/* ---- listeners --------------------------------------------------------- */

enum filter_kind { FILTER_TCP_PROXY, FILTER_HCM, FILTER_RBAC };

static int read_filter(struct tctx *c, const pb_filter *f, struct filter_chain *fc,
		       enum filter_kind *kind)
{
	static const char *const types[] = {TCP_PROXY_TYPE, HCM_TYPE, RBAC_TYPE, NULL};
	size_t old = tx_field(c, "typed_config");
	const Google__Protobuf__Any *any = f->typed_config;
	if (!any)
		return tx_fail(c, "required");
	const char *url = any->type_url ? any->type_url : "";
	struct xds_decoder d;
	xds_decoder_init(&d, 0);
	int err;
	if (strcmp(url, TCP_PROXY_TYPE) == 0) {
		*kind = FILTER_TCP_PROXY;
		err = read_tcp_proxy(c, &d, any, &fc->tcp_proxy);
	} else if (strcmp(url, HCM_TYPE) == 0) {
		*kind = FILTER_HCM;
		err = tx_read_http_conn_manager(c, &d, any, &fc->http);
	} else if (strcmp(url, RBAC_TYPE) == 0) {
		*kind = FILTER_RBAC;
		tx_pop(c, old);
		if (fc->rbac)
			return tx_fail(c, "at most one " RBAC_NAME " filter (skiff supports one)");
		if (!(fc->rbac = calloc(1, sizeof(*fc->rbac))))
			return tx_nomem(c);
		tx_field(c, "typed_config");
		err = read_rbac(c, &d, any, fc->rbac);
	} else {
		return tx_unsupported_type(c, any, types);
	}
	if (!err)
		tx_pop(c, old);
	return err;
}

/* [rbac,] then tcp_proxy or http_connection_manager: the terminal filter
 * ends the chain, as it takes the bytes. */
static int read_filters(struct tctx *c, const pb_chain *pb, struct filter_chain *fc)
{
	enum filter_kind kind = FILTER_RBAC;
	size_t old = tx_field(c, "filters");
	for (size_t i = 0; i < pb->n_filters; i++) {
		size_t at = tx_push(c, "[%zu]", i);
		int err = read_filter(c, pb->filters[i], fc, &kind);
		if (err)
			return err;
		if (kind != FILTER_RBAC && i + 1 < pb->n_filters)
			return tx_fail(c, "%s must be the last filter",
				       kind == FILTER_HCM ? HCM_NAME : TCP_PROXY_NAME);
		tx_pop(c, at);
	}
	if (kind == FILTER_RBAC)
		return tx_fail(c, "must end with an " TCP_PROXY_NAME " or " HCM_NAME " filter");
	tx_pop(c, old);
	return 0;
}

/* filter_chain_match: transport_protocol only. Any other criterion
 * (ports, addresses, server names) would make Envoy pick this chain for
 * fewer connections than skiff would, so it is refused. */
static int read_chain_match(struct tctx *c, const pb_chain *pb, struct filter_chain *fc)
{
	const Envoy__Config__Listener__V3__FilterChainMatch *m = pb->filter_chain_match;
	if (!m)
		return 0;
	size_t old = tx_field(c, "filter_chain_match");
	int err = tx_refuse_unknown(c, &m->base, "transport_protocol");
	if (err)
		return err;
	if (m->transport_protocol.len) {
		char buf[XDS_SHOWN_MAX];
		tx_field(c, "transport_protocol");
		if (tx_bytes_are(&m->transport_protocol, "raw_buffer"))
			fc->match = CHAIN_MATCH_RAW_BUFFER;
		else if (tx_bytes_are(&m->transport_protocol, "tls"))
			fc->match = CHAIN_MATCH_TLS;
		else
			return tx_fail(
			    c, "expected one of raw_buffer, tls, got \"%s\"",
			    xds_shown(m->transport_protocol.data, m->transport_protocol.len, buf));
	}
	tx_pop(c, old);
	return 0;
}

/* The match and the transport must agree: TLS bytes go to a TLS socket,
 * plaintext bytes to none. */
static int read_chain(struct tctx *c, const pb_chain *pb, struct filter_chain *fc,
		      struct xds_tls_refs *refs)
{
	fc->tcp_proxy.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	int err = tx_text_field(c, "name", &pb->name, false, &fc->name);
	if (!err)
		err = read_chain_match(c, pb, fc);
	if (!err && pb->transport_socket)
		err = read_transport_socket(c, pb->transport_socket, false, &fc->tls, refs);
	if (!err)
		err = read_filters(c, pb, fc);
	if (err)
		return err;
	if (fc->match == CHAIN_MATCH_TLS && !fc->tls) {
		tx_field(c, "transport_socket");
		return tx_fail(c, "required with filter_chain_match.transport_protocol tls");
	}
	if (fc->match == CHAIN_MATCH_RAW_BUFFER && fc->tls) {
		tx_field(c, "transport_socket");
		return tx_fail(
		    c, "must be absent with filter_chain_match.transport_protocol raw_buffer "
		       "(plaintext)");
	}
	return 0;
}

/* tls_inspector lets the chains match on transport_protocol; original_dst
 * is what use_original_dst already does. Chosen by typed_config's type URL,
 * or by name when there is no typed_config. */
static int read_listener_filters(struct tctx *c, const pb_listener *pb, bool *has_tls_inspector)
{
	static const char *const types[] = {TLS_INSPECTOR_TYPE, ORIGINAL_DST_TYPE, NULL};
	static const char *const names[] = {TLS_INSPECTOR_NAME, ORIGINAL_DST_NAME, NULL};
	size_t old = tx_field(c, "listener_filters");
	for (size_t i = 0; i < pb->n_listener_filters; i++) {
		const pb_listener_filter *f = pb->listener_filters[i];
		size_t at = tx_push(c, "[%zu]", i);
		bool tls_inspector;
		if (f->typed_config) {
			const char *url =
			    f->typed_config->type_url ? f->typed_config->type_url : "";
			tx_field(c, "typed_config");
			if (!(tls_inspector = strcmp(url, TLS_INSPECTOR_TYPE) == 0) &&
			    strcmp(url, ORIGINAL_DST_TYPE) != 0)
				return tx_unsupported_type(c, f->typed_config, types);
		} else {
			char buf[XDS_SHOWN_MAX], list[160];
			tx_field(c, "name");
			if (!(tls_inspector = tx_bytes_are(&f->name, TLS_INSPECTOR_NAME)) &&
			    !tx_bytes_are(&f->name, ORIGINAL_DST_NAME)) {
				tx_list_names(list, sizeof(list), names);
				return tx_fail(c, "not supported by skiff: \"%s\" (supported: %s)",
					       xds_shown(f->name.data, f->name.len, buf), list);
			}
		}
		*has_tls_inspector |= tls_inspector;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

/* The rules between a listener's chains (config_rules.h). */
static int check_chains(struct tctx *c, const struct listener *l, bool has_tls_inspector)
{
	struct config_violation v;
	if (config_check_chains(l, has_tls_inspector, &v) == 0)
		return 0;
	tx_push(c, "%s", v.path);
	return tx_fail(c, "%s", v.reason);
}

static int translate_listener(struct tctx *c, const pb_listener *pb, struct listener *l,
			      struct xds_listener_refs *refs)
{
	static const char *const directions[] = {"UNSPECIFIED", "INBOUND", "OUTBOUND", NULL};
	bool has_tls_inspector = false;
	int v, err = tx_text_field(c, "name", &pb->name, true, &l->name);
	if (!err)
		err = read_address(c, "address", pb->address, &l->addr);
	if (err)
		return err;
	l->use_original_dst = pb->use_original_dst && pb->use_original_dst->value;
	tx_field(c, "traffic_direction");
	if ((err = tx_read_enum(c, &envoy__config__core__v3__traffic_direction__descriptor,
				pb->traffic_direction, directions, &v)))
		return err;
	l->direction = (enum traffic_direction)v; /* same order */
	tx_pop(c, 0);
	if ((err = read_listener_filters(c, pb, &has_tls_inspector)))
		return err;
	tx_field(c, "filter_chains");
	if (pb->n_filter_chains < 1 || pb->n_filter_chains > LISTENER_MAX_CHAINS)
		return tx_fail(c,
			       "expected one or two filter chains (a TLS chain beside a plaintext "
			       "one), got %zu",
			       pb->n_filter_chains);
	for (size_t i = 0; i < pb->n_filter_chains; i++) {
		tx_push(c, "[%zu]", i);
		l->n_chains = i + 1;
		if ((err = read_chain(c, pb->filter_chains[i], &l->chains[i], &refs->chains[i])))
			return err;
		tx_pop(c, 0);
		tx_field(c, "filter_chains");
	}
	tx_pop(c, 0);
	return check_chains(c, l, has_tls_inspector);
}

int xds_translate_listener(const Envoy__Config__Listener__V3__Listener *pb, struct listener *out,
			   struct xds_listener_refs *refs, char *err, size_t errlen)
{
	struct tctx c;
	tx_begin(&c, "listener", &pb->name, err, errlen);
	*out = (struct listener){0};
	*refs = (struct xds_listener_refs){0};
	int rc = translate_listener(&c, pb, out, refs);
	if (rc) {
		xds_listener_clear(out);
		xds_listener_refs_clear(refs);
	}
	return rc;
}

/* ---- clusters ---------------------------------------------------------- */

/* HealthStatus values Envoy sends traffic to (UNKNOWN: no health check). */
static bool usable(int health)
{
	return health == ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__UNKNOWN ||
	       health == ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY ||
	       health == ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DEGRADED;
}

static int read_endpoints(struct tctx *c, const pb_cla *pb, struct endpoint **out, size_t *n)
{
	size_t total = 0;
	for (size_t i = 0; i < pb->n_endpoints; i++)
		total += pb->endpoints[i]->n_lb_endpoints;
	*out = NULL;
	*n = 0;
	if (!total)
		return 0;
	if (!(*out = calloc(total, sizeof(**out))))
		return tx_nomem(c);
	size_t old = tx_field(c, "endpoints");
	for (size_t i = 0; i < pb->n_endpoints; i++) {
		const Envoy__Config__Endpoint__V3__LocalityLbEndpoints *loc = pb->endpoints[i];
		for (size_t j = 0; j < loc->n_lb_endpoints; j++) {
			const Envoy__Config__Endpoint__V3__LbEndpoint *lb = loc->lb_endpoints[j];
			size_t at = tx_push(c, "[%zu].lb_endpoints[%zu].endpoint", i, j);
			struct sock_addr addr;
			if (lb->host_identifier_case !=
			    ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT)
				return tx_fail(
				    c, "required (skiff supports endpoint, not endpoint_name)");
			int err = read_address(c, "address", lb->endpoint->address, &addr);
			if (err)
				return err;
			uint32_t weight =
			    lb->load_balancing_weight ? lb->load_balancing_weight->value : 1;
			if (!weight) {
				tx_pop(c, at);
				tx_push(c, "[%zu].lb_endpoints[%zu].load_balancing_weight", i, j);
				return tx_fail(c, "must be at least 1");
			}
			if (usable(lb->health_status))
				(*out)[(*n)++] = (struct endpoint){.addr = addr, .weight = weight};
			tx_pop(c, at);
		}
	}
	tx_pop(c, old);
	if (!*n) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

static int read_cla(struct tctx *c, const pb_cla *pb, struct endpoint **out, size_t *n)
{
	char *name = NULL;
	int err = tx_text_field(c, "cluster_name", &pb->cluster_name, true, &name);
	free(name); /* required by Envoy; the cluster's own name is what counts */
	return err ? err : read_endpoints(c, pb, out, n);
}

int xds_translate_endpoints(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *pb,
			    struct endpoint **out, size_t *n, char *err, size_t errlen)
{
	struct tctx c;
	tx_begin(&c, "cluster_load_assignment", &pb->cluster_name, err, errlen);
	*out = NULL;
	*n = 0;
	int rc = read_cla(&c, pb, out, n);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

enum { TYPE_STATIC, TYPE_ORIGINAL_DST, TYPE_EDS };

static int read_cluster_type(struct tctx *c, const pb_cluster *pb, int *type)
{
	static const char *const types[] = {"STATIC", "ORIGINAL_DST", "EDS", NULL};
	if (pb->cluster_discovery_type_case ==
	    ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_CLUSTER_TYPE) {
		tx_field(c, "cluster_type");
		return tx_fail(
		    c, "not supported by skiff (supported: type STATIC, ORIGINAL_DST, EDS)");
	}
	size_t old = tx_field(c, "type");
	int err = tx_read_enum(c, &envoy__config__cluster__v3__cluster__discovery_type__descriptor,
			       pb->type, types, type);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* eds_cluster_config: {eds_config: {ads: {}}, service_name}. */
static int read_eds_config(struct tctx *c, const pb_cluster *pb, struct xds_cluster_refs *refs)
{
	const Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig *eds = pb->eds_cluster_config;
	size_t old = tx_field(c, "eds_cluster_config");
	if (!eds)
		return tx_fail(c, "required with type EDS");
	if (!eds->eds_config ||
	    eds->eds_config->config_source_specifier_case !=
		ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS) {
		tx_field(c, "eds_config");
		return tx_fail(c,
			       "expected {ads: {}} (skiff fetches endpoints over its ADS stream)");
	}
	const ProtobufCBinaryData *name = eds->service_name.len ? &eds->service_name : &pb->name;
	int err = tx_text_field(c, "service_name", name, true, &refs->eds_service_name);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* The rules between fields of one cluster, as Envoy has them. lb_policy
 * ROUND_ROBIN is 0, the same as absent on the wire: on an ORIGINAL_DST
 * cluster it means CLUSTER_PROVIDED, as the bootstrap's default does. */
static int check_cluster(struct tctx *c, const pb_cluster *pb, int type, struct cluster *cl)
{
	if (type == TYPE_ORIGINAL_DST) {
		if (pb->lb_policy == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN)
			cl->lb_policy = LB_CLUSTER_PROVIDED;
		if (cl->lb_policy != LB_CLUSTER_PROVIDED) {
			tx_field(c, "lb_policy");
			return tx_fail(c, "an ORIGINAL_DST cluster needs CLUSTER_PROVIDED");
		}
		if (cl->n_endpoints) {
			tx_field(c, "load_assignment");
			return tx_fail(
			    c, "an ORIGINAL_DST cluster takes no endpoints (each connection "
			       "names its own destination)");
		}
		return 0;
	}
	if (cl->lb_policy == LB_CLUSTER_PROVIDED) {
		tx_field(c, "lb_policy");
		return tx_fail(c, "CLUSTER_PROVIDED is only for ORIGINAL_DST clusters");
	}
	if (type == TYPE_EDS && cl->n_endpoints) {
		tx_field(c, "load_assignment");
		return tx_fail(c,
			       "an EDS cluster takes its endpoints from EDS, not load_assignment");
	}
	if (type == TYPE_STATIC && !cl->n_endpoints) {
		tx_field(c, "load_assignment");
		return tx_fail(c, "a STATIC cluster needs at least one endpoint");
	}
	return 0;
}

static int read_bind_config(struct tctx *c, const pb_cluster *pb, struct cluster *cl)
{
	if (!pb->upstream_bind_config)
		return 0;
	size_t old = tx_field(c, "upstream_bind_config.source_address");
	if (!pb->upstream_bind_config->source_address)
		return tx_fail(c, "required");
	int err = read_socket_address(c, pb->upstream_bind_config->source_address, false,
				      &cl->source_address);
	if (err)
		return err;
	cl->has_source_address = true;
	tx_pop(c, old);
	return 0;
}

/* ---- clusters: what an HTTP route needs ----------------------------------- */

#define HTTP_OPTIONS_NAME "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
#define HTTP_OPTIONS_TYPE XDS_TYPE_URL_PREFIX HTTP_OPTIONS_NAME
/* Envoy's bounds: ring sizes (cluster.proto), a Maglev table (lb.proto). */
#define MAX_RING_SIZE 8388608u
#define MAX_MAGLEV_TABLE 5000011u

static int read_wrapped(struct tctx *c, const char *name, const Google__Protobuf__UInt32Value *v,
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

static bool is_prime(uint64_t n)
{
	if (n < 2)
		return false;
	for (uint64_t d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

/* ring_hash_lb_config / maglev_lb_config, read whatever the policy (Envoy
 * ignores the one that does not apply). */
static int read_lb_config(struct tctx *c, const pb_cluster *pb, struct cluster *cl)
{
	const Envoy__Config__Cluster__V3__Cluster__RingHashLbConfig *ring = pb->ring_hash_lb_config;
	const Envoy__Config__Cluster__V3__Cluster__MaglevLbConfig *mag = pb->maglev_lb_config;
	static const char *const hashes[] = {"XX_HASH", NULL};
	int v;
	if (pb->lb_config_case ==
	    ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_RING_HASH_LB_CONFIG) {
		size_t old = tx_field(c, "ring_hash_lb_config");
		uint64_t min = ring->minimum_ring_size ? ring->minimum_ring_size->value : 1024;
		uint64_t max =
		    ring->maximum_ring_size ? ring->maximum_ring_size->value : MAX_RING_SIZE;
		if (min < 1 || min > MAX_RING_SIZE) {
			tx_field(c, "minimum_ring_size");
			return tx_fail(c, "expected 1..%u, got %llu", MAX_RING_SIZE,
				       (unsigned long long)min);
		}
		if (max < min || max > MAX_RING_SIZE) {
			tx_field(c, "maximum_ring_size");
			return tx_fail(c, "expected minimum_ring_size..%u, got %llu", MAX_RING_SIZE,
				       (unsigned long long)max);
		}
		cl->ring_hash_min_size = (uint32_t)min;
		tx_field(c, "hash_function");
		int err = tx_read_enum(
		    c,
		    &envoy__config__cluster__v3__cluster__ring_hash_lb_config__hash_function__descriptor,
		    ring->hash_function, hashes, &v);
		if (err)
			return err;
		tx_pop(c, old);
	} else if (pb->lb_config_case ==
		   ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_MAGLEV_LB_CONFIG) {
		size_t old = tx_field(c, "maglev_lb_config.table_size");
		uint64_t n = mag->table_size ? mag->table_size->value : 65537;
		if (n > MAX_MAGLEV_TABLE || !is_prime(n))
			return tx_fail(c, "expected a prime number up to %u, got %llu",
				       MAX_MAGLEV_TABLE, (unsigned long long)n);
		cl->maglev_table_size = (uint32_t)n;
		tx_pop(c, old);
	}
	return 0;
}

/* retry_budget: Envoy's defaults (20 %, at least 3) for what is absent. */
static int read_retry_budget(
    struct tctx *c,
    const Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds__RetryBudget *pb,
    struct circuit_breakers *b)
{
	size_t old = tx_field(c, "retry_budget");
	b->has_retry_budget = true;
	if (pb->budget_percent) {
		double v = pb->budget_percent->value;
		if (!(v >= 0.0 && v <= 100.0)) {
			tx_field(c, "budget_percent");
			return tx_fail(c, "must be between 0 and 100");
		}
		b->retry_budget_percent = v;
	}
	int err = read_wrapped(c, "min_retry_concurrency", pb->min_retry_concurrency, 0,
			       UINT32_MAX, &b->min_retry_concurrency);
	if (!err)
		tx_pop(c, old);
	return err;
}

/* circuit_breakers.thresholds: the DEFAULT priority's (skiff has one
 * priority); a HIGH one is skipped. */
static int read_breakers(struct tctx *c, const pb_cluster *pb, struct cluster *cl)
{
	const Envoy__Config__Cluster__V3__CircuitBreakers *cb = pb->circuit_breakers;
	if (!cb)
		return 0;
	for (size_t i = 0; i < cb->n_thresholds; i++) {
		const Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds *t =
		    cb->thresholds[i];
		if (t->priority != ENVOY__CONFIG__CORE__V3__ROUTING_PRIORITY__DEFAULT)
			continue;
		size_t old = tx_push(c, "circuit_breakers.thresholds[%zu]", i);
		int err = read_wrapped(c, "max_connections", t->max_connections, 0, UINT32_MAX,
				       &cl->breakers.max_connections);
		if (!err)
			err = read_wrapped(c, "max_pending_requests", t->max_pending_requests, 0,
					   UINT32_MAX, &cl->breakers.max_pending_requests);
		if (!err)
			err = read_wrapped(c, "max_requests", t->max_requests, 0, UINT32_MAX,
					   &cl->breakers.max_requests);
		if (!err)
			err = read_wrapped(c, "max_retries", t->max_retries, 0, UINT32_MAX,
					   &cl->breakers.max_retries);
		if (!err && t->retry_budget)
			err = read_retry_budget(c, t->retry_budget, &cl->breakers);
		cl->breakers.track_remaining = t->track_remaining;
		if (err)
			return err;
		tx_pop(c, old);
		break;
	}
	return 0;
}

/* outlier_detection: on when present, Envoy's defaults for what is not
 * given (cluster_http_defaults). */
static int read_outlier(struct tctx *c, const pb_cluster *pb, struct cluster *cl)
{
	const Envoy__Config__Cluster__V3__OutlierDetection *od = pb->outlier_detection;
	struct outlier_detection *o = &cl->outlier;
	if (!od)
		return 0;
	size_t old = tx_field(c, "outlier_detection");
	o->enabled = true;
	int err = read_wrapped(c, "consecutive_5xx", od->consecutive_5xx, 0, UINT32_MAX,
			       &o->consecutive_5xx);
	if (!err)
		err =
		    read_wrapped(c, "consecutive_gateway_failure", od->consecutive_gateway_failure,
				 0, UINT32_MAX, &o->consecutive_gateway_failure);
	if (!err)
		err = read_wrapped(c, "max_ejection_percent", od->max_ejection_percent, 0, 100,
				   &o->max_ejection_percent);
	if (!err)
		err = tx_duration_field(c, "interval", od->interval, true, &o->interval_ms);
	if (!err)
		err = tx_duration_field(c, "base_ejection_time", od->base_ejection_time, true,
					&o->base_ejection_time_ms);
	if (!err)
		err = tx_duration_field(c, "max_ejection_time", od->max_ejection_time, true,
					&o->max_ejection_time_ms);
	if (!err && o->max_ejection_time_ms < o->base_ejection_time_ms) {
		tx_field(c, "max_ejection_time");
		err = tx_fail(c, "below base_ejection_time");
	}
	if (!err)
		tx_pop(c, old);
	return err;
}

typedef Envoy__Config__Core__V3__HealthCheck__Payload pb_payload;

/* HealthCheck.Payload: hex `text` or `binary` bytes, at most `max`. */
static int read_payload(struct tctx *c, const pb_payload *p, size_t max, struct hc_payload *out)
{
	uint8_t *data = NULL;
	size_t len = 0;
	if (p->payload_case == ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__PAYLOAD__PAYLOAD_TEXT) {
		size_t old = tx_field(c, "text");
		char *hex = NULL;
		int err = tx_read_text(c, &p->text, true, &hex);
		if (err)
			return err;
		data = malloc(strlen(hex) / 2 + 1);
		bool ok = data && OPENSSL_hexstr2buf_ex(data, strlen(hex) / 2, &len, hex, '\0') == 1;
		free(hex);
		if (!ok) {
			free(data);
			return data ? tx_fail(c, "expected hex digits, two per byte") : tx_nomem(c);
		}
		tx_pop(c, old);
	} else if (p->payload_case == ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__PAYLOAD__PAYLOAD_BINARY) {
		len = p->binary.len;
		if (len <= max && (data = malloc(len ? len : 1)))
			memcpy(data, p->binary.data, len);
		else if (len <= max)
			return tx_nomem(c);
	} else {
		return tx_fail(c, "expected one of text, binary");
	}
	if (len > max) {
		free(data);
		return tx_fail(c, "must be at most %zu bytes, got %zu", max, len);
	}
	free(out->data);
	out->data = data;
	out->len = len;
	return 0;
}

/* tcp_health_check: what to send, and the blocks to find in the answer. */
static int read_tcp_check(struct tctx *c, const Envoy__Config__Core__V3__HealthCheck__TcpHealthCheck *t,
			  struct health_check *h)
{
	size_t old = tx_field(c, "tcp_health_check");
	h->tcp = true;
	if (t->send) {
		size_t at = tx_field(c, "send");
		int err = read_payload(c, t->send, HC_SEND_MAX, &h->send);
		if (err)
			return err;
		tx_pop(c, at);
	}
	if (t->n_receive > HC_RECEIVE_BLOCKS_MAX) {
		tx_field(c, "receive");
		return tx_fail(c, "expected at most %d payloads, got %zu", HC_RECEIVE_BLOCKS_MAX,
			       t->n_receive);
	}
	if (t->n_receive && !(h->receive = calloc(t->n_receive, sizeof(*h->receive))))
		return tx_nomem(c);
	for (size_t i = 0; i < t->n_receive; i++) {
		size_t at = tx_push(c, ".receive[%zu]", i);
		int err = read_payload(c, t->receive[i], HC_RECEIVE_BLOCK_MAX, &h->receive[i]);
		h->n_receive += !err;
		if (!err && h->receive[i].len == 0)
			return tx_fail(c, "must not be empty");
		if (err)
			return err;
		tx_pop(c, at);
	}
	tx_pop(c, old);
	return 0;
}

/* health_checks: one, over HTTP or TCP. Envoy requires timeout, interval
 * and both thresholds. */
static int read_health_check(struct tctx *c, const pb_cluster *pb, struct cluster *cl)
{
	if (!pb->n_health_checks)
		return 0;
	size_t old = tx_field(c, "health_checks");
	if (pb->n_health_checks > 1)
		return tx_fail(c, "expected one health check (skiff runs one), got %zu",
			       pb->n_health_checks);
	tx_push(c, "[0]");
	const Envoy__Config__Core__V3__HealthCheck *hc = pb->health_checks[0];
	struct health_check *h = &cl->health;
	bool tcp = hc->health_checker_case ==
		   ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK;
	if (!tcp && hc->health_checker_case !=
			ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK)
		return tx_fail(c, "expected http_health_check or tcp_health_check (skiff checks "
				  "over HTTP or TCP)");
	const struct {
		const char *name;
		const void *present;
	} required[] = {
	    {"timeout", hc->timeout},
	    {"interval", hc->interval},
	    {"unhealthy_threshold", hc->unhealthy_threshold},
	    {"healthy_threshold", hc->healthy_threshold},
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!required[i].present) {
			tx_field(c, required[i].name);
			return tx_fail(c, "required");
		}
	}
	int err = tx_duration_field(c, "timeout", hc->timeout, true, &h->timeout_ms);
	if (!err)
		err = tx_duration_field(c, "interval", hc->interval, true, &h->interval_ms);
	if (!err)
		err = read_wrapped(c, "unhealthy_threshold", hc->unhealthy_threshold, 1, UINT32_MAX,
				   &h->unhealthy_threshold);
	if (!err)
		err = read_wrapped(c, "healthy_threshold", hc->healthy_threshold, 1, UINT32_MAX,
				   &h->healthy_threshold);
	if (err)
		return err;
	if (tcp) {
		if ((err = read_tcp_check(c, hc->tcp_health_check, h)))
			return err;
		h->enabled = true;
		tx_pop(c, old);
		return 0;
	}
	tx_field(c, "http_health_check");
	const Envoy__Config__Core__V3__HealthCheck__HttpHealthCheck *http = hc->http_health_check;
	if ((err = tx_text_field(c, "path", &http->path, true, &h->path)) ||
	    (err = tx_text_field(c, "host", &http->host, false, &h->host)))
		return err;
	if (h->path[0] != '/' || strpbrk(h->path, " \r\n") ||
	    (h->host && strpbrk(h->host, " \r\n"))) {
		tx_field(c, h->path[0] != '/' || strpbrk(h->path, " \r\n") ? "path" : "host");
		return tx_fail(c, "a path starts with '/', and neither may hold a space, CR or LF");
	}
	h->enabled = true;
	tx_pop(c, old);
	return 0;
}

static int read_http_options(struct tctx *c, struct xds_decoder *d,
			     const Google__Protobuf__Any *any, struct cluster *cl)
{
	static const char *const types[] = {HTTP_OPTIONS_TYPE, NULL};
	Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *pb = NULL;
	if (!any || !xds_type_url_is(
			any->type_url,
			&envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor))
		return any ? tx_unsupported_type(c, any, types) : tx_fail(c, "required");
	int err = tx_unpack(
	    c, d, any, &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor,
	    &pb);
	if (err)
		return err;
	size_t old = c->path.len;
	const Envoy__Config__Core__V3__HttpProtocolOptions *common =
	    pb->common_http_protocol_options;
	if (common) {
		tx_field(c, "common_http_protocol_options");
		err = tx_duration_field(c, "idle_timeout", common->idle_timeout, false,
					&cl->idle_timeout_ms);
		if (!err)
			err = read_wrapped(c, "max_requests_per_connection",
					   common->max_requests_per_connection, 0, UINT32_MAX,
					   &cl->max_requests_per_connection);
		if (err)
			goto out;
		tx_pop(c, old);
	}
	switch (pb->upstream_protocol_options_case) {
	case ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG: {
		const Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig
		    *ex = pb->explicit_http_config;
		tx_field(c, "explicit_http_config");
		if (ex->protocol_config_case ==
		    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS) {
			cl->protocol = UPSTREAM_HTTP2;
			tx_field(c, "http2_protocol_options");
			if ((err =
				 tx_read_http2_options(c, ex->http2_protocol_options, &cl->http2)))
				goto out;
		} else if (
		    ex->protocol_config_case !=
		    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP_PROTOCOL_OPTIONS) {
			err = tx_fail(c, "expected http_protocol_options or http2_protocol_options "
					 "(skiff has no HTTP/3)");
			goto out;
		}
		break;
	}
	case ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_USE_DOWNSTREAM_PROTOCOL_CONFIG:
		tx_field(c, "use_downstream_protocol_config");
		err = tx_fail(c, "not supported by skiff (supported: explicit_http_config)");
		goto out;
	case ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_AUTO_CONFIG:
		tx_field(c, "auto_config");
		err = tx_fail(c, "not supported by skiff (supported: explicit_http_config)");
		goto out;
	default:
		break; /* HTTP/1.1 */
	}
	tx_pop(c, old);
out:
	xds_decoder_free(d, pb);
	return err;
}

/* typed_extension_protocol_options: a map by extension name; skiff knows
 * the HTTP one. Another would configure an upstream skiff does not run. */
static int read_protocol_options(struct tctx *c, const pb_cluster *pb, struct cluster *cl)
{
	for (size_t i = 0; i < pb->n_typed_extension_protocol_options; i++) {
		const Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry *e =
		    pb->typed_extension_protocol_options[i];
		char buf[XDS_SHOWN_MAX];
		const char *key = e->key ? e->key : "";
		size_t old = tx_push(c, "typed_extension_protocol_options[%s]",
				     xds_shown(key, strlen(key), buf));
		if (strcmp(key, HTTP_OPTIONS_NAME) != 0)
			return tx_fail(c,
				       "not supported by skiff (supported: " HTTP_OPTIONS_NAME ")");
		struct xds_decoder d;
		xds_decoder_init(&d, 0);
		int err = read_http_options(c, &d, e->value, cl);
		if (err)
			return err;
		tx_pop(c, old);
	}
	return 0;
}

static int read_cluster_http(struct tctx *c, const pb_cluster *pb, struct cluster *cl)
{
	int err = read_lb_config(c, pb, cl);
	if (!err)
		err = read_breakers(c, pb, cl);
	if (!err)
		err = read_outlier(c, pb, cl);
	if (!err)
		err = read_health_check(c, pb, cl);
	if (!err)
		err = read_protocol_options(c, pb, cl);
	return err;
}

static int translate_cluster(struct tctx *c, const pb_cluster *pb, struct cluster *cl,
			     struct xds_cluster_refs *refs)
{
	/* Same order as enum lb_policy. */
	static const char *const policies[] = {"ROUND_ROBIN", "CLUSTER_PROVIDED", "LEAST_REQUEST",
					       "RING_HASH",   "MAGLEV",           "RANDOM",
					       NULL};
	int type, v;
	int err = tx_text_field(c, "name", &pb->name, true, &cl->name);
	if (!err)
		err = read_cluster_type(c, pb, &type);
	if (err)
		return err;
	cl->type = type == TYPE_ORIGINAL_DST ? CLUSTER_ORIGINAL_DST : CLUSTER_STATIC;
	tx_field(c, "lb_policy");
	if ((err = tx_read_enum(c, &envoy__config__cluster__v3__cluster__lb_policy__descriptor,
				pb->lb_policy, policies, &v)))
		return err;
	cl->lb_policy = (enum lb_policy)v;
	tx_pop(c, 0);
	cluster_http_defaults(cl);
	cl->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (pb->connect_timeout) {
		tx_field(c, "connect_timeout");
		if ((err = tx_read_duration(c, pb->connect_timeout, &cl->connect_timeout_ms)))
			return err;
		if (!cl->connect_timeout_ms) /* Envoy: gt 0 */
			return tx_fail(c, "must be at least 1ms");
		tx_pop(c, 0);
	}
	if ((err = read_bind_config(c, pb, cl)))
		return err;
	if (pb->load_assignment) {
		tx_field(c, "load_assignment");
		if ((err = read_cla(c, pb->load_assignment, &cl->endpoints, &cl->n_endpoints)))
			return err;
		tx_pop(c, 0);
	}
	if (type == TYPE_EDS && (err = read_eds_config(c, pb, refs)))
		return err;
	if (refs->eds_service_name && !(cl->eds_service_name = strdup(refs->eds_service_name)))
		return tx_nomem(c);
	if ((err = read_cluster_http(c, pb, cl)))
		return err;
	/* Matches choose a transport per endpoint (Istio's auto mTLS); ignoring
	 * them would fall back to transport_socket, often plaintext. */
	if (pb->n_transport_socket_matches) {
		tx_field(c, "transport_socket_matches");
		return tx_fail(c, "not supported by skiff (use transport_socket)");
	}
	if (pb->transport_socket &&
	    (err = read_transport_socket(c, pb->transport_socket, true, &cl->tls, &refs->tls)))
		return err;
	return check_cluster(c, pb, type, cl);
}

int xds_translate_cluster(const Envoy__Config__Cluster__V3__Cluster *pb, struct cluster *out,
			  struct xds_cluster_refs *refs, char *err, size_t errlen)
{
	struct tctx c;
	tx_begin(&c, "cluster", &pb->name, err, errlen);
	*out = (struct cluster){0};
	*refs = (struct xds_cluster_refs){0};
	int rc = translate_cluster(&c, pb, out, refs);
	if (rc) {
		xds_cluster_clear(out);
		xds_cluster_refs_clear(refs);
	}
	return rc;
}

/* ---- secrets ----------------------------------------------------------- */

/* DataSource in a Secret: a file, or the PEM inline. */
static int read_data(struct tctx *c, const char *name, const pb_data_source *ds,
		     struct xds_data *out)
{
	size_t old = tx_field(c, name);
	if (!ds)
		return tx_fail(c, "required");
	const ProtobufCBinaryData *pem;
	switch (ds->specifier_case) {
	case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME: {
		int err = tx_text_field(c, "filename", &ds->filename, true, &out->filename);
		if (!err)
			tx_pop(c, old);
		return err;
	}
	case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES:
		tx_field(c, "inline_bytes");
		pem = &ds->inline_bytes;
		break;
	case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING:
		tx_field(c, "inline_string");
		pem = &ds->inline_string;
		break;
	default:
		return tx_fail(c, "expected one of filename, inline_bytes, inline_string");
	}
	if (!pem->len)
		return tx_fail(c, "must not be empty");
	if (!(out->pem = malloc(pem->len)))
		return tx_nomem(c);
	memcpy(out->pem, pem->data, pem->len);
	out->pem_len = pem->len;
	tx_pop(c, old);
	return 0;
}

static int translate_secret(struct tctx *c, const pb_secret *pb, struct xds_secret *s)
{
	int err = tx_text_field(c, "name", &pb->name, true, &s->name);
	if (err)
		return err;
	switch (pb->type_case) {
	case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE:
		s->kind = XDS_SECRET_TLS_CERTIFICATE;
		tx_field(c, "tls_certificate");
		if ((err = read_data(c, "certificate_chain", pb->tls_certificate->certificate_chain,
				     &s->cert_chain)))
			return err;
		return read_data(c, "private_key", pb->tls_certificate->private_key,
				 &s->private_key);
	case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT:
		s->kind = XDS_SECRET_VALIDATION_CONTEXT;
		tx_field(c, "validation_context");
		/* SAN matchers belong in the TLS context that uses the bundle
		 * (combined_validation_context), where skiff reads them. */
		if ((err = tx_refuse_unknown(c, &pb->validation_context->base, "trusted_ca")))
			return err;
		if (pb->validation_context->n_match_typed_subject_alt_names) {
			tx_field(c, "match_typed_subject_alt_names");
			return tx_fail(c,
				       "not supported in a Secret (put them in the TLS context's "
				       "combined_validation_context.default_validation_context)");
		}
		return read_data(c, "trusted_ca", pb->validation_context->trusted_ca,
				 &s->trusted_ca);
	default:
		return tx_fail(c, "expected tls_certificate or validation_context (skiff supports "
				  "those)");
	}
}

int xds_translate_secret(const Envoy__Extensions__TransportSockets__Tls__V3__Secret *pb,
			 struct xds_secret *out, char *err, size_t errlen)
{
	struct tctx c;
	tx_begin(&c, "secret", &pb->name, err, errlen);
	*out = (struct xds_secret){0};
	int rc = translate_secret(&c, pb, out);
	if (rc)
		xds_secret_clear(out);
	return rc;
}

/* ---- freeing ----------------------------------------------------------- */

void xds_listener_clear(struct listener *l)
{
	snapshot_listener_clear(l);
}

void xds_cluster_clear(struct cluster *cl)
{
	snapshot_cluster_clear(cl);
}

static void tls_refs_clear(struct xds_tls_refs *r)
{
	free(r->cert_secret);
	free(r->ca_secret);
	*r = (struct xds_tls_refs){0};
}

void xds_listener_refs_clear(struct xds_listener_refs *r)
{
	for (size_t i = 0; i < LISTENER_MAX_CHAINS; i++)
		tls_refs_clear(&r->chains[i]);
}

void xds_cluster_refs_clear(struct xds_cluster_refs *r)
{
	free(r->eds_service_name);
	r->eds_service_name = NULL;
	tls_refs_clear(&r->tls);
}

static void data_clear(struct xds_data *d)
{
	free(d->filename);
	free(d->pem);
}

void xds_secret_clear(struct xds_secret *s)
{
	free(s->name);
	data_clear(&s->cert_chain);
	data_clear(&s->private_key);
	data_clear(&s->trusted_ca);
	*s = (struct xds_secret){0};
}
