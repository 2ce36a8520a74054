/* Pod descriptors; see pod.h. */
#include "node/pod.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* How a field's value is checked. */
enum check { CHECK_UID, CHECK_SUBDOMAIN, CHECK_LABEL, CHECK_PATH, CHECK_IP };

static const struct field {
	const char *name;
	size_t offset;
	enum check check;
	bool required;
} fields[] = {
    {"uid", offsetof(struct pod, uid), CHECK_UID, true},
    {"name", offsetof(struct pod, name), CHECK_SUBDOMAIN, true},
    {"namespace", offsetof(struct pod, namespace), CHECK_LABEL, true},
    {"service_account", offsetof(struct pod, service_account), CHECK_SUBDOMAIN, false},
    {"netns", offsetof(struct pod, netns), CHECK_PATH, true},
    {"cgroup", offsetof(struct pod, cgroup), CHECK_PATH, false},
    {"ip", offsetof(struct pod, ip), CHECK_IP, false},
    {"cert", offsetof(struct pod, cert), CHECK_PATH, true},
    {"key", offsetof(struct pod, key), CHECK_PATH, true},
    {"ca", offsetof(struct pod, ca), CHECK_PATH, true},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static char **slot(struct pod *p, const struct field *f)
{
	return (char **)((char *)p + f->offset);
}

static const char *const *cslot(const struct pod *p, const struct field *f)
{
	return (const char *const *)((const char *)p + f->offset);
}

bool pod_dns_name_ok(const char *s, size_t n, size_t max, bool dots)
{
	if (n == 0 || n > max || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			  (dots && c == '.' && i + 1 < n && s[i + 1] != '.');
		if (!ok)
			return false;
	}
	return true;
}

/* Absolute, no "." or ".." component, printable, bounded: the daemon opens
 * these paths as root, so a descriptor must say plainly where. */
static bool path_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n >= PATH_MAX - 32 || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	for (const char *seg = s; seg; seg = strchr(seg + 1, '/')) {
		const char *next = seg + 1;
		size_t len = strcspn(next, "/");
		if ((len == 1 && next[0] == '.') || (len == 2 && next[0] == '.' && next[1] == '.'))
			return false;
	}
	return true;
}

static const char *check_value(enum check check, const char *v)
{
	unsigned char buf[16];
	switch (check) {
	case CHECK_UID: {
		size_t n = strlen(v);
		return n > 0 && n <= 48 && strspn(v, "0123456789abcdef-") == n
			   ? NULL
			   : "expected the pod's metadata.uid ([0-9a-f-], at most 48)";
	}
	case CHECK_SUBDOMAIN:
		return pod_dns_name_ok(v, strlen(v), 253, true) ? NULL : "expected a DNS-1123 subdomain";
	case CHECK_LABEL:
		return pod_dns_name_ok(v, strlen(v), 63, false) ? NULL : "expected a DNS-1123 label";
	case CHECK_PATH:
		return path_ok(v) ? NULL : "expected an absolute path without . or .. components";
	case CHECK_IP:
		return inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1
			   ? NULL
			   : "expected an IPv4 or IPv6 literal";
	}
	return "unknown check";
}

/* A user's key quoted back in a message: cut, and every byte outside
 * printable ASCII shown as '?', so a message stays one line of text. */
#define SHOWN_MAX 48

static const char *printable(const char *s, size_t len, char out[SHOWN_MAX + 1])
{
	size_t n = len < SHOWN_MAX ? len : SHOWN_MAX;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	out[n] = '\0';
	return out;
}

struct parse {
	const char *source;
	bool xds_identity; /* pod_parse_partial */
	char *err;
	size_t errlen;
};

static int fail(struct parse *ps, const yaml_node_t *n, const char *field, const char *why)
{
	snprintf(ps->err, ps->errlen, "%s:%zu: %s%s%s", ps->source,
		 n ? (size_t)n->start_mark.line + 1 : (size_t)1, field ? field : "",
		 field ? ": " : "", why);
	return -EINVAL;
}

static int read_pair(struct parse *ps, yaml_document_t *doc, yaml_node_pair_t *pair,
		     struct pod *out)
{
	yaml_node_t *k = yaml_document_get_node(doc, pair->key);
	yaml_node_t *v = yaml_document_get_node(doc, pair->value);
	if (!k || k->type != YAML_SCALAR_NODE)
		return fail(ps, k, NULL, "keys must be strings");
	const char *key = (const char *)k->data.scalar.value;
	const struct field *f = NULL;
	for (size_t i = 0; i < N_FIELDS && !f; i++)
		if (k->data.scalar.length == strlen(fields[i].name) &&
		    strcmp(key, fields[i].name) == 0)
			f = &fields[i];
	if (!f) {
		char shown[SHOWN_MAX + 1];
		return fail(ps, k, printable(key, k->data.scalar.length, shown), "unknown field");
	}
	if (!v || v->type != YAML_SCALAR_NODE)
		return fail(ps, v ? v : k, f->name, "expected a string");
	if (*slot(out, f))
		return fail(ps, k, f->name, "given twice");
	const char *value = (const char *)v->data.scalar.value;
	if (strlen(value) != v->data.scalar.length)
		return fail(ps, v, f->name, "NUL byte in value");
	const char *why = check_value(f->check, value);
	if (why)
		return fail(ps, v, f->name, why);
	if (!(*slot(out, f) = strdup(value))) {
		snprintf(ps->err, ps->errlen, "%s: out of memory", ps->source);
		return -ENOMEM;
	}
	return 0;
}

