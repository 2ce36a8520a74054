/* proxy/bootstrap.c: every error the reader can report, with its exact
 * message (file:line and field path), and good configurations, the embedded
 * default among them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bootstrap.h"
#include "proxy/http_config.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"

#define TCP "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define LOG "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"

/* Building blocks; the comments give the lines they take, which the expected
 * messages below count on. */

/* A listener item, 3 lines. */
#define LISTENER(name, port, cluster)                                                         \
	"  - name: " name "\n"                                                                \
	"    address: {socket_address: {address: 127.0.0.1, port_value: " port "}}\n"          \
	"    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: " \
	"{\"@type\": " TCP ", stat_prefix: s, cluster: " cluster "}}]}]\n"

/* A STATIC cluster item with one endpoint, 2 lines. */
#define CLUSTER(name)                                                                     \
	"  - name: " name "\n"                                                            \
	"    load_assignment: {cluster_name: " name ", endpoints: [{lb_endpoints: [{endpoint: " \
	"{address: {socket_address: {address: 10.0.0.1, port_value: 80}}}}]}]}\n"

/* Lines 1-3: a listener's first line; its other fields follow. */
#define L_START "static_resources:\n  listeners:\n  - name: l\n"
#define L_ADDR "    address: {socket_address: {address: 127.0.0.1, port_value: 80}}\n"
#define L_CHAINS                                                                             \
	"    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: " \
	"{\"@type\": " TCP ", stat_prefix: s, cluster: c}}]}]\n"
/* The clusters section with cluster "c", 3 lines. */
#define CLUSTERS_C "  clusters:\n" CLUSTER("c")

/* Lines 1-9: a listener in block style down to its tcp_proxy's @type; the
 * tcp_proxy's fields follow at 10 spaces. */
#define TP_START                                        \
	"static_resources:\n"                           \
	"  listeners:\n"                                \
	"  - name: l\n"                                 \
	"    address: {socket_address: {address: 127.0.0.1, port_value: 80}}\n" \
	"    filter_chains:\n"                          \
	"    - filters:\n"                              \
	"      - name: envoy.filters.network.tcp_proxy\n" \
	"        typed_config:\n"                       \
	"          \"@type\": " TCP "\n"
#define TP_REQUIRED "          stat_prefix: s\n          cluster: c\n"

/* Lines 1-6: one good listener; clusters start at line 7. */
#define C_START "static_resources:\n  listeners:\n" LISTENER("l", "80", "c") "  clusters:\n"

/* Lines 1-4: cluster "xds"; dynamic_resources starts at line 5. */
#define D_START "static_resources:\n  clusters:\n" CLUSTER("xds")

#define ENDPOINT(ip, port) \
	"{endpoint: {address: {socket_address: {address: " ip ", port_value: " port "}}}}"

#define P_TP "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
#define P_LOG P_TP ".access_log[0]"

#define RBAC "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
#define DTLS "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
#define UTLS "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
#define INSPECTOR "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
#define ORIG_DST "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
#define WEB "spiffe://cluster.local/ns/default/sa/web"
#define SPIFFE_ERR(got, why) \
	": expected a SPIFFE id (spiffe://<trust-domain>/<path>), got \"" got "\": " why

/* One-line flow forms of a filter, a TLS transport socket and chains. */
#define TP_FLOW \
	"{name: envoy.filters.network.tcp_proxy, typed_config: {\"@type\": " TCP ", stat_prefix: s, cluster: c}}"
#define RBAC_FLOW(rules) \
	"{name: envoy.filters.network.rbac, typed_config: {\"@type\": " RBAC ", stat_prefix: r, rules: " rules "}}"
#define CERTS "tls_certificates: [{certificate_chain: {filename: /c.pem}, private_key: {filename: /k.pem}}]"
#define DTLS_FLOW \
	"{name: envoy.transport_sockets.tls, typed_config: {\"@type\": " DTLS ", common_tls_context: {" CERTS "}}}"
/* Filter chain items, one line each. */
#define CHAIN_TLS                                                                                \
	"    - {filter_chain_match: {transport_protocol: tls}, transport_socket: " DTLS_FLOW ", " \
	"filters: [" TP_FLOW "]}\n"
#define CHAIN_RAW "    - {filter_chain_match: {transport_protocol: raw_buffer}, filters: [" TP_FLOW "]}\n"
#define CHAIN_ANY "    - {filters: [" TP_FLOW "]}\n"
/* A listener's tls_inspector, 1 line. */
#define INSPECT "    listener_filters: [{name: envoy.filters.listener.tls_inspector}]\n"

/* Lines 1-10: a listener whose one chain has a transport socket, in block
 * style down to its DownstreamTlsContext's @type; the context's fields follow
 * at 10 spaces. */
#define DT_START                                         \
	"static_resources:\n"                            \
	"  listeners:\n"                                 \
	"  - name: l\n"                                  \
	L_ADDR                                           \
	"    filter_chains:\n"                           \
	"    - filters: [" TP_FLOW "]\n"                 \
	"      transport_socket:\n"                      \
	"        name: envoy.transport_sockets.tls\n"    \
	"        typed_config:\n"                        \
	"          \"@type\": " DTLS "\n"
/* Lines 1-12: DT_START and a common_tls_context with its certificate; its
 * other fields follow at 12 spaces. */
#define CTC_START DT_START "          common_tls_context:\n            " CERTS "\n"
/* Lines 1-15: CTC_START and a validation context down to its SAN matchers,
 * items at 14 spaces. */
#define SANS(items)                                          \
	CTC_START "            validation_context:\n"        \
	"              trusted_ca: {filename: /ca.pem}\n"    \
	"              match_typed_subject_alt_names:\n" items CLUSTERS_C

/* Lines 1-12: cluster "c" with a transport socket down to its
 * UpstreamTlsContext's @type; its fields follow at 8 spaces. */
#define UT_START                                                           \
	C_START CLUSTER("c") "    transport_socket:\n"                     \
	"      name: envoy.transport_sockets.tls\n      typed_config:\n" \
	"        \"@type\": " UTLS "\n"
/* 3 lines: a good UpstreamTlsContext's common_tls_context. */
#define UT_CTC                                                  \
	"        common_tls_context:\n          " CERTS "\n" \
	"          validation_context: {trusted_ca: {filename: /ca.pem}}\n"

/* Lines 1-9: a chain whose first filter is rbac, down to its @type; its
 * fields follow at 10 spaces; RB_END closes the chain and adds cluster c. */
#define RB_START                                           \
	"static_resources:\n"                              \
	"  listeners:\n"                                   \
	"  - name: l\n"                                    \
	L_ADDR                                             \
	"    filter_chains:\n"                             \
	"    - filters:\n"                                 \
	"      - name: envoy.filters.network.rbac\n"       \
	"        typed_config:\n"                          \
	"          \"@type\": " RBAC "\n"
#define RB_END "      - " TP_FLOW "\n" CLUSTERS_C
/* Lines 1-12: RB_START down to rules.policies; policies at 14 spaces. */
#define RB_POL RB_START "          stat_prefix: r\n          rules:\n            policies:\n"

#define P_L "static_resources.listeners[0]"
#define LB_NAMES "ROUND_ROBIN, CLUSTER_PROVIDED, LEAST_REQUEST, RING_HASH, MAGLEV, RANDOM"
#define HCM "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define ROUTER "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
#define HOPTS "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

/* Lines 1-9: a listener whose chain is an http_connection_manager, down to
 * its @type; its fields follow at 10 spaces. */
#define H_START                                                        \
	"static_resources:\n"                                          \
	"  listeners:\n"                                               \
	"  - name: l\n"                                                \
	L_ADDR                                                         \
	"    filter_chains:\n"                                         \
	"    - filters:\n"                                             \
	"      - name: envoy.filters.network.http_connection_manager\n" \
	"        typed_config:\n"                                      \
	"          \"@type\": " HCM "\n"
/* Lines 10-11: stat_prefix and the router. */
#define H_REQ "          stat_prefix: h\n          http_filters: [{name: envoy.filters.http.router}]\n"
/* Lines 1-17: H_START, H_REQ and an inline route_config down to its first
 * virtual host's routes, items at 14 spaces. */
#define RC_START                                                          \
	H_START H_REQ "          route_config:\n            name: r\n"      \
	"            virtual_hosts:\n            - name: v\n"               \
	"              domains: [\"*\"]\n              routes:\n"
/* A route item to cluster c, 1 line. */
#define ROUTE_C "              - {match: {prefix: /}, route: {cluster: c}}\n"
/* Lines 1-11 then an inline route_config in one line (line 12). */
#define H_RC(routes) \
	H_START H_REQ "          route_config: {virtual_hosts: [{name: v, domains: [\"*\"], routes: [" routes "]}]}\n"
#define P_H P_L ".filter_chains[0].filters[0].typed_config"
#define P_R P_H ".route_config.virtual_hosts[0].routes"
/* Lines 7-8: cluster c; its other fields follow at 4 spaces from line 9. */
#define HC_START C_START CLUSTER("c")
#define HC_COMMON "    health_checks: [{timeout: 1s, interval: 5s, unhealthy_threshold: 2, healthy_threshold: 1, "
#define HEX_8 "0000000000000000"
#define HEX_64 HEX_8 HEX_8 HEX_8 HEX_8 HEX_8 HEX_8 HEX_8 HEX_8
#define HEX_512 HEX_64 HEX_64 HEX_64 HEX_64 HEX_64 HEX_64 HEX_64 HEX_64
#define HEX_1025 HEX_512 HEX_512 "00"
#define P_FC P_L ".filter_chains"
#define P_TS P_FC "[0].transport_socket"
#define P_DT P_TS ".typed_config"
#define P_CTC P_DT ".common_tls_context"
#define P_VC P_CTC ".validation_context"
#define P_SAN P_VC ".match_typed_subject_alt_names"
#define P_UT "static_resources.clusters[0].transport_socket.typed_config"
#define P_RB P_FC "[0].filters[0].typed_config"
#define P_POL P_RB ".rules.policies"
#define NOT_YET_FILE "not supported yet: skiff reads certificates and keys from files (filename)"
#define NOT_YET_SDS \
	"not supported yet: SDS comes with xDS (use tls_certificates and validation_context with filename)"
#define ONLY_EXACT "not supported by skiff (supported: exact; SPIFFE ids compare exactly)"
#define NO_INSPECTOR "needs the envoy.filters.listener.tls_inspector listener filter"
#define TWO_CHAINS \
	"with two filter chains, one must match transport_protocol tls and the other raw_buffer or nothing"


struct bad_case {
	const char *yaml;
	const char *err;
};

