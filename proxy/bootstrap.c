/* Envoy v3 bootstrap YAML -> config snapshot; see bootstrap.h.
 *
 * libyaml loads the whole document as a tree; every mapping is then walked
 * against a table of the fields it may hold (struct field), so unknown and
 * duplicate fields and missing required ones are found in one place, and the
 * tables read as the schema. Checks that need the whole tree (names unique,
 * references resolved, addresses distinct) run after the walk. The first
 * error wins and nothing is returned but the message. */
#include "proxy/bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "certs/spiffe.h"
#include "proxy/config_rules.h"
#include "proxy/duration.h"
#include "proxy/field_path.h"
#include "proxy/http_config.h"
#include "proxy/regex.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"

const char bootstrap_default_yaml[] =
	"# skiff's embedded default: a transparent passthrough sidecar.\n"
	"node:\n"
	"  id: sidecar~127.0.0.1~skiff~default.svc.cluster.local\n"
	"  cluster: skiff\n"
	"admin:\n"
	"  address:\n"
	"    socket_address: { address: 127.0.0.1, port_value: 15000 }\n"
	"static_resources:\n"
	"  listeners:\n"
	"  # Connections the app makes, redirected here by the capture.\n"
	"  - name: virtualOutbound\n"
	"    address:\n"
	"      socket_address: { address: 0.0.0.0, port_value: 15001 }\n"
	"    use_original_dst: true\n"
	"    traffic_direction: OUTBOUND\n"
	"    filter_chains:\n"
	"    - filters:\n"
	"      - name: envoy.filters.network.tcp_proxy\n"
	"        typed_config:\n"
	"          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
	"          stat_prefix: PassthroughCluster\n"
	"          cluster: PassthroughCluster\n"
	"          access_log:\n"
	"          - name: envoy.access_loggers.file\n"
	"            typed_config:\n"
	"              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n"
	"              path: /dev/stdout\n"
	"  # Connections to the app, steered here by the capture.\n"
	"  - name: virtualInbound\n"
	"    address:\n"
	"      socket_address: { address: 0.0.0.0, port_value: 15006 }\n"
	"    use_original_dst: true\n"
	"    traffic_direction: INBOUND\n"
	"    filter_chains:\n"
	"    - filters:\n"
	"      - name: envoy.filters.network.tcp_proxy\n"
	"        typed_config:\n"
	"          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
	"          stat_prefix: InboundPassthroughCluster\n"
	"          cluster: InboundPassthroughCluster\n"
	"          access_log:\n"
	"          - name: envoy.access_loggers.file\n"
	"            typed_config:\n"
	"              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n"
	"              path: /dev/stdout\n"
	"  clusters:\n"
	"  - name: PassthroughCluster\n"
	"    type: ORIGINAL_DST\n"
	"    lb_policy: CLUSTER_PROVIDED\n"
	"    connect_timeout: 10s\n"
	"  # From 127.0.0.6 so the capture knows the proxy's own inbound\n"
	"  # connections to the app and does not capture them again.\n"
	"  - name: InboundPassthroughCluster\n"
	"    type: ORIGINAL_DST\n"
	"    lb_policy: CLUSTER_PROVIDED\n"
	"    connect_timeout: 10s\n"
	"    upstream_bind_config:\n"
	"      source_address: { address: 127.0.0.6, port_value: 0 }\n";

/* Bounds on what a document may make us do. Aliases let a few bytes name a
 * subtree many times over ("billion laughs"), so nodes are counted as they
 * are visited, not as they appear in the file. */
#define MAX_FILE_BYTES (16u << 20)
#define MAX_VISITS 1000000u
#define SHOWN_MAX 48 /* bytes of a user's value quoted back in a message */
/* The checks across listeners and clusters compare every pair; this keeps
 * that well under a second, and far above any real sidecar or gateway. */
#define MAX_LISTENERS 16384u
#define MAX_CLUSTERS 16384u

#define DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define DEFAULT_IDLE_TIMEOUT_MS 3600000u

#define TCP_PROXY_NAME "envoy.filters.network.tcp_proxy"
#define TCP_PROXY_TYPE "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define FILE_LOG_NAME "envoy.access_loggers.file"
#define FILE_LOG_TYPE "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
#define HCM_NAME "envoy.filters.network.http_connection_manager"
#define HCM_TYPE                                        \
	"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3." \
	"HttpConnectionManager"
#define HTTP_ROUTER_NAME "envoy.filters.http.router"
#define HTTP_ROUTER_TYPE "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
#define HTTP_OPTIONS_NAME "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
#define HTTP_OPTIONS_TYPE "type.googleapis.com/" HTTP_OPTIONS_NAME
#define RBAC_NAME "envoy.filters.network.rbac"
#define RBAC_TYPE "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
#define TLS_SOCKET_NAME "envoy.transport_sockets.tls"
#define TLS_TYPE_PREFIX "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
#define DOWNSTREAM_TLS_TYPE TLS_TYPE_PREFIX "DownstreamTlsContext"
#define UPSTREAM_TLS_TYPE TLS_TYPE_PREFIX "UpstreamTlsContext"
#define TLS_INSPECTOR_NAME TLS_INSPECTOR_FILTER
#define TLS_INSPECTOR_TYPE \
	"type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
#define ORIGINAL_DST_NAME "envoy.filters.listener.original_dst"
#define ORIGINAL_DST_TYPE \
	"type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"

/* Far above what a mesh sends (Istio: a few of each), low enough that a
 * config cannot make every handshake walk a long list. */
#define MAX_ALPN 16u
#define MAX_MATCH_SANS 256u
/* Envoy's upper bounds for the consistent-hash tables. */
#define MAX_RING_SIZE 8388608u
#define MAX_MAGLEV_SIZE 5000011u

/* Where a listener's and a cluster's fields were, for the checks made after
 * the walk. */
struct chain_src {
	struct filter_chain *fc;
	yaml_node_t *node, *name, *protocol, *transport_socket, *cluster;
	size_t tcp_proxy_at; /* index of the tcp_proxy in filters */
};

struct listener_src {
	struct listener *l;
	yaml_node_t *node, *name, *address;
	bool has_tls_inspector;
	struct chain_src chains[LISTENER_MAX_CHAINS];
};

struct cluster_src {
	struct cluster *cl;
	yaml_node_t *node, *name, *lb_policy, *load_assignment;
	bool has_lb_policy;
	size_t cap_endpoints;
	uint64_t total_weight; /* of the endpoints */
};

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct snapshot *snap;
	struct field_path path; /* of the node being read */
	unsigned visits;
	struct listener_src *lsrc; /* one per snap->listeners */
	struct cluster_src *csrc;  /* one per snap->clusters */
	yaml_node_t *ads_cluster, *lds_ads, *cds_ads;
	yaml_node_t *rds_ads;               /* the first rds.config_source */
	char rds_path[FIELD_PATH_MAX + 8];  /* and its path */
};

/* A field of a mapping: `read` is given the value and the mapping's object;
 * a NULL `read` accepts any value and ignores it. */
typedef int (*field_read_fn)(struct ctx *c, yaml_node_t *value, void *obj);

struct field {
	const char *name;
	field_read_fn read;
	bool required;
};

/* ---- messages and paths ------------------------------------------------ */

static size_t node_line(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 1;
}

static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "FILE:LINE: path: message" into c->err; returns -EINVAL. */
static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s:%zu: %s%s%s", c->file, node_line(n), c->path.s,
			 c->path.len ? ": " : "", msg);
	return -EINVAL;
}

static int fail_nomem(struct ctx *c)
{
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
	return -ENOMEM;
}

/* Appends to the path; returns the length to restore with path_pop. */
static size_t path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t old = field_path_vpush(&c->path, fmt, ap);
	va_end(ap);
	return old;
}

static void path_pop(struct ctx *c, size_t old)
{
	field_path_pop(&c->path, old);
}

static size_t path_push_field(struct ctx *c, const char *name)
{
	return path_push(c, "%s%s", c->path.len ? "." : "", name);
}

/* A scalar as it may be quoted back in a one-line message: printable ASCII
 * only, cut at SHOWN_MAX bytes. */
static const char *shown(const yaml_node_t *n, char buf[SHOWN_MAX + 4])
{
	size_t len = n->data.scalar.length, i;
	for (i = 0; i < len && i < SHOWN_MAX; i++) {
		unsigned char ch = n->data.scalar.value[i];
		buf[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	strcpy(buf + i, len > SHOWN_MAX ? "..." : "");
	return buf;
}

/* ---- walking the tree -------------------------------------------------- */

static int visit(struct ctx *c, const yaml_node_t *n)
{
	if (++c->visits > MAX_VISITS)
		return fail(c, n, "document too large: more than %u nodes (aliases counted "
				  "each time they are used)", MAX_VISITS);
	return 0;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);
	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

static int expect_mapping(struct ctx *c, const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? 0 : fail(c, n, "expected a mapping");
}

static int expect_sequence(struct ctx *c, const yaml_node_t *n, size_t *count)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "expected a sequence");
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

static yaml_node_t *seq_item(struct ctx *c, const yaml_node_t *seq, size_t i)
{
	return yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);
}

/* Reads mapping `n` against fields[0..n_fields) (at most 64), calling each
 * present field's reader with `obj`. */
static int walk_mapping(struct ctx *c, yaml_node_t *n, const struct field *fields, size_t n_fields,
			void *obj)
{
	int err = expect_mapping(c, n);
	if (err)
		return err;
	uint64_t seen = 0;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *value = yaml_document_get_node(c->doc, p->value);
		if ((err = visit(c, key)))
			return err;
		if (key->type != YAML_SCALAR_NODE)
			return fail(c, key, "expected a field name, not a %s",
				    key->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
		size_t i = 0;
		while (i < n_fields && !scalar_is(key, fields[i].name))
			i++;
		if (i == n_fields) {
			char buf[SHOWN_MAX + 4];
			path_push_field(c, shown(key, buf));
			return fail(c, key, "unknown field");
		}
		size_t old = path_push_field(c, fields[i].name);
		if (seen & (1ull << i))
			return fail(c, key, "duplicate field");
		seen |= 1ull << i;
		if (fields[i].read && (err = fields[i].read(c, value, obj)))
			return err;
		path_pop(c, old);
	}
	for (size_t i = 0; i < n_fields; i++) {
		if (fields[i].required && !(seen & (1ull << i))) {
			path_push_field(c, fields[i].name);
			return fail(c, n, "required");
		}
	}
	return 0;
}

#define WALK(c, n, fields, obj) walk_mapping(c, n, fields, sizeof(fields) / sizeof(fields[0]), obj)

/* Calls read(c, item, obj) for each item of sequence `n`, with the path at
 * "[i]". */
static int walk_sequence(struct ctx *c, yaml_node_t *n, field_read_fn read, void *obj)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	for (size_t i = 0; !err && i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		if ((err = visit(c, item)))
			break;
		size_t old = path_push(c, "[%zu]", i);
		if ((err = read(c, item, obj)))
			break;
		path_pop(c, old);
	}
	return err;
}

/* Reads the only item of a sequence skiff allows one of. */
static int walk_one(struct ctx *c, yaml_node_t *n, const char *what, field_read_fn read, void *obj)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err)
		return err;
	if (count != 1)
		return fail(c, n, "expected exactly one %s (skiff supports one), got %zu", what, count);
	return walk_sequence(c, n, read, obj);
}

/* ---- scalars ----------------------------------------------------------- */

static int read_string(struct ctx *c, yaml_node_t *n, char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "expected a string");
	const char *s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length)
		return fail(c, n, "must not contain a NUL character");
	char *copy = strdup(s);
	if (!copy)
		return fail_nomem(c);
	free(*out);
	*out = copy;
	return 0;
}

static int read_name(struct ctx *c, yaml_node_t *n, char **out)
{
	int err = read_string(c, n, out);
	if (!err && !**out)
		return fail(c, n, "must not be empty");
	return err;
}

static int read_uint(struct ctx *c, yaml_node_t *n, uint32_t max, uint32_t *out)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0)
		return fail(c, n, "expected an integer");
	uint64_t v = 0;
	for (size_t i = 0; i < n->data.scalar.length; i++) {
		unsigned char ch = n->data.scalar.value[i];
		if (ch < '0' || ch > '9')
			return fail(c, n, "expected an integer");
		if ((v = v * 10 + (ch - '0')) > max)
			return fail(c, n, "must be at most %u", max);
	}
	*out = (uint32_t)v;
	return 0;
}

static int read_bool(struct ctx *c, yaml_node_t *n, bool *out)
{
	if (scalar_is(n, "true") || scalar_is(n, "True") || scalar_is(n, "TRUE"))
		*out = true;
	else if (scalar_is(n, "false") || scalar_is(n, "False") || scalar_is(n, "FALSE"))
		*out = false;
	else
		return fail(c, n, "expected a bool (true or false)");
	return 0;
}

static int read_duration(struct ctx *c, yaml_node_t *n, uint32_t *ms)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "expected a duration like \"1s\"");
	int err = duration_parse((const char *)n->data.scalar.value, ms);
	if (err == -ERANGE)
		return fail(c, n, "duration too long (at most 4294967.295s)");
	if (err || strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return fail(c, n, "expected a duration like \"1s\"");
	return 0;
}

static void list_names(char *buf, size_t len, const char *const *names)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; names[i] && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
}

/* Sets *out to the index of the value in `allowed` (NULL-terminated, in the
 * order of the C enum). Values Envoy knows but skiff does not serve are in
 * `unsupported`, so the message says which of the two mistakes it is. */
static int read_enum(struct ctx *c, yaml_node_t *n, const char *const *allowed,
		     const char *const *unsupported, int *out)
{
	char names[128], buf[SHOWN_MAX + 4];
	list_names(names, sizeof(names), allowed);
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "expected one of %s", names);
	for (int i = 0; allowed[i]; i++) {
		if (scalar_is(n, allowed[i])) {
			*out = i;
			return 0;
		}
	}
	for (int i = 0; unsupported && unsupported[i]; i++)
		if (scalar_is(n, unsupported[i]))
			return fail(c, n, "not supported by skiff: %s (supported: %s)", unsupported[i],
				    names);
	return fail(c, n, "expected one of %s, got \"%s\"", names, shown(n, buf));
}

/* A string that must be one of `names` (NULL-terminated): a filter or
 * extension name. Sets *out to its index. */
static int read_extension(struct ctx *c, yaml_node_t *n, const char *const *names, int *out)
{
	char buf[SHOWN_MAX + 4], list[256];
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "expected a string");
	for (int i = 0; names[i]; i++) {
		if (scalar_is(n, names[i])) {
			*out = i;
			return 0;
		}
	}
	list_names(list, sizeof(list), names);
	return fail(c, n, "not supported by skiff: \"%s\" (supported: %s)", shown(n, buf), list);
}

static int read_exact(struct ctx *c, yaml_node_t *n, const char *want)
{
	const char *names[] = { want, NULL };
	int i;
	return read_extension(c, n, names, &i);
}

/* typed_config: its "@type" is checked before any other field, so a config
 * of another extension is reported as that, not as its first unknown field. */
static int walk_typed_config(struct ctx *c, yaml_node_t *n, const char *type,
			     const struct field *fields, size_t n_fields, void *obj)
{
	int err = expect_mapping(c, n);
	if (err)
		return err;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
		if (scalar_is(key, "@type")) {
			size_t old = path_push_field(c, "@type");
			if ((err = read_exact(c, yaml_document_get_node(c->doc, p->value), type)))
				return err;
			path_pop(c, old);
			return walk_mapping(c, n, fields, n_fields, obj);
		}
	}
	path_push_field(c, "@type");
	return fail(c, n, "required");
}

static int ignore_mapping(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return expect_mapping(c, n);
}

static int ignore_sequence(struct ctx *c, yaml_node_t *n, void *obj)
{
	size_t count = 0;
	(void)obj;
	return expect_sequence(c, n, &count);
}

static int ignore_string(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return n->type == YAML_SCALAR_NODE ? 0 : fail(c, n, "expected a string");
}

/* ---- addresses --------------------------------------------------------- */

/* A SocketAddress being read: the IP is checked when read, joined to the
 * port once both are known. */
struct socket_address_src {
	const char *ip;
	uint32_t port;
};

static int socket_address_ip(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct socket_address_src *sa = obj;
	struct sock_addr tmp;
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "expected a string");
	const char *ip = (const char *)n->data.scalar.value;
	if (strlen(ip) != n->data.scalar.length || sock_addr_parse(ip, 0, &tmp)) {
		char buf[SHOWN_MAX + 4];
		return fail(c, n, "expected an IPv4 or IPv6 address, got \"%s\" (skiff does "
				  "not resolve names)", shown(n, buf));
	}
	sa->ip = ip;
	return 0;
}

