/* The bootstrap configuration: Envoy v3 bootstrap YAML (Envoy's field names,
 * the subset skiff serves) read into a config snapshot (config.h).
 * docs/configuration.md lists every field. */
#ifndef SKIFF_PROXY_BOOTSTRAP_H
#define SKIFF_PROXY_BOOTSTRAP_H

#include <stddef.h>

#include "proxy/config.h"

/* The configuration used when no file is given: a transparent passthrough
 * sidecar (outbound 15001 and inbound 15006, both to the original
 * destination), admin on 127.0.0.1:15000. NUL-terminated YAML. */
extern const char bootstrap_default_yaml[];

/* Reads, parses and validates the YAML file at `path`. Returns 0 and a new
 * snapshot in *out (one reference, owned by the caller; `source` is `path`,
 * `version` is 0 until published; certificate, key and CA files are named,
 * not opened: every tls_config's `ctx` and `identity` are NULL, for the
 * caller to build), or a negative errno (-EINVAL for any
 * configuration error, -ENOENT/-EACCES/... when the file cannot be read,
 * -EFBIG past 16 MiB, -ENOMEM) with *out untouched and a one-line message in
 * err ("FILE:LINE: field.path: what is wrong"; truncated to errlen). */
int bootstrap_load_file(const char *path, struct snapshot **out, char *err, size_t errlen);

/* As bootstrap_load_file, for `len` bytes of YAML at `yaml` (no NUL needed);
 * `name` is used in messages and as the snapshot's source ("<embedded>" for
 * bootstrap_default_yaml). Nothing is retained from `yaml`. */
int bootstrap_load_string(const char *name, const char *yaml, size_t len, struct snapshot **out,
			  char *err, size_t errlen);

#endif
