/* certs/dev_ca.c and certs/cli.c: `skiff certs ca|issue`, and what
 * tls_identity_load() thinks of the files they write. */
#include "test/unit/certs/helpers.h"

#include <errno.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "certs/cli.h"
#include "certs/tls_context.h"

#define ID_WEB "spiffe://example.org/ns/default/sa/web"

static int cli(const char *first, ...)
{
	char *argv[32] = {"certs", (char *)first};
	int argc = 2;
	va_list ap;

	va_start(ap, first);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return certs_cli_main(argc, argv);
}

static int load(const char *dir, struct tls_identity **id, char *err, size_t errlen)
{
	return tls_identity_load(test_path(0, dir, "cert.pem"), test_path(1, dir, "key.pem"),
				 test_path(2, dir, "ca.pem"), id, err, errlen);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

struct dirs {
	char *ca, *out, *out2;
};

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));

	d->ca = test_tmpdir();
	d->out = test_tmpdir();
	d->out2 = test_tmpdir();
	*state = d;
	return cli("ca", "--out", d->ca, "--trust-domain", "example.org", NULL);
}

static int teardown(void **state)
{
	struct dirs *d = *state;

	test_rmdir(d->ca);
	test_rmdir(d->out);
	test_rmdir(d->out2);
	free(d);
	return 0;
}

static void test_issue_and_load(void **state)
{
	struct dirs *d = *state;
	struct tls_identity *id = NULL;
	char err[512] = "";

	assert_int_equal(mode_of(test_path(0, d->ca, "ca-key.pem")), 0600);
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out, NULL), 0);
	assert_int_equal(mode_of(test_path(0, d->out, "key.pem")), 0600);
	if (load(d->out, &id, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	assert_string_equal(id->spiffe_id, ID_WEB);
	assert_int_equal(id->spiffe_id_len, strlen(ID_WEB));
	assert_string_equal(id->trust_domain, "example.org");
	assert_int_equal(sk_X509_num(id->chain), 0);
	/* Default: 1h from now, backdated 5 minutes. */
	assert_in_range(id->not_after - time(NULL), HOUR - 5, HOUR);
	assert_in_range(time(NULL) - id->not_before, 5 * 60 - 5, 5 * 60 + 5);
	/* 128 random bits: 32 hex digits unless the top ones are zero. */
	assert_in_range(strlen(id->serial), 24, 33);

	/* The leaf is what the issue asked for. */
	X509 *leaf = id->leaf;

	assert_int_equal(X509_check_ca(leaf), 0);
	assert_true(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
	assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
	assert_int_equal(EVP_PKEY_get_base_id(id->key), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(id->key), 256);

	/* A second issue: new key, new serial. */
	struct tls_identity *id2 = NULL;

	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out2, NULL),
			 0);
	assert_int_equal(load(d->out2, &id2, err, sizeof(err)), 0);
	assert_string_not_equal(id->serial, id2->serial);
	assert_int_equal(EVP_PKEY_eq(id->key, id2->key), 0);
	tls_identity_ref(id2);
	tls_identity_unref(id2);
	tls_identity_unref(id2);
	tls_identity_unref(id);
}

static void test_validity_options(void **state)
{
	struct dirs *d = *state;
	struct tls_identity *id = NULL;
	char err[512] = "";
	X509 *x;
	time_t now = time(NULL);

	/* Expired an hour ago. */
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out,
			     "--not-before", "-2h", "--not-after", "-1h", NULL),
			 0);
	assert_int_equal(load(d->out, &id, err, sizeof(err)), -EINVAL);
	assert_null(id);
	assert_contains(err, "expired at");

	/* Valid an hour from now. */
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out,
			     "--not-before", "+1h", "--ttl", "2h", NULL),
			 0);
	assert_int_equal(load(d->out, &id, err, sizeof(err)), -EINVAL);
	assert_contains(err, "is not valid before");

	/* Absolute times, and a compound duration. */
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out,
			     "--not-before", "2020-01-01T00:00:00Z", "--not-after",
			     "2021-01-01T00:00:00Z", NULL),
			 0);
	x = read_cert(test_path(0, d->out, "cert.pem"));
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), 1577836800), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), 1609459200), 0);
	X509_free(x);

	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out,
			     "--not-before", "now", "--ttl", "1h30m", NULL),
			 0);
	assert_int_equal(load(d->out, &id, err, sizeof(err)), 0);
	assert_in_range(id->not_after - now, 5400, 5402);
	assert_in_range(id->not_before - now, 0, 2);
	tls_identity_unref(id);
}

static void test_usage_errors(void **state)
{
	struct dirs *d = *state;
	char *argv[] = {"certs"};

	assert_int_equal(certs_cli_main(1, argv), 2);
	assert_int_equal(cli("--help", NULL), 0);
	assert_int_equal(cli("ca", "--help", NULL), 0);
	assert_int_equal(cli("issue", "--help", NULL), 0);
	assert_int_equal(cli("frobnicate", NULL), 2);
	assert_int_equal(cli("ca", NULL), 2);
	assert_int_equal(cli("ca", "--out", d->out, "extra", NULL), 2);
	assert_int_equal(cli("ca", "--out", d->out, "--bogus", NULL), 2);
	assert_int_equal(cli("issue", "--ca", d->ca, "--out", d->out, NULL), 2);
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out,
			     "--trust-domain", "x.org", NULL),
			 2);
	assert_int_equal(
	    cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out, "--ttl", "1x", NULL),
	    2);
	assert_int_equal(
	    cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out, "--ttl", "0s", NULL),
	    2);
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out, "--ttl",
			     "1h", "--not-after", "+2h", NULL),
			 2);
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out,
			     "--not-before", "+2h", "--not-after", "+1h", NULL),
			 2);
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out,
			     "--not-before", "2020-13-01T00:00:00Z", NULL),
			 2);
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", "spiffe://Example.org/x", "--out",
			     d->out, NULL),
			 2);
	assert_int_equal(cli("ca", "--out", d->out, "--trust-domain", "Bad:80", NULL), 2);
}

