/* Field paths for configuration errors; see field_path.h. */
#include "proxy/field_path.h"

#include <stdio.h>
#include <string.h>

size_t field_path_vpush(struct field_path *p, const char *fmt, va_list ap)
{
	size_t old = p->len;
	vsnprintf(p->s + old, sizeof(p->s) - old, fmt, ap);
	p->len = strlen(p->s);
	return old;
}

void field_path_pop(struct field_path *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}
