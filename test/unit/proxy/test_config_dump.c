/* proxy/config_dump.c: the /config_dump JSON of a snapshot. The JSON is
 * checked with a small strict validator (no JSON library in the tests
 * either), then for the members a reader relies on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/bootstrap.h"
#include "proxy/config_dump.h"
#include "proxy/snapshot.h"

/* ---- a strict RFC 8259 validator, just enough for these tests ---------- */

static bool json_value(const char **p, int depth);

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
		(*p)++;
}

static bool json_string(const char **p)
{
	if (*(*p)++ != '"')
		return false;
	for (;;) {
		unsigned char ch = (unsigned char)*(*p)++;
		if (ch == '"')
			return true;
		if (ch < 0x20)
			return false; /* raw control characters, the NUL included */
		if (ch == '\\') {
			ch = (unsigned char)*(*p)++;
			if (ch == 'u') {
				for (int i = 0; i < 4; i++)
					if (!strchr("0123456789abcdefABCDEF", *(*p)++) || !(*p)[-1])
						return false;
			} else if (!ch || !strchr("\"\\/bfnrt", ch)) {
				return false;
			}
		}
	}
}

static bool json_container(const char **p, char close, int depth)
{
	(*p)++;
	skip_ws(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		skip_ws(p);
		if (close == '}') {
			if (!json_string(p))
				return false;
			skip_ws(p);
			if (*(*p)++ != ':')
				return false;
		}
		if (!json_value(p, depth + 1))
			return false;
		skip_ws(p);
		char ch = *(*p)++;
		if (ch == close)
			return true;
		if (ch != ',')
			return false;
	}
}

static bool json_value(const char **p, int depth)
{
	if (depth > 64)
		return false;
	skip_ws(p);
	switch (**p) {
	case '{': return json_container(p, '}', depth);
	case '[': return json_container(p, ']', depth);
	case '"': return json_string(p);
	case 't': return strncmp(*p, "true", 4) == 0 && (*p += 4);
	case 'f': return strncmp(*p, "false", 5) == 0 && (*p += 5);
	case 'n': return strncmp(*p, "null", 4) == 0 && (*p += 4);
	default:
		if (**p < '0' || **p > '9')
			return false;
		while (**p >= '0' && **p <= '9')
			(*p)++;
		return true;
	}
}

static bool json_valid(const char *s)
{
	if (!json_value(&s, 0))
		return false;
	skip_ws(&s);
	return *s == '\0';
}

static void test_validator(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\":[1,true,null,\"x\\u00e9\\n\"],\"b\":{}}"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("{\"a\" 1}"));
	assert_false(json_valid("[1"));
	assert_false(json_valid("\"a\nb\""));
	assert_false(json_valid("\"\\x\""));
	assert_false(json_valid("{} {}"));
}

/* ---- dumps ------------------------------------------------------------- */

static struct snapshot *load(const char *yaml)
{
	struct snapshot *snap = NULL;
	char err[256] = "";
	int rc = bootstrap_load_string("t.yaml", yaml, strlen(yaml), &snap, err, sizeof(err));
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	return snap;
}

static void assert_has(const char *json, const char *want)
{
	if (!strstr(json, want))
		print_error("missing %s in\n%s\n", want, json);
	assert_non_null(strstr(json, want));
}

