/* Tests xds/translate.c and xds/resources.c: protobuf messages built here
 * (nested typed_configs packed as the control plane packs them) are
 * translated and the snapshot structs checked; every refusal is checked
 * with its whole message, the NACK's error_detail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/core/v3/health_check.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "envoy/extensions/access_loggers/file/v3/file.pb-c.h"
#include "envoy/extensions/filters/network/rbac/v3/rbac.pb-c.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "proxy/sock_addr.h"
#include "xds/resources.h"
#include "xds/translate.h"

typedef Envoy__Config__Listener__V3__Listener Listener;
typedef Envoy__Config__Listener__V3__FilterChain FilterChain;
typedef Envoy__Config__Listener__V3__FilterChainMatch FilterChainMatch;
typedef Envoy__Config__Listener__V3__Filter Filter;
typedef Envoy__Config__Listener__V3__ListenerFilter ListenerFilter;
typedef Envoy__Config__Core__V3__Address Address;
typedef Envoy__Config__Core__V3__SocketAddress SocketAddress;
typedef Envoy__Config__Core__V3__DataSource DataSource;
typedef Envoy__Config__Core__V3__TransportSocket TransportSocket;
typedef Envoy__Config__Core__V3__ConfigSource ConfigSource;
typedef Envoy__Config__Core__V3__AggregatedConfigSource AggregatedConfigSource;
typedef Envoy__Config__Core__V3__BindConfig BindConfig;
typedef Envoy__Config__Cluster__V3__Cluster Cluster;
typedef Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig EdsClusterConfig;
typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment ClusterLoadAssignment;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints LocalityLbEndpoints;
typedef Envoy__Config__Endpoint__V3__LbEndpoint LbEndpoint;
typedef Envoy__Config__Endpoint__V3__Endpoint Endpoint;
typedef Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy TcpProxy;
typedef Envoy__Config__Accesslog__V3__AccessLog AccessLog;
typedef Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog FileAccessLog;
typedef Envoy__Extensions__Filters__Network__Rbac__V3__RBAC RbacFilter;
typedef Envoy__Config__Rbac__V3__RBAC RbacRules;
typedef Envoy__Config__Rbac__V3__RBAC__PoliciesEntry PoliciesEntry;
typedef Envoy__Config__Rbac__V3__Policy Policy;
typedef Envoy__Config__Rbac__V3__Permission Permission;
typedef Envoy__Config__Rbac__V3__Principal Principal;
typedef Envoy__Config__Rbac__V3__Principal__Authenticated Authenticated;
typedef Envoy__Type__Matcher__V3__StringMatcher StringMatcher;
typedef Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext DownstreamTlsContext;
typedef Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext UpstreamTlsContext;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext CommonTlsContext;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext
    CombinedValidation;
typedef Envoy__Extensions__TransportSockets__Tls__V3__TlsParameters TlsParameters;
typedef Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate TlsCertificate;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext
    ValidationContext;
typedef Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher SanMatcher;
typedef Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig SdsSecretConfig;
typedef Envoy__Extensions__TransportSockets__Tls__V3__Secret Secret;
typedef Envoy__Service__Discovery__V3__DiscoveryResponse DiscoveryResponse;
typedef Google__Protobuf__Any Any;

#define TYPE(name) "type.googleapis.com/" name
#define TCP_PROXY_T TYPE("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")
#define RBAC_T TYPE("envoy.extensions.filters.network.rbac.v3.RBAC")
#define FILE_LOG_T TYPE("envoy.extensions.access_loggers.file.v3.FileAccessLog")
#define DOWN_TLS_T TYPE("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext")
#define UP_TLS_T TYPE("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext")
#define RAW_T TYPE("envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer")
#define TLS_INSPECTOR_T TYPE("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")
#define HCM_T                                                                                      \
	TYPE("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")
#define REDIS_T TYPE("envoy.extensions.filters.network.redis_proxy.v3.RedisProxy")
#define SPIFFE_A "spiffe://cluster.local/ns/default/sa/a"

static ProtobufCBinaryData B(const char *s)
{
	return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

/* ---- memory the built messages use, freed after each test ------------- */

static void *kept[512];
static size_t n_kept;

static void *keep(void *p)
{
	assert_non_null(p);
	assert_true(n_kept < sizeof(kept) / sizeof(kept[0]));
	return kept[n_kept++] = p;
}

