/* Fixtures shared by the certs/ unit tests: CAs and leaves made in memory
 * with dev_ca_sign(), and scratch directories for PEM files. Header-only:
 * each test is one program. */
#ifndef SKIFF_TEST_UNIT_CERTS_HELPERS_H
#define SKIFF_TEST_UNIT_CERTS_HELPERS_H

#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "certs/dev_ca.h"

#define HOUR 3600

struct test_ca {
	EVP_PKEY *key;
	X509 *cert;
};

static inline void test_ca_new(struct test_ca *ca, const char *common_name)
{
	char err[256] = "";
	struct dev_ca_cert_opts opts = {
	    .is_ca = true,
	    .common_name = common_name,
	    .not_before = time(NULL) - 24 * HOUR,
	    .not_after = time(NULL) + 24 * HOUR,
	};

	ca->key = dev_ca_keygen();
	assert_non_null(ca->key);
	ca->cert = dev_ca_sign(&opts, ca->key, NULL, NULL, err, sizeof(err));
	if (!ca->cert)
		fail_msg("CA: %s", err);
}

static inline void test_ca_free(struct test_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
}

/* A certificate signed by `ca` for `key`, valid from now+nb to now+na
 * seconds, with the given SANs. */
static inline X509 *test_cert(const struct test_ca *ca, EVP_PKEY *key, bool is_ca,
			      const struct dev_ca_san *sans, size_t n_sans, long nb, long na)
{
	char err[256] = "";
	struct dev_ca_cert_opts opts = {
	    .is_ca = is_ca,
	    .common_name = is_ca ? "test intermediate" : NULL,
	    .sans = sans,
	    .n_sans = n_sans,
	    .not_before = time(NULL) + nb,
	    .not_after = time(NULL) + na,
	};
	X509 *x = dev_ca_sign(&opts, key, ca->cert, ca->key, err, sizeof(err));

	if (!x)
		fail_msg("cert: %s", err);
	return x;
}

/* A workload leaf for SPIFFE id `id`, valid for the next hour. */
static inline X509 *test_leaf(const struct test_ca *ca, EVP_PKEY *key, const char *id)
{
	struct dev_ca_san san = {GEN_URI, id, strlen(id)};

	return test_cert(ca, key, false, &san, 1, -60, HOUR);
}

static inline char *test_tmpdir(void)
{
	char *dir = strdup("/tmp/skiff-certs-test-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static inline int test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static inline void test_rmdir(char *dir)
{
	nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* `dir`/`name` in a static buffer (one at a time per slot). */
static inline const char *test_path(int slot, const char *dir, const char *name)
{
	static char buf[4][512];

	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", dir, name);
	return buf[slot];
}

/* Writes cert.pem (leaf then `chain`), key.pem and ca.pem (`bundle`) into
 * `dir`. */
static inline void test_write_identity(const char *dir, X509 *leaf, X509 *chain, EVP_PKEY *key,
				       X509 *bundle)
{
	char err[256] = "";
	X509 *certs[] = {leaf, chain};

	if (dev_ca_write_certs(test_path(0, dir, "cert.pem"), certs, chain ? 2 : 1, err,
			       sizeof(err)) < 0 ||
	    dev_ca_write_key(test_path(0, dir, "key.pem"), key, err, sizeof(err)) < 0 ||
	    dev_ca_write_certs(test_path(0, dir, "ca.pem"), &bundle, 1, err, sizeof(err)) < 0)
		fail_msg("write: %s", err);
}

#endif
