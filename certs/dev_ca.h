/* The development CA behind `skiff certs`: an ECDSA P-256 root and the
 * X.509-SVIDs it issues, built with the OpenSSL 3 API. For demos and tests,
 * not production: the root key sits unencrypted in a file.
 *
 * The low-level dev_ca_sign() can also build certificates a real CA never
 * would (several URI SANs, a NUL inside one, a CA leaf), so tests can check
 * that the verifier refuses them. */
#ifndef SKIFF_CERTS_DEV_CA_H
#define SKIFF_CERTS_DEV_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* File names inside a CA directory and a workload directory. */
#define DEV_CA_CERT_FILE "ca.pem"
#define DEV_CA_KEY_FILE "ca-key.pem"
#define DEV_CA_LEAF_CERT_FILE "cert.pem"
#define DEV_CA_LEAF_KEY_FILE "key.pem"
#define DEV_CA_BUNDLE_FILE "ca.pem"

/* One subjectAltName entry, as bytes so a test can embed a NUL. */
struct dev_ca_san {
	int type; /* GEN_URI or GEN_DNS (openssl/x509v3.h) */
	const char *value;
	size_t len;
};

/* What dev_ca_sign() puts in a certificate. */
struct dev_ca_cert_opts {
	bool is_ca;              /* CA: basicConstraints CA:TRUE, keyCertSign+
				  * cRLSign. Leaf: CA:FALSE, digitalSignature,
				  * serverAuth+clientAuth. */
	const char *common_name; /* subject CN, or NULL for none */
	const struct dev_ca_san *sans;
	size_t n_sans;
	time_t not_before;
	time_t not_after;
};

/* A new ECDSA P-256 key owned by the caller, or NULL (OpenSSL error queue
 * holds why). */
EVP_PKEY *dev_ca_keygen(void);

/* A certificate for `subject_key` described by `opts`, with a random
 * positive 128-bit serial, signed with SHA-256 by `issuer_key` under the name
 * of `issuer` — or self-signed by `subject_key` when `issuer` is NULL.
 * Returns a certificate owned by the caller, or NULL with a reason in `err`. */
X509 *dev_ca_sign(const struct dev_ca_cert_opts *opts, EVP_PKEY *subject_key, X509 *issuer,
		  EVP_PKEY *issuer_key, char *err, size_t errlen);

/* Writes `n` certificates to `path` as PEM (mode 0644), or the key to `path`
 * as unencrypted PKCS#8 PEM (mode 0600, also when the file existed). Both
 * write a temporary file beside `path` and rename it, so a reader (the
 * certificate watcher) never sees half a file. Return 0, or -1 with a
 * reason in `err`. */
int dev_ca_write_certs(const char *path, X509 *const *certs, size_t n, char *err, size_t errlen);
int dev_ca_write_key(const char *path, EVP_PKEY *key, char *err, size_t errlen);

/* Creates a root CA in directory `dir` (created 0700 when missing):
 * ca.pem and ca-key.pem. Its subject names `trust_domain`, and it carries the
 * trust domain's own SPIFFE id (spiffe://<trust_domain>) as its URI SAN so
 * dev_ca_issue() can refuse ids of another domain. Returns 0, or -1 with a
 * reason in `err`. */
int dev_ca_create(const char *dir, const char *trust_domain, time_t not_before, time_t not_after,
		  char *err, size_t errlen);

/* Issues an X.509-SVID for `spiffe_id` from the CA in `ca_dir` into
 * `out_dir` (created 0700 when missing): cert.pem (the leaf alone: a dev CA
 * signs leaves directly, so there is no chain), key.pem (0600) and ca.pem
 * (the trust bundle: the CA's certificate). Refuses an invalid id and an id
 * outside the CA's trust domain. The validity is taken as given, even when
 * already over or not yet begun: tests need such certificates. Returns 0,
 * or -1 with a reason in `err`. */
int dev_ca_issue(const char *ca_dir, const char *spiffe_id, time_t not_before, time_t not_after,
		 const char *out_dir, char *err, size_t errlen);

#endif
