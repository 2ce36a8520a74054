/* A snapshot as JSON, in the shape of Envoy's admin /config_dump, so tools
 * and people used to Envoy's can read it. */
#ifndef SKIFF_PROXY_CONFIG_DUMP_H
#define SKIFF_PROXY_CONFIG_DUMP_H

#include <stddef.h>

#include "proxy/config.h"

/* Returns a malloc'd, NUL-terminated JSON text of `snap` (the caller frees
 * it) and its length without the NUL in *len (if len is not NULL); NULL when
 * out of memory. `snap` is only read. Shape: {"configs": [BootstrapConfigDump,
 * ListenersConfigDump, ClustersConfigDump], "version": N, "source": "..."}. */
char *config_dump_json(const struct snapshot *snap, size_t *len);

#endif