static int socket_address_port(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct socket_address_src *sa = obj;
	return read_uint(c, n, 65535, &sa->port);
}

/* A port is required where one is connected to or listened on; a bind
 * address (upstream_bind_config) defaults to port 0, any port. */
static const struct field socket_address_fields[] = {
	{ "address", socket_address_ip, true },
	{ "port_value", socket_address_port, true },
};
static const struct field bind_address_fields[] = {
	{ "address", socket_address_ip, true },
	{ "port_value", socket_address_port, false },
};

static int read_socket_address(struct ctx *c, yaml_node_t *n, const struct field *fields,
			       struct sock_addr *out)
{
	struct socket_address_src sa = { 0 };
	int err = walk_mapping(c, n, fields, 2, &sa);
	if (!err)
		sock_addr_parse(sa.ip, sa.port, out); /* both already checked */
	return err;
}

static int address_socket_address(struct ctx *c, yaml_node_t *n, void *obj)
{
	return read_socket_address(c, n, socket_address_fields, obj);
}

/* config.core.v3.Address: {socket_address: {...}} into a struct sock_addr. */
static int read_address(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "socket_address", address_socket_address, true },
	};
	return WALK(c, n, fields, obj);
}

/* ---- node and admin ---------------------------------------------------- */

static int node_id(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_string(c, n, &c->snap->node.id);
}

static int node_cluster(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_string(c, n, &c->snap->node.cluster);
}

static int read_node(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "id", node_id, false },
		{ "cluster", node_cluster, false },
		{ "metadata", ignore_mapping, false },
		{ "locality", ignore_mapping, false },
	};
	return WALK(c, n, fields, obj);
}

static int admin_address(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_address(c, n, &c->snap->admin.addr);
}

static int read_admin(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "address", admin_address, true },
		{ "access_log", ignore_sequence, false },
		{ "access_log_path", ignore_string, false }, /* deprecated, still common */
	};
	return WALK(c, n, fields, obj);
}

/* Readers of the fields Envoy has and skiff refuses, each saying why. */
#define REFUSE(fn, why)                                         \
	static int fn(struct ctx *c, yaml_node_t *n, void *obj) \
	{                                                       \
		(void)obj;                                      \
		return fail(c, n, "%s", why);                   \
	}

REFUSE(refuse_unsupported, "not supported by skiff")
REFUSE(refuse_inline, "not supported yet: skiff reads certificates and keys from files (filename)")
REFUSE(refuse_sds, "not supported yet: SDS comes with xDS (use tls_certificates and "
		   "validation_context with filename)")
REFUSE(refuse_inexact, "not supported by skiff (supported: exact; SPIFFE ids compare exactly)")
REFUSE(refuse_untyped_sans, "not supported by skiff (use match_typed_subject_alt_names with "
			    "san_type URI)")
REFUSE(refuse_ciphers, "not supported by skiff (it offers forward-secret AEAD ciphers only)")
REFUSE(refuse_curves, "not supported by skiff (it offers X25519, P-256 and P-384)")
REFUSE(refuse_permission, "not supported by skiff (supported: any, destination_port)")
REFUSE(refuse_principal, "not supported by skiff (supported: any, authenticated.principal_name.exact)")
REFUSE(refuse_rbac_matcher, "not supported by skiff (use rules)")
REFUSE(refuse_chain_match, "not supported by skiff (supported: transport_protocol)")

/* ---- TLS transport sockets --------------------------------------------- */

/* A transport_socket being read: DownstreamTlsContext on a filter chain,
 * UpstreamTlsContext on a cluster. */
struct tls_src {
	struct tls_config *tls;
	yaml_node_t *common; /* common_tls_context */
	bool has_validation;
	uint16_t max_version; /* 0: not set */
	yaml_node_t *max_node;
};


static int data_source_filename(struct ctx *c, yaml_node_t *n, void *obj)
{
	return read_name(c, n, obj);
}

/* config.core.v3.DataSource: a file name only. The file is not opened here:
 * the module that builds the TLS context loads it and reports. */
static int read_data_source(struct ctx *c, yaml_node_t *n, char **out)
{
	static const struct field fields[] = {
		{ "filename", data_source_filename, true },
		{ "inline_string", refuse_inline, false },
		{ "inline_bytes", refuse_inline, false },
		{ "environment_variable", refuse_inline, false },
	};
	return WALK(c, n, fields, out);
}

/* A SPIFFE id a peer's must equal: a workload's, so with a path. */
static int read_spiffe_id(struct ctx *c, yaml_node_t *n, char **out)
{
	char buf[SHOWN_MAX + 4];
	int err = read_string(c, n, out);
	if (err)
		return err;
	struct spiffe_id id;
	enum spiffe_err e = spiffe_workload_id_parse(*out, strlen(*out), &id);
	if (e != SPIFFE_OK)
		return fail(c, n, "expected a SPIFFE id (spiffe://<trust-domain>/<path>), got \"%s\": %s",
			    shown(n, buf), spiffe_strerror(e));
	return 0;
}

static int matcher_exact(struct ctx *c, yaml_node_t *n, void *obj)
{
	return read_spiffe_id(c, n, obj);
}

/* type.matcher.v3.StringMatcher holding a SPIFFE id: exact only. */
static int read_id_matcher(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "exact", matcher_exact, true },
		{ "prefix", refuse_inexact, false },
		{ "suffix", refuse_inexact, false },
		{ "contains", refuse_inexact, false },
		{ "safe_regex", refuse_inexact, false },
		{ "ignore_case", refuse_inexact, false },
	};
	return WALK(c, n, fields, obj);
}

static int tls_cert_chain(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	return read_data_source(c, n, &ts->tls->cert_chain_file);
}

static int tls_private_key(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	return read_data_source(c, n, &ts->tls->private_key_file);
}

static int read_tls_certificate(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "certificate_chain", tls_cert_chain, true },
		{ "private_key", tls_private_key, true },
	};
	return WALK(c, n, fields, obj);
}

static int common_tls_certificates(struct ctx *c, yaml_node_t *n, void *obj)
{
	return walk_one(c, n, "TLS certificate", read_tls_certificate, obj);
}

static int validation_trusted_ca(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	return read_data_source(c, n, &ts->tls->trusted_ca_file);
}

static int san_type(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "URI", NULL };
	static const char *const envoy_only[] = { "SAN_TYPE_UNSPECIFIED", "EMAIL", "DNS",
						  "IP_ADDRESS", "OTHER_NAME", NULL };
	int v;
	(void)obj;
	return read_enum(c, n, names, envoy_only, &v);
}

static int san_matcher(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	return read_id_matcher(c, n, &ts->tls->match_sans[ts->tls->n_match_sans - 1]);
}

static int read_san_matcher(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "san_type", san_type, true },
		{ "matcher", san_matcher, true },
	};
	struct tls_src *ts = obj;
	ts->tls->n_match_sans++; /* the slot is freed with the snapshot even on error */
	return WALK(c, n, fields, obj);
}

static int validation_match_sans(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err || !count)
		return err;
	if (count > MAX_MATCH_SANS)
		return fail(c, n, "too many SAN matchers: %zu (at most %u)", count, MAX_MATCH_SANS);
	if (!(ts->tls->match_sans = calloc(count, sizeof(char *))))
		return fail_nomem(c);
	return walk_sequence(c, n, read_san_matcher, obj);
}

static int common_validation_context(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "trusted_ca", validation_trusted_ca, true },
		{ "match_typed_subject_alt_names", validation_match_sans, false },
		{ "match_subject_alt_names", refuse_untyped_sans, false },
	};
	struct tls_src *ts = obj;
	ts->has_validation = true;
	return WALK(c, n, fields, obj);
}

static int read_alpn(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	char **slot = &ts->tls->alpn[ts->tls->n_alpn++];
	int err = read_name(c, n, slot);
	if (!err && strlen(*slot) > 255) /* RFC 7301, section 3.1 */
		return fail(c, n, "longer than 255 bytes");
	return err;
}

static int common_alpn_protocols(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err || !count)
		return err;
	if (count > MAX_ALPN)
		return fail(c, n, "too many ALPN protocols: %zu (at most %u)", count, MAX_ALPN);
	if (!(ts->tls->alpn = calloc(count, sizeof(char *))))
		return fail_nomem(c);
	return walk_sequence(c, n, read_alpn, obj);
}

/* tls_params versions; TLS_AUTO is skiff's default, TLS 1.3. */
static int read_tls_version(struct ctx *c, yaml_node_t *n, uint16_t *out)
{
	static const char *const names[] = { "TLS_AUTO", "TLSv1_2", "TLSv1_3", NULL };
	static const char *const envoy_only[] = { "TLSv1_0", "TLSv1_1", NULL };
	static const uint16_t versions[] = { 0x0304, 0x0303, 0x0304 };
	int v;
	int err = read_enum(c, n, names, envoy_only, &v);
	if (!err)
		*out = versions[v];
	return err;
}

static int tls_min_version(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	return read_tls_version(c, n, &ts->tls->min_version);
}

/* Kept only to check it against the minimum: skiff never offers more than
 * TLS 1.3, and serving below a maximum is not asked for. */
static int tls_max_version(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	ts->max_node = n;
	return read_tls_version(c, n, &ts->max_version);
}

static int common_tls_params(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "tls_minimum_protocol_version", tls_min_version, false },
		{ "tls_maximum_protocol_version", tls_max_version, false },
		{ "cipher_suites", refuse_ciphers, false },
		{ "ecdh_curves", refuse_curves, false },
	};
	struct tls_src *ts = obj;
	int err = WALK(c, n, fields, obj);
	if (!err && ts->max_version && ts->max_version < ts->tls->min_version) {
		path_push_field(c, "tls_maximum_protocol_version");
		return fail(c, ts->max_node, "below tls_minimum_protocol_version (TLSv1_3 unless set)");
	}
	return err;
}

static int tls_common_context(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "tls_params", common_tls_params, false },
		{ "tls_certificates", common_tls_certificates, true },
		{ "validation_context", common_validation_context, false },
		{ "alpn_protocols", common_alpn_protocols, false },
		{ "tls_certificate_sds_secret_configs", refuse_sds, false },
		{ "validation_context_sds_secret_config", refuse_sds, false },
		{ "combined_validation_context", refuse_sds, false },
	};
	struct tls_src *ts = obj;
	ts->common = n;
	return WALK(c, n, fields, obj);
}

static int tls_require_client_cert(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	return read_bool(c, n, &ts->tls->require_client_certificate);
}

static int tls_sni(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct tls_src *ts = obj;
	int err = read_name(c, n, &ts->tls->sni);
	if (!err && strlen(ts->tls->sni) > 255) /* a DNS name; Envoy's limit too */
		return fail(c, n, "longer than 255 bytes");
	return err;
}

static int downstream_tls_context(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
		{ "common_tls_context", tls_common_context, true },
		{ "require_client_certificate", tls_require_client_cert, false },
	};
	struct tls_src *ts = obj;
	int err = walk_typed_config(c, n, DOWNSTREAM_TLS_TYPE, fields, 3, obj);
	if (!err && ts->tls->require_client_certificate && !ts->has_validation) {
		path_push_field(c, "common_tls_context.validation_context");
		return fail(c, ts->common, "required with require_client_certificate (client "
				  "certificates are verified against its trusted_ca)");
	}
	return err;
}

static int upstream_tls_context(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
		{ "common_tls_context", tls_common_context, true },
		{ "sni", tls_sni, false },
	};
	struct tls_src *ts = obj;
	int err = walk_typed_config(c, n, UPSTREAM_TLS_TYPE, fields, 3, obj);
	if (!err && !ts->has_validation) {
		path_push_field(c, "common_tls_context.validation_context");
		return fail(c, ts->common, "required (skiff verifies every server it connects to "
				  "over TLS)");
	}
	return err;
}

static int transport_socket_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_exact(c, n, TLS_SOCKET_NAME);
}

/* config.core.v3.TransportSocket envoy.transport_sockets.tls into a new
 * tls_config at *out, owned by the snapshot from the start so an error
 * half-way frees it. */
static int read_transport_socket(struct ctx *c, yaml_node_t *n, bool upstream,
				 struct tls_config **out)
{
	static const struct field down[] = {
		{ "name", transport_socket_name, true },
		{ "typed_config", downstream_tls_context, true },
	};
	static const struct field up[] = {
		{ "name", transport_socket_name, true },
		{ "typed_config", upstream_tls_context, true },
	};
	struct tls_src ts = { .tls = calloc(1, sizeof(struct tls_config)) };
	if (!ts.tls)
		return fail_nomem(c);
	ts.tls->min_version = 0x0304;
	*out = ts.tls;
	return upstream ? WALK(c, n, up, &ts) : WALK(c, n, down, &ts);
}

/* ---- the rbac network filter ------------------------------------------- */


/* A Permission or a Principal: a oneof, so exactly one field. */
struct rbac_rule_src {
	void *rule; /* struct rbac_permission or struct rbac_principal */
	unsigned set;
};

static int oneof_once(struct ctx *c, yaml_node_t *n, struct rbac_rule_src *rs, const char *names)
{
	if (rs->set++)
		return fail(c, n, "only one of %s may be set", names);
	return 0;
}

static int read_any_true(struct ctx *c, yaml_node_t *n, bool *out)
{
	int err = read_bool(c, n, out);
	if (!err && !*out)
		return fail(c, n, "must be true");
	return err;
}

static int permission_any(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_rule_src *rs = obj;
	struct rbac_permission *p = rs->rule;
	int err = oneof_once(c, n, rs, "any, destination_port");
	return err ? err : read_any_true(c, n, &p->any);
}

static int permission_port(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_rule_src *rs = obj;
	struct rbac_permission *p = rs->rule;
	int err = oneof_once(c, n, rs, "any, destination_port");
	return err ? err : read_uint(c, n, 65535, &p->destination_port);
}

static int read_permission(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "any", permission_any, false },
		{ "destination_port", permission_port, false },
		{ "and_rules", refuse_permission, false },
		{ "or_rules", refuse_permission, false },
		{ "not_rule", refuse_permission, false },
		{ "header", refuse_permission, false },
		{ "url_path", refuse_permission, false },
		{ "destination_ip", refuse_permission, false },
		{ "destination_port_range", refuse_permission, false },
		{ "metadata", refuse_permission, false },
		{ "requested_server_name", refuse_permission, false },
		{ "matcher", refuse_permission, false },
		{ "uri_template", refuse_permission, false },
	};
	struct rbac_rule_src rs = { .rule = obj };
	int err = WALK(c, n, fields, &rs);
	if (!err && !rs.set)
		return fail(c, n, "expected one of any, destination_port");
	return err;
}

static int authenticated_principal_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_principal *p = obj;
	return read_id_matcher(c, n, &p->principal_name);
}

static int principal_authenticated(struct ctx *c, yaml_node_t *n, void *obj)
{
	/* Envoy lets principal_name out to mean any authenticated peer; skiff
	 * asks for the id, so that an empty matcher cannot open a port. */
	static const struct field fields[] = {
		{ "principal_name", authenticated_principal_name, true },
	};
	struct rbac_rule_src *rs = obj;
	int err = oneof_once(c, n, rs, "any, authenticated");
	return err ? err : WALK(c, n, fields, rs->rule);
}

static int principal_any(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_rule_src *rs = obj;
	struct rbac_principal *p = rs->rule;
	int err = oneof_once(c, n, rs, "any, authenticated");
	return err ? err : read_any_true(c, n, &p->any);
}

static int read_principal(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "any", principal_any, false },
		{ "authenticated", principal_authenticated, false },
		{ "and_ids", refuse_principal, false },
		{ "or_ids", refuse_principal, false },
		{ "not_id", refuse_principal, false },
		{ "source_ip", refuse_principal, false },
		{ "direct_remote_ip", refuse_principal, false },
		{ "remote_ip", refuse_principal, false },
		{ "header", refuse_principal, false },
		{ "url_path", refuse_principal, false },
		{ "metadata", refuse_principal, false },
		{ "filter_state", refuse_principal, false },
		{ "sourced_metadata", refuse_principal, false },
	};
	struct rbac_rule_src rs = { .rule = obj };
	int err = WALK(c, n, fields, &rs);
	if (!err && !rs.set)
		return fail(c, n, "expected one of any, authenticated");
	return err;
}

/* permissions and principals: each a non-empty list, as Envoy has them. */
static int read_rule_list(struct ctx *c, yaml_node_t *n, const char *what, size_t size,
			  void **items, size_t *n_items, field_read_fn read)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err)
		return err;
	if (!count)
		return fail(c, n, "expected at least one %s", what);
	if (!(*items = calloc(count, size)))
		return fail_nomem(c);
	*n_items = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		if ((err = visit(c, item)) || (err = read(c, item, (char *)*items + i * size)))
			return err;
		path_pop(c, old);
	}
	return 0;
}