static int free_kept(void **state)
{
	(void)state;
	while (n_kept)
		free(kept[--n_kept]);
	return 0;
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

static Any *any_bytes(const char *url, const char *bytes, size_t len)
{
	Any *a = keep(calloc(1, sizeof(*a)));
	google__protobuf__any__init(a);
	a->type_url = (char *)url;
	a->value.data = (uint8_t *)bytes;
	a->value.len = len;
	return a;
}

/* A message as decoded with one unknown field: what protobuf-c makes of a
 * field the subset does not declare. */
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

/* n copies of p, for lists longer than skiff allows */
static void *repeat(void *p, size_t n)
{
	void **v = keep(calloc(n, sizeof(*v)));
	for (size_t i = 0; i < n; i++)
		v[i] = p;
	return v;
}

static ProtobufCBinaryData *repeat_bytes(ProtobufCBinaryData b, size_t n)
{
	ProtobufCBinaryData *v = keep(calloc(n, sizeof(*v)));
	for (size_t i = 0; i < n; i++)
		v[i] = b;
	return v;
}

/* ---- a TLS context ------------------------------------------------------ */

struct tlsfx {
	CommonTlsContext common;
	TlsParameters params;
	TlsCertificate cert, *certs[1];
	DataSource chain, key, ca;
	ValidationContext vc;
	SanMatcher san, *sans[1];
	StringMatcher san_exact;
	ProtobufCBinaryData alpn[2];
	SdsSecretConfig sds_cert, *sds_certs[1], sds_ca;
	ConfigSource ads_source;
	AggregatedConfigSource ads;
	CombinedValidation combined;
	DownstreamTlsContext down;
	UpstreamTlsContext up;
	Google__Protobuf__BoolValue require;
};

static void file(DataSource *ds, const char *name)
{
	envoy__config__core__v3__data_source__init(ds);
	ds->specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME;
	ds->filename = B(name);
}

/* One certificate, a bundle, one SAN matcher, ALPN skiff-tcp then h2. */
static void tlsfx_init(struct tlsfx *t)
{
	envoy__extensions__transport_sockets__tls__v3__common_tls_context__init(&t->common);
	envoy__extensions__transport_sockets__tls__v3__tls_parameters__init(&t->params);
	envoy__extensions__transport_sockets__tls__v3__tls_certificate__init(&t->cert);
	envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__init(&t->vc);
	envoy__extensions__transport_sockets__tls__v3__subject_alt_name_matcher__init(&t->san);
	envoy__type__matcher__v3__string_matcher__init(&t->san_exact);
	envoy__extensions__transport_sockets__tls__v3__sds_secret_config__init(&t->sds_cert);
	envoy__extensions__transport_sockets__tls__v3__sds_secret_config__init(&t->sds_ca);
	envoy__config__core__v3__config_source__init(&t->ads_source);
	envoy__config__core__v3__aggregated_config_source__init(&t->ads);
	envoy__extensions__transport_sockets__tls__v3__common_tls_context__combined_certificate_validation_context__init(
	    &t->combined);
	envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__init(&t->down);
	envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__init(&t->up);
	google__protobuf__bool_value__init(&t->require);

	file(&t->chain, "/certs/cert.pem");
	file(&t->key, "/certs/key.pem");
	file(&t->ca, "/certs/ca.pem");
	t->cert.certificate_chain = &t->chain;
	t->cert.private_key = &t->key;
	t->certs[0] = &t->cert;
	t->common.n_tls_certificates = 1;
	t->common.tls_certificates = t->certs;
	t->san_exact.match_pattern_case =
	    ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT;
	t->san_exact.exact = B(SPIFFE_A);
	t->san.san_type =
	    ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__URI;
	t->san.matcher = &t->san_exact;
	t->sans[0] = &t->san;
	t->vc.trusted_ca = &t->ca;
	t->vc.n_match_typed_subject_alt_names = 1;
	t->vc.match_typed_subject_alt_names = t->sans;
	t->common.validation_context_type_case =
	    ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT;
	t->common.validation_context = &t->vc;
	t->alpn[0] = B("skiff-tcp");
	t->alpn[1] = B("h2");
	t->common.n_alpn_protocols = 2;
	t->common.alpn_protocols = t->alpn;
	t->params.tls_minimum_protocol_version =
	    ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2;
	t->common.tls_params = &t->params;

	t->ads_source.config_source_specifier_case =
	    ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
	t->ads_source.ads = &t->ads;
	t->sds_cert.name = B("default");
	t->sds_cert.sds_config = &t->ads_source;
	t->sds_certs[0] = &t->sds_cert;
	t->sds_ca.name = B("ROOTCA");
	t->sds_ca.sds_config = &t->ads_source;

	t->down.common_tls_context = &t->common;
	t->require.value = true;
	t->down.require_client_certificate = &t->require;
	t->up.common_tls_context = &t->common;
	t->up.sni = B("b.default.svc");
}

/* Certificates and bundle from SDS, SAN matchers beside (Istio's shape). */
static void tlsfx_use_sds(struct tlsfx *t)
{
	t->common.n_tls_certificates = 0;
	t->common.n_tls_certificate_sds_secret_configs = 1;
	t->common.tls_certificate_sds_secret_configs = t->sds_certs;
	t->vc.trusted_ca = NULL;
	t->combined.default_validation_context = &t->vc;
	t->combined.validation_context_sds_secret_config = &t->sds_ca;
	t->common.validation_context_type_case =
	    ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_COMBINED_VALIDATION_CONTEXT;
	t->common.combined_validation_context = &t->combined;
}

/* ---- a listener: a TLS chain [rbac, tcp_proxy] beside a plaintext one -- */

struct lfx {
	Listener l;
	Address addr;
	SocketAddress sa;
	Google__Protobuf__BoolValue original_dst;
	ListenerFilter inspector, *lfilters[1];
	FilterChain chain[2], *chains[2];
	FilterChainMatch match[2];
	TransportSocket ts;
	struct tlsfx tls;
	Filter rbac_f, tcp_f[2], *filters0[3], *filters1[1];
	TcpProxy tp[2];
	Google__Protobuf__Duration idle;
	AccessLog al, *als[2];
	FileAccessLog fal;
	RbacFilter rbac;
	RbacRules rules;
	PoliciesEntry pe[2], *pes[2];
	Policy pol;
	Permission perm, *perms[1];
	Principal princ, *princs[1];
	Authenticated auth;
	StringMatcher princ_exact;
	struct listener out;
	struct xds_listener_refs refs;
	char err[512];
};

static void socket_address(SocketAddress *sa, Address *a, const char *ip, uint32_t port)
{
	envoy__config__core__v3__socket_address__init(sa);
	sa->address = B(ip);
	sa->port_specifier_case =
	    ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
	sa->port_value = port;
	if (a) {
		envoy__config__core__v3__address__init(a);
		a->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
		a->socket_address = sa;
	}
}

static void tcp_proxy_init(TcpProxy *tp, const char *cluster)
{
	envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__init(tp);
	tp->stat_prefix = B(cluster);
	tp->cluster_specifier_case =
	    ENVOY__EXTENSIONS__FILTERS__NETWORK__TCP_PROXY__V3__TCP_PROXY__CLUSTER_SPECIFIER_CLUSTER;
	tp->cluster = B(cluster);
}

static int lfx_setup(void **state)
{
	struct lfx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	envoy__config__listener__v3__listener__init(&f->l);
	f->l.name = B("virtualInbound");
	socket_address(&f->sa, &f->addr, "0.0.0.0", 15006);
	f->l.address = &f->addr;
	google__protobuf__bool_value__init(&f->original_dst);
	f->original_dst.value = true;
	f->l.use_original_dst = &f->original_dst;
	f->l.traffic_direction = ENVOY__CONFIG__CORE__V3__TRAFFIC_DIRECTION__INBOUND;
	envoy__config__listener__v3__listener_filter__init(&f->inspector);
	f->inspector.name = B("envoy.filters.listener.tls_inspector");
	f->lfilters[0] = &f->inspector;
	f->l.n_listener_filters = 1;
	f->l.listener_filters = f->lfilters;

	for (int i = 0; i < 2; i++) {
		envoy__config__listener__v3__filter_chain__init(&f->chain[i]);
		envoy__config__listener__v3__filter_chain_match__init(&f->match[i]);
		envoy__config__listener__v3__filter__init(&f->tcp_f[i]);
		f->chain[i].filter_chain_match = &f->match[i];
		f->chains[i] = &f->chain[i];
	}
	f->l.n_filter_chains = 2;
	f->l.filter_chains = f->chains;
	f->chain[0].name = B("mtls");
	f->match[0].transport_protocol = B("tls");
	f->chain[1].name = B("plaintext");
	f->match[1].transport_protocol = B("raw_buffer");

	tlsfx_init(&f->tls);
	envoy__config__core__v3__transport_socket__init(&f->ts);
	f->ts.name = B("envoy.transport_sockets.tls");
	f->chain[0].transport_socket = &f->ts;

	envoy__config__listener__v3__filter__init(&f->rbac_f);
	f->rbac_f.name = B("envoy.filters.network.rbac");
	f->filters0[0] = &f->rbac_f;
	f->filters0[1] = &f->tcp_f[0];
	f->chain[0].n_filters = 2;
	f->chain[0].filters = f->filters0;
	f->filters1[0] = &f->tcp_f[1];
	f->chain[1].n_filters = 1;
	f->chain[1].filters = f->filters1;

	tcp_proxy_init(&f->tp[0], "inbound|8080||");
	tcp_proxy_init(&f->tp[1], "InboundPassthroughCluster");
	google__protobuf__duration__init(&f->idle);
	f->idle.seconds = 30;
	f->idle.nanos = 500000000;
	f->tp[0].idle_timeout = &f->idle;
	envoy__config__accesslog__v3__access_log__init(&f->al);
	envoy__extensions__access_loggers__file__v3__file_access_log__init(&f->fal);
	f->fal.path = B("/dev/stdout");
	f->als[0] = f->als[1] = &f->al;
	f->tp[0].n_access_log = 1;
	f->tp[0].access_log = f->als;

	envoy__extensions__filters__network__rbac__v3__rbac__init(&f->rbac);
	envoy__config__rbac__v3__rbac__init(&f->rules);
	envoy__config__rbac__v3__policy__init(&f->pol);
	envoy__config__rbac__v3__permission__init(&f->perm);
	envoy__config__rbac__v3__principal__init(&f->princ);
	envoy__config__rbac__v3__principal__authenticated__init(&f->auth);
	envoy__type__matcher__v3__string_matcher__init(&f->princ_exact);
	f->rbac.stat_prefix = B("tcp.");
	f->rbac.rules = &f->rules;
	for (int i = 0; i < 2; i++) {
		envoy__config__rbac__v3__rbac__policies_entry__init(&f->pe[i]);
		f->pe[i].key = B(i ? "other" : "allow-a");
		f->pe[i].value = &f->pol;
		f->pes[i] = &f->pe[i];
	}
	f->rules.n_policies = 1;
	f->rules.policies = f->pes;
	f->perm.rule_case = ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_DESTINATION_PORT;
	f->perm.destination_port = 8080;
	f->perms[0] = &f->perm;
	f->pol.n_permissions = 1;
	f->pol.permissions = f->perms;
	f->princ_exact.match_pattern_case =
	    ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT;
	f->princ_exact.exact = B(SPIFFE_A);
	f->auth.principal_name = &f->princ_exact;
	f->princ.identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_AUTHENTICATED;
	f->princ.authenticated = &f->auth;
	f->princs[0] = &f->princ;
	f->pol.n_principals = 1;
	f->pol.principals = f->princs;
	*state = f;
	return 0;
}

static int lfx_teardown(void **state)
{
	struct lfx *f = *state;
	xds_listener_clear(&f->out);
	xds_listener_refs_clear(&f->refs);
	free(f);
	return free_kept(state);
}

/* Translates the listener as it is, typed_configs as last packed. */
static int lfx_run(struct lfx *f)
{
	xds_listener_clear(&f->out);
	xds_listener_refs_clear(&f->refs);
	f->err[0] = '\0';
	return xds_translate_listener(&f->l, &f->out, &f->refs, f->err, sizeof(f->err));
}

/* Packs the typed_configs from the inside out, as they are now, and
 * translates. */
static int lfx_translate(struct lfx *f)
{
	f->al.typed_config = any_of(FILE_LOG_T, &f->fal);
	for (int i = 0; i < 2; i++)
		f->tcp_f[i].typed_config = any_of(TCP_PROXY_T, &f->tp[i]);
	f->rbac_f.typed_config = any_of(RBAC_T, &f->rbac);
	f->ts.typed_config = any_of(DOWN_TLS_T, &f->tls.down);
	return lfx_run(f);
}

static void lfx_fails(struct lfx *f, const char *want)
{
	if (lfx_translate(f) != -EINVAL)
		fail_msg("translated, but expected: %s", want);
	assert_string_equal(f->err, want);
	assert_null(f->out.name); /* nothing left behind */
	assert_int_equal(f->out.n_chains, 0);
}

#define L "listener \"virtualInbound\": "
#define C0 L "filter_chains[0]."
#define TP0 C0 "filters[1].typed_config."
#define RB0 C0 "filters[0].typed_config."
#define TLS0 C0 "transport_socket.typed_config.common_tls_context."

/* ---- listeners ---------------------------------------------------------- */

static void test_listener_permissive(void **state)
{
	struct lfx *f = *state;
	char a[SOCK_ADDR_STRLEN];
	assert_int_equal(lfx_translate(f), 0);
	assert_string_equal(f->err, "");
	struct listener *l = &f->out;
	assert_string_equal(l->name, "virtualInbound");
	assert_string_equal(sock_addr_format(&l->addr, a, sizeof(a)), "0.0.0.0:15006");
	assert_true(l->use_original_dst);
	assert_int_equal(l->direction, DIRECTION_INBOUND);
	assert_int_equal(l->n_chains, 2);

	struct filter_chain *tls = &l->chains[0];
	assert_string_equal(tls->name, "mtls");
	assert_int_equal(tls->match, CHAIN_MATCH_TLS);
	assert_non_null(tls->tls);
	assert_string_equal(tls->tls->cert_chain_file, "/certs/cert.pem");
	assert_string_equal(tls->tls->private_key_file, "/certs/key.pem");
	assert_string_equal(tls->tls->trusted_ca_file, "/certs/ca.pem");
	assert_int_equal(tls->tls->n_match_sans, 1);
	assert_string_equal(tls->tls->match_sans[0], SPIFFE_A);
	assert_int_equal(tls->tls->n_alpn, 2);
	assert_string_equal(tls->tls->alpn[0], "skiff-tcp");
	assert_string_equal(tls->tls->alpn[1], "h2");
	assert_int_equal(tls->tls->min_version, 0x0303);
	assert_true(tls->tls->require_client_certificate);
	assert_null(tls->tls->sni);
	assert_null(tls->tls->ctx);
	assert_non_null(tls->rbac);
	assert_string_equal(tls->rbac->stat_prefix, "tcp.");
	assert_int_equal(tls->rbac->action, RBAC_ALLOW);
	assert_int_equal(tls->rbac->n_policies, 1);
	assert_string_equal(tls->rbac->policies[0].name, "allow-a");
	assert_int_equal(tls->rbac->policies[0].n_permissions, 1);
	assert_false(tls->rbac->policies[0].permissions[0].any);
	assert_int_equal(tls->rbac->policies[0].permissions[0].destination_port, 8080);
	assert_int_equal(tls->rbac->policies[0].n_principals, 1);
	assert_string_equal(tls->rbac->policies[0].principals[0].principal_name, SPIFFE_A);
	assert_string_equal(tls->tcp_proxy.stat_prefix, "inbound|8080||");
	assert_string_equal(tls->tcp_proxy.cluster_name, "inbound|8080||");
	assert_null(tls->tcp_proxy.cluster);
	assert_int_equal(tls->tcp_proxy.idle_timeout_ms, 30500);
	assert_string_equal(tls->tcp_proxy.access_log.path, "/dev/stdout");

	struct filter_chain *raw = &l->chains[1];
	assert_int_equal(raw->match, CHAIN_MATCH_RAW_BUFFER);
	assert_null(raw->tls);
	assert_null(raw->rbac);
	assert_string_equal(raw->tcp_proxy.cluster_name, "InboundPassthroughCluster");
	assert_int_equal(raw->tcp_proxy.idle_timeout_ms, 3600000); /* Envoy's default */
	assert_null(raw->tcp_proxy.access_log.path);

	for (int i = 0; i < 2; i++) {
		assert_null(f->refs.chains[i].cert_secret);
		assert_null(f->refs.chains[i].ca_secret);
	}
}

static void test_listener_sds_refs(void **state)
{
	struct lfx *f = *state;
	tlsfx_use_sds(&f->tls);
	assert_int_equal(lfx_translate(f), 0);
	struct tls_config *tls = f->out.chains[0].tls;
	assert_null(tls->cert_chain_file);
	assert_null(tls->private_key_file);
	assert_null(tls->trusted_ca_file);
	assert_int_equal(tls->n_match_sans, 1);
	assert_string_equal(f->refs.chains[0].cert_secret, "default");
	assert_string_equal(f->refs.chains[0].ca_secret, "ROOTCA");
	assert_null(f->refs.chains[1].cert_secret);
}

static void test_listener_minimal(void **state)
{
	struct lfx *f = *state;
	/* One plaintext chain, no listener filters, nothing optional. */
	f->l.n_filter_chains = 1;
	f->l.filter_chains = &f->chains[1];
	f->chain[1].filter_chain_match = NULL;
	f->chain[1].name = B("");
	f->l.n_listener_filters = 0;
	f->l.use_original_dst = NULL;
	f->l.traffic_direction = 0;
	assert_int_equal(lfx_translate(f), 0);
	assert_null(f->out.chains[0].name);
	assert_int_equal(f->out.chains[0].match, CHAIN_MATCH_ANY);
	assert_false(f->out.use_original_dst);
	assert_int_equal(f->out.direction, DIRECTION_UNSPECIFIED);
}

static void test_listener_filter_by_type_url(void **state)
{
	struct lfx *f = *state;
	f->inspector.name = B("");
	f->inspector.typed_config = any_bytes(TLS_INSPECTOR_T, "", 0);
	assert_int_equal(lfx_translate(f), 0);
	f->inspector.typed_config = any_bytes(
	    TYPE("envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"), "", 0);
	lfx_fails(
	    f, L
	    "listener_filters[0].typed_config: unsupported type URL "
	    "\"type.googleapis.com/"
	    "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector\" "
	    "(supported: "
	    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector, "
	    "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst)");
	f->inspector.typed_config = NULL;
	f->inspector.name = B("envoy.filters.listener.http_inspector");
	lfx_fails(f,
		  L "listener_filters[0].name: not supported by skiff: "
		    "\"envoy.filters.listener.http_inspector\" (supported: "
		    "envoy.filters.listener.tls_inspector, envoy.filters.listener.original_dst)");
}

static void test_listener_errors(void **state)
{
	struct lfx *f = *state;
	struct {
		void (*change)(struct lfx *f);
		const char *want;
	} * t,
	    cases[] = {
/* A row: the change that breaks the fixture (a GNU nested function, so the
 * change sits beside the message it must give), and that message. */
#define CASE(body, msg)                                                                            \
	{({                                                                                        \
		 void fn(struct lfx *x)                                                            \
		 {                                                                                 \
			 (void)x;                                                                  \
			 body;                                                                     \
		 }                                                                                 \
		 fn;                                                                               \
	 }),                                                                                       \
	 msg}
		CASE(x->l.name = B(""), "listener \"\": name: required"),
		CASE(x->l.name = ((ProtobufCBinaryData){3, (uint8_t *)"a\0b"}),
		     "listener \"a?b\": name: must be UTF-8 without a NUL character"),
		CASE(x->l.address = NULL, L "address: required"),
		CASE(x->addr.address_case = 0, L "address: expected socket_address (skiff supports "
						 "no pipe or internal address)"),
		CASE(x->sa.address = B("example.com"),
		     L "address.socket_address.address: expected an IPv4 or IPv6 address, got "
		       "\"example.com\" (skiff does not resolve names)"),
		CASE(x->sa.address = B(""), L "address.socket_address.address: required"),
		CASE(x->sa.port_specifier_case = 0, L
		     "address.socket_address.port_value: required (skiff supports port_value, not "
		     "named_port)"),
		CASE(x->sa.port_value = 65536,
		     L "address.socket_address.port_value: must be at most 65535"),
		CASE(x->sa.protocol = 1, L "address.socket_address.protocol: not supported by "
					   "skiff: UDP (supported: TCP)"),
		CASE(x->l.traffic_direction = 7,
		     L "traffic_direction: expected one of UNSPECIFIED, INBOUND, OUTBOUND, got 7"),
		CASE(x->l.n_filter_chains = 0,
		     L "filter_chains: expected one or two filter chains (a TLS chain beside a "
		       "plaintext one), got 0"),
		CASE(x->match[0].transport_protocol = B("quic"),
		     C0 "filter_chain_match.transport_protocol: expected one of raw_buffer, tls, "
			"got \"quic\""),
		CASE(add_unknown(&x->match[0].base, 8),
		     C0 "filter_chain_match: field 8 is not supported by skiff (supported: "
			"transport_protocol)"),
		CASE(x->chain[0].transport_socket = NULL, C0
		     "transport_socket: required with filter_chain_match.transport_protocol tls"),
		CASE(x->chain[1].transport_socket = &x->ts,
		     L "filter_chains[1].transport_socket: must be absent with "
		       "filter_chain_match.transport_protocol raw_buffer (plaintext)"),
		CASE(
		    (x->chain[1].transport_socket = &x->ts, x->match[1].transport_protocol = B("")),
		    L "filter_chains[1].transport_socket: must be absent on the plaintext chain "
		      "beside a transport_protocol tls chain"),
		CASE(x->match[0].transport_protocol = B("raw_buffer"), C0
		     "transport_socket: must be absent with filter_chain_match.transport_protocol "
		     "raw_buffer (plaintext)"),
		CASE((x->chain[0].transport_socket = NULL, x->match[0].transport_protocol = B("")),
		     L
		     "filter_chains[1].filter_chain_match: with two filter chains, one must match "
		     "transport_protocol tls and the other raw_buffer or nothing"),
		CASE(x->chain[1].name = B("mtls"),
		     L "filter_chains[1].name: duplicate name \"mtls\" (also filter_chains[0])"),
		CASE(x->l.n_listener_filters = 0,
		     C0 "filter_chain_match.transport_protocol: needs the "
			"envoy.filters.listener.tls_inspector listener filter"),
		CASE(x->filters0[1] = &x->rbac_f,
		     C0 "filters[1]: at most one envoy.filters.network.rbac filter (skiff supports "
			"one)"),
		CASE(x->chain[0].n_filters = 1,
		     C0 "filters: must end with an envoy.filters.network.tcp_proxy or "
			"envoy.filters.network.http_connection_manager filter"),
		CASE(x->chain[1].n_filters = 0,
		     L "filter_chains[1].filters: must end with an envoy.filters.network.tcp_proxy "
		       "or envoy.filters.network.http_connection_manager filter"),
		CASE((x->filters0[0] = &x->tcp_f[0], x->filters0[1] = &x->rbac_f),
		     C0 "filters[0]: envoy.filters.network.tcp_proxy must be the last filter"),
		CASE(x->tp[0].stat_prefix = B(""), TP0 "stat_prefix: required"),
		CASE(x->tp[0].cluster_specifier_case = 0,
		     TP0 "cluster: required (skiff supports cluster, not weighted_clusters)"),
		CASE(x->tp[0].cluster = B(""), TP0 "cluster: required"),
		CASE(x->idle.seconds = -1,
		     TP0 "idle_timeout: expected a duration of 0s or more (seconds >= 0, nanos in "
			 "0..999999999)"),
		CASE(x->idle.seconds = 4294968,
		     TP0 "idle_timeout: duration too long (at most 4294967.295s)"),
		CASE(x->tp[0].n_access_log = 2,
		     TP0 "access_log: expected at most one access log (skiff supports one), got 2"),
		CASE(x->fal.path = B(""), TP0 "access_log[0].typed_config.path: required"),
		CASE(x->rbac.stat_prefix = B(""), RB0 "stat_prefix: required"),
		CASE(x->rbac.rules = NULL, RB0 "rules: required"),
		CASE(x->rules.action = 2,
		     RB0 "rules.action: not supported by skiff: LOG (supported: ALLOW, DENY)"),
		CASE(x->pe[0].key = B(""), RB0 "rules.policies: a policy name must not be empty"),
		CASE((x->rules.n_policies = 2, x->pe[1].key = B("allow-a")),
		     RB0 "rules.policies.allow-a: duplicate policy"),
		CASE(x->pe[0].value = NULL, RB0
		     "rules.policies.allow-a: expected at least one permission and one principal"),
		CASE(add_unknown(&x->pol.base, 3),
		     RB0 "rules.policies.allow-a: field 3 is not supported by skiff (supported: "
			 "permissions, principals)"),
		CASE(x->pol.n_permissions = 0,
		     RB0 "rules.policies.allow-a.permissions: expected at least one permission"),
		CASE(x->pol.n_principals = 0,
		     RB0 "rules.policies.allow-a.principals: expected at least one principal"),
		CASE(
		    x->perm.rule_case = 0, RB0
		    "rules.policies.allow-a.permissions[0]: expected one of any, destination_port"),
		CASE((x->perm.rule_case = 0, add_unknown(&x->perm.base, 1)),
		     RB0 "rules.policies.allow-a.permissions[0]: field 1 is not supported by skiff "
			 "(supported: any, destination_port)"),
		CASE((x->perm.rule_case = ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_ANY,
		      x->perm.any = false),
		     RB0 "rules.policies.allow-a.permissions[0].any: must be true"),
		CASE(x->perm.destination_port = 70000,
		     RB0 "rules.policies.allow-a.permissions[0].destination_port: must be at most "
			 "65535"),
		CASE(x->princ.identifier_case = 0, RB0
		     "rules.policies.allow-a.principals[0]: expected one of any, authenticated"),
		CASE(x->auth.principal_name = NULL, RB0
		     "rules.policies.allow-a.principals[0].authenticated.principal_name: required"),
		CASE(x->princ_exact.exact = B("spiffe://cluster.local"),
		     RB0 "rules.policies.allow-a.principals[0].authenticated.principal_name.exact: "
			 "expected a SPIFFE id (spiffe://<trust-domain>/<path>), got "
			 "\"spiffe://cluster.local\": workload SPIFFE id has no path"),
		CASE(x->princ_exact.ignore_case = true, RB0
		     "rules.policies.allow-a.principals[0].authenticated.principal_name."
		     "ignore_case: not supported here (SPIFFE ids compare exactly)"),
		CASE(add_unknown(&x->princ_exact.base, 8), RB0
		     "rules.policies.allow-a.principals[0].authenticated.principal_name: field 8 "
		     "is not supported by skiff (supported: exact; SPIFFE ids compare exactly)"),
#undef CASE
	    };
	for (t = cases; t < cases + sizeof(cases) / sizeof(cases[0]); t++) {
		free(*state);
		free_kept(state);
		lfx_setup(state);
		f = *state;
		t->change(f);
		lfx_fails(f, t->want);
	}
}

static void test_listener_filter_typed_configs(void **state)
{
	struct lfx *f = *state;
	assert_int_equal(lfx_translate(f), 0);
	/* Packed by hand after lfx_translate's packing: */
	f->tcp_f[0].typed_config = any_bytes(REDIS_T, "", 0);
	assert_int_equal(lfx_run(f), -EINVAL);
	assert_string_equal(f->err, C0 "filters[1].typed_config: unsupported type URL \"" REDIS_T
				       "\" (supported: " TCP_PROXY_T ", " HCM_T ", " RBAC_T ")");
	f->tcp_f[0].typed_config = any_bytes(TCP_PROXY_T, "\xff\xff", 2);
	assert_int_equal(lfx_run(f), -EINVAL);
	assert_string_equal(f->err,
			    C0 "filters[1].typed_config: TcpProxy: not a valid protobuf message");
	f->tcp_f[0].typed_config = NULL;
	assert_int_equal(lfx_run(f), -EINVAL);
	assert_string_equal(f->err, C0 "filters[1].typed_config: required");
}

static void test_listener_transport_socket(void **state)
{
	struct lfx *f = *state;
	assert_int_equal(lfx_translate(f), 0);
	f->ts.typed_config = any_of(UP_TLS_T, &f->tls.up);
	assert_int_equal(lfx_run(f), -EINVAL);
	assert_string_equal(f->err,
			    C0 "transport_socket.typed_config: unsupported type URL \"" UP_TLS_T
			       "\" (supported: " DOWN_TLS_T ", " RAW_T ")");
	f->ts.typed_config = NULL;
	assert_int_equal(lfx_run(f), -EINVAL);
	assert_string_equal(f->err, C0 "transport_socket.typed_config: required");
	/* raw_buffer is plaintext: allowed on a chain that matches anything */
	f->l.n_filter_chains = 1;
	f->match[0].transport_protocol = B("");
	f->ts.name = B("envoy.transport_sockets.raw_buffer");
	assert_int_equal(lfx_run(f), 0);
	assert_null(f->out.chains[0].tls);
	f->ts.typed_config = any_bytes(RAW_T, "", 0);
	assert_int_equal(lfx_run(f), 0);
	assert_null(f->out.chains[0].tls);
}

static void test_listener_tls_errors(void **state)
{
	struct lfx *f = *state;
	struct {
		void (*change)(struct tlsfx *t);
		const char *want;
	} * t,
	    cases[] = {
#define CASE(body, msg)                                                                            \
	{({                                                                                        \
		 void fn(struct tlsfx *x)                                                          \
		 {                                                                                 \
			 body;                                                                     \
		 }                                                                                 \
		 fn;                                                                               \
	 }),                                                                                       \
	 msg}
		CASE(x->down.common_tls_context = NULL,
		     C0 "transport_socket.typed_config.common_tls_context: required"),
		CASE(x->common.n_tls_certificates = 0, C0
		     "transport_socket.typed_config.common_tls_context: expected exactly one TLS "
		     "certificate (skiff supports one) in tls_certificates or "
		     "tls_certificate_sds_secret_configs, got 0"),
		CASE((x->common.n_tls_certificate_sds_secret_configs = 1,
		      x->common.tls_certificate_sds_secret_configs = x->sds_certs),
		     C0
		     "transport_socket.typed_config.common_tls_context: expected exactly one TLS "
		     "certificate (skiff supports one) in tls_certificates or "
		     "tls_certificate_sds_secret_configs, got 2"),
		CASE(x->cert.private_key = NULL, TLS0 "tls_certificates[0].private_key: required"),
		CASE(x->chain.specifier_case =
			 ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES,
		     TLS0
		     "tls_certificates[0].certificate_chain: not supported here: a TLS context "
		     "reads files (filename); send inline PEM as an SDS Secret"),
		CASE(x->chain.specifier_case = 0,
		     TLS0 "tls_certificates[0].certificate_chain: expected filename"),
		CASE(x->chain.filename = B(""),
		     TLS0 "tls_certificates[0].certificate_chain.filename: required"),
		CASE(
		    (x->common.validation_context_type_case = 0,
		     x->common.validation_context = NULL),
		    C0
		    "transport_socket.typed_config.common_tls_context.validation_context: required "
		    "with require_client_certificate (client certificates are verified against its "
		    "trusted_ca)"),
		CASE(x->vc.trusted_ca = NULL, TLS0 "validation_context.trusted_ca: required"),
		CASE(add_unknown(&x->vc.base, 9),
		     TLS0 "validation_context: field 9 is not supported by skiff (supported: "
			  "trusted_ca, match_typed_subject_alt_names)"),
		CASE(x->san.san_type = 2, TLS0
		     "validation_context.match_typed_subject_alt_names[0].san_type: not supported "
		     "by skiff: DNS (supported: URI)"),
		CASE(x->san_exact.match_pattern_case = 0, TLS0
		     "validation_context.match_typed_subject_alt_names[0].matcher: expected exact "
		     "(SPIFFE ids compare exactly)"),
		CASE(x->san_exact.exact = B("http://a/b"), TLS0
		     "validation_context.match_typed_subject_alt_names[0].matcher.exact: expected "
		     "a SPIFFE id (spiffe://<trust-domain>/<path>), got \"http://a/b\": SPIFFE id "
		     "does not start with spiffe://"),
		CASE(x->vc.match_typed_subject_alt_names =
			 repeat(&x->san, x->vc.n_match_typed_subject_alt_names = 257),
		     TLS0
		     "validation_context.match_typed_subject_alt_names: too many SAN matchers: "
		     "257 (at most 256)"),
		CASE(x->params.tls_minimum_protocol_version = 1, TLS0
		     "tls_params.tls_minimum_protocol_version: not supported by skiff: TLSv1_0 "
		     "(supported: TLS_AUTO, TLSv1_2, TLSv1_3)"),
		CASE(x->params.tls_maximum_protocol_version = 9, TLS0
		     "tls_params.tls_maximum_protocol_version: expected one of TLS_AUTO, TLSv1_2, "
		     "TLSv1_3, got 9"),
		CASE((x->params.tls_minimum_protocol_version = 0,
		      x->params.tls_maximum_protocol_version = 3),
		     TLS0
		     "tls_params.tls_maximum_protocol_version: below tls_minimum_protocol_version "
		     "(TLSv1_3 unless set)"),
		CASE(x->common.alpn_protocols =
			 repeat_bytes(x->alpn[0], x->common.n_alpn_protocols = 17),
		     TLS0 "alpn_protocols: too many ALPN protocols: 17 (at most 16)"),
		CASE(x->alpn[1] = B(""), TLS0 "alpn_protocols[1]: required"),
		CASE((tlsfx_use_sds(x), x->sds_cert.sds_config = NULL), TLS0
		     "tls_certificate_sds_secret_configs[0].sds_config: expected {ads: {}} (skiff "
		     "fetches secrets over its ADS stream)"),
		CASE((tlsfx_use_sds(x), x->sds_cert.name = B("")),
		     TLS0 "tls_certificate_sds_secret_configs[0].name: required"),
		CASE((tlsfx_use_sds(x), x->vc.trusted_ca = &x->ca), TLS0
		     "combined_validation_context.default_validation_context.trusted_ca: must be "
		     "absent (the trust bundle comes from validation_context_sds_secret_config)"),
		CASE((tlsfx_use_sds(x), x->combined.validation_context_sds_secret_config = NULL),
		     TLS0
		     "combined_validation_context.validation_context_sds_secret_config: required"),
#undef CASE
	    };
	for (t = cases; t < cases + sizeof(cases) / sizeof(cases[0]); t++) {
		free(*state);
		free_kept(state);
		lfx_setup(state);
		f = *state;
		t->change(&f->tls);
		lfx_fails(f, t->want);
	}
}

/* ---- clusters ----------------------------------------------------------- */

struct cfx {
	Cluster c;
	Google__Protobuf__Duration timeout;
	BindConfig bind;
	SocketAddress bind_sa;
	ClusterLoadAssignment cla;
	LocalityLbEndpoints loc, *locs[1];
	LbEndpoint lbe[3], *lbes[3];
	Endpoint ep[3];
	Address addr[3];
	SocketAddress sa[3];
	EdsClusterConfig eds;
	TransportSocket ts;
	struct tlsfx tls;
	struct cluster out;
	struct xds_cluster_refs refs;
	char err[512];
};

static int cfx_setup(void **state)
{
	struct cfx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	envoy__config__cluster__v3__cluster__init(&f->c);
	f->c.name = B("outbound|80||b.default");
	f->c.cluster_discovery_type_case =
	    ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
	f->c.type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC;
	google__protobuf__duration__init(&f->timeout);
	f->timeout.seconds = 10;
	f->c.connect_timeout = &f->timeout;
	envoy__config__core__v3__bind_config__init(&f->bind);
	socket_address(&f->bind_sa, NULL, "127.0.0.6", 0);
	f->bind_sa.port_specifier_case = 0;
	f->bind.source_address = &f->bind_sa;
	f->c.upstream_bind_config = &f->bind;

	envoy__config__endpoint__v3__cluster_load_assignment__init(&f->cla);
	envoy__config__endpoint__v3__locality_lb_endpoints__init(&f->loc);
	f->cla.cluster_name = B("outbound|80||b.default");
	f->cla.n_endpoints = 1;
	f->cla.endpoints = f->locs;
	f->locs[0] = &f->loc;
	static const char *const ips[] = {"10.0.0.1", "10.0.0.2", "fd00::3"};
	for (int i = 0; i < 3; i++) {
		envoy__config__endpoint__v3__lb_endpoint__init(&f->lbe[i]);
		envoy__config__endpoint__v3__endpoint__init(&f->ep[i]);
		socket_address(&f->sa[i], &f->addr[i], ips[i], 8080);
		f->ep[i].address = &f->addr[i];
		f->lbe[i].host_identifier_case =
		    ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
		f->lbe[i].endpoint = &f->ep[i];
		f->lbes[i] = &f->lbe[i];
	}
	f->loc.n_lb_endpoints = 3;
	f->loc.lb_endpoints = f->lbes;
	f->c.load_assignment = &f->cla;

	envoy__config__cluster__v3__cluster__eds_cluster_config__init(&f->eds);
	tlsfx_init(&f->tls);
	f->eds.eds_config = &f->tls.ads_source;
	envoy__config__core__v3__transport_socket__init(&f->ts);
	f->ts.name = B("envoy.transport_sockets.tls");
	*state = f;
	return 0;
}

static int cfx_teardown(void **state)
{
	struct cfx *f = *state;
	xds_cluster_clear(&f->out);
	xds_cluster_refs_clear(&f->refs);
	free(f);
	return free_kept(state);
}

static int cfx_translate(struct cfx *f)
{
	if (f->c.transport_socket && !f->ts.typed_config)
		f->ts.typed_config = any_of(UP_TLS_T, &f->tls.up);
	xds_cluster_clear(&f->out);
	xds_cluster_refs_clear(&f->refs);
	f->err[0] = '\0';
	return xds_translate_cluster(&f->c, &f->out, &f->refs, f->err, sizeof(f->err));
}

static void use_eds(struct cfx *f)
{
	f->c.type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS;
	f->c.load_assignment = NULL;
	f->c.eds_cluster_config = &f->eds;
}

static void use_original_dst(struct cfx *f)
{
	f->c.type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__ORIGINAL_DST;
	f->c.load_assignment = NULL;
}

static void test_cluster_static_tls(void **state)
{
	struct cfx *f = *state;
	char a[SOCK_ADDR_STRLEN];
	f->c.transport_socket = &f->ts;
	f->lbe[1].health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING;
	f->lbe[2].health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY;
	assert_int_equal(cfx_translate(f), 0);
	struct cluster *c = &f->out;
	assert_string_equal(c->name, "outbound|80||b.default");
	assert_int_equal(c->type, CLUSTER_STATIC);
	assert_int_equal(c->lb_policy, LB_ROUND_ROBIN);
	assert_int_equal(c->connect_timeout_ms, 10000);
	assert_true(c->has_source_address);
	assert_string_equal(sock_addr_format(&c->source_address, a, sizeof(a)), "127.0.0.6:0");
	assert_int_equal(c->n_endpoints, 2); /* the draining one left out */
	assert_string_equal(sock_addr_format(&c->endpoints[0].addr, a, sizeof(a)), "10.0.0.1:8080");
	assert_string_equal(sock_addr_format(&c->endpoints[1].addr, a, sizeof(a)),
			    "[fd00::3]:8080");
	assert_non_null(c->tls);
	assert_string_equal(c->tls->sni, "b.default.svc");
	assert_string_equal(c->tls->trusted_ca_file, "/certs/ca.pem");
	assert_false(c->tls->require_client_certificate);
	assert_null(f->refs.eds_service_name);
}

static void test_cluster_original_dst(void **state)
{
	struct cfx *f = *state;
	use_original_dst(f);
	f->c.connect_timeout = NULL;
	f->c.upstream_bind_config = NULL;
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.type, CLUSTER_ORIGINAL_DST);
	assert_int_equal(f->out.lb_policy, LB_CLUSTER_PROVIDED); /* ROUND_ROBIN is unset */
	assert_int_equal(f->out.connect_timeout_ms, 5000);
	assert_false(f->out.has_source_address);
	assert_null(f->out.endpoints);
	f->c.lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__CLUSTER_PROVIDED;
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.lb_policy, LB_CLUSTER_PROVIDED);
}