/* pod_parse_partial's rule: uid and netns always; name and namespace
 * together or not at all (half an identity would be merged with another
 * half from xDS); cert, key and ca together or not at all. */
static int check_partial(struct parse *ps, const yaml_node_t *root, struct pod *out)
{
	if (!out->uid)
		return fail(ps, root, "uid", "missing");
	if (!out->netns)
		return fail(ps, root, "netns", "missing");
	if (!out->name != !out->namespace)
		return fail(ps, root, out->name ? "namespace" : "name",
			    "missing (name and namespace go together)");
	int certs = !!out->cert + !!out->key + !!out->ca;
	if (certs != 0 && certs != 3)
		return fail(ps, root,
			    !out->cert  ? "cert"
			    : !out->key ? "key"
					: "ca",
			    "missing (cert, key and ca go together)");
	if (out->name && !out->service_account && !(out->service_account = strdup("default"))) {
		snprintf(ps->err, ps->errlen, "%s: out of memory", ps->source);
		return -ENOMEM;
	}
	return 0;
}

static int read_document(struct parse *ps, yaml_document_t *doc, struct pod *out)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	if (!root || root->type != YAML_MAPPING_NODE)
		return fail(ps, root, NULL, "expected a mapping of pod fields");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		int rc = read_pair(ps, doc, p, out);
		if (rc)
			return rc;
	}
	if (ps->xds_identity)
		return check_partial(ps, root, out);
	for (size_t i = 0; i < N_FIELDS; i++)
		if (fields[i].required && !*slot(out, &fields[i]))
			return fail(ps, root, fields[i].name, "missing");
	if (!out->service_account && !(out->service_account = strdup("default"))) {
		snprintf(ps->err, ps->errlen, "%s: out of memory", ps->source);
		return -ENOMEM;
	}
	return 0;
}

static int parse(const char *text, size_t len, const char *source, bool xds_identity,
		 struct pod *out, char *err, size_t errlen)
{
	struct parse ps = {source, xds_identity, err, errlen};
	memset(out, 0, sizeof(*out));
	if (len > POD_DESC_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %u bytes", source, POD_DESC_MAX_BYTES);
		return -EINVAL;
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", source);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc;
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu: %s", source, parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "not YAML or JSON");
		rc = -EINVAL;
	} else {
		rc = read_document(&ps, &doc, out);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	if (rc)
		pod_clear(out);
	return rc;
}

int pod_parse(const char *text, size_t len, const char *source, struct pod *out, char *err,
	      size_t errlen)
{
	return parse(text, len, source, false, out, err, errlen);
}

int pod_parse_partial(const char *text, size_t len, const char *source, struct pod *out, char *err,
		      size_t errlen)
{
	return parse(text, len, source, true, out, err, errlen);
}

void pod_clear(struct pod *p)
{
	for (size_t i = 0; i < N_FIELDS; i++)
		free(*slot(p, &fields[i]));
	free(p->trust_domain);
	memset(p, 0, sizeof(*p));
}

static bool same(const char *x, const char *y)
{
	return (x == NULL) == (y == NULL) && (!x || strcmp(x, y) == 0);
}

bool pod_equal(const struct pod *a, const struct pod *b)
{
	for (size_t i = 0; i < N_FIELDS; i++)
		if (!same(*cslot(a, &fields[i]), *cslot(b, &fields[i])))
			return false;
	return same(a->trust_domain, b->trust_domain);
}

int pod_copy(struct pod *dst, const struct pod *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < N_FIELDS; i++) {
		const char *v = *cslot(src, &fields[i]);
		if (v && !(*slot(dst, &fields[i]) = strdup(v)))
			goto oom;
	}
	if (src->trust_domain && !(dst->trust_domain = strdup(src->trust_domain)))
		goto oom;
	return 0;
oom:
	pod_clear(dst);
	return -ENOMEM;
}

bool pod_has_identity(const struct pod *p)
{
	return p->name && p->namespace && p->service_account && p->cert && p->key && p->ca;
}

void pod_spiffe_path(const struct pod *p, char *buf, size_t len)
{
	snprintf(buf, len, "/ns/%s/sa/%s", p->namespace, p->service_account);
}