static int policy_permissions(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_policy *p = obj;
	return read_rule_list(c, n, "permission", sizeof(*p->permissions), (void **)&p->permissions,
			      &p->n_permissions, read_permission);
}

static int policy_principals(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_policy *p = obj;
	return read_rule_list(c, n, "principal", sizeof(*p->principals), (void **)&p->principals,
			      &p->n_principals, read_principal);
}

static int read_policy(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "permissions", policy_permissions, true },
		{ "principals", policy_principals, true },
		{ "condition", refuse_unsupported, false },
		{ "checked_condition", refuse_unsupported, false },
	};
	return WALK(c, n, fields, obj);
}

/* rules.policies: a map from policy name to policy (proto map<string,
 * Policy>). Envoy evaluates them in name order; ALLOW and DENY do not depend
 * on the order, so they are kept as written. */
static int rules_policies(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_config *rbac = obj;
	int err = expect_mapping(c, n);
	if (err)
		return err;
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!count)
		return 0;
	if (!(rbac->policies = calloc(count, sizeof(*rbac->policies))))
		return fail_nomem(c);
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *pair = &n->data.mapping.pairs.start[i];
		yaml_node_t *key = yaml_document_get_node(c->doc, pair->key);
		struct rbac_policy *p = &rbac->policies[i];
		char buf[SHOWN_MAX + 4];
		if ((err = visit(c, key)))
			return err;
		if (key->type != YAML_SCALAR_NODE)
			return fail(c, key, "expected a policy name, not a %s",
				    key->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
		if (!key->data.scalar.length)
			return fail(c, key, "a policy name must not be empty");
		size_t old = path_push_field(c, shown(key, buf));
		rbac->n_policies = i + 1;
		if ((err = read_name(c, key, &p->name)))
			return err;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->name, rbac->policies[j].name) == 0)
				return fail(c, key, "duplicate policy");
		if ((err = read_policy(c, yaml_document_get_node(c->doc, pair->value), p)))
			return err;
		path_pop(c, old);
	}
	return 0;
}

static int rules_action(struct ctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum rbac_action. */
	static const char *const names[] = { "ALLOW", "DENY", NULL };
	static const char *const envoy_only[] = { "LOG", NULL };
	struct rbac_config *rbac = obj;
	int v;
	int err = read_enum(c, n, names, envoy_only, &v);
	if (!err)
		rbac->action = (enum rbac_action)v;
	return err;
}

static int rbac_rules(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "action", rules_action, false },
		{ "policies", rules_policies, false },
	};
	return WALK(c, n, fields, obj);
}

static int rbac_stat_prefix(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rbac_config *rbac = obj;
	return read_name(c, n, &rbac->stat_prefix);
}

/* Envoy without `rules` enforces nothing; skiff asks for them, so that an
 * authorization filter always authorizes. */
static int rbac_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
		{ "stat_prefix", rbac_stat_prefix, true },
		{ "rules", rbac_rules, true },
		{ "shadow_rules", refuse_unsupported, false },
		{ "shadow_rules_stat_prefix", refuse_unsupported, false },
		{ "matcher", refuse_rbac_matcher, false },
		{ "shadow_matcher", refuse_unsupported, false },
		{ "enforcement_type", refuse_unsupported, false },
	};
	return walk_typed_config(c, n, RBAC_TYPE, fields, sizeof(fields) / sizeof(fields[0]), obj);
}

/* ---- listeners --------------------------------------------------------- */

static int file_log_path(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct access_log_config *log = obj;
	return read_name(c, n, &log->path);
}

static int access_log_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_exact(c, n, FILE_LOG_NAME);
}

static int access_log_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
		{ "path", file_log_path, true },
	};
	return walk_typed_config(c, n, FILE_LOG_TYPE, fields, 2, obj);
}

static int read_access_log(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", access_log_name, false },
		{ "typed_config", access_log_typed_config, true },
	};
	return WALK(c, n, fields, obj);
}

/* access_log of tcp_proxy and http_connection_manager alike: at most one
 * FileAccessLog, into *log. */
static int read_access_logs(struct ctx *c, yaml_node_t *n, struct access_log_config *log)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (!err && count > 1)
		return fail(c, n, "expected at most one access log (skiff supports one), got %zu",
			    count);
	return err ? err : walk_sequence(c, n, read_access_log, log);
}

static int tcp_proxy_access_log(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct chain_src *cs = obj;
	return read_access_logs(c, n, &cs->fc->tcp_proxy.access_log);
}

static int tcp_proxy_stat_prefix(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct chain_src *cs = obj;
	return read_name(c, n, &cs->fc->tcp_proxy.stat_prefix);
}

static int tcp_proxy_cluster(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct chain_src *cs = obj;
	cs->cluster = n;
	return read_name(c, n, &cs->fc->tcp_proxy.cluster_name);
}

static int tcp_proxy_idle_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct chain_src *cs = obj;
	return read_duration(c, n, &cs->fc->tcp_proxy.idle_timeout_ms);
}

static int tcp_proxy_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
		{ "stat_prefix", tcp_proxy_stat_prefix, true },
		{ "cluster", tcp_proxy_cluster, true },
		{ "idle_timeout", tcp_proxy_idle_timeout, false },
		{ "access_log", tcp_proxy_access_log, false },
	};
	return walk_typed_config(c, n, TCP_PROXY_TYPE, fields, 5, obj);
}

static yaml_node_t *mapping_get(struct ctx *c, yaml_node_t *n, const char *key)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (scalar_is(yaml_document_get_node(c->doc, p->key), key))
			return yaml_document_get_node(c->doc, p->value);
	return NULL;
}

/* Which of the extensions `names` the item `n` of a filter list is: its
 * name decides what its typed_config holds, so it is read first, wherever
 * it is. Without a name, the typed_config's @type (`types`, same order)
 * decides, else the first, so that the errors inside typed_config come
 * before the missing name, as the walk finds them. */
static int extension_kind(struct ctx *c, yaml_node_t *n, const char *const *names,
			  const char *const *types, int *kind)
{
	int err = expect_mapping(c, n);
	if (err)
		return err;
	*kind = 0;
	yaml_node_t *name = mapping_get(c, n, "name");
	if (name) {
		size_t old = path_push_field(c, "name");
		if ((err = read_extension(c, name, names, kind)))
			return err;
		path_pop(c, old);
		return 0;
	}
	yaml_node_t *tc = mapping_get(c, n, "typed_config");
	yaml_node_t *type = tc && tc->type == YAML_MAPPING_NODE ? mapping_get(c, tc, "@type") : NULL;
	for (int i = 0; type && types[i]; i++)
		if (scalar_is(type, types[i]))
			*kind = i;
	return 0;
}

/* ---- the http_connection_manager filter and its routes ----------------- */

static int read_config_source(struct ctx *c, yaml_node_t *n, yaml_node_t **ads_at);

/* Calls read(c, item, &items[i]) for each item of sequence n into a new
 * zeroed array of `size`-byte items, counted in *n_items from the start so
 * that an error half-way frees what was read. At least `min` items. */
static int read_items(struct ctx *c, yaml_node_t *n, const char *what, size_t min, size_t size,
		      void **items, size_t *n_items, field_read_fn read)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err)
		return err;
	if (count < min)
		return fail(c, n, "expected at least one %s", what);
	if (!count)
		return 0;
	if (!(*items = calloc(count, size)))
		return fail_nomem(c);
	*n_items = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		if ((err = visit(c, item)) || (err = read(c, item, (char *)*items + i * size)))
			return err;
		path_pop(c, old);
	}
	return 0;
}

static int read_uint_range(struct ctx *c, yaml_node_t *n, uint32_t min, uint32_t max, uint32_t *out)
{
	int err = read_uint(c, n, max, out);
	if (!err && *out < min)
		return fail(c, n, "must be at least %u", min);
	return err;
}

static int read_positive_duration(struct ctx *c, yaml_node_t *n, uint32_t *ms)
{
	int err = read_duration(c, n, ms);
	if (!err && !*ms)
		return fail(c, n, "must be more than 0s");
	return err;
}

/* RFC 9110 section 5.6.2 tchar. */
static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* A header name, lower-cased: a token, or with `pseudo` a token after one
 * ':' (":authority", ":path", matched by the router). */
static int read_header_name(struct ctx *c, yaml_node_t *n, bool pseudo, char **out)
{
	int err = read_name(c, n, out);
	if (err)
		return err;
	char *s = *out;
	if (pseudo && s[0] == ':')
		s++;
	if (!*s)
		return fail(c, n, "expected a header name");
	for (; *s; s++) {
		if (!is_tchar((unsigned char)*s))
			return fail(c, n, "not a valid header name (RFC 9110 token%s)",
				    pseudo ? ", or ':' and a token" : "");
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
	return 0;
}

/* Text that goes on the wire in a header or a request line: no control
 * characters, so configuration cannot split a message. */
static int check_wire_text(struct ctx *c, yaml_node_t *n, const char *s, bool allow_space)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f || (ch == ' ' && !allow_space))
			return fail(c, n, allow_space ? "must not contain control characters"
						      : "must not contain spaces or control characters");
	}
	return 0;
}

static int read_wire_string(struct ctx *c, yaml_node_t *n, bool allow_space, char **out)
{
	int err = read_string(c, n, out);
	return err ? err : check_wire_text(c, n, *out, allow_space);
}

static int read_wire_name(struct ctx *c, yaml_node_t *n, char **out)
{
	int err = read_name(c, n, out);
	return err ? err : check_wire_text(c, n, *out, false);
}

/* A oneof: the second of its fields set is an error. */
static int oneof_set(struct ctx *c, yaml_node_t *n, unsigned *set, const char *names)
{
	if ((*set)++)
		return fail(c, n, "only one of %s may be set", names);
	return 0;
}

/* safe_regex.regex: compiled here only to report a bad pattern at its line;
 * router_prepare compiles it for good when the snapshot is linked. */
static int regex_regex(struct ctx *c, yaml_node_t *n, void *obj)
{
	char **out = obj;
	char why[200];
	int err = read_name(c, n, out);
	if (err)
		return err;
	struct regex *re = regex_compile(*out, false, why, sizeof(why));
	if (!re)
		return fail(c, n, "%s", why);
	regex_free(re);
	return 0;
}

/* type.matcher.v3.RegexMatcher: {regex, google_re2: {}}. */
static int read_safe_regex(struct ctx *c, yaml_node_t *n, char **out)
{
	static const struct field fields[] = {
		{ "regex", regex_regex, true },
		{ "google_re2", ignore_mapping, false },
	};
	return WALK(c, n, fields, out);
}

struct sm_src {
	struct string_match *m;
	unsigned set;
};

#define SM_NAMES "exact, prefix, suffix, contains, safe_regex"

static int sm_literal(struct ctx *c, yaml_node_t *n, struct sm_src *ss, enum string_match_kind kind)
{
	int err = oneof_set(c, n, &ss->set, SM_NAMES);
	if (err || (err = read_string(c, n, &ss->m->value)))
		return err;
	ss->m->kind = kind;
	if (kind != SM_EXACT && !*ss->m->value)
		return fail(c, n, "must not be empty");
	return 0;
}

static int sm_exact(struct ctx *c, yaml_node_t *n, void *obj)
{
	return sm_literal(c, n, obj, SM_EXACT);
}

static int sm_prefix(struct ctx *c, yaml_node_t *n, void *obj)
{
	return sm_literal(c, n, obj, SM_PREFIX);
}

static int sm_suffix(struct ctx *c, yaml_node_t *n, void *obj)
{
	return sm_literal(c, n, obj, SM_SUFFIX);
}

static int sm_contains(struct ctx *c, yaml_node_t *n, void *obj)
{
	return sm_literal(c, n, obj, SM_CONTAINS);
}

static int sm_safe_regex(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct sm_src *ss = obj;
	int err = oneof_set(c, n, &ss->set, SM_NAMES);
	ss->m->kind = SM_REGEX;
	return err ? err : read_safe_regex(c, n, &ss->m->value);
}

static int sm_ignore_case(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct sm_src *ss = obj;
	return read_bool(c, n, &ss->m->ignore_case);
}

/* type.matcher.v3.StringMatcher. */
static int read_string_match(struct ctx *c, yaml_node_t *n, struct string_match *m)
{
	static const struct field fields[] = {
		{ "exact", sm_exact, false },
		{ "prefix", sm_prefix, false },
		{ "suffix", sm_suffix, false },
		{ "contains", sm_contains, false },
		{ "safe_regex", sm_safe_regex, false },
		{ "ignore_case", sm_ignore_case, false },
	};
	struct sm_src ss = { .m = m };
	int err = WALK(c, n, fields, &ss);
	if (!err && !ss.set)
		return fail(c, n, "expected one of " SM_NAMES);
	return err;
}

/* route.match.headers[]: one of present_match, string_match or the older
 * exact_match... forms; none means present, as in Envoy. */
struct hm_src {
	struct header_match *h;
	unsigned set;
};

#define HM_NAMES                                                                          \
	"present_match, string_match, exact_match, prefix_match, suffix_match, contains_match, " \
	"safe_regex_match"

static int hm_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hm_src *hs = obj;
	return read_header_name(c, n, true, &hs->h->name);
}

static int hm_present(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hm_src *hs = obj;
	bool v;
	int err = oneof_set(c, n, &hs->set, HM_NAMES);
	if (err || (err = read_bool(c, n, &v)))
		return err;
	hs->h->present_only = true;
	hs->h->invert ^= !v; /* present_match: false matches an absent header */
	return 0;
}

static int hm_string_match(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hm_src *hs = obj;
	int err = oneof_set(c, n, &hs->set, HM_NAMES);
	return err ? err : read_string_match(c, n, &hs->h->value);
}

static int hm_legacy(struct ctx *c, yaml_node_t *n, struct hm_src *hs, enum string_match_kind kind)
{
	int err = oneof_set(c, n, &hs->set, HM_NAMES);
	if (err || (err = read_string(c, n, &hs->h->value.value)))
		return err;
	hs->h->value.kind = kind;
	if (kind != SM_EXACT && !*hs->h->value.value)
		return fail(c, n, "must not be empty");
	return 0;
}

static int hm_exact(struct ctx *c, yaml_node_t *n, void *obj)
{
	return hm_legacy(c, n, obj, SM_EXACT);
}

static int hm_prefix(struct ctx *c, yaml_node_t *n, void *obj)
{
	return hm_legacy(c, n, obj, SM_PREFIX);
}

static int hm_suffix(struct ctx *c, yaml_node_t *n, void *obj)
{
	return hm_legacy(c, n, obj, SM_SUFFIX);
}

static int hm_contains(struct ctx *c, yaml_node_t *n, void *obj)
{
	return hm_legacy(c, n, obj, SM_CONTAINS);
}

static int hm_safe_regex(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hm_src *hs = obj;
	int err = oneof_set(c, n, &hs->set, HM_NAMES);
	hs->h->value.kind = SM_REGEX;
	return err ? err : read_safe_regex(c, n, &hs->h->value.value);
}

static int hm_invert(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hm_src *hs = obj;
	bool v;
	int err = read_bool(c, n, &v);
	if (!err)
		hs->h->invert ^= v;
	return err;
}

REFUSE(refuse_range_match, "not supported by skiff (supported: " HM_NAMES ")")

static int read_header_match(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", hm_name, true },
		{ "present_match", hm_present, false },
		{ "string_match", hm_string_match, false },
		{ "exact_match", hm_exact, false },
		{ "prefix_match", hm_prefix, false },
		{ "suffix_match", hm_suffix, false },
		{ "contains_match", hm_contains, false },
		{ "safe_regex_match", hm_safe_regex, false },
		{ "invert_match", hm_invert, false },
		{ "range_match", refuse_range_match, false },
	};
	struct hm_src hs = { .h = obj };
	int err = WALK(c, n, fields, &hs);
	if (!err && !hs.set)
		hs.h->present_only = true;
	return err;
}

struct qm_src {
	struct query_match *q;
	unsigned set;
};

static int qm_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct qm_src *qs = obj;
	return read_name(c, n, &qs->q->name);
}

static int qm_present(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct qm_src *qs = obj;
	int err = oneof_set(c, n, &qs->set, "present_match, string_match");
	return err ? err : read_any_true(c, n, &qs->q->present_only);
}

static int qm_string_match(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct qm_src *qs = obj;
	int err = oneof_set(c, n, &qs->set, "present_match, string_match");
	return err ? err : read_string_match(c, n, &qs->q->value);
}