static void test_cluster_eds(void **state)
{
	struct cfx *f = *state;
	use_eds(f);
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.type, CLUSTER_STATIC);
	assert_int_equal(f->out.n_endpoints, 0);
	assert_string_equal(f->refs.eds_service_name, "outbound|80||b.default");
	f->eds.service_name = B("b.default.svc");
	f->c.transport_socket = &f->ts;
	tlsfx_use_sds(&f->tls);
	assert_int_equal(cfx_translate(f), 0);
	assert_string_equal(f->refs.eds_service_name, "b.default.svc");
	assert_string_equal(f->refs.tls.cert_secret, "default");
	assert_string_equal(f->refs.tls.ca_secret, "ROOTCA");
}

static void test_cluster_errors(void **state)
{
	struct cfx *f = *state;
	struct {
		void (*change)(struct cfx *f);
		const char *want;
	} * t, cases[] = {
#define CASE(body, msg)                                                                            \
	{({                                                                                        \
		 void fn(struct cfx *x)                                                            \
		 {                                                                                 \
			 body;                                                                     \
		 }                                                                                 \
		 fn;                                                                               \
	 }),                                                                                       \
	 msg}
#define CL "cluster \"outbound|80||b.default\": "
		CASE(x->c.name = B(""), "cluster \"\": name: required"),
		CASE(x->c.type = 1, CL "type: not supported by skiff: STRICT_DNS (supported: "
				       "STATIC, ORIGINAL_DST, EDS)"),
		CASE(x->c.type = 99, CL "type: expected one of STATIC, ORIGINAL_DST, EDS, got 99"),
		CASE(x->c.cluster_discovery_type_case =
			 ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_CLUSTER_TYPE,
		     CL "cluster_type: not supported by skiff (supported: type STATIC, "
			"ORIGINAL_DST, EDS)"),
		CASE(x->c.lb_policy = 7, CL "lb_policy: not supported by skiff: "
					    "LOAD_BALANCING_POLICY_CONFIG (supported: ROUND_ROBIN, "
					    "CLUSTER_PROVIDED, LEAST_REQUEST, RING_HASH, MAGLEV, "
					    "RANDOM)"),
		CASE(x->c.lb_policy = 6,
		     CL "lb_policy: CLUSTER_PROVIDED is only for ORIGINAL_DST clusters"),
		CASE((use_original_dst(x), x->c.load_assignment = &x->cla), CL
		     "load_assignment: an ORIGINAL_DST cluster takes no endpoints (each connection "
		     "names its own destination)"),
		CASE(x->c.load_assignment = NULL,
		     CL "load_assignment: a STATIC cluster needs at least one endpoint"),
		CASE(x->cla.cluster_name = B(""), CL "load_assignment.cluster_name: required"),
		CASE(x->lbe[1].host_identifier_case = 0,
		     CL "load_assignment.endpoints[0].lb_endpoints[1].endpoint: required (skiff "
			"supports "
			"endpoint, not endpoint_name)"),
		CASE(x->sa[2].address = B("b.default.svc"), CL
		     "load_assignment.endpoints[0].lb_endpoints[2].endpoint.address.socket_address."
		     "address: expected an IPv4 or IPv6 address, got \"b.default.svc\" (skiff does "
		     "not "
		     "resolve names)"),
		CASE(x->timeout.seconds = 0, CL "connect_timeout: must be at least 1ms"),
		CASE(x->timeout.nanos = 1000000000, CL
		     "connect_timeout: expected a duration of 0s or more (seconds >= 0, nanos in "
		     "0..999999999)"),
		CASE(x->bind.source_address = NULL,
		     CL "upstream_bind_config.source_address: required"),
		CASE(x->bind_sa.address = B("::1%lo"),
		     CL "upstream_bind_config.source_address.address: expected an IPv4 or IPv6 "
			"address, "
			"got \"::1%lo\" (skiff does not resolve names)"),
		CASE(use_eds(x); x->c.eds_cluster_config = NULL,
				 CL "eds_cluster_config: required with type EDS"),
		CASE(use_eds(x); x->eds.eds_config = NULL,
				 CL "eds_cluster_config.eds_config: expected {ads: {}} (skiff "
				    "fetches endpoints over "
				    "its ADS stream)"),
		CASE(use_eds(x);
		     x->c.load_assignment = &x->cla, CL "load_assignment: an EDS cluster takes its "
							"endpoints from EDS, not load_assignment"),
		CASE(x->c.n_transport_socket_matches = 1,
		     CL "transport_socket_matches: not supported by skiff (use transport_socket)"),
		CASE(
		    (x->c.transport_socket = &x->ts,
		     x->tls.common.validation_context_type_case = 0),
		    CL
		    "transport_socket.typed_config.common_tls_context.validation_context: required "
		    "(skiff verifies every server it connects to over TLS)"),
		CASE((x->c.transport_socket = &x->ts,
		      x->ts.typed_config = any_of(DOWN_TLS_T, &x->tls.down)),
		     CL "transport_socket.typed_config: unsupported type URL \"" DOWN_TLS_T "\" "
			"(supported: " UP_TLS_T ", " RAW_T ")"),
#undef CL
#undef CASE
	};
	for (t = cases; t < cases + sizeof(cases) / sizeof(cases[0]); t++) {
		free(*state);
		free_kept(state);
		cfx_setup(state);
		f = *state;
		t->change(f);
		if (cfx_translate(f) != -EINVAL)
			fail_msg("translated, but expected: %s", t->want);
		assert_string_equal(f->err, t->want);
		assert_null(f->out.name);
		assert_null(f->out.endpoints);
		assert_null(f->refs.eds_service_name);
	}
}

