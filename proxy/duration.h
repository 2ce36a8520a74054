/* Durations as Envoy's YAML writes them: the protobuf JSON form of
 * google.protobuf.Duration ("5s", "0.25s", "1.500s"), held in milliseconds. */
#ifndef SKIFF_PROXY_DURATION_H
#define SKIFF_PROXY_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses `s`: decimal seconds, an optional fraction of up to 9 digits, then
 * 's'. Digits past the millisecond are dropped (Envoy truncates too).
 * Returns 0 and sets *ms; -EINVAL for anything else (empty, a sign, spaces,
 * a missing 's'); -ERANGE past UINT32_MAX ms (about 49.7 days). */
int duration_parse(const char *s, uint32_t *ms);

/* Writes `ms` back in the same form ("5s", "0.250s") into buf; returns what
 * snprintf returns. */
int duration_format(uint32_t ms, char *buf, size_t len);

#endif
