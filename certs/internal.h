/* Helpers shared by the files of certs/ and by nothing else. */
#ifndef SKIFF_CERTS_INTERNAL_H
#define SKIFF_CERTS_INTERNAL_H

#include <stddef.h>

#include <openssl/bio.h>

/* Largest PEM file certs/ reads: a chain and a bundle of a few dozen
 * certificates fit many times over, and a runaway file is refused instead
 * of read whole. */
#define CERTS_FILE_MAX (1024 * 1024)

/* Formats a reason into `err` (when `err` is not NULL) and appends the
 * oldest OpenSSL error still queued, if any, then empties the queue so the
 * next failure does not report a stale error. */
void certs_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads the file at `path` (at most CERTS_FILE_MAX bytes, following
 * symlinks as Kubernetes secret mounts need) into a memory BIO owned by the
 * caller. Returns NULL with a reason in `err`. */
BIO *certs_read_file(const char *path, char *err, size_t errlen);

#endif