static void test_embedded_default(void **state)
{
	(void)state;
	struct snapshot *snap = load(bootstrap_default_yaml);
	snap->version = 7;
	size_t len = 0;
	char *json = config_dump_json(snap, &len);
	assert_non_null(json);
	assert_int_equal(len, strlen(json));
	assert_true(json_valid(json));
	static const char head[] =
		"{\"configs\":[{\"@type\":\"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump\"";
	assert_memory_equal(json, head, strlen(head));
	assert_has(json, "\"bootstrap\":{\"node\":{\"id\":\"sidecar~127.0.0.1~skiff~default.svc.cluster.local\",\"cluster\":\"skiff\"}");
	assert_has(json, "\"admin\":{\"address\":{\"socket_address\":{\"address\":\"127.0.0.1\",\"port_value\":15000}}}");
	assert_has(json, "{\"@type\":\"type.googleapis.com/envoy.admin.v3.ListenersConfigDump\",\"static_listeners\":[");
	assert_has(json, "{\"listener\":{\"@type\":\"type.googleapis.com/envoy.config.listener.v3.Listener\","
			 "\"name\":\"virtualOutbound\",\"address\":{\"socket_address\":{\"address\":\"0.0.0.0\","
			 "\"port_value\":15001}},\"use_original_dst\":true,\"traffic_direction\":\"OUTBOUND\"");
	assert_has(json, "\"traffic_direction\":\"INBOUND\"");
	assert_has(json, "\"filters\":[{\"name\":\"envoy.filters.network.tcp_proxy\",\"typed_config\":{"
			 "\"@type\":\"type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\","
			 "\"stat_prefix\":\"PassthroughCluster\",\"cluster\":\"PassthroughCluster\",\"idle_timeout\":\"3600s\"");
	assert_has(json, "\"access_log\":[{\"name\":\"envoy.access_loggers.file\",\"typed_config\":{\"@type\":"
			 "\"type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\",\"path\":\"/dev/stdout\"}}]");
	assert_has(json, "{\"@type\":\"type.googleapis.com/envoy.admin.v3.ClustersConfigDump\",\"static_clusters\":[");
	assert_has(json, "{\"cluster\":{\"@type\":\"type.googleapis.com/envoy.config.cluster.v3.Cluster\","
			 "\"name\":\"PassthroughCluster\",\"type\":\"ORIGINAL_DST\",\"connect_timeout\":\"10s\","
			 "\"lb_policy\":\"CLUSTER_PROVIDED\"}}");
	assert_has(json, "\"upstream_bind_config\":{\"source_address\":{\"address\":\"127.0.0.6\",\"port_value\":0}}");
	assert_null(strstr(json, "dynamic_resources"));
	assert_null(strstr(json, "listener_filters"));
	assert_null(strstr(json, "transport_socket"));
	assert_null(strstr(json, "filter_chain_match"));
	assert_has(json, "],\"version\":7,\"source\":\"t.yaml\"}\n");
	free(json);
	snapshot_unref(snap);
}

static void test_static_and_ads(void **state)
{
	(void)state;
	struct snapshot *snap = load(
		"static_resources:\n"
		"  clusters:\n"
		"  - name: xds\n"
		"    connect_timeout: 0.25s\n"
		"    load_assignment:\n"
		"      cluster_name: xds\n"
		"      endpoints:\n"
		"      - lb_endpoints:\n"
		"        - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 15010}}}\n"
		"      - lb_endpoints:\n"
		"        - endpoint: {address: {socket_address: {address: \"fd00::1\", port_value: 15010}}}\n"
		"dynamic_resources:\n"
		"  ads_config: {api_type: GRPC, grpc_services: [{envoy_grpc: {cluster_name: xds}}]}\n");
	char *json = config_dump_json(snap, NULL);
	assert_non_null(json);
	assert_true(json_valid(json));
	assert_has(json, "\"node\":{\"id\":\"\",\"cluster\":\"\"}"); /* absent, written empty */
	assert_has(json, "\"dynamic_resources\":{\"ads_config\":{\"api_type\":\"GRPC\",\"transport_api_version\":\"V3\","
			 "\"grpc_services\":[{\"envoy_grpc\":{\"cluster_name\":\"xds\"}}]}}");
	assert_has(json, "\"static_listeners\":[]");
	assert_has(json, "\"name\":\"xds\",\"type\":\"STATIC\",\"connect_timeout\":\"0.250s\",\"lb_policy\":\"ROUND_ROBIN\","
			 "\"load_assignment\":{\"cluster_name\":\"xds\",\"endpoints\":[{\"lb_endpoints\":["
			 "{\"endpoint\":{\"address\":{\"socket_address\":{\"address\":\"10.0.0.1\",\"port_value\":15010}}}},"
			 "{\"endpoint\":{\"address\":{\"socket_address\":{\"address\":\"fd00::1\",\"port_value\":15010}}}}]}]}");
	free(json);
	snapshot_unref(snap);
}

