/* Reloading the workload identity when its files change: an inotify watch
 * on the directory that holds them (a Kubernetes secret mount, where the
 * kubelet swaps a `..data` symlink; or files replaced by rename, as
 * `skiff certs issue` does; or files rewritten in place).
 *
 * The main thread adds cert_watch_fd() to its epoll set and calls
 * cert_watch_handle() whenever it is readable. Changes are gathered for
 * CERT_WATCH_SETTLE_MS after the last event, so a writer that replaces
 * cert, key and bundle one after the other is reloaded once, with all
 * three new; then the set is loaded and checked whole (tls_identity_load).
 * A set that does not pass is reported and the previous identity stays. */
#ifndef SKIFF_CERTS_WATCH_H
#define SKIFF_CERTS_WATCH_H

#include <stddef.h>

#include "certs/tls_context.h"

#define CERT_WATCH_SETTLE_MS 200

/* File names inside the watched directory; NULL members take the names
 * `skiff certs issue` writes: cert.pem, key.pem, ca.pem. (A Kubernetes TLS
 * secret uses tls.crt, tls.key, ca.crt.) */
struct cert_watch_files {
	const char *cert;
	const char *key;
	const char *bundle;
};

/* Called from cert_watch_handle() after each reload: with the new identity
 * (a reference the callee owns) and `err` NULL; or with `id` NULL and a
 * one-line reason in `err` when the new files were refused. */
typedef void (*cert_watch_cb)(struct tls_identity *id, const char *err, void *arg);

struct cert_watch;

/* Loads the identity from `dir` and starts watching it. Returns 0 and the
 * watcher in `*out` (owned by the caller), or -EINVAL when the files do not
 * load (reason in `err`), or -errno when inotify or timerfd fail. */
int cert_watch_new(const char *dir, const struct cert_watch_files *files, cert_watch_cb cb,
		   void *arg, struct cert_watch **out, char *err, size_t errlen);

/* A descriptor that is readable when cert_watch_handle() has work. */
int cert_watch_fd(const struct cert_watch *w);

/* Reads pending events and, once the directory has been quiet for
 * CERT_WATCH_SETTLE_MS, reloads. Returns 1 when a new identity was installed
 * (and passed to the callback), -EINVAL when the new files were refused (the
 * callback got the reason; the old identity stays), 0 otherwise. Never
 * blocks. */
int cert_watch_handle(struct cert_watch *w);

/* The current identity, borrowed: valid until the next cert_watch_handle()
 * or cert_watch_free(); take a reference to keep it longer. */
struct tls_identity *cert_watch_identity(const struct cert_watch *w);

void cert_watch_free(struct cert_watch *w);

#endif
