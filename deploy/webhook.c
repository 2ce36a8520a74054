/* The injection webhook; see webhook.h.
 *
 * JSON is read with libyaml, already in the build and what inject.c works
 * on: the Pod is loaded as a libyaml document and injected in place by the
 * same code as `skiff inject`, then written back as JSON. A JSON library
 * (json-c) would read JSON more directly, but the Pod would then have to be
 * converted to a libyaml tree and back, which is the same JSON writer plus a
 * second reader. JSON is YAML's flow style except for a few quirks, and each
 * is handled where it would change a value rather than fail:
 *   - YAML 1.1 refuses escaped surrogate pairs ("\ud83d\ude00", which
 *     Python and JavaScript write): rewritten as "\U0001f600" first;
 *   - in a YAML string, raw U+0085, U+2028 and U+2029 are line breaks that
 *     fold to a space; JSON keeps them: rewritten as \N, \L, \P first;
 *   - raw DEL, C1 controls, U+FFFE and U+FFFF are legal in JSON strings,
 *     not in YAML: rewritten as escapes first;
 *   - YAML-only syntax outside strings (tags, anchors, aliases, comments,
 *     single quotes, block indicators) is refused by the same first pass,
 *     and YAML-only forms (block style, plain scalars that are not JSON
 *     literals) after loading (json_check), so every scalar is a JSON string
 *     or a JSON literal and no node is shared.
 * What libyaml still refuses (a key over 1024 bytes or split from its ':' by
 * a line break) is a 400, never a different value. */
#include "deploy/webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "proxy/h1_parser.h"
#include "proxy/log.h"

#define REVIEW_API_VERSION "admission.k8s.io/v1"

static const char *const outcome_names[WEBHOOK_OUTCOME__COUNT] = {
    [WEBHOOK_INJECTED] = "injected",       [WEBHOOK_UNCHANGED] = "unchanged",
    [WEBHOOK_IGNORED] = "ignored",         [WEBHOOK_NOT_INJECTED] = "not_injected",
    [WEBHOOK_BAD_REQUEST] = "bad_request", [WEBHOOK_TOO_LARGE] = "too_large",
};

const char *webhook_outcome_str(enum webhook_outcome o)
{
	return (unsigned)o < WEBHOOK_OUTCOME__COUNT ? outcome_names[o] : "unknown";
}