static int read_query_match(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", qm_name, true },
		{ "present_match", qm_present, false },
		{ "string_match", qm_string_match, false },
	};
	struct qm_src qs = { .q = obj };
	int err = WALK(c, n, fields, &qs);
	if (!err && !qs.set)
		qs.q->present_only = true;
	return err;
}

/* ---- RouteMatch */

struct match_src {
	struct route_match *m;
	unsigned set;
};

#define PATH_NAMES "prefix, path, safe_regex, connect_matcher"

static int match_path_kind(struct ctx *c, yaml_node_t *n, struct match_src *ms,
			   enum path_match_kind kind)
{
	int err = oneof_set(c, n, &ms->set, PATH_NAMES);
	ms->m->kind = kind;
	if (err)
		return err;
	if (kind == PATH_REGEX)
		return read_safe_regex(c, n, &ms->m->value);
	return read_wire_string(c, n, false, &ms->m->value);
}

static int match_prefix(struct ctx *c, yaml_node_t *n, void *obj)
{
	return match_path_kind(c, n, obj, PATH_PREFIX);
}

static int match_path(struct ctx *c, yaml_node_t *n, void *obj)
{
	return match_path_kind(c, n, obj, PATH_EXACT);
}

static int match_safe_regex(struct ctx *c, yaml_node_t *n, void *obj)
{
	return match_path_kind(c, n, obj, PATH_REGEX);
}

/* connect_matcher: {} (an empty message). */
static int match_connect(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field none[] = { { "", NULL, false } };
	struct match_src *ms = obj;
	int err = oneof_set(c, n, &ms->set, PATH_NAMES);
	ms->m->kind = PATH_CONNECT;
	if (err)
		return err;
	return WALK(c, n, none, NULL);
}

static int match_case_sensitive(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct match_src *ms = obj;
	return read_bool(c, n, &ms->m->case_sensitive);
}

static int match_headers(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct match_src *ms = obj;
	return read_items(c, n, "header matcher", 0, sizeof(struct header_match),
			  (void **)&ms->m->headers, &ms->m->n_headers, read_header_match);
}

static int match_query(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct match_src *ms = obj;
	return read_items(c, n, "query parameter matcher", 0, sizeof(struct query_match),
			  (void **)&ms->m->query, &ms->m->n_query, read_query_match);
}

static int read_route_match(struct ctx *c, yaml_node_t *n, struct route_match *m)
{
	static const struct field fields[] = {
		{ "prefix", match_prefix, false },
		{ "path", match_path, false },
		{ "safe_regex", match_safe_regex, false },
		{ "connect_matcher", match_connect, false },
		{ "case_sensitive", match_case_sensitive, false },
		{ "headers", match_headers, false },
		{ "query_parameters", match_query, false },
	};
	struct match_src ms = { .m = m };
	int err = WALK(c, n, fields, &ms);
	if (!err && !ms.set)
		return fail(c, n, "expected one of " PATH_NAMES);
	return err;
}

/* ---- header edits: the same four fields on a route configuration, a
 * virtual host and a route. The readers of those three start their object
 * with a pointer to its edits. */

struct header_add_src {
	struct header_add *h;
	bool has_append, has_action;
};

static int header_value_key(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct header_add *h = obj;
	int err = read_header_name(c, n, false, &h->name);
	if (!err && strcmp(h->name, "host") == 0)
		return fail(c, n, "use host_rewrite_literal to change the host");
	return err;
}

static int header_value_value(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct header_add *h = obj;
	return read_wire_string(c, n, true, &h->value);
}

static int header_add_header(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "key", header_value_key, true },
		{ "value", header_value_value, false },
	};
	struct header_add_src *hs = obj;
	return WALK(c, n, fields, hs->h);
}

static int header_add_append(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct header_add_src *hs = obj;
	hs->has_append = true;
	if (hs->has_action)
		return fail(c, n, "only one of append, append_action may be set");
	return read_bool(c, n, &hs->h->append);
}

static int header_add_action(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "OVERWRITE_IF_EXISTS_OR_ADD", "APPEND_IF_EXISTS_OR_ADD",
					     NULL };
	static const char *const envoy_only[] = { "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS", NULL };
	struct header_add_src *hs = obj;
	int v;
	hs->has_action = true;
	if (hs->has_append)
		return fail(c, n, "only one of append, append_action may be set");
	int err = read_enum(c, n, names, envoy_only, &v);
	if (!err)
		hs->h->append = v == 1;
	return err;
}

static int read_header_add(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "header", header_add_header, true },
		{ "append", header_add_append, false },
		{ "append_action", header_add_action, false },
	};
	struct header_add_src hs = { .h = obj };
	hs.h->append = true; /* Envoy's default */
	int err = WALK(c, n, fields, &hs);
	if (!err && !hs.h->value && !(hs.h->value = strdup("")))
		return fail_nomem(c);
	return err;
}

static int read_header_remove(struct ctx *c, yaml_node_t *n, void *obj)
{
	char **name = obj;
	int err = read_header_name(c, n, false, name);
	if (!err && strcmp(*name, "host") == 0)
		return fail(c, n, "the host header cannot be removed");
	return err;
}

static int edits_request_add(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct header_edits *e = *(struct header_edits **)obj;
	return read_items(c, n, "header", 0, sizeof(struct header_add), (void **)&e->request_add,
			  &e->n_request_add, read_header_add);
}

static int edits_request_remove(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct header_edits *e = *(struct header_edits **)obj;
	return read_items(c, n, "header", 0, sizeof(char *), (void **)&e->request_remove,
			  &e->n_request_remove, read_header_remove);
}

static int edits_response_add(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct header_edits *e = *(struct header_edits **)obj;
	return read_items(c, n, "header", 0, sizeof(struct header_add), (void **)&e->response_add,
			  &e->n_response_add, read_header_add);
}

static int edits_response_remove(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct header_edits *e = *(struct header_edits **)obj;
	return read_items(c, n, "header", 0, sizeof(char *), (void **)&e->response_remove,
			  &e->n_response_remove, read_header_remove);
}

#define HEADER_EDIT_FIELDS                                             \
	{ "request_headers_to_add", edits_request_add, false },        \
	{ "request_headers_to_remove", edits_request_remove, false },  \
	{ "response_headers_to_add", edits_response_add, false },      \
	{ "response_headers_to_remove", edits_response_remove, false }

/* ---- RouteAction */

struct action_src {
	struct route *r;
	unsigned set; /* cluster, weighted_clusters */
	yaml_node_t *weighted;
};

static int action_cluster(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct action_src *as = obj;
	int err = oneof_set(c, n, &as->set, "cluster, weighted_clusters");
	return err ? err : read_name(c, n, &as->r->cluster_name);
}

static int weighted_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct weighted_cluster *w = obj;
	return read_name(c, n, &w->name);
}

static int weighted_weight(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct weighted_cluster *w = obj;
	return read_uint(c, n, UINT32_MAX, &w->weight);
}

static int read_weighted_cluster(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", weighted_name, true },
		{ "weight", weighted_weight, false },
	};
	return WALK(c, n, fields, obj);
}

static int weighted_clusters_list(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route *r = obj;
	return read_items(c, n, "cluster", 1, sizeof(struct weighted_cluster), (void **)&r->weighted,
			  &r->n_weighted, read_weighted_cluster);
}

/* The sum is what a request's random number is taken modulo: it must not
 * be zero, nor wrap. */
static int action_weighted_clusters(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "clusters", weighted_clusters_list, true },
	};
	struct action_src *as = obj;
	int err = oneof_set(c, n, &as->set, "cluster, weighted_clusters");
	if (err || (err = WALK(c, n, fields, as->r)))
		return err;
	uint64_t total = 0;
	for (size_t i = 0; i < as->r->n_weighted; i++)
		total += as->r->weighted[i].weight;
	if (!total)
		return fail(c, n, "the clusters' weights add up to 0");
	if (total > UINT32_MAX)
		return fail(c, n, "the clusters' weights add up past %u", UINT32_MAX);
	as->r->total_weight = (uint32_t)total;
	return 0;
}

static int action_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct action_src *as = obj;
	return read_duration(c, n, &as->r->timeout_ms);
}

static int action_idle_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct action_src *as = obj;
	as->r->has_idle_timeout = true;
	return read_duration(c, n, &as->r->idle_timeout_ms);
}

static int action_prefix_rewrite(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct action_src *as = obj;
	return read_wire_string(c, n, false, &as->r->prefix_rewrite);
}

static int action_host_rewrite(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct action_src *as = obj;
	return read_wire_name(c, n, &as->r->host_rewrite);
}

/* retry_on: Envoy's comma-separated conditions (router filter docs). */
static int retry_on(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "5xx", "gateway-error", "reset", "connect-failure",
					     "retriable-status-codes", "refused-stream", NULL };
	struct retry_policy *rp = obj;
	char *list = NULL, buf[SHOWN_MAX + 4], all[160];
	int err = read_string(c, n, &list);
	if (err)
		return err;
	rp->retry_on = 0;
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		for (char *end = tok + strlen(tok); end > tok && end[-1] == ' ';)
			*--end = '\0';
		int i = 0;
		while (names[i] && strcmp(tok, names[i]) != 0)
			i++;
		if (!names[i]) {
			yaml_node_t tmp = *n;
			tmp.data.scalar.value = (yaml_char_t *)tok;
			tmp.data.scalar.length = strlen(tok);
			list_names(all, sizeof(all), names);
			err = fail(c, n, "not supported by skiff: \"%s\" (supported: %s)",
				   shown(&tmp, buf), all);
			break;
		}
		rp->retry_on |= 1u << i; /* names[] is in the order of enum retry_on */
	}
	free(list);
	return err;
}

static int retry_num_retries(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct retry_policy *rp = obj;
	return read_uint(c, n, 100, &rp->num_retries);
}

static int retry_per_try_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct retry_policy *rp = obj;
	return read_duration(c, n, &rp->per_try_timeout_ms);
}

static int back_off_base(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct retry_policy *rp = obj;
	return read_positive_duration(c, n, &rp->back_off_base_ms);
}

static int back_off_max(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct retry_policy *rp = obj;
	return read_positive_duration(c, n, &rp->back_off_max_ms);
}

static int retry_back_off(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
	    {"base_interval", back_off_base, true},
	    {"max_interval", back_off_max, false},
	};
	struct retry_policy *rp = obj;
	int err = WALK(c, n, fields, rp);
	if (!err && rp->back_off_max_ms && rp->back_off_max_ms < rp->back_off_base_ms)
		return fail(c, n, "max_interval (%ums) is below base_interval (%ums)",
			    rp->back_off_max_ms, rp->back_off_base_ms);
	return err;
}

static int previous_hosts_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
	};
	return walk_typed_config(c, n, RETRY_PREVIOUS_HOSTS_TYPE, fields, 1, obj);
}

static int retry_host_predicates(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { RETRY_PREVIOUS_HOSTS_NAME, NULL };
	static const char *const types[] = { RETRY_PREVIOUS_HOSTS_TYPE, NULL };
	static const struct field fields[] = {
		{ "name", NULL, true },
		{ "typed_config", previous_hosts_typed_config, false },
	};
	struct retry_policy *rp = obj;
	size_t count = 0;
	int kind, err = expect_sequence(c, n, &count);
	for (size_t i = 0; !err && i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		if ((err = visit(c, item)) || (err = extension_kind(c, item, names, types, &kind)) ||
		    (err = WALK(c, item, fields, rp)))
			return err;
		rp->previous_hosts = true;
		path_pop(c, old);
	}
	return err;
}

static int retry_host_attempts(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct retry_policy *rp = obj;
	return read_uint(c, n, HOST_SELECTION_ATTEMPTS_MAX, &rp->host_selection_max_attempts);
}

static int read_status_code(struct ctx *c, yaml_node_t *n, void *obj)
{
	uint32_t v;
	int err = read_uint_range(c, n, 100, 599, &v);
	if (!err)
		*(uint16_t *)obj = (uint16_t)v;
	return err;
}

#define MAX_RETRIABLE_CODES 64u

static int retry_status_codes(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct retry_policy *rp = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (!err && count > MAX_RETRIABLE_CODES)
		return fail(c, n, "too many status codes: %zu (at most %u)", count,
			    MAX_RETRIABLE_CODES);
	return err ? err
		   : read_items(c, n, "status code", 0, sizeof(uint16_t),
				(void **)&rp->retriable_status_codes, &rp->n_retriable_status_codes,
				read_status_code);
}

static int action_retry_policy(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "retry_on", retry_on, false },
		{ "num_retries", retry_num_retries, false },
		{ "per_try_timeout", retry_per_try_timeout, false },
		{ "retriable_status_codes", retry_status_codes, false },
		{ "retry_back_off", retry_back_off, false },
		{ "retry_host_predicate", retry_host_predicates, false },
		{ "host_selection_retry_max_attempts", retry_host_attempts, false },
	};
	struct action_src *as = obj;
	return WALK(c, n, fields, &as->r->retry);
}

/* One hash_policy entry being read: which of its kinds was set. */
struct hash_src {
	struct hash_policy *p;
	unsigned set;
};

#define HASH_KIND_NAMES "header, connection_properties, query_parameter, cookie"

static int hash_header_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hash_policy *p = obj;
	return read_header_name(c, n, true, &p->name);
}

static int hash_policy_header(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "header_name", hash_header_name, true },
	};
	struct hash_src *hs = obj;
	int err = oneof_set(c, n, &hs->set, HASH_KIND_NAMES);
	hs->p->kind = HASH_HEADER;
	return err ? err : WALK(c, n, fields, hs->p);
}

static int hash_source_ip(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj; /* the kind, set by the caller, is all there is to keep */
	bool on = false;
	int err = read_bool(c, n, &on);
	if (!err && !on)
		return fail(c, n, "must be true (the only connection property skiff hashes)");
	return err;
}

static int hash_policy_connection(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "source_ip", hash_source_ip, true },
	};
	struct hash_src *hs = obj;
	int err = oneof_set(c, n, &hs->set, HASH_KIND_NAMES);
	hs->p->kind = HASH_SOURCE_IP;
	return err ? err : WALK(c, n, fields, hs->p);
}

static int hash_query_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hash_policy *p = obj;
	return read_name(c, n, &p->name);
}

static int hash_policy_query(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", hash_query_name, true },
	};
	struct hash_src *hs = obj;
	int err = oneof_set(c, n, &hs->set, HASH_KIND_NAMES);
	hs->p->kind = HASH_QUERY_PARAMETER;
	return err ? err : WALK(c, n, fields, hs->p);
}

static int hash_cookie_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hash_policy *p = obj;
	int err = read_name(c, n, &p->name);
	if (!err && strpbrk(p->name, "=;, \t\r\n\"")) /* a cookie-name token */
		return fail(c, n, "not a cookie name");
	return err;
}

static int hash_cookie_ttl(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hash_policy *p = obj;
	uint32_t ms = 0;
	int err = read_duration(c, n, &ms);
	p->has_ttl = true;
	p->ttl_s = ms / 1000;
	return err;
}

static int hash_cookie_path(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hash_policy *p = obj;
	int err = read_name(c, n, &p->path);
	if (!err && strpbrk(p->path, ";\r\n"))
		return fail(c, n, "must not hold ';', CR or LF");
	return err;
}

REFUSE(refuse_cookie_attributes, "not supported by skiff")

static int hash_policy_cookie(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", hash_cookie_name, true },
		{ "ttl", hash_cookie_ttl, false },
		{ "path", hash_cookie_path, false },
		{ "attributes", refuse_cookie_attributes, false },
	};
	struct hash_src *hs = obj;
	int err = oneof_set(c, n, &hs->set, HASH_KIND_NAMES);
	hs->p->kind = HASH_COOKIE;
	return err ? err : WALK(c, n, fields, hs->p);
}

static int hash_terminal(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hash_src *hs = obj;
	return read_bool(c, n, &hs->p->terminal);
}

REFUSE(refuse_hash_kind, "not supported by skiff (supported: " HASH_KIND_NAMES ")")

static int read_hash_policy(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "header", hash_policy_header, false },
		{ "connection_properties", hash_policy_connection, false },
		{ "query_parameter", hash_policy_query, false },
		{ "cookie", hash_policy_cookie, false },
		{ "filter_state", refuse_hash_kind, false },
		{ "terminal", hash_terminal, false },
	};
	struct route *r = obj;
	struct hash_src hs = { .p = &r->hash_policies[r->n_hash_policies] };
	int err = WALK(c, n, fields, &hs);
	r->n_hash_policies++; /* owned from here, whatever happened */
	if (!err && !hs.set)
		return fail(c, n, "expected one of " HASH_KIND_NAMES);
	return err;
}

