/* Sidecar injection over libyaml's document API: each input document is
 * loaded into a node tree, the pod templates in it get skiff's containers,
 * volumes and annotation, and the tree is emitted again. What is added is
 * written below as YAML text (pod_fragment), parsed, and copied into the
 * document, so it reads like the manifest it produces; every value put into
 * that text is checked against a narrow character set first, so no input can
 * change its structure. */
#include "deploy/inject.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define ANN_PREFIX "skiff.io/"
#define STATUS_KEY ANN_PREFIX "status"
#define PROXY_NAME "skiff-proxy"
#define INIT_NAME "skiff-init"

/* Ports the capture must never steer to the inbound listener: skiff's own
 * health and Prometheus ports (and 15020, kept free as Istio does), so that
 * probes and scrapes reach the sidecar itself. `skiff bpf attach` uses the
 * same default when the annotation is absent. */
#define ALWAYS_EXCLUDED_INBOUND "15020,15021,15090"

/* Lists List nesting can reach: a List of Lists is legal, a deep one is
 * an attack on the stack. */
#define MAX_LIST_DEPTH 4

struct ctx {
	yaml_document_t *doc;
	const struct inject_opts *o;
	struct inject_counts *counts;
	unsigned docno;
	char what[96]; /* "Deployment web", for messages */
	char *err;
	size_t errlen;
};

/* What the annotations of one pod template ask for, checked. */
struct pod_settings {
	char sa[254];             /* service account: the certificate Secret's suffix */
	char excl_out_ports[512]; /* "" when not asked for */
	char excl_in_ports[512];
	char incl_cidrs[1024];
	char excl_cidrs[1024];
	char cpu[32], memory[32], cpu_limit[32], memory_limit[32];
};

static int bad_input(struct ctx *c, const char *base, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad_input(struct ctx *c, const char *base, const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: document %u (%s): %s%s: %s", c->o->source, c->docno,
		 c->what, base, path, msg);
	return -EINVAL;
}

static yaml_node_t *node(struct ctx *c, int id)
{
	return id ? yaml_document_get_node(c->doc, id) : NULL;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

/* A plain scalar YAML reads as null ("key:" with nothing after it). */
static bool is_null(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
		scalar_is(n, "Null") || scalar_is(n, "NULL"));
}

/* The pair of `map` whose key is the scalar `key`, or NULL. The pointer is
 * good until a pair is added to that mapping. */
static yaml_node_pair_t *map_pair(struct ctx *c, int map, const char *key)
{
	yaml_node_t *m = node(c, map);

	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (scalar_is(node(c, p->key), key))
			return p;
	return NULL;
}

/* The value id of map[key]; 0 when absent or null. */
static int map_get(struct ctx *c, int map, const char *key)
{
	yaml_node_pair_t *p = map_pair(c, map, key);

	return p && !is_null(node(c, p->value)) ? p->value : 0;
}

/* The value of map[key] as a C string into buf, or NULL when absent, null
 * or not a scalar; also NULL, with *toolong set, when the value does not
 * fit or holds a NUL byte. */
static const char *map_string(struct ctx *c, int map, const char *key, char *buf, size_t len,
			      bool *toolong)
{
	yaml_node_t *v = node(c, map_get(c, map, key));

	*toolong = false;
	if (!v || v->type != YAML_SCALAR_NODE)
		return NULL;
	if (v->data.scalar.length >= len ||
	    memchr(v->data.scalar.value, 0, v->data.scalar.length)) {
		*toolong = true;
		return NULL;
	}
	memcpy(buf, v->data.scalar.value, v->data.scalar.length);
	buf[v->data.scalar.length] = '\0';
	return buf;
}

static bool is_type(struct ctx *c, int id, yaml_node_type_t t)
{
	yaml_node_t *n = node(c, id);

	return n && n->type == t;
}

/* Adds key: <new empty mapping or sequence> to `map`; returns the new
 * node's id, or 0 when out of memory. A null value already there is
 * replaced in place, so the key keeps its position. */
static int map_add_child(struct ctx *c, int map, const char *key, yaml_node_type_t t)
{
	yaml_node_pair_t *p;
	int v = t == YAML_MAPPING_NODE
		    ? yaml_document_add_mapping(c->doc, NULL, YAML_BLOCK_MAPPING_STYLE)
		    : yaml_document_add_sequence(c->doc, NULL, YAML_BLOCK_SEQUENCE_STYLE);
	int k;

	if (!v)
		return 0;
	p = map_pair(c, map, key);
	if (p) {
		p->value = v;
		return v;
	}
	k = yaml_document_add_scalar(c->doc, NULL, (yaml_char_t *)key, -1, YAML_PLAIN_SCALAR_STYLE);
	if (!k || !yaml_document_append_mapping_pair(c->doc, map, k, v))
		return 0;
	return v;
}