/* ---- JSON in: the rewrite before libyaml, and the check after ---- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The code unit of the "\uXXXX" escape at s (6 bytes available), or -1. */
static long u_escape(const char *s)
{
	long v = 0;

	if (s[0] != '\\' || s[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

#define OUTSIDE_STRINGS                                                                            \
	" \t\r\n{}[],:\"0123456789+-.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* "not JSON: line L column C: ..." for the byte at in[off]. */
static int not_json_at(const char *in, size_t off, char *err, size_t errlen)
{
	size_t line = 1, col = 1;

	for (size_t i = 0; i < off; i++, col++)
		if (in[i] == '\n')
			line++, col = 0;
	snprintf(err, errlen, "not JSON: line %zu column %zu: unexpected character 0x%02x", line,
		 col, (unsigned char)in[off]);
	return -EINVAL;
}

/* Copies the JSON text in[0..len) into a malloc'd buffer libyaml reads the
 * same way JSON does (the quirks at the top of this file), without the
 * leading whitespace. Returns 0, -EINVAL when the text does not start with
 * '{' or has a character outside strings that JSON does not (message in
 * err), or -ENOMEM. Other bytes that are not JSON are copied for libyaml to
 * refuse with a position. */
static int json_rewrite(const char *in, size_t len, char **out, size_t *out_len, char *err,
			size_t errlen)
{
	/* Every rewrite is at most twice as long as what it replaces, but a
	 * DEL (1 byte, "\x7f" 4). */
	size_t dels = 0, i = 0;
	bool in_string = false;
	char *o, *w;

	for (const char *d = memchr(in, 0x7f, len); d;
	     d = memchr(d + 1, 0x7f, len - (size_t)(d + 1 - in)))
		dels++;
	o = w = malloc(2 * len + 2 * dels + 1);
	if (!o)
		return -ENOMEM;
	while (i < len && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n'))
		i++;
	if (i >= len || in[i] != '{') {
		free(o);
		snprintf(err, errlen, "not a JSON object (expected '{' first)");
		return -EINVAL;
	}
	while (i < len) {
		const unsigned char *u = (const unsigned char *)in + i;
		size_t left = len - i;

		if (!in_string) {
			/* Outside strings JSON has only these: what else YAML
			 * would read (tags, anchors, comments, quotes) is
			 * refused here. */
			if (!strchr(OUTSIDE_STRINGS, *u) || !*u) {
				free(o);
				return not_json_at(in, i, err, errlen);
			}
			in_string = *u == '"';
			*w++ = in[i++];
		} else if (*u == '"') {
			in_string = false;
			*w++ = in[i++];
		} else if (*u == '\\' && left >= 12 && u_escape(in + i) >= 0xd800 &&
			   u_escape(in + i) <= 0xdbff && u_escape(in + i + 6) >= 0xdc00 &&
			   u_escape(in + i + 6) <= 0xdfff) {
			long cp = 0x10000 + ((u_escape(in + i) - 0xd800) << 10) +
				  (u_escape(in + i + 6) - 0xdc00);
			w += sprintf(w, "\\U%08lx", cp);
			i += 12;
		} else if (*u == '\\' && left >= 2) {
			*w++ = in[i++];
			*w++ = in[i++];
		} else if (*u == 0x7f) {
			w += sprintf(w, "\\x7f");
			i++;
		} else if (left >= 2 && u[0] == 0xc2 && u[1] == 0x85) {
			w += sprintf(w, "\\N");
			i += 2;
		} else if (left >= 2 && u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {
			w += sprintf(w, "\\x%02x", u[1]);
			i += 2;
		} else if (left >= 3 && u[0] == 0xe2 && u[1] == 0x80 &&
			   (u[2] == 0xa8 || u[2] == 0xa9)) {
			w += sprintf(w, u[2] == 0xa8 ? "\\L" : "\\P");
			i += 3;
		} else if (left >= 3 && u[0] == 0xef && u[1] == 0xbf &&
			   (u[2] == 0xbe || u[2] == 0xbf)) {
			w += sprintf(w, "\\uFFF%c", u[2] == 0xbe ? 'E' : 'F');
			i += 3;
		} else {
			*w++ = in[i++];
		}
	}
	*w = '\0';
	*out = o;
	*out_len = (size_t)(w - o);
	return 0;
}

/* A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *s, size_t len)
{
	size_t i = 0, d;

	if (i < len && s[i] == '-')
		i++;
	d = strspn(s + i, "0123456789");
	if (d == 0 || (d > 1 && s[i] == '0') || i + d > len)
		return false;
	i += d;
	if (i < len && s[i] == '.') {
		d = strspn(s + i + 1, "0123456789");
		if (d == 0)
			return false;
		i += 1 + d;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		d = strspn(s + i, "0123456789");
		if (d == 0)
			return false;
		i += d;
	}
	return i == len;
}

static bool scalar_eq(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

/* True for a scalar that is a JSON number, true, false or null: written
 * without quotes and spelled as one. Any other scalar is a string (inject.c
 * writes strings such as "Always" and paths without quotes too). */
static bool json_literal(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (scalar_eq(n, "true") || scalar_eq(n, "false") || scalar_eq(n, "null") ||
		json_number((const char *)n->data.scalar.value, n->data.scalar.length));
}

struct check {
	yaml_document_t *doc;
	unsigned char *seen;
	char *err;
	size_t errlen;
};

static int not_json(struct check *k, const yaml_node_t *n, const char *what)
{
	snprintf(k->err, k->errlen, "not JSON: line %zu column %zu: %s", n->start_mark.line + 1,
		 n->start_mark.column + 1, what);
	return -EINVAL;
}

/* Refuses what JSON cannot say (see the top of the file) and nesting past
 * WEBHOOK_MAX_DEPTH, so that json_write() and the diff may recurse. */
static int json_check(struct check *k, int id, int depth)
{
	yaml_node_t *n = yaml_document_get_node(k->doc, id);

	if (k->seen[id - 1])
		return not_json(k, n, "an alias (*name)");
	k->seen[id - 1] = 1;
	if (depth > WEBHOOK_MAX_DEPTH)
		return not_json(k, n, "nested too deep");
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE || json_literal(n))
			return 0;
		return not_json(k, n,
				"expected a string in double quotes, a number, true, "
				"false or null");
	case YAML_SEQUENCE_NODE:
		if (n->data.sequence.style != YAML_FLOW_SEQUENCE_STYLE)
			return not_json(k, n, "a YAML block sequence");
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			int rc = json_check(k, *i, depth + 1);
			if (rc < 0)
				return rc;
		}
		return 0;
	case YAML_MAPPING_NODE:
		if (n->data.mapping.style != YAML_FLOW_MAPPING_STYLE)
			return not_json(k, n, "a YAML block mapping");
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *key = yaml_document_get_node(k->doc, p->key);
			int rc;

			if (key->type != YAML_SCALAR_NODE ||
			    key->data.scalar.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE)
				return not_json(k, key, "expected a key in double quotes");
			rc = json_check(k, p->key, depth + 1);
			if (rc == 0)
				rc = json_check(k, p->value, depth + 1);
			if (rc < 0)
				return rc;
		}
		return 0;
	default:
		return not_json(k, n, "an empty node");
	}
}

/* Loads the one JSON object of `body` into *doc. Returns 0, -EINVAL with a
 * message, or -ENOMEM. */
static int json_load(const char *body, size_t len, yaml_document_t *doc, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	struct check k = {.doc = doc, .err = err, .errlen = errlen};
	size_t text_len, nodes;
	char *text;
	int rc = json_rewrite(body, len, &text, &text_len, err, errlen);

	if (rc < 0)
		return rc;
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, text_len);
	if (!yaml_parser_load(&parser, doc)) {
		rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		snprintf(err, errlen, "not JSON: line %zu column %zu: %s%s%s",
			 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "?", parser.context ? " " : "",
			 parser.context ? parser.context : "");
		goto out;
	}
	/* After the object only whitespace: libyaml would read a second
	 * document. */
	if (!yaml_parser_load(&parser, &extra)) {
		rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		snprintf(err, errlen, "not JSON: line %zu column %zu: more after the object",
			 parser.problem_mark.line + 1, parser.problem_mark.column + 1);
	} else if (yaml_document_get_root_node(&extra)) {
		rc = -EINVAL;
		snprintf(err, errlen, "not JSON: more than one document");
	}
	yaml_document_delete(&extra);
	if (rc == 0) {
		nodes = (size_t)(doc->nodes.top - doc->nodes.start);
		k.seen = calloc(nodes, 1);
		rc = k.seen ? json_check(&k, 1, 0) : -ENOMEM;
		free(k.seen);
	}
	if (rc < 0)
		yaml_document_delete(doc);
out:
	yaml_parser_delete(&parser);
	free(text);
	return rc;
}

/* ---- JSON out ---- */

static void json_string(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Writes node `id` of `doc` as JSON. */
static void json_write(FILE *f, yaml_document_t *doc, int id)
{
	yaml_node_t *n = yaml_document_get_node(doc, id);
	const char *v;
	size_t len;
	bool first = true;

	switch (n->type) {
	case YAML_SCALAR_NODE:
		v = (const char *)n->data.scalar.value;
		len = n->data.scalar.length;
		if (json_literal(n))
			fwrite(v, 1, len, f);
		else
			json_string(f, v, len);
		return;
	case YAML_SEQUENCE_NODE:
		fputc('[', f);
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			if (!first)
				fputc(',', f);
			first = false;
			json_write(f, doc, *i);
		}
		fputc(']', f);
		return;
	case YAML_MAPPING_NODE:
		fputc('{', f);
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);

			if (!first)
				fputc(',', f);
			first = false;
			json_string(f, (const char *)k->data.scalar.value, k->data.scalar.length);
			fputc(':', f);
			json_write(f, doc, p->value);
		}
		fputc('}', f);
		return;
	default:
		fputs("null", f);
	}
}

