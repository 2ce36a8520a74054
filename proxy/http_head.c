/* HTTP heads; see http_head.h. */
#include "proxy/http_head.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_arena_chunk {
	struct http_arena_chunk *next;
	uint32_t used;
	uint32_t size;
	char data[];
};

/* Most heads fit one chunk; a larger one chains more, never moving a string
 * already handed out. */
#define ARENA_CHUNK (1024u - (uint32_t)sizeof(struct http_arena_chunk))
/* The field array a head starts with. */
#define FIELDS_FIRST 16u

/* Each request makes two heads per proxy, each a chunk and a field array,
 * and many are alive at once on a busy worker: more than glibc's
 * per-thread cache keeps (7 per size), so malloc would take its slow path
 * for most. The standard sizes are kept here instead, per thread (heads
 * live and die on their worker), up to RECYCLE_MAX of each. */
#define RECYCLE_MAX 512u

struct recycled {
	struct recycled *next;
};

static __thread struct recycled *free_chunks, *free_fields;
static __thread unsigned n_free_chunks, n_free_fields;

static void *recycle_get(struct recycled **list, unsigned *n, size_t size)
{
	struct recycled *r = *list;
	if (!r)
		return malloc(size);
	*list = r->next;
	(*n)--;
	return r;
}

static void recycle_put(struct recycled **list, unsigned *n, void *p)
{
	if (*n >= RECYCLE_MAX) {
		free(p);
		return;
	}
	struct recycled *r = p;
	r->next = *list;
	*list = r;
	(*n)++;
}

void http_head_init(struct http_head *h)
{
	memset(h, 0, sizeof(*h));
}

void http_head_clear(struct http_head *h)
{
	struct http_arena_chunk *c = h->arena;
	while (c) {
		struct http_arena_chunk *next = c->next;
		if (c->size == ARENA_CHUNK)
			recycle_put(&free_chunks, &n_free_chunks, c);
		else
			free(c);
		c = next;
	}
	if (h->fields && h->cap_fields == FIELDS_FIRST)
		recycle_put(&free_fields, &n_free_fields, h->fields);
	else
		free(h->fields);
	memset(h, 0, sizeof(*h));
}

void http_head_recycled_free(void)
{
	while (free_chunks)
		free(recycle_get(&free_chunks, &n_free_chunks, 0));
	while (free_fields)
		free(recycle_get(&free_fields, &n_free_fields, 0));
}

static char *arena_alloc(struct http_head *h, size_t len)
{
	struct http_arena_chunk *c = h->arena;
	if (!c || c->size - c->used < len) {
		size_t size = len > ARENA_CHUNK ? len : ARENA_CHUNK;
		struct http_arena_chunk *n =
		    size == ARENA_CHUNK
			? recycle_get(&free_chunks, &n_free_chunks, sizeof(*n) + size)
			: malloc(sizeof(*n) + size);
		if (!n)
			return NULL;
		n->size = (uint32_t)size;
		n->used = 0;
		n->next = h->arena;
		h->arena = c = n;
	}
	char *p = c->data + c->used;
	c->used += (uint32_t)len;
	return p;
}

const char *http_head_strdup(struct http_head *h, const char *s, size_t len)
{
	char *p = arena_alloc(h, len + 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int http_head_set_pseudo(struct http_head *h, struct http_str *dst, const char *s, size_t len)
{
	const char *p = http_head_strdup(h, s, len);
	if (!p)
		return -ENOMEM;
	dst->p = p;
	dst->len = (uint32_t)len;
	return 0;
}

int http_head_add(struct http_head *h, const char *name, size_t name_len, const char *value,
		  size_t value_len)
{
	if (h->n_fields == h->cap_fields) {
		uint32_t cap = h->cap_fields ? h->cap_fields * 2 : FIELDS_FIRST;
		struct http_field *f =
		    h->cap_fields ? realloc(h->fields, cap * sizeof(*f))
				  : recycle_get(&free_fields, &n_free_fields, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		h->fields = f;
		h->cap_fields = cap;
	}
	char *p = arena_alloc(h, name_len + value_len + 2);
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < name_len; i++) {
		char ch = name[i];
		p[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
	}
	p[name_len] = '\0';
	memcpy(p + name_len + 1, value, value_len);
	p[name_len + 1 + value_len] = '\0';
	h->fields[h->n_fields++] = (struct http_field){
		.name = { p, (uint32_t)name_len },
		.value = { p + name_len + 1, (uint32_t)value_len },
	};
	h->bytes += (uint32_t)(name_len + value_len + 32);
	return 0;
}

const struct http_field *http_head_get(const struct http_head *h, const char *lname)
{
	size_t len = strlen(lname);
	for (uint32_t i = 0; i < h->n_fields; i++)
		if (h->fields[i].name.len == len && memcmp(h->fields[i].name.p, lname, len) == 0)
			return &h->fields[i];
	return NULL;
}

unsigned http_head_remove(struct http_head *h, const char *lname)
{
	size_t len = strlen(lname);
	unsigned removed = 0;
	uint32_t j = 0;
	for (uint32_t i = 0; i < h->n_fields; i++) {
		const struct http_field *f = &h->fields[i];
		if (f->name.len == len && memcmp(f->name.p, lname, len) == 0) {
			h->bytes -= f->name.len + f->value.len + 32;
			removed++;
			continue;
		}
		h->fields[j++] = *f;
	}
	h->n_fields = j;
	return removed;
}

int http_head_set(struct http_head *h, const char *lname, const char *value, size_t value_len)
{
	http_head_remove(h, lname);
	return http_head_add(h, lname, strlen(lname), value, value_len);
}

bool http_list_has_token(const char *list, size_t len, const char *token)
{
	size_t tlen = strlen(token);
	size_t i = 0;
	while (i < len) {
		while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ','))
			i++;
		size_t start = i;
		while (i < len && list[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (list[end - 1] == ' ' || list[end - 1] == '\t'))
			end--;
		if (end - start == tlen && strncasecmp(list + start, token, tlen) == 0)
			return true;
	}
	return false;
}
