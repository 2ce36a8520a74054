/* The field path a configuration reader is at ("static_resources.
 * clusters[0].connect_timeout"), built as it descends so an error can say
 * where it is. Used by the bootstrap reader and the xDS translation. */
#ifndef SKIFF_PROXY_FIELD_PATH_H
#define SKIFF_PROXY_FIELD_PATH_H

#include <stdarg.h>
#include <stddef.h>

/* Paths are built from schema names and indexes, so this is not reached in
 * practice; if it were, a message would be cut, not wrong. */
#define FIELD_PATH_MAX 256

struct field_path {
	char s[FIELD_PATH_MAX];
	size_t len;
};

/* Appends the formatted text; returns the length field_path_pop restores. */
size_t field_path_vpush(struct field_path *p, const char *fmt, va_list ap);
void field_path_pop(struct field_path *p, size_t old);

#endif