static int action_hash_policy(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct action_src *as = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (!err && count > ROUTE_HASH_POLICIES_MAX)
		return fail(c, n, "expected at most %d hash policies, got %zu",
			    ROUTE_HASH_POLICIES_MAX, count);
	if (err || !count)
		return err;
	if (!(as->r->hash_policies = calloc(count, sizeof(*as->r->hash_policies))))
		return fail_nomem(c);
	return walk_sequence(c, n, read_hash_policy, as->r);
}

REFUSE(refuse_cluster_header, "not supported by skiff (supported: cluster, weighted_clusters)")

static int read_route_action(struct ctx *c, yaml_node_t *n, struct route *r)
{
	static const struct field fields[] = {
		{ "cluster", action_cluster, false },
		{ "weighted_clusters", action_weighted_clusters, false },
		{ "cluster_header", refuse_cluster_header, false },
		{ "timeout", action_timeout, false },
		{ "idle_timeout", action_idle_timeout, false },
		{ "prefix_rewrite", action_prefix_rewrite, false },
		{ "host_rewrite_literal", action_host_rewrite, false },
		{ "retry_policy", action_retry_policy, false },
		{ "hash_policy", action_hash_policy, false },
	};
	struct action_src as = { .r = r };
	r->kind = ROUTE_TO_CLUSTER;
	int err = WALK(c, n, fields, &as);
	if (!err && !as.set)
		return fail(c, n, "expected one of cluster, weighted_clusters");
	return err;
}

/* ---- RedirectAction and DirectResponseAction */

struct redirect_src {
	struct route *r;
	unsigned path_set, scheme_set;
};

static int redirect_host(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct redirect_src *rs = obj;
	return read_wire_name(c, n, &rs->r->redirect_host);
}

static int redirect_path(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct redirect_src *rs = obj;
	int err = oneof_set(c, n, &rs->path_set, "path_redirect, prefix_rewrite");
	return err ? err : read_wire_name(c, n, &rs->r->redirect_path);
}

static int redirect_prefix(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct redirect_src *rs = obj;
	int err = oneof_set(c, n, &rs->path_set, "path_redirect, prefix_rewrite");
	return err ? err : read_wire_string(c, n, false, &rs->r->redirect_prefix);
}

static int redirect_scheme(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct redirect_src *rs = obj;
	int err = oneof_set(c, n, &rs->scheme_set, "scheme_redirect, https_redirect");
	return err ? err : read_wire_name(c, n, &rs->r->redirect_scheme);
}

static int redirect_https(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct redirect_src *rs = obj;
	bool v;
	int err = oneof_set(c, n, &rs->scheme_set, "scheme_redirect, https_redirect");
	if (err || (err = read_bool(c, n, &v)))
		return err;
	if (v && !(rs->r->redirect_scheme = strdup("https")))
		return fail_nomem(c);
	return 0;
}

static int redirect_code(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "MOVED_PERMANENTLY", "FOUND", "SEE_OTHER",
					     "TEMPORARY_REDIRECT", "PERMANENT_REDIRECT", NULL };
	static const uint16_t codes[] = { 301, 302, 303, 307, 308 };
	struct redirect_src *rs = obj;
	int v;
	int err = read_enum(c, n, names, NULL, &v);
	if (!err)
		rs->r->redirect_code = codes[v];
	return err;
}

static int redirect_strip_query(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct redirect_src *rs = obj;
	return read_bool(c, n, &rs->r->strip_query);
}

static int read_redirect(struct ctx *c, yaml_node_t *n, struct route *r)
{
	static const struct field fields[] = {
		{ "host_redirect", redirect_host, false },
		{ "path_redirect", redirect_path, false },
		{ "prefix_rewrite", redirect_prefix, false },
		{ "scheme_redirect", redirect_scheme, false },
		{ "https_redirect", redirect_https, false },
		{ "response_code", redirect_code, false },
		{ "strip_query", redirect_strip_query, false },
		{ "regex_rewrite", refuse_unsupported, false },
	};
	struct redirect_src rs = { .r = r };
	r->kind = ROUTE_REDIRECT;
	return WALK(c, n, fields, &rs);
}

/* Envoy's max_direct_response_body_size_bytes default. */
#define MAX_DIRECT_BODY 4096u

static int body_inline_string(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route *r = obj;
	int err = read_string(c, n, &r->direct_body);
	if (!err && strlen(r->direct_body) > MAX_DIRECT_BODY)
		return fail(c, n, "longer than %u bytes", MAX_DIRECT_BODY);
	return err;
}

REFUSE(refuse_body_source, "not supported by skiff (supported: inline_string)")

static int direct_body(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "inline_string", body_inline_string, false },
		{ "filename", refuse_body_source, false },
		{ "inline_bytes", refuse_body_source, false },
		{ "environment_variable", refuse_body_source, false },
	};
	return WALK(c, n, fields, obj);
}

static int direct_status(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route *r = obj;
	uint32_t v;
	int err = read_uint_range(c, n, 200, 599, &v);
	if (!err)
		r->direct_status = (uint16_t)v;
	return err;
}

static int read_direct_response(struct ctx *c, yaml_node_t *n, struct route *r)
{
	static const struct field fields[] = {
		{ "status", direct_status, true },
		{ "body", direct_body, false },
	};
	r->kind = ROUTE_DIRECT_RESPONSE;
	return WALK(c, n, fields, r);
}

/* ---- Route, VirtualHost, RouteConfiguration */

/* Starts with the edits (HEADER_EDIT_FIELDS), then the route. */
struct route_src {
	struct header_edits *edits;
	struct route *r;
	unsigned actions;
};

static int route_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route_src *rs = obj;
	return read_string(c, n, &rs->r->name);
}

static int route_match(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route_src *rs = obj;
	return read_route_match(c, n, &rs->r->match);
}

#define ACTION_NAMES "route, redirect, direct_response"

static int route_action(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route_src *rs = obj;
	int err = oneof_set(c, n, &rs->actions, ACTION_NAMES);
	return err ? err : read_route_action(c, n, rs->r);
}

static int route_redirect_action(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route_src *rs = obj;
	int err = oneof_set(c, n, &rs->actions, ACTION_NAMES);
	return err ? err : read_redirect(c, n, rs->r);
}

static int route_direct_action(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct route_src *rs = obj;
	int err = oneof_set(c, n, &rs->actions, ACTION_NAMES);
	return err ? err : read_direct_response(c, n, rs->r);
}

static int read_route(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", route_name, false },
		{ "match", route_match, true },
		{ "route", route_action, false },
		{ "redirect", route_redirect_action, false },
		{ "direct_response", route_direct_action, false },
		HEADER_EDIT_FIELDS,
	};
	struct route *r = obj;
	struct route_src rs = { .edits = &r->edits, .r = r };
	route_defaults(r);
	int err = WALK(c, n, fields, &rs);
	if (!err && !rs.actions)
		return fail(c, n, "expected one of " ACTION_NAMES);
	return err;
}

/* A name and where it was, to find duplicates by sorting. */
struct name_ref {
	const char *name;
	size_t at, sub; /* virtual_hosts[at], domains[sub] */
	yaml_node_t *node;
};

struct vhost_src {
	struct header_edits *edits;
	struct virtual_host *vh;
	struct rc_src *rs;
};

struct rc_src {
	struct header_edits *edits;
	struct route_config *rc;
	size_t vh_at;            /* the virtual host being read */
	struct name_ref *domains, *names;
	size_t n_domains, cap_domains;
};

static int vhost_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct vhost_src *vs = obj;
	int err = read_name(c, n, &vs->vh->name);
	if (!err)
		vs->rs->names[vs->rs->vh_at] =
			(struct name_ref){ vs->vh->name, vs->rs->vh_at, 0, n };
	return err;
}

/* "*", "*suffix" or "prefix*": one wildcard, at an end (Envoy's rule). */
static int read_domain(struct ctx *c, yaml_node_t *n, void *obj)
{
	char **d = obj;
	int err = read_wire_name(c, n, d);
	if (err)
		return err;
	size_t len = strlen(*d);
	char *star = strchr(*d, '*');
	if (star && (strchr(star + 1, '*') || (star != *d && star != *d + len - 1)))
		return fail(c, n, "a wildcard '*' may only start or end a domain, once");
	for (char *s = *d; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	return 0;
}

static int vhost_domains(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct vhost_src *vs = obj;
	struct rc_src *rs = vs->rs;
	int err = read_items(c, n, "domain", 1, sizeof(char *), (void **)&vs->vh->domains,
			     &vs->vh->n_domains, read_domain);
	if (err)
		return err;
	if (rs->n_domains + vs->vh->n_domains > rs->cap_domains) {
		size_t cap = (rs->n_domains + vs->vh->n_domains) * 2;
		struct name_ref *grown = realloc(rs->domains, cap * sizeof(*grown));
		if (!grown)
			return fail_nomem(c);
		rs->domains = grown;
		rs->cap_domains = cap;
	}
	for (size_t i = 0; i < vs->vh->n_domains; i++)
		rs->domains[rs->n_domains++] =
			(struct name_ref){ vs->vh->domains[i], rs->vh_at, i, seq_item(c, n, i) };
	return 0;
}

static int vhost_routes(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct vhost_src *vs = obj;
	return read_items(c, n, "route", 0, sizeof(struct route), (void **)&vs->vh->routes,
			  &vs->vh->n_routes, read_route);
}

static int read_vhost(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", vhost_name, true },
		{ "domains", vhost_domains, true },
		{ "routes", vhost_routes, false },
		HEADER_EDIT_FIELDS,
	};
	struct rc_src *rs = obj;
	struct virtual_host *vh = &rs->rc->vhosts[rs->vh_at];
	struct vhost_src vs = { .edits = &vh->edits, .vh = vh, .rs = rs };
	return WALK(c, n, fields, &vs);
}

static int rc_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rc_src *rs = obj;
	return read_name(c, n, &rs->rc->name);
}

static int rc_vhosts(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct rc_src *rs = obj;
	struct route_config *rc = rs->rc;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err || !count)
		return err;
	rc->vhosts = calloc(count, sizeof(*rc->vhosts));
	rs->names = calloc(count, sizeof(*rs->names));
	if (!rc->vhosts || !rs->names)
		return fail_nomem(c);
	rc->n_vhosts = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		rs->vh_at = i;
		if ((err = visit(c, item)) || (err = read_vhost(c, item, rs)))
			return err;
		path_pop(c, old);
	}
	return 0;
}

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int d = strcmp(x->name, y->name);
	if (d)
		return d;
	return x->at != y->at ? (x->at < y->at ? -1 : 1) : (x->sub > y->sub) - (x->sub < y->sub);
}

/* The first duplicate of refs in document order after sorting, or NULL;
 * *first gets the one it repeats. Sorting keeps this O(n log n) for the
 * thousands of domains a mesh gateway may carry. */
static const struct name_ref *find_duplicate(struct name_ref *refs, size_t n,
					     const struct name_ref **first)
{
	const struct name_ref *dup = NULL;
	if (n < 2)
		return NULL;
	qsort(refs, n, sizeof(*refs), name_ref_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(refs[i].name, refs[i - 1].name) != 0)
			continue;
		size_t j = i - 1;
		while (j > 0 && strcmp(refs[j - 1].name, refs[i].name) == 0)
			j--;
		if (!dup || refs[i].at < dup->at || (refs[i].at == dup->at && refs[i].sub < dup->sub)) {
			dup = &refs[i];
			*first = &refs[j];
		}
	}
	return dup;
}

/* Envoy refuses a domain in two virtual hosts (which would win is not
 * defined) and two virtual hosts of one name. */
static int check_route_config(struct ctx *c, struct rc_src *rs)
{
	const struct name_ref *first = NULL, *dup;
	if ((dup = find_duplicate(rs->names, rs->rc->n_vhosts, &first))) {
		path_push(c, ".virtual_hosts[%zu].name", dup->at);
		return fail(c, dup->node, "duplicate name \"%s\" (also virtual_hosts[%zu])", dup->name,
			    first->at);
	}
	if ((dup = find_duplicate(rs->domains, rs->n_domains, &first))) {
		path_push(c, ".virtual_hosts[%zu].domains[%zu]", dup->at, dup->sub);
		return fail(c, dup->node, "duplicate domain \"%s\" (also virtual_hosts[%zu].domains[%zu])",
			    dup->name, first->at, first->sub);
	}
	return 0;
}

/* config.route.v3.RouteConfiguration into *rc. */
static int read_route_config(struct ctx *c, yaml_node_t *n, struct route_config *rc)
{
	static const struct field fields[] = {
		{ "name", rc_name, false },
		{ "virtual_hosts", rc_vhosts, false },
		HEADER_EDIT_FIELDS,
	};
	struct rc_src rs = { .edits = &rc->edits, .rc = rc };
	int err = WALK(c, n, fields, &rs);
	if (!err)
		err = check_route_config(c, &rs);
	free(rs.domains);
	free(rs.names);
	return err;
}

/* ---- HttpConnectionManager */

struct hcm_src {
	struct http_conn_manager_config *h;
	unsigned routes_set; /* route_config, rds */
	bool has_router;
};

static int hcm_stat_prefix(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_name(c, n, &hs->h->stat_prefix);
}

static int hcm_codec_type(struct ctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum http_codec_type. */
	static const char *const names[] = { "AUTO", "HTTP1", "HTTP2", NULL };
	static const char *const envoy_only[] = { "HTTP3", NULL };
	struct hcm_src *hs = obj;
	int v;
	int err = read_enum(c, n, names, envoy_only, &v);
	if (!err)
		hs->h->codec = (enum http_codec_type)v;
	return err;
}

static int hcm_route_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	int err = oneof_set(c, n, &hs->routes_set, "route_config, rds");
	if (err)
		return err;
	if (!(hs->h->route_config = calloc(1, sizeof(*hs->h->route_config))))
		return fail_nomem(c);
	hs->h->route_config_owned = true;
	return read_route_config(c, n, hs->h->route_config);
}

static int rds_route_config_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_name(c, n, &hs->h->rds_name);
}

/* RDS comes over the ADS stream: its config_source is {ads: {}}, checked
 * against ads_config once the whole document is read. */
static int rds_config_source(struct ctx *c, yaml_node_t *n, void *obj)
{
	yaml_node_t *at = NULL;
	int err = read_config_source(c, n, &at);
	(void)obj;
	if (!err && !c->rds_ads) {
		c->rds_ads = at;
		snprintf(c->rds_path, sizeof(c->rds_path), "%s.ads", c->path.s);
	}
	return err;
}

static int hcm_rds(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "route_config_name", rds_route_config_name, true },
		{ "config_source", rds_config_source, true },
	};
	struct hcm_src *hs = obj;
	int err = oneof_set(c, n, &hs->routes_set, "route_config, rds");
	return err ? err : WALK(c, n, fields, obj);
}

static int router_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
	};
	return walk_typed_config(c, n, HTTP_ROUTER_TYPE, fields, 1, obj);
}

/* The router is the only HTTP filter skiff runs, and it ends the list, as
 * it is what answers. */
static int hcm_http_filters(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { HTTP_ROUTER_NAME, NULL };
	static const char *const types[] = { HTTP_ROUTER_TYPE, NULL };
	static const struct field router[] = {
		{ "name", NULL, true },
		{ "typed_config", router_typed_config, false },
	};
	struct hcm_src *hs = obj;
	size_t count = 0;
	int kind, err = expect_sequence(c, n, &count);
	if (err)
		return err;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		if ((err = visit(c, item)) || (err = extension_kind(c, item, names, types, &kind)) ||
		    (err = WALK(c, item, router, obj)))
			return err;
		if (i + 1 < count)
			return fail(c, item, HTTP_ROUTER_NAME " must be the last HTTP filter");
		path_pop(c, old);
	}
	if (!count)
		return fail(c, n, "must end with an " HTTP_ROUTER_NAME " filter");
	hs->has_router = true;
	return 0;
}

static int hcm_access_log(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_access_logs(c, n, &hs->h->access_log);
}

static int h2_max_streams(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http2_limits *l = obj;
	return read_uint_range(c, n, 1, 2147483647u, &l->max_concurrent_streams);
}

/* RFC 9113 section 6.5.2: a window is 65535 to 2^31-1 bytes. */
static int h2_stream_window(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http2_limits *l = obj;
	return read_uint_range(c, n, 65535, 2147483647u, &l->initial_stream_window_size);
}

static int h2_connection_window(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http2_limits *l = obj;
	return read_uint_range(c, n, 65535, 2147483647u, &l->initial_connection_window_size);
}

/* Frames queued toward a peer that does not read them (Envoy: at least 1,
 * default 10000): the cap on the ACKs a PING/SETTINGS flood provokes. */
static int h2_outbound_frames(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http2_limits *l = obj;
	return read_uint_range(c, n, 1, UINT32_MAX, &l->max_outbound_frames);
}