/* map[key] as a node of type t, added empty when absent or null. Returns
 * the id, or a negative errno (with a message for a value of another type). */
static int map_child(struct ctx *c, int map, const char *key, yaml_node_type_t t, const char *base,
		     const char *path)
{
	int id = map_get(c, map, key);

	if (id)
		return is_type(c, id, t)
			   ? id
			   : bad_input(c, base, path, "expected a %s",
				       t == YAML_MAPPING_NODE ? "mapping" : "sequence");
	id = map_add_child(c, map, key, t);
	return id ? id : -ENOMEM;
}

static int add_string(struct ctx *c, int map, const char *key, const char *value,
		      yaml_scalar_style_t style)
{
	int k =
	    yaml_document_add_scalar(c->doc, NULL, (yaml_char_t *)key, -1, YAML_PLAIN_SCALAR_STYLE);
	int v = k ? yaml_document_add_scalar(c->doc, NULL, (yaml_char_t *)value, -1, style) : 0;

	if (!v || !yaml_document_append_mapping_pair(c->doc, map, k, v))
		return -ENOMEM;
	return 0;
}

/* Copies node `id` of `src` (our own fragment: small, no aliases) into
 * c->doc; returns the new id or 0 when out of memory. */
static int copy_node(struct ctx *c, yaml_document_t *src, int id)
{
	yaml_node_t *n = yaml_document_get_node(src, id);
	int out = 0;

	switch (n->type) {
	case YAML_SCALAR_NODE:
		return yaml_document_add_scalar(c->doc, n->tag, n->data.scalar.value,
						(int)n->data.scalar.length, n->data.scalar.style);
	case YAML_SEQUENCE_NODE:
		out = yaml_document_add_sequence(c->doc, n->tag, n->data.sequence.style);
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     out && i < n->data.sequence.items.top; i++) {
			int item = copy_node(c, src, *i);
			if (!item || !yaml_document_append_sequence_item(c->doc, out, item))
				return 0;
		}
		return out;
	case YAML_MAPPING_NODE:
		out = yaml_document_add_mapping(c->doc, n->tag, n->data.mapping.style);
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     out && p < n->data.mapping.pairs.top; p++) {
			int k = copy_node(c, src, p->key);
			int v = k ? copy_node(c, src, p->value) : 0;
			if (!v || !yaml_document_append_mapping_pair(c->doc, out, k, v))
				return 0;
		}
		return out;
	default:
		return 0;
	}
}

/* Appends copies of the items of sequence `from` (in fragment `src`) to
 * sequence `seq`, and with `front` moves them before the items already
 * there, keeping their order. */
static int seq_add_items(struct ctx *c, int seq, yaml_document_t *src, int from, bool front)
{
	yaml_node_t *f = yaml_document_get_node(src, from);
	size_t n = (size_t)(f->data.sequence.items.top - f->data.sequence.items.start);
	yaml_node_item_t moved[8];
	yaml_node_t *s;
	size_t total;

	for (size_t i = 0; i < n; i++) {
		int item = copy_node(c, src, f->data.sequence.items.start[i]);
		if (!item || !yaml_document_append_sequence_item(c->doc, seq, item))
			return -ENOMEM;
	}
	if (!front || n > sizeof(moved) / sizeof(moved[0]))
		return 0;
	s = node(c, seq);
	total = (size_t)(s->data.sequence.items.top - s->data.sequence.items.start);
	memcpy(moved, s->data.sequence.items.start + total - n, n * sizeof(moved[0]));
	memmove(s->data.sequence.items.start + n, s->data.sequence.items.start,
		(total - n) * sizeof(moved[0]));
	memcpy(s->data.sequence.items.start, moved, n * sizeof(moved[0]));
	return 0;
}

/* True if sequence `seq` has a mapping item whose "name" is `name`. */
static bool seq_has_name(struct ctx *c, int seq, const char *name)
{
	yaml_node_t *s = node(c, seq);

	if (!s || s->type != YAML_SEQUENCE_NODE)
		return false;
	for (yaml_node_item_t *i = s->data.sequence.items.start; i < s->data.sequence.items.top;
	     i++)
		if (scalar_is(node(c, map_get(c, *i, "name")), name))
			return true;
	return false;
}