/* Chains, their TLS, RBAC and the cluster's UpstreamTlsContext, in Envoy's
 * JSON shape. */
static void test_tls_and_rbac(void **state)
{
	(void)state;
	struct snapshot *snap = load(
		"static_resources:\n"
		"  listeners:\n"
		"  - name: in\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 15006}}\n"
		"    listener_filters: [{name: envoy.filters.listener.tls_inspector}]\n"
		"    filter_chains:\n"
		"    - name: mtls\n"
		"      filter_chain_match: {transport_protocol: tls}\n"
		"      transport_socket:\n"
		"        name: envoy.transport_sockets.tls\n"
		"        typed_config:\n"
		"          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n"
		"          require_client_certificate: true\n"
		"          common_tls_context:\n"
		"            alpn_protocols: [h2, \"http/1.1\"]\n"
		"            tls_certificates: [{certificate_chain: {filename: /etc/certs/cert.pem}, private_key: {filename: /etc/certs/key.pem}}]\n"
		"            validation_context:\n"
		"              trusted_ca: {filename: /etc/certs/ca.pem}\n"
		"              match_typed_subject_alt_names:\n"
		"              - {san_type: URI, matcher: {exact: \"spiffe://cluster.local/ns/a/sa/b\"}}\n"
		"      filters:\n"
		"      - name: envoy.filters.network.rbac\n"
		"        typed_config:\n"
		"          \"@type\": type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC\n"
		"          stat_prefix: inbound_rbac\n"
		"          rules:\n"
		"            action: DENY\n"
		"            policies:\n"
		"              \"no \\\"web\\\"\":\n"
		"                permissions: [{any: true}, {destination_port: 8080}]\n"
		"                principals: [{authenticated: {principal_name: {exact: \"spiffe://cluster.local/ns/a/sa/web\"}}}, {any: true}]\n"
		"      - name: envoy.filters.network.tcp_proxy\n"
		"        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: s, cluster: up}\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.rbac\n"
		"        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC, stat_prefix: r, rules: {}}\n"
		"      - name: envoy.filters.network.tcp_proxy\n"
		"        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: p, cluster: up}\n"
		"  clusters:\n"
		"  - name: up\n"
		"    type: ORIGINAL_DST\n"
		"    transport_socket:\n"
		"      name: envoy.transport_sockets.tls\n"
		"      typed_config:\n"
		"        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
		"        sni: web.default.svc.cluster.local\n"
		"        common_tls_context:\n"
		"          tls_params: {tls_minimum_protocol_version: TLSv1_2}\n"
		"          tls_certificates: [{certificate_chain: {filename: /c.pem}, private_key: {filename: /k.pem}}]\n"
		"          validation_context: {trusted_ca: {filename: /ca.pem}}\n");
	char *json = config_dump_json(snap, NULL);
	assert_non_null(json);
	assert_true(json_valid(json));
	assert_has(json, "\"traffic_direction\":\"UNSPECIFIED\",\"listener_filters\":[{\"name\":"
			 "\"envoy.filters.listener.tls_inspector\",\"typed_config\":{\"@type\":\"type.googleapis.com/"
			 "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector\"}}],\"filter_chains\":["
			 "{\"filter_chain_match\":{\"transport_protocol\":\"tls\"},\"filters\":[{\"name\":"
			 "\"envoy.filters.network.rbac\",\"typed_config\":{\"@type\":\"type.googleapis.com/"
			 "envoy.extensions.filters.network.rbac.v3.RBAC\",\"rules\":{\"action\":\"DENY\",\"policies\":"
			 "{\"no \\\"web\\\"\":{\"permissions\":[{\"any\":true},{\"destination_port\":8080}],"
			 "\"principals\":[{\"authenticated\":{\"principal_name\":{\"exact\":"
			 "\"spiffe://cluster.local/ns/a/sa/web\"}}},{\"any\":true}]}}},\"stat_prefix\":\"inbound_rbac\"}},"
			 "{\"name\":\"envoy.filters.network.tcp_proxy\"");
	assert_has(json, "\"cluster\":\"up\",\"idle_timeout\":\"3600s\"}}],\"transport_socket\":{\"name\":"
			 "\"envoy.transport_sockets.tls\",\"typed_config\":{\"@type\":\"type.googleapis.com/"
			 "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\",\"common_tls_context\":{"
			 "\"tls_params\":{\"tls_minimum_protocol_version\":\"TLSv1_3\"},\"tls_certificates\":[{"
			 "\"certificate_chain\":{\"filename\":\"/etc/certs/cert.pem\"},\"private_key\":{\"filename\":"
			 "\"/etc/certs/key.pem\"}}],\"validation_context\":{\"trusted_ca\":{\"filename\":"
			 "\"/etc/certs/ca.pem\"},\"match_typed_subject_alt_names\":[{\"san_type\":\"URI\",\"matcher\":"
			 "{\"exact\":\"spiffe://cluster.local/ns/a/sa/b\"}}]},\"alpn_protocols\":[\"h2\",\"http/1.1\"]},"
			 "\"require_client_certificate\":true}},\"name\":\"mtls\"},");
	/* the plaintext chain: no match, no transport socket, no name; an
	 * empty policies map is left out */
	assert_has(json, "},{\"filters\":[{\"name\":\"envoy.filters.network.rbac\",\"typed_config\":{\"@type\":"
			 "\"type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC\",\"rules\":{\"action\":"
			 "\"ALLOW\"},\"stat_prefix\":\"r\"}},{\"name\":\"envoy.filters.network.tcp_proxy\"");
	assert_has(json, "\"stat_prefix\":\"p\",\"cluster\":\"up\",\"idle_timeout\":\"3600s\"}}]}]}}]}");
	assert_has(json, "\"lb_policy\":\"CLUSTER_PROVIDED\",\"transport_socket\":{\"name\":\"envoy.transport_sockets.tls\","
			 "\"typed_config\":{\"@type\":\"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
			 "UpstreamTlsContext\",\"common_tls_context\":{\"tls_params\":{\"tls_minimum_protocol_version\":"
			 "\"TLSv1_2\"},\"tls_certificates\":[{\"certificate_chain\":{\"filename\":\"/c.pem\"},"
			 "\"private_key\":{\"filename\":\"/k.pem\"}}],\"validation_context\":{\"trusted_ca\":{"
			 "\"filename\":\"/ca.pem\"}}},\"sni\":\"web.default.svc.cluster.local\"}}}}");
	free(json);
	snapshot_unref(snap);
}