static const struct bad_case bad_cases[] = {
	/* the document */
	{ "node: {id: a\n", "t.yaml:2: invalid YAML: did not find expected ',' or '}' while parsing a flow mapping" },
	{ "a: b\n c: d\n", "t.yaml:2: invalid YAML: mapping values are not allowed in this context" },
	{ "", "t.yaml:1: empty document" },
	{ "# only a comment\n", "t.yaml:1: empty document" },
	{ "node: {}\n---\nadmin: {}\n", "t.yaml:3: more than one YAML document" },
	{ "node: {}\n---\n[\n", "t.yaml:4: invalid YAML: did not find expected node content while parsing a flow node" },
	{ "- a\n", "t.yaml:1: expected a mapping" },
	{ "hello\n", "t.yaml:1: expected a mapping" },
	{ "foo: 1\n", "t.yaml:1: foo: unknown field" },
	{ "\"a\\tb\": 1\n", "t.yaml:1: a?b: unknown field" },
	{ "node: {}\nnode: {}\n", "t.yaml:2: node: duplicate field" },
	{ "? [a]\n: 1\n", "t.yaml:1: expected a field name, not a sequence" },
	{ "? {a: b}\n: 1\n", "t.yaml:1: expected a field name, not a mapping" },
	{ "layered_runtime: []\n", "t.yaml:1: layered_runtime: expected a mapping" },
	{ "stats_config: 1\n", "t.yaml:1: stats_config: expected a mapping" },
	{ "overload_manager: [1]\n", "t.yaml:1: overload_manager: expected a mapping" },
	{ "tracing: {}\n", "t.yaml:1: tracing: unknown field" },

	/* node */
	{ "node: [a]\n", "t.yaml:1: node: expected a mapping" },
	{ "node: {id: [x]}\n", "t.yaml:1: node.id: expected a string" },
	{ "node: {cluster: {a: b}}\n", "t.yaml:1: node.cluster: expected a string" },
	{ "node: {id: \"a\\0b\"}\n", "t.yaml:1: node.id: must not contain a NUL character" },
	{ "node: {metadata: [1]}\n", "t.yaml:1: node.metadata: expected a mapping" },
	{ "node: {locality: x}\n", "t.yaml:1: node.locality: expected a mapping" },
	{ "node:\n  id: a\n  user_agent_name: x\n", "t.yaml:3: node.user_agent_name: unknown field" },

	/* admin and the address forms every address shares */
	{ "admin:\n", "t.yaml:1: admin: expected a mapping" },
	{ "admin: {}\n", "t.yaml:1: admin.address: required" },
	{ "admin:\n  access_log: {}\n", "t.yaml:2: admin.access_log: expected a sequence" },
	{ "admin:\n  access_log_path: []\n", "t.yaml:2: admin.access_log_path: expected a string" },
	{ "admin:\n  profile_path: /x\n", "t.yaml:2: admin.profile_path: unknown field" },
	{ "admin:\n  address: []\n", "t.yaml:2: admin.address: expected a mapping" },
	{ "admin:\n  address: {}\n", "t.yaml:2: admin.address.socket_address: required" },
	{ "admin:\n  address: {pipe: {path: /x}}\n", "t.yaml:2: admin.address.pipe: unknown field" },
	{ "admin:\n  address:\n    socket_address: {address: localhost, port_value: 15000}\n",
	  "t.yaml:3: admin.address.socket_address.address: expected an IPv4 or IPv6 address, "
	  "got \"localhost\" (skiff does not resolve names)" },
	{ "admin:\n  address:\n    socket_address: {address: [1], port_value: 15000}\n",
	  "t.yaml:3: admin.address.socket_address.address: expected a string" },
	{ "admin:\n  address:\n    socket_address: {address: \"::1\\0\", port_value: 15000}\n",
	  "t.yaml:3: admin.address.socket_address.address: expected an IPv4 or IPv6 address, "
	  "got \"::1?\" (skiff does not resolve names)" },
	{ "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: 65536}\n",
	  "t.yaml:3: admin.address.socket_address.port_value: must be at most 65535" },
	{ "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: 99999999999999999999}\n",
	  "t.yaml:3: admin.address.socket_address.port_value: must be at most 65535" },
	{ "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: -1}\n",
	  "t.yaml:3: admin.address.socket_address.port_value: expected an integer" },
	{ "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: }\n",
	  "t.yaml:3: admin.address.socket_address.port_value: expected an integer" },
	{ "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: [80]}\n",
	  "t.yaml:3: admin.address.socket_address.port_value: expected an integer" },
	{ "admin:\n  address:\n    socket_address: {address: 127.0.0.1}\n",
	  "t.yaml:3: admin.address.socket_address.port_value: required" },
	{ "admin:\n  address:\n    socket_address: {port_value: 1}\n",
	  "t.yaml:3: admin.address.socket_address.address: required" },
	{ "admin:\n  address:\n    socket_address:\n      address: 127.0.0.1\n      port_value: 1\n      protocol: TCP\n",
	  "t.yaml:6: admin.address.socket_address.protocol: unknown field" },

	/* static_resources */
	{ "static_resources: []\n", "t.yaml:1: static_resources: expected a mapping" },
	{ "static_resources: {secrets: []}\n", "t.yaml:1: static_resources.secrets: unknown field" },
	{ "static_resources: {listeners: {}}\n", "t.yaml:1: static_resources.listeners: expected a sequence" },
	{ "static_resources: {clusters: x}\n", "t.yaml:1: static_resources.clusters: expected a sequence" },
	{ "static_resources:\n  listeners:\n  - a\n", "t.yaml:3: static_resources.listeners[0]: expected a mapping" },
	{ "static_resources:\n  clusters:\n  - [a]\n", "t.yaml:3: static_resources.clusters[0]: expected a mapping" },

	/* listeners */
	{ "static_resources:\n  listeners:\n  - address: {socket_address: {address: 127.0.0.1, port_value: 80}}\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:3: static_resources.listeners[0].name: required" },
	{ "static_resources:\n  listeners:\n  - name: \"\"\n" L_ADDR L_CHAINS CLUSTERS_C,
	  "t.yaml:3: static_resources.listeners[0].name: must not be empty" },
	{ "static_resources:\n  listeners:\n  - name: [l]\n" L_ADDR L_CHAINS CLUSTERS_C,
	  "t.yaml:3: static_resources.listeners[0].name: expected a string" },
	{ L_START L_CHAINS CLUSTERS_C, "t.yaml:3: static_resources.listeners[0].address: required" },
	{ L_START L_ADDR CLUSTERS_C, "t.yaml:3: static_resources.listeners[0].filter_chains: required" },
	{ L_START "    address: {socket_address: {address: 1.2.3, port_value: 80}}\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:4: static_resources.listeners[0].address.socket_address.address: expected an IPv4 "
	  "or IPv6 address, got \"1.2.3\" (skiff does not resolve names)" },
	{ L_START L_ADDR "    use_original_dst: yes\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].use_original_dst: expected a bool (true or false)" },
	{ L_START L_ADDR "    use_original_dst: [true]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].use_original_dst: expected a bool (true or false)" },
	{ L_START L_ADDR "    traffic_direction: SIDEWAYS\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].traffic_direction: expected one of UNSPECIFIED, "
	  "INBOUND, OUTBOUND, got \"SIDEWAYS\"" },
	{ L_START L_ADDR "    traffic_direction: {}\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].traffic_direction: expected one of UNSPECIFIED, "
	  "INBOUND, OUTBOUND" },
	{ L_START L_ADDR "    per_connection_buffer_limit_bytes: 1024\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].per_connection_buffer_limit_bytes: unknown field" },
	{ L_START L_ADDR "    filter_chains: []\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains: expected one or two filter chains "
	  "(a TLS chain beside a plaintext one), got 0" },
	{ L_START L_ADDR "    filter_chains: [{}, {}, {}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains: expected one or two filter chains "
	  "(a TLS chain beside a plaintext one), got 3" },
	{ L_START L_ADDR "    filter_chains: [{}, {}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters: required" },
	{ L_START L_ADDR "    filter_chains: {}\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains: expected a sequence" },
	{ L_START L_ADDR "    filter_chains: [a]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0]: expected a mapping" },
	{ L_START L_ADDR "    filter_chains: [{}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters: required" },
	{ L_START L_ADDR "    filter_chains: [{filter_chain_match: {}}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: []}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters: must end with an "
	  "envoy.filters.network.tcp_proxy or envoy.filters.network.http_connection_manager filter" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{typed_config: {}}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.@type: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].typed_config: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{typed_config: {\"@type\": " TCP ", stat_prefix: s, cluster: c}}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].name: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.http_connection_manager}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].typed_config: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.redis_proxy}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].name: not supported by "
	  "skiff: \"envoy.filters.network.redis_proxy\" (supported: "
	  "envoy.filters.network.tcp_proxy, envoy.filters.network.rbac, "
	  "envoy.filters.network.http_connection_manager)" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: [x]}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].name: expected a string" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: x}]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TP ": expected a mapping" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: "
	  "{\"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager}}]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TP ".@type: not supported by skiff: \"type.googleapis.com/envoy.extensions"
	  ".filters.net...\" (supported: " TCP ")" },
	/* the @type is checked first, wherever it is */
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: "
	  "{route_config: {}, \"@type\": x}}]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TP ".@type: not supported by skiff: \"x\" (supported: " TCP ")" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: "
	  "{\"@type\": " TCP ", \"@type\": " TCP "}}]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TP ".@type: duplicate field" },

	/* tcp_proxy */
	{ TP_START "          cluster: c\n" CLUSTERS_C, "t.yaml:9: " P_TP ".stat_prefix: required" },
	{ TP_START "          stat_prefix: s\n" CLUSTERS_C, "t.yaml:9: " P_TP ".cluster: required" },
	{ TP_START TP_REQUIRED "          idle_timeout: 1m\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".idle_timeout: expected a duration like \"1s\"" },
	{ TP_START TP_REQUIRED "          idle_timeout: -1s\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".idle_timeout: expected a duration like \"1s\"" },
	{ TP_START TP_REQUIRED "          idle_timeout: \"1s\\0\"\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".idle_timeout: expected a duration like \"1s\"" },
	{ TP_START TP_REQUIRED "          idle_timeout: {seconds: 1}\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".idle_timeout: expected a duration like \"1s\"" },
	{ TP_START TP_REQUIRED "          idle_timeout: 5000000s\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".idle_timeout: duration too long (at most 4294967.295s)" },
	{ TP_START TP_REQUIRED "          max_connect_attempts: 3\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".max_connect_attempts: unknown field" },
	{ TP_START "          stat_prefix: \"\"\n          cluster: c\n" CLUSTERS_C,
	  "t.yaml:10: " P_TP ".stat_prefix: must not be empty" },
	{ TP_START "          stat_prefix: s\n          cluster: \"\"\n" CLUSTERS_C,
	  "t.yaml:11: " P_TP ".cluster: must not be empty" },
	{ TP_START TP_REQUIRED "          access_log: {}\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".access_log: expected a sequence" },
	{ TP_START TP_REQUIRED "          access_log: [{}, {}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_TP ".access_log: expected at most one access log (skiff supports one), got 2" },
	{ TP_START TP_REQUIRED "          access_log: [x]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ": expected a mapping" },
	{ TP_START TP_REQUIRED "          access_log: [{name: envoy.access_loggers.file}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".typed_config: required" },
	{ TP_START TP_REQUIRED "          access_log: [{name: envoy.access_loggers.stdout}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".name: not supported by skiff: \"envoy.access_loggers.stdout\" "
	  "(supported: envoy.access_loggers.file)" },
	{ TP_START TP_REQUIRED "          access_log: [{typed_config: {\"@type\": type.googleapis.com/x}}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".typed_config.@type: not supported by skiff: \"type.googleapis.com/x\" "
	  "(supported: " LOG ")" },
	{ TP_START TP_REQUIRED "          access_log: [{typed_config: {path: /x}}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".typed_config.@type: required" },
	{ TP_START TP_REQUIRED "          access_log: [{typed_config: {\"@type\": " LOG "}}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".typed_config.path: required" },
	{ TP_START TP_REQUIRED "          access_log: [{typed_config: {\"@type\": " LOG ", path: \"\"}}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".typed_config.path: must not be empty" },
	{ TP_START TP_REQUIRED "          access_log: [{typed_config: {\"@type\": " LOG ", path: /x, log_format: {}}}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".typed_config.log_format: unknown field" },
	{ TP_START TP_REQUIRED "          access_log: [{filter: {}}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_LOG ".filter: unknown field" },

	/* listener_filters */
	{ L_START L_ADDR "    listener_filters: {}\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters: expected a sequence" },
	{ L_START L_ADDR "    listener_filters: [x]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0]: expected a mapping" },
	{ L_START L_ADDR "    listener_filters: [{name: envoy.filters.listener.http_inspector}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].name: not supported by skiff: \"envoy.filters.listener.http_inspector\" "
	  "(supported: envoy.filters.listener.tls_inspector, envoy.filters.listener.original_dst)" },
	{ L_START L_ADDR "    listener_filters: [{name: [x]}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].name: expected a string" },
	{ L_START L_ADDR "    listener_filters: [{typed_config: {\"@type\": " INSPECTOR "}}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].name: required" },
	{ L_START L_ADDR "    listener_filters: [{name: envoy.filters.listener.tls_inspector, typed_config: {\"@type\": x}}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].typed_config.@type: not supported by skiff: \"x\" (supported: " INSPECTOR ")" },
	{ L_START L_ADDR "    listener_filters: [{name: envoy.filters.listener.tls_inspector, typed_config: "
	  "{\"@type\": " INSPECTOR ", enable_ja3_fingerprinting: true}}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].typed_config.enable_ja3_fingerprinting: unknown field" },
	{ L_START L_ADDR "    listener_filters: [{name: envoy.filters.listener.original_dst, typed_config: {}}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].typed_config.@type: required" },
	{ L_START L_ADDR "    listener_filters: [{name: envoy.filters.listener.original_dst, typed_config: {\"@type\": " INSPECTOR "}}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].typed_config.@type: not supported by skiff: "
	  "\"type.googleapis.com/envoy.extensions.filters.lis...\" (supported: " ORIG_DST ")" },
	{ L_START L_ADDR "    listener_filters: [{name: envoy.filters.listener.tls_inspector, config: {}}]\n" L_CHAINS CLUSTERS_C,
	  "t.yaml:5: " P_L ".listener_filters[0].config: unknown field" },

	/* filter chains: names, matches, filters */
	{ L_START L_ADDR "    filter_chains: [{name: \"\", filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].name: must not be empty" },
	{ L_START L_ADDR "    filter_chains: [{use_proxy_proto: true, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].use_proxy_proto: unknown field" },
	{ L_START L_ADDR "    filter_chains: [{filter_chain_match: [], filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filter_chain_match: expected a mapping" },
	{ L_START L_ADDR "    filter_chains: [{filter_chain_match: {transport_protocol: quic}, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filter_chain_match.transport_protocol: expected one of raw_buffer, tls, got \"quic\"" },
	{ L_START L_ADDR "    filter_chains: [{filter_chain_match: {destination_port: 80}, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filter_chain_match.destination_port: not supported by skiff (supported: transport_protocol)" },
	{ L_START L_ADDR "    filter_chains: [{filter_chain_match: {server_names: [a]}, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filter_chain_match.server_names: not supported by skiff (supported: transport_protocol)" },
	{ L_START L_ADDR "    filter_chains: [{filters: [" RBAC_FLOW("{}") "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters: must end with an envoy.filters.network.tcp_proxy or "
	  "envoy.filters.network.http_connection_manager filter" },
	{ L_START L_ADDR "    filter_chains: [{filters: [" TP_FLOW ", " RBAC_FLOW("{}") "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters[0]: envoy.filters.network.tcp_proxy must be the last filter" },
	{ L_START L_ADDR "    filter_chains: [{filters: [" TP_FLOW ", " TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters[0]: envoy.filters.network.tcp_proxy must be the last filter" },
	{ L_START L_ADDR "    filter_chains: [{filters: [" RBAC_FLOW("{}") ", " RBAC_FLOW("{}") ", " TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters[1]: at most one envoy.filters.network.rbac filter (skiff supports one)" },
	/* without a name, the @type says which filter it is */
	{ L_START L_ADDR "    filter_chains: [{filters: [{typed_config: {\"@type\": " RBAC ", stat_prefix: r, rules: {}}}, " TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters[0].name: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{typed_config: {\"@type\": " RBAC ", stat_prefix: r, rules: {action: LOG}}}, " TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters[0].typed_config.rules.action: not supported by skiff: LOG (supported: ALLOW, DENY)" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.rbac, typed_config: {\"@type\": " TCP ", stat_prefix: s, cluster: c}}, " TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters[0].typed_config.@type: not supported by skiff: "
	  "\"type.googleapis.com/envoy.extensions.filters.net...\" (supported: " RBAC ")" },

	/* filter chains: TLS and plaintext side by side */
	{ L_START L_ADDR INSPECT "    filter_chains:\n    - {filter_chain_match: {transport_protocol: tls}, filters: [" TP_FLOW "]}\n" CLUSTERS_C,
	  "t.yaml:7: " P_FC "[0].transport_socket: required with filter_chain_match.transport_protocol tls" },
	{ L_START L_ADDR "    filter_chains:\n    - {filter_chain_match: {transport_protocol: raw_buffer}, transport_socket: " DTLS_FLOW ", filters: [" TP_FLOW "]}\n" CLUSTERS_C,
	  "t.yaml:6: " P_FC "[0].transport_socket: must be absent with filter_chain_match.transport_protocol raw_buffer (plaintext)" },
	{ L_START L_ADDR INSPECT "    filter_chains:\n" CHAIN_TLS CHAIN_TLS CLUSTERS_C,
	  "t.yaml:8: " P_FC "[1].filter_chain_match: " TWO_CHAINS },
	{ L_START L_ADDR INSPECT "    filter_chains:\n" CHAIN_RAW CHAIN_ANY CLUSTERS_C,
	  "t.yaml:8: " P_FC "[1].filter_chain_match: " TWO_CHAINS },
	{ L_START L_ADDR "    filter_chains:\n" CHAIN_ANY CHAIN_ANY CLUSTERS_C,
	  "t.yaml:7: " P_FC "[1].filter_chain_match: " TWO_CHAINS },
	{ L_START L_ADDR INSPECT "    filter_chains:\n" CHAIN_TLS "    - {transport_socket: " DTLS_FLOW ", filters: [" TP_FLOW "]}\n" CLUSTERS_C,
	  "t.yaml:8: " P_FC "[1].transport_socket: must be absent on the plaintext chain beside a transport_protocol tls chain" },
	{ L_START L_ADDR "    filter_chains:\n" CHAIN_RAW CHAIN_TLS CLUSTERS_C,
	  "t.yaml:7: " P_FC "[1].filter_chain_match.transport_protocol: " NO_INSPECTOR },
	{ L_START L_ADDR "    listener_filters: [{name: envoy.filters.listener.original_dst}]\n    filter_chains:\n" CHAIN_TLS CLUSTERS_C,
	  "t.yaml:7: " P_FC "[0].filter_chain_match.transport_protocol: " NO_INSPECTOR },
	{ L_START L_ADDR INSPECT "    filter_chains:\n    - {name: a, filters: [" TP_FLOW "]}\n"
	  "    - {name: a, filter_chain_match: {transport_protocol: tls}, transport_socket: " DTLS_FLOW ", filters: [" TP_FLOW "]}\n" CLUSTERS_C,
	  "t.yaml:8: " P_FC "[1].name: duplicate name \"a\" (also filter_chains[0])" },
	{ L_START L_ADDR INSPECT "    filter_chains:\n" CHAIN_TLS "    - {filters: [" RBAC_FLOW("{}") ", {name: envoy.filters.network.tcp_proxy, "
	  "typed_config: {\"@type\": " TCP ", stat_prefix: s, cluster: d}}]}\n" CLUSTERS_C,
	  "t.yaml:8: " P_FC "[1].filters[1].typed_config.cluster: no cluster named \"d\" in static_resources.clusters" },

	/* DownstreamTlsContext */
	{ L_START L_ADDR "    filter_chains: [{transport_socket: [], filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TS ": expected a mapping" },
	{ L_START L_ADDR "    filter_chains: [{transport_socket: {typed_config: {\"@type\": " DTLS ", common_tls_context: {" CERTS "}}}, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TS ".name: required" },
	{ L_START L_ADDR "    filter_chains: [{transport_socket: {name: envoy.transport_sockets.raw_buffer}, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TS ".name: not supported by skiff: \"envoy.transport_sockets.raw_buffer\" (supported: envoy.transport_sockets.tls)" },
	{ L_START L_ADDR "    filter_chains: [{transport_socket: {name: envoy.transport_sockets.tls}, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_TS ".typed_config: required" },
	{ L_START L_ADDR "    filter_chains: [{transport_socket: {name: envoy.transport_sockets.tls, typed_config: {\"@type\": " UTLS "}}, filters: [" TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_DT ".@type: not supported by skiff: \"type.googleapis.com/envoy.extensions.transport_s...\" (supported: " DTLS ")" },
	{ DT_START CLUSTERS_C, "t.yaml:10: " P_DT ".common_tls_context: required" },
	{ DT_START "          require_sni: true\n" CLUSTERS_C, "t.yaml:11: " P_DT ".require_sni: unknown field" },
	{ DT_START "          common_tls_context: {" CERTS "}\n          sni: x\n" CLUSTERS_C, "t.yaml:12: " P_DT ".sni: unknown field" },
	{ CTC_START "          require_client_certificate: yes\n" CLUSTERS_C,
	  "t.yaml:13: " P_DT ".require_client_certificate: expected a bool (true or false)" },
	{ CTC_START "          require_client_certificate: true\n" CLUSTERS_C,
	  "t.yaml:12: " P_VC ": required with require_client_certificate (client certificates are verified against its trusted_ca)" },
	{ DT_START "          common_tls_context: []\n" CLUSTERS_C, "t.yaml:11: " P_CTC ": expected a mapping" },
	{ DT_START "          common_tls_context: {}\n" CLUSTERS_C, "t.yaml:11: " P_CTC ".tls_certificates: required" },
	{ DT_START "          common_tls_context: {tls_certificates: []}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates: expected exactly one TLS certificate (skiff supports one), got 0" },
	{ DT_START "          common_tls_context: {tls_certificates: [{}, {}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates: expected exactly one TLS certificate (skiff supports one), got 2" },
	{ DT_START "          common_tls_context: {tls_certificates: [{certificate_chain: {filename: /c.pem}}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates[0].private_key: required" },
	{ DT_START "          common_tls_context: {tls_certificates: [{private_key: {filename: /k.pem}}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates[0].certificate_chain: required" },
	{ DT_START "          common_tls_context: {tls_certificates: [{certificate_chain: {inline_string: x}, private_key: {filename: /k}}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates[0].certificate_chain.inline_string: " NOT_YET_FILE },
	{ DT_START "          common_tls_context: {tls_certificates: [{certificate_chain: {filename: /c}, private_key: {environment_variable: KEY}}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates[0].private_key.environment_variable: " NOT_YET_FILE },
	{ DT_START "          common_tls_context: {tls_certificates: [{certificate_chain: {}, private_key: {filename: /k}}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates[0].certificate_chain.filename: required" },
	{ DT_START "          common_tls_context: {tls_certificates: [{certificate_chain: {filename: \"\"}, private_key: {filename: /k}}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates[0].certificate_chain.filename: must not be empty" },
	{ DT_START "          common_tls_context: {tls_certificates: [{certificate_chain: {filename: /c}, private_key: {filename: /k}, password: {filename: /p}}]}\n" CLUSTERS_C,
	  "t.yaml:11: " P_CTC ".tls_certificates[0].password: unknown field" },
	{ DT_START "          common_tls_context:\n            tls_certificate_sds_secret_configs: [{name: default}]\n" CLUSTERS_C,
	  "t.yaml:12: " P_CTC ".tls_certificate_sds_secret_configs: " NOT_YET_SDS },
	{ CTC_START "            validation_context_sds_secret_config: {name: ROOTCA}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".validation_context_sds_secret_config: " NOT_YET_SDS },
	{ CTC_START "            combined_validation_context: {}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".combined_validation_context: " NOT_YET_SDS },
	{ CTC_START "            validation_context: {}\n" CLUSTERS_C, "t.yaml:13: " P_VC ".trusted_ca: required" },
	{ CTC_START "            validation_context: {trusted_ca: {inline_bytes: eA==}}\n" CLUSTERS_C,
	  "t.yaml:13: " P_VC ".trusted_ca.inline_bytes: " NOT_YET_FILE },
	{ CTC_START "            validation_context: {trusted_ca: {filename: /ca.pem}, match_subject_alt_names: [{exact: x}]}\n" CLUSTERS_C,
	  "t.yaml:13: " P_VC ".match_subject_alt_names: not supported by skiff (use match_typed_subject_alt_names with san_type URI)" },
	{ CTC_START "            validation_context: {trusted_ca: {filename: /ca.pem}, match_typed_subject_alt_names: {}}\n" CLUSTERS_C,
	  "t.yaml:13: " P_SAN ": expected a sequence" },
	{ CTC_START "            validation_context: {trusted_ca: {filename: /ca.pem}, crl: {filename: /crl.pem}}\n" CLUSTERS_C,
	  "t.yaml:13: " P_VC ".crl: unknown field" },
	{ SANS("              - {san_type: DNS, matcher: {exact: a.b}}\n"),
	  "t.yaml:16: " P_SAN "[0].san_type: not supported by skiff: DNS (supported: URI)" },
	{ SANS("              - {san_type: uri, matcher: {exact: " WEB "}}\n"),
	  "t.yaml:16: " P_SAN "[0].san_type: expected one of URI, got \"uri\"" },
	{ SANS("              - {san_type: URI}\n"), "t.yaml:16: " P_SAN "[0].matcher: required" },
	{ SANS("              - {matcher: {exact: " WEB "}}\n"), "t.yaml:16: " P_SAN "[0].san_type: required" },
	{ SANS("              - {san_type: URI, matcher: {}}\n"), "t.yaml:16: " P_SAN "[0].matcher.exact: required" },
	{ SANS("              - {san_type: URI, matcher: {prefix: \"spiffe://cluster.local/\"}}\n"),
	  "t.yaml:16: " P_SAN "[0].matcher.prefix: " ONLY_EXACT },
	{ SANS("              - {san_type: URI, matcher: {exact: " WEB ", ignore_case: true}}\n"),
	  "t.yaml:16: " P_SAN "[0].matcher.ignore_case: " ONLY_EXACT },
	{ SANS("              - {san_type: URI, matcher: {exact: " WEB "}}\n"
	       "              - {san_type: URI, matcher: {exact: \"spiffe://Cluster.local/ns/a/sa/b\"}}\n"),
	  "t.yaml:17: " P_SAN "[1].matcher.exact" SPIFFE_ERR("spiffe://Cluster.local/ns/a/sa/b",
	  "trust domain has a character outside [a-z0-9._-] (port, userinfo, uppercase?)") },
	{ SANS("              - {san_type: URI, matcher: {exact: \"https://cluster.local/ns/a\"}}\n"),
	  "t.yaml:16: " P_SAN "[0].matcher.exact" SPIFFE_ERR("https://cluster.local/ns/a", "SPIFFE id does not start with spiffe://") },
	{ SANS("              - {san_type: URI, matcher: {exact: \"spiffe://cluster.local\"}}\n"),
	  "t.yaml:16: " P_SAN "[0].matcher.exact" SPIFFE_ERR("spiffe://cluster.local", "workload SPIFFE id has no path") },
	{ SANS("              - {san_type: URI, matcher: {exact: \"spiffe://cluster.local/ns/a/../b\"}}\n"),
	  "t.yaml:16: " P_SAN "[0].matcher.exact" SPIFFE_ERR("spiffe://cluster.local/ns/a/../b", "path has a . or .. segment") },
	{ SANS("              - {san_type: URI, matcher: {exact: [a]}}\n"), "t.yaml:16: " P_SAN "[0].matcher.exact: expected a string" },
	{ CTC_START "            alpn_protocols: h2\n" CLUSTERS_C, "t.yaml:13: " P_CTC ".alpn_protocols: expected a sequence" },
	{ CTC_START "            alpn_protocols: [h2, \"\"]\n" CLUSTERS_C, "t.yaml:13: " P_CTC ".alpn_protocols[1]: must not be empty" },
	{ CTC_START "            alpn_protocols: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".alpn_protocols: too many ALPN protocols: 17 (at most 16)" },
	{ CTC_START "            tls_params: []\n" CLUSTERS_C, "t.yaml:13: " P_CTC ".tls_params: expected a mapping" },
	{ CTC_START "            tls_params: {tls_minimum_protocol_version: TLSv1_1}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".tls_params.tls_minimum_protocol_version: not supported by skiff: TLSv1_1 (supported: TLS_AUTO, TLSv1_2, TLSv1_3)" },
	{ CTC_START "            tls_params: {tls_minimum_protocol_version: TLSv1.3}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".tls_params.tls_minimum_protocol_version: expected one of TLS_AUTO, TLSv1_2, TLSv1_3, got \"TLSv1.3\"" },
	{ CTC_START "            tls_params: {tls_maximum_protocol_version: TLSv1_2}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".tls_params.tls_maximum_protocol_version: below tls_minimum_protocol_version (TLSv1_3 unless set)" },
	{ CTC_START "            tls_params: {tls_maximum_protocol_version: TLSv1_0}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".tls_params.tls_maximum_protocol_version: not supported by skiff: TLSv1_0 (supported: TLS_AUTO, TLSv1_2, TLSv1_3)" },
	{ CTC_START "            tls_params: {cipher_suites: [ECDHE-RSA-AES128-SHA]}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".tls_params.cipher_suites: not supported by skiff (it offers forward-secret AEAD ciphers only)" },
	{ CTC_START "            tls_params: {ecdh_curves: [X25519]}\n" CLUSTERS_C,
	  "t.yaml:13: " P_CTC ".tls_params.ecdh_curves: not supported by skiff (it offers X25519, P-256 and P-384)" },

	/* UpstreamTlsContext */
	{ C_START CLUSTER("c") "    transport_socket: {}\n", "t.yaml:9: static_resources.clusters[0].transport_socket.name: required" },
	{ C_START CLUSTER("c") "    transport_socket: {name: envoy.transport_sockets.tls, typed_config: {\"@type\": " DTLS "}}\n",
	  "t.yaml:9: " P_UT ".@type: not supported by skiff: \"type.googleapis.com/envoy.extensions.transport_s...\" (supported: " UTLS ")" },
	{ UT_START, "t.yaml:12: " P_UT ".common_tls_context: required" },
	{ UT_START UT_CTC "        require_client_certificate: true\n", "t.yaml:16: " P_UT ".require_client_certificate: unknown field" },
	{ UT_START "        common_tls_context: {" CERTS "}\n",
	  "t.yaml:13: " P_UT ".common_tls_context.validation_context: required (skiff verifies every server it connects to over TLS)" },
	{ UT_START UT_CTC "        sni: \"\"\n", "t.yaml:16: " P_UT ".sni: must not be empty" },
	{ UT_START UT_CTC "        sni: [a]\n", "t.yaml:16: " P_UT ".sni: expected a string" },
	{ UT_START UT_CTC "        allow_renegotiation: true\n", "t.yaml:16: " P_UT ".allow_renegotiation: unknown field" },

	/* the rbac filter */
	{ RB_START "          rules: {}\n" RB_END, "t.yaml:9: " P_RB ".stat_prefix: required" },
	{ RB_START "          stat_prefix: r\n" RB_END, "t.yaml:9: " P_RB ".rules: required" },
	{ RB_START "          stat_prefix: \"\"\n          rules: {}\n" RB_END, "t.yaml:10: " P_RB ".stat_prefix: must not be empty" },
	{ RB_START "          stat_prefix: r\n          rules: []\n" RB_END, "t.yaml:11: " P_RB ".rules: expected a mapping" },
	{ RB_START "          stat_prefix: r\n          rules: {action: LOG}\n" RB_END,
	  "t.yaml:11: " P_RB ".rules.action: not supported by skiff: LOG (supported: ALLOW, DENY)" },
	{ RB_START "          stat_prefix: r\n          rules: {action: allow}\n" RB_END,
	  "t.yaml:11: " P_RB ".rules.action: expected one of ALLOW, DENY, got \"allow\"" },
	{ RB_START "          stat_prefix: r\n          rules: {policies: []}\n" RB_END, "t.yaml:11: " P_POL ": expected a mapping" },
	{ RB_START "          stat_prefix: r\n          rules: {}\n          shadow_rules: {}\n" RB_END,
	  "t.yaml:12: " P_RB ".shadow_rules: not supported by skiff" },
	{ RB_START "          stat_prefix: r\n          matcher: {}\n" RB_END, "t.yaml:11: " P_RB ".matcher: not supported by skiff (use rules)" },
	{ RB_POL "              p: {permissions: [{any: true}]}\n" RB_END, "t.yaml:13: " P_POL ".p.principals: required" },
	{ RB_POL "              p: []\n" RB_END, "t.yaml:13: " P_POL ".p: expected a mapping" },
	{ RB_POL "              p: {permissions: [], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions: expected at least one permission" },
	{ RB_POL "              p: {permissions: {}, principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions: expected a sequence" },
	{ RB_POL "              p: {permissions: [{any: true}], principals: []}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.principals: expected at least one principal" },
	{ RB_POL "              p: {permissions: [x], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0]: expected a mapping" },
	{ RB_POL "              p: {permissions: [{}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0]: expected one of any, destination_port" },
	{ RB_POL "              p: {permissions: [{any: true, destination_port: 80}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0].destination_port: only one of any, destination_port may be set" },
	{ RB_POL "              p: {permissions: [{any: false}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0].any: must be true" },
	{ RB_POL "              p: {permissions: [{destination_port: 70000}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0].destination_port: must be at most 65535" },
	{ RB_POL "              p: {permissions: [{header: {name: x}}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0].header: not supported by skiff (supported: any, destination_port)" },
	{ RB_POL "              p: {permissions: [{destination_port_range: {start: 1, end: 2}}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0].destination_port_range: not supported by skiff (supported: any, destination_port)" },
	{ RB_POL "              p: {permissions: [{port: 80}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.permissions[0].port: unknown field" },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.principals[0]: expected one of any, authenticated" },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{authenticated: {}}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.principals[0].authenticated.principal_name: required" },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{authenticated: {principal_name: {suffix: /sa/web}}}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.principals[0].authenticated.principal_name.suffix: " ONLY_EXACT },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{authenticated: {principal_name: {exact: web}}}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.principals[0].authenticated.principal_name.exact" SPIFFE_ERR("web", "SPIFFE id does not start with spiffe://") },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{any: true, authenticated: {principal_name: {exact: " WEB "}}}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.principals[0].authenticated: only one of any, authenticated may be set" },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{source_ip: {address_prefix: 10.0.0.0}}]}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.principals[0].source_ip: not supported by skiff (supported: any, authenticated.principal_name.exact)" },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{any: true}], condition: {}}\n" RB_END,
	  "t.yaml:13: " P_POL ".p.condition: not supported by skiff" },
	{ RB_POL "              p: {permissions: [{any: true}], principals: [{any: true}]}\n"
	  "              p: {permissions: [{any: true}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:14: " P_POL ".p: duplicate policy" },
	{ RB_POL "              \"\": {permissions: [{any: true}], principals: [{any: true}]}\n" RB_END,
	  "t.yaml:13: " P_POL ": a policy name must not be empty" },
	{ RB_POL "              ? [a]\n              : {}\n" RB_END, "t.yaml:13: " P_POL ": expected a policy name, not a sequence" },

	/* checks across listeners */
	{ "static_resources:\n  listeners:\n" LISTENER("a", "80", "c") LISTENER("a", "81", "c") CLUSTERS_C,
	  "t.yaml:6: static_resources.listeners[1].name: duplicate name \"a\" (also static_resources.listeners[0])" },
	{ "static_resources:\n  listeners:\n" LISTENER("a", "80", "c") LISTENER("b", "81", "c") LISTENER("c", "80", "c") CLUSTERS_C,
	  "t.yaml:10: static_resources.listeners[2].address: 127.0.0.1:80 is also the address of static_resources.listeners[0]" },
	{ "static_resources:\n  listeners:\n" LISTENER("a", "15000", "c") CLUSTERS_C,
	  "t.yaml:4: static_resources.listeners[0].address: 127.0.0.1:15000 is also the admin address" },
	{ "static_resources:\n  listeners:\n" LISTENER("a", "80", "nope") CLUSTERS_C,
	  "t.yaml:5: " P_TP ".cluster: no cluster named \"nope\" in static_resources.clusters" },
	{ "static_resources:\n  listeners:\n" LISTENER("a", "80", "c"),
	  "t.yaml:5: " P_TP ".cluster: no cluster named \"c\" in static_resources.clusters" },

	/* clusters */
	{ C_START "  - type: STATIC\n", "t.yaml:7: static_resources.clusters[0].name: required" },
	{ C_START "  - name: \"\"\n", "t.yaml:7: static_resources.clusters[0].name: must not be empty" },
	{ C_START "  - name: c\n    type: STRICT_DNS\n",
	  "t.yaml:8: static_resources.clusters[0].type: not supported by skiff: STRICT_DNS (supported: STATIC, ORIGINAL_DST)" },
	{ C_START "  - name: c\n    type: EDS\n",
	  "t.yaml:8: static_resources.clusters[0].type: not supported by skiff: EDS (supported: STATIC, ORIGINAL_DST)" },
	{ C_START "  - name: c\n    type: static\n",
	  "t.yaml:8: static_resources.clusters[0].type: expected one of STATIC, ORIGINAL_DST, got \"static\"" },
	{ C_START "  - name: c\n    type: [STATIC]\n",
	  "t.yaml:8: static_resources.clusters[0].type: expected one of STATIC, ORIGINAL_DST" },
	{ C_START "  - name: c\n    lb_policy: LOAD_BALANCING_POLICY_CONFIG\n",
	  "t.yaml:8: static_resources.clusters[0].lb_policy: not supported by skiff: LOAD_BALANCING_POLICY_CONFIG (supported: " LB_NAMES ")" },
	{ C_START "  - name: c\n    lb_policy: 0\n",
	  "t.yaml:8: static_resources.clusters[0].lb_policy: expected one of " LB_NAMES ", got \"0\"" },
	{ C_START "  - name: c\n    connect_timeout: 5\n",
	  "t.yaml:8: static_resources.clusters[0].connect_timeout: expected a duration like \"1s\"" },
	{ C_START "  - name: c\n    connect_timeout: 0.25\n",
	  "t.yaml:8: static_resources.clusters[0].connect_timeout: expected a duration like \"1s\"" },
	{ C_START "  - name: c\n    dns_lookup_family: V4_ONLY\n",
	  "t.yaml:8: static_resources.clusters[0].dns_lookup_family: unknown field" },
	{ C_START "  - name: c\n    type: ORIGINAL_DST\n    lb_policy: ROUND_ROBIN\n",
	  "t.yaml:9: static_resources.clusters[0].lb_policy: an ORIGINAL_DST cluster needs CLUSTER_PROVIDED" },
	{ C_START "  - name: c\n    lb_policy: ROUND_ROBIN\n    type: ORIGINAL_DST\n",
	  "t.yaml:8: static_resources.clusters[0].lb_policy: an ORIGINAL_DST cluster needs CLUSTER_PROVIDED" },
	{ C_START "  - name: c\n    type: ORIGINAL_DST\n    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: [" ENDPOINT("10.0.0.1", "80") "]}]}\n",
	  "t.yaml:9: static_resources.clusters[0].load_assignment: an ORIGINAL_DST cluster takes no endpoints (each connection names its own destination)" },
	{ C_START "  - name: c\n    lb_policy: CLUSTER_PROVIDED\n    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: [" ENDPOINT("10.0.0.1", "80") "]}]}\n",
	  "t.yaml:8: static_resources.clusters[0].lb_policy: CLUSTER_PROVIDED is only for ORIGINAL_DST clusters" },
	{ C_START "  - name: c\n    type: STATIC\n",
	  "t.yaml:7: static_resources.clusters[0].load_assignment: a STATIC cluster needs at least one endpoint" },
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints: [{lb_endpoints: []}, {}]\n",
	  "t.yaml:9: static_resources.clusters[0].load_assignment: a STATIC cluster needs at least one endpoint" },
	{ C_START "  - name: c\n    load_assignment: {endpoints: []}\n",
	  "t.yaml:8: static_resources.clusters[0].load_assignment.cluster_name: required" },
	{ C_START "  - name: c\n    load_assignment: {cluster_name: \"\"}\n",
	  "t.yaml:8: static_resources.clusters[0].load_assignment.cluster_name: must not be empty" },
	{ C_START "  - name: c\n    load_assignment: {cluster_name: c, policy: {}}\n",
	  "t.yaml:8: static_resources.clusters[0].load_assignment.policy: unknown field" },
	{ C_START "  - name: c\n    load_assignment: {cluster_name: c, endpoints: {}}\n",
	  "t.yaml:8: static_resources.clusters[0].load_assignment.endpoints: expected a sequence" },
	{ C_START "  - name: c\n    load_assignment: {cluster_name: c, endpoints: [{locality: {zone: a}}]}\n",
	  "t.yaml:8: static_resources.clusters[0].load_assignment.endpoints[0].locality: unknown field" },
	{ C_START "  - name: c\n    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: {}}]}\n",
	  "t.yaml:8: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints: expected a sequence" },
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n        - {}\n",
	  "t.yaml:12: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint: required" },
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n        - endpoint: {}\n",
	  "t.yaml:12: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address: required" },
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n        - {endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}, load_balancing_weight: 0}\n",
	  "t.yaml:12: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1" },
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n"
	  "        - {endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}, load_balancing_weight: 4294967295}\n"
	  "        - {load_balancing_weight: 1, endpoint: {address: {socket_address: {address: 10.0.0.2, port_value: 80}}}}\n",
	  "t.yaml:13: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[1].load_balancing_weight: the endpoints' weights add up past 4294967295" },
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n        - " ENDPOINT("10.0.0.1", "80") "\n        - " ENDPOINT("10.0.0.2", "99999") "\n",
	  "t.yaml:13: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value: must be at most 65535" },
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n        - " ENDPOINT("10.0.0.1", "80") "\n      - lb_endpoints:\n        - " ENDPOINT("backend", "80") "\n",
	  "t.yaml:14: static_resources.clusters[0].load_assignment.endpoints[1].lb_endpoints[0].endpoint.address.socket_address.address: expected an IPv4 or IPv6 address, got \"backend\" (skiff does not resolve names)" },
	{ C_START "  - name: c\n    type: ORIGINAL_DST\n    upstream_bind_config: {}\n",
	  "t.yaml:9: static_resources.clusters[0].upstream_bind_config.source_address: required" },
	{ C_START "  - name: c\n    type: ORIGINAL_DST\n    upstream_bind_config: {source_address: {port_value: 0}}\n",
	  "t.yaml:9: static_resources.clusters[0].upstream_bind_config.source_address.address: required" },
	{ C_START "  - name: c\n    type: ORIGINAL_DST\n    upstream_bind_config: {source_address: {address: \"127.0.0.6 \"}}\n",
	  "t.yaml:9: static_resources.clusters[0].upstream_bind_config.source_address.address: expected an IPv4 or IPv6 address, got \"127.0.0.6 \" (skiff does not resolve names)" },
	{ C_START "  - name: c\n    type: ORIGINAL_DST\n    upstream_bind_config: {source_address: {address: 127.0.0.6}, freebind: true}\n",
	  "t.yaml:9: static_resources.clusters[0].upstream_bind_config.freebind: unknown field" },
	{ C_START CLUSTER("c") CLUSTER("d") CLUSTER("c"),
	  "t.yaml:11: static_resources.clusters[2].name: duplicate name \"c\" (also static_resources.clusters[0])" },

	/* dynamic_resources */
	{ D_START "dynamic_resources: []\n", "t.yaml:5: dynamic_resources: expected a mapping" },
	{ D_START "dynamic_resources:\n  ads_config: {}\n",
	  "t.yaml:6: dynamic_resources.ads_config.api_type: required" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: REST\n",
	  "t.yaml:7: dynamic_resources.ads_config.api_type: not supported by skiff: REST (supported: GRPC, DELTA_GRPC)" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPCC\n",
	  "t.yaml:7: dynamic_resources.ads_config.api_type: expected one of GRPC, DELTA_GRPC, got \"GRPCC\"" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n",
	  "t.yaml:7: dynamic_resources.ads_config.grpc_services: required" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    transport_api_version: V2\n",
	  "t.yaml:8: dynamic_resources.ads_config.transport_api_version: not supported by skiff: V2 (supported: V3)" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    set_node_on_first_message_only: true\n",
	  "t.yaml:8: dynamic_resources.ads_config.set_node_on_first_message_only: unknown field" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    grpc_services: []\n",
	  "t.yaml:8: dynamic_resources.ads_config.grpc_services: expected exactly one gRPC service (skiff supports one), got 0" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    grpc_services: [{google_grpc: {}}]\n",
	  "t.yaml:8: dynamic_resources.ads_config.grpc_services[0].google_grpc: unknown field" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    grpc_services: [{envoy_grpc: {}}]\n",
	  "t.yaml:8: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: required" },
	{ D_START "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    grpc_services: [{envoy_grpc: {cluster_name: xdz}}]\n",
	  "t.yaml:8: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: no cluster named \"xdz\" in static_resources.clusters" },
	{ "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    grpc_services: [{envoy_grpc: {cluster_name: xds}}]\n",
	  "t.yaml:4: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: no cluster named \"xds\" in static_resources.clusters" },
	{ D_START "dynamic_resources:\n  lds_config: {ads: {}, resource_api_version: V3}\n",
	  "t.yaml:6: dynamic_resources.lds_config.ads: needs dynamic_resources.ads_config" },
	{ D_START "dynamic_resources:\n  cds_config: {ads: {}}\n",
	  "t.yaml:6: dynamic_resources.cds_config.ads: needs dynamic_resources.ads_config" },
	{ D_START "dynamic_resources:\n  lds_config: {}\n", "t.yaml:6: dynamic_resources.lds_config.ads: required" },
	{ D_START "dynamic_resources:\n  lds_config: {ads: []}\n",
	  "t.yaml:6: dynamic_resources.lds_config.ads: expected a mapping" },
	{ D_START "dynamic_resources:\n  lds_config: {path: /etc/lds.yaml}\n",
	  "t.yaml:6: dynamic_resources.lds_config.path: unknown field" },
	{ D_START "dynamic_resources:\n  cds_config: {ads: {}, resource_api_version: AUTO}\n",
	  "t.yaml:6: dynamic_resources.cds_config.resource_api_version: not supported by skiff: AUTO (supported: V3)" },
	{ D_START "dynamic_resources:\n  rtds_config: {}\n", "t.yaml:6: dynamic_resources.rtds_config: unknown field" },

	/* http_connection_manager */
	{ RC_START ROUTE_C ROUTE_C "              - match:\n                  safe_regex: {regex: \"a(b\"}\n"
	  "                route: {cluster: c}\n" CLUSTERS_C,
	  "t.yaml:21: " P_R "[2].match.safe_regex.regex: missing closing parenthesis at offset 3" },
	{ H_RC("{match: {prefix: /, headers: [{name: x, string_match: {safe_regex: {regex: \"[\"}}}]}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.headers[0].string_match.safe_regex.regex: missing terminating ] for character class at offset 1" },
	{ H_START "          stat_prefix: h\n          http_filters: [{name: envoy.filters.http.cors}, {name: envoy.filters.http.router}]\n"
	  "          route_config: {}\n" CLUSTERS_C,
	  "t.yaml:11: " P_H ".http_filters[0].name: not supported by skiff: \"envoy.filters.http.cors\" "
	  "(supported: envoy.filters.http.router)" },
	{ H_START "          stat_prefix: h\n          http_filters: [{name: envoy.filters.http.router}, {name: envoy.filters.http.router}]\n"
	  "          route_config: {}\n" CLUSTERS_C,
	  "t.yaml:11: " P_H ".http_filters[0]: envoy.filters.http.router must be the last HTTP filter" },
	{ H_START "          stat_prefix: h\n          http_filters: []\n          route_config: {}\n" CLUSTERS_C,
	  "t.yaml:11: " P_H ".http_filters: must end with an envoy.filters.http.router filter" },
	{ H_START "          stat_prefix: h\n          http_filters: [{name: envoy.filters.http.router, typed_config: {\"@type\": type.googleapis.com/x}}]\n"
	  "          route_config: {}\n" CLUSTERS_C,
	  "t.yaml:11: " P_H ".http_filters[0].typed_config.@type: not supported by skiff: \"type.googleapis.com/x\" "
	  "(supported: " ROUTER ")" },
	{ H_START "          stat_prefix: h\n          route_config: {}\n" CLUSTERS_C,
	  "t.yaml:9: " P_H ".http_filters: required" },
	{ H_START "          http_filters: [{name: envoy.filters.http.router}]\n          route_config: {}\n" CLUSTERS_C,
	  "t.yaml:9: " P_H ".stat_prefix: required" },
	{ H_START H_REQ CLUSTERS_C, "t.yaml:9: " P_H ": expected one of route_config, rds" },
	{ H_START H_REQ "          route_config: {}\n          rds: {route_config_name: r, config_source: {ads: {}}}\n" CLUSTERS_C,
	  "t.yaml:13: " P_H ".rds: only one of route_config, rds may be set" },
	{ H_START H_REQ "          rds:\n            route_config_name: r\n            config_source: {ads: {}}\n" CLUSTERS_C,
	  "t.yaml:14: " P_H ".rds.config_source.ads: needs dynamic_resources.ads_config (RDS comes over ADS)" },
	{ H_START H_REQ "          rds: {config_source: {ads: {}}}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".rds.route_config_name: required" },
	{ H_START H_REQ "          codec_type: HTTP3\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".codec_type: not supported by skiff: HTTP3 (supported: AUTO, HTTP1, HTTP2)" },
	{ H_START H_REQ "          max_request_headers_kb: 0\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".max_request_headers_kb: must be at least 1" },
	{ H_START H_REQ "          http2_protocol_options: {initial_stream_window_size: 100}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".http2_protocol_options.initial_stream_window_size: must be at least 65535" },
	{ H_START H_REQ "          http2_protocol_options: {max_outbound_frames: 0}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".http2_protocol_options.max_outbound_frames: must be at least 1" },
	{ H_START H_REQ "          http2_protocol_options: {max_outbound_control_frames: 0}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".http2_protocol_options.max_outbound_control_frames: must be at least 1" },
	{ H_START H_REQ "          http2_protocol_options: {max_consecutive_inbound_frames_with_empty_payload: -1}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".http2_protocol_options.max_consecutive_inbound_frames_with_empty_payload: expected an integer" },
	{ H_START H_REQ "          http2_protocol_options: {max_consecutive_inbound_frames_with_empty_payload: 4294967296}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".http2_protocol_options.max_consecutive_inbound_frames_with_empty_payload: must be at most 4294967295" },
	{ H_START H_REQ "          http2_protocol_options: {hpack_table_size: 100}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".http2_protocol_options.hpack_table_size: unknown field" },
	{ H_START H_REQ "          common_http_protocol_options: {max_headers_count: 0}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".common_http_protocol_options.max_headers_count: must be at least 1" },
	{ H_START H_REQ "          scoped_routes: {}\n" CLUSTERS_C,
	  "t.yaml:12: " P_H ".scoped_routes: not supported by skiff" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.http_connection_manager, typed_config: "
	  "{\"@type\": " HCM ", stat_prefix: h, http_filters: [{name: envoy.filters.http.router}], route_config: {}}}, " TP_FLOW "]}]\n" CLUSTERS_C,
	  "t.yaml:5: " P_FC "[0].filters[0]: envoy.filters.network.http_connection_manager must be the last filter" },

	/* routes */
	{ H_RC("{match: {prefix: /}, route: {weighted_clusters: {clusters: [{name: a, weight: 0}, {name: b}]}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.weighted_clusters: the clusters' weights add up to 0" },
	{ H_RC("{match: {prefix: /}, route: {weighted_clusters: {clusters: [{name: a, weight: 4294967295}, {name: b, weight: 1}]}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.weighted_clusters: the clusters' weights add up past 4294967295" },
	{ H_RC("{match: {prefix: /}, route: {weighted_clusters: {clusters: []}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.weighted_clusters.clusters: expected at least one cluster" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, weighted_clusters: {clusters: [{name: a, weight: 1}]}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.weighted_clusters: only one of cluster, weighted_clusters may be set" },
	{ H_RC("{match: {prefix: /}, route: {timeout: 1s}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route: expected one of cluster, weighted_clusters" },
	{ H_RC("{match: {prefix: /}, route: {cluster_header: x}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.cluster_header: not supported by skiff (supported: cluster, weighted_clusters)" },
	{ H_RC("{match: {prefix: /}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0]: expected one of route, redirect, direct_response" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, redirect: {}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].redirect: only one of route, redirect, direct_response may be set" },
	{ H_RC("{route: {cluster: c}}") CLUSTERS_C, "t.yaml:12: " P_R "[0].match: required" },
	{ H_RC("{match: {}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match: expected one of prefix, path, safe_regex, connect_matcher" },
	{ H_RC("{match: {prefix: /, path: /a}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.path: only one of prefix, path, safe_regex, connect_matcher may be set" },
	{ H_RC("{match: {prefix: \"/a b\"}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.prefix: must not contain spaces or control characters" },
	{ H_RC("{match: {prefix: /, headers: [{name: a, exact_match: x, present_match: true}]}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.headers[0].present_match: only one of present_match, string_match, exact_match, "
	  "prefix_match, suffix_match, contains_match, safe_regex_match may be set" },
	{ H_RC("{match: {prefix: /, headers: [{name: a, range_match: {start: 1, end: 2}}]}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.headers[0].range_match: not supported by skiff (supported: present_match, "
	  "string_match, exact_match, prefix_match, suffix_match, contains_match, safe_regex_match)" },
	{ H_RC("{match: {prefix: /, headers: [{name: a, string_match: {prefix: \"\"}}]}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.headers[0].string_match.prefix: must not be empty" },
	{ H_RC("{match: {prefix: /, headers: [{name: a, string_match: {}}]}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.headers[0].string_match: expected one of exact, prefix, suffix, contains, safe_regex" },
	{ H_RC("{match: {prefix: /, headers: [{name: \"a:b\"}]}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.headers[0].name: not a valid header name (RFC 9110 token, or ':' and a token)" },
	{ H_RC("{match: {prefix: /, query_parameters: [{present_match: true}]}, route: {cluster: c}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].match.query_parameters[0].name: required" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: \"a b\", value: x}}]}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].request_headers_to_add[0].header.key: not a valid header name (RFC 9110 token)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: \":path\", value: x}}]}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].request_headers_to_add[0].header.key: not a valid header name (RFC 9110 token)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: Host, value: x}}]}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].request_headers_to_add[0].header.key: use host_rewrite_literal to change the host" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, response_headers_to_add: [{header: {key: a, value: x}, append: true, append_action: ADD_IF_ABSENT}]}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].response_headers_to_add[0].append_action: only one of append, append_action may be set" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, response_headers_to_add: [{header: {key: a, value: x}, append_action: ADD_IF_ABSENT}]}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].response_headers_to_add[0].append_action: not supported by skiff: ADD_IF_ABSENT "
	  "(supported: OVERWRITE_IF_EXISTS_OR_ADD, APPEND_IF_EXISTS_OR_ADD)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: a, value: \"x\\r\\ny: z\"}}]}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].request_headers_to_add[0].header.value: must not contain control characters" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c}, request_headers_to_remove: [host]}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].request_headers_to_remove[0]: the host header cannot be removed" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retry_on: \"5xx, retriable-4xx\"}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retry_on: not supported by skiff: \"retriable-4xx\" (supported: 5xx, "
	  "gateway-error, reset, connect-failure, retriable-status-codes, refused-stream)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retriable_status_codes: [503, 600]}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retriable_status_codes[1]: must be at most 599" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retry_back_off: {max_interval: 1s}}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retry_back_off.base_interval: required" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retry_back_off: {base_interval: 0s}}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retry_back_off.base_interval: must be more than 0s" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retry_back_off: {base_interval: 1s, max_interval: 0.5s}}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retry_back_off: max_interval (500ms) is below base_interval (1000ms)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retry_back_off: {base_interval: 1s, jitter: 1}}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retry_back_off.jitter: unknown field" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retry_host_predicate: [{name: envoy.retry_host_predicates.omit_canary_hosts}]}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retry_host_predicate[0].name: not supported by skiff: "
	  "\"envoy.retry_host_predicates.omit_canary_hosts\" (supported: envoy.retry_host_predicates.previous_hosts)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {retry_host_predicate: [{name: envoy.retry_host_predicates.previous_hosts, "
	       "typed_config: {\"@type\": type.googleapis.com/envoy.extensions.retry.host.omit_canary_hosts.v3.OmitCanaryHostsPredicate}}]}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.retry_host_predicate[0].typed_config.@type: not supported by skiff: "
	  "\"type.googleapis.com/envoy.extensions.retry.host....\" "
	  "(supported: type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, retry_policy: {host_selection_retry_max_attempts: 101}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.retry_policy.host_selection_retry_max_attempts: must be at most 100" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{filter_state: {key: x}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0].filter_state: not supported by skiff (supported: header, connection_properties, query_parameter, cookie)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{terminal: true}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0]: expected one of header, connection_properties, query_parameter, cookie" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{header: {header_name: a}, query_parameter: {name: b}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0].query_parameter: only one of header, connection_properties, query_parameter, cookie may be set" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{cookie: {name: \"a;b\"}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0].cookie.name: not a cookie name" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{cookie: {name: a, attributes: [{name: SameSite, value: Lax}]}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0].cookie.attributes: not supported by skiff" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{cookie: {ttl: 1s}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0].cookie.name: required" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{connection_properties: {source_ip: false}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0].connection_properties.source_ip: must be true (the only connection property skiff hashes)" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{query_parameter: {}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy[0].query_parameter.name: required" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, hash_policy: [{header: {header_name: a}}, {header: {header_name: a}}, {header: {header_name: a}}, "
	       "{header: {header_name: a}}, {header: {header_name: a}}, {header: {header_name: a}}, {header: {header_name: a}}, {header: {header_name: a}}, "
	       "{header: {header_name: a}}]}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.hash_policy: expected at most 8 hash policies, got 9" },
	{ H_RC("{match: {prefix: /}, route: {cluster: c, host_rewrite_literal: \"a\\nb\"}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].route.host_rewrite_literal: must not contain spaces or control characters" },
	{ H_RC("{match: {prefix: /}, direct_response: {status: 100}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].direct_response.status: must be at least 200" },
	{ H_RC("{match: {prefix: /}, direct_response: {status: 200, body: {filename: /etc/passwd}}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].direct_response.body.filename: not supported by skiff (supported: inline_string)" },
	{ H_RC("{match: {prefix: /}, redirect: {path_redirect: /a, prefix_rewrite: /b}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].redirect.prefix_rewrite: only one of path_redirect, prefix_rewrite may be set" },
	{ H_RC("{match: {prefix: /}, redirect: {response_code: 301}}") CLUSTERS_C,
	  "t.yaml:12: " P_R "[0].redirect.response_code: expected one of MOVED_PERMANENTLY, FOUND, SEE_OTHER, "
	  "TEMPORARY_REDIRECT, PERMANENT_REDIRECT, got \"301\"" },
	{ H_START H_REQ "          route_config:\n            virtual_hosts:\n            - {name: a, domains: [a.com, \"*.b.com\"]}\n"
	  "            - {name: b, domains: [c.com, A.COM]}\n" CLUSTERS_C,
	  "t.yaml:15: " P_H ".route_config.virtual_hosts[1].domains[1]: duplicate domain \"a.com\" (also virtual_hosts[0].domains[0])" },
	{ H_START H_REQ "          route_config:\n            virtual_hosts:\n            - {name: a, domains: [a.com]}\n"
	  "            - {name: a, domains: [c.com]}\n" CLUSTERS_C,
	  "t.yaml:15: " P_H ".route_config.virtual_hosts[1].name: duplicate name \"a\" (also virtual_hosts[0])" },
	{ H_START H_REQ "          route_config:\n            virtual_hosts:\n            - {name: a, domains: [\"a.*.com\"]}\n" CLUSTERS_C,
	  "t.yaml:14: " P_H ".route_config.virtual_hosts[0].domains[0]: a wildcard '*' may only start or end a domain, once" },
	{ H_START H_REQ "          route_config:\n            virtual_hosts:\n            - {name: a, domains: []}\n" CLUSTERS_C,
	  "t.yaml:14: " P_H ".route_config.virtual_hosts[0].domains: expected at least one domain" },
	{ H_START H_REQ "          route_config:\n            virtual_hosts:\n            - {domains: [a]}\n" CLUSTERS_C,
	  "t.yaml:14: " P_H ".route_config.virtual_hosts[0].name: required" },

	/* clusters for HTTP */
	{ HC_START "    lb_policy: MAGLEV\n    maglev_lb_config: {table_size: 65536}\n",
	  "t.yaml:10: static_resources.clusters[0].maglev_lb_config.table_size: must be a prime number" },
	{ HC_START "    ring_hash_lb_config: {minimum_ring_size: 0}\n",
	  "t.yaml:9: static_resources.clusters[0].ring_hash_lb_config.minimum_ring_size: must be at least 1" },
	{ HC_START "    outlier_detection: {base_ejection_time: 60s, max_ejection_time: 30s}\n",
	  "t.yaml:9: static_resources.clusters[0].outlier_detection: max_ejection_time (30000ms) is below base_ejection_time (60000ms)" },
	{ HC_START "    outlier_detection: {interval: 0s}\n",
	  "t.yaml:9: static_resources.clusters[0].outlier_detection.interval: must be more than 0s" },
	{ HC_START "    outlier_detection: {max_ejection_percent: 101}\n",
	  "t.yaml:9: static_resources.clusters[0].outlier_detection.max_ejection_percent: must be at most 100" },
	{ HC_START HC_COMMON "grpc_health_check: {}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].grpc_health_check: not supported by skiff (supported: http_health_check, tcp_health_check)" },
	{ HC_START HC_COMMON "http_health_check: {path: /h}, tcp_health_check: {}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check: only one of http_health_check, tcp_health_check may be set" },
	{ HC_START HC_COMMON "tcp_health_check: {}, http_health_check: {path: /h}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].http_health_check: only one of http_health_check, tcp_health_check may be set" },
	{ HC_START "    health_checks: [{timeout: 1s, interval: 5s, unhealthy_threshold: 2, healthy_threshold: 1}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0]: expected one of http_health_check, tcp_health_check" },
	{ HC_START HC_COMMON "tcp_health_check: {send: {text: 0g}}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check.send.text: expected hex digits, two per byte" },
	{ HC_START HC_COMMON "tcp_health_check: {send: {text: abc}}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check.send.text: expected hex digits, two per byte" },
	{ HC_START HC_COMMON "tcp_health_check: {send: {binary: \"!!!!\"}}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check.send.binary: expected base64" },
	{ HC_START HC_COMMON "tcp_health_check: {send: {text: \"00\", binary: AA==}}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check.send.binary: only one of text, binary may be set" },
	{ HC_START HC_COMMON "tcp_health_check: {send: {}}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check.send: expected one of text, binary" },
	{ HC_START HC_COMMON "tcp_health_check: {receive: [{text: \"50\"}, {binary: \"\"}]}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check.receive[1].binary: must not be empty" },
	{ HC_START HC_COMMON "tcp_health_check: {receive: [{text: \"50\"}, {text: \"" HEX_1025 "\"}]}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].tcp_health_check.receive[1].text: must be at most 1024 bytes, got 1025" },
	{ HC_START "    health_checks: [{timeout: 1s, interval: 5s, unhealthy_threshold: 2, healthy_threshold: 1, http_health_check: {}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].http_health_check.path: required" },
	{ HC_START "    health_checks: [{timeout: 1s, interval: 5s, unhealthy_threshold: 2, http_health_check: {path: /h}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].healthy_threshold: required" },
	{ HC_START "    health_checks: [{timeout: 1s, interval: 5s, unhealthy_threshold: 2, healthy_threshold: 1, http_health_check: {path: h}}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks[0].http_health_check.path: must start with '/'" },
	{ HC_START "    health_checks: [{}, {}]\n",
	  "t.yaml:9: static_resources.clusters[0].health_checks: expected at most one health check (skiff supports one), got 2" },
	{ HC_START "    circuit_breakers: {thresholds: [{}, {priority: HIGH}]}\n",
	  "t.yaml:9: static_resources.clusters[0].circuit_breakers.thresholds: expected at most one threshold "
	  "(skiff supports priority DEFAULT), got 2" },
	{ HC_START "    circuit_breakers: {thresholds: [{retry_budget: {budget_percent: {value: 150}}}]}\n",
	  "t.yaml:9: static_resources.clusters[0].circuit_breakers.thresholds[0].retry_budget.budget_percent.value: must be between 0 and 100" },
	{ HC_START "    circuit_breakers: {thresholds: [{track_remaining: sometimes}]}\n",
	  "t.yaml:9: static_resources.clusters[0].circuit_breakers.thresholds[0].track_remaining: expected a bool (true or false)" },
	{ HC_START "    circuit_breakers: {thresholds: [{retry_budget: {budget_percent: {value: many}}}]}\n",
	  "t.yaml:9: static_resources.clusters[0].circuit_breakers.thresholds[0].retry_budget.budget_percent.value: expected a number" },
	{ HC_START "    circuit_breakers: {thresholds: [{priority: HIGH}]}\n",
	  "t.yaml:9: static_resources.clusters[0].circuit_breakers.thresholds[0].priority: not supported by skiff: HIGH (supported: DEFAULT)" },
	{ HC_START "    typed_extension_protocol_options:\n      envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions: {}\n",
	  "t.yaml:10: static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.tcp.v3."
	  "TcpProtocolOpt...: not supported by skiff (supported: envoy.extensions.upstreams.http.v3.HttpProtocolOptions)" },
	{ HC_START "    typed_extension_protocol_options:\n      envoy.extensions.upstreams.http.v3.HttpProtocolOptions: {\"@type\": " HOPTS ", explicit_http_config: {}}\n",
	  "t.yaml:10: static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3."
	  "HttpProtocolOptions.explicit_http_config: expected one of http_protocol_options, http2_protocol_options" },
	{ HC_START "    typed_extension_protocol_options:\n      envoy.extensions.upstreams.http.v3.HttpProtocolOptions: {\"@type\": " HOPTS ", auto_config: {}}\n",
	  "t.yaml:10: static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3."
	  "HttpProtocolOptions.auto_config: not supported by skiff (use explicit_http_config)" },
	{ HC_START "    typed_extension_protocol_options:\n      envoy.extensions.upstreams.http.v3.HttpProtocolOptions: {explicit_http_config: {}}\n",
	  "t.yaml:10: static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3."
	  "HttpProtocolOptions.@type: required" },
};

static int load(const char *yaml, struct snapshot **out, char *err, size_t errlen)
{
	return bootstrap_load_string("t.yaml", yaml, strlen(yaml), out, err, errlen);
}

static void run_bad_case(void **state)
{
	const struct bad_case *tc = *state;
	struct snapshot *snap = (struct snapshot *)0x1;
	char err[512];
	int rc = load(tc->yaml, &snap, err, sizeof(err));
	if (rc != -EINVAL || strcmp(err, tc->err) != 0)
		print_error("input:\n%s\n", tc->yaml);
	assert_string_equal(err, tc->err);
	assert_int_equal(rc, -EINVAL);
	assert_ptr_equal(snap, (struct snapshot *)0x1); /* untouched on error */
}

/* ---- good configurations ----------------------------------------------- */

static struct snapshot *load_ok(const char *yaml)
{
	struct snapshot *snap = NULL;
	char err[512] = "";
	int rc = load(yaml, &snap, err, sizeof(err));
	if (rc)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(snap);
	assert_string_equal(err, "");
	return snap;
}

static void assert_addr(const struct sock_addr *a, const char *want)
{
	char buf[SOCK_ADDR_STRLEN];
	assert_string_equal(sock_addr_format(a, buf, sizeof(buf)), want);
}

static void test_embedded_default(void **state)
{
	struct snapshot *snap = NULL;
	char err[512] = "";
	(void)state;
	assert_int_equal(bootstrap_load_string("<embedded>", bootstrap_default_yaml,
					       strlen(bootstrap_default_yaml), &snap, err, sizeof(err)), 0);
	assert_int_equal(atomic_load(&snap->refs), 1);
	assert_string_equal(snap->source, "<embedded>");
	assert_string_equal(snap->node.id, "sidecar~127.0.0.1~skiff~default.svc.cluster.local");
	assert_string_equal(snap->node.cluster, "skiff");
	assert_addr(&snap->admin.addr, "127.0.0.1:15000");
	assert_null(snap->ads.cluster_name);

	assert_int_equal(snap->n_listeners, 2);
	const struct listener *out = &snap->listeners[0], *in = &snap->listeners[1];
	assert_string_equal(out->name, "virtualOutbound");
	assert_addr(&out->addr, "0.0.0.0:15001");
	assert_true(out->use_original_dst);
	assert_int_equal(out->direction, DIRECTION_OUTBOUND);
	assert_string_equal(out->chains[0].tcp_proxy.cluster_name, "PassthroughCluster");
	assert_ptr_equal(out->chains[0].tcp_proxy.cluster, &snap->clusters[0]);
	assert_int_equal(out->chains[0].tcp_proxy.idle_timeout_ms, 3600000);
	assert_string_equal(out->chains[0].tcp_proxy.access_log.path, "/dev/stdout");
	assert_string_equal(in->name, "virtualInbound");
	assert_addr(&in->addr, "0.0.0.0:15006");
	assert_true(in->use_original_dst);
	assert_int_equal(in->direction, DIRECTION_INBOUND);
	assert_ptr_equal(in->chains[0].tcp_proxy.cluster, &snap->clusters[1]);
	assert_string_equal(in->chains[0].tcp_proxy.access_log.path, "/dev/stdout");

	assert_int_equal(snap->n_clusters, 2);
	const struct cluster *pass = &snap->clusters[0], *inpass = &snap->clusters[1];
	assert_string_equal(pass->name, "PassthroughCluster");
	assert_int_equal(pass->type, CLUSTER_ORIGINAL_DST);
	assert_int_equal(pass->lb_policy, LB_CLUSTER_PROVIDED);
	assert_int_equal(pass->connect_timeout_ms, 10000);
	assert_false(pass->has_source_address);
	assert_int_equal(pass->n_endpoints, 0);
	assert_string_equal(inpass->name, "InboundPassthroughCluster");
	assert_int_equal(inpass->type, CLUSTER_ORIGINAL_DST);
	assert_int_equal(inpass->lb_policy, LB_CLUSTER_PROVIDED);
	assert_true(inpass->has_source_address);
	assert_addr(&inpass->source_address, "127.0.0.6:0");
	snapshot_unref(snap);
}

static void test_full(void **state)
{
	static const char yaml[] =
		"node:\n"
		"  id: n1\n"
		"  cluster: c1\n"
		"  metadata: {ISTIO_VERSION: \"1.20\", LABELS: {app: a}}\n"
		"  locality: {zone: z}\n"
		"admin:\n"
		"  access_log_path: /dev/null\n"
		"  access_log: []\n"
		"  address: {socket_address: {address: \"::1\", port_value: 9901}}\n"
		"layered_runtime: {layers: [{name: static, static_layer: {}}]}\n"
		"stats_config: {}\n"
		"overload_manager: {refresh_interval: 0.25s}\n"
		"static_resources:\n"
		"  listeners:\n"
		"  - name: in\n"
		"    address: {socket_address: {address: \"::\", port_value: 8443}}\n"
		"    traffic_direction: UNSPECIFIED\n"
		"    use_original_dst: false\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.tcp_proxy\n"
		"        typed_config:\n"
		"          stat_prefix: \"in \\\"quoted\\\"\"\n"
		"          \"@type\": " TCP "\n"
		"          cluster: backend\n"
		"          idle_timeout: 0s\n"
		"          access_log: []\n"
		"  - name: tls\n"
		"    address: {socket_address: {address: 10.1.2.3, port_value: 0}}\n"
		"    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: "
		"{\"@type\": " TCP ", stat_prefix: t, cluster: xds, idle_timeout: 1.5s, access_log: "
		"[{typed_config: {\"@type\": " LOG ", path: /var/log/a.log}}]}}]}]\n"
		"  - name: any-port-too\n"
		"    address: {socket_address: {address: 10.1.2.3, port_value: 0}}\n"
		"    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: "
		"{\"@type\": " TCP ", stat_prefix: t, cluster: xds}}]}]\n"
		"  clusters:\n"
		"  - name: backend\n"
		"    type: STATIC\n"
		"    lb_policy: ROUND_ROBIN\n"
		"    connect_timeout: 0.25s\n"
		"    upstream_bind_config: {source_address: {address: 10.0.0.9, port_value: 4000}}\n"
		"    load_assignment:\n"
		"      cluster_name: backend\n"
		"      endpoints:\n"
		"      - lb_endpoints:\n"
		"        - " ENDPOINT("10.0.0.1", "8080") "\n"
		"        - " ENDPOINT("\"fd00::2\"", "8080") "\n"
		"      - lb_endpoints: []\n"
		"      - {}\n"
		"      - lb_endpoints:\n"
		"        - " ENDPOINT("10.0.0.3", "65535") "\n"
		"  - name: xds\n"
		"    load_assignment: {cluster_name: xds, endpoints: [{lb_endpoints: [" ENDPOINT("10.9.9.9", "15010") "]}]}\n"
		"  - name: orig\n"
		"    type: ORIGINAL_DST\n"
		"    load_assignment: {cluster_name: orig, endpoints: [{lb_endpoints: []}]}\n"
		"dynamic_resources:\n"
		"  ads_config:\n"
		"    api_type: DELTA_GRPC\n"
		"    transport_api_version: V3\n"
		"    grpc_services:\n"
		"    - envoy_grpc: {cluster_name: xds}\n"
		"  lds_config: {ads: {}, resource_api_version: V3}\n"
		"  cds_config: {resource_api_version: V3, ads: {}}\n";
	(void)state;
	struct snapshot *snap = load_ok(yaml);
	assert_string_equal(snap->source, "t.yaml");
	assert_int_equal(snap->version, 0);
	assert_string_equal(snap->node.id, "n1");
	assert_string_equal(snap->node.cluster, "c1");
	assert_addr(&snap->admin.addr, "[::1]:9901");
	assert_string_equal(snap->ads.cluster_name, "xds");
	assert_true(snap->ads.delta);

	assert_int_equal(snap->n_listeners, 3);
	const struct listener *in = &snap->listeners[0], *tls = &snap->listeners[1];
	assert_addr(&in->addr, "[::]:8443");
	assert_false(in->use_original_dst);
	assert_int_equal(in->direction, DIRECTION_UNSPECIFIED);
	assert_string_equal(in->chains[0].tcp_proxy.stat_prefix, "in \"quoted\"");
	assert_ptr_equal(in->chains[0].tcp_proxy.cluster, &snap->clusters[0]);
	assert_int_equal(in->chains[0].tcp_proxy.idle_timeout_ms, 0);
	assert_null(in->chains[0].tcp_proxy.access_log.path);
	assert_addr(&tls->addr, "10.1.2.3:0");
	assert_ptr_equal(tls->chains[0].tcp_proxy.cluster, &snap->clusters[1]);
	assert_int_equal(tls->chains[0].tcp_proxy.idle_timeout_ms, 1500);
	assert_string_equal(tls->chains[0].tcp_proxy.access_log.path, "/var/log/a.log");

	assert_int_equal(snap->n_clusters, 3);
	const struct cluster *be = &snap->clusters[0];
	assert_int_equal(be->type, CLUSTER_STATIC);
	assert_int_equal(be->lb_policy, LB_ROUND_ROBIN);
	assert_int_equal(be->connect_timeout_ms, 250);
	assert_true(be->has_source_address);
	assert_addr(&be->source_address, "10.0.0.9:4000");
	assert_int_equal(be->n_endpoints, 3);
	assert_addr(&be->endpoints[0].addr, "10.0.0.1:8080");
	assert_addr(&be->endpoints[1].addr, "[fd00::2]:8080");
	assert_addr(&be->endpoints[2].addr, "10.0.0.3:65535");
	assert_int_equal(snap->clusters[1].n_endpoints, 1);
	assert_int_equal(snap->clusters[2].type, CLUSTER_ORIGINAL_DST);
	assert_int_equal(snap->clusters[2].lb_policy, LB_CLUSTER_PROVIDED);
	snapshot_unref(snap);
}

/* Istio's PERMISSIVE mode: mTLS and plaintext on one port, told apart by
 * the tls_inspector. */
static void test_permissive(void **state)
{
	static const char yaml[] =
		"static_resources:\n"
		"  listeners:\n"
		"  - name: virtualInbound\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 15006}}\n"
		"    use_original_dst: true\n"
		"    traffic_direction: INBOUND\n"
		"    listener_filters:\n"
		"    - name: envoy.filters.listener.original_dst\n"
		"      typed_config: {\"@type\": " ORIG_DST "}\n"
		"    - name: envoy.filters.listener.tls_inspector\n"
		"      typed_config: {\"@type\": " INSPECTOR "}\n"
		"    filter_chains:\n"
		"    - name: mtls\n"
		"      filter_chain_match: {transport_protocol: tls}\n"
		"      transport_socket:\n"
		"        name: envoy.transport_sockets.tls\n"
		"        typed_config:\n"
		"          \"@type\": " DTLS "\n"
		"          require_client_certificate: true\n"
		"          common_tls_context:\n"
		"            tls_params: {tls_minimum_protocol_version: TLSv1_2, tls_maximum_protocol_version: TLSv1_3}\n"
		"            alpn_protocols: [h2, http/1.1, skiff-tcp]\n"
		"            tls_certificates:\n"
		"            - certificate_chain: {filename: /etc/certs/cert.pem}\n"
		"              private_key: {filename: /etc/certs/key.pem}\n"
		"            validation_context:\n"
		"              trusted_ca: {filename: /etc/certs/ca.pem}\n"
		"              match_typed_subject_alt_names:\n"
		"              - san_type: URI\n"
		"                matcher: {exact: \"spiffe://cluster.local/ns/default/sa/client\"}\n"
		"              - {san_type: URI, matcher: {exact: " WEB "}}\n"
		"      filters:\n"
		"      - name: envoy.filters.network.tcp_proxy\n"
		"        typed_config: {\"@type\": " TCP ", stat_prefix: inbound_mtls, cluster: InboundPassthroughCluster}\n"
		"    - name: plaintext\n"
		"      filter_chain_match: {transport_protocol: raw_buffer}\n"
		"      filters:\n"
		"      - name: envoy.filters.network.tcp_proxy\n"
		"        typed_config: {\"@type\": " TCP ", stat_prefix: inbound_plain, cluster: InboundPassthroughCluster, idle_timeout: 10s}\n"
		"  - name: plaintext-first\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 8443}}\n"
		"    listener_filters: [{name: envoy.filters.listener.tls_inspector}]\n"
		"    filter_chains:\n" CHAIN_ANY CHAIN_TLS
		"  clusters:\n"
		"  - name: InboundPassthroughCluster\n"
		"    type: ORIGINAL_DST\n" CLUSTER("c");
	(void)state;
	struct snapshot *snap = load_ok(yaml);
	const struct listener *l = &snap->listeners[0];
	assert_int_equal(l->n_chains, 2);
	const struct filter_chain *mtls = &l->chains[0], *plain = &l->chains[1];
	assert_string_equal(mtls->name, "mtls");
	assert_int_equal(mtls->match, CHAIN_MATCH_TLS);
	assert_null(mtls->rbac);
	const struct tls_config *tls = mtls->tls;
	assert_non_null(tls);
	assert_string_equal(tls->cert_chain_file, "/etc/certs/cert.pem");
	assert_string_equal(tls->private_key_file, "/etc/certs/key.pem");
	assert_string_equal(tls->trusted_ca_file, "/etc/certs/ca.pem");
	assert_int_equal(tls->n_match_sans, 2);
	assert_string_equal(tls->match_sans[0], "spiffe://cluster.local/ns/default/sa/client");
	assert_string_equal(tls->match_sans[1], WEB);
	assert_int_equal(tls->n_alpn, 3);
	assert_string_equal(tls->alpn[0], "h2");
	assert_string_equal(tls->alpn[1], "http/1.1");
	assert_string_equal(tls->alpn[2], "skiff-tcp");
	assert_int_equal(tls->min_version, 0x0303);
	assert_true(tls->require_client_certificate);
	assert_null(tls->sni);
	assert_null(tls->ctx);
	assert_null(tls->identity);
	assert_string_equal(mtls->tcp_proxy.stat_prefix, "inbound_mtls");
	assert_ptr_equal(mtls->tcp_proxy.cluster, &snap->clusters[0]);
	assert_int_equal(mtls->tcp_proxy.idle_timeout_ms, 3600000);

	assert_string_equal(plain->name, "plaintext");
	assert_int_equal(plain->match, CHAIN_MATCH_RAW_BUFFER);
	assert_null(plain->tls);
	assert_null(plain->rbac);
	assert_string_equal(plain->tcp_proxy.stat_prefix, "inbound_plain");
	assert_ptr_equal(plain->tcp_proxy.cluster, &snap->clusters[0]);
	assert_int_equal(plain->tcp_proxy.idle_timeout_ms, 10000);

	/* the plaintext chain may come first and match anything */
	l = &snap->listeners[1];
	assert_int_equal(l->n_chains, 2);
	assert_null(l->chains[0].name);
	assert_int_equal(l->chains[0].match, CHAIN_MATCH_ANY);
	assert_null(l->chains[0].tls);
	assert_int_equal(l->chains[1].match, CHAIN_MATCH_TLS);
	assert_non_null(l->chains[1].tls);
	assert_ptr_equal(l->chains[1].tcp_proxy.cluster, &snap->clusters[1]);
	snapshot_unref(snap);
}

/* Istio's STRICT mode: one TLS chain, matched on anything or on tls. */
static void test_strict(void **state)
{
	static const char yaml[] =
		"static_resources:\n"
		"  listeners:\n"
		"  - name: strict\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 15006}}\n"
		"    filter_chains:\n"
		"    - transport_socket:\n"
		"        name: envoy.transport_sockets.tls\n"
		"        typed_config:\n"
		"          \"@type\": " DTLS "\n"
		"          common_tls_context:\n"
		"            tls_certificates:\n"
		"            - {certificate_chain: {filename: /c.pem}, private_key: {filename: /k.pem}}\n"
		"      filters: [" TP_FLOW "]\n"
		"  - name: strict-matched\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 15007}}\n"
		"    listener_filters:\n"
		"    - name: envoy.filters.listener.tls_inspector\n"
		"      typed_config: {\"@type\": " INSPECTOR "}\n"
		"    filter_chains:\n"
		"    - filter_chain_match: {transport_protocol: tls}\n"
		"      transport_socket:\n"
		"        name: envoy.transport_sockets.tls\n"
		"        typed_config:\n"
		"          \"@type\": " DTLS "\n"
		"          require_client_certificate: false\n"
		"          common_tls_context:\n"
		"            tls_params: {tls_minimum_protocol_version: TLS_AUTO, tls_maximum_protocol_version: TLS_AUTO}\n"
		"            alpn_protocols: []\n"
		"            tls_certificates:\n"
		"            - {certificate_chain: {filename: /c.pem}, private_key: {filename: /k.pem}}\n"
		"            validation_context: {trusted_ca: {filename: /ca.pem}, match_typed_subject_alt_names: []}\n"
		"      filters: [" TP_FLOW "]\n"
		"  clusters:\n" CLUSTER("c");
	(void)state;
	struct snapshot *snap = load_ok(yaml);
	const struct listener *l = &snap->listeners[0];
	assert_int_equal(l->n_chains, 1);
	assert_int_equal(l->chains[0].match, CHAIN_MATCH_ANY);
	const struct tls_config *tls = l->chains[0].tls;
	assert_non_null(tls);
	assert_string_equal(tls->cert_chain_file, "/c.pem");
	assert_string_equal(tls->private_key_file, "/k.pem");
	assert_null(tls->trusted_ca_file);
	assert_int_equal(tls->n_match_sans, 0);
	assert_int_equal(tls->n_alpn, 0);
	assert_int_equal(tls->min_version, 0x0304); /* skiff's default */
	assert_false(tls->require_client_certificate); /* Envoy's default */

	l = &snap->listeners[1];
	assert_int_equal(l->n_chains, 1);
	assert_int_equal(l->chains[0].match, CHAIN_MATCH_TLS);
	tls = l->chains[0].tls;
	assert_string_equal(tls->trusted_ca_file, "/ca.pem");
	assert_int_equal(tls->n_match_sans, 0);
	assert_int_equal(tls->n_alpn, 0);
	assert_int_equal(tls->min_version, 0x0304);
	assert_false(tls->require_client_certificate);
	snapshot_unref(snap);
}

static void test_rbac(void **state)
{
	static const char yaml[] =
		"static_resources:\n"
		"  listeners:\n"
		"  - name: allow\n"
		"    address: {socket_address: {address: 127.0.0.1, port_value: 80}}\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.rbac\n"
		"        typed_config:\n"
		"          \"@type\": " RBAC "\n"
		"          stat_prefix: inbound_rbac\n"
		"          rules:\n"
		"            action: ALLOW\n"
		"            policies:\n"
		"              allow-web:\n"
		"                permissions: [{any: true}, {destination_port: 8080}]\n"
		"                principals: [{authenticated: {principal_name: {exact: " WEB "}}}, {any: true}]\n"
		"              ports-only:\n"
		"                principals: [{any: true}]\n"
		"                permissions: [{destination_port: 9090}]\n"
		"      - " TP_FLOW "\n"
		"  - name: deny\n"
		"    address: {socket_address: {address: 127.0.0.1, port_value: 81}}\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.rbac\n"
		"        typed_config:\n"
		"          \"@type\": " RBAC "\n"
		"          stat_prefix: deny_rbac\n"
		"          rules:\n"
		"            action: DENY\n"
		"            policies:\n"
		"              \"deny admin\": {permissions: [{destination_port: 15000}], principals: [{any: true}]}\n"
		"      - " TP_FLOW "\n"
		"  - name: nothing-allowed\n"
		"    address: {socket_address: {address: 127.0.0.1, port_value: 82}}\n"
		"    filter_chains: [{filters: [" RBAC_FLOW("{}") ", " TP_FLOW "]}]\n"
		"  - name: nothing-denied\n"
		"    address: {socket_address: {address: 127.0.0.1, port_value: 83}}\n"
		"    filter_chains: [{filters: [" RBAC_FLOW("{action: DENY, policies: {}}") ", " TP_FLOW "]}]\n"
		"  clusters:\n" CLUSTER("c");
	(void)state;
	struct snapshot *snap = load_ok(yaml);
	const struct filter_chain *fc = &snap->listeners[0].chains[0];
	const struct rbac_config *r = fc->rbac;
	assert_non_null(r);
	assert_ptr_equal(fc->tcp_proxy.cluster, &snap->clusters[0]);
	assert_string_equal(r->stat_prefix, "inbound_rbac");
	assert_int_equal(r->action, RBAC_ALLOW);
	assert_int_equal(r->n_policies, 2);
	const struct rbac_policy *p = &r->policies[0];
	assert_string_equal(p->name, "allow-web");
	assert_int_equal(p->n_permissions, 2);
	assert_true(p->permissions[0].any);
	assert_false(p->permissions[1].any);
	assert_int_equal(p->permissions[1].destination_port, 8080);
	assert_int_equal(p->n_principals, 2);
	assert_false(p->principals[0].any);
	assert_string_equal(p->principals[0].principal_name, WEB);
	assert_true(p->principals[1].any);
	assert_null(p->principals[1].principal_name);
	p = &r->policies[1];
	assert_string_equal(p->name, "ports-only");
	assert_int_equal(p->n_permissions, 1);
	assert_int_equal(p->permissions[0].destination_port, 9090);
	assert_int_equal(p->n_principals, 1);
	assert_true(p->principals[0].any);

	r = snap->listeners[1].chains[0].rbac;
	assert_string_equal(r->stat_prefix, "deny_rbac");
	assert_int_equal(r->action, RBAC_DENY);
	assert_int_equal(r->n_policies, 1);
	assert_string_equal(r->policies[0].name, "deny admin");
	assert_int_equal(r->policies[0].permissions[0].destination_port, 15000);

	/* no policies: ALLOW lets nothing through, DENY stops nothing (Envoy) */
	r = snap->listeners[2].chains[0].rbac;
	assert_int_equal(r->action, RBAC_ALLOW);
	assert_int_equal(r->n_policies, 0);
	assert_null(r->policies);
	r = snap->listeners[3].chains[0].rbac;
	assert_int_equal(r->action, RBAC_DENY);
	assert_int_equal(r->n_policies, 0);
	snapshot_unref(snap);
}

static void test_upstream_tls(void **state)
{
	static const char yaml[] =
		"static_resources:\n"
		"  clusters:\n"
		"  - name: outbound|8080||web.default.svc.cluster.local\n"
		"    connect_timeout: 1s\n"
		"    load_assignment:\n"
		"      cluster_name: outbound|8080||web.default.svc.cluster.local\n"
		"      endpoints: [{lb_endpoints: [" ENDPOINT("10.0.0.7", "8080") "]}]\n"
		"    transport_socket:\n"
		"      name: envoy.transport_sockets.tls\n"
		"      typed_config:\n"
		"        \"@type\": " UTLS "\n"
		"        sni: web.default.svc.cluster.local\n"
		"        common_tls_context:\n"
		"          alpn_protocols: [skiff-tcp]\n"
		"          tls_params: {tls_minimum_protocol_version: TLSv1_2}\n"
		"          tls_certificates:\n"
		"          - certificate_chain: {filename: /etc/certs/cert.pem}\n"
		"            private_key: {filename: /etc/certs/key.pem}\n"
		"          validation_context:\n"
		"            trusted_ca: {filename: /etc/certs/ca.pem}\n"
		"            match_typed_subject_alt_names:\n"
		"            - {san_type: URI, matcher: {exact: " WEB "}}\n"
		"  - name: plain\n"
		"    type: ORIGINAL_DST\n"
		"  - name: no-sni\n"
		"    type: ORIGINAL_DST\n"
		"    transport_socket:\n"
		"      name: envoy.transport_sockets.tls\n"
		"      typed_config: {\"@type\": " UTLS ", common_tls_context: {" CERTS ", "
		"validation_context: {trusted_ca: {filename: /ca.pem}}}}\n";
	(void)state;
	struct snapshot *snap = load_ok(yaml);
	const struct tls_config *tls = snap->clusters[0].tls;
	assert_non_null(tls);
	assert_string_equal(tls->sni, "web.default.svc.cluster.local");
	assert_string_equal(tls->cert_chain_file, "/etc/certs/cert.pem");
	assert_string_equal(tls->private_key_file, "/etc/certs/key.pem");
	assert_string_equal(tls->trusted_ca_file, "/etc/certs/ca.pem");
	assert_int_equal(tls->n_match_sans, 1);
	assert_string_equal(tls->match_sans[0], WEB);
	assert_int_equal(tls->n_alpn, 1);
	assert_string_equal(tls->alpn[0], "skiff-tcp");
	assert_int_equal(tls->min_version, 0x0303);
	assert_false(tls->require_client_certificate);
	assert_int_equal(snap->clusters[0].n_endpoints, 1);
	assert_null(snap->clusters[1].tls);
	tls = snap->clusters[2].tls;
	assert_non_null(tls);
	assert_null(tls->sni);
	assert_int_equal(tls->n_match_sans, 0);
	assert_int_equal(tls->min_version, 0x0304);
	snapshot_unref(snap);
}

/* The limits on lists and names a handshake walks. */
static void test_tls_limits(void **state)
{
	char long_name[300], *yaml = malloc(64 * 1024);
	struct snapshot *snap = NULL;
	char err[512];
	(void)state;
	assert_non_null(yaml);
	memset(long_name, 'a', 256);
	long_name[256] = '\0';

	size_t n = (size_t)snprintf(yaml, 64 * 1024, "%s            validation_context:\n"
				    "              trusted_ca: {filename: /ca.pem}\n"
				    "              match_typed_subject_alt_names:\n", CTC_START);
	for (int i = 0; i < 257; i++)
		n += (size_t)snprintf(yaml + n, 64 * 1024 - n, "              - {san_type: URI, "
				      "matcher: {exact: \"spiffe://td/sa/%d\"}}\n", i);
	snprintf(yaml + n, 64 * 1024 - n, "%s", CLUSTERS_C);
	assert_int_equal(load(yaml, &snap, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:16: " P_SAN ": too many SAN matchers: 257 (at most 256)");

	snprintf(yaml, 64 * 1024, "%s            alpn_protocols: [h2, %s]\n%s", CTC_START, long_name, CLUSTERS_C);
	assert_int_equal(load(yaml, &snap, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:13: " P_CTC ".alpn_protocols[1]: longer than 255 bytes");

	snprintf(yaml, 64 * 1024, "%s%s        sni: %s\n", UT_START, UT_CTC, long_name);
	assert_int_equal(load(yaml, &snap, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:16: " P_UT ".sni: longer than 255 bytes");
	assert_null(snap);

	/* 255 bytes is an allowed ALPN protocol and SNI */
	long_name[255] = '\0';
	snprintf(yaml, 64 * 1024, "%s            alpn_protocols: [%s]\n%s", CTC_START, long_name, CLUSTERS_C);
	snap = load_ok(yaml);
	assert_int_equal(strlen(snap->listeners[0].chains[0].tls->alpn[0]), 255);
	snapshot_unref(snap);
	snprintf(yaml, 64 * 1024, "%s%s        sni: %s\n", UT_START, UT_CTC, long_name);
	snap = load_ok(yaml);
	assert_int_equal(strlen(snap->clusters[0].tls->sni), 255);
	snapshot_unref(snap);
	free(yaml);
}

/* Every HTTP field read into the snapshot. */
/* upgrade_configs: websocket in any case, CONNECT; an entry with
 * enabled: false leaves its type off. */
static void test_upgrade_configs(void **state)
{
	(void)state;
	static const struct {
		const char *entries;
		bool websocket, connect;
	} cases[] = {
		{ "[{upgrade_type: WebSocket}, {upgrade_type: CONNECT}]", true, true },
		{ "[{upgrade_type: websocket, enabled: true}]", true, false },
		{ "[{upgrade_type: websocket, enabled: false}, {upgrade_type: CONNECT}]", false, true },
		{ "[]", false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[2048];
		snprintf(yaml, sizeof(yaml),
			 H_RC("{match: {prefix: /}, route: {cluster: c}}") "          upgrade_configs: %s\n" CLUSTERS_C,
			 cases[i].entries);
		struct snapshot *snap = load_ok(yaml);
		const struct http_conn_manager_config *h = snap->listeners[0].chains[0].http;
		assert_int_equal(h->upgrade_websocket, cases[i].websocket);
		assert_int_equal(h->upgrade_connect, cases[i].connect);
		snapshot_unref(snap);
	}
}

static void test_http(void **state)
{
	(void)state;
	struct snapshot *snap = load_ok(
		"static_resources:\n"
		"  listeners:\n"
		"  - name: web\n"
		"    address: {socket_address: {address: 0.0.0.0, port_value: 8080}}\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.rbac\n"
		"        typed_config: {\"@type\": " RBAC ", stat_prefix: r, rules: {}}\n"
		"      - name: envoy.filters.network.http_connection_manager\n"
		"        typed_config:\n"
		"          \"@type\": " HCM "\n"
		"          stat_prefix: ingress\n"
		"          codec_type: HTTP2\n"
		"          http_filters:\n"
		"          - name: envoy.filters.http.router\n"
		"            typed_config: {\"@type\": " ROUTER "}\n"
		"          access_log:\n"
		"          - name: envoy.access_loggers.file\n"
		"            typed_config: {\"@type\": " LOG ", path: /var/log/http.log}\n"
		"          http2_protocol_options: {max_concurrent_streams: 50, initial_stream_window_size: 65535, initial_connection_window_size: 1048576,\n"
		"                                   max_outbound_frames: 500, max_outbound_control_frames: 50, max_consecutive_inbound_frames_with_empty_payload: 0}\n"
		"          common_http_protocol_options: {idle_timeout: 60s, max_headers_count: 50}\n"
		"          max_request_headers_kb: 96\n"
		"          stream_idle_timeout: 30s\n"
		"          request_timeout: 10s\n"
		"          drain_timeout: 2s\n"
		"          generate_request_id: false\n"
		"          route_config:\n"
		"            name: local\n"
		"            request_headers_to_add: [{header: {key: X-Mesh, value: skiff}}]\n"
		"            response_headers_to_remove: [Server]\n"
		"            virtual_hosts:\n"
		"            - name: api\n"
		"              domains: [API.example.com, \"*.api.example.com\", \"api.*\"]\n"
		"              response_headers_to_add: [{header: {key: x-vh, value: \"1\"}, append: false}]\n"
		"              routes:\n"
		"              - name: regex\n"
		"                match:\n"
		"                  safe_regex: {google_re2: {}, regex: \"/v[0-9]+/.*\"}\n"
		"                  case_sensitive: false\n"
		"                  headers:\n"
		"                  - {name: X-Env, string_match: {exact: prod, ignore_case: true}}\n"
		"                  - {name: \":method\", exact_match: GET, invert_match: true}\n"
		"                  - {name: x-a, prefix_match: a}\n"
		"                  - {name: x-b, suffix_match: b}\n"
		"                  - {name: x-c, contains_match: c}\n"
		"                  - {name: x-d, safe_regex_match: {regex: \"d+\"}}\n"
		"                  - {name: x-e, present_match: true}\n"
		"                  - {name: x-f}\n"
		"                  - {name: x-g, string_match: {safe_regex: {regex: \"g.*\"}}}\n"
		"                  query_parameters:\n"
		"                  - {name: debug, present_match: true}\n"
		"                  - {name: v, string_match: {suffix: \"2\"}}\n"
		"                route:\n"
		"                  weighted_clusters:\n"
		"                    clusters: [{name: v1, weight: 90}, {name: v2, weight: 10}]\n"
		"                  timeout: 3s\n"
		"                  idle_timeout: 20s\n"
		"                  prefix_rewrite: /\n"
		"                  host_rewrite_literal: backend.local\n"
		"                  retry_policy:\n"
		"                    retry_on: \"5xx,gateway-error, reset,connect-failure,retriable-status-codes,refused-stream\"\n"
		"                    num_retries: 3\n"
		"                    per_try_timeout: 0.5s\n"
		"                    retriable_status_codes: [503, 429]\n"
		"                    retry_back_off: {base_interval: 0.1s, max_interval: 2s}\n"
		"                    retry_host_predicate:\n"
		"                    - name: envoy.retry_host_predicates.previous_hosts\n"
		"                      typed_config: {\"@type\": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate}\n"
		"                    host_selection_retry_max_attempts: 5\n"
		"                  hash_policy: [{header: {header_name: X-User}}, {query_parameter: {name: shard}, terminal: true},\n"
		"                                {connection_properties: {source_ip: true}}, {cookie: {name: sid, ttl: 90s, path: /}}]\n"
		"                request_headers_to_remove: [x-internal]\n"
		"                request_headers_to_add:\n"
		"                - {header: {key: x-a, value: \"1\"}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}\n"
		"                - {header: {key: x-b}, append_action: APPEND_IF_EXISTS_OR_ADD}\n"
		"              - match: {path: /old}\n"
		"                redirect: {host_redirect: new.example.com, path_redirect: /new, https_redirect: true, "
		"response_code: PERMANENT_REDIRECT, strip_query: true}\n"
		"              - match: {prefix: /p}\n"
		"                redirect: {prefix_rewrite: /q, scheme_redirect: http}\n"
		"              - match: {prefix: /health}\n"
		"                direct_response: {status: 200, body: {inline_string: ok}}\n"
		"              - match: {prefix: /}\n"
		"                route: {cluster: missing}\n"
		"  clusters:\n"
		"  - name: v1\n"
		"    lb_policy: RING_HASH\n"
		"    ring_hash_lb_config: {minimum_ring_size: 2048}\n"
		"    load_assignment:\n"
		"      cluster_name: v1\n"
		"      endpoints:\n"
		"      - lb_endpoints:\n"
		"        - {endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}, load_balancing_weight: 3}\n"
		"        - " ENDPOINT("10.0.0.2", "80") "\n"
		"    circuit_breakers: {thresholds: [{priority: DEFAULT, max_connections: 10, max_pending_requests: 20, max_requests: 30, max_retries: 4,\n"
		"                                   retry_budget: {budget_percent: {value: 25.5}, min_retry_concurrency: 5}, track_remaining: true}]}\n"
		"    outlier_detection: {consecutive_5xx: 3, consecutive_gateway_failure: 2, interval: 1s, base_ejection_time: 5s, max_ejection_time: 50s, max_ejection_percent: 50}\n"
		"    health_checks:\n"
		"    - {timeout: 1s, interval: 2s, unhealthy_threshold: 3, healthy_threshold: 2, http_health_check: {path: /healthz, host: v1.local}}\n"
		"    typed_extension_protocol_options:\n"
		"      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"
		"        \"@type\": " HOPTS "\n"
		"        explicit_http_config: {http2_protocol_options: {max_concurrent_streams: 7, max_consecutive_inbound_frames_with_empty_payload: 4294967295}}\n"
		"        common_http_protocol_options: {idle_timeout: 90s, max_requests_per_connection: 1000}\n"
		"  - name: v2\n"
		"    lb_policy: MAGLEV\n"
		"    maglev_lb_config: {table_size: 5003}\n"
		"    http2_protocol_options: {}\n"
		"    load_assignment: {cluster_name: v2, endpoints: [{lb_endpoints: [" ENDPOINT("10.0.1.1", "80") "]}]}\n"
		"    health_checks: [{timeout: 1s, interval: 2s, unhealthy_threshold: 1, healthy_threshold: 1,\n"
		"                     tcp_health_check: {send: {text: 50494E470d0a}, receive: [{binary: UE9ORw==}, {text: 0a}]}}]\n"
		"  - name: v3\n"
		"    lb_policy: LEAST_REQUEST\n"
		"    typed_extension_protocol_options:\n"
		"      envoy.extensions.upstreams.http.v3.HttpProtocolOptions: {\"@type\": " HOPTS ", explicit_http_config: {http_protocol_options: {}}}\n"
		"    load_assignment: {cluster_name: v3, endpoints: [{lb_endpoints: [" ENDPOINT("10.0.2.1", "80") "]}]}\n"
		"  - name: v4\n"
		"    lb_policy: RANDOM\n"
		"    load_assignment: {cluster_name: v4, endpoints: [{lb_endpoints: [" ENDPOINT("10.0.3.1", "80") "]}]}\n");
	const struct filter_chain *fc = &snap->listeners[0].chains[0];
	assert_non_null(fc->rbac);
	const struct http_conn_manager_config *h = fc->http;
	assert_non_null(h);
	assert_string_equal(h->stat_prefix, "ingress");
	assert_int_equal(h->codec, HTTP_CODEC_HTTP2);
	assert_null(h->rds_name);
	assert_true(h->route_config_owned);
	assert_string_equal(h->access_log.path, "/var/log/http.log");
	assert_int_equal(h->http2.max_concurrent_streams, 50);
	assert_int_equal(h->http2.initial_stream_window_size, 65535);
	assert_int_equal(h->http2.initial_connection_window_size, 1048576);
	assert_int_equal(h->http2.max_header_list_bytes, 96 * 1024);
	assert_int_equal(h->http2.max_headers_count, 50);
	assert_int_equal(h->http2.max_outbound_frames, 500);
	assert_int_equal(h->http2.max_outbound_control_frames, 50);
	assert_int_equal(h->http2.max_consecutive_empty_frames, 0);
	assert_int_equal(h->http2.max_continuations, 8); /* defaults kept */
	assert_int_equal(h->http2.stream_reset_burst, 1000);
	assert_int_equal(h->http2.max_server_resets, 100);
	assert_int_equal(h->idle_timeout_ms, 60000);
	assert_int_equal(h->max_headers_count, 50);
	assert_int_equal(h->max_request_headers_kb, 96);
	assert_int_equal(h->stream_idle_timeout_ms, 30000);
	assert_int_equal(h->request_timeout_ms, 10000);
	assert_int_equal(h->drain_timeout_ms, 2000);
	assert_false(h->generate_request_id);

	const struct route_config *rc = h->route_config;
	assert_string_equal(rc->name, "local");
	assert_null(rc->version);
	assert_int_equal(rc->edits.n_request_add, 1);
	assert_string_equal(rc->edits.request_add[0].name, "x-mesh"); /* lower-cased */
	assert_string_equal(rc->edits.request_add[0].value, "skiff");
	assert_true(rc->edits.request_add[0].append); /* Envoy's default */
	assert_int_equal(rc->edits.n_response_remove, 1);
	assert_string_equal(rc->edits.response_remove[0], "server");
	assert_int_equal(rc->n_vhosts, 1);
	const struct virtual_host *vh = &rc->vhosts[0];
	assert_string_equal(vh->name, "api");
	assert_int_equal(vh->n_domains, 3);
	assert_string_equal(vh->domains[0], "api.example.com");
	assert_string_equal(vh->domains[1], "*.api.example.com");
	assert_string_equal(vh->domains[2], "api.*");
	assert_int_equal(vh->edits.n_response_add, 1);
	assert_false(vh->edits.response_add[0].append);
	assert_int_equal(vh->n_routes, 5);

	const struct route *r = &vh->routes[0];
	assert_string_equal(r->name, "regex");
	assert_int_equal(r->match.kind, PATH_REGEX);
	assert_string_equal(r->match.value, "/v[0-9]+/.*");
	assert_null(r->match.re); /* compiled by snapshot_link */
	assert_false(r->match.case_sensitive);
	assert_int_equal(r->match.n_headers, 9);
	const struct header_match *hm = r->match.headers;
	assert_string_equal(hm[0].name, "x-env");
	assert_int_equal(hm[0].value.kind, SM_EXACT);
	assert_string_equal(hm[0].value.value, "prod");
	assert_true(hm[0].value.ignore_case);
	assert_false(hm[0].invert);
	assert_string_equal(hm[1].name, ":method");
	assert_true(hm[1].invert);
	assert_int_equal(hm[2].value.kind, SM_PREFIX);
	assert_int_equal(hm[3].value.kind, SM_SUFFIX);
	assert_int_equal(hm[4].value.kind, SM_CONTAINS);
	assert_int_equal(hm[5].value.kind, SM_REGEX);
	assert_string_equal(hm[5].value.value, "d+");
	assert_true(hm[6].present_only);
	assert_true(hm[7].present_only); /* no matcher: present */
	assert_int_equal(hm[8].value.kind, SM_REGEX);
	assert_int_equal(r->match.n_query, 2);
	assert_true(r->match.query[0].present_only);
	assert_string_equal(r->match.query[1].name, "v");
	assert_int_equal(r->match.query[1].value.kind, SM_SUFFIX);
	assert_int_equal(r->kind, ROUTE_TO_CLUSTER);
	assert_null(r->cluster_name);
	assert_int_equal(r->n_weighted, 2);
	assert_string_equal(r->weighted[0].name, "v1");
	assert_int_equal(r->weighted[0].weight, 90);
	assert_int_equal(r->total_weight, 100);
	assert_int_equal(r->timeout_ms, 3000);
	assert_int_equal(r->idle_timeout_ms, 20000);
	assert_true(r->has_idle_timeout);
	assert_string_equal(r->prefix_rewrite, "/");
	assert_string_equal(r->host_rewrite, "backend.local");
	assert_int_equal(r->retry.retry_on, RETRY_5XX | RETRY_GATEWAY_ERROR | RETRY_RESET |
						 RETRY_CONNECT_FAILURE | RETRY_RETRIABLE_STATUS |
						 RETRY_REFUSED_STREAM);
	assert_int_equal(r->retry.num_retries, 3);
	assert_int_equal(r->retry.per_try_timeout_ms, 500);
	assert_int_equal(r->retry.back_off_base_ms, 100);
	assert_int_equal(r->retry.back_off_max_ms, 2000);
	assert_true(r->retry.previous_hosts);
	assert_int_equal(r->retry.host_selection_max_attempts, 5);
	assert_int_equal(r->retry.n_retriable_status_codes, 2);
	assert_int_equal(r->retry.retriable_status_codes[1], 429);
	assert_int_equal(r->n_hash_policies, 4);
	assert_int_equal(r->hash_policies[3].kind, HASH_COOKIE);
	assert_string_equal(r->hash_policies[3].name, "sid");
	assert_true(r->hash_policies[3].has_ttl);
	assert_int_equal(r->hash_policies[3].ttl_s, 90);
	assert_string_equal(r->hash_policies[3].path, "/");
	assert_int_equal(r->hash_policies[0].kind, HASH_HEADER);
	assert_string_equal(r->hash_policies[0].name, "x-user");
	assert_false(r->hash_policies[0].terminal);
	assert_int_equal(r->hash_policies[1].kind, HASH_QUERY_PARAMETER);
	assert_string_equal(r->hash_policies[1].name, "shard");
	assert_true(r->hash_policies[1].terminal);
	assert_int_equal(r->hash_policies[2].kind, HASH_SOURCE_IP);
	assert_int_equal(r->edits.n_request_remove, 1);
	assert_int_equal(r->edits.n_request_add, 2);
	assert_false(r->edits.request_add[0].append);
	assert_true(r->edits.request_add[1].append);
	assert_string_equal(r->edits.request_add[1].value, ""); /* no value: empty */

	r = &vh->routes[1];
	assert_int_equal(r->match.kind, PATH_EXACT);
	assert_string_equal(r->match.value, "/old");
	assert_true(r->match.case_sensitive);
	assert_int_equal(r->kind, ROUTE_REDIRECT);
	assert_string_equal(r->redirect_host, "new.example.com");
	assert_string_equal(r->redirect_path, "/new");
	assert_string_equal(r->redirect_scheme, "https");
	assert_int_equal(r->redirect_code, 308);
	assert_true(r->strip_query);
	r = &vh->routes[2];
	assert_int_equal(r->kind, ROUTE_REDIRECT);
	assert_string_equal(r->redirect_prefix, "/q");
	assert_string_equal(r->redirect_scheme, "http");
	assert_int_equal(r->redirect_code, 301);
	r = &vh->routes[3];
	assert_int_equal(r->kind, ROUTE_DIRECT_RESPONSE);
	assert_int_equal(r->direct_status, 200);
	assert_string_equal(r->direct_body, "ok");
	r = &vh->routes[4];
	assert_string_equal(r->cluster_name, "missing"); /* allowed: 503 at request time */
	assert_int_equal(r->timeout_ms, 15000);
	assert_int_equal(r->retry.retry_on, 0);
	assert_int_equal(r->retry.num_retries, 1);

	const struct cluster *v1 = &snap->clusters[0];
	assert_int_equal(v1->lb_policy, LB_RING_HASH);
	assert_int_equal(v1->ring_hash_min_size, 2048);
	assert_int_equal(v1->endpoints[0].weight, 3);
	assert_int_equal(v1->endpoints[1].weight, 1);
	assert_int_equal(v1->breakers.max_connections, 10);
	assert_int_equal(v1->breakers.max_pending_requests, 20);
	assert_int_equal(v1->breakers.max_requests, 30);
	assert_int_equal(v1->breakers.max_retries, 4);
	assert_true(v1->breakers.has_retry_budget);
	assert_true(v1->breakers.retry_budget_percent == 25.5);
	assert_int_equal(v1->breakers.min_retry_concurrency, 5);
	assert_true(v1->breakers.track_remaining);
	/* the budget replaces max_retries: 25.5 % of the active requests, at least 5 */
	assert_int_equal(circuit_breakers_retry_limit(&v1->breakers, 0), 5);
	assert_int_equal(circuit_breakers_retry_limit(&v1->breakers, 100), 25);
	assert_int_equal(circuit_breakers_retry_limit(&v1->breakers, 1000), 255);
	assert_true(v1->outlier.enabled);
	assert_int_equal(v1->outlier.consecutive_5xx, 3);
	assert_int_equal(v1->outlier.consecutive_gateway_failure, 2);
	assert_int_equal(v1->outlier.interval_ms, 1000);
	assert_int_equal(v1->outlier.base_ejection_time_ms, 5000);
	assert_int_equal(v1->outlier.max_ejection_time_ms, 50000);
	assert_int_equal(v1->outlier.max_ejection_percent, 50);
	assert_true(v1->health.enabled);
	assert_string_equal(v1->health.path, "/healthz");
	assert_string_equal(v1->health.host, "v1.local");
	assert_int_equal(v1->health.timeout_ms, 1000);
	assert_int_equal(v1->health.interval_ms, 2000);
	assert_int_equal(v1->health.unhealthy_threshold, 3);
	assert_int_equal(v1->health.healthy_threshold, 2);
	assert_false(v1->health.tcp);
	assert_int_equal(v1->protocol, UPSTREAM_HTTP2);
	assert_int_equal(v1->http2.max_concurrent_streams, 7);
	assert_int_equal(v1->http2.max_consecutive_empty_frames, UINT32_MAX);
	assert_int_equal(v1->http2.max_outbound_frames, 10000);
	assert_int_equal(v1->idle_timeout_ms, 90000);
	assert_int_equal(v1->max_requests_per_connection, 1000);
	const struct cluster *v2 = &snap->clusters[1];
	assert_true(v2->health.enabled && v2->health.tcp);
	assert_null(v2->health.path);
	assert_int_equal(v2->health.send.len, 6);
	assert_memory_equal(v2->health.send.data, "PING\r\n", 6);
	assert_int_equal(v2->health.n_receive, 2);
	assert_int_equal(v2->health.receive[0].len, 4);
	assert_memory_equal(v2->health.receive[0].data, "PONG", 4);
	assert_int_equal(v2->health.receive[1].len, 1);
	assert_memory_equal(v2->health.receive[1].data, "\n", 1);
	assert_int_equal(v2->lb_policy, LB_MAGLEV);
	assert_int_equal(v2->maglev_table_size, 5003);
	assert_int_equal(v2->protocol, UPSTREAM_HTTP2); /* the deprecated field */
	assert_int_equal(snap->clusters[2].lb_policy, LB_LEAST_REQUEST);
	assert_int_equal(snap->clusters[2].protocol, UPSTREAM_HTTP1);
	assert_int_equal(snap->clusters[3].lb_policy, LB_RANDOM);

	/* Linking compiles the regexes, builds the hash tables and points the
	 * routes at their clusters; the missing one stays NULL. */
	char err[256] = "";
	assert_int_equal(snapshot_link(snap, err, sizeof(err)), 0);
	assert_int_equal(snap->n_listeners, 1);
	vh = &snap->listeners[0].chains[0].http->route_config->vhosts[0];
	assert_non_null(vh->routes[0].match.re);
	assert_non_null(vh->routes[0].match.headers[5].value.re);
	assert_ptr_equal(vh->routes[0].weighted[0].cluster, &snap->clusters[0]);
	assert_ptr_equal(vh->routes[0].weighted[1].cluster, &snap->clusters[1]);
	assert_null(vh->routes[4].cluster);
	assert_non_null(snap->clusters[0].lb);
	assert_non_null(snap->clusters[1].lb);
	assert_null(snap->clusters[2].lb);
	snapshot_unref(snap);
}

/* What an http_connection_manager and a cluster get when fields are left out. */
static void test_http_defaults(void **state)
{
	(void)state;
	struct snapshot *snap = load_ok(H_RC("{match: {prefix: /}, route: {cluster: c}}, "
					     "{match: {prefix: /r}, redirect: {}}") CLUSTERS_C);
	const struct http_conn_manager_config *h = snap->listeners[0].chains[0].http;
	assert_int_equal(h->codec, HTTP_CODEC_AUTO);
	assert_int_equal(h->max_request_headers_kb, 60);
	assert_int_equal(h->max_headers_count, 100);
	assert_int_equal(h->idle_timeout_ms, 3600000);
	assert_int_equal(h->stream_idle_timeout_ms, 300000);
	assert_int_equal(h->request_timeout_ms, 0);
	assert_int_equal(h->drain_timeout_ms, 5000);
	assert_true(h->generate_request_id);
	assert_null(h->access_log.path);
	struct http2_limits want;
	http2_limits_default(&want);
	assert_memory_equal(&h->http2, &want, sizeof(want));
	assert_int_equal(want.max_concurrent_streams, 100);
	assert_int_equal(want.initial_stream_window_size, 1 << 20);
	assert_int_equal(want.initial_connection_window_size, 4 << 20);
	assert_int_equal(want.max_header_list_bytes, 60 * 1024);
	assert_int_equal(want.max_server_resets, 100);
	const struct route_config *rc = h->route_config;
	assert_null(rc->name);
	const struct route *r = &rc->vhosts[0].routes[0];
	assert_int_equal(r->match.kind, PATH_PREFIX);
	assert_true(r->match.case_sensitive);
	assert_int_equal(r->timeout_ms, 15000);
	assert_int_equal(r->retry.num_retries, 1);
	assert_int_equal(rc->vhosts[0].routes[1].redirect_code, 301);
	const struct cluster *cl = &snap->clusters[0];
	assert_int_equal(cl->protocol, UPSTREAM_HTTP1);
	assert_int_equal(cl->breakers.max_connections, 1024);
	assert_int_equal(cl->breakers.max_pending_requests, 1024);
	assert_int_equal(cl->breakers.max_requests, 1024);
	assert_int_equal(cl->breakers.max_retries, 3);
	assert_false(cl->breakers.has_retry_budget);
	assert_int_equal(circuit_breakers_retry_limit(&cl->breakers, 1000), 3);
	assert_false(cl->outlier.enabled);
	assert_int_equal(cl->outlier.consecutive_5xx, 5);
	assert_int_equal(cl->outlier.interval_ms, 10000);
	assert_int_equal(cl->outlier.base_ejection_time_ms, 30000);
	assert_int_equal(cl->outlier.max_ejection_time_ms, 300000);
	assert_int_equal(cl->outlier.max_ejection_percent, 10);
	assert_false(cl->health.enabled);
	assert_int_equal(cl->ring_hash_min_size, 1024);
	assert_int_equal(cl->maglev_table_size, 65537);
	assert_int_equal(cl->max_requests_per_connection, 0);
	assert_int_equal(cl->idle_timeout_ms, 3600000);
	assert_int_equal(cl->endpoints[0].weight, 1);
	snapshot_unref(snap);

	/* an outlier_detection that is there, empty: enabled, Envoy's values */
	snap = load_ok(HC_START "    outlier_detection: {}\n");
	assert_true(snap->clusters[0].outlier.enabled);
	assert_int_equal(snap->clusters[0].outlier.consecutive_gateway_failure, 5);
	snapshot_unref(snap);
}

/* RDS: the listener names a route configuration the control plane sends;
 * snapshot_link finds it by name, or leaves the listener out (warming). */
static void test_http_rds(void **state)
{
	(void)state;
	static const char yaml[] =
		"static_resources:\n"
		"  listeners:\n"
		"  - name: l\n"
		"    address: {socket_address: {address: 127.0.0.1, port_value: 80}}\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: envoy.filters.network.http_connection_manager\n"
		"        typed_config:\n"
		"          \"@type\": " HCM "\n"
		"          stat_prefix: h\n"
		"          http_filters: [{name: envoy.filters.http.router, typed_config: {\"@type\": " ROUTER "}}]\n"
		"          rds: {route_config_name: r80, config_source: {ads: {}, resource_api_version: V3}}\n"
		"  clusters:\n" CLUSTER("xds") CLUSTER("c")
		"dynamic_resources:\n"
		"  ads_config: {api_type: GRPC, grpc_services: [{envoy_grpc: {cluster_name: xds}}]}\n";
	struct snapshot *snap = load_ok(yaml);
	struct http_conn_manager_config *h = snap->listeners[0].chains[0].http;
	assert_string_equal(h->rds_name, "r80");
	assert_null(h->route_config);
	assert_false(h->route_config_owned);
	char err[256] = "";
	assert_int_equal(snapshot_link(snap, err, sizeof(err)), 0);
	assert_int_equal(snap->n_listeners, 0); /* r80 has not come */
	snapshot_unref(snap);

	snap = load_ok(yaml);
	struct route_config rc = { .name = strdup("r80"), .version = strdup("7"), .n_vhosts = 1 };
	rc.vhosts = calloc(1, sizeof(*rc.vhosts));
	rc.vhosts[0].name = strdup("v");
	rc.vhosts[0].n_domains = 1;
	rc.vhosts[0].domains = calloc(1, sizeof(char *));
	rc.vhosts[0].domains[0] = strdup("*");
	rc.vhosts[0].n_routes = 1;
	rc.vhosts[0].routes = calloc(1, sizeof(struct route));
	rc.vhosts[0].routes[0].match.kind = PATH_REGEX;
	rc.vhosts[0].routes[0].match.value = strdup("/a.*");
	rc.vhosts[0].routes[0].cluster_name = strdup("c");
	assert_int_equal(snapshot_add_route_config(snap, &rc), 0);
	assert_null(rc.name); /* moved */
	assert_int_equal(snapshot_link(snap, err, sizeof(err)), 0);
	assert_int_equal(snap->n_listeners, 1);
	h = snap->listeners[0].chains[0].http;
	assert_ptr_equal(h->route_config, &snap->route_configs[0]);
	assert_ptr_equal(snapshot_find_route_config(snap, "r80"), &snap->route_configs[0]);
	assert_non_null(snap->route_configs[0].vhosts[0].routes[0].match.re);
	assert_ptr_equal(snap->route_configs[0].vhosts[0].routes[0].cluster, &snap->clusters[1]);
	snapshot_unref(snap);
}

static void test_defaults(void **state)
{
	(void)state;
	struct snapshot *snap = load_ok("{}\n");
	assert_addr(&snap->admin.addr, "127.0.0.1:15000");
	assert_null(snap->node.id);
	assert_null(snap->node.cluster);
	assert_null(snap->ads.cluster_name);
	assert_int_equal(snap->n_listeners, 0);
	assert_int_equal(snap->n_clusters, 0);
	snapshot_unref(snap);

	snap = load_ok("static_resources:\n  listeners:\n" LISTENER("l", "80", "c") CLUSTERS_C
		       "  - name: o\n    type: ORIGINAL_DST\n");
	assert_int_equal(snap->listeners[0].chains[0].tcp_proxy.idle_timeout_ms, 3600000);
	assert_false(snap->listeners[0].use_original_dst);
	assert_int_equal(snap->listeners[0].direction, DIRECTION_UNSPECIFIED);
	assert_null(snap->listeners[0].chains[0].tcp_proxy.access_log.path);
	assert_int_equal(snap->clusters[0].connect_timeout_ms, 5000);
	assert_int_equal(snap->clusters[0].type, CLUSTER_STATIC);
	assert_int_equal(snap->clusters[0].lb_policy, LB_ROUND_ROBIN);
	assert_false(snap->clusters[0].has_source_address);
	assert_int_equal(snap->clusters[1].lb_policy, LB_CLUSTER_PROVIDED);
	assert_int_equal(snap->clusters[1].connect_timeout_ms, 5000);
	snapshot_unref(snap);

	/* empty sequences are no listeners and no clusters */
	snap = load_ok("static_resources: {listeners: [], clusters: []}\ndynamic_resources: {}\n");
	assert_int_equal(snap->n_listeners, 0);
	snapshot_unref(snap);
}

static void test_anchors(void **state)
{
	(void)state;
	struct snapshot *snap = load_ok(
		"static_resources:\n"
		"  clusters:\n"
		"  - name: a\n"
		"    connect_timeout: &t 2s\n"
		"    load_assignment: &la {cluster_name: x, endpoints: [{lb_endpoints: [&e " ENDPOINT("10.0.0.1", "1") ", *e]}]}\n"
		"  - name: b\n"
		"    connect_timeout: *t\n"
		"    load_assignment: *la\n");
	assert_int_equal(snap->clusters[1].connect_timeout_ms, 2000);
	assert_int_equal(snap->clusters[0].n_endpoints, 2);
	assert_int_equal(snap->clusters[1].n_endpoints, 2);
	snapshot_unref(snap);
}

/* Aliases can make a short file name a huge tree; the walk must stop. */
static void test_alias_bomb(void **state)
{
	enum { FAN = 600 };
	size_t cap = 64 * FAN + 1024;
	char *yaml = malloc(cap);
	(void)state;
	assert_non_null(yaml);
	size_t n = (size_t)snprintf(yaml, cap,
		"static_resources:\n  clusters:\n  - name: c\n    load_assignment:\n"
		"      cluster_name: c\n      endpoints:\n      - lb_endpoints: &l [&e " ENDPOINT("10.0.0.1", "1"));
	for (int i = 0; i < FAN; i++)
		n += (size_t)snprintf(yaml + n, cap - n, ", *e");
	n += (size_t)snprintf(yaml + n, cap - n, "]\n");
	for (int i = 0; i < FAN; i++)
		n += (size_t)snprintf(yaml + n, cap - n, "      - lb_endpoints: *l\n");
	assert_true(n < cap);
	struct snapshot *snap = NULL;
	char err[512];
	assert_int_equal(load(yaml, &snap, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ": document too large: more than 1000000 nodes (aliases "
				   "counted each time they are used)"));
	assert_int_equal(strncmp(err, "t.yaml:", 7), 0);
	assert_null(snap);
	free(yaml);
}

static void test_too_many(void **state)
{
	const char *kinds[] = { "listeners", "clusters" };
	(void)state;
	for (int k = 0; k < 2; k++) {
		size_t cap = 4 * 16385 + 64, n = 0;
		char *yaml = malloc(cap);
		assert_non_null(yaml);
		n += (size_t)snprintf(yaml, cap, "static_resources:\n  %s: [{}", kinds[k]);
		for (int i = 1; i < 16385; i++)
			n += (size_t)snprintf(yaml + n, cap - n, ",{}");
		snprintf(yaml + n, cap - n, "]\n");
		struct snapshot *snap = NULL;
		char err[256], want[256];
		assert_int_equal(load(yaml, &snap, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "t.yaml:2: static_resources.%s: too many %s: 16385 (at most 16384)",
			 kinds[k], kinds[k]);
		assert_string_equal(err, want);
		free(yaml);
	}
}

static void test_error_buffer(void **state)
{
	struct snapshot *snap = NULL;
	char err[12];
	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(load("foo: 1\n", &snap, err, 8), -EINVAL);
	assert_string_equal(err, "t.yaml:");
	assert_int_equal(err[8], 'x'); /* nothing written past errlen */
	assert_int_equal(load("foo: 1\n", &snap, NULL, 0), -EINVAL);
	assert_int_equal(load("[", &snap, NULL, 0), -EINVAL);
	assert_int_equal(load("", &snap, NULL, 0), -EINVAL);
	assert_null(snap);
}

/* The length is what is read, not up to a NUL. */
static void test_length_respected(void **state)
{
	static const char yaml[] = "node: {id: abc}\nfoo: 1\n";
	struct snapshot *snap = NULL;
	char err[128];
	(void)state;
	assert_int_equal(bootstrap_load_string("t.yaml", yaml, 16, &snap, err, sizeof(err)), 0);
	assert_string_equal(snap->node.id, "abc");
	snapshot_unref(snap);
}

static void test_file(void **state)
{
	char path[] = "/tmp/skiff-bootstrap-XXXXXX";
	struct snapshot *snap = NULL;
	char err[512], want[600];
	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char good[] = "node: {id: from-file}\n";
	assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	assert_int_equal(bootstrap_load_file(path, &snap, err, sizeof(err)), 0);
	assert_string_equal(snap->source, path);
	assert_string_equal(snap->node.id, "from-file");
	snapshot_unref(snap);
	snap = NULL;

	static const char bad[] = "admin:\n  adress: {}\n";
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, bad, strlen(bad), 0), (ssize_t)strlen(bad));
	assert_int_equal(bootstrap_load_file(path, &snap, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: admin.adress: unknown field", path);
	assert_string_equal(err, want);
	assert_null(snap);

	/* just past the limit */
	assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
	assert_int_equal(bootstrap_load_file(path, &snap, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: file too large (more than 16 MiB)", path);
	assert_string_equal(err, want);
	close(fd);
	unlink(path);

	assert_int_equal(bootstrap_load_file("/nonexistent/b.yaml", &snap, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/b.yaml: No such file or directory");
	assert_int_equal(bootstrap_load_file("/", &snap, err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: Is a directory");
	assert_null(snap);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_upgrade_configs),
		cmocka_unit_test(test_http_defaults),
		cmocka_unit_test(test_http_rds),
		cmocka_unit_test(test_permissive),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_rbac),
		cmocka_unit_test(test_upstream_tls),
		cmocka_unit_test(test_tls_limits),
		cmocka_unit_test(test_anchors),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_length_respected),
		cmocka_unit_test(test_file),
	};
	enum { N_BAD = sizeof(bad_cases) / sizeof(bad_cases[0]), N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	static struct CMUnitTest tests[N_FIXED + N_BAD];
	static char names[N_BAD][32];
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < N_BAD; i++) {
		snprintf(names[i], sizeof(names[i]), "bad_case_%03zu", i);
		tests[N_FIXED + i] = (struct CMUnitTest){
			.name = names[i],
			.test_func = run_bad_case,
			.initial_state = (void *)&bad_cases[i],
		};
	}
	return _cmocka_run_group_tests("bootstrap", tests, N_FIXED + N_BAD, NULL, NULL);
}