/* ---- reading the review ---- */

/* The value id of mapping `map`'s member `key`, or 0. */
static int member(yaml_document_t *doc, int map, const char *key)
{
	yaml_node_t *m = map ? yaml_document_get_node(doc, map) : NULL;

	if (!m || m->type != YAML_MAPPING_NODE)
		return 0;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (scalar_eq(yaml_document_get_node(doc, p->key), key))
			return p->value;
	return 0;
}

/* Member `key` of mapping `map` as a JSON string copied into buf: NULL when
 * absent, not a string, longer than len - 1 or holding a NUL. */
static const char *member_string(yaml_document_t *doc, int map, const char *key, char *buf,
				 size_t len)
{
	yaml_node_t *n = yaml_document_get_node(doc, member(doc, map, key));

	if (!n || n->type != YAML_SCALAR_NODE || json_literal(n) || n->data.scalar.length >= len ||
	    memchr(n->data.scalar.value, 0, n->data.scalar.length))
		return NULL;
	memcpy(buf, n->data.scalar.value, n->data.scalar.length);
	buf[n->data.scalar.length] = '\0';
	return buf;
}

static bool is_mapping(yaml_document_t *doc, int id)
{
	yaml_node_t *n = id ? yaml_document_get_node(doc, id) : NULL;

	return n && n->type == YAML_MAPPING_NODE;
}

/* Copies s into out for a log line: control characters and quotes become
 * '?', so that a line stays one line and a field stays one field. */
static void log_safe(char *out, size_t len, const char *s)
{
	snprintf(out, len, "%s", s);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"')
			*p = '?';
}

static int bad_request(struct webhook_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad_request(struct webhook_answer *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
	a->outcome = WEBHOOK_BAD_REQUEST;
	return -EINVAL;
}

/* ---- the patch ---- */

/* True when nodes a (of da) and b (of db) are the same JSON value. */
static bool node_equal(yaml_document_t *da, int a, yaml_document_t *db, int b)
{
	yaml_node_t *x = yaml_document_get_node(da, a), *y = yaml_document_get_node(db, b);

	if (x->type != y->type)
		return false;
	switch (x->type) {
	case YAML_SCALAR_NODE:
		return json_literal(x) == json_literal(y) &&
		       x->data.scalar.length == y->data.scalar.length &&
		       memcmp(x->data.scalar.value, y->data.scalar.value, x->data.scalar.length) ==
			   0;
	case YAML_SEQUENCE_NODE: {
		yaml_node_item_t *i = x->data.sequence.items.start,
				 *j = y->data.sequence.items.start;

		if (x->data.sequence.items.top - i != y->data.sequence.items.top - j)
			return false;
		for (; i < x->data.sequence.items.top; i++, j++)
			if (!node_equal(da, *i, db, *j))
				return false;
		return true;
	}
	case YAML_MAPPING_NODE: {
		yaml_node_pair_t *p = x->data.mapping.pairs.start, *q = y->data.mapping.pairs.start;

		if (x->data.mapping.pairs.top - p != y->data.mapping.pairs.top - q)
			return false;
		for (; p < x->data.mapping.pairs.top; p++, q++)
			if (!node_equal(da, p->key, db, q->key) ||
			    !node_equal(da, p->value, db, q->value))
				return false;
		return true;
	}
	default:
		return true;
	}
}

struct patch {
	FILE *f;
	unsigned ops;
	bool nomem;
};

/* path + "/" + the key scalar `key` escaped for RFC 6901 ('~' as "~0", '/'
 * as "~1"): a malloc'd JSON pointer, or NULL when out of memory. */
static char *pointer_join(const char *path, const yaml_node_t *key)
{
	char *ptr = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&ptr, &len);

	if (!m)
		return NULL;
	fprintf(m, "%s/", path);
	for (size_t i = 0; i < key->data.scalar.length; i++) {
		char ch = (char)key->data.scalar.value[i];
		if (ch == '~' || ch == '/')
			fprintf(m, "~%c", ch == '~' ? '0' : '1');
		else
			fputc(ch, m);
	}
	if (ferror(m) | fclose(m)) {
		free(ptr);
		return NULL;
	}
	return ptr;
}

/* Writes one operation; `value` is a node of `doc`, or 0 for "remove". */
static void patch_op(struct patch *p, const char *op, const char *path, const yaml_node_t *key,
		     yaml_document_t *doc, int value)
{
	char *ptr = pointer_join(path, key);

	if (!ptr) {
		p->nomem = true;
		return;
	}
	fprintf(p->f, "%s{\"op\":\"%s\",\"path\":", p->ops++ ? "," : "", op);
	json_string(p->f, ptr, strlen(ptr));
	if (value) {
		fputs(",\"value\":", p->f);
		json_write(p->f, doc, value);
	}
	fputc('}', p->f);
	free(ptr);
}

static const yaml_node_pair_t *find_pair(yaml_document_t *doc, int map, const yaml_node_t *key)
{
	yaml_node_t *m = yaml_document_get_node(doc, map);

	for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < m->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = yaml_document_get_node(doc, q->key);
		if (k->data.scalar.length == key->data.scalar.length &&
		    memcmp(k->data.scalar.value, key->data.scalar.value, k->data.scalar.length) ==
			0)
			return q;
	}
	return NULL;
}

/* Writes the operations that turn mapping a (of da) into mapping b (of db),
 * both at JSON pointer `path`: a member that is gone is removed, a member
 * that is new or different is added whole ("add" replaces an existing
 * member, RFC 6902 section 4.1), except that members that are objects on
 * both sides are compared member by member, `levels` deep, so that adding
 * an annotation replaces /metadata/annotations, not all of /metadata.
 * inject.c only adds, but a diff that can say anything is no harder. */
