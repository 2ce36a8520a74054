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

#include "certs/spiffe.h"
#include "proxy/config_rules.h"
#include "proxy/duration.h"
#include "proxy/field_path.h"
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
	struct chain_src *cs = obj;
	return read_name(c, n, &cs->fc->tcp_proxy.access_log.path);
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

static int tcp_proxy_access_log(struct ctx *c, yaml_node_t *n, void *obj)
{
	size_t count = 0;
	int err = expect_sequence(c, n, &count);
	if (!err && count > 1)
		return fail(c, n, "expected at most one access log (skiff supports one), got %zu",
			    count);
	return err ? err : walk_sequence(c, n, read_access_log, obj);
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

enum filter_kind { FILTER_TCP_PROXY, FILTER_RBAC };

static int read_filter(struct ctx *c, yaml_node_t *n, struct chain_src *cs, enum filter_kind *kind)
{
	/* Same order as enum filter_kind. */
	static const char *const names[] = { TCP_PROXY_NAME, RBAC_NAME, NULL };
	static const char *const types[] = { TCP_PROXY_TYPE, RBAC_TYPE, NULL };
	static const struct field tcp_proxy[] = {
		{ "name", NULL, true },
		{ "typed_config", tcp_proxy_typed_config, true },
	};
	static const struct field rbac[] = {
		{ "name", NULL, true },
		{ "typed_config", rbac_typed_config, true },
	};
	int k;
	int err = extension_kind(c, n, names, types, &k);
	if (err)
		return err;
	*kind = (enum filter_kind)k;
	if (*kind == FILTER_TCP_PROXY)
		return WALK(c, n, tcp_proxy, cs);
	if (cs->fc->rbac)
		return fail(c, n, "at most one " RBAC_NAME " filter (skiff supports one)");
	if (!(cs->fc->rbac = calloc(1, sizeof(*cs->fc->rbac))))
		return fail_nomem(c);
	cs->fc->rbac->action = RBAC_ALLOW; /* Envoy's default */
	return WALK(c, n, rbac, cs->fc->rbac);
}

/* [rbac,] tcp_proxy: the proxy ends the chain, as it takes the bytes. */
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
		if (kind == FILTER_TCP_PROXY && i + 1 < count)
			return fail(c, item, TCP_PROXY_NAME " must be the last filter");
		path_pop(c, old);
	}
	if (kind != FILTER_TCP_PROXY)
		return fail(c, n, "must end with an " TCP_PROXY_NAME " filter");
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
	cl->endpoints[cl->n_endpoints++].addr = *addr;
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

static int read_lb_endpoint(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "endpoint", lb_endpoint_endpoint, true },
	};
	return WALK(c, n, fields, obj);
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
	static const char *const names[] = { "ROUND_ROBIN", "CLUSTER_PROVIDED", NULL };
	static const char *const envoy_only[] = { "LEAST_REQUEST", "RING_HASH", "RANDOM", "MAGLEV",
						  "LOAD_BALANCING_POLICY_CONFIG", NULL };
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
	};
	struct cluster_src *cs = obj;
	cs->node = n;
	cs->cl->type = CLUSTER_STATIC;
	cs->cl->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
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