/* Of those, control frames (PING and SETTINGS ACKs, RST_STREAM; Envoy: at
 * least 1, default 1000). */
static int h2_outbound_control_frames(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http2_limits *l = obj;
	return read_uint_range(c, n, 1, UINT32_MAX, &l->max_outbound_control_frames);
}

/* DATA/HEADERS/CONTINUATION frames without payload or END_STREAM in a row before the
 * connection is closed (Envoy's default 1; 0 closes on the first): they
 * cost us work and move nothing. */
static int h2_empty_frames(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http2_limits *l = obj;
	return read_uint(c, n, UINT32_MAX, &l->max_consecutive_empty_frames);
}

/* allow_connect: extended CONNECT (RFC 8441) for WebSocket over HTTP/2.
 * Accepted for Envoy configs; skiff carries upgrades between sidecars on a
 * dedicated HTTP/1.1 connection instead, so it changes nothing. */
static int h2_allow_connect(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	bool ignored;
	return read_bool(c, n, &ignored);
}

/* config.core.v3.Http2ProtocolOptions into *obj (struct http2_limits).
 * Envoy has no fields for the rest of http2_limits (the rapid-reset token
 * bucket, CONTINUATIONs per header block, SETTINGS entries per frame, the
 * MadeYouReset budget): they keep http2_limits_default's values. */
static int read_http2_options(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "allow_connect", h2_allow_connect, false },
		{ "max_concurrent_streams", h2_max_streams, false },
		{ "initial_stream_window_size", h2_stream_window, false },
		{ "initial_connection_window_size", h2_connection_window, false },
		{ "max_outbound_frames", h2_outbound_frames, false },
		{ "max_outbound_control_frames", h2_outbound_control_frames, false },
		{ "max_consecutive_inbound_frames_with_empty_payload", h2_empty_frames, false },
	};
	return WALK(c, n, fields, obj);
}

static int hcm_http2_options(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_http2_options(c, n, &hs->h->http2);
}

static int hcm_common_idle_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http_conn_manager_config *h = obj;
	return read_duration(c, n, &h->idle_timeout_ms);
}

static int hcm_common_max_headers(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct http_conn_manager_config *h = obj;
	return read_uint_range(c, n, 1, 10000, &h->max_headers_count);
}

static int hcm_common_options(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "idle_timeout", hcm_common_idle_timeout, false },
		{ "max_headers_count", hcm_common_max_headers, false },
	};
	struct hcm_src *hs = obj;
	return WALK(c, n, fields, hs->h);
}

/* Envoy's range: 1 KiB to 8 MiB. */
static int hcm_max_request_headers_kb(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_uint_range(c, n, 1, 8192, &hs->h->max_request_headers_kb);
}

static int hcm_stream_idle_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_duration(c, n, &hs->h->stream_idle_timeout_ms);
}

static int hcm_request_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_duration(c, n, &hs->h->request_timeout_ms);
}

static int hcm_drain_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_duration(c, n, &hs->h->drain_timeout_ms);
}

static int hcm_generate_request_id(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	return read_bool(c, n, &hs->h->generate_request_id);
}

/* One upgrade_configs entry while it is read. */
struct upgrade_src {
	bool websocket, connect;
	bool enabled; /* [true] */
};

/* upgrade_configs[].upgrade_type: "websocket" (any case) or "CONNECT". */
static int hcm_upgrade_type(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct upgrade_src *u = obj;
	char *type = NULL;
	int err = read_string(c, n, &type);
	if (err)
		return err;
	if (strcasecmp(type, "websocket") == 0)
		u->websocket = true;
	else if (strcmp(type, "CONNECT") == 0)
		u->connect = true;
	else
		err = fail(c, n, "unsupported upgrade_type \"%s\" (websocket, CONNECT)", type);
	free(type);
	return err;
}

static int upgrade_enabled(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct upgrade_src *u = obj;
	return read_bool(c, n, &u->enabled);
}

/* `enabled: false` leaves the type off: Envoy lets a route turn it back on,
 * and skiff has no per-route upgrade settings, so it stays off. */
static int read_upgrade_config(struct ctx *c, yaml_node_t *n, void *item)
{
	static const struct field fields[] = {
		{ "upgrade_type", hcm_upgrade_type, true },
		{ "enabled", upgrade_enabled, false },
	};
	struct http_conn_manager_config *h = item;
	struct upgrade_src u = { .enabled = true };
	int err = WALK(c, n, fields, &u);
	if (!err && u.enabled) {
		h->upgrade_websocket |= u.websocket;
		h->upgrade_connect |= u.connect;
	}
	return err;
}

static int hcm_upgrade_configs(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct hcm_src *hs = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	for (size_t i = 0; !err && i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		if ((err = visit(c, item)) || (err = read_upgrade_config(c, item, hs->h)))
			return err;
		path_pop(c, old);
	}
	return err;
}

static int hcm_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
		{ "stat_prefix", hcm_stat_prefix, true },
		{ "codec_type", hcm_codec_type, false },
		{ "route_config", hcm_route_config, false },
		{ "rds", hcm_rds, false },
		{ "scoped_routes", refuse_unsupported, false },
		{ "http_filters", hcm_http_filters, true },
		{ "access_log", hcm_access_log, false },
		{ "http2_protocol_options", hcm_http2_options, false },
		{ "common_http_protocol_options", hcm_common_options, false },
		{ "max_request_headers_kb", hcm_max_request_headers_kb, false },
		{ "stream_idle_timeout", hcm_stream_idle_timeout, false },
		{ "request_timeout", hcm_request_timeout, false },
		{ "drain_timeout", hcm_drain_timeout, false },
		{ "generate_request_id", hcm_generate_request_id, false },
		{ "upgrade_configs", hcm_upgrade_configs, false },
	};
	struct chain_src *cs = obj;
	struct hcm_src hs = { .h = cs->fc->http };
	int err = walk_typed_config(c, n, HCM_TYPE, fields, sizeof(fields) / sizeof(fields[0]), &hs);
	if (!err && !hs.routes_set)
		return fail(c, n, "expected one of route_config, rds");
	if (!err)
		http_conn_manager_finish(hs.h);
	return err;
}

enum filter_kind { FILTER_TCP_PROXY, FILTER_RBAC, FILTER_HTTP };

static int read_filter(struct ctx *c, yaml_node_t *n, struct chain_src *cs, enum filter_kind *kind)
{
	/* Same order as enum filter_kind. */
	static const char *const names[] = { TCP_PROXY_NAME, RBAC_NAME, HCM_NAME, NULL };
	static const char *const types[] = { TCP_PROXY_TYPE, RBAC_TYPE, HCM_TYPE, NULL };
	static const struct field tcp_proxy[] = {
		{ "name", NULL, true },
		{ "typed_config", tcp_proxy_typed_config, true },
	};
	static const struct field rbac[] = {
		{ "name", NULL, true },
		{ "typed_config", rbac_typed_config, true },
	};
	static const struct field hcm[] = {
		{ "name", NULL, true },
		{ "typed_config", hcm_typed_config, true },
	};
	int k;
	int err = extension_kind(c, n, names, types, &k);
	if (err)
		return err;
	*kind = (enum filter_kind)k;
	if (*kind == FILTER_TCP_PROXY)
		return WALK(c, n, tcp_proxy, cs);
	if (*kind == FILTER_HTTP) {
		if (!(cs->fc->http = calloc(1, sizeof(*cs->fc->http))))
			return fail_nomem(c);
		http_conn_manager_defaults(cs->fc->http);
		return WALK(c, n, hcm, cs);
	}
	if (cs->fc->rbac)
		return fail(c, n, "at most one " RBAC_NAME " filter (skiff supports one)");
	if (!(cs->fc->rbac = calloc(1, sizeof(*cs->fc->rbac))))
		return fail_nomem(c);
	cs->fc->rbac->action = RBAC_ALLOW; /* Envoy's default */
	return WALK(c, n, rbac, cs->fc->rbac);
}

/* [rbac,] then tcp_proxy or http_connection_manager: that one ends the
 * chain, as it takes the bytes. */
static int chain_filters(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct chain_src *cs = obj;
	enum filter_kind kind = FILTER_RBAC;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err)
		return err;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		if ((err = visit(c, item)) || (err = read_filter(c, item, cs, &kind)))
			return err;
		if (kind != FILTER_RBAC && i + 1 < count)
			return fail(c, item, "%s must be the last filter",
				    kind == FILTER_HTTP ? HCM_NAME : TCP_PROXY_NAME);
		path_pop(c, old);
	}
	if (kind == FILTER_RBAC)
		return fail(c, n, "must end with an " TCP_PROXY_NAME " or " HCM_NAME " filter");
	cs->tcp_proxy_at = count - 1;
	return 0;
}


static int match_transport_protocol(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "raw_buffer", "tls", NULL };
	struct chain_src *cs = obj;
	int v;
	int err = read_enum(c, n, names, NULL, &v);
	if (!err) {
		cs->fc->match = v ? CHAIN_MATCH_TLS : CHAIN_MATCH_RAW_BUFFER;
		cs->protocol = n;
	}
	return err;
}

static int chain_filter_chain_match(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "transport_protocol", match_transport_protocol, false },
		{ "destination_port", refuse_chain_match, false },
		{ "prefix_ranges", refuse_chain_match, false },
		{ "address_suffix", refuse_chain_match, false },
		{ "suffix_len", refuse_chain_match, false },
		{ "direct_source_prefix_ranges", refuse_chain_match, false },
		{ "source_type", refuse_chain_match, false },
		{ "source_prefix_ranges", refuse_chain_match, false },
		{ "source_ports", refuse_chain_match, false },
		{ "server_names", refuse_chain_match, false },
		{ "application_protocols", refuse_chain_match, false },
	};
	return WALK(c, n, fields, obj);
}

static int chain_transport_socket(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct chain_src *cs = obj;
	cs->transport_socket = n;
	return read_transport_socket(c, n, false, &cs->fc->tls);
}

static int chain_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct chain_src *cs = obj;
	cs->name = n;
	return read_name(c, n, &cs->fc->name);
}

/* The match and the transport must agree: TLS bytes go to a TLS socket,
 * plaintext bytes to none. */
static int check_chain(struct ctx *c, struct chain_src *cs)
{
	if (cs->fc->match == CHAIN_MATCH_TLS && !cs->fc->tls) {
		path_push_field(c, "transport_socket");
		return fail(c, cs->node, "required with filter_chain_match.transport_protocol tls");
	}
	if (cs->fc->match == CHAIN_MATCH_RAW_BUFFER && cs->fc->tls) {
		path_push_field(c, "transport_socket");
		return fail(c, cs->transport_socket, "must be absent with "
			    "filter_chain_match.transport_protocol raw_buffer (plaintext)");
	}
	return 0;
}

static int read_filter_chain(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", chain_name, false },
		{ "filter_chain_match", chain_filter_chain_match, false },
		{ "transport_socket", chain_transport_socket, false },
		{ "filters", chain_filters, true },
	};
	struct chain_src *cs = obj;
	cs->node = n;
	cs->fc->tcp_proxy.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	int err = WALK(c, n, fields, obj);
	return err ? err : check_chain(c, cs);
}

static int listener_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct listener_src *ls = obj;
	ls->name = n;
	return read_name(c, n, &ls->l->name);
}

static int listener_address(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct listener_src *ls = obj;
	ls->address = n;
	return read_address(c, n, &ls->l->addr);
}

static int listener_original_dst(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct listener_src *ls = obj;
	return read_bool(c, n, &ls->l->use_original_dst);
}

static int listener_direction(struct ctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum traffic_direction. */
	static const char *const names[] = { "UNSPECIFIED", "INBOUND", "OUTBOUND", NULL };
	struct listener_src *ls = obj;
	int v;
	int err = read_enum(c, n, names, NULL, &v);
	if (!err)
		ls->l->direction = (enum traffic_direction)v;
	return err;
}

static int listener_filter_chains(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct listener_src *ls = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err)
		return err;
	if (count < 1 || count > LISTENER_MAX_CHAINS)
		return fail(c, n, "expected one or two filter chains (a TLS chain beside a "
				  "plaintext one), got %zu", count);
	ls->l->n_chains = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		ls->chains[i].fc = &ls->l->chains[i];
		if ((err = visit(c, item)) || (err = read_filter_chain(c, item, &ls->chains[i])))
			return err;
		path_pop(c, old);
	}
	return 0;
}

static int tls_inspector_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
	};
	return walk_typed_config(c, n, TLS_INSPECTOR_TYPE, fields, 1, obj);
}

static int original_dst_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
	};
	return walk_typed_config(c, n, ORIGINAL_DST_TYPE, fields, 1, obj);
}

/* tls_inspector lets the chains match on transport_protocol; original_dst
 * is what use_original_dst already does. */
static int read_listener_filter(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { TLS_INSPECTOR_NAME, ORIGINAL_DST_NAME, NULL };
	static const char *const types[] = { TLS_INSPECTOR_TYPE, ORIGINAL_DST_TYPE, NULL };
	static const struct field tls_inspector[] = {
		{ "name", NULL, true },
		{ "typed_config", tls_inspector_typed_config, false },
	};
	static const struct field original_dst[] = {
		{ "name", NULL, true },
		{ "typed_config", original_dst_typed_config, false },
	};
	struct listener_src *ls = obj;
	int kind;
	int err = extension_kind(c, n, names, types, &kind);
	if (err)
		return err;
	if (kind == 1)
		return WALK(c, n, original_dst, obj);
	ls->has_tls_inspector = true;
	return WALK(c, n, tls_inspector, obj);
}

static int listener_listener_filters(struct ctx *c, yaml_node_t *n, void *obj)
{
	return walk_sequence(c, n, read_listener_filter, obj);
}

/* The rules between a listener's chains (config_rules.h), with the line of
 * the field at fault. */
static int check_chains(struct ctx *c, struct listener_src *ls)
{
	struct config_violation v;
	if (config_check_chains(ls->l, ls->has_tls_inspector, &v) == 0)
		return 0;
	struct chain_src *cs = &ls->chains[v.chain];
	yaml_node_t *at = v.field == CHAIN_FIELD_NAME	     ? cs->name
			  : v.field == CHAIN_FIELD_TRANSPORT_SOCKET ? cs->transport_socket
			  : cs->protocol			      ? cs->protocol
								      : cs->node;
	path_push(c, ".%s", v.path);
	return fail(c, at, "%s", v.reason);
}

static int read_listener(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", listener_name, true },
		{ "address", listener_address, true },
		{ "use_original_dst", listener_original_dst, false },
		{ "traffic_direction", listener_direction, false },
		{ "listener_filters", listener_listener_filters, false },
		{ "filter_chains", listener_filter_chains, true },
	};
	struct listener_src *ls = obj;
	ls->node = n;
	int err = WALK(c, n, fields, ls);
	return err ? err : check_chains(c, ls);
}

/* ---- clusters ---------------------------------------------------------- */

static int add_endpoint(struct ctx *c, struct cluster_src *cs, const struct sock_addr *addr)
{
	struct cluster *cl = cs->cl;
	if (cl->n_endpoints == cs->cap_endpoints) {
		size_t cap = cs->cap_endpoints ? cs->cap_endpoints * 2 : 4;
		struct endpoint *e = realloc(cl->endpoints, cap * sizeof(*e));
		if (!e)
			return fail_nomem(c);
		cl->endpoints = e;
		cs->cap_endpoints = cap;
	}
	cl->endpoints[cl->n_endpoints++] = (struct endpoint){ .addr = *addr, .weight = 1 };
	return 0;
}

static int endpoint_address(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct sock_addr addr;
	int err = read_address(c, n, &addr);
	return err ? err : add_endpoint(c, obj, &addr);
}

static int lb_endpoint_endpoint(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "address", endpoint_address, true },
	};
	return WALK(c, n, fields, obj);
}

struct lb_endpoint_src {
	struct cluster_src *cs;
	uint32_t weight;
	yaml_node_t *weight_node;
};

static int lb_endpoint_endpoint_src(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct lb_endpoint_src *es = obj;
	return lb_endpoint_endpoint(c, n, es->cs);
}

static int lb_endpoint_weight(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct lb_endpoint_src *es = obj;
	es->weight_node = n;
	return read_uint_range(c, n, 1, UINT32_MAX, &es->weight);
}

/* The weights of a cluster must fit 32 bits together (Envoy's rule per
 * locality; skiff keeps one). */
