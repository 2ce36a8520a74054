/* Envoy's safe_regex: RE2 syntax in Envoy, PCRE2 here, compiled once when a
 * snapshot is prepared and matched with a match limit, so a pattern from
 * the control plane cannot make a request spin. */
#ifndef SKIFF_PROXY_REGEX_H
#define SKIFF_PROXY_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct regex;

/* Compiles pattern (UTF-8). NULL with err saying why (offset and PCRE2's
 * message) when it does not compile or when out of memory. */
struct regex *regex_compile(const char *pattern, bool ignore_case, char *err, size_t errlen);

void regex_free(struct regex *re);

/* Whether re matches all of s[0..len) (Envoy's safe_regex is a full
 * match). A match that hits the match limit counts as no match. Thread-safe:
 * match data is per thread. */
bool regex_full_match(const struct regex *re, const char *s, size_t len);

#endif