static void test_endpoints(void **state)
{
	struct cfx *f = *state;
	struct endpoint *eps = NULL;
	size_t n = 99;
	char err[256], a[SOCK_ADDR_STRLEN];
	f->lbe[0].health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__UNHEALTHY;
	f->lbe[1].health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DEGRADED;
	assert_int_equal(xds_translate_endpoints(&f->cla, &eps, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(sock_addr_format(&eps[0].addr, a, sizeof(a)), "10.0.0.2:8080");
	free(eps);
	/* All gone: no endpoints is a valid assignment (connections then fail). */
	f->cla.n_endpoints = 0;
	assert_int_equal(xds_translate_endpoints(&f->cla, &eps, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(eps);
	f->cla.n_endpoints = 1;
	f->sa[1].port_specifier_case = 0;
	assert_int_equal(xds_translate_endpoints(&f->cla, &eps, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "cluster_load_assignment \"outbound|80||b.default\": "
			    "endpoints[0].lb_endpoints[1].endpoint.address.socket_address."
			    "port_value: required (skiff supports port_value, not named_port)");
	assert_null(eps);
	assert_int_equal(n, 0);
	f->cla.cluster_name = B("");
	assert_int_equal(xds_translate_endpoints(&f->cla, &eps, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cluster_load_assignment \"\": cluster_name: required");
}


/* ---- clusters for HTTP routes -------------------------------------------- */

#define HTTP_OPTS_NAME "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

struct httpfx {
	Envoy__Config__Cluster__V3__Cluster__MaglevLbConfig maglev;
	Envoy__Config__Cluster__V3__Cluster__RingHashLbConfig ring;
	Google__Protobuf__UInt64Value table, ring_min;
	Envoy__Config__Cluster__V3__CircuitBreakers cb;
	Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds th[2], *ths[2];
	Google__Protobuf__UInt32Value u32[8];
	Envoy__Config__Cluster__V3__OutlierDetection od;
	Google__Protobuf__Duration d[4];
	Envoy__Config__Core__V3__HealthCheck hc, *hcs[1];
	Envoy__Config__Core__V3__HealthCheck__HttpHealthCheck http_hc;
	/* not used until a test switches the health check to TCP */
	Envoy__Config__Core__V3__HealthCheck__TcpHealthCheck tcp_hc;
	Envoy__Config__Core__V3__HealthCheck__Payload send, recv[2], *recvs[2];
	Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions opts;
	Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig explicit;
	Envoy__Config__Core__V3__Http2ProtocolOptions h2;
	Envoy__Config__Core__V3__HttpProtocolOptions common;
	Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry entry, *entries[1];
};

static Google__Protobuf__UInt32Value *u32(Google__Protobuf__UInt32Value *w, uint32_t v)
{
	google__protobuf__uint32_value__init(w);
	w->value = v;
	return w;
}

static Google__Protobuf__Duration *dur(Google__Protobuf__Duration *d, int64_t s, int32_t ns)
{
	google__protobuf__duration__init(d);
	d->seconds = s;
	d->nanos = ns;
	return d;
}

/* Maglev 251, breakers (DEFAULT 10/20/30/4, HIGH ignored), outlier
 * detection, an HTTP health check, HTTP/2 upstream. */
static void httpfx_apply(struct httpfx *h, Cluster *c)
{
	c->lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__MAGLEV;
	envoy__config__cluster__v3__cluster__maglev_lb_config__init(&h->maglev);
	google__protobuf__uint64_value__init(&h->table);
	h->table.value = 251;
	h->maglev.table_size = &h->table;
	c->lb_config_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_MAGLEV_LB_CONFIG;
	c->maglev_lb_config = &h->maglev;
	envoy__config__cluster__v3__cluster__ring_hash_lb_config__init(&h->ring);
	google__protobuf__uint64_value__init(&h->ring_min);

	envoy__config__cluster__v3__circuit_breakers__init(&h->cb);
	for (int i = 0; i < 2; i++) {
		envoy__config__cluster__v3__circuit_breakers__thresholds__init(&h->th[i]);
		h->ths[i] = &h->th[i];
	}
	h->th[0].priority = ENVOY__CONFIG__CORE__V3__ROUTING_PRIORITY__HIGH;
	h->th[0].max_connections = u32(&h->u32[0], 1);
	h->th[1].max_connections = u32(&h->u32[1], 10);
	h->th[1].max_pending_requests = u32(&h->u32[2], 20);
	h->th[1].max_requests = u32(&h->u32[3], 30);
	h->th[1].max_retries = u32(&h->u32[4], 4);
	h->th[1].track_remaining = true;
	h->cb.n_thresholds = 2;
	h->cb.thresholds = h->ths;
	c->circuit_breakers = &h->cb;

	envoy__config__cluster__v3__outlier_detection__init(&h->od);
	h->od.consecutive_5xx = u32(&h->u32[5], 3);
	h->od.interval = dur(&h->d[0], 1, 0);
	h->od.max_ejection_percent = u32(&h->u32[6], 50);
	c->outlier_detection = &h->od;

	envoy__config__core__v3__health_check__init(&h->hc);
	envoy__config__core__v3__health_check__http_health_check__init(&h->http_hc);
	h->hc.timeout = dur(&h->d[1], 0, 500000000);
	h->hc.interval = dur(&h->d[2], 2, 0);
	h->hc.unhealthy_threshold = u32(&h->u32[7], 2);
	h->hc.healthy_threshold = h->hc.unhealthy_threshold;
	h->hc.health_checker_case =
	    ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK;
	h->http_hc.path = B("/healthz");
	h->hc.http_health_check = &h->http_hc;
	envoy__config__core__v3__health_check__tcp_health_check__init(&h->tcp_hc);
	envoy__config__core__v3__health_check__payload__init(&h->send);
	h->send.payload_case = ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__PAYLOAD__PAYLOAD_TEXT;
	h->send.text = B("50494e47");
	h->tcp_hc.send = &h->send;
	for (int i = 0; i < 2; i++) {
		envoy__config__core__v3__health_check__payload__init(&h->recv[i]);
		h->recvs[i] = &h->recv[i];
	}
	h->recv[0].payload_case = ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__PAYLOAD__PAYLOAD_BINARY;
	h->recv[0].binary = B("PO");
	h->recv[1].payload_case = ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__PAYLOAD__PAYLOAD_TEXT;
	h->recv[1].text = B("4e47");
	h->tcp_hc.n_receive = 2;
	h->tcp_hc.receive = h->recvs;
	h->hcs[0] = &h->hc;
	c->n_health_checks = 1;
	c->health_checks = h->hcs;

	envoy__extensions__upstreams__http__v3__http_protocol_options__init(&h->opts);
	envoy__extensions__upstreams__http__v3__http_protocol_options__explicit_http_config__init(
	    &h->explicit);
	envoy__config__core__v3__http2_protocol_options__init(&h->h2);
	envoy__config__core__v3__http_protocol_options__init(&h->common);
	h->h2.max_concurrent_streams = u32(&h->u32[0], 7);
	h->explicit.protocol_config_case =
	    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS;
	h->explicit.http2_protocol_options = &h->h2;
	h->opts.upstream_protocol_options_case =
	    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG;
	h->opts.explicit_http_config = &h->explicit;
	h->common.idle_timeout = dur(&h->d[3], 60, 0);
	h->opts.common_http_protocol_options = &h->common;
	envoy__config__cluster__v3__cluster__typed_extension_protocol_options_entry__init(&h->entry);
	h->entry.key = HTTP_OPTS_NAME;
	h->entries[0] = &h->entry;
	c->n_typed_extension_protocol_options = 1;
	c->typed_extension_protocol_options = h->entries;
}

static void httpfx_pack(struct httpfx *h)
{
	h->entry.value = any_of(TYPE(HTTP_OPTS_NAME), &h->opts);
}

static void test_cluster_http(void **state)
{
	struct cfx *f = *state;
	struct httpfx h;
	/* Without any: the defaults (config.h's brackets). */
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.lb_policy, LB_ROUND_ROBIN);
	assert_int_equal(f->out.protocol, UPSTREAM_HTTP1);
	assert_int_equal(f->out.breakers.max_requests, 1024);
	assert_int_equal(f->out.breakers.max_retries, 3);
	assert_false(f->out.outlier.enabled);
	assert_false(f->out.health.enabled);
	assert_int_equal(f->out.ring_hash_min_size, 1024);
	assert_int_equal(f->out.maglev_table_size, 65537);
	assert_int_equal(f->out.http2.max_concurrent_streams, 100);
	assert_int_equal(f->out.idle_timeout_ms, 3600000);
	assert_int_equal(f->out.endpoints[0].weight, 1);

	httpfx_apply(&h, &f->c);
	httpfx_pack(&h);
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.lb_policy, LB_MAGLEV);
	assert_int_equal(f->out.maglev_table_size, 251);
	assert_int_equal(f->out.breakers.max_connections, 10);
	assert_int_equal(f->out.breakers.max_pending_requests, 20);
	assert_int_equal(f->out.breakers.max_requests, 30);
	assert_int_equal(f->out.breakers.max_retries, 4);
	assert_true(f->out.breakers.track_remaining);
	assert_true(f->out.outlier.enabled);
	assert_int_equal(f->out.outlier.consecutive_5xx, 3);
	assert_int_equal(f->out.outlier.consecutive_gateway_failure, 5);
	assert_int_equal(f->out.outlier.interval_ms, 1000);
	assert_int_equal(f->out.outlier.base_ejection_time_ms, 30000);
	assert_int_equal(f->out.outlier.max_ejection_percent, 50);
	assert_true(f->out.health.enabled);
	assert_false(f->out.health.tcp);
	assert_string_equal(f->out.health.path, "/healthz");
	assert_null(f->out.health.host);
	assert_int_equal(f->out.health.timeout_ms, 500);
	assert_int_equal(f->out.health.interval_ms, 2000);
	assert_int_equal(f->out.health.healthy_threshold, 2);
	assert_int_equal(f->out.protocol, UPSTREAM_HTTP2);
	assert_int_equal(f->out.http2.max_concurrent_streams, 7);
	assert_int_equal(f->out.http2.initial_stream_window_size, 1u << 20);
	assert_int_equal(f->out.idle_timeout_ms, 60000);
	assert_false(f->out.breakers.has_retry_budget);

	/* A TCP health check: "PING" sent, "PO" then "NG" expected. */
	h.hc.health_checker_case = ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK;
	h.hc.tcp_health_check = &h.tcp_hc;
	assert_int_equal(cfx_translate(f), 0);
	assert_true(f->out.health.enabled && f->out.health.tcp);
	assert_null(f->out.health.path);
	assert_int_equal(f->out.health.send.len, 4);
	assert_memory_equal(f->out.health.send.data, "PING", 4);
	assert_int_equal(f->out.health.n_receive, 2);
	assert_memory_equal(f->out.health.receive[0].data, "PO", 2);
	assert_memory_equal(f->out.health.receive[1].data, "NG", 2);
	h.hc.health_checker_case = ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK;
	h.hc.http_health_check = &h.http_hc; /* the oneof shares its storage */

	/* A retry budget: Envoy's defaults for what it leaves out. */
	Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds__RetryBudget budget;
	Envoy__Type__V3__Percent pct;
	envoy__config__cluster__v3__circuit_breakers__thresholds__retry_budget__init(&budget);
	h.th[1].retry_budget = &budget;
	assert_int_equal(cfx_translate(f), 0);
	assert_true(f->out.breakers.has_retry_budget);
	assert_true(f->out.breakers.retry_budget_percent == 20.0);
	assert_int_equal(f->out.breakers.min_retry_concurrency, 3);
	envoy__type__v3__percent__init(&pct);
	pct.value = 50;
	budget.budget_percent = &pct;
	Google__Protobuf__UInt32Value min_concurrency;
	budget.min_retry_concurrency = u32(&min_concurrency, 1);
	assert_int_equal(cfx_translate(f), 0);
	assert_true(f->out.breakers.retry_budget_percent == 50.0);
	assert_int_equal(f->out.breakers.min_retry_concurrency, 1);
	pct.value = 101;
	assert_int_equal(cfx_translate(f), -EINVAL);
	assert_non_null(strstr(f->err, "circuit_breakers.thresholds[1].retry_budget.budget_percent: must be between 0 and 100"));
	h.th[1].retry_budget = NULL;

	/* Ring hash, least request, random; EDS names its service. */
	f->c.lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH;
	f->c.lb_config_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_RING_HASH_LB_CONFIG;
	f->c.ring_hash_lb_config = &h.ring;
	h.ring_min.value = 4096;
	h.ring.minimum_ring_size = &h.ring_min;
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.lb_policy, LB_RING_HASH);
	assert_int_equal(f->out.ring_hash_min_size, 4096);
	f->c.lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST;
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.lb_policy, LB_LEAST_REQUEST);
	f->c.lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RANDOM;
	assert_int_equal(cfx_translate(f), 0);
	assert_int_equal(f->out.lb_policy, LB_RANDOM);
	use_eds(f);
	f->eds.service_name = B("b.default.svc");
	assert_int_equal(cfx_translate(f), 0);
	assert_string_equal(f->out.eds_service_name, "b.default.svc");
}

/* load_balancing_weight in EDS: 1 when absent, at least 1. */
static void test_endpoint_weights(void **state)
{
	struct cfx *f = *state;
	Google__Protobuf__UInt32Value w;
	struct endpoint *eps = NULL;
	size_t n = 0;
	char err[256];
	f->lbe[2].load_balancing_weight = u32(&w, 50);
	assert_int_equal(xds_translate_endpoints(&f->cla, &eps, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(eps[0].weight, 1);
	assert_int_equal(eps[2].weight, 50);
	free(eps);
	w.value = 0;
	assert_int_equal(xds_translate_endpoints(&f->cla, &eps, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cluster_load_assignment \"outbound|80||b.default\": "
				 "endpoints[0].lb_endpoints[2].load_balancing_weight: must be at "
				 "least 1");
}

static void test_cluster_http_errors(void **state)
{
	struct {
		void (*change)(struct cfx *f, struct httpfx *h);
		const char *want;
	} * t, cases[] = {
#define CASE(body, msg)                                                                            \
	{({                                                                                        \
		 void fn(struct cfx *f, struct httpfx *h)                                          \
		 {                                                                                 \
			 (void)f;                                                                  \
			 body;                                                                     \
		 }                                                                                 \
		 fn;                                                                               \
	 }),                                                                                       \
	 msg}
#define CL "cluster \"outbound|80||b.default\": "
		CASE(h->table.value = 65536,
		     CL "maglev_lb_config.table_size: expected a prime number up to 5000011, got "
			"65536"),
		CASE(h->table.value = 5000017,
		     CL "maglev_lb_config.table_size: expected a prime number up to 5000011, got "
			"5000017"),
		CASE((f->c.lb_config_case =
			  ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_RING_HASH_LB_CONFIG,
		      f->c.ring_hash_lb_config = &h->ring,
		      h->ring.hash_function = 1),
		     CL "ring_hash_lb_config.hash_function: not supported by skiff: MURMUR_HASH_2 "
			"(supported: XX_HASH)"),
		CASE((f->c.lb_config_case =
			  ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_RING_HASH_LB_CONFIG,
		      f->c.ring_hash_lb_config = &h->ring, h->ring_min.value = 9000000,
		      h->ring.minimum_ring_size = &h->ring_min),
		     CL "ring_hash_lb_config.minimum_ring_size: expected 1..8388608, got 9000000"),
		CASE(h->od.max_ejection_percent->value = 101,
		     CL "outlier_detection.max_ejection_percent: expected 0..100, got 101"),
		CASE(h->od.interval->seconds = 0,
		     CL "outlier_detection.interval: must be at least 1ms"),
		CASE(h->hc.timeout = NULL, CL "health_checks[0].timeout: required"),
		CASE(h->hc.healthy_threshold = NULL,
		     CL "health_checks[0].healthy_threshold: required"),
		CASE(h->http_hc.path = B(""),
		     CL "health_checks[0].http_health_check.path: required"),
		CASE(h->http_hc.path = B("healthz"),
		     CL "health_checks[0].http_health_check.path: a path starts with '/', and "
			"neither may hold a space, CR or LF"),
		CASE(h->hc.health_checker_case =
			 ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_GRPC_HEALTH_CHECK,
		     CL "health_checks[0]: expected http_health_check or tcp_health_check (skiff "
			"checks over HTTP or TCP)"),
#define TCP_HC                                                                                     \
	h->hc.health_checker_case =                                                                \
	    ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK,                \
	h->hc.tcp_health_check = &h->tcp_hc
		CASE((TCP_HC, h->send.text = B("5049z")),
		     CL "health_checks[0].tcp_health_check.send.text: expected hex digits, two per "
			"byte"),
		CASE((TCP_HC, h->send.payload_case = 0),
		     CL "health_checks[0].tcp_health_check.send: expected one of text, binary"),
		CASE((TCP_HC, h->recv[1].payload_case =
				  ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__PAYLOAD__PAYLOAD_BINARY,
		      h->recv[1].binary = B("")),
		     CL "health_checks[0].tcp_health_check.receive[1]: must not be empty"),
#undef TCP_HC
		CASE((f->c.n_health_checks = 2, f->c.health_checks = repeat(&h->hc, 2)),
		     CL "health_checks: expected one health check (skiff runs one), got 2"),
		CASE(h->entry.key = "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions",
		     CL "typed_extension_protocol_options[envoy.extensions.upstreams.tcp.v3."
			"TcpProtocolOptions]: not supported by skiff (supported: " HTTP_OPTS_NAME
			")"),
		CASE(h->opts.upstream_protocol_options_case =
			 ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_AUTO_CONFIG,
		     CL "typed_extension_protocol_options[" HTTP_OPTS_NAME
			"].auto_config: not supported by skiff (supported: explicit_http_config)"),
		CASE(h->h2.max_concurrent_streams->value = 0,
		     CL "typed_extension_protocol_options[" HTTP_OPTS_NAME
			"].explicit_http_config.http2_protocol_options.max_concurrent_streams: "
			"expected 1..2147483647, got 0"),
		CASE((h->h2.max_concurrent_streams = NULL,
		      h->h2.initial_stream_window_size = u32(&h->u32[0], 100)),
		     CL "typed_extension_protocol_options[" HTTP_OPTS_NAME
			"].explicit_http_config.http2_protocol_options.initial_stream_window_size: "
			"expected 65535..2147483647, got 100"),
#undef CASE
	    };
	for (t = cases; t < cases + sizeof(cases) / sizeof(cases[0]); t++) {
		struct httpfx h;
		cfx_setup(state);
		struct cfx *f = *state;
		httpfx_apply(&h, &f->c);
		t->change(f, &h);
		httpfx_pack(&h);
		assert_int_equal(cfx_translate(f), -EINVAL);
		assert_string_equal(f->err, t->want);
		cfx_teardown(state);
	}
}

/* ---- secrets and routes ------------------------------------------------- */

static void test_secret(void **state)
{
	(void)state;
	Secret s;
	TlsCertificate cert;
	ValidationContext vc;
	DataSource chain, key, ca;
	struct xds_secret out;
	char err[256];
	envoy__extensions__transport_sockets__tls__v3__secret__init(&s);
	envoy__extensions__transport_sockets__tls__v3__tls_certificate__init(&cert);
	envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__init(&vc);
	file(&chain, "/var/run/secrets/cert.pem");
	envoy__config__core__v3__data_source__init(&key);
	key.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES;
	key.inline_bytes = B("-----BEGIN PRIVATE KEY-----\n...");
	s.name = B("default");
	s.type_case = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE;
	s.tls_certificate = &cert;
	cert.certificate_chain = &chain;
	cert.private_key = &key;
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), 0);
	assert_string_equal(out.name, "default");
	assert_int_equal(out.kind, XDS_SECRET_TLS_CERTIFICATE);
	assert_string_equal(out.cert_chain.filename, "/var/run/secrets/cert.pem");
	assert_null(out.cert_chain.pem);
	assert_null(out.private_key.filename);
	assert_int_equal(out.private_key.pem_len, key.inline_bytes.len);
	assert_memory_equal(out.private_key.pem, key.inline_bytes.data, key.inline_bytes.len);
	xds_secret_clear(&out);

	cert.private_key = NULL;
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "secret \"default\": tls_certificate.private_key: required");
	assert_null(out.name);
	cert.private_key = &key;
	key.specifier_case = 0; /* environment_variable, say */
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "secret \"default\": tls_certificate.private_key: expected one of "
				 "filename, inline_bytes, inline_string");
	key.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING;
	key.inline_string = B("");
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "secret \"default\": tls_certificate.private_key.inline_string: "
				 "must not be empty");

	s.name = B("ROOTCA");
	s.type_case =
	    ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT;
	s.validation_context = &vc;
	envoy__config__core__v3__data_source__init(&ca);
	ca.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING;
	ca.inline_string = B("-----BEGIN CERTIFICATE-----\n...");
	vc.trusted_ca = &ca;
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), 0);
	assert_int_equal(out.kind, XDS_SECRET_VALIDATION_CONTEXT);
	assert_int_equal(out.trusted_ca.pem_len, ca.inline_string.len);
	xds_secret_clear(&out);
	vc.n_match_typed_subject_alt_names = 1;
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "secret \"ROOTCA\": validation_context.match_typed_subject_alt_names: "
			    "not supported in a Secret (put them in the TLS context's "
			    "combined_validation_context.default_validation_context)");
	vc.n_match_typed_subject_alt_names = 0;
	add_unknown(&vc.base, 17);
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "secret \"ROOTCA\": validation_context: field 17 is not supported "
				 "by skiff (supported: trusted_ca)");
	free_kept(state);
	s.type_case = 0;
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "secret \"ROOTCA\": expected tls_certificate or validation_context "
			    "(skiff supports those)");
	s.name = B("");
	assert_int_equal(xds_translate_secret(&s, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "secret \"\": name: required");
}