/* Checks, a character at a time, that s is made only of `allowed` (and is
 * not empty). */
static bool only(const char *s, const char *allowed)
{
	return *s && strspn(s, allowed) == strlen(s);
}

#define DIGITS "0123456789"
#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

bool inject_image_ok(const char *image)
{
	return image && strlen(image) <= 255 && only(image, LOWER UPPER DIGITS "._:/@-") &&
	       image[0] != '-';
}

/* Copies the comma-separated list `in` into out without blanks, checking
 * each item with `item_ok`. Returns false on an empty item or a bad one. */
static bool clean_list(const char *in, char *out, size_t len, bool (*item_ok)(const char *))
{
	size_t n = 0;
	char item[64];

	for (const char *p = in;;) {
		size_t k = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		while (*p && *p != ',' && *p != ' ' && *p != '\t') {
			if (k + 1 >= sizeof(item))
				return false;
			item[k++] = *p++;
		}
		item[k] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (!item_ok(item) || n + k + 2 > len)
			return false;
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "," : "", item);
		if (!*p)
			return true;
		if (*p++ != ',')
			return false;
	}
}

static bool port_ok(const char *s)
{
	unsigned long v;

	if (!only(s, DIGITS) || strlen(s) > 5)
		return false;
	v = strtoul(s, NULL, 10);
	return v >= 1 && v <= 65535;
}

static bool cidr_ok(const char *s)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	unsigned char buf[16];
	unsigned long prefix;
	bool v6;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || !only(slash + 1, DIGITS) ||
	    strlen(slash + 1) > 3)
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	v6 = strchr(addr, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1)
		return false;
	prefix = strtoul(slash + 1, NULL, 10);
	return prefix <= (v6 ? 128u : 32u);
}

/* A Kubernetes resource quantity: a decimal number with an optional suffix
 * (binary Ki..Ei, decimal m, k, M..E, or an exponent e3). */