static int read_lb_endpoint(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "endpoint", lb_endpoint_endpoint_src, true },
		{ "load_balancing_weight", lb_endpoint_weight, false },
	};
	struct lb_endpoint_src es = { .cs = obj, .weight = 1 };
	int err = WALK(c, n, fields, &es);
	if (err)
		return err;
	struct cluster *cl = es.cs->cl;
	cl->endpoints[cl->n_endpoints - 1].weight = es.weight;
	if ((es.cs->total_weight += es.weight) > UINT32_MAX) {
		path_push_field(c, "load_balancing_weight");
		return fail(c, es.weight_node, "the endpoints' weights add up past %u", UINT32_MAX);
	}
	return 0;
}

static int locality_lb_endpoints(struct ctx *c, yaml_node_t *n, void *obj)
{
	return walk_sequence(c, n, read_lb_endpoint, obj);
}

static int read_locality_endpoints(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "lb_endpoints", locality_lb_endpoints, false },
	};
	return WALK(c, n, fields, obj);
}

static int load_assignment_endpoints(struct ctx *c, yaml_node_t *n, void *obj)
{
	return walk_sequence(c, n, read_locality_endpoints, obj);
}

/* Required by Envoy; skiff checks it is there and keeps the cluster's name. */
static int load_assignment_cluster_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	char *name = NULL;
	int err = read_name(c, n, &name);
	(void)obj;
	free(name);
	return err;
}

static int cluster_load_assignment(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "cluster_name", load_assignment_cluster_name, true },
		{ "endpoints", load_assignment_endpoints, false },
	};
	struct cluster_src *cs = obj;
	cs->load_assignment = n;
	return WALK(c, n, fields, obj);
}

static int bind_source_address(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	int err = read_socket_address(c, n, bind_address_fields, &cs->cl->source_address);
	if (!err)
		cs->cl->has_source_address = true;
	return err;
}

static int cluster_bind_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "source_address", bind_source_address, true },
	};
	return WALK(c, n, fields, obj);
}

static int cluster_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	cs->name = n;
	return read_name(c, n, &cs->cl->name);
}

static int cluster_type(struct ctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum cluster_type. */
	static const char *const names[] = { "STATIC", "ORIGINAL_DST", NULL };
	static const char *const envoy_only[] = { "STRICT_DNS", "LOGICAL_DNS", "EDS", NULL };
	struct cluster_src *cs = obj;
	int v;
	int err = read_enum(c, n, names, envoy_only, &v);
	if (!err)
		cs->cl->type = (enum cluster_type)v;
	return err;
}

static int cluster_lb_policy(struct ctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum lb_policy. */
	static const char *const names[] = { "ROUND_ROBIN",	"CLUSTER_PROVIDED", "LEAST_REQUEST",
					     "RING_HASH",	"MAGLEV",	    "RANDOM",
					     NULL };
	static const char *const envoy_only[] = { "LOAD_BALANCING_POLICY_CONFIG", NULL };
	struct cluster_src *cs = obj;
	int v;
	int err = read_enum(c, n, names, envoy_only, &v);
	if (!err) {
		cs->cl->lb_policy = (enum lb_policy)v;
		cs->has_lb_policy = true;
		cs->lb_policy = n;
	}
	return err;
}

static int cluster_connect_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	return read_duration(c, n, &cs->cl->connect_timeout_ms);
}

static int cluster_transport_socket(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	return read_transport_socket(c, n, true, &cs->cl->tls);
}

/* ---- clusters: HTTP upstreams, load balancing, breakers, health -------- */

static int ring_minimum_size(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	return read_uint_range(c, n, 1, MAX_RING_SIZE, &cs->cl->ring_hash_min_size);
}

static int cluster_ring_hash_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "minimum_ring_size", ring_minimum_size, false },
	};
	return WALK(c, n, fields, obj);
}

static bool is_prime(uint32_t v)
{
	if (v < 2)
		return false;
	for (uint32_t d = 2; d <= v / d; d++)
		if (v % d == 0)
			return false;
	return true;
}

/* Maglev's permutation needs a prime table size (Envoy checks the same). */
static int maglev_table_size(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	int err = read_uint_range(c, n, 2, MAX_MAGLEV_SIZE, &cs->cl->maglev_table_size);
	if (!err && !is_prime(cs->cl->maglev_table_size))
		return fail(c, n, "must be a prime number");
	return err;
}

static int cluster_maglev_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "table_size", maglev_table_size, false },
	};
	return WALK(c, n, fields, obj);
}

static int threshold_priority(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "DEFAULT", NULL };
	static const char *const envoy_only[] = { "HIGH", NULL };
	int v;
	(void)obj;
	return read_enum(c, n, names, envoy_only, &v);
}

static int threshold_max_connections(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct circuit_breakers *b = obj;
	return read_uint(c, n, UINT32_MAX, &b->max_connections);
}

static int threshold_max_pending(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct circuit_breakers *b = obj;
	return read_uint(c, n, UINT32_MAX, &b->max_pending_requests);
}

static int threshold_max_requests(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct circuit_breakers *b = obj;
	return read_uint(c, n, UINT32_MAX, &b->max_requests);
}

static int threshold_max_retries(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct circuit_breakers *b = obj;
	return read_uint(c, n, UINT32_MAX, &b->max_retries);
}

static int threshold_track_remaining(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct circuit_breakers *b = obj;
	return read_bool(c, n, &b->track_remaining);
}

/* type.v3.Percent: {value: 0-100}, a double. */
static int percent_value(struct ctx *c, yaml_node_t *n, void *obj)
{
	double *out = obj;
	char *end = NULL;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0)
		return fail(c, n, "expected a number");
	const char *text = (const char *)n->data.scalar.value;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end != text + n->data.scalar.length)
		return fail(c, n, "expected a number");
	if (!(v >= 0.0 && v <= 100.0))
		return fail(c, n, "must be between 0 and 100");
	*out = v;
	return 0;
}

static int budget_percent(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct circuit_breakers *b = obj;
	static const struct field fields[] = {
		{ "value", percent_value, false },
	};
	b->retry_budget_percent = 0.0; /* a Percent without value is 0 */
	return WALK(c, n, fields, &b->retry_budget_percent);
}

static int budget_min_concurrency(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct circuit_breakers *b = obj;
	return read_uint(c, n, UINT32_MAX, &b->min_retry_concurrency);
}

static int threshold_retry_budget(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "budget_percent", budget_percent, false },
		{ "min_retry_concurrency", budget_min_concurrency, false },
	};
	struct circuit_breakers *b = obj;
	b->has_retry_budget = true;
	return WALK(c, n, fields, obj);
}

static int read_threshold(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "priority", threshold_priority, false },
		{ "max_connections", threshold_max_connections, false },
		{ "max_pending_requests", threshold_max_pending, false },
		{ "max_requests", threshold_max_requests, false },
		{ "max_retries", threshold_max_retries, false },
		{ "retry_budget", threshold_retry_budget, false },
		{ "track_remaining", threshold_track_remaining, false },
	};
	return WALK(c, n, fields, obj);
}

static int breakers_thresholds(struct ctx *c, yaml_node_t *n, void *obj)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (!err && count > 1)
		return fail(c, n, "expected at most one threshold (skiff supports priority DEFAULT), "
				  "got %zu", count);
	return err ? err : walk_sequence(c, n, read_threshold, obj);
}

static int cluster_circuit_breakers(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "thresholds", breakers_thresholds, false },
		{ "per_host_thresholds", refuse_unsupported, false },
	};
	struct cluster_src *cs = obj;
	return WALK(c, n, fields, &cs->cl->breakers);
}

static int outlier_5xx(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct outlier_detection *o = obj;
	return read_uint(c, n, UINT32_MAX, &o->consecutive_5xx);
}

static int outlier_gateway(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct outlier_detection *o = obj;
	return read_uint(c, n, UINT32_MAX, &o->consecutive_gateway_failure);
}

static int outlier_interval(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct outlier_detection *o = obj;
	return read_positive_duration(c, n, &o->interval_ms);
}

static int outlier_base_ejection(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct outlier_detection *o = obj;
	return read_positive_duration(c, n, &o->base_ejection_time_ms);
}

static int outlier_max_ejection_time(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct outlier_detection *o = obj;
	return read_positive_duration(c, n, &o->max_ejection_time_ms);
}

static int outlier_max_percent(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct outlier_detection *o = obj;
	return read_uint(c, n, 100, &o->max_ejection_percent);
}

static int cluster_outlier_detection(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "consecutive_5xx", outlier_5xx, false },
		{ "consecutive_gateway_failure", outlier_gateway, false },
		{ "interval", outlier_interval, false },
		{ "base_ejection_time", outlier_base_ejection, false },
		{ "max_ejection_time", outlier_max_ejection_time, false },
		{ "max_ejection_percent", outlier_max_percent, false },
	};
	struct cluster_src *cs = obj;
	struct outlier_detection *o = &cs->cl->outlier;
	o->enabled = true;
	int err = WALK(c, n, fields, o);
	if (!err && o->max_ejection_time_ms < o->base_ejection_time_ms)
		return fail(c, n, "max_ejection_time (%ums) is below base_ejection_time (%ums)",
			    o->max_ejection_time_ms, o->base_ejection_time_ms);
	return err;
}

static int hc_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	return read_positive_duration(c, n, &h->timeout_ms);
}

static int hc_interval(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	return read_positive_duration(c, n, &h->interval_ms);
}

static int hc_unhealthy(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	return read_uint_range(c, n, 1, 1000, &h->unhealthy_threshold);
}

static int hc_healthy(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	return read_uint_range(c, n, 1, 1000, &h->healthy_threshold);
}

static int hc_http_path(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	int err = read_wire_name(c, n, &h->path);
	if (!err && h->path[0] != '/')
		return fail(c, n, "must start with '/'");
	return err;
}

static int hc_http_host(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	return read_wire_name(c, n, &h->host);
}

static int hc_http(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "path", hc_http_path, true },
		{ "host", hc_http_host, false },
	};
	return WALK(c, n, fields, obj);
}

/* HealthCheck.Payload: hex `text`, or `binary` (base64, as proto3 JSON
 * and YAML write bytes), at most `max` bytes. */
struct payload_src {
	struct hc_payload *p;
	size_t max;
	unsigned set;
};

#define PAYLOAD_NAMES "text, binary"

static int payload_keep(struct ctx *c, yaml_node_t *n, struct payload_src *ps, uint8_t *data,
			size_t len)
{
	if (len > ps->max) {
		free(data);
		return fail(c, n, "must be at most %zu bytes, got %zu", ps->max, len);
	}
	free(ps->p->data);
	ps->p->data = data;
	ps->p->len = len;
	return 0;
}

static int payload_text(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct payload_src *ps = obj;
	char *hex = NULL;
	int err = oneof_set(c, n, &ps->set, PAYLOAD_NAMES);
	if (!err)
		err = read_name(c, n, &hex);
	if (err) {
		free(hex);
		return err;
	}
	size_t len = strlen(hex) / 2;
	uint8_t *data = malloc(len ? len : 1);
	size_t got = 0;
	bool ok = data && OPENSSL_hexstr2buf_ex(data, len, &got, hex, '\0') == 1;
	free(hex);
	if (!ok) {
		free(data);
		return data ? fail(c, n, "expected hex digits, two per byte") : fail_nomem(c);
	}
	return payload_keep(c, n, ps, data, got);
}

static int payload_binary(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct payload_src *ps = obj;
	char *b64 = NULL;
	int err = oneof_set(c, n, &ps->set, PAYLOAD_NAMES);
	if (!err)
		err = read_name(c, n, &b64);
	if (err) {
		free(b64);
		return err;
	}
	size_t n64 = strlen(b64), pad = 0;
	uint8_t *data = malloc(n64 / 4 * 3 + 3);
	int got = data && n64 % 4 == 0 && n64 <= INT32_MAX
		      ? EVP_DecodeBlock(data, (const unsigned char *)b64, (int)n64) : -1;
	while (pad < 2 && n64 > pad && b64[n64 - 1 - pad] == '=')
		pad++;
	free(b64);
	if (got < 0) {
		free(data);
		return data ? fail(c, n, "expected base64") : fail_nomem(c);
	}
	return payload_keep(c, n, ps, data, (size_t)got - pad);
}

static int read_payload(struct ctx *c, yaml_node_t *n, struct hc_payload *p, size_t max)
{
	static const struct field fields[] = {
		{ "text", payload_text, false },
		{ "binary", payload_binary, false },
	};
	struct payload_src ps = { .p = p, .max = max };
	int err = WALK(c, n, fields, &ps);
	if (!err && !ps.set)
		return fail(c, n, "expected one of " PAYLOAD_NAMES);
	return err;
}

static int hc_tcp_send(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	return read_payload(c, n, &h->send, HC_SEND_MAX);
}

static int hc_tcp_receive_one(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	int err = read_payload(c, n, &h->receive[h->n_receive], HC_RECEIVE_BLOCK_MAX);
	if (!err && h->receive[h->n_receive].len == 0)
		return fail(c, n, "must not be empty");
	if (!err)
		h->n_receive++;
	return err;
}

static int hc_tcp_receive(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (err)
		return err;
	if (count > HC_RECEIVE_BLOCKS_MAX)
		return fail(c, n, "expected at most %d payloads, got %zu", HC_RECEIVE_BLOCKS_MAX,
			    count);
	if (count && !(h->receive = calloc(count, sizeof(*h->receive))))
		return fail_nomem(c);
	return walk_sequence(c, n, hc_tcp_receive_one, h);
}

#define HC_KIND_NAMES "http_health_check, tcp_health_check"

/* The kinds are a oneof: the first one read has set h->path (required
 * there) or h->tcp. */
static int hc_http_kind(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct health_check *h = obj;
	if (h->tcp)
		return fail(c, n, "only one of " HC_KIND_NAMES " may be set");
	return hc_http(c, n, h);
}

static int hc_tcp_kind(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "send", hc_tcp_send, false },
		{ "receive", hc_tcp_receive, false },
	};
	struct health_check *h = obj;
	if (h->path)
		return fail(c, n, "only one of " HC_KIND_NAMES " may be set");
	h->tcp = true;
	return WALK(c, n, fields, h);
}

REFUSE(refuse_hc_kind, "not supported by skiff (supported: " HC_KIND_NAMES ")")

static int read_health_check(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "timeout", hc_timeout, true },
		{ "interval", hc_interval, true },
		{ "unhealthy_threshold", hc_unhealthy, true },
		{ "healthy_threshold", hc_healthy, true },
		{ "http_health_check", hc_http_kind, false },
		{ "tcp_health_check", hc_tcp_kind, false },
		{ "grpc_health_check", refuse_hc_kind, false },
		{ "custom_health_check", refuse_hc_kind, false },
	};
	struct health_check *h = obj;
	h->enabled = true;
	int err = WALK(c, n, fields, h);
	if (!err && !h->tcp && !h->path)
		return fail(c, n, "expected one of " HC_KIND_NAMES);
	return err;
}

static int cluster_health_checks(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (!err && count > 1)
		return fail(c, n, "expected at most one health check (skiff supports one), got %zu",
			    count);
	return err ? err : walk_sequence(c, n, read_health_check, &cs->cl->health);
}

/* The deprecated cluster-level http2_protocol_options: HTTP/2 upstream. */
static int cluster_http2_options(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster_src *cs = obj;
	cs->cl->protocol = UPSTREAM_HTTP2;
	return read_http2_options(c, n, &cs->cl->http2);
}

struct explicit_src {
	struct cluster *cl;
	unsigned set;
};

#define EXPLICIT_NAMES "http_protocol_options, http2_protocol_options"

static int explicit_http1(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct explicit_src *es = obj;
	int err = oneof_set(c, n, &es->set, EXPLICIT_NAMES);
	es->cl->protocol = UPSTREAM_HTTP1;
	return err ? err : walk_mapping(c, n, NULL, 0, NULL); /* no fields read */
}

static int explicit_http2(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct explicit_src *es = obj;
	int err = oneof_set(c, n, &es->set, EXPLICIT_NAMES);
	es->cl->protocol = UPSTREAM_HTTP2;
	return err ? err : read_http2_options(c, n, &es->cl->http2);
}

REFUSE(refuse_http3, "not supported by skiff (supported: " EXPLICIT_NAMES ")")

static int options_explicit(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "http_protocol_options", explicit_http1, false },
		{ "http2_protocol_options", explicit_http2, false },
		{ "http3_protocol_options", refuse_http3, false },
	};
	struct explicit_src es = { .cl = obj };
	int err = WALK(c, n, fields, &es);
	if (!err && !es.set)
		return fail(c, n, "expected one of " EXPLICIT_NAMES);
	return err;
}

static int upstream_idle_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster *cl = obj;
	return read_duration(c, n, &cl->idle_timeout_ms);
}

static int upstream_max_requests(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct cluster *cl = obj;
	return read_uint(c, n, UINT32_MAX, &cl->max_requests_per_connection);
}

