/* Where snapshots come from: the bootstrap (a file, or the embedded
 * default), read once, with its TLS contexts built; and the certificate files
 * it names, watched, so that a rotation builds and publishes a new snapshot
 * while connections already open keep the one they started under. */
#ifndef SKIFF_PROXY_CONFIG_SOURCE_H
#define SKIFF_PROXY_CONFIG_SOURCE_H

#include <stddef.h>

#include "proxy/config.h"
#include "proxy/loop.h"

/* Reads the bootstrap at path (NULL: the embedded default) and builds the
 * first snapshot. Returns it (one reference, the caller's), or NULL with the
 * error in err ("FILE:LINE: field: reason", or which certificate files are
 * wrong). */
struct snapshot *config_source_load(const char *path, char *err, size_t errlen);

/* Resources beyond the bootstrap (the xDS client's): called on every build
 * with the snapshot parsed from the bootstrap, it adds its listeners and
 * clusters (snapshot_add_*). Returns 0, or -errno with err set: the build
 * fails. */
typedef int (*config_source_dynamic_fn)(struct snapshot *snap, char *err, size_t errlen,
					void *arg);

void config_source_set_dynamic(config_source_dynamic_fn fn, void *arg);

/* Builds a snapshot again from the bootstrap and the dynamic resources as
 * they are now: parsed, linked, validated whole, TLS contexts built. Returns
 * it (one reference, the caller's) or NULL with err. */
struct snapshot *config_source_build(char *err, size_t errlen);

/* Watches, on loop, the certificate files snap uses. When a set changes and
 * loads, builds a snapshot again from the same bootstrap text and calls
 * publish(new snapshot), which takes the reference. A set that does not load
 * is logged and changes nothing. Returns 0 or -errno (err says why). */
int config_source_watch(struct loop *loop, const struct snapshot *snap,
			void (*publish)(struct snapshot *snap), char *err, size_t errlen);

/* Rotates the session ticket keys when due (hourly); call from the main
 * loop. */
void config_source_tick(void);

/* Stops watching and frees what the source holds. */
void config_source_close(struct loop *loop);

#endif