static bool quantity_ok(const char *s)
{
	static const char *const suffixes[] = {"",  "m",  "k",  "M",  "G",  "T",  "P",
					       "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
	size_t digits = 0;

	if (*s == '+' || *s == '-')
		s++;
	digits = strspn(s, DIGITS);
	s += digits;
	if (*s == '.') {
		size_t frac = strspn(s + 1, DIGITS);
		digits += frac;
		s += 1 + frac;
	}
	if (!digits)
		return false;
	if ((*s == 'e' || *s == 'E') && s[1]) {
		const char *e = s + 1 + (s[1] == '+' || s[1] == '-');
		return only(e, DIGITS);
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (strcmp(s, suffixes[i]) == 0)
			return true;
	return false;
}

/* Reads annotation `key` (after the skiff.io/ prefix) of the mapping `ann`
 * into out. Returns 1 if set, 0 if absent, or -EINVAL with a message. */
static int annotation(struct ctx *c, int ann, const char *key, char *out, size_t len,
		      const char *base)
{
	char full[64], path[96];
	bool toolong;

	snprintf(full, sizeof(full), ANN_PREFIX "%s", key);
	snprintf(path, sizeof(path), "metadata.annotations.%s", full);
	if (!map_string(c, ann, full, out, len, &toolong)) {
		if (toolong)
			return bad_input(c, base, path, "value too long or not text");
		if (map_get(c, ann, full))
			return bad_input(c, base, path, "expected a string");
		return 0;
	}
	return 1;
}

struct list_annotation {
	const char *key;
	size_t offset; /* of the output field in struct pod_settings */
	bool (*item_ok)(const char *);
	const char *what;
};

static const struct list_annotation list_annotations[] = {
    {"excludeOutboundPorts", offsetof(struct pod_settings, excl_out_ports), port_ok,
     "a comma-separated list of ports (1-65535)"},
    {"excludeInboundPorts", offsetof(struct pod_settings, excl_in_ports), port_ok,
     "a comma-separated list of ports (1-65535)"},
    {"includeOutboundIPRanges", offsetof(struct pod_settings, incl_cidrs), cidr_ok,
     "\"*\" or a comma-separated list of CIDRs (10.0.0.0/8,fd00::/8)"},
    {"excludeOutboundIPRanges", offsetof(struct pod_settings, excl_cidrs), cidr_ok,
     "a comma-separated list of CIDRs (10.0.0.0/8,fd00::/8)"},
};

struct quantity_annotation {
	const char *key;
	size_t offset;
	const char *fallback; /* NULL: not set unless asked */
};

/* Requests are small: skiff idles in a few MiB (README, Cost). Limits only
 * when asked for, since a CPU limit throttles the data path of the whole
 * pod. */
static const struct quantity_annotation quantity_annotations[] = {
    {"proxyCPU", offsetof(struct pod_settings, cpu), "50m"},
    {"proxyMemory", offsetof(struct pod_settings, memory), "64Mi"},
    {"proxyCPULimit", offsetof(struct pod_settings, cpu_limit), NULL},
    {"proxyMemoryLimit", offsetof(struct pod_settings, memory_limit), NULL},
};

static int read_settings(struct ctx *c, int ann, int spec, const char *base, struct pod_settings *s)
{
	char raw[1024], path[96];
	bool toolong;
	int rc;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(list_annotations) / sizeof(list_annotations[0]); i++) {
		const struct list_annotation *a = &list_annotations[i];
		char *out = (char *)s + a->offset;

		rc = annotation(c, ann, a->key, raw, sizeof(raw), base);
		if (rc <= 0) {
			if (rc < 0)
				return rc;
			continue;
		}
		if (a->item_ok == cidr_ok && strcmp(raw, "*") == 0 &&
		    a->offset == offsetof(struct pod_settings, incl_cidrs))
			continue; /* everything: what attach does anyway */
		if (strspn(raw, " \t") == strlen(raw))
			continue;
		if (!clean_list(raw, out, 1024, a->item_ok)) {
			snprintf(path, sizeof(path), "metadata.annotations." ANN_PREFIX "%s",
				 a->key);
			return bad_input(c, base, path, "expected %s", a->what);
		}
	}
	for (size_t i = 0; i < sizeof(quantity_annotations) / sizeof(quantity_annotations[0]);
	     i++) {
		const struct quantity_annotation *q = &quantity_annotations[i];
		char *out = (char *)s + q->offset;

		rc = annotation(c, ann, q->key, out, 32, base);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (q->fallback)
				strcpy(out, q->fallback);
			continue;
		}
		if (!quantity_ok(out)) {
			snprintf(path, sizeof(path), "metadata.annotations." ANN_PREFIX "%s",
				 q->key);
			return bad_input(c, base, path,
					 "expected a Kubernetes quantity like 100m or 128Mi");
		}
	}
	if (!map_string(c, spec, "serviceAccountName", s->sa, sizeof(s->sa) - 12, &toolong) &&
	    !toolong && !map_string(c, spec, "serviceAccount", s->sa, sizeof(s->sa) - 12, &toolong))
		strcpy(s->sa, "default");
	/* The Secret's name is skiff-certs-<sa>: a DNS subdomain of at most 253. */
	if (toolong || !only(s->sa, LOWER DIGITS ".-"))
		return bad_input(
		    c, base, "spec.serviceAccountName",
		    "expected a service account name (lower-case DNS subdomain, at most 241 "
		    "characters)");
	return 0;
}

/* Writes the YAML of what a pod gets: "init" (skiff-init then skiff-proxy)
 * and "volumes". Returns a malloc'd string or NULL. */