#define T "type.googleapis.com/"

/* An HTTP listener: the connection manager with its inline route
 * configuration, the routes again under RoutesConfigDump (static), an RDS
 * one (dynamic, with its version), and the clusters' HTTP settings. */
static void test_http(void **state)
{
	(void)state;
	struct snapshot *snap = load(
		"static_resources:\n"
		"  listeners:\n"
		"  - name: web\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 8080}}\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.http_connection_manager\n"
		"        typed_config:\n"
		"          \"@type\": " T "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
		"          stat_prefix: in\n"
		"          http_filters: [{name: envoy.filters.http.router}]\n"
		"          route_config:\n"
		"            name: local\n"
		"            response_headers_to_remove: [server]\n"
		"            virtual_hosts:\n"
		"            - name: api\n"
		"              domains: [api.example.com]\n"
		"              routes:\n"
		"              - match: {safe_regex: {regex: \"/v[0-9]\"}, headers: [{name: x-env, string_match: {exact: prod, ignore_case: true}}, {name: x-p}]}\n"
		"                route:\n"
		"                  weighted_clusters: {clusters: [{name: a, weight: 3}, {name: b, weight: 1}]}\n"
		"                  retry_policy: {retry_on: \"5xx,reset\", num_retries: 2, retriable_status_codes: [503], retry_back_off: {base_interval: 0.05s}, retry_host_predicate: [{name: envoy.retry_host_predicates.previous_hosts}], host_selection_retry_max_attempts: 3}\n"
		"                  hash_policy: [{header: {header_name: x-user}}, {connection_properties: {source_ip: true}}, {query_parameter: {name: q}, terminal: true}, {cookie: {name: sid, ttl: 60s, path: /}}]\n"
		"                request_headers_to_add: [{header: {key: x-a, value: \"1\"}, append: false}]\n"
		"              - match: {path: /old, case_sensitive: false}\n"
		"                redirect: {path_redirect: /new, response_code: FOUND}\n"
		"              - match: {prefix: /ok}\n"
		"                direct_response: {status: 200, body: {inline_string: \"fine\\n\"}}\n"
		"              - match: {connect_matcher: {}}\n"
		"                route: {cluster: b}\n"
		"  - name: rds\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 8081}}\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.http_connection_manager\n"
		"        typed_config:\n"
		"          \"@type\": " T "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
		"          stat_prefix: r\n"
		"          codec_type: HTTP1\n"
		"          http_filters: [{name: envoy.filters.http.router}]\n"
		"          rds: {route_config_name: r81, config_source: {ads: {}}}\n"
		"          upgrade_configs: [{upgrade_type: websocket}, {upgrade_type: CONNECT}]\n"
		"  clusters:\n"
		"  - name: a\n"
		"    lb_policy: MAGLEV\n"
		"    circuit_breakers: {thresholds: [{max_requests: 5}]}\n"
		"    outlier_detection: {consecutive_5xx: 2}\n"
		"    health_checks: [{timeout: 1s, interval: 2s, unhealthy_threshold: 3, healthy_threshold: 1, http_health_check: {path: /h}}]\n"
		"    http2_protocol_options: {}\n"
		"    load_assignment: {cluster_name: a, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}, load_balancing_weight: 2}]}]}\n"
		"  - name: b\n"
		"    load_assignment: {cluster_name: b, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.0.0.2, port_value: 80}}}}]}]}\n"
		"dynamic_resources:\n"
		"  ads_config: {api_type: GRPC, grpc_services: [{envoy_grpc: {cluster_name: b}}]}\n");
	struct route_config rc = { .name = strdup("r81"), .version = strdup("v3") };
	assert_int_equal(snapshot_add_route_config(snap, &rc), 0);
	char *json = config_dump_json(snap, NULL);
	assert_non_null(json);
	if (!json_valid(json))
		fputs(json, stderr);
	assert_true(json_valid(json));
	assert_has(json, "\"filter_chains\":[{\"filters\":[{\"name\":\"envoy.filters.network.http_connection_manager\","
			 "\"typed_config\":{\"@type\":\"" T "envoy.extensions.filters.network.http_connection_manager.v3."
			 "HttpConnectionManager\",\"codec_type\":\"AUTO\",\"stat_prefix\":\"in\",\"route_config\":{"
			 "\"@type\":\"" T "envoy.config.route.v3.RouteConfiguration\",\"name\":\"local\","
			 "\"virtual_hosts\":[{\"name\":\"api\",\"domains\":[\"api.example.com\"],\"routes\":["
			 "{\"match\":{\"safe_regex\":{\"regex\":\"/v[0-9]\"},\"headers\":[{\"name\":\"x-env\","
			 "\"string_match\":{\"exact\":\"prod\",\"ignore_case\":true}},{\"name\":\"x-p\",\"present_match\":true}]},"
			 "\"route\":{\"weighted_clusters\":{\"clusters\":[{\"name\":\"a\",\"weight\":3},{\"name\":\"b\",\"weight\":1}]},"
			 "\"timeout\":\"15s\",\"retry_policy\":{\"retry_on\":\"5xx,reset\",\"num_retries\":2,"
			 "\"retry_back_off\":{\"base_interval\":\"0.050s\"},"
			 "\"retry_host_predicate\":[{\"name\":\"envoy.retry_host_predicates.previous_hosts\"}],"
			 "\"host_selection_retry_max_attempts\":\"3\","
			 "\"retriable_status_codes\":[503]},\"hash_policy\":[{\"header\":{\"header_name\":\"x-user\"}},"
			 "{\"connection_properties\":{\"source_ip\":true}},{\"query_parameter\":{\"name\":\"q\"},\"terminal\":true},"
			 "{\"cookie\":{\"name\":\"sid\",\"ttl\":\"60s\",\"path\":\"/\"}}]},"
			 "\"request_headers_to_add\":[{\"header\":{\"key\":\"x-a\",\"value\":\"1\"},"
			 "\"append_action\":\"OVERWRITE_IF_EXISTS_OR_ADD\"}]},"
			 "{\"match\":{\"path\":\"/old\",\"case_sensitive\":false},\"redirect\":{\"response_code\":\"FOUND\","
			 "\"path_redirect\":\"/new\"}},"
			 "{\"match\":{\"prefix\":\"/ok\"},\"direct_response\":{\"status\":200,\"body\":{\"inline_string\":\"fine\\n\"}}},"
			 "{\"match\":{\"connect_matcher\":{}},\"route\":{\"cluster\":\"b\",\"timeout\":\"15s\"}}]}],"
			 "\"response_headers_to_remove\":[\"server\"]},"
			 "\"http_filters\":[{\"name\":\"envoy.filters.http.router\",\"typed_config\":{\"@type\":\"" T
			 "envoy.extensions.filters.http.router.v3.Router\"}}],"
			 "\"http2_protocol_options\":{\"max_concurrent_streams\":100,\"initial_stream_window_size\":1048576,"
			 "\"initial_connection_window_size\":4194304},\"common_http_protocol_options\":{\"max_headers_count\":100,"
			 "\"idle_timeout\":\"3600s\"},\"max_request_headers_kb\":60,\"stream_idle_timeout\":\"300s\","
			 "\"request_timeout\":\"0s\",\"drain_timeout\":\"5s\",\"generate_request_id\":true}}]}]");
	assert_has(json, "\"drain_timeout\":\"5s\",\"generate_request_id\":true,\"upgrade_configs\":["
			 "{\"upgrade_type\":\"websocket\"},{\"upgrade_type\":\"CONNECT\"}]}}");
	assert_has(json, "\"codec_type\":\"HTTP1\",\"stat_prefix\":\"r\",\"rds\":{\"config_source\":{\"ads\":{},"
			 "\"resource_api_version\":\"V3\"},\"route_config_name\":\"r81\"}");
	assert_has(json, "\"name\":\"a\",\"type\":\"STATIC\",\"connect_timeout\":\"5s\",\"lb_policy\":\"MAGLEV\","
			 "\"load_assignment\":{\"cluster_name\":\"a\",\"endpoints\":[{\"lb_endpoints\":[{\"endpoint\":{"
			 "\"address\":{\"socket_address\":{\"address\":\"10.0.0.1\",\"port_value\":80}}},"
			 "\"load_balancing_weight\":2}]}]},"
			 "\"health_checks\":[{\"timeout\":\"1s\",\"interval\":\"2s\",\"unhealthy_threshold\":3,"
			 "\"healthy_threshold\":1,\"http_health_check\":{\"path\":\"/h\"}}],"
			 "\"circuit_breakers\":{\"thresholds\":[{\"priority\":\"DEFAULT\",\"max_connections\":1024,"
			 "\"max_pending_requests\":1024,\"max_requests\":5,\"max_retries\":3}]},"
			 "\"outlier_detection\":{\"consecutive_5xx\":2,\"consecutive_gateway_failure\":5,\"interval\":\"10s\","
			 "\"base_ejection_time\":\"30s\",\"max_ejection_time\":\"300s\",\"max_ejection_percent\":10},"
			 "\"typed_extension_protocol_options\":{\"envoy.extensions.upstreams.http.v3.HttpProtocolOptions\":{"
			 "\"@type\":\"" T "envoy.extensions.upstreams.http.v3.HttpProtocolOptions\",\"explicit_http_config\":{"
			 "\"http2_protocol_options\":{\"max_concurrent_streams\":100,\"initial_stream_window_size\":1048576,"
			 "\"initial_connection_window_size\":4194304}},\"common_http_protocol_options\":{\"idle_timeout\":\"3600s\"}}},"
			 "\"maglev_lb_config\":{\"table_size\":65537}}");
	/* a plain cluster keeps its plain shape */
	assert_has(json, "\"name\":\"b\",\"type\":\"STATIC\",\"connect_timeout\":\"5s\",\"lb_policy\":\"ROUND_ROBIN\","
			 "\"load_assignment\":{\"cluster_name\":\"b\",\"endpoints\":[{\"lb_endpoints\":[{\"endpoint\":{"
			 "\"address\":{\"socket_address\":{\"address\":\"10.0.0.2\",\"port_value\":80}}}}]}]}}");
	assert_has(json, ",{\"@type\":\"" T "envoy.admin.v3.RoutesConfigDump\",\"static_route_configs\":[{\"route_config\":{"
			 "\"@type\":\"" T "envoy.config.route.v3.RouteConfiguration\",\"name\":\"local\",");
	assert_has(json, "\"dynamic_route_configs\":[{\"version_info\":\"v3\",\"route_config\":{\"@type\":\"" T
			 "envoy.config.route.v3.RouteConfiguration\",\"name\":\"r81\",\"virtual_hosts\":[]}}]}],\"version\":");
	free(json);

	/* From the xDS client: when the route configuration was applied, and
	 * the workloads of the node shape. A time the client holds for another
	 * version than the snapshot's is not shown against it. */
	struct config_dump_resource rds = { "r81", "v3", 1764936000123 };
	struct config_dump_resource wds[] = { { "Kubernetes//Pod/ns/a", "7", 1764936001000 },
					      { "Kubernetes//Pod/ns/b", "7", 1764936002000 } };
	struct config_dump_dynamic dyn = { .routes = &rds, .n_routes = 1, .workloads = wds,
					   .n_workloads = 2, .has_workloads = true };
	json = config_dump_json_dynamic(snap, &dyn, NULL);
	assert_non_null(json);
	assert_true(json_valid(json));
	assert_has(json, "\"dynamic_route_configs\":[{\"version_info\":\"v3\",\"last_updated\":"
			 "\"2025-12-05T12:00:00.123Z\",\"route_config\":{");
	assert_has(json, ",{\"@type\":\"" T "skiff.admin.v1.WorkloadsConfigDump\",\"dynamic_workloads\":["
			 "{\"version_info\":\"7\",\"last_updated\":\"2025-12-05T12:00:01.000Z\",\"workload\":"
			 "{\"@type\":\"" T "istio.workload.Address\",\"name\":\"Kubernetes//Pod/ns/a\"}},"
			 "{\"version_info\":\"7\",\"last_updated\":\"2025-12-05T12:00:02.000Z\",\"workload\":"
			 "{\"@type\":\"" T "istio.workload.Address\",\"name\":\"Kubernetes//Pod/ns/b\"}}]}");
	free(json);
	rds.version = "v4";
	dyn.has_workloads = false;
	json = config_dump_json_dynamic(snap, &dyn, NULL);
	assert_non_null(json);
	assert_has(json, "\"dynamic_route_configs\":[{\"version_info\":\"v3\",\"route_config\":{");
	assert_null(strstr(json, "WorkloadsConfigDump"));
	free(json);
	snapshot_unref(snap);
}

