/* The head of an HTTP request or response as the proxy carries it between
 * codecs: pseudo-header values (:method, :scheme, :authority, :path,
 * :status) and the regular fields with lower-case names, whichever codec
 * (HTTP/1.1 or HTTP/2) it came from or goes to. Strings live in a small
 * arena owned by the head, so building one costs a few allocations, not one
 * per field. Every string is NUL-terminated and also has its length. */
#ifndef SKIFF_PROXY_HTTP_HEAD_H
#define SKIFF_PROXY_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_str {
	const char *p; /* NUL-terminated; NULL when absent */
	uint32_t len;
};

struct http_field {
	struct http_str name; /* lower case */
	struct http_str value;
};

struct http_arena_chunk;

struct http_head {
	/* requests */
	struct http_str method;
	struct http_str scheme;
	struct http_str authority; /* :authority, or Host from HTTP/1.1 */
	struct http_str path;      /* origin form, with the query */
	/* responses */
	uint16_t status;
	struct http_field *fields;
	uint32_t n_fields;
	uint32_t cap_fields;
	uint32_t bytes; /* name + value + 32 per field, as HPACK counts (RFC 7541 §4.1) */
	struct http_arena_chunk *arena;
};

void http_head_init(struct http_head *h);

/* Frees what h owns and makes it empty again (its standard-sized pieces go
 * to the calling thread's cache for the next head). */
void http_head_clear(struct http_head *h);

/* Frees the calling thread's cache of head pieces (a worker ending). */
void http_head_recycled_free(void);

/* Copies a string into h's arena; NULL when out of memory. */
const char *http_head_strdup(struct http_head *h, const char *s, size_t len);

/* Sets a pseudo-header (dst is one of &h->method, &h->scheme...) to a copy
 * of s. Returns 0 or -ENOMEM. */
int http_head_set_pseudo(struct http_head *h, struct http_str *dst, const char *s, size_t len);

/* Appends a field; the name is lower-cased as it is copied. 0 or -ENOMEM. */
int http_head_add(struct http_head *h, const char *name, size_t name_len, const char *value,
		  size_t value_len);

/* The first field named `lname` (lower case), or NULL. */
const struct http_field *http_head_get(const struct http_head *h, const char *lname);

/* Removes every field named `lname`; returns how many went. */
unsigned http_head_remove(struct http_head *h, const char *lname);

/* Replaces every field named `lname` with one holding value. 0 or -ENOMEM. */
int http_head_set(struct http_head *h, const char *lname, const char *value, size_t value_len);

/* Whether a comma-separated field value list (e.g. Connection) contains
 * token, compared without case. */
bool http_list_has_token(const char *list, size_t len, const char *token);

#endif