static char *pod_fragment(const struct pod_settings *s, const char *image)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"init:\n"
		/* The privileged step: attaches capture to the pod's cgroup and
		 * network namespace before any app container runs, and leaves
		 * it pinned under the host's /sys/fs/bpf. */
		"- name: " INIT_NAME "\n"
		"  image: %s\n"
		"  args:\n"
		"  - bpf\n"
		"  - attach\n"
		"  - --instance\n"
		"  - $(POD_UID)\n"
		"  - --pod-uid\n"
		"  - $(POD_UID)\n"
		"  - --cgroup-root\n"
		"  - /host/sys/fs/cgroup\n",
		image);
	if (s->excl_out_ports[0])
		fprintf(f, "  - --exclude-outbound-ports\n  - \"%s\"\n", s->excl_out_ports);
	if (s->excl_in_ports[0])
		fprintf(f, "  - --exclude-inbound-ports\n  - \"" ALWAYS_EXCLUDED_INBOUND ",%s\"\n",
			s->excl_in_ports);
	if (s->incl_cidrs[0])
		fprintf(f, "  - --include-cidrs\n  - \"%s\"\n", s->incl_cidrs);
	if (s->excl_cidrs[0])
		fprintf(f, "  - --exclude-cidrs\n  - \"%s\"\n", s->excl_cidrs);
	fprintf(f,
		"  env:\n"
		"  - name: POD_UID\n"
		"    valueFrom:\n"
		"      fieldRef:\n"
		"        fieldPath: metadata.uid\n"
		"  resources:\n"
		"    requests:\n"
		"      cpu: 10m\n"
		"      memory: 32Mi\n"
		"  securityContext:\n"
		"    runAsUser: 0\n"
		"    runAsGroup: 0\n"
		"    runAsNonRoot: false\n"
		"    readOnlyRootFilesystem: true\n"
		"    capabilities:\n"
		"      drop:\n"
		"      - ALL\n"
		"      add:\n"
		"      - BPF\n"
		"      - NET_ADMIN\n"
		"      - SYS_ADMIN\n"
		"  volumeMounts:\n"
		"  - name: skiff-bpffs\n"
		"    mountPath: /sys/fs/bpf\n"
		"  - name: skiff-cgroup\n"
		"    mountPath: /host/sys/fs/cgroup\n"
		"    readOnly: true\n"
		/* The native sidecar (restartPolicy: Always in initContainers):
		 * started, and ready by its startup probe, before the app;
		 * stopped after it. */
		"- name: " PROXY_NAME "\n"
		"  image: %s\n"
		"  restartPolicy: Always\n"
		"  args:\n"
		"  - run\n"
		"  - -c\n"
		"  - /etc/skiff/bootstrap.yaml\n"
		"  ports:\n"
		"  - name: http-envoy-prom\n"
		"    containerPort: 15090\n"
		"    protocol: TCP\n"
		"  - name: skiff-health\n"
		"    containerPort: 15021\n"
		"    protocol: TCP\n"
		"  readinessProbe:\n"
		"    httpGet:\n"
		"      path: /healthz/ready\n"
		"      port: 15021\n"
		"    periodSeconds: 2\n"
		"    failureThreshold: 30\n"
		"  startupProbe:\n"
		"    httpGet:\n"
		"      path: /healthz/ready\n"
		"      port: 15021\n"
		"    periodSeconds: 1\n"
		"    failureThreshold: 600\n"
		"  resources:\n"
		"    requests:\n"
		"      cpu: \"%s\"\n"
		"      memory: \"%s\"\n",
		image, s->cpu, s->memory);
	if (s->cpu_limit[0] || s->memory_limit[0]) {
		fprintf(f, "    limits:\n");
		if (s->cpu_limit[0])
			fprintf(f, "      cpu: \"%s\"\n", s->cpu_limit);
		if (s->memory_limit[0])
			fprintf(f, "      memory: \"%s\"\n", s->memory_limit);
	}
	fprintf(f,
		"  securityContext:\n"
		"    runAsUser: 1337\n"
		"    runAsGroup: 1337\n"
		"    runAsNonRoot: true\n"
		"    allowPrivilegeEscalation: false\n"
		"    readOnlyRootFilesystem: true\n"
		"    capabilities:\n"
		"      drop:\n"
		"      - ALL\n"
		"  volumeMounts:\n"
		"  - name: skiff-bootstrap\n"
		"    mountPath: /etc/skiff\n"
		"    readOnly: true\n"
		"  - name: skiff-certs\n"
		"    mountPath: /var/run/skiff/certs\n"
		"    readOnly: true\n"
		"volumes:\n"
		"- name: skiff-bootstrap\n"
		"  configMap:\n"
		"    name: skiff-bootstrap\n"
		"- name: skiff-certs\n"
		"  secret:\n"
		"    secretName: skiff-certs-%s\n"
		"    optional: true\n"
		"- name: skiff-bpffs\n"
		"  hostPath:\n"
		"    path: /sys/fs/bpf\n"
		"    type: Directory\n"
		"- name: skiff-cgroup\n"
		"  hostPath:\n"
		"    path: /sys/fs/cgroup\n"
		"    type: Directory\n",
		s->sa);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static const char *const our_volumes[] = {"skiff-bootstrap", "skiff-certs", "skiff-bpffs",
					  "skiff-cgroup"};

/* The sequence under `key` at the top of pod_fragment's text. */
static int frag_get(yaml_document_t *frag, const char *key)
{
	yaml_node_t *root = yaml_document_get_node(frag, 1);

	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(frag, p->key);
		if (strcmp((const char *)k->data.scalar.value, key) == 0)
			return p->value;
	}
	return 0;
}

/* Adds the fragment's containers and volumes to the pod spec `spec` and the
 * status annotation to `ann`. */