/* A TCP health check, its payloads as Envoy's JSON writes them (hex text),
 * whichever form they were given in. */
static void test_tcp_health_check(void **state)
{
	(void)state;
	struct snapshot *snap = load(
		"static_resources:\n"
		"  clusters:\n"
		"  - name: db\n"
		"    load_assignment: {cluster_name: db, endpoints: [{lb_endpoints: [{endpoint: {address: "
		"{socket_address: {address: 10.0.0.1, port_value: 5432}}}}]}]}\n"
		"    health_checks: [{timeout: 1s, interval: 2s, unhealthy_threshold: 1, healthy_threshold: 1,\n"
		"                     tcp_health_check: {send: {text: 50494e47}, receive: [{binary: UE8=}, {text: 4E47}]}}]\n"
		"  - name: plain\n"
		"    load_assignment: {cluster_name: plain, endpoints: [{lb_endpoints: [{endpoint: {address: "
		"{socket_address: {address: 10.0.0.2, port_value: 80}}}}]}]}\n"
		"    health_checks: [{timeout: 1s, interval: 2s, unhealthy_threshold: 1, healthy_threshold: 1,\n"
		"                     tcp_health_check: {}}]\n");
	char *json = config_dump_json(snap, NULL);
	assert_non_null(json);
	assert_true(json_valid(json));
	assert_has(json, "\"healthy_threshold\":1,\"tcp_health_check\":{\"send\":{\"text\":\"50494E47\"},"
			 "\"receive\":[{\"text\":\"504F\"},{\"text\":\"4E47\"}]}}]");
	assert_has(json, "\"healthy_threshold\":1,\"tcp_health_check\":{}}]");
	free(json);
	snapshot_unref(snap);
}