static void test_runtime_errors(void **state)
{
	struct dirs *d = *state;

	/* Another trust domain than the CA's. */
	assert_int_equal(
	    cli("issue", "--ca", d->ca, "--spiffe", "spiffe://other.org/x", "--out", d->out, NULL),
	    1);
	/* No CA there. */
	assert_int_equal(cli("issue", "--ca", d->out2, "--spiffe", ID_WEB, "--out", d->out, NULL),
			 1);
	assert_int_equal(
	    cli("issue", "--ca", "/nonexistent", "--spiffe", ID_WEB, "--out", d->out, NULL), 1);
	/* Output where a directory cannot be. */
	assert_int_equal(
	    cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", "/dev/null/x", NULL), 1);
}

/* tls_identity_load() refuses mixed-up files, each with a reason naming the
 * file. */
static void test_load_refusals(void **state)
{
	struct dirs *d = *state;
	char *ca2 = test_tmpdir();
	struct tls_identity *id = NULL;
	char err[512] = "";
	const char *cert = test_path(0, d->out, "cert.pem");
	const char *key = test_path(1, d->out, "key.pem");
	const char *bundle = test_path(2, d->out, "ca.pem");
	FILE *f;

	assert_int_equal(cli("ca", "--out", ca2, "--trust-domain", "example.org", NULL), 0);
	assert_int_equal(cli("issue", "--ca", d->ca, "--spiffe", ID_WEB, "--out", d->out, NULL), 0);
	assert_int_equal(cli("issue", "--ca", ca2, "--spiffe", ID_WEB, "--out", d->out2, NULL), 0);

	/* The key of another certificate. */
	assert_int_equal(tls_identity_load(cert, test_path(3, d->out2, "key.pem"), bundle, &id, err,
					   sizeof(err)),
			 -EINVAL);
	assert_contains(err, "does not match certificate");

	/* The bundle of another CA. */
	assert_int_equal(
	    tls_identity_load(cert, key, test_path(3, d->out2, "ca.pem"), &id, err, sizeof(err)),
	    -EINVAL);
	assert_contains(err, "does not verify against bundle");

	/* A leaf where the bundle should be. */
	assert_int_equal(tls_identity_load(cert, key, cert, &id, err, sizeof(err)), -EINVAL);
	assert_contains(err, "is not a CA");

	/* Missing, empty and garbage files. */
	assert_int_equal(tls_identity_load("/nonexistent.pem", key, bundle, &id, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "/nonexistent.pem: No such file");
	f = fopen(test_path(3, d->out2, "empty.pem"), "w");
	fclose(f);
	assert_int_equal(tls_identity_load(test_path(3, d->out2, "empty.pem"), key, bundle, &id,
					   err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "certificate 1 is not valid PEM");
	f = fopen(test_path(3, d->out2, "junk.pem"), "w");
	fputs("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	assert_int_equal(tls_identity_load(cert, test_path(3, d->out2, "junk.pem"), bundle, &id,
					   err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "no PEM private key");
	assert_int_equal(tls_identity_load(cert, key, "/", &id, err, sizeof(err)), -EINVAL);
	assert_contains(err, "not a regular file");
	assert_null(id);

	/* And the right set still loads. */
	assert_int_equal(tls_identity_load(cert, key, bundle, &id, err, sizeof(err)), 0);
	tls_identity_unref(id);
	test_rmdir(ca2);
}

/* root -> intermediate -> leaf: cert.pem carries the intermediate, the
 * bundle only the root. */
static void test_intermediate_chain(void **state)
{
	struct dirs *d = *state;
	struct test_ca root, mid;
	EVP_PKEY *key = dev_ca_keygen();
	struct tls_identity *id = NULL;
	char err[512] = "";

	(void)state;
	test_ca_new(&root, "root");
	mid.key = dev_ca_keygen();
	mid.cert = test_cert(&root, mid.key, true, NULL, 0, -60, HOUR);
	X509 *leaf = test_leaf(&mid, key, ID_WEB);

	test_write_identity(d->out2, leaf, mid.cert, key, root.cert);
	if (load(d->out2, &id, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	assert_int_equal(sk_X509_num(id->chain), 1);
	tls_identity_unref(id);

	/* Without the intermediate the chain is broken. */
	test_write_identity(d->out2, leaf, NULL, key, root.cert);
	assert_int_equal(load(d->out2, &id, err, sizeof(err)), -EINVAL);
	assert_contains(err, "unable to get local issuer certificate");

	X509_free(leaf);
	EVP_PKEY_free(key);
	test_ca_free(&mid);
	test_ca_free(&root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_issue_and_load), cmocka_unit_test(test_validity_options),
	    cmocka_unit_test(test_usage_errors),   cmocka_unit_test(test_runtime_errors),
	    cmocka_unit_test(test_load_refusals),  cmocka_unit_test(test_intermediate_chain),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