static void patch_diff(struct patch *p, yaml_document_t *da, int a, yaml_document_t *db, int b,
		       const char *path, int levels)
{
	yaml_node_t *x = yaml_document_get_node(da, a), *y = yaml_document_get_node(db, b);

	for (yaml_node_pair_t *q = x->data.mapping.pairs.start; q < x->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = yaml_document_get_node(da, q->key);
		if (!find_pair(db, b, k))
			patch_op(p, "remove", path, k, NULL, 0);
	}
	for (yaml_node_pair_t *q = y->data.mapping.pairs.start; q < y->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = yaml_document_get_node(db, q->key);
		const yaml_node_pair_t *old = find_pair(da, a, k);

		if (old && levels > 0 && is_mapping(da, old->value) && is_mapping(db, q->value)) {
			char *sub = pointer_join(path, k);
			if (!sub) {
				p->nomem = true;
				continue;
			}
			patch_diff(p, da, old->value, db, q->value, sub, levels - 1);
			free(sub);
		} else if (!old || !node_equal(da, old->value, db, q->value)) {
			patch_op(p, "add", path, k, db, q->value);
		}
	}
}

/* ---- the review ---- */

static void base64(FILE *f, const char *data, size_t len)
{
	unsigned char out[4 * 48 / 3 + 1];

	for (size_t off = 0; off < len; off += 48) {
		size_t n = len - off < 48 ? len - off : 48;
		int w = EVP_EncodeBlock(out, (const unsigned char *)data + off, (int)n);
		fwrite(out, 1, (size_t)w, f);
	}
}

/* Writes the AdmissionReview answering `uid`: allowed, with `patch` (may
 * be NULL) and `warning` (may be ""). */
