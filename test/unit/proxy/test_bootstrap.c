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
	  "envoy.filters.network.tcp_proxy filter" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{typed_config: {}}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.@type: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].typed_config: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{typed_config: {\"@type\": " TCP ", stat_prefix: s, cluster: c}}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].name: required" },
	{ L_START L_ADDR "    filter_chains: [{filters: [{name: envoy.filters.network.http_connection_manager}]}]\n" CLUSTERS_C,
	  "t.yaml:5: static_resources.listeners[0].filter_chains[0].filters[0].name: not supported by "
	  "skiff: \"envoy.filters.network.http_connection_manager\" (supported: "
	  "envoy.filters.network.tcp_proxy, envoy.filters.network.rbac)" },
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
	{ C_START "  - name: c\n    lb_policy: LEAST_REQUEST\n",
	  "t.yaml:8: static_resources.clusters[0].lb_policy: not supported by skiff: LEAST_REQUEST (supported: ROUND_ROBIN, CLUSTER_PROVIDED)" },
	{ C_START "  - name: c\n    lb_policy: 0\n",
	  "t.yaml:8: static_resources.clusters[0].lb_policy: expected one of ROUND_ROBIN, CLUSTER_PROVIDED, got \"0\"" },
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
	{ C_START "  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n        - {endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}, load_balancing_weight: 2}\n",
	  "t.yaml:12: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight: unknown field" },
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