static int apply_fragment(struct ctx *c, int spec, int ann, const char *base, const char *text)
{
	yaml_parser_t p;
	yaml_document_t frag;
	int rc = -ENOMEM, init, vols;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&p, &frag)) {
		yaml_parser_delete(&p);
		return bad_input(c, base, "spec",
				 "internal error: the sidecar template does not parse");
	}
	init =
	    map_child(c, spec, "initContainers", YAML_SEQUENCE_NODE, base, "spec.initContainers");
	vols = init < 0 ? init
			: map_child(c, spec, "volumes", YAML_SEQUENCE_NODE, base, "spec.volumes");
	if (init < 0 || vols < 0) {
		rc = init < 0 ? init : vols;
		goto out;
	}
	/* Ours first: capture must be attached before any other init
	 * container (or app container) opens a connection. */
	rc = seq_add_items(c, init, &frag, frag_get(&frag, "init"), true);
	if (rc == 0)
		rc = seq_add_items(c, vols, &frag, frag_get(&frag, "volumes"), false);
	if (rc == 0)
		rc = add_string(c, ann, STATUS_KEY, "injected", YAML_PLAIN_SCALAR_STYLE);
out:
	yaml_document_delete(&frag);
	yaml_parser_delete(&p);
	return rc;
}

/* Adds skiff to the pod (or pod template) mapping `pod`, whose path in the
 * document starts with `base`. */
static int inject_pod(struct ctx *c, int pod, const char *base)
{
	struct pod_settings s;
	char flag[16];
	int meta, ann, spec, init, rc;
	char *text;

	meta = map_get(c, pod, "metadata");
	if (meta && !is_type(c, meta, YAML_MAPPING_NODE))
		return bad_input(c, base, "metadata", "expected a mapping");
	ann = meta ? map_get(c, meta, "annotations") : 0;
	if (ann && !is_type(c, ann, YAML_MAPPING_NODE))
		return bad_input(c, base, "metadata.annotations", "expected a mapping");
	spec = map_get(c, pod, "spec");
	if (!spec)
		return bad_input(c, base, "spec", "missing");
	if (!is_type(c, spec, YAML_MAPPING_NODE))
		return bad_input(c, base, "spec", "expected a mapping");
	if (!is_type(c, map_get(c, spec, "containers"), YAML_SEQUENCE_NODE))
		return bad_input(c, base, "spec.containers", "expected a sequence of containers");
	init = map_get(c, spec, "initContainers");
	if (init && !is_type(c, init, YAML_SEQUENCE_NODE))
		return bad_input(c, base, "spec.initContainers", "expected a sequence");

	rc = annotation(c, ann, "inject", flag, sizeof(flag), base);
	if (rc < 0)
		return rc;
	if (rc > 0 && strcmp(flag, "false") == 0) {
		c->counts->skipped++;
		return 0;
	}
	if (rc > 0 && strcmp(flag, "true") != 0)
		return bad_input(c, base, "metadata.annotations." ANN_PREFIX "inject",
				 "expected \"true\" or \"false\"");
	if (scalar_is(node(c, map_get(c, ann, STATUS_KEY)), "injected") ||
	    seq_has_name(c, init, PROXY_NAME) ||
	    seq_has_name(c, map_get(c, spec, "containers"), PROXY_NAME)) {
		c->counts->already_injected++;
		return 0;
	}
	if (scalar_is(node(c, map_get(c, spec, "hostNetwork")), "true")) {
		if (c->o->warn)
			fprintf(
			    c->o->warn,
			    "skiff inject: %s: document %u (%s): %sspec.hostNetwork is true: left "
			    "alone (capture would take the node's own traffic)\n",
			    c->o->source, c->docno, c->what, base);
		c->counts->skipped++;
		return 0;
	}
	if (seq_has_name(c, init, INIT_NAME))
		return bad_input(c, base, "spec.initContainers",
				 "a container is already named " INIT_NAME);
	for (size_t i = 0; i < sizeof(our_volumes) / sizeof(our_volumes[0]); i++)
		if (seq_has_name(c, map_get(c, spec, "volumes"), our_volumes[i]))
			return bad_input(c, base, "spec.volumes", "a volume is already named %s",
					 our_volumes[i]);
	rc = read_settings(c, ann, spec, base, &s);
	if (rc < 0)
		return rc;

	text = pod_fragment(&s, c->o->image ? c->o->image : INJECT_DEFAULT_IMAGE);
	if (!text)
		return -ENOMEM;
	if (!meta)
		meta = map_add_child(c, pod, "metadata", YAML_MAPPING_NODE);
	if (meta && !ann)
		ann = map_add_child(c, meta, "annotations", YAML_MAPPING_NODE);
	rc = ann ? apply_fragment(c, spec, ann, base, text) : -ENOMEM;
	free(text);
	if (rc == 0)
		c->counts->injected++;
	return rc;
}