/* Names come from users: quotes, backslashes and control characters must
 * not break out of their JSON strings. */
static void test_escaping(void **state)
{
	(void)state;
	struct snapshot *snap = load(
		"node: {id: \"a\\\"b\\\\c\\nd\\te\\x01\\x1f\\u00e9\", cluster: \"</script>\"}\n");
	free(snap->source);
	snap->source = strdup("dir/\"odd\"\r.yaml");
	assert_non_null(snap->source);
	char *json = config_dump_json(snap, NULL);
	assert_non_null(json);
	assert_true(json_valid(json));
	assert_has(json, "\"id\":\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\xc3\xa9\"");
	assert_has(json, "\"cluster\":\"</script>\"");
	assert_has(json, "\"source\":\"dir/\\\"odd\\\"\\r.yaml\"");
	free(json);
	snapshot_unref(snap);
}

/* Enough listeners that the buffer grows several times. */
static void test_large(void **state)
{
	(void)state;
	struct snapshot *snap = load(bootstrap_default_yaml);
	enum { N = 2000 };
	struct listener *more = realloc(snap->listeners, N * sizeof(*more));
	assert_non_null(more);
	snap->listeners = more;
	for (size_t i = 2; i < N; i++) {
		more[i] = more[i % 2];
		more[i].name = strdup(more[i % 2].name);
		struct tcp_proxy_config *tp = &more[i].chains[0].tcp_proxy;
		tp->stat_prefix = strdup(tp->stat_prefix);
		tp->cluster_name = strdup(tp->cluster_name);
		tp->access_log.path = NULL;
		snap->n_listeners = i + 1;
	}
	size_t len;
	char *json = config_dump_json(snap, &len);
	assert_non_null(json);
	assert_true(len > 500 * N);
	assert_true(json_valid(json));
	free(json);
	snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validator),
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_static_and_ads),
		cmocka_unit_test(test_tls_and_rbac),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_tcp_health_check),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