static int options_common(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "idle_timeout", upstream_idle_timeout, false },
		{ "max_requests_per_connection", upstream_max_requests, false },
	};
	return WALK(c, n, fields, obj);
}

REFUSE(refuse_auto_protocol, "not supported by skiff (use explicit_http_config)")

static int http_protocol_options(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "@type", NULL, true },
		{ "explicit_http_config", options_explicit, false },
		{ "common_http_protocol_options", options_common, false },
		{ "use_downstream_protocol_config", refuse_auto_protocol, false },
		{ "auto_config", refuse_auto_protocol, false },
	};
	struct cluster_src *cs = obj;
	return walk_typed_config(c, n, HTTP_OPTIONS_TYPE, fields,
				 sizeof(fields) / sizeof(fields[0]), cs->cl);
}

/* typed_extension_protocol_options: a map from extension name to its
 * options; the upstream HTTP options are the one skiff reads. */
static int cluster_protocol_options(struct ctx *c, yaml_node_t *n, void *obj)
{
	bool seen = false;
	int err = expect_mapping(c, n);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; !err && p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
		char buf[SHOWN_MAX + 4];
		if ((err = visit(c, key)))
			break;
		if (key->type != YAML_SCALAR_NODE)
			return fail(c, key, "expected an extension name");
		bool known = scalar_is(key, HTTP_OPTIONS_NAME);
		size_t old = path_push_field(c, known ? HTTP_OPTIONS_NAME : shown(key, buf));
		if (!known)
			return fail(c, key, "not supported by skiff (supported: " HTTP_OPTIONS_NAME ")");
		if (seen)
			return fail(c, key, "duplicate field");
		seen = true;
		if ((err = http_protocol_options(c, yaml_document_get_node(c->doc, p->value), obj)))
			break;
		path_pop(c, old);
	}
	return err;
}

/* The rules between fields of one cluster, as Envoy has them. */
static int check_cluster(struct ctx *c, struct cluster_src *cs)
{
	struct cluster *cl = cs->cl;
	if (!cs->has_lb_policy)
		cl->lb_policy = cl->type == CLUSTER_ORIGINAL_DST ? LB_CLUSTER_PROVIDED : LB_ROUND_ROBIN;
	if (cl->type == CLUSTER_ORIGINAL_DST) {
		if (cl->lb_policy != LB_CLUSTER_PROVIDED) {
			path_push_field(c, "lb_policy");
			return fail(c, cs->lb_policy, "an ORIGINAL_DST cluster needs CLUSTER_PROVIDED");
		}
		if (cl->n_endpoints) {
			path_push_field(c, "load_assignment");
			return fail(c, cs->load_assignment, "an ORIGINAL_DST cluster takes no "
				    "endpoints (each connection names its own destination)");
		}
	} else {
		if (cl->lb_policy == LB_CLUSTER_PROVIDED) {
			path_push_field(c, "lb_policy");
			return fail(c, cs->lb_policy, "CLUSTER_PROVIDED is only for ORIGINAL_DST clusters");
		}
		if (!cl->n_endpoints) {
			path_push_field(c, "load_assignment");
			return fail(c, cs->load_assignment ? cs->load_assignment : cs->node,
				    "a STATIC cluster needs at least one endpoint");
		}
	}
	return 0;
}

static int read_cluster(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", cluster_name, true },
		{ "type", cluster_type, false },
		{ "connect_timeout", cluster_connect_timeout, false },
		{ "lb_policy", cluster_lb_policy, false },
		{ "upstream_bind_config", cluster_bind_config, false },
		{ "load_assignment", cluster_load_assignment, false },
		{ "transport_socket", cluster_transport_socket, false },
		{ "ring_hash_lb_config", cluster_ring_hash_config, false },
		{ "maglev_lb_config", cluster_maglev_config, false },
		{ "circuit_breakers", cluster_circuit_breakers, false },
		{ "outlier_detection", cluster_outlier_detection, false },
		{ "health_checks", cluster_health_checks, false },
		{ "typed_extension_protocol_options", cluster_protocol_options, false },
		{ "http2_protocol_options", cluster_http2_options, false },
	};
	struct cluster_src *cs = obj;
	cs->node = n;
	cs->cl->type = CLUSTER_STATIC;
	cs->cl->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	cluster_http_defaults(cs->cl);
	int err = WALK(c, n, fields, cs);
	return err ? err : check_cluster(c, cs);
}

/* ---- static_resources -------------------------------------------------- */

static int static_listeners(struct ctx *c, yaml_node_t *n, void *obj)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	(void)obj;
	if (err || !count)
		return err;
	if (count > MAX_LISTENERS)
		return fail(c, n, "too many listeners: %zu (at most %u)", count, MAX_LISTENERS);
	c->snap->listeners = calloc(count, sizeof(*c->snap->listeners));
	c->lsrc = calloc(count, sizeof(*c->lsrc));
	if (!c->snap->listeners || !c->lsrc)
		return fail_nomem(c);
	c->snap->n_listeners = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		c->lsrc[i].l = &c->snap->listeners[i];
		if ((err = visit(c, item)) || (err = read_listener(c, item, &c->lsrc[i])))
			return err;
		path_pop(c, old);
	}
	return 0;
}

static int static_clusters(struct ctx *c, yaml_node_t *n, void *obj)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	(void)obj;
	if (err || !count)
		return err;
	if (count > MAX_CLUSTERS)
		return fail(c, n, "too many clusters: %zu (at most %u)", count, MAX_CLUSTERS);
	c->snap->clusters = calloc(count, sizeof(*c->snap->clusters));
	c->csrc = calloc(count, sizeof(*c->csrc));
	if (!c->snap->clusters || !c->csrc)
		return fail_nomem(c);
	c->snap->n_clusters = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = seq_item(c, n, i);
		size_t old = path_push(c, "[%zu]", i);
		c->csrc[i].cl = &c->snap->clusters[i];
		if ((err = visit(c, item)) || (err = read_cluster(c, item, &c->csrc[i])))
			return err;
		path_pop(c, old);
	}
	return 0;
}

static int read_static_resources(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "listeners", static_listeners, false },
		{ "clusters", static_clusters, false },
	};
	return WALK(c, n, fields, obj);
}

/* ---- dynamic_resources ------------------------------------------------- */

static int read_api_version(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "V3", NULL };
	static const char *const envoy_only[] = { "AUTO", "V2", NULL };
	int v;
	(void)obj;
	return read_enum(c, n, names, envoy_only, &v);
}

static int envoy_grpc_cluster_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	c->ads_cluster = n;
	return read_name(c, n, &c->snap->ads.cluster_name);
}

static int grpc_service_envoy_grpc(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "cluster_name", envoy_grpc_cluster_name, true },
	};
	return WALK(c, n, fields, obj);
}

static int read_grpc_service(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "envoy_grpc", grpc_service_envoy_grpc, true },
	};
	return WALK(c, n, fields, obj);
}

static int ads_grpc_services(struct ctx *c, yaml_node_t *n, void *obj)
{
	return walk_one(c, n, "gRPC service", read_grpc_service, obj);
}

static int ads_api_type(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "GRPC", "DELTA_GRPC", NULL };
	static const char *const envoy_only[] = { "REST", "AGGREGATED_GRPC",
						  "AGGREGATED_DELTA_GRPC", NULL };
	int v;
	int err = read_enum(c, n, names, envoy_only, &v);
	(void)obj;
	if (!err)
		c->snap->ads.delta = v == 1;
	return err;
}

static int dynamic_ads_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "api_type", ads_api_type, true },
		{ "transport_api_version", read_api_version, false },
		{ "grpc_services", ads_grpc_services, true },
	};
	return WALK(c, n, fields, obj);
}

/* lds_config and cds_config: only {ads: {}}, resources from the ADS stream. */
static int read_config_source(struct ctx *c, yaml_node_t *n, yaml_node_t **ads_at)
{
	static const struct field fields[] = {
		{ "ads", ignore_mapping, true },
		{ "resource_api_version", read_api_version, false },
	};
	*ads_at = n;
	return WALK(c, n, fields, NULL);
}

static int dynamic_lds_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_config_source(c, n, &c->lds_ads);
}

static int dynamic_cds_config(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_config_source(c, n, &c->cds_ads);
}

static int read_dynamic_resources(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "ads_config", dynamic_ads_config, false },
		{ "lds_config", dynamic_lds_config, false },
		{ "cds_config", dynamic_cds_config, false },
	};
	return WALK(c, n, fields, obj);
}

/* ---- the whole document ------------------------------------------------ */

static int read_bootstrap(struct ctx *c, yaml_node_t *root)
{
	static const struct field fields[] = {
		{ "node", read_node, false },
		{ "admin", read_admin, false },
		{ "static_resources", read_static_resources, false },
		{ "dynamic_resources", read_dynamic_resources, false },
		{ "layered_runtime", ignore_mapping, false },
		{ "stats_config", ignore_mapping, false },
		{ "overload_manager", ignore_mapping, false },
	};
	return WALK(c, root, fields, NULL);
}

static void path_set(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_set(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->path.s, sizeof(c->path.s), fmt, ap);
	va_end(ap);
	c->path.len = strlen(c->path.s);
}

/* Points each chain's tcp_proxy at its cluster. With cds_config, a cluster
 * may come from the control plane instead: the listener then waits for it
 * (snapshot_link), as Envoy's would. */
static int resolve_clusters(struct ctx *c, size_t i)
{
	struct listener *l = &c->snap->listeners[i];
	for (size_t j = 0; j < l->n_chains; j++) {
		struct tcp_proxy_config *tp = &l->chains[j].tcp_proxy;
		if (l->chains[j].http)
			continue; /* routes name clusters that may come later (snapshot_link) */
		tp->cluster = snapshot_find_cluster(c->snap, tp->cluster_name);
		if (!tp->cluster && !c->cds_ads) {
			path_set(c, "static_resources.listeners[%zu].filter_chains[%zu].filters[%zu]."
				    "typed_config.cluster", i, j, c->lsrc[i].chains[j].tcp_proxy_at);
			return fail(c, c->lsrc[i].chains[j].cluster, "no cluster named \"%s\" in "
				    "static_resources.clusters", tp->cluster_name);
		}
	}
	return 0;
}

static int check_listeners(struct ctx *c)
{
	int err;
	struct snapshot *s = c->snap;
	char a[SOCK_ADDR_STRLEN];
	for (size_t i = 0; i < s->n_listeners; i++) {
		struct listener *l = &s->listeners[i];
		for (size_t j = 0; j < i; j++) {
			if (strcmp(l->name, s->listeners[j].name) == 0) {
				path_set(c, "static_resources.listeners[%zu].name", i);
				return fail(c, c->lsrc[i].name, "duplicate name \"%s\" (also "
					    "static_resources.listeners[%zu])", l->name, j);
			}
		}
		/* Port 0 asks the kernel for any free port: never a collision. */
		bool any_port = sock_addr_port(&l->addr) == 0;
		for (size_t j = 0; j < i && !any_port; j++) {
			if (sock_addr_equal(&l->addr, &s->listeners[j].addr)) {
				path_set(c, "static_resources.listeners[%zu].address", i);
				return fail(c, c->lsrc[i].address, "%s is also the address of "
					    "static_resources.listeners[%zu]",
					    sock_addr_format(&l->addr, a, sizeof(a)), j);
			}
		}
		if (!any_port && sock_addr_equal(&l->addr, &s->admin.addr)) {
			path_set(c, "static_resources.listeners[%zu].address", i);
			return fail(c, c->lsrc[i].address, "%s is also the admin address",
				    sock_addr_format(&l->addr, a, sizeof(a)));
		}
		if ((err = resolve_clusters(c, i)))
			return err;
	}
	return 0;
}

static int check_clusters(struct ctx *c)
{
	struct snapshot *s = c->snap;
	for (size_t i = 0; i < s->n_clusters; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(s->clusters[i].name, s->clusters[j].name) == 0) {
				path_set(c, "static_resources.clusters[%zu].name", i);
				return fail(c, c->csrc[i].name, "duplicate name \"%s\" (also "
					    "static_resources.clusters[%zu])", s->clusters[i].name, j);
			}
		}
	}
	return 0;
}

static int check_dynamic(struct ctx *c)
{
	struct snapshot *s = c->snap;
	if (s->ads.cluster_name && !snapshot_find_cluster(s, s->ads.cluster_name)) {
		path_set(c, "dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name");
		return fail(c, c->ads_cluster, "no cluster named \"%s\" in static_resources.clusters",
			    s->ads.cluster_name);
	}
	yaml_node_t *ads_users[] = { c->lds_ads, c->cds_ads };
	const char *names[] = { "lds_config", "cds_config" };
	for (int i = 0; i < 2; i++) {
		if (ads_users[i] && !s->ads.cluster_name) {
			path_set(c, "dynamic_resources.%s.ads", names[i]);
			return fail(c, ads_users[i], "needs dynamic_resources.ads_config");
		}
	}
	if (c->rds_ads && !s->ads.cluster_name) {
		path_set(c, "%s", c->rds_path);
		return fail(c, c->rds_ads, "needs dynamic_resources.ads_config (RDS comes over ADS)");
	}
	return 0;
}

/* The checks that need the whole tree. Clusters first: listeners resolve
 * their cluster by name, which must then be unique. */
static int check_all(struct ctx *c)
{
	int err = check_clusters(c);
	if (!err)
		err = check_listeners(c);
	if (!err)
		err = check_dynamic(c);
	return err;
}

static int yaml_error(struct ctx *c, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return fail_nomem(c);
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s:%zu: invalid YAML: %s%s%s", c->file,
			 p->problem_mark.line + 1, p->problem ? p->problem : "syntax error",
			 p->context ? " " : "", p->context ? p->context : "");
	return -EINVAL;
}

/* Loads the one document of the input into *doc; a second document is an
 * error, as a stream of several bootstraps has no meaning. */
static int load_document(struct ctx *c, yaml_parser_t *p, yaml_document_t *doc)
{
	if (!yaml_parser_load(p, doc))
		return yaml_error(c, p);
	yaml_node_t *root = yaml_document_get_root_node(doc);
	if (!root) {
		yaml_document_delete(doc);
		if (c->errlen)
			snprintf(c->err, c->errlen, "%s:1: empty document", c->file);
		return -EINVAL;
	}
	yaml_document_t next;
	int err = 0;
	if (!yaml_parser_load(p, &next)) {
		err = yaml_error(c, p);
	} else {
		yaml_node_t *extra = yaml_document_get_root_node(&next);
		if (extra)
			err = fail(c, extra, "more than one YAML document");
		yaml_document_delete(&next);
	}
	if (err)
		yaml_document_delete(doc);
	return err;
}

int bootstrap_load_string(const char *name, const char *yaml, size_t len, struct snapshot **out,
			  char *err, size_t errlen)
{
	struct ctx c = { .file = name, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc;
	if (errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return fail_nomem(&c);
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	int rc = load_document(&c, &parser, &doc);
	yaml_parser_delete(&parser);
	if (rc)
		return rc;

	c.doc = &doc;
	c.snap = snapshot_new();
	if (!c.snap || !(c.snap->source = strdup(name))) {
		rc = fail_nomem(&c);
		goto out;
	}
	sock_addr_parse("127.0.0.1", 15000, &c.snap->admin.addr);
	rc = read_bootstrap(&c, yaml_document_get_root_node(&doc));
	if (!rc)
		rc = check_all(&c);
out:
	yaml_document_delete(&doc);
	free(c.lsrc);
	free(c.csrc);
	if (rc) {
		snapshot_unref(c.snap);
		return rc;
	}
	*out = c.snap;
	return 0;
}

/* Reads all of fd, up to MAX_FILE_BYTES; returns a malloc'd buffer or NULL
 * with errno set. */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (used == cap) {
			if (cap >= MAX_FILE_BYTES) {
				errno = EFBIG;
				break;
			}
			char *bigger = realloc(buf, cap * 2);
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + used, cap - used);
		if (n == 0) {
			*len = used;
			return buf;
		}
		if (n > 0)
			used += (size_t)n;
		else if (errno != EINTR)
			break;
	}
	int saved = errno;
	free(buf);
	errno = saved;
	return NULL;
}

int bootstrap_load_file(const char *path, struct snapshot **out, char *err, size_t errlen)
{
	size_t len = 0;
	char *yaml = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		yaml = read_all(fd, &len);
		int saved = errno;
		close(fd);
		errno = saved;
	}
	if (!yaml) {
		int e = errno ? errno : EIO;
		if (errlen)
			snprintf(err, errlen, "%s: %s", path,
				 e == EFBIG ? "file too large (more than 16 MiB)" : strerror(e));
		return -e;
	}
	int rc = bootstrap_load_string(path, yaml, len, out, err, errlen);
	free(yaml);
	return rc;
}