/* Where each workload kind keeps its pod template. */
static const struct {
	const char *kind;
	const char *path[5];
} templates[] = {
    {"Pod", {NULL}},
    {"Deployment", {"spec", "template", NULL}},
    {"StatefulSet", {"spec", "template", NULL}},
    {"DaemonSet", {"spec", "template", NULL}},
    {"ReplicaSet", {"spec", "template", NULL}},
    {"ReplicationController", {"spec", "template", NULL}},
    {"Job", {"spec", "template", NULL}},
    {"CronJob", {"spec", "jobTemplate", "spec", "template", NULL}},
};

/* Names the object for messages: "Kind name", control characters replaced
 * so that a message stays one line. */
static void describe(struct ctx *c, int obj, const char *kind)
{
	char name[64] = "";
	bool toolong;
	int meta = map_get(c, obj, "metadata");

	if (!map_string(c, meta, "name", name, sizeof(name), &toolong) && toolong)
		strcpy(name, "...");
	snprintf(c->what, sizeof(c->what), "%s%s%s", kind, name[0] ? " " : "", name);
	for (char *p = c->what; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

int inject_pod_node(yaml_document_t *doc, int pod, const struct inject_opts *o,
		    struct inject_counts *counts, char *err, size_t errlen)
{
	struct inject_counts scratch;
	struct ctx c = {.doc = doc,
			.o = o,
			.counts = counts ? counts : &scratch,
			.docno = 1,
			.err = err,
			.errlen = errlen};
	int rc;

	memset(c.counts, 0, sizeof(*c.counts));
	c.counts->documents = 1;
	if (o->image && !inject_image_ok(o->image)) {
		snprintf(err, errlen, "bad image reference (want [A-Za-z0-9._:/@-], at most 255)");
		return -EINVAL;
	}
	if (!is_type(&c, pod, YAML_MAPPING_NODE)) {
		snprintf(c.what, sizeof(c.what), "Pod");
		return bad_input(&c, "", "", "expected a mapping");
	}
	describe(&c, pod, "Pod");
	rc = inject_pod(&c, pod, "");
	return rc < 0 ? rc : c.counts->injected > 0;
}

static int visit_object(struct ctx *c, int obj, const char *base, int depth)
{
	char kind[32], path[160], nbase[160];
	bool toolong;
	int id;

	if (!is_type(c, obj, YAML_MAPPING_NODE) ||
	    !map_string(c, obj, "kind", kind, sizeof(kind), &toolong))
		return 0; /* not a Kubernetes object: passes through */
	if (strcmp(kind, "List") == 0 ||
	    (strlen(kind) > 4 && !strcmp(kind + strlen(kind) - 4, "List"))) {
		int items = map_get(c, obj, "items");
		yaml_node_t *s = node(c, items);
		long n;

		if (!s || s->type != YAML_SEQUENCE_NODE || depth >= MAX_LIST_DEPTH)
			return 0;
		n = s->data.sequence.items.top - s->data.sequence.items.start;
		for (long i = 0; i < n; i++) {
			/* Index afresh: adding nodes moves the node array. */
			int item = node(c, items)->data.sequence.items.start[i];
			int rc;

			snprintf(nbase, sizeof(nbase), "%sitems[%ld].", base, i);
			rc = visit_object(c, item, nbase, depth + 1);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++) {
		if (strcmp(kind, templates[i].kind) != 0)
			continue;
		describe(c, obj, kind);
		id = obj;
		snprintf(path, sizeof(path), "%s", base);
		for (const char *const *p = templates[i].path; *p; p++) {
			size_t n = strlen(path);
			snprintf(path + n, sizeof(path) - n, "%s", *p);
			id = map_get(c, id, *p);
			if (!id)
				return bad_input(c, "", path, "missing");
			if (!is_type(c, id, YAML_MAPPING_NODE))
				return bad_input(c, "", path, "expected a mapping");
			n = strlen(path);
			snprintf(path + n, sizeof(path) - n, ".");
		}
		return inject_pod(c, id, path);
	}
	return 0;
}

/* Checks nesting depth the way the emitter walks the tree (a node already
 * seen is written as an alias, not walked again). */
static bool depth_ok(yaml_document_t *doc, int id, int depth, unsigned char *seen)
{
	yaml_node_t *n = yaml_document_get_node(doc, id);

	if (!n || seen[id - 1])
		return true;
	seen[id - 1] = 1;
	if (depth > INJECT_MAX_DEPTH)
		return false;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++)
			if (!depth_ok(doc, *i, depth + 1, seen))
				return false;
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++)
			if (!depth_ok(doc, p->key, depth + 1, seen) ||
			    !depth_ok(doc, p->value, depth + 1, seen))
				return false;
	}
	return true;
}