/* ---- decoding ------------------------------------------------------------ */

/* A DiscoveryResponse as the control plane sends it: packed, decoded, and
 * each resource unpacked by its type URL and translated. */
static void test_decode_response(void **state)
{
	struct lfx *f = *state;
	assert_int_equal(lfx_translate(f), 0); /* packs the typed_configs */
	/* continue_on_listener_filters_timeout: skipped, harmless */
	add_unknown(&f->l.base, 17);

	DiscoveryResponse resp;
	envoy__service__discovery__v3__discovery_response__init(&resp);
	Any *res[2] = {any_of(XDS_TYPE_LISTENER, &f->l), any_of(XDS_TYPE_LISTENER, &f->l)};
	resp.version_info = "v1";
	resp.type_url = XDS_TYPE_LISTENER;
	resp.nonce = "n1";
	resp.n_resources = 2;
	resp.resources = res;
	size_t len = protobuf_c_message_get_packed_size(&resp.base);
	uint8_t *buf = keep(malloc(len));
	assert_int_equal(protobuf_c_message_pack(&resp.base, buf), len);

	struct xds_decoder d;
	DiscoveryResponse *got = NULL;
	char err[256];
	xds_decoder_init(&d, 0);
	assert_int_equal(xds_decode(&d,
				    &envoy__service__discovery__v3__discovery_response__descriptor,
				    buf, len, (ProtobufCMessage **)&got, err, sizeof(err)),
			 0);
	assert_string_equal(got->version_info, "v1");
	assert_string_equal(got->nonce, "n1");
	assert_int_equal(got->n_resources, 2);
	const ProtobufCMessageDescriptor *desc = xds_resource_descriptor(got->type_url);
	assert_ptr_equal(desc, &envoy__config__listener__v3__listener__descriptor);
	for (size_t i = 0; i < got->n_resources; i++) {
		Listener *l = NULL;
		char *name = NULL;
		assert_int_equal(xds_decode_any(&d, got->resources[i], desc,
						(ProtobufCMessage **)&l, err, sizeof(err)),
				 0);
		assert_int_equal(l->base.n_unknown_fields, 1);
		assert_int_equal(xds_resource_name(&l->base, &name, err, sizeof(err)), 0);
		assert_string_equal(name, "virtualInbound");
		free(name);
		xds_listener_clear(&f->out);
		xds_listener_refs_clear(&f->refs);
		assert_int_equal(xds_translate_listener(l, &f->out, &f->refs, err, sizeof(err)), 0);
		assert_string_equal(f->out.chains[0].tls->match_sans[0], SPIFFE_A);
		assert_string_equal(f->out.chains[0].rbac->policies[0].principals[0].principal_name,
				    SPIFFE_A);
		xds_decoder_free(&d, l);
	}
	/* Asked for as a Cluster, a Listener is refused by its type URL. */
	Cluster *c = NULL;
	assert_int_equal(xds_decode_any(&d, got->resources[0],
					&envoy__config__cluster__v3__cluster__descriptor,
					(ProtobufCMessage **)&c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "type URL \"" XDS_TYPE_LISTENER "\" is not "
				 "envoy.config.cluster.v3.Cluster");
	xds_decoder_free(&d, got);
	assert_int_equal(d.used, 0); /* every block given back */
	assert_null(xds_resource_descriptor(TYPE("envoy.config.listener.v3.ListenerX")));
}

/* The wire form of a FilterChainMatch with destination_port, a field the
 * subset leaves out, arrives as an unknown field and is refused. */
static void test_decode_unknown_field_refused(void **state)
{
	struct lfx *f = *state;
	/* FilterChainMatch { destination_port (8): UInt32Value { value: 80 } } */
	static const uint8_t match[] = {0x42, 0x02, 0x08, 0x50};
	struct xds_decoder d;
	char err[256];
	FilterChainMatch *m = NULL;
	xds_decoder_init(&d, 0);
	assert_int_equal(
	    xds_decode(&d, &envoy__config__listener__v3__filter_chain_match__descriptor, match,
		       sizeof(match), (ProtobufCMessage **)&m, err, sizeof(err)),
	    0);
	f->chain[1].filter_chain_match = m;
	lfx_fails(f, L "filter_chains[1].filter_chain_match: field 8 is not supported by skiff "
		       "(supported: transport_protocol)");
	xds_decoder_free(&d, m);
}

static void test_decode_bounds(void **state)
{
	(void)state;
	struct xds_decoder d;
	char err[256];
	ProtobufCMessage *m = NULL;
	const ProtobufCMessageDescriptor *resp =
	    &envoy__service__discovery__v3__discovery_response__descriptor;

	xds_decoder_init(&d, 1000);
	static uint8_t big[1001];
	assert_int_equal(xds_decode(&d, resp, big, sizeof(big), &m, err, sizeof(err)), -EMSGSIZE);
	assert_string_equal(err, "DiscoveryResponse: message too large: 1001 bytes (at most 1000)");

	/* 450 empty resources: 900 bytes on the wire, far more decoded. */
	static uint8_t empties[900];
	for (size_t i = 0; i < sizeof(empties); i += 2) {
		empties[i] = 0x12; /* field 2, length-delimited */
		empties[i + 1] = 0;
	}
	assert_int_equal(xds_decode(&d, resp, empties, sizeof(empties), &m, err, sizeof(err)),
			 -EMSGSIZE);
	assert_string_equal(err,
			    "DiscoveryResponse: message too large: decoding it takes more than "
			    "16000 bytes");
	assert_int_equal(d.used, 0);
	assert_int_equal(xds_decode(&d, resp, empties, 100, &m, err, sizeof(err)), 0);
	assert_int_equal(((DiscoveryResponse *)m)->n_resources, 50);
	xds_decoder_free(&d, m);

	static const uint8_t garbage[] = {0x12, 0x05, 0x01};
	assert_int_equal(xds_decode(&d, resp, garbage, sizeof(garbage), &m, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "DiscoveryResponse: not a valid protobuf message");
	assert_int_equal(d.used, 0);
}

static void test_resource_name(void **state)
{
	(void)state;
	Secret s;
	char *name = NULL, err[256];
	envoy__extensions__transport_sockets__tls__v3__secret__init(&s);
	assert_int_equal(xds_resource_name(&s.base, &name, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Secret: name: must not be empty");
	s.name = (ProtobufCBinaryData){3, (uint8_t *)"a\xc0\x80"};
	assert_int_equal(xds_resource_name(&s.base, &name, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Secret \"a??\": name: must be UTF-8 without a NUL character");
	ClusterLoadAssignment cla;
	envoy__config__endpoint__v3__cluster_load_assignment__init(&cla);
	cla.cluster_name = B("b");
	assert_int_equal(xds_resource_name(&cla.base, &name, err, sizeof(err)), 0);
	assert_string_equal(name, "b");
	free(name);
	Google__Protobuf__Duration dur;
	google__protobuf__duration__init(&dur);
	assert_int_equal(xds_resource_name(&dur.base, &name, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Duration: not an xDS resource");
}

static void test_text_valid(void **state)
{
	(void)state;
	assert_true(xds_text_valid((const uint8_t *)"", 0));
	assert_true(xds_text_valid((const uint8_t *)"ascii", 5));
	assert_true(xds_text_valid((const uint8_t *)"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
	assert_false(xds_text_valid((const uint8_t *)"a\0b", 3));
	assert_false(xds_text_valid((const uint8_t *)"\xc0\x80", 2));         /* overlong NUL */
	assert_false(xds_text_valid((const uint8_t *)"\xe0\x80\xaf", 3));     /* overlong */
	assert_false(xds_text_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
	assert_false(xds_text_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(xds_text_valid((const uint8_t *)"\xe2\x82", 2));         /* cut short */
	assert_false(xds_text_valid((const uint8_t *)"\x80", 1));
}

/* ---- fuzz corpus seeds ----------------------------------------------- */

static void write_seed(const char *dir, const char *name, const ProtobufCMessage *m)
{
	char path[512];
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = keep(malloc(len ? len : 1));
	protobuf_c_message_pack(m, buf);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_response(const char *dir, const char *name, const char *type_url, Any *res)
{
	DiscoveryResponse r;
	envoy__service__discovery__v3__discovery_response__init(&r);
	r.version_info = "1";
	r.type_url = (char *)type_url;
	r.nonce = "a";
	r.n_resources = 1;
	r.resources = &res;
	write_seed(dir, name, &r.base);
}

/* With XDS_FUZZ_CORPUS=<dir>, writes the seeds of
 * test/fuzz/corpus/xds_translate/: each fixture of this file as a packed
 * DiscoveryResponse, and one DeltaDiscoveryResponse. */
static void test_write_corpus(void **state)
{
	const char *dir = getenv("XDS_FUZZ_CORPUS");
	if (!dir)
		skip();
	struct lfx *lf;
	struct cfx *cf;

	lfx_setup(state);
	lf = *state;
	assert_int_equal(lfx_translate(lf), 0);
	write_response(dir, "lds_permissive", XDS_TYPE_LISTENER, any_of(XDS_TYPE_LISTENER, &lf->l));
	tlsfx_use_sds(&lf->tls);
	assert_int_equal(lfx_translate(lf), 0);
	write_response(dir, "lds_sds", XDS_TYPE_LISTENER, any_of(XDS_TYPE_LISTENER, &lf->l));

	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse delta;
	Envoy__Service__Discovery__V3__Resource res, *resp[1] = {&res};
	ProtobufCBinaryData removed = B("old");
	envoy__service__discovery__v3__delta_discovery_response__init(&delta);
	envoy__service__discovery__v3__resource__init(&res);
	res.name = B("virtualInbound");
	res.version = "2";
	res.resource = any_of(XDS_TYPE_LISTENER, &lf->l);
	delta.type_url = XDS_TYPE_LISTENER;
	delta.nonce = "b";
	delta.n_resources = 1;
	delta.resources = resp;
	delta.n_removed_resources = 1;
	delta.removed_resources = &removed;
	write_seed(dir, "delta_lds", &delta.base);
	lfx_teardown(state);

	cfx_setup(state);
	cf = *state;
	cf->c.transport_socket = &cf->ts;
	assert_int_equal(cfx_translate(cf), 0);
	write_response(dir, "cds_static_tls", XDS_TYPE_CLUSTER, any_of(XDS_TYPE_CLUSTER, &cf->c));
	struct httpfx h;
	httpfx_apply(&h, &cf->c);
	httpfx_pack(&h);
	assert_int_equal(cfx_translate(cf), 0);
	write_response(dir, "cds_http", XDS_TYPE_CLUSTER, any_of(XDS_TYPE_CLUSTER, &cf->c));
	cf->c.circuit_breakers = NULL;
	cf->c.outlier_detection = NULL;
	cf->c.n_health_checks = 0;
	cf->c.n_typed_extension_protocol_options = 0;
	cf->c.lb_config_case = 0;
	cf->c.lb_policy = 0;
	write_response(dir, "eds", XDS_TYPE_ENDPOINTS, any_of(XDS_TYPE_ENDPOINTS, &cf->cla));
	use_eds(cf);
	cf->ts.typed_config = NULL;
	tlsfx_use_sds(&cf->tls);
	assert_int_equal(cfx_translate(cf), 0);
	write_response(dir, "cds_eds_sds", XDS_TYPE_CLUSTER, any_of(XDS_TYPE_CLUSTER, &cf->c));
	use_original_dst(cf);
	cf->c.transport_socket = NULL;
	assert_int_equal(cfx_translate(cf), 0);
	write_response(dir, "cds_original_dst", XDS_TYPE_CLUSTER, any_of(XDS_TYPE_CLUSTER, &cf->c));

	Secret sec;
	TlsCertificate cert;
	DataSource chain, key;
	envoy__extensions__transport_sockets__tls__v3__secret__init(&sec);
	envoy__extensions__transport_sockets__tls__v3__tls_certificate__init(&cert);
	file(&chain, "/etc/certs/cert.pem");
	envoy__config__core__v3__data_source__init(&key);
	key.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES;
	key.inline_bytes = B("-----BEGIN PRIVATE KEY-----\n");
	cert.certificate_chain = &chain;
	cert.private_key = &key;
	sec.name = B("default");
	sec.type_case = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE;
	sec.tls_certificate = &cert;
	write_response(dir, "sds_cert", XDS_TYPE_SECRET, any_of(XDS_TYPE_SECRET, &sec));
	sec.name = B("ROOTCA");
	sec.type_case =
	    ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT;
	sec.validation_context = &cf->tls.vc;
	cf->tls.vc.n_match_typed_subject_alt_names = 0;
	cf->tls.vc.trusted_ca = &cf->tls.ca;
	write_response(dir, "sds_ca", XDS_TYPE_SECRET, any_of(XDS_TYPE_SECRET, &sec));

	cfx_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_listener_permissive, lfx_setup, lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_listener_sds_refs, lfx_setup, lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_listener_minimal, lfx_setup, lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_listener_filter_by_type_url, lfx_setup,
					    lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_listener_errors, lfx_setup, lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_listener_filter_typed_configs, lfx_setup,
					    lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_listener_transport_socket, lfx_setup,
					    lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_listener_tls_errors, lfx_setup, lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_static_tls, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_original_dst, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_eds, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_errors, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_endpoints, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_http, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_weights, cfx_setup, cfx_teardown),
	    cmocka_unit_test(test_cluster_http_errors),
	    cmocka_unit_test_teardown(test_secret, free_kept),
	    cmocka_unit_test_setup_teardown(test_decode_response, lfx_setup, lfx_teardown),
	    cmocka_unit_test_setup_teardown(test_decode_unknown_field_refused, lfx_setup,
					    lfx_teardown),
	    cmocka_unit_test(test_decode_bounds),
	    cmocka_unit_test(test_resource_name),
	    cmocka_unit_test(test_text_valid),
	    cmocka_unit_test(test_write_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
