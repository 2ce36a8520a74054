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

#include "proxy/duration.h"
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
#define MAX_PATH 256
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

/* Where a listener's and a cluster's fields were, for the checks made after
 * the walk. */
struct listener_src {
	struct listener *l;
	yaml_node_t *node, *name, *address, *cluster;
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
	char path[MAX_PATH]; /* field path of the node being read */
	size_t path_len;
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
		snprintf(c->err, c->errlen, "%s:%zu: %s%s%s", c->file, node_line(n), c->path,
			 c->path_len ? ": " : "", msg);
	return -EINVAL;
}

static int fail_nomem(struct ctx *c)
{
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
	return -ENOMEM;
}

/* Appends to the path; returns the length to restore with path_pop. Paths
 * are built only from schema names and indexes, so MAX_PATH is not reached
 * in practice; if it were, the message would be truncated, not wrong. */
static size_t path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(struct ctx *c, const char *fmt, ...)
{
	size_t old = c->path_len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->path + old, sizeof(c->path) - old, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->path_len = strlen(c->path);
	return old;
}

static void path_pop(struct ctx *c, size_t old)
{
	c->path_len = old;
	c->path[old] = '\0';
}

static size_t path_push_field(struct ctx *c, const char *name)
{
	return path_push(c, "%s%s", c->path_len ? "." : "", name);
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

/* A string that must be exactly `want`: a filter or extension name. */
static int read_exact(struct ctx *c, yaml_node_t *n, const char *want)
{
	char buf[SHOWN_MAX + 4];
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "expected a string");
	if (!scalar_is(n, want))
		return fail(c, n, "not supported by skiff: \"%s\" (supported: %s)", shown(n, buf), want);
	return 0;
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

/* ---- listeners --------------------------------------------------------- */

static int file_log_path(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct listener_src *ls = obj;
	return read_name(c, n, &ls->l->chains[0].tcp_proxy.access_log.path);
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
	struct listener_src *ls = obj;
	return read_name(c, n, &ls->l->chains[0].tcp_proxy.stat_prefix);
}

static int tcp_proxy_cluster(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct listener_src *ls = obj;
	ls->cluster = n;
	return read_name(c, n, &ls->l->chains[0].tcp_proxy.cluster_name);
}

static int tcp_proxy_idle_timeout(struct ctx *c, yaml_node_t *n, void *obj)
{
	struct listener_src *ls = obj;
	return read_duration(c, n, &ls->l->chains[0].tcp_proxy.idle_timeout_ms);
}

static int filter_typed_config(struct ctx *c, yaml_node_t *n, void *obj)
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

static int filter_name(struct ctx *c, yaml_node_t *n, void *obj)
{
	(void)obj;
	return read_exact(c, n, TCP_PROXY_NAME);
}

static int read_filter(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", filter_name, true },
		{ "typed_config", filter_typed_config, true },
	};
	return WALK(c, n, fields, obj);
}

static int chain_filters(struct ctx *c, yaml_node_t *n, void *obj)
{
	return walk_one(c, n, "filter", read_filter, obj);
}

static int read_filter_chain(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "filters", chain_filters, true },
	};
	return WALK(c, n, fields, obj);
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
	return walk_one(c, n, "filter chain", read_filter_chain, obj);
}

static int read_listener(struct ctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", listener_name, true },
		{ "address", listener_address, true },
		{ "use_original_dst", listener_original_dst, false },
		{ "traffic_direction", listener_direction, false },
		{ "filter_chains", listener_filter_chains, true },
	};
	struct listener_src *ls = obj;
	ls->node = n;
	ls->l->n_chains = 1;
	ls->l->chains[0].tcp_proxy.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	return WALK(c, n, fields, ls);
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
	vsnprintf(c->path, sizeof(c->path), fmt, ap);
	va_end(ap);
	c->path_len = strlen(c->path);
}

static int check_listeners(struct ctx *c)
{
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
		struct tcp_proxy_config *tp = &l->chains[0].tcp_proxy;
		tp->cluster = snapshot_find_cluster(s, tp->cluster_name);
		if (!tp->cluster) {
			path_set(c, "static_resources.listeners[%zu].filter_chains[0].filters[0]."
				    "typed_config.cluster", i);
			return fail(c, c->lsrc[i].cluster, "no cluster named \"%s\" in "
				    "static_resources.clusters", tp->cluster_name);
		}
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