struct outbuf {
	char *data;
	size_t len, cap;
	bool nomem;
};

static int write_out(void *data, unsigned char *buf, size_t size)
{
	struct outbuf *b = data;

	if (b->len + size + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *n;

		while (cap < b->len + size + 1)
			cap *= 2;
		n = realloc(b->data, cap);
		if (!n) {
			b->nomem = true;
			return 0;
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, buf, size);
	b->len += size;
	b->data[b->len] = '\0';
	return 1;
}

/* libyaml's emitter does not free a document's directives (they would
 * leak): drop them; the tags they abbreviate are written out in full. */
static void drop_directives(yaml_document_t *doc)
{
	free(doc->version_directive);
	doc->version_directive = NULL;
	for (yaml_tag_directive_t *t = doc->tag_directives.start; t && t < doc->tag_directives.end;
	     t++) {
		free(t->handle);
		free(t->prefix);
	}
	free(doc->tag_directives.start);
	doc->tag_directives.start = doc->tag_directives.end = NULL;
}

static int process_document(struct ctx *c)
{
	size_t nodes = (size_t)(c->doc->nodes.top - c->doc->nodes.start);
	unsigned char *seen = calloc(nodes ? nodes : 1, 1);
	bool ok;

	if (!seen)
		return -ENOMEM;
	ok = depth_ok(c->doc, 1, 0, seen);
	free(seen);
	snprintf(c->what, sizeof(c->what), "?");
	if (!ok)
		return bad_input(c, "", "", "nested deeper than %d levels", INJECT_MAX_DEPTH);
	return visit_object(c, 1, "", 0);
}

int inject_yaml(const char *in, size_t len, const struct inject_opts *o, char **out,
		size_t *out_len, struct inject_counts *counts, char *err, size_t errlen)
{
	struct inject_counts scratch;
	struct outbuf b = {0};
	struct ctx c = {.o = o, .counts = counts ? counts : &scratch, .err = err, .errlen = errlen};
	yaml_parser_t parser;
	yaml_emitter_t emitter;
	yaml_document_t doc;
	int rc = 0;

	*out = NULL;
	*out_len = 0;
	memset(c.counts, 0, sizeof(*c.counts));
	if (len > INJECT_MAX_INPUT) {
		snprintf(err, errlen, "%s: larger than %u MiB", o->source, INJECT_MAX_INPUT >> 20);
		return -EFBIG;
	}
	if (o->image && !inject_image_ok(o->image)) {
		snprintf(err, errlen, "bad image reference (want [A-Za-z0-9._:/@-], at most 255)");
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	if (!yaml_emitter_initialize(&emitter)) {
		yaml_parser_delete(&parser);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)in, len);
	yaml_emitter_set_output(&emitter, write_out, &b);
	yaml_emitter_set_unicode(&emitter, 1);
	yaml_emitter_set_width(&emitter, -1);
	yaml_emitter_set_indent(&emitter, 2);

	for (;;) {
		if (!yaml_parser_load(&parser, &doc)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				rc = -ENOMEM;
				break;
			}
			snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", o->source,
				 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "bad YAML",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			rc = -EINVAL;
			break;
		}
		c.doc = &doc;
		if (yaml_document_get_root_node(&doc)) {
			c.docno = ++c.counts->documents;
			rc = process_document(&c);
			if (rc < 0) {
				yaml_document_delete(&doc);
				break;
			}
		}
		drop_directives(&doc);
		/* Takes the document, even when it fails; an empty one (the end
		 * of the stream) closes the output. */
		bool last = !yaml_document_get_root_node(&doc);
		if (!yaml_emitter_dump(&emitter, &doc)) {
			if (b.nomem || emitter.error == YAML_MEMORY_ERROR) {
				rc = -ENOMEM;
			} else {
				snprintf(err, errlen, "%s: document %u: cannot be written: %s",
					 o->source, c.docno,
					 emitter.problem ? emitter.problem : "?");
				rc = -EINVAL;
			}
			break;
		}
		if (last)
			break;
	}
	yaml_emitter_delete(&emitter);
	yaml_parser_delete(&parser);
	if (rc < 0) {
		free(b.data);
		return rc;
	}
	if (!b.data && write_out(&b, (unsigned char *)"", 0) == 0)
		return -ENOMEM;
	*out = b.data;
	*out_len = b.len;
	return 0;
}