static int write_response(struct webhook_answer *a, const char *uid, size_t uid_len,
			  const char *patch, size_t patch_len, const char *warning)
{
	FILE *f = open_memstream(&a->json, &a->json_len);

	if (!f)
		return -ENOMEM;
	fputs("{\"apiVersion\":\"" REVIEW_API_VERSION "\",\"kind\":\"AdmissionReview\","
	      "\"response\":{\"uid\":",
	      f);
	json_string(f, uid, uid_len);
	fputs(",\"allowed\":true", f);
	if (patch) {
		fputs(",\"patchType\":\"JSONPatch\",\"patch\":\"", f);
		base64(f, patch, patch_len);
		fputc('"', f);
	}
	if (warning[0]) {
		fputs(",\"warnings\":[", f);
		json_string(f, warning, strlen(warning));
		fputc(']', f);
	}
	fputs("}}\n", f);
	if (ferror(f) | fclose(f)) {
		free(a->json);
		a->json = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Names the pod for logs: "namespace/name", or "namespace/generateName*"
 * for a pod whose name the API server has still to choose. */
static void describe_pod(yaml_document_t *doc, int req, int pod, struct webhook_answer *a)
{
	char ns[254] = "", name[254] = "", raw[sizeof(a->what)];
	int meta = member(doc, pod, "metadata");
	bool generated = false;

	if (!member_string(doc, req, "namespace", ns, sizeof(ns)))
		member_string(doc, meta, "namespace", ns, sizeof(ns));
	if (!member_string(doc, meta, "name", name, sizeof(name)) || !name[0])
		generated = member_string(doc, meta, "generateName", name, sizeof(name)) != NULL;
	snprintf(raw, sizeof(raw), "%s/%s%s", ns, name, generated ? "*" : "");
	log_safe(a->what, sizeof(a->what), raw);
}

/* Injects the pod `pod` of `doc` (request.object) and writes the response
 * with the patch from `before`, the document as it was read. */
static int review_pod(yaml_document_t *doc, int pod, yaml_document_t *before, int pod_before,
		      const struct inject_opts *o, const char *uid, size_t uid_len,
		      struct webhook_answer *a)
{
	struct inject_opts io = *o;
	struct inject_counts counts;
	char err[480] = "", *warn = NULL, *patch = NULL;
	size_t warn_len = 0, patch_len = 0;
	struct patch p = {0};
	int rc;

	io.source = "admission request";
	io.warn = open_memstream(&warn, &warn_len);
	if (!io.warn)
		return -ENOMEM;
	rc = inject_pod_node(doc, pod, &io, &counts, err, sizeof(err));
	if (fclose(io.warn) != 0 && rc >= 0)
		rc = -ENOMEM;
	/* inject.c's warning, one line, without "skiff inject: " or newline. */
	if (warn && warn_len) {
		char *line = strncmp(warn, "skiff inject: ", 14) == 0 ? warn + 14 : warn;
		line[strcspn(line, "\n")] = '\0';
		snprintf(a->message, sizeof(a->message), "skiff: %s", line);
	}
	free(warn);
	if (rc == -EINVAL) {
		a->outcome = WEBHOOK_NOT_INJECTED;
		snprintf(a->message, sizeof(a->message), "skiff: not injected: %s", err);
		return write_response(a, uid, uid_len, NULL, 0, a->message);
	}
	if (rc < 0)
		return rc;
	if (rc == 0) {
		a->outcome = WEBHOOK_UNCHANGED;
		return write_response(a, uid, uid_len, NULL, 0, a->message);
	}
	p.f = open_memstream(&patch, &patch_len);
	if (!p.f)
		return -ENOMEM;
	fputc('[', p.f);
	patch_diff(&p, before, pod_before, doc, pod, "", 1);
	fputc(']', p.f);
	if (ferror(p.f) | fclose(p.f) || p.nomem) {
		free(patch);
		return -ENOMEM;
	}
	a->outcome = WEBHOOK_INJECTED;
	rc = write_response(a, uid, uid_len, patch, patch_len, a->message);
	free(patch);
	return rc;
}

/* The request's pod, or 0 when the request is not one to inject: a Pod
 * (core group, v1) being created, not a subresource of one. */
static int pod_to_inject(yaml_document_t *doc, int req)
{
	int kind = member(doc, req, "kind");
	char op[16], group[8], version[8], k[8], sub[8];

	if (!member_string(doc, req, "operation", op, sizeof(op)) || strcmp(op, "CREATE") != 0)
		return 0;
	if (!member_string(doc, kind, "kind", k, sizeof(k)) || strcmp(k, "Pod") != 0 ||
	    !member_string(doc, kind, "version", version, sizeof(version)) ||
	    strcmp(version, "v1") != 0 ||
	    (member_string(doc, kind, "group", group, sizeof(group)) && group[0]))
		return 0;
	if (member(doc, req, "subResource") &&
	    (!member_string(doc, req, "subResource", sub, sizeof(sub)) || sub[0]))
		return 0;
	return member(doc, req, "object");
}

int webhook_review(const char *body, size_t len, const struct inject_opts *o,
		   struct webhook_answer *a)
{
	yaml_document_t doc, before;
	char text[32], msg[sizeof(a->message)], uid[sizeof(a->uid)];
	yaml_node_t *n;
	size_t uid_len;
	int rc, req, pod;

	memset(a, 0, sizeof(*a));
	if (len > WEBHOOK_MAX_BODY) {
		a->outcome = WEBHOOK_TOO_LARGE;
		snprintf(a->message, sizeof(a->message), "request body larger than %u bytes",
			 WEBHOOK_MAX_BODY);
		return -EFBIG;
	}
	rc = json_load(body, len, &doc, msg, sizeof(msg));
	if (rc < 0)
		return rc == -EINVAL ? bad_request(a, "%s", msg) : rc;
	if (!member_string(&doc, 1, "apiVersion", text, sizeof(text)) ||
	    strcmp(text, REVIEW_API_VERSION) != 0) {
		rc = bad_request(a, "apiVersion: expected \"" REVIEW_API_VERSION "\"");
		goto out;
	}
	if (!member_string(&doc, 1, "kind", text, sizeof(text)) ||
	    strcmp(text, "AdmissionReview") != 0) {
		rc = bad_request(a, "kind: expected \"AdmissionReview\"");
		goto out;
	}
	req = member(&doc, 1, "request");
	if (!is_mapping(&doc, req)) {
		rc = bad_request(a, "request: expected an object");
		goto out;
	}
	/* Kept apart: injecting adds nodes, which may move the node array. */
	n = yaml_document_get_node(&doc, member(&doc, req, "uid"));
	if (!n || n->type != YAML_SCALAR_NODE || json_literal(n) || n->data.scalar.length == 0 ||
	    n->data.scalar.length >= sizeof(uid)) {
		rc = bad_request(a, "request.uid: expected a string of 1 to %zu bytes",
				 sizeof(uid) - 1);
		goto out;
	}
	uid_len = n->data.scalar.length;
	memcpy(uid, n->data.scalar.value, uid_len);
	uid[uid_len] = '\0';
	log_safe(a->uid, sizeof(a->uid), uid);

	pod = pod_to_inject(&doc, req);
	if (!pod) {
		a->outcome = WEBHOOK_IGNORED;
		rc = write_response(a, uid, uid_len, NULL, 0, "");
		goto out;
	}
	if (!is_mapping(&doc, pod)) {
		rc = bad_request(a, "request.object: expected the Pod, an object");
		goto out;
	}
	describe_pod(&doc, req, pod, a);
	/* A second copy, read the same way, is the "before" of the patch. */
	rc = json_load(body, len, &before, msg, sizeof(msg));
	if (rc < 0)
		goto out;
	rc =
	    review_pod(&doc, pod, &before, member(&before, member(&before, 1, "request"), "object"),
		       o, uid, uid_len, a);
	yaml_document_delete(&before);
out:
	yaml_document_delete(&doc);
	if (rc < 0 && rc != -EINVAL) {
		free(a->json);
		a->json = NULL;
	}
	return rc;
}

/* ---- the HTTPS server ----
 *
 * Admission traffic is a request per pod created, so the server is plain:
 * the main thread accepts, and each connection gets a thread of its own that
 * does blocking TLS and HTTP/1.1 (keep-alive: the API server reuses its
 * connections). Limits: WEBHOOK_MAX_CONNS-style max_conns threads at once
 * (more are closed at once, counted), a deadline per request, and an idle
 * timeout between requests that is longer than the API server's (Go's
 * http.Transport closes idle connections after 90 s), so that the client,
 * not the server, closes an idle connection: a POST is not retried by Go
 * when the server closed the connection under it. */

#define DEFAULT_MAX_CONNS 64
#define IO_TIMEOUT_S 10       /* one read or write within a request */
#define REQUEST_DEADLINE_S 30 /* a whole request: no drip-feeding */
#define IDLE_TIMEOUT_MS (120 * 1000)
#define RELOAD_CHECK_S 10 /* how often the key pair's files are looked at */
#define HEAD_BUFFER 16384
#define THREAD_STACK (512u << 10)

struct server {
	const struct webhook_opts *o;
	struct inject_opts inject;
	SSL_CTX *ctx; /* current key pair; main thread only (SSL_new takes a ref) */
	struct stat cert_st, key_st;
	atomic_uint active;
	atomic_ulong reviews[WEBHOOK_OUTCOME__COUNT];
	atomic_ulong bad_http;      /* not a request we serve: 400, 404, 405, 415 */
	atomic_ulong refused;       /* connections over max_conns */
	atomic_ulong tls_failed;    /* handshakes that failed */
	atomic_ulong reloads;       /* key pairs loaded after the first */
	atomic_ulong reload_failed; /* changed files that did not load */
};

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof(ours) - 1, in,
				  inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	/* A client offering only h2 still gets HTTP/1.1 rather than an alert:
	 * without ALPN both sides speak HTTP/1.1. */
	return SSL_TLSEXT_ERR_NOACK;
}

/* The last OpenSSL error as text, for messages. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "unknown error";
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* A server context for the key pair `cert` (PEM, leaf then chain) and
 * `key`: TLS 1.2 or 1.3 (the API server speaks both), forward-secret AEAD
 * suites only, no renegotiation. Returns it, or NULL with a reason. */
static SSL_CTX *tls_load(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[256];

	if (!ctx) {
		snprintf(err, errlen, "TLS context: %s", ssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20")) {
		snprintf(err, errlen, "TLS ciphers: %s", ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "%s: %s", cert, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "%s: %s", key, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: does not match the certificate in %s", key, cert);
		ERR_clear_error();
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Loads the key pair again when either file changed (a Secret volume swaps
 * a symlink, so the inode changes). Keeps the old one when the new one does
 * not load, e.g. a certificate written before its key. Main thread. */
static void tls_maybe_reload(struct server *s)
{
	struct stat c, k;
	char err[512];
	SSL_CTX *ctx;

	if (stat(s->o->cert, &c) != 0 || stat(s->o->key, &k) != 0 ||
	    (same_file(&c, &s->cert_st) && same_file(&k, &s->key_st)))
		return;
	ctx = tls_load(s->o->cert, s->o->key, err, sizeof(err));
	if (!ctx) {
		atomic_fetch_add(&s->reload_failed, 1);
		log_warn("webhook: key pair changed but does not load, keeping the old one: %s",
			 err);
		return;
	}
	SSL_CTX_free(s->ctx);
	s->ctx = ctx;
	s->cert_st = c;
	s->key_st = k;
	atomic_fetch_add(&s->reloads, 1);
	log_info("webhook: key pair reloaded from %s", s->o->cert);
}

/* One request in progress on a connection. */
struct request {
	struct server *s;
	SSL *ssl;
	char method[8];
	char path[64]; /* up to '?': the API server adds ?timeout=10s */
	bool path_too_long;
	bool json;      /* Content-Type: application/json */
	bool too_large; /* body past WEBHOOK_MAX_BODY: answer 413 and close */
	bool complete;
	bool keep_alive;
	char *body;
	size_t body_len, body_cap;
};

static void request_reset(struct request *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
	r->method[0] = r->path[0] = '\0';
	r->path_too_long = r->json = r->too_large = r->complete = r->keep_alive = false;
}

static int on_request_line(void *user, const struct h1_request_line *rl)
{
	struct request *r = user;
	size_t n = rl->method.len < sizeof(r->method) ? rl->method.len : sizeof(r->method) - 1;
	const char *q = memchr(rl->target.p, '?', rl->target.len);
	size_t plen = q ? (size_t)(q - rl->target.p) : rl->target.len;

	memcpy(r->method, rl->method.p, n);
	r->method[n] = '\0';
	if (plen >= sizeof(r->path)) {
		r->path_too_long = true;
		plen = 0;
	}
	memcpy(r->path, rl->target.p, plen);
	r->path[plen] = '\0';
	return 0;
}

/* "application/json", any case, with or without parameters. */
static int on_header(void *user, struct h1_slice name, struct h1_slice value)
{
	struct request *r = user;
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (name.len == 12 && strncasecmp(name.p, "content-type", 12) == 0)
		r->json = value.len >= n && strncasecmp(value.p, want, n) == 0 &&
			  (value.len == n || value.p[n] == ';' || value.p[n] == ' ' ||
			   value.p[n] == '\t');
	return 0;
}

static int send_all(SSL *ssl, const char *data, size_t len)
{
	return len == 0 || SSL_write(ssl, data, (int)len) == (int)len ? 0 : -EIO;
}

static int on_headers_complete(void *user, const struct h1_head *head)
{
	struct request *r = user;

	r->keep_alive = head->keep_alive;
	if (head->framing == H1_FRAMING_LENGTH) {
		if (head->content_length > WEBHOOK_MAX_BODY) {
			/* Before the body is sent when the client waits for
			 * 100 Continue, and before it is read anyway. */
			r->too_large = true;
			return H1_PAUSE;
		}
		r->body = malloc(head->content_length + 1);
		if (!r->body)
			return -1;
		r->body_cap = head->content_length;
	}
	if (head->expect_continue && send_all(r->ssl, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
		return -1;
	return 0;
}

static int on_body(void *user, const char *data, size_t len)
{
	struct request *r = user;

	if (r->body_len + len > WEBHOOK_MAX_BODY) {
		r->too_large = true;
		return H1_PAUSE;
	}
	if (r->body_len + len > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap * 2 : 16384;
		char *more;

		while (cap < r->body_len + len)
			cap *= 2;
		more = realloc(r->body, cap + 1);
		if (!more)
			return -1;
		r->body = more;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	return 0;
}

static int on_message_complete(void *user)
{
	struct request *r = user;

	r->complete = true;
	return H1_PAUSE;
}

static const struct h1_callbacks request_callbacks = {
    .on_request_line = on_request_line,
    .on_header = on_header,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static const char *status_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

static int respond(SSL *ssl, int status, const char *type, const char *body, size_t len,
		   bool keep_alive)
{
	char head[256];
	int n =
	    snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\nConnection: %s\r\n\r\n",
		     status, status_reason(status), type, len, keep_alive ? "keep-alive" : "close");

	if (send_all(ssl, head, (size_t)n) < 0 || send_all(ssl, body, len) < 0)
		return -EIO;
	return 0;
}

/* A one-line plain-text answer (an error, or /healthz). */
static int respond_text(SSL *ssl, int status, const char *msg, bool keep_alive)
{
	char body[600];
	int n = snprintf(body, sizeof(body), "%s\n", msg);

	return respond(ssl, status, "text/plain; charset=utf-8", body,
		       (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1, keep_alive);
}

static int respond_metrics(struct server *s, SSL *ssl, bool keep_alive)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f)
		return respond_text(ssl, 500, "out of memory", false);
	fputs("# HELP skiff_webhook_reviews_total Admission reviews answered, by outcome.\n"
	      "# TYPE skiff_webhook_reviews_total counter\n",
	      f);
	for (int i = 0; i < WEBHOOK_OUTCOME__COUNT; i++)
		fprintf(f, "skiff_webhook_reviews_total{outcome=\"%s\"} %lu\n",
			webhook_outcome_str((enum webhook_outcome)i), atomic_load(&s->reviews[i]));
	fprintf(f,
		"# HELP skiff_webhook_bad_http_requests_total Requests refused before review "
		"(malformed HTTP, unknown path or method, not JSON).\n"
		"# TYPE skiff_webhook_bad_http_requests_total counter\n"
		"skiff_webhook_bad_http_requests_total %lu\n"
		"# TYPE skiff_webhook_connections_refused_total counter\n"
		"skiff_webhook_connections_refused_total %lu\n"
		"# TYPE skiff_webhook_tls_handshake_failures_total counter\n"
		"skiff_webhook_tls_handshake_failures_total %lu\n"
		"# TYPE skiff_webhook_certificate_reloads_total counter\n"
		"skiff_webhook_certificate_reloads_total{result=\"ok\"} %lu\n"
		"skiff_webhook_certificate_reloads_total{result=\"failed\"} %lu\n"
		"# TYPE skiff_webhook_connections_active gauge\n"
		"skiff_webhook_connections_active %u\n",
		atomic_load(&s->bad_http), atomic_load(&s->refused), atomic_load(&s->tls_failed),
		atomic_load(&s->reloads), atomic_load(&s->reload_failed), atomic_load(&s->active));
	if (ferror(f) | fclose(f)) {
		free(text);
		return respond_text(ssl, 500, "out of memory", false);
	}
	rc = respond(ssl, 200, "text/plain; version=0.0.4", text, len, keep_alive);
	free(text);
	return rc;
}

static int serve_review(struct server *s, struct request *r)
{
	struct webhook_answer a;
	int rc = webhook_review(r->body ? r->body : "", r->body_len, &s->inject, &a);

	atomic_fetch_add(&s->reviews[a.outcome], 1);
	if (rc == -ENOMEM) {
		log_error("webhook: uid %s: out of memory", a.uid[0] ? a.uid : "?");
		return respond_text(r->ssl, 500, "out of memory", false);
	}
	if (rc < 0) {
		log_warn("webhook: %s: uid %s: %s", webhook_outcome_str(a.outcome),
			 a.uid[0] ? a.uid : "?", a.message);
		return respond_text(r->ssl, rc == -EFBIG ? 413 : 400, a.message, r->keep_alive);
	}
	log_at(a.outcome == WEBHOOK_NOT_INJECTED ? LOG_WARN : LOG_INFO,
	       "webhook: %s: uid %s pod %s%s%s", webhook_outcome_str(a.outcome), a.uid,
	       a.what[0] ? a.what : "-", a.message[0] ? ": " : "", a.message);
	rc = respond(r->ssl, 200, "application/json", a.json, a.json_len, r->keep_alive);
	free(a.json);
	return rc;
}

/* Answers a complete request. Returns 0 to keep the connection, -1 to close
 * it (an error answer, or the client asked to). */
static int serve_request(struct server *s, struct request *r)
{
	bool post = strcmp(r->method, "POST") == 0, get = strcmp(r->method, "GET") == 0;
	const char *path = r->path;
	int rc;

	if (strcmp(path, "/inject") == 0 && post && r->json)
		rc = serve_review(s, r);
	else if (strcmp(path, "/healthz") == 0 && get)
		rc = respond_text(r->ssl, 200, "ok", r->keep_alive);
	else if (strcmp(path, "/metrics") == 0 && get)
		rc = respond_metrics(s, r->ssl, r->keep_alive);
	else {
		atomic_fetch_add(&s->bad_http, 1);
		if (strcmp(path, "/inject") == 0 && post)
			respond_text(r->ssl, 415, "Content-Type must be application/json", false);
		else if (strcmp(path, "/inject") == 0)
			respond_text(r->ssl, 405, "use POST", false);
		else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0)
			respond_text(r->ssl, 405, "use GET", false);
		else
			respond_text(r->ssl, 404,
				     "not found: the webhook serves POST /inject, GET /healthz "
				     "and GET /metrics",
				     false);
		return -1;
	}
	return rc < 0 || !r->keep_alive ? -1 : 0;
}

/* Waits until fd is readable; false on timeout or error. */
static bool wait_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/* Closes so that an answer sent before the request was read (413) reaches
 * the client: a close with unread bytes would send a reset, which may
 * destroy the answer in flight. close_notify, then drain for a second. */
static void lingering_close(SSL *ssl, int fd)
{
	char sink[4096];
	size_t total = 0;

	SSL_shutdown(ssl);
	shutdown(fd, SHUT_WR);
	while (total < 4 * WEBHOOK_MAX_BODY && wait_readable(fd, 1000)) {
		ssize_t n = read(fd, sink, sizeof(sink));
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

/* Serves the requests of one connection until it closes or fails. */
static void serve_conn(struct server *s, SSL *ssl, int fd)
{
	struct request r = {.s = s, .ssl = ssl};
	struct h1_parser p;
	struct h1_limits limits;
	char buf[HEAD_BUFFER];
	size_t len = 0, consumed;
	bool need_read = true, linger = false;
	time_t started = 0;

	h1_limits_default(&limits);
	limits.max_start_line = 4096;
	limits.max_header_line = 8192;
	limits.max_head_bytes = HEAD_BUFFER - 1024;
	limits.max_headers = 64;
	h1_parser_init(&p, H1_REQUEST, &request_callbacks, &r, &limits);
	for (;;) {
		int rc;

		if (need_read) {
			int n;

			if (len == 0 && !started && SSL_pending(ssl) == 0 &&
			    !wait_readable(fd, IDLE_TIMEOUT_MS))
				break;
			if (!started)
				started = time(NULL);
			if (time(NULL) - started > REQUEST_DEADLINE_S)
				break;
			n = SSL_read(ssl, buf + len, (int)(sizeof(buf) - len));
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		rc = h1_parse(&p, buf, len, &consumed);
		memmove(buf, buf + consumed, len - consumed);
		len -= consumed;
		need_read = true;
		if (rc == H1_PARSE_ERROR) {
			enum h1_error e = h1_parser_error(&p);
			char msg[128];

			atomic_fetch_add(&s->bad_http, 1);
			snprintf(msg, sizeof(msg), "malformed HTTP/1.1 request (%s)",
				 h1_error_name(e));
			if (e != H1_E_CALLBACK)
				respond_text(ssl, h1_error_status(e), msg, false);
			linger = true;
			break;
		}
		if (rc == H1_PARSE_TUNNEL) {
			atomic_fetch_add(&s->bad_http, 1);
			respond_text(ssl, 400, "no upgrades or CONNECT here", false);
			break;
		}
		if (rc == H1_PARSE_PAUSED && r.too_large) {
			atomic_fetch_add(&s->reviews[WEBHOOK_TOO_LARGE], 1);
			log_warn("webhook: too_large: request body over %u bytes",
				 WEBHOOK_MAX_BODY);
			respond_text(ssl, 413, "request body larger than 1 MiB", false);
			linger = true;
			break;
		}
		if (rc == H1_PARSE_PAUSED && r.complete) {
			if (r.path_too_long)
				r.path[0] = '\0'; /* a 404 */
			if (serve_request(s, &r) < 0)
				break;
			request_reset(&r);
			started = 0;
			need_read = len == 0;
		}
	}
	request_reset(&r);
	if (linger)
		lingering_close(ssl, fd);
	else
		SSL_shutdown(ssl);
}

struct conn {
	struct server *s;
	SSL *ssl;
	int fd;
};

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	int one = 1, rc;

	log_set_thread_name("webhook");
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL_set_fd(c->ssl, c->fd);
	rc = SSL_accept(c->ssl);
	if (rc == 1) {
		serve_conn(c->s, c->ssl, c->fd);
	} else {
		char why[256];
		atomic_fetch_add(&c->s->tls_failed, 1);
		log_debug("webhook: TLS handshake failed: %s", ssl_reason(why, sizeof(why)));
	}
	SSL_free(c->ssl);
	close(c->fd);
	ERR_clear_error();
	atomic_fetch_sub(&c->s->active, 1);
	free(c);
	return NULL;
}

/* Hands the accepted fd to a thread of its own; closes it when over the
 * limit or out of resources. Main thread. */
static void start_conn(struct server *s, int fd, unsigned max)
{
	pthread_attr_t attr;
	pthread_t t;
	struct conn *c = NULL;
	SSL *ssl = NULL;

	if (atomic_load(&s->active) >= max) {
		atomic_fetch_add(&s->refused, 1);
		close(fd);
		return;
	}
	c = malloc(sizeof(*c));
	ssl = c ? SSL_new(s->ctx) : NULL;
	if (!ssl || pthread_attr_init(&attr) != 0)
		goto fail;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	*c = (struct conn){.s = s, .ssl = ssl, .fd = fd};
	atomic_fetch_add(&s->active, 1);
	if (pthread_create(&t, &attr, conn_main, c) != 0) {
		atomic_fetch_sub(&s->active, 1);
		pthread_attr_destroy(&attr);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return;
fail:
	atomic_fetch_add(&s->refused, 1);
	SSL_free(ssl);
	free(c);
	close(fd);
}

/* Opens the listening socket for "ADDR:PORT" or "[ADDR]:PORT". */
static int listen_on(const char *spec, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(spec, ':'), *h = spec;
	size_t hlen;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE},
			*ai = NULL;
	int fd, one = 1, rc;

	if (!colon || !colon[1]) {
		snprintf(err, errlen, "--listen %s: expected ADDR:PORT", spec);
		return -EINVAL;
	}
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
		h++, hlen -= 2;
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "--listen %s: expected ADDR:PORT", spec);
		return -EINVAL;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "--listen %s: %s (an IP address and a port)", spec,
			 gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		rc = -errno;
		snprintf(err, errlen, "--listen %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	return fd;
}

int webhook_serve(const struct webhook_opts *o, char *err, size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	unsigned max = o->max_conns ? o->max_conns : DEFAULT_MAX_CONNS;
	time_t last_check = time(NULL);
	sigset_t sigs;
	int lfd = -1, sfd = -1, rc = 0;

	if (!s)
		return -ENOMEM;
	s->o = o;
	s->inject = (struct inject_opts){.image = o->image};
	s->ctx = tls_load(o->cert, o->key, err, errlen);
	if (!s->ctx) {
		rc = -EINVAL;
		goto out;
	}
	/* Only to see changes: a failed stat is a change on the next look. */
	stat(o->cert, &s->cert_st);
	stat(o->key, &s->key_st);
	lfd = listen_on(o->listen, err, errlen);
	if (lfd < 0) {
		rc = lfd;
		goto out;
	}
	/* Blocked before any thread starts, so every thread inherits the mask
	 * and the signals wait for the signalfd. A write to a closed peer is an
	 * error of that write, not a SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		goto out;
	}
	log_info("webhook: serving https://%s/inject (max %u connections)", o->listen, max);
	for (;;) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		int n = poll(p, 2, RELOAD_CHECK_S * 1000);

		if (n < 0 && errno != EINTR) {
			rc = -errno;
			snprintf(err, errlen, "poll: %s", strerror(errno));
			break;
		}
		if (time(NULL) - last_check >= RELOAD_CHECK_S) {
			tls_maybe_reload(s);
			last_check = time(NULL);
		}
		if (n > 0 && p[1].revents) {
			log_info("webhook: signal: stopping");
			break;
		}
		if (n > 0 && p[0].revents) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				start_conn(s, fd, max);
		}
	}
	close(lfd);
	lfd = -1;
	/* Requests in flight get a few seconds to finish. */
	for (int i = 0; i < 50 && atomic_load(&s->active) > 0; i++)
		usleep(100 * 1000);
	if (atomic_load(&s->active) > 0)
		s = NULL; /* threads still use it: the process exits anyway */
out:
	if (sfd >= 0)
		close(sfd);
	if (lfd >= 0)
		close(lfd);
	if (s)
		SSL_CTX_free(s->ctx);
	free(s);
	return rc;
}
